"""The floor: read the same files as infocli and touch every value (a sum), no metric math.

    python benchmarks/floor.py PREDS [LABELS]
    python benchmarks/floor.py TOKENS

A token file's sum is that of its sequence ids and log-probabilities together.

Parquet is streamed by record batches (``pre_buffer=False``, as infocli reads it) and
summed column by column with Arrow; CSV is streamed with Arrow's CSV reader; ``.npy`` is
memory-mapped and summed in blocks of rows. Prints, as JSON, each file's row count and
sum, so that the work cannot be skipped and the harness can check that every row was read.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

BATCH_ROWS = 65_536
"""Rows per Parquet record batch."""

BLOCK_VALUES = 4_000_000
"""Values per block of a memory-mapped .npy array."""


def _sum_batches(batches) -> tuple[int, float]:
    """Rows and sum of every value of a stream of Arrow record batches."""
    rows, total = 0, 0.0
    for batch in batches:
        rows += batch.num_rows
        total += sum(pc.sum(column).as_py() or 0 for column in batch.columns)
    return rows, total


def sum_parquet(path: str) -> tuple[int, float]:
    """Rows and sum of a Parquet file, streamed by record batches."""
    with pq.ParquetFile(path, pre_buffer=False) as file:
        return _sum_batches(file.iter_batches(batch_size=BATCH_ROWS))


def sum_csv(path: str) -> tuple[int, float]:
    """Rows and sum of a CSV file, streamed by blocks."""
    with pcsv.open_csv(path) as reader:
        return _sum_batches(reader)


def sum_npy(path: str) -> tuple[int, float]:
    """Rows and sum of a .npy file, memory-mapped and summed in blocks of rows."""
    array = np.load(path, mmap_mode="r")
    step = max(1, BLOCK_VALUES // int(np.prod(array.shape[1:])))
    total = sum(float(array[start : start + step].sum()) for start in range(0, len(array), step))
    return len(array), total


READERS = {".parquet": sum_parquet, ".csv": sum_csv, ".npy": sum_npy}


def read(path: str) -> dict:
    """Read one file by its extension: its path, row count and sum."""
    suffix = path[path.rfind(".") :].lower()
    rows, total = READERS[suffix](path)
    return {"path": path, "rows": rows, "sum": total}


def main(paths: list[str]) -> None:
    """Read each file and print the results as JSON."""
    if not 1 <= len(paths) <= 2:
        raise SystemExit("usage: floor.py PREDS [LABELS] | floor.py TOKENS")
    print(json.dumps({"files": [read(path) for path in paths]}))


if __name__ == "__main__":
    main(sys.argv[1:])
