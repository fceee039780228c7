"""The store every Tip Coach process shares: one database, nothing shared kept in memory.

De-duplication of Slack events, the (redacted) query log, feedback, the weekly post
claims and slack-sdk's installation and OAuth state stores all live in one SQLAlchemy
database: a SQLite file in the data directory by default, Postgres via ``DATABASE_URL``.
The schema is created and migrated by Alembic when the store opens.

:class:`Store` opens the database; what it does is split by table group: the query log
(:mod:`bot.storage.queries`), feedback, learned situations and questions for the leads
(:mod:`bot.storage.feedback`), Slack bookkeeping (:mod:`bot.storage.slack_state`), on a
shared base with the engine and retention (:mod:`bot.storage.base`); the records they return
are in :mod:`bot.storage.records`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from alembic.util import CommandError
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from bot.storage import migrate
from bot.storage.engine import display_url, make_engine, normalise_url
from bot.storage.errors import StorageError
from bot.storage.feedback import Feedback
from bot.storage.queries import QueryLog
from bot.storage.records import driver_reason
from bot.storage.secrets import TokenCipher
from bot.storage.slack_state import SlackState

if TYPE_CHECKING:
    from config.settings import Settings


def token_cipher(settings: Settings) -> TokenCipher | None:
    """The cipher for workspace tokens, from ``COACH_SECRET_KEY`` (None when unset)."""
    key = settings.secret_key
    return TokenCipher.from_setting(key.get_secret_value()) if key is not None else None


log = logging.getLogger(__name__)


class Store(QueryLog, Feedback, SlackState):
    """Shared state of all Tip Coach processes: open with :meth:`open` or :meth:`from_url`.

    Every method is one short transaction, safe to call from many threads and processes;
    the only in-memory state is when this process last ran its opportunistic clean-ups.
    """

    # -- opening ------------------------------------------------------------------------

    @classmethod
    def open(cls, settings: Settings) -> Store:
        """The store for ``settings.database_url``: schema upgraded when ``COACH_AUTO_MIGRATE``
        is on, else checked to be current (the release phase ran ``coach migrate``)."""
        store = cls.from_url(
            settings.database_url,
            retention_days=settings.retention_days,
            migrate_schema=settings.auto_migrate,
            pool_size=settings.db_pool_size,
            timeout=settings.db_timeout,
        )
        store.cipher = token_cipher(settings)
        return store

    @classmethod
    def from_url(
        cls,
        url: str | URL,
        *,
        retention_days: int = 90,
        migrate_schema: bool = True,
        pool_size: int = 5,
        timeout: float = 10.0,
    ) -> Store:
        """The store for an explicit SQLAlchemy URL (``postgres://`` accepted)."""
        if retention_days < 1:
            raise StorageError(
                "COACH_RETENTION_DAYS must be at least 1 (days of query log to keep)."
            )
        parsed = normalise_url(url)
        engine = make_engine(parsed, pool_size=pool_size, timeout=timeout)
        newer = cls._newer_schema(engine)
        if newer is not None:  # a rolling upgrade: the newer release migrated first
            log.warning("schema is newer than this release", extra={"schema": newer})
            store = cls(engine, retention_days=retention_days)
            store.schema_note = (
                f"schema {newer} is newer than this release: upgrade me (answers still work; "
                "do not run `coach migrate` with this release)"
            )
            return store
        if not migrate_schema:
            cls._require_current_schema(engine, parsed)
        else:
            try:
                migrate.upgrade(engine)
            except OperationalError as exc:
                engine.dispose()
                raise StorageError(
                    f"Cannot open the database {display_url(parsed)} ({driver_reason(exc)}). "
                    "Check DATABASE_URL (or COACH_DATA_DIR for the default SQLite file)."
                ) from None
            except SQLAlchemyError as exc:
                engine.dispose()
                raise StorageError(
                    f"Cannot create or upgrade the schema in {display_url(parsed)} "
                    f"({driver_reason(exc)})."
                ) from exc
            except CommandError as exc:  # e.g. a revision this (older) code does not know
                engine.dispose()
                raise StorageError(
                    f"The database {display_url(parsed)} has a schema this version of Tip Coach "
                    f"does not know ({exc}); it was probably upgraded by a newer release. "
                    "Run the newer release, or point DATABASE_URL at another database."
                ) from None
        return cls(engine, retention_days=retention_days)

    @staticmethod
    def _newer_schema(engine: Engine) -> str | None:
        """The database's revision when a newer release put it there, else None (an
        unreachable database is reported by the checks that follow)."""
        try:
            current = migrate.current_revision(engine)
        except SQLAlchemyError:
            return None
        return current if current and current not in migrate.known_revisions() else None

    @staticmethod
    def _require_current_schema(engine: Engine, url: URL) -> None:
        """Without auto-migration, refuse a database the release phase has not upgraded."""
        try:
            current = migrate.current_revision(engine)
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StorageError(
                f"Cannot open the database {display_url(url)} ({driver_reason(exc)}). Check DATABASE_URL."
            ) from None
        head = migrate.head_revision()
        if current != head:
            engine.dispose()
            raise StorageError(
                f"The database {display_url(url)} is at schema {current or 'none'}, this release "
                f"needs {head}: run `coach migrate` (the release phase does), or set "
                "COACH_AUTO_MIGRATE=true."
            )

    def close(self) -> None:
        """Release pooled connections (the database itself is untouched)."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({display_url(self.engine.url)!r})"
