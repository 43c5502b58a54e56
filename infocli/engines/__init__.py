"""Engines: a command's per-shard task on worker processes or a Dask cluster, the results
handed back in shard order.

A command supplies a *task*: a picklable callable ``task(shard, settled) -> Scored`` (a
frozen dataclass of the command's settings, defined at module level) that reads its
shard itself and returns the shard's state as JSON-ready data (``to_dict``), with what
its plan settled from the data (the detected kinds, the first shard's columns). The
engine scores the leading shards one at a time until one settles the plan, then every
later shard at once with that settlement, so that every state has the same settings.
The command merges the states in shard order (``from_dict`` then ``merge``), so that the
report is the one a single process gives, bit for bit.

Only paths and URIs travel to the workers, never rows; a state is O(bins + groups).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Protocol

from infocli.errors import InfoCliError, param
from infocli.readers.dataset import Shard

__all__ = ["ENGINES", "EngineOptions", "Scored", "ShardProgress", "ShardTask", "scored_in_order"]

ENGINES = ("local", "dask")
"""The engines ``--engine`` chooses among."""


@dataclass(frozen=True)
class EngineOptions:
    """Where the shards are scored.

    Attributes:
        engine: ``local`` (worker processes of this machine) or ``dask`` (a cluster).
        jobs: Worker processes of the local engine; 1 scores in this process. With
            ``dask`` and no scheduler, more than 1 sets the local cluster's workers.
        scheduler: The address of a running Dask scheduler (``tcp://host:8786``).
    """

    engine: str = "local"
    jobs: int = 1
    scheduler: str | None = None

    def check(self) -> None:
        """Refuse settings that cannot work, before any file is read.

        Raises:
            InfoCliError: An unknown engine, fewer than one job, or a scheduler without Dask.
        """
        if self.engine not in ENGINES:
            raise InfoCliError(f"{param('engine')} must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.jobs < 1:
            raise InfoCliError(f"{param('jobs')} must be 1 or more, got {self.jobs}")
        if self.scheduler is not None and self.engine != "dask":
            raise InfoCliError(
                f"{param('scheduler')} is the address of a Dask scheduler",
                hint=f"Add {param('engine')} dask",
            )

    @property
    def parallel(self) -> bool:
        """Whether the shards are scored outside this process."""
        return self.engine == "dask" or self.jobs > 1


@dataclass(frozen=True)
class Scored:
    """One shard's result, as it comes back from a worker.

    Attributes:
        state: The shard's state, ``to_dict()``.
        settled: What later shards need from this one (the plan's detected kinds, the
            columns every shard must have), handed to the task of the next shard.
        final: Whether ``settled`` settles the plan: the later shards may then be scored
            at once. False for a shard with no row to detect the kinds from.
        rows: The rows (or tokens) read.
        warnings: What the shard's run warned of, beyond what its state says.
    """

    state: dict[str, Any]
    settled: Any
    final: bool
    rows: int
    warnings: tuple[str, ...] = field(default=())


class ShardTask(Protocol):
    """A command's work on one shard, run in a worker: picklable by reference."""

    def __call__(self, shard: Shard, settled: Any) -> Scored:
        """Score ``shard`` under what the earlier shards settled (None for the first)."""
        ...


ShardProgress = Callable[[int, int, int], None]
"""Called after each shard with (shards done, shards in all, rows done)."""


class Pool(Protocol):
    """Where tasks run: worker processes (:mod:`infocli.engines.local`) or a cluster
    (:mod:`infocli.engines.dask`)."""

    def submit(self, task: ShardTask, shard: Shard, settled: Any, index: int) -> Any:
        """Start ``task(shard, settled)``; a handle for :meth:`result`."""
        ...

    def result(self, handle: Any, shard: Shard) -> Scored:
        """Wait for a task's result; a dead worker is an error that names it."""
        ...


def open_pool(options: EngineOptions, n_shards: int, task: ShardTask, stack: ExitStack) -> Pool:
    """The pool of ``options`` for ``task``, closed (its workers stopped) as ``stack`` unwinds."""
    if options.engine == "dask":
        from infocli.engines.dask import DaskPool

        return stack.enter_context(DaskPool(options.scheduler, options.jobs if options.jobs > 1 else None))
    from infocli.engines.local import ProcessPool

    return stack.enter_context(ProcessPool(min(options.jobs, n_shards), [type(task).__module__]))


def scored_in_order(
    task: ShardTask,
    shards: Sequence[Shard],
    options: EngineOptions,
    *,
    on_progress: ShardProgress | None = None,
) -> Iterator[Scored]:
    """Score every shard on the engine of ``options``; the results in shard order.

    The leading shards are scored one at a time until one settles the plan; the others
    are then all submitted, keyed by their index, so that a task the engine retries is
    still counted once. The first error in shard order ends the run, and every worker
    is stopped (also on Ctrl-C) before it propagates.

    Args:
        task: The command's per-shard task.
        shards: The shards, in order.
        options: The engine.
        on_progress: Called after each shard.

    Yields:
        Each shard's result, in shard order.

    Raises:
        InfoCliError: The first failing shard's error, or a dead worker named.
    """
    done = rows = 0

    def finished(scored: Scored) -> Scored:
        nonlocal done, rows
        done, rows = done + 1, rows + scored.rows
        if on_progress is not None:
            on_progress(done, len(shards), rows)
        return scored

    with ExitStack() as stack:
        pool = open_pool(options, len(shards), task, stack)
        settled: Any = None
        index = 0
        while index < len(shards):
            scored = finished(pool.result(pool.submit(task, shards[index], settled, index), shards[index]))
            settled, index = scored.settled, index + 1
            yield scored
            if scored.final:
                break
        rest = [(shard, pool.submit(task, shard, settled, i)) for i, shard in enumerate(shards) if i >= index]
        for shard, handle in rest:
            yield finished(pool.result(handle, shard))
