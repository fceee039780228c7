""" "Find a tip" and "Coach me on this": Slack-native ways to ask without typing a command.

* The global shortcut ``find_tip`` and the App Home's "Find a tip" button open a modal
  whose menu suggests situations as the rep types (``Coach.suggest``, typos mended);
  picking one, or describing the situation, answers privately in the rep's DM with the
  app (a modal has no channel to answer in).
* The message shortcut ``coach_on_message`` looks up the words of the message it was
  used on (e.g. a customer's, in a shared channel) and answers privately in that channel
  (ephemeral via the shortcut's ``response_url``; :func:`bot.delivery.deliver` falls back
  to a DM when Slack refuses).

Menu options are the only answer computed before the ack: Slack shows what the ack
carries, and suggesting is a few milliseconds of CPU with no model call.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot import render
from bot.delivery import ReplyTarget, deliver
from bot.deps import Deps
from bot.listeners.common import UNEXPECTED, answer_after_ack, log_query, lookup, with_deps
from bot.logs import log_fields
from bot.render import Message
from bot.render import find as find_view
from bot.slack_text import plain_text
from retrieval.errors import CoachError, UnknownTip
from retrieval.models import Answer

#: Slack's emoji codes (``:pray:``): not words about a customer.
EMOJI_CODE = re.compile(r":[a-z0-9_+\-']+:")

FIND_SHORTCUT = "find_tip"
MESSAGE_SHORTCUT = "coach_on_message"
#: Longest wait for a coach still loading while Slack waits for menu options (3 s in all).
OPTIONS_COACH_WAIT = 1.0
#: Typed menu text beyond this is not read (a menu query is a few words).
MAX_TYPED = 200

PICK_OR_DESCRIBE = "Pick a situation, or describe it below."
NO_WORDS = "I couldn't find any words in that. Describe what the customer says or wants."
TOO_LONG = f"That's a lot to read: please keep it under {find_view.MAX_FIND_TEXT} characters."
MODAL_FAILED = "I couldn't open the Find a tip window (Slack timed out). Please try again."
NO_MESSAGE_WORDS = (
    "That message has no words I can coach on (only files, images or emoji?). "
    "Describe the situation with `{command}` instead."
)
GONE_TIP = "That tip is no longer in the library (the tips were updated). Please search again."


def cleaned(text: str) -> str:
    """The text as the coach reads it: normalised, control and zero-width characters gone,
    cut at :data:`retrieval.engine.MAX_QUERY_CHARS`."""
    from retrieval.engine import clean_query  # lazily, like every bot use of the engine

    return clean_query(text)


def has_words(text: str) -> bool:
    """Anything the coach could read (not only emoji, punctuation or invisible characters)."""
    return any(ch.isalnum() for ch in cleaned(EMOJI_CODE.sub(" ", text)))


# -- opening the modal --------------------------------------------------------------------


def open_find_modal(
    deps: Deps, client: WebClient, *, trigger_id: str | None, where: ReplyTarget
) -> bool:
    """Open the modal; if Slack refuses (the trigger expires 3 s after the click), say so."""
    try:
        if not trigger_id:
            raise ValueError("no trigger_id")
        client.views_open(trigger_id=trigger_id, view=find_view.find_modal())
        return True
    except (SlackApiError, SlackClientError, ValueError) as exc:
        deps.logger.warning(
            "find modal not opened", extra=log_fields(error_type=type(exc).__name__)
        )
    deliver(deps, client, where, render.notice_message(MODAL_FAILED, emoji=":warning:"))
    return False


def _dm_target(body: dict[str, Any], context: BoltContext) -> ReplyTarget:
    """The rep's DM with the app (a user id as channel): where modal answers go."""
    user = (body.get("user") or {}).get("id") or context.user_id
    team = (body.get("team") or {}).get("id") or context.team_id
    return ReplyTarget(channel=user, user_id=user, team_id=team)


def handle_find_shortcut(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, *, deps: Deps
) -> None:
    """The global shortcut: open the modal (from the work pool, like every Slack call)."""
    ack()
    where = _dm_target(body, context)
    trigger_id = body.get("trigger_id")
    deps.run_later(
        "find_modal", lambda: open_find_modal(deps, client, trigger_id=trigger_id, where=where)
    )


def handle_find_button(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, *, deps: Deps
) -> None:
    """The App Home's "Find a tip" button opens the same modal."""
    handle_find_shortcut(ack, body, client, context, deps=deps)


# -- the type-ahead menu --------------------------------------------------------------------


def suggestions(deps: Deps, typed: str) -> list[dict[str, Any]]:
    """Menu options for what the rep typed so far; none (never an error) when the coach is
    not ready or fails: the rep can still describe the situation."""
    try:
        coach = deps.coach.get(min(OPTIONS_COACH_WAIT, deps.coach_wait_seconds))
        completions = coach.suggest(typed[:MAX_TYPED], find_view.SHOWN_OPTIONS)
    except CoachError as exc:
        deps.logger.info("no suggestions", extra=log_fields(error_type=type(exc).__name__))
        return []
    except Exception as exc:
        deps.logger.exception("suggest failed", extra=log_fields(error_type=type(exc).__name__))
        return []
    return find_view.find_options(completions)


def handle_find_options(ack: Ack, body: dict[str, Any], *, deps: Deps) -> None:
    """Answer the menu's options request in the ack itself (Slack shows what it carries)."""
    typed = body.get("value")
    options = suggestions(deps, typed if isinstance(typed, str) else "")
    deps.logger.debug(
        "find options", extra=log_fields(typed_chars=len(str(typed or "")), n=len(options))
    )
    ack(options=options)


# -- submitting the modal ---------------------------------------------------------------------


def submitted(view: dict[str, Any]) -> tuple[str, str, str]:
    """(picked tip id, the picked line, the typed description) from a submitted modal."""
    values = (view.get("state") or {}).get("values") or {}
    pick = (values.get(find_view.FIND_PICK_BLOCK) or {}).get(find_view.FIND_PICK_ACTION) or {}
    option = pick.get("selected_option") or {}
    value = option.get("value") if isinstance(option, dict) else None
    label = ((option.get("text") or {}) if isinstance(option, dict) else {}).get("text")
    typed = (values.get(find_view.FIND_TEXT_BLOCK) or {}).get(find_view.FIND_TEXT_ACTION) or {}
    text = typed.get("value") if isinstance(typed, dict) else None
    tip_id = find_view.picked_tip(value) if isinstance(value, str) else ""
    line = label.rstrip("…").strip() if isinstance(label, str) else ""
    return tip_id, line, text.strip() if isinstance(text, str) else ""


def problem_with(tip_id: str, line: str, text: str) -> dict[str, str] | None:
    """The modal's inline errors for a submission that cannot be looked up, else None."""
    if tip_id and line:
        return None
    if not text:
        return {find_view.FIND_PICK_BLOCK: PICK_OR_DESCRIBE}
    if len(text) > find_view.MAX_FIND_TEXT:
        return {find_view.FIND_TEXT_BLOCK: TOO_LONG}
    if not has_words(text):
        return {find_view.FIND_TEXT_BLOCK: NO_WORDS}
    return None


def answer_pick(
    deps: Deps, *, tip_id: str, line: str, team_id: str | None, user_id: str | None
) -> Message:
    """The card for a picked line: that tip, its steps chosen for the line, logged like a
    lookup of the line (answered: the rep chose it). Never raises."""
    started = deps.clock()
    error: str | None = None
    logged: Answer | None = None
    try:
        coach = deps.coach.get(deps.coach_wait_seconds)
        answer = coach.answer(line, k=3)
        tip = next((t for t in answer.tips if t.id == tip_id), None) or coach.tip_card(tip_id)
        others = tuple(t for t in answer.tips if t.id != tip_id)
        logged = replace(
            answer, answered=True, tier="confident", off_topic=False, tips=(tip, *others)[:3]
        )
    except UnknownTip as exc:
        error, message = f"UnknownTip: {exc}", render.notice_message(GONE_TIP, emoji=":warning:")
    except CoachError as exc:
        error, message = (
            f"{type(exc).__name__}: {exc}",
            render.notice_message(str(exc), emoji=":warning:"),
        )
    except Exception as exc:
        error = type(exc).__name__
        deps.logger.exception("find pick failed", extra=log_fields(error_type=error))
        message = render.notice_message(UNEXPECTED, emoji=":warning:")
    latency_ms = (deps.clock() - started) * 1000.0
    query_id = log_query(
        deps,
        text=line,
        surface="modal",
        team_id=team_id,
        user_id=user_id,
        answer=logged,
        latency_ms=latency_ms,
        error=error,
    )
    deps.logger.info(
        "lookup",
        extra=log_fields(
            surface="modal",
            team_id=team_id,
            picked=True,
            tip_id=tip_id,
            query_id=query_id,
            latency_ms=round(latency_ms, 1),
            error=error,
        ),
    )
    if logged is None:
        return message
    card = render.play_card(logged.tips[0], query=line, query_id=query_id)
    return find_view.about_message(card, line, lead="You picked")


def answer_find(
    deps: Deps, client: WebClient, where: ReplyTarget, tip_id: str, line: str, text: str
) -> None:
    """A picked line wins over a description (the rep chose it from the list)."""
    if tip_id and line:
        message = answer_pick(
            deps, tip_id=tip_id, line=line, team_id=where.team_id, user_id=where.user_id
        )
    else:
        result = lookup(
            deps, text=text, surface="modal", team_id=where.team_id, user_id=where.user_id
        )
        message = find_view.about_message(result.message, text, lead="You asked")
    deliver(deps, client, where, message)


def handle_find_submission(
    ack: Ack,
    body: dict[str, Any],
    view: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    *,
    deps: Deps,
) -> None:
    """Inline errors keep the modal open; otherwise it says where the answer went, and
    the answer follows in the rep's DM with the app."""
    tip_id, line, text = submitted(view)
    errors = problem_with(tip_id, line, text)
    if errors is not None:
        ack(response_action="errors", errors=errors)
        return
    ack(response_action="update", view=find_view.find_sent_modal())
    where = _dm_target(body, context)
    answer_after_ack(
        deps,
        "find",
        lambda: answer_find(deps, client, where, tip_id, line, text),
        client=client,
        where=where,
        context=context,
    )


# -- "Coach me on this" -------------------------------------------------------------------------


def message_words(message: dict[str, Any]) -> str:
    """A message's own words: its text, else what its attachments and blocks say (a bot's
    or an integration's message may carry no ``text``)."""
    text = message.get("text")
    if isinstance(text, str) and text.strip():
        return text
    parts: list[str] = []
    for attachment in message.get("attachments") or []:
        if isinstance(attachment, dict):
            for key in ("pretext", "title", "text", "fallback"):
                value = attachment.get(key)
                if isinstance(value, str) and value.strip():
                    parts.append(value)
                    break
    for block in message.get("blocks") or []:
        parts.extend(_block_texts(block))
    return "\n".join(parts)


def _block_texts(node: Any) -> list[str]:
    """Every ``text`` string inside a block (sections, rich text, fields...)."""
    if isinstance(node, list):
        return [t for item in node for t in _block_texts(item)]
    if not isinstance(node, dict):
        return []
    found: list[str] = []
    for key, value in node.items():
        if key == "text" and isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict | list):
            found.extend(_block_texts(value))
    return found


def coach_on_message(deps: Deps, client: WebClient, where: ReplyTarget, words: str) -> Message:
    """Look the message's words up and answer the rep privately, saying what it was about."""
    if not has_words(words):
        note = NO_MESSAGE_WORDS.format(command=deps.settings.slash_command)
        message = render.notice_message(note)
    else:
        result = lookup(
            deps,
            text=words,
            surface="shortcut",
            team_id=where.team_id,
            user_id=where.user_id,
            shareable=True,
        )
        cut = len(cleaned(words)) < len(" ".join(words.split()))
        message = find_view.about_message(result.message, words, cut=cut)
    deliver(deps, client, where, message)
    return message


def handle_coach_on_message(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, *, deps: Deps
) -> None:
    """Ack at once; the answer goes privately to the rep, in the message's channel."""
    ack()
    message = body.get("message")
    words = plain_text(
        message_words(message) if isinstance(message, dict) else "",
        bot_user_id=context.bot_user_id,
    )
    channel = (body.get("channel") or {}).get("id") or context.channel_id
    user = (body.get("user") or {}).get("id") or context.user_id
    where = ReplyTarget(
        channel=channel,
        user_id=user,
        team_id=(body.get("team") or {}).get("id") or context.team_id,
        response_url=body.get("response_url"),
        ephemeral=True,
    )
    answer_after_ack(
        deps,
        "coach_on_message",
        lambda: coach_on_message(deps, client, where, words),
        client=client,
        where=where,
        context=context,
    )


def register(app: App, deps: Deps) -> None:
    app.shortcut(FIND_SHORTCUT)(with_deps(handle_find_shortcut, deps))
    app.action(render.ACTION_FIND_TIP)(with_deps(handle_find_button, deps))
    app.options(find_view.FIND_PICK_ACTION)(with_deps(handle_find_options, deps))
    app.view(find_view.FIND_MODAL_ID)(with_deps(handle_find_submission, deps))
    app.shortcut(MESSAGE_SHORTCUT)(with_deps(handle_coach_on_message, deps))
