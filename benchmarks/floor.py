"""The floor: read the same files as infocli and touch every value (a sum), no metric math.

    python benchmarks/floor.py PREDS [LABELS]
    python benchmarks/floor.py TOKENS
    python benchmarks/floor.py BASELINE CANDIDATE LABELS   (the compare benchmark)

A token file's sum is that of its sequence ids and log-probabilities together.

The fastest plain reader of each format, with the means infocli uses, so that infocli /
floor measures what the metrics cost and not a slower read:

- Parquet is read row group by row group, each decoded on every CPU from a memory map of
  the file opened for it alone (infocli decodes runs of row groups from such maps);
- CSV is cut at line ends into segments of :data:`SEGMENT_BYTES`, parsed on every CPU
  (as infocli parses an uncompressed file); the files the benchmark generates quote
  nothing, so every line is a row;
- ``.npy`` is memory-mapped and summed in blocks of values.

Every Arrow column is summed with ``np.add.reduce`` on a zero-copy NumPy view of its
buffer: ``Array.to_numpy`` would import pandas (about 0.2 s) and ``pyarrow.compute``
costs about 30 ms of start-up. Prints, as JSON, each file's row count and sum, so that
the work cannot be skipped and the harness can check that every row was read.
"""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

SEGMENT_BYTES = 4 << 20
"""Bytes of CSV that one thread parses at a time (infocli's ``SEGMENT_BYTES``), or 16
lines if more: the parser's cost per segment grows with the columns."""

BLOCK_VALUES = 4_000_000
"""Values per block of a memory-mapped .npy array."""

_NUMPY_TYPES = {"halffloat": "float16", "float": "float32", "double": "float64"}


def _view(array: pa.Array, path: str) -> np.ndarray:
    """A numeric Arrow array's values, viewed in place as NumPy."""
    if array.null_count:
        raise SystemExit(f"{path}: missing values; the floor reads only complete columns")
    dtype = np.dtype(_NUMPY_TYPES.get(str(array.type), str(array.type)))
    return np.frombuffer(array.buffers()[1], dtype, count=array.offset + len(array))[array.offset :]


def _sum_table(table: pa.Table, path: str) -> tuple[int, float]:
    """Rows and sum of every value of an Arrow table.

    A table with more columns than rows is copied into one matrix by Arrow and summed at
    once: a Python call per column costs more (20 x 40,000 float32: 0.05 s against 0.35).
    """
    if table.num_columns > table.num_rows:
        if any(column.null_count for column in table.columns):
            raise SystemExit(f"{path}: missing values; the floor reads only complete columns")
        matrices = (np.asarray(batch.to_tensor()) for batch in table.to_batches())
        return table.num_rows, sum(float(np.add.reduce(matrix, axis=None)) for matrix in matrices)
    total = sum(
        float(np.add.reduce(_view(chunk, path))) for column in table.columns for chunk in column.chunks
    )
    return table.num_rows, total


def _add(parts) -> tuple[int, float]:
    """Rows and sum over (rows, sum) parts."""
    rows, total = 0, 0.0
    for n, part in parts:
        rows, total = rows + n, total + part
    return rows, total


def sum_parquet(path: str) -> tuple[int, float]:
    """Rows and sum of a Parquet file, row group by row group from memory maps."""
    with pq.ParquetFile(path) as file:
        metadata = file.metadata

    def row_group(index: int) -> tuple[int, float]:
        # A map per row group: only the pages of the row group being read are resident.
        with pa.memory_map(path) as mapped, pq.ParquetFile(mapped, metadata=metadata) as file:
            return _sum_table(file.read_row_group(index), path)

    return _add(row_group(index) for index in range(metadata.num_row_groups))


def _segments(path: str) -> tuple[list[str], list[tuple[int, int]]]:
    """A CSV file's column names, and the byte ranges of its rows cut at line ends."""
    size = os.path.getsize(path)
    with open(path, "rb") as file:
        header = file.readline()
        step = max(SEGMENT_BYTES, 16 * len(file.readline()))
        ranges, start = [], len(header)
        while start < size:
            file.seek(min(size, start + step) - 1)
            stop = min(size, file.tell() + len(file.readline()))  # past the line end at or after the cut
            ranges.append((start, stop))
            start = stop
    return header.decode().rstrip("\r\n").split(","), ranges


def sum_csv(path: str) -> tuple[int, float]:
    """Rows and sum of a CSV file, parsed in segments on every CPU."""
    names, ranges = _segments(path)

    def segment(span: tuple[int, int]) -> tuple[int, float]:
        with open(path, "rb") as file:
            file.seek(span[0])
            data = file.read(span[1] - span[0])
        options = pcsv.ReadOptions(use_threads=False, column_names=names, block_size=len(data) + 1)
        return _sum_table(pcsv.read_csv(pa.BufferReader(data), read_options=options), path)

    with ThreadPoolExecutor(os.cpu_count()) as pool:
        return _add(pool.map(segment, ranges))


def sum_npy(path: str) -> tuple[int, float]:
    """Rows and sum of a .npy file, memory-mapped and summed in blocks of values."""
    array = np.load(path, mmap_mode="r")
    values = array.ravel(order="K")  # a view of a contiguous array, in file order
    blocks = range(0, values.size, BLOCK_VALUES)
    return len(array), sum(float(np.add.reduce(values[start : start + BLOCK_VALUES])) for start in blocks)


READERS = {".parquet": sum_parquet, ".csv": sum_csv, ".npy": sum_npy}


def read(path: str) -> dict:
    """Read one file by its extension: its path, row count and sum."""
    suffix = path[path.rfind(".") :].lower()
    rows, total = READERS[suffix](path)
    return {"path": path, "rows": rows, "sum": total}


def main(paths: list[str]) -> None:
    """Read each file and print the results as JSON."""
    if not paths:
        raise SystemExit("usage: floor.py FILE...")
    print(json.dumps({"files": [read(path) for path in paths]}))


if __name__ == "__main__":
    main(sys.argv[1:])
