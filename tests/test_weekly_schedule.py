"""The weekly schedule: cron slots in a time zone, the grace window, week keys, bad settings."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.weekly.schedule import Schedule, ScheduleError, week_key, week_start
from config.settings import SettingsError, load_settings

REPO = Path(__file__).resolve().parent.parent
PARIS = ZoneInfo("Europe/Paris")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_default_schedule_is_monday_nine_utc() -> None:
    schedule = Schedule.build("0 9 * * MON", "UTC", 24)
    monday_nine = utc(2026, 11, 23, 9)
    assert schedule.previous(monday_nine) == monday_nine  # a slot counts at its own minute
    assert schedule.previous(monday_nine - timedelta(seconds=1)) == utc(2026, 11, 16, 9)
    assert schedule.next(monday_nine) == utc(2026, 11, 30, 9)
    assert schedule.week_key(monday_nine) == "2026-W48"


def test_due_only_inside_the_grace_window() -> None:
    schedule = Schedule.build("0 9 * * MON", "UTC", 24)
    slot = utc(2026, 11, 23, 9)
    assert schedule.due(slot - timedelta(minutes=1)) is None  # last week's window closed
    assert schedule.due(slot) == slot
    assert schedule.due(slot + timedelta(hours=5)) == slot  # came back after a crash
    assert schedule.due(slot + timedelta(hours=24)) == slot  # the edge is still inside
    assert schedule.due(slot + timedelta(hours=24, seconds=1)) is None  # and not after it


def test_short_grace_window() -> None:
    schedule = Schedule.build("0 9 * * MON", "UTC", 0.5)
    slot = utc(2026, 11, 23, 9)
    assert schedule.due(slot + timedelta(minutes=29)) == slot
    assert schedule.due(slot + timedelta(minutes=31)) is None


def test_time_zone_is_honoured_across_daylight_saving() -> None:
    schedule = Schedule.build("0 9 * * MON", "Europe/Paris", 24)
    # Winter: 09:00 in Paris is 08:00 UTC; summer (after 29 March 2026): 07:00 UTC.
    winter = schedule.previous(utc(2026, 3, 23, 12))
    summer = schedule.previous(utc(2026, 3, 30, 12))
    assert winter.astimezone(UTC) == utc(2026, 3, 23, 8)
    assert summer.astimezone(UTC) == utc(2026, 3, 30, 7)
    assert schedule.due(utc(2026, 3, 30, 6, 59)) is None  # 08:59 in Paris: not yet
    assert schedule.due(utc(2026, 3, 30, 7, 0)) == summer


def test_week_key_uses_the_local_calendar() -> None:
    # Sunday 23:30 in Los Angeles is already Monday in UTC: the local week counts.
    la = ZoneInfo("America/Los_Angeles")
    moment = datetime(2026, 11, 29, 23, 30, tzinfo=la)
    assert week_key(moment, la) == "2026-W48"
    assert week_key(moment, ZoneInfo("UTC")) == "2026-W49"
    # ISO years: 1 January 2027 is in week 53 of 2026.
    assert week_key(utc(2027, 1, 1, 12), ZoneInfo("UTC")) == "2026-W53"


def test_week_start_covers_every_time_zone() -> None:
    start = week_start("2026-W48")
    assert start == utc(2026, 11, 22, 10)  # Monday 23 Nov 00:00 at UTC+14
    kiritimati = datetime(2026, 11, 23, 0, 0, tzinfo=ZoneInfo("Pacific/Kiritimati"))
    assert start is not None and start <= kiritimati
    assert week_start("not-a-week") is None


def test_a_cron_firing_daily_still_keys_one_week() -> None:
    schedule = Schedule.build("0 9 * * *", "UTC", 24)
    keys = {schedule.week_key(schedule.previous(utc(2026, 11, 23 + d, 12))) for d in range(7)}
    assert keys == {"2026-W48"}


@pytest.mark.parametrize(
    ("cron", "tz", "grace", "names"),
    [
        ("61 9 * * MON", "UTC", 24, "COACH_WEEKLY_CRON"),
        ("every monday", "UTC", 24, "COACH_WEEKLY_CRON"),
        ("0 9 * * MON", "Mars/Olympus", 24, "COACH_TIMEZONE"),
        ("0 9 * * MON", "UTC", 0, "COACH_WEEKLY_GRACE_HOURS"),
    ],
)
def test_bad_schedule_names_the_setting(cron: str, tz: str, grace: float, names: str) -> None:
    with pytest.raises(ScheduleError, match=names):
        Schedule.build(cron, tz, grace)


@pytest.mark.parametrize(
    ("field", "value", "env"),
    [
        ("weekly_cron", "0 25 * * MON", "COACH_WEEKLY_CRON"),
        ("timezone", "Europe/Atlantis", "COACH_TIMEZONE"),
        ("weekly_grace_hours", -1, "COACH_WEEKLY_GRACE_HOURS"),
    ],
)
def test_settings_reject_a_bad_schedule(field: str, value: object, env: str) -> None:
    with pytest.raises(SettingsError, match=env):
        load_settings(**{field: value})


def _coach(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COACH_", "SLACK_")) and k != "DATABASE_URL"
    }
    environment.update(
        {"COACH_DATA_DIR": str(tmp_path / "var"), "COACH_EMBEDDING_MODEL": "hashing", **env}
    )
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"COACH_WEEKLY_CRON": "0 9 * * FUNDAY"}, "COACH_WEEKLY_CRON"),
        ({"COACH_TIMEZONE": "Moon/Base"}, "COACH_TIMEZONE"),
    ],
)
def test_weekly_run_stops_at_start_up_on_a_bad_schedule(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    result = _coach(["weekly", "--run"], tmp_path, SLACK_BOT_TOKEN="xoxb-1-2-x", **env)
    assert result.returncode == 2
    assert expected in result.stderr
    assert not (tmp_path / "var").exists()  # stopped before touching anything
