"""A database that is slow, gone or full never costs a rep their answer (bot.storage.guard)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from bot.deps import Deps
from bot.storage.errors import StorageError
from bot.storage.guard import GuardedStore


class FlakyStore:
    """A store whose calls hang, fail or work, as the test says."""

    def __init__(self) -> None:
        self.mode = "ok"  # "ok" | "hang" | "fail"
        self.release = threading.Event()
        self.rows: list[dict[str, Any]] = []
        self.claims: set[str] = set()
        self.closed = False

    def _gate(self) -> None:
        if self.mode == "hang":
            self.release.wait(10)
            raise StorageError("connection lost while frozen")
        if self.mode == "fail":
            raise StorageError("database is down")

    def log_query(self, **record: Any) -> int:
        self._gate()
        self.rows.append(record)
        return len(self.rows)

    def claim_event(self, event_id: str) -> bool:
        self._gate()
        if event_id in self.claims:
            return False
        self.claims.add(event_id)
        return True

    def weekly_posts(self, channel: str) -> list[Any]:
        return []

    def close(self) -> None:
        self.closed = True


def record(text: str = "customer jane.doe@example.com wants a refund") -> dict[str, Any]:
    return {
        "team_id": "T1",
        "user_id": "U1",
        "surface": "dm",
        "text": text,
        "answer": None,
        "latency_ms": 3.0,
    }


def test_a_hung_database_costs_the_deadline_then_the_write_is_kept_and_flushed() -> None:
    inner = FlakyStore()
    guard = GuardedStore(lambda: inner, deadline=0.2, flush_every=3600)
    inner.mode = "hang"
    started = time.monotonic()
    assert guard.log_query(**record()) is None  # the answer goes out without its log row
    assert time.monotonic() - started < 1.0
    assert guard.health()["storage"] == "degraded"
    inner.release.set()  # the frozen connection finally errors: the write is kept
    deadline = time.monotonic() + 2
    while not guard.pending and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(guard.pending) == 1 and "[email]" in guard.pending[0]["text"]  # kept redacted
    inner.mode = "ok"
    assert guard.flush() == 1 and guard.pending == deque_empty()
    assert inner.rows[0]["text"].startswith("customer [email]")
    assert inner.rows[0]["now"] is not None  # written with its original time
    assert guard.log_query(**record()) == 2 and guard.health() == {"storage": "ok"}
    guard.close()


def deque_empty() -> Any:
    from collections import deque

    return deque()


def test_a_row_the_database_refuses_is_skipped_once_and_never_blocks_the_queue() -> None:
    from sqlalchemy.exc import DataError

    class Picky(FlakyStore):
        def log_query(self, **record: Any) -> int:
            self._gate()
            if "poison" in record["text"]:
                raise DataError("INSERT", {}, Exception("cannot store this row"))
            return super().log_query(**record)

    inner = Picky()
    guard = GuardedStore(lambda: inner, deadline=0.2, flush_every=3600)
    assert guard.log_query(**record("poison now")) is None  # refused at once: not kept
    assert not guard.pending
    inner.mode = "fail"  # the database goes away; the queue fills, a bad row in the middle
    for text in ("first", "poison later", "third"):
        assert guard.log_query(**record(text)) is None
    assert len(guard.pending) == 3
    inner.mode = "ok"
    assert guard.flush() == 2
    assert [r["text"] for r in inner.rows] == ["first", "third"] and not guard.pending
    assert guard.skipped == 2 and guard.health()["skipped_log_writes"] == 2
    guard.close()


def test_failed_writes_are_bounded_and_counted() -> None:
    inner = FlakyStore()
    guard = GuardedStore(lambda: inner, deadline=0.2, max_pending=3, flush_every=3600)
    inner.mode = "fail"
    for n in range(5):
        assert guard.log_query(**record(f"lookup {n}")) is None
    assert [r["text"] for r in guard.pending] == ["lookup 2", "lookup 3", "lookup 4"]
    health = guard.health()
    assert health["pending_log_writes"] == 3 and health["dropped_log_writes"] == 2
    guard.close()


def test_a_database_missing_at_start_up_degrades_then_recovers() -> None:
    inner = FlakyStore()
    attempts: list[int] = []

    def opener() -> FlakyStore:
        attempts.append(1)
        if len(attempts) < 3:
            raise StorageError("could not connect to server")
        return inner

    guard = GuardedStore(opener, deadline=0.2, reopen_delays=(0.05,), flush_every=3600)
    assert guard.health()["storage"] == "degraded"
    assert "could not connect" in guard.health()["storage_problem"]
    assert guard.log_query(**record()) is None and len(guard.pending) == 1
    deadline = time.monotonic() + 3
    while guard.health()["storage"] != "ok" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert guard.health() == {"storage": "ok"} and len(inner.rows) == 1  # flushed on reopen
    assert guard.weekly_posts("C1") == []  # other calls reach the reopened store
    guard.close()
    assert inner.closed


def test_without_any_store_other_calls_say_so() -> None:
    def opener() -> Any:
        raise StorageError("disk full")

    guard = GuardedStore(opener, deadline=0.1, reopen_delays=(3600,))
    with pytest.raises(StorageError, match="not available"):
        guard.weekly_posts("C1")
    guard.close()


def test_events_are_answered_once_per_process_while_the_database_is_down(tmp_path: Any) -> None:
    from bot_fixtures import make_settings, shared_coach

    from bot.deps import CoachProvider
    from bot.listeners.common import claim_event_once

    inner = FlakyStore()
    inner.mode = "fail"
    guard = GuardedStore(lambda: inner, deadline=0.1, flush_every=3600)
    deps = Deps(
        settings=make_settings(None, tmp_path),
        coach=CoachProvider.ready_with(shared_coach()),
        store=guard,
    )
    body = {"event_id": "Ev0RETRY01"}
    assert claim_event_once(deps, body) is True  # the database is down: answered anyway...
    assert claim_event_once(deps, body) is False  # ...but Slack's retry is not answered twice
    inner.mode = "ok"
    assert claim_event_once(deps, {"event_id": "Ev0OTHER01"}) is True
    assert "Ev0OTHER01" in inner.claims  # the shared claim resumes once the database is back
    deps.close()
