"""App Home: this week's tip, how to ask, the rep's own recent lookups, and (for admins)
a short gap report, published with ``views.publish`` whenever a rep opens the Home tab.

Each part is read on its own: a broken index, an empty corpus or a database hiccup costs
that part of the tab (which then says so), never the whole tab. A refused publish is
logged. Publishing is idempotent, so there is no event de-duplication here.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot import render
from bot.delivery import ReplyTarget, deliver
from bot.deps import CoachLike, Deps
from bot.listeners.common import answer_after_ack, lookup, with_deps
from bot.logs import log_fields
from bot.render.teach import LearnedItem, TeachableItem
from retrieval.errors import CoachError
from retrieval.models import TipAnswer

#: How many of the rep's own lookups the tab lists.
RECENT_LOOKUPS = 8
#: The admins' gap report covers this period (the full one is ``coach report``).
ADMIN_PERIOD = timedelta(days=7)
#: Longest wait for the model and index while the bot is still starting (after the ack).
HOME_COACH_WAIT = 10.0
REPORT_UNAVAILABLE = "The gap report could not be built just now (see the bot's logs)."


def this_weeks_tip(
    deps: Deps, coach: CoachLike, now: datetime, team_id: str | None = None
) -> tuple[TipAnswer | None, str | None, str | None]:
    """(tip, why it was chosen, problem): the tip the weekly post has (or will have) this week.

    The weekly post's own choice (``bot.weekly.rotation.plan``, on the same inputs) for the
    first weekly channel (the first of the rep's workspace, ``T…:C…`` entries), or the
    rotation's choice when no channel is configured. Should that fail, the newest full tip,
    so the tab still teaches something.
    """
    from bot.weekly.rotation import NoTips

    try:
        return (*_planned_tip(deps, coach, now, team_id), None)
    except NoTips as exc:
        return None, None, str(exc)
    except Exception as exc:
        deps.logger.error(
            "home: choosing this week's tip failed; showing the newest full tip",
            exc_info=exc,
            extra=log_fields(error_type=type(exc).__name__),
        )
    try:
        return _newest_full_tip(coach), None, None
    except Exception as exc:
        deps.logger.error("home: no tip to show", extra=log_fields(error_type=type(exc).__name__))
        return None, None, "This week's tip can't be shown right now."


def _planned_tip(
    deps: Deps, coach: CoachLike, now: datetime, team_id: str | None = None
) -> tuple[TipAnswer, str | None]:
    from bot.weekly.rotation import StoreAskedCounts, asked_note, asked_this_week, plan
    from bot.weekly.schedule import Schedule

    settings = deps.settings
    targets = settings.weekly_targets
    # The rep's own workspace's channel, else a plain entry, else the first one.
    team, channel = next(
        (t for t in targets if t[0] is not None and t[0] == team_id),
        next((t for t in targets if t[0] is None), targets[0] if targets else (None, "")),
    )
    # Whose lookups count: the channel's workspace; a plain entry in multi-workspace mode
    # posts to the one installed workspace, the rep's; single-workspace mode counts them all.
    asked_team = team or (team_id if settings.oauth_enabled else None)
    week = Schedule.from_settings(settings).week_key(now)
    rows = deps.store.weekly_posts(channel) if channel else []
    asked = asked_this_week(StoreAskedCounts(deps.store), now, asked_team)
    pick = plan(coach.tips(), rows, week_key=week, asked=asked)
    return coach.tip_card(pick.tip_id), asked_note(pick)


def _newest_full_tip(coach: CoachLike) -> TipAnswer:
    from bot.weekly.rotation import NoTips

    tips = coach.tips()  # newest first
    if not tips:
        raise NoTips()
    chosen = next((tip for tip in tips if tip.full), tips[0])
    return coach.tip_card(chosen.id)


def recent_lookups(
    deps: Deps, *, team_id: str | None, user_id: str
) -> list[render.RecentLookup] | None:
    """The rep's own latest lookups (already redacted by the store); None if unreadable."""
    try:
        rows = deps.store.recent_queries(team_id=team_id, user_id=user_id, limit=RECENT_LOOKUPS)
    except Exception as exc:
        deps.logger.error(
            "home: reading recent lookups failed", extra=log_fields(error_type=type(exc).__name__)
        )
        return None
    return [
        render.RecentLookup(
            text=row.text,
            when=row.created_at,
            answered=row.answered,
            title=row.nearest_title,
            query_id=row.id,
        )
        for row in rows
    ]


def admin_lines(deps: Deps, now: datetime, team_id: str | None = None) -> list[str]:
    """The short gap report (``bot.report.admin_summary``), or a line saying it failed."""
    try:
        return deps.summaries.lines(deps.store, now, since=ADMIN_PERIOD, team_id=team_id)
    except Exception as exc:
        deps.logger.error(
            "home: building the gap report failed", extra=log_fields(error_type=type(exc).__name__)
        )
        return [REPORT_UNAVAILABLE]


def _title(coach: CoachLike | None, tip_id: str) -> str:
    try:
        return coach.tip_card(tip_id).title if coach is not None else tip_id
    except Exception:
        return tip_id


def teach_parts(
    deps: Deps, coach: CoachLike | None, now: datetime, team_id: str | None
) -> tuple[list[TeachableItem] | None, list[LearnedItem] | None]:
    """Admins' teaching part: recent questions answered badly, and what the workspace
    taught; each None when it cannot be read."""
    teachable: list[TeachableItem] | None
    learned: list[LearnedItem] | None
    try:
        rows = deps.store.teachable_queries(team_id=team_id, since=now - ADMIN_PERIOD)
        teachable = [
            TeachableItem(
                query_id=row.id,
                text=row.text,
                when=row.created_at,
                outcome=(row.nearest_title or row.tip_id or "") if row.answered else "declined",
            )
            for row in rows
        ]
    except Exception as exc:
        deps.logger.error(
            "home: reading questions to teach failed",
            extra=log_fields(error_type=type(exc).__name__),
        )
        teachable = None
    try:
        situations = deps.store.learned_situations(team_id) if team_id else []
        learned = [
            LearnedItem(
                id=row.id,
                text=row.text,
                tip_title=_title(coach, row.tip_id),
                source=row.source,
                created_by=row.created_by,
                when=row.created_at,
            )
            for row in reversed(situations)  # newest first
        ]
    except Exception as exc:
        deps.logger.error(
            "home: reading learned situations failed",
            extra=log_fields(error_type=type(exc).__name__),
        )
        learned = None
    return teachable, learned


def _team_channels(deps: Deps, team_id: str | None) -> list[str]:
    """The weekly channels of this workspace (``T…:C…`` entries) or the plain ones."""
    return [
        channel
        for team, channel in deps.settings.weekly_targets
        if team is None or team_id is None or team == team_id
    ]


def _membership(client: WebClient, channel: str) -> bool | None:
    """Is the bot in ``channel``? Read with the history scope the bot has; None: unknown."""
    try:
        client.conversations_history(channel=channel, limit=1)
        return True
    except SlackApiError as exc:
        code = str(exc.response.get("error") or "")
        return False if code in {"not_in_channel", "channel_not_found"} else None
    except SlackClientError:
        return None


def checklist(
    deps: Deps, client: WebClient | None, team_id: str | None
) -> list[render.ChecklistItem]:
    """What an admin has to set up, each with what to do (a button, never a shell command)."""
    settings = deps.settings
    items: list[render.ChecklistItem] = []
    channels = _team_channels(deps, team_id)
    if not channels:
        items.append(
            render.ChecklistItem(
                False,
                "No weekly-tip channel yet: ask whoever deploys the bot to set "
                "`COACH_WEEKLY_CHANNELS` to the channel's id.",
            )
        )
    for channel in channels:
        joined = _membership(client, channel) if client is not None else None
        if joined:
            text = f"The weekly tip goes to <#{channel}> and I'm in it."
            items.append(
                render.ChecklistItem(
                    True, text, ("Preview this week's tip", render.ACTION_HOME_PREVIEW_WEEKLY)
                )
            )
        elif joined is False:
            text = (
                f"The weekly tip goes to <#{channel}>, but I'm not in it: type "
                "`/invite @Tip Coach` there."
            )
            items.append(
                render.ChecklistItem(False, text, ("Check again", render.ACTION_HOME_REFRESH))
            )
        else:
            text = f"The weekly tip goes to <#{channel}> (I could not check that I'm in it)."
            items.append(
                render.ChecklistItem(False, text, ("Check again", render.ACTION_HOME_REFRESH))
            )
    leads = settings.leads_channel_for(team_id)
    items.append(
        render.ChecklistItem(True, f"Leads answer reps' questions in <#{leads}>.")
        if leads
        else render.ChecklistItem(
            False,
            "No leads channel: set `COACH_LEADS_CHANNEL` so reps can ask a lead when I have "
            "no tip.",
        )
    )
    admins = ", ".join(f"<@{user}>" for user in settings.admins)
    items.append(render.ChecklistItem(True, f"Admins (`COACH_ADMINS`): {admins}."))
    return items


def home_content(
    deps: Deps,
    *,
    user_id: str,
    team_id: str | None,
    now: datetime | None = None,
    client: WebClient | None = None,
) -> render.HomeContent:
    """Everything the rep's Home tab shows, each part read on its own."""
    now = now or datetime.now(UTC)
    tip: TipAnswer | None = None
    note = problem = None
    coach: CoachLike | None = None
    try:
        coach = deps.coach.get(min(HOME_COACH_WAIT, deps.coach_wait_seconds))
    except CoachError as exc:  # still loading, or the index is broken: the rest still shows
        problem = str(exc)
    else:
        tip, note, problem = this_weeks_tip(deps, coach, now, team_id)
    is_admin = user_id in deps.settings.admins
    teachable, learned = teach_parts(deps, coach, now, team_id) if is_admin else (None, None)
    return render.HomeContent(
        slash_command=deps.settings.slash_command,
        tip=tip,
        tip_note=note,
        tip_problem=problem,
        recent=recent_lookups(deps, team_id=team_id, user_id=user_id),
        admin_lines=admin_lines(deps, now, team_id) if is_admin else None,
        admin_period="7 days",
        teachable=teachable,
        learned=learned,
        checklist=checklist(deps, client, team_id) if is_admin else None,
    )


def publish_home(deps: Deps, client: WebClient, *, user_id: str, team_id: str | None) -> bool:
    """Build and publish the rep's Home tab; True when Slack accepted it."""
    started = time.perf_counter()
    content = home_content(deps, user_id=user_id, team_id=team_id, client=client)
    view = render.home_view(content)
    try:
        client.views_publish(user_id=user_id, view=view)
    except SlackApiError as exc:
        try:
            code = str(exc.response.get("error") or "unknown_error")
        except Exception:
            code = "unknown_error"
        deps.logger.error(
            "home: views.publish refused",
            extra=log_fields(slack_error=code, team_id=team_id, blocks=len(view["blocks"])),
        )
        return False
    except SlackClientError as exc:
        deps.logger.error(
            "home: slack unreachable", extra=log_fields(error_type=type(exc).__name__)
        )
        return False
    deps.logger.info(
        "home published",
        extra=log_fields(
            team_id=team_id,
            tip_id=content.tip.id if content.tip else None,
            recent=len(content.recent) if content.recent is not None else None,
            admin=content.admin_lines is not None,
            blocks=len(view["blocks"]),
            ms=round((time.perf_counter() - started) * 1000.0, 1),
        ),
    )
    return True


def handle_home_opened(
    event: dict[str, Any], client: WebClient, context: BoltContext, *, deps: Deps
) -> None:
    """Fresh content every time the Home tab opens (the Messages tab needs nothing)."""
    if event.get("tab", "home") != "home":
        return
    user_id = event.get("user") or context.user_id
    if not user_id:
        return
    team_id = context.team_id
    deps.run_later("home", lambda: publish_home(deps, client, user_id=user_id, team_id=team_id))


def _clicker(body: dict[str, Any], context: BoltContext) -> tuple[str | None, str | None]:
    user = (body.get("user") or {}).get("id") or context.user_id
    team = (body.get("team") or {}).get("id") or context.team_id
    return user, team


def _dm(user_id: str, team_id: str | None) -> ReplyTarget:
    return ReplyTarget(channel=user_id, user_id=user_id, team_id=team_id)


def _admin_dm(deps: Deps, body: dict[str, Any], context: BoltContext) -> ReplyTarget | None:
    """The clicking admin's DM; None for anyone not in ``COACH_ADMINS`` (the button is
    only on admins' tabs, but a crafted click must not get the report)."""
    user_id, team_id = _clicker(body, context)
    if not user_id or user_id not in deps.settings.admins:
        return None
    return _dm(user_id, team_id)


def handle_reopen(
    ack: Any, body: dict[str, Any], client: WebClient, context: BoltContext, *, deps: Deps
) -> None:
    """ "Open again" on a recent lookup: the answer again, in the rep's DM with the bot."""
    ack()
    user_id, team_id = _clicker(body, context)
    if not user_id:
        return
    where = _dm(user_id, team_id)

    def reopen() -> None:
        from bot.listeners.actions import situation_text

        try:
            value = render.ButtonValue.decode((body.get("actions") or [{}])[0].get("value"))
        except render.StaleButton as exc:
            deliver(deps, client, where, render.notice_message(str(exc)))
            return
        text = situation_text(deps, value, team_id)
        if not text.strip():
            deliver(deps, client, where, render.notice_message(render.STALE_BUTTON))
            return
        result = lookup(deps, text=text, surface="home", team_id=team_id, user_id=user_id)
        deliver(deps, client, where, result.message)

    answer_after_ack(deps, "home_reopen", reopen, client=client, where=where)


def handle_report(
    ack: Any, body: dict[str, Any], client: WebClient, context: BoltContext, *, deps: Deps
) -> None:
    """An admin's "Send me the 30-day report": the gap report as a DM (no shell needed)."""
    ack()
    where = _admin_dm(deps, body, context)
    if where is None:
        return
    team_id = where.team_id

    def send_report() -> None:
        lines = deps.summaries.lines(
            deps.store, datetime.now(UTC), since=timedelta(days=30), team_id=team_id
        )
        text = "*Gap report, last 30 days*\n" + "\n".join(render.escape(line) for line in lines)
        deliver(deps, client, where, render.Message(text=text, blocks=render.text_blocks(text)))

    answer_after_ack(deps, "home_report", send_report, client=client, where=where)


def handle_preview_weekly(
    ack: Any, body: dict[str, Any], client: WebClient, context: BoltContext, *, deps: Deps
) -> None:
    """An admin's "Preview this week's tip": the planned card, privately, before it posts."""
    ack()
    where = _admin_dm(deps, body, context)
    if where is None:
        return
    team_id = where.team_id

    def preview() -> None:
        coach = deps.coach.get(HOME_COACH_WAIT)
        tip, note, problem = this_weeks_tip(deps, coach, datetime.now(UTC), team_id)
        if tip is None:
            deliver(deps, client, where, render.notice_message(problem or "No tip planned."))
            return
        card = render.full_tip_message(tip, query_id=None)
        heading = "Preview of this week's tip" + (f" ({note})" if note else "")
        deliver(deps, client, where, render.with_heading(card, heading))

    answer_after_ack(deps, "home_preview", preview, client=client, where=where)


def handle_refresh(
    ack: Any, body: dict[str, Any], client: WebClient, context: BoltContext, *, deps: Deps
) -> None:
    """ "Check again": the tab rebuilt (e.g. after inviting the bot to the weekly channel)."""
    ack()
    user_id, team_id = _clicker(body, context)
    if user_id:
        deps.run_later("home", lambda: publish_home(deps, client, user_id=user_id, team_id=team_id))


def register(app: App, deps: Deps) -> None:
    app.event("app_home_opened")(with_deps(handle_home_opened, deps))
    app.action(render.ACTION_HOME_REOPEN)(with_deps(handle_reopen, deps))
    app.action(render.ACTION_HOME_REPORT)(with_deps(handle_report, deps))
    app.action(render.ACTION_HOME_PREVIEW_WEEKLY)(with_deps(handle_preview_weekly, deps))
    app.action(render.ACTION_HOME_REFRESH)(with_deps(handle_refresh, deps))
