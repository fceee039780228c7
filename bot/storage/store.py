"""The store every Tip Coach process shares: one database, nothing shared kept in memory.

De-duplication of Slack events, the (redacted) query log, feedback, the weekly post
claims and slack-sdk's installation and OAuth state stores all live in one SQLAlchemy
database: a SQLite file in the data directory by default, Postgres via ``DATABASE_URL``.
The schema is created and migrated by Alembic when the store opens.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from alembic.util import CommandError
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.sql import Insert

from bot.privacy import redact, redact_optional
from bot.storage import migrate
from bot.storage.engine import display_url, make_engine, normalise_url
from bot.storage.errors import StorageError, UnknownRecord
from bot.storage.schema import (
    answered_threads,
    feedback,
    lead_requests,
    learned_situations,
    pending_deliveries,
    processed_events,
    query_log,
    slack_bots,
    slack_installations,
    slack_oauth_states,
    weekly_posts,
)
from bot.storage.secrets import EncryptedInstallationStore, TokenCipher, rotate_tokens

if TYPE_CHECKING:
    from config.settings import Settings
    from retrieval.models import Answer

log = logging.getLogger(__name__)

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


def token_cipher(settings: Settings) -> TokenCipher | None:
    """The cipher for workspace tokens, from ``COACH_SECRET_KEY`` (None when unset)."""
    key = settings.secret_key
    return TokenCipher.from_setting(key.get_secret_value()) if key is not None else None


def _now(now: datetime | None) -> datetime:
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


def _query_row(row: Any) -> QueryRow:
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


def _feedback_row(row: Any) -> FeedbackRow:
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


def _record(kind: type[R], row: Any) -> R:
    """A row as ``kind``, a dataclass whose fields are the row's columns by name."""
    return kind(**{item.name: getattr(row, item.name) for item in fields(kind)})  # type: ignore[call-arg]


def _weekly_row(row: Any) -> WeeklyRow:
    return WeeklyRow(
        channel=row.channel,
        week_key=row.week_key,
        tip_id=row.tip_id,
        owner=row.owner,
        status=row.status,
        claimed_at=row.claimed_at,
        posted_at=row.posted_at,
        ts=row.ts,
    )


def _tier(answer: Answer | None) -> str | None:
    """How the lookup was answered; an off-topic decline is kept apart from a content gap."""
    if answer is None:
        return None
    if answer.off_topic:
        return "offtopic"
    return str(answer.tier or ("confident" if answer.answered else "decline"))[:16]


def _query_link(query_id: int | None) -> Any:
    """The query-log row ``query_id`` as a foreign-key value: NULL when it is gone (an old
    button may name a purged row), so the feedback or request is kept without the link."""
    if query_id is None:
        return None
    return select(query_log.c.id).where(query_log.c.id == int(query_id)).scalar_subquery()


def _clip(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _ids(values: Sequence[str]) -> list[str]:
    if isinstance(values, str):  # a lone id passed where a list was meant
        return [values]
    return [str(v) for v in values]


def _reason(exc: Exception) -> str:
    """The driver's first line about a database error (what an operator can act on)."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__


class Store:
    """Shared state of all Tip Coach processes: open with :meth:`open` or :meth:`from_url`.

    Every method is one short transaction, safe to call from many threads and processes;
    the only in-memory state is when this process last ran its opportunistic clean-ups.
    """

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

    # -- opening ------------------------------------------------------------------------

    @classmethod
    def open(cls, settings: Settings) -> Store:
        """The store for ``settings.database_url``: schema upgraded when ``COACH_AUTO_MIGRATE``
        is on, else checked to be current (the release phase ran ``coach migrate``)."""
        store = cls.from_url(
            settings.database_url,
            retention_days=settings.retention_days,
            migrate_schema=settings.auto_migrate,
            pool_size=settings.db_pool_size,
            timeout=settings.db_timeout,
        )
        store.cipher = token_cipher(settings)
        return store

    @classmethod
    def from_url(
        cls,
        url: str | URL,
        *,
        retention_days: int = 90,
        migrate_schema: bool = True,
        pool_size: int = 5,
        timeout: float = 10.0,
    ) -> Store:
        """The store for an explicit SQLAlchemy URL (``postgres://`` accepted)."""
        if retention_days < 1:
            raise StorageError(
                "COACH_RETENTION_DAYS must be at least 1 (days of query log to keep)."
            )
        parsed = normalise_url(url)
        engine = make_engine(parsed, pool_size=pool_size, timeout=timeout)
        if not migrate_schema:
            cls._require_current_schema(engine, parsed)
        else:
            try:
                migrate.upgrade(engine)
            except OperationalError as exc:
                engine.dispose()
                raise StorageError(
                    f"Cannot open the database {display_url(parsed)} ({_reason(exc)}). "
                    "Check DATABASE_URL (or COACH_DATA_DIR for the default SQLite file)."
                ) from None
            except SQLAlchemyError as exc:
                engine.dispose()
                raise StorageError(
                    f"Cannot create or upgrade the schema in {display_url(parsed)} "
                    f"({_reason(exc)})."
                ) from exc
            except CommandError as exc:  # e.g. a revision this (older) code does not know
                engine.dispose()
                raise StorageError(
                    f"The database {display_url(parsed)} has a schema this version of Tip Coach "
                    f"does not know ({exc}); it was probably upgraded by a newer release. "
                    "Run the newer release, or point DATABASE_URL at another database."
                ) from None
        return cls(engine, retention_days=retention_days)

    @staticmethod
    def _require_current_schema(engine: Engine, url: URL) -> None:
        """Without auto-migration, refuse a database the release phase has not upgraded."""
        try:
            current = migrate.current_revision(engine)
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StorageError(
                f"Cannot open the database {display_url(url)} ({_reason(exc)}). Check DATABASE_URL."
            ) from None
        head = migrate.head_revision()
        if current != head:
            engine.dispose()
            raise StorageError(
                f"The database {display_url(url)} is at schema {current or 'none'}, this release "
                f"needs {head}: run `coach migrate` (the release phase does), or set "
                "COACH_AUTO_MIGRATE=true."
            )

    def close(self) -> None:
        """Release pooled connections (the database itself is untouched)."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({display_url(self.engine.url)!r})"

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

    # -- Slack event de-duplication -----------------------------------------------------

    def claim_event(self, event_id: str, *, now: datetime | None = None) -> bool:
        """True exactly once per ``event_id`` across every process sharing the database."""
        if not event_id or not event_id.strip():
            raise ValueError("claim_event needs a non-empty Slack event id")
        key = event_id.strip()
        if len(key) > 255:
            key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
        moment = _now(now)
        claimed = self._insert_once(processed_events, {"event_id": key, "received_at": moment})
        if self._last_event_purge is None or moment - self._last_event_purge >= PURGE_EVERY:
            self._last_event_purge = moment
            self.purge_events(now=moment)
        return claimed

    def purge_events(
        self, *, older_than: timedelta = EVENT_TTL, now: datetime | None = None
    ) -> int:
        """Forget processed event ids older than ``older_than``; Slack stopped retrying them."""
        cutoff = _now(now) - older_than
        with self.engine.begin() as conn:
            return conn.execute(
                delete(processed_events).where(processed_events.c.received_at < cutoff)
            ).rowcount

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
        moment = _now(now)
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
            "text": _clip(redact(text or ""), MAX_TEXT),
            "answered": answered,
            "confidence": float(answer.confidence) if answer is not None else None,
            "tip_id": tip_id,
            "nearest_tip_id": nearest_id,
            "nearest_title": _clip(nearest_title, 300),
            "chunk_ids": chunk_ids,
            "suggestion_ids": suggestion_ids,
            "latency_ms": float(latency_ms),
            "error": _clip(redact_optional(error), MAX_ERROR),
            "tier": _tier(answer),
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
            return [_query_row(row) for row in conn.execute(stmt)]

    def queries_between(
        self, start: datetime, end: datetime, *, team_id: str | None = None
    ) -> list[QueryRow]:
        """Every lookup with ``start <= created_at < end``, oldest first (for reports).

        ``team_id`` limits it to one workspace (an admin sees only their own reps' text).
        """
        stmt = (
            select(query_log)
            .where(query_log.c.created_at >= _now(start), query_log.c.created_at < _now(end))
            .order_by(query_log.c.created_at, query_log.c.id)
        )
        if team_id is not None:
            stmt = stmt.where(query_log.c.team_id == team_id)
        with self.engine.connect() as conn:
            return [_query_row(row) for row in conn.execute(stmt)]

    def lookups_per_tip(
        self, since: datetime, until: datetime | None = None, *, team_id: str | None = None
    ) -> dict[str, int]:
        """How often each tip was the answer in a period (the weekly post's "reps asked ...")."""
        conditions = [
            query_log.c.created_at >= _now(since),
            query_log.c.answered.is_(True),
            query_log.c.tip_id.is_not(None),
        ]
        if until is not None:
            conditions.append(query_log.c.created_at < _now(until))
        if team_id is not None:
            conditions.append(query_log.c.team_id == team_id)
        stmt = (
            select(query_log.c.tip_id, func.count()).where(*conditions).group_by(query_log.c.tip_id)
        )
        with self.engine.connect() as conn:
            return {tip: int(count) for tip, count in conn.execute(stmt)}

    def frequent_queries(
        self, *, team_id: str, since: datetime, limit: int = 50
    ) -> list[tuple[str, int]]:
        """One workspace's most asked situations since ``since`` as (redacted text, count),
        most often first: answered lookups only, "Next best tip" re-asks not counted.

        Grouped in SQL, so the assistant's suggested prompts never load a week of rows.
        """
        count = func.count().label("n")
        stmt = (
            select(query_log.c.text, count)
            .where(
                query_log.c.team_id == team_id,
                query_log.c.created_at >= _now(since),
                query_log.c.answered.is_(True),
                query_log.c.surface != "button",
            )
            .group_by(query_log.c.text)
            .order_by(count.desc(), func.max(query_log.c.created_at).desc(), query_log.c.text)
            .limit(max(0, limit))
        )
        with self.engine.connect() as conn:
            return [(str(text), int(n)) for text, n in conn.execute(stmt)]

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
        comment = _clip(redact_optional(comment.strip() if comment else None) or None, MAX_COMMENT)
        linked = _query_link(query_id)
        values = {
            "created_at": _now(now),
            "team_id": team_id,
            "user_id": user_id,
            "query_id": linked,
            "tip_id": tip_id,
            "chunk_ids": _ids(chunk_ids),
            "helpful": bool(helpful),
            "comment": comment,
        }
        with self.engine.begin() as conn:
            earlier = self._vote_of(conn, team_id, user_id, query_id, tip_id)
            if earlier is not None:  # one vote per person per answer: the new one replaces it
                change: dict[str, Any] = {"helpful": bool(helpful), "created_at": _now(now)}
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
        return _feedback_row(row) if row is not None else None

    def query_by_id(self, query_id: int, *, team_id: str | None = None) -> QueryRow | None:
        """One logged lookup; with ``team_id``, only that workspace's (never another's text)."""
        stmt = select(query_log).where(query_log.c.id == int(query_id))
        if team_id is not None:
            stmt = stmt.where(query_log.c.team_id == team_id)
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return _query_row(row) if row is not None else None

    def teachable_queries(
        self, *, team_id: str | None, since: datetime, limit: int = 8
    ) -> list[QueryRow]:
        """Recent questions worth teaching, newest first, one per text: declined ones (not
        off-topic) and answers someone gave a 👎 (App Home's gap list)."""
        downvoted = select(feedback.c.query_id).where(
            feedback.c.helpful.is_(False), feedback.c.query_id.is_not(None)
        )
        stmt = (
            select(query_log)
            .where(
                query_log.c.created_at >= _now(since),
                or_(
                    and_(query_log.c.answered.is_(False), query_log.c.tier == "decline"),
                    query_log.c.id.in_(downvoted),
                ),
            )
            .order_by(query_log.c.created_at.desc(), query_log.c.id.desc())
            .limit(max(0, limit) * 4)
        )
        if team_id is not None:
            stmt = stmt.where(query_log.c.team_id == team_id)
        seen: set[str] = set()
        rows: list[QueryRow] = []
        with self.engine.connect() as conn:
            for raw in conn.execute(stmt):
                row = _query_row(raw)
                key = " ".join(row.text.lower().split())
                if key and key not in seen:
                    seen.add(key)
                    rows.append(row)
        return rows[: max(0, limit)]

    def update_feedback_comment(self, feedback_id: int, comment: str) -> None:
        """Attach the 👎 modal's "what was wrong" text (redacted) to earlier feedback."""
        text = _clip(redact(comment.strip()) if comment and comment.strip() else None, MAX_COMMENT)
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
        stmt = (
            select(feedback)
            .where(feedback.c.created_at >= _now(start), feedback.c.created_at < _now(end))
            .order_by(feedback.c.created_at, feedback.c.id)
        )
        if team_id is not None:
            stmt = stmt.where(feedback.c.team_id == team_id)
        with self.engine.connect() as conn:
            return [_feedback_row(row) for row in conn.execute(stmt)]

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
        clean = _clip(" ".join(redact(text or "").split()), MAX_SITUATION) or ""
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
                "created_at": _now(now),
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
            return [_record(LearnedRow, row) for row in conn.execute(stmt)]

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
        linked = _query_link(query_id)
        values = {
            "created_at": _now(now),
            "team_id": team_id,
            "channel": channel,
            "user_id": user_id,
            "query_id": linked,
            "text": _clip(redact(text or ""), MAX_TEXT),
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
        with self.engine.connect() as conn:
            row = conn.execute(
                select(lead_requests).where(lead_requests.c.id == int(request_id))
            ).first()
        return _record(LeadRequest, row) if row is not None else None

    def lead_request_for_thread(self, channel: str, ts: str) -> LeadRequest | None:
        """The question a thread in the leads channel is about (None: not one of ours)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(lead_requests)
                .where(lead_requests.c.channel == channel, lead_requests.c.ts == ts)
                .limit(1)
            ).first()
        return _record(LeadRequest, row) if row is not None else None

    def lead_request_for_query(self, query_id: int, user_id: str) -> LeadRequest | None:
        """This rep already asked the leads about this answer (a second click asks nothing)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(lead_requests)
                .where(
                    lead_requests.c.query_id == int(query_id),
                    lead_requests.c.user_id == user_id,
                    lead_requests.c.ts.is_not(None),
                )
                .limit(1)
            ).first()
        return _record(LeadRequest, row) if row is not None else None

    # -- retention ----------------------------------------------------------------------

    def purge_older_than(self, days: int, now: datetime | None = None) -> int:
        """Delete query log and feedback rows older than ``days``; returns how many went.

        Also drops stale event ids and expired OAuth states, which nobody needs any more.
        Weekly post history is kept: the rotation needs it.
        """
        if days < 1:
            raise ValueError("retention must be at least 1 day")
        moment = _now(now)
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

    # -- weekly posts -------------------------------------------------------------------

    def claim_weekly(
        self,
        *,
        channel: str,
        week_key: str,
        tip_id: str,
        owner: str,
        now: datetime,
        lease: timedelta = DEFAULT_WEEKLY_LEASE,
    ) -> bool:
        """Claim (channel, week) before posting: True for exactly one claimant.

        A claim that was never confirmed (its process died mid-post) can be taken over once
        it is older than ``lease``; a posted week can never be claimed again. ``owner``
        should identify the process (host:pid) for the logs.
        """
        moment = _now(now)
        if self._insert_once(
            weekly_posts,
            {
                "channel": channel,
                "week_key": week_key,
                "tip_id": tip_id,
                "owner": owner,
                "status": "claimed",
                "claimed_at": moment,
            },
        ):
            return True
        takeover = (
            update(weekly_posts)
            .where(
                weekly_posts.c.channel == channel,
                weekly_posts.c.week_key == week_key,
                weekly_posts.c.status == "claimed",
                weekly_posts.c.claimed_at < moment - lease,
            )
            .values(owner=owner, tip_id=tip_id, claimed_at=moment)
        )
        with self.engine.begin() as conn:
            taken = conn.execute(takeover).rowcount == 1
        if taken:
            log.warning(
                "weekly: took over a stale claim for %s %s (owner %s)", channel, week_key, owner
            )
        return taken

    def mark_weekly_posted(self, *, channel: str, week_key: str, ts: str, now: datetime) -> None:
        """Slack confirmed the post: the week is done for this channel."""
        stmt = (
            update(weekly_posts)
            .where(weekly_posts.c.channel == channel, weekly_posts.c.week_key == week_key)
            .values(status="posted", ts=ts, posted_at=_now(now))
        )
        with self.engine.begin() as conn:
            if conn.execute(stmt).rowcount == 0:
                raise UnknownRecord(f"No weekly claim for {channel} {week_key} to mark as posted.")

    def release_weekly(self, *, channel: str, week_key: str) -> None:
        """Free an unconfirmed claim after a failed post, so a later run can post the week."""
        stmt = delete(weekly_posts).where(
            weekly_posts.c.channel == channel,
            weekly_posts.c.week_key == week_key,
            weekly_posts.c.status == "claimed",
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def weekly_posts(self, channel: str) -> list[WeeklyRow]:
        """A channel's weekly history (claimed and posted), oldest week first."""
        stmt = (
            select(weekly_posts)
            .where(weekly_posts.c.channel == channel)
            .order_by(weekly_posts.c.week_key)
        )
        with self.engine.connect() as conn:
            return [_weekly_row(row) for row in conn.execute(stmt)]

    # -- Slack installations (multi-workspace) ------------------------------------------

    # -- threads the bot answered in -----------------------------------------------------

    def remember_thread(
        self, team_id: str | None, channel: str, thread_ts: str, *, now: datetime | None = None
    ) -> None:
        """The bot replied in this thread: its later messages are follow-ups."""
        self._insert_once(
            answered_threads,
            {
                "team_id": team_id or "",
                "channel": channel,
                "thread_ts": thread_ts,
                "answered_at": _now(now),
            },
        )

    def answered_thread(self, team_id: str | None, channel: str, thread_ts: str) -> bool:
        """Did the bot reply in this thread (any process, within the retention period)?"""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(answered_threads.c.thread_ts).where(
                    answered_threads.c.team_id == (team_id or ""),
                    answered_threads.c.channel == channel,
                    answered_threads.c.thread_ts == thread_ts,
                )
            ).first()
        return row is not None

    # -- answers waiting for Slack ------------------------------------------------------

    def hold_delivery(
        self,
        key: str,
        *,
        team_id: str | None,
        record: dict[str, Any],
        owner: str,
        lease: timedelta,
        now: datetime | None = None,
    ) -> bool:
        """Keep an undelivered answer until it is delivered; ``owner`` retries it until the
        lease ends, then any process may. False when the same answer is already held."""
        moment = _now(now)
        return self._insert_once(
            pending_deliveries,
            {
                "key": key,
                "created_at": moment,
                "team_id": team_id,
                "owner": owner,
                "lease_until": moment + lease,
                "attempts": 0,
                "record": record,
            },
        )

    def claim_deliveries(
        self, owner: str, *, lease: timedelta, limit: int = 20, now: datetime | None = None
    ) -> list[PendingDelivery]:
        """Take over held answers whose lease ended (their process died or gave up for now),
        oldest first; each is claimed by exactly one process."""
        moment = _now(now)
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(pending_deliveries)
                .where(pending_deliveries.c.lease_until < moment)
                .order_by(pending_deliveries.c.created_at)
                .limit(limit)
            ).all()
        claimed: list[PendingDelivery] = []
        for row in rows:
            with self.engine.begin() as conn:
                taken = conn.execute(
                    update(pending_deliveries)
                    .where(
                        pending_deliveries.c.key == row.key,
                        pending_deliveries.c.lease_until < moment,  # nobody took it meanwhile
                    )
                    .values(owner=owner, lease_until=moment + lease)
                ).rowcount
            if taken == 1:
                claimed.append(
                    PendingDelivery(
                        row.key, row.team_id, row.created_at, int(row.attempts), dict(row.record)
                    )
                )
        return claimed

    def release_delivery(self, key: str, *, attempts: int, retry_at: datetime) -> None:
        """Not delivered yet: any process may try again from ``retry_at``."""
        with self.engine.begin() as conn:
            conn.execute(
                update(pending_deliveries)
                .where(pending_deliveries.c.key == key)
                .values(attempts=attempts, lease_until=retry_at)
            )

    def forget_delivery(self, key: str) -> None:
        """Delivered (or given up on): drop it."""
        with self.engine.begin() as conn:
            conn.execute(delete(pending_deliveries).where(pending_deliveries.c.key == key))

    def pending_delivery_count(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(select(func.count()).select_from(pending_deliveries)).scalar_one()
            )

    def installation_store(self, client_id: str) -> SQLAlchemyInstallationStore:
        """slack-sdk's installation store on this database (tables made by our migrations),
        tokens encrypted at rest when a key is configured."""
        if self.cipher is not None:
            return EncryptedInstallationStore(
                self.cipher, client_id=client_id, engine=self.engine, logger=log
            )
        return SQLAlchemyInstallationStore(client_id=client_id, engine=self.engine, logger=log)

    def rotate_secrets(self) -> int:
        """Re-encrypt every stored workspace token with the first key of COACH_SECRET_KEY."""
        if self.cipher is None:
            raise StorageError("COACH_SECRET_KEY is not set: there is no key to encrypt with.")
        return rotate_tokens(self.engine, self.cipher, (slack_installations, slack_bots))

    def oauth_state_store(self, expiration_seconds: int = 600) -> SQLAlchemyOAuthStateStore:
        """slack-sdk's OAuth state store on this database, shared by every web process."""
        return SQLAlchemyOAuthStateStore(
            expiration_seconds=expiration_seconds, engine=self.engine, logger=log
        )

    def delete_installation(self, team_id: str | None, enterprise_id: str | None = None) -> int:
        """Delete a workspace's (or org's) tokens: ``app_uninstalled``/``tokens_revoked``.

        Removes every installation and bot row of that team for every client id; returns
        how many rows went.
        """
        if team_id is None and enterprise_id is None:
            raise ValueError("delete_installation needs a team id or an enterprise id")
        removed = 0
        with self.engine.begin() as conn:
            for table in (slack_installations, slack_bots):
                conditions = []
                if team_id is not None:
                    conditions.append(table.c.team_id == team_id)
                if enterprise_id is not None:
                    conditions.append(table.c.enterprise_id == enterprise_id)
                else:
                    conditions.append(
                        or_(table.c.enterprise_id.is_(None), table.c.enterprise_id == "")
                    )
                removed += conn.execute(delete(table).where(and_(*conditions))).rowcount
        return removed
