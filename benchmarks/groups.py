"""Time ``infocli eval --group-by`` against plain ``infocli eval`` on W1, side by side.

    python benchmarks/groups.py [--repeats N] [--data FOLDER] [--datasets]

W1 (5,000,000 x 10 float32 probabilities and int64 labels, Parquet) must be generated
first (``python benchmarks/run.py --only W1`` or ``benchmarks/generate.py``). Beside its
files this writes two groups files of its own, leaving W1's untouched:
``w1_groups_1k.parquet`` and ``w1_groups_100k.parquet``, one int64 column ``group`` of
1,000 and 100,000 distinct values drawn uniformly per row (fixed seeds, in row groups of
1,000,000 rows). The three commands run as whole processes, interleaved round by round;
the medians and their ratios to plain eval are printed as a Markdown table, for
``benchmarks/slices.md`` (carried into BENCHMARKS.md). Each is run with a JSON report
(every group written) and with the table (the first 20 groups).

With ``--datasets`` the contenders are W1 in 10 Parquet shards (written once beside W1's
files, ``w1_shards/``): plain, grouped by a groups dataset of 10 shards paired with the
predictions', and grouped by the single 1,000-group file, each with ``--jobs 1`` and
``--jobs 2``, JSON reports; each grouped run is compared with the plain run of its jobs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from run import infocli_command, interleaved
from workloads import DEFAULT_DATA_DIR

GROUP_FILES = {"1k": (1_000, 101), "100k": (100_000, 102)}
"""Groups file -> (distinct values, seed)."""

ROWS = 5_000_000
CHUNK_ROWS = 1_000_000


def write_groups(folder: Path, rows: int = ROWS) -> None:
    """Write the groups files of ``rows`` rows that are missing (run in a child process:
    NumPy stays out of the timing harness)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    for name, (distinct, seed) in GROUP_FILES.items():
        path = folder / f"w1_groups_{name}.parquet"
        if path.exists():
            continue
        rng = np.random.default_rng(seed)
        schema = pa.schema([("group", pa.int64())])
        with pq.ParquetWriter(path.with_suffix(".tmp"), schema) as writer:
            for start in range(0, rows, CHUNK_ROWS):
                size = min(CHUNK_ROWS, rows - start)
                writer.write_table(pa.table({"group": rng.integers(0, distinct, size)}, schema=schema))
        path.with_suffix(".tmp").rename(path)


SHARDS = 10


def write_shards(folder: Path) -> Path:
    """Write W1's predictions, labels and 1,000-group column as 10 Parquet shards each,
    unless they are there (in a child process, as :func:`write_groups`)."""
    import pyarrow.parquet as pq

    root = folder / "w1_shards"
    if (root / "groups" / f"part-{SHARDS - 1}.parquet").exists():
        return root
    sources = {"preds": "w1_probs", "labels": "w1_labels", "groups": "w1_groups_1k"}
    for side, name in sources.items():
        table = pq.read_table(folder / f"{name}.parquet")
        (root / side).mkdir(parents=True, exist_ok=True)
        per = table.num_rows // SHARDS
        for i in range(SHARDS):
            pq.write_table(
                table.slice(i * per, per), root / side / f"part-{i}.parquet", row_group_size=400_000
            )
    return root


def dataset_commands(folder: Path, report: Path) -> dict[str, tuple[list[str], str]]:
    """The dataset contenders: W1 in 10 shards, plain and grouped by a groups dataset or by
    the single 1,000-group file, on this process and on 2 worker processes; each with the
    name of the plain run it is compared with."""
    root = folder / "w1_shards"
    commands = {}
    for jobs in (1, 2):
        plain = [*infocli_command(), "eval", str(root / "preds"), str(root / "labels"), "--jobs", str(jobs)]
        plain += ["--no-progress", "--format", "json", "-o", str(report)]
        commands[f"shards, --jobs {jobs}"] = (plain, f"shards, --jobs {jobs}")
        for name, groups in (
            ("groups dataset", root / "groups"),
            ("one groups file", folder / "w1_groups_1k.parquet"),
        ):
            grouped = [*plain, "--groups", str(groups), "--group-by", "group"]
            commands[f"shards, {name}, --jobs {jobs}"] = (grouped, f"shards, --jobs {jobs}")
    return commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR / "scale-1")
    parser.add_argument("--write-groups", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=ROWS, help=argparse.SUPPRESS)
    parser.add_argument(
        "--datasets", action="store_true", help="W1 as 10 shards, with --groups a dataset or one file"
    )
    parser.add_argument("--write-shards", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    folder: Path = args.data
    if args.write_groups:
        write_groups(folder, args.rows)
        return 0
    if args.write_shards:
        write_shards(folder)
        return 0
    preds, labels = folder / "w1_probs.parquet", folder / "w1_labels.parquet"
    if not preds.exists():
        raise SystemExit(f"{preds} is missing: generate W1 first (python benchmarks/run.py --only W1)")
    subprocess.run([sys.executable, __file__, "--data", str(folder), "--write-groups"], check=True)
    # Reports go to a file: a report kept in the harness would raise the children's peak RSS.
    report = Path(tempfile.mkdtemp(prefix="infocli-groups-")) / "report"
    base = [*infocli_command(), "eval", str(preds), str(labels), "--no-progress", "-o", str(report)]
    commands: dict[str, tuple[list[str], str]] = {}
    if args.datasets:
        subprocess.run([sys.executable, __file__, "--data", str(folder), "--write-shards"], check=True)
        commands = dataset_commands(folder, report)
    for output in () if args.datasets else ("json", "table"):
        plain = [*base, "--format", output]
        commands[f"plain, {output}"] = (plain, f"plain, {output}")
        for name in GROUP_FILES:
            groups = ["--groups", str(folder / f"w1_groups_{name}.parquet"), "--group-by", "group"]
            commands[f"{name} groups, {output}"] = ([*plain, *groups], f"plain, {output}")
    runs = interleaved({name: command for name, (command, _) in commands.items()}, args.repeats)
    print("\n| run | median wall s | median CPU s | median peak MiB | wall over plain eval |")
    print("|---|---:|---:|---:|---:|")
    for name, rs in runs.items():
        plain = statistics.median(r.seconds for r in runs[commands[name][1]])
        wall = statistics.median(r.seconds for r in rs)
        cpu = statistics.median(r.cpu_seconds for r in rs)
        mib = statistics.median(r.peak_mib for r in rs)
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {mib:.0f} | {wall / plain - 1:+.0%} |")
    for name, rs in runs.items():
        print(f"- {name}: " + ", ".join(f"{r.seconds:.2f} s" for r in rs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
