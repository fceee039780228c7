"""The weekly post: its content, `coach weekly --preview` and `--post-now`, and every way a
post can fail (429, 5xx, a lost response, a channel the bot is not in) without doubling."""

from __future__ import annotations

import html
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from render_fixtures import iter_texts
from storage_fixtures import answered
from weekly_fixtures import (
    BOT_TOKEN,
    CHANNEL,
    MONDAY_9,
    OTHER_CHANNEL,
    WEEK,
    FakeClock,
    WeeklyFakeSlack,
    weekly_settings,
)

from bot.render import ACTION_FULL_TIP, MAX_BLOCKS
from bot.storage import Store
from bot.weekly.cli import main
from bot.weekly.post import HEADER, build_post
from bot.weekly.slack import METADATA_EVENT
from config.settings import Settings
from retrieval.engine import Coach
from retrieval.models import TipAnswer


@pytest.fixture
def slack() -> Iterator[WeeklyFakeSlack]:
    with WeeklyFakeSlack(token=BOT_TOKEN) as fake:
        yield fake


@dataclass
class Env:
    settings: Settings
    store: Store
    clock: FakeClock
    coach: Coach
    slack: WeeklyFakeSlack

    def run(
        self, mode: str, channel: str | None = None, as_json: bool = False
    ) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main(
            self.settings,
            mode,
            channel,
            as_json,
            clock=self.clock,
            coach=self.coach,
            out=out,
            err=err,
        )
        return code, out.getvalue(), err.getvalue()

    def rows(self, channel: str = CHANNEL) -> list[Any]:
        return self.store.weekly_posts(channel)


@pytest.fixture
def env(tmp_path: Path, slack: WeeklyFakeSlack, hashing_coach: Coach) -> Iterator[Env]:
    settings = weekly_settings(tmp_path / "var", slack.api_url)
    store = Store.open(settings)
    try:
        yield Env(settings, store, FakeClock(MONDAY_9 + timedelta(hours=1)), hashing_coach, slack)
    finally:
        store.close()


def card_with(coach: Coach, part: str) -> TipAnswer:
    """The first tip whose card has steps (or phrases)."""
    for tip in coach.tips():
        card = coach.tip_card(tip.id)
        if getattr(card, part):
            return card
    raise AssertionError(f"the bundled corpus has no tip with {part}")


@pytest.mark.parametrize("part", ["steps", "phrases"])
def test_post_has_header_steps_phrases_source_and_a_thread_prompt(
    hashing_coach: Coach, part: str
) -> None:
    tip = card_with(hashing_coach, part)
    message = build_post(tip, note="Reps asked about this 14 times this week.")
    blocks = message.blocks
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": HEADER, "emoji": True},
    }
    assert "Reps asked about this 14 times this week." in blocks[1]["elements"][0]["text"]
    everything = html.unescape("\n".join(iter_texts(blocks))).replace("*", "")
    assert tip.title in everything
    for step in tip.steps:
        assert " ".join(step.split())[:60] in everything
    for phrase in tip.phrases:
        assert " ".join(phrase.split()).strip('“”" ')[:40] in everything
    assert ("Steps ·" in everything) == bool(tip.steps)
    assert ("Say something like" in everything) == bool(tip.phrases)
    assert f"Source: {tip.source}" in everything
    assert "in the thread" in blocks[-1]["text"]["text"]
    buttons = [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert buttons == [ACTION_FULL_TIP]
    assert message.text.startswith(f"{HEADER}: ")
    assert len(blocks) <= MAX_BLOCKS


def test_post_escapes_text_and_stays_inside_block_kit_limits() -> None:
    tip = TipAnswer(
        id="t-huge",
        title="<!channel> wants <@U123> & more",
        date=None,
        score=1.0,
        steps=tuple(f"Step {n} <!here> " + "word " * 600 for n in range(80)),
        phrases=("Say <b>this</b>",),
        summary="",
        source="Tips & Tricks",
        full=True,
    )
    message = build_post(tip, note="Reps asked about <!everyone> 3 times")
    mrkdwn = [
        text["text"]
        for block in message.blocks
        for text in [block.get("text"), *block.get("elements", [])]
        if isinstance(text, dict) and text.get("type") == "mrkdwn"
    ]
    assert mrkdwn and not any("<!" in text or "<@" in text for text in mrkdwn)
    assert any("&lt;!everyone&gt;" in text for text in mrkdwn)
    assert "<!channel>" not in message.text
    assert len(message.blocks) == MAX_BLOCKS
    assert "in the thread" in message.blocks[-1]["text"]["text"]  # the prompt is never cut
    for block in message.blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000


# -- preview ----------------------------------------------------------------------------------


def test_preview_prints_the_post_without_posting_or_claiming(env: Env) -> None:
    code, out, err = env.run("preview")
    assert code == 0, err
    first = env.coach.tip_card(next(t.id for t in env.coach.tips() if t.full))
    assert f"Weekly tip for {CHANNEL}, week {WEEK}: not posted yet" in out
    assert "== Tip of the week ==" in out
    assert first.title in out
    assert "1. " in out and "Source:" in out and "in the thread" in out
    assert "&amp;" not in out  # shown as people read it
    assert not any(markup in out for markup in ("*Steps*", ":date:", ":thread:", "<http"))
    assert env.slack.calls() == []
    assert env.rows() == []


def test_preview_json_is_the_block_kit_payload(env: Env) -> None:
    code, out, err = env.run("preview", as_json=True)
    assert code == 0, err
    (line,) = out.strip().splitlines()
    payload = json.loads(line)
    assert payload["channel"] == CHANNEL and payload["week_key"] == WEEK
    assert payload["blocks"][0]["text"]["text"] == HEADER
    assert payload["text"].startswith(f"{HEADER}: ")
    assert payload["metadata"] == {
        "event_type": METADATA_EVENT,
        "event_payload": {"week_key": WEEK, "tip_id": payload["tip_id"]},
    }
    assert payload["status"] == "not posted yet"


def test_preview_without_channels_uses_a_fresh_rotation(env: Env) -> None:
    env.settings = env.settings.model_copy(update={"weekly_channels": []})
    code, out, err = env.run("preview")
    assert code == 0
    assert "COACH_WEEKLY_CHANNELS is not set" in err
    assert "(no channel)" in out


def test_preview_after_this_weeks_post_shows_next_weeks(env: Env) -> None:
    assert env.run("post-now")[0] == 0
    (posted,) = env.rows()
    code, out, _ = env.run("preview", as_json=True)
    assert code == 0
    payload = json.loads(out)
    assert payload["week_key"] == "2025-W49"
    assert payload["status"].startswith("already posted")
    assert payload["tip_id"] != posted.tip_id


# -- post-now ---------------------------------------------------------------------------------


def test_post_now_posts_once_per_week_and_records_slacks_ts(env: Env) -> None:
    code, out, err = env.run("post-now")
    assert code == 0, err
    (call,) = env.slack.delivered("chat.postMessage")
    assert call.body["channel"] == CHANNEL
    assert call.token == BOT_TOKEN
    assert call.body["metadata"]["event_payload"]["week_key"] == WEEK
    assert call.blocks()[0]["text"]["text"] == HEADER
    assert call.body["text"].startswith(f"{HEADER}: ")
    assert call.body["unfurl_links"] is False
    (row,) = env.rows()
    assert (row.status, row.week_key) == ("posted", WEEK)
    assert row.ts == env.slack.channel_messages(CHANNEL)[0]["ts"]
    assert f"{CHANNEL}: posted" in out

    env.clock.advance(days=2)  # later the same week: nothing more
    code, out, _ = env.run("post-now")
    assert code == 0 and "already posted" in out
    assert len(env.slack.calls("chat.postMessage")) == 1


def test_post_now_to_one_channel(env: Env) -> None:
    code, out, err = env.run("post-now", channel=OTHER_CHANNEL, as_json=True)
    assert code == 0, err
    assert json.loads(out)["status"] == "posted"
    assert [c.body["channel"] for c in env.slack.calls("chat.postMessage")] == [OTHER_CHANNEL]
    assert env.rows(CHANNEL) == [] and len(env.rows(OTHER_CHANNEL)) == 1


def test_429_then_success_waits_retry_after(env: Env) -> None:
    env.slack.fail("chat.postMessage", status=429, retry_after=7, times=2)
    code, out, err = env.run("post-now")
    assert code == 0, err
    assert f"{CHANNEL}: posted" in out
    assert [c.status for c in env.slack.calls("chat.postMessage")] == [429, 429, 200]
    assert env.clock.waits == [7.0, 7.0]
    assert len(env.slack.weekly_posts_in(CHANNEL)) == 1
    assert env.rows()[0].status == "posted"
    assert env.slack.calls("conversations.history") == []  # a 429 is never ambiguous


def test_server_error_then_success_checks_the_history_before_reposting(env: Env) -> None:
    env.slack.fail("chat.postMessage", status=500)
    code, _, err = env.run("post-now")
    assert code == 0, err
    methods = [c.method for c in env.slack.calls()]
    assert methods == ["chat.postMessage", "conversations.history", "chat.postMessage"]
    assert len(env.slack.weekly_posts_in(CHANNEL)) == 1


def test_a_post_slack_accepted_but_never_confirmed_is_not_posted_twice(env: Env) -> None:
    env.slack.lose_response("chat.postMessage")  # Slack posts it, the answer is lost
    code, out, err = env.run("post-now")
    assert code == 0, err
    (message,) = env.slack.weekly_posts_in(CHANNEL)
    assert len(env.slack.calls("chat.postMessage")) == 1
    (row,) = env.rows()
    assert (row.status, row.ts) == ("posted", message["ts"])
    assert "recorded it instead of posting again" in out


def test_a_channel_the_bot_is_not_in_is_reported_and_not_counted(env: Env) -> None:
    env.slack.fail("chat.postMessage", error="not_in_channel")
    code, out, _ = env.run("post-now")
    assert code == 1
    assert "not_in_channel" in out and "/invite @Tip Coach" in out
    assert env.rows() == []  # released: the week is not counted as posted
    code, out, _ = env.run("post-now")  # after the bot is invited
    assert code == 0 and "posted" in out
    assert len(env.slack.weekly_posts_in(CHANNEL)) == 1


def test_slack_down_keeps_the_claim_and_a_later_run_verifies_before_posting(env: Env) -> None:
    env.slack.fail("chat.postMessage", status=503, times=20)
    env.slack.fail("conversations.history", status=503, times=20)
    code, out, _ = env.run("post-now")
    assert code == 1 and "kept the claim" in out
    (row,) = env.rows()
    assert row.status == "claimed"  # Slack may have it: not released, not posted
    assert env.slack.weekly_posts_in(CHANNEL) == []
    env.slack.reset_faults()

    code, out, _ = env.run("post-now")  # another run, inside the lease: hands off
    assert code == 0 and "another process is posting" in out
    assert env.slack.delivered("chat.postMessage") == []

    env.clock.advance(minutes=16)  # the lease expired: taken over, history checked, posted
    calls_before = len(env.slack.calls())
    code, out, _ = env.run("post-now")
    assert code == 0 and f"{CHANNEL}: posted" in out
    later = [c.method for c in env.slack.calls()[calls_before:]]
    assert later == ["conversations.history", "chat.postMessage"]
    assert len(env.slack.weekly_posts_in(CHANNEL)) == 1
    assert env.rows()[0].tip_id == row.tip_id  # the claim fixed the week's tip


def test_the_tip_reps_asked_about_this_week_is_preferred(env: Env) -> None:
    teasers = [t for t in env.coach.tips() if not t.full]
    wanted, stale = teasers[3], teasers[4]
    for n in range(14):
        env.store.log_query(
            team_id="T1",
            user_id=f"U{n}",
            surface="dm",
            text="customer situation",
            answer=answered(tip_id=wanted.id, title=wanted.title),
            latency_ms=5,
            now=env.clock.now() - timedelta(days=2),
        )
    for n in range(30):  # more asks, but last month: not "this week"
        env.store.log_query(
            team_id="T1",
            user_id=f"U{n}",
            surface="dm",
            text="old situation",
            answer=answered(tip_id=stale.id, title=stale.title),
            latency_ms=5,
            now=env.clock.now() - timedelta(days=8),
        )
    code, _, err = env.run("post-now")
    assert code == 0, err
    (call,) = env.slack.delivered("chat.postMessage")
    assert call.body["metadata"]["event_payload"]["tip_id"] == wanted.id
    assert "Reps asked about this 14 times this week." in call.all_text()


@pytest.mark.parametrize(
    ("overrides", "channel", "message"),
    [
        ({"slack_bot_token": None}, None, "SLACK_BOT_TOKEN is required"),
        ({"weekly_channels": []}, None, "COACH_WEEKLY_CHANNELS"),
        ({}, "#support", "not a Slack channel id"),
    ],
)
def test_post_now_configuration_errors(
    env: Env, overrides: dict[str, Any], channel: str | None, message: str
) -> None:
    env.settings = env.settings.model_copy(update=overrides)
    code, _, err = env.run("post-now", channel=channel)
    assert code == 2 and message in err
    assert env.slack.calls() == []
