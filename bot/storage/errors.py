"""Storage errors, written for the operator who has to fix the setting or the database."""

from __future__ import annotations

from config.errors import CoachError


class StorageError(CoachError):
    """The database cannot be opened, migrated or written; the message says what to check."""


class UnknownRecord(StorageError, LookupError):
    """An id (feedback, weekly claim) that is not in the database, e.g. purged by retention."""
