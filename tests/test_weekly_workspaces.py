"""The weekly tip with multi-workspace installs: each channel posts with its own
workspace's installation token, and "reps asked" counts only that workspace's lookups.

Workspaces install through the fake Slack's own ``oauth.v2.access`` (so it accepts their
tokens, and only theirs) and are saved in the real store (SQLite, and Postgres when it is
reachable); posts go through ``coach weekly`` (``bot.weekly.cli.main``).
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fake_slack import Workspace
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store import Installation
from storage_fixtures import answered
from weekly_fixtures import MONDAY_9, WEEK, FakeClock, WeeklyFakeSlack, weekly_settings

from bot.storage import Store
from bot.weekly.cli import main
from bot.weekly.post import WeeklyPoster
from bot.weekly.rotation import StoreAskedCounts
from bot.weekly.schedule import Schedule
from bot.weekly.scheduler import SKIP_RECHECK, Scheduler
from bot.weekly.slack import WeeklySlack
from bot.weekly.workspaces import InstalledWorkspaces, Target
from config.settings import SettingsError, load_settings
from retrieval.engine import Coach

CLIENT_ID = "1111.2222"
CLIENT_SECRET = "weekly-client-secret"
T1, T2 = "T0TEAMONE", "T0TEAMTWO"
C1, C2 = "C0CHANONE", "C0CHANTWO"
TOKENS = {T1: "xoxb-team-one-token", T2: "xoxb-team-two-token"}


@pytest.fixture
def slack() -> Iterator[WeeklyFakeSlack]:
    with WeeklyFakeSlack(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as fake:
        yield fake


@dataclass
class Env:
    tmp: Path
    db_url: str
    store: Store
    slack: WeeklyFakeSlack
    coach: Coach
    clock: FakeClock

    def settings(self, *channels: str, **overrides: Any) -> Any:
        values: dict[str, Any] = {
            "slack_bot_token": None,
            "slack_client_id": CLIENT_ID,
            "slack_client_secret": CLIENT_SECRET,
            "weekly_channels": list(channels),
        }
        values.update(overrides)
        return weekly_settings(self.tmp / "var", self.slack.api_url, db_url=self.db_url, **values)

    def install(self, team: str) -> None:
        """The workspace installs the app: Slack hands out its token, we save it."""
        code = f"code-{team}"
        self.slack.add_install_code(code, Workspace(team_id=team, bot_token=TOKENS[team]))
        client = WebClient(base_url=self.slack.api_url)
        reply = client.oauth_v2_access(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=code)
        self.store.installation_store(CLIENT_ID).save(
            Installation(
                app_id=reply["app_id"],
                enterprise_id=None,
                team_id=reply["team"]["id"],
                bot_token=reply["access_token"],
                bot_id="B" + team,
                bot_user_id=reply["bot_user_id"],
                bot_scopes=reply["scope"],
                user_id=reply["authed_user"]["id"],
            )
        )

    def run(self, settings: Any, mode: str = "post-now", **kwargs: Any) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main(
            settings,
            mode,
            clock=self.clock,
            coach=self.coach,
            store=self.store,
            out=out,
            err=err,
            **kwargs,
        )
        return code, out.getvalue(), err.getvalue()

    def posts(self) -> dict[str, str | None]:
        """Channel -> the token each recorded chat.postMessage was sent with."""
        return {c.body["channel"]: c.token for c in self.slack.calls("chat.postMessage")}


@pytest.fixture
def env(tmp_path: Path, db_url: str, slack: WeeklyFakeSlack, hashing_coach: Coach) -> Iterator[Env]:
    store = Store.from_url(db_url)
    try:
        yield Env(
            tmp_path, db_url, store, slack, hashing_coach, FakeClock(MONDAY_9 + timedelta(hours=1))
        )
    finally:
        store.close()


# -- COACH_WEEKLY_CHANNELS ----------------------------------------------------------------


def test_team_qualified_entries_parse_next_to_plain_ones(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path, weekly_channels=f"{T1}:{C1}, C0PLAIN01 ,{T2}:G0PRIVATE"
    )
    assert settings.weekly_channels == [f"{T1}:{C1}", "C0PLAIN01", f"{T2}:G0PRIVATE"]
    assert settings.weekly_targets == [(T1, C1), (None, "C0PLAIN01"), (T2, "G0PRIVATE")]


@pytest.mark.parametrize(
    "entry", ["general", f"{T1}:general", f"t0teamone:{C1}", f"{T1}:", f":{C1}", f"{C1}:{T1}"]
)
def test_malformed_entries_name_both_accepted_forms(
    monkeypatch: pytest.MonkeyPatch, entry: str
) -> None:
    monkeypatch.setenv("COACH_WEEKLY_CHANNELS", f"C0GOOD001,{entry}")
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert "COACH_WEEKLY_CHANNELS" in message and repr(entry) in message
    assert "C0123ABCD" in message and "T0123ABCD:C0456EFGH" in message


# -- tokens per workspace -----------------------------------------------------------------


def test_each_channel_is_posted_with_its_own_workspaces_token(env: Env) -> None:
    env.install(T1)
    env.install(T2)
    code, out, err = env.run(env.settings(f"{T1}:{C1}", f"{T2}:{C2}"), as_json=True)
    assert code == 0, out + err
    assert env.posts() == {C1: TOKENS[T1], C2: TOKENS[T2]}
    outcomes = [json.loads(line) for line in out.splitlines()]
    assert [(o["channel"], o["team_id"], o["status"]) for o in outcomes] == [
        (C1, T1, "posted"),
        (C2, T2, "posted"),
    ]
    assert [r.status for r in env.store.weekly_posts(C1) + env.store.weekly_posts(C2)] == [
        "posted",
        "posted",
    ]
    # Every call went to SLACK_API_URL (the fake): nothing was refused for a wrong token.
    assert all(c.status == 200 for c in env.slack.calls("chat.postMessage"))


def test_the_fake_refuses_a_token_of_no_installed_workspace(env: Env) -> None:
    """Guards the test above: the fake really checks which token posts."""
    env.install(T1)
    client = WebClient(base_url=env.slack.api_url, token="xoxb-someone-else")
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel=C1, text="x")
    assert info.value.response["error"] == "invalid_auth"


def test_a_plain_channel_uses_the_only_installed_workspace(env: Env) -> None:
    env.install(T2)
    code, out, err = env.run(env.settings(C2))
    assert code == 0, out + err
    assert env.posts() == {C2: TOKENS[T2]}
    assert f"{C2}: posted" in out


def test_a_plain_channel_is_refused_when_several_workspaces_are_installed(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    env.install(T1)
    env.install(T2)
    with caplog.at_level(logging.WARNING, logger="bot.weekly"):
        code, out, _ = env.run(env.settings(C1, f"{T2}:{C2}"))
    assert code == 1
    assert env.posts() == {C2: TOKENS[T2]}  # the qualified entry still went out
    line = next(line for line in out.splitlines() if line.startswith(C1))
    assert "skipped" in line and "qualify it with its team id" in line
    assert f"like {T1}:{C1}" in line
    assert env.store.weekly_posts(C1) == []  # nothing claimed: fixing the entry posts it
    assert any(C1 in r.getMessage() and "qualify" in r.getMessage() for r in caplog.records)


def test_an_uninstalled_workspace_is_skipped_with_a_log_line(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    env.install(T1)
    env.install(T2)
    env.store.delete_installation(T2)  # app_uninstalled
    with caplog.at_level(logging.WARNING, logger="bot.weekly"):
        code, out, _ = env.run(env.settings(f"{T1}:{C1}", f"{T2}:{C2}"))
    assert code == 1
    assert env.posts() == {C1: TOKENS[T1]}
    assert f"{C2}: skipped {WEEK}: workspace {T2} has no installation" in out
    (record,) = [r for r in caplog.records if "skipping" in r.getMessage()]
    assert f"{T2}:{C2}" in record.getMessage() and "/slack/install" in record.getMessage()
    assert env.store.weekly_posts(C2) == []


def test_the_scheduler_skips_an_uninstalled_workspace_without_a_retry_loop(env: Env) -> None:
    env.install(T1)
    settings = env.settings(f"{T1}:{C1}", f"{T2}:{C2}")  # T2 never installed
    poster = WeeklyPoster(
        env.store,
        lambda: env.coach,
        InstalledWorkspaces(
            env.store.installation_store(CLIENT_ID),
            lambda token: WeeklySlack.from_settings(settings, clock=env.clock, token=token),
        ),
        clock=env.clock,
        asked=StoreAskedCounts(env.store),
    )
    targets = [Target(channel, team) for team, channel in settings.weekly_targets]
    scheduler = Scheduler(Schedule.from_settings(settings), targets, poster, env.clock)
    now = env.clock.now()
    assert {(o.channel, o.status) for o in scheduler.tick(now)} == {
        (C1, "posted"),
        (C2, "skipped"),
    }
    assert scheduler.tick(now + timedelta(minutes=5)) == []  # not hammered
    assert scheduler.next_wake(now + timedelta(minutes=5)) <= now + SKIP_RECHECK

    env.install(T2)  # installed again later the same day: the next look posts it
    later = now + SKIP_RECHECK + timedelta(seconds=1)
    assert [(o.channel, o.status) for o in scheduler.tick(later)] == [(C2, "posted")]
    assert env.posts() == {C1: TOKENS[T1], C2: TOKENS[T2]}


# -- "reps asked" per workspace -----------------------------------------------------------


def test_reps_asked_counts_only_the_channels_workspace(env: Env) -> None:
    full = [tip for tip in env.coach.tips() if tip.full]
    popular = full[1]  # not the rotation's first choice
    when = env.clock.now() - timedelta(days=1)
    for team, times in ((T1, 2), (T2, 4)):  # 6 together; only T2 alone reaches MIN_ASKS
        for n in range(times):
            env.store.log_query(
                team_id=team,
                user_id=f"U0REP{n}",
                surface="dm",
                text="how do I",
                answer=answered(tip_id=popular.id, title=popular.title),
                latency_ms=3,
                now=when,
            )
    env.install(T1)
    env.install(T2)
    settings = env.settings(f"{T1}:{C1}", f"{T2}:{C2}")

    code, out, _ = env.run(settings, mode="preview", as_json=True)
    assert code == 0
    previews = {p["channel"]: p for p in map(json.loads, out.splitlines())}
    assert (previews[C2]["tip_id"], previews[C2]["asked"]) == (popular.id, 4)
    assert previews[C1]["tip_id"] == full[0].id and previews[C1]["reason"] == "rotation"

    code, out, err = env.run(settings)
    assert code == 0, out + err
    posts = {c.body["channel"]: c for c in env.slack.calls("chat.postMessage")}
    assert "Reps asked about this 4 times this week." in posts[C2].all_text()
    assert "Reps asked" not in posts[C1].all_text()
    assert env.store.weekly_posts(C1)[0].tip_id == full[0].id


# -- single-workspace mode is unchanged -----------------------------------------------------


def test_single_workspace_mode_posts_team_qualified_entries_with_the_bot_token(
    env: Env,
) -> None:
    settings = env.settings(
        f"{T1}:{C1}",
        slack_bot_token="xoxb-single-workspace",
        slack_client_id=None,
        slack_client_secret=None,
    )
    code, out, err = env.run(settings, channel=f"{T1}:{C1}")
    assert code == 0, out + err
    assert env.posts() == {C1: "xoxb-single-workspace"}


def test_channel_option_rejects_a_malformed_team(env: Env) -> None:
    code, _, err = env.run(env.settings(C1), channel="T1:C0CHANONE")
    assert code == 2
    assert "T0123ABCD:C0456EFGH" in err
    assert env.slack.calls() == []
