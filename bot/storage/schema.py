"""The tables Tip Coach owns, as SQLAlchemy Core metadata.

The migration scripts under ``migrations/versions`` are the source of truth for the
database; this module mirrors them for queries, and a test checks the two agree.
Slack's own tables (installations, bots, OAuth state) are defined by slack-sdk and are
added to :data:`metadata` with slack-sdk's builders so the same check covers them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

#: Names of the slack-sdk tables (their defaults, so Bolt's stores find them unconfigured).
SLACK_INSTALLATIONS = SQLAlchemyInstallationStore.default_installations_table_name
SLACK_BOTS = SQLAlchemyInstallationStore.default_bots_table_name
SLACK_OAUTH_STATES = SQLAlchemyOAuthStateStore.default_table_name

#: Row ids: 64-bit on Postgres, SQLite's INTEGER PRIMARY KEY (rowid) on SQLite.
RowId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Store naive UTC, hand back aware UTC: the same on SQLite (no time zones) and Postgres."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # defensive: raw SQLite text
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

processed_events = Table(
    "processed_events",
    metadata,
    # The primary key IS the de-duplication: a second INSERT of the same id fails.
    Column("event_id", String(255), primary_key=True),
    Column("received_at", UTCDateTime(), nullable=False),
    Index("ix_processed_events_received_at", "received_at"),
)

query_log = Table(
    "query_log",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("team_id", String(32)),
    Column("user_id", String(32)),  # Slack ids only: names are never stored
    Column("surface", String(16), nullable=False),
    Column("text", Text, nullable=False),  # redacted before it gets here
    Column("answered", Boolean, nullable=False),
    Column("confidence", Float),
    Column("tip_id", String(200)),  # the top tip when answered
    Column("nearest_tip_id", String(200)),  # top tip, or the nearest suggestion when not answered
    Column("nearest_title", String(300)),  # its title, so reports read without the corpus
    Column("chunk_ids", JSON, nullable=False),
    Column("suggestion_ids", JSON, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("error", String(300)),
    # confident / unsure / decline / offtopic (None: logged before this was kept)
    Column("tier", String(16)),
    Index("ix_query_log_created_at", "created_at"),
    Index("ix_query_log_user", "team_id", "user_id", "created_at"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("team_id", String(32)),
    Column("user_id", String(32)),
    Column("query_id", RowId, ForeignKey("query_log.id", ondelete="SET NULL")),
    Column("tip_id", String(200), nullable=False),
    Column("chunk_ids", JSON, nullable=False),
    Column("helpful", Boolean, nullable=False),
    Column("comment", Text),  # redacted
    # after a 👎: wrong_tip / nothing_to_say / too_long / outdated (None: not given)
    Column("reason", String(32)),
    Index("ix_feedback_created_at", "created_at"),
    Index("ix_feedback_tip_id", "tip_id"),
    # one vote per person per answer: a second click finds the first by this key
    Index("ix_feedback_vote", "query_id", "user_id", "tip_id"),
)

weekly_posts = Table(
    "weekly_posts",
    metadata,
    # One row per channel and week: the unique key that makes the weekly post happen once.
    Column("channel", String(32), primary_key=True),
    Column("week_key", String(16), primary_key=True),
    Column("tip_id", String(200), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # "claimed" until Slack confirms, then "posted"
    Column("claimed_at", UTCDateTime(), nullable=False),
    Column("posted_at", UTCDateTime()),
    Column("ts", String(32)),
    Index("ix_weekly_posts_channel_tip", "channel", "tip_id"),
)

answered_threads = Table(
    "answered_threads",
    metadata,
    # A thread the bot replied in: later messages in it are follow-ups (no Slack call to
    # find out). team_id is "" when Slack gave none (single-workspace tests).
    Column("team_id", String(32), primary_key=True),
    Column("channel", String(32), primary_key=True),
    Column("thread_ts", String(32), primary_key=True),
    Column("answered_at", UTCDateTime(), nullable=False),
    Index("ix_answered_threads_answered_at", "answered_at"),
)

pending_deliveries = Table(
    "pending_deliveries",
    metadata,
    # An answer Slack did not take yet (see bot.redelivery); the key is derived from the
    # request and the message, so the same answer is never queued (or posted) twice.
    Column("key", String(64), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("team_id", String(32)),
    Column("owner", String(64), nullable=False),  # the process retrying it now
    Column("lease_until", UTCDateTime(), nullable=False),  # after this, any process may
    Column("attempts", Integer, nullable=False),
    Column("record", JSON, nullable=False),  # where + message (user text redacted)
    Index("ix_pending_deliveries_lease", "lease_until"),
)

learned_situations = Table(
    "learned_situations",
    metadata,
    # A question a lead tied to a tip: matched like a corpus situation, for that workspace only.
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("team_id", String(32), nullable=False),
    Column("tip_id", String(200), nullable=False),
    Column("text", Text, nullable=False),  # redacted before it gets here
    Column("source", String(16), nullable=False),  # lead / home / confirmed / cli
    Column("created_by", String(32)),  # Slack user id (None: the command line)
    Index("ix_learned_situations_team", "team_id", "created_at"),
)

lead_requests = Table(
    "lead_requests",
    metadata,
    # A rep's question posted to the leads channel; a threaded reply there is relayed to
    # the rep, found by (channel, ts) here, never by reading the thread back from Slack.
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("team_id", String(32)),
    Column("channel", String(32), nullable=False),  # the leads channel
    Column("ts", String(32)),  # the post's ts, once Slack took it
    Column("user_id", String(32), nullable=False),  # the rep who asked
    Column("query_id", RowId, ForeignKey("query_log.id", ondelete="SET NULL")),
    Column("text", Text, nullable=False),  # redacted
    Index("ix_lead_requests_thread", "channel", "ts"),
    Index("ix_lead_requests_query", "query_id", "user_id"),
)

# slack-sdk's own tables, built by slack-sdk so the names and columns are exactly its own.
slack_installations = SQLAlchemyInstallationStore.build_installations_table(
    metadata, SLACK_INSTALLATIONS
)
slack_bots = SQLAlchemyInstallationStore.build_bots_table(metadata, SLACK_BOTS)
slack_oauth_states = SQLAlchemyOAuthStateStore.build_oauth_states_table(
    metadata, SLACK_OAUTH_STATES
)

ALL_TABLES = tuple(metadata.tables)
