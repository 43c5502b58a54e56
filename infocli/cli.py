"""The command line: parse options, call readers -> metrics -> report, map errors to exit codes.

Heavy modules (NumPy, pyarrow, rich) are imported inside the commands, so that
``infocli --help`` and ``infocli --version`` start as fast as Typer itself.
"""

from __future__ import annotations

import os
import sys
import traceback
from enum import StrEnum
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from infocli import __version__
from infocli.errors import ExitCode, InfoCliError

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
            code = _fail(str(error))
        except _ClickException as error:
            hint = ""
            if isinstance(error, _UsageError) and error.ctx is not None:
                hint = f" Try '{error.ctx.command_path} --help'."
            code = _fail(error.format_message() + hint)
        except (typer.Abort, KeyboardInterrupt):
            sys.stderr.write("infocli: interrupted\n")
            code = 130
        code = code if isinstance(code, int) else ExitCode.OK
        if standalone_mode:
            sys.exit(code)
        return code


def _fail(message: str) -> int:
    sys.stderr.write("infocli: error: " + " ".join(message.split()) + "\n")
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


class InputFormat(StrEnum):
    """Format of a file read from stdin."""

    csv = "csv"
    tsv = "tsv"
    parquet = "parquet"
    npy = "npy"


# Options shared by the commands: one definition each.
BaseOption = Annotated[Base, typer.Option("--base", help="Log base: e (nats), 2 (bits) or 10 (hartleys).")]
FormatOption = Annotated[
    OutputFormat,
    typer.Option("--format", envvar="INFOCLI_FORMAT", help="Report format (or set INFOCLI_FORMAT)."),
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
FailIfOption = Annotated[
    list[str] | None,
    typer.Option(
        "--fail-if",
        metavar="EXPR",
        help='Exit 1 when "METRIC OP NUMBER" holds, OP one of < <= > >=; repeatable. A NaN metric fails.',
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


def _check_output(path: str | None) -> None:
    if path is None:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InfoCliError(
            f"--output folder {folder} does not exist", path=path, hint="Create the folder first"
        )
    if os.path.isdir(path):
        raise InfoCliError("--output is a directory; expected a file name", path=path)


def _finish(text: str, output: str | None, warnings: list[str], quiet: bool, failed: bool) -> None:
    """Write the report and the warnings, and exit 1 if a gate failed."""
    from infocli.report import write_report

    write_report(text, output)
    if not quiet:
        for warning in warnings:
            sys.stderr.write(f"infocli: warning: {warning}\n")
    if failed:
        raise typer.Exit(ExitCode.GATE_FAILED)


@app.command("eval", epilog=EXIT_CODES_HELP)
def eval_command(
    preds: Annotated[
        str,
        typer.Argument(
            metavar="PREDS", help="Predictions: .csv, .tsv, .csv.gz, .parquet, .pq or .npy; - for stdin."
        ),
    ],
    labels: Annotated[
        str | None,
        typer.Argument(
            metavar="[LABELS]", help="Class indices, class names or target distributions; - for stdin."
        ),
    ] = None,
    kind: Annotated[Kind, typer.Option("--kind", help="How to read the predictions.")] = Kind.auto,
    target_kind: Annotated[
        Kind, typer.Option("--target-kind", help="How to read target distributions.")
    ] = Kind.auto,
    pred_cols: Annotated[
        str | None, typer.Option("--pred-cols", metavar="A,B,C", help="Prediction columns, in class order.")
    ] = None,
    label_col: Annotated[
        str | None, typer.Option("--label-col", metavar="NAME", help="Label column (default: label).")
    ] = None,
    base: BaseOption = Base.e,
    temperature: Annotated[
        float,
        typer.Option(
            "--temperature", "-T", help="Divide logits / log-probabilities by T before the softmax."
        ),
    ] = 1.0,
    eps: Annotated[
        float,
        typer.Option("--eps", help="Floor for q in cross-entropy and KL terms; 0 for exact arithmetic."),
    ] = 1e-12,
    tol: Annotated[float, typer.Option("--tol", help="Tolerance on probability rows summing to 1.")] = 1e-3,
    ignore_index: Annotated[
        int | None,
        typer.Option(
            "--ignore-index", metavar="N", help="Leave out rows whose class label is N (e.g. -100)."
        ),
    ] = None,
    fail_if: FailIfOption = None,
    output_format: FormatOption = OutputFormat.table,
    output: OutputOption = None,
    input_format: InputFormatOption = InputFormat.csv,
    chunk_rows: ChunkRowsOption = None,
    quiet: QuietOption = False,
    no_progress: NoProgressOption = False,
    debug: DebugOption = False,
) -> None:
    """Evaluate predictions against labels: entropy, cross-entropy, KL divergence, perplexity, accuracy.

    PREDS holds one row per example: probabilities, logits or log-probabilities, one
    column per class (or a single score for binary). LABELS holds class indices, class
    names, or target distributions; it may be left out when PREDS has a label column,
    and without labels only the entropy is reported.

    Example: infocli eval sample_data/probs.parquet sample_data/labels.parquet --format json
    """
    from infocli.evaluate import EvalOptions, evaluate
    from infocli.gates import apply_gates, parse_gate
    from infocli.metrics.classification import METRICS
    from infocli.report import eval_report, eval_table, progress, render, to_json

    options = EvalOptions(
        kind=kind.value,
        target_kind=target_kind.value,
        pred_cols=tuple(c.strip() for c in pred_cols.split(",")) if pred_cols else None,
        label_col=label_col,
        base=base.value,
        temperature=temperature,
        eps=eps,
        tol=tol,
        chunk_rows=chunk_rows,
        ignore_index=ignore_index,
        input_format=input_format.value,
    )
    options.check()
    gates = [parse_gate(expr, METRICS) for expr in fail_if or []]
    _check_output(output)
    show_progress = not no_progress and sys.stderr.isatty()
    with progress(show_progress) as on_progress:
        evaluation = evaluate(preds, labels, options, gates=gates, on_progress=on_progress)
    results = evaluation.state.compute(options.base)
    checked = apply_gates(gates, results.metrics)
    if output_format is OutputFormat.json:
        text = to_json(eval_report(evaluation, results, checked))
    else:
        text = render(eval_table(evaluation, results, checked), color=None if output is None else False)
    _finish(text, output, evaluation.warnings, quiet, any(r.failed for r in checked))


def main() -> None:
    """Console-script entry point."""
    app()
