"""The records that flow from corpus to bot: tips, chunks and answers.

Plain frozen dataclasses so every layer can pass them around cheaply; ``Answer.to_json``
produces exactly the JSON contract of DESIGN.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

ChunkKind = Literal["title", "teaser", "step", "phrase", "takeaway", "passage", "situation"]


@dataclass(frozen=True)
class ParseProblem:
    """A file (or part of one) that could not be read; the rest of the corpus still indexes."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


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

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs) if self.paragraphs else self.teaser


@dataclass(frozen=True)
class Chunk:
    """A typed piece of a tip; ``id`` is stable across rebuilds (tip id + kind + position)."""

    id: str
    tip_id: str
    kind: ChunkKind
    text: str
    position: int
    context: str = ""  # the paragraph a phrase was quoted from (helps rank it)


@dataclass(frozen=True)
class TipAnswer:
    """One ranked tip in an answer, with the parts that fit the situation."""

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
        }


@dataclass(frozen=True)
class Suggestion:
    """A nearby topic offered when there is no confident answer."""

    tip_id: str
    title: str
    score: float


@dataclass(frozen=True)
class Answer:
    """What the coach says about one situation."""

    query: str
    answered: bool
    confidence: float
    tips: tuple[TipAnswer, ...] = ()
    suggestions: tuple[Suggestion, ...] = ()
    latency_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def top(self) -> TipAnswer | None:
        return self.tips[0] if self.tips else None

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "answered": self.answered,
            "confidence": round(float(self.confidence), 4),
            "tips": [tip.to_json() for tip in self.tips] if self.answered else [],
            "suggestions": [{"id": s.tip_id, "title": s.title} for s in self.suggestions],
        }
