"""The Bolt app: Slack client, middleware, listeners and the one error hook.

``build_app(deps)`` is the only way the bot gets an ``App``; HTTP mode (gunicorn),
Socket Mode and the tests all call it. Every Web API call, retries included, goes to
``settings.slack_api_url`` with slack_sdk's retry handlers for 429 (honouring
``Retry-After``), 5xx (with backoff) and dropped connections.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.deps import Deps
from bot.logs import log_fields

#: Bolt's listener threads. They only ack and hand the work to ``Deps.run_later`` (the work
#: pool), so each is busy for a millisecond and a burst of slow answers never delays an ack.
LISTENER_THREADS = 16


class ServerErrorsRetryHandler(ServerErrorRetryHandler):
    """Retry every transient 5xx (slack_sdk's own handler only covers 500 and 503)."""

    RETRYABLE = frozenset({500, 502, 503, 504})

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code in self.RETRYABLE


class RefusedConnectionRetryHandler(ConnectionErrorRetryHandler):
    """Retry a connection that failed *before* Slack got the request (refused, reset while
    connecting), never a timeout: Slack may have acted on a request it was slow to answer,
    and posting again would double the answer. ``bot.redelivery`` deals with timeouts,
    checking first whether the post landed."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if error is None or _is_timeout(error):
            return False
        return bool(
            super()._can_retry(state=state, request=request, response=response, error=error)
        )


def _is_timeout(error: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TimeoutError) or "timed out" in str(current).lower():
            return True
        reason = getattr(current, "reason", None)  # URLError wraps the socket's error
        current = (
            reason
            if isinstance(reason, BaseException)
            else current.__cause__ or current.__context__
        )
    return False


def retry_handlers() -> list[RetryHandler]:
    """429: wait Retry-After (up to 5 times); 5xx and refused connections: 3 tries with
    backoff; timeouts: no blind retry (see :class:`RefusedConnectionRetryHandler`)."""
    backoff = BackoffRetryIntervalCalculator(backoff_factor=0.5)
    return [
        RateLimitErrorRetryHandler(max_retry_count=5),
        ServerErrorsRetryHandler(max_retry_count=3, interval_calculator=backoff),
        RefusedConnectionRetryHandler(max_retry_count=3, interval_calculator=backoff),
    ]


def build_client(deps: Deps, *, with_token: bool = True) -> WebClient:
    """A WebClient bound to ``SLACK_API_URL`` (tests point it at a loopback fake)."""
    settings = deps.settings
    token = None
    if with_token and settings.slack_bot_token is not None:
        token = settings.slack_bot_token.get_secret_value()
    return WebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=max(1, round(settings.slack_timeout)),
        retry_handlers=retry_handlers(),
        logger=logging.getLogger("slack_sdk.web"),
    )


def build_app(
    deps: Deps,
    *,
    oauth_settings: OAuthSettings | None = None,
    installation_store: Any = None,
) -> App:
    """The Bolt app with every listener registered.

    Single-workspace mode (``SLACK_BOT_TOKEN``) unless ``SLACK_CLIENT_ID`` and
    ``SLACK_CLIENT_SECRET`` are set: then the OAuth install flow is served (see
    :mod:`bot.oauth`) and Bolt authorizes each request from the installations in the
    shared database (the app's client then carries no token of its own).
    ``oauth_settings``/``installation_store`` override that wiring. In both modes every
    Web API call, ``oauth.v2.access`` included, goes to ``SLACK_API_URL``.
    """
    settings = deps.settings
    secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    )
    if oauth_settings is None and installation_store is None and settings.oauth_enabled:
        from bot.oauth import oauth_settings as build_oauth_settings

        # Explicit settings, never Bolt's own os.environ look-up: Settings is the one source.
        oauth_settings = build_oauth_settings(settings, deps.store)
    if oauth_settings is not None and installation_store is None:
        installation_store = oauth_settings.installation_store
    multi = oauth_settings is not None or installation_store is not None
    client = build_client(deps, with_token=not multi)
    oauth_flow = None
    if oauth_settings is not None:
        from bot.oauth import build_oauth_flow

        oauth_flow = build_oauth_flow(oauth_settings, client)
    app = App(
        name="tip-coach",
        client=client,
        signing_secret=secret,
        process_before_response=False,  # ack in Bolt's threads; the work runs in deps' pool
        token_verification_enabled=False,  # auth.test happens lazily on the first request
        request_verification_enabled=True,  # signatures and timestamps: never off
        oauth_flow=oauth_flow,
        installation_store=installation_store,
        installation_store_bot_only=True if multi else None,  # bot tokens only, no user tokens
        listener_executor=ThreadPoolExecutor(
            max_workers=LISTENER_THREADS, thread_name_prefix="bolt"
        ),
        logger=logging.getLogger("slack_bolt.App"),
    )
    from bot.listeners import register_all

    register_all(app, deps)

    @app.error
    def on_error(
        error: Exception, body: dict[str, Any], logger: logging.Logger
    ) -> BoltResponse | None:
        """Last resort: listeners answer reps themselves; this only makes sure it is logged."""
        kind = body.get("type") if isinstance(body, dict) else None
        event = (body.get("event") or {}).get("type") if isinstance(body, dict) else None
        deps.logger.error(
            "unhandled error in a Slack listener",
            exc_info=error,
            extra=log_fields(slack_type=kind, event_type=event, error_type=type(error).__name__),
        )
        return None

    return app
