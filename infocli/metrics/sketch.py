"""A mergeable sketch of a distribution of per-row values, for percentiles without the rows.

A log-bucketed histogram in the style of DDSketch (Masson, Rim and Lee, 2019): a value x
with |x| >= :data:`MIN_VALUE` is counted in bucket k = ceil(log_γ |x|) of its sign, with
γ = (1 + α) / (1 − α); every value in a bucket is within relative accuracy α of the
bucket's representative 2γ^k / (γ + 1). Smaller magnitudes are counted as zeros, and
infinities apart. The counts are integers, so merging is exact and order-free; memory is
one count per bucket between the smallest and the largest magnitude seen (about 5,500
buckets per sign from 1e-12 to 1e12 at the default α).

The guarantee: :meth:`Sketch.quantile` of q is within relative accuracy α of the order
statistic of rank floor(q (n − 1)) (``np.percentile(values, 100 q, method="lower")``),
or within :data:`MIN_VALUE` of it where that statistic is smaller in magnitude; the
minimum and the maximum are exact.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from infocli.errors import InfoCliError

RELATIVE_ACCURACY = 0.005
"""α: every reported percentile is within 0.5% of the true order statistic."""

MIN_VALUE = 1e-12
"""Magnitudes below this are counted as zeros."""

QUANTILES = {
    "p0.1": 0.001,
    "p1": 0.01,
    "p5": 0.05,
    "p10": 0.1,
    "p50": 0.5,
    "p90": 0.9,
    "p95": 0.95,
    "p99": 0.99,
    "p99.9": 0.999,
}
"""The percentiles a summary reports, by key."""

SUMMARY_KEYS = ("min", *QUANTILES, "max", "relative_accuracy")
"""The keys of :meth:`Sketch.summary`, in order."""


class _Buckets:
    """Counts of consecutive bucket keys, from ``offset``; grows to cover new keys."""

    def __init__(self, offset: int = 0, counts: np.ndarray | None = None) -> None:
        self.offset = offset
        self.counts = np.zeros(0, np.int64) if counts is None else counts

    def add_counts(self, offset: int, counts: np.ndarray) -> None:
        if not counts.size:
            return
        if not self.counts.size:
            self.offset, self.counts = offset, counts.astype(np.int64, copy=True)
            return
        low = min(self.offset, offset)
        high = max(self.offset + self.counts.size, offset + counts.size)
        if (low, high) != (self.offset, self.offset + self.counts.size):
            grown = np.zeros(high - low, np.int64)
            grown[self.offset - low : self.offset - low + self.counts.size] = self.counts
            self.offset, self.counts = low, grown
        self.counts[offset - low : offset - low + counts.size] += counts

    def add_keys(self, keys: np.ndarray) -> None:
        if keys.size:
            low = int(keys.min())
            self.add_counts(low, np.bincount(keys - low))

    def to_dict(self) -> dict[str, Any]:
        nonzero = np.flatnonzero(self.counts)
        if not nonzero.size:
            return {"offset": 0, "counts": []}
        first, last = int(nonzero[0]), int(nonzero[-1])
        return {"offset": self.offset + first, "counts": self.counts[first : last + 1].tolist()}

    @classmethod
    def from_dict(cls, data: Any, what: str) -> _Buckets:
        counts = data.get("counts") if isinstance(data, dict) else None
        offset = data.get("offset") if isinstance(data, dict) else None
        if not (
            isinstance(offset, int)
            and not isinstance(offset, bool)
            and isinstance(counts, list)
            and all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts)
        ):
            raise InfoCliError(f"{what} is {data!r}; expected an offset and a list of counts >= 0")
        return cls(offset, np.array(counts, np.int64))


class Sketch:
    """Counts of values by log bucket and sign, from which any percentile follows.

    Example:
        >>> sketch = Sketch.of(np.arange(1, 1001, dtype=float))
        >>> sketch.n, sketch.min, sketch.max
        (1000, 1.0, 1000.0)
        >>> abs(sketch.quantile(0.5) / 500 - 1) <= RELATIVE_ACCURACY
        True
    """

    def __init__(self, relative_accuracy: float = RELATIVE_ACCURACY) -> None:
        if not 0 < relative_accuracy < 1:
            raise ValueError(f"relative accuracy {relative_accuracy!r} is not in (0, 1)")
        self.relative_accuracy = relative_accuracy
        self.gamma = (1 + relative_accuracy) / (1 - relative_accuracy)
        self._log_gamma = math.log(self.gamma)
        self.positive = _Buckets()
        self.negative = _Buckets()
        self.zeros = 0
        self.infinite = [0, 0]  # -inf, +inf
        self.n = 0
        self.min = math.nan
        self.max = math.nan

    @classmethod
    def of(cls, values: np.ndarray) -> Sketch:
        """A sketch of ``values``."""
        sketch = cls()
        sketch.add(values)
        return sketch

    def add(self, values: np.ndarray) -> None:
        """Count values (any shape, float).

        Raises:
            ValueError: A value is NaN.
        """
        values = np.asarray(values, np.float64).ravel()
        if not values.size:
            return
        low, high = float(values.min()), float(values.max())
        if math.isnan(low) or math.isnan(high):
            raise ValueError("a sketch cannot count NaN")
        magnitude = np.abs(values)
        finite = magnitude < math.inf
        counted = finite & (magnitude >= MIN_VALUE)
        keys = np.ceil(np.log(magnitude[counted]) / self._log_gamma).astype(np.int64)
        negative = values[counted] < 0
        self.negative.add_keys(keys[negative])
        self.positive.add_keys(keys[~negative])
        n_infinite = values.size - int(np.count_nonzero(finite))
        if n_infinite:
            n_positive = int(np.count_nonzero(values == math.inf))
            self.infinite[0] += n_infinite - n_positive
            self.infinite[1] += n_positive
        self.zeros += int(np.count_nonzero(finite)) - keys.size
        self._extend(values.size, low, high)

    def _extend(self, n: int, low: float, high: float) -> None:
        self.min = low if self.n == 0 else min(self.min, low)
        self.max = high if self.n == 0 else max(self.max, high)
        self.n += n

    def merge(self, other: Sketch) -> None:
        """Fold in another sketch of the same relative accuracy (exact: counts add).

        Raises:
            InfoCliError: The relative accuracies differ.
        """
        if other.relative_accuracy != self.relative_accuracy:
            raise InfoCliError(
                f"sketches of relative accuracy {self.relative_accuracy!r} and "
                f"{other.relative_accuracy!r} cannot be merged"
            )
        if not other.n:
            return
        self.positive.add_counts(other.positive.offset, other.positive.counts)
        self.negative.add_counts(other.negative.offset, other.negative.counts)
        self.zeros += other.zeros
        self.infinite = [a + b for a, b in zip(self.infinite, other.infinite, strict=True)]
        self._extend(other.n, other.min, other.max)

    def _ordered(self) -> tuple[np.ndarray, np.ndarray]:
        """Every bucket's count and representative value, from the most negative up."""

        def represent(buckets: _Buckets) -> np.ndarray:
            keys = np.arange(buckets.offset, buckets.offset + buckets.counts.size, dtype=np.float64)
            return 2 * np.exp(keys * self._log_gamma) / (self.gamma + 1)

        counts = np.concatenate(
            (
                [self.infinite[0]],
                self.negative.counts[::-1],
                [self.zeros],
                self.positive.counts,
                [self.infinite[1]],
            )
        )
        values = np.concatenate(
            ([-math.inf], -represent(self.negative)[::-1], [0.0], represent(self.positive), [math.inf])
        )
        return counts, values

    def quantiles(self, qs: np.ndarray) -> np.ndarray:
        """:meth:`quantile` of each q, in one pass over the buckets."""
        qs = np.asarray(qs, np.float64)
        if not self.n:
            return np.full(qs.shape, math.nan)
        counts, values = self._ordered()
        ranks = np.floor(qs * (self.n - 1))
        found = values[np.searchsorted(np.cumsum(counts), ranks, side="right")]
        found = np.clip(found, self.min, self.max)
        found[qs <= 0] = self.min
        found[qs >= 1] = self.max
        return found

    def quantile(self, q: float) -> float:
        """The q-quantile (q in [0, 1]), within the stated accuracy; NaN when empty."""
        return float(self.quantiles(np.array([q]))[0])

    def summary(self, scale: float = 1.0) -> dict[str, float]:
        """The minimum, the :data:`QUANTILES`, the maximum and the relative accuracy.

        Args:
            scale: A factor > 0 every value is multiplied by (a base's divisor, T²).

        Returns:
            Values by :data:`SUMMARY_KEYS`.
        """
        assert scale > 0
        found = self.quantiles(np.array([0.0, *QUANTILES.values(), 1.0])) * scale
        return {
            **dict(zip(SUMMARY_KEYS, found.tolist(), strict=False)),
            "relative_accuracy": self.relative_accuracy,
        }

    def to_dict(self) -> dict[str, Any]:
        """The sketch as JSON-ready data; floats read back bit for bit."""
        from infocli.metrics.state import to_json_float

        return {
            "relative_accuracy": self.relative_accuracy,
            "min_value": MIN_VALUE,
            "n": self.n,
            "min": to_json_float(self.min) if self.n else None,
            "max": to_json_float(self.max) if self.n else None,
            "zeros": self.zeros,
            "negative_infinite": self.infinite[0],
            "positive_infinite": self.infinite[1],
            "negative": self.negative.to_dict(),
            "positive": self.positive.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Any, what: str) -> Sketch:
        """A sketch from :meth:`to_dict`, refused unless its counts add up.

        Raises:
            InfoCliError: Naming ``what`` and the field that is wrong.
        """
        from infocli.metrics.state import count, from_json_float

        if not isinstance(data, dict):
            raise InfoCliError(f"{what} is {data!r}; expected a sketch")
        if data.get("relative_accuracy") != RELATIVE_ACCURACY or data.get("min_value") != MIN_VALUE:
            raise InfoCliError(
                f"{what} has relative_accuracy {data.get('relative_accuracy')!r} and min_value "
                f"{data.get('min_value')!r}; expected {RELATIVE_ACCURACY!r} and {MIN_VALUE!r}"
            )
        sketch = cls()
        sketch.negative = _Buckets.from_dict(data.get("negative"), f"{what}.negative")
        sketch.positive = _Buckets.from_dict(data.get("positive"), f"{what}.positive")
        sketch.zeros = count(data.get("zeros"), f"{what}.zeros")
        sketch.infinite = [
            count(data.get("negative_infinite"), f"{what}.negative_infinite"),
            count(data.get("positive_infinite"), f"{what}.positive_infinite"),
        ]
        n = count(data.get("n"), f"{what}.n")
        total = (
            int(sketch.negative.counts.sum() + sketch.positive.counts.sum())
            + sketch.zeros
            + sum(sketch.infinite)
        )
        if total != n:
            raise InfoCliError(f"{what}.n is {n} but its buckets hold {total} values")
        if n:
            low = from_json_float(data.get("min"), f"{what}.min")
            high = from_json_float(data.get("max"), f"{what}.max")
            if not low <= high:
                raise InfoCliError(f"{what}.min {low!r} is not at most {what}.max {high!r}")
            sketch._extend(n, low, high)
        elif data.get("min") is not None or data.get("max") is not None:
            raise InfoCliError(f"{what} holds no values but has a min or a max")
        return sketch
