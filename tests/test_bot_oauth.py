"""Multi-workspace installs through the real Bolt app, on SQLite and on Postgres.

The whole OAuth flow runs over our WSGI app: ``GET /slack/install`` (state in the database,
cookie in the "browser"), then ``GET /slack/oauth_redirect`` with the code, which the fake
Slack's ``oauth.v2.access`` trades for that workspace's bot token. Events from that
workspace are then answered with *its* token; uninstalling forgets only its rows.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import logging
import re
import time
from base64 import b64decode
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from bot_fixtures import TEST_SECRET_KEY, BotHarness, Response, bot_harness
from fake_slack import FakeSlack, Workspace
from pydantic import SecretStr

from bot.app import build_app
from bot.logs import build_handler
from bot.oauth import BOT_SCOPES, STATE_COOKIE
from bot.storage import StorageError
from config.settings import SettingsError, load_settings

REPO = Path(__file__).resolve().parent.parent
CLIENT_ID = "1111111111.2222222222"
CLIENT_SECRET = "0123456789abcdef0123456789abcdef"
SUPERVISOR = "customer wants to talk to the supervisor"
ALPHA = Workspace(
    team_id="T0ALPHA001",
    bot_token="xoxb-alpha-0001-token",
    bot_user_id="UALPHABOT",
    bot_id="BALPHABOT",
    team_name="Alpha Support",
)
BETA = Workspace(
    team_id="T0BETA0002",
    bot_token="xoxb-beta-0002-token",
    bot_user_id="UBETABOT",
    bot_id="BBETABOT",
    team_name="Beta Support",
)


@pytest.fixture
def oauth_slack() -> Iterator[FakeSlack]:
    with FakeSlack(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as slack:
        slack.add_install_code("code-alpha", ALPHA)
        slack.add_install_code("code-beta", BETA)
        yield slack


def oauth_bot_on(tmp_path: Path, slack: FakeSlack, database_url: str) -> Any:
    """A bot in multi-workspace mode: client id/secret set, no SLACK_BOT_TOKEN."""
    return bot_harness(
        tmp_path,
        slack=slack,
        slack_bot_token="",
        slack_client_id=CLIENT_ID,
        slack_client_secret=CLIENT_SECRET,
        database_url=database_url,
    )


@pytest.fixture
def bot(tmp_path: Path, oauth_slack: FakeSlack, db_url: str) -> Iterator[BotHarness]:
    """Multi-workspace bot on SQLite and on Postgres (when reachable)."""
    with oauth_bot_on(tmp_path, oauth_slack, db_url) as harness:
        yield harness


@pytest.fixture
def sqlite_bot(tmp_path: Path, oauth_slack: FakeSlack, sqlite_url: str) -> Iterator[BotHarness]:
    """Multi-workspace bot on SQLite only (for the flow's error paths)."""
    with oauth_bot_on(tmp_path, oauth_slack, sqlite_url) as harness:
        yield harness


# -- helpers --------------------------------------------------------------------------------


def start_install(bot: BotHarness) -> tuple[str, str]:
    """``GET /slack/install``: (the state in the "Add to Slack" link, the cookie to send back)."""
    page = bot.request("GET", "/slack/install")
    assert page.status == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    link = html.unescape(re.search(r'href="(https?://[^"]+)"', page.text).group(1))  # type: ignore[union-attr]
    query = parse_qs(urlparse(link).query)
    cookie = page.headers["set-cookie"].split(";")[0]
    name, _, value = cookie.partition("=")
    assert name == STATE_COOKIE and value == query["state"][0]
    return query["state"][0], cookie


def finish_install(bot: BotHarness, code: str, state: str, cookie: str | None) -> Response:
    """``GET /slack/oauth_redirect?code=...&state=...`` as the browser comes back from Slack."""
    headers = {"cookie": cookie} if cookie else {}
    query = urlencode({"code": code, "state": state})
    return bot.request("GET", "/slack/oauth_redirect", query=query, headers=headers)


def install(bot: BotHarness, code: str) -> Response:
    state, cookie = start_install(bot)
    return finish_install(bot, code, state, cookie)


def saved_bot(bot: BotHarness, team_id: str) -> Any:
    """The installation Bolt would authorize ``team_id``'s requests with (None: not installed)."""
    store = bot.deps.store.installation_store(CLIENT_ID)
    return store.find_bot(enterprise_id=None, team_id=team_id)


def installation_rows(bot: BotHarness) -> dict[str, int]:
    """Rows per table, straight from the database (not through slack-sdk)."""
    from sqlalchemy import func, select

    from bot.storage.schema import slack_bots, slack_installations

    counts = {}
    with bot.deps.store.engine.connect() as conn:
        for table in (slack_installations, slack_bots):
            counts[table.name] = conn.execute(select(func.count()).select_from(table)).scalar()
    return counts


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Events are acked first and handled after: poll for the effect."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def dm_from(bot: BotHarness, workspace: Workspace, text: str = SUPERVISOR) -> Response:
    return bot.post_event(
        bot.dm_event(text), team_id=workspace.team_id, bot_user_id=workspace.bot_user_id
    )


def answered_with(bot: BotHarness, workspace: Workspace, count: int) -> str | None:
    """Send a DM from ``workspace``; the token the answer was posted with."""
    assert dm_from(bot, workspace).status == 200
    posts = bot.slack.wait_for("chat.postMessage", count=count)
    return posts[-1].token


def system_event(bot: BotHarness, workspace: Workspace, event: dict[str, Any]) -> Response:
    return bot.post_event(event, team_id=workspace.team_id, bot_user_id=workspace.bot_user_id)


# -- the install flow -----------------------------------------------------------------------


def test_install_saves_the_workspace_and_its_events_use_its_token(bot: BotHarness) -> None:
    page = install(bot, "code-alpha")
    assert page.status == 200, page.text
    assert "Thank you!" in page.text
    # oauth.v2.access went to SLACK_API_URL (the fake), with the app's credentials
    [access] = bot.slack.calls("oauth.v2.access")
    assert access.path.startswith("/api/") and access.body["code"] == "code-alpha"
    basic = b64decode(access.headers["authorization"][6:]).decode()
    assert basic == f"{CLIENT_ID}:{CLIENT_SECRET}"
    [auth_test] = bot.slack.calls("auth.test")
    assert auth_test.token == ALPHA.bot_token
    # the installation is in the database
    saved = saved_bot(bot, ALPHA.team_id)
    assert saved is not None
    assert saved.bot_token == ALPHA.bot_token
    assert saved.bot_user_id == ALPHA.bot_user_id and saved.bot_id == ALPHA.bot_id
    assert installation_rows(bot) == {"slack_installations": 1, "slack_bots": 1}
    # a signed event from that workspace is answered with that workspace's token
    assert answered_with(bot, ALPHA, count=1) == ALPHA.bot_token
    [post] = bot.slack.calls("chat.postMessage")
    assert post.headers["authorization"] == f"Bearer {ALPHA.bot_token}"
    assert post.body["text"].startswith("When They Want the Supervisor")


def test_each_workspace_is_answered_with_its_own_token(bot: BotHarness) -> None:
    assert install(bot, "code-alpha").status == 200
    assert install(bot, "code-beta").status == 200
    assert answered_with(bot, BETA, count=1) == BETA.bot_token
    assert answered_with(bot, ALPHA, count=2) == ALPHA.bot_token
    # the 👀 reaction, too, used the asking workspace's token
    reactions = bot.slack.calls("reactions.add")
    assert [c.token for c in reactions] == [BETA.bot_token, ALPHA.bot_token]


def test_a_workspace_that_never_installed_gets_nothing(sqlite_bot: BotHarness) -> None:
    assert install(sqlite_bot, "code-alpha").status == 200
    response = dm_from(sqlite_bot, BETA)
    assert response.status == 200  # acked: Slack must not retry it
    sqlite_bot.slack.wait_idle(quiet=0.3)
    assert sqlite_bot.slack.calls("chat.postMessage") == []


def test_reinstalling_keeps_working_with_the_new_token(sqlite_bot: BotHarness) -> None:
    assert install(sqlite_bot, "code-alpha").status == 200
    renewed = Workspace(**{**ALPHA.__dict__, "bot_token": "xoxb-alpha-0001-renewed"})
    sqlite_bot.slack.add_install_code("code-alpha-2", renewed)
    assert install(sqlite_bot, "code-alpha-2").status == 200
    assert saved_bot(sqlite_bot, ALPHA.team_id).bot_token == renewed.bot_token
    assert answered_with(sqlite_bot, ALPHA, count=1) == renewed.bot_token


# -- a flow that must not install anything ----------------------------------------------------


def test_a_forged_state_installs_nothing(sqlite_bot: BotHarness) -> None:
    _, real_cookie = start_install(sqlite_bot)
    forged = "0" * 36
    # a state that does not match this browser's cookie
    page = finish_install(sqlite_bot, "code-alpha", forged, real_cookie)
    assert page.status == 400 and "Something Went Wrong" in page.text
    # a state and cookie that match each other, but were never issued
    page = finish_install(sqlite_bot, "code-alpha", forged, f"{STATE_COOKIE}={forged}")
    assert page.status == 401 and "Something Went Wrong" in page.text
    assert sqlite_bot.slack.calls("oauth.v2.access") == []
    assert installation_rows(sqlite_bot) == {"slack_installations": 0, "slack_bots": 0}


def test_a_callback_without_the_state_cookie_installs_nothing(sqlite_bot: BotHarness) -> None:
    state, _ = start_install(sqlite_bot)
    page = finish_install(sqlite_bot, "code-alpha", state, cookie=None)  # another browser
    assert page.status == 400
    assert sqlite_bot.slack.calls("oauth.v2.access") == []
    assert saved_bot(sqlite_bot, ALPHA.team_id) is None


def test_a_state_works_once(sqlite_bot: BotHarness) -> None:
    state, cookie = start_install(sqlite_bot)
    assert finish_install(sqlite_bot, "code-alpha", state, cookie).status == 200
    replay = finish_install(sqlite_bot, "code-beta", state, cookie)
    assert replay.status == 401
    assert len(sqlite_bot.slack.calls("oauth.v2.access")) == 1
    assert saved_bot(sqlite_bot, BETA.team_id) is None


def test_a_code_slack_refuses_shows_a_failure_page(sqlite_bot: BotHarness) -> None:
    page = install(sqlite_bot, "code-nobody-issued")
    assert page.status == 401 and "Something Went Wrong" in page.text
    [access] = sqlite_bot.slack.calls("oauth.v2.access")
    assert access.body["__ok__"] is False  # invalid_code
    assert installation_rows(sqlite_bot) == {"slack_installations": 0, "slack_bots": 0}


def test_a_cancelled_install_shows_a_failure_page(sqlite_bot: BotHarness) -> None:
    query = urlencode({"error": "access_denied", "state": "whatever"})
    page = sqlite_bot.request("GET", "/slack/oauth_redirect", query=query)
    assert page.status == 200 and "Something Went Wrong" in page.text
    assert sqlite_bot.slack.calls("oauth.v2.access") == []


def test_install_paths_accept_only_get(sqlite_bot: BotHarness) -> None:
    assert sqlite_bot.request("POST", "/slack/install").status == 405
    assert sqlite_bot.request("POST", "/slack/oauth_redirect").status == 405


def test_single_workspace_mode_has_no_install_pages(tmp_path: Path) -> None:
    with bot_harness(tmp_path) as single:
        assert single.wsgi.app.oauth_flow is None
        assert single.request("GET", "/slack/install").status == 404
        assert single.request("GET", "/slack/oauth_redirect").status == 404


# -- uninstall ---------------------------------------------------------------------------------


def test_app_uninstalled_forgets_that_workspace_only(bot: BotHarness) -> None:
    assert install(bot, "code-alpha").status == 200
    assert install(bot, "code-beta").status == 200
    assert installation_rows(bot) == {"slack_installations": 2, "slack_bots": 2}

    assert system_event(bot, ALPHA, {"type": "app_uninstalled"}).status == 200
    wait_until(lambda: saved_bot(bot, ALPHA.team_id) is None)
    assert installation_rows(bot) == {"slack_installations": 1, "slack_bots": 1}
    assert saved_bot(bot, BETA.team_id).bot_token == BETA.bot_token

    # the other workspace still gets answers, with its own token ...
    assert answered_with(bot, BETA, count=1) == BETA.bot_token
    # ... and the uninstalled one gets nothing (no token left to answer with)
    assert dm_from(bot, ALPHA).status == 200
    bot.slack.wait_idle(quiet=0.3)
    assert [c.token for c in bot.slack.calls("chat.postMessage")] == [BETA.bot_token]


def test_app_uninstalled_deletes_what_that_workspaces_people_wrote(bot: BotHarness) -> None:
    """Their questions, votes, questions for the leads and learned situations go with the app,
    in one log line; the other workspace keeps its own."""
    store: Any = bot.deps.store
    assert install(bot, "code-alpha").status == 200
    assert install(bot, "code-beta").status == 200
    for team in (ALPHA, BETA):
        query = store.log_query(
            team_id=team.team_id,
            user_id="U0REP0001",
            surface="dm",
            text="customer Jane Roe wants a refund",
            answer=None,
            latency_ms=1.0,
        )
        store.record_feedback(
            team_id=team.team_id,
            user_id="U0REP0001",
            query_id=query,
            tip_id="t",
            chunk_ids=[],
            helpful=False,
            comment="wrong tip",
        )
        store.add_lead_request(
            team_id=team.team_id,
            channel="C0LEADS01",
            user_id="U0REP0001",
            text="customer wants a refund",
            query_id=query,
        )
        store.add_learned_situation(
            team_id=team.team_id, tip_id="t", text="refund is late", source="cli"
        )
    with _captured_logs() as lines:
        assert system_event(bot, ALPHA, {"type": "app_uninstalled"}).status == 200
        wait_until(lambda: not store.learned_situations(ALPHA.team_id))
        time.sleep(0.2)
    assert store.recent_queries(team_id=ALPHA.team_id, user_id="U0REP0001") == []
    assert len(store.recent_queries(team_id=BETA.team_id, user_id="U0REP0001")) == 1
    assert len(store.learned_situations(BETA.team_id)) == 1
    deleted = [line for line in lines if "workspace data deleted" in line]
    assert len(deleted) == 1 and '"rows": 4' in deleted[0]


@contextlib.contextmanager
def _captured_logs() -> Iterator[list[str]]:
    """Every record the bot logs meanwhile, as its JSON line."""
    stream = io.StringIO()
    handler = build_handler(stream=stream)
    root = logging.getLogger("bot")
    root.addHandler(handler)
    lines: list[str] = []
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        lines.extend(stream.getvalue().splitlines())


def test_bot_tokens_revoked_forgets_that_workspace(bot: BotHarness) -> None:
    assert install(bot, "code-alpha").status == 200
    assert install(bot, "code-beta").status == 200
    revoked = {"type": "tokens_revoked", "tokens": {"bot": [BETA.bot_user_id]}}
    assert system_event(bot, BETA, revoked).status == 200
    wait_until(lambda: saved_bot(bot, BETA.team_id) is None)
    assert installation_rows(bot) == {"slack_installations": 1, "slack_bots": 1}
    assert answered_with(bot, ALPHA, count=1) == ALPHA.bot_token


def test_both_uninstall_events_in_any_order_leave_no_rows(sqlite_bot: BotHarness) -> None:
    assert install(sqlite_bot, "code-alpha").status == 200
    revoked = {"type": "tokens_revoked", "tokens": {"bot": [ALPHA.bot_user_id]}}
    assert system_event(sqlite_bot, ALPHA, revoked).status == 200
    assert system_event(sqlite_bot, ALPHA, {"type": "app_uninstalled"}).status == 200
    wait_until(lambda: installation_rows(sqlite_bot)["slack_bots"] == 0)
    assert installation_rows(sqlite_bot) == {"slack_installations": 0, "slack_bots": 0}


def test_user_tokens_revoked_keeps_the_bot(sqlite_bot: BotHarness) -> None:
    assert install(sqlite_bot, "code-alpha").status == 200
    revoked = {"type": "tokens_revoked", "tokens": {"oauth": [ALPHA.installer]}}
    assert system_event(sqlite_bot, ALPHA, revoked).status == 200
    sqlite_bot.slack.wait_idle(quiet=0.3)
    assert saved_bot(sqlite_bot, ALPHA.team_id).bot_token == ALPHA.bot_token
    assert answered_with(sqlite_bot, ALPHA, count=1) == ALPHA.bot_token


def test_an_unsigned_uninstall_event_deletes_nothing(sqlite_bot: BotHarness) -> None:
    assert install(sqlite_bot, "code-alpha").status == 200
    body = sqlite_bot.event_body({"type": "app_uninstalled"}, team_id=ALPHA.team_id)
    forged = sqlite_bot.post_signed(body, "application/json", secret="f" * 32)
    assert forged.status == 401
    time.sleep(0.2)
    assert saved_bot(sqlite_bot, ALPHA.team_id) is not None


# -- configuration ----------------------------------------------------------------------------


def test_oauth_comes_from_settings_not_the_environment(
    sqlite_bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bolt would read these itself; Settings must stay the one source."""
    monkeypatch.setenv("SLACK_CLIENT_ID", "9999.9999")
    monkeypatch.setenv("SLACK_CLIENT_SECRET", "not-the-secret")
    monkeypatch.setenv("SLACK_SCOPES", "admin,channels:read")
    monkeypatch.setenv("SLACK_REDIRECT_URI", "https://evil.example.com/steal")
    app = build_app(sqlite_bot.deps)
    oauth = app.oauth_flow
    assert oauth is not None
    assert oauth.settings.client_id == CLIENT_ID
    assert oauth.settings.client_secret == CLIENT_SECRET
    assert list(oauth.settings.scopes) == list(BOT_SCOPES)
    assert oauth.settings.user_scopes == []
    assert oauth.settings.redirect_uri is None
    assert oauth.client.base_url == sqlite_bot.slack.api_url  # oauth.v2.access goes there
    assert app.client.token is None  # tokens come from the installations


def test_the_install_link_asks_for_the_manifest_scopes(sqlite_bot: BotHarness) -> None:
    yaml = pytest.importorskip("yaml")
    manifest = yaml.safe_load((REPO / "manifest.yaml").read_text(encoding="utf-8"))
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(BOT_SCOPES)
    assert any(
        url.endswith("/slack/oauth_redirect") for url in manifest["oauth_config"]["redirect_urls"]
    )
    assert {"app_uninstalled", "tokens_revoked"} <= set(
        manifest["settings"]["event_subscriptions"]["bot_events"]
    )
    page = sqlite_bot.request("GET", "/slack/install")
    link = html.unescape(re.search(r'href="(https?://[^"]+)"', page.text).group(1))  # type: ignore[union-attr]
    query = parse_qs(urlparse(link).query)
    assert query["client_id"] == [CLIENT_ID]
    assert sorted(query["scope"][0].split(",")) == sorted(BOT_SCOPES)
    assert "user_scope" not in query or query["user_scope"] == [""]


def test_a_redirect_uri_setting_reaches_slack(
    tmp_path: Path, oauth_slack: FakeSlack, sqlite_url: str
) -> None:
    redirect = "https://coach.example.com/slack/oauth_redirect"
    with bot_harness(
        tmp_path,
        slack=oauth_slack,
        slack_bot_token="",
        slack_client_id=CLIENT_ID,
        slack_client_secret=CLIENT_SECRET,
        slack_redirect_uri=redirect,
        database_url=sqlite_url,
    ) as bot:
        state, cookie = start_install(bot)
        assert finish_install(bot, "code-alpha", state, cookie).status == 200
        [access] = bot.slack.calls("oauth.v2.access")
        assert access.body["redirect_uri"] == redirect


def test_install_logs_hold_no_secret_and_no_token(sqlite_bot: BotHarness) -> None:
    stream = io.StringIO()
    handler = build_handler(sqlite_bot.deps.settings, stream)
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)  # slack_sdk logs request bodies at DEBUG
    try:
        assert install(sqlite_bot, "code-alpha").status == 200
        assert answered_with(sqlite_bot, ALPHA, count=1) == ALPHA.bot_token
        assert system_event(sqlite_bot, ALPHA, {"type": "app_uninstalled"}).status == 200
        wait_until(lambda: saved_bot(sqlite_bot, ALPHA.team_id) is None)
        sqlite_bot.slack.wait_idle(quiet=0.2)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    output = stream.getvalue()
    assert CLIENT_SECRET not in output
    assert ALPHA.bot_token not in output and "xoxb-alpha" not in output
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    [installed] = [line for line in lines if line["message"] == "workspace installed"]
    assert installed["team_id"] == ALPHA.team_id
    [deleted] = [line for line in lines if line["message"] == "workspace tokens deleted"]
    assert deleted["team_id"] == ALPHA.team_id and deleted["rows"] == 2
    oauth_requests = [line for line in lines if line["message"] == "request" and line.get("oauth")]
    assert [(r["oauth"], r["status"]) for r in oauth_requests] == [
        ("install", 200),
        ("callback", 200),
    ]


def test_half_an_oauth_setup_stops_start_up_naming_the_missing_setting() -> None:
    half = load_settings(slack_client_id=CLIENT_ID, slack_signing_secret=CLIENT_SECRET)
    with pytest.raises(SettingsError, match="SLACK_CLIENT_SECRET"):
        half.require_slack()
    other_half = load_settings(
        slack_client_secret=CLIENT_SECRET, slack_signing_secret=CLIENT_SECRET
    )
    with pytest.raises(SettingsError, match="SLACK_CLIENT_ID"):
        other_half.require_slack()
    keyless = load_settings(
        slack_client_id=CLIENT_ID,
        slack_client_secret=CLIENT_SECRET,
        slack_signing_secret=CLIENT_SECRET,
    )
    with pytest.raises(SettingsError, match="COACH_SECRET_KEY"):
        keyless.require_slack()  # tokens are never stored in clear
    whole = load_settings(
        slack_client_id=CLIENT_ID,
        slack_client_secret=CLIENT_SECRET,
        slack_signing_secret=CLIENT_SECRET,
        secret_key=TEST_SECRET_KEY,
    )
    whole.require_slack()  # no SLACK_BOT_TOKEN needed
    assert whole.oauth_enabled


def test_a_malformed_secret_key_is_refused_by_name_without_echoing_it() -> None:
    with pytest.raises(SettingsError, match="COACH_SECRET_KEY") as raised:
        load_settings(secret_key="not-a-key-hunter2")
    assert "hunter2" not in str(raised.value)


def test_workspace_tokens_are_encrypted_at_rest(sqlite_bot: BotHarness) -> None:
    """The install stores ciphertext (checked in the SQLite file's bytes); answers still
    use the token; a key rotation re-encrypts and the old key can then go."""
    from bot.storage import Store
    from bot.storage.secrets import PREFIX, new_key

    assert install(sqlite_bot, "code-alpha").status == 200
    assert answered_with(sqlite_bot, ALPHA, count=1) == ALPHA.bot_token
    settings = sqlite_bot.deps.settings
    path = settings.database_url.removeprefix("sqlite:///")
    raw = b"".join(  # the database file and its write-ahead log
        Path(path + suffix).read_bytes() for suffix in ("", "-wal") if Path(path + suffix).exists()
    )
    assert ALPHA.bot_token.encode() not in raw and PREFIX.encode() in raw

    fresh = new_key()
    old = settings.secret_key.get_secret_value()  # type: ignore[union-attr]
    both = settings.model_copy(update={"secret_key": SecretStr(f"{fresh},{old}")})
    with Store.open(both) as store:
        assert store.rotate_secrets() >= 1
    only_new = settings.model_copy(update={"secret_key": SecretStr(fresh)})
    with Store.open(only_new) as store:
        bot = store.installation_store(CLIENT_ID).find_bot(
            enterprise_id=None, team_id=ALPHA.team_id
        )
        assert bot is not None and bot.bot_token == ALPHA.bot_token
    with Store.open(settings) as store, pytest.raises(StorageError, match="COACH_SECRET_KEY"):
        store.installation_store(CLIENT_ID).find_bot(enterprise_id=None, team_id=ALPHA.team_id)


def test_a_malformed_redirect_uri_is_refused_by_name() -> None:
    with pytest.raises(SettingsError, match="SLACK_REDIRECT_URI"):
        load_settings(slack_redirect_uri="coach.example.com/slack/oauth_redirect")
    assert load_settings(slack_redirect_uri="  ").slack_redirect_uri is None


def test_uninstall_in_single_workspace_mode_is_acked_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with bot_harness(tmp_path) as single, caplog.at_level(logging.WARNING, logger="bot"):
        body = single.event_body({"type": "app_uninstalled"})
        assert single.post_signed(body, "application/json").status == 200
        wait_until(
            lambda: any(r.getMessage() == "workspace tokens deleted" for r in caplog.records)
        )
    [record] = [r for r in caplog.records if r.getMessage() == "workspace tokens deleted"]
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["rows"] == 0 and "SLACK_BOT_TOKEN" in fields["note"]
