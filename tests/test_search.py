from __future__ import annotations

import numpy as np
import pytest

from retrieval.engine import Coach, clean_query
from retrieval.errors import EmptyQuery, UnknownTip
from retrieval.search import Calibration, Evidence, trim_summary


def test_answer_json_matches_the_contract(hashing_coach: Coach) -> None:
    answer = hashing_coach.answer("customer wants to talk to the supervisor", k=3)
    payload = answer.to_json()
    assert set(payload) >= {"query", "answered", "confidence", "tips"}
    assert isinstance(payload["confidence"], float) and 0.0 <= payload["confidence"] <= 1.0
    if payload["answered"]:
        assert 1 <= len(payload["tips"]) <= 3
        for tip in payload["tips"]:
            assert set(tip) >= {
                "id",
                "title",
                "date",
                "score",
                "steps",
                "phrases",
                "summary",
                "source",
            }
            assert set(tip["attribution"]) == {"steps", "phrases"}
            assert tip["date"] is None or len(tip["date"]) == 10
        scores = [tip["score"] for tip in payload["tips"]]
        assert scores == sorted(scores, reverse=True)
    else:
        assert payload["tips"] == []


def test_declined_answer_has_no_tips_but_suggestions(hashing_coach: Coach) -> None:
    strict = Coach(hashing_coach.data, hashing_coach.encoder, min_confidence=1.0)
    answer = strict.answer("supervisor")
    assert not answer.answered and answer.tips == ()
    assert 2 <= len(answer.suggestions) <= 3
    assert answer.to_json()["tips"] == []


def test_exclude_skips_tips_for_next_best(hashing_coach: Coach) -> None:
    lenient = Coach(hashing_coach.data, hashing_coach.encoder, min_confidence=0.0)
    first = lenient.answer("customer wants the supervisor").tips[0]
    second = lenient.answer("customer wants the supervisor", exclude={first.id}).tips[0]
    assert second.id != first.id


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\u200b\u200b", "!!! ???"])
def test_empty_text_raises_empty_query(hashing_coach: Coach, text: str) -> None:
    with pytest.raises(EmptyQuery):
        hashing_coach.answer(text)


def test_huge_and_odd_text_is_answered(hashing_coach: Coach) -> None:
    huge = "customer wants the supervisor and is angry " * 250  # ~10,000 characters
    assert len(huge) >= 10_000
    answer = hashing_coach.answer(huge)
    assert answer.query == huge
    odd = "ｃｕｓｔｏｍｅｒ\u0000 wants 🙃 the supervisor \u202e now <@U123> <!channel>"
    assert hashing_coach.answer(odd).confidence >= 0.0


def test_clean_query_normalises() -> None:
    assert clean_query("ｃｕｓｔｏｍｅｒ\u200b  wants\n\nhelp") == "customer wants help"
    assert len(clean_query("word " * 5000)) <= 2000


def test_tip_card_has_every_step_in_reading_order(hashing_coach: Coach) -> None:
    card = hashing_coach.tip_card("when-they-want-the-supervisor")
    assert len(card.steps) == 4 and card.steps[0].startswith("Explain the issue")
    assert card.takeaway == "Defuse, get details, empathize, and give them some control."
    with pytest.raises(UnknownTip):
        hashing_coach.tip_card("no-such-tip")


def test_answer_many_keeps_order_and_flags_blank_lines(hashing_coach: Coach) -> None:
    results = hashing_coach.answer_many(["refund is late", "", "wants the supervisor"])
    assert isinstance(results[1], EmptyQuery)
    assert results[0].query == "refund is late" and results[2].query == "wants the supervisor"


def evidence(score: float, *, gap: float = 0.1, background: float = 0.3) -> Evidence:
    return Evidence(score=score, gap=gap, dense=score - 0.3, background=background, lexical=5.0)


def test_confidence_rises_with_evidence() -> None:
    calibration = Calibration()
    values = [calibration.confidence(evidence(s)) for s in np.linspace(0.3, 1.6, 14)]
    assert values == sorted(values) and values[0] < 0.05 and values[-1] > 0.95
    near_off_topic = calibration.confidence(evidence(1.0, background=0.7))
    assert near_off_topic < calibration.confidence(evidence(1.0, background=0.2))
    assert calibration.confidence(evidence(1.0, gap=0.0)) < calibration.confidence(
        evidence(1.0, gap=0.3)
    )


def test_off_topic_is_a_query_nearer_the_background_than_any_tip() -> None:
    calibration = Calibration()
    assert calibration.off_topic(evidence(0.6, background=0.9))
    assert not calibration.off_topic(evidence(1.2, background=0.3))


def test_trim_summary_ends_on_a_sentence() -> None:
    text = "First sentence here. Second one is longer and it goes on and on and never quite ends because"
    assert trim_summary(text, 50) == "First sentence here."
    assert trim_summary("short and unfinished", 280) == "short and unfinished…"


def test_refresh_picks_up_a_new_tip_without_reloading_the_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from config.settings import DEFAULT_CORPUS_DIR, load_settings
    from retrieval.embedder import HashingEncoder

    corpus = tmp_path / "corpus"
    shutil.copytree(DEFAULT_CORPUS_DIR, corpus)
    settings = load_settings(
        data_dir=tmp_path / "var", corpus_dir=corpus, embedding_model="hashing"
    )
    encoder = HashingEncoder()
    coach = Coach.from_settings(settings, encoder=encoder)
    assert coach.refresh() is False
    (corpus / "new.md").write_text(
        "---\ntitle: Brand New Tip\n---\n1. Do this.\n2. Then that.\n", "utf-8"
    )
    assert coach.refresh() is True
    assert coach.encoder is encoder
    assert "brand-new-tip" in {tip.id for tip in coach.tips()}
    assert coach.tip_card("brand-new-tip").steps == ("Do this.", "Then that.")
    assert coach.refresh() is False


def test_next_best_tip_never_declines(hashing_coach: Coach) -> None:
    strict = Coach(hashing_coach.data, hashing_coach.encoder, min_confidence=0.99)
    declined = strict.answer("customer wants the supervisor")
    assert not declined.answered
    nxt = strict.answer("customer wants the supervisor", exclude={"when-they-want-the-supervisor"})
    assert nxt.answered and nxt.tips and nxt.tips[0].id != "when-they-want-the-supervisor"
    assert nxt.tier in {"confident", "unsure"}


def test_between_the_thresholds_a_few_tips_might_help(hashing_coach: Coach) -> None:
    unsure = Coach(
        hashing_coach.data, hashing_coach.encoder, min_confidence=0.0, sure_confidence=1.0
    )
    answer = unsure.answer("customer wants the supervisor", k=1)
    assert answer.answered and answer.tier == "unsure" and 2 <= len(answer.tips) <= 3
    assert answer.to_json()["tier"] == "unsure"


def test_a_decline_offers_situations_an_off_topic_decline_offers_nothing(
    hashing_coach: Coach,
) -> None:
    coach = Coach(hashing_coach.data, hashing_coach.encoder, min_confidence=0.999)
    vague = coach.answer("customer is upset about the refund")
    assert not vague.answered and not vague.off_topic
    assert 2 <= len(vague.suggestions) <= 3
    situations = {s for tip in coach.tips() for s in tip.situations}
    assert all(s.situation in situations and s.label == s.situation for s in vague.suggestions)
    off = hashing_coach.answer("how do I reset my VPN password")
    assert not off.answered and off.off_topic and off.suggestions == ()
    assert off.to_json()["suggestions"] == [] and off.to_json()["off_topic"] is True


def test_typos_are_mended_before_the_model_reads_them(hashing_coach: Coach) -> None:
    assert hashing_coach.prepare("cust wants supervisr") == "customer wants supervisor"
    typo = hashing_coach.answer("cust wants supervisr, none on shift", k=1)
    clean = hashing_coach.answer("customer wants supervisor, none on shift", k=1)
    assert typo.confidence == clean.confidence
    assert typo.query == "cust wants supervisr, none on shift"  # the rep's words are kept
