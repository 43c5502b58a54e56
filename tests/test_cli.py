"""End-to-end tests of ``infocli eval``: files in, report out, numbers checked against SciPy/sklearn.

Every expected number is computed here, from the same arrays the test writes, with
``sklearn.metrics.log_loss``, ``scipy.stats.entropy``, ``scipy.special.rel_entr`` and
``scipy.special.softmax``; never from infocli. Most runs go through Typer's ``CliRunner``
(fixtures in ``conftest.py``); a few run the installed console script and ``python -m infocli``.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from typing import Any

import jq
import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
import typer.main
from scipy.special import log_softmax, rel_entr, softmax
from scipy.stats import entropy as scipy_entropy
from sklearn.metrics import log_loss

from infocli import __version__
from infocli.cli import app
from infocli.evaluate import chunking
from infocli.readers import open_table

from .conftest import LABEL_FORMATS, PRED_FORMATS, SAMPLE_DATA, parse_single_json
from cli_helpers import assert_bad_input, invoke

RTOL_F64 = 1e-6
"""Relative tolerance against the references for float64 inputs."""
RTOL_F32 = 1e-4
"""Relative tolerance against the references for float32 inputs."""
RTOL_SAME_ARITHMETIC = 1e-12
"""Relative tolerance between two infocli runs that should agree up to summation order."""
RTOL = {np.float64: RTOL_F64, np.float32: RTOL_F32}

N_ROWS = 300
N_CLASSES = 4
INFORMATION = ("entropy", "target_entropy", "cross_entropy", "kl_divergence")
ALL_METRICS = ("entropy", "target_entropy", "cross_entropy", "kl_divergence", "perplexity", "accuracy")
TOP_LEVEL_KEYS = {
    "infocli_version",
    "predictions",
    "labels",
    "n_samples",
    "n_classes",
    "n_ignored",
    "base",
    "unit",
    "metrics",
    "standard_error",
    "distributions",
    "aliases",
    "n_clipped",
    "n_renormalised",
    "warnings",
    "signature",
    "gates",
}
DTYPES = [pytest.param(np.float64, id="float64"), pytest.param(np.float32, id="float32")]


# ----------------------------------------------------------------------------- references


def _se(rows: np.ndarray) -> float:
    """Sample standard deviation over sqrt(n)."""
    return float(np.std(rows, ddof=1) / math.sqrt(len(rows)))


def normalise(probs: np.ndarray) -> np.ndarray:
    """Rows in float64, divided by their sums (infocli renormalises rows within --tol)."""
    p = np.asarray(probs, dtype=np.float64)
    return p / p.sum(axis=1, keepdims=True)


def reference(q: np.ndarray, target: np.ndarray | None, *, base: str = "e") -> dict[str, dict[str, float]]:
    """The metrics and standard errors infocli should report, from SciPy and sklearn.

    Args:
        q: (N, C) predicted probabilities (float64, rows summing to 1).
        target: None; (N,) class indices; or (N, C) target probabilities.
        base: "e", "2" or "10".

    Returns:
        {"metrics": {...}, "standard_error": {...}} as in infocli's JSON.
    """
    q = np.asarray(q, dtype=np.float64)
    n, c = q.shape
    entropy_rows = scipy_entropy(q, axis=1)
    rows: dict[str, np.ndarray] = {"entropy": entropy_rows}
    metrics: dict[str, float] = {}
    if target is not None and target.ndim == 1:
        y = target.astype(np.int64)
        metrics["cross_entropy"] = log_loss(y, q, labels=np.arange(c))
        rows["cross_entropy"] = -np.log(q[np.arange(n), y])
        rows["target_entropy"] = np.zeros(n)
        rows["kl_divergence"] = rows["cross_entropy"]
        rows["accuracy"] = (np.argmax(q, axis=1) == y).astype(float)
    elif target is not None:
        p = np.asarray(target, dtype=np.float64)
        rows["target_entropy"] = scipy_entropy(p, axis=1)
        rows["kl_divergence"] = rel_entr(p, q).sum(axis=1)
        rows["cross_entropy"] = rows["target_entropy"] + scipy_entropy(p, q, axis=1)
        rows["reverse_kl_divergence"] = rel_entr(q, p).sum(axis=1)
        rows["top1_agreement"] = (np.argmax(q, axis=1) == np.argmax(p, axis=1)).astype(float)
    errors: dict[str, float] = {}
    for name, values in rows.items():
        metrics.setdefault(name, float(np.mean(values)))
        errors[name] = _se(values)
    if target is not None:
        metrics["perplexity"] = math.exp(metrics["cross_entropy"])
        errors["perplexity"] = metrics["perplexity"] * errors["cross_entropy"]
    scale = {"e": 1.0, "2": math.log(2), "10": math.log(10)}[base]
    for name in (*INFORMATION, "reverse_kl_divergence"):
        if name in metrics:
            metrics[name] /= scale
            errors[name] /= scale
    return {"metrics": metrics, "standard_error": errors}


def assert_report_matches(doc: dict[str, Any], expected: dict[str, dict[str, float]], rtol: float) -> None:
    """Every metric and standard error in the JSON equals the reference within ``rtol``."""
    for section in ("metrics", "standard_error"):
        assert set(doc[section]) == set(expected[section]), section
        for name, want in expected[section].items():
            got = doc[section][name]
            assert isinstance(got, float | int), f"{section}.{name} = {got!r}"
            if want == 0:
                assert got == 0, f"{section}.{name}: got {got!r}, expected 0"
            else:
                assert got == pytest.approx(want, rel=rtol, abs=0), f"{section}.{name}"


def assert_same_numbers(a: dict[str, Any], b: dict[str, Any], rtol: float = RTOL_SAME_ARITHMETIC) -> None:
    """Two reports have the same metrics and standard errors within ``rtol`` (0 -> exactly)."""
    for section in ("metrics", "standard_error"):
        assert set(a[section]) == set(b[section])
        for name in a[section]:
            if rtol == 0:
                assert a[section][name] == b[section][name], f"{section}.{name}"
            else:
                assert a[section][name] == pytest.approx(b[section][name], rel=rtol, abs=0), name


def parse_signature(signature: str) -> dict[str, str]:
    """``preds:probs|labels:index|...`` as a dict, checking the version comes last."""
    parts = [part.split(":", 1) for part in signature.split("|")]
    assert all(len(p) == 2 for p in parts), signature
    assert parts[-1] == ["version", __version__], signature
    return dict(parts)


# ----------------------------------------------------------------------------------- data


@pytest.fixture
def logits(rng: np.random.Generator) -> np.ndarray:
    """(N, C) float64 logits, spread enough that some rows are confident."""
    return rng.normal(0.0, 2.0, (N_ROWS, N_CLASSES))


@pytest.fixture
def probs(logits: np.ndarray) -> np.ndarray:
    """softmax of the logits, float64."""
    return softmax(logits, axis=1)


@pytest.fixture
def labels(rng: np.random.Generator) -> np.ndarray:
    """(N,) int64 class indices."""
    return rng.integers(0, N_CLASSES, N_ROWS)


@pytest.fixture
def teacher_logits(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A teacher that mostly agrees with the model: the logits, sharpened, plus noise."""
    return 1.5 * logits + rng.normal(0.0, 1.0, logits.shape)


# -------------------------------------------------------------- 1. formats vs references


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fmt", PRED_FORMATS)
def test_every_prediction_format_with_npy_labels_matches_sklearn_and_scipy(
    run_json, files, probs, labels, fmt, dtype
):
    values = probs.astype(dtype)
    doc = run_json("eval", files.preds(values, fmt), files.labels(labels, "npy"))
    assert doc["n_samples"] == N_ROWS
    assert doc["n_classes"] == N_CLASSES
    assert doc["predictions"]["kind"] == "probs"
    assert doc["labels"]["kind"] == "index"
    assert_report_matches(doc, reference(normalise(values), labels), RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fmt", LABEL_FORMATS)
def test_every_label_format_with_npy_predictions_matches_sklearn_and_scipy(
    run_json, files, probs, labels, fmt, dtype
):
    values = probs.astype(dtype)
    doc = run_json("eval", files.preds(values, "npy"), files.labels(labels, fmt))
    assert doc["labels"]["kind"] == "index"
    assert_report_matches(doc, reference(normalise(values), labels), RTOL[dtype])


@pytest.mark.parametrize("fmt", ["npy", "csv", "parquet"])
def test_integral_float_labels_are_class_indices(run_json, files, probs, labels, fmt):
    doc = run_json("eval", files.preds(probs, "npy"), files.labels(labels.astype(np.float64), fmt))
    assert doc["labels"]["kind"] == "index"
    assert_report_matches(doc, reference(probs, labels), RTOL_F64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_logits_npy_with_class_name_labels_in_parquet_match_reference(run_json, files, logits, labels, dtype):
    names = np.array(["cat", "dog", "bird", "fish"])
    values = logits.astype(dtype)
    preds = files.preds(values, "parquet", columns=list(names))
    doc = run_json("eval", preds, files.labels(names[labels], "parquet"))
    assert doc["labels"]["kind"] == "name"
    assert doc["predictions"]["kind"] == "logits"
    q = softmax(values.astype(np.float64), axis=1)
    assert_report_matches(doc, reference(q, labels), RTOL[dtype])


# ----------------------------------------------------------- 2. same numbers in every format


def test_same_float64_arrays_give_identical_numbers_in_every_format(run_json, files, probs, labels):
    label_path = files.labels(labels, "npy")
    docs = {fmt: run_json("eval", files.preds(probs, fmt), label_path) for fmt in PRED_FORMATS}
    first = docs["npy"]
    for fmt, doc in docs.items():
        assert doc["metrics"] == first["metrics"], fmt
        assert doc["standard_error"] == first["standard_error"], fmt


def test_same_float64_labels_give_identical_numbers_in_every_label_format(run_json, files, probs, labels):
    pred_path = files.preds(probs, "npy")
    docs = {fmt: run_json("eval", pred_path, files.labels(labels, fmt)) for fmt in LABEL_FORMATS}
    for fmt, doc in docs.items():
        assert doc["metrics"] == docs["npy"]["metrics"], fmt
        assert doc["standard_error"] == docs["npy"]["standard_error"], fmt


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("csv", "csv"),
        ("tsv", "tsv"),
        ("csv.gz", "csv"),
        ("tsv.gz", "tsv"),
        ("parquet", "parquet"),
        ("pq", "parquet"),
        ("parquet-list", "parquet"),
        ("parquet-fixed-list", "parquet"),
        ("npy", "npy"),
        ("npy-structured", "npy"),
    ],
)
def test_json_reports_the_format_of_each_file(run_json, files, probs, labels, fmt, expected):
    preds = files.preds(probs, fmt)
    label_path = files.labels(labels, "csv.gz")
    doc = run_json("eval", preds, label_path)
    assert doc["predictions"] == {"path": preds, "format": expected, "kind": "probs"}
    assert doc["labels"] == {"path": label_path, "format": "csv", "kind": "index"}


@pytest.mark.parametrize(
    ("pred_name", "label_name"),
    [
        ("P.CSV", "L.NPY"),
        ("p.Parquet", "l.Csv.Gz"),
        ("P.CSV.GZ", "l.npy"),
        ("p.PQ", "l.TSV"),
        ("p.Npy", "l.PARQUET"),
    ],
)
def test_file_extensions_are_case_insensitive(run_json, files, probs, labels, pred_name, label_name):
    fmt_of = {
        ".csv": "csv",
        ".npy": "npy",
        ".parquet": "parquet",
        ".gz": "csv.gz",
        ".pq": "pq",
        ".tsv": "tsv",
    }
    pred_fmt = fmt_of[os.path.splitext(pred_name.lower())[1]]
    label_fmt = fmt_of[os.path.splitext(label_name.lower())[1]]
    preds = files.preds(probs, pred_fmt, name=pred_name)
    doc = run_json("eval", preds, files.labels(labels, label_fmt, name=label_name))
    assert_report_matches(doc, reference(probs, labels), RTOL_F64)


# ---------------------------------------------------------------------------- 3. kinds


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fmt", ["npy", "parquet", "csv"])
def test_logits_are_detected_and_match_scipy_softmax(run_json, files, logits, labels, fmt, dtype):
    values = logits.astype(dtype)
    doc = run_json("eval", files.preds(values, fmt), files.labels(labels))
    assert doc["predictions"]["kind"] == "logits"
    assert_report_matches(doc, reference(softmax(values.astype(np.float64), axis=1), labels), RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fmt", ["npy", "parquet"])
def test_logprobs_are_detected_and_match_scipy_log_softmax(run_json, files, logits, labels, fmt, dtype):
    values = log_softmax(logits, axis=1).astype(dtype)
    doc = run_json("eval", files.preds(values, fmt), files.labels(labels))
    assert doc["predictions"]["kind"] == "logprobs"
    q = softmax(values.astype(np.float64), axis=1)  # renormalises exp(logprobs)
    assert_report_matches(doc, reference(q, labels), RTOL[dtype])


@pytest.mark.parametrize("kind", ["probs", "logits", "logprobs"])
def test_explicit_kind_is_used_and_reported(run_json, files, logits, labels, kind):
    values = {"probs": softmax(logits, axis=1), "logits": logits, "logprobs": log_softmax(logits, axis=1)}[
        kind
    ]
    doc = run_json("eval", files.preds(values, "npy"), files.labels(labels), "--kind", kind)
    assert doc["predictions"]["kind"] == kind
    assert parse_signature(doc["signature"])["preds"] == kind
    assert_report_matches(doc, reference(softmax(logits, axis=1), labels), RTOL_F64)


def test_kind_logits_reads_values_in_0_1_as_logits_not_probabilities(run_json, files, rng, labels):
    # Uniform values in [0, 1] look like probabilities to auto, but rows do not sum to 1.
    values = rng.uniform(0.0, 1.0, (N_ROWS, N_CLASSES))
    doc = run_json("eval", files.preds(values, "parquet"), files.labels(labels), "--kind", "logits")
    assert doc["predictions"]["kind"] == "logits"
    assert_report_matches(doc, reference(softmax(values, axis=1), labels), RTOL_F64)


def test_logits_with_temperature_match_softmax_of_logits_over_t(run_json, files, logits, labels):
    doc = run_json("eval", files.preds(logits, "npy"), files.labels(labels), "--temperature", "2.5")
    assert float(parse_signature(doc["signature"])["T"]) == 2.5
    assert_report_matches(doc, reference(softmax(logits / 2.5, axis=1), labels), RTOL_F64)


# ----------------------------------------------------------------------- 4. soft targets


IDENTITY_RTOL = {np.float64: 1e-12, np.float32: 1e-6}
"""cross_entropy = target_entropy + kl_divergence in the JSON. KL is computed directly (not as
a difference), so the identity holds only to the rounding of the per-element work, which
stays in the input precision: float32 inputs get a looser (still far below float32 eps) bound."""


def _check_identity(doc: dict[str, Any], dtype: type = np.float64) -> None:
    m = doc["metrics"]
    expected = m["target_entropy"] + m["kl_divergence"]
    assert m["cross_entropy"] == pytest.approx(expected, rel=IDENTITY_RTOL[dtype], abs=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_teacher_parquet_columns_in_another_order_are_matched_by_name(
    run_json, files, logits, teacher_logits, dtype
):
    student = softmax(logits, axis=1).astype(dtype)
    teacher = softmax(teacher_logits, axis=1).astype(dtype)
    names = ["cat", "dog", "bird", "fish"]
    order = [2, 0, 3, 1]
    preds = files.preds(student, "parquet", columns=names)
    targets = files.preds(teacher[:, order], "parquet", columns=[names[i] for i in order])
    doc = run_json("eval", preds, targets)
    assert doc["labels"]["kind"] == "probs"
    assert doc["labels"]["format"] == "parquet"
    assert_report_matches(doc, reference(normalise(student), normalise(teacher)), RTOL[dtype])
    _check_identity(doc, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("target_fmt", ["npy", "parquet-list", "parquet-fixed-list", "csv", "parquet"])
def test_teacher_distributions_in_each_format_match_scipy(
    run_json, files, logits, teacher_logits, target_fmt, dtype
):
    student = softmax(logits, axis=1).astype(dtype)
    teacher = softmax(teacher_logits, axis=1).astype(dtype)
    doc = run_json("eval", files.preds(student, "npy"), files.preds(teacher, target_fmt))
    assert doc["labels"]["kind"] == "probs"
    assert_report_matches(doc, reference(normalise(student), normalise(teacher)), RTOL[dtype])
    _check_identity(doc, dtype)


def test_teacher_columns_with_other_names_are_refused_naming_the_difference(files, probs, teacher_logits):
    teacher = softmax(teacher_logits, axis=1)
    preds = files.preds(probs, "parquet", columns=["a", "b", "c", "d"])
    targets = files.preds(teacher, "parquet", columns=["t3", "t2", "t1", "t0"])
    assert_bad_input(invoke("eval", preds, targets), str(targets), "'a'", "'t3'")
    # one name off is refused too: student a,b,c,d against teacher d,c,b,a_
    near = files.preds(teacher, "parquet", columns=["d", "c", "b", "a_"])
    assert_bad_input(invoke("eval", preds, near), str(near), "no target column for 'a'", "'a_'")


def test_teacher_without_class_names_is_matched_by_position_with_a_warning(
    run_json, files, probs, teacher_logits
):
    teacher = softmax(teacher_logits, axis=1)
    preds = files.preds(probs, "parquet", columns=["a", "b", "c", "d"])
    doc = run_json("eval", preds, files.preds(teacher, "npy"))
    assert_report_matches(doc, reference(probs, teacher), RTOL_F64)
    assert any("by position" in w for w in doc["warnings"])


@pytest.mark.parametrize("dtype", DTYPES)
def test_teacher_logits_with_temperature_2_match_scipy_softmax_of_both(
    run_json, files, logits, teacher_logits, dtype
):
    student, teacher = logits.astype(dtype), teacher_logits.astype(dtype)
    doc = run_json(
        "eval",
        files.preds(student, "npy"),
        files.preds(teacher, "npy"),
        "--target-kind",
        "logits",
        "--temperature",
        "2",
    )
    assert doc["predictions"]["kind"] == "logits"
    assert doc["labels"]["kind"] == "logits"
    sig = parse_signature(doc["signature"])
    assert (sig["preds"], sig["labels"], float(sig["T"])) == ("logits", "logits", 2.0)
    q = softmax(student.astype(np.float64) / 2, axis=1)
    p = softmax(teacher.astype(np.float64) / 2, axis=1)
    assert_report_matches(doc, reference(q, p), RTOL[dtype])
    _check_identity(doc, dtype)


def _write_row_groups(path, values: np.ndarray, rows: int) -> str:
    table = pa.table({f"c{i}": values[:, i] for i in range(values.shape[1])})
    pq.write_table(table, path, row_group_size=rows)
    return str(path)


def test_many_classes_in_small_row_groups_match_scipy(tmp_path, run_json, rng):
    # 64 classes in 1,000-row groups are read a group at a time (see the next test); the
    # 30,000 rows span two reads and several chunks
    n, c = 30_000, 64
    q = softmax(rng.normal(0.0, 2.0, (n, c)), axis=1).astype(np.float32)
    p = softmax(rng.normal(0.0, 2.0, (n, c)), axis=1).astype(np.float32)
    student = _write_row_groups(tmp_path / "student.parquet", q, 1_000)
    teacher = _write_row_groups(tmp_path / "teacher.parquet", p, 1_000)
    doc = run_json("eval", student, teacher)
    assert_report_matches(doc, reference(normalise(q), normalise(p)), RTOL_F32)


def test_small_row_groups_are_read_whole_only_where_reads_would_be_short(tmp_path, rng):
    wide = _write_row_groups(tmp_path / "wide.parquet", rng.random((3_000, 64)), 1_000)
    narrow = _write_row_groups(tmp_path / "narrow.parquet", rng.random((3_000, 10)), 1_000)
    with open_table(wide) as table:
        # 24,576-row reads would be short: 24 whole groups, in three equal chunks
        assert chunking(table, 64) == (8_000, 24_000)
        # a chunk size asked for is kept, and reads are whole chunks
        assert chunking(table, 64, 5_000) == (5_000, 20_000)
    with open_table(narrow) as table:
        assert chunking(table, 10) == (52_428, 157_284)  # long enough already


def test_one_hot_targets_give_the_same_numbers_as_class_indices(run_json, files, probs, labels):
    one_hot = np.eye(N_CLASSES)[labels]
    soft = run_json("eval", files.preds(probs, "npy"), files.npy(one_hot))
    hard = run_json("eval", files.preds(probs, "npy"), files.labels(labels))
    assert soft["labels"]["kind"] == "probs"
    for name in ALL_METRICS:
        soft_name = "top1_agreement" if name == "accuracy" else name  # its name against distributions
        assert soft["metrics"][soft_name] == pytest.approx(hard["metrics"][name], rel=1e-12, abs=1e-15), name


# ------------------------------------------------------- 5. names, label columns, pred-cols


@pytest.mark.parametrize("label_fmt", ["csv", "tsv", "parquet"])
def test_class_name_labels_give_the_same_numbers_as_indices(run_json, files, probs, labels, label_fmt):
    names = ["cat", "dog", "bird", "fish"]
    preds = files.preds(probs, "csv", columns=names)
    by_name = run_json("eval", preds, files.labels(np.array(names)[labels], label_fmt))
    by_index = run_json("eval", preds, files.labels(labels, "npy"))
    assert by_name["labels"]["kind"] == "name"
    assert by_index["labels"]["kind"] == "index"
    assert_same_numbers(by_name, by_index, rtol=0)
    assert_report_matches(by_name, reference(probs, labels), RTOL_F64)


@pytest.mark.parametrize("fmt", ["csv", "tsv.gz", "parquet", "npy-structured", "parquet-list"])
def test_labels_are_read_from_the_label_column_of_the_predictions_file(run_json, files, probs, labels, fmt):
    preds = files.preds(probs, fmt, extra={"label": labels})
    doc = run_json("eval", preds)
    assert doc["labels"] == {"path": preds, "format": doc["predictions"]["format"], "kind": "index"}
    assert doc["n_classes"] == N_CLASSES
    assert_report_matches(doc, reference(probs, labels), RTOL_F64)


def test_class_names_in_the_label_column_of_the_predictions_file(run_json, files, probs, labels):
    names = np.array(["cat", "dog", "bird", "fish"])
    preds = files.preds(probs, "parquet", columns=list(names), extra={"label": names[labels]})
    doc = run_json("eval", preds)
    assert doc["labels"]["kind"] == "name"
    assert_report_matches(doc, reference(probs, labels), RTOL_F64)


def test_label_col_names_a_differently_named_column_of_the_predictions_file(run_json, files, probs, labels):
    preds = files.preds(probs, "csv", extra={"target": labels})
    doc = run_json("eval", preds, "--label-col", "target")
    assert doc["n_classes"] == N_CLASSES
    assert doc["labels"]["kind"] == "index"
    assert_report_matches(doc, reference(probs, labels), RTOL_F64)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_label_col_picks_the_column_of_a_multi_column_labels_file(run_json, files, probs, labels, rng, fmt):
    label_file = files.table(
        {"id": np.arange(N_ROWS), "target": labels, "weight": rng.uniform(size=N_ROWS)}, fmt
    )
    doc = run_json("eval", files.preds(probs, "npy"), label_file, "--label-col", "target")
    assert doc["labels"]["kind"] == "index"
    assert_report_matches(doc, reference(probs, labels), RTOL_F64)


def test_without_labels_only_entropy_is_reported(run_json, files, probs):
    doc = run_json("eval", files.preds(probs, "parquet"))
    assert doc["labels"] is None
    assert set(doc["metrics"]) == {"entropy"}
    assert set(doc["standard_error"]) == {"entropy"}
    assert parse_signature(doc["signature"])["labels"] == "none"
    assert_report_matches(doc, reference(probs, None), RTOL_F64)


@pytest.fixture
def wide_table(probs: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Three probability columns (summing to 1) among columns that are not classes."""
    three = softmax(np.log(probs[:, :3]), axis=1)  # renormalise the first three classes
    return {
        "id": np.arange(N_ROWS),
        "p_x": three[:, 0],
        "noise": rng.normal(5.0, 3.0, N_ROWS),
        "p_y": three[:, 1],
        "p_z": three[:, 2],
        "label": labels % 3,
    }


@pytest.mark.parametrize("fmt", ["csv", "parquet", "npy-structured"])
def test_pred_cols_selects_and_reorders_a_subset(run_json, files, wide_table, fmt):
    path = files.table(wide_table, fmt)
    order = ["p_z", "p_x", "p_y"]
    # Labels are positions in the --pred-cols order: class k is column order[k].
    position = {name: k for k, name in enumerate(order)}
    file_class = np.array(["p_x", "p_y", "p_z"])[wide_table["label"]]
    y = np.array([position[name] for name in file_class])
    labels_file = files.labels(y, "npy")
    doc = run_json("eval", path, labels_file, "--pred-cols", ",".join(order))
    assert doc["n_classes"] == 3
    q = np.column_stack([wide_table[name] for name in order])
    assert_report_matches(doc, reference(q, y), RTOL_F64)


def test_pred_cols_with_class_name_labels_uses_the_selected_names(run_json, files, wide_table):
    wide_table = dict(wide_table)
    classes = np.array(["p_x", "p_y", "p_z"])
    wide_table["label"] = classes[wide_table["label"]]
    path = files.table(wide_table, "parquet")
    order = ["p_y", "p_z", "p_x"]
    doc = run_json("eval", path, "--pred-cols", ",".join(order))
    assert doc["labels"]["kind"] == "name"
    q = np.column_stack([wide_table[name] for name in order])
    y = np.array([order.index(name) for name in wide_table["label"]])
    assert_report_matches(doc, reference(q, y), RTOL_F64)


def test_ignore_index_leaves_out_the_padding_rows(run_json, files, probs, labels, rng):
    padded = labels.copy()
    ignored = rng.choice(N_ROWS, 40, replace=False)
    padded[ignored] = -100
    probs = probs.copy()
    probs[ignored] = 7.0  # not probabilities: ignored rows are not checked
    keep = np.setdiff1d(np.arange(N_ROWS), ignored)
    doc = run_json(
        "eval", files.preds(probs, "npy"), files.labels(padded, "parquet"), "--ignore-index", "-100"
    )
    assert doc["n_ignored"] == 40
    assert doc["n_samples"] == N_ROWS - 40
    assert_report_matches(doc, reference(probs[keep], labels[keep]), RTOL_F64)


# ------------------------------------------------------------------------------ 6. binary


@pytest.fixture
def binary_labels(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 2, N_ROWS)


@pytest.fixture
def binary_logits(binary_labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(0.0, 1.5, N_ROWS) + 2.0 * (binary_labels - 0.5)


def _binary_reference(p1: np.ndarray, y: np.ndarray) -> dict[str, dict[str, float]]:
    """Reference for a binary score p(class 1); log_loss gets the 1-D scores as sklearn defines."""
    expected = reference(np.column_stack([1 - p1, p1]), y)
    assert expected["metrics"]["cross_entropy"] == pytest.approx(log_loss(y, p1), rel=1e-12)
    return expected


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_1d_npy_probabilities_match_log_loss(run_json, files, binary_logits, binary_labels, dtype):
    p1 = softmax(np.column_stack([np.zeros(N_ROWS), binary_logits]), axis=1)[:, 1].astype(dtype)
    doc = run_json("eval", files.npy(p1), files.labels(binary_labels))
    assert doc["n_classes"] == 2
    assert doc["predictions"]["kind"] == "probs"
    assert_report_matches(doc, _binary_reference(p1.astype(np.float64), binary_labels), RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_1d_npy_logits_match_log_loss(run_json, files, binary_logits, binary_labels, dtype):
    z = binary_logits.astype(dtype)
    doc = run_json("eval", files.npy(z), files.labels(binary_labels))
    assert doc["n_classes"] == 2
    assert doc["predictions"]["kind"] == "logits"
    q = softmax(np.column_stack([np.zeros(N_ROWS), z.astype(np.float64)]), axis=1)
    assert_report_matches(doc, _binary_reference(q[:, 1], binary_labels), RTOL[dtype])


def test_binary_1d_npy_logprobs_need_kind_logprobs(run_json, files, binary_logits, binary_labels):
    log_p1 = log_softmax(np.column_stack([np.zeros(N_ROWS), binary_logits]), axis=1)[:, 1]
    doc = run_json("eval", files.npy(log_p1), files.labels(binary_labels), "--kind", "logprobs")
    assert doc["predictions"]["kind"] == "logprobs"
    assert_report_matches(doc, _binary_reference(np.exp(log_p1), binary_labels), RTOL_F64)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_binary_one_column_score_file_matches_log_loss(run_json, files, binary_logits, binary_labels, fmt):
    p1 = softmax(np.column_stack([np.zeros(N_ROWS), binary_logits]), axis=1)[:, 1]
    doc = run_json("eval", files.preds(p1, fmt, columns=["p_spam"]), files.labels(binary_labels, "csv"))
    assert doc["n_classes"] == 2
    assert_report_matches(doc, _binary_reference(p1, binary_labels), RTOL_F64)


def test_binary_score_with_labels_in_the_same_csv(run_json, files, binary_logits, binary_labels):
    preds = files.preds(binary_logits, "csv", columns=["logit"], extra={"label": binary_labels})
    doc = run_json("eval", preds)
    assert doc["predictions"]["kind"] == "logits"
    q = softmax(np.column_stack([np.zeros(N_ROWS), binary_logits]), axis=1)
    assert_report_matches(doc, _binary_reference(q[:, 1], binary_labels), RTOL_F64)


# ------------------------------------------------------------- 7. base, eps, chunk rows


@pytest.mark.parametrize(("base", "unit"), [("e", "nats"), ("2", "bits"), ("10", "hartleys")])
def test_base_divides_information_by_ln_base_and_keeps_perplexity(
    run_json, files, probs, teacher_logits, base, unit
):
    teacher = softmax(teacher_logits, axis=1)
    preds, targets = files.preds(probs, "npy"), files.npy(teacher)
    nats = run_json("eval", preds, targets)
    doc = run_json("eval", preds, targets, "--base", base)
    assert (doc["base"], doc["unit"]) == (base, unit)
    assert parse_signature(doc["signature"])["base"] == base
    assert_report_matches(doc, reference(probs, teacher, base=base), RTOL_F64)
    scale = {"e": 1.0, "2": math.log(2), "10": math.log(10)}[base]
    for name in INFORMATION:
        assert doc["metrics"][name] == pytest.approx(nats["metrics"][name] / scale, rel=1e-12)
        assert doc["standard_error"][name] == pytest.approx(nats["standard_error"][name] / scale, rel=1e-12)
    for name in ("perplexity", "top1_agreement"):
        assert doc["metrics"][name] == nats["metrics"][name]
        assert doc["standard_error"][name] == nats["standard_error"][name]


@pytest.fixture
def zero_on_true_class(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities where row 3 puts exactly 0 on its true class (and rows still sum to 1)."""
    q = probs.copy()
    y = labels.copy()
    q[3] = [0.0, 0.5, 0.25, 0.25]
    y[3] = 0
    return q, y


def test_eps_zero_with_a_zero_probability_on_the_true_class_gives_inf_as_strings(
    cli, files, zero_on_true_class
):
    q, y = zero_on_true_class
    result = cli("eval", files.preds(q, "parquet"), files.labels(y), "--eps", "0", "--format", "json")
    assert result.exit_code == 0, result.stderr
    for constant in ("Infinity", "NaN"):
        assert constant not in result.stdout
    doc = parse_single_json(result.stdout)  # its parse_constant raises on NaN / Infinity
    assert json.loads(result.stdout, parse_constant=_raise) == doc
    assert doc["metrics"]["cross_entropy"] == "inf"
    assert doc["metrics"]["kl_divergence"] == "inf"
    assert doc["metrics"]["perplexity"] == "inf"
    assert doc["n_clipped"] == 0
    assert float(parse_signature(doc["signature"])["eps"]) == 0
    # Entropy is never clipped and stays finite.
    assert doc["metrics"]["entropy"] == pytest.approx(scipy_entropy(q, axis=1).mean(), rel=RTOL_F64)


def _raise(name: str) -> None:
    raise AssertionError(f"bare {name} in JSON output")


@pytest.mark.parametrize("eps", [1e-12, 1e-3, 0.05])
def test_eps_floors_the_true_class_probability_and_counts_clipped_terms(
    run_json, files, zero_on_true_class, eps
):
    q, y = zero_on_true_class
    doc = run_json("eval", files.preds(q, "npy"), files.labels(y), "--eps", repr(eps))
    q_true = q[np.arange(N_ROWS), y]
    assert doc["n_clipped"] == int(np.count_nonzero(q_true < eps))
    assert doc["n_clipped"] >= 1
    ce_rows = -np.log(np.maximum(q_true, eps))
    assert doc["metrics"]["cross_entropy"] == pytest.approx(ce_rows.mean(), rel=RTOL_F64)
    assert doc["standard_error"]["cross_entropy"] == pytest.approx(_se(ce_rows), rel=RTOL_F64)
    assert doc["metrics"]["perplexity"] == pytest.approx(math.exp(ce_rows.mean()), rel=RTOL_F64)
    assert doc["metrics"]["entropy"] == pytest.approx(scipy_entropy(q, axis=1).mean(), rel=RTOL_F64)
    assert float(parse_signature(doc["signature"])["eps"]) == eps
    assert doc["warnings"], "clipped terms should be reported in the warnings"


def test_eps_counts_clipped_terms_of_soft_targets_only_where_the_target_is_positive(
    run_json, files, probs, teacher_logits
):
    eps = 1e-3
    teacher = softmax(teacher_logits, axis=1)
    teacher[:10] = np.eye(N_CLASSES)[np.arange(10) % N_CLASSES]  # zero weights on most classes
    doc = run_json("eval", files.preds(probs, "npy"), files.npy(teacher), "--eps", str(eps))
    clipped = (probs < eps) & (teacher > 0)
    assert doc["n_clipped"] == int(np.count_nonzero(clipped))
    ce_rows = -(teacher * np.log(np.maximum(probs, eps))).sum(axis=1)
    assert doc["metrics"]["cross_entropy"] == pytest.approx(ce_rows.mean(), rel=RTOL_F64)
    _check_identity(doc)


@pytest.mark.parametrize(
    ("pred_fmt", "label_fmt"), [("npy", "npy"), ("csv", "parquet"), ("parquet", "csv.gz")]
)
def test_chunk_rows_do_not_change_the_numbers(run_json, files, probs, labels, pred_fmt, label_fmt):
    preds, label_path = files.preds(probs, pred_fmt), files.labels(labels, label_fmt)
    default = run_json("eval", preds, label_path)
    for rows in ("1", "7"):
        doc = run_json("eval", preds, label_path, "--chunk-rows", rows)
        assert doc["n_samples"] == N_ROWS
        assert_same_numbers(doc, default)
    assert_report_matches(default, reference(probs, labels), RTOL_F64)


def test_chunk_rows_do_not_change_soft_target_numbers(run_json, files, logits, teacher_logits):
    preds = files.preds(logits, "parquet")
    targets = files.preds(teacher_logits, "csv")
    args = ("eval", preds, targets, "--target-kind", "logits", "--temperature", "2")
    default = run_json(*args)
    for rows in ("1", "7"):
        assert_same_numbers(run_json(*args, "--chunk-rows", rows), default)


# --------------------------------------------------------------------- JSON document shape


def test_json_document_has_the_documented_keys_and_types(run_json, files, probs, labels):
    doc = run_json("eval", files.preds(probs, "parquet"), files.labels(labels))
    assert set(doc) == TOP_LEVEL_KEYS
    assert doc["infocli_version"] == __version__
    assert set(doc["predictions"]) == {"path", "format", "kind"}
    assert set(doc["labels"]) == {"path", "format", "kind"}
    assert set(doc["metrics"]) == set(ALL_METRICS)
    assert set(doc["standard_error"]) == set(ALL_METRICS)
    assert (doc["n_samples"], doc["n_classes"], doc["n_ignored"]) == (N_ROWS, N_CLASSES, 0)
    assert (doc["base"], doc["unit"]) == ("e", "nats")
    assert isinstance(doc["n_clipped"], int)
    assert isinstance(doc["n_renormalised"], int)
    assert doc["warnings"] == [] and doc["gates"] == []
    sig = parse_signature(doc["signature"])
    assert sig["preds"] == "probs" and sig["labels"] == "index" and sig["base"] == "e"
    assert (float(sig["eps"]), float(sig["T"]), float(sig["tol"])) == (1e-12, 1.0, 1e-3)


def test_signature_names_every_setting_that_changes_a_number(run_json, files, logits, labels):
    doc = run_json(
        "eval",
        files.preds(logits, "npy"),
        files.labels(labels),
        "--base",
        "2",
        "--eps",
        "1e-6",
        "--temperature",
        "3",
        "--tol",
        "0.01",
    )
    sig = parse_signature(doc["signature"])
    assert (sig["preds"], sig["labels"], sig["base"]) == ("logits", "index", "2")
    assert (float(sig["eps"]), float(sig["T"]), float(sig["tol"])) == (1e-6, 3.0, 0.01)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "npy"])
def test_rows_summing_to_1_within_tol_are_renormalised_and_counted(run_json, files, labels, rng, fmt):
    # Quarters sum to 1 exactly; 25 rows get +3e-4 on one class (within the default --tol 1e-3).
    q = np.full((N_ROWS, N_CLASSES), 0.25)
    off = rng.choice(N_ROWS, 25, replace=False)
    q[off, rng.integers(0, N_CLASSES, 25)] += 3e-4
    doc = run_json("eval", files.preds(q, fmt), files.labels(labels))
    assert doc["n_renormalised"] == 25
    assert any("renormalised" in w for w in doc["warnings"]), doc["warnings"]
    assert_report_matches(doc, reference(normalise(q), labels), RTOL_F64)


# ------------------------------------------------------------------------------- 8. output


def test_output_writes_the_same_json_as_stdout_and_prints_nothing(cli, files, probs, labels, tmp_path):
    args = ["eval", files.preds(probs, "csv"), files.labels(labels), "--format", "json"]
    to_stdout = cli(*args)
    assert to_stdout.exit_code == 0
    report = tmp_path / "report.json"
    to_file = cli(*args, "--output", report)
    assert to_file.exit_code == 0, to_file.stderr
    assert to_file.stdout == ""
    assert report.read_text(encoding="utf-8") == to_stdout.stdout
    assert parse_single_json(report.read_text(encoding="utf-8"))["n_samples"] == N_ROWS


def test_output_writes_the_table_to_the_file_without_colour(cli, files, probs, labels, tmp_path):
    report = tmp_path / "report.txt"
    result = cli("eval", files.preds(probs, "npy"), files.labels(labels), "-o", report)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    text = report.read_text(encoding="utf-8")
    assert "\x1b[" not in text
    assert "signature: preds:probs|labels:index" in text


def test_table_names_files_kinds_counts_metrics_and_signature(
    cli, run_json, files, probs, labels, monkeypatch, tmp_path
):
    monkeypatch.chdir(tmp_path)
    files.preds(probs, "parquet", name="p.parquet")
    files.labels(labels, "csv", name="y.csv")
    result = cli("eval", "p.parquet", "y.csv")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "p.parquet" in out and "y.csv" in out
    assert re.search(r"p\.parquet\s+\(parquet, read as probs\)", out), out
    assert re.search(r"y\.csv\s+\(csv, index\)", out), out
    assert re.search(rf"rows\s+{N_ROWS}\s.*classes\s+{N_CLASSES}\b", out), out
    for name in ALL_METRICS:
        assert re.search(rf"^\s*{name}\s", out, re.MULTILINE), name
    assert "nats" in out and "std. error" in out
    signature = run_json("eval", "p.parquet", "y.csv")["signature"]
    assert f"signature: {signature}" in out


def test_table_value_column_shows_the_reference_cross_entropy(
    cli, files, probs, labels, monkeypatch, tmp_path
):
    monkeypatch.chdir(tmp_path)
    files.preds(probs, "npy", name="p.npy")
    files.labels(labels, "npy", name="y.npy")
    out = cli("eval", "p.npy", "y.npy", "--base", "2").stdout
    row = re.search(r"^\s*cross_entropy\s+(\S+)\s+(\S+)\s+bits\s*$", out, re.MULTILINE)
    assert row, out
    expected = reference(probs, labels, base="2")["metrics"]["cross_entropy"]
    assert float(row[1]) == pytest.approx(expected, rel=1e-5)  # the table shows 6 significant digits


def test_table_without_labels_says_so(cli, files, probs, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    files.preds(probs, "npy", name="p.npy")
    result = cli("eval", "p.npy")
    assert result.exit_code == 0
    assert re.search(r"^\s*entropy\s", result.stdout, re.MULTILINE)
    assert "signature: preds:probs|labels:none" in result.stdout


# ------------------------------------------------------------------------- 9. JSON consumers


def test_json_output_is_readable_by_json_and_jq(cli, files, probs, labels):
    result = cli("eval", files.preds(probs, "npy"), files.labels(labels), "--format", "json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert jq.compile(".metrics.perplexity").input_text(result.stdout).first() == doc["metrics"]["perplexity"]
    assert jq.compile(".predictions.kind").input_text(result.stdout).first() == "probs"
    assert jq.compile("[.metrics | keys[]]").input_text(result.stdout).first() == sorted(ALL_METRICS)
    assert jq.compile(".metrics.perplexity").input_text(result.stdout).first() == pytest.approx(
        reference(probs, labels)["metrics"]["perplexity"], rel=RTOL_F64
    )


def test_infocli_format_env_var_selects_json(cli, run_json, files, probs, labels):
    args = ("eval", files.preds(probs, "npy"), files.labels(labels))
    result = cli(*args, env={"INFOCLI_FORMAT": "json"})
    assert result.exit_code == 0
    doc = parse_single_json(result.stdout)
    assert doc["metrics"] == run_json(*args)["metrics"]


def test_format_option_overrides_the_env_var(cli, files, probs, labels):
    args = ("eval", files.preds(probs, "npy"), files.labels(labels), "--format", "table")
    result = cli(*args, env={"INFOCLI_FORMAT": "json"})
    assert result.exit_code == 0
    assert "signature: " in result.stdout
    assert not result.stdout.lstrip().startswith("{")


def test_default_format_is_the_table(cli, files, probs, labels):
    result = cli("eval", files.preds(probs, "npy"), files.labels(labels))
    assert result.exit_code == 0
    assert "signature: " in result.stdout
    assert not result.stdout.lstrip().startswith("{")


# ------------------------------------------------------------------------ 10. sample data


def _read_parquet(name: str) -> np.ndarray:
    table = pq.read_table(SAMPLE_DATA / name)
    return np.column_stack([table.column(i).to_numpy() for i in range(table.num_columns)])


def _sample_reference(pair: tuple[str, ...]) -> tuple[dict[str, dict[str, float]], float]:
    """The reference report of a sample pair, read with pyarrow/NumPy, and its tolerance."""
    if pair == ("probs.parquet", "labels.parquet"):
        return reference(normalise(_read_parquet(pair[0])), _read_parquet(pair[1])[:, 0]), RTOL_F64
    if pair == ("logits.npy", "labels.npy"):
        z = np.load(SAMPLE_DATA / pair[0])
        return reference(softmax(z.astype(np.float64), axis=1), np.load(SAMPLE_DATA / pair[1])), RTOL_F32
    if pair == ("logits.npy",):
        z = np.load(SAMPLE_DATA / pair[0])
        return reference(softmax(z.astype(np.float64), axis=1), None), RTOL_F32
    if pair == ("probs.csv", "labels_names.csv"):
        table = pcsv.read_csv(SAMPLE_DATA / pair[0])
        names = pcsv.read_csv(SAMPLE_DATA / pair[1]).column("label").to_pylist()
        y = np.array([table.column_names.index(name) for name in names])
        q = np.column_stack([c.to_numpy() for c in table.columns])
        return reference(normalise(q), y), RTOL_F64
    if pair == ("binary.csv",):
        table = pcsv.read_csv(SAMPLE_DATA / pair[0])
        p1 = table.column("p_spam").to_numpy()
        return reference(np.column_stack([1 - p1, p1]), table.column("label").to_numpy()), RTOL_F64
    if pair == ("student.parquet", "teacher.parquet"):
        q, p = normalise(_read_parquet(pair[0])), normalise(_read_parquet(pair[1]))
        return reference(q, p), RTOL_F64
    raise AssertionError(pair)


SAMPLE_PAIRS = [
    ("probs.parquet", "labels.parquet"),
    ("logits.npy", "labels.npy"),
    ("probs.csv", "labels_names.csv"),
    ("binary.csv",),
    ("student.parquet", "teacher.parquet"),
    ("logits.npy",),
]
SAMPLE_IDS = ["+".join(pair) for pair in SAMPLE_PAIRS]


@pytest.mark.parametrize("pair", SAMPLE_PAIRS, ids=SAMPLE_IDS)
def test_sample_pair_renders_a_table(cli, pair, monkeypatch):
    monkeypatch.chdir(SAMPLE_DATA.parent)  # relative paths, as in the README
    result = cli("eval", *(f"sample_data/{name}" for name in pair))
    assert result.exit_code == 0, result.stderr
    assert f"sample_data/{pair[0]}" in result.stdout
    assert re.search(r"rows\s+1,000\b", result.stdout), result.stdout
    assert re.search(r"^\s*entropy\s", result.stdout, re.MULTILINE)
    assert ("cross_entropy" in result.stdout) == (pair != ("logits.npy",))
    assert "signature: preds:" in result.stdout


@pytest.mark.parametrize("pair", SAMPLE_PAIRS, ids=SAMPLE_IDS)
def test_sample_pair_json_matches_the_reference(run_json, pair):
    doc = run_json("eval", *(SAMPLE_DATA / name for name in pair))
    assert doc["n_samples"] == 1000
    assert doc["n_classes"] == (2 if pair == ("binary.csv",) else 5)
    assert (doc["labels"] is None) == (len(pair) == 1 and pair[0] == "logits.npy")
    expected, rtol = _sample_reference(pair)
    assert_report_matches(doc, expected, rtol)


def test_sample_distillation_with_temperature_2_matches_scipy(run_json):
    doc = run_json(
        "eval", SAMPLE_DATA / "student.parquet", SAMPLE_DATA / "teacher.parquet", "--temperature", "2"
    )
    # Probabilities are tempered as softmax(log p / T), like log-probabilities.
    q = softmax(np.log(_read_parquet("student.parquet")) / 2, axis=1)
    p = softmax(np.log(_read_parquet("teacher.parquet")) / 2, axis=1)
    assert_report_matches(doc, reference(q, p), RTOL_F64)
    _check_identity(doc)


def _installed_infocli() -> str:
    search = os.pathsep.join([sysconfig.get_path("scripts"), os.environ.get("PATH", "")])
    path = shutil.which("infocli", path=search)
    assert path, "the infocli console script is not installed"
    return path


def test_installed_console_script_writes_json_for_a_sample_pair(run_json):
    args = [
        "eval",
        str(SAMPLE_DATA / "probs.parquet"),
        str(SAMPLE_DATA / "labels.parquet"),
        "--format",
        "json",
    ]
    env = {k: v for k, v in os.environ.items() if k != "INFOCLI_FORMAT"}
    result = subprocess.run(
        [_installed_infocli(), *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    doc = parse_single_json(result.stdout)
    assert doc == run_json(*args)
    expected, rtol = _sample_reference(("probs.parquet", "labels.parquet"))
    assert_report_matches(doc, expected, rtol)


def test_python_dash_m_infocli_help_exits_0_and_lists_eval():
    result = subprocess.run(
        [sys.executable, "-m", "infocli", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "eval" in result.stdout
    assert "Exit codes" in " ".join(result.stdout.split())


def test_python_dash_m_infocli_eval_writes_json(run_json):
    args = ["eval", str(SAMPLE_DATA / "logits.npy"), str(SAMPLE_DATA / "labels.npy"), "--format", "json"]
    result = subprocess.run(
        [sys.executable, "-m", "infocli", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert parse_single_json(result.stdout) == run_json(*args)


# -------------------------------------------------------------------------------- 11. help


def _flat(text: str) -> str:
    """Help text with rich's box drawing removed and whitespace collapsed."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


COMMANDS = sorted(typer.main.get_command(app).commands)


@pytest.mark.parametrize("argv", [["--help"], ["-h"], ["eval", "--help"], ["eval", "-h"]], ids=" ".join)
def test_help_exits_0_and_documents_the_exit_codes(cli, argv):
    result = cli(*argv)
    assert result.exit_code == 0, result.stderr
    text = _flat(result.stdout)
    assert "Exit codes" in text
    assert "0 report written" in text
    assert "1 report written" in text
    assert "2 usage error or bad input" in text


def test_the_app_registers_the_eval_command():
    assert "eval" in COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_text(cli, command):
    click_command = typer.main.get_command(app).commands[command]
    assert click_command.help and click_command.help.strip(), f"{command} has no help text"
    result = cli(command, "--help")
    assert result.exit_code == 0, result.stderr
    first_line = click_command.help.strip().splitlines()[0]
    assert _flat(first_line)[:40] in _flat(result.stdout)
    root = _flat(cli("--help").stdout)
    assert command in root


def test_version_option_prints_the_version(cli):
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"infocli {__version__}"
