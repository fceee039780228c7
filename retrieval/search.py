"""Rank tips for a situation and pick the steps and phrases that fit it.

Arrays in the middle: the query arrives as a unit vector and its text; the index holds
one vector per search unit (whole chunk or sentence window). A tip's score blends

* the best whole-chunk match (a step, phrase, situation, passage or the title),
* the best match at any granularity (one apt sentence inside a long paragraph), and
* BM25 over the tip's full text (exact rare words the model blurs),

and a calibrated logistic turns the top score into a confidence in [0, 1].
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from retrieval.index import IndexData
from retrieval.lexical import BM25
from retrieval.models import Answer, Suggestion, Tip, TipAnswer


@dataclass(frozen=True)
class Weights:
    """How the three signals blend; the dense terms are on the cosine scale."""

    whole: float = 1.0
    fine: float = 1.0
    lexical: float = 0.3
    title_repeat: int = 2  # the title counts this many times in the BM25 document


@dataclass(frozen=True)
class Calibration:
    """Confidence from three signals of the best tip, through a logistic.

    ``evidence = dense + contrast * (dense - background) + lexical * min(bm25, cap)``:
    how well the best tip matches, how much better it matches than the nearest off-topic
    background question, and whether the tip shares rare words with the query.
    Confidence is 0.5 where ``evidence == center``.
    """

    contrast: float = 0.5
    lexical: float = 0.01
    lexical_cap: float = 15.0
    center: float = 0.53
    scale: float = 0.07

    def evidence(self, dense: float, background: float, bm25: float) -> float:
        return (
            dense
            + self.contrast * (dense - background)
            + self.lexical * min(bm25, self.lexical_cap)
        )

    def confidence(self, dense: float, background: float, bm25: float) -> float:
        z = (self.evidence(dense, background, bm25) - self.center) / self.scale
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


MAX_STEPS = 5
MAX_PHRASES = 3
SUMMARY_CHARS = 280


def tip_document(tip: Tip, title_repeat: int) -> str:
    return " ".join(
        [tip.title] * title_repeat + list(tip.situations) + [tip.teaser, *tip.paragraphs]
    )


def trim_summary(text: str, limit: int = SUMMARY_CHARS) -> str:
    """Cut at a sentence end before ``limit`` (teasers stop mid-sentence), else at a word."""
    text = " ".join(text.split())
    if len(text) <= limit and text.endswith((".", "!", "?", "…", "”", '"')):
        return text
    window = text[:limit]
    ends = [m.end() for m in re.finditer(r"[.!?…][”\"]?(?=\s|$)", window)]
    if ends and ends[-1] > limit // 3:
        return window[: ends[-1]].strip()
    cut = window.rsplit(" ", 1)[0] if len(text) > limit else window
    return cut.rstrip(",;:–- ") + "…"


def top_indices(scores: np.ndarray, n: int) -> list[int]:
    """Indices of the ``n`` best finite scores, best first (ties keep index order)."""
    finite = np.flatnonzero(np.isfinite(scores))
    if finite.size > 4 * n:
        finite = finite[np.argpartition(-scores[finite], n - 1)[:n]]
        finite.sort()
    ranked = finite[np.argsort(-scores[finite], kind="stable")]
    return [int(i) for i in ranked[:n]]


class Ranker:
    """Scores every tip for a query vector; stateless per query, safe to share across threads."""

    def __init__(
        self,
        data: IndexData,
        weights: Weights | None = None,
        calibration: Calibration | None = None,
        candidates: int = 2048,
    ) -> None:
        self.data = data
        self.weights = weights or Weights()
        self.calibration = calibration or Calibration()
        self.candidates = candidates
        self.bm25 = BM25([tip_document(t, self.weights.title_repeat) for t in data.tips])
        total = data.vectors.ntotal
        self.matrix = (
            data.vectors.reconstruct_n(0, total)
            if total
            else np.zeros((0, data.vectors.d), np.float32)
        )
        # Units grouped by tip in one pass (a per-tip scan is quadratic at 100k units).
        order = np.argsort(data.unit_tip, kind="stable")
        bounds = np.searchsorted(data.unit_tip[order], np.arange(len(data.tips) + 1))
        self.units_of = [order[bounds[i] : bounds[i + 1]] for i in range(len(data.tips))]
        if hasattr(data.vectors, "hnsw"):  # a graph returns at most efSearch neighbours
            self.candidates = min(self.candidates, int(data.vectors.hnsw.efSearch))

    # -- ranking -------------------------------------------------------------------------

    def dense_scores(self, query_vector: np.ndarray) -> np.ndarray:
        """Dense part of the blend per tip: best whole chunk and best unit of any size."""
        data, w = self.data, self.weights
        n_tips = len(data.tips)
        whole = np.full(n_tips, -1.0, dtype=np.float32)
        fine = np.full(n_tips, -1.0, dtype=np.float32)
        total = data.vectors.ntotal
        if total:
            k = min(total, self.candidates)
            sims, ids = data.vectors.search(query_vector.reshape(1, -1).astype(np.float32), k)
            keep = ids[0] >= 0
            sims, ids = sims[0][keep], ids[0][keep]
            tips = data.unit_tip[ids]
            np.maximum.at(fine, tips, sims)
            is_whole = data.unit_whole[ids]
            np.maximum.at(whole, tips[is_whole], sims[is_whole])
            whole = np.where(whole < -0.5, fine, whole)
        return (w.whole * whole + w.fine * fine) / (w.whole + w.fine)

    def signals(
        self, query_vector: np.ndarray, text: str
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per tip: the dense score, raw BM25, and their blend (the ranking score)."""
        dense = self.dense_scores(query_vector)
        bm25 = self.bm25.scores(text)
        best = float(bm25.max()) if bm25.size else 0.0
        blended = dense + self.weights.lexical * (bm25 / best if best > 0 else bm25)
        return dense, bm25, blended

    def unit_sims(self, tip_index: int, query_vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        units = self.units_of[tip_index]
        return units, self.matrix[units] @ query_vector

    # -- answers --------------------------------------------------------------------------

    def chunk_relevance(self, tip_index: int, query_vector: np.ndarray) -> dict[int, float]:
        """Best similarity of each chunk of a tip (over the chunk and its sentences)."""
        units, sims = self.unit_sims(tip_index, query_vector)
        best: dict[int, float] = {}
        for unit, sim in zip(units.tolist(), sims.tolist(), strict=True):
            chunk = int(self.data.unit_chunk[unit])
            if sim > best.get(chunk, -2.0):
                best[chunk] = sim
        return best

    def tip_answer(
        self, tip_index: int, score: float, query_vector: np.ndarray | None
    ) -> TipAnswer:
        """A tip with its steps and phrases, most relevant first (reading order without a query)."""
        data = self.data
        tip = data.tips[tip_index]
        chunk_ids = data.chunks_of.get(tip.id, [])
        relevance = (
            self.chunk_relevance(tip_index, query_vector) if query_vector is not None else {}
        )

        def ordered(kind: str) -> list[int]:
            found = [i for i in chunk_ids if data.chunks[i].kind == kind]
            if relevance:
                found.sort(key=lambda i: -relevance.get(i, -1.0))
            return found

        steps = ordered("step")
        if query_vector is not None and len(steps) > MAX_STEPS:
            best = relevance.get(steps[0], 0.0)
            steps = [i for i in steps if relevance.get(i, -1.0) >= best - 0.12][:MAX_STEPS]
        phrases = ordered("phrase")
        if query_vector is not None:
            phrases = phrases[:MAX_PHRASES]
        takeaway = next(
            (data.chunks[i].text for i in chunk_ids if data.chunks[i].kind == "takeaway"), ""
        )
        if not steps and not phrases and tip.full and query_vector is not None:
            # A full post without explicit steps: its most relevant passage is the advice.
            steps = ordered("passage")[:1]
        if tip.full:
            first = next(
                (data.chunks[i].text for i in chunk_ids if data.chunks[i].kind == "passage"), ""
            )
            summary = takeaway or trim_summary(first)
        else:
            summary = trim_summary(tip.teaser)
        used = [*steps, *phrases]
        return TipAnswer(
            id=tip.id,
            title=tip.title,
            date=tip.date,
            score=float(score),
            steps=tuple(data.chunks[i].text for i in steps),
            phrases=tuple(data.chunks[i].text for i in phrases),
            summary=summary,
            source=tip.source,
            categories=tip.categories,
            full=tip.full,
            takeaway=takeaway,
            chunk_ids=tuple(data.chunks[i].id for i in used),
        )

    def answer(
        self,
        query: str,
        query_vector: np.ndarray,
        text: str,
        *,
        k: int = 3,
        min_confidence: float = 0.5,
        exclude: Collection[str] = (),
    ) -> Answer:
        data = self.data
        if not data.tips:
            return Answer(query=query, answered=False, confidence=0.0)
        dense, bm25, scores = self.signals(query_vector, text)
        for tip_id in exclude:
            position = data.tip_pos.get(tip_id)
            if position is not None:
                scores[position] = -np.inf
        order = top_indices(scores, max(k, 3))
        if not order:
            return Answer(query=query, answered=False, confidence=0.0)
        background = float((data.background @ query_vector).max()) if len(data.background) else 0.0
        confidence = self.calibration.confidence(
            float(dense[order[0]]), background, float(bm25[order[0]])
        )
        suggestions = tuple(
            Suggestion(data.tips[i].id, data.tips[i].title, float(scores[i])) for i in order[:3]
        )
        if confidence < min_confidence:
            return Answer(
                query=query, answered=False, confidence=confidence, suggestions=suggestions
            )
        tips = tuple(self.tip_answer(i, float(scores[i]), query_vector) for i in order[: max(1, k)])
        return Answer(
            query=query, answered=True, confidence=confidence, tips=tips, suggestions=suggestions
        )
