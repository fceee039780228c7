"""A learned per-tip scorer over query vectors: which tip do lines like this belong to?

Ranking by nearest chunk asks "which line of which tip is closest?"; real people's long
posts are rarely close to any one line. A softmax classifier fitted on the lines we wrote
for each tip (its situations, *when to use it*, its title) learns, per tip, which
directions of the embedding space speak for it and which speak for its neighbours. Its
centred scores are added to the ranking (``Weights.learned``).

Fitted once per index build from the index's own vectors (a pure function of corpus and
model, so it is versioned with them), in numpy: full-batch gradient descent on the mean
cross-entropy with an L2 penalty, a few seconds on two cores.
"""

from __future__ import annotations

import numpy as np

#: Chunk kinds whose lines say when a tip applies (the classifier's training lines).
SCORER_KINDS = frozenset({"situation", "when", "title"})
#: Inverse strength of the L2 penalty (as scikit-learn's ``C``: loss summed, not averaged).
INVERSE_PENALTY = 1.0
STEPS = 1000
LEARNING_RATE = 4.0


def fit_tip_scorer(vectors: np.ndarray, labels: np.ndarray, n_tips: int) -> np.ndarray:
    """Weights ``(n_tips, dim + 1)`` (the last column the bias) of a softmax regression of
    ``labels`` (tip positions) on unit ``vectors``; zeros when there is nothing to learn."""
    dim = vectors.shape[1] if vectors.ndim == 2 else 0
    weights = np.zeros((n_tips, dim + 1), dtype=np.float64)
    if len(vectors) == 0 or n_tips < 2 or len(np.unique(labels)) < 2:
        return weights.astype(np.float32)
    x = np.hstack([vectors.astype(np.float64), np.ones((len(vectors), 1))])
    target = np.zeros((len(x), n_tips))
    target[np.arange(len(x)), labels] = 1.0
    penalty = 1.0 / (INVERSE_PENALTY * len(x))
    for _ in range(STEPS):
        logits = x @ weights.T
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        grad = (probs - target).T @ x / len(x)
        grad[:, :-1] += penalty * weights[:, :-1]  # the bias is not penalised
        weights -= LEARNING_RATE * grad
    return weights.astype(np.float32)


def tip_scores(weights: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Centred per-tip scores of one query vector: positive where the scorer leans to a tip."""
    if not weights.size:
        return np.zeros(len(weights), dtype=np.float32)
    logits = weights[:, :-1] @ vector.astype(np.float32) + weights[:, -1]
    return (logits - logits.mean()).astype(np.float32)
