"""Database fixtures for storage tests: a SQLite file per test and a private Postgres schema.

Postgres is the one at 127.0.0.1:5432 (database ``test``, user postgres, then root; or
``TEST_DATABASE_URL``); tests that need it skip, saying why, when it is unreachable.
Each test gets its own schema (``search_path`` set through the URL), dropped afterwards,
so tests never see each other's tables, even when run in parallel.

tests/conftest.py registers these fixtures for every test module (``pytest_plugins``);
modules import the helpers directly. PYTEST_DONT_REWRITE: it raises its own
AssertionErrors, with messages.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from bot.storage import Store
from retrieval.models import Answer, Suggestion, TipAnswer

PG_CANDIDATES = (
    "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "postgresql+psycopg://root@127.0.0.1:5432/test",
)


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@lru_cache(maxsize=1)
def postgres_base_url() -> tuple[str | None, str]:
    """(a reachable Postgres URL, or None; why not), tried once per test session."""
    import psycopg

    override = os.environ.get("TEST_DATABASE_URL")
    candidates = (override,) if override else PG_CANDIDATES
    reasons = []
    for url in candidates:
        try:
            with psycopg.connect(_libpq(url), connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            return url, ""
        except Exception as exc:  # any failure means "not usable here"
            reasons.append(
                f"{url}: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}"
            )
    return None, "PostgreSQL is not reachable (" + "; ".join(reasons) + ")"


def require_postgres() -> str:
    """The base Postgres URL, or skip the test with the reason."""
    url, reason = postgres_base_url()
    if url is None:
        if os.environ.get(
            "COACH_REQUIRE_POSTGRES"
        ):  # .ci/run: Postgres runs there, so skipping would hide a gap
            pytest.fail(f"COACH_REQUIRE_POSTGRES is set but {reason}")
        pytest.skip(reason)
    return url


def schema_url(base: str, schema: str) -> str:
    """``base`` with ``search_path`` pinned to ``schema`` for every pooled connection."""
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={schema}', safe='')}"


def new_pg_schema() -> tuple[str, str]:
    """Create a uniquely named schema; returns (its URL, its name)."""
    import psycopg

    base = require_postgres()
    name = f"tc_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(base), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    return schema_url(base, name), name


def drop_pg_schema(name: str) -> None:
    import psycopg

    base = require_postgres()
    with psycopg.connect(_libpq(base), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A Postgres URL whose tables live in a fresh schema, dropped after the test."""
    url, name = new_pg_schema()
    try:
        yield url
    finally:
        drop_pg_schema(name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file in a directory that does not exist yet (the store must create it)."""
    return f"sqlite:///{tmp_path / 'data' / 'coach.sqlite3'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on a SQLite file and on Postgres."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'coach.sqlite3'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated store on each backend, closed after the test."""
    opened = Store.from_url(db_url)
    try:
        yield opened
    finally:
        opened.close()


# -- answers and workers shared by the storage tests --------------------------------------


def answered(
    tip_id: str = "tip-supervisor",
    title: str = "When They Want the Supervisor",
    chunk_ids: tuple[str, ...] = ("tip-supervisor:step:0", "tip-supervisor:step:1"),
    confidence: float = 0.82,
    query: str = "",
) -> Answer:
    """A confident answer whose top tip is ``tip_id``."""
    tip = TipAnswer(
        id=tip_id,
        title=title,
        date=None,
        score=confidence,
        steps=("Defuse.",),
        phrases=(),
        summary="",
        source="",
        chunk_ids=chunk_ids,
    )
    return Answer(query=query, answered=True, confidence=confidence, tips=(tip,))


def declined(
    suggestions: tuple[tuple[str, str], ...] = (
        ("tip-supervisor", "When They Want the Supervisor"),
    ),
    confidence: float = 0.21,
    query: str = "",
) -> Answer:
    """No confident answer; ``suggestions`` are the nearest (tip id, title) pairs."""
    return Answer(
        query=query,
        answered=False,
        confidence=confidence,
        suggestions=tuple(Suggestion(tip_id, title, confidence) for tip_id, title in suggestions),
    )


def claim_events_worker(url: str, event_ids: list[str], barrier: Any, results: Any) -> None:
    """Child process: open the store (maybe migrating it), wait for the others, claim ids."""
    store = Store.from_url(url)
    barrier.wait(timeout=60)
    won = [event_id for event_id in event_ids if store.claim_event(event_id)]
    store.close()
    results.put((os.getpid(), won))


def claim_weekly_worker(url: str, owner: str, barrier: Any, results: Any) -> None:
    """Child process: race for the same channel-week claim."""
    from datetime import UTC, datetime

    store = Store.from_url(url)
    barrier.wait(timeout=60)
    won = store.claim_weekly(
        channel="C0WEEKLY",
        week_key="2026-W47",
        tip_id="tip-a",
        owner=owner,
        now=datetime(2026, 11, 23, 9, tzinfo=UTC),
    )
    store.close()
    results.put((owner, won))


def run_workers(
    target: Any, args_per_worker: list[tuple[Any, ...]], timeout: float = 90
) -> list[Any]:
    """Run ``target`` in fresh interpreters (spawn), started together; their results."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(args_per_worker))
    results = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, barrier, results)) for args in args_per_worker]
    for proc in procs:
        proc.start()
    try:
        out = [results.get(timeout=timeout) for _ in procs]
    finally:
        for proc in procs:
            proc.join(timeout=timeout)
            if proc.is_alive():
                proc.kill()
    codes = [proc.exitcode for proc in procs]
    if any(code != 0 for code in codes):
        raise AssertionError(f"a worker process failed: exit codes {codes}")
    return out
