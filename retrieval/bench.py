"""``coach bench``: speed and memory, measured in one run so the numbers compare.

Machines are shared and noisy, so the targets are ratios within this run (answer time
over bare encode time) plus coarse absolute budgets (RSS, search p95 at 100k chunks).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.embedder import normalize_rows
from retrieval.engine import Coach, open_index
from retrieval.index import IndexData, Unit, vector_index
from retrieval.models import Chunk, Tip
from retrieval.search import Ranker

if TYPE_CHECKING:
    from config.settings import Settings

QUERIES = [
    "customer wants the supervisor",
    "caller is furious that the refund is late",
    "she missed the deadline and wants an exception",
    "older customer struggling with the website",
    "client says my emails are too short",
    "people waiting in line for an hour are restless",
    "coworker says apologising makes us look weak",
    "how do I keep a customer who wants to cancel",
    "technician fixed one thing and broke another",
    "I explain too much and customers tune out",
    "the customer is nervous about applying for a loan",
    "patient's family says nobody tells them anything",
]
TARGETS = {"ratio": 1.3, "rss_mb": 450.0, "search_p95_ms": 20.0, "first_answer_s": 5.0}


def _percentiles(samples: list[float]) -> tuple[float, float]:
    values = np.array(samples) * 1000
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def _timed(fn: Callable[[], object], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def synthetic_ranker(data: IndexData, chunks: int, seed: int = 0, noise: float = 0.35) -> Ranker:
    """An index of ``chunks`` units shaped like the real one, for search timing at scale.

    Vectors are real unit vectors of ``data`` plus Gaussian noise (re-normalised), so
    neighbourhoods are as crowded as real text makes them (random vectors are all nearly
    orthogonal, which flatters an HNSW graph); units per chunk and per tip follow the real
    index, and BM25 runs over the real tips' words.
    """
    rng = np.random.default_rng(seed)
    real = data.vectors.reconstruct_n(0, data.vectors.ntotal)
    units_per_tip = max(1, len(data.units) // max(1, len(data.tips)))
    units_per_chunk = max(1, round(len(data.units) / max(1, len(data.chunks))))
    n_tips = max(1, chunks // units_per_tip)
    n_chunks = max(1, chunks // units_per_chunk)
    tips = [
        Tip(
            id=f"t{i}",
            title=data.tips[i % len(data.tips)].title,
            date=None,
            categories=(),
            full=False,
            teaser=data.tips[i % len(data.tips)].text[:400],
        )
        for i in range(n_tips)
    ]
    chunk_list = [
        Chunk(f"t{i % n_tips}#passage-{i}", f"t{i % n_tips}", "passage", "", i)
        for i in range(n_chunks)
    ]
    units = [Unit(i % n_chunks, i % units_per_chunk == 0, "") for i in range(chunks)]
    picks = rng.integers(0, len(real), chunks)
    vectors = normalize_rows(
        real[picks]
        + noise
        * rng.normal(size=(chunks, real.shape[1])).astype(np.float32)
        / np.sqrt(real.shape[1])
    )
    synthetic = IndexData(
        tips, chunk_list, units, vector_index(vectors), {"dim": real.shape[1]}, data.background
    )
    return Ranker(synthetic)


def bench_synthetic_search(coach: Coach, chunks: int, rounds: int = 200) -> tuple[float, float]:
    """Ranking time per query (search, BM25, blend, evidence) over a scaled-up index."""
    ranker = synthetic_ranker(coach.data, chunks)
    texts = [QUERIES[i % len(QUERIES)] for i in range(rounds)]
    vectors = coach.encoder.encode(list(dict.fromkeys(texts)))
    by_text = dict(zip(dict.fromkeys(texts), vectors, strict=True))
    samples = []
    for text in texts:
        started = time.perf_counter()
        ranker.answer(text, by_text[text], text, k=3, min_confidence=0.0)
        samples.append(time.perf_counter() - started)
    return _percentiles(samples[5:])


_COLD_START = """
import json, resource, time
started = time.perf_counter()
from config.settings import load_settings
from retrieval.engine import Coach
coach = Coach.from_settings(load_settings(), build=False)
loaded = time.perf_counter() - started
coach.answer("customer wants the supervisor")
print(json.dumps({"load_s": loaded, "first_answer_s": time.perf_counter() - started,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
COLD_STARTS = 5


def cold_start(settings: Settings) -> dict[str, float]:
    """A fresh process: import, load the model and the built index, answer once.

    ``wall_s`` counts the interpreter's own start too; ``peak_rss_mb`` is the process's
    high-water mark (what a one-query ``coach ask`` costs).
    """
    env = {
        **os.environ,
        "COACH_DATA_DIR": str(settings.data_dir),
        "COACH_CORPUS_DIR": str(settings.corpus_dir),
    }
    if settings.embedding_model:
        env["COACH_EMBEDDING_MODEL"] = settings.embedding_model
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _COLD_START],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    report["wall_s"] = time.perf_counter() - started
    return report


def spread(values: list[float]) -> str:
    ordered = sorted(values)
    return f"min {ordered[0]:.2f}  median {float(np.median(ordered)):.2f}  max {ordered[-1]:.2f}"


def run_bench(
    settings: Settings,
    *,
    synthetic_chunks: int = 100_000,
    rounds: int = 200,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    log("loading model and index…")
    coach = Coach.from_settings(settings)

    log(f"{COLD_STARTS} cold starts in fresh processes…")
    fresh = [cold_start(settings) for _ in range(COLD_STARTS)]
    cold = [run["wall_s"] for run in fresh]
    peak_rss = max(run["peak_rss_mb"] for run in fresh)

    log("query timings…")
    queries = [
        QUERIES[i % len(QUERIES)] + ("" if i < len(QUERIES) else f" ({i})") for i in range(rounds)
    ]
    for query in QUERIES:  # warm up both paths
        coach.encoder.encode([query])
        coach.answer(query)
    encode_samples, answer_samples = [], []
    for query in queries:  # interleaved, so noise hits both equally
        encode_samples += _timed(lambda q=query: coach.encoder.encode([q]), 1)
        answer_samples += _timed(lambda q=query: coach.answer(q), 1)
    encode_p50, encode_p95 = _percentiles(encode_samples)
    answer_p50, answer_p95 = _percentiles(answer_samples)

    log("index build…")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        open_index(settings.corpus_dir, Path(tmp), coach.encoder, rebuild=True)
        build_seconds = time.perf_counter() - started

    log(f"search over a synthetic {synthetic_chunks:,}-chunk index…")
    search_p50, search_p95 = bench_synthetic_search(coach, synthetic_chunks)

    ratio = answer_p50 / encode_p50 if encode_p50 else float("inf")
    results: dict[str, Any] = {
        "encode_ms_p50": encode_p50,
        "encode_ms_p95": encode_p95,
        "answer_ms_p50": answer_p50,
        "answer_ms_p95": answer_p95,
        "ratio_p50": ratio,
        "peak_rss_mb_one_answer": peak_rss,
        "cold_start_s": cold,
        "index_build_s": build_seconds,
        "search_ms_p50": search_p50,
        "search_ms_p95": search_p95,
        "synthetic_chunks": synthetic_chunks,
        "model": coach.data.stamp.get("model"),
    }

    def verdict(ok: bool) -> str:
        return "ok" if ok else "OVER"

    results["table"] = [
        f"model                       {results['model']}",
        f"bare encode (1 query)       p50 {encode_p50:7.2f} ms   p95 {encode_p95:7.2f} ms",
        f"warm answer, end to end     p50 {answer_p50:7.2f} ms   p95 {answer_p95:7.2f} ms",
        f"answer / encode (p50)       {ratio:7.2f}   target ≤ {TARGETS['ratio']}  {verdict(ratio <= TARGETS['ratio'])}",
        f"peak RSS, one answer        {peak_rss:7.0f} MB  target ≤ {TARGETS['rss_mb']:.0f}  "
        f"{verdict(peak_rss <= TARGETS['rss_mb'])}",
        f"cold start to first answer  {spread(cold)} s  target ≤ {TARGETS['first_answer_s']:.0f}  "
        f"{verdict(float(np.median(cold)) <= TARGETS['first_answer_s'])}   ({COLD_STARTS} fresh processes)",
        f"index build                 {build_seconds:7.2f} s   ({coach.data.vectors.ntotal} vectors)",
        f"search, {synthetic_chunks:,} chunks     p50 {search_p50:7.2f} ms   p95 {search_p95:7.2f} ms  "
        f"target ≤ {TARGETS['search_p95_ms']:.0f}  {verdict(search_p95 <= TARGETS['search_p95_ms'])}",
    ]
    return results
