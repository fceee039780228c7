"""Answers for the terminal (``coach ask``): the card model's parts, printed with rich.

The same parts, order and labels as the Slack card (:mod:`bot.render.card` decides them);
only the layout is the terminal's: numbered lines whose continuation stays indented.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from bot.render.card import FROM_TIP, Card, card, nearest
from retrieval.models import Answer


def _hanging(console: Console, marks: Sequence[str], texts: Sequence[str]) -> None:
    """Numbered lines whose wrapped continuation stays indented under the text."""
    width = max(40, console.width)
    for mark, text in zip(marks, texts, strict=True):
        prefix = f"{mark:>4} "
        wrapped = textwrap.fill(
            text,
            width=width,
            initial_indent=prefix,
            subsequent_indent=" " * len(prefix),
            break_on_hyphens=False,
        )
        console.print(escape(wrapped))


def render_card(shown: Card, console: Console) -> None:
    """One tip card: title and meta, steps (the fit marked →), phrases, takeaway, source."""
    when = shown.date or "undated"
    excerpt = " · excerpt" if shown.excerpt else ""
    console.print(
        f"[bold]{escape(shown.title)}[/bold]  "
        f"[dim]{when} · {escape(', '.join(shown.categories))}{excerpt}[/dim]"
    )
    if shown.steps:
        console.print(f"\n[bold]Steps[/bold] [dim]· {shown.steps_label}[/dim]")
        marks = [f"{'→' if step.highlighted else ''}{step.number}." for step in shown.steps]
        _hanging(console, marks, [step.text for step in shown.steps])
    for group in shown.phrase_groups:
        console.print(f"\n[bold]Say it like this[/bold] [dim]· {group.label}[/dim]")
        _hanging(console, ["»"] * len(group.phrases), [f"“{p}”" for p in group.phrases])
    opening = shown.opening
    if shown.takeaway:
        console.print(f"\n[bold]Takeaway:[/bold] {escape(shown.takeaway)} [dim]({FROM_TIP})[/dim]")
    elif opening:
        console.print(f"\n[bold]{opening.label}:[/bold] {escape(opening.text)}")
    if shown.source:
        link = f" · {escape(shown.url)}" if shown.url else ""
        console.print(f"\n[dim]Source: {escape(shown.source)}{link}[/dim]")
    if shown.credit:
        console.print(f"[dim]{escape(shown.credit)}[/dim]")


def render_answer(answer: Answer, console: Console) -> None:
    """Readable terminal output: a confident card, a few tips when unsure, or a decline."""
    if not answer.answered:
        console.print(
            f"[bold yellow]No confident match[/bold yellow] (confidence {answer.confidence:.2f})."
        )
        suggestions = nearest(answer)
        if suggestions:
            console.print("Is it one of these situations?")
            for suggestion in suggestions:
                console.print(f"  • {escape(suggestion.label)}")
        console.print(
            "Try describing what the customer said or wants, e.g. 'customer wants a refund after the deadline'."
        )
        return
    top = answer.tips[0]
    if answer.tier == "unsure":
        console.print(
            f"[bold yellow]Not sure which fits[/bold yellow] (confidence {answer.confidence:.2f}); "
            "these might help:\n"
        )
    render_card(card(top), console)
    console.print(f"[dim]confidence {answer.confidence:.2f}[/dim]")
    if len(answer.tips) > 1:
        label = "Might also help" if answer.tier == "unsure" else "Also relevant"
        # Titles only: a ranking score beside the card's confidence read as a rival
        # confidence ("Also relevant: X (0.88)" under "confidence 0.73"); --json has both.
        others = ", ".join(escape(tip.title) for tip in answer.tips[1:])
        console.print(f"[dim]{label}: {others}[/dim]")
