"""Block Kit for "Find a tip" (the modal with a type-ahead menu) and "Coach me on this"
(a note saying which message a private answer is about).

Slack's limits kept here: a menu answers with at most 100 options, each label at most 75
characters and each value at most 150; a modal's title, submit and close at most 24.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.render.blocks import Message, clip, echo, fit_blocks
from retrieval.models import Completion

FIND_MODAL_ID = "coach_find_modal"
FIND_PICK_BLOCK = "coach_find_pick"
FIND_PICK_ACTION = "coach_find_pick"  # the menu's options requests carry this action_id
FIND_TEXT_BLOCK = "coach_find_text"
FIND_TEXT_ACTION = "text"

MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
#: Options shown at once: enough to scan, few enough to read.
SHOWN_OPTIONS = 20
#: The typed description the modal accepts (the coach reads at most 2000 characters).
MAX_FIND_TEXT = 1000
#: Characters typed before Slack asks for options.
MIN_QUERY_LENGTH = 2
#: How much of a message "Coach me on this" quotes back to the rep.
MAX_ABOUT_ECHO = 200
#: Between a tip id and the option's number in a value (options' values must differ).
VALUE_SEP = "#"


def option_label(text: str) -> str:
    """A menu label: one line, at most 75 characters, cut at a word."""
    flat = " ".join(text.split())
    if len(flat) <= MAX_OPTION_TEXT:
        return flat
    cut = flat[: MAX_OPTION_TEXT - 1].rsplit(" ", 1)[0] or flat[: MAX_OPTION_TEXT - 1]
    return cut.rstrip(",;:–- ") + "…"


def find_options(completions: Sequence[Completion]) -> list[dict[str, Any]]:
    """The menu's options: the line as its label, ``<tip id>#<n>`` as its value (values must
    be unique, and several lines may lead to the same tip)."""
    options: list[dict[str, Any]] = []
    for completion in completions:
        value = f"{completion.tip_id}{VALUE_SEP}{len(options)}"
        label = option_label(completion.label)
        if not label or len(value) > MAX_OPTION_VALUE:
            continue
        options.append({"text": {"type": "plain_text", "text": label}, "value": value})
        if len(options) >= MAX_OPTIONS:
            break
    return options


def picked_tip(value: str) -> str:
    """The tip id an option's value leads to ("" when it is not one of ours)."""
    tip_id, sep, number = value.rpartition(VALUE_SEP)
    return tip_id if sep and number.isdigit() else ""


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def find_modal() -> dict[str, Any]:
    """Pick a situation as you type (typos are fine), or describe it; the answer is private."""
    return {
        "type": "modal",
        "callback_id": FIND_MODAL_ID,
        "title": _plain("Find a tip"),
        "submit": _plain("Find tip"),
        "close": _plain("Cancel"),
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "Start typing the situation and pick the closest one, "
                    "or describe it in your own words.",
                },
            },
            {
                "type": "input",
                "block_id": FIND_PICK_BLOCK,
                "optional": True,
                "label": _plain("Situation"),
                "element": {
                    "type": "external_select",
                    "action_id": FIND_PICK_ACTION,
                    "placeholder": _plain("e.g. supervisor, late refund, angry caller"),
                    "min_query_length": MIN_QUERY_LENGTH,
                },
            },
            {
                "type": "input",
                "block_id": FIND_TEXT_BLOCK,
                "optional": True,
                "label": _plain("…or describe it"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": FIND_TEXT_ACTION,
                    "multiline": True,
                    "max_length": MAX_FIND_TEXT,
                    "placeholder": _plain("What does the customer say or want?"),
                },
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": ":lock: Only you see the answer: I send it to your messages "
                        "with Tip Coach. A picked situation wins over a description.",
                    }
                ],
            },
        ],
    }


def find_sent_modal() -> dict[str, Any]:
    """What the modal turns into on submit: where the answer went."""
    return {
        "type": "modal",
        "callback_id": f"{FIND_MODAL_ID}_sent",
        "title": _plain("Find a tip"),
        "close": _plain("Done"),
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": ":mailbox_with_mail: On its way: the tip is in your messages "
                    "with Tip Coach (only you see it).",
                },
            }
        ],
    }


def about_message(
    message: Message, words: str, *, cut: bool = False, lead: str = "About the message"
) -> Message:
    """A private answer headed by the words it is about (escaped), so a card read later in
    a DM, or under a customer's message, says what it answers."""
    about = f":speech_balloon: {lead}: “{echo(words, MAX_ABOUT_ECHO)}”"
    if cut:
        about += " _(I read its beginning: it is very long.)_"
    note = {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(about, 2000)}]}
    has_actions = bool(message.blocks) and message.blocks[-1].get("type") == "actions"
    blocks = fit_blocks([note, *message.blocks], keep_tail=1 if has_actions else 0)
    return Message(text=message.text, blocks=blocks)
