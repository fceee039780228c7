"""What the store reads and writes: row records, limits, and small value helpers shared by
the store's table groups.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select

from bot.storage.schema import query_log

if TYPE_CHECKING:
    from retrieval.models import Answer


R = TypeVar("R")

#: Where a lookup came from (``surface`` in the query log; at most 16 characters).
#: "modal": the "Find a tip" modal; "shortcut": the "Coach me on this" message shortcut;
#: "assistant": the AI side panel.
SURFACES = frozenset(
    {"dm", "mention", "thread", "slash", "button", "home", "cli", "modal", "shortcut", "assistant"}
)

#: Processed event ids are only needed while Slack may still retry (minutes); keep a day.
EVENT_TTL = timedelta(days=1)
#: Opportunistic clean-ups run at most this often per process.
PURGE_EVERY = timedelta(hours=1)
#: A weekly claim not confirmed within this time is presumed dead and may be taken over.
DEFAULT_WEEKLY_LEASE = timedelta(minutes=15)

MAX_TEXT = 4000
MAX_COMMENT = 3000
MAX_ERROR = 300
#: Why a 👎: the one-click reasons the modal offers (anything else is not stored).
FEEDBACK_REASONS = ("wrong_tip", "nothing_to_say", "too_long", "outdated")
#: Where a learned situation came from.
LEARNED_SOURCES = frozenset({"lead", "home", "confirmed", "cli"})
MAX_SITUATION = 1000


def as_utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


@dataclass(frozen=True)
class QueryRow:
    """One logged lookup (text already redacted)."""

    id: int
    created_at: datetime
    team_id: str | None
    user_id: str | None
    surface: str
    text: str
    answered: bool
    confidence: float | None
    tip_id: str | None
    nearest_tip_id: str | None
    nearest_title: str | None
    chunk_ids: tuple[str, ...]
    suggestion_ids: tuple[str, ...]
    latency_ms: float
    error: str | None
    tier: str | None = None  # confident / unsure / decline / offtopic


@dataclass(frozen=True)
class AskedTip:
    """One tip answered for several people in a period: how many people, how many lookups.
    No rep's text: what one person asked reaches another only as the tip's own words."""

    tip_id: str
    askers: int
    lookups: int


@dataclass(frozen=True)
class GapSummary:
    """A workspace's lookups in a period, aggregated in the database (App Home's short gap
    report): totals, and the tips nearest the unanswered ones with a bounded sample of their
    (redacted) texts and askers, so words many people used can be found without any row
    being shown."""

    lookups: int
    answered: int
    unanswered: int
    #: (tip id, title, lookups, people, [(text, user id)…]) nearest first by lookups
    gaps: tuple[tuple[str | None, str | None, int, int, tuple[tuple[str, str], ...]], ...]
    #: (tip id, 👍, 👎) per tip voted on in the period
    votes: tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class FeedbackRow:
    """One 👍/👎 on an answer (comment already redacted)."""

    id: int
    created_at: datetime
    team_id: str | None
    user_id: str | None
    query_id: int | None
    tip_id: str
    chunk_ids: tuple[str, ...]
    helpful: bool
    comment: str | None
    reason: str | None = None


@dataclass(frozen=True)
class LearnedRow:
    """A situation a lead tied to a tip for one workspace (text already redacted)."""

    id: int
    created_at: datetime
    team_id: str
    tip_id: str
    text: str
    source: str
    created_by: str | None


@dataclass(frozen=True)
class LeadRequest:
    """A rep's question posted to the leads channel (text already redacted)."""

    id: int
    created_at: datetime
    team_id: str | None
    channel: str
    ts: str | None
    user_id: str
    query_id: int | None
    text: str


@dataclass(frozen=True)
class WeeklyRow:
    """One channel's weekly tip for one week: ``status`` is "claimed" until Slack confirms."""

    channel: str
    week_key: str
    tip_id: str
    owner: str
    status: str
    claimed_at: datetime
    posted_at: datetime | None
    ts: str | None


@dataclass(frozen=True)
class PendingDelivery:
    """An answer waiting for Slack (see :mod:`bot.redelivery`)."""

    key: str
    team_id: str | None
    created_at: datetime
    attempts: int
    record: dict[str, Any]


def query_row(row: Any) -> QueryRow:
    return QueryRow(
        id=int(row.id),
        created_at=row.created_at,
        team_id=row.team_id,
        user_id=row.user_id,
        surface=row.surface,
        text=row.text,
        answered=bool(row.answered),
        confidence=row.confidence,
        tip_id=row.tip_id,
        nearest_tip_id=row.nearest_tip_id,
        nearest_title=row.nearest_title,
        chunk_ids=tuple(row.chunk_ids or ()),
        suggestion_ids=tuple(row.suggestion_ids or ()),
        latency_ms=float(row.latency_ms),
        error=row.error,
        tier=row.tier,
    )


def feedback_row(row: Any) -> FeedbackRow:
    return FeedbackRow(
        id=int(row.id),
        created_at=row.created_at,
        team_id=row.team_id,
        user_id=row.user_id,
        query_id=row.query_id,
        tip_id=row.tip_id,
        chunk_ids=tuple(row.chunk_ids or ()),
        helpful=bool(row.helpful),
        comment=row.comment,
        reason=row.reason,
    )


def record_as(kind: type[R], row: Any) -> R:
    """A row as ``kind``, a dataclass whose fields are the row's columns by name."""
    return kind(**{item.name: getattr(row, item.name) for item in fields(kind)})  # type: ignore[call-arg]


def tier_of(answer: Answer | None) -> str | None:
    """How the lookup was answered; an off-topic decline is kept apart from a content gap."""
    if answer is None:
        return None
    if answer.off_topic:
        return "offtopic"
    return str(answer.tier or ("confident" if answer.answered else "decline"))[:16]


def query_link(query_id: int | None) -> Any:
    """The query-log row ``query_id`` as a foreign-key value: NULL when it is gone (an old
    button may name a purged row), so the feedback or request is kept without the link."""
    if query_id is None:
        return None
    return select(query_log.c.id).where(query_log.c.id == int(query_id)).scalar_subquery()


#: What no database here stores in text: NUL (Postgres refuses it) and lone surrogates
#: (not UTF-8). Removed, never the reason a question goes unlogged.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clip(text: str | None, limit: int) -> str | None:
    """``text`` as every database stores it (see :data:`_UNSTORABLE`), at most ``limit``
    characters. Every user text goes through here before a write."""
    if text is None:
        return None
    text = _UNSTORABLE.sub("", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def id_list(values: Sequence[str]) -> list[str]:
    if isinstance(values, str):  # a lone id passed where a list was meant
        return [values]
    return [str(v) for v in values]


def driver_reason(exc: Exception) -> str:
    """The driver's first line about a database error (what an operator can act on)."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__
