"""The ``coach report --plot`` chart: lookups and the answered rate per day, as a PNG.

matplotlib is the optional ``[plot]`` extra, so it is imported inside :func:`write_plot`:
``bot.report`` must import (for the App Home and the rest of the CLI) without it.
"""

from __future__ import annotations

from pathlib import Path

from bot.report.aggregate import Report
from retrieval.errors import CoachError


class PlotUnavailable(CoachError):
    """matplotlib (the optional ``[plot]`` extra) is not installed, so there is no chart."""

    def __init__(self) -> None:
        super().__init__("--plot needs matplotlib: pip install 'tip-coach[plot]'.")


def write_plot(report: Report, path: Path) -> Path:
    """A PNG: lookups per day (answered and not) above, the answered rate per day below.

    Raises :class:`PlotUnavailable` before touching ``path`` when matplotlib is missing.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.dates import (
            AutoDateLocator,
            ConciseDateFormatter,
            DateFormatter,
            DayLocator,
        )
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator, PercentFormatter
    except ImportError as exc:
        raise PlotUnavailable from exc

    days = [d.day for d in report.days]
    answered = [d.answered for d in report.days]
    others = [d.lookups - d.answered for d in report.days]
    rates = [
        d.answered_rate * 100 if d.answered_rate is not None else float("nan") for d in report.days
    ]

    width = max(7.0, min(12.0, 0.25 * len(days) + 5))
    figure = Figure(figsize=(width, 5.6), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    counts_ax, rate_ax = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    counts_ax.bar(days, answered, color="#2e7d32", label="answered")
    counts_ax.bar(
        days, others, bottom=answered, color="#f9a825", label="no confident answer or failed"
    )
    counts_ax.set_ylabel("lookups")
    counts_ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    counts_ax.set_ylim(0, max([d.lookups for d in report.days] + [1]) * 1.1)
    counts_ax.grid(axis="y", alpha=0.3)
    counts_ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, fontsize=8, frameon=False)

    marker = "o" if len(days) <= 60 else None
    rate_ax.plot(days, rates, color="#1565c0", marker=marker, linewidth=2)
    rate_ax.set_ylim(0, 105)
    rate_ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    rate_ax.set_ylabel("answered")
    rate_ax.grid(axis="y", alpha=0.3)
    if len(days) <= 16:
        rate_ax.xaxis.set_major_locator(DayLocator())
        rate_ax.xaxis.set_major_formatter(DateFormatter("%a\n%b %d"))
    else:
        locator = AutoDateLocator(maxticks=12)
        rate_ax.xaxis.set_major_locator(locator)
        rate_ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    if not report.lookups:
        counts_ax.text(
            0.5,
            0.5,
            "No lookups in this period",
            ha="center",
            va="center",
            transform=counts_ax.transAxes,
            fontsize=12,
            color="#555555",
        )

    summary = (
        f"{report.lookups} lookups, {report.answered_rate:.0%} answered"
        if report.lookups
        else "no lookups"
    )
    figure.suptitle(
        f"Tip Coach lookups per day, {report.start:%Y-%m-%d} to {report.end:%Y-%m-%d}: {summary}",
        fontsize=11,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path
