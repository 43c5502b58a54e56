"""Odd numbers and extreme options give a number that is right, or a clear error.

References are SciPy's softmax in float64 and plain NumPy, computed from the arrays the
tests write; never from infocli.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.special import log_softmax

from .conftest import SAMPLE_DATA
from cli_helpers import assert_bad_input, invoke, run_json

EPS = 1e-12
REL = 1e-6


def reference_cross_entropy(scores: np.ndarray, labels: np.ndarray, temperature: float, kind: str) -> float:
    """-log max(q[label], eps) averaged, q = softmax(z / T) in float64 (z = log p for probs)."""
    z = scores.astype(np.float64)
    if kind == "probs":
        with np.errstate(divide="ignore"):
            z = np.log(z)
    log_q = log_softmax(z / temperature, axis=1)
    picked = log_q[np.arange(len(labels)), labels]
    return float(np.mean(-np.maximum(picked, math.log(EPS))))


@pytest.mark.parametrize("temperature", [1e-46, 1e-40, 1e39, 1e300])
@pytest.mark.parametrize("kind", ["logits", "probs"])
def test_float32_scores_under_extreme_temperatures_reach_the_float64_limit(tmp_path, temperature, kind):
    rng = np.random.default_rng(7)
    z = rng.normal(size=(50, 4)).astype(np.float32)
    scores = z if kind == "logits" else (np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)).astype(np.float32)
    labels = rng.integers(0, 4, size=50)
    np.save(tmp_path / "p.npy", scores)
    np.save(tmp_path / "y.npy", labels)
    doc = run_json(
        "eval", tmp_path / "p.npy", tmp_path / "y.npy", "--kind", kind, "--temperature", repr(temperature)
    )
    for value in doc["metrics"].values():
        assert isinstance(value, float) and math.isfinite(value), doc["metrics"]
    expected = reference_cross_entropy(scores, labels, temperature, kind)
    assert doc["metrics"]["cross_entropy"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("tol", ["1", "0.5", "1000"])
def test_a_row_of_zero_probabilities_is_an_error_under_any_tolerance(tmp_path, tol):
    probs = np.array([[0.5, 0.5], [0.0, 0.0], [0.2, 0.8]])
    np.save(tmp_path / "p.npy", probs)
    np.save(tmp_path / "y.npy", np.array([0, 1, 1]))
    line = assert_bad_input(
        invoke("eval", tmp_path / "p.npy", tmp_path / "y.npy", "--tol", tol), "p.npy", "row 1", "0"
    )
    assert "nan" not in line.lower()


def test_a_row_of_zero_probabilities_as_log_probabilities_is_an_error(tmp_path):
    logprobs = np.log(np.array([[0.5, 0.5], [0.25, 0.75]]))
    logprobs[1] = -np.inf
    np.save(tmp_path / "p.npy", logprobs)
    np.save(tmp_path / "y.npy", np.array([0, 1]))
    assert_bad_input(
        invoke("eval", tmp_path / "p.npy", tmp_path / "y.npy", "--kind", "logprobs", "--tol", "1"),
        "p.npy",
        "row 1",
    )


def _write_tokens(path, columns):
    pq.write_table(pa.table(columns), path)


@pytest.mark.parametrize(
    ("column", "values", "option", "row"),
    [
        ("seq", pa.array([1, None, 2], pa.int64()), "--seq-col", 1),
        ("seq", pa.array([1.0, 2.0, float("nan")]), "--seq-col", 2),
        ("seq", pa.array(["a", None, "b"]), "--seq-col", 1),
        ("mask", pa.array([1, 1, None], pa.int64()), "--mask-col", 2),
        ("mask", pa.array([1.0, float("nan"), 1.0]), "--mask-col", 1),
        ("bytes", pa.array([3.0, float("inf"), 4.0]), "--bytes-col", 1),
        ("words", pa.array([1.0, 2.0, -1.0]), "--words-col", 2),
        ("words", pa.array([1.0, float("-inf"), 1.0]), "--words-col", 1),
    ],
)
def test_missing_or_impossible_perplexity_columns_are_errors_naming_the_row(
    tmp_path, column, values, option, row
):
    path = tmp_path / "tokens.parquet"
    _write_tokens(path, {"logprob": pa.array([-1.0, -2.0, -0.5]), column: values})
    assert_bad_input(invoke("perplexity", path, option, column), "tokens.parquet", f"row {row}")


def test_a_null_sequence_id_in_csv_is_an_error_not_one_more_sequence(tmp_path):
    path = tmp_path / "tokens.csv"
    path.write_text("logprob,seq\n-1,1\n-2,\n-1,2\n")
    assert_bad_input(invoke("perplexity", path, "--seq-col", "seq"), "tokens.csv", "row 1", "sequence id")


def test_the_signature_writes_every_setting_in_full():
    preds, labels = SAMPLE_DATA / "logits.npy", SAMPLE_DATA / "labels.npy"
    two = run_json("eval", preds, labels, "--temperature", "2")["signature"]
    near = run_json("eval", preds, labels, "--temperature", "2.0000004")["signature"]
    assert two != near
    assert "T:2.0|" in two and "T:2.0000004|" in near
    tol = run_json("eval", preds, labels, "--tol", "0.0010000001")["signature"]
    assert "tol:0.0010000001|" in tol


@pytest.mark.parametrize("chunk_rows", [str(2**63), str(10**30)])
@pytest.mark.parametrize("name", ["probs.parquet", "probs.csv"])
def test_chunk_rows_beyond_a_platform_integer_give_the_default_report(name, chunk_rows):
    preds, labels = SAMPLE_DATA / name, SAMPLE_DATA / "labels.parquet"
    default = run_json("eval", preds, labels)
    huge = run_json("eval", preds, labels, "--chunk-rows", chunk_rows)
    for key, value in default["metrics"].items():
        assert huge["metrics"][key] == pytest.approx(value, rel=1e-12)
    assert huge["n_samples"] == default["n_samples"]


def test_chunk_rows_beyond_a_platform_integer_in_perplexity():
    tokens = SAMPLE_DATA / "tokens.parquet"
    args = ("perplexity", tokens, "--seq-col", "seq", "--mask-col", "mask")
    default = run_json(*args)
    huge = run_json(*args, "--chunk-rows", str(2**64))
    assert huge["metrics"]["perplexity"] == pytest.approx(default["metrics"]["perplexity"], rel=1e-12)


@pytest.mark.parametrize("pct", ["inf", "1e999"])
def test_trend_with_an_infinite_threshold_writes_strict_json(pct):
    files = sorted(str(p) for p in (SAMPLE_DATA / "checkpoints").glob("lm_paired_step_*.parquet"))
    result = invoke(
        "trend", *files, "--seq-col", "seq", "--mask-col", "mask", "--fail-if-worse", pct, "--format", "json"
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))
    assert doc["gate"] == {"pct": "inf", "alpha": 0.05, "failed": False}


@pytest.mark.parametrize(("total", "shown"), [(1 - 3e-9, "1 − 3e-09"), (1 + 2e-7, "1 + 2e-07")])
def test_a_tiny_tolerance_still_shows_how_far_a_row_is_from_one(tmp_path, total, shown):
    probs = np.array([[0.3, total - 0.3], [0.5, 0.5]])
    np.save(tmp_path / "p.npy", probs)
    np.save(tmp_path / "y.npy", np.array([0, 1]))
    line = assert_bad_input(
        invoke("eval", tmp_path / "p.npy", tmp_path / "y.npy", "--tol", "1e-300"), "row 0", "1e-300"
    )
    assert shown in line, line


@pytest.mark.parametrize("digits", [401, 320])
def test_a_huge_integer_label_is_out_of_range_not_infinite(tmp_path, digits):
    path = tmp_path / "preds.csv"
    path.write_text(f"a,b,label\n0.5,0.5,0\n0.5,0.5,{'9' * digits}\n")
    line = assert_bad_input(invoke("eval", path), "preds.csv", "row 1", "out of range")
    assert "inf" not in line.split("row 1")[1]
