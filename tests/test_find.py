""" "Find a tip" (global shortcut, App Home button, type-ahead modal) and "Coach me on this"
(message shortcut): the named callbacks with recording fakes, then the same surfaces as
signed requests through the real Bolt app against the fake Slack."""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from bot_fixtures import CHANNEL, USER, BotHarness, bot_harness
from fake_slack import TEAM_ID, FakeSlack
from listener_fakes import RecordingAck, RecordingClient, drain
from slack_bolt.util.utils import get_arg_names_of_callable
from test_listeners_unit import (  # the unit fixtures: fake Slack, Deps with a 1-thread pool
    SUPERVISOR,
    SUPERVISOR_TIP,
    SUPERVISOR_TITLE,
    TRIGGER_ID,
    ack,
    client,
    context,
    deps,
    make_deps,
    responses,
    slack,
    surfaces,
    text_of,
)

from bot import render
from bot.deps import CoachProvider, Deps
from bot.listeners import find
from bot.listeners.common import with_deps
from bot.render import find as find_view
from retrieval.errors import CoachError

__all__ = ["ack", "client", "deps", "make_deps", "slack"]  # fixtures used by name below

CUSTOMER = "U0CUST001"
MESSAGE_TS = "1700000500.000100"

# -- payloads as Slack sends them ------------------------------------------------------------


def shortcut_body(**extra: Any) -> dict[str, Any]:
    """A global shortcut (``type: shortcut``): no channel, no response_url."""
    return {
        "type": "shortcut",
        "token": "legacy",
        "action_ts": f"{time.time():.6f}",
        "team": {"id": TEAM_ID, "domain": "coach-test"},
        "user": {"id": USER, "username": "rep", "team_id": TEAM_ID},
        "callback_id": find.FIND_SHORTCUT,
        "trigger_id": TRIGGER_ID,
        **extra,
    }


def home_button_body() -> dict[str, Any]:
    """A click on the App Home's "Find a tip" button."""
    return {
        "type": "block_actions",
        "user": {"id": USER, "username": "rep", "team_id": TEAM_ID},
        "api_app_id": "A0COACH",
        "token": "legacy",
        "container": {"type": "view", "view_id": "VHOME1"},
        "trigger_id": TRIGGER_ID,
        "team": {"id": TEAM_ID, "domain": "coach-test"},
        "view": {"id": "VHOME1", "type": "home", "callback_id": "coach_home"},
        "actions": [
            {
                "action_id": render.ACTION_FIND_TIP,
                "block_id": "coach_find_tip",
                "type": "button",
                "value": "find",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def suggestion_body(value: Any) -> dict[str, Any]:
    """The menu asking for options (``block_suggestion``) with what the rep typed."""
    return {
        "type": "block_suggestion",
        "user": {"id": USER, "username": "rep", "team_id": TEAM_ID},
        "container": {"type": "view", "view_id": "VFIND1"},
        "api_app_id": "A0COACH",
        "token": "legacy",
        "action_id": find_view.FIND_PICK_ACTION,
        "block_id": find_view.FIND_PICK_BLOCK,
        "value": value,
        "team": {"id": TEAM_ID, "domain": "coach-test"},
        "view": {**find_view.find_modal(), "id": "VFIND1", "state": {"values": {}}},
    }


def modal_state(option: dict[str, Any] | None = None, text: str | None = None) -> dict[str, Any]:
    """The modal as a submission carries it back: the picked option and the typed text."""
    pick: dict[str, Any] = {"type": "external_select", "selected_option": option}
    typed = {"type": "plain_text_input", "value": text}
    values = {
        find_view.FIND_PICK_BLOCK: {find_view.FIND_PICK_ACTION: pick},
        find_view.FIND_TEXT_BLOCK: {find_view.FIND_TEXT_ACTION: typed},
    }
    return {**find_view.find_modal(), "id": "VFIND1", "state": {"values": values}}


def submission_body(view: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": "coach-test"},
        "user": {"id": USER, "username": "rep", "team_id": TEAM_ID},
        "api_app_id": "A0COACH",
        "token": "legacy",
        "trigger_id": "1.2.3",
        "view": view,
    }


def message_action_body(
    message: dict[str, Any], response_url: str, channel: str = CHANNEL
) -> dict[str, Any]:
    """The message shortcut used on ``message`` (``type: message_action``)."""
    return {
        "type": "message_action",
        "token": "legacy",
        "action_ts": f"{time.time():.6f}",
        "team": {"id": TEAM_ID, "domain": "coach-test"},
        "user": {"id": USER, "username": "rep", "team_id": TEAM_ID},
        "channel": {"id": channel, "name": "shared-acme"},
        "callback_id": find.MESSAGE_SHORTCUT,
        "trigger_id": TRIGGER_ID,
        "message_ts": message.get("ts", MESSAGE_TS),
        "message": {"type": "message", "ts": MESSAGE_TS, "user": CUSTOMER, **message},
        "response_url": response_url,
    }


def supervisor_option(deps: Deps) -> dict[str, Any]:
    """What the menu offers for "supervisr": the first option of the supervisor tip."""
    options = find.suggestions(deps, "supervisr")
    return next(o for o in options if find_view.picked_tip(o["value"]) == SUPERVISOR_TIP)


def row_text(option: dict[str, Any]) -> str:
    """The line a picked option is looked up (and logged) as: its label, without "…"."""
    return str(option["text"]["text"]).rstrip("…").strip()


def query_rows(deps: Deps) -> list[Any]:
    return deps.store.recent_queries(team_id=TEAM_ID, user_id=USER, limit=20)


# -- wiring -------------------------------------------------------------------------------------

CALLBACKS = [
    find.handle_find_shortcut,
    find.handle_find_button,
    find.handle_find_options,
    find.handle_find_submission,
    find.handle_coach_on_message,
]


@pytest.mark.parametrize("callback", CALLBACKS, ids=lambda f: f.__name__)
def test_bolt_injects_every_argument_but_the_bound_deps(callback: Any, deps: Deps) -> None:
    bound = with_deps(callback, deps)
    own = [
        p.name
        for p in inspect.signature(callback).parameters.values()
        if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]
    assert get_arg_names_of_callable(bound) == own and "deps" not in own
    assert bound.__name__ == callback.__name__


# -- the modal ----------------------------------------------------------------------------------


def test_the_modal_keeps_slacks_limits_and_offers_a_type_ahead_menu() -> None:
    modal = find_view.find_modal()
    for key in ("title", "submit", "close"):
        assert 1 <= len(modal[key]["text"]) <= 24
    [menu] = [b["element"] for b in modal["blocks"] if b.get("block_id") == "coach_find_pick"]
    assert menu["type"] == "external_select" and menu["action_id"] == find_view.FIND_PICK_ACTION
    assert menu["min_query_length"] >= 1


@pytest.mark.parametrize(
    "handler, body",
    [
        (find.handle_find_shortcut, shortcut_body()),
        (find.handle_find_button, home_button_body()),
    ],
    ids=["global shortcut", "home button"],
)
def test_the_shortcut_and_the_home_button_open_the_modal_after_the_ack(
    deps: Deps, ack: RecordingAck, client: RecordingClient, handler: Any, body: dict[str, Any]
) -> None:
    handler(ack, body, client, context(), deps=deps)
    assert ack.calls == [{}]
    drain(deps)
    [opened] = client.calls("views_open")
    assert opened.kwargs["trigger_id"] == TRIGGER_ID
    assert opened.kwargs["view"]["callback_id"] == find_view.FIND_MODAL_ID
    assert opened.thread.startswith("coach-work")
    assert client.calls("chat_postMessage") == []


def test_a_modal_slack_will_not_open_is_explained_in_a_dm(
    deps: Deps, ack: RecordingAck, client: RecordingClient
) -> None:
    client.refuse("views_open", "expired_trigger_id")
    find.handle_find_shortcut(ack, shortcut_body(), client, context(), deps=deps)
    drain(deps)
    [dm] = client.calls("chat_postMessage")
    assert dm.kwargs["channel"] == USER and find.MODAL_FAILED in text_of(dm.kwargs)


# -- the type-ahead options ---------------------------------------------------------------------


def test_options_for_a_misspelt_word_include_the_supervisor_situations(
    deps: Deps, ack: RecordingAck
) -> None:
    find.handle_find_options(ack, suggestion_body("supervisr"), deps=deps)
    [acked] = ack.calls
    options = acked["options"]
    assert 1 <= len(options) <= find_view.MAX_OPTIONS
    tips = [find_view.picked_tip(o["value"]) for o in options]
    assert SUPERVISOR_TIP in tips
    supervisor = [o["text"]["text"] for o in options if SUPERVISOR_TIP in o["value"]]
    assert any("supervisor" in label.lower() for label in supervisor)
    assert len({o["value"] for o in options}) == len(options)  # values are unique


@pytest.mark.parametrize(
    "typed",
    ["", "   ", "🙂🙂", "\u200b\u202e", None, 42, "supervisor " * 5000, "ｓｕｐｅｒｖｉｓｏｒ"],
    ids=["empty", "blank", "emoji", "invisible", "missing", "not text", "huge", "full-width"],
)
def test_options_stay_within_slacks_limits_whatever_is_typed(
    deps: Deps, ack: RecordingAck, typed: Any
) -> None:
    find.handle_find_options(ack, suggestion_body(typed), deps=deps)
    [acked] = ack.calls
    options = acked["options"]
    assert len(options) <= find_view.MAX_OPTIONS
    for option in options:
        assert 1 <= len(option["text"]["text"]) <= find_view.MAX_OPTION_TEXT
        assert len(option["value"]) <= find_view.MAX_OPTION_VALUE
    if typed in ("", "   ", "🙂🙂", "\u200b\u202e", None, 42):
        assert options == []
    else:
        assert options  # a huge paste or a full-width word still finds situations


def test_long_lines_are_cut_at_a_word_for_the_menu() -> None:
    label = find_view.option_label("word " * 40)
    assert len(label) <= find_view.MAX_OPTION_TEXT and label.endswith("…")
    assert not label[:-1].endswith(" ")


class BrokenCoach:
    """A coach whose every call fails the way a broken index does."""

    min_confidence = 0.1

    def suggest(self, prefix: str, limit: int = 20) -> Any:
        raise CoachError("the index is broken")

    def answer(self, text: str, **kwargs: Any) -> Any:
        raise CoachError("the index is broken")


def test_options_when_the_coach_is_broken_or_loading_are_empty_not_an_error(
    make_deps: Callable[..., Deps], ack: RecordingAck
) -> None:
    broken = make_deps(BrokenCoach())
    find.handle_find_options(ack, suggestion_body("supervisor"), deps=broken)
    loading = make_deps()
    loading.coach = CoachProvider(lambda: (_ for _ in ()).throw(RuntimeError("no")))
    loading.coach_wait_seconds = 0.05
    find.handle_find_options(ack, suggestion_body("supervisor"), deps=loading)
    assert ack.calls == [{"options": []}, {"options": []}]


# -- submitting the modal -----------------------------------------------------------------------


def test_a_picked_situation_is_answered_privately_in_the_dm_and_logged(
    deps: Deps, ack: RecordingAck, client: RecordingClient
) -> None:
    option = supervisor_option(deps)
    view = modal_state(option)
    find.handle_find_submission(ack, submission_body(view), view, client, context(), deps=deps)
    [acked] = ack.calls
    assert acked == {"response_action": "update", "view": find_view.find_sent_modal()}
    drain(deps)
    [post] = client.calls("chat_postMessage")
    assert post.kwargs["channel"] == USER  # the rep's DM with the app: only they see it
    assert post.kwargs["text"].startswith(SUPERVISOR_TITLE)
    assert render.ACTION_FULL_TIP in json.dumps(post.kwargs["blocks"])
    shown = json.dumps(post.kwargs["blocks"], ensure_ascii=False)
    assert f"You picked: “{row_text(option)}”" in shown  # a DM read later says what it answers
    [row] = query_rows(deps)
    assert row.surface == "modal" and row.answered and row.tip_id == SUPERVISOR_TIP
    assert row.text == row_text(option)


def test_a_description_is_looked_up_like_a_slash_command(
    deps: Deps, ack: RecordingAck, client: RecordingClient
) -> None:
    view = modal_state(None, f"  {SUPERVISOR}  ")
    find.handle_find_submission(ack, submission_body(view), view, client, context(), deps=deps)
    drain(deps)
    [post] = client.calls("chat_postMessage")
    assert post.kwargs["channel"] == USER and post.kwargs["text"].startswith(SUPERVISOR_TITLE)
    assert f"You asked: “{SUPERVISOR}”" in json.dumps(post.kwargs["blocks"], ensure_ascii=False)
    assert surfaces(deps) == ["modal"]


def test_a_picked_situation_wins_over_a_description(
    deps: Deps, ack: RecordingAck, client: RecordingClient
) -> None:
    view = modal_state(supervisor_option(deps), "caller is angry about a late refund")
    find.handle_find_submission(ack, submission_body(view), view, client, context(), deps=deps)
    drain(deps)
    [post] = client.calls("chat_postMessage")
    assert post.kwargs["text"].startswith(SUPERVISOR_TITLE)


@pytest.mark.parametrize(
    "text, block, problem",
    [
        (None, find_view.FIND_PICK_BLOCK, find.PICK_OR_DESCRIBE),
        ("   \n ", find_view.FIND_PICK_BLOCK, find.PICK_OR_DESCRIBE),
        ("🙂 !!! \u200b\u202e ??", find_view.FIND_TEXT_BLOCK, find.NO_WORDS),
        ("supervisor " * 200, find_view.FIND_TEXT_BLOCK, find.TOO_LONG),
    ],
    ids=["nothing", "blank", "odd unicode", "huge"],
)
def test_a_submission_with_nothing_to_look_up_keeps_the_modal_open_and_says_why(
    deps: Deps,
    ack: RecordingAck,
    client: RecordingClient,
    text: str | None,
    block: str,
    problem: str,
) -> None:
    view = modal_state(None, text)
    find.handle_find_submission(ack, submission_body(view), view, client, context(), deps=deps)
    assert ack.calls == [{"response_action": "errors", "errors": {block: problem}}]
    drain(deps)
    assert client.calls() == [] and surfaces(deps) == []


@pytest.mark.parametrize(
    "option",
    [
        {"text": {"type": "plain_text", "text": "old line"}, "value": "not-ours"},
        {"text": {"type": "plain_text", "text": ""}, "value": f"{SUPERVISOR_TIP}#0"},
        "broken",
    ],
    ids=["unreadable value", "no label", "not an object"],
)
def test_an_unreadable_option_asks_to_pick_again(
    deps: Deps, ack: RecordingAck, client: RecordingClient, option: Any
) -> None:
    view = modal_state(option)
    find.handle_find_submission(ack, submission_body(view), view, client, context(), deps=deps)
    assert ack.calls[0]["response_action"] == "errors"


def test_a_picked_tip_no_longer_in_the_library_is_said_and_logged(
    deps: Deps, ack: RecordingAck, client: RecordingClient
) -> None:
    option = {"text": {"type": "plain_text", "text": "a gone situation"}, "value": "gone-tip#3"}
    view = modal_state(option)
    find.handle_find_submission(ack, submission_body(view), view, client, context(), deps=deps)
    drain(deps)
    [post] = client.calls("chat_postMessage")
    assert "no longer in the library" in text_of(post.kwargs)
    [row] = query_rows(deps)
    assert row.surface == "modal" and not row.answered and row.error


# -- "Coach me on this" ---------------------------------------------------------------------------


def test_the_message_shortcut_answers_privately_about_the_messages_words(
    deps: Deps, ack: RecordingAck, client: RecordingClient, slack: FakeSlack
) -> None:
    words = f"<@{USER}> I want to talk to your supervisor &amp; now <!channel>"
    body = message_action_body({"text": words}, slack.response_url("msg"))
    find.handle_coach_on_message(ack, body, client, context(), deps=deps)
    assert ack.calls == [{}]
    drain(deps)
    [answer] = responses(slack, "msg")
    assert answer.body["response_type"] == "ephemeral"  # only the rep sees it
    assert answer.body["text"].startswith(SUPERVISOR_TITLE)
    text = answer.all_text()
    assert "About the message: “someone I want to talk to your supervisor &amp; now" in text
    assert "<!channel>" not in text
    assert render.ACTION_SHARE in json.dumps(answer.blocks())
    assert client.calls() == []
    [row] = query_rows(deps)
    assert row.surface == "shortcut" and row.tip_id == SUPERVISOR_TIP
    assert row.text == "someone I want to talk to your supervisor & now"  # plain words


def test_a_message_without_text_is_read_from_its_attachments_and_blocks() -> None:
    attached = {"text": "", "attachments": [{"fallback": "customer wants the supervisor"}]}
    assert find.message_words(attached) == "customer wants the supervisor"
    blocks = {
        "blocks": [
            {
                "type": "rich_text",
                "elements": [
                    {
                        "type": "rich_text_section",
                        "elements": [{"type": "text", "text": "caller wants a manager"}],
                    }
                ],
            }
        ]
    }
    assert find.message_words(blocks) == "caller wants a manager"


@pytest.mark.parametrize(
    "message",
    [
        {"text": ""},
        {"text": ":pray: :fire:", "files": [{"id": "F1"}]},
        {"text": "\u200b\u202e  ?!"},
        {"text": 42},
    ],
    ids=["empty", "emoji and a file", "invisible", "not text"],
)
def test_a_message_with_no_words_gets_a_clear_private_note_not_a_lookup(
    deps: Deps,
    ack: RecordingAck,
    client: RecordingClient,
    slack: FakeSlack,
    message: dict[str, Any],
) -> None:
    body = message_action_body(message, slack.response_url("empty"))
    find.handle_coach_on_message(ack, body, client, context(), deps=deps)
    drain(deps)
    [note] = responses(slack, "empty")
    assert note.body["response_type"] == "ephemeral"
    assert "no words I can coach on" in note.all_text() and "/coach" in note.all_text()
    assert surfaces(deps) == []


def test_a_huge_message_is_read_from_its_beginning_and_says_so(
    deps: Deps, ack: RecordingAck, client: RecordingClient, slack: FakeSlack
) -> None:
    huge = SUPERVISOR + " and the queue is long" * 2000
    body = message_action_body({"text": huge}, slack.response_url("huge"))
    find.handle_coach_on_message(ack, body, client, context(), deps=deps)
    drain(deps)
    [answer] = responses(slack, "huge")
    assert "I read its beginning" in answer.all_text()
    assert len(answer.body["text"]) <= 3000
    assert surfaces(deps) == ["shortcut"]


def test_when_the_response_url_is_refused_the_answer_is_ephemeral_then_a_dm(
    deps: Deps, ack: RecordingAck, client: RecordingClient, slack: FakeSlack
) -> None:
    slack.fail("response_url", error="expired_url", times=2)
    body = message_action_body({"text": SUPERVISOR}, slack.response_url("gone"))
    find.handle_coach_on_message(ack, body, client, context(), deps=deps)
    drain(deps)
    [ephemeral] = client.calls("chat_postEphemeral")
    assert ephemeral.kwargs["channel"] == CHANNEL and ephemeral.kwargs["user"] == USER
    client.refuse("chat_postEphemeral", "channel_not_found")  # e.g. a channel we can't see
    find.handle_coach_on_message(RecordingAck(), body, client, context(), deps=deps)
    drain(deps)
    [dm] = client.calls("chat_postMessage")
    assert dm.kwargs["channel"] == USER and SUPERVISOR_TITLE in dm.kwargs["text"]


# -- through the real app, signed, against the fake Slack ---------------------------------------


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[BotHarness]:
    with bot_harness(tmp_path) as harness:
        yield harness


def test_http_global_shortcut_opens_the_modal_with_the_trigger_id(bot: BotHarness) -> None:
    response = bot.post_payload(shortcut_body(trigger_id="1.2.find"))
    assert response.status == 200 and response.body == b""
    [opened] = bot.slack.wait_for("views.open")
    assert opened.body["trigger_id"] == "1.2.find"
    view = opened.body["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == find_view.FIND_MODAL_ID


def test_http_home_tab_has_the_button_and_it_opens_the_modal(bot: BotHarness) -> None:
    bot.post_event(bot.home_event())
    [published] = bot.slack.wait_for("views.publish")
    home = published.body["view"]
    home = json.loads(home) if isinstance(home, str) else home
    assert bot.button(home["blocks"], render.ACTION_FIND_TIP)["text"]["text"].endswith("Find a tip")
    assert bot.post_payload(home_button_body()).status == 200
    [opened] = bot.slack.wait_for("views.open")
    assert opened.body["trigger_id"] == TRIGGER_ID


def test_http_options_for_supervisr_include_the_supervisor_situations(bot: BotHarness) -> None:
    response = bot.post_payload(suggestion_body("supervisr"))
    assert response.status == 200
    options = response.json()["options"]
    assert SUPERVISOR_TIP in {find_view.picked_tip(o["value"]) for o in options}
    assert all(len(o["text"]["text"]) <= 75 for o in options) and len(options) <= 100


def test_http_a_submission_answers_privately_and_logs_the_lookup(bot: BotHarness) -> None:
    options = bot.post_payload(suggestion_body("supervisr")).json()["options"]
    option = next(o for o in options if SUPERVISOR_TIP in o["value"])
    response = bot.post_payload(submission_body(modal_state(option)))
    assert response.status == 200
    assert response.json()["response_action"] == "update"
    [post] = bot.slack.wait_for("chat.postMessage")
    assert post.body["channel"] == USER and post.body["text"].startswith(SUPERVISOR_TITLE)
    rows = bot.deps.store.recent_queries(team_id=TEAM_ID, user_id=USER, limit=5)
    assert [(r.surface, r.tip_id) for r in rows] == [("modal", SUPERVISOR_TIP)]


def test_http_an_empty_submission_gets_inline_errors(bot: BotHarness) -> None:
    response = bot.post_payload(submission_body(modal_state(None, "  ")))
    assert response.status == 200
    assert response.json() == {
        "response_action": "errors",
        "errors": {find_view.FIND_PICK_BLOCK: find.PICK_OR_DESCRIBE},
    }
    bot.slack.wait_idle(quiet=0.3)
    assert bot.slack.calls("chat.postMessage") == []


def test_http_message_shortcut_answers_privately_about_the_message(bot: BotHarness) -> None:
    body = message_action_body(
        {"text": "I want to talk to your supervisor"}, bot.slack.response_url("msg")
    )
    response = bot.post_payload(body)
    assert response.status == 200 and response.body == b""
    [answer] = bot.slack.wait_for("response_url")
    assert answer.body["response_type"] == "ephemeral"
    assert "About the message" in answer.all_text()
    assert answer.body["text"].startswith(SUPERVISOR_TITLE)
    assert bot.slack.calls("chat.postMessage") == []
    rows = bot.deps.store.recent_queries(team_id=TEAM_ID, user_id=USER, limit=5)
    assert [r.surface for r in rows] == ["shortcut"]


def test_the_manifest_declares_both_shortcuts_and_the_options_url() -> None:
    yaml = pytest.importorskip("yaml")
    manifest = yaml.safe_load((Path(__file__).parent.parent / "manifest.yaml").read_text())
    shortcuts = {s["callback_id"]: s["type"] for s in manifest["features"]["shortcuts"]}
    assert shortcuts == {find.FIND_SHORTCUT: "global", find.MESSAGE_SHORTCUT: "message"}
    interactivity = manifest["settings"]["interactivity"]
    assert interactivity["message_menu_options_url"].endswith("/slack/events")
    assert "commands" in manifest["oauth_config"]["scopes"]["bot"]  # shortcuts need it
