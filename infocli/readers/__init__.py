"""Readers: CSV, Parquet, .npy, .npz, Arrow IPC and JSON Lines files (or stdin) as tables
read in row-aligned batches.

:func:`open_table` opens a file by its extension; :func:`aligned` pairs the batches of
two files row by row and stops with an error when their row counts differ;
:func:`prefetch` reads ahead in a background thread, so that decoding the next batch
overlaps the arithmetic on this one.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np

from infocli.errors import InfoCliError, param, shown
from infocli.interrupts import temporary_file
from infocli.readers.table import Batch, Column, Table, in_order, joined, usable_cpus

__all__ = [
    "EXTENSIONS",
    "INPUT_FORMATS",
    "Batch",
    "Column",
    "Table",
    "aligned",
    "aligned_many",
    "check_paths",
    "class_codes",
    "extension",
    "file_format",
    "in_order",
    "open_source",
    "open_table",
    "prefetch",
    "row_count_error",
    "usable_cpus",
]

EXTENSIONS = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".tsv": "tsv",
    ".tsv.gz": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".npy": "npy",
    ".npz": "npz",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
    ".jsonl": "jsonl",
    ".jsonl.gz": "jsonl",
    ".ndjson": "jsonl",
    ".ndjson.gz": "jsonl",
}
"""Supported file name endings (matched case-insensitively) and the format of each."""

INPUT_FORMATS = ("csv", "tsv", "parquet", "npy", "npz", "arrow", "jsonl")
"""Formats that ``--input-format`` can name for stdin."""

_SUFFIXES = {
    "csv": ".csv",
    "tsv": ".tsv",
    "parquet": ".parquet",
    "npy": ".npy",
    "npz": ".npz",
    "arrow": ".arrow",
    "jsonl": ".jsonl",
}
_GZIP_MAGIC = b"\x1f\x8b"
_MAGIC: dict[str, bytes | tuple[bytes, ...]] = {
    "npy": b"\x93NUMPY",
    "parquet": b"PAR1",
    "npz": b"PK\x03\x04",
    "arrow": (b"ARROW1", b"\xff\xff\xff\xff"),  # the IPC file form, and a stream's first message
}
_HEAD_BYTES = 64 << 10
"""Bytes of stdin looked at before the rest is copied: where they cannot start a file of
the format (no magic bytes; NUL bytes in text), the rest is not read, so that
``- < /dev/zero`` ends, and the reader names what is wrong with the head."""

_MAGIC_BYTES = 8
"""Bytes of stdin awaited before it is judged (the longest magic bytes)."""

T = TypeVar("T")


def file_format(path: str) -> str:
    """The format of a file, from its name.

    Args:
        path: A file name.

    Returns:
        A format of :data:`EXTENSIONS`.

    Raises:
        InfoCliError: The extension is not supported.
    """
    ending = extension(path)
    if ending is not None:
        return EXTENSIONS[ending]
    raise InfoCliError(
        "unsupported file extension; supported: " + ", ".join(EXTENSIONS),
        path=path,
        hint=f"Rename the file, or pipe it in as - with {param('input_format')}",
    )


def _open(source: str, path: str, fmt: str) -> Table:
    try:
        return _open_format(source, path, fmt)
    except OSError as error:
        raise InfoCliError(f"cannot be read ({error.strerror or error})", path=path) from error


def _open_format(source: str, path: str, fmt: str) -> Table:
    if fmt == "arrow":
        from infocli.readers.ipc import IpcTable

        return IpcTable(source, path)
    if fmt == "jsonl":
        from infocli.readers.jsonl import JsonLinesTable

        return JsonLinesTable(source, path)
    if fmt == "parquet":
        from infocli.readers.parquet import ParquetTable

        return ParquetTable(source, path)
    if fmt == "npy":
        from infocli.readers.npy import NpyTable

        return NpyTable(source, path)
    from infocli.readers.csv import CsvTable

    return CsvTable(source, path, "\t" if fmt == "tsv" else ",", fmt)


def check_paths(named: dict[str, str | None]) -> None:
    """Reject empty path arguments, naming the argument.

    Args:
        named: Each path argument (None where it was left out) by its name on the command
            line (``PREDS``, ``--labels``).

    Raises:
        InfoCliError: A path is the empty string.
    """
    for name, path in named.items():
        if path == "":
            raise InfoCliError(f"empty path given for {name}", hint="Give a file name, or - to read stdin")


@contextmanager
def open_source(
    source: str, path: str, *, npz_key: str | None = None, key_param: str = "npz_key"
) -> Iterator[Table]:
    """Open a local file as a :class:`Table` named ``path`` in messages.

    Args:
        source: The file to open.
        path: The file as messages name it.
        npz_key: The array of a ``.npz`` archive (needed where it holds several).
        key_param: The parameter that gives ``npz_key``, for messages.

    Yields:
        The open table.

    Raises:
        InfoCliError: The file is missing, unreadable, of an unsupported kind, or corrupt.
    """
    check_paths({"the input": source})
    if not os.path.exists(source):
        raise InfoCliError("no such file", path=path)
    if os.path.isdir(source):
        raise InfoCliError("is a directory; expected a file", path=path)
    if not os.access(source, os.R_OK):
        raise InfoCliError("cannot be read (permission denied)", path=path)
    ending = extension(source)
    fmt = EXTENSIONS[ending] if ending is not None else file_format(path)
    with contextlib.ExitStack() as stack:
        if fmt == "npz":
            from infocli.readers.npz import npz_member

            source = stack.enter_context(npz_member(source, path, npz_key, key_param))
            fmt = "npy"
        table = _open(source, path, fmt)
        stack.callback(table.close)
        yield table


def extension(path: str) -> str | None:
    """The supported extension a file name ends with (the longest, matched in any case).

    Args:
        path: A file name.

    Returns:
        A key of :data:`EXTENSIONS`, or None.
    """
    lower = path.lower()
    return next((e for e in sorted(EXTENSIONS, key=len, reverse=True) if lower.endswith(e)), None)


@contextmanager
def open_table(
    path: str, *, stdin_format: str = "csv", npz_key: str | None = None, key_param: str = "npz_key"
) -> Iterator[Table]:
    """Open a file, or stdin for ``-``, as a :class:`Table`.

    Stdin is first copied to a temporary file (removed afterwards): Parquet needs random
    access, and a bad row can then be located by reading again.

    Args:
        path: A file name, or ``-`` for stdin.
        stdin_format: The format of stdin (a gzipped CSV is recognised by its magic bytes).
        npz_key: The array of a ``.npz`` archive (see :func:`open_source`).
        key_param: The parameter that gives ``npz_key``, for messages.

    Yields:
        The open table.

    Raises:
        InfoCliError: The file is missing, unreadable, of an unsupported kind, or corrupt.
    """
    if path != "-":
        with open_source(path, path, npz_key=npz_key, key_param=key_param) as table:
            yield table
        return
    with (
        _stdin_copy(stdin_format) as copy,
        open_source(copy, "-", npz_key=npz_key, key_param=key_param) as table,
    ):
        yield table


def _check_stdin() -> None:
    """Raise if stdin is closed (``<&-``) or a terminal: there is no file to read."""
    hint = "Pipe a file in (cat preds.csv | infocli eval - labels.csv), or name the file instead of -"
    try:
        closed = sys.stdin is None or sys.stdin.closed
        if not closed:
            os.fstat(sys.stdin.fileno())
    except io.UnsupportedOperation:  # a stream without a descriptor (tests, embedding)
        return
    except (OSError, ValueError):  # the descriptor was closed or is invalid
        closed = True
    if closed:
        raise InfoCliError("stdin is closed; there is nothing to read", path="-", hint=hint)
    if sys.stdin.isatty():
        raise InfoCliError("stdin is a terminal, not a file", path="-", hint=hint)


@contextmanager
def _stdin_copy(fmt: str) -> Iterator[str]:
    """Stdin copied to a temporary file, removed on every way out (signals included).

    Only its first bytes are copied when they cannot start a file of the format (a
    stream of NUL bytes such as /dev/zero), for the reader to say what it is.
    """
    _check_stdin()
    stream = sys.stdin.buffer
    try:
        head = b""
        while len(head) < _MAGIC_BYTES:  # what has arrived, without waiting for more
            more = stream.read1(_HEAD_BYTES)
            if not more:
                break
            head += more
    except OSError as error:  # open for writing only (0>file), or a read error
        raise InfoCliError(f"stdin cannot be read ({error.strerror or error})", path="-") from error
    gzipped = fmt in ("csv", "tsv", "jsonl") and head.startswith(_GZIP_MAGIC)
    suffix = _SUFFIXES[fmt] + (".gz" if gzipped else "")
    magic = _MAGIC.get(fmt)
    foreign = not head.startswith(magic) if magic else not gzipped and b"\0" in head
    with contextlib.ExitStack() as stack:
        try:
            fd, name = stack.enter_context(temporary_file(prefix="infocli-stdin-", suffix=suffix))
            with open(fd, "wb") as file:
                file.write(head)
                if not foreign:
                    shutil.copyfileobj(stream, file, 1 << 20)
        except OSError as error:
            raise InfoCliError(
                f"cannot be copied to a temporary file in {tempfile.gettempdir()} "
                f"({error.strerror or error})",
                path="-",
                hint="Set TMPDIR to a folder with room for the whole input",
            ) from error
        yield name


def aligned(
    first: Table,
    first_batches: Iterator[Batch],
    second: Table | None,
    second_batches: Iterator[Batch] | None,
    rows: int,
) -> Iterator[tuple[Batch, Batch | None]]:
    """Pair two files' batches row by row, cut to at most ``rows`` rows.

    Args:
        first: The first file (for messages).
        first_batches: Its batches.
        second: The second file, or None to re-cut the first alone.
        second_batches: Its batches.
        rows: The largest batch to yield.

    Yields:
        (a, b) with the same ``first_row`` and ``n_rows``; b is None without a second file.

    Raises:
        InfoCliError: One file ends before the other; names both files and both counts.
    """
    if second is None or second_batches is None:
        for batch in first_batches:
            for start in range(0, batch.n_rows, rows):
                yield batch.slice(start, min(start + rows, batch.n_rows)), None
        return
    yield from aligned_many([first, second], [first_batches, second_batches], rows)  # type: ignore[misc]


def aligned_many(
    tables: list[Table], batches: list[Iterator[Batch]], rows: int
) -> Iterator[tuple[Batch, ...]]:
    """Pair any number of files' batches row by row, cut to at most ``rows`` rows.

    Args:
        tables: The files (for messages).
        batches: Each file's batches.
        rows: The largest batch to yield.

    Yields:
        One batch per file, all with the same ``first_row`` and ``n_rows``.

    Raises:
        InfoCliError: One file ends before another; names both files and both counts.
    """
    current: list[Batch | None] = [None] * len(tables)
    while True:
        for i, batch in enumerate(current):
            if batch is None or batch.n_rows == 0:
                current[i] = next(batches[i], None)
        going = [i for i, batch in enumerate(current) if batch is not None]
        if len(going) < len(tables):
            if going:
                _mismatch(tables, batches, current, going[0])
            return
        found = [batch for batch in current if batch is not None]
        # A file of single columns stored in other blocks than the first file's joins its
        # next batch rather than cutting the first file's chunk short.
        wanted = min(rows, found[0].n_rows)
        found[1:] = [_filled(batch, batches[i + 1], wanted) for i, batch in enumerate(found[1:])]
        n = min(rows, *(batch.n_rows for batch in found))
        yield tuple(batch.slice(0, n) for batch in found)
        current = [batch.slice(n, batch.n_rows) for batch in found]


def _filled(batch: Batch, rest: Iterator[Batch], rows: int) -> Batch:
    """``batch`` joined by the next ones of ``rest`` up to ``rows`` rows, where it holds
    single columns only (no matrix); otherwise ``batch`` itself."""
    if batch.n_rows >= rows or batch.source is not None or not batch.vectors:
        return batch
    parts, n = [batch], batch.n_rows
    while n < rows and (following := next(rest, None)) is not None:
        parts.append(following)
        n += following.n_rows
    return joined(parts) if len(parts) > 1 else batch


def _mismatch(
    tables: list[Table], batches: list[Iterator[Batch]], current: list[Batch | None], going: int
) -> None:
    """Raise the row-count error of the first file that ended, counting the rest of a
    file that goes on (``going``)."""
    batch = current[going]
    assert batch is not None
    short = tables[current.index(None)]
    n_long = batch.first_row + batch.n_rows + sum(b.n_rows for b in batches[going])
    raise row_count_error(short, batch.first_row, tables[going], n_long)


def row_count_error(short: Table, n_short: int, long: Table, n_long: int) -> InfoCliError:
    """The error for two files of different lengths.

    Args:
        short: The file with fewer rows.
        n_short: Its rows.
        long: The other file.
        n_long: Its rows.

    Returns:
        The error, naming both files and both counts.
    """
    return InfoCliError(
        f"{n_short:,} rows but {shown(long.path)} has {n_long:,}; the files must be row-aligned",
        path=short.path,
        hint="Rows are paired by position: one label (or target row) per prediction row",
    )


_END = object()
"""What :func:`prefetch`'s reader gets from an iterator that has ended."""


def prefetch(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Run an iterator in a background thread, up to ``depth`` items ahead of the consumer.

    Reading and decoding release the GIL, so the next batch is read while this one is
    scored. The reader takes a slot before it reads an item and the consumer frees it as it
    takes the item, so at most ``depth`` items exist besides the one the consumer holds,
    counting the one being read. Exceptions reach the consumer at the item where they
    happened.

    Args:
        items: Any iterator; it is run entirely in the background thread.
        depth: How many items may be read ahead.

    Yields:
        The items, in order.
    """
    ready: queue.SimpleQueue[tuple[Any, BaseException | None, bool]] = queue.SimpleQueue()
    free = threading.Semaphore(depth)
    stop = threading.Event()

    def reserve() -> bool:
        while not stop.is_set():
            if free.acquire(timeout=0.1):
                return True
        return False

    def produce() -> None:
        try:
            while reserve():
                item = next(items, _END)
                if item is _END:
                    ready.put((None, None, True))
                    return
                ready.put((item, None, False))
        except BaseException as error:  # handed to the consumer, re-raised there
            ready.put((None, error, True))

    thread = threading.Thread(target=produce, name="infocli-reader", daemon=True)
    thread.start()
    try:
        while True:
            item, error, done = ready.get()
            if error is not None:
                raise error
            if done:
                return
            free.release()
            yield item
    finally:
        stop.set()
        thread.join()


def class_codes(values: Any, class_names: list[str]) -> np.ndarray:
    """Class names to class indices (-1 where a name is not a class).

    Args:
        values: Arrow string or dictionary array, or a NumPy array of strings.
        class_names: The prediction columns, in order.

    Returns:
        (n,) int64 class indices.
    """
    if isinstance(values, np.ndarray):
        names, inverse = np.unique(values.astype(str), return_inverse=True)
        found = names.tolist()
    else:
        encoded = values if hasattr(values, "indices") else values.dictionary_encode()
        found = encoded.dictionary.to_pylist()
        from infocli.readers.arrow import numbers

        inverse = numbers(encoded.indices)
    lookup = {name: i for i, name in enumerate(class_names)}
    codes = np.array([lookup.get(name, -1) for name in found], dtype=np.int64)
    return codes[inverse]
