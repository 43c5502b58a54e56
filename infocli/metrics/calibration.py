"""Streaming calibration: per-bin sums of confidence and correctness, mergeable exactly.

Pure NumPy. A state never holds rows: it keeps, per (group, cell), five sums from which
the calibration errors, the reliability diagram and the binned Brier decomposition
follow. Memory is O(groups x cells), plus O(groups x classes x bins) for the classwise
ECE while that stays within :data:`CLASSWISE_BUDGET` cells.

The bin rule
    Bins are ``(lower, upper]``, the first ``[0, upper]``: a confidence of exactly 1.0 is
    in the last bin and 0.0 in the first (Guo et al.'s reference code; torchmetrics
    differs, binning ``[lower, upper)``). Edges are ``np.linspace(0, 1, cells + 1)``.
    ``uniform`` accumulates ``bins`` equal-width cells, which are the bins. ``quantile``
    accumulates a fine grid of :data:`GRID` equal-width cells and forms ``bins``
    equal-count bins from it at :meth:`CalibrationState.compute`: a cell goes to the bin
    in which the middle rank of its rows falls, so every edge is a grid edge within
    ``1 / GRID`` (``edge_accuracy``) of the confidence at the bin's first (or last) rank.
    A cell is never split: confidences tied in one cell share a bin, and bins they skip
    are empty. Empty bins contribute 0.

What is accumulated (per group g and cell k)
    ``count`` (int64), ``correct`` (int64: rows whose prediction was right),
    ``confidence`` (Σ f), ``confidence_sq`` (Σ f²) and ``confidence_correct`` (Σ f·o),
    float64, where f is the top-label confidence max_c q_c (or q_1, the positive class, for
    a binary classifier) and o is 1 when the row is correct (for a binary classifier:
    when its label is 1).

API for per-group calibration (the same code with ``n_groups > 1``)
    - ``state = CalibrationState(bins=15, strategy="uniform", n_classes=None)``: one group
      to start; ``n_classes`` given turns on the classwise ECE.
    - ``state.update(confidence, correct, codes=None, probs=None, labels=None)``: ``codes``
      is an optional (n,) integer array of group codes >= 0; the state grows to
      ``codes.max() + 1`` groups. Accumulation is ``np.bincount`` of the flattened index
      ``code * cells + cell`` with weights, so there is no loop over groups. ``probs``
      ((n, C) normalised probabilities) and ``labels`` ((n,) class indices) feed the
      classwise ECE.
    - ``state.merge(other, codes=None)``: ``codes[g]`` is the group of ``self`` that
      ``other``'s group ``g`` joins (distinct codes; identity when None); groups grow
      as needed. Merging equals accumulating both streams, up to float64 rounding of sums.
    - ``state.compute() -> Calibration``: every metric as an (n_groups,) array, the
      reliability bins as (n_groups, bins) arrays; ``Calibration.group(g)`` gives one
      group's numbers as plain floats, ``Calibration.bins_of(g)`` its bins for a report.
    - ``state.to_dict()`` / ``CalibrationState.from_dict(data, what)``: JSON-ready, only
      the non-empty cells, floats bit-exact; ``from_dict`` refuses impossible contents
      with an :class:`InfoCliError` naming ``what``.
    - Memory: 5 x 8 bytes per (group, cell): 600 bytes per group for 15 uniform bins,
      400 kB per group for ``quantile`` (the grid), so many groups want uniform bins.

Metrics (per group; N rows, bin b with n_b rows, mean confidence f̄_b, accuracy ō_b)
    ECE = Σ_b n_b/N |f̄_b − ō_b|; MCE = max over non-empty bins of |f̄_b − ō_b|;
    RMSCE = sqrt(Σ_b n_b/N (f̄_b − ō_b)²); debiased l2 (Kumar et al. 2019) =
    sqrt(max(0, Σ_b n_b/N [(f̄_b − ō_b)² − ō_b(1 − ō_b)/(n_b − 1)])), bins with n_b < 2
    giving 0. Top-label Brier BS = mean (f − o)² = REL − RES + UNC + WBV − WBC (Murphy's
    reliability, resolution and uncertainty, plus Stephenson et al. 2008's within-bin
    variance WBV = (1/N) Σ_b Σ_i (f_i − f̄_b)² and covariance WBC = (2/N) Σ_b Σ_i
    (f_i − f̄_b)(o_i − ō_b)), exactly. Classwise ECE: the mean over classes c of the ECE
    of q_c against [label = c], with ``bins`` equal-width bins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from infocli.errors import InfoCliError
from infocli.metrics.kernels import right_closed_cells

GRID = 10_000
"""Cells of the fine grid that ``quantile`` bins are formed from."""

CLASSWISE_BUDGET = 1_000_000
"""The classwise ECE is kept while groups x classes x bins stays within this many cells."""

STRATEGIES = ("uniform", "quantile")
"""How bins are formed: equal width, or equal count (from the fine grid)."""

SUMS = ("count", "correct", "confidence", "confidence_sq", "confidence_correct")
"""The per-cell sums, in the order they are kept; the first two are integer counts."""

_INTEGER = ("count", "correct")

METRIC_NAMES = (
    "ece",
    "mce",
    "rmsce",
    "debiased_l2_calibration_error",
    "top_label_brier",
    "brier_reliability",
    "brier_resolution",
    "brier_uncertainty",
    "brier_within_bin_variance",
    "brier_within_bin_covariance",
)
"""The numbers :meth:`CalibrationState.compute` gives for every group (and ``classwise_ece``)."""


def cell_of(values: np.ndarray, cells: int) -> np.ndarray:
    """The cell of each value under the bin rule: ``(lower, upper]``, the first ``[0, upper]``.

    Args:
        values: Values in [0, 1].
        cells: Equal-width cells over [0, 1], with edges ``np.linspace(0, 1, cells + 1)``.

    Returns:
        Cell indices in [0, cells), as intp.
    """
    return right_closed_cells(values, cells)


def _grow(array: np.ndarray, n_groups: int) -> np.ndarray:
    """``array`` with zero rows appended up to ``n_groups`` along the first axis."""
    if array.shape[0] >= n_groups:
        return array
    extra = np.zeros((n_groups - array.shape[0], *array.shape[1:]), array.dtype)
    return np.concatenate([array, extra])


def _codes(codes: np.ndarray | None, n: int) -> np.ndarray | None:
    if codes is None:
        return None
    codes = np.asarray(codes)
    if codes.shape != (n,) or codes.dtype.kind not in "iu" or (n and codes.min() < 0):
        raise ValueError(f"codes must be {n} integers >= 0, got {codes.dtype} {codes.shape}")
    return codes.astype(np.intp, copy=False)


@dataclass
class CalibrationState:
    """Per-(group, cell) sums of confidence and correctness; merging equals concatenating.

    Attributes:
        bins: Bins of the reported calibration (>= 1).
        strategy: ``"uniform"`` or ``"quantile"`` (:data:`STRATEGIES`).
        n_classes: Classes of the classwise ECE; None keeps none.
        sums: Name (:data:`SUMS`) -> (n_groups, cells) array.
        classwise: ``confidence`` (Σ q_c) and ``correct`` (Σ [label = c]) as
            (n_groups, n_classes, bins) arrays; None when not kept.
        classwise_skipped: Why the classwise ECE is not reported, when it was asked for.

    Example:
        >>> state = CalibrationState(bins=2)
        >>> state.update(np.array([0.9, 0.9, 0.3, 0.3]), np.array([True, False, False, False]))
        >>> # bin [0, 0.5]: |0.3 - 0| = 0.3; bin (0.5, 1]: |0.9 - 0.5| = 0.4; each half the rows
        >>> round(state.compute().group(0)["ece"], 6)
        0.35
    """

    bins: int = 15
    strategy: str = "uniform"
    n_classes: int | None = None
    sums: dict[str, np.ndarray] = field(default_factory=dict)
    classwise: dict[str, np.ndarray] | None = None
    classwise_skipped: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.bins, bool) or not isinstance(self.bins, int) or self.bins < 1:
            raise ValueError(f"bins must be an integer >= 1, got {self.bins!r}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.strategy == "quantile" and self.bins > GRID:
            raise ValueError(f"quantile bins are formed from {GRID} cells; got {self.bins} bins")
        if not self.sums:
            self.sums = {
                name: np.zeros((1, self.cells), np.int64 if name in _INTEGER else np.float64) for name in SUMS
            }
        if self.n_classes is not None and self.classwise is None and self.classwise_skipped is None:
            self.classwise = {
                "confidence": np.zeros((1, self.n_classes, self.bins)),
                "correct": np.zeros((1, self.n_classes, self.bins), np.int64),
            }
            self._check_budget()

    @property
    def cells(self) -> int:
        """Cells accumulated per group: the bins, or the fine grid for ``quantile``."""
        return GRID if self.strategy == "quantile" else self.bins

    @property
    def n_groups(self) -> int:
        """Groups held (codes 0 .. n_groups - 1)."""
        return self.sums["count"].shape[0]

    @property
    def n_samples(self) -> np.ndarray:
        """(n_groups,) rows accumulated per group."""
        return self.sums["count"].sum(axis=1)

    @property
    def settings(self) -> dict[str, Any]:
        """What two states must share to merge."""
        return {"bins": self.bins, "strategy": self.strategy, "n_classes": self.n_classes}

    def _check_budget(self) -> None:
        if self.classwise is None:
            return
        cells = self.n_groups * self.n_classes * self.bins
        if cells > CLASSWISE_BUDGET:
            self.classwise = None
            self.classwise_skipped = (
                f"classwise ECE skipped: {self.n_groups:,} group(s) x {self.n_classes:,} classes x "
                f"{self.bins} bins = {cells:,} cells, above the budget of {CLASSWISE_BUDGET:,}"
            )

    def _resize(self, n_groups: int) -> None:
        if n_groups <= self.n_groups:
            return
        self.sums = {name: _grow(a, n_groups) for name, a in self.sums.items()}
        if self.classwise is not None:
            self.classwise = {name: _grow(a, n_groups) for name, a in self.classwise.items()}
        self._check_budget()

    def update(
        self,
        confidence: np.ndarray,
        correct: np.ndarray,
        *,
        codes: np.ndarray | None = None,
        probs: np.ndarray | None = None,
        labels: np.ndarray | None = None,
    ) -> None:
        """Accumulate a chunk of rows.

        Args:
            confidence: (n,) float confidences in [0, 1].
            correct: (n,) booleans: the row's prediction was right (the label is 1, for a
                binary classifier's positive class).
            codes: (n,) integer group codes >= 0, or None for group 0.
            probs: (n, n_classes) probabilities, for the classwise ECE (when kept), in any
                float precision (binned in it, summed in float64).
            labels: (n,) class indices, with ``probs``.

        Raises:
            ValueError: Arrays of the wrong shape or codes that are not integers >= 0.
        """
        confidence = np.asarray(confidence, dtype=np.float64)
        correct = np.asarray(correct, dtype=bool)
        n = confidence.shape[0]
        if confidence.shape != (n,) or correct.shape != (n,):
            raise ValueError(
                f"confidence and correct must be 1-D of one length, got {confidence.shape}, {correct.shape}"
            )
        codes = _codes(codes, n)
        if n == 0:
            return
        if codes is not None:
            self._resize(int(codes.max()) + 1)
        cells = self.cells
        index = cell_of(confidence, cells)
        if codes is not None:
            index += codes * cells
        size = self.n_groups * cells
        shape = (self.n_groups, cells)
        # count and correct from one count of (cell, correct) pairs
        pairs = np.bincount(index * 2 + correct, minlength=2 * size).reshape(-1, 2)
        add = {
            "count": pairs.sum(axis=1),
            "correct": pairs[:, 1],
            "confidence": np.bincount(index, confidence, size),
            "confidence_sq": np.bincount(index, confidence * confidence, size),
            "confidence_correct": np.bincount(index, np.where(correct, confidence, 0.0), size),
        }
        for name, values in add.items():
            self.sums[name] += values.reshape(shape).astype(self.sums[name].dtype, copy=False)
        if self.classwise is not None and probs is not None:
            self._update_classwise(np.asarray(probs), np.asarray(labels), codes)

    def _update_classwise(self, probs: np.ndarray, labels: np.ndarray, codes: np.ndarray | None) -> None:
        n, n_classes = probs.shape
        if n_classes != self.n_classes or labels.shape != (n,):
            raise ValueError(
                f"probs must be (n, {self.n_classes}) with (n,) labels, got {probs.shape}, {labels.shape}"
            )
        bins = self.bins
        # Class by class (a transposed view: columnar chunks are class-major in memory), the
        # flat index ((group * classes) + class) * bins + bin of every (class, row).
        by_class = probs.T
        index = cell_of(by_class, bins)
        index += (np.arange(n_classes) * bins)[:, None]
        if codes is not None:
            index += (codes * (n_classes * bins))[None, :]
        size = self.n_groups * n_classes * bins
        at_label = index[labels.astype(np.intp, copy=False), np.arange(n)]
        shape = (self.n_groups, n_classes, bins)
        flat = index.ravel()
        weights = np.ascontiguousarray(by_class).ravel()  # a view for class-major chunks
        self.classwise["confidence"] += np.bincount(flat, weights, size).reshape(shape)
        self.classwise["correct"] += np.bincount(at_label, minlength=size).reshape(shape)

    def merge(self, other: CalibrationState, codes: np.ndarray | None = None) -> None:
        """Fold in another state.

        Args:
            other: A state of the same bins, strategy and classes.
            codes: (other.n_groups,) distinct codes: ``other``'s group g joins group
                ``codes[g]`` of this state; None for the same codes.

        Raises:
            InfoCliError: The settings differ (named).
            ValueError: Codes of the wrong length, negative or repeated.
        """
        if other.settings != self.settings:
            difference = next(k for k in self.settings if self.settings[k] != other.settings[k])
            raise InfoCliError(
                f"the calibration states differ in {difference}: "
                f"{self.settings[difference]!r} vs {other.settings[difference]!r}"
            )
        if codes is None:
            codes = slice(0, other.n_groups)
            self._resize(other.n_groups)
        else:
            codes = _codes(codes, other.n_groups)
            if len(np.unique(codes)) != len(codes):
                raise ValueError("codes must be distinct")
            if len(codes):
                self._resize(int(codes.max()) + 1)
        for name, values in other.sums.items():
            self.sums[name][codes] += values
        if other.classwise is None and self.classwise is not None:
            self.classwise = None
            self.classwise_skipped = other.classwise_skipped
        if self.classwise is not None:
            for name, values in other.classwise.items():
                self.classwise[name][codes] += values

    def _bin_sums(self) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """Per-(group, bin) sums, and each bin's lower and upper edge, (n_groups, bins)."""
        cells, bins, n_groups = self.cells, self.bins, self.n_groups
        edges = np.linspace(0.0, 1.0, cells + 1)
        if self.strategy == "uniform":
            lower = np.broadcast_to(edges[:-1], (n_groups, bins)).copy()
            upper = np.broadcast_to(edges[1:], (n_groups, bins)).copy()
            return dict(self.sums), lower, upper
        count = self.sums["count"]
        total = count.sum(axis=1, keepdims=True)
        before = np.cumsum(count, axis=1) - count  # rows in the cells below each cell
        # the bin of a cell's middle rank, before + count / 2, in integers
        rank = (2 * before + count) * bins // np.maximum(2 * total, 1)
        bin_of_cell = np.minimum(rank, bins - 1)
        flat = (bin_of_cell + np.arange(n_groups)[:, None] * bins).ravel()
        size = n_groups * bins
        out = {}
        for name, values in self.sums.items():
            summed = np.bincount(flat, values.ravel().astype(np.float64), size)
            out[name] = (np.rint(summed).astype(np.int64) if name in _INTEGER else summed).reshape(
                n_groups, bins
            )
        # A bin's edges: the lowest and highest grid edge of its non-empty cells.
        used = count > 0
        lower = np.full(size, np.inf)
        upper = np.full(size, -np.inf)
        np.minimum.at(lower, flat[used.ravel()], np.broadcast_to(edges[:-1], count.shape)[used])
        np.maximum.at(upper, flat[used.ravel()], np.broadcast_to(edges[1:], count.shape)[used])
        empty = ~np.isfinite(lower)
        lower[empty], upper[empty] = np.nan, np.nan
        return out, lower.reshape(n_groups, bins), upper.reshape(n_groups, bins)

    def compute(self) -> Calibration:
        """Every group's calibration metrics and reliability bins.

        Returns:
            The results; a group without rows has NaN metrics.
        """
        sums, lower, upper = self._bin_sums()
        n = sums["count"].astype(np.float64)
        total = n.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_conf = np.where(n > 0, sums["confidence"] / n, np.nan)
            accuracy = np.where(n > 0, sums["correct"] / n, np.nan)
            gap = np.where(n > 0, np.abs(mean_conf - accuracy), 0.0)
            weight = n / total[:, None]
            ece = (weight * gap).sum(axis=1)
            mce = np.where(total > 0, gap.max(axis=1, initial=0.0), np.nan)
            l2 = (weight * gap * gap).sum(axis=1)
            # a bin of fewer than 2 rows gives 0 (its sampling variance is unknown)
            term = np.where(n >= 2, gap * gap - accuracy * (1 - accuracy) / (n - 1), 0.0)
            debiased = np.sqrt(np.maximum((weight * term).sum(axis=1), 0.0))
            debiased[total == 0] = np.nan
            f, f2, fo, o = (
                sums[k].sum(axis=1) for k in ("confidence", "confidence_sq", "confidence_correct", "correct")
            )
            brier = (f2 - 2 * fo + o) / total
            overall = o / total
            reliability = (weight * np.where(n > 0, mean_conf - accuracy, 0.0) ** 2).sum(axis=1)
            resolution = (weight * np.where(n > 0, accuracy - overall[:, None], 0.0) ** 2).sum(axis=1)
            uncertainty = overall * (1 - overall)
            safe_n = np.maximum(n, 1)
            variance = (sums["confidence_sq"] - sums["confidence"] ** 2 / safe_n).sum(axis=1) / total
            covariance = (
                2
                * (sums["confidence_correct"] - sums["confidence"] * sums["correct"] / safe_n).sum(axis=1)
                / total
            )
            classwise = None
            if self.classwise is not None:
                gaps = np.abs(self.classwise["confidence"] - self.classwise["correct"]).sum(axis=2)
                classwise = gaps.mean(axis=1) / total
        return Calibration(
            bins=self.bins,
            strategy=self.strategy,
            n_samples=self.n_samples,
            count=sums["count"],
            mean_confidence=mean_conf,
            accuracy=accuracy,
            lower=lower,
            upper=upper,
            edge_accuracy=1.0 / GRID if self.strategy == "quantile" else 0.0,
            metrics={
                "ece": ece,
                "mce": mce,
                "rmsce": np.sqrt(l2),
                "debiased_l2_calibration_error": debiased,
                "top_label_brier": brier,
                "brier_reliability": reliability,
                "brier_resolution": resolution,
                "brier_uncertainty": uncertainty,
                "brier_within_bin_variance": variance,
                "brier_within_bin_covariance": covariance,
            },
            classwise_ece=classwise,
            classwise_skipped=self.classwise_skipped,
        )

    def to_dict(self) -> dict[str, Any]:
        """The state as JSON-ready data: settings, then the non-empty cells only.

        Returns:
            ``bins``, ``strategy``, ``n_classes``, ``n_groups``, ``cells`` (flat indices
            ``group * cells + cell`` of the non-empty cells, increasing), one list per sum
            of :data:`SUMS` aligned with them, and ``classwise`` (``index``, ``confidence``,
            ``correct`` likewise over ``(group * classes + class) * bins + bin``) or null,
            with ``classwise_skipped``.
        """
        flat = {name: a.ravel() for name, a in self.sums.items()}
        index = np.flatnonzero(flat["count"])
        classwise = None
        if self.classwise is not None:
            conf, hits = (self.classwise[k].ravel() for k in ("confidence", "correct"))
            where = np.flatnonzero((conf != 0) | (hits != 0))
            classwise = {
                "index": where.tolist(),
                "confidence": conf[where].tolist(),
                "correct": hits[where].tolist(),
            }
        return {
            "bins": self.bins,
            "strategy": self.strategy,
            "n_classes": self.n_classes,
            "n_groups": self.n_groups,
            "cells": index.tolist(),
            **{name: flat[name][index].tolist() for name in SUMS},
            "classwise": classwise,
            "classwise_skipped": self.classwise_skipped,
        }

    @classmethod
    def from_dict(cls, data: Any, what: str = "calibration") -> CalibrationState:
        """Rebuild a state from :meth:`to_dict`, refusing impossible contents.

        Args:
            data: The dictionary.
            what: The field's name, for messages.

        Returns:
            The state.

        Raises:
            InfoCliError: Missing or unknown keys, settings out of range, cells out of
                order or range, counts that are not whole or exceed the rows, sums of
                confidence outside what the cell's rows allow.
        """
        keys = ("bins", "strategy", "n_classes", "n_groups", "cells", *SUMS, "classwise", "classwise_skipped")
        if not isinstance(data, dict) or set(data) != set(keys):
            raise InfoCliError(f"{what} must hold exactly {', '.join(keys)}")

        def integer(value: Any, name: str, low: int) -> int:
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InfoCliError(f"{what}.{name} is {value!r}; expected an integer >= {low}")
            return value

        bins = integer(data["bins"], "bins", 1)
        if data["strategy"] not in STRATEGIES:
            raise InfoCliError(
                f"{what}.strategy is {data['strategy']!r}; expected one of {', '.join(STRATEGIES)}"
            )
        n_classes = None if data["n_classes"] is None else integer(data["n_classes"], "n_classes", 1)
        n_groups = integer(data["n_groups"], "n_groups", 1)
        skipped = data["classwise_skipped"]
        if skipped is not None and not isinstance(skipped, str):
            raise InfoCliError(f"{what}.classwise_skipped is {skipped!r}; expected null or a sentence")
        try:
            state = cls(bins, data["strategy"], n_classes, classwise_skipped=skipped)
        except ValueError as exc:
            raise InfoCliError(f"{what}: {exc}") from None
        state._resize(n_groups)
        cells = state.cells
        index = _int_array(data["cells"], f"{what}.cells")
        if index.size and (index.min() < 0 or index.max() >= n_groups * cells or np.any(np.diff(index) <= 0)):
            raise InfoCliError(f"{what}.cells must be increasing cell indices below {n_groups * cells}")
        values = {}
        for name in SUMS:
            raw = data[name]
            if not isinstance(raw, list) or len(raw) != index.size:
                raise InfoCliError(f"{what}.{name} must list {index.size} values, one per cell")
            values[name] = (
                _int_array(raw, f"{what}.{name}") if name in _INTEGER else _float_array(raw, f"{what}.{name}")
            )
        n, f = values["count"], values["confidence"]
        edges = np.linspace(0.0, 1.0, cells + 1)
        cell = index % cells
        slack = 1e-9 * np.maximum(n, 1)
        checks = {
            "count": n >= 1,
            "correct": (values["correct"] >= 0) & (values["correct"] <= n),
            "confidence": (f >= edges[cell] * n - slack) & (f <= edges[cell + 1] * n + slack),
            # Σ f² lies between (Σ f)² / n (Cauchy-Schwarz) and Σ f (as f <= 1)
            "confidence_sq": (values["confidence_sq"] >= f * f / np.maximum(n, 1) - slack)
            & (values["confidence_sq"] <= f + slack),
            "confidence_correct": (values["confidence_correct"] >= 0)
            & (values["confidence_correct"] <= np.minimum(f, values["correct"]) + slack),
        }
        for name, ok in checks.items():
            if not ok.all():
                k = int(np.flatnonzero(~ok)[0])
                raise InfoCliError(
                    f"{what}.{name} holds {values[name][k]!r} for cell {int(index[k])} of {int(n[k])} rows, "
                    "which no valid input gives"
                )
        for name in SUMS:
            state.sums[name].reshape(-1)[index] = values[name]
        state._read_classwise(data["classwise"], f"{what}.classwise")
        return state

    def _read_classwise(self, raw: Any, what: str) -> None:
        if raw is None:
            if self.classwise is not None:
                raise InfoCliError(f"{what} is null, but classwise_skipped does not say why")
            return
        if (
            self.classwise is None
            or not isinstance(raw, dict)
            or set(raw) != {"index", "confidence", "correct"}
        ):
            raise InfoCliError(
                f"{what} must be null or hold index, confidence and correct for n_classes classes"
            )
        index = _int_array(raw["index"], f"{what}.index")
        size = self.n_groups * self.n_classes * self.bins
        if index.size and (index.min() < 0 or index.max() >= size or np.any(np.diff(index) <= 0)):
            raise InfoCliError(f"{what}.index must be increasing indices below {size}")
        conf = _float_array(raw["confidence"], f"{what}.confidence")
        hits = _int_array(raw["correct"], f"{what}.correct")
        if conf.size != index.size or hits.size != index.size or (conf < 0).any() or (hits < 0).any():
            raise InfoCliError(f"{what}: confidence and correct must list one value >= 0 per index")
        self.classwise["confidence"].reshape(-1)[index] = conf
        self.classwise["correct"].reshape(-1)[index] = hits
        # Every row adds one label hit per group: the hits per group are its rows.
        per_group = self.classwise["correct"].sum(axis=(1, 2))
        if not np.array_equal(per_group, self.n_samples):
            raise InfoCliError(
                f"{what}.correct counts {per_group.tolist()} labels; expected the rows per group"
            )


def _int_array(raw: Any, what: str) -> np.ndarray:
    if not isinstance(raw, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in raw):
        raise InfoCliError(f"{what} must be a list of integers")
    return np.array(raw, dtype=np.int64)


def _float_array(raw: Any, what: str) -> np.ndarray:
    if not isinstance(raw, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in raw
    ):
        raise InfoCliError(f"{what} must be a list of numbers")
    values = np.array(raw, dtype=np.float64)
    if not np.isfinite(values).all():
        raise InfoCliError(f"{what} must hold finite numbers")
    return values


@dataclass(frozen=True)
class Calibration:
    """Calibration results of every group: metrics as (n_groups,) arrays, bins as (n_groups, bins).

    Attributes:
        bins: Bins per group.
        strategy: ``"uniform"`` or ``"quantile"``.
        n_samples: Rows per group.
        count: Rows per bin.
        mean_confidence: Mean confidence per bin (NaN where empty).
        accuracy: Share correct per bin (NaN where empty).
        lower: Each bin's lower edge (for ``quantile``: of its non-empty cells; NaN where empty).
        upper: Each bin's upper edge.
        edge_accuracy: How far a quantile edge may be from the exact quantile (0 for uniform).
        metrics: Name (:data:`METRIC_NAMES`) -> (n_groups,) values.
        classwise_ece: (n_groups,) values, or None when not kept.
        classwise_skipped: Why it is missing, when it was asked for.
    """

    bins: int
    strategy: str
    n_samples: np.ndarray
    count: np.ndarray
    mean_confidence: np.ndarray
    accuracy: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    edge_accuracy: float
    metrics: dict[str, np.ndarray]
    classwise_ece: np.ndarray | None
    classwise_skipped: str | None

    def group(self, g: int = 0) -> dict[str, float]:
        """One group's metrics as plain floats (``classwise_ece`` included when kept)."""
        out = {name: float(values[g]) for name, values in self.metrics.items()}
        if self.classwise_ece is not None:
            out["classwise_ece"] = float(self.classwise_ece[g])
        return out

    def bins_of(self, g: int = 0) -> list[dict[str, float | int | None]]:
        """One group's reliability bins: lower, upper, count, mean confidence, accuracy."""

        def number(x: float) -> float | None:
            return None if np.isnan(x) else float(x)

        return [
            {
                "lower": number(self.lower[g, b]),
                "upper": number(self.upper[g, b]),
                "count": int(self.count[g, b]),
                "mean_confidence": number(self.mean_confidence[g, b]),
                "accuracy": number(self.accuracy[g, b]),
            }
            for b in range(self.bins)
        ]
