"""Card buttons: Show full tip, Next best tip, low-confidence suggestions, Share with channel."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot import render
from bot.delivery import ReplyTarget, deliver, respond_url
from bot.deps import Deps
from bot.listeners.common import UNEXPECTED, answer_after_ack, lookup, with_deps
from bot.logs import log_fields
from bot.render import STALE_BUTTON, ButtonValue, Message, StaleButton
from retrieval.errors import CoachError, UnknownTip

GONE_TIP = (
    "That tip is no longer in the library (the tips were updated). Ask me again for a fresh answer."
)
SHARE_FAILED = (
    "I couldn't share that in this channel. Invite me with `/invite @Tip Coach` and try again, "
    "or copy the tip from here."
)


def reply_target(body: dict[str, Any], context: BoltContext) -> ReplyTarget:
    """Where a button's result goes: replace an ephemeral card, else reply in the card's thread."""
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    user = (body.get("user") or {}).get("id") or context.user_id
    team = (body.get("team") or {}).get("id") or context.team_id
    message = body.get("message")
    if container.get("is_ephemeral") or not message:
        return ReplyTarget(
            channel=channel,
            user_id=user,
            team_id=team,
            response_url=body.get("response_url"),
            ephemeral=True,
            replace_original=True,
        )
    thread_ts = message.get("thread_ts") or container.get("thread_ts")
    if not thread_ts and not (channel or "").startswith("D"):
        thread_ts = message.get("ts") or container.get(
            "message_ts"
        )  # a thread under a channel card
    return ReplyTarget(channel=channel, user_id=user, team_id=team, thread_ts=thread_ts)


def clicked(body: dict[str, Any]) -> ButtonValue:
    """The clicked button's value; :class:`StaleButton` (a CoachError) when unreadable."""
    actions = body.get("actions") or [{}]
    return ButtonValue.decode(actions[0].get("value"))


def _tip_card(deps: Deps, body: dict[str, Any], *, shareable: bool) -> Message | str:
    """The full-tip card, or the problem to tell the rep."""
    try:
        value = clicked(body)
        if not value.tip_id:
            raise StaleButton()
        tip = deps.coach.get(deps.coach_wait_seconds).tip_card(value.tip_id)
    except UnknownTip:
        return GONE_TIP
    except CoachError as exc:
        return str(exc)
    return render.full_tip_message(tip, query_id=value.query_id, shareable=shareable)


def send(deps: Deps, client: WebClient, where: ReplyTarget, result: Message | str) -> None:
    """Deliver a card; a problem is added as a note and never replaces the rep's card."""
    if isinstance(result, str):
        deliver(
            deps,
            client,
            replace(where, replace_original=False),
            render.notice_message(result, emoji=":warning:"),
        )
    else:
        deliver(deps, client, where, result)


def situation_text(deps: Deps, value: ButtonValue, team_id: str | None) -> str:
    """The rep's situation a button refers to: read back from the query log by its id
    (buttons never carry it), or from an old button that still does. "" when it is gone
    (retention, another workspace, the database away): the caller says so."""
    if value.query:
        return value.query
    if value.query_id is None:
        return ""
    try:
        return deps.store.query_text(value.query_id, team_id=team_id) or ""
    except Exception as exc:
        deps.logger.warning(
            "situation of a button not readable", extra=log_fields(error_type=type(exc).__name__)
        )
        return ""


def shared_card(deps: Deps, value: ButtonValue, team_id: str | None = None) -> Message | None:
    """Rebuild the card the rep saw (ephemeral messages are not sent back to us)."""
    if not value.tip_id:
        return None
    coach = deps.coach.get(deps.coach_wait_seconds)
    qid = value.query_id
    query = "" if value.full else situation_text(deps, value, team_id)
    if query:
        answer = coach.answer(query, k=3, exclude=value.exclude)
        for tip in answer.tips:
            if tip.id == value.tip_id:
                return render.play_card(tip, query=query, query_id=qid, exclude=value.exclude)
    return render.full_tip_message(coach.tip_card(value.tip_id), query_id=qid)


def next_tip(deps: Deps, client: WebClient, where: ReplyTarget, body: dict[str, Any]) -> None:
    """Look the rep's situation up again without the tips they already saw."""
    try:
        value = clicked(body)
        text = situation_text(deps, value, where.team_id)
        if not text.strip():
            raise StaleButton()
    except StaleButton as exc:
        send(deps, client, where, str(exc))
        return
    result = lookup(
        deps,
        text=text,
        surface="button",
        team_id=where.team_id,
        user_id=where.user_id,
        exclude=value.exclude,
        shareable=where.ephemeral,
    )
    message = result.message
    if result.answer is None:  # a problem, not a card: keep the rep's card on screen
        where = replace(where, replace_original=False)
    elif where.ephemeral:  # it replaces a private answer that quoted the rep's question
        message = render.with_question(message, text)
    deliver(deps, client, where, message)


def share(deps: Deps, client: WebClient, where: ReplyTarget, body: dict[str, Any]) -> None:
    """Rebuild the rep's card and post it in the channel (or tell them why not)."""
    try:
        card = shared_card(deps, clicked(body), where.team_id)
    except UnknownTip:
        card, problem = None, GONE_TIP
    except CoachError as exc:  # a StaleButton says so in the rep's words
        card, problem = None, str(exc)
    except Exception as exc:
        deps.logger.exception("share failed", extra=log_fields(error_type=type(exc).__name__))
        card, problem = None, UNEXPECTED
    else:
        problem = STALE_BUTTON
    if card is None:
        send(deps, client, where, problem)
        return
    message = render.shared_message(card, user_id=where.user_id)
    if not post_publicly(deps, client, where, message):
        send(deps, client, where, SHARE_FAILED)


def post_publicly(deps: Deps, client: WebClient, where: ReplyTarget, message: Message) -> bool:
    """Post as the bot; if it is not in the channel, Slack's response_url can still post."""
    try:
        client.chat_postMessage(channel=where.channel, unfurl_links=False, **message.to_slack())
        return True
    except SlackApiError as exc:
        code = exc.response.get("error")
        deps.logger.warning(
            "share post refused", extra=log_fields(slack_error=code, channel=where.channel)
        )
    except SlackClientError as exc:
        deps.logger.warning("share post failed", extra=log_fields(error_type=type(exc).__name__))
    if where.response_url:
        return respond_url(
            deps, where.response_url, message, ephemeral=False, replace_original=False
        )
    return False


def handle_show_tip(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, *, deps: Deps
) -> None:
    """ "Show full tip", or a "nearest situation" button from a low-confidence reply."""
    ack()
    where = reply_target(body, context)

    def show() -> None:
        send(deps, client, where, _tip_card(deps, body, shareable=where.ephemeral))

    answer_after_ack(deps, "full_tip", show, client=client, where=where, context=context)


def handle_next_tip(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, *, deps: Deps
) -> None:
    """Same situation, excluding the tips already shown."""
    ack()
    where = reply_target(body, context)
    answer_after_ack(
        deps,
        "next_tip",
        lambda: next_tip(deps, client, where, body),
        client=client,
        where=where,
        context=context,
    )


def handle_share(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, *, deps: Deps
) -> None:
    """Post the private answer publicly, credited "shared by @rep"."""
    ack()
    where = reply_target(body, context)
    answer_after_ack(
        deps,
        "share",
        lambda: share(deps, client, where, body),
        client=client,
        where=where,
        context=context,
    )


def register(app: App, deps: Deps) -> None:
    """A "nearest situation" suggestion shows its tip exactly as "Show full tip" does."""
    show_tip = with_deps(handle_show_tip, deps)
    app.action(render.ACTION_FULL_TIP)(show_tip)
    app.action(render.SUGGESTION_ACTION_RE)(show_tip)
    app.action(render.ACTION_NEXT_TIP)(with_deps(handle_next_tip, deps))
    app.action(render.ACTION_SHARE)(with_deps(handle_share, deps))
