"""``coach report [--since 7d] [--json] [--plot FILE.png]`` (called by ``bot.cli``).

Only argument checks, error messages and exit codes live here; the numbers come from
``aggregate``, the tables from ``present`` and the chart from ``plot``. rich and the store
are imported inside :func:`main` so importing ``bot.report`` stays light for the App Home.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.report.aggregate import BadSince, build_report, parse_since
from bot.report.plot import PlotUnavailable, write_plot
from bot.report.present import plain, render

if TYPE_CHECKING:
    from rich.console import Console

    from config.settings import Settings


def main(
    settings: Settings,
    since: str = "7d",
    as_json: bool = False,
    plot: Path | None = None,
    console: Console | None = None,
    err_console: Console | None = None,
) -> int:
    """``coach report``: 0 on success, 1 when the store or the chart file fails, 2 for a bad
    argument or ``--plot`` without matplotlib.

    The report goes to ``console`` (stdout), error messages to ``err_console`` (stderr).
    """
    from rich.console import Console

    out = console or Console()
    err = err_console or Console(stderr=True, highlight=False)
    try:
        period = parse_since(since)
    except BadSince as exc:
        err.print(f"[red]Error:[/red] {plain(str(exc))}")
        return 2

    from bot.storage import StorageError, Store

    try:
        with Store.open(settings) as store:
            report = build_report(store, period, datetime.now(UTC))
    except StorageError as exc:
        err.print(f"[red]Error:[/red] {plain(str(exc))}")
        return 1

    if plot is not None:
        if plot.suffix.lower() != ".png":
            err.print(f"[red]Error:[/red] --plot writes a PNG; name the file like {plot.stem}.png.")
            return 2
        try:
            write_plot(report, plot)
        except PlotUnavailable as exc:
            err.print(f"[red]Error:[/red] {plain(str(exc))}")
            return 2
        except OSError as exc:
            err.print(f"[red]Error:[/red] cannot write the chart to {plot}: {exc.strerror or exc}.")
            return 1

    if as_json:
        out.file.write(json.dumps(report.to_json(), ensure_ascii=False) + "\n")
        out.file.flush()
    else:
        render(report, out, period)
        if plot is not None:
            out.print(f"Chart written to {plot}.")
    return 0
