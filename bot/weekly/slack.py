"""The two Slack calls the weekly post makes, with retries that can never double-post.

``chat.postMessage`` is not idempotent, so this client deliberately has **no** automatic
slack_sdk retry handlers (their connection-error retry would re-send a message Slack may
already have accepted). Instead each failure is classified:

* **HTTP 429** - Slack did not act on the call: wait ``Retry-After`` and send again.
* **Refused** (``ok: false`` with an error such as ``not_in_channel``) - nothing was posted:
  the caller frees the claim and tries again later.
* **Ambiguous** (5xx, ``fatal_error``, timeouts, dropped connections) - Slack *may* have
  posted it. Before sending again we look for the message in ``conversations.history``:
  every weekly post carries ``metadata`` with its week key, so a post that got through is
  found and recorded instead of repeated.

Waits go through the injectable :class:`~bot.weekly.schedule.Clock` and stop early on
SIGTERM, so tests run instantly and shutdown is prompt.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.client import HTTPException
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.delivery import DEAD_TOKEN_ERRORS
from bot.logs import log_fields

if TYPE_CHECKING:
    from bot.render import Message
    from bot.weekly.schedule import Clock
    from config.settings import Settings

log = logging.getLogger("bot.weekly")

#: ``metadata.event_type`` of every weekly post: how a post is recognised in the history.
METADATA_EVENT = "coach_weekly_tip"

#: Slack errors that mean "something broke mid-call": the message may or may not exist.
AMBIGUOUS_ERRORS = frozenset(
    {"fatal_error", "internal_error", "request_timeout", "service_unavailable"}
)
#: Errors that mean the bot cannot post in that channel until someone acts.
NOT_A_MEMBER = frozenset(
    {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}
)
AUTH_ERRORS = DEAD_TOKEN_ERRORS | frozenset({"token_expired", "missing_scope", "no_permission"})


def advice(error: str | None) -> str:
    """What an operator should do about a Slack error (for log lines and the CLI)."""
    if error in {"not_in_channel", "channel_not_found"}:
        return "invite the bot to the channel (/invite @Tip Coach) or fix COACH_WEEKLY_CHANNELS"
    if error == "is_archived":
        return "the channel is archived: remove it from COACH_WEEKLY_CHANNELS"
    if error in AUTH_ERRORS:
        return (
            "check SLACK_BOT_TOKEN (multi-workspace installs: reinstall the app in that "
            "workspace) and the app's scopes (chat:write, channels:history)"
        )
    return "will retry"


def post_metadata(week_key: str, tip_id: str) -> dict[str, Any]:
    """The ``metadata`` a weekly post carries, so a later run can find it in the history."""
    return {"event_type": METADATA_EVENT, "event_payload": {"week_key": week_key, "tip_id": tip_id}}


def is_weekly_post(message: dict[str, Any], week_key: str) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return metadata.get("event_type") == METADATA_EVENT and payload.get("week_key") == week_key


@dataclass(frozen=True)
class Reply:
    """One Web API call, classified."""

    kind: str  # "ok" | "ratelimited" | "refused" | "ambiguous"
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    retry_after: float = 0.0


@dataclass(frozen=True)
class SendResult:
    """How a post ended: ``ts`` when Slack confirmed it (or it was found in the history)."""

    ts: str | None
    error: str | None = None
    ambiguous: bool = False  # no confirmation, but Slack may have posted it: verify first
    recovered: bool = False  # found in the channel's history after an unconfirmed attempt


@dataclass(frozen=True)
class Found:
    """Whether this week's post is already in the channel; ``known`` False if we could not tell."""

    ts: str | None
    known: bool
    error: str | None = None
    transient: bool = False  # could not tell *right now* (outage, rate limit): ask again later


def _retry_after(exc: SlackApiError) -> float:
    headers = getattr(exc.response, "headers", None) or {}
    for key, value in headers.items():
        if str(key).lower() == "retry-after":
            raw = value[0] if isinstance(value, list) and value else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                return 1.0
    return 1.0


class WeeklySlack:
    """``chat.postMessage`` and ``conversations.history`` with exactly-once-minded retries."""

    def __init__(
        self,
        client: WebClient,
        *,
        clock: Clock,
        stop: threading.Event | None = None,
        max_attempts: int = 6,
        backoff_seconds: float = 2.0,
        max_wait_seconds: float = 60.0,
        history_pages: int = 20,
    ) -> None:
        # Worst case (6 attempts x 60 s) stays well inside the store's 15-minute claim lease.
        self.client = client
        self.clock = clock
        self.stop = stop or threading.Event()
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_wait_seconds = max_wait_seconds
        self.history_pages = history_pages
        self._history_warned = False

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        clock: Clock,
        stop: threading.Event | None = None,
        token: str | None = None,
    ) -> WeeklySlack:
        """A client for ``SLACK_API_URL`` with no automatic retries; ``token`` (a workspace's
        installation token, multi-workspace mode) or else ``SLACK_BOT_TOKEN``."""
        if token is None and settings.slack_bot_token is not None:
            token = settings.slack_bot_token.get_secret_value()
        client = WebClient(
            token=token,
            base_url=settings.slack_api_url,
            timeout=10,
            retry_handlers=[],  # see the module docstring: we retry ourselves, safely
            logger=logging.getLogger("slack_sdk.web"),
        )
        return cls(client, clock=clock, stop=stop)

    # -- one call -----------------------------------------------------------------------

    def call(self, method: Callable[..., Any], **kwargs: Any) -> Reply:
        """Call a WebClient method and classify the outcome (never raises for Slack errors)."""
        try:
            response = method(**kwargs)
        except SlackApiError as exc:
            status = int(getattr(exc.response, "status_code", 0) or 0)
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            error = str(data.get("error") or f"HTTP {status}")
            if status == 429:
                return Reply("ratelimited", data, "ratelimited", _retry_after(exc))
            if status >= 500 or error in AMBIGUOUS_ERRORS:
                return Reply("ambiguous", data, error)
            return Reply("refused", data, error)
        except (SlackClientError, OSError, HTTPException) as exc:  # timeouts, resets, bad bodies
            return Reply("ambiguous", {}, f"{type(exc).__name__}: {exc}".strip(": "))
        data = response.data if isinstance(response.data, dict) else {}
        return Reply("ok", data)

    def _wait(self, seconds: float) -> bool:
        """Sleep (on the injectable clock); True when shutdown was requested meanwhile."""
        return self.clock.wait(self.stop, min(max(0.0, seconds), self.max_wait_seconds))

    # -- finding an earlier post --------------------------------------------------------

    def find_post(self, channel: str, week_key: str, since: datetime) -> Found:
        """Look for this week's post (by its metadata) among the channel's messages since ``since``."""
        cursor: str | None = None
        pages = attempts = 0
        while pages < self.history_pages and attempts < self.history_pages + self.max_attempts:
            attempts += 1
            kwargs: dict[str, Any] = {
                "channel": channel,
                "oldest": f"{since.timestamp():.6f}",
                "limit": 200,
                "include_all_metadata": True,
            }
            if cursor:
                kwargs["cursor"] = cursor
            reply = self.call(self.client.conversations_history, **kwargs)
            if reply.kind == "ratelimited":
                if self._wait(reply.retry_after):
                    return Found(None, False, "stopped", transient=True)
                continue
            if reply.kind == "ambiguous":
                return Found(None, False, reply.error, transient=True)
            if reply.kind != "ok":
                if not self._history_warned:
                    self._history_warned = True
                    log.warning(
                        "weekly: cannot read the channel history (%s); a post that reached Slack "
                        "without confirmation cannot be detected (needs channels:history)",
                        reply.error,
                        extra=log_fields(channel=channel, error=reply.error),
                    )
                return Found(None, False, reply.error)
            pages += 1
            for message in reply.data.get("messages") or []:
                if isinstance(message, dict) and is_weekly_post(message, week_key):
                    return Found(str(message.get("ts")), True)
            cursor = (reply.data.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor or not reply.data.get("has_more", True):
                return Found(None, True)
        return Found(None, False, "too many messages this week to search the history")

    # -- posting ------------------------------------------------------------------------

    def post(
        self,
        channel: str,
        message: Message,
        *,
        week_key: str,
        tip_id: str,
        since: datetime,
        verify_first: bool = False,
    ) -> SendResult:
        """Post once; retry 429s and (after checking the history) ambiguous failures.

        ``verify_first``: an earlier attempt may have reached Slack (a taken-over or resumed
        claim), so look for it before sending anything.
        """
        ambiguous = verify_first
        last_error: str | None = None
        for attempt in range(1, self.max_attempts + 1):
            if ambiguous:
                found = self.find_post(channel, week_key, since)
                if found.ts:
                    return SendResult(found.ts, recovered=True)
                if found.known:
                    ambiguous = False  # checked: nothing went out, so a refusal is clean
                elif found.transient:
                    # Cannot tell right now: keep the claim and ask again on the next run
                    # (the history is usually back long before the grace window closes).
                    return SendResult(
                        None, f"cannot confirm the earlier attempt yet ({found.error})", True
                    )
                else:
                    # The history is unreadable for good (no channels:history scope): posting
                    # again risks a duplicate, never posting loses the week. Post, and say so.
                    log.warning(
                        "weekly: cannot check whether an earlier attempt reached Slack; posting",
                        extra=log_fields(channel=channel, week=week_key, error=found.error),
                    )
            reply = self.call(
                self.client.chat_postMessage,
                channel=channel,
                **message.to_slack(),
                metadata=post_metadata(week_key, tip_id),
                unfurl_links=False,
                unfurl_media=False,
            )
            if reply.kind == "ok" and reply.data.get("ts"):
                return SendResult(str(reply.data["ts"]))
            if reply.kind == "ok":  # ok without a ts: nothing to record, so treat as unknown
                reply = Reply("ambiguous", reply.data, "no ts in Slack's answer")
            last_error = reply.error
            if reply.kind == "refused":
                return SendResult(None, reply.error, ambiguous=ambiguous)
            if reply.kind == "ratelimited":
                wait = reply.retry_after
            else:
                ambiguous = True
                wait = self.backoff_seconds * 2 ** (attempt - 1)
            log.info(
                "weekly: post attempt %d failed (%s); retrying in %.0f s",
                attempt,
                reply.error,
                min(wait, self.max_wait_seconds),
                extra=log_fields(channel=channel, week=week_key, error=reply.error),
            )
            if attempt < self.max_attempts and self._wait(wait):
                return SendResult(None, "stopped before Slack confirmed", ambiguous=ambiguous)
        if ambiguous:  # one last look: the final attempt itself may have gone through
            found = self.find_post(channel, week_key, since)
            if found.ts:
                return SendResult(found.ts, recovered=True)
            ambiguous = not found.known  # checked and absent: the claim can be freed
        return SendResult(None, last_error or "gave up", ambiguous=ambiguous)
