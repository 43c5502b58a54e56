"""Datasets on an engine (``--jobs N``, ``--engine dask``): each command's per-shard task
and the merge of the shards' states in shard order.

A command plugs in with two pieces: a task (a frozen dataclass of its settings whose
call scores one shard into a state, see :class:`infocli.engines.ShardTask`) and a fold
of the states, in shard order, into the report's state. :func:`evaluate_sharded` and
:func:`perplexity_sharded` are the two that exist; each gives the report its command's
single-process run over the same dataset gives, bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from infocli.engines import EngineOptions, Scored, ShardProgress, scored_in_order
from infocli.errors import InfoCliError
from infocli.evaluate import Evaluation
from infocli.gates import Gate
from infocli.metrics.state import EvalState
from infocli.metrics.tokens import TokenState
from infocli.perplexity import PerplexityOptions, PerplexityRun
from infocli.plan import EvalOptions
from infocli.readers.dataset import Shard, shards, shared_files, without_credentials

__all__ = ["EvalShards", "TokenShards", "evaluate_sharded", "perplexity_sharded"]


@dataclass(frozen=True)
class EvalShards:
    """``eval``'s task: one shard's evaluation under the kinds and columns of the first.

    Attributes:
        options: The settings.
        gates: ``--fail-if`` gates, checked against the first shard's columns before it is read.
        shared: The sides (``labels``, ``groups``) that are one file that every shard
            reads its own rows of.
        last: The last shard's relative path: its task checks that each shared file
            ends with it.
        dataset: The PREDS argument, as messages name it.
    """

    options: EvalOptions
    gates: tuple[Gate, ...]
    shared: tuple[str, ...]
    last: str
    dataset: str

    def __call__(self, shard: Shard, settled: Any) -> Scored:
        """Score a shard; ``settled`` is (kinds, columns) of the shards before it, or None."""
        from infocli.datasets import check_ends, evaluate_shard, open_cursors

        decided, schema = settled if settled is not None else (None, None)
        gates = self.gates if settled is None else ()
        with ExitStack() as stack:
            cursors = open_cursors(stack, shard, self.shared, self.options)
            evaluation, schema = evaluate_shard(
                shard, self.options, decided, schema=schema, cursors=cursors, gates=gates
            )
            if shard.relative == self.last:
                check_ends(cursors, self.dataset)
        state = evaluation.state
        decided = decided or (evaluation.decided if state.n_samples else None)
        rows = state.n_samples + state.n_ignored
        return Scored(
            state.to_dict(), (decided, schema), decided is not None, rows, tuple(evaluation.warnings)
        )


@dataclass(frozen=True)
class TokenShards:
    """``perplexity``'s task: one shard's tokens, read with the first shard's columns.

    Attributes:
        options: The settings.
    """

    options: PerplexityOptions

    def __call__(self, shard: Shard, settled: Any) -> Scored:
        """Score a shard; ``settled`` is the first shard's (columns, path, format, plain), or None."""
        from infocli.datasets import Schema, open_part
        from infocli.perplexity import token_part

        schema = settled[0] if settled is not None else None
        with open_part(shard.preds, shard.relative, schema, npz_key=self.options.npz_key) as table:
            schema = schema or Schema(table.path, tuple(table.columns))
            part, rows = token_part(table, self.options)
        return Scored(part.state.to_dict(), (schema, part.path, part.format, part.plain), True, rows)


def evaluate_sharded(
    preds: str,
    labels: str | None,
    options: EvalOptions,
    engine: EngineOptions,
    *,
    gates: Sequence[Gate] = (),
    on_progress: ShardProgress | None = None,
    keep_empty: bool = False,
    groups: str | None = None,
) -> Evaluation:
    """:func:`infocli.datasets.evaluate_dataset` with its shards scored on an engine.

    Args:
        preds: A file, directory, glob, ``@list`` file or URI.
        labels: The same, or None.
        options: The settings.
        engine: Where the shards are scored.
        groups: As for :func:`~infocli.datasets.evaluate_dataset`.
        gates: ``--fail-if`` gates, checked before any row is read.
        on_progress: Called after each shard.
        keep_empty: As for :func:`~infocli.evaluate.evaluate`.

    Returns:
        The evaluation, bit for bit that of a single process.

    Raises:
        InfoCliError: Bad datasets or bad input (the shard and its row named), or a
            worker that died.
    """
    from infocli.datasets import fold_shards

    options.check()
    engine.check()
    if "-" in (preds, labels, groups):
        raise InfoCliError("a dataset cannot be read with an input from stdin (-)")
    notes: list[str] = []
    found = shards(preds, labels, groups=groups, notes=notes)
    name = without_credentials(preds)
    task = EvalShards(options, tuple(gates), shared_files(found), found[-1].relative, name)
    evaluations = (
        Evaluation(EvalState.from_dict(scored.state), list(scored.warnings), scored.settled[0])
        for scored in scored_in_order(task, found, engine, on_progress=on_progress)
    )
    return fold_shards(evaluations, found, preds, labels, options, notes=notes, keep_empty=keep_empty)


def perplexity_sharded(
    path: str,
    options: PerplexityOptions,
    engine: EngineOptions,
    *,
    on_progress: ShardProgress | None = None,
    keep_empty: bool = False,
) -> PerplexityRun:
    """:func:`infocli.perplexity.perplexity` of a dataset, its shards scored on an engine.

    Args:
        path: A directory, glob, ``@list`` file or URI (or one file).
        options: The settings.
        engine: Where the shards are scored.
        on_progress: Called after each shard.
        keep_empty: As for :func:`~infocli.perplexity.perplexity`.

    Returns:
        The run, bit for bit that of a single process.

    Raises:
        InfoCliError: Bad datasets or bad input (the shard and its row named), or a
            worker that died.
    """
    from infocli.perplexity import TokenPart, fold_tokens

    options.check()
    engine.check()
    if path == "-":
        raise InfoCliError("a dataset cannot be read from stdin (-)")
    notes: list[str] = []
    found = shards(path, None, notes=notes, role="TOKENS")
    parts = (
        TokenPart(TokenState.from_dict(scored.state), *scored.settled[1:])
        for scored in scored_in_order(TokenShards(options), found, engine, on_progress=on_progress)
    )
    return fold_tokens(parts, path, options, notes, keep_empty)
