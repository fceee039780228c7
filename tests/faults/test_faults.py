"""The fault suite: under each fault, every acked request is answered, once.

Each test drives the real app (signed requests, a loopback fake Slack, the production
store wiring) through one fault and prints what it measured: answered / doubled / lost.
"""

from __future__ import annotations

import hashlib
import json
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from bot_fixtures import (
    BOT_TOKEN,
    DM_CHANNEL,
    SlowCoach,
    post_slash_over_http,
    shared_coach,
    sign,
)
from fake_slack import FakeSlack

from bot import render
from bot.storage import Store

from .conftest import Postgres, production_bot, report, server_process, wait_until

SUPERVISOR = "customer wants to talk to the supervisor"
pytestmark = pytest.mark.timeout(120)


def dm_answers(slack: FakeSlack, channel: str = DM_CHANNEL) -> list[Any]:
    return [c for c in slack.delivered("chat.postMessage") if c.body.get("channel") == channel]


# -- Slack trouble -------------------------------------------------------------------------------


def test_slack_500s_on_the_answer_deliver_it_later_once(tmp_path: Path) -> None:
    with production_bot(tmp_path) as bot:
        bot.slack.fail("chat.postMessage", times=5, status=500)  # the client's 3 retries, then ours
        assert bot.post_event(bot.dm_event(SUPERVISOR), event_id="Ev0FAULT500").status == 200
        assert wait_until(lambda: len(dm_answers(bot.slack)) >= 1, timeout=15)
        bot.slack.wait_idle(quiet=0.5)
        answers = dm_answers(bot.slack)
        report("slack 500 x5 on chat.postMessage", answered=len(answers), doubled=len(answers) - 1)
        assert len(answers) == 1 and "When They Want the Supervisor" in answers[0].body["text"]
        assert bot.deps.redelivery.delivered == 1


def test_a_post_that_timed_out_but_landed_is_not_posted_again(tmp_path: Path) -> None:
    with production_bot(tmp_path, redelivery_delays=(2.0, 5.0)) as bot:
        # Slack takes 1.5 s (the client gives up after 1 s), but the post lands.
        bot.slack.fail("chat.postMessage", times=4, delay=1.5)
        assert bot.post_event(bot.dm_event(SUPERVISOR), event_id="Ev0FAULTSLOW").status == 200
        time.sleep(6)
        answers = dm_answers(bot.slack)
        report(
            "chat.postMessage slower than the timeout",
            answered=len(answers) > 0,
            doubled=len(answers) - 1,
        )
        assert len(answers) == 1  # the retry found it in the history instead of posting again


def test_a_reaction_that_times_out_never_aborts_the_answer(tmp_path: Path) -> None:
    with production_bot(tmp_path) as bot:
        bot.slack.delay("reactions.add", 3.0)
        assert bot.post_event(bot.dm_event(SUPERVISOR)).status == 200
        assert wait_until(lambda: len(dm_answers(bot.slack)) == 1, timeout=15)
        text = dm_answers(bot.slack)[0].all_text()
        report("reactions.add timing out", answered=1, aborted="Something went wrong" in text)
        assert "When They Want the Supervisor" in text and "Something went wrong" not in text


def test_a_slash_answer_whose_response_url_fails_is_replaced_not_doubled(tmp_path: Path) -> None:
    with production_bot(tmp_path) as bot:
        bot.slack.fail("response_url", times=5, status=500)
        assert bot.post_command(SUPERVISOR, response_name="flaky").status == 200
        assert wait_until(lambda: len(bot.slack.delivered("response_url")) >= 1, timeout=15)
        bot.slack.wait_idle(quiet=0.5)
        [answer] = bot.slack.delivered("response_url")
        report("response_url 500 x5", answered=1)
        assert answer.body.get("replace_original") in (True, "true")  # a late duplicate replaces


# -- replays and hostile input -------------------------------------------------------------------


def test_a_replayed_slash_command_and_share_click_are_answered_once(tmp_path: Path) -> None:
    with production_bot(tmp_path) as bot:
        body = bot.command_body(SUPERVISOR, response_name="replayed")
        headers = sign(body)
        statuses = [
            bot.request(
                "POST",
                "/slack/events",
                body,
                content_type="application/x-www-form-urlencoded",
                headers=headers,
            ).status
            for _ in range(6)
        ]
        assert statuses == [200] * 6  # every replay is acked...
        bot.slack.wait_for("response_url", timeout=15)
        bot.slack.wait_idle(quiet=0.5)
        answers = bot.slack.calls("response_url")
        card = answers[0].body
        share = bot.button(card["blocks"], render.ACTION_SHARE)
        payload = bot.action_payload(render.ACTION_SHARE, share["value"], response_name="share")
        share_body = "payload=" + urllib.parse.quote(json.dumps(payload))
        share_headers = sign(share_body)
        for _ in range(3):
            bot.request(
                "POST",
                "/slack/events",
                share_body,
                content_type="application/x-www-form-urlencoded",
                headers=share_headers,
            )
        bot.slack.wait_for("chat.postMessage", timeout=15)
        bot.slack.wait_idle(quiet=0.5)
        public = bot.slack.calls("chat.postMessage")
        report("slash replayed x6, share replayed x3", answers=len(answers), shares=len(public))
        assert len(answers) == 1 and len(public) == 1  # ...and answered once


def test_a_huge_message_costs_other_reps_nothing(tmp_path: Path) -> None:
    huge = ("a" * 39_000) + " customer wants the supervisor"  # Slack's limit is 40,000
    with production_bot(tmp_path) as bot:
        started = time.perf_counter()
        assert bot.post_event(bot.dm_event(huge)).status == 200
        acks = []
        for n in range(10):
            t = time.perf_counter()
            assert bot.post_command(SUPERVISOR, response_name=f"other-{n}").status == 200
            acks.append((time.perf_counter() - t) * 1000)
        assert wait_until(lambda: len(bot.slack.calls("response_url")) == 10, timeout=15)
        assert wait_until(lambda: len(dm_answers(bot.slack)) == 1, timeout=15)
        took = time.perf_counter() - started
        report(
            "a 39,030-character DM",
            worst_other_ack_ms=round(max(acks)),
            all_answered_s=round(took, 2),
        )
        assert max(acks) < 1000 and took < 10


def test_sigterm_with_slow_slack_answers_every_acked_request(tmp_path: Path) -> None:
    with production_bot(tmp_path, coach=SlowCoach(shared_coach(), 0.2)) as bot:
        bot.slack.delay("response_url", 0.5)  # every answer takes half a second to reach Slack
        for n in range(30):
            assert bot.post_command(SUPERVISOR, response_name=f"late-{n}").status == 200
        started = time.perf_counter()
        bot.deps.close(grace=20)  # what SIGTERM does (gunicorn's worker exit)
        took = time.perf_counter() - started
        answered = {c.path for c in bot.slack.calls("response_url")}
        report(
            "30 acked, slow Slack, then SIGTERM",
            answered=len(answered),
            lost=30 - len(answered),
            drain_s=round(took, 2),
        )
        assert len(answered) == 30 and took < 20


# -- the database -------------------------------------------------------------------------------


def _rows(url: str) -> int:
    with Store.from_url(url) as store:
        from sqlalchemy import func, select

        from bot.storage.schema import query_log

        with store.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(query_log)).scalar_one())


def test_postgres_stopped_mid_load_answers_once_and_keeps_the_log(
    tmp_path: Path, postgres: Postgres
) -> None:
    with production_bot(tmp_path, database_url=postgres.url, db_timeout=1.0) as bot:
        assert bot.post_event(bot.dm_event(SUPERVISOR), event_id="Ev0BEFORE01").status == 200
        assert wait_until(lambda: len(dm_answers(bot.slack)) == 1)
        postgres.stop()
        events = [f"Ev0DOWN{n:04d}" for n in range(5)]
        for event_id in events:
            for retry in (None, 1, 2):  # Slack's retries of each event during the outage
                bot.post_event(bot.dm_event(SUPERVISOR), event_id=event_id, retry_num=retry)
        assert wait_until(lambda: len(dm_answers(bot.slack)) == 6, timeout=20)
        health = bot.request("GET", "/healthz").json()
        postgres.start()
        assert wait_until(lambda: not bot.deps.store.pending, timeout=20)
        bot.slack.wait_idle(quiet=0.5)
        answered = len(dm_answers(bot.slack))
        rows = _rows(postgres.url)
        report(
            "postgres stopped, 5 events x3 deliveries",
            answered=answered - 1,
            doubled=answered - 6,
            log_rows=rows,
            healthz_during=health.get("storage"),
        )
        assert answered == 6 and rows == 6 and health["storage"] == "degraded"


def test_a_nul_question_and_a_4s_postgres_outage_lose_no_log_row(
    tmp_path: Path, postgres: Postgres
) -> None:
    """A question with a NUL byte is answered and logged (cleaned), and it never blocks the
    rows queued behind it while the database is away."""
    nul = "customer\u0000 wants to talk to the supervisor"
    with production_bot(tmp_path, database_url=postgres.url, db_timeout=1.0) as bot:
        for n in range(3):
            bot.post_event(bot.dm_event(nul), event_id=f"Ev0NUL{n:04d}")
        assert wait_until(lambda: len(dm_answers(bot.slack)) == 3)
        assert wait_until(lambda: _rows(postgres.url) == 3, timeout=10)
        postgres.stop()
        stopped = time.monotonic()
        for n in range(5):
            text = nul if n % 2 else SUPERVISOR
            bot.post_event(bot.dm_event(text), event_id=f"Ev0OUT{n:04d}")
        assert wait_until(lambda: len(dm_answers(bot.slack)) == 8, timeout=20)
        time.sleep(max(0.0, 4.0 - (time.monotonic() - stopped)))
        postgres.start()
        assert wait_until(lambda: not bot.deps.store.pending, timeout=20)
        assert wait_until(lambda: bot.request("GET", "/healthz").json().get("storage") == "ok")
        rows = _rows(postgres.url)
        report("NUL question + 4 s postgres outage", answered=8, log_rows=rows)
        assert rows == 8


def test_postgres_frozen_costs_each_answer_at_most_the_deadline(
    tmp_path: Path, postgres: Postgres
) -> None:
    with production_bot(tmp_path, database_url=postgres.url, db_timeout=1.0) as bot:
        assert bot.post_event(bot.dm_event(SUPERVISOR)).status == 200
        assert wait_until(lambda: len(dm_answers(bot.slack)) == 1)
        postgres.freeze()
        try:
            sent = time.perf_counter()
            for n in range(4):
                assert bot.post_command(SUPERVISOR, response_name=f"frozen-{n}").status == 200
            assert wait_until(lambda: len(bot.slack.calls("response_url")) == 4, timeout=20)
            waited = time.perf_counter() - sent
        finally:
            postgres.thaw()
        report("postgres frozen (SIGSTOP)", answered=4, all_four_answered_s=round(waited, 2))
        # each ack waits at most 0.3 s for the replay claim, each answer at most the 1 s
        # deadline for its log write: ~2.2 s for the four, never the 13-25 s of no deadline
        assert waited < 4 * 0.3 + 1.0 + 1.5


# -- slow connections ----------------------------------------------------------------------------


def test_slow_connections_cannot_starve_the_server(tmp_path: Path) -> None:
    with FakeSlack(token=BOT_TOKEN) as slack, server_process(slack, tmp_path / "var") as server:
        slow: list[socket.socket] = []
        try:
            for _ in range(64):  # headers sent slowly, never finished
                sock = socket.create_connection(("127.0.0.1", server.port))
                sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\n")
                slow.append(sock)
            time.sleep(0.5)
            acks = []
            for n in range(10):
                status, ms = post_slash_over_http(server.url, slack, SUPERVISOR, name=f"slow-{n}")
                assert status == 200
                acks.append(ms)
            assert wait_until(lambda: len(slack.calls("response_url")) == 10, timeout=20)
            acks.sort()
            report("64 slow connections open", ack_p95_ms=round(acks[-1]), answered=10)
            assert acks[-1] <= 300
        finally:
            for sock in slow:
                sock.close()


# -- a crash ---------------------------------------------------------------------------------------


def _held(database: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(database) as db:
        return list(db.execute("SELECT key, attempts FROM pending_deliveries"))


def test_an_answer_slack_did_not_take_survives_a_crash_and_goes_out_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    database = data_dir / "coach.sqlite3"
    with FakeSlack(token=BOT_TOKEN) as slack:
        slack.fail("response_url", times=10_000, status=500)  # Slack is down for this one
        with server_process(slack, data_dir) as first:
            status, _ = post_slash_over_http(first.url, slack, SUPERVISOR, name="crash")
            assert status == 200
            assert wait_until(lambda: len(_held(database)) == 1, timeout=20)
            first.kill()  # SIGKILL: no drain, no shutdown hook
        assert slack.delivered("response_url") == []
        slack.reset()  # Slack is back
        with sqlite3.connect(database) as db:  # time passes: the dead process's lease runs out
            db.execute("UPDATE pending_deliveries SET lease_until = '2000-01-01 00:00:00'")
        started = time.perf_counter()
        with server_process(slack, data_dir):
            assert wait_until(lambda: len(slack.delivered("response_url")) >= 1, timeout=30)
            took = time.perf_counter() - started
            slack.wait_idle(quiet=1.0)
            delivered = slack.delivered("response_url")
            assert wait_until(lambda: _held(database) == [], timeout=10)
    report(
        "answer held when Slack was down, process SIGKILLed, restarted",
        answered=len(delivered),
        doubled=len(delivered) - 1,
        lost=int(not delivered),
        delivered_after_restart_s=round(took, 2),
    )
    assert len(delivered) == 1
    assert "When They Want the Supervisor" in delivered[0].all_text()
    assert delivered[0].body.get("replace_original") in (True, "true")


# -- the index ----------------------------------------------------------------------------------


def _health(server: Any) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _truncate_vectors(index: Path) -> None:
    live = index / (index / "CURRENT").read_text()
    vectors = live / "vectors.faiss"
    vectors.write_bytes(vectors.read_bytes()[:100])


def _current_is_a_directory(index: Path) -> None:
    (index / "CURRENT").unlink()
    (index / "CURRENT").mkdir()


def _current_points_nowhere(index: Path) -> None:
    (index / "CURRENT").write_text("v-does-not-exist")


def _unknown_tip_with_valid_checksums(index: Path) -> None:
    """Consistent files (checksums recomputed) that name a tip no chunk knows."""
    live = index / (index / "CURRENT").read_text()
    meta = json.loads((live / "meta.json").read_text())
    meta["tips"][0]["id"] = "a-tip-nobody-wrote"
    (live / "meta.json").write_text(json.dumps(meta))
    stamp = json.loads((live / "stamp.json").read_text())
    stamp["sha256"]["meta.json"] = hashlib.sha256((live / "meta.json").read_bytes()).hexdigest()
    (live / "stamp.json").write_text(json.dumps(stamp))


@pytest.mark.parametrize(
    "corrupt",
    [
        _truncate_vectors,
        _current_is_a_directory,
        _current_points_nowhere,
        _unknown_tip_with_valid_checksums,
    ],
)
def test_a_corrupt_index_is_rebuilt_at_start_and_the_bot_answers(
    tmp_path: Path, corrupt: Any
) -> None:
    data_dir = tmp_path / "var"
    with FakeSlack(token=BOT_TOKEN) as slack:
        with server_process(slack, data_dir):
            pass  # builds the index
        corrupt(data_dir / "index")
        started = time.perf_counter()
        with server_process(slack, data_dir) as server:
            took = time.perf_counter() - started
            status, _ = post_slash_over_http(server.url, slack, SUPERVISOR, name="after")
            assert status == 200
            assert wait_until(lambda: len(slack.delivered("response_url")) == 1, timeout=20)
            answer = slack.delivered("response_url")[0].all_text()
    report(f"index: {corrupt.__name__.strip('_')}", healthy_after_s=round(took, 2), answered=1)
    assert "When They Want the Supervisor" in answer


def test_an_index_path_that_is_a_file_is_reported_and_recovers_without_a_restart(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    (data_dir / "index").write_text("not a directory")
    with (
        FakeSlack(token=BOT_TOKEN) as slack,
        server_process(slack, data_dir, wait_healthy=False) as server,
    ):
        assert wait_until(lambda: _health(server)[1].get("status") == "error", timeout=30)
        status, body = _health(server)
        assert status == 503 and "index" in body["detail"].lower()
        status_ack, _ = post_slash_over_http(server.url, slack, SUPERVISOR, name="broken")
        assert status_ack == 200  # still acked; the rep is told what is wrong
        assert wait_until(lambda: len(slack.delivered("response_url")) == 1, timeout=20)
        told = slack.delivered("response_url")[0].all_text()
        (data_dir / "index").unlink()  # the admin removes the stray file
        started = time.perf_counter()
        assert wait_until(server.healthy, timeout=60, step=0.2)
        took = time.perf_counter() - started
    report("index path is a file", told_rep=bool(told), healthy_after_fix_s=round(took, 2))
    assert "Something went wrong" not in told and "index" in told.lower()


def test_two_processes_starting_on_a_fresh_data_dir_both_answer(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    with (
        FakeSlack(token=BOT_TOKEN) as slack,
        server_process(slack, data_dir, wait_healthy=False) as first,
        server_process(slack, data_dir, wait_healthy=False) as second,
    ):
        started = time.perf_counter()
        assert wait_until(lambda: first.healthy() and second.healthy(), timeout=90, step=0.1)
        took = time.perf_counter() - started
        for n, server in enumerate((first, second)):
            status, _ = post_slash_over_http(server.url, slack, SUPERVISOR, name=f"race-{n}")
            assert status == 200
        assert wait_until(lambda: len(slack.delivered("response_url")) == 2, timeout=20)
        versions = [p.name for p in (data_dir / "index").iterdir() if p.name.startswith("v-")]
        leftovers = [p.name for p in (data_dir / "index").iterdir() if p.name.startswith(".tmp")]
    report(
        "two processes racing to build the index",
        both_healthy_s=round(took, 2),
        answered=2,
        index_versions=len(versions),
    )
    assert len(versions) == 1 and leftovers == []


# -- a full disk ---------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Any:
    """A 512 KB filesystem of the test's own (tmpfs; needs the right to mount)."""
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mountpoint)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small filesystem here")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)


def _fill(directory: Path) -> None:
    with (directory / "ballast").open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass


def test_a_full_disk_neither_doubles_answers_nor_stops_a_restart(
    tmp_path: Path, small_disk: Path
) -> None:
    url = f"sqlite:///{small_disk / 'coach.sqlite3'}"
    with production_bot(tmp_path, database_url=url) as bot:
        assert bot.post_event(bot.dm_event(SUPERVISOR), event_id="Ev0DISK0001").status == 200
        assert wait_until(lambda: len(dm_answers(bot.slack)) == 1)
        _fill(small_disk)
        for n in range(5):
            for retry in (None, 1):
                bot.post_event(
                    bot.dm_event(SUPERVISOR), event_id=f"Ev0FULL{n:04d}", retry_num=retry
                )
        assert wait_until(lambda: len(dm_answers(bot.slack)) == 6, timeout=20)
        bot.slack.wait_idle(quiet=0.5)
        answered = len(dm_answers(bot.slack))
    # a restart with the disk still full: the bot comes up and answers, without history
    (tmp_path / "again").mkdir()
    with production_bot(tmp_path / "again", database_url=url) as again:
        assert again.post_event(again.dm_event(SUPERVISOR)).status == 200
        assert wait_until(lambda: len(dm_answers(again.slack)) == 1, timeout=20)
        health = again.request("GET", "/healthz").json()
    report(
        "disk full under SQLite, 5 events x2 deliveries, then a restart",
        answered=answered - 1,
        doubled=answered - 6,
        restart_answers=1,
        healthz_after_restart=health.get("storage"),
    )
    assert answered == 6
