"""Write tables as shards in every format infocli reads, for the dataset and format tests.

``write_shard(path, columns, fmt)`` writes named columns (1-D arrays, or 2-D arrays as
list columns where the format has them) with the writers of pyarrow and NumPy themselves,
so that the files are those other programs make.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.feather as feather
import pyarrow.parquet as pq

SHARD_FORMATS = (
    "parquet",
    "csv",
    "csv.gz",
    "tsv",
    "npy",
    "arrow-file",
    "arrow-stream",
    "feather",
    "jsonl",
    "jsonl.gz",
    "ndjson",
    "npz",
)
"""The ways :func:`write_shard` writes a table."""

EXTENSION = {
    "parquet": ".parquet",
    "csv": ".csv",
    "csv.gz": ".csv.gz",
    "tsv": ".tsv",
    "npy": ".npy",
    "arrow-file": ".arrow",
    "arrow-stream": ".arrow",
    "feather": ".feather",
    "jsonl": ".jsonl",
    "jsonl.gz": ".jsonl.gz",
    "ndjson": ".ndjson",
    "npz": ".npz",
}


def arrow_table(columns: Mapping[str, np.ndarray]) -> pa.Table:
    """Named columns as an Arrow table; a 2-D array becomes a list column."""
    arrays = {}
    for name, values in columns.items():
        if values.ndim == 2:
            offsets = pa.array(np.arange(0, values.size + 1, values.shape[1], dtype=np.int32))
            arrays[name] = pa.ListArray.from_arrays(offsets, pa.array(values.reshape(-1)))
        else:
            arrays[name] = pa.array(values.tolist() if values.dtype.kind in "US" else values)
    return pa.table(arrays)


def write_shard(path: Path, columns: Mapping[str, np.ndarray], fmt: str, *, batch_rows: int = 7) -> Path:
    """Write ``columns`` to ``path`` + the extension of ``fmt``; returns the file.

    ``npy`` and ``npz`` hold a structured array (one field per column, a 2-D column as a
    field of that width); the Arrow forms are written in record batches of ``batch_rows``
    rows, as Hugging Face datasets write small batches.
    """
    path = path.with_name(path.name + EXTENSION[fmt])
    path.parent.mkdir(parents=True, exist_ok=True)
    n = len(next(iter(columns.values())))
    if fmt in ("npy", "npz"):
        dtype = [(name, values.dtype, values.shape[1:]) for name, values in columns.items()]
        out = np.zeros(n, dtype=dtype)
        for name, values in columns.items():
            out[name] = values
        if fmt == "npy":
            with open(path, "wb") as file:
                np.save(file, out)
        else:
            np.savez(path, out)
        return path
    if fmt.startswith("jsonl") or fmt == "ndjson":
        names = list(columns)
        lines = []
        for i in range(n):
            row = {name: columns[name][i].tolist() for name in names}
            lines.append(json.dumps(row) + "\n")
        data = "".join(lines).encode()
        path.write_bytes(gzip.compress(data) if fmt.endswith(".gz") else data)
        return path
    table = arrow_table(columns)
    if fmt == "parquet":
        pq.write_table(table, path, row_group_size=max(1, batch_rows))
    elif fmt == "feather":
        feather.write_feather(table, path, chunksize=max(1, batch_rows))
    elif fmt in ("arrow-file", "arrow-stream"):
        new = pa.ipc.new_file if fmt == "arrow-file" else pa.ipc.new_stream
        with new(str(path), table.schema) as writer:
            for batch in table.to_batches(max_chunksize=max(1, batch_rows)):
                writer.write_batch(batch)
    else:
        sink = pa.BufferOutputStream()
        delimiter = "\t" if fmt == "tsv" else ","
        pcsv.write_csv(table, sink, write_options=pcsv.WriteOptions(delimiter=delimiter))
        data = sink.getvalue().to_pybytes()
        path.write_bytes(gzip.compress(data) if fmt.endswith(".gz") else data)
    return path
