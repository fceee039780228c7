"""The schema is created and upgraded by Alembic, from empty, on SQLite and Postgres."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import MetaData, inspect, text
from storage_fixtures import claim_events_worker, run_workers

from bot.storage import StorageError, Store
from bot.storage import migrate as migrations
from bot.storage.engine import make_engine, normalise_url
from bot.storage.schema import metadata
from config.settings import load_settings

OUR_TABLES = {
    "processed_events",
    "query_log",
    "feedback",
    "weekly_posts",
    "slack_installations",
    "slack_bots",
    "slack_oauth_states",
    "pending_deliveries",
    "learned_situations",
    "lead_requests",
}


def test_migrates_an_empty_database_to_head(db_url: str) -> None:
    engine = make_engine(db_url)
    assert migrations.current_revision(engine) is None
    assert not set(inspect(engine).get_table_names()) & OUR_TABLES
    engine.dispose()

    opened = Store.from_url(db_url)
    try:
        tables = set(inspect(opened.engine).get_table_names())
        assert tables >= OUR_TABLES | {"alembic_version"}
        assert migrations.current_revision(opened.engine) == migrations.head_revision()
    finally:
        opened.close()


def test_migrated_schema_matches_the_models(store: Store) -> None:
    """Autogenerate finds nothing to do: migrations and ``schema.py`` describe the same tables."""
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_slack_tables_match_the_installed_slack_sdk(store: Store) -> None:
    """If slack-sdk adds a column, this fails: write a migration that adds it."""
    expected = MetaData()
    SQLAlchemyInstallationStore.build_installations_table(expected, "slack_installations")
    SQLAlchemyInstallationStore.build_bots_table(expected, "slack_bots")
    SQLAlchemyOAuthStateStore.build_oauth_states_table(expected, "slack_oauth_states")
    inspector = inspect(store.engine)
    for name, table in expected.tables.items():
        actual = {col["name"]: col for col in inspector.get_columns(name)}
        assert set(actual) == {col.name for col in table.columns}, name
        for col in table.columns:
            assert actual[col.name]["nullable"] == col.nullable, (name, col.name)


def test_downgrade_to_empty_and_upgrade_again(db_url: str) -> None:
    opened = Store.from_url(db_url)
    try:
        assert opened.claim_event("Ev-before")
        migrations.downgrade(opened.engine, "base")
        assert not set(inspect(opened.engine).get_table_names()) & OUR_TABLES
        migrations.upgrade(opened.engine)
        assert opened.claim_event("Ev-before") is True  # a fresh, empty table again
    finally:
        opened.close()


def test_a_database_of_the_first_release_upgrades_and_keeps_its_rows(db_url: str) -> None:
    engine = make_engine(db_url)
    migrations.upgrade(engine, "0001_initial")
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO processed_events (event_id, received_at) VALUES ('Ev0', :t)"),
            {"t": "2026-11-01 10:00:00"},
        )
    assert "pending_deliveries" not in inspect(engine).get_table_names()
    engine.dispose()
    opened = Store.from_url(db_url)
    try:
        assert migrations.current_revision(opened.engine) == migrations.head_revision()
        assert "pending_deliveries" in inspect(opened.engine).get_table_names()
        assert opened.claim_event("Ev0") is False  # the old row is still there
    finally:
        opened.close()


def test_reopening_keeps_data_and_does_not_migrate_twice(db_url: str) -> None:
    first = Store.from_url(db_url)
    first.claim_event("Ev1")
    first.close()
    second = Store.from_url(db_url)
    try:
        assert second.claim_event("Ev1") is False
        assert migrations.current_revision(second.engine) == migrations.head_revision()
    finally:
        second.close()


def test_concurrent_open_from_processes_on_an_empty_database(db_url: str) -> None:
    """Three processes start together on an empty database: no crash, one schema, ids once."""
    ids = [f"Ev{i}" for i in range(20)]
    results = run_workers(claim_events_worker, [(db_url, ids)] * 3)
    won = [event_id for _, claimed in results for event_id in claimed]
    assert sorted(won) == sorted(ids)


def test_open_uses_settings_and_creates_the_data_directory(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "fresh" / "var")
    with Store.open(settings) as opened:
        assert opened.claim_event("Ev1")
    assert (tmp_path / "fresh" / "var" / "coach.sqlite3").is_file()


def test_postgres_url_spellings_use_psycopg() -> None:
    for url in ("postgres://u:pw@db.example:5432/app", "postgresql://u:pw@db.example:5432/app"):
        parsed = normalise_url(url)
        assert parsed.drivername == "postgresql+psycopg"
        assert (parsed.host, parsed.database, parsed.password) == ("db.example", "app", "pw")


@pytest.mark.postgres
def test_open_accepts_a_heroku_style_url(pg_url: str) -> None:
    heroku = pg_url.replace("postgresql+psycopg://", "postgres://", 1)
    settings = load_settings(database_url=heroku)
    with Store.open(settings) as opened:
        assert opened.engine.dialect.name == "postgresql"
        assert opened.claim_event("Ev-heroku")


def test_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(StorageError) as info:
        Store.from_url("postgresql+psycopg://coach:s3cret@127.0.0.1:1/nowhere?connect_timeout=2")
    message = str(info.value)
    assert "Cannot open the database" in message and "DATABASE_URL" in message
    assert "s3cret" not in message  # the password is masked


def test_unknown_database_kind_is_a_clear_error() -> None:
    with pytest.raises(StorageError, match="no driver"):
        Store.from_url("nosuchdb://host/db")


def test_unwritable_data_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError, match="COACH_DATA_DIR"):
        Store.from_url(f"sqlite:///{blocker / 'sub' / 'coach.sqlite3'}")


def test_migration_scripts_ship_with_the_package() -> None:
    """The wheel must carry the Alembic template and scripts (package data)."""
    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    data = pyproject["tool"]["setuptools"]["package-data"]["bot.storage"]
    assert "migrations/*.mako" in data
    scripts = Path(migrations.MIGRATIONS_DIR)
    assert (scripts / "env.py").is_file() and (scripts / "script.py.mako").is_file()
    assert (scripts / "versions" / "__init__.py").is_file()


def test_operator_command_upgrades_and_shows_the_revision(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    head = migrations.head_revision()
    newest = max(Path(migrations.MIGRATIONS_DIR, "versions").glob("0*.py")).stem
    assert head == newest  # one linear chain: the newest script is the head
    assert migrations.main(["current", "--url", sqlite_url]) == 0
    assert f": None (head: {head})" in capsys.readouterr().out
    assert migrations.main(["upgrade", "--url", sqlite_url]) == 0
    assert capsys.readouterr().out.strip().endswith(f"is at {head}")


def test_an_older_release_on_a_newer_schema_answers_and_says_upgrade_me(db_url: str) -> None:
    """A rolling upgrade: the newer release migrated first. The older one keeps answering,
    healthy, and says exactly what is wrong (never "run coach migrate")."""
    from bot.storage.guard import GuardedStore

    with Store.from_url(db_url) as opened, opened.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    for auto_migrate in (True, False):
        store = Store.from_url(db_url, migrate_schema=auto_migrate)
        assert store.schema_note is not None and "0099_future is newer" in store.schema_note
        guarded = GuardedStore(lambda s=store: s, deadline=2.0, flush_every=3600)
        health = guarded.health()
        assert health["storage"] == "ok" and "upgrade me" in health["schema"]
        assert "coach migrate`" not in health["schema"].replace("do not run `coach migrate`", "")
        guarded.close()
