"""Domain errors raised by the retrieval core and turned into friendly replies at the edges.

:class:`CoachError` lives in :mod:`config.errors` (shared with storage) and is re-exported
here, so ``from retrieval.errors import CoachError`` names the same class.
"""

from __future__ import annotations

from config.errors import CoachError

__all__ = [
    "CoachError",
    "CorpusEmpty",
    "EmptyQuery",
    "IndexCorrupt",
    "IndexMissing",
    "IndexStale",
    "ModelUnavailable",
    "UnknownTip",
]


class EmptyQuery(CoachError):
    """The situation text is empty or only whitespace/markup."""

    def __init__(self) -> None:
        super().__init__(
            "Describe the situation in a few words, e.g. 'customer wants the supervisor'."
        )


class IndexMissing(CoachError):
    """No index on disk and it may not be built here."""


class IndexCorrupt(CoachError):
    """The index files exist but cannot be read back."""


class IndexStale(CoachError):
    """The index was built from another corpus, model or chunker version."""


class CorpusEmpty(CoachError):
    """The corpus directory holds no tips at all."""


class UnknownTip(CoachError):
    """A tip id that is not in the index (e.g. from an old button)."""


class ModelUnavailable(CoachError):
    """The embedding model cannot be loaded from disk."""
