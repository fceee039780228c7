"""The container image's build steps, end to end, without a container engine.

``deploy/build.sh`` is what the Dockerfile runs. Here it runs the same way into a fresh
virtual environment (from the repository, like ``COPY . /src``), then the release step
(``coach migrate``) and the web process: ``/healthz`` must turn 200 and one slash command
must be answered through a fake Slack. The installed size is printed (target ≤ 1.2 GB).
Slow (a fresh install), so it is one test; CI runs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from bot_fixtures import BOT_TOKEN, SIGNING_SECRET, post_slash_over_http
from fake_slack import FakeSlack

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(1200)


def _size_mb(path: Path) -> float:
    result = subprocess.run(["du", "-sm", str(path)], capture_output=True, text=True, check=True)
    return float(result.stdout.split()[0])


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.skipif(shutil.which("du") is None, reason="needs du")
def test_image_build_steps_give_a_bot_that_answers(tmp_path: Path) -> None:
    src = tmp_path / "src"  # what `COPY . /src` gives the image: the tree, no venv or data
    shutil.copytree(
        REPO,
        src,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "venv", "var", "__pycache__", "*.egg-info", ".pytest_cache", "build"
        ),
    )
    venv, data = tmp_path / "venv", tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COACH_", "SLACK_"))}
    env.pop("DATABASE_URL", None)
    env["PYTHON"] = sys.executable
    built = subprocess.run(
        ["bash", str(src / "deploy" / "build.sh"), str(src), str(venv), str(data)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1100,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert (data / "index" / "CURRENT").exists()
    size = _size_mb(venv)
    print(f"\ninstalled size: {size:.0f} MB (virtual environment), index {_size_mb(data):.0f} MB")
    assert size <= 1200
    assert not list(venv.glob("lib/python*/site-packages/torch"))  # the model needs no torch

    run_env = {
        **env,
        "HF_HUB_OFFLINE": "1",
        "COACH_DATA_DIR": str(data),
        "COACH_CORPUS_DIR": str(src / "corpus"),
        "COACH_AUTO_MIGRATE": "false",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'coach.sqlite3'}",
    }
    coach = str(venv / "bin" / "coach")
    release = subprocess.run(
        [coach, "migrate"], env=run_env, capture_output=True, text=True, timeout=120
    )
    assert release.returncode == 0 and "is at schema" in release.stdout, release.stderr

    with FakeSlack(token=BOT_TOKEN) as slack:
        port = _free_port()
        web_env = {
            **run_env,
            "PORT": str(port),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
        }
        log = (tmp_path / "web.log").open("wb")
        web = subprocess.Popen([coach, "serve", "--http"], env=web_env, stdout=log, stderr=log)
        try:
            started = time.monotonic()
            status = None
            while time.monotonic() - started < 60 and status != 200:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                        status = r.status
                except OSError:
                    time.sleep(0.1)
            assert status == 200, (tmp_path / "web.log").read_text()[-2000:]
            status, _ = post_slash_over_http(
                f"http://127.0.0.1:{port}",
                slack,
                "customer wants the supervisor and none is on shift",
                name="deploy",
            )
            assert status == 200
            [answer] = slack.wait_for("response_url", timeout=30)
            assert "When They Want the Supervisor" in answer.body["text"]
        finally:
            web.terminate()
            web.wait(30)
            log.close()
