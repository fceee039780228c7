"""Create or upgrade the schema to the newest revision with Alembic, safely across processes.

Every process calls :func:`upgrade` when it opens the store. Two web workers starting
together must not both create tables, so the upgrade runs under a lock: a transaction-
scoped advisory lock on Postgres (released at commit, even if the process dies), an
exclusive ``flock`` on a file next to the SQLite database.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from bot.storage.engine import sqlite_path

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: A fixed 63-bit key for ``pg_advisory_xact_lock``, derived from the app name.
ADVISORY_LOCK_KEY = int.from_bytes(hashlib.sha256(b"tip-coach:migrate").digest()[:8], "big") >> 1


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config that needs no ``alembic.ini`` (works from an installed package)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migration scripts found"
    return head


def known_revisions() -> set[str]:
    """Every revision this code ships (a database at another one was upgraded by a newer
    release)."""
    return {
        script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()
    }


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: SQLite's own locking has to do
        yield
        return
    lock_path = path.with_name(path.name + ".migrate-lock")
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (default: the newest), holding the migration lock."""
    backend = engine.dialect.name
    if backend == "sqlite":
        path = sqlite_path(engine.url)
        lock = _file_lock(path) if path is not None else contextlib.nullcontext()
        with lock, engine.begin() as conn:
            command.upgrade(alembic_config(conn), revision)
        return
    with engine.begin() as conn:
        if backend == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        command.upgrade(alembic_config(conn), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Undo migrations down to ``revision`` (tests and hand repairs only)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        command.downgrade(alembic_config(conn), revision)


def _next_rev_id() -> str:
    """Numbered revisions (0002, 0003, ...) so the files sort in the order they apply."""
    script = ScriptDirectory.from_config(alembic_config())
    return f"{len(list(script.walk_revisions())) + 1:04d}"


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.storage [current|upgrade|revision -m MSG] [--url URL]``.

    Stores migrate themselves when they open; this is for operators (``current``,
    ``upgrade`` ahead of a deploy) and for developers writing a new revision: change
    ``schema.py``, then ``revision -m "what changed"`` autogenerates the script against a
    database at head (review it: Alembic's autogenerate is a draft, not a verdict).
    """
    import argparse

    from bot.storage.engine import display_url, make_engine

    parser = argparse.ArgumentParser(prog="python -m bot.storage")
    parser.add_argument("action", choices=["current", "upgrade", "revision"])
    parser.add_argument("-m", "--message", help="what the new revision changes")
    parser.add_argument("--url", help="database URL (default: DATABASE_URL / the SQLite file)")
    args = parser.parse_args(argv)
    if args.url:
        url = args.url
    else:
        from config.settings import load_settings

        url = load_settings().database_url
    engine = make_engine(url)
    try:
        if args.action == "current":
            print(
                f"{display_url(engine.url)}: {current_revision(engine)} (head: {head_revision()})"
            )
        elif args.action == "upgrade":
            upgrade(engine)
            print(f"{display_url(engine.url)} is at {current_revision(engine)}")
        else:
            if not args.message:
                parser.error("revision needs -m 'what changed'")
            upgrade(engine)
            with engine.begin() as conn:
                command.revision(
                    alembic_config(conn),
                    message=args.message,
                    autogenerate=True,
                    rev_id=_next_rev_id(),
                )
    finally:
        engine.dispose()
    return 0
