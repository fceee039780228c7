"""👍 / 👎 on every card: stored with the tip and chunk ids, one vote per person per answer
(a second click changes it), shown on the rep's own card; 👎 asks what was wrong (a
one-click reason, optional text) and offers "Ask a lead"; a lead's (admin's) 👍 teaches
the bot that answer for the workspace."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot import render
from bot.delivery import ReplyTarget, deliver, respond_url
from bot.deps import Deps
from bot.listeners.actions import clicked, reply_target
from bot.listeners.common import answer_after_ack, with_deps
from bot.logs import log_fields
from bot.render import ButtonValue, Message, StaleButton
from bot.render.teach import with_vote

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


def _team(body: dict[str, Any], context: BoltContext) -> str | None:
    return (body.get("team") or {}).get("id") or context.team_id


def _user(body: dict[str, Any], context: BoltContext) -> str | None:
    return (body.get("user") or {}).get("id") or context.user_id


def private_card(body: dict[str, Any]) -> bool:
    """Only the rep's own card shows their vote: an ephemeral card or one in their DM (a
    card shared in a channel is everyone's, so a vote there is thanked privately)."""
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id") or ""
    return bool(container.get("is_ephemeral")) or channel.startswith("D")


def rebuild_card(deps: Deps, value: ButtonValue, team_id: str | None) -> Message | None:
    """The card the rep voted on, when Slack did not send it back (ephemeral cards): the
    logged question asked again, the voted tip at the rank it had ("Next best tip" when
    lower), else the tip in full. None when it cannot be rebuilt."""
    if value.query_id is None or not value.tip_id:
        return None
    try:
        coach = deps.coach.get(deps.coach_wait_seconds)
        row = deps.store.query_by_id(value.query_id, team_id=team_id)
        if row is not None and row.text.strip():
            learned = deps.learned.for_team(deps.store, coach, team_id)
            extra: dict[str, Any] = {"situations": learned} if learned is not None else {}
            answer = coach.answer(row.text, k=3, **extra)
            ids = [tip.id for tip in answer.tips]
            if value.tip_id in ids:
                at = ids.index(value.tip_id)
                return render.play_card(
                    answer.tips[at],
                    query=row.text,
                    query_id=value.query_id,
                    exclude=ids[:at],
                    shareable=True,
                    note="Next best tip" if at else None,
                )
        return render.full_tip_message(
            coach.tip_card(value.tip_id), query_id=value.query_id, shareable=True
        )
    except Exception as exc:
        deps.logger.info("card not rebuilt", extra=log_fields(error_type=type(exc).__name__))
        return None


def show_vote(
    deps: Deps,
    body: dict[str, Any],
    context: BoltContext,
    *,
    helpful: bool,
    learned: bool = False,
) -> bool:
    """Replace the rep's card (via its response_url) with one showing their vote; False
    when it is not theirs alone or cannot be rebuilt (the caller thanks them instead)."""
    url = body.get("response_url")
    if not url or not private_card(body):
        return False
    try:
        value = clicked(body)
    except StaleButton:
        return False
    team_id = _team(body, context)
    original = body.get("message") or {}
    card: Message | None
    if original.get("blocks"):
        card = Message(text=str(original.get("text") or "Tip Coach"), blocks=original["blocks"])
    else:
        card = rebuild_card(deps, value, team_id)
    if card is None:
        return False
    ask_lead = None
    if not helpful and value.query_id is not None and deps.settings.leads_channel_for(team_id):
        ask_lead = render.ask_lead_value(value.query_id, value.tip_id)
    blocks = with_vote(card.blocks, helpful=helpful, learned=learned, ask_lead=ask_lead)
    ephemeral = bool((body.get("container") or {}).get("is_ephemeral"))
    return respond_url(
        deps, url, Message(card.text, blocks), ephemeral=ephemeral, replace_original=True
    )


def confirm_as_lead(deps: Deps, body: dict[str, Any], context: BoltContext) -> bool:
    """A lead's (or an admin's) 👍 on an answer to their own question teaches the bot: the
    question becomes a learned situation of that tip for the workspace. True when it did.
    Anyone else's 👍 is only a vote, and a lead's 👍 never teaches with a rep's words."""
    user_id, team_id = _user(body, context), _team(body, context)
    if not deps.settings.can_teach(user_id) or not team_id:
        return False
    try:
        value = clicked(body)
        if value.query_id is None or not value.tip_id:
            return False
        row = deps.store.query_by_id(value.query_id, team_id=team_id)
        if row is None or row.user_id != user_id or not row.text.strip():
            return False
        deps.store.add_learned_situation(
            team_id=team_id,
            tip_id=value.tip_id,
            text=row.text,
            source="confirmed",
            created_by=user_id,
        )
    except Exception as exc:
        deps.logger.error(
            "learned situation not saved", extra=log_fields(error_type=type(exc).__name__)
        )
        return False
    deps.learned.invalidate(team_id)
    return True


def reason_from(view: dict[str, Any]) -> str | None:
    """The one-click reason picked in the 👎 modal (None: none picked)."""
    values = (view.get("state") or {}).get("values") or {}
    field = (values.get(render.FEEDBACK_REASON_BLOCK_ID) or {}).get(
        render.ACTION_FEEDBACK_REASON
    ) or {}
    picked = (field.get("selected_option") or {}).get("value")
    return picked if picked in render.FEEDBACK_REASON_LABELS else None


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
    """Record the 👍 and show it on the rep's card (else thank them); a lead's 👍 also
    teaches the bot. A failed write says so."""
    saved = _record(deps, body, context, helpful=True)
    if saved is None:
        deliver(deps, client, where, render.notice_message(NOT_SAVED, emoji=":warning:"))
        return
    learned = confirm_as_lead(deps, body, context)
    if not show_vote(deps, body, context, helpful=True, learned=learned):
        deliver(deps, client, where, render.notice_message(THANKS_UP, emoji=":thumbsup:"))


def ask_why(
    deps: Deps, client: WebClient, where: ReplyTarget, body: dict[str, Any], context: BoltContext
) -> None:
    """Record the 👎, open the optional "what was wrong?" modal, then show the vote (and
    "Ask a lead") on the rep's card; without modal or card the rep is thanked instead.

    The modal needs Slack's ``trigger_id``, valid for 3 s after the click: if the work waited
    too long for a thread, views.open fails, so it goes first.
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
        opened = False
    else:
        opened = True
    shown = show_vote(deps, body, context, helpful=False)
    if not opened and not shown:
        deliver(deps, client, where, render.notice_message(THANKS_DOWN, emoji=":thumbsdown:"))


def save_reason(deps: Deps, feedback_id: int, reason: str) -> None:
    """A failed write is logged (the 👎 itself is kept)."""
    try:
        deps.store.set_feedback_reason(feedback_id, reason)
    except Exception as exc:
        deps.logger.error(
            "feedback reason write failed", extra=log_fields(error_type=type(exc).__name__)
        )


def save_comment(deps: Deps, feedback_id: int, comment: str, reason: str | None = None) -> None:
    """The modal is closed already: a failed write is logged (the 👎 itself is kept)."""
    if reason is not None:
        save_reason(deps, feedback_id, reason)
    if not comment:
        return
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
    """Closing the modal is instant; the reason and the comment (redacted by the store) are
    saved after."""
    ack()
    feedback_id = feedback_id_from(view)
    comment = comment_from(view)
    reason = reason_from(view)
    if feedback_id is None or not (comment or reason):
        return
    deps.run_later("feedback_comment", lambda: save_comment(deps, feedback_id, comment, reason))


def handle_feedback_reason(ack: Ack, body: dict[str, Any], *, deps: Deps) -> None:
    """A reason is kept the moment it is clicked, even if the rep then closes the modal."""
    ack()
    view = body.get("view") or {}
    feedback_id = feedback_id_from(view)
    actions = body.get("actions") or [{}]
    reason = (actions[0].get("selected_option") or {}).get("value")
    if feedback_id is None or reason not in render.FEEDBACK_REASON_LABELS:
        return
    deps.run_later("feedback_reason", lambda: save_reason(deps, feedback_id, reason))


def register(app: App, deps: Deps) -> None:
    app.action(render.ACTION_FEEDBACK_UP)(with_deps(handle_helpful, deps))
    app.action(render.ACTION_FEEDBACK_DOWN)(with_deps(handle_unhelpful, deps))
    app.action(render.ACTION_FEEDBACK_REASON)(with_deps(handle_feedback_reason, deps))
    app.view(render.FEEDBACK_MODAL_ID)(with_deps(handle_feedback_comment, deps))
