"""@mentions in channels, answered in a thread; follow-ups in that thread need no mention."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot import render
from bot.delivery import ReplyTarget, deliver
from bot.deps import Deps
from bot.listeners.common import (
    UNEXPECTED,
    answer_after_ack,
    answer_event,
    claim_event_once,
    with_deps,
)
from bot.listeners.dm import is_rep_message
from bot.logs import log_fields
from bot.slack_text import is_chatter, mentions_someone_else, mentions_user, plain_text


def is_thread_reply(event: dict[str, Any]) -> bool:
    """A rep's reply inside a channel thread (not the thread's first message)."""
    thread_ts = event.get("thread_ts")
    return (
        event.get("channel_type") in {"channel", "group"}  # no mpim:history scope
        and bool(thread_ts)
        and thread_ts != event.get("ts")
        and is_rep_message(event)
    )


def bot_answered_thread(deps: Deps, team_id: str | None, channel: str, thread_ts: str) -> bool:
    """Did the bot reply in this thread? The shared database says (every process agrees,
    and no Slack call is spent per message); when it cannot say, the message is left alone
    (a mention still works)."""
    try:
        return bool(deps.store.answered_thread(team_id, channel, thread_ts))
    except Exception as exc:
        deps.logger.warning(
            "thread ownership unknown; not answering without a mention",
            extra=log_fields(error_type=type(exc).__name__),
        )
        return False


def handle_mention(
    body: dict[str, Any],
    event: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    *,
    deps: Deps,
) -> None:
    """Answer under the message that mentioned us (in its thread when it is in one)."""
    if event.get("bot_id"):
        return
    text = plain_text(event.get("text"), bot_user_id=context.bot_user_id)
    where = ReplyTarget(
        channel=event.get("channel"),
        user_id=event.get("user"),
        team_id=context.team_id,
        thread_ts=event.get("thread_ts") or event.get("ts"),
    )

    def answer() -> None:
        if claim_event_once(deps, body):  # once per event_id, even when Slack re-delivers it
            answer_event(
                deps,
                client,
                text=text,
                surface="mention",
                where=where,
                react_ts=event.get("ts"),
            )

    answer_after_ack(deps, "mention", answer, client=client, where=where)


def handle_thread_reply(
    body: dict[str, Any],
    event: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    *,
    deps: Deps,
) -> None:
    """A follow-up in a thread we answered: answer it too, without a new mention."""
    raw = event.get("text") or ""
    if mentions_user(raw, context.bot_user_id):
        return  # app_mention answers this one
    if mentions_someone_else(raw, context.bot_user_id) or is_chatter(raw):
        return  # talking to a colleague, or "thanks!"
    channel, thread_ts = event["channel"], event["thread_ts"]
    where = ReplyTarget(
        channel=channel, user_id=event.get("user"), team_id=context.team_id, thread_ts=thread_ts
    )
    text = plain_text(raw, bot_user_id=context.bot_user_id)
    team_id = context.team_id

    def follow_up() -> None:
        if not bot_answered_thread(deps, team_id, channel, thread_ts):
            return  # not our thread: a crash before this point tells nobody
        if not claim_event_once(deps, body):
            return
        try:
            answer_event(
                deps, client, text=text, surface="thread", where=where, react_ts=event.get("ts")
            )
        except Exception:
            # Only now is the rep talking to us: they get the friendly error too.
            deliver(deps, client, where, render.notice_message(UNEXPECTED, emoji=":warning:"))
            raise  # and Deps.run_later logs it

    deps.run_later("thread", follow_up)


def register(app: App, deps: Deps) -> None:
    app.event("app_mention")(with_deps(handle_mention, deps))
    app.event("message", matchers=[is_thread_reply])(with_deps(handle_thread_reply, deps))
