"""BM25 over whole tips: the lexical half of the hybrid ranking.

Dense vectors miss rare exact words ("voicemail", "QA", "7-10 days"); BM25 catches them.
Postings are precomputed per term as (doc ids, weights) arrays, so scoring a query is a
handful of numpy scatter-adds regardless of corpus size.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

STOPWORDS = frozenset(
    (
        "a an the and or but to of in on for with at by from is are was were be been being it its this that these "
        "those i im ive id you youre he she they we me my your our their them his her as so if not no do does did doing "
        "have has had can could would should will just about what how when who which there here than then into out up "
        "down over very too more most get got keep keeps keeping want wants any some all also am us one like"
    ).split()
)
_WORD = re.compile(r"[a-z0-9]+")


def stem(word: str) -> str:
    """A light suffix stripper: enough to match 'refunds'/'refund', 'explaining'/'explain'."""
    for suffix in ("ations", "ation", "ingly", "ings", "ing", "edly", "ed", "ies", "es", "s", "ly"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def tokenize(text: str) -> list[str]:
    text = text.lower().replace("’", "").replace("'", "")
    return [stem(word) for word in _WORD.findall(text) if word not in STOPWORDS]


class BM25:
    """Okapi BM25 (k1=1.2, b=0.75) over a list of documents."""

    def __init__(self, documents: Sequence[str], *, k1: float = 1.2, b: float = 0.75) -> None:
        tokenized = [tokenize(doc) for doc in documents]
        self.size = len(tokenized)
        lengths = np.array([len(doc) for doc in tokenized], dtype=np.float32)
        avg = float(lengths.mean()) if self.size else 1.0
        postings: dict[str, tuple[list[int], list[float]]] = {}
        for doc_id, tokens in enumerate(tokenized):
            for term, freq in Counter(tokens).items():
                ids, tfs = postings.setdefault(term, ([], []))
                norm = k1 * (1 - b + b * lengths[doc_id] / (avg or 1.0))
                ids.append(doc_id)
                tfs.append(freq * (k1 + 1) / (freq + norm))
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for term, (ids, tfs) in postings.items():
            df = len(ids)
            idf = math.log(1 + (self.size - df + 0.5) / (df + 0.5))
            self._postings[term] = (
                np.array(ids, dtype=np.int64),
                np.array(tfs, dtype=np.float32) * idf,
            )

    def scores(self, query: str) -> np.ndarray:
        out = np.zeros(self.size, dtype=np.float32)
        for term in set(tokenize(query)):
            posting = self._postings.get(term)
            if posting is not None:
                np.add.at(out, posting[0], posting[1])
        return out
