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
            (target distributions only), ``"tokens"``, ``"bytes"`` or ``"words"``, or a
            setting (``"free_bits"``); None for nothing beyond the predictions.
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
_LATENT = ("latent-kl", "merge")
_MEAN_SE = "sample standard deviation over rows / sqrt(N)"
_RATIO_SE = "delta method for a ratio estimator, sequences as the unit"
_CALIBRATION = ("eval", "merge")
_BINS = "per bin: rows, Σ conf, Σ correct, Σ conf², Σ conf·correct"

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
    *(
        Metric(name, description, formula, unit, better, "labels", statistic, se, _CALIBRATION, "calibration")
        for name, description, formula, unit, better, statistic, se in (
            (
                "brier_score",
                "multi-class Brier score: squared error of the probabilities (2 x scikit-learn's binary one)",
                "Σ_c (q_c − y_c)², in [0, 2]",
                "unitless",
                False,
                "mean of Σ_c (q_c − y_c)² over rows",
                _MEAN_SE,
            ),
            (
                "ece",
                "expected calibration error: mean gap between confidence and accuracy over bins",
                "Σ_b n_b/N |conf_b − acc_b|",
                "probability",
                False,
                _BINS,
                "none",
            ),
            (
                "mce",
                "maximum calibration error: the largest gap of a non-empty bin",
                "max_b |conf_b − acc_b|",
                "probability",
                False,
                _BINS,
                "none",
            ),
            (
                "rmsce",
                "root-mean-square calibration error (l2)",
                "sqrt(Σ_b n_b/N (conf_b − acc_b)²)",
                "probability",
                False,
                _BINS,
                "none",
            ),
            (
                "debiased_l2_calibration_error",
                "l2 calibration error less its sampling bias (Kumar et al. 2019)",
                "sqrt(max(0, Σ_b n_b/N [(conf_b − acc_b)² − acc_b(1 − acc_b)/(n_b − 1)])), n_b < 2 giving 0",
                "probability",
                False,
                _BINS,
                "none",
            ),
            (
                "classwise_ece",
                "mean over classes of each class's ECE of q_c against [label = c]",
                "(1/C) Σ_c Σ_b n_cb/N |mean q_c − share of label c|_b",
                "probability",
                False,
                "per class and bin: Σ q_c and rows of class c (within 1,000,000 cells)",
                "none",
            ),
            (
                "top_label_brier",
                "Brier score of the top label (of the positive class for a binary classifier)",
                "mean (conf − correct)² = REL − RES + UNC + WBV − WBC",
                "unitless",
                False,
                _BINS,
                "none",
            ),
            (
                "brier_reliability",
                "REL: the top-label Brier score's miscalibration term (added)",
                "Σ_b n_b/N (conf_b − acc_b)²",
                "unitless",
                False,
                _BINS,
                "none",
            ),
            (
                "brier_resolution",
                "RES: how far the bins' accuracies spread from the overall one (subtracted)",
                "Σ_b n_b/N (acc_b − acc)²",
                "unitless",
                True,
                _BINS,
                "none",
            ),
            (
                "brier_uncertainty",
                "UNC: the Brier score of always predicting the accuracy (added)",
                "acc (1 − acc)",
                "unitless",
                None,
                _BINS,
                "none",
            ),
            (
                "brier_within_bin_variance",
                "WBV: spread of the confidences within bins (added; Stephenson et al. 2008)",
                "(1/N) Σ_b Σ_i∈b (conf_i − conf_b)²",
                "unitless",
                None,
                _BINS,
                "none",
            ),
            (
                "brier_within_bin_covariance",
                "WBC: within-bin covariance of confidence and correctness (subtracted)",
                "(2/N) Σ_b Σ_i∈b (conf_i − conf_b)(correct_i − acc_b)",
                "unitless",
                None,
                _BINS,
                "none",
            ),
        )
    ),
    Metric(
        "fitted_temperature",
        "T* minimising the cross-entropy of softmax(z / T) (temperature scaling)",
        "argmin_T mean −log softmax(z / T)_y, on a 64-point log grid over [0.05, 20], refined by a parabola in log T",
        "unitless",
        None,
        "labels",
        "cross-entropy sums at each grid temperature",
        "none",
        _CALIBRATION,
        "fit_temperature",
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
    Metric(
        "kl_divergence",
        "KL of each example's posterior to the prior, summed over latent dimensions",
        "Σ_d KL(N(μ_d, σ_d²) ‖ N(μ_p,d, σ_p,d²)) = ½ Σ_d (r_d − 1 − ln r_d + (μ_d − μ_p,d)² / σ_p,d²), "
        "r_d = σ_d² / σ_p,d²; prior N(0, I) by default",
        "information",
        None,
        None,
        "mean of the per-example KL over rows",
        _MEAN_SE,
        _LATENT,
    ),
    Metric(
        "kl_free_bits",
        "KL after free bits λ, batch-averaged (when λ is given)",
        "Σ_d max(λ, mean KL_d), λ in nats",
        "information",
        None,
        "free_bits",
        "per-dimension sums of KL_d",
        "none",
        _LATENT,
    ),
    Metric(
        "active_units",
        "latent dimensions whose mean varies over the data (Burda et al. 2015)",
        "#{d : sample variance (n − 1) over rows of μ_d > the AU threshold (0.01)}",
        "count",
        True,
        None,
        "per-dimension mean and squared deviations of μ_d (Chan's merge)",
        "none",
        _LATENT,
    ),
    Metric(
        "collapsed_units",
        "latent dimensions whose mean KL is below the collapse threshold",
        "#{d : mean KL_d < the collapse threshold (0.01 nats)}",
        "count",
        False,
        None,
        "per-dimension sums of KL_d",
        "none",
        _LATENT,
    ),
)
"""Every metric, in report order. A name may be declared once per command: the KL
divergence of ``eval`` (between distributions over classes) and that of ``latent-kl``
(between Gaussians) are one name to a gate, two declarations here."""

REGISTRY: dict[str, Metric] = {}
"""The metrics by name; for a name declared for several commands, its first declaration
(see :func:`declared` for a command's own)."""
for _metric in METRICS:
    REGISTRY.setdefault(_metric.name, _metric)


def declared(name: str, command: str) -> Metric:
    """A command's declaration of a metric.

    Args:
        name: The metric's name.
        command: A command that reports it.

    Returns:
        The declaration.

    Raises:
        KeyError: The command reports no such metric.
    """
    for metric in METRICS:
        if metric.name == name and command in metric.commands:
            return metric
    raise KeyError(f"{command} reports no metric {name!r}")


PERCENTILE_KEYS = ("min", "p0.1", "p1", "p5", "p10", "p50", "p90", "p95", "p99", "p99.9", "max")
"""The summary of a metric's per-row values (``percentiles``), beside its sketch's
``relative_accuracy``; the same keys as :data:`infocli.metrics.sketch.SUMMARY_KEYS`."""


def metrics_of(command: str) -> tuple[Metric, ...]:
    """The metrics a command can report, in report order.

    Args:
        command: A command's name: ``"eval"``, ``"perplexity"``, ``"trend"``, ``"latent-kl"``,
            ``"merge"``.

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
        Metric names, in report order, each once.
    """
    metrics = metrics_of(command)
    if targets != "any":
        metrics = tuple(m for m in metrics if reported(m, targets, settings or {}))
    return tuple(dict.fromkeys(m.name for m in metrics))  # a name may be declared per command


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
    metrics = [m for m in metrics_of(command) if targets == "any" or reported(m, targets, settings or {})]
    names = list(dict.fromkeys(m.name for m in metrics))
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
