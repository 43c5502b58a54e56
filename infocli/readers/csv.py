"""CSV and TSV files (optionally gzipped), read by a streaming parser."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence

import pyarrow as pa
import pyarrow.csv as pcsv

from infocli.errors import InfoCliError
from infocli.readers.arrow import column_of, to_batch
from infocli.readers.table import Batch, Table, in_order, usable_cpus

_SAMPLE_BYTES = 1 << 20
_BLOCK_BYTES = 1 << 20
_WIDE_ROW_BYTES = 64 << 10
_WIDE_BLOCK_BYTES = 16 << 20
"""Blocks of rows of :data:`_WIDE_ROW_BYTES` or more hold 16 of them within this many
bytes (and at least 4): the parser pays per column and block,
so 20 x 40,000 CSV (480 KB lines) parsed in 2.9 s by 8 MiB blocks against 5.7 s by 2 MiB."""
_MAX_BLOCK_BYTES = 1 << 30
"""The largest block tried when a row is longer than the block (pyarrow's "straddling
object"): blocks grow fourfold up to this."""

SEGMENT_BYTES = 4 << 20
"""Bytes of an uncompressed file that one parser takes at a time, when the file is
parsed on several threads (one per CPU) in segments cut at line ends.

A segment that holds a quote character (the header aside) might cut a quoted value that
spans lines, so from the first such segment on the rest of the file goes to one parser.
Otherwise every line is a row, and segments parse as the whole file would. 1,000,000 x 10
float64 CSV (193 MiB) parsed in 0.55 s on two threads against 0.86 s on one (1.00
against 0.90 CPU-seconds). Two segments per parser are read ahead of the rows being
scored, each held with its parsed rows until then."""


class CsvTable(Table):
    """A delimited text file with a header line; gzip is recognised by a ``.gz`` suffix.

    The header and the first block fix the columns and their types. Rows are parsed in
    blocks of bytes that each hold whole rows; an uncompressed file is cut at line ends
    into segments (:data:`SEGMENT_BYTES`) that several threads parse at once.

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
        self._end = self._data_end()
        self._row_bytes = self._bytes_per_row()
        reader, self._block = self._reopened(lambda block: self._parser(None, [], block, self._stream()))
        with reader:
            schema = reader.schema
        self.columns = [column_of(field) for field in schema]
        self.n_rows = None
        for index, field in enumerate(schema):
            if pa.types.is_binary(field.type):  # what pyarrow infers for text that is not UTF-8
                raise self._not_utf8(index)

    def _bytes_per_row(self) -> int:
        """The longest of the first lines (the header and at least one row, however long),
        to size blocks so that each holds whole rows. The header must be UTF-8."""
        try:
            with self._stream() as stream:
                sample = stream.read(_SAMPLE_BYTES)
                while sample.count(b"\n") < 2 and len(sample) < _MAX_BLOCK_BYTES:
                    more = stream.read(len(sample))
                    if not more:
                        break
                    sample += more
        except (pa.ArrowException, OSError) as error:
            raise self._unreadable(error) from error
        if b"\0" in sample:  # zeros (/dev/zero, a preallocated file), binary data or UTF-16
            what = "only NUL bytes" if not sample.strip(b"\0") else f"a NUL byte at byte {sample.index(0):,}"
            raise InfoCliError(
                f"not {self.format.upper()} text: the file holds {what}", path=self.path,
                hint="Expected a header line and rows of text (UTF-8)",
            )  # fmt: skip
        lines = sample.split(b"\n")
        try:
            lines[0].decode("utf-8")
        except UnicodeDecodeError as error:
            raise _encoding_error(self.path, lines[0], error, line=1) from None
        complete = lines[:-1] if len(lines) > 1 else lines
        return max(len(line) + 1 for line in complete) if len(lines) > 1 else len(sample) + 1

    def _data_end(self) -> int | None:
        """The bytes of a plain file before the blank lines it ends with (None for gzip)."""
        if self._compression is not None or not os.path.isfile(self._source):
            return None
        with open(self._source, "rb") as file:
            end = file.seek(0, os.SEEK_END)
            while end > 0:
                start = max(0, end - _BLOCK_BYTES)
                file.seek(start)
                kept = file.read(end - start).rstrip(b"\r\n")
                if kept:
                    return start + len(kept)
                end = start
        return 0

    def _stream(self, offset: int = 0) -> pa.NativeFile | _Trimmed:
        """The file's text from byte ``offset``, without the blank lines it ends with.

        The name is passed to pyarrow as bytes, so that any name the OS allows opens.
        """
        raw = pa.OSFile(os.fsencode(self._source))
        if offset:
            raw.seek(offset)
        if self._compression is not None:
            return _Trimmed(pa.CompressedInputStream(raw, self._compression))
        if self._end is not None and self._end < raw.size():
            return _Trimmed(raw)
        return raw

    def _unreadable(self, error: Exception) -> InfoCliError:
        text = str(error)
        if "Empty CSV file" in text:
            return InfoCliError("the file is empty; expected a header line and rows", path=self.path)
        if any(word in text.lower() for word in ("zlib", "gzip", "compress", "inflate")):
            return InfoCliError(f"corrupt or truncated gzip data ({text})", path=self.path)
        return InfoCliError(f"cannot read the file as {self.format.upper()} ({text})", path=self.path)

    def _reopened(
        self, parser: Callable[[int], pcsv.CSVStreamingReader]
    ) -> tuple[pcsv.CSVStreamingReader, int]:
        """``parser(block)`` with the first block that holds the header and first rows."""
        block = self._block_for()
        while True:
            try:
                return parser(block), block
            except (pa.ArrowException, OSError) as error:
                if not _straddles(error) or block >= _MAX_BLOCK_BYTES:
                    raise self._error(error) from error
                block *= 4

    def _block_for(self) -> int:
        """Bytes per block: whole rows (see :data:`_WIDE_BLOCK_BYTES`)."""
        row = self._row_bytes
        wide = min(16 * row, _WIDE_BLOCK_BYTES) if row >= _WIDE_ROW_BYTES else 0
        return max(_BLOCK_BYTES, 4 * row, wide)

    def _parser(
        self,
        types: dict[str, pa.DataType] | None,
        include: list[str],
        block: int,
        source: pa.NativeFile,
        column_names: list[str] | None = None,
    ) -> pcsv.CSVStreamingReader:
        """A streaming parser of ``source``: the file, or a segment of it that starts with
        the header line unless ``column_names`` are given. Raises Arrow's errors."""
        return pcsv.open_csv(
            source,
            # One thread: the parser then numbers the lines in its errors, and the
            # streaming reader is no faster with more.
            read_options=pcsv.ReadOptions(use_threads=False, block_size=block, column_names=column_names),
            # A blank line is a row of missing values, reported, never skipped.
            parse_options=pcsv.ParseOptions(delimiter=self._delimiter, ignore_empty_lines=False),
            convert_options=pcsv.ConvertOptions(column_types=types, include_columns=include),
        )

    def _error(self, error: Exception, first_row: int = 0, header: bool = True) -> InfoCliError:
        """The error for a parser's exception, at its file row or line.

        pyarrow numbers the records it parsed, the header line first when it reads one;
        ``first_row`` is the file row of the parser's first data row.
        """
        text = str(error)
        record = re.search(r"Row #(\d+)", text)
        row = first_row + int(record[1]) - 1 - header if record else None
        columns = re.search(r"Expected (\d+) columns, got (\d+)", text)
        if columns:
            return InfoCliError(
                f"expected {columns[1]} fields, got {columns[2]}",
                path=self.path,
                line=None if row is None else row + 2,  # the header, then a line per row
                hint="Every line needs one field per header column",
            )
        name = None
        column = re.search(r"In CSV column #(\d+)", text)
        if column:
            index = int(column[1])
            name = self.columns[index].name if hasattr(self, "columns") else f"#{index}"
        if "invalid UTF8" in text and column:
            return self._not_utf8(int(column[1]))
        value = re.search(r"CSV conversion error to (\w+): invalid value '(.*)'", text, re.DOTALL)
        if value and name is not None:
            return InfoCliError(
                f"column {name!r} holds {value[2]!r}; expected a number",
                path=self.path,
                row=row if row is not None else self._find(name, value[2]),
            )
        return self._unreadable(error)

    def _scan(self, name: str, type: pa.DataType) -> Iterator[pa.Array]:
        """Column ``name`` read again alone as ``type``, batch by batch (for error paths)."""
        reader, _ = self._reopened(lambda block: self._parser({name: type}, [name], block, self._stream()))
        with reader:
            try:
                for record_batch in reader:
                    yield record_batch.column(0)
            except (pa.ArrowException, OSError) as error:
                raise self._error(error) from error

    def _find(self, name: str, value: str) -> int | None:
        """The first row whose ``name`` field is ``value``, read again as text."""
        import pyarrow.compute as pc  # only on this error path: it costs start-up time

        first_row = 0
        for array in self._scan(name, pa.binary()):
            found = pc.index(array, value.encode("utf-8", "surrogateescape")).as_py()
            if found >= 0:
                return first_row + found
            first_row += len(array)
        return None

    def _not_utf8(self, index: int) -> InfoCliError:
        """The error for a column that holds text that is not UTF-8, at its first such row."""
        name = self.columns[index].name if hasattr(self, "columns") else f"#{index}"
        first_row = 0
        for array in self._scan(name, pa.binary()):
            for offset, value in enumerate(array.to_pylist()):
                try:
                    value is None or value.decode("utf-8")
                except UnicodeDecodeError as error:
                    return _encoding_error(self.path, value, error, row=first_row + offset, column=name)
            first_row += len(array)
        return InfoCliError(f"column {name!r} is not UTF-8 text", path=self.path, hint=_UTF8_HINT)

    def non_number(self, name: str) -> InfoCliError | None:
        """The error for the first field of column ``name`` that is not a number, if any.

        Args:
            name: A column that the first block typed as text.

        Returns:
            The error, naming the row and the value; None if every field is a number.
        """
        try:
            for _ in self._scan(name, pa.float64()):
                pass
        except InfoCliError as error:
            return error
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
        block = self._block
        header_bytes, segments = self._segments(4 * block)
        if len(segments) < 2:
            yield from self._to_batches(
                lambda b: self._parser(types, names, b, self._stream()), matrix, vectors
            )
            return
        # Every segment is read with the types the first block gave the whole file.
        with self._reopened(lambda b: self._parser(types, names, b, self._stream()))[0] as reader:
            types = {field.name: field.type for field in reader.schema}
        header = [c.name for c in self.columns]

        def parse(index: int) -> list[pa.RecordBatch] | None:
            """A segment's rows; None if it holds a quote, which might open a value that
            spans a cut."""
            start, stop = segments[index]
            data = bytearray(stop - start)
            with open(self._source, "rb") as file:
                file.seek(start)
                file.readinto(data)
            if data.find(b'"', 0 if index else header_bytes) >= 0:
                return None
            size = block
            while True:
                source = pa.BufferReader(pa.py_buffer(data))
                try:
                    return list(self._parser(types, names, size, source, header if index else None))
                except pa.ArrowInvalid as error:
                    if not _straddles(error) or size >= _MAX_BLOCK_BYTES:
                        raise
                    size *= 4  # a row longer than the rows the block was sized by

        parsed = in_order(parse, range(len(segments)), usable_cpus(), "infocli-csv")
        first_row = 0
        try:
            for index in range(len(segments)):
                try:
                    record_batches = next(parsed)
                except (pa.ArrowException, OSError) as error:
                    raise self._error(error, first_row, header=not index) from error
                if record_batches is None:  # the rest of the file, by one parser

                    def rest(
                        b: int,
                        offset: int = segments[index][0],
                        given: list[str] | None = header if index else None,
                    ) -> pcsv.CSVStreamingReader:
                        return self._parser(types, names, b, self._stream(offset), given)

                    yield from self._to_batches(rest, matrix, vectors, first_row, not index)
                    return
                for record_batch in record_batches:
                    yield self._to_batch(record_batch, matrix, vectors, first_row)
                    first_row += record_batch.num_rows
        finally:
            parsed.close()

    def _to_batches(
        self,
        parser: Callable[[int], pcsv.CSVStreamingReader],
        matrix: Sequence[str],
        vectors: Sequence[str],
        first_row: int = 0,
        header: bool = True,
    ) -> Iterator[Batch]:
        """The batches of a streaming parser, ``parser(block)``, from file row
        ``first_row`` on. A row longer than the block starts the parser again with larger
        blocks, past the rows already yielded."""
        block, done = self._block, 0
        while True:
            try:
                reader = parser(block)
                skip = done
                while True:
                    try:
                        record_batch = reader.read_next_batch()
                    except StopIteration:
                        return
                    if skip >= record_batch.num_rows:
                        skip -= record_batch.num_rows
                        continue
                    record_batch, skip = record_batch.slice(skip), 0
                    yield self._to_batch(record_batch, matrix, vectors, first_row + done)
                    done += record_batch.num_rows
            except (pa.ArrowException, OSError) as error:
                if _straddles(error) and block < _MAX_BLOCK_BYTES:
                    block *= 4
                    continue
                raise self._error(error, first_row, header) from error

    def _to_batch(
        self, record_batch: pa.RecordBatch, matrix: Sequence[str], vectors: Sequence[str], first_row: int
    ) -> Batch:
        """A parsed batch as a :class:`Batch`, with an error at the first blank line inside
        the data (those the file ends with were left out).

        pyarrow reads a blank line as a row with no values. A row of a batch holding every
        column of the file with none is looked for only where the first column has a null
        (its count is known), so other batches cost nothing more; its line is then read
        again to tell a blank line from one of missing values. In a one-column file an
        empty field is an empty line, and stays a missing value.
        """
        width = len(self.columns)
        if record_batch.column(0).null_count and record_batch.num_columns == width > 1:
            import pyarrow.compute as pc  # only where a value is missing: it costs start-up time

            empty = None
            for array in record_batch.columns:
                none = array.is_null()
                if pa.types.is_string(array.type):
                    none = pc.or_(none, pc.equal(array, ""))
                empty = none if empty is None else pc.and_(empty, none)
            row = pc.index(empty, True).as_py()
            if row >= 0 and self._blank(first_row + row + 2):
                raise InfoCliError(
                    f"blank line; expected {len(self.columns)} field{'s' * (len(self.columns) > 1)}",
                    path=self.path,
                    line=first_row + row + 2,  # the header, then a line per row
                    hint="Remove the blank lines inside the data",
                )
        return to_batch(record_batch, matrix, vectors, self.path, first_row)

    def _blank(self, line: int) -> bool:
        """Whether the 1-based ``line`` of the file is empty (read again: an error path)."""
        number, rest = 1, b""
        with self._stream() as stream:
            while chunk := stream.read(_BLOCK_BYTES):
                *lines, rest = (rest + chunk).split(b"\n")
                if number + len(lines) > line:
                    return lines[line - number].rstrip(b"\r") == b""
                number += len(lines)
        return number == line and rest.rstrip(b"\r") == b""

    def _segments(self, least: int) -> tuple[int, list[tuple[int, int]]]:
        """The header line's bytes, and byte ranges of the file cut at line ends about
        :data:`SEGMENT_BYTES` apart (at least ``least``), the first holding the header; the
        blank lines the file ends with are left out. One range for a compressed file or
        one too short to share."""
        if self._end is None:
            return 0, [(0, -1)]
        size = self._end
        step = max(SEGMENT_BYTES, least)
        ranges, start = [], 0
        with open(self._source, "rb") as file:
            header = len(file.readline())
            cut = header + step
            while cut < size:
                file.seek(cut - 1)
                stop = cut - 1 + len(file.readline())  # just past the line end at or after cut - 1
                if stop >= size:
                    break
                ranges.append((start, stop))
                start, cut = stop, stop + step
        ranges.append((start, size))
        return header, ranges


def _straddles(error: Exception) -> bool:
    """Whether pyarrow failed because a row is longer than its block."""
    return "straddling" in str(error) or "block size" in str(error)


_UTF8_HINT = "Save the file as UTF-8, e.g. iconv -f cp1252 -t utf-8 IN > OUT"


def _encoding_error(
    path: str,
    text: bytes,
    error: UnicodeDecodeError,
    *,
    line: int | None = None,
    row: int | None = None,
    column: str | None = None,
) -> InfoCliError:
    """The error for text that is not UTF-8: the first bad byte and where it is."""
    where = "the header" if column is None else f"column {column!r}"
    bad = text[error.start : error.end]
    return InfoCliError(
        f"{where} is not UTF-8 text: byte {bad[:1].hex(' ')!s} at offset {error.start} "
        f"({text[max(0, error.start - 10) : error.start + 10]!r}; {error.reason})",
        path=path,
        line=line,
        row=row,
        hint=_UTF8_HINT,
    )


class _Trimmed:
    """A stream without the blank lines it ends with (``\n`` or ``\r\n``), as pandas
    and pyarrow's own readers skip them. Only line ends at the end are held back."""

    def __init__(self, stream: pa.NativeFile) -> None:
        self._stream = stream
        self._held = b""
        self.closed = False

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        while True:
            data = self._stream.read(n if n is not None and n >= 0 else None)
            if not data:
                return b""  # the end: line ends held back are dropped
            data = self._held + data
            kept = data.rstrip(b"\r\n")
            self._held = data[len(kept) :]
            if kept:
                return kept

    def close(self) -> None:
        self.closed = True
        self._stream.close()

    def __enter__(self) -> _Trimmed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
