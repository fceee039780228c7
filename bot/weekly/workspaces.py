"""Whose bot token posts the weekly tip to each channel, and whose lookups it counts.

Single-workspace mode posts everything with ``SLACK_BOT_TOKEN``. Multi-workspace mode
(``SLACK_CLIENT_ID``/``SLACK_CLIENT_SECRET``) has no such token: every workspace has its
own, saved in the database when it installed the app. A ``COACH_WEEKLY_CHANNELS`` entry
then names its workspace (``T0123ABCD:C0456EFGH``); a plain channel id is only clear while
exactly one workspace is installed. The workspace is looked up at each delivery, because
workspaces install and uninstall while the scheduler runs: a target whose workspace has no
installation is skipped with a message saying what to do, never retried in a tight loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select

from retrieval.errors import CoachError

if TYPE_CHECKING:
    from bot.weekly.slack import WeeklySlack


@dataclass(frozen=True)
class Target:
    """One ``COACH_WEEKLY_CHANNELS`` entry: a channel, and its workspace when named."""

    channel: str
    team_id: str | None = None

    @property
    def label(self) -> str:
        """The entry as the operator wrote it (for messages)."""
        return f"{self.team_id}:{self.channel}" if self.team_id else self.channel


class WorkspaceUnavailable(CoachError):
    """No bot token can post to a target until an install or COACH_WEEKLY_CHANNELS changes.

    The message says what to do; callers prefix it with the entry (``Target.label``).
    """


@dataclass(frozen=True)
class Workspace:
    """The workspace a target resolved to: its team (None: unknown, single mode) and client."""

    team_id: str | None
    slack: WeeklySlack


class SlackSource(Protocol):
    """Resolves a target to the Slack client (bot token) that posts there."""

    def team_for(self, target: Target) -> str | None:
        """The target's workspace without fetching a token; raises WorkspaceUnavailable."""
        ...

    def workspace(self, target: Target) -> Workspace:
        """The target's workspace and a client with its bot token; raises WorkspaceUnavailable."""
        ...


class SingleWorkspace:
    """``SLACK_BOT_TOKEN`` mode: one client for every target."""

    def __init__(self, slack: WeeklySlack) -> None:
        self.slack = slack

    def team_for(self, target: Target) -> str | None:
        return target.team_id

    def workspace(self, target: Target) -> Workspace:
        return Workspace(target.team_id, self.slack)


class InstalledWorkspaces:
    """Multi-workspace mode: each target posts with its workspace's installation bot token.

    ``installations`` is slack-sdk's ``SQLAlchemyInstallationStore`` on the shared database
    (``Store.installation_store(client_id)``); ``make_slack`` builds a client for a token.
    """

    def __init__(self, installations: Any, make_slack: Callable[[str], WeeklySlack]) -> None:
        self.installations = installations
        self._make_slack = make_slack
        self._clients: dict[str, WeeklySlack] = {}  # by token: a reinstall brings a new one

    def installed_teams(self) -> list[str]:
        """Team ids with a bot installation for this app (one per workspace, sorted)."""
        bots = self.installations.bots
        stmt = (
            select(bots.c.team_id)
            .where(bots.c.client_id == self.installations.client_id, bots.c.team_id.is_not(None))
            .distinct()
        )
        with self.installations.engine.connect() as conn:
            return sorted(str(team) for (team,) in conn.execute(stmt) if team)

    def team_for(self, target: Target) -> str:
        if target.team_id:
            return target.team_id
        teams = self.installed_teams()
        if len(teams) == 1:
            return teams[0]
        if not teams:
            raise WorkspaceUnavailable(
                "no workspace has installed Tip Coach yet, so there is no bot token to post "
                "with; install it from /slack/install first"
            )
        raise WorkspaceUnavailable(
            f"the plain entry {target.channel} does not say whose bot token posts there: "
            f"{len(teams)} workspaces have installed Tip Coach ({', '.join(teams)}); qualify "
            f"it with its team id in COACH_WEEKLY_CHANNELS, like {teams[0]}:{target.channel}"
        )

    def workspace(self, target: Target) -> Workspace:
        team = self.team_for(target)
        bot = self.installations.find_bot(enterprise_id=None, team_id=team)
        token = getattr(bot, "bot_token", None) if bot is not None else None
        if not token:
            raise WorkspaceUnavailable(
                f"workspace {team} has no installation of Tip Coach (it was uninstalled, or "
                "never installed), so there is no bot token to post with; install it again "
                f"from /slack/install, or remove {target.label} from COACH_WEEKLY_CHANNELS"
            )
        if token not in self._clients:
            self._clients[token] = self._make_slack(token)
        return Workspace(team, self._clients[token])
