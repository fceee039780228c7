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

The queue is bounded; an answer that still fails after the last attempt, or that does not
fit, is logged with the request it answered.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("bot.redelivery")

DELAYS = (2.0, 5.0, 15.0, 30.0)
MAX_WAITING = 1000


@dataclass(order=True)
class _Attempt:
    due: float
    order: int
    send: Callable[[], bool] = field(compare=False)
    delivered: Callable[[], bool] = field(compare=False)
    what: dict[str, Any] = field(compare=False)
    tries: int = field(default=0, compare=False)


class Redelivery:
    """One background thread retrying undelivered answers with backoff."""

    def __init__(
        self,
        delays: tuple[float, ...] = DELAYS,
        max_waiting: int = MAX_WAITING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.delays, self.max_waiting, self.clock = delays, max_waiting, clock
        self._queue: list[_Attempt] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.delivered = 0
        self.lost = 0

    def __len__(self) -> int:
        return len(self._queue)

    def schedule(
        self,
        send: Callable[[], bool],
        *,
        delivered: Callable[[], bool] = lambda: False,
        **what: Any,
    ) -> bool:
        """Try ``send`` again later (True: it got through); ``delivered`` says whether an
        earlier attempt did after all. False when the queue is full (the answer is lost)."""
        with self._wake:
            if self._stop or len(self._queue) >= self.max_waiting:
                self.lost += 1
                log.error("answer lost: redelivery queue full or stopped", extra=what)
                return False
            attempt = _Attempt(
                self.clock() + self.delays[0], next(self._order), send, delivered, what
            )
            heapq.heappush(self._queue, attempt)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="redelivery", daemon=True)
                self._thread.start()
            self._wake.notify()
        log.warning("answer not delivered; will retry", extra=what)
        return True

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stop and (not self._queue or self._queue[0].due > self.clock()):
                    timeout = self._queue[0].due - self.clock() if self._queue else None
                    self._wake.wait(timeout)
                if self._stop and not self._queue:
                    return
                attempt = heapq.heappop(self._queue)
            self._try(attempt)

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
            log.info(
                "answer delivered after a retry", extra={**attempt.what, "tries": attempt.tries}
            )
            return
        if attempt.tries >= len(self.delays) or self._stop:
            self.lost += 1
            log.error("answer lost after retries", extra={**attempt.what, "tries": attempt.tries})
            return
        with self._wake:
            attempt.due = self.clock() + self.delays[attempt.tries]
            heapq.heappush(self._queue, attempt)
            self._wake.notify()

    def drain(self, timeout: float) -> int:
        """At shutdown: try everything waiting now, once, within ``timeout``; the rest is
        logged as lost. Returns how many are still undelivered."""
        deadline = self.clock() + timeout
        with self._wake:
            self._stop = True
            waiting, self._queue = self._queue, []
            self._wake.notify_all()
        for attempt in sorted(waiting):
            if self.clock() >= deadline:
                self.lost += 1
                log.error("answer lost at shutdown", extra=attempt.what)
                continue
            attempt.tries = len(self.delays) - 1  # one last try
            self._try(attempt)
        return self.lost
