"""``coach serve`` as a real process (gunicorn) talking HTTP, plus its start-up checks."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from bot_fixtures import BOT_TOKEN, SIGNING_SECRET, sign
from fake_slack import FakeSlack

from bot import serve
from config.settings import load_settings

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_command(*args: str) -> list[str]:
    """``coach serve`` (the one way to start the bot) with this interpreter."""
    return [sys.executable, "-m", "bot.cli", "serve", *args]


def clean_env(**values: str) -> dict[str, str]:
    """The parent's environment minus anything that configures the bot, plus ``values``."""
    prefixes = ("SLACK_", "COACH_", "DATABASE_URL", "PORT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update({"HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **values})
    return env


def http(
    method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body if method == "POST" else None, method=method)
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(token=BOT_TOKEN) as fake:
        yield fake


def test_coach_serve_runs_gunicorn_reports_health_and_answers_signed_requests(
    tmp_path: Path, slack: FakeSlack
) -> None:
    port = free_port()
    env = clean_env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        PORT=str(port),
        COACH_DATA_DIR=str(tmp_path),
        COACH_EMBEDDING_MODEL="hashing",
    )
    log = (tmp_path / "serve.log").open("w+b")
    process = subprocess.Popen(
        serve_command("--http"), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        statuses: list[int] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                status, body = http("GET", f"{base}/healthz")
            except OSError:
                assert process.poll() is None, "the server died during start-up"
                time.sleep(0.02)
                continue
            statuses.append(status)
            if status == 200:
                break
            assert status == 503 and json.loads(body)["status"] == "loading"
            time.sleep(0.02)
        assert statuses and statuses[-1] == 200, statuses
        assert set(statuses[:-1]) <= {503}

        body_text = (
            "token=x&team_id=T0COACH&channel_id=C0SUPPORT1&user_id=U0REP0001&command=%2Fcoach"
            "&text=customer+wants+to+talk+to+the+supervisor"
            f"&response_url={slack.response_url('served')}&trigger_id=1.2.3"
        )
        headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body_text)}
        started = time.perf_counter()
        status, ack = http("POST", f"{base}/slack/events", body_text.encode(), headers)
        assert status == 200 and ack == b""
        assert time.perf_counter() - started < 3.0
        [answer] = slack.wait_for("response_url", timeout=15)
        assert "When They Want the Supervisor" in answer.body["text"]

        forged = {
            "Content-Type": "application/x-www-form-urlencoded",
            **sign(body_text, secret="0" * 32),
        }
        assert http("POST", f"{base}/slack/events", body_text.encode(), forged)[0] == 401
        broken = "payload=%7Bnot-json"
        assert (
            http("POST", f"{base}/slack/events", broken.encode(), {**headers, **sign(broken)})[0]
            == 400
        )
        assert http("GET", f"{base}/nowhere")[0] == 404
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        log.seek(0)
        output = log.read().decode("utf-8", "replace")
        log.close()
    assert code == 0, output[-2000:]
    assert BOT_TOKEN not in output and SIGNING_SECRET not in output
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("message") == "request"]
    assert any(r["path"] == "/slack/events" and r["status"] == 200 for r in requests)
    assert any(r.get("slack_type") == "command:/coach" for r in requests)
    assert not any(line.startswith("Traceback") for line in output.splitlines())


def test_a_malformed_token_stops_start_up_naming_the_variable(tmp_path: Path) -> None:
    env = clean_env(
        SLACK_BOT_TOKEN="not-a-token",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        COACH_DATA_DIR=str(tmp_path),
    )
    result = subprocess.run(
        serve_command("--http"), cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN" in result.stderr
    assert "not-a-token" not in result.stdout


@pytest.mark.parametrize(
    ("values", "socket_mode", "missing"),
    [
        ({"slack_signing_secret": SIGNING_SECRET}, False, "SLACK_BOT_TOKEN"),
        ({"slack_bot_token": BOT_TOKEN}, False, "SLACK_SIGNING_SECRET"),
        ({"slack_bot_token": BOT_TOKEN}, True, "SLACK_APP_TOKEN"),
    ],
)
def test_missing_settings_exit_2_with_the_variable_named(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    values: dict,
    socket_mode: bool,
    missing: str,
) -> None:
    settings = load_settings(data_dir=tmp_path, _env_file=None, **values)
    assert serve.main(settings, socket=socket_mode) == 2
    assert missing in capsys.readouterr().err


def test_socket_mode_is_chosen_by_flag_or_app_token(tmp_path: Path) -> None:
    plain = load_settings(data_dir=tmp_path, _env_file=None)
    with_app_token = load_settings(
        data_dir=tmp_path, _env_file=None, slack_app_token="xapp-1-A1-1-abc"
    )
    assert serve.use_socket_mode(plain, None) is False
    assert serve.use_socket_mode(with_app_token, None) is True
    assert serve.use_socket_mode(with_app_token, False) is False
    assert serve.use_socket_mode(plain, True) is True


def test_socket_mode_handler_talks_to_the_configured_api_url(tmp_path: Path) -> None:
    from bot_fixtures import build_deps, make_settings

    settings = make_settings(None, tmp_path, slack_app_token="xapp-1-A1-1-abc")
    deps = build_deps(settings)
    handler = serve.socket_handler(settings, deps)
    assert handler.client.web_client.base_url == settings.slack_api_url
    assert len(handler.client.web_client.retry_handlers) == 3
    assert handler.app.client.base_url == settings.slack_api_url
    deps.close()  # the work pool, then the store


def test_gunicorn_runs_web_concurrency_deadline_gthread_workers_on_port(tmp_path: Path) -> None:
    from gunicorn.workers.gthread import ThreadWorker

    from bot.worker import CoachWorker

    options = serve.gunicorn_options(load_settings(data_dir=tmp_path, port=4321, _env_file=None))
    assert options["bind"] == "0.0.0.0:4321"
    assert options["workers"] == 1 and options["threads"] > 64  # more than slow clients take
    assert options["worker_class"] == "bot.worker.CoachWorker"
    assert issubclass(CoachWorker, ThreadWorker)
    assert options["graceful_timeout"] == 27  # COACH_SHUTDOWN_GRACE (25) + the close() margin
    four = load_settings(data_dir=tmp_path, web_concurrency=4, _env_file=None)
    assert serve.gunicorn_options(four)["workers"] == 4


def test_gunicorn_worker_exit_finishes_acked_work_and_closes_the_app(tmp_path: Path) -> None:
    """The ``worker_exit`` hook closes the worker's app: queued answers still go out."""
    from types import SimpleNamespace

    from bot_fixtures import build_deps, make_settings

    from bot.http import build_wsgi

    options = serve.gunicorn_options(load_settings(data_dir=tmp_path, _env_file=None))
    deps = build_deps(make_settings(None, tmp_path))
    done: list[str] = []

    def slow_answer() -> None:
        time.sleep(0.3)
        done.append("answered")

    deps.run_later("test", slow_answer)
    assert done == []
    worker = SimpleNamespace(wsgi=build_wsgi(deps))
    options["worker_exit"](None, worker)
    assert done == ["answered"]
    deps.run_later("late", lambda: done.append("inline"))  # closed: runs here, not lost
    assert done == ["answered", "inline"]
    options["worker_exit"](None, SimpleNamespace())  # a worker that never loaded the app


def test_procfile_runs_the_http_bot() -> None:
    procfile = (REPO / "Procfile").read_text(encoding="utf-8")
    assert "web: coach serve --http" in procfile.splitlines()


def test_manifest_declares_what_the_bot_uses() -> None:
    yaml = pytest.importorskip("yaml")
    manifest = yaml.safe_load((REPO / "manifest.yaml").read_text(encoding="utf-8"))
    features = manifest["features"]
    assert [c["command"] for c in features["slash_commands"]] == ["/coach"]
    assert features["app_home"]["home_tab_enabled"] is True
    settings = manifest["settings"]
    events = set(settings["event_subscriptions"]["bot_events"])
    assert {"app_mention", "message.im", "app_home_opened"} <= events
    assert settings["interactivity"]["is_enabled"] is True
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {
        "app_mentions:read",
        "chat:write",
        "commands",
        "im:history",
        "reactions:write",
    } <= scopes
    assert not scopes & {
        "chat:write.public",
        "channels:read",
        "users:read",
        "admin",
        "channels:manage",
    }


def test_the_mentions_only_manifest_is_the_manifest_without_channel_history() -> None:
    """For teams that want mentions only: no channel history scopes or events, and
    otherwise exactly the main manifest (so the two cannot drift apart)."""
    yaml = pytest.importorskip("yaml")
    full = yaml.safe_load((REPO / "manifest.yaml").read_text(encoding="utf-8"))
    lean = yaml.safe_load(
        (REPO / "deploy" / "manifest-mentions-only.yaml").read_text(encoding="utf-8")
    )
    history = {"channels:history", "groups:history"}
    events = {"message.channels", "message.groups"}
    assert history <= set(full["oauth_config"]["scopes"]["bot"])
    assert not history & set(lean["oauth_config"]["scopes"]["bot"])
    assert not events & set(lean["settings"]["event_subscriptions"]["bot_events"])
    full["oauth_config"]["scopes"]["bot"] = [
        s for s in full["oauth_config"]["scopes"]["bot"] if s not in history
    ]
    full["settings"]["event_subscriptions"]["bot_events"] = [
        e for e in full["settings"]["event_subscriptions"]["bot_events"] if e not in events
    ]
    assert lean == full


def test_slack_bench_drives_the_real_bot_and_prints_a_table(tmp_path: Path) -> None:
    """One short round with the fake encoder: the numbers are the bench's job, not this test's."""
    import bench_slack

    settings = load_settings(data_dir=tmp_path, embedding_model="hashing", _env_file=None)
    messages: list[str] = []
    rows = bench_slack.run(settings, bursts=(20,), cold_starts=2, steady=10, log=messages.append)
    names = [row.name for row in rows]
    assert names == [
        "cold start to healthy",
        "cold start to 1st answer",
        "ack (20 at once)",
        "answer (20 at once)",
        "work-pool wait (20)",
        "answers in ack order (20)",
        "PSS after 52 answers",
        "PSS growth over idle",
    ]
    counts = {row.name: len(row.samples) for row in rows}
    assert counts["cold start to healthy"] == 2 and counts["cold start to 1st answer"] == 2
    assert counts["ack (20 at once)"] == 40 and counts["answer (20 at once)"] == 40
    assert counts["work-pool wait (20)"] >= 40  # every job logs its wait
    assert counts["answers in ack order (20)"] == 2  # one figure per kind (slash, DM)
    assert all(0 <= pct <= 100 for pct in rows[5].samples)
    assert sum(row.failures for row in rows) == 0
    assert all(sample >= 0 for row in rows for sample in row.samples)
    assert 20 < rows[-2].samples[0] < 2000  # MB of the master and its worker
    table = bench_slack.format_table(rows)
    assert "p95" in table and "cold start to healthy" in table and "failed" in table


def test_answer_order_counts_pairs_answered_out_of_ack_order() -> None:
    from bench_slack import order_kept

    assert order_kept([1.0, 2.0, 3.0], [1.5, 2.5, 3.5]) == 100.0
    assert order_kept([1.0, 2.0, 3.0], [3.5, 2.5, 1.5]) == 0.0
    assert order_kept([1.0, 2.0, 3.0], [2.5, 1.5, 3.5]) == pytest.approx(200 / 3)
    assert order_kept([1.0, 1.001], [2.0, 1.0]) == 100.0  # acked together: no order to keep
    assert order_kept([], []) == 100.0


def test_slack_bench_counts_a_refused_ack_and_a_lost_answer_as_failures() -> None:
    from bench_slack import Row

    fast_but_refused = Row("ack", [5.0, 6.0], "ms", 300.0, failures=1)
    assert not fast_but_refused.ok  # a quick 401 is not a quick ack
    assert Row("ack", [5.0, 6.0], "ms", 300.0).ok
    assert not Row("answer", [], "ms", None).ok  # nothing delivered is not a pass


def test_the_slack_bench_is_not_in_the_product_packages() -> None:
    """Test doubles live in tests/: the wheel ships bot/, retrieval/ and config/ only."""
    for package in ("bot", "retrieval", "config"):
        names = {path.stem for path in (REPO / package).rglob("*.py")}
        assert not names & {"fake_slack", "bench_slack"}, package


def test_coach_bench_slack_imports_the_bench_from_the_checkouts_tests_dir() -> None:
    """In a fresh interpreter (tests/ not on sys.path): found beside the ``bot`` package, and
    tests/ is on sys.path only while the bench loads."""
    script = (
        "import sys\n"
        "from bot.cli import checkout_tests_dir, load_slack_bench\n"
        "tests = str(checkout_tests_dir())\n"
        "assert tests not in sys.path\n"
        "bench_main = load_slack_bench()\n"
        "assert tests not in sys.path\n"
        "print(tests)\n"
        "print(sys.modules[bench_main.__module__].__file__)\n"
        "print(sys.modules['fake_slack'].__file__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,  # this checkout's bot package, whatever is installed
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    tests, bench_file, fake_file = result.stdout.split()
    assert Path(tests) == REPO / "tests"
    assert Path(bench_file) == REPO / "tests" / "bench_slack.py"
    assert Path(fake_file) == REPO / "tests" / "fake_slack.py"


def test_coach_bench_slack_from_a_wheel_exits_2_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Installed from a wheel there is no tests/ beside ``bot`` (site-packages may even hold
    some other project's ``tests`` package): a message, not an ImportError traceback."""
    import typer

    from bot import cli

    site_packages = tmp_path / "site-packages"
    (site_packages / "bot").mkdir(parents=True)
    (site_packages / "tests").mkdir()
    (site_packages / "tests" / "__init__.py").write_text("")
    assert cli.checkout_tests_dir(site_packages / "bot") is None
    assert cli.checkout_tests_dir(REPO / "bot") == REPO / "tests"
    with pytest.raises(typer.Exit) as exited:
        cli.load_slack_bench(site_packages / "bot")
    assert exited.value.exit_code == 2
    message = " ".join(capsys.readouterr().err.split())
    assert message == cli.SLACK_BENCH_NEEDS_CHECKOUT
    assert message.startswith(
        "coach bench --slack runs from a source checkout: it drives the test fake of Slack in tests/"
    )


def test_coach_bench_slack_command_prints_the_message_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same through the command itself, with the checkout lookup finding nothing."""
    from typer.testing import CliRunner

    from bot import cli

    monkeypatch.setattr(cli, "checkout_tests_dir", lambda package_dir=None: None)
    result = CliRunner().invoke(cli.app, ["bench", "--slack"])
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)  # typer.Exit, not an ImportError
    assert "runs from a source checkout" in " ".join(result.stderr.split())
    assert "Traceback" not in result.output


def test_only_connections_refused_before_sending_are_retried_blindly() -> None:
    """A timeout may hide a post Slack made: the client must not repeat it (redelivery
    checks the conversation first); a refused connection never reached Slack."""
    import urllib.error

    from bot.slack_client import is_timeout

    assert is_timeout(TimeoutError("read timed out"))
    assert is_timeout(urllib.error.URLError(TimeoutError("timed out")))
    assert not is_timeout(ConnectionRefusedError(111, "Connection refused"))
    assert not is_timeout(urllib.error.URLError(ConnectionRefusedError(111, "refused")))
    http_error = urllib.error.HTTPError("https://x", 404, "Not Found", None, None)  # type: ignore[arg-type]
    assert not is_timeout(http_error)  # its .reason is a string, not an error


@pytest.mark.model
def test_several_workers_share_one_model_loaded_before_the_fork(tmp_path: Path) -> None:
    """WEB_CONCURRENCY > 1: the master loads the ONNX model once; a forked worker encodes
    with it (from several threads) exactly as the master would."""
    import os
    import threading

    import numpy as np

    from bot.serve import shared_encoder

    one = load_settings(data_dir=tmp_path, _env_file=None)
    assert shared_encoder(one) is None  # one worker: it loads its own, nothing to share
    threaded = load_settings(data_dir=tmp_path, web_concurrency=2, model_threads=2, _env_file=None)
    assert shared_encoder(threaded) is None  # a thread pool would not survive the fork
    hashing = load_settings(
        data_dir=tmp_path, web_concurrency=2, embedding_model="hashing", _env_file=None
    )
    assert shared_encoder(hashing) is None
    encoder = shared_encoder(load_settings(data_dir=tmp_path, web_concurrency=2, _env_file=None))
    assert encoder is not None
    texts = ["customer wants the supervisor", "refund is late"]
    expected = encoder.encode(texts)
    pid = os.fork()
    if pid == 0:  # the worker
        results: list[bool] = []

        def encode() -> None:
            for _ in range(5):
                results.append(bool(np.allclose(encoder.encode(texts), expected, atol=1e-5)))

        threads = [threading.Thread(target=encode) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        os._exit(0 if len(results) == 15 and all(results) else 3)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_gunicorn_log_lines_are_redacted_and_masked(tmp_path: Path) -> None:
    """gunicorn's own handler (its error log, in the master) gets the same filters as ours."""
    import io
    import logging.config

    settings = load_settings(data_dir=tmp_path, _env_file=None)
    config = serve.gunicorn_options(settings)["logconfig_dict"]
    # dictConfig changes process-wide logging: put back what the other tests rely on
    loggers = [logging.getLogger(), *map(logging.getLogger, logging.root.manager.loggerDict)]
    saved = [(lg, lg.handlers[:], lg.level, lg.disabled, lg.propagate) for lg in loggers]
    logging.config.dictConfig(config)
    handler = logging.getLogger("gunicorn.error").handlers[0]
    stream = io.StringIO()
    handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        logging.getLogger("gunicorn.error").error(
            "bad request from jane.doe@example.com with xoxb-1234-5678-abcdefghijkl"
        )
        line = stream.getvalue()
    finally:
        for lg, handlers, level, disabled, propagate in saved:
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.disabled, lg.propagate = disabled, propagate
    assert "jane.doe@example.com" not in line and "xoxb-1234-5678-abcdefghijkl" not in line
    assert "bad request from" in line


def test_the_server_runs_numpys_math_on_one_thread() -> None:
    """Idle BLAS threads spin-wait after each call and take the cores acks need."""
    from threadpoolctl import threadpool_info

    from bot.serve import one_math_thread

    limiter = one_math_thread()
    try:
        blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
        assert blas, "numpy's BLAS was not found"
        assert all(pool["num_threads"] == 1 for pool in blas)
    finally:
        limiter.restore_original_limits()
