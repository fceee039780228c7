"""Domain errors raised by the retrieval core and turned into friendly replies at the edges."""

from __future__ import annotations


class CoachError(Exception):
    """Base class: every message is written for the person who will read it."""


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
