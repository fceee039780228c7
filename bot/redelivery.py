"""Answers Slack could not take right now are delivered later, once, outside the work pool.

When a post fails on the way (Slack unreachable, a 5xx after the client's own retries, a
timeout), the answer is not dropped: it waits here and is tried again after 2, 5, 15 and 30
seconds by one background thread, so no thread that answers reps ever sleeps on it. A
retry never posts twice:

* a ``response_url`` retry *replaces* the message (``replace_original``), so a first
  attempt that did get through is replaced by the same card, not doubled;
* a ``chat.postMessage`` retry first looks at the conversation (its recent history, or the
  thread's replies) for the same message from the bot since the first attempt; found, it
  is done.

With a :class:`Journal` (the shared database) the waiting answer is also *held* there, so
neither a crash nor a restart loses it: the process retrying it holds a lease; when the
lease ends (the process died, stopped, or ran out of quick retries) any process sweeping
the journal claims it, rebuilds it with ``revive`` and goes on, until it is delivered, is
older than ``max_age`` (a ``response_url`` works for 30 minutes) or has had ``max_tries``.
Each held answer is retried by one process at a time, under the same no-double rules.

The in-memory queue is bounded; an answer that still fails after the last attempt, or
that does not fit, is logged with the request it answered.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger("bot.redelivery")

DELAYS = (2.0, 5.0, 15.0, 30.0)
MAX_WAITING = 1000
#: A held answer older than this is given up (Slack's response_url expires at 30 minutes).
MAX_AGE = timedelta(minutes=25)
#: Attempts across every process before a held answer is given up.
MAX_TRIES = 10
#: After the quick retries, a held answer is tried again this much later (by any process).
LATER = timedelta(minutes=2)
#: How long a process owns a held answer it is retrying (longer than the quick retries).
LEASE = timedelta(seconds=90)
#: How often the journal is swept for answers whose lease ended.
SWEEP_EVERY = 30.0

#: Builds (send, delivered) from a held record; None when it can no longer be sent
#: (e.g. the workspace uninstalled the app).
Sender = tuple[Callable[[], bool], Callable[[], bool]]
Reviver = Callable[[dict[str, Any]], Sender | None]


def process_owner() -> str:
    """Who holds a lease: this host and process (readable in the database)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Journal:
    """The held answers in the shared store (``Store.hold_delivery`` and friends)."""

    def __init__(self, store: Any, *, owner: str | None = None, lease: timedelta = LEASE) -> None:
        self.store, self.lease = store, lease
        self.owner = owner or process_owner()

    def hold(self, key: str, team_id: str | None, record: dict[str, Any]) -> None:
        self.store.hold_delivery(
            key, team_id=team_id, record=record, owner=self.owner, lease=self.lease
        )

    def claim(self) -> list[Any]:
        return list(self.store.claim_deliveries(self.owner, lease=self.lease))

    def release(self, key: str, *, attempts: int, retry_at: datetime) -> None:
        self.store.release_delivery(key, attempts=attempts, retry_at=retry_at)

    def forget(self, key: str) -> None:
        self.store.forget_delivery(key)


@dataclass(frozen=True)
class Held:
    """What makes an answer durable: its key, workspace and a record ``revive`` rebuilds."""

    key: str
    team_id: str | None
    record: dict[str, Any]
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(order=True)
class _Attempt:
    due: float
    order: int
    send: Callable[[], bool] = field(compare=False)
    delivered: Callable[[], bool] = field(compare=False)
    what: dict[str, Any] = field(compare=False)
    tries: int = field(default=0, compare=False)
    held: Held | None = field(default=None, compare=False)
    earlier_tries: int = field(default=0, compare=False)  # by other processes


class Redelivery:
    """One background thread retrying undelivered answers with backoff."""

    def __init__(
        self,
        delays: tuple[float, ...] = DELAYS,
        max_waiting: int = MAX_WAITING,
        clock: Callable[[], float] = time.monotonic,
        *,
        journal: Journal | None = None,
        revive: Reviver | None = None,
        sweep_every: float = SWEEP_EVERY,
        max_age: timedelta = MAX_AGE,
        max_tries: int = MAX_TRIES,
        later: timedelta = LATER,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.delays, self.max_waiting, self.clock = delays, max_waiting, clock
        self.sweep_every, self.max_age, self.max_tries, self.later = (
            sweep_every,
            max_age,
            max_tries,
            later,
        )
        self.wall_clock = wall_clock
        self.journal, self.revive = journal, revive
        self._queue: list[_Attempt] = []
        self._to_hold: list[Held] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._next_sweep = 0.0
        self.delivered = 0
        self.lost = 0
        self.handed_on = 0  # left in the journal for a later sweep or the next process

    def __len__(self) -> int:
        return len(self._queue)

    def attach(self, journal: Journal, revive: Reviver) -> None:
        """Make waiting answers durable (the app wires this once it has a Slack client)."""
        with self._wake:
            self.journal, self.revive = journal, revive
            self._next_sweep = 0.0
        self.start()

    def start(self) -> None:
        """Start the background thread (it sweeps the journal at once: answers a previous
        process left behind go out now, not at the next failure)."""
        with self._wake:
            if self._thread is None and not self._stop:
                self._thread = threading.Thread(target=self._run, name="redelivery", daemon=True)
                self._thread.start()
            self._wake.notify()

    def schedule(
        self,
        send: Callable[[], bool],
        *,
        delivered: Callable[[], bool] = lambda: False,
        held: Held | None = None,
        **what: Any,
    ) -> bool:
        """Try ``send`` again later (True: it got through); ``delivered`` says whether an
        earlier attempt did after all; ``held`` makes it survive this process.
        False when it could not be kept at all (the answer is lost)."""
        with self._wake:
            if self._stop or len(self._queue) >= self.max_waiting:
                self.lost += 1
                log.error("answer lost: redelivery queue full or stopped", extra=what)
                return False
            attempt = _Attempt(
                self.clock() + self.delays[0], next(self._order), send, delivered, what, held=held
            )
            heapq.heappush(self._queue, attempt)
            if held is not None and self.journal is not None:
                self._to_hold.append(held)
        self.start()
        log.warning("answer not delivered; will retry", extra=what)
        return True

    # -- the background thread ---------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stop and not self._to_hold and not self._due_now():
                    self._wake.wait(self._wait_time())
                if self._stop:
                    return
                to_hold, self._to_hold = self._to_hold, []
                attempt = heapq.heappop(self._queue) if self._attempt_due() else None
            for held in to_hold:
                self._hold(held)
            if self._sweep_due():
                self._sweep()
            if attempt is not None:
                self._try(attempt)

    def _attempt_due(self) -> bool:
        return bool(self._queue) and self._queue[0].due <= self.clock()

    def _sweep_due(self) -> bool:
        return self.journal is not None and self.clock() >= self._next_sweep

    def _due_now(self) -> bool:
        return self._attempt_due() or self._sweep_due()

    def _wait_time(self) -> float | None:
        waits = []
        if self._queue:
            waits.append(self._queue[0].due - self.clock())
        if self.journal is not None:
            waits.append(self._next_sweep - self.clock())
        return max(0.0, min(waits)) if waits else None

    def _journal(self, action: str, call: Callable[[Journal], object], **what: Any) -> bool:
        journal = self.journal
        if journal is None:
            return False
        try:
            call(journal)
            return True
        except Exception as exc:  # the database is away: memory still has it
            log.warning(
                "redelivery journal unavailable",
                extra={**what, "action": action, "error": type(exc).__name__},
            )
            return False

    def _hold(self, held: Held) -> None:
        self._journal("hold", lambda j: j.hold(held.key, held.team_id, held.record), key=held.key)

    def _sweep(self) -> None:
        """Claim held answers whose lease ended and put them back in the queue."""
        self._next_sweep = self.clock() + self.sweep_every
        claimed: list[Any] = []
        if not self._journal("claim", lambda j: claimed.extend(j.claim())):
            return
        for row in claimed:
            if row.key in self._active_keys():
                continue  # still in this process's queue (its lease ran out meanwhile)
            what = {"key": row.key, "team_id": row.team_id, "tries_before": row.attempts}
            held = Held(row.key, row.team_id, row.record, row.created_at)
            if self._expired(held, row.attempts):
                continue
            sender = None
            if self.revive is not None:
                try:
                    sender = self.revive(row.record)
                except Exception as exc:
                    log.error(
                        "held answer cannot be rebuilt",
                        extra={**what, "error": type(exc).__name__},
                    )
            if sender is None:
                self._journal("forget", lambda j, k=row.key: j.forget(k), key=row.key)
                self.lost += 1
                log.error("held answer lost: it cannot be sent any more", extra=what)
                continue
            send, delivered = sender
            attempt = _Attempt(
                self.clock(),
                next(self._order),
                send,
                delivered,
                what,
                held=held,
                earlier_tries=row.attempts,
            )
            attempt.tries = len(self.delays) - 1  # one try now; then back to the journal
            with self._wake:
                heapq.heappush(self._queue, attempt)
            log.info("held answer taken over for delivery", extra=what)

    def _active_keys(self) -> set[str]:
        with self._wake:
            return {a.held.key for a in self._queue if a.held is not None}

    def _expired(self, held: Held, tries: int) -> bool:
        if self.wall_clock() - held.created_at <= self.max_age and tries < self.max_tries:
            return False
        self._journal("forget", lambda j: j.forget(held.key), key=held.key)
        self.lost += 1
        log.error(
            "answer lost: given up after retries",
            extra={"key": held.key, "team_id": held.team_id, "tries": tries},
        )
        return True

    def _try(self, attempt: _Attempt) -> None:
        attempt.tries += 1
        try:
            done = attempt.delivered() or attempt.send()
        except Exception as exc:  # the retry itself failed: try again later
            done = False
            log.info(
                "redelivery attempt failed", extra={**attempt.what, "error": type(exc).__name__}
            )
        if done:
            self.delivered += 1
            if attempt.held is not None:
                self._journal("forget", lambda j: j.forget(attempt.held.key), key=attempt.held.key)
            log.info(
                "answer delivered after a retry", extra={**attempt.what, "tries": attempt.tries}
            )
            return
        if attempt.tries >= len(self.delays) or self._stop:
            # At shutdown the next process may take it over at once.
            self._give_up_here(attempt, later=timedelta(0) if self._stop else self.later)
            return
        with self._wake:
            attempt.due = self.clock() + self.delays[attempt.tries]
            heapq.heappush(self._queue, attempt)
            self._wake.notify()

    def _give_up_here(self, attempt: _Attempt, *, later: timedelta) -> None:
        """Out of quick retries in this process: back to the journal for later (any
        process), or lost when it is not held or has run out of time and tries."""
        held = attempt.held
        total = attempt.earlier_tries + attempt.tries
        if held is not None and not self._expired(held, total):
            retry_at = self.wall_clock() + later
            if self._journal(
                "release",
                lambda j: j.release(held.key, attempts=total, retry_at=retry_at),
                key=held.key,
            ):
                self.handed_on += 1
                log.warning(
                    "answer still not delivered; held for a later retry",
                    extra={**attempt.what, "tries": total},
                )
                return
        elif held is not None:
            return  # _expired logged and counted it
        self.lost += 1
        log.error("answer lost after retries", extra={**attempt.what, "tries": total})

    def drain(self, timeout: float) -> int:
        """At shutdown: try everything waiting now, once, within ``timeout``; what is held
        in the journal is left there for the next process, the rest is logged as lost.
        Returns how many were lost."""
        deadline = self.clock() + timeout
        with self._wake:
            self._stop = True
            waiting, self._queue = self._queue, []
            to_hold, self._to_hold = self._to_hold, []
            self._wake.notify_all()
        for held in to_hold:
            self._hold(held)
        for attempt in sorted(waiting):
            if self.clock() >= deadline:
                self._give_up_here(attempt, later=timedelta(0))
                continue
            attempt.tries = len(self.delays) - 1  # one last try
            self._try(attempt)
        return self.lost
