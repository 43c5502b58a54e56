"""``compare`` on datasets: the baseline's shards, each with its candidates' and labels'.

Every candidate dataset, and a labels dataset, is paired with the baseline's by relative
path with the extension aside (:func:`~infocli.readers.dataset.shards`), one to one with
equal row counts; a single labels file is aligned with the baseline's rows in shard
order. Each shard is compared by :func:`~infocli.compare.compare_tables` with the kinds
and columns the first shard settled, and the shards' states are merged in shard order
(:func:`~infocli.datasets.fold_states`): the comparison of one file of the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from infocli.compare import Comparison, check_test_settings, compare_tables
from infocli.datasets import (
    Schema,
    _Cursor,
    _offset,
    _open_labels,
    display_spec,
    fold_states,
    open_part,
    shard_labels,
)
from infocli.errors import InfoCliError, param
from infocli.evaluate import ProgressCallback
from infocli.gates import Gate
from infocli.metrics.paired import CompareState
from infocli.plan import Decided, EvalOptions
from infocli.readers.dataset import Shard, is_dataset, labels_shared, shards

__all__ = ["PairedShard", "compare_dataset", "compare_shard", "paired_shards"]


@dataclass(frozen=True)
class PairedShard:
    """One shard of the baseline with its candidates' shards and its labels.

    Attributes:
        baseline: The baseline's shard, with its labels (a labels shard, a single labels
            file from ``label_offset``, or None).
        candidates: Each candidate's shard paired with it.
    """

    baseline: Shard
    candidates: tuple[str, ...]


@dataclass(frozen=True)
class Settled:
    """What the first shard settled, which every later shard is read with."""

    decided: tuple[Decided, ...] | None  # each file's kinds (from the first shard with rows)
    schemas: tuple[Schema, ...]  # each dataset's first shard's columns


def paired_shards(
    baseline: str, candidates: Sequence[str], labels: str | None, notes: list[str]
) -> list[PairedShard]:
    """The baseline's shards in natural order, each paired with every candidate's and the labels'.

    Raises:
        InfoCliError: A candidate given as one file, an unpaired shard, or unequal row
            counts (the first such shard and both counts named).
    """
    found = shards(baseline, labels, notes=notes, role="BASELINE")
    per_candidate = []
    for candidate in candidates:
        if not is_dataset(candidate):
            raise InfoCliError(
                f"CANDIDATE is one file but BASELINE is a dataset of {len(found)} shard(s)",
                path=candidate,
                hint="Give every candidate as a dataset of the baseline's layout (shards paired by relative path)",
            )
        paired = shards(baseline, candidate, notes=notes, role="BASELINE", label_role="CANDIDATE")
        per_candidate.append([s.labels for s in paired])
    return [PairedShard(shard, tuple(str(c[i]) for c in per_candidate)) for i, shard in enumerate(found)]


def compare_shard(
    shard: PairedShard,
    options: EvalOptions,
    settled: Settled | None,
    *,
    confidence: float,
    alpha: float,
    gates: Sequence[Gate] = (),
    fail_if_worse: Sequence[str] = (),
    cursor: _Cursor | None = None,
    shared_labels: bool = False,
    on_progress: ProgressCallback | None = None,
) -> tuple[Comparison, Settled]:
    """One shard's comparison, read with what the first shard settled.

    Args:
        shard: The baseline's shard, its candidates' and its labels.
        options: The settings.
        settled: What the first shard settled; None for the first shard.
        confidence: As for :func:`~infocli.compare.compare`.
        alpha: As for :func:`~infocli.compare.compare`.
        gates: ``--fail-if`` gates, checked before the first shard is read.
        fail_if_worse: ``--fail-if-worse`` metrics, likewise.
        cursor: The pass over a single labels file that consecutive shards share.
        shared_labels: As for :func:`~infocli.datasets.evaluate_shard`.
        on_progress: Called with the shard's rows done.

    Returns:
        The comparison (a state that may hold no rows) and what later shards are read with.
    """
    schemas: Sequence[Schema | None] = settled.schemas if settled else [None] * (1 + len(shard.candidates))
    base = shard.baseline
    with ExitStack() as stack:
        tables = [
            stack.enter_context(open_part(uri, base.relative, schema, npz_key=options.npz_key))
            for uri, schema in zip([base.preds, *shard.candidates], schemas, strict=True)
        ]
        labels = shard_labels(stack, base, options, cursor, shared_labels)
        comparison = compare_tables(
            tables[0], tables[1:], labels, options, confidence=confidence, alpha=alpha, gates=gates,
            fail_if_worse=fail_if_worse, on_progress=on_progress,
            decided=settled.decided if settled else None, part=True,
        )  # fmt: skip
        decided = settled.decided if settled else None
        if decided is None and comparison.state.n_samples:
            decided = tuple(comparison.decided or ())
        own = tuple(s or Schema(t.path, tuple(t.columns)) for s, t in zip(schemas, tables, strict=True))
    return comparison, Settled(decided, own)


def compare_dataset(
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
) -> Comparison:
    """Compare datasets of predictions (with labels), shard after shard, as one comparison.

    Args:
        baseline: A file, directory, glob, ``@list`` file or URI.
        candidates: Each candidate's dataset, of the baseline's layout.
        labels: A dataset of the same layout, a single file, or None.
        options: The settings.
        confidence: As for :func:`~infocli.compare.compare`.
        alpha: As for :func:`~infocli.compare.compare`.
        gates: As for :func:`~infocli.compare.compare`.
        fail_if_worse: As for :func:`~infocli.compare.compare`.
        on_progress: Called after each chunk with (rows done, total rows if known).

    Returns:
        The comparison, equal to that of one file holding the shards' rows in order.

    Raises:
        InfoCliError: Bad datasets or bad input; the shard and its row named.
    """
    options.check()
    check_test_settings(confidence, alpha)
    if "-" in (baseline, *candidates, labels):
        raise InfoCliError("a dataset cannot be compared with an input from stdin (-)")
    notes: list[str] = []
    found = paired_shards(baseline, candidates, labels, notes)
    shared = labels_shared([p.baseline for p in found])
    warnings: list[str] = []
    with ExitStack() as stack:
        cursor = None
        if shared and found[0].baseline.labels is not None:
            cursor = _Cursor(stack.enter_context(_open_labels(found[0].baseline.labels, options)))
        states = _in_order(
            found, options, cursor, on_progress, warnings,
            confidence=confidence, alpha=alpha, gates=gates, fail_if_worse=fail_if_worse,
        )  # fmt: skip
        state, ignored = fold_states(states)
        if cursor is not None:
            cursor.check_end(display_spec(baseline))
    if state is None or not state.n_samples:
        if ignored or (state is not None and state.n_ignored):
            raise InfoCliError(
                f"every row's label is {param('ignore_index')} {options.ignore_index}; nothing to compare",
                path=display_spec(labels or baseline),
            )
        raise InfoCliError(
            "no rows in any shard; expected at least one row of predictions", path=display_spec(baseline)
        )
    state.inputs = [_description(state.inputs[0], baseline, candidates, labels)]
    return Comparison(state, list(dict.fromkeys([*notes, *warnings])))


def _in_order(
    found: Sequence[PairedShard],
    options: EvalOptions,
    cursor: _Cursor | None,
    on_progress: ProgressCallback | None,
    warnings: list[str],
    **settings: Any,
) -> Iterator[CompareState]:
    """Each shard's state, in shard order, every shard read with what the first settled
    (the gates checked at the first); their warnings added to ``warnings``."""
    known = [p.baseline.rows for p in found]
    total = sum(r for r in known if r is not None) if None not in known else None
    settled: Settled | None = None
    done = 0
    for index, shard in enumerate(found):
        if index:
            settings = {**settings, "gates": (), "fail_if_worse": ()}
        comparison, settled = compare_shard(
            shard, options, settled, cursor=cursor, on_progress=_offset(on_progress, done, total), **settings
        )
        warnings.extend(comparison.warnings)
        part = comparison.state
        done += part.n_samples + part.n_ignored
        yield part


def _description(
    inputs: dict[str, Any], baseline: str, candidates: Sequence[str], labels: str | None
) -> dict[str, Any]:
    """What the report says of the inputs: the first shard's, named by the datasets."""
    described = {
        "baseline": {**inputs["baseline"], "path": display_spec(baseline)},
        "candidates": [
            {**c, "path": display_spec(path)}
            for c, path in zip(inputs["candidates"], candidates, strict=True)
        ],
        "labels": inputs["labels"],
    }
    if described["labels"] is not None and labels is not None:
        described["labels"] = {**described["labels"], "path": display_spec(labels)}
    return described
