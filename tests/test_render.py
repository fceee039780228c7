"""The Block Kit renderer: limits, splitting without loss, escaping, fallback text."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from render_fixtures import iter_texts

from bot import render
from bot.render import STALE_BUTTON, ButtonValue, StaleButton
from retrieval.errors import CoachError
from retrieval.models import Answer, Suggestion, TipAnswer


def tip(**overrides: Any) -> TipAnswer:
    values: dict[str, Any] = {
        "id": "when-they-want-the-supervisor",
        "title": "When They Want the Supervisor",
        "date": date(2026, 1, 27),
        "score": 0.81,
        "steps": (
            "Defuse the emotion first.",
            "Get the details.",
            "Empathize.",
            "Give them some control.",
        ),
        "phrases": ("I understand why you'd want that.", "Here is what I can do right now."),
        "summary": "Defuse, get details, empathize, and give them some control.",
        "source": "Customer Service Solutions, Inc. Tip of the Week · Jan 27, 2026",
        "categories": ("empathy", "escalation"),
        "full": True,
        "takeaway": "Defuse, get details, empathize, and give them some control.",
        "chunk_ids": (
            "when-they-want-the-supervisor#step-0",
            "when-they-want-the-supervisor#step-1",
        ),
    }
    values.update(overrides)
    return TipAnswer(**values)


def answer(query: str = "customer wants the supervisor", **overrides: Any) -> Answer:
    values: dict[str, Any] = {"query": query, "answered": True, "confidence": 0.8, "tips": (tip(),)}
    values.update(overrides)
    return Answer(**values)


def check_limits(message: render.Message) -> None:
    """Every Block Kit limit the issue names (and a few more Slack enforces)."""
    assert message.text.strip(), "a plain-text fallback is always present"
    assert len(message.blocks) <= render.MAX_BLOCKS
    for block in message.blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= render.MAX_SECTION_TEXT
            assert block["text"]["text"].strip()
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= render.MAX_HEADER_TEXT
            assert block["text"]["type"] == "plain_text"
        if block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10
            assert all(len(e["text"]) <= 3000 for e in block["elements"])
        if block["type"] == "actions":
            assert 1 <= len(block["elements"]) <= 25
            ids = [e["action_id"] for e in block["elements"]]
            assert len(ids) == len(set(ids)), "action ids must be unique within a block"
            for element in block["elements"]:
                assert len(element["text"]["text"]) <= render.MAX_BUTTON_TEXT
                assert len(element["value"]) <= render.MAX_BUTTON_VALUE
                assert json.loads(element["value"]) is not None
                ButtonValue.decode(element["value"])  # every value reads back


def mrkdwn_texts(message: render.Message) -> str:
    return "\n".join([message.text, *iter_texts(message.blocks)])


def test_play_card_has_title_date_categories_numbered_steps_quoted_phrases_source_and_buttons() -> (
    None
):
    message = render.answer_message(answer(), query_id=7)
    check_limits(message)
    blocks = message.blocks
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "When They Want the Supervisor", "emoji": True},
    }
    text = mrkdwn_texts(message)
    assert "Jan 27, 2026" in text and "empathy, escalation" in text
    assert (
        "1. Defuse the emotion first.\n2. Get the details.\n3. Empathize.\n"
        "4. Give them some control." in text
    )
    assert "> “I understand why you'd want that.”" in text
    assert "Source: Customer Service Solutions" in text
    actions = blocks[-1]
    assert [e["action_id"] for e in actions["elements"]] == [
        render.ACTION_FULL_TIP,
        render.ACTION_NEXT_TIP,
        render.ACTION_FEEDBACK_UP,
        render.ACTION_FEEDBACK_DOWN,
    ]
    labels = [e["text"]["text"] for e in actions["elements"]]
    assert labels == ["Show full tip", "Next best tip", ":thumbsup:", ":thumbsdown:"]
    feedback = ButtonValue.decode(actions["elements"][2]["value"])
    assert feedback == ButtonValue(tip_id=tip().id, query_id=7, chunk_ids=tip().chunk_ids)
    next_best = ButtonValue.decode(actions["elements"][1]["value"])
    assert next_best == ButtonValue(query_id=7, exclude=(tip().id,))  # the words stay with us
    assert "customer wants" not in actions["elements"][1]["value"]
    assert message.text.startswith("When They Want the Supervisor: Defuse the emotion first.")


def test_shareable_card_adds_share_button_and_full_card_drops_show_full() -> None:
    shared = render.answer_message(answer(), query_id=1, shareable=True)
    share = shared.blocks[-1]["elements"][-1]
    assert (
        share["action_id"] == render.ACTION_SHARE and share["text"]["text"] == "Share with channel"
    )
    full = render.full_tip_message(tip(body=("First paragraph.", "Second paragraph.")), query_id=1)
    ids = [e["action_id"] for e in full.blocks[-1]["elements"]]
    assert render.ACTION_FULL_TIP not in ids and render.ACTION_NEXT_TIP not in ids
    assert "*From the tip*\nFirst paragraph.\n\nSecond paragraph." in mrkdwn_texts(full)
    check_limits(full)


def test_low_confidence_offers_nearest_situations_and_a_hint_never_a_tip() -> None:
    declined = answer(
        "how do I reset my VPN password",
        answered=False,
        confidence=0.2,
        tips=(),
        suggestions=(
            Suggestion("a", "When They Want the Supervisor", 0.3),
            Suggestion("b", "Make the Long Wait Feel Shorter", 0.28),
            Suggestion("c", "Identify Your Point of Empathy", 0.25),
        ),
    )
    message = render.answer_message(declined, query_id=3)
    check_limits(message)
    text = mrkdwn_texts(message)
    assert "don't have a tip I'm sure fits" in text and "how do I reset my VPN password" in text
    assert "rephras" in text
    buttons = [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]
    assert [b["text"]["text"] for b in buttons] == [
        "When They Want the Supervisor",
        "Make the Long Wait Feel Shorter",
        "Identify Your Point of Empathy",
    ]
    assert all(render.SUGGESTION_ACTION_RE.match(b["action_id"]) for b in buttons)
    assert [ButtonValue.decode(b["value"]).tip_id for b in buttons] == ["a", "b", "c"]
    assert "Try these steps" not in text


def test_user_text_is_escaped_everywhere_it_is_echoed() -> None:
    evil = "<!channel> <@U123> & <https://evil.example|click> <!here>"
    declined = answer(evil, answered=False, confidence=0.1, tips=(), suggestions=())
    message = render.answer_message(declined, query_id=None)
    text = mrkdwn_texts(message)
    assert "<!channel>" not in text and "<@U123>" not in text and "<!here>" not in text
    assert "&lt;!channel&gt;" in text and "&lt;@U123&gt;" in text and "&amp;" in text


def test_corpus_text_is_escaped_but_our_own_markup_survives() -> None:
    weird = tip(
        title="Q&A <b>",
        steps=("Say <!everyone> & smile",),
        phrases=("I <3 helping",),
        categories=("a&b",),
        source="<http://x|y>",
    )
    message = render.play_card(weird, query="q", query_id=1)
    text = mrkdwn_texts(message)
    assert "<!everyone>" not in text and "<http" not in text
    assert "Say &lt;!everyone&gt; &amp; smile" in text
    assert "> “I &lt;3 helping”" in text
    assert "a&amp;b" in text
    # headers and button labels are plain_text: shown literally, never parsed, so not escaped
    assert message.blocks[0]["text"]["text"] == "Q&A <b>"


def test_shared_card_credits_the_rep_and_drops_the_share_button() -> None:
    card = render.answer_message(answer(), query_id=5, shareable=True)
    shared = render.shared_message(card, user_id="U0REP0001")
    check_limits(shared)
    assert "Shared by <@U0REP0001>" in mrkdwn_texts(shared)
    ids = [e["action_id"] for b in shared.blocks if b["type"] == "actions" for e in b["elements"]]
    assert render.ACTION_SHARE not in ids and render.ACTION_FEEDBACK_UP in ids
    forged = render.shared_message(card, user_id="<!channel>")
    assert "<!channel>" not in mrkdwn_texts(forged)


def test_a_4000_character_step_is_split_across_sections_and_nothing_is_lost() -> None:
    words = [f"word{i}" for i in range(700)]
    long_step = " ".join(words)  # > 4000 characters
    assert len(long_step) > 4000
    message = render.play_card(tip(steps=(long_step, "short step")), query="q" * 4000, query_id=1)
    check_limits(message)
    sections = [b["text"]["text"] for b in message.blocks if b["type"] == "section"]
    assert len([s for s in sections if "word" in s]) >= 2
    joined = " ".join(" ".join(sections).split())
    for word in words:
        assert re.search(rf"\b{word}\b", joined), word
    assert "2. short step" in joined


def test_huge_tip_stays_within_50_blocks_and_keeps_its_buttons() -> None:
    steps = tuple(("x" * 2900 + f" step{i}") for i in range(80))
    message = render.full_tip_message(tip(steps=steps), query_id=1)
    check_limits(message)
    assert message.blocks[-1]["type"] == "actions"


def test_long_title_header_is_clipped_but_title_repeated_in_full() -> None:
    title = "T" * 160 + " end"
    message = render.play_card(tip(title=title), query="q", query_id=1)
    check_limits(message)
    assert message.blocks[0]["text"]["text"].endswith("…")
    assert title in mrkdwn_texts(message)


def test_no_button_carries_the_reps_words_however_long() -> None:
    situation = "é" * 4000 + ' "quotes" jane.doe@example.com'
    message = render.answer_message(answer(situation), query_id=1, shareable=True)
    check_limits(message)
    for block in message.blocks:
        for element in block.get("elements") or []:
            value = element.get("value") or ""
            assert "ééé" not in value and "jane" not in value and "quotes" not in value
    value = ButtonValue.decode(BotButtons.find(message, render.ACTION_NEXT_TIP)["value"])
    assert value.query == "" and value.query_id == 1


def test_without_a_logged_lookup_there_is_no_next_best_button() -> None:
    message = render.answer_message(answer("customer wants the supervisor"), query_id=None)
    ids = [
        e["action_id"] for b in message.blocks for e in b.get("elements") or [] if "action_id" in e
    ]
    assert render.ACTION_NEXT_TIP not in ids and render.ACTION_FULL_TIP in ids


def test_many_chunk_ids_are_trimmed_to_fit_the_feedback_value() -> None:
    ids = tuple(f"tip#chunk-{i:04d}-{'x' * 30}" for i in range(200))
    message = render.play_card(tip(chunk_ids=ids), query="q", query_id=1)
    check_limits(message)
    value = ButtonValue.decode(BotButtons.find(message, render.ACTION_FEEDBACK_UP)["value"])
    assert 0 < len(value.chunk_ids) < 200 and value.chunk_ids == ids[: len(value.chunk_ids)]


def test_teaser_only_tip_shows_its_summary() -> None:
    teaser = tip(
        steps=(), phrases=(), full=False, summary="A short teaser about waiting.", takeaway=""
    )
    text = mrkdwn_texts(render.play_card(teaser, query="q", query_id=None))
    assert "A short teaser about waiting." in text


def test_help_message_names_the_configured_command() -> None:
    message = render.help_message("/tips")
    check_limits(message)
    assert "/tips customer wants the supervisor" in mrkdwn_texts(message)


def test_feedback_modal_carries_the_feedback_id_and_an_optional_input() -> None:
    view = render.feedback_modal(42, tip_title="A <b> & c")
    assert json.loads(view["private_metadata"]) == {"feedback_id": 42}
    assert view["callback_id"] == render.FEEDBACK_MODAL_ID
    [field] = [b for b in view["blocks"] if b["type"] == "input"]
    assert field["optional"] is True and field["block_id"] == render.FEEDBACK_BLOCK_ID
    assert "&lt;b&gt; &amp; c" in json.dumps(view)


@pytest.mark.parametrize(
    "garbage",
    [
        "not json",
        "[1,2]",
        None,
        "",
        '{"version": 4, "tip_id": "x"}',  # a format this version does not know
        '{"version": "2", "tip_id": "x"}',
        '{"version": 2, "tip_id": 5}',
        '{"t": ["x"]}',
        '{"q": true}',
        '{"x": [1]}',
        '{"c": "a"}',
    ],
)
def test_button_value_rejects_garbage_with_a_stale_button_error(garbage: str | None) -> None:
    with pytest.raises(StaleButton) as raised:
        ButtonValue.decode(garbage)
    assert isinstance(raised.value, CoachError) and str(raised.value) == STALE_BUTTON


def test_button_value_reads_an_old_minimal_value() -> None:
    value = ButtonValue.decode('{"t":"x"}')
    assert value == ButtonValue(tip_id="x") and value.version == 1


def _v1_button_value(data: dict[str, Any], *, shrink: str | None = None) -> str:
    """The encoder buttons already posted in Slack were written with (kept verbatim)."""
    value = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    if len(value) <= render.MAX_BUTTON_VALUE:
        return value
    assert shrink is not None and shrink in data
    item = data[shrink]
    trimmed = dict(data)
    while len(value) > render.MAX_BUTTON_VALUE:
        over = len(value) - render.MAX_BUTTON_VALUE
        if isinstance(item, str):
            item = item[: max(0, len(item) - max(over, 16))]
        else:
            item = list(item)[:-1]
        trimmed[shrink] = item
        value = json.dumps(trimmed, ensure_ascii=False, separators=(",", ":"))
    return value


@pytest.mark.parametrize("query", ["customer wants the supervisor", "long <&> " * 400])
def test_buttons_already_posted_in_slack_mean_what_todays_buttons_mean(query: str) -> None:
    """Every value the old encoder wrote decodes to the value the same button has now."""
    shown, qid = tip(chunk_ids=tuple(f"c#{i}" for i in range(30))), 7
    card = render.play_card(shown, query=query, query_id=qid, exclude=("a",), shareable=True)
    full = render.play_card(shown, query=query, query_id=qid, shareable=True, full=True)
    old = {
        render.ACTION_FULL_TIP: _v1_button_value({"t": shown.id, "q": qid}),
        render.ACTION_NEXT_TIP: _v1_button_value(
            {"q": qid, "x": ["a", shown.id], "s": query}, shrink="s"
        ),
        render.ACTION_FEEDBACK_UP: _v1_button_value(
            {"t": shown.id, "q": qid, "c": list(shown.chunk_ids)}, shrink="c"
        ),
        render.ACTION_SHARE: _v1_button_value(
            {"t": shown.id, "q": qid, "f": False, "x": ["a"], "s": query}, shrink="s"
        ),
    }
    for action_id, old_value in old.items():
        decoded = ButtonValue.decode(old_value)
        assert decoded.version == 1
        now = ButtonValue.decode(BotButtons.find(card, action_id)["value"])
        # the same meaning, except that today's button leaves the situation in the query
        # log (the old one still carries it, and actions still read it from there)
        assert replace(decoded, query="") == now and now.query == "", action_id
        if action_id in (render.ACTION_NEXT_TIP, render.ACTION_SHARE):
            assert query.startswith(decoded.query) and len(decoded.query) >= min(len(query), 1800)
    shared_full = _v1_button_value(
        {"t": shown.id, "q": qid, "f": True, "x": [], "s": query}, shrink="s"
    )
    now_full = ButtonValue.decode(BotButtons.find(full, render.ACTION_SHARE)["value"])
    assert ButtonValue.decode(shared_full).full is now_full.full is True
    assert ButtonValue.decode(_v1_button_value({"t": shown.id, "q": None})) == ButtonValue.decode(
        render.full_tip_actions(shown)["elements"][0]["value"]
    )


def test_button_value_round_trips_and_writes_named_fields_never_the_situation() -> None:
    value = ButtonValue(tip_id="t", query_id=3, exclude=("a", "b"), chunk_ids=("c",), full=True)
    encoded = value.encode()
    assert json.loads(encoded) == {
        "version": 3,
        "tip_id": "t",
        "query_id": 3,
        "exclude": ["a", "b"],
        "chunk_ids": ["c"],
        "full": True,
    }
    assert ButtonValue.decode(encoded) == value and ButtonValue.decode(encoded).version == 3
    assert json.loads(ButtonValue(tip_id="t").encode()) == {"version": 3, "tip_id": "t"}
    assert "secret words" not in ButtonValue(query="secret words", query_id=1).encode()
    # a version-2 button already posted in Slack still reads, situation included
    old = ButtonValue.decode('{"version":2,"query_id":3,"query":"q","exclude":["a"]}')
    assert (old.query, old.query_id, old.exclude, old.version) == ("q", 3, ("a",), 2)


def test_button_value_shrinks_only_the_field_it_may_and_never_loops() -> None:
    huge = ButtonValue(tip_id="t" * 3000)
    with pytest.raises(ValueError, match="too long"):
        huge.encode()
    with pytest.raises(ValueError, match="too long"):
        huge.encode(shrink="chunk_ids")
    fitted = ButtonValue(chunk_ids=tuple("x" * 30 for _ in range(200))).encode(shrink="chunk_ids")
    assert len(fitted) <= render.MAX_BUTTON_VALUE


@pytest.mark.parametrize("limit", [50, 3000])
def test_split_text_never_exceeds_the_limit_nor_cuts_an_entity(limit: int) -> None:
    text = render.escape("a&b " * 2000 + "\n" + "<" * 5000)
    chunks = render.split_text(text, limit)
    assert all(len(c) <= limit for c in chunks)
    assert all(not re.search(r"&[a-z]{0,3}$", c) for c in chunks[:-1])
    assert "".join(chunks).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(
        " ", ""
    )


@settings(max_examples=60, deadline=None)
@given(
    title=st.text(min_size=1, max_size=300),
    steps=st.lists(st.text(max_size=3500), max_size=6),
    phrases=st.lists(st.text(max_size=800), max_size=4),
    query=st.text(max_size=5000),
)
def test_any_tip_renders_within_limits_without_pinging(
    title: str, steps: list[str], phrases: list[str], query: str
) -> None:
    card = render.play_card(
        tip(title=title, steps=tuple(steps), phrases=tuple(phrases)),
        query=query,
        query_id=1,
        shareable=True,
    )
    check_limits(card)
    text = mrkdwn_texts(card)
    assert "<!" not in text and "<@" not in text
    declined = render.answer_message(answer(query, answered=False, tips=()), query_id=None)
    check_limits(declined)
    assert "<!" not in mrkdwn_texts(declined)


class BotButtons:
    @staticmethod
    def find(message: render.Message, action_id: str) -> dict[str, Any]:
        for block in message.blocks:
            for element in block.get("elements", []) or []:
                if element.get("action_id") == action_id:
                    return element
        raise AssertionError(action_id)


def test_unsure_answer_lists_a_few_tips_with_a_first_step_and_a_button_each() -> None:
    tips = (
        tip(),
        tip(id="b", title="Make the Long Wait Feel Shorter", steps=("Give an estimate.",)),
        tip(id="c", title="Identify Your Point of Empathy", phrases=("I'd feel the same.",)),
    )
    message = render.answer_message(
        answer("customer upset", tier="unsure", confidence=0.4, tips=tips), query_id=5
    )
    check_limits(message)
    text = mrkdwn_texts(message)
    assert "not sure which tip fits" in text and "customer upset" in text
    sections = [b for b in message.blocks if b.get("accessory")]
    assert len(sections) == 3
    assert (
        "*Make the Long Wait Feel Shorter* · _from the tip_\n1. Give an estimate."
        in sections[1]["text"]["text"]
    )
    values = [ButtonValue.decode(s["accessory"]["value"]) for s in sections]
    assert values == [ButtonValue(tip_id=t.id, query_id=5) for t in tips]
    assert all(render.SUGGESTION_ACTION_RE.match(s["accessory"]["action_id"]) for s in sections)


def test_off_topic_decline_echoes_the_question_and_offers_no_tips() -> None:
    declined = answer(
        "<!channel> what's the wifi password", answered=False, tips=(), off_topic=True
    )
    message = render.answer_message(declined, query_id=3)
    check_limits(message)
    text = mrkdwn_texts(message)
    assert "doesn't look like a customer situation" in text
    assert "&lt;!channel&gt; what's the wifi password" in text and "<!channel>" not in text
    assert [b for b in message.blocks if b["type"] == "actions"] == []


def test_a_decline_labels_its_buttons_with_situations() -> None:
    declined = answer(
        "customer upset",
        answered=False,
        tips=(),
        suggestions=(
            Suggestion("a", "When They Want the Supervisor", 0.3, "caller wants my boss"),
        ),
    )
    buttons = [
        e
        for b in render.answer_message(declined, query_id=1).blocks
        if b["type"] == "actions"
        for e in b["elements"]
    ]
    assert [b["text"]["text"] for b in buttons] == ["caller wants my boss"]
