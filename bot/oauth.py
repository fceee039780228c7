"""Multi-workspace installs: Slack's OAuth flow, kept in our database, on our Web API URL.

When ``SLACK_CLIENT_ID`` and ``SLACK_CLIENT_SECRET`` are set (``Settings.oauth_enabled``),
``build_app`` hands Bolt an :class:`CoachOAuthFlow`:

* ``GET /slack/install`` issues a one-time state (stored in the shared database, so any web
  process can finish the flow) and shows the "Add to Slack" page;
* ``GET /slack/oauth_redirect`` checks the state, trades the code for the workspace's bot
  token with ``oauth.v2.access`` and saves the installation in the database; every request
  from that workspace is then authorized from it.

Everything is configured here from ``Settings``: Bolt would otherwise read
``SLACK_CLIENT_ID``/``SLACK_SCOPES``/``SLACK_REDIRECT_URI`` from ``os.environ`` behind our
back, and its OAuth flow would build its own ``WebClient`` on ``https://slack.com/api/``
instead of ``SLACK_API_URL``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt.error import BoltError
from slack_bolt.oauth import OAuthFlow
from slack_bolt.oauth.callback_options import CallbackOptions, FailureArgs, SuccessArgs
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk import WebClient
from slack_sdk.oauth import AuthorizeUrlGenerator
from slack_sdk.oauth.installation_store import Installation

from bot.logs import log_fields

if TYPE_CHECKING:
    from config.settings import Settings

log = logging.getLogger("bot.oauth")

#: The bot scopes the install asks for: exactly the manifest's (least privilege; a test
#: keeps the two in step). No user scopes: Tip Coach never acts as a person.
BOT_SCOPES = (
    "app_mentions:read",
    "assistant:write",
    "channels:history",
    "groups:history",
    "chat:write",
    "commands",
    "im:history",
    "reactions:write",
)
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
#: How long an install link stays valid (the state in the database and the browser cookie).
STATE_EXPIRATION_SECONDS = 600
STATE_COOKIE = "tip-coach-oauth-state"


class CoachOAuthFlow(OAuthFlow):
    """Bolt's OAuth flow, with a database failure shown as a clear failure page, not a 500."""

    def store_installation(self, request: BoltRequest, installation: Installation) -> None:
        try:
            super().store_installation(request, installation)
        except BoltError:
            raise
        except Exception as exc:  # SQLAlchemy errors: Bolt only turns BoltError into a page
            log.error(
                "saving an installation failed",
                extra=log_fields(team_id=installation.team_id, error_type=type(exc).__name__),
            )
            raise BoltError(f"the installation could not be saved ({type(exc).__name__})") from exc


def _on_success(args: SuccessArgs) -> BoltResponse:
    installation = args.installation
    log.info(
        "workspace installed",
        extra=log_fields(
            team_id=installation.team_id,
            enterprise_id=installation.enterprise_id,
            installer=installation.user_id,
            bot_user_id=installation.bot_user_id,
            scopes=",".join(installation.bot_scopes or []),
        ),
    )
    return args.default.success(args)


def _on_failure(args: FailureArgs) -> BoltResponse:
    log.warning(
        "workspace install failed",
        extra=log_fields(
            reason=args.reason,
            status=args.suggested_status_code,
            error_type=type(args.error).__name__ if args.error else None,
        ),
    )
    return args.default.failure(args)


def oauth_settings(settings: Settings, store: Any) -> OAuthSettings:
    """Bolt's OAuth settings from ours: credentials, scopes, paths, our database's stores.

    ``store`` is the shared :class:`bot.storage.Store` (installations and OAuth states).
    """
    if not settings.oauth_enabled or settings.slack_client_secret is None:
        raise ValueError("OAuth needs SLACK_CLIENT_ID and SLACK_CLIENT_SECRET")
    client_id = str(settings.slack_client_id)
    oauth = OAuthSettings(
        client_id=client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        scopes=list(BOT_SCOPES),
        user_scopes=[],
        redirect_uri=settings.slack_redirect_uri,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        callback_options=CallbackOptions(success=_on_success, failure=_on_failure),
        installation_store=store.installation_store(client_id),
        installation_store_bot_only=True,  # bot tokens only: no user tokens to look up
        state_store=store.oauth_state_store(STATE_EXPIRATION_SECONDS),
        state_cookie_name=STATE_COOKIE,
        state_expiration_seconds=STATE_EXPIRATION_SECONDS,
        logger=logging.getLogger("slack_bolt.oauth"),
    )
    if oauth.redirect_uri != settings.slack_redirect_uri:
        # Bolt falls back to os.environ["SLACK_REDIRECT_URI"] when given None: undo that.
        oauth.redirect_uri = settings.slack_redirect_uri
        oauth.authorize_url_generator = AuthorizeUrlGenerator(
            client_id=oauth.client_id,
            redirect_uri=oauth.redirect_uri,
            scopes=oauth.scopes,
            user_scopes=oauth.user_scopes,
            authorization_url=oauth.authorization_url,
        )
    return oauth


def build_oauth_flow(oauth: OAuthSettings, client: WebClient) -> CoachOAuthFlow:
    """The flow on ``client``: ``oauth.v2.access`` and ``auth.test`` go to ``SLACK_API_URL``."""
    return CoachOAuthFlow(
        client=client, settings=oauth, logger=logging.getLogger("slack_bolt.oauth")
    )
