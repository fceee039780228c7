"""`coach weekly --run`: on time, late within the grace window (never after it), after a
crash between claim and post, with channels the bot is not in, and with several scheduler
processes racing on one database (SQLite file and Postgres)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from storage_fixtures import run_workers
from weekly_fixtures import (
    BOT_TOKEN,
    CHANNEL,
    MONDAY_9,
    OTHER_CHANNEL,
    WEEK,
    FakeClock,
    WeeklyFakeSlack,
    make_scheduler,
    race_worker,
    weekly_settings,
)

from bot.storage import Store
from bot.weekly.cli import main
from bot.weekly.slack import WeeklySlack, post_metadata
from config.settings import load_settings
from retrieval.engine import Coach

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def slack() -> Iterator[WeeklyFakeSlack]:
    with WeeklyFakeSlack(token=BOT_TOKEN) as fake:
        yield fake


@pytest.fixture
def settings(tmp_path: Path, slack: WeeklyFakeSlack) -> Any:
    return weekly_settings(tmp_path / "var", slack.api_url)


@pytest.fixture
def store(settings: Any) -> Iterator[Store]:
    opened = Store.open(settings)
    try:
        yield opened
    finally:
        opened.close()


def run_until(scheduler: Any, clock: FakeClock, until: Any) -> None:
    clock.stop_at = until
    scheduler.run(threading.Event())


# -- on time, late, too late -------------------------------------------------------------------


def test_posts_at_the_slot_and_once_per_week(
    settings: Any, store: Store, slack: WeeklyFakeSlack, hashing_coach: Coach
) -> None:
    clock = FakeClock(MONDAY_9 - timedelta(days=1))  # Sunday
    scheduler = make_scheduler(settings, store, hashing_coach, clock, max_sleep=6 * 3600)
    run_until(scheduler, clock, MONDAY_9 + timedelta(weeks=3, hours=1))
    rows = store.weekly_posts(CHANNEL)
    assert [r.week_key for r in rows] == ["2025-W48", "2025-W49", "2025-W50", "2025-W51"]
    assert all(r.status == "posted" for r in rows)
    assert len({r.tip_id for r in rows}) == 4
    for n, row in enumerate(rows):  # posted at the slot, not before and not much after
        slot = MONDAY_9 + timedelta(weeks=n)
        assert row.posted_at is not None and slot <= row.posted_at < slot + timedelta(minutes=1)
    assert len(slack.weekly_posts_in(CHANNEL)) == 4


def test_missed_slot_is_posted_on_start_up_within_the_grace_window(
    settings: Any, store: Store, slack: WeeklyFakeSlack, hashing_coach: Coach
) -> None:
    clock = FakeClock(MONDAY_9 + timedelta(hours=23))  # down at 09:00, back at 08:00 Tuesday
    scheduler = make_scheduler(settings, store, hashing_coach, clock)
    (outcome,) = scheduler.tick()
    assert (outcome.status, outcome.week_key) == ("posted", WEEK)
    assert scheduler.tick() == []  # done: nothing more this week


def test_sigterm_mid_round_stops_after_the_channel_in_flight_and_leaves_the_rest(
    settings: Any, store: Store, slack: WeeklyFakeSlack, hashing_coach: Coach
) -> None:
    """12 channels, SIGTERM while the third posts: this process stops after it (inside any
    kill window), the other nine are not claimed, and the next process posts exactly them."""
    channels = [f"C0WEEK{n:04d}" for n in range(12)]
    many = settings.model_copy(update={"weekly_channels": channels})
    clock = FakeClock(MONDAY_9 + timedelta(minutes=1))
    stop = threading.Event()
    scheduler = make_scheduler(many, store, hashing_coach, clock)
    deliver = scheduler.poster.deliver

    def deliver_then_sigterm(channel: str, *args: Any, **kwargs: Any) -> Any:
        outcome = deliver(channel, *args, **kwargs)
        if channel == channels[2]:
            stop.set()  # SIGTERM arrives while the third channel is posting
        return outcome

    scheduler.poster.deliver = deliver_then_sigterm  # type: ignore[method-assign]
    outcomes = scheduler.tick(stop=stop)
    assert [o.channel for o in outcomes] == channels[:3]
    assert all(o.status == "posted" for o in outcomes)
    assert [c for c in channels if store.weekly_posts(c)] == channels[:3]  # nothing claimed
    successor = make_scheduler(many, store, hashing_coach, clock)
    assert [o.channel for o in successor.tick() if o.status == "posted"] == channels[3:]
    assert all(len(slack.weekly_posts_in(c)) == 1 for c in channels)


def test_missed_slot_is_not_posted_after_the_grace_window(
    settings: Any, store: Store, slack: WeeklyFakeSlack, hashing_coach: Coach
) -> None:
    start = MONDAY_9 + timedelta(hours=25)  # back on Tuesday 10:00: too late for this week
    clock = FakeClock(start)
    scheduler = make_scheduler(settings, store, hashing_coach, clock, max_sleep=24 * 3600)
    run_until(scheduler, clock, MONDAY_9 + timedelta(weeks=1, minutes=30))
    (row,) = store.weekly_posts(CHANNEL)
    assert row.week_key == "2025-W49"  # only next week's, at next week's slot
    assert row.posted_at is not None and row.posted_at >= MONDAY_9 + timedelta(weeks=1)


def test_grace_window_is_a_setting(
    tmp_path: Path, slack: WeeklyFakeSlack, hashing_coach: Coach
) -> None:
    settings = weekly_settings(tmp_path / "var", slack.api_url, weekly_grace_hours=2)
    with Store.open(settings) as store:
        late = make_scheduler(settings, store, hashing_coach, FakeClock(MONDAY_9))
        assert late.tick(MONDAY_9 + timedelta(hours=3)) == []
        assert [o.status for o in late.tick(MONDAY_9 + timedelta(hours=1))] == ["posted"]


# -- crashes and restarts ----------------------------------------------------------------------


def test_restart_after_a_crash_between_claim_and_post(
    settings: Any, store: Store, slack: WeeklyFakeSlack, hashing_coach: Coach
) -> None:
    # The earlier process claimed the week, then died before posting anything.
    dead_tip = hashing_coach.tips()[5].id
    assert store.claim_weekly(
        channel=CHANNEL, week_key=WEEK, tip_id=dead_tip, owner="weekly@dead:1", now=MONDAY_9
    )
    clock = FakeClock(MONDAY_9 + timedelta(minutes=2))  # restarted two minutes later
    scheduler = make_scheduler(settings, store, hashing_coach, clock)
    (outcome,) = scheduler.tick()
    assert outcome.status == "busy"  # the claim is still within its lease
    assert slack.calls("chat.postMessage") == []

    run_until(scheduler, clock, MONDAY_9 + timedelta(hours=1))
    (row,) = store.weekly_posts(CHANNEL)
    assert (row.status, row.tip_id) == ("posted", dead_tip)  # the claim fixed the tip
    assert row.posted_at is not None and row.posted_at >= MONDAY_9 + timedelta(minutes=15)
    methods = [c.method for c in slack.calls()]
    assert methods == ["conversations.history", "chat.postMessage"]  # checked before posting
    assert len(slack.weekly_posts_in(CHANNEL)) == 1


def test_restart_after_slack_accepted_the_post_but_before_it_was_recorded(
    settings: Any, store: Store, slack: WeeklyFakeSlack, hashing_coach: Coach
) -> None:
    dead_tip = hashing_coach.tips()[5].id
    assert store.claim_weekly(
        channel=CHANNEL, week_key=WEEK, tip_id=dead_tip, owner="weekly@dead:1", now=MONDAY_9
    )
    # ... it posted (Slack has the message), then died before mark_weekly_posted.
    dead = WeeklySlack.from_settings(settings, clock=FakeClock(MONDAY_9))
    sent = dead.client.chat_postMessage(
        channel=CHANNEL, text="Tip of the week", metadata=post_metadata(WEEK, dead_tip)
    )
    clock = FakeClock(MONDAY_9 + timedelta(minutes=20))
    (outcome,) = make_scheduler(settings, store, hashing_coach, clock).tick()
    assert outcome.status == "recovered"
    (row,) = store.weekly_posts(CHANNEL)
    assert (row.status, row.ts) == ("posted", sent["ts"])
    assert len(slack.calls("chat.postMessage")) == 1  # only the dead process's post
    assert len(slack.weekly_posts_in(CHANNEL)) == 1


def test_a_chain_of_crashed_takeovers_still_finds_the_first_post(
    settings: Any, store: Store, slack: WeeklyFakeSlack, hashing_coach: Coach
) -> None:
    tip_id = hashing_coach.tips()[2].id
    assert store.claim_weekly(
        channel=CHANNEL, week_key=WEEK, tip_id=tip_id, owner="weekly@a:1", now=MONDAY_9
    )
    slack.ts_clock = FakeClock(MONDAY_9 + timedelta(minutes=1))  # Slack's time = the test's
    dead = WeeklySlack.from_settings(settings, clock=FakeClock(MONDAY_9))
    sent = dead.client.chat_postMessage(  # A's post reached Slack; A died unrecorded
        channel=CHANNEL, text="Tip of the week", metadata=post_metadata(WEEK, tip_id)
    )
    later = MONDAY_9 + timedelta(minutes=16)  # B took the stale claim over, then died too
    assert store.claim_weekly(
        channel=CHANNEL, week_key=WEEK, tip_id=tip_id, owner="weekly@b:2", now=later
    )
    clock = FakeClock(MONDAY_9 + timedelta(minutes=40))
    (outcome,) = make_scheduler(settings, store, hashing_coach, clock).tick()
    assert (outcome.status, outcome.ts) == ("recovered", sent["ts"])
    assert len(slack.calls("chat.postMessage")) == 1


def test_a_crash_loop_of_post_failures_never_doubles(
    settings: Any, store: Store, slack: WeeklyFakeSlack, hashing_coach: Coach
) -> None:
    """Each "process" sends, Slack accepts but the answer is lost, and the process dies."""
    slack.lose_response("chat.postMessage", times=1)
    slack.fail("conversations.history", status=503, times=1)  # and history is down, too
    clock = FakeClock(MONDAY_9)
    first = make_scheduler(settings, store, hashing_coach, clock)
    (outcome,) = first.tick()
    assert outcome.status == "failed" and outcome.ambiguous
    assert store.weekly_posts(CHANNEL)[0].status == "claimed"  # kept: it may be out there
    clock.advance(minutes=30)
    (outcome,) = make_scheduler(settings, store, hashing_coach, clock).tick()  # restarted
    assert outcome.status == "recovered"
    assert len(slack.weekly_posts_in(CHANNEL)) == 1
    assert store.weekly_posts(CHANNEL)[0].status == "posted"


# -- channels the bot is not in ----------------------------------------------------------------


def test_a_channel_the_bot_is_not_in_is_logged_and_retried_not_fatal(
    tmp_path: Path,
    slack: WeeklyFakeSlack,
    hashing_coach: Coach,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = weekly_settings(
        tmp_path / "var", slack.api_url, weekly_channels=[CHANNEL, OTHER_CHANNEL]
    )
    slack.fail("chat.postMessage", error="not_in_channel", times=3)  # the first 3 attempts
    clock = FakeClock(MONDAY_9)
    caplog.set_level(logging.INFO, logger="bot.weekly")
    with Store.open(settings) as store:
        scheduler = make_scheduler(settings, store, hashing_coach, clock)
        run_until(scheduler, clock, MONDAY_9 + timedelta(hours=2))
        rows = {c: store.weekly_posts(c) for c in (CHANNEL, OTHER_CHANNEL)}
    assert all(len(r) == 1 and r[0].status == "posted" for r in rows.values())
    attempts = [c for c in slack.calls("chat.postMessage")]
    assert [c.body.get("__ok__", True) for c in attempts] == [False, False, False, True, True]
    late = max(r[0].posted_at for r in rows.values() if r[0].posted_at is not None)
    assert late >= MONDAY_9 + timedelta(minutes=3)  # backed off: 1 + 2 minutes
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("not_in_channel" in w and "/invite @Tip Coach" in w for w in warnings)


def test_a_channel_never_joined_gives_up_when_the_grace_window_closes(
    settings: Any,
    store: Store,
    slack: WeeklyFakeSlack,
    hashing_coach: Coach,
    caplog: pytest.LogCaptureFixture,
) -> None:
    slack.fail("chat.postMessage", error="channel_not_found", times=1000)
    clock = FakeClock(MONDAY_9)
    caplog.set_level(logging.INFO, logger="bot.weekly")
    run_until(
        make_scheduler(settings, store, hashing_coach, clock), clock, MONDAY_9 + timedelta(days=2)
    )
    attempts = len(slack.calls("chat.postMessage"))
    assert 5 <= attempts <= 60  # retried with backoff (capped at 30 min), not in a tight loop
    assert store.weekly_posts(CHANNEL) == []  # never counted as posted
    assert any("gave up on 2025-W48" in r.getMessage() for r in caplog.records)


def test_a_database_error_is_logged_and_retried(
    settings: Any, slack: WeeklyFakeSlack, hashing_coach: Coach
) -> None:
    class FlakyStore:
        """The real store, whose first claim fails like a dropped database connection."""

        def __init__(self, real: Store) -> None:
            self.real, self.failures = real, 1

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

        def claim_weekly(self, **kwargs: Any) -> bool:
            if self.failures:
                self.failures -= 1
                raise ConnectionError("database went away")
            return self.real.claim_weekly(**kwargs)

    with Store.open(settings) as real:
        clock = FakeClock(MONDAY_9)
        scheduler = make_scheduler(settings, FlakyStore(real), hashing_coach, clock)  # type: ignore[arg-type]
        (outcome,) = scheduler.tick()
        assert outcome.status == "failed" and "database went away" in (outcome.error or "")
        run_until(scheduler, clock, MONDAY_9 + timedelta(hours=1))
        assert real.weekly_posts(CHANNEL)[0].status == "posted"
    assert len(slack.weekly_posts_in(CHANNEL)) == 1


# -- the rotation, end to end ------------------------------------------------------------------


def test_a_channel_sees_every_tip_before_any_repeats(
    settings: Any, store: Store, slack: WeeklyFakeSlack, hashing_coach: Coach
) -> None:
    tips = hashing_coach.tips()
    full = {t.id for t in tips if t.full}
    clock = FakeClock(MONDAY_9)
    scheduler = make_scheduler(settings, store, hashing_coach, clock)
    posted = []
    for week in range(len(tips) + 2):
        (outcome,) = scheduler.tick(MONDAY_9 + timedelta(weeks=week, minutes=1))
        assert outcome.status == "posted"
        posted.append(outcome.tip_id)
    first_round = posted[: len(tips)]
    assert len(set(first_round)) == len(tips) == 53
    assert set(first_round[: len(full)]) == full  # the 15 full tips come first
    assert posted[len(tips)] in full  # round two starts again with a full tip
    assert len(slack.weekly_posts_in(CHANNEL)) == len(tips) + 2


# -- racing ------------------------------------------------------------------------------------


def test_post_now_racing_the_scheduler_posts_once(
    settings: Any, slack: WeeklyFakeSlack, hashing_coach: Coach
) -> None:
    slack.delay("chat.postMessage", 0.2)  # widen the window between claim and confirmation
    barrier = threading.Barrier(4)
    results: list[Any] = []

    def scheduler_process() -> None:
        with Store.open(settings) as own:
            scheduler = make_scheduler(settings, own, hashing_coach, FakeClock(MONDAY_9))
            barrier.wait()
            results.extend(o.status for o in scheduler.tick())

    def post_now_process() -> None:
        barrier.wait()
        code = main(settings, "post-now", clock=FakeClock(MONDAY_9), coach=hashing_coach)
        results.append(code)

    threads = [threading.Thread(target=scheduler_process) for _ in range(2)]
    threads += [threading.Thread(target=post_now_process) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(slack.weekly_posts_in(CHANNEL)) == 1
    assert len(slack.calls("chat.postMessage")) == 1
    statuses = [r for r in results if isinstance(r, str)]
    assert statuses.count("posted") <= 1 and [r for r in results if isinstance(r, int)] == [0, 0]


def test_two_scheduler_processes_on_one_database_post_once(
    db_url: str, tmp_path: Path, slack: WeeklyFakeSlack, hashing_coach: Coach
) -> None:
    values = {
        "slack_bot_token": BOT_TOKEN,
        "slack_api_url": slack.api_url,
        "data_dir": tmp_path / "var",
        "embedding_model": "hashing",
        "weekly_channels": [CHANNEL, OTHER_CHANNEL],
        "database_url": db_url,
    }
    settings = load_settings(**values)
    Store.open(settings).close()  # schema created once, before the race
    from retrieval.embedder import HashingEncoder

    Coach.from_settings(settings, encoder=HashingEncoder())  # index built before the race
    slack.delay("chat.postMessage", 0.1)
    results = run_workers(
        race_worker, [(values, f"clock-{n}", MONDAY_9 + timedelta(seconds=n)) for n in range(3)]
    )
    for channel in (CHANNEL, OTHER_CHANNEL):
        assert len(slack.weekly_posts_in(channel)) == 1, channel
        statuses = [s for _, outs in results for (c, s, _) in outs if c == channel]
        assert statuses.count("posted") == 1 and len(statuses) == 3
        assert set(statuses) <= {"posted", "busy", "already-posted"}
    with Store.open(settings) as store:
        assert all(store.weekly_posts(c)[0].status == "posted" for c in (CHANNEL, OTHER_CHANNEL))


# -- the real process --------------------------------------------------------------------------


def test_run_process_posts_and_stops_cleanly_on_sigterm(
    tmp_path: Path, slack: WeeklyFakeSlack
) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COACH_", "SLACK_")) and k != "DATABASE_URL"
    }
    env.update(
        {
            "COACH_DATA_DIR": str(tmp_path / "var"),
            "COACH_EMBEDDING_MODEL": "hashing",
            "COACH_WEEKLY_CHANNELS": CHANNEL,
            "COACH_WEEKLY_CRON": "* * * * *",  # due now: the start-up tick posts
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_API_URL": slack.api_url,
            "HF_HUB_OFFLINE": "1",
        }
    )
    command = [sys.executable, "-m", "bot.cli", "weekly", "--run"]
    first_log = tmp_path / "first.log"
    with first_log.open("w") as stderr:
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=stderr, stderr=stderr)
        try:
            slack.wait_for("chat.postMessage", timeout=60)
            wait_for_text(first_log, "posted")  # recorded, and back to sleep
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
    log = first_log.read_text()
    assert proc.returncode == 0, log
    assert "scheduler started" in log and "scheduler stopped" in log
    with Store.open(weekly_settings(tmp_path / "var", slack.api_url)) as store:
        assert store.weekly_posts(CHANNEL)[0].status == "posted"

    # A restart the same week posts nothing more (Ctrl-C stops it just as cleanly).
    second_log = tmp_path / "second.log"
    with second_log.open("w") as stderr:
        again = subprocess.Popen(command, cwd=REPO, env=env, stdout=stderr, stderr=stderr)
        try:
            wait_for_text(second_log, "already posted")
            again.send_signal(signal.SIGINT)
            again.wait(timeout=20)
        finally:
            if again.poll() is None:
                again.kill()
    assert again.returncode == 0, second_log.read_text()
    assert len(slack.calls("chat.postMessage")) == 1


def wait_for_text(path: Path, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared in {path}:\n{path.read_text()}")
