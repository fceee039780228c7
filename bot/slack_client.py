"""Every Slack Web API client the bot makes: one place for the base URL, timeout and retries.

Every call, retries included, goes to ``settings.slack_api_url`` (tests point it at a
loopback fake) with slack_sdk's retry handlers for 429 (honouring ``Retry-After``), 5xx
(with backoff) and connections refused before Slack got the request. A timeout is never
retried blindly: Slack may have acted on it, so ``bot.redelivery`` checks first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

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
from slack_sdk.webhook import WebhookClient

if TYPE_CHECKING:
    from config.settings import Settings


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
        if error is None or is_timeout(error):
            return False
        return bool(
            super()._can_retry(state=state, request=request, response=response, error=error)
        )


def is_timeout(error: BaseException) -> bool:
    """Did the request time out (Slack may have acted on it), anywhere in its causes?"""
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


def build_client(settings: Settings, *, token: str | None = None) -> WebClient:
    """A WebClient bound to ``SLACK_API_URL`` with the bot's timeout and retry handlers."""
    return WebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=max(1, round(settings.slack_timeout)),
        retry_handlers=retry_handlers(),
        logger=logging.getLogger("slack_sdk.web"),
    )


def settings_token(settings: Settings) -> str | None:
    """The single-workspace bot token (None in OAuth mode, where each team has its own)."""
    return settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None


def build_webhook(settings: Settings, url: str) -> WebhookClient:
    """A client for one ``response_url``, with the same timeout and retries as the Web API."""
    return WebhookClient(
        url, timeout=max(1, round(settings.slack_timeout)), retry_handlers=retry_handlers()
    )


def team_clients(
    settings: Settings, shared: WebClient, installation_store: Any = None
) -> Callable[[str | None], WebClient | None]:
    """``client_for(team_id)`` outside a request (answers retried later): the app's own
    client in single-workspace mode; in OAuth mode a client with that team's installed
    bot token, or None when the team has uninstalled the app."""
    if installation_store is None:
        return lambda team_id: shared

    def client_for(team_id: str | None) -> WebClient | None:
        bot = installation_store.find_bot(enterprise_id=None, team_id=team_id)
        if bot is None or not bot.bot_token:
            return None
        return build_client(settings, token=bot.bot_token)

    return client_for
