"""The gap report as rich tables for the terminal (``coach report`` without ``--json``).

rich is imported inside the functions: ``bot.report`` is also imported by the App Home,
which only needs the data and should not load a terminal library.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from bot.privacy import MIN_ASKERS
from bot.report.aggregate import Report, describe_period

if TYPE_CHECKING:
    from rich.console import Console


def render(report: Report, console: Console, since: timedelta) -> None:
    """Readable tables for the terminal."""
    from rich.table import Table

    period = describe_period(since)
    console.print(
        f"[bold]Tip Coach report[/bold]: last {period} "
        f"({report.start:%Y-%m-%d %H:%M} → {report.end:%Y-%m-%d %H:%M} UTC)"
    )
    if not report.lookups:
        console.print(f"No lookups in the last {period}.")
    else:
        latency = (
            f"; latency p50 {report.latency_p50_ms:.0f} ms, p95 {report.latency_p95_ms:.0f} ms"
            if report.latency_p50_ms is not None and report.latency_p95_ms is not None
            else ""
        )
        console.print(
            f"{report.lookups} lookups, {report.answered} answered ({report.answered_rate:.0%}), "
            f"{report.unanswered} without a confident answer, {report.errors} failed{latency}."
        )
        if report.off_topic_count or report.re_asks:
            console.print(
                f"Not counted as gaps: {report.off_topic_count} off-topic "
                f'(not about a customer), {report.re_asks} "Next best tip" re-asks.'
            )

        table = Table(title="Lookups per surface", title_justify="left")
        table.add_column("Surface")
        table.add_column("Lookups", justify="right")
        table.add_column("Answered", justify="right")
        table.add_column("Rate", justify="right")
        for s in report.surfaces:
            table.add_row(s.surface, str(s.lookups), str(s.answered), f"{s.answered_rate:.0%}")
        console.print(table)

        table = Table(
            title=f"Top situations, by tip (words {MIN_ASKERS}+ people used; never anyone's question)",
            title_justify="left",
        )
        table.add_column("#", justify="right")
        table.add_column("People", justify="right")
        table.add_column("Tip", overflow="fold")
        table.add_column("Answered", justify="right")
        table.add_column("Shared words", overflow="fold")
        for situation in report.top_situations:
            table.add_row(
                str(situation.count),
                str(situation.askers),
                plain(situation.title or "(no tip close)"),
                f"{situation.answered}/{situation.count}",
                plain(", ".join(situation.words)) or "—",
            )
        console.print(table)

        table = Table(
            title="No confident answer, by nearest tip (what to write next)", title_justify="left"
        )
        table.add_column("#", justify="right")
        table.add_column("People", justify="right")
        table.add_column("Nearest tip", overflow="fold")
        table.add_column("Shared words", overflow="fold")
        for gap in report.gaps:
            table.add_row(
                str(gap.count),
                str(gap.askers),
                plain(gap.title or gap.tip_id or "(no tip close)"),
                plain(", ".join(gap.words)) or "—",
            )
        if not report.gaps:
            table.add_row("0", "0", "—", "Every lookup got a confident answer.")
        console.print(table)
        if report.gaps:
            console.print(
                "Attach a tip to a situation (that workspace's reps then get it): "
                'coach situations add --team T… --tip <tip id> --text "<situation>"',
                markup=False,
                highlight=False,
            )
        if report.off_topic_count:
            words = ", ".join(report.off_topic_words) or "—"
            console.print(
                f"Off-topic (declined: not a customer situation; no tip to write): "
                f"{report.off_topic_count}; shared words: {words}",
                markup=False,
                highlight=False,
            )

    table = Table(title="Helpfulness per tip", title_justify="left")
    table.add_column("Tip", overflow="fold")
    table.add_column("👍", justify="right")
    table.add_column("👎", justify="right")
    table.add_column("Helpful", justify="right")
    table.add_column("What reps sent with a 👎 (redacted)", overflow="fold")
    for h in report.helpfulness:
        table.add_row(
            plain(h.title or h.tip_id),
            str(h.up),
            str(h.down),
            f"{h.ratio:.0%}",
            "\n".join(plain(c) for c in h.comments[:3]),
        )
    if not report.helpfulness:
        table.add_row("—", "0", "0", "—", "No 👍/👎 in this period.")
    console.print(table)


def plain(text: str) -> str:
    """Rep text as literal text: rich must not read "[bold]" in it as markup."""
    from rich.markup import escape

    return escape(text)
