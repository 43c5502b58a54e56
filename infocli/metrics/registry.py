"""Every metric infocli reports, declared once.

The tables, the JSON documents, the gates, the signature, ``infocli metrics`` and the
README's formula tables all read this registry; a new metric is one more :class:`Metric`
here, plus the statistic it reads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

UNITS = {"e": "nats", "2": "bits", "10": "hartleys"}
"""Log bases (``--base``) and the unit of information each gives."""

LN_BASE = {"e": 1.0, "2": math.log(2), "10": math.log(10)}
"""The natural log of each base: a value in nats divided by it is in that base's unit."""

UNIT_CLASSES = ("information", "probability", "count", "unitless")
"""What a metric's number is: information follows ``--base``; the others do not."""


@dataclass(frozen=True)
class Metric:
    """One reported metric.

    Attributes:
        name: The JSON key and the gate name.
        description: One line, for tables and ``infocli metrics``.
        formula: The definition, as the README writes it.
        unit: One of :data:`UNIT_CLASSES`.
        higher_is_better: True or False for a quality; None for a description (entropy).
        needs: What an input must bring for the metric to exist: ``"labels"`` (class labels
            or target distributions), ``"classes"`` (class labels only), ``"distributions"``
            (target distributions only), ``"tokens"``, ``"bytes"`` or ``"words"``; None for
            nothing beyond the predictions.
        statistic: The state's statistic it is derived from.
        standard_error: How its standard error follows from that statistic.
        commands: The commands that report it.
        option: The setting that turns it on (reported only when that setting is not
            None); None for a metric reported whenever its needs are met.
        alias: Another metric's name that this one answers to where it is reported in that
            one's place, so that gates written for the other keep working.
        t2_scaled: ``--t2`` multiplies it (value, standard error, percentiles) by T².
        percentiles: Against target distributions, its per-row values are summarised under
            ``distributions.NAME`` of the report (:data:`PERCENTILE_KEYS`), each a gate
            name ``NAME.KEY``.
    """

    name: str
    description: str
    formula: str
    unit: str
    higher_is_better: bool | None
    needs: str | None
    statistic: str
    standard_error: str
    commands: tuple[str, ...]
    option: str | None = None
    alias: str | None = None
    t2_scaled: bool = False
    percentiles: bool = False

    def unit_name(self, base: str) -> str:
        """The unit shown beside a value: nats/bits/hartleys for information, else ``""``.

        Args:
            base: ``"e"``, ``"2"`` or ``"10"``.

        Returns:
            The unit's name.
        """
        return UNITS[base] if self.unit == "information" else ""

    def divisor(self, base: str) -> float:
        """What a value kept in nats is divided by to be reported in ``base``.

        Args:
            base: ``"e"``, ``"2"`` or ``"10"``.

        Returns:
            ln(base) for information, else 1.
        """
        return LN_BASE[base] if self.unit == "information" else 1.0


_EVAL = ("eval", "trend", "merge")
_TOKENS = ("perplexity", "trend", "merge")
_MEAN_SE = "sample standard deviation over rows / sqrt(N)"
_RATIO_SE = "delta method for a ratio estimator, sequences as the unit"

METRICS: tuple[Metric, ...] = (
    Metric(
        "entropy",
        "uncertainty of the predictions, right or wrong",
        "H(q) = −Σ_c q_c log q_c",
        "information",
        None,
        None,
        "mean of H(q) over rows",
        _MEAN_SE,
        _EVAL,
    ),
    Metric(
        "target_entropy",
        "uncertainty of the targets (0 for class labels)",
        "H(p) = −Σ_c p_c log p_c",
        "information",
        None,
        "labels",
        "mean of H(p) over rows",
        _MEAN_SE,
        _EVAL,
    ),
    Metric(
        "cross_entropy",
        "log loss: mean negative log-likelihood of the targets",
        "H(p, q) = −Σ_c p_c log max(q_c, eps); per token: total NLL / total tokens",
        "information",
        False,
        "labels",
        "mean of H(p, q) over rows; total NLL and tokens for token files",
        f"{_MEAN_SE}; for token files, {_RATIO_SE}",
        (*_EVAL, "perplexity"),
    ),
    Metric(
        "kl_divergence",
        "extra cost of using q where p is true",
        "KL(p ‖ q) = Σ_c p_c (log p_c − log max(q_c, eps))",
        "information",
        False,
        "labels",
        "mean of KL(p ‖ q) over rows",
        _MEAN_SE,
        _EVAL,
        t2_scaled=True,
        percentiles=True,
    ),
    Metric(
        "reverse_kl_divergence",
        "extra cost of using p where q is true (mode-seeking; the student's view)",
        "KL(q ‖ p) = Σ_c q_c (log q_c − log max(p_c, eps))",
        "information",
        False,
        "distributions",
        "mean of KL(q ‖ p) over rows",
        _MEAN_SE,
        _EVAL,
        t2_scaled=True,
    ),
    Metric(
        "js_divergence",
        "generalised Jensen-Shannon divergence (with --js; β is p's weight in the mixture)",
        "β KL(p ‖ m) + (1 − β) KL(q ‖ m), m = β p + (1 − β) q",
        "information",
        False,
        "distributions",
        "mean of the divergence over rows",
        _MEAN_SE,
        _EVAL,
        option="js_beta",
        t2_scaled=True,
    ),
    Metric(
        "perplexity",
        "effective number of equally likely choices",
        "exp(mean cross-entropy in nats)",
        "unitless",
        False,
        "labels",
        "the cross-entropy's statistic",
        "perplexity × the standard error of the cross-entropy in nats (delta method)",
        (*_EVAL, "perplexity"),
    ),
    Metric(
        "accuracy",
        "share of rows whose most probable class is the label",
        "[argmax q = label]",
        "probability",
        True,
        "classes",
        "mean of the hits over rows",
        _MEAN_SE,
        _EVAL,
    ),
    Metric(
        "top1_agreement",
        "share of rows whose most probable class is the target distribution's",
        "[argmax q = argmax p]",
        "probability",
        True,
        "distributions",
        "mean of the hits over rows",
        _MEAN_SE,
        _EVAL,
        alias="accuracy",
    ),
    Metric(
        "sequence_perplexity_mean",
        "mean over sequences of each sequence's perplexity",
        "mean_s exp(NLL_s / n_s)",
        "unitless",
        False,
        "tokens",
        "per-sequence NLL and token sums",
        "sample standard deviation over sequences / sqrt(S)",
        _TOKENS,
    ),
    Metric(
        "sequence_perplexity_median",
        "median over sequences of each sequence's perplexity",
        "median_s exp(NLL_s / n_s)",
        "unitless",
        False,
        "tokens",
        "per-sequence NLL and token sums",
        "none",
        _TOKENS,
    ),
    Metric(
        "bits_per_byte",
        "NLL in bits per byte of text",
        "total NLL in bits / total bytes",
        "unitless",
        False,
        "bytes",
        "total NLL and bytes; per-sequence sums",
        _RATIO_SE,
        _TOKENS,
    ),
    Metric(
        "word_perplexity",
        "perplexity per word of text",
        "exp(total NLL / total words)",
        "unitless",
        False,
        "words",
        "total NLL and words; per-sequence sums",
        f"word perplexity × the standard error of NLL per word ({_RATIO_SE})",
        _TOKENS,
    ),
)
"""Every metric, in report order."""

REGISTRY: dict[str, Metric] = {m.name: m for m in METRICS}
"""The metrics by name."""


PERCENTILE_KEYS = ("min", "p0.1", "p1", "p5", "p10", "p50", "p90", "p95", "p99", "p99.9", "max")
"""The summary of a metric's per-row values (``percentiles``), beside its sketch's
``relative_accuracy``; the same keys as :data:`infocli.metrics.sketch.SUMMARY_KEYS`."""


def metrics_of(command: str) -> tuple[Metric, ...]:
    """The metrics a command can report, in report order.

    Args:
        command: A command's name: ``"eval"``, ``"perplexity"``, ``"trend"``, ``"merge"``.

    Returns:
        The metrics.
    """
    return tuple(m for m in METRICS if command in m.commands)


def names_of(
    command: str, targets: str | None = "any", settings: Mapping[str, Any] | None = None
) -> tuple[str, ...]:
    """The names of :func:`metrics_of`, or of those a run reports.

    Args:
        command: As for :func:`metrics_of`.
        targets: As for :func:`reported`, to list only what such a run reports;
            ``"any"`` (the default) for every metric of the command.
        settings: As for :func:`reported` (with ``targets`` other than ``"any"``).

    Returns:
        Metric names, in report order.
    """
    metrics = metrics_of(command)
    if targets != "any":
        metrics = tuple(m for m in metrics if reported(m, targets, settings or {}))
    return tuple(m.name for m in metrics)


TARGET_NEEDS = {
    "labels": ("classes", "distributions"),
    "classes": ("classes",),
    "distributions": ("distributions",),
}
"""For each ``needs`` about targets, the targets that meet it."""


def reported(metric: Metric, targets: str | None, settings: Mapping[str, Any]) -> bool:
    """Whether an evaluation reports a metric.

    Args:
        metric: The metric.
        targets: ``"classes"`` (class labels), ``"distributions"``, or None (no labels).
        settings: The evaluation's settings, for the metric's ``option``.

    Returns:
        True when its needs are met and its option (if any) is on.
    """
    if metric.option is not None and settings.get(metric.option) is None:
        return False
    return metric.needs not in TARGET_NEEDS or targets in TARGET_NEEDS[metric.needs]


def gate_names(
    command: str, targets: str | None = "any", settings: Mapping[str, Any] | None = None
) -> tuple[str, ...]:
    """Every name a gate of a command may use: the metrics, their aliases, and
    ``NAME.KEY`` for each percentile of the metrics that have them.

    Args:
        command: As for :func:`metrics_of`.
        targets: As for :func:`reported`, to list only what such a run reports;
            ``"any"`` (the default) for every name the command knows.
        settings: As for :func:`reported` (with ``targets`` other than ``"any"``).

    Returns:
        Names, the metrics' first, in report order.
    """
    metrics = [REGISTRY[name] for name in names_of(command, targets, settings)]
    names = [m.name for m in metrics]
    names += [m.alias for m in metrics if m.alias is not None and m.alias not in names]
    if targets in ("any", "distributions"):
        names += [f"{m.name}.{key}" for m in metrics if m.percentiles for key in PERCENTILE_KEYS]
    return tuple(names)


def gate_values(
    command: str, metrics: dict[str, float], percentiles: dict[str, dict[str, float]]
) -> dict[str, float]:
    """A report's values by every gate name it can answer (:func:`gate_names`).

    Args:
        command: As for :func:`metrics_of`.
        metrics: The reported metrics.
        percentiles: Per metric with them, the summary of its per-row values.

    Returns:
        The metrics, each alias of a reported metric (unless the alias is reported
        itself), and ``NAME.KEY`` for each percentile.
    """
    values = dict(metrics)
    for m in metrics_of(command):
        if m.alias is not None and m.name in metrics and m.alias not in metrics:
            values[m.alias] = metrics[m.name]
    for name, summary in percentiles.items():
        values |= {f"{name}.{key}": summary[key] for key in PERCENTILE_KEYS}
    return values
