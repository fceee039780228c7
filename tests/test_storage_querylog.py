"""Query log, feedback, retention, Slack's stores, and proof that no raw PII is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import select, text
from storage_fixtures import answered, declined

from bot.storage import Store, UnknownRecord
from bot.storage.schema import feedback, metadata, query_log

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

RAW_PII = [
    "ann.lee@example.com",
    "4111 1111 1111 1111",
    "(555) 867-5309",
    "+44 20 7946 0958",
    "ACCT 99887766",
    "99887766",
    "Maria Alvarez",
    "4500 W. Elm Avenue",
    "CVV 739",
    "04/12/1987",
    "A-4471",
]
MESSAGE = (
    "customer ann.lee@example.com is angry, card 4111 1111 1111 1111 charged twice, "
    "call (555) 867-5309 or +44 20 7946 0958, ACCT 99887766; caller Maria Alvarez of "
    "4500 W. Elm Avenue read out her CVV 739 and DOB 04/12/1987 for order #A-4471"
)


def test_log_query_records_an_answered_lookup(store: Store) -> None:
    qid = store.log_query(
        team_id="T1",
        user_id="U1",
        surface="dm",
        text="customer wants the supervisor",
        answer=answered(chunk_ids=("sup:step:0", "sup:step:2"), confidence=0.91),
        latency_ms=123.4,
        now=NOW,
    )
    (row,) = store.recent_queries(team_id="T1", user_id="U1")
    assert row.id == qid
    assert (row.surface, row.text, row.answered, row.tip_id) == (
        "dm",
        "customer wants the supervisor",
        True,
        "tip-supervisor",
    )
    assert row.chunk_ids == ("sup:step:0", "sup:step:2")
    assert row.confidence == pytest.approx(0.91)
    assert row.latency_ms == pytest.approx(123.4)
    assert row.created_at == NOW and row.error is None


def test_an_unanswered_lookup_keeps_the_nearest_tip_for_the_gap_report(store: Store) -> None:
    store.log_query(
        team_id="T1",
        user_id="U1",
        surface="slash",
        text="how do I reset my VPN password",
        answer=declined(suggestions=(("tip-a", "Tip A"), ("tip-b", "Tip B")), confidence=0.12),
        latency_ms=80,
        now=NOW,
    )
    (row,) = store.recent_queries(team_id="T1", user_id="U1")
    assert not row.answered and row.tip_id is None
    assert (row.nearest_tip_id, row.nearest_title) == ("tip-a", "Tip A")
    assert row.suggestion_ids == ("tip-a", "tip-b") and row.chunk_ids == ()


def test_a_failed_lookup_is_logged_with_its_redacted_error(store: Store) -> None:
    store.log_query(
        team_id=None,
        user_id="U1",
        surface="mention",
        text="x",
        answer=None,
        latency_ms=5,
        error="IndexMissing: lookup for bob@example.org failed",
    )
    (row,) = store.recent_queries(team_id=None, user_id="U1")
    assert row.error == "IndexMissing: lookup for [email] failed"
    assert not row.answered and row.confidence is None


def test_unknown_surface_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="surface"):
        store.log_query(
            team_id="T1", user_id="U1", surface="fax", text="x", answer=None, latency_ms=1
        )


def test_recent_queries_are_the_reps_own_newest_first(store: Store) -> None:
    for minute, (team, user) in enumerate(
        [("T1", "U1"), ("T1", "U2"), ("T1", "U1"), ("T2", "U1"), ("T1", "U1")]
    ):
        store.log_query(
            team_id=team,
            user_id=user,
            surface="dm",
            text=f"situation {minute}",
            answer=answered(),
            latency_ms=1,
            now=NOW + timedelta(minutes=minute),
        )
    rows = store.recent_queries(team_id="T1", user_id="U1", limit=2)
    assert [r.text for r in rows] == ["situation 4", "situation 2"]
    assert [r.text for r in store.recent_queries(team_id="T2", user_id="U1")] == ["situation 3"]


def test_long_text_is_stored_clipped(store: Store) -> None:
    store.log_query(
        team_id="T1", user_id="U1", surface="dm", text="word " * 3000, answer=None, latency_ms=1
    )
    (row,) = store.recent_queries(team_id="T1", user_id="U1")
    assert len(row.text) == 4000 and row.text.endswith("…")


def test_text_a_database_cannot_store_is_cleaned_never_lost(store: Store) -> None:
    """NUL (Postgres refuses it) and lone surrogates are removed before every write: the
    query log, a 👎 comment, a question for the leads, a learned situation."""
    bad = "customer\x00 wants\ud800 the supervisor"
    query_id = store.log_query(
        team_id="T1",
        user_id="U1",
        surface="dm",
        text=bad,
        answer=None,
        latency_ms=1,
        error=f"boom{bad}",
    )
    (row,) = store.recent_queries(team_id="T1", user_id="U1")
    assert (
        row.text == "customer wants the supervisor"
        and row.error == "boomcustomer wants the supervisor"
    )
    vote = store.record_feedback(
        team_id="T1",
        user_id="U1",
        query_id=query_id,
        tip_id="t",
        chunk_ids=[],
        helpful=False,
        comment=bad,
    )
    store.update_feedback_comment(vote, bad)
    request = store.add_lead_request(
        team_id="T1", channel="C0LEADS", user_id="U1", text=bad, query_id=query_id
    )
    assert store.lead_request(request).text == "customer wants the supervisor"  # type: ignore[union-attr]
    store.add_learned_situation(team_id="T1", tip_id="t", text=bad, source="cli")
    [learned] = store.learned_situations("T1")
    assert learned.text == "customer wants the supervisor"
    [comment] = [
        v.comment
        for v in store.feedback_between(
            datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1)
        )
    ]
    assert comment == "customer wants the supervisor"


def test_feedback_is_stored_with_tip_and_chunks(store: Store) -> None:
    qid = store.log_query(
        team_id="T1", user_id="U1", surface="dm", text="x", answer=answered(), latency_ms=1
    )
    fid = store.record_feedback(
        team_id="T1",
        user_id="U1",
        query_id=qid,
        tip_id="tip-supervisor",
        chunk_ids=["c1", "c2"],
        helpful=False,
    )
    store.update_feedback_comment(fid, "  wrong tip, customer ann@example.com wanted a refund ")
    (row,) = store.feedback_between(NOW - timedelta(days=400), NOW + timedelta(days=400))
    assert (row.id, row.query_id, row.tip_id, row.chunk_ids, row.helpful) == (
        fid,
        qid,
        "tip-supervisor",
        ("c1", "c2"),
        False,
    )
    assert row.comment == "wrong tip, customer [email] wanted a refund"


def test_feedback_for_a_purged_or_bogus_query_keeps_the_vote(store: Store) -> None:
    fid = store.record_feedback(
        team_id="T1", user_id="U1", query_id=987654, tip_id="tip-a", chunk_ids=[], helpful=True
    )
    (row,) = store.feedback_between(NOW - timedelta(days=400), NOW + timedelta(days=400))
    assert row.id == fid and row.query_id is None and row.helpful


def test_unknown_feedback_comment_is_reported(store: Store) -> None:
    with pytest.raises(UnknownRecord, match="#424242"):
        store.update_feedback_comment(424242, "too late")


def test_retention_deletes_old_rows_only(store: Store) -> None:
    old = store.log_query(
        team_id="T1",
        user_id="U1",
        surface="dm",
        text="old",
        answer=answered(),
        latency_ms=1,
        now=NOW - timedelta(days=31),
    )
    store.record_feedback(
        team_id="T1",
        user_id="U1",
        query_id=old,
        tip_id="tip-a",
        chunk_ids=[],
        helpful=True,
        now=NOW - timedelta(days=31),
    )
    recent = store.log_query(
        team_id="T1",
        user_id="U1",
        surface="dm",
        text="recent",
        answer=answered(),
        latency_ms=1,
        now=NOW - timedelta(days=29),
    )
    # Feedback given recently on an old lookup survives; its link to the purged row is cleared.
    # (Another rep's vote: the same rep voting again would replace their old vote.)
    kept = store.record_feedback(
        team_id="T1",
        user_id="U2",
        query_id=old,
        tip_id="tip-a",
        chunk_ids=[],
        helpful=False,
        now=NOW,
    )
    assert store.purge_older_than(30, now=NOW) == 2
    assert [r.id for r in store.recent_queries(team_id="T1", user_id="U1")] == [recent]
    rows = store.feedback_between(NOW - timedelta(days=400), NOW + timedelta(days=1))
    assert [(r.id, r.query_id) for r in rows] == [(kept, None)]
    assert store.purge_older_than(30, now=NOW) == 0


def test_retention_must_be_positive(store: Store) -> None:
    with pytest.raises(ValueError):
        store.purge_older_than(0)


def test_logging_purges_by_the_retention_setting_at_most_hourly(sqlite_url: str) -> None:
    with Store.from_url(sqlite_url, retention_days=7) as opened:

        def log(at: datetime, label: str) -> None:
            opened.log_query(
                team_id="T",
                user_id="U",
                surface="dm",
                text=label,
                answer=None,
                latency_ms=1,
                now=at,
            )

        log(NOW - timedelta(days=10), "ancient")  # first call purges (nothing older yet)
        log(NOW - timedelta(days=10) + timedelta(minutes=1), "ancient 2")
        log(NOW - timedelta(minutes=30), "recent")  # > 1 h after the last purge: purges now
        assert [r.text for r in opened.recent_queries(team_id="T", user_id="U")] == ["recent"]


def test_lookups_per_tip_counts_answered_lookups(store: Store) -> None:
    for tip, times in (("tip-a", 3), ("tip-b", 1)):
        for _ in range(times):
            store.log_query(
                team_id="T1",
                user_id="U1",
                surface="dm",
                text="x",
                answer=answered(tip_id=tip),
                latency_ms=1,
                now=NOW,
            )
    store.log_query(
        team_id="T1", user_id="U1", surface="dm", text="x", answer=declined(), latency_ms=1, now=NOW
    )
    store.log_query(
        team_id="T1",
        user_id="U1",
        surface="dm",
        text="x",
        answer=answered(tip_id="tip-a"),
        latency_ms=1,
        now=NOW - timedelta(days=8),
    )
    assert store.lookups_per_tip(NOW - timedelta(days=7)) == {"tip-a": 3, "tip-b": 1}
    assert store.lookups_per_tip(NOW - timedelta(days=7), team_id="T9") == {}


# -- privacy: nothing raw reaches the database ---------------------------------------------


def _dump(opened: Store) -> str:
    """Every value of every one of our tables, as text."""
    parts = []
    with opened.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                parts.append(repr(tuple(row)))
    return "\n".join(parts)


def _log_everything(opened: Store) -> None:
    qid = opened.log_query(
        team_id="T1", user_id="U1", surface="dm", text=MESSAGE, answer=declined(), latency_ms=3
    )
    fid = opened.record_feedback(
        team_id="T1",
        user_id="U1",
        query_id=qid,
        tip_id="tip-a",
        chunk_ids=["c"],
        helpful=False,
        comment=MESSAGE,
    )
    opened.update_feedback_comment(fid, "also " + MESSAGE)
    opened.log_query(
        team_id="T1",
        user_id="U1",
        surface="slash",
        text="x",
        answer=None,
        latency_ms=3,
        error="crashed on " + MESSAGE,
    )


def test_no_raw_personal_data_reaches_the_database(store: Store) -> None:
    _log_everything(store)
    dumped = _dump(store)
    assert "[email]" in dumped and "[card]" in dumped and "[phone]" in dumped
    for raw in RAW_PII:
        assert raw not in dumped


def test_no_raw_personal_data_in_the_sqlite_files(tmp_path: Path) -> None:
    """Even the bytes on disk (database and write-ahead log) never held the raw text."""
    db = tmp_path / "coach.sqlite3"
    opened = Store.from_url(f"sqlite:///{db}")
    _log_everything(opened)
    on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("coach"))
    opened.close()
    assert b"[email]" in on_disk
    for raw in RAW_PII:
        assert raw.encode() not in on_disk


def test_user_names_have_no_column() -> None:
    names = {col.name for col in query_log.columns} | {col.name for col in feedback.columns}
    assert not {"user_name", "username", "name", "real_name", "display_name"} & names


# -- slack-sdk stores on our tables ---------------------------------------------------------


def _installation(team: str = "T1", enterprise: str | None = None) -> Installation:
    return Installation(
        app_id="A1",
        enterprise_id=enterprise,
        team_id=team,
        team_name="Support Team",
        bot_token="xoxb-secret-token",
        bot_id="B1",
        bot_user_id="UBOT",
        bot_scopes=["chat:write", "commands"],
        user_id="UINSTALLER",
        installed_at=NOW.timestamp(),
    )


def test_installation_store_round_trip_and_uninstall(store: Store) -> None:
    installations = store.installation_store("CLIENT1")
    installations.save(_installation("T1"))
    installations.save(_installation("T2"))
    found = installations.find_installation(enterprise_id=None, team_id="T1")
    assert found is not None and found.bot_token == "xoxb-secret-token"
    bot = installations.find_bot(enterprise_id=None, team_id="T1")
    assert bot is not None and bot.bot_user_id == "UBOT"

    assert store.delete_installation("T1") == 2  # one installation row, one bot row
    assert installations.find_installation(enterprise_id=None, team_id="T1") is None
    assert installations.find_bot(enterprise_id=None, team_id="T1") is None
    assert installations.find_bot(enterprise_id=None, team_id="T2") is not None


def test_enterprise_installs_are_deleted_by_enterprise(store: Store) -> None:
    installations = store.installation_store("CLIENT1")
    installations.save(_installation("T1", enterprise="E1"))
    installations.save(_installation("T1", enterprise=None))
    assert store.delete_installation("T1", enterprise_id="E1") == 2
    assert installations.find_installation(enterprise_id=None, team_id="T1") is not None


def test_delete_installation_needs_an_id(store: Store) -> None:
    with pytest.raises(ValueError):
        store.delete_installation(None)


def test_oauth_state_is_shared_and_single_use(db_url: str) -> None:
    first, second = Store.from_url(db_url), Store.from_url(db_url)
    try:
        state = first.oauth_state_store(600).issue()
        assert second.oauth_state_store(600).consume(state) is True
        assert first.oauth_state_store(600).consume(state) is False
        expired = first.oauth_state_store(-1).issue()
        assert second.oauth_state_store(600).consume(expired) is False
        with first.engine.connect() as conn:
            states = conn.execute(text("SELECT COUNT(*) FROM slack_oauth_states")).scalar_one()
        assert states == 1
        first.purge_older_than(90)  # drops the expired state
        with first.engine.connect() as conn:
            states = conn.execute(text("SELECT COUNT(*) FROM slack_oauth_states")).scalar_one()
        assert states == 0
    finally:
        first.close()
        second.close()
