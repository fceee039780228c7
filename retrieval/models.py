"""The records that flow from corpus to bot: tips, chunks and answers.

Plain frozen dataclasses so every layer can pass them around cheaply; ``Answer.to_json``
produces exactly the JSON contract of DESIGN.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

ChunkKind = Literal[
    "title",
    "teaser",
    "step",
    "phrase",
    "takeaway",
    "passage",
    "situation",
    "when",  # a play's "when to use it"
    "play_step",
    "play_phrase",
]
#: Who wrote a line on a card: the tip's publisher or author ("tip"), or Tip Coach's play.
LineOrigin = Literal["tip", "play"]


@dataclass(frozen=True)
class ParseProblem:
    """A file (or part of one) that could not be read; the rest of the corpus still indexes."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True)
class PlayStep:
    """One step of a play: a bold lead-in ("Offer a callback.") and the rest of the step."""

    lead: str
    rest: str

    @property
    def text(self) -> str:
        return f"{self.lead} {self.rest}".strip()


@dataclass(frozen=True)
class Play:
    """The coach's play for one tip: our words, written from the tip, shown as ours.

    A play fills what a published tip lacks on a live call (most tips are teasers):
    when it applies, what to do, what to say and what not to say.
    """

    tip_id: str
    when: str
    steps: tuple[PlayStep, ...]
    phrases: tuple[str, ...]
    avoid: tuple[str, ...]
    takeaway: str
    origin: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "tip_id": self.tip_id,
            "when": self.when,
            "steps": [[step.lead, step.rest] for step in self.steps],
            "phrases": list(self.phrases),
            "avoid": list(self.avoid),
            "takeaway": self.takeaway,
            "origin": self.origin,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Play:
        return cls(
            tip_id=str(data["tip_id"]),
            when=str(data.get("when", "")),
            steps=tuple(PlayStep(str(lead), str(rest)) for lead, rest in data.get("steps", ())),
            phrases=tuple(str(p) for p in data.get("phrases", ())),
            avoid=tuple(str(a) for a in data.get("avoid", ())),
            takeaway=str(data.get("takeaway", "")),
            origin=str(data.get("origin", "")),
        )


@dataclass(frozen=True)
class Tip:
    """One Tip of the Week, merged from every page that mentions it."""

    id: str
    title: str
    date: date | None
    categories: tuple[str, ...]
    full: bool
    teaser: str = ""
    paragraphs: tuple[str, ...] = ()
    situations: tuple[str, ...] = ()
    source: str = ""
    origin: str = ""  # file (and line) it was read from
    url: str = ""  # the original post, where the source gives one
    play: Play | None = None

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs) if self.paragraphs else self.teaser


@dataclass(frozen=True)
class Chunk:
    """A typed piece of a tip; ``id`` is stable across rebuilds (``<tip id>#<kind>-<number>``).

    ``number`` counts chunks of one kind in reading order (1-based): for steps it is the
    author's step number, so a card and the full tip agree on numbering.
    """

    id: str
    tip_id: str
    kind: ChunkKind
    text: str
    number: int
    context: str = ""  # the paragraph a phrase was quoted from (helps rank it)


@dataclass(frozen=True)
class TipAnswer:
    """One ranked tip in an answer, with the parts that fit the situation.

    Steps come from one place, so a card's numbering is one list: the tip's own ordered
    steps (``step_origin == "tip"``, in the author's order, ``step_numbers`` their
    numbers there) or, when the tip has fewer than three, the coach's play. Phrases are
    the tip's own first, then the play's (``phrase_origins``).
    """

    id: str
    title: str
    date: date | None
    score: float
    steps: tuple[str, ...]
    phrases: tuple[str, ...]
    summary: str
    source: str
    categories: tuple[str, ...] = ()
    full: bool = False
    takeaway: str = ""
    chunk_ids: tuple[str, ...] = ()
    step_origin: LineOrigin = "tip"
    step_numbers: tuple[int, ...] = ()  # the author's number of each step shown (1-based)
    step_leads: tuple[str, ...] = ()  # a play step's bold lead-in ("" for the tip's own)
    highlight: int | None = None  # index into ``steps`` of the one that fits the situation
    phrase_origins: tuple[LineOrigin, ...] = ()
    when: str = ""  # the play's "when to use it"
    avoid: tuple[str, ...] = ()  # the play's "avoid saying" lines
    play_takeaway: str = ""
    body: tuple[str, ...] = ()  # the tip's own text: every paragraph, or the teaser
    body_headings: tuple[int, ...] = ()  # which paragraphs of ``body`` are section headings
    url: str = ""
    excerpt: bool = False  # only the teaser of the tip is known

    @property
    def has_play(self) -> bool:
        return self.step_origin == "play" or "play" in self.phrase_origins or bool(self.when)

    def numbered_steps(self) -> list[tuple[int, str]]:
        """(number on the card, text): the author's numbers, else 1, 2, 3…"""
        numbers = self.step_numbers or tuple(range(1, len(self.steps) + 1))
        return list(zip(numbers, self.steps, strict=True))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "date": self.date.isoformat() if self.date else None,
            "score": round(float(self.score), 4),
            "steps": list(self.steps),
            "phrases": list(self.phrases),
            "summary": self.summary,
            "source": self.source,
            "url": self.url or None,
            "excerpt": self.excerpt,
            "highlight": self.highlight,
            "attribution": {
                "steps": [self.step_origin] * len(self.steps),
                "phrases": list(self.phrase_origins or ("tip",) * len(self.phrases)),
            },
            "when_to_use": self.when,
            "avoid": list(self.avoid),
        }


@dataclass(frozen=True)
class Suggestion:
    """A nearby situation offered when there is no confident answer.

    ``situation`` is the closest situation the tip is for, in a rep's words (what the
    decline offers as a button); ``title`` is the tip's published title.
    """

    tip_id: str
    title: str
    score: float
    situation: str = ""

    @property
    def label(self) -> str:
        return self.situation or self.title


@dataclass(frozen=True)
class Completion:
    """One type-ahead option: a line a rep can pick (a situation, a play's "when to use
    it", or a tip's title) and the tip it leads to."""

    label: str
    tip_id: str
    kind: ChunkKind
    score: float


#: How sure the coach is: one card; a few tips that might help; or a decline.
Tier = Literal["confident", "unsure", "decline"]


@dataclass(frozen=True)
class Answer:
    """What the coach says about one situation.

    ``answered`` is true when tips are shown (a confident card, or "these might help"
    when unsure); a decline shows none. ``off_topic`` marks a decline for text that is
    not about serving a customer at all: it offers no tips.
    """

    query: str
    answered: bool
    confidence: float
    tips: tuple[TipAnswer, ...] = ()
    suggestions: tuple[Suggestion, ...] = ()
    latency_ms: float = 0.0
    tier: Tier | None = None
    off_topic: bool = False

    def __post_init__(self) -> None:
        if self.tier is None:
            object.__setattr__(self, "tier", "confident" if self.answered else "decline")

    @property
    def top(self) -> TipAnswer | None:
        return self.tips[0] if self.tips else None

    @property
    def confident(self) -> bool:
        return self.answered and self.tier == "confident"

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "answered": self.answered,
            "confidence": round(float(self.confidence), 4),
            "tier": self.tier,
            "off_topic": self.off_topic,
            "tips": [tip.to_json() for tip in self.tips] if self.answered else [],
            "suggestions": [
                {"id": s.tip_id, "title": s.title, "situation": s.situation or None}
                for s in self.suggestions
            ],
        }
