"""Paired comparisons of two models scored on the same rows: mergeable sums of per-row
differences, and the distance between the two models' distributions.

Pure NumPy, no I/O. For every compared metric the state keeps :class:`Moments` (count,
sum, squared deviations: the sums n, Σd, Σd² in a form that merges without cancellation)
of the baseline's per-row values, the candidate's, and their differences d = candidate −
baseline. The paired standard error of the mean difference is the sample standard
deviation of d over sqrt(n): the variation the rows share cancels in d. Intervals and
p-values use the normal approximation (:mod:`infocli.metrics.stats`).

The distribution block takes the baseline as the reference p and the candidate as q:
KL(p ‖ q) per row (log q floored at eps, as in ``eval``), whether the two agree on the most
probable class, and with class labels Δp = q[label] − p[label]; percentiles come from a
:class:`~infocli.metrics.sketch.Sketch`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from infocli.errors import InfoCliError
from infocli.metrics.moments import Moments
from infocli.metrics.registry import REGISTRY, Metric, metrics_of, reported
from infocli.metrics.sketch import Sketch
from infocli.metrics.state import (
    EVAL_SETTINGS,
    Check,
    check_inputs,
    check_mergeable,
    check_settings_shape,
    count,
    exp_or_inf,
    header,
    moments_from_dict,
    moments_to_dict,
    real,
)
from infocli.metrics.stats import holm, mcnemar_p, normal_interval, normal_p, z_quantile

TIE_NATS = 1e-12
"""Rows whose cross-entropies differ by at most this (absolute, in nats) are ties."""

_ROW_MEAN = re.compile(r"^mean of .* over rows")
_USES_Q = re.compile(r"\bq\b|\bq_")
_ROW_FIELDS = {"accuracy": "correct", "top1_agreement": "correct"}
"""A metric's per-row values in :class:`~infocli.metrics.scores.RowScores`, where the field
is not named after the metric."""

HITS = ("accuracy", "top1_agreement")
"""The metrics of per-row hits (accuracy against class labels, top-1 agreement against
distributions), which McNemar's test compares."""


def hits_metric(names: Any) -> str | None:
    """Which of the compared metrics counts hits, if any."""
    return next((name for name in HITS if name in names), None)


def compared_metrics(targets: str | None, settings: Mapping[str, Any] | None = None) -> tuple[Metric, ...]:
    """The metrics a comparison reports, read from the registry.

    Every metric ``eval`` reports for such targets and settings that is a mean over rows
    (its statistic says so), and whose formula involves the predictions q: the others
    (``target_entropy``) depend on the targets alone, which both models share, so cannot
    differ.

    Args:
        targets: ``"classes"``, ``"distributions"`` or None (as for
            :func:`~infocli.metrics.registry.reported`).
        settings: The settings that turn metrics on (as for ``reported``).

    Returns:
        The metrics, in report order.
    """
    return tuple(
        m
        for m in metrics_of("eval")
        if _ROW_MEAN.match(m.statistic) and _USES_Q.search(m.formula) and reported(m, targets, settings or {})
    )


def row_values(scores: Any, name: str) -> np.ndarray:
    """A metric's per-row values in a chunk's row scores.

    Raises:
        AssertionError: The scores hold no per-row values for the metric.
    """
    values = getattr(scores, _ROW_FIELDS.get(name, name), None)
    assert values is not None, f"no per-row values of {name}"
    return values


@dataclass
class PairedMoments:
    """Moments of a metric's per-row values for both models and of their differences."""

    baseline: Moments = field(default_factory=Moments)
    candidate: Moments = field(default_factory=Moments)
    difference: Moments = field(default_factory=Moments)

    def add(self, baseline: np.ndarray, candidate: np.ndarray) -> None:
        """Accumulate one chunk's per-row values of both models."""
        self.baseline.add(baseline)
        self.candidate.add(candidate)
        if baseline.dtype == np.bool_:  # hits: the difference is -1, 0 or 1
            self.difference.add(candidate.astype(np.int8) - baseline.astype(np.int8))
        else:
            self.difference.add(np.subtract(candidate, baseline, dtype=np.float64))

    def merge(self, other: PairedMoments) -> None:
        """Fold in another chunk's moments."""
        self.baseline.merge(other.baseline)
        self.candidate.merge(other.candidate)
        self.difference.merge(other.difference)

    def to_dict(self) -> dict[str, Any]:
        return {k: moments_to_dict(getattr(self, k)) for k in ("baseline", "candidate", "difference")}

    @classmethod
    def from_dict(cls, data: Any, what: str) -> PairedMoments:
        if not isinstance(data, dict) or set(data) != {"baseline", "candidate", "difference"}:
            raise InfoCliError(f"{what} must hold baseline, candidate and difference")
        return cls(
            *(moments_from_dict(data[k], f"{what}.{k}") for k in ("baseline", "candidate", "difference"))
        )


@dataclass
class PairedState:
    """Sums and counts of one candidate against the baseline, over the same rows.

    Attributes:
        metrics: :class:`PairedMoments` of each compared metric, by name.
        discordant: Rows where only the baseline is right, and where only the candidate
            is (McNemar's b and c); zeros without labels.
        cross_entropy_rows: Rows where the candidate's cross-entropy is lower (a win),
            within :data:`TIE_NATS` (a tie), or higher (a loss).
        kl: Moments of KL(p ‖ q) per row, in nats.
        kl_sketch: Its percentiles.
        top1: Moments of the rows where both models' most probable class is the same.
        delta_p: Moments of q[label] − p[label] (class labels only).
        delta_p_sketch: Its percentiles.
    """

    metrics: dict[str, PairedMoments]
    discordant: list[int] = field(default_factory=lambda: [0, 0])
    cross_entropy_rows: list[int] = field(default_factory=lambda: [0, 0, 0])
    kl: Moments = field(default_factory=Moments)
    kl_sketch: Sketch = field(default_factory=Sketch)
    top1: Moments = field(default_factory=Moments)
    delta_p: Moments = field(default_factory=Moments)
    delta_p_sketch: Sketch = field(default_factory=Sketch)

    @classmethod
    def empty(cls, names: Sequence[str]) -> PairedState:
        """A state of no rows comparing the named metrics."""
        return cls({name: PairedMoments() for name in names})

    @property
    def n_samples(self) -> int:
        """Rows compared."""
        return self.kl.n

    def update(
        self,
        baseline: Any,
        candidate: Any,
        kl: np.ndarray,
        agree: np.ndarray,
        delta_p: np.ndarray | None = None,
    ) -> None:
        """Accumulate one chunk.

        Args:
            baseline: The baseline's :class:`~infocli.metrics.scores.RowScores`.
            candidate: The candidate's, on the same rows.
            kl: KL(p ‖ q) per row, in nats (p the baseline, q the candidate).
            agree: Per row, whether both models' most probable class is the same.
            delta_p: q[label] − p[label] per row, with class labels.
        """
        chunks: dict[tuple[int, int], PairedMoments] = {}  # the KL of class labels is the CE
        for name, moments in self.metrics.items():
            b, c = row_values(baseline, name), row_values(candidate, name)
            chunk = chunks.get((id(b), id(c)))
            if chunk is None:
                chunk = chunks[id(b), id(c)] = PairedMoments()
                chunk.add(b, c)
            moments.merge(chunk)
        if baseline.correct is not None:
            b, c = baseline.correct, candidate.correct
            only_candidate = int(np.count_nonzero(c & ~b))
            self.discordant[0] += int(np.count_nonzero(b)) - int(np.count_nonzero(c)) + only_candidate
            self.discordant[1] += only_candidate
        if baseline.cross_entropy is not None:
            d = np.subtract(candidate.cross_entropy, baseline.cross_entropy, dtype=np.float64)
            with np.errstate(invalid="ignore"):  # inf - inf: neither lower nor higher
                wins, losses = int(np.count_nonzero(d < -TIE_NATS)), int(np.count_nonzero(d > TIE_NATS))
            rows = self.cross_entropy_rows
            rows[0] += wins
            rows[1] += d.size - wins - losses
            rows[2] += losses
        self.kl.add(kl)
        self.kl_sketch.add(kl)
        self.top1.add(agree)
        if delta_p is not None:
            self.delta_p.add(delta_p)
            self.delta_p_sketch.add(delta_p)

    def merge(self, other: PairedState) -> None:
        """Fold in another chunk's (or file's, or machine's) state of the same candidate."""
        for name, moments in self.metrics.items():
            moments.merge(other.metrics[name])
        self.discordant = [a + b for a, b in zip(self.discordant, other.discordant, strict=True)]
        self.cross_entropy_rows = [
            a + b for a, b in zip(self.cross_entropy_rows, other.cross_entropy_rows, strict=True)
        ]
        for name in ("kl", "kl_sketch", "top1", "delta_p", "delta_p_sketch"):
            getattr(self, name).merge(getattr(other, name))

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": {name: m.to_dict() for name, m in self.metrics.items()},
            "discordant": {"baseline_only": self.discordant[0], "candidate_only": self.discordant[1]},
            "cross_entropy_rows": dict(zip(("wins", "ties", "losses"), self.cross_entropy_rows, strict=True)),
            "kl_divergence": {"moments": moments_to_dict(self.kl), "sketch": self.kl_sketch.to_dict()},
            "top1_agreement": moments_to_dict(self.top1),
            "delta_p": {"moments": moments_to_dict(self.delta_p), "sketch": self.delta_p_sketch.to_dict()},
        }

    @classmethod
    def from_dict(cls, data: Any, what: str, names: Sequence[str], *, class_labels: bool) -> PairedState:
        """Rebuild a candidate's state, refusing counts that do not add up.

        Args:
            data: From :meth:`to_dict`.
            what: Where it sits in the file, for messages.
            names: The compared metrics the settings list.
            class_labels: Whether the targets are class labels (Δp is kept only then).

        Raises:
            InfoCliError: A missing field, or counts that do not add up.
        """
        if not isinstance(data, dict):
            raise InfoCliError(f"{what} is {data!r}; expected a candidate's paired state")
        metrics = data.get("metrics")
        if not isinstance(metrics, dict) or list(metrics) != list(names):
            raise InfoCliError(f"{what}.metrics must hold exactly {', '.join(names)}")
        state = cls({n: PairedMoments.from_dict(metrics[n], f"{what}.metrics.{n}") for n in names})
        discordant = _object(data, "discordant", ("baseline_only", "candidate_only"), what)
        state.discordant = [count(discordant[k], f"{what}.discordant.{k}") for k in discordant]
        rows = _object(data, "cross_entropy_rows", ("wins", "ties", "losses"), what)
        state.cross_entropy_rows = [count(rows[k], f"{what}.cross_entropy_rows.{k}") for k in rows]
        kl = _object(data, "kl_divergence", ("moments", "sketch"), what)
        state.kl = moments_from_dict(kl["moments"], f"{what}.kl_divergence.moments")
        state.kl_sketch = Sketch.from_dict(kl["sketch"], f"{what}.kl_divergence.sketch")
        state.top1 = moments_from_dict(data.get("top1_agreement"), f"{what}.top1_agreement")
        delta_p = _object(data, "delta_p", ("moments", "sketch"), what)
        state.delta_p = moments_from_dict(delta_p["moments"], f"{what}.delta_p.moments")
        state.delta_p_sketch = Sketch.from_dict(delta_p["sketch"], f"{what}.delta_p.sketch")
        state._check(what, class_labels)
        return state

    def _check(self, what: str, class_labels: bool) -> None:
        """Refuse counts that no run gives."""
        n = self.n_samples
        counts = {
            "kl_divergence.sketch": self.kl_sketch.n,
            "top1_agreement": self.top1.n,
            "delta_p.moments": self.delta_p.n,
            "delta_p.sketch": self.delta_p_sketch.n,
        }
        counts.update({f"metrics.{k}.{s}": getattr(m, s).n for k, m in self.metrics.items() for s in vars(m)})
        for name, found in counts.items():
            expected = n if not name.startswith("delta_p") or class_labels else 0
            if found != expected:
                raise InfoCliError(f"{what}.{name} holds {found} rows; expected {expected}")
        accuracy = self.metrics.get(hits_metric(self.metrics) or "")
        b, c = self.discordant
        if accuracy is not None:
            hits = (accuracy.baseline.total, accuracy.candidate.total)
            if b > hits[0] or c > hits[1] or accuracy.difference.total != c - b:
                raise InfoCliError(
                    f"{what}.discordant ({b}, {c}) does not match the hits ({hits[0]!r}, {hits[1]!r})"
                )
        elif b or c:
            raise InfoCliError(f"{what}.discordant counts rows, but accuracy is not compared")
        rows = sum(self.cross_entropy_rows)
        if rows != (n if "cross_entropy" in self.metrics else 0):
            raise InfoCliError(f"{what}.cross_entropy_rows add up to {rows} rows, not {n}")
        agreements = self.top1.total
        if not (0 <= agreements <= n and agreements == int(agreements)):
            raise InfoCliError(f"{what}.top1_agreement.sum is {agreements!r}; expected a count of rows")

    def compute(self, base: str, confidence: float) -> dict[str, Any]:
        """The candidate's comparison, before Holm's correction.

        Returns:
            ``{"metrics": {name: {...}}, "perplexity": {...}, "accuracy_mcnemar": {...},
            "cross_entropy_rows": {...}, "distributions": {...}}``, values in ``base``.
        """
        metrics = {}
        for name, m in self.metrics.items():
            scale = REGISTRY[name].divisor(base)
            d, se = m.difference.mean, mean_std_error(m.difference)
            low, high = normal_interval(d, se, confidence)
            metrics[name] = {
                "baseline": m.baseline.mean / scale,
                "candidate": m.candidate.mean / scale,
                "delta": d / scale,
                "std_error": se / scale,
                "interval": [low / scale, high / scale],
                "p_value": normal_p(d, se),
            }
        out: dict[str, Any] = {"metrics": metrics}
        ce = self.metrics.get("cross_entropy")
        if ce is not None:
            d, se = ce.difference.mean, mean_std_error(ce.difference)
            low, high = normal_interval(d, se, confidence)
            out["perplexity"] = {
                "baseline": exp_or_inf(ce.baseline.mean),
                "candidate": exp_or_inf(ce.candidate.mean),
                "ratio": exp_or_inf(d),
                "interval": [exp_or_inf(low), exp_or_inf(high)],
            }
            wins, ties, losses = self.cross_entropy_rows
            out["cross_entropy_rows"] = {
                "correlation": _correlation(ce),
                "wins": wins,
                "ties": ties,
                "losses": losses,
                "tie_nats": TIE_NATS,
            }
        if hits_metric(self.metrics):
            b, c = self.discordant
            out["accuracy_mcnemar"] = {"baseline_only": b, "candidate_only": c, "p_value": mcnemar_p(b, c)}
        scale = REGISTRY["kl_divergence"].divisor(base)
        kl = {"mean": self.kl.mean / scale, "std_error": mean_std_error(self.kl) / scale}
        distributions: dict[str, Any] = {
            "kl_divergence": {**kl, **self.kl_sketch.summary(1 / scale)},
            "top1_agreement": {"mean": self.top1.mean, "std_error": mean_std_error(self.top1)},
        }
        if self.delta_p.n:
            dp = self.delta_p
            rms = math.sqrt(max(dp.m2, 0.0) / dp.n + dp.mean**2)
            distributions["delta_p"] = {
                "mean": dp.mean,
                "std_error": mean_std_error(dp),
                "rms": rms,
                **self.delta_p_sketch.summary(),
            }
        out["distributions"] = distributions
        return out


def _object(data: Mapping[str, Any], key: str, keys: tuple[str, ...], what: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict) or set(value) != set(keys):
        raise InfoCliError(f"{what}.{key} must hold exactly {', '.join(keys)}")
    return value


def mean_std_error(m: Moments) -> float:
    """The standard error of a mean; 0 for values that are all equal (two identical models)."""
    if m.n >= 2 and m.m2 == 0 and math.isfinite(m.total):
        return 0.0
    return m.std_error


def _correlation(m: PairedMoments) -> float:
    """Pearson's correlation of the two models' per-row values, from the spreads of each
    and of their difference: cov = (Sxx + Syy − Sdd) / 2."""
    sxx, syy, sdd = m.baseline.m2, m.candidate.m2, m.difference.m2
    if not (sxx > 0 and syy > 0) or not math.isfinite(sxx + syy + sdd):
        return math.nan
    return max(-1.0, min(1.0, (sxx + syy - sdd) / (2 * math.sqrt(sxx * syy))))


COMPARE_SETTINGS: dict[str, Check] = {
    **EVAL_SETTINGS,
    "candidate_kinds": (
        lambda x: isinstance(x, list) and bool(x) and all(EVAL_SETTINGS["kind"][0](k) for k in x),
        "a non-empty list of kinds",
    ),
    "metrics": (
        lambda x: isinstance(x, list) and all(isinstance(v, str) and v in REGISTRY for v in x),
        "a list of registered metrics",
    ),
    "confidence": (lambda x: real(0.0, strict=True)[0](x) and x < 1, "a number in (0, 1)"),
    "alpha": (lambda x: real(0.0, strict=True)[0](x) and x < 1, "a number in (0, 1)"),
}
"""The settings a compare state holds: the baseline's plan settings, the candidates'
kinds, the compared metrics and the test settings."""


@dataclass
class CompareState:
    """Every candidate's :class:`PairedState` against one baseline, with the settings and
    inputs; merges exactly (part by part, candidate by candidate).

    Attributes:
        settings: The baseline plan's settings plus ``candidate_kinds``, ``metrics``,
            ``confidence`` and ``alpha`` (:data:`COMPARE_SETTINGS`).
        inputs: Per part: the baseline, the candidates and the labels.
        pairs: One state per candidate, in argument order.
        n_ignored: Rows left out for their label.
        groups: The paired moments per group
            (:class:`infocli.metrics.paired_groups.CompareGroups`), when the rows are grouped.
    """

    settings: dict[str, Any]
    inputs: list[dict[str, Any]] = field(default_factory=list)
    pairs: list[PairedState] = field(default_factory=list)
    n_ignored: int = 0
    groups: Any = None

    command = "compare"

    @classmethod
    def empty(cls, settings: dict[str, Any], group_columns: Sequence[str] | None = None) -> CompareState:
        """A state of no rows (of no groups, grouped by ``group_columns`` when given)."""
        pairs = [PairedState.empty(settings["metrics"]) for _ in settings["candidate_kinds"]]
        state = cls(settings, pairs=pairs)
        if group_columns is not None:
            from infocli.metrics.paired_groups import CompareGroups

            state.groups = CompareGroups.empty(group_columns, settings["metrics"], len(pairs))
        return state

    @property
    def n_samples(self) -> int:
        """Rows compared."""
        return self.pairs[0].n_samples if self.pairs else 0

    @property
    def class_labels(self) -> bool:
        """Whether the targets are class labels (indices or names)."""
        return self.settings["label_form"] in ("index", "name")

    def merge(self, other: CompareState) -> None:
        """Fold in another part's state.

        Raises:
            InfoCliError: The settings differ (the first difference is named).
        """
        if other.settings is not self.settings:
            check_mergeable(self.settings, other.settings)
        if (self.groups is None) != (other.groups is None):
            grouped = self if self.groups is not None else other
            raise InfoCliError(
                f"one state is grouped by {','.join(grouped.groups.columns)} and the other is not grouped"
            )
        for mine, theirs in zip(self.pairs, other.pairs, strict=True):
            mine.merge(theirs)
        if self.groups is not None:
            self.groups.merge(other.groups)
        self.n_ignored += other.n_ignored
        self.inputs.extend(other.inputs)

    def compute(self, base: str = "e") -> list[dict[str, Any]]:
        """Each candidate's comparison, with Holm's correction over the whole report.

        The family holds one p-value per compared metric and candidate: McNemar's exact p
        for accuracy, the normal approximation's for the others; with class labels the
        KL divergence equals the cross-entropy row by row, so it enters once, as
        ``cross_entropy`` (its row repeats that test's outcome).

        Args:
            base: The log base of information values.

        Returns:
            One comparison per candidate; each metric gains ``family_p_value``,
            ``adjusted_p_value``, ``significant`` and ``verdict`` (better / worse /
            no significant difference).
        """
        confidence, alpha = self.settings["confidence"], self.settings["alpha"]
        comparisons = [pair.compute(base, confidence) for pair in self.pairs]
        holm_family(comparisons, class_labels=self.class_labels, alpha=alpha)
        return comparisons

    def to_dict(self) -> dict[str, Any]:
        """The state as JSON-ready data; every float reads back bit for bit."""
        return {
            **header(self),
            "n_samples": self.n_samples,
            "n_ignored": self.n_ignored,
            "candidates": [pair.to_dict() for pair in self.pairs],
            **({} if self.groups is None else {"groups": self.groups.to_dict()}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompareState:
        """Rebuild a state from :meth:`to_dict`, refusing impossible contents.

        Raises:
            InfoCliError: A missing field, or counts that do not add up.
        """
        settings = check_settings_shape(data, COMPARE_SETTINGS)
        kinds = settings["candidate_kinds"]
        inputs = _check_compare_inputs(data.get("inputs"), len(kinds))
        raw = data.get("candidates")
        if not isinstance(raw, list) or len(raw) != len(kinds):
            raise InfoCliError(f"candidates must list {len(kinds)} paired states, one per candidate")
        class_labels = settings["label_form"] in ("index", "name")
        pairs = [
            PairedState.from_dict(p, f"candidates[{i}]", settings["metrics"], class_labels=class_labels)
            for i, p in enumerate(raw)
        ]
        state = cls(settings, inputs, pairs, count(data.get("n_ignored"), "n_ignored"))
        ns = {pair.n_samples for pair in pairs}
        if len(ns) > 1 or count(data.get("n_samples"), "n_samples") != state.n_samples:
            raise InfoCliError(
                f"n_samples is {data.get('n_samples')!r}; the candidates hold {sorted(ns)} rows"
            )
        if "groups" in data:
            from infocli.metrics.paired_groups import CompareGroups

            state.groups = CompareGroups.from_dict(data["groups"], settings["metrics"], pairs)
        return state


def holm_family(comparisons: Sequence[dict[str, Any]], *, class_labels: bool, alpha: float) -> None:
    """Holm's correction over one family of comparisons (:meth:`PairedState.compute`'s),
    in place.

    The family holds one p-value per compared metric and comparison: McNemar's exact p
    for the hits metric, the normal approximation's for the others; with class labels
    the KL divergence equals the cross-entropy row by row, so it enters once, as
    ``cross_entropy``. Each metric gains ``family_p_value``, ``adjusted_p_value``,
    ``significant`` and ``verdict``.

    Args:
        comparisons: The family's comparisons.
        class_labels: Whether the targets are class labels.
        alpha: The significance level.
    """
    family: list[tuple[dict[str, Any], float]] = []
    for comparison in comparisons:
        for name, row in comparison["metrics"].items():
            if name == "kl_divergence" and class_labels and "cross_entropy" in comparison["metrics"]:
                continue
            p = comparison["accuracy_mcnemar"]["p_value"] if name in HITS else row["p_value"]
            family.append((row, p))
    for (row, p), adjusted in zip(family, holm([p for _, p in family]), strict=True):
        row["family_p_value"], row["adjusted_p_value"] = p, adjusted
    for comparison in comparisons:
        rows = comparison["metrics"]
        for name, row in rows.items():
            if "adjusted_p_value" not in row:  # the KL divergence of class labels
                row["family_p_value"] = rows["cross_entropy"]["family_p_value"]
                row["adjusted_p_value"] = rows["cross_entropy"]["adjusted_p_value"]
                row["tested_as"] = "cross_entropy"
            row["significant"] = bool(row["adjusted_p_value"] <= alpha)
            row["verdict"] = verdict(name, row["delta"], row["significant"])


def _check_compare_inputs(value: Any, n_candidates: int) -> list[dict[str, Any]]:
    """A compare state's inputs: per part, the baseline, the list of candidates and the labels.

    Raises:
        InfoCliError: Not a list of such parts, or parts of another number of candidates.
    """
    if not isinstance(value, list) or not value:
        raise InfoCliError("inputs must be a non-empty list of input descriptions")
    for part in value:
        candidates = part.get("candidates") if isinstance(part, dict) else None
        if (
            not isinstance(candidates, list)
            or len(candidates) != n_candidates
            or set(part)
            != {
                "baseline",
                "candidates",
                "labels",
            }
        ):
            raise InfoCliError(
                f"inputs holds {part!r}; expected baseline, {n_candidates} candidates and labels"
            )
        check_inputs([{"predictions": part["baseline"], "labels": part["labels"]}], ("predictions", "labels"))
        check_inputs([{"predictions": c} for c in candidates], ("predictions",))
    return value


def verdict(name: str, delta: float, significant: bool) -> str:
    """better, worse, or no significant difference (``different`` for a metric without a
    direction, such as the entropy)."""
    if not significant:
        return "no significant difference"
    higher = REGISTRY[name].higher_is_better
    if higher is None:
        return "different"
    return "better" if (delta > 0) == higher else "worse"


def worse_bound(row: Mapping[str, Any], name: str, alpha: float) -> float:
    """The one-sided (1 − alpha) confidence bound on how much worse the candidate is:
    Δ + z SE for a metric where lower is better, −Δ + z SE where higher is.

    Args:
        row: A metric's comparison (:meth:`PairedState.compute`).
        name: The metric.
        alpha: One minus the bound's coverage.

    Returns:
        The bound, in the metric's units (positive: possibly worse by that much).
    """
    worse = row["delta"] if REGISTRY[name].higher_is_better is False else -row["delta"]
    return worse + z_quantile(1 - alpha) * row["std_error"]
