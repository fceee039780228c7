"""Quality report for an eval file (the ``../shared/eval`` JSON Lines format).

Each line: ``{"id", "query", "relevant": [titles], "also_relevant": [titles],
"expect_text": [strings]}``; an empty ``relevant`` list marks an off-topic question that
must be declined. A hit only counts when the coach actually answered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrieval.engine import Coach
from retrieval.errors import CoachError, EmptyQuery
from retrieval.ingest import title_key
from retrieval.models import Answer

RANK_DEPTH = 10


@dataclass(frozen=True)
class EvalCase:
    id: str
    query: str
    relevant: tuple[str, ...]
    also_relevant: tuple[str, ...] = ()
    expect_text: tuple[str, ...] = ()

    @property
    def on_topic(self) -> bool:
        return bool(self.relevant)


@dataclass
class CaseResult:
    case: EvalCase
    answered: bool
    confidence: float
    rank: int | None  # 1-based rank of the first relevant tip among answered tips
    top_title: str
    expect_found: bool | None


@dataclass
class EvalReport:
    results: list[CaseResult] = field(default_factory=list)

    def _on(self) -> list[CaseResult]:
        return [r for r in self.results if r.case.on_topic]

    def metrics(self) -> dict[str, Any]:
        on = self._on()
        off = [r for r in self.results if not r.case.on_topic]
        expect = [r for r in on if r.expect_found is not None]
        n = max(1, len(on))
        return {
            "cases": len(self.results),
            "on_topic": len(on),
            "off_topic": len(off),
            "hit@1": sum(1 for r in on if r.rank == 1) / n,
            "hit@3": sum(1 for r in on if r.rank is not None and r.rank <= 3) / n,
            "mrr": sum(1 / r.rank for r in on if r.rank) / n,
            "off_topic_declined": (sum(1 for r in off if not r.answered) / len(off))
            if off
            else 1.0,
            "wrongly_declined": sum(1 for r in on if not r.answered),
            "expect_text_found": (sum(1 for r in expect if r.expect_found) / len(expect))
            if expect
            else 1.0,
        }


def load_cases(path: Path) -> list[EvalCase]:
    """Read the eval file, naming the line of any malformed entry."""
    cases: list[EvalCase] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CoachError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CoachError(f"{path} is not UTF-8") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            cases.append(
                EvalCase(
                    id=str(row.get("id", number)),
                    query=str(row["query"]),
                    relevant=tuple(row.get("relevant") or ()),
                    also_relevant=tuple(row.get("also_relevant") or ()),
                    expect_text=tuple(row.get("expect_text") or ()),
                )
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CoachError(f"{path}:{number}: not a valid eval line ({exc})") from None
    if not cases:
        raise CoachError(f"{path} holds no eval cases")
    return cases


def _score_case(case: EvalCase, answer: Answer | EmptyQuery) -> CaseResult:
    if isinstance(answer, EmptyQuery):
        return CaseResult(case, False, 0.0, None, "", None if not case.expect_text else False)
    wanted = {title_key(t) for t in (*case.relevant, *case.also_relevant)}
    rank = None
    if answer.answered:
        rank = next(
            (i for i, tip in enumerate(answer.tips, 1) if title_key(tip.title) in wanted), None
        )
    top = answer.top
    expect_found: bool | None = None
    if case.expect_text:
        primary = {title_key(t) for t in case.relevant}
        hit = next((tip for tip in answer.tips if title_key(tip.title) in primary), None)
        haystack = (
            " ".join([*hit.steps, *hit.phrases, hit.summary, hit.takeaway]).lower() if hit else ""
        )
        expect_found = bool(hit) and all(text.lower() in haystack for text in case.expect_text)
    title = top.title if top else (answer.suggestions[0].title if answer.suggestions else "")
    return CaseResult(case, answer.answered, answer.confidence, rank, title, expect_found)


def run_eval(coach: Coach, cases: list[EvalCase]) -> EvalReport:
    answers = coach.answer_many([case.query for case in cases], k=RANK_DEPTH)
    return EvalReport(
        [_score_case(case, answer) for case, answer in zip(cases, answers, strict=True)]
    )
