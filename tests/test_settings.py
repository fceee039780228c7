from __future__ import annotations

import pytest

from config.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("env", "value", "needle"),
    [
        ("COACH_TIMEZONE", "Mars/Olympus", "IANA"),
        ("COACH_WEEKLY_CRON", "every monday", "cron"),
        ("COACH_MIN_CONFIDENCE", "1.5", "less than or equal"),
        ("PORT", "http", "integer"),
        ("SLACK_BOT_TOKEN", "xoxp-user-token", "xoxb-"),
        ("SLACK_APP_TOKEN", "xoxb-nope", "xapp-"),
        ("SLACK_SIGNING_SECRET", "not hex!", "hex"),
        ("COACH_WEEKLY_CHANNELS", "general", "channel id"),
        ("COACH_SLASH_COMMAND", "coach", "slash command"),
        ("SLACK_API_URL", "ftp://x", "http"),
        ("COACH_EMBEDDING_MODEL", "/no/such/model", "directory"),
        ("COACH_ADMINS", "@sam", "Copy member ID"),
        ("COACH_LEADS", "U0123ABCD, sam@example.com", "user id"),
    ],
)
def test_bad_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, needle: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert env in str(info.value)
    assert needle in str(info.value)


def test_defaults_and_derived_values(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COACH_WEEKLY_CHANNELS", "C0123ABCD, C0456EFGH")
    settings = load_settings()
    assert settings.slash_command == "/coach"
    assert settings.weekly_cron == "0 9 * * MON" and settings.timezone == "UTC"
    assert settings.weekly_channels == ["C0123ABCD", "C0456EFGH"]
    assert settings.database_url == f"sqlite:///{(tmp_path / 'coach.sqlite3').resolve()}"
    assert settings.slack_api_url == "https://slack.com/api/"


def test_heroku_postgres_url_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.example:5432/app")
    assert load_settings().database_url == "postgresql+psycopg://u:p@db.example:5432/app"


def test_secrets_never_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-123-secret-token")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "abcdef0123456789abcdef")
    settings = load_settings()
    assert "xoxb-123-secret-token" not in repr(settings) and "abcdef0123456789abcdef" not in repr(
        settings
    )
    assert settings.slack_bot_token.get_secret_value() == "xoxb-123-secret-token"


def test_require_slack_names_missing_settings() -> None:
    settings = load_settings()
    with pytest.raises(SettingsError, match=r"SLACK_BOT_TOKEN.*SLACK_SIGNING_SECRET"):
        settings.require_slack()
    with pytest.raises(SettingsError, match="SLACK_APP_TOKEN"):
        settings.require_slack(socket=True)


def test_only_admins_and_leads_teach(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COACH_ADMINS", "U0ADMIN01")
    monkeypatch.setenv("COACH_LEADS", "U0LEAD001,W0LEAD002")
    settings = load_settings()
    assert settings.leads == ["U0LEAD001", "W0LEAD002"]
    assert [settings.can_teach(u) for u in ("U0ADMIN01", "W0LEAD002", "U0REP0001", None, "")] == [
        True,
        True,
        False,
        False,
        False,
    ]
