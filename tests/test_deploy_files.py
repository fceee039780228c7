"""Deploy files agree with the settings and with each other (what cannot run here is checked)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

from config.settings import _ENV_NAMES, Settings

REPO = Path(__file__).resolve().parent.parent
SETTINGS = {_ENV_NAMES[name] for name in Settings.model_fields}


def test_env_sample_names_every_setting() -> None:
    text = (REPO / ".env.sample").read_text()
    missing = sorted(name for name in SETTINGS if not re.search(rf"^#? ?{name}=", text, re.M))
    assert missing == []


def test_app_json_describes_real_settings_and_the_dynos() -> None:
    app = json.loads((REPO / "app.json").read_text())
    unknown = set(app["env"]) - SETTINGS - {"HF_HUB_OFFLINE"}
    assert unknown == set()
    assert all(spec.get("description") for spec in app["env"].values())
    assert app["env"]["SLACK_SIGNING_SECRET"]["required"] is True
    assert app["env"]["COACH_AUTO_MIGRATE"]["value"] == "false"  # the release phase migrates
    assert set(app["formation"]) == {"web", "clock"}
    assert any(addon.startswith("heroku-postgresql") for addon in app["addons"])


def test_procfile_runs_web_clock_and_a_release_phase() -> None:
    lines = dict(
        line.split(":", 1) for line in (REPO / "Procfile").read_text().splitlines() if line
    )
    assert lines["web"].strip() == "coach serve --http"
    assert lines["clock"].strip() == "coach weekly --run"
    assert lines["release"].strip() == "coach migrate"


def test_heroku_build_files() -> None:
    assert (REPO / ".python-version").read_text().strip() == "3.11"
    lines = (REPO / "requirements.txt").read_text().splitlines()
    requirements = [line for line in lines if line.strip() and not line.startswith("#")]
    assert "." in requirements and not any("torch" in line for line in requirements)
    post_compile = (REPO / "bin" / "post_compile").read_text()
    assert "coach index" in post_compile
    assert (REPO / "bin" / "post_compile").stat().st_mode & 0o111


def test_dockerfile_uses_the_build_script_runs_as_a_user_and_checks_health() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "deploy/build.sh" in dockerfile and "HEALTHCHECK" in dockerfile
    assert "/healthz" in dockerfile
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1] not in {"root", "0"}
    assert (REPO / "deploy" / "build.sh").stat().st_mode & 0o111


def test_compose_runs_web_clock_postgres_and_migrates_once() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"db", "migrate", "web", "clock"} <= set(services)
    assert "pgdata" in compose["volumes"]
    assert services["migrate"]["command"] == ["coach", "migrate"]
    for name in ("web", "clock"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert services["web"]["command"] == ["coach", "serve", "--http"]
    assert services["clock"]["command"] == ["coach", "weekly", "--run"]


def test_the_wheel_ships_no_test_doubles(tmp_path: Path) -> None:
    """The fake Slack and the Slack bench are test code (tests/): the wheel holds neither,
    nor anything else from tests/. Built from a copy of what packaging looks at (tests/
    included, so a wider package ``include`` would show) so the checkout gets no build/
    dir, whose stale files setuptools would package on the next build (a few seconds)."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for folder in ("bot", "retrieval", "config", "tests"):
        skip = shutil.ignore_patterns("__pycache__", "eval", ".hypothesis")
        shutil.copytree(REPO / folder, source / folder, ignore=skip)
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    pip_wheel += ["--no-cache-dir", "-q"]  # no 40 MB wheel left in pip's cache per run
    built = subprocess.run(
        [*pip_wheel, "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("tip_coach-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "bot/cli.py" in names and "retrieval/bench.py" in names  # the library bench ships
    modules = {Path(name).stem for name in names if name.endswith(".py")}
    assert not modules & {"fake_slack", "bench_slack", "slack_bench"}
    assert not any(name.startswith("tests/") for name in names)
