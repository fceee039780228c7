from __future__ import annotations

from datetime import date
from pathlib import Path

from config.settings import DEFAULT_CORPUS_DIR
from retrieval.ingest import load_corpus, parse_date, title_key


def _tips() -> dict[str, object]:
    tips, problems = load_corpus(DEFAULT_CORPUS_DIR)
    assert problems == []
    return {tip.title: tip for tip in tips}


def test_seed_pages_hold_53_tips_15_full() -> None:
    tips, problems = load_corpus(DEFAULT_CORPUS_DIR)
    assert problems == []
    assert len(tips) == 53
    assert sum(tip.full for tip in tips) == 15
    assert len({tip.id for tip in tips}) == 53


def test_full_post_wins_and_categories_are_united() -> None:
    tip = _tips()["When They Want the Supervisor"]
    assert tip.full
    assert tip.date == date(2026, 1, 27)
    assert set(tip.categories) == {"empathy", "customer service"}
    assert tip.paragraphs[-1].startswith("When they want the unavailable supervisor")
    assert not any("Signup for FREE Tips" in p for p in tip.paragraphs)
    assert not any(p.startswith("Posted on") for p in tip.paragraphs)


def test_titles_kept_as_published() -> None:
    tips = _tips()
    # The full post's title (with a real ellipsis) beats the teaser's "but...".
    assert "Pressure is a Privilege, but…" in tips
    assert "Pressure is a Privilege, but..." not in tips
    assert "My Relatives are Odd…or Maybe I’m the Odd One" in tips
    assert "The Error of “Everyone”" in tips


def test_dates_are_iso_and_two_digit_years_are_2000s() -> None:
    tips = _tips()
    assert tips["Let the Patient Sleep"].date == date(2014, 10, 28)
    assert tips["Is Their Poor Planning Your Emergency?"].date == date(2024, 12, 17)
    assert parse_date("1/6/26") == date(2026, 1, 6)
    assert parse_date("12/30/2025") == date(2025, 12, 30)


def test_teaser_only_tip_keeps_teaser_without_read_more() -> None:
    tip = _tips()["Make the Long Wait Feel Shorter"]
    assert not tip.full
    assert tip.teaser.startswith("When Greg entered the Tax Office")
    assert not tip.teaser.endswith("Read more")


def test_category_label_glued_to_last_line_is_dropped() -> None:
    tip = _tips()["I Assume She is Not Like Me"]
    assert tip.paragraphs[-1] == "Assume the customer is different from you."


def test_post_without_footer_ends_before_next_post() -> None:
    tip = _tips()["Jamey Needed to Slow Down"]
    assert tip.paragraphs[-1].endswith("View relationship-building as a process.")
    assert not any("She left me a voice mail" in p for p in tip.paragraphs)


def test_situations_file_attaches_to_tips() -> None:
    tip = _tips()["When They Want the Supervisor"]
    assert len(tip.situations) >= 4


def test_title_key_matches_across_quote_styles() -> None:
    assert title_key("Don’t Mistake Kindness") == title_key("Don't Mistake Kindness")
    assert title_key("Pressure is a Privilege, but...") == title_key(
        "Pressure is a Privilege, but…"
    )


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


AUTHOR_TIP = """---
title: Calm the Double-Charged Caller
date: 2026-03-02
categories: [billing, empathy]
situations:
  - customer was charged twice and is furious
  - how do I handle a duplicate charge complaint
---
Duplicate charges feel like theft to the customer.

1. Apologise and confirm the two charges with them.
2. Start the reversal while they are on the line.
3. Tell them when the money will be back.

> "I can see both charges, and I'm reversing the second one right now."

Own it, fix it, and say when.
"""


def test_author_markdown_tip_is_first_class(tmp_path: Path) -> None:
    _write(tmp_path / "tips" / "double-charge.md", AUTHOR_TIP)
    tips, problems = load_corpus(tmp_path)
    assert problems == []
    (tip,) = tips
    assert tip.title == "Calm the Double-Charged Caller"
    assert tip.date == date(2026, 3, 2)
    assert tip.categories == ("billing", "empathy")
    assert tip.situations == (
        "customer was charged twice and is furious",
        "how do I handle a duplicate charge complaint",
    )
    assert tip.full


def test_bad_files_are_reported_with_file_and_line_and_the_rest_indexes(tmp_path: Path) -> None:
    _write(tmp_path / "good.md", AUTHOR_TIP)
    _write(
        tmp_path / "latin1.txt",
        "empathy | Site\n\nCaf\xe9 Tip - 1/2/26\n\nteaser Read more\n".encode("latin-1"),
    )
    _write(tmp_path / "broken.md", "---\ntitle: [unclosed\n---\nbody\n")
    _write(tmp_path / "nofront.md", "just text\n")
    _write(tmp_path / "empty.txt", "")
    _write(tmp_path / "situations.yaml", '"No Such Tip":\n  - something\n')
    tips, problems = load_corpus(tmp_path)
    assert [tip.title for tip in tips] == ["Calm the Double-Charged Caller"]
    by_file = {p.path: p for p in problems}
    assert set(by_file) == {"latin1.txt", "broken.md", "nofront.md", "empty.txt", "situations.yaml"}
    assert by_file["latin1.txt"].line == 3 and "UTF-8" in by_file["latin1.txt"].message
    assert "YAML" in by_file["broken.md"].message
    assert by_file["nofront.md"].line == 1
    assert "No Such Tip" in by_file["situations.yaml"].message
    assert str(by_file["latin1.txt"]).startswith("latin1.txt:3:")


def test_bad_date_is_reported_but_tip_kept(tmp_path: Path) -> None:
    _write(
        tmp_path / "page.txt",
        "empathy | Site - Page 1\n\nA Tip - 13/45/26\n\nSome teaser text Read more\n",
    )
    tips, problems = load_corpus(tmp_path)
    assert [t.title for t in tips] == ["A Tip"] and tips[0].date is None
    assert problems[0].line == 3 and "bad date" in problems[0].message


def test_missing_corpus_dir_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    tips, problems = load_corpus(tmp_path / "nope")
    assert tips == [] and "does not exist" in problems[0].message
