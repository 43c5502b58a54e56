"""Where the group columns of an evaluation come from, and their values chunk by chunk.

A column named by ``group_by`` is read from the groups file when one is given and holds
it, else from the labels file, else from the predictions file; ``per_class`` adds the
true class of each row as the last key column. The groups file is row-aligned with the
predictions, and read in step with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from infocli.errors import InfoCliError, param, shown
from infocli.metrics.groups import CLASS_COLUMN, Keys
from infocli.plan import EvalOptions, Layout
from infocli.readers import Batch, Table, row_count_error


@dataclass(frozen=True)
class GroupSources:
    """The key columns and the file each is read from.

    Attributes:
        columns: Every key column, in crossing order (the true class last, for ``per_class``).
        where: Each ``group_by`` column's file: ``"groups"``, ``"labels"`` or ``"predictions"``.
        per_class: Whether the true class is the last key column.
    """

    columns: tuple[str, ...]
    where: dict[str, str] = field(default_factory=dict)
    per_class: bool = False

    def of(self, role: str) -> list[str]:
        """The columns read from the file of ``role``."""
        return [c for c, w in self.where.items() if w == role]


def group_sources(
    options: EvalOptions, layout: Layout, preds: Table, labels: Table | None, groups: Table | None
) -> GroupSources | None:
    """Find every group column, before any row is read.

    Args:
        options: The settings (``group_by``, ``per_class``).
        layout: The columns of the predictions and labels.
        preds: The predictions file.
        labels: The labels file, if any.
        groups: The groups file, if any.

    Returns:
        The sources, or None when the rows are not grouped.

    Raises:
        InfoCliError: A column in no file, named twice, or a prediction class; a groups
            file without group columns; per-class grouping without class labels.
    """
    if groups is not None and not options.group_by:
        raise InfoCliError(
            "a groups file is given but no column to group by", path=groups.path,
            hint=f"Name its columns with {param('group_by')}",
        )  # fmt: skip
    if not options.group_by and not options.per_class:
        return None
    repeated = sorted({c for c in options.group_by if options.group_by.count(c) > 1})
    if repeated:
        raise InfoCliError(f"{param('group_by')} names column {repeated[0]!r} more than once")
    if options.per_class:
        if CLASS_COLUMN in options.group_by:
            raise InfoCliError(
                f"{param('per_class')} adds a key named {CLASS_COLUMN!r}, and {param('group_by')} "
                f"names a column {CLASS_COLUMN!r} too",
                hint="Group by the true class with one of them only",
            )
        if layout.label_form not in ("index", "name"):
            raise InfoCliError(
                f"{param('per_class')} groups rows by their class label; these inputs have "
                + ("target distributions" if layout.label_form == "dist" else "no labels")
            )
    files = [("groups", groups), ("labels", labels), ("predictions", preds)]
    where: dict[str, str] = {}
    for column in options.group_by:
        for role, table in files:
            if table is not None and table.column(column) is not None:
                where[column] = role
                break
        else:
            looked = ", ".join(shown(t.path) for _, t in files if t is not None)
            raise InfoCliError(
                f"no group column {column!r} (from {param('group_by')}) in {looked}",
                hint=f"Give a row-aligned file of group columns with {param('groups')}",
            )
        if where[column] == "predictions" and column in layout.pred_cols:
            raise InfoCliError(
                f"group column {column!r} is also a prediction column", path=preds.path,
                hint=f"Leave it out of {param('pred_cols')}",
            )  # fmt: skip
        if where[column] == "labels" and column in (layout.target_cols or [layout.label_vector]):
            raise InfoCliError(
                f"group column {column!r} is the labels' column", path=labels.path if labels else None
            )
    columns = (*options.group_by, *([CLASS_COLUMN] if options.per_class else []))
    return GroupSources(columns, where, options.per_class)


def check_group_rows(preds: Table, groups: Table | None) -> None:
    """Refuse a groups file of another row count, where both files state theirs.

    Raises:
        InfoCliError: Naming both files and both counts.
    """
    if groups is not None and preds.n_rows is not None and groups.n_rows is not None:
        if preds.n_rows != groups.n_rows:
            short, long = (preds, groups) if preds.n_rows < groups.n_rows else (groups, preds)
            raise row_count_error(short, short.n_rows or 0, long, long.n_rows or 0)


def key_values(values: Any, column: str, path: str, first_row: int, kept: np.ndarray | None) -> Keys:
    """A group column of a chunk as the group state takes it, for the kept rows.

    Names are dictionary-encoded by Arrow (values and each row's index among them), so
    that no text is compared row by row; numbers and booleans stay as they are.

    Raises:
        InfoCliError: A missing value (a NaN number), naming the file and row.
    """
    if isinstance(values, np.ndarray) and values.dtype.kind in "iufb":
        if values.dtype.kind == "f" and np.isnan(values).any():
            row = int(np.flatnonzero(np.isnan(values))[0])
            raise InfoCliError(
                f"missing value in group column {column!r}", path=path, row=first_row + row,
                hint="Fill the missing keys (for example with a name of their own) before grouping",
            )  # fmt: skip
        return values if kept is None else values[kept]
    if isinstance(values, np.ndarray):
        strings = values.astype(str)
        return strings if kept is None else strings[kept]
    from infocli.readers.arrow import numbers

    encoded = values if hasattr(values, "indices") else values.dictionary_encode()
    inverse = numbers(encoded.indices)
    distinct = np.array(encoded.dictionary.to_pylist(), dtype=str)
    return distinct, inverse if kept is None else inverse[kept]


Raw = dict[str, tuple[Any, str, int]]
"""A chunk's group columns as read: column -> (values, file, file row of the first)."""


def raw_values(
    sources: GroupSources,
    batch: Batch,
    label_batch: Batch | None,
    group_batch: Batch | None,
    paths: dict[str, str],
) -> Raw:
    """Take a chunk's group columns from the batches that carry them.

    Args:
        sources: The group columns.
        batch: The predictions batch.
        label_batch: The labels batch, where the labels have a file of their own.
        group_batch: The groups file's batch, where there is one.
        paths: The file of each role, for messages.

    Returns:
        The columns, unconverted.
    """
    batches = {"predictions": batch, "labels": label_batch, "groups": group_batch}
    raw: Raw = {}
    for column, role in sources.where.items():
        source = batches[role]
        assert source is not None
        raw[column] = (source.vectors[column], paths[role], source.first_row)
    return raw


def chunk_keys(sources: GroupSources, raw: Raw, targets: Any, kept: np.ndarray | None) -> list[Keys]:
    """Each key column of a chunk's scored rows, as the group state takes them.

    Args:
        sources: The group columns.
        raw: From :func:`raw_values`.
        targets: The scored rows' class indices (for ``per_class``).
        kept: The rows scored, where some were left out for their label.

    Returns:
        One entry per key column.
    """
    keys = [key_values(values, column, path, first, kept) for column, (values, path, first) in raw.items()]
    if sources.per_class:
        keys.append(np.asarray(targets))
    return keys
