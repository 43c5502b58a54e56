"""The temperature that would calibrate a model (Guo et al.'s temperature scaling), in one pass.

Pure NumPy. The cross-entropy of softmax(z / T) is accumulated at a fixed grid of
:data:`N_TEMPERATURES` temperatures, log-spaced over [:data:`LOWEST`, :data:`HIGHEST`], as
plain sums that merge exactly; T* is the vertex of the parabola in log T through the
grid's lowest point and its two neighbours. The cross-entropy here is exact (no eps
floor), in nats, of the scores as given (any ``--temperature`` is not applied).

Per row, with m = max_c z_c and d = z - m: CE(T) = log Σ_c exp(d_c / T) + (m − z·p) / T,
p the one-hot label or the target distribution. So one pass keeps Σ_rows log Σ_c
exp(d_c / T) for each grid temperature, and one sum of (m − z·p).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from infocli.errors import InfoCliError

N_TEMPERATURES = 64
"""Temperatures in the grid."""

LOWEST, HIGHEST = 0.05, 20.0
"""The grid's range."""

GRID = np.geomspace(LOWEST, HIGHEST, N_TEMPERATURES)
"""The temperatures, log-spaced."""


def _log_sum_exp_scaled(d: np.ndarray, temperature: float, buffer: np.ndarray) -> float:
    """Σ_rows log Σ_c exp(d / T), for d <= 0 with a 0 in every row (so each sum is >= 1)."""
    np.multiply(d, d.dtype.type(1.0 / temperature), out=buffer)
    np.exp(buffer, out=buffer)
    sums = np.einsum("ij->i", buffer, dtype=np.float64)
    return float(np.log(sums).sum())


@dataclass
class TemperatureFit:
    """Cross-entropy sums at the grid temperatures; merging equals concatenating.

    Attributes:
        n: Rows accumulated.
        log_sums: (N_TEMPERATURES,) Σ_rows log Σ_c exp(d_c / T) at each grid temperature.
        margin: Σ_rows (max_c z_c − z·p).

    Example:
        >>> fit = TemperatureFit()
        >>> z = np.log(np.array([[0.8, 0.2], [0.8, 0.2], [0.8, 0.2], [0.2, 0.8]]))
        >>> fit.update(z, np.array([0, 0, 0, 0]))
        >>> # 3 of 4 right at confidence 0.8: the minimiser is ln 4 / ln 3 = 1.262
        >>> abs(fit.best() / (math.log(4) / math.log(3)) - 1) < 0.01
        True
    """

    n: int = 0
    log_sums: np.ndarray = field(default_factory=lambda: np.zeros(N_TEMPERATURES))
    margin: float = 0.0

    def update(self, z: np.ndarray, target: np.ndarray) -> None:
        """Accumulate a chunk.

        Args:
            z: (n, C) logits or log-probabilities (finite, or -inf for an impossible class).
            target: (n,) class indices, or (n, C) target probabilities.
        """
        if not len(z):
            return
        top = z.max(axis=1)
        d = z - top[:, None]
        if target.ndim == 1:
            at_target = np.take_along_axis(z, target[:, None].astype(np.intp), axis=1)[:, 0]
        else:
            with np.errstate(invalid="ignore"):
                at_target = np.einsum("ij,ij->i", np.where(target > 0, z, 0), target, dtype=np.float64)
        buffer = np.empty_like(d)
        for k, temperature in enumerate(GRID):
            self.log_sums[k] += _log_sum_exp_scaled(d, float(temperature), buffer)
        self.margin += float(np.sum(top - at_target, dtype=np.float64))
        self.n += len(z)

    def merge(self, other: TemperatureFit) -> None:
        """Fold in another fit's sums."""
        self.n += other.n
        self.log_sums += other.log_sums
        self.margin += other.margin

    def cross_entropy(self) -> np.ndarray:
        """(N_TEMPERATURES,) the mean cross-entropy in nats at each grid temperature."""
        return (self.log_sums + self.margin / GRID) / self.n

    def best(self) -> float:
        """T*: the vertex, in log T, of the parabola through the grid's minimum and its neighbours.

        Returns:
            The temperature; a grid end when the minimum lies there, NaN without rows or
            where the cross-entropy is not finite.
        """
        if not self.n or not math.isfinite(self.margin):
            return math.nan
        ce = self.cross_entropy()
        k = int(np.argmin(ce))
        if k in (0, N_TEMPERATURES - 1):
            return float(GRID[k])
        x = np.log(GRID[k - 1 : k + 2])
        y = ce[k - 1 : k + 2]
        h = x[1] - x[0]  # the grid is even in log T
        curvature = y[0] - 2 * y[1] + y[2]
        if curvature <= 0:
            return float(GRID[k])
        return float(np.exp(x[1] + h * (y[0] - y[2]) / (2 * curvature)))

    def at_edge(self) -> bool:
        """Whether T* is at an end of the grid (the true minimiser may lie beyond it)."""
        t = self.best()
        return t in (float(GRID[0]), float(GRID[-1]))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``n``, ``log_sums`` (one per grid temperature) and ``margin`` (``"inf"``
        when a target had probability 0)."""
        margin = "inf" if self.margin == math.inf else self.margin  # a target of probability 0
        return {"n": self.n, "log_sums": self.log_sums.tolist(), "margin": margin}

    @classmethod
    def from_dict(cls, data: Any, what: str = "temperature_fit") -> TemperatureFit:
        """Rebuild a fit from :meth:`to_dict`, refusing impossible contents.

        Raises:
            InfoCliError: Missing keys, a negative count, sums that are not numbers.
        """
        if not isinstance(data, dict) or set(data) != {"n", "log_sums", "margin"}:
            raise InfoCliError(f"{what} must hold exactly n, log_sums and margin")
        n = data["n"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise InfoCliError(f"{what}.n is {n!r}; expected a count")
        sums, margin = data["log_sums"], data["margin"]
        margin = math.inf if margin == "inf" else margin
        numbers = isinstance(sums, list) and len(sums) == N_TEMPERATURES
        numbers = numbers and all(isinstance(v, int | float) and not isinstance(v, bool) for v in sums)
        if not numbers or isinstance(margin, bool) or not isinstance(margin, int | float):
            raise InfoCliError(f"{what}: log_sums must list {N_TEMPERATURES} numbers and margin be a number")
        log_sums = np.array(sums, dtype=np.float64)
        # each row adds log Σ exp(d / T) in [0, log C] and a margin >= 0
        if not (np.isfinite(log_sums).all() and (log_sums >= 0).all() and margin >= 0):
            raise InfoCliError(f"{what} holds negative or non-finite sums, which no valid input gives")
        if n == 0 and (margin != 0 or log_sums.any()):
            raise InfoCliError(f"{what} has no rows but non-zero sums")
        return cls(n, log_sums, float(margin))
