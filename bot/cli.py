"""``coach``: the one console script, a thin layer over :class:`retrieval.engine.Coach`.

Exit codes: 0 success, 1 a runtime problem (index, model, Slack), 2 bad usage or bad
settings (empty text, malformed environment). Slack-side commands import their modules
lazily so ``coach ask`` never pays for them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from bot.render.terminal import render_answer
from config.settings import Settings, SettingsError, load_settings
from retrieval.errors import CoachError, EmptyQuery

if TYPE_CHECKING:
    from retrieval.engine import Coach

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
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Lint the corpus (no model needed): unreadable files, tips without a play, "
            "plays for no tip, plays that break the format. Exit 1 on any problem.",
        ),
    ] = False,
) -> None:
    """Build or refresh the index; prints counts. ``--check`` lints the corpus instead."""
    settings = _settings()
    if check:
        _check_corpus(settings)
        return
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


def _check_corpus(settings: Settings) -> None:
    from retrieval.ingest import check_corpus

    tips, problems = check_corpus(settings.corpus_dir)
    for problem in problems:
        out.print(escape(str(problem)), soft_wrap=True)
    played = sum(1 for tip in tips if tip.play is not None)
    summary = f"{len(tips)} tips, {played} with a play, {len(problems)} problem(s)"
    if problems or not tips:
        raise _fail(summary if tips else f"no tips found in {settings.corpus_dir}; {summary}", 1)
    out.print(f"[green]ok[/green] {summary}")


@app.command("eval")
def eval_command(
    files: Annotated[
        list[Path],
        typer.Argument(help="Eval file(s) (JSON Lines, see ../shared/eval), read as one set."),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print metrics as JSON.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List every case.")] = False,
    misses: Annotated[bool, typer.Option("--misses", help="List the cases it got wrong.")] = False,
    fit: Annotated[
        bool,
        typer.Option(
            "--fit",
            help="Fit the confidence model on FILES (tune splits, never a test split) and "
            "print it; with --write, keep it next to the model (model_fit.json).",
        ),
    ] = False,
    write: Annotated[bool, typer.Option("--write", help="With --fit: save the fit.")] = False,
    learned: Annotated[
        float | None,
        typer.Option(
            "--learned", min=0.0, max=2.0, help="With --fit: the learned tip scorer's weight."
        ),
    ] = None,
    precision: Annotated[
        float,
        typer.Option("--precision", min=0.5, max=1.0, help="With --fit: confident cards right."),
    ] = 0.92,
    max_flagged: Annotated[
        float,
        typer.Option(
            "--max-flagged", min=0.0, max=0.5, help="With --fit: right answers called off-topic."
        ),
    ] = 0.01,
    max_declined: Annotated[
        float,
        typer.Option(
            "--max-declined", min=0.0, max=0.5, help="With --fit: answerable cases declined."
        ),
    ] = 0.03,
    margin: Annotated[
        float | None,
        typer.Option(
            "--off-topic-margin",
            min=-0.5,
            max=0.5,
            help="With --fit: use this off-topic margin instead of fitting it.",
        ),
    ] = None,
) -> None:
    """Quality report: hit@1/3, MRR per style, confidence AUC, precision of confident answers."""
    from retrieval.evaluate import load_cases, run_eval

    settings = _settings()
    try:
        cases = [case for file in files for case in load_cases(file)]
    except CoachError as exc:
        raise _fail(str(exc), 2) from None
    coach = _open_coach(settings)
    if fit:
        _fit_calibration(
            coach,
            cases,
            files,
            settings=settings,
            write=write,
            learned=learned,
            precision=precision,
            max_flagged=max_flagged,
            max_declined=max_declined,
            margin=margin,
        )
        return
    report = run_eval(coach, cases)
    metrics = report.metrics()
    if as_json:
        _json_line(metrics)
        return
    for result in report.results:
        if verbose or (misses and not result.correct):
            mark = "[green]ok  [/green]" if result.correct else "[red]miss[/red]"
            rank = f"rank {result.rank}" if result.rank else result.tier
            out.print(
                f"{mark} {escape(result.case.id)} {rank:>10} conf {result.confidence:.2f}  "
                f"{escape(result.case.query[:60])} → {escape(result.top_title)}"
            )
    _print_metrics(metrics)


def _fit_calibration(
    coach: Coach,
    cases: list[Any],
    files: list[Path],
    *,
    settings: Settings,
    write: bool,
    learned: float | None,
    precision: float,
    max_flagged: float,
    max_declined: float,
    margin: float | None,
) -> None:
    from dataclasses import asdict, replace

    from retrieval.calibrate import fit
    from retrieval.model_fit import ModelFit, save_model_fit

    if any("test" in file.name for file in files):
        err.print("[yellow]warning:[/yellow] fitting on a test split makes its figures worthless")
    if learned is not None:
        coach.ranker.weights = replace(coach.ranker.weights, learned=learned)
    result = fit(
        coach,
        cases,
        precision=precision,
        max_flagged=max_flagged,
        max_declined=max_declined,
        margin=margin,
    )
    weights = {k: round(v, 4) for k, v in asdict(result.calibration).items()}
    out.print(f"fitted on {result.examples} cases ({result.positives} with the right tip first)")
    out.print(f"Calibration({', '.join(f'{k}={v}' for k, v in weights.items())})")
    out.print(
        f"COACH_MIN_CONFIDENCE={result.min_confidence}  "
        f"COACH_SURE_CONFIDENCE={result.sure_confidence}"
    )
    if write:
        model_dir = Path(settings.model_name_or_path())
        if not model_dir.is_dir():
            raise _fail(f"{model_dir} is not a model directory to write the fit into", 2)
        path = save_model_fit(
            model_dir,
            ModelFit(
                result.calibration,
                coach.ranker.weights,
                result.min_confidence,
                result.sure_confidence,
                tuple(str(f) for f in files),
            ),
        )
        out.print(f"Saved {path}")


def _fmt(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _print_metrics(metrics: dict[str, Any]) -> None:
    out.print(
        f"cases {metrics['cases']} ({metrics['on_topic']} answerable, "
        f"{metrics['uncovered']} uncovered, {metrics['off_topic']} off-topic)"
    )
    styles = metrics["styles"]
    if len(styles) > 1 or next(iter(styles), "-") != "-":
        out.print(f"{'style':<10} {'n':>4} {'hit@1':>6} {'hit@3':>6} {'MRR':>6} {'declined':>9}")
        for style, row in styles.items():
            out.print(
                f"{escape(style):<10} {row['n']:>4} {_fmt(row.get('hit@1')):>6} "
                f"{_fmt(row.get('hit@3')):>6} {_fmt(row.get('mrr')):>6} "
                f"{_fmt(row.get('declined')):>9}"
            )
    out.print(f"hit@1                   {metrics['hit@1']:.3f}")
    out.print(f"hit@3                   {metrics['hit@3']:.3f}")
    out.print(f"MRR                     {metrics['mrr']:.3f}")
    out.print(
        f"off-topic declined      {metrics['off_topic_declined']:.3f} "
        f"(recognised as off-topic: {_fmt(metrics['off_topic_recognised'])})"
    )
    out.print(f"uncovered not confident {_fmt(metrics['uncovered_not_confident'])}")
    out.print(f"wrongly declined        {metrics['wrongly_declined']}")
    out.print(
        f"confident answers right {_fmt(metrics['confident_precision'])} "
        f"({metrics['confident_answers']} confident)"
    )
    out.print(f"confidence AUC          {_fmt(metrics['auc'])}")
    if metrics["typos"]:
        typos = metrics["typos"]
        out.print(
            f"typos hit@1             {typos['typo_hit@1']:.3f} vs clean twins "
            f"{typos['clean_hit@1']:.3f} ({typos['pairs']} pairs)"
        )
    out.print(f"expected text found     {metrics['expect_text_found']:.3f}")


@app.command()
def train(
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Where to save the model (default: the bundled model)."),
    ] = None,
    epochs: Annotated[int, typer.Option("--epochs", min=1, max=10)] = 1,
    batch: Annotated[
        int,
        typer.Option(
            "--batch", min=2, max=512, help="Tips per step (each a negative for the rest)."
        ),
    ] = 32,
    pairs: Annotated[
        list[Path] | None,
        typer.Option(
            "--pairs",
            help="A tune split (eval JSON Lines) whose queries also train, each towards its "
            "right tip. Never a test split.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    keep: Annotated[
        Path | None,
        typer.Option("--keep", help="Also keep the trained sentence-transformers model here."),
    ] = None,
) -> None:
    """Fine-tune all-MiniLM-L6-v2 on the corpus and export it to ONNX (needs [train])."""
    import tempfile

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from config.settings import BUNDLED_MODEL_DIR, base_model_path
    from retrieval.ingest import load_corpus

    _quiet_libraries()
    settings = _settings()
    try:
        from retrieval.evaluate import load_cases
        from retrieval.export import export_onnx
        from retrieval.train import TrainingSettings, fine_tune, labelled_pairs, write_record

        base = base_model_path()
    except ImportError as exc:
        raise _fail(
            f"training needs torch and sentence-transformers ({exc.name} is missing): "
            "pip install 'tip-coach[train]'",
            2,
        ) from None
    tips, problems = load_corpus(settings.corpus_dir)
    for problem in problems:
        err.print(f"[yellow]warning:[/yellow] {escape(str(problem))}")
    if len(tips) < 2:
        raise _fail(f"need at least two tips in {settings.corpus_dir} to train on", 1)
    extra: dict[str, list[str]] = {}
    for file in pairs or []:
        if "test" in file.name:
            raise _fail(f"{file} is a test split: train on tune splits only", 2)
        try:
            for tip_id, lines in labelled_pairs(tips, load_cases(file)).items():
                extra.setdefault(tip_id, []).extend(lines)
        except CoachError as exc:
            raise _fail(str(exc), 2) from None
    target = out_dir or BUNDLED_MODEL_DIR
    with tempfile.TemporaryDirectory() as tmp:
        trained = keep or Path(tmp) / "model"
        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), console=err
        ) as progress:
            task = progress.add_task("Training", total=None)

            def step(done: int, total: int, loss: float) -> None:
                progress.update(task, completed=done, total=total, description=f"loss {loss:.3f}")

            try:
                record = fine_tune(
                    tips,
                    base,
                    trained,
                    TrainingSettings(epochs=epochs, batch_size=batch, seed=seed),
                    progress=step,
                    extra=extra,
                )
                record["pairs"] = [str(f) for f in pairs or []]
                record["onnx"] = export_onnx(str(trained), target)
            except (OSError, ValueError, RuntimeError) as exc:
                raise _fail(f"training failed: {exc}", 1) from None
        write_record(target, record)
    out.print(
        f"Saved {target} ({record['lines']} lines, {record['tips']} tips, "
        f"{record['steps']} steps, {record['seconds']} s)."
    )
    out.print(
        "Next: `coach eval tests/eval/tune.jsonl --fit` to refit the confidence, then "
        "`coach eval tests/eval/test.jsonl` to report."
    )


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (the release phase runs this once per deploy)."""
    from bot.storage import StorageError, Store
    from bot.storage.migrate import current_revision

    settings = _settings()
    try:
        with Store.from_url(
            settings.database_url, retention_days=settings.retention_days, migrate_schema=True
        ) as store:
            revision = current_revision(store.engine)
            where = store.engine.url.render_as_string(hide_password=True)
    except StorageError as exc:
        raise _fail(str(exc), 1) from None
    out.print(f"Database {where} is at schema {revision}.")


@app.command("secret-key")
def secret_key() -> None:
    """Print a new key for COACH_SECRET_KEY (encrypts the workspaces' tokens at rest)."""
    from bot.storage.secrets import new_key

    out.print(new_key(), markup=False, highlight=False)


@app.command("rotate-secrets")
def rotate_secrets() -> None:
    """Re-encrypt every stored workspace token with the first key of COACH_SECRET_KEY."""
    from bot.storage import StorageError, Store

    settings = _settings()
    try:
        with Store.open(settings) as store:
            changed = store.rotate_secrets()
    except StorageError as exc:
        raise _fail(str(exc), 1) from None
    out.print(f"Re-encrypted {changed} stored token(s) with the first key of COACH_SECRET_KEY.")


@app.command()
def export(
    model_dir: Annotated[Path, typer.Argument(help="A sentence-transformers model directory.")],
    out_dir: Annotated[Path, typer.Argument(help="Where to write the ONNX model.")],
) -> None:
    """Export a sentence-transformers model to the ONNX form the bot runs (needs [train])."""
    _quiet_libraries()
    try:
        from retrieval.export import export_onnx
    except ImportError as exc:
        raise _fail(f"exporting needs {exc.name}: pip install 'tip-coach[train]'", 2) from None
    try:
        config = export_onnx(str(model_dir), out_dir)
    except (OSError, ValueError, RuntimeError) as exc:
        raise _fail(f"export failed: {exc}", 1) from None
    out.print(f"Exported {model_dir} to {out_dir} ({config['dim']} dimensions).")
    out.print(f"Use it with COACH_EMBEDDING_MODEL={out_dir}")


#: Printed instead of a traceback when ``coach bench --slack`` runs from an installed wheel.
SLACK_BENCH_NEEDS_CHECKOUT = (
    "coach bench --slack runs from a source checkout: it drives the test fake of Slack in "
    "tests/, which is not installed with the package. Run it from a clone of the repository "
    "(pip install -e .)."
)


def checkout_tests_dir(package_dir: Path | None = None) -> Path | None:
    """The source checkout's ``tests/`` beside the ``bot`` package, or None from a wheel.

    The Slack bench and the fake Slack it drives are test doubles, kept out of the wheel;
    ``package_dir`` (the ``bot`` package's directory) is a parameter so tests can point it
    at a wheel-like layout. The two files are checked, not just the directory, because some
    wheels put an unrelated ``tests`` package into site-packages.
    """
    tests = (package_dir or Path(__file__).resolve().parent).parent / "tests"
    if (tests / "bench_slack.py").is_file() and (tests / "fake_slack.py").is_file():
        return tests
    return None


def load_slack_bench(package_dir: Path | None = None) -> Callable[[Settings], int]:
    """``main`` of the checkout's ``tests/bench_slack.py``, or exit 2 with a clear message.

    ``tests/`` is on ``sys.path`` only while the bench (and the ``fake_slack`` it imports)
    loads, so nothing else in the process can pick up test modules by accident.
    """
    tests = checkout_tests_dir(package_dir)
    if tests is None:
        raise _fail(SLACK_BENCH_NEEDS_CHECKOUT, 2)
    import importlib

    sys.path.insert(0, str(tests))
    try:
        bench_module = importlib.import_module("bench_slack")
    finally:
        sys.path.remove(str(tests))
    bench_main: Callable[[Settings], int] = bench_module.main
    return bench_main


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
        raise typer.Exit(load_slack_bench()(settings))
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


situations_app = typer.Typer(
    no_args_is_help=True,
    help="Situations leads taught the bot, per workspace: list, add, remove.",
)
app.add_typer(situations_app, name="situations")


def _open_store(settings: Settings) -> Any:
    from bot.storage import StorageError, Store

    try:
        return Store.open(settings)
    except StorageError as exc:
        raise _fail(str(exc)) from None


@situations_app.command("list")
def situations_list(
    team: Annotated[str | None, typer.Option("--team", help="Only this workspace (T…).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Every learned situation (text redacted), oldest first."""
    settings = _settings()
    with _open_store(settings) as store:
        rows = store.learned_situations(team)
    for row in rows:
        if as_json:
            _json_line(
                {
                    "id": row.id,
                    "team_id": row.team_id,
                    "tip_id": row.tip_id,
                    "text": row.text,
                    "source": row.source,
                    "created_by": row.created_by,
                    "created_at": row.created_at.isoformat(),
                }
            )
        else:
            out.print(
                f"{row.id}\t{row.team_id}\t{escape(row.tip_id)}\t{escape(row.text)}"
                f"\t[dim]{row.source} {row.created_at:%Y-%m-%d}[/dim]"
            )
    if not rows and not as_json:
        err.print("No learned situations yet.")


@situations_app.command("add")
def situations_add(
    team: Annotated[str, typer.Option("--team", help="The workspace (T…).")],
    tip: Annotated[str, typer.Option("--tip", help="The tip id that answers it.")],
    text: Annotated[str, typer.Option("--text", help="The situation, as a rep says it.")],
) -> None:
    """Teach the bot: reps of that workspace asking this (or alike) get that tip."""
    from retrieval.engine import Coach

    settings = _settings()
    try:
        title = Coach.from_settings(settings, lazy_model=True).tip_card(tip).title
    except CoachError as exc:
        raise _fail(str(exc), 2) from None
    with _open_store(settings) as store:
        try:
            situation_id = store.add_learned_situation(
                team_id=team.strip(), tip_id=tip, text=text, source="cli"
            )
        except ValueError as exc:
            raise _fail(str(exc), 2) from None
    out.print(
        f"Learned situation {situation_id}: {team} → {escape(title)} "
        "(running bots pick it up within a minute)."
    )


@situations_app.command("remove")
def situations_remove(
    situation_id: Annotated[int, typer.Argument(help="The id `coach situations list` shows.")],
    team: Annotated[
        str | None, typer.Option("--team", help="Only if it is this workspace's.")
    ] = None,
) -> None:
    """Forget one learned situation."""
    settings = _settings()
    with _open_store(settings) as store:
        removed = store.remove_learned_situation(situation_id, team_id=team)
    if not removed:
        raise _fail(f"No learned situation {situation_id}.", 1)
    out.print(f"Removed learned situation {situation_id}.")


def main() -> None:
    _quiet_libraries()
    app()


if __name__ == "__main__":
    main()
