"""Paired comparisons per group: for every group of rows sharing the values of one or more
key columns, the moments of each model's per-row values and of their differences, and
McNemar's discordant counts, mergeable exactly.

Pure NumPy, no I/O. The state holds, per candidate and compared metric, three
:class:`~infocli.metrics.groups.GroupMoments` (baseline, candidate, difference = candidate
− baseline) as arrays by group code, and the discordant counts of the hits metric per
group. A stream's rows are added to their groups in place, in the order of the rows
(:class:`CompareAccumulator`), and states merge with their groups united by key (:class:`~infocli.metrics.groups.KeyIndex`), so no loop
runs over groups while rows are read. Each group's test is the overall one on its rows
(:mod:`infocli.metrics.paired`); the report then corrects the groups' p-values by Holm
over every reported group, metric and candidate, a family of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from infocli.errors import InfoCliError
from infocli.metrics.groups import (
    GroupMoments,
    GroupResults,
    GroupSums,
    KeyIndex,
    Keys,
    _json_key,
    group_report,
    index_from_dict,
)
from infocli.metrics.paired import HITS, hits_metric, row_values
from infocli.metrics.registry import REGISTRY
from infocli.metrics.state import count
from infocli.metrics.stats import holm, mcnemar_p, normal_intervals, normal_ps

SIDES = ("baseline", "candidate", "difference")
"""The moments kept of each compared metric: each model's per-row values and their difference."""

GROUP_TESTS = (
    "per group: the overall paired test on the group's rows (delta, SE = sample standard deviation "
    "of d / sqrt(n), normal-approximation interval and two-sided p; accuracy by McNemar's exact test "
    "on the group's discordant rows); p_value is unadjusted, adjusted_p_value and significant are "
    "by Holm's correction over every reported group, metric and candidate (a family apart from the "
    "overall one)"
)
"""How the groups' numbers were computed, as the report says."""


def group_gate_names(metrics: Sequence[str]) -> list[str]:
    """The ``--fail-if`` names of a grouped comparison of these metrics: ``groups.delta.METRIC``,
    and ``groups.perplexity.ratio`` when the cross-entropy is compared."""
    names = [f"groups.delta.{m}" for m in metrics]
    return names + (["groups.perplexity.ratio"] if "cross_entropy" in metrics else [])


@dataclass
class CompareGroups:
    """Every candidate's paired moments against the baseline, per group of rows.

    Attributes:
        index: The groups' keys and codes.
        metrics: The compared metrics, in report order.
        pairs: Per candidate, per metric, the moments of each side (:data:`SIDES`) by group code.
        discordant: Per candidate, (n_groups, 2) int64: rows right only for the baseline,
            and only for the candidate (McNemar's b and c); zeros without hits.

    Example:
        >>> from infocli.metrics.inputs import to_distributions
        >>> from infocli.metrics.scores import score_rows
        >>> y = np.array([0, 0, 1])
        >>> a = score_rows(to_distributions(np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]]), "probs"), y, eps=0)
        >>> b = score_rows(to_distributions(np.array([[0.6, 0.4], [0.7, 0.3], [0.5, 0.5]]), "probs"), y, eps=0)
        >>> g = CompareGroups.of_rows(["site"], [np.array(["x", "x", "y"])], a, [b], ["accuracy"])
        >>> g.pairs[0]["accuracy"]["difference"].mean.tolist(), g.discordant[0].tolist()
        ([0.5, 0.0], [[0, 1], [0, 0]])
    """

    index: KeyIndex
    metrics: tuple[str, ...]
    pairs: list[dict[str, dict[str, GroupMoments]]]
    discordant: list[np.ndarray]

    @classmethod
    def empty(cls, columns: Sequence[str], metrics: Sequence[str], n_candidates: int) -> CompareGroups:
        """A state of no groups."""
        pairs = [
            {
                m: {s: GroupMoments.zeros(0, hits=m in HITS and s != "difference") for s in SIDES}
                for m in metrics
            }
            for _ in range(n_candidates)
        ]
        return cls(
            KeyIndex.empty(columns), tuple(metrics), pairs, [np.zeros((0, 2), np.int64)] * n_candidates
        )

    @property
    def columns(self) -> tuple[str, ...]:
        """The key columns."""
        return self.index.columns

    @property
    def n_groups(self) -> int:
        """Groups seen."""
        return self.index.n_groups

    @property
    def n_samples(self) -> np.ndarray:
        """Each group's rows."""
        if not self.pairs or not self.metrics:
            return np.zeros(self.n_groups, np.int64)
        return self.pairs[0][self.metrics[0]]["difference"].n

    @classmethod
    def of_rows(
        cls,
        columns: Sequence[str],
        keys: Sequence[Keys],
        baseline: Any,
        candidates: Sequence[Any],
        metrics: Sequence[str],
    ) -> CompareGroups:
        """The state of a chunk on its own: both models' row scores, grouped by the rows' key values.

        Args:
            columns: The key columns' names.
            keys: Per column, each scored row's key value.
            baseline: The baseline's :class:`~infocli.metrics.scores.RowScores`.
            candidates: Each candidate's, on the same rows.
            metrics: The compared metrics.

        Returns:
            The chunk's state (its groups in the order of their sorted keys).
        """
        index = KeyIndex.empty(columns)
        rows = CompareAccumulator(index, metrics, len(candidates))
        rows.add(index.row_codes(keys), baseline, candidates)
        return rows.state()

    def merge(self, other: CompareGroups) -> None:
        """Fold in another state's groups, united with these by key.

        Raises:
            InfoCliError: The key columns differ.
        """
        if other.columns != self.columns:
            raise InfoCliError(
                "the states were grouped by different columns: "
                f"{','.join(self.columns)} vs {','.join(other.columns)}"
            )
        if not other.n_groups:
            return
        codes = self.index.codes_of(other.index.keys)
        g = self.n_groups
        for mine, theirs in zip(self.pairs, other.pairs, strict=True):
            for m in self.metrics:
                for side in SIDES:
                    mine[m][side].grow(g)
                    mine[m][side].merge_at(codes, theirs[m][side])
        for i, theirs in enumerate(other.discordant):
            grown = np.zeros((g, 2), np.int64)
            grown[: len(self.discordant[i])] = self.discordant[i]
            grown[codes] += theirs
            self.discordant[i] = grown

    def results(self, base: str, confidence: float, codes: np.ndarray) -> tuple[list[_Tested], np.ndarray]:
        """The comparison of each candidate in each of some groups, before Holm's correction,
        as arrays: what :meth:`~infocli.metrics.paired.PairedState.compute` gives for each
        group's rows.

        Args:
            base: The log base of information values.
            confidence: The intervals' coverage.
            codes: The groups' codes.

        Returns:
            Per candidate, its numbers in the groups of ``codes``; and per group, whether
            every number of every candidate is finite.
        """
        out = []
        finite = np.ones(len(codes), np.bool_)
        hits = hits_metric(self.metrics)
        for pair, discordant in zip(self.pairs, self.discordant, strict=True):
            metrics = {}
            for m in self.metrics:
                b, c, d = (pair[m][s].mean[codes] for s in SIDES)
                se = pair[m]["difference"].std_error[codes]
                low, high = normal_intervals(d, se, confidence)
                for values in (b, c, d, se, low, high):  # the p-values are finite where these are
                    finite &= np.isfinite(values)
                scale = REGISTRY[m].divisor(base)  # the report's values, in base
                numbers = {
                    "baseline": b,
                    "candidate": c,
                    "delta": d,
                    "std_error": se,
                    "low": low,
                    "high": high,
                }
                metrics[m] = {k: v / scale for k, v in numbers.items()} | {"p_value": normal_ps(d, se)}
            perplexity = None
            if "cross_entropy" in self.metrics:  # in nats: exp of the means, the difference and its interval
                ce = pair["cross_entropy"]
                b, c, d = (ce[s].mean[codes] for s in SIDES)
                low, high = normal_intervals(d, ce["difference"].std_error[codes], confidence)
                with np.errstate(over="ignore"):
                    perplexity = {
                        k: np.exp(v) for k, v in zip(_PERPLEXITY, (b, c, d, low, high), strict=True)
                    }
                for values in perplexity.values():
                    finite &= np.isfinite(values)
            mcnemar = None
            if hits:
                counts = discordant[codes]
                pairs = list(zip(counts[:, 0].tolist(), counts[:, 1].tolist(), strict=True))
                tested = {bc: mcnemar_p(*bc) for bc in set(pairs)}  # few distinct (b, c)
                mcnemar = {
                    "baseline_only": counts[:, 0],
                    "candidate_only": counts[:, 1],
                    "p_value": np.array([tested[bc] for bc in pairs]),
                }
            out.append(_Tested(metrics, perplexity, mcnemar))
        return out, finite

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: the key columns, each group's key values, and per candidate
        each metric's moments and the discordant counts, one value per group."""
        return {
            "columns": list(self.columns),
            "keys": [[_json_key(v) for v in k.tolist()] for k in self.index.keys],
            "candidates": [
                {
                    "metrics": {m: {s: pair[m][s].to_dict() for s in SIDES} for m in self.metrics},
                    "discordant": {
                        "baseline_only": discordant[:, 0].tolist(),
                        "candidate_only": discordant[:, 1].tolist(),
                    },
                }
                for pair, discordant in zip(self.pairs, self.discordant, strict=True)
            ],
        }

    @classmethod
    def from_dict(cls, data: Any, metrics: Sequence[str], overall: Sequence[Any]) -> CompareGroups:
        """Rebuild from :meth:`to_dict`, refusing impossible contents.

        Args:
            data: The ``groups`` object of a compare state file.
            metrics: The compared metrics the settings list.
            overall: Each candidate's overall :class:`~infocli.metrics.paired.PairedState`:
                the groups must add up to its rows and discordant counts.

        Returns:
            The state.

        Raises:
            InfoCliError: A missing field, keys repeated or of mixed types, or counts that
                do not add up.
        """
        if not isinstance(data, dict) or set(data) != {"columns", "keys", "candidates"}:
            raise InfoCliError("groups must be an object with candidates, columns and keys")
        index = index_from_dict(data)
        state = cls.empty(index.columns, metrics, len(overall))
        state.index, n_groups = index, index.n_groups
        raw = data["candidates"]
        if not isinstance(raw, list) or len(raw) != len(overall):
            raise InfoCliError(f"groups.candidates must list {len(overall)} states, one per candidate")
        for i, (item, pair) in enumerate(zip(raw, overall, strict=True)):
            what = f"groups.candidates[{i}]"
            state.pairs[i], state.discordant[i] = _candidate_from_dict(item, what, metrics, n_groups, pair)
        n = state.n_samples
        if (n == 0).any():
            raise InfoCliError("groups lists a group without rows")
        return state


class CompareAccumulator:
    """Every candidate's paired values per group, for a stream's chunks: each model's
    values, their differences and the discordant rows, accumulated in place in the order
    of the rows (:class:`~infocli.metrics.groups.GroupSums`).

    Args:
        index: The groups' keys and codes, which the rows' codes come from.
        metrics: The compared metrics.
        n_candidates: The candidates.
    """

    def __init__(self, index: KeyIndex, metrics: Sequence[str], n_candidates: int) -> None:
        self.index, self.metrics, self.n_candidates = index, tuple(metrics), n_candidates
        self.rows = GroupSums()
        self.same: dict[str, str] = {}  # per metric, the first of the same row values

    def add(self, codes: np.ndarray, baseline: Any, candidates: Sequence[Any]) -> None:
        """Add a chunk's rows: ``codes[i]`` is row i's group; the models' row scores."""
        if not self.same and candidates:  # metrics of the same row values: once (the KL of class labels)
            first: dict[tuple[int, ...], str] = {}
            for m in self.metrics:
                key = tuple(id(row_values(scores, m)) for scores in (baseline, *candidates))
                self.same[m] = first.setdefault(key, m)
        values: dict[Any, np.ndarray] = {}
        for i, scores in enumerate(candidates):
            for m in dict.fromkeys(self.same.values()):
                b, c = row_values(baseline, m), row_values(scores, m)
                values[m, "baseline"] = b  # the same for every candidate
                values[m, i, "candidate"] = c
                if m not in HITS:  # the hits' differences follow from the discordant rows
                    values[m, i, "difference"] = c - b
            if baseline.correct is not None:  # McNemar's discordant rows, counted as hits
                values[i, "baseline_only"] = baseline.correct & ~scores.correct
                values[i, "candidate_only"] = scores.correct & ~baseline.correct
        self.rows.add(codes, values)

    def state(self) -> CompareGroups:
        """The groups' state."""
        size = self.index.n_groups
        state = CompareGroups.empty(self.index.columns, self.metrics, self.n_candidates)
        state.index = self.index
        sums = self.rows.sums
        for i in range(self.n_candidates):
            counted = np.zeros((size, 2), np.int64)
            for j, side in enumerate(("baseline_only", "candidate_only")):
                if (i, side) in sums:
                    counted[:, j] = self.rows.moments((i, side), size).total
            state.discordant[i] = counted
            if not sums:
                continue
            for m in self.metrics:
                pair, same = state.pairs[i][m], self.same[m]
                pair["baseline"] = self.rows.moments((same, "baseline"), size)
                pair["candidate"] = self.rows.moments((same, i, "candidate"), size)
                pair["difference"] = (
                    _hit_differences(self.rows.counts(size), counted)
                    if m in HITS
                    else self.rows.moments((same, i, "difference"), size)
                )
        return state


def _hit_differences(n: np.ndarray, discordant: np.ndarray) -> GroupMoments:
    """The moments of the candidate's hit minus the baseline's, per group, exactly: the
    differences are 1 on the candidate's discordant rows, -1 on the baseline's, else 0."""
    b, c = discordant[:, 0].astype(np.float64), discordant[:, 1].astype(np.float64)
    total = c - b
    with np.errstate(invalid="ignore", divide="ignore"):
        m2 = np.maximum(b + c - total * total / np.maximum(n, 1), 0.0)
    return GroupMoments(n, total, m2)


def _candidate_from_dict(
    item: Any, what: str, metrics: Sequence[str], n_groups: int, overall: Any
) -> tuple[dict[str, dict[str, GroupMoments]], np.ndarray]:
    """One candidate's group moments and discordant counts (part of :meth:`CompareGroups.from_dict`)."""
    if not isinstance(item, dict) or set(item) != {"metrics", "discordant"}:
        raise InfoCliError(f"{what} must be an object with metrics and discordant")
    raw = item["metrics"]
    if not isinstance(raw, dict) or list(raw) != list(metrics):
        raise InfoCliError(f"{what}.metrics must hold exactly {', '.join(metrics)}")
    pair: dict[str, dict[str, GroupMoments]] = {}
    rows = overall.n_samples
    for m in metrics:
        if not isinstance(raw[m], dict) or set(raw[m]) != set(SIDES):
            raise InfoCliError(f"{what}.metrics.{m} must hold baseline, candidate and difference")
        pair[m] = {s: GroupMoments.from_dict(raw[m][s], n_groups, f"{what}.metrics.{m}.{s}") for s in SIDES}
        first = pair[metrics[0]]["difference"].n
        for s in SIDES:
            moments = pair[m][s]
            moments.hits = m in HITS and s != "difference"
            if not np.array_equal(moments.n, first) or int(moments.n.sum()) != rows:
                raise InfoCliError(
                    f"{what}.metrics.{m}.{s} holds {int(moments.n.sum())} rows; the state holds {rows}"
                    + ("" if np.array_equal(moments.n, first) else ", counted otherwise per group")
                )
    discordant = item["discordant"]
    if not isinstance(discordant, dict) or set(discordant) != {"baseline_only", "candidate_only"}:
        raise InfoCliError(f"{what}.discordant must hold exactly baseline_only, candidate_only")
    counts = np.zeros((n_groups, 2), np.int64)
    for j, key in enumerate(("baseline_only", "candidate_only")):
        values = discordant[key]
        if not isinstance(values, list) or len(values) != n_groups:
            raise InfoCliError(f"{what}.discordant.{key} must be a list of {n_groups} counts, one per group")
        counts[:, j] = [count(v, f"{what}.discordant.{key}") for v in values]
    if counts.sum(axis=0).tolist() != list(overall.discordant):
        raise InfoCliError(
            f"{what}.discordant adds up to {counts.sum(axis=0).tolist()}; the state holds {list(overall.discordant)}"
        )
    hits = hits_metric(metrics)
    if hits is not None:
        sides = pair[hits]
        b, c = counts[:, 0], counts[:, 1]
        base, cand, diff = (sides[s].total for s in SIDES)
        n = sides["difference"].n
        for name, total in (("baseline", base), ("candidate", cand)):
            if ((total < 0) | (total > n) | (total != np.floor(total))).any():
                raise InfoCliError(f"{what}.metrics.{hits}.{name}.sum must be whole numbers of hits, 0 to n")
        if ((b > base) | (c > cand) | (diff != c - b)).any():
            raise InfoCliError(f"{what}.discordant does not match the hits of every group")
    return pair, counts


_PERPLEXITY = ("baseline", "candidate", "ratio", "low", "high")
"""The perplexity numbers of a group's comparison (the interval's ends last)."""


@dataclass(frozen=True)
class _Tested:
    """One candidate's comparison in each reported group, as arrays (one value a group):
    per metric ``baseline``, ``candidate``, ``delta``, ``std_error``, ``low``, ``high``,
    ``p_value`` and, once tested, ``family_p_value``, ``adjusted_p_value``,
    ``significant`` and ``verdict``; the perplexity's; McNemar's counts and p."""

    metrics: dict[str, dict[str, np.ndarray]]
    perplexity: dict[str, np.ndarray] | None
    mcnemar: dict[str, np.ndarray] | None

    def shape(self, tested_as: Mapping[str, str]) -> dict[str, Any]:
        """The comparison in the shape of the overall one, each number a column (one value a group)."""
        metrics = {}
        for m, v in self.metrics.items():
            numbers = {k: v[k] for k in ("baseline", "candidate", "delta", "std_error")}
            numbers |= {"interval": [v["low"], v["high"]], "p_value": v["p_value"]}
            numbers |= {"family_p_value": v["family_p_value"], "adjusted_p_value": v["adjusted_p_value"]}
            if m in tested_as:
                numbers["tested_as"] = tested_as[m]
            metrics[m] = numbers | {"significant": v["significant"], "verdict": v["verdict"]}
        out: dict[str, Any] = {"metrics": metrics}
        if self.perplexity is not None:
            ppl = self.perplexity
            out["perplexity"] = {
                "baseline": ppl["baseline"], "candidate": ppl["candidate"], "ratio": ppl["ratio"],
                "interval": [ppl["low"], ppl["high"]],
            }  # fmt: skip
        if self.mcnemar is not None:
            out["accuracy_mcnemar"] = dict(self.mcnemar)
        return out


def _row_of(node: Any, i: int) -> Any:
    """Group i's values in a :meth:`_Tested.shape` (Python numbers, booleans and names)."""
    if isinstance(node, dict):
        return {k: _row_of(v, i) for k, v in node.items()}
    if isinstance(node, list):
        return [_row_of(v, i) for v in node]
    if isinstance(node, np.ndarray):
        value = node[i]
        return value.item() if isinstance(value, np.generic) else value
    return node


def _holm_groups(
    tested: Sequence[_Tested], metrics: Sequence[str], *, class_labels: bool, alpha: float
) -> dict[str, str]:
    """Holm's correction over every group, metric and candidate, in place: the family of
    :func:`~infocli.metrics.paired.holm_family`, as arrays.

    Returns:
        The metrics tested as another (the KL divergence of class labels: ``cross_entropy``).
    """
    tested_as = {"kl_divergence": "cross_entropy"} if class_labels and "cross_entropy" in metrics else {}
    family = [
        (
            t.metrics[m],
            t.mcnemar["p_value"] if m in HITS and t.mcnemar is not None else t.metrics[m]["p_value"],
        )
        for t in tested
        for m in metrics
        if m not in tested_as
    ]
    adjusted = np.array(holm(np.concatenate([p for _, p in family]) if family else []))
    start = 0
    for numbers, p in family:
        numbers["family_p_value"], numbers["adjusted_p_value"] = p, adjusted[start : start + len(p)]
        start += len(p)
    for t in tested:
        for m in metrics:
            numbers = t.metrics[m]
            if m in tested_as:
                same = t.metrics[tested_as[m]]
                for key in ("family_p_value", "adjusted_p_value"):
                    numbers[key] = same[key]
            numbers["significant"] = numbers["adjusted_p_value"] <= alpha
            numbers["verdict"] = _verdicts(m, numbers["delta"], numbers["significant"])
    return tested_as


def _verdicts(name: str, delta: np.ndarray, significant: np.ndarray) -> np.ndarray:
    """:func:`~infocli.metrics.paired.verdict` of arrays."""
    out = np.full(len(delta), "no significant difference", dtype=object)
    higher = REGISTRY[name].higher_is_better
    if higher is None:
        out[significant] = "different"
    else:
        better = (delta > 0) == higher
        out[significant & better], out[significant & ~better] = "better", "worse"
    return out


@dataclass(frozen=True)
class CompareGroupReport:
    """The groups of a comparison as the report shows them; a group's row is made when asked for.

    Attributes:
        columns: The key columns.
        candidates: The candidates' labels.
        metrics: The compared metrics.
        ordered: The reported groups' order, keys and sizes (as ``eval``'s).
        tested: Per candidate, its numbers in the reported groups, in table order
            (Holm-corrected over the reported groups).
        finite: Per reported group, whether all of its numbers are finite.
        tested_as: The metrics tested as another.
        suppressed: The suppressed groups' keys and sizes, in table order.
        min_group_size: The smallest group reported.
        sort: The metric sorted by, or None for size.
    """

    columns: tuple[str, ...]
    candidates: list[str]
    metrics: list[str]
    ordered: Any
    tested: list[_Tested]
    finite: np.ndarray
    tested_as: dict[str, str]
    suppressed: list[tuple[dict[str, Any], int]]
    min_group_size: int
    sort: str | None

    @property
    def n_rows(self) -> int:
        """The reported groups."""
        return len(self.finite)

    def rows(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The first ``limit`` reported groups (all when None) in table order: each ``key``,
        ``label``, ``n_samples``, per candidate its comparison (``comparisons``), and whether
        all of their numbers are finite (``finite``)."""
        groups = self.ordered.rows(limit)
        shapes = [t.shape(self.tested_as) for t in self.tested]
        finite = self.finite.tolist()
        return [
            {"key": g.key, "label": g.label, "n_samples": g.n_samples,
             "comparisons": [_row_of(shape, i) for shape in shapes], "finite": finite[i]}
            for i, g in enumerate(groups)
        ]  # fmt: skip

    def gate_values(self) -> dict[str, dict[str, float]]:
        """``groups.delta.METRIC`` and ``groups.perplexity.ratio`` -> {"group (candidate)":
        value} over the reported groups and every candidate, for gates."""
        values: dict[str, dict[str, float]] = {name: {} for name in group_gate_names(self.metrics)}
        labels = [g.label for g in self.ordered.rows()]
        for candidate, t in zip(self.candidates, self.tested, strict=True):
            members = [f"{label} ({candidate})" for label in labels]
            for m, numbers in t.metrics.items():
                values[f"groups.delta.{m}"].update(zip(members, numbers["delta"].tolist(), strict=True))
            if t.perplexity is not None:
                values["groups.perplexity.ratio"].update(
                    zip(members, t.perplexity["ratio"].tolist(), strict=True)
                )
        return values


def compare_group_report(
    groups: CompareGroups,
    candidates: Sequence[str],
    settings: Mapping[str, Any],
    base: str,
    *,
    min_group_size: int = 1,
    sort: str | None = None,
) -> CompareGroupReport:
    """Order and suppress the groups, and test each reported group's differences.

    Groups are ordered as ``eval`` orders them (:func:`~infocli.metrics.groups.group_report`):
    by size, or with ``sort`` worst first by the registry's direction of that metric, a
    group's value being its worst candidate's delta; groups of fewer than
    ``min_group_size`` rows are suppressed.

    Args:
        groups: The state's groups.
        candidates: The candidates' labels.
        settings: The comparison's settings (``confidence``, ``alpha``, ``label_form``,
            ``class_names``).
        base: The log base of information values.
        min_group_size: The smallest group reported.
        sort: A compared metric with a direction, or None for size.

    Returns:
        The report's groups.
    """
    worst = {}
    for m in groups.metrics:
        deltas = np.stack([pair[m]["difference"].mean for pair in groups.pairs])
        higher = REGISTRY[m].higher_is_better
        with np.errstate(invalid="ignore"):
            worst[m] = deltas.min(axis=0) if higher else deltas.max(axis=0)
    results = GroupResults(groups.index, groups.n_samples, worst, {})
    ordered = group_report(
        results, {}, min_group_size=min_group_size, sort=sort, class_names=settings.get("class_names")
    )
    tested, finite = groups.results(base, settings["confidence"], ordered.order)
    class_labels = settings["label_form"] in ("index", "name")
    tested_as = _holm_groups(tested, groups.metrics, class_labels=class_labels, alpha=settings["alpha"])
    return CompareGroupReport(
        groups.columns, list(candidates), list(groups.metrics), ordered, tested, finite, tested_as,
        ordered.suppressed(), min_group_size, ordered.sort,
    )  # fmt: skip
