"""Recording stand-ins for what Bolt hands a listener, so the named callbacks in
``bot/listeners`` can be called directly (no HTTP, no Bolt): ``ack`` and the Web API
``client``. Replies sent to a ``response_url`` go to :class:`fake_slack.FakeSlack`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot_fixtures import make_settings, shared_coach
from fake_slack import BOT_ID, BOT_USER_ID, FakeSlack
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.deps import CoachProvider, Deps
from bot.storage import Store
from config.settings import Settings


@dataclass
class RecordingAck:
    """Bolt's ``ack``: each call's arguments, in order (Slack gets the first one)."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)


@dataclass(frozen=True)
class ApiCall:
    """One Web API call a listener made."""

    method: str  # the client method's name, e.g. "chat_postMessage"
    kwargs: dict[str, Any]
    thread: str  # who called: the work pool's threads are named "coach-work-…"


class RecordingClient:
    """The ``WebClient`` methods the listeners use, answering ``ok`` like Slack.

    ``threads`` maps a thread's ``ts`` to the replies ``conversations.replies`` returns;
    :meth:`refuse` makes the next call of a method fail the way Slack refuses one.
    """

    def __init__(self, threads: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.threads = threads or {}
        self._calls: list[ApiCall] = []
        self._refusals: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._next_ts = 0

    def refuse(self, method: str, error: str) -> None:
        """The next ``method`` call raises ``SlackApiError`` with Slack's ``error`` code."""
        with self._lock:
            self._refusals.setdefault(method, []).append(error)

    def calls(self, method: str | None = None) -> list[ApiCall]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def _answer(self, method: str, kwargs: dict[str, Any], **data: Any) -> SlackResponse:
        with self._lock:
            self._calls.append(ApiCall(method, kwargs, threading.current_thread().name))
            refusals = self._refusals.get(method)
            error = refusals.pop(0) if refusals else None
            self._next_ts += 1
            ts = f"1700000100.{self._next_ts:06d}"
        url = f"https://slack.com/api/{method}"
        if error is not None:
            refused = SlackResponse(
                client=None,
                http_verb="POST",
                api_url=url,
                req_args={},
                data={"ok": False, "error": error},
                headers={},
                status_code=200,
            )
            raise SlackApiError(f"{method} refused: {error}", refused)
        return SlackResponse(
            client=None,
            http_verb="POST",
            api_url=url,
            req_args={},
            data={"ok": True, "ts": ts, **data},
            headers={},
            status_code=200,
        )

    def chat_postMessage(self, **kwargs: Any) -> SlackResponse:
        return self._answer("chat_postMessage", kwargs, channel=kwargs.get("channel"))

    def chat_postEphemeral(self, **kwargs: Any) -> SlackResponse:
        return self._answer("chat_postEphemeral", kwargs)

    def chat_update(self, **kwargs: Any) -> SlackResponse:
        return self._answer("chat_update", kwargs, channel=kwargs.get("channel"))

    def reactions_add(self, **kwargs: Any) -> SlackResponse:
        return self._answer("reactions_add", kwargs)

    def reactions_remove(self, **kwargs: Any) -> SlackResponse:
        return self._answer("reactions_remove", kwargs)

    def conversations_replies(self, **kwargs: Any) -> SlackResponse:
        return self._answer(
            "conversations_replies", kwargs, messages=self.threads.get(kwargs.get("ts") or "", [])
        )

    def views_open(self, **kwargs: Any) -> SlackResponse:
        return self._answer("views_open", kwargs)

    def views_publish(self, **kwargs: Any) -> SlackResponse:
        return self._answer("views_publish", kwargs)

    def assistant_threads_setStatus(self, **kwargs: Any) -> SlackResponse:
        return self._answer("assistant_threads_setStatus", kwargs)

    def assistant_threads_setSuggestedPrompts(self, **kwargs: Any) -> SlackResponse:
        return self._answer("assistant_threads_setSuggestedPrompts", kwargs)

    def assistant_threads_setTitle(self, **kwargs: Any) -> SlackResponse:
        return self._answer("assistant_threads_setTitle", kwargs)


def bot_reply(thread_ts: str, ts: str = "1700000000.000900") -> dict[str, Any]:
    """A message the bot posted in a thread, as ``conversations.replies`` lists it."""
    return {
        "type": "message",
        "ts": ts,
        "thread_ts": thread_ts,
        "user": BOT_USER_ID,
        "bot_id": BOT_ID,
    }


def one_thread_deps(settings: Settings, coach: Any = None) -> Deps:
    """``Deps`` as production wires them but with a one-thread work pool, so :func:`drain`
    waits for everything a callback handed off (the shared coach unless ``coach``)."""
    return Deps(
        settings=settings,
        coach=CoachProvider.ready_with(coach if coach is not None else shared_coach()),
        store=Store.open(settings),
        coach_wait_seconds=5.0,
        work_threads=1,
    )


@contextmanager
def deps_builder(
    slack: FakeSlack, data_dir: Path, **defaults: Any
) -> Iterator[Callable[..., Deps]]:
    """Builds :func:`one_thread_deps` on ``slack``'s settings (``defaults`` then each call's
    overrides); the fake's records start empty and every ``Deps`` built is closed afterwards."""
    slack.reset()
    built: list[Deps] = []

    def build(coach: Any = None, **overrides: Any) -> Deps:
        settings = make_settings(slack, data_dir, **{**defaults, **overrides})
        deps = one_thread_deps(settings, coach)
        built.append(deps)
        return deps

    try:
        yield build
    finally:
        for deps in built:
            deps.close()


def drain(deps: Deps) -> None:
    """Wait until the work already handed to the one-thread pool is done."""
    done = threading.Event()
    deps.run_later("drain", done.set)
    assert done.wait(15), "the work pool did not finish"
