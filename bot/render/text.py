"""Cards as plain text: Slack's notification fallback and ``coach weekly --preview``.

Built from the card model (:mod:`bot.render.card`), like the blocks, so the text says what
the card shows. No markup and no escaping here: Slack's copy is escaped where the message
is built (:mod:`bot.render.blocks`); a terminal shows the text as it is.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.render.card import EXCERPT_NOTE, FROM_TIP, Card, Step

MAX_SNIPPET = 280  # notifications show a line or two; the card holds the rest
OFF_TOPIC_FALLBACK = "No tip: that doesn't look like a customer situation."


def shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters, an ellipsis marking the cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)].rstrip() + "…"


def tip_fallback(card: Card, prefix: str = "") -> str:
    """Notification text: the title and the card's first line, shortened."""
    text = f"{prefix}{card.title or 'Tip'}"
    return f"{text}: {shorten(card.snippet, MAX_SNIPPET)}" if card.snippet else text


def unsure_fallback(titles: Iterable[str]) -> str:
    """Several tips might fit: a notification names them all."""
    return "Not sure which tip fits. These might help: " + "; ".join(titles)


def decline_fallback(situations: Iterable[str]) -> str:
    """No tip; the nearest situations (if any) so a notification already helps."""
    listed = "; ".join(situations)
    return f"No confident match. Nearest situations: {listed}" if listed else "No confident match"


def _step(step: Step) -> str:
    """``  2. text``; the step that fits is marked ``→``, in its place."""
    return f"{'→' if step.highlighted else ' '} {step.number}. {step.text}"


def card_text(card: Card) -> str:
    """The whole card, one part per paragraph: what a terminal preview of a post shows."""
    meta = [card.date, ", ".join(card.categories), EXCERPT_NOTE if card.excerpt else ""]
    parts = [f"== {card.title} ==", " · ".join(part for part in meta if part)]
    if card.steps:
        parts.append("\n".join([f"Steps · {card.steps_label}", *map(_step, card.steps)]))
    for group in card.phrase_groups:
        quoted = [f"> “{phrase}”" for phrase in group.phrases]
        parts.append("\n".join([f"Say something like · {group.label}", *quoted]))
    opening = card.opening
    if card.takeaway:
        parts.append(f"Takeaway · {FROM_TIP}: {card.takeaway}")
    elif opening:
        parts.append(f"{opening.label}: {opening.text}")
    source = f"Source: {card.source}" if card.source else ""
    if source and card.url:
        source += f" · {card.url}"
    parts.append("\n".join(line for line in (source, card.credit) if line))
    return "\n\n".join(part for part in parts if part)
