"""A stand-in for Slack's Web API on loopback, for the tests and ``coach bench --slack``.

A test double, so it lives in tests/ and is not shipped in the wheel; the Slack bench
(``tests/bench_slack.py``) imports it from here.

It records every request (method, headers, parsed body, time), answers like Slack does
for the methods the bot uses, remembers what was posted in which thread (so
``conversations.replies`` tells the truth), serves ``response_url`` endpoints, and can be
told to misbehave: HTTP 429 with ``Retry-After``, 5xx, or a Slack error such as
``not_in_channel``, for the next N calls of a method.

For multi-workspace installs it plays Slack's side of OAuth: ``add_install_code`` makes a
code that ``oauth.v2.access`` (checked against the app's client id and secret) trades,
once, for that workspace's bot token; from then on that token is accepted and
``auth.test`` answers with its workspace.

    with FakeSlack() as slack:
        settings = load_settings(slack_api_url=slack.api_url, ...)
        slack.fail("chat.postMessage", status=429, retry_after=1)
        ...
        [call] = slack.wait_for("chat.postMessage")
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse

BOT_USER_ID = "UCOACHBOT"
BOT_ID = "BCOACHBOT"
TEAM_ID = "T0COACH"


@dataclass
class Call:
    """One request the bot made to the fake."""

    method: str  # Web API method ("chat.postMessage") or "response_url"
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes
    at: float  # time.perf_counter() when it arrived
    status: int = 200  # what the fake answered

    @property
    def token(self) -> str | None:
        auth = self.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else self.body.get("token")

    def blocks(self) -> list[dict[str, Any]]:
        blocks = self.body.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        return list(blocks)

    def all_text(self) -> str:
        """Fallback text plus every text in the blocks (for assertions)."""
        parts = [str(self.body.get("text") or "")]

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "text" and isinstance(value, str):
                        parts.append(value)
                    else:
                        walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(self.blocks())
        return "\n".join(parts)


@dataclass(frozen=True)
class Workspace:
    """A workspace that can install the app through the fake's ``oauth.v2.access``."""

    team_id: str
    bot_token: str
    bot_user_id: str = BOT_USER_ID
    bot_id: str = BOT_ID
    team_name: str = "Coach Test"
    installer: str = "U0INSTALL1"
    scope: str = "app_mentions:read,chat:write,commands,im:history"


@dataclass
class Fault:
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    delay: float = 0.0


@dataclass
class _State:
    calls: list[Call] = field(default_factory=list)
    faults: dict[str, list[Fault]] = field(default_factory=lambda: defaultdict(list))
    threads: dict[tuple[str, str], list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    delays: dict[str, float] = field(default_factory=dict)
    history: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))


class FakeSlack:
    """A threaded HTTP server that imitates the Slack Web API (see module docstring)."""

    def __init__(
        self,
        *,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> None:
        # When set (or once a workspace installed), calls with another token get invalid_auth.
        self.token = token
        self.client_id = client_id  # oauth.v2.access checks these when set
        self.client_secret = client_secret
        self._codes: dict[str, Workspace] = {}  # install codes not traded yet
        self._installed: dict[str, Workspace] = {}  # bot token -> its workspace
        self._state = _State()
        self._cond = threading.Condition()
        self._ts = itertools.count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: the tests assert on recorded calls instead

            def do_POST(self) -> None:
                fake._handle(self)

            def do_GET(self) -> None:
                fake._handle(self)

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # socketserver's 5 drops bursts (1 s SYN retransmits)
            daemon_threads = True

        self.server = Server((host, port), Handler)
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-slack",
            daemon=True,
        )

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        """What ``SLACK_API_URL`` should be."""
        return f"{self.url}/api/"

    def response_url(self, name: str = "default") -> str:
        """A ``response_url`` for a slash command or a button payload."""
        return f"{self.url}/response/{name}"

    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting --------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        *,
        status: int = 200,
        error: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        delay: float = 0.0,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail (HTTP ``status`` and/or ``error``).

        ``method`` is a Web API method or ``"response_url"``.
        """
        with self._cond:
            self._state.faults[method].extend(
                Fault(status, error, retry_after, delay) for _ in range(times)
            )

    def delay(self, method: str, seconds: float) -> None:
        """Answer every call of ``method`` only after ``seconds`` (simulate a slow Slack)."""
        with self._cond:
            self._state.delays[method] = seconds

    def seed_thread(self, channel: str, thread_ts: str, messages: list[dict[str, Any]]) -> None:
        """Messages ``conversations.replies`` returns for a thread (besides what the bot posts)."""
        with self._cond:
            self._state.threads[(channel, thread_ts)].extend(messages)

    def add_install_code(self, code: str, workspace: Workspace) -> None:
        """An OAuth ``code`` that ``oauth.v2.access`` trades (once) for ``workspace``'s token."""
        with self._cond:
            self._codes[code] = workspace

    def installed_tokens(self) -> dict[str, str]:
        """Bot tokens handed out by ``oauth.v2.access``, by team id."""
        with self._cond:
            return {ws.team_id: token for token, ws in self._installed.items()}

    def reset(self) -> None:
        with self._cond:
            self._state = _State()

    # -- reading ----------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        """Recorded calls (only successful ones are what Slack would have acted on)."""
        with self._cond:
            return [c for c in self._state.calls if method is None or c.method == method]

    def delivered(self, method: str | None = None) -> list[Call]:
        """Calls the fake accepted (HTTP 200 and ``ok``): what a rep would actually see."""
        return [c for c in self.calls(method) if c.status == 200 and c.body.get("__ok__", True)]

    def wait_for(
        self, method: str, count: int = 1, timeout: float = 10.0, *, accepted: bool = True
    ) -> list[Call]:
        """Block until ``count`` calls of ``method`` arrived (accepted ones only by default)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                calls = [
                    c
                    for c in self._state.calls
                    if c.method == method and (not accepted or c.status == 200)
                ]
                if len(calls) >= count:
                    return calls
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = sorted({c.method for c in self._state.calls})
                    raise TimeoutError(
                        f"expected {count} {method} call(s), got {len(calls)}; saw {seen}"
                    )
                self._cond.wait(remaining)

    def wait_idle(self, quiet: float = 0.3, timeout: float = 10.0) -> None:
        """Wait until nothing arrived for ``quiet`` seconds (to assert nothing *more* happens)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                last = self._state.calls[-1].at if self._state.calls else 0.0
            if time.perf_counter() - last >= quiet:
                return
            time.sleep(quiet / 3)

    # -- serving ----------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        arrived = time.perf_counter()
        parsed_url = urlparse(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in request.headers.items()}
        body = _parse(raw, headers.get("content-type", ""), parsed_url.query)
        if parsed_url.path.startswith("/api/"):
            method = parsed_url.path[len("/api/") :]
        elif parsed_url.path.startswith("/response/"):
            method = "response_url"
        else:
            method = parsed_url.path
        with self._cond:
            faults = self._state.faults.get(method) or []
            fault = faults.pop(0) if faults else None
            delay = self._state.delays.get(method, 0.0)
        if fault and fault.delay:
            time.sleep(fault.delay)
        if delay:
            time.sleep(delay)
        status, payload, extra_headers = self._answer(method, body, headers, fault)
        call = Call(method, request.path, headers, body, raw, arrived, status)
        if isinstance(payload, dict) and not payload.get("ok", True):
            call.body["__ok__"] = False
        with self._cond:
            self._state.calls.append(call)
            if status == 200 and isinstance(payload, dict) and payload.get("ok"):
                self._remember(method, body, payload)
            self._cond.notify_all()
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        request.send_response(status)
        ctype = "text/plain" if isinstance(payload, str) else "application/json; charset=utf-8"
        request.send_header("Content-Type", ctype)
        request.send_header("Content-Length", str(len(data)))
        for key, value in extra_headers.items():
            request.send_header(key, value)
        request.end_headers()
        request.wfile.write(data)

    def _answer(
        self, method: str, body: dict[str, Any], headers: dict[str, str], fault: Fault | None
    ) -> tuple[int, dict[str, Any] | str, dict[str, str]]:
        if fault is not None and fault.status != 200:
            extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            if fault.status == 429:
                return 429, {"ok": False, "error": "ratelimited"}, extra
            return fault.status, {"ok": False, "error": "fatal_error"}, extra
        if fault is not None and fault.error:
            if method == "response_url":
                return 404, fault.error, {}
            return 200, {"ok": False, "error": fault.error}, {}
        if method == "response_url":
            return 200, "ok", {}
        if method == "oauth.v2.access":
            return 200, self._oauth_access(body, headers), {}
        token = _bearer(headers) or body.get("token")
        with self._cond:
            accepted = {self.token, *self._installed} - {None}
            workspace = self._installed.get(str(token))
        if accepted and token not in accepted:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        return 200, self._success(method, body, workspace), {}

    def _oauth_access(self, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        """Trade an install code for a bot token, the way Slack's oauth.v2.access does."""
        client_id, client_secret = _basic_auth(headers)
        client_id = client_id or body.get("client_id")
        client_secret = client_secret or body.get("client_secret")
        if self.client_id is not None and client_id != self.client_id:
            return {"ok": False, "error": "invalid_client_id"}
        if self.client_secret is not None and client_secret != self.client_secret:
            return {"ok": False, "error": "bad_client_secret"}
        with self._cond:
            workspace = self._codes.pop(str(body.get("code")), None)  # a code works once
            if workspace is not None:
                self._installed[workspace.bot_token] = workspace
        if workspace is None:
            return {"ok": False, "error": "invalid_code"}
        return {
            "ok": True,
            "app_id": "A0COACH",
            "authed_user": {"id": workspace.installer},
            "scope": workspace.scope,
            "token_type": "bot",
            "access_token": workspace.bot_token,
            "bot_user_id": workspace.bot_user_id,
            "team": {"id": workspace.team_id, "name": workspace.team_name},
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{900000 + next(self._ts):06d}"  # never equal to a test ts

    def _success(
        self, method: str, body: dict[str, Any], workspace: Workspace | None = None
    ) -> dict[str, Any]:
        channel = body.get("channel")
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://coach-test.slack.com/",
                "team": workspace.team_name if workspace else "Coach Test",
                "user": "tip_coach",
                "team_id": workspace.team_id if workspace else TEAM_ID,
                "user_id": workspace.bot_user_id if workspace else BOT_USER_ID,
                "bot_id": workspace.bot_id if workspace else BOT_ID,
                "is_enterprise_install": False,
            }
        if method == "chat.postMessage":
            ts = self._next_ts()
            message = {
                "type": "message",
                "user": BOT_USER_ID,
                "bot_id": BOT_ID,
                "text": body.get("text"),
                "ts": ts,
            }
            if body.get("thread_ts"):
                message["thread_ts"] = body["thread_ts"]
            return {"ok": True, "channel": channel, "ts": ts, "message": message}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self._next_ts()}
        if method == "chat.update":
            return {"ok": True, "channel": channel, "ts": body.get("ts"), "text": body.get("text")}
        if method in {"reactions.add", "reactions.remove"}:
            return {"ok": True}
        if method in {
            "assistant.threads.setStatus",
            "assistant.threads.setSuggestedPrompts",
            "assistant.threads.setTitle",
        }:
            return {"ok": True}  # the AI side panel; fail(...) plays a workspace without it
        if method in {"views.open", "views.publish", "views.update"}:
            return {"ok": True, "view": {"id": "VFAKE1", **(_json_field(body.get("view")) or {})}}
        if method == "conversations.replies":
            key = (str(channel), str(body.get("ts")))
            with self._cond:
                messages = list(self._state.threads.get(key, []))
            parent = {"type": "message", "ts": body.get("ts"), "user": "UPARENT", "text": "parent"}
            return {"ok": True, "messages": [parent, *messages], "has_more": False}
        if method == "conversations.history":
            with self._cond:
                messages = list(self._state.history.get(str(channel), []))
            oldest = float(body.get("oldest") or 0)
            recent = [m for m in reversed(messages) if float(m["ts"]) > oldest]
            return {"ok": True, "messages": recent, "has_more": False}
        if method == "conversations.open":
            return {
                "ok": True,
                "channel": {"id": "D" + str(body.get("users", "USER")).split(",")[0][1:]},
            }
        return {"ok": False, "error": "unknown_method"}

    def _remember(self, method: str, body: dict[str, Any], payload: dict[str, Any]) -> None:
        """Keep the bot's posts so conversations.replies and .history reflect them."""
        if method == "chat.postMessage" and body.get("thread_ts"):
            key = (str(body.get("channel")), str(body["thread_ts"]))
            self._state.threads[key].append(payload["message"])
        elif method == "chat.postMessage":
            self._state.history[str(body.get("channel"))].append(payload["message"])


def _bearer(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    return auth[7:] if auth.lower().startswith("bearer ") else None


def _basic_auth(headers: dict[str, str]) -> tuple[str | None, str | None]:
    """(client id, client secret) from an ``Authorization: Basic`` header (oauth.v2.access)."""
    auth = headers.get("authorization", "")
    if not auth.lower().startswith("basic "):
        return None, None
    try:
        user, _, password = base64.b64decode(auth[6:]).decode("utf-8").partition(":")
    except ValueError:
        return None, None
    return user, password


def _json_field(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _parse(raw: bytes, content_type: str, query: str) -> dict[str, Any]:
    body: dict[str, Any] = dict(parse_qsl(query))
    if not raw:
        return body
    text = raw.decode("utf-8", errors="replace")
    if "json" in content_type:
        try:
            data = json.loads(text)
        except ValueError:
            return {**body, "__raw__": text}
        return {**body, **data} if isinstance(data, dict) else body
    body.update(parse_qsl(text, keep_blank_values=True))
    for key in ("blocks", "view", "attachments"):
        if isinstance(body.get(key), str):
            parsed = _json_field(body[key])
            if parsed is not None:
                body[key] = parsed
    return body
