"""Per-shard tasks for the engine tests that make a worker die: importable by name from
the worker processes (``tests/`` is on pytest's path, which the workers inherit)."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infocli.engines import Scored
from infocli.readers.dataset import Shard


@dataclass(frozen=True)
class DiesOnce:
    """Kills its worker on ``victim`` the first time (leaving ``marker`` behind), and
    scores every shard as the number of its relative path otherwise."""

    victim: str
    marker: str

    def __call__(self, shard: Shard, settled: Any) -> Scored:
        if shard.relative == self.victim and not Path(self.marker).exists():
            Path(self.marker).write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return Scored({"relative": shard.relative, "pid": os.getpid()}, None, True, 1)


@dataclass(frozen=True)
class AlwaysDies:
    """Kills its worker on ``victim``, every time."""

    victim: str

    def __call__(self, shard: Shard, settled: Any) -> Scored:
        if shard.relative == self.victim:
            os.kill(os.getpid(), signal.SIGKILL)
        return Scored({"relative": shard.relative}, None, True, 1)
