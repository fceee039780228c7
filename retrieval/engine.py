"""The library object every surface uses: ``Coach.from_settings(settings).answer(text)``.

It owns the encoder (loaded once), the index (loaded, or built when missing, stale or
corrupt) and the ranker. The CLI and the Slack bot are thin layers over it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from retrieval.embedder import Encoder, load_encoder
from retrieval.errors import (
    CorpusEmpty,
    EmptyQuery,
    IndexCorrupt,
    IndexMissing,
    IndexStale,
    UnknownTip,
)
from retrieval.index import (
    IndexData,
    Progress,
    background_questions,
    build_index,
    build_lock,
    corpus_hash,
    load_index,
    make_stamp,
    read_stamp,
    save_index,
    stamp_key,
)
from retrieval.ingest import load_corpus
from retrieval.model_fit import load_model_fit
from retrieval.models import Answer, Completion, ParseProblem, Tip, TipAnswer
from retrieval.search import Calibration, ExtraSituations, Ranker, Weights
from retrieval.spelling import Speller
from retrieval.typeahead import Typeahead

if TYPE_CHECKING:
    from config.settings import Settings

log = logging.getLogger("coach.retrieval")

#: The model reads at most 256 word pieces; text beyond this adds nothing but cost.
MAX_QUERY_CHARS = 2000
_CONTROL = re.compile(
    r"[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]"
)


def clean_query(text: str) -> str:
    """Normalise unicode, drop control/zero-width characters, collapse whitespace, cap length."""
    text = unicodedata.normalize("NFKC", text or "")
    text = _CONTROL.sub(" ", text)
    text = " ".join(text.split())
    if len(text) > MAX_QUERY_CHARS:
        text = text[:MAX_QUERY_CHARS].rsplit(" ", 1)[0]
    return text


@dataclass
class IndexReport:
    """What opening the index did, for the CLI and logs."""

    status: str  # "loaded" | "built" | "rebuilt-stale" | "rebuilt-corrupt"
    seconds: float
    problems: list[ParseProblem] = field(default_factory=list)
    reason: str = ""


def open_index(
    corpus_dir: Path,
    index_dir: Path,
    encoder: Encoder,
    *,
    rebuild: bool = False,
    build: bool = True,
    progress: Progress | None = None,
) -> tuple[IndexData, IndexReport]:
    """Load the index, building it when missing, stale or corrupt (unless ``build`` is off).

    Builds are single-flight across processes (:func:`retrieval.index.build_lock`): a
    process that finds the index missing waits for one already being built, then loads it.
    """
    started = time.perf_counter()
    stamp = make_stamp(corpus_hash(corpus_dir), encoder)
    if not rebuild:
        data, status, reason = _try_load(index_dir, stamp, build)
        if data is not None:
            return data, IndexReport("loaded", time.perf_counter() - started)
    with build_lock(index_dir):
        if not rebuild:  # another process may have built it while we waited
            data, status, reason = _try_load(index_dir, stamp, build)
            if data is not None:
                return data, IndexReport("loaded", time.perf_counter() - started)
        else:
            status, reason = "built", ""
        tips, problems = load_corpus(corpus_dir)
        for problem in problems:
            log.warning("corpus problem: %s", problem)
        if not tips:
            details = "".join(f"\n  {problem}" for problem in problems[:10])
            raise CorpusEmpty(
                f"no tips found in {corpus_dir}; add pages or Markdown tips (see README){details}"
            )
        data = build_index(tips, encoder, stamp, progress)
        save_index(data, index_dir)
    return data, IndexReport(status, time.perf_counter() - started, problems, reason)


def _try_load(
    index_dir: Path, stamp: dict[str, object], build: bool
) -> tuple[IndexData | None, str, str]:
    """The current index, or None and why it has to be built (``build`` off: raise)."""
    current = read_stamp(index_dir)
    try:
        if current is not None and stamp_key(current) != stamp_key(stamp):
            raise IndexStale(
                f"the index in {index_dir} was built from another corpus or model; run `coach index`"
            )
        return load_index(index_dir), "loaded", ""
    except IndexMissing:
        if not build:
            raise
        return None, "built", ""
    except IndexStale as exc:
        if not build:
            raise
        log.info("index is stale; rebuilding", extra={"index_dir": str(index_dir)})
        return None, "rebuilt-stale", str(exc)
    except IndexCorrupt as exc:
        if not build:
            raise
        log.warning("index is corrupt (%s); rebuilding", exc)
        return None, "rebuilt-corrupt", str(exc)


def make_speller(data: IndexData, encoder: Encoder) -> Speller:
    """Corpus words are what typos get mended to; the model's and the off-topic background's
    words are known and left alone (so "wifi" never becomes a tip's word)."""
    vocabulary = getattr(encoder, "vocabulary", None)
    known = set(vocabulary()) if callable(vocabulary) else set()
    known.update(w for q in background_questions() for w in q.lower().split())
    texts = [chunk.text for chunk in data.chunks] + [tip.title for tip in data.tips]
    return Speller(texts, known)


class Coach:
    """Answers a rep's description of a situation with the tips that fit it."""

    def __init__(
        self,
        data: IndexData,
        encoder: Encoder,
        *,
        min_confidence: float = 0.13,
        sure_confidence: float = 0.6,
        report: IndexReport | None = None,
        weights: Weights | None = None,
        calibration: Calibration | None = None,
        plays: bool = True,
    ) -> None:
        self.data = data
        self.encoder = encoder
        self.min_confidence = min_confidence
        self.sure_confidence = max(sure_confidence, min_confidence)
        self.report = report or IndexReport("loaded", 0.0)
        self.ranker = Ranker(data, weights, calibration, plays=plays)
        self.speller = make_speller(data, encoder)
        # One lookup computes at a time: it is a few milliseconds of CPU (the model already
        # uses every core, the ranking holds the GIL), so running several at once only makes
        # each slower — and, in the bot, every ack with them. On 2 cores, 100 requests at
        # once: ack p95 594 -> 198 ms, answer p95 1.49 -> 0.69 s against 16 at once.
        self._computing = threading.Lock()
        self.source: tuple[Path, Path] | None = None  # (corpus dir, index dir), for refresh()
        self._typeahead: tuple[IndexData, Typeahead] | None = None  # built on first use
        self._typeahead_lock = threading.Lock()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        encoder: Encoder | None = None,
        rebuild: bool = False,
        build: bool = True,
        progress: Progress | None = None,
        lazy_model: bool = False,
    ) -> Coach:
        """Load the model once and open (or build) the index the settings point at.

        ``lazy_model``: load the model only when a query or a build needs it (the weekly
        scheduler reads cards from the index and never does).
        """
        encoder = encoder or load_encoder(
            settings.model_name_or_path(), lazy=lazy_model, threads=settings.model_threads
        )
        data, report = open_index(
            settings.corpus_dir,
            settings.index_dir,
            encoder,
            rebuild=rebuild,
            build=build,
            progress=progress,
        )
        fit = load_model_fit(settings.model_name_or_path())
        coach = cls(
            data,
            encoder,
            min_confidence=fit.min_confidence
            if settings.min_confidence is None
            else settings.min_confidence,
            sure_confidence=fit.sure_confidence
            if settings.sure_confidence is None
            else settings.sure_confidence,
            report=report,
            weights=fit.weights,
            calibration=fit.calibration,
            plays=settings.plays,
        )
        coach.source = (settings.corpus_dir, settings.index_dir)
        return coach

    def refresh(self) -> bool:
        """Pick up corpus edits without reloading the model; True when the tips changed.

        Cheap when nothing changed (hashes a few small files), so long-running processes
        such as the weekly scheduler call it before each use.
        """
        if self.source is None:
            return False
        corpus_dir, index_dir = self.source
        if stamp_key(make_stamp(corpus_hash(corpus_dir), self.encoder)) == stamp_key(
            self.data.stamp
        ):
            return False
        data, report = open_index(corpus_dir, index_dir, self.encoder)
        self.ranker = Ranker(
            data, self.ranker.weights, self.ranker.calibration, plays=self.ranker.plays
        )
        self.speller = make_speller(data, self.encoder)
        self.data, self.report = data, report
        return True

    # -- queries ------------------------------------------------------------------------------

    def prepare(self, text: str) -> str:
        """Normalised, bounded, typo-mended text: what the model and BM25 read."""
        cleaned = clean_query(text)
        if not any(ch.isalnum() for ch in cleaned):
            raise EmptyQuery()
        return self.speller.mend(cleaned)

    def situations(self, pairs: Sequence[tuple[str, str]]) -> ExtraSituations:
        """Encode (text, tip id) situations once, for :meth:`answer`'s ``situations``.

        Texts go through :meth:`prepare` like a query does, so a rep asking the very words
        a lead taught matches them exactly; blank texts are left out.
        """
        kept: list[tuple[str, str]] = []
        for text, tip_id in pairs:
            try:
                kept.append((self.prepare(text), tip_id))
            except EmptyQuery:
                continue
        if not kept:
            return ExtraSituations((), np.zeros((0, 0), np.float32))
        with self._computing:
            vectors = np.asarray(self.encoder.encode([t for t, _ in kept]), dtype=np.float32)
        return ExtraSituations(tuple(tip for _, tip in kept), vectors)

    def answer(
        self,
        text: str,
        *,
        k: int = 3,
        exclude: Collection[str] = (),
        situations: ExtraSituations | None = None,
    ) -> Answer:
        """The best ``k`` tips for a situation, or a decline with nearby topics.

        ``situations``: extra (vector, tip) situations for this caller only, e.g. the ones
        a workspace's leads taught (built by :meth:`situations`); the index is untouched.
        """
        started = time.perf_counter()
        cleaned = self.prepare(text)
        with self._computing:
            vector = self.encoder.encode([cleaned])[0]
            answer = self.ranker.answer(
                text,
                vector,
                cleaned,
                k=k,
                min_confidence=self.min_confidence,
                sure_confidence=self.sure_confidence,
                exclude=exclude,
                extra=situations,
            )
        return _with_latency(answer, started)

    def answer_many(self, texts: Sequence[str], *, k: int = 3) -> list[Answer | EmptyQuery]:
        """Answer a batch with one encoder call; blank lines come back as EmptyQuery."""
        started = time.perf_counter()
        prepared: list[str | None] = []
        for text in texts:
            try:
                prepared.append(self.prepare(text))
            except EmptyQuery:
                prepared.append(None)
        todo = [p for p in prepared if p is not None]
        vectors = iter(self.encoder.encode(todo)) if todo else iter(())
        results: list[Answer | EmptyQuery] = []
        for text, cleaned in zip(texts, prepared, strict=True):
            if cleaned is None:
                results.append(EmptyQuery())
                continue
            answer = self.ranker.answer(
                text,
                next(vectors),
                cleaned,
                k=k,
                min_confidence=self.min_confidence,
                sure_confidence=self.sure_confidence,
            )
            results.append(answer)
        per_query = (time.perf_counter() - started) * 1000 / max(1, len(texts))
        return [_with_latency(r, None, per_query) if isinstance(r, Answer) else r for r in results]

    def suggest(self, prefix: str, limit: int = 20) -> list[Completion]:
        """Type-ahead: situations, "when to use it" lines and tip titles that fit what a rep
        has typed so far, typos mended. No model call (a select menu asks on every keystroke).
        """
        typing = not prefix[-1:].isspace()  # no trailing space: the last word may go on
        return self._typeahead_index().suggest(clean_query(prefix), limit, typing=typing)

    def _typeahead_index(self) -> Typeahead:
        """Built once per index on first use (only the bot's "Find a tip" needs it)."""
        data, speller = self.data, self.speller
        with self._typeahead_lock:
            if self._typeahead is None or self._typeahead[0] is not data:
                self._typeahead = (data, Typeahead(data.chunks, speller))
            return self._typeahead[1]

    def tip_card(self, tip_id: str) -> TipAnswer:
        """The whole tip: its text, every step and phrase in reading order, and its play."""
        position = self.data.tip_pos.get(tip_id)
        if position is None:
            raise UnknownTip(
                f"no tip with id {tip_id!r}; the tips may have changed since that message"
            )
        return self.ranker.tip_answer(position, 1.0, None)

    def tips(self) -> list[Tip]:
        """Every tip, newest first."""
        return list(self.data.tips)


def _with_latency(answer: Answer, started: float | None, ms: float | None = None) -> Answer:
    from dataclasses import replace

    latency = ms if ms is not None else (time.perf_counter() - (started or 0.0)) * 1000
    return replace(answer, latency_ms=latency)
