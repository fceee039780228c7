"""``coach weekly --preview | --post-now | --run`` (called by ``bot.cli``).

Exit codes follow ``coach``: 0 success, 1 a runtime problem (database, index, Slack),
2 bad configuration (schedule, token, channel ids), each with a message saying what to fix.
Keyword-only arguments let tests inject a fake clock, a coach and output streams; the
command line never passes them.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TextIO

from bot.weekly.post import Outcome, Plan, WeeklyPoster, default_owner
from bot.weekly.rotation import StoreAskedCounts
from bot.weekly.schedule import Clock, Schedule, ScheduleError, SystemClock
from bot.weekly.workspaces import SlackSource, Target, WorkspaceUnavailable
from config.settings import WEEKLY_TARGET_RE
from retrieval.errors import CoachError

if TYPE_CHECKING:
    from bot.deps import CoachLike
    from bot.storage import Store
    from config.settings import Settings

MODES = ("preview", "post-now", "run")


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
    match = WEEKLY_TARGET_RE.fullmatch(channel.strip()) if channel is not None else None
    if channel is not None and match is None:
        _say(
            err,
            f"coach weekly: --channel {channel!r} is not a Slack channel id (like C0123ABCD) "
            "or a team-qualified one (like T0123ABCD:C0456EFGH)",
        )
        return 2
    channels = (
        [Target(match["channel"], match["team"])]
        if match is not None
        else [Target(chan, team) for team, chan in settings.weekly_targets]
    )
    if mode != "preview":
        # Multi-workspace installs post with each workspace's installation token instead.
        if settings.slack_bot_token is None and not settings.oauth_enabled:
            _say(err, "coach weekly: SLACK_BOT_TOKEN is required to post the weekly tip.")
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
    if coach is None:

        def load() -> CoachLike:
            from retrieval.engine import Coach

            return Coach.from_settings(settings, lazy_model=True)

        factory: Callable[[], CoachLike] = load
    elif callable(coach) and not hasattr(coach, "tips"):
        factory = coach
    else:
        ready: CoachLike = coach  # type: ignore[assignment]

        def factory() -> CoachLike:
            return ready

    return WeeklyPoster(
        store,
        factory,
        _slack_source(settings, store, clock, stop),
        clock=clock,
        owner=default_owner(mode),
        asked=StoreAskedCounts(store),
    )


def _slack_source(
    settings: Settings, store: Store, clock: Clock, stop: threading.Event
) -> SlackSource:
    """``SLACK_BOT_TOKEN`` for every channel, or each workspace's installation token (OAuth).

    Built in preview too (it sends nothing): it tells a channel's workspace, whose lookups
    are the "reps asked" counts.
    """
    from bot.weekly.slack import WeeklySlack
    from bot.weekly.workspaces import InstalledWorkspaces, SingleWorkspace

    if not settings.oauth_enabled:
        return SingleWorkspace(WeeklySlack.from_settings(settings, clock=clock, stop=stop))
    return InstalledWorkspaces(
        store.installation_store(str(settings.slack_client_id)),
        lambda token: WeeklySlack.from_settings(settings, clock=clock, stop=stop, token=token),
    )


def _preview(
    poster: WeeklyPoster,
    schedule: Schedule,
    channels: list[Target],
    clock: Clock,
    as_json: bool,
    out: TextIO,
    err: TextIO,
) -> int:
    """The post each channel would get now; a week already posted shows next week's."""
    now = clock.now()
    if not channels:
        _say(err, "COACH_WEEKLY_CHANNELS is not set: previewing a channel with no history.")
        channels = [Target("")]
    for target in channels:
        channel = target.channel
        try:
            team = poster.team_for(channel, target.team_id) if channel else None
        except WorkspaceUnavailable as exc:
            _say(err, f"{target.label}: cannot be posted now: {exc}")
            team = None
        week = schedule.week_key(now)
        rows = poster.store.weekly_posts(channel) if channel else []
        current = next((row for row in rows if row.week_key == week), None)
        status = "not posted yet"
        if current is not None and current.status == "posted":
            status = f"already posted ({current.tip_id}, ts {current.ts}); next week's post"
            week = schedule.week_key(now + timedelta(days=7))
        elif current is not None:
            status = "claimed, waiting for Slack to confirm"
        plan: Plan = poster.plan(channel, week, now, rows, team_id=team)
        if as_json:
            _say(out, json.dumps({**plan.to_json(), "status": status}, ensure_ascii=False))
            continue
        where = target.label or "(no channel)"
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
        _say(out, plan.as_text())
        _say(out, "")
    return 0


def _post_now(
    poster: WeeklyPoster,
    schedule: Schedule,
    channels: list[Target],
    clock: Clock,
    as_json: bool,
    out: TextIO,
) -> int:
    """Post this week's tip to each channel now, unless it is already (being) posted.

    Exit code 1 when any channel failed or was skipped (no bot token for its workspace).
    """
    now = clock.now()
    week = schedule.week_key(now)
    failed = False
    for target in channels:
        channel = target.channel
        try:
            outcome = poster.deliver(channel, week, now, team_id=target.team_id)
        except Exception as exc:  # one channel's problem must not stop the others
            logging.getLogger("bot.weekly").exception("weekly: posting to %s failed", channel)
            message = str(exc) if isinstance(exc, CoachError) else f"{type(exc).__name__}: {exc}"
            outcome = Outcome(channel, week, "failed", error=message, team_id=target.team_id)
        failed = failed or outcome.status in {"failed", "skipped"}
        _say(
            out,
            json.dumps(outcome.to_json(), ensure_ascii=False) if as_json else outcome.describe(),
        )
    return 1 if failed else 0
