"""The AI side panel's callbacks called directly (``bot/listeners/assistant.py``): recording
``client`` fakes wrapped in bolt's own ``set_status``/``set_title``/``set_suggested_prompts``
utilities, a real ``Deps`` (hashing coach, temporary SQLite store, one-thread work pool).
The same surface over signed HTTP through Bolt: ``test_bot_assistant.py``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bot_fixtures import BOT_TOKEN, DM_CHANNEL, USER, shared_coach
from fake_slack import BOT_ID, BOT_USER_ID, TEAM_ID, FakeSlack
from listener_fakes import RecordingAck, RecordingClient, deps_builder, drain
from slack_bolt import BoltContext
from slack_bolt.context.set_status import SetStatus
from slack_bolt.context.set_suggested_prompts import SetSuggestedPrompts
from slack_bolt.context.set_title import SetTitle
from slack_bolt.util.utils import get_arg_names_of_callable

from bot import render
from bot.deps import Deps
from bot.listeners import actions, assistant, slash
from bot.listeners.common import UNEXPECTED, lookup, with_deps
from retrieval.models import Answer

SUPERVISOR = "customer wants to talk to the supervisor"  # answered by the hashing index
SUPERVISOR_TITLE = "When They Want the Supervisor"
THREAD_TS = "1700000500.000100"
OTHER_TEAM = "T0OTHER"


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    """Only for settings' API URL: every Web API call here goes to :class:`RecordingClient`."""
    with FakeSlack(token=BOT_TOKEN) as fake:
        yield fake


@pytest.fixture
def make_deps(tmp_path: Path, slack: FakeSlack) -> Iterator[Callable[..., Deps]]:
    with deps_builder(slack, tmp_path) as build:
        yield build


@pytest.fixture
def deps(make_deps: Callable[..., Deps]) -> Deps:
    return make_deps()


@pytest.fixture
def client() -> RecordingClient:
    return RecordingClient()


def context(team_id: str | None = TEAM_ID) -> BoltContext:
    return BoltContext(
        {"team_id": team_id, "user_id": USER, "bot_user_id": BOT_USER_ID, "bot_id": BOT_ID}
    )


def started_event() -> dict[str, Any]:
    return {
        "type": "assistant_thread_started",
        "assistant_thread": {
            "user_id": USER,
            "context": {"channel_id": "C0SUPPORT1", "team_id": TEAM_ID},
            "channel_id": DM_CHANNEL,
            "thread_ts": THREAD_TS,
        },
        "event_ts": "1700000500.000200",
    }


def user_message(text: str, ts: str = "1700000501.000100") -> dict[str, Any]:
    return {
        "type": "message",
        "channel": DM_CHANNEL,
        "channel_type": "im",
        "user": USER,
        "text": text,
        "ts": ts,
        "thread_ts": THREAD_TS,
    }


def start_thread(deps: Deps, client: RecordingClient, team_id: str | None = TEAM_ID) -> None:
    prompts = SetSuggestedPrompts(client, DM_CHANNEL, THREAD_TS)  # type: ignore[arg-type]
    assistant.handle_thread_started(
        {"event_id": "EvA1"}, started_event(), client, context(team_id), prompts, deps=deps
    )
    drain(deps)


def send(deps: Deps, client: RecordingClient, text: str, event_id: str = "EvA2") -> None:
    status = SetStatus(client, DM_CHANNEL, THREAD_TS)  # type: ignore[arg-type]
    title = SetTitle(client, DM_CHANNEL, THREAD_TS)  # type: ignore[arg-type]
    event = user_message(text)
    assistant.handle_user_message(
        {"event_id": event_id}, event, client, context(), status, title, deps=deps
    )
    drain(deps)


def prompts_set(client: RecordingClient) -> tuple[str, list[str]]:
    [call] = client.calls("assistant_threads_setSuggestedPrompts")
    assert call.kwargs["channel_id"] == DM_CHANNEL and call.kwargs["thread_ts"] == THREAD_TS
    return call.kwargs["title"], [p["message"] for p in call.kwargs["prompts"]]


def log(
    deps: Deps,
    text: str,
    *,
    team_id: str = TEAM_ID,
    user: str = USER,
    days_ago: float = 1,
    answered: bool = True,
    surface: str = "dm",
    asked: str = SUPERVISOR,
) -> None:
    """One lookup of ``text`` in the query log, answered as ``asked`` is, or declined."""
    answer: Answer = shared_coach().answer(asked if answered else "how do I reset my VPN")
    assert answer.answered is answered
    deps.store.log_query(
        team_id=team_id,
        user_id=user,
        surface=surface,
        text=text,
        answer=answer,
        latency_ms=1.0,
        now=datetime.now(UTC) - timedelta(days=days_ago),
    )


def situation(tip_id: str) -> str:
    """A tip's own first situation line: the hashing coach answers it with that tip."""
    [tip] = [t for t in shared_coach().tips() if t.id == tip_id]
    return tip.situations[0]


def surfaces(deps: Deps) -> list[str]:
    return [row.surface for row in deps.store.recent_queries(team_id=TEAM_ID, user_id=USER)]


# -- wiring ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "callback",
    [assistant.handle_thread_started, assistant.handle_user_message],
    ids=lambda f: f.__name__,
)
def test_bolt_injects_every_argument_but_the_bound_deps(callback: Any, deps: Deps) -> None:
    """Bolt's ``Assistant`` injects by argument name like every listener (``with_deps``)."""
    bound = with_deps(callback, deps)
    own = [
        p.name
        for p in inspect.signature(callback).parameters.values()
        if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]
    assert get_arg_names_of_callable(bound) == own
    assert "deps" not in own and own
    assert bound.__name__ == callback.__name__


def test_the_assistant_registers_a_listener_per_event(deps: Deps) -> None:
    built = assistant.build_assistant(deps)
    for listeners in (
        built._thread_started_listeners,
        built._user_message_listeners,
        built._thread_context_changed_listeners,
    ):
        assert listeners is not None and len(listeners) == 1


# -- thread started: greeting and suggested prompts ---------------------------------------------


def test_a_new_thread_gets_a_greeting_then_the_common_situations(
    deps: Deps, client: RecordingClient
) -> None:
    start_thread(deps, client)
    assert [c.method for c in client.calls()] == [
        "chat_postMessage",
        "assistant_threads_setSuggestedPrompts",
    ]
    [greeting] = client.calls("chat_postMessage")
    assert greeting.kwargs["channel"] == DM_CHANNEL and greeting.kwargs["thread_ts"] == THREAD_TS
    assert greeting.kwargs["text"] == render.assistant_greeting().text
    assert greeting.thread.startswith("coach-work")  # after the ack
    title, messages = prompts_set(client)
    assert title == assistant.COMMON_TITLE
    assert messages == list(assistant.COMMON_SITUATIONS)


WEEK_TIPS = (
    "when-they-want-the-supervisor",
    "dont-create-the-second-complaint",
    "look-for-a-stop-sign",
)


def test_prompts_are_situations_many_people_asked_in_the_tips_own_words(
    deps: Deps, client: RecordingClient
) -> None:
    """Rep A's questions never reach rep B: a tip is offered only when three different people
    were answered with it this week, and only as the tip's own situation line."""
    private = "Hi, this is Priya Raman, my refund for order 5521 is late"
    for n, tip_id in enumerate(WEEK_TIPS):
        for asker in range(3 + n):  # 3, 4 and 5 people
            log(deps, f"{private} ({asker})", user=f"U0REP{asker}", asked=situation(tip_id))
    for _ in range(9):  # one person asking often is still one person
        log(deps, private, user="U0ONE", asked=situation("highlight-the-hidden-value"))
    for asker in range(5):
        log(deps, private, user=f"U0X{asker}", team_id=OTHER_TEAM)  # another workspace
        log(deps, private, user=f"U0Y{asker}", days_ago=10)  # not this week
        log(deps, private, user=f"U0Z{asker}", surface="button")  # "Next best tip" re-asks
        log(deps, "how do I reset my VPN", user=f"U0V{asker}", answered=False)
    start_thread(deps, client)
    title, messages = prompts_set(client)
    assert title == assistant.WEEK_TITLE
    by_tip = {t.id: assistant.situation_line(t) for t in shared_coach().tips()}
    assert messages == [
        assistant.prompt_for(by_tip[tip_id]).message for tip_id in reversed(WEEK_TIPS)
    ]
    shown = " ".join(messages).lower()
    for private_word in ("priya", "raman", "5521", "vpn", "order"):
        assert private_word not in shown


def test_a_tip_fewer_than_three_people_asked_is_not_offered(
    deps: Deps, client: RecordingClient
) -> None:
    for tip_id in WEEK_TIPS[:2]:
        for asker in range(3):
            log(deps, "customer wants the manager", user=f"U0REP{asker}", asked=situation(tip_id))
    for asker in range(2):  # two people: not enough to share
        log(deps, "customer wants the manager", user=f"U0REP{asker}", asked=situation(WEEK_TIPS[2]))
    assert {
        a.tip_id
        for a in deps.store.asked_tips(
            team_id=TEAM_ID, since=datetime.now(UTC) - timedelta(days=7), min_askers=3
        )
    } == set(WEEK_TIPS[:2])
    start_thread(deps, client)
    title, messages = prompts_set(client)  # two tips are fewer than three prompts
    assert title == assistant.COMMON_TITLE and messages == list(assistant.COMMON_SITUATIONS)


def test_fewer_than_three_of_this_weeks_situations_fall_back_to_the_common_ones(
    deps: Deps, client: RecordingClient
) -> None:
    for _ in range(4):
        log(deps, "customer wants the manager right now")
    log(deps, "caller wants a refund for a late order")
    start_thread(deps, client)
    title, messages = prompts_set(client)
    assert title == assistant.COMMON_TITLE and messages == list(assistant.COMMON_SITUATIONS)


def test_without_a_workspace_the_query_log_is_not_read(
    deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[dict[str, Any]] = []
    monkeypatch.setattr(deps.store, "asked_tips", lambda **kw: read.append(kw) or [])
    title, prompts = assistant.suggested_prompts(deps, None)
    assert title == assistant.COMMON_TITLE and prompts == list(assistant.COMMON_PROMPTS)
    assert read == []
    assistant.suggested_prompts(deps, TEAM_ID)
    [asked] = read
    assert asked["team_id"] == TEAM_ID


def test_a_database_problem_only_costs_the_weeks_list(
    deps: Deps, client: RecordingClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**_: Any) -> list[Any]:
        raise RuntimeError("database is away")

    monkeypatch.setattr(deps.store, "asked_tips", broken)
    start_thread(deps, client)
    assert client.calls("chat_postMessage")  # the greeting still came
    title, messages = prompts_set(client)
    assert title == assistant.COMMON_TITLE and messages == list(assistant.COMMON_SITUATIONS)


def test_refused_prompts_leave_the_greeting(deps: Deps, client: RecordingClient) -> None:
    client.refuse("assistant_threads_setSuggestedPrompts", "invalid_thread_ts")
    start_thread(deps, client)
    [greeting] = client.calls("chat_postMessage")
    assert greeting.kwargs["text"] == render.assistant_greeting().text


def test_prompt_texts_cannot_carry_markup_and_are_clipped() -> None:
    prompt = assistant.prompt_for("customer typed <!channel> and <@U123> " + "very long " * 40)
    assert "<" not in prompt.title + prompt.message and ">" not in prompt.message
    assert len(prompt.title) <= assistant.MAX_PROMPT_TITLE
    assert len(prompt.message) <= assistant.MAX_PROMPT_MESSAGE


# -- a message in the thread ------------------------------------------------------------------


def test_a_message_shows_a_status_then_the_card_in_the_thread_then_a_title(
    deps: Deps, client: RecordingClient
) -> None:
    send(deps, client, f"{SUPERVISOR} (mail her at jane.doe@example.com)")
    assert [c.method for c in client.calls()] == [
        "assistant_threads_setStatus",
        "chat_postMessage",
        "assistant_threads_setTitle",
    ]
    [status] = client.calls("assistant_threads_setStatus")
    assert status.kwargs["status"] == assistant.STATUS == "is looking for the right tip…"
    assert status.kwargs["thread_ts"] == THREAD_TS and status.thread.startswith("coach-work")
    [post] = client.calls("chat_postMessage")
    assert post.kwargs["channel"] == DM_CHANNEL and post.kwargs["thread_ts"] == THREAD_TS
    [title] = client.calls("assistant_threads_setTitle")
    assert title.kwargs["thread_ts"] == THREAD_TS
    assert title.kwargs["title"].startswith("customer wants to talk to the supervisor")
    assert "jane.doe" not in title.kwargs["title"]
    assert len(title.kwargs["title"]) <= assistant.MAX_THREAD_TITLE
    assert surfaces(deps) == ["assistant"]


def test_the_card_is_the_one_a_dm_gets(deps: Deps, client: RecordingClient) -> None:
    send(deps, client, SUPERVISOR)
    [post] = client.calls("chat_postMessage")
    assert post.kwargs["text"].startswith(SUPERVISOR_TITLE)
    actions = [
        e["action_id"]
        for b in post.kwargs["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    ]
    assert render.ACTION_FULL_TIP in actions and render.ACTION_NEXT_TIP in actions
    assert render.ACTION_SHARE not in actions  # private conversation, like a DM


def test_a_workspace_without_the_side_panel_gets_the_dm_answer(
    deps: Deps, client: RecordingClient
) -> None:
    client.refuse("assistant_threads_setStatus", "invalid_thread_ts")
    send(deps, client, SUPERVISOR)
    assert [c.method for c in client.calls()] == [
        "assistant_threads_setStatus",
        "reactions_add",
        "chat_postMessage",
        "reactions_remove",
    ]
    [post] = client.calls("chat_postMessage")
    assert post.kwargs["thread_ts"] == THREAD_TS
    assert post.kwargs["text"].startswith(SUPERVISOR_TITLE)
    assert surfaces(deps) == ["dm"]


def test_hi_gets_the_help_and_keeps_the_thread_title(deps: Deps, client: RecordingClient) -> None:
    send(deps, client, "hi")
    [post] = client.calls("chat_postMessage")
    assert "/coach customer wants the supervisor" in str(post.kwargs["blocks"])
    assert client.calls("assistant_threads_setTitle") == [] and surfaces(deps) == []


def test_a_redelivered_message_is_answered_once(deps: Deps, client: RecordingClient) -> None:
    send(deps, client, SUPERVISOR, event_id="EvSame")
    send(deps, client, SUPERVISOR, event_id="EvSame")
    assert len(client.calls("chat_postMessage")) == 1


class BrokenCoach:
    """A coach that fails every lookup the way a bug would."""

    min_confidence = 0.5

    def answer(self, text: str, **kwargs: Any) -> Any:
        raise RuntimeError("index corrupted")

    def tip_card(self, tip_id: str) -> Any:
        raise RuntimeError("index corrupted")

    def tips(self) -> list[Any]:
        return []


def test_a_failing_lookup_ends_in_a_friendly_reply_in_the_thread(
    make_deps: Callable[..., Deps], client: RecordingClient
) -> None:
    deps = make_deps(BrokenCoach())
    send(deps, client, SUPERVISOR)
    [post] = client.calls("chat_postMessage")
    assert post.kwargs["thread_ts"] == THREAD_TS
    assert UNEXPECTED in str(post.kwargs["blocks"])
    assert client.calls("assistant_threads_setTitle") == []


def test_a_crash_after_the_ack_still_tells_the_rep(
    deps: Deps, client: RecordingClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_: Any, **__: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(assistant, "answer_event", crash)
    send(deps, client, SUPERVISOR)
    [post] = client.calls("chat_postMessage")
    assert post.kwargs["thread_ts"] == THREAD_TS and UNEXPECTED in str(post.kwargs["blocks"])


def test_bot_messages_in_the_thread_are_left_alone(deps: Deps, client: RecordingClient) -> None:
    event = {**user_message(SUPERVISOR), "bot_profile": {"id": "B0OTHER"}}
    status = SetStatus(client, DM_CHANNEL, THREAD_TS)  # type: ignore[arg-type]
    title = SetTitle(client, DM_CHANNEL, THREAD_TS)  # type: ignore[arg-type]
    assistant.handle_user_message({}, event, client, context(), status, title, deps=deps)
    drain(deps)
    assert client.calls() == []


# -- /coach quotes the question; sharing drops "Next best tip" ----------------------------------


def test_the_slash_answer_starts_with_the_question_redacted(
    deps: Deps, client: RecordingClient, slack: FakeSlack
) -> None:
    slack.reset()
    command = {
        "command": "/coach",
        "text": f"{SUPERVISOR} <!here> jane.doe@example.com",
        "channel_id": "C0SUPPORT1",
        "user_id": USER,
        "team_id": TEAM_ID,
        "response_url": slack.response_url("echo"),
    }
    ack = RecordingAck()
    slash.handle_coach_command(ack, command, client, context(), deps=deps)
    assert ack.calls == [{}]
    drain(deps)
    [answer] = slack.calls("response_url")
    first = answer.blocks()[0]  # "You asked" above a card; a decline opens with the quote itself
    opening = first["elements"][0]["text"] if first["type"] == "context" else first["text"]["text"]
    assert f"“{SUPERVISOR} [email]”" in opening
    assert "jane.doe" not in answer.all_text()
    assert client.calls() == []  # private: only the response_url


def test_a_slash_card_is_under_the_question(
    deps: Deps, client: RecordingClient, slack: FakeSlack
) -> None:
    slack.reset()
    command = {"command": "/coach", "text": SUPERVISOR, "response_url": slack.response_url("c")}
    slash.handle_coach_command(RecordingAck(), command, client, context(), deps=deps)
    drain(deps)
    [answer] = slack.calls("response_url")
    assert (
        answer.blocks()[0]["elements"][0]["text"] == f":speech_balloon: You asked: “{SUPERVISOR}”"
    )
    assert answer.blocks()[1]["text"]["text"] == SUPERVISOR_TITLE


def test_sharing_a_card_posts_it_without_next_best_tip(
    deps: Deps, client: RecordingClient, slack: FakeSlack
) -> None:
    slack.reset()
    card = lookup(
        deps, text=SUPERVISOR, surface="slash", team_id=TEAM_ID, user_id=USER, shareable=True
    ).message
    [share] = [
        e
        for b in card.blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == render.ACTION_SHARE
    ]
    body = {
        "type": "block_actions",
        "user": {"id": USER},
        "team": {"id": TEAM_ID},
        "channel": {"id": "C0SUPPORT1"},
        "container": {"type": "message", "channel_id": "C0SUPPORT1", "is_ephemeral": True},
        "response_url": slack.response_url("share"),
        "actions": [{"action_id": render.ACTION_SHARE, "value": share["value"]}],
    }
    actions.handle_share(RecordingAck(), body, client, context(), deps=deps)
    drain(deps)
    [post] = client.calls("chat_postMessage")
    ids = [
        e["action_id"]
        for b in post.kwargs["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    ]
    assert render.ACTION_NEXT_TIP not in ids and render.ACTION_SHARE not in ids
    assert render.ACTION_FULL_TIP in ids
    assert SUPERVISOR not in str(post.kwargs)  # the rep's words stay private


def test_a_thread_title_keeps_no_personal_data_and_no_invisible_characters() -> None:
    """A thread's title is shown in the rep's history: redacted (names without a cue word
    too) and without right-to-left overrides or zero-width characters that make it read
    differently from what it holds."""
    title = assistant.thread_title(
        "\u202eDerek Olsen\u200b wants a refund to GB82WEST12345698765432\u2066 today"
    )
    assert title == "[name] wants a refund to [number] today"
    assert all(ord(ch) < 0x2000 for ch in title)
