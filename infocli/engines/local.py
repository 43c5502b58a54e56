"""The local engine: shards scored on worker processes of this machine (``--jobs N``).

A :class:`concurrent.futures.ProcessPoolExecutor` of fresh processes (``forkserver``
where the platform has it, else ``spawn``: never a fork of a process running threads).
Each worker scores one shard at a time through the command's usual pipeline, so its
memory is bounded by the chunk size, as a single run's is. Workers ignore the keyboard's
signals: the client is the one to stop them, on Ctrl-C as on an error.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType
from typing import Any

from infocli.engines import Scored, ShardTask
from infocli.errors import InfoCliError, param
from infocli.readers.dataset import Shard, display

__all__ = ["ProcessPool"]

JOIN_SECONDS = 5.0
"""How long a stopped worker is waited for before it is killed."""


def _start_worker() -> None:
    """In each worker: the process tuned as the console script tunes its own (the
    allocator), and the terminal's Ctrl-C and hang-up left for the client to handle."""
    from infocli import process

    process.prepare()
    for name in ("SIGINT", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)


def _context(preload: list[str]) -> Any:
    """Fresh processes: forked from a server that has imported ``preload`` (the task's
    modules) where the platform has one, else spawned."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if "forkserver" in methods:
        context.set_forkserver_preload(["infocli.engines.local", *preload])
    _start_servers_quietly(context)
    return context


def _start_servers_quietly(context: Any) -> None:
    """Start multiprocessing's resource tracker and forkserver with stderr on the null
    device: when Ctrl-C stops the workers, both may otherwise print warnings or a
    traceback after infocli's own last line. A worker's errors reach the client as the
    task's result, never through stderr."""
    from multiprocessing import forkserver, resource_tracker

    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        resource_tracker.ensure_running()
        if context.get_start_method() == "forkserver":
            forkserver.ensure_running()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _how(exitcode: int | None) -> str:
    """How a process ended, from its exit code (negative: the signal that killed it)."""
    if exitcode is None:
        return "it stopped answering"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


class ProcessPool:
    """Worker processes scoring shards; a context manager that stops them on the way out.

    Args:
        workers: How many processes.
        preload: Modules the workers import before their first task.
    """

    def __init__(self, workers: int, preload: list[str]) -> None:
        context = _context(preload)
        self.executor = ProcessPoolExecutor(max(1, workers), mp_context=context, initializer=_start_worker)
        self._seen: dict[int, Any] = {}  # pid -> process, of every worker started

    def __enter__(self) -> ProcessPool:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None:
            self.executor.shutdown(wait=True)
            return
        self._note_workers()
        self.executor.shutdown(wait=False, cancel_futures=True)
        for process in self._seen.values():  # a running shard is not waited for
            if process.is_alive():
                process.terminate()
        for process in self._seen.values():
            process.join(JOIN_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()

    def _note_workers(self) -> None:
        # The executor keeps its processes in a private table, the only place to learn
        # their pids; it may be gone once the pool is broken.
        self._seen.update(getattr(self.executor, "_processes", None) or {})

    def submit(self, task: ShardTask, shard: Shard, settled: Any, index: int) -> Future[Scored]:
        """Start ``task(shard, settled)`` on a worker."""
        try:
            future: Future[Scored] = self.executor.submit(task, shard, settled)
        except BrokenProcessPool as broken:  # a worker died while shards were handed out
            future = Future()
            future.set_exception(broken)
        self._note_workers()
        return future

    def result(self, handle: Future[Scored], shard: Shard) -> Scored:
        """The task's result; its error as raised in the worker.

        Raises:
            InfoCliError: The shard's own error, or a worker that died, named by its pid.
        """
        try:
            return handle.result()
        except BrokenProcessPool:
            self._note_workers()
            dead = [(pid, p.exitcode) for pid, p in self._seen.items() if not p.is_alive() and p.exitcode]
            named = ", ".join(f"{pid} ({_how(code)})" for pid, code in dead) or "unknown (it vanished)"
            raise InfoCliError(
                f"worker process {named} died; the shards from this one on were not scored",
                path=display(shard.preds),
                hint=f"A worker killed by SIGKILL often ran out of memory: use fewer {param('jobs')} "
                f"or a smaller {param('chunk_rows')}",
            ) from None
