"""infocli in CI and shell pipelines: gates, exit codes, stdin, atomic output, progress, warnings."""

from __future__ import annotations

import json
import math
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import log_loss

from infocli.gates import Gate, apply_gates, parse_gate
from infocli.metrics.registry import names_of

INFOCLI = shutil.which("infocli") or "infocli"
REL = 1e-9


def _probs(rng: np.random.Generator, n: int, c: int) -> np.ndarray:
    z = rng.normal(size=(n, c))
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def _write_csv(path: Path, probs: np.ndarray) -> None:
    header = ",".join(f"c{i}" for i in range(probs.shape[1]))
    np.savetxt(path, probs, delimiter=",", header=header, comments="", fmt="%.17g")


@pytest.fixture
def data(tmp_path: Path) -> dict[str, object]:
    """Probabilities as CSV and Parquet, labels as .npy, and the sklearn log loss."""
    rng = np.random.default_rng(7)
    probs = _probs(rng, 500, 4)
    labels = rng.integers(0, 4, 500)
    _write_csv(tmp_path / "preds.csv", probs)
    pq.write_table(pa.table({f"c{i}": probs[:, i] for i in range(4)}), tmp_path / "preds.parquet")
    np.save(tmp_path / "labels.npy", labels)
    return {
        "dir": tmp_path,
        "csv": str(tmp_path / "preds.csv"),
        "parquet": str(tmp_path / "preds.parquet"),
        "labels": str(tmp_path / "labels.npy"),
        "log_loss": log_loss(labels, probs, labels=range(4)),
        "accuracy": float((probs.argmax(1) == labels).mean()),
    }


def _run(*args: str, stdin: bytes | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([INFOCLI, *args], input=stdin, capture_output=True, timeout=120, **kwargs)


# ----------------------------------------------------------------------------- gates


@pytest.mark.parametrize(
    ("op", "value", "threshold", "fails"),
    [
        ("<", 0.4, 0.5, True),  # the condition holds: the gate fails
        ("<", 0.5, 0.5, False),  # strict
        ("<=", 0.5, 0.5, True),
        ("<=", 0.6, 0.5, False),
        (">", 0.6, 0.5, True),
        (">", 0.5, 0.5, False),  # strict
        (">=", 0.5, 0.5, True),
        (">=", 0.4, 0.5, False),
        (">", math.inf, 0.5, True),  # an infinite cross-entropy fails "> 0.5" ...
        ("<", math.inf, 0.5, False),  # ... and passes "< 0.5"
        ("<", -math.inf, 0.5, True),
        ("<", math.nan, 0.5, True),  # NaN fails every gate
        (">", math.nan, 0.5, True),
        ("<=", math.nan, 0.5, True),
        (">=", math.nan, 0.5, True),
    ],
)
def test_gate_fails_exactly_when_its_condition_holds_or_the_value_is_nan(op, value, threshold, fails):
    gate = Gate(f"cross_entropy {op} {threshold}", "cross_entropy", op, threshold)
    assert gate.fails(value) is fails


@pytest.mark.parametrize(
    ("expr", "metric", "op", "threshold"),
    [
        ("cross_entropy > 0.5", "cross_entropy", ">", 0.5),
        ("accuracy<0.9", "accuracy", "<", 0.9),
        ("  perplexity  >=  1e3 ", "perplexity", ">=", 1000.0),
        ("kl_divergence<=-2", "kl_divergence", "<=", -2.0),
        ("entropy > .25", "entropy", ">", 0.25),
        ("entropy > 2.5E-3", "entropy", ">", 0.0025),
    ],
)
def test_gate_expressions_parse_with_or_without_spaces(expr, metric, op, threshold):
    gate = parse_gate(expr, names_of("eval"))
    assert (gate.metric, gate.op, gate.threshold, gate.expr) == (metric, op, threshold, expr)


def test_apply_gates_reports_each_gate_value_and_outcome():
    metrics = {"cross_entropy": 0.7, "accuracy": 0.95}
    gates = [
        parse_gate("cross_entropy > 0.5", names_of("eval")),
        parse_gate("accuracy < 0.9", names_of("eval")),
    ]
    results = apply_gates(gates, metrics)
    assert [(r.value, r.failed) for r in results] == [(0.7, True), (0.95, False)]


@pytest.mark.parametrize("fmt", ["json", "table"])
def test_a_failed_gate_exits_1_and_still_writes_the_full_report(data, fmt, tmp_path):
    threshold = data["log_loss"] * 0.9  # the model's log loss is above it
    out = tmp_path / f"report.{fmt}"
    result = _run(
        "eval", data["csv"], data["labels"], "--format", fmt, "--output", str(out),
        "--fail-if", f"cross_entropy > {threshold}", "--fail-if", "accuracy < 0",
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    text = out.read_text()
    if fmt == "json":
        report = json.loads(text)
        assert report["metrics"]["cross_entropy"] == pytest.approx(data["log_loss"], rel=REL)
        gates = report["gates"]
        assert [g["failed"] for g in gates] == [True, False]
        assert gates[0] == {
            "expr": f"cross_entropy > {threshold}",
            "metric": "cross_entropy",
            "op": ">",
            "threshold": pytest.approx(threshold, rel=1e-12),
            "value": pytest.approx(data["log_loss"], rel=REL),
            "failed": True,
        }
    else:
        assert "FAIL" in text and "pass" in text and "cross_entropy >" in text


def test_passing_gates_exit_0(data):
    result = _run(
        "eval", data["parquet"], data["labels"], "--format", "json",
        "--fail-if", f"cross_entropy > {data['log_loss'] * 1.1}",
        "--fail-if", f"accuracy < {data['accuracy'] - 0.01}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert all(not g["failed"] for g in json.loads(result.stdout)["gates"])


def test_an_infinite_cross_entropy_fails_a_greater_than_gate(tmp_path):
    probs = np.array([[1.0, 0.0], [0.5, 0.5]])
    np.save(tmp_path / "p.npy", probs)
    np.save(tmp_path / "y.npy", np.array([1, 0]))  # the first row puts 0 on the truth
    args = ["eval", str(tmp_path / "p.npy"), str(tmp_path / "y.npy"), "--eps", "0", "--format", "json"]
    failing = _run(*args, "--fail-if", "cross_entropy > 0.5")
    assert failing.returncode == 1
    assert json.loads(failing.stdout)["gates"][0]["value"] == "inf"
    assert _run(*args, "--fail-if", "cross_entropy < 0.5").returncode == 0


# ------------------------------------------------------------------------------ stdin


def test_shell_pipeline_reads_predictions_from_stdin(data):
    """cat preds.csv | infocli eval - labels.npy --format json, parsed."""
    command = f"cat {data['csv']} | {INFOCLI} eval - {data['labels']} --format json"
    result = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["predictions"]["path"] == "-"
    assert report["predictions"]["format"] == "csv"
    assert report["metrics"]["cross_entropy"] == pytest.approx(data["log_loss"], rel=REL)


def test_labels_from_stdin_as_npy(data):
    stdin = Path(data["labels"]).read_bytes()
    result = _run("eval", data["parquet"], "-", "--input-format", "npy", "--format", "json", stdin=stdin)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["labels"] == {"path": "-", "format": "npy", "kind": "index"}
    assert report["metrics"]["cross_entropy"] == pytest.approx(data["log_loss"], rel=REL)


def test_gzipped_csv_on_stdin_is_recognised(data, tmp_path):
    import gzip

    stdin = gzip.compress(Path(data["csv"]).read_bytes())
    result = _run("eval", "-", data["labels"], "--format", "json", stdin=stdin)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["metrics"]["cross_entropy"] == pytest.approx(data["log_loss"], rel=REL)


def test_parquet_from_stdin_is_not_flaky(data):
    """pyarrow can abort at exit after reading Parquet through a Python file object
    (apache/arrow#34314); stdin is spooled to a file, so every run must succeed."""
    stdin = Path(data["parquet"]).read_bytes()
    expected = None
    for _ in range(15):
        result = _run(
            "eval", "-", data["labels"], "--input-format", "parquet", "--format", "json", stdin=stdin
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr == b""
        value = json.loads(result.stdout)["metrics"]["cross_entropy"]
        expected = value if expected is None else expected
        assert value == expected
    assert expected == pytest.approx(data["log_loss"], rel=REL)


def test_stdin_leaves_no_spooled_file_behind(data, tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    env = {**os.environ, "TMPDIR": str(spool)}
    stdin = Path(data["csv"]).read_bytes()
    assert _run("eval", "-", data["labels"], "--format", "json", stdin=stdin, env=env).returncode == 0
    bad = _run("eval", "-", data["labels"], "--kind", "logprobs", stdin=stdin, env=env)
    assert bad.returncode == 2
    assert list(spool.iterdir()) == []


# ------------------------------------------------------------------- output and streams


def test_json_on_stdout_is_the_document_alone_and_warnings_go_to_stderr(tmp_path):
    probs = np.array([[0.5, 0.5004], [0.2, 0.8]])  # the first row sums to 1.0004: renormalised
    np.save(tmp_path / "p.npy", probs)
    np.save(tmp_path / "y.npy", np.array([0, 1]))
    result = _run("eval", str(tmp_path / "p.npy"), str(tmp_path / "y.npy"), "--format", "json")
    assert result.returncode == 0
    report = json.loads(result.stdout)  # nothing but the document on stdout
    assert report["n_renormalised"] == 1
    assert len(report["warnings"]) == 1 and "renormalised" in report["warnings"][0]
    assert b"infocli: warning:" in result.stderr and b"renormalised" in result.stderr


def test_quiet_suppresses_warnings_on_stderr_but_keeps_them_in_the_json(tmp_path):
    np.save(tmp_path / "p.npy", np.array([[1.0, 0.0], [0.3, 0.7]]))
    np.save(tmp_path / "y.npy", np.array([1, 1]))  # a zero on the truth: floored by --eps
    args = ["eval", str(tmp_path / "p.npy"), str(tmp_path / "y.npy"), "--format", "json"]
    loud, quiet = _run(*args), _run(*args, "--quiet")
    assert b"floored" in loud.stderr
    assert quiet.stderr == b""
    assert json.loads(quiet.stdout)["n_clipped"] == 1
    assert any("floored" in w for w in json.loads(quiet.stdout)["warnings"])


def test_a_successful_run_replaces_an_existing_report_atomically(data, tmp_path):
    out = tmp_path / "out" / "report.json"
    out.parent.mkdir()
    out.write_text("old report")
    result = _run("eval", data["csv"], data["labels"], "--format", "json", "--output", str(out))
    assert result.returncode == 0 and result.stdout == b""
    assert json.loads(out.read_text())["n_samples"] == 500
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.json"]


def test_an_interrupted_run_leaves_no_output_file(tmp_path):
    """SIGINT mid-stream: exit 130, no report, no temporary file."""
    rng = np.random.default_rng(3)
    n = 400_000
    probs = _probs(rng, n, 8).astype(np.float32)
    np.save(tmp_path / "p.npy", probs)
    np.save(tmp_path / "y.npy", rng.integers(0, 8, n))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    args = [INFOCLI, "eval", str(tmp_path / "p.npy"), str(tmp_path / "y.npy"), "--chunk-rows", "1"]
    process = subprocess.Popen([*args, "--output", str(out_dir / "r.json")], stderr=subprocess.PIPE)
    time.sleep(1.5)  # start-up, then well into the stream (one row per chunk takes minutes)
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert b"interrupted" in stderr and b"Traceback" not in stderr
    assert list(out_dir.iterdir()) == []


# ---------------------------------------------------------------------------- progress


def _run_on_a_terminal(args: list[str], seconds: float = 60) -> tuple[int, bytes]:
    """Run with stderr on a pseudo-terminal; return the exit code and what the terminal got."""
    parent, child = pty.openpty()
    process = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=child, env={**os.environ, "COLUMNS": "100"}
    )
    os.close(child)
    seen = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([parent], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(parent, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif process.poll() is not None:
            break
    process.wait(timeout=seconds)
    os.close(parent)
    return process.returncode, seen


@pytest.fixture
def slow_input(tmp_path: Path) -> list[str]:
    """An evaluation that takes a few seconds (well past the bar's 1 s) at three rows per chunk."""
    rng = np.random.default_rng(5)
    n = 90_000
    np.save(tmp_path / "p.npy", _probs(rng, n, 3))
    np.save(tmp_path / "y.npy", rng.integers(0, 3, n))
    return [INFOCLI, "eval", str(tmp_path / "p.npy"), str(tmp_path / "y.npy"), "--chunk-rows", "3"]


def test_progress_bar_shows_on_a_terminal_for_a_long_run(slow_input):
    code, seen = _run_on_a_terminal(slow_input)
    assert code == 0
    assert b"rows" in seen and b"90,000" in seen or b"90000" in seen


def test_no_progress_turns_the_bar_off(slow_input):
    code, seen = _run_on_a_terminal([*slow_input, "--no-progress"])
    assert code == 0
    assert seen == b""


def test_no_progress_bar_when_stderr_is_not_a_terminal(slow_input):
    result = subprocess.run(slow_input, capture_output=True, timeout=120)
    assert result.returncode == 0
    assert result.stderr == b""


def test_python_dash_m_reports_errors_like_the_console_script(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "infocli", "eval", str(tmp_path / "missing.npy")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr == f"infocli: error: {tmp_path / 'missing.npy'}: no such file.\n"


EXIT_HANDLER_SCRIPT = """
import atexit, sys
atexit.register(lambda: print("exit handler ran", flush=False))
sys.argv = ["infocli", *sys.argv[1:]]
from infocli.cli import main
main()
"""


@pytest.mark.parametrize(("args", "code"), [(["--version"], 0), (["eval", "missing.npy"], 2)])
def test_exit_handlers_run_and_their_output_is_flushed_before_the_process_ends(tmp_path, args, code):
    # the entry point ends the process without tearing the interpreter down; stdout to a
    # pipe is buffered, as it is unless PYTHONUNBUFFERED is set
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    result = subprocess.run(
        [sys.executable, "-c", EXIT_HANDLER_SCRIPT, *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == code
    assert result.stdout.endswith("exit handler ran\n")


def test_a_full_report_reaches_a_pipe_whole(data):
    # a reader that takes the JSON only after the process has ended gets all of it, from
    # buffered stdout
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    result = subprocess.run(
        [INFOCLI, "eval", data["parquet"], data["labels"], "--format", "json"], capture_output=True, env=env
    )
    assert result.returncode == 0
    doc = json.loads(result.stdout)
    assert doc["metrics"]["cross_entropy"] == pytest.approx(data["log_loss"], rel=1e-6)


def test_a_profiler_still_gets_to_save_its_results(tmp_path):
    # profilers and coverage save as the interpreter shuts down, so it is not skipped for them
    out = tmp_path / "profile.out"
    result = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), "-m", "infocli", "--version"])
    assert result.returncode == 0
    assert out.stat().st_size > 0


def test_under_a_tracer_main_returns_through_the_usual_exit():
    script = (
        "import sys\n"
        "sys.settrace(lambda *args: None)\n"
        "sys.argv = ['infocli', '--version']\n"
        "from infocli.cli import main\n"
        "try:\n    main()\nfinally:\n    print('unwound')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.endswith("unwound\n")
