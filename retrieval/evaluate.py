"""Quality report for an eval file (the ``../shared/eval`` JSON Lines format).

Each line: ``{"id", "query", "relevant": [titles], "also_relevant": [titles],
"expect_text": [strings]}``, optionally ``"style"`` (``rep``, ``story``, ``customer``,
``typo``, ``multi``, ``uncovered``, ``offtopic``…) and, for a typo'd query, ``"twin"``
(the id of its clean version). An empty ``relevant`` list marks a question that must not
get a confident card: ``style: "uncovered"`` for a real service situation no tip covers,
anything else for an off-topic question, which must be declined outright.

A hit counts only when tips were shown (a confident card, or "these might help").
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrieval.engine import Coach
from retrieval.errors import CoachError, EmptyQuery
from retrieval.ingest import title_key
from retrieval.models import Answer

RANK_DEPTH = 10
UNCOVERED = "uncovered"
NO_STYLE = "-"


@dataclass(frozen=True)
class EvalCase:
    id: str
    query: str
    relevant: tuple[str, ...]
    also_relevant: tuple[str, ...] = ()
    expect_text: tuple[str, ...] = ()
    style: str = NO_STYLE
    twin: str | None = None

    @property
    def on_topic(self) -> bool:
        return bool(self.relevant)

    @property
    def uncovered(self) -> bool:
        """In-domain, but no tip covers it: must not get a confident card."""
        return not self.relevant and self.style == UNCOVERED

    @property
    def off_topic(self) -> bool:
        """Not about serving a customer: must be declined."""
        return not self.relevant and not self.uncovered


@dataclass
class CaseResult:
    case: EvalCase
    answered: bool
    confidence: float
    rank: int | None  # 1-based rank of the first relevant tip among the tips shown
    top_title: str
    expect_found: bool | None
    tier: str = "decline"
    off_topic: bool = False  # declined as not a customer situation (no tips offered)

    @property
    def confident(self) -> bool:
        return self.answered and self.tier == "confident"

    @property
    def correct(self) -> bool:
        """What the coach should do: the right tip first, or no tip for what no tip covers."""
        if self.case.on_topic:
            return self.rank == 1
        if self.case.uncovered:
            return not self.confident
        return not self.answered


def auc(positives: list[float], negatives: list[float]) -> float | None:
    """P(a random positive scores above a random negative), ties counting half."""
    if not positives or not negatives:
        return None
    wins = 0.0
    for p in positives:
        for n in negatives:
            wins += 1.0 if p > n else 0.5 if p == n else 0.0
    return wins / (len(positives) * len(negatives))


def _ranking(results: list[CaseResult]) -> dict[str, Any]:
    n = len(results)
    if not n:
        return {}
    return {
        "n": n,
        "hit@1": sum(1 for r in results if r.rank == 1) / n,
        "hit@3": sum(1 for r in results if r.rank is not None and r.rank <= 3) / n,
        "mrr": sum(1 / r.rank for r in results if r.rank) / n,
        "declined": sum(1 for r in results if not r.answered) / n,
    }


@dataclass
class EvalReport:
    results: list[CaseResult] = field(default_factory=list)

    def _on(self) -> list[CaseResult]:
        return [r for r in self.results if r.case.on_topic]

    def by_style(self) -> dict[str, dict[str, Any]]:
        """Per style: ranking figures for answerable styles, decline rates for the others."""
        groups: dict[str, list[CaseResult]] = defaultdict(list)
        for result in self.results:
            groups[result.case.style].append(result)
        table: dict[str, dict[str, Any]] = {}
        for style, results in sorted(groups.items()):
            on = [r for r in results if r.case.on_topic]
            rest = [r for r in results if not r.case.on_topic]
            row = _ranking(on)
            if rest:
                row["n"] = row.get("n", 0) + len(rest)
                row["declined"] = sum(1 for r in rest if not r.answered) / len(rest)
                row["not_confident"] = sum(1 for r in rest if not r.confident) / len(rest)
            table[style] = row
        return table

    def typo_gap(self) -> dict[str, Any] | None:
        """hit@1 of typo'd queries against their clean twins in the same file."""
        by_id = {r.case.id: r for r in self.results}
        pairs = [
            (r, by_id[r.case.twin])
            for r in self.results
            if r.case.twin and r.case.twin in by_id and r.case.on_topic
        ]
        if not pairs:
            return None
        typo = sum(1 for t, _ in pairs if t.rank == 1) / len(pairs)
        clean = sum(1 for _, c in pairs if c.rank == 1) / len(pairs)
        return {"pairs": len(pairs), "typo_hit@1": typo, "clean_hit@1": clean, "gap": clean - typo}

    def metrics(self) -> dict[str, Any]:
        on = self._on()
        off = [r for r in self.results if r.case.off_topic]
        uncovered = [r for r in self.results if r.case.uncovered]
        expect = [r for r in on if r.expect_found is not None]
        confident = [r for r in self.results if r.confident]
        n = max(1, len(on))
        return {
            "cases": len(self.results),
            "on_topic": len(on),
            "off_topic": len(off),
            "uncovered": len(uncovered),
            "hit@1": sum(1 for r in on if r.rank == 1) / n,
            "hit@3": sum(1 for r in on if r.rank is not None and r.rank <= 3) / n,
            "mrr": sum(1 / r.rank for r in on if r.rank) / n,
            "off_topic_declined": (sum(1 for r in off if not r.answered) / len(off))
            if off
            else 1.0,
            "off_topic_recognised": (sum(1 for r in off if r.off_topic) / len(off))
            if off
            else None,
            "uncovered_not_confident": (
                sum(1 for r in uncovered if not r.confident) / len(uncovered)
            )
            if uncovered
            else None,
            "wrongly_declined": sum(1 for r in on if not r.answered),
            "confident_answers": len(confident),
            "confident_precision": (sum(1 for r in confident if r.rank == 1) / len(confident))
            if confident
            else None,
            "auc": auc(
                [r.confidence for r in on],
                [r.confidence for r in self.results if not r.case.on_topic],
            ),
            "expect_text_found": (sum(1 for r in expect if r.expect_found) / len(expect))
            if expect
            else 1.0,
            "styles": self.by_style(),
            "typos": self.typo_gap(),
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
                    style=str(row.get("style") or NO_STYLE),
                    twin=str(row["twin"]) if row.get("twin") else None,
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
    return CaseResult(
        case,
        answer.answered,
        answer.confidence,
        rank,
        title,
        expect_found,
        tier=answer.tier or ("confident" if answer.answered else "decline"),
        off_topic=answer.off_topic,
    )


def run_eval(coach: Coach, cases: list[EvalCase]) -> EvalReport:
    answers = coach.answer_many([case.query for case in cases], k=RANK_DEPTH)
    return EvalReport(
        [_score_case(case, answer) for case, answer in zip(cases, answers, strict=True)]
    )
