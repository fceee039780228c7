"""State the Slack side needs across processes: event de-duplication, weekly post claims,
threads the bot answered in, answers waiting for Slack, and workspace installations.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import and_, delete, func, or_, select, update

from bot.storage.base import StoreBase
from bot.storage.errors import StorageError, UnknownRecord
from bot.storage.records import (
    DEFAULT_WEEKLY_LEASE,
    EVENT_TTL,
    PURGE_EVERY,
    PendingDelivery,
    WeeklyRow,
    as_utc,
    record_as,
)
from bot.storage.schema import (
    answered_threads,
    pending_deliveries,
    processed_events,
    slack_bots,
    slack_installations,
    weekly_posts,
)
from bot.storage.secrets import EncryptedInstallationStore, rotate_tokens

log = logging.getLogger(__name__)


class SlackState(StoreBase):
    """Slack bookkeeping shared by every process (each method one short transaction)."""

    # -- Slack event de-duplication -----------------------------------------------------

    def claim_event(self, event_id: str, *, now: datetime | None = None) -> bool:
        """True exactly once per ``event_id`` across every process sharing the database."""
        if not event_id or not event_id.strip():
            raise ValueError("claim_event needs a non-empty Slack event id")
        key = event_id.strip()
        if len(key) > 255:
            key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
        moment = as_utc(now)
        claimed = self._insert_once(processed_events, {"event_id": key, "received_at": moment})
        if self._last_event_purge is None or moment - self._last_event_purge >= PURGE_EVERY:
            self._last_event_purge = moment
            self.purge_events(now=moment)
        return claimed

    def purge_events(
        self, *, older_than: timedelta = EVENT_TTL, now: datetime | None = None
    ) -> int:
        """Forget processed event ids older than ``older_than``; Slack stopped retrying them."""
        cutoff = as_utc(now) - older_than
        with self.engine.begin() as conn:
            return conn.execute(
                delete(processed_events).where(processed_events.c.received_at < cutoff)
            ).rowcount

    # -- weekly posts -------------------------------------------------------------------

    def claim_weekly(
        self,
        *,
        channel: str,
        week_key: str,
        tip_id: str,
        owner: str,
        now: datetime,
        lease: timedelta = DEFAULT_WEEKLY_LEASE,
    ) -> bool:
        """Claim (channel, week) before posting: True for exactly one claimant.

        A claim that was never confirmed (its process died mid-post) can be taken over once
        it is older than ``lease``; a posted week can never be claimed again. ``owner``
        should identify the process (host:pid) for the logs.
        """
        moment = as_utc(now)
        if self._insert_once(
            weekly_posts,
            {
                "channel": channel,
                "week_key": week_key,
                "tip_id": tip_id,
                "owner": owner,
                "status": "claimed",
                "claimed_at": moment,
            },
        ):
            return True
        takeover = (
            update(weekly_posts)
            .where(
                weekly_posts.c.channel == channel,
                weekly_posts.c.week_key == week_key,
                weekly_posts.c.status == "claimed",
                weekly_posts.c.claimed_at < moment - lease,
            )
            .values(owner=owner, tip_id=tip_id, claimed_at=moment)
        )
        with self.engine.begin() as conn:
            taken = conn.execute(takeover).rowcount == 1
        if taken:
            log.warning(
                "weekly: took over a stale claim for %s %s (owner %s)", channel, week_key, owner
            )
        return taken

    def mark_weekly_posted(self, *, channel: str, week_key: str, ts: str, now: datetime) -> None:
        """Slack confirmed the post: the week is done for this channel."""
        stmt = (
            update(weekly_posts)
            .where(weekly_posts.c.channel == channel, weekly_posts.c.week_key == week_key)
            .values(status="posted", ts=ts, posted_at=as_utc(now))
        )
        with self.engine.begin() as conn:
            if conn.execute(stmt).rowcount == 0:
                raise UnknownRecord(f"No weekly claim for {channel} {week_key} to mark as posted.")

    def release_weekly(self, *, channel: str, week_key: str) -> None:
        """Free an unconfirmed claim after a failed post, so a later run can post the week."""
        stmt = delete(weekly_posts).where(
            weekly_posts.c.channel == channel,
            weekly_posts.c.week_key == week_key,
            weekly_posts.c.status == "claimed",
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def weekly_posts(self, channel: str) -> list[WeeklyRow]:
        """A channel's weekly history (claimed and posted), oldest week first."""
        stmt = (
            select(weekly_posts)
            .where(weekly_posts.c.channel == channel)
            .order_by(weekly_posts.c.week_key)
        )
        with self.engine.connect() as conn:
            return [record_as(WeeklyRow, row) for row in conn.execute(stmt)]

    # -- threads the bot answered in -----------------------------------------------------

    def remember_thread(
        self, team_id: str | None, channel: str, thread_ts: str, *, now: datetime | None = None
    ) -> None:
        """The bot replied in this thread: its later messages are follow-ups."""
        self._insert_once(
            answered_threads,
            {
                "team_id": team_id or "",
                "channel": channel,
                "thread_ts": thread_ts,
                "answered_at": as_utc(now),
            },
        )

    def answered_thread(self, team_id: str | None, channel: str, thread_ts: str) -> bool:
        """Did the bot reply in this thread (any process, within the retention period)?"""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(answered_threads.c.thread_ts).where(
                    answered_threads.c.team_id == (team_id or ""),
                    answered_threads.c.channel == channel,
                    answered_threads.c.thread_ts == thread_ts,
                )
            ).first()
        return row is not None

    # -- answers waiting for Slack ------------------------------------------------------

    def hold_delivery(
        self,
        key: str,
        *,
        team_id: str | None,
        record: dict[str, Any],
        owner: str,
        lease: timedelta,
        now: datetime | None = None,
    ) -> bool:
        """Keep an undelivered answer until it is delivered; ``owner`` retries it until the
        lease ends, then any process may. False when the same answer is already held."""
        moment = as_utc(now)
        return self._insert_once(
            pending_deliveries,
            {
                "key": key,
                "created_at": moment,
                "team_id": team_id,
                "owner": owner,
                "lease_until": moment + lease,
                "attempts": 0,
                "record": record,
            },
        )

    def claim_deliveries(
        self, owner: str, *, lease: timedelta, limit: int = 20, now: datetime | None = None
    ) -> list[PendingDelivery]:
        """Take over held answers whose lease ended (their process died or gave up for now),
        oldest first; each is claimed by exactly one process."""
        moment = as_utc(now)
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(pending_deliveries)
                .where(pending_deliveries.c.lease_until < moment)
                .order_by(pending_deliveries.c.created_at)
                .limit(limit)
            ).all()
        claimed: list[PendingDelivery] = []
        for row in rows:
            with self.engine.begin() as conn:
                taken = conn.execute(
                    update(pending_deliveries)
                    .where(
                        pending_deliveries.c.key == row.key,
                        pending_deliveries.c.lease_until < moment,  # nobody took it meanwhile
                    )
                    .values(owner=owner, lease_until=moment + lease)
                ).rowcount
            if taken == 1:
                claimed.append(
                    PendingDelivery(
                        row.key, row.team_id, row.created_at, int(row.attempts), dict(row.record)
                    )
                )
        return claimed

    def release_delivery(self, key: str, *, attempts: int, retry_at: datetime) -> None:
        """Not delivered yet: any process may try again from ``retry_at``."""
        with self.engine.begin() as conn:
            conn.execute(
                update(pending_deliveries)
                .where(pending_deliveries.c.key == key)
                .values(attempts=attempts, lease_until=retry_at)
            )

    def forget_delivery(self, key: str) -> None:
        """Delivered (or given up on): drop it."""
        with self.engine.begin() as conn:
            conn.execute(delete(pending_deliveries).where(pending_deliveries.c.key == key))

    def pending_delivery_count(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(select(func.count()).select_from(pending_deliveries)).scalar_one()
            )

    # -- Slack installations (multi-workspace) ------------------------------------------

    def installation_store(self, client_id: str) -> SQLAlchemyInstallationStore:
        """slack-sdk's installation store on this database (tables made by our migrations),
        tokens encrypted at rest when a key is configured."""
        if self.cipher is not None:
            return EncryptedInstallationStore(
                self.cipher, client_id=client_id, engine=self.engine, logger=log
            )
        return SQLAlchemyInstallationStore(client_id=client_id, engine=self.engine, logger=log)

    def rotate_secrets(self) -> int:
        """Re-encrypt every stored workspace token with the first key of COACH_SECRET_KEY."""
        if self.cipher is None:
            raise StorageError("COACH_SECRET_KEY is not set: there is no key to encrypt with.")
        return rotate_tokens(self.engine, self.cipher, (slack_installations, slack_bots))

    def oauth_state_store(self, expiration_seconds: int = 600) -> SQLAlchemyOAuthStateStore:
        """slack-sdk's OAuth state store on this database, shared by every web process."""
        return SQLAlchemyOAuthStateStore(
            expiration_seconds=expiration_seconds, engine=self.engine, logger=log
        )

    def delete_installation(self, team_id: str | None, enterprise_id: str | None = None) -> int:
        """Delete a workspace's (or org's) tokens: ``app_uninstalled``/``tokens_revoked``.

        Removes every installation and bot row of that team for every client id; returns
        how many rows went.
        """
        if team_id is None and enterprise_id is None:
            raise ValueError("delete_installation needs a team id or an enterprise id")
        removed = 0
        with self.engine.begin() as conn:
            for table in (slack_installations, slack_bots):
                conditions = []
                if team_id is not None:
                    conditions.append(table.c.team_id == team_id)
                if enterprise_id is not None:
                    conditions.append(table.c.enterprise_id == enterprise_id)
                else:
                    conditions.append(
                        or_(table.c.enterprise_id.is_(None), table.c.enterprise_id == "")
                    )
                removed += conn.execute(delete(table).where(and_(*conditions))).rowcount
        return removed
