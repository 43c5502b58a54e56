"""infocli compare: the paired statistics against references written from their
definitions and against SciPy, the distribution block against np.percentile, the gates,
chunk and merge invariance, and bad inputs."""

from __future__ import annotations

import json
import math
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from tests.cli_helpers import assert_bad_input, invoke
from tests.conftest import class_names

N = 2_000
C = 5
Z975 = NormalDist().inv_cdf(0.975)
Z95 = NormalDist().inv_cdf(0.95)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _models(seed: int = 7, n: int = N, shift: float = 0.3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels and two correlated models' probabilities; the second is a little sharper."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, n)
    signal = rng.normal(0, 1, (n, C)) + 1.5 * np.eye(C)[y]
    a = _softmax(signal)
    b = _softmax((1 + shift) * signal + rng.normal(0, 0.3, (n, C)))
    return y, a, b


def _run(*args, code: int = 0) -> dict:
    result = invoke("compare", *args, "--format", "json")
    assert result.exit_code == code, (result.exit_code, result.stderr)
    return json.loads(result.stdout)


def _reference(d: np.ndarray) -> dict:
    """The paired statistics of per-row differences, from their definitions."""
    n = len(d)
    mean = d.sum() / n
    se = math.sqrt(((d - mean) ** 2).sum() / (n - 1) / n)
    z = abs(mean) / se
    p = 2 * stats.norm.sf(z)
    return {"delta": mean, "std_error": se, "interval": [mean - Z975 * se, mean + Z975 * se], "p_value": p}


@pytest.fixture
def data(files):
    y, a, b = _models()
    return {
        "y": y,
        "a": a,
        "b": b,
        "base": files.preds(a.astype(np.float64), "parquet"),
        "cand": files.preds(b.astype(np.float64), "parquet"),
        "labels": files.labels(y, "npy"),
    }


def test_paired_statistics_match_the_definitions_and_ttest_rel(data):
    report = _run(data["base"], data["cand"], "--labels", data["labels"])
    y, a, b = data["y"], data["a"], data["b"]
    rows = np.arange(N)
    ce_a, ce_b = -np.log(a[rows, y]), -np.log(b[rows, y])
    h_a, h_b = -(a * np.log(a)).sum(1), -(b * np.log(b)).sum(1)
    hit_a, hit_b = a.argmax(1) == y, b.argmax(1) == y
    metrics = report["comparisons"][0]["metrics"]
    assert list(metrics) == ["entropy", "cross_entropy", "kl_divergence", "accuracy"]
    for name, (x, z) in {
        "entropy": (h_a, h_b),
        "cross_entropy": (ce_a, ce_b),
        "kl_divergence": (ce_a, ce_b),
        "accuracy": (hit_a.astype(float), hit_b.astype(float)),
    }.items():
        row, ref = metrics[name], _reference(z - x)
        assert row["baseline"] == pytest.approx(x.mean(), rel=1e-12)
        assert row["candidate"] == pytest.approx(z.mean(), rel=1e-12)
        for key in ("delta", "std_error", "p_value"):
            assert row[key] == pytest.approx(ref[key], rel=1e-9, abs=1e-300), (name, key)
        assert row["interval"] == pytest.approx(ref["interval"], rel=1e-9)
        # The t-test on the same per-row values: t = delta / SE; at N = 2,000 the
        # t-distribution's p and interval are within 1e-3 of the normal approximation's.
        t = stats.ttest_rel(z, x)
        assert t.statistic == pytest.approx(row["delta"] / row["std_error"], rel=1e-9)
        assert abs(t.pvalue - row["p_value"]) < 1e-3
        assert list(t.confidence_interval(0.95)) == pytest.approx(row["interval"], abs=1e-3)


def test_mcnemar_and_holm_and_perplexity_ratio_in_the_report(data):
    report = _run(data["base"], data["cand"], "--labels", data["labels"])
    y, a, b = data["y"], data["a"], data["b"]
    c = report["comparisons"][0]
    hit_a, hit_b = a.argmax(1) == y, b.argmax(1) == y
    only_a, only_b = int((hit_a & ~hit_b).sum()), int((hit_b & ~hit_a).sum())
    m = c["accuracy_mcnemar"]
    assert (m["baseline_only"], m["candidate_only"]) == (only_a, only_b)
    assert m["p_value"] == pytest.approx(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue, rel=1e-9)
    metrics = c["metrics"]
    family = [metrics[k]["p_value"] for k in ("entropy", "cross_entropy")] + [m["p_value"]]
    expected = _holm_reference(family)
    got = [metrics[k]["adjusted_p_value"] for k in ("entropy", "cross_entropy", "accuracy")]
    assert got == pytest.approx(expected, rel=1e-12)
    assert metrics["kl_divergence"]["adjusted_p_value"] == metrics["cross_entropy"]["adjusted_p_value"]
    ce = metrics["cross_entropy"]
    ppl = c["perplexity"]
    assert ppl["ratio"] == pytest.approx(math.exp(ce["delta"]), rel=1e-12)
    assert ppl["interval"] == pytest.approx([math.exp(v) for v in ce["interval"]], rel=1e-12)
    rows = np.arange(N)
    ce_a, ce_b = -np.log(a[rows, y]), -np.log(b[rows, y])
    r = c["cross_entropy_rows"]
    assert r["correlation"] == pytest.approx(np.corrcoef(ce_a, ce_b)[0, 1], rel=1e-9)
    d = ce_b - ce_a
    assert (r["wins"], r["ties"], r["losses"]) == (
        int((d < -1e-12).sum()),
        int((abs(d) <= 1e-12).sum()),
        int((d > 1e-12).sum()),
    )


def _holm_reference(p: list[float]) -> list[float]:
    """Holm's adjusted p-values from the definition: sort, scale by m - rank, running max."""
    m = len(p)
    order = np.argsort(p)
    adjusted = np.empty(m)
    best = 0.0
    for rank, i in enumerate(order):
        best = max(best, min(1.0, (m - rank) * p[i]))
        adjusted[i] = best
    return adjusted.tolist()


@pytest.mark.parametrize(
    ("b", "c"), [(0, 0), (3, 3), (0, 5), (5, 0), (12, 30), (400, 460), (100_000, 100_900)]
)
def test_mcnemar_matches_binomtest(b, c):
    from infocli.metrics.stats import mcnemar_p

    expected = 1.0 if b + c == 0 else stats.binomtest(b, b + c, 0.5).pvalue
    assert mcnemar_p(b, c) == pytest.approx(expected, rel=1e-9)


def test_holm_matches_its_definition():
    from infocli.metrics.stats import holm

    rng = np.random.default_rng(3)
    for m in (1, 2, 5, 17):
        p = (rng.uniform(0, 0.2, m) ** 2).tolist()
        p[0] = p[-1]  # ties
        assert holm(p) == pytest.approx(_holm_reference(p), rel=1e-15)
    assert math.isnan(holm([0.01, math.nan])[1])
    assert holm([0.01, math.nan])[0] == 0.01


def test_distribution_block_percentiles_against_np_percentile(data):
    report = _run(data["base"], data["cand"], "--labels", data["labels"], "--base", "2")
    y, a, b = data["y"], data["a"], data["b"]
    kl = (a * (np.log(a) - np.log(b))).sum(1) / math.log(2)
    rows = np.arange(N)
    dp = b[rows, y] - a[rows, y]
    blocks = report["comparisons"][0]["distributions"]
    quantiles = {"min": 0, "p0.1": 0.1, "p1": 1, "p5": 5, "p10": 10, "p50": 50, "p90": 90, "p95": 95,
                 "p99": 99, "p99.9": 99.9, "max": 100}  # fmt: skip
    for name, values in (("kl_divergence", kl), ("delta_p", dp)):
        block = blocks[name]
        alpha = block["relative_accuracy"]
        assert alpha == 0.005
        for key, q in quantiles.items():
            true = np.percentile(values, q, method="lower")
            assert abs(block[key] - true) <= alpha * abs(true) + 1e-12, (name, key, block[key], true)
        assert block["mean"] == pytest.approx(values.mean(), rel=1e-9, abs=1e-15)
        assert block["std_error"] == pytest.approx(values.std(ddof=1) / math.sqrt(N), rel=1e-9)
    assert blocks["delta_p"]["rms"] == pytest.approx(math.sqrt((dp**2).mean()), rel=1e-9)
    agree = a.argmax(1) == b.argmax(1)
    assert blocks["top1_agreement"]["mean"] == agree.mean()
    assert blocks["top1_agreement"]["std_error"] == pytest.approx(agree.std(ddof=1) / math.sqrt(N), rel=1e-9)


def test_eps_floors_log_q_in_the_kl_block(files):
    p = np.array([[0.5, 0.5], [0.9, 0.1]])
    q = np.array([[1.0, 0.0], [0.9, 0.1]])
    base, cand = files.preds(p, "csv"), files.preds(q, "csv")
    report = _run(base, cand, "--eps", "1e-6")
    kl = report["comparisons"][0]["distributions"]["kl_divergence"]
    expected = 0.5 * math.log(0.5) + 0.5 * (math.log(0.5) - math.log(1e-6))
    assert kl["max"] == pytest.approx(expected, rel=1e-12)
    exact = _run(base, cand, "--eps", "0")
    assert exact["comparisons"][0]["distributions"]["kl_divergence"]["max"] == "inf"


def test_identical_models_give_se_0_and_p_1(data):
    report = _run(data["base"], data["base"], "--labels", data["labels"])
    c = report["comparisons"][0]
    for row in c["metrics"].values():
        assert (row["delta"], row["std_error"], row["p_value"], row["adjusted_p_value"]) == (0, 0, 1, 1)
        assert row["verdict"] == "no significant difference"
    assert c["accuracy_mcnemar"]["p_value"] == 1
    assert c["perplexity"]["ratio"] == 1
    assert c["cross_entropy_rows"]["ties"] == N
    assert c["cross_entropy_rows"]["correlation"] == pytest.approx(1.0, abs=1e-12)
    blocks = c["distributions"]
    assert blocks["kl_divergence"]["max"] == pytest.approx(0, abs=1e-12)
    assert blocks["top1_agreement"]["mean"] == 1
    assert blocks["delta_p"]["max"] == 0 and blocks["delta_p"]["min"] == 0


def _numbers(report: dict) -> list:
    """The comparisons' numbers, without the candidates' paths."""
    return [{k: v for k, v in c.items() if k != "candidate"} for c in report["comparisons"]]


def _close(a, b, path="") -> None:
    """Equal structures: counts and strings exactly, floats to float64 rounding."""
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and not isinstance(b, str):
        assert a == pytest.approx(b, rel=1e-10, abs=1e-14), path
    else:
        assert a == b, path


@pytest.mark.parametrize("chunk_rows", [1, 37, 500])
def test_every_statistic_is_chunk_size_invariant(data, chunk_rows):
    whole = _run(data["base"], data["cand"], "--labels", data["labels"])
    chunked = _run(data["base"], data["cand"], "--labels", data["labels"], "--chunk-rows", chunk_rows)
    _close(_numbers(whole), _numbers(chunked))


@pytest.mark.parametrize("cuts", [(1,), (700,), (3, 1200, 1999)])
def test_merged_states_equal_one_run(files, tmp_path, cuts):
    y, a, b = _models(seed=11)
    parts = np.split(np.arange(N), cuts)
    states = []
    for i, rows in enumerate(parts):
        state = tmp_path / f"s{i}.json"
        args = (
            files.preds(a[rows], "npy"),
            files.preds(b[rows], "parquet"),
            "--labels",
            files.labels(y[rows]),
        )
        _run(*args, "--save-state", state)
        states.append(state)
    whole = _run(files.preds(a, "npy"), files.preds(b, "parquet"), "--labels", files.labels(y))
    result = invoke("merge", *states, "--format", "json")
    assert result.exit_code == 0, result.stderr
    merged = json.loads(result.stdout)
    _close(_numbers(whole), _numbers(merged))
    assert merged["n_samples"] == N and len(merged["merged"]) == len(parts)


def test_state_round_trips_bit_exact_and_refuses_tampering(data, tmp_path):
    from infocli.metrics.paired import CompareState
    from infocli.states import load_state, state_text

    path = tmp_path / "s.json"
    _run(data["base"], data["cand"], "--labels", data["labels"], "--save-state", path)
    text = path.read_text()
    state = load_state(str(path))
    assert isinstance(state, CompareState)
    assert state_text(state) == text
    doc = json.loads(text)
    doc["candidates"][0]["discordant"]["candidate_only"] += 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    assert_bad_input(invoke("merge", bad), str(bad), "discordant")
    doc = json.loads(text)
    doc["candidates"][0]["kl_divergence"]["sketch"]["zeros"] += 1
    bad.write_text(json.dumps(doc))
    assert_bad_input(invoke("merge", bad), str(bad), "impossible state")
    doc = json.loads(text)
    doc["settings"]["alpha"] = 2
    bad.write_text(json.dumps(doc))
    assert_bad_input(invoke("merge", bad), str(bad), "settings.alpha")


def test_states_of_different_test_settings_do_not_merge(data, tmp_path):
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    _run(data["base"], data["cand"], "--labels", data["labels"], "--save-state", one)
    _run(data["base"], data["cand"], "--labels", data["labels"], "--save-state", two, "--alpha", "0.01")
    assert_bad_input(invoke("merge", one, two), str(two), "alpha 0.05 vs 0.01")


def test_class_names_are_aligned_by_name(files, data):
    names = class_names(C)
    order = [3, 0, 4, 1, 2]
    permuted = files.preds(data["b"][:, order], "csv", columns=[names[i] for i in order])
    straight = files.preds(data["b"], "csv", columns=names)
    base = files.preds(data["a"], "parquet", columns=names)
    one = _run(base, permuted, "--labels", data["labels"])
    two = _run(base, straight, "--labels", data["labels"])
    _close(_numbers(one), _numbers(two))


def test_labels_from_the_baseline_label_column(files, data):
    with_labels = files.preds(data["a"], "parquet", extra={"label": data["y"]})
    one = _run(with_labels, data["cand"])
    two = _run(data["base"], data["cand"], "--labels", data["labels"])
    _close(_numbers(one), _numbers(two))
    assert one["labels"]["path"] == with_labels


def test_without_labels_only_label_free_comparisons(data):
    report = _run(data["base"], data["cand"])
    c = report["comparisons"][0]
    assert list(c["metrics"]) == ["entropy"]
    assert set(c["distributions"]) == {"kl_divergence", "top1_agreement"}
    assert "accuracy_mcnemar" not in c and "perplexity" not in c
    result = invoke("compare", data["base"], data["cand"], "--fail-if", "delta.cross_entropy > 0")
    assert_bad_input(result, "delta.cross_entropy", "needs labels")


def test_soft_targets_against_the_definitions(files, data):
    rng = np.random.default_rng(5)
    t = _softmax(rng.normal(0, 1, (N, C)) * 2)
    report = _run(data["base"], data["cand"], "--labels", files.preds(t, "parquet"))
    a, b = data["a"], data["b"]
    ce_a, ce_b = -(t * np.log(a)).sum(1), -(t * np.log(b)).sum(1)
    metrics = report["comparisons"][0]["metrics"]
    ref = _reference(ce_b - ce_a)
    assert metrics["cross_entropy"]["std_error"] == pytest.approx(ref["std_error"], rel=1e-9)
    assert metrics["kl_divergence"]["delta"] == pytest.approx(ref["delta"], rel=1e-9)
    assert "tested_as" not in metrics["kl_divergence"]  # soft targets: both enter the family
    assert "delta_p" not in report["comparisons"][0]["distributions"]


def test_fail_if_worse_names_the_candidate_and_follows_the_direction(files, data):
    y = data["y"]
    worse = files.preds(_softmax(np.log(data["a"]) * 0.4), "parquet")  # much less confident
    args = (data["base"], data["cand"], worse, "--labels", data["labels"])
    report = _run(*args, "--fail-if-worse", "cross_entropy", code=1)
    gate = report["fail_if_worse"][0]
    assert gate["failing"] == [worse]
    assert gate["candidates"][0]["failed"] is False
    assert [c["metrics"]["cross_entropy"]["verdict"] for c in report["comparisons"]] == ["better", "worse"]
    _run(data["base"], data["cand"], "--labels", data["labels"], "--fail-if-worse", "cross_entropy")
    del y


def test_fail_if_worse_on_a_metric_without_a_direction_is_a_usage_error(data):
    args = (data["base"], data["cand"], "--labels", data["labels"])
    assert_bad_input(invoke("compare", *args, "--fail-if-worse", "entropy"), "entropy", "no direction")
    assert_bad_input(invoke("compare", *args, "--fail-if-worse", "perplexity"), "cross_entropy")
    assert_bad_input(invoke("compare", *args, "--margin", "1%"), "--fail-if-worse")
    assert_bad_input(invoke("compare", *args, "--fail-if-worse", "accuracy", "--margin", "x"), "--margin")


def test_margin_is_a_one_sided_non_inferiority_bound(data):
    args = (data["base"], data["cand"], "--labels", data["labels"], "--fail-if-worse", "accuracy")
    plain = _run(*args)
    row = plain["comparisons"][0]["metrics"]["accuracy"]
    bound = -row["delta"] + Z95 * row["std_error"]  # how much worse, one-sided 95%
    passing = _run(*args, "--margin", repr(bound * 1.01))
    assert passing["fail_if_worse"][0]["candidates"][0]["bound"] == pytest.approx(bound, rel=1e-12)
    failing = _run(*args, "--margin", repr(bound * 0.99), code=1)
    assert failing["fail_if_worse"][0]["failing"] == [data["cand"]]
    pct = 100 * bound * 0.99 / row["baseline"]
    relative = _run(*args, "--margin", f"{pct!r}%", code=1)
    assert relative["fail_if_worse"][0]["candidates"][0]["margin"] == pytest.approx(bound * 0.99, rel=1e-9)


def test_fail_if_on_comparison_values_fails_when_any_candidate_does(data):
    args = (data["base"], data["cand"], data["base"], "--labels", data["labels"])
    report = _run(
        *args, "--fail-if", "delta.cross_entropy < -0.01", "--fail-if", "kl_divergence.p99 > 100", code=1
    )
    first, second = report["gates"]
    assert first["failed"] and first["failing"] == [data["cand"]]
    delta = report["comparisons"][0]["metrics"]["cross_entropy"]["delta"]
    assert first["value"] == delta
    assert not second["failed"] and second["failing"] == []
    assert_bad_input(invoke("compare", *args, "--fail-if", "delta.perplexity > 1"), "delta.perplexity")


def test_markdown_and_table_reports(data):
    args = (data["base"], data["cand"], "--labels", data["labels"])
    markdown = invoke("compare", *args, "--format", "markdown")
    assert markdown.exit_code == 0
    assert "| cross_entropy |" in markdown.stdout and "KL(p ‖ q)" in markdown.stdout
    table = invoke("compare", *args)
    assert table.exit_code == 0 and "McNemar" in table.stdout and "Δp = q[label] − p[label]" in table.stdout


def test_bad_inputs_name_the_files(files, data):
    short = files.preds(data["b"][:-3], "parquet")
    assert_bad_input(
        invoke("compare", data["base"], short, "--labels", data["labels"]), short, data["base"], "1,997"
    )
    short_npy = files.preds(data["b"][:-3], "csv")
    assert_bad_input(
        invoke("compare", data["base"], short_npy, "--labels", data["labels"]), short_npy, "1,997"
    )
    names = class_names(C)
    base = files.preds(data["a"], "parquet", columns=names)
    other = files.preds(data["b"], "parquet", columns=[*names[:-1], "zebra"])
    assert_bad_input(invoke("compare", base, other, "--labels", data["labels"]), other, repr(names[-1]))
    fewer = files.preds(data["b"][:, :4] / data["b"][:, :4].sum(1, keepdims=True), "parquet")
    assert_bad_input(
        invoke("compare", data["base"], fewer, "--labels", data["labels"]), fewer, "4 classes", "5"
    )
    binary = files.preds(data["b"][:, 0], "parquet")
    assert_bad_input(invoke("compare", data["base"], binary), binary, "binary")
    bad = data["b"].copy()
    bad[1234, 2] = np.nan
    broken = files.preds(bad, "npy")
    assert_bad_input(invoke("compare", data["base"], broken, "--labels", data["labels"]), broken, "1234")
    for option, value in (("--alpha", "1.5"), ("--confidence", "0")):
        assert_bad_input(invoke("compare", data["base"], data["cand"], option, value), option)


def test_metrics_are_read_from_the_registry(monkeypatch):
    from infocli.metrics import paired, registry

    names = [m.name for m in paired.compared_metrics("classes")]
    assert "target_entropy" not in names and "perplexity" not in names
    extra = registry.Metric(
        "brier_like", "a new mean over rows", "Σ_c (q_c − p_c)²", "probability", False, "labels",
        "mean of the new term over rows", "sample standard deviation over rows / sqrt(N)", ("eval",),
    )  # fmt: skip
    monkeypatch.setattr(paired, "metrics_of", lambda command: (*registry.metrics_of(command), extra))
    assert [m.name for m in paired.compared_metrics("classes")] == [*names, "brier_like"]
    assert [m.name for m in paired.compared_metrics(None)] == ["entropy"]
    soft = [m.name for m in paired.compared_metrics("distributions")]
    assert "reverse_kl_divergence" in soft and "top1_agreement" in soft and "accuracy" not in soft
    assert "js_divergence" not in soft
    assert "js_divergence" in [m.name for m in paired.compared_metrics("distributions", {"js_beta": 0.5})]


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1), n=st.integers(2, 60), cut_fractions=st.lists(st.floats(0, 1), max_size=4)
)
def test_paired_state_merges_in_any_split_and_round_trips(seed, n, cut_fractions):
    from infocli.metrics.inputs import to_distributions
    from infocli.metrics.paired import CompareState, PairedState
    from infocli.metrics.scores import kl_rows, score_rows
    from infocli.states import KINDS

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    a, b = (to_distributions(_softmax(rng.normal(0, 2, (n, 3))), "probs") for _ in range(2))
    names = ("entropy", "cross_entropy", "kl_divergence", "accuracy")

    def state(rows: np.ndarray) -> PairedState:
        pa, pb = (to_distributions(d.weights[rows] / d.sums[rows, None], "probs") for d in (a, b))
        s = PairedState.empty(names)
        at = lambda d: np.exp(d.log_weights_at(y[rows])[0] - d.log_sums)  # noqa: E731
        s.update(score_rows(pa, y[rows], eps=1e-12), score_rows(pb, y[rows], eps=1e-12),
                 kl_rows(pb, pa, eps=1e-12)[0], pb.predicts(pa.argmax), at(pb) - at(pa))  # fmt: skip
        return s

    whole = state(np.arange(n))
    cuts = sorted({int(f * n) for f in cut_fractions})
    parts = [state(rows) for rows in np.split(np.arange(n), cuts) if len(rows)]
    merged = PairedState.empty(names)
    for part in parts:
        merged.merge(part)
    one, two = whole.compute("e", 0.95), merged.compute("e", 0.95)
    _close(one, two)
    settings_ = {"kind": "probs", "binary": False, "label_form": "index", "target_kind": None, "n_classes": 3,
                 "class_names": None, "eps": 1e-12, "temperature": 1.0, "tol": 1e-3, "ignore_index": None,
                 "js_beta": None, "t2": False, "format_version": 1, "calibration": None, "fit_temperature": None, "candidate_kinds": ["probs"], "metrics": list(names), "confidence": 0.95,
                 "alpha": 0.05}  # fmt: skip
    info = {"path": "x", "format": "npy", "kind": "probs"}
    full = CompareState(settings_, [{"baseline": info, "candidates": [info], "labels": info}], [merged])
    text = json.dumps(full.to_dict())
    again = KINDS["compare"].from_dict(json.loads(text))
    assert json.dumps(again.to_dict()) == text


def test_ignored_rows_are_left_out_of_every_statistic(files, data):
    y = data["y"].copy()
    y[:700] = -100  # whole chunks of ignored rows, and part of one
    labels = files.labels(y)
    report = _run(
        data["base"], data["cand"], "--labels", labels, "--ignore-index", "-100", "--chunk-rows", "300"
    )
    kept = np.arange(700, N)
    one = _run(files.preds(data["a"][kept], "npy"), files.preds(data["b"][kept], "npy"), "--labels",
               files.labels(data["y"][kept]))  # fmt: skip
    assert report["n_ignored"] == 700 and report["n_samples"] == N - 700
    _close(_numbers(report), _numbers(one))


def test_the_sample_models_and_the_readme_outcomes(monkeypatch):
    from tests.conftest import SAMPLE_DATA

    monkeypatch.chdir(SAMPLE_DATA.parent)  # relative paths, as in the README
    args = (
        "sample_data/probs.parquet",
        "sample_data/probs_b.parquet",
        "--labels",
        "sample_data/labels.parquet",
    )
    report = _run(*args)
    metrics = report["comparisons"][0]["metrics"]
    assert metrics["cross_entropy"]["verdict"] == "better"
    assert metrics["accuracy"]["verdict"] == "no significant difference"
    readme = (SAMPLE_DATA.parent / "README.md").read_text(encoding="utf-8")
    unpaired = {}
    for name in ("cross_entropy", "accuracy"):
        se = []
        for preds in args[:2]:
            result = invoke("eval", preds, args[3], "--format", "json")
            se.append(json.loads(result.stdout)["standard_error"][name])
        unpaired[name] = math.hypot(*se)
        paired = metrics[name]["std_error"]
        row = f"| {se[0]:.4f} | {se[1]:.4f} | {unpaired[name]:.4f} | {paired:.4f} |"
        assert row in readme, row
        assert paired < unpaired[name] / 2
    assert invoke("compare", *args, "--fail-if-worse", "accuracy").exit_code == 0
    assert invoke("compare", *args, "--fail-if-worse", "accuracy", "--margin", "0.5%").exit_code == 1
    student = ("sample_data/probs.parquet", "sample_data/student.parquet", *args[2:])
    assert invoke("compare", *student, "--fail-if", "kl_divergence.p99 > 0.25").exit_code == 1
    teacher = invoke(
        "compare", "sample_data/teacher.parquet", "sample_data/student.parquet", "--format", "markdown"
    )
    assert teacher.exit_code == 0 and "| entropy |" in teacher.stdout


def test_unnamed_classes_are_matched_by_position_with_a_warning(files, data):
    unnamed = files.preds(data["b"], "npy")
    named = files.preds(data["b"], "parquet", columns=class_names(C))
    one = _run(data["base"], unnamed, "--labels", data["labels"])
    two = _run(data["base"], named, "--labels", data["labels"])
    _close(_numbers(one), _numbers(two))
    assert any("by position" in w and unnamed in w for w in one["warnings"])


def test_a_short_file_among_three_streamed_is_named_with_both_counts(files, data):
    base, cand = files.preds(data["a"], "csv"), files.preds(data["b"], "csv")  # row counts unknown up front
    short = files.labels(data["y"][:-5], "csv")
    line = assert_bad_input(invoke("compare", base, cand, "--labels", short), short, "1,995", "2,000")
    assert base in line or cand in line
    long_candidate = files.preds(np.vstack([data["b"], data["b"][:3]]), "csv")
    assert_bad_input(
        invoke("compare", base, long_candidate, "--labels", files.labels(data["y"], "csv")), "2,003"
    )


def test_holm_family_spans_every_metric_and_candidate(files, data):
    third = files.preds(_softmax(np.log(data["a"]) * 1.1), "parquet")
    report = _run(data["base"], data["cand"], third, "--labels", data["labels"])
    family, adjusted = [], []
    for c in report["comparisons"]:
        m = c["metrics"]
        for name in ("entropy", "cross_entropy", "accuracy"):  # kl_divergence enters as cross_entropy
            family.append(c["accuracy_mcnemar"]["p_value"] if name == "accuracy" else m[name]["p_value"])
            adjusted.append(m[name]["adjusted_p_value"])
        assert m["kl_divergence"]["adjusted_p_value"] == m["cross_entropy"]["adjusted_p_value"]
        for row in m.values():
            assert row["significant"] is (row["adjusted_p_value"] <= 0.05)
    assert adjusted == pytest.approx(_holm_reference(family), rel=1e-12)
    strict = _run(data["base"], data["cand"], third, "--labels", data["labels"], "--alpha", "1e-300")
    assert not any(
        r["significant"] for c in strict["comparisons"] for r in c["metrics"].values() if r["p_value"] > 0
    )
