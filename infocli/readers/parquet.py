"""Parquet files, read by record batches."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from infocli.errors import InfoCliError
from infocli.readers.arrow import column_of, to_batch
from infocli.readers.table import Batch, Table

READ_BUFFER = 64 << 10
"""Bytes read at a time from each column chunk, where the file is not memory-mapped."""

MAP_BYTES = 64 << 20
"""Largest run of row groups, in bytes of data, decoded from a memory map of the file.

Decoding from a map saves copying the file into read buffers: 5,000,000 x 10 float32
decoded in 0.197 instead of 0.242 CPU-seconds, and a 1,000,000 x 100 student/teacher pair
was evaluated in 1.70 instead of 1.76 s in-process (3.12 against 3.32 CPU-seconds; 7
interleaved rounds each). The mapped pages count in the resident memory while the run is
decoded (the pair peaked at 381 against 343 MiB), so a larger run, such as one huge row
group, is streamed through read buffers."""


def _corrupt(path: str, error: Exception) -> InfoCliError:
    return InfoCliError(
        f"not a readable Parquet file, or a corrupt or truncated one ({error})",
        path=path,
        hint="Check that the file was written completely",
    )


def _openable(source: str) -> str | pa.NativeFile:
    """The file name, or the file opened by its bytes where the name is not UTF-8 (pyarrow
    takes names as UTF-8 text)."""
    try:
        source.encode("utf-8")
    except UnicodeEncodeError:
        return pa.OSFile(os.fsencode(source))
    return source


class ParquetTable(Table):
    """A Parquet file; its row count and schema come from the footer, without reading rows.

    Args:
        source: The file to open.
        path: The file as the user named it.
    """

    format = "parquet"

    def __init__(self, source: str, path: str) -> None:
        self.path = path
        self._source = source
        try:
            # pre_buffer=False: the default buffers every row group of the requested
            # columns up front, which costs memory in proportion to the file. A read
            # buffer streams each column chunk instead of holding it whole: 1,000,000 x
            # 100 float32 columns peak at 51 MiB of Arrow memory instead of 68.
            self._handle = _openable(source)
            self._file = pq.ParquetFile(self._handle, pre_buffer=False, buffer_size=READ_BUFFER)
        except (pa.ArrowException, OSError) as error:
            raise _corrupt(path, error) from error
        self.columns = [column_of(field) for field in self._file.schema_arrow]
        self._metadata = metadata = self._file.metadata
        self.n_rows = metadata.num_rows
        if metadata.num_row_groups:
            self.block_rows = metadata.row_group(0).num_rows or None

    def _runs(self, rows: int) -> Iterator[tuple[list[int], int]]:
        """Consecutive row groups of at least ``rows`` rows together (but the last), and
        their bytes of data."""
        groups: list[int] = []
        n = size = 0
        for index in range(self._metadata.num_row_groups):
            group = self._metadata.row_group(index)
            groups.append(index)
            n, size = n + group.num_rows, size + group.total_byte_size
            if n >= rows:
                yield groups, size
                groups, n, size = [], 0, 0
        if groups:
            yield groups, size

    def batches(
        self, matrix: Sequence[str], vectors: Sequence[str], rows: int, *, keys: Sequence[str] = ()
    ) -> Iterator[Batch]:
        """Read the file by record batches of ``rows`` rows (see :meth:`Table.batches`).

        Batches end where a run of row groups ends; each run of at most :data:`MAP_BYTES`
        is decoded from a memory map of the file, opened for that run alone.
        """
        names = list(dict.fromkeys([*matrix, *vectors]))
        first_row = 0
        try:
            for groups, size in self._runs(rows):
                mapped = pa.memory_map(os.fsencode(self._source)) if size <= MAP_BYTES else None
                file = self._file
                if mapped is not None:
                    file = pq.ParquetFile(mapped, metadata=self._metadata, pre_buffer=False)
                try:
                    # One decoding thread: the other core is scoring the previous batch.
                    batches = file.iter_batches(
                        batch_size=rows, row_groups=groups, columns=names or None, use_threads=False
                    )
                    for record_batch in batches:
                        yield to_batch(record_batch, matrix, vectors, self.path, first_row)
                        first_row += record_batch.num_rows
                finally:
                    if mapped is not None:
                        file.close()
                        mapped.close()
        except (pa.ArrowException, OSError) as error:
            raise _corrupt(self.path, error) from error

    def close(self) -> None:
        """Close the file."""
        self._file.close()
        if isinstance(self._handle, pa.NativeFile):
            self._handle.close()
