"""Arrow record batches to NumPy, shared by the CSV and Parquet readers.

The conversions go through ``RecordBatch.to_tensor`` and Arrow buffers rather than
``Array.to_numpy``, which imports pandas on first use (a fifth of a second of start-up).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from infocli.errors import InfoCliError
from infocli.readers.table import Batch, Column


def _prefer_jemalloc() -> None:
    """Allocate Arrow memory with jemalloc where pyarrow has it, unless the user chose a pool.

    Batches are decoded in a reader thread and freed in the scoring threads, and Arrow's
    default mimalloc keeps much of that memory resident, by an amount that varies from run
    to run: 5,000,000 x 10 Parquet with labels peaked at 222-261 MiB with mimalloc and at
    183-197 MiB with jemalloc. The time was the same in one comparison (0.92 against
    0.90 s) and 0.05 s longer in two others. (pyarrow's Parquet reader keeps its own
    buffers in the pool it started with.)
    """
    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ and "jemalloc" in pa.supported_memory_backends():
        pa.set_memory_pool(pa.jemalloc_memory_pool())


_prefer_jemalloc()


def column_of(field: pa.Field, *, typed: bool = False) -> Column:
    """Describe an Arrow field as a table column.

    Decimals are numbers, and a dictionary-encoded column has the kind of its values.

    Args:
        field: A field of the file's schema.
        typed: The type is the file's own (Parquet), not one inferred from the first
            rows (CSV). An inferred ``null`` type is a column that is empty so far and is
            read as numbers; a file's own ``null`` type holds nothing else.

    Returns:
        The column, with its kind.
    """
    t = field.type
    values = t.value_type if pa.types.is_dictionary(t) else t
    if _is_number(values) or (pa.types.is_null(t) and not typed):
        kind, width = "number", None
    elif pa.types.is_string(values) or pa.types.is_large_string(values):
        kind, width = "string", None
    elif pa.types.is_boolean(t):
        kind, width = "bool", None
    elif pa.types.is_fixed_size_list(t) and _is_number(t.value_type):
        kind, width = "list", t.list_size
    elif (pa.types.is_list(t) or pa.types.is_large_list(t)) and _is_number(t.value_type):
        kind, width = "list", None
    else:
        kind, width = "other", None
    return Column(field.name, kind, width, str(t))


def _is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def _check_no_nulls(array: pa.Array, name: str, path: str, first_row: int) -> None:
    if array.null_count:
        import pyarrow.compute as pc  # only on this error path: it costs start-up time

        row = pc.index(array.is_null(), True).as_py()
        raise InfoCliError(
            f"missing value in column {name!r}",
            path=path,
            row=first_row + row,
            hint="Fill or drop the missing values before evaluating",
        )


_NUMPY_TYPES = {"halffloat": "float16", "float": "float32", "double": "float64"}


def numbers(array: Any) -> np.ndarray:
    """A numeric Arrow array as NumPy: a view of its buffer, or float64 with NaN for nulls.

    Dictionary-encoded numbers are decoded, and decimals become float64 (see
    :func:`_decimal_floats`).

    Args:
        array: An Arrow array of integers, floats or decimals, possibly dictionary-encoded.

    Returns:
        The values.
    """
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_decimal(array.type):
        array = _decimal_floats(array)
    if array.null_count:
        return np.asarray(pa.RecordBatch.from_arrays([array], ["v"]).to_tensor(null_to_nan=True))[:, 0]
    dtype = np.dtype(_NUMPY_TYPES.get(str(array.type), str(array.type)))
    data = np.frombuffer(array.buffers()[1], dtype=dtype, count=array.offset + len(array))
    return data[array.offset :]


def _decimal_floats(array: Any) -> Any:
    """Decimals as float64, each the double nearest to its exact value, as for the same
    numbers written in a float64 column.

    Arrow's own cast to float64 is off by one unit in the last place for about 3 in 10
    values with 7 decimal places; its conversion to text is exact, and it parses text
    correctly rounded (about 0.12 s per million values).
    """
    return array.cast(pa.string()).cast(pa.float64())


def _list_matrix(array: Any, name: str, path: str, first_row: int) -> np.ndarray:
    """The (n, width) matrix of a list column whose rows all have the same length."""
    n = len(array)
    _check_no_nulls(array, name, path, first_row)  # a missing list, not a missing value in one
    if pa.types.is_fixed_size_list(array.type):
        width = array.type.list_size
    else:
        lengths = np.diff(numbers(array.offsets))
        width = int(lengths[0]) if n else 0
        if n and (lengths != width).any():
            row = int(np.flatnonzero(lengths != width)[0])
            raise InfoCliError(
                f"list in column {name!r} has {lengths[row]} values but the first row has {width}",
                path=path,
                row=first_row + row,
                hint="Every row needs one value per class",
            )
    return numbers(array.flatten()).reshape(n, width)


def _list_matrices(
    record_batch: pa.RecordBatch, names: Sequence[str], path: str, first_row: int
) -> np.ndarray:
    """The rows of several list columns side by side; every row of each holds as many
    values as the first column's first row."""
    matrices = [_list_matrix(record_batch.column(name), name, path, first_row) for name in names]
    for name, mat in zip(names[1:], matrices[1:], strict=True):
        if mat.shape[1] != matrices[0].shape[1] and record_batch.num_rows:
            raise InfoCliError(
                f"lists in column {name!r} have {mat.shape[1]} values but those in {names[0]!r} have "
                f"{matrices[0].shape[1]}",
                path=path,
                row=first_row,
                hint="Every list column needs one value per latent dimension",
            )
    return np.hstack(matrices)


def _vector(array: Any, name: str, path: str, first_row: int) -> Any:
    """A column as NumPy (numbers, booleans) or Arrow (strings).

    Missing numbers become NaN, for the metrics to judge (a missing value in a row that
    is ignored or masked out is no error); missing names and booleans are errors here.
    """
    t = array.type
    values = t.value_type if pa.types.is_dictionary(t) else t
    if _is_number(values):
        return numbers(array)
    _check_no_nulls(array, name, path, first_row)
    if pa.types.is_string(values) or pa.types.is_large_string(values):
        return array
    if pa.types.is_boolean(t):
        return numbers(array.cast(pa.int8())).astype(bool)
    raise InfoCliError(f"column {name!r} has type {t}; expected numbers or strings", path=path)


def to_batch(
    record_batch: pa.RecordBatch,
    matrix: Sequence[str],
    vectors: Sequence[str],
    path: str,
    first_row: int,
) -> Batch:
    """Convert an Arrow record batch to a :class:`Batch`.

    Args:
        record_batch: Holds at least the named columns.
        matrix: Numeric columns to put side by side, or list columns of one length each
            (the rows of each, side by side).
        vectors: Columns to return one by one.
        path: The file, for messages.
        first_row: The file row of the batch's first row.

    Returns:
        The batch.

    Raises:
        InfoCliError: A missing name or boolean, or rows of a list column of different lengths.
    """
    mat: np.ndarray | ArrowColumns | None = None
    if len(matrix) == 1 and column_of(record_batch.schema.field(matrix[0])).kind == "list":
        mat = _list_matrix(record_batch.column(matrix[0]), matrix[0], path, first_row)
    elif matrix and all(column_of(record_batch.schema.field(n)).kind == "list" for n in matrix):
        mat = _list_matrices(record_batch, matrix, path, first_row)
    elif matrix:
        mat = ArrowColumns(record_batch.select(list(matrix)))
    vecs = {name: _vector(record_batch.column(name), name, path, first_row) for name in vectors}
    return Batch(first_row, record_batch.num_rows, mat, vecs)


@dataclass(frozen=True)
class ArrowColumns:
    """Numeric Arrow columns, put side by side as NumPy when their chunk is scored.

    Converting each read batch whole in the reader thread cost that thread 0.25 of its
    0.57 CPU-seconds on 5,000,000 x 10 Parquet (fresh memory for every batch), and the
    reader is the slower stage there; chunk by chunk, a scoring thread converts into memory
    it has just freed, while the chunk is about to be scored. The batches read ahead then
    hold no second copy. Evaluating that file in-process took 0.37-0.43 s instead of
    0.50-0.54 s.
    """

    batch: pa.RecordBatch

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return self.batch.num_rows, self.batch.num_columns

    def rows(self, start: int, stop: int) -> ArrowColumns:
        """Rows ``start:stop``, without copying."""
        return ArrowColumns(self.batch.slice(start, stop - start))

    def to_numpy(self) -> np.ndarray:
        """The columns side by side, class-major: each column is copied once into place,
        with no transposition. Missing values become NaN, which the metrics report with
        their row.

        Arrow finds the nulls itself: asking each column for its null count from Python
        cost 132 of 442 microseconds per 5,242 x 100 float32 chunk.
        """
        batch = self.batch
        try:
            return np.asarray(batch.to_tensor(row_major=False))
        except (pa.ArrowTypeError, pa.ArrowNotImplementedError):  # nulls, or types it cannot take
            pass
        try:
            mat = np.asarray(batch.to_tensor(null_to_nan=True, row_major=False))
        except (pa.ArrowTypeError, pa.ArrowNotImplementedError):
            # Decimals, dictionaries, and float16 among other types, as float64.
            columns = [
                c if _tensor_type(c.type) else pa.array(numbers(c).astype(np.float64)) for c in batch.columns
            ]
            batch = pa.RecordBatch.from_arrays(columns, batch.schema.names)
            mat = np.asarray(batch.to_tensor(null_to_nan=True, row_major=False))
        if any(pa.types.is_integer(f.type) for f in batch.schema):
            mat = mat.astype(np.float64)  # Arrow made small integers float32 to hold NaN
        return mat


def _tensor_type(t: pa.DataType) -> bool:
    """Whether ``RecordBatch.to_tensor`` takes columns of this type among others."""
    return pa.types.is_integer(t) or pa.types.is_float32(t) or pa.types.is_float64(t)


def coalesced(record_batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """Record batches joined into batches of at least ``rows`` rows (but the last).

    Files written in small record batches (Hugging Face datasets write 1,000 rows each,
    JSON Lines come a block of text at a time) would otherwise be scored in chunks that
    small. A batch of ``rows`` or more is passed on as it is, without a copy.

    Args:
        record_batches: Of one schema.
        rows: The fewest rows a joined batch holds.

    Yields:
        The batches, in order.
    """
    held: list[pa.RecordBatch] = []
    n = 0
    for record_batch in record_batches:
        if not held and record_batch.num_rows >= rows:
            yield record_batch
            continue
        held.append(record_batch)
        n += record_batch.num_rows
        if n >= rows:
            yield held[0] if len(held) == 1 else pa.concat_batches(held)
            held, n = [], 0
    if held:
        yield held[0] if len(held) == 1 else pa.concat_batches(held)
