"""Typo tolerance: mend a rep's hurried spelling before the model reads it.

The model reads word pieces, so "supervisr" becomes "super ##vis ##r" and the meaning is
gone; "cust" and "mgr" are not words at all. Before encoding, each word is mended when it
is neither a known word (the model's own vocabulary of whole words, or the corpus's) nor
too short to judge:

* support-floor and texting shorthand is expanded ("cust" → "customer", "w/" → "with",
  "thru" → "through"), and contractions typed without their apostrophe are written with it
  ("dont" → "don't");
* an unknown word of five letters or more becomes the corpus word nearest to it (one
  edit for words under eight letters, two for longer ones; a swap of two letters is one
  edit), the most frequent on a tie. Only corpus words are candidates, so a correction can
  only move a query *towards* what the tips talk about when it was already close.

Lookups use precomputed deletions (the SymSpell idea): a few dictionary probes per
unknown word, no scan of the vocabulary, so mending costs well under a millisecond.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

#: Shorthand reps type mid-shift; expanded whole-word, case-insensitively.
SHORTHAND = {
    "cust": "customer",
    "custs": "customers",
    "cx": "customer",
    "mgr": "manager",
    "mgrs": "managers",
    "mgmt": "management",
    "supv": "supervisor",
    "acct": "account",
    "accts": "accounts",
    "appt": "appointment",
    "dept": "department",
    "govt": "government",
    "msg": "message",
    "msgs": "messages",
    "convo": "conversation",
    "ppl": "people",
    "pls": "please",
    "plz": "please",
    "thx": "thanks",
    "abt": "about",
    "b4": "before",
    "bc": "because",
    "b/c": "because",
    "w/": "with",
    "w/o": "without",
    "rn": "right now",
    "tmrw": "tomorrow",
    "hrs": "hours",
    "mins": "minutes",
    "wk": "week",
    "wks": "weeks",
    "yr": "year",
    "yrs": "years",
    "u": "you",
    "ur": "your",
    "idk": "I don't know",
    "tho": "though",
    # Everyday texting shorthand.
    "w": "with",
    "wat": "what",
    "wht": "what",
    "thru": "through",
    "diff": "different",
    "cuz": "because",
    "coz": "because",
    "bcuz": "because",
    "becuz": "because",
    "bcos": "because",
    "rly": "really",
    "prolly": "probably",
    "tmr": "tomorrow",
    "tomoro": "tomorrow",
    "yday": "yesterday",
    "txt": "text",
    "pw": "password",
    "pwd": "password",
    "sry": "sorry",
    "smth": "something",
    "sth": "something",
    "ty": "thank you",
    "1st": "first",
    "2nd": "second",
    "3rd": "third",
    "4th": "fourth",
}

#: Contractions typed without their apostrophe ("dont", "im") are read as written with it,
#: so the typed message reads like its clean twin; unmended, "arent" was one edit from
#: "agent". "wont" is a word in the dictionary, but not on a support floor; "its", "were",
#: "ill", "well", "id" and "lets" are everyday words and stay as typed.
CONTRACTIONS = {
    word.replace("'", "").lower(): word
    for word in (
        "don't didn't doesn't can't won't isn't aren't wasn't weren't haven't hasn't hadn't "
        "couldn't shouldn't wouldn't mustn't ain't I'm I've you're you've you'll they're "
        "they've they'll they'd she's he's that's what's there's here's where's who's how's "
        "it'll we've would've could've should've y'all"
    ).split()
}

_TOKEN = re.compile(r"[A-Za-z][A-Za-z'’]*(?:/[A-Za-z]?)?|[A-Za-z]\d|\b[1-4](?:st|nd|rd|th)\b")
MIN_LENGTH = 5
LONG_WORD = 8
#: Longer "words" are never mended: no real word is that long, and the deletions of a
#: 40,000-letter token would be quadratic.
MAX_LENGTH = 24


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def _deletes(word: str, depth: int) -> set[str]:
    found = {word}
    frontier = {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
        found |= frontier
    return found


def distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insert, delete, substitute, swap neighbours."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


class Speller:
    """Mends unknown words against the corpus vocabulary; ``known`` words are left alone."""

    def __init__(self, corpus_texts: Iterable[str], known: Iterable[str] = ()) -> None:
        self.frequency: Counter[str] = Counter()
        for text in corpus_texts:
            self.frequency.update(w for w in words(text) if len(w) >= 3)
        self.known = {w.lower() for w in known} | set(self.frequency)
        self.index: dict[str, list[str]] = {}
        for word in self.frequency:
            if not MIN_LENGTH - 1 <= len(word) <= MAX_LENGTH:
                continue
            depth = 2 if len(word) >= LONG_WORD else 1
            for variant in _deletes(word, depth):
                self.index.setdefault(variant, []).append(word)

    def best(self, word: str) -> str | None:
        """The corpus word nearest an unknown ``word``, or None when nothing is near enough."""
        limit = 2 if len(word) >= LONG_WORD else 1
        candidates: set[str] = set()
        for variant in _deletes(word, limit):
            candidates.update(self.index.get(variant, ()))
        scored = [
            (distance(word, c), -self.frequency[c], c)
            for c in candidates
            if abs(len(c) - len(word)) <= limit
        ]
        scored = [s for s in scored if s[0] <= limit]
        return min(scored)[2] if scored else None

    def mend(self, text: str) -> str:
        """``text`` with shorthand expanded and unknown words corrected; the rest untouched."""

        def fix(match: re.Match[str]) -> str:
            token = match.group(0)
            lower = token.lower().replace("’", "'")
            if len(token) == 1 and (token.isupper() or text.startswith("-", match.end())):
                return token  # "W-2", "u-turn", "Building W": not "with", "you"
            if lower in SHORTHAND:
                return SHORTHAND[lower]
            if lower in CONTRACTIONS and not token.isupper():  # "IM" is an instant message
                written = CONTRACTIONS[lower]
                return written[0].upper() + written[1:] if token[0].isupper() else written
            if (
                "/" in token
                or "'" in lower
                or not MIN_LENGTH <= len(lower) <= MAX_LENGTH
                or lower in self.known
            ):
                return token
            return self.best(lower) or token

        return _TOKEN.sub(fix, text)
