"""The evaluation pipeline: files -> aligned chunks -> metrics state.

This is the only place that knows both the readers and the metrics core. It decides
which columns hold the predictions and the labels, streams the two files in step,
validates and scores each chunk, and returns the state together with what the report
needs to say about the inputs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np

from infocli import __version__
from infocli.errors import InfoCliError
from infocli.gates import Gate, check_available
from infocli.metrics.classification import (
    METRICS,
    Distributions,
    EvalState,
    Scorer,
    check_class_indices,
    check_settings,
)
from infocli.readers import (
    Batch,
    Table,
    aligned,
    class_codes,
    in_order,
    open_table,
    prefetch,
    row_count_error,
    usable_cpus,
)

READ_BYTES = 12 << 20
"""Default read size, in bytes of prediction values (at 8 bytes a value), rounded down to a
whole number of chunks. A Parquet decoder pays for every column of every batch, so files
are read in larger batches than they are scored in: 1,000,000 x 100 float32 Parquet
decodes in 0.94 CPU-seconds by 10,485-row batches and 0.74 by 20,000-row ones. Read this
way (before :data:`SHORT_READ_ROWS` made it read whole row groups), a 1M x 100
student/teacher pair peaked at 318 MiB with this, 367 MiB with 16 MiB and 423-438 MiB with
32 MiB, and took the same time with 12 or 16 MiB (2.35 s; 9 interleaved rounds)."""

BLOCK_BYTES = 32 << 20
"""Largest block of a file (a Parquet row group), in bytes of prediction values at 8 bytes
a value, that is read whole when reads of :data:`READ_BYTES` would be short (see
:data:`SHORT_READ_ROWS`)."""

SHORT_READ_ROWS = 32_768
"""Reads of fewer rows pay a Parquet decoder's fixed cost per column and batch too often,
and a batch that ends inside a row group leaves the next one to decode its dictionary-
encoded columns again from a cold dictionary. A 1M x 100 float32 student/teacher pair
written in 40,000-row groups took 3.58 instead of 3.93 CPU-seconds read a row group at a
time rather than by 15,726 rows (2.02 against 2.24 s, 370 against 312 MiB; 7 interleaved
rounds). A 5M x 10 file in 400,000-row groups, read by 157,284 rows, gains nothing from
it (0.83 against 0.79 s, 228 against 178 MiB)."""

READ_AHEAD_BYTES = 2 * READ_BYTES
"""How far each file is read ahead of the scoring, in bytes of prediction values (at 8
bytes a value), and at least one read. Two reads of :data:`READ_BYTES` keep the decoder
busy: one ahead made 5M x 10 Parquet 0.79 against 0.73 s and 1M x 10 CSV 1.32 against
1.19 s. A read of a whole 40,000 x 100 row group goes one ahead: the student/teacher pair
then peaked at 342 against 365 MiB, in 1.84 against 1.79 s (7 interleaved rounds)."""

CHUNK_BYTES = 4 << 20
"""Default chunk size, in bytes of prediction values (at 8 bytes a value). Measured on
5,000,000 x 10 probabilities: chunks this small stay in the CPU caches while the reader
thread decodes the next one, and are faster than larger ones (0.93 s against 1.02 s for
16 MiB)."""


ProgressCallback = Callable[[int, int | None], None]


@dataclass(frozen=True)
class EvalOptions:
    """Every setting of an evaluation (the command-line options of ``infocli eval``)."""

    kind: str = "auto"
    target_kind: str = "auto"
    pred_cols: tuple[str, ...] | None = None
    label_col: str | None = None
    base: str = "e"
    temperature: float = 1.0
    eps: float = 1e-12
    tol: float = 1e-3
    chunk_rows: int | None = None
    ignore_index: int | None = None
    input_format: str = "csv"

    @property
    def label_name(self) -> str:
        """The label column to look for."""
        return self.label_col or "label"

    def check(self) -> None:
        """Reject settings that cannot work, before any file is opened.

        Raises:
            InfoCliError: A non-positive temperature, chunk size or tolerance; a negative eps.
        """
        check_settings(temperature=self.temperature, eps=self.eps, tol=self.tol)
        if self.chunk_rows is not None and self.chunk_rows < 1:
            raise InfoCliError(f"--chunk-rows must be at least 1, got {self.chunk_rows}")


@dataclass(frozen=True)
class InputInfo:
    """What the report says about an input file: where, in what format, read as what."""

    path: str
    format: str
    kind: str


@dataclass
class Evaluation:
    """The outcome of :func:`evaluate`: the metrics state and what the report needs."""

    state: EvalState
    predictions: InputInfo
    labels: InputInfo | None
    n_classes: int
    options: EvalOptions
    warnings: list[str] = field(default_factory=list)

    def signature(self) -> str:
        """Every setting that changes a number, in one short string; the version last."""
        o = self.options
        parts = [f"preds:{self.predictions.kind}", f"labels:{self.labels.kind if self.labels else 'none'}"]
        parts += [f"base:{o.base}", f"eps:{o.eps:g}", f"T:{o.temperature:g}", f"tol:{o.tol:g}"]
        if o.ignore_index is not None:
            parts.append(f"ignore:{o.ignore_index}")
        return "|".join([*parts, f"version:{__version__}"])


@dataclass
class _Layout:
    """Which columns of which file hold what."""

    pred_cols: list[str]
    n_classes: int | None
    binary: bool
    class_names: list[str] | None  # the classes' names, for class-name labels
    column_names: list[str] | None  # the prediction columns' names, for messages
    label_source: Table | None = None
    label_kind: str | None = None  # "index", "name" or "dist"
    label_vector: str | None = None
    target_cols: list[str] = field(default_factory=list)


def _layout(preds: Table, labels: Table | None, options: EvalOptions) -> _Layout:
    name = options.label_name
    if options.pred_cols:
        pred_cols = list(options.pred_cols)
        for col in pred_cols:
            preds.require(col, "--pred-cols")
    else:
        pred_cols = [c.name for c in preds.columns if c.name != name]
        if not pred_cols:
            raise InfoCliError(f"no prediction columns besides {name!r}", path=preds.path)
    duplicates = sorted(c for c, n in Counter(pred_cols).items() if n > 1)
    if duplicates:
        raise InfoCliError(
            f"column name {duplicates[0]!r} appears more than once among the prediction columns",
            path=preds.path,
            hint="Give every class column its own name",
        )
    columns = [preds.require(col, "--pred-cols") for col in pred_cols]
    if len(columns) == 1 and columns[0].kind == "list":
        n_classes, binary, class_names = columns[0].width, False, None
    else:
        for column in columns:
            found = preds.non_number(column.name) if column.kind == "string" else None
            if found is not None:  # a number column with a bad field: name its row
                found.hint = "Pass --pred-cols to choose the class columns"
                raise found
            if column.kind != "number":
                what = (
                    "a list column among others" if column.kind == "list" else f"not numeric ({column.type})"
                )
                raise InfoCliError(
                    f"prediction column {column.name!r} is {what}",
                    path=preds.path,
                    hint="Pass --pred-cols to choose the class columns",
                )
        n_classes, binary = len(columns), len(columns) == 1
        class_names = pred_cols if not binary else None
    if n_classes == 0:
        raise InfoCliError("the predictions have no classes (0 columns)", path=preds.path)
    named = columns[0].kind != "list" and all(pred_cols)
    layout = _Layout(pred_cols, 2 if binary else n_classes, binary, class_names, pred_cols if named else None)

    source = labels
    if labels is None and preds.column(name) is not None:
        source = preds
    if source is None:
        if options.label_col is not None:
            preds.require(name, "--label-col")
        return layout
    layout.label_source = source
    vector = source.column(name)
    if vector is None and options.label_col is not None:
        source.require(name, "--label-col")
    if vector is None and len(source.columns) == 1:
        vector = source.columns[0]
    if vector is not None and vector.kind == "list":
        layout.label_kind, layout.target_cols = "dist", [vector.name]
        _check_target_width(layout, vector.width, source)
    elif vector is not None:
        if vector.kind not in ("number", "bool", "string"):
            raise InfoCliError(
                f"label column {vector.name!r} has type {vector.type}; expected class indices or names",
                path=source.path,
            )
        layout.label_vector = vector.name
        layout.label_kind = "name" if vector.kind == "string" else "index"
        if layout.label_kind == "name" and layout.class_names is None:
            raise InfoCliError(
                "labels are class names, but the prediction columns have no names to match",
                path=source.path,
                hint="Use class indices, or name the prediction columns after the classes",
            )
    else:
        for column in source.columns:
            if column.kind != "number":
                raise InfoCliError(
                    f"column {column.name!r} is not numeric ({column.type}), so the file cannot be "
                    f"read as target distributions, and it has no {name!r} column",
                    path=source.path,
                    hint="Name the label column with --label-col",
                )
        target_cols = [c.name for c in source.columns]
        if layout.class_names and set(target_cols) == set(layout.class_names):
            target_cols = list(layout.class_names)  # matched by name, whatever the file order
        layout.label_kind, layout.target_cols = "dist", target_cols
        _check_target_width(layout, len(target_cols), source)
    if options.ignore_index is not None and layout.label_kind != "index":
        raise InfoCliError("--ignore-index applies to class-index labels only", path=source.path)
    return layout


def _check_target_width(layout: _Layout, width: int | None, source: Table) -> None:
    if width is not None and layout.n_classes is not None and width != layout.n_classes:
        raise InfoCliError(
            f"target distributions have {width} classes but the predictions have {layout.n_classes}",
            path=source.path,
        )


def _unfiltered(error: InfoCliError, kept: np.ndarray | None) -> InfoCliError:
    """Point an error found among the kept rows of a chunk at its row of the chunk."""
    if kept is not None and error.row is not None:
        error.row = int(kept[error.row])
    return error


def _workers(preds: Table, soft_targets: bool) -> int:
    """Threads to score chunks on.

    Every CPU, except that one is left to the decoder when the predictions come from CSV
    or Parquet and the labels are classes: scoring against a class then costs less than
    decoding, which becomes the slower stage. Measured on 2 cores, one scoring thread
    against two: 5M x 10 Parquet with labels 0.91 s against 1.07 s; 1M x 100 Parquet
    with soft targets 2.94 s against 2.42 s; 200k x 1,000 .npy 1.13 s against 1.05 s.
    """
    cpus = usable_cpus()
    decoder_bound = preds.format != "npy" and not soft_targets
    return max(1, cpus - decoder_bound)


def chunking(preds: Table, n_values: int | None, chunk_rows: int | None = None) -> tuple[int, int]:
    """Rows per chunk and rows per read of a predictions file.

    By default a read is a whole number of chunks, so that no chunk straddles two reads.
    Where such reads would be short (:data:`SHORT_READ_ROWS`) and the file is stored in
    blocks (row groups) that fit :data:`BLOCK_BYTES`, it is read in whole blocks instead,
    cut into chunks of equal size (at most the default one).

    Args:
        preds: The predictions file.
        n_values: Values per row (classes), if known.
        chunk_rows: Rows per chunk asked for, if any: reads are then whole chunks.

    Returns:
        (rows per chunk, rows per read).
    """
    rows = chunk_rows or default_chunk_rows(n_values)
    default_read = default_chunk_rows(n_values, READ_BYTES)
    block = preds.block_rows
    short = default_read < SHORT_READ_ROWS
    if chunk_rows is None and short and block and block <= default_chunk_rows(n_values, BLOCK_BYTES):
        read = block * max(1, default_read // block)
        return -(-read // -(-read // rows)), read  # read / ceil(read / rows), rounded up
    return rows, rows * max(1, default_read // rows)


def default_chunk_rows(n_values: int | None, budget: int = CHUNK_BYTES) -> int:
    """Rows per chunk for a row of ``n_values`` prediction values, from a byte budget.

    Args:
        n_values: Values per row (classes), if known.
        budget: Bytes of values (at 8 bytes a value).

    Returns:
        The number of rows.
    """
    return max(1, budget // (8 * max(n_values or 1000, 1)))


@dataclass(frozen=True)
class _Work:
    """A chunk ready to be scored: its rows, its targets, and where its rows come from.

    The matrices are converted to NumPy by the thread that scores the chunk.
    """

    rows: Batch
    label_first_row: int
    targets: np.ndarray | Batch | None  # class indices, or the rows of target scores
    kept: np.ndarray | None  # rows kept when some labels are ignored
    error: InfoCliError | None = None

    @property
    def first_row(self) -> int:
        """The file row of the chunk's first prediction row."""
        return self.rows.first_row

    def values(self) -> np.ndarray:
        """The prediction scores of the kept rows."""
        values = self.rows.matrix
        assert values is not None
        return values if self.kept is None else values[self.kept]


_Renormalised = tuple[int, tuple[int, float] | None]
"""Rows of a chunk renormalised within --tol: their count, and the first one's chunk row
and sum (None when there are none)."""


@dataclass(frozen=True)
class _Scored:
    """A scored chunk's state, waiting to be merged in order, and its renormalised rows
    for the warning."""

    work: _Work
    state: EvalState
    pred_renormalised: _Renormalised
    target_renormalised: _Renormalised | None


class _Run:
    """One evaluation while its chunks stream through: the scorer, and where errors point."""

    def __init__(self, preds: Table, labels: Table | None, layout: _Layout, options: EvalOptions) -> None:
        self.preds, self.labels, self.layout, self.options = preds, labels, layout, options
        self.scorer = Scorer(
            kind=options.kind,
            target_kind=options.target_kind,
            temperature=options.temperature,
            eps=options.eps,
            tol=options.tol,
            binary=layout.binary,
            class_names=layout.column_names,
            target_names=layout.target_cols if len(layout.target_cols) > 1 else None,
        )
        self.warnings: list[str] = []
        self._renormalised: dict[str, tuple[int, int, float]] = {}

    def chunks(self, rows: int, read_rows: int) -> Iterator[tuple[Batch, Batch | None]]:
        """The aligned chunks of ``rows`` rows of the predictions and the labels, each file
        read ahead, ``read_rows`` at a time, in a thread of its own."""
        layout = self.layout
        from_preds = layout.label_source is self.preds
        vectors = [layout.label_vector] if layout.label_vector is not None else []
        pred_cols = layout.pred_cols
        depth = max(1, default_chunk_rows(layout.n_classes, READ_AHEAD_BYTES) // read_rows)
        pred_reads = self.preds.batches(pred_cols, vectors if from_preds else [], read_rows)
        pred_batches = prefetch(pred_reads, depth)
        if layout.label_source is None or from_preds:
            return aligned(self.preds, pred_batches, None, None, rows)
        assert self.labels is not None
        label_batches = prefetch(self.labels.batches(layout.target_cols, vectors, read_rows), depth)
        return aligned(self.preds, pred_batches, self.labels, label_batches, rows)

    def _note_renormalised(
        self,
        renormalised: _Renormalised,
        table: Table,
        first_row: int,
        kept: np.ndarray | None,
    ) -> None:
        n, first = renormalised
        if first is None:
            return
        count, row, total = self._renormalised.get(table.path, (0, -1, 0.0))
        if row < 0:
            local, total = first
            row = first_row + (int(kept[local]) if kept is not None else local)
        self._renormalised[table.path] = (count + n, row, total)

    def _targets(self, batch: Batch, table: Table) -> tuple[np.ndarray | Batch | None, np.ndarray | None]:
        """The chunk's class indices (validated) or rows of target scores, and the rows
        kept when some labels are ignored."""
        layout, options = self.layout, self.options
        if layout.label_kind == "dist":
            _check_target_width(layout, batch.width, table)
            return batch, None
        if layout.label_kind is None:
            return None, None
        assert layout.label_vector is not None and layout.n_classes is not None
        labels = batch.vectors[layout.label_vector]
        if layout.label_kind == "name":
            assert layout.class_names is not None
            codes = class_codes(labels, layout.class_names)
            if (codes < 0).any():
                row = int(np.flatnonzero(codes < 0)[0])
                raise InfoCliError(
                    f"class name {str(labels[row])!r} is not among the prediction columns "
                    f"({', '.join(layout.class_names)})",
                    row=row,
                )
            labels = codes
        kept = None
        if options.ignore_index is not None:
            keep = labels != options.ignore_index
            if not keep.all():
                kept = np.flatnonzero(keep)
                self.scorer.state.n_ignored += len(labels) - len(kept)
                labels = labels[kept]
        try:
            return check_class_indices(labels, layout.n_classes), kept
        except InfoCliError as error:
            raise _unfiltered(error, kept) from None

    def prepare(self, batch: Batch, label_batch: Batch | None) -> _Work:
        """Take a chunk's labels and settle the kinds (in file order, on the main thread).

        An error is carried in the work, not raised, so that it surfaces in file order:
        after any error in the chunks still being scored.
        """
        if self.layout.n_classes is None:
            self.layout.n_classes = batch.width
        table = self.layout.label_source
        label_rows = label_batch if label_batch is not None else batch
        try:
            targets, kept = self._targets(label_rows, table) if table is not None else (None, None)
        except InfoCliError as error:
            failed = error.at(table.path if table else None, row_offset=label_rows.first_row)
            return _Work(batch, label_rows.first_row, None, None, failed)
        work = _Work(batch, label_rows.first_row, targets, kept)
        soft = targets if isinstance(targets, Batch) else None
        if self.scorer.kind == "auto" or (soft is not None and self.scorer.target_kind == "auto"):
            # Converts this chunk here, on the main thread, until the kinds are decided.
            self.scorer.decide(work.values(), soft.matrix if soft is not None else None)
        return work

    def compute(self, work: _Work) -> _Scored:
        """Validate and score a prepared chunk (thread-safe: nothing is accumulated)."""
        if work.error is not None:
            raise work.error
        try:
            pred = self.scorer.predictions(work.values())
        except InfoCliError as error:
            raise _unfiltered(error, work.kept).at(self.preds.path, row_offset=work.first_row) from None
        target: np.ndarray | Distributions | None
        if isinstance(work.targets, Batch):
            assert self.layout.label_source is not None and work.targets.matrix is not None
            try:
                target = self.scorer.targets(work.targets.matrix)
            except InfoCliError as error:
                raise error.at(self.layout.label_source.path, row_offset=work.label_first_row) from None
        else:
            target = work.targets
        state = self.scorer.score(pred, target)
        renormalised = (
            (target.renormalised, target.first_renormalised) if isinstance(target, Distributions) else None
        )
        return _Scored(work, state, (pred.renormalised, pred.first_renormalised), renormalised)

    def accumulate(self, scored: _Scored) -> None:
        """Add a scored chunk to the state (in file order, on the main thread)."""
        work = scored.work
        self._note_renormalised(scored.pred_renormalised, self.preds, work.first_row, work.kept)
        if scored.target_renormalised is not None and self.layout.label_source is not None:
            self._note_renormalised(
                scored.target_renormalised, self.layout.label_source, work.label_first_row, None
            )
        self.scorer.state.merge(scored.state)

    def finish(self) -> None:
        """Check that rows were read, and write the warnings."""
        state, options = self.scorer.state, self.options
        if state.n_samples == 0:
            if state.n_ignored:
                raise InfoCliError(
                    f"every row's label is --ignore-index {options.ignore_index}; nothing to evaluate",
                    path=self.layout.label_source.path if self.layout.label_source else None,
                )
            raise InfoCliError("no rows; expected at least one row of predictions", path=self.preds.path)
        for path, (count, row, total) in self._renormalised.items():
            self.warnings.append(
                f"{path}: {count:,} rows summed to 1 only within --tol {options.tol:g} and were "
                f"renormalised (first: row {row}, sum {total:.9g})"
            )
        if state.n_clipped:
            self.warnings.append(
                f"{state.n_clipped:,} cross-entropy terms had a probability below --eps {options.eps:g} "
                "and were floored at it"
            )


def evaluate(
    preds_path: str,
    labels_path: str | None,
    options: EvalOptions,
    *,
    gates: Sequence[Gate] = (),
    on_progress: ProgressCallback | None = None,
) -> Evaluation:
    """Evaluate a predictions file against a labels file (or none).

    Args:
        preds_path: The predictions, or ``-`` for stdin.
        labels_path: The labels or target distributions, ``-`` for stdin, or None.
        options: The settings.
        gates: ``--fail-if`` gates, checked against the metrics this run can report
            before any data is read.
        on_progress: Called after each chunk with (rows done, total rows if known).

    Returns:
        The evaluation.

    Raises:
        InfoCliError: Bad options or bad input; nothing is returned for a partial read.
    """
    options.check()
    if preds_path == "-" and labels_path == "-":
        raise InfoCliError("only one of the inputs can be read from stdin (-)")
    with ExitStack() as stack:
        preds = stack.enter_context(open_table(preds_path, stdin_format=options.input_format))
        labels = None
        if labels_path is not None:
            labels = stack.enter_context(open_table(labels_path, stdin_format=options.input_format))
        layout = _layout(preds, labels, options)
        available = METRICS if layout.label_source is not None else ("entropy",)
        check_available(gates, available, "without labels only the entropy is reported")
        if (
            labels is not None
            and preds.n_rows is not None
            and labels.n_rows is not None
            and preds.n_rows != labels.n_rows
        ):
            short, long = (preds, labels) if preds.n_rows < labels.n_rows else (labels, preds)
            raise row_count_error(short, short.n_rows or 0, long, long.n_rows or 0)
        rows, read_rows = chunking(preds, layout.n_classes, options.chunk_rows)
        run = _Run(preds, labels, layout, options)
        work = (run.prepare(batch, label_batch) for batch, label_batch in run.chunks(rows, read_rows))
        workers = _workers(preds, soft_targets=layout.label_kind == "dist")
        for scored in in_order(run.compute, work, workers, "infocli-score"):
            run.accumulate(scored)
            if on_progress:
                on_progress(scored.work.first_row + scored.work.rows.n_rows, preds.n_rows)
        run.finish()
    assert layout.n_classes is not None
    scorer = run.scorer
    label_info = None
    if layout.label_source is not None:
        kind = scorer.target_kind if layout.label_kind == "dist" else layout.label_kind
        src = layout.label_source
        label_info = InputInfo(src.path, src.format, kind or "")
    return Evaluation(
        scorer.state,
        InputInfo(preds.path, preds.format, scorer.kind),
        label_info,
        layout.n_classes,
        options,
        run.warnings,
    )
