"""Weekly post claims: one per channel and week, released on failure, taken over when stale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from storage_fixtures import claim_weekly_worker, run_workers

from bot.storage import Store, UnknownRecord

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def claim(store: Store, owner: str = "clock@a:1", now: datetime = NOW, **kw: object) -> bool:
    args = {
        "channel": "C0TEAM",
        "week_key": "2026-W48",
        "tip_id": "tip-a",
        "owner": owner,
        "now": now,
    }
    args.update(kw)
    return store.claim_weekly(**args)  # type: ignore[arg-type]


def test_only_the_first_claim_wins(store: Store) -> None:
    assert claim(store, "clock@a:1") is True
    assert claim(store, "clock@b:2") is False
    assert claim(store, "clock@a:1") is False  # not re-entrant: one claim, one post
    assert claim(store, "clock@b:2", channel="C0OTHER") is True
    assert claim(store, "clock@b:2", week_key="2026-W49") is True


def test_posted_week_is_history_and_never_claimed_again(store: Store) -> None:
    assert claim(store)
    store.mark_weekly_posted(channel="C0TEAM", week_key="2026-W48", ts="1700000000.000100", now=NOW)
    assert claim(store, "clock@b:2", now=NOW + timedelta(days=2)) is False
    (row,) = store.weekly_posts("C0TEAM")
    assert (row.status, row.ts, row.tip_id, row.week_key) == (
        "posted",
        "1700000000.000100",
        "tip-a",
        "2026-W48",
    )
    assert row.posted_at == NOW and row.claimed_at == NOW


def test_a_failed_post_releases_the_claim(store: Store) -> None:
    assert claim(store, "clock@a:1")
    store.release_weekly(channel="C0TEAM", week_key="2026-W48")
    assert store.weekly_posts("C0TEAM") == []
    assert claim(store, "clock@b:2") is True


def test_release_never_undoes_a_confirmed_post(store: Store) -> None:
    assert claim(store)
    store.mark_weekly_posted(channel="C0TEAM", week_key="2026-W48", ts="1.2", now=NOW)
    store.release_weekly(channel="C0TEAM", week_key="2026-W48")
    assert [row.status for row in store.weekly_posts("C0TEAM")] == ["posted"]


def test_a_crashed_claim_is_taken_over_after_the_lease(store: Store) -> None:
    assert claim(store, "clock@a:1", tip_id="tip-a")
    lease = timedelta(minutes=15)
    assert claim(store, "clock@b:2", now=NOW + lease - timedelta(seconds=1), lease=lease) is False
    assert claim(store, "clock@b:2", now=NOW + lease + timedelta(seconds=1), tip_id="tip-b") is True
    assert claim(store, "clock@c:3", now=NOW + lease + timedelta(seconds=2)) is False
    (row,) = store.weekly_posts("C0TEAM")
    assert (row.owner, row.tip_id, row.status) == ("clock@b:2", "tip-b", "claimed")


def test_marking_an_unknown_claim_is_reported(store: Store) -> None:
    with pytest.raises(UnknownRecord, match="C0NONE"):
        store.mark_weekly_posted(channel="C0NONE", week_key="2026-W48", ts="1.2", now=NOW)


def test_history_is_per_channel_in_week_order(store: Store) -> None:
    for week, tip in (("2026-W47", "tip-b"), ("2026-W45", "tip-a"), ("2026-W46", "tip-c")):
        assert claim(store, week_key=week, tip_id=tip)
        store.mark_weekly_posted(channel="C0TEAM", week_key=week, ts=f"{week}.1", now=NOW)
    assert claim(store, channel="C0ELSE", week_key="2026-W47", tip_id="tip-z")
    assert [(r.week_key, r.tip_id) for r in store.weekly_posts("C0TEAM")] == [
        ("2026-W45", "tip-a"),
        ("2026-W46", "tip-c"),
        ("2026-W47", "tip-b"),
    ]


def test_two_scheduler_processes_race_for_one_week(db_url: str) -> None:
    Store.from_url(db_url).close()
    results = run_workers(claim_weekly_worker, [(db_url, f"clock@host:{n}") for n in range(2)])
    assert sorted(won for _, won in results) == [False, True]
    with Store.from_url(db_url) as opened:
        (row,) = opened.weekly_posts("C0WEEKLY")
    winner = next(owner for owner, won in results if won)
    assert row.owner == winner
