"""Entropy, cross-entropy, KL divergence, perplexity and accuracy of categorical predictions.

Pure NumPy, no I/O. A chunk of predictions (probabilities, logits or log-probabilities)
is validated and turned into :class:`Distributions` once; :func:`score_rows` derives every
per-row term from it; :class:`EvalState` accumulates those terms as mergeable sums and
counts, and :meth:`EvalState.compute` turns the state into the reported numbers.

Numerics, stated once:

* Everything is computed in nats and converted to the requested base at the end.
* Per-element work stays in the input precision (float32 stays float32); every sum over
  rows is accumulated in float64.
* Logits go through a stable log-softmax (the row maximum is subtracted first).
* 0 log 0 is 0 exactly, on both sides: a zero probability contributes nothing to the
  entropy, and a zero target weight contributes nothing to the cross-entropy or KL.
* In the cross-entropy and KL terms (those with positive target weight) log q is floored
  at log(eps), whatever the input kind; the entropy H(q) is never clipped. ``eps=0``
  means exact arithmetic: a zero probability on a true event gives an infinite
  cross-entropy. ``n_clipped`` counts the floored terms.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from infocli.errors import InfoCliError
from infocli.metrics.moments import Moments

KINDS = ("probs", "logits", "logprobs")
"""How a matrix of scores is to be read: probabilities, logits or log-probabilities."""

BASES = {"e": "nats", "2": "bits", "10": "hartleys"}
"""Log bases and the unit each gives."""

METRICS = ("entropy", "target_entropy", "cross_entropy", "kl_divergence", "perplexity", "accuracy")
"""Every metric :meth:`EvalState.compute` can report, in report order."""

HIGHER_IS_BETTER = {
    "entropy": None,  # neither: it measures confidence, not quality
    "target_entropy": None,
    "cross_entropy": False,
    "kl_divergence": False,
    "perplexity": False,
    "accuracy": True,
}
"""The direction of each metric (``None``: descriptive, not a quality)."""

_INFORMATION = frozenset({"entropy", "target_entropy", "cross_entropy", "kl_divergence"})
_KIND_NAMES = {"probs": "probability", "logits": "logit", "logprobs": "log-probability"}
_KIND_PLURALS = {"probs": "probabilities", "logits": "logits", "logprobs": "log probabilities"}


def metric_unit(name: str, base: str) -> str:
    """The unit a metric is reported in: nats/bits/hartleys for information, else empty.

    Args:
        name: A name from :data:`METRICS`.
        base: ``"e"``, ``"2"`` or ``"10"``.

    Returns:
        The unit, e.g. ``"bits"``; ``""`` for perplexity and accuracy, which have none.
    """
    return BASES[base] if name in _INFORMATION else ""


# --------------------------------------------------------------------------- validation


def _first_row(bad: np.ndarray) -> int:
    """The first row index where a boolean mask (1-D or 2-D) is true."""
    rows = bad.any(axis=1) if bad.ndim == 2 else bad
    return int(np.flatnonzero(rows)[0])


def _first_bad_value(
    values: np.ndarray, bad: np.ndarray, class_names: Sequence[str] | None
) -> tuple[int, str, float]:
    """Row, class and value of the first element where ``bad`` is true (in row order).

    The class is named as the user knows it: its column name, or its index.
    """
    rows = np.flatnonzero(bad.any(axis=1))
    row = int(rows[0])
    col = int(np.flatnonzero(bad[row])[0])
    where = f"column {class_names[col]!r}" if class_names else f"class {col}"
    return row, where, float(values[row, col])


def _check_no_nan(values: np.ndarray, class_names: Sequence[str] | None) -> None:
    bad = np.isnan(values)
    if bad.any():
        row, where, _ = _first_bad_value(values, bad, class_names)
        raise InfoCliError(
            f"value for {where} is missing or NaN; expected a number",
            row=row,
            hint="Missing predictions must be filled or their rows removed before evaluation",
        )


def detect_kind(values: np.ndarray, *, tol: float) -> str:
    """Decide how to read a matrix of scores, from its values (``--kind auto``).

    All values in [0, 1] means probabilities; all values <= 0 with every row's
    log-sum-exp within ``tol`` of 0 means log-probabilities; anything else, logits.
    A single column (a binary classifier's score for class 1) is a probability when
    all its values are in [0, 1], else a logit.

    Args:
        values: Scores, shape (n_samples, n_classes) or (n_samples, 1) for binary scores.
        tol: Tolerance on the log-sum-exp test.

    Returns:
        One of :data:`KINDS`.
    """
    if values.size == 0:
        return "probs"
    lo, hi = float(values.min()), float(values.max())
    if 0.0 <= lo and hi <= 1.0:
        return "probs"
    if values.shape[1] > 1 and hi <= 0.0:
        with np.errstate(divide="ignore", invalid="ignore"):
            peak = values.max(axis=1)
            lse = peak + np.log(np.exp(values - peak[:, None]).sum(axis=1))
        if np.all(np.abs(lse) <= tol):
            return "logprobs"
    return "logits"


def binary_to_two_classes(scores: np.ndarray, kind: str) -> np.ndarray:
    """Expand a binary classifier's score for class 1 into two columns of the same kind.

    Args:
        scores: Shape (n_samples,) or (n_samples, 1): the probability, logit or
            log-probability of class 1.
        kind: One of :data:`KINDS`.

    Returns:
        Shape (n_samples, 2): (class 0, class 1), so that the softmax of the logits
        ``[0, z]`` is ``[1 - sigmoid(z), sigmoid(z)]``.
    """
    s = scores.reshape(-1)
    if kind == "probs":
        other = 1 - s
    elif kind == "logits":
        other = np.zeros_like(s)
    else:  # log(1 - exp(s)), accurately for s near 0
        with np.errstate(divide="ignore", invalid="ignore"):
            other = np.log(-np.expm1(s))
    return np.stack([other, s], axis=1)


# -------------------------------------------------------------------------- distributions


@dataclass(frozen=True)
class Distributions:
    """A chunk of categorical distributions, kept unnormalised: q = weights / sums.

    Attributes:
        weights: (n, C) non-negative, in the input precision.
        log_weights: (n, C) log of ``weights`` (``-inf`` where a weight is 0).
        sums: (n,) float64 row sums of ``weights``.
        log_sums: (n,) float64 ``log(sums)``, so log q = log_weights - log_sums.
        weighted_logs: (n,) float64 row sums of ``weights * log_weights``, with 0 log 0
            taken as 0; the entropy is ``log_sums - weighted_logs / sums``.
        scores: (n, C) the scores as given (probabilities or logits), whose row maximum
            is the predicted class: ranking by them avoids ties that rounding in exp or
            log could create.
        peak: (n,) each row's maximum of ``scores``.
        renormalised: Rows whose input did not sum to 1 to rounding but did within tolerance.
        first_renormalised: (row, sum) of the first such row, for the warning.
        known_argmax: The row argmax, when finding the peak gave it anyway.
        logs_of_scores: ``log_weights`` is ``np.log(scores)`` (probabilities read as given).
    """

    weights: np.ndarray
    log_weights: np.ndarray
    sums: np.ndarray
    log_sums: np.ndarray
    weighted_logs: np.ndarray
    scores: np.ndarray
    peak: np.ndarray
    renormalised: int = 0
    first_renormalised: tuple[int, float] | None = None
    known_argmax: np.ndarray | None = None
    logs_of_scores: bool = False

    def __len__(self) -> int:
        return self.weights.shape[0]

    @cached_property
    def argmax(self) -> np.ndarray:
        """(n,) the most probable class of each row, the first one on ties."""
        if self.known_argmax is not None:
            return self.known_argmax
        n_classes = self.scores.shape[1]
        # Weight class j by C - j, so the earliest class at the peak scores most: in
        # class-major memory this is faster than argmax along short rows.
        rank = np.arange(n_classes, 0, -1, dtype=np.min_scalar_type(n_classes))
        first = ((self.scores == self.peak[:, None]) * rank).max(axis=1)
        return (n_classes - first).astype(np.intp)

    def log_weights_at(self, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Each row's log weight at the given class, and its score there when gathered.

        Where the log weights are the log of the scores, the scores are gathered and their
        log taken: the same numbers (``np.log`` works element by element) from one gather,
        which :meth:`predicts` then reuses. The gathers are what cost: into a 52,428 x 10
        chunk that has left the cache, two took 0.65 ms of the chunk's 3.1.

        Args:
            classes: (n,) class indices.

        Returns:
            (n,) log weights, and (n,) scores or None.
        """
        if not self.logs_of_scores:
            return _pick(self.log_weights, classes), None
        scores = _pick(self.scores, classes)
        with np.errstate(divide="ignore"):
            return np.log(scores), scores

    def predicts(self, classes: np.ndarray, scores_at: np.ndarray | None = None) -> np.ndarray:
        """Whether each row's argmax is the given class (the first of tied classes counts).

        Args:
            classes: (n,) class indices.
            scores_at: (n,) each row's score at its class, if already gathered.

        Returns:
            (n,) booleans.
        """
        if self.known_argmax is not None:
            return self.known_argmax == classes
        hit = (_pick(self.scores, classes) if scores_at is None else scores_at) == self.peak
        # A hit is exact unless an earlier class ties at the peak; that needs two classes
        # at the peak in one row, which one count over the chunk rules out.
        if np.count_nonzero(self.scores == self.peak[:, None]) == len(self):
            return hit
        return self.argmax == classes


def _pick(x: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """x[i, classes[i]] for every row (by a flat index where the memory allows: faster)."""
    n = x.shape[0]
    if x.flags.f_contiguous:
        return x.ravel(order="F").take(classes * n + np.arange(n))
    if x.flags.c_contiguous:
        return x.ravel().take(np.arange(n) * x.shape[1] + classes)
    return x[np.arange(n), classes]


def _class_major(x: np.ndarray) -> bool:
    """Whether a row's values are a column apart in memory (as read from columnar files),
    so that a reduction along rows runs down contiguous columns."""
    return x.shape[1] > 1 and x.strides[0] == x.itemsize


def _row_sums(x: np.ndarray) -> np.ndarray:
    """Row sums, in the input precision, returned as float64.

    Both ways used here sum each row on its own, in class order, the same way whatever
    the number of rows, so a chunk's results do not depend on how the file was cut. In
    class-major memory of several rows a reduction adds whole columns, with identical
    sums, a fifth faster than ``einsum`` (52,428 x 10 float32 chunks of a Parquet file:
    0.18-0.24 against 0.22-0.30 ms); a single row it would sum pairwise, so ``einsum``
    sums that. In row-major memory ``einsum`` is several times faster than a reduction
    along short rows.
    """
    by_columns = _class_major(x) and x.shape[0] > 1
    sums = np.add.reduce(x, axis=1) if by_columns else np.einsum("ij->i", x)
    return sums.astype(np.float64)


def _row_dot(x: np.ndarray, y: np.ndarray, check: Callable[[], None] | None = None) -> np.ndarray:
    """Row-wise sum of x * y with 0 * (+-inf) taken as 0, as float64.

    The convention matters where a zero weight meets log 0 = -inf; the rows it touches
    are few in practice, so they are recomputed with a mask instead of masking everything.
    A value no distribution can have (a negative probability, a -inf logit) makes its
    row NaN too: ``check``, when given, runs before such rows are masked, to raise for it.
    """
    with np.errstate(invalid="ignore"):
        out = np.einsum("ij,ij->i", x, y).astype(np.float64)
    bad = np.isnan(out)
    if bad.any():
        if check is not None:
            check()
        xs, ys = x[bad], y[bad]
        with np.errstate(invalid="ignore"):
            out[bad] = np.einsum("ij,ij->i", xs, np.where(xs > 0, ys, 0))
    return out


def _row_max(x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Each row's maximum (NaN where a row holds NaN), and its argmax when that came free.

    Chunks read from columnar files are class-major in memory (columns side by side,
    Fortran order), where a maximum along a row is a fast reduction; in row-major memory
    ``argmax`` is the fast one, and the maximum is picked with it.
    """
    if _class_major(x):
        return x.max(axis=1), None
    argmax = x.argmax(axis=1)
    return _pick(x, argmax), argmax


def _minus_row_max(z: np.ndarray, row_max: np.ndarray) -> np.ndarray:
    """z - row_max[:, None], as a new array.

    NumPy's default ufunc buffer spans several rows, so it copies the broadcast row
    maxima into a buffer; with a buffer shorter than a row it subtracts each maximum
    along its own row as a scalar. For 1,000 classes: 0.45 against 0.88 ns a value. Short
    rows are faster with the default buffer (the setting is per thread).
    """
    if z.shape[1] < 256:
        return np.subtract(z, row_max[:, None])
    default = np.setbufsize(16)
    try:
        return np.subtract(z, row_max[:, None])
    finally:
        np.setbufsize(default)


def _from_logits(
    z: np.ndarray,
    *,
    temperature: float,
    peak: tuple[np.ndarray, np.ndarray | None] | None = None,
    check: Callable[[], None] | None = None,
) -> Distributions:
    """Softmax of z / temperature, by the shifted form exp(z - max); z may hold -inf.

    ``peak`` is ``_row_max(z)`` when already known; ``check`` is as for :func:`_row_dot`.
    """
    row_max, argmax = peak if peak is not None else _row_max(z)
    log_weights = _minus_row_max(z, row_max)
    if temperature != 1.0:
        # The argmax and the shift are unchanged by a positive scale, so divide after.
        np.divide(log_weights, log_weights.dtype.type(temperature), out=log_weights)
    weights = np.exp(log_weights)
    sums = _row_sums(weights)
    weighted_logs = _row_dot(weights, log_weights, check)
    return Distributions(
        weights, log_weights, sums, np.log(sums), weighted_logs, z, row_max, known_argmax=argmax
    )


def _check_finite(
    values: np.ndarray, name: str, allow_minus_inf: bool, class_names: Sequence[str] | None
) -> None:
    """Raise for NaN, and for infinities other than -inf where that is allowed."""
    _check_no_nan(values, class_names)
    bad = np.isposinf(values) if allow_minus_inf else np.isinf(values)
    if bad.any():
        row, where, value = _first_bad_value(values, bad, class_names)
        raise InfoCliError(f"{name} for {where} is {value}; expected a finite number", row=row)


def as_float(values: np.ndarray) -> np.ndarray:
    """Scores as floats: float32 and float64 stay, float16 widens to float32, integers
    (and booleans) to float64.

    Args:
        values: A numeric array.

    Returns:
        The array, converted only if it has to be.
    """
    if values.dtype == np.float16:
        return values.astype(np.float32)
    if values.dtype.kind != "f":
        return values.astype(np.float64)
    return values


@dataclass(frozen=True)
class _Validation:
    """Checks a chunk of scores against how it is read, cheapest evidence first.

    Every impossible value shows in a number computed anyway: NaN, +inf and values
    above the kind's range in the row maxima; negative probabilities and -inf logits as
    NaN in the entropy's sums (their log is NaN, or their weight 0 meets -inf); and rows
    that do not sum to 1 in their sums. Only when one of these looks wrong is every value
    searched, so that the error names the first impossible value (its row and class)
    rather than a symptom such as a row sum.
    """

    values: np.ndarray
    kind: str
    option: str
    auto: bool
    class_names: Sequence[str] | None
    row_max: np.ndarray | None = None  # each row's maximum, when known

    @property
    def read_as(self) -> str:
        """How the values were read, for messages ("read as probabilities ...")."""
        read_as = f"read as {_KIND_PLURALS[self.kind]}"
        if self.auto:
            read_as += f" ({self.option} auto decided from the first rows)"
        return read_as

    def every_value(self) -> None:
        """Raise for the first value impossible for the kind (row sums aside)."""
        values, kind, class_names = self.values, self.kind, self.class_names
        if not values.size:
            return
        lo = float(values.min())
        hi = float(values.max() if self.row_max is None else self.row_max.max())
        if not (math.isfinite(lo) and math.isfinite(hi)):
            _check_finite(values, _KIND_NAMES[kind], kind == "logprobs", class_names)
        if kind == "probs" and (lo < 0 or hi > 1):
            row, where, value = _first_bad_value(values, (values < 0) | (values > 1), class_names)
            raise InfoCliError(
                f"probability {value:g} for {where} is outside [0, 1]; the file was {self.read_as}",
                row=row,
                hint=f"If these are logits, pass {self.option} logits",
            )
        if kind == "logprobs" and hi > 0:
            row, where, value = _first_bad_value(values, values > 0, class_names)
            raise InfoCliError(
                f"log-probability {value:g} for {where} is above 0; the file was {self.read_as}",
                row=row,
                hint=f"If these are logits, pass {self.option} logits",
            )

    def peaks(self) -> None:
        """Check the row maxima: finite, and at most 1 for probabilities or 0 for
        log-probabilities (an all -inf row of log-probabilities fails to sum to 1 later)."""
        if self.row_max is None or not self.row_max.size:
            return
        lo, hi = float(self.row_max.min()), float(self.row_max.max())
        limit = {"probs": 1.0, "logprobs": 0.0}.get(self.kind, math.inf)
        if not (math.isfinite(lo) and math.isfinite(hi) and hi <= limit):
            self.every_value()

    def normalised(self, sums: np.ndarray, tol: float) -> tuple[int, tuple[int, float] | None]:
        """Check rows sum to 1 within ``tol``; count those off by more than rounding.

        Returns:
            The number of rows renormalised, and (row, sum) of the first of them.
        """
        rounding = self.values.shape[1] * float(np.finfo(self.values.dtype).eps)
        close = min(rounding, tol)
        if sums.size and 1 - close <= sums.min() and sums.max() <= 1 + close:
            return 0, None  # every row passes both tests below (a NaN sum fails this one)
        off = np.abs(sums - 1)
        bad = ~(off <= tol)  # NaN sums fail too
        if bad.any():
            self.every_value()
            row = _first_row(bad)
            raise InfoCliError(
                f"row sums to {sums[row]:.6g}; expected 1 ± {tol:g}, as the file was {self.read_as}",
                row=row,
                hint=f"If these are logits, pass {self.option} logits; if the rows are only roughly "
                "normalised, raise --tol",
            )
        renormalised = off > rounding
        count = int(np.count_nonzero(renormalised))
        if not count:
            return 0, None
        row = _first_row(renormalised)
        return count, (row, float(sums[row]))


def to_distributions(
    values: np.ndarray,
    kind: str,
    *,
    temperature: float = 1.0,
    tol: float = 1e-3,
    option: str = "--kind",
    auto: bool = False,
    class_names: Sequence[str] | None = None,
) -> Distributions:
    """Validate a chunk of scores and turn it into distributions.

    Args:
        values: (n_samples, n_classes) float32 or float64 scores.
        kind: ``"probs"``, ``"logits"`` or ``"logprobs"``.
        temperature: Log-probabilities (or logits) are divided by it before the softmax.
        tol: Rows of probabilities (or of exp(log-probabilities)) must sum to 1 within it;
            such rows are renormalised exactly.
        option: The command-line option that sets ``kind``, named in hints.
        auto: Whether ``kind`` was decided by ``--kind auto``, said in error messages.
        class_names: Names of the classes (the file's columns), for error messages.

    Returns:
        The normalised distributions.

    Raises:
        InfoCliError: NaN anywhere; an infinite logit or probability; a probability
            outside [0, 1]; a positive log-probability; a row that does not sum to 1
            within ``tol``. ``row`` is the chunk-local row.
    """
    values = as_float(values)
    # The row maximum serves the range check, the softmax shift and the argmax alike.
    peak = _row_max(values) if values.size else (np.zeros(len(values), values.dtype), None)
    check = _Validation(values, kind, option, auto, class_names, peak[0])
    check.peaks()
    count, first = 0, None
    if kind == "probs":
        sums = _row_sums(values)
        count, first = check.normalised(sums, tol)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_values = np.log(values)
        if temperature != 1.0:
            dist = _from_logits(log_values, temperature=temperature, check=check.every_value)
        else:
            weighted_logs = _row_dot(values, log_values, check.every_value)
            dist = Distributions(
                values,
                log_values,
                sums,
                np.log(sums),
                weighted_logs,
                values,
                peak[0],
                known_argmax=peak[1],
                logs_of_scores=True,
            )
    elif kind == "logits":
        dist = _from_logits(values, temperature=temperature, peak=peak, check=check.every_value)
    else:
        dist = _from_logits(values, temperature=1.0, peak=peak)
        count, first = check.normalised(np.exp(dist.log_sums + dist.peak), tol)
        if temperature != 1.0:
            dist = _from_logits(values, temperature=temperature, peak=peak)
    return replace(dist, renormalised=count, first_renormalised=first)


def check_class_indices(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Validate class-index labels and return them as int64.

    Args:
        labels: (n_samples,) integers, or floats that are whole numbers (2.0 is class 2).
        n_classes: The number of prediction columns.

    Returns:
        (n_samples,) int64 class indices in [0, n_classes).

    Raises:
        InfoCliError: NaN, a fractional value, a negative index or one >= ``n_classes``.
    """
    if labels.dtype.kind == "b":
        labels = labels.astype(np.int64)
    if labels.dtype.kind == "f":
        bad = ~np.isfinite(labels) | (labels != np.floor(labels))
        if bad.any():
            row = _first_row(bad)
            what = "missing or NaN" if np.isnan(labels[row]) else f"{labels[row]:g}, not a whole class index"
            raise InfoCliError(
                f"label is {what}",
                row=row,
                hint="Labels must be class indices, class names, or one column per class for soft targets",
            )
    elif labels.dtype.kind not in "iu":
        raise InfoCliError(f"labels have dtype {labels.dtype}; expected integer class indices")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        row = _first_row((labels < 0) | (labels >= n_classes))
        raise InfoCliError(
            f"class index {labels[row]:g} is outside 0..{n_classes - 1} "
            f"(the predictions have {n_classes} classes)",
            row=row,
        )
    return labels.astype(np.int64, copy=False)


# -------------------------------------------------------------------------------- scores


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


def _entropy_rows(dist: Distributions) -> np.ndarray:
    """H(q) per row: log s - sum(w log w) / s, for q = w / s."""
    return dist.log_sums - dist.weighted_logs / dist.sums


def score_rows(pred: Distributions, target: np.ndarray | Distributions | None, *, eps: float) -> RowScores:
    """Every per-row term of a chunk: entropy, and against a target cross-entropy, KL and hits.

    Args:
        pred: The predicted distributions q.
        target: None; (n,) int64 class indices; or target distributions p.
        eps: In the cross-entropy and KL terms, log q is floored at log(eps); 0 for none.

    Returns:
        The per-row terms, in nats.
    """
    entropy = _entropy_rows(pred)
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
    # Soft targets p = u / t: KL = sum(u (log u - log w)) / t - log t + log s, computed
    # directly so that a small KL keeps its relative precision (rather than being a
    # difference of two cross-entropies); the cross-entropy is then H(p) + KL.
    u, log_u = target.weights, target.log_weights
    target_entropy = _entropy_rows(target)
    with np.errstate(invalid="ignore"):
        log_ratio = log_u - pred.log_weights
    kl = _row_dot(u, log_ratio) / target.sums - target.log_sums + pred.log_sums
    cross_entropy = target_entropy + kl
    n_clipped = 0
    if eps > 0:
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
                kl[rows] = _row_dot(ur, log_u[rows] - log_q) / tr - target.log_sums[rows]
            cross_entropy[rows] = target_entropy[rows] + kl[rows]
    return RowScores(
        entropy,
        cross_entropy=cross_entropy,
        target_entropy=target_entropy,
        kl_divergence=kl,
        correct=pred.predicts(target.argmax),
        n_clipped=n_clipped,
    )


# --------------------------------------------------------------------------------- state


@dataclass(frozen=True)
class Results:
    """The reported numbers, derived from an :class:`EvalState` alone."""

    metrics: dict[str, float]
    standard_error: dict[str, float]
    n_samples: int
    n_clipped: int
    base: str

    @property
    def unit(self) -> str:
        """nats, bits or hartleys."""
        return BASES[self.base]


_STATE_MOMENTS = ("entropy", "target_entropy", "cross_entropy", "kl_divergence", "accuracy")


@dataclass
class EvalState:
    """Sums and counts from which every metric follows; merging equals concatenating.

    Each per-row quantity keeps a :class:`Moments` (count, sum, squared deviations) in
    nats, so states from chunks, files or machines merge exactly and the base is chosen
    only at :meth:`compute`.

    Example:
        >>> state = EvalState()
        >>> q = to_distributions(np.full((2, 4), 0.25), "probs")
        >>> state.update(score_rows(q, np.array([0, 3]), eps=1e-12))
        >>> r = state.compute()
        >>> round(r.metrics["entropy"], 3), round(r.metrics["perplexity"], 6)
        (1.386, 4.0)
    """

    entropy: Moments = field(default_factory=Moments)
    target_entropy: Moments = field(default_factory=Moments)
    cross_entropy: Moments = field(default_factory=Moments)
    kl_divergence: Moments = field(default_factory=Moments)
    accuracy: Moments = field(default_factory=Moments)
    n_clipped: int = 0
    n_renormalised: int = 0
    n_ignored: int = 0

    @property
    def n_samples(self) -> int:
        """Rows accumulated."""
        return self.entropy.n

    @property
    def has_targets(self) -> bool:
        """Whether the rows came with labels or target distributions."""
        return self.cross_entropy.n > 0

    def update(self, scores: RowScores) -> None:
        """Accumulate one chunk's per-row terms.

        Args:
            scores: From :func:`score_rows`.
        """
        self.entropy.add(scores.entropy)
        self.n_clipped += scores.n_clipped
        if scores.cross_entropy is None:
            return
        assert scores.kl_divergence is not None and scores.correct is not None
        cross_entropy = Moments.of(scores.cross_entropy)
        self.cross_entropy.merge(cross_entropy)
        if scores.class_indices:
            self.kl_divergence.merge(cross_entropy)
            self.target_entropy.merge(Moments(cross_entropy.n, 0.0, 0.0))
        else:
            assert scores.target_entropy is not None
            self.kl_divergence.add(scores.kl_divergence)
            self.target_entropy.add(scores.target_entropy)
        self.accuracy.merge(Moments.of(scores.correct))

    def merge(self, other: EvalState) -> None:
        """Fold in another state (another chunk, file or machine).

        Args:
            other: A state of the same settings (kinds, eps, temperature, tolerance).
        """
        for name in _STATE_MOMENTS:
            getattr(self, name).merge(getattr(other, name))
        self.n_clipped += other.n_clipped
        self.n_renormalised += other.n_renormalised
        self.n_ignored += other.n_ignored

    def state_dict(self) -> dict[str, Any]:
        """Plain numbers, for carrying a partial state between processes as JSON."""
        out: dict[str, Any] = {}
        for name in _STATE_MOMENTS:
            m = getattr(self, name)
            out[name] = [m.n, m.total, m.m2]
        out.update(n_clipped=self.n_clipped, n_renormalised=self.n_renormalised, n_ignored=self.n_ignored)
        return out

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> EvalState:
        """Rebuild a state from :meth:`state_dict`.

        Args:
            state: The dictionary.

        Returns:
            The state.
        """
        moments = {}
        for name in _STATE_MOMENTS:
            n, total, m2 = state[name]
            moments[name] = Moments(int(n), float(total), float(m2))
        return cls(
            **moments,
            n_clipped=int(state["n_clipped"]),
            n_renormalised=int(state["n_renormalised"]),
            n_ignored=int(state["n_ignored"]),
        )

    def compute(self, base: str = "e") -> Results:
        """The metrics and their standard errors, in the units of ``base``.

        Without targets only ``entropy`` is reported. Perplexity is exp of the mean
        cross-entropy in nats (infinite past the float range) and the same in every base;
        its standard error follows by the delta method.

        Args:
            base: ``"e"`` (nats), ``"2"`` (bits) or ``"10"`` (hartleys).

        Returns:
            The results.
        """
        scale = {"e": 1.0, "2": math.log(2), "10": math.log(10)}[base]
        metrics: dict[str, float] = {}
        errors: dict[str, float] = {}
        names = METRICS if self.has_targets else ("entropy",)
        for name in names:
            if name == "perplexity":
                metrics[name] = _exp(self.cross_entropy.mean)
                errors[name] = metrics[name] * self.cross_entropy.std_error
            else:
                moments: Moments = getattr(self, name)
                divisor = scale if name in _INFORMATION else 1.0
                metrics[name] = moments.mean / divisor
                errors[name] = moments.std_error / divisor
        return Results(metrics, errors, self.n_samples, self.n_clipped, base)


def _exp(x: float) -> float:
    """exp(x), infinite past the float range rather than an OverflowError."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def check_settings(*, temperature: float, eps: float, tol: float) -> None:
    """Reject settings that cannot give a number.

    Args:
        temperature: Must be a positive finite number.
        eps: Must be in [0, 1).
        tol: Must be positive.

    Raises:
        InfoCliError: Naming the option and the value.
    """
    if not (temperature > 0 and math.isfinite(temperature)):
        raise InfoCliError(f"--temperature must be a positive number, got {temperature:g}")
    if not 0 <= eps < 1:
        raise InfoCliError(f"--eps must be in [0, 1), got {eps:g}", hint="Use 0 for exact arithmetic")
    if not tol > 0:
        raise InfoCliError(f"--tol must be positive, got {tol:g}")


@dataclass
class Scorer:
    """Scores chunk after chunk into an :class:`EvalState`, holding the settings and the
    input kinds that ``auto`` decides from the first chunk.

    Args:
        kind: How to read predictions: ``"auto"`` or one of :data:`KINDS`.
        target_kind: How to read target distributions, likewise.
        temperature: Logits and log-probabilities are divided by it before the softmax,
            for predictions and targets alike.
        eps: Floor for q in the cross-entropy and KL terms; 0 for exact arithmetic.
        tol: Tolerance on probability rows summing to 1.
        binary: The predictions are one score per row (for class 1), expanded to two classes.
        class_names: Names of the prediction columns (the one score column, for binary
            predictions), for error messages.
        target_names: Names of the target columns, for error messages.

    Example:
        >>> scorer = Scorer()
        >>> q = scorer.predictions(np.full((2, 4), 0.25))
        >>> scorer.add(q, np.array([0, 3]))
        >>> scorer.kind, round(scorer.state.compute().metrics["perplexity"], 6)
        ('probs', 4.0)
    """

    kind: str = "auto"
    target_kind: str = "auto"
    temperature: float = 1.0
    eps: float = 1e-12
    tol: float = 1e-3
    binary: bool = False
    class_names: Sequence[str] | None = None
    target_names: Sequence[str] | None = None
    state: EvalState = field(default_factory=EvalState)

    def __post_init__(self) -> None:
        check_settings(temperature=self.temperature, eps=self.eps, tol=self.tol)
        for option, kind in (("--kind", self.kind), ("--target-kind", self.target_kind)):
            if kind != "auto" and kind not in KINDS:
                raise InfoCliError(f"{option} must be auto, {', '.join(KINDS)}; got {kind!r}")
        self._auto = self.kind == "auto"
        self._target_auto = self.target_kind == "auto"

    def decide(self, predictions: np.ndarray | None = None, targets: np.ndarray | None = None) -> None:
        """Settle ``auto`` kinds from the first rows seen (a chunk without rows decides nothing).

        Call it on a whole chunk before scoring parts of it in parallel, so every part is
        read the same way.

        Args:
            predictions: A chunk of prediction scores, as for :meth:`predictions`.
            targets: A chunk of target scores, as for :meth:`targets`.
        """
        if self.kind == "auto" and predictions is not None and len(predictions):
            values = predictions.reshape(-1, 1) if predictions.ndim == 1 else predictions
            self.kind = detect_kind(as_float(values), tol=self.tol)
        if self.target_kind == "auto" and targets is not None and len(targets):
            self.target_kind = detect_kind(as_float(targets), tol=self.tol)

    def predictions(self, values: np.ndarray) -> Distributions:
        """Validate a chunk of predictions (deciding the kind on the first one).

        Safe to call from several threads once the kind is decided (:meth:`decide`).

        Args:
            values: (n, n_classes) scores, or (n, 1) / (n,) binary scores.

        Returns:
            The distributions.

        Raises:
            InfoCliError: Invalid values for the kind (chunk-local ``row``).
        """
        self.decide(predictions=values)
        values = as_float(values.reshape(-1, 1) if values.ndim == 1 else values)
        kind = "probs" if self.kind == "auto" else self.kind  # any kind reads zero rows
        if self.binary:  # check the scores as given, before the second class is derived
            _Validation(values, kind, "--kind", self._auto, self.class_names).every_value()
            values = binary_to_two_classes(values, kind)
        return to_distributions(
            values,
            kind,
            temperature=self.temperature,
            tol=self.tol,
            auto=self._auto,
            class_names=None if self.binary else self.class_names,
        )

    def targets(self, values: np.ndarray) -> Distributions:
        """Validate a chunk of target distributions (deciding their kind on the first one).

        Safe to call from several threads once the kind is decided (:meth:`decide`).

        Args:
            values: (n, n_classes) target scores.

        Returns:
            The distributions.

        Raises:
            InfoCliError: Invalid values for the kind (chunk-local ``row``).
        """
        self.decide(targets=values)
        return to_distributions(
            as_float(values),
            "probs" if self.target_kind == "auto" else self.target_kind,
            temperature=self.temperature,
            tol=self.tol,
            option="--target-kind",
            auto=self._target_auto,
            class_names=self.target_names,
        )

    def score(self, pred: Distributions, target: np.ndarray | Distributions | None) -> EvalState:
        """A chunk's state: its per-row terms as sums and counts (thread-safe: nothing is
        accumulated; merge the result into :attr:`state`, in file order).

        Args:
            pred: From :meth:`predictions`.
            target: None, validated class indices (:func:`check_class_indices`), or
                distributions from :meth:`targets`.

        Returns:
            The chunk's state.
        """
        state = EvalState()
        state.update(score_rows(pred, target, eps=self.eps))
        state.n_renormalised = pred.renormalised
        if isinstance(target, Distributions):
            state.n_renormalised += target.renormalised
        return state

    def add(self, pred: Distributions, target: np.ndarray | Distributions | None) -> None:
        """Score a chunk and accumulate it.

        Args:
            pred: From :meth:`predictions`.
            target: None, validated class indices, or distributions from :meth:`targets`.
        """
        self.state.merge(self.score(pred, target))


def evaluate_arrays(
    preds: np.ndarray,
    target: np.ndarray | None = None,
    *,
    chunk_rows: int | None = None,
    **settings: Any,
) -> EvalState:
    """Evaluate in-memory arrays, chunk by chunk, as ``infocli eval`` does files.

    Args:
        preds: (n, n_classes) scores, or (n,) binary scores for class 1.
        target: None; (n,) class indices; or (n, n_classes) target distributions.
        chunk_rows: Rows per chunk (all at once by default).
        **settings: Passed to :class:`Scorer` (``kind``, ``target_kind``, ``temperature``,
            ``eps``, ``tol``).

    Returns:
        The state; call :meth:`EvalState.compute` for the numbers.

    Raises:
        InfoCliError: Invalid input (``row`` is the array row).

    Example:
        >>> probs = np.array([[0.5, 0.5], [0.9, 0.1]])
        >>> r = evaluate_arrays(probs, np.array([0, 0]), kind="probs").compute(base="2")
        >>> round(r.metrics["cross_entropy"], 4)  # (-log2 0.5 - log2 0.9) / 2 bits
        0.576
    """
    scorer = Scorer(binary=preds.ndim == 1 or preds.shape[1] == 1, **settings)
    n = preds.shape[0]
    if target is not None and target.ndim == 2 and target.shape[1] == 1:
        target = target[:, 0]  # a column of class indices
    if target is not None and len(target) != n:
        raise InfoCliError(f"{len(target)} targets for {n} rows of predictions; they must be row-aligned")
    if chunk_rows is not None and chunk_rows < 1:
        raise InfoCliError(f"chunk_rows must be at least 1, got {chunk_rows}")
    step = chunk_rows or max(n, 1)
    for start in range(0, n, step):
        stop = min(start + step, n)
        try:
            pred = scorer.predictions(preds[start:stop])
            chunk_target: np.ndarray | Distributions | None = None
            if target is not None and target.ndim == 2:
                if target.shape[1] != (2 if scorer.binary else preds.shape[1]):
                    raise InfoCliError(
                        f"target distributions have {target.shape[1]} classes but the predictions "
                        f"have {2 if scorer.binary else preds.shape[1]}"
                    )
                chunk_target = scorer.targets(target[start:stop])
            elif target is not None:
                n_classes = 2 if scorer.binary else preds.shape[1]
                chunk_target = check_class_indices(target[start:stop], n_classes)
        except InfoCliError as error:
            raise error.at(row_offset=start) from None
        scorer.add(pred, chunk_target)
    return scorer.state
