from __future__ import annotations

from config.settings import DEFAULT_CORPUS_DIR
from retrieval.chunking import chunk_tip, is_story
from retrieval.ingest import load_corpus, merge, parse_tip_file

TIPS = {tip.title: tip for tip in load_corpus(DEFAULT_CORPUS_DIR)[0]}


def _kind(title: str, kind: str) -> list[str]:
    return [c.text for c in chunk_tip(TIPS[title]) if c.kind == kind]


def test_supervisor_tip_yields_four_steps_in_order_and_takeaway() -> None:
    steps = _kind("When They Want the Supervisor", "step")
    assert len(steps) == 4
    assert steps[0].startswith("Explain the issue with the supervisor availability")
    assert steps[1].startswith("If you haven’t done so already, clarify the rationale")
    assert steps[2] == "Confirm your understanding of what they’ve shared."
    assert steps[3].startswith("Share an alternative…or two!")
    assert _kind("When They Want the Supervisor", "takeaway") == [
        "Defuse, get details, empathize, and give them some control."
    ]


def test_empathy_examples_yield_three_phrases() -> None:
    phrases = _kind("Empathy Examples for Everyday Situations", "phrase")
    assert len(phrases) == 3
    assert phrases[0].startswith("I understand how inconvenient this delay must be")
    assert "step-by-step" in phrases[2]


def test_labelled_bullets_are_steps() -> None:
    steps = _kind("The Empathy Roadmap", "step")
    assert [s.split(" – ")[0] for s in steps] == [
        "Ask for Information",
        "Listen to What They Say and How They Say It",
        "Learn Their Perspective",
        "Confirm Your Understanding",
    ]


def test_an_authors_review_of_someone_elses_list_is_not_steps() -> None:
    """The Retention Call post judges a script's 13 steps ("Take control – Not sure why this
    is here"): those verdicts are commentary, never instructions on a card."""
    title = "Breaking Down the Infamous 1-on-1 Retention Call"
    assert _kind(title, "step") == []
    passages = " ".join(_kind(title, "passage"))
    assert "Take control – Not sure why this is here" in passages


def test_numbered_list_is_steps_in_order() -> None:
    draft = parse_tip_file(
        "---\ntitle: Refund Calls\n---\nIntro line here.\n\n1. Confirm the order.\n"
        "2. Check the refund date.\n3. Tell them when it lands.\n",
        "refund.md",
    )
    tip = merge([draft])[0]
    steps = [c for c in chunk_tip(tip) if c.kind == "step"]
    assert [s.text for s in steps] == [
        "Confirm the order.",
        "Check the refund date.",
        "Tell them when it lands.",
    ]
    assert [s.number for s in steps] == [1, 2, 3]


def test_story_paragraphs_never_become_steps() -> None:
    for text in ("I was facilitating a training class", "When Greg entered the Tax Office, he"):
        assert is_story(text)
    assert not is_story("Ask for information before you answer.")
    for tip in TIPS.values():
        for step in (c.text for c in chunk_tip(tip) if c.kind == "step"):
            assert not is_story(step), (tip.title, step)


def test_plain_paragraphs_under_a_steps_heading_become_steps() -> None:
    draft = parse_tip_file(
        "---\ntitle: Callback Promise\n---\nWhy callbacks matter.\n\n## Steps\n\n"
        "Offer a time window you can keep.\n\nWrite the number down and read it back.\n\n"
        "## Why\n\nTrust is built on kept promises, every single time you call back.\n",
        "callback.md",
    )
    steps = [c.text for c in chunk_tip(merge([draft])[0]) if c.kind == "step"]
    assert steps == ["Offer a time window you can keep.", "Write the number down and read it back."]


def test_parallel_paragraphs_are_steps() -> None:
    steps = _kind("Is Their Poor Planning Your Emergency?", "step")
    assert len(steps) == 3 and all(s.startswith("It’s about your") for s in steps)


def test_teaser_only_tip_has_title_teaser_situations_and_its_play() -> None:
    chunks = chunk_tip(TIPS["Make the Long Wait Feel Shorter"])
    kinds = {c.kind for c in chunks}
    assert kinds == {"title", "teaser", "situation", "when", "play_step", "play_phrase"}


def test_chunk_ids_are_stable_and_unique() -> None:
    tip = TIPS["When They Want the Supervisor"]
    first, second = chunk_tip(tip), chunk_tip(tip)
    assert [c.id for c in first] == [c.id for c in second]
    assert len({c.id for c in first}) == len(first)
    assert "when-they-want-the-supervisor#step-1" in {c.id for c in first}


def test_passages_exclude_headings_and_steps() -> None:
    passages = _kind("When They Want the Supervisor", "passage")
    assert not any(p == "No Supervisor? No Problem" for p in passages)
    assert not any(p.startswith("First") for p in passages)


def test_author_markdown_sections() -> None:
    draft = parse_tip_file(
        "---\ntitle: Own the Outage\n---\nIntro paragraph about outages and what customers feel.\n\n"
        "## Steps\n- Say what broke.\n- Say when it will be fixed.\n\n## Phrases\n"
        '- "We broke it, and I\'m sorry."\n\nBe honest and specific about the outage.\n',
        "own.md",
    )
    from retrieval.ingest import merge

    (tip,) = merge([draft])
    chunks = chunk_tip(tip)
    assert [c.text for c in chunks if c.kind == "step"] == [
        "Say what broke.",
        "Say when it will be fixed.",
    ]
    assert [c.text for c in chunks if c.kind == "phrase"] == ["We broke it, and I'm sorry."]
    assert [c.text for c in chunks if c.kind == "takeaway"] == [
        "Be honest and specific about the outage."
    ]
