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
from collections import deque
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
        self._waiting: deque[object] = deque()  # jobs at the gate, first come first
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
        (at most ``max_wait``); returns the seconds waited. Waiting jobs leave in the order
        they came, so answers still go out in the order their requests were acked."""
        started = self.clock()
        deadline = started + self.max_wait
        with self._changed:
            if not self._waiting and self._quiet_at(started):
                return 0.0
            me = object()
            self._waiting.append(me)
            try:
                while True:
                    now = self.clock()
                    if self._waiting[0] is me and (now >= deadline or self._quiet_at(now)):
                        break
                    if self._waiting[0] is not me or self._acking:
                        timeout = deadline - now
                    else:
                        timeout = self._last_arrival + self.quiet - now
                    self._changed.wait(max(0.001, timeout))
            finally:
                self._waiting.remove(me)
                self._changed.notify_all()  # the next in line may go
        return self.clock() - started

    def _quiet_at(self, now: float) -> bool:
        return self._acking == 0 and now >= self._last_arrival + self.quiet


#: This process's requests (the HTTP worker counts them, the work pool waits on them).
PROCESS_ACKS = AckFirst()
