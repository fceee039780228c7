from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from config.settings import DEFAULT_CORPUS_DIR
from retrieval.embedder import HashingEncoder, normalize_rows
from retrieval.engine import open_index
from retrieval.errors import IndexCorrupt, IndexMissing, IndexStale
from retrieval.index import flat_index, load_index, read_stamp


def test_faiss_top_k_equals_brute_force() -> None:
    rng = np.random.default_rng(7)
    vectors = normalize_rows(rng.normal(size=(5000, 64)))
    queries = normalize_rows(rng.normal(size=(20, 64)))
    index = flat_index(vectors)
    sims, ids = index.search(queries, 10)
    brute = queries @ vectors.T
    expected = np.argsort(-brute, axis=1)[:, :10]
    assert np.array_equal(ids, expected)
    assert np.allclose(sims, np.take_along_axis(brute, expected, axis=1), atol=1e-5)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    target = tmp_path / "corpus"
    shutil.copytree(DEFAULT_CORPUS_DIR, target)
    return target


def test_build_save_load_round_trip(corpus: Path, tmp_path: Path) -> None:
    encoder = HashingEncoder()
    built, report = open_index(corpus, tmp_path / "index", encoder)
    assert report.status == "built"
    loaded = load_index(tmp_path / "index")
    assert [t.id for t in loaded.tips] == [t.id for t in built.tips]
    assert [c.id for c in loaded.chunks] == [c.id for c in built.chunks]
    assert loaded.vectors.ntotal == built.vectors.ntotal == len(built.units)
    q = encoder.encode(["customer wants the supervisor"])
    assert np.array_equal(loaded.vectors.search(q, 5)[1], built.vectors.search(q, 5)[1])
    assert np.allclose(loaded.background, built.background)
    _, report = open_index(corpus, tmp_path / "index", encoder)
    assert report.status == "loaded"
    assert read_stamp(tmp_path / "index")["tips"] == 53


def test_stale_index_is_rebuilt_or_reported(corpus: Path, tmp_path: Path) -> None:
    encoder = HashingEncoder()
    open_index(corpus, tmp_path / "index", encoder)
    (corpus / "team.md").write_text(
        "---\ntitle: New Team Tip\n---\nAlways call back the same day.\n", "utf-8"
    )
    with pytest.raises(IndexStale):
        open_index(corpus, tmp_path / "index", encoder, build=False)
    data, report = open_index(corpus, tmp_path / "index", encoder)
    assert report.status == "rebuilt-stale"
    assert "new-team-tip" in data.tip_pos


def test_another_model_makes_the_index_stale(corpus: Path, tmp_path: Path) -> None:
    open_index(corpus, tmp_path / "index", HashingEncoder(256))
    _, report = open_index(corpus, tmp_path / "index", HashingEncoder(128))
    assert report.status == "rebuilt-stale"


@pytest.mark.parametrize("victim", ["vectors.faiss", "meta.json", "background.npy", "stamp.json"])
def test_corrupt_index_is_reported_and_rebuilt(corpus: Path, tmp_path: Path, victim: str) -> None:
    encoder = HashingEncoder()
    index_dir = tmp_path / "index"
    open_index(corpus, index_dir, encoder)
    live = index_dir / (index_dir / "CURRENT").read_text()
    path = live / victim
    path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 2)])
    with pytest.raises(IndexCorrupt):
        load_index(index_dir)
    data, report = open_index(corpus, index_dir, encoder)
    assert report.status == "rebuilt-corrupt"
    assert "coach index --rebuild" in report.reason
    assert len(data.tips) == 53
    load_index(index_dir)  # the rebuilt one reads back cleanly


def test_a_current_pointer_that_is_a_directory_is_rebuilt(corpus: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    open_index(corpus, index_dir, HashingEncoder())
    (index_dir / "CURRENT").unlink()
    (index_dir / "CURRENT").mkdir()
    data, report = open_index(corpus, index_dir, HashingEncoder())
    assert report.status == "rebuilt-corrupt" and len(data.tips) == 53
    assert (index_dir / "CURRENT").is_file()


def test_consistent_files_naming_an_unknown_tip_are_corrupt(corpus: Path, tmp_path: Path) -> None:
    import hashlib
    import json

    index_dir = tmp_path / "index"
    open_index(corpus, index_dir, HashingEncoder())
    live = index_dir / (index_dir / "CURRENT").read_text()
    meta = json.loads((live / "meta.json").read_text())
    meta["tips"][0]["id"] = "a-tip-nobody-wrote"
    (live / "meta.json").write_text(json.dumps(meta))
    stamp = json.loads((live / "stamp.json").read_text())
    stamp["sha256"]["meta.json"] = hashlib.sha256((live / "meta.json").read_bytes()).hexdigest()
    (live / "stamp.json").write_text(json.dumps(stamp))
    with pytest.raises(IndexCorrupt, match="inconsistent"):
        load_index(index_dir)
    _, report = open_index(corpus, index_dir, HashingEncoder())
    assert report.status == "rebuilt-corrupt"


def test_missing_index_without_build(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(IndexMissing, match="coach index"):
        open_index(corpus, tmp_path / "index", HashingEncoder(), build=False)


def test_interrupted_build_leaves_live_index_intact(corpus: Path, tmp_path: Path) -> None:
    encoder = HashingEncoder()
    index_dir = tmp_path / "index"
    open_index(corpus, index_dir, encoder)
    # A crash mid-build leaves a temp folder behind: it is ignored, then cleaned up once it
    # is over an hour old; a younger one may be another process's build still running.
    junk = index_dir / ".tmp-crashed"
    junk.mkdir()
    (junk / "vectors.faiss").write_bytes(b"half")
    two_hours_ago = time.time() - 7200
    os.utime(junk, (two_hours_ago, two_hours_ago))
    running = index_dir / ".tmp-running"
    running.mkdir()
    assert load_index(index_dir).vectors.ntotal > 0
    open_index(corpus, index_dir, encoder, rebuild=True)
    assert not junk.exists() and running.exists()
    assert [p.name for p in index_dir.iterdir() if p.name.startswith("v-")] == [
        (index_dir / "CURRENT").read_text()
    ]


def _build_in_a_process(corpus: str, index_dir: str, queue: Any) -> None:
    from retrieval.embedder import HashingEncoder
    from retrieval.engine import open_index

    _, report = open_index(Path(corpus), Path(index_dir), HashingEncoder())
    queue.put(report.status)


def test_two_processes_on_a_fresh_data_dir_build_the_index_once(
    corpus: Path, tmp_path: Path
) -> None:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    index_dir = tmp_path / "index"
    racers = [
        context.Process(target=_build_in_a_process, args=(str(corpus), str(index_dir), queue))
        for _ in range(2)
    ]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(120)
    statuses = sorted(queue.get(timeout=5) for _ in racers)
    assert statuses == ["built", "loaded"]  # one built it, the other waited and loaded it
    assert load_index(index_dir).vectors.ntotal > 0
    assert [p.name for p in index_dir.iterdir() if p.name.startswith(".tmp-")] == []


def test_large_index_uses_hnsw_with_high_recall_against_brute_force() -> None:
    from retrieval.index import vector_index

    rng = np.random.default_rng(3)
    centers = rng.normal(size=(200, 32))
    vectors = normalize_rows(
        centers[rng.integers(0, 200, 6000)] + 0.3 * rng.normal(size=(6000, 32))
    )
    queries = normalize_rows(centers[rng.integers(0, 200, 50)] + 0.3 * rng.normal(size=(50, 32)))
    index = vector_index(vectors, hnsw_threshold=5000)
    assert hasattr(index, "hnsw")
    _, ids = index.search(queries, 10)
    expected = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, expected, strict=True)])
    assert recall >= 0.95
    assert not hasattr(vector_index(vectors[:100]), "hnsw")  # small corpora stay exact


def test_synthetic_search_bench_runs_and_ranks(hashing_coach: Any) -> None:
    from retrieval.bench import bench_synthetic_search, synthetic_ranker

    p50, p95 = bench_synthetic_search(hashing_coach, 3000, rounds=20)
    assert 0 < p50 <= p95
    ranker = synthetic_ranker(hashing_coach.data, 3000)
    real = hashing_coach.ranker
    # shaped like the real index: its vectors are noisy copies of real ones, same ratios
    assert ranker.data.vectors.ntotal == 3000
    units_per_tip = len(hashing_coach.data.units) // len(hashing_coach.data.tips)
    assert len(ranker.data.tips) == 3000 // units_per_tip
    sims = ranker.matrix[:50] @ real.matrix.T
    assert float(np.median(sims.max(axis=1))) > 0.8  # near a real vector, unlike random ones
    unit = 1234
    answer = ranker.answer("q", ranker.matrix[unit], "w1", k=3, min_confidence=0.0)
    assert answer.tips[0].id == ranker.data.chunks[ranker.data.units[unit].chunk].tip_id
