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

from retrieval.chunking import is_heading
from retrieval.index import IndexData
from retrieval.lexical import BM25
from retrieval.models import Answer, LineOrigin, Suggestion, Tip, TipAnswer
from retrieval.scorer import tip_scores


@dataclass(frozen=True)
class Weights:
    """How the signals blend into a tip's ranking score; dense terms are on the cosine scale."""

    whole: float = 1.0
    fine: float = 1.0
    lexical: float = 0.3
    centroid: float = 0.5  # the tip's centroid: the mean of all its vectors, normalised
    learned: float = 0.0  # the learned tip scorer's centred scores (retrieval.scorer)
    title_repeat: int = 2  # the title counts this many times in the BM25 document


@dataclass(frozen=True)
class ExtraSituations:
    """Situations the caller adds to one query, e.g. what a workspace's leads taught the bot.

    Each row is a unit vector (encoded once by :meth:`retrieval.engine.Coach.situations`)
    and the tip it points to; it counts exactly like a corpus situation chunk of that tip.
    Kept outside the index so one index serves every workspace and nothing is rebuilt.
    """

    tip_ids: tuple[str, ...]
    vectors: np.ndarray  # (len(tip_ids), dim) float32, rows normalised

    def __len__(self) -> int:
        return len(self.tip_ids)


@dataclass(frozen=True)
class Evidence:
    """How the best tip matched a query: the inputs of the confidence."""

    score: float  # its ranking score
    gap: float  # how far ahead of the runner-up it is
    dense: float  # its dense (cosine) score
    background: float  # similarity to the nearest off-topic background question
    lexical: float  # its raw BM25 score

    @property
    def contrast(self) -> float:
        """Positive when the query is nearer the tip than anything off-topic."""
        return self.dense - self.background


@dataclass(frozen=True)
class Calibration:
    """Confidence that the best tip is the right one: a logistic over its :class:`Evidence`.

    ``z = bias + score·s + gap·g + contrast·(dense − background) + lexical·min(bm25, cap)/cap``.
    The defaults suit a model without a fit of its own (tests' hashing encoder); a model
    directory carries its own in ``model_fit.json`` (:mod:`retrieval.calibrate`), fitted on
    the tune splits (``coach eval tests/eval/tune.jsonl tests/eval/real/tune.jsonl --fit``),
    where "right" means the tip a second, independent labeller chose; uncovered and
    off-topic situations count as wrong, so their confidence is pushed down too.

    A query much nearer the off-topic background than any tip (``contrast`` below
    ``off_topic_margin``) is off-topic: declined without offering tips, whatever its
    confidence (an off-topic question can look sure: "a good pizza place near the office"
    scores 0.76 against the customer-service-week tip).
    """

    score: float = 11.1249
    gap: float = 5.4544
    contrast: float = 0.7479
    lexical: float = 3.2552
    bias: float = -13.5544
    lexical_cap: float = 15.0
    off_topic_margin: float = 0.01

    def z(self, evidence: Evidence) -> float:
        return (
            self.bias
            + self.score * evidence.score
            + self.gap * evidence.gap
            + self.contrast * evidence.contrast
            + self.lexical * min(evidence.lexical, self.lexical_cap) / self.lexical_cap
        )

    def confidence(self, evidence: Evidence) -> float:
        z = self.z(evidence)
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def off_topic(self, evidence: Evidence) -> bool:
        return evidence.contrast < self.off_topic_margin


MAX_STEPS = 5
MAX_PHRASES = 3
MIN_PHRASES = 2
#: A tip with fewer steps of its own than this shows its play's steps instead.
MIN_OWN_STEPS = 3
SUMMARY_CHARS = 280
#: A card shows at most this many words of one of a tip's own steps (the rest: "Show full tip").
STEP_WORDS = 40
#: "These might help" shows this many tips; a decline offers as many situations.
UNSURE_TIPS = 3
#: A situation offered on a button must be short enough to read at a glance.
SUGGESTION_WORDS = 14


def card_step(text: str, limit: int = STEP_WORDS) -> str:
    """A tip's own step as a card shows it: whole sentences up to ``limit`` words, then "…".

    Authors write steps as paragraphs; mid-call a rep reads the instruction, and "Show
    full tip" has the rest. The first sentence is kept even when it alone is long (cut at
    a word, marked).
    """
    words = text.split()
    if len(words) <= limit:
        return " ".join(words)
    kept: list[str] = []
    for sentence in re.split(r"(?<=[.!?…])\s+", " ".join(words)):
        if kept and len(" ".join([*kept, sentence]).split()) > limit:
            break
        kept.append(sentence)
    shown = " ".join(kept).split()
    if len(shown) > limit:
        shown = shown[: limit - 1]
    return " ".join(shown).rstrip(",;:–-") + " …"


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
        *,
        plays: bool = True,
    ) -> None:
        self.data = data
        self.plays = plays
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
        # Exact search over a small index: one matrix product, then per-tip maxima over the
        # units sorted by tip (faster than a top-k search that keeps thousands of candidates).
        self.exact = not hasattr(data.vectors, "hnsw")
        self._by_tip = order
        self._tip_starts = bounds[:-1][np.diff(bounds) > 0]
        self._tips_present = np.flatnonzero(np.diff(bounds) > 0)
        self._whole_by_tip = data.unit_whole[order] if len(order) else np.zeros(0, bool)
        # Per tip, computed once: each unit's chunk (as a local index), the short situations a
        # decline can offer, and which paragraphs are headings.
        self._local_chunks: list[tuple[np.ndarray, np.ndarray]] = []
        for units in self.units_of:
            chunks, local = np.unique(data.unit_chunk[units], return_inverse=True)
            self._local_chunks.append((chunks, local))
        offerable = np.array(
            [
                c.kind == "situation" and len(c.text.split()) <= SUGGESTION_WORDS
                for c in data.chunks
            ],
            dtype=bool,
        )
        self._offerable = (
            offerable[data.unit_chunk] & data.unit_whole if len(data.units) else offerable[:0]
        )
        self._headings = [
            tuple(i for i, p in enumerate(tip.paragraphs) if is_heading(p)) for tip in data.tips
        ]
        self.centroids = np.zeros((len(data.tips), self.matrix.shape[1]), np.float32)
        for i, units in enumerate(self.units_of):
            if len(units):
                mean = self.matrix[units].mean(axis=0)
                self.centroids[i] = mean / max(float(np.linalg.norm(mean)), 1e-9)
        if hasattr(data.vectors, "hnsw"):  # a graph returns at most efSearch neighbours
            self.candidates = min(self.candidates, int(data.vectors.hnsw.efSearch))

    # -- ranking -------------------------------------------------------------------------

    def dense_scores(
        self, query_vector: np.ndarray, extra: ExtraSituations | None = None
    ) -> np.ndarray:
        """Dense part of the blend per tip: best whole chunk and best unit of any size
        (``extra`` situations count as whole chunks of their tips)."""
        data, w = self.data, self.weights
        n_tips = len(data.tips)
        whole = np.full(n_tips, -1.0, dtype=np.float32)
        fine = np.full(n_tips, -1.0, dtype=np.float32)
        total = data.vectors.ntotal
        if total and self.exact:
            sims = (self.matrix @ query_vector.astype(np.float32))[self._by_tip]
            fine[self._tips_present] = np.maximum.reduceat(sims, self._tip_starts)
            only_whole = np.where(self._whole_by_tip, sims, np.float32(-2.0))
            whole[self._tips_present] = np.maximum.reduceat(only_whole, self._tip_starts)
            whole = np.where(whole < -0.5, fine, whole)
        elif total:
            k = min(total, self.candidates)
            sims, ids = data.vectors.search(query_vector.reshape(1, -1).astype(np.float32), k)
            keep = ids[0] >= 0
            sims, ids = sims[0][keep], ids[0][keep]
            tips = data.unit_tip[ids]
            np.maximum.at(fine, tips, sims)
            is_whole = data.unit_whole[ids]
            np.maximum.at(whole, tips[is_whole], sims[is_whole])
            whole = np.where(whole < -0.5, fine, whole)
        if extra is not None and len(extra):
            self._add_extra(whole, fine, query_vector, extra)
        return (w.whole * whole + w.fine * fine) / (w.whole + w.fine)

    def _add_extra(
        self, whole: np.ndarray, fine: np.ndarray, query_vector: np.ndarray, extra: ExtraSituations
    ) -> None:
        """Raise each tip's best match to its best extra situation (unknown tips: skipped)."""
        positions = np.array([self.data.tip_pos.get(t, -1) for t in extra.tip_ids], dtype=np.int64)
        known = positions >= 0
        if not known.any():
            return
        sims = (extra.vectors[known] @ query_vector.astype(np.float32)).astype(np.float32)
        np.maximum.at(whole, positions[known], sims)
        np.maximum.at(fine, positions[known], sims)

    def signals(
        self, query_vector: np.ndarray, text: str, extra: ExtraSituations | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per tip: the dense score, raw BM25, and their blend with the centroid (the ranking)."""
        dense = self.dense_scores(query_vector, extra)
        bm25 = self.bm25.scores(text)
        best = float(bm25.max()) if bm25.size else 0.0
        blended = (
            dense
            + self.weights.lexical * (bm25 / best if best > 0 else bm25)
            + self.weights.centroid * (self.centroids @ query_vector)
        )
        if self.data.scorer.size and self.weights.learned:
            blended = blended + self.weights.learned * tip_scores(self.data.scorer, query_vector)
        return dense, bm25, blended

    def unit_sims(self, tip_index: int, query_vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        units = self.units_of[tip_index]
        return units, self.matrix[units] @ query_vector

    # -- answers --------------------------------------------------------------------------

    def chunk_relevance(self, tip_index: int, query_vector: np.ndarray) -> dict[int, float]:
        """Best similarity of each chunk of a tip (over the chunk and its sentences)."""
        _, sims = self.unit_sims(tip_index, query_vector)
        chunks, local = self._local_chunks[tip_index]
        best = np.full(len(chunks), -2.0, dtype=np.float32)
        np.maximum.at(best, local, sims)
        return dict(zip(chunks.tolist(), best.tolist(), strict=True))

    def tip_answer(
        self, tip_index: int, score: float, query_vector: np.ndarray | None
    ) -> TipAnswer:
        """A tip with the steps and phrases to show; the whole tip without a query.

        Steps keep the author's order and numbers; with a query, a long list is cut to
        the :data:`MAX_STEPS` that fit best (still in order) and the best one is
        highlighted, never moved. A tip with fewer than :data:`MIN_OWN_STEPS` steps of
        its own shows its play's steps; phrases are the tip's own, then the play's.
        """
        data = self.data
        tip = data.tips[tip_index]
        chunk_ids = data.chunks_of.get(tip.id, [])
        relevance = (
            self.chunk_relevance(tip_index, query_vector) if query_vector is not None else {}
        )
        play = tip.play if self.plays else None

        def of_kind(kind: str) -> list[int]:
            return [i for i in chunk_ids if data.chunks[i].kind == kind]

        def best_first(found: list[int]) -> list[int]:
            return sorted(found, key=lambda i: -relevance.get(i, -1.0)) if relevance else found

        own_steps = of_kind("step")
        highlight: int | None = None
        step_leads: tuple[str, ...] = ()
        if len(own_steps) >= MIN_OWN_STEPS or (own_steps and play is None):
            shown = own_steps
            if relevance and len(shown) > MAX_STEPS:
                keep = set(best_first(shown)[:MAX_STEPS])
                shown = [i for i in shown if i in keep]
            if relevance and len(shown) > 1:
                best = best_first(shown)[0]
                highlight = shown.index(best)
            step_origin: LineOrigin = "tip"
            steps = tuple(card_step(data.chunks[i].text) for i in shown)
            step_numbers = tuple(data.chunks[i].number for i in shown)
            used = list(shown)
        elif play is not None:
            step_origin = "play"
            steps = tuple(step.text for step in play.steps)
            step_leads = tuple(step.lead for step in play.steps)
            step_numbers = tuple(range(1, len(steps) + 1))
            used = of_kind("play_step")
        else:
            step_origin, steps, step_numbers, used = "tip", (), (), []

        own_phrases = best_first(of_kind("phrase"))
        play_phrases = best_first(of_kind("play_phrase")) if play is not None else []
        if relevance:
            own_phrases = own_phrases[:MAX_PHRASES]
            play_phrases = play_phrases[: max(0, MAX_PHRASES - len(own_phrases))]
            if play_phrases and len(own_phrases) + len(play_phrases) < MIN_PHRASES:
                play_phrases = best_first(of_kind("play_phrase"))[:MIN_PHRASES]
        phrase_ids = [*own_phrases, *play_phrases]
        phrase_origins: tuple[LineOrigin, ...] = ("tip",) * len(own_phrases) + ("play",) * len(
            play_phrases
        )
        used += phrase_ids

        takeaway = next(
            (data.chunks[i].text for i in chunk_ids if data.chunks[i].kind == "takeaway"), ""
        )
        if tip.full:
            first = next(
                (data.chunks[i].text for i in chunk_ids if data.chunks[i].kind == "passage"), ""
            )
            summary = takeaway or trim_summary(first)
        else:
            summary = trim_summary(tip.teaser)
        return TipAnswer(
            id=tip.id,
            title=tip.title,
            date=tip.date,
            score=float(score),
            steps=steps,
            phrases=tuple(data.chunks[i].text for i in phrase_ids),
            summary=summary,
            source=tip.source,
            categories=tip.categories,
            full=tip.full,
            takeaway=takeaway,
            chunk_ids=tuple(data.chunks[i].id for i in used),
            step_origin=step_origin,
            step_numbers=step_numbers,
            step_leads=step_leads,
            highlight=highlight,
            phrase_origins=phrase_origins,
            when=play.when if play else "",
            avoid=play.avoid if play else (),
            play_takeaway=play.takeaway if play else "",
            body=tip.paragraphs if tip.paragraphs else ((tip.teaser,) if tip.teaser else ()),
            body_headings=self._headings[tip_index],
            url=tip.url,
            excerpt=not tip.full,
        )

    def evidence(
        self,
        order: list[int],
        scores: np.ndarray,
        dense: np.ndarray,
        bm25: np.ndarray,
        vector: np.ndarray,
    ) -> Evidence:
        best = order[0]
        runner_up = float(scores[order[1]]) if len(order) > 1 else float(scores[best]) - 1.0
        background = (
            float((self.data.background @ vector).max()) if len(self.data.background) else 0.0
        )
        return Evidence(
            score=float(scores[best]),
            gap=float(scores[best]) - runner_up,
            dense=float(dense[best]),
            background=background,
            lexical=float(bm25[best]),
        )

    def nearest_situation(self, tip_index: int, query_vector: np.ndarray) -> str:
        """The tip's short situation (or *when to use it*) nearest the query, for a button."""
        units, sims = self.unit_sims(tip_index, query_vector)
        offerable = self._offerable[units]
        if not offerable.any():
            return ""
        best = units[offerable][int(np.argmax(sims[offerable]))]
        return self.data.chunks[int(self.data.unit_chunk[best])].text

    def answer(
        self,
        query: str,
        query_vector: np.ndarray,
        text: str,
        *,
        k: int = 3,
        min_confidence: float = 0.13,
        sure_confidence: float = 0.6,
        exclude: Collection[str] = (),
        extra: ExtraSituations | None = None,
    ) -> Answer:
        """One confident card, "these might help" when unsure, or a decline.

        With ``exclude`` (the rep pressed "Next best tip") the next tip in the ranking is
        shown whatever its confidence: the rep asked for it, a fresh decline would be a
        dead end. ``extra`` situations match like the corpus's own (see
        :class:`ExtraSituations`).
        """
        data = self.data
        if not data.tips:
            return Answer(query=query, answered=False, confidence=0.0)
        dense, bm25, scores = self.signals(query_vector, text, extra)
        for tip_id in exclude:
            position = data.tip_pos.get(tip_id)
            if position is not None:
                scores[position] = -np.inf
        order = top_indices(scores, max(k, UNSURE_TIPS))
        if not order:
            return Answer(query=query, answered=False, confidence=0.0)
        evidence = self.evidence(order, scores, dense, bm25, query_vector)
        confidence = self.calibration.confidence(evidence)
        # "Next best tip" and a min_confidence of 0 (answer everything) never decline.
        off_topic = self.calibration.off_topic(evidence) and not exclude and min_confidence > 0
        if exclude:
            tier = "confident" if confidence >= sure_confidence else "unsure"
        elif off_topic or confidence < min_confidence:
            tier = "decline"
        elif confidence < sure_confidence:
            tier = "unsure"
        else:
            tier = "confident"
        if tier == "decline":
            suggestions = (
                ()
                if off_topic
                else tuple(
                    Suggestion(
                        data.tips[i].id,
                        data.tips[i].title,
                        float(scores[i]),
                        self.nearest_situation(i, query_vector),
                    )
                    for i in order[:UNSURE_TIPS]
                )
            )
            return Answer(
                query=query,
                answered=False,
                confidence=confidence,
                suggestions=suggestions,
                tier="decline",
                off_topic=off_topic,
            )
        shown = order[: max(k, UNSURE_TIPS if tier == "unsure" else 1)]
        tips = tuple(self.tip_answer(i, float(scores[i]), query_vector) for i in shown)
        return Answer(query=query, answered=True, confidence=confidence, tips=tips, tier=tier)
