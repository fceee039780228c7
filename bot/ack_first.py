"""Acks first: work after the ack waits while the process still has requests to ack.

Slack gives a request 3 seconds to be acked and retries it (or shows the rep an error)
when it is late; an answer has no such clock. In one process both compete for the same GIL
and cores, and in a burst the acks used to wait behind other reps' lookups: gunicorn's
one accepting thread got the GIL a slice at a time. The HTTP worker counts each request
from the moment it is handed to a thread until it has been answered; a job in the work
pool starts only once none is left and none has arrived for ``quiet`` seconds (the next
connection of a burst is usually still in the accept queue), and never waits longer than
``max_wait``, so a steady stream of requests cannot starve the answers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: The longest one job waits for the acks (seconds).
MAX_WAIT_SECONDS = 0.3
#: How long after the last arrival the process counts as quiet (seconds).
QUIET_SECONDS = 0.02


class AckFirst:
    """Counts requests being acked; lets work wait (bounded) until the acks are done."""

    def __init__(
        self,
        *,
        max_wait: float = MAX_WAIT_SECONDS,
        quiet: float = QUIET_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_wait, self.quiet, self.clock = max_wait, quiet, clock
        self._acking = 0
        self._last_arrival = float("-inf")
        self._changed = threading.Condition()

    @property
    def acking(self) -> int:
        """Requests handed to a thread and not yet answered."""
        return self._acking

    def arrived(self) -> None:
        with self._changed:
            self._acking += 1
            self._last_arrival = self.clock()

    def acked(self) -> None:
        with self._changed:
            self._acking = max(0, self._acking - 1)
            self._changed.notify_all()

    def wait_for_acks(self) -> float:
        """Block until no request is being acked and none arrived for ``quiet`` seconds
        (at most ``max_wait``); returns the seconds waited."""
        started = self.clock()
        deadline = started + self.max_wait
        with self._changed:
            while True:
                now = self.clock()
                if now >= deadline:
                    break
                if self._acking == 0:
                    quiet_left = self._last_arrival + self.quiet - now
                    if quiet_left <= 0:
                        break
                    self._changed.wait(min(quiet_left, deadline - now))
                else:
                    self._changed.wait(deadline - now)
        return self.clock() - started


#: This process's requests (the HTTP worker counts them, the work pool waits on them).
PROCESS_ACKS = AckFirst()
