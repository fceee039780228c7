"""Type-ahead for "Find a tip": the lines a rep recognises (situations, a play's "when to
use it", tip titles) that fit what they have typed so far.

A select menu asks again on every keystroke and must be answered within Slack's 3 s, so
this is plain token matching over a few hundred short lines, no model call: a typed word
matches a corpus word exactly, by its stem, once mended by the :class:`Speller`
("supervisr" → "supervisor", "cust" → "customer"), or, for the word still being typed,
as its beginning (also with one typo in it). Lines that match more of the typed words
rank first, rarer words weighing more.
"""

from __future__ import annotations

import math
import unicodedata
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from retrieval.lexical import STOPWORDS, stem
from retrieval.models import Chunk, ChunkKind, Completion
from retrieval.spelling import Speller, distance

#: The chunk kinds a rep can pick from, and how much each is preferred on a tie.
KIND_BONUS: dict[str, float] = {"situation": 0.06, "when": 0.03, "title": 0.0}
#: Relevance lost per word of a line (up to 50 words).
LENGTH_COST = 0.007
#: At most this many options lead to the same tip, so one tip cannot fill the menu.
MAX_PER_TIP = 3
#: Words of a query beyond this are not matched (a menu query is a few words).
MAX_WORDS = 12
#: A finished word shorter than this is not read as the beginning of a longer one.
MIN_PREFIX = 3
#: Typed words whose matches are remembered (reps type the same few hundred words).
MATCH_CACHE = 4096
#: A word still being typed this long may carry one typo ("supervs" → "supervisor").
MIN_FUZZY_PREFIX = 4

# How sure a match is, by the way the typed word matched a corpus word.
EXACT, SAME_STEM, MENDED, PREFIX_TYPING, PREFIX_DONE, NEAR_PREFIX = 1.0, 0.9, 0.85, 0.8, 0.7, 0.6


def words_of(text: str) -> list[str]:
    """Lower-case words: full-width and other compatibility forms folded, apostrophes dropped."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("’", "").replace("'", "")
    out: list[str] = []
    word = []
    for ch in folded:
        if ch.isascii() and ch.isalnum():
            word.append(ch)
        elif word:
            out.append("".join(word))
            word = []
    if word:
        out.append("".join(word))
    return out


@dataclass(frozen=True)
class _Line:
    label: str
    tip_id: str
    kind: ChunkKind
    words: tuple[str, ...]


class Typeahead:
    """Built once per index (a few milliseconds); :meth:`suggest` is read-only, so threads
    may share it."""

    def __init__(self, chunks: Sequence[Chunk], speller: Speller | None = None) -> None:
        self.speller = speller
        self.lines: list[_Line] = []
        seen: set[tuple[str, str]] = set()
        for chunk in chunks:
            if chunk.kind not in KIND_BONUS:
                continue
            label = " ".join(chunk.text.split())
            key = (chunk.tip_id, label.casefold())
            words = tuple(dict.fromkeys(words_of(label)))
            if not words or key in seen:
                continue
            seen.add(key)
            self.lines.append(_Line(label, chunk.tip_id, chunk.kind, words))
        self.postings: dict[str, list[int]] = {}
        for n, line in enumerate(self.lines):
            for word in line.words:
                if word not in STOPWORDS:  # "the" would match half the lines and mean nothing
                    self.postings.setdefault(word, []).append(n)
        self.vocabulary = sorted(self.postings)
        self.by_stem: dict[str, list[str]] = {}
        for word in self.vocabulary:
            self.by_stem.setdefault(stem(word), []).append(word)
        self._matches = lru_cache(maxsize=MATCH_CACHE)(self._find_matches)
        total = len(self.lines)
        self.idf = {w: math.log(1 + total / len(ids)) for w, ids in self.postings.items()}

    # -- one typed word -------------------------------------------------------------------

    def _starting_with(self, prefix: str) -> Iterator[str]:
        start = bisect_left(self.vocabulary, prefix)
        for word in self.vocabulary[start:]:
            if not word.startswith(prefix):
                return
            yield word

    def _near_prefix(self, typed: str) -> Iterator[str]:
        """Corpus words that begin like ``typed`` give or take one typo after its first
        letter. Only words opening with what such a typo leaves are compared (a few dozen)."""
        n = len(typed)
        openings = {typed[:2], typed[0] + typed[2], typed[1] + typed[0]}
        for opening in openings:
            for word in self._starting_with(opening):
                if (
                    len(word) >= n - 1
                    and min(distance(typed, word[: n + d]) for d in (-1, 0, 1)) <= 1
                ):
                    yield word

    def _mended(self, typed: str) -> list[str]:
        if self.speller is None:
            return []
        mended = words_of(self.speller.mend(typed))
        return [] if mended == [typed] else mended

    def matches(self, typed: str, *, typing: bool) -> dict[str, float]:
        """Corpus words ``typed`` may stand for, each with how sure the match is (a copy of
        the cached answer: each keystroke sends the whole query again)."""
        return dict(self._matches(typed, typing))

    def _find_matches(self, typed: str, typing: bool) -> dict[str, float]:
        """``typing``: the rep may still be typing this word, so it also matches the words it
        begins (a finished word does too when it is long enough: "superv cust").
        """
        found: dict[str, float] = {}

        def add(word: str, weight: float) -> None:
            if word in self.postings and weight > found.get(word, 0.0):
                found[word] = weight

        add(typed, EXACT)
        for word in self.by_stem.get(stem(typed), ()):
            add(word, SAME_STEM)
        for word in self._mended(typed):
            add(word, MENDED)
        if typing or len(typed) >= MIN_PREFIX:
            for word in self._starting_with(typed):
                add(word, PREFIX_TYPING if typing else PREFIX_DONE)
        if typing and not found and len(typed) >= MIN_FUZZY_PREFIX:
            for word in self._near_prefix(typed):
                add(word, NEAR_PREFIX)
        return found

    # -- a query ----------------------------------------------------------------------------

    def suggest(
        self, text: str, limit: int = 20, *, typing: bool | None = None
    ) -> list[Completion]:
        """The best ``limit`` lines for ``text`` (best first; at most :data:`MAX_PER_TIP`
        per tip). ``typing``: the last word may be unfinished (by default: unless ``text``
        ends with a space)."""
        if typing is None:
            typing = not text[-1:].isspace()
        typed = words_of(text)
        if len(typed) > MAX_WORDS:
            typed, typing = typed[:MAX_WORDS], False
        if not typed or limit <= 0:
            return []
        # Stop words ("the", "wants") are skipped, unless still being typed ("the" → "thermostat").
        last = len(typed) - 1
        kept = [
            (word, typing and i == last)
            for i, word in enumerate(typed)
            if word not in STOPWORDS or (typing and i == last)
        ]
        gains: list[dict[int, float]] = []
        ideal = 0.0
        for word, still_typing in kept:
            best: dict[int, float] = {}
            matched = self._matches(word, still_typing)
            for corpus_word, weight in matched.items():
                gain = weight * self.idf[corpus_word]
                for line in self.postings[corpus_word]:
                    if gain > best.get(line, 0.0):
                        best[line] = gain
            gains.append(best)
            ideal += max((self.idf[w] for w in matched), default=0.0)
        ranked: list[tuple[float, str, int]] = []
        for n in set().union(*gains):
            line = self.lines[n]
            # Rarer words weigh more; short lines read at a glance, so a long story that
            # merely mentions a word ranks below a line about it.
            matched = sum(g.get(n, 0.0) for g in gains) / ideal if ideal else 0.0
            bonus = KIND_BONUS[line.kind] - LENGTH_COST * min(len(line.words), 50)
            ranked.append((matched + bonus, line.label.casefold(), n))
        ranked.sort(key=lambda r: (-r[0], r[1]))
        out: list[Completion] = []
        per_tip: dict[str, int] = {}
        for relevance, _, n in ranked:
            line = self.lines[n]
            if per_tip.get(line.tip_id, 0) >= MAX_PER_TIP:
                continue
            per_tip[line.tip_id] = per_tip.get(line.tip_id, 0) + 1
            out.append(Completion(line.label, line.tip_id, line.kind, round(relevance, 4)))
            if len(out) >= limit:
                break
        return out
