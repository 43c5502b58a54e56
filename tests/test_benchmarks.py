"""The benchmark harness works end to end: ``benchmarks/run.py --quick`` on tiny files.

No timing is asserted: the quick mode only checks that floor, naive and infocli run and
agree on the values (the harness exits 1 otherwise) on every workload, the classifier
ones (W1-W4) and the language-model one (T1), and that the report is written.
"""

import importlib
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_quick_benchmark_runs_every_workload_and_writes_the_table(tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    cmd = [sys.executable, str(BENCHMARKS / "run.py"), "--quick", "--memory-growth"]
    cmd += ["--data", str(tmp_path / "data"), "--out", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr

    report = out.read_text()
    for name in ("W1", "W2", "W3", "W4", "T1"):
        rows = re.findall(rf"^\| \*\*{name}\*\* .*\|$", report, flags=re.MULTILINE)
        assert len(rows) == 1, report
        assert rows[0].count("|") == 12, rows[0]  # 11 cells
    assert "## Language models" in report and "100,000 tokens in 200 sequences" in report
    assert report.index("Targets met:") < report.index("## Language models")  # T1 has no targets
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
