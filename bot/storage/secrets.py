"""Workspace tokens encrypted at rest with ``COACH_SECRET_KEY`` (Fernet: AES + HMAC).

Multi-workspace installs keep each workspace's bot token in the shared database. With a
key configured, every token is written as ``enc1:<Fernet token>`` and read back in clear
only inside the process. ``COACH_SECRET_KEY`` holds one key, or several separated by
commas: the first encrypts, all decrypt, so a key is rotated by putting the new one first,
running ``coach rotate-secrets`` (re-encrypts every stored token with it) and then
dropping the old one. A stored value without the prefix (written before encryption was
configured) is read as it is and encrypted the next time it is saved or rotated.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from bot.storage.errors import StorageError

log = logging.getLogger(__name__)

PREFIX = "enc1:"
#: Token fields of slack-sdk's Installation and Bot records.
TOKEN_FIELDS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")
#: slack-sdk's token columns are 200 characters wide.
MAX_STORED = 200


def parse_keys(value: str) -> list[bytes]:
    """The keys in ``COACH_SECRET_KEY`` (comma-separated); ValueError for a malformed one."""
    keys = [part.strip().encode() for part in value.split(",") if part.strip()]
    if not keys:
        raise ValueError("COACH_SECRET_KEY is empty")
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ValueError(
                "COACH_SECRET_KEY must be Fernet keys (32 url-safe base64 bytes), separated "
                "by commas; make one with `coach secret-key`"
            ) from None
    return keys


def new_key() -> str:
    return Fernet.generate_key().decode()


class TokenCipher:
    """Encrypts with the first key, decrypts with any."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    @classmethod
    def from_setting(cls, value: str | None) -> TokenCipher | None:
        return cls(parse_keys(value)) if value else None

    def encrypt(self, token: str | None) -> str | None:
        if not token or token.startswith(PREFIX):
            return token
        stored = PREFIX + self._fernet.encrypt(token.encode()).decode()
        if len(stored) > MAX_STORED:
            raise StorageError(
                "A Slack token is too long to store encrypted (token rotation is not supported)."
            )
        return stored

    def decrypt(self, stored: str | None) -> str | None:
        if not stored or not stored.startswith(PREFIX):
            return stored  # not encrypted (written before COACH_SECRET_KEY was set)
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise StorageError(
                "A stored Slack token cannot be decrypted with COACH_SECRET_KEY: the key that "
                "encrypted it is missing (keep the old key after the new one until "
                "`coach rotate-secrets` has run)."
            ) from None

    def rotate(self, stored: str | None) -> str | None:
        """``stored`` encrypted with the first key (plaintext gets encrypted)."""
        if not stored:
            return stored
        if not stored.startswith(PREFIX):
            return self.encrypt(stored)
        return PREFIX + self._fernet.rotate(stored[len(PREFIX) :].encode()).decode()


def _with_tokens(record: Any, change: Any) -> Any:
    """A copy of a slack-sdk record (a plain class) with its token fields passed through
    ``change``; the caller's record is left as it was."""
    clone = copy.copy(record)
    for name in TOKEN_FIELDS:
        if hasattr(clone, name):
            setattr(clone, name, change(getattr(clone, name)))
    return clone


class EncryptedInstallationStore(SQLAlchemyInstallationStore):
    """slack-sdk's store, with every token encrypted on the way in and out."""

    def __init__(self, cipher: TokenCipher, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cipher = cipher

    def save(self, installation: Installation) -> None:
        super().save(_with_tokens(installation, self.cipher.encrypt))

    def save_bot(self, bot: Bot) -> None:
        super().save_bot(_with_tokens(bot, self.cipher.encrypt))

    def find_bot(self, **kwargs: Any) -> Bot | None:  # type: ignore[override]
        bot = super().find_bot(**kwargs)
        return None if bot is None else _with_tokens(bot, self.cipher.decrypt)

    def find_installation(self, **kwargs: Any) -> Installation | None:  # type: ignore[override]
        found = super().find_installation(**kwargs)
        return None if found is None else _with_tokens(found, self.cipher.decrypt)


def rotate_tokens(engine: Engine, cipher: TokenCipher, tables: Sequence[Any]) -> int:
    """Re-encrypt every stored token with the first key; returns how many values changed."""
    changed = 0
    with engine.begin() as conn:
        for table in tables:
            columns = [table.c[name] for name in TOKEN_FIELDS if name in table.c]
            for row in conn.execute(select(table.c.id, *columns)).all():
                values = {}
                for column in columns:
                    old = getattr(row, column.name)
                    new = cipher.rotate(old)
                    if new != old:
                        values[column.name] = new
                if values:
                    conn.execute(update(table).where(table.c.id == row.id).values(**values))
                    changed += len(values)
    return changed


__all__ = [
    "PREFIX",
    "EncryptedInstallationStore",
    "TokenCipher",
    "new_key",
    "parse_keys",
    "rotate_tokens",
]
