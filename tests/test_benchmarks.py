"""The benchmark harness works end to end: ``benchmarks/run.py --quick`` on tiny files.

No timing is asserted: the quick mode only checks that floor, naive and infocli run and
agree on the values (the harness exits 1 otherwise) on every workload, the classifier
ones (W1-W4), the wide tables (X1, X2) and the language-model one (T1), and that the
report is written. The floor's readers and the harness's round budget and timeout are
checked on small inputs of their own.
"""

import importlib
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_quick_benchmark_runs_every_workload_and_writes_the_table(tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    cmd = [sys.executable, str(BENCHMARKS / "run.py"), "--quick", "--memory-growth"]
    cmd += ["--data", str(tmp_path / "data"), "--out", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr

    report = out.read_text()
    for name in ("W1", "W2", "W3", "W4", "X1", "X2", "T1", "L1"):
        rows = re.findall(rf"^\| \*\*{name}\*\* .*\|$", report, flags=re.MULTILINE)
        assert len(rows) == 1, report
        assert rows[0].count("|") == 12, rows[0]  # 11 cells
    assert "## Language models" in report and "100,000 tokens in 200 sequences" in report
    assert report.index("Targets met:") < report.index("## Wide tables")  # X1, X2 and T1 have none
    assert report.index("## Wide tables") < report.index("## Language models")
    assert re.search(
        r"^\| \*\*X2\*\* float32 probs \+ int64 labels, csv \| 20 × 80 \|", report, flags=re.MULTILINE
    )
    assert "## Variational autoencoders" in report and "2,000 × 64 dimensions" in report
    assert re.search(r"^L1: infocli / floor \d+\.\d\d \(≤ 1\.2 [✅❌]\)\.$", report, flags=re.MULTILINE)
    assert "## Start-up" in report and "`infocli --version` imports" in report
    assert "## Memory growth" in report
    # Each raw run gives wall time, CPU time and peak RSS (and any reads from disk).
    assert re.search(r"^- W1 infocli: [\d.]+ s \([\d.]+ CPU-s\) / \d+ MiB", report, flags=re.MULTILINE)
    assert (tmp_path / "data" / "scale-0.002" / "manifest.json").is_file()


def test_quick_mode_refuses_to_overwrite_the_committed_table(tmp_path):
    committed = BENCHMARKS.parent / "BENCHMARKS.md"
    cmd = [sys.executable, str(BENCHMARKS / "run.py"), "--quick", "--out", str(committed)]
    result = subprocess.run(cmd + ["--data", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "never writes" in result.stderr
    assert not list(tmp_path.iterdir())  # refused before generating anything


def test_infocli_is_timed_from_this_interpreter_whatever_path_names_first(tmp_path, monkeypatch):
    decoy = tmp_path / "infocli"
    decoy.write_text("#!/bin/sh\nexit 1\n")
    decoy.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    run = importlib.import_module("run")

    command = run.infocli_command()
    assert command[0] != str(decoy)
    if command[0] != sys.executable:
        assert Path(command[0]).parent == Path(sysconfig.get_path("scripts"))
    else:
        assert command == [sys.executable, "-m", "infocli"]


@pytest.fixture
def bench(monkeypatch):
    """The benchmark modules, importable by name as the scripts import one another."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("floor"), importlib.import_module("run")


def test_floor_reads_every_csv_row_once_across_segments(tmp_path, bench, monkeypatch):
    floor, _ = bench
    rng = np.random.default_rng(15)
    values = rng.random((300, 3)) * 10.0 ** rng.integers(0, 6, (300, 1))  # lines of many lengths
    values[0] = [1, 2, 3]  # a short first line: segments of 16 such lines cut the longer ones
    text = "a,b,c\n" + "\n".join(",".join(repr(float(v)) for v in row) for row in values)  # no final newline
    path = tmp_path / "p.csv"
    path.write_text(text)
    for segment in (40, 197, 1 << 20):  # cuts inside lines, and the whole file in one segment
        monkeypatch.setattr(floor, "SEGMENT_BYTES", segment)
        rows, total = floor.sum_csv(str(path))
        assert rows == 300
        assert total == pytest.approx(values.sum(), rel=1e-12)


@pytest.mark.parametrize("columns", [3, 500])  # column by column, and as one matrix
def test_floor_sums_every_parquet_row_group(tmp_path, bench, columns):
    floor, _ = bench
    values = np.random.default_rng(columns).random((200, columns)).astype(np.float32)
    path = tmp_path / "p.parquet"
    table = pa.table({f"c{i}": values[:, i] for i in range(columns)})
    pq.write_table(table, path, row_group_size=64)  # 4 row groups, the last short
    rows, total = floor.sum_parquet(str(path))
    assert rows == 200
    assert total == pytest.approx(values.astype(np.float64).sum(), rel=1e-6)


def test_floor_refuses_missing_values(tmp_path, bench):
    floor, _ = bench
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"a": [1.0, None, 2.0]}), path)
    with pytest.raises(SystemExit, match="missing values"):
        floor.sum_parquet(str(path))


def test_floor_sums_an_npy_array_in_blocks(tmp_path, bench, monkeypatch):
    floor, _ = bench
    values = np.arange(7 * 11, dtype=np.float32).reshape(7, 11)
    np.save(tmp_path / "p.npy", values)
    monkeypatch.setattr(floor, "BLOCK_VALUES", 10)  # blocks across rows, the last short
    assert floor.sum_npy(str(tmp_path / "p.npy")) == (7, 2926.0)


def test_a_contender_over_the_budget_runs_no_more_rounds(bench):
    _, run = bench
    commands = {"quick": [sys.executable, "-c", "pass"], "slow": [sys.executable, "-c", "pass"]}
    seen = []
    runs = run.interleaved(commands, 3, seen.append, budget=0.0)  # every run is over a budget of 0
    assert [len(runs[name]) for name in commands] == [1, 1]
    assert len(seen) == 3 and all(set(latest) == set(commands) for latest in seen)
    assert len(run.interleaved(commands, 3)["slow"]) == 3  # no budget: every round


def test_a_run_is_stopped_at_the_timeout(bench):
    _, run = bench
    with pytest.raises(run.BenchmarkError, match="did not finish within 0.5 s"):
        run.measure([sys.executable, "-c", "import time; time.sleep(60)"], timeout=0.5)
