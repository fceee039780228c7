"""Shared storage for every Tip Coach process (see ``store.Store``).

``Store.open(settings)`` opens the database named by ``settings.database_url`` and
migrates it; text is redacted (:func:`bot.privacy.redact`) before it is stored.
"""

from bot.storage.errors import StorageError, UnknownRecord
from bot.storage.records import (
    SURFACES,
    AskedTip,
    FeedbackRow,
    LeadRequest,
    LearnedRow,
    QueryRow,
    WeeklyRow,
)
from bot.storage.store import Store

__all__ = [
    "SURFACES",
    "AskedTip",
    "FeedbackRow",
    "LeadRequest",
    "LearnedRow",
    "QueryRow",
    "StorageError",
    "Store",
    "UnknownRecord",
    "WeeklyRow",
]
