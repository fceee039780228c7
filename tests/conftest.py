"""Shared fixtures: settings in a temp data dir, a fast hashing-encoder coach, the real model."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from config.settings import DEFAULT_CORPUS_DIR, Settings, load_settings
from retrieval.embedder import HashingEncoder
from retrieval.engine import Coach

#: Database fixtures (db_url, pg_url, sqlite_url, store) for every test module.
pytest_plugins = ["storage_fixtures"]

REPO = Path(__file__).resolve().parent.parent
EVAL_FILE = REPO.parent / "shared" / "eval" / "dev.jsonl"


@pytest.fixture(autouse=True)
def _no_env_leaks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build Settings explicitly; a developer's own environment must not leak in."""
    for name in list(os.environ):
        if name.startswith(("COACH_", "SLACK_")) or name in {"DATABASE_URL", "PORT"}:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(REPO / "tests")  # no stray .env is picked up from the repo root


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"data_dir": tmp_path / "var", "embedding_model": "hashing"}
        values.update(overrides)
        return load_settings(**values)

    return build


@pytest.fixture(scope="session")
def hashing_coach(tmp_path_factory: pytest.TempPathFactory) -> Coach:
    """A coach over the bundled corpus with the deterministic hashing encoder (fast)."""
    data_dir = tmp_path_factory.mktemp("hashing-var")
    settings = load_settings(
        data_dir=data_dir, embedding_model="hashing", corpus_dir=DEFAULT_CORPUS_DIR
    )
    return Coach.from_settings(settings, encoder=HashingEncoder())


@pytest.fixture(scope="session")
def real_coach(tmp_path_factory: pytest.TempPathFactory) -> Coach:
    """The bundled all-MiniLM-L6-v2 model over the bundled corpus (built once per run)."""
    data_dir = tmp_path_factory.mktemp("model-var")
    settings = load_settings(data_dir=data_dir, corpus_dir=DEFAULT_CORPUS_DIR)
    return Coach.from_settings(settings)
