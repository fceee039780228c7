"""Build the SQLAlchemy engine for a database URL, with the settings each backend needs.

SQLite is the zero-setup default, so it gets what makes it safe for several processes:
WAL journal, a generous busy timeout and foreign keys on. Postgres gets pre-ping so a
web process survives a database restart.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from bot.storage.errors import StorageError

#: Seconds a SQLite writer waits for another process's lock before giving up.
SQLITE_BUSY_TIMEOUT = 30.0
#: Seconds a thread waits for a free Postgres connection from this process's pool.
POOL_TIMEOUT = 10.0
#: Postgres cancels a statement running longer than this (a lock wait, a runaway query).
STATEMENT_TIMEOUT_MS = 15_000


def normalise_url(url: str | URL) -> URL:
    """Parse ``url``; Heroku's ``postgres://`` and bare ``postgresql://`` use psycopg 3."""
    if isinstance(url, str):
        text = url.strip()
        for prefix in ("postgres://", "postgresql://"):
            if text.startswith(prefix):
                text = "postgresql+psycopg://" + text[len(prefix) :]
        try:
            return make_url(text)
        except ArgumentError as exc:
            raise StorageError(f"DATABASE_URL is not a database URL ({exc}).") from None
    return url


def display_url(url: URL) -> str:
    """The URL with any password masked, for messages and logs."""
    return url.render_as_string(hide_password=True)


def sqlite_path(url: URL) -> Path | None:
    """The database file of a SQLite URL, or None for in-memory databases."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT * 1000)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def make_engine(url: str | URL, *, pool_size: int = 5, timeout: float = POOL_TIMEOUT) -> Engine:
    """An engine for ``url``; creates a SQLite file's directory so a fresh data dir just works.

    ``pool_size`` is the most connections this process opens to Postgres (no overflow: web
    workers and the clock must fit a small plan's connection limit together); ``timeout``
    bounds connecting and waiting for a free connection. Statements the server takes
    longer than :data:`STATEMENT_TIMEOUT_MS` over are cancelled by the server.
    """
    parsed = normalise_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            path = sqlite_path(parsed)
            kwargs: dict[str, Any] = {
                "connect_args": {"timeout": SQLITE_BUSY_TIMEOUT, "check_same_thread": False}
            }
            if path is None:
                kwargs["poolclass"] = StaticPool  # one shared in-memory database
            else:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StorageError(
                        f"Cannot create the directory for the database {path} ({exc.strerror}). "
                        "Check COACH_DATA_DIR or DATABASE_URL."
                    ) from None
            engine = create_engine(parsed, **kwargs)
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(
            parsed,
            pool_pre_ping=True,
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=timeout,
            pool_recycle=1800,
            connect_args={
                "connect_timeout": max(1, round(timeout)),
                # added to the URL's own ``options`` (a search_path, say), never replacing them
                "options": " ".join(
                    part
                    for part in (
                        str(parsed.query.get("options") or ""),
                        f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
                    )
                    if part
                ),
            },
        )
    except (NoSuchModuleError, ImportError):
        raise StorageError(
            f"DATABASE_URL {display_url(parsed)!r} names a database this install has no "
            "driver for; "
            "use sqlite:///path/to/file.sqlite3 or postgresql://user@host/db."
        ) from None
