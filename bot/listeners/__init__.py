"""Slack listeners, one surface per module: named callbacks and ``register(app, deps)``,
which only wires them (see :func:`bot.listeners.common.with_deps`)."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.deps import Deps


def ignore_other_messages(body: dict[str, Any]) -> None:
    """Channel chatter, edits, joins, bot posts: acknowledged and left alone."""


def register_all(app: App, deps: Deps) -> None:
    """Register every surface; the catch-all for other messages comes last. The AI side
    panel (``assistant``) is a middleware: it takes its threads before any listener."""
    from bot.listeners import (
        actions,
        assistant,
        dm,
        feedback,
        find,
        home,
        mention,
        slash,
        uninstall,
    )

    for module in (dm, mention, slash, actions, feedback, home, uninstall, find, assistant):
        module.register(app, deps)
    app.event("message")(ignore_other_messages)
