"""What every surface shares: bind ``deps`` for Bolt, hand work off after the ack, run a
lookup, claim an event once, answer an event (delivery itself is :mod:`bot.delivery`).

Every listener acks first and hands the rest to the work pool: Bolt's own threads never
wait for the coach or for Slack, so every request is acked within Slack's 3 s. Work that
owes a rep a reply goes through :func:`answer_after_ack` (replays skipped, a crash still
answered); work with no one waiting (App Home, uninstall, a modal's comment, a thread
reply not yet known to be for us) goes straight to :meth:`bot.deps.Deps.run_later`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, TypeVar

from slack_sdk import WebClient

from bot import render
from bot.dedupe import REPLAY_KEY
from bot.delivery import ReplyTarget, add_reaction, deliver, remove_reaction
from bot.deps import Deps
from bot.logs import log_fields
from bot.render import Message
from retrieval.errors import CoachError, EmptyQuery
from retrieval.models import Answer

HELP_WORDS = {"help", "-h", "--help", "?", "usage", "hi", "hello", "hey"}
UNEXPECTED = "Something went wrong on my side while looking that up. Please try again in a moment."

T = TypeVar("T")


def with_deps(callback: Callable[..., T], deps: Deps) -> Callable[..., T]:
    """``callback`` with ``deps`` bound, ready for ``app.event(...)`` or a ``matchers`` list.

    Bolt passes a callback only the arguments named in its
    ``inspect.getfullargspec(...).args``. Callbacks take ``deps`` keyword-only (after
    ``*``), so once bound here it is not among those names and Bolt injects only its own
    (``ack``, ``body``, ``client``...). Bound any other way it breaks: a keyword-bound
    ``deps`` *before* other parameters makes them all keyword-only (Bolt would pass
    nothing), and ``functools.update_wrapper`` would expose ``deps`` again (Bolt would
    pass ``deps=None`` over it).
    """
    bound = partial(callback, deps=deps)
    bound.__name__ = callback.__name__  # type: ignore[attr-defined]  # Bolt's logs name it
    return bound


def answer_after_ack(
    deps: Deps,
    job: str,
    work: Callable[[], object],
    *,
    client: WebClient,
    where: ReplyTarget,
    problem: str = UNEXPECTED,
    context: Any = None,
) -> None:
    """Run ``work`` (lookup + delivery) in the work pool for a rep waiting at ``where``;
    call it right after ``ack()``.

    What it adds to :meth:`Deps.run_later` (which only runs and logs): if ``work`` crashes,
    the rep gets ``problem`` as a note (their card stays); and with the Bolt ``context`` of
    a slash command or an interaction, the work first claims the request in the shared
    store, so a replay served by another process is not answered again.
    """
    key = context.get(REPLAY_KEY) if context is not None else None
    if key:
        unclaimed = work

        def work() -> object:
            if not deps.claim_shared(str(key)):
                deps.logger.info("replayed request skipped", extra=log_fields(key=key))
                return None
            return unclaimed()

    target = replace(where, replace_original=False)

    def tell_rep(_exc: Exception) -> None:
        deliver(deps, client, target, render.notice_message(problem, emoji=":warning:"))

    deps.run_later(job, work, on_error=tell_rep, team_id=where.team_id)


@dataclass(frozen=True)
class LookupResult:
    """The outcome of one lookup: the message to send, its query-log id, the raw answer."""

    message: Message
    query_id: int | None
    answer: Answer | None


def lookup(
    deps: Deps,
    *,
    text: str,
    surface: str,
    team_id: str | None,
    user_id: str | None,
    exclude: Sequence[str] = (),
    shareable: bool = False,
) -> LookupResult:
    """Ask the coach, log the query (redacted by the store), render the reply. Never raises."""
    started = deps.clock()
    answer: Answer | None = None
    error: str | None = None
    try:
        coach = deps.coach.get(deps.coach_wait_seconds)
        learned = deps.learned.for_team(deps.store, coach, team_id)
        extra: dict[str, Any] = {"situations": learned} if learned is not None else {}
        answer = coach.answer(text, k=3, exclude=tuple(exclude), **extra)
    except EmptyQuery:
        return LookupResult(render.help_message(deps.settings.slash_command), None, None)
    except CoachError as exc:
        error = f"{type(exc).__name__}: {exc}"
        message = render.notice_message(str(exc), emoji=":warning:")
    except Exception as exc:
        error = type(exc).__name__
        deps.logger.exception("lookup failed", extra=log_fields(surface=surface, error_type=error))
        message = render.notice_message(UNEXPECTED, emoji=":warning:")
    latency_ms = (deps.clock() - started) * 1000.0
    query_id = log_query(
        deps,
        text=text,
        surface=surface,
        team_id=team_id,
        user_id=user_id,
        answer=answer,
        latency_ms=latency_ms,
        error=error,
    )
    if answer is not None:
        message = render.answer_message(
            answer,
            query_id=query_id,
            shareable=shareable,
            exclude=exclude,
            ask_lead=query_id is not None and bool(deps.settings.leads_channel_for(team_id)),
        )
    deps.logger.info(
        "lookup",
        extra=log_fields(
            surface=surface,
            team_id=team_id,
            answered=bool(answer and answer.answered),
            confidence=round(float(answer.confidence), 4) if answer else None,
            tip_id=answer.top.id if answer and answer.top else None,
            query_id=query_id,
            text_chars=len(text),
            latency_ms=round(latency_ms, 1),
            error=error,
        ),
    )
    return LookupResult(message, query_id, answer)


def log_query(deps: Deps, **kwargs: Any) -> int | None:
    """The query log must never cost a rep their answer: a store failure is logged, not raised."""
    try:
        return deps.store.log_query(**kwargs)
    except Exception as exc:
        deps.logger.error(
            "query log write failed",
            extra=log_fields(error_type=type(exc).__name__, surface=kwargs.get("surface")),
        )
        return None


def claim_event_once(deps: Deps, body: dict[str, Any]) -> bool:
    """True once per Slack ``event_id``: in this process always (its own memory), across
    every process sharing the store whenever the store answers in time."""
    event_id = body.get("event_id")
    if not event_id:
        return True
    if deps.recent.first_time(f"ev:{event_id}") and deps.claim_shared(str(event_id)):
        return True
    deps.logger.info("duplicate event skipped", extra=log_fields(event_id=event_id))
    return False


def answer_event(
    deps: Deps,
    client: WebClient,
    *,
    text: str,
    surface: str,
    where: ReplyTarget,
    react_ts: str | None = None,
) -> LookupResult:
    """Events (DM, mention, thread): 👀 while working, then the answer where it was asked."""
    if text.strip().lower() in HELP_WORDS:  # "help" / "hi": how to ask, not a lookup
        help_message = render.help_message(deps.settings.slash_command)
        deliver(deps, client, where, help_message)
        return LookupResult(help_message, None, None)
    reacted = add_reaction(deps, client, where.channel, react_ts)
    started = time.perf_counter()
    result = lookup(deps, text=text, surface=surface, team_id=where.team_id, user_id=where.user_id)
    deliver(deps, client, where, result.message)
    if reacted:
        remove_reaction(deps, client, where.channel, react_ts)
    deps.logger.debug(
        "event answered",
        extra=log_fields(surface=surface, ms=(time.perf_counter() - started) * 1000),
    )
    return result
