"""What reps and leads tell the bot: votes and comments on answers, situations leads teach,
and reps' questions posted to the leads channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from bot.privacy import redact, redact_optional
from bot.storage.base import StoreBase
from bot.storage.errors import UnknownRecord
from bot.storage.records import (
    FEEDBACK_REASONS,
    LEARNED_SOURCES,
    MAX_COMMENT,
    MAX_SITUATION,
    MAX_TEXT,
    FeedbackRow,
    LeadRequest,
    LearnedRow,
    QueryRow,
    as_utc,
    clip,
    feedback_row,
    id_list,
    query_link,
    query_row,
    record_as,
)
from bot.storage.schema import (
    feedback,
    lead_requests,
    learned_situations,
    query_log,
)


class Feedback(StoreBase):
    """Feedback on answers, learned situations and questions for the leads."""

    # -- feedback -----------------------------------------------------------------------

    def record_feedback(
        self,
        *,
        team_id: str | None,
        user_id: str | None,
        query_id: int | None,
        tip_id: str,
        chunk_ids: Sequence[str],
        helpful: bool,
        comment: str | None = None,
        now: datetime | None = None,
    ) -> int:
        """Store a 👍/👎 with the tip and chunk ids; ``comment`` is redacted. Returns its id."""
        if not tip_id:
            raise ValueError("record_feedback needs the tip id the rep rated")
        comment = clip(redact_optional(comment.strip() if comment else None) or None, MAX_COMMENT)
        linked = query_link(query_id)
        values = {
            "created_at": as_utc(now),
            "team_id": team_id,
            "user_id": user_id,
            "query_id": linked,
            "tip_id": tip_id,
            "chunk_ids": id_list(chunk_ids),
            "helpful": bool(helpful),
            "comment": comment,
        }
        with self.engine.begin() as conn:
            earlier = self._vote_of(conn, team_id, user_id, query_id, tip_id)
            if earlier is not None:  # one vote per person per answer: the new one replaces it
                change: dict[str, Any] = {"helpful": bool(helpful), "created_at": as_utc(now)}
                if helpful:
                    change["reason"] = None  # a reason explains a 👎 only
                if comment:
                    change["comment"] = comment
                conn.execute(update(feedback).where(feedback.c.id == earlier).values(**change))
                return earlier
            row_id = conn.execute(insert(feedback).values(**values)).inserted_primary_key[0]
        return int(row_id)

    @staticmethod
    def _vote_of(
        conn: Any, team_id: str | None, user_id: str | None, query_id: int | None, tip_id: str
    ) -> int | None:
        """The id of this person's earlier vote on this answer (None: no answer to key on)."""
        if query_id is None or user_id is None:
            return None
        team_match = (
            feedback.c.team_id.is_(None) if team_id is None else feedback.c.team_id == team_id
        )
        found = conn.execute(
            select(feedback.c.id)
            .where(
                feedback.c.query_id == int(query_id),
                feedback.c.user_id == user_id,
                feedback.c.tip_id == tip_id,
                team_match,
            )
            .order_by(feedback.c.id)
            .limit(1)
        ).scalar()
        return int(found) if found is not None else None

    def set_feedback_reason(self, feedback_id: int, reason: str | None) -> None:
        """The one-click reason after a 👎 (one of :data:`FEEDBACK_REASONS`)."""
        if reason is not None and reason not in FEEDBACK_REASONS:
            raise ValueError(f"unknown reason {reason!r}; expected one of {FEEDBACK_REASONS}")
        with self.engine.begin() as conn:
            result = conn.execute(
                update(feedback).where(feedback.c.id == int(feedback_id)).values(reason=reason)
            )
        if result.rowcount == 0:
            raise UnknownRecord(f"No feedback #{feedback_id}.")

    def feedback_by_id(self, feedback_id: int) -> FeedbackRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(feedback).where(feedback.c.id == int(feedback_id))).first()
        return feedback_row(row) if row is not None else None

    def query_by_id(self, query_id: int, *, team_id: str | None = None) -> QueryRow | None:
        """One logged lookup; with ``team_id``, only that workspace's (never another's text)."""
        stmt = select(query_log).where(query_log.c.id == int(query_id))
        if team_id is not None:
            stmt = stmt.where(query_log.c.team_id == team_id)
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return query_row(row) if row is not None else None

    def teachable_queries(
        self, *, team_id: str | None, since: datetime, limit: int = 8
    ) -> list[QueryRow]:
        """Recent questions reps chose to send to the leads (Ask a lead), newest first, one
        per text (App Home's "attach the tip that fits" list). A question nobody sent is
        never shown to a lead: what one rep typed is theirs until they share it."""
        sent = select(lead_requests.c.query_id).where(lead_requests.c.query_id.is_not(None))
        stmt = (
            select(query_log)
            .where(query_log.c.created_at >= as_utc(since), query_log.c.id.in_(sent))
            .order_by(query_log.c.created_at.desc(), query_log.c.id.desc())
            .limit(max(0, limit) * 4)
        )
        if team_id is not None:
            stmt = stmt.where(query_log.c.team_id == team_id)
        seen: set[str] = set()
        rows: list[QueryRow] = []
        with self.engine.connect() as conn:
            for raw in conn.execute(stmt):
                row = query_row(raw)
                key = " ".join(row.text.lower().split())
                if key and key not in seen:
                    seen.add(key)
                    rows.append(row)
        return rows[: max(0, limit)]

    def update_feedback_comment(self, feedback_id: int, comment: str) -> None:
        """Attach the 👎 modal's "what was wrong" text (redacted) to earlier feedback."""
        text = clip(redact(comment.strip()) if comment and comment.strip() else None, MAX_COMMENT)
        with self.engine.begin() as conn:
            result = conn.execute(
                update(feedback).where(feedback.c.id == int(feedback_id)).values(comment=text)
            )
        if result.rowcount == 0:
            raise UnknownRecord(
                f"No feedback #{feedback_id} (it may have been deleted by retention)."
            )

    def feedback_between(
        self, start: datetime, end: datetime, *, team_id: str | None = None
    ) -> list[FeedbackRow]:
        """Every feedback with ``start <= created_at < end``, oldest first (for reports)."""
        return [feedback_row(row) for row in self._rows_between(feedback, start, end, team_id)]

    # -- learned situations --------------------------------------------------------------

    def add_learned_situation(
        self,
        *,
        team_id: str,
        tip_id: str,
        text: str,
        source: str,
        created_by: str | None = None,
        now: datetime | None = None,
    ) -> int:
        """Tie a (redacted) question to a tip for one workspace; returns its id.

        The same text and tip twice in one workspace is one situation (its id is returned).
        """
        if not team_id or not tip_id:
            raise ValueError("a learned situation needs a workspace and a tip")
        if source not in LEARNED_SOURCES:
            raise ValueError(
                f"unknown source {source!r}; expected one of {sorted(LEARNED_SOURCES)}"
            )
        clean = clip(" ".join(redact(text or "").split()), MAX_SITUATION) or ""
        if not clean:
            raise ValueError("a learned situation needs some text")
        with self.engine.begin() as conn:
            same = conn.execute(
                select(learned_situations.c.id).where(
                    learned_situations.c.team_id == team_id,
                    learned_situations.c.tip_id == tip_id,
                    learned_situations.c.text == clean,
                )
            ).scalar()
            if same is not None:
                return int(same)
            values = {
                "created_at": as_utc(now),
                "team_id": team_id,
                "tip_id": tip_id,
                "text": clean,
                "source": source,
                "created_by": created_by,
            }
            row_id = conn.execute(insert(learned_situations).values(**values)).inserted_primary_key[
                0
            ]
        return int(row_id)

    def learned_situations(self, team_id: str | None = None) -> list[LearnedRow]:
        """A workspace's learned situations (every workspace's with None), oldest first."""
        stmt = select(learned_situations).order_by(
            learned_situations.c.team_id, learned_situations.c.created_at, learned_situations.c.id
        )
        if team_id is not None:
            stmt = stmt.where(learned_situations.c.team_id == team_id)
        with self.engine.connect() as conn:
            return [record_as(LearnedRow, row) for row in conn.execute(stmt)]

    def remove_learned_situation(self, situation_id: int, *, team_id: str | None = None) -> bool:
        """Forget one learned situation (only within ``team_id`` when given); True if it went."""
        stmt = delete(learned_situations).where(learned_situations.c.id == int(situation_id))
        if team_id is not None:
            stmt = stmt.where(learned_situations.c.team_id == team_id)
        with self.engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount)

    # -- questions for the leads ----------------------------------------------------------

    def add_lead_request(
        self,
        *,
        team_id: str | None,
        channel: str,
        user_id: str,
        text: str,
        query_id: int | None = None,
        now: datetime | None = None,
    ) -> int:
        """Keep a rep's question (redacted) before it is posted to the leads channel."""
        linked = query_link(query_id)
        values = {
            "created_at": as_utc(now),
            "team_id": team_id,
            "channel": channel,
            "user_id": user_id,
            "query_id": linked,
            "text": clip(redact(text or ""), MAX_TEXT),
        }
        with self.engine.begin() as conn:
            row_id = conn.execute(insert(lead_requests).values(**values)).inserted_primary_key[0]
        return int(row_id)

    def set_lead_request_ts(self, request_id: int, ts: str) -> None:
        """Slack took the post: its ts is how a lead's threaded reply finds the rep."""
        with self.engine.begin() as conn:
            conn.execute(
                update(lead_requests).where(lead_requests.c.id == int(request_id)).values(ts=ts)
            )

    def forget_lead_request(self, request_id: int) -> None:
        """The post failed: nothing waits for a reply."""
        with self.engine.begin() as conn:
            conn.execute(delete(lead_requests).where(lead_requests.c.id == int(request_id)))

    def lead_request(self, request_id: int) -> LeadRequest | None:
        return self._first_lead_request(lead_requests.c.id == int(request_id))

    def lead_request_for_thread(self, channel: str, ts: str) -> LeadRequest | None:
        """The question a thread in the leads channel is about (None: not one of ours)."""
        return self._first_lead_request(
            lead_requests.c.channel == channel, lead_requests.c.ts == ts
        )

    def lead_request_for_query(self, query_id: int, user_id: str) -> LeadRequest | None:
        """This rep already asked the leads about this answer (a second click asks nothing)."""
        return self._first_lead_request(
            lead_requests.c.query_id == int(query_id),
            lead_requests.c.user_id == user_id,
            lead_requests.c.ts.is_not(None),
        )

    def _first_lead_request(self, *conditions: Any) -> LeadRequest | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(lead_requests).where(*conditions).limit(1)).first()
        return record_as(LeadRequest, row) if row is not None else None
