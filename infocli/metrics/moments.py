"""Mergeable first and second moments of a per-row quantity."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Moments:
    """Count, sum and sum of squared deviations of a stream of values, mergeable exactly.

    The state is plain numbers, so partial results from chunks, files or machines combine
    with :meth:`merge` (the pairwise update of Chan, Golub and LeVeque), which equals
    feeding one accumulator every value up to float64 rounding. Values are accumulated
    in float64 whatever their dtype.

    Example:
        >>> m = Moments()
        >>> m.add(np.array([1.0, 2.0, 3.0]))
        >>> m.mean, round(m.std_error, 6)  # std 1, over sqrt(3)
        (2.0, 0.57735)
    """

    n: int = 0
    total: float = 0.0
    m2: float = 0.0

    @classmethod
    def of(cls, values: np.ndarray) -> Moments:
        """The moments of a 1-D array of values.

        Args:
            values: Any real dtype; summed in float64.

        Returns:
            A new accumulator holding them.
        """
        if values.size == 0:
            return cls()
        if values.dtype == np.bool_:  # hits: k ones among n, so m2 = k (n - k) / n exactly
            n, k = values.size, int(np.count_nonzero(values))
            return cls(n, float(k), k * (n - k) / n)
        total = float(np.sum(values, dtype=np.float64))
        if math.isfinite(total):
            deviations = np.asarray(values, dtype=np.float64) - total / values.size
            m2 = float(np.einsum("i,i->", deviations, deviations))  # no BLAS threads
        else:
            m2 = math.nan
        return cls(int(values.size), total, m2)

    def add(self, values: np.ndarray) -> None:
        """Accumulate a 1-D array of values.

        Args:
            values: Any real dtype; summed in float64.
        """
        self.merge(Moments.of(values))

    def merge(self, other: Moments) -> None:
        """Fold another accumulator's values into this one.

        Args:
            other: An accumulator of the same quantity.
        """
        if other.n == 0:
            return
        if self.n == 0:
            self.n, self.total, self.m2 = other.n, other.total, other.m2
            return
        n = self.n + other.n
        if math.isfinite(self.total) and math.isfinite(other.total):
            delta = other.total / other.n - self.total / self.n
            self.m2 += other.m2 + delta * delta * self.n * other.n / n
        else:
            self.m2 = math.nan
        self.n = n
        self.total += other.total

    @property
    def mean(self) -> float:
        """The mean of the values (NaN when there are none)."""
        return self.total / self.n if self.n else math.nan

    @property
    def std_error(self) -> float:
        """Sample standard deviation / sqrt(n); NaN for fewer than two values or an infinite one."""
        if self.n < 2 or math.isnan(self.m2):
            return math.nan
        return math.sqrt(max(self.m2, 0.0) / (self.n - 1) / self.n)
