"""Direct messages: any message a rep sends the bot gets an answer in the same DM."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot.delivery import ReplyTarget
from bot.deps import Deps
from bot.listeners.common import answer_after_ack, answer_event, claim_event_once, with_deps
from bot.slack_text import plain_text

#: Message subtypes that are still a rep talking to us (everything else: edits, joins, bots...).
ANSWERABLE_SUBTYPES = {None, "file_share", "thread_broadcast"}


def is_rep_message(event: dict[str, Any]) -> bool:
    """A human's new message: not a bot, not an edit/deletion/system message."""
    return (
        event.get("subtype") in ANSWERABLE_SUBTYPES
        and not event.get("bot_id")
        and not event.get("bot_profile")
        and bool(event.get("user"))
    )


def is_dm(event: dict[str, Any]) -> bool:
    return event.get("channel_type") == "im" and is_rep_message(event)


def handle_dm(
    body: dict[str, Any],
    event: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    *,
    deps: Deps,
) -> None:
    """Answer in the DM (in the rep's thread when they wrote in one)."""
    text = plain_text(event.get("text"), bot_user_id=context.bot_user_id)
    where = ReplyTarget(
        channel=event.get("channel"),
        user_id=event.get("user"),
        team_id=context.team_id,
        thread_ts=event.get("thread_ts"),
    )

    def answer() -> None:
        if claim_event_once(deps, body):  # once per event_id, even when Slack re-delivers it
            answer_event(
                deps, client, text=text, surface="dm", where=where, react_ts=event.get("ts")
            )

    answer_after_ack(deps, "dm", answer, client=client, where=where)


def register(app: App, deps: Deps) -> None:
    app.event("message", matchers=[is_dm])(with_deps(handle_dm, deps))
