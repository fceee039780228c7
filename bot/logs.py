"""Structured logs: one JSON object per line, never a token, secret or rep's raw text.

* ``JsonFormatter`` turns records into JSON lines; structured fields are passed with
  ``logger.info("msg", extra={"fields": {...}})`` (see :func:`log_fields`).
* ``SecretMaskFilter`` masks Slack tokens (``xoxb-``, ``xapp-``, ...) by shape, and the
  configured secrets by value, in the message, its arguments and its fields.
* :class:`bot.privacy.RedactingFilter` (e-mails, phone and card numbers, ...) is always
  added, so a rep's text cannot reach the logs unredacted either.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.privacy import RedactingFilter

if TYPE_CHECKING:
    from config.settings import Settings

TOKEN_RE = re.compile(r"\b(xox[abposre]|xapp|xoxe\.xox[bp])-[A-Za-z0-9-]+")
MASK = "[secret]"
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "fields"}


def log_fields(**fields: Any) -> dict[str, Any]:
    """``extra=`` for a structured log line: ``logger.info("x", extra=log_fields(a=1))``."""
    return {"fields": fields}


class SecretMaskFilter(logging.Filter):
    """Masks tokens by their shape and the given secret values wherever they appear."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def mask(self, text: str) -> str:
        text = TOKEN_RE.sub(MASK, text)
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def _mask_any(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {k: self._mask_any(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._mask_any(v) for v in value)
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg = self.mask(message)
        record.args = None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = self._mask_any(fields)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.mask(
                "".join(traceback.format_exception(*record.exc_info)).rstrip()
            )
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, structured fields, error."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            payload.update(fields)
        for key, value in vars(record).items():  # plain ``extra={...}`` keys too
            if key not in _RESERVED and not key.startswith("_") and key not in payload:
                payload[key] = value
        if record.exc_info:
            payload["error"] = self.formatException(record.exc_info)
        elif record.exc_text:
            payload["error"] = record.exc_text
        return json.dumps(payload, ensure_ascii=False, default=str)


def settings_secrets(settings: Settings) -> list[str]:
    """Every secret value in the settings, for masking by value."""
    values = []
    for name in (
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "slack_client_secret",
        "secret_key",
    ):
        secret = getattr(settings, name, None)
        if secret is not None:
            values.append(secret.get_secret_value())
    url = settings.database_url_raw or ""
    password = re.search(r"://[^:/@]+:([^@]+)@", url)
    if password:
        values.append(password.group(1))
    return values


def build_handler(settings: Settings | None = None, stream: Any = None) -> logging.Handler:
    """A stderr handler with JSON lines, secret masking and PII redaction."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(SecretMaskFilter(settings_secrets(settings) if settings is not None else ()))
    handler.addFilter(RedactingFilter())
    return handler


def configure_logging(settings: Settings, stream: Any = None) -> logging.Handler:
    """Route every logger (ours, Bolt's, slack_sdk's, gunicorn's) through one JSON handler."""
    handler = build_handler(settings, stream)
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old.formatter, JsonFormatter):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    logging.getLogger("faiss").setLevel(logging.WARNING)  # its loader narrates CPU features
    # slack_sdk logs request bodies at DEBUG: keep it quieter than ours even when debugging
    logging.getLogger("slack_sdk").setLevel(
        max(logging.INFO, logging.getLevelName(settings.log_level))
    )
    logging.getLogger("slack_bolt").setLevel(
        max(logging.INFO, logging.getLevelName(settings.log_level))
    )
    return handler
