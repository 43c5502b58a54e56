"""``compare`` on datasets: the baseline's shards, each with its candidates' and labels'.

Every candidate dataset, and a labels or groups dataset, is paired with the baseline's
by relative path with the extension aside (:func:`~infocli.readers.dataset.shards`), one
to one with equal row counts; a single labels or groups file is aligned with the
baseline's rows in shard order. Each shard is compared by :func:`~infocli.compare.compare_tables` with the kinds
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
    check_ends,
    display_spec,
    fold_states,
    open_cursors,
    open_part,
    shard_file,
)
from infocli.engines import EngineOptions, Scored, ShardProgress, scored_in_order
from infocli.errors import InfoCliError, param
from infocli.evaluate import ProgressCallback
from infocli.gates import Gate
from infocli.metrics.paired import CompareState
from infocli.plan import Decided, EvalOptions
from infocli.readers.dataset import Shard, is_dataset, shards, shared_files

__all__ = ["CompareShards", "PairedShard", "compare_dataset", "compare_shard", "paired_shards"]


@dataclass(frozen=True)
class PairedShard(Shard):
    """One shard of the baseline (``preds``) with its labels and groups (each a shard of
    its own, a single file from its offset, or None) and each candidate's shard paired with it.

    Attributes:
        candidates: Each candidate's shard.
    """

    candidates: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settled:
    """What the first shard settled, which every later shard is read with."""

    decided: tuple[Decided, ...] | None  # each file's kinds (from the first shard with rows)
    schemas: tuple[Schema, ...]  # each dataset's first shard's columns


def paired_shards(
    baseline: str, candidates: Sequence[str], labels: str | None, notes: list[str], groups: str | None = None
) -> list[PairedShard]:
    """The baseline's shards in natural order, each paired with every candidate's and the labels'.

    Raises:
        InfoCliError: A candidate given as one file, an unpaired shard, or unequal row
            counts (the first such shard and both counts named).
    """
    found = shards(baseline, labels, groups=groups, notes=notes, role="BASELINE")
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
    return [
        PairedShard(**vars(shard), candidates=tuple(str(c[i]) for c in per_candidate))
        for i, shard in enumerate(found)
    ]


def compare_shard(
    shard: PairedShard,
    options: EvalOptions,
    settled: Settled | None,
    *,
    confidence: float,
    alpha: float,
    gates: Sequence[Gate] = (),
    fail_if_worse: Sequence[str] = (),
    cursors: dict[str, _Cursor] | None = None,
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
        cursors: The passes over a single labels or groups file, by side
            (:func:`~infocli.datasets.open_cursors`).
        on_progress: Called with the shard's rows done.

    Returns:
        The comparison (a state that may hold no rows) and what later shards are read with.
    """
    schemas: Sequence[Schema | None] = settled.schemas if settled else [None] * (1 + len(shard.candidates))
    with ExitStack() as stack:
        tables = [
            stack.enter_context(open_part(uri, shard.relative, schema, npz_key=options.npz_key))
            for uri, schema in zip([shard.preds, *shard.candidates], schemas, strict=True)
        ]
        labels = shard_file(stack, shard, "labels", options, cursors)
        groups = shard_file(stack, shard, "groups", options, cursors)
        comparison = compare_tables(
            tables[0], tables[1:], labels, options, confidence=confidence, alpha=alpha, gates=gates,
            fail_if_worse=fail_if_worse, on_progress=on_progress,
            decided=settled.decided if settled else None, part=True, groups=groups,
        )  # fmt: skip
        decided = settled.decided if settled else None
        if decided is None and comparison.state.n_samples:
            decided = tuple(comparison.decided or ())
        own = tuple(s or Schema(t.path, tuple(t.columns)) for s, t in zip(schemas, tables, strict=True))
    return comparison, Settled(decided, own)


@dataclass(frozen=True)
class CompareShards:
    """``compare``'s task on an engine: one shard's comparison under what the first settled.

    Attributes:
        options: The settings.
        tests: The test settings and gates (``confidence``, ``alpha``, ``gates``,
            ``fail_if_worse``), the gates checked at the first shard only.
        shared: The sides (``labels``, ``groups``) that are one file that every shard
            reads its own rows of.
        last: The last shard's relative path: its task checks that each shared file ends with it.
        dataset: The BASELINE argument, as messages name it.
    """

    options: EvalOptions
    tests: tuple[tuple[str, Any], ...]
    shared: tuple[str, ...]
    last: str
    dataset: str

    def __call__(self, shard: Shard, settled: Any) -> Scored:
        """Score a shard; ``settled`` is a :class:`Settled`, or None for the first shard."""
        assert isinstance(shard, PairedShard)
        tests = dict(self.tests)
        if settled is not None:
            tests |= {"gates": (), "fail_if_worse": ()}
        with ExitStack() as stack:
            cursors = open_cursors(stack, shard, self.shared, self.options)
            comparison, settled = compare_shard(shard, self.options, settled, cursors=cursors, **tests)
            if shard.relative == self.last:
                check_ends(cursors, self.dataset)
        state = comparison.state
        rows = state.n_samples + state.n_ignored
        return Scored(state.to_dict(), settled, settled.decided is not None, rows, tuple(comparison.warnings))


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
    engine: EngineOptions | None = None,
    on_shard: ShardProgress | None = None,
    groups: str | None = None,
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
        on_progress: Called after each chunk with (rows done, total rows if known), in
            this process.
        engine: Where the shards are scored (``--jobs``, ``--engine``); None for this process.
        on_shard: Called after each shard scored on the engine.
        groups: The group columns' own files: a dataset of the baseline's layout, a single
            file aligned with its rows in shard order, or None.

    Returns:
        The comparison, equal to that of one file holding the shards' rows in order (on an
        engine, bit for bit that of this process).

    Raises:
        InfoCliError: Bad datasets or bad input; the shard and its row named.
    """
    options.check()
    check_test_settings(confidence, alpha)
    if engine is not None:
        engine.check()
    if "-" in (baseline, *candidates, labels, groups):
        raise InfoCliError("a dataset cannot be compared with an input from stdin (-)")
    notes: list[str] = []
    found = paired_shards(baseline, candidates, labels, notes, groups)
    shared = shared_files(found)
    tests = {
        "confidence": confidence,
        "alpha": alpha,
        "gates": tuple(gates),
        "fail_if_worse": tuple(fail_if_worse),
    }
    task = CompareShards(options, tuple(tests.items()), shared, found[-1].relative, display_spec(baseline))
    warnings: list[str] = []
    with ExitStack() as stack:
        cursors = open_cursors(stack, found[0], shared, options) if engine is None else {}
        if engine is None:
            states = _in_order(found, options, cursors, on_progress, warnings, tests)
        else:
            states = _on_engine(task, found, engine, on_shard, warnings)
        state, ignored = fold_states(states)
        check_ends(cursors, display_spec(baseline))
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
    cursors: dict[str, _Cursor],
    on_progress: ProgressCallback | None,
    warnings: list[str],
    tests: dict[str, Any],
) -> Iterator[CompareState]:
    """Each shard's state, in this process, in shard order, every shard read with what the
    first settled (the gates checked at the first); their warnings added to ``warnings``."""
    known = [p.rows for p in found]
    total = sum(r for r in known if r is not None) if None not in known else None
    settled: Settled | None = None
    done = 0
    for index, shard in enumerate(found):
        if index:
            tests = {**tests, "gates": (), "fail_if_worse": ()}
        comparison, settled = compare_shard(
            shard, options, settled, cursors=cursors, on_progress=_offset(on_progress, done, total), **tests
        )
        warnings.extend(comparison.warnings)
        part = comparison.state
        done += part.n_samples + part.n_ignored
        yield part


def _on_engine(
    task: CompareShards,
    found: Sequence[PairedShard],
    engine: EngineOptions,
    on_shard: ShardProgress | None,
    warnings: list[str],
) -> Iterator[CompareState]:
    """Each shard's state as an engine's workers return it, in shard order."""
    for scored in scored_in_order(task, found, engine, on_progress=on_shard):
        warnings.extend(scored.warnings)
        yield CompareState.from_dict(scored.state)


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
