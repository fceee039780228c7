"""The Bolt app: its Slack client, listeners and the one error hook.

``build_app(deps)`` is the only way the bot gets an ``App``; HTTP mode (gunicorn),
Socket Mode and the tests all call it. The client comes from :mod:`bot.slack_client`.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.oauth.oauth_settings import OAuthSettings

from bot.delivery import revive
from bot.deps import Deps
from bot.logs import log_fields
from bot.redelivery import Journal
from bot.slack_client import build_client, settings_token, team_clients


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
    client = build_client(settings, token=None if multi else settings_token(settings))
    oauth_flow = None
    if oauth_settings is not None:
        from bot.oauth import build_oauth_flow

        oauth_flow = build_oauth_flow(oauth_settings, client)
    app = App(
        name="tip-coach",
        client=client,
        signing_secret=secret,
        # Listeners run in the request's own thread: they ack and hand the slow part to
        # Deps' work pool (the one pool), so the HTTP response (the ack) goes out at once.
        process_before_response=True,
        token_verification_enabled=False,  # auth.test happens lazily on the first request
        request_verification_enabled=True,  # signatures and timestamps: never off
        oauth_flow=oauth_flow,
        installation_store=installation_store,
        installation_store_bot_only=True if multi else None,  # bot tokens only, no user tokens
        logger=logging.getLogger("slack_bolt.App"),
    )
    from bot.listeners import register_all

    register_all(app, deps)
    _hold_undelivered_answers(deps, team_clients(settings, client, installation_store))

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


def _hold_undelivered_answers(deps: Deps, client_for: Any) -> None:
    """Answers Slack could not take are held in the shared database, so a crash or a
    restart does not lose them (any process of the bot delivers them later)."""
    if not hasattr(deps.store, "hold_delivery"):
        return  # a store without the table (test doubles): memory-only retries
    deps.redelivery.attach(Journal(deps.store), lambda record: revive(deps, record, client_for))
