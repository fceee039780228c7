"""The on-disk index: FAISS vectors plus chunk metadata, stamped and written atomically.

Layout under the index directory::

    CURRENT                 name of the live version (replaced atomically)
    v-<stamp>/vectors.faiss one vector per search unit (chunk or sentence window)
    v-<stamp>/meta.json     tips, chunks, units
    v-<stamp>/stamp.json    corpus hash, model, chunker version, file checksums

A version directory is fully written under a temporary name and renamed into place
before ``CURRENT`` points at it, so a crash never leaves a half-written live index.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from retrieval.chunking import CHUNKER_VERSION, chunk_corpus
from retrieval.embedder import Encoder
from retrieval.errors import IndexCorrupt, IndexMissing
from retrieval.ingest import corpus_files
from retrieval.models import Chunk, Play, Tip
from retrieval.scorer import SCORER_KINDS, fit_tip_scorer

INDEX_FORMAT = "4"  # 4: the learned tip scorer (scorer.npy)
BACKGROUND_FILE = Path(__file__).resolve().parent / "data" / "background.txt"
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?…])[”\"]?\s+(?=[A-Z“\"])")

Progress = Callable[[int, int], None]
VERSION_FILES = ("vectors.faiss", "meta.json", "background.npy", "scorer.npy")


@dataclass(frozen=True)
class Unit:
    """What gets a vector: a whole chunk, or a window of one or two of its sentences."""

    chunk: int  # index into IndexData.chunks
    whole: bool
    text: str


@dataclass
class IndexData:
    tips: list[Tip]
    chunks: list[Chunk]
    units: list[Unit]
    vectors: faiss.Index
    stamp: dict[str, Any]
    background: np.ndarray  # vectors of off-topic questions, for declining (see search.py)
    #: per tip, the learned scorer's weights and bias (retrieval.scorer); empty: none
    scorer: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))

    def __post_init__(self) -> None:
        tip_pos = {tip.id: i for i, tip in enumerate(self.tips)}
        self.tip_pos = tip_pos
        self.chunk_tip = np.array([tip_pos[c.tip_id] for c in self.chunks], dtype=np.int64)
        self.unit_chunk = np.array([u.chunk for u in self.units], dtype=np.int64)
        self.unit_tip = (
            self.chunk_tip[self.unit_chunk] if self.units else np.zeros(0, dtype=np.int64)
        )
        self.unit_whole = np.array([u.whole for u in self.units], dtype=bool)
        self.chunks_of: dict[str, list[int]] = {}
        for i, chunk in enumerate(self.chunks):
            self.chunks_of.setdefault(chunk.tip_id, []).append(i)


def split_sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_SPLIT.split(text) if part.strip()]


def make_units(chunks: list[Chunk]) -> list[Unit]:
    """Whole chunks plus sentence windows, so one apt sentence in a long paragraph still wins."""
    units: list[Unit] = []
    for i, chunk in enumerate(chunks):
        units.append(Unit(i, True, chunk.text))
        if chunk.context:
            units.append(Unit(i, False, chunk.context))
        sentences = [s for s in split_sentences(chunk.text) if len(s.split()) >= 4]
        if len(sentences) < 2:
            continue
        for j, sentence in enumerate(sentences):
            units.append(Unit(i, False, sentence))
            if j + 1 < len(sentences):
                units.append(Unit(i, False, f"{sentence} {sentences[j + 1]}"))
    return units


def background_questions(path: Path = BACKGROUND_FILE) -> list[str]:
    """The off-topic reference questions (comments and blank lines skipped)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def corpus_hash(corpus_dir: Path) -> str:
    """Hash of every corpus file's name and bytes: any edit makes the index stale."""
    digest = hashlib.sha256()
    for path in corpus_files(corpus_dir):
        digest.update(str(path.relative_to(corpus_dir)).encode())
        try:
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        except OSError:
            digest.update(b"<unreadable>")
    return digest.hexdigest()


def make_stamp(corpus_digest: str, encoder: Encoder) -> dict[str, Any]:
    background = hashlib.sha256("\n".join(background_questions()).encode()).hexdigest()
    return {
        "format": INDEX_FORMAT,
        "corpus": hashlib.sha256(f"{corpus_digest}:{background}".encode()).hexdigest(),
        "model": encoder.name,
        "dim": encoder.dim,
        "chunker": CHUNKER_VERSION,
    }


def stamp_key(stamp: dict[str, Any]) -> str:
    fields = {key: stamp[key] for key in ("format", "corpus", "model", "dim", "chunker")}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


#: Above this many vectors exact search gets slow (>10 ms); switch to an HNSW graph.
HNSW_THRESHOLD = 20_000
HNSW_EF_SEARCH = 256


def flat_index(vectors: np.ndarray) -> faiss.Index:
    """Exact inner-product search: the right choice for a few thousand chunks."""
    index = faiss.IndexFlatIP(vectors.shape[1])
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def vector_index(vectors: np.ndarray, hnsw_threshold: int = HNSW_THRESHOLD) -> faiss.Index:
    """Exact for small corpora; an HNSW graph (approximate, ~1 ms) for large ones."""
    if len(vectors) <= hnsw_threshold:
        return flat_index(vectors)
    index = faiss.IndexHNSWFlat(vectors.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 40
    index.hnsw.efSearch = HNSW_EF_SEARCH
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def build_index(
    tips: list[Tip], encoder: Encoder, stamp: dict[str, Any], progress: Progress | None = None
) -> IndexData:
    """Chunk and embed every tip (batched) into an in-memory index."""
    chunks = chunk_corpus(tips)
    units = make_units(chunks)
    batch = 64
    parts: list[np.ndarray] = []
    for start in range(0, len(units), batch):
        parts.append(encoder.encode([u.text for u in units[start : start + batch]]))
        if progress:
            progress(min(start + batch, len(units)), len(units))
    vectors = np.vstack(parts) if parts else np.zeros((0, encoder.dim), dtype=np.float32)
    background = encoder.encode(background_questions())
    stamp = {**stamp, "tips": len(tips), "chunks": len(chunks), "units": len(units)}
    return IndexData(
        tips,
        chunks,
        units,
        vector_index(vectors),
        stamp,
        background,
        fit_scorer(tips, chunks, units, vectors),
    )


def fit_scorer(
    tips: list[Tip], chunks: list[Chunk], units: list[Unit], vectors: np.ndarray
) -> np.ndarray:
    """The learned tip scorer, fitted on the whole-chunk vectors of the lines that say when
    each tip applies (see :mod:`retrieval.scorer`)."""
    position = {tip.id: i for i, tip in enumerate(tips)}
    rows = [
        i for i, unit in enumerate(units) if unit.whole and chunks[unit.chunk].kind in SCORER_KINDS
    ]
    labels = np.array([position[chunks[units[i].chunk].tip_id] for i in rows], dtype=np.int64)
    return fit_tip_scorer(vectors[rows] if rows else vectors[:0], labels, len(tips))


# -- serialisation ---------------------------------------------------------------------------


def _tip_to_json(tip: Tip) -> dict[str, Any]:
    data = asdict(tip)
    data["date"] = tip.date.isoformat() if tip.date else None
    data["play"] = tip.play.to_json() if tip.play else None
    return data


def _tip_from_json(data: dict[str, Any]) -> Tip:
    return Tip(
        **{
            **data,
            "date": date.fromisoformat(data["date"]) if data.get("date") else None,
            "categories": tuple(data.get("categories", ())),
            "paragraphs": tuple(data.get("paragraphs", ())),
            "situations": tuple(data.get("situations", ())),
            "play": Play.from_json(data["play"]) if data.get("play") else None,
        }
    )


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def save_index(data: IndexData, index_dir: Path) -> Path:
    """Write a new version next to the live one, then switch ``CURRENT`` atomically."""
    index_dir.mkdir(parents=True, exist_ok=True)
    name = f"v-{stamp_key(data.stamp)}"
    final = index_dir / name
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=index_dir))
    try:
        faiss.write_index(data.vectors, str(tmp / "vectors.faiss"))
        with open(tmp / "background.npy", "wb") as handle:
            np.save(handle, data.background, allow_pickle=False)
        with open(tmp / "scorer.npy", "wb") as handle:
            np.save(handle, data.scorer, allow_pickle=False)
        meta = {
            "tips": [_tip_to_json(t) for t in data.tips],
            "chunks": [asdict(c) for c in data.chunks],
            "units": [[u.chunk, u.whole, u.text] for u in data.units],
        }
        _fsync_write(tmp / "meta.json", json.dumps(meta, ensure_ascii=False).encode("utf-8"))
        stamp = {**data.stamp, "sha256": {f: _sha(tmp / f) for f in VERSION_FILES}}
        _fsync_write(tmp / "stamp.json", json.dumps(stamp, indent=2).encode("utf-8"))
        if final.exists():  # a damaged copy of this very version: move it aside first
            aside = index_dir / f".tmp-old-{os.getpid()}"
            os.replace(final, aside)
            shutil.rmtree(aside, ignore_errors=True)
        try:
            os.replace(tmp, final)
        except OSError:  # another process renamed the same version in first: theirs is as good
            shutil.rmtree(tmp, ignore_errors=True)
        pointer = index_dir / f".CURRENT.{os.getpid()}"
        _fsync_write(pointer, name.encode())
        if (index_dir / "CURRENT").is_dir():  # damaged by hand: a file cannot replace it
            shutil.rmtree(index_dir / "CURRENT", ignore_errors=True)
        os.replace(pointer, index_dir / "CURRENT")
        data.stamp = stamp
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    _prune(index_dir, keep=name)
    return final


#: A temporary build directory younger than this may belong to a build still running.
ABANDONED_BUILD_SECONDS = 3600.0
LOCK_FILE = ".build.lock"


def _prune(index_dir: Path, keep: str, now: float | None = None) -> None:
    """Remove superseded versions, and leftovers of builds interrupted over an hour ago."""
    now = time.time() if now is None else now
    for child in index_dir.iterdir():
        if not child.is_dir() or child.name == keep:
            continue
        if child.name.startswith("v-"):
            shutil.rmtree(child, ignore_errors=True)
        elif child.name.startswith(".tmp-"):
            try:
                age = now - child.stat().st_mtime
            except OSError:
                continue
            if age > ABANDONED_BUILD_SECONDS:
                shutil.rmtree(child, ignore_errors=True)


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """One index build at a time across processes sharing ``index_dir`` (web, clock, CLI).

    An advisory ``flock`` on ``index/.build.lock``: the kernel releases it when its holder
    exits, so a build that crashed never blocks the next one. Waiters block, then find
    the index the holder built. (No ``fcntl`` on Windows: builds are then not serialised.)
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(index_dir / LOCK_FILE, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()} {time.time():.0f}\n")
            handle.flush()
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def read_stamp(index_dir: Path) -> dict[str, Any] | None:
    """The live version's stamp, or None when there is no readable index."""
    try:
        name = (index_dir / "CURRENT").read_text().strip()
        return json.loads((index_dir / name / "stamp.json").read_text())
    except (OSError, ValueError):
        return None


def load_index(index_dir: Path) -> IndexData:
    """Read the live version back, verifying checksums; raise IndexMissing/IndexCorrupt."""
    pointer = index_dir / "CURRENT"
    if not pointer.exists():
        raise IndexMissing(f"no index in {index_dir}; run `coach index` to build it")
    try:
        name = pointer.read_text().strip()
        folder = index_dir / name
        stamp = json.loads((folder / "stamp.json").read_text())
        checksums = stamp.get("sha256", {})
        if set(checksums) != set(VERSION_FILES):
            raise IndexCorrupt(
                f"{folder / 'stamp.json'} lists the wrong files; run `coach index --rebuild`"
            )
        for filename, expected in checksums.items():
            if _sha(folder / filename) != expected:
                raise IndexCorrupt(
                    f"{folder / filename} does not match its checksum; run `coach index --rebuild`"
                )
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        vectors = faiss.read_index(str(folder / "vectors.faiss"))
        if hasattr(vectors, "hnsw"):
            vectors.hnsw.efSearch = HNSW_EF_SEARCH
        background = np.load(folder / "background.npy", allow_pickle=False)
        scorer = np.load(folder / "scorer.npy", allow_pickle=False)
        tips = [_tip_from_json(t) for t in meta["tips"]]
        chunks = [Chunk(**c) for c in meta["chunks"]]
        units = [Unit(int(c), bool(w), str(t)) for c, w, t in meta["units"]]
    except IndexCorrupt:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise IndexCorrupt(
            f"the index in {index_dir} cannot be read ({exc}); run `coach index --rebuild`"
        ) from exc
    tip_ids = {tip.id for tip in tips}
    if (
        vectors.ntotal != len(units)
        or vectors.d != stamp.get("dim")
        or background.shape[-1] != vectors.d
        or scorer.shape != (len(tips), vectors.d + 1)
        or any(chunk.tip_id not in tip_ids for chunk in chunks)
        or any(not 0 <= unit.chunk < len(chunks) for unit in units)
    ):
        raise IndexCorrupt(f"the index in {index_dir} is inconsistent; run `coach index --rebuild`")
    return IndexData(tips, chunks, units, vectors, stamp, background, scorer)
