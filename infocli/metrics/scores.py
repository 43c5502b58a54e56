"""Per-row terms of a chunk (entropy, cross-entropy, KL divergence, hits; against target
distributions also the reverse KL and the Jensen-Shannon divergence), and the scorer that
turns chunks of scores into states.

Pure NumPy, no I/O. In the cross-entropy and KL terms (those with positive target
weight) log q is floored at log(eps), whatever the input kind; the entropy H(q) is never
clipped. ``eps=0`` means exact arithmetic: a zero probability on a true event gives an
infinite cross-entropy. ``n_clipped`` counts the floored terms. The reverse KL, KL(q ‖ p),
mirrors this with the roles swapped: in its terms of positive q, log p is floored at
log(eps) (``n_clipped_reverse`` counts them), so a class the student gives mass and the
teacher none costs -log eps rather than infinity. The Jensen-Shannon divergence is finite
for every input and never floored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from infocli.metrics.inputs import (
    KINDS,
    Distributions,
    Validation,
    as_float,
    binary_to_two_classes,
    check_settings,
    to_distributions,
)
from infocli.metrics.kernels import pick, row_dot
from infocli.metrics.state import EvalState, Renormalised


@dataclass(frozen=True)
class RowScores:
    """Per-row terms of one chunk, in nats; the target terms are None without labels.

    ``class_indices`` marks targets that were class labels: their entropy is 0 on every
    row (``target_entropy`` is then None) and the KL divergence equals the cross-entropy,
    which the accumulator uses to skip work.
    """

    entropy: np.ndarray
    cross_entropy: np.ndarray | None = None
    target_entropy: np.ndarray | None = None
    kl_divergence: np.ndarray | None = None
    correct: np.ndarray | None = None
    n_clipped: int = 0
    class_indices: bool = False
    reverse_kl_divergence: np.ndarray | None = None
    js_divergence: np.ndarray | None = None
    n_clipped_reverse: int = 0
    calibration: CalibrationRows | None = None


@dataclass(frozen=True)
class CalibrationRows:
    """Per-row inputs of the calibration metrics and the Brier score.

    Attributes:
        confidence: (n,) the top-label confidence max_c q_c, or q_1 for a binary classifier.
        outcome: (n,) whether the top label is the target's (for a binary classifier:
            whether the target is class 1).
        brier: (n,) Σ_c (q_c − y_c)², y the one-hot label or the target distribution.
        probs: (n, C) the normalised q, for the classwise ECE (None when not kept).
        labels: (n,) the target's class (argmax p for distributions).
    """

    confidence: np.ndarray
    outcome: np.ndarray
    brier: np.ndarray
    probs: np.ndarray | None
    labels: np.ndarray


def calibration_rows(
    pred: Distributions,
    target: np.ndarray | Distributions,
    correct: np.ndarray,
    *,
    binary: bool,
    classwise: bool = True,
) -> CalibrationRows:
    """The calibration inputs of a chunk: confidence, outcome and the Brier terms.

    With q = w / s: Σ_c (q_c − y_c)² = Σ_c w_c² / s² − 2 w_y / s + 1 for a label y, and
    Σ_c w_c² / s² − 2 Σ_c w_c u_c / (s t) + Σ_c u_c² / t² for a target p = u / t.

    Args:
        pred: The predicted distributions q.
        target: (n,) class indices, or target distributions p.
        correct: (n,) whether each row's argmax is the target's.
        binary: One score per row: calibrate the positive class (class 1).
        classwise: Also the normalised probabilities, for the classwise ECE.

    Returns:
        The rows (``probs`` None without ``classwise``).
    """
    w, s = pred.weights, pred.sums
    squares = row_dot(w, w) / (s * s)
    if isinstance(target, np.ndarray):
        labels = target
        brier = squares - 2 * pick(w, labels) / s + 1
    else:
        labels = target.argmax
        u, t = target.weights, target.sums
        brier = squares - 2 * row_dot(w, u) / (s * t) + row_dot(u, u) / (t * t)
    np.maximum(brier, 0.0, out=brier)  # rounding can take a near-perfect row just below 0
    probs = w / s.astype(w.dtype)[:, None] if classwise else None
    if binary:
        return CalibrationRows(w[:, 1] / s, labels == 1, brier, probs, labels)
    return CalibrationRows(pick(w, pred.argmax) / s, correct, brier, probs, labels)


def entropy_rows(dist: Distributions) -> np.ndarray:
    """H(q) per row: log s - sum(w log w) / s, for q = w / s."""
    return dist.log_sums - dist.weighted_logs / dist.sums


def score_rows(
    pred: Distributions,
    target: np.ndarray | Distributions | None,
    *,
    eps: float,
    js_beta: float | None = None,
) -> RowScores:
    """Every per-row term of a chunk: entropy, and against a target cross-entropy, KL and
    hits; against target distributions also the reverse KL, and the Jensen-Shannon
    divergence when ``js_beta`` is given.

    Args:
        pred: The predicted distributions q.
        target: None; (n,) int64 class indices; or target distributions p.
        eps: In the cross-entropy and KL terms, log q is floored at log(eps) (log p in the
            reverse KL's); 0 for none.
        js_beta: The weight β of p in the mixture of the Jensen-Shannon divergence
            (:func:`js_rows`), in (0, 1); None for none.

    Returns:
        The per-row terms, in nats.
    """
    entropy = entropy_rows(pred)
    if target is None:
        return RowScores(entropy)
    log_eps = math.log(eps) if eps > 0 else -math.inf
    if isinstance(target, np.ndarray):
        log_weights, scores = pred.log_weights_at(target)
        cross_entropy = pred.log_sums - log_weights  # -log q
        n_clipped = 0
        if cross_entropy.size and cross_entropy.max() > -log_eps:  # some q below eps: rare
            n_clipped = int(np.count_nonzero(cross_entropy > -log_eps))
            np.minimum(cross_entropy, -log_eps, out=cross_entropy)
        return RowScores(
            entropy,
            cross_entropy=cross_entropy,
            kl_divergence=cross_entropy,
            correct=pred.predicts(target, scores),
            n_clipped=n_clipped,
            class_indices=True,
        )
    target_entropy = entropy_rows(target)
    log_ratio = log_ratios(pred, target)
    kl, n_clipped = kl_rows(pred, target, eps=eps, log_ratio=log_ratio)
    reverse_kl, n_clipped_reverse = reverse_kl_rows(pred, target, log_ratio, eps)
    return RowScores(
        entropy,
        cross_entropy=target_entropy + kl,
        target_entropy=target_entropy,
        kl_divergence=kl,
        correct=pred.predicts(target.argmax),
        n_clipped=n_clipped,
        reverse_kl_divergence=reverse_kl,
        js_divergence=None if js_beta is None else js_rows(pred, target, log_ratio, js_beta),
        n_clipped_reverse=n_clipped_reverse,
    )


def log_ratios(pred: Distributions, target: Distributions) -> np.ndarray:
    """log u - log w for p = u / t and q = w / s: the terms both KL divergences are made of."""
    with np.errstate(invalid="ignore"):
        return target.log_weights - pred.log_weights


def kl_rows(
    pred: Distributions, target: Distributions, *, eps: float, log_ratio: np.ndarray | None = None
) -> tuple[np.ndarray, int]:
    """KL(p ‖ q) per row, in nats, with log q floored at log(eps) where p > 0.

    Args:
        pred: The distributions q.
        target: The reference distributions p.
        eps: The floor of q; 0 for none.
        log_ratio: :func:`log_ratios` of the two, if already made.

    Returns:
        (n,) the divergences, and how many terms were floored.
    """
    # p = u / t: KL = sum(u (log u - log w)) / t - log t + log s, computed directly so
    # that a small KL keeps its relative precision (rather than being a difference of two
    # cross-entropies).
    u, log_u = target.weights, target.log_weights
    if log_ratio is None:
        log_ratio = log_ratios(pred, target)
    kl = row_dot(u, log_ratio) / target.sums - target.log_sums + pred.log_sums
    n_clipped = 0
    if eps > 0:
        log_eps = math.log(eps)
        # Rows where some log q might fall below log eps; usually none, found cheaply.
        floor = log_eps + pred.log_sums
        if pred.log_weights.min() < floor.max():
            rows = np.flatnonzero(pred.log_weights.min(axis=1) < floor)
            log_q = pred.log_weights[rows] - pred.log_sums[rows, None]
            clipped = (log_q < log_eps) & (u[rows] > 0)
            n_clipped = int(np.count_nonzero(clipped))
            log_q = np.maximum(log_q, log_eps)
            ur, tr = u[rows], target.sums[rows]
            with np.errstate(invalid="ignore"):
                kl[rows] = row_dot(ur, log_u[rows] - log_q) / tr - target.log_sums[rows]
    return kl, n_clipped


def reverse_kl_rows(
    pred: Distributions, target: Distributions, log_ratio: np.ndarray, eps: float
) -> tuple[np.ndarray, int]:
    """KL(q ‖ p) per row, with log p floored at log(eps) in the terms of positive q.

    For q = w / s and p = u / t it is sum(w (log w - log u)) / s - log s + log t, from the
    forward KL's log u - log w (``log_ratio``), so it costs one more row-wise dot product.

    Returns:
        (n,) values in nats, and the number of floored terms.
    """
    w = pred.weights
    with np.errstate(invalid="ignore"):
        reverse = -row_dot(w, log_ratio) / pred.sums - pred.log_sums + target.log_sums
    if eps <= 0:
        return reverse, 0
    log_eps = math.log(eps)
    floor = log_eps + target.log_sums
    if not target.log_weights.size or target.log_weights.min() >= floor.max():
        return reverse, 0  # no p below eps: the usual case, found cheaply
    rows = np.flatnonzero(target.log_weights.min(axis=1) < floor)
    log_p = target.log_weights[rows] - target.log_sums[rows, None]
    clipped = (log_p < log_eps) & (w[rows] > 0)
    log_q = pred.log_weights[rows] - pred.log_sums[rows, None]
    with np.errstate(invalid="ignore"):
        reverse[rows] = row_dot(w[rows], log_q - np.maximum(log_p, log_eps)) / pred.sums[rows]
    return reverse, int(np.count_nonzero(clipped))


def js_rows(pred: Distributions, target: Distributions, log_ratio: np.ndarray, beta: float) -> np.ndarray:
    """The generalised Jensen-Shannon divergence per row, TRL's form:
    β KL(p ‖ m) + (1 − β) KL(q ‖ m), with m = β p + (1 − β) q.

    Written with l = log q − log p as −β Σ p log1p((1 − β) expm1(l)) − (1 − β) Σ q
    log1p(β expm1(−l)): exactly 0 where p = q, a small divergence keeps its relative
    precision (it is not a difference of entropies), and zeros need no floor (a term of
    zero weight is 0; m is never 0 where p or q is not).

    Returns:
        (n,) values in nats, in [0, H(β)] (ln 2 at β = 1/2).
    """
    dtype = log_ratio.dtype.type  # per-element work in the input precision, in place
    with np.errstate(invalid="ignore", over="ignore"):
        to_q = (target.log_sums - pred.log_sums).astype(dtype)[:, None] - log_ratio  # l
        to_p = np.expm1(to_q)
        np.log1p(np.multiply(to_p, dtype(1 - beta), out=to_p), out=to_p)
        np.expm1(np.negative(to_q, out=to_q), out=to_q)
        np.log1p(np.multiply(to_q, dtype(beta), out=to_q), out=to_q)
    kl_p = row_dot(target.weights, to_p) / target.sums
    kl_q = row_dot(pred.weights, to_q) / pred.sums
    return -beta * kl_p - (1 - beta) * kl_q


@dataclass(frozen=True)
class Scorer:
    """Validates and scores chunks under settings decided before scoring (a plan).

    Thread-safe: each call returns a new chunk state; nothing is accumulated here.

    Args:
        settings: The state settings (see :class:`infocli.metrics.state.EvalState`),
            carried by every state this scorer makes.
        kind: How to read predictions, one of :data:`KINDS`.
        target_kind: How to read target distributions, one of :data:`KINDS`.
        temperature: Logits and log-probabilities are divided by it before the softmax,
            for predictions and targets alike.
        eps: Floor for q in the cross-entropy and KL terms; 0 for exact arithmetic.
        tol: Tolerance on probability rows summing to 1.
        binary: The predictions are one score per row (for class 1), expanded to two classes.
        class_names: Names of the prediction columns, for error messages.
        target_names: Names of the target columns, for error messages.
        kind_auto: The prediction kind was detected, not given (said in messages).
        target_kind_auto: Likewise for the targets.

    Example:
        >>> scorer = Scorer({}, kind="probs")
        >>> state, _ = scorer.score(scorer.predictions(np.full((2, 4), 0.25)), np.array([0, 3]))
        >>> round(state.compute().metrics["perplexity"], 6)
        4.0
    """

    settings: dict
    kind: str = "probs"
    target_kind: str = "probs"
    temperature: float = 1.0
    eps: float = 1e-12
    tol: float = 1e-3
    binary: bool = False
    class_names: Sequence[str] | None = None
    target_names: Sequence[str] | None = None
    kind_auto: bool = False
    target_kind_auto: bool = False

    def __post_init__(self) -> None:
        check_settings(temperature=self.temperature, eps=self.eps, tol=self.tol)
        for kind in (self.kind, self.target_kind):
            assert kind in KINDS, kind

    def predictions(self, values: np.ndarray) -> Distributions:
        """Validate a chunk of predictions.

        Args:
            values: (n, n_classes) scores, or (n, 1) / (n,) binary scores.

        Returns:
            The distributions.

        Raises:
            InfoCliError: Invalid values for the kind (chunk-local ``row``).
        """
        values = as_float(values.reshape(-1, 1) if values.ndim == 1 else values)
        if self.binary:  # check the scores as given, before the second class is derived
            Validation(values, self.kind, "kind", self.kind_auto, self.class_names).every_value()
            values = binary_to_two_classes(values, self.kind)
        return to_distributions(
            values,
            self.kind,
            temperature=self.temperature,
            tol=self.tol,
            auto=self.kind_auto,
            class_names=None if self.binary else self.class_names,
        )

    def targets(self, values: np.ndarray) -> Distributions:
        """Validate a chunk of target distributions.

        Args:
            values: (n, n_classes) target scores.

        Returns:
            The distributions.

        Raises:
            InfoCliError: Invalid values for the kind (chunk-local ``row``).
        """
        return to_distributions(
            as_float(values),
            self.target_kind,
            temperature=self.temperature,
            tol=self.tol,
            option="target_kind",
            auto=self.target_kind_auto,
            class_names=self.target_names,
        )

    def score(
        self,
        pred: Distributions,
        target: np.ndarray | Distributions | None,
        *,
        n_ignored: int = 0,
        renormalised: Sequence[Renormalised] = (),
    ) -> tuple[EvalState, RowScores]:
        """A chunk's state: its per-row terms as sums and counts.

        Args:
            pred: From :meth:`predictions`.
            target: None, validated class indices, or distributions from :meth:`targets`.
            n_ignored: Rows of the chunk left out for their label (``ignore_index``).
            renormalised: The chunk's rows renormalised within ``tol``, per input file.

        Returns:
            The chunk's state, and its rows' terms (for the statistics per group,
            :class:`infocli.metrics.groups.GroupAccumulator`).
        """
        state = EvalState(self.settings)
        rows = score_rows(pred, target, eps=self.eps, js_beta=self.settings.get("js_beta"))
        if state.calibration is not None and target is not None:
            assert rows.correct is not None
            classwise = state.calibration.classwise is not None
            calibration = calibration_rows(
                pred, target, rows.correct, binary=self.binary, classwise=classwise
            )
            rows = replace(rows, calibration=calibration)
        state.update(rows)
        if state.temperature_fit is not None and target is not None:
            probs = target if isinstance(target, np.ndarray) else target.weights / target.sums[:, None]
            state.temperature_fit.update(pred.scores, probs)
        state.n_ignored = n_ignored
        for note in renormalised:
            state.note_renormalised(note)
        return state, rows
