"""The token pipeline: a file of per-token log-probabilities -> a token metrics state."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from infocli import __version__
from infocli.errors import InfoCliError
from infocli.evaluate import CHUNK_BYTES, InputInfo, ProgressCallback
from infocli.metrics.tokens import TokenState
from infocli.readers import Table, aligned, open_table, prefetch

TOKEN_METRICS = (
    "cross_entropy",
    "perplexity",
    "sequence_perplexity_mean",
    "sequence_perplexity_median",
    "bits_per_byte",
    "word_perplexity",
)
"""Every metric a perplexity report can have."""


@dataclass(frozen=True)
class PerplexityOptions:
    """Every setting of ``infocli perplexity``."""

    logprob_col: str = "logprob"
    logprob_base: str = "e"
    seq_col: str | None = None
    mask_col: str | None = None
    bytes_col: str | None = None
    words_col: str | None = None
    base: str = "e"
    top: int = 5
    chunk_rows: int | None = None
    input_format: str = "csv"

    def check(self) -> None:
        """Reject settings that cannot work, before any file is opened.

        Raises:
            InfoCliError: A negative ``--top`` or a chunk size below 1.
        """
        if self.top < 0:
            raise InfoCliError(f"--top must be 0 or more, got {self.top}")
        if self.chunk_rows is not None and self.chunk_rows < 1:
            raise InfoCliError(f"--chunk-rows must be at least 1, got {self.chunk_rows}")


def available_metrics(options: PerplexityOptions) -> list[str]:
    """The metrics a run with these options reports.

    Args:
        options: The settings.

    Returns:
        Metric names, a subset of :data:`TOKEN_METRICS`.
    """
    skip = {"bits_per_byte"} if options.bytes_col is None else set()
    skip |= {"word_perplexity"} if options.words_col is None else set()
    return [name for name in TOKEN_METRICS if name not in skip]


@dataclass
class PerplexityRun:
    """The outcome of :func:`perplexity`: the state and what the report needs."""

    state: TokenState
    tokens: InputInfo
    options: PerplexityOptions
    warnings: list[str] = field(default_factory=list)

    def signature(self) -> str:
        """Every setting that changes a number, in one short string; the version last."""
        o = self.options
        parts = [f"logprob_base:{o.logprob_base}", f"base:{o.base}"]
        parts += [f"seq:{'yes' if o.seq_col else 'no'}", f"mask:{'yes' if o.mask_col else 'no'}"]
        return "|".join([*parts, f"version:{__version__}"])


def _columns(table: Table, options: PerplexityOptions) -> dict[str, str]:
    """Role -> column name, checked against the file."""
    roles = {
        "logprob": options.logprob_col,
        "seq": options.seq_col,
        "mask": options.mask_col,
        "bytes": options.bytes_col,
        "words": options.words_col,
    }
    if table.format == "npy" and len(table.columns) == 1 and table.columns[0].name == "":
        if table.columns[0].kind != "number":
            raise InfoCliError(
                f"expected a 1-D array of log-probabilities, got {table.columns[0].type}", path=table.path
            )
        if any(roles[r] for r in ("seq", "mask", "bytes", "words")):
            raise InfoCliError(
                "a plain 1-D .npy holds the log-probabilities alone",
                path=table.path,
                hint="Use a structured .npy (named fields), CSV or Parquet for sequence ids, masks or counts",
            )
        return {"logprob": ""}
    options_of = {"logprob": "--logprob-col", "seq": "--seq-col", "mask": "--mask-col"}
    options_of.update(bytes="--bytes-col", words="--words-col")
    allowed = {"logprob": ("number",), "seq": ("number", "string"), "mask": ("number", "bool")}
    columns = {}
    for role, name in roles.items():
        if name is None:
            continue
        column = table.require(name, options_of[role])
        found = table.non_number(name) if column.kind == "string" and role != "seq" else None
        if found is not None:  # a number column with a bad field: name its row
            raise found
        if column.kind not in allowed.get(role, ("number",)):
            raise InfoCliError(
                f"column {name!r} ({options_of[role]}) has type {column.type}; "
                f"expected {' or '.join(allowed.get(role, ('number',)))}",
                path=table.path,
            )
        columns[role] = name
    return columns


def _sequence_ids(values: Any) -> tuple[np.ndarray, list[Hashable] | None]:
    """Sequence ids as numbers, or strings as dictionary codes and their names."""
    if isinstance(values, np.ndarray):
        return values, None
    from infocli.readers.arrow import numbers

    encoded = values if hasattr(values, "indices") else values.dictionary_encode()
    return numbers(encoded.indices), encoded.dictionary.to_pylist()


def perplexity(
    path: str, options: PerplexityOptions, *, on_progress: ProgressCallback | None = None
) -> PerplexityRun:
    """Corpus and per-sequence perplexity of a file of per-token log-probabilities.

    Args:
        path: The token file (CSV, Parquet, .npy), or ``-`` for stdin.
        options: The settings.
        on_progress: Called after each chunk with (rows done, total rows if known).

    Returns:
        The run.

    Raises:
        InfoCliError: Bad options, a missing column, or bad values.
    """
    options.check()
    state = TokenState()
    with open_table(path, stdin_format=options.input_format) as table:
        columns = _columns(table, options)
        names = list(columns.values())
        rows = options.chunk_rows or max(1, CHUNK_BYTES // (8 * len(names)))
        keys = [columns["seq"]] if "seq" in columns else []
        batches = table.batches([], names, rows, keys=keys)
        for batch, _ in prefetch(aligned(table, batches, None, None, rows)):
            data = {role: batch.vectors[name] for role, name in columns.items()}
            sequence, seq_names = _sequence_ids(data["seq"]) if "seq" in data else (None, None)
            try:
                state.update(
                    data["logprob"],
                    sequence=sequence,
                    names=seq_names,
                    mask=data.get("mask"),
                    n_bytes=data.get("bytes"),
                    words=data.get("words"),
                    logprob_base=options.logprob_base,
                )
            except InfoCliError as error:
                raise error.at(table.path, row_offset=batch.first_row) from None
            if on_progress:
                on_progress(batch.first_row + batch.n_rows, table.n_rows)
        if state.tokens.n == 0:
            if state.n_masked:
                raise InfoCliError("every token is masked out; nothing to evaluate", path=table.path)
            raise InfoCliError("no rows; expected one row per token", path=table.path)
        info = InputInfo(table.path, table.format, "logprobs")
    warnings = []
    if state.masked_counts:
        warnings.append(
            f"{table.path}: {state.masked_counts:,} byte or word counts sit on masked rows and were "
            "left out (counts are summed over the rows used)"
        )
    return PerplexityRun(state, info, options, warnings)
