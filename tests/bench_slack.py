"""``coach bench --slack``: the HTTP bot as Slack sees it, against a loopback fake Slack.

Starts the real bot (``coach serve --http``: gunicorn, the configured model and
index) in child processes, then measures with signed requests:

* cold start: five fresh processes, spawn until ``/healthz`` says 200 (target <= 4 s) and
  until the first answer reaches Slack (target <= 5 s); min / median / max;
* bursts of 10, 50, 100 and 200 slash commands at once, then as many DMs — more than the
  bot's request and work threads, so requests queue as they do for real: ack round trip
  (target p95 <= 300 ms up to 100 at once, <= 3 s at 200), answer delivered (request sent until the answer reaches the fake
  Slack's ``response_url`` or ``chat.postMessage``) and the time jobs waited in the work
  pool (from the bot's own log);
* memory: the PSS of the bot's process tree (gunicorn master + workers) after 500+
  answers (target <= 450 MB), and how much it grew over the warm idle figure (<= 50 MB).

A request whose ack is not 200, and an answer that never arrives, is a failure: it is
counted, listed, and fails the run (exit 1) whatever the percentiles say. The query log
goes to a throw-away SQLite file, so benchmarks never pollute real data.

It drives the test fake of Slack (``tests/fake_slack.py``), so it lives in tests/ and is
not shipped: ``coach bench --slack`` imports it from a source checkout's tests/ directory.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from fake_slack import BOT_USER_ID, TEAM_ID, FakeSlack
from slack_sdk.signature import SignatureVerifier

from config.settings import Settings

BENCH_TOKEN = "xoxb-bench-0000-token"
BENCH_SECRET = "0123456789abcdef0123456789abcdef"
BURSTS = (10, 50, 100, 200)
COLD_STARTS = 5
STEADY_ANSWERS = 200  # after the bursts, so memory is read after 500+ answers
TARGET_ACK_P95_MS = 300.0  # up to 100 at once; 3 s at 200 (TARGET_ACK_P95_MS_200)
TARGET_ACK_P95_MS_200 = 3000.0
TARGET_ANSWER_P95_MS = 1000.0
TARGET_COLD_START_S = 4.0
TARGET_FIRST_ANSWER_S = 5.0
TARGET_PSS_MB = 450.0
TARGET_PSS_GROWTH_MB = 50.0  # under load, over the warm idle figure

SITUATIONS = [
    "customer wants the supervisor and none is on shift",
    "caller is angry that the refund is late",
    "the customer has been waiting on hold for an hour",
    "a customer keeps interrupting me and won't let me explain",
    "how do I show empathy when I can't fix the problem",
    "customer says we lost their order again",
    "client is upset about a policy I can't change",
    "the customer is confused by our new billing system",
    "I made a mistake and need to apologize to the customer",
    "a long line of people is waiting and getting impatient",
]


@dataclass
class Row:
    name: str
    samples: list[float]
    unit: str
    target: float | None
    failures: int = 0
    statistic: float = 0.95  # the percentile the target applies to (0.5: the median)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.samples)
        if not ordered:
            return float("nan")
        index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
        return ordered[index]

    @property
    def ok(self) -> bool:
        if not self.samples or self.failures:
            return False
        return self.target is None or self.percentile(self.statistic) <= self.target


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _signed(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    signature = SignatureVerifier(BENCH_SECRET).generate_signature(timestamp=ts, body=body)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


def _post(url: str, body: str, content_type: str) -> tuple[int, float]:
    request = urllib.request.Request(url, data=body.encode(), method="POST")
    request.add_header("Content-Type", content_type)
    for key, value in _signed(body).items():
        request.add_header(key, value)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    return status, (time.perf_counter() - started) * 1000.0


def _health(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return None


class BotProcess:
    """The bot as a child process, configured through its environment like in production."""

    def __init__(self, settings: Settings, slack: FakeSlack, workdir: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "bot.log"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SLACK_", "COACH_", "DATABASE_URL"))
        }
        env.update(
            {
                "SLACK_BOT_TOKEN": BENCH_TOKEN,
                "SLACK_SIGNING_SECRET": BENCH_SECRET,
                "SLACK_API_URL": slack.api_url,
                "PORT": str(self.port),
                "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
                "COACH_DATA_DIR": str(Path(settings.data_dir).resolve()),
                "COACH_CORPUS_DIR": str(Path(settings.corpus_dir).resolve()),
                "COACH_EMBEDDING_MODEL": settings.embedding_model,
                "COACH_LOG_LEVEL": "INFO",  # "work done" lines carry the work-pool wait
                "HF_HUB_OFFLINE": "1",
            }
        )
        if settings.min_confidence is not None:  # else the model's own
            env["COACH_MIN_CONFIDENCE"] = str(settings.min_confidence)
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start and wait for /healthz 200; returns seconds from spawn to healthy."""
        log = self.log_path.open("ab")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--http"],
            env=self.env,
            stdout=log,
            stderr=log,
        )
        deadline = started + 600  # a first run may build the index
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the bot exited with {self.process.returncode}; see {self.log_path}"
                )
            if _health(f"{self.url}/healthz") == 200:
                return time.perf_counter() - started
            time.sleep(0.02)
        raise RuntimeError(f"the bot did not become healthy; see {self.log_path}")

    @property
    def pid(self) -> int:
        assert self.process is not None, "the bot is not running"
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _command_body(slack: FakeSlack, text: str, name: str) -> str:
    return urlencode(
        {
            "token": "bench",
            "team_id": TEAM_ID,
            "channel_id": "C0BENCH01",
            "user_id": "U0BENCH01",
            "command": "/coach",
            "text": text,
            "response_url": slack.response_url(name),
            "trigger_id": "1.2.3",
        }
    )


def _dm_body(text: str, n: int) -> str:
    return json.dumps(
        {
            "type": "event_callback",
            "team_id": TEAM_ID,
            "api_app_id": "A0BENCH",
            "event_id": f"EvBENCH{n:06d}{int(time.time())}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}],
            "event": {
                "type": "message",
                "channel_type": "im",
                "channel": f"D0BENCH{n:04d}",
                "user": "U0BENCH01",
                "text": text,
                "ts": f"{time.time():.6f}",
            },
        }
    )


def _burst(
    send: Callable[[int], tuple[int, float, float]], count: int
) -> list[tuple[int, float, float]]:
    """``count`` requests at once (a barrier lines the threads up); (status, ack ms, sent at)."""
    results: list[tuple[int, float, float]] = [(0, 0.0, 0.0)] * count
    barrier = threading.Barrier(count)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = send(i)
        except OSError:  # refused, reset or timed out: a failed ack
            results[i] = (0, 0.0, time.perf_counter())

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def order_kept(acked: list[float], delivered: list[float], slack_ms: float = 5.0) -> float:
    """Percent of answer pairs delivered in the order their requests were acked: a pair
    counts as swapped when the later-acked answer arrived first by more than ``slack_ms``
    (100: strict first-acked, first-answered)."""
    pairs = swapped = 0
    tolerance = slack_ms / 1000.0
    ranked = sorted(zip(acked, delivered, strict=True))
    for i in range(len(ranked)):
        for j in range(i + 1, len(ranked)):
            if ranked[j][0] - ranked[i][0] <= tolerance:
                continue  # acked at the same moment: no order to keep
            pairs += 1
            swapped += ranked[j][1] < ranked[i][1] - tolerance
    return 100.0 if not pairs else 100.0 * (pairs - swapped) / pairs


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (gunicorn's master and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def tree_pss_mb(pid: int) -> float:
    """Proportional set size of a process tree: shared pages counted once, split fairly."""
    total_kb = 0
    for member in process_tree(pid):
        try:
            for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


def queued_ms(log_path: Path, offset: int) -> tuple[list[float], int]:
    """Work-pool waits the bot logged (``work done`` lines) since ``offset``; new offset."""
    waits: list[float] = []
    with log_path.open("rb") as handle:
        handle.seek(offset)
        data = handle.read()
    data = data[: data.rfind(b"\n") + 1]  # a line still being written is read next time
    for line in data.decode("utf-8", "replace").splitlines():
        if '"queued_ms"' not in line:
            continue
        try:
            waits.append(float(json.loads(line)["queued_ms"]))
        except (ValueError, KeyError, TypeError):
            continue
    return waits, offset + len(data)


def first_answer(bot: BotProcess, slack: FakeSlack, name: str, spawned: float) -> float | None:
    """Seconds from spawning ``bot`` until its first slash answer reaches Slack."""
    status, _ = _post(
        f"{bot.url}/slack/events",
        _command_body(slack, SITUATIONS[0], name),
        "application/x-www-form-urlencoded",
    )
    arrived = _wait_path(slack, "response_url", f"/response/{name}", timeout=30)
    if status != 200 or arrived is None:
        return None
    return arrived - spawned


def run(
    settings: Settings,
    *,
    bursts: tuple[int, ...] = BURSTS,
    cold_starts: int = COLD_STARTS,
    steady: int = STEADY_ANSWERS,
    log: Callable[[str], None] = print,
) -> list[Row]:
    """Run the whole benchmark and return its rows (failures counted in them)."""
    workdir = Path(tempfile.mkdtemp(prefix="coach-bench-slack-"))
    slack = FakeSlack(token=BENCH_TOKEN).start()
    bot = BotProcess(settings, slack, workdir)
    rows: list[Row] = []
    try:
        log("warm-up start (builds the index if it is missing; not measured)...")
        bot.start()
        bot.stop()
        healthy: list[float] = []
        answered: list[float] = []
        cold_failures = 0
        for n in range(cold_starts):
            log(f"cold start {n + 1}/{cold_starts}...")
            spawned = time.perf_counter()
            healthy.append(bot.start())
            seconds = first_answer(bot, slack, f"cold{n}", spawned)
            if seconds is None:
                cold_failures += 1
            else:
                answered.append(seconds)
            if n < cold_starts - 1:
                bot.stop()
        rows.append(Row("cold start to healthy", healthy, "s", TARGET_COLD_START_S, 0, 0.5))
        rows.append(
            Row(
                "cold start to 1st answer", answered, "s", TARGET_FIRST_ANSWER_S, cold_failures, 0.5
            )
        )
        events_url = f"{bot.url}/slack/events"
        idle_pss = tree_pss_mb(bot.pid)  # warm (one answer), before any load
        log_offset = bot.log_path.stat().st_size
        sent_total = 0
        for size in bursts:
            acks: list[float] = []
            answers: list[float] = []
            in_order: list[float] = []
            bad_acks = lost = 0
            for kind in ("slash", "dm"):
                log(f"burst: {size} {'slash commands' if kind == 'slash' else 'DMs'} at once")
                base = sent_total

                def send(i: int, kind: str = kind, base: int = base) -> tuple[int, float, float]:
                    sent = time.perf_counter()
                    text = SITUATIONS[i % len(SITUATIONS)]
                    if kind == "slash":
                        body = _command_body(slack, text, f"b{base + i}")
                        status, ms = _post(events_url, body, "application/x-www-form-urlencoded")
                    else:
                        status, ms = _post(events_url, _dm_body(text, base + i), "application/json")
                    return status, ms, sent

                results = _burst(send, size)
                sent_total += size
                acked_at: list[float] = []
                arrived_at: list[float] = []
                for i, (status, ms, sent) in enumerate(results):
                    if status != 200:
                        bad_acks += 1  # a 401, 500 or dropped connection is not a fast ack
                        continue
                    acks.append(ms)
                    arrived = (
                        _wait_path(slack, "response_url", f"/response/b{base + i}")
                        if kind == "slash"
                        else _wait_channel(slack, f"D0BENCH{base + i:04d}")
                    )
                    if arrived is None:
                        lost += 1  # never answered
                    else:
                        answers.append((arrived - sent) * 1000.0)
                        acked_at.append(sent + ms / 1000.0)
                        arrived_at.append(arrived)
                in_order.append(order_kept(acked_at, arrived_at))
            waits: list[float] = []
            deadline = time.monotonic() + 5  # a job logs its wait just after it answers
            while len(waits) < len(answers) and time.monotonic() < deadline:
                more, log_offset = queued_ms(bot.log_path, log_offset)
                waits += more
                time.sleep(0.05)
            target = TARGET_ACK_P95_MS if size <= 100 else TARGET_ACK_P95_MS_200
            rows.append(Row(f"ack ({size} at once)", acks, "ms", target, bad_acks))
            rows.append(Row(f"answer ({size} at once)", answers, "ms", None, lost))
            rows.append(Row(f"work-pool wait ({size})", waits, "ms", None))
            rows.append(Row(f"answers in ack order ({size})", in_order, "%", None))
        log(f"steady load: {steady} more answers, 10 at a time...")
        steady_failures = 0
        for start in range(0, steady, 10):
            base = sent_total

            def one(i: int, base: int = base) -> tuple[int, float, float]:
                body = _command_body(slack, SITUATIONS[i % len(SITUATIONS)], f"s{base + i}")
                status, ms = _post(events_url, body, "application/x-www-form-urlencoded")
                return status, ms, time.perf_counter()

            results = _burst(one, min(10, steady - start))
            sent_total += len(results)
            for i, (status, _, _) in enumerate(results):
                if (
                    status != 200
                    or _wait_path(slack, "response_url", f"/response/s{base + i}") is None
                ):
                    steady_failures += 1
        answers_total = sent_total + cold_starts
        pss = tree_pss_mb(bot.pid)
        rows.append(
            Row(f"PSS after {answers_total} answers", [pss], "MB", TARGET_PSS_MB, steady_failures)
        )
        rows.append(Row("PSS growth over idle", [pss - idle_pss], "MB", TARGET_PSS_GROWTH_MB))
        return rows
    finally:
        bot.stop()
        slack.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_path(slack: FakeSlack, method: str, path_end: str, timeout: float = 15.0) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for call in slack.calls(method):
            if call.path.endswith(path_end) and call.status == 200:
                return call.at
        time.sleep(0.005)
    return None


def _wait_channel(slack: FakeSlack, channel: str, timeout: float = 15.0) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for call in slack.calls("chat.postMessage"):
            if call.body.get("channel") == channel and call.status == 200:
                return call.at
        time.sleep(0.005)
    return None


def format_table(rows: list[Row]) -> str:
    header = (
        f"{'measure':<28} {'n':>4} {'min':>8} {'p50':>8} {'p95':>8} {'max':>8} "
        f"{'target':>14} {'failed':>6}  ok"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        digits = 2 if row.unit == "s" else 0 if row.unit == "MB" else 1
        if row.unit == "%":
            digits = 0

        def cell(value: float, digits: int = digits, unit: str = row.unit) -> str:
            return f"{value:>6.{digits}f}{unit:>2}"

        which = "median" if row.statistic == 0.5 else "p95"
        target = f"{which} <= {row.target:g}" if row.target is not None else "-"
        lines.append(
            f"{row.name:<28} {len(row.samples):>4} {cell(min(row.samples, default=float('nan')))} "
            f"{cell(row.percentile(0.5))} {cell(row.percentile(0.95))} "
            f"{cell(max(row.samples, default=float('nan')))} {target:>14} {row.failures:>6}  "
            f"{'yes' if row.ok else 'NO'}"
        )
    return "\n".join(lines)


def main(settings: Settings) -> int:
    """Run the Slack benchmark; 0 when every target is met and nothing failed or got lost,
    1 otherwise, 2 when the benchmark itself could not run."""
    try:
        rows = run(settings, log=lambda message: print(message, file=sys.stderr))
    except (RuntimeError, OSError, TimeoutError) as exc:
        print(f"coach bench --slack: {exc}", file=sys.stderr)
        return 2
    print(format_table(rows))
    failed = sum(row.failures for row in rows)
    if failed:
        print(f"{failed} request(s) failed (not acked with 200) or were never answered.")
    return 0 if all(row.ok for row in rows if row.target is not None) and not failed else 1


if __name__ == "__main__":
    from config.settings import load_settings

    sys.exit(main(load_settings()))
