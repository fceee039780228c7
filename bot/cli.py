"""``coach``: the one console script, a thin layer over :class:`retrieval.engine.Coach`.

Exit codes: 0 success, 1 a runtime problem (index, model, Slack), 2 bad usage or bad
settings (empty text, malformed environment). Slack-side commands import their modules
lazily so ``coach ask`` never pays for them.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from config.settings import Settings, SettingsError, load_settings
from retrieval.errors import CoachError, EmptyQuery

if TYPE_CHECKING:
    from retrieval.engine import Coach
    from retrieval.models import Answer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Tip Coach: the right customer-service tip for a rep's situation.",
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False)


def _quiet_libraries() -> None:
    """Offline, and no download/progress chatter from Hugging Face libraries.

    Corpus problems are printed by the commands themselves, so the retrieval logger's
    own warnings would only repeat them.
    """
    import logging

    logging.getLogger("coach.retrieval").setLevel(logging.ERROR)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from None


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]{escape(message)}[/red]")
    return typer.Exit(code)


def _open_coach(settings: Settings, *, rebuild: bool = False, show_progress: bool = True) -> Coach:
    """Load the model and index, with a progress bar when the index has to be built."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from retrieval.engine import Coach

    with Progress(
        TextColumn("[bold]Indexing tips"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not show_progress,
    ) as progress:
        task = None

        def step(done: int, total: int) -> None:
            nonlocal task
            if task is None:
                task = progress.add_task("embed", total=total)
            progress.update(task, completed=done)

        try:
            coach = Coach.from_settings(settings, rebuild=rebuild, progress=step)
        except CoachError as exc:
            raise _fail(str(exc)) from None
    for problem in coach.report.problems:
        err.print(f"[yellow]warning:[/yellow] {escape(str(problem))}")
    if coach.report.status.startswith("rebuilt"):
        err.print(f"[yellow]{escape(coach.report.reason)}[/yellow] (rebuilt automatically)")
    return coach


# -- rendering for the terminal --------------------------------------------------------------


def _hanging(console: Console, marks: list[str], texts: Sequence[str]) -> None:
    """Numbered lines whose wrapped continuation stays indented under the text."""
    width = max(40, console.width)
    for mark, text in zip(marks, texts, strict=True):
        prefix = f"{mark:>4} "
        wrapped = textwrap.fill(
            text,
            width=width,
            initial_indent=prefix,
            subsequent_indent=" " * len(prefix),
            break_on_hyphens=False,
        )
        console.print(escape(wrapped))


def render_answer(answer: Answer, console: Console) -> None:
    """Readable terminal output: title, date, numbered steps, quoted phrases, source."""
    if not answer.answered:
        console.print(
            f"[bold yellow]No confident match[/bold yellow] (confidence {answer.confidence:.2f})."
        )
        if answer.suggestions:
            console.print("Nearest topics:")
            for suggestion in answer.suggestions:
                console.print(f"  • {escape(suggestion.title)}")
        console.print(
            "Try describing what the customer said or wants, e.g. 'customer wants a refund after the deadline'."
        )
        return
    top = answer.tips[0]
    when = top.date.strftime("%b %-d, %Y") if top.date else "undated"
    console.print(
        f"[bold]{escape(top.title)}[/bold]  [dim]{when} · {escape(', '.join(top.categories))}[/dim]"
    )
    console.print(f"[dim]confidence {answer.confidence:.2f}[/dim]")
    if top.steps:
        console.print("\n[bold]Steps[/bold]")
        _hanging(console, [f"{n}." for n in range(1, len(top.steps) + 1)], top.steps)
    if top.phrases:
        console.print("\n[bold]Say it like this[/bold]")
        _hanging(console, ["»"] * len(top.phrases), [f"“{p}”" for p in top.phrases])
    if top.summary and top.summary not in top.steps:
        label = "Takeaway" if top.takeaway and top.summary == top.takeaway else "In short"
        console.print(f"\n[bold]{label}:[/bold] {escape(top.summary)}")
    console.print(f"\n[dim]Source: {escape(top.source)}[/dim]")
    if len(answer.tips) > 1:
        others = ", ".join(f"{escape(tip.title)} ({tip.score:.2f})" for tip in answer.tips[1:])
        console.print(f"[dim]Also relevant: {others}[/dim]")


def _json_line(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
    sys.stdout.flush()


# -- commands ------------------------------------------------------------------------------


@app.command()
def ask(
    text: Annotated[str | None, typer.Argument(help="The situation, in your own words.")] = None,
    k: Annotated[int, typer.Option("--k", min=1, max=20, help="How many tips to return.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON answer.")] = False,
    batch: Annotated[
        str | None,
        typer.Option("--batch", help="File with one situation per line ('-' for stdin)."),
    ] = None,
) -> None:
    """Answer one situation (or a batch of them)."""
    if batch is None and (text is None or not text.strip()):
        raise _fail('Describe the situation, e.g.: coach ask "customer wants the supervisor"', 2)
    if batch is not None and text is not None:
        raise _fail("Give either TEXT or --batch FILE, not both.", 2)
    settings = _settings()
    if batch is not None:
        lines = _read_batch(batch)
        coach = _open_coach(settings)
        for line, result in zip(lines, coach.answer_many(lines, k=k), strict=True):
            if isinstance(result, EmptyQuery):
                if as_json:
                    _json_line(
                        {
                            "query": line,
                            "answered": False,
                            "confidence": 0.0,
                            "tips": [],
                            "error": str(result),
                        }
                    )
                else:
                    out.print(
                        f"[bold]> {escape(line)}[/bold]\n[yellow]{escape(str(result))}[/yellow]\n"
                    )
                continue
            if as_json:
                _json_line(result.to_json())
            else:
                out.print(f"[bold]> {escape(line)}[/bold]")
                render_answer(result, out)
                out.print()
        return
    coach = _open_coach(settings)
    try:
        answer = coach.answer(text or "", k=k)
    except EmptyQuery as exc:
        raise _fail(str(exc), 2) from None
    if as_json:
        _json_line(answer.to_json())
    else:
        render_answer(answer, out)


def _read_batch(source: str) -> list[str]:
    try:
        raw = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise _fail(f"cannot read {source}: {exc.strerror or exc}", 2) from None
    except UnicodeDecodeError:
        raise _fail(f"{source} is not UTF-8 text", 2) from None
    lines = raw.splitlines()
    if not lines:
        raise _fail(f"{source} is empty: put one situation per line", 2)
    return lines


@app.command()
def index(
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Rebuild even if the index is current.")
    ] = False,
) -> None:
    """Build or refresh the index; prints counts."""
    settings = _settings()
    coach = _open_coach(settings, rebuild=rebuild)
    stamp = coach.data.stamp
    full = sum(1 for tip in coach.tips() if tip.full)
    kinds: dict[str, int] = {}
    for chunk in coach.data.chunks:
        kinds[chunk.kind] = kinds.get(chunk.kind, 0) + 1
    verb = {"loaded": "Index is up to date", "built": "Built the index"}.get(
        coach.report.status, "Rebuilt the index"
    )
    out.print(f"{verb} in {coach.report.seconds:.1f}s: {settings.index_dir}")
    out.print(
        f"  tips      {len(coach.tips())} ({full} full posts, {len(coach.tips()) - full} teasers)"
    )
    out.print(
        f"  chunks    {len(coach.data.chunks)} ("
        + ", ".join(f"{v} {k}" for k, v in sorted(kinds.items()))
        + ")"
    )
    out.print(
        f"  vectors   {coach.data.vectors.ntotal} × {stamp.get('dim')}  model {stamp.get('model')}"
    )
    if coach.report.problems:
        out.print(
            f"  [yellow]{len(coach.report.problems)} file problem(s), see warnings above[/yellow]"
        )


@app.command("eval")
def eval_command(
    file: Annotated[Path, typer.Argument(help="Eval file (JSON Lines, see ../shared/eval).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print metrics as JSON.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List every case.")] = False,
) -> None:
    """Quality report: hit@1, hit@3, MRR, off-topic declined, expected text found."""
    from retrieval.evaluate import load_cases, run_eval

    settings = _settings()
    try:
        cases = load_cases(file)
    except CoachError as exc:
        raise _fail(str(exc), 2) from None
    coach = _open_coach(settings)
    report = run_eval(coach, cases)
    metrics = report.metrics()
    if as_json:
        _json_line(metrics)
        return
    for result in report.results:
        ok = (result.rank == 1) if result.case.on_topic else not result.answered
        if verbose or not ok:
            mark = "[green]ok  [/green]" if ok else "[red]miss[/red]"
            rank = (
                f"rank {result.rank}"
                if result.rank
                else ("declined" if not result.answered else "not in top")
            )
            out.print(
                f"{mark} {escape(result.case.id)} {rank:>10} conf {result.confidence:.2f}  "
                f"{escape(result.case.query[:60])} → {escape(result.top_title)}"
            )
    out.print(
        f"cases {metrics['cases']} ({metrics['on_topic']} on-topic, {metrics['off_topic']} off-topic)"
    )
    out.print(f"hit@1              {metrics['hit@1']:.3f}")
    out.print(f"hit@3              {metrics['hit@3']:.3f}")
    out.print(f"MRR                {metrics['mrr']:.3f}")
    out.print(f"off-topic declined {metrics['off_topic_declined']:.3f}")
    out.print(f"wrongly declined   {metrics['wrongly_declined']}")
    out.print(f"expect_text found  {metrics['expect_text_found']:.3f}")


@app.command()
def bench(
    slack: Annotated[
        bool, typer.Option("--slack", help="Benchmark the running HTTP bot instead.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON.")] = False,
    synthetic: Annotated[
        int, typer.Option("--synthetic", help="Chunks in the synthetic search index.")
    ] = 100_000,
) -> None:
    """Speed and memory: encode vs answer time, RSS, cold start, build, search p95."""
    settings = _settings()
    if slack:
        from bot.bench_slack import main as slack_bench

        raise typer.Exit(slack_bench(settings))
    from retrieval.bench import run_bench

    try:
        results = run_bench(
            settings, synthetic_chunks=synthetic, log=lambda m: err.print(f"[dim]{escape(m)}[/dim]")
        )
    except CoachError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _json_line(results)
        return
    for line in results["table"]:
        out.print(line)


@app.command()
def serve(
    http: Annotated[bool, typer.Option("--http", help="HTTP mode (default).")] = False,
    socket: Annotated[bool, typer.Option("--socket", help="Socket Mode.")] = False,
) -> None:
    """Run the Slack bot."""
    if http and socket:
        raise _fail("Choose one of --http or --socket.", 2)
    settings = _settings()
    from bot.serve import main as serve_main

    raise typer.Exit(serve_main(settings, socket=True if socket else (False if http else None)))


@app.command()
def weekly(
    preview: Annotated[
        bool, typer.Option("--preview", help="Print the post that would go out now.")
    ] = False,
    post_now: Annotated[
        bool, typer.Option("--post-now", help="Post it now (once per channel per week).")
    ] = False,
    run: Annotated[bool, typer.Option("--run", help="Run the scheduler (long-running).")] = False,
    channel: Annotated[str | None, typer.Option("--channel", help="Only this channel id.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="With --preview: Block Kit JSON.")
    ] = False,
) -> None:
    """Show, post, or schedule the weekly tip."""
    if sum([preview, post_now, run]) != 1:
        raise _fail("Choose exactly one of --preview, --post-now, --run.", 2)
    settings = _settings()
    try:
        from bot.weekly.cli import main as weekly_main
    except ImportError:
        raise _fail("The weekly tip is not available in this build.") from None
    mode = "preview" if preview else ("post-now" if post_now else "run")
    raise typer.Exit(weekly_main(settings, mode=mode, channel=channel, as_json=as_json))


@app.command()
def report(
    since: Annotated[str, typer.Option("--since", help="Window like 7d, 24h, 2w.")] = "7d",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write a PNG chart of lookups per day.")
    ] = None,
) -> None:
    """What reps asked, what went unanswered, which tips helped."""
    settings = _settings()
    from bot.report import main as report_main

    raise typer.Exit(report_main(settings, since=since, as_json=as_json, plot=plot, console=out))


def main() -> None:
    _quiet_libraries()
    app()


if __name__ == "__main__":
    main()
