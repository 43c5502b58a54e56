"""The reports as rich tables, and the progress bar: the only module that imports rich."""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from infocli.errors import shown
from infocli.metrics.registry import REGISTRY, UNITS

if TYPE_CHECKING:
    from infocli.evaluate import Evaluation
    from infocli.gates import GateResult
    from infocli.metrics.state import Results
    from infocli.metrics.tokens import TokenResults
    from infocli.perplexity import PerplexityRun
    from infocli.trend import TrendRow


def fmt(value: float, digits: int = 6) -> str:
    """A number for the table: ``digits`` significant digits, or inf/nan.

    Args:
        value: The number.
        digits: Significant digits.

    Returns:
        The text.
    """
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return f"{value:.{digits}g}"


def _name(value: object) -> Text:
    """A name from the data or the command line (a path, class, sequence id or gate) as
    it is: plain text, never rich markup or an emoji code, its control characters escaped."""
    return Text(shown(str(value)))


def _fmt_se(value: float) -> str:
    """A standard error for the table; blank where it is undefined (NaN)."""
    return "" if math.isnan(value) else fmt(value, 2)


def _header() -> Table:
    """The two-column grid above a report: a bold label, then its value."""
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold")
    header.add_column()
    return header


def _merged_row(header: Table, inputs: Sequence[Any]) -> None:
    """A header row saying how many states were merged, when there were several."""
    if len(inputs) > 1:
        header.add_row("merged", f"{len(inputs):,} states (the first one's inputs above)")


def _gates_table(gates: Sequence[GateResult]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title="gates", title_justify="left")
    table.add_column("gate")
    table.add_column("value", justify="right")
    table.add_column("result")
    for r in gates:
        result = Text("FAIL", style="bold red") if r.failed else Text("pass", style="green")
        if r.failing:
            result.append(" (" + ", ".join(r.failing) + ")", style="red")
        table.add_row(_name(r.gate.expr), fmt(r.value), result)
    return table


def eval_table(evaluation: Evaluation, results: Results, gates: Sequence[GateResult] = ()) -> Group:
    """The rich renderable of an evaluation: header, metrics table, gates, signature.

    Args:
        evaluation: The inputs and settings.
        results: The numbers.
        gates: Checked gates.

    Returns:
        Something to print on a rich console.
    """
    header = _header()
    p = evaluation.predictions
    header.add_row("predictions", Text.assemble(_name(p.path), f"  ({p.format}, read as {p.kind})"))
    labels = evaluation.labels
    header.add_row(
        "labels",
        "none: label-free metrics only"
        if labels is None
        else Text.assemble(_name(labels.path), f"  ({labels.format}, {labels.kind})"),
    )
    _merged_row(header, evaluation.state.inputs)
    header.add_row(
        "rows",
        f"{results.n_samples:,}  ·  classes {evaluation.n_classes:,}"
        + (f"  ·  ignored {evaluation.state.n_ignored:,}" if evaluation.state.n_ignored else ""),
    )
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("± std. error", justify="right", style="dim")
    table.add_column("unit")
    for name, value in results.metrics.items():
        unit = REGISTRY[name].unit_name(results.base)
        table.add_row(name, fmt(value), _fmt_se(results.standard_error[name]), unit)
    parts: list[Any] = [header, table]
    if gates:
        parts.append(_gates_table(gates))
    parts.append(Text(f"signature: {evaluation.signature(results.base)}", style="dim"))
    return Group(*parts)


class _Buffer(io.StringIO):
    """Text rendered for a stream of the given encoding (rich reads ``file.encoding``)."""

    def __init__(self, encoding: str) -> None:
        super().__init__()
        self._encoding = encoding

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._encoding


def render(renderable: Any, *, width: int | None = None, color: bool | None = None) -> str:
    """Render to text, as the terminal (or a file) will show it.

    Args:
        renderable: A rich renderable.
        width: Columns; None for the terminal's width, or, for a file or a pipe, as many
            as the longest line needs, so that no name is wrapped or cut (no renderable
            here stretches to the width).
        color: Force colour on or off; None to follow the terminal and ``NO_COLOR``.

    Returns:
        The text.
    """
    terminal = sys.stdout.isatty() if color is None else color
    # A file is written as UTF-8; stdout may not be (PYTHONIOENCODING=ascii): rich then
    # draws ASCII boxes.
    buffer = _Buffer("utf-8" if color is False else getattr(sys.stdout, "encoding", None) or "utf-8")
    console = Console(
        file=buffer,
        width=width or (None if terminal else 1 << 16),
        force_terminal=terminal,
        no_color=not terminal or None,
    )
    console.print(renderable)
    return buffer.getvalue()


_MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]<>|#])|(?<!\w)_|_(?!\w)")


def _markdown_text(value: Any) -> str:
    """A cell or a line as Markdown text: what the terminal shows, special characters escaped."""
    plain = value.plain if isinstance(value, Text) else Text.from_markup(str(value)).plain
    escaped = _MARKDOWN_SPECIAL.sub(lambda m: "\\" + m.group(0), plain)
    return escaped.replace("\n", "<br>")


def _markdown_table(table: Table) -> str:
    columns = table.columns
    rows = list(zip(*(column.cells for column in columns), strict=True))
    if not table.show_header:  # a grid of labels and values: a list
        return "\n".join(
            "- "
            + " ".join(
                f"**{_markdown_text(c)}**:" if i == 0 else _markdown_text(c) for i, c in enumerate(row)
            )
            for row in rows
        )
    align = {"right": "---:", "center": ":---:"}
    lines = [
        "| " + " | ".join(_markdown_text(c.header) for c in columns) + " |",
        "|" + "|".join(align.get(str(c.justify), "---") for c in columns) + "|",
        *("| " + " | ".join(_markdown_text(cell) for cell in row) + " |" for row in rows),
    ]
    if table.title:
        lines.insert(0, f"**{_markdown_text(table.title)}**\n")
    return "\n".join(lines)


def to_markdown(renderable: Any) -> str:
    """A report as GitHub-flavoured Markdown, for pull-request comments and CI job summaries.

    Tables become pipe tables (a grid of labels and values, a list), text a paragraph;
    anything else is drawn as plain text in a fenced block.

    Args:
        renderable: What a ``*_table`` function returns.

    Returns:
        The Markdown, ending in a newline.
    """
    parts: list[str] = []
    for item in renderable.renderables if isinstance(renderable, Group) else [renderable]:
        if isinstance(item, Group):
            parts.append(to_markdown(item).rstrip("\n"))
        elif isinstance(item, Table):
            parts.append(_markdown_table(item))
        elif isinstance(item, Text | str):
            parts.append(_markdown_text(item))
        else:
            parts.append("```\n" + render(item, color=False).rstrip("\n") + "\n```")
    return "\n\n".join(p for p in parts if p) + "\n"


@contextlib.contextmanager
def progress_bar(description: str = "reading") -> Iterator[Any]:
    """A progress bar on stderr that appears once a run has lasted a second.

    Args:
        description: The label in front of the bar.

    Yields:
        A callback ``(rows_done, total_rows_or_None)``.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(shown(description), total=None)
    start = time.monotonic()
    visible = False

    def update(done: int, total: int | None) -> None:
        nonlocal visible
        if not visible and time.monotonic() - start > 1.0:
            bar.start()
            visible = True
        bar.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        if visible:
            bar.stop()


@contextlib.contextmanager
def shard_progress_bar(description: str = "shards") -> Iterator[Any]:
    """A progress bar of shards on stderr, with the rows read and their rate, that
    appears once a run has lasted a second.

    Args:
        description: The label in front of the bar.

    Yields:
        A callback ``(shards_done, shards, rows_done)``.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("shards, {task.fields[rows]:,} rows, {task.fields[rate]:,.0f} rows/s"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(shown(description), total=None, rows=0, rate=0.0)
    start = time.monotonic()
    visible = False

    def update(done: int, total: int, rows: int) -> None:
        nonlocal visible
        elapsed = time.monotonic() - start
        if not visible and elapsed > 1.0:
            bar.start()
            visible = True
        bar.update(task, completed=done, total=total, rows=rows, rate=rows / elapsed if elapsed > 0 else 0.0)

    try:
        yield update
    finally:
        if visible:
            bar.stop()


def _token_unit(name: str, base: str) -> str:
    if name == "cross_entropy":
        return f"{UNITS[base]}/token"
    return "bits/byte" if name == "bits_per_byte" else ""


def perplexity_table(run: PerplexityRun, results: TokenResults, gates: Sequence[GateResult] = ()) -> Group:
    """The rich renderable of a perplexity run.

    Args:
        run: The input and settings.
        results: The numbers.
        gates: Checked gates.

    Returns:
        Something to print on a rich console.
    """
    header = _header()
    header.add_row("tokens", Text.assemble(_name(run.tokens.path), f"  ({run.tokens.format})"))
    counts = f"{results.n_tokens:,} tokens  ·  {results.n_sequences:,} sequence" + "s" * (
        results.n_sequences != 1
    )
    if results.n_masked:
        counts += f"  ·  {results.n_masked:,} masked"
    _merged_row(header, run.state.inputs)
    header.add_row("counted", counts)
    table = Table(box=box.SIMPLE_HEAD)
    for name, justify in (("metric", "left"), ("value", "right"), ("± std. error", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.add_column("unit")
    table.add_column("what it is", style="dim")
    for name, value in results.metrics.items():
        se = results.standard_error.get(name, math.nan)
        table.add_row(
            name, fmt(value), _fmt_se(se), _token_unit(name, results.base), REGISTRY[name].description
        )
    parts: list[Any] = [header, table]
    if results.worst and results.n_sequences > 1:
        worst = Table(box=box.SIMPLE_HEAD, title="worst sequences", title_justify="left")
        worst.add_column("sequence")
        worst.add_column("tokens", justify="right")
        worst.add_column("perplexity", justify="right")
        for row in results.worst:
            worst.add_row(_name(row["sequence"]), f"{row['n_tokens']:,}", fmt(row["perplexity"]))
        parts.append(worst)
    if gates:
        parts.append(_gates_table(gates))
    parts.append(Text(f"signature: {run.signature(results.base)}", style="dim"))
    return Group(*parts)


_SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float]) -> str:
    """One block character per value, scaled between the smallest and the largest.

    Args:
        values: The series (NaN or infinite values show as a space or a full block).

    Returns:
        The sparkline.
    """
    finite = [v for v in values if math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 0.0)
    chars = []
    for v in values:
        if math.isnan(v):
            chars.append(" ")
        elif math.isinf(v) or hi == lo:
            chars.append(_SPARKS[-1] if math.isinf(v) else _SPARKS[0])
        else:
            chars.append(_SPARKS[round((v - lo) / (hi - lo) * (len(_SPARKS) - 1))])
    return "".join(chars)


def _signed(value: float | None, digits: int = 4, suffix: str = "") -> str:
    if value is None or math.isnan(value):
        return ""
    return f"{value:+.{digits}g}{suffix}"


def trend_table(rows: Sequence[TrendRow], base: str, signature: str, gate: dict[str, Any] | None) -> Group:
    """The rich renderable of a trend: a row per checkpoint, then a sparkline.

    Args:
        rows: The checkpoints in step order.
        base: The log base of the cross-entropy.
        signature: The settings signature.
        gate: The ``--fail-if-worse`` gate and its outcome, or None.

    Returns:
        Something to print on a rich console.
    """
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("step", justify="right")
    table.add_column(f"cross-entropy ({UNITS[base]})", justify="right")
    table.add_column("perplexity", justify="right")
    table.add_column("vs previous", justify="right")
    table.add_column("vs best", justify="right")
    table.add_column("")
    table.add_column("file", style="dim")
    # File names, or the paths as given where two checkpoints share a name (step_1/p.npy).
    names = [os.path.basename(r.checkpoint.path) for r in rows]
    files = names if len(set(names)) == len(names) else [r.checkpoint.path for r in rows]
    for r, file in zip(rows, files, strict=True):
        c = r.checkpoint
        table.add_row(
            f"{c.step:,}",
            fmt(c.cross_entropy),
            fmt(c.perplexity),
            f"{_signed(r.change)} ({_signed(r.change_pct, 3, '%')})" if r.change is not None else "",
            "best" if r.best else f"{_signed(r.from_best)} ({_signed(r.from_best_pct, 3, '%')})",
            Text("★", style="bold green") if r.best else "",
            _name(file),
        )
    parts: list[Any] = [
        table,
        Text(f"perplexity by step  {sparkline([r.checkpoint.perplexity for r in rows])}"),
    ]
    if gate is not None:
        verdict = Text("FAIL", style="bold red") if gate["failed"] else Text("pass", style="green")
        parts.append(Text.assemble(f"gate: last checkpoint within {gate['pct']:g}% of the best: ", verdict))
    parts.append(Text(f"signature: {signature}", style="dim"))
    return Group(*parts)


def metrics_table() -> Table:
    """The rich table of ``infocli metrics``: every registered metric.

    Returns:
        Something to print on a rich console.
    """
    from infocli.metrics.registry import METRICS

    table = Table(box=box.SIMPLE_HEAD)
    for name in ("metric", "unit", "better", "formula", "commands"):
        table.add_column(name)
    direction = {True: "higher", False: "lower", None: ""}
    for m in METRICS:
        unit = "nats/bits/hartleys" if m.unit == "information" else m.unit
        table.add_row(
            Text(m.name), unit, direction[m.higher_is_better], Text(m.formula), ", ".join(m.commands)
        )
    return table
