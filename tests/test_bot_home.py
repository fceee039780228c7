"""App Home through the real Bolt app (SQLite and Postgres), and its pure view builder.

A rep opening the Home tab gets ``views.publish`` with this week's tip (the weekly post's
own choice), how to ask, their own recent lookups (redacted, escaped), and, for admins, a
short gap report. Every part fails on its own, never the whole tab.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bot_fixtures import (
    USER,
    BotHarness,
    bot_harness,
    build_deps,
    make_settings,
)
from fake_slack import TEAM_ID, FakeSlack
from render_fixtures import iter_texts
from storage_fixtures import answered, declined

from bot import render
from bot.app import build_app
from bot.deps import CoachProvider, Deps
from bot.http import SlackWSGI
from bot.storage import Store
from bot.weekly.schedule import Schedule
from retrieval.errors import IndexMissing
from retrieval.models import TipAnswer

ADMIN = "U0ADMIN001"
REP = USER
WEEKLY_CHANNEL = "C0WEEKLY01"
SUPERVISOR = "customer wants to talk to the supervisor"


@pytest.fixture
def bot(tmp_path: Path, db_url: str) -> Iterator[BotHarness]:
    """The bot with one admin, on SQLite and on Postgres (when reachable)."""
    with bot_harness(tmp_path, admins=ADMIN, database_url=db_url) as harness:
        yield harness


@pytest.fixture
def sqlite_bot(tmp_path: Path, sqlite_url: str) -> Iterator[BotHarness]:
    with bot_harness(tmp_path, admins=ADMIN, database_url=sqlite_url) as harness:
        yield harness


def open_home(bot: BotHarness, user: str = REP, count: int = 1) -> dict[str, Any]:
    """Open the Home tab as ``user``; the view Slack was asked to publish."""
    assert bot.post_event(bot.home_event(user=user)).status == 200
    call = bot.slack.wait_for("views.publish", count=count)[-1]
    assert call.body["user_id"] == user
    view = call.body["view"]
    return json.loads(view) if isinstance(view, str) else view


def texts(view: dict[str, Any]) -> str:
    return "\n".join(iter_texts(view["blocks"]))


def section(view: dict[str, Any], header: str) -> str:
    """The text between ``header`` and the next header."""
    out: list[str] = []
    inside = False
    for block in view["blocks"]:
        if block["type"] == "header":
            inside = block["text"]["text"] == header
            continue
        if inside:
            out.extend(iter_texts([block]))
    assert inside or out, f"no {header!r} header in the view"
    return "\n".join(out)


def assert_within_limits(view: dict[str, Any]) -> None:
    assert view["type"] == "home"
    assert 0 < len(view["blocks"]) <= render.MAX_HOME_BLOCKS
    for block in view["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= render.MAX_SECTION_TEXT
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= render.MAX_HEADER_TEXT


def newest_full_tip(bot: BotHarness) -> TipAnswer:
    """What the rotation starts with when nothing was posted or asked: the newest full tip."""
    coach = bot.deps.coach.get(1)
    first = next(tip for tip in coach.tips() if tip.full)
    return coach.tip_card(first.id)


def headers(view: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in view["blocks"] if b["type"] == "header"]


# -- through Bolt ----------------------------------------------------------------------------


def test_a_rep_sees_the_tip_how_to_ask_and_only_their_own_lookups(bot: BotHarness) -> None:
    # How Slack delivers a rep literally typing "<!channel> & <@U0PEER002>": entity-encoded.
    typed = (
        f"&lt;!channel&gt; &amp; &lt;@U0PEER002&gt; {SUPERVISOR}, she wants the supervisor now, "
        "mail jane.doe@example.com"
    )
    assert bot.post_event(bot.dm_event(typed)).status == 200
    bot.slack.wait_for("chat.postMessage")
    store: Any = bot.deps.store
    store.log_query(
        team_id=TEAM_ID,
        user_id="U0PEER002",
        surface="dm",
        text="peer's own words",
        answer=answered(),
        latency_ms=5,
    )
    store.log_query(
        team_id="T0ELSEWHERE",
        user_id=REP,
        surface="dm",
        text="other workspace",
        answer=answered(),
        latency_ms=5,
    )

    view = open_home(bot)

    assert_within_limits(view)
    assert headers(view)[:2] == [render.HOME_TIP_HEADER, newest_full_tip(bot).title]
    assert "Try these steps" not in texts(view) and "1. " in section(
        view, newest_full_tip(bot).title
    )
    how = section(view, "How to ask")
    assert "/coach customer wants the supervisor" in how and "Direct message" in how
    recent = section(view, "Your recent lookups")
    assert "&lt;!channel&gt; &amp; &lt;@U0PEER002&gt;" in recent  # shown, never a ping
    assert "[email]" in recent and "jane.doe@example.com" not in json.dumps(view)
    assert "*When They Want the Supervisor*" in recent
    assert "<!channel>" not in json.dumps(view) and "<@U0PEER002>" not in json.dumps(view)
    assert "peer's own words" not in json.dumps(view)
    assert "other workspace" not in json.dumps(view)
    assert "Gap report (last 7 days)" not in headers(view)  # not an admin


def test_an_admin_also_sees_the_gap_report(bot: BotHarness) -> None:
    store: Any = bot.deps.store
    refund = ("tip-refund", "Handling Refund Requests")
    for user in ("U0REP0101", "U0REP0102", "U0REP0103"):
        store.log_query(
            team_id=TEAM_ID,
            user_id=user,
            surface="slash",
            text="customer wants a refund in <b>bitcoin</b>",
            answer=declined((refund,)),
            latency_ms=9,
        )
    store.log_query(
        team_id=TEAM_ID,
        user_id="U0REP0101",
        surface="dm",
        text=SUPERVISOR,
        answer=answered(),
        latency_ms=7,
    )

    admin_view = open_home(bot, user=ADMIN)
    rep_view = open_home(bot, user=REP, count=2)

    assert_within_limits(admin_view)
    assert headers(admin_view)[-2:] == ["Gap report (last 7 days)", "Teach Tip Coach"]
    gaps = section(admin_view, "Gap report (last 7 days)")
    assert "4 lookups in the last 7 days, 25% answered (1)." in gaps
    assert "No confident answer for 3" in gaps
    assert "“Handling Refund Requests”: 3 by 3 people" in gaps
    assert "words 3+ people used: bitcoin, customer, refund, want" in gaps
    assert "refund in" not in json.dumps(admin_view)  # words many used, never a question
    assert "<b>" not in json.dumps(admin_view)
    assert "coach report" not in texts(admin_view)  # a button, not a shell command
    assert "Send me the 30-day report" in texts(admin_view)
    assert "Gap report (last 7 days)" not in headers(rep_view)
    assert "bitcoin" not in json.dumps(rep_view)


def test_an_empty_store_still_gets_a_whole_home(bot: BotHarness) -> None:
    rep = open_home(bot)
    admin = open_home(bot, user=ADMIN, count=2)
    assert_within_limits(rep)
    assert headers(rep)[1] == newest_full_tip(bot).title
    assert "Nothing yet" in section(rep, "Your recent lookups")
    assert "No lookups in the last 7 days." in section(admin, "Gap report (last 7 days)")


def test_the_home_shows_the_tip_the_weekly_channel_got_this_week(
    tmp_path: Path, sqlite_url: str
) -> None:
    with bot_harness(tmp_path, weekly_channels=WEEKLY_CHANNEL, database_url=sqlite_url) as bot:
        coach = bot.deps.coach.get(1)
        posted = next(tip for tip in reversed(coach.tips()) if tip.full)  # not the rotation's first
        assert posted.id != newest_full_tip(bot).id
        now = datetime.now(UTC)
        week = Schedule.from_settings(bot.deps.settings).week_key(now)
        store: Any = bot.deps.store
        assert store.claim_weekly(
            channel=WEEKLY_CHANNEL, week_key=week, tip_id=posted.id, owner="test", now=now
        )
        store.mark_weekly_posted(channel=WEEKLY_CHANNEL, week_key=week, ts="1.2", now=now)

        view = open_home(bot)
        assert headers(view)[1] == coach.tip_card(posted.id).title


def test_what_reps_asked_about_becomes_the_tip_and_says_why(sqlite_bot: BotHarness) -> None:
    coach = sqlite_bot.deps.coach.get(1)
    asked = next(tip for tip in reversed(coach.tips()) if tip.full)
    assert asked.id != newest_full_tip(sqlite_bot).id
    store: Any = sqlite_bot.deps.store
    for n in range(4):
        store.log_query(
            team_id=TEAM_ID,
            user_id=f"U0REP010{n}",
            surface="dm",
            text="asked",
            answer=answered(tip_id=asked.id, title=asked.title),
            latency_ms=3,
        )
    view = open_home(sqlite_bot)
    assert headers(view)[1] == coach.tip_card(asked.id).title
    assert "Reps asked about this 4 times this week." in texts(view)


def test_the_messages_tab_publishes_nothing(sqlite_bot: BotHarness) -> None:
    assert sqlite_bot.post_event(sqlite_bot.home_event(tab="messages")).status == 200
    sqlite_bot.slack.wait_idle(quiet=0.3)
    assert sqlite_bot.slack.calls("views.publish") == []


def test_a_refused_publish_is_logged_and_the_next_open_works(
    sqlite_bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    sqlite_bot.slack.fail("views.publish", error="invalid_arguments")
    with caplog.at_level(logging.ERROR, logger="bot"):
        assert sqlite_bot.post_event(sqlite_bot.home_event()).status == 200
        sqlite_bot.slack.wait_for("views.publish", accepted=False)
        sqlite_bot.slack.wait_idle(quiet=0.2)
    [record] = [r for r in caplog.records if r.getMessage() == "home: views.publish refused"]
    assert record.fields["slack_error"] == "invalid_arguments"  # type: ignore[attr-defined]
    view = open_home(sqlite_bot, count=2)
    assert headers(view)[0] == render.HOME_TIP_HEADER
    assert len(sqlite_bot.slack.delivered("views.publish")) == 1


def test_a_broken_index_costs_only_the_tip(tmp_path: Path) -> None:
    def broken() -> Any:
        raise IndexMissing("No tip index yet: run `coach index`.")

    with FakeSlack(token="xoxb-1234-5678-testtoken") as slack:
        settings = make_settings(slack, tmp_path, admins=ADMIN)
        store = Store.open(settings)
        store.log_query(
            team_id=TEAM_ID,
            user_id=REP,
            surface="dm",
            text="angry caller",
            answer=declined(),
            latency_ms=3,
        )
        deps = Deps(
            settings=settings, coach=CoachProvider(broken), store=store, coach_wait_seconds=2
        )
        bot = BotHarness(slack, deps, SlackWSGI(build_app(deps), deps))
        try:
            view = open_home(bot)
        finally:
            deps.close(grace=1)  # stops the loader's retries (and closes the store)
    assert_within_limits(view)
    assert "No tip index yet: run `coach index`." in section(view, render.HOME_TIP_HEADER)
    assert "angry caller" in section(view, "Your recent lookups")
    assert "How to ask" in headers(view)


def test_a_store_failure_costs_only_the_lookups(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with bot_harness(tmp_path, admins=ADMIN) as bot:
        real: Any = bot.deps.store

        class FailingReads:
            """The real store whose query-log reads fail (a database hiccup)."""

            def __getattr__(self, name: str) -> Any:
                if name in {"recent_queries", "gap_summary"}:
                    raise RuntimeError("database is down")
                return getattr(real, name)

        bot.deps.store = FailingReads()  # type: ignore[assignment]
        try:
            with caplog.at_level(logging.ERROR, logger="bot"):
                view = open_home(bot, user=ADMIN)
        finally:
            bot.deps.store = real
    assert headers(view)[1] == newest_full_tip(bot).title
    assert "can't be shown right now" in section(view, "Your recent lookups")
    assert "could not be built" in section(view, "Gap report (last 7 days)")
    logged = {r.getMessage() for r in caplog.records}
    assert {"home: reading recent lookups failed", "home: building the gap report failed"} <= logged


# -- the pure view builder -------------------------------------------------------------------


def big_tip(steps: int = 400) -> TipAnswer:
    return TipAnswer(
        id="tip-huge",
        title="A Very Long Tip " * 12,
        date=None,
        score=1.0,
        steps=tuple(f"Step number {n} & <b>more</b> " * 20 for n in range(steps)),
        phrases=("Say <!here> nicely.",),
        summary="Summary.",
        source="https://example.com/tip",
        chunk_ids=(),
    )


def test_home_view_stays_within_slack_limits_for_a_huge_tip_and_history() -> None:
    now = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    recent = [
        render.RecentLookup(
            text="x" * 4000 + " <!everyone>",
            when=now - timedelta(hours=n),
            answered=n % 2 == 0,
            title="T & <title>",
        )
        for n in range(8)
    ]
    view = render.home_view(
        render.HomeContent(
            tip=big_tip(),
            recent=recent,
            admin_lines=["<!channel> 5 lookups"] * 200,
        )
    )
    assert_within_limits(view)
    dumped = json.dumps(view)
    assert "<!everyone>" not in dumped and "<!channel>" not in dumped and "<b>" not in dumped
    assert "<!here>" not in dumped


def test_recent_lines_say_what_happened() -> None:
    when = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    hit = render.recent_line(render.RecentLookup("wants <@U1>", when, True, "Supervisor"))
    assert hit.startswith("• “wants &lt;@U1&gt;” → *Supervisor* · <!date^")
    assert hit.endswith("|2026-11-23 09:30 UTC>")
    miss = render.recent_line(render.RecentLookup("vpn", when, False, "Nearest & Co"))
    assert "no confident match (nearest: _Nearest &amp; Co_)" in miss
    broken = render.recent_line(render.RecentLookup("", when, False, None))
    assert "“(empty)” → no answer" in broken


def test_home_view_without_a_tip_says_why() -> None:
    view = render.home_view(
        render.HomeContent(tip=None, tip_problem="Still <loading>", recent=None)
    )
    blocks_text = texts(view)
    assert "Still &lt;loading&gt;" in blocks_text
    assert "can't be shown right now" in blocks_text
    assert "Gap report" not in blocks_text


def test_build_deps_is_reused_for_the_home(tmp_path: Path) -> None:
    """The home works with the same Deps every other surface gets (no extra wiring)."""
    settings = make_settings(None, tmp_path)
    deps = build_deps(settings)
    try:
        from bot.listeners.home import home_content

        content = home_content(deps, user_id=REP, team_id=TEAM_ID)
    finally:
        deps.close()  # the work pool, then the store
    assert content.tip is not None and content.recent == [] and content.admin_lines is None


# -- reopenable lookups and the admins' checklist --------------------------------------------


def _buttons(view: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for block in view["blocks"]:
        if block.get("accessory", {}).get("type") == "button":
            found.append(block["accessory"])
        found += [e for e in block.get("elements") or [] if e.get("type") == "button"]
    return found


def test_a_recent_lookup_opens_again_in_the_reps_dm(sqlite_bot: BotHarness) -> None:
    bot = sqlite_bot
    assert bot.post_event(bot.dm_event(SUPERVISOR + ", mail jane.doe@example.com")).status == 200
    bot.slack.wait_for("chat.postMessage")
    view = open_home(bot)
    [again] = [b for b in _buttons(view) if b["action_id"] == render.ACTION_HOME_REOPEN]
    assert "supervisor" not in again["value"] and "jane" not in again["value"]  # an id only
    payload = bot.action_payload(render.ACTION_HOME_REOPEN, again["value"], user=REP)
    assert bot.post_payload(payload).status == 200
    posts = bot.slack.wait_for("chat.postMessage", 2)
    assert posts[-1].body["channel"] == REP
    assert "When They Want the Supervisor" in posts[-1].all_text()


def test_admins_get_a_checklist_with_buttons_and_no_shell_command(
    tmp_path: Path, sqlite_url: str
) -> None:
    with bot_harness(
        tmp_path, admins=ADMIN, database_url=sqlite_url, weekly_channels=[WEEKLY_CHANNEL]
    ) as bot:
        view = open_home(bot, user=ADMIN)
        text = texts(view)
        assert "Set-up (admins)" in headers(view)
        assert f"<#{WEEKLY_CHANNEL}> and I'm in it" in text
        assert "COACH_LEADS_CHANNEL" in text and ADMIN in text
        assert "coach report" not in text  # a button instead of a shell command
        ids = [b["action_id"] for b in _buttons(view)]
        assert render.ACTION_HOME_PREVIEW_WEEKLY in ids and render.ACTION_HOME_REPORT in ids

        bot.post_payload(bot.action_payload(render.ACTION_HOME_REPORT, "30d", user=ADMIN))
        [report] = bot.slack.wait_for("chat.postMessage")
        assert report.body["channel"] == ADMIN and "Gap report, last 30 days" in report.all_text()

        bot.post_payload(bot.action_payload(render.ACTION_HOME_PREVIEW_WEEKLY, "x", user=ADMIN))
        posts = bot.slack.wait_for("chat.postMessage", 2)
        assert "Preview of this week's tip" in posts[-1].all_text()

        bot.slack.fail("conversations.history", error="not_in_channel")
        view = open_home(bot, user=ADMIN, count=2)
        assert "I'm not in it" in texts(view) and "/invite @Tip Coach" in texts(view)
        assert render.ACTION_HOME_REFRESH in [b["action_id"] for b in _buttons(view)]


def test_reps_see_no_checklist_and_cannot_use_admin_buttons(sqlite_bot: BotHarness) -> None:
    bot = sqlite_bot
    view = open_home(bot)
    assert "Set-up (admins)" not in headers(view)
    bot.post_payload(bot.action_payload(render.ACTION_HOME_REPORT, "30d", user=REP))
    bot.slack.wait_idle(quiet=0.3)
    assert bot.slack.calls("chat.postMessage") == []


def test_the_checklist_names_the_leads_channel_when_set(tmp_path: Path, sqlite_url: str) -> None:
    with bot_harness(
        tmp_path, admins=ADMIN, database_url=sqlite_url, leads_channel=["C0LEADS001"]
    ) as bot:
        text = texts(open_home(bot, user=ADMIN))
    assert "Leads answer reps' questions in <#C0LEADS001>." in text
    assert "No leads channel" not in text
