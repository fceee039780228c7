"""Which tip a channel gets this week: a fair rotation, nudged by what reps asked about.

The rule, per channel, from its posting history (``store.weekly_posts``):

* **No repeat before the corpus is exhausted.** A tip is posted for the (n+1)th time only
  when every current tip has been posted n times: the candidates are the tips with the
  fewest posts in that channel. Tips that left the corpus are ignored; tips authors add
  have no posts yet, so they join the current round at once.
* **Full tips first.** Among the candidates, tips with steps (``Tip.full``) come before
  teaser-only ones; then the corpus order (newest first), then the id, so the choice is
  deterministic.
* **What reps asked about.** When the query log shows a candidate was the answer to at
  least :data:`MIN_ASKS` lookups in the last week, the most-asked candidate wins and the
  post says so ("reps asked about this 14 times this week"). It still has to be a
  candidate, so demand never breaks the no-repeat rule.
* **A claim fixes the week.** Once this week is claimed (or posted) in a channel, its tip
  stays the week's tip while it is still in the corpus.

:func:`plan` applies the rule: a pure function over plain records (no Slack, no database,
no clock), so the weekly post and App Home agree on the week's tip by construction. Its
inputs are read by the callers: ``store.weekly_posts`` and :func:`asked_this_week`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from retrieval.errors import CoachError
from retrieval.models import Tip

log = logging.getLogger("bot.weekly")

#: Lookups in the window that make a tip "what reps are asking about" (fewer is noise).
MIN_ASKS = 3
#: How far back "this week" looks in the query log.
ASKED_WINDOW = timedelta(days=7)

Reason = Literal["rotation", "asked", "claimed"]


class NoTips(CoachError):
    """The corpus is empty, so there is nothing to post."""

    def __init__(self) -> None:
        super().__init__("There are no tips to post: the corpus is empty (see README > Corpus).")


class HistoryRow(Protocol):
    """The fields of ``bot.storage.WeeklyRow`` the rotation reads: a narrow interface, so
    the rule can be tested on plain records without a database."""

    @property
    def tip_id(self) -> str: ...

    @property
    def week_key(self) -> str: ...

    @property
    def status(self) -> str: ...


class AskedCounts(Protocol):
    """How many lookups each tip answered in a period (the query log, or nothing).

    ``team_id`` limits the count to one workspace (multi-workspace installs), so a post
    never says "reps asked" about another workspace's lookups.
    """

    def __call__(
        self, since: datetime, until: datetime, team_id: str | None = None
    ) -> Mapping[str, int]: ...


class NoAskedCounts:
    """Pure rotation: used when there is no query log to learn from."""

    def __call__(
        self, since: datetime, until: datetime, team_id: str | None = None
    ) -> Mapping[str, int]:
        return {}


class StoreAskedCounts:
    """Counts from the shared store's query log (``Store.lookups_per_tip``).

    A store without that query (an older storage layer) falls back to pure rotation, once
    logged, rather than failing the weekly post.
    """

    def __init__(self, store: object, *, team_id: str | None = None) -> None:
        self.store = store
        self.team_id = team_id
        self._warned = False

    def __call__(
        self, since: datetime, until: datetime, team_id: str | None = None
    ) -> Mapping[str, int]:
        query = getattr(self.store, "lookups_per_tip", None)
        if query is None:
            if not self._warned:
                log.warning("weekly: the store has no lookups_per_tip query; rotation only")
                self._warned = True
            return {}
        team = team_id if team_id is not None else self.team_id
        counts: Mapping[str, int] = query(since, until, team_id=team)
        return counts


def asked_this_week(
    counts: AskedCounts, now: datetime, team_id: str | None = None
) -> Mapping[str, int]:
    """Lookups per tip in the week before ``now``, or none when the query log cannot be read:
    it only nudges the choice, so it must never cost the week's tip."""
    try:
        return counts(now - ASKED_WINDOW, now, team_id)
    except Exception:
        log.exception("weekly: reading the query log failed; using plain rotation")
        return {}


@dataclass(frozen=True)
class Pick:
    """The week's tip for one channel, and why it was chosen."""

    tip_id: str
    reason: Reason
    asked: int  # lookups it answered in the last week (shown when reason == "asked")
    round: int  # posts every tip already had in this channel when the round began
    remaining: int  # tips still to post in this round, this one included


def rotation_order(tips: Sequence[Tip]) -> list[Tip]:
    """Full tips before teasers; otherwise the corpus order (newest first), then the id."""
    position = {tip.id: n for n, tip in enumerate(tips)}
    return sorted(tips, key=lambda tip: (not tip.full, position[tip.id], tip.id))


def post_counts(history: Iterable[HistoryRow], *, exclude_week: str | None = None) -> Counter[str]:
    """Confirmed posts per tip; unconfirmed claims never count (they may not have gone out)."""
    return Counter(
        row.tip_id for row in history if row.status == "posted" and row.week_key != exclude_week
    )


def choose_tip(
    tips: Sequence[Tip],
    history: Iterable[HistoryRow],
    *,
    week_key: str,
    asked: Mapping[str, int] | None = None,
    min_asks: int = MIN_ASKS,
) -> Pick:
    """This week's tip for a channel (see the module docstring for the rule)."""
    if not tips:
        raise NoTips()
    counts = post_counts(history, exclude_week=week_key)
    current_round = min(counts.get(tip.id, 0) for tip in tips)
    candidates = [tip for tip in rotation_order(tips) if counts.get(tip.id, 0) == current_round]
    asked = asked or {}
    # max() keeps the first of equals, so ties go to the rotation order.
    favourite = max(candidates, key=lambda tip: asked.get(tip.id, 0))
    reason: Reason
    if asked.get(favourite.id, 0) >= min_asks:
        chosen, reason = favourite, "asked"
    else:
        chosen, reason = candidates[0], "rotation"
    return Pick(
        tip_id=chosen.id,
        reason=reason,
        asked=int(asked.get(chosen.id, 0)),
        round=current_round,
        remaining=len(candidates),
    )


def keep_claimed(
    tip_id: str, asked: Mapping[str, int] | None = None, *, min_asks: int = MIN_ASKS
) -> Pick:
    """The tip an earlier, unconfirmed claim already chose: a claim fixes the week's tip.

    (If the earlier attempt did reach Slack, the record then names the tip people saw.)
    """
    count = int((asked or {}).get(tip_id, 0))
    return Pick(
        tip_id=tip_id,
        reason="asked" if count >= min_asks else "claimed",
        asked=count,
        round=0,
        remaining=0,
    )


def plan(
    tips: Sequence[Tip],
    history: Sequence[HistoryRow],
    *,
    week_key: str,
    asked: Mapping[str, int] | None = None,
    min_asks: int = MIN_ASKS,
) -> Pick:
    """The tip a channel gets for ``week_key``, and why (see the module docstring).

    ``tips``: the corpus, newest first (``Coach.tips()``); ``history``: the channel's weekly
    rows (``store.weekly_posts``), this week's claim included; ``asked``: lookups per tip
    this week (:func:`asked_this_week`). Raises :class:`NoTips` for an empty corpus.
    """
    claimed = next((row.tip_id for row in history if row.week_key == week_key), None)
    if claimed is not None and any(tip.id == claimed for tip in tips):
        return keep_claimed(claimed, asked, min_asks=min_asks)
    # No claim yet, or its tip left the corpus since: choose again.
    return choose_tip(tips, history, week_key=week_key, asked=asked, min_asks=min_asks)


def asked_note(pick: Pick, *, min_asks: int = MIN_ASKS) -> str | None:
    """ "Reps asked about this 14 times this week." when demand chose (or backs) the tip."""
    if pick.reason != "asked" or pick.asked < min_asks:
        return None
    return f"Reps asked about this {pick.asked} times this week."
