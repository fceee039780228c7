"""The gap report on a seeded query log: the numbers, the tables, the JSON and the chart."""

from __future__ import annotations

import io
import json
import re
import struct
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from storage_fixtures import answered, declined

from bot.report import (
    BadSince,
    PlotUnavailable,
    Report,
    admin_summary,
    build_report,
    by_tip,
    describe_period,
    main,
    parse_since,
    shared_words,
    write_plot,
)
from bot.storage import QueryRow, Store
from config.settings import Settings, load_settings

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SUP = ("tip-sup", "When They Want the Supervisor")
ANGRY = ("tip-angry", "Calming an Angry Caller")
TECH = ("tip-tech", "Handling Technical Questions")


def seed(store: Store, now: datetime = NOW) -> None:
    """12 lookups and 7 votes in the last 7 days, plus older rows that must not count."""

    def log(  # type: ignore[no-untyped-def]
        days_ago: float, surface: str, text: str, answer, error: str | None = None, user: str = "U1"
    ) -> int:
        return store.log_query(
            team_id="T1",
            user_id=user,
            surface=surface,
            text=text,
            answer=answer,
            latency_ms=100 + days_ago,
            error=error,
            now=now - timedelta(days=days_ago),
        )

    sup = answered(tip_id=SUP[0], title=SUP[1])
    angry = answered(tip_id=ANGRY[0], title=ANGRY[1])
    first = log(0.1, "dm", "customer wants the supervisor", sup)
    log(1.1, "dm", "customer wants the supervisor", sup)
    log(1.2, "dm", "Priya Raman wants the supervisor", sup, user="U2")
    log(2.1, "dm", "The customer wants the SUPERVISOR!", sup, user="U3")
    log(2.2, "dm", "customer want the supervisr", sup, user="U4")  # a typo
    log(3.1, "mention", "reset my VPN password", declined((TECH, SUP)))
    log(3.2, "mention", "how do I reset the vpn password?", declined((TECH,)))
    log(4.1, "mention", "customer wants to sue us, call 555-123-4567", declined((SUP,)))
    log(4.2, "mention", "asdf", declined(()))
    log(5.1, "slash", "angry caller", angry)
    log(5.2, "slash", "angry caller", angry)
    log(6.1, "slash", "customer angry about billing", None, error="IndexMissing")
    log(8.0, "dm", "old situation", sup)  # outside the window
    log(9.0, "dm", "old situation", declined((TECH,)))

    voters = iter(range(1, 100))  # one vote per person per answer: each vote a new rep

    def vote(tip: str, helpful: bool, days_ago: float = 0.5, comment: str | None = None) -> None:
        store.record_feedback(
            team_id="T1",
            user_id=f"U{next(voters)}",
            query_id=first,
            tip_id=tip,
            chunk_ids=[f"{tip}:step:0"],
            helpful=helpful,
            comment=comment,
            now=now - timedelta(days=days_ago),
        )

    for _ in range(3):
        vote(SUP[0], True)
    vote(SUP[0], False, comment="wrong tip, she wanted a refund to ann@example.com")
    vote(ANGRY[0], False)
    vote(ANGRY[0], False)
    vote("tip-ghost", True)  # a tip nobody looked up in this period
    vote(SUP[0], False, days_ago=10)  # outside the window


def test_report_numbers_on_a_seeded_log(store: Store) -> None:
    seed(store)
    report = build_report(store, timedelta(days=7), NOW)

    assert (report.lookups, report.answered, report.errors, report.unanswered) == (12, 7, 1, 4)
    assert report.answered_rate == pytest.approx(7 / 12)
    assert [(s.surface, s.lookups, s.answered) for s in report.surfaces] == [
        ("dm", 5, 5),
        ("mention", 4, 0),
        ("slash", 3, 2),
    ]
    assert report.latency_p50_ms == pytest.approx(103.1)

    top = report.top_situations
    assert [(t.tip_id, t.count, t.askers, t.answered) for t in top] == [
        ("tip-sup", 6, 4, 5),  # the declined "sue us" lookup was nearest the supervisor tip
        ("tip-angry", 2, 1, 2),
        ("tip-tech", 2, 1, 0),
        (None, 2, 1, 0),
    ]
    assert top[0].title == SUP[1]
    # Words at least three people used; nobody's question, no name one person typed.
    assert top[0].words == ("want", "customer", "supervisor")
    assert all(t.words == () for t in top[1:])  # one person each: nothing of theirs shown
    assert sum(s.count for s in top) == 12

    assert [(g.tip_id, g.title, g.count, g.askers) for g in report.gaps] == [
        ("tip-tech", TECH[1], 2, 1),
        ("tip-sup", SUP[1], 1, 1),
        (None, None, 1, 1),
    ]
    assert all(g.words == () for g in report.gaps)

    helpfulness = {h.tip_id: h for h in report.helpfulness}
    assert [h.tip_id for h in report.helpfulness] == ["tip-sup", "tip-angry", "tip-ghost"]
    sup = helpfulness["tip-sup"]
    assert (sup.title, sup.up, sup.down, sup.ratio) == (SUP[1], 3, 1, 0.75)
    assert sup.comments == ("wrong tip, she wanted a refund to [email]",)
    angry = helpfulness["tip-angry"]
    assert (angry.title, angry.up, angry.down, angry.ratio) == (ANGRY[1], 0, 2, 0.0)
    assert helpfulness["tip-ghost"].title is None

    per_day = {d.day: (d.lookups, d.answered) for d in report.days}
    assert len(report.days) == 8  # 16 Nov 12:00 to 23 Nov 12:00 touches 8 dates
    assert per_day[date(2026, 11, 23)] == (1, 1)
    assert per_day[date(2026, 11, 21)] == (2, 2)
    assert per_day[date(2026, 11, 19)] == (2, 0)
    assert per_day[date(2026, 11, 17)] == (1, 0)
    assert per_day[date(2026, 11, 16)] == (0, 0)
    assert sum(d.lookups for d in report.days) == 12


def test_report_json_is_one_serialisable_object(store: Store) -> None:
    seed(store)
    data = json.loads(json.dumps(build_report(store, timedelta(days=7), NOW).to_json()))
    assert data["lookups"] == 12 and data["answered"] == 7 and data["unanswered"] == 4
    assert data["answered_rate"] == pytest.approx(0.5833, abs=1e-4)
    assert data["gaps"][0]["tip_id"] == "tip-tech" and data["gaps"][0]["count"] == 2
    assert data["helpfulness"][0] == {
        "tip_id": "tip-sup",
        "title": SUP[1],
        "up": 3,
        "down": 1,
        "ratio": 0.75,
        "comments": ["wrong tip, she wanted a refund to [email]"],
    }
    assert data["since"] == "2026-11-16T12:00:00+00:00"


def test_an_empty_log_reports_zeros(store: Store) -> None:
    report = build_report(store, timedelta(hours=24), NOW)
    assert (report.lookups, report.answered_rate, report.gaps, report.helpfulness) == (
        0,
        0.0,
        (),
        (),
    )
    assert admin_summary(store, NOW) == ["No lookups in the last 7 days."]


def test_admin_summary_is_a_short_gap_report(store: Store) -> None:
    seed(store)
    lines = admin_summary(store, NOW)
    assert lines[0] == "12 lookups in the last 7 days, 58% answered (7)."
    assert lines[1] == "No confident answer for 4; most often near:"
    assert lines[2] == "• “Handling Technical Questions”: 2 by 1 person"
    assert not any("VPN" in line or "Priya" in line for line in lines)
    assert lines[-1] == "Least helpful: “Calming an Angry Caller” (0 👍 / 2 👎)."
    assert len(lines) <= 6


def test_admin_summary_shows_only_the_admins_workspace(store: Store) -> None:
    seed(store)  # every seeded row belongs to T1
    store.log_query(
        team_id="T2",
        user_id="U9",
        surface="dm",
        text="other workspace secret situation",
        answer=declined((("how-to-cancel", "Cancel Gracefully"),)),
        latency_ms=5.0,
        now=NOW - timedelta(hours=1),
    )
    assert (
        admin_summary(store, NOW, team_id="T1")[0]
        == "12 lookups in the last 7 days, 58% answered (7)."
    )
    other = admin_summary(store, NOW, team_id="T2")
    assert other[0] == "1 lookups in the last 7 days, 0% answered (0)."
    assert not any("VPN" in line for line in other)
    assert admin_summary(store, NOW)[0].startswith("13 lookups")  # the operator's CLI sees all


# -- grouping ----------------------------------------------------------------------------


def _row(text: str, answered_: bool = True, tip: str | None = "t", user: str = "U1") -> QueryRow:
    return QueryRow(
        id=1,
        created_at=NOW,
        team_id=None,
        user_id=user,
        surface="dm",
        text=text,
        answered=answered_,
        confidence=None,
        tip_id=tip,
        nearest_tip_id=tip,
        nearest_title=None,
        chunk_ids=(),
        suggestion_ids=(),
        latency_ms=1,
        error=None,
    )


def test_shared_words_are_those_three_people_used_without_names_or_placeholders() -> None:
    rows = [
        _row("Customer Jane Holt wants a refund for the late couch", user="U1"),
        _row("customers want refunds, email [email]", user="U2"),
        _row("refund for late delivery [email]", user="U3"),
        _row("Jane Holt again: refund refund refund", user="U1"),  # one person, many times
    ]
    pairs = [(row.text, row.user_id) for row in rows]
    assert shared_words(pairs) == ("refund",)
    assert shared_words(pairs[:2]) == ()  # two people: nothing shown


def test_lookups_group_by_tip_with_people_counted_once() -> None:
    rows = [_row("a", user="U1"), _row("b", user="U1"), _row("c", user="U2", tip="u")]
    groups = by_tip(rows)
    assert [(g.tip_id, g.count, g.askers) for g in groups] == [("t", 2, 1), ("u", 1, 1)]


# -- since ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("24h", timedelta(hours=24)),
        ("30d", timedelta(days=30)),
        ("2w", timedelta(weeks=2)),
        (" 3 days ", timedelta(days=3)),
        ("1W", timedelta(weeks=1)),
    ],
)
def test_parse_since(value: str, expected: timedelta) -> None:
    assert parse_since(value) == expected


@pytest.mark.parametrize("value", ["", "7", "d7", "7x", "-7d", "0d", "1.5d", "99999w", "7d3h"])
def test_bad_since_is_a_clear_error(value: str) -> None:
    with pytest.raises(BadSince, match="--since"):
        parse_since(value)


def test_describe_period() -> None:
    assert [describe_period(parse_since(v)) for v in ("24h", "7d", "2w", "1d", "36h")] == [
        "24 hours",
        "7 days",
        "2 weeks",
        "24 hours",
        "36 hours",
    ]


# -- the command -------------------------------------------------------------------------


@pytest.fixture
def seeded_settings(tmp_path: Path) -> Settings:
    settings = load_settings(data_dir=tmp_path / "var")
    with Store.open(settings) as opened:
        seed(opened, now=datetime.now(UTC))
    return settings


def _console() -> Console:
    return Console(file=io.StringIO(), width=140, color_system=None)


def test_main_prints_readable_tables(seeded_settings: Settings) -> None:
    console = _console()
    assert main(seeded_settings, since="7d", console=console) == 0
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "12 lookups, 7 answered (58%), 4 without a confident answer, 1 failed" in out
    for heading in ("Lookups per surface", "Top situations", "No confident answer", "Helpfulness"):
        assert heading in out
    assert "Handling Technical Questions" in out and "reset my VPN password" not in out
    assert "[email]" in out and "ann@example.com" not in out


def test_main_json_emits_one_object(seeded_settings: Settings) -> None:
    console = _console()
    assert main(seeded_settings, since="30d", as_json=True, console=console) == 0
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert out.count("\n") == 1
    data = json.loads(out)
    assert data["lookups"] == 14 and data["answered"] == 8  # 30 days include the older rows


def test_main_writes_a_png_chart(seeded_settings: Settings, tmp_path: Path) -> None:
    chart = tmp_path / "charts" / "lookups.png"
    console = _console()
    assert main(seeded_settings, since="2w", plot=chart, console=console) == 0
    header = chart.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    assert width >= 600 and height >= 400
    assert f"Chart written to {chart}" in console.file.getvalue()  # type: ignore[attr-defined]


def test_main_rejects_a_bad_since(tmp_path: Path) -> None:
    console, errors = _console(), _console()
    settings = load_settings(data_dir=tmp_path)
    assert main(settings, since="seven", console=console, err_console=errors) == 2
    assert "--since 'seven' is not a period" in errors.file.getvalue()  # type: ignore[attr-defined]
    assert console.file.getvalue() == ""  # type: ignore[attr-defined]
    assert not (tmp_path / "coach.sqlite3").exists()  # nothing opened for a bad argument


def test_main_rejects_a_plot_that_is_not_png(seeded_settings: Settings, tmp_path: Path) -> None:
    errors = _console()
    assert main(seeded_settings, plot=tmp_path / "chart.jpg", err_console=errors) == 2
    assert "PNG" in errors.file.getvalue()  # type: ignore[attr-defined]


def test_main_reports_an_unreachable_database(tmp_path: Path) -> None:
    settings = load_settings(database_url="postgresql://coach@127.0.0.1:1/none?connect_timeout=2")
    errors = _console()
    assert main(settings, console=_console(), err_console=errors) == 1
    assert "Cannot open the database" in errors.file.getvalue()  # type: ignore[attr-defined]


def test_main_reports_an_unwritable_chart_path(seeded_settings: Settings, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    errors = _console()
    assert (
        main(seeded_settings, plot=blocker / "chart.png", console=_console(), err_console=errors)
        == 1
    )
    assert "cannot write the chart" in errors.file.getvalue()  # type: ignore[attr-defined]


# -- without the [plot] extra ---------------------------------------------------------------


@pytest.fixture
def no_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    """Import matplotlib as if the optional [plot] extra were not installed.

    None in ``sys.modules`` makes an import fail; already imported submodules are blocked
    too, or ``from matplotlib.figure import Figure`` would still find them.
    """
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    for name in [n for n in sys.modules if n.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.usefixtures("no_matplotlib")
def test_write_plot_without_matplotlib_says_what_to_install(tmp_path: Path) -> None:
    empty = Report(NOW - timedelta(days=7), NOW, 0, 0, 0, None, None, (), (), (), (), ())
    chart = tmp_path / "charts" / "lookups.png"
    with pytest.raises(PlotUnavailable, match=re.escape("pip install 'tip-coach[plot]'")):
        write_plot(empty, chart)
    assert not chart.parent.exists()  # nothing created before the error


@pytest.mark.usefixtures("no_matplotlib")
def test_main_without_matplotlib_prints_the_install_hint(
    seeded_settings: Settings, tmp_path: Path
) -> None:
    chart = tmp_path / "lookups.png"
    console, errors = _console(), _console()
    assert main(seeded_settings, plot=chart, console=console, err_console=errors) == 2
    assert errors.file.getvalue() == (  # type: ignore[attr-defined]
        "Error: --plot needs matplotlib: pip install 'tip-coach[plot]'.\n"
    )
    assert console.file.getvalue() == ""  # type: ignore[attr-defined]
    assert not chart.exists()


def test_importing_the_report_loads_neither_rich_nor_matplotlib() -> None:
    """The App Home imports bot.report for admin_summary: no terminal or chart library."""
    probe = "import sys, bot.report; print(sorted({'rich', 'matplotlib'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(__file__).resolve().parent.parent,  # this checkout's bot, not an installed one
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert result.stdout.strip() == "[]"


def test_off_topic_questions_and_re_asks_are_not_content_gaps(store: Store) -> None:
    """A VPN question declined as off-topic is not "what to write next", and a "Next best
    tip" click is the same question again, not a new lookup."""
    from dataclasses import replace

    off = replace(declined(()), off_topic=True)
    unsure_gap = declined((SUP,))
    for days, text in ((0.1, "how do I reset my VPN password"), (0.2, "wifi password pls")):
        store.log_query(
            team_id="T1",
            user_id="U1",
            surface="dm",
            text=text,
            answer=off,
            latency_ms=5,
            now=NOW - timedelta(days=days),
        )
    store.log_query(
        team_id="T1",
        user_id="U1",
        surface="dm",
        text="customer wants to sue us",
        answer=unsure_gap,
        latency_ms=5,
        now=NOW - timedelta(days=0.3),
    )
    for n in range(3):  # the rep clicked "Next best tip" three times
        store.log_query(
            team_id="T1",
            user_id="U1",
            surface="button",
            text="customer wants to sue us",
            answer=declined((ANGRY,)),
            latency_ms=5,
            now=NOW - timedelta(days=0.3, minutes=-n),
        )
    report = build_report(store, timedelta(days=7), NOW)
    assert report.lookups == 3 and report.re_asks == 3
    assert [gap.tip_id for gap in report.gaps] == [SUP[0]] and report.unanswered == 1
    assert report.off_topic_count == 2
    assert report.off_topic_words == ()  # one person asked both: nothing of theirs shown
    assert "button" not in {s.surface for s in report.surfaces}
    data = report.to_json()
    assert data["re_asks"] == 3 and data["off_topic"]["count"] == 2
    console = Console(file=io.StringIO(), width=140, color_system=None)
    from bot.report import render

    render(report, console, timedelta(days=7))
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "2 off-topic" in out and '3 "Next best tip" re-asks' in out
    assert "coach situations add --team" in out  # how a lead attaches a tip from here
    assert "VPN" not in out and "sue us" not in out  # nobody's question, in any table
    assert "Off-topic (declined" in out


def test_the_query_log_keeps_how_each_lookup_was_answered(store: Store) -> None:
    from dataclasses import replace

    cases = {
        "confident": answered(),
        "unsure": replace(answered(), tier="unsure"),
        "decline": declined(),
        "offtopic": replace(declined(()), off_topic=True),
    }
    for tier, answer in cases.items():
        store.log_query(
            team_id="T1",
            user_id="U1",
            surface="dm",
            text=tier,
            answer=answer,
            latency_ms=1,
            now=NOW,
        )
    rows = store.queries_between(NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert {row.text: row.tier for row in rows} == {tier: tier for tier in cases}


def test_admin_summaries_are_counted_once_and_shared_by_concurrent_opens(store: Store) -> None:
    """Ten admins opening App Home at once cost one count; a later open after the period
    counts again; a failed count is not kept."""
    import threading

    from bot.report import SharedSummaries

    seed(store)
    counted: list[int] = []

    class Counting:
        def __getattr__(self, name: str) -> object:
            if name == "gap_summary":
                counted.append(1)
            return getattr(store, name)

    clock = [0.0]
    shared = SharedSummaries(seconds=300, clock=lambda: clock[0])
    results: list[list[str]] = []
    opens = [
        threading.Thread(target=lambda: results.append(shared.lines(Counting(), NOW)))  # type: ignore[arg-type]
        for _ in range(10)
    ]
    for thread in opens:
        thread.start()
    for thread in opens:
        thread.join()
    assert len(counted) == 1 and len(results) == 10
    assert all(r == admin_summary(store, NOW) for r in results)
    clock[0] = 301.0
    shared.lines(Counting(), NOW)  # type: ignore[arg-type]
    assert len(counted) == 2
    shared.lines(Counting(), NOW, timedelta(days=30))  # type: ignore[arg-type]
    assert len(counted) == 3  # another period is another count

    class Broken:
        def gap_summary(self, **_: object) -> None:
            raise RuntimeError("database is away")

    failing = SharedSummaries(clock=lambda: 0.0)
    with pytest.raises(RuntimeError):
        failing.lines(Broken(), NOW)  # type: ignore[arg-type]
    assert failing.lines(store, NOW) == admin_summary(store, NOW)
