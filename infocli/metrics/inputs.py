"""How scores become distributions: input kinds, their detection, validation, and the
softmax.

Pure NumPy, no I/O. A chunk of predictions (probabilities, logits or log-probabilities)
is validated and turned into :class:`Distributions` once; every per-row term is then
derived from it (:mod:`infocli.metrics.scores`).

Numerics, stated once:

* Everything is computed in nats; the report converts to the requested base.
* Per-element work stays in the input precision (float32 stays float32); every sum over
  rows is accumulated in float64.
* Logits go through a stable log-softmax (the row maximum is subtracted first).
* 0 log 0 is 0 exactly, on both sides: a zero probability contributes nothing to the
  entropy, and a zero target weight contributes nothing to the cross-entropy or KL.

Errors name parameters (``kind``, ``tol``) with :func:`infocli.errors.param`, which the
command line shows as its flags.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from infocli.errors import InfoCliError, param
from infocli.metrics.kernels import minus_row_max, pick, row_dot, row_max, row_sums

KINDS = ("probs", "logits", "logprobs")
"""How a matrix of scores is to be read: probabilities, logits or log-probabilities."""

_KIND_NAMES = {"probs": "probability", "logits": "logit", "logprobs": "log-probability"}
_KIND_PLURALS = {"probs": "probabilities", "logits": "logits", "logprobs": "log probabilities"}

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
    """Decide how to read a matrix of scores, from its values (``kind="auto"``).

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
            return pick(self.log_weights, classes), None
        scores = pick(self.scores, classes)
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
        hit = (pick(self.scores, classes) if scores_at is None else scores_at) == self.peak
        # A hit is exact unless an earlier class ties at the peak; that needs two classes
        # at the peak in one row, which one count over the chunk rules out.
        if np.count_nonzero(self.scores == self.peak[:, None]) == len(self):
            return hit
        return self.argmax == classes


def _from_logits(
    z: np.ndarray,
    *,
    temperature: float,
    peak: tuple[np.ndarray, np.ndarray | None] | None = None,
    check: Callable[[], None] | None = None,
) -> Distributions:
    """Softmax of z / temperature, by the shifted form exp(z - max); z may hold -inf.

    ``peak`` is ``row_max(z)`` when already known; ``check`` is as for :func:`row_dot`.
    """
    top, argmax = peak if peak is not None else row_max(z)
    log_weights = minus_row_max(z, top)
    if temperature != 1.0:
        # The argmax and the shift are unchanged by a positive scale, so divide after; in
        # float64 where the input precision cannot hold the temperature (1e-46 in float32).
        info = np.finfo(log_weights.dtype)
        if not float(info.tiny) <= temperature <= float(info.max):
            log_weights = log_weights.astype(np.float64)
        np.divide(log_weights, log_weights.dtype.type(temperature), out=log_weights)
    weights = np.exp(log_weights)
    sums = row_sums(weights)
    weighted_logs = row_dot(weights, log_weights, check)
    return Distributions(weights, log_weights, sums, np.log(sums), weighted_logs, z, top, known_argmax=argmax)


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
class Validation:
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
            read_as += f" ({param(self.option)} auto decided from the first rows)"
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
                hint=f"If these are logits, pass {param(self.option)} logits",
            )
        if kind == "logprobs" and hi > 0:
            row, where, value = _first_bad_value(values, values > 0, class_names)
            raise InfoCliError(
                f"log-probability {value:g} for {where} is above 0; the file was {self.read_as}",
                row=row,
                hint=f"If these are logits, pass {param(self.option)} logits",
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
        bad = ~(off <= tol) | ~(sums > 0)  # NaN sums fail too; a zero row cannot be renormalised
        if bad.any():
            self.every_value()
            row = _first_row(bad)
            if sums[row] == 0:
                raise InfoCliError(
                    f"every probability in the row is 0, so it cannot be renormalised; the file was "
                    f"{self.read_as}",
                    row=row,
                    hint=f"If these are logits, pass {param(self.option)} logits",
                )
            raise InfoCliError(
                f"row sums to {_near_one(float(sums[row]))}; expected 1 ± {tol:.3g}, as the file was "
                f"{self.read_as}",
                row=row,
                hint=f"If these are logits, pass {param(self.option)} logits; if the rows are only roughly "
                f"normalised, raise {param('tol')}",
            )
        renormalised = off > rounding
        count = int(np.count_nonzero(renormalised))
        if not count:
            return 0, None
        row = _first_row(renormalised)
        return count, (row, float(sums[row]))


def _near_one(total: float) -> str:
    """A row sum for a message: ``1 − 3e-09`` when it is close to 1, so that any tolerance
    still shows how far off it is; otherwise its value."""
    off = total - 1
    if off and abs(off) < 1e-4:
        return f"1 {'+' if off > 0 else '−'} {abs(off):.3g}"
    return f"{total:.6g}"


def to_distributions(
    values: np.ndarray,
    kind: str,
    *,
    temperature: float = 1.0,
    tol: float = 1e-3,
    option: str = "kind",
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
        option: The parameter that sets ``kind`` (``"kind"`` or ``"target_kind"``), named in hints.
        auto: Whether ``kind`` was decided automatically, said in error messages.
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
    peak = row_max(values) if values.size else (np.zeros(len(values), values.dtype), None)
    check = Validation(values, kind, option, auto, class_names, peak[0])
    check.peaks()
    count, first = 0, None
    if kind == "probs":
        sums = row_sums(values)
        count, first = check.normalised(sums, tol)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_values = np.log(values)
        if temperature != 1.0:
            dist = _from_logits(log_values, temperature=temperature, check=check.every_value)
        else:
            weighted_logs = row_dot(values, log_values, check.every_value)
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
        bad = np.isnan(labels) | (np.isfinite(labels) & (labels != np.floor(labels)))
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
        value = labels[row]
        shown = f"{value:g}" if np.isfinite(value) else "beyond the range of numbers"
        raise InfoCliError(
            f"class index {shown} is out of range; expected 0..{n_classes - 1} "
            f"(the predictions have {n_classes} classes)",
            row=row,
        )
    return labels.astype(np.int64, copy=False)


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
        raise InfoCliError(f"{param('temperature')} must be a positive number, got {temperature!r}")
    if not 0 <= eps < 1:
        raise InfoCliError(
            f"{param('eps')} must be in [0, 1), got {eps!r}", hint="Use 0 for exact arithmetic"
        )
    if not tol > 0:
        raise InfoCliError(f"{param('tol')} must be positive, got {tol!r}")
