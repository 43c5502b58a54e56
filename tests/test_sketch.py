"""The percentile sketch against np.percentile of the rows, and its merge and JSON round trip."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from infocli.errors import InfoCliError
from infocli.metrics.sketch import MIN_VALUE, QUANTILES, RELATIVE_ACCURACY, SUMMARY_KEYS, Sketch

ALPHA = RELATIVE_ACCURACY * (1 + 1e-9)  # rounding in log() at a bucket's edge


def assert_within(found: float, true: float) -> None:
    """The sketch's guarantee: relative accuracy, or MIN_VALUE absolute for tiny values."""
    if math.isinf(true):
        assert found == true
    elif abs(true) < MIN_VALUE:
        assert abs(found - true) <= MIN_VALUE
    else:
        assert math.copysign(1, found) == math.copysign(1, true) or found == 0 == true
        assert abs(found - true) <= ALPHA * abs(true), (found, true)


def assert_quantiles(sketch: Sketch, values: np.ndarray) -> None:
    for q in (0.0, *QUANTILES.values(), 0.25, 0.75, 1.0):
        true = float(np.percentile(values, 100 * q, method="lower"))
        assert_within(sketch.quantile(q), true)


finite = st.floats(-1e9, 1e9, allow_nan=False).filter(lambda x: x == 0 or abs(x) >= 1e-9)


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 400), elements=finite))
def test_quantiles_are_within_the_stated_accuracy_of_np_percentile(values):
    assert_quantiles(Sketch.of(values), values)


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float64, st.integers(2, 300), elements=finite), st.data())
def test_any_split_merged_in_any_order_counts_the_same(values, data):
    cuts = sorted(data.draw(st.lists(st.integers(0, len(values)), max_size=4)))
    parts = np.split(values, cuts)
    order = data.draw(st.permutations(range(len(parts))))
    merged = Sketch()
    for i in order:
        merged.merge(Sketch.of(parts[i]))
    whole = Sketch.of(values)
    assert merged.to_dict() == whole.to_dict()
    assert merged.summary() == whole.summary()


def test_real_kl_values_of_many_magnitudes():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.lognormal(-6, 3, 200_000), np.zeros(1_000), [1e-15, 3e-14]])
    sketch = Sketch()
    for chunk in np.array_split(values, 37):
        sketch.add(chunk)
    assert sketch.n == values.size
    assert sketch.min == values.min() and sketch.max == values.max()
    assert_quantiles(sketch, values)


def test_signed_values_zeros_and_infinities():
    values = np.array([-2.0, -0.5, 0.0, 0.0, 1e-13, 0.25, 3.0, math.inf])
    sketch = Sketch.of(values)
    assert_quantiles(sketch, values)
    assert sketch.quantile(1.0) == math.inf
    assert sketch.quantile(0.0) == -2.0
    both = Sketch.of(np.array([-math.inf, 1.0]))
    assert both.quantile(0) == -math.inf and both.quantile(1) == 1.0


def test_summary_keys_scale_and_empty():
    sketch = Sketch.of(np.linspace(0.01, 10, 5_000))
    summary = sketch.summary()
    assert tuple(summary) == SUMMARY_KEYS
    assert summary["relative_accuracy"] == RELATIVE_ACCURACY
    scaled = sketch.summary(scale=4.0)
    for key in SUMMARY_KEYS[:-1]:
        assert scaled[key] == pytest.approx(4 * summary[key], rel=1e-15)
    empty = Sketch().summary()
    assert all(math.isnan(empty[k]) for k in SUMMARY_KEYS[:-1])


def test_nan_is_refused():
    with pytest.raises(ValueError, match="NaN"):
        Sketch.of(np.array([1.0, math.nan]))


def test_memory_is_buckets_not_rows():
    sketch = Sketch.of(np.random.default_rng(1).uniform(0, 1, 1_000_000))
    # the magnitudes span 1e-6..1: log(1e6) / log(gamma) buckets, not a million
    assert sketch.positive.counts.size < 1_500


def test_json_round_trip_is_exact():
    values = np.random.default_rng(2).normal(0, 1, 10_000)
    sketch = Sketch.of(np.append(values, [0.0, math.inf]))
    data = json.loads(json.dumps(sketch.to_dict()))
    back = Sketch.from_dict(data, "sketch")
    assert back.to_dict() == sketch.to_dict()
    assert back.summary() == sketch.summary()
    assert Sketch.from_dict(json.loads(json.dumps(Sketch().to_dict())), "s").n == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n": 5}, "n is 5 but its buckets hold"),
        ({"relative_accuracy": 0.01}, "relative_accuracy"),
        ({"zeros": -1}, "zeros"),
        ({"positive": {"offset": 0, "counts": [1, -1]}}, "positive"),
        ({"min": 3.0, "max": 1.0}, "min 3.0 is not at most"),
        ({"min": "x"}, "min"),
    ],
)
def test_impossible_files_are_refused(change, message):
    data = {**Sketch.of(np.array([1.0, 2.0, 0.0])).to_dict(), **change}
    with pytest.raises(InfoCliError, match=message):
        Sketch.from_dict(data, "distributions.kl")


def test_merge_refuses_another_accuracy():
    with pytest.raises(InfoCliError, match="cannot be merged"):
        Sketch().merge(Sketch(0.01))
