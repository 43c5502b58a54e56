"""Benchmark of ``compare`` and ``latent-kl`` on datasets: 20 Parquet shards against one
file of the same rows.

    python benchmarks/shard_commands.py [--repeats 5] [--data FOLDER]

Contenders, run interleaved, whole processes (medians of wall seconds): for ``compare``,
a baseline, a candidate and labels of 2,000,000 rows x 10 float32 classes as one file
each, and as 20 shards each with ``--jobs 1`` and ``--jobs 2``; for ``latent-kl``,
500,000 rows of 32 float32 means and log-variances, likewise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SHARDS = 20
COMPARE_ROWS, CLASSES = 2_000_000, 10
LATENT_ROWS, DIMS = 500_000, 32
DEFAULT = Path.home() / ".cache" / "infocli-bench" / "shard_commands"


def _write(table: pa.Table, one: Path, folder: Path) -> None:
    pq.write_table(table, one)
    folder.mkdir(parents=True, exist_ok=True)
    per = table.num_rows // SHARDS
    for i in range(SHARDS):
        pq.write_table(table.slice(i * per, per), folder / f"part-{i}.parquet")


def generate(root: Path) -> Path:
    """Write every input once (if not there yet)."""
    if (root / "done").exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(19)
    for name in ("a", "b"):
        logits = rng.normal(0, 2, (COMPARE_ROWS, CLASSES)).astype(np.float32)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        _write(
            pa.table({f"c{j}": probs[:, j] for j in range(CLASSES)}), root / f"{name}.parquet", root / name
        )
    labels = pa.table({"label": rng.integers(0, CLASSES, COMPARE_ROWS)})
    _write(labels, root / "labels.parquet", root / "labels")
    mu = rng.normal(0, 1, (LATENT_ROWS, DIMS)).astype(np.float32)
    logvar = rng.normal(-1, 0.5, (LATENT_ROWS, DIMS)).astype(np.float32)
    columns = {
        **{f"mu_{j}": mu[:, j] for j in range(DIMS)},
        **{f"logvar_{j}": logvar[:, j] for j in range(DIMS)},
    }
    _write(pa.table(columns), root / "latent.parquet", root / "latent")
    (root / "done").write_text("")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data", type=Path, default=DEFAULT)
    args = parser.parse_args()
    r = generate(args.data)
    cli = [sys.executable, "-m", "infocli"]
    runs = {
        "compare, one file each": [
            "compare",
            r / "a.parquet",
            r / "b.parquet",
            "--labels",
            r / "labels.parquet",
        ],
        "compare, 20 shards each, --jobs 1": ["compare", r / "a", r / "b", "--labels", r / "labels"],
        "compare, 20 shards each, --jobs 2": [
            "compare",
            r / "a",
            r / "b",
            "--labels",
            r / "labels",
            "-j",
            "2",
        ],
        "latent-kl, one file": ["latent-kl", r / "latent.parquet", "--param", "logvar"],
        "latent-kl, 20 shards, --jobs 1": ["latent-kl", r / "latent", "--param", "logvar"],
        "latent-kl, 20 shards, --jobs 2": ["latent-kl", r / "latent", "--param", "logvar", "-j", "2"],
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    env = {**os.environ, "INFOCLI_FORMAT": "json"}
    for _ in range(args.repeats):
        for name, argv in runs.items():
            start = time.perf_counter()
            subprocess.run([*cli, *map(str, argv)], check=True, env=env, capture_output=True)
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print("| run | median s | ratio to one file |")
    print("|---|---|---|")
    for name, median in medians.items():
        base = medians["compare, one file each" if name.startswith("compare") else "latent-kl, one file"]
        print(f"| {name} | {median:.2f} | {median / base:.2f} |")


if __name__ == "__main__":
    main()
