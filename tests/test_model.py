"""A few tests with the real bundled model: the quality targets and the flagship answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.engine import Coach
from retrieval.evaluate import load_cases, run_eval

EVAL_FILE = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "dev.jsonl"

pytestmark = pytest.mark.model


def test_supervisor_answer_has_the_steps(real_coach: Coach) -> None:
    answer = real_coach.answer("customer wants the supervisor")
    assert answer.answered and answer.confidence >= 0.9
    top = answer.tips[0]
    assert top.title == "When They Want the Supervisor"
    assert len(top.steps) == 4 and any("alternative" in step for step in top.steps)
    assert top.summary == "Defuse, get details, empathize, and give them some control."


@pytest.mark.parametrize(
    "question",
    ["how do I reset my VPN password", "what's the weather tomorrow", "write a bash for loop"],
)
def test_off_topic_questions_are_declined(real_coach: Coach, question: str) -> None:
    answer = real_coach.answer(question)
    assert not answer.answered and answer.tips == () and answer.tier == "decline"
    if answer.off_topic:  # recognised as not a customer situation: no tips offered
        assert answer.suggestions == ()
    else:  # declined as a vague customer situation: the nearest situations, in reps' words
        assert all(s.situation for s in answer.suggestions)


@pytest.mark.skipif(not EVAL_FILE.exists(), reason="../shared/eval/dev.jsonl not beside the repo")
def test_dev_eval_meets_targets(real_coach: Coach) -> None:
    metrics = run_eval(real_coach, load_cases(EVAL_FILE)).metrics()
    assert metrics["hit@1"] >= 0.85, metrics
    assert metrics["hit@3"] >= 0.95, metrics
    assert metrics["off_topic_declined"] == 1.0, metrics
    assert metrics["wrongly_declined"] == 0, metrics
    assert metrics["expect_text_found"] >= 0.9, metrics


def test_phrases_for_refund_delay(real_coach: Coach) -> None:
    top = real_coach.answer("what do I say to a customer annoyed that the refund is slow").tips[0]
    assert top.title == "Empathy Examples for Everyday Situations"
    assert top.phrases[0].startswith("I understand how inconvenient")
