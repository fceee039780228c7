"""What a tip card shows and in what order: decided once, here, for every medium.

Slack (:mod:`bot.render.blocks`), the terminal (:mod:`bot.render.terminal`) and plain text
(:mod:`bot.render.text`) only *format* these records, so a rep, ``coach ask`` and the weekly
preview always see the same steps (same numbers, same highlighted one), the same phrases
under the same "who wrote this" labels, and the same source and credit lines.

Pure data: plain strings with whitespace flattened, never escaped and never marked up.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from retrieval.models import Answer, LineOrigin, Suggestion, TipAnswer

FROM_TIP = "from the tip"
FROM_PLAY = "Coach's play"
PLAY_CREDIT = "Coach's play: Tip Coach's own steps and phrases, written from this tip."
EXCERPT_NOTE = "excerpt: only the tip's opening is in the library"
UNSURE_SHOWN = 3  # "these might help" lists at most this many tips
NEAREST_SHOWN = 3  # a decline offers at most this many nearest situations

_QUOTES = '“”" '  # a phrase is shown in our own quotes, never doubled
_URL_RE = re.compile(r"https?://[^\s<>|]+")


def flat(text: str) -> str:
    """One line, single spaces: corpus text is shown as read, whatever its line breaks."""
    return " ".join(text.split())


def origin_label(origin: LineOrigin) -> str:
    """Who wrote a line: the tip's author, or Tip Coach's play (shown as ours, never theirs)."""
    return FROM_TIP if origin == "tip" else FROM_PLAY


def format_date(value: date | None) -> str:
    """``Jan 27, 2026`` (no zero padding), or "" for an undated tip."""
    return f"{value:%b} {value.day}, {value.year}" if value else ""


@dataclass(frozen=True)
class Step:
    """One numbered step: the author's number, and whether it is the one that fits."""

    number: int
    text: str
    lead: str = ""  # a play step's lead-in (``text`` starts with it), shown bold where we can
    highlighted: bool = False

    @property
    def rest(self) -> str:
        """The step after its lead-in."""
        return self.text[len(self.lead) :]


@dataclass(frozen=True)
class PhraseGroup:
    """Consecutive phrases by the same writer, shown under one label."""

    origin: LineOrigin
    phrases: tuple[str, ...]

    @property
    def label(self) -> str:
        return origin_label(self.origin)


@dataclass(frozen=True)
class Opening:
    """The tip's summary, shown when the card has no takeaway and little else."""

    label: str
    text: str


@dataclass(frozen=True)
class Card:
    """A tip card, top to bottom: title, meta, steps, phrases, takeaway, source, credit."""

    title: str
    date: str  # formatted, "" when undated
    categories: tuple[str, ...]
    excerpt: bool  # only the tip's opening is known
    step_origin: LineOrigin
    steps: tuple[Step, ...]
    phrase_groups: tuple[PhraseGroup, ...]
    summary: str
    takeaway: str  # the tip's own takeaway
    source: str
    url: str  # only a plain http(s) URL (authors' front matter is validated), else ""
    credit: str  # PLAY_CREDIT when any line is the coach's play

    @property
    def steps_label(self) -> str:
        return origin_label(self.step_origin)

    @property
    def phrases(self) -> tuple[str, ...]:
        """Every phrase in the order shown."""
        return tuple(p for group in self.phrase_groups for p in group.phrases)

    @property
    def opening(self) -> Opening | None:
        """The summary stands in for the takeaway on an excerpt, or on a card with nothing
        else to show; otherwise it would only repeat the steps."""
        if self.takeaway or not self.summary:
            return None
        if self.excerpt:
            return Opening("The tip opens", self.summary)
        if not (self.steps or self.phrase_groups):
            return Opening("In short", self.summary)
        return None

    @property
    def snippet(self) -> str:
        """The one line a notification shows: the first step, else a phrase, else the summary."""
        if self.steps:
            return self.steps[0].text
        return self.phrases[0] if self.phrase_groups else self.summary

    @property
    def origins_label(self) -> str:
        """Who wrote the first step and phrase, for a preview that shows only those."""
        step = self.steps_label if self.steps else ""
        phrase = self.phrase_groups[0].label if self.phrase_groups else ""
        if step and phrase and step != phrase:
            return f"step: {step}; phrase: {phrase}"
        return step or phrase


def _steps(tip: TipAnswer) -> tuple[Step, ...]:
    steps = []
    for k, (number, raw) in enumerate(tip.numbered_steps()):
        text = flat(raw)
        lead = tip.step_leads[k] if k < len(tip.step_leads) else ""
        steps.append(
            Step(
                number=number,
                text=text,
                lead=lead if lead and text.startswith(lead) else "",
                highlighted=tip.highlight == k,
            )
        )
    return tuple(steps)


def _phrase_groups(tip: TipAnswer) -> tuple[PhraseGroup, ...]:
    origins = tip.phrase_origins or ("tip",) * len(tip.phrases)
    groups: list[PhraseGroup] = []
    for origin, raw in zip(origins, tip.phrases, strict=True):
        phrase = flat(raw).strip(_QUOTES)
        if groups and groups[-1].origin == origin:
            groups[-1] = replace(groups[-1], phrases=(*groups[-1].phrases, phrase))
        else:
            groups.append(PhraseGroup(origin, (phrase,)))
    return tuple(groups)


def card(tip: TipAnswer) -> Card:
    """The card for one tip: the author's step order and numbers (the fit is marked, not
    moved), the tip's own phrases before the play's."""
    return Card(
        title=flat(tip.title),
        date=format_date(tip.date),
        categories=tuple(flat(c) for c in tip.categories),
        excerpt=tip.excerpt,
        step_origin=tip.step_origin,
        steps=_steps(tip),
        phrase_groups=_phrase_groups(tip),
        summary=flat(tip.summary),
        takeaway=flat(tip.takeaway),
        source=flat(tip.source),
        url=tip.url if _URL_RE.fullmatch(tip.url or "") else "",
        credit=PLAY_CREDIT if tip.has_play else "",
    )


def preview(full: Card) -> Card:
    """The card cut to its first step and first phrase: enough to tell whether a tip fits.
    One step is nothing to pick from, so none is highlighted."""
    steps = tuple(replace(step, highlighted=False) for step in full.steps[:1])
    groups = tuple(replace(g, phrases=g.phrases[:1]) for g in full.phrase_groups[:1])
    return replace(full, steps=steps, phrase_groups=groups)


# -- "Show full tip" ------------------------------------------------------------------------


@dataclass(frozen=True)
class Paragraph:
    """One paragraph of the tip as published; a heading is shown as one."""

    text: str
    heading: bool = False


@dataclass(frozen=True)
class PlaySection:
    """The coach's play, below the tip's own text (every line here is ours)."""

    when: str
    steps: tuple[Step, ...]  # only when the card's steps are the play's
    phrases: tuple[str, ...]
    avoid: tuple[str, ...]
    takeaway: str


@dataclass(frozen=True)
class FullTip:
    """ "Show full tip": the card's head and foot around the whole tip, then the play.

    The card's steps keep their numbers here: a tip's own steps are in its text, in the
    same order; when the card showed the play's steps, the play section lists the same.
    """

    card: Card
    body: tuple[Paragraph, ...]
    play: PlaySection | None


def full_tip(tip: TipAnswer) -> FullTip:
    """The whole tip as published (every non-empty paragraph), then its play if it has one."""
    head = card(tip)
    body = tuple(
        Paragraph(flat(p.lstrip("#")), heading=True)
        if i in tip.body_headings
        else Paragraph(flat(p))
        for i, p in enumerate(tip.body)
        if p.strip()
    )
    play = None
    if tip.has_play:
        play = PlaySection(
            when=flat(tip.when),
            steps=head.steps if tip.step_origin == "play" else (),
            phrases=tuple(p for g in head.phrase_groups if g.origin == "play" for p in g.phrases),
            avoid=tuple(flat(line) for line in tip.avoid),
            takeaway=flat(tip.play_takeaway),
        )
    return FullTip(head, body, play)


# -- answers --------------------------------------------------------------------------------


def unsure_tips(answer: Answer) -> list[TipAnswer]:
    """The tips a "not sure which fits" reply offers, best first."""
    return list(answer.tips[:UNSURE_SHOWN])


def nearest(answer: Answer) -> Sequence[Suggestion]:
    """The nearest situations a decline offers instead of a tip."""
    return answer.suggestions[:NEAREST_SHOWN]
