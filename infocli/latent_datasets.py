"""``latent-kl`` on datasets: the shards of encoder outputs, in order, as one file.

Each shard is read by :func:`~infocli.latent.latent_tables` with the first shard's
columns (:class:`~infocli.datasets.Schema`) and the dimensions its first chunk fixed, and
the shards' states are merged in shard order (:func:`~infocli.datasets.fold_states`). With
``--scale``, a dataset of scales pairs with the means' by relative path with the extension
aside (:func:`~infocli.readers.dataset.shards`), one to one with equal row counts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from infocli.datasets import Schema, _offset, display_spec, fold_states, open_part
from infocli.engines import EngineOptions, Scored, ShardProgress, scored_in_order
from infocli.errors import InfoCliError, param
from infocli.evaluate import ProgressCallback
from infocli.latent import LatentOptions, LatentPart, LatentRun, latent_tables
from infocli.metrics.latent import LatentState
from infocli.readers.dataset import Shard, is_dataset, open_shard, shards

__all__ = ["LatentShards", "latent_dataset", "latent_shard"]


def latent_shard(
    shard: Shard,
    options: LatentOptions,
    schemas: tuple[Schema, Schema | None] | None,
    width: int | None,
    *,
    scale_name: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> tuple[LatentPart, tuple[Schema, Schema | None]]:
    """One shard's latent state, read with the first shard's columns and dimensions.

    Args:
        shard: The shard of encoder outputs, with its scales' shard (``--scale``) as labels.
        options: The settings.
        schemas: The first shard's columns (and its scales'); None for the first shard.
        width: The width the first shard's first chunk had; None until a shard had rows.
        scale_name: The name whose words say the scales' parameterisation.
        on_progress: Called with the shard's rows done.

    Returns:
        The part, and the columns later shards must have.
    """
    means, scales = schemas if schemas is not None else (None, None)
    with ExitStack() as stack:
        table = stack.enter_context(open_part(shard.preds, shard.relative, means))
        second = None
        if shard.labels is not None:
            second = stack.enter_context(open_part(shard.labels, shard.relative, scales))
        part = latent_tables(
            table, second, lambda: open_shard(shard.preds), options, width=width, scale_name=scale_name,
            on_progress=on_progress,
        )  # fmt: skip
        own = (
            means or Schema(table.path, tuple(table.columns)),
            scales or (Schema(second.path, tuple(second.columns)) if second is not None else None),
        )
    return part, own


@dataclass(frozen=True)
class LatentShards:
    """``latent-kl``'s task on an engine: one shard read with the first shard's columns and
    the dimensions the first shard with rows fixed.

    Attributes:
        options: The settings.
        scale_name: The name whose words say the scales' parameterisation.
    """

    options: LatentOptions
    scale_name: str | None

    def __call__(self, shard: Shard, settled: Any) -> Scored:
        """Score a shard; ``settled`` is (columns, width) of the shards before it, or None."""
        schemas, width = settled if settled is not None else (None, None)
        part, schemas = latent_shard(shard, self.options, schemas, width, scale_name=self.scale_name)
        if width is None and part.state.n_samples:
            width = part.width
        state = part.state
        # A shard without rows whose columns do not state the dimensions has no settings:
        # nothing of it is merged, so nothing is sent.
        data = state.to_dict() if state.settings else {}
        return Scored(data, (schemas, width), width is not None, state.n_samples, tuple(part.notes))


def latent_dataset(
    path: str,
    options: LatentOptions,
    *,
    on_progress: ProgressCallback | None = None,
    engine: EngineOptions | None = None,
    on_shard: ShardProgress | None = None,
) -> LatentRun:
    """:func:`~infocli.latent.latent_kl` of a dataset of encoder outputs, shard after shard.

    Args:
        path: A directory, glob, ``@list`` file or URI (or one file, with a dataset of scales).
        options: The settings; ``scale`` a dataset of the same layout as ``path``.
        on_progress: Called after each chunk with (rows done, total rows if known), in
            this process.
        engine: Where the shards are scored (``--jobs``, ``--engine``); None for this process.
        on_shard: Called after each shard scored on the engine.

    Returns:
        The run, equal to that of one file holding the shards' rows in order (on an
        engine, bit for bit that of this process).

    Raises:
        InfoCliError: Bad datasets or bad input; the shard and its row named.
    """
    options.check()
    if engine is not None:
        engine.check()
    if "-" in (path, options.scale):
        raise InfoCliError("a dataset cannot be read with an input from stdin (-)")
    if options.scale is not None and not is_dataset(options.scale):
        raise InfoCliError(
            f"{param('scale')} is one file but FILE is a dataset",
            path=options.scale,
            hint=f"Give {param('scale')} as a dataset of FILE's layout (shards paired by relative path)",
        )
    notes: list[str] = []
    found = shards(path, options.scale, notes=notes, role="FILE", label_role="SCALE")
    scale_name = None
    if options.scale is not None:  # the scales' dataset's name says their parameterisation
        scale_name = os.path.basename(options.scale.rstrip("/")).split(".")[0]
    parts: list[LatentPart] = []

    def in_order() -> Iterator[LatentState]:
        known = [s.rows for s in found]
        total = sum(r for r in known if r is not None) if None not in known else None
        schemas, width, done = None, None, 0
        for shard in found:
            part, schemas = latent_shard(
                shard, options, schemas, width, scale_name=scale_name,
                on_progress=_offset(on_progress, done, total),
            )  # fmt: skip
            parts.append(part)
            done += part.state.n_samples
            if width is None and part.state.n_samples:
                width = part.width
            yield part.state

    def on_engine() -> Iterator[LatentState]:
        assert engine is not None
        for scored in scored_in_order(LatentShards(options, scale_name), found, engine, on_progress=on_shard):
            state = LatentState.from_dict(scored.state) if scored.state else LatentState({})
            parts.append(LatentPart(state, list(scored.warnings), None))
            yield state

    state, _ = fold_states(in_order() if engine is None else on_engine())
    if state is None or state.n_samples == 0:
        raise InfoCliError(
            "no rows in any shard; expected one row of means and scales per example", path=display_spec(path)
        )
    described = dict(state.inputs[0])  # the first shard with rows
    described["latent"] = {**described["latent"], "path": display_spec(path)}
    if described["scale"] is not None and options.scale is not None:
        described["scale"] = {**described["scale"], "path": display_spec(options.scale)}
    state.inputs = [described]
    warnings = [*notes, *(n for p in parts for n in p.notes), *state.warnings()]
    return LatentRun(state, list(dict.fromkeys(warnings)))
