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
TARGETS = {"ratio": 1.3, "rss_mb": 700.0, "search_p95_ms": 20.0}


def rss_mb() -> float:
    """Resident set size of this process, from /proc (Linux) or ru_maxrss as a fallback."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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


def synthetic_ranker(chunks: int, dim: int, seed: int = 0) -> Ranker:
    """A random index of ``chunks`` units over chunks/10 tips, with BM25 over fake words."""
    rng = np.random.default_rng(seed)
    n_tips = max(1, chunks // 10)
    vocabulary = [f"w{i}" for i in range(5000)]
    tips = [
        Tip(
            id=f"t{i}",
            title=f"tip {i}",
            date=None,
            categories=(),
            full=False,
            teaser=" ".join(rng.choice(vocabulary, 30)),
        )
        for i in range(n_tips)
    ]
    chunk_list = [
        Chunk(f"t{i % n_tips}#passage-{i}", f"t{i % n_tips}", "passage", "", i)
        for i in range(chunks)
    ]
    units = [Unit(i, True, "") for i in range(chunks)]
    vectors = normalize_rows(rng.normal(size=(chunks, dim)).astype(np.float32))
    data = IndexData(
        tips, chunk_list, units, vector_index(vectors), {"dim": dim}, np.zeros((0, dim), np.float32)
    )
    return Ranker(data)


def bench_synthetic_search(chunks: int, dim: int, rounds: int = 200) -> tuple[float, float]:
    ranker = synthetic_ranker(chunks, dim)
    rng = np.random.default_rng(1)
    queries = normalize_rows(rng.normal(size=(rounds, dim)).astype(np.float32))
    words = "w1 w42 w999 w3100"
    samples = []
    for query in queries:
        started = time.perf_counter()
        ranker.answer("q", query, words, k=3, min_confidence=0.0)
        samples.append(time.perf_counter() - started)
    return _percentiles(samples[5:])


_COLD_START = """
import json, time
started = time.perf_counter()
from config.settings import load_settings
from retrieval.bench import rss_mb
from retrieval.engine import Coach
coach = Coach.from_settings(load_settings(), build=False)
loaded = rss_mb()
coach.answer("customer wants the supervisor")
print(json.dumps({"rss_after_load": loaded, "rss_after_answer": rss_mb(),
                  "in_process_s": time.perf_counter() - started}))
"""


def cold_start(settings: Settings) -> dict[str, float]:
    """A fresh process: import, load the model and the built index, answer once.

    Its RSS is the honest "memory after load": this process has also built indexes.
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


def run_bench(
    settings: Settings,
    *,
    synthetic_chunks: int = 100_000,
    rounds: int = 60,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    log("loading model and index…")
    coach = Coach.from_settings(settings)

    log("cold start in a fresh process…")
    fresh = cold_start(settings)
    cold, loaded_rss = fresh["wall_s"], fresh["rss_after_load"]

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
    search_p50, search_p95 = bench_synthetic_search(synthetic_chunks, coach.encoder.dim)

    ratio = answer_p50 / encode_p50 if encode_p50 else float("inf")
    results: dict[str, Any] = {
        "encode_ms_p50": encode_p50,
        "encode_ms_p95": encode_p95,
        "answer_ms_p50": answer_p50,
        "answer_ms_p95": answer_p95,
        "ratio_p50": ratio,
        "rss_mb_after_load": loaded_rss,
        "rss_mb_after_first_answer": fresh["rss_after_answer"],
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
        f"RSS after load              {loaded_rss:7.0f} MB  target ≤ {TARGETS['rss_mb']:.0f}  "
        f"{verdict(loaded_rss <= TARGETS['rss_mb'])}   (after 1st answer {fresh['rss_after_answer']:.0f} MB)",
        f"cold start to first answer  {cold:7.2f} s",
        f"index build                 {build_seconds:7.2f} s   ({coach.data.vectors.ntotal} vectors)",
        f"search, {synthetic_chunks:,} chunks     p50 {search_p50:7.2f} ms   p95 {search_p95:7.2f} ms  "
        f"target ≤ {TARGETS['search_p95_ms']:.0f}  {verdict(search_p95 <= TARGETS['search_p95_ms'])}",
    ]
    return results
