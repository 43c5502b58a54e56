"""Issue 14, standard streams: on real processes, stdout that cannot be written exits 2,
stderr that cannot be written stops nothing, only infocli's own lines reach stderr, and
any stream encoding shows any name.

Each test runs ``python -m infocli`` with this checkout on PYTHONPATH, and its standard
streams set up as the shell would (closed, /dev/full, a pipe nobody reads).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from .conftest import REPO_ROOT, SAMPLE_DATA

PROBS = str(SAMPLE_DATA / "probs.parquet")
LABELS = str(SAMPLE_DATA / "labels.parquet")
STDOUT_ERROR = "infocli: error: stdout: cannot be written"


def infocli_env(**extra: str) -> dict[str, str]:
    """The environment of a test process: this checkout first, no INFOCLI_FORMAT."""
    env = {k: v for k, v in os.environ.items() if k not in ("INFOCLI_FORMAT", "PYTHONWARNINGS")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def run(
    *args: Any,
    stdout: Any = subprocess.PIPE,
    stderr: Any = subprocess.PIPE,
    close: tuple[int, ...] = (),
    **env: str,
) -> subprocess.CompletedProcess[bytes]:
    """``python -m infocli ARGS`` as a process; ``close`` holds the descriptors it starts
    without (as after the shell's ``>&-``)."""
    return subprocess.run(
        [sys.executable, "-m", "infocli", *map(str, args)],
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        env=infocli_env(**env),
        preexec_fn=lambda: [os.close(fd) for fd in close],
        timeout=120,
        check=False,
    )


def assert_one_stdout_error(done: subprocess.CompletedProcess[bytes], reason: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(STDOUT_ERROR) and reason in lines[0], lines


@pytest.fixture
def clipped(files) -> tuple[str, str]:
    """Predictions and labels whose run warns (a probability of 0 is floored at --eps)."""
    probs = np.array([[1.0, 0.0], [0.3, 0.7], [0.5, 0.5]])
    return files.preds(probs, "npy"), files.labels(np.array([1, 1, 0]), "npy")


# ------------------------------------------------------------------------------ stdout


@pytest.mark.parametrize(
    "args",
    [
        ["eval", PROBS, LABELS],
        ["eval", PROBS, LABELS, "--format", "json", "--fail-if", "accuracy > 0.1"],
        ["perplexity", SAMPLE_DATA / "tokens.parquet", "--seq-col", "seq", "--mask-col", "mask"],
        ["--version"],
    ],
    ids=["table", "json-gate-failed", "perplexity", "version"],
)
def test_closed_stdout_exits_2_with_one_line(args):
    assert_one_stdout_error(run(*args, close=(1,)), "closed")


def test_closed_stdout_does_not_matter_with_output(tmp_path):
    report = tmp_path / "report.json"
    done = run("eval", PROBS, LABELS, "--format", "json", "--output", report, close=(1,))
    assert done.returncode == 0, done.stderr
    assert json.loads(report.read_text())["n_samples"] == 1000


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_full_stdout_exits_2_with_one_line(fmt):
    with open("/dev/full", "wb") as full:
        done = run("eval", PROBS, LABELS, "--format", fmt, stdout=full)
    assert_one_stdout_error(done, "No space left on device")


@pytest.mark.parametrize(
    "args",
    [["eval", PROBS, LABELS, "--format", "json"], ["eval", PROBS, LABELS, "--fail-if", "accuracy > 0.1"]],
    ids=["json", "table-gate-failed"],
)
def test_pipe_without_reader_exits_2_with_one_line(args):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before anything is written: EPIPE
    try:
        done = run(*args, stdout=write_end)
    finally:
        os.close(write_end)
    assert_one_stdout_error(done, "the program reading it has exited")


def test_stdout_error_line_is_lost_quietly_when_stderr_is_closed_too():
    done = run("eval", PROBS, LABELS, close=(1, 2))
    assert done.returncode == 2


# ------------------------------------------------------------------------------ stderr


def test_closed_stderr_keeps_the_report_and_the_exit_code(clipped):
    done = run("eval", *clipped, "--format", "json", close=(2,))
    assert done.returncode == 0
    report = json.loads(done.stdout)
    assert report["n_clipped"] == 1 and report["warnings"]  # a warning was due on stderr


def test_closed_stderr_keeps_exit_1_of_a_failed_gate(clipped):
    done = run("eval", *clipped, "--fail-if", "cross_entropy > 0.1", close=(2,))
    assert done.returncode == 1
    assert b"FAIL" in done.stdout


def test_closed_stderr_keeps_exit_2_of_bad_input(tmp_path):
    done = run("eval", tmp_path / "missing.csv", LABELS, close=(2,))
    assert done.returncode == 2
    assert done.stdout == b""


def test_full_stderr_keeps_the_report_and_the_exit_code(clipped):
    with open("/dev/full", "wb") as full:
        done = run("eval", *clipped, "--format", "json", stderr=full)
        failed = run("eval", *clipped, "--fail-if", "cross_entropy > 0.1", stderr=full)
    assert done.returncode == 0
    assert json.loads(done.stdout)["warnings"]
    assert failed.returncode == 1


def test_stderr_pipe_without_reader_keeps_the_report(clipped):
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = run("eval", *clipped, "--format", "json", stderr=write_end)
    finally:
        os.close(write_end)
    assert done.returncode == 0
    assert json.loads(done.stdout)["warnings"]


# ---------------------------------------------------------------------------- warnings


@pytest.fixture
def huge_logits(files) -> tuple[str, str]:
    """float32 logits at +-3e38, whose differences overflow float32."""
    logits = np.array([[3e38, -3e38, 0.0], [-3e38, 3e38, 1.0], [0.0, 1.0, -3e38]], dtype=np.float32)
    return files.preds(logits, "npy"), files.labels(np.array([0, 1, 2]), "npy")


@pytest.mark.parametrize(
    "options",
    [["--kind", "logits"], ["--kind", "logits", "--temperature", "1e-46"], ["--temperature", "1e300"]],
    ids=["huge-logits", "tiny-temperature", "huge-temperature"],
)
def test_no_python_warnings_under_quiet(huge_logits, options):
    done = run("eval", *huge_logits, *options, "--quiet", "--format", "json")
    assert done.stderr == b""
    assert done.returncode in (0, 2)


def test_only_infocli_warning_lines_without_quiet(files):
    # A zero row under --tol 1 divides 0 by 0 when it is renormalised.
    probs = np.array([[0.0, 0.0], [0.2, 0.8], [1.0, 0.0]], dtype=np.float32)
    preds, labels = files.preds(probs, "npy"), files.labels(np.array([0, 1, 0]), "npy")
    for options in (["--tol", "1"], ["--tol", "1", "--eps", "0"], ["--kind", "logprobs"]):
        done = run("eval", preds, labels, *options)
        lines = done.stderr.decode().splitlines()
        assert all(line.startswith(("infocli: warning:", "infocli: error:")) for line in lines), lines


def test_python_warnings_stay_visible_when_asked_for(huge_logits):
    done = run("eval", *huge_logits, "--kind", "logits", "--quiet", PYTHONWARNINGS="default")
    assert b"RuntimeWarning" in done.stderr


# --------------------------------------------------------------------------- encodings


@pytest.fixture
def non_ascii(tmp_path, files) -> tuple[Path, str]:
    """Predictions in a file named pr€dictions-é.csv, with classes café and naïve."""
    path = tmp_path / "pr€dictions-é.csv"
    path.write_text("café,naïve\n0.9,0.1\n0.2,0.8\n", encoding="utf-8")
    labels = tmp_path / "labels.csv"
    labels.write_text("label\ncafé\nnaïve\n", encoding="utf-8")
    return path, str(labels)


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
@pytest.mark.parametrize("fmt", ["table", "json"])
def test_non_ascii_names_on_a_narrow_stdout(non_ascii, encoding, fmt):
    preds, labels = non_ascii
    done = run("eval", preds, labels, "--format", fmt, PYTHONIOENCODING=encoding)
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""
    text = done.stdout.decode(encoding)
    if fmt == "json":
        assert json.loads(text)["predictions"]["path"] == str(preds)
    else:
        assert "pr\\u20acdictions-" in text  # the euro sign escaped, in either encoding
        assert ("pr\\u20acdictions-\\xe9" if encoding == "ascii" else "pr\\u20acdictions-é") in text


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_non_ascii_names_in_error_lines(tmp_path, non_ascii, encoding):
    preds, _ = non_ascii
    bad = tmp_path / "lab€ls-ö.csv"
    bad.write_text("label\ncafé\nthé\n", encoding="utf-8")
    for args in (["eval", preds, bad], ["eval", tmp_path / "missing-€.csv", LABELS]):
        done = run(*args, PYTHONIOENCODING=encoding)
        assert done.returncode == 2
        lines = done.stderr.decode(encoding).splitlines()
        assert len(lines) == 1 and lines[0].startswith("infocli: error:"), lines
        assert "\\u20ac" in lines[0]
