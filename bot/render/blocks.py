"""Cards and answers as Block Kit: every Slack surface (and the weekly post) uses these.

What a card shows comes from the card model (:mod:`bot.render.card`); this module only
writes it as Block Kit. Pure functions, no Slack client and no I/O, so every limit and
every escape is unit-tested. Slack rules kept here, once:

* every piece of text that did not come from us is escaped (``&``, ``<``, ``>``), so a rep
  typing ``<!channel>`` or ``<@U123>`` cannot ping anyone, and odd corpus text cannot
  break the markup;
* Block Kit limits (50 blocks, 3000 chars per section, 2000 per button value, 75 per
  button label, 150 per header) are met by *splitting* long text across sections,
  never by silently dropping it;
* every message carries a plain ``text`` fallback for notifications and screen readers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.privacy import redact, visible
from bot.render import text as plain
from bot.render.buttons import ButtonValue
from bot.render.card import (
    EXCERPT_NOTE,
    FROM_PLAY,
    FROM_TIP,
    Card,
    PhraseGroup,
    Step,
    card,
    full_tip,
    nearest,
    preview,
    unsure_tips,
)
from retrieval.models import Answer, TipAnswer

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_CONTEXT_TEXT = 2000  # per context element; kept well below Slack's 3000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_FALLBACK_TEXT = 3000
MAX_ECHO = 300  # how much of a rep's own words we quote back

# action ids (the listeners register these; keep them stable: old messages carry them)
ACTION_FULL_TIP = "coach_full_tip"
ACTION_NEXT_TIP = "coach_next_tip"
ACTION_FEEDBACK_UP = "coach_feedback_up"
ACTION_FEEDBACK_DOWN = "coach_feedback_down"
ACTION_SHARE = "coach_share"
ACTION_HOME_REOPEN = "home_reopen"
ACTION_HOME_REPORT = "home_report"
ACTION_HOME_PREVIEW_WEEKLY = "home_preview_weekly"
ACTION_HOME_REFRESH = "home_refresh"
ACTION_FIND_TIP = "coach_find_tip"  # App Home: open the "Find a tip" modal
ACTION_SUGGESTION = "coach_suggestion"  # + "_<n>": ids must be unique within a block
SUGGESTION_ACTION_RE = re.compile(rf"^{ACTION_SUGGESTION}_\d+$")
#: Buttons a publicly shared card drops: sharing again, and "Next best tip", which would
#: look the rep's own words up again in the channel.
PRIVATE_ACTIONS = frozenset({ACTION_SHARE, ACTION_NEXT_TIP})
FEEDBACK_MODAL_ID = "coach_feedback_modal"
FEEDBACK_BLOCK_ID = "coach_feedback_comment"
FEEDBACK_INPUT_ID = "comment"
ACTION_ASK_LEAD = "coach_ask_lead"
ACTION_FEEDBACK_REASON = "coach_feedback_reason"
FEEDBACK_REASON_BLOCK_ID = "coach_feedback_reason"
#: The one-click reasons after a 👎 (stored as the key; see bot.storage FEEDBACK_REASONS).
FEEDBACK_REASON_LABELS = {
    "wrong_tip": "Wrong tip for this situation",
    "nothing_to_say": "Nothing I can actually say",
    "too_long": "Too long to use on a call",
    "outdated": "Outdated",
}

USER_ID_RE = re.compile(r"^[UW][A-Z0-9]{2,}$")


@dataclass(frozen=True)
class Message:
    """A Slack message: Block Kit blocks plus the plain-text fallback Slack requires."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def to_slack(self) -> dict[str, Any]:
        """Keyword arguments for chat.postMessage / respond / ack."""
        return {"text": self.text, "blocks": self.blocks}


# -- escaping and splitting ------------------------------------------------------------


def escape(text: str) -> str:
    """Escape Slack's three control characters so text is shown, never interpreted."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(user_id: str | None) -> str:
    """``<@U123>`` for a real user id; anything else is shown escaped, never as markup."""
    if user_id and USER_ID_RE.match(user_id):
        return f"<@{user_id}>"
    return escape(user_id or "someone")


def clip(text: str, limit: int, ellipsis: str = "…") -> str:
    """Shorten ``text`` to ``limit`` characters without cutting an ``&amp;`` entity in half."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - len(ellipsis))]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut.rstrip() + ellipsis


def echo(text: str, limit: int = MAX_ECHO) -> str:
    """A rep's own words, redacted, escaped and shortened, for quoting back: a quote may be
    in a channel thread or a screenshot, never with the customer's details in it."""
    flat = " ".join(visible(redact(text)).split())
    return clip(escape(flat), limit)


def _hard_split(line: str, limit: int) -> list[str]:
    """Split one over-long line at spaces (or anywhere, as a last resort) into <= limit pieces."""
    pieces: list[str] = []
    rest = line
    while len(rest) > limit:
        cut = rest.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
            amp = rest.rfind("&", max(0, cut - 8), cut)
            if amp > 0 and ";" not in rest[amp:cut]:
                cut = amp
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip(" ")
    if rest:
        pieces.append(rest)
    return pieces


def split_text(text: str, limit: int = MAX_SECTION_TEXT) -> list[str]:
    """Pack lines greedily into chunks of at most ``limit`` characters; nothing is lost."""
    chunks: list[str] = []
    current = ""
    for raw_line in text.split("\n"):
        for line in _hard_split(raw_line, limit) if len(raw_line) > limit else [raw_line]:
            candidate = f"{current}\n{line}" if current else line
            if len(candidate) <= limit:
                current = candidate
            else:
                if current.strip():
                    chunks.append(current)
                current = line
    if current.strip():
        chunks.append(current)
    return chunks


def _sections(text: str) -> list[dict[str, Any]]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in split_text(text)
    ]


def _context(*texts: str) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": clip(t, MAX_CONTEXT_TEXT)} for t in texts if t][
            :10
        ],
    }


def _header(title: str) -> list[dict[str, Any]]:
    """A header block; a title too long for a header is repeated in full just below it."""
    plain = " ".join(title.split()) or "Tip"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": clip(plain, MAX_HEADER_TEXT), "emoji": True},
        }
    ]
    if len(plain) > MAX_HEADER_TEXT:
        blocks.extend(_sections(f"*{escape(plain)}*"))
    return blocks


def _button(text: str, action_id: str, value: str, *, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {
            "type": "plain_text",
            "text": clip(" ".join(text.split()) or "…", MAX_BUTTON_TEXT),
            "emoji": True,
        },
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def fit_blocks(blocks: list[dict[str, Any]], *, keep_tail: int = 0) -> list[dict[str, Any]]:
    """Stay within 50 blocks. Only absurdly long tips get here; they keep their tail (buttons)."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    tail = blocks[len(blocks) - keep_tail :] if keep_tail else []
    head = blocks[: MAX_BLOCKS - keep_tail - 1]
    note = _context(
        "_This tip is too long for one Slack message; the rest is in the tip's source._"
    )
    return [*head, note, *tail]


# -- the tip itself (shared with the weekly post) -----------------------------------------


def _fallback(words: str) -> str:
    """Slack's ``text`` from :mod:`bot.render.text`'s plain words: escaped, within limits."""
    return clip(escape(words), MAX_FALLBACK_TEXT)


def _italic(label: str) -> str:
    """Who wrote a line is said in italics, beside the heading."""
    return f"_{label}_"


def _step_text(step: Step) -> str:
    """One step as mrkdwn: a play's lead-in kept bold, everything escaped."""
    if step.lead:
        return f"*{escape(step.lead)}*{escape(step.rest)}"
    return escape(step.text)


def step_lines(steps: Sequence[Step]) -> str:
    """Numbered steps with the author's numbers; the one that fits is marked, not moved
    (and bold, unless a bold lead-in already is)."""
    lines = []
    for step in steps:
        body = _step_text(step)
        if step.highlighted:
            shown = body if step.lead else f"*{body}*"
            lines.append(f":point_right: {step.number}. {shown}")
        else:
            lines.append(f"{step.number}. {body}")
    return "\n".join(lines)


def _quoted(phrases: Sequence[str]) -> str:
    """Phrases as block quotes, an empty quote line between them so each reads on its own."""
    return "\n>\n".join(f"> “{escape(phrase)}”" for phrase in phrases)


def meta_line(shown: Card) -> str:
    """Date, categories and the excerpt warning: one context line under the title."""
    parts = []
    if shown.date:
        parts.append(f":date: {shown.date}")
    if shown.categories:
        parts.append(":label: " + ", ".join(escape(c) for c in shown.categories))
    if shown.excerpt:
        parts.append(f":scissors: {EXCERPT_NOTE}")
    return "  ·  ".join(parts)


def source_line(shown: Card) -> str:
    """``Source: …`` and, when the author gave one, a link to the original (the card model
    only passes plain http(s) URLs on)."""
    if not shown.source:
        return ""
    line = f"Source: {escape(shown.source)}"
    return f"{line} · <{shown.url}|read the original>" if shown.url else line


def _footer(shown: Card) -> list[dict[str, Any]]:
    lines = [line for line in (source_line(shown), shown.credit) if line]
    return [_context(*lines)] if lines else []


def _head(shown: Card, *, header: bool = True) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = _header(shown.title) if header else []
    meta = meta_line(shown)
    if meta:
        blocks.append(_context(meta))
    return blocks


def _phrase_sections(groups: Sequence[PhraseGroup]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for group in groups:
        blocks.extend(
            _sections(f"*Say something like* · {_italic(group.label)}\n{_quoted(group.phrases)}")
        )
    return blocks


def tip_blocks(tip: TipAnswer, *, header: bool = True) -> list[dict[str, Any]]:
    """The card: title, date/categories, steps, phrases (each labelled with who wrote them),
    the tip's takeaway or its opening, source and credit. No buttons.

    Built for a rep mid-call: the title, the first step and a phrase come first.
    """
    shown = card(tip)
    blocks = _head(shown, header=header)
    if shown.steps:
        label = _italic(shown.steps_label)
        blocks.extend(_sections(f"*Steps* · {label}\n{step_lines(shown.steps)}"))
    blocks.extend(_phrase_sections(shown.phrase_groups))
    opening = shown.opening
    if shown.takeaway:
        takeaway = f"*Takeaway* · {_italic(FROM_TIP)}: {escape(shown.takeaway)}"
        blocks.extend(_sections(takeaway))
    elif opening:
        blocks.append(_context(f"_{opening.label}:_ {escape(opening.text)}"))
    return [*blocks, *_footer(shown)]


def full_tip_blocks(tip: TipAnswer) -> list[dict[str, Any]]:
    """ "Show full tip": the tip's whole text as published, then the coach's play."""
    full = full_tip(tip)
    blocks = _head(full.card)
    if full.body:
        label = "*From the tip* (excerpt)" if full.card.excerpt else "*From the tip*"
        body = "\n\n".join(
            f"*{escape(p.text)}*" if p.heading else escape(p.text) for p in full.body
        )
        if full.card.excerpt:
            body += " …"
        blocks.extend(_sections(f"{label}\n{body}"))
    play = full.play
    if play is not None:
        blocks.append({"type": "divider"})
        blocks.extend(_sections(f"*{FROM_PLAY}* · _our suggestions, written from this tip_"))
        if play.when:
            blocks.extend(_sections(f"*When to use it:* {escape(play.when)}"))
        if play.steps:
            blocks.extend(_sections(f"*Steps*\n{step_lines(play.steps)}"))
        if play.phrases:
            blocks.extend(_sections(f"*Say something like*\n{_quoted(play.phrases)}"))
        if play.avoid:
            avoid = "\n".join(f"• {escape(line)}" for line in play.avoid)
            blocks.extend(_sections(f"*Avoid saying*\n{avoid}"))
        if play.takeaway:
            blocks.extend(_sections(f"*In one line:* {escape(play.takeaway)}"))
    return [*blocks, *_footer(full.card)]


def tip_fallback(tip: TipAnswer, prefix: str = "") -> str:
    """Notification text: title plus the card's first line (escaped, short)."""
    return _fallback(plain.tip_fallback(card(tip), prefix))


# -- cards --------------------------------------------------------------------------------


def _card_buttons(
    tip: TipAnswer,
    *,
    query_id: int | None,
    query: str | None,
    exclude: Sequence[str],
    shareable: bool,
    full: bool,
) -> dict[str, Any]:
    """A card's buttons. Values name the query-log row, never carry the rep's words (a
    shared card is public); "Next best tip" needs that row, so it is left out when the
    lookup could not be logged."""
    elements = []
    if not full:
        show = ButtonValue(tip_id=tip.id, query_id=query_id).encode()
        elements.append(_button("Show full tip", ACTION_FULL_TIP, show))
    if query and query_id is not None:  # the situation is read back from the query log
        excluded = tuple(dict.fromkeys([*exclude, tip.id]))
        value = ButtonValue(query_id=query_id, exclude=excluded)
        elements.append(_button("Next best tip", ACTION_NEXT_TIP, value.encode()))
    feedback = ButtonValue(tip_id=tip.id, query_id=query_id, chunk_ids=tip.chunk_ids)
    feedback_value = feedback.encode(shrink="chunk_ids")
    elements.append(_button(":thumbsup:", ACTION_FEEDBACK_UP, feedback_value))
    elements.append(_button(":thumbsdown:", ACTION_FEEDBACK_DOWN, feedback_value))
    if shareable:
        share = ButtonValue(tip_id=tip.id, query_id=query_id, full=full, exclude=tuple(exclude))
        elements.append(
            _button(
                "Share with channel",
                ACTION_SHARE,
                share.encode(),
                style="primary",
            )
        )
    return {"type": "actions", "block_id": "coach_card_actions", "elements": elements}


def find_tip_actions() -> dict[str, Any]:
    """The App Home's "Find a tip" button (opens the same modal as the global shortcut)."""
    return {
        "type": "actions",
        "block_id": "coach_find_tip",
        "elements": [_button(":mag: Find a tip", ACTION_FIND_TIP, "find", style="primary")],
    }


def full_tip_actions(tip: TipAnswer) -> dict[str, Any]:
    """A lone "Show full tip" button (the weekly post and App Home, where no one asked)."""
    value = ButtonValue(tip_id=tip.id).encode()
    return {
        "type": "actions",
        "block_id": "coach_full_tip",
        "elements": [_button("Show full tip", ACTION_FULL_TIP, value)],
    }


def play_card(
    tip: TipAnswer,
    *,
    query: str | None,
    query_id: int | None,
    exclude: Sequence[str] = (),
    shareable: bool = False,
    full: bool = False,
    note: str | None = None,
) -> Message:
    """The answer card: the tip plus Show full tip / Next best tip / 👍 / 👎 (/ Share)."""
    blocks = full_tip_blocks(tip) if full else tip_blocks(tip)
    if note:
        blocks.insert(0, _context(note))
    actions = _card_buttons(
        tip, query_id=query_id, query=query, exclude=exclude, shareable=shareable, full=full
    )
    blocks = fit_blocks([*blocks, actions], keep_tail=1)
    return Message(text=tip_fallback(tip), blocks=blocks)


def answer_message(
    answer: Answer,
    *,
    query_id: int | None,
    shareable: bool = False,
    exclude: Sequence[str] = (),
    ask_lead: bool = False,
) -> Message:
    """What a rep sees for a lookup: the play card when sure, a few tips when unsure, or an
    honest decline (with "Ask a lead" when ``ask_lead``: a leads channel is set)."""
    top = answer.top
    if not answer.answered or top is None:
        return low_confidence_message(answer, query_id=query_id, ask_lead=ask_lead)
    if answer.tier == "unsure" and not exclude and len(answer.tips) > 1:
        return unsure_message(answer, query_id=query_id)
    note = "Next best tip" if exclude else None
    return play_card(
        top, query=answer.query, query_id=query_id, exclude=exclude, shareable=shareable, note=note
    )


def full_tip_message(tip: TipAnswer, *, query_id: int | None, shareable: bool = False) -> Message:
    """ "Show full tip": the tip's whole text, then the coach's play."""
    return play_card(tip, query=None, query_id=query_id, shareable=shareable, full=True)


def tip_preview(tip: TipAnswer) -> str:
    """Title, first step and first phrase (labelled by who wrote them): enough to tell
    whether a tip fits."""
    shown = preview(card(tip))
    label = f" · _{shown.origins_label}_" if shown.origins_label else ""
    lines = [f"*{escape(shown.title)}*{label}"]
    if shown.steps:
        lines.append(step_lines(shown.steps))
    if shown.phrase_groups:
        lines.append(_quoted(shown.phrases))
    return "\n".join(lines)


def unsure_message(answer: Answer, *, query_id: int | None) -> Message:
    """Not sure which tip fits: two or three, each with its first step and a phrase."""
    quoted = echo(answer.query)
    about = f" for “{quoted}”" if quoted else ""
    blocks: list[dict[str, Any]] = _sections(
        f":thinking_face: I'm not sure which tip fits{about}. These might help:"
    )
    tips = unsure_tips(answer)
    for n, tip in enumerate(tips):
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": clip(tip_preview(tip), MAX_SECTION_TEXT)},
                "accessory": _button(
                    "Show this tip",
                    f"{ACTION_SUGGESTION}_{n}",
                    ButtonValue(tip_id=tip.id, query_id=query_id).encode(),
                ),
            }
        )
    blocks.append(
        _context(
            ":bulb: Add what the customer said or wants for a surer answer. "
            "Tip Coach's plays are our suggestions, written from each tip."
        )
    )
    titles = [card(tip).title for tip in tips]
    return Message(text=_fallback(plain.unsure_fallback(titles)), blocks=fit_blocks(blocks))


OFF_TOPIC = (
    "doesn't look like a customer situation, so I have no tip for it. I coach on moments "
    "with customers, e.g. _customer wants the supervisor_ or _caller is angry about a late refund_."
)


def ask_lead_value(query_id: int | None, tip_id: str | None = None) -> str:
    """What "Ask a lead" carries: the logged question (its text stays on our side)."""
    return json.dumps({"query_id": query_id, "tip_id": tip_id}, separators=(",", ":"))


def ask_lead_button(query_id: int | None, tip_id: str | None = None) -> dict[str, Any]:
    return _button(":raising_hand: Ask a lead", ACTION_ASK_LEAD, ask_lead_value(query_id, tip_id))


def low_confidence_message(
    answer: Answer, *, query_id: int | None, ask_lead: bool = False
) -> Message:
    """No random tip and no silence: say so; for a customer situation, offer the nearest
    situations the tips are for (never for off-topic questions) and, with ``ask_lead``,
    a lead's help; suggest rephrasing."""
    quoted = echo(answer.query)
    if answer.off_topic:
        what = f"“{quoted}”" if quoted else "That"
        blocks = _sections(f":information_source: {what} {OFF_TOPIC}")
        return Message(text=plain.OFF_TOPIC_FALLBACK, blocks=blocks)
    intro = (
        f"I don't have a tip I'm sure fits “{quoted}”."
        if quoted
        else "I don't have a tip I'm sure fits that."
    )
    blocks: list[dict[str, Any]] = _sections(intro)
    suggestions = nearest(answer)
    if suggestions:
        blocks.extend(_sections("*Is it one of these situations?*"))
        buttons = [
            _button(
                s.label,
                f"{ACTION_SUGGESTION}_{n}",
                ButtonValue(tip_id=s.tip_id, query_id=query_id).encode(),
            )
            for n, s in enumerate(suggestions)
        ]
        blocks.append({"type": "actions", "block_id": "coach_suggestions", "elements": buttons})
    if ask_lead:
        blocks.append(
            {
                "type": "actions",
                "block_id": "coach_ask_lead",
                "elements": [ask_lead_button(query_id)],
            }
        )
    blocks.append(
        _context(
            ":bulb: Try rephrasing with what the customer says or wants, e.g. "
            "_customer wants the supervisor_ or _caller is angry about a late refund_."
        )
    )
    situations = [s.label for s in suggestions]
    return Message(text=_fallback(plain.decline_fallback(situations)), blocks=fit_blocks(blocks))


def shared_message(original: Message, *, user_id: str | None) -> Message:
    """A card shared publicly from an ephemeral answer, credited to the rep who shared it
    (without :data:`PRIVATE_ACTIONS`)."""
    blocks = [b for b in original.blocks if b.get("type") != "actions"]
    kept_actions = []
    for block in original.blocks:
        if block.get("type") == "actions":
            elements = [
                e for e in block.get("elements", []) if e.get("action_id") not in PRIVATE_ACTIONS
            ]
            if elements:
                kept_actions.append({**block, "elements": elements})
    by = mention(user_id)
    blocks = fit_blocks(
        [*blocks, _context(f"Shared by {by}"), *kept_actions], keep_tail=len(kept_actions)
    )
    return Message(text=clip(f"{original.text} (shared by {by})", MAX_FALLBACK_TEXT), blocks=blocks)


def asked_block(text: str) -> dict[str, Any]:
    """The rep's question quoted back, redacted (a screenshot of a private answer must not
    carry the customer's details), escaped and clipped."""
    return _context(f":speech_balloon: You asked: “{echo(text)}”")


def with_question(message: Message, text: str) -> Message:
    """``message`` under the rep's question, so a private answer says what it answers
    (unchanged when it opens by quoting it already: a decline, "not sure which fits")."""
    quoted = echo(text)
    opening = message.blocks[0].get("text", {}) if message.blocks else {}
    if not quoted or f"“{quoted}”" in str(opening.get("text", "")):
        return message
    blocks = [asked_block(text), *message.blocks]
    return Message(text=message.text, blocks=fit_blocks(blocks, keep_tail=1))


def with_heading(message: Message, heading: str) -> Message:
    """``message`` under a short context line (e.g. "Preview of this week's tip")."""
    blocks = [_context(escape(heading)), *message.blocks]
    return Message(text=f"{heading}: {message.text}", blocks=fit_blocks(blocks, keep_tail=1))


def text_blocks(text: str) -> list[dict[str, Any]]:
    """Plain mrkdwn ``text`` as sections within Slack's limits (already escaped)."""
    return fit_blocks(_sections(text))


def assistant_greeting() -> Message:
    """The first message of an AI side-panel thread: what to type (prompts follow it)."""
    body = (
        ":wave: Hi! Tell me what's happening with your customer, in your own words, and I'll "
        "find the tip that fits: steps to take and phrases you can say."
    )
    hint = "Only you see this conversation. Pick a situation below, or type your own."
    return Message(
        text="Hi! Describe a customer situation and I'll find the tip that fits.",
        blocks=[*_sections(body), _context(hint)],
    )


def help_message(slash_command: str = "/coach") -> Message:
    """How to ask: the answer to ``/coach help``, an empty command and an empty mention."""
    cmd = escape(slash_command)
    body = (
        "*Tip Coach* finds the tip for a tricky customer situation, with steps and phrases "
        "you can use.\n\n"
        f"• *Slash command:* `{cmd} customer wants the supervisor` (only you see the answer; "
        "*Share with channel* posts it)\n"
        "• *Direct message:* describe the situation to me in a DM\n"
        "• *In a channel:* mention me, e.g. `@Tip Coach caller is angry about a late refund`; "
        "I answer in a thread and keep answering follow-ups there\n\n"
        "Describe what the customer says or wants, in your own words. "
        "Buttons under each answer show "
        "the full tip, the next best tip, and let you say whether it helped."
    )
    blocks = [*_sections(body), _context(f"`{cmd} help` shows this message.")]
    return Message(
        text="How to use Tip Coach: describe a customer situation and get a tip.", blocks=blocks
    )


def notice_message(text: str, *, emoji: str = ":information_source:") -> Message:
    """A short, friendly one-liner (errors, warnings, thanks); ``text`` is escaped."""
    safe = escape(text)
    return Message(text=clip(safe, MAX_FALLBACK_TEXT), blocks=_sections(f"{emoji} {safe}"))


def feedback_modal(feedback_id: int, *, tip_title: str = "") -> dict[str, Any]:
    """The 👎 modal: what was wrong (optional). ``private_metadata`` carries the feedback id."""
    about = f" about *{escape(clip(' '.join(tip_title.split()), 200))}*" if tip_title else ""
    return {
        "type": "modal",
        "callback_id": FEEDBACK_MODAL_ID,
        "private_metadata": json.dumps({"feedback_id": feedback_id}),
        "title": {"type": "plain_text", "text": "What was wrong?"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Skip"},
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"Thanks — your :thumbsdown:{about} is recorded.",
                },
            },
            {
                "type": "actions",
                "block_id": FEEDBACK_REASON_BLOCK_ID,
                "elements": [
                    {
                        "type": "radio_buttons",
                        "action_id": ACTION_FEEDBACK_REASON,
                        "options": [
                            {"text": {"type": "plain_text", "text": label}, "value": key}
                            for key, label in FEEDBACK_REASON_LABELS.items()
                        ],
                    }
                ],
            },
            {
                "type": "input",
                "block_id": FEEDBACK_BLOCK_ID,
                "optional": True,
                "label": {"type": "plain_text", "text": "What did you need instead? (optional)"},
                "hint": {
                    "type": "plain_text",
                    "text": "Your team's leads see this note in the bot's report, without your name.",
                },
                "element": {
                    "type": "plain_text_input",
                    "action_id": FEEDBACK_INPUT_ID,
                    "multiline": True,
                    "max_length": 2000,
                },
            },
        ],
    }


# -- App Home -------------------------------------------------------------------------

MAX_HOME_BLOCKS = 100  # a Home tab view allows 100 blocks (messages: 50)
MAX_HOME_TIP_BLOCKS = 40  # the week's tip never crowds out the rest of the tab
MAX_RECENT_ECHO = 150
HOME_CALLBACK_ID = "coach_home"
HOME_TIP_HEADER = "Tip of the week"


@dataclass(frozen=True)
class RecentLookup:
    """One of the rep's own lookups as the App Home lists it (``text`` already redacted)."""

    text: str
    when: datetime
    answered: bool
    title: str | None  # the tip that answered, or the nearest one when none did
    query_id: int | None = None  # "Open again" re-runs it (the button names the row only)


@dataclass(frozen=True)
class ChecklistItem:
    """One line of the admins' set-up checklist: done or not, what to do, and a button."""

    done: bool
    text: str
    button: tuple[str, str] | None = None  # (label, action_id)


@dataclass(frozen=True)
class HomeContent:
    """Everything the App Home shows; ``None`` parts could not be read (the tab says so)."""

    slash_command: str = "/coach"
    tip: TipAnswer | None = None
    tip_note: str | None = None  # why this tip, e.g. "Reps asked about this 14 times this week."
    tip_problem: str | None = None  # shown instead of the tip (still loading, no tips...)
    recent: Sequence[RecentLookup] | None = ()
    admin_lines: Sequence[str] | None = None  # only for admins: the short gap report
    admin_period: str = "7 days"
    # only for admins: questions to teach and what the workspace taught (bot.render.teach)
    teachable: Sequence[Any] | None = None
    learned: Sequence[Any] | None = None
    checklist: Sequence[ChecklistItem] | None = None  # only for admins: the set-up


def slack_date(when: datetime) -> str:
    """A time Slack shows in the reader's own time zone (UTC text for old clients)."""
    moment = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    fallback = f"{moment:%Y-%m-%d %H:%M} UTC"
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def recent_line(item: RecentLookup) -> str:
    """``• “what the rep asked” → *Tip title* · Nov 23 09:14`` (all rep text escaped)."""
    asked = echo(item.text, MAX_RECENT_ECHO) or "(empty)"
    title = escape(" ".join((item.title or "").split()))
    if item.answered and title:
        outcome = f"*{title}*"
    elif title:
        outcome = f"no confident match (nearest: _{title}_)"
    else:
        outcome = "no answer"
    return f"• “{asked}” → {outcome} · {slack_date(item.when)}"


def _home_tip(content: HomeContent) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": HOME_TIP_HEADER, "emoji": True}}
    ]
    if content.tip is None:
        problem = content.tip_problem or "There is no tip to show yet."
        return [*blocks, *_sections(f":hourglass_flowing_sand: {escape(problem)}")]
    if content.tip_note:
        blocks.append(_context(f":mag: {escape(content.tip_note)}"))
    tip = [*tip_blocks(content.tip), full_tip_actions(content.tip)]
    if len(tip) > MAX_HOME_TIP_BLOCKS:
        note = _context("_This tip is too long to show here in full; the rest is in its source._")
        tip = [*tip[: MAX_HOME_TIP_BLOCKS - 1], note]
    return [*blocks, *tip]


def _home_section(title: str) -> list[dict[str, Any]]:
    return [
        {"type": "divider"},
        {"type": "header", "text": {"type": "plain_text", "text": title, "emoji": True}},
    ]


def home_view(content: HomeContent) -> dict[str, Any]:
    """The App Home tab: the week's tip, how to ask, the rep's lookups, (admins) the gaps."""
    blocks = _home_tip(content)
    blocks += _home_section("How to ask")
    blocks += [b for b in help_message(content.slash_command).blocks if b["type"] != "context"]
    blocks.append(find_tip_actions())
    blocks += _home_section("Your recent lookups")
    if content.recent is None:
        blocks += _sections(":warning: Your recent lookups can't be shown right now.")
    elif not content.recent:
        cmd = escape(content.slash_command)
        blocks += _sections(
            f"Nothing yet. Try `{cmd} customer wants the supervisor`, or describe a situation "
            "to me in a DM."
        )
    else:
        for item in content.recent:
            block: dict[str, Any] = {
                "type": "section",
                "text": {"type": "mrkdwn", "text": recent_line(item)},
            }
            if item.query_id is not None:
                value = ButtonValue(query_id=item.query_id).encode()
                block["accessory"] = _button("Open again", ACTION_HOME_REOPEN, value)
            blocks.append(block)
        blocks.append(_context("Only you see your lookups here."))
    if content.checklist is not None:
        blocks += _home_section("Set-up (admins)")
        for entry in content.checklist:
            mark = ":white_check_mark:" if entry.done else ":warning:"
            row: dict[str, Any] = {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"{mark} {entry.text}"},
            }
            if entry.button is not None:
                label, action_id = entry.button
                row["accessory"] = _button(label, action_id, action_id)
            blocks.append(row)
    if content.admin_lines is not None:
        blocks += _home_section(f"Gap report (last {content.admin_period})")
        lines = [escape(line) for line in content.admin_lines if line.strip()]
        blocks += _sections("\n".join(lines) or "Nothing to report.")
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    _button("Send me the 30-day report", ACTION_HOME_REPORT, "30d"),
                ],
            }
        )
        blocks.append(_context("You see this because you are listed in `COACH_ADMINS`."))
    if content.teachable is not None or content.learned is not None:
        from bot.render.teach import home_teach_blocks

        blocks += home_teach_blocks(content.teachable, content.learned)
    if len(blocks) > MAX_HOME_BLOCKS:  # only a freak tip or report gets here
        blocks = [*blocks[: MAX_HOME_BLOCKS - 1], _context("_Some of this tab was cut short._")]
    return {"type": "home", "callback_id": HOME_CALLBACK_ID, "blocks": blocks}
