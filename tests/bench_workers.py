"""Memory of the web process tree with 1, 2 and 3 gunicorn workers (``WEB_CONCURRENCY``).

Run from a checkout: ``python tests/bench_workers.py``. Starts the real bot (as
``coach bench --slack`` does, against the loopback fake Slack), sends 60 slash commands,
10 at a time (so every worker answers some), and prints the PSS of the whole tree: with
several workers the master loads the model once and the workers share it.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_slack as bench
from fake_slack import FakeSlack

from config.settings import load_settings

ANSWERS = 60


def pss_with(workers: int) -> tuple[float, int]:
    """(PSS in MB after ``ANSWERS`` answers, answers delivered) with ``workers`` workers."""
    os.environ["WEB_CONCURRENCY"] = str(workers)
    workdir = Path(tempfile.mkdtemp(prefix="coach-bench-workers-"))
    slack = FakeSlack(token=bench.BENCH_TOKEN).start()
    bot = bench.BotProcess(load_settings(), slack, workdir)
    try:
        bot.start()
        url = f"{bot.url}/slack/events"
        for round_ in range(ANSWERS // 10):

            def send(i: int, r: int = round_) -> tuple[int, float, float]:
                body = bench._command_body(slack, bench.SITUATIONS[i % 10], f"w{r}-{i}")
                status, ms = bench._post(url, body, "application/x-www-form-urlencoded")
                return status, ms, time.perf_counter()

            bench._burst(send, 10)
        time.sleep(3)
        delivered = sum(1 for call in slack.calls("response_url") if call.status == 200)
        return bench.tree_pss_mb(bot.pid), delivered
    finally:
        bot.stop()
        slack.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    for workers in (1, 2, 3):
        pss, delivered = pss_with(workers)
        print(f"WEB_CONCURRENCY={workers}: PSS {pss:.0f} MB after {delivered}/{ANSWERS} answers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
