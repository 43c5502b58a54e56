"""The Dask engine: the same per-shard tasks on a ``dask.distributed`` cluster (``--engine dask``).

Each shard is one task, keyed by the run and the shard's index, so that a task Dask
retries after a worker died is still one result, merged once at its index. The tasks
carry the shard's absolute path or URI: the workers read their shards themselves, and
must have infocli (of the same version) installed and the files (or the object store)
within reach. Without a scheduler address, a ``LocalCluster`` on the loopback interface
with one single-threaded worker process per core.
"""

from __future__ import annotations

import logging
import uuid
from types import TracebackType
from typing import Any

from infocli.engines import Scored, ShardTask
from infocli.errors import InfoCliError, param
from infocli.readers.dataset import Shard, display
from infocli.readers.table import usable_cpus

__all__ = ["INSTALL", "DaskPool"]

INSTALL = 'pip install "infocli[dask]"'
"""The command that installs the Dask engine's dependencies."""

CONNECT_SECONDS = 30
"""How long to wait for the scheduler at ``--scheduler``."""


def _distributed() -> Any:
    """The ``distributed`` package, or an error that says how to install it."""
    try:
        import distributed
    except ImportError as error:
        raise InfoCliError(
            f"{param('engine')} dask needs Dask's distributed scheduler, which is not installed",
            hint=f"Install it with: {INSTALL}",
        ) from error
    return distributed


class DaskPool:
    """A Dask client for one run: to a scheduler, or to a local cluster it starts and stops.

    Args:
        scheduler: A scheduler's address, or None for a local cluster.
        workers: The local cluster's worker processes (None: one per core).
    """

    def __init__(self, scheduler: str | None, workers: int | None) -> None:
        distributed = _distributed()
        self.run = uuid.uuid4().hex[:12]
        self.cluster = None
        if scheduler is None:
            self.cluster = distributed.LocalCluster(
                n_workers=workers or usable_cpus(),
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
        try:
            self.client = distributed.Client(self.cluster or scheduler, timeout=CONNECT_SECONDS)
        except (OSError, TimeoutError) as error:
            if self.cluster is not None:
                self.cluster.close()
            raise InfoCliError(
                f"cannot reach the Dask scheduler at {scheduler} ({' '.join(str(error).split())})",
                hint=f"Give {param('scheduler')} the address the scheduler prints (tcp://HOST:8786)",
            ) from None
        self._futures: list[Any] = []

    def __enter__(self) -> DaskPool:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            if kind is not None and self._futures:
                self.client.cancel(self._futures, force=True)
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()

    def submit(self, task: ShardTask, shard: Shard, settled: Any, index: int) -> Any:
        """Start ``task(shard, settled)`` on the cluster, keyed by the shard."""
        future = self.client.submit(task, shard, settled, key=f"infocli-{self.run}-shard-{index}", pure=False)
        self._futures.append(future)
        return future

    def result(self, handle: Any, shard: Shard) -> Scored:
        """The task's result; its error as raised on the worker.

        Raises:
            InfoCliError: The shard's own error, or the worker that died running it.
        """
        distributed = _distributed()
        try:
            return handle.result()
        except distributed.KilledWorker as error:
            worker = error.last_worker
            name = (
                f"{worker.name} ({worker.address})" if str(worker.name) != worker.address else worker.address
            )
            before = error.allowed_failures
            tried = f", as did the {before} worker(s) it was tried on before" if before else ""
            raise InfoCliError(
                f"Dask worker {name} died scoring this shard{tried}",
                path=display(shard.preds),
                hint="A worker that runs out of memory is restarted by its nanny: see the workers' logs",
            ) from None
