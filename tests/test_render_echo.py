"""Quoting the rep's question back (issue 11): redacted, escaped, clipped, at the top of a
private answer; a publicly shared card keeps no button that would repeat the rep's words."""

from __future__ import annotations

import json
from typing import Any

from test_render import answer, check_limits, tip

from bot import render
from bot.render import ButtonValue
from bot.render.blocks import MAX_ECHO

EMAIL = "jane.doe@example.com"


def first_text(message: render.Message) -> str:
    block = message.blocks[0]
    assert block["type"] == "context"
    return str(block["elements"][0]["text"])


def test_the_question_heads_the_answer_redacted_and_escaped() -> None:
    card = render.answer_message(answer(), query_id=7, shareable=True)
    asked = f"customer wants the supervisor <!channel> & mail {EMAIL}, call 555-123-4567"
    message = render.with_question(card, asked)
    quoted = first_text(message)
    assert quoted.startswith(":speech_balloon: You asked: “customer wants the supervisor")
    assert EMAIL not in quoted and "[email]" in quoted and "[phone]" in quoted
    assert "<!channel>" not in quoted and "&lt;!channel&gt; &amp;" in quoted
    assert message.blocks[1:] == card.blocks and message.text == card.text
    check_limits(message)


def test_a_long_question_is_clipped_and_a_full_card_keeps_its_buttons() -> None:
    long_tip = tip(steps=tuple(f"Step {n} " + "word " * 700 for n in range(80)))
    card = render.play_card(long_tip, query="q", query_id=1, shareable=True)
    assert len(card.blocks) == render.MAX_BLOCKS
    message = render.with_question(card, "customer " * 200)
    assert len(first_text(message)) <= len(":speech_balloon: You asked: “”") + MAX_ECHO
    assert message.blocks[-1] == card.blocks[-1]  # the buttons survive the extra block
    check_limits(message)


def test_no_question_no_quote() -> None:
    card = render.answer_message(answer(), query_id=7)
    assert render.with_question(card, "   ") is card


def test_an_answer_that_opens_with_the_question_is_not_given_it_twice() -> None:
    question = f"mail {EMAIL} about it"
    declined = answer(question, answered=False, confidence=0.1, tips=())
    message = render.answer_message(declined, query_id=None)
    assert render.with_question(message, question) is message
    assert "“mail [email] about it”" in message.blocks[0]["text"]["text"]


def test_every_quote_of_the_rep_is_redacted() -> None:
    declined = answer(f"mail {EMAIL} about it", answered=False, confidence=0.1, tips=())
    assert EMAIL not in json.dumps(render.answer_message(declined, query_id=None).blocks)


def action_ids(message: render.Message) -> list[str]:
    return [e["action_id"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


def test_a_shared_card_drops_next_best_tip_and_share() -> None:
    query = "customer wants the supervisor"
    card = render.play_card(tip(), query=query, query_id=3, shareable=True)
    assert {render.ACTION_NEXT_TIP, render.ACTION_SHARE} <= set(action_ids(card))
    shared = render.shared_message(card, user_id="U0REP0001")
    assert action_ids(shared) == [
        render.ACTION_FULL_TIP,
        render.ACTION_FEEDBACK_UP,
        render.ACTION_FEEDBACK_DOWN,
    ]
    values: list[Any] = [
        ButtonValue.decode(e["value"])
        for b in shared.blocks
        if b["type"] == "actions"
        for e in b["elements"]
    ]
    assert all(value.query == "" for value in values)  # no button carries the rep's words
