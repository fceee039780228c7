"""The store as the bot uses it: a database that is slow, gone or full never costs a rep
their answer.

* Every call on an answer's path (claiming an event, logging the lookup, feedback) runs in
  a small pool of database threads with a deadline (``COACH_DB_TIMEOUT``, default 2 s): a
  hung database costs a rep at most that, then the answer goes out without it. (A frozen
  Postgres keeps connections open and never answers; only a client-side deadline helps.)
* A query-log write that fails or times out is kept in memory — redacted, bounded — and
  written when the database answers again, with its original time; what does not fit is
  counted and reported by ``/healthz``.
* A database that cannot be opened at start-up (unreachable, disk full, schema not yet
  migrated) does not stop the bot: it answers without history, ``/healthz`` says what is
  degraded, and the store is reopened in the background with backoff.

Everything else (App Home's reads, the weekly post, OAuth installs) goes to the store as
it is, and handles its own errors.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError

from bot.privacy import redact, redact_optional
from bot.storage.errors import StorageError

log = logging.getLogger("bot.storage")

DB_THREADS = 4
MAX_PENDING_WRITES = 2000
REOPEN_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


class StorageTimeout(StorageError):
    """The database did not answer within the deadline."""


def unstorable(exc: BaseException) -> bool:
    """The database refused this row for what it holds (bad data, a broken constraint), not
    because it is away: writing it again can never succeed."""
    return isinstance(exc, (DataError, IntegrityError, ValueError, TypeError))


class GuardedStore:
    """A :class:`~bot.storage.Store` behind deadlines, a write-behind queue and reopening."""

    def __init__(
        self,
        opener: Callable[[], Any],
        *,
        fallback: Callable[[], Any] | None = None,
        deadline: float = 2.0,
        max_pending: int = MAX_PENDING_WRITES,
        reopen_delays: Sequence[float] = REOPEN_DELAYS,
        flush_every: float = 5.0,
    ) -> None:
        """``opener`` opens (and migrates or checks) the store; when it fails,
        ``fallback`` gives an unchecked store on the same URL meanwhile (its connections
        are made lazily, so OAuth installs and reads work as soon as the database does)."""
        self.deadline = deadline
        self.max_pending = max_pending
        self.pending: deque[dict[str, Any]] = deque()
        self.dropped = 0
        self.skipped = 0
        self.problem: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="db")
        self._opener = opener
        self._reopen_delays = tuple(reopen_delays) or (60.0,)
        self._flush_every = flush_every
        try:
            self._store = opener()
            self._verified = True
        except StorageError as exc:
            self._verified = False
            self._store = fallback() if fallback is not None else None
            self._degrade(f"cannot open the database at start-up: {exc}")
            threading.Thread(target=self._reopen, name="db-reopen", daemon=True).start()
        self._flusher = threading.Thread(target=self._flush_loop, name="db-flush", daemon=True)
        self._flusher.start()

    # -- health ----------------------------------------------------------------------------

    def _degrade(self, problem: str) -> None:
        if self.problem != problem:
            log.error("storage degraded: %s", problem)
        self.problem = problem

    def _recovered(self) -> None:
        if self.problem is not None:
            log.info("storage recovered", extra={"pending_log_writes": len(self.pending)})
        self.problem = None

    def health(self) -> dict[str, Any]:
        """For /healthz: ``ok``, or ``degraded`` with the reason and what is waiting."""
        report: dict[str, Any] = {"storage": "ok" if self.problem is None else "degraded"}
        note = getattr(self._store, "schema_note", None)
        if note:
            report["schema"] = note
        if self.problem is not None:
            report["storage_problem"] = self.problem[:300]
        if self.pending or self.dropped or self.skipped:
            report["pending_log_writes"] = len(self.pending)
            report["dropped_log_writes"] = self.dropped
            report["skipped_log_writes"] = self.skipped
        return report

    # -- calls with a deadline --------------------------------------------------------------

    def _submit(self, name: str, call: Callable[[Any], Any]) -> Future[Any]:
        store = self._store
        if store is None:
            raise StorageError("the database is not available")
        return self._executor.submit(call, store)

    def _call(self, name: str, call: Callable[[Any], Any], deadline: float | None = None) -> Any:
        deadline = self.deadline if deadline is None else min(deadline, self.deadline)
        future = self._submit(name, call)
        try:
            result = future.result(timeout=deadline)
        except FutureTimeout:
            self._degrade(f"the database did not answer {name} within {deadline:g} s")
            raise StorageTimeout(f"{name} timed out after {deadline:g} s") from None
        except Exception as exc:
            self._degrade(f"{name} failed: {type(exc).__name__}: {str(exc)[:200]}")
            raise
        if self._verified:
            self._recovered()
        return result

    def claim_event(self, event_id: str, *, deadline: float | None = None) -> bool:
        return bool(self._call("claim_event", lambda s: s.claim_event(event_id), deadline))

    def log_query(self, **record: Any) -> int | None:
        """Write one lookup; on failure or timeout keep it (redacted) for later, return None."""
        record = {
            **record,
            "text": redact(record.get("text") or ""),
            "error": redact_optional(record.get("error")),
            "now": record.get("now") or datetime.now(UTC),
        }
        try:
            future = self._submit("log_query", lambda s: s.log_query(**record))
        except StorageError:
            self._keep(record)
            return None
        try:
            result = future.result(timeout=self.deadline)
        except FutureTimeout:
            self._degrade(f"the database did not answer log_query within {self.deadline:g} s")
            # It may still land; if it ends in an error, keep it for later.
            future.add_done_callback(
                lambda f: self._keep_or_skip(record, f.exception()) if f.exception() else None
            )
            return None
        except Exception as exc:
            if not unstorable(exc):
                self._degrade(f"log_query failed: {type(exc).__name__}: {str(exc)[:200]}")
            self._keep_or_skip(record, exc)
            return None
        if self._verified:
            self._recovered()
        return int(result)

    def record_feedback(self, **kwargs: Any) -> int:
        return int(self._call("record_feedback", lambda s: s.record_feedback(**kwargs)))

    def update_feedback_comment(self, feedback_id: int, comment: str) -> None:
        self._call(
            "update_feedback_comment", lambda s: s.update_feedback_comment(feedback_id, comment)
        )

    def learned_situations(self, team_id: str | None = None, *, deadline: float = 0.5) -> list[Any]:
        """On an answer's path (the learned-situations cache refresh, once a minute per
        workspace): a short deadline, since the cache keeps what it knew on failure."""
        return list(
            self._call("learned_situations", lambda s: s.learned_situations(team_id), deadline)
        )

    def query_text(self, query_id: int, *, team_id: str | None) -> str | None:
        return self._call("query_text", lambda s: s.query_text(query_id, team_id=team_id))

    def recent_queries(self, **kwargs: Any) -> list[Any]:
        return list(self._call("recent_queries", lambda s: s.recent_queries(**kwargs)))

    def remember_thread(self, team_id: str | None, channel: str, thread_ts: str) -> None:
        self._call("remember_thread", lambda s: s.remember_thread(team_id, channel, thread_ts))

    def answered_thread(self, team_id: str | None, channel: str, thread_ts: str) -> bool:
        return bool(
            self._call("answered_thread", lambda s: s.answered_thread(team_id, channel, thread_ts))
        )

    def asked_tips(self, **kwargs: Any) -> list[Any]:
        return list(self._call("asked_tips", lambda s: s.asked_tips(**kwargs)))

    # Answers waiting for Slack (bot.redelivery): same deadlines, no write-behind (the
    # redelivery thread keeps them in memory meanwhile).
    def hold_delivery(self, key: str, **kwargs: Any) -> bool:
        return bool(self._call("hold_delivery", lambda s: s.hold_delivery(key, **kwargs)))

    def claim_deliveries(self, owner: str, **kwargs: Any) -> list[Any]:
        return list(self._call("claim_deliveries", lambda s: s.claim_deliveries(owner, **kwargs)))

    def release_delivery(self, key: str, **kwargs: Any) -> None:
        self._call("release_delivery", lambda s: s.release_delivery(key, **kwargs))

    def forget_delivery(self, key: str) -> None:
        self._call("forget_delivery", lambda s: s.forget_delivery(key))

    def __getattr__(self, name: str) -> Any:
        """Everything else (weekly, reports, OAuth stores) goes to the store as it is."""
        store = self.__dict__.get("_store")
        if store is None:
            raise StorageError(f"the database is not available ({self.problem})")
        return getattr(store, name)

    # -- the write-behind queue ---------------------------------------------------------------

    def _keep_or_skip(self, record: dict[str, Any], exc: BaseException) -> None:
        """A failed write is kept for later, unless the database refused its content."""
        if unstorable(exc):
            self._skip(exc)
        else:
            self._keep(record)

    def _skip(self, exc: BaseException) -> None:
        """A row the database refuses for what it holds: retrying it would block every
        row behind it, so it is counted and logged once, and the queue moves on."""
        with self._lock:
            self.skipped += 1
        log.error(
            "query-log row skipped: the database refuses its content",
            extra={"error_type": type(exc).__name__},
        )

    def _keep(self, record: dict[str, Any]) -> None:
        with self._lock:
            if len(self.pending) >= self.max_pending:
                self.pending.popleft()  # the oldest goes: a bounded memory, never a leak
                self.dropped += 1
            self.pending.append(record)

    def flush(self) -> int:
        """Write what is waiting, oldest first; stops at the first failure of the database (a
        row it refuses for its content is skipped). Returns how many were written."""
        written = 0
        while self.pending and self._store is not None and not self._stop.is_set():
            with self._lock:
                if not self.pending:
                    break
                record = self.pending[0]
            try:
                self._submit("log_query", lambda s, r=record: s.log_query(**r)).result(
                    timeout=self.deadline
                )
                written += 1
            except Exception as exc:
                if not unstorable(exc):
                    break  # the database is away: the rest waits for it
                self._skip(exc)
            with self._lock:
                if self.pending and self.pending[0] is record:
                    self.pending.popleft()
        if written:
            log.info("delayed query-log writes written", extra={"written": written})
            if self._verified and not self.pending:
                self._recovered()  # the database answered every write: healthy again
        return written

    def _flush_loop(self) -> None:
        while not self._stop.wait(self._flush_every):
            if self.pending:
                self.flush()

    def _reopen(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            delay = self._reopen_delays[min(attempt, len(self._reopen_delays) - 1)]
            if self._stop.wait(delay):
                return
            attempt += 1
            try:
                store = self._opener()
            except StorageError as exc:
                self._degrade(f"cannot open the database: {exc}")
                continue
            old, self._store, self._verified = self._store, store, True
            if old is not None and old is not store:
                close = getattr(old, "close", None)
                if callable(close):
                    close()
            log.info("database opened after start-up", extra={"attempts": attempt})
            self.flush()
            self._recovered()
            return

    def close(self) -> None:
        """Write what is waiting (briefly), then release threads and connections."""
        if self.pending and self._store is not None:
            started = time.monotonic()
            while self.pending and time.monotonic() - started < self.deadline * 2:
                if not self.flush():
                    break
        if self.pending:
            log.error("query-log writes lost at shutdown", extra={"lost": len(self.pending)})
        self._stop.set()
        self._executor.shutdown(wait=False, cancel_futures=True)
        close = getattr(self._store, "close", None)
        if callable(close):
            close()
