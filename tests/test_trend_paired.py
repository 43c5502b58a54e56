"""trend's paired tests of each checkpoint's change: against references written from the
definitions (per-row differences with labels; per-sequence sums through the ratio
estimator for token files) and SciPy, and the gate that needs significance."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats

from tests.cli_helpers import assert_bad_input, invoke, run_json
from tests.conftest import SAMPLE_DATA


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _p(d: float, se: float) -> float:
    return 2 * stats.norm.sf(abs(d) / se)


def _ppl_change_se(x: np.ndarray, y: np.ndarray, var_x: float, var_y: float) -> float:
    """Delta method for exp(mean y) − exp(mean x): gradient (−e^x̄, e^ȳ) and the covariance
    matrix of the two means (np.cov of the per-unit values over n)."""
    cov = np.array([[var_x, 0.0], [0.0, var_y]])
    cov[0, 1] = cov[1, 0] = (var_x + var_y - np.var(y - x, ddof=1) / len(x)) / 2
    g = np.array([-math.exp(x.mean()), math.exp(y.mean())])
    return math.sqrt(g @ cov @ g)


def test_label_checkpoints_changes_against_the_definitions_and_ttest_rel(files):
    rng = np.random.default_rng(41)
    n, c = 3_000, 4
    y = rng.integers(0, c, n)
    noise = rng.normal(0, 1, (n, c))
    probs = {}
    for step, sharp in ((100, 0.8), (200, 1.6), (300, 1.4)):
        probs[step] = _softmax(noise + sharp * np.eye(c)[y] + rng.normal(0, 0.3, (n, c)))
    paths = [files.preds(probs[s], "npy", name=f"ckpt_{s}.npy") for s in probs]
    doc = run_json("trend", *paths, "--labels", files.labels(y))
    ce = {s: -np.log(p[np.arange(n), y]) for s, p in probs.items()}
    rows = doc["checkpoints"]
    assert [r["best"] for r in rows] == [False, True, False]
    for row, (other, this) in zip(rows[1:], ((100, 200), (200, 300)), strict=True):
        d = ce[this] - ce[other]
        se = d.std(ddof=1) / math.sqrt(n)
        assert row["change_cross_entropy"] == pytest.approx(d.mean(), rel=1e-9)
        assert row["change_cross_entropy_se"] == pytest.approx(se, rel=1e-9)
        assert row["change_p_value"] == pytest.approx(_p(d.mean(), se), rel=1e-6, abs=1e-300)
        assert abs(stats.ttest_rel(ce[this], ce[other]).pvalue - row["change_p_value"]) < 1e-3
        var = [v.std(ddof=1) ** 2 / n for v in (ce[other], ce[this])]
        assert row["change_se"] == pytest.approx(_ppl_change_se(ce[other], ce[this], *var), rel=1e-6)
        assert row["change_significant"] is (row["change_p_value"] <= 0.05)
    last = rows[2]
    d = ce[300] - ce[200]
    assert last["from_best_cross_entropy"] == pytest.approx(d.mean(), rel=1e-9)
    assert rows[1]["from_best_se"] is None and rows[0]["change_se"] is None
    bits = run_json("trend", *paths, "--labels", files.labels(y), "--base", "2")["checkpoints"]
    assert bits[1]["change_cross_entropy"] == pytest.approx(rows[1]["change_cross_entropy"] / math.log(2))


def _token_file(folder, step, logprob, seq, mask):
    path = folder / f"lm_{step}.parquet"
    pq.write_table(pa.table({"logprob": logprob, "seq": seq, "mask": mask}), path)
    return str(path)


def test_token_checkpoints_take_sequences_as_the_unit(tmp_path):
    rng = np.random.default_rng(42)
    lengths = rng.integers(3, 30, 60)
    seq = np.repeat(np.arange(60), lengths)
    mask = rng.random(len(seq)) > 0.1
    difficulty = rng.gamma(2.0, 1.0, len(seq))
    nll = {s: difficulty * k * np.exp(rng.normal(0, 0.2, len(seq))) for s, k in ((1, 1.0), (2, 0.9))}
    paths = [_token_file(tmp_path, s, np.where(mask, -v, np.nan), seq, mask) for s, v in nll.items()]
    doc = run_json("trend", *paths, "--seq-col", "seq", "--mask-col", "mask")
    kept = seq[mask]
    n_s = np.bincount(kept, minlength=60).astype(float)
    sums = {s: np.bincount(kept, weights=v[mask], minlength=60) for s, v in nll.items()}
    d_s = sums[2] - sums[1]
    ratio = d_s.sum() / n_s.sum()
    S = len(n_s)
    se = math.sqrt(S / (S - 1) * ((d_s - ratio * n_s) ** 2).sum()) / n_s.sum()
    row = doc["checkpoints"][1]
    assert row["change_cross_entropy"] == pytest.approx(ratio, rel=1e-9)
    assert row["change_cross_entropy_se"] == pytest.approx(se, rel=1e-9)
    assert row["change_p_value"] == pytest.approx(_p(ratio, se), rel=1e-6, abs=1e-300)
    assert row["change_significant"] is True


def test_identical_checkpoints_give_se_0_and_p_1(files):
    rng = np.random.default_rng(43)
    y = rng.integers(0, 3, 500)
    p = _softmax(rng.normal(0, 1, (500, 3)))
    paths = [files.preds(p, "npy", name=f"ckpt_{s}.npy") for s in (1, 2)]
    row = run_json("trend", *paths, "--labels", files.labels(y))["checkpoints"][1]
    assert (row["change_cross_entropy"], row["change_cross_entropy_se"], row["change_se"]) == (0, 0, 0)
    assert row["change_p_value"] == 1 and row["change_significant"] is False


def test_fail_if_worse_needs_the_difference_to_be_significant(files):
    rng = np.random.default_rng(44)
    n = 40  # too few rows to tell a small relapse from noise
    y = rng.integers(0, 3, n)
    base = rng.normal(0, 1, (n, 3)) + 1.5 * np.eye(3)[y]
    worse = base + rng.normal(0, 0.3, (n, 3))
    paths = [files.preds(z, "npy", name=f"ckpt_{s}.npy") for s, z in ((1, base), (2, worse))]
    doc = run_json("trend", *paths, "--labels", files.labels(y), "--fail-if-worse", "0")
    last = doc["checkpoints"][1]
    assert last["from_best_pct"] > 0 and last["from_best_significant"] is False
    assert doc["gate"]["failed"] is False
    loose = run_json(
        "trend", *paths, "--labels", files.labels(y), "--fail-if-worse", "0", "--alpha", "0.99", code=1
    )
    assert loose["gate"] == {"pct": 0.0, "alpha": 0.99, "failed": True}
    assert_bad_input(invoke("trend", *paths, "--labels", files.labels(y), "--alpha", "1"), "--alpha")


def test_token_checkpoints_of_other_tokens_exit_2_naming_both_files(tmp_path):
    seq = np.repeat(np.arange(3), 4)
    mask = np.ones(12, dtype=bool)
    a = _token_file(tmp_path, 1, -np.ones(12), seq, mask)
    b = _token_file(tmp_path, 2, -np.ones(11), seq[1:], mask[1:])
    assert_bad_input(invoke("trend", a, b, "--seq-col", "seq"), b, a, "sequence 0 has 3 tokens, 4")
    masked = mask.copy()
    masked[5] = False
    c = _token_file(tmp_path, 3, -np.ones(12), seq, masked)
    assert_bad_input(invoke("trend", a, c, "--seq-col", "seq", "--mask-col", "mask"), c, a)
    other_ids = _token_file(tmp_path, 4, -np.ones(12), seq + 1, mask)
    assert_bad_input(invoke("trend", a, other_ids, "--seq-col", "seq"), other_ids, "sequence")


def test_prediction_checkpoints_of_other_rows_exit_2(files):
    y = np.zeros(10, dtype=np.int64)
    p = np.full((10, 2), 0.5)
    short = files.preds(p[:9], "npy", name="ckpt_2.npy")
    assert_bad_input(
        invoke("trend", files.preds(p, "npy", name="ckpt_1.npy"), short, "--labels", files.labels(y)), short
    )


def test_sample_checkpoints_as_the_readme_shows(monkeypatch):
    monkeypatch.chdir(SAMPLE_DATA.parent)
    paired = sorted(
        f"sample_data/checkpoints/{p.name}" for p in (SAMPLE_DATA / "checkpoints").glob("lm_paired_step_*")
    )
    result = invoke("trend", *paired, "--seq-col", "seq", "--mask-col", "mask", "--fail-if-worse", "5")
    assert result.exit_code == 1 and "*" in result.stdout
    unpaired = sorted(
        f"sample_data/checkpoints/{p.name}" for p in (SAMPLE_DATA / "checkpoints").glob("lm_step_*")
    )
    assert_bad_input(
        invoke("trend", *unpaired, "--seq-col", "seq", "--mask-col", "mask"), "scores other tokens"
    )
    clf = sorted(
        f"sample_data/checkpoints/{p.name}" for p in (SAMPLE_DATA / "checkpoints").glob("clf_step_*")
    )
    assert invoke("trend", *clf, "--labels", "sample_data/labels.npy", "--fail-if-worse", "5").exit_code == 1
    assert invoke("trend", *clf, "--labels", "sample_data/labels.npy", "--fail-if-worse", "10").exit_code == 0
