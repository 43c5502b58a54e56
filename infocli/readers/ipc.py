"""Arrow IPC files and streams (``.arrow``, ``.feather``, ``.ipc``), read by record batches.

Both forms are read: the file form (Feather v2, ``pyarrow.ipc.new_file``), which starts
with ``ARROW1``, and the stream form (``pyarrow.ipc.new_stream``, as Hugging Face datasets
store their ``.arrow`` files), which ``pyarrow.dataset``'s IPC format does not open.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.ipc as ipc

from infocli.errors import InfoCliError
from infocli.readers.arrow import coalesced, column_of, to_batch
from infocli.readers.table import Batch, Table, WatchedFile

_FILE_MAGIC = b"ARROW1"
_FEATHER_V1_MAGIC = b"FEA1"


def _corrupt(path: str, error: Exception | str) -> InfoCliError:
    return InfoCliError(
        f"not a readable Arrow IPC file or stream, or a corrupt or truncated one ({error})",
        path=path,
        hint="Check that the file was written completely",
    )


class IpcTable(Table):
    """An Arrow IPC file or stream; the form is told by the first bytes, not the name.

    Both forms are read through a read buffer, never memory-mapped (see
    :class:`~infocli.readers.table.WatchedFile`, and BENCHMARKS.md for the measurement).
    The file form's row count comes from its footer; a stream's is known once read.

    Args:
        source: The file to open.
        path: The file as the user named it.
    """

    format = "arrow"

    def __init__(self, source: str, path: str) -> None:
        self.path = path
        self._source = source
        with open(source, "rb") as file:
            head = file.read(len(_FILE_MAGIC))
        if head.startswith(_FEATHER_V1_MAGIC):
            raise InfoCliError(
                "a Feather version 1 file, which infocli does not read",
                path=path,
                hint="Rewrite it as Feather version 2 (pyarrow.feather.write_feather), the Arrow IPC file form",
            )
        self.stream = head != _FILE_MAGIC
        handle, reader = self._open()
        try:
            self.columns = [column_of(field, typed=True) for field in reader.schema]
            if not self.stream:
                self.n_rows = reader.count_rows()
        except (pa.ArrowException, OSError) as error:
            raise _corrupt(path, error) from error
        finally:
            handle.close()

    def _open(self) -> tuple[pa.NativeFile, ipc.RecordBatchFileReader | ipc.RecordBatchStreamReader]:
        handle = pa.OSFile(os.fsencode(self._source))  # bytes: the name need not be UTF-8
        try:
            reader = ipc.open_stream(handle) if self.stream else ipc.open_file(handle)
        except (pa.ArrowException, OSError) as error:
            handle.close()
            raise _corrupt(self.path, error) from error
        return handle, reader

    def _record_batches(
        self, reader: ipc.RecordBatchFileReader | ipc.RecordBatchStreamReader, names: list[str]
    ) -> Iterator[pa.RecordBatch]:
        if self.stream:
            for record_batch in reader:
                yield record_batch.select(names)
        else:
            for index in range(reader.num_record_batches):
                yield reader.get_batch(index).select(names)

    def batches(
        self, matrix: Sequence[str], vectors: Sequence[str], rows: int, *, keys: Sequence[str] = ()
    ) -> Iterator[Batch]:
        """Read the record batches, joined into batches of about ``rows`` rows (see
        :meth:`Table.batches`), checking the file for changes after each."""
        names = list(dict.fromkeys([*matrix, *vectors]))
        handle, reader = self._open()
        watched = WatchedFile(handle.fileno(), self.path)
        first_row = 0
        try:
            for record_batch in coalesced(self._record_batches(reader, names), rows):
                watched.check()
                yield to_batch(record_batch, matrix, vectors, self.path, first_row)
                first_row += record_batch.num_rows
        except (pa.ArrowException, OSError) as error:
            watched.check()
            raise _corrupt(self.path, error) from error
        finally:
            handle.close()
        if self.n_rows is not None and first_row != self.n_rows:
            raise _corrupt(self.path, f"{first_row:,} rows read, but the footer says {self.n_rows:,}")
        self.n_rows = first_row
