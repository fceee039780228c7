"""``coach weekly --preview | --post-now | --run`` (called by ``bot.cli``).

Exit codes follow ``coach``: 0 success, 1 a runtime problem (database, index, Slack),
2 bad configuration (schedule, token, channel ids), each with a message saying what to fix.
Keyword-only arguments let tests inject a fake clock, a coach and output streams; the
command line never passes them.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TextIO

from bot.weekly.post import Outcome, Plan, WeeklyPoster, default_owner, message_as_text
from bot.weekly.rotation import StoreAskedCounts
from bot.weekly.schedule import Clock, Schedule, ScheduleError, SystemClock
from retrieval.errors import CoachError

if TYPE_CHECKING:
    from bot.deps import CoachLike
    from bot.storage import Store
    from config.settings import Settings

MODES = ("preview", "post-now", "run")
CHANNEL_RE = re.compile(r"[CGD][A-Z0-9]{2,}")


def _say(stream: TextIO, text: str) -> None:
    stream.write(text + "\n")
    stream.flush()


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM (Heroku, systemd, docker stop) and SIGINT (Ctrl-C) end the loop cleanly."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals can only be handled on the main thread; the caller owns ``stop``
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handle(signum: int, _frame: Any) -> None:
        stop.set()

    for sig in previous:
        signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(
    settings: Settings,
    mode: str,
    channel: str | None = None,
    as_json: bool = False,
    *,
    clock: Clock | None = None,
    coach: CoachLike | Callable[[], CoachLike] | None = None,
    store: Store | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Run one ``coach weekly`` mode; returns the process exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    if mode not in MODES:
        _say(err, f"coach weekly: unknown mode {mode!r}; use --preview, --post-now or --run")
        return 2
    try:
        schedule = Schedule.from_settings(settings)
    except ScheduleError as exc:
        _say(err, f"coach weekly: {exc}")
        return 2
    if channel is not None and not CHANNEL_RE.fullmatch(channel.strip()):
        _say(err, f"coach weekly: --channel {channel!r} is not a Slack channel id (like C0123ABCD)")
        return 2
    channels = [channel.strip()] if channel else list(settings.weekly_channels)
    if mode != "preview":
        if settings.slack_bot_token is None:
            extra = (
                " (multi-workspace installs: the weekly post uses one workspace's bot token)"
                if settings.oauth_enabled
                else ""
            )
            _say(err, f"coach weekly: SLACK_BOT_TOKEN is required to post the weekly tip{extra}.")
            return 2
        if not channels:
            _say(
                err,
                "coach weekly: no channel to post to: set COACH_WEEKLY_CHANNELS "
                "(comma-separated channel ids) or pass --channel C0123ABCD.",
            )
            return 2
        from bot.logs import configure_logging

        configure_logging(settings)

    clock = clock or SystemClock()
    stop = stop or threading.Event()
    owned_store = store is None
    try:
        if store is None:
            from bot.storage import Store

            store = Store.open(settings)
    except CoachError as exc:
        _say(err, f"coach weekly: {exc}")
        return 1
    try:
        poster = _poster(settings, mode, store, coach, clock, stop)
        if mode == "preview":
            return _preview(poster, schedule, channels, clock, as_json, out, err)
        if mode == "post-now":
            return _post_now(poster, schedule, channels, clock, as_json, out)
        from bot.weekly.scheduler import Scheduler

        scheduler = Scheduler(schedule, channels, poster, clock)
        with _stop_on_signals(stop):
            scheduler.run(stop)
        return 0
    except CoachError as exc:
        _say(err, f"coach weekly: {exc}")
        return 1
    finally:
        if owned_store:
            store.close()


def _poster(
    settings: Settings,
    mode: str,
    store: Store,
    coach: CoachLike | Callable[[], CoachLike] | None,
    clock: Clock,
    stop: threading.Event,
) -> WeeklyPoster:
    from bot.weekly.slack import WeeklySlack

    if coach is None:

        def load() -> CoachLike:
            from retrieval.engine import Coach

            return Coach.from_settings(settings)

        factory: Callable[[], CoachLike] = load
    elif callable(coach) and not hasattr(coach, "tips"):
        factory = coach
    else:
        ready: CoachLike = coach  # type: ignore[assignment]

        def factory() -> CoachLike:
            return ready

    slack = (
        None if mode == "preview" else WeeklySlack.from_settings(settings, clock=clock, stop=stop)
    )
    return WeeklyPoster(
        store,
        factory,
        slack,
        clock=clock,
        owner=default_owner(mode),
        asked=StoreAskedCounts(store),
    )


def _preview(
    poster: WeeklyPoster,
    schedule: Schedule,
    channels: list[str],
    clock: Clock,
    as_json: bool,
    out: TextIO,
    err: TextIO,
) -> int:
    """The post each channel would get now; a week already posted shows next week's."""
    now = clock.now()
    if not channels:
        _say(err, "COACH_WEEKLY_CHANNELS is not set: previewing a channel with no history.")
        channels = [""]
    for channel in channels:
        week = schedule.week_key(now)
        rows = poster.store.weekly_posts(channel) if channel else []
        current = next((row for row in rows if row.week_key == week), None)
        status = "not posted yet"
        if current is not None and current.status == "posted":
            status = f"already posted ({current.tip_id}, ts {current.ts}); next week's post"
            week = schedule.week_key(now + timedelta(days=7))
        elif current is not None:
            status = "claimed, waiting for Slack to confirm"
        plan: Plan = poster.plan(channel, week, now, rows)
        if as_json:
            _say(out, json.dumps({**plan.to_json(), "status": status}, ensure_ascii=False))
            continue
        where = channel or "(no channel)"
        why = (
            f"chosen because reps asked about it {plan.pick.asked} times this week"
            if plan.pick.reason == "asked"
            else f"rotation: {plan.pick.remaining} tip(s) left in this round"
            if plan.pick.reason == "rotation"
            else "the tip this week's claim already chose"
        )
        _say(out, f"Weekly tip for {where}, week {week}: {status}")
        _say(out, f"Tip: {plan.tip.id} ({why})")
        _say(out, f"Schedule: {schedule.summary(now)}")
        _say(out, "-" * 72)
        _say(out, message_as_text(plan.message))
        _say(out, "")
    return 0


def _post_now(
    poster: WeeklyPoster,
    schedule: Schedule,
    channels: list[str],
    clock: Clock,
    as_json: bool,
    out: TextIO,
) -> int:
    """Post this week's tip to each channel now, unless it is already (being) posted."""
    now = clock.now()
    week = schedule.week_key(now)
    failed = False
    for channel in channels:
        try:
            outcome = poster.deliver(channel, week, now)
        except Exception as exc:  # one channel's problem must not stop the others
            logging.getLogger("bot.weekly").exception("weekly: posting to %s failed", channel)
            message = str(exc) if isinstance(exc, CoachError) else f"{type(exc).__name__}: {exc}"
            outcome = Outcome(channel, week, "failed", error=message)
        failed = failed or outcome.status == "failed"
        _say(
            out,
            json.dumps(outcome.to_json(), ensure_ascii=False) if as_json else outcome.describe(),
        )
    return 1 if failed else 0
