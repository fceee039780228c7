"""The query log: every lookup, redacted, with what it was answered; read by the report and
the App Home.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import distinct, func, insert, select

from bot.privacy import redact, redact_optional
from bot.storage.base import StoreBase
from bot.storage.records import (
    MAX_ERROR,
    MAX_TEXT,
    PURGE_EVERY,
    SURFACES,
    AskedTip,
    GapSummary,
    QueryRow,
    as_utc,
    clip,
    query_row,
    tier_of,
)
from bot.storage.schema import feedback, query_log

#: How many texts of one gap the App Home reads to find words many people used.
GAP_SAMPLE = 500

if TYPE_CHECKING:
    from retrieval.models import Answer


class QueryLog(StoreBase):
    """Lookups and what they were answered (text redacted before it is stored)."""

    # -- query log ----------------------------------------------------------------------

    def log_query(
        self,
        *,
        team_id: str | None,
        user_id: str | None,
        surface: str,
        text: str,
        answer: Answer | None,
        latency_ms: float,
        error: str | None = None,
        now: datetime | None = None,
    ) -> int:
        """Record one lookup, redacting ``text`` (and ``error``) first; returns the row id."""
        if surface not in SURFACES:
            raise ValueError(f"unknown surface {surface!r}; expected one of {sorted(SURFACES)}")
        moment = as_utc(now)
        answered = bool(answer is not None and answer.answered and answer.tips)
        tip_id = nearest_id = nearest_title = None
        chunk_ids: list[str] = []
        suggestion_ids: list[str] = []
        if answer is not None:
            suggestion_ids = [s.tip_id for s in answer.suggestions]
            if answered:
                top = answer.tips[0]
                tip_id = nearest_id = top.id
                nearest_title = top.title
                chunk_ids = list(top.chunk_ids)
            elif answer.suggestions:
                nearest_id = answer.suggestions[0].tip_id
                nearest_title = answer.suggestions[0].title
        values = {
            "created_at": moment,
            "team_id": team_id,
            "user_id": user_id,
            "surface": surface,
            "text": clip(redact(text or ""), MAX_TEXT),
            "answered": answered,
            "confidence": float(answer.confidence) if answer is not None else None,
            "tip_id": tip_id,
            "nearest_tip_id": nearest_id,
            "nearest_title": clip(nearest_title, 300),
            "chunk_ids": chunk_ids,
            "suggestion_ids": suggestion_ids,
            "latency_ms": float(latency_ms),
            "error": clip(redact_optional(error), MAX_ERROR),
            "tier": tier_of(answer),
        }
        with self.engine.begin() as conn:
            row_id = conn.execute(insert(query_log).values(**values)).inserted_primary_key[0]
        if self._last_retention_purge is None or moment - self._last_retention_purge >= PURGE_EVERY:
            self._last_retention_purge = moment
            self.purge_older_than(self.retention_days, now=moment)
        return int(row_id)

    def query_text(self, query_id: int, *, team_id: str | None) -> str | None:
        """The (redacted) situation of one logged lookup, for a button that names it; None
        once retention removed it, or when it belongs to another workspace."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(query_log.c.text, query_log.c.team_id).where(query_log.c.id == query_id)
            ).first()
        if row is None or (row.team_id or None) != (team_id or None):
            return None
        return str(row.text)

    def recent_queries(
        self, *, team_id: str | None, user_id: str, limit: int = 5
    ) -> list[QueryRow]:
        """A rep's own latest lookups, newest first (for the App Home)."""
        team_match = (
            query_log.c.team_id.is_(None) if team_id is None else query_log.c.team_id == team_id
        )
        stmt = (
            select(query_log)
            .where(team_match, query_log.c.user_id == user_id)
            .order_by(query_log.c.created_at.desc(), query_log.c.id.desc())
            .limit(max(0, limit))
        )
        with self.engine.connect() as conn:
            return [query_row(row) for row in conn.execute(stmt)]

    def queries_between(
        self, start: datetime, end: datetime, *, team_id: str | None = None
    ) -> list[QueryRow]:
        """Every lookup with ``start <= created_at < end``, oldest first (for reports).

        ``team_id`` limits it to one workspace (an admin sees only their own reps' text).
        """
        return [query_row(row) for row in self._rows_between(query_log, start, end, team_id)]

    def lookups_per_tip(
        self, since: datetime, until: datetime | None = None, *, team_id: str | None = None
    ) -> dict[str, int]:
        """How often each tip was the answer in a period (the weekly post's "reps asked ...")."""
        conditions = [
            query_log.c.created_at >= as_utc(since),
            query_log.c.answered.is_(True),
            query_log.c.tip_id.is_not(None),
        ]
        if until is not None:
            conditions.append(query_log.c.created_at < as_utc(until))
        if team_id is not None:
            conditions.append(query_log.c.team_id == team_id)
        stmt = (
            select(query_log.c.tip_id, func.count()).where(*conditions).group_by(query_log.c.tip_id)
        )
        with self.engine.connect() as conn:
            return {tip: int(count) for tip, count in conn.execute(stmt)}

    def asked_tips(
        self, *, team_id: str, since: datetime, min_askers: int, limit: int = 10
    ) -> list[AskedTip]:
        """One workspace's tips answered for at least ``min_askers`` distinct people since
        ``since``, most people first: answered lookups only, "Next best tip" re-asks not
        counted. Grouped in SQL: a busy week is never loaded into Python.
        """
        askers = func.count(distinct(query_log.c.user_id)).label("askers")
        lookups = func.count().label("lookups")
        recent = [
            query_log.c.team_id == team_id,
            query_log.c.created_at >= as_utc(since),
            query_log.c.answered.is_(True),
            query_log.c.surface != "button",
            query_log.c.tip_id.is_not(None),
            query_log.c.user_id.is_not(None),
        ]
        stmt = (
            select(query_log.c.tip_id, askers, lookups)
            .where(*recent)
            .group_by(query_log.c.tip_id)
            .having(askers >= max(1, min_askers))
            .order_by(askers.desc(), lookups.desc(), query_log.c.tip_id)
            .limit(max(0, limit))
        )
        with self.engine.connect() as conn:
            return [
                AskedTip(str(tip_id), int(people), int(n))
                for tip_id, people, n in conn.execute(stmt)
            ]

    def gap_summary(
        self,
        *,
        team_id: str | None,
        start: datetime,
        end: datetime,
        top: int = 3,
        sample: int = GAP_SAMPLE,
    ) -> GapSummary:
        """The App Home's gap report, counted by the database: a week of a busy workspace is
        never loaded into Python (at most ``sample`` texts for each of the ``top`` gaps)."""
        window = [
            query_log.c.created_at >= as_utc(start),
            query_log.c.created_at < as_utc(end),
            query_log.c.surface != "button",  # "Next best tip": the same question again
        ]
        if team_id is not None:
            window.append(query_log.c.team_id == team_id)
        unanswered = [
            *window,
            query_log.c.answered.is_(False),
            query_log.c.error.is_(None),
            func.coalesce(query_log.c.tier, "") != "offtopic",
        ]
        n = func.count().label("n")
        people = func.count(distinct(query_log.c.user_id)).label("people")
        with self.engine.connect() as conn:
            lookups, answered = conn.execute(
                select(func.count(), func.count().filter(query_log.c.answered.is_(True))).where(
                    *window
                )
            ).one()
            missed = conn.execute(select(func.count()).where(*unanswered)).scalar_one()
            groups = conn.execute(
                select(query_log.c.nearest_tip_id, func.max(query_log.c.nearest_title), n, people)
                .where(*unanswered)
                .group_by(query_log.c.nearest_tip_id)
                .order_by(n.desc(), query_log.c.nearest_tip_id)
                .limit(max(0, top))
            ).all()
            gaps = []
            for tip_id, title, count, askers in groups:
                near = (
                    query_log.c.nearest_tip_id.is_(None)
                    if tip_id is None
                    else query_log.c.nearest_tip_id == tip_id
                )
                texts = conn.execute(
                    select(query_log.c.text, query_log.c.user_id)
                    .where(*unanswered, near)
                    .order_by(query_log.c.created_at.desc())
                    .limit(max(0, sample))
                ).all()
                gaps.append(
                    (
                        tip_id,
                        title,
                        int(count),
                        int(askers),
                        tuple((str(t), str(u or "")) for t, u in texts),
                    )
                )
            up = func.count().filter(feedback.c.helpful.is_(True))
            down = func.count().filter(feedback.c.helpful.is_(False))
            vote_window = [
                feedback.c.created_at >= as_utc(start),
                feedback.c.created_at < as_utc(end),
            ]
            if team_id is not None:
                vote_window.append(feedback.c.team_id == team_id)
            votes = conn.execute(
                select(feedback.c.tip_id, up, down).where(*vote_window).group_by(feedback.c.tip_id)
            ).all()
        return GapSummary(
            lookups=int(lookups),
            answered=int(answered or 0),
            unanswered=int(missed),
            gaps=tuple(gaps),
            votes=tuple((str(t), int(u), int(d)) for t, u, d in votes),
        )

    def tip_titles(self, tip_ids: Iterable[str]) -> dict[str, str]:
        """Titles of tips as last seen in the query log (reports run without the corpus)."""
        wanted = sorted({t for t in tip_ids if t})
        if not wanted:
            return {}
        stmt = (
            select(query_log.c.nearest_tip_id, query_log.c.nearest_title)
            .where(query_log.c.nearest_tip_id.in_(wanted), query_log.c.nearest_title.is_not(None))
            .order_by(query_log.c.created_at)
        )
        with self.engine.connect() as conn:
            return {tip: title for tip, title in conn.execute(stmt)}
