from __future__ import annotations

from config.settings import DEFAULT_CORPUS_DIR
from retrieval.chunking import chunk_tip
from retrieval.ingest import load_corpus, parse_tip_file

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


def test_numbered_list_is_steps() -> None:
    steps = _kind("Breaking Down the Infamous 1-on-1 Retention Call", "step")
    assert len(steps) == 13 and steps[0].startswith("Greet customer clearly")


def test_parallel_paragraphs_are_steps() -> None:
    steps = _kind("Is Their Poor Planning Your Emergency?", "step")
    assert len(steps) == 3 and all(s.startswith("It’s about your") for s in steps)


def test_teaser_only_tip_has_title_teaser_and_situations() -> None:
    chunks = chunk_tip(TIPS["Make the Long Wait Feel Shorter"])
    kinds = {c.kind for c in chunks}
    assert kinds == {"title", "teaser", "situation"}


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
