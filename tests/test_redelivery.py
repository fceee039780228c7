"""Answers Slack did not take: retried outside the work pool, held in the database so a
crash or a restart does not lose them, and never delivered twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.delivery import ReplyTarget, held_record
from bot.redelivery import Held, Journal, Redelivery
from bot.render import Message
from bot.storage import Store
from bot.storage.schema import pending_deliveries

FAST = (0.05, 0.05, 0.05)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


class Slack:
    """A send target that is down for the first ``failures`` tries, and counts what landed."""

    def __init__(self, failures: int = 0) -> None:
        self.failures, self.tries, self.landed = failures, 0, 0
        self.lock = threading.Lock()

    def send(self) -> bool:
        with self.lock:
            self.tries += 1
            if self.tries <= self.failures:
                raise ConnectionError("slack is down")
            self.landed += 1
            return True


def held(key: str = "k1", team: str = "T1") -> Held:
    return Held(key, team, {"where": {"channel": "D1"}, "n": 1})


def rows(store: Store) -> list[Any]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(pending_deliveries)))


# -- the journal in the store --------------------------------------------------------------------


def test_a_held_answer_is_claimed_by_one_process_only_after_its_lease(store: Store) -> None:
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    lease = timedelta(seconds=90)
    assert store.hold_delivery("k1", team_id="T1", record={"a": 1}, owner="A", lease=lease, now=now)
    assert not store.hold_delivery("k1", team_id="T1", record={}, owner="B", lease=lease, now=now)
    assert store.claim_deliveries("B", lease=lease, now=now + timedelta(seconds=30)) == []
    later = now + timedelta(seconds=91)
    [taken] = store.claim_deliveries("B", lease=lease, now=later)
    assert (taken.key, taken.team_id, taken.attempts, taken.record) == ("k1", "T1", 0, {"a": 1})
    assert store.claim_deliveries("C", lease=lease, now=later) == []  # B holds it now
    store.release_delivery("k1", attempts=4, retry_at=later + timedelta(minutes=2))
    assert store.claim_deliveries("C", lease=lease, now=later + timedelta(minutes=1)) == []
    [again] = store.claim_deliveries("C", lease=lease, now=later + timedelta(minutes=3))
    assert again.attempts == 4
    store.forget_delivery("k1")
    assert store.pending_delivery_count() == 0


def test_processes_racing_to_claim_take_each_answer_once(db_url: str) -> None:
    stores = [Store.from_url(db_url) for _ in range(4)]
    try:
        past = datetime.now(UTC) - timedelta(hours=1)
        for n in range(20):
            stores[0].hold_delivery(
                f"k{n}", team_id="T1", record={}, owner="dead", lease=timedelta(0), now=past
            )
        taken: list[str] = []
        lock = threading.Lock()

        def sweep(store: Store, owner: str) -> None:
            for claimed in store.claim_deliveries(owner, lease=timedelta(minutes=5), limit=50):
                with lock:
                    taken.append(claimed.key)

        threads = [threading.Thread(target=sweep, args=(s, f"p{i}")) for i, s in enumerate(stores)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(taken) == sorted(f"k{n}" for n in range(20))  # all, none twice
    finally:
        for s in stores:
            s.close()


def test_the_held_record_keeps_no_personal_data(store: Store) -> None:
    where = ReplyTarget(channel="D1", user_id="U1", team_id="T1")
    message = Message(
        text="You asked: refund for jane.doe@example.com, call 415-555-0134",
        blocks=[
            {"type": "section", "text": {"type": "mrkdwn", "text": "card 4111 1111 1111 1111"}}
        ],
    )
    item = held_record(where, message, since=1_700_000_000.0)
    store.hold_delivery(
        item.key, team_id="T1", record=item.record, owner="A", lease=timedelta(seconds=1)
    )
    [row] = rows(store)
    dumped = str(row.record)
    for secret in ("jane.doe@example.com", "415-555-0134", "4111 1111 1111 1111"):
        assert secret not in dumped
    assert row.record["text_sha"] != message.text and len(row.record["text_sha"]) == 64
    # the same answer to the same place is the same key (held once), another is not
    assert held_record(where, message, since=1_700_000_000.0).key == item.key
    assert held_record(where, message, since=1_700_000_001.0).key != item.key


# -- the retry thread with a journal -------------------------------------------------------------


def test_a_retried_answer_is_held_until_delivered(store: Store) -> None:
    slack = Slack(failures=2)
    redelivery = Redelivery(FAST, journal=Journal(store), sweep_every=60)
    redelivery.start()
    redelivery.schedule(slack.send, held=held())
    assert wait_until(lambda: store.pending_delivery_count() == 1 or slack.landed == 1)
    assert wait_until(lambda: slack.landed == 1)
    assert wait_until(lambda: store.pending_delivery_count() == 0)
    assert (redelivery.delivered, redelivery.lost) == (1, 0)
    redelivery.drain(1)


def test_an_answer_left_by_a_dead_process_is_delivered_once_by_the_survivors(db_url: str) -> None:
    first, second = Store.from_url(db_url), Store.from_url(db_url)
    slack = Slack()
    try:
        past = datetime.now(UTC) - timedelta(minutes=1)
        first.hold_delivery(
            "orphan", team_id="T1", record={"n": 1}, owner="dead", lease=timedelta(0), now=past
        )
        revived: list[dict[str, Any]] = []

        def revive(record: dict[str, Any]) -> Any:
            revived.append(record)
            return slack.send, lambda: False

        survivors = [
            Redelivery(FAST, journal=Journal(s), revive=revive, sweep_every=0.05)
            for s in (first, second)
        ]
        for survivor in survivors:
            survivor.start()
        assert wait_until(lambda: slack.landed == 1)
        time.sleep(0.3)  # several more sweeps by both
        assert slack.landed == 1 and revived == [{"n": 1}]
        assert first.pending_delivery_count() == 0
        for survivor in survivors:
            survivor.drain(1)
    finally:
        first.close()
        second.close()


def test_an_answer_whose_lease_ran_out_while_queued_here_is_not_sent_twice(store: Store) -> None:
    slack = Slack(failures=1)
    revived: list[Any] = []
    redelivery = Redelivery(
        (0.4, 0.4),
        journal=Journal(store, lease=timedelta(0)),  # the lease is over at once
        revive=lambda record: revived.append(record) or (slack.send, lambda: False),
        sweep_every=0.02,
    )
    redelivery.start()
    redelivery.schedule(slack.send, held=held())
    assert wait_until(lambda: slack.landed == 1)
    time.sleep(0.2)
    assert slack.landed == 1 and revived == []
    redelivery.drain(1)


def test_at_shutdown_undelivered_answers_are_left_for_the_next_process(store: Store) -> None:
    down = Slack(failures=1000)
    redelivery = Redelivery((30.0,), journal=Journal(store), sweep_every=60)
    redelivery.start()
    redelivery.schedule(down.send, held=held("left"))
    assert wait_until(lambda: store.pending_delivery_count() == 1)
    lost = redelivery.drain(1)
    assert lost == 0 and redelivery.handed_on == 1 and down.tries == 1  # one last try
    # the next process takes it over at once (its lease was released, not left to run out)
    up = Slack()
    successor = Redelivery(
        FAST, journal=Journal(store), revive=lambda r: (up.send, lambda: False), sweep_every=60
    )
    successor.start()
    assert wait_until(lambda: up.landed == 1)
    assert wait_until(lambda: store.pending_delivery_count() == 0)
    successor.drain(1)


def test_a_held_answer_is_given_up_when_too_old_or_tried_too_often(store: Store) -> None:
    old = datetime.now(UTC) - timedelta(hours=1)
    store.hold_delivery("old", team_id="T1", record={}, owner="x", lease=timedelta(0), now=old)
    sent = Slack()
    redelivery = Redelivery(
        FAST,
        journal=Journal(store),
        revive=lambda r: (sent.send, lambda: False),
        sweep_every=0.05,
        max_age=timedelta(minutes=25),
    )
    redelivery.start()
    assert wait_until(lambda: store.pending_delivery_count() == 0)
    assert sent.tries == 0 and redelivery.lost == 1
    # tried too often: the quick retries of this process exhaust the budget
    down = Slack(failures=1000)
    redelivery.max_tries = 3
    redelivery.schedule(down.send, held=held("tired"))
    assert wait_until(lambda: redelivery.lost == 2, timeout=10)
    assert wait_until(lambda: store.pending_delivery_count() == 0)
    assert down.tries == 3
    redelivery.drain(1)


def test_an_answer_that_cannot_be_rebuilt_is_dropped_and_counted(store: Store) -> None:
    store.hold_delivery(
        "gone",
        team_id="T9",
        record={},
        owner="x",
        lease=timedelta(0),
        now=datetime.now(UTC) - timedelta(seconds=5),
    )
    redelivery = Redelivery(FAST, journal=Journal(store), revive=lambda r: None, sweep_every=60)
    redelivery.start()
    assert wait_until(lambda: redelivery.lost == 1)
    assert wait_until(lambda: store.pending_delivery_count() == 0)
    redelivery.drain(1)


def test_without_the_database_answers_are_still_retried_from_memory() -> None:
    class Away:
        def __getattr__(self, name: str) -> Any:
            def fail(*args: Any, **kwargs: Any) -> Any:
                raise ConnectionError("database away")

            return fail

    slack = Slack(failures=2)
    redelivery = Redelivery(FAST, journal=Journal(Away()), sweep_every=0.05)
    redelivery.start()
    redelivery.schedule(slack.send, held=held())
    assert wait_until(lambda: slack.landed == 1)
    assert (redelivery.delivered, redelivery.lost) == (1, 0)
    redelivery.drain(1)


@pytest.mark.parametrize("failures", [0, 3])
def test_memory_only_retries_keep_working(failures: int) -> None:
    slack = Slack(failures=failures)
    redelivery = Redelivery((0.02,) * 5)
    redelivery.schedule(slack.send)
    assert wait_until(lambda: slack.landed == 1)
    redelivery.drain(1)
