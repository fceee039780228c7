"""Block Kit for feedback that teaches: the vote shown on the card, the leads channel's
question and its relayed answer, the "Attach a tip" modal and App Home's teaching part.

Pure functions like :mod:`bot.render.blocks` (whose escaping and limits they reuse): a rep's
or a lead's words are always escaped, so nobody can be pinged through the bot.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.render.blocks import (
    ACTION_ASK_LEAD,
    ACTION_FEEDBACK_DOWN,
    ACTION_FEEDBACK_UP,
    MAX_BLOCKS,
    MAX_SECTION_TEXT,
    Message,
    _button,
    _context,
    _sections,
    ask_lead_button,
    clip,
    echo,
    escape,
    mention,
    slack_date,
)

ACTION_ATTACH_TIP = "coach_attach_tip"
ACTION_REMOVE_LEARNED = "coach_remove_learned"
ATTACH_MODAL_ID = "coach_attach_modal"
ATTACH_TEXT_BLOCK_ID = "coach_attach_text"
ATTACH_TEXT_INPUT_ID = "text"
ATTACH_TIP_BLOCK_ID = "coach_attach_tip_choice"
ATTACH_TIP_INPUT_ID = "tip"
VOTE_BLOCK_ID = "coach_vote"
MAX_SELECT_OPTIONS = 100  # Slack's limit for a static_select
MAX_OPTION_TEXT = 75
HOME_TEACHABLE = 8
HOME_LEARNED = 15

VOTED_UP = ":thumbsup: You found this helpful."
VOTED_DOWN = ":thumbsdown: You found this not helpful. Thanks: it tells us what to write next."
LEARNED_NOTE = "Saved for your workspace: I'll answer this question with this tip."
SOURCES = {
    "lead": "attached by a lead",
    "home": "attached in App Home",
    "confirmed": "confirmed by a lead's :thumbsup:",
    "cli": "added on the command line",
}


@dataclass(frozen=True)
class TeachableItem:
    """A recent question answered badly: declined, or a 👎 (``text`` already redacted)."""

    query_id: int
    text: str
    when: datetime
    outcome: str  # "declined" or the title of the tip that got a 👎


@dataclass(frozen=True)
class LearnedItem:
    """One learned situation as App Home lists it (``text`` already redacted)."""

    id: int
    text: str
    tip_title: str
    source: str
    created_by: str | None
    when: datetime


def small_value(**fields: Any) -> str:
    """A compact JSON button value for the buttons below (ids only: no rep text)."""
    return json.dumps(fields, separators=(",", ":"))


# -- the card shows the rep's vote -------------------------------------------------------------


def with_vote(
    blocks: Sequence[dict[str, Any]],
    *,
    helpful: bool,
    learned: bool = False,
    ask_lead: str | None = None,
) -> list[dict[str, Any]]:
    """The card with the rep's vote on it: the clicked thumb styled ``primary``, a line
    saying what they chose just above the buttons, and after a 👎 "Ask a lead" (``ask_lead``
    is that button's value). Clicking again re-renders from these blocks, so every part
    is replaced, never added twice."""
    result = [copy.deepcopy(b) for b in blocks if b.get("block_id") != VOTE_BLOCK_ID]
    at = next(
        (
            i
            for i, block in enumerate(result)
            if block.get("type") == "actions"
            and any(
                e.get("action_id") in {ACTION_FEEDBACK_UP, ACTION_FEEDBACK_DOWN}
                for e in block.get("elements") or []
            )
        ),
        None,
    )
    if at is None:
        return result
    elements = [e for e in result[at]["elements"] if e.get("action_id") != ACTION_ASK_LEAD]
    for element in elements:
        chosen = element.get("action_id") == (
            ACTION_FEEDBACK_UP if helpful else ACTION_FEEDBACK_DOWN
        )
        if element.get("action_id") in {ACTION_FEEDBACK_UP, ACTION_FEEDBACK_DOWN}:
            if chosen:
                element["style"] = "primary"
            else:
                element.pop("style", None)
    if not helpful and ask_lead is not None:
        lead = ask_lead_button(None)
        lead["value"] = ask_lead
        elements.append(lead)
    result[at] = {**result[at], "elements": elements}
    line = VOTED_UP if helpful else VOTED_DOWN
    if learned:
        line += f" {LEARNED_NOTE}"
    vote = {**_context(line), "block_id": VOTE_BLOCK_ID}
    result.insert(at, vote)
    if len(result) > MAX_BLOCKS:  # drop card body (never the vote or the buttons)
        del result[at - (len(result) - MAX_BLOCKS) : at]
    return result


# -- the leads channel -----------------------------------------------------------------------


def lead_request_message(
    *, question: str, rep_user_id: str, request_id: int, nearest: str | None = None
) -> Message:
    """The leads channel's post: who asked what; a threaded reply goes back to the rep."""
    quoted = echo(question, 1500) or "(no text)"
    blocks: list[dict[str, Any]] = _sections(
        f":raising_hand: {mention(rep_user_id)} asked Tip Coach and needs a lead:\n> {quoted}"
    )
    if nearest:
        blocks.append(_context(f"Nearest tip I had: *{escape(' '.join(nearest.split()))}*"))
    blocks.append(
        {
            "type": "actions",
            "block_id": "coach_lead_request",
            "elements": [
                _button(
                    "Attach a tip",
                    ACTION_ATTACH_TIP,
                    small_value(lead_request=request_id),
                    style="primary",
                )
            ],
        }
    )
    blocks.append(
        _context(
            f":speech_balloon: Reply in this thread and I'll DM it to {mention(rep_user_id)}. "
            "*Attach a tip* teaches me to answer this question myself next time."
        )
    )
    return Message(text=clip(f"A rep needs a lead: {escape(question)}", 3000), blocks=blocks)


def lead_request_done(original: Message, *, lead_user_id: str | None, tip_title: str) -> Message:
    """The leads channel's post once a tip was attached (the button stays for another)."""
    done = _context(
        f":white_check_mark: {mention(lead_user_id)} attached *{escape(tip_title)}*: "
        "I'll answer this myself from now on."
    )
    return Message(text=original.text, blocks=[*original.blocks, done])


def lead_reply_message(*, reply: str, lead_user_id: str | None, question: str) -> Message:
    """A lead's threaded answer, relayed to the rep who asked."""
    asked = echo(question, 300)
    answer = clip(escape(reply.strip()), MAX_SECTION_TEXT - 200) or "(no text)"
    blocks = [
        *_sections(f":speech_balloon: {mention(lead_user_id)} answered your question:\n{answer}"),
        _context(f"You asked: “{asked}”"),
    ]
    return Message(text=clip(f"A lead answered: {escape(reply)}", 3000), blocks=blocks)


def lead_sent_message(channel: str) -> Message:
    """What the rep sees after "Ask a lead"."""
    text = (
        f":raising_hand: Sent to your leads in <#{channel}>. I'll DM you their answer here; "
        "next time I'll know this one myself."
    )
    return Message(text="Sent to your leads.", blocks=_sections(text))


def learned_message(*, question: str, tip_title: str, lead_user_id: str | None) -> Message:
    """Tell the rep a lead attached a tip to their question."""
    text = (
        f":mortar_board: {mention(lead_user_id)} attached *{escape(tip_title)}* to your "
        f"question “{echo(question, 300)}”. Ask me again any time."
    )
    return Message(text=clip(f"A lead attached {escape(tip_title)}", 3000), blocks=_sections(text))


# -- the "Attach a tip" modal ----------------------------------------------------------------


def attach_modal(
    tips: Sequence[tuple[str, str]],
    *,
    question: str,
    metadata: dict[str, Any],
    initial_tip: str | None = None,
) -> dict[str, Any]:
    """Pick the tip that answers ``question`` (editable: a lead may word it as reps would).

    ``tips`` are (id, title) pairs; ``metadata`` comes back on submit (which request or
    logged question this is for).
    """
    options = [
        {
            "text": {"type": "plain_text", "text": clip(" ".join(title.split()), MAX_OPTION_TEXT)},
            "value": tip_id,
        }
        for tip_id, title in tips[:MAX_SELECT_OPTIONS]
    ]
    select: dict[str, Any] = {
        "type": "static_select",
        "action_id": ATTACH_TIP_INPUT_ID,
        "placeholder": {"type": "plain_text", "text": "Choose the tip"},
        "options": options,
    }
    initial = next((o for o in options if o["value"] == initial_tip), None)
    if initial is not None:
        select["initial_option"] = initial
    return {
        "type": "modal",
        "callback_id": ATTACH_MODAL_ID,
        "private_metadata": json.dumps(metadata, separators=(",", ":")),
        "title": {"type": "plain_text", "text": "Attach a tip"},
        "submit": {"type": "plain_text", "text": "Attach"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            *_sections(
                "Reps in this workspace who ask this (or something like it) will get the tip "
                "you choose."
            ),
            {
                "type": "input",
                "block_id": ATTACH_TEXT_BLOCK_ID,
                "label": {"type": "plain_text", "text": "The situation, as a rep says it"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": ATTACH_TEXT_INPUT_ID,
                    "initial_value": clip(" ".join(question.split()), 1000, ""),
                    "max_length": 1000,
                },
            },
            {
                "type": "input",
                "block_id": ATTACH_TIP_BLOCK_ID,
                "label": {"type": "plain_text", "text": "The tip that answers it"},
                "element": select,
            },
        ],
    }


# -- App Home (admins) -----------------------------------------------------------------------


def _home_header(title: str) -> list[dict[str, Any]]:
    return [
        {"type": "divider"},
        {"type": "header", "text": {"type": "plain_text", "text": title, "emoji": True}},
    ]


def teachable_line(item: TeachableItem) -> str:
    outcome = (
        "sent to the leads · no confident answer"
        if item.outcome == "declined"
        else f"sent to the leads after _{escape(' '.join(item.outcome.split()))}_"
    )
    return f"“{echo(item.text, 200)}”\n{outcome} · {slack_date(item.when)}"


def learned_line(item: LearnedItem) -> str:
    source = SOURCES.get(item.source, escape(item.source))
    by = f" · {mention(item.created_by)}" if item.created_by else ""
    return (
        f"“{echo(item.text, 200)}” → *{escape(' '.join(item.tip_title.split()))}*\n"
        f"_{source}_{by} · {slack_date(item.when)}"
    )


def home_teach_blocks(
    teachable: Sequence[TeachableItem] | None, learned: Sequence[LearnedItem] | None
) -> list[dict[str, Any]]:
    """Admins' App Home: questions to teach (each with "Attach a tip") and the workspace's
    learned situations (each with "Remove"); ``None`` parts could not be read."""
    blocks = _home_header("Teach Tip Coach")
    if teachable is None:
        blocks += _sections(":warning: Recent questions can't be shown right now.")
    elif not teachable:
        blocks += _sections("No questions sent to the leads in the last 7 days.")
    else:
        blocks += _sections(
            "*Questions reps sent to the leads* (last 7 days): attach the tip that fits."
        )
        for item in teachable[:HOME_TEACHABLE]:
            blocks.append(
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": teachable_line(item)},
                    "accessory": _button(
                        "Attach a tip", ACTION_ATTACH_TIP, small_value(query_id=item.query_id)
                    ),
                }
            )
    if learned is None:
        blocks += _sections(":warning: Learned situations can't be shown right now.")
        return blocks
    blocks += _sections(f"*Learned situations* ({len(learned)})")
    if not learned:
        blocks.append(
            _context("None yet. Attach a tip to a question above, or from the leads channel.")
        )
        return blocks
    for item in learned[:HOME_LEARNED]:
        remove = _button(
            "Remove", ACTION_REMOVE_LEARNED, small_value(learned_id=item.id), style="danger"
        )
        remove["confirm"] = {
            "title": {"type": "plain_text", "text": "Remove this situation?"},
            "text": {"type": "mrkdwn", "text": "Reps asking this get the library's answer again."},
            "confirm": {"type": "plain_text", "text": "Remove"},
            "deny": {"type": "plain_text", "text": "Keep"},
        }
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": learned_line(item)},
                "accessory": remove,
            }
        )
    if len(learned) > HOME_LEARNED:
        blocks.append(
            _context(f"… and {len(learned) - HOME_LEARNED} more: `coach situations list`.")
        )
    return blocks
