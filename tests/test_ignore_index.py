"""``infocli eval --ignore-index N``: rows whose label is N are left out of every metric.

The contract (PyTorch's convention, usually -100): ignored rows count in ``n_ignored``,
not in ``n_samples``; their prediction values are never validated (padding positions
hold garbage); if every row is ignored the run fails with exit code 2 rather than NaN.
References: a plain-Python computation over the rows kept (``math.log``/``math.exp``), and
``torch.nn.functional.cross_entropy(..., ignore_index=-100)``, as stored by
``torch_reference``.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from scipy.special import log_softmax

import torch_reference
from cli_helpers import assert_bad_input, invoke, run_json

RTOL = 1e-6
"""Relative agreement with the independent references, in float64."""
IGNORE = -100
N_ROWS, N_CLASSES = 60, 4


def close(actual: Any, expected: float, rtol: float = RTOL) -> bool:
    actual = float(actual)
    if math.isnan(expected):
        return math.isnan(actual)
    return math.isclose(actual, expected, rel_tol=rtol, abs_tol=1e-300)


# ---------------------------------------------------------------------------- reference


def reference(scores: np.ndarray, labels: np.ndarray, kind: str, ignore: int = IGNORE, base: str = "e"):
    """Every eval metric over the rows whose label is not ``ignore``, one row at a time."""
    scale = {"e": 1.0, "2": math.log(2), "10": math.log(10)}[base]
    ce, ent, hit = [], [], []
    for row, label in zip(scores.tolist(), labels.tolist(), strict=True):
        if label == ignore:
            continue
        if kind == "probs":
            total = sum(row)
            q = [x / total for x in row]
        else:  # logits or log-probabilities: a softmax
            peak = max(row)
            e = [math.exp(x - peak) for x in row]
            q = [x / sum(e) for x in e]
        ce.append(-math.log(q[label]))
        ent.append(-sum(p * math.log(p) for p in q if p > 0))
        hit.append(1.0 if max(range(len(q)), key=lambda j: (q[j], -j)) == label else 0.0)
    n = len(ce)

    def se(values: list[float]) -> float:
        return statistics.stdev(values) / math.sqrt(n)

    mean_ce = math.fsum(ce) / n
    metrics = {
        "entropy": math.fsum(ent) / n / scale,
        "target_entropy": 0.0,
        "cross_entropy": mean_ce / scale,
        "kl_divergence": mean_ce / scale,
        "perplexity": math.exp(mean_ce),
        "accuracy": sum(hit) / n,
    }
    errors = {
        "entropy": se(ent) / scale,
        "target_entropy": 0.0,
        "cross_entropy": se(ce) / scale,
        "kl_divergence": se(ce) / scale,
        "perplexity": math.exp(mean_ce) * se(ce),
        "accuracy": se(hit),
    }
    return n, metrics, errors


def assert_matches(doc: dict[str, Any], scores: np.ndarray, labels: np.ndarray, kind: str, **kwargs) -> None:
    n, metrics, errors = reference(scores, labels, kind, **kwargs)
    ignore = kwargs.get("ignore", IGNORE)
    assert doc["n_samples"] == n
    assert doc["n_ignored"] == int((labels == ignore).sum())
    assert doc["n_samples"] + doc["n_ignored"] == len(labels)
    assert set(doc["metrics"]) == set(metrics)
    for name, value in metrics.items():
        if value == 0.0:
            assert float(doc["metrics"][name]) == 0.0, name
        else:
            assert close(doc["metrics"][name], value), (name, doc["metrics"][name], value)
    for name, value in errors.items():
        if value == 0.0:
            assert float(doc["standard_error"][name]) == 0.0, name
        else:
            assert close(doc["standard_error"][name], value), ("SE", name, doc["standard_error"][name], value)


# ------------------------------------------------------------------------------- data


def make_data(seed: int, kind: str, garbage: bool = True, lead: int = 0):
    """Scores and labels with about a third of the labels -100; the ignored rows hold garbage.

    ``lead`` rows at the start are all ignored (left padding).
    """
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(N_ROWS, N_CLASSES)) * 1.5
    labels = rng.integers(0, N_CLASSES, N_ROWS)
    if kind == "probs":
        scores = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    elif kind == "logprobs":
        scores = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    else:
        scores = z
    ignored = rng.random(N_ROWS) < 0.3
    ignored[:lead] = True
    labels[ignored] = IGNORE
    clean = scores.copy()
    if garbage:
        rows = np.flatnonzero(ignored)
        scores[rows[0::4]] = np.nan
        scores[rows[1::4], 0] = 7.0 if kind == "probs" else np.inf  # out of range
        scores[rows[2::4], 1] = (
            -5.0 if kind == "probs" else 3.0
        )  # a negative probability; a positive log-prob
        scores[rows[3::4]] = 0.9  # probabilities that do not sum to 1
    return scores, clean, labels


def write_npy(path: Path, array: np.ndarray) -> str:
    np.save(path, array)
    return str(path)


def write_labels(folder: Path, labels: np.ndarray, fmt: str) -> str:
    if fmt == "npy":
        return write_npy(folder / "labels.npy", labels)
    table = pa.table({"label": labels})
    if fmt == "parquet":
        pq.write_table(table, folder / "labels.parquet")
        return str(folder / "labels.parquet")
    pcsv.write_csv(table, folder / "labels.csv")
    return str(folder / "labels.csv")


# ------------------------------------------------------------------------------ numpy


@pytest.mark.parametrize("kind", ["probs", "logits", "logprobs"])
@pytest.mark.parametrize("label_fmt", ["npy", "csv", "parquet"])
def test_ignored_rows_are_left_out_and_garbage_in_them_is_fine(tmp_path, kind, label_fmt):
    scores, clean, labels = make_data(1, kind)
    assert np.isnan(scores[labels == IGNORE]).any()
    preds = write_npy(tmp_path / "preds.npy", scores)
    labels_path = write_labels(tmp_path, labels, label_fmt)
    doc = run_json("eval", preds, labels_path, "--kind", kind, "--ignore-index", IGNORE)
    assert_matches(doc, clean, labels, kind)
    assert f"ignore:{IGNORE}" in doc["signature"]


@pytest.mark.parametrize("kind", ["probs", "logits"])
def test_ignore_index_with_auto_kind(tmp_path, kind):
    scores, clean, labels = make_data(2, kind)
    preds = write_npy(tmp_path / "preds.npy", scores)
    doc = run_json("eval", preds, write_labels(tmp_path, labels, "npy"), "--ignore-index", IGNORE)
    assert doc["predictions"]["kind"] == kind
    assert_matches(doc, clean, labels, kind)


def test_ignore_index_with_the_label_column_in_the_predictions_file(tmp_path):
    scores, clean, labels = make_data(3, "logits")
    columns = {f"c{j}": scores[:, j] for j in range(N_CLASSES)} | {"label": labels}
    pq.write_table(pa.table(columns), tmp_path / "preds.parquet")
    doc = run_json("eval", tmp_path / "preds.parquet", "--kind", "logits", "--ignore-index", IGNORE)
    assert_matches(doc, clean, labels, "logits")


@pytest.mark.parametrize("base", ["2", "10"])
def test_ignore_index_with_another_base(tmp_path, base):
    scores, clean, labels = make_data(4, "logits")
    preds = write_npy(tmp_path / "preds.npy", scores)
    doc = run_json(
        "eval", preds, write_labels(tmp_path, labels, "npy"), "--ignore-index", IGNORE, "--base", base
    )
    assert_matches(doc, clean, labels, "logits", base=base)


def test_ignore_index_can_be_an_ordinary_class(tmp_path):
    _, scores, labels = make_data(5, "probs", garbage=False)
    labels[labels == IGNORE] = 1
    preds = write_npy(tmp_path / "preds.npy", scores)
    doc = run_json("eval", preds, write_labels(tmp_path, labels, "npy"), "--ignore-index", 2)
    assert doc["n_ignored"] == int((labels == 2).sum()) > 0
    assert_matches(doc, scores, labels, "probs", ignore=2)


@pytest.mark.parametrize("kind", ["logits", "auto"])
@pytest.mark.parametrize("chunk_rows", ["1", "3", "100000"])
def test_ignore_index_results_do_not_depend_on_chunking(tmp_path, kind, chunk_rows):
    """Left padding: the first rows are all ignored, so with small chunks whole chunks are."""
    scores, clean, labels = make_data(6, "logits", lead=5)
    preds = write_npy(tmp_path / "preds.npy", scores)
    doc = run_json(
        "eval", preds, write_labels(tmp_path, labels, "npy"),
        "--ignore-index", IGNORE, "--kind", kind, "--chunk-rows", chunk_rows,
    )  # fmt: skip
    assert_matches(doc, clean, labels, "logits")


def test_without_ignore_index_a_minus_100_label_is_bad_input(tmp_path):
    _, scores, labels = make_data(7, "probs", garbage=False)
    labels_path = write_labels(tmp_path, labels, "npy")
    first = int(np.flatnonzero(labels == IGNORE)[0])
    assert_bad_input(
        invoke("eval", write_npy(tmp_path / "p.npy", scores), labels_path), labels_path, f"row {first}"
    )
    assert run_json("eval", tmp_path / "p.npy", labels_path, "--ignore-index", IGNORE)["n_ignored"] > 0


def test_n_ignored_is_zero_when_no_label_is_ignored(tmp_path):
    _, scores, labels = make_data(8, "probs", garbage=False)
    labels[labels == IGNORE] = 0
    doc = run_json(
        "eval",
        write_npy(tmp_path / "p.npy", scores),
        write_labels(tmp_path, labels, "npy"),
        "--ignore-index",
        IGNORE,
    )
    assert doc["n_ignored"] == 0 and doc["n_samples"] == N_ROWS
    assert_matches(doc, scores, labels, "probs")


def test_a_bad_value_in_a_used_row_is_reported_with_its_file_row(tmp_path):
    scores, _, labels = make_data(9, "probs", lead=4)
    used = np.flatnonzero(labels != IGNORE)
    bad = int(used[3])
    scores[bad, 2] = 1.5
    preds = write_npy(tmp_path / "p.npy", scores)
    labels_path = write_labels(tmp_path, labels, "npy")
    for chunk_rows in ("2", "100000"):
        result = invoke(
            "eval",
            preds,
            labels_path,
            "--kind",
            "probs",
            "--ignore-index",
            IGNORE,
            "--chunk-rows",
            chunk_rows,
        )
        assert_bad_input(result, preds, f"row {bad}", "1.5")


def test_a_bad_label_in_a_used_row_is_still_an_error(tmp_path):
    _, scores, labels = make_data(10, "probs", garbage=False)
    bad = int(np.flatnonzero(labels != IGNORE)[5])
    labels[bad] = N_CLASSES + 3
    labels_path = write_labels(tmp_path, labels, "npy")
    result = invoke("eval", write_npy(tmp_path / "p.npy", scores), labels_path, "--ignore-index", IGNORE)
    assert_bad_input(result, labels_path, f"row {bad}")


@pytest.mark.parametrize("where", ["labels file", "label column"])
def test_every_row_ignored_is_bad_input_not_nan(tmp_path, where):
    scores = np.full((6, 3), np.nan)
    labels = np.full(6, IGNORE)
    if where == "labels file":
        preds = write_npy(tmp_path / "p.npy", scores)
        labels_path = write_labels(tmp_path, labels, "csv")
        result = invoke("eval", preds, labels_path, "--ignore-index", IGNORE)
        path = labels_path
    else:
        pq.write_table(
            pa.table({"a": scores[:, 0], "b": scores[:, 1], "label": labels}), tmp_path / "p.parquet"
        )
        path = str(tmp_path / "p.parquet")
        result = invoke("eval", path, "--ignore-index", IGNORE)
    assert_bad_input(result, path, str(IGNORE))


def test_table_output_mentions_the_ignored_rows(tmp_path):
    scores, _, labels = make_data(11, "logits")
    result = invoke(
        "eval",
        write_npy(tmp_path / "p.npy", scores),
        write_labels(tmp_path, labels, "npy"),
        "--ignore-index",
        IGNORE,
    )
    assert result.exit_code == 0, result.stderr
    assert f"ignored {int((labels == IGNORE).sum())}" in result.stdout


# ------------------------------------------------------------------------------ torch


@pytest.mark.parametrize("kind", ["logits", "logprobs"])
def test_eval_ignore_index_matches_torch_cross_entropy(tmp_path, kind):
    logits, target = torch_reference.eval_case()
    pytorch = torch_reference.stored()["eval"]  # what PyTorch computed from these inputs
    keep = target != IGNORE
    n_used = int(keep.sum())

    scores = logits.copy() if kind == "logits" else log_softmax(logits, axis=-1)
    scores[~keep] = np.nan  # padding positions hold garbage
    scores[np.flatnonzero(~keep)[::2], 0] = np.inf
    preds = write_npy(tmp_path / "preds.npy", scores)
    labels = write_npy(tmp_path / "labels.npy", target)
    doc = run_json("eval", preds, labels, "--ignore-index", IGNORE, "--kind", kind)
    assert doc["n_samples"] == n_used
    assert doc["n_ignored"] == len(target) - n_used
    assert close(doc["metrics"]["cross_entropy"], pytorch["mean"])
    assert close(doc["metrics"]["cross_entropy"], pytorch["sum"] / n_used)
    assert close(doc["metrics"]["perplexity"], math.exp(pytorch["mean"]))
    assert close(doc["standard_error"]["cross_entropy"], pytorch["std_error"])
    assert close(doc["standard_error"]["perplexity"], math.exp(pytorch["mean"]) * pytorch["std_error"])
    accuracy = np.mean(logits[keep].argmax(axis=-1) == target[keep])
    assert close(doc["metrics"]["accuracy"], accuracy)
