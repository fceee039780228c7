"""Teaching the bot: "Ask a lead" posts a rep's question to the leads channel, a lead's
threaded reply there is relayed to the rep, and "Attach a tip" (leads channel, or an
admin's App Home) ties the question to a tip as a learned situation of that workspace.

A leads thread is recognised from the database (``lead_requests``: channel and ts of our
post), never by reading the thread back from Slack. Learned situations reach lookups
through ``deps.learned`` (this process at once, the others within a minute).
"""

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
from bot.listeners.actions import reply_target
from bot.listeners.common import answer_after_ack, claim_event_once, with_deps
from bot.listeners.dm import is_rep_message
from bot.logs import log_fields
from bot.render import Message
from bot.render.teach import (
    ACTION_ATTACH_TIP,
    ACTION_REMOVE_LEARNED,
    ATTACH_MODAL_ID,
    ATTACH_TEXT_BLOCK_ID,
    ATTACH_TEXT_INPUT_ID,
    ATTACH_TIP_BLOCK_ID,
    ATTACH_TIP_INPUT_ID,
    attach_modal,
    lead_reply_message,
    lead_request_done,
    lead_request_message,
    lead_sent_message,
    learned_message,
)
from bot.slack_text import plain_text

NO_LEADS = "No leads channel is set up, so I can't ask a lead. Ask your admin to set one."
NOT_ASKED = "Sorry, I couldn't reach your leads just now. Please try again in a moment."
ALREADY_ASKED = "You already asked the leads about this; I'll DM you their answer."
NO_QUESTION = "I can't find that question any more (it may be older than we keep). Ask me again."
ADMINS_ONLY = "Only admins (COACH_ADMINS) can change what Tip Coach has learned."
LEADS_ONLY = (
    "Only team leads and admins can teach Tip Coach (COACH_LEADS, COACH_ADMINS); "
    "nothing was changed."
)
NOT_RELAYED = (
    "Only replies from team leads (COACH_LEADS) or admins are sent to the rep; "
    "yours stays here in the thread."
)
NOT_YOURS = (
    "Only the person who asked can send this question to the leads. "
    "Tell me your own situation and you'll get your own answer (only you will see it)."
)
ATTACH_FAILED = "Sorry, I couldn't save that just now. Please try again."


def _value(body: dict[str, Any]) -> dict[str, Any]:
    """A clicked button's small JSON value ({} when unreadable)."""
    actions = body.get("actions") or [{}]
    try:
        value = json.loads(actions[0].get("value") or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def _private(where: ReplyTarget, body: dict[str, Any]) -> ReplyTarget:
    """A note for the clicker only, beside their card (never replacing it)."""
    return replace(
        where,
        response_url=where.response_url or body.get("response_url"),
        ephemeral=True,
        replace_original=False,
    )


def _tell(deps: Deps, client: WebClient, where: ReplyTarget, text: str, emoji: str) -> None:
    deliver(deps, client, where, render.notice_message(text, emoji=emoji))


# -- Ask a lead --------------------------------------------------------------------------------


def ask_lead(deps: Deps, client: WebClient, where: ReplyTarget, body: dict[str, Any]) -> None:
    """Post the rep's (logged, redacted) question to the leads channel and remember the post."""
    team_id, user_id = where.team_id, where.user_id
    channel = deps.settings.leads_channel_for(team_id)
    if not channel:
        _tell(deps, client, where, NO_LEADS, ":information_source:")
        return
    value = _value(body)
    query_id = _int(value.get("query_id"))
    row = deps.store.query_by_id(query_id, team_id=team_id) if query_id is not None else None
    if row is None or not user_id:
        _tell(deps, client, where, NO_QUESTION, ":warning:")
        return
    if row.user_id != user_id:  # a bystander on someone's card in a channel
        _tell(deps, client, where, NOT_YOURS, ":lock:")
        return
    if deps.store.lead_request_for_query(row.id, user_id) is not None:
        _tell(deps, client, where, ALREADY_ASKED, ":raising_hand:")
        return
    request_id = deps.store.add_lead_request(
        team_id=team_id, channel=channel, user_id=user_id, text=row.text, query_id=row.id
    )
    message = lead_request_message(
        question=row.text, rep_user_id=user_id, request_id=request_id, nearest=row.nearest_title
    )
    try:
        posted = client.chat_postMessage(channel=channel, unfurl_links=False, **message.to_slack())
    except (SlackApiError, SlackClientError) as exc:
        code = exc.response.get("error") if isinstance(exc, SlackApiError) else None
        deps.logger.warning(
            "leads post failed",
            extra=log_fields(channel=channel, slack_error=code, error_type=type(exc).__name__),
        )
        deps.store.forget_lead_request(request_id)
        _tell(deps, client, where, NOT_ASKED, ":warning:")
        return
    deps.store.set_lead_request_ts(request_id, str(posted.get("ts")))
    deps.logger.info("lead asked", extra=log_fields(team_id=team_id, request_id=request_id))
    deliver(deps, client, where, lead_sent_message(channel))


def handle_ask_lead(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, *, deps: Deps
) -> None:
    """ "Ask a lead" on a decline card or a card voted 👎."""
    ack()
    where = _private(reply_target(body, context), body)
    answer_after_ack(
        deps,
        "ask_lead",
        lambda: ask_lead(deps, client, where, body),
        client=client,
        where=where,
        problem=NOT_ASKED,
        context=context,
    )


# -- a lead's threaded reply ---------------------------------------------------------------


def relay_reply(
    deps: Deps,
    client: WebClient,
    body: dict[str, Any],
    event: dict[str, Any],
    context: BoltContext,
) -> None:
    """DM a lead's reply to the rep who asked; a thread that is not a lead request is an
    ordinary channel thread (``mention`` decides whether to answer it)."""
    channel, thread_ts = event.get("channel") or "", event.get("thread_ts") or ""
    request = deps.store.lead_request_for_thread(channel, thread_ts)
    if request is None:
        from bot.listeners import mention

        mention.handle_thread_reply(body, event, client, context, deps=deps)
        return
    if event.get("user") == request.user_id or not claim_event_once(deps, body):
        return  # the rep talking in their own request's thread: nothing to relay
    reply = plain_text(event.get("text"), bot_user_id=context.bot_user_id)
    if not reply.strip():
        return
    if not deps.settings.can_teach(event.get("user")):
        note = ReplyTarget(
            channel=channel,
            user_id=event.get("user"),
            team_id=request.team_id,
            thread_ts=thread_ts,
            ephemeral=True,
        )
        _tell(deps, client, note, NOT_RELAYED, ":information_source:")
        return
    message = lead_reply_message(reply=reply, lead_user_id=event.get("user"), question=request.text)
    rep = ReplyTarget(channel=request.user_id, user_id=request.user_id, team_id=request.team_id)
    deliver(deps, client, rep, message)
    try:  # the lead sees it went through; best effort
        client.reactions_add(channel=channel, timestamp=event.get("ts"), name="white_check_mark")
    except (SlackApiError, SlackClientError) as exc:
        deps.logger.info("reaction not added", extra=log_fields(error_type=type(exc).__name__))
    deps.logger.info(
        "lead reply relayed", extra=log_fields(team_id=request.team_id, request_id=request.id)
    )


def handle_lead_reply(
    body: dict[str, Any],
    event: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    *,
    deps: Deps,
) -> None:
    """A threaded reply in a leads channel: looked up after the ack."""
    deps.run_later("lead_reply", lambda: relay_reply(deps, client, body, event, context))


def in_leads_thread(deps: Deps) -> Any:
    """A matcher: a person's reply in a thread of a configured leads channel."""
    channels = {
        entry.split(":")[-1] for entry in deps.settings.leads_channel if entry.split(":")[-1]
    }

    def matches(event: dict[str, Any]) -> bool:
        thread_ts = event.get("thread_ts")
        return (
            event.get("channel") in channels
            and bool(thread_ts)
            and thread_ts != event.get("ts")
            and is_rep_message(event)
        )

    return matches


# -- Attach a tip ------------------------------------------------------------------------------


def _tip_choices(deps: Deps) -> list[tuple[str, str]]:
    tips = deps.coach.get(deps.coach_wait_seconds).tips()
    return sorted(((tip.id, tip.title) for tip in tips), key=lambda pair: pair[1].lower())


def open_attach(deps: Deps, client: WebClient, body: dict[str, Any], context: BoltContext) -> None:
    """The "Attach a tip" modal for a leads-channel question or a logged one (admins)."""
    team_id = (body.get("team") or {}).get("id") or context.team_id
    user_id = (body.get("user") or {}).get("id") or context.user_id
    value = _value(body)
    request_id, query_id = _int(value.get("lead_request")), _int(value.get("query_id"))
    metadata: dict[str, Any]
    if not deps.settings.can_teach(user_id):
        _tell(deps, client, _private(reply_target(body, context), body), LEADS_ONLY, ":lock:")
        return
    if request_id is not None:
        request = deps.store.lead_request(request_id)
        if request is None or (request.team_id and team_id and request.team_id != team_id):
            return
        question, metadata = request.text, {"lead_request": request.id}
        row = deps.store.query_by_id(request.query_id) if request.query_id is not None else None
        initial = row.nearest_tip_id if row is not None else None
    elif query_id is not None:
        row = deps.store.query_by_id(query_id, team_id=team_id)
        if row is None:
            return
        question, metadata = row.text, {"query_id": row.id}
        initial = row.nearest_tip_id
    else:
        return
    view = attach_modal(
        _tip_choices(deps), question=question, metadata=metadata, initial_tip=initial
    )
    client.views_open(trigger_id=body.get("trigger_id"), view=view)


def handle_attach_tip(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, *, deps: Deps
) -> None:
    """Open the tip picker (Slack's trigger_id lasts 3 s: the pool starts it at once)."""
    ack()
    deps.run_later("attach_open", lambda: open_attach(deps, client, body, context))


def attach_values(view: dict[str, Any]) -> tuple[str, str | None, dict[str, Any]]:
    """(situation text, tip id, metadata) from a submitted "Attach a tip" modal."""
    values = (view.get("state") or {}).get("values") or {}
    text = ((values.get(ATTACH_TEXT_BLOCK_ID) or {}).get(ATTACH_TEXT_INPUT_ID) or {}).get("value")
    choice = (values.get(ATTACH_TIP_BLOCK_ID) or {}).get(ATTACH_TIP_INPUT_ID) or {}
    tip_id = (choice.get("selected_option") or {}).get("value")
    try:
        metadata = json.loads(view.get("private_metadata") or "{}")
    except (TypeError, ValueError):
        metadata = {}
    return " ".join(str(text or "").split()), tip_id, metadata if isinstance(metadata, dict) else {}


def attach(
    deps: Deps,
    client: WebClient,
    *,
    text: str,
    tip_id: str,
    metadata: dict[str, Any],
    team_id: str | None,
    user_id: str | None,
) -> int | None:
    """Save the learned situation, then say so where the question came from."""
    if not deps.settings.can_teach(user_id):  # checked again: a crafted submit is refused too
        return None
    request_id, query_id = _int(metadata.get("lead_request")), _int(metadata.get("query_id"))
    request = deps.store.lead_request(request_id) if request_id is not None else None
    if request is not None:
        team_id, source = request.team_id or team_id, "lead"
    elif query_id is not None:
        source = "home"
    else:
        return None
    if not team_id:
        return None
    title = deps.coach.get(deps.coach_wait_seconds).tip_card(tip_id).title
    situation_id = deps.store.add_learned_situation(
        team_id=team_id, tip_id=tip_id, text=text, source=source, created_by=user_id
    )
    deps.learned.invalidate(team_id)
    deps.logger.info(
        "learned situation added",
        extra=log_fields(team_id=team_id, tip_id=tip_id, source=source, id=situation_id),
    )
    if request is not None:
        _mark_request_done(deps, client, request, user_id, title)
        rep = ReplyTarget(channel=request.user_id, user_id=request.user_id, team_id=team_id)
        deliver(
            deps,
            client,
            rep,
            learned_message(question=request.text, tip_title=title, lead_user_id=user_id),
        )
    elif user_id:
        from bot.listeners.home import publish_home

        publish_home(deps, client, user_id=user_id, team_id=team_id)
    return situation_id


def _mark_request_done(
    deps: Deps, client: WebClient, request: Any, user_id: str | None, title: str
) -> None:
    if not request.ts:
        return
    original = lead_request_message(
        question=request.text, rep_user_id=request.user_id, request_id=request.id
    )
    done: Message = lead_request_done(original, lead_user_id=user_id, tip_title=title)
    try:
        client.chat_update(channel=request.channel, ts=request.ts, **done.to_slack())
    except (SlackApiError, SlackClientError) as exc:
        deps.logger.info("leads post not updated", extra=log_fields(error_type=type(exc).__name__))


def handle_attach_submit(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, *, deps: Deps
) -> None:
    """Close the modal at once (an empty situation is refused in place); save after."""
    text, tip_id, metadata = attach_values(view)
    if not text:
        ack(response_action="errors", errors={ATTACH_TEXT_BLOCK_ID: "Write the situation."})
        return
    if not tip_id:
        ack(response_action="errors", errors={ATTACH_TIP_BLOCK_ID: "Choose a tip."})
        return
    ack()
    team_id = (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id")
    user_id = (body.get("user") or {}).get("id")
    deps.run_later(
        "attach_tip",
        lambda: attach(
            deps,
            client,
            text=text,
            tip_id=tip_id,
            metadata=metadata,
            team_id=team_id,
            user_id=user_id,
        ),
        team_id=team_id,
    )


# -- App Home: removing a learned situation ----------------------------------------------------


def remove_learned(
    deps: Deps, client: WebClient, *, situation_id: int, team_id: str | None, user_id: str
) -> bool:
    """An admin removes one of their workspace's learned situations; the tab is refreshed."""
    if user_id not in deps.settings.admins or not team_id:
        return False
    removed = deps.store.remove_learned_situation(situation_id, team_id=team_id)
    deps.learned.invalidate(team_id)
    from bot.listeners.home import publish_home

    publish_home(deps, client, user_id=user_id, team_id=team_id)
    return removed


def handle_remove_learned(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, *, deps: Deps
) -> None:
    ack()
    situation_id = _int(_value(body).get("learned_id"))
    user_id = (body.get("user") or {}).get("id") or context.user_id
    team_id = (body.get("team") or {}).get("id") or context.team_id
    if situation_id is None or not user_id:
        return
    deps.run_later(
        "remove_learned",
        lambda: remove_learned(
            deps, client, situation_id=situation_id, team_id=team_id, user_id=user_id
        ),
    )


def register(app: App, deps: Deps) -> None:
    """Registered before ``mention``: Bolt runs the first listener that matches a message,
    and a reply in a leads thread is ours (others are handed back to ``mention``)."""
    app.action(render.ACTION_ASK_LEAD)(with_deps(handle_ask_lead, deps))
    app.action(ACTION_ATTACH_TIP)(with_deps(handle_attach_tip, deps))
    app.action(ACTION_REMOVE_LEARNED)(with_deps(handle_remove_learned, deps))
    app.view(ATTACH_MODAL_ID)(with_deps(handle_attach_submit, deps))
    if deps.settings.leads_channel:
        app.event("message", matchers=[in_leads_thread(deps)])(with_deps(handle_lead_reply, deps))
