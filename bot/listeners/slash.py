"""The slash command (``/coach`` by default): ack at once, answer privately, share on request."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot import render
from bot.delivery import ReplyTarget, deliver
from bot.deps import Deps
from bot.listeners.common import HELP_WORDS, answer_after_ack, lookup, with_deps
from bot.logs import log_fields
from bot.slack_text import plain_text


def handle_coach_command(
    ack: Ack, command: dict[str, Any], client: WebClient, context: BoltContext, *, deps: Deps
) -> None:
    """Help is the ack itself; a lookup is acked empty first and answered via response_url,
    under the rep's question (redacted) so they see what was answered."""
    text = plain_text(command.get("text"), bot_user_id=context.bot_user_id)
    if text.lower() in HELP_WORDS or not text:
        ack(
            response_type="ephemeral",
            **render.help_message(deps.settings.slash_command).to_slack(),
        )
        return
    ack()
    where = ReplyTarget(
        channel=command.get("channel_id"),
        user_id=command.get("user_id"),
        team_id=command.get("team_id") or context.team_id,
        response_url=command.get("response_url"),
        ephemeral=True,
    )

    def answer() -> None:
        result = lookup(
            deps,
            text=text,
            surface="slash",
            team_id=where.team_id,
            user_id=where.user_id,
            shareable=True,
        )
        deliver(deps, client, where, render.with_question(result.message, text))

    answer_after_ack(deps, "slash", answer, client=client, where=where, context=context)


def is_other_command(command: dict[str, Any], *, deps: Deps) -> bool:
    """Never the configured command: if its ack were ever late, Bolt would try the next
    listener, and a real lookup must not be answered with the help."""
    return command.get("command") != deps.settings.slash_command


def handle_other_command(ack: Ack, command: dict[str, Any], *, deps: Deps) -> None:
    """A command Slack routes to us under another name (manifest and settings disagree)."""
    deps.logger.warning(
        "unexpected slash command",
        extra=log_fields(command=command.get("command"), expected=deps.settings.slash_command),
    )
    help_message = render.help_message(deps.settings.slash_command)
    ack(response_type="ephemeral", **help_message.to_slack())


def register(app: App, deps: Deps) -> None:
    """The configured command first: Bolt tries listeners in the order they were added."""
    app.command(deps.settings.slash_command)(with_deps(handle_coach_command, deps))
    app.command(re.compile(r"^/"), matchers=[with_deps(is_other_command, deps)])(
        with_deps(handle_other_command, deps)
    )
