"""``coach bench --slack``: the HTTP bot as Slack sees it, against a loopback fake Slack.

Starts the real bot (``python -m bot.serve --http``: gunicorn, the configured model and
index) in a child process, then measures with signed requests:

* cold start: process start until ``/healthz`` says 200 (target <= 8 s);
* ack: HTTP round trip of slash commands sent 10 at a time (target p95 <= 300 ms);
* answer delivered: request sent until the answer reaches the fake Slack's
  ``response_url`` (slash) or ``chat.postMessage`` (DM) (target p95 <= 1 s).

The query log goes to a throw-away SQLite file, so benchmarks never pollute real data.
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

from slack_sdk.signature import SignatureVerifier

from bot.fake_slack import BOT_USER_ID, TEAM_ID, FakeSlack
from config.settings import Settings

BENCH_TOKEN = "xoxb-bench-0000-token"
BENCH_SECRET = "0123456789abcdef0123456789abcdef"
CONCURRENCY = 10
ROUNDS = 5
TARGET_ACK_P95_MS = 300.0
TARGET_ANSWER_P95_MS = 1000.0
TARGET_COLD_START_S = 8.0

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

    def percentile(self, q: float) -> float:
        ordered = sorted(self.samples)
        if not ordered:
            return float("nan")
        index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
        return ordered[index]

    @property
    def ok(self) -> bool:
        return bool(self.samples) and (self.target is None or self.percentile(0.95) <= self.target)


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
                "COACH_MIN_CONFIDENCE": str(settings.min_confidence),
                "COACH_LOG_LEVEL": "WARNING",
                "HF_HUB_OFFLINE": "1",
            }
        )
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start and wait for /healthz 200; returns seconds from spawn to healthy."""
        log = self.log_path.open("ab")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.serve", "--http"], env=self.env, stdout=log, stderr=log
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
        results[i] = send(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def run(
    settings: Settings, *, rounds: int = ROUNDS, log: Callable[[str], None] = print
) -> list[Row]:
    """Run the whole benchmark and return its rows."""
    workdir = Path(tempfile.mkdtemp(prefix="coach-bench-slack-"))
    slack = FakeSlack(token=BENCH_TOKEN).start()
    bot = BotProcess(settings, slack, workdir)
    try:
        log("warm-up start (builds the index if it is missing)...")
        bot.start()
        bot.stop()
        log("cold start...")
        cold = bot.start()
        events_url = f"{bot.url}/slack/events"
        # the first request pays for auth.test; keep it out of the numbers
        _post(
            events_url,
            _command_body(slack, SITUATIONS[0], "warmup"),
            "application/x-www-form-urlencoded",
        )
        slack.wait_for("response_url", timeout=30)

        acks: list[float] = []
        slash_answers: list[float] = []
        dm_answers: list[float] = []
        failures = 0
        for round_no in range(rounds):
            log(
                f"round {round_no + 1}/{rounds}: {CONCURRENCY} slash commands, then {CONCURRENCY} DMs"
            )

            def slash(i: int, round_no: int = round_no) -> tuple[int, float, float]:
                sent = time.perf_counter()
                body = _command_body(slack, SITUATIONS[i % len(SITUATIONS)], f"r{round_no}-{i}")
                status, ms = _post(events_url, body, "application/x-www-form-urlencoded")
                return status, ms, sent

            results = _burst(slash, CONCURRENCY)
            for i, (status, ms, sent) in enumerate(results):
                failures += status != 200
                acks.append(ms)
                name = f"/response/r{round_no}-{i}"
                arrived = _wait_path(slack, "response_url", name)
                if arrived is not None:
                    slash_answers.append((arrived - sent) * 1000.0)
                else:
                    failures += 1

            def dm(i: int, round_no: int = round_no) -> tuple[int, float, float]:
                sent = time.perf_counter()
                n = round_no * CONCURRENCY + i
                status, ms = _post(
                    events_url, _dm_body(SITUATIONS[i % len(SITUATIONS)], n), "application/json"
                )
                return status, ms, sent

            results = _burst(dm, CONCURRENCY)
            for i, (status, ms, sent) in enumerate(results):
                failures += status != 200
                acks.append(ms)
                channel = f"D0BENCH{round_no * CONCURRENCY + i:04d}"
                arrived = _wait_channel(slack, channel)
                if arrived is not None:
                    dm_answers.append((arrived - sent) * 1000.0)
                else:
                    failures += 1
        if failures:
            log(f"warning: {failures} request(s) failed or were never answered")
        return [
            Row("cold start to healthy", [cold], "s", TARGET_COLD_START_S),
            Row(f"ack ({CONCURRENCY} concurrent)", acks, "ms", TARGET_ACK_P95_MS),
            Row("answer delivered: slash", slash_answers, "ms", TARGET_ANSWER_P95_MS),
            Row("answer delivered: DM", dm_answers, "ms", TARGET_ANSWER_P95_MS),
        ]
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
    header = f"{'measure':<30} {'n':>4} {'p50':>9} {'p95':>9} {'max':>9} {'target p95':>11}  ok"
    lines = [header, "-" * len(header)]
    for row in rows:
        digits = 2 if row.unit == "s" else 1

        def cell(value: float, digits: int = digits, unit: str = row.unit) -> str:
            return f"{value:>7.{digits}f}{unit:>2}"

        target = f"<= {row.target:g} {row.unit}" if row.target is not None else "-"
        worst = max(row.samples, default=float("nan"))
        lines.append(
            f"{row.name:<30} {len(row.samples):>4} {cell(row.percentile(0.5))} "
            f"{cell(row.percentile(0.95))} {cell(worst)} {target:>11}  {'yes' if row.ok else 'NO'}"
        )
    return "\n".join(lines)


def main(settings: Settings) -> int:
    """Run the Slack benchmark; 0 when every target is met, 1 when one is missed, 2 on failure."""
    try:
        rows = run(settings, log=lambda message: print(message, file=sys.stderr))
    except (RuntimeError, OSError, TimeoutError) as exc:
        print(f"coach bench --slack: {exc}", file=sys.stderr)
        return 2
    print(format_table(rows))
    return 0 if all(row.ok for row in rows) else 1


if __name__ == "__main__":
    from config.settings import load_settings

    sys.exit(main(load_settings()))
