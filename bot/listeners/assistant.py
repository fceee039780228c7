"""The AI side panel (Slack's assistant container, bolt's ``Assistant``): a greeting with
this week's most asked situations as suggested prompts, then every message answered in
its thread with the same card a DM gets.

Bolt's ``Assistant`` takes every threaded DM message, and a workspace whose app has no
assistant feature (or an old install without ``assistant:write``) still has DM threads.
Slack itself says which is which: when it refuses ``assistant.threads.setStatus``, the
message is answered exactly as :mod:`bot.listeners.dm` would (👀, surface ``dm``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt import App, Assistant, BoltContext
from slack_bolt.context.set_status import SetStatus
from slack_bolt.context.set_suggested_prompts import SetSuggestedPrompts
from slack_bolt.context.set_title import SetTitle
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot import render
from bot.delivery import ReplyTarget, deliver
from bot.deps import Deps
from bot.listeners.common import (
    answer_after_ack,
    answer_event,
    claim_event_once,
    with_deps,
)
from bot.listeners.dm import is_rep_message
from bot.logs import log_fields
from bot.privacy import MIN_ASKERS, redact, visible
from bot.render.text import shorten
from bot.slack_text import plain_text
from retrieval.models import Tip

STATUS = "is looking for the right tip…"
#: Slack shows at most four suggested prompts.
MAX_PROMPTS = 4
#: Fewer of this week's situations than this, and the fixed list is offered instead.
MIN_WEEK_PROMPTS = 3
#: The period "this week's most asked" covers.
WEEK = timedelta(days=7)
MAX_PROMPT_TITLE = 60
MAX_PROMPT_MESSAGE = 300
MAX_THREAD_TITLE = 60
WEEK_TITLE = "Asked most this week"
COMMON_TITLE = "Common situations"

#: Situations reps meet often, in their words, each answered with confidence by a tip.
COMMON_SITUATIONS = (
    "Customer wants a supervisor who isn't here",
    "Caller is angry about a late refund",
    "I have to say no to what the customer asked for",
    "Customer says we made a mistake on their bill",
)


@dataclass(frozen=True)
class Prompt:
    """One suggested prompt: a short ``title`` on the button, the ``message`` it sends."""

    title: str
    message: str

    def to_slack(self) -> dict[str, str]:
        return {"title": self.title, "message": self.message}


def markup_free(text: str) -> str:
    """One line without ``<``/``>``: a prompt is sent back as the rep's own message, and a
    title is shown as is, so nothing in them may read as a mention or a link."""
    return " ".join(visible(text).replace("<", " ").replace(">", " ").split())


def prompt_for(text: str) -> Prompt:
    """A prompt reading like a sentence (reps type in lower case), short enough for a button."""
    clean = markup_free(text)
    clean = clean[:1].upper() + clean[1:]
    return Prompt(shorten(clean, MAX_PROMPT_TITLE), shorten(clean, MAX_PROMPT_MESSAGE))


COMMON_PROMPTS = tuple(prompt_for(text) for text in COMMON_SITUATIONS)


def week_prompts(deps: Deps, team_id: str, now: datetime) -> list[Prompt]:
    """This workspace's most asked situations of the last 7 days, in nobody's words.

    A tip counts only when at least :data:`MIN_ASKERS` different people were answered with
    it this week, and it is offered as one of the tip's own situation lines, never as what
    a rep typed: one rep's question, or a customer's name in it, must not reach another.
    """
    asked = deps.store.asked_tips(
        team_id=team_id, since=now - WEEK, min_askers=MIN_ASKERS, limit=MAX_PROMPTS * 2
    )
    if len(asked) < MIN_WEEK_PROMPTS:  # not worth loading the tips
        return []
    tips = {tip.id: tip for tip in deps.coach.get(0).tips()}
    lines = (situation_line(tips.get(item.tip_id)) for item in asked)
    return [prompt_for(line) for line in lines if line][:MAX_PROMPTS]


def situation_line(tip: Tip | None) -> str:
    """The tip's first situation short enough for a button (else its first): a rep's
    situation in the tip's own words. "" for a tip no longer in the index or without any."""
    if tip is None or not tip.situations:
        return ""
    fitting = [line for line in tip.situations if len(line) <= MAX_PROMPT_TITLE]
    return (fitting or list(tip.situations))[0]


def suggested_prompts(
    deps: Deps, team_id: str | None, now: datetime | None = None
) -> tuple[str, list[Prompt]]:
    """(list title, prompts): the week's when there are enough, else the common ones.

    Never another workspace's text: without a team id there is no "this workspace", and a
    database problem only costs the week's list.
    """
    if team_id:
        try:
            prompts = week_prompts(deps, team_id, now or datetime.now(UTC))
        except Exception as exc:  # database or coach away: the common list still helps
            deps.logger.warning(
                "assistant: this week's situations unavailable",
                extra=log_fields(error_type=type(exc).__name__, team_id=team_id),
            )
            prompts = []
        if len(prompts) >= MIN_WEEK_PROMPTS:
            return WEEK_TITLE, prompts
    return COMMON_TITLE, list(COMMON_PROMPTS)


def thread_title(text: str) -> str:
    """The thread's name in the rep's history: the situation's first words, redacted."""
    return shorten(markup_free(redact(text)), MAX_THREAD_TITLE)


def handle_thread_started(
    body: dict[str, Any],
    event: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    set_suggested_prompts: SetSuggestedPrompts,
    *,
    deps: Deps,
) -> None:
    """Greet the rep and offer prompts (after the ack: the prompts read the query log)."""
    thread = event.get("assistant_thread") or {}
    where = ReplyTarget(
        channel=thread.get("channel_id"),
        user_id=thread.get("user_id"),
        team_id=context.team_id,
        thread_ts=thread.get("thread_ts"),
    )

    def greet() -> None:
        if not claim_event_once(deps, body):
            return
        deliver(deps, client, where, render.assistant_greeting())
        title, prompts = suggested_prompts(deps, where.team_id)
        try:
            set_suggested_prompts(prompts=[p.to_slack() for p in prompts], title=title)
        except (SlackApiError, SlackClientError) as exc:  # the greeting already says what to do
            deps.logger.warning(
                "assistant: suggested prompts refused", extra=log_fields(error=_slack_error(exc))
            )

    answer_after_ack(deps, "assistant_greeting", greet, client=client, where=where)


def handle_user_message(
    body: dict[str, Any],
    event: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    set_status: SetStatus,
    set_title: SetTitle,
    *,
    deps: Deps,
) -> None:
    """Status while looking, the card in the thread, the thread named after the situation."""
    if not is_rep_message(event):
        return
    text = plain_text(event.get("text"), bot_user_id=context.bot_user_id)
    where = ReplyTarget(
        channel=event.get("channel"),
        user_id=event.get("user"),
        team_id=context.team_id,
        thread_ts=event.get("thread_ts"),
    )

    def answer() -> None:
        if not claim_event_once(deps, body):
            return
        if not show_status(deps, set_status):
            answer_event(
                deps, client, text=text, surface="dm", where=where, react_ts=event.get("ts")
            )
            return
        result = answer_event(deps, client, text=text, surface="assistant", where=where)
        if result.answer is not None:  # a situation, not "hi": name the thread after it
            name_thread(deps, set_title, text)

    answer_after_ack(deps, "assistant", answer, client=client, where=where)


def show_status(deps: Deps, set_status: SetStatus) -> bool:
    """Show "is looking for the right tip…"; False when Slack says this is no assistant thread."""
    try:
        set_status(STATUS)
        return True
    except (SlackApiError, SlackClientError) as exc:
        deps.logger.info(
            "assistant: no status for this thread; answered as a DM",
            extra=log_fields(error=_slack_error(exc)),
        )
        return False


def name_thread(deps: Deps, set_title: SetTitle, text: str) -> None:
    """A title is a nicety: failing to set one is logged, the rep already has the card."""
    title = thread_title(text)
    if not title:
        return
    try:
        set_title(title)
    except (SlackApiError, SlackClientError) as exc:
        deps.logger.warning(
            "assistant: thread title refused", extra=log_fields(error=_slack_error(exc))
        )


def handle_context_changed(body: dict[str, Any]) -> None:
    """The rep opened another channel with the panel open. Answers depend only on what
    they type, so nothing is kept (bolt's default would write the channel into the thread)."""


def _slack_error(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or "unknown_error")
    return type(exc).__name__


def build_assistant(deps: Deps) -> Assistant:
    """The side panel's listeners, each a named callback with ``deps`` bound."""
    assistant = Assistant()
    assistant.thread_started(with_deps(handle_thread_started, deps))
    assistant.user_message(with_deps(handle_user_message, deps))
    assistant.thread_context_changed(handle_context_changed)
    return assistant


def register(app: App, deps: Deps) -> None:
    app.assistant(build_assistant(deps))
