"""Slack's rules over HTTP: signatures, malformed bodies, retries, dedupe, 429/5xx, errors."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from bot_fixtures import (
    BOT_TOKEN,
    CHANNEL,
    DM_CHANNEL,
    SIGNING_SECRET,
    USER,
    BotHarness,
    SlowCoach,
    bot_harness,
    build_deps,
    make_settings,
    shared_coach,
)
from fake_slack import FakeSlack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import render
from bot.app import build_app
from bot.deps import CoachProvider, Deps
from bot.http import SlackWSGI
from bot.logs import build_handler

SUPERVISOR = "customer wants to talk to the supervisor"
_TYPES = [
    "event_callback",
    "block_actions",
    "view_submission",
    "view_closed",
    "shortcut",
    "x",
    None,
]
_KEYS = [
    *("event", "type", "user", "channel", "team", "enterprise", "actions", "view", "state"),
    *("callback_id", "action_id", "value", "text", "ts", "thread_ts", "subtype", "id", "values"),
    *("authorizations", "container", "message", "channel_type", "private_metadata", "event_id"),
]


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[BotHarness]:
    with bot_harness(tmp_path) as harness:
        yield harness


# -- signatures and bodies ---------------------------------------------------------------------


def test_bad_signature_is_401_and_nothing_runs(bot: BotHarness) -> None:
    body = bot.event_body(bot.dm_event(SUPERVISOR))
    response = bot.post_signed(body, "application/json", secret="0" * 32)
    assert response.status == 401
    command = bot.post_signed(
        bot.command_body(SUPERVISOR), "application/x-www-form-urlencoded", secret="1" * 32
    )
    assert command.status == 401
    unsigned = bot.request("POST", "/slack/events", body, content_type="application/json")
    assert unsigned.status == 401
    bot.slack.wait_idle(quiet=0.4)
    assert bot.slack.calls() == []


def test_stale_timestamp_is_401_even_with_a_valid_signature(bot: BotHarness) -> None:
    body = bot.event_body(bot.dm_event(SUPERVISOR))
    response = bot.post_signed(body, "application/json", timestamp=int(time.time()) - 6 * 60)
    assert response.status == 401
    bot.slack.wait_idle(quiet=0.3)
    assert bot.slack.calls() == []


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"type": "event_callback", "event": ', "application/json"),
        ("[1, 2, 3]", "application/json"),
        ("payload=%7B%22type%22%3A%20%22block_actions", "application/x-www-form-urlencoded"),
        ("payload=not-json-at-all", "application/x-www-form-urlencoded"),
        (urlencode({"payload": "[1]"}), "application/x-www-form-urlencoded"),
        ("", "application/json"),
        ("\udcff", "application/json"),  # not UTF-8 once encoded with surrogateescape
    ],
)
def test_malformed_signed_bodies_get_400_never_500(
    bot: BotHarness, body: str, content_type: str
) -> None:
    raw = body.encode("utf-8", "surrogateescape")
    headers = {}
    try:
        headers = bot_signed_headers(raw.decode("utf-8"))
    except UnicodeDecodeError:
        headers = bot_signed_headers(raw.decode("latin-1"))
    response = bot.request("POST", "/slack/events", raw, content_type=content_type, headers=headers)
    assert response.status == 400
    bot.slack.wait_idle(quiet=0.2)
    assert bot.slack.calls() == []


def bot_signed_headers(body: str) -> dict[str, str]:
    from bot_fixtures import sign

    return sign(body)


def test_malformed_unsigned_body_is_still_401(bot: BotHarness) -> None:
    response = bot.request(
        "POST", "/slack/events", "payload=broken", content_type="application/x-www-form-urlencoded"
    )
    assert response.status == 401


def test_unknown_paths_and_methods(bot: BotHarness) -> None:
    assert bot.request("GET", "/nope").status == 404
    assert bot.request("POST", "/slack/other", "{}").status == 404
    assert bot.request("GET", "/slack/events").status == 405
    assert bot.request("POST", "/healthz").status == 405


def test_url_verification_challenge(bot: BotHarness) -> None:
    body = json.dumps({"token": "legacy", "challenge": "3eZbrw1aB", "type": "url_verification"})
    response = bot.post_signed(body, "application/json")
    assert response.status == 200 and "3eZbrw1aB" in response.text


def test_huge_body_is_refused_cleanly(bot: BotHarness) -> None:
    body = json.dumps({"type": "event_callback", "pad": "x" * 1_100_000})
    assert bot.post_signed(body, "application/json").status == 413


def test_an_event_nobody_handles_yet_is_still_acked_200(bot: BotHarness) -> None:
    """app_home_opened is subscribed in the manifest; a 404 would make Slack retry it."""
    event = {"type": "app_home_opened", "user": USER, "channel": DM_CHANNEL, "tab": "home"}
    assert bot.post_event(event).status == 200


_scalar = st.one_of(st.none(), st.integers(), st.text(max_size=8), st.booleans())
_value = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(_KEYS), inner, max_size=4)
    ),
    max_leaves=12,
)


def test_no_signed_body_shape_makes_the_bot_answer_500(tmp_path: Path) -> None:
    """Whatever JSON shape arrives signed, the answer is 200/400/404, never a 500."""
    with bot_harness(tmp_path) as bot:

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(
            body=st.fixed_dictionaries(
                {"type": st.sampled_from(_TYPES)},
                optional={key: _value for key in _KEYS if key != "type"},
            ),
            form=st.booleans(),
        )
        def check(body: dict, form: bool) -> None:
            if form:
                response = bot.post_payload(body)
            else:
                response = bot.post_signed(json.dumps(body), "application/json")
            assert response.status in {200, 400, 404}, (response.status, body)

        check()


# -- health -------------------------------------------------------------------------------------


def test_healthz_is_503_while_loading_and_200_once_loaded(tmp_path: Path) -> None:
    gate = threading.Event()

    def slow_loader() -> object:
        gate.wait(10)
        return shared_coach()

    settings = make_settings(None, tmp_path)
    provider = CoachProvider(slow_loader)
    deps = Deps(settings=settings, coach=provider, store=build_deps(settings).store)
    wsgi = SlackWSGI(build_app(deps), deps)
    harness = BotHarness(FakeSlack(), deps, wsgi)
    provider.start()
    loading = harness.request("GET", "/healthz")
    assert loading.status == 503 and loading.json()["status"] == "loading"
    gate.set()
    deadline = time.monotonic() + 5
    while harness.request("GET", "/healthz").status != 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    ready = harness.request("GET", "/healthz")
    assert ready.status == 200 and ready.json()["status"] == "ok"
    deps.close()  # the work pool, then the store


def test_healthz_is_503_when_loading_failed(tmp_path: Path) -> None:
    def broken() -> object:
        raise RuntimeError("index corrupt")

    settings = make_settings(None, tmp_path)
    provider = CoachProvider(broken, retry_delays=(30.0,))
    deps = Deps(settings=settings, coach=provider, store=build_deps(settings).store)
    harness = BotHarness(FakeSlack(), deps, SlackWSGI(build_app(deps), deps))
    provider.start()
    deadline = time.monotonic() + 5
    while provider.status == "loading" and time.monotonic() < deadline:
        time.sleep(0.01)
    response = harness.request("GET", "/healthz")
    assert response.status == 503 and response.json() == {
        "status": "error",
        "error": "RuntimeError",
        "detail": "index corrupt",
        "attempts": 1,
    }
    deps.close()  # the work pool, then the store; stops the retries


def test_healthz_recovers_when_a_retried_load_succeeds(tmp_path: Path) -> None:
    """A load that failed (index being rebuilt, database down) is retried with backoff."""
    attempts: list[float] = []

    def flaky() -> object:
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise RuntimeError("index is being rebuilt")
        return shared_coach()

    settings = make_settings(None, tmp_path)
    provider = CoachProvider(flaky, retry_delays=(0.05, 0.1))
    deps = Deps(settings=settings, coach=provider, store=build_deps(settings).store)
    harness = BotHarness(FakeSlack(), deps, SlackWSGI(build_app(deps), deps))
    provider.start()
    deadline = time.monotonic() + 5
    while not provider.ready and time.monotonic() < deadline:
        time.sleep(0.01)
    assert harness.request("GET", "/healthz").status == 200
    assert len(attempts) == 3 and provider.error is None
    assert attempts[2] - attempts[1] >= 0.09  # backoff grew
    deps.close()


def test_a_rep_asking_before_the_model_loads_is_told_to_retry(tmp_path: Path) -> None:
    with FakeSlack(token=BOT_TOKEN) as slack:
        settings = make_settings(slack, tmp_path)
        never = threading.Event()
        provider = CoachProvider(lambda: never.wait(30) or shared_coach())
        deps = Deps(
            settings=settings,
            coach=provider,
            store=build_deps(settings).store,
            coach_wait_seconds=0.2,
        )
        harness = BotHarness(slack, deps, SlackWSGI(build_app(deps), deps))
        provider.start()
        assert harness.post_event(harness.dm_event(SUPERVISOR)).status == 200
        [post] = slack.wait_for("chat.postMessage")
        assert "warming up" in post.all_text()
        never.set()
        slack.wait_idle(quiet=0.2)
        deps.close()  # the work pool, then the store


def test_requests_are_acked_at_once_while_slow_answers_are_computed(tmp_path: Path) -> None:
    with FakeSlack(token=BOT_TOKEN) as slack:
        settings = make_settings(slack, tmp_path)
        deps = build_deps(settings, coach=SlowCoach(shared_coach(), 2.0))
        harness = BotHarness(slack, deps, SlackWSGI(build_app(deps), deps))
        for send in (
            lambda: harness.post_command(SUPERVISOR),
            lambda: harness.post_event(harness.dm_event(SUPERVISOR)),
        ):
            started = time.perf_counter()
            assert send().status == 200
            assert time.perf_counter() - started < 0.5
        [answer] = slack.wait_for("response_url", timeout=10)
        [post] = slack.wait_for("chat.postMessage", timeout=10)
        assert "When They Want the Supervisor" in answer.body["text"] + post.body["text"]
        slack.wait_idle(quiet=0.2)
        deps.close()  # the work pool, then the store


# -- retries and dedupe ---------------------------------------------------------------------------


def test_slack_retries_of_one_event_get_one_answer(bot: BotHarness) -> None:
    event = bot.dm_event(SUPERVISOR)
    statuses = [
        bot.post_event(event, event_id="EvRETRY001", retry_num=n).status for n in (None, 1, 2)
    ]
    assert statuses == [200, 200, 200]
    bot.slack.wait_for("chat.postMessage")
    bot.slack.wait_idle(quiet=0.5)
    assert len(bot.slack.calls("chat.postMessage")) == 1


def test_two_app_instances_sharing_one_database_answer_an_event_once(tmp_path: Path) -> None:
    with FakeSlack(token=BOT_TOKEN) as slack:
        db = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
        with (
            bot_harness(tmp_path / "a", slack=slack, database_url=db) as one,
            bot_harness(tmp_path / "b", slack=slack, database_url=db) as two,
        ):
            body = one.event_body(one.dm_event(SUPERVISOR), event_id="EvSHARED01")
            results: list[int] = []
            barrier = threading.Barrier(4)

            def send(harness: BotHarness, retry: str | None) -> None:
                barrier.wait()
                headers = {"x-slack-retry-num": retry} if retry else {}
                results.append(
                    harness.post_signed(body, "application/json", extra_headers=headers).status
                )

            threads = [
                threading.Thread(target=send, args=(h, r))
                for h, r in ((one, None), (two, None), (one, "1"), (two, "2"))
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(10)
            assert results == [200, 200, 200, 200]
            slack.wait_for("chat.postMessage")
            slack.wait_idle(quiet=0.5)
            assert len(slack.calls("chat.postMessage")) == 1


# -- Web API failures ----------------------------------------------------------------------------


def test_429_waits_retry_after_then_posts_exactly_once(bot: BotHarness) -> None:
    bot.slack.fail("chat.postMessage", status=429, retry_after=1)
    bot.post_event(bot.dm_event(SUPERVISOR))
    calls = bot.slack.wait_for("chat.postMessage", 2, accepted=False, timeout=15)
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 1.0  # honoured Retry-After
    bot.slack.wait_idle(quiet=0.3)
    assert len(bot.slack.delivered("chat.postMessage")) == 1
    assert calls[1].path == "/api/chat.postMessage"  # the retry went to SLACK_API_URL too


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retried_with_backoff_and_posted_once(bot: BotHarness, status: int) -> None:
    bot.slack.fail("chat.postMessage", status=status)
    bot.post_event(bot.dm_event(SUPERVISOR))
    calls = bot.slack.wait_for("chat.postMessage", 2, accepted=False, timeout=15)
    assert [c.status for c in calls] == [status, 200]
    bot.slack.wait_idle(quiet=0.3)
    assert len(bot.slack.delivered("chat.postMessage")) == 1


def test_429_on_the_response_url_is_retried(bot: BotHarness) -> None:
    bot.slack.fail("response_url", status=429, retry_after=1)
    bot.post_command(SUPERVISOR)
    calls = bot.slack.wait_for("response_url", 2, accepted=False, timeout=15)
    assert [c.status for c in calls] == [429, 200]


def test_not_in_channel_sends_the_answer_to_the_rep_by_dm(bot: BotHarness) -> None:
    bot.slack.fail("chat.postMessage", error="not_in_channel")
    bot.post_event(bot.mention_event(SUPERVISOR))
    posts = bot.slack.wait_for("chat.postMessage", 2, accepted=False)
    assert posts[0].body["channel"] == CHANNEL
    dm = posts[1]
    assert dm.body["channel"] == USER
    text = dm.all_text()
    assert "/invite @Tip Coach" in text and "When They Want the Supervisor" in text
    assert f"<#{CHANNEL}>" in text


def test_expired_response_url_falls_back_to_an_ephemeral_post(bot: BotHarness) -> None:
    bot.slack.fail("response_url", error="expired_url")
    bot.post_command(SUPERVISOR)
    [ephemeral] = bot.slack.wait_for("chat.postEphemeral")
    assert ephemeral.body["channel"] == CHANNEL and ephemeral.body["user"] == USER
    assert "When They Want the Supervisor" in ephemeral.all_text()


def test_store_failure_never_costs_the_rep_their_answer(bot: BotHarness) -> None:
    bot.deps.store.engine.dispose()
    db_file = Path(bot.deps.settings.data_dir) / "bot.sqlite3"
    with db_file.open("r+b") as handle:  # corrupt the header: every query now fails
        handle.write(b"not a database!!" * 8)
    bot.post_event(bot.dm_event(SUPERVISOR), event_id="EvNODB0001")
    [post] = bot.slack.wait_for("chat.postMessage")
    assert "When They Want the Supervisor" in post.body["text"]
    bot.slack.wait_idle(quiet=0.3)
    assert len(bot.slack.calls("chat.postMessage")) == 1


# -- text safety ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "<!channel> <@U0VICTIM1> please reset my VPN password <!here|here>",
        "&lt;!channel&gt; &lt;@U0VICTIM1&gt; reset my VPN password",  # typed literally
    ],
)
def test_slack_markup_in_a_rep_message_never_pings_anyone(bot: BotHarness, typed: str) -> None:
    bot.post_event(bot.dm_event(typed))
    [post] = bot.slack.wait_for("chat.postMessage")
    text = post.all_text()
    for ping in ("<!channel>", "<!here", "<@U0VICTIM1>", "<!everyone>"):
        assert ping not in text
    assert "VPN password" in text  # the rep's words are echoed, escaped


def test_a_4000_character_description_is_answered_within_limits(bot: BotHarness) -> None:
    long_text = (SUPERVISOR + " and they keep shouting about the bill. ") * 60
    assert len(long_text) > 4000
    bot.post_event(bot.dm_event(long_text[:4000]))
    [post] = bot.slack.wait_for("chat.postMessage")
    blocks = post.blocks()
    assert 0 < len(blocks) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    for block in blocks:
        for element in block.get("elements", []):
            if element.get("type") == "button":
                assert len(element["value"]) <= 2000
    slash = bot.post_command(long_text[:4000])
    assert slash.status == 200
    bot.slack.wait_for("response_url")


# -- logs ----------------------------------------------------------------------------------------


#: Personal data a rep may paste (each kind the redaction knows), and its parts that must
#: never reach the logs or Slack.
OTHER_PII = (
    "caller Maria Alvarez of 4500 W. Elm Avenue read out her CVV 739 and DOB 04/12/1987 "
    "for order #A-4471, card 4111 1111 1111 1111"
)
OTHER_PII_PARTS = (
    "Maria Alvarez",
    "4500 W. Elm Avenue",
    "CVV 739",
    "04/12/1987",
    "A-4471",
    "4111 1111 1111 1111",
)


def test_logs_are_json_lines_without_tokens_secrets_or_personal_data(bot: BotHarness) -> None:
    stream = io.StringIO()
    handler = build_handler(bot.deps.settings, stream)
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        bot.post_event(bot.dm_event(SUPERVISOR + " reach me at jane.doe@example.com"))
        bot.slack.wait_for("chat.postMessage")
        bot.post_command(SUPERVISOR + " " + OTHER_PII)
        bot.slack.wait_for("response_url")
        bot.post_signed("{broken", "application/json")
        bot.deps.logger.info(f"leak attempt {BOT_TOKEN} {SIGNING_SECRET} xapp-1-A0-123-abc")
        bot.deps.logger.info("rep text", extra={"fields": {"text": "mail jane.doe@example.com"}})
        bot.slack.wait_idle(quiet=0.3)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    output = stream.getvalue()
    assert BOT_TOKEN not in output and SIGNING_SECRET not in output and "xapp-1-A0" not in output
    assert "jane.doe@example.com" not in output
    payloads = json.dumps([c.body for c in bot.slack.calls()])  # what went to Slack
    for raw in OTHER_PII_PARTS:
        assert raw not in output and raw not in payloads, raw
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    requests = [line for line in lines if line["message"] == "request"]
    assert len(requests) == 3
    assert {r["status"] for r in requests} == {200, 400}
    for line in requests:
        assert {"method", "path", "status", "duration_ms"} <= set(line)
    assert {r.get("slack_type") for r in requests} >= {"event:message", "command:/coach"}


def test_dm_channel_reply_uses_the_dm_not_the_user(bot: BotHarness) -> None:
    bot.post_event(bot.dm_event(SUPERVISOR))
    [post] = bot.slack.wait_for("chat.postMessage")
    assert post.body["channel"] == DM_CHANNEL
    assert render.ACTION_NEXT_TIP in json.dumps(post.blocks())
