"""Generate the benchmark files, deterministically and in bounded memory.

    python benchmarks/generate.py [FOLDER] [--scale S] [--only W1,W3,T1]

The W and X (wide) workloads are a classifier's outputs on synthetic examples: logits
are Gaussian noise plus a bump on the true class (so the model is right far more often
than chance), and probabilities are their softmax, normalised in float64 and then cast.
The scale multiplies the rows, but for X workloads, whose 20 rows stay and whose classes
(columns) it multiplies. The T workload
is a language model's per-token log-probabilities: sequence lengths are 1 plus a
multinomial draw with gamma-distributed weights (about geometric, mean ~500 at scale 1),
each sequence has a lognormal difficulty, and a token's log-probability is -Gamma(1.2,
2.5 x difficulty), so per-sequence perplexity varies around e^3.

The rows are made and written chunk by chunk (each Parquet chunk is one row group), every
chunk from its own fixed seed, so the files are the same on every run (and, for the W
workloads, at every scale the first rows agree). A workload whose files are already in
FOLDER at the same scale is skipped (``manifest.json`` records what was written).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from workloads import DEFAULT_DATA_DIR, MANIFEST, WORKLOADS, Workload, select

VERSION = 1
"""Bump when the data changes, so that old files are regenerated."""

CHUNK_VALUES = 4_000_000
"""Prediction values per chunk (and per Parquet row group), at most 1M rows."""

# name: (seed, logit noise std, bump on the true class, student's extra noise std)
_SHAPE = {
    "W1": (1, 1.0, 2.5, 0.0),
    "W1x2": (1, 1.0, 2.5, 0.0),  # W1 at twice the rows: its first half is W1
    "W1b": (1, 1.0, 2.8, 0.0),  # W1's labels and noise, a larger bump: a second, better model
    "W2": (2, 2.0, 7.0, 0.0),
    "W3": (3, 1.0, 2.5, 0.0),
    "W4": (4, 1.5, 4.0, 0.8),
    # Wide tables: a bump of 12 over log(40,000) = 10.6 makes the true class likely.
    "X1": (5, 1.0, 12.0, 0.0),
    "X2": (6, 1.0, 12.0, 0.0),
}

TOKEN_CHUNK_ROWS = 1_000_000
"""Tokens per chunk (and per Parquet row group) of a token workload."""

# name: (seed, gamma shape of the length weights, difficulty sigma, NLL gamma shape, NLL scale)
_TOKEN_SHAPE = {"T1": (11, 1.5, 0.3, 1.2, 2.5)}
_LATENT_SEED = {"L1": 64}
"""Each latent workload's seed."""


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def chunk_rows(classes: int) -> int:
    """Rows per chunk for a workload of ``classes`` classes."""
    return min(1_000_000, max(1, CHUNK_VALUES // classes))


def chunks(w: Workload, rows: int, classes: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The workload's (predictions, labels or teacher probabilities), chunk by chunk."""
    seed, noise, bump, student_noise = _SHAPE[w.name]
    step = chunk_rows(classes)
    for index, start in enumerate(range(0, rows, step)):
        n = min(step, rows - start)
        rng = np.random.default_rng([seed, index])
        labels = rng.integers(0, classes, n)
        logits = rng.normal(0.0, noise, (n, classes))
        logits[np.arange(n), labels] += bump
        if w.soft_targets:
            student = softmax(logits + rng.normal(0.0, student_noise, logits.shape))
            yield student.astype(w.dtype), softmax(logits).astype(w.dtype)
        elif w.kind == "logits":
            yield logits.astype(w.dtype), labels
        else:
            yield softmax(logits).astype(w.dtype), labels


def token_chunks(w: Workload, tokens: int, sequences: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """A token workload's (int64 sequence ids, float32 log-probabilities), chunk by chunk.

    The rows of a sequence are contiguous; only the per-sequence lengths and difficulties
    (a few arrays of ``sequences`` values) are held whole.
    """
    seed, length_shape, difficulty_sigma, nll_shape, nll_scale = _TOKEN_SHAPE[w.name]
    rng = np.random.default_rng([seed, 0])
    weights = rng.gamma(length_shape, size=sequences)
    lengths = 1 + rng.multinomial(tokens - sequences, weights / weights.sum())
    ends = np.cumsum(lengths)  # the first row after each sequence
    difficulty = rng.lognormal(0.0, difficulty_sigma, sequences)
    for index, start in enumerate(range(0, tokens, TOKEN_CHUNK_ROWS)):
        stop = min(start + TOKEN_CHUNK_ROWS, tokens)
        rng = np.random.default_rng([seed, 1, index])
        seq = np.searchsorted(ends, np.arange(start, stop), side="right")
        logprob = -rng.gamma(nll_shape, nll_scale * difficulty[seq])
        yield seq.astype(np.int64), logprob.astype(np.float32)


def write_tokens(w: Workload, scale: float, path: Path) -> None:
    """Write a token workload's Parquet file: columns ``seq`` (int64) and ``logprob`` (float32)."""
    schema = pa.schema([("seq", pa.int64()), ("logprob", pa.float32())])
    with pq.ParquetWriter(path, schema) as writer:
        for seq, logprob in token_chunks(w, w.rows_at(scale), w.sequences_at(scale)):
            writer.write_table(pa.table({"seq": seq, "logprob": logprob}, schema=schema))


def write_latent(w: Workload, scale: float, path: Path) -> None:
    """Write a latent workload's Parquet file: ``mu_j`` then ``logvar_j`` columns, a quarter
    of the dimensions collapsed to the prior (means near 0, log-variances near 0)."""
    rows, dims = w.rows_at(scale), w.classes_at(scale)
    names = [f"mu_{j}" for j in range(dims)] + [f"logvar_{j}" for j in range(dims)]
    schema = pa.schema([(name, pa.from_numpy_dtype(np.dtype(w.dtype))) for name in names])
    used = dims - dims // 4
    spread = np.where(np.arange(dims) < used, 1.0, 0.02)
    centre = np.where(np.arange(dims) < used, -2.0, 0.0)
    with pq.ParquetWriter(path, schema) as writer:
        for index, start in enumerate(range(0, rows, chunk_rows(2 * dims))):
            rng = np.random.default_rng([_LATENT_SEED[w.name], index])
            n = min(chunk_rows(2 * dims), rows - start)
            mu = rng.standard_normal((dims, n)) * spread[:, None]
            logvar = centre[:, None] + 0.3 * rng.standard_normal((dims, n)) * spread[:, None]
            values = np.concatenate([mu, logvar]).astype(w.dtype)
            writer.write_table(pa.table(dict(zip(names, values, strict=True)), schema=schema))


class _TableWriter:
    """Appends chunks to a Parquet or CSV file: a matrix as columns c0..cN, a vector as ``label``."""

    def __init__(self, path: Path, fmt: str, width: int | None, dtype: str) -> None:
        self.names = [f"c{i}" for i in range(width)] if width else ["label"]
        schema = pa.schema([(name, pa.from_numpy_dtype(np.dtype(dtype))) for name in self.names])
        if fmt == "parquet":
            self._writer = pq.ParquetWriter(path, schema)
        else:
            options = pcsv.WriteOptions(quoting_style="none", quoting_header="none")
            self._writer = pcsv.CSVWriter(path, schema, write_options=options)

    def write(self, values: np.ndarray) -> None:
        """Append the rows of a chunk."""
        columns = np.ascontiguousarray(values.reshape(len(values), -1).T)
        self._writer.write_table(pa.table(dict(zip(self.names, columns, strict=True))))

    def close(self) -> None:
        """Finish the file."""
        self._writer.close()


class _NpyWriter:
    """Fills a memory-mapped .npy file chunk by chunk."""

    def __init__(self, path: Path, rows: int, width: int | None, dtype: str) -> None:
        shape = (rows, width) if width else (rows,)
        self._array = np.lib.format.open_memmap(path, mode="w+", dtype=np.dtype(dtype), shape=shape)
        self._row = 0

    def write(self, values: np.ndarray) -> None:
        """Write the rows of a chunk after those already written."""
        self._array[self._row : self._row + len(values)] = values
        self._row += len(values)

    def close(self) -> None:
        """Flush the file to disk."""
        self._array.flush()
        del self._array


def _writer(path: Path, w: Workload, rows: int, width: int | None, dtype: str) -> _TableWriter | _NpyWriter:
    if w.format == "npy":
        return _NpyWriter(path, rows, width, dtype)
    return _TableWriter(path, w.format, width, dtype)


def write_predictions(w: Workload, scale: float, preds_path: Path, labels_path: Path) -> None:
    """Write a classifier workload's predictions and labels (or teacher's probabilities)."""
    rows, classes = w.rows_at(scale), w.classes_at(scale)
    second_width, second_dtype = (classes, w.dtype) if w.soft_targets else (None, "int64")
    writers = [
        _writer(preds_path, w, rows, classes, w.dtype),
        _writer(labels_path, w, rows, second_width, second_dtype),
    ]
    for preds, labels in chunks(w, rows, classes):
        writers[0].write(preds)
        writers[1].write(labels)
    for writer in writers:
        writer.close()


def write_workload(w: Workload, scale: float, folder: Path) -> dict[str, int]:
    """Write every file of a workload (under temporary names, renamed when complete).

    Returns:
        The size in bytes of each file, by name.
    """
    paths = [folder / name for name in w.files]
    temp = [path.with_name(path.name + ".partial") for path in paths]
    if w.command == "perplexity":
        write_tokens(w, scale, *temp)
    elif w.command == "latent-kl":
        write_latent(w, scale, *temp)
    else:
        write_predictions(w, scale, *temp)
    for partial, final in zip(temp, paths, strict=True):
        os.replace(partial, final)
    return {path.name: path.stat().st_size for path in paths}


def _entry(w: Workload, scale: float) -> dict:
    """What the manifest records about a workload at a scale, before its file sizes."""
    entry = {"version": VERSION, "scale": scale, "rows": w.rows_at(scale), "classes": w.classes_at(scale)}
    return entry | ({"sequences": w.sequences_at(scale)} if w.sequences else {})


def _up_to_date(entry: dict | None, expected: dict, folder: Path) -> bool:
    if not entry or any(
        entry.get(key) != expected.get(key) for key in ("version", "rows", "classes", "sequences")
    ):
        return False
    files = entry.get("files", {})
    return all((folder / n).is_file() and (folder / n).stat().st_size == size for n, size in files.items())


def mib(n_bytes: float) -> str:
    """A size in MiB, for people."""
    return f"{n_bytes / 2**20:,.1f} MiB"


def generate(folder: Path, scale: float, workloads: list[Workload]) -> dict:
    """Write the workloads missing from ``folder`` at ``scale`` and update the manifest.

    Returns:
        The manifest: per workload, the scale, rows, classes (sequences of a token
        workload) and file sizes.
    """
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    for w in workloads:
        expected = _entry(w, scale)
        state = "up to date"
        if not _up_to_date(manifest.get(w.name), expected, folder):
            manifest[w.name] = expected | {"files": write_workload(w, scale, folder)}
            manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
            state = "wrote"
        sizes = ", ".join(f"{n} ({mib(s)})" for n, s in manifest[w.name]["files"].items())
        print(f"{w.name}: {state} {w.shape(scale)} in {folder}: {sizes}", flush=True)
    return manifest


def main(argv: list[str] | None = None) -> None:
    """Command line: ``generate.py [FOLDER] [--scale S] [--only W1,W3]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_DATA_DIR, help="output folder")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every row count")
    parser.add_argument("--only", help=f"comma-separated workloads among {', '.join(WORKLOADS)}")
    args = parser.parse_args(argv)
    if not args.scale > 0:
        parser.error("--scale must be positive")
    generate(args.folder, args.scale, select(args.only))


if __name__ == "__main__":
    main()
