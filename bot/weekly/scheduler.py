"""``coach weekly --run``: the long-running clock process.

Each *tick* asks the schedule whether a post is due (the latest cron slot, if it is inside
the grace window) and delivers it to every channel not yet done this week. The loop then
sleeps until the next slot or the next retry (at most :data:`MAX_SLEEP` seconds, so a
wall-clock jump or a suspended laptop is noticed). A start-up tick catches up on a slot
missed while the process was down, inside the grace window and never after it.

Failures never crash the loop: a channel the bot is not in, a Slack outage or a database
hiccup is logged and retried with exponential backoff (per channel), until the grace
window closes. A channel whose workspace has no bot token (multi-workspace installs: the
workspace uninstalled, or a plain channel id while several are installed) is skipped
with a warning saying what to do, and looked at again every :data:`SKIP_RECHECK` (a
workspace may install the app again), not retried in a tight loop. Only the process's own
bookkeeping lives in memory; whether a week is posted is always decided by the shared
database, so any number of clock processes is safe.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.logs import log_fields
from bot.weekly.post import Outcome, WeeklyPoster
from bot.weekly.schedule import Clock, Schedule
from bot.weekly.slack import advice
from bot.weekly.workspaces import Target

log = logging.getLogger("bot.weekly")

#: Longest sleep between ticks (seconds).
MAX_SLEEP = 300.0
#: First retry after a failed post, doubling up to RETRY_CAP.
RETRY_BASE = timedelta(minutes=1)
RETRY_CAP = timedelta(minutes=30)
#: Re-check a week another process is posting after this long.
BUSY_RECHECK = timedelta(minutes=1)
#: Look again at a skipped channel (no bot token for its workspace) after this long.
SKIP_RECHECK = timedelta(minutes=30)


@dataclass
class ChannelWeek:
    """In-memory progress for one channel and week (the database has the truth)."""

    done: bool = False
    failures: int = 0
    retry_at: datetime | None = None
    last_error: str | None = None


class Scheduler:
    """Posts the weekly tip to each channel once per week, on schedule or late within grace."""

    def __init__(
        self,
        schedule: Schedule,
        channels: Sequence[str | Target],
        poster: WeeklyPoster,
        clock: Clock,
        *,
        max_sleep: float = MAX_SLEEP,
    ) -> None:
        if not channels:
            raise ValueError("the weekly scheduler needs at least one channel")
        self.schedule = schedule
        #: Channel ids, or Targets naming the channel's workspace (``T…:C…`` entries).
        self.targets = list(
            dict.fromkeys(c if isinstance(c, Target) else Target(c) for c in channels)
        )
        self.channels = [target.channel for target in self.targets]
        self.poster = poster
        self.clock = clock
        self.max_sleep = max_sleep
        self._weeks: dict[tuple[str, str], ChannelWeek] = {}
        self._window: datetime | None = None  # the slot whose grace window is open

    # -- one pass -----------------------------------------------------------------------

    def tick(
        self, now: datetime | None = None, stop: threading.Event | None = None
    ) -> list[Outcome]:
        """Deliver whatever is due now; returns what each attempted channel did.

        ``stop`` set (SIGTERM) ends the round after the channel in flight: the rest are not
        claimed, so the next process posts them, and this one exits inside the platform's
        kill window however many channels there are.
        """
        now = now or self.clock.now()
        slot = self.schedule.due(now)
        self._close_window(slot)
        if slot is None:
            return []
        week = self.schedule.week_key(slot)
        outcomes = []
        for target in self.targets:
            if stop is not None and stop.is_set():
                log.info(
                    "weekly: stopping; the channels left are posted by the next process",
                    extra=log_fields(week=week),
                )
                break
            channel = target.channel
            state = self._weeks.setdefault((channel, week), ChannelWeek())
            if state.done or (state.retry_at is not None and state.retry_at > now):
                continue
            try:
                outcome = self.poster.deliver(channel, week, now, team_id=target.team_id)
            except Exception as exc:  # database down, index unreadable...: retry, don't die
                log.exception(
                    "weekly: delivering to %s failed",
                    channel,
                    extra=log_fields(channel=channel, week=week),
                )
                outcome = Outcome(channel, week, "failed", error=f"{type(exc).__name__}: {exc}")
            self._record(state, outcome, now)
            outcomes.append(outcome)
        return outcomes

    def _record(self, state: ChannelWeek, outcome: Outcome, now: datetime) -> None:
        fields = log_fields(
            channel=outcome.channel,
            week=outcome.week_key,
            status=outcome.status,
            tip_id=outcome.tip_id,
            error=outcome.error,
        )
        if outcome.done:
            state.done, state.retry_at = True, None
            if outcome.status == "already-posted":
                log.info(
                    "weekly: %s already posted to %s",
                    outcome.week_key,
                    outcome.channel,
                    extra=fields,
                )
            return
        if outcome.status == "skipped":  # the poster logged why; it needs an install or config
            state.retry_at = now + SKIP_RECHECK
            state.last_error = outcome.error
            return
        if outcome.status == "busy":
            state.retry_at = now + BUSY_RECHECK
            log.info("weekly: %s is being posted by another process", outcome.channel, extra=fields)
            return
        state.failures += 1
        state.last_error = outcome.error
        delay = min(RETRY_BASE * 2 ** min(state.failures - 1, 16), RETRY_CAP)
        state.retry_at = now + delay
        log.warning(
            "weekly: could not post to %s (%s): %s; retrying in %d min",
            outcome.channel,
            outcome.error,
            advice(outcome.error),
            int(delay.total_seconds() // 60),
            extra=fields,
        )

    def _close_window(self, slot: datetime | None) -> None:
        """When a grace window ends (or the next slot starts), report channels left unposted."""
        if slot == self._window:
            return
        if self._window is not None:
            week = self.schedule.week_key(self._window)
            for channel in self.channels:
                state = self._weeks.get((channel, week))
                if state is not None and not state.done:
                    log.error(
                        "weekly: gave up on %s for %s: the grace window closed (last error: %s)",
                        week,
                        channel,
                        state.last_error,
                        extra=log_fields(channel=channel, week=week, error=state.last_error),
                    )
            self._weeks = {key: st for key, st in self._weeks.items() if key[1] != week}
        self._window = slot

    # -- the loop -----------------------------------------------------------------------

    def next_wake(self, now: datetime) -> datetime:
        """The next slot, the next retry, or MAX_SLEEP from now, whichever comes first."""
        wake = min(self.schedule.next(now), now + timedelta(seconds=self.max_sleep))
        slot = self.schedule.due(now)
        if slot is not None:
            week = self.schedule.week_key(slot)
            for channel in self.channels:
                state = self._weeks.get((channel, week))
                if state is None:
                    return now  # not tried yet
                if not state.done and state.retry_at is not None:
                    wake = min(wake, state.retry_at)
        return max(wake, now)

    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set (SIGTERM/SIGINT); a post in flight finishes first."""
        now = self.clock.now()
        log.info(
            "weekly: scheduler started for %s; %s",
            ", ".join(target.label for target in self.targets),
            self.schedule.summary(now),
            extra=log_fields(channels=self.channels, owner=self.poster.owner),
        )
        while not stop.is_set():
            try:
                self.tick(stop=stop)
                now = self.clock.now()
                pause = (self.next_wake(now) - now).total_seconds()
            except Exception:  # deliver() already contains channel failures; this is a bug net
                log.exception("weekly: scheduler tick failed; trying again shortly")
                pause = RETRY_BASE.total_seconds()
            if self.clock.wait(stop, max(pause, 0.5)):
                break
        log.info("weekly: scheduler stopped", extra=log_fields(owner=self.poster.owner))
