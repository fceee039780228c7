"""The gap report as data: lookups and feedback rows in, a :class:`Report` out.

The numbers come from the (already redacted) query log and feedback in the store.
Nothing here prints or draws, so tests, the CLI (``bot.report.cli``) and the App Home
(:func:`admin_summary`) share it without loading rich or matplotlib.
"""

from __future__ import annotations

import re
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.privacy import MIN_ASKERS

if TYPE_CHECKING:
    from bot.storage import FeedbackRow, QueryRow, Store
    from bot.storage.guard import GuardedStore

#: The query log's surface for "Next best tip" clicks (a re-ask, not a new lookup).
RE_ASK_SURFACE = "button"
#: How many tips "top situations" lists.
TOP_SITUATIONS = 10

_UNITS = {
    "h": 1 / 24,
    "hour": 1 / 24,
    "hours": 1 / 24,
    "d": 1,
    "day": 1,
    "days": 1,
    "w": 7,
    "week": 7,
    "weeks": 7,
}
_SINCE = re.compile(r"^\s*(\d+)\s*([a-z]+)\s*$", re.IGNORECASE)
MAX_DAYS = 3660


class BadSince(ValueError):
    """``--since`` is not a period like 7d, 24h, 2w."""


def parse_since(value: str) -> timedelta:
    """'7d', '24h', '2w', '30d' (also '7 days') -> timedelta; anything else -> BadSince."""
    match = _SINCE.match(value or "")
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS:
        raise BadSince(
            f"--since {value!r} is not a period: use a number and a unit, like 24h, 7d, 2w or 30d."
        )
    days = int(match.group(1)) * _UNITS[unit]
    if days <= 0:
        raise BadSince(f"--since {value!r} must be longer than zero (like 7d).")
    if days > MAX_DAYS:
        raise BadSince(f"--since {value!r} is too long: at most {MAX_DAYS} days.")
    return timedelta(days=days)


# -- what many people asked, in nobody's words ------------------------------------------

_STOPWORDS = frozenset(
    """a an the is are was were be been am to of and or for in on at with my our your their his
    her its it this that these those i we you they he she me us them has have had do does did
    can could would should will just so very really about from as by but please hi hello hey
    what how there here some any get got into out up not no don dont im i'm it's its""".split()
)
_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
_PLACEHOLDER = re.compile(r"\[[a-z]+\]")
#: How many shared words a group shows at most.
MAX_WORDS = 6


def _words(text: str) -> set[str]:
    """The content words of one (redacted) lookup: lower case, no filler, plural 's' dropped;
    redaction placeholders ("[email]") never count."""
    words = set()
    for word in _WORD.findall(_PLACEHOLDER.sub(" ", text.lower())):
        if word in _STOPWORDS:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        words.add(word)
    return words


def askers_of(rows: Iterable[QueryRow]) -> int:
    """Distinct people behind the rows (lookups from the command line count as one)."""
    return len({row.user_id or "" for row in rows})


def shared_words(asked: Iterable[tuple[str, str | None]]) -> tuple[str, ...]:
    """Words at least :data:`MIN_ASKERS` different people used in (text, user id) pairs,
    most people first: what a group of lookups is about, without anyone's question."""
    people: dict[str, set[str]] = defaultdict(set)
    for text, user_id in asked:
        for word in _words(text):
            people[word].add(user_id or "")
    common = [(word, len(who)) for word, who in people.items() if len(who) >= MIN_ASKERS]
    common.sort(key=lambda item: (-item[1], item[0]))
    return tuple(word for word, _ in common[:MAX_WORDS])


@dataclass(frozen=True)
class Situation:
    """Lookups answered with (or nearest to) one tip: how many, by how many people, and the
    words many of them used. No lookup's own text."""

    count: int
    askers: int
    answered: int
    tip_id: str | None
    title: str | None
    words: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "askers": self.askers,
            "answered": self.answered,
            "tip_id": self.tip_id,
            "title": self.title,
            "words": list(self.words),
        }


def by_tip(rows: Iterable[QueryRow]) -> list[Situation]:
    """Lookups grouped by the tip they were answered with (or were nearest); biggest first."""
    groups: dict[str | None, list[QueryRow]] = defaultdict(list)
    for row in rows:
        groups[row.nearest_tip_id].append(row)
    out = [
        Situation(
            count=len(group),
            askers=askers_of(group),
            answered=sum(1 for row in group if row.answered),
            tip_id=tip_id,
            title=next((r.nearest_title for r in group if r.nearest_title), None),
            words=shared_words((row.text, row.user_id) for row in group),
        )
        for tip_id, group in groups.items()
    ]
    out.sort(key=lambda s: (-s.count, s.tip_id is None, s.tip_id or ""))
    return out


# -- the report ------------------------------------------------------------------------


@dataclass(frozen=True)
class SurfaceStats:
    """Lookups from one surface (dm, mention, slash...): where reps ask and how well it goes."""

    surface: str
    lookups: int
    answered: int

    @property
    def answered_rate(self) -> float:
        return self.answered / self.lookups if self.lookups else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "surface": self.surface,
            "lookups": self.lookups,
            "answered": self.answered,
            "answered_rate": round(self.answered_rate, 4),
        }


@dataclass(frozen=True)
class DayStats:
    """One UTC date of the period, kept even when empty so the chart has no holes."""

    day: date
    lookups: int
    answered: int

    @property
    def answered_rate(self) -> float | None:
        return self.answered / self.lookups if self.lookups else None

    def to_json(self) -> dict[str, Any]:
        rate = self.answered_rate
        return {
            "day": self.day.isoformat(),
            "lookups": self.lookups,
            "answered": self.answered,
            "answered_rate": None if rate is None else round(rate, 4),
        }


#: Unanswered lookups nearest one tip (what authors should write next) are a Situation.
Gap = Situation


@dataclass(frozen=True)
class Helpfulness:
    """The 👍/👎 votes on one tip, with what the 👎 voters said was wrong."""

    tip_id: str
    title: str | None
    up: int
    down: int
    comments: tuple[str, ...] = ()

    @property
    def ratio(self) -> float:
        """Share of 👍 among the votes."""
        total = self.up + self.down
        return self.up / total if total else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "tip_id": self.tip_id,
            "title": self.title,
            "up": self.up,
            "down": self.down,
            "ratio": round(self.ratio, 4),
            "comments": list(self.comments),
        }


@dataclass(frozen=True)
class Report:
    """Everything the report shows for ``[start, end)``; ``to_json`` is the ``--json`` output."""

    start: datetime
    end: datetime
    lookups: int
    answered: int
    errors: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    surfaces: tuple[SurfaceStats, ...]
    days: tuple[DayStats, ...]
    top_situations: tuple[Situation, ...]
    gaps: tuple[Gap, ...]
    helpfulness: tuple[Helpfulness, ...]
    #: "Next best tip" clicks: the same question asked again, not a new lookup.
    re_asks: int = 0
    #: Declined as not a customer situation (VPN, wifi, PTO...): not a gap in the tips.
    off_topic_count: int = 0
    off_topic_words: tuple[str, ...] = ()

    @property
    def answered_rate(self) -> float:
        return self.answered / self.lookups if self.lookups else 0.0

    @property
    def unanswered(self) -> int:
        return sum(gap.count for gap in self.gaps)

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.start.isoformat(),
            "until": self.end.isoformat(),
            "lookups": self.lookups,
            "answered": self.answered,
            "answered_rate": round(self.answered_rate, 4),
            "unanswered": self.unanswered,
            "errors": self.errors,
            "latency_ms": {"p50": _round(self.latency_p50_ms), "p95": _round(self.latency_p95_ms)},
            "surfaces": [s.to_json() for s in self.surfaces],
            "days": [d.to_json() for d in self.days],
            "top_situations": [s.to_json() for s in self.top_situations],
            "gaps": [g.to_json() for g in self.gaps],
            "helpfulness": [h.to_json() for h in self.helpfulness],
            "re_asks": self.re_asks,
            "off_topic": {"count": self.off_topic_count, "words": list(self.off_topic_words)},
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return float(values[0])
    return float(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1])


def _days(rows: Sequence[QueryRow], start: datetime, end: datetime) -> tuple[DayStats, ...]:
    per_day: dict[date, list[QueryRow]] = defaultdict(list)
    for row in rows:
        per_day[row.created_at.astimezone(UTC).date()].append(row)
    first, last = start.astimezone(UTC).date(), end.astimezone(UTC).date()
    out = []
    day = first
    while day <= last:
        day_rows = per_day.get(day, [])
        out.append(DayStats(day, len(day_rows), sum(1 for r in day_rows if r.answered)))
        day += timedelta(days=1)
    return tuple(out)


def _helpfulness(votes: Sequence[FeedbackRow], titles: dict[str, str]) -> tuple[Helpfulness, ...]:
    per_tip: dict[str, list[FeedbackRow]] = defaultdict(list)
    for vote in votes:
        per_tip[vote.tip_id].append(vote)
    out = []
    for tip_id, tip_votes in per_tip.items():
        up = sum(1 for v in tip_votes if v.helpful)
        comments = tuple(v.comment for v in tip_votes if v.comment and not v.helpful)
        out.append(Helpfulness(tip_id, titles.get(tip_id), up, len(tip_votes) - up, comments))
    # Most votes first; among equals, the least helpful first (it needs attention).
    out.sort(key=lambda h: (-(h.up + h.down), h.ratio, h.tip_id))
    return tuple(out)


def build_report(
    store: Store | GuardedStore, since: timedelta, now: datetime, *, team_id: str | None = None
) -> Report:
    """Everything ``coach report`` shows, for lookups in ``[now - since, now)``.

    ``team_id`` limits it to one workspace; the CLI (an operator) sees them all.
    """
    end = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    start = end - since
    logged = store.queries_between(start, end, team_id=team_id)
    votes = store.feedback_between(start, end, team_id=team_id)
    rows = [row for row in logged if row.surface != RE_ASK_SURFACE]  # new questions only

    surfaces: dict[str, list[QueryRow]] = defaultdict(list)
    for row in rows:
        surfaces[row.surface].append(row)
    surface_stats = sorted(
        (
            SurfaceStats(name, len(rs), sum(1 for r in rs if r.answered))
            for name, rs in surfaces.items()
        ),
        key=lambda s: (-s.lookups, s.surface),
    )

    failed = [row for row in rows if row.error]
    declined = [row for row in rows if not row.answered and not row.error]
    off_topic = [row for row in declined if row.tier == "offtopic"]
    unanswered = [row for row in declined if row.tier != "offtopic"]
    gaps = by_tip(unanswered)

    titles = {
        r.nearest_tip_id: r.nearest_title for r in rows if r.nearest_tip_id and r.nearest_title
    }
    titles.update(
        (r.nearest_tip_id, r.nearest_title)
        for r in logged
        if r.nearest_tip_id and r.nearest_title and r.nearest_tip_id not in titles
    )
    missing = {v.tip_id for v in votes} - titles.keys()
    if missing:
        titles.update(store.tip_titles(missing))

    latencies = [row.latency_ms for row in rows if not row.error]
    return Report(
        start=start,
        end=end,
        lookups=len(rows),
        answered=sum(1 for row in rows if row.answered),
        errors=len(failed),
        latency_p50_ms=_percentile(latencies, 50),
        latency_p95_ms=_percentile(latencies, 95),
        surfaces=tuple(surface_stats),
        days=_days(rows, start, end),
        top_situations=tuple(by_tip(rows)[:TOP_SITUATIONS]),
        gaps=tuple(gaps),
        helpfulness=_helpfulness(votes, titles),
        re_asks=len(logged) - len(rows),
        off_topic_count=len(off_topic),
        off_topic_words=shared_words((row.text, row.user_id) for row in off_topic),
    )


def describe_period(since: timedelta) -> str:
    """'7 days', '24 hours', '2 weeks': the period as people say it."""
    hours = since.total_seconds() / 3600
    if hours < 48 and hours == int(hours):
        return f"{int(hours)} hour{'s' if hours != 1 else ''}"
    days = since.days
    if days % 7 == 0 and days >= 14:
        return f"{days // 7} weeks"
    return f"{days} day{'s' if days != 1 else ''}"


def _quote(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return "“" + (text if len(text) <= limit else text[: limit - 1] + "…") + "”"


#: How long an admin summary is served before it is counted again.
SUMMARY_SECONDS = 300.0


class SharedSummaries:
    """Admin summaries, counted at most once per workspace and period every
    :data:`SUMMARY_SECONDS` and shared by concurrent opens: ten admins opening App Home at
    once cost one count, the others wait for it, and reps' answers never queue behind a
    pile of reports. A failed count is not kept (the next open tries again)."""

    def __init__(
        self, seconds: float = SUMMARY_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds, self.clock = seconds, clock
        self._lock = threading.Lock()
        self._keys: dict[tuple[str | None, int], threading.Lock] = {}
        self._kept: dict[tuple[str | None, int], tuple[float, list[str]]] = {}

    def lines(
        self,
        store: Store | GuardedStore,
        now: datetime,
        since: timedelta = timedelta(days=7),
        *,
        team_id: str | None = None,
    ) -> list[str]:
        """:func:`admin_summary`, from memory when it is fresh enough."""
        key = (team_id, int(since.total_seconds()))
        with self._lock:
            one_at_a_time = self._keys.setdefault(key, threading.Lock())
        with one_at_a_time:
            kept = self._kept.get(key)
            if kept is not None and self.clock() - kept[0] < self.seconds:
                return list(kept[1])
            lines = admin_summary(store, now, since, team_id=team_id)
            self._kept[key] = (self.clock(), lines)
            return list(lines)


def _people(n: int) -> str:
    return f"{n} {'person' if n == 1 else 'people'}"


def admin_summary(
    store: Store | GuardedStore,
    now: datetime,
    since: timedelta = timedelta(days=7),
    *,
    team_id: str | None = None,
) -> list[str]:
    """A few plain-text lines of the gap report for admins' App Home (their workspace only).

    Lines hold counts, tip titles and words many people used, never one rep's question;
    escape them before putting them in Block Kit. Counted by the database, so an admin's
    open costs a few aggregate queries, not a week of rows in memory.
    """
    end = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    summary = store.gap_summary(team_id=team_id, start=end - since, end=end)
    period = describe_period(since)
    if not summary.lookups:
        return [f"No lookups in the last {period}."]
    lines = [
        f"{summary.lookups} lookups in the last {period}, "
        f"{summary.answered / summary.lookups:.0%} answered ({summary.answered})."
    ]
    if summary.gaps:
        lines.append(f"No confident answer for {summary.unanswered}; most often near:")
        for _tip_id, title, count, askers, sample in summary.gaps:
            name = _quote(title, 50) if title else "no tip close"
            common = shared_words(sample)
            words = f"; words {MIN_ASKERS}+ people used: {', '.join(common)}" if common else ""
            lines.append(f"• {name}: {count} by {_people(askers)}{words}")
    rated = [(tip, up, down) for tip, up, down in summary.votes if down]
    if rated:
        tip_id, up, down = min(rated, key=lambda v: (v[1] / (v[1] + v[2]), -v[2], v[0]))
        title = store.tip_titles([tip_id]).get(tip_id) or tip_id
        lines.append(f"Least helpful: {_quote(title, 50)} ({up} 👍 / {down} 👎).")
    return lines
