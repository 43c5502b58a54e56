"""Time datasets and the formats beside one file of the same rows (W1's form).

    python benchmarks/datasets.py [--repeats N] [--data FOLDER]

From W1's files (5,000,000 x 10 float32 probabilities and int64 labels, written by
``benchmarks/run.py``), writes the same rows as 20 Parquet shards (with one labels file,
and with 20 labels shards), as an Arrow IPC file and an IPC stream (1,000-row record
batches, as Hugging Face datasets write), as a .npy and a .npz, and the first 500,000
rows as JSON Lines and Parquet. Each command runs as a whole process, interleaved round
by round; the table gives medians of wall time, CPU time and peak RSS.

``--readers`` times the IPC file form read through a read buffer (as infocli reads it)
against a memory map, and the stream form, each process reading every record batch into
NumPy: the measurement that decided how IPC is read.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path.home() / ".cache" / "infocli-bench"
N_SHARDS = 20
JSONL_ROWS = 500_000


def _write(data: Path) -> Path:
    """Write every variant once (kept between runs); returns their folder."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = data / "datasets"
    if (out / "done").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    probs = pq.read_table(data / "scale-1" / "w1_probs.parquet")
    labels = pq.read_table(data / "scale-1" / "w1_labels.parquet")
    n = probs.num_rows
    group = pq.ParquetFile(data / "scale-1" / "w1_probs.parquet").metadata.row_group(0).num_rows
    for name in ("shards", "label_shards"):
        (out / name).mkdir(exist_ok=True)
    edges = [round(i * n / N_SHARDS) for i in range(N_SHARDS + 1)]
    for i, (a, b) in enumerate(zip(edges, edges[1:], strict=False)):
        pq.write_table(probs.slice(a, b - a), out / "shards" / f"part-{i}.parquet", row_group_size=group)
        pq.write_table(labels.slice(a, b - a), out / "label_shards" / f"part-{i}.parquet")
    both = probs.append_column("label", labels.column("label"))
    with pa.ipc.new_file(str(out / "file.arrow"), probs.schema) as writer:
        writer.write_table(probs, max_chunksize=65_536)
    with pa.ipc.new_stream(str(out / "stream.arrow"), probs.schema) as writer:
        writer.write_table(probs, max_chunksize=1_000)
    matrix = np.stack([probs.column(c).to_numpy() for c in probs.column_names], axis=1)
    np.save(out / "probs.npy", matrix)
    np.savez(out / "probs.npz", probs=matrix)
    np.save(out / "labels.npy", labels.column("label").to_numpy())
    head = both.slice(0, JSONL_ROWS)
    pq.write_table(head, out / "head.parquet")
    import pyarrow.json  # noqa: F401 - only to fail early where pyarrow lacks it

    columns = {name: head.column(name).to_pylist() for name in head.column_names}
    with open(out / "head.jsonl", "w") as file:
        for i in range(JSONL_ROWS):
            file.write("{" + ", ".join(f'"{k}": {v[i]!r}' for k, v in columns.items()) + "}\n")
    (out / "done").write_text("")
    return out


def _read(variant: str, path: str) -> None:
    """Read every record batch of an IPC file into NumPy, as infocli's reader does."""
    import pyarrow as pa

    from infocli.readers.ipc import IpcTable

    table = IpcTable(path, path)
    if variant == "mmap":
        import pyarrow.ipc as ipc

        def mapped() -> tuple:
            handle = pa.memory_map(path)
            return handle, ipc.open_file(handle)

        table._open = mapped  # type: ignore[method-assign]
    names = [c.name for c in table.columns]
    total = 0.0
    for batch in table.batches(names, [], 65_536):
        total += float(batch.matrix[:, 0].sum())
    print(total)


def _run(command: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one whole process."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    out, err = process.communicate()
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed: {err.decode()}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--readers", action="store_true", help="time the IPC read paths only")
    parser.add_argument("--read", nargs=2, metavar=("VARIANT", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--write", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read:
        _read(*args.read)
        return
    if args.write:
        _write(args.data)
        return
    # The files are written by a child: a child's peak RSS on Linux is at least its
    # parent's at the time of the exec, so this process stays small.
    subprocess.run([sys.executable, __file__, "--write", "--data", str(args.data)], check=True)
    d = args.data / "datasets"
    w1 = args.data / "scale-1"
    infocli = [sys.executable, "-m", "infocli", "eval"]
    if args.readers:
        me = [sys.executable, __file__, "--read"]
        commands = {
            "IPC file, read buffer": [*me, "buffer", str(d / "file.arrow")],
            "IPC file, memory map": [*me, "mmap", str(d / "file.arrow")],
            "IPC stream (1,000-row batches), read buffer": [*me, "buffer", str(d / "stream.arrow")],
        }
    else:
        labels = str(w1 / "w1_labels.parquet")
        commands = {
            "one Parquet file (W1)": [*infocli, str(w1 / "w1_probs.parquet"), labels],
            "20 Parquet shards + one labels file": [*infocli, str(d / "shards"), labels],
            "20 Parquet shards + 20 labels shards": [*infocli, str(d / "shards"), str(d / "label_shards")],
            "Arrow IPC file": [*infocli, str(d / "file.arrow"), labels],
            "Arrow IPC stream, 1,000-row batches": [*infocli, str(d / "stream.arrow"), labels],
            ".npy": [*infocli, str(d / "probs.npy"), str(d / "labels.npy")],
            ".npz": [*infocli, str(d / "probs.npz"), str(d / "labels.npy")],
            "500,000 rows, Parquet": [*infocli, str(d / "head.parquet")],
            "500,000 rows, JSON Lines": [*infocli, str(d / "head.jsonl")],
        }
    for command in commands.values():  # into the page cache, and the code compiled
        _run(command)
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in commands}
    for _ in range(args.repeats):
        for name, command in commands.items():
            results[name].append(_run(command))
    print("| command | wall s | CPU s | peak MiB |")
    print("|---|---|---|---|")
    for name, runs in results.items():
        wall, cpu, rss = (statistics.median(r[i] for r in runs) for i in range(3))
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {rss:.0f} |")
    print(f"\n{args.repeats} interleaved rounds; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
