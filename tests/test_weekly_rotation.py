"""Choosing the week's tip: no repeats before the corpus is exhausted, full tips first,
new tips join, what reps asked about this week wins (within the round), and a claim fixes
the week. ``plan`` (what the weekly post and App Home both show) is tested on plain data."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.weekly.rotation import (
    ASKED_WINDOW,
    MIN_ASKS,
    NoTips,
    Pick,
    asked_note,
    asked_this_week,
    choose_tip,
    keep_claimed,
    plan,
    rotation_order,
)
from retrieval.models import Tip


@dataclass(frozen=True)
class Row:
    tip_id: str
    week_key: str
    status: str = "posted"


def tip(tip_id: str, full: bool, day: int = 1) -> Tip:
    return Tip(id=tip_id, title=tip_id.title(), date=date(2026, 1, day), categories=(), full=full)


# newest first, like Coach.tips(): teasers and full tips interleaved
CORPUS = [
    tip("t-teaser-a", False, 28),
    tip("t-full-a", True, 27),
    tip("t-teaser-b", False, 26),
    tip("t-full-b", True, 25),
    tip("t-teaser-c", False, 24),
    tip("t-full-c", True, 23),
]


def run_weeks(tips: list[Tip], weeks: int, asked: dict[str, int] | None = None) -> list[Pick]:
    history: list[Row] = []
    picks = []
    for n in range(weeks):
        pick = choose_tip(tips, history, week_key=f"2026-W{n:02d}", asked=asked)
        history.append(Row(pick.tip_id, f"2026-W{n:02d}"))
        picks.append(pick)
    return picks


def test_full_tips_come_first_then_teasers_in_corpus_order() -> None:
    picks = [p.tip_id for p in run_weeks(CORPUS, 6)]
    assert picks == ["t-full-a", "t-full-b", "t-full-c", "t-teaser-a", "t-teaser-b", "t-teaser-c"]
    assert [t.id for t in rotation_order(CORPUS)] == picks


def test_no_repeat_until_every_tip_was_posted_then_a_new_round() -> None:
    picks = run_weeks(CORPUS, 14)
    first, second = picks[:6], picks[6:12]
    assert len({p.tip_id for p in first}) == 6 and len({p.tip_id for p in second}) == 6
    assert [p.round for p in picks[:7]] == [0, 0, 0, 0, 0, 0, 1]
    assert [p.remaining for p in picks[:6]] == [6, 5, 4, 3, 2, 1]
    assert picks[6].tip_id == "t-full-a"  # the second round starts with full tips again


@settings(max_examples=60, deadline=None)
@given(
    fulls=st.lists(st.booleans(), min_size=1, max_size=12),
    asked=st.dictionaries(st.integers(0, 11), st.integers(0, 30), max_size=6),
    weeks=st.integers(1, 40),
)
def test_never_repeats_before_the_corpus_is_exhausted(
    fulls: list[bool], asked: dict[int, int], weeks: int
) -> None:
    tips = [tip(f"t{n}", full) for n, full in enumerate(fulls)]
    counts = {f"t{n}": c for n, c in asked.items()}
    picks = [p.tip_id for p in run_weeks(tips, weeks, counts)]
    size = len(tips)
    for start in range(0, len(picks), size):
        block = picks[start : start + size]
        assert len(block) == len(set(block)), f"repeat inside a round: {block}"
    # full before teaser within each round unless demand (>= MIN_ASKS) picked a teaser
    for start in range(0, len(picks), size):
        block = picks[start : start + size]
        kinds = [tips[int(t[1:])].full for t in block if counts.get(t, 0) < MIN_ASKS]
        assert kinds == sorted(kinds, reverse=True)


def test_new_tips_join_the_current_round() -> None:
    history = [Row(t, f"2026-W{n:02d}") for n, t in enumerate(["t-full-a", "t-full-b"])]
    newcomer = tip("t-new-full", True, 30)
    pick = choose_tip([newcomer, *CORPUS], history, week_key="2026-W10")
    assert pick.tip_id == "t-new-full"
    # A round that is complete for the old tips still waits for the newcomer first.
    everything = [Row(t.id, f"2026-W{n:02d}") for n, t in enumerate(CORPUS)]
    pick = choose_tip([*CORPUS, tip("t-new-teaser", False)], everything, week_key="2026-W20")
    assert (pick.tip_id, pick.round, pick.remaining) == ("t-new-teaser", 0, 1)


def test_removed_tips_and_unconfirmed_claims_do_not_count() -> None:
    history = [
        Row("t-gone", "2026-W01"),  # no longer in the corpus
        Row("t-full-a", "2026-W02", status="claimed"),  # never confirmed by Slack
    ]
    assert choose_tip(CORPUS, history, week_key="2026-W03").tip_id == "t-full-a"


def test_this_weeks_own_row_is_not_history() -> None:
    # Re-planning a week (preview, a retry) must not skip the tip that week already has.
    history = [Row("t-full-a", "2026-W05")]
    assert choose_tip(CORPUS, history, week_key="2026-W05").tip_id == "t-full-a"


def test_most_asked_tip_not_yet_posted_wins_and_says_so() -> None:
    asked = {"t-teaser-c": 14, "t-full-b": 9, "t-full-a": 40}
    history = [Row("t-full-a", "2026-W01")]  # most asked, but already posted this round
    pick = choose_tip(CORPUS, history, week_key="2026-W02", asked=asked)
    assert (pick.tip_id, pick.reason, pick.asked) == ("t-teaser-c", "asked", 14)
    assert asked_note(pick) == "Reps asked about this 14 times this week."


def test_a_few_asks_are_noise() -> None:
    pick = choose_tip(CORPUS, [], week_key="2026-W02", asked={"t-teaser-c": MIN_ASKS - 1})
    assert (pick.tip_id, pick.reason) == ("t-full-a", "rotation")
    assert asked_note(pick) is None


def test_ties_in_demand_follow_the_rotation_order() -> None:
    asked = {"t-teaser-a": 5, "t-full-c": 5}
    assert choose_tip(CORPUS, [], week_key="W", asked=asked).tip_id == "t-full-c"
    assert choose_tip(CORPUS, [], week_key="W", asked=asked) == choose_tip(
        list(CORPUS), [], week_key="W", asked=dict(asked)
    )


def test_a_claim_keeps_its_tip() -> None:
    assert keep_claimed("t-full-b", {"t-full-b": 2}) == Pick("t-full-b", "claimed", 2, 0, 0)
    assert keep_claimed("t-full-b", {"t-full-b": 20}).reason == "asked"


def test_empty_corpus_is_a_clear_error() -> None:
    with pytest.raises(NoTips, match="no tips"):
        choose_tip([], [], week_key="2026-W01")


# -- plan: the week's tip from plain inputs (the poster and App Home both call it) ----------


def plan_weeks(
    tips: list[Tip],
    weeks: int,
    asked: dict[str, int] | None = None,
    history: list[Row] | None = None,
) -> list[Pick]:
    """``weeks`` consecutive weeks of one channel, each posted as planned."""
    history = list(history or [])
    picks = []
    for n in range(weeks):
        week = f"2026-W{n + 10:02d}"
        pick = plan(tips, history, week_key=week, asked=asked)
        history.append(Row(pick.tip_id, week))
        picks.append(pick)
    return picks


def test_plan_rotates_through_every_tip_before_repeating() -> None:
    picks = plan_weeks(CORPUS, 7)
    assert [p.tip_id for p in picks[:6]] == [t.id for t in rotation_order(CORPUS)]
    assert {p.reason for p in picks} == {"rotation"}
    assert [p.remaining for p in picks[:6]] == [6, 5, 4, 3, 2, 1]
    assert (picks[6].tip_id, picks[6].round) == ("t-full-a", 1)


def test_plan_prefers_the_tip_reps_asked_about_most_this_week() -> None:
    asked = {"t-teaser-b": 7, "t-full-c": 4, "t-full-a": 2}
    pick = plan(CORPUS, [], week_key="2026-W10", asked=asked)
    assert (pick.tip_id, pick.reason, pick.asked) == ("t-teaser-b", "asked", 7)
    assert asked_note(pick) == "Reps asked about this 7 times this week."
    # Once posted, the next most-asked one of the round follows; then the rotation resumes.
    picks = plan_weeks(CORPUS, 3, asked)
    assert [(p.tip_id, p.reason) for p in picks] == [
        ("t-teaser-b", "asked"),
        ("t-full-c", "asked"),
        ("t-full-a", "rotation"),
    ]


def test_plan_lets_a_new_tip_join_the_current_round() -> None:
    history = [Row(t.id, f"2026-W{n:02d}") for n, t in enumerate(CORPUS[:3])]
    newcomer = tip("t-new-full", True, 30)
    pick = plan([newcomer, *CORPUS], history, week_key="2026-W10")
    assert (pick.tip_id, pick.reason, pick.round) == ("t-new-full", "rotation", 0)


def test_plan_starts_a_new_round_when_nothing_is_left_in_this_one() -> None:
    history = [Row(t.id, f"2026-W{n:02d}") for n, t in enumerate(CORPUS)]
    pick = plan(CORPUS, history, week_key="2026-W10")
    assert (pick.tip_id, pick.round, pick.remaining) == ("t-full-a", 1, len(CORPUS))


def test_plan_with_no_tips_at_all_is_a_clear_error() -> None:
    with pytest.raises(NoTips):
        plan([], [Row("t-gone", "2026-W10", status="claimed")], week_key="2026-W10")


def test_plan_keeps_the_tip_this_weeks_claim_chose() -> None:
    history = [Row("t-full-a", "2026-W09"), Row("t-teaser-c", "2026-W10", status="claimed")]
    pick = plan(CORPUS, history, week_key="2026-W10", asked={"t-full-b": 50})
    assert pick == Pick("t-teaser-c", "claimed", 0, 0, 0)
    backed = plan(CORPUS, history, week_key="2026-W10", asked={"t-teaser-c": MIN_ASKS})
    assert (backed.tip_id, backed.reason) == ("t-teaser-c", "asked")


def test_plan_chooses_again_when_the_claimed_tip_left_the_corpus() -> None:
    history = [Row("t-gone", "2026-W10", status="claimed")]
    assert plan(CORPUS, history, week_key="2026-W10").tip_id == "t-full-a"


def test_asked_this_week_reads_the_last_seven_days_and_survives_a_broken_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = datetime(2026, 3, 2, 9, tzinfo=UTC)
    calls: list[tuple[datetime, datetime, str | None]] = []

    def counts(since: datetime, until: datetime, team_id: str | None = None) -> Mapping[str, int]:
        calls.append((since, until, team_id))
        return {"t-full-a": 4}

    assert asked_this_week(counts, now, "T1") == {"t-full-a": 4}
    assert calls == [(now - ASKED_WINDOW, now, "T1")]

    def broken(since: datetime, until: datetime, team_id: str | None = None) -> Mapping[str, int]:
        raise RuntimeError("database is down")

    with caplog.at_level(logging.ERROR, logger="bot.weekly"):
        assert asked_this_week(broken, now) == {}
    assert "reading the query log failed" in caplog.text
