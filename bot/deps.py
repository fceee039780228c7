"""What the Slack bot needs, built once by the entry point and handed to every listener.

Listeners never build their own coach, store or logger; tests build a ``Deps`` with the
fast fake encoder and a temporary database and drive the real Bolt app with it.

``Deps`` also owns the *work pool*: Bolt's listener threads only ack a request and hand
the slow part (coach lookups, Slack posts and their Retry-After sleeps) to
:meth:`Deps.run_later`, so a burst of slow answers never delays another request's ack
past Slack's 3 seconds. :meth:`Deps.close` finishes the work already acked.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from bot.ack_first import PROCESS_ACKS, AckFirst
from bot.dedupe import RecentKeys
from bot.learned import LearnedCache
from bot.logs import log_fields
from bot.redelivery import Redelivery
from bot.report.aggregate import SharedSummaries
from retrieval.errors import CoachError
from retrieval.models import Answer, Completion, Tip, TipAnswer

if TYPE_CHECKING:
    from bot.storage import Store
    from bot.storage.guard import GuardedStore
    from config.settings import Settings

#: Threads that finish queued jobs at shutdown (they mostly wait on Slack).
SHUTDOWN_THREADS = 64
#: Seconds a closing app waits for listeners that acked just before to hand their work off.
HANDOFF_SETTLE = 0.1
#: Seconds between attempts to load a coach that failed to load (the last one repeats).
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0)
#: How long a request waits for a coach still loading before the rep hears "warming up".
WARMUP_WAIT_SECONDS = 2.0

#: Threads doing the work after an ack (lookups, Slack posts, their retries). Work beyond
#: this waits in the pool's queue; each job logs how long it waited (``queued_ms``).
WORK_THREADS = 16
#: A job that waited longer than this for a thread is logged as a warning: the pool is too
#: small for the load (raise ``Deps.work_threads``) or the coach is too slow.
SLOW_QUEUE_MS = 3000.0


class CoachLike(Protocol):
    """The part of ``retrieval.engine.Coach`` the bot calls: narrow, so the tests' slow or
    broken coaches (tests/bot_fixtures.py, tests/test_bot_load.py) can stand in for it."""

    def answer(self, text: str, *, k: int = 3, exclude: Collection[str] = ()) -> Answer: ...

    def tip_card(self, tip_id: str) -> TipAnswer: ...

    def tips(self) -> list[Tip]: ...

    def suggest(self, prefix: str, limit: int = 20) -> list[Completion]: ...


class CoachNotReady(CoachError):
    """The model and index are still loading (the rep is told to try again shortly)."""

    def __init__(self) -> None:
        super().__init__(
            "I'm still warming up (loading the tips). Please try again in a few seconds."
        )


class CoachProvider:
    """Loads the coach once, in the background, and says when it is ready (for /healthz).

    The HTTP server starts answering health checks (503 "loading") at once while the model
    and index load; listeners wait a little (``Deps.coach_wait_seconds``) and then tell the
    rep the bot is warming up, rather than hang. A failed load is retried with backoff
    (1 s, 2 s, 4 s … up to a minute), so a bot whose index or database was briefly broken
    recovers without a restart; meanwhile /healthz says what failed.
    """

    def __init__(
        self,
        loader: Callable[[], CoachLike],
        *,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        self._loader = loader
        self._coach: CoachLike | None = None
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._ready = threading.Event()
        self._attempted = threading.Event()  # at least one attempt finished
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._retry_delays = tuple(retry_delays) or (60.0,)
        self.attempts = 0
        self.load_seconds: float | None = None

    @classmethod
    def ready_with(cls, coach: CoachLike) -> CoachProvider:
        """A provider around an already-built coach (tests, the CLI)."""
        provider = cls(lambda: coach)
        provider._coach = coach
        provider.load_seconds = 0.0
        provider._ready.set()
        provider._attempted.set()
        return provider

    @classmethod
    def from_settings(cls, settings: Settings, encoder: Any = None) -> CoachProvider:
        """Build the real coach (model + index) per settings when ``start``/``get`` asks."""

        def load() -> CoachLike:
            from retrieval.engine import Coach

            return Coach.from_settings(settings, encoder=encoder)

        return cls(load)

    def start(self) -> None:
        """Begin loading in a daemon thread (idempotent)."""
        with self._lock:
            if self._thread is not None or self._ready.is_set():
                return
            self._thread = threading.Thread(target=self._load, name="coach-loader", daemon=True)
            self._thread.start()

    def _load(self) -> None:
        log = logging.getLogger("bot.coach")
        while not self._stop.is_set():
            started = time.perf_counter()
            self.attempts += 1
            try:
                coach = self._loader()
            except BaseException as exc:  # reported by /healthz and to every rep who asks
                self._error = exc
                delay = self._retry_delays[min(self.attempts, len(self._retry_delays)) - 1]
                log.exception(
                    "loading the coach failed; retrying",
                    extra=log_fields(attempt=self.attempts, retry_in_s=delay),
                )
                self._attempted.set()
                self._sleep(delay)
                continue
            self.load_seconds = time.perf_counter() - started
            self._coach, self._error = coach, None
            if self.attempts > 1:
                log.info("the coach loaded after a retry", extra=log_fields(attempt=self.attempts))
            self._ready.set()
            self._attempted.set()
            return

    def stop(self) -> None:
        """Stop retrying (shutdown)."""
        self._stop.set()

    @property
    def ready(self) -> bool:
        return self._coach is not None

    @property
    def error(self) -> BaseException | None:
        return self._error

    @property
    def status(self) -> str:
        if self._coach is not None:
            return "ok"
        return "error" if self._error is not None else "loading"

    def get(self, timeout: float | None = 2.0) -> CoachLike:
        """The coach, waiting up to ``timeout`` seconds for the background load."""
        if self._coach is not None:
            return self._coach
        self.start()
        if not self._attempted.wait(timeout) or self._coach is None:
            error = self._error
            if error is None:
                raise CoachNotReady()
            if isinstance(error, CoachError):
                raise error
            raise CoachError(
                "The tip index could not be loaded; an admin has to check the bot's logs."
            ) from error
        return self._coach


@dataclass
class Deps:
    """Everything a listener may touch. ``clock`` is monotonic seconds (latency timing).

    ``store`` is the shared store behind deadlines in production (``GuardedStore``, which
    passes what it does not guard to the ``Store`` inside), a plain ``Store`` in tests.
    """

    settings: Settings
    coach: CoachProvider
    store: Store | GuardedStore
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("bot"))
    clock: Callable[[], float] = time.perf_counter
    coach_wait_seconds: float = WARMUP_WAIT_SECONDS
    work_threads: int = WORK_THREADS
    recent: RecentKeys = field(default_factory=RecentKeys)
    ack_first: AckFirst = PROCESS_ACKS
    redelivery: Redelivery = field(default_factory=Redelivery)
    #: Each workspace's learned situations for the coach (re-read at most once a minute).
    learned: LearnedCache = field(default_factory=LearnedCache)
    #: Admins' gap summaries, counted at most once per workspace every few minutes.
    summaries: SharedSummaries = field(default_factory=SharedSummaries)
    _work_pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    _inflight: dict[Future[Any], tuple[str, dict[str, Any], Callable[[], None]]] = field(
        default_factory=dict, init=False, repr=False
    )
    _inline: int = field(default=0, init=False, repr=False)
    _work_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _closed: bool = field(default=False, init=False, repr=False)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, encoder: Any = None, start_loading: bool = True
    ) -> Deps:
        """Production wiring: the shared store (behind deadlines; a sick database at start-up
        degrades the bot, never stops it) and a coach loading in the background."""
        from bot.storage import Store
        from bot.storage.engine import make_engine
        from bot.storage.guard import GuardedStore
        from bot.storage.store import token_cipher

        # A malformed DATABASE_URL or a missing driver is a settings error: it stops here.
        unchecked = make_engine(
            settings.database_url, pool_size=settings.db_pool_size, timeout=settings.db_timeout
        )
        store = GuardedStore(
            lambda: Store.open(settings),
            fallback=lambda: Store(
                unchecked, retention_days=settings.retention_days, cipher=token_cipher(settings)
            ),
            deadline=settings.db_timeout,
        )
        provider = CoachProvider.from_settings(settings, encoder=encoder)
        if start_loading:
            provider.start()
        return cls(settings=settings, coach=provider, store=store)

    # -- answering once -----------------------------------------------------------------------

    def claim_shared(self, key: str, *, deadline: float | None = None) -> bool:
        """Claim ``key`` in the shared store: False when another process already has it.

        When the store fails, answer anyway (this process's own memory of recent keys
        still keeps its retries single): better a rare duplicate across processes than a
        rep left without an answer while the database is away.
        """
        from bot.storage.guard import GuardedStore  # importing bot.deps loads no database code

        try:
            if deadline is not None and isinstance(self.store, GuardedStore):
                return bool(self.store.claim_event(key, deadline=deadline))
            return bool(self.store.claim_event(key))
        except Exception as exc:
            self.logger.error(
                "shared claim failed; this process's memory dedupes",
                extra=log_fields(key=key, error_type=type(exc).__name__),
            )
            return True

    # -- the work pool ----------------------------------------------------------------------

    def _pool(self) -> ThreadPoolExecutor | None:
        """The work pool, started on first use (None once closed)."""
        with self._work_lock:
            if self._work_pool is None and not self._closed:
                self._work_pool = ThreadPoolExecutor(
                    max_workers=self.work_threads, thread_name_prefix="coach-work"
                )
            return self._work_pool

    def run_later(
        self,
        job: str,
        work: Callable[[], object],
        *,
        on_error: Callable[[Exception], object] | None = None,
        **fields: Any,
    ) -> None:
        """Run ``work`` in the work pool, after the caller has acked the request.

        Never loses an error: an exception is logged (with ``job`` and ``fields``) and then
        handed to ``on_error``, which tells the rep. Once the pool is closed (shutting down)
        the work runs right here instead of being dropped. A job in the pool first lets the
        process ack the requests it is still acking (:mod:`bot.ack_first`).
        """
        queued = time.perf_counter()

        def run(acks_first: bool = True) -> None:
            if acks_first and not self._closed:  # never delays the drain at shutdown
                self.ack_first.wait_for_acks()
            started = time.perf_counter()
            queued_ms = round((started - queued) * 1000.0, 1)
            try:
                work()
            except Exception as exc:
                self.logger.error(
                    "work after the ack failed",
                    exc_info=exc,
                    extra=log_fields(
                        job=job, error_type=type(exc).__name__, queued_ms=queued_ms, **fields
                    ),
                )
                if on_error is not None:
                    self._report(job, on_error, exc)
                return
            run_ms = round((time.perf_counter() - started) * 1000.0, 1)
            level = logging.WARNING if queued_ms > SLOW_QUEUE_MS else logging.INFO
            self.logger.log(
                level,
                "work done",
                extra=log_fields(job=job, queued_ms=queued_ms, run_ms=run_ms, **fields),
            )

        pool = self._pool()
        if pool is not None:
            try:
                future = pool.submit(run)
                with self._work_lock:
                    self._inflight[future] = (job, fields, run)
                future.add_done_callback(self._done)
                return
            except RuntimeError:  # closed between _pool() and submit: run it here
                pass
        with self._work_lock:
            self._inline += 1
        try:
            run(acks_first=False)  # this thread is itself one of the requests being acked
        finally:
            with self._work_lock:
                self._inline -= 1

    def _report(self, job: str, on_error: Callable[[Exception], object], exc: Exception) -> None:
        try:
            on_error(exc)
        except Exception as again:
            self.logger.error(
                "telling the rep about a failure failed",
                exc_info=again,
                extra=log_fields(job=job, error_type=type(again).__name__),
            )

    def _done(self, future: Future[Any]) -> None:
        with self._work_lock:
            self._inflight.pop(future, None)

    def close(self, grace: float | None = None) -> None:
        """Finish the work already acked within ``grace`` seconds (``COACH_SHUTDOWN_GRACE``),
        then release the store (idempotent). Called when the app stops: gunicorn's worker
        exit (SIGTERM), Socket Mode's stop, tests.

        Jobs still queued are handed to extra threads (they wait on Slack, not on the CPU,
        so more of them in parallel finish sooner); answers waiting for a retry get one last
        try; whatever is still unanswered at the deadline is logged with its request.
        """
        grace = self.settings.shutdown_grace if grace is None else grace
        deadline = time.monotonic() + grace
        self.coach.stop()
        with self._work_lock:
            pool, self._work_pool, self._closed = self._work_pool, None, True
            inflight = dict(self._inflight)
        if pool is not None:
            queued = [(f, item) for f, item in inflight.items() if f.cancel()]
            running = [f for f in inflight if not f.cancelled()]
            extra = ThreadPoolExecutor(
                max_workers=max(1, min(SHUTDOWN_THREADS, len(queued))),
                thread_name_prefix="coach-drain",
            )
            handed = {extra.submit(run): (job, fields, run) for _, (job, fields, run) in queued}
            pending = {f: inflight[f] for f in running} | handed
            _, unfinished = wait(pending, timeout=max(0.0, deadline - time.monotonic()))
            for future in unfinished:
                job, fields, _ = pending[future]
                self.logger.error(
                    "acked request not answered at shutdown",
                    extra=log_fields(job=job, **fields),
                )
            pool.shutdown(wait=False, cancel_futures=True)
            extra.shutdown(wait=False, cancel_futures=True)
        # A listener that acked just before the pool closed runs its work in its own thread:
        # give those a moment to start, then let them finish too.
        time.sleep(min(HANDOFF_SETTLE, max(0.0, deadline - time.monotonic())))
        while time.monotonic() < deadline:
            with self._work_lock:
                if self._inline == 0:
                    break
            time.sleep(0.02)
        self.redelivery.drain(max(0.0, deadline - time.monotonic()))
        close_store = getattr(self.store, "close", None)
        if callable(close_store):
            close_store()
