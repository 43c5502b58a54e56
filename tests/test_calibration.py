"""Calibration in ``eval``: ECE, MCE, RMSCE, the debiased l2 error, the classwise ECE, the
Brier score and its decomposition, quantile bins, the fitted temperature, the report, the
chart, the state's merging and its file; each against a reference written here or stored."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.metrics import brier_score_loss

from infocli.errors import InfoCliError
from infocli.evaluate import evaluate_arrays
from infocli.metrics.calibration import CLASSWISE_BUDGET, GRID, SUMS, CalibrationState
from infocli.metrics.kernels import right_closed_cells
from infocli.metrics.state import EvalState
from infocli.metrics.temperature import TemperatureFit

from . import torch_calibration
from .conftest import SAMPLE_DATA
from cli_helpers import assert_bad_input, invoke, run_json

ABS = 1e-12
"""Absolute tolerance of a metric against a reference from the same float64 numbers."""
TORCH_ABS = 1e-6
"""Against torchmetrics, which computes the multi-class errors in float32."""
TEMPERATURE_REL = 0.01
"""T* within 1% of the true minimiser."""
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- references


def guo_bins(conf: np.ndarray, correct: np.ndarray, bins: int) -> list[tuple[int, float, float]]:
    """Guo et al.'s bins: (lower, upper], the first [0, upper]; (rows, mean conf, accuracy)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    out = []
    for b in range(bins):
        lower, upper = edges[b], edges[b + 1]
        inside = (conf > lower) & (conf <= upper)
        if b == 0:
            inside |= conf == 0.0
        n = int(inside.sum())
        out.append((n, conf[inside].mean() if n else 0.0, correct[inside].mean() if n else 0.0))
    return out


def guo_errors(conf: np.ndarray, correct: np.ndarray, bins: int) -> dict[str, float]:
    """ECE, MCE and RMSCE from Guo et al.'s definitions over :func:`guo_bins`."""
    rows = guo_bins(conf, correct.astype(float), bins)
    total = len(conf)
    ece = sum(n / total * abs(c - a) for n, c, a in rows)
    mce = max(abs(c - a) for n, c, a in rows if n)
    rmsce = math.sqrt(sum(n / total * (c - a) ** 2 for n, c, a in rows))
    return {"ece": ece, "mce": mce, "rmsce": rmsce}


def kumar_debiased(conf: np.ndarray, correct: np.ndarray, bins: int) -> float:
    """Kumar et al. (2019)'s debiased l2 calibration error, bin by bin."""
    total = 0.0
    for n, c, a in guo_bins(conf, correct.astype(float), bins):
        if n >= 2:
            total += n / len(conf) * ((c - a) ** 2 - a * (1 - a) / (n - 1))
    return math.sqrt(max(total, 0.0))


def classwise_loop(q: np.ndarray, labels: np.ndarray, bins: int) -> float:
    """The mean over classes of the ECE of q_c against [label = c], one class at a time."""
    return float(np.mean([guo_errors(q[:, c], labels == c, bins)["ece"] for c in range(q.shape[1])]))


def stephenson_terms(conf: np.ndarray, correct: np.ndarray, bins: int) -> dict[str, float]:
    """Murphy's terms and Stephenson et al. (2008)'s within-bin terms, row by row."""
    o = correct.astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    cell = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, bins - 1)
    n, mean_o = len(conf), o.mean()
    terms = dict.fromkeys(("rel", "res", "wbv", "wbc"), 0.0)
    for b in range(bins):
        f_b, o_b = conf[cell == b], o[cell == b]
        if not len(f_b):
            continue
        terms["rel"] += len(f_b) * (f_b.mean() - o_b.mean()) ** 2 / n
        terms["res"] += len(f_b) * (o_b.mean() - mean_o) ** 2 / n
        terms["wbv"] += ((f_b - f_b.mean()) ** 2).sum() / n
        terms["wbc"] += 2 * ((f_b - f_b.mean()) * (o_b - o_b.mean())).sum() / n
    terms["unc"] = mean_o * (1 - mean_o)
    return terms


def _model(seed: int, n: int = 800, c: int = 5, sharpness: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Logits of a classifier that is right about 60% of the time, and labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, n)
    z = rng.normal(size=(n, c))
    z[np.arange(n), labels] += 1.5
    return z * sharpness, labels


def _top(q: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return q.max(axis=1), q.argmax(axis=1) == labels


def _metrics(preds, target, **settings) -> dict[str, float]:
    return evaluate_arrays(preds, target, calibration=True, **settings).compute().metrics


# ------------------------------------------------------------------ ECE, MCE, RMSCE, l2


@pytest.mark.parametrize("bins", [1, 2, 10, 15, 37])
@pytest.mark.parametrize("sharpness", [0.5, 2.0, 6.0])
def test_ece_mce_rmsce_are_guo_et_al_s_with_right_closed_bins(bins, sharpness) -> None:
    z, labels = _model(bins, sharpness=sharpness)
    q = softmax(z, axis=1)
    metrics = _metrics(q, labels, kind="probs", bins=bins)
    for name, value in guo_errors(*_top(q, labels), bins).items():
        assert metrics[name] == pytest.approx(value, abs=ABS), name


def test_debiased_l2_is_kumar_et_al_s_formula() -> None:
    for seed, bins in [(1, 15), (2, 40), (3, 100)]:  # 100 bins: several of fewer than 2 rows
        z, labels = _model(seed, n=300)
        q = softmax(z, axis=1)
        metrics = _metrics(q, labels, kind="probs", bins=bins)
        assert metrics["debiased_l2_calibration_error"] == pytest.approx(
            kumar_debiased(*_top(q, labels), bins), abs=ABS
        )


def test_debiased_l2_of_a_calibrated_model_is_clamped_at_zero() -> None:
    # labels drawn from the predicted probabilities: the debiased sum falls below 0
    rng = np.random.default_rng(4)
    p = rng.uniform(0.05, 0.95, 4000)
    labels = (rng.random(4000) < p).astype(np.int64)
    metrics = _metrics(p, labels, kind="probs", bins=5)
    assert metrics["debiased_l2_calibration_error"] == kumar_debiased(p, labels == 1, 5)
    assert 0 <= metrics["debiased_l2_calibration_error"] < metrics["rmsce"]


def test_confidences_on_bin_edges_fall_in_the_bin_below_and_one_in_the_last() -> None:
    edges = np.linspace(0.0, 1.0, 16)
    cells = right_closed_cells(np.array([0.0, edges[1], np.nextafter(edges[1], 1), edges[7], 1.0]), 15)
    assert cells.tolist() == [0, 0, 1, 6, 14]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cells", [1, 2, 7, 10, 15, 32, 33, 100, GRID])
def test_right_closed_cells_is_the_searchsorted_rule(cells, dtype) -> None:
    rng = np.random.default_rng(cells)
    edges = np.linspace(0.0, 1.0, cells + 1)
    near = edges.astype(dtype)  # the edges as the values' precision holds them, and neighbours
    values = np.concatenate([near, np.nextafter(near, dtype(2)), np.nextafter(near, dtype(-1))])
    values = np.clip(np.concatenate([values, rng.random(5000).astype(dtype)]), 0, 1).astype(dtype)
    for v in (values, values[:5000].reshape(-1, 5)[:, ::-1], values[:5000].reshape(5, -1).T):
        expected = np.clip(np.searchsorted(edges, v.astype(np.float64), side="left") - 1, 0, cells - 1)
        assert np.array_equal(right_closed_cells(v, cells), expected)


def test_empty_bins_contribute_zero_and_mce_takes_non_empty_bins_only() -> None:
    q = np.array([[0.95, 0.05], [0.95, 0.05], [0.55, 0.45]])
    labels = np.array([0, 1, 0])
    m = _metrics(q, labels, kind="probs", bins=10)
    # bins (0.5, 0.6]: 1 row, gap 0.45; (0.9, 1.0]: 2 rows, gap 0.45
    assert m["ece"] == pytest.approx(0.45, abs=ABS)
    assert m["mce"] == pytest.approx(0.45, abs=ABS)


# ------------------------------------------------------------------------- torchmetrics


@pytest.mark.parametrize("case", ["multiclass", "binary"])
def test_calibration_errors_match_torchmetrics_off_the_edges(case) -> None:
    torch = torch_calibration.stored()[case]
    preds, labels = torch_calibration.CASES[case]()
    m = _metrics(preds, labels, kind="probs", bins=torch_calibration.BINS)
    assert m["ece"] == pytest.approx(torch["l1"], abs=TORCH_ABS)
    assert m["mce"] == pytest.approx(torch["max"], abs=TORCH_ABS)
    assert m["rmsce"] == pytest.approx(torch["l2"], abs=TORCH_ABS)


def test_confidences_on_the_edges_pin_the_difference_from_torchmetrics() -> None:
    torch = torch_calibration.stored()["edges"]
    q, labels = torch_calibration.edges_case()
    m = _metrics(q, labels, kind="probs", bins=torch_calibration.BINS)
    ours = guo_errors(*_top(q, labels), torch_calibration.BINS)
    assert m["ece"] == pytest.approx(ours["ece"], abs=ABS)
    assert m["mce"] == pytest.approx(ours["mce"], abs=ABS)
    # torchmetrics' [lower, upper) bins put each edge confidence one bin up, and 1.0 in an
    # extra bin: the numbers differ well beyond rounding.
    assert abs(m["ece"] - torch["l1"]) > 1e-3
    conf, correct = _top(q, labels)  # the same rows in left-closed bins give torchmetrics' number
    edges = np.linspace(0.0, 1.0, torch_calibration.BINS + 1)
    cell = np.searchsorted(edges, conf, side="right") - 1  # torch.bucketize(right=True) - 1
    left_closed = sum(
        abs(conf[cell == b].mean() - correct[cell == b].mean()) * (cell == b).sum() / len(conf)
        for b in np.unique(cell)
    )
    assert left_closed == pytest.approx(torch["l1"], abs=TORCH_ABS)


# ------------------------------------------------------------------------ classwise ECE


@pytest.mark.parametrize("bins", [5, 15])
def test_classwise_ece_is_the_per_class_loop(bins) -> None:
    z, labels = _model(11, c=7)
    q = softmax(z, axis=1)
    assert _metrics(q, labels, kind="probs", bins=bins)["classwise_ece"] == pytest.approx(
        classwise_loop(q, labels, bins), abs=ABS
    )


def test_classwise_ece_above_the_budget_is_skipped_nan_and_said() -> None:
    classes = CLASSWISE_BUDGET // 15 + 1
    q = np.full((3, classes), 1.0 / classes)
    evaluation_state = evaluate_arrays(q, np.array([0, 1, 2]), kind="probs", calibration=True)
    metrics = evaluation_state.compute().metrics
    assert math.isnan(metrics["classwise_ece"])
    assert not math.isnan(metrics["ece"])
    (line,) = [w for w in evaluation_state.warnings() if "classwise" in w]
    assert f"{classes:,} classes" in line and "1,000,000" in line


# ------------------------------------------------------------------------------- Brier


def test_brier_score_is_twice_sklearn_s_for_a_binary_classifier() -> None:
    p, labels = torch_calibration.binary_case()
    m = _metrics(p, labels, kind="probs")
    assert m["brier_score"] == pytest.approx(2 * brier_score_loss(labels, p), abs=ABS)
    # and the top-label Brier score of the positive class is sklearn's own
    assert m["top_label_brier"] == pytest.approx(brier_score_loss(labels, p), abs=ABS)


def test_brier_score_is_the_multiclass_definition_with_its_standard_error() -> None:
    z, labels = _model(21)
    q = softmax(z, axis=1)
    per_row = ((q - np.eye(q.shape[1])[labels]) ** 2).sum(axis=1)
    state = evaluate_arrays(q, labels, kind="probs", calibration=True)
    results = state.compute()
    assert results.metrics["brier_score"] == pytest.approx(per_row.mean(), abs=ABS)
    se = per_row.std(ddof=1) / math.sqrt(len(per_row))
    assert results.standard_error["brier_score"] == pytest.approx(se, rel=1e-9)


def test_brier_score_against_soft_targets_is_the_squared_distance() -> None:
    rng = np.random.default_rng(22)
    q, p = softmax(rng.normal(size=(200, 4)), axis=1), softmax(rng.normal(size=(200, 4)) * 2, axis=1)
    m = _metrics(q, p, kind="probs", target_kind="probs")
    assert m["brier_score"] == pytest.approx(((q - p) ** 2).sum(axis=1).mean(), abs=ABS)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("seed", [31, 32, 33])
def test_brier_decomposition_holds_to_1e_12_and_matches_stephenson_s_terms(strategy, seed) -> None:
    z, labels = _model(seed, sharpness=seed - 30)
    q = softmax(z, axis=1)
    m = _metrics(q, labels, kind="probs", bins=10, bin_strategy=strategy)
    conf, correct = _top(q, labels)
    assert m["top_label_brier"] == pytest.approx(np.mean((conf - correct) ** 2), abs=ABS)
    rebuilt = (
        m["brier_reliability"]
        - m["brier_resolution"]
        + m["brier_uncertainty"]
        + m["brier_within_bin_variance"]
        - m["brier_within_bin_covariance"]
    )
    assert abs(rebuilt - m["top_label_brier"]) <= 1e-12
    if strategy == "uniform":
        terms = stephenson_terms(conf, correct, 10)
        assert m["brier_reliability"] == pytest.approx(terms["rel"], abs=ABS)
        assert m["brier_resolution"] == pytest.approx(terms["res"], abs=ABS)
        assert m["brier_uncertainty"] == pytest.approx(terms["unc"], abs=ABS)
        assert m["brier_within_bin_variance"] == pytest.approx(terms["wbv"], abs=ABS)
        assert m["brier_within_bin_covariance"] == pytest.approx(terms["wbc"], abs=ABS)


# ---------------------------------------------------------------------- quantile bins


def test_quantile_bins_are_equal_count_with_edges_within_the_grid_cell() -> None:
    z, labels = _model(41, n=3000)
    q = softmax(z, axis=1)
    conf, correct = _top(q, labels)
    state = CalibrationState(bins=10, strategy="quantile")
    state.update(conf, correct)
    cal = state.compute()
    bins = cal.bins_of(0)
    largest_cell = int(state.sums["count"].max())
    ordered = np.sort(conf)
    below = 0
    cell = 1.0 / GRID + 1e-15
    for b in bins:
        assert abs(b["count"] - 300) <= largest_cell
        # the bin's first and last confidences lie in the grid cells at its edges
        assert b["lower"] < ordered[below] <= b["lower"] + cell
        below += b["count"]
        assert b["upper"] - cell < ordered[below - 1] <= b["upper"]
    assert cal.edge_accuracy == 1.0 / GRID
    # the ECE is Guo's over exactly the bins reported
    ece = 0.0
    for b in bins:
        inside = (conf > b["lower"]) & (conf <= b["upper"])
        assert inside.sum() == b["count"]
        ece += inside.sum() / len(conf) * abs(conf[inside].mean() - correct[inside].mean())
    assert cal.group(0)["ece"] == pytest.approx(ece, abs=ABS)


def test_quantile_bins_of_tied_confidences_leave_bins_empty_rather_than_split_a_cell() -> None:
    conf = np.array([1.0] * 90 + [0.5] * 10)
    state = CalibrationState(bins=4, strategy="quantile")
    state.update(conf, conf > 0.7)
    counts = [b["count"] for b in state.compute().bins_of(0)]
    assert sorted(counts) == [0, 0, 10, 90]


# -------------------------------------------------------------------------- temperature


def _true_temperature(z: np.ndarray, labels: np.ndarray) -> float:
    def ce(log_t: float) -> float:
        return float(-log_softmax(z / math.exp(log_t), axis=1)[np.arange(len(z)), labels].mean())

    found = minimize_scalar(
        ce, bounds=(math.log(0.05), math.log(20)), method="bounded", options={"xatol": 1e-10}
    )
    return math.exp(found.x)


@pytest.mark.parametrize(("seed", "sharpness"), [(51, 0.3), (52, 1.0), (53, 3.0), (54, 8.0)])
def test_fitted_temperature_is_within_1_percent_of_scipy_s_minimiser(seed, sharpness) -> None:
    z, labels = _model(seed, n=1500, c=8, sharpness=sharpness)
    fit = TemperatureFit()
    fit.update(z, labels)
    assert fit.best() == pytest.approx(_true_temperature(z, labels), rel=TEMPERATURE_REL)


def test_fitted_temperature_of_soft_targets_minimises_their_cross_entropy() -> None:
    z, labels = _model(55, n=600)
    p = np.eye(5)[labels]
    a, b = TemperatureFit(), TemperatureFit()
    a.update(z, labels)
    b.update(z, p)
    assert b.best() == pytest.approx(a.best(), rel=1e-12)


def test_eval_fit_temperature_reports_t_star_and_the_cross_entropy_and_ece_there(tmp_path) -> None:
    z, labels = _model(56, n=1200, sharpness=3.0)
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", labels)
    report = run_json("eval", tmp_path / "z.npy", tmp_path / "y.npy", "--fit-temperature", "--base", "2")
    fit = report["temperature_fit"]
    t = fit["temperature"]
    assert report["metrics"]["fitted_temperature"] == t
    assert t == pytest.approx(_true_temperature(z, labels), rel=TEMPERATURE_REL)
    log_q = log_softmax(z / t, axis=1)
    assert fit["cross_entropy"] == pytest.approx(
        -log_q[np.arange(len(z)), labels].mean() / math.log(2), abs=1e-9
    )
    assert fit["ece"] == pytest.approx(guo_errors(*_top(np.exp(log_q), labels), 15)["ece"], abs=1e-9)
    assert fit["at_grid_edge"] is False
    assert fit["cross_entropy"] < report["metrics"]["cross_entropy"]
    assert "calibration" not in report  # only asked for the temperature


def test_fit_temperature_reads_stdin_twice_through_its_copy(tmp_path) -> None:
    z, labels = _model(57, n=300)
    np.save(tmp_path / "y.npy", labels)
    np.save(tmp_path / "z.npy", z)
    data = (tmp_path / "z.npy").read_bytes()
    piped = run_json(
        "eval", "-", tmp_path / "y.npy", "--input-format", "npy", "--fit-temperature", input=data
    )
    direct = run_json("eval", tmp_path / "z.npy", tmp_path / "y.npy", "--fit-temperature")
    assert piped["temperature_fit"] == direct["temperature_fit"]


def test_fit_temperature_of_a_dataset_is_that_of_one_file_of_its_rows(tmp_path) -> None:
    z, labels = _model(59, n=900, sharpness=3.0)
    for folder in ("preds", "labels"):
        (tmp_path / folder).mkdir()
    for i, part in enumerate(np.array_split(np.arange(900), 3)):
        np.save(tmp_path / "preds" / f"part-{i}.npy", z[part])
        np.save(tmp_path / "labels" / f"part-{i}.npy", labels[part])
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", labels)
    whole = run_json("eval", tmp_path / "z.npy", tmp_path / "y.npy", "--fit-temperature")["temperature_fit"]
    for jobs in ([], ["--jobs", "2"]):  # in this process, and on worker processes
        args = ["eval", tmp_path / "preds", tmp_path / "labels", "--fit-temperature", *jobs]
        sharded = run_json(*args)["temperature_fit"]
        assert sharded["temperature"] == pytest.approx(whole["temperature"], rel=1e-12)
        assert sharded["cross_entropy"] == pytest.approx(whole["cross_entropy"], rel=1e-12)
        assert sharded["ece"] == pytest.approx(whole["ece"], rel=1e-9)


def test_a_temperature_beyond_the_grid_is_its_end_with_a_warning() -> None:
    z, labels = _model(58, n=400, sharpness=1.0)
    state = evaluate_arrays(z * 0 + np.eye(5)[labels] * 1e-3, labels, kind="logits", fit_temperature=True)
    assert state.compute().metrics["fitted_temperature"] == pytest.approx(0.05)
    assert any("end of the grid" in w for w in state.warnings())


# --------------------------------------------------------------- chunks, merges, files


@st.composite
def _problems(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(1, 120))
    c = draw(st.integers(2, 6))
    strategy = draw(st.sampled_from(["uniform", "quantile"]))
    bins = draw(st.integers(1, 20))
    chunk = draw(st.integers(1, n))
    cut = draw(st.integers(0, n))
    return seed, n, c, strategy, bins, chunk, cut


def _sums_close(a: CalibrationState, b: CalibrationState) -> None:
    for name in SUMS:
        if name in ("count", "correct"):
            assert np.array_equal(a.sums[name], b.sums[name]), name
        else:
            np.testing.assert_allclose(a.sums[name], b.sums[name], rtol=1e-12, atol=1e-15, err_msg=name)
    if a.classwise is not None:
        assert np.array_equal(a.classwise["correct"], b.classwise["correct"])
        np.testing.assert_allclose(
            a.classwise["confidence"], b.classwise["confidence"], rtol=1e-12, atol=1e-15
        )


@SETTINGS
@given(_problems())
def test_bins_and_grids_do_not_depend_on_the_chunk_size(problem) -> None:
    seed, n, c, strategy, bins, chunk, _ = problem
    rng = np.random.default_rng(seed)
    z, labels = rng.normal(size=(n, c)) * 3, rng.integers(0, c, n)
    settings_ = {
        "kind": "logits",
        "calibration": True,
        "fit_temperature": True,
        "bins": bins,
        "bin_strategy": strategy,
    }
    whole = evaluate_arrays(z, labels, chunk_rows=n, **settings_)
    chunked = evaluate_arrays(z, labels, chunk_rows=chunk, **settings_)
    _sums_close(whole.calibration, chunked.calibration)
    np.testing.assert_allclose(whole.temperature_fit.log_sums, chunked.temperature_fit.log_sums, rtol=1e-12)
    a, b = whole.compute().metrics, chunked.compute().metrics
    for name in a:
        assert a[name] == pytest.approx(b[name], rel=1e-9, abs=1e-12), name


@SETTINGS
@given(_problems())
def test_merging_states_of_any_split_equals_one_state(problem) -> None:
    seed, n, c, strategy, bins, _, cut = problem
    rng = np.random.default_rng(seed)
    q, labels = softmax(rng.normal(size=(n, c)) * 2, axis=1), rng.integers(0, c, n)
    conf, correct = _top(q, labels)
    whole = CalibrationState(bins, strategy, c)
    whole.update(conf, correct, probs=q, labels=labels)
    first, second = CalibrationState(bins, strategy, c), CalibrationState(bins, strategy, c)
    first.update(conf[:cut], correct[:cut], probs=q[:cut], labels=labels[:cut])
    second.update(conf[cut:], correct[cut:], probs=q[cut:], labels=labels[cut:])
    second.merge(first)  # in either order
    _sums_close(whole, second)


@SETTINGS
@given(_problems(), st.integers(1, 5))
def test_groups_by_code_equal_one_state_per_group_and_merge_by_code(problem, n_groups) -> None:
    seed, n, c, strategy, bins, _, cut = problem
    rng = np.random.default_rng(seed)
    q, labels = softmax(rng.normal(size=(n, c)), axis=1), rng.integers(0, c, n)
    codes = rng.integers(0, n_groups, n)
    conf, correct = _top(q, labels)
    grouped = CalibrationState(bins, strategy, c)
    grouped.update(conf, correct, codes=codes, probs=q, labels=labels)
    # parts coded differently: the second part's groups are numbered in reverse
    a, b = CalibrationState(bins, strategy, c), CalibrationState(bins, strategy, c)
    a.update(conf[:cut], correct[:cut], codes=codes[:cut], probs=q[:cut], labels=labels[:cut])
    reverse = n_groups - 1 - codes[cut:]
    b.update(conf[cut:], correct[cut:], codes=reverse, probs=q[cut:], labels=labels[cut:])
    a.merge(b, codes=n_groups - 1 - np.arange(b.n_groups))
    results = grouped.compute()
    merged = a.compute()
    for g in range(grouped.n_groups):
        alone = CalibrationState(bins, strategy, c)
        mask = codes == g
        alone.update(conf[mask], correct[mask], probs=q[mask], labels=labels[mask])
        expected = alone.compute().group(0)
        for name, value in results.group(g).items():
            assert value == pytest.approx(expected[name], rel=1e-9, abs=1e-12, nan_ok=True), name
            assert merged.group(g)[name] == pytest.approx(value, rel=1e-9, abs=1e-12, nan_ok=True), name


@SETTINGS
@given(_problems())
def test_a_state_reads_back_from_json_bit_for_bit(problem) -> None:
    seed, n, c, strategy, bins, _, _ = problem
    rng = np.random.default_rng(seed)
    z, labels = rng.normal(size=(n, c)) * 2, rng.integers(0, c, n)
    state = evaluate_arrays(
        z, labels, kind="logits", calibration=True, fit_temperature=True, bins=bins, bin_strategy=strategy
    )
    text = json.dumps(state.to_dict())
    again = EvalState.from_dict(json.loads(text))
    assert json.dumps(again.to_dict()) == text
    assert again.compute().metrics == state.compute().metrics or all(
        a == b or (math.isnan(a) and math.isnan(b))
        for a, b in zip(again.compute().metrics.values(), state.compute().metrics.values(), strict=True)
    )


def test_merge_of_saved_states_reports_the_calibration_of_all_rows(tmp_path) -> None:
    z, labels = _model(61, n=900)
    paths = []
    for i, part in enumerate(np.array_split(np.arange(900), 3)):
        np.save(tmp_path / f"z{i}.npy", z[part])
        np.save(tmp_path / f"y{i}.npy", labels[part])
        state = tmp_path / f"s{i}.json"
        args = [
            "eval",
            tmp_path / f"z{i}.npy",
            tmp_path / f"y{i}.npy",
            "--calibration",
            "--save-state",
            state,
        ]
        assert invoke(*args).exit_code == 0
        paths.append(state)
    merged = run_json("merge", *paths)
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", labels)
    whole = run_json("eval", tmp_path / "z.npy", tmp_path / "y.npy", "--calibration")
    assert [b["count"] for b in merged["calibration"]["reliability"]] == [
        b["count"] for b in whole["calibration"]["reliability"]
    ]
    for name, value in whole["metrics"].items():
        assert merged["metrics"][name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


def test_states_of_other_bins_do_not_merge(tmp_path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    args = ["eval", SAMPLE_DATA / "probs.parquet", SAMPLE_DATA / "labels.parquet", "--calibration"]
    assert invoke(*args, "--save-state", a).exit_code == 0
    assert invoke(*args, "--bins", "10", "--save-state", b).exit_code == 0
    assert_bad_input(invoke("merge", a, b), "calibration")


def _corrupt(path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d["calibration"]["count"].__setitem__(0, -1), ["calibration.count"]),
        (lambda d: d["calibration"]["confidence"].__setitem__(0, 1e9), ["calibration.confidence"]),
        (lambda d: d["calibration"]["correct"].__setitem__(0, 10**6), ["calibration.correct"]),
        (lambda d: d["calibration"]["cells"].reverse(), ["calibration.cells"]),
        (lambda d: d["calibration"].pop("bins"), ["calibration must hold"]),
        (lambda d: d.__setitem__("calibration", None), ["calibration is missing"]),
        (lambda d: d["brier_score"].__setitem__("n", 3), ["brier_score"]),
        (
            lambda d: d["settings"].__setitem__("calibration", {"bins": 0, "strategy": "uniform"}),
            ["settings.calibration"],
        ),
        (lambda d: d["temperature_fit"].__setitem__("log_sums", [1.0]), ["temperature_fit"]),
        (lambda d: d["calibration"]["classwise"]["correct"].__setitem__(0, 10**6), ["calibration.classwise"]),
    ],
)
def test_impossible_calibration_state_files_are_bad_input(tmp_path, change, words) -> None:
    state = tmp_path / "s.json"
    args = [
        "eval",
        SAMPLE_DATA / "logits.npy",
        SAMPLE_DATA / "labels.npy",
        "--calibration",
        "--fit-temperature",
    ]
    assert invoke(*args, "--save-state", state).exit_code == 0
    _corrupt(state, change)
    assert_bad_input(invoke("merge", state), str(state), *words)


def test_a_state_file_without_calibration_settings_reads_as_calibration_off(tmp_path) -> None:
    state = tmp_path / "s.json"
    assert (
        invoke(
            "eval", SAMPLE_DATA / "probs.parquet", SAMPLE_DATA / "labels.parquet", "--save-state", state
        ).exit_code
        == 0
    )

    def older(d):
        for key in ("calibration", "fit_temperature"):
            d["settings"].pop(key)
        for key in ("calibration", "brier_score", "temperature_fit"):
            d.pop(key)

    _corrupt(state, older)
    assert "ece" not in run_json("merge", state)["metrics"]


# ---------------------------------------------------------------------- the report, CLI


def test_json_calibration_section_states_the_rule_and_the_bins() -> None:
    report = run_json("eval", SAMPLE_DATA / "probs.parquet", SAMPLE_DATA / "labels.parquet", "--calibration")
    cal = report["calibration"]
    assert cal["target"] == "top label"
    assert cal["bin_rule"] == "(lower, upper], the first [0, upper]"
    assert (cal["bins"], cal["bin_strategy"], cal["edge_accuracy"]) == (15, "uniform", 0.0)
    assert len(cal["reliability"]) == 15
    assert sum(b["count"] for b in cal["reliability"]) == report["n_samples"]
    first = cal["reliability"][0]
    assert set(first) == {"lower", "upper", "count", "mean_confidence", "accuracy"}
    assert "bins:uniform-15-right-closed" in report["signature"]


def test_quantile_report_states_its_edge_accuracy() -> None:
    report = run_json(
        "eval", SAMPLE_DATA / "probs.parquet", SAMPLE_DATA / "labels.parquet", "--bin-strategy", "quantile",
        "--bins", "10", "--calibration",
    )  # fmt: skip
    assert report["calibration"]["edge_accuracy"] == 1.0 / GRID
    assert "bins:quantile-10" in report["signature"]


def test_binary_calibration_is_of_the_positive_class_and_says_so() -> None:
    report = run_json("eval", SAMPLE_DATA / "binary.csv", "--calibration")
    assert report["calibration"]["target"] == "positive class (class 1)"
    result = invoke("eval", SAMPLE_DATA / "binary.csv", "--calibration")
    assert "reliability (positive class (class 1)" in result.stdout


def test_table_shows_a_reliability_chart_under_the_metrics() -> None:
    result = invoke("eval", SAMPLE_DATA / "logits.npy", SAMPLE_DATA / "labels.npy", "--calibration")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert text.index("brier_score") < text.index("reliability (top label; 15 uniform bins")
    assert "█" in text and "|" in text


def test_calibration_gates_fail_and_pass() -> None:
    args = ["eval", SAMPLE_DATA / "probs.parquet", SAMPLE_DATA / "labels.parquet", "--calibration"]
    report = run_json(*args, "--fail-if", "ece > 0.001", code=1)
    assert report["gates"][0]["failed"] is True
    assert run_json(*args, "--fail-if", "ece > 0.9")["gates"][0]["failed"] is False


def test_a_calibration_gate_without_calibration_is_bad_input() -> None:
    result = invoke(
        "eval", SAMPLE_DATA / "probs.parquet", SAMPLE_DATA / "labels.parquet", "--fail-if", "ece > 0.1"
    )
    assert_bad_input(result, "ece", "--calibration")


def test_calibration_is_off_by_default() -> None:
    report = run_json("eval", SAMPLE_DATA / "probs.parquet", SAMPLE_DATA / "labels.parquet")
    assert "ece" not in report["metrics"] and "calibration" not in report


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--bins", "0"], ["--bins", "0"]),
        (["--bins", "10001"], ["--bins"]),
        (["--bins", "many"], ["--bins"]),
        (["--bin-strategy", "equal"], ["--bin-strategy"]),
        (["--fit-temperature", "--kind", "probs"], ["--fit-temperature", "probs"]),
        (["--fit-temperature", "--temperature", "2"], ["--fit-temperature", "--temperature"]),
        (["--plot-calibration", "chart.jpg"], ["--plot-calibration", ".png"]),
    ],
)
def test_bad_calibration_flags_are_bad_input(tmp_path, args, words) -> None:
    args = [a if a != "chart.jpg" else str(tmp_path / a) for a in args]
    result = invoke("eval", SAMPLE_DATA / "probs.parquet", SAMPLE_DATA / "labels.parquet", *args)
    assert_bad_input(result, *words)


def test_fit_temperature_of_detected_probabilities_is_bad_input() -> None:
    result = invoke(
        "eval", SAMPLE_DATA / "probs.parquet", SAMPLE_DATA / "labels.parquet", "--fit-temperature"
    )
    assert_bad_input(result, "--fit-temperature", "probabilities", "probs.parquet")


# ------------------------------------------------------------------------------ chart


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_plot_calibration_writes_a_png_and_implies_calibration(tmp_path) -> None:
    image = pytest.importorskip(
        "matplotlib.image", reason="matplotlib is not installed (pip install 'infocli[plot]')"
    )
    out = tmp_path / "reliability.png"
    result = invoke("eval", SAMPLE_DATA / "logits.npy", SAMPLE_DATA / "labels.npy", "--plot-calibration", out)
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    pixels = image.imread(out)
    assert pixels.shape[0] > 500 and np.unique(pixels.reshape(-1, pixels.shape[2]), axis=0).shape[0] > 10
    assert "reliability" in result.stdout
    assert not list(tmp_path.glob(".infocli-*"))


def test_plot_calibration_svg_names_its_parts(tmp_path) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install 'infocli[plot]')")
    out = tmp_path / "reliability.svg"
    assert invoke("eval", SAMPLE_DATA / "binary.csv", "--plot-calibration", out).exit_code == 0
    text = out.read_text()
    for part in ("perfect calibration", "gap to mean confidence", "rows per bin", "positive class"):
        assert f"<!-- {part}" in text or part in text, part


def test_plot_calibration_without_matplotlib_is_bad_input_with_the_install_hint(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "r.png"
    result = invoke("eval", SAMPLE_DATA / "logits.npy", SAMPLE_DATA / "labels.npy", "--plot-calibration", out)
    line = assert_bad_input(result, "--plot-calibration", "matplotlib")
    assert "infocli[plot]" in line
    assert not out.exists()


# ----------------------------------------------------------------------- strictness


def test_calibration_state_from_dict_refuses_impossible_contents() -> None:
    state = CalibrationState(bins=4, n_classes=3)
    q = softmax(np.random.default_rng(0).normal(size=(20, 3)), axis=1)
    state.update(*_top(q, np.zeros(20, int)), probs=q, labels=np.zeros(20, int))
    good = state.to_dict()
    assert CalibrationState.from_dict(json.loads(json.dumps(good))).to_dict() == good
    for key, value in [
        ("bins", 0),
        ("strategy", "equal"),
        ("n_groups", 0),
        ("confidence_sq", [2.0] * len(good["cells"])),
    ]:
        with pytest.raises(InfoCliError):
            CalibrationState.from_dict({**good, key: value})


# ------------------------------------------------------------------------------ README


def _readme_commands() -> list[list[str]]:
    """The ``infocli`` commands of the README's calibration and temperature sections."""
    import shlex

    from .conftest import REPO_ROOT

    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Calibration: `--calibration`") : text.index("## In CI and pipelines")]
    lines = [line.split("  #")[0] for line in section.splitlines() if line.startswith("infocli ")]
    return [shlex.split(line)[1:] for line in lines]


def test_the_readme_commands_work_as_written(tmp_path, monkeypatch) -> None:
    commands = _readme_commands()
    assert len(commands) == 6
    (tmp_path / "sample_data").symlink_to(SAMPLE_DATA)
    monkeypatch.chdir(tmp_path)
    for args in commands:
        result = invoke(*args)
        assert result.exit_code == 0, (args, result.stderr)
    assert (tmp_path / "reliability.png").stat().st_size > 10_000
