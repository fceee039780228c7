"""The real-words evaluation set keeps its promises: real, short, cited, split by site."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from config.settings import DEFAULT_CORPUS_DIR
from retrieval.ingest import load_corpus, title_key

REAL = Path(__file__).resolve().parent / "eval" / "real"


def rows(split: str) -> list[dict[str, object]]:
    lines = (REAL / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line]


def test_every_line_is_short_cited_and_labelled_with_a_real_tip() -> None:
    tips, _ = load_corpus(DEFAULT_CORPUS_DIR)
    titles = {title_key(t.title) for t in tips}
    for split in ("tune", "test"):
        for row in rows(split):
            assert str(row["url"]).startswith(("http://", "https://")), row
            assert 0 < len(str(row["query"])) <= 450, row["id"]
            assert all(
                title_key(str(t)) in titles for t in [*row["relevant"], *row["also_relevant"]]
            )  # type: ignore[misc]
            assert bool(row["relevant"]) == (row["style"] in {"customer", "rep", "lead"}), row["id"]


def test_no_site_is_in_both_splits_and_no_text_twice() -> None:
    tune, test = rows("tune"), rows("test")
    assert not {r["site"] for r in tune} & {r["site"] for r in test}
    texts = Counter(str(r["query"]) for r in [*tune, *test])
    assert max(texts.values()) == 1


def test_the_set_is_as_large_as_promised() -> None:
    both = [*rows("tune"), *rows("test")]
    styles = Counter(str(r["style"]) for r in both)
    assert styles["customer"] >= 150 and styles["rep"] >= 120 and styles["lead"] >= 40
    assert styles["customer"] + styles["rep"] + styles["lead"] >= 400
    assert styles["uncovered"] >= 50 and styles["offtopic"] >= 50


@pytest.mark.parametrize("split", ["tune", "test"])
def test_the_files_are_what_assemble_builds_from_raw(split: str, tmp_path: Path) -> None:
    """Nothing edited by hand: the split files are exactly what the raw labels give."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("assemble", REAL / "assemble.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.HERE = tmp_path
    module.main()
    assert (tmp_path / f"{split}.jsonl").read_text(encoding="utf-8") == (
        REAL / f"{split}.jsonl"
    ).read_text(encoding="utf-8")
