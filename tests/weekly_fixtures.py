"""Helpers for the weekly-tip tests: a fake clock, a fake Slack that keeps channel history,
and the wiring of a real poster/scheduler to a real store and the hashing-encoder coach.

``WeeklyFakeSlack`` extends the shared loopback fake (``fake_slack.FakeSlack`` in tests/) with
what the weekly post needs and the bot does not: ``conversations.history`` (with message
``metadata``), the messages each channel really shows, and a "lost response" fault (Slack
posts the message but its answer never arrives).

PYTEST_DONT_REWRITE (imported by spawned worker processes as a plain module).
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot_fixtures import TEST_SECRET_KEY
from fake_slack import FakeSlack, Fault

from bot.storage import Store
from bot.weekly.post import WeeklyPoster
from bot.weekly.rotation import StoreAskedCounts
from bot.weekly.schedule import Schedule
from bot.weekly.scheduler import Scheduler
from bot.weekly.slack import METADATA_EVENT, WeeklySlack
from config.settings import Settings, load_settings

BOT_TOKEN = "xoxb-1234-5678-weeklytest"
CHANNEL = "C0WEEKLY1"
OTHER_CHANNEL = "C0WEEKLY2"
#: Monday 24 November 2025, 09:00 UTC: a slot of the default cron ("0 9 * * MON"). In the
#: past, because the fake Slack stamps messages with the real time and the history search
#: starts at the (fake) week's start.
MONDAY_9 = datetime(2025, 11, 24, 9, 0, tzinfo=UTC)
WEEK = "2025-W48"


# -- time ---------------------------------------------------------------------------------


@dataclass
class FakeClock:
    """Time that moves only when told to; ``wait`` advances it instantly.

    ``stop_at``: the moment ``wait`` sets the stop event, ending a scheduler's run loop.
    """

    current: datetime
    stop_at: datetime | None = None
    waits: list[float] = field(default_factory=list)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        self.waits.append(seconds)
        self.current += timedelta(seconds=max(0.0, seconds))
        if self.stop_at is not None and self.current >= self.stop_at:
            stop.set()
        return stop.is_set()


# -- Slack ----------------------------------------------------------------------------------


class WeeklyFakeSlack(FakeSlack):
    """The shared fake Slack plus channel history, metadata and lost responses."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._history: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._lose: dict[str, int] = defaultdict(int)
        self._serial = 0
        #: When set, message timestamps follow this (fake) clock instead of the real one.
        self.ts_clock: FakeClock | None = None

    def lose_response(self, method: str = "chat.postMessage", times: int = 1) -> None:
        """Slack acts on the next ``times`` calls, but the bot gets an HTTP 500 back."""
        with self._cond:
            self._lose[method] += times

    def reset_faults(self) -> None:
        """Slack is healthy again (recorded calls are kept)."""
        with self._cond:
            self._state.faults.clear()

    def channel_messages(self, channel: str) -> list[dict[str, Any]]:
        """Top-level messages the channel shows, oldest first (the ground truth)."""
        with self._cond:
            return list(self._history.get(channel, []))

    def weekly_posts_in(self, channel: str) -> list[dict[str, Any]]:
        return [
            m
            for m in self.channel_messages(channel)
            if (m.get("metadata") or {}).get("event_type") == METADATA_EVENT
        ]

    def _answer(
        self, method: str, body: dict[str, Any], headers: dict[str, str], fault: Fault | None
    ) -> tuple[int, dict[str, Any] | str, dict[str, str]]:
        status, payload, extra = super()._answer(method, body, headers, fault)
        with self._cond:
            lose = self._lose.get(method, 0) > 0 and status == 200
            if lose:
                self._lose[method] -= 1
        if lose and isinstance(payload, dict) and payload.get("ok"):
            with self._cond:
                self._remember(method, body, payload)
            return 500, {"ok": False, "error": "fatal_error"}, {}
        return status, payload, extra

    def _next_ts(self) -> str:
        if self.ts_clock is None:
            return super()._next_ts()
        with self._cond:
            self._serial += 1
            return f"{int(self.ts_clock.now().timestamp())}.{900000 + self._serial:06d}"

    def _success(
        self, method: str, body: dict[str, Any], *args: Any, **kwargs: Any
    ) -> dict[str, Any]:
        if method == "conversations.history":
            channel = str(body.get("channel"))
            oldest = float(body.get("oldest") or 0)
            with_meta = str(body.get("include_all_metadata", "")).lower() in {"1", "true"}
            with self._cond:
                messages = [dict(m) for m in self._history.get(channel, [])]
            found = [m for m in reversed(messages) if float(m["ts"]) > oldest]
            if not with_meta:
                for message in found:
                    message.pop("metadata", None)
            return {"ok": True, "messages": found, "has_more": False}
        return super()._success(method, body, *args, **kwargs)

    def _remember(self, method: str, body: dict[str, Any], payload: dict[str, Any]) -> None:
        super()._remember(method, body, payload)
        if method == "chat.postMessage" and not body.get("thread_ts"):
            message = dict(payload["message"])
            if body.get("metadata"):
                message["metadata"] = body["metadata"]
            self._history[str(body.get("channel"))].append(message)


# -- wiring ---------------------------------------------------------------------------------


def weekly_settings(
    data_dir: Path, slack_url: str | None, *, db_url: str | None = None, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": BOT_TOKEN,
        "slack_api_url": slack_url or "http://127.0.0.1:9/api/",
        "data_dir": data_dir,
        "embedding_model": "hashing",
        "weekly_channels": [CHANNEL],
        "secret_key": TEST_SECRET_KEY,
    }
    if db_url:
        values["database_url"] = db_url
    values.update(overrides)
    return load_settings(**values)


def make_poster(
    settings: Settings,
    store: Store,
    coach: Any,
    clock: Any,
    *,
    owner: str | None = None,
    stop: threading.Event | None = None,
    preview: bool = False,
) -> WeeklyPoster:
    slack = None if preview else WeeklySlack.from_settings(settings, clock=clock, stop=stop)
    return WeeklyPoster(
        store, lambda: coach, slack, clock=clock, owner=owner, asked=StoreAskedCounts(store)
    )


def make_scheduler(
    settings: Settings,
    store: Store,
    coach: Any,
    clock: Any,
    *,
    owner: str | None = None,
    stop: threading.Event | None = None,
    max_sleep: float = 300.0,
) -> Scheduler:
    poster = make_poster(settings, store, coach, clock, owner=owner, stop=stop)
    return Scheduler(
        Schedule.from_settings(settings),
        settings.weekly_channels,
        poster,
        clock,
        max_sleep=max_sleep,
    )


def hashing_coach_for(settings: Settings) -> Any:
    """The real Coach with the fast fake encoder (loads the index the parent built)."""
    from retrieval.embedder import HashingEncoder
    from retrieval.engine import Coach

    return Coach.from_settings(settings, encoder=HashingEncoder())


def race_worker(
    settings_values: dict[str, Any], owner: str, now: datetime, barrier: Any, results: Any
) -> None:
    """Child process: a whole scheduler (own store, coach, Slack client) ticking at ``now``."""
    settings = load_settings(**settings_values)
    coach = hashing_coach_for(settings)
    store = Store.open(settings)
    scheduler = make_scheduler(settings, store, coach, FakeClock(now), owner=owner)
    barrier.wait(timeout=60)
    outcomes = scheduler.tick(now)
    store.close()
    results.put((os.getpid(), [(o.channel, o.status, o.ts) for o in outcomes]))
