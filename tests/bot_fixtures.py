"""Helpers for the Slack bot tests: a real Bolt app behind our WSGI app, a fake Slack,
and signed requests the way Slack sends them (the way bolt-python tests itself).

Test modules define thin pytest fixtures around :func:`bot_harness`.
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fake_slack import BOT_USER_ID, TEAM_ID, FakeSlack
from slack_sdk.signature import SignatureVerifier

from bot.app import build_app
from bot.deps import CoachProvider, Deps
from bot.http import SlackWSGI
from bot.storage import Store
from config.settings import Settings, load_settings

SIGNING_SECRET = "8f742231b10e8888abcd99aaab85a5c0"
BOT_TOKEN = "xoxb-1234-5678-testtoken"
USER = "U0REP0001"
OTHER_USER = "U0PEER002"
CHANNEL = "C0SUPPORT1"
DM_CHANNEL = "D0REPDM01"


@lru_cache(maxsize=1)
def shared_index_dir() -> Path:
    """One hashing-encoder index for the whole test session (built once, ~0.2 s)."""
    return Path(tempfile.mkdtemp(prefix="coach-bot-tests-"))


#: A fixed Fernet key for tests (workspace tokens are encrypted at rest in OAuth mode).
TEST_SECRET_KEY = "dGlwLWNvYWNoLXRlc3Qta2V5LW5vdC1mb3ItcHJvZCE="


def make_settings(slack: FakeSlack | None, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": slack.api_url if slack else "http://127.0.0.1:9/api/",
        "data_dir": data_dir,
        "embedding_model": "hashing",
        "database_url": f"sqlite:///{data_dir / 'bot.sqlite3'}",
        "secret_key": TEST_SECRET_KEY,
        # The hashing encoder has no fit of its own; at 0.5 the supervisor question is one
        # confident card (0.53) over the bundled corpus, as the bot tests expect.
        "sure_confidence": 0.5,
    }
    values.update(overrides)
    return load_settings(**values)


@lru_cache(maxsize=1)
def shared_coach() -> Any:
    """The real Coach over the bundled corpus with the fast fake encoder."""
    from retrieval.embedder import HashingEncoder
    from retrieval.engine import Coach

    settings = make_settings(None, shared_index_dir())
    return Coach.from_settings(settings, encoder=HashingEncoder())


def post_slash_over_http(
    base_url: str, slack: FakeSlack, text: str, *, name: str, timeout: float = 10.0
) -> tuple[int, float]:
    """A signed /coach command to a bot running as a real process: (status, ack ms)."""
    import urllib.request
    from urllib.parse import urlencode

    body = urlencode(
        {
            "team_id": TEAM_ID,
            "channel_id": "C0HTTP001",
            "user_id": "U0HTTP001",
            "command": "/coach",
            "text": text,
            "response_url": slack.response_url(name),
            "trigger_id": f"1.2.{name}",
        }
    )
    request = urllib.request.Request(f"{base_url}/slack/events", data=body.encode(), method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    for key, value in sign(body).items():
        request.add_header(key, value)
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, (time.perf_counter() - started) * 1000


def sign(body: str, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """The two headers Slack adds to every request."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {"x-slack-request-timestamp": ts, "x-slack-signature": signature}


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class BotHarness:
    """The real Bolt app (via :class:`SlackWSGI`) wired to a fake Slack and a temp database."""

    slack: FakeSlack
    deps: Deps
    wsgi: SlackWSGI
    counter: list[int] = field(default_factory=lambda: [0])

    # -- raw requests -----------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str = b"",
        *,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        query: str = "",
    ) -> Response:
        """Call the WSGI app directly, like gunicorn would."""
        raw = body.encode("utf-8") if isinstance(body, str) else body
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "3000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.input": io.BytesIO(raw),
            "wsgi.url_scheme": "http",
            "CONTENT_LENGTH": str(len(raw)),
        }
        if content_type:
            environ["CONTENT_TYPE"] = content_type
        for key, value in (headers or {}).items():
            environ["HTTP_" + key.upper().replace("-", "_")] = value
        captured: dict[str, Any] = {}

        def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
            captured["status"] = int(status.split()[0])
            captured["headers"] = {k.lower(): v for k, v in response_headers}

        chunks = self.wsgi(environ, start_response)
        return Response(captured["status"], captured["headers"], b"".join(chunks))

    def post_signed(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        secret: str = SIGNING_SECRET,
        extra_headers: dict[str, str] | None = None,
    ) -> Response:
        headers = {**sign(body, timestamp, secret), **(extra_headers or {})}
        return self.request(
            "POST", "/slack/events", body, content_type=content_type, headers=headers
        )

    # -- Slack payloads ---------------------------------------------------------------------

    def next_id(self) -> int:
        self.counter[0] += 1
        return self.counter[0]

    def event_body(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        team_id: str = TEAM_ID,
        bot_user_id: str = BOT_USER_ID,
    ) -> str:
        n = self.next_id()
        return json.dumps(
            {
                "token": "legacy",
                "team_id": team_id,
                "api_app_id": "A0COACH",
                "event": event,
                "type": "event_callback",
                "event_id": event_id or f"Ev{n:08d}",
                "event_time": int(time.time()),
                "authorizations": [
                    {
                        "enterprise_id": None,
                        "team_id": team_id,
                        "user_id": bot_user_id,
                        "is_bot": True,
                        "is_enterprise_install": False,
                    }
                ],
            }
        )

    def post_event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        team_id: str = TEAM_ID,
        bot_user_id: str = BOT_USER_ID,
        **kw: Any,
    ) -> Response:
        headers = (
            {"x-slack-retry-num": str(retry_num), "x-slack-retry-reason": "http_timeout"}
            if retry_num
            else {}
        )
        body = self.event_body(event, event_id=event_id, team_id=team_id, bot_user_id=bot_user_id)
        return self.post_signed(body, "application/json", extra_headers=headers, **kw)

    def dm_event(
        self, text: str, *, user: str = USER, ts: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        return {
            "type": "message",
            "channel": DM_CHANNEL,
            "channel_type": "im",
            "user": user,
            "text": text,
            "ts": ts or f"{int(time.time())}.{self.next_id():06d}",
            **extra,
        }

    def mention_event(
        self, text: str, *, user: str = USER, ts: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        return {
            "type": "app_mention",
            "channel": CHANNEL,
            "user": user,
            "text": f"<@{BOT_USER_ID}> {text}",
            "ts": ts or f"{int(time.time())}.{self.next_id():06d}",
            **extra,
        }

    def home_event(self, *, user: str = USER, tab: str = "home") -> dict[str, Any]:
        """A rep opening the app's Home (or Messages) tab."""
        return {
            "type": "app_home_opened",
            "user": user,
            "channel": DM_CHANNEL,
            "tab": tab,
            "event_ts": f"{int(time.time())}.{self.next_id():06d}",
        }

    def command_body(
        self, text: str, *, response_name: str = "cmd", command: str = "/coach"
    ) -> str:
        return urlencode(
            {
                "token": "legacy",
                "team_id": TEAM_ID,
                "team_domain": "coach-test",
                "channel_id": CHANNEL,
                "channel_name": "support",
                "user_id": USER,
                "user_name": "rep",
                "command": command,
                "text": text,
                "api_app_id": "A0COACH",
                "response_url": self.slack.response_url(response_name),
                "trigger_id": "13345224609.738474920.8088930838d88f008e0",
            }
        )

    def post_command(self, text: str, *, response_name: str = "cmd", **kw: Any) -> Response:
        command = self.deps.settings.slash_command
        body = self.command_body(text, response_name=response_name, command=command)
        return self.post_signed(body, "application/x-www-form-urlencoded", **kw)

    def action_payload(
        self,
        action_id: str,
        value: str,
        *,
        ephemeral: bool = True,
        channel: str = CHANNEL,
        message: dict[str, Any] | None = None,
        response_name: str = "action",
        user: str = USER,
    ) -> dict[str, Any]:
        container: dict[str, Any] = {
            "type": "message",
            "message_ts": "1700000000.000100",
            "channel_id": channel,
            "is_ephemeral": ephemeral,
        }
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user, "username": "rep", "team_id": TEAM_ID},
            "api_app_id": "A0COACH",
            "token": "legacy",
            "container": container,
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
            "team": {"id": TEAM_ID, "domain": "coach-test"},
            "channel": {"id": channel, "name": "support"},
            "response_url": self.slack.response_url(response_name),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "coach_card_actions",
                    "type": "button",
                    "value": value,
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        if not ephemeral:
            payload["message"] = message or {
                "type": "message",
                "ts": "1700000000.000100",
                "user": BOT_USER_ID,
            }
        return payload

    def post_payload(self, payload: dict[str, Any], **kw: Any) -> Response:
        body = urlencode({"payload": json.dumps(payload)})
        return self.post_signed(body, "application/x-www-form-urlencoded", **kw)

    def view_submission(self, view: dict[str, Any], comment: str | None) -> dict[str, Any]:
        values: dict[str, Any] = {
            "coach_feedback_comment": {"comment": {"type": "plain_text_input", "value": comment}}
        }
        return {
            "type": "view_submission",
            "team": {"id": TEAM_ID, "domain": "coach-test"},
            "user": {"id": USER, "username": "rep", "team_id": TEAM_ID},
            "api_app_id": "A0COACH",
            "token": "legacy",
            "trigger_id": "1.2.3",
            "view": {**view, "id": "VFAKE1", "state": {"values": values}},
        }

    # -- card helpers -----------------------------------------------------------------------

    @staticmethod
    def button(blocks: list[dict[str, Any]], action_id: str) -> dict[str, Any]:
        for block in blocks:
            for element in block.get("elements", []) or []:
                if element.get("action_id") == action_id:
                    return element
        raise AssertionError(f"no button {action_id} in {json.dumps(blocks)[:500]}")


class SlowCoach:
    """A fake coach that takes its time (like a cold model on a busy machine).

    ``answer`` and ``tip_card`` sleep ``seconds`` before asking the real (hashing) coach.
    """

    def __init__(self, inner: Any, seconds: float) -> None:
        self.inner, self.seconds = inner, seconds
        self.min_confidence = inner.min_confidence

    def answer(self, text: str, **kwargs: Any) -> Any:
        time.sleep(self.seconds)
        return self.inner.answer(text, **kwargs)

    def tip_card(self, tip_id: str) -> Any:
        time.sleep(self.seconds)
        return self.inner.tip_card(tip_id)

    def tips(self) -> Any:
        return self.inner.tips()


def build_deps(settings: Settings, store: Store | None = None, coach: Any = None) -> Deps:
    provider = CoachProvider.ready_with(coach if coach is not None else shared_coach())
    return Deps(
        settings=settings,
        coach=provider,
        store=store or Store.open(settings),
        coach_wait_seconds=5.0,
    )


@contextmanager
def bot_harness(
    tmp_path: Path, *, slack: FakeSlack | None = None, **overrides: Any
) -> Iterator[BotHarness]:
    """A started fake Slack + a fresh database + the real app; everything closed afterwards."""
    own = slack is None
    fake = slack or FakeSlack(token=BOT_TOKEN).start()
    settings = make_settings(fake, tmp_path, **overrides)
    deps = build_deps(settings)
    app = build_app(deps)
    try:
        yield BotHarness(fake, deps, SlackWSGI(app, deps))
    finally:
        deps.close()  # finishes the work already acked, then closes the store
        fake.wait_idle(quiet=0.15, timeout=5)
        if own:
            fake.stop()
