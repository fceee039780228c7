"""Fit the confidence model on the tune split: ``coach eval tests/eval/tune.jsonl --fit``.

The confidence answers one question: *is the best tip the one a person would pick?* So
every tune case becomes one example: the :class:`~retrieval.search.Evidence` of its best
tip, labelled 1 when that tip is a right answer and 0 otherwise (uncovered and off-topic
situations are always 0). A small logistic regression (Newton's method, a little L2, no
extra dependency) gives the weights of :class:`~retrieval.search.Calibration`; the tier
thresholds are then read off the tune cases:

* ``off_topic_margin``: the highest margin (a query nearer the off-topic background than
  this to its best tip is off-topic) that flags at most ``max_flagged`` of the cases whose
  best tip is right (flagging a wrong answer costs the rep nothing);
* ``sure_confidence``: the lowest threshold whose confident answers are right at least
  ``precision`` of the time (a rep trusts one card);
* ``min_confidence``: the highest threshold that still declines at most ``max_declined``
  of the answerable cases besides those called off-topic (below it: a decline; between the
  two: "these might help").

Never fit on the test split: its figures are only worth reporting if it stayed unseen.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from retrieval.engine import Coach
from retrieval.evaluate import EvalCase
from retrieval.ingest import title_key
from retrieval.search import Calibration, Evidence, top_indices


@dataclass(frozen=True)
class Fit:
    calibration: Calibration
    min_confidence: float
    sure_confidence: float
    examples: int
    positives: int


def _features(evidence: Evidence, cap: float) -> list[float]:
    return [
        evidence.score,
        evidence.gap,
        evidence.contrast,
        min(evidence.lexical, cap) / cap,
    ]


def evidence_for(coach: Coach, cases: list[EvalCase]) -> list[tuple[Evidence, bool]]:
    """Each case's best-tip evidence, and whether that tip is a right answer."""
    ranker = coach.ranker
    texts = [coach.prepare(case.query) for case in cases]
    vectors = coach.encoder.encode(texts)
    examples: list[tuple[Evidence, bool]] = []
    for case, text, vector in zip(cases, texts, vectors, strict=True):
        dense, bm25, scores = ranker.signals(vector, text)
        order = top_indices(scores, 2)
        evidence = ranker.evidence(order, scores, dense, bm25, vector)
        wanted = {title_key(t) for t in (*case.relevant, *case.also_relevant)}
        right = title_key(coach.data.tips[order[0]].title) in wanted
        examples.append((evidence, right))
    return examples


def logistic(x: np.ndarray, y: np.ndarray, l2: float = 0.01, steps: int = 50) -> np.ndarray:
    """Weights (bias last) of an L2-regularised logistic regression, by Newton's method."""
    design = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(design.shape[1])
    penalty = np.eye(design.shape[1]) * l2
    penalty[-1, -1] = 0.0  # the bias is not shrunk
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ w, -50, 50)))
        gradient = design.T @ (p - y) + penalty @ w
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + penalty
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(w)), gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def fit(
    coach: Coach,
    cases: list[EvalCase],
    *,
    precision: float = 0.92,
    max_declined: float = 0.03,
    max_flagged: float = 0.01,
    margin: float | None = None,
) -> Fit:
    """``margin``: the off-topic margin to use as it is (else fitted, as the module says)."""
    base = coach.ranker.calibration
    examples = evidence_for(coach, cases)
    x = np.array([_features(e, base.lexical_cap) for e, _ in examples], dtype=np.float64)
    y = np.array([1.0 if right else 0.0 for _, right in examples])
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    w = logistic((x - mean) / std, y)
    scaled = w[:-1] / std
    bias = float(w[-1] - (scaled * mean).sum())
    calibration = replace(
        base,
        score=float(scaled[0]),
        gap=float(scaled[1]),
        contrast=float(scaled[2]),
        lexical=float(scaled[3]),
        bias=bias,
    )
    answerable = np.array([bool(case.relevant) for case in cases])
    contrast = np.array([e.contrast for e, _ in examples])
    right = y == 1.0
    if margin is None:
        margin = -0.1
        for candidate in np.round(np.arange(-0.1, 0.1001, 0.01), 2):
            if right.any() and (contrast[right] < candidate).mean() > max_flagged:
                break
            margin = float(candidate)
    calibration = replace(calibration, off_topic_margin=round(margin, 2))
    confidence = np.array([calibration.confidence(e) for e, _ in examples])
    off = np.array([calibration.off_topic(e) for e, _ in examples])

    sure = 0.99
    for threshold in np.arange(0.50, 0.99, 0.01):
        chosen = confidence >= threshold
        if chosen.any() and y[chosen].mean() >= precision:
            sure = float(threshold)
            break
    # Declines by confidence alone, beyond what is already off-topic; never 0, which would
    # mean "answer everything" and switch off-topic declines off too.
    low = 0.01
    for threshold in np.arange(0.01, sure, 0.01):
        declined = (confidence < threshold) & ~off
        if answerable.any() and declined[answerable].mean() > max_declined:
            break
        low = float(threshold)
    return Fit(calibration, round(low, 2), round(sure, 2), len(examples), int(y.sum()))
