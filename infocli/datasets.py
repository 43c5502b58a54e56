"""Datasets through the one pipeline: the shards in order, as one evaluation.

The first shard with rows settles the plan's kinds (:class:`~infocli.plan.Decided`);
every later shard is read with them, through :func:`~infocli.evaluate.evaluate_tables`,
and the shards' states are merged in shard order. A shard's errors name the shard and
the row within it; a single labels (or groups) file read against a dataset keeps its own rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from infocli.errors import InfoCliError, param, shown
from infocli.evaluate import Evaluation, ProgressCallback, evaluate_tables
from infocli.gates import Gate
from infocli.ignored import npz_ignored
from infocli.metrics.state import EvalState
from infocli.plan import Decided, EvalOptions
from infocli.readers import Batch, Column, Table
from infocli.readers.dataset import (
    SIDES,
    Shard,
    by_position,
    display,
    open_shard,
    partitions,
    shards,
    shared_files,
    without_credentials,
)

__all__ = [
    "Schema",
    "check_ends",
    "evaluate_dataset",
    "evaluate_shard",
    "fold_states",
    "open_cursors",
    "open_part",
    "shard_file",
]


@dataclass(frozen=True)
class Schema:
    """The columns of a dataset's first shard, which every other shard must have.

    Attributes:
        shard: The first shard, as messages name it.
        columns: Its columns, partitions aside.
    """

    shard: str
    columns: tuple[Column, ...]

    def check(self, table: Table) -> None:
        """Refuse a shard whose columns differ by name, order, kind or list width (float
        widths may differ).

        Raises:
            InfoCliError: Naming the shard and the first difference.
        """
        mine = [c.name for c in self.columns]
        theirs = [c.name for c in table.columns]
        first = shown(self.shard)
        if mine != theirs:
            missing = [n for n in mine if n not in theirs]
            extra = [n for n in theirs if n not in mine]
            if missing or extra:
                parts = [f"no column {', '.join(map(repr, missing))}" if missing else ""]
                parts.append(f"column(s) {', '.join(map(repr, extra))} not in it" if extra else "")
                what = "; ".join(p for p in parts if p)
            else:
                what = f"the same columns in another order ({', '.join(map(repr, theirs[:8]))})"
            raise InfoCliError(
                f"its columns differ from those of the first shard {first}: {what}",
                path=table.path,
                hint="Every shard of a dataset needs the same columns, in the same order",
            )
        for a, b in zip(self.columns, table.columns, strict=True):
            if a.kind != b.kind or (a.width is not None and b.width is not None and a.width != b.width):
                here = f"{b.type}" + (f" of {b.width}" if b.width is not None else "")
                there = f"{a.type}" + (f" of {a.width}" if a.width is not None else "")
                raise InfoCliError(
                    f"column {b.name!r} is {here} but {there} in the first shard {first}",
                    path=table.path,
                    hint="Every shard of a dataset needs the same columns, of the same kinds",
                )


class _Partitioned(Table):
    """A shard with its Hive partition values as columns of text: readable by name (a
    label, a sequence id), never among the prediction classes or target columns."""

    def __init__(self, table: Table, values: dict[str, str]) -> None:
        self._table, self._values = table, values
        self.path, self.format = table.path, table.format
        self.columns, self.n_rows, self.block_rows = table.columns, table.n_rows, table.block_rows
        self._extra = {name: Column(name, "string", None, "partition") for name in values}

    def column(self, name: str) -> Column | None:
        """A column of the shard, or else a partition."""
        return self._table.column(name) or self._extra.get(name)

    def non_number(self, name: str) -> InfoCliError | None:
        """As the shard says (a partition is text)."""
        return None if name in self._extra else self._table.non_number(name)

    def batches(
        self, matrix: Sequence[str], vectors: Sequence[str], rows: int, *, keys: Sequence[str] = ()
    ) -> Iterator[Batch]:
        """The shard's batches, each partition requested added as a constant text column."""
        import numpy as np
        import pyarrow as pa

        own = [v for v in vectors if v not in self._extra]
        added = [v for v in vectors if v in self._extra]
        for batch in self._table.batches(matrix, own, rows, keys=[k for k in keys if k in own]):
            for name in added:
                codes = pa.array(np.zeros(batch.n_rows, dtype=np.int32))
                batch.vectors[name] = pa.DictionaryArray.from_arrays(codes, pa.array([self._values[name]]))
            yield batch

    def close(self) -> None:
        """Close the shard."""
        self._table.close()


@contextmanager
def open_part(
    uri: str, relative: str, schema: Schema | None, *, npz_key: str | None = None, key_param: str = "npz_key"
) -> Iterator[Table]:
    """Open a shard with its partitions as columns, its columns checked against the
    first shard's.

    Args:
        uri: The shard (:attr:`Shard.preds` or :attr:`Shard.labels`).
        relative: Its relative path, which holds its partitions.
        schema: The first shard's columns, or None for the first shard.
        npz_key: The array of a ``.npz`` shard.
        key_param: The parameter that gave it.

    Yields:
        The table.
    """
    with open_shard(uri, npz_key=npz_key, key_param=key_param) as table:
        if schema is not None:
            schema.check(table)
        values = partitions(relative)
        yield _Partitioned(table, values) if values else table


class _Cursor:
    """One pass over a single labels (or groups) file, shared by the windows of consecutive shards.

    Args:
        table: The open file.
        side: ``labels`` or ``groups``, for messages.
    """

    def __init__(self, table: Table, side: str = "labels") -> None:
        self.table, self.side = table, side
        self.position = 0  # rows taken (or skipped) so far
        self._batches: Iterator[Batch] | None = None
        self._held: Batch | None = None

    def _next(
        self, matrix: Sequence[str], vectors: Sequence[str], rows: int, keys: Sequence[str]
    ) -> Batch | None:
        if self._held is not None:
            batch, self._held = self._held, None
            return batch
        if self._batches is None:
            self._batches = self.table.batches(matrix, vectors, rows, keys=keys)
        return next(self._batches, None)

    def take(
        self,
        start: int,
        n: int,
        shard: str,
        matrix: Sequence[str],
        vectors: Sequence[str],
        rows: int,
        keys: Sequence[str] = (),
    ) -> Iterator[Batch]:
        """Rows ``start`` to ``start + n`` of the file, skipping any before them.

        Raises:
            InfoCliError: The file ends first (naming the shard the rows were for).
        """
        end = start + n
        while self.position < end:
            batch = self._next(matrix, vectors, rows, keys)
            if batch is None:
                raise InfoCliError(
                    f"{self.position:,} rows but the shards need {end:,} or more: the file ends within "
                    f"the rows of shard {shown(shard)}",
                    path=self.table.path,
                    hint=by_position(self.side),
                )
            skip = max(0, start - self.position)
            keep = min(batch.n_rows, end - self.position)
            if keep < batch.n_rows:
                self._held = batch.slice(keep, batch.n_rows)
            self.position += keep
            if keep > skip:
                yield batch.slice(skip, keep)

    def check_end(self, dataset: str) -> None:
        """Refuse rows beyond the last shard's.

        Raises:
            InfoCliError: Naming both counts.
        """
        rest = self._held
        if rest is None and self._batches is not None:
            rest = next(self._batches, None)
        if rest is None:
            return
        total = self.position + rest.n_rows + sum(b.n_rows for b in self._batches or ())
        raise InfoCliError(
            f"{total:,} rows but the shards of {shown(dataset)} have {self.position:,}",
            path=self.table.path,
            hint=by_position(self.side),
        )


class _Window(Table):
    """The rows of a single labels (or groups) file that align with one shard.

    Args:
        cursor: The file's pass.
        shard: The shard (its row count, and its offset into the file).
    """

    def __init__(self, cursor: _Cursor, shard: Shard) -> None:
        table = cursor.table
        self._cursor, self._shard = cursor, shard
        self.path, self.format, self.columns = table.path, table.format, table.columns
        self.n_rows = shard.rows
        self.block_rows = table.block_rows

    def column(self, name: str) -> Column | None:
        """As the file says."""
        return self._cursor.table.column(name)

    def non_number(self, name: str) -> InfoCliError | None:
        """As the file says."""
        return self._cursor.table.non_number(name)

    def batches(
        self, matrix: Sequence[str], vectors: Sequence[str], rows: int, *, keys: Sequence[str] = ()
    ) -> Iterator[Batch]:
        """The shard's rows of the file, numbered as in the file."""
        shard = self._shard
        assert shard.rows is not None
        yield from self._cursor.take(
            shard.offset(self._cursor.side), shard.rows, display(shard.preds), matrix, vectors, rows, keys
        )


def evaluate_shard(
    shard: Shard,
    options: EvalOptions,
    decided: Decided | None = None,
    *,
    schema: Schema | None = None,
    cursors: Mapping[str, _Cursor] | None = None,
    on_progress: ProgressCallback | None = None,
    gates: Sequence[Gate] = (),
    shared: Sequence[str] = (),
) -> tuple[Evaluation, Schema]:
    """One shard's evaluation: its state, its warnings and the kinds its plan settled.

    Args:
        shard: The shard, its labels and its groups.
        options: The settings.
        decided: The kinds an earlier shard settled; None to detect them from this one.
        schema: The first shard's columns, which this one must have; None for the first.
        cursors: The passes over a single labels or groups file that consecutive shards
            share, by side (:func:`open_cursors`).
        shared: The sides that are a single file of the whole dataset's
            (:func:`~infocli.readers.dataset.shared_files`): without a cursor, each is read
            from the shard's offset, the rows before it skipped.
        on_progress: Called with the shard's rows done.
        gates: ``--fail-if`` gates, checked against what the shard's columns can report
            before it is read (for the first shard).

    Returns:
        The evaluation (a state that may hold no rows) and the schema later shards must have.
    """
    with ExitStack() as stack:
        preds = stack.enter_context(open_part(shard.preds, shard.relative, schema, npz_key=options.npz_key))
        labels, groups = (shard_file(stack, shard, side, options, cursors, shared) for side in SIDES)
        evaluation = evaluate_tables(
            preds, labels, options, gates=gates, on_progress=on_progress, decided=decided, part=True,
            groups=groups,
        )  # fmt: skip
        return evaluation, schema or Schema(preds.path, tuple(preds.columns))


def _open_side(uri: str, side: str, options: EvalOptions, relative: str = "") -> Any:
    """Open a shard's labels or groups file (the labels' ``.npz`` key for the labels)."""
    if side == "labels":
        return open_part(uri, relative, None, npz_key=options.label_npz_key, key_param="label_npz_key")
    return open_part(uri, relative, None)


def open_cursors(
    stack: ExitStack, shard: Shard, sides: Iterable[str], options: EvalOptions
) -> dict[str, _Cursor]:
    """One pass over each single file of ``sides`` that the shards read in step, opened on ``stack``.

    Args:
        stack: Where the files are closed.
        shard: A shard of the dataset (the files it is read against).
        sides: From :func:`~infocli.readers.dataset.shared_files`.
        options: The settings.

    Returns:
        The passes, by side.
    """
    cursors = {}
    for side in sides:
        uri = getattr(shard, side)
        if uri is not None:
            cursors[side] = _Cursor(stack.enter_context(_open_side(uri, side, options)), side)
    return cursors


def check_ends(cursors: Mapping[str, _Cursor], dataset: str) -> None:
    """Refuse a single labels or groups file with rows beyond the last shard's.

    Raises:
        InfoCliError: Naming the file and both counts.
    """
    for cursor in cursors.values():
        cursor.check_end(dataset)


def evaluate_dataset(
    preds: str,
    labels: str | None,
    options: EvalOptions,
    *,
    groups: str | None = None,
    gates: Sequence[Gate] = (),
    on_progress: ProgressCallback | None = None,
    keep_empty: bool = False,
) -> Evaluation:
    """Evaluate a dataset of predictions (and labels), shard after shard, as one evaluation.

    Args:
        preds: A file, directory, glob, ``@list`` file or URI.
        labels: The same, or None.
        options: The settings.
        groups: The group columns' own files: a dataset paired with ``preds``, a single
            file aligned with its rows in shard order, or None.
        gates: ``--fail-if`` gates, checked before any row is read.
        on_progress: Called after each chunk with (rows done, total rows if known).
        keep_empty: As for :func:`~infocli.evaluate.evaluate`.

    Returns:
        The evaluation, equal to that of one file holding the shards' rows in order.

    Raises:
        InfoCliError: Bad datasets or bad input; the shard and its row named.
    """
    if "-" in (preds, labels, groups):
        raise InfoCliError("a dataset cannot be read with an input from stdin (-)")
    notes: list[str] = []
    found = shards(preds, labels, groups=groups, notes=notes)
    with ExitStack() as stack:
        cursors = open_cursors(stack, found[0], shared_files(found), options)
        evaluations = _in_order(found, options, gates, cursors, on_progress, display_spec(preds))
        return fold_shards(evaluations, found, preds, labels, options, notes=notes, keep_empty=keep_empty)


def _in_order(
    found: Sequence[Shard],
    options: EvalOptions,
    gates: Sequence[Gate],
    cursors: Mapping[str, _Cursor],
    on_progress: ProgressCallback | None,
    dataset: str,
) -> Iterator[Evaluation]:
    """Each shard's evaluation, in this process, in shard order: every shard read with the
    kinds and columns the first settled, a single labels or groups file read in one pass."""
    known = [s.rows for s in found]
    total = sum(r for r in known if r is not None) if None not in known else None
    decided: Decided | None = None
    schema: Schema | None = None
    done = 0
    for index, shard in enumerate(found):
        evaluation, schema = evaluate_shard(
            shard, options, decided, schema=schema, cursors=cursors,
            on_progress=_offset(on_progress, done, total), gates=gates if index == 0 else (),
        )  # fmt: skip
        part = evaluation.state
        done += part.n_samples + part.n_ignored
        if decided is None and part.n_samples:
            decided = evaluation.decided
        yield evaluation
    check_ends(cursors, dataset)


def fold_shards(
    evaluations: Iterable[Evaluation],
    found: Sequence[Shard],
    preds: str,
    labels: str | None,
    options: EvalOptions,
    *,
    notes: Sequence[str] = (),
    keep_empty: bool = False,
) -> Evaluation:
    """The shards' evaluations, in shard order, as the dataset's one evaluation: the
    states merged from the first shard with rows (whose plan every shard followed).

    Args:
        evaluations: Each shard's, in shard order (from this process or an engine's workers).
        found: The shards.
        preds: The PREDS argument.
        labels: The LABELS argument, or None.
        options: The settings.
        notes: What the report notes of the datasets.
        keep_empty: As for :func:`~infocli.evaluate.evaluate`.

    Raises:
        InfoCliError: No row to evaluate in any shard.
    """
    first: Evaluation | None = None  # the first shard's
    settled: Evaluation | None = None  # the first with rows, whose plan every shard's reading follows
    own: list[str] = []

    def states() -> Iterator[EvalState]:
        nonlocal first, settled, own
        for evaluation in evaluations:
            if first is None:
                first = evaluation
                # What the first shard warns of its layout and options (its state's own
                # warnings are the merged state's, at the end).
                own = [w for w in evaluation.warnings if w not in evaluation.state.warnings()]
            if settled is None and evaluation.state.n_samples:
                settled = evaluation
            yield evaluation.state

    state, pending_ignored = fold_states(states())
    assert first is not None
    decided = settled.decided if settled is not None else None
    if state is None:  # no shard had a row to score
        state = first.state
        state.n_ignored = pending_ignored
    state.inputs = [_description((settled or first).state.inputs[0], preds, labels)]
    if state.n_samples == 0 and not (keep_empty and state.n_ignored):
        if state.n_ignored:
            raise InfoCliError(
                f"every row's label is {param('ignore_index')} {options.ignore_index}; nothing to evaluate",
                path=display_spec(labels or preds),
                hint=f"With {param('save_state')}, such a part is saved, for its ignored rows to be merged",
            )
        raise InfoCliError(
            "no rows in any shard; expected at least one row of predictions", path=display_spec(preds)
        )
    keys = npz_ignored(options, {"npz_key": found[0].preds, "label_npz_key": found[0].labels})
    return Evaluation(state, list(dict.fromkeys([*notes, *own, *state.warnings(), *keys])), decided)


def _description(inputs: dict[str, Any], preds: str, labels: str | None) -> dict[str, Any]:
    """What the report says of the inputs: the first shard's, named by the datasets."""
    described = {key: (dict(value) if value is not None else None) for key, value in inputs.items()}
    described["predictions"]["path"] = display_spec(preds)
    if described.get("labels") is not None and labels is not None:
        described["labels"]["path"] = display_spec(labels)
    return described


def display_spec(spec: str) -> str:
    """A dataset argument as messages show it (credentials taken out of a URI)."""
    return without_credentials(spec)


def _offset(on_progress: ProgressCallback | None, done: int, total: int | None) -> ProgressCallback | None:
    """A shard's progress callback, counting the rows of the shards before it."""
    if on_progress is None:
        return None
    callback: Callable[[int, int | None], None] = on_progress
    return lambda rows, _: callback(done + rows, total)


def shard_file(
    stack: ExitStack,
    shard: Shard,
    side: str,
    options: EvalOptions,
    cursors: Mapping[str, _Cursor] | None = None,
    shared: Sequence[str] = (),
) -> Table | None:
    """A shard's labels or groups, opened on ``stack``: its own shard of them, or its rows
    of a single file (through the side's cursor, or from the shard's offset when the side
    is ``shared``).

    Args:
        stack: Where the files opened are closed.
        shard: The shard.
        side: ``labels`` or ``groups``.
        options: The settings (the labels' ``.npz`` key).
        cursors: The passes over single files that consecutive shards share, by side.
        shared: As for :func:`evaluate_shard`.

    Returns:
        The table, or None when the shard has none of ``side``.
    """
    uri = getattr(shard, side)
    if uri is None:
        return None
    cursor = (cursors or {}).get(side)
    if cursor is None and side not in shared:
        return stack.enter_context(_open_side(uri, side, options, shard.relative))
    if cursor is None:
        cursor = _Cursor(stack.enter_context(_open_side(uri, side, options)), side)
    return _Window(cursor, shard)


class Mergeable(Protocol):
    """A shard's state: rows scored, rows ignored, and an exact merge."""

    @property
    def n_samples(self) -> int: ...  # noqa: D102

    def merge(self, other: Any) -> None: ...  # noqa: D102


M = TypeVar("M", bound=Mergeable)


def fold_states(states: Iterable[M]) -> tuple[M | None, int]:
    """The shards' states, in shard order, merged into the first with rows (whose plan
    every later shard's reading followed); the leading states without rows only counted.

    Args:
        states: Each shard's, in shard order.

    Returns:
        The merged state (None if no shard had a row to score), and the rows ignored in
        the leading shards that settled nothing (added to it, where there is one).
    """
    merged: M | None = None
    pending = 0
    for state in states:
        if merged is None and not state.n_samples:
            pending += getattr(state, "n_ignored", 0)
            continue
        if merged is None:
            merged = state
            if pending:
                merged.n_ignored += pending  # type: ignore[attr-defined]
        else:
            merged.merge(state)
    return merged, pending
