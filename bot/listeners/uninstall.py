"""``app_uninstalled`` and ``tokens_revoked``: forget that workspace's tokens at once (and,
when the app is removed, everything its people wrote).

Slack sends both when a workspace removes Tip Coach (in either order). The workspace's
installation and bot rows are deleted from the shared database, so no process keeps a
dead token; other workspaces are untouched. Bolt skips authorization for these two
events, so they arrive even though the workspace's token no longer works. Deleting twice
is harmless, so there is no event de-duplication here.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext

from bot.deps import Deps
from bot.listeners.common import with_deps
from bot.logs import log_fields


def forget_workspace(deps: Deps, context: BoltContext, *, reason: str) -> int | None:
    """Delete the team's (or org's) installation rows; returns how many went (None: failed)."""
    team_id = None if context.is_enterprise_install else context.team_id
    enterprise_id = context.enterprise_id
    if team_id is None and enterprise_id is None:
        deps.logger.warning("uninstall event without a team", extra=log_fields(reason=reason))
        return None
    try:
        removed = deps.store.delete_installation(team_id, enterprise_id=enterprise_id)
    except Exception as exc:  # events are acked before this runs: the log is the alarm
        deps.logger.error(
            "deleting a workspace's tokens failed; delete them by hand",
            exc_info=exc,
            extra=log_fields(
                reason=reason,
                team_id=team_id,
                enterprise_id=enterprise_id,
                error_type=type(exc).__name__,
            ),
        )
        return None
    single = deps.settings.oauth_enabled is False
    deps.logger.warning(
        "workspace tokens deleted",
        extra=log_fields(
            reason=reason,
            team_id=team_id,
            enterprise_id=enterprise_id,
            rows=removed,
            note="SLACK_BOT_TOKEN no longer works for this workspace" if single else None,
        ),
    )
    return removed


def forget_workspace_data(deps: Deps, context: BoltContext) -> int | None:
    """Delete what the workspace's people wrote (query log, feedback, questions for the
    leads, learned situations, held answers): they removed the app, their words go too.
    One log line with the count; None when it failed (the log says to do it by hand)."""
    team_id = context.team_id
    if not team_id or context.is_enterprise_install:
        return None
    try:
        removed = deps.store.delete_workspace_data(team_id)
    except Exception as exc:
        deps.logger.error(
            "deleting a removed workspace's data failed; delete it by hand",
            extra=log_fields(team_id=team_id, error_type=type(exc).__name__),
        )
        return None
    deps.learned.invalidate(team_id)
    deps.logger.warning("workspace data deleted", extra=log_fields(team_id=team_id, rows=removed))
    return removed


def handle_app_uninstalled(context: BoltContext, *, deps: Deps) -> None:
    """The whole app was removed: every token of that workspace is gone, and so is what its
    people wrote."""

    def forget() -> None:
        forget_workspace(deps, context, reason="app_uninstalled")
        forget_workspace_data(deps, context)

    deps.run_later("uninstall", forget)


def handle_tokens_revoked(event: dict[str, Any], context: BoltContext, *, deps: Deps) -> None:
    """The bot token was revoked: without it, nothing of that installation is usable.

    Only user tokens revoked: Tip Coach asks for no user scopes and holds none, so
    there is nothing to delete (logged, for the record).
    """
    tokens = event.get("tokens") or {}
    if tokens.get("bot"):
        deps.run_later(
            "uninstall", lambda: forget_workspace(deps, context, reason="tokens_revoked")
        )
        return
    deps.logger.info(
        "user tokens revoked (Tip Coach holds no user tokens)",
        extra=log_fields(team_id=context.team_id, users=len(tokens.get("oauth") or [])),
    )


def register(app: App, deps: Deps) -> None:
    app.event("app_uninstalled")(with_deps(handle_app_uninstalled, deps))
    app.event("tokens_revoked")(with_deps(handle_tokens_revoked, deps))
