"""Answer once: a bounded in-process memory of requests already taken.

Slack re-delivers an event it thinks failed, and a signed request can be replayed within
its 5-minute window. The shared store (``Store.claim_event``) makes that "once" hold
across processes; this memory makes it hold inside one process even when the database
is down, full or hung, and costs a dictionary lookup. Keys expire after ``ttl`` seconds
(longer than Slack's retry window) and the oldest are dropped beyond ``capacity``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

#: Slack retries an event for about an hour at most; replays are bounded by the 5-minute
#: signature window.
DEFAULT_TTL = 3600.0
#: Where a request's replay key rides in Bolt's context, for the shared claim after the ack.
REPLAY_KEY = "coach_replay_key"
DEFAULT_CAPACITY = 50_000


class RecentKeys:
    """Thread-safe set of recently seen keys, bounded in size and age."""

    def __init__(
        self,
        ttl: float = DEFAULT_TTL,
        capacity: int = DEFAULT_CAPACITY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl, self.capacity, self.clock = ttl, capacity, clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, key: str) -> bool:
        """True the first time ``key`` is offered (within ``ttl``); False for a repeat."""
        now = self.clock()
        with self._lock:
            while self._seen:
                oldest, at = next(iter(self._seen.items()))
                if now - at <= self.ttl and len(self._seen) < self.capacity:
                    break
                del self._seen[oldest]
            if key in self._seen:
                return False
            self._seen[key] = now
            return True

    def forget(self, key: str) -> None:
        with self._lock:
            self._seen.pop(key, None)

    def __len__(self) -> int:
        return len(self._seen)


def request_key(timestamp: str, signature: str) -> str:
    """A replay of a signed request carries the very same timestamp and signature."""
    return "req:" + hashlib.sha256(f"{timestamp}:{signature}".encode()).hexdigest()[:40]
