"""CSV and TSV files (optionally gzipped), read by a streaming parser."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.csv as pcsv

from infocli.errors import InfoCliError
from infocli.readers.arrow import column_of, to_batch
from infocli.readers.table import Batch, Table

_SAMPLE_BYTES = 1 << 20
_BLOCK_BYTES = 1 << 20


class CsvTable(Table):
    """A delimited text file with a header line; gzip is recognised by a ``.gz`` suffix.

    The header and the first block fix the columns and their types. Rows are parsed in
    blocks of bytes sized to hold about the requested number of rows.

    Args:
        source: The file to open.
        path: The file as the user named it.
        delimiter: ``","`` or ``"\\t"``.
        format: ``"csv"`` or ``"tsv"``.
    """

    def __init__(self, source: str, path: str, delimiter: str, format: str) -> None:
        self.path = path
        self.format = format
        self._source = source
        # pyarrow recognises only a lower-case ".gz"; the extension is matched in any case.
        self._compression = "gzip" if source.lower().endswith(".gz") else None
        self._delimiter = delimiter
        self._row_bytes = self._bytes_per_row()
        with self._open(None, [], _BLOCK_BYTES) as reader:
            self.columns = [column_of(field) for field in reader.schema]
        self.n_rows = None

    def _bytes_per_row(self) -> int:
        """The longest of the first lines, to size blocks so that each holds whole rows."""
        try:
            with self._stream() as stream:
                sample = stream.read(_SAMPLE_BYTES)
        except (pa.ArrowException, OSError) as error:
            raise self._unreadable(error) from error
        lines = sample.split(b"\n")
        complete = lines[:-1] if len(lines) > 1 else lines
        return max(len(line) + 1 for line in complete) if len(lines) > 1 else len(sample) + 1

    def _stream(self) -> pa.NativeFile:
        return pa.input_stream(self._source, compression=self._compression)

    def _unreadable(self, error: Exception) -> InfoCliError:
        text = str(error)
        if "Empty CSV file" in text:
            return InfoCliError("the file is empty; expected a header line and rows", path=self.path)
        if any(word in text.lower() for word in ("zlib", "gzip", "compress", "inflate")):
            return InfoCliError(f"corrupt or truncated gzip data ({text})", path=self.path)
        return InfoCliError(f"cannot read the file as {self.format.upper()} ({text})", path=self.path)

    def _open(
        self, types: dict[str, pa.DataType] | None, include: list[str], block: int
    ) -> pcsv.CSVStreamingReader:
        try:
            return pcsv.open_csv(
                self._stream(),
                # One thread: the parser then numbers the lines in its errors, and the
                # streaming reader is no faster with more.
                read_options=pcsv.ReadOptions(use_threads=False, block_size=block),
                # A blank line is a row of missing values, reported, never skipped.
                parse_options=pcsv.ParseOptions(delimiter=self._delimiter, ignore_empty_lines=False),
                convert_options=pcsv.ConvertOptions(column_types=types, include_columns=include),
            )
        except (pa.ArrowException, OSError) as error:
            raise self._error(error) from error

    def _error(self, error: Exception) -> InfoCliError:
        text = str(error)
        columns = re.search(r"(?:Row #(\d+): )?Expected (\d+) columns, got (\d+)", text)
        if columns:
            return InfoCliError(
                f"expected {columns[2]} fields, got {columns[3]}",
                path=self.path,
                line=int(columns[1]) if columns[1] else None,
                hint="Every line needs one field per header column",
            )
        value = re.search(
            r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to (\w+): invalid value '(.*)'", text
        )
        if value:
            name = self.columns[int(value[1])].name if hasattr(self, "columns") else f"#{value[1]}"
            return InfoCliError(
                f"column {name!r} holds {value[3]!r}; expected a number",
                path=self.path,
                row=self._find(name, value[3]),
            )
        return self._unreadable(error)

    def _find(self, name: str, value: str) -> int | None:
        """The first row whose ``name`` field is ``value``, read again as text."""
        import pyarrow.compute as pc  # only on this error path: it costs start-up time

        reader = self._open({name: pa.string()}, [name], _BLOCK_BYTES)
        first_row = 0
        for record_batch in reader:
            found = pc.index(record_batch.column(0), value).as_py()
            if found >= 0:
                return first_row + found
            first_row += record_batch.num_rows
        return None

    def batches(
        self, matrix: Sequence[str], vectors: Sequence[str], rows: int, *, keys: Sequence[str] = ()
    ) -> Iterator[Batch]:
        """Parse the file block by block (see :meth:`Table.batches`).

        Numeric columns other than ``keys`` are read as float64, so a column that starts
        with whole numbers may hold fractions further on.
        """
        names = list(dict.fromkeys([*matrix, *vectors]))
        types = {}
        for name in names:
            column = self.require(name, "the command line")
            if (column.kind == "number" and name not in keys) or name in matrix:
                types[name] = pa.float64()
        # Blocks of about a MiB (each holding whole rows) keep the parser's memory small;
        # the caller joins or cuts batches to the rows it wants.
        block = max(4 * self._row_bytes, _BLOCK_BYTES)
        reader = self._open(types, names, block)
        first_row = 0
        while True:
            try:
                record_batch = reader.read_next_batch()
            except StopIteration:
                return
            except (pa.ArrowException, OSError) as error:
                raise self._error(error) from error
            yield to_batch(record_batch, matrix, vectors, self.path, first_row)
            first_row += record_batch.num_rows
