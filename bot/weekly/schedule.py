"""When the weekly tip is due: the cron schedule, its time zone, the grace window, the week key.

Everything takes ``now`` (an aware datetime) from an injectable :class:`Clock`, so the tests
drive whole weeks in milliseconds and no code here reads the wall clock itself.

* A *slot* is a time the cron expression fires, in ``COACH_TIMEZONE``.
* A post is *due* while the latest slot is at most ``COACH_WEEKLY_GRACE_HOURS`` old: a
  process that was down at 09:00 posts when it comes back at 14:00, not three days later.
* The *week key* (ISO year and week of the slot in the local time zone, ``2026-W48``) is the
  unique key of the claim: a cron firing more than once a week still posts once per week.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from retrieval.errors import CoachError

if TYPE_CHECKING:
    from config.settings import Settings


class ScheduleError(CoachError):
    """The cron expression, time zone or grace window is unusable; the message names the setting."""


class Clock(Protocol):
    """Time for the scheduler: real in production, fake (and instant) in tests."""

    def now(self) -> datetime:
        """The current time, time-zone aware."""
        ...

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking early when ``stop`` is set; True if it is set."""
        ...


class SystemClock:
    """The wall clock; ``wait`` returns at once on SIGTERM/SIGINT (the stop event)."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        return stop.wait(max(0.0, seconds))


def week_key(moment: datetime, tz: ZoneInfo) -> str:
    """ISO year and week of ``moment`` in ``tz``: ``2026-W48`` (Monday to Sunday)."""
    year, week, _ = moment.astimezone(tz).isocalendar()
    return f"{year}-W{week:02d}"


def week_start(key: str) -> datetime | None:
    """The earliest moment anywhere on Earth that belongs to ISO week ``key`` (UTC).

    Monday 00:00 UTC minus 14 hours (the furthest-ahead time zone), so a search for the
    week's post from here never misses it, whatever ``COACH_TIMEZONE`` is or was.
    """
    try:
        year, week = key.split("-W")
        monday = date.fromisocalendar(int(year), int(week), 1)
    except ValueError:
        return None
    return datetime.combine(monday, time(), UTC) - timedelta(hours=14)


@dataclass(frozen=True)
class Schedule:
    """The weekly post's cron expression, time zone and grace window."""

    cron: str
    tz: ZoneInfo
    grace: timedelta

    @classmethod
    def build(cls, cron: str, timezone: str, grace_hours: float) -> Schedule:
        """Validate the three settings, naming the environment variable at fault."""
        if not isinstance(cron, str) or not croniter.is_valid(cron):
            raise ScheduleError(
                f"COACH_WEEKLY_CRON: {cron!r} is not a cron expression (like '0 9 * * MON')"
            )
        try:
            tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ScheduleError(
                f"COACH_TIMEZONE: {timezone!r} is not an IANA time zone (like Europe/Paris)"
            ) from None
        if not grace_hours or grace_hours <= 0:
            raise ScheduleError("COACH_WEEKLY_GRACE_HOURS: must be a positive number of hours")
        return cls(cron=cron, tz=tz, grace=timedelta(hours=grace_hours))

    @classmethod
    def from_settings(cls, settings: Settings) -> Schedule:
        return cls.build(settings.weekly_cron, settings.timezone, settings.weekly_grace_hours)

    def _local(self, now: datetime) -> datetime:
        if now.tzinfo is None:
            raise ValueError("the schedule needs time-zone-aware datetimes")
        return now.astimezone(self.tz)

    def previous(self, now: datetime) -> datetime:
        """The latest slot at or before ``now`` (croniter's own get_prev excludes ``now``)."""
        local = self._local(now)
        prev: datetime = croniter(self.cron, local).get_prev(datetime)
        nxt: datetime = croniter(self.cron, prev).get_next(datetime)
        return nxt if nxt <= local else prev

    def next(self, now: datetime) -> datetime:
        """The first slot strictly after ``now``."""
        result: datetime = croniter(self.cron, self._local(now)).get_next(datetime)
        return result

    def due(self, now: datetime) -> datetime | None:
        """The slot to post for now, or None: the latest slot, if within the grace window."""
        slot = self.previous(now)
        return slot if now - slot <= self.grace else None

    def week_key(self, moment: datetime) -> str:
        return week_key(moment, self.tz)

    def describe(self, moment: datetime) -> str:
        """A slot for people: ``Mon 30 Nov 2026 09:00 CET``."""
        local = self._local(moment)
        return f"{local:%a} {local.day} {local:%b %Y %H:%M} {local.tzname()}"

    def summary(self, now: datetime) -> str:
        """One line for start-up logs and the preview."""
        grace = self.grace.total_seconds() / 3600
        return (
            f"cron '{self.cron}' in {self.tz.key}, next post {self.describe(self.next(now))}, "
            f"grace {grace:g} h"
        )
