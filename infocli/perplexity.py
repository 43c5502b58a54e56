"""The token pipeline: a file of per-token log-probabilities -> a token metrics state."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from infocli.errors import InfoCliError, param
from infocli.evaluate import CHUNK_BYTES, ProgressCallback
from infocli.ignored import npz_ignored, perplexity_ignored
from infocli.metrics.registry import metrics_of
from infocli.metrics.state import FORMAT_VERSION
from infocli.metrics.tokens import TokenState
from infocli.plan import MAX_CHUNK_ROWS, InputInfo, check_chunk_rows, signature
from infocli.readers import Table, aligned, open_table, prefetch
from infocli.readers.dataset import is_dataset, shards, without_credentials


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
    npz_key: str | None = None  # the array of a .npz

    def check(self) -> None:
        """Reject settings that cannot work, before any file is opened.

        Raises:
            InfoCliError: A negative ``--top`` or a chunk size below 1.
        """
        if self.top < 0:
            raise InfoCliError(f"{param('top')} must be 0 or more, got {self.top}")
        check_chunk_rows(self.chunk_rows)

    def settings(self) -> dict[str, Any]:
        """Everything that changes a sum; what merging token states compares.

        Returns:
            Plain values (JSON-ready).
        """
        return {
            "logprob_base": self.logprob_base,
            "seq": self.seq_col is not None,
            "mask": self.mask_col is not None,
            "bytes": self.bytes_col is not None,
            "words": self.words_col is not None,
            "format_version": FORMAT_VERSION,
        }


def available_metrics(options: PerplexityOptions) -> list[str]:
    """The metrics a run with these options reports.

    Args:
        options: The settings.

    Returns:
        Metric names, those of the registry's token metrics whose counts are given.
    """
    given = {"bytes": options.bytes_col is not None, "words": options.words_col is not None}
    return [m.name for m in metrics_of("perplexity") if given.get(m.needs or "", True)]


@dataclass
class PerplexityRun:
    """A token state and the warnings of its run; what the report is made of (for a run,
    or a merge of saved states)."""

    state: TokenState
    warnings: list[str] = field(default_factory=list)

    @property
    def tokens(self) -> InputInfo:
        """The (first) token file."""
        return InputInfo(**self.state.inputs[0]["tokens"])

    def signature(self, base: str) -> str:
        """Every setting that changes a number (see :func:`infocli.plan.signature`)."""
        return signature(self.state.settings, base)


def _columns(table: Table, options: PerplexityOptions) -> dict[str, str]:
    """Role -> column name, checked against the file."""
    roles = {
        "logprob": options.logprob_col,
        "seq": options.seq_col,
        "mask": options.mask_col,
        "bytes": options.bytes_col,
        "words": options.words_col,
    }
    if table.format == "npy" and table.unnamed:
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
    options_of = {role: param(f"{role}_col") for role in roles}
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
    path: str,
    options: PerplexityOptions,
    *,
    on_progress: ProgressCallback | None = None,
    keep_empty: bool = False,
) -> PerplexityRun:
    """Corpus and per-sequence perplexity of a file of per-token log-probabilities.

    Args:
        path: The token file (CSV, Parquet, .npy), or ``-`` for stdin.
        options: The settings.
        on_progress: Called after each chunk with (rows done, total rows if known).
        keep_empty: Return the run of a part whose every token is masked (a shard whose
            state is saved), rather than refusing it.

    Returns:
        The run.

    Raises:
        InfoCliError: Bad options, a missing column, or bad values.
    """
    options.check()
    notes: list[str] = []
    with ExitStack() as stack:
        tables = stack.enter_context(_token_tables(path, options, notes))
        return fold_tokens(_token_parts(tables, path, options, on_progress), path, options, notes, keep_empty)


@dataclass
class TokenPart:
    """One file's (or shard's) tokens: its state, and what the report says of the file.

    Attributes:
        state: The file's own state.
        path: The file, as messages name it.
        format: Its format.
        plain: A plain array of log-probabilities (no named columns).
    """

    state: TokenState
    path: str
    format: str
    plain: bool


def token_part(table: Table, options: PerplexityOptions, done: int = 0, total: int | None = None,
               on_progress: ProgressCallback | None = None) -> tuple[TokenPart, int]:  # fmt: skip
    """A file's tokens as a state of its own, and the rows done (``done`` before it)."""
    columns = _columns(table, options)
    state = TokenState(options.settings(), top=options.top)
    done = _read_tokens(table, columns, options, state, done, total, on_progress)
    state.inputs = [{"tokens": vars(InputInfo(table.path, table.format, "logprobs")).copy()}]
    return TokenPart(state, table.path, table.format, columns == {"logprob": ""}), done


def _token_parts(
    tables: Iterator[Table], path: str, options: PerplexityOptions, on_progress: ProgressCallback | None
) -> Iterator[TokenPart]:
    """Each file's part, in order, in this process."""
    done = 0
    for table in tables:
        total = None if is_dataset(path) else table.n_rows
        part, done = token_part(table, options, done, total, on_progress)
        yield part


def fold_tokens(
    parts: Iterator[TokenPart],
    path: str,
    options: PerplexityOptions,
    notes: list[str] | None = None,
    keep_empty: bool = False,
) -> PerplexityRun:
    """The parts' states merged in order (each file's or shard's its own, from this
    process or an engine's workers alike), as the run over them all.

    Raises:
        InfoCliError: No token to evaluate.
    """
    state: TokenState | None = None
    first: TokenPart | None = None
    for part in parts:
        if state is None:
            state, first = part.state, part
        else:
            state.merge(part.state)
    assert state is not None and first is not None
    name = without_credentials(path) if is_dataset(path) else first.path
    if state.tokens.n == 0 and not (keep_empty and state.n_masked):
        if state.n_masked:
            raise InfoCliError(
                "every token is masked out; nothing to evaluate",
                path=name,
                hint=f"With {param('save_state')}, such a part is saved, for its masked rows to be merged",
            )
        raise InfoCliError("no rows; expected one row per token", path=name)
    state.inputs = [{"tokens": vars(InputInfo(name, first.format, "logprobs")).copy()}]
    ignored = perplexity_ignored(options, plain_array=first.plain, stdin=path == "-")
    ignored += npz_ignored(options, {"npz_key": first.path})
    return PerplexityRun(state, [*(notes or []), *ignored, *state.warnings()])


def _read_tokens(
    table: Table,
    columns: dict[str, str],
    options: PerplexityOptions,
    state: TokenState,
    done: int,
    total: int | None,
    on_progress: ProgressCallback | None,
) -> int:
    """Fold a file's tokens into the state; the rows done, those of earlier shards counted
    (progress is reported against ``total`` rows)."""
    names = list(columns.values())
    rows = min(options.chunk_rows or max(1, CHUNK_BYTES // (8 * len(names))), MAX_CHUNK_ROWS)
    keys = [columns["seq"]] if "seq" in columns else []
    batches = table.batches([], names, rows, keys=keys)
    read = 0
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
        read = batch.first_row + batch.n_rows
        if on_progress:
            on_progress(done + read, total)
    return done + read


@contextmanager
def _token_tables(path: str, options: PerplexityOptions, notes: list[str]) -> Iterator[Iterator[Table]]:
    """The token files, one open at a time: the file, or the shards of a dataset in order."""
    if not is_dataset(path):
        with open_table(path, stdin_format=options.input_format, npz_key=options.npz_key) as table:
            yield iter([table])
        return
    from infocli.datasets import Schema, open_part

    def shard_tables() -> Iterator[Table]:
        schema: Schema | None = None
        for shard in shards(path, None, notes=notes, role="TOKENS"):
            with open_part(shard.preds, shard.relative, schema, npz_key=options.npz_key) as table:
                schema = schema or Schema(table.path, tuple(table.columns))
                yield table

    with closing(shard_tables()) as tables:
        yield tables
