"""The leakage guard: corpus text we write must not echo evaluation queries.

Situations, plays and the off-topic background are written from the tips (and general
workplace topics), never from evaluation queries; a line that shares too many words with
a query would make the eval measure memory instead of understanding. The guard compares
every such line with every query in ``../shared/eval`` and ``tests/eval`` by
token-Jaccard and fails at 0.4 or more, naming both texts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from config.settings import DEFAULT_CORPUS_DIR
from retrieval.index import BACKGROUND_FILE, background_questions
from retrieval.ingest import load_corpus
from retrieval.plays import PLAYS_DIR, parse_play

THRESHOLD = 0.4
ROOT = Path(__file__).resolve().parent.parent
EVAL_FILES = [
    *sorted((ROOT / "tests" / "eval").glob("*.jsonl")),
    *sorted((ROOT / "tests" / "eval" / "real").glob("*.jsonl")),  # real people's words
    *sorted((ROOT.parent / "shared" / "eval").glob("*.jsonl")),
]
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokens(text: str) -> frozenset[str]:
    return frozenset(_TOKEN.findall(text.lower().replace("’", "'")))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def eval_queries() -> list[tuple[str, str]]:
    queries = []
    for path in EVAL_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                queries.append((f"{path.name}:{row.get('id')}", str(row["query"])))
    return queries


def corpus_lines() -> list[tuple[str, str]]:
    """Every line we wrote: situations (YAML and authors' front matter), plays, background."""
    lines: list[tuple[str, str]] = []
    tips, _ = load_corpus(DEFAULT_CORPUS_DIR)
    for tip in tips:
        lines.extend((f"situation of {tip.id}", s) for s in tip.situations)
    for path in sorted((DEFAULT_CORPUS_DIR / PLAYS_DIR).glob("*.md")):
        play = parse_play(path.read_text(encoding="utf-8"), path.name)
        texts = [play.when, play.takeaway, *(s.text for s in play.steps), *play.phrases]
        lines.extend((f"play {path.name}", t) for t in [*texts, *play.avoid])
    lines.extend((f"{BACKGROUND_FILE.name}", q) for q in background_questions())
    return lines


def leaks(
    lines: list[tuple[str, str]], queries: list[tuple[str, str]], threshold: float = THRESHOLD
) -> list[str]:
    query_tokens = [(where, text, tokens(text)) for where, text in queries]
    found = []
    for where, line in lines:
        mine = tokens(line)
        for qwhere, query, theirs in query_tokens:
            score = jaccard(mine, theirs)
            if score >= threshold:
                found.append(f"{where}: {line!r} ~ {qwhere}: {query!r} (Jaccard {score:.2f})")
    return found


def test_the_guard_catches_a_copied_query() -> None:
    queries = [("q1", "caller keeps saying put your boss on the phone")]
    lines = [
        ("copied", "the caller keeps saying put your boss on the phone now"),
        ("own words", "customer insists on a manager and nobody senior is in"),
    ]
    found = leaks(lines, queries)
    assert len(found) == 1 and "copied" in found[0]


def test_eval_sets_are_present() -> None:
    names = {f"{path.parent.name}/{path.name}" for path in EVAL_FILES}
    assert {"eval/tune.jsonl", "eval/test.jsonl", "real/tune.jsonl", "real/test.jsonl"} <= names


@pytest.mark.parametrize("kind", ["situation", "play", "background"])
def test_no_corpus_line_echoes_an_eval_query(kind: str) -> None:
    lines = [
        (where, text)
        for where, text in corpus_lines()
        if where.startswith(kind) or (kind == "background" and where == BACKGROUND_FILE.name)
    ]
    assert lines, f"no {kind} lines found"
    found = leaks(lines, eval_queries())
    assert not found, "corpus text too close to eval queries:\n" + "\n".join(found)


@pytest.mark.parametrize("path", sorted(DEFAULT_CORPUS_DIR.glob("situations*.yaml")), ids=str)
def test_situation_files_are_plain_yaml(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and all(isinstance(v, list) for v in data.values())
