"""Issue 11 through the real Bolt app: signed requests in, the fake Slack's records out.

The AI side panel (thread started -> greeting and prompts; a message -> status, card,
title), the private /coach answer quoting the rep's question, and a shared card without
"Next best tip". The callbacks themselves: ``test_listeners_assistant.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bot_fixtures import CHANNEL, DM_CHANNEL, USER, BotHarness, bot_harness, shared_coach
from fake_slack import TEAM_ID, Call

from bot import render
from bot.listeners import assistant

SUPERVISOR = "customer wants to talk to the supervisor"  # answered by the fake-encoder index
SUPERVISOR_TITLE = "When They Want the Supervisor"
EMAIL = "jane.doe@example.com"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[BotHarness]:
    with bot_harness(tmp_path) as harness:
        yield harness


def thread_started(bot: BotHarness, thread_ts: str) -> dict[str, Any]:
    return {
        "type": "assistant_thread_started",
        "assistant_thread": {
            "user_id": USER,
            "context": {"channel_id": CHANNEL, "team_id": TEAM_ID},
            "channel_id": DM_CHANNEL,
            "thread_ts": thread_ts,
        },
        "event_ts": f"{time.time():.6f}",
    }


def log_lookup(
    bot: BotHarness,
    text: str,
    *,
    team_id: str = TEAM_ID,
    user: str = USER,
    tip_id: str = "when-they-want-the-supervisor",
) -> None:
    """One lookup of ``text`` by ``user``, answered with ``tip_id`` (asked as its first situation)."""
    [tip] = [t for t in shared_coach().tips() if t.id == tip_id]
    bot.deps.store.log_query(
        team_id=team_id,
        user_id=user,
        surface="dm",
        text=text,
        answer=shared_coach().answer(tip.situations[0]),
        latency_ms=1.0,
        now=datetime.now(UTC) - timedelta(hours=2),
    )


def prompts(call: Call) -> list[str]:
    return [p["message"] for p in call.body["prompts"]]


def action_ids(call: Call) -> list[str]:
    return [e["action_id"] for b in call.blocks() if b["type"] == "actions" for e in b["elements"]]


# -- the AI side panel -------------------------------------------------------------------------


def test_a_new_thread_gets_the_greeting_and_this_workspaces_situations(bot: BotHarness) -> None:
    """Rep A's words (a customer's name in them) never become rep B's prompts: three people
    asked about each of three tips, and each is offered in the tip's own words."""
    asked = [
        "look-for-a-stop-sign",
        "dont-create-the-second-complaint",
        "when-they-want-the-supervisor",
    ]
    for people, tip_id in enumerate(asked, start=3):
        for rep in range(people):
            log_lookup(
                bot,
                f"Hi, this is Priya Raman about order 5521 ({rep})",
                user=f"U0R{rep}",
                tip_id=tip_id,
            )
    for rep in range(9):
        log_lookup(bot, "another workspace's secret situation", team_id="T0OTHER", user=f"U0O{rep}")
    response = bot.post_event(thread_started(bot, "1700000600.000100"))
    assert response.status == 200
    [greeting] = bot.slack.wait_for("chat.postMessage")
    assert greeting.body["channel"] == DM_CHANNEL
    assert greeting.body["thread_ts"] == "1700000600.000100"
    assert "Tell me what's happening with your customer" in greeting.all_text()
    [call] = bot.slack.wait_for("assistant.threads.setSuggestedPrompts")
    assert call.body["channel_id"] == DM_CHANNEL and call.body["thread_ts"] == "1700000600.000100"
    assert call.body["title"] == assistant.WEEK_TITLE
    tips = {t.id: t for t in shared_coach().tips()}
    assert prompts(call) == [
        assistant.prompt_for(assistant.situation_line(tips[tip_id])).message
        for tip_id in reversed(asked)
    ]
    assert "Priya" not in json.dumps(call.body) and "secret" not in json.dumps(call.body)
    assert call.token == "xoxb-1234-5678-testtoken"


def test_a_new_thread_in_a_quiet_workspace_gets_the_common_situations(bot: BotHarness) -> None:
    for _ in range(5):  # one person, however often, is not "most asked"
        log_lookup(bot, "customer wants the manager right now")
    for rep in range(3):
        log_lookup(bot, "another workspace's secret situation", team_id="T0OTHER", user=f"U0O{rep}")
    bot.post_event(thread_started(bot, "1700000600.000200"))
    [call] = bot.slack.wait_for("assistant.threads.setSuggestedPrompts")
    assert call.body["title"] == assistant.COMMON_TITLE
    assert prompts(call) == list(assistant.COMMON_SITUATIONS)
    assert call.body["prompts"][0] == {
        "title": "Customer wants a supervisor who isn't here",
        "message": "Customer wants a supervisor who isn't here",
    }


def test_a_message_in_the_thread_gets_status_card_and_title(bot: BotHarness) -> None:
    thread_ts = "1700000600.000300"
    assert bot.post_event(bot.dm_event(SUPERVISOR, thread_ts=thread_ts)).status == 200
    [title] = bot.slack.wait_for("assistant.threads.setTitle")
    [status] = bot.slack.calls("assistant.threads.setStatus")
    [post] = bot.slack.calls("chat.postMessage")
    assert status.at < post.at < title.at  # status while looking, the card, then the name
    assert status.body["status"] == "is looking for the right tip…"
    assert status.body["channel_id"] == DM_CHANNEL and status.body["thread_ts"] == thread_ts
    assert post.body["channel"] == DM_CHANNEL and post.body["thread_ts"] == thread_ts
    assert post.body["text"].startswith(SUPERVISOR_TITLE)
    assert render.ACTION_FULL_TIP in action_ids(post)
    assert title.body["thread_ts"] == thread_ts and title.body["title"] == SUPERVISOR
    assert bot.slack.calls("reactions.add") == []  # the status is the "working on it"
    [row] = bot.deps.store.recent_queries(team_id=TEAM_ID, user_id=USER)
    assert row.surface == "assistant" and row.answered


def test_the_thread_title_is_redacted_and_short(bot: BotHarness) -> None:
    text = f"{SUPERVISOR}, mail her at {EMAIL} " + "and she keeps calling back " * 5
    bot.post_event(bot.dm_event(text, thread_ts="1700000600.000350"))
    [title] = bot.slack.wait_for("assistant.threads.setTitle")
    assert title.body["title"].startswith(SUPERVISOR)
    assert EMAIL not in title.body["title"] and len(title.body["title"]) <= 60
    [post] = bot.slack.calls("chat.postMessage")
    assert post.body["thread_ts"] == "1700000600.000350"  # answered there, whatever the answer
    [row] = bot.deps.store.recent_queries(team_id=TEAM_ID, user_id=USER)
    assert row.surface == "assistant" and EMAIL not in row.text


def test_without_the_side_panel_a_dm_thread_is_answered_as_before(bot: BotHarness) -> None:
    bot.slack.fail("assistant.threads.setStatus", error="invalid_thread_ts")
    thread_ts = "1700000600.000400"
    bot.post_event(bot.dm_event(SUPERVISOR, thread_ts=thread_ts))
    [post] = bot.slack.wait_for("chat.postMessage")
    assert post.body["thread_ts"] == thread_ts
    assert post.body["text"].startswith(SUPERVISOR_TITLE)
    bot.slack.wait_for("reactions.remove")
    assert bot.slack.calls("assistant.threads.setTitle") == []
    [row] = bot.deps.store.recent_queries(team_id=TEAM_ID, user_id=USER)
    assert row.surface == "dm"


def test_a_top_level_dm_still_goes_to_the_dm_listener(bot: BotHarness) -> None:
    bot.post_event(bot.dm_event(SUPERVISOR))
    [post] = bot.slack.wait_for("chat.postMessage")
    assert "thread_ts" not in post.body
    assert bot.slack.calls("assistant.threads.setStatus") == []
    [row] = bot.deps.store.recent_queries(team_id=TEAM_ID, user_id=USER)
    assert row.surface == "dm"


def test_a_context_change_is_acknowledged_and_nothing_is_called(bot: BotHarness) -> None:
    event = {**thread_started(bot, "1700000600.000500"), "type": "assistant_thread_context_changed"}
    assert bot.post_event(event).status == 200
    bot.slack.wait_idle(quiet=0.4)
    assert [c.method for c in bot.slack.calls()] in ([], ["auth.test"])  # bolt's first request


# -- /coach quotes the question; a shared card has no "Next best tip" ------------------------


def test_the_private_answer_starts_with_the_question_redacted(bot: BotHarness) -> None:
    text = f"{SUPERVISOR} <!channel> mail {EMAIL}"
    assert bot.post_command(text).status == 200
    [call] = bot.slack.wait_for("response_url")
    first = call.blocks()[0]  # "You asked" above a card; a decline opens with the quote itself
    opening = first["elements"][0]["text"] if first["type"] == "context" else first["text"]["text"]
    assert f"“{SUPERVISOR} mail [email]”" in opening
    assert opening.count("[email]") == 1
    assert EMAIL not in call.all_text()  # nowhere the rep reads
    assert "<!channel>" not in json.dumps(call.blocks())


def test_the_question_is_quoted_above_a_card_too(bot: BotHarness) -> None:
    assert bot.post_command(SUPERVISOR).status == 200
    [call] = bot.slack.wait_for("response_url")
    assert call.blocks()[0]["elements"][0]["text"] == f":speech_balloon: You asked: “{SUPERVISOR}”"
    assert call.blocks()[1]["type"] == "header"
    assert call.body["text"].startswith(SUPERVISOR_TITLE)


def test_a_shared_card_has_no_next_best_tip_and_no_question(bot: BotHarness) -> None:
    assert bot.post_command(SUPERVISOR).status == 200
    [card] = bot.slack.wait_for("response_url")
    assert render.ACTION_NEXT_TIP in action_ids(card)  # the rep still has it privately
    share = bot.button(card.blocks(), render.ACTION_SHARE)
    bot.post_payload(bot.action_payload(render.ACTION_SHARE, share["value"]))
    [post] = bot.slack.wait_for("chat.postMessage")
    assert post.body["channel"] == CHANNEL
    ids = action_ids(post)
    assert render.ACTION_NEXT_TIP not in ids and render.ACTION_SHARE not in ids
    assert render.ACTION_FULL_TIP in ids and render.ACTION_FEEDBACK_UP in ids
    assert SUPERVISOR not in json.dumps(post.body)  # the rep's words stay private
    assert f"Shared by <@{USER}>" in post.all_text()


# -- the manifest ------------------------------------------------------------------------------


def test_the_manifest_declares_the_side_panel() -> None:
    yaml = pytest.importorskip("yaml")
    manifest = yaml.safe_load((REPO / "manifest.yaml").read_text(encoding="utf-8"))
    view = manifest["features"]["assistant_view"]
    assert view["assistant_description"]
    assert [p["message"] for p in view["suggested_prompts"]] == list(assistant.COMMON_SITUATIONS)
    assert [p["title"] for p in view["suggested_prompts"]] == list(assistant.COMMON_SITUATIONS)
    assert "assistant:write" in manifest["oauth_config"]["scopes"]["bot"]
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"assistant_thread_started", "assistant_thread_context_changed", "message.im"} <= events
