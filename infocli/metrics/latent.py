"""The KL term of a variational autoencoder, from saved encoder outputs.

Pure NumPy, no I/O. Each chunk brings, per example and latent dimension, the posterior's
mean and a scale (a log-variance, log σ, σ or a variance), and optionally a diagonal
Gaussian prior's. :class:`LatentState` keeps per-dimension sums (Σ KL_d, and the Chan-merged
mean and spread of μ_d over rows) and the moments of the per-example KL, and merges exactly.

Definitions (nats; ``--base`` converts the KL):

* per dimension, KL(N(μ, σ²) ‖ N(μ_p, σ_p²)) = ½ (r − 1 − ln r + (μ − μ_p)² / σ_p²) with
  r = σ² / σ_p², computed as ½ (expm1(ln r) − ln r + ...) so that r near 1 loses no digits;
  N(0, I) is the prior by default;
* the KL of an example is the sum over dimensions; ``kl_divergence`` is its mean over rows;
* a dimension is active when the sample variance (n − 1) over rows of μ_d exceeds the
  threshold (Burda, Grosse and Salakhutdinov 2015), and collapsed when its mean KL is below
  the collapse threshold (nats);
* with free bits λ, ``kl_free_bits`` = Σ_d max(λ, mean KL_d): the batch-averaged form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from infocli.errors import InfoCliError, param
from infocli.metrics.moments import Moments
from infocli.metrics.registry import LN_BASE, UNITS
from infocli.metrics.state import (
    FORMAT_VERSION,
    NAMES,
    POSITIVE,
    Check,
    check_inputs,
    check_mergeable,
    check_settings_shape,
    count,
    from_json_float,
    header,
    moments_from_dict,
    moments_to_dict,
    one_of,
    optional,
    real,
    to_json_float,
)

PARAMS = ("logvar", "log_sigma", "sigma", "var")
"""How a scale is given: ln σ², ln σ, σ or σ²."""


def log_variance(scale: np.ndarray, param: str) -> np.ndarray:
    """ln σ² in float64 from scales given as ``param``.

    A σ or variance of 0 gives -inf; a negative one gives NaN (see :func:`check_values`).

    Args:
        scale: (n, d) scales, any real dtype.
        param: One of :data:`PARAMS`.

    Returns:
        (n, d) float64 log-variances (a new array unless ``scale`` is float64 logvar).
    """
    values = np.asarray(scale, dtype=np.float64)
    if param == "logvar":
        return values
    if param == "log_sigma":
        return values * 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(values) * 2.0 if param == "sigma" else np.log(values)


def gaussian_kl(
    mu: np.ndarray,
    logvar: np.ndarray,
    prior_mu: np.ndarray | None = None,
    prior_logvar: np.ndarray | None = None,
) -> np.ndarray:
    """KL(N(μ, σ²) ‖ N(μ_p, σ_p²)) per element, in nats, in float64 (N(0, 1) without a prior).

    A log-variance whose exp overflows gives +inf, never NaN; NaN is left where an input
    is NaN (or both variances are infinite), for :func:`check_values` to name.

    Args:
        mu: (n, d) posterior means.
        logvar: (n, d) posterior log-variances (float64).
        prior_mu: (n, d) prior means, or None.
        prior_logvar: (n, d) prior log-variances, or None.

    Returns:
        (n, d) float64 KL terms.

    Example:
        >>> float(gaussian_kl(np.array([[1.0]]), np.array([[0.0]]))[0, 0])  # ½ μ²
        0.5
    """
    mean = np.asarray(mu, dtype=np.float64)
    if prior_logvar is None:
        ratio = logvar
        shift = mean * mean
    else:
        assert prior_mu is not None
        ratio = logvar - prior_logvar
        shift = mean - prior_mu
        np.square(shift, out=shift)
        with np.errstate(over="ignore"):
            shift *= np.exp(-prior_logvar)
    with np.errstate(over="ignore", invalid="ignore"):
        kl = np.expm1(ratio)
        kl -= ratio
    kl += shift
    kl *= 0.5
    return kl


def check_values(
    arrays: dict[str, np.ndarray],
    scales: dict[str, str],
    columns: dict[str, list[str]],
    files: dict[str, str] | None = None,
) -> None:
    """Raise for the first NaN, infinite mean, or negative σ or variance, naming its row
    and column.

    Args:
        arrays: Role (``mu``, ``scale``, ``prior_mu``, ``prior_scale``) -> (n, d) values.
        scales: Role -> parameterisation, for the scale roles.
        columns: Role -> the name of each of its columns, for the message.
        files: Role -> the file its values come from, where the roles' files differ.

    Raises:
        InfoCliError: With the chunk-local ``row``.
    """
    found: tuple[int, int, str] | None = None
    for role, values in arrays.items():
        bad = np.isnan(values)
        if scales.get(role) in ("sigma", "var"):
            bad |= values < 0
        if role == "mu":
            bad |= np.isinf(values)
        rows = np.flatnonzero(bad.any(axis=1))
        if len(rows) and (found is None or rows[0] < found[0]):
            found = (int(rows[0]), int(np.flatnonzero(bad[rows[0]])[0]), role)
    if found is None:
        return
    row, col, role = found
    value = float(arrays[role][row, col])
    name = columns[role][col]
    path = (files or {}).get(role)
    if math.isnan(value):
        raise InfoCliError(
            f"column {name}: missing or NaN value; expected a number",
            path=path,
            row=row,
            hint="Every row needs every value",
        )
    if role == "mu":
        raise InfoCliError(
            f"column {name}: the mean is {value:g}; expected a finite number", path=path, row=row
        )
    raise InfoCliError(
        f"column {name}: {scales[role]} is {value:g}; expected a number >= 0",
        path=path,
        row=row,
        hint="A standard deviation or variance cannot be negative; if these are log-scales, "
        f"say so with {param('param')}",
    )


def latent_settings(
    dims: list[str],
    *,
    param: str = "logvar",
    prior_param: str | None = None,
    au_threshold: float = 0.01,
    collapse_threshold: float = 0.01,
    free_bits: float | None = None,
) -> dict[str, Any]:
    """The settings of a latent state (see :data:`LATENT_SETTINGS`).

    Args:
        dims: The latent dimensions' names, in order.
        param: The posterior scales' parameterisation.
        prior_param: The prior scales', or None for the N(0, I) prior.
        au_threshold: Variance of μ_d over rows above which a dimension is active.
        collapse_threshold: Mean KL (nats) below which a dimension is collapsed.
        free_bits: λ of free bits (nats), or None.

    Returns:
        Plain values (JSON-ready).
    """
    return {
        "param": param,
        "prior": "standard" if prior_param is None else "given",
        "prior_param": prior_param,
        "dims": list(dims),
        "au_threshold": float(au_threshold),
        "collapse_threshold": float(collapse_threshold),
        "free_bits": None if free_bits is None else float(free_bits),
        "format_version": FORMAT_VERSION,
    }


@dataclass(frozen=True)
class LatentResults:
    """The reported numbers of a latent-kl run, derived from a :class:`LatentState`.

    Attributes:
        metrics: Registered metric name -> value (KL in ``base`` units; unit counts).
        standard_error: Metric name -> standard error, where one is defined.
        n_samples: Rows.
        base: The log base.
        unit: Its unit of information.
        dimensions: One dict per dimension (``dim``, ``kl``, ``share`` of the total, None
            when the total is infinite or 0, ``mu_variance``, ``active``, ``collapsed``),
            sorted from the largest mean KL.
        collapsed: The collapsed dimensions' names, in dimension order.
        n_infinite: Rows whose KL is infinite.
    """

    metrics: dict[str, float]
    standard_error: dict[str, float]
    n_samples: int
    base: str
    unit: str
    dimensions: list[dict[str, Any]]
    collapsed: list[str]
    n_infinite: int


@dataclass
class LatentState:
    """Per-dimension sums and per-example moments of a latent KL; merges exactly.

    Attributes:
        settings: Everything that changes a number (parameterisations, prior, the
            dimensions' names, thresholds, free bits, format version): states merge only
            when these are equal.
        inputs: What the report says about each part's input, in merge order.
        kl: Moments of the per-example KL (nats).
        kl_sums: (d,) Σ over rows of KL_d (nats).
        mu_mean: (d,) mean over rows of μ_d.
        mu_m2: (d,) Σ over rows of (μ_d − mean)², Chan-merged.
        n_infinite: Rows whose KL is infinite; ``first_infinite`` is the first one, as
            (path, row).

    Example:
        >>> state = LatentState(latent_settings(["0"]))
        >>> state.update(np.array([[1.0], [-1.0]]), np.zeros((2, 1)))  # logvar 0: σ = 1
        >>> state.compute().metrics["kl_divergence"]  # ½ μ² on each row
        0.5
    """

    settings: dict[str, Any] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    kl: Moments = field(default_factory=Moments)
    kl_sums: np.ndarray = field(default_factory=lambda: np.zeros(0))
    mu_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    mu_m2: np.ndarray = field(default_factory=lambda: np.zeros(0))
    n_infinite: int = 0
    first_infinite: tuple[str, int] | None = None

    command = "latent-kl"

    def __post_init__(self) -> None:
        d = len(self.settings.get("dims", ()))
        if len(self.kl_sums) != d:
            self.kl_sums, self.mu_mean, self.mu_m2 = np.zeros(d), np.zeros(d), np.zeros(d)

    @property
    def n_samples(self) -> int:
        """Rows accumulated."""
        return self.kl.n

    def update(
        self,
        mu: np.ndarray,
        scale: np.ndarray,
        prior_mu: np.ndarray | None = None,
        prior_scale: np.ndarray | None = None,
        *,
        columns: dict[str, list[str]] | None = None,
        files: dict[str, str] | None = None,
        where: tuple[str, int] = ("", 0),
    ) -> None:
        """Accumulate a chunk, the scales given as the settings' ``param`` and ``prior_param``.

        The values are checked only where the KL comes out NaN (a NaN input, or a negative
        σ or variance), so that valid chunks cost no extra pass.

        Args:
            mu: (n, d) posterior means, any real dtype.
            scale: (n, d) posterior scales.
            prior_mu: (n, d) prior means, or None for N(0, I).
            prior_scale: (n, d) prior scales, or None.
            columns: Role (``mu``, ``scale``, ``prior_mu``, ``prior_scale``) -> each
                column's name, for messages (``column j`` by default).
            files: Role -> the file its values come from, where the roles' files differ.
            where: The file and the file row of the chunk's first row, for the warning of
                an infinite KL.

        Raises:
            InfoCliError: NaN, a negative σ or variance, or an infinite mean (chunk-local
                ``row``).
        """
        n = len(mu)
        if n == 0:
            return
        settings = self.settings
        means = np.asarray(mu, dtype=np.float64)
        logvar = log_variance(scale, settings["param"])
        prior = None
        if prior_mu is not None and prior_scale is not None:
            prior = (
                np.asarray(prior_mu, dtype=np.float64),
                log_variance(prior_scale, settings["prior_param"]),
            )
        kl = gaussian_kl(means, logvar, *(prior or (None, None)))
        per_row = kl.sum(axis=1)
        chunk_mean = means.sum(axis=0) / n
        if np.isnan(per_row).any() or not np.isfinite(chunk_mean).all():
            arrays = {"mu": mu, "scale": scale}
            if prior is not None:
                arrays |= {"prior_mu": prior_mu, "prior_scale": prior_scale}
            scales = {"scale": settings["param"], "prior_scale": settings["prior_param"]}
            d = mu.shape[1]
            names = columns or {role: [f"{j}" for j in range(d)] for role in arrays}
            check_values(arrays, scales, names, files or {})  # type: ignore[arg-type]
            # Valid inputs: an infinite mean, or both variances infinite; the KL diverges.
            kl[np.isnan(kl)] = math.inf
            per_row = kl.sum(axis=1)
        infinite = np.isinf(per_row)
        if infinite.any():
            if self.first_infinite is None:
                self.first_infinite = (where[0], where[1] + int(np.flatnonzero(infinite)[0]))
            self.n_infinite += int(infinite.sum())
        deviations = means - chunk_mean
        chunk_m2 = np.einsum("ij,ij->j", deviations, deviations)
        self._fold(n, Moments.of(per_row), kl.sum(axis=0), chunk_mean, chunk_m2)

    def _fold(self, n: int, kl: Moments, kl_sums: np.ndarray, mean: np.ndarray, m2: np.ndarray) -> None:
        """Chan, Golub and LeVeque's pairwise update of the per-dimension mean and spread."""
        n_a = self.kl.n
        total = n_a + n
        if n_a == 0:
            self.mu_mean, self.mu_m2 = mean.copy(), m2.copy()
        else:
            delta = mean - self.mu_mean
            self.mu_mean = self.mu_mean + delta * (n / total)
            self.mu_m2 = self.mu_m2 + m2 + delta * delta * (n_a * n / total)
        self.kl_sums = self.kl_sums + kl_sums
        self.kl.merge(kl)

    def merge(self, other: LatentState) -> None:
        """Fold in another state (another chunk, file or machine).

        Args:
            other: A state of the same settings.

        Raises:
            InfoCliError: The settings differ (the first difference is named).
        """
        if other.settings is not self.settings:
            check_mergeable(self.settings, other.settings)
        self.inputs.extend(other.inputs)
        if other.kl.n:
            self._fold(other.kl.n, other.kl, other.kl_sums, other.mu_mean, other.mu_m2)
        if self.first_infinite is None:
            self.first_infinite = other.first_infinite
        self.n_infinite += other.n_infinite

    def compute(self, base: str = "e") -> LatentResults:
        """The KL per example, per dimension, the active and collapsed units.

        Args:
            base: Units of the KL: ``"e"`` (nats), ``"2"`` (bits), ``"10"``.

        Returns:
            The results (NaN where there are no rows; active units NaN below two rows).
        """
        settings, n = self.settings, self.kl.n
        scale = LN_BASE[base]
        dims = list(settings["dims"])
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_kl = self.kl_sums / n if n else np.full(len(dims), math.nan)
            variance = self.mu_m2 / (n - 1) if n > 1 else np.full(len(dims), math.nan)
            total = float(mean_kl.sum())
            share = mean_kl / total if math.isfinite(total) else np.full(len(dims), math.nan)
        active = variance > settings["au_threshold"]
        collapsed = mean_kl < settings["collapse_threshold"]
        metrics = {"kl_divergence": self.kl.mean / scale}  # in the registry's order
        if settings["free_bits"] is not None:
            metrics["kl_free_bits"] = float(np.maximum(mean_kl, settings["free_bits"]).sum()) / scale
        metrics["active_units"] = float(active.sum()) if n > 1 else math.nan
        metrics["collapsed_units"] = float(collapsed.sum()) if n else math.nan
        order = np.argsort(-mean_kl, kind="stable")
        dimensions = [
            {
                "dim": dims[i],
                "kl": float(mean_kl[i]) / scale,
                "share": None if math.isnan(share[i]) else float(share[i]),
                "mu_variance": float(variance[i]),
                "active": bool(active[i]),
                "collapsed": bool(collapsed[i]),
            }
            for i in order.tolist()
        ]
        return LatentResults(
            metrics,
            {"kl_divergence": (math.inf if math.isinf(self.kl.total) else self.kl.std_error) / scale},
            n,
            base,
            UNITS[base],
            dimensions,
            [dims[i] for i in np.flatnonzero(collapsed).tolist()],
            self.n_infinite,
        )

    def warnings(self) -> list[str]:
        """What the report warns of: infinite KL, too few rows, posterior collapse.

        Returns:
            One line per warning.
        """
        lines = []
        if self.first_infinite is not None:
            path, row = self.first_infinite
            lines.append(
                f"{path}: row {row}: the KL is infinite in {self.n_infinite:,} row"
                f"{'s' * (self.n_infinite != 1)} (a log-variance too large for exp, or a variance of 0); "
                "the first is this one"
            )
        d, n = len(self.settings["dims"]), self.kl.n
        if n == 1:
            lines.append("one row: active units need the variance of the means over at least two rows")
        elif n > 1:
            variance = self.mu_m2 / (n - 1)
            active = int((variance > self.settings["au_threshold"]).sum())
            if active < d / 2:
                lines.append(
                    f"posterior collapse: only {active} of {d} latent dimensions are active (the variance "
                    f"of their mean over rows exceeds {self.settings['au_threshold']:g})"
                )
        return lines

    def to_dict(self) -> dict[str, Any]:
        """The state as JSON-ready data.

        Returns:
            A dictionary of plain values; every float reads back bit for bit.
        """
        return {
            **header(self),
            "n_samples": self.kl.n,
            "kl": moments_to_dict(self.kl),
            "kl_sums": [to_json_float(v) for v in self.kl_sums.tolist()],
            "mu_mean": [to_json_float(v) for v in self.mu_mean.tolist()],
            "mu_m2": [to_json_float(v) for v in self.mu_m2.tolist()],
            "n_infinite": self.n_infinite,
            "first_infinite": None if self.first_infinite is None else list(self.first_infinite),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatentState:
        """Rebuild a state from :meth:`to_dict`, refusing impossible contents.

        Args:
            data: The dictionary (already checked for its format version and command).

        Returns:
            The state.

        Raises:
            InfoCliError: A missing field, a negative count or sum, NaN, lists of the wrong
                length, or counts that do not add up.
        """
        settings = check_settings_shape(data, LATENT_SETTINGS)
        if not settings["dims"]:
            raise InfoCliError("settings.dims is empty; expected at least one latent dimension")
        inputs = check_inputs(data.get("inputs"), ("latent", "scale"))
        state = cls(settings, inputs)
        state.kl = moments_from_dict(data.get("kl"), "kl")
        if state.kl.total < 0:
            raise InfoCliError(f"kl.sum is {state.kl.total!r}; expected a number >= 0")
        if count(data.get("n_samples"), "n_samples") != state.kl.n:
            raise InfoCliError(f"n_samples is {data.get('n_samples')!r} but kl holds {state.kl.n}")
        d = len(settings["dims"])
        for name in ("kl_sums", "mu_mean", "mu_m2"):
            values = data.get(name)
            if not isinstance(values, list) or len(values) != d:
                raise InfoCliError(f"{name} must be a list of {d} numbers, one per dimension")
            array = np.array([from_json_float(v, name) for v in values], dtype=np.float64)
            if np.isnan(array).any():
                raise InfoCliError(f"{name} holds NaN, which no valid input gives")
            if name != "mu_mean" and (array < 0).any():
                raise InfoCliError(f"{name} holds a negative number; expected numbers >= 0")
            if name != "kl_sums" and not np.isfinite(array).all():
                raise InfoCliError(f"{name} holds an infinite number, which no valid input gives")
            setattr(state, name, array)
        if state.kl.n == 0 and (state.kl_sums.any() or state.mu_mean.any() or state.mu_m2.any()):
            raise InfoCliError("the state has no rows but nonzero per-dimension sums")
        state.n_infinite = count(data.get("n_infinite"), "n_infinite")
        if state.n_infinite > state.kl.n:
            raise InfoCliError(f"n_infinite is {state.n_infinite}, more than the {state.kl.n} rows")
        first = data.get("first_infinite")
        if first is None:
            if state.n_infinite:
                raise InfoCliError("first_infinite is missing, but n_infinite is not 0")
        else:
            if not (isinstance(first, list) and len(first) == 2 and isinstance(first[0], str)):
                raise InfoCliError("first_infinite must be [path, row]")
            if not state.n_infinite:
                raise InfoCliError("first_infinite is given, but n_infinite is 0")
            state.first_infinite = (first[0], count(first[1], "first_infinite row"))
        if (state.n_infinite > 0) != math.isinf(state.kl.total):
            raise InfoCliError(f"n_infinite is {state.n_infinite} but kl.sum is {state.kl.total!r}")
        return state


LATENT_SETTINGS: dict[str, Check] = {
    "param": one_of(*PARAMS),
    "prior": one_of("standard", "given"),
    "prior_param": optional(one_of(*PARAMS)),
    "dims": NAMES,
    "au_threshold": real(0.0),
    "collapse_threshold": real(0.0),
    "free_bits": optional(real(0.0)),
    "format_version": POSITIVE,
}
"""The settings a latent state holds, each with its test."""
