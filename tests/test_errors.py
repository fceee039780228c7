"""One root for Tip Coach's errors, in ``config.errors``, so storage need not import retrieval."""

from __future__ import annotations

from bot.storage import StorageError, UnknownRecord
from bot.storage.guard import StorageTimeout
from config.errors import CoachError
from config.settings import SettingsError
from retrieval import errors as retrieval_errors


def test_retrieval_re_exports_the_root_itself() -> None:
    assert retrieval_errors.CoachError is CoachError
    assert issubclass(retrieval_errors.UnknownTip, CoachError)


def test_storage_errors_derive_from_the_root() -> None:
    for error in (StorageError, UnknownRecord, StorageTimeout):
        assert issubclass(error, CoachError)
    assert issubclass(UnknownRecord, LookupError)


def test_a_settings_error_is_not_caught_as_a_coach_error() -> None:
    """``except CoachError`` shows the message to a rep; a bad setting is the operator's."""
    assert issubclass(SettingsError, ValueError)
    assert not issubclass(SettingsError, CoachError)
