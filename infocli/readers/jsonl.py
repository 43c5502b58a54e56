"""JSON Lines files (``.jsonl``, ``.ndjson``, and their ``.gz``), read with ``pyarrow.json``.

One JSON object a line; list-valued fields are rows of a list column (a prediction
vector), as Parquet list columns are. The columns and their types come from the first
block of lines; the prediction columns are then read as float64, so that a column whose
first values happen to be whole numbers takes the fractions that follow.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator, Sequence
from typing import IO, Any

import pyarrow as pa
import pyarrow.json as pajson

from infocli.errors import InfoCliError
from infocli.readers.arrow import coalesced, column_of, to_batch
from infocli.readers.table import Batch, Table

BLOCK_BYTES = 8 << 20
"""Bytes of text parsed at a time; the longest line a file may hold."""


class JsonLinesTable(Table):
    """A JSON Lines file, streamed a block of lines at a time.

    Args:
        source: The file to open (gzip where its name ends in ``.gz``).
        path: The file as the user named it.
    """

    format = "jsonl"

    def __init__(self, source: str, path: str) -> None:
        self.path = path
        self._source = source
        self._gzip = source.lower().endswith(".gz")
        reader = self._reader(None)
        try:
            self._schema = reader.schema
        finally:
            reader.close()
        self.columns = [column_of(field) for field in self._schema]
        self.n_rows = None

    def _reader(self, schema: pa.Schema | None) -> Any:
        """A streaming reader; with ``schema``, of those fields alone, typed so."""
        parse = pajson.ParseOptions()
        if schema is not None:
            parse = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
        stream = pa.OSFile(os.fsencode(self._source))  # bytes: the name need not be UTF-8
        if self._gzip:
            stream = pa.CompressedInputStream(stream, "gzip")
        try:
            return pajson.open_json(
                stream, read_options=pajson.ReadOptions(block_size=BLOCK_BYTES), parse_options=parse
            )
        except (pa.ArrowException, OSError) as error:
            stream.close()
            raise self._error(error) from error

    def _typed(self, matrix: Sequence[str], vectors: Sequence[str]) -> pa.Schema:
        """The requested fields: prediction columns as float64 (lists of float64), the
        others as the first block has them (null as float64)."""
        fields = []
        for name in dict.fromkeys([*matrix, *vectors]):
            t = self._schema.field(name).type
            if name in matrix:
                t = pa.list_(pa.float64()) if pa.types.is_list(t) else pa.float64()
            elif pa.types.is_null(t):
                t = pa.float64()
            fields.append(pa.field(name, t))
        return pa.schema(fields)

    def batches(
        self, matrix: Sequence[str], vectors: Sequence[str], rows: int, *, keys: Sequence[str] = ()
    ) -> Iterator[Batch]:
        """Read the file through, in batches of about ``rows`` rows (see :meth:`Table.batches`)."""
        names = list(dict.fromkeys([*matrix, *vectors]))
        schema = self._typed(matrix, vectors)
        reader = self._reader(schema)
        first_row = 0
        try:
            record_batches = (b.select(names) if names else b for b in reader)
            for record_batch in coalesced(record_batches, rows):
                yield to_batch(record_batch, matrix, vectors, self.path, first_row)
                first_row += record_batch.num_rows
        except (pa.ArrowException, OSError) as error:
            raise self._error(error, schema) from error
        finally:
            reader.close()

    def _open_text(self) -> IO[bytes]:
        return gzip.open(self._source, "rb") if self._gzip else open(self._source, "rb")

    def _error(self, error: Exception, schema: pa.Schema | None = None) -> InfoCliError:
        """The error for a file pyarrow cannot read: at its first bad line where one is found."""
        text = " ".join(str(error).split())
        if "Empty JSON stream" in text:
            return InfoCliError(
                "no JSON lines (the file is empty)", path=self.path, hint="Write one JSON object a line"
            )
        try:
            found = self._first_bad_line(schema)
        except (OSError, EOFError, gzip.BadGzipFile) as bad:
            return InfoCliError(f"cannot be read ({bad})", path=self.path)
        if found is not None:
            line, what = found
            return InfoCliError(what, path=self.path, line=line, hint="Write one JSON object a line")
        return InfoCliError(
            f"not readable as JSON Lines ({text})", path=self.path, hint="Write one JSON object a line"
        )

    def _first_bad_line(self, schema: pa.Schema | None) -> tuple[int, str] | None:
        """The first line (1-based) that is no JSON object, is longer than a block, or
        holds a fraction in a field the first block read as integers; and what is wrong."""
        integers = [f.name for f in schema or () if pa.types.is_integer(f.type)]
        with self._open_text() as file:
            for number, line in enumerate(file, 1):
                if len(line) > BLOCK_BYTES:
                    return number, f"a line of {len(line):,} bytes; the longest line read is {BLOCK_BYTES:,}"
                if not line.strip():
                    continue
                try:
                    value = json.loads(line.rstrip(b"\r\n"))
                except json.JSONDecodeError as bad:
                    return number, f"malformed JSON: {bad.msg} at column {bad.colno}"
                except ValueError as bad:  # bytes that are not UTF-8
                    return number, f"malformed JSON ({bad})"
                if not isinstance(value, dict):
                    return number, f"expected a JSON object, got {type(value).__name__}"
                for name in integers:
                    field = value.get(name)
                    if field is not None and not (isinstance(field, int) and not isinstance(field, bool)):
                        return number, f"field {name!r} holds {field!r}; the lines before hold whole numbers"
        return None
