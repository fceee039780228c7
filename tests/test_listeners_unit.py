"""Each listener callback called directly: recording ``ack`` and ``client`` fakes
(``listener_fakes``), a real ``Deps`` (hashing-encoder coach, temporary SQLite store) and
the fake Slack only for ``response_url`` replies. The same surfaces over signed HTTP
through Bolt: ``test_bot_surfaces.py``.

The work pool has one thread here, so :func:`drain` (a job queued behind everything
already handed off) waits for a callback's work without sleeping.
"""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bot_fixtures import BOT_TOKEN, CHANNEL, DM_CHANNEL, USER, shared_coach
from fake_slack import BOT_ID, BOT_USER_ID, TEAM_ID, Call, FakeSlack
from listener_fakes import RecordingAck, RecordingClient, deps_builder, drain
from slack_bolt import BoltContext
from slack_bolt.util.utils import get_arg_names_of_callable
from slack_sdk.oauth.installation_store import Installation

from bot import render
from bot.dedupe import REPLAY_KEY
from bot.deps import Deps
from bot.listeners import actions, dm, feedback, home, mention, slash, uninstall
from bot.listeners.common import lookup, with_deps
from bot.render import ButtonValue, Message

SUPERVISOR = "customer wants to talk to the supervisor"  # answered by the hashing index
SUPERVISOR_TIP = "when-they-want-the-supervisor"
SUPERVISOR_TITLE = "When They Want the Supervisor"
TRIGGER_ID = "13345224609.738474920.8088930838d88f008e0"
CARD_TS = "1700000000.000100"


class GatedCoach:
    """The hashing coach, but ``answer`` waits until ``release`` is set and notes its thread."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.min_confidence = inner.min_confidence
        self.release = threading.Event()
        self.threads: list[str] = []

    def answer(self, text: str, **kwargs: Any) -> Any:
        self.threads.append(threading.current_thread().name)
        assert self.release.wait(10), "the test never released the coach"
        return self.inner.answer(text, **kwargs)

    def tip_card(self, tip_id: str) -> Any:
        return self.inner.tip_card(tip_id)

    def tips(self) -> Any:
        return self.inner.tips()


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    """Serves the ``response_url`` endpoints (the Web API goes to :class:`RecordingClient`)."""
    with FakeSlack(token=BOT_TOKEN) as fake:
        yield fake


@pytest.fixture
def make_deps(tmp_path: Path, slack: FakeSlack) -> Iterator[Callable[..., Deps]]:
    """``Deps`` as ``bot_fixtures.build_deps`` builds them, with a one-thread work pool."""
    with deps_builder(slack, tmp_path) as build:
        yield build


@pytest.fixture
def deps(make_deps: Callable[..., Deps]) -> Deps:
    return make_deps()


@pytest.fixture
def ack() -> RecordingAck:
    return RecordingAck()


@pytest.fixture
def client() -> RecordingClient:
    return RecordingClient()


def context(**extra: Any) -> BoltContext:
    """What Bolt's context holds for a request from the test workspace."""
    return BoltContext(
        {
            "team_id": TEAM_ID,
            "user_id": USER,
            "bot_user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            **extra,
        }
    )


def responses(slack: FakeSlack, name: str) -> list[Call]:
    """What reached the ``response_url`` called ``name``."""
    return [c for c in slack.calls("response_url") if c.path.endswith(f"/{name}")]


def text_of(kwargs: dict[str, Any]) -> str:
    """A posted message's fallback text and block texts, for assertions."""
    return f"{kwargs.get('text')}\n{json.dumps(kwargs.get('blocks') or [])}"


def slash_card(deps: Deps) -> Message:
    """The private card ``/coach <supervisor situation>`` answers with (its buttons' values)."""
    return lookup(
        deps, text=SUPERVISOR, surface="slash", team_id=TEAM_ID, user_id=USER, shareable=True
    ).message


def button_value(message: Message, action_id: str) -> str:
    for block in message.blocks:
        for element in block.get("elements", []) or []:
            if element.get("action_id") == action_id:
                return str(element["value"])
    raise AssertionError(f"no {action_id} button")


def action_body(
    slack: FakeSlack,
    action_id: str,
    value: str,
    *,
    name: str = "action",
    ephemeral: bool = True,
    channel: str = CHANNEL,
    message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``block_actions`` payload for a click on a card (ephemeral: no ``message``)."""
    body: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": USER, "team_id": TEAM_ID},
        "team": {"id": TEAM_ID},
        "channel": {"id": channel},
        "container": {
            "type": "message",
            "message_ts": CARD_TS,
            "channel_id": channel,
            "is_ephemeral": ephemeral,
        },
        "trigger_id": TRIGGER_ID,
        "response_url": slack.response_url(name),
        "actions": [{"action_id": action_id, "type": "button", "value": value}],
    }
    if not ephemeral:
        body["message"] = message or {"type": "message", "ts": CARD_TS, "user": BOT_USER_ID}
    return body


def feedback_rows(deps: Deps) -> list[Any]:
    now = datetime.now(UTC)
    return deps.store.feedback_between(now - timedelta(hours=1), now + timedelta(hours=1))  # type: ignore[attr-defined]


def surfaces(deps: Deps) -> list[str]:
    """The query log's surfaces for the test rep, newest first."""
    rows = deps.store.recent_queries(team_id=TEAM_ID, user_id=USER, limit=20)
    return [row.surface for row in rows]


# -- wiring: Bolt's argument injection ------------------------------------------------------

CALLBACKS = [
    dm.handle_dm,
    mention.handle_mention,
    mention.handle_thread_reply,
    slash.handle_coach_command,
    slash.handle_other_command,
    slash.is_other_command,
    actions.handle_show_tip,
    actions.handle_next_tip,
    actions.handle_share,
    feedback.handle_helpful,
    feedback.handle_unhelpful,
    feedback.handle_feedback_comment,
    home.handle_home_opened,
    uninstall.handle_app_uninstalled,
    uninstall.handle_tokens_revoked,
]


@pytest.mark.parametrize("callback", CALLBACKS, ids=lambda f: f.__name__)
def test_bolt_injects_every_argument_but_the_bound_deps(callback: Any, deps: Deps) -> None:
    """Bolt reads the names it injects the way ``get_arg_names_of_callable`` does: the bound
    ``deps`` must not be among them, and none of the callback's own may go missing."""
    bound = with_deps(callback, deps)
    own = [
        p.name
        for p in inspect.signature(callback).parameters.values()
        if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]
    assert get_arg_names_of_callable(bound) == own
    assert "deps" not in own and own
    assert bound.__name__ == callback.__name__  # Bolt's logs name the listener
    assert bound.keywords["deps"] is deps  # type: ignore[attr-defined]


# -- slash command ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "help", "  HELP  "])
def test_slash_help_and_empty_text_are_the_ack_itself(
    deps: Deps, ack: RecordingAck, client: RecordingClient, slack: FakeSlack, text: str
) -> None:
    command = {"command": "/coach", "text": text, "response_url": slack.response_url("cmd")}
    slash.handle_coach_command(ack, command, client, context(), deps=deps)
    [acked] = ack.calls
    assert acked["response_type"] == "ephemeral"
    assert "/coach customer wants the supervisor" in json.dumps(acked["blocks"])
    drain(deps)
    assert slack.calls("response_url") == [] and client.calls() == []
    assert surfaces(deps) == []  # help is not a lookup


def test_slash_lookup_is_acked_before_the_coach_answers_then_answered_from_the_pool(
    make_deps: Callable[..., Deps], ack: RecordingAck, client: RecordingClient, slack: FakeSlack
) -> None:
    coach = GatedCoach(shared_coach())
    deps = make_deps(coach)
    command = {
        "command": "/coach",
        "text": SUPERVISOR,
        "channel_id": CHANNEL,
        "user_id": USER,
        "team_id": TEAM_ID,
        "response_url": slack.response_url("cmd"),
    }
    slash.handle_coach_command(ack, command, client, context(), deps=deps)
    assert ack.calls == [{}]  # an empty ack, while the coach has not answered yet
    assert slack.calls("response_url") == []
    coach.release.set()
    drain(deps)
    assert coach.threads and coach.threads[0].startswith("coach-work")
    [answer] = responses(slack, "cmd")
    assert answer.body["response_type"] == "ephemeral"
    assert answer.body["text"].startswith(SUPERVISOR_TITLE)
    assert render.ACTION_SHARE in json.dumps(answer.blocks())
    assert client.calls() == []  # only the rep sees it
    assert surfaces(deps) == ["slash"]


def test_a_replayed_slash_command_is_answered_once(
    deps: Deps, client: RecordingClient, slack: FakeSlack
) -> None:
    command = {"command": "/coach", "text": SUPERVISOR, "response_url": slack.response_url("cmd")}
    for _ in range(2):  # the same signed request twice (Slack's retry, another process...)
        slash.handle_coach_command(
            RecordingAck(), command, client, context(**{REPLAY_KEY: "replay-1"}), deps=deps
        )
    drain(deps)
    assert len(responses(slack, "cmd")) == 1


def test_another_command_name_gets_the_configured_commands_help(
    make_deps: Callable[..., Deps], ack: RecordingAck
) -> None:
    deps = make_deps(slash_command="/tips")
    assert slash.is_other_command({"command": "/coach"}, deps=deps) is True
    assert slash.is_other_command({"command": "/tips"}, deps=deps) is False
    slash.handle_other_command(ack, {"command": "/coach", "text": SUPERVISOR}, deps=deps)
    [acked] = ack.calls
    assert acked["response_type"] == "ephemeral" and "/tips customer" in json.dumps(acked)


# -- DM ----------------------------------------------------------------------------------------


def dm_event(text: str, ts: str = "1700000001.000100", **extra: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "channel": DM_CHANNEL,
        "channel_type": "im",
        "user": USER,
        "text": text,
        "ts": ts,
        **extra,
    }


def test_a_dm_is_answered_in_the_dm_with_eyes_while_working(
    deps: Deps, client: RecordingClient
) -> None:
    event = dm_event(SUPERVISOR)
    dm.handle_dm({"event_id": "EvDM1"}, event, client, context(), deps=deps)
    drain(deps)
    assert [c.method for c in client.calls()] == [
        "reactions_add",
        "chat_postMessage",
        "reactions_remove",
    ]
    [post] = client.calls("chat_postMessage")
    assert post.kwargs["channel"] == DM_CHANNEL and "thread_ts" not in post.kwargs
    assert post.kwargs["text"].startswith(SUPERVISOR_TITLE)
    assert post.thread.startswith("coach-work")
    assert client.calls("reactions_add")[0].kwargs == {
        "channel": DM_CHANNEL,
        "timestamp": event["ts"],
        "name": "eyes",
    }
    assert surfaces(deps) == ["dm"]


def test_a_dm_in_a_thread_is_answered_there_and_a_redelivery_is_not(
    deps: Deps, client: RecordingClient
) -> None:
    event = dm_event(SUPERVISOR, thread_ts="1700000000.000050")
    for _ in range(2):  # Slack re-delivers the same event_id
        dm.handle_dm({"event_id": "EvDM2"}, event, client, context(), deps=deps)
    drain(deps)
    [post] = client.calls("chat_postMessage")
    assert post.kwargs["thread_ts"] == "1700000000.000050"


# -- mention and thread follow-ups -----------------------------------------------------------


def mention_event(text: str, ts: str = "1700000002.000100", **extra: Any) -> dict[str, Any]:
    return {
        "type": "app_mention",
        "channel": CHANNEL,
        "user": USER,
        "text": f"<@{BOT_USER_ID}> {text}",
        "ts": ts,
        **extra,
    }


def test_a_mention_is_answered_in_a_thread_under_it(deps: Deps, client: RecordingClient) -> None:
    event = mention_event(SUPERVISOR)
    mention.handle_mention({"event_id": "EvM1"}, event, client, context(), deps=deps)
    drain(deps)
    [post] = client.calls("chat_postMessage")
    assert post.kwargs["channel"] == CHANNEL and post.kwargs["thread_ts"] == event["ts"]
    assert post.kwargs["text"].startswith(SUPERVISOR_TITLE)
    assert surfaces(deps) == ["mention"]


def test_a_mention_saying_hi_gets_the_help_and_a_bots_mention_nothing(
    deps: Deps, client: RecordingClient
) -> None:
    mention.handle_mention({"event_id": "EvM2"}, mention_event("hi"), client, context(), deps=deps)
    bots = mention_event(SUPERVISOR, bot_id="B0OTHER")
    mention.handle_mention({"event_id": "EvM3"}, bots, client, context(), deps=deps)
    drain(deps)
    [post] = client.calls("chat_postMessage")
    assert "/coach customer wants the supervisor" in text_of(post.kwargs)
    assert client.calls("reactions_add") == [] and surfaces(deps) == []


def thread_reply(text: str, thread_ts: str = "1700000003.000100") -> dict[str, Any]:
    return {
        "type": "message",
        "channel": CHANNEL,
        "channel_type": "channel",
        "user": USER,
        "text": text,
        "ts": "1700000003.000200",
        "thread_ts": thread_ts,
    }


def test_a_follow_up_in_a_thread_the_bot_answered_is_answered(
    deps: Deps, client: RecordingClient
) -> None:
    event = thread_reply(SUPERVISOR)
    deps.store.remember_thread(TEAM_ID, CHANNEL, event["thread_ts"])  # e.g. another process
    mention.handle_thread_reply({"event_id": "EvT1"}, event, client, context(), deps=deps)
    drain(deps)
    assert client.calls("conversations_replies") == []  # the database knows, not Slack
    [post] = client.calls("chat_postMessage")
    assert post.kwargs["thread_ts"] == event["thread_ts"]
    assert post.kwargs["text"].startswith(SUPERVISOR_TITLE)
    assert surfaces(deps) == ["thread"]


def test_a_follow_up_in_someone_elses_thread_is_left_alone(
    deps: Deps, client: RecordingClient
) -> None:
    deps.store.remember_thread("T0OTHER", CHANNEL, "1700000003.000100")  # another workspace's
    mention.handle_thread_reply(
        {"event_id": "EvT2"}, thread_reply(SUPERVISOR), client, context(), deps=deps
    )
    drain(deps)
    assert client.calls() == []  # not one Slack call for a thread that is not ours
    assert surfaces(deps) == []


def test_answering_in_a_channel_thread_makes_it_ours(deps: Deps, client: RecordingClient) -> None:
    event = mention_event(SUPERVISOR)
    mention.handle_mention({"event_id": "EvT3"}, event, client, context(), deps=deps)
    drain(deps)
    assert deps.store.answered_thread(TEAM_ID, CHANNEL, event["ts"])
    assert not deps.store.answered_thread(TEAM_ID, CHANNEL, "1700000009.000001")


def test_when_the_database_cannot_say_a_thread_message_is_left_alone(
    deps: Deps, client: RecordingClient, caplog: pytest.LogCaptureFixture
) -> None:
    class Away:
        def answered_thread(self, *args: Any) -> bool:
            raise ConnectionError("database away")

    deps.store = Away()  # type: ignore[assignment]
    mention.handle_thread_reply(
        {"event_id": "EvT4"}, thread_reply(SUPERVISOR), client, context(), deps=deps
    )
    drain(deps)
    assert client.calls() == []
    assert "thread ownership unknown" in caplog.text


@pytest.mark.parametrize("text", ["thanks!", "<@U0PEER002> can you take this one?"])
def test_thanks_or_talk_to_a_colleague_is_not_even_looked_at(
    deps: Deps, client: RecordingClient, text: str
) -> None:
    mention.handle_thread_reply(
        {"event_id": "EvT3"}, thread_reply(text), client, context(), deps=deps
    )
    drain(deps)
    assert client.calls() == []


# -- buttons -----------------------------------------------------------------------------------


def test_show_full_tip_replaces_the_private_card(
    deps: Deps, ack: RecordingAck, client: RecordingClient, slack: FakeSlack
) -> None:
    value = button_value(slash_card(deps), render.ACTION_FULL_TIP)
    body = action_body(slack, render.ACTION_FULL_TIP, value, name="full")
    actions.handle_show_tip(ack, body, client, context(), deps=deps)
    assert ack.calls == [{}]
    drain(deps)
    [call] = responses(slack, "full")
    assert call.body["replace_original"] is True and call.body["response_type"] == "ephemeral"
    assert "*From the tip*" in call.all_text() and SUPERVISOR_TITLE in call.all_text()
    assert client.calls() == []


def test_show_full_tip_on_a_channel_card_replies_in_its_thread(
    deps: Deps, ack: RecordingAck, client: RecordingClient, slack: FakeSlack
) -> None:
    value = ButtonValue(tip_id=SUPERVISOR_TIP).encode()
    body = action_body(slack, render.ACTION_FULL_TIP, value, ephemeral=False)
    actions.handle_show_tip(ack, body, client, context(), deps=deps)
    drain(deps)
    [post] = client.calls("chat_postMessage")
    assert post.kwargs["channel"] == CHANNEL and post.kwargs["thread_ts"] == CARD_TS
    assert "*From the tip*" in text_of(post.kwargs)


def test_a_tip_no_longer_in_the_library_is_a_note_that_keeps_the_card(
    deps: Deps, ack: RecordingAck, client: RecordingClient, slack: FakeSlack
) -> None:
    value = ButtonValue(tip_id="no-such-tip").encode()
    actions.handle_show_tip(
        ack, action_body(slack, render.ACTION_FULL_TIP, value), client, context(), deps=deps
    )
    drain(deps)
    [call] = responses(slack, "action")
    assert "no longer in the library" in call.all_text()
    assert call.body["replace_original"] is False


def test_next_best_tip_looks_the_situation_up_again_without_the_shown_tip(
    deps: Deps, ack: RecordingAck, client: RecordingClient, slack: FakeSlack
) -> None:
    value = button_value(slash_card(deps), render.ACTION_NEXT_TIP)
    assert ButtonValue.decode(value).exclude == (SUPERVISOR_TIP,)
    body = action_body(slack, render.ACTION_NEXT_TIP, value, name="next")
    actions.handle_next_tip(ack, body, client, context(), deps=deps)
    assert ack.calls == [{}]
    drain(deps)
    [call] = responses(slack, "next")
    assert call.body["replace_original"] is True
    assert not call.body["text"].startswith(SUPERVISOR_TITLE)
    assert surfaces(deps) == ["button", "slash"]


def test_next_best_reads_the_situation_from_this_workspaces_query_log_only(
    deps: Deps, ack: RecordingAck, client: RecordingClient, slack: FakeSlack
) -> None:
    """Buttons carry a query-log id, not words: a click from another workspace naming our
    row learns nothing (it is told to ask again)."""
    value = button_value(slash_card(deps), render.ACTION_NEXT_TIP)
    assert "supervisor" not in json.loads(value).get("query", "")
    body = action_body(slack, render.ACTION_NEXT_TIP, value, name="elsewhere")
    body["team"] = {"id": "T0OTHER"}
    body["user"] = {"id": USER, "team_id": "T0OTHER"}
    actions.handle_next_tip(ack, body, client, context(team_id="T0OTHER"), deps=deps)
    drain(deps)
    [call] = responses(slack, "elsewhere")
    assert "older answer" in call.body["text"] and SUPERVISOR_TITLE not in call.body["text"]


def test_a_version_2_next_best_button_with_the_words_still_works(
    deps: Deps, ack: RecordingAck, client: RecordingClient, slack: FakeSlack
) -> None:
    value = json.dumps({"version": 2, "query": SUPERVISOR, "exclude": ["nothing-yet"]})
    body = action_body(slack, render.ACTION_NEXT_TIP, value, name="old")
    actions.handle_next_tip(ack, body, client, context(), deps=deps)
    drain(deps)
    [call] = responses(slack, "old")
    assert call.body["text"].startswith(SUPERVISOR_TITLE)


def test_share_posts_the_card_in_the_channel_credited_to_the_rep(
    deps: Deps, ack: RecordingAck, client: RecordingClient, slack: FakeSlack
) -> None:
    value = button_value(slash_card(deps), render.ACTION_SHARE)
    actions.handle_share(
        ack, action_body(slack, render.ACTION_SHARE, value), client, context(), deps=deps
    )
    assert ack.calls == [{}]
    drain(deps)
    [post] = client.calls("chat_postMessage")
    assert post.kwargs["channel"] == CHANNEL
    text = text_of(post.kwargs)
    assert f"Shared by <@{USER}>" in text and SUPERVISOR_TITLE in text
    assert render.ACTION_SHARE not in json.dumps(post.kwargs["blocks"])


def test_share_where_the_bot_is_not_a_member_goes_through_the_response_url(
    deps: Deps, ack: RecordingAck, client: RecordingClient, slack: FakeSlack
) -> None:
    value = button_value(slash_card(deps), render.ACTION_SHARE)
    client.refuse("chat_postMessage", "not_in_channel")
    body = action_body(slack, render.ACTION_SHARE, value, name="share")
    actions.handle_share(ack, body, client, context(), deps=deps)
    drain(deps)
    [public] = responses(slack, "share")
    assert public.body["response_type"] == "in_channel"
    assert f"Shared by <@{USER}>" in public.all_text()


# -- feedback ----------------------------------------------------------------------------------


def test_thumbs_up_is_stored_and_shown_on_the_reps_private_card(
    deps: Deps, ack: RecordingAck, client: RecordingClient, slack: FakeSlack
) -> None:
    value = button_value(slash_card(deps), render.ACTION_FEEDBACK_UP)
    body = action_body(slack, render.ACTION_FEEDBACK_UP, value, name="up")
    feedback.handle_helpful(ack, body, client, context(), deps=deps)
    assert ack.calls == [{}]
    drain(deps)
    [card] = responses(slack, "up")  # the ephemeral card, rebuilt and replaced
    assert card.body["replace_original"] is True and card.body["response_type"] == "ephemeral"
    assert "You found this helpful" in card.all_text()
    up = button_value(Message("", card.blocks()), render.ACTION_FEEDBACK_UP)
    assert up == value
    styles = {
        e.get("action_id"): e.get("style") for b in card.blocks() for e in b.get("elements") or []
    }
    assert styles[render.ACTION_FEEDBACK_UP] == "primary"
    assert styles[render.ACTION_FEEDBACK_DOWN] is None
    [row] = feedback_rows(deps)
    decoded = ButtonValue.decode(value)
    assert row.helpful is True and row.tip_id == SUPERVISOR_TIP and row.user_id == USER
    assert tuple(row.chunk_ids) == decoded.chunk_ids and row.query_id == decoded.query_id


def test_thumbs_down_is_stored_then_opens_the_what_was_wrong_modal(
    deps: Deps, ack: RecordingAck, client: RecordingClient, slack: FakeSlack
) -> None:
    value = button_value(slash_card(deps), render.ACTION_FEEDBACK_DOWN)
    body = action_body(slack, render.ACTION_FEEDBACK_DOWN, value, name="down")
    feedback.handle_unhelpful(ack, body, client, context(), deps=deps)
    assert ack.calls == [{}]
    drain(deps)
    [row] = feedback_rows(deps)
    assert row.helpful is False and row.comment is None
    [opened] = client.calls("views_open")
    assert opened.kwargs["trigger_id"] == TRIGGER_ID
    view = opened.kwargs["view"]
    assert view["callback_id"] == render.FEEDBACK_MODAL_ID
    assert feedback.feedback_id_from(view) == row.id
    [card] = responses(slack, "down")  # and the card shows the vote
    assert card.body["replace_original"] is True and "not helpful" in card.all_text()


def test_thumbs_down_when_the_modal_cannot_open_still_thanks_the_rep(
    deps: Deps, ack: RecordingAck, client: RecordingClient, slack: FakeSlack
) -> None:
    value = button_value(slash_card(deps), render.ACTION_FEEDBACK_DOWN)
    client.refuse("views_open", "expired_trigger_id")
    # a card in a channel is everyone's: the vote is not shown on it, the rep is thanked
    body = action_body(slack, render.ACTION_FEEDBACK_DOWN, value, name="down", ephemeral=False)
    feedback.handle_unhelpful(ack, body, client, context(), deps=deps)
    drain(deps)
    [thanks] = responses(slack, "down")
    assert feedback.THANKS_DOWN in thanks.all_text()
    assert len(feedback_rows(deps)) == 1


def submitted(view: dict[str, Any], comment: str | None) -> dict[str, Any]:
    """The modal as Slack sends it back on submit, with the rep's comment."""
    values = {render.FEEDBACK_BLOCK_ID: {render.FEEDBACK_INPUT_ID: {"value": comment}}}
    return {**view, "id": "VFAKE1", "state": {"values": values}}


def test_the_modal_closes_at_once_and_its_comment_is_saved_redacted(
    deps: Deps, ack: RecordingAck
) -> None:
    feedback_id = deps.store.record_feedback(
        team_id=TEAM_ID,
        user_id=USER,
        query_id=None,
        tip_id=SUPERVISOR_TIP,
        chunk_ids=[],
        helpful=False,
    )
    view = submitted(
        render.feedback_modal(feedback_id), "Wrong tip: mail jane.doe@example.com <!channel>"
    )
    feedback.handle_feedback_comment(ack, view, deps=deps)
    assert ack.calls == [{}]  # an empty ack closes the modal
    drain(deps)
    [row] = feedback_rows(deps)
    assert row.comment and "Wrong tip" in row.comment
    assert "jane.doe@example.com" not in row.comment


def test_an_empty_modal_closes_and_keeps_the_thumbs_down_as_it_was(
    deps: Deps, ack: RecordingAck
) -> None:
    feedback_id = deps.store.record_feedback(
        team_id=TEAM_ID,
        user_id=USER,
        query_id=None,
        tip_id=SUPERVISOR_TIP,
        chunk_ids=[],
        helpful=False,
    )
    feedback.handle_feedback_comment(
        ack, submitted(render.feedback_modal(feedback_id), "   "), deps=deps
    )
    assert ack.calls == [{}]
    drain(deps)
    [row] = feedback_rows(deps)
    assert row.helpful is False and row.comment is None


# -- App Home ----------------------------------------------------------------------------------


def test_opening_the_home_tab_publishes_the_reps_home(deps: Deps, client: RecordingClient) -> None:
    event = {"type": "app_home_opened", "user": USER, "channel": DM_CHANNEL, "tab": "home"}
    home.handle_home_opened(event, client, context(), deps=deps)
    drain(deps)
    [published] = client.calls("views_publish")
    assert published.kwargs["user_id"] == USER
    assert published.kwargs["view"]["type"] == "home"
    assert render.HOME_TIP_HEADER in json.dumps(published.kwargs["view"])
    assert published.thread.startswith("coach-work")


def test_opening_the_messages_tab_publishes_nothing(deps: Deps, client: RecordingClient) -> None:
    event = {"type": "app_home_opened", "user": USER, "channel": DM_CHANNEL, "tab": "messages"}
    home.handle_home_opened(event, client, context(), deps=deps)
    drain(deps)
    assert client.calls() == []


# -- uninstall ---------------------------------------------------------------------------------

OTHER_TEAM = "T0OTHER"


def install(deps: Deps, team_id: str) -> None:
    deps.store.installation_store("CLIENT").save(
        Installation(
            app_id="A0COACH",
            enterprise_id=None,
            team_id=team_id,
            bot_token=f"xoxb-{team_id}",
            bot_id="B" + team_id,
            bot_user_id=BOT_USER_ID,
            bot_scopes=["chat:write"],
            user_id="U0INSTALL1",
        )
    )


def installed(deps: Deps, team_id: str) -> bool:
    found = deps.store.installation_store("CLIENT").find_bot(enterprise_id=None, team_id=team_id)
    return found is not None


@pytest.mark.parametrize(
    ("handler", "event"),
    [
        (uninstall.handle_app_uninstalled, None),
        (uninstall.handle_tokens_revoked, {"type": "tokens_revoked", "tokens": {"bot": ["UB"]}}),
    ],
    ids=["app_uninstalled", "bot_tokens_revoked"],
)
def test_uninstall_events_forget_only_that_workspaces_tokens(
    deps: Deps, handler: Any, event: dict[str, Any] | None
) -> None:
    install(deps, TEAM_ID)
    install(deps, OTHER_TEAM)
    if event is None:
        handler(context(), deps=deps)
    else:
        handler(event, context(), deps=deps)
    drain(deps)
    assert not installed(deps, TEAM_ID)
    assert installed(deps, OTHER_TEAM)


def test_revoking_only_user_tokens_keeps_the_bot(deps: Deps) -> None:
    install(deps, TEAM_ID)
    revoked = {"type": "tokens_revoked", "tokens": {"oauth": ["U0INSTALL1"]}}
    uninstall.handle_tokens_revoked(revoked, context(), deps=deps)
    drain(deps)
    assert installed(deps, TEAM_ID)


def test_answers_in_flight_to_a_removed_workspace_are_one_warning_not_ten_errors(
    deps: Deps, caplog: pytest.LogCaptureFixture
) -> None:
    """The app was removed with answers in flight: Slack refuses each with a dead-token
    error. Nothing is retried or redirected by DM, and the operator reads one line."""
    import logging

    from bot.delivery import ReplyTarget, deliver

    client = RecordingClient()
    where = ReplyTarget(channel=CHANNEL, user_id=USER, team_id="T0GONE001")
    with caplog.at_level(logging.INFO, logger="bot"):
        for _ in range(10):
            client.refuse("chat_postMessage", "account_inactive")
            assert deliver(deps, client, where, render.notice_message("hi")) is None
    assert len(client.calls("chat_postMessage")) == 10  # one try each, no DM fallback
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    warnings = [r for r in caplog.records if "no longer works" in r.getMessage()]
    assert errors == [] and len(warnings) == 1
