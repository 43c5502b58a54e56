"""``benchmarks/variants.py``: variants of one infocli run, timed side by side."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
REPO = BENCHMARKS.parent


@pytest.fixture
def variants(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("variants")


def test_a_variant_names_its_options_and_optionally_its_code(variants) -> None:
    assert variants.parse_variant("plain=") == ("plain", None, [])
    assert variants.parse_variant("js=--js --js-beta 0.3") == ("js", None, ["--js", "--js-beta", "0.3"])
    assert variants.parse_variant("before@/src/old=--t2") == ("before", "/src/old", ["--t2"])
    with pytest.raises(SystemExit, match="NAME=OPTIONS"):
        variants.parse_variant("=--js")


def test_variants_run_on_generated_files_and_print_their_ratios(tmp_path) -> None:
    data = tmp_path / "data"
    generate = [sys.executable, str(BENCHMARKS / "generate.py"), str(data / "scale-0.002")]
    subprocess.run(
        [*generate, "--scale", "0.002", "--only", "W4"], check=True, capture_output=True, timeout=300
    )
    cmd = [
        sys.executable,
        str(BENCHMARKS / "variants.py"),
        "--only",
        "W4",
        "--scale",
        "0.002",
        "--repeats",
        "1",
    ]
    cmd += ["--data", str(data), "--variant", "plain=", "--variant", f"js@{REPO}=--js"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [
        line for line in result.stdout.splitlines() if line.startswith("| plain") or line.startswith("| js")
    ]
    assert len(rows) == 2 and rows[0].endswith("| 1.000 |"), result.stdout


def test_variants_refuse_a_folder_without_generated_files(tmp_path) -> None:
    cmd = [sys.executable, str(BENCHMARKS / "variants.py"), "--only", "W4", "--data", str(tmp_path)]
    result = subprocess.run([*cmd, "--variant", "plain="], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "no generated files" in result.stderr
