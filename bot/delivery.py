"""Getting a reply to the rep: where it goes, fallbacks when Slack refuses, retries later.

Delivery never leaves a rep without a reply: when Slack refuses a post
(``not_in_channel``, ``channel_not_found``, an expired ``response_url``...), the rep gets
the answer another way (ephemeral, or a DM with a note saying why) and a log line says
what happened. When Slack cannot be reached at all, the answer goes to
:mod:`bot.redelivery` (held in the database too), never posted twice.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import render
from bot.deps import Deps
from bot.logs import log_fields
from bot.privacy import redact
from bot.redelivery import Held, Sender
from bot.render import Message
from bot.slack_client import build_webhook

#: Slack errors that mean "you can't post *there*": the rep gets the answer in a DM instead.
REDIRECT_ERRORS = {
    "not_in_channel": (
        "I'm not a member of that channel: invite me with `/invite @Tip Coach`, or ask me here."
    ),
    "channel_not_found": (
        "I can't see that channel (it may be private, or I was removed): invite me, or ask me here."
    ),
    "is_archived": "That channel is archived, so I answered here instead.",
    "restricted_action": "I'm not allowed to post in that channel, so I answered here instead.",
    "cannot_reply_to_message": "I couldn't reply in that thread, so I answered here instead.",
    "thread_locked": "That thread is locked, so I answered here instead.",
}


@dataclass(frozen=True)
class ReplyTarget:
    """Where a reply goes. ``response_url`` wins for ephemeral replies (slash commands, buttons).

    Held answers keep its fields (``asdict``) in the database, so renaming a field needs a
    migration of the held records.
    """

    channel: str | None
    user_id: str | None
    team_id: str | None = None
    thread_ts: str | None = None
    response_url: str | None = None
    ephemeral: bool = False
    replace_original: bool = False


# -- delivery ---------------------------------------------------------------------------


def respond_url(
    deps: Deps,
    url: str,
    message: Message,
    *,
    ephemeral: bool = True,
    replace_original: bool = False,
    delete_original: bool = False,
) -> bool:
    """POST to a ``response_url`` (with the same 429/5xx/connection retries as the Web API)."""
    return (
        _respond_url(
            deps,
            url,
            message,
            ephemeral=ephemeral,
            replace_original=replace_original,
            delete_original=delete_original,
        )
        == "sent"
    )


def _respond_url(
    deps: Deps,
    url: str,
    message: Message,
    *,
    ephemeral: bool,
    replace_original: bool,
    delete_original: bool = False,
) -> str:
    """``sent``; ``refused`` (Slack said no: an expired or used-up URL); ``failed`` (not
    reached, or a 5xx: worth trying again later)."""
    webhook = build_webhook(deps.settings, url)
    try:
        response = webhook.send(
            text=message.text,
            blocks=message.blocks,
            response_type="ephemeral" if ephemeral else "in_channel",
            replace_original=replace_original,
            delete_original=delete_original,
        )
    except Exception as exc:  # unreachable, reset, timed out: the rep may still get it later
        code = getattr(exc, "code", None)  # urllib's HTTPError: Slack did answer
        deps.logger.warning(
            "response_url failed", extra=log_fields(error_type=type(exc).__name__, status=code)
        )
        if isinstance(code, int) and 400 <= code < 500 and code != 429:
            return "refused"
        return "failed"
    if response.status_code == 200:
        return "sent"
    deps.logger.warning(
        "response_url refused",
        extra=log_fields(status=response.status_code, slack_error=str(response.body)[:100]),
    )
    return "failed" if response.status_code >= 500 or response.status_code == 429 else "refused"


def _error_code(exc: SlackApiError) -> str:
    try:
        return str(exc.response.get("error") or "unknown_error")
    except Exception:
        return "unknown_error"


def _is_transient(exc: Exception) -> bool:
    """Slack could not be reached or failed on its side (worth a later retry), as opposed
    to Slack refusing the post (not_in_channel...)."""
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", 200) or 200
        return status >= 500 or status == 429
    return True


def _post(client: WebClient, where: ReplyTarget, message: Message) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"channel": where.channel, **message.to_slack()}
    if where.thread_ts:
        kwargs["thread_ts"] = where.thread_ts
    if where.ephemeral:
        return client.chat_postEphemeral(user=where.user_id, **kwargs).data  # type: ignore[return-value]
    return client.chat_postMessage(unfurl_links=False, unfurl_media=False, **kwargs).data  # type: ignore[return-value]


def already_posted(client: WebClient, where: ReplyTarget, text_sha: str, since: float) -> bool:
    """Did an earlier attempt get through after all? The bot's message with the same text
    (compared by its SHA-256), since ``since``, in the conversation (or the thread)."""
    oldest = f"{since - 5:.6f}"
    if where.thread_ts:
        reply = client.conversations_replies(
            channel=where.channel, ts=where.thread_ts, oldest=oldest, limit=50
        )
    else:
        reply = client.conversations_history(channel=where.channel, oldest=oldest, limit=20)
    return any(
        m.get("bot_id") and _sha(str(m.get("text") or "")) == text_sha
        for m in reply.get("messages") or []
    )


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _redacted(value: Any) -> Any:
    """Every string in a message, redacted (what is held in the database)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    return value


def held_record(where: ReplyTarget, message: Message, since: float) -> Held:
    """What the database keeps of an undelivered answer: where it goes, the message with
    user text redacted, and the original text's hash (to recognise an earlier success)."""
    record = {
        "where": asdict(where),
        "message": _redacted(message.to_slack()),
        "text_sha": _sha(message.text),
        "since": since,
    }
    key = _sha(json.dumps([record["where"], record["text_sha"], since], sort_keys=True))[:40]
    return Held(key=key, team_id=where.team_id, record=record)


def _senders(
    deps: Deps,
    client: WebClient | None,
    where: ReplyTarget,
    message: Message,
    *,
    text_sha: str,
    since: float,
) -> Sender | None:
    """(send, delivered) for one undelivered answer; None when it cannot be sent."""
    if where.response_url:
        url = where.response_url

        def send_url() -> bool:  # replacing makes a retry that races a late success harmless
            return (
                _respond_url(deps, url, message, ephemeral=where.ephemeral, replace_original=True)
                == "sent"
            )

        return send_url, lambda: False
    if client is None:
        return None
    post_client = client

    def post() -> bool:
        _post(post_client, where, message)
        return True

    def delivered() -> bool:
        if where.ephemeral:
            return False  # ephemeral posts leave no history to check
        try:
            return already_posted(post_client, where, text_sha, since)
        except Exception:
            return False

    return post, delivered


def _retry_later(
    deps: Deps, client: WebClient, where: ReplyTarget, message: Message, *, reason: str
) -> None:
    """Hand an undelivered answer to the redelivery thread (never sleep in the work pool)."""
    since = time.time()
    held = held_record(where, message, since)
    sender = _senders(deps, client, where, message, text_sha=held.record["text_sha"], since=since)
    assert sender is not None  # a client is given
    send, delivered = sender
    fields = {"channel": where.channel, "reason": reason, "team_id": where.team_id}
    deps.redelivery.schedule(send, delivered=delivered, held=held, **fields)


def revive(deps: Deps, record: dict[str, Any], client_for: Any) -> Sender | None:
    """Rebuild a held answer (another process's, or this one's after a restart).
    ``client_for(team_id)`` gives that workspace's client, or None (uninstalled)."""
    where = ReplyTarget(**record["where"])
    payload = record["message"]
    message = Message(text=str(payload.get("text") or ""), blocks=list(payload.get("blocks") or []))
    client = None if where.response_url else client_for(where.team_id)
    return _senders(
        deps,
        client,
        where,
        message,
        text_sha=str(record.get("text_sha") or _sha(message.text)),
        since=float(record.get("since") or time.time()),
    )


def _remember_thread(deps: Deps, where: ReplyTarget) -> None:
    """A public reply in a channel thread makes that thread ours: its later messages are
    follow-ups (``listeners.mention``), known from the database, not from Slack's history."""
    if where.ephemeral or not where.thread_ts or not where.channel:
        return
    if where.channel[:1] not in "CG":
        return  # DMs answer every message anyway
    try:
        deps.store.remember_thread(where.team_id, where.channel, where.thread_ts)
    except Exception as exc:  # follow-ups there then need a mention; the answer went out
        deps.logger.warning(
            "thread not remembered", extra=log_fields(error_type=type(exc).__name__)
        )


def deliver(deps: Deps, client: WebClient, where: ReplyTarget, message: Message) -> str | None:
    """Send ``message`` where asked; on refusal, fall back so the rep still gets it; when
    Slack cannot be reached, retry later (``deps.redelivery``), never twice.

    Returns the posted message ``ts`` when Slack gave one.
    """
    if where.response_url:
        outcome = _respond_url(
            deps,
            where.response_url,
            message,
            ephemeral=where.ephemeral,
            replace_original=where.replace_original,
        )
        if outcome == "sent":
            return None
        if outcome == "failed":
            _retry_later(deps, client, where, message, reason="response_url_failed")
            return None
        if not where.channel:
            return _dm(deps, client, where, message, reason="response_url_failed")
        where = replace(where, response_url=None)
    _remember_thread(deps, where)  # before the post: a quick follow-up must find it
    try:
        data = _post(client, where, message)
        return str(data.get("ts") or data.get("message_ts") or "") or None
    except Exception as exc:
        if _is_transient(exc):
            deps.logger.error(
                "slack unreachable; the answer will be retried",
                extra=log_fields(error_type=type(exc).__name__, channel=where.channel),
            )
            _retry_later(deps, client, where, message, reason=type(exc).__name__)
            return None
        if not isinstance(exc, SlackApiError):
            raise
        code = _error_code(exc)
        if code in DEAD_TOKEN_ERRORS:  # the workspace removed the app: nobody to answer
            _log_dead_workspace(deps, where.team_id, code)
            return None
        deps.logger.warning(
            "slack refused a post",
            extra=log_fields(slack_error=code, channel=where.channel, ephemeral=where.ephemeral),
        )
        if code == "invalid_blocks" or code == "msg_too_long":
            return _text_only(deps, client, where, message)
        if (
            where.channel
            and where.user_id
            and where.channel != where.user_id
            and (where.ephemeral or not where.channel.startswith("D"))  # not our own DM again
        ):
            return _dm(deps, client, where, message, reason=code)
        deps.logger.error(
            "could not reach the rep", extra=log_fields(slack_error=code, channel=where.channel)
        )
        return None


#: Slack's answers when a workspace's token is dead (the app was removed or revoked).
DEAD_TOKEN_ERRORS = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked"})
_dead_lock = threading.Lock()
_dead_teams: set[str | None] = set()


def _log_dead_workspace(deps: Deps, team_id: str | None, code: str) -> None:
    """One warning per workspace per process: ten answers in flight when a workspace
    uninstalls are one event for the operator, not ten errors."""
    with _dead_lock:
        first = team_id not in _dead_teams
        if first and len(_dead_teams) < 10_000:
            _dead_teams.add(team_id)
    if first:
        deps.logger.warning(
            "a workspace's token no longer works (app removed?); its answers are dropped",
            extra=log_fields(team_id=team_id, slack_error=code),
        )


def _text_only(deps: Deps, client: WebClient, where: ReplyTarget, message: Message) -> str | None:
    """Slack rejected the blocks (should not happen): the fallback text still reaches the rep."""
    try:
        return _post(client, where, Message(text=message.text, blocks=[])).get("ts")
    except SlackApiError as exc:
        deps.logger.error("text-only post failed", extra=log_fields(slack_error=_error_code(exc)))
        return None


def _dm(
    deps: Deps, client: WebClient, where: ReplyTarget, message: Message, *, reason: str
) -> str | None:
    """Post to the app's DM with the rep (a user id as ``channel``), saying why it landed there."""
    if not where.user_id:
        return None
    why = REDIRECT_ERRORS.get(reason, "I couldn't answer where you asked, so I answered here.")
    if where.channel and where.channel[:1] in "CG":
        why = f"(You asked in <#{where.channel}>.) " + why
    note = {"type": "context", "elements": [{"type": "mrkdwn", "text": why}]}
    dm = Message(text=message.text, blocks=render.fit_blocks([note, *message.blocks], keep_tail=1))
    try:
        data = client.chat_postMessage(channel=where.user_id, unfurl_links=False, **dm.to_slack())
        deps.logger.info("answer redirected to DM", extra=log_fields(reason=reason))
        return str(data.get("ts") or "") or None
    except SlackApiError as exc:
        deps.logger.error(
            "could not reach the rep",
            extra=log_fields(slack_error=_error_code(exc), first_error=reason),
        )
        return None


# -- the 👀 "working on it" reaction -------------------------------------------------------


def add_reaction(deps: Deps, client: WebClient, channel: str | None, ts: str | None) -> bool:
    """Best effort: a missing scope or an old message must not block the answer."""
    if not channel or not ts:
        return False
    try:
        client.reactions_add(channel=channel, timestamp=ts, name="eyes")
        return True
    except SlackApiError as exc:
        deps.logger.info("reaction not added", extra=log_fields(slack_error=_error_code(exc)))
        return False
    except Exception as exc:  # unreachable, timed out: the answer goes out regardless
        deps.logger.info("reaction not added", extra=log_fields(error_type=type(exc).__name__))
        return False


def remove_reaction(deps: Deps, client: WebClient, channel: str | None, ts: str | None) -> None:
    if not channel or not ts:
        return
    try:
        client.reactions_remove(channel=channel, timestamp=ts, name="eyes")
    except SlackApiError as exc:
        deps.logger.info("reaction not removed", extra=log_fields(slack_error=_error_code(exc)))
    except Exception as exc:
        deps.logger.info("reaction not removed", extra=log_fields(error_type=type(exc).__name__))
