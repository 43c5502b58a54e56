"""Checkpoint trends: evaluate a series of files and follow perplexity across steps."""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from infocli.errors import InfoCliError, shown
from infocli.readers import EXTENSIONS

_STEP = re.compile(r"\d+")


def checkpoint_steps(paths: Sequence[str]) -> list[int]:
    """The training step of each checkpoint: the last integer in its file name, or, when
    the name holds none, the last integer in its folders (``step_2000/preds.parquet``).

    Only the folders where the paths differ count: those every checkpoint shares
    (``runs/exp3/`` of ``runs/exp3/best.npy`` and ``runs/exp3/last.npy``) number the run,
    not the step. When no path has a step, the steps are the positions 1, 2, ... in
    argument order.

    Args:
        paths: The checkpoint files, as given.

    Returns:
        One step per path.

    Raises:
        InfoCliError: Some paths have a step and others do not.
    """
    folders = [PurePath(path).parent.parts for path in paths]
    shared = 0
    while folders and all(len(f) > shared and f[shared] == folders[0][shared] for f in folders):
        shared += 1
    found = []
    for path, folder in zip(paths, folders, strict=True):
        name = os.path.basename(path)
        lower = name.lower()
        for ending in sorted(EXTENSIONS, key=len, reverse=True):
            if lower.endswith(ending):
                name = name[: -len(ending)]
                break
        numbers = _STEP.findall(name) or _STEP.findall("/".join(folder[shared:]))
        found.append(int(numbers[-1]) if numbers else None)
    if all(step is None for step in found):
        return list(range(1, len(paths) + 1))
    missing = [path for path, step in zip(paths, found, strict=True) if step is None]
    if missing:
        raise InfoCliError(
            f"{len(missing)} checkpoint path(s) have no step number while others do",
            path=missing[0],
            hint="Name every checkpoint or its own folder with its step (ckpt_1000.parquet, "
            "step_1000/preds.parquet), or none of them",
        )
    return [step for step in found if step is not None]


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint's numbers."""

    path: str
    step: int
    cross_entropy: float
    perplexity: float
    perplexity_se: float


@dataclass(frozen=True)
class TrendRow:
    """A checkpoint with its changes from the previous and the best checkpoint."""

    checkpoint: Checkpoint
    change: float | None  # perplexity minus the previous checkpoint's (None for the first)
    change_pct: float | None
    from_best: float  # perplexity minus the best checkpoint's
    from_best_pct: float
    best: bool


def _pct(delta: float, reference: float) -> float:
    return 100.0 * delta / reference if reference and math.isfinite(reference) else math.nan


def trend_rows(checkpoints: Sequence[Checkpoint]) -> list[TrendRow]:
    """Sort checkpoints by step and compute their changes.

    Args:
        checkpoints: In any order.

    Returns:
        Rows in step order; the best (lowest perplexity, the earliest on ties) is marked.

    Raises:
        InfoCliError: Two checkpoints have the same step.
    """
    ordered = sorted(checkpoints, key=lambda c: c.step)
    for a, b in zip(ordered, ordered[1:], strict=False):
        if a.step == b.step:
            raise InfoCliError(f"two checkpoints have step {a.step}: {shown(a.path)} and {shown(b.path)}")
    finite = [c for c in ordered if not math.isnan(c.perplexity)]
    best = min(finite, key=lambda c: c.perplexity) if finite else None
    rows = []
    previous = None
    for c in ordered:
        change: float | None = c.perplexity - previous.perplexity if previous else None
        from_best = c.perplexity - best.perplexity if best else math.nan
        rows.append(
            TrendRow(
                c,
                change,
                _pct(change, previous.perplexity) if previous and change is not None else None,
                from_best,
                _pct(from_best, best.perplexity) if best else math.nan,
                c is best,
            )
        )
        previous = c
    return rows


def worse_than_best(rows: Sequence[TrendRow], pct: float) -> bool:
    """Whether the last checkpoint's perplexity is more than ``pct`` percent above the best.

    Args:
        rows: From :func:`trend_rows`.
        pct: The allowed excess, in percent.

    Returns:
        True if the gate fails (a NaN perplexity fails it too).
    """
    last = rows[-1]
    return math.isnan(last.from_best_pct) or last.from_best_pct > pct


ProgressFactory = Callable[[str], Any]
"""Given a checkpoint's path, a context manager that yields a progress callback (or None)."""


@dataclass
class Trend:
    """A trend's rows, the settings signature shared by every checkpoint, and the warnings."""

    rows: list[TrendRow]
    signature: str
    warnings: list[str] = field(default_factory=list)


def _no_progress(path: str) -> Any:
    return contextlib.nullcontext(None)


def run_trend(
    paths: Sequence[str],
    *,
    labels: str | None,
    eval_options: Any = None,
    token_options: Any = None,
    base: str = "e",
    progress: ProgressFactory = _no_progress,
) -> Trend:
    """Evaluate every checkpoint and compute the trend.

    With ``labels``, each path holds predictions evaluated against them as by ``eval``
    (``eval_options``); without, each is a token file, as for ``perplexity``
    (``token_options``).

    Args:
        paths: The checkpoint files.
        labels: The labels file, or None for token files.
        eval_options: An :class:`infocli.plan.EvalOptions`, with ``labels``.
        token_options: A :class:`infocli.perplexity.PerplexityOptions`, without.
        base: The report's log base.
        progress: Makes each checkpoint's progress callback.

    Returns:
        The trend, rows in step order.
    """
    from infocli.evaluate import evaluate
    from infocli.perplexity import perplexity

    steps = checkpoint_steps(paths)
    checkpoints, signatures, warnings = [], [], []
    for path, step in zip(paths, steps, strict=True):
        with progress(path) as on_progress:
            run: Any
            if labels is not None:
                run = evaluate(path, labels, eval_options, on_progress=on_progress)
            else:
                run = perplexity(path, token_options, on_progress=on_progress)
        results = run.state.compute(base) if labels is not None else run.state.compute(base, top=0)
        metrics, errors = results.metrics, results.standard_error
        checkpoints.append(
            Checkpoint(path, step, metrics["cross_entropy"], metrics["perplexity"], errors["perplexity"])
        )
        signatures.append(run.signature(base))
        warnings.extend(run.warnings)
    return Trend(trend_rows(checkpoints), signatures[0] if signatures else "", warnings)
