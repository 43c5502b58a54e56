"""Benchmark of the engines: a dataset of 20 Parquet shards of W1's form, 20,000,000 rows
in all, against one ``infocli eval`` of the same rows in one file.

    python benchmarks/shards.py [--repeats 5] [--data FOLDER]

Contenders, run interleaved, whole processes: the one file; the dataset with ``--jobs 1``,
``--jobs 2`` and ``--engine dask`` (a local cluster of one worker per core). The peak RSS
of every process of a run (the client's and each worker's) is sampled every 20 ms; the
per-shard CPU seconds come from the ``--jobs 1`` run's CPU time over the shards.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import chunks  # noqa: E402
from workloads import DEFAULT_DATA_DIR, WORKLOADS  # noqa: E402

SHARDS = 20
ROWS = 20_000_000
W1 = replace(WORKLOADS["W1"], rows=ROWS)


def _schema(width: int | None, dtype: str) -> pa.Schema:
    names = [f"c{i}" for i in range(width)] if width else ["label"]
    return pa.schema([(name, pa.from_numpy_dtype(np.dtype(dtype))) for name in names])


def _table(values: np.ndarray, schema: pa.Schema) -> pa.Table:
    columns = np.ascontiguousarray(values.reshape(len(values), -1).T)
    return pa.table(dict(zip(schema.names, columns, strict=True)), schema=schema)


def generate(folder: Path) -> Path:
    """Write the rows once as one file pair and once as 20 shard pairs (if not there yet)."""
    root = folder / "shards20"
    if (root / "done").exists():
        return root
    for sub in ("preds", "labels"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    pred_schema, label_schema = _schema(W1.classes, W1.dtype), _schema(None, "int64")
    one = [
        pq.ParquetWriter(root / name, s)
        for name, s in (("preds.parquet", pred_schema), ("labels.parquet", label_schema))
    ]
    per_shard = ROWS // SHARDS
    shard, written, writers = -1, per_shard, None
    for preds, labels in chunks(W1, ROWS, W1.classes):
        one[0].write_table(_table(preds, pred_schema))
        one[1].write_table(_table(labels, label_schema))
        start = 0
        while start < len(preds):
            if written == per_shard:
                for writer in writers or ():
                    writer.close()
                shard, written = shard + 1, 0
                writers = [
                    pq.ParquetWriter(root / sub / f"part-{shard}.parquet", s)
                    for sub, s in (("preds", pred_schema), ("labels", label_schema))
                ]
            take = min(per_shard - written, len(preds) - start)
            writers[0].write_table(_table(preds[start : start + take], pred_schema))
            writers[1].write_table(_table(labels[start : start + take], label_schema))
            start, written = start + take, written + take
    for writer in [*one, *(writers or ())]:
        writer.close()
    (root / "done").write_text("")
    return root


@dataclass
class Run:
    seconds: float
    cpu: float  # client and every worker
    client_mib: float
    worker_mib: float  # the largest worker's peak
    stdout: str


def measure(cmd: list[str]) -> Run:
    """Run to completion, sampling the RSS of the process and of all its descendants."""
    start = time.perf_counter()
    process = psutil.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peaks: dict[int, float] = {}
    cpu: dict[int, float] = {}
    while process.poll() is None:
        try:
            family = [process, *process.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for p in family:
            try:
                with p.oneshot():
                    peaks[p.pid] = max(peaks.get(p.pid, 0.0), p.memory_info().rss / 2**20)
                    times = p.cpu_times()
                    cpu[p.pid] = times.user + times.system
            except psutil.Error:
                pass
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    out, err = process.communicate()
    if process.returncode:
        raise SystemExit(f"{cmd} exited {process.returncode}: {err.decode()}")
    client = peaks.pop(process.pid, 0.0)
    return Run(seconds, sum(cpu.values()), client, max(peaks.values(), default=0.0), out.decode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    args = parser.parse_args()
    root = generate(args.data)
    base = [sys.executable, "-m", "infocli", "eval"]
    tail = ["--format", "json", "--no-progress"]
    shards = [str(root / "preds"), str(root / "labels")]
    commands = {
        "one file": [*base, str(root / "preds.parquet"), str(root / "labels.parquet"), *tail],
        "--jobs 1": [*base, *shards, *tail],
        "--jobs 2": [*base, *shards, "--jobs", "2", *tail],
        "--engine dask": [*base, *shards, "--engine", "dask", *tail],
    }
    runs: dict[str, list[Run]] = {name: [] for name in commands}
    for round_ in range(args.repeats):
        for name, cmd in commands.items():
            run = measure(cmd)
            runs[name].append(run)
            print(
                f"round {round_ + 1} {name}: {run.seconds:.2f} s, cpu {run.cpu:.2f} s, "
                f"client {run.client_mib:.0f} MiB, worker {run.worker_mib:.0f} MiB",
                flush=True,
            )
    reports = {name: json.loads(r[-1].stdout) for name, r in runs.items()}
    sharded = [reports[name]["metrics"] for name in commands if name != "one file"]
    assert all(m == sharded[0] for m in sharded), "the engines' reports differ"
    for name, value in reports["one file"]["metrics"].items():
        assert math.isclose(value, sharded[0][name], rel_tol=1e-12), name
    med = {name: statistics.median(r.seconds for r in rs) for name, rs in runs.items()}
    print("\n| contender | median s | ratio | CPU s | client peak MiB | worker peak MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, rs in runs.items():
        ratio = med[name] / (med["one file"] if name in ("one file", "--jobs 1") else med["--jobs 2"])
        print(
            f"| {name} | {med[name]:.2f} | {ratio:.2f}x | {statistics.median(r.cpu for r in rs):.2f} | "
            f"{statistics.median(r.client_mib for r in rs):.0f} | {statistics.median(r.worker_mib for r in rs):.0f} |"
        )
    print(
        f"\nper-shard CPU s (--jobs 1 CPU / {SHARDS}): {statistics.median(r.cpu for r in runs['--jobs 1']) / SHARDS:.3f}"
    )


if __name__ == "__main__":
    main()
