"""``infocli compare``: a baseline against one or more candidates on the same rows.

The same pipeline as ``eval`` (:mod:`infocli.evaluate`): each prediction file gets its
own layout and plan (kinds detected from its first chunk), the baseline, the candidates
and the labels are read in one pass, in step (:func:`infocli.readers.aligned_many`), and
each aligned chunk is scored on the thread pool into a :class:`CompareState` of its own,
merged in file order. Memory is bounded by the chunk size whatever the number of rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from infocli.errors import InfoCliError, param, shown
from infocli.evaluate import ProgressCallback, _Run, _Work, _workers, aligned_chunks, chunking
from infocli.gates import Gate, check_available
from infocli.grouping import GroupSources, check_group_rows, group_sources
from infocli.ignored import eval_ignored
from infocli.metrics.inputs import Distributions
from infocli.metrics.paired import CompareState, PairedState, compared_metrics, worse_bound
from infocli.metrics.paired_groups import CompareAccumulator, group_gate_names
from infocli.metrics.registry import REGISTRY
from infocli.metrics.scores import kl_rows, score_rows
from infocli.metrics.sketch import QUANTILES
from infocli.metrics.state import Renormalised
from infocli.plan import Decided, EvalOptions, Layout, layout_of, signature
from infocli.readers import Batch, Table, in_order, open_table, row_count_error
from infocli.readers.dataset import is_dataset

__all__ = ["Comparison", "compare", "compare_tables"]


@dataclass
class Comparison:
    """A comparison's state and the warnings of its run (or of a merge of saved states)."""

    state: CompareState
    warnings: list[str] = field(default_factory=list)
    decided: list[Decided] | None = None  # each file's kinds, the baseline's first (of a run)

    @property
    def candidates(self) -> list[str]:
        """Each candidate's label in the report: its path (numbered where two are the same)."""
        paths = [c["path"] for c in self.state.inputs[0]["candidates"]]
        return [p if paths.count(p) == 1 else f"{p} [{i}]" for i, p in enumerate(paths, 1)]

    def signature(self, base: str) -> str:
        """Every setting that changes a number, the test settings among them."""
        return signature(self.state.settings, base)


def check_test_settings(confidence: float, alpha: float) -> None:
    """Refuse a confidence or an alpha outside (0, 1).

    Raises:
        InfoCliError: Naming the parameter.
    """
    for name, value in (("confidence", confidence), ("alpha", alpha)):
        if not 0 < value < 1:
            raise InfoCliError(f"{param(name)} must be between 0 and 1 (exclusive), got {value:g}")


def compare(
    baseline: str,
    candidates: Sequence[str],
    labels: str | None,
    options: EvalOptions,
    *,
    confidence: float = 0.95,
    alpha: float = 0.05,
    gates: Sequence[Gate] = (),
    fail_if_worse: Sequence[str] = (),
    on_progress: ProgressCallback | None = None,
    groups: str | None = None,
) -> Comparison:
    """Compare candidates' predictions with a baseline's, row by row.

    Args:
        baseline: The baseline's predictions (``-`` for stdin).
        candidates: Each candidate's predictions.
        labels: Labels or target distributions, or None (the baseline's label column, if
            it has one; else only what needs no labels is compared).
        options: The settings, as for ``eval``.
        confidence: The two-sided intervals' coverage.
        alpha: The significance level of Holm's correction.
        gates: ``--fail-if`` gates, checked against the names this comparison can report
            before any row is read.
        fail_if_worse: Metrics of ``--fail-if-worse``, checked likewise.
        on_progress: Called after each chunk with (rows done, total rows if known).
        groups: A file of group columns, row-aligned with the baseline's rows, or None;
            beside datasets, a dataset paired with the baseline's or a single file aligned
            with its rows.

    Returns:
        The comparison.

    Raises:
        InfoCliError: Bad options or bad input (the file named).
    """
    options.check()
    check_test_settings(confidence, alpha)
    paths = [baseline, *candidates, *([labels] if labels is not None else [])]
    if any(is_dataset(p) for p in [*paths, *([groups] if groups is not None else [])]):
        from infocli.compare_datasets import compare_dataset

        return compare_dataset(
            baseline, candidates, labels, options, confidence=confidence, alpha=alpha, gates=gates,
            fail_if_worse=fail_if_worse, on_progress=on_progress, groups=groups,
        )  # fmt: skip
    if [*paths, groups].count("-") > 1:
        raise InfoCliError("only one of the inputs can be read from stdin (-)")
    with ExitStack() as stack:
        tables = [stack.enter_context(open_table(p, stdin_format=options.input_format)) for p in paths]
        label_table = tables[-1] if labels is not None else None
        group_table = None
        if groups is not None:
            group_table = stack.enter_context(open_table(groups, stdin_format=options.input_format))
        return compare_tables(
            tables[0],
            tables[1 : 1 + len(candidates)],
            label_table,
            options,
            confidence=confidence,
            alpha=alpha,
            gates=gates,
            fail_if_worse=fail_if_worse,
            on_progress=on_progress,
            groups=group_table,
        )


def _candidate_layout(base: Layout, table: Table, options: EvalOptions) -> Layout:
    """A candidate's layout: its own prediction columns, put in the baseline's class order
    (matched by name), and the baseline's labels.

    Raises:
        InfoCliError: The classes differ (the first difference named).
    """
    layout = layout_of(table, base.label_source, options)
    if base.label_source is None:
        layout.label_source, layout.label_form, layout.label_vector, layout.target_cols = None, None, None, []
    if layout.binary != base.binary or (
        layout.n_classes is not None and base.n_classes is not None and layout.n_classes != base.n_classes
    ):

        def shape(of: Layout) -> str:
            return "one binary score" if of.binary else f"{of.n_classes} classes"

        raise InfoCliError(
            f"the predictions have {shape(layout)} but the baseline has {shape(base)}",
            path=table.path,
            hint="Compare predictions of the same classes",
        )
    if base.class_names and layout.class_names:
        missing = [c for c in base.class_names if c not in set(layout.class_names)]
        extra = [c for c in layout.class_names if c not in set(base.class_names)]
        if missing or extra:
            what = (
                f"has no column for the baseline's class {shown(missing[0])!r}"
                if missing
                else f"has class {shown(extra[0])!r}, which the baseline has not"
            )
            raise InfoCliError(
                what, path=table.path, hint="Class names must agree as a set; their order may differ"
            )
        layout.pred_cols = list(base.class_names)  # read in the baseline's order
        layout.class_names = list(base.class_names)
        layout.column_names = list(base.class_names)
    elif bool(base.class_names) != bool(layout.class_names):
        unnamed = "the baseline's" if layout.class_names else "its"
        layout.warnings.append(
            f"{table.path}: classes matched to the baseline's by position, as {unnamed} columns have no names"
        )
    return layout


def compare_tables(
    baseline: Table,
    candidates: Sequence[Table],
    labels: Table | None,
    options: EvalOptions,
    *,
    confidence: float = 0.95,
    alpha: float = 0.05,
    gates: Sequence[Gate] = (),
    fail_if_worse: Sequence[str] = (),
    on_progress: ProgressCallback | None = None,
    decided: Sequence[Decided] | None = None,
    part: bool = False,
    groups: Table | None = None,
) -> Comparison:
    """The comparison pipeline, for open tables: plans -> aligned chunks -> states -> merge.

    Args:
        baseline: The baseline's predictions.
        candidates: The candidates' predictions.
        labels: The labels or target distributions, or None.
        options: The settings.
        confidence: As for :func:`compare`.
        alpha: As for :func:`compare`.
        gates: As for :func:`compare`.
        fail_if_worse: As for :func:`compare`.
        on_progress: As for :func:`compare`.
        decided: The kinds an earlier shard of the same datasets settled, the baseline's
            first (see :class:`~infocli.plan.Decided`).
        part: The tables are a shard of datasets: its state is returned whatever rows it
            holds, for the datasets to judge the whole.
        groups: The group columns' own file (row-aligned with the baseline), or None.

    Returns:
        The comparison.

    Raises:
        InfoCliError: Bad options or bad input.
    """
    base_layout = layout_of(baseline, labels, options)
    sources = group_sources(options, base_layout, baseline, labels, groups)
    layouts = [_candidate_layout(base_layout, table, options) for table in candidates]
    label_source = base_layout.label_source
    class_labels = base_layout.label_form in ("index", "name")
    targets = None if label_source is None else "classes" if class_labels else "distributions"
    metrics = [m.name for m in compared_metrics(targets)]
    why = "it needs labels" if label_source is None else "it needs class labels"
    names = gate_names(metrics, class_labels=class_labels)
    check_available(gates, [*names, *(group_gate_names(metrics) if sources else [])], why)
    check_worse_metrics(fail_if_worse, metrics)
    separate = label_source is not None and label_source is not baseline
    tables = [baseline, *candidates, *([label_source] if separate else [])]
    known = [t for t in tables if t.n_rows is not None]
    for table in known[1:]:
        if table.n_rows != known[0].n_rows:
            short, long = sorted((known[0], table), key=lambda t: t.n_rows or 0)
            raise row_count_error(short, short.n_rows or 0, long, long.n_rows or 0)
    check_group_rows(baseline, groups)
    rows, read_rows = chunking(baseline, base_layout.n_classes, options.chunk_rows)
    kinds = list(decided) if decided is not None else [None] * (1 + len(candidates))
    roles = {
        "predictions": baseline.path,
        "labels": labels.path if labels else "",
        "groups": groups.path if groups else "",
    }
    runs = [
        _Run(table, layout, options, kind, *((sources, roles) if i == 0 else ()))
        for i, (table, layout, kind) in enumerate(
            zip([baseline, *candidates], [base_layout, *layouts], kinds, strict=True)
        )
    ]
    predictions = [(run.preds, run.layout.pred_cols) for run in runs]
    chunks = aligned_chunks(base_layout, predictions, rows, read_rows, groups, sources)
    scoring = _Scoring(runs, confidence, alpha, metrics, sources, groups is not None)
    works = scoring.planned(scoring.prepare(batches) for batches in chunks)
    workers = _workers(baseline, soft_targets=base_layout.label_form == "dist", models=len(runs))
    state: CompareState | None = None
    index = runs[0].index  # the groups' codes, given as the baseline's rows are read
    groups = None if index is None else CompareAccumulator(index, metrics, len(runs) - 1)
    for scored in in_order(scoring.compute, works, workers, "infocli-compare"):
        scoring.note(scored)
        if state is None:
            state = scored.state
        else:
            state.merge(scored.state)
        if groups is not None and scored.codes is not None and scored.scores is not None:
            groups.add(scored.codes, *scored.scores)
        if on_progress:
            on_progress(state.n_samples + state.n_ignored, baseline.n_rows)
    if state is None:
        state = CompareState.empty(scoring.settings(), sources.columns if sources else None)
    if groups is not None:
        state.groups = groups.state()
    state.inputs = [scoring.description()]
    if state.n_samples == 0 and not part:
        if state.n_ignored:
            raise InfoCliError(
                f"every row's label is {param('ignore_index')} {options.ignore_index}; nothing to compare",
                path=label_source.path if label_source else None,
            )
        raise InfoCliError("no rows; expected at least one row of predictions", path=baseline.path)
    plan = runs[0].plan
    assert plan is not None
    paths = [t.path for t in tables]
    ignored = eval_ignored(
        options, label_kind=base_layout.label_form, pred_kind=plan.kind, target_kind=plan.target_kind,
        binary=base_layout.binary, stdin="-" in paths,
    )  # fmt: skip
    warnings = [*base_layout.warnings, *(w for layout in layouts for w in layout.warnings), *ignored]
    kinds_settled = [run.plan.decided() for run in runs if run.plan is not None]
    return Comparison(state, list(dict.fromkeys([*warnings, *scoring.warnings()])), kinds_settled)


@dataclass(frozen=True)
class _Scored:
    """A chunk's state, with what the warnings count; when the rows are grouped, their
    group codes and the models' row scores."""

    state: CompareState
    renormalised: list[Renormalised]
    n_clipped: list[int]
    codes: np.ndarray | None = None
    scores: tuple[Any, list[Any]] | None = None


class _Scoring:
    """One comparison while its chunks stream through: a run (plan, scorer) per file."""

    def __init__(
        self,
        runs: list[_Run],
        confidence: float,
        alpha: float,
        metrics: list[str],
        sources: GroupSources | None = None,
        groups_file: bool = False,
    ) -> None:
        self.runs = runs
        self.sources, self.groups_file = (
            sources,
            groups_file,
        )  # the group columns, and whether a file holds some
        self.test_settings = {"confidence": float(confidence), "alpha": float(alpha)}
        self.metrics = metrics
        self.renormalised: dict[str, Renormalised] = {}
        self.n_clipped = [0] * len(runs)
        self._settings: dict[str, Any] | None = None

    def prepare(self, batches: tuple[Batch, ...]) -> list[_Work]:
        """Each file's work of an aligned chunk; the labels are taken once, by the baseline."""
        base_run = self.runs[0]
        group_batch = batches[-1] if self.groups_file else None
        label_batch = batches[len(self.runs)] if len(batches) > len(self.runs) + self.groups_file else None
        base = base_run.prepare(batches[0], label_batch, group_batch)
        works = [base]
        for run, batch in zip(self.runs[1:], batches[1 : len(self.runs)], strict=True):
            if run.layout.n_classes is None:
                run.layout.n_classes = batch.width
            if batch.width is not None and batch.n_rows and batch.width != base_run.layout.n_classes:
                error = InfoCliError(
                    f"the predictions have {batch.width} classes but the baseline has "
                    f"{base_run.layout.n_classes}",
                    path=run.preds.path,
                )
                works.append(_Work(batch, base.label_first_row, None, None, error=error))
                continue
            if not base.rows.n_rows:
                batch = batch.slice(0, 0)
            works.append(_Work(batch, base.label_first_row, base.targets, base.kept, base.n_ignored))
        return works

    def planned(self, chunks: Iterator[list[_Work]]) -> Iterator[list[_Work]]:
        """The chunks in order, every file's plan made from the first chunk with rows."""
        waiting: list[list[_Work]] = []
        planned = False
        for works in chunks:
            if not planned:
                if any(w.error is not None for w in works) or not works[0].rows.n_rows:
                    waiting.append(works)
                    continue
                soft = works[0].targets.matrix if isinstance(works[0].targets, Batch) else None
                for run, work in zip(self.runs, works, strict=True):
                    run.make_plan(work.values(), soft)
                planned = True
                yield from waiting
                waiting = []
            yield works
        if not planned:
            for run in self.runs:
                run.make_plan(None, None)
        yield from waiting

    def settings(self) -> dict[str, Any]:
        """The state's settings: the baseline plan's, the candidates' kinds, the compared
        metrics and the test settings (made once, shared by every chunk's state)."""
        if self._settings is None:
            plans = [run.plan for run in self.runs]
            assert all(plan is not None for plan in plans)
            self._settings = {
                **plans[0].settings(),  # type: ignore[union-attr]
                "candidate_kinds": [plan.kind for plan in plans[1:]],  # type: ignore[union-attr]
                "metrics": list(self.metrics),
                **self.test_settings,
            }
        return self._settings

    def description(self) -> dict[str, Any]:
        """What the report says about the inputs."""
        plans = [run.plan for run in self.runs]
        base = plans[0].description()  # type: ignore[union-attr]
        return {
            "baseline": base["predictions"],
            "candidates": [plan.description()["predictions"] for plan in plans[1:]],  # type: ignore[union-attr]
            "labels": base["labels"],
        }

    def compute(self, works: list[_Work]) -> _Scored:
        """Validate and score an aligned chunk of every file (thread-safe)."""
        base_run = self.runs[0]
        for work in works:
            if work.error is not None:
                raise work.error
        if not works[0].rows.n_rows:  # every row of the chunk ignored: only the count
            state = CompareState.empty(self.settings())
            state.n_ignored = works[0].n_ignored
            return _Scored(state, [], [0] * len(self.runs))
        base_pred, note = base_run.predictions(works[0])
        target, target_note = base_run.targets(works[0])
        notes = [note] if target_note is None else [note, target_note]
        eps = base_run.options.eps
        base_scores = score_rows(base_pred, target, eps=eps)
        clipped = [base_scores.n_clipped]
        state = CompareState(self.settings(), n_ignored=works[0].n_ignored)
        p_label = _at_label(base_pred, target)
        candidate_scores = []
        for run, work in zip(self.runs[1:], works[1:], strict=True):
            pred, note = run.predictions(work)
            notes.append(note)
            scores = score_rows(pred, target, eps=eps)
            candidate_scores.append(scores)
            clipped.append(scores.n_clipped)
            pair = PairedState.empty(self.metrics)
            delta_p = None if p_label is None else _at_label(pred, target) - p_label
            kl, _ = kl_rows(pred, base_pred, eps=eps)
            pair.update(base_scores, scores, kl, pred.predicts(base_pred.argmax), delta_p)
            state.pairs.append(pair)
        if works[0].groups is not None:
            return _Scored(state, notes, clipped, works[0].groups, (base_scores, candidate_scores))
        return _Scored(state, notes, clipped)

    def note(self, scored: _Scored) -> None:
        """Count a chunk's renormalised rows and floored terms, for the warnings."""
        for note in scored.renormalised:
            if note.count:
                old = self.renormalised.get(note.path)
                self.renormalised[note.path] = note if old is None else old.merged(note)
        self.n_clipped = [a + b for a, b in zip(self.n_clipped, scored.n_clipped, strict=True)]

    def warnings(self) -> list[str]:
        """Rows renormalised within the tolerance, and cross-entropy terms floored at eps."""
        options = self.runs[0].options
        lines = [
            f"{note.path}: {note.count:,} rows summed to 1 only within {param('tol')} {options.tol!r} and "
            f"were renormalised (first: row {note.first_row}, sum {note.first_sum:.9g})"
            for note in self.renormalised.values()
        ]
        for run, n in zip(self.runs, self.n_clipped, strict=True):
            if n:
                lines.append(
                    f"{run.preds.path}: {n:,} cross-entropy terms had a probability below "
                    f"{param('eps')} {options.eps!r} and were floored at it"
                )
        return lines


def _at_label(pred: Distributions, target: np.ndarray | Distributions | None) -> np.ndarray | None:
    """Each row's probability of its class label (None unless the targets are labels)."""
    if not isinstance(target, np.ndarray):
        return None
    log_weights, _ = pred.log_weights_at(target)
    return np.exp(log_weights - pred.log_sums)


_SUMMARY = ("mean", "min", *QUANTILES, "max")
"""The statistics of a distribution-block row that gates can name."""


def gate_names(metrics: Sequence[str], *, class_labels: bool) -> list[str]:
    """Every name ``--fail-if`` can take in a comparison of these metrics.

    ``delta.METRIC`` (candidate − baseline), ``perplexity.ratio``, ``top1_agreement`` and
    ``kl_divergence.STAT`` / ``delta_p.STAT`` for STAT one of mean, min, p0.1 ... p99.9, max.

    Args:
        metrics: The compared metrics.
        class_labels: Whether the targets are class labels (Δp exists only then).

    Returns:
        The names.
    """
    names = [f"delta.{m}" for m in metrics]
    if "cross_entropy" in metrics:
        names.append("perplexity.ratio")
    names += ["top1_agreement", *(f"kl_divergence.{s}" for s in _SUMMARY)]
    if class_labels:
        names += [f"delta_p.{s}" for s in (*_SUMMARY, "rms")]
    return names


ALL_GATE_NAMES = list(
    dict.fromkeys(
        [
            *gate_names([m.name for m in compared_metrics("classes")], class_labels=True),
            *gate_names([m.name for m in compared_metrics("distributions")], class_labels=False),
        ]
    )
)
"""Every gate name a comparison can have, with class labels or target distributions."""


def compare_gate_names(grouped: bool) -> list[str]:
    """Every gate name a comparison can have; with groups, also ``groups.delta.METRIC`` and
    ``groups.perplexity.ratio``."""
    if not grouped:
        return ALL_GATE_NAMES
    metrics = dict.fromkeys(m.name for t in ("classes", "distributions") for m in compared_metrics(t))
    return [*ALL_GATE_NAMES, *group_gate_names(list(metrics))]


def gate_values(
    candidates: Sequence[str], comparisons: Sequence[dict[str, Any]]
) -> dict[str, dict[str, float]]:
    """The value of each gate name for each candidate (see :func:`gate_names`).

    Args:
        candidates: The candidates' labels.
        comparisons: Their comparisons (:meth:`CompareState.compute`).

    Returns:
        Gate name -> candidate -> value.
    """
    values: dict[str, dict[str, float]] = {}

    def put(name: str, candidate: str, value: float) -> None:
        values.setdefault(name, {})[candidate] = value

    for candidate, c in zip(candidates, comparisons, strict=True):
        for metric, row in c["metrics"].items():
            put(f"delta.{metric}", candidate, row["delta"])
        if "perplexity" in c:
            put("perplexity.ratio", candidate, c["perplexity"]["ratio"])
        blocks = c["distributions"]
        put("top1_agreement", candidate, blocks["top1_agreement"]["mean"])
        for block in ("kl_divergence", "delta_p"):
            for stat, value in blocks.get(block, {}).items():
                if stat not in ("std_error", "relative_accuracy"):
                    put(f"{block}.{stat}", candidate, value)
    return values


@dataclass(frozen=True)
class Margin:
    """A non-inferiority margin: in the metric's units, or relative to the baseline's value."""

    text: str
    value: float
    relative: bool

    def of(self, baseline: float) -> float:
        """The margin in the metric's units, given the baseline's value."""
        return self.value / 100 * abs(baseline) if self.relative else self.value


def parse_margin(text: str) -> Margin:
    """``X`` (the metric's units) or ``X%`` (of the baseline's value), X >= 0.

    Raises:
        InfoCliError: Anything else.
    """
    number = text.strip().removesuffix("%")
    try:
        value = float(number)
    except ValueError:
        value = math.nan
    if not value >= 0 or math.isinf(value):
        raise InfoCliError(
            f"{param('margin')} must be a number >= 0, or a percentage such as 1%; got {text!r}"
        )
    return Margin(text.strip(), value, text.strip().endswith("%"))


def check_worse_metrics(names: Sequence[str], metrics: Sequence[str]) -> None:
    """Refuse ``--fail-if-worse`` on a metric without a direction or not compared.

    Raises:
        InfoCliError: Naming the metric and what can be used.
    """
    directed = [m for m in metrics if REGISTRY[m].higher_is_better is not None]
    for name in names:
        if name in metrics and name not in directed:
            raise InfoCliError(
                f"{param('fail_if_worse')} {name}: {name} has no direction (neither higher nor lower is "
                f"better), so no value of it is worse; use one of {', '.join(directed)}"
            )
        if name not in directed:
            extra = " (perplexity is tested as cross_entropy, the same test)" if name == "perplexity" else ""
            raise InfoCliError(
                f"{param('fail_if_worse')} {name}: not a compared metric{extra}; "
                f"use one of {', '.join(directed) or 'none: this comparison has no labels'}"
            )


def worse_outcomes(
    names: Sequence[str],
    candidates: Sequence[str],
    comparisons: Sequence[dict[str, Any]],
    *,
    alpha: float,
    margin: Margin | None,
) -> list[dict[str, Any]]:
    """The ``--fail-if-worse`` gates, each checked for every candidate.

    Without a margin a candidate fails when it is significantly worse after Holm's
    correction. With one it fails unless the one-sided (1 − alpha) bound on how much worse
    it is lies below the margin (non-inferiority; the bound is not Holm-adjusted).

    Returns:
        Per metric: ``metric``, ``rule``, ``margin``, ``failed``, ``failing`` (the
        candidates), and per candidate its ``bound`` or ``adjusted_p_value``.
    """
    outcomes = []
    for name in names:
        members = []
        for candidate, c in zip(candidates, comparisons, strict=True):
            row = c["metrics"][name]
            if margin is None:
                failed = row["verdict"] == "worse"
                members.append(
                    {"candidate": candidate, "delta": row["delta"], "adjusted_p_value": row["adjusted_p_value"],
                     "failed": failed}
                )  # fmt: skip
            else:
                bound, allowed = worse_bound(row, name, alpha), margin.of(row["baseline"])
                failed = not bound < allowed
                members.append(
                    {"candidate": candidate, "delta": row["delta"], "bound": bound, "margin": allowed,
                     "failed": failed}
                )  # fmt: skip
        rule = (
            f"significantly worse after Holm's correction at alpha {alpha:g}"
            if margin is None
            else f"not shown worse by less than {margin.text} (one-sided {1 - alpha:g} bound, not Holm-adjusted)"
        )
        outcomes.append(
            {
                "metric": name,
                "rule": rule,
                "margin": None if margin is None else margin.text,
                "candidates": members,
                "failing": [m["candidate"] for m in members if m["failed"]],
                "failed": any(m["failed"] for m in members),
            }
        )
    return outcomes
