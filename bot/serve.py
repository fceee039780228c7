"""``coach serve``: the bot in HTTP mode (gunicorn) or Socket Mode.

HTTP mode runs gunicorn programmatically (``WEB_CONCURRENCY`` ``gthread`` workers, default
one; the index loads once per worker process, in the background, while ``/healthz`` says
503 — about a second with a prebuilt index; with several workers the master loads the
model once before forking and the workers share it). Socket Mode is chosen by
``--socket`` or by ``SLACK_APP_TOKEN`` being set. Missing or malformed tokens stop start-up
with exit code 2 and a message naming the variable.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
from collections.abc import Callable
from typing import Any

from config.settings import Settings, SettingsError

#: gunicorn threads per worker. Slack's requests are tiny and acked at once (the work runs in
#: the bot's work pool, ``Deps.run_later``); the threads are many so that slow or idle
#: connections, each held at most ``bot.worker.REQUEST_READ_SECONDS``, never take them all.
HTTP_THREADS = 128


def use_socket_mode(settings: Settings, socket: bool | None) -> bool:
    return socket if socket is not None else settings.slack_app_token is not None


def main(settings: Settings, socket: bool | None = None) -> int:
    """Run the bot until stopped; 2 for bad configuration, 1 when it cannot start."""
    socket_mode = use_socket_mode(settings, socket)
    try:
        settings.require_slack(socket=socket_mode)
    except SettingsError as exc:
        print(f"coach serve: {exc}", file=sys.stderr)
        return 2
    from bot.logs import configure_logging

    configure_logging(settings)
    if socket_mode:
        return run_socket_mode(settings)
    return run_http(settings)


def build_wsgi_app(settings: Settings, *, encoder: Any = None) -> Any:
    """Everything a worker process needs: store, coach (loading in the background), Bolt, WSGI.

    ``encoder``: a model the master loaded before forking (shared by the workers)."""
    from bot.app import build_app
    from bot.deps import Deps
    from bot.http import SlackWSGI
    from bot.logs import log_fields

    one_math_thread()
    deps = Deps.from_settings(settings, encoder=encoder)
    app = build_app(deps)
    oauth = app.oauth_flow
    deps.logger.info(
        "slack mode",
        extra=log_fields(
            mode="multi-workspace" if oauth is not None else "single-workspace",
            install_path=oauth.install_path if oauth is not None else None,
        ),
    )
    return SlackWSGI(app, deps)


def one_math_thread() -> Any:
    """Numpy's BLAS (and any OpenMP pool) runs one thread per call in the bot's processes.

    A lookup multiplies one query by a few thousand vectors, too little for threads to pay;
    but after each call the idle BLAS threads spin-wait for the next one, taking the cores
    that other reps' acks and lookups need: under a burst of 100 slash commands they burnt
    about half of the worker's CPU (26 ms per answer, 12 ms with one thread). Returns the
    limiter (``restore_original_limits()`` undoes it)."""
    import numpy  # noqa: F401  (threadpoolctl limits only the libraries already loaded)
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def close_worker_app(server: Any, worker: Any) -> None:
    """gunicorn's ``worker_exit`` hook: answers already acked are finished, not dropped."""
    close = getattr(getattr(worker, "wsgi", None), "close", None)
    if callable(close):
        close()


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    from bot.logs import JsonFormatter, SecretMaskFilter, settings_secrets
    from bot.privacy import RedactingFilter

    return {
        "bind": f"0.0.0.0:{settings.port}",
        "workers": settings.web_concurrency,
        "worker_class": "bot.worker.CoachWorker",  # gthread with a request-read deadline
        "threads": HTTP_THREADS,
        "timeout": 60,
        "graceful_timeout": int(settings.shutdown_grace) + 2,  # the worker's own close() ends first
        "keepalive": 5,
        "accesslog": None,  # bot.http logs one structured line per request instead
        "control_socket_disable": True,  # several bots (or a bench) may share one machine
        "worker_exit": close_worker_app,
        "loglevel": settings.log_level.lower(),
        "logconfig_dict": {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"json": {"()": JsonFormatter}},
            "filters": {
                "mask": {"()": SecretMaskFilter, "secrets": settings_secrets(settings)},
                "redact": {"()": RedactingFilter},  # gunicorn's own lines: no PII either
            },
            "handlers": {
                "stderr": {
                    "filters": ["mask", "redact"],
                    "class": "logging.StreamHandler",
                    "formatter": "json",
                    "stream": "ext://sys.stderr",
                }
            },
            "root": {"handlers": ["stderr"], "level": settings.log_level},
            "loggers": {
                "gunicorn.error": {
                    "handlers": ["stderr"],
                    "level": settings.log_level,
                    "propagate": False,
                },
                "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            },
        },
    }


def run_http(settings: Settings) -> int:
    from gunicorn.app.base import BaseApplication

    from retrieval.embedder import HASHING_MODEL

    if settings.embedding_model != HASHING_MODEL:
        _preimport_model_libraries()
    shared = shared_encoder(settings)

    class CoachServer(BaseApplication):  # type: ignore[misc]
        """gunicorn driven from code: no command-line parsing, our options only."""

        def __init__(self, factory: Callable[[], Any], options: dict[str, Any]) -> None:
            self.factory = factory
            self.options = options
            super().__init__()

        def load_config(self) -> None:
            for key, value in self.options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from bot.logs import configure_logging

            configure_logging(settings)  # in the worker: gunicorn's dictConfig replaced ours
            return self.factory()

    CoachServer(lambda: build_wsgi_app(settings, encoder=shared), gunicorn_options(settings)).run()
    return 0


def shared_encoder(settings: Settings) -> Any:
    """With several workers (``WEB_CONCURRENCY`` > 1), load the model once in the master:
    the forked workers share its weights copy-on-write instead of holding a copy each.

    Only an ONNX model with one thread per call is loaded before the fork: onnxruntime
    then starts no thread pool, and a pool's threads would not exist in the children
    (``COACH_MODEL_THREADS`` > 1 keeps one model per worker). None: each worker loads its
    own (also when loading here fails: the worker's own load reports the error).
    """
    from bot.logs import log_fields
    from retrieval.embedder import is_onnx_model, load_encoder

    log = logging.getLogger("bot.serve")
    name = settings.model_name_or_path()
    if settings.web_concurrency < 2 or not is_onnx_model(name):
        return None
    if settings.model_threads > 1:
        log.info(
            "each worker loads its own model (COACH_MODEL_THREADS > 1 cannot cross a fork)",
            extra=log_fields(workers=settings.web_concurrency),
        )
        return None
    try:
        encoder = load_encoder(name, threads=1)
    except Exception as exc:
        log.warning(
            "could not load the model before forking; each worker loads its own",
            extra=log_fields(error_type=type(exc).__name__),
        )
        return None
    log.info(
        "model loaded once for all workers", extra=log_fields(workers=settings.web_concurrency)
    )
    return encoder


def _preimport_model_libraries() -> None:
    """Import the model's libraries once, in the master, before the workers fork.

    Workers inherit the modules (their code pages shared copy-on-write), so each worker's
    background load is just the model and the index. Nothing is loaded and no thread is
    started here, so forking afterwards is safe (onnxruntime's thread pools are created by
    each worker's own session).
    """
    # A missing library is reported by the worker's load, naming the setting.
    with contextlib.suppress(ImportError):
        import faiss  # noqa: F401
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401


def socket_handler(settings: Settings, deps: Any) -> Any:
    """Bolt's Socket Mode adapter over our app; its Web API calls use SLACK_API_URL too."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.app import build_app

    if settings.slack_app_token is None:
        raise SettingsError("Missing setting: SLACK_APP_TOKEN (needed for Socket Mode).")
    app = build_app(deps)
    return SocketModeHandler(
        app, settings.slack_app_token.get_secret_value(), web_client=app.client
    )


def run_socket_mode(settings: Settings) -> int:
    """Socket Mode: no public URL needed; the same app and listeners."""
    from bot.deps import Deps

    one_math_thread()
    deps = Deps.from_settings(settings)
    handler = socket_handler(settings, deps)

    def stop(*_: Any) -> None:
        handler.close()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    deps.logger.info("socket mode starting")
    try:
        handler.start()
    finally:
        deps.close()  # answers already acked are finished, not dropped
    return 0
