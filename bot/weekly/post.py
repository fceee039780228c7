"""Build the weekly post and deliver it exactly once per channel and week.

The message reuses the play-card renderer (``bot.render.tip_blocks``): the post is the
same card a rep gets (steps, phrases, who wrote what) under a "Tip of the week" header,
with a "Show full tip" button and an invitation to share in the thread. Its preview
(``coach weekly --preview``) is the same card model as plain text (``bot.render.text``).

Delivery (:meth:`WeeklyPoster.deliver`) is a small protocol around the shared store:

1. A week already marked posted is done.
2. Otherwise the week is *claimed* in the database (unique (channel, week)) **before**
   anything is sent, so two schedulers, a restart or ``--post-now`` never both post.
   A claim older than the lease whose owner never confirmed it (a crash mid-post) can
   be taken over by exactly one process; that process keeps the claimed tip and first
   checks the channel's history for the post (found by its metadata) before sending.
3. Slack's confirmation (``ok`` + ``ts``) marks the week posted. A refusal
   (``not_in_channel`` ...) frees the claim for a later retry; an ambiguous failure keeps
   it (the post may exist) and the next attempt verifies before re-posting.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from bot.logs import log_fields
from bot.render import Message, escape, fit_blocks, full_tip_actions, tip_blocks, tip_fallback
from bot.render.card import card
from bot.render.text import card_text
from bot.weekly import rotation
from bot.weekly.rotation import AskedCounts, NoAskedCounts, Pick, asked_note, asked_this_week
from bot.weekly.schedule import week_start
from bot.weekly.slack import NOT_A_MEMBER, WeeklySlack, advice, post_metadata
from bot.weekly.workspaces import SingleWorkspace, SlackSource, Target, WorkspaceUnavailable
from retrieval.models import TipAnswer

if TYPE_CHECKING:
    from bot.deps import CoachLike
    from bot.storage import Store, WeeklyRow
    from bot.weekly.schedule import Clock

log = logging.getLogger("bot.weekly")

HEADER = "Tip of the week"
SHARE_PROMPT = (
    ":speech_balloon: *Tried this with a customer?* Share what you said and how it went "
    "in the thread :thread: so the whole team can learn from it."
)
#: The same words without Slack's markup and emoji, for the terminal preview.
SHARE_PROMPT_TEXT = (
    "Tried this with a customer? Share what you said and how it went in the thread "
    "so the whole team can learn from it."
)
#: Margin before a claim's time when searching the history (only for unusual week keys).
HISTORY_SLACK = timedelta(minutes=5)
#: How long an unconfirmed claim protects its owner (same default as the store).
DEFAULT_LEASE = timedelta(minutes=15)


def default_owner(role: str = "weekly") -> str:
    """Who holds a claim, for the logs and to recognise our own unconfirmed claims."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:200]


# -- the message ----------------------------------------------------------------------------


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def build_post(tip: TipAnswer, *, note: str | None = None) -> Message:
    """Header, (why this tip), the tip's full card (steps, phrases, source), share prompt."""
    head: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": HEADER, "emoji": True}}
    ]
    if note:
        head.append(_context(f":mag: {escape(note)}"))
    head.extend(tip_blocks(tip))
    tail = [
        full_tip_actions(tip),
        {"type": "divider"},
        {"type": "section", "text": {"type": "mrkdwn", "text": SHARE_PROMPT}},
    ]
    text = tip_fallback(tip, prefix=f"{HEADER}: ")
    return Message(text=text, blocks=fit_blocks([*head, *tail], keep_tail=len(tail)))


def post_text(tip: TipAnswer, *, note: str | None = None) -> str:
    """The post as plain text, for ``coach weekly --preview``: the parts of
    :func:`build_post`, in its order, from the same card model."""
    parts = [f"== {HEADER} ==", note or "", card_text(card(tip)), "---", SHARE_PROMPT_TEXT]
    return "\n\n".join(part for part in parts if part)


# -- outcomes -------------------------------------------------------------------------------

Status = Literal["posted", "recovered", "already-posted", "busy", "failed", "skipped"]


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt for one channel and week did."""

    channel: str
    week_key: str
    status: Status
    tip_id: str | None = None
    title: str | None = None
    ts: str | None = None
    error: str | None = None
    ambiguous: bool = False
    asked: int = 0
    reason: str | None = None
    team_id: str | None = None  # the workspace whose bot token posted (multi-workspace)

    @property
    def done(self) -> bool:
        """The week is settled for this channel (posted, by us or anyone)."""
        return self.status in {"posted", "recovered", "already-posted"}

    @property
    def not_a_member(self) -> bool:
        return self.error in NOT_A_MEMBER

    def describe(self) -> str:
        title = f"“{self.title}”" if self.title else (self.tip_id or "")
        if self.status == "posted":
            return f"{self.channel}: posted {title} for {self.week_key} (ts {self.ts})"
        if self.status == "recovered":
            return (
                f"{self.channel}: {self.week_key} was already in the channel (ts {self.ts}) from "
                "an earlier unconfirmed attempt; recorded it instead of posting again"
            )
        if self.status == "already-posted":
            return f"{self.channel}: {self.week_key} already posted ({title}, ts {self.ts})"
        if self.status == "skipped":  # no bot token for it: nothing sent, nothing claimed
            return f"{self.channel}: skipped {self.week_key}: {self.error}"
        if self.status == "busy":
            return (
                f"{self.channel}: another process is posting {self.week_key} right now; "
                "it is recorded once Slack confirms"
            )
        kept = (
            " (kept the claim: Slack may have it; the next run checks first)"
            if self.ambiguous
            else ""
        )
        return f"{self.channel}: could not post {self.week_key}: {self.error}; {advice(self.error)}{kept}"

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "week_key": self.week_key,
            "status": self.status,
            "tip_id": self.tip_id,
            "title": self.title,
            "ts": self.ts,
            "error": self.error,
            "asked": self.asked,
            "reason": self.reason,
            "team_id": self.team_id,
        }


@dataclass(frozen=True)
class Plan:
    """The post a channel would get for a week: the pick, the tip and the message."""

    channel: str
    week_key: str
    pick: Pick
    tip: TipAnswer
    message: Message

    def as_text(self) -> str:
        """The post as ``coach weekly --preview`` prints it."""
        return post_text(self.tip, note=asked_note(self.pick))

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "week_key": self.week_key,
            "tip_id": self.tip.id,
            "title": self.tip.title,
            "reason": self.pick.reason,
            "asked": self.pick.asked,
            "text": self.message.text,
            "blocks": self.message.blocks,
            "metadata": post_metadata(self.week_key, self.tip.id),
        }


# -- delivery -------------------------------------------------------------------------------


class WeeklyPoster:
    """Chooses, claims, posts and records one channel's weekly tip (see module docstring).

    ``slack`` is one client (``SLACK_BOT_TOKEN``), a :class:`~bot.weekly.workspaces.SlackSource`
    that finds each channel's workspace token (multi-workspace installs), or None (preview).
    """

    def __init__(
        self,
        store: Store,
        coach: Callable[[], CoachLike],
        slack: WeeklySlack | SlackSource | None,
        *,
        clock: Clock,
        owner: str | None = None,
        asked: AskedCounts | None = None,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        self.store = store
        self._coach_factory = coach
        self._coach: CoachLike | None = None
        self.slack: SlackSource | None = (
            SingleWorkspace(slack) if isinstance(slack, WeeklySlack) else slack
        )
        self.clock = clock
        self.owner = owner or default_owner()
        self.asked = asked or NoAskedCounts()
        self.lease = lease

    def coach(self) -> CoachLike:
        """Loaded on first use (a scheduler with nothing due does not hold the model), and
        refreshed on later uses so tips authors add join the rotation without a restart."""
        if self._coach is None:
            self._coach = self._coach_factory()
            return self._coach
        refresh = getattr(self._coach, "refresh", None)
        if refresh is not None:
            try:
                if refresh():
                    log.info("weekly: the corpus changed; reloaded the tips")
            except Exception:  # keep posting from the tips we have rather than miss the week
                log.exception("weekly: refreshing the tips failed; using the loaded ones")
        return self._coach

    def plan(
        self,
        channel: str,
        week_key: str,
        now: datetime,
        rows: list[WeeklyRow] | None = None,
        *,
        team_id: str | None = None,
    ) -> Plan:
        """The tip and message this channel gets for ``week_key`` (no side effects): the
        choice is :func:`bot.weekly.rotation.plan`'s, on this channel's rows and lookups.

        ``team_id``: the channel's workspace, whose lookups alone count as "reps asked".
        """
        rows = self.store.weekly_posts(channel) if rows is None else rows
        coach = self.coach()
        asked = asked_this_week(self.asked, now, team_id)
        pick = rotation.plan(coach.tips(), rows, week_key=week_key, asked=asked)
        tip = coach.tip_card(pick.tip_id)
        return Plan(channel, week_key, pick, tip, build_post(tip, note=asked_note(pick)))

    def team_for(self, channel: str, team_id: str | None = None) -> str | None:
        """The workspace a channel's post belongs to; raises WorkspaceUnavailable."""
        if self.slack is None:
            return team_id
        return self.slack.team_for(Target(channel, team_id))

    def deliver(
        self,
        channel: str,
        week_key: str,
        now: datetime | None = None,
        *,
        team_id: str | None = None,
    ) -> Outcome:
        """Post this week's tip to ``channel`` unless it is (being) posted; never twice.

        ``team_id`` names the channel's workspace (a ``T…:C…`` entry); a channel whose
        workspace has no bot token is skipped, with the reason in the outcome and the log.
        """
        if self.slack is None:
            raise RuntimeError("WeeklyPoster was built without Slack (preview only)")
        now = now or self.clock.now()
        rows = self.store.weekly_posts(channel)
        existing = next((row for row in rows if row.week_key == week_key), None)
        if existing is not None and existing.status == "posted":
            return Outcome(
                channel,
                week_key,
                "already-posted",
                existing.tip_id,
                ts=existing.ts,
                team_id=team_id,
            )
        target = Target(channel, team_id)
        try:  # before claiming: a channel nobody can post to must not hold the week
            workspace = self.slack.workspace(target)
        except WorkspaceUnavailable as exc:
            log.warning(
                "weekly: skipping %s for %s: %s",
                target.label,
                week_key,
                exc,
                extra=log_fields(channel=channel, team_id=team_id, week=week_key, error=str(exc)),
            )
            return Outcome(channel, week_key, "skipped", error=str(exc), team_id=team_id)
        team_id, slack = workspace.team_id, workspace.slack
        must_claim = True
        if existing is not None:  # claimed, never confirmed: by us earlier, or by a crashed run
            mine = existing.owner == self.owner
            stale = existing.claimed_at < now - self.lease
            if not mine and not stale:
                return Outcome(channel, week_key, "busy", existing.tip_id, error=existing.owner)
            must_claim = stale  # our own live claim is still ours; a stale one is re-taken
        plan = self.plan(channel, week_key, now, rows, team_id=team_id)
        outcome = Outcome(
            channel,
            week_key,
            "failed",
            plan.tip.id,
            plan.tip.title,
            asked=plan.pick.asked,
            reason=plan.pick.reason,
            team_id=team_id,
        )
        # Exactly one process gets past a claim per week: a fresh claim, or the takeover of
        # a stale one (the store checks the lease atomically).
        if must_claim and not self.store.claim_weekly(
            channel=channel,
            week_key=week_key,
            tip_id=plan.tip.id,
            owner=self.owner,
            now=now,
            lease=self.lease,
        ):
            return replace(outcome, status="busy")
        if existing is not None:
            log.warning(
                "weekly: resuming an unconfirmed claim; checking Slack before posting",
                extra=log_fields(channel=channel, week=week_key, previous_owner=existing.owner),
            )
        # A post for this week can only exist from the week's start: search from there (not
        # from the claim, which a chain of takeovers may have moved past the first attempt).
        since = week_start(week_key) or (existing.claimed_at if existing else now) - HISTORY_SLACK
        result = slack.post(
            channel,
            plan.message,
            week_key=week_key,
            tip_id=plan.tip.id,
            since=since,
            verify_first=existing is not None,
        )
        if result.ts:
            self.store.mark_weekly_posted(
                channel=channel, week_key=week_key, ts=result.ts, now=self.clock.now()
            )
            status: Status = "recovered" if result.recovered else "posted"
            log.info(
                "weekly: %s %s to %s",
                status,
                plan.tip.id,
                channel,
                extra=log_fields(
                    channel=channel,
                    team_id=team_id,
                    week=week_key,
                    tip_id=plan.tip.id,
                    ts=result.ts,
                    reason=plan.pick.reason,
                    asked=plan.pick.asked,
                ),
            )
            return replace(outcome, status=status, ts=result.ts)
        if not result.ambiguous:
            # Slack said no (or never answered a 429 storm): nothing was posted, so the week
            # must not count as done. Free it for the next attempt.
            self.store.release_weekly(channel=channel, week_key=week_key)
        return replace(outcome, error=result.error, ambiguous=result.ambiguous)
