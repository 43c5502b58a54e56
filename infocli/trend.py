"""Checkpoint trends: evaluate a series of files and follow perplexity across steps."""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePath
from typing import Any

import numpy as np

from infocli.errors import InfoCliError, shown
from infocli.metrics.stats import change_of_exp_se, normal_p
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
class Change:
    """A checkpoint's change from another one, paired on the same rows (or sequences).

    Attributes:
        cross_entropy: This checkpoint's cross-entropy minus the other's, in nats.
        cross_entropy_se: Its paired standard error (from the per-row, or per-sequence,
            differences).
        perplexity_se: The standard error of the change in perplexity (delta method).
        p_value: Two-sided, by the normal approximation.
        significant: p <= alpha (no correction across checkpoints); False where p is NaN.
    """

    cross_entropy: float
    cross_entropy_se: float
    perplexity_se: float
    p_value: float
    significant: bool


@dataclass(frozen=True)
class TrendRow:
    """A checkpoint with its changes from the previous and the best checkpoint."""

    checkpoint: Checkpoint
    change: float | None  # perplexity minus the previous checkpoint's (None for the first)
    change_pct: float | None
    from_best: float  # perplexity minus the best checkpoint's
    from_best_pct: float
    best: bool
    change_test: Change | None = None  # the paired test of ``change``
    from_best_test: Change | None = None  # ... and of ``from_best`` (None for the best)


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
    """Whether the last checkpoint's perplexity is more than ``pct`` percent above the
    best's and the difference is significant (its paired test, at the trend's alpha).

    Args:
        rows: From :func:`trend_rows`, with their paired tests.
        pct: The allowed excess, in percent.

    Returns:
        True if the gate fails (a NaN perplexity fails it too); a difference the rows are
        too few to tell from noise passes.
    """
    last = rows[-1]
    if math.isnan(last.from_best_pct):
        return True
    test = last.from_best_test
    return last.from_best_pct > pct and test is not None and test.significant


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
    alpha: float = 0.05,
    progress: ProgressFactory = _no_progress,
) -> Trend:
    """Evaluate every checkpoint and compute the trend, each change with its paired test.

    With ``labels``, each path holds predictions evaluated against them as by ``eval``
    (``eval_options``), and each change is tested on the per-row differences of
    cross-entropy (as by ``compare``); without, each is a token file, as for
    ``perplexity`` (``token_options``), and each change is tested with sequences as the
    unit: the per-sequence sums of the differences go into the ratio estimator.

    Args:
        paths: The checkpoint files.
        labels: The labels file, or None for token files.
        eval_options: An :class:`infocli.plan.EvalOptions`, with ``labels``.
        token_options: A :class:`infocli.perplexity.PerplexityOptions`, without.
        base: The report's log base.
        alpha: Each change is significant when its two-sided p-value is at most alpha
            (no correction across checkpoints).
        progress: Makes each checkpoint's progress callback.

    Returns:
        The trend, rows in step order.

    Raises:
        InfoCliError: Token checkpoints that do not score the same tokens (sequences,
            their token counts, masks); a bad file.
    """
    from infocli.evaluate import evaluate
    from infocli.perplexity import perplexity

    steps = checkpoint_steps(paths)
    checkpoints, signatures, warnings, states = [], [], [], {}
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
        states[path] = run.state
    rows = trend_rows(checkpoints)
    if labels is not None:
        pair = _label_pairs(labels, eval_options, alpha, progress)
    else:
        pair = _token_pairs(states, alpha)
    return Trend(_tested(rows, pair), signatures[0] if signatures else "", warnings)


def _tested(rows: list[TrendRow], pair: Callable[[str, str], Change]) -> list[TrendRow]:
    """The rows with the paired tests of their changes (each pair of files tested once)."""
    best = next((r.checkpoint.path for r in rows if r.best), None)
    done: dict[tuple[str, str], Change] = {}

    def test(other: str, path: str) -> Change:
        if (other, path) not in done:
            done[other, path] = pair(other, path)
        return done[other, path]

    tested = []
    for previous, row in zip([None, *rows[:-1]], rows, strict=True):
        path = row.checkpoint.path
        change = test(previous.checkpoint.path, path) if previous is not None else None
        from_best = test(best, path) if best is not None and not row.best else None
        tested.append(replace(row, change_test=change, from_best_test=from_best))
    return tested


def _change(
    rates: tuple[float, float], variances: tuple[float, float], difference: float, var_d: float, alpha: float
) -> Change:
    """A change's test from the two rates (nats), their variances and the paired difference's."""
    se = math.sqrt(var_d) if var_d >= 0 else math.nan
    p = normal_p(difference, se)
    ppl_se = change_of_exp_se(*rates, *variances, var_d)
    return Change(difference, se, ppl_se, p, bool(p <= alpha))


def _label_pairs(
    labels: str, options: Any, alpha: float, progress: ProgressFactory
) -> Callable[[str, str], Change]:
    """The paired test of two prediction checkpoints: their per-row cross-entropies, as
    ``compare`` takes them (the same rows: both are scored against ``labels``)."""
    from infocli.compare import compare
    from infocli.metrics.paired import mean_std_error

    def pair(other: str, path: str) -> Change:
        with progress(f"{path} vs {other}") as on_progress:
            state = compare(other, [path], labels, options, alpha=alpha, on_progress=on_progress).state
        ce = state.pairs[0].metrics["cross_entropy"]
        rates = (ce.baseline.mean, ce.candidate.mean)
        variances = (mean_std_error(ce.baseline) ** 2, mean_std_error(ce.candidate) ** 2)
        return _change(rates, variances, ce.difference.mean, mean_std_error(ce.difference) ** 2, alpha)

    return pair


def _token_pairs(states: dict[str, Any], alpha: float) -> Callable[[str, str], Change]:
    """The paired test of two token checkpoints, sequences as the unit: with the NLL
    sums L_s of each sequence and its tokens n_s (the same in both), the change in
    cross-entropy is sum(L'_s - L_s) / sum(n_s), its SE that of the ratio estimator.

    Raises:
        InfoCliError: The checkpoints do not score the same tokens.
    """
    from infocli.metrics.tokens import ratio_se

    def pair(other: str, path: str) -> Change:
        a, b = states[other], states[path]
        keys_a, nll_a, tokens_a, _, _ = a.sequences.used()
        keys_b, nll_b, tokens_b, _, _ = b.sequences.used()
        where = {key: i for i, key in enumerate(keys_b)}
        missing = next((k for k in keys_a if k not in where), None)
        if missing is not None or len(keys_a) != len(keys_b):
            extra = next((k for k in keys_b if k not in set(keys_a)), None)
            what = f"has no sequence {missing!r}" if missing is not None else f"has sequence {extra!r}"
            raise _not_paired(
                path, other, f"{what}, which {shown(other)} {'has' if missing is not None else 'has not'}"
            )
        order = np.array([where[k] for k in keys_a], dtype=np.intp)
        nll_b, tokens_b = nll_b[order], tokens_b[order]
        differ = np.flatnonzero(tokens_a != tokens_b)
        if len(differ) or a.n_masked != b.n_masked:
            what = (
                f"sequence {keys_a[differ[0]]!r} has {int(tokens_b[differ[0]]):,} tokens, "
                f"{int(tokens_a[differ[0]]):,} in {shown(other)}"
                if len(differ)
                else f"{b.n_masked:,} tokens are masked, {a.n_masked:,} in {shown(other)}"
            )
            raise _not_paired(path, other, what)
        n = tokens_a.astype(np.float64)
        total = float(n.sum())
        rates = (float(nll_a.sum()) / total, float(nll_b.sum()) / total)
        variances = (ratio_se(nll_a, n) ** 2, ratio_se(nll_b, n) ** 2)
        difference = nll_b - nll_a
        return _change(rates, variances, float(difference.sum()) / total, ratio_se(difference, n) ** 2, alpha)

    return pair


def _not_paired(path: str, other: str, what: str) -> InfoCliError:
    return InfoCliError(
        f"scores other tokens than {shown(other)}: {what}",
        path=path,
        hint="Checkpoints are compared on the same tokens: evaluate every checkpoint on the same "
        "sequences, with the same masks",
    )
