"""The tests of a comparison: normal-approximation intervals and p-values of a mean
difference, McNemar's exact test, and Holm's correction. Pure Python, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

_NORMAL = NormalDist()


def z_quantile(probability: float) -> float:
    """The standard normal quantile: z with P(Z <= z) = ``probability``."""
    return _NORMAL.inv_cdf(probability)


def normal_p(difference: float, std_error: float) -> float:
    """Two-sided p-value of a mean difference under the normal approximation.

    p = P(|Z| >= |d| / SE) = erfc(|d| / (SE sqrt 2)). A zero difference gives 1; a
    nonzero difference with a zero standard error (every row differs by the same
    amount) gives 0; NaN where either is NaN.

    Args:
        difference: The mean difference d.
        std_error: Its standard error.

    Returns:
        The p-value.
    """
    if math.isnan(difference) or math.isnan(std_error):
        return math.nan
    if difference == 0:
        return 1.0
    if std_error == 0 or math.isinf(difference):
        return 0.0
    return math.erfc(abs(difference) / (std_error * math.sqrt(2.0)))


def normal_ps(differences: np.ndarray, std_errors: np.ndarray) -> np.ndarray:
    """:func:`normal_p` of arrays, element by element (the same numbers)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.abs(differences) / (std_errors * math.sqrt(2.0))
    p = np.array([math.erfc(v) if v == v else math.nan for v in z.tolist()])  # NaN stays NaN
    p[(differences == 0) & ~np.isnan(std_errors)] = 1.0
    p[((std_errors == 0) | np.isinf(differences)) & (differences != 0) & ~np.isnan(std_errors)] = 0.0
    return p.reshape(np.shape(differences))


def normal_interval(difference: float, std_error: float, confidence: float) -> tuple[float, float]:
    """The two-sided normal-approximation interval d ± z SE, z the (1 + confidence) / 2 quantile.

    Args:
        difference: The mean difference d.
        std_error: Its standard error (0 gives the point d, d).
        confidence: The coverage, in (0, 1).

    Returns:
        (low, high).
    """
    if std_error == 0:
        return difference, difference
    z = z_quantile(0.5 + confidence / 2)
    return difference - z * std_error, difference + z * std_error


def normal_intervals(
    differences: np.ndarray, std_errors: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`normal_interval` of arrays, element by element (the same numbers).

    Args:
        differences: Mean differences.
        std_errors: Their standard errors (0 gives the point d, d; NaN gives NaN).
        confidence: The coverage, in (0, 1).

    Returns:
        (lows, highs).
    """
    z = z_quantile(0.5 + confidence / 2)
    with np.errstate(invalid="ignore"):
        spread = np.where(std_errors == 0, 0.0, z * std_errors)
    return differences - spread, differences + spread


def mcnemar_p(b: int, c: int) -> float:
    """McNemar's exact test: two-sided p-value of b and c discordant pairs.

    Under the null, b ~ Binomial(b + c, 1/2); p = min(1, 2 P(X <= min(b, c))), which is
    1 for b = c (and for no discordant pairs). The tail is summed in log space over the
    terms that can matter: those within 40 standard deviations of min(b, c) below it
    (every other term is below exp(-800) of the largest).

    Args:
        b: Pairs where the baseline is right and the candidate wrong.
        c: Pairs where the baseline is wrong and the candidate right.

    Returns:
        The p-value.
    """
    n, k = b + c, min(b, c)
    if n == 0 or b == c:
        return 1.0
    low = max(0, k - int(40 * math.sqrt(n)) - 50)
    ks = np.arange(low, k + 1, dtype=np.float64)
    log_terms = (
        math.lgamma(n + 1) - _lgamma(ks + 1) - _lgamma(n - ks + 1) - n * math.log(2.0)
    )  # log C(n, k) 2^-n
    top = float(log_terms.max())
    tail = math.exp(top) * float(np.exp(log_terms - top).sum())
    return min(1.0, 2.0 * tail)


def _lgamma(x: np.ndarray) -> np.ndarray:
    """log Γ of an array (math.lgamma per element; the arrays here are O(sqrt(n)) long)."""
    return np.fromiter((math.lgamma(v) for v in x), dtype=np.float64, count=len(x))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given.

    With the m p-values sorted ascending as p_(1) ... p_(m), the adjusted value of p_(i)
    is max over j <= i of min(1, (m - j + 1) p_(j)); a hypothesis is rejected at level
    alpha when its adjusted p-value is at most alpha. NaN p-values are left out of the
    family (and stay NaN).

    Args:
        p_values: The family's p-values.

    Returns:
        The adjusted p-values.
    """
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(len(p), math.nan)
    present = np.flatnonzero(~np.isnan(p))
    order = present[np.argsort(p[present], kind="stable")]
    scaled = np.minimum(1.0, (len(order) - np.arange(len(order))) * p[order])
    adjusted[order] = np.maximum.accumulate(scaled) if len(order) else scaled
    return adjusted.tolist()


def change_of_exp_se(rate_a: float, rate_b: float, var_a: float, var_b: float, var_d: float) -> float:
    """Delta-method standard error of exp(b) − exp(a) for two paired estimates a and b.

    With Var(a), Var(b) and Var(b − a) known, Cov(a, b) = (Var a + Var b − Var(b − a)) / 2,
    and Var(e^b − e^a) ≈ e^{2b} Var b + e^{2a} Var a − 2 e^{a+b} Cov(a, b).

    Args:
        rate_a: The first estimate (a mean cross-entropy in nats).
        rate_b: The second.
        var_a: The variance of the first (its standard error squared).
        var_b: The variance of the second.
        var_d: The variance of their difference (its paired standard error squared).

    Returns:
        The standard error of the change in exp (perplexity); NaN where a variance is.
    """
    pa, pb = math.exp(rate_a), math.exp(rate_b)
    cov = (var_a + var_b - var_d) / 2
    return math.sqrt(max(pb * pb * var_b + pa * pa * var_a - 2 * pa * pb * cov, 0.0))
