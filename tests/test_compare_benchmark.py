"""The compare benchmark works end to end: ``benchmarks/compare.py --quick`` on tiny files
(no timing asserted: the harness exits 1 when compare and the evals disagree)."""

import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_quick_compare_benchmark_runs_and_writes_its_section(tmp_path):
    cmd = [sys.executable, str(BENCHMARKS / "compare.py"), "--quick", "--data", str(tmp_path / "data")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    out = Path(re.findall(r"^wrote (\S+)$", result.stdout, flags=re.MULTILINE)[-1])
    section = out.read_text()
    assert section.startswith("## Comparing models")
    assert re.search(r"\| `infocli compare` \| [\d.]+ \| [\d.]+ \| [\d,]+ \|", section)
    assert "compare / floor:" in section and "10,000 × 10" in section
