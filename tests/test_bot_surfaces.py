"""Every Slack surface through the real Bolt app: signed requests in, fake Slack records out."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bot_fixtures import CHANNEL, DM_CHANNEL, OTHER_USER, USER, BotHarness, bot_harness
from fake_slack import BOT_USER_ID, TEAM_ID

from bot import render
from bot.render import ButtonValue

SUPERVISOR = "customer wants to talk to the supervisor"  # answered by the fake-encoder index
SUPERVISOR_TIP = "when-they-want-the-supervisor"
OFF_TOPIC = "how do I reset my VPN password"  # declined as off-topic: no tips offered
IN_DOMAIN_DECLINE = (
    "customer is upset about the refund"  # vague: declined, nearest situations offered
)


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[BotHarness]:
    with bot_harness(tmp_path) as harness:
        yield harness


def queries(bot: BotHarness, user: str = USER) -> list:
    return bot.deps.store.recent_queries(team_id=TEAM_ID, user_id=user, limit=20)


def feedback_rows(bot: BotHarness) -> list:
    now = datetime.now(UTC)
    return bot.deps.store.feedback_between(now - timedelta(hours=1), now + timedelta(hours=1))


def ephemeral_card(bot: BotHarness, text: str = SUPERVISOR, name: str = "cmd") -> dict:
    """Run a slash command and return the body Slack got on the response_url."""
    assert bot.post_command(text, response_name=name).status == 200
    [call] = [c for c in bot.slack.wait_for("response_url") if c.path.endswith(f"/{name}")]
    return call.body


# -- DM ------------------------------------------------------------------------------------


def test_dm_is_answered_in_the_dm_with_the_play_card(bot: BotHarness) -> None:
    event = bot.dm_event(SUPERVISOR)
    response = bot.post_event(event)
    assert response.status == 200
    [post] = bot.slack.wait_for("chat.postMessage")
    assert post.body["channel"] == DM_CHANNEL
    assert "thread_ts" not in post.body
    assert post.body["text"].startswith("When They Want the Supervisor")
    text = post.all_text()
    assert "1. " in text and "Source:" in text
    assert bot.button(post.blocks(), render.ACTION_FEEDBACK_UP)
    # 👀 while working, removed once answered
    bot.slack.wait_for("reactions.remove")
    [added] = bot.slack.calls("reactions.add")
    assert added.body["name"] == "eyes" and added.body["timestamp"] == event["ts"]
    [row] = queries(bot)
    assert row.surface == "dm" and row.answered and row.tip_id == SUPERVISOR_TIP
    assert post.token == "xoxb-1234-5678-testtoken"


def test_dm_in_a_thread_is_answered_in_that_thread(bot: BotHarness) -> None:
    bot.post_event(bot.dm_event(SUPERVISOR, thread_ts="1700000000.000001"))
    [post] = bot.slack.wait_for("chat.postMessage")
    assert post.body["thread_ts"] == "1700000000.000001"


@pytest.mark.parametrize(
    "extra",
    [
        {"subtype": "message_changed"},
        {"subtype": "message_deleted"},
        {"subtype": "channel_join"},
        {"bot_id": "B0OTHER"},
        {"subtype": "bot_message", "bot_id": "B0OTHER"},
    ],
)
def test_edits_joins_and_other_bots_are_ignored(bot: BotHarness, extra: dict) -> None:
    assert bot.post_event(bot.dm_event(SUPERVISOR, **extra)).status == 200
    bot.slack.wait_idle(quiet=0.4)
    assert bot.slack.calls("chat.postMessage") == []
    assert queries(bot) == []


def test_a_declined_situation_gets_the_nearest_situations_not_titles(bot: BotHarness) -> None:
    bot.post_event(bot.dm_event(IN_DOMAIN_DECLINE))
    [post] = bot.slack.wait_for("chat.postMessage")
    text = post.all_text()
    assert "don't have a tip I'm sure fits" in text and "rephras" in text
    suggestions = [e for b in post.blocks() if b["type"] == "actions" for e in b["elements"]]
    assert 2 <= len(suggestions) <= 3
    titles = {tip.title for tip in bot.deps.coach.get(1).tips()}
    assert not {s["text"]["text"] for s in suggestions} & titles  # situations, in reps' words
    [row] = queries(bot)
    assert not row.answered


def test_an_off_topic_question_is_declined_without_offering_tips(bot: BotHarness) -> None:
    bot.post_event(bot.dm_event(OFF_TOPIC))
    [post] = bot.slack.wait_for("chat.postMessage")
    assert "doesn't look like a customer situation" in post.all_text()
    assert [b for b in post.blocks() if b["type"] == "actions"] == []
    [row] = queries(bot)
    assert not row.answered


# -- @mention and threads --------------------------------------------------------------------


def test_mention_is_answered_in_a_thread_under_the_message(bot: BotHarness) -> None:
    event = bot.mention_event(SUPERVISOR)
    bot.post_event(event)
    [post] = bot.slack.wait_for("chat.postMessage")
    assert post.body["channel"] == CHANNEL and post.body["thread_ts"] == event["ts"]
    assert "When They Want the Supervisor" in post.body["text"]
    assert queries(bot)[0].surface == "mention"


@pytest.mark.parametrize("text", ["", "help", "hi"])
def test_mention_with_no_situation_gets_the_help(bot: BotHarness, text: str) -> None:
    bot.post_event(bot.mention_event(text))
    [post] = bot.slack.wait_for("chat.postMessage")
    assert "/coach customer wants the supervisor" in post.all_text()
    assert queries(bot) == []


def test_follow_up_in_an_answered_thread_needs_no_mention(bot: BotHarness) -> None:
    first = bot.mention_event(OFF_TOPIC)
    bot.post_event(first)
    bot.slack.wait_for("chat.postMessage")
    follow_up = {
        "type": "message",
        "channel": CHANNEL,
        "channel_type": "channel",
        "user": USER,
        "text": SUPERVISOR,
        "ts": f"{time.time():.6f}",
        "thread_ts": first["ts"],
    }
    bot.post_event(follow_up)
    posts = bot.slack.wait_for("chat.postMessage", 2)
    assert posts[1].body["thread_ts"] == first["ts"]
    assert "When They Want the Supervisor" in posts[1].body["text"]
    assert [q.surface for q in queries(bot)] == ["thread", "mention"]
    assert bot.slack.calls("conversations.replies") == []  # no history call per message


def test_thread_messages_where_the_bot_never_answered_are_left_alone(bot: BotHarness) -> None:
    # e.g. the thread under a weekly tip: the bot wrote the parent, never replied
    event = {
        "type": "message",
        "channel": CHANNEL,
        "channel_type": "channel",
        "user": USER,
        "text": SUPERVISOR,
        "ts": "1700000100.000200",
        "thread_ts": "1700000000.000100",
        "parent_user_id": BOT_USER_ID,
    }
    bot.post_event(event)
    bot.slack.wait_idle(quiet=0.4)
    assert bot.slack.calls("chat.postMessage") == []
    assert bot.slack.calls("conversations.replies") == []  # the database says, not Slack


def test_thanks_and_talk_to_colleagues_in_an_answered_thread_are_not_answered(
    bot: BotHarness,
) -> None:
    first = bot.mention_event(SUPERVISOR)
    bot.post_event(first)
    bot.slack.wait_for("chat.postMessage")
    for n, text in enumerate(["thanks!", f"<@{OTHER_USER}> can you take this one?", ":+1:"]):
        bot.post_event(
            {
                "type": "message",
                "channel": CHANNEL,
                "channel_type": "channel",
                "user": USER,
                "text": text,
                "ts": f"1700000200.00000{n}",
                "thread_ts": first["ts"],
            }
        )
    bot.slack.wait_idle(quiet=0.4)
    assert len(bot.slack.calls("chat.postMessage")) == 1


def test_a_thread_reply_that_mentions_the_bot_is_answered_once(bot: BotHarness) -> None:
    first = bot.mention_event(OFF_TOPIC)
    bot.post_event(first)
    bot.slack.wait_for("chat.postMessage")
    ts = "1700000300.000001"
    text = f"<@{BOT_USER_ID}> {SUPERVISOR}"
    common = {"channel": CHANNEL, "user": USER, "text": text, "ts": ts, "thread_ts": first["ts"]}
    bot.post_event({"type": "message", "channel_type": "channel", **common})  # message.channels
    bot.post_event({"type": "app_mention", **common})  # app_mention for the same message
    bot.slack.wait_for("chat.postMessage", 2)
    bot.slack.wait_idle(quiet=0.4)
    assert len(bot.slack.calls("chat.postMessage")) == 2


# -- slash command ---------------------------------------------------------------------------


def test_slash_command_acks_at_once_then_answers_privately(bot: BotHarness) -> None:
    started = time.perf_counter()
    response = bot.post_command(SUPERVISOR)
    ack_ms = (time.perf_counter() - started) * 1000
    assert response.status == 200 and response.body == b""
    assert ack_ms < 1000
    [call] = bot.slack.wait_for("response_url")
    assert call.body["response_type"] == "ephemeral"
    assert call.body["replace_original"] is False
    assert "When They Want the Supervisor" in call.body["text"]
    share = bot.button(call.blocks(), render.ACTION_SHARE)
    assert share["text"]["text"] == "Share with channel"
    assert bot.slack.calls("chat.postMessage") == []
    assert queries(bot)[0].surface == "slash"


@pytest.mark.parametrize("text", ["", "help", "  HELP  "])
def test_slash_help_and_empty_text_show_the_help_in_the_ack(bot: BotHarness, text: str) -> None:
    response = bot.post_command(text)
    assert response.status == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    assert "/coach customer wants the supervisor" in json.dumps(body["blocks"])
    bot.slack.wait_idle(quiet=0.3)
    assert bot.slack.calls("response_url") == []


def test_slash_command_name_comes_from_settings(tmp_path: Path) -> None:
    with bot_harness(tmp_path, slash_command="/tips") as bot:
        assert bot.post_command("help").json()["response_type"] == "ephemeral"
        assert "/tips customer" in json.dumps(bot.post_command("").json())
        # a command Slack still sends under the old name gets the help for the new one
        body = bot.command_body(SUPERVISOR, command="/coach")
        response = bot.post_signed(body, "application/x-www-form-urlencoded")
        assert response.status == 200
        assert "/tips customer" in json.dumps(response.json())


def test_slash_text_containing_the_word_payload_is_still_a_command(bot: BotHarness) -> None:
    """Bolt alone would read any form body with 'payload' in it as a button click."""
    body = ephemeral_card(bot, "payload of the refund form failed, " + SUPERVISOR)
    assert body["response_type"] == "ephemeral"


def test_share_posts_the_card_publicly_credited_to_the_rep(bot: BotHarness) -> None:
    card = ephemeral_card(bot)
    share = bot.button(card["blocks"], render.ACTION_SHARE)
    response = bot.post_payload(bot.action_payload(render.ACTION_SHARE, share["value"]))
    assert response.status == 200
    [post] = bot.slack.wait_for("chat.postMessage")
    assert post.body["channel"] == CHANNEL
    text = post.all_text()
    assert f"Shared by <@{USER}>" in text and "When They Want the Supervisor" in text
    ids = [e["action_id"] for b in post.blocks() if b["type"] == "actions" for e in b["elements"]]
    assert render.ACTION_SHARE not in ids and render.ACTION_FEEDBACK_DOWN in ids


def test_share_where_the_bot_is_not_a_member_uses_the_response_url(bot: BotHarness) -> None:
    card = ephemeral_card(bot)
    share = bot.button(card["blocks"], render.ACTION_SHARE)
    bot.slack.fail("chat.postMessage", error="not_in_channel")
    bot.post_payload(bot.action_payload(render.ACTION_SHARE, share["value"], response_name="share"))
    [public] = [c for c in bot.slack.wait_for("response_url", 2) if c.path.endswith("/share")]
    assert public.body["response_type"] == "in_channel"
    assert f"Shared by <@{USER}>" in public.all_text()


def test_share_that_slack_refuses_everywhere_tells_the_rep(bot: BotHarness) -> None:
    card = ephemeral_card(bot)
    share = bot.button(card["blocks"], render.ACTION_SHARE)
    bot.slack.fail("chat.postMessage", error="channel_not_found")
    bot.slack.fail("response_url", error="expired_url", times=2)  # the share, then the notice
    bot.post_payload(bot.action_payload(render.ACTION_SHARE, share["value"], response_name="share"))
    [notice] = bot.slack.wait_for("chat.postEphemeral")
    assert "couldn't share" in notice.all_text() and notice.body["user"] == USER


# -- buttons ---------------------------------------------------------------------------------


def test_show_full_tip_replaces_the_private_card_with_the_whole_tip(bot: BotHarness) -> None:
    card = ephemeral_card(bot)
    full = bot.button(card["blocks"], render.ACTION_FULL_TIP)
    bot.post_payload(
        bot.action_payload(render.ACTION_FULL_TIP, full["value"], response_name="full")
    )
    [call] = [c for c in bot.slack.wait_for("response_url", 2) if c.path.endswith("/full")]
    assert call.body["replace_original"] is True and call.body["response_type"] == "ephemeral"
    text = call.all_text()
    assert "*From the tip*" in text and "When They Want the Supervisor" in text
    assert "No Supervisor? No Problem" in text  # every paragraph of the post
    assert "*Coach's play*" in text and "*When to use it:*" in text
    assert bot.button(call.blocks(), render.ACTION_SHARE)  # still shareable


def test_show_full_tip_from_a_dm_card_posts_in_the_dm(bot: BotHarness) -> None:
    value = json.dumps({"t": SUPERVISOR_TIP, "q": None})
    payload = bot.action_payload(render.ACTION_FULL_TIP, value, ephemeral=False, channel=DM_CHANNEL)
    bot.post_payload(payload)
    [post] = bot.slack.wait_for("chat.postMessage")
    assert post.body["channel"] == DM_CHANNEL and "thread_ts" not in post.body
    assert "*From the tip*" in post.all_text()


def test_buttons_on_a_channel_card_reply_in_its_thread(bot: BotHarness) -> None:
    value = json.dumps({"t": SUPERVISOR_TIP, "q": None})
    message = {"type": "message", "ts": "1700000000.000500", "thread_ts": "1700000000.000400"}
    bot.post_payload(
        bot.action_payload(render.ACTION_FULL_TIP, value, ephemeral=False, message=message)
    )
    [post] = bot.slack.wait_for("chat.postMessage")
    assert post.body["channel"] == CHANNEL and post.body["thread_ts"] == "1700000000.000400"


def test_next_best_tip_shows_another_tip_for_the_same_situation(bot: BotHarness) -> None:
    card = ephemeral_card(bot)
    button = bot.button(card["blocks"], render.ACTION_NEXT_TIP)
    assert ButtonValue.decode(button["value"]).exclude == (SUPERVISOR_TIP,)
    bot.post_payload(
        bot.action_payload(render.ACTION_NEXT_TIP, button["value"], response_name="next")
    )
    [call] = [c for c in bot.slack.wait_for("response_url", 2) if c.path.endswith("/next")]
    assert "When They Want the Supervisor" not in call.body["text"]
    assert call.body["replace_original"] is True
    surfaces = [q.surface for q in queries(bot)]
    assert surfaces == ["button", "slash"]


def test_a_suggestion_button_shows_that_tip(bot: BotHarness) -> None:
    card = ephemeral_card(bot, IN_DOMAIN_DECLINE)
    [first, *_] = [
        e
        for b in card["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if render.SUGGESTION_ACTION_RE.match(e["action_id"])
    ]
    bot.post_payload(
        bot.action_payload(first["action_id"], first["value"], response_name="suggestion")
    )
    [call] = [c for c in bot.slack.wait_for("response_url", 2) if c.path.endswith("/suggestion")]
    assert call.blocks()[0]["type"] == "header"
    title = bot.deps.coach.get(1).tip_card(ButtonValue.decode(first["value"]).tip_id).title
    assert call.blocks()[0]["text"]["text"] == title


@pytest.mark.parametrize(
    ("value", "expected"),
    [("garbage{", "older answer"), (json.dumps({"t": "no-such-tip"}), "no longer in the library")],
)
def test_stale_or_unknown_buttons_get_a_clear_note_and_keep_the_card(
    bot: BotHarness, value: str, expected: str
) -> None:
    bot.post_payload(bot.action_payload(render.ACTION_FULL_TIP, value))
    [call] = bot.slack.wait_for("response_url")
    assert expected in call.all_text()
    assert call.body["replace_original"] is False


@pytest.mark.parametrize(
    ("action_id", "expected"),
    [
        (render.ACTION_NEXT_TIP, "older answer"),
        (render.ACTION_SHARE, "older answer"),
        (render.ACTION_FEEDBACK_UP, "couldn't save your feedback"),
        (render.ACTION_FEEDBACK_DOWN, "couldn't save your feedback"),
    ],
)
@pytest.mark.parametrize("value", ["garbage{", json.dumps({"version": 99, "tip_id": "x"})])
def test_every_button_with_an_unreadable_value_says_so(
    bot: BotHarness, action_id: str, expected: str, value: str
) -> None:
    bot.post_payload(bot.action_payload(action_id, value))
    [call] = bot.slack.wait_for("response_url")
    assert expected in call.all_text()
    assert call.body["replace_original"] is False
    assert feedback_rows(bot) == []


# -- feedback --------------------------------------------------------------------------------


def test_thumbs_up_is_stored_with_tip_chunks_and_query(bot: BotHarness) -> None:
    card = ephemeral_card(bot)
    up = bot.button(card["blocks"], render.ACTION_FEEDBACK_UP)
    bot.post_payload(bot.action_payload(render.ACTION_FEEDBACK_UP, up["value"], response_name="up"))
    [shown] = [c for c in bot.slack.wait_for("response_url", 2) if c.path.endswith("/up")]
    assert "You found this helpful" in shown.all_text() and shown.body["replace_original"] is True
    [row] = feedback_rows(bot)
    value = ButtonValue.decode(up["value"])
    assert row.helpful is True and row.tip_id == SUPERVISOR_TIP and row.user_id == USER
    assert tuple(row.chunk_ids) == value.chunk_ids and row.chunk_ids
    assert row.query_id == queries(bot)[0].id


def test_thumbs_down_opens_a_modal_whose_comment_is_saved_redacted(bot: BotHarness) -> None:
    card = ephemeral_card(bot)
    down = bot.button(card["blocks"], render.ACTION_FEEDBACK_DOWN)
    bot.post_payload(bot.action_payload(render.ACTION_FEEDBACK_DOWN, down["value"]))
    [opened] = bot.slack.wait_for("views.open")
    view = opened.body["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == render.FEEDBACK_MODAL_ID
    [row] = feedback_rows(bot)
    assert row.helpful is False and row.comment is None  # stored before any comment
    submission = bot.view_submission(view, "Wrong tip: mail jane.doe@example.com <!channel>")
    response = bot.post_payload(submission)
    assert response.status == 200 and response.body == b""  # closes the modal
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and feedback_rows(bot)[0].comment is None:
        time.sleep(0.05)
    [row] = feedback_rows(bot)
    assert row.comment and "Wrong tip" in row.comment
    assert "jane.doe@example.com" not in row.comment


def test_an_empty_modal_submission_keeps_the_thumbs_down(bot: BotHarness) -> None:
    card = ephemeral_card(bot)
    down = bot.button(card["blocks"], render.ACTION_FEEDBACK_DOWN)
    bot.post_payload(bot.action_payload(render.ACTION_FEEDBACK_DOWN, down["value"]))
    [opened] = bot.slack.wait_for("views.open")
    assert bot.post_payload(bot.view_submission(opened.body["view"], None)).status == 200
    bot.slack.wait_idle(quiet=0.3)
    [row] = feedback_rows(bot)
    assert row.helpful is False and row.comment is None


def test_when_the_modal_cannot_open_the_rep_is_still_thanked(bot: BotHarness) -> None:
    card = ephemeral_card(bot)
    down = bot.button(card["blocks"], render.ACTION_FEEDBACK_DOWN)
    bot.slack.fail("views.open", error="expired_trigger_id")
    bot.post_payload(  # on a card in a channel (everyone's), the vote is thanked privately
        bot.action_payload(
            render.ACTION_FEEDBACK_DOWN, down["value"], response_name="down", ephemeral=False
        )
    )
    [thanks] = [c for c in bot.slack.wait_for("response_url", 2) if c.path.endswith("/down")]
    assert "noted" in thanks.all_text()
    assert len(feedback_rows(bot)) == 1
