"""Acks first: work after the ack waits (bounded) while the process is still acking.

In a burst the one process acks and answers on the same GIL and cores; answers that start
while connections are still being accepted push Slack's acks past their deadline
(`coach bench --slack`: ack p95 at 100 at once fell from ~270 to ~200 ms with this).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from bot_fixtures import build_deps, make_settings

from bot.ack_first import PROCESS_ACKS, AckFirst
from bot.worker import CoachWorker


def test_with_nothing_to_ack_work_starts_at_once() -> None:
    acks = AckFirst(max_wait=2.0, quiet=0.5)
    assert acks.wait_for_acks() < 0.05


def test_work_waits_until_the_last_request_is_acked() -> None:
    acks = AckFirst(max_wait=5.0, quiet=0.05)
    acks.arrived()
    acks.arrived()
    threading.Timer(0.1, acks.acked).start()
    threading.Timer(0.2, acks.acked).start()
    started = time.monotonic()
    waited = acks.wait_for_acks()
    assert acks.acking == 0
    assert 0.2 - 0.02 <= waited < 2.0  # the quiet counts from the last arrival: already over
    assert time.monotonic() - started == pytest.approx(waited, abs=0.05)


def test_a_request_that_never_finishes_delays_work_by_max_wait_only() -> None:
    acks = AckFirst(max_wait=0.15, quiet=0.01)
    acks.arrived()  # stuck: a slow client, a hung handler
    waited = acks.wait_for_acks()
    assert 0.15 - 0.01 <= waited < 1.0
    assert acks.acking == 1


def test_a_request_that_just_arrived_and_was_acked_still_holds_work_for_the_quiet() -> None:
    """The next connection of a burst is usually still in the accept queue."""
    acks = AckFirst(max_wait=5.0, quiet=0.15)
    acks.arrived()
    acks.acked()
    assert 0.1 <= acks.wait_for_acks() < 2.0


def test_once_the_quiet_has_passed_work_starts_at_once() -> None:
    now = [100.0]
    acks = AckFirst(max_wait=1.0, quiet=0.3, clock=lambda: now[0])
    acks.arrived()
    acks.acked()
    now[0] += 0.5
    assert acks.wait_for_acks() == 0.0


def test_the_count_never_goes_below_zero() -> None:
    acks = AckFirst()
    acks.acked()
    assert acks.acking == 0


class _RunAtOnce:
    """gunicorn's thread pool as if a thread were free: the handler runs in submit()."""

    def __init__(self, shut_down: bool = False) -> None:
        self.shut_down = shut_down
        self.counted: list[int] = []

    def submit(self, handler: Any, conn: Any) -> Future[Any]:
        if self.shut_down:
            raise RuntimeError("cannot schedule new futures after shutdown")
        self.counted.append(PROCESS_ACKS.acking)
        future: Future[Any] = Future()
        try:
            future.set_result(handler(conn))
        except Exception as exc:
            future.set_exception(exc)
        return future


class _Later:
    def defer(self, *args: Any) -> None:
        pass


class _NoSocket:
    """A connection whose handling fails at once (no socket)."""


@pytest.mark.parametrize("shut_down", [False, True])
def test_the_http_worker_counts_a_request_until_it_is_handled_even_when_that_fails(
    shut_down: bool,
) -> None:
    worker = CoachWorker.__new__(CoachWorker)  # no gunicorn arbiter: only the hooks run
    worker.tpool, worker.method_queue = _RunAtOnce(shut_down), _Later()
    before = PROCESS_ACKS.acking
    if shut_down:
        with pytest.raises(RuntimeError):
            worker.enqueue_req(_NoSocket())
    else:
        worker.enqueue_req(_NoSocket())
        assert worker.tpool.counted == [before + 1]  # counted while it was being handled
    assert PROCESS_ACKS.acking == before


def test_a_job_in_the_work_pool_starts_after_the_request_being_acked(tmp_path: Path) -> None:
    deps = build_deps(make_settings(None, tmp_path))
    deps.ack_first = AckFirst(max_wait=5.0, quiet=0.0)
    try:
        started = threading.Event()
        deps.ack_first.arrived()
        deps.run_later("test", started.set)
        assert not started.wait(0.2)  # held while a request is still being acked
        deps.ack_first.acked()
        assert started.wait(2.0)
    finally:
        deps.close()


def test_work_run_inline_at_shutdown_does_not_wait_for_its_own_request(tmp_path: Path) -> None:
    deps = build_deps(make_settings(None, tmp_path))
    deps.ack_first = AckFirst(max_wait=5.0, quiet=0.0)
    deps.close()
    deps.ack_first.arrived()  # the request thread that runs the work itself
    done = threading.Event()
    started = time.monotonic()
    deps.run_later("test", done.set)
    assert done.is_set()
    assert time.monotonic() - started < 1.0


def test_waiting_jobs_leave_in_the_order_they_came() -> None:
    """Answers go out in the order their requests were acked, not in a stampede."""
    acks = AckFirst(max_wait=5.0, quiet=0.0)
    acks.arrived()
    left: list[int] = []
    lock = threading.Lock()

    def job(n: int) -> None:
        acks.wait_for_acks()
        with lock:
            left.append(n)

    threads = []
    for n in range(8):
        thread = threading.Thread(target=job, args=(n,))
        thread.start()
        threads.append(thread)
        deadline = time.monotonic() + 2
        while len(acks._waiting) < n + 1 and time.monotonic() < deadline:
            time.sleep(0.002)  # line them up one after another
    acks.acked()
    for thread in threads:
        thread.join(5)
    assert left == list(range(8))
