"""The part of the store every table group shares: the engine, insert-once, retention."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Insert

from bot.storage.records import (
    EVENT_TTL,
    as_utc,
)
from bot.storage.schema import (
    answered_threads,
    feedback,
    lead_requests,
    learned_situations,
    pending_deliveries,
    processed_events,
    query_log,
    slack_oauth_states,
)
from bot.storage.secrets import TokenCipher

log = logging.getLogger(__name__)


class StoreBase:
    """The engine and the housekeeping every table group of :class:`~bot.storage.store.Store`
    shares."""

    #: Set when a newer release already upgraded the schema: /healthz says so.
    schema_note: str | None = None

    def __init__(
        self, engine: Engine, *, retention_days: int = 90, cipher: TokenCipher | None = None
    ) -> None:
        """Wrap an engine whose schema is already migrated; use :meth:`open` or :meth:`from_url`.
        ``cipher`` encrypts workspace tokens at rest (``COACH_SECRET_KEY``)."""
        self.engine = engine
        self.retention_days = retention_days
        self.cipher = cipher
        self._last_event_purge: datetime | None = None
        self._last_retention_purge: datetime | None = None

    # -- helpers ------------------------------------------------------------------------

    def _insert_ignore(self, table: Any) -> Insert:
        """INSERT that does nothing on a key conflict (no error in the server log)."""
        name = self.engine.dialect.name
        if name == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing()
        if name == "sqlite":
            return sqlite.insert(table).on_conflict_do_nothing()
        return insert(table)

    def _insert_once(self, table: Any, values: dict[str, Any]) -> bool:
        """True if this call inserted the row, False if its key was already there."""
        key = next(iter(table.primary_key.columns))
        stmt = self._insert_ignore(table).values(**values)
        try:
            with self.engine.begin() as conn:
                if self.engine.dialect.insert_returning:
                    # RETURNING says for sure whether a row went in (rowcount may be -1).
                    return conn.execute(stmt.returning(key)).first() is not None
                return conn.execute(stmt).rowcount == 1
        except IntegrityError:  # dialects without ON CONFLICT
            return False

    def _rows_between(
        self, table: Any, start: datetime, end: datetime, team_id: str | None
    ) -> list[Any]:
        """Rows of ``table`` with ``start <= created_at < end``, oldest first; of one
        workspace when ``team_id`` is given (an admin sees only their own reps' text)."""
        stmt = (
            select(table)
            .where(table.c.created_at >= as_utc(start), table.c.created_at < as_utc(end))
            .order_by(table.c.created_at, table.c.id)
        )
        if team_id is not None:
            stmt = stmt.where(table.c.team_id == team_id)
        with self.engine.connect() as conn:
            return list(conn.execute(stmt))

    # -- a workspace that leaves ---------------------------------------------------------

    def delete_workspace_data(self, team_id: str) -> int:
        """Delete everything one workspace's people wrote or were answered: its query log,
        feedback, questions for the leads, learned situations, answered threads and held
        answers (``app_uninstalled``). Returns how many rows went; other workspaces keep
        theirs, and so does the weekly post history (no one's words are in it)."""
        if not team_id:
            raise ValueError("delete_workspace_data needs a team id")
        removed = 0
        with self.engine.begin() as conn:  # children first: feedback and requests link queries
            for table in (
                feedback,
                lead_requests,
                learned_situations,
                answered_threads,
                pending_deliveries,
                query_log,
            ):
                removed += conn.execute(delete(table).where(table.c.team_id == team_id)).rowcount
        return removed

    # -- retention ----------------------------------------------------------------------

    def purge_older_than(self, days: int, now: datetime | None = None) -> int:
        """Delete query log and feedback rows older than ``days``; returns how many went.

        Also drops stale event ids and expired OAuth states, which nobody needs any more.
        Weekly post history is kept: the rotation needs it.
        """
        if days < 1:
            raise ValueError("retention must be at least 1 day")
        moment = as_utc(now)
        cutoff = moment - timedelta(days=days)
        with self.engine.begin() as conn:
            removed = conn.execute(delete(feedback).where(feedback.c.created_at < cutoff)).rowcount
            removed += conn.execute(
                delete(lead_requests).where(lead_requests.c.created_at < cutoff)
            ).rowcount
            removed += conn.execute(
                delete(query_log).where(query_log.c.created_at < cutoff)
            ).rowcount
            conn.execute(
                delete(processed_events).where(processed_events.c.received_at < moment - EVENT_TTL)
            )
            conn.execute(delete(answered_threads).where(answered_threads.c.answered_at < cutoff))
            conn.execute(
                delete(slack_oauth_states).where(
                    slack_oauth_states.c.expire_at
                    < moment.replace(tzinfo=None)  # slack-sdk stores naive UTC
                )
            )
        if removed:
            log.info(
                "retention: deleted %d query log/feedback rows older than %d days", removed, days
            )
        return removed
