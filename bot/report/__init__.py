"""The gap report: what reps asked (as counts per tip and words many of them used), what the coach could not answer, which tips helped.

* ``aggregate`` - the data: query-log and feedback rows grouped into a :class:`Report`,
  ``--since`` periods, and the App Home's short :func:`admin_summary`
* ``present``   - the report as rich tables for the terminal
* ``plot``      - the ``--plot`` PNG (needs the optional ``[plot]`` extra, matplotlib)
* ``cli``       - ``coach report [--since 7d] [--json] [--plot FILE.png]``

Callers import from ``bot.report``; importing it loads neither rich nor matplotlib.
"""

from bot.report.aggregate import (
    BadSince,
    DayStats,
    Gap,
    Helpfulness,
    Report,
    SharedSummaries,
    Situation,
    SurfaceStats,
    admin_summary,
    build_report,
    by_tip,
    describe_period,
    parse_since,
    shared_words,
)
from bot.report.cli import main
from bot.report.plot import PlotUnavailable, write_plot
from bot.report.present import render

__all__ = [
    "BadSince",
    "DayStats",
    "Gap",
    "Helpfulness",
    "PlotUnavailable",
    "Report",
    "SharedSummaries",
    "Situation",
    "SurfaceStats",
    "admin_summary",
    "build_report",
    "by_tip",
    "describe_period",
    "main",
    "parse_since",
    "render",
    "shared_words",
    "write_plot",
]
