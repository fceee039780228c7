"""The `coach` command line, run as a real process (as users and CI run it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COACH = [sys.executable, "-m", "bot.cli"]


def run(
    args: list[str], tmp_path: Path, *, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COACH_", "SLACK_")) and k != "DATABASE_URL"
    }
    environment.update(
        {"COACH_DATA_DIR": str(tmp_path / "var"), "COACH_EMBEDDING_MODEL": "hashing", **env}
    )
    return subprocess.run(
        [*COACH, *args],
        cwd=REPO,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def shared_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


def test_ask_prints_a_readable_answer(shared_tmp: Path) -> None:
    result = run(
        ["ask", "customer wants the supervisor", "--k", "2"], shared_tmp, COACH_MIN_CONFIDENCE="0"
    )
    assert result.returncode == 0, result.stderr
    assert "Source:" in result.stdout
    assert "confidence" in result.stdout
    others = [
        line
        for line in result.stdout.splitlines()
        if line.startswith(("Also relevant:", "Might also help:"))
    ]
    # the other tips by title; no ranking score that reads like a second confidence
    assert len(others) == 1 and "(" not in others[0], result.stdout


def test_ask_json_schema(shared_tmp: Path) -> None:
    result = run(
        ["ask", "customer wants the supervisor", "--json"], shared_tmp, COACH_MIN_CONFIDENCE="0"
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["query"] == "customer wants the supervisor"
    assert payload["answered"] is True and len(payload["tips"]) == 3
    assert payload["tier"] in {"confident", "unsure"} and payload["off_topic"] is False
    assert set(payload["tips"][0]) == {
        "id",
        "title",
        "date",
        "score",
        "steps",
        "phrases",
        "summary",
        "source",
        "url",
        "excerpt",
        "highlight",
        "attribution",
        "when_to_use",
        "avoid",
    }
    attribution = payload["tips"][0]["attribution"]
    assert len(attribution["steps"]) == len(payload["tips"][0]["steps"])
    assert len(attribution["phrases"]) == len(payload["tips"][0]["phrases"])
    assert set(attribution["steps"]) | set(attribution["phrases"]) <= {"tip", "play"}


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_text_exits_2_with_a_message(shared_tmp: Path, text: str) -> None:
    result = run(["ask", text], shared_tmp)
    assert result.returncode == 2
    assert "Describe the situation" in result.stderr


def test_batch_json_lines_same_order_one_per_line(shared_tmp: Path) -> None:
    lines = "refund is late\n\ncustomer wants the supervisor\n"
    result = run(
        ["ask", "--batch", "-", "--json"], shared_tmp, stdin=lines, COACH_MIN_CONFIDENCE="0"
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["query"] for row in rows] == ["refund is late", "", "customer wants the supervisor"]
    assert rows[1]["answered"] is False and "error" in rows[1]


def test_bad_setting_exits_2_naming_it(shared_tmp: Path) -> None:
    result = run(["ask", "hello"], shared_tmp, COACH_MIN_CONFIDENCE="2")
    assert result.returncode == 2
    assert "COACH_MIN_CONFIDENCE" in result.stderr


def test_index_prints_counts(shared_tmp: Path) -> None:
    result = run(["index"], shared_tmp)
    assert result.returncode == 0, result.stderr
    assert "53 (15 full posts, 38 teasers)" in result.stdout


def test_eval_reports_metrics(shared_tmp: Path, tmp_path: Path) -> None:
    file = tmp_path / "eval.jsonl"
    file.write_text(
        json.dumps(
            {
                "id": "a",
                "query": "customer wants the supervisor",
                "relevant": ["When They Want the Supervisor"],
            }
        )
        + "\n"
        + json.dumps({"id": "b", "query": "how do I reset my VPN password", "relevant": []})
        + "\n",
        encoding="utf-8",
    )
    result = run(["eval", str(file), "--json"], shared_tmp)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["cases"] == 2 and metrics["on_topic"] == 1 and metrics["off_topic"] == 1
    assert set(metrics) >= {
        "hit@1",
        "hit@3",
        "mrr",
        "off_topic_declined",
        "wrongly_declined",
        "expect_text_found",
    }


def test_eval_bad_file_exits_2(shared_tmp: Path, tmp_path: Path) -> None:
    file = tmp_path / "bad.jsonl"
    file.write_text("{not json\n", encoding="utf-8")
    result = run(["eval", str(file)], shared_tmp)
    assert result.returncode == 2 and "bad.jsonl:1" in result.stderr


def test_corrupt_index_is_rebuilt_with_a_note(tmp_path: Path) -> None:
    assert run(["index"], tmp_path).returncode == 0
    index_dir = tmp_path / "var" / "index"
    live = index_dir / (index_dir / "CURRENT").read_text()
    (live / "meta.json").write_text("{broken", encoding="utf-8")
    result = run(["ask", "customer wants the supervisor"], tmp_path)
    assert result.returncode == 0
    assert "rebuilt automatically" in result.stderr


def test_a_10000_character_description_is_answered(shared_tmp: Path) -> None:
    text = ("the customer wants the supervisor and nobody senior is here today, " * 160)[:10_000]
    result = run(["ask", text, "--json"], shared_tmp, COACH_MIN_CONFIDENCE="0")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["query"] == text and payload["answered"] and payload["tips"]


def test_odd_unicode_and_slack_markup_are_answered(shared_tmp: Path) -> None:
    text = "ｃｕｓｔｏｍｅｒ <@U123> <!channel> wants\u200b the supervisor 🙃 \u202e"
    result = run(["ask", text, "--json"], shared_tmp, COACH_MIN_CONFIDENCE="0")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["query"] == text


def test_index_check_lints_the_bundled_corpus(shared_tmp: Path) -> None:
    result = run(["index", "--check"], shared_tmp)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "53 tips, 53 with a play, 0 problem(s)" in result.stdout


def test_index_check_fails_naming_each_problem(shared_tmp: Path, tmp_path: Path) -> None:
    import shutil

    from config.settings import DEFAULT_CORPUS_DIR

    corpus = tmp_path / "corpus"
    shutil.copytree(DEFAULT_CORPUS_DIR, corpus)
    (corpus / "plays" / "2025-holiday-poem.md").unlink()
    result = run(["index", "--check"], shared_tmp, COACH_CORPUS_DIR=str(corpus))
    assert result.returncode == 1
    assert "'2025-holiday-poem' has no play: add plays/2025-holiday-poem.md" in result.stdout
