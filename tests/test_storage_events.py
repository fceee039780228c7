"""Slack event ids are claimed exactly once, across stores, threads and processes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from storage_fixtures import claim_events_worker, run_workers

from bot.storage import Store
from bot.storage.schema import processed_events


def test_an_event_is_claimed_once(store: Store) -> None:
    assert store.claim_event("Ev0A1B2C") is True
    assert store.claim_event("Ev0A1B2C") is False
    assert store.claim_event("Ev0A1B2D") is True


def test_blank_event_id_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="event id"):
        store.claim_event("  ")


def test_very_long_event_ids_still_dedupe(store: Store) -> None:
    long_id = "Ev" + "x" * 600
    assert store.claim_event(long_id) is True
    assert store.claim_event(long_id) is False
    assert store.claim_event(long_id + "y") is True


def test_two_stores_on_one_database_share_claims(db_url: str) -> None:
    first, second = Store.from_url(db_url), Store.from_url(db_url)
    try:
        assert first.claim_event("Ev1") is True
        assert second.claim_event("Ev1") is False
        assert second.claim_event("Ev2") is True
        assert first.claim_event("Ev2") is False
    finally:
        first.close()
        second.close()


def test_racing_threads_on_two_stores_claim_each_id_once(db_url: str) -> None:
    stores = [Store.from_url(db_url), Store.from_url(db_url)]
    ids = [f"Ev{i}" for i in range(40)]
    jobs = [(stores[n % 2], event_id) for event_id in ids for n in range(4)]
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            outcomes = list(pool.map(lambda job: (job[1], job[0].claim_event(job[1])), jobs))
    finally:
        for opened in stores:
            opened.close()
    winners = sorted(event_id for event_id, won in outcomes if won)
    assert winners == sorted(ids)


def test_two_processes_claim_each_id_once(db_url: str) -> None:
    """Two OS processes (like two gunicorn workers) see the same retried events."""
    Store.from_url(db_url).close()  # schema in place; the race is on the claims
    ids = [f"Ev{i:03d}" for i in range(60)]
    results = run_workers(claim_events_worker, [(db_url, ids), (db_url, list(reversed(ids)))])
    won = [event_id for _, claimed in results for event_id in claimed]
    assert sorted(won) == ids  # every id exactly once, none lost


def test_old_event_ids_are_purged_after_a_day(store: Store) -> None:
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert store.claim_event("EvRecent", now=now - timedelta(hours=2))
    assert store.claim_event("EvOld", now=now - timedelta(days=2))  # no hourly purge yet
    assert store.purge_events(now=now) == 1
    with store.engine.connect() as conn:
        left = conn.execute(select(processed_events.c.event_id)).scalars().all()
    assert left == ["EvRecent"]


def test_claiming_purges_stale_ids_at_most_hourly(store: Store) -> None:
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    store.claim_event("Ev1", now=now - timedelta(days=3))  # first claim also runs a purge
    store.claim_event("Ev2", now=now - timedelta(days=3) + timedelta(minutes=5))
    store.claim_event("Ev3", now=now)  # > 1 h later: purge runs, Ev1/Ev2 are > 1 day old
    with store.engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(processed_events)).scalar_one()
    assert count == 1
