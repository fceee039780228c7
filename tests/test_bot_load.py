"""Slack's 3-second rule under load: every request is acked at once, the work runs after.

A burst of signed slash commands and button clicks goes through the real Bolt app and
our WSGI app while every answer takes ~2 s (a slow fake around the hashing coach). Each
ack must come back fast, each rep must get exactly one answer on their own response_url,
and the catch-all for unknown commands must never answer a real ``/coach`` with help.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from bot_fixtures import (
    BOT_TOKEN,
    USER,
    BotHarness,
    Response,
    SlowCoach,
    build_deps,
    make_settings,
    shared_coach,
)
from fake_slack import TEAM_ID, FakeSlack

from bot import render
from bot.app import build_app
from bot.http import SlackWSGI
from bot.listeners.common import UNEXPECTED

SUPERVISOR = "customer wants to talk to the supervisor"
SUPERVISOR_TITLE = "When They Want the Supervisor"
ANSWER_SECONDS = 2.0
BURST = 24  # of each kind: more than Bolt's listener threads together
ACK_LIMIT = 1.0  # seconds; Slack's own limit is 3


class Records(logging.Handler):
    """Keeps every log record of the bot's logger (to assert on what was logged)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self) -> list[str]:
        return [r.getMessage() for r in self.records]


@contextmanager
def harness_with(tmp_path: Path, coach: Any) -> Iterator[tuple[BotHarness, Records]]:
    """The real app over ``coach``; the work pool is shut down (waited for) afterwards."""
    with FakeSlack(token=BOT_TOKEN) as slack:
        deps = build_deps(make_settings(slack, tmp_path), coach=coach)
        records = Records()
        deps.logger.addHandler(records)
        try:
            yield BotHarness(slack, deps, SlackWSGI(build_app(deps), deps)), records
        finally:
            deps.close()
            deps.logger.removeHandler(records)


def card_buttons(store: Any) -> dict[str, str]:
    """Button values of a real play card (what a rep clicks on): its lookup is logged in
    ``store`` (buttons name the query-log row, the situation is read back from there)."""
    answer = shared_coach().answer(SUPERVISOR, k=3)
    query_id = store.log_query(
        team_id=TEAM_ID,
        user_id=USER,
        surface="slash",
        text=SUPERVISOR,
        answer=answer,
        latency_ms=1,
    )
    blocks = render.answer_message(answer, query_id=query_id, shareable=True).blocks
    return {
        action: BotHarness.button(blocks, action)["value"]
        for action in (render.ACTION_NEXT_TIP, render.ACTION_FULL_TIP)
    }


def burst(sends: list[Callable[[], Response]]) -> list[tuple[float, Response]]:
    """Fire every request at the same moment; (seconds to the ack, the ack) for each."""
    gate = threading.Barrier(len(sends))

    def timed(send: Callable[[], Response]) -> tuple[float, Response]:
        gate.wait()
        started = time.perf_counter()
        response = send()
        return time.perf_counter() - started, response

    with ThreadPoolExecutor(max_workers=len(sends)) as pool:
        return list(pool.map(timed, sends))


def test_a_burst_of_slow_commands_and_clicks_is_acked_at_once_and_answered_once(
    tmp_path: Path,
) -> None:
    with harness_with(tmp_path, SlowCoach(shared_coach(), ANSWER_SECONDS)) as (bot, records):
        values = card_buttons(bot.deps.store)

        def command(n: int) -> Callable[[], Response]:
            return lambda: bot.post_command(SUPERVISOR, response_name=f"cmd-{n}")

        def click(n: int) -> Callable[[], Response]:
            action = render.ACTION_NEXT_TIP if n % 2 else render.ACTION_FULL_TIP
            payload = bot.action_payload(action, values[action], response_name=f"btn-{n}")
            return lambda: bot.post_payload(payload)

        started = time.perf_counter()
        acks = burst([command(n) for n in range(BURST)] + [click(n) for n in range(BURST)])
        slowest = max(seconds for seconds, _ in acks)
        assert all(response.status == 200 for _, response in acks)
        assert slowest < ACK_LIMIT, sorted(round(s, 2) for s, _ in acks)
        # The ack is empty: the answer (never the help) comes on the response_url.
        assert all(response.body == b"" for _, response in acks)

        answers = bot.slack.wait_for("response_url", 2 * BURST, timeout=15)
        bot.slack.wait_idle(quiet=0.3)
        finished = time.perf_counter() - started
        answers = bot.slack.calls("response_url")
        per_rep = Counter(call.path.rsplit("/", 1)[-1] for call in answers)
        expected = {f"cmd-{n}" for n in range(BURST)} | {f"btn-{n}" for n in range(BURST)}
        assert set(per_rep) == expected and set(per_rep.values()) == {1}
        assert all(call.status == 200 for call in answers)
        assert bot.slack.calls("chat.postMessage") == bot.slack.calls("chat.postEphemeral") == []
        for call in answers:
            text = call.all_text()
            assert UNEXPECTED not in text and "warming up" not in text
            if "/cmd-" in call.path:
                assert SUPERVISOR_TITLE in text  # the answer, not the help
        assert "unexpected slash command" not in records.messages()
        # Bolt would fall through to the catch-all after 3 s without an ack: it never waited.
        assert not [r for r in records.records if r.levelno >= logging.ERROR]
        # The answers ran in parallel (one after another: 96 s; 16 work threads: ~6 s).
        assert finished < 12.0


class BrokenCoach:
    """Answers lookups, but reading a whole tip crashes (a bug nobody handles)."""

    def __init__(self) -> None:
        self.inner = shared_coach()
        self.min_confidence = self.inner.min_confidence

    def answer(self, text: str, **kwargs: Any) -> Any:
        return self.inner.answer(text, **kwargs)

    def tip_card(self, tip_id: str) -> Any:
        raise RuntimeError("index file vanished")

    def tips(self) -> Any:
        return self.inner.tips()


def test_a_crash_after_the_ack_reaches_the_rep_and_the_logs(tmp_path: Path) -> None:
    with harness_with(tmp_path, BrokenCoach()) as (bot, records):
        value = card_buttons(bot.deps.store)[render.ACTION_FULL_TIP]
        payload = bot.action_payload(render.ACTION_FULL_TIP, value, response_name="full")
        assert bot.post_payload(payload).status == 200
        [reply] = bot.slack.wait_for("response_url")
        assert UNEXPECTED in reply.all_text()
        assert reply.body.get("replace_original") in (False, "false", None)  # card kept
        bot.slack.wait_idle(quiet=0.3)
        assert len(bot.slack.calls("response_url")) == 1
        [failed] = [r for r in records.records if r.levelno >= logging.ERROR]
        assert failed.exc_info and isinstance(failed.exc_info[1], RuntimeError)
        assert "RuntimeError" in str(getattr(failed, "fields", {}))


def test_closing_the_app_finishes_work_already_acked(tmp_path: Path) -> None:
    with harness_with(tmp_path, SlowCoach(shared_coach(), 0.5)) as (bot, _):
        for n in range(3):
            assert bot.post_command(SUPERVISOR, response_name=f"late-{n}").status == 200
        bot.deps.close()  # what gunicorn's worker exit / Socket Mode's stop do
        assert len(bot.slack.calls("response_url")) == 3  # nothing dropped on the way out
        assert bot.post_command(SUPERVISOR, response_name="after").status == 200
        # After close, work runs inline (in Bolt's thread) rather than being lost.
        answers = bot.slack.wait_for("response_url", 4)
        assert answers[-1].path.endswith("/after")


@pytest.mark.parametrize("command", ["/tipcoach", "/coach-old"])
def test_other_command_names_still_get_the_help(tmp_path: Path, command: str) -> None:
    with harness_with(tmp_path, shared_coach()) as (bot, records):
        body = bot.command_body(SUPERVISOR, command=command)
        response = bot.post_signed(body, "application/x-www-form-urlencoded")
        assert response.status == 200 and "/coach" in response.text
        assert "unexpected slash command" in records.messages()
