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
from infocli.metrics.registry import REGISTRY, UNITS, declared

if TYPE_CHECKING:
    from infocli.compare import Comparison
    from infocli.evaluate import Evaluation
    from infocli.gates import GateResult
    from infocli.latent import LatentRun
    from infocli.metrics.groups import GroupReport
    from infocli.metrics.latent import LatentResults
    from infocli.metrics.paired_groups import CompareGroupReport
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


def eval_table(
    evaluation: Evaluation,
    results: Results,
    gates: Sequence[GateResult] = (),
    groups: GroupReport | None = None,
    top: int | None = None,
) -> Group:
    """The rich renderable of an evaluation: header, metrics table, groups, gates, signature.

    Args:
        evaluation: The inputs and settings.
        results: The numbers.
        gates: Checked gates.
        groups: The groups, when the rows are grouped.
        top: The most groups to list (see :func:`groups_tables`).

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
    words = _in_words(evaluation)
    if words:
        table.add_column("meaning", style="dim")
    for name, value in results.metrics.items():
        unit = REGISTRY[name].unit_name(results.base)
        cells = [fmt(value), _fmt_se(results.standard_error.get(name, math.nan)), unit]
        table.add_row(name, *cells, *([_name(words.get(name, ""))] if words else []))
    parts: list[Any] = [header, table]
    for name, summary in results.percentiles.items():
        shown = ("p50", "p90", "p99", "max")
        spread = "  ·  ".join(f"{key} {fmt(summary[key], 4)}" for key in shown)
        parts.append(Text(f"per-row {name}: {spread}  (all percentiles in the JSON)", style="dim"))
    if results.calibration is not None:
        parts.append(reliability_table(results))
    if evaluation.at_temperature is not None:
        parts.append(_temperature_text(evaluation.at_temperature, results.base))
    if groups is not None:
        parts.extend(groups_tables(groups, results.base, top))
    if gates:
        parts.append(_gates_table(gates))
    parts.append(Text(f"signature: {evaluation.signature(results.base)}", style="dim"))
    return Group(*parts)


SUPPRESSED_SHOWN = 10
"""Suppressed groups named under the groups table (the JSON lists them all)."""

GROUPS_SHOWN = 20
"""Groups listed in the table unless ``--top`` says otherwise (the JSON lists them all)."""


GROUP_TABLE_LEAVES = (
    "mce", "rmsce", "debiased_l2_calibration_error", "classwise_ece", "top_label_brier",
    "brier_reliability", "brier_resolution", "brier_uncertainty", "brier_within_bin_variance",
    "brier_within_bin_covariance",
)  # fmt: skip
"""Calibration metrics the groups table leaves to the JSON (but for the one sorted by),
so that a grouped table with calibration keeps the Brier score and the ECE and fits a
terminal."""


def _groups_table(columns: Sequence[str], order: str | None) -> Table:
    """A groups table's title and first columns: the keys and the size."""
    title = f"groups by {', '.join(columns)} ({order or 'largest first'})"
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left")
    for column in columns:
        table.add_column(_name(column))
    table.add_column("n_samples", justify="right")
    return table


def groups_tables(groups: GroupReport, base: str, top: int | None = None) -> list[Any]:
    """The groups table (value ± standard error per metric, flags marked), and what was
    left out of it: groups beyond ``top``, suppressed groups.

    Args:
        groups: The groups.
        base: The log base, for the units.
        top: The most groups to list: :data:`GROUPS_SHOWN` when None, all when 0.

    Returns:
        Renderables.
    """
    top = GROUPS_SHOWN if top is None else top or None
    table = _groups_table(groups.columns, f"worst {groups.sort} first" if groups.sort else None)
    names = [n for n in groups.metric_names if n not in GROUP_TABLE_LEAVES or n == groups.sort]
    for name in names:
        unit = REGISTRY[name].unit_name(base)
        table.add_column(f"{name} ({unit})" if unit else name, justify="right")
    table.add_column("flagged")
    shown_rows = groups.rows(top)
    for row in shown_rows:
        cells: list[Any] = [_name(v) for v in row.key.values()]
        cells.append(f"{row.n_samples:,}")
        for name in names:
            cell = Text(fmt(row.metrics[name], 4), style="bold red" if name in row.flagged else "")
            se = _fmt_se(row.standard_error.get(name, math.nan))
            if se:
                cell.append(f" ±{se}", style="dim")
            cells.append(cell)
        cells.append(Text(", ".join(row.flagged), style="red"))
        table.add_row(*cells)
    parts: list[Any] = [table]
    notes = _left_out(len(shown_rows), len(groups.order), groups.suppressed(), groups.min_group_size)
    left = [n for n in groups.metric_names if n not in names]
    if left:
        notes.append(f"Per group in the JSON (and --sort, gates) only: {', '.join(left)}.")
    notes.append(
        "Flagged: the group's 95% interval (±1.96 std. errors) is entirely worse than the overall value."
    )
    parts.extend(Text(note, style="dim") for note in notes)
    return parts


def _left_out(shown_rows: int, reported: int, suppressed: Sequence[Any], min_group_size: int) -> list[str]:
    """The notes under a groups table: how many reported groups it leaves out, and the
    suppressed groups (the first :data:`SUPPRESSED_SHOWN` named, with their sizes)."""
    notes = []
    if shown_rows < reported:
        notes.append(f"{reported - shown_rows:,} more groups in the JSON (--top K to list K, 0 for all).")
    if suppressed:
        listed = ", ".join(
            ",".join(f"{c}={shown(str(v))}" for c, v in key.items()) + f" ({n:,})"
            for key, n in suppressed[:SUPPRESSED_SHOWN]
        )
        more = len(suppressed) - SUPPRESSED_SHOWN
        notes.append(
            f"{len(suppressed):,} groups of fewer than {min_group_size:,} rows suppressed: "
            + listed
            + (f", and {more:,} more (listed in the JSON)" if more > 0 else "")
            + "."
        )
    return notes


_BAR = 20
"""Characters of the widest bar of the reliability chart."""


def reliability_table(results: Results) -> Table:
    """The compact reliability chart: one line per non-empty bin, its accuracy drawn as a
    bar with the mean confidence marked (``|``), and the gap.

    Args:
        results: Results with calibration.

    Returns:
        A rich table.
    """
    from infocli.report.documents import BIN_RULE, calibration_target

    cal = results.calibration
    title = f"reliability ({calibration_target(results.binary)}; {cal.bins} {cal.strategy} bins, {BIN_RULE})"
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left")
    table.add_column("bin")
    table.add_column("rows", justify="right")
    table.add_column("conf.", justify="right")
    table.add_column("acc.", justify="right")
    table.add_column("gap", justify="right")
    table.add_column("accuracy  (| mean confidence)")
    for b in cal.bins_of(0):
        if not b["count"]:
            continue
        acc, conf = b["accuracy"], b["mean_confidence"]
        cells = [" "] * (_BAR + 1)
        filled = round(acc * _BAR)
        for i in range(filled):
            cells[i] = "█"
        mark = round(conf * _BAR)
        cells[mark] = "|"
        bar = Text("".join(cells[:filled]), style="blue")
        bar.append("".join(cells[filled:]))
        table.add_row(
            f"{'[' if b['lower'] == 0 else '('}{b['lower']:.3f}, {b['upper']:.3f}]",
            f"{b['count']:,}",
            f"{conf:.3f}",
            f"{acc:.3f}",
            f"{acc - conf:+.3f}",
            bar,
        )
    return table


def _temperature_text(fit: dict[str, Any], base: str) -> Text:
    """The line on the fitted temperature: T*, and the cross-entropy and ECE at it."""
    from infocli.metrics.registry import LN_BASE

    edge = "  (at the end of the grid)" if fit["at_grid_edge"] else ""
    return Text(
        f"at the fitted temperature T* = {fit['temperature']:.4g}{edge}: cross_entropy "
        f"{fit['cross_entropy'] / LN_BASE[base]:.6g} {UNITS[base]}, ece {fit['ece']:.6g}"
    )


def _stem(path: str) -> str:
    """A file's name without its folder and extensions (``runs/teacher.parquet`` -> ``teacher``)."""
    return os.path.basename(path).split(".")[0]


def _in_words(evaluation: Evaluation) -> dict[str, str]:
    """What each divergence compares, in words, with the files' stems as the distributions
    (``KL(teacher ‖ student)``), or p and q where the stems say nothing (stdin, the same
    stem); the top-1 agreement's name and alias. Empty without labels."""
    labels = evaluation.labels
    if labels is None:
        return {}
    p, q = _stem(labels.path), _stem(evaluation.predictions.path)
    if not p or not q or p == q or "-" in (labels.path, evaluation.predictions.path):
        p, q = "p", "q"
    settings = evaluation.state.settings
    t2 = " × T²" if settings.get("t2") else ""
    words = {"kl_divergence": f"KL({p} ‖ {q}){t2}", "reverse_kl_divergence": f"KL({q} ‖ {p}){t2}"}
    beta = settings.get("js_beta")
    if beta is not None:
        words["js_divergence"] = f"JS({p}, {q}), β = {beta:g} on {p}{t2}"
    for metric in REGISTRY.values():
        if metric.alias is not None:
            words[metric.name] = f"{metric.name.replace('top1_', 'top-1 ')} (gates: also {metric.alias})"
    return words


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


LATENT_DIMENSION_ROWS = 32
"""Dimensions the latent-kl table lists (the largest KL first); the JSON lists every one."""


def latent_table(run: LatentRun, results: LatentResults, gates: Sequence[GateResult] = ()) -> Group:
    """The rich renderable of a latent-kl run: header, metrics, per-dimension KL, gates.

    Args:
        run: The inputs and settings.
        results: The numbers.
        gates: Checked gates.

    Returns:
        Something to print on a rich console.
    """
    settings = run.state.settings
    header = _header()
    latent = run.latent
    header.add_row("latent", Text.assemble(_name(latent.path), f"  ({latent.format}, {latent.kind})"))
    if run.scale is not None:
        header.add_row("scales", Text.assemble(_name(run.scale.path), f"  ({run.scale.format})"))
    _merged_row(header, run.state.inputs)
    prior = "N(0, I)" if settings["prior"] == "standard" else f"given, as {settings['prior_param']}"
    header.add_row(
        "rows",
        f"{results.n_samples:,}  ·  dimensions {len(settings['dims']):,}  ·  scales as {settings['param']}"
        f"  ·  prior {prior}",
    )
    table = Table(box=box.SIMPLE_HEAD)
    for name, justify in (("metric", "left"), ("value", "right"), ("± std. error", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.add_column("unit")
    for name, value in results.metrics.items():
        metric = declared(name, "latent-kl")
        se = results.standard_error.get(name, math.nan)
        value_text = fmt(value) if metric.unit != "count" or math.isnan(value) else f"{int(value):,}"
        table.add_row(name, value_text, _fmt_se(se), metric.unit_name(results.base))
    dims = Table(
        box=box.SIMPLE_HEAD,
        title=f"KL per dimension, largest first ({results.unit})",
        title_justify="left",
    )
    for name, justify in (("dimension", "left"), ("mean KL", "right"), ("share", "right")):
        dims.add_column(name, justify=justify)  # type: ignore[arg-type]
    dims.add_column("var(μ)", justify="right")
    dims.add_column("state")
    shown_rows = results.dimensions[:LATENT_DIMENSION_ROWS]
    for row in shown_rows:
        state = "collapsed" if row["collapsed"] else ("active" if row["active"] else "inactive")
        style = "red" if row["collapsed"] else ("" if row["active"] else "yellow")
        share = "" if row["share"] is None else f"{100 * row['share']:.1f}%"
        dims.add_row(
            _name(row["dim"]), fmt(row["kl"], 4), share, fmt(row["mu_variance"], 3), Text(state, style=style)
        )
    parts: list[Any] = [header, table, dims]
    if len(results.dimensions) > len(shown_rows):
        parts.append(
            Text(
                f"… {len(results.dimensions) - len(shown_rows):,} more dimensions in --format json",
                style="dim",
            )
        )
    if results.collapsed:
        parts.append(_name("collapsed: " + ", ".join(results.collapsed)))
    if settings["free_bits"] is not None:
        parts.append(
            Text(
                f"free bits: λ = {settings['free_bits']:g} nats a dimension, Σ_d max(λ, mean KL_d)",
                style="dim",
            )
        )
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


def _change_cell(change: float, pct: float | None, test: Any) -> str:
    """A perplexity change, its paired standard error and percentage, * when significant."""
    se = "" if test is None or math.isnan(test.perplexity_se) else f" ±{fmt(test.perplexity_se, 2)}"
    mark = " *" if test is not None and test.significant else ""
    return f"{_signed(change)}{se} ({_signed(pct, 3, '%')}){mark}"


def trend_table(
    rows: Sequence[TrendRow], base: str, signature: str, gate: dict[str, Any] | None, alpha: float = 0.05
) -> Group:
    """The rich renderable of a trend: a row per checkpoint, then a sparkline.

    Args:
        rows: The checkpoints in step order.
        base: The log base of the cross-entropy.
        signature: The settings signature.
        gate: The ``--fail-if-worse`` gate and its outcome, or None.
        alpha: The significance level of the changes' tests.

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
            _change_cell(r.change, r.change_pct, r.change_test) if r.change is not None else "",
            "best" if r.best else _change_cell(r.from_best, r.from_best_pct, r.from_best_test),
            Text("★", style="bold green") if r.best else "",
            _name(file),
        )
    parts: list[Any] = [
        table,
        Text(f"perplexity by step  {sparkline([r.checkpoint.perplexity for r in rows])}"),
    ]
    if any(r.change_test is not None or r.from_best_test is not None for r in rows):
        parts.append(
            Text(
                f"± the paired standard error of each perplexity change; * significant at alpha {alpha:g} "
                "(two-sided, paired on the same rows or sequences, no correction across checkpoints)"
            )
        )
    if gate is not None:
        verdict = Text("FAIL", style="bold red") if gate["failed"] else Text("pass", style="green")
        parts.append(
            Text.assemble(
                f"gate: fail if the last checkpoint is more than {gate['pct']:g}% above the best, "
                f"significantly at alpha {gate.get('alpha', alpha):g}: ",
                verdict,
            )
        )
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
            Text(m.name + (f" (also {m.alias})" if m.alias else "")),
            unit,
            direction[m.higher_is_better],
            Text(m.formula),
            ", ".join(m.commands),
        )
    return table


_MARKS = {
    "better": Text("better", style="bold green"),
    "worse": Text("worse", style="bold red"),
    "different": Text("different", style="yellow"),
    "no significant difference": Text("no significant difference", style="dim"),
}


def _interval(low: float, high: float, digits: int = 4) -> str:
    return f"[{fmt(low, digits)}, {fmt(high, digits)}]"


def _p(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.3g}"


def compare_table(
    comparison: Comparison,
    comparisons: Sequence[dict[str, Any]],
    base: str,
    gates: Sequence[GateResult] = (),
    worse: Sequence[dict[str, Any]] = (),
    groups: CompareGroupReport | None = None,
    top: int | None = None,
) -> Group:
    """The rich renderable of a comparison: per candidate, a row per metric, the
    perplexity ratio, McNemar's test and the per-row cross-entropies; then the
    distribution block, the groups, the gates and the signature.

    Args:
        comparison: The inputs, settings and warnings.
        comparisons: Each candidate's numbers.
        base: The log base of information values.
        gates: Checked ``--fail-if`` gates.
        worse: Checked ``--fail-if-worse`` gates.
        groups: The groups, when the rows are grouped.
        top: The most groups to list (see :func:`groups_tables`).

    Returns:
        Something to print on a rich console.
    """
    from infocli.report.documents import COMPARE_METHOD

    state, settings = comparison.state, comparison.state.settings
    part = state.inputs[0]
    header = _header()
    b = part["baseline"]
    header.add_row("baseline", Text.assemble(_name(b["path"]), f"  ({b['format']}, read as {b['kind']})"))
    for label, c in zip(comparison.candidates, part["candidates"], strict=True):
        header.add_row("candidate", Text.assemble(_name(label), f"  ({c['format']}, read as {c['kind']})"))
    labels = part["labels"]
    header.add_row(
        "labels",
        "none: label-free comparisons only"
        if labels is None
        else Text.assemble(_name(labels["path"]), f"  ({labels['format']}, {labels['kind']})"),
    )
    _merged_row(header, state.inputs)
    header.add_row(
        "rows",
        f"{state.n_samples:,}  ·  classes {settings['n_classes']:,}"
        + (f"  ·  ignored {state.n_ignored:,}" if state.n_ignored else ""),
    )
    confidence = settings["confidence"]
    parts: list[Any] = [header]
    for label, c in zip(comparison.candidates, comparisons, strict=True):
        table = Table(
            box=box.SIMPLE_HEAD, title=Text.assemble("candidate ", _name(label)), title_justify="left"
        )
        for name, justify in (
            ("metric", "left"), ("baseline", "right"), ("candidate", "right"), ("Δ", "right"),
            ("± SE", "right"), (f"{confidence:.0%} interval", "right"), ("p", "right"),
            ("p (Holm)", "right"), ("result", "left"), ("unit", "left"),
        ):  # fmt: skip
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for name, row in c["metrics"].items():
            p = row["family_p_value"]
            table.add_row(
                name + (" (McNemar)" if name == "accuracy" else ""),
                fmt(row["baseline"]),
                fmt(row["candidate"]),
                _signed(row["delta"]),
                _fmt_se(row["std_error"]),
                _interval(*row["interval"]),
                _p(p) + ("" if "tested_as" not in row else " (as cross_entropy)"),
                _p(row["adjusted_p_value"]),
                _MARKS[row["verdict"]],
                REGISTRY[name].unit_name(base),
            )
        if "perplexity" in c:
            ppl = c["perplexity"]
            table.add_row(
                "perplexity (ratio)",
                fmt(ppl["baseline"]),
                fmt(ppl["candidate"]),
                f"×{fmt(ppl['ratio'], 4)}",
                "",
                _interval(*ppl["interval"]),
                "",
                "",
                Text("as cross_entropy", style="dim"),
                "",
            )
        parts.append(table)
        notes = []
        if "accuracy_mcnemar" in c:
            m = c["accuracy_mcnemar"]
            notes.append(
                f"accuracy: {m['baseline_only']:,} rows right only for the baseline, "
                f"{m['candidate_only']:,} only for the candidate (McNemar exact p {_p(m['p_value'])})"
            )
        if "cross_entropy_rows" in c:
            r = c["cross_entropy_rows"]
            notes.append(
                f"per-row cross-entropy: correlation {fmt(r['correlation'], 4)}; candidate lower on "
                f"{r['wins']:,} rows, tied on {r['ties']:,} (within {r['tie_nats']:g} nats), higher on {r['losses']:,}"
            )
        parts.extend(Text(note) for note in notes)
        parts.append(_distribution_table(c["distributions"], base))
    if groups is not None:
        parts.extend(compare_groups_tables(groups, base, top))
    if gates:
        parts.append(_gates_table(gates))
    if worse:
        parts.append(_worse_table(worse))
    parts.append(Text(f"method: {COMPARE_METHOD}", style="dim"))
    parts.append(Text(f"signature: {comparison.signature(base)}", style="dim"))
    return Group(*parts)


_GROUP_MARKS = {"better": ("✓", "green"), "worse": ("✗", "bold red"), "different": ("≠", "yellow")}
"""A group's delta marked by its verdict (significant after Holm's correction)."""


def compare_groups_tables(groups: CompareGroupReport, base: str, top: int | None = None) -> list[Any]:
    """The groups table of a comparison (per candidate and metric, Δ ± SE marked by its
    verdict), and what was left out of it: groups beyond ``top``, suppressed groups.

    Args:
        groups: The groups.
        base: The log base, for the units.
        top: The most groups to list: :data:`GROUPS_SHOWN` when None, all when 0.

    Returns:
        Renderables.
    """
    top = GROUPS_SHOWN if top is None else top or None
    table = _groups_table(groups.columns, f"worst Δ{groups.sort} first" if groups.sort else None)
    several = len(groups.candidates) > 1
    for i, _ in enumerate(groups.candidates, 1):
        for name in groups.metrics:
            unit = REGISTRY[name].unit_name(base)
            title = f"Δ{name}" + (f" ({unit})" if unit else "")
            table.add_column(f"[{i}] {title}" if several else title, justify="right")
    shown_rows = groups.rows(top)
    for row in shown_rows:
        cells: list[Any] = [_name(v) for v in row["key"].values()]
        cells.append(f"{row['n_samples']:,}")
        for c in row["comparisons"]:
            for name in groups.metrics:
                numbers = c["metrics"][name]
                cell = Text(_signed(numbers["delta"]))
                se = _fmt_se(numbers["std_error"])
                if se:
                    cell.append(f" ±{se}", style="dim")
                mark = _GROUP_MARKS.get(numbers["verdict"])
                if mark is not None:
                    cell.append(f" {mark[0]}", style=mark[1])
                cells.append(cell)
        table.add_row(*cells)
    parts: list[Any] = [table]
    notes = (
        ["; ".join(f"[{i}] {shown(label)}" for i, label in enumerate(groups.candidates, 1)) + "."]
        if several
        else []
    )
    notes += _left_out(len(shown_rows), groups.n_rows, groups.suppressed, groups.min_group_size)
    notes.append(
        "Δ = candidate − baseline ± paired std. error; ✓ better, ✗ worse: significant after Holm's "
        "correction over every reported group, metric and candidate (the JSON has each p, unadjusted and adjusted)."
    )
    parts.extend(Text(note, style="dim") for note in notes)
    return parts


def _distribution_table(blocks: dict[str, Any], base: str) -> Table:
    """The distribution block of one candidate: KL(p ‖ q), top-1 agreement, Δp."""
    from infocli.metrics.sketch import QUANTILES

    accuracy = blocks["kl_divergence"]["relative_accuracy"]
    title = f"distributions (p = baseline, q = candidate; percentiles within {accuracy:.1%}, relative)"
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left")
    stats = ("min", *QUANTILES, "max")
    table.add_column("per row")
    table.add_column("mean", justify="right")
    table.add_column("± SE", justify="right")
    for stat in stats:
        table.add_column(stat, justify="right")
    kl, top1 = blocks["kl_divergence"], blocks["top1_agreement"]
    rows = [(f"KL(p ‖ q) ({UNITS[base]})", kl)]
    if "delta_p" in blocks:
        dp = blocks["delta_p"]
        rows.append((f"Δp = q[label] − p[label] (rms {fmt(dp['rms'], 4)})", dp))
    for name, row in rows:
        table.add_row(
            Text(name), fmt(row["mean"], 4), _fmt_se(row["std_error"]), *(fmt(row[s], 4) for s in stats)
        )
    table.add_row("top-1 agreement", fmt(top1["mean"], 4), _fmt_se(top1["std_error"]), *("" for _ in stats))
    return table


def _worse_table(worse: Sequence[dict[str, Any]]) -> Table:
    """The ``--fail-if-worse`` gates, a row per metric and candidate."""
    rules = "; ".join(dict.fromkeys(g["rule"] for g in worse))
    table = Table(box=box.SIMPLE_HEAD, title=f"fail if worse: {rules}", title_justify="left")
    for name in ("metric", "candidate", "Δ", "test", "result"):
        table.add_column(name, justify="right" if name in ("Δ",) else "left")
    for gate in worse:
        for m in gate["candidates"]:
            if "bound" in m:
                test = f"one-sided bound {fmt(m['bound'], 4)} vs margin {fmt(m['margin'], 4)}"
            else:
                test = f"p (Holm) {_p(m['adjusted_p_value'])}"
            result = Text("FAIL", style="bold red") if m["failed"] else Text("pass", style="green")
            table.add_row(gate["metric"], _name(m["candidate"]), _signed(m["delta"]), test, result)
    return table
