"""Feedback that teaches (issue 11): one vote per person per answer, reasons after a 👎,
"Ask a lead" and the relayed reply, learned situations per workspace (store, cache,
retrieval, App Home, command line). Callbacks are called directly with the recording
fakes; the same flows over signed HTTP are in ``test_teach_surfaces.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bot_fixtures import BOT_TOKEN, CHANNEL, DM_CHANNEL, USER, shared_coach
from fake_slack import BOT_ID, BOT_USER_ID, TEAM_ID, Call, FakeSlack
from listener_fakes import RecordingAck, RecordingClient, deps_builder, drain
from slack_bolt import BoltContext

from bot import render
from bot.deps import Deps
from bot.learned import LearnedCache
from bot.listeners import feedback, home, teach
from bot.listeners.common import lookup
from bot.render import Message
from bot.render.teach import (
    ACTION_ATTACH_TIP,
    ACTION_REMOVE_LEARNED,
    ATTACH_MODAL_ID,
    ATTACH_TEXT_BLOCK_ID,
    ATTACH_TEXT_INPUT_ID,
    ATTACH_TIP_BLOCK_ID,
    ATTACH_TIP_INPUT_ID,
    VOTE_BLOCK_ID,
    with_vote,
)
from bot.storage import Store
from retrieval.search import ExtraSituations

DECLINED = "customer is upset about the refund"  # declined by the hashing index
EMPATHY_TIP = "empathy-examples-for-everyday-situations"
SUPERVISOR = "customer wants to talk to the supervisor"
SUPERVISOR_TIP = "when-they-want-the-supervisor"
OTHER_TEAM = "T0OTHER"
LEADS = "C0LEADS01"
ADMIN = "U0LEAD0001"
LEAD = "U0LEAD0002"  # in COACH_LEADS, not an admin
BYSTANDER = "U0PEER0009"  # neither: a member who happens to see the message
TRIGGER_ID = "13345224609.738474920.8088930838d88f008e0"


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(token=BOT_TOKEN) as fake:
        yield fake


@pytest.fixture
def make_deps(tmp_path: Path, slack: FakeSlack) -> Iterator[Callable[..., Deps]]:
    """``Deps`` with a one-thread work pool (so :func:`drain` waits for the work)."""
    with deps_builder(slack, tmp_path, admins=ADMIN, leads=LEAD) as build:
        yield build


@pytest.fixture
def deps(make_deps: Callable[..., Deps]) -> Deps:
    return make_deps(leads_channel=LEADS)


@pytest.fixture
def client() -> RecordingClient:
    return RecordingClient()


def context(team_id: str = TEAM_ID, user_id: str = USER) -> BoltContext:
    return BoltContext(
        {"team_id": team_id, "user_id": user_id, "bot_user_id": BOT_USER_ID, "bot_id": BOT_ID}
    )


def responses(slack: FakeSlack, name: str) -> list[Call]:
    return [c for c in slack.calls("response_url") if c.path.endswith(f"/{name}")]


def button(blocks: list[dict[str, Any]], action_id: str) -> dict[str, Any] | None:
    for block in blocks:
        for element in [*(block.get("elements") or []), block.get("accessory") or {}]:
            if element.get("action_id") == action_id:
                return element
    return None


def ask(deps: Deps, text: str, team_id: str = TEAM_ID, user: str = USER) -> Any:
    """A private lookup, as ``/coach`` makes it."""
    return lookup(deps, text=text, surface="slash", team_id=team_id, user_id=user, shareable=True)


def click(
    slack: FakeSlack,
    action_id: str,
    value: str,
    *,
    name: str = "click",
    user: str = USER,
    team_id: str = TEAM_ID,
    ephemeral: bool = True,
    channel: str = CHANNEL,
    blocks: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "team_id": team_id},
        "team": {"id": team_id},
        "channel": {"id": channel},
        "container": {
            "type": "message",
            "message_ts": "1700000000.000100",
            "channel_id": channel,
            "is_ephemeral": ephemeral,
        },
        "trigger_id": TRIGGER_ID,
        "response_url": slack.response_url(name),
        "actions": [{"action_id": action_id, "type": "button", "value": value}],
    }
    if not ephemeral:
        body["message"] = {"ts": "1700000000.000100", "text": "card", "blocks": blocks or []}
    return body


def votes(deps: Deps) -> list[Any]:
    now = datetime.now(UTC)
    return deps.store.feedback_between(now - timedelta(hours=1), now + timedelta(hours=1))  # type: ignore[union-attr]


# -- storage ---------------------------------------------------------------------------------


def test_a_second_click_replaces_the_vote_and_a_reason_belongs_to_a_thumbs_down(
    store: Store,
) -> None:
    qid = store.log_query(
        team_id=TEAM_ID, user_id=USER, surface="dm", text="x", answer=None, latency_ms=1
    )
    common = {"team_id": TEAM_ID, "query_id": qid, "tip_id": "t", "chunk_ids": ["t#step-1"]}
    first = store.record_feedback(user_id=USER, helpful=False, **common)
    store.set_feedback_reason(first, "too_long")
    again = store.record_feedback(user_id=USER, helpful=True, **common)
    other = store.record_feedback(user_id="U0PEER002", helpful=False, **common)
    assert again == first and other != first
    mine = store.feedback_by_id(first)
    assert mine is not None and mine.helpful is True and mine.reason is None
    with pytest.raises(ValueError):
        store.set_feedback_reason(first, "because")


def test_learned_situations_are_redacted_per_workspace_and_removable(store: Store) -> None:
    first = store.add_learned_situation(
        team_id=TEAM_ID, tip_id="t", text="mail jane.doe@example.com  now", source="lead"
    )
    same = store.add_learned_situation(
        team_id=TEAM_ID, tip_id="t", text="mail jane.doe@example.com now", source="home"
    )
    store.add_learned_situation(team_id=OTHER_TEAM, tip_id="u", text="other", source="cli")
    assert same == first
    [row] = store.learned_situations(TEAM_ID)
    assert "jane.doe@example.com" not in row.text and row.source == "lead"
    assert len(store.learned_situations()) == 2
    assert store.remove_learned_situation(first, team_id=OTHER_TEAM) is False
    assert store.remove_learned_situation(first, team_id=TEAM_ID) is True
    assert store.learned_situations(TEAM_ID) == []


def test_a_lead_request_is_found_by_its_thread(store: Store) -> None:
    request_id = store.add_lead_request(
        team_id=TEAM_ID, channel=LEADS, user_id=USER, text="call me at +1 415 555 0100"
    )
    assert store.lead_request_for_thread(LEADS, "1.2") is None
    store.set_lead_request_ts(request_id, "1.2")
    found = store.lead_request_for_thread(LEADS, "1.2")
    assert found is not None and found.user_id == USER and "555 0100" not in found.text


# -- retrieval and the per-workspace cache -------------------------------------------------------


def test_an_extra_situation_answers_a_declined_question_with_its_tip() -> None:
    coach = shared_coach()
    assert coach.answer(DECLINED).answered is False
    extra = coach.situations([(DECLINED, EMPATHY_TIP), ("   ", EMPATHY_TIP)])
    assert extra.tip_ids == (EMPATHY_TIP,)  # the blank one is left out
    answer = coach.answer(DECLINED, situations=extra)
    assert answer.answered and answer.top is not None and answer.top.id == EMPATHY_TIP
    unknown = ExtraSituations(("no-such-tip",), extra.vectors)
    assert coach.answer(DECLINED, situations=unknown).answered is False


class CountingStore:
    def __init__(self, store: Store) -> None:
        self.store, self.reads, self.fail = store, 0, False

    def learned_situations(self, team_id: str | None = None) -> list[Any]:
        self.reads += 1
        if self.fail:
            raise RuntimeError("database away")
        return self.store.learned_situations(team_id)


class CountingCoach:
    def __init__(self) -> None:
        self.inner, self.encoded = shared_coach(), 0

    def situations(self, pairs: list[tuple[str, str]]) -> ExtraSituations:
        self.encoded += len(pairs)
        return self.inner.situations(pairs)


def test_the_cache_reads_a_workspace_at_most_once_a_minute_and_encodes_each_text_once(
    store: Store,
) -> None:
    now = [1000.0]
    cache = LearnedCache(clock=lambda: now[0])
    counting, coach = CountingStore(store), CountingCoach()
    assert cache.for_team(counting, coach, TEAM_ID) is None
    store.add_learned_situation(team_id=TEAM_ID, tip_id=EMPATHY_TIP, text=DECLINED, source="cli")
    now[0] += 30
    assert cache.for_team(counting, coach, TEAM_ID) is None and counting.reads == 1
    now[0] += 31
    first = cache.for_team(counting, coach, TEAM_ID)
    assert first is not None and first.tip_ids == (EMPATHY_TIP,) and counting.reads == 2
    store.add_learned_situation(team_id=TEAM_ID, tip_id=SUPERVISOR_TIP, text="x y", source="cli")
    cache.invalidate(TEAM_ID)  # this process taught it: no minute to wait
    both = cache.for_team(counting, coach, TEAM_ID)
    assert both is not None and len(both) == 2 and coach.encoded == 2  # not 3
    counting.fail = True
    now[0] += 61
    assert cache.for_team(counting, coach, TEAM_ID) is both  # kept while the store is away
    assert cache.for_team(counting, coach, OTHER_TEAM) is None


# -- the card shows the vote ---------------------------------------------------------------------


def test_with_vote_marks_the_clicked_thumb_and_can_be_applied_again() -> None:
    card = ask_card()
    down = with_vote(card.blocks, helpful=False, ask_lead='{"query_id":1}')
    assert button(down, render.ACTION_FEEDBACK_DOWN)["style"] == "primary"  # type: ignore[index]
    assert button(down, render.ACTION_ASK_LEAD) is not None
    up = with_vote(down, helpful=True)
    assert [b.get("block_id") for b in up].count(VOTE_BLOCK_ID) == 1
    assert button(up, render.ACTION_ASK_LEAD) is None
    assert "style" not in button(up, render.ACTION_FEEDBACK_DOWN)  # type: ignore[operator]
    assert button(up, render.ACTION_FEEDBACK_UP)["style"] == "primary"  # type: ignore[index]
    assert len(up) == len(card.blocks) + 1


def ask_card() -> Message:
    answer = shared_coach().answer(SUPERVISOR)
    return render.answer_message(answer, query_id=7, shareable=True)


# -- votes through the listeners -------------------------------------------------------------------


def test_changing_a_vote_keeps_one_row_and_the_card_follows(
    deps: Deps, client: RecordingClient, slack: FakeSlack
) -> None:
    card = ask(deps, SUPERVISOR).message
    up = button(card.blocks, render.ACTION_FEEDBACK_UP)["value"]  # type: ignore[index]
    feedback.handle_unhelpful(
        RecordingAck(),
        click(slack, render.ACTION_FEEDBACK_DOWN, up, name="down"),
        client,
        context(),
        deps=deps,
    )
    drain(deps)
    [shown_down] = responses(slack, "down")
    assert button(shown_down.blocks(), render.ACTION_ASK_LEAD) is not None  # leads are set up
    feedback.handle_helpful(
        RecordingAck(),
        click(slack, render.ACTION_FEEDBACK_UP, up, name="up"),
        client,
        context(),
        deps=deps,
    )
    drain(deps)
    [row] = votes(deps)
    assert row.helpful is True
    [shown_up] = responses(slack, "up")
    assert "You found this helpful" in shown_up.all_text()
    assert button(shown_up.blocks(), render.ACTION_ASK_LEAD) is None


def test_a_dm_card_is_updated_from_the_blocks_slack_sends_back(
    deps: Deps, client: RecordingClient, slack: FakeSlack
) -> None:
    card = ask(deps, SUPERVISOR).message
    value = button(card.blocks, render.ACTION_FEEDBACK_UP)["value"]  # type: ignore[index]
    body = click(
        slack,
        render.ACTION_FEEDBACK_UP,
        value,
        name="dm",
        ephemeral=False,
        channel=DM_CHANNEL,
        blocks=card.blocks,
    )
    feedback.handle_helpful(RecordingAck(), body, client, context(), deps=deps)
    drain(deps)
    [shown] = responses(slack, "dm")
    assert shown.body["replace_original"] is True
    assert [b for b in shown.blocks() if b.get("block_id") != VOTE_BLOCK_ID] != card.blocks
    assert len(shown.blocks()) == len(card.blocks) + 1


def test_a_reason_is_kept_on_click_and_with_the_comment_on_submit(
    deps: Deps, client: RecordingClient, slack: FakeSlack
) -> None:
    card = ask(deps, SUPERVISOR).message
    value = button(card.blocks, render.ACTION_FEEDBACK_DOWN)["value"]  # type: ignore[index]
    feedback.handle_unhelpful(
        RecordingAck(),
        click(slack, render.ACTION_FEEDBACK_DOWN, value),
        client,
        context(),
        deps=deps,
    )
    drain(deps)
    [opened] = client.calls("views_open")
    view = opened.kwargs["view"]
    radio = next(b for b in view["blocks"] if b.get("block_id") == render.FEEDBACK_REASON_BLOCK_ID)
    assert [o["value"] for o in radio["elements"][0]["options"]] == list(
        render.FEEDBACK_REASON_LABELS
    )
    picked = {"value": "outdated"}
    feedback.handle_feedback_reason(
        RecordingAck(),
        {"view": view, "actions": [{"selected_option": picked}]},
        deps=deps,
    )
    drain(deps)
    assert votes(deps)[0].reason == "outdated"
    state = {
        render.FEEDBACK_REASON_BLOCK_ID: {
            render.ACTION_FEEDBACK_REASON: {"selected_option": {"value": "wrong_tip"}}
        },
        render.FEEDBACK_BLOCK_ID: {render.FEEDBACK_INPUT_ID: {"value": "needs a refund tip"}},
    }
    feedback.handle_feedback_comment(
        RecordingAck(), {**view, "state": {"values": state}}, deps=deps
    )
    drain(deps)
    [row] = votes(deps)
    assert row.reason == "wrong_tip" and row.comment == "needs a refund tip"


def test_a_leads_thumbs_up_teaches_that_answer_to_the_workspace(
    deps: Deps, client: RecordingClient, slack: FakeSlack
) -> None:
    result = ask(deps, SUPERVISOR, user=ADMIN)
    value = button(result.message.blocks, render.ACTION_FEEDBACK_UP)["value"]  # type: ignore[index]
    body = click(slack, render.ACTION_FEEDBACK_UP, value, name="lead", user=ADMIN)
    feedback.handle_helpful(RecordingAck(), body, client, context(user_id=ADMIN), deps=deps)
    drain(deps)
    [row] = deps.store.learned_situations(TEAM_ID)  # type: ignore[union-attr]
    assert row.tip_id == SUPERVISOR_TIP and row.source == "confirmed" and row.created_by == ADMIN
    assert "Saved for your workspace" in responses(slack, "lead")[0].all_text()
    rep = click(slack, render.ACTION_FEEDBACK_UP, value, name="rep")
    feedback.handle_helpful(RecordingAck(), rep, client, context(), deps=deps)
    drain(deps)
    assert len(deps.store.learned_situations(TEAM_ID)) == 1  # type: ignore[union-attr]


# -- Ask a lead ---------------------------------------------------------------------------------


def test_the_decline_card_offers_ask_a_lead_only_with_a_leads_channel(
    make_deps: Callable[..., Deps],
) -> None:
    with_leads = ask(make_deps(leads_channel=LEADS), DECLINED).message
    assert button(with_leads.blocks, render.ACTION_ASK_LEAD) is not None
    without = ask(make_deps(), DECLINED).message
    assert button(without.blocks, render.ACTION_ASK_LEAD) is None
    other_team_only = make_deps(leads_channel=f"{OTHER_TEAM}:{LEADS}")
    assert button(ask(other_team_only, DECLINED).message.blocks, render.ACTION_ASK_LEAD) is None


def asked_lead(deps: Deps, client: RecordingClient, slack: FakeSlack, text: str) -> Any:
    """A rep asks, is declined, presses "Ask a lead": the leads channel's post."""
    result = ask(deps, text)
    shown = button(result.message.blocks, render.ACTION_ASK_LEAD)
    value = shown["value"] if shown else render.ask_lead_value(result.query_id)  # or after a 👎
    body = click(slack, render.ACTION_ASK_LEAD, value, name="ask")
    teach.handle_ask_lead(RecordingAck(), body, client, context(), deps=deps)
    drain(deps)
    [post] = client.calls("chat_postMessage")
    return post, body


def test_ask_a_lead_posts_the_redacted_question_and_remembers_the_thread(
    deps: Deps, client: RecordingClient, slack: FakeSlack
) -> None:
    post, body = asked_lead(deps, client, slack, f"{DECLINED}, mail jane.doe@example.com <!here>")
    assert post.kwargs["channel"] == LEADS
    text = json.dumps(post.kwargs["blocks"])
    assert "jane.doe@example.com" not in text and "<!here>" not in text and f"<@{USER}>" in text
    assert button(post.kwargs["blocks"], ACTION_ATTACH_TIP) is not None
    [sent] = responses(slack, "ask")
    assert "Sent to your leads" in sent.all_text() and sent.body["replace_original"] is False
    teach.handle_ask_lead(RecordingAck(), body, client, context(), deps=deps)  # again
    drain(deps)
    assert len(client.calls("chat_postMessage")) == 1
    assert teach.ALREADY_ASKED in responses(slack, "ask")[-1].all_text()


def test_a_leads_threaded_reply_is_relayed_to_the_rep_from_the_database(
    deps: Deps, client: RecordingClient, slack: FakeSlack
) -> None:
    asked_lead(deps, client, slack, DECLINED)
    [post] = client.calls("chat_postMessage")
    thread_ts = "1700000100.000001"  # the RecordingClient's first ts
    reply = {
        "type": "message",
        "channel": LEADS,
        "channel_type": "channel",
        "user": ADMIN,
        "text": "Offer a goodwill credit <!channel>",
        "ts": "1700000200.000001",
        "thread_ts": thread_ts,
    }
    assert teach.in_leads_thread(deps)(reply)
    teach.handle_lead_reply(
        {"event_id": "EvLEAD1", "event": reply}, reply, client, context(), deps=deps
    )
    drain(deps)
    dm = client.calls("chat_postMessage")[-1]
    assert dm.kwargs["channel"] == USER
    assert "goodwill credit" in dm.kwargs["text"] and "<!channel>" not in json.dumps(dm.kwargs)
    assert client.calls("conversations_replies") == []  # known from the database
    assert client.calls("reactions_add")[0].kwargs["name"] == "white_check_mark"
    assert post.kwargs["channel"] == LEADS


def test_a_thread_in_the_leads_channel_that_is_not_a_request_goes_to_mention(
    deps: Deps, client: RecordingClient
) -> None:
    reply = {
        "type": "message",
        "channel": LEADS,
        "channel_type": "channel",
        "user": ADMIN,
        "text": "customer wants the supervisor",
        "ts": "1700000300.000002",
        "thread_ts": "1700000300.000001",
    }
    teach.handle_lead_reply(
        {"event_id": "EvLEAD2", "event": reply}, reply, client, context(), deps=deps
    )
    drain(deps)
    drain(deps)  # mention's own check runs after
    assert client.calls("chat_postMessage") == []  # not a request, not a thread we answered
    # a thread the bot answered in (the database says so) gets mention's follow-up answer
    deps.store.remember_thread(TEAM_ID, LEADS, reply["thread_ts"])
    again = {**reply, "ts": "1700000300.000003"}
    teach.handle_lead_reply(
        {"event_id": "EvLEAD3", "event": again}, again, client, context(), deps=deps
    )
    drain(deps)
    drain(deps)
    [post] = client.calls("chat_postMessage")
    assert post.kwargs["thread_ts"] == reply["thread_ts"]
    assert client.calls("conversations_replies") == []


# -- Attach a tip -------------------------------------------------------------------------------


def submitted(view: dict[str, Any], text: str, tip_id: str | None) -> dict[str, Any]:
    values: dict[str, Any] = {
        ATTACH_TEXT_BLOCK_ID: {ATTACH_TEXT_INPUT_ID: {"value": text}},
        ATTACH_TIP_BLOCK_ID: {
            ATTACH_TIP_INPUT_ID: {"selected_option": {"value": tip_id} if tip_id else None}
        },
    }
    return {**view, "id": "VATTACH", "state": {"values": values}}


def test_attaching_a_tip_teaches_that_workspace_only(
    deps: Deps, client: RecordingClient, slack: FakeSlack
) -> None:
    post, _ = asked_lead(deps, client, slack, DECLINED)
    attach = button(post.kwargs["blocks"], ACTION_ATTACH_TIP)
    body = click(slack, ACTION_ATTACH_TIP, attach["value"], user=ADMIN, channel=LEADS)  # type: ignore[index]
    teach.handle_attach_tip(RecordingAck(), body, client, context(user_id=ADMIN), deps=deps)
    drain(deps)
    [opened] = client.calls("views_open")
    view = opened.kwargs["view"]
    assert view["callback_id"] == ATTACH_MODAL_ID
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert blocks[ATTACH_TEXT_BLOCK_ID]["element"]["initial_value"] == DECLINED
    options = blocks[ATTACH_TIP_BLOCK_ID]["element"]["options"]
    assert EMPATHY_TIP in {o["value"] for o in options} and len(options) <= 100

    refused = RecordingAck()
    submit = {"team": {"id": TEAM_ID}, "user": {"id": ADMIN}}
    teach.handle_attach_submit(refused, submit, submitted(view, DECLINED, None), client, deps=deps)
    assert refused.calls[0]["response_action"] == "errors"
    closed = RecordingAck()
    teach.handle_attach_submit(
        closed, submit, submitted(view, DECLINED, EMPATHY_TIP), client, deps=deps
    )
    assert closed.calls == [{}]
    drain(deps)
    [row] = deps.store.learned_situations(TEAM_ID)  # type: ignore[union-attr]
    assert row.tip_id == EMPATHY_TIP and row.source == "lead" and row.created_by == ADMIN
    [updated] = client.calls("chat_update")
    assert updated.kwargs["channel"] == LEADS and "attached" in json.dumps(updated.kwargs["blocks"])
    assert client.calls("chat_postMessage")[-1].kwargs["channel"] == USER  # the rep is told

    mine = ask(deps, DECLINED).answer
    assert mine.answered and mine.top.id == EMPATHY_TIP
    theirs = ask(deps, DECLINED, team_id=OTHER_TEAM).answer
    assert not theirs.answered  # another workspace still gets the old answer


def test_only_admins_attach_from_a_logged_question(
    deps: Deps, client: RecordingClient, slack: FakeSlack
) -> None:
    query_id = ask(deps, DECLINED).query_id
    value = json.dumps({"query_id": query_id})
    teach.handle_attach_tip(
        RecordingAck(), click(slack, ACTION_ATTACH_TIP, value), client, context(), deps=deps
    )
    drain(deps)
    assert client.calls("views_open") == []
    body = click(slack, ACTION_ATTACH_TIP, value, user=ADMIN)
    teach.handle_attach_tip(RecordingAck(), body, client, context(user_id=ADMIN), deps=deps)
    drain(deps)
    [opened] = client.calls("views_open")
    assert json.loads(opened.kwargs["view"]["private_metadata"]) == {"query_id": query_id}


# -- who may teach: checked where each action acts, not by hiding buttons ------------------------


def test_a_member_who_is_no_lead_cannot_attach_a_tip_even_with_a_crafted_submit(
    deps: Deps, client: RecordingClient, slack: FakeSlack
) -> None:
    post, _ = asked_lead(deps, client, slack, DECLINED)
    attach = button(post.kwargs["blocks"], ACTION_ATTACH_TIP)["value"]  # type: ignore[index]
    body = click(slack, ACTION_ATTACH_TIP, attach, name="peer", user=BYSTANDER, channel=LEADS)
    teach.handle_attach_tip(RecordingAck(), body, client, context(user_id=BYSTANDER), deps=deps)
    drain(deps)
    assert client.calls("views_open") == []
    [note] = responses(slack, "peer")
    assert teach.LEADS_ONLY in note.all_text() and note.body["response_type"] == "ephemeral"
    view = {"callback_id": ATTACH_MODAL_ID, "private_metadata": json.dumps({"lead_request": 1})}
    submit = {"team": {"id": TEAM_ID}, "user": {"id": BYSTANDER}}
    teach.handle_attach_submit(
        RecordingAck(), submit, submitted(view, DECLINED, EMPATHY_TIP), client, deps=deps
    )
    drain(deps)
    assert deps.store.learned_situations(TEAM_ID) == []  # type: ignore[union-attr]
    assert len(client.calls("chat_postMessage")) == 1  # the rep was told nothing
    assert not ask(deps, DECLINED).answer.answered  # reps' answers unchanged


def test_a_lead_who_is_not_an_admin_attaches_a_tip(
    deps: Deps, client: RecordingClient, slack: FakeSlack
) -> None:
    post, _ = asked_lead(deps, client, slack, DECLINED)
    attach = button(post.kwargs["blocks"], ACTION_ATTACH_TIP)["value"]  # type: ignore[index]
    body = click(slack, ACTION_ATTACH_TIP, attach, user=LEAD, channel=LEADS)
    teach.handle_attach_tip(RecordingAck(), body, client, context(user_id=LEAD), deps=deps)
    drain(deps)
    [opened] = client.calls("views_open")
    submit = {"team": {"id": TEAM_ID}, "user": {"id": LEAD}}
    teach.handle_attach_submit(
        RecordingAck(),
        submit,
        submitted(opened.kwargs["view"], DECLINED, EMPATHY_TIP),
        client,
        deps=deps,
    )
    drain(deps)
    [row] = deps.store.learned_situations(TEAM_ID)  # type: ignore[union-attr]
    assert row.created_by == LEAD and row.source == "lead"


def test_a_reply_from_someone_who_is_no_lead_is_not_relayed_to_the_rep(
    deps: Deps, client: RecordingClient, slack: FakeSlack
) -> None:
    asked_lead(deps, client, slack, DECLINED)
    reply = {
        "type": "message",
        "channel": LEADS,
        "channel_type": "channel",
        "user": BYSTANDER,
        "text": "just call Sam on 07700 900123",
        "ts": "1700000200.000009",
        "thread_ts": "1700000100.000001",
    }
    teach.handle_lead_reply(
        {"event_id": "EvPEER1", "event": reply}, reply, client, context(), deps=deps
    )
    drain(deps)
    assert [c.kwargs["channel"] for c in client.calls("chat_postMessage")] == [LEADS]  # no DM
    [note] = client.calls("chat_postEphemeral")
    assert note.kwargs["user"] == BYSTANDER and note.kwargs["thread_ts"] == reply["thread_ts"]
    assert "Only replies from team leads" in note.kwargs["text"]
    assert client.calls("reactions_add") == []


def test_a_bystander_cannot_send_someone_elses_question_to_the_leads(
    deps: Deps, client: RecordingClient, slack: FakeSlack
) -> None:
    result = ask(deps, DECLINED)  # the rep's card, shared in a channel
    value = button(result.message.blocks, render.ACTION_ASK_LEAD)["value"]  # type: ignore[index]
    body = click(slack, render.ACTION_ASK_LEAD, value, name="peer", user=BYSTANDER)
    teach.handle_ask_lead(RecordingAck(), body, client, context(user_id=BYSTANDER), deps=deps)
    drain(deps)
    assert client.calls("chat_postMessage") == []  # nothing posted to the leads
    [note] = responses(slack, "peer")
    assert teach.NOT_YOURS in note.all_text() and note.body["response_type"] == "ephemeral"
    assert deps.store.lead_request_for_query(result.query_id, BYSTANDER) is None


def test_a_thumbs_up_teaches_only_a_leads_own_question(
    deps: Deps, client: RecordingClient, slack: FakeSlack
) -> None:
    """A lead voting 👍 on a rep's card is a vote, never the rep's words saved as teaching;
    a member who is no lead teaches nothing with a 👍 on their own question either."""
    for voter, asker in ((ADMIN, USER), (BYSTANDER, BYSTANDER)):
        result = ask(deps, SUPERVISOR, user=asker)
        value = button(result.message.blocks, render.ACTION_FEEDBACK_UP)["value"]  # type: ignore[index]
        body = click(slack, render.ACTION_FEEDBACK_UP, value, user=voter)
        feedback.handle_helpful(RecordingAck(), body, client, context(user_id=voter), deps=deps)
        drain(deps)
    assert deps.store.learned_situations(TEAM_ID) == []  # type: ignore[union-attr]
    own = ask(deps, SUPERVISOR, user=LEAD)
    value = button(own.message.blocks, render.ACTION_FEEDBACK_UP)["value"]  # type: ignore[index]
    body = click(slack, render.ACTION_FEEDBACK_UP, value, user=LEAD)
    feedback.handle_helpful(RecordingAck(), body, client, context(user_id=LEAD), deps=deps)
    drain(deps)
    [row] = deps.store.learned_situations(TEAM_ID)  # type: ignore[union-attr]
    assert row.created_by == LEAD and row.source == "confirmed"


# -- App Home -----------------------------------------------------------------------------------


def test_admins_see_questions_to_teach_and_remove_learned_situations(
    deps: Deps, client: RecordingClient, slack: FakeSlack
) -> None:
    """Admins see only the questions reps chose to send to the leads: what a rep typed and
    kept to themselves is never on anyone else's Home tab."""
    sent = ask(deps, DECLINED).query_id
    ask(deps, "my customer Dana wants to cancel and I had no tip for it")  # not sent
    deps.store.add_lead_request(
        team_id=TEAM_ID, channel="C0LEADS", user_id=USER, text=DECLINED, query_id=sent
    )
    situation = deps.store.add_learned_situation(  # type: ignore[union-attr]
        team_id=TEAM_ID, tip_id=SUPERVISOR_TIP, text="the boss is asked for", source="cli"
    )
    rep_home = home.home_content(deps, user_id=USER, team_id=TEAM_ID)
    assert rep_home.teachable is None and rep_home.learned is None
    content = home.home_content(deps, user_id=ADMIN, team_id=TEAM_ID)
    assert [t.text for t in content.teachable or []] == [DECLINED]
    [learned] = content.learned or []
    assert learned.tip_title == "When They Want the Supervisor"
    view = render.home_view(content)
    assert button(view["blocks"], ACTION_ATTACH_TIP) is not None
    remove = button(view["blocks"], ACTION_REMOVE_LEARNED)
    assert remove is not None and remove["confirm"]
    teach.handle_remove_learned(
        RecordingAck(),
        click(slack, ACTION_REMOVE_LEARNED, remove["value"]),
        client,
        context(),
        deps=deps,
    )
    drain(deps)
    assert len(deps.store.learned_situations(TEAM_ID)) == 1  # type: ignore[union-attr]  # a rep can't
    body = click(slack, ACTION_REMOVE_LEARNED, remove["value"], user=ADMIN)
    teach.handle_remove_learned(RecordingAck(), body, client, context(user_id=ADMIN), deps=deps)
    drain(deps)
    assert deps.store.learned_situations(TEAM_ID) == []  # type: ignore[union-attr]
    assert client.calls("views_publish")[-1].kwargs["user_id"] == ADMIN
    assert situation > 0


# -- settings and the command line ----------------------------------------------------------------


def test_the_leads_channel_setting_per_workspace(make_settings: Callable[..., Any]) -> None:
    settings = make_settings(leads_channel=f"C0PLAIN01, {OTHER_TEAM}:C0THEIRS1")
    assert settings.leads_channel_for(OTHER_TEAM) == "C0THEIRS1"
    assert settings.leads_channel_for(TEAM_ID) == "C0PLAIN01"
    assert make_settings().leads_channel_for(TEAM_ID) is None


def test_coach_situations_add_list_remove(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from bot.cli import app

    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("COACH_EMBEDDING_MODEL", "hashing")
    runner = CliRunner()
    bad = runner.invoke(
        app, ["situations", "add", "--team", TEAM_ID, "--tip", "nope", "--text", "x"]
    )
    assert bad.exit_code == 2
    added = runner.invoke(
        app, ["situations", "add", "--team", TEAM_ID, "--tip", EMPATHY_TIP, "--text", DECLINED]
    )
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["situations", "list", "--json"])
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["tip_id"] == EMPATHY_TIP and row["team_id"] == TEAM_ID and row["source"] == "cli"
    assert runner.invoke(app, ["situations", "remove", str(row["id"])]).exit_code == 0
    assert runner.invoke(app, ["situations", "remove", str(row["id"])]).exit_code == 1


# -- the real model: a paraphrase of the taught question -------------------------------------------

CRYING = "caller cries because her package with medicine is late"
PARAPHRASE = "a customer is in tears since the parcel with her medication hasn't arrived"


@pytest.mark.model
def test_with_the_real_model_a_taught_question_and_its_paraphrase_get_the_tip(
    real_coach: Any, make_deps: Callable[..., Deps]
) -> None:
    deps = make_deps(coach=real_coach, leads_channel=LEADS)

    def empathy_first(answer: Any) -> bool:
        return bool(answer.answered and answer.top.id == EMPATHY_TIP)

    before = ask(deps, CRYING)
    assert not empathy_first(before.answer)  # another tip, or none, comes first
    deps.store.add_learned_situation(  # type: ignore[union-attr]
        team_id=TEAM_ID, tip_id=EMPATHY_TIP, text=CRYING, source="lead", created_by=ADMIN
    )
    deps.learned.invalidate(TEAM_ID)
    for text in (CRYING, PARAPHRASE):
        answer = ask(deps, text).answer
        assert answer.answered and answer.top.id == EMPATHY_TIP, text
        assert not empathy_first(ask(deps, text, team_id=OTHER_TEAM).answer), text
    assert ask(deps, SUPERVISOR).answer.top.id == SUPERVISOR_TIP  # others unchanged
