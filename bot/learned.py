"""Situations a workspace's leads taught, ready for ``Coach.answer(..., situations=...)``.

Retrieval knows nothing of workspaces or databases: the bot hands it the caller's learned
situations as vectors. This cache keeps the hot path cheap: per workspace, the store is
read at most every :data:`REFRESH_SECONDS` (so another process's new situation is matched
within a minute), and each (text, tip) is encoded once per coach, not once per question.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bot.logs import log_fields
from retrieval.search import ExtraSituations

log = logging.getLogger("bot.learned")

#: Longest a workspace's learned situations are served from memory before a re-read.
REFRESH_SECONDS = 60.0


@dataclass(frozen=True)
class _Entry:
    read_at: float
    situations: ExtraSituations | None


class LearnedCache:
    """Per-workspace learned situations, refreshed lazily; safe to share across threads."""

    def __init__(
        self,
        refresh_seconds: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._vectors: dict[tuple[str, str], np.ndarray] = {}
        self._coach_id: int | None = None  # vectors belong to one coach's encoder

    def invalidate(self, team_id: str | None) -> None:
        """Re-read this workspace on its next question (this process just taught it)."""
        with self._lock:
            self._entries.pop(team_id or "", None)

    def for_team(self, store: Any, coach: Any, team_id: str | None) -> ExtraSituations | None:
        """The workspace's learned situations as vectors; None when it has none (or the
        coach cannot take them). A store failure keeps what was known and is retried later."""
        if not team_id or not callable(getattr(coach, "situations", None)):
            return None
        now = self.clock()
        with self._lock:
            if id(coach) != self._coach_id:  # a reloaded coach may encode differently
                self._coach_id, self._vectors, self._entries = id(coach), {}, {}
            entry = self._entries.get(team_id)
        if entry is not None and now - entry.read_at < self.refresh_seconds:
            return entry.situations
        try:
            rows = store.learned_situations(team_id)
        except Exception as exc:
            log.warning(
                "learned situations not read; using what was known",
                extra=log_fields(team_id=team_id, error_type=type(exc).__name__),
            )
            kept = entry.situations if entry is not None else None
            with self._lock:
                self._entries[team_id] = _Entry(now, kept)
            return kept
        situations = self._build(coach, [(row.text, row.tip_id) for row in rows])
        with self._lock:
            self._entries[team_id] = _Entry(now, situations)
        return situations

    def _build(self, coach: Any, pairs: Sequence[tuple[str, str]]) -> ExtraSituations | None:
        with self._lock:
            missing = [pair for pair in dict.fromkeys(pairs) if pair not in self._vectors]
        if missing:
            encoded = coach.situations(missing)
            if len(encoded) == len(missing):
                found = dict(zip(missing, encoded.vectors, strict=True))
            else:  # a blank text was left out: encode one by one to keep them paired
                found = {}
                for pair in missing:
                    one = coach.situations([pair])
                    if len(one):
                        found[pair] = one.vectors[0]
            with self._lock:
                self._vectors.update(found)
        with self._lock:
            kept = [(pair, self._vectors[pair]) for pair in pairs if pair in self._vectors]
        if not kept:
            return None
        return ExtraSituations(
            tuple(tip for (_, tip), _ in kept), np.stack([vector for _, vector in kept])
        )
