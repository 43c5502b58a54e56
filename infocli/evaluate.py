"""The evaluation pipeline: plan -> aligned chunks -> states -> one state.

This is the only place that knows both the readers and the metrics core. It makes the
plan (:mod:`infocli.plan`), streams the two files in step, validates and scores each
chunk into a state of its own on a pool of threads, and merges the states in file order.
Files and in-memory arrays (:func:`evaluate_arrays`) go through the same loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from infocli.errors import InfoCliError, param, shown
from infocli.gates import Gate, check_available
from infocli.grouping import GroupSources, check_group_rows, chunk_keys, group_sources, raw_values
from infocli.ignored import eval_ignored, npz_ignored
from infocli.metrics.groups import GroupAccumulator, GroupState, KeyIndex, grouped_names
from infocli.metrics.inputs import Distributions, check_class_indices
from infocli.metrics.registry import REGISTRY, gate_names
from infocli.metrics.scores import RowScores, Scorer
from infocli.metrics.state import EvalState, Renormalised
from infocli.plan import (
    MAX_CHUNK_ROWS,
    Decided,
    EvalOptions,
    EvalPlan,
    InputInfo,
    Layout,
    check_target_width,
    layout_of,
    plan_eval,
    signature,
)
from infocli.readers import (
    Batch,
    Table,
    aligned_many,
    class_codes,
    in_order,
    open_table,
    prefetch,
    row_count_error,
    usable_cpus,
)
from infocli.readers.memory import ArrayTable

__all__ = ["EvalOptions", "Evaluation", "evaluate", "evaluate_arrays", "evaluate_tables"]

READ_BYTES = 12 << 20
"""Default read size, in bytes of prediction values (at 8 bytes a value), rounded down to a
whole number of chunks: files are read in larger batches than they are scored in."""

BLOCK_BYTES = 32 << 20
"""Largest block of a file (a Parquet row group), in bytes of prediction values at 8 bytes
a value, that is read whole when reads of :data:`READ_BYTES` would be short."""

SHORT_READ_ROWS = 32_768
"""Reads of fewer rows than this are short: a file stored in blocks that fit
:data:`BLOCK_BYTES` is then read a block at a time."""

READ_AHEAD_BYTES = 2 * READ_BYTES
"""How far each file is read ahead of the scoring, in bytes of prediction values (at 8
bytes a value), and at least one read."""

CHUNK_BYTES = 4 << 20
"""Default chunk size, in bytes of prediction values (at 8 bytes a value): small enough to
stay in the CPU caches while the reader thread decodes the next one."""


ProgressCallback = Callable[[int, int | None], None]


@dataclass
class Evaluation:
    """An evaluation's state, and the warnings of its run; what the report is made of.

    The same object describes a merge of saved states: everything the report says comes
    from the state.
    """

    state: EvalState
    warnings: list[str] = field(default_factory=list)
    decided: Decided | None = None  # the kinds the run's plan settled
    at_temperature: dict[str, Any] | None = None  # cross-entropy (nats) and ECE at T*, with --fit-temperature

    @property
    def predictions(self) -> InputInfo:
        """The (first) predictions file."""
        return InputInfo(**self.state.inputs[0]["predictions"])

    @property
    def labels(self) -> InputInfo | None:
        """The (first) labels file, if any."""
        labels = self.state.inputs[0]["labels"]
        return None if labels is None else InputInfo(**labels)

    @property
    def n_classes(self) -> int:
        """The number of classes."""
        return int(self.state.settings["n_classes"])

    def signature(self, base: str) -> str:
        """Every setting that changes a number (see :func:`infocli.plan.signature`)."""
        return signature(self.state.settings, base)


def _unfiltered(error: InfoCliError, kept: np.ndarray | None) -> InfoCliError:
    """Point an error found among the kept rows of a chunk at its row of the chunk."""
    if kept is not None and error.row is not None:
        error.row = int(kept[error.row])
    return error


def _workers(preds: Table, soft_targets: bool, models: int = 1) -> int:
    """Threads to score chunks on.

    Every CPU, except that one is left to the decoder when one model's predictions come
    from CSV or Parquet and the labels are classes: scoring against a class then costs
    less than decoding, which becomes the slower stage. Measured on 2 cores, one scoring
    thread against two: 5M x 10 Parquet with labels 0.91 s against 1.07 s; 1M x 100
    Parquet with soft targets 2.94 s against 2.42 s; 200k x 1,000 .npy 1.13 s against
    1.05 s. Several models (``compare``) are scored, and compared, on every chunk: two
    W1-sized models, 1.42 s on one scoring thread against 1.01 s on two.
    """
    cpus = usable_cpus()
    decoder_bound = preds.format != "npy" and not soft_targets and models == 1
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
    rows = min(chunk_rows, MAX_CHUNK_ROWS) if chunk_rows else default_chunk_rows(n_values)
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
    n_ignored: int = 0  # rows left out for their label
    error: InfoCliError | None = None
    groups: np.ndarray | None = None  # each kept row's group code, when the rows are grouped

    @property
    def first_row(self) -> int:
        """The file row of the chunk's first prediction row."""
        return self.rows.first_row

    def values(self) -> np.ndarray:
        """The prediction scores of the kept rows."""
        values = self.rows.matrix
        assert values is not None
        return values if self.kept is None else values[self.kept]


def _chunks(
    preds: Table,
    layout: Layout,
    rows: int,
    read_rows: int,
    groups: Table | None = None,
    sources: GroupSources | None = None,
) -> Iterator[tuple[Batch, Batch | None, Batch | None]]:
    """The aligned chunks of ``rows`` rows of the predictions, the labels and the groups file."""
    for batches in aligned_chunks(layout, [(preds, layout.pred_cols)], rows, read_rows, groups, sources):
        group_batch = batches[-1] if groups is not None else None
        label_batch = batches[1] if len(batches) > 1 + (groups is not None) else None
        yield batches[0], label_batch, group_batch


def aligned_chunks(
    layout: Layout,
    predictions: Sequence[tuple[Table, list[str]]],
    rows: int,
    read_rows: int,
    groups: Table | None = None,
    sources: GroupSources | None = None,
) -> Iterator[tuple[Batch, ...]]:
    """The aligned chunks of ``rows`` rows of prediction files (each with its columns) and
    of the labels of ``layout``, every file read ahead, ``read_rows`` at a time, in a thread
    of its own.

    The labels come from ``layout.label_source``: the first prediction file (its label
    column is read with its predictions), a file of their own, or none.

    The group columns of ``sources`` ride along in the batches of their files, the groups
    file's (``groups``) last.

    Yields:
        One batch per prediction file, then the labels' batch when they have a file of
        their own, then the groups file's.
    """
    first = predictions[0][0]
    from_preds = layout.label_source is first
    vectors = [layout.label_vector] if layout.label_vector is not None else []
    depth = max(1, default_chunk_rows(layout.n_classes, READ_AHEAD_BYTES) // read_rows)
    keys = list(sources.where) if sources else []
    by_role = {role: sources.of(role) if sources else [] for role in ("predictions", "labels", "groups")}
    tables = [table for table, _ in predictions]
    streams = [
        prefetch(
            table.batches(
                columns, [*(vectors if from_preds else []), *by_role["predictions"]] if i == 0 else [],
                read_rows, keys=keys,
            ),
            depth,
        )
        for i, (table, columns) in enumerate(predictions)
    ]  # fmt: skip
    source = layout.label_source
    if source is not None and not from_preds:
        tables.append(source)
        label_vectors = [*vectors, *by_role["labels"]]
        streams.append(
            prefetch(source.batches(layout.target_cols, label_vectors, read_rows, keys=keys), depth)
        )
    if groups is not None:
        tables.append(groups)
        streams.append(prefetch(groups.batches([], by_role["groups"], read_rows, keys=keys), depth))
    return aligned_many(tables, streams, rows)


class _Run:
    """One evaluation while its chunks stream through: the plan, and where errors point."""

    def __init__(
        self,
        preds: Table,
        layout: Layout,
        options: EvalOptions,
        decided: Decided | None = None,
        sources: GroupSources | None = None,
        paths: dict[str, str] | None = None,
    ) -> None:
        self.preds, self.layout, self.options, self.decided = preds, layout, options, decided
        self.plan: EvalPlan | None = None
        self.scorer: Scorer | None = None
        self.sources, self.paths = sources, paths or {}  # the group columns, and each role's file
        self.index = KeyIndex.empty(sources.columns) if sources is not None else None  # groups' codes
        if decided is not None:  # a later shard of a dataset: the plan needs no rows
            if layout.n_classes is None:
                layout.n_classes = decided.n_classes
            self.make_plan(None, None)

    def _targets(self, batch: Batch, table: Table) -> tuple[np.ndarray | Batch | None, np.ndarray | None]:
        """The chunk's class indices (validated) or rows of target scores, and the rows
        kept when some labels are ignored."""
        layout, options = self.layout, self.options
        if layout.label_form == "dist":
            check_target_width(layout, batch.width, table)
            return batch, None
        if layout.label_form is None:
            return None, None
        assert layout.label_vector is not None and layout.n_classes is not None
        labels = batch.vectors[layout.label_vector]
        if layout.label_form == "name":
            assert layout.class_names is not None
            codes = class_codes(labels, layout.class_names)
            if (codes < 0).any():
                row = int(np.flatnonzero(codes < 0)[0])
                raise InfoCliError(
                    f"class name {str(labels[row])!r} is not among the prediction columns "
                    f"({', '.join(map(shown, layout.class_names))})",
                    row=row,
                )
            labels = codes
        kept = None
        if options.ignore_index is not None and layout.label_form == "index":
            keep = labels != options.ignore_index
            if not keep.all():
                kept = np.flatnonzero(keep)
                labels = labels[kept]
        try:
            return check_class_indices(labels, layout.n_classes), kept
        except InfoCliError as error:
            raise _unfiltered(error, kept) from None

    def prepare(self, batch: Batch, label_batch: Batch | None, group_batch: Batch | None = None) -> _Work:
        """Take a chunk's labels, and make the plan at the first chunk (in file order, on
        the main thread).

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
            return _Work(batch, label_rows.first_row, None, None, error=failed)
        n_ignored = 0 if kept is None else batch.n_rows - len(kept)
        groups = None
        if self.sources is not None and self.index is not None:  # coded in file order, by one index
            raw = raw_values(self.sources, batch, label_batch, group_batch, self.paths)
            try:
                groups = self.index.row_codes(chunk_keys(self.sources, raw, targets, kept))
            except InfoCliError as error:
                return _Work(batch, label_rows.first_row, None, None, error=error)
        if kept is not None and not len(kept):  # every row ignored: only the count is needed
            batch = batch.slice(0, 0)
        return _Work(batch, label_rows.first_row, targets, kept, n_ignored, groups=groups)

    def planned(self, works: Iterator[_Work]) -> Iterator[_Work]:
        """The works in order, the plan made from the first one with rows to score (the
        kinds are detected from it); the works before it wait, holding no rows."""
        waiting: list[_Work] = []
        for work in works:
            if self.plan is None:
                if work.error is not None or not work.rows.n_rows:
                    waiting.append(work)
                    continue
                soft = work.targets.matrix if isinstance(work.targets, Batch) else None
                self.make_plan(work.values(), soft)
                yield from waiting
                waiting = []
            yield work
        if self.plan is None:
            self.make_plan(None, None)
        yield from waiting

    def make_plan(self, values: np.ndarray | None, targets: np.ndarray | None) -> EvalPlan:
        """Freeze the plan, the kinds decided from the first chunk's scores."""
        self.plan = plan_eval(self.preds, self.layout, self.options, values, targets, self.decided)
        self.scorer = self.plan.scorer()
        return self.plan

    def compute(self, work: _Work) -> tuple[EvalState, RowScores | None, np.ndarray | None]:
        """Validate and score a prepared chunk (thread-safe: nothing is accumulated): its
        state and, when the rows are grouped, their terms and group codes."""
        pred, note = self.predictions(work)
        target, target_note = self.targets(work)
        notes = [note] if target_note is None else [note, target_note]
        assert self.scorer is not None
        state, rows = self.scorer.score(pred, target, n_ignored=work.n_ignored, renormalised=notes)
        return (state, rows, work.groups) if work.groups is not None else (state, None, None)

    def predictions(self, work: _Work) -> tuple[Distributions, Renormalised]:
        """A prepared chunk's predictions, validated (thread-safe), and its rows renormalised.

        Raises:
            InfoCliError: The chunk's error, or invalid predictions (the file row named).
        """
        if work.error is not None:
            raise work.error
        scorer = self.scorer
        assert scorer is not None
        try:
            pred = scorer.predictions(work.values())
        except InfoCliError as error:
            raise _unfiltered(error, work.kept).at(self.preds.path, row_offset=work.first_row) from None
        return pred, _renormalised(self.preds.path, pred, work.first_row, work.kept)

    def targets(self, work: _Work) -> tuple[np.ndarray | Distributions | None, Renormalised | None]:
        """A prepared chunk's class indices, or its target distributions validated
        (thread-safe) with their rows renormalised.

        Raises:
            InfoCliError: Invalid target distributions (the file row named).
        """
        if not isinstance(work.targets, Batch):
            return work.targets, None
        scorer, source = self.scorer, self.layout.label_source
        assert scorer is not None and source is not None and work.targets.matrix is not None
        try:
            target = scorer.targets(work.targets.matrix)
        except InfoCliError as error:
            raise error.at(source.path, row_offset=work.label_first_row) from None
        return target, _renormalised(source.path, target, work.label_first_row, None)


def _renormalised(path: str, dist: Distributions, first_row: int, kept: np.ndarray | None) -> Renormalised:
    """A chunk's rows renormalised within the tolerance, with the first one's file row."""
    if dist.first_renormalised is None:
        return Renormalised(path, 0, 0, 0.0)
    local, total = dist.first_renormalised
    row = first_row + (int(kept[local]) if kept is not None else local)
    return Renormalised(path, dist.renormalised, row, total)


def _check_gates(gates: Sequence[Gate], layout: Layout, options: EvalOptions, *, grouped: bool) -> None:
    """Refuse gates on what this run will not report, each with the reason, before any row is read
    (``groups.METRIC`` too for every metric reported per group, when the rows are grouped)."""
    targets = {None: None, "dist": "distributions"}.get(layout.label_form, "classes")
    settings = {
        "js_beta": options.js_beta if options.js else None,
        "calibration": {"bins": options.bins} if options.calibration else None,
        "fit_temperature": True if options.fit_temperature else None,
    }
    available = gate_names("eval", targets, settings)
    if grouped:
        available = (*available, *(f"groups.{name}" for name in grouped_names(available)))
    for gate in gates:
        name = gate.metric.removeprefix("groups.")
        metric = REGISTRY.get(name.split(".")[0])
        if name != gate.metric and not grouped:
            why = f"the rows are grouped only with {param('group_by')} or {param('per_class')}"
        elif targets is None:
            why = "without labels only the entropy is reported"
        elif metric is not None and name != metric.name:
            why = "percentiles of the per-row KL are kept against target distributions only"
        elif metric is not None and metric.option == "js_beta" and targets == "distributions":
            why = f"it needs {param('js')} or {param('js_beta')}"
        elif metric is not None and metric.option in ("calibration", "fit_temperature"):
            why = f"it needs {param(metric.option)}"
        else:
            why = "it needs target distributions" + (
                "; against class labels, gate on accuracy" if metric and metric.alias else ""
            )
        check_available([gate], available, why)


def evaluate(
    preds_path: str,
    labels_path: str | None,
    options: EvalOptions,
    *,
    gates: Sequence[Gate] = (),
    on_progress: ProgressCallback | None = None,
    keep_empty: bool = False,
    groups_path: str | None = None,
) -> Evaluation:
    """Evaluate a predictions file against a labels file (or none).

    Args:
        preds_path: The predictions, or ``-`` for stdin.
        labels_path: The labels or target distributions, ``-`` for stdin, or None.
        options: The settings.
        gates: ``--fail-if`` gates, checked against the metrics this run can report
            before any data is read.
        on_progress: Called after each chunk with (rows done, total rows if known).
        keep_empty: Return the evaluation of a part whose every row is ignored (a shard
            whose state is saved), rather than refusing it.
        groups_path: A file of group columns, row-aligned with the predictions; beside a
            dataset, a dataset paired with it or a single file aligned with its rows.

    Returns:
        The evaluation.

    Raises:
        InfoCliError: Bad options or bad input; nothing is returned for a partial read.
    """
    options.check()
    if [preds_path, labels_path, groups_path].count("-") > 1:
        raise InfoCliError("only one of the inputs can be read from stdin (-)")
    from infocli.readers.dataset import is_dataset

    if is_dataset(preds_path) or is_dataset(labels_path) or (groups_path and is_dataset(groups_path)):
        from infocli.datasets import evaluate_dataset

        evaluation = evaluate_dataset(
            preds_path, labels_path, options, groups=groups_path, gates=gates, on_progress=on_progress,
            keep_empty=keep_empty,
        )  # fmt: skip
        at_fitted_temperature(
            evaluation,
            options,
            lambda again: evaluate_dataset(preds_path, labels_path, again, groups=groups_path),
        )
        return evaluation
    with ExitStack() as stack:
        fmt = options.input_format
        preds = stack.enter_context(open_table(preds_path, stdin_format=fmt, npz_key=options.npz_key))
        labels = None
        if labels_path is not None:
            labels = stack.enter_context(
                open_table(
                    labels_path, stdin_format=fmt, npz_key=options.label_npz_key, key_param="label_npz_key"
                )
            )
        groups = None
        if groups_path is not None:
            groups = stack.enter_context(open_table(groups_path, stdin_format=fmt))
        evaluation = evaluate_tables(
            preds, labels, options, gates=gates, on_progress=on_progress, keep_empty=keep_empty, groups=groups
        )
        at_fitted_temperature(
            evaluation, options, lambda again: evaluate_tables(preds, labels, again, groups=groups)
        )
    evaluation.warnings += npz_ignored(options, {"npz_key": preds_path, "label_npz_key": labels_path})
    return evaluation


def evaluate_tables(
    preds: Table,
    labels: Table | None,
    options: EvalOptions,
    *,
    gates: Sequence[Gate] = (),
    on_progress: ProgressCallback | None = None,
    keep_empty: bool = False,
    decided: Decided | None = None,
    part: bool = False,
    groups: Table | None = None,
) -> Evaluation:
    """The evaluation pipeline, for open tables: plan -> aligned chunks -> states -> merge.

    Args:
        preds: The predictions.
        labels: The labels or target distributions, or None.
        options: The settings.
        gates: As for :func:`evaluate`.
        on_progress: As for :func:`evaluate`.
        keep_empty: As for :func:`evaluate`.
        decided: The kinds an earlier shard of the same dataset settled (see
            :class:`~infocli.plan.Decided`).
        part: The tables are a shard of a dataset: its state is returned whatever rows it
            holds, for the dataset to judge the whole.
        groups: The group columns' own file (row-aligned), or None.

    Returns:
        The evaluation.

    Raises:
        InfoCliError: Bad options or bad input.
    """
    layout = layout_of(preds, labels, options)
    sources = group_sources(options, layout, preds, labels, groups)
    _check_gates(gates, layout, options, grouped=sources is not None)
    if labels is not None and preds.n_rows is not None and labels.n_rows is not None:
        if preds.n_rows != labels.n_rows:
            short, long = (preds, labels) if preds.n_rows < labels.n_rows else (labels, preds)
            raise row_count_error(short, short.n_rows or 0, long, long.n_rows or 0)
    check_group_rows(preds, groups)
    rows, read_rows = chunking(preds, layout.n_classes, options.chunk_rows)
    paths = {
        "predictions": preds.path,
        "labels": labels.path if labels else "",
        "groups": groups.path if groups else "",
    }
    run = _Run(preds, layout, options, decided, sources, paths)
    chunks = _chunks(preds, layout, rows, read_rows, groups, sources)
    work = run.planned(run.prepare(*batches) for batches in chunks)
    workers = _workers(preds, soft_targets=layout.label_form == "dist")
    state: EvalState | None = None
    groups: GroupAccumulator | None = None  # the rows per group, added in file order
    for scored, rows, codes in in_order(run.compute, work, workers, "infocli-score"):
        if state is None:
            state = scored
        else:
            state.merge(scored)
        if codes is not None and run.index is not None:
            if groups is None:
                calibration = None if scored.calibration is None else scored.calibration.settings
                groups = GroupAccumulator(run.index, calibration)
            groups.add(codes, rows)
        if on_progress:
            on_progress(state.n_samples + state.n_ignored, preds.n_rows)
    plan = run.plan
    assert plan is not None
    if state is None:
        state = EvalState(plan.settings())
    if sources is not None:
        state.groups = groups.state() if groups is not None else GroupState.empty(sources.columns)
    state.inputs = [plan.description()]
    if state.n_samples == 0 and not part and not (keep_empty and state.n_ignored):
        if state.n_ignored:
            raise InfoCliError(
                f"every row's label is {param('ignore_index')} {options.ignore_index}; nothing to evaluate",
                path=layout.label_source.path if layout.label_source else None,
                hint=f"With {param('save_state')}, such a part is saved, for its ignored rows to be merged",
            )
        raise InfoCliError("no rows; expected at least one row of predictions", path=preds.path)
    ignored = eval_ignored(
        options, label_kind=layout.label_form, pred_kind=plan.kind, target_kind=plan.target_kind,
        binary=layout.binary, stdin="-" in (preds.path, labels.path if labels else None),
    )  # fmt: skip
    evaluation = Evaluation(state, [*layout.warnings, *ignored, *state.warnings()], plan.decided())
    return evaluation


def at_fitted_temperature(
    evaluation: Evaluation, options: EvalOptions, run: Callable[[EvalOptions], Evaluation]
) -> None:
    """With a fitted temperature T*, the cross-entropy (nats) and the ECE at T*, by a second
    pass over the inputs (``run`` evaluates them again under other options)."""
    fit = evaluation.state.temperature_fit
    temperature = math.nan if fit is None else fit.best()
    if fit is None or not math.isfinite(temperature):
        return
    again = replace(options, temperature=temperature, fit_temperature=False, calibration=True)
    metrics = run(again).state.compute().metrics
    evaluation.at_temperature = {
        "temperature": temperature,
        "at_grid_edge": fit.at_edge(),
        "cross_entropy": metrics["cross_entropy"],
        "ece": metrics["ece"],
    }


def evaluate_arrays(
    preds: np.ndarray,
    target: np.ndarray | None = None,
    *,
    chunk_rows: int | None = None,
    **settings: Any,
) -> EvalState:
    """Evaluate in-memory arrays through the same pipeline as files.

    Args:
        preds: (n, n_classes) scores, or (n,) binary scores for class 1.
        target: None; (n,) class indices; or (n, n_classes) target distributions.
        chunk_rows: Rows per chunk (the default chunking otherwise).
        **settings: Any other field of :class:`EvalOptions` (``kind``, ``target_kind``,
            ``temperature``, ``eps``, ``tol``, ``ignore_index``).

    Returns:
        The state; call :meth:`EvalState.compute` for the numbers.

    Raises:
        InfoCliError: Invalid input (``row`` is the array row).

    Example:
        >>> probs = np.array([[0.5, 0.5], [0.9, 0.1]])
        >>> r = evaluate_arrays(probs, np.array([0, 0]), kind="probs").compute(base="2")
        >>> round(r.metrics["cross_entropy"], 4)  # (-log2 0.5 - log2 0.9) / 2 bits
        0.576
    """
    options = EvalOptions(chunk_rows=chunk_rows, **settings)
    options.check()
    labels = None if target is None else ArrayTable(target, "targets")
    return evaluate_tables(ArrayTable(preds, "predictions"), labels, options).state
