"""The command line: options -> one call -> a tail shared by every command (gates ->
render -> write -> exit code); errors become exit codes here and nowhere else.

Heavy modules (NumPy, pyarrow, rich) are imported inside the commands, so that
``infocli --help`` and ``infocli --version`` start as fast as Typer itself.
"""

# Annotations stay objects here (no `from __future__ import annotations`): Typer reads
# every command's parameters at each start, and evaluating them from strings took
# 8-14 ms against 4-5 ms.
import contextlib
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from infocli import __version__, interrupts
from infocli.errors import ExitCode, InfoCliError, shown, spell
from infocli.metrics.registry import PERCENTILE_KEYS, REGISTRY, gate_names, names_of
from infocli.streams import say, stderr_is_terminal

# Typer re-exports click's exceptions (newer Typer vendors click): take their base from there.
_ClickException: Any = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
_UsageError: Any = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")

EXIT_CODES_HELP = (
    "Exit codes: 0 report written, every gate passed; 1 report written, a --fail-if gate "
    "failed; 2 usage error or bad input (nothing written to --output, one line on stderr "
    "starting with 'infocli: error:')."
)


class InfoCliGroup(TyperGroup):
    """Turns every usage error and input error into one stderr line and exit code 2."""

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command; errors become ``infocli: error: ...`` and exit code 2."""
        argv = list(sys.argv[1:] if args is None else args)
        try:
            code = super().main(argv, prog_name or "infocli", complete_var, False, **extra)
        except InfoCliError as error:
            if "--debug" in argv:
                traceback.print_exc()
            code = _fail(error.render(flag))
        except _ClickException as error:
            message = error.format_message().replace("Value error, ", "")
            value = _given_value(argv, getattr(error, "param", None))
            if value is not None and repr(value) not in message:
                message = message.rstrip(".") + f" (got {value!r})."
            if isinstance(error, _UsageError) and error.ctx is not None:
                message += f" Try '{error.ctx.command_path} --help'."
            code = _fail(" ".join(message.split()))
        except (typer.Abort, KeyboardInterrupt):
            code = 130
        code = interrupts.stopped(code if isinstance(code, int) else ExitCode.OK)
        if standalone_mode:
            sys.exit(code)
        return code


def _given_value(argv: list[str], param: Any) -> str | None:
    """The value the user gave an option, from the command line (for error messages)."""
    for opt in getattr(param, "opts", None) or []:
        for i, arg in enumerate(argv):
            if arg == opt and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(opt + "="):
                return arg[len(opt) + 1 :]
    return None


def flag(name: str) -> str:
    """The command-line flag of a parameter of the core (``chunk_rows`` -> ``--chunk-rows``)."""
    return "--" + name.replace("_", "-")


def _fail(message: str) -> int:
    say("infocli: error: " + shown(message))
    return ExitCode.BAD_INPUT


app = typer.Typer(
    cls=InfoCliGroup,
    name="infocli",
    help="Information-theory metrics for model predictions: entropy, cross-entropy, KL divergence, perplexity.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"infocli {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Information-theory metrics for model predictions: entropy, cross-entropy, KL divergence, perplexity."""


class Kind(StrEnum):
    """How prediction (or target) scores are to be read."""

    auto = "auto"
    probs = "probs"
    logits = "logits"
    logprobs = "logprobs"


class Base(StrEnum):
    """Log base: nats, bits or hartleys."""

    e = "e"
    two = "2"
    ten = "10"


class OutputFormat(StrEnum):
    """Report format."""

    table = "table"
    json = "json"
    markdown = "markdown"


class InputFormat(StrEnum):
    """Format of a file read from stdin."""

    csv = "csv"
    tsv = "tsv"
    parquet = "parquet"
    npy = "npy"
    npz = "npz"
    arrow = "arrow"
    jsonl = "jsonl"


# Options shared by the commands: one definition each.
BaseOption = Annotated[Base, typer.Option("--base", help="Log base: e (nats), 2 (bits) or 10 (hartleys).")]
FormatOption = Annotated[
    OutputFormat,
    typer.Option(
        "--format",
        envvar="INFOCLI_FORMAT",
        help="Report format: a table, JSON, or Markdown for pull-request comments and CI job summaries (or set INFOCLI_FORMAT).",
    ),
]
OutputOption = Annotated[
    str | None,
    typer.Option(
        "--output", "-o", metavar="PATH", help="Write the report to PATH (atomically) instead of stdout."
    ),
]
InputFormatOption = Annotated[
    InputFormat, typer.Option("--input-format", help="Format of the input read from stdin (-).")
]
NpzKeyOption = Annotated[
    str | None,
    typer.Option(
        "--npz-key",
        metavar="NAME",
        help="The array of a .npz input (needed where it holds several; never unpickled).",
    ),
]
LabelNpzKeyOption = Annotated[
    str | None, typer.Option("--label-npz-key", metavar="NAME", help="The array of a .npz of labels.")
]
DATASETS_HELP = (
    "Any input may be a dataset: a directory (read recursively; names starting with . or _ "
    "skipped), a quoted glob ('preds/*.parquet'), @list.txt (one path or URI a line), or a URI "
    "(s3://bucket/prefix/, gs://, file://; S3 endpoint from AWS_ENDPOINT_URL_S3 or "
    "AWS_ENDPOINT_URL). Shards are read in natural order (part-2 before part-10) as one "
    "evaluation; a PREDS dataset pairs with a LABELS dataset by relative path with the "
    "extension aside, one to one with equal row counts, and a single LABELS file aligns with "
    "the shards' rows in order. Every shard has the first one's columns; Hive folders "
    "(split=test/) are columns, never classes."
)


class Engine(StrEnum):
    """Where the shards of a dataset are scored."""

    local = "local"
    dask = "dask"


JobsOption = Annotated[
    int,
    typer.Option(
        "--jobs",
        "-j",
        metavar="N",
        help="Score a dataset's shards on N worker processes, one shard at a time each; the report is "
        "bit-identical to --jobs 1's. A failing shard or a dead worker fails the run (exit 2), nothing written.",
    ),
]
EngineOption = Annotated[
    Engine,
    typer.Option(
        "--engine",
        help="local: this machine (--jobs); dask: a Dask cluster, at --scheduler or else a local one "
        "with a worker per core on 127.0.0.1 (needs the dask extra of infocli).",
    ),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        metavar="ADDRESS",
        help="A running Dask scheduler (tcp://HOST:8786) for --engine dask; its workers read the "
        "shards themselves, so they need infocli installed and the files within reach.",
    ),
]


def _engine_options(engine: "Engine", jobs: int, scheduler: str | None, *inputs: str | None) -> Any:
    """The engine to score the shards on, or None to read the inputs in this process
    (a single file, or one job of the local engine)."""
    from infocli.engines import EngineOptions

    options = EngineOptions(engine.value, jobs, scheduler)
    options.check()
    if options.engine == "local":
        from infocli.readers.dataset import is_dataset

        if jobs == 1 or not any(is_dataset(path) for path in inputs):
            return None
    return options


def _shard_progress(no_progress: bool) -> Any:
    """A progress bar of shards on stderr when it is a terminal (imports rich only then)."""
    if no_progress or not stderr_is_terminal():
        return contextlib.nullcontext(None)
    from infocli.report.tables import shard_progress_bar

    return shard_progress_bar()


def _fail_if(command: str) -> Any:
    return Annotated[
        list[str] | None,
        typer.Option(
            "--fail-if",
            metavar="EXPR",
            help='Exit 1 when "METRIC OP NUMBER" holds, OP one of < <= > >=; repeatable. A NaN metric '
            f"fails. METRIC is one of: {', '.join(names_of(command))}.{_gate_extras(command)}",
        ),
    ]


def _gate_extras(command: str) -> str:
    """What the --fail-if help adds about aliases and percentiles (from the registry)."""
    metrics = [REGISTRY[name] for name in names_of(command)]
    text = "".join(f" {m.alias} also names {m.name} where that is reported." for m in metrics if m.alias)
    for m in metrics:
        if m.percentiles:
            text += (
                f" Against target distributions, {m.name}.KEY gates a percentile of its per-row values, "
                f"KEY one of {', '.join(PERCENTILE_KEYS)}."
            )
    return text


SaveStateOption = Annotated[
    str | None,
    typer.Option(
        "--save-state",
        metavar="PATH",
        help="Also write the run's state (sums and counts) to PATH as JSON, for infocli merge.",
    ),
]
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="No warnings on stderr (they stay in the JSON).")
]
NoProgressOption = Annotated[bool, typer.Option("--no-progress", help="No progress bar on stderr.")]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")]
ChunkRowsOption = Annotated[
    int | None,
    typer.Option(
        "--chunk-rows", metavar="N", help="Rows per chunk (default: from a budget of 32 MiB of values)."
    ),
]


def _check_outputs(inputs: list[str | None], **targets: str | None) -> None:
    """Check the files the run will write (none of its inputs, a writable place), before reading.

    Args:
        inputs: The run's input files.
        **targets: Each output option's path (``output=...``, ``save_state=...``), or None.
    """
    from infocli.outputs import check_targets

    check_targets([(path, flag(name)) for name, path in targets.items()], inputs)


@dataclass
class _Outcome:
    """What a command hands the shared tail: its report, warnings, gate outcome and state."""

    document: Callable[[], dict[str, Any]]
    table: Callable[[Any], Any]
    warnings: list[str]
    failed: bool
    state: Any = None


def _finish(
    outcome: _Outcome,
    output_format: "OutputFormat",
    output: str | None,
    quiet: bool,
    save_state: str | None = None,
) -> None:
    """The tail of every command: save the state, render and write the report, print the
    warnings, and exit 1 if a gate failed."""
    from infocli.report.documents import write_report

    if save_state is not None:
        from infocli.outputs import write_atomically
        from infocli.states import state_text

        write_atomically(save_state, state_text(outcome.state), option="--save-state")
    write_report(_render(output_format, output, outcome.document, outcome.table), output)
    if not quiet:
        for warning in outcome.warnings:
            say(f"infocli: warning: {shown(warning)}")
    if outcome.failed:
        raise typer.Exit(ExitCode.GATE_FAILED)


KindOption = Annotated[Kind, typer.Option("--kind", help="How to read the predictions.")]
TargetKindOption = Annotated[Kind, typer.Option("--target-kind", help="How to read target distributions.")]
PredColsOption = Annotated[
    str | None, typer.Option("--pred-cols", metavar="A,B,C", help="Prediction columns, in class order.")
]
LabelColOption = Annotated[
    str | None, typer.Option("--label-col", metavar="NAME", help="Label column (default: label).")
]
TemperatureOption = Annotated[
    float,
    typer.Option("--temperature", "-T", help="Divide logits / log-probabilities by T before the softmax."),
]
EpsOption = Annotated[
    float,
    typer.Option(
        "--eps",
        help="Floor for q in cross-entropy and KL terms, and for p in the reverse KL's (where the other "
        "is positive); 0 for exact arithmetic. The Jensen-Shannon divergence is never floored.",
    ),
]
TolOption = Annotated[float, typer.Option("--tol", help="Tolerance on probability rows summing to 1.")]
IgnoreIndexOption = Annotated[
    int | None,
    typer.Option("--ignore-index", metavar="N", help="Leave out rows whose class label is N (e.g. -100)."),
]
LogprobColOption = Annotated[
    str,
    typer.Option("--logprob-col", metavar="NAME", help="Column of the observed tokens' log-probabilities."),
]
LogprobBaseOption = Annotated[
    Base, typer.Option("--logprob-base", help="Base of the log-probabilities in the file.")
]
SeqColOption = Annotated[
    str | None,
    typer.Option("--seq-col", metavar="NAME", help="Sequence id column (rows may be interleaved)."),
]
MaskColOption = Annotated[
    str | None, typer.Option("--mask-col", metavar="NAME", help="Mask column: 0/false rows are left out.")
]
BytesColOption = Annotated[
    str | None, typer.Option("--bytes-col", metavar="NAME", help="Bytes per row, for bits per byte.")
]
WordsColOption = Annotated[
    str | None, typer.Option("--words-col", metavar="NAME", help="Words per row, for word perplexity.")
]
TopOption = Annotated[int, typer.Option("--top", metavar="K", help="List the K worst sequences.")]
JsOption = Annotated[
    bool,
    typer.Option(
        "--js",
        help="Also report js_divergence against target distributions: TRL's generalised Jensen-Shannon "
        "divergence β·KL(p‖m) + (1−β)·KL(q‖m), m = β·p + (1−β)·q, p the targets; never floored.",
    ),
]
JsBetaOption = Annotated[
    float | None,
    typer.Option(
        "--js-beta",
        metavar="B",
        help="The targets' weight β in the Jensen-Shannon mixture, strictly between 0 and 1 (default "
        "0.5, where the divergence is at most ln 2); implies --js. β = 0 and 1 are the forward and "
        "reverse KL, reported as kl_divergence and reverse_kl_divergence.",
    ),
]
T2Option = Annotated[
    bool,
    typer.Option(
        "--t2",
        help="Multiply kl_divergence, reverse_kl_divergence and js_divergence (values, standard errors, "
        "percentiles) by T², as distillation training code logs them; not the cross-entropy, the "
        "entropies or the agreement. Applies to target distributions at -T other than 1 (ignored with "
        "a warning otherwise); recorded in the signature.",
    ),
]
GroupByOption = Annotated[
    list[str] | None,
    typer.Option(
        "--group-by",
        metavar="COL",
        help="Also report every metric per group of rows sharing COL's value; repeatable, for crossed "
        "groups. COL is a column of --groups FILE, else of LABELS, else of PREDS, and is never a "
        "prediction class. A missing key is an error.",
    ),
]
GroupsOption = Annotated[
    str | None,
    typer.Option(
        "--groups",
        metavar="FILE",
        help="A file of group columns, row-aligned with PREDS (the same row count, or exit 2); beside "
        "a dataset, a dataset of the same layout or one file aligned with the shards' rows in order.",
    ),
]
PerClassOption = Annotated[
    bool,
    typer.Option(
        "--per-class",
        help="Also group by the true class (named as the prediction columns are), crossed with any --group-by.",
    ),
]
SortOption = Annotated[
    str | None,
    typer.Option(
        "--sort",
        metavar="METRIC",
        help="List the groups worst first by METRIC (by its direction: lowest accuracy, highest "
        "cross-entropy), instead of largest first; NaN last, ties in key order.",
    ),
]
GroupTopOption = Annotated[
    int | None,
    typer.Option(
        "--top",
        metavar="K",
        help="List the first K groups in the table (default 20; 0 for all); the JSON holds all.",
    ),
]
MinGroupSizeOption = Annotated[
    int,
    typer.Option(
        "--min-group-size",
        metavar="N",
        help="Groups of fewer than N rows are suppressed: listed with their key and size only, and "
        'ignored by the group gates (--fail-if "groups.accuracy < 0.8", failing when any reported '
        "group crosses). A group is flagged for a metric when its 95% interval (±1.96 std. errors) "
        "lies entirely on the worse side of the overall value.",
    ),
]


def _check_group_view(grouped: bool, sort: str | None, top: int | None, min_group_size: int) -> None:
    """Refuse group report options that cannot apply, before any file is read."""
    from infocli.metrics.groups import sortable

    if min_group_size < 1:
        raise InfoCliError(f"--min-group-size must be at least 1, got {min_group_size}")
    if top is not None and top < 0:
        raise InfoCliError(f"--top must be 0 or more, got {top}")
    if sort is not None and not sortable(sort):
        choices = ", ".join(n for n in names_of("eval") if sortable(n))
        raise InfoCliError(f"--sort {sort!r}: expected a metric with a direction, one of {choices}")
    if not grouped and (sort is not None or top is not None or min_group_size != 1):
        raise InfoCliError(
            "--sort, --top and --min-group-size apply to groups; add --group-by or --per-class"
        )


def _gate_names(command: str, grouped: bool) -> list[str]:
    """The metrics gates may name: with groups, also ``groups.METRIC`` for each per-row metric."""
    from infocli.metrics.groups import grouped_names

    names = list(gate_names(command))
    return [*names, *(f"groups.{n}" for n in grouped_names(names))] if grouped else names


class BinStrategy(StrEnum):
    """How calibration bins are formed."""

    uniform = "uniform"
    quantile = "quantile"


CalibrationOption = Annotated[
    bool,
    typer.Option(
        "--calibration",
        help="Also report calibration: ECE, MCE, RMSCE, debiased l2, classwise ECE, the Brier score and "
        "its decomposition, and reliability bins. Confidence is max_c q_c and a row is correct when its "
        "argmax is the label; for a binary classifier (one score column), q of the positive class and "
        "whether the label is 1. Bins are (lower, upper], the first [0, upper]; empty bins count 0. The "
        "classwise ECE is skipped (NaN, with a warning) above 1,000,000 classes x bins.",
    ),
]
BinsOption = Annotated[
    int, typer.Option("--bins", metavar="N", help="Bins of the calibration metrics (Guo et al.: 15).")
]
BinStrategyOption = Annotated[
    BinStrategy,
    typer.Option(
        "--bin-strategy",
        help="uniform: equal-width bins; quantile: equal-count bins formed from a 10,000-cell grid of "
        "confidences (edges within 1e-4 of the exact quantiles).",
    ),
]
PlotCalibrationOption = Annotated[
    str | None,
    typer.Option(
        "--plot-calibration",
        metavar="PATH",
        help="Draw the reliability diagram to a .png or .svg (needs infocli[plot]); implies --calibration.",
    ),
]
FitTemperatureOption = Annotated[
    bool,
    typer.Option(
        "--fit-temperature",
        help="Report T*, the temperature minimising the cross-entropy of logits or log-probabilities "
        "(64 log-spaced temperatures over [0.05, 20], refined by a parabola in log T), and the "
        "cross-entropy and ECE at T*. Costs 64 softmaxes per row in the pass, and a second pass "
        "(BENCHMARKS.md: about 27 times the CPU time of plain eval on 200,000 x 1,000 logits).",
    ),
]


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Option values with enum members replaced by their strings."""
    return {k: v.value if isinstance(v, StrEnum) else v for k, v in values.items()}


def _eval_options(pred_cols: str | None, **values: Any) -> Any:
    from infocli.plan import EvalOptions

    columns = tuple(c.strip() for c in pred_cols.split(",")) if pred_cols else None
    options = EvalOptions(pred_cols=columns, **_plain(values))
    options.check()
    return options


def _perplexity_options(**values: Any) -> Any:
    from infocli.perplexity import PerplexityOptions

    options = PerplexityOptions(**_plain(values))
    options.check()
    return options


def _latent_options(**values: Any) -> Any:
    from infocli.latent import LatentOptions

    options = LatentOptions(**_plain(values))
    options.check()
    return options


def _render(
    output_format: OutputFormat,
    output: str | None,
    document: Callable[[], dict[str, Any]],
    table: Callable[[Any], Any],
) -> str:
    """The report text: ``document()`` as JSON, or ``table(tables_module)`` rendered as a
    table or as Markdown.

    rich is imported only for a table, so a JSON run does not pay for it.
    """
    if output_format is OutputFormat.json:
        from infocli.report.documents import to_json

        return to_json(document())
    from infocli.report import tables

    if output_format is OutputFormat.markdown:
        return tables.to_markdown(table(tables))
    return tables.render(table(tables), color=None if output is None else False)


def _progress(no_progress: bool, description: str = "reading") -> Any:
    """A progress bar on stderr when it is a terminal (imports rich only then)."""
    if no_progress or not stderr_is_terminal():
        return contextlib.nullcontext(None)
    from infocli.report.tables import progress_bar

    return progress_bar(description)


@app.command("eval", epilog=DATASETS_HELP + "\n\n" + EXIT_CODES_HELP)
def eval_command(
    preds: Annotated[
        str,
        typer.Argument(
            metavar="PREDS",
            help="Predictions: .csv, .tsv, .csv.gz, .parquet, .pq, .npy, .npz, .arrow/.feather/.ipc "
            "(IPC file or stream), .jsonl/.ndjson (.gz); a dataset; - for stdin.",
        ),
    ],
    labels: Annotated[
        str | None,
        typer.Argument(
            metavar="[LABELS]",
            help="Class indices, class names or target distributions (a file or a dataset); - for stdin.",
        ),
    ] = None,
    kind: KindOption = Kind.auto,
    target_kind: TargetKindOption = Kind.auto,
    pred_cols: PredColsOption = None,
    label_col: LabelColOption = None,
    base: BaseOption = Base.e,
    temperature: TemperatureOption = 1.0,
    eps: EpsOption = 1e-12,
    tol: TolOption = 1e-3,
    ignore_index: IgnoreIndexOption = None,
    calibration: CalibrationOption = False,
    bins: BinsOption = 15,
    bin_strategy: BinStrategyOption = BinStrategy.uniform,
    plot_calibration: PlotCalibrationOption = None,
    fit_temperature: FitTemperatureOption = False,
    js: JsOption = False,
    js_beta: JsBetaOption = None,
    t2: T2Option = False,
    fail_if: _fail_if("eval") = None,
    group_by: GroupByOption = None,
    groups: GroupsOption = None,
    per_class: PerClassOption = False,
    sort: SortOption = None,
    top: GroupTopOption = None,
    min_group_size: MinGroupSizeOption = 1,
    output_format: FormatOption = OutputFormat.table,
    output: OutputOption = None,
    save_state: SaveStateOption = None,
    input_format: InputFormatOption = InputFormat.csv,
    npz_key: NpzKeyOption = None,
    label_npz_key: LabelNpzKeyOption = None,
    chunk_rows: ChunkRowsOption = None,
    jobs: JobsOption = 1,
    engine: EngineOption = Engine.local,
    scheduler: SchedulerOption = None,
    quiet: QuietOption = False,
    no_progress: NoProgressOption = False,
    debug: DebugOption = False,
) -> None:
    """Evaluate predictions against labels: entropy, cross-entropy, KL divergence, perplexity, accuracy.

    PREDS holds one row per example: probabilities, logits or log-probabilities, one
    column per class (or a single score for binary). LABELS holds class indices, class
    names, or target distributions; it may be left out when PREDS has a label column,
    and without labels only the entropy is reported. Against target distributions (a
    teacher's), the reverse KL and the top-1 agreement are reported too (gates still
    accept accuracy for the latter), and the percentiles of the per-row KL in the JSON
    (gated as kl_divergence.p99).

    Example: infocli eval sample_data/probs.parquet sample_data/labels.parquet --format json
    """
    from infocli.evaluate import evaluate
    from infocli.gates import parse_gate
    from infocli.readers import check_paths

    options = _eval_options(
        kind=kind, target_kind=target_kind, pred_cols=pred_cols, label_col=label_col, base=base,
        temperature=temperature, eps=eps, tol=tol, chunk_rows=chunk_rows, ignore_index=ignore_index,
        input_format=input_format, npz_key=npz_key, label_npz_key=label_npz_key,
        calibration=calibration or plot_calibration is not None, bins=bins, bin_strategy=bin_strategy,
        fit_temperature=fit_temperature,
        js=js or js_beta is not None, t2=t2, **({} if js_beta is None else {"js_beta": js_beta}),
        group_by=tuple(group_by or ()), per_class=per_class,
    )  # fmt: skip
    grouped = bool(group_by or per_class)
    _check_group_view(grouped, sort, top, min_group_size)
    gates = [parse_gate(expr, _gate_names("eval", grouped)) for expr in fail_if or []]
    check_paths({"PREDS": preds, "LABELS": labels, "--groups": groups})
    _check_outputs(
        [preds, labels, groups], output=output, save_state=save_state, plot_calibration=plot_calibration
    )
    if plot_calibration is not None:
        from infocli.plot import check_plot_path

        check_plot_path(plot_calibration, option="--plot-calibration")
    on_engine = _engine_options(engine, jobs, scheduler, preds, labels)
    if on_engine is not None:
        from infocli.sharded import evaluate_sharded

        with _shard_progress(no_progress) as on_shard:
            evaluation = evaluate_sharded(
                preds, labels, options, on_engine, gates=gates, on_progress=on_shard,
                keep_empty=save_state is not None, groups=groups,
            )  # fmt: skip
            from infocli.evaluate import at_fitted_temperature

            at_fitted_temperature(
                evaluation, options,
                lambda again: evaluate_sharded(preds, labels, again, on_engine, groups=groups),
            )  # fmt: skip
    else:
        with _progress(no_progress) as on_progress:
            evaluation = evaluate(
                preds, labels, options, gates=gates, on_progress=on_progress, keep_empty=save_state is not None,
                groups_path=groups,
            )  # fmt: skip
    view = {"sort": sort, "top": top, "min_group_size": min_group_size}
    outcome = _eval_outcome(evaluation, base.value, gates, view)
    if plot_calibration is not None:
        _plot_calibration(evaluation, plot_calibration)
    _finish(outcome, output_format, output, quiet, save_state)


def _plot_calibration(evaluation: Any, path: str) -> None:
    """Draw the reliability diagram of an evaluation (calibration needs labels)."""
    from infocli.plot import plot_calibration

    results = evaluation.state.compute()
    if results.calibration is None:
        raise InfoCliError("--plot-calibration needs labels: there is no calibration without them")
    plot_calibration(results, path)


def _eval_outcome(
    evaluation: Any, base: str, gates: list[Any], view: dict[str, Any] | None = None
) -> _Outcome:
    """An evaluation's (or a merge's) report, gates checked; with groups, ``view`` holds
    the groups' ``sort``, ``top`` and ``min_group_size``."""
    from infocli.gates import apply_gates
    from infocli.metrics.registry import gate_values
    from infocli.report.documents import eval_report

    evaluation.warnings = [spell(w, flag) for w in evaluation.warnings]
    state = evaluation.state
    results = state.compute(base)
    values: dict[str, Any] = gate_values("eval", results.metrics, results.percentiles)
    groups, view = None, view or {}
    if state.groups is not None:
        from infocli.metrics.groups import group_report

        groups = group_report(
            state.groups.compute(base, state.targets, state.settings), results.metrics,
            min_group_size=view.get("min_group_size", 1), sort=view.get("sort"),
            class_names=state.settings.get("class_names"),
        )  # fmt: skip
        if any(g.metric.startswith("groups.") for g in gates):
            values.update(groups.gate_values())
    checked = apply_gates(gates, values)
    return _Outcome(
        lambda: eval_report(evaluation, results, checked, groups),
        lambda tables: tables.eval_table(evaluation, results, checked, groups, view.get("top")),
        evaluation.warnings,
        any(r.failed for r in checked),
        evaluation.state,
    )


@app.command("perplexity", epilog=DATASETS_HELP + "\n\n" + EXIT_CODES_HELP)
def perplexity_command(
    tokens: Annotated[
        str,
        typer.Argument(
            metavar="TOKENS",
            help="One row per token with its log-probability: any format eval reads, or a dataset; "
            "- for stdin.",
        ),
    ],
    logprob_col: LogprobColOption = "logprob",
    logprob_base: LogprobBaseOption = Base.e,
    seq_col: SeqColOption = None,
    mask_col: MaskColOption = None,
    bytes_col: BytesColOption = None,
    words_col: WordsColOption = None,
    top: TopOption = 5,
    base: BaseOption = Base.e,
    fail_if: _fail_if("perplexity") = None,
    output_format: FormatOption = OutputFormat.table,
    output: OutputOption = None,
    save_state: SaveStateOption = None,
    input_format: InputFormatOption = InputFormat.csv,
    npz_key: NpzKeyOption = None,
    chunk_rows: ChunkRowsOption = None,
    jobs: JobsOption = 1,
    engine: EngineOption = Engine.local,
    scheduler: SchedulerOption = None,
    quiet: QuietOption = False,
    no_progress: NoProgressOption = False,
    debug: DebugOption = False,
) -> None:
    """Corpus and per-sequence perplexity of a language model from per-token log-probabilities.

    TOKENS holds one row per token: the log-probability the model gave the observed
    token, and optionally a sequence id, a mask, and byte or word counts. A .npy is a
    1-D array of log-probabilities, or a structured array with named fields.

    Example: infocli perplexity sample_data/tokens.parquet --seq-col seq --bytes-col bytes
    """
    from infocli.gates import check_available, parse_gate
    from infocli.perplexity import available_metrics, perplexity
    from infocli.readers import check_paths

    options = _perplexity_options(
        logprob_col=logprob_col, logprob_base=logprob_base, seq_col=seq_col, mask_col=mask_col,
        bytes_col=bytes_col, words_col=words_col, top=top, base=base, chunk_rows=chunk_rows,
        input_format=input_format, npz_key=npz_key,
    )  # fmt: skip
    gates = [parse_gate(expr, names_of("perplexity")) for expr in fail_if or []]
    check_available(gates, available_metrics(options), "it needs --bytes-col or --words-col")
    check_paths({"TOKENS": tokens})
    _check_outputs([tokens], output=output, save_state=save_state)
    on_engine = _engine_options(engine, jobs, scheduler, tokens)
    if on_engine is not None:
        from infocli.sharded import perplexity_sharded

        with _shard_progress(no_progress) as on_shard:
            run = perplexity_sharded(
                tokens, options, on_engine, on_progress=on_shard, keep_empty=save_state is not None
            )
    else:
        with _progress(no_progress, "tokens") as on_progress:
            run = perplexity(tokens, options, on_progress=on_progress, keep_empty=save_state is not None)
    _finish(_perplexity_outcome(run, base.value, gates), output_format, output, quiet, save_state)


def _perplexity_outcome(run: Any, base: str, gates: list[Any], top: int | None = None) -> _Outcome:
    """A perplexity run's (or a merge's) report, gates checked."""
    from infocli.gates import apply_gates
    from infocli.report.documents import perplexity_report

    run.warnings = [spell(w, flag) for w in run.warnings]
    results = run.state.compute(base, top=top)
    checked = apply_gates(gates, results.metrics)
    return _Outcome(
        lambda: perplexity_report(run, results, checked),
        lambda tables: tables.perplexity_table(run, results, checked),
        run.warnings,
        any(r.failed for r in checked),
        run.state,
    )


@app.command("trend", epilog=DATASETS_HELP + "\n\n" + EXIT_CODES_HELP)
def trend_command(
    files: Annotated[
        list[str],
        typer.Argument(
            metavar="FILE...",
            help="Checkpoints: predictions (with --labels) or token files, each a file or a dataset; the step is the last "
            "number in each name, or else in its own folders (step_2000/preds.parquet).",
        ),
    ],
    labels: Annotated[
        str | None,
        typer.Option(
            "--labels", metavar="PATH", help="Labels for every checkpoint's predictions (as in eval)."
        ),
    ] = None,
    fail_if_worse: Annotated[
        float | None,
        typer.Option(
            "--fail-if-worse",
            metavar="PCT",
            help="Exit 1 when the last checkpoint's perplexity is more than PCT percent above the best "
            "and the difference is significant at --alpha (paired, two-sided): a difference the "
            "evaluation set is too small to tell from noise passes.",
        ),
    ] = None,
    alpha: Annotated[
        float,
        typer.Option(
            "--alpha",
            help="Significance level of each checkpoint's change from the previous one and from the "
            "best (paired on the same rows, or sequences for token files; two-sided; no correction "
            "across checkpoints).",
        ),
    ] = 0.05,
    plot: Annotated[
        str | None,
        typer.Option(
            "--plot", metavar="PATH", help="Draw perplexity by step to a .png or .svg (needs infocli[plot])."
        ),
    ] = None,
    kind: KindOption = Kind.auto,
    target_kind: TargetKindOption = Kind.auto,
    pred_cols: PredColsOption = None,
    label_col: LabelColOption = None,
    temperature: TemperatureOption = 1.0,
    eps: EpsOption = 1e-12,
    tol: TolOption = 1e-3,
    ignore_index: IgnoreIndexOption = None,
    logprob_col: LogprobColOption = "logprob",
    logprob_base: LogprobBaseOption = Base.e,
    seq_col: SeqColOption = None,
    mask_col: MaskColOption = None,
    base: BaseOption = Base.e,
    output_format: FormatOption = OutputFormat.table,
    output: OutputOption = None,
    npz_key: NpzKeyOption = None,
    label_npz_key: LabelNpzKeyOption = None,
    chunk_rows: ChunkRowsOption = None,
    quiet: QuietOption = False,
    no_progress: NoProgressOption = False,
    debug: DebugOption = False,
) -> None:
    """Follow cross-entropy and perplexity across training checkpoints.

    With --labels, each FILE is a checkpoint's predictions, evaluated against the labels
    as by `infocli eval`; without it, each FILE is a token file, as for `infocli
    perplexity`. Rows are sorted by step: the last integer in each file name
    (ckpt_1000.parquet), or else in the folders that are the checkpoint's own
    (step_1000/preds.parquet), or the argument order when no path has one.

    Each checkpoint's change from the previous one and from the best gets its paired
    standard error and a significance mark: the change in cross-entropy is tested on the
    per-row differences (with --labels) or, for token files, with sequences as the unit
    (per-sequence sums of the differences, through perplexity's ratio estimator);
    perplexity changes get theirs by the delta method. Checkpoints must score the same
    rows (or the same sequences, token counts and masks); otherwise the run exits 2.

    Example: infocli trend sample_data/ckpt_*.parquet --seq-col seq --fail-if-worse 5
    """
    from infocli.ignored import trend_ignored
    from infocli.readers import check_paths
    from infocli.report.documents import trend_report
    from infocli.trend import run_trend, worse_than_best

    if fail_if_worse is not None and not fail_if_worse >= 0:
        raise InfoCliError(f"--fail-if-worse must be a percentage >= 0, got {fail_if_worse:g}")
    check_paths({**{f"FILE {i}": path for i, path in enumerate(files, 1)}, "--labels": labels})
    _check_outputs([*files, labels], output=output, plot=plot)
    if plot is not None:
        from infocli.plot import check_plot_path

        check_plot_path(plot)
    eval_options = _eval_options(
        kind=kind, target_kind=target_kind, pred_cols=pred_cols, label_col=label_col, base=base,
        temperature=temperature, eps=eps, tol=tol, chunk_rows=chunk_rows, ignore_index=ignore_index,
        npz_key=npz_key, label_npz_key=label_npz_key,
    )  # fmt: skip
    token_options = _perplexity_options(
        logprob_col=logprob_col, logprob_base=logprob_base, seq_col=seq_col, mask_col=mask_col,
        base=base, chunk_rows=chunk_rows, top=0, npz_key=npz_key,
    )  # fmt: skip
    if not 0 < alpha < 1:
        raise InfoCliError(f"--alpha must be between 0 and 1 (exclusive), got {alpha:g}")
    trend = run_trend(
        files,
        labels=labels,
        eval_options=eval_options,
        token_options=token_options,
        base=base.value,
        alpha=alpha,
        progress=lambda path: _progress(no_progress, path),
    )
    gate = None
    if fail_if_worse is not None:
        gate = {"pct": fail_if_worse, "alpha": alpha, "failed": worse_than_best(trend.rows, fail_if_worse)}
    if plot is not None:
        from infocli.plot import plot_trend

        plot_trend(trend.rows, plot)
    ignored = trend_ignored(labels is not None, eval_options, token_options)
    # each checkpoint's run repeats the option warnings: show each once
    warnings = list(dict.fromkeys(spell(w, flag) for w in [*ignored, *trend.warnings]))
    outcome = _Outcome(
        lambda: trend_report(trend.rows, base.value, trend.signature, gate, warnings),
        lambda tables: tables.trend_table(trend.rows, base.value, trend.signature, gate, alpha),
        warnings,
        bool(gate and gate["failed"]),
    )
    _finish(outcome, output_format, output, quiet)


COMPARE_RULES = (
    "Rows are paired by position. Per metric (every registered mean over rows) and candidate: "
    "baseline, candidate, delta = candidate - baseline, its paired standard error (sample standard "
    "deviation of the per-row differences / sqrt(N)), a two-sided --confidence interval and p-value "
    "by the normal approximation, and whether it is significant after Holm's correction over every "
    "metric and candidate at --alpha. Accuracy's p in that family is McNemar's exact test on the "
    "discordant rows; with class labels kl_divergence equals cross_entropy row by row and enters "
    "once, as cross_entropy; target_entropy cannot differ and is left out."
)


COMPARE_DATASETS_HELP = (
    "BASELINE, each CANDIDATE and --labels may be datasets (as below): each candidate's "
    "shards, and a labels dataset's, pair with the baseline's by relative path with the "
    "extension aside, one to one with equal row counts (a candidate cannot be one file against "
    "a baseline dataset); a single --labels file aligns with the baseline's rows in shard order."
)


@app.command(
    "compare", epilog=f"{COMPARE_RULES} {COMPARE_DATASETS_HELP}\n\n{DATASETS_HELP}\n\n{EXIT_CODES_HELP}"
)
def compare_command(
    baseline: Annotated[
        str,
        typer.Argument(
            metavar="BASELINE",
            help="The baseline's predictions (any input format, or a dataset); - for stdin.",
        ),
    ],
    candidates: Annotated[
        list[str],
        typer.Argument(
            metavar="CANDIDATE...",
            help="Each candidate's predictions, row-aligned with the baseline's (a dataset with a baseline dataset).",
        ),
    ],
    labels: Annotated[
        str | None,
        typer.Option(
            "--labels",
            metavar="PATH",
            help="Class indices, class names or target distributions, a file or a dataset (default: the baseline's label "
            "column, if any; without labels only entropy, KL(p ‖ q) and top-1 agreement are compared).",
        ),
    ] = None,
    confidence: Annotated[
        float, typer.Option("--confidence", help="Coverage of the two-sided intervals.")
    ] = 0.95,
    alpha: Annotated[
        float,
        typer.Option("--alpha", help="Significance level, after Holm's correction over the whole report."),
    ] = 0.05,
    fail_if_worse: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-if-worse",
            metavar="METRIC",
            help="Exit 1 when a candidate is significantly worse on METRIC after Holm's correction "
            "(the direction from the registry; a metric without one, such as entropy, is a usage "
            "error); repeatable.",
        ),
    ] = None,
    margin: Annotated[
        str | None,
        typer.Option(
            "--margin",
            metavar="X|X%",
            help="Turn every --fail-if-worse into a non-inferiority test: exit 1 unless the one-sided "
            "(1 - alpha) confidence bound shows the candidate worse by less than X (the metric's units) "
            "or X% of the baseline's value. The bound is not Holm-adjusted.",
        ),
    ] = None,
    fail_if: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-if",
            metavar="EXPR",
            help='Exit 1 when "NAME OP NUMBER" holds for any candidate, OP one of < <= > >=; '
            "repeatable; a NaN fails. NAME is delta.METRIC, perplexity.ratio, top1_agreement, or "
            "kl_divergence.STAT / delta_p.STAT with STAT one of mean, min, p0.1, p1, p5, p10, p50, p90, "
            "p95, p99, p99.9, max (delta_p also rms). With groups, groups.delta.METRIC and "
            "groups.perplexity.ratio fail when any reported group of any candidate crosses.",
        ),
    ] = None,
    kind: KindOption = Kind.auto,
    target_kind: TargetKindOption = Kind.auto,
    pred_cols: PredColsOption = None,
    label_col: LabelColOption = None,
    base: BaseOption = Base.e,
    temperature: TemperatureOption = 1.0,
    eps: EpsOption = 1e-12,
    tol: TolOption = 1e-3,
    ignore_index: IgnoreIndexOption = None,
    group_by: GroupByOption = None,
    groups: GroupsOption = None,
    per_class: PerClassOption = False,
    sort: SortOption = None,
    top: GroupTopOption = None,
    min_group_size: MinGroupSizeOption = 1,
    output_format: FormatOption = OutputFormat.table,
    output: OutputOption = None,
    save_state: SaveStateOption = None,
    input_format: InputFormatOption = InputFormat.csv,
    chunk_rows: ChunkRowsOption = None,
    quiet: QuietOption = False,
    no_progress: NoProgressOption = False,
    debug: DebugOption = False,
    jobs: JobsOption = 1,
    engine: EngineOption = Engine.local,
    scheduler: SchedulerOption = None,
) -> None:
    """Is a candidate better than the baseline? Paired tests on the same rows, and how far
    apart the two models' distributions are.

    Each file gets its own kinds (detected per file); class names must agree as a set and
    are matched by name. The distribution block takes the baseline as p and the candidate
    as q: KL(p ‖ q) per row (log q floored at --eps, reported in --base), the top-1
    agreement, and with class labels Δp = q[label] − p[label]; percentiles come from a
    sketch within 0.5% (relative). --kind, --pred-cols and the other input options apply
    to every prediction file. With --group-by (COL from --groups FILE, the labels or the
    baseline's file) or --per-class, every group's paired deltas are reported too, each
    group's p-values corrected by Holm over the reported groups, metrics and candidates;
    gate on them with --fail-if "groups.delta.METRIC OP X".

    Example: infocli compare sample_data/probs.parquet sample_data/probs_b.parquet --labels sample_data/labels.parquet
    """
    from infocli.compare import compare, compare_gate_names, parse_margin
    from infocli.gates import parse_gate
    from infocli.readers import check_paths

    options = _eval_options(
        kind=kind, target_kind=target_kind, pred_cols=pred_cols, label_col=label_col, base=base,
        temperature=temperature, eps=eps, tol=tol, chunk_rows=chunk_rows, ignore_index=ignore_index,
        input_format=input_format, group_by=tuple(group_by or ()), per_class=per_class,
    )  # fmt: skip
    grouped = bool(group_by or per_class)
    _check_group_view(grouped, sort, top, min_group_size)
    gates = [parse_gate(expr, compare_gate_names(grouped)) for expr in fail_if or []]
    parsed_margin = None if margin is None else parse_margin(margin)
    if parsed_margin is not None and not fail_if_worse:
        raise InfoCliError("--margin applies to --fail-if-worse; give the metric(s) it tests")
    inputs = {"BASELINE": baseline, **{f"CANDIDATE {i}": c for i, c in enumerate(candidates, 1)}}
    check_paths({**inputs, "--labels": labels, "--groups": groups})
    _check_outputs([*inputs.values(), labels, groups], output=output, save_state=save_state)
    tests = {"confidence": confidence, "alpha": alpha, "gates": gates, "fail_if_worse": fail_if_worse or []}
    on_engine = _engine_options(engine, jobs, scheduler, baseline, *candidates, labels)
    if on_engine is not None:
        from infocli.compare_datasets import compare_dataset

        with _shard_progress(no_progress) as on_shard:
            comparison = compare_dataset(
                baseline, candidates, labels, options, engine=on_engine, on_shard=on_shard, groups=groups,
                **tests,
            )  # fmt: skip
    else:
        with _progress(no_progress) as on_progress:
            comparison = compare(
                baseline, candidates, labels, options, on_progress=on_progress, groups=groups, **tests
            )
    view = {"sort": sort, "top": top, "min_group_size": min_group_size}
    outcome = _compare_outcome(comparison, base.value, gates, fail_if_worse or [], parsed_margin, view)
    _finish(outcome, output_format, output, quiet, save_state)


def _compare_outcome(
    comparison: Any,
    base: str,
    gates: list[Any],
    fail_if_worse: list[str],
    margin: Any,
    view: dict[str, Any] | None = None,
) -> _Outcome:
    """A comparison's (or a merge's) report, gates checked; with groups, ``view`` holds
    the groups' ``sort``, ``top`` and ``min_group_size``."""
    from infocli.compare import gate_values, worse_outcomes
    from infocli.gates import apply_gates
    from infocli.report.documents import compare_report

    comparison.warnings = [spell(w, flag) for w in comparison.warnings]
    state = comparison.state
    comparisons = state.compute(base)
    values = gate_values(comparison.candidates, comparisons)
    groups, view = None, view or {}
    if state.groups is not None:
        from infocli.metrics.paired_groups import compare_group_report

        groups = compare_group_report(
            state.groups, comparison.candidates, state.settings, base,
            min_group_size=view.get("min_group_size", 1), sort=view.get("sort"),
        )  # fmt: skip
        if any(g.metric.startswith("groups.") for g in gates):
            values.update(groups.gate_values())
    checked = apply_gates(gates, values)
    alpha = state.settings["alpha"]
    worse = worse_outcomes(fail_if_worse, comparison.candidates, comparisons, alpha=alpha, margin=margin)
    return _Outcome(
        lambda: compare_report(comparison, comparisons, base, checked, worse, groups),
        lambda tables: tables.compare_table(
            comparison, comparisons, base, checked, worse, groups, view.get("top")
        ),
        comparison.warnings,
        any(r.failed for r in checked) or any(w["failed"] for w in worse),
        comparison.state,
    )


@app.command("merge", epilog=EXIT_CODES_HELP)
def merge_command(
    states: Annotated[
        list[str],
        typer.Argument(metavar="STATE...", help="State files written by --save-state, of one command."),
    ],
    base: BaseOption = Base.e,
    top: Annotated[
        int | None,
        typer.Option(
            "--top",
            metavar="K",
            help="List the K worst sequences (default: as the states say); for grouped eval states, the "
            "first K groups in the table (default 20; 0 for all).",
        ),
    ] = None,
    fail_if: _fail_if("merge") = None,
    sort: SortOption = None,
    min_group_size: MinGroupSizeOption = 1,
    output_format: FormatOption = OutputFormat.table,
    output: OutputOption = None,
    save_state: SaveStateOption = None,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Merge saved states into the report one run over all of their data would print.

    Each STATE is a file written by `infocli eval --save-state`, `infocli perplexity
    --save-state`, `infocli compare --save-state` or `infocli latent-kl --save-state`; all must come from one command run under the same settings (the first
    difference is named otherwise). The states are merged in the order given.

    Example: infocli merge state_*.json --fail-if "cross_entropy > 0.7"
    """
    from infocli.gates import check_available, parse_gate
    from infocli.readers import check_paths
    from infocli.states import load_state, merge_states

    if top is not None and top < 0:
        raise InfoCliError(f"--top must be 0 or more, got {top}")
    check_paths({f"STATE {i}": path for i, path in enumerate(states, 1)})
    _check_outputs(list(states), output=output, save_state=save_state)
    merged = merge_states([load_state(path) for path in states], states)
    grouped = getattr(merged, "groups", None) is not None
    _check_group_view(grouped, sort, top if grouped else None, min_group_size)
    if merged.command == "compare":
        from infocli.compare import compare_gate_names

        gates = [parse_gate(expr, compare_gate_names(grouped)) for expr in fail_if or []]
    else:
        gates = [parse_gate(expr, _gate_names(merged.command, grouped)) for expr in fail_if or []]
    if not (merged.tokens.n if merged.command == "perplexity" else merged.n_samples):
        raise InfoCliError(
            "the states hold no rows to score: every row was ignored or masked", path=states[0]
        )
    if merged.command == "compare":
        from infocli.compare import Comparison
        from infocli.compare import gate_names as comparison_gates

        names = comparison_gates(merged.settings["metrics"], class_labels=merged.class_labels)
        if grouped:
            from infocli.metrics.paired_groups import group_gate_names

            names += group_gate_names(merged.settings["metrics"])
        check_available(gates, names, "the merged compare states do not report it")
        comparison = Comparison(merged)
        view = {"sort": sort, "top": top, "min_group_size": min_group_size}
        _finish(
            _compare_outcome(comparison, base.value, gates, [], None, view),
            output_format,
            output,
            quiet,
            save_state,
        )
        return
    results = merged.compute(base.value)
    available = list(results.metrics)
    if merged.command == "eval":
        from infocli.metrics.registry import gate_values

        available = list(gate_values("eval", results.metrics, results.percentiles))
    if grouped:
        from infocli.metrics.groups import grouped_names

        available += [f"groups.{n}" for n in grouped_names(available)]
    check_available(gates, available, f"the merged {merged.command} states do not report it")
    if merged.command == "eval":
        from infocli.evaluate import Evaluation

        view = {"sort": sort, "top": top, "min_group_size": min_group_size}
        outcome = _eval_outcome(Evaluation(merged, merged.warnings()), base.value, gates, view)
    elif merged.command == "latent-kl":
        from infocli.latent import LatentRun

        outcome = _latent_outcome(LatentRun(merged, merged.warnings()), base.value, gates)
    else:
        from infocli.perplexity import PerplexityRun

        outcome = _perplexity_outcome(PerplexityRun(merged, merged.warnings()), base.value, gates, top)
    _finish(outcome, output_format, output, quiet, save_state)


class Param(StrEnum):
    """How a latent scale is parameterised."""

    logvar = "logvar"
    log_sigma = "log_sigma"
    sigma = "sigma"
    var = "var"


LATENT_DATASETS_HELP = (
    "FILE may be a dataset (as below), read in natural shard order as one file of its "
    "rows; with --scale, a .npy dataset of scales pairs with FILE's shards by relative path "
    "with the extension aside, one to one with equal row counts (one --scale file needs one FILE)."
)


@app.command("latent-kl", epilog=f"{LATENT_DATASETS_HELP}\n\n{DATASETS_HELP}\n\n{EXIT_CODES_HELP}")
def latent_kl_command(
    latent: Annotated[
        str,
        typer.Argument(
            metavar="FILE",
            help="Encoder outputs, one row per example: CSV, Parquet or .npy (the means with "
            "--scale or --split-half), or a dataset of them; - for stdin.",
        ),
    ],
    mu_cols: Annotated[
        str | None,
        typer.Option(
            "--mu-cols",
            metavar="A,B|PREFIX",
            help="Mean columns: a comma list, one (list) column, or a prefix such as mu_ "
            "(default: found by the names mu_0.., mean_0.., z_mean_0.., or list columns mu, mean, z_mean).",
        ),
    ] = None,
    scale_cols: Annotated[
        str | None,
        typer.Option(
            "--scale-cols",
            metavar="A,B|PREFIX",
            help="Scale columns, in the same forms (default: found by the names logvar_, log_var_, "
            "z_log_var_, log_sigma_, logstd_, log_std_, sigma_, std_, var_, or such list columns). Columns "
            "found by a prefix are paired with the means by suffix (mu_3 with logvar_3); comma lists by position.",
        ),
    ] = None,
    scale: Annotated[
        str | None,
        typer.Option(
            "--scale",
            metavar="PATH",
            help="A second .npy (N x d) of scales; FILE then holds the means (N x d).",
        ),
    ] = None,
    split_half: Annotated[
        bool,
        typer.Option("--split-half", help="FILE is one .npy of N x 2d: the means, then the scales."),
    ] = False,
    param_: Annotated[
        Param | None,
        typer.Option(
            "--param",
            help="How the scales are given: ln σ², ln σ, σ or σ². Taken from the scale columns' names (or "
            "the --scale file's name) when a part of them says it (logvar, log_var, log_sigma, logstd, sigma, "
            "std, var); required otherwise, never guessed from the values. Also the prior's, unless --prior-param.",
        ),
    ] = None,
    prior_mu_cols: Annotated[
        str | None,
        typer.Option(
            "--prior-mu-cols",
            metavar="A,B|PREFIX",
            help="Means of a diagonal Gaussian prior per example (default prior: N(0, I)).",
        ),
    ] = None,
    prior_scale_cols: Annotated[
        str | None,
        typer.Option("--prior-scale-cols", metavar="A,B|PREFIX", help="Scales of that prior."),
    ] = None,
    prior_param: Annotated[
        Param | None,
        typer.Option("--prior-param", help="How the prior's scales are given (default: --param)."),
    ] = None,
    au_threshold: Annotated[
        float,
        typer.Option(
            "--au-threshold",
            metavar="X",
            help="A dimension is active when the sample variance (n - 1) over rows of its mean exceeds X "
            "(Burda et al. 2015).",
        ),
    ] = 0.01,
    collapse_threshold: Annotated[
        float,
        typer.Option(
            "--collapse-threshold",
            metavar="NATS",
            help="A dimension is collapsed when its mean KL is below NATS (in nats, whatever --base).",
        ),
    ] = 0.01,
    free_bits: Annotated[
        float | None,
        typer.Option(
            "--free-bits",
            metavar="NATS",
            help="Also report kl_free_bits = Σ_d max(λ, mean KL_d), λ = NATS a dimension (the batch-averaged form).",
        ),
    ] = None,
    base: BaseOption = Base.e,
    fail_if: _fail_if("latent-kl") = None,
    output_format: FormatOption = OutputFormat.table,
    output: OutputOption = None,
    save_state: SaveStateOption = None,
    input_format: InputFormatOption = InputFormat.csv,
    chunk_rows: ChunkRowsOption = None,
    quiet: QuietOption = False,
    no_progress: NoProgressOption = False,
    debug: DebugOption = False,
    jobs: JobsOption = 1,
    engine: EngineOption = Engine.local,
    scheduler: SchedulerOption = None,
) -> None:
    """The KL term of a VAE from saved encoder outputs: per example, per latent dimension,
    active and collapsed units.

    Each row holds one example's posterior means and scales, one value per latent dimension
    (columns, or list columns). The KL to the prior, N(0, I) or a given diagonal Gaussian, is
    exact in float64. A log-variance too large for exp gives an infinite KL (reported as inf,
    with a warning naming the first such row); NaN values and negative σ or variances are
    errors naming the row and the column. Fewer active units than half the dimensions prints
    a posterior-collapse warning.

    Example: infocli latent-kl sample_data/latent.parquet --fail-if "active_units < 4"
    """
    from infocli.gates import check_available, parse_gate
    from infocli.latent import available_metrics, latent_kl
    from infocli.readers import check_paths

    options = _latent_options(
        mu_cols=mu_cols, scale_cols=scale_cols, scale=scale, split_half=split_half, param=param_,
        prior_mu_cols=prior_mu_cols, prior_scale_cols=prior_scale_cols, prior_param=prior_param,
        au_threshold=au_threshold, collapse_threshold=collapse_threshold, free_bits=free_bits,
        base=base, chunk_rows=chunk_rows, input_format=input_format,
    )  # fmt: skip
    gates = [parse_gate(expr, names_of("latent-kl")) for expr in fail_if or []]
    check_available(gates, available_metrics(options), "it needs --free-bits")
    check_paths({"FILE": latent, "--scale": scale})
    _check_outputs([latent, scale], output=output, save_state=save_state)
    on_engine = _engine_options(engine, jobs, scheduler, latent, scale)
    if on_engine is not None:
        from infocli.latent_datasets import latent_dataset

        with _shard_progress(no_progress) as on_shard:
            run = latent_dataset(latent, options, engine=on_engine, on_shard=on_shard)
    else:
        with _progress(no_progress) as on_progress:
            run = latent_kl(latent, options, on_progress=on_progress)
    _finish(_latent_outcome(run, base.value, gates), output_format, output, quiet, save_state)


def _latent_outcome(run: Any, base: str, gates: list[Any]) -> _Outcome:
    """A latent-kl run's (or a merge's) report, gates checked."""
    from infocli.gates import apply_gates
    from infocli.report.documents import latent_report

    run.warnings = [spell(w, flag) for w in run.warnings]
    results = run.state.compute(base)
    checked = apply_gates(gates, results.metrics)
    return _Outcome(
        lambda: latent_report(run, results, checked),
        lambda tables: tables.latent_table(run, results, checked),
        run.warnings,
        any(r.failed for r in checked),
        run.state,
    )


@app.command("metrics")
def metrics_command(output_format: FormatOption = OutputFormat.table) -> None:
    """List every metric infocli reports: name, unit, direction, formula, and the commands
    that report it.

    Example: infocli metrics --format json
    """
    from infocli.report.documents import metrics_report

    outcome = _Outcome(metrics_report, lambda tables: tables.metrics_table(), [], False)
    _finish(outcome, output_format, None, True)


def main() -> None:
    """Console-script entry point, for the whole process: the streams, warnings and
    signals are set up first (:mod:`infocli.streams`, :mod:`infocli.interrupts`), and
    the process is tuned and ended by :mod:`infocli.process`."""
    from infocli import interrupts, process, streams

    process.prepare()
    streams.setup()
    interrupts.install()
    code: Any = None
    try:
        try:
            app()
        finally:
            interrupts.settle()
    except SystemExit as exit_:
        code = exit_.code
    except KeyboardInterrupt:  # a signal as the command was returning
        code = interrupts.stopped(130)
    try:
        sys.stdout.flush()
    except InfoCliError as error:  # stdout failed only now (help or version text)
        code = _fail(error.render(flag))
    process.exit_now(code)
