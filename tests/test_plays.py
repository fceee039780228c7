"""Every answer coaches: a play for every tip, honest attribution, cards that keep the tip's order."""

from __future__ import annotations

import html
import shutil
from pathlib import Path

import pytest
from render_fixtures import iter_texts

from bot import render
from config.settings import DEFAULT_CORPUS_DIR, load_settings
from retrieval.chunking import is_story
from retrieval.embedder import HashingEncoder
from retrieval.engine import Coach
from retrieval.ingest import check_corpus, load_corpus
from retrieval.models import TipAnswer
from retrieval.plays import check_play, parse_play

TIPS, _ = load_corpus(DEFAULT_CORPUS_DIR)
PLAY = """---
tip: my-tip
---

## When to use it
The caller is stuck. You are not sure what to say.

## Steps
1. **Ask what happened.** Let them tell it once, fully.
2. **Say it back.** Repeat the key facts so they know you heard.
3. **Offer two options.** Give them a choice you can deliver.

## Say
- "Tell me what happened, from the start."
- "So it's [issue], and you'd like [goal]. Did I get that right?"

## Avoid saying
- "Calm down." — it tells them their feelings are wrong

## Takeaway
Listen first, then give them a choice.
"""


def card_text(message: render.Message) -> str:
    return html.unescape("\n".join(iter_texts(message.blocks)))


def query_card(coach: Coach, tip_id: str, query: str) -> TipAnswer:
    """The card for ``tip_id`` as a rep asking ``query`` would get it."""
    vector = coach.encoder.encode([query])[0]
    return coach.ranker.tip_answer(coach.data.tip_pos[tip_id], 1.0, vector)


# -- plays: parsing and the lint ---------------------------------------------------------------


def test_a_play_file_parses_into_its_sections() -> None:
    play = parse_play(PLAY, "plays/my-tip.md")
    assert play.tip_id == "my-tip"
    assert play.when.startswith("The caller is stuck.")
    assert [s.lead for s in play.steps] == [
        "Ask what happened.",
        "Say it back.",
        "Offer two options.",
    ]
    assert play.steps[0].text == "Ask what happened. Let them tell it once, fully."
    assert play.phrases[1] == "So it's [issue], and you'd like [goal]. Did I get that right?"
    assert play.avoid == ("“Calm down.” — it tells them their feelings are wrong",)
    assert play.takeaway == "Listen first, then give them a choice."
    assert check_play(PLAY, "plays/my-tip.md", expected_tip="my-tip") == []


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("## Avoid saying", "## Avoid"), "missing or empty section"),
        (lambda t: t.replace("1. **Ask what happened.**", "1. Ask what happened."), "bold lead-in"),
        (
            lambda t: t.replace(
                "3. **Offer two options.** Give them a choice you can deliver.\n", ""
            ),
            "2 steps",
        ),
        (lambda t: t.replace("Let them tell it once, fully.", "word " * 30), "words (at most 25)"),
        (lambda t: t.replace('- "Tell me what happened, from the start."\n', ""), "1 'Say' lines"),
        (lambda t: t.replace("tip: my-tip", "tip: other-tip"), "does not match the file name"),
        (lambda t: t.replace("---\ntip: my-tip\n---\n", ""), "front matter"),
    ],
)
def test_the_lint_names_what_a_play_breaks(edit, message: str) -> None:  # type: ignore[no-untyped-def]
    problems = check_play(edit(PLAY), "plays/my-tip.md", expected_tip="my-tip")
    assert any(message in str(p) for p in problems), problems
    assert all(str(p).startswith("plays/my-tip.md:") for p in problems)


def test_every_bundled_tip_has_a_play_and_the_corpus_lints_clean() -> None:
    tips, problems = check_corpus(DEFAULT_CORPUS_DIR)
    assert problems == []
    assert len(tips) == 53 and all(tip.play is not None for tip in tips)


def test_the_lint_reports_a_missing_play_an_orphan_and_a_broken_one(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(DEFAULT_CORPUS_DIR, corpus)
    (corpus / "plays" / "make-the-long-wait-feel-shorter.md").unlink()
    (corpus / "plays" / "no-such-tip.md").write_text(PLAY.replace("my-tip", "no-such-tip"))
    broken = corpus / "plays" / "pass-the-quick-impression-test.md"
    broken.write_text(broken.read_text().split("## Takeaway")[0])
    _, problems = check_corpus(corpus)
    text = "\n".join(str(p) for p in problems)
    assert "'make-the-long-wait-feel-shorter' has no play" in text
    assert "plays/no-such-tip.md:2: no tip with id 'no-such-tip'" in text
    assert "plays/pass-the-quick-impression-test.md" in text and "Takeaway" in text


# -- cards: something to do and say for every tip ------------------------------------------------


@pytest.mark.parametrize("tip_id", [tip.id for tip in TIPS])
def test_every_card_has_steps_and_phrases_and_no_story(hashing_coach: Coach, tip_id: str) -> None:
    tip = next(t for t in TIPS if t.id == tip_id)
    for card in (hashing_coach.tip_card(tip_id), query_card(hashing_coach, tip_id, tip.title)):
        assert len(card.steps) >= 3, card.steps
        assert len(card.phrases) >= 2, card.phrases
        for step in card.steps:
            assert len(step.split()) <= 40, step
            assert not is_story(step), step
            assert not step.startswith(("I was", "When Greg")), step
        assert len(card.phrase_origins) == len(card.phrases)


def test_the_supervisor_card_keeps_the_authors_order_and_highlights_the_fit(
    hashing_coach: Coach,
) -> None:
    card = query_card(
        hashing_coach, "when-they-want-the-supervisor", "offer another party they could speak with"
    )
    assert card.step_origin == "tip" and card.step_numbers == (1, 2, 3, 4)
    assert card.steps[0].startswith("Explain the issue with the supervisor availability")
    assert card.steps[3].startswith("Share an alternative")
    assert card.highlight == 3  # the step that fits is marked, not moved
    text = card_text(render.answer_message(_answer(card), query_id=1))
    assert text.index("1. Explain") < text.index("4. *Share an alternative")


def test_the_retention_call_card_has_no_commentary_as_steps(hashing_coach: Coach) -> None:
    card = hashing_coach.tip_card("breaking-down-the-infamous-1-on-1-retention-call")
    assert card.step_origin == "play"
    for step in card.steps:
        assert not any(v in step for v in ("Not sure why", "Good step", "Love this", "step 12"))


@pytest.mark.parametrize("tip_id", [tip.id for tip in TIPS if tip.full])
def test_show_full_tip_is_at_least_as_long_as_the_card(hashing_coach: Coach, tip_id: str) -> None:
    tip = next(t for t in TIPS if t.id == tip_id)
    card = render.answer_message(_answer(query_card(hashing_coach, tip_id, tip.title)), query_id=1)
    full = render.full_tip_message(hashing_coach.tip_card(tip_id), query_id=1)
    assert len(card_text(full)) >= len(card_text(card))
    for paragraph in tip.paragraphs:  # every paragraph of the post, as published
        assert " ".join(paragraph.split())[:50] in card_text(full).replace("*", "")


def test_a_teaser_only_card_says_it_is_an_excerpt_and_whose_lines_are_whose(
    hashing_coach: Coach,
) -> None:
    card = hashing_coach.tip_card("make-the-long-wait-feel-shorter")
    assert card.excerpt and card.step_origin == "play" and set(card.phrase_origins) == {"play"}
    text = card_text(render.answer_message(_answer(card), query_id=1))
    assert "excerpt" in text and "Steps · Coach's play" in text.replace("*", "").replace("_", "")
    assert "Tip of the Week (excerpt)" in text  # the publisher stays on the source line
    full = card_text(render.full_tip_message(card, query_id=1))
    assert "From the tip* (excerpt)" in full and "Coach's play" in full and "When to use it" in full


def test_a_full_post_card_labels_the_tips_own_steps(hashing_coach: Coach) -> None:
    card = hashing_coach.tip_card("when-they-want-the-supervisor")
    text = card_text(render.answer_message(_answer(card), query_id=1)).replace("_", "")
    assert "Steps · from the tip" in text.replace("*", "")
    assert "Say something like · Coach's play" in text.replace("*", "")
    assert render.PLAY_CREDIT in text


def test_plays_can_be_turned_off_for_published_text_only(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "var", embedding_model="hashing", plays=False)
    coach = Coach.from_settings(settings, encoder=HashingEncoder())
    teaser = coach.tip_card("make-the-long-wait-feel-shorter")
    assert teaser.steps == () and teaser.phrases == () and not teaser.has_play
    full = coach.tip_card("when-they-want-the-supervisor")
    assert full.step_origin == "tip" and len(full.steps) == 4 and full.phrases == ()
    for card in (teaser, full):
        message = render.full_tip_message(card, query_id=None)
        assert "Coach's play" not in card_text(message)
    assert "Coach's play" not in card_text(render.answer_message(_answer(full), query_id=1))


def test_an_authors_url_links_the_original_post(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "refunds.md").write_text(
        "---\ntitle: Late Refunds\nurl: https://example.com/tips/late-refunds\n---\n"
        "Say when the money lands.\n\n1. Check the date.\n2. Tell them.\n3. Follow up.\n"
    )
    (corpus / "bad.md").write_text("---\ntitle: Bad Link\nurl: javascript:alert(1)\n---\nText.\n")
    tips, problems = load_corpus(corpus)
    assert [t.url for t in tips] == ["https://example.com/tips/late-refunds"]
    assert any("http(s)" in str(p) for p in problems)
    settings = load_settings(
        data_dir=tmp_path / "var", embedding_model="hashing", corpus_dir=corpus
    )
    coach = Coach.from_settings(settings, encoder=HashingEncoder())
    card = coach.tip_card("late-refunds")
    assert card.url == "https://example.com/tips/late-refunds"
    assert card.to_json()["url"] == card.url
    blocks = render.full_tip_message(card, query_id=None).blocks
    assert "<https://example.com/tips/late-refunds|read the original>" in str(blocks)


def _answer(card: TipAnswer):  # type: ignore[no-untyped-def]
    from retrieval.models import Answer

    return Answer(query="q", answered=True, confidence=0.9, tips=(card,))
