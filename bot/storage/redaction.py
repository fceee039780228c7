"""Alias of :mod:`bot.storage.redact` (the logging set-up looks the filter up here)."""

from bot.storage.redact import RedactingFilter, install_log_redaction, redact

__all__ = ["RedactingFilter", "install_log_redaction", "redact"]
