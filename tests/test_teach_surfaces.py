"""Feedback that teaches through the real Bolt app: signed requests in, fake Slack out.

A rep is declined, asks a lead, the lead answers in the thread (relayed by DM) and
attaches a tip; the rep's workspace is answered with it from then on, another is not.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bot_fixtures import DM_CHANNEL, USER, BotHarness, bot_harness
from fake_slack import TEAM_ID, Call

from bot import render
from bot.render.teach import (
    ACTION_ATTACH_TIP,
    ATTACH_TEXT_BLOCK_ID,
    ATTACH_TEXT_INPUT_ID,
    ATTACH_TIP_BLOCK_ID,
    ATTACH_TIP_INPUT_ID,
)

DECLINED = "customer is upset about the refund"  # declined by the hashing index
EMPATHY_TIP = "empathy-examples-for-everyday-situations"
SUPERVISOR = "customer wants to talk to the supervisor"
LEADS = "C0LEADS01"
ADMIN = "U0LEAD0001"
OTHER_TEAM = "T0OTHER"


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[BotHarness]:
    with bot_harness(tmp_path, leads_channel=LEADS, admins=ADMIN) as harness:
        yield harness


def until(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def posts_to(bot: BotHarness, channel: str, count: int = 1) -> list[Call]:
    return until(
        lambda: (
            found
            if len(
                found := [
                    c
                    for c in bot.slack.calls("chat.postMessage")
                    if c.body.get("channel") == channel
                ]
            )
            >= count
            else None
        )
    )


def find_button(blocks: list[dict[str, Any]], action_id: str) -> dict[str, Any] | None:
    for block in blocks:
        for element in [*(block.get("elements") or []), block.get("accessory") or {}]:
            if element.get("action_id") == action_id:
                return element
    return None


def dm_card(bot: BotHarness, text: str, count: int = 1, team_id: str = TEAM_ID) -> Call:
    bot.post_event(bot.dm_event(text), team_id=team_id)
    return posts_to(bot, DM_CHANNEL, count)[count - 1]


def test_a_declined_rep_asks_a_lead_gets_the_reply_and_the_tip_is_learned(
    bot: BotHarness,
) -> None:
    card = dm_card(bot, DECLINED)
    ask = find_button(card.blocks(), render.ACTION_ASK_LEAD)
    assert ask is not None
    payload = bot.action_payload(
        render.ACTION_ASK_LEAD,
        ask["value"],
        ephemeral=False,
        channel=DM_CHANNEL,
        message={"ts": card.body.get("ts", "1.1"), "blocks": card.blocks()},
        response_name="ask",
    )
    assert bot.post_payload(payload).status == 200
    [lead_post] = posts_to(bot, LEADS)
    assert DECLINED in lead_post.all_text() and f"<@{USER}>" in lead_post.all_text()
    until(lambda: [c for c in bot.slack.calls("response_url") if c.path.endswith("/ask")])

    # A lead answers in the thread: relayed to the rep by DM, found from the database.
    thread_ts = lead_post_ts(bot, lead_post)
    reply = {
        "type": "message",
        "channel": LEADS,
        "channel_type": "channel",
        "user": ADMIN,
        "text": "Apologise, then offer the refund status link",
        "ts": f"{int(time.time())}.000777",
        "thread_ts": thread_ts,
    }
    assert bot.post_event(reply).status == 200
    [relayed] = posts_to(bot, USER)
    assert "refund status link" in relayed.all_text()
    assert bot.slack.calls("conversations.replies") == []

    # The lead attaches a tip: the modal, then the submission.
    attach = find_button(lead_post.blocks(), ACTION_ATTACH_TIP)
    assert attach is not None
    click = bot.action_payload(
        ACTION_ATTACH_TIP,
        attach["value"],
        ephemeral=False,
        channel=LEADS,
        user=ADMIN,
        message={"ts": thread_ts, "blocks": lead_post.blocks()},
    )
    assert bot.post_payload(click).status == 200
    [opened] = bot.slack.wait_for("views.open")
    view = opened.body["view"]
    view = json.loads(view) if isinstance(view, str) else view
    submission = {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": "coach-test"},
        "user": {"id": ADMIN, "username": "lead", "team_id": TEAM_ID},
        "api_app_id": "A0COACH",
        "token": "legacy",
        "trigger_id": "1.2.3",
        "view": {
            **view,
            "id": "VATTACH",
            "state": {
                "values": {
                    ATTACH_TEXT_BLOCK_ID: {ATTACH_TEXT_INPUT_ID: {"value": DECLINED}},
                    ATTACH_TIP_BLOCK_ID: {
                        ATTACH_TIP_INPUT_ID: {"selected_option": {"value": EMPATHY_TIP}}
                    },
                }
            },
        },
    }
    response = bot.post_payload(submission)
    assert response.status == 200 and response.body == b""
    [updated] = bot.slack.wait_for("chat.update")
    assert updated.body["channel"] == LEADS and "attached" in updated.all_text()
    posts_to(bot, USER, 2)  # the rep hears a tip was attached

    # Asked again in this workspace: answered with the attached tip; another: still declined.
    again = dm_card(bot, DECLINED, count=2)
    assert find_button(again.blocks(), render.ACTION_FEEDBACK_UP) is not None
    assert "Empathy" in again.body["text"]
    other = dm_card(bot, DECLINED, count=3, team_id=OTHER_TEAM)
    assert find_button(other.blocks(), render.ACTION_FEEDBACK_UP) is None


def lead_post_ts(bot: BotHarness, lead_post: Call) -> str:
    """The leads post's ts, as the bot stored it (the Attach button names the request)."""
    attach = find_button(lead_post.blocks(), ACTION_ATTACH_TIP)
    request = bot.deps.store.lead_request(json.loads(attach["value"])["lead_request"])  # type: ignore[index]
    assert request is not None and request.ts
    return str(request.ts)


def test_votes_change_show_on_the_card_and_a_reason_is_one_click(bot: BotHarness) -> None:
    assert bot.post_command(SUPERVISOR, response_name="cmd").status == 200
    [card] = [c for c in bot.slack.wait_for("response_url") if c.path.endswith("/cmd")]
    value = find_button(card.blocks(), render.ACTION_FEEDBACK_DOWN)["value"]  # type: ignore[index]
    bot.post_payload(bot.action_payload(render.ACTION_FEEDBACK_DOWN, value, response_name="down"))
    [opened] = bot.slack.wait_for("views.open")
    shown = until(lambda: [c for c in bot.slack.calls("response_url") if c.path.endswith("/down")])
    assert "not helpful" in shown[0].all_text()
    assert find_button(shown[0].blocks(), render.ACTION_ASK_LEAD) is not None
    view = opened.body["view"]
    view = json.loads(view) if isinstance(view, str) else view
    radio = {
        "type": "block_actions",
        "user": {"id": USER, "team_id": TEAM_ID},
        "team": {"id": TEAM_ID},
        "api_app_id": "A0COACH",
        "token": "legacy",
        "container": {"type": "view", "view_id": "VFAKE1"},
        "trigger_id": "1.2.4",
        "view": {**view, "id": "VFAKE1"},
        "actions": [
            {
                "action_id": render.ACTION_FEEDBACK_REASON,
                "block_id": render.FEEDBACK_REASON_BLOCK_ID,
                "type": "radio_buttons",
                "selected_option": {"value": "too_long"},
            }
        ],
    }
    assert bot.post_payload(radio).status == 200
    until(lambda: votes(bot) and votes(bot)[0].reason == "too_long")

    bot.post_payload(bot.action_payload(render.ACTION_FEEDBACK_UP, value, response_name="up"))
    shown_up = until(lambda: [c for c in bot.slack.calls("response_url") if c.path.endswith("/up")])
    assert "You found this helpful" in shown_up[0].all_text()
    until(lambda: votes(bot)[0].helpful)
    [row] = votes(bot)  # one vote per person per answer
    assert row.helpful is True and row.reason is None


def votes(bot: BotHarness) -> list[Any]:
    now = datetime.now(UTC)
    return bot.deps.store.feedback_between(now - timedelta(hours=1), now + timedelta(hours=1))


#: (what the rep pasted, what must never leave it): one of each kind of personal data.
PERSONAL = [
    ("mail jane.doe@example.com", "jane.doe@example.com"),
    ("or <mailto:ann@example.org|ann@example.org>", "ann@example.org"),
    ("call +1 415 555 0100", "555 0100"),
    ("card 4111 1111 1111 1111", "4111 1111"),
    ("account 12345678", "12345678"),
    ("Mrs. Alvarez is upset", "Alvarez"),
    ("Derek Olsen called again", "Olsen"),
    ("ship to 4500 W. Elm Avenue", "Elm Avenue"),
    ("Springfield, IL 62704", "62704"),
    ("London SW1A 1AA", "SW1A"),
    ("IBAN GB82WEST12345698765432", "GB82WEST"),
    ("cvv 737", "737"),
    ("DOB 04/12/1987", "04/12/1987"),
    ("born on the fifth of June nineteen eighty-seven", "fifth of June"),
    ("order #A-1234", "A-1234"),
    ("ref #XK9-221", "XK9-221"),
]


def test_no_personal_data_reaches_any_sink(bot: BotHarness, tmp_path: Path) -> None:
    """A rep pastes a customer's message with 16 kinds of personal data, is declined and
    asks a lead: none of it is in the database file, the logs, any Slack payload (the card,
    the leads post), the App Home, or the gap report."""
    import io
    import logging

    from rich.console import Console

    from bot.logs import build_handler
    from bot.report import admin_summary, build_report
    from bot.report import render as render_report

    stream = io.StringIO()
    handler = build_handler(stream=stream)
    logging.getLogger("bot").addHandler(handler)
    try:
        text = DECLINED + ". " + ". ".join(pasted for pasted, _ in PERSONAL)
        card = dm_card(bot, text)
        ask = find_button(card.blocks(), render.ACTION_ASK_LEAD)
        [row] = bot.deps.store.recent_queries(team_id=TEAM_ID, user_id=USER)  # type: ignore[union-attr]
        payload = bot.action_payload(
            render.ACTION_ASK_LEAD,
            ask["value"] if ask else render.ask_lead_value(row.id),  # a decline, or after a 👎
            ephemeral=False,
            channel=DM_CHANNEL,
            message={"ts": card.body.get("ts", "1.1"), "blocks": card.blocks()},
            response_name="ask",
        )
        assert bot.post_payload(payload).status == 200
        posts_to(bot, LEADS)
        bot.post_event(bot.home_event(user=ADMIN))
        until(lambda: bot.slack.calls("views.publish"))
        bot.slack.wait_idle(quiet=0.3)
    finally:
        logging.getLogger("bot").removeHandler(handler)
    store: Any = bot.deps.store
    now = datetime.now(UTC)
    console = Console(file=io.StringIO(), width=200, color_system=None)
    render_report(build_report(store, timedelta(days=7), now), console, timedelta(days=7))
    report = console.file.getvalue() + json.dumps(  # type: ignore[attr-defined]
        build_report(store, timedelta(days=7), now).to_json()
    )
    report += "\n".join(admin_summary(store, now + timedelta(seconds=1)))
    database = b"".join(p.read_bytes() for p in tmp_path.rglob("bot.sqlite3*"))
    sinks = {
        "database": database.decode("utf-8", "replace"),
        "logs": stream.getvalue(),
        "slack": "\n".join(c.raw.decode("utf-8", "replace") for c in bot.slack.calls()),
        "report": report,
    }
    assert len(bot.slack.calls("chat.postMessage")) >= 2  # the card and the leads post went out
    for where in ("database", "slack"):  # the text reached them, redacted
        assert "[email]" in sinks[where] and "[name]" in sinks[where], where
    leaks = [
        f"{where}: {secret!r}"
        for where, seen in sinks.items()
        for _, secret in PERSONAL
        if secret in seen or secret.replace(" ", "+") in seen
    ]
    assert leaks == []
