"""The metrics core (infocli.metrics) against independent references.

Every expected value comes from scipy (``entropy``, ``rel_entr``, ``softmax``,
``log_softmax``, ``expit``), scikit-learn's ``log_loss``, plain NumPy written differently,
a pure-Python loop, or a literal that can be checked by hand. Nothing here computes an
expected value with infocli itself.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from scipy.special import expit, log_softmax, rel_entr, softmax
from scipy.stats import entropy as scipy_entropy
from sklearn.metrics import log_loss

from infocli.errors import InfoCliError
from infocli.evaluate import evaluate_arrays
from infocli.metrics.inputs import binary_to_two_classes, check_class_indices, detect_kind, to_distributions
from infocli.metrics.scores import Scorer, score_rows

# ------------------------------------------------------------------------------ tolerances

REL_F64 = 1e-6
"""Relative tolerance for float64 inputs against a reference computed another way."""
REL_F64_TIGHT = 1e-9
"""Relative tolerance where float64 is exact enough (identities, same-formula literals)."""
REL_F32 = 1e-4
"""Relative tolerance for float32 inputs against a float64 reference of the same values."""
ABS_ZERO = 1e-12
"""Absolute tolerance for quantities that are exactly 0 in exact arithmetic."""

LN_BASE = {"e": 1.0, "2": math.log(2), "10": math.log(10)}
UNITS = {"e": "nats", "2": "bits", "10": "hartleys"}
EPS_DEFAULT = 1e-12


def seed_of(*parts) -> int:
    """A stable seed from test parameters (Python's hash() is salted per process)."""
    return zlib.crc32("|".join(map(str, parts)).encode())


def rel_for(dtype) -> float:
    return REL_F32 if np.dtype(dtype) == np.float32 else REL_F64


# --------------------------------------------------------------------------- references


def ref_log_probs(values: np.ndarray, kind: str, temperature: float = 1.0) -> np.ndarray:
    """float64 log-probabilities of the values as documented, via scipy (never infocli)."""
    x = np.asarray(values, dtype=np.float64)
    if kind == "probs":
        with np.errstate(divide="ignore"):
            logs = np.log(x)
        # rows within tol are renormalised exactly; for T != 1 this is softmax(log q / T)
        return log_softmax(logs / temperature, axis=1)
    return log_softmax(x / temperature, axis=1)


def ref_probs(values: np.ndarray, kind: str, temperature: float = 1.0) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    if kind == "probs":
        if temperature == 1.0:
            return x / x.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore"):
            return softmax(np.log(x) / temperature, axis=1)
    return softmax(x / temperature, axis=1)


def sem(values: np.ndarray) -> float:
    """Standard error of the mean: sample std (ddof=1) / sqrt(n)."""
    values = np.asarray(values, dtype=np.float64)
    return float(np.std(values, ddof=1) / np.sqrt(values.size))


def encode(probs: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """The same float64 distributions written as probs, logits (random shift) or logprobs."""
    if kind == "probs":
        return probs
    with np.errstate(divide="ignore"):
        logs = np.log(probs)
    if kind == "logprobs":
        return logs
    # logits: log-probabilities plus an arbitrary per-row constant (softmax-invariant)
    return logs + rng.uniform(-3.0, 5.0, size=(probs.shape[0], 1))


def random_scores(rng: np.random.Generator, n: int, c: int, kind: str, scale: float = 2.0) -> np.ndarray:
    """float64 scores of the given kind from normal logits (no probability below ~1e-10)."""
    z = rng.normal(scale=scale, size=(n, c))
    if kind == "probs":
        return softmax(z, axis=1)
    if kind == "logprobs":
        return log_softmax(z, axis=1)
    return z + 1.0  # some values positive, so these cannot be mistaken for log-probabilities


def assert_close(actual: float, expected: float, rel: float, what: str = "") -> None:
    assert actual == pytest.approx(expected, rel=rel, abs=0), f"{what}: {actual!r} vs {expected!r}"


# ----------------------------------------------------------- 1. class-index labels vs sklearn

SIZES = [
    # (n_classes, n_rows)
    (2, 57),  # binary given as two columns
    (3, 40),  # small multiclass
    (10, 123),  # typical classifier
    (1000, 31),  # wide, few rows
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["probs", "logits", "logprobs"])
@pytest.mark.parametrize(("n_classes", "n_rows"), SIZES)
def test_class_index_metrics_match_sklearn_log_loss_and_scipy_entropy(n_classes, n_rows, kind, dtype):
    rng = np.random.default_rng(seed_of(n_classes, n_rows, kind, np.dtype(dtype)))
    values = random_scores(rng, n_rows, n_classes, kind).astype(dtype)
    labels = rng.integers(0, n_classes, size=n_rows)
    rel = rel_for(dtype)

    # float64 reference from the very values infocli sees
    log_q = ref_log_probs(values, kind)
    q = np.exp(log_q)
    rows = np.arange(n_rows)
    ce_rows = -log_q[rows, labels]
    h_rows = scipy_entropy(q, axis=1)
    correct = q.argmax(axis=1) == labels
    ref_ce = log_loss(labels, y_proba=q, labels=list(range(n_classes)))
    ref_h = float(h_rows.mean())
    assert_close(float(ce_rows.mean()), ref_ce, REL_F64_TIGHT, "the two references agree")

    state = evaluate_arrays(values, labels, kind=kind)
    for base in ("e", "2", "10"):
        r = state.compute(base=base)
        ln = LN_BASE[base]
        assert r.base == base and r.unit == UNITS[base]
        assert r.n_samples == n_rows and r.n_clipped == 0
        assert set(r.metrics) == {
            "entropy",
            "target_entropy",
            "cross_entropy",
            "kl_divergence",
            "perplexity",
            "accuracy",
        }
        assert_close(r.metrics["cross_entropy"], ref_ce / ln, rel, f"cross_entropy base {base}")
        assert_close(r.metrics["kl_divergence"], ref_ce / ln, rel, f"kl base {base}")
        assert r.metrics["target_entropy"] == 0.0
        assert_close(r.metrics["entropy"], ref_h / ln, rel, f"entropy base {base}")
        assert_close(r.metrics["perplexity"], math.exp(ref_ce), rel, f"perplexity base {base}")
        assert r.metrics["accuracy"] == pytest.approx(float(correct.mean()), abs=ABS_ZERO)

        se = r.standard_error
        assert_close(se["cross_entropy"], sem(ce_rows) / ln, rel, "SE cross_entropy")
        assert_close(se["kl_divergence"], sem(ce_rows) / ln, rel, "SE kl")
        assert_close(se["entropy"], sem(h_rows) / ln, rel, "SE entropy")
        assert se["target_entropy"] == 0.0
        ref_ppl_se = math.exp(ref_ce) * sem(ce_rows)  # delta method, in nats whatever the base
        assert_close(se["perplexity"], ref_ppl_se, rel, "SE perplexity")
        assert se["accuracy"] == pytest.approx(sem(correct.astype(float)), rel=REL_F64_TIGHT, abs=ABS_ZERO)


@pytest.mark.parametrize("chunk_rows", [None, 4])
@pytest.mark.parametrize("kind", ["probs", "logits", "logprobs"])
def test_fortran_ordered_inputs_with_ties_match_the_reference(kind, chunk_rows):
    # columnar readers hand over class-major (Fortran-order) chunks; argmax must still be
    # the first class on ties
    rng = np.random.default_rng(seed_of("fortran", kind, chunk_rows))
    n, c = 12, 5
    z = rng.normal(size=(n, c))
    z[::2, 3] = z[::2, 1] = z[::2].max(axis=1) + 1.0  # rows with a two-way tie for the maximum
    z[5] = 0.0  # a row tied in every class
    values = np.asfortranarray({"probs": softmax(z, axis=1), "logprobs": log_softmax(z, axis=1)}.get(kind, z))
    labels = rng.integers(0, c, size=n)
    labels[::2] = 1  # the first of the tied classes
    log_q = ref_log_probs(values, kind)
    first_argmax = np.array([int(np.flatnonzero(row == row.max())[0]) for row in values])
    r = evaluate_arrays(values, labels, kind=kind, chunk_rows=chunk_rows).compute()
    assert_close(r.metrics["cross_entropy"], float(-log_q[np.arange(n), labels].mean()), REL_F64)
    assert_close(r.metrics["entropy"], float(scipy_entropy(np.exp(log_q), axis=1).mean()), REL_F64)
    assert r.metrics["accuracy"] == pytest.approx(float((first_argmax == labels).mean()), abs=ABS_ZERO)


@pytest.mark.parametrize("chunk_rows", [None, 7])
@pytest.mark.parametrize(("dtype", "rel"), [(np.float32, REL_F32), (np.float64, REL_F64)])
def test_class_major_probabilities_without_ties_match_scikit_learn(dtype, rel, chunk_rows):
    # without ties, one gather of each row's score at its label serves both the hit and
    # (through its log) the cross-entropy
    rng = np.random.default_rng(seed_of("class-major", dtype, chunk_rows))
    probs = softmax(rng.normal(size=(60, 6)), axis=1).astype(dtype)
    labels = rng.integers(0, 6, size=60)
    r = evaluate_arrays(np.asfortranarray(probs), labels, kind="probs", chunk_rows=chunk_rows).compute()
    exact = probs.astype(np.float64)
    exact /= exact.sum(axis=1, keepdims=True)  # as infocli renormalises rows off by float32 rounding
    assert_close(r.metrics["cross_entropy"], log_loss(labels, exact, labels=list(range(6))), rel)
    assert_close(r.metrics["entropy"], float(scipy_entropy(exact, axis=1).mean()), rel)
    assert r.metrics["accuracy"] == pytest.approx(
        float((probs.argmax(axis=1) == labels).mean()), abs=ABS_ZERO
    )


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("n_classes", [3, 10, 40])
def test_per_row_terms_do_not_depend_on_where_the_chunk_is_cut(order, n_classes):
    # each row is summed the same way in a chunk of one row as in a chunk of many, in
    # row-major memory (.npy) and in class-major memory (Parquet, CSV) alike
    rng = np.random.default_rng(seed_of("cut", order, n_classes))
    n = 50
    probs = softmax(rng.normal(scale=3.0, size=(n, n_classes)), axis=1).astype(np.float32)
    probs *= rng.uniform(0.9999, 1.0001, size=(n, 1)).astype(np.float32)  # off by rounding
    values = np.asarray(probs, order=order)
    labels = rng.integers(0, n_classes, size=n)

    def rows(start, stop):
        q = to_distributions(values[start:stop], "probs")
        scores = score_rows(q, labels[start:stop], eps=1e-12)
        return np.stack([q.sums, scores.entropy, scores.cross_entropy])

    whole = rows(0, n)
    for size in (1, 2, 7):
        cut = np.concatenate([rows(start, min(start + size, n)) for start in range(0, n, size)], axis=1)
        np.testing.assert_array_equal(cut, whole)


def test_integral_float_labels_are_class_indices():
    rng = np.random.default_rng(11)
    probs = softmax(rng.normal(size=(20, 4)), axis=1)
    labels = rng.integers(0, 4, size=20)
    ref = log_loss(labels, y_proba=probs, labels=[0, 1, 2, 3])
    r = evaluate_arrays(probs, labels.astype(np.float64), kind="probs").compute()
    assert_close(r.metrics["cross_entropy"], ref, REL_F64)
    assert_close(r.metrics["accuracy"], float((probs.argmax(1) == labels).mean()), REL_F64_TIGHT)


def test_without_targets_only_entropy_is_reported():
    rng = np.random.default_rng(12)
    z = rng.normal(size=(30, 6))
    r = evaluate_arrays(z, kind="logits").compute(base="2")
    assert set(r.metrics) == {"entropy"} and set(r.standard_error) == {"entropy"}
    h_rows = scipy_entropy(softmax(z, axis=1), axis=1, base=2)
    assert_close(r.metrics["entropy"], float(h_rows.mean()), REL_F64)
    assert_close(r.standard_error["entropy"], sem(h_rows), REL_F64)
    assert r.n_samples == 30


def test_rows_within_tol_are_renormalised_exactly():
    rng = np.random.default_rng(13)
    probs = softmax(rng.normal(size=(25, 5)), axis=1)
    scaled = probs * rng.uniform(1 - 8e-4, 1 + 8e-4, size=(25, 1))  # sums off by < tol = 1e-3
    labels = rng.integers(0, 5, size=25)
    r = evaluate_arrays(scaled, labels, kind="probs", tol=1e-3).compute()
    assert_close(r.metrics["cross_entropy"], log_loss(labels, y_proba=probs, labels=range(5)), REL_F64)
    assert_close(r.metrics["entropy"], float(scipy_entropy(probs, axis=1).mean()), REL_F64)


def test_a_tolerance_below_rounding_is_still_enforced():
    # 0.5 + 2 ulp: row 1 sums to 1 + 2.2e-16, within the rounding of two float64 values
    # (4.4e-16), so it is accepted as it is; --tol 1e-16 is tighter than that and rejects it
    probs = np.array([[0.5, 0.5], [0.5, 0.5 + np.finfo(np.float64).eps]])
    assert probs[1].sum() == 1 + np.finfo(np.float64).eps
    labels = np.array([0, 1])
    assert evaluate_arrays(probs, labels, kind="probs").n_renormalised == 0
    with pytest.raises(InfoCliError) as info:
        evaluate_arrays(probs, labels, kind="probs", tol=1e-16)
    assert info.value.row == 1
    assert "row sums to 1" in info.value.message


TOL_BOUNDARY_CASES = [
    # (kind, factor on row 3, tol, accepted)
    ("probs", 1.0008, 1e-3, True),  # 8e-4 off, inside tol
    ("probs", 1.002, 1e-3, False),  # 2e-3 off, just outside tol
    ("probs", 0.998, 1e-3, False),  # the same below 1
    ("probs", 1.002, 3e-3, True),  # a raised tol accepts it
    ("logprobs", 1.0008, 1e-3, True),  # exp(log-probs) sums 1.0008
    ("logprobs", 0.998, 1e-3, False),  # exp(log-probs) sums 0.998
]


@pytest.mark.parametrize(("kind", "factor", "tol", "accepted"), TOL_BOUNDARY_CASES)
def test_row_sum_tolerance_boundary(kind, factor, tol, accepted):
    probs = np.full((5, 4), 0.25)
    probs[3] = np.array([0.1, 0.2, 0.3, 0.4]) * factor
    values = np.log(probs) if kind == "logprobs" else probs
    labels = np.array([0, 1, 2, 3, 0])
    if accepted:
        r = evaluate_arrays(values, labels, kind=kind, tol=tol).compute()
        rows = [math.log(4)] * 5  # uniform rows
        rows[3] = -math.log(0.4)  # row 3 renormalised to (0.1, 0.2, 0.3, 0.4), label 3
        assert_close(r.metrics["cross_entropy"], sum(rows) / 5, REL_F64)
    else:
        with pytest.raises(InfoCliError) as info:
            evaluate_arrays(values, labels, kind=kind, tol=tol)
        assert info.value.row == 3
        assert f"{factor:g}" in info.value.message


# ---------------------------------------------------------------------- 2. soft targets

SOFT_CASES = [
    # (pred kind, target kind, target style, dtype)
    ("probs", "probs", "dense", np.float64),  # both probability matrices
    ("logits", "logits", "dense", np.float64),  # student and teacher logits, target_kind="logits"
    ("logprobs", "probs", "dense", np.float64),  # predictions and targets of different kinds
    ("probs", "logprobs", "dense", np.float64),  # ... the other way round
    ("logits", "probs", "zeros", np.float64),  # targets with exact zeros (0 log 0 = 0)
    ("probs", "logprobs", "zeros", np.float64),  # zeros given as -inf log-probabilities
    ("logits", "probs", "onehot", np.float64),  # one-hot rows: KL == CE, H(p) == 0
    ("logprobs", "logprobs", "onehot", np.float64),  # one-hot as log-probabilities 0 / -inf
    ("logits", "logits", "dense", np.float32),  # float32 student and teacher logits
    ("probs", "probs", "zeros", np.float32),  # float32 probabilities with exact zeros
]


def _soft_targets(rng, n, c, style):
    p = softmax(rng.normal(scale=1.5, size=(n, c)), axis=1)
    if style == "zeros":
        p[rng.random((n, c)) < 0.4] = 0.0
        p[np.arange(n), rng.integers(0, c, size=n)] += 0.5  # at least one positive weight per row
        p /= p.sum(axis=1, keepdims=True)
    elif style == "onehot":
        p = np.eye(c)[rng.integers(0, c, size=n)]
    return p


@pytest.mark.parametrize(("pred_kind", "target_kind", "style", "dtype"), SOFT_CASES)
def test_soft_target_metrics_match_scipy(pred_kind, target_kind, style, dtype):
    rng = np.random.default_rng(seed_of(pred_kind, target_kind, style, np.dtype(dtype)))
    n, c = 64, 7
    preds = encode(softmax(rng.normal(scale=1.5, size=(n, c)), axis=1), pred_kind, rng).astype(dtype)
    targets = encode(_soft_targets(rng, n, c, style), target_kind, rng).astype(dtype)
    rel = rel_for(dtype)
    # the identity holds to the rounding of the input precision (per-element work stays float32)
    rel_identity = REL_F64_TIGHT if np.dtype(dtype) == np.float64 else REL_F32

    q = ref_probs(preds, pred_kind)
    p = ref_probs(targets, target_kind)
    h_p = scipy_entropy(p, axis=1)
    kl_rows = rel_entr(p, q).sum(axis=1)
    ce_rows = -(p * np.log(q)).sum(axis=1)  # q > 0 everywhere here

    state = evaluate_arrays(preds, targets, kind=pred_kind, target_kind=target_kind)
    r = state.compute()
    assert r.n_clipped == 0
    assert_close(r.metrics["cross_entropy"], float(ce_rows.mean()), rel, "cross_entropy")
    assert_close(r.metrics["kl_divergence"], float(kl_rows.mean()), rel, "kl")
    assert_close(r.metrics["entropy"], float(scipy_entropy(q, axis=1).mean()), rel, "entropy")
    assert_close(r.metrics["perplexity"], math.exp(ce_rows.mean()), rel, "perplexity")
    assert r.metrics["top1_agreement"] == pytest.approx(
        float((p.argmax(1) == q.argmax(1)).mean()), abs=ABS_ZERO
    )
    assert_close(r.standard_error["kl_divergence"], sem(kl_rows), rel, "SE kl")
    assert_close(r.standard_error["cross_entropy"], sem(ce_rows), rel, "SE cross_entropy")
    if style == "onehot":
        assert r.metrics["target_entropy"] == pytest.approx(0.0, abs=ABS_ZERO)
        assert r.metrics["kl_divergence"] == pytest.approx(r.metrics["cross_entropy"], rel=rel_identity)
    else:
        assert_close(r.metrics["target_entropy"], float(h_p.mean()), rel, "target_entropy")
        assert_close(r.standard_error["target_entropy"], sem(h_p), rel, "SE target_entropy")
    # computed separately, so the identity is a real check
    m = r.metrics
    assert m["cross_entropy"] == pytest.approx(m["target_entropy"] + m["kl_divergence"], rel=rel_identity)


def test_kl_of_a_distribution_with_itself_is_zero_in_every_kind():
    rng = np.random.default_rng(21)
    p = softmax(rng.normal(size=(40, 9)), axis=1)
    for pred_kind, target_kind in [("probs", "probs"), ("logits", "logprobs"), ("logprobs", "logits")]:
        preds = encode(p, pred_kind, rng)
        targets = encode(p, target_kind, rng)
        r = evaluate_arrays(preds, targets, kind=pred_kind, target_kind=target_kind).compute()
        assert r.metrics["kl_divergence"] == pytest.approx(0.0, abs=ABS_ZERO), (pred_kind, target_kind)
        h = float(scipy_entropy(p, axis=1).mean())
        assert_close(r.metrics["cross_entropy"], h, REL_F64, "H(p, p) = H(p)")
        assert_close(r.metrics["target_entropy"], h, REL_F64, "target entropy")
        assert r.metrics["top1_agreement"] == 1.0


# ----------------------------------------------------------------------- 3. temperature


@pytest.mark.parametrize("temperature", [0.5, 2.0, 4.0])
@pytest.mark.parametrize("kind", ["logits", "probs", "logprobs"])
def test_temperature_matches_scipy_softmax_for_predictions_and_targets(kind, temperature):
    rng = np.random.default_rng(seed_of(kind, temperature))
    n, c = 50, 6
    student = rng.normal(scale=2.0, size=(n, c))
    teacher = rng.normal(scale=2.0, size=(n, c))
    if kind == "logits":
        preds, targets = student, teacher
        q = softmax(student / temperature, axis=1)
        p = softmax(teacher / temperature, axis=1)
    elif kind == "logprobs":
        preds, targets = log_softmax(student, axis=1), log_softmax(teacher, axis=1)
        q = softmax(preds / temperature, axis=1)
        p = softmax(targets / temperature, axis=1)
    else:
        preds, targets = softmax(student, axis=1), softmax(teacher, axis=1)
        q = softmax(np.log(preds) / temperature, axis=1)
        p = softmax(np.log(targets) / temperature, axis=1)

    soft = evaluate_arrays(preds, targets, kind=kind, target_kind=kind, temperature=temperature).compute()
    assert_close(soft.metrics["entropy"], float(scipy_entropy(q, axis=1).mean()), REL_F64, "entropy")
    assert_close(soft.metrics["target_entropy"], float(scipy_entropy(p, axis=1).mean()), REL_F64, "H(p)")
    assert_close(soft.metrics["kl_divergence"], float(rel_entr(p, q).sum(1).mean()), REL_F64, "kl")
    ce = float(-(p * np.log(q)).sum(1).mean())
    assert_close(soft.metrics["cross_entropy"], ce, REL_F64, "cross_entropy (no T^2 factor)")

    labels = rng.integers(0, c, size=n)
    hard = evaluate_arrays(preds, labels, kind=kind, temperature=temperature).compute()
    assert_close(hard.metrics["cross_entropy"], log_loss(labels, y_proba=q, labels=range(c)), REL_F64)
    assert hard.metrics["accuracy"] == pytest.approx(float((q.argmax(1) == labels).mean()), abs=ABS_ZERO)


def test_temperature_on_float32_logits_matches_float64_reference():
    rng = np.random.default_rng(31)
    z = rng.normal(scale=3.0, size=(80, 12)).astype(np.float32)
    labels = rng.integers(0, 12, size=80)
    log_q = log_softmax(z.astype(np.float64) / 3.0, axis=1)
    r = evaluate_arrays(z, labels, kind="logits", temperature=3.0).compute()
    assert_close(r.metrics["cross_entropy"], float(-log_q[np.arange(80), labels].mean()), REL_F32)
    assert_close(r.metrics["entropy"], float(scipy_entropy(np.exp(log_q), axis=1).mean()), REL_F32)


# ---------------------------------------------------------------------------- 4. binary

BINARY_CASES = [
    # (encoding of class-1 score, kind argument, shape, dtype)
    ("probs", "auto", "1d", np.float64),  # P(class 1), auto-detected
    ("probs", "probs", "column", np.float64),  # (n, 1) column of P(class 1)
    ("logits", "auto", "1d", np.float64),  # logit of class 1, auto-detected
    ("logits", "logits", "column", np.float32),  # float32 (n, 1) logits
    ("logprobs", "logprobs", "1d", np.float64),  # log P(class 1), needs kind="logprobs"
    ("logprobs", "logprobs", "column", np.float32),  # float32 (n, 1) log-probabilities
    ("probs", "auto", "1d", np.float32),  # float32 probabilities
]


@pytest.mark.parametrize(("encoding", "kind", "shape", "dtype"), BINARY_CASES)
def test_binary_scores_match_sklearn_log_loss(encoding, kind, shape, dtype):
    rng = np.random.default_rng(seed_of(encoding, kind, shape, np.dtype(dtype)))
    n = 90
    z = rng.normal(scale=3.0, size=n)
    z[0] = 5.0  # at least one logit outside [0, 1] so auto reads logits
    labels = rng.integers(0, 2, size=n)
    if encoding == "probs":
        scores = expit(z)
    elif encoding == "logits":
        scores = z
    else:
        scores = np.log(expit(z))
    scores = scores.astype(dtype)
    if shape == "column":
        scores = scores.reshape(-1, 1)

    s64 = scores.reshape(-1).astype(np.float64)
    p1 = {"probs": s64, "logits": expit(s64), "logprobs": np.exp(s64)}[encoding]
    two = np.stack([1 - p1, p1], axis=1)
    ref_ce = log_loss(labels, y_proba=p1, labels=[0, 1])  # sklearn reads 1-D y_proba as P(class 1)
    rel = rel_for(dtype)

    r = evaluate_arrays(scores, labels, kind=kind).compute()
    assert r.n_samples == n
    assert_close(r.metrics["cross_entropy"], ref_ce, rel, "cross_entropy")
    assert_close(r.metrics["entropy"], float(scipy_entropy(two, axis=1).mean()), rel, "entropy")
    assert_close(r.metrics["perplexity"], math.exp(ref_ce), rel, "perplexity")
    assert r.metrics["accuracy"] == pytest.approx(float(((p1 > 0.5) == labels).mean()), abs=ABS_ZERO)


def test_binary_to_two_classes_gives_complementary_columns():
    p = np.array([0.0, 0.25, 0.5, 1.0])
    np.testing.assert_array_equal(binary_to_two_classes(p, "probs"), np.stack([1 - p, p], axis=1))
    z = np.array([-3.0, 0.0, 2.0])
    np.testing.assert_allclose(
        softmax(binary_to_two_classes(z, "logits"), axis=1)[:, 1], expit(z), rtol=REL_F64_TIGHT
    )
    lp = np.log(np.array([0.1, 0.5, 0.9]))
    two = binary_to_two_classes(lp, "logprobs")
    np.testing.assert_allclose(np.exp(two), [[0.9, 0.1], [0.5, 0.5], [0.1, 0.9]], rtol=REL_F64_TIGHT)


# ------------------------------------------------------------------------------- 5. eps


def _probs_with_zero_on_true_class():
    probs = np.array([[0.0, 0.5, 0.5], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1]])
    labels = np.array([0, 2, 0, 1])
    return probs, labels


def test_zero_probability_on_true_class_is_floored_at_default_eps():
    probs, labels = _probs_with_zero_on_true_class()
    r = evaluate_arrays(probs, labels, kind="probs").compute()
    rows = [-math.log(EPS_DEFAULT), -math.log(0.5), -math.log(0.6), -math.log(0.8)]
    assert_close(r.metrics["cross_entropy"], sum(rows) / 4, REL_F64)
    assert_close(r.standard_error["cross_entropy"], sem(np.array(rows)), REL_F64)
    assert r.n_clipped == 1


def test_eps_zero_gives_infinite_cross_entropy_and_perplexity():
    probs, labels = _probs_with_zero_on_true_class()
    r = evaluate_arrays(probs, labels, kind="probs", eps=0.0).compute()
    assert r.metrics["cross_entropy"] == math.inf
    assert r.metrics["kl_divergence"] == math.inf
    assert r.metrics["perplexity"] == math.inf
    assert r.n_clipped == 0
    # the entropy is still finite and exact
    assert_close(r.metrics["entropy"], float(scipy_entropy(probs, axis=1).mean()), REL_F64)


def test_eps_zero_with_soft_target_weight_on_a_zero_probability_is_infinite():
    preds = np.array([[0.0, 0.5, 0.5], [0.2, 0.3, 0.5]])
    targets = np.array([[0.1, 0.9, 0.0], [0.2, 0.3, 0.5]])
    r = evaluate_arrays(preds, targets, kind="probs", target_kind="probs", eps=0.0).compute()
    assert r.metrics["cross_entropy"] == math.inf
    assert r.metrics["kl_divergence"] == math.inf
    assert r.metrics["perplexity"] == math.inf


def test_eps_floor_is_the_same_for_probs_and_for_logits():
    # rows with q < 0.1 on the true class, one of them exactly 0
    probs = np.array([[0.0, 0.4, 0.6], [0.05, 0.9, 0.05], [0.3, 0.3, 0.4], [0.02, 0.08, 0.9]])
    labels = np.array([0, 0, 2, 1])
    with np.errstate(divide="ignore"):
        logits = np.log(probs)
    logits[0, 0] = -1000.0  # exp(-1000) is 0 in float64: the same distribution
    logits += np.array([[2.0], [-1.0], [0.5], [7.0]])  # softmax-invariant shifts
    expected_rows = [-math.log(0.1), -math.log(0.1), -math.log(0.4), -math.log(0.1)]
    for values, kind in [(probs, "probs"), (logits, "logits")]:
        r = evaluate_arrays(values, labels, kind=kind, eps=0.1).compute()
        assert_close(r.metrics["cross_entropy"], sum(expected_rows) / 4, REL_F64, kind)
        assert r.n_clipped == 3, kind


def test_eps_floor_on_soft_targets_counts_only_terms_with_target_weight():
    preds = np.array([[0.01, 0.04, 0.95], [0.5, 0.3, 0.2]])
    targets = np.array([[0.0, 0.5, 0.5], [0.2, 0.3, 0.5]])  # the 0.01 has no target weight
    eps = 0.1
    floored = np.log(np.maximum(preds, eps))
    ce_rows = -(targets * floored).sum(1)
    kl_rows = (rel_entr(targets, np.ones_like(targets)) - targets * floored).sum(1)
    r = evaluate_arrays(preds, targets, kind="probs", target_kind="probs", eps=eps).compute()
    assert r.n_clipped == 1
    assert_close(r.metrics["cross_entropy"], float(ce_rows.mean()), REL_F64, "cross_entropy")
    assert_close(r.metrics["kl_divergence"], float(kl_rows.mean()), REL_F64, "kl")
    assert_close(r.metrics["target_entropy"], float(scipy_entropy(targets, axis=1).mean()), REL_F64)


@pytest.mark.parametrize("eps", [0.0, 1e-12, 0.1, 0.3])
def test_entropy_is_never_clipped_by_eps(eps):
    probs, labels = _probs_with_zero_on_true_class()
    r = evaluate_arrays(probs, labels, kind="probs", eps=eps).compute()
    assert_close(r.metrics["entropy"], float(scipy_entropy(probs, axis=1).mean()), REL_F64)


def test_minus_inf_log_probability_is_a_zero_probability():
    with np.errstate(divide="ignore"):
        logprobs = np.log(np.array([[0.5, 0.5, 0.0], [0.25, 0.25, 0.5]]))
    labels = np.array([2, 2])
    r = evaluate_arrays(logprobs, labels, kind="logprobs").compute()
    assert r.n_clipped == 1
    assert_close(r.metrics["cross_entropy"], (-math.log(EPS_DEFAULT) - math.log(0.5)) / 2, REL_F64)
    assert_close(r.metrics["entropy"], (math.log(2) + 1.5 * math.log(2)) / 2, REL_F64)


# --------------------------------------------------------------------- 6. literal cases

LN4 = 1.3862943611198906  # ln 4
LN2 = 0.6931471805599453  # ln 2

LITERAL_CASES = [
    # (id, preds, target, settings, base, expected metrics)
    (
        # uniform over 4 classes, probabilities: H = ln 4, perplexity 4; argmax ties -> class 0
        "uniform4-nats",
        np.full((2, 4), 0.25),
        np.array([0, 3]),
        {"kind": "probs"},
        "e",
        {"entropy": LN4, "cross_entropy": LN4, "perplexity": 4.0, "accuracy": 0.5},
    ),
    (
        # the same in bits: 2 bits of entropy and of cross-entropy, perplexity still 4
        "uniform4-bits",
        np.full((2, 4), 0.25),
        np.array([0, 3]),
        {"kind": "probs"},
        "2",
        {"entropy": 2.0, "cross_entropy": 2.0, "kl_divergence": 2.0, "perplexity": 4.0},
    ),
    (
        # uniform as all-zero logits (auto cannot read zeros as probs rows: sum 0; say logits)
        "uniform4-zero-logits",
        np.zeros((3, 4)),
        np.array([1, 2, 3]),
        {"kind": "logits"},
        "e",
        {"entropy": LN4, "cross_entropy": LN4, "perplexity": 4.0, "accuracy": 0.0},
    ),
    (
        # uniform over 10 classes in hartleys: exactly 1
        "uniform10-hartleys",
        np.full((3, 10), 0.1),
        np.array([0, 0, 0]),
        {"kind": "probs"},
        "10",
        {"entropy": 1.0, "cross_entropy": 1.0, "perplexity": 10.0, "accuracy": 1.0},
    ),
    (
        # one-hot prediction on the right class: no loss, no uncertainty
        "onehot-correct",
        np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),
        np.array([0, 1, 2]),
        {},
        "e",
        {"entropy": 0.0, "cross_entropy": 0.0, "kl_divergence": 0.0, "perplexity": 1.0, "accuracy": 1.0},
    ),
    (
        # KL(p || p) = 0 and H(p, p) = H(p) = ln 2 for p = (1/2, 1/2)
        "kl-p-p",
        np.array([[0.5, 0.5], [0.5, 0.5]]),
        np.array([[0.5, 0.5], [0.5, 0.5]]),
        {},
        "e",
        {"kl_divergence": 0.0, "cross_entropy": LN2, "target_entropy": LN2, "perplexity": 2.0},
    ),
    (
        # binary P(class 1) = 1/2: log loss ln 2, 1 bit, perplexity 2
        "binary-half-bits",
        np.array([0.5, 0.5, 0.5, 0.5]),
        np.array([0, 1, 1, 0]),
        {},
        "2",
        {"cross_entropy": 1.0, "entropy": 1.0, "perplexity": 2.0},
    ),
    (
        # docstring example by hand: (-log2 0.5 - log2 0.9) / 2 bits; argmax [0, 0]
        "two-rows-bits",
        np.array([[0.5, 0.5], [0.9, 0.1]]),
        np.array([0, 0]),
        {"kind": "probs"},
        "2",
        {"cross_entropy": (1.0 - math.log2(0.9)) / 2, "accuracy": 1.0},
    ),
    (
        # logit 0 is probability 1/2 for both classes
        "binary-logit-zero",
        np.array([0.0, 0.0, 3.0]),
        np.array([1, 0, 1]),
        {"kind": "logits"},
        "e",
        {"cross_entropy": (2 * LN2 + math.log1p(math.exp(-3.0))) / 3},
    ),
    (
        # target p = (1, 0) against q = (1/2, 1/2): KL = ln 2 = CE, H(p) = 0
        "onehot-target-vs-uniform",
        np.array([[0.5, 0.5]]),
        np.array([[1.0, 0.0]]),
        {},
        "e",
        {"kl_divergence": LN2, "cross_entropy": LN2, "target_entropy": 0.0, "perplexity": 2.0},
    ),
    (
        # target p = (1/2, 1/2) against q = (1/4, 3/4): CE = -(ln 1/4 + ln 3/4)/2
        "half-vs-quarter",
        np.array([[0.25, 0.75]]),
        np.array([[0.5, 0.5]]),
        {},
        "e",
        {
            "cross_entropy": -(math.log(0.25) + math.log(0.75)) / 2,
            "kl_divergence": -(math.log(0.25) + math.log(0.75)) / 2 - LN2,
            "target_entropy": LN2,
            "top1_agreement": 0.0,  # argmax p = 0 (first on ties), argmax q = 1
        },
    ),
]


@pytest.mark.parametrize(
    ("preds", "target", "settings", "base", "expected"),
    [case[1:] for case in LITERAL_CASES],
    ids=[case[0] for case in LITERAL_CASES],
)
def test_literal_cases(preds, target, settings, base, expected):
    r = evaluate_arrays(preds, target, **settings).compute(base=base)
    for name, value in expected.items():
        if value == 0.0:
            assert r.metrics[name] == pytest.approx(0.0, abs=ABS_ZERO), name
        else:
            assert r.metrics[name] == pytest.approx(value, rel=REL_F64_TIGHT, abs=0), name


# ---------------------------------------------------------- 7. an independent slow formula


def _slow_python_metrics(preds, targets, eps):
    """Pure-Python double loop over rows and classes with math.log; no NumPy in the maths."""
    h_q = h_p = ce = kl = 0.0
    for q_row, p_row in zip(preds.tolist(), targets.tolist(), strict=True):
        q_total, p_total = math.fsum(q_row), math.fsum(p_row)
        for q_raw, p_raw in zip(q_row, p_row, strict=True):
            q, p = q_raw / q_total, p_raw / p_total
            if q > 0:
                h_q -= q * math.log(q)
            if p > 0:
                h_p -= p * math.log(p)
                log_q = math.log(max(q, eps))
                ce -= p * log_q
                kl += p * (math.log(p) - log_q)
    n = len(preds)
    return {"entropy": h_q / n, "target_entropy": h_p / n, "cross_entropy": ce / n, "kl_divergence": kl / n}


def test_soft_targets_match_a_pure_python_double_loop():
    rng = np.random.default_rng(71)
    n, c = 37, 5
    preds = rng.random((n, c)) ** 3
    preds[rng.random((n, c)) < 0.15] = 0.0
    preds[:, 0] += 1e-3  # every row has some mass
    preds /= preds.sum(axis=1, keepdims=True)
    targets = rng.random((n, c))
    targets[rng.random((n, c)) < 0.3] = 0.0
    targets[:, 1] += 1e-3
    targets /= targets.sum(axis=1, keepdims=True)
    eps = 1e-4
    expected = _slow_python_metrics(preds, targets, eps)
    r = evaluate_arrays(preds, targets, kind="probs", target_kind="probs", eps=eps).compute()
    for name, value in expected.items():
        assert_close(r.metrics[name], value, REL_F64, name)


# ---------------------------------------------------------------- 8. large vocabulary


def test_large_vocabulary_float32_logits_match_float64_scipy():
    rng = np.random.default_rng(81)
    n, c = 240, 50_000
    logits = rng.normal(scale=3.0, size=(n, c)).astype(np.float32)
    labels = rng.integers(0, c, size=n)
    log_q = log_softmax(logits.astype(np.float64), axis=1)
    ref_ce = float(-log_q[np.arange(n), labels].mean())
    ref_h = float(scipy_entropy(np.exp(log_q), axis=1).mean())
    del log_q
    r = evaluate_arrays(logits, labels, kind="logits").compute()
    assert r.n_clipped == 0  # the reference has no floor, so the comparison needs none applied
    assert_close(r.metrics["cross_entropy"], ref_ce, REL_F32, "cross_entropy")
    assert_close(r.metrics["entropy"], ref_h, REL_F32, "entropy")
    assert_close(r.metrics["perplexity"], math.exp(ref_ce), REL_F32, "perplexity")


# ------------------------------------------------------------------- 9. validation errors

N_ERR_ROWS, BAD_ROW = 8, 5


def _clean(kind):
    rng = np.random.default_rng(91)
    return random_scores(rng, N_ERR_ROWS, 4, kind)


def _with(kind, value, col=2):
    x = _clean(kind)
    x[BAD_ROW, col] = value
    return x


def _labels_with(value):
    labels = np.array([0, 1, 2, 3, 0, 1, 2, 3], dtype=np.float64)
    labels[BAD_ROW] = value
    return labels


def _probs_row_sum(total):
    x = _clean("probs")
    x[BAD_ROW] = np.array([0.1, 0.2, 0.3, 0.4]) * total
    return x


def _binary(value):
    s = np.linspace(0.1, 0.9, N_ERR_ROWS)
    s[BAD_ROW] = value
    return s


def _binary_logprobs(value):
    s = np.log(np.linspace(0.1, 0.9, N_ERR_ROWS))
    s[BAD_ROW] = value
    return s


GOOD_LABELS = np.array([0, 1, 2, 3, 0, 1, 2, 3])


def _binary_labels_with(value):
    labels = GOOD_LABELS % 2
    labels[BAD_ROW] = value
    return labels


GOOD_TARGETS = np.full((N_ERR_ROWS, 4), 0.25)

ERROR_CASES = [
    # (id, preds, target, settings, text the message must contain or None)
    # NaN anywhere is an error, whatever the kind
    ("nan-in-probs", _with("probs", np.nan), GOOD_LABELS, {"kind": "probs"}, "NaN"),
    # NaN among logits
    ("nan-in-logits", _with("logits", np.nan), GOOD_LABELS, {"kind": "logits"}, "NaN"),
    # NaN among log-probabilities
    ("nan-in-logprobs", _with("logprobs", np.nan), GOOD_LABELS, {"kind": "logprobs"}, "NaN"),
    # NaN with kind auto and no target
    ("nan-auto", _with("logits", np.nan), None, {}, "NaN"),
    # +inf is not a probability
    ("posinf-in-probs", _with("probs", np.inf), GOOD_LABELS, {"kind": "probs"}, "inf"),
    # -inf is not a probability either
    ("neginf-in-probs", _with("probs", -np.inf), GOOD_LABELS, {"kind": "probs"}, "inf"),
    # logits must be finite: +inf
    ("posinf-in-logits", _with("logits", np.inf), GOOD_LABELS, {"kind": "logits"}, "inf"),
    # ... and -inf (only log-probabilities may be -inf)
    ("neginf-in-logits", _with("logits", -np.inf), GOOD_LABELS, {"kind": "logits"}, "inf"),
    # +inf log-probability
    ("posinf-in-logprobs", _with("logprobs", np.inf), GOOD_LABELS, {"kind": "logprobs"}, "inf"),
    # probability below 0
    ("negative-probability", _with("probs", -0.1), GOOD_LABELS, {"kind": "probs"}, "-0.1"),
    # probability above 1
    ("probability-above-one", _with("probs", 1.2), GOOD_LABELS, {"kind": "probs"}, "1.2"),
    # a row of probabilities summing to 1.1; the message names the sum
    ("row-sum-1.1", _probs_row_sum(1.1), GOOD_LABELS, {"kind": "probs"}, "1.1"),
    # a row summing to 0.5, kind decided by auto
    ("row-sum-0.5-auto", _probs_row_sum(0.5), GOOD_LABELS, {}, "0.5"),
    # a positive log-probability
    ("positive-logprob", _with("logprobs", 0.3), GOOD_LABELS, {"kind": "logprobs"}, "0.3"),
    # log-probabilities whose exp sums to 0.7
    ("logprob-row-sum", np.log(_probs_row_sum(0.7)), GOOD_LABELS, {"kind": "logprobs"}, "0.7"),
    # class index -1
    ("negative-class-index", _clean("probs"), _labels_with(-1).astype(int), {}, "-1"),
    # class index 2.5 (2.0 would be fine)
    ("fractional-class-index", _clean("probs"), _labels_with(2.5), {}, "2.5"),
    # class index 4 with 4 classes
    ("class-index-too-large", _clean("probs"), _labels_with(4).astype(int), {}, "4"),
    # a NaN label
    ("nan-class-index", _clean("probs"), _labels_with(np.nan), {}, None),
    # class index 2 for a binary classifier (2 classes)
    ("binary-index-2", _binary(0.3), _binary_labels_with(2), {}, "2"),
    # NaN in a target distribution
    ("nan-in-target", _clean("probs"), _with("probs", np.nan), {"target_kind": "probs"}, "NaN"),
    # a target row summing to 1.1
    ("target-row-sum", _clean("probs"), _probs_row_sum(1.1), {"target_kind": "probs"}, "1.1"),
    # an infinite target logit
    ("target-posinf-logit", _clean("probs"), _with("logits", np.inf), {"target_kind": "logits"}, "inf"),
    # binary P(class 1) = 1.5; message checked in test_binary_error_messages_name_the_score_given
    ("binary-prob-above-one", _binary(1.5), GOOD_LABELS % 2, {"kind": "probs"}, None),
    # binary log P(class 1) = 0.4 > 0; message checked there too
    ("binary-positive-logprob", _binary_logprobs(0.4), GOOD_LABELS % 2, {"kind": "logprobs"}, None),
    # binary NaN score
    ("binary-nan", _binary(np.nan), GOOD_LABELS % 2, {"kind": "probs"}, "NaN"),
]


@pytest.mark.parametrize("chunk_rows", [None, 3, 1])
@pytest.mark.parametrize(
    ("preds", "target", "settings", "text"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_invalid_input_raises_with_the_global_row(preds, target, settings, text, chunk_rows):
    with pytest.raises(InfoCliError) as info:
        evaluate_arrays(preds, target, chunk_rows=chunk_rows, **settings)
    error = info.value
    assert error.row == BAD_ROW
    assert isinstance(error.message, str) and error.message
    assert error.hint is None or isinstance(error.hint, str)
    if text is not None:
        assert text in error.message, error.message


BINARY_MESSAGE_CASES = [
    # (id, class-1 scores, kind, text naming the score the user gave)
    ("probability-1.5", _binary(1.5), "probs", "1.5"),  # not the derived class-0 value -0.5
    ("positive-logprob-0.4", _binary_logprobs(0.4), "logprobs", "0.4"),  # not a NaN complaint
]


@pytest.mark.parametrize(
    ("scores", "kind", "text"),
    [case[1:] for case in BINARY_MESSAGE_CASES],
    ids=[case[0] for case in BINARY_MESSAGE_CASES],
)
def test_binary_error_messages_name_the_score_given(scores, kind, text):
    with pytest.raises(InfoCliError) as info:
        evaluate_arrays(scores, GOOD_LABELS % 2, kind=kind)
    assert info.value.row == BAD_ROW
    assert text in info.value.message, info.value.message
    assert "NaN" not in info.value.message, "the input holds no NaN"


def _probs_summing_to_one_with(value):
    """Probabilities whose bad row still sums to 1, and whose row maximum looks fine."""
    x = _clean("probs")
    x[BAD_ROW] = [0.5, 0.5 - value, value, 0.0]
    return x


# Values that neither the row maxima nor the row sums reveal: the check that finds them
# runs only when the entropy's sums come out NaN.
HIDDEN_CASES = [
    # (id, preds, target, settings, text the message must contain)
    ("negative-probability", _probs_summing_to_one_with(-0.1), GOOD_LABELS, {"kind": "probs"}, "-0.1"),
    (
        "negative-probability-tempered",
        _probs_summing_to_one_with(-0.1),
        GOOD_LABELS,
        {"kind": "probs", "temperature": 2.0},
        "-0.1",
    ),
    ("minus-inf-probability", _with("probs", -np.inf), GOOD_LABELS, {"kind": "probs"}, "-inf"),
    ("minus-inf-logit", _with("logits", -np.inf), GOOD_LABELS, {"kind": "logits"}, "-inf"),
    (
        "minus-inf-logit-tempered",
        _with("logits", -np.inf),
        GOOD_LABELS,
        {"kind": "logits", "temperature": 0.5},
        "-inf",
    ),
    (
        "negative-target-probability",
        _clean("probs"),
        _probs_summing_to_one_with(-0.1),
        {"target_kind": "probs"},
        "-0.1",
    ),
    ("minus-inf-target-logit", _clean("probs"), _with("logits", -np.inf), {"target_kind": "logits"}, "-inf"),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("preds", "target", "settings", "text"),
    [case[1:] for case in HIDDEN_CASES],
    ids=[case[0] for case in HIDDEN_CASES],
)
def test_values_hidden_from_row_maxima_and_sums_are_still_rejected(preds, target, settings, text, dtype):
    if target is not None and target.ndim == 2:
        target = target.astype(dtype)
    with pytest.raises(InfoCliError) as info:
        evaluate_arrays(preds.astype(dtype), target, chunk_rows=3, **settings)
    assert info.value.row == BAD_ROW
    assert text in info.value.message, info.value.message
    assert "column" in info.value.message or "class 2" in info.value.message, info.value.message


def test_an_impossible_value_is_reported_before_an_earlier_row_sum():
    # row 1 does not sum to 1; row BAD_ROW holds a negative probability: the value is named
    x = _probs_summing_to_one_with(-0.1)
    x[1] = [0.1, 0.1, 0.1, 0.1]
    with pytest.raises(InfoCliError) as info:
        evaluate_arrays(x, GOOD_LABELS, kind="probs")
    assert info.value.row == BAD_ROW
    assert "-0.1" in info.value.message and "outside [0, 1]" in info.value.message


def test_zero_probabilities_and_minus_inf_log_probabilities_are_accepted():
    # 0 log 0 = 0: the NaN they leave in the entropy's sums is not an error
    x = _probs_summing_to_one_with(0.0)
    r = evaluate_arrays(x, GOOD_LABELS, kind="probs").compute()
    with np.errstate(divide="ignore"):
        logs = np.log(x)
    from_logs = evaluate_arrays(logs, GOOD_LABELS, kind="logprobs").compute()
    assert r.metrics == pytest.approx(from_logs.metrics, rel=REL_F64_TIGHT)
    assert all(np.isfinite(v) for v in r.metrics.values())
    # and against SciPy and scikit-learn
    assert r.metrics["entropy"] == pytest.approx(float(scipy_entropy(x, axis=1).mean()), rel=REL_F64)
    expected = log_loss(GOOD_LABELS, x, labels=range(x.shape[1]))
    assert r.metrics["cross_entropy"] == pytest.approx(expected, rel=REL_F64)


def test_the_same_arrays_without_the_bad_value_are_accepted():
    # guards the error table: the clean fixtures are valid as given
    for kind in ("probs", "logits", "logprobs"):
        evaluate_arrays(_clean(kind), GOOD_LABELS, kind=kind, chunk_rows=3)
    evaluate_arrays(_clean("probs"), GOOD_TARGETS, target_kind="probs", chunk_rows=3)
    evaluate_arrays(_binary(0.3), GOOD_LABELS % 2, kind="probs", chunk_rows=3)
    evaluate_arrays(_binary_logprobs(-0.4), GOOD_LABELS % 2, kind="logprobs", chunk_rows=3)


def test_row_sum_error_message_mentions_the_sum_and_hints_at_logits():
    with pytest.raises(InfoCliError) as info:
        evaluate_arrays(_probs_row_sum(1.1), GOOD_LABELS, kind="probs", chunk_rows=4)
    assert info.value.row == BAD_ROW
    assert "1.1" in info.value.message
    assert info.value.hint and "logits" in info.value.hint


def test_check_class_indices_accepts_integral_floats_and_rejects_the_rest():
    np.testing.assert_array_equal(check_class_indices(np.array([0.0, 2.0, 1.0]), 3), [0, 2, 1])
    for labels, row in [(np.array([0, 1, 3]), 2), (np.array([0, -2, 1]), 1), (np.array([1.0, 0.5]), 1)]:
        with pytest.raises(InfoCliError) as info:
            check_class_indices(labels, 3)
        assert info.value.row == row


# ------------------------------------------------------------------------ 10. auto kind

AUTO_CASES = [
    # (id, values, expected kind)
    # every value in [0, 1]
    ("probability-rows", np.array([[0.2, 0.8], [0.5, 0.5]]), "probs"),
    # one-hot rows are probabilities
    ("one-hot-rows", np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), "probs"),
    # all <= 0 and each row's logsumexp is 0
    ("log-probability-rows", np.log(np.array([[0.2, 0.8], [0.5, 0.5]])), "logprobs"),
    # -inf is a log-probability of 0
    ("log-probs-with-minus-inf", np.array([[0.0, -np.inf], [np.log(0.3), np.log(0.7)]]), "logprobs"),
    # values above 1 and below 0
    ("logits-with-positives", np.array([[1.5, -0.3], [0.2, 0.1]]), "logits"),
    # all negative but rows do not logsumexp to 0
    ("negative-logits-not-normalised", np.array([[-1.0, -2.0], [-3.0, -0.5]]), "logits"),
    # one column in [0, 1]: binary probabilities
    ("binary-probabilities", np.array([[0.1], [0.9], [1.0]]), "probs"),
    # one column of negatives: logits, never log-probabilities
    ("binary-negative-scores-are-logits", np.array([[-0.1], [-2.0]]), "logits"),
    # one column with a value above 1: logits
    ("binary-above-one", np.array([[0.3], [1.7]]), "logits"),
]


@pytest.mark.parametrize(
    ("values", "expected"), [case[1:] for case in AUTO_CASES], ids=[case[0] for case in AUTO_CASES]
)
def test_detect_kind(values, expected):
    assert detect_kind(values, tol=1e-3) == expected


@pytest.mark.parametrize("kind", ["probs", "logits", "logprobs"])
def test_auto_kind_gives_the_same_numbers_as_the_explicit_kind_reference(kind):
    rng = np.random.default_rng(seed_of("auto", kind))
    values = random_scores(rng, 40, 5, kind)
    labels = rng.integers(0, 5, size=40)
    state = evaluate_arrays(values, labels)
    assert state.settings["kind"] == kind
    log_q = ref_log_probs(values, kind)
    r = state.compute()
    assert_close(r.metrics["cross_entropy"], float(-log_q[np.arange(40), labels].mean()), REL_F64)


def test_binary_negative_scores_auto_are_logits_not_logprobs():
    z = np.array([-0.2, -1.0, -3.0, -0.7])
    labels = np.array([1, 0, 0, 1])
    r = evaluate_arrays(z, labels).compute()
    assert_close(r.metrics["cross_entropy"], log_loss(labels, y_proba=expit(z), labels=[0, 1]), REL_F64)


AUTO_BREAK_CASES = [
    # (id, preds, row of the breaking value)
    # first chunk probabilities, a later chunk holds 1.7: an error, not a switch to logits
    (
        "probs-then-1.7",
        np.vstack([np.full((4, 2), 0.5), [[0.3, 0.7], [1.7, -0.7], [0.5, 0.5]]]),
        5,
    ),
    # first chunk log-probabilities, a later chunk holds a positive value
    (
        "logprobs-then-positive",
        np.vstack([np.log(np.full((4, 2), 0.5)), [[np.log(0.3), np.log(0.7)], [0.4, -1.0]]]),
        5,
    ),
    # first chunk log-probabilities, a later chunk is negative but not normalised
    (
        "logprobs-then-unnormalised",
        np.vstack([np.log(np.full((4, 2), 0.5)), [[-1.0, -2.0], [np.log(0.3), np.log(0.7)]]]),
        4,
    ),
    # binary: first chunk probabilities, a later score 1.7
    ("binary-probs-then-1.7", np.array([0.1, 0.4, 0.6, 0.9, 0.2, 1.7, 0.3]), 5),
]


@pytest.mark.parametrize(
    ("preds", "bad_row"), [case[1:] for case in AUTO_BREAK_CASES], ids=[case[0] for case in AUTO_BREAK_CASES]
)
def test_later_chunk_breaking_the_auto_decided_kind_is_an_error(preds, bad_row):
    labels = np.zeros(preds.shape[0], dtype=int)
    with pytest.raises(InfoCliError) as info:
        evaluate_arrays(preds, labels, chunk_rows=4)
    assert info.value.row == bad_row
    # all at once, the same values are read as logits without complaint
    evaluate_arrays(preds, labels)


def test_auto_target_kind_decided_on_the_first_chunk_rejects_a_later_break():
    preds = np.full((6, 2), 0.5)
    targets = np.vstack([np.full((3, 2), 0.5), [[0.2, 0.8], [2.0, -1.0], [0.5, 0.5]]])
    with pytest.raises(InfoCliError) as info:
        evaluate_arrays(preds, targets, chunk_rows=3)
    assert info.value.row == 4


@pytest.mark.parametrize("n_classes", [3, 255, 256, 1000])
def test_wide_logits_shift_by_the_row_maximum_exactly_and_leave_numpy_settings_alone(rng, n_classes):
    logits = (rng.standard_normal((37, n_classes)) * 5).astype(np.float32)
    buffer = np.getbufsize()
    dist = Scorer({}, kind="logits").predictions(logits)
    assert np.getbufsize() == buffer
    np.testing.assert_array_equal(dist.log_weights, logits - logits.max(axis=1, keepdims=True))
