"""Properties of the metrics core, checked with hypothesis.

Each example draws a seed and a few shape/kind parameters; the arrays themselves come from
NumPy's default_rng fed by that seed (fast, and hypothesis still shrinks the parameters).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import softmax

from infocli.evaluate import evaluate_arrays
from infocli.metrics.inputs import to_distributions
from infocli.metrics.moments import Moments
from infocli.metrics.scores import score_rows
from infocli.metrics.state import EvalState

# ------------------------------------------------------------------------------ tolerances

REL_SAME_SUMS = 1e-12
"""Relative tolerance for means of the same per-row values summed in another order."""
REL_SE = 1e-9
"""Relative tolerance for standard errors from differently merged squared deviations."""
REL_IDENTITY_F64 = 1e-9
"""cross_entropy = target_entropy + kl_divergence, to float64 rounding."""
REL_IDENTITY_F32 = 1e-4
"""The same identity when per-element work is done in float32."""
ABS_ROUNDING = 1e-10
"""Absolute slack for quantities bounded below by 0 (KL, entropy) in float64 arithmetic."""
ABS_ROUNDING_F32 = 1e-5
"""The same slack when per-element work is done in float32."""

KINDS = ("probs", "logits", "logprobs")
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------------------- data


def _scores(rng: np.random.Generator, n: int, c: int, kind: str, scale: float, zeros: bool) -> np.ndarray:
    """float64 scores of a kind; with ``zeros``, some exact zero probabilities (-inf log-probs)."""
    z = rng.normal(scale=scale, size=(n, c))
    if kind == "logits":
        return z + rng.uniform(-2.0, 2.0, size=(n, 1))
    q = softmax(z, axis=1)
    if zeros:
        drop = rng.random((n, c)) < 0.3
        drop[np.arange(n), q.argmax(axis=1)] = False  # every row keeps some mass
        q[drop] = 0.0
        q /= q.sum(axis=1, keepdims=True)
    if kind == "probs":
        return q
    with np.errstate(divide="ignore"):
        return np.log(q)


@st.composite
def problems(draw, *, max_rows: int = 30, dtype=None):
    """A random evaluation problem: predictions, targets (indices or distributions), settings.

    ``dtype`` fixes the input precision; by default float64 and float32 are both drawn.
    """
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(2, max_rows))
    c = draw(st.integers(2, 9))
    pred_kind = draw(st.sampled_from(KINDS))
    target_type = draw(st.sampled_from(("index", *KINDS)))
    scale = draw(st.sampled_from((0.1, 1.0, 4.0)))
    zeros = draw(st.booleans())
    temperature = draw(st.sampled_from((1.0, 0.5, 2.0)))
    if dtype is None:
        dtype = draw(st.sampled_from((np.float64, np.float32)))
    rng = np.random.default_rng(seed)
    preds = _scores(rng, n, c, pred_kind, scale, zeros and pred_kind != "logits").astype(dtype)
    if target_type == "index":
        target = rng.integers(0, c, size=n)
        options = {"kind": pred_kind, "temperature": temperature}
    else:
        target = _scores(rng, n, c, target_type, scale, zeros and target_type != "logits").astype(dtype)
        options = {"kind": pred_kind, "target_kind": target_type, "temperature": temperature}
    return preds, target, options


# ---------------------------------------------------------------------------- helpers


def _close(a: float, b: float, rel: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=rel, abs_tol=0.0)


def assert_same_results(a, b, *, rel_metrics: float = REL_SAME_SUMS, rel_se: float = REL_SE) -> None:
    assert a.n_samples == b.n_samples
    assert a.n_clipped == b.n_clipped
    assert a.metrics.keys() == b.metrics.keys()
    for name in a.metrics:
        assert _close(a.metrics[name], b.metrics[name], rel_metrics), (name, a.metrics, b.metrics)
        assert _close(a.standard_error[name], b.standard_error[name], rel_se), (
            name,
            a.standard_error,
            b.standard_error,
        )


def _is_f32(preds: np.ndarray) -> bool:
    return preds.dtype == np.float32


# ------------------------------------------------------------------ information identities


@SETTINGS
@given(problems())
def test_kl_is_nonnegative_and_cross_entropy_is_target_entropy_plus_kl(problem):
    preds, target, options = problem
    r = evaluate_arrays(preds, target, **options).compute()
    m = r.metrics
    slack = ABS_ROUNDING_F32 if _is_f32(preds) else ABS_ROUNDING
    rel = REL_IDENTITY_F32 if _is_f32(preds) else REL_IDENTITY_F64
    assert m["kl_divergence"] >= -slack
    assert math.isclose(
        m["cross_entropy"], m["target_entropy"] + m["kl_divergence"], rel_tol=rel, abs_tol=slack
    )
    if target.ndim == 1:
        assert m["target_entropy"] == 0.0
        assert m["kl_divergence"] == m["cross_entropy"]


@SETTINGS
@given(problems())
def test_per_row_kl_is_nonnegative_and_the_identity_holds_per_row(problem):
    preds, target, options = problem
    if target.ndim == 1:
        target = np.eye(preds.shape[1])[target]  # the same labels as one-hot distributions
        options = {**options, "target_kind": "probs"}
    q = to_distributions(preds, options["kind"], temperature=options["temperature"])
    p = to_distributions(target, options["target_kind"], temperature=options["temperature"])
    rows = score_rows(q, p, eps=1e-12)
    slack = ABS_ROUNDING_F32 if _is_f32(preds) else ABS_ROUNDING
    rel = REL_IDENTITY_F32 if _is_f32(preds) else REL_IDENTITY_F64
    assert np.all(rows.kl_divergence >= -slack)
    np.testing.assert_allclose(
        rows.cross_entropy, rows.target_entropy + rows.kl_divergence, rtol=rel, atol=slack
    )


@SETTINGS
@given(problems())
def test_entropy_is_between_zero_and_log_c_and_perplexity_at_least_one(problem):
    preds, target, options = problem
    c = preds.shape[1]
    slack = ABS_ROUNDING_F32 if _is_f32(preds) else ABS_ROUNDING
    q = to_distributions(preds, options["kind"], temperature=options["temperature"])
    per_row = score_rows(q, None, eps=1e-12).entropy
    assert np.all(per_row >= -slack)
    assert np.all(per_row <= math.log(c) + slack)
    r = evaluate_arrays(preds, target, **options).compute()
    assert -slack <= r.metrics["entropy"] <= math.log(c) + slack
    assert r.metrics["target_entropy"] <= math.log(c) + slack
    assert r.metrics["perplexity"] >= 1.0 - slack


@SETTINGS
@given(problems())
def test_perplexity_and_accuracy_are_identical_in_every_base_and_information_scales(problem):
    preds, target, options = problem
    state = evaluate_arrays(preds, target, **options)
    nats = state.compute("e")
    for base, ln in (("2", math.log(2)), ("10", math.log(10))):
        other = state.compute(base)
        assert other.metrics["perplexity"] == nats.metrics["perplexity"]
        assert other.standard_error["perplexity"] == nats.standard_error["perplexity"]
        hits = "accuracy" if "accuracy" in nats.metrics else "top1_agreement"
        assert other.metrics[hits] == nats.metrics[hits]
        for name in ("entropy", "target_entropy", "cross_entropy", "kl_divergence"):
            assert math.isclose(
                other.metrics[name] * ln, nats.metrics[name], rel_tol=REL_SAME_SUMS, abs_tol=0
            )


# ------------------------------------------------------------------ chunking and merging
# Parametrised by input precision so a float32-only failure is reported as such. The same
# per-row values summed in another order differ by float64 rounding only, whatever the
# input precision, because every sum over rows is accumulated in float64.

PRECISIONS = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])


@PRECISIONS
@SETTINGS
@given(data=st.data())
def test_metrics_do_not_depend_on_the_chunk_size(dtype, data):
    preds, target, options = data.draw(problems(dtype=dtype), label="problem")
    whole = evaluate_arrays(preds, target, **options).compute()
    for chunk_rows in (1, 7):
        chunked = evaluate_arrays(preds, target, chunk_rows=chunk_rows, **options).compute()
        assert_same_results(chunked, whole)


@PRECISIONS
@SETTINGS
@given(data=st.data())
def test_merging_two_halves_equals_one_state_over_the_whole(dtype, data):
    preds, target, options = data.draw(problems(dtype=dtype), label="problem")
    n = preds.shape[0]
    cut = data.draw(st.integers(1, n - 1), label="cut")
    first = evaluate_arrays(preds[:cut], target[:cut], **options)
    second = evaluate_arrays(preds[cut:], target[cut:], **options)
    first.merge(second)
    whole = evaluate_arrays(preds, target, **options)
    assert_same_results(first.compute(), whole.compute())
    assert first.n_renormalised == whole.n_renormalised


@SETTINGS
@given(problems())
def test_merging_with_an_empty_state_is_the_identity(problem):
    preds, target, options = problem
    state = evaluate_arrays(preds, target, **options)
    before = state.to_dict()
    state.merge(EvalState(state.settings))
    assert state.to_dict() == before
    empty = EvalState(state.settings)
    empty.merge(state)
    assert empty.to_dict() == before


@SETTINGS
@given(problems())
def test_state_dict_json_round_trip_preserves_compute(problem):
    preds, target, options = problem
    state = evaluate_arrays(preds, target, **options)
    rebuilt = EvalState.from_dict(json.loads(json.dumps(state.to_dict())))
    for base in ("e", "2", "10"):
        assert_same_results(rebuilt.compute(base), state.compute(base), rel_metrics=0.0, rel_se=0.0)


@PRECISIONS
@SETTINGS
@given(data=st.data())
def test_metrics_do_not_depend_on_the_row_order(dtype, data):
    preds, target, options = data.draw(problems(dtype=dtype), label="problem")
    order = np.array(data.draw(st.permutations(range(preds.shape[0])), label="order"))
    original = evaluate_arrays(preds, target, **options).compute()
    shuffled = evaluate_arrays(preds[order], target[order], **options).compute()
    assert_same_results(shuffled, original)


# ------------------------------------------------------------------------------ Moments

MOMENT_VALUES = hnp.arrays(
    np.float64,
    st.integers(2, 60),
    elements=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
)


def _moments_of(values: np.ndarray) -> Moments:
    m = Moments()
    m.add(values)
    return m


@SETTINGS
@given(MOMENT_VALUES, st.data())
def test_moments_merge_equals_add_on_the_concatenation(values, data):
    cuts = sorted(data.draw(st.lists(st.integers(0, values.size), max_size=3), label="cuts"))
    merged = Moments()
    for part in np.split(values, cuts):  # parts may be empty
        merged.merge(_moments_of(part))
    whole = _moments_of(values)
    # rounding of the values' own magnitude, not a relative slack on a possibly zero spread
    slack = 1e-12 * (float(np.max(np.abs(values))) + 1.0)
    assert merged.n == whole.n == values.size
    assert math.isclose(merged.mean, whole.mean, rel_tol=REL_SAME_SUMS, abs_tol=slack)
    assert math.isclose(merged.std_error, whole.std_error, rel_tol=REL_SE, abs_tol=slack)
    # and both against NumPy written differently
    assert math.isclose(whole.mean, float(np.mean(values)), rel_tol=REL_SAME_SUMS, abs_tol=slack)
    reference_se = float(np.std(values, ddof=1) / np.sqrt(values.size))
    assert math.isclose(whole.std_error, reference_se, rel_tol=REL_SE, abs_tol=slack)
    assert math.isclose(merged.std_error, reference_se, rel_tol=REL_SE, abs_tol=slack)


@SETTINGS
@given(hnp.arrays(np.bool_, st.integers(1, 200)))
def test_moments_of_booleans_equal_those_of_zeros_and_ones(hits):
    counted, summed = Moments.of(hits), Moments.of(hits.astype(np.float64))
    assert counted.n == summed.n and counted.total == summed.total == np.count_nonzero(hits)
    assert math.isclose(counted.m2, summed.m2, rel_tol=1e-12, abs_tol=1e-12)
    if hits.size > 1:
        reference_se = float(np.std(hits, ddof=1) / np.sqrt(hits.size))
        assert math.isclose(counted.std_error, reference_se, rel_tol=REL_SE, abs_tol=1e-15)


def test_moments_of_fewer_than_two_values_have_no_standard_error():
    m = Moments()
    assert math.isnan(m.mean) and math.isnan(m.std_error)
    m.add(np.array([3.5]))
    assert m.mean == 3.5 and math.isnan(m.std_error)
    m.add(np.array([1.5]))
    assert m.mean == 2.5
    assert math.isclose(m.std_error, 1.0, rel_tol=REL_SE)  # sample std of {3.5, 1.5} is sqrt 2; / sqrt 2
