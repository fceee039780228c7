"""👍 / 👎 on every card: stored with the tip and chunk ids; 👎 asks what was wrong (optional)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot import render
from bot.delivery import ReplyTarget, deliver
from bot.deps import Deps
from bot.listeners.actions import clicked, reply_target
from bot.listeners.common import answer_after_ack, with_deps
from bot.logs import log_fields
from bot.render import StaleButton

THANKS_UP = "Thanks! Glad it helped."
THANKS_DOWN = "Thanks, noted. It helps us write better tips."
NOT_SAVED = "Sorry, I couldn't save your feedback just now. Please try again later."


def _record(deps: Deps, body: dict[str, Any], context: BoltContext, *, helpful: bool) -> int | None:
    try:
        value = clicked(body)
    except StaleButton:  # the rep is told it was not saved
        return None
    if not value.tip_id:
        return None
    try:
        return deps.store.record_feedback(
            team_id=(body.get("team") or {}).get("id") or context.team_id,
            user_id=(body.get("user") or {}).get("id") or context.user_id,
            query_id=value.query_id,
            tip_id=value.tip_id,
            chunk_ids=list(value.chunk_ids),
            helpful=helpful,
        )
    except Exception as exc:
        deps.logger.error("feedback write failed", extra=log_fields(error_type=type(exc).__name__))
        return None


def comment_from(view: dict[str, Any]) -> str:
    values = (view.get("state") or {}).get("values") or {}
    field = (values.get(render.FEEDBACK_BLOCK_ID) or {}).get(render.FEEDBACK_INPUT_ID) or {}
    return (field.get("value") or "").strip()


def feedback_id_from(view: dict[str, Any]) -> int | None:
    try:
        value = json.loads(view.get("private_metadata") or "{}").get("feedback_id")
    except (TypeError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


def thank(
    deps: Deps, client: WebClient, where: ReplyTarget, body: dict[str, Any], context: BoltContext
) -> None:
    """Record the 👍; the thanks says whether it was saved."""
    saved = _record(deps, body, context, helpful=True)
    text = THANKS_UP if saved is not None else NOT_SAVED
    deliver(deps, client, where, render.notice_message(text, emoji=":thumbsup:"))


def ask_why(
    deps: Deps, client: WebClient, where: ReplyTarget, body: dict[str, Any], context: BoltContext
) -> None:
    """Record the 👎, then open the optional "what was wrong?" modal (or just thank the rep).

    The modal needs Slack's ``trigger_id``, valid for 3 s after the click: if the work waited
    too long for a thread, views.open fails and the rep is thanked instead.
    """
    feedback_id = _record(deps, body, context, helpful=False)
    if feedback_id is None:
        deliver(deps, client, where, render.notice_message(NOT_SAVED, emoji=":warning:"))
        return
    trigger_id = body.get("trigger_id")
    title = _tip_title(deps, clicked(body).tip_id)  # readable: it was just recorded
    try:
        if not trigger_id:
            raise ValueError("no trigger_id")
        client.views_open(
            trigger_id=trigger_id, view=render.feedback_modal(feedback_id, tip_title=title)
        )
    except (SlackApiError, SlackClientError, ValueError) as exc:
        deps.logger.warning(
            "feedback modal not opened", extra=log_fields(error_type=type(exc).__name__)
        )
        deliver(deps, client, where, render.notice_message(THANKS_DOWN, emoji=":thumbsdown:"))


def save_comment(deps: Deps, feedback_id: int, comment: str) -> None:
    """The modal is closed already: a failed write is logged (the 👎 itself is kept)."""
    try:
        deps.store.update_feedback_comment(feedback_id, comment)
    except Exception as exc:
        deps.logger.error(
            "feedback comment write failed", extra=log_fields(error_type=type(exc).__name__)
        )


def _private(where: ReplyTarget, body: dict[str, Any]) -> ReplyTarget:
    """A thanks goes to the clicker only: ephemeral via response_url, else chat.postEphemeral."""
    return replace(
        where, response_url=where.response_url or body.get("response_url"), ephemeral=True
    )


def _tip_title(deps: Deps, tip_id: str | None) -> str:
    if not tip_id or not deps.coach.ready:
        return ""
    try:
        return deps.coach.get(0).tip_card(tip_id).title
    except Exception:
        return ""


def handle_helpful(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, *, deps: Deps
) -> None:
    """Store the 👍 and thank the rep (privately)."""
    ack()
    where = _private(
        replace(reply_target(body, context), replace_original=False, ephemeral=True), body
    )
    answer_after_ack(
        deps,
        "feedback_up",
        lambda: thank(deps, client, where, body, context),
        client=client,
        where=where,
        problem=NOT_SAVED,
        context=context,
    )


def handle_unhelpful(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, *, deps: Deps
) -> None:
    """Store the 👎 at once; the modal only adds an optional comment to it."""
    ack()
    where = _private(
        replace(reply_target(body, context), replace_original=False, ephemeral=True), body
    )
    answer_after_ack(
        deps,
        "feedback_down",
        lambda: ask_why(deps, client, where, body, context),
        client=client,
        where=where,
        problem=NOT_SAVED,
        context=context,
    )


def handle_feedback_comment(ack: Ack, view: dict[str, Any], *, deps: Deps) -> None:
    """Closing the modal is instant; the comment (redacted by the store) is saved after."""
    ack()
    feedback_id = feedback_id_from(view)
    comment = comment_from(view)
    if feedback_id is None or not comment:
        return
    deps.run_later("feedback_comment", lambda: save_comment(deps, feedback_id, comment))


def register(app: App, deps: Deps) -> None:
    app.action(render.ACTION_FEEDBACK_UP)(with_deps(handle_helpful, deps))
    app.action(render.ACTION_FEEDBACK_DOWN)(with_deps(handle_unhelpful, deps))
    app.view(render.FEEDBACK_MODAL_ID)(with_deps(handle_feedback_comment, deps))
