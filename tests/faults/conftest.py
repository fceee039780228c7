"""Fixtures for the fault suite: a bot wired like production (guarded store, redelivery)
and a throwaway PostgreSQL cluster the tests may stop and freeze.

Everything is loopback and bounded in time; each test prints the figures it measured.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bot_fixtures import BOT_TOKEN, SIGNING_SECRET, BotHarness, make_settings, shared_coach
from fake_slack import FakeSlack

from bot.app import build_app
from bot.deps import CoachProvider, Deps
from bot.http import SlackWSGI
from bot.redelivery import Redelivery
from bot.storage import Store
from bot.storage.engine import make_engine
from bot.storage.guard import GuardedStore

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def production_bot(
    tmp_path: Path,
    *,
    slack: FakeSlack | None = None,
    coach: Any = None,
    redelivery_delays: tuple[float, ...] = (0.2, 0.5, 1.0),
    **overrides: Any,
) -> Iterator[BotHarness]:
    """The real app with the production store wiring (:class:`GuardedStore`), a fast
    redelivery schedule and a short Slack timeout."""
    own = slack is None
    fake = slack or FakeSlack(token=BOT_TOKEN).start()
    settings = make_settings(fake, tmp_path, **{"slack_timeout": 1.0, **overrides})
    unchecked = make_engine(settings.database_url, timeout=settings.db_timeout)
    store = GuardedStore(
        lambda: Store.open(settings),
        fallback=lambda: Store(unchecked),
        deadline=settings.db_timeout,
        reopen_delays=(0.2, 0.5),
        flush_every=0.2,
    )
    deps = Deps(
        settings=settings,
        coach=CoachProvider.ready_with(coach if coach is not None else shared_coach()),
        store=store,
        coach_wait_seconds=5.0,
        redelivery=Redelivery(delays=redelivery_delays),
    )
    try:
        yield BotHarness(fake, deps, SlackWSGI(build_app(deps), deps))
    finally:
        deps.close(grace=10)
        fake.wait_idle(quiet=0.15, timeout=5)
        if own:
            fake.stop()


@dataclass
class Postgres:
    """A PostgreSQL cluster of the test's own, on a free port."""

    data: Path
    port: int
    as_postgres: bool
    frozen: tuple[int, ...] = ()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if self.as_postgres:
            command = ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(command)]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-w",
            "-l",
            str(self.data.parent / "log"),
            "-o",
            f"'-p {self.port} -k {self.data.parent} -c listen_addresses=127.0.0.1'",
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")

    def pids(self) -> list[int]:
        """The postmaster and its children (to freeze and thaw them)."""
        pid_file = self.data / "postmaster.pid"
        main = int(pid_file.read_text().split()[0])
        result = subprocess.run(["pgrep", "-P", str(main)], capture_output=True, text=True)
        return [main, *(int(p) for p in result.stdout.split())]

    def freeze(self) -> None:
        """Stop every server process: connections stay open, nothing ever answers."""
        self.frozen = tuple(self.pids())
        for pid in self.frozen:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self.frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.frozen = ()


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    if PG_BIN is None or shutil.which("pgrep") is None:
        pytest.skip("no PostgreSQL binaries to make a throwaway cluster")
    # Not under pytest's (root-only) temp dir: the server's own user must reach it.
    root = Path(tempfile.mkdtemp(prefix="coach-pg-"))
    as_postgres = os.geteuid() == 0  # initdb refuses to run as root
    if as_postgres:
        os.chmod(root, 0o755)
        shutil.chown(root, "postgres")
    cluster = Postgres(root / "data", free_port(), as_postgres)
    cluster._run("initdb", "-D", str(cluster.data), "-A", "trust", "-U", "postgres")
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            cluster.thaw()
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def report(fault: str, **figures: Any) -> None:
    """One line per fault for the CI log: what happened, in numbers."""
    print(f"\nFAULT {fault}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


def wait_until(predicate: Any, timeout: float = 10.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


@dataclass
class ServerProcess:
    """``coach serve --http`` as its own process group (so it can be killed whole)."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        """A crash: SIGKILL to the master and its workers, no shutdown code runs."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)


@contextlib.contextmanager
def server_process(
    slack: FakeSlack, data_dir: Path, *, wait_healthy: bool = True, **env: str
) -> Iterator[ServerProcess]:
    """The bot as production runs it (gunicorn, fast hashing encoder), healthy on return
    unless ``wait_healthy`` is False (then: listening)."""
    port = free_port()
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("COACH_")},
        "PORT": str(port),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "COACH_EMBEDDING_MODEL": "hashing",
        "COACH_DATA_DIR": str(data_dir),
        "COACH_LOG_LEVEL": "WARNING",
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--http"],
        env=environment,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    server = ServerProcess(process, port)
    try:
        if wait_healthy:
            assert wait_until(server.healthy, timeout=60, step=0.1), "the bot is not healthy"
        else:
            assert wait_until(server.listening, timeout=60, step=0.05), "the bot is not up"
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
