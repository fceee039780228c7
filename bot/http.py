"""The WSGI app gunicorn serves: Slack's endpoint, a health check, and clean 4xx answers.

* ``POST /slack/events``: events, slash commands and interactivity, through Bolt (which
  verifies the signature and timestamp: a bad one is 401 and nothing runs).
* ``GET /healthz``: 200 once the model and index are loaded, 503 while loading or broken.
* A malformed body (broken JSON, broken ``payload=``, not UTF-8) is 400 - checked before
  Bolt sees it, but only after the signature: an unsigned bad body is still 401.
* ``GET /slack/install`` and ``GET /slack/oauth_redirect``: the multi-workspace install
  flow (:mod:`bot.oauth`), only when ``SLACK_CLIENT_ID``/``SLACK_CLIENT_SECRET`` are set.
* Anything else is 404 (405 for a known path with the wrong method).

One structured log line per request: method, path, status, duration, Slack request type.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_bolt.request.internals import build_context
from slack_sdk.signature import SignatureVerifier

from bot.dedupe import REPLAY_KEY, request_key
from bot.deps import Deps
from bot.logs import log_fields

SLACK_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
MAX_BODY_BYTES = 1_000_000  # Slack payloads are far smaller; refuse anything absurd


StartResponse = Callable[..., Any]


class BadRequest(ValueError):
    """The body cannot be a Slack request (the message says why, for the log)."""


def slack_request_type(body: dict[str, Any]) -> str | None:
    """A short label for logs: ``event:app_mention``, ``command:/coach``, ``block_actions``..."""
    if body.get("type") == "event_callback":
        return f"event:{(body.get('event') or {}).get('type')}"
    if body.get("command"):
        return f"command:{body.get('command')}"
    kind = body.get("type")
    return str(kind) if kind else None


def parse_slack_body(raw: bytes, content_type: str | None) -> tuple[str, dict[str, Any]]:
    """Decode and parse like Bolt does, but turn every failure into :class:`BadRequest`."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("body is not UTF-8") from exc
    if not text.strip():
        raise BadRequest("empty body")
    ctype = (content_type or "").split(";")[0].strip().lower()
    try:
        if ctype == "application/json" or text.startswith("{"):
            parsed = json.loads(text)
        else:
            params = dict(parse_qsl(text, keep_blank_values=True))
            parsed = json.loads(params["payload"]) if "payload" in params else params
            if not params:
                raise ValueError("no form fields")
    except (ValueError, json.JSONDecodeError) as exc:
        raise BadRequest(f"unparsable body: {type(exc).__name__}") from exc
    if not isinstance(parsed, dict):
        raise BadRequest("body is not a JSON object")
    validate_shape(parsed)
    return text, parsed


_ID_LIKE = ("user", "channel", "team", "enterprise")
_STRINGS = (
    *("type", "subtype", "text", "ts", "thread_ts", "event_ts", "command", "callback_id"),
    *("team_id", "user_id", "channel_id", "api_app_id", "event_id", "response_url"),
    *("trigger_id", "bot_id", "channel_type", "private_metadata"),
)
_ACTION_STRINGS = ("action_id", "value", "block_id")


def _check_fields(node: dict[str, Any], where: str, strings: tuple[str, ...] = _STRINGS) -> None:
    """Types Bolt relies on: ids are strings or {"id": ...} objects, texts are strings."""
    for key in _ID_LIKE:
        value = node.get(key)
        if value is not None and not isinstance(value, str | dict):
            raise BadRequest(f"{where}.{key} has the wrong type")
        if isinstance(value, dict) and not isinstance(value.get("id", ""), str):
            raise BadRequest(f"{where}.{key}.id has the wrong type")
    for key in strings:
        value = node.get(key)
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"{where}.{key} is not a string")


def validate_shape(body: dict[str, Any]) -> None:
    """Reject signed bodies whose *shape* would crash Bolt's parsing (it answers 500 for them)."""
    _check_fields(body, "body")
    kind = body.get("type")
    for key in ("event", "view", "container", "message", "state"):
        if key in body and not isinstance(body[key], dict):
            raise BadRequest(f"{key} is not an object")
    for key in ("authorizations", "actions"):
        value = body.get(key)
        if key in body and not (
            isinstance(value, list) and all(isinstance(v, dict) for v in value)
        ):
            raise BadRequest(f"{key} is not a list of objects")
    if kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise BadRequest("event_callback without an event type")
        _check_fields(event, "event")
        for key in ("message", "previous_message"):
            if isinstance(event.get(key), dict):
                _check_fields(event[key], f"event.{key}")
    if kind == "block_actions":
        if "actions" in body and not body["actions"]:
            raise BadRequest("block_actions with an empty actions list")  # Bolt reads [0]
        for action in body.get("actions") or []:
            if not isinstance(action.get("action_id"), str):
                raise BadRequest("an action without an action_id")
            _check_fields(action, "action", _ACTION_STRINGS)
    if kind in {"view_submission", "view_closed"}:
        view = body.get("view")
        if not isinstance(view, dict) or not isinstance(view.get("type"), str):
            raise BadRequest("a view payload without a typed view")
        _check_fields(view, "view")
        state = view.get("state")
        if state is not None and not (
            isinstance(state, dict) and isinstance(state.get("values", {}), dict)
        ):
            raise BadRequest("view.state has the wrong shape")
    for key in ("user", "channel", "team"):
        if isinstance(body.get(key), dict):
            _check_fields(body[key], key)


class SlackWSGI:
    """The whole HTTP surface of the bot as one WSGI callable."""

    def __init__(self, app: App, deps: Deps, *, path: str = SLACK_PATH) -> None:
        self.app = app
        self.deps = deps
        self.path = path
        secret = deps.settings.slack_signing_secret
        self.verifier = SignatureVerifier(secret.get_secret_value()) if secret else None

    def close(self) -> None:
        """Stop serving: finish the work already acked and release the store (worker exit)."""
        self.deps.close()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "") or "/"
        info: dict[str, Any] = {}
        try:
            status, headers, body = self.route(environ, method, path, info)
        except Exception as exc:  # never a dropped connection
            self.deps.logger.exception(
                "request failed", extra=log_fields(error_type=type(exc).__name__)
            )
            status, headers, body = (
                500,
                [("content-type", "text/plain; charset=utf-8")],
                b"Internal Server Error",
            )
        headers = [*headers, ("content-length", str(len(body)))]
        start_response(_status_line(status), headers)
        self.deps.logger.info(
            "request",
            extra=log_fields(
                method=method,
                path=path,
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000.0, 2),
                **info,
            ),
        )
        return [body]

    # -- routing --------------------------------------------------------------------------

    def route(
        self, environ: dict[str, Any], method: str, path: str, info: dict[str, Any]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        if path == HEALTH_PATH:
            if method not in {"GET", "HEAD"}:
                return _text(405, "Method Not Allowed")
            return self.health()
        if path == self.path:
            if method != "POST":
                return _text(405, "Method Not Allowed")
            return self.slack(environ, info)
        oauth = self.app.oauth_flow
        if oauth is not None and path in {oauth.install_path, oauth.redirect_uri_path}:
            if method != "GET":
                return _text(405, "Method Not Allowed")
            info["oauth"] = "install" if path == oauth.install_path else "callback"
            return self.oauth(environ, path)
        return _text(404, "Not Found")

    def health(self) -> tuple[int, list[tuple[str, str]], bytes]:
        provider = self.deps.coach
        payload: dict[str, Any] = {"status": provider.status}
        if provider.load_seconds is not None and provider.ready:
            payload["load_seconds"] = round(provider.load_seconds, 3)
        if provider.error is not None:
            payload["error"] = type(provider.error).__name__
            payload["detail"] = str(provider.error)[:300]
            payload["attempts"] = provider.attempts
        storage_health = getattr(self.deps.store, "health", None)
        if callable(storage_health):  # answering without history is degraded, not down
            payload.update(storage_health())
        return _json(200 if provider.ready else 503, payload)

    def slack(
        self, environ: dict[str, Any], info: dict[str, Any]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _text(400, "Bad Request: invalid Content-Length")
        if length > MAX_BODY_BYTES:
            return _text(413, "Payload Too Large")
        raw = environ["wsgi.input"].read(length) if length > 0 else b""
        headers = _headers(environ)
        retry = headers.get("x-slack-retry-num")
        if retry:
            info["retry_num"] = retry
            info["retry_reason"] = headers.get("x-slack-retry-reason")
        if not headers.get("x-slack-request-timestamp", "").strip().isdigit():
            info["rejected"] = "timestamp"
            return _text(401, "Unauthorized")  # Bolt would fail on it with a 500
        try:
            text, parsed = parse_slack_body(raw, environ.get("CONTENT_TYPE"))
        except BadRequest as problem:
            if not self._signed(raw, headers):
                info["rejected"] = "signature"
                return _text(401, "Unauthorized")
            info["rejected"] = str(problem)
            return _text(400, "Bad Request: malformed Slack payload")
        info["slack_type"] = slack_request_type(parsed)
        replay_key = self._replay_key(raw, headers, parsed)
        if replay_key is not None and not self.deps.recent.first_time(replay_key):
            info["replay"] = True
            self.deps.logger.info("replayed request skipped", extra=log_fields(key=replay_key))
            return _text(200, "")  # acked, not answered again
        try:
            request = BoltRequest(body=text, query=environ.get("QUERY_STRING", ""), headers=headers)
        except Exception as exc:  # a shape Bolt cannot read, past our checks
            if not self._signed(raw, headers):
                return _text(401, "Unauthorized")
            info["rejected"] = f"bolt: {type(exc).__name__}"
            return _text(400, "Bad Request: malformed Slack payload")
        if request.body != parsed:
            # Bolt's parser reads any form body containing the word "payload" as an
            # interactivity payload (a slash command like "/coach payload failed" would be
            # lost); the body is the same signed bytes, only correctly parsed.
            request.body = parsed
            request.context = build_context(BoltContext({}), parsed)
        if replay_key is not None:  # the shared claim runs after the ack (bot.listeners.common)
            request.context[REPLAY_KEY] = replay_key
        response = self.app.dispatch(request)
        if response.status == 404 and parsed.get("type") == "event_callback":
            # An event nobody listens to (yet): a 404 would make Slack retry it and, if it
            # kept happening, turn the app's event subscriptions off.
            info["unhandled"] = True
            response = BoltResponse(status=200, body="")
        return _wsgi_response(response)

    def oauth(self, environ: dict[str, Any], path: str) -> tuple[int, list[tuple[str, str]], bytes]:
        """Multi-workspace install pages (only when the app was built with OAuth settings)."""
        oauth = self.app.oauth_flow
        assert oauth is not None
        request = BoltRequest(
            body="", query=environ.get("QUERY_STRING", ""), headers=_headers(environ)
        )
        if path == oauth.install_path:
            response = oauth.handle_installation(request)
        else:
            response = oauth.handle_callback(request)
        return _wsgi_response(response)

    def _replay_key(
        self, raw: bytes, headers: dict[str, str], parsed: dict[str, Any]
    ) -> str | None:
        """The key that makes a slash command or an interaction answer once (a replay of
        the same signed request has the same one). Events are claimed by ``event_id``.

        This process's memory is checked before the ack; the shared store's claim (which
        may wait on the database) runs with the work, after the ack.
        """
        if parsed.get("type") in {"event_callback", "url_verification"}:
            return None
        timestamp = headers.get("x-slack-request-timestamp", "").strip()
        signature = headers.get("x-slack-signature", "")
        if not signature or not self._signed(raw, headers):
            return None  # Bolt refuses it (401); an unsigned request never takes a key
        return request_key(timestamp, signature)

    def _signed(self, raw: bytes, headers: dict[str, str]) -> bool:
        """Bolt's own check (signature, 5-minute timestamp window), for bodies Bolt can't parse."""
        if self.verifier is None:
            return False
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            body = raw.decode("latin-1")  # a signature over non-UTF-8 bytes can't match anyway
        timestamp = headers.get("x-slack-request-timestamp", "")
        signature = headers.get("x-slack-signature", "")
        if not timestamp.strip().isdigit() or not signature:
            return False
        return self.verifier.is_valid(body=body, timestamp=timestamp.strip(), signature=signature)


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key in {"CONTENT_LENGTH", "CONTENT_TYPE"}:
            headers[key.lower().replace("_", "-")] = value
        elif key.startswith("HTTP_"):
            headers[key[5:].lower().replace("_", "-")] = value
    return headers


def _status_line(status: int) -> str:
    from http import HTTPStatus

    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def _text(status: int, text: str) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [("content-type", "text/plain; charset=utf-8")], text.encode("utf-8")


def _json(status: int, payload: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [("content-type", "application/json")], json.dumps(payload).encode("utf-8")


def build_wsgi(deps: Deps, app: App | None = None) -> SlackWSGI:
    """The WSGI callable for ``deps`` (builds the Bolt app unless one is given)."""
    if app is None:
        from bot.app import build_app

        app = build_app(deps)
    return SlackWSGI(app, deps)


def _wsgi_response(response: BoltResponse) -> tuple[int, list[tuple[str, str]], bytes]:
    """Bolt's response as WSGI status, headers (length recomputed by us) and body."""
    headers = [
        (k, v)
        for k, values in response.headers.items()
        for v in values
        if k.lower() != "content-length"
    ]
    return response.status, headers, (response.body or "").encode("utf-8")
