"""What every surface shares: hand work off after the ack, run a lookup, claim an event
once, deliver a reply.

Every listener acks first and passes the rest to :func:`after_ack`: Bolt's own threads
never wait for the coach or for Slack, so every request is acked within Slack's 3 s.

Delivery never leaves a rep without a reply: when Slack refuses a post
(``not_in_channel``, ``channel_not_found``, an expired ``response_url``...), the rep gets
the answer another way (ephemeral, or a DM with a note saying why) and a log line says
what happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot import render
from bot.dedupe import REPLAY_KEY
from bot.deps import Deps
from bot.logs import log_fields
from bot.render import Message
from retrieval.errors import CoachError, EmptyQuery
from retrieval.models import Answer

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
HELP_WORDS = {"help", "-h", "--help", "?", "usage", "hi", "hello", "hey"}
UNEXPECTED = "Something went wrong on my side while looking that up. Please try again in a moment."


@dataclass(frozen=True)
class Where:
    """Where a reply goes. ``response_url`` wins for ephemeral replies (slash commands, buttons)."""

    channel: str | None
    user_id: str | None
    team_id: str | None = None
    thread_ts: str | None = None
    response_url: str | None = None
    ephemeral: bool = False
    replace_original: bool = False


def after_ack(
    deps: Deps,
    job: str,
    work: Callable[[], object],
    *,
    client: WebClient | None = None,
    where: Where | None = None,
    problem: str = UNEXPECTED,
    context: Any = None,
) -> None:
    """Run ``work`` (lookup + delivery) in the work pool; call it right after ``ack()``.

    If ``work`` crashes, the log says so (``Deps.run_later``) and the rep at ``where`` gets
    ``problem`` as a note (their card stays). Without ``where`` (App Home, uninstall,
    modal comments) there is no one to tell: the log line is the alarm. With the Bolt
    ``context`` of a slash command or an interaction, the work first claims the request
    in the shared store, so a replay served by another process is not answered again.
    """
    key = context.get(REPLAY_KEY) if context is not None else None
    if key:
        unclaimed = work

        def work() -> object:
            if not deps.claim_shared(str(key)):
                deps.logger.info("replayed request skipped", extra=log_fields(key=key))
                return None
            return unclaimed()

    on_error: Callable[[Exception], object] | None = None
    if where is not None and client is not None:
        target = replace(where, replace_original=False)

        def on_error(_exc: Exception) -> None:
            deliver(deps, client, target, render.notice_message(problem, emoji=":warning:"))

    deps.run_later(job, work, on_error=on_error, team_id=where.team_id if where else None)


@dataclass(frozen=True)
class Lookup:
    """The outcome of one lookup: the message to send, its query-log id, the raw answer."""

    message: Message
    query_id: int | None
    answer: Answer | None


def lookup(
    deps: Deps,
    *,
    text: str,
    surface: str,
    team_id: str | None,
    user_id: str | None,
    exclude: Sequence[str] = (),
    shareable: bool = False,
) -> Lookup:
    """Ask the coach, log the query (redacted by the store), render the reply. Never raises."""
    started = deps.clock()
    answer: Answer | None = None
    error: str | None = None
    try:
        coach = deps.coach.get(deps.coach_wait_seconds)
        answer = coach.answer(text, k=3, exclude=tuple(exclude))
    except EmptyQuery:
        return Lookup(render.help_message(deps.settings.slash_command), None, None)
    except CoachError as exc:
        error = f"{type(exc).__name__}: {exc}"
        message = render.notice_message(str(exc), emoji=":warning:")
    except Exception as exc:
        error = type(exc).__name__
        deps.logger.exception("lookup failed", extra=log_fields(surface=surface, error_type=error))
        message = render.notice_message(UNEXPECTED, emoji=":warning:")
    latency_ms = (deps.clock() - started) * 1000.0
    query_id = log_query(
        deps,
        text=text,
        surface=surface,
        team_id=team_id,
        user_id=user_id,
        answer=answer,
        latency_ms=latency_ms,
        error=error,
    )
    if answer is not None:
        message = render.answer_message(
            answer, query_id=query_id, shareable=shareable, exclude=exclude
        )
    deps.logger.info(
        "lookup",
        extra=log_fields(
            surface=surface,
            team_id=team_id,
            answered=bool(answer and answer.answered),
            confidence=round(float(answer.confidence), 4) if answer else None,
            tip_id=answer.top.id if answer and answer.top else None,
            query_id=query_id,
            text_chars=len(text),
            latency_ms=round(latency_ms, 1),
            error=error,
        ),
    )
    return Lookup(message, query_id, answer)


def log_query(deps: Deps, **kwargs: Any) -> int | None:
    """The query log must never cost a rep their answer: a store failure is logged, not raised."""
    try:
        return deps.store.log_query(**kwargs)
    except Exception as exc:
        deps.logger.error(
            "query log write failed",
            extra=log_fields(error_type=type(exc).__name__, surface=kwargs.get("surface")),
        )
        return None


def claim(deps: Deps, body: dict[str, Any]) -> bool:
    """True once per Slack ``event_id``: in this process always (its own memory), across
    every process sharing the store whenever the store answers in time."""
    event_id = body.get("event_id")
    if not event_id:
        return True
    if deps.recent.first_time(f"ev:{event_id}") and deps.claim_shared(str(event_id)):
        return True
    deps.logger.info("duplicate event skipped", extra=log_fields(event_id=event_id))
    return False


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
    from bot.app import retry_handlers

    webhook = WebhookClient(
        url, timeout=max(1, round(deps.settings.slack_timeout)), retry_handlers=retry_handlers()
    )
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


def _post(client: WebClient, where: Where, message: Message) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"channel": where.channel, **message.to_slack()}
    if where.thread_ts:
        kwargs["thread_ts"] = where.thread_ts
    if where.ephemeral:
        return client.chat_postEphemeral(user=where.user_id, **kwargs).data  # type: ignore[return-value]
    return client.chat_postMessage(unfurl_links=False, unfurl_media=False, **kwargs).data  # type: ignore[return-value]


def already_posted(client: WebClient, where: Where, message: Message, since: float) -> bool:
    """Did an earlier attempt get through after all? The bot's message with the same text,
    since ``since``, in the conversation (or the thread)."""
    oldest = f"{since - 5:.6f}"
    if where.thread_ts:
        reply = client.conversations_replies(
            channel=where.channel, ts=where.thread_ts, oldest=oldest, limit=50
        )
    else:
        reply = client.conversations_history(channel=where.channel, oldest=oldest, limit=20)
    return any(
        m.get("bot_id") and m.get("text") == message.text for m in reply.get("messages") or []
    )


def _retry_later(
    deps: Deps, client: WebClient, where: Where, message: Message, *, reason: str
) -> None:
    """Hand an undelivered answer to the redelivery thread (never sleep in the work pool)."""
    since = time.time()
    fields = {"channel": where.channel, "reason": reason, "team_id": where.team_id}
    if where.response_url:
        url = where.response_url

        def send() -> bool:  # replacing makes a retry that races a late success harmless
            return (
                _respond_url(deps, url, message, ephemeral=where.ephemeral, replace_original=True)
                == "sent"
            )

        deps.redelivery.schedule(send, **fields)
        return

    def post() -> bool:
        _post(client, where, message)
        return True

    def delivered() -> bool:
        if where.ephemeral:
            return False  # ephemeral posts leave no history to check
        try:
            return already_posted(client, where, message, since)
        except Exception:
            return False

    deps.redelivery.schedule(post, delivered=delivered, **fields)


def deliver(deps: Deps, client: WebClient, where: Where, message: Message) -> str | None:
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


def _text_only(deps: Deps, client: WebClient, where: Where, message: Message) -> str | None:
    """Slack rejected the blocks (should not happen): the fallback text still reaches the rep."""
    try:
        return _post(client, where, Message(text=message.text, blocks=[])).get("ts")
    except SlackApiError as exc:
        deps.logger.error("text-only post failed", extra=log_fields(slack_error=_error_code(exc)))
        return None


def _dm(
    deps: Deps, client: WebClient, where: Where, message: Message, *, reason: str
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


def answer_event(
    deps: Deps,
    client: WebClient,
    *,
    text: str,
    surface: str,
    where: Where,
    react_ts: str | None = None,
) -> Lookup:
    """Events (DM, mention, thread): 👀 while working, then the answer where it was asked."""
    if text.strip().lower() in HELP_WORDS:  # "help" / "hi": how to ask, not a lookup
        help_message = render.help_message(deps.settings.slash_command)
        deliver(deps, client, where, help_message)
        return Lookup(help_message, None, None)
    reacted = add_reaction(deps, client, where.channel, react_ts)
    started = time.perf_counter()
    result = lookup(deps, text=text, surface=surface, team_id=where.team_id, user_id=where.user_id)
    deliver(deps, client, where, result.message)
    if reacted:
        remove_reaction(deps, client, where.channel, react_ts)
    deps.logger.debug(
        "event answered",
        extra=log_fields(surface=surface, ms=(time.perf_counter() - started) * 1000),
    )
    return result
