"""Unit tests of ``infocli.readers``: tables, batches, row alignment, read-ahead, class names.

Files are written with the ``files`` fixture (``conftest.py``) or directly with pyarrow/NumPy;
every expectation is the array that was written.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from infocli.errors import InfoCliError
from infocli.metrics.inputs import as_float
from infocli.readers import Batch, aligned, class_codes, file_format, open_table, prefetch
from infocli.readers import csv as csv_reader
from infocli.readers.arrow import ArrowColumns

N_ROWS = 53  # not a multiple of any batch size used below
N_CLASSES = 3
TABLE_FORMATS = ["csv", "tsv", "csv.gz", "tsv.gz", "parquet", "pq", "npy-structured"]
MATRIX_FORMATS = [*TABLE_FORMATS, "npy", "parquet-list", "parquet-fixed-list"]


@pytest.fixture
def matrix(rng: np.random.Generator) -> np.ndarray:
    """(N, C) float64 normal values: full mantissas, so any rounding on the way in shows."""
    return rng.normal(0.0, 1.0, (N_ROWS, N_CLASSES))


def _matrix_names(fmt: str) -> list[str]:
    """What to pass as ``matrix`` to read the predictions written by ``files.preds``."""
    if fmt == "npy":
        return [""]
    if fmt.startswith("parquet-"):
        return ["scores"]
    return ["c0", "c1", "c2"]


def _read_all(path: str, matrix: list[str], vectors: list[str], rows: int) -> list[Batch]:
    with open_table(path) as table:
        return list(table.batches(matrix, vectors, rows))


def _check_cover(batches: list[Batch], n_rows: int) -> None:
    """Batches start at row 0, follow each other without gap or overlap, and end at n_rows."""
    expected_first = 0
    for batch in batches:
        assert batch.first_row == expected_first
        assert batch.n_rows > 0
        if batch.matrix is not None:
            assert batch.matrix.shape[0] == batch.n_rows
        for values in batch.vectors.values():
            assert len(values) == batch.n_rows
        expected_first += batch.n_rows
    assert expected_first == n_rows


# ----------------------------------------------------------------------------- batches


@pytest.mark.parametrize("rows", [1, 7, 10_000])
@pytest.mark.parametrize("fmt", MATRIX_FORMATS)
def test_batches_cover_every_row_once_and_the_matrix_equals_the_written_array(files, matrix, fmt, rows):
    path = files.preds(matrix, fmt)
    batches = _read_all(path, _matrix_names(fmt), [], rows)
    _check_cover(batches, N_ROWS)
    if not fmt.startswith(("csv", "tsv")):  # CSV batches are blocks of bytes; the caller cuts them
        assert all(b.n_rows <= rows for b in batches)
    got = np.concatenate([b.matrix for b in batches])
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, matrix)


@pytest.mark.parametrize("fmt", TABLE_FORMATS)
def test_batches_return_requested_columns_in_the_requested_order_and_vectors(files, matrix, fmt):
    labels = np.arange(N_ROWS) % N_CLASSES
    path = files.preds(matrix, fmt, extra={"label": labels})
    batches = _read_all(path, ["c2", "c0"], ["label", "c1"], 10)
    _check_cover(batches, N_ROWS)
    np.testing.assert_array_equal(np.concatenate([b.matrix for b in batches]), matrix[:, [2, 0]])
    np.testing.assert_array_equal(np.concatenate([b.vectors["c1"] for b in batches]), matrix[:, 1])
    got_labels = np.concatenate([np.asarray(b.vectors["label"]) for b in batches])
    np.testing.assert_array_equal(got_labels, labels)


@pytest.mark.parametrize("fmt", ["parquet", "parquet-list", "parquet-fixed-list", "npy", "npy-structured"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_dtype_is_preserved(files, matrix, fmt, dtype):
    values = matrix.astype(dtype)
    batches = _read_all(files.preds(values, fmt), _matrix_names(fmt), [], 20)
    got = np.concatenate([b.matrix for b in batches])
    assert all(b.matrix.dtype == dtype for b in batches)
    np.testing.assert_array_equal(got, values)


@pytest.mark.parametrize("fmt", ["parquet", "parquet-list", "parquet-fixed-list", "npy", "npy-structured"])
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int16, np.uint8])
def test_integer_values_are_read_exactly_for_the_metrics_to_widen(files, rng, fmt, dtype):
    """Readers hand integers over as the file stores them; the metrics core widens them to
    float64 (``as_float``, tested in test_metrics.py)."""
    values = rng.integers(0, 100, (N_ROWS, N_CLASSES)).astype(dtype)
    batches = _read_all(files.preds(values, fmt), _matrix_names(fmt), [], 20)
    got = np.concatenate([b.matrix for b in batches])
    assert got.dtype.kind in "iu"
    np.testing.assert_array_equal(got, values)
    assert as_float(got).dtype == np.float64


def test_float16_npy_is_read_exactly_for_the_metrics_to_widen(files, matrix):
    values = matrix.astype(np.float16)
    batches = _read_all(files.npy(values), [""], [], 20)
    got = np.concatenate([b.matrix for b in batches])
    np.testing.assert_array_equal(got, values)
    assert as_float(got).dtype == np.float32
    np.testing.assert_array_equal(as_float(got), values.astype(np.float32))


@pytest.mark.parametrize("fmt", ["csv", "tsv.gz"])
def test_csv_numbers_are_read_as_float64_even_when_written_from_float32(files, matrix, fmt):
    values = matrix.astype(np.float32)
    batches = _read_all(files.preds(values, fmt), ["c0", "c1", "c2"], [], 20)
    got = np.concatenate([b.matrix for b in batches])
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, values.astype(np.float64), rtol=1e-7)


def test_big_endian_npy_is_read_in_native_byte_order(files, matrix):
    batches = _read_all(files.npy(matrix.astype(">f8")), [""], [], 20)
    got = np.concatenate([b.matrix for b in batches])
    assert got.dtype.isnative
    np.testing.assert_array_equal(got, matrix)


@pytest.mark.parametrize("order", ["C", "F"])
def test_npy_rows_are_writable_views_whose_writes_never_reach_the_file(files, matrix, order):
    # writable, so that NumPy's argmax does not copy them first; copy-on-write, so the file is safe
    path = files.npy(np.asarray(matrix, order=order))
    with open_table(path) as table:
        for batch in table.batches([""], [], 20):
            assert batch.matrix is not None and batch.matrix.flags.writeable
            batch.matrix[:] = -1.0
    np.testing.assert_array_equal(np.load(path), matrix)


@pytest.mark.parametrize(("rows", "runs"), [(7, 6), (25, 2), (1_000, 1)])
def test_parquet_reads_runs_of_row_groups_through_buffers(tmp_path, matrix, monkeypatch, rows, runs):
    """Row groups of 10 rows are read in runs of at least ``rows`` rows: 6 runs of one group,
    2 runs (of 3 groups, then the last 23 rows), or one run; batches end where runs end.
    Nothing is memory-mapped (a truncation would be a SIGBUS)."""
    path = str(tmp_path / "groups.parquet")
    pq.write_table(pa.table({f"c{i}": matrix[:, i] for i in range(N_CLASSES)}), path, row_group_size=10)
    monkeypatch.setattr(pa, "memory_map", lambda *args: pytest.fail("memory-mapped"))
    batches = _read_all(path, ["c0", "c1", "c2"], [], rows)
    run_rows = 10 * -(-rows // 10)  # whole row groups of 10 rows
    run_ends = {min(end, N_ROWS) for end in range(run_rows, N_ROWS + run_rows, run_rows)}
    assert len(run_ends) == runs
    assert run_ends <= {b.first_row + b.n_rows for b in batches}
    _check_cover(batches, N_ROWS)
    assert all(b.n_rows <= rows for b in batches)
    np.testing.assert_array_equal(np.concatenate([b.matrix for b in batches]), matrix)


@pytest.fixture
def small_segments(monkeypatch) -> list[int]:
    """CSV segments of a few lines, so that short files are parsed on several threads; the
    list collects the start of every segment given to a parser of its own."""
    monkeypatch.setattr(csv_reader, "_BLOCK_BYTES", 64)
    monkeypatch.setattr(csv_reader, "SEGMENT_BYTES", 300)
    starts: list[int] = []
    segments = csv_reader.CsvTable._segments

    def spy(self, least):
        ranges = segments(self, least)
        starts.extend(start for start, _ in ranges[1])
        return ranges

    monkeypatch.setattr(csv_reader.CsvTable, "_segments", spy)
    return starts


def _csv_text(matrix: np.ndarray, labels: list[str], sep: str, end: str, last_end: bool) -> str:
    lines = [sep.join(["c0", "c1", "c2", "name"])]
    lines += [
        sep.join([*(repr(float(v)) for v in row), label]) for row, label in zip(matrix, labels, strict=True)
    ]
    return end.join(lines) + (end if last_end else "")


@pytest.mark.parametrize("last_end", [True, False])
@pytest.mark.parametrize("end", ["\n", "\r\n"])
@pytest.mark.parametrize("suffix", ["csv", "tsv"])
def test_csv_segments_parse_as_the_whole_file(tmp_path, matrix, small_segments, suffix, end, last_end):
    labels = [f"class{i % 3}" for i in range(N_ROWS)]
    sep = "\t" if suffix == "tsv" else ","
    path = tmp_path / f"segments.{suffix}"
    path.write_bytes(_csv_text(matrix, labels, sep, end, last_end).encode())
    batches = _read_all(str(path), ["c0", "c1", "c2"], ["name"], 10)
    assert len(small_segments) > 3, "the file should be cut into several segments"
    _check_cover(batches, N_ROWS)
    np.testing.assert_array_equal(np.concatenate([b.matrix for b in batches]), matrix)
    names = [str(v) for b in batches for v in b.vectors["name"].to_pylist()]
    assert names == labels


@pytest.mark.parametrize("quoted_row", [None, 0, 40])
def test_csv_with_quotes_in_values_is_parsed_by_one_parser_from_the_first_quoted_segment(
    tmp_path, matrix, small_segments, monkeypatch, quoted_row
):
    """A quoted value might hold a line end that a cut would split: from the first segment
    holding a quote on, one parser reads the rest. Quotes in the header do not count."""
    serial_from: list[int] = []  # the first row of each stretch read by one parser
    to_batches = csv_reader.CsvTable._to_batches

    def spy(self, reader, matrix, vectors, first_row=0, lines_before=0):
        serial_from.append(first_row)
        return to_batches(self, reader, matrix, vectors, first_row, lines_before)

    monkeypatch.setattr(csv_reader.CsvTable, "_to_batches", spy)
    labels = [f"class{i % 3}" for i in range(N_ROWS)]
    if quoted_row is not None:
        labels[quoted_row] = '"two, words"'
    text = _csv_text(matrix, labels, ",", "\n", True).replace("c0,c1,c2,name", '"c0","c1","c2","name"')
    path = tmp_path / "quoted.csv"
    path.write_text(text)
    batches = _read_all(str(path), ["c0", "c1", "c2"], ["name"], 10)
    _check_cover(batches, N_ROWS)
    np.testing.assert_array_equal(np.concatenate([b.matrix for b in batches]), matrix)
    expected = [label.strip('"') for label in labels]
    assert [v for b in batches for v in b.vectors["name"].to_pylist()] == expected
    if quoted_row is None:
        assert serial_from == []
    else:
        assert len(serial_from) == 1 and serial_from[0] <= quoted_row
        assert (serial_from[0] > 0) == (quoted_row > 0)


@pytest.mark.parametrize("end", ["\n", "\r\n"])
def test_csv_line_numbers_in_later_segments_count_blank_lines(tmp_path, small_segments, end):
    """A blank line inside the data is an error at its line, before a later bad line."""
    good = "0.2,0.3,0.5\n"
    text = "a,b,c\n" + good * 100 + "\n" + good * 100 + "0.2,0.8\n" + good
    path = tmp_path / "blank.csv"
    path.write_bytes(text.replace("\n", end).encode())
    with pytest.raises(InfoCliError) as info:
        _read_all(str(path), ["a", "b", "c"], [], 10)
    assert len(small_segments) > 3
    assert info.value.line == 102
    assert "blank line; expected 3 fields" in info.value.message


def test_gzipped_csv_is_parsed_by_one_parser(tmp_path, matrix, small_segments):
    path = tmp_path / "whole.csv.gz"
    path.write_bytes(gzip.compress(_csv_text(matrix, ["a"] * N_ROWS, ",", "\n", True).encode()))
    batches = _read_all(str(path), ["c0", "c1", "c2"], [], 10)
    assert small_segments == [0], "one range, for one parser"
    np.testing.assert_array_equal(np.concatenate([b.matrix for b in batches]), matrix)


def test_1d_npy_is_one_unnamed_number_column(files, matrix):
    scores = matrix[:, 0]
    path = files.npy(scores)
    with open_table(path) as table:
        assert [(c.name, c.kind) for c in table.columns] == [("", "number")]
        assert table.n_rows == N_ROWS
        batches = list(table.batches([], [""], 8))
    _check_cover(batches, N_ROWS)
    np.testing.assert_array_equal(np.concatenate([b.vectors[""] for b in batches]), scores)


# ------------------------------------------------------------------------ columns, n_rows


@pytest.mark.parametrize(
    ("fmt", "n_rows_known"),
    [("csv", False), ("tsv", False), ("csv.gz", False), ("parquet", True), ("npy-structured", True)],
)
def test_columns_are_listed_in_file_order_with_their_kinds(files, matrix, fmt, n_rows_known):
    names = np.array(["cat", "dog", "bird"])[np.arange(N_ROWS) % 3]
    path = files.preds(matrix, fmt, columns=["b", "a", "c"], extra={"label": names, "idx": np.arange(N_ROWS)})
    with open_table(path) as table:
        assert [c.name for c in table.columns] == ["b", "a", "c", "label", "idx"]
        assert [c.kind for c in table.columns] == ["number", "number", "number", "string", "number"]
        assert table.n_rows == (N_ROWS if n_rows_known else None)
        assert sum(b.n_rows for b in table.batches([], ["idx"], 7)) == N_ROWS
        assert table.column("label").kind == "string"
        assert table.column("missing") is None


def test_2d_npy_is_one_unnamed_list_column_with_its_width(files, matrix):
    with open_table(files.npy(matrix)) as table:
        assert len(table.columns) == 1
        column = table.columns[0]
        assert (column.name, column.kind, column.width) == ("", "list", N_CLASSES)
        assert table.n_rows == N_ROWS
        assert table.format == "npy"


@pytest.mark.parametrize(("fmt", "width"), [("parquet-list", None), ("parquet-fixed-list", N_CLASSES)])
def test_parquet_list_columns_are_list_columns(files, matrix, fmt, width):
    path = files.preds(matrix.astype(np.float32), fmt, extra={"label": np.arange(N_ROWS) % N_CLASSES})
    with open_table(path) as table:
        scores = table.column("scores")
        assert (scores.kind, scores.width) == ("list", width)
        assert table.column("label").kind == "number"
        batches = list(table.batches(["scores"], ["label"], 9))
    _check_cover(batches, N_ROWS)
    got = np.concatenate([b.matrix for b in batches])
    assert got.dtype == np.float32 and got.shape == (N_ROWS, N_CLASSES)
    np.testing.assert_array_equal(got, matrix.astype(np.float32))


def test_structured_npy_fields_are_columns_and_subarray_fields_are_list_columns(files, matrix):
    names = np.array(["x", "y", "z"])[np.arange(N_ROWS) % 3]
    path = files.table({"p": matrix.astype(np.float32), "w": matrix[:, 0], "label": names}, "npy-structured")
    with open_table(path) as table:
        assert [(c.name, c.kind, c.width) for c in table.columns] == [
            ("p", "list", N_CLASSES),
            ("w", "number", None),
            ("label", "string", None),
        ]
        batches = list(table.batches(["p"], ["label", "w"], 11))
    _check_cover(batches, N_ROWS)
    got = np.concatenate([b.matrix for b in batches])
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, matrix.astype(np.float32))
    labels = np.concatenate([b.vectors["label"] for b in batches])
    assert isinstance(labels, np.ndarray)
    np.testing.assert_array_equal(labels, names)
    np.testing.assert_array_equal(class_codes(labels, ["x", "y", "z"]), np.arange(N_ROWS) % 3)


def test_structured_npy_matrix_of_mixed_float_fields(files, matrix):
    fields = {"a": matrix[:, 0].astype(np.float32), "b": matrix[:, 1].astype(np.float32)}
    path = files.table(fields, "npy-structured")
    got = np.concatenate([b.matrix for b in _read_all(path, ["b", "a"], [], 20)])
    np.testing.assert_array_equal(got, np.column_stack([fields["b"], fields["a"]]))
    assert got.dtype == np.float32


# --------------------------------------------------------------------- string vectors


@pytest.mark.parametrize("fmt", ["csv", "tsv.gz", "parquet"])
def test_string_vectors_map_to_class_codes(files, matrix, fmt):
    classes = ["cat", "dog", "bird"]
    codes = np.arange(N_ROWS) % 3
    names = np.array(classes)[codes]
    path = files.preds(matrix, fmt, extra={"label": names})
    batches = _read_all(path, [], ["label"], 5)
    _check_cover(batches, N_ROWS)
    got = np.concatenate([class_codes(b.vectors["label"], classes) for b in batches])
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, codes)


def test_class_codes_marks_unknown_names_with_minus_one():
    values = pa.array(["b", "a", "zebra", "c", "a"])
    np.testing.assert_array_equal(class_codes(values, ["a", "b", "c"]), [1, 0, -1, 2, 0])
    np.testing.assert_array_equal(class_codes(np.array(["c", "nope"]), ["a", "b", "c"]), [2, -1])


@pytest.mark.parametrize("encode", [False, True], ids=["string", "dictionary"])
def test_class_codes_of_a_sliced_arrow_array_use_the_slice(encode):
    values = pa.array(["b", "a", "c", "a", "b", "c", "c"])
    if encode:
        values = values.dictionary_encode()
    np.testing.assert_array_equal(class_codes(values.slice(2, 4), ["a", "b", "c"]), [2, 0, 1, 2])


def test_dictionary_encoded_parquet_labels_map_to_class_codes(tmp_path):
    path = str(tmp_path / "labels.parquet")
    names = ["dog", "cat", "cat", "bird", "dog"] * 5
    pq.write_table(pa.table({"label": pa.array(names).dictionary_encode()}), path)
    with open_table(path) as table:
        assert table.column("label").kind == "string"
        batches = list(table.batches([], ["label"], 3))
    got = np.concatenate([class_codes(b.vectors["label"], ["cat", "dog", "bird"]) for b in batches])
    np.testing.assert_array_equal(got, [{"cat": 0, "dog": 1, "bird": 2}[n] for n in names])


def test_boolean_vectors_come_back_as_numpy_booleans(tmp_path):
    path = str(tmp_path / "flags.parquet")
    flags = np.arange(N_ROWS) % 3 == 0
    pq.write_table(pa.table({"flag": flags}), path)
    batches = _read_all(path, [], ["flag"], 10)
    got = np.concatenate([b.vectors["flag"] for b in batches])
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got, flags)


# ---------------------------------------------------------------------------- aligned


def _ids(batch: Batch) -> np.ndarray:
    return np.asarray(batch.vectors["id"])


@pytest.mark.parametrize(
    ("fmt_a", "rows_a", "fmt_b", "rows_b", "rows"),
    [
        ("parquet", 5, "parquet", 3, 4),
        ("npy-structured", 11, "csv", 2, 6),
        ("csv.gz", 1000, "npy-structured", 1, 1000),
        ("parquet", 1, "npy-structured", 17, 2),
    ],
)
def test_aligned_pairs_rows_from_batches_of_different_sizes(
    files, matrix, fmt_a, rows_a, fmt_b, rows_b, rows
):
    ids = np.arange(N_ROWS)
    path_a = files.preds(matrix, fmt_a, extra={"id": ids})
    path_b = files.table({"id": ids, "label": ids % N_CLASSES}, fmt_b)
    with open_table(path_a) as a, open_table(path_b) as b:
        pairs = list(
            aligned(
                a,
                a.batches(["c0", "c1", "c2"], ["id"], rows_a),
                b,
                b.batches([], ["id", "label"], rows_b),
                rows,
            )
        )
    _check_cover([x for x, _ in pairs], N_ROWS)
    _check_cover([y for _, y in pairs], N_ROWS)
    for x, y in pairs:
        assert (x.first_row, x.n_rows) == (y.first_row, y.n_rows)
        assert x.n_rows <= rows
        np.testing.assert_array_equal(_ids(x), np.arange(x.first_row, x.first_row + x.n_rows))
        np.testing.assert_array_equal(_ids(y), _ids(x))
        np.testing.assert_array_equal(x.matrix, matrix[x.first_row : x.first_row + x.n_rows])
        np.testing.assert_array_equal(y.vectors["label"], _ids(x) % N_CLASSES)


@pytest.mark.parametrize(
    ("fmt_b", "rows_b"), [("parquet", 3), ("csv", 7), ("npy-structured", 1), ("parquet", 64)]
)
def test_a_file_of_single_columns_in_other_blocks_does_not_cut_the_first_files_chunks(
    files, matrix, fmt_b, rows_b
):
    # Labels or groups stored in other blocks join their next batch: the chunks are the
    # predictions' own, whatever the second file's batches.
    ids = np.arange(N_ROWS)
    path_a = files.preds(matrix, "parquet", extra={"id": ids})
    names = np.array(["north", "south, east", "wést"])[ids % 3]
    path_b = files.table({"id": ids, "name": names}, fmt_b)
    with open_table(path_a) as a, open_table(path_b) as b:
        firsts = [x.n_rows for x in a.batches(["c0"], ["id"], 10)]
        pairs = list(aligned(a, a.batches(["c0"], ["id"], 10), b, b.batches([], ["id", "name"], rows_b), 4))
    expected = [min(4, size - start) for size in firsts for start in range(0, size, 4)]
    assert [x.n_rows for x, _ in pairs] == expected
    for x, y in pairs:
        assert (x.first_row, x.n_rows) == (y.first_row, y.n_rows)
        np.testing.assert_array_equal(_ids(y), _ids(x))
        got = y.vectors["name"]
        got = got.to_pylist() if hasattr(got, "to_pylist") else list(got)
        assert got == names[x.first_row : x.first_row + x.n_rows].tolist()


def test_joined_batches_unite_arrow_dictionaries_and_numpy_columns():
    from infocli.readers.table import joined

    a = Batch(10, 2, None, {"k": pa.array(["x", "y"]).dictionary_encode(), "v": np.array([1, 2])})
    b = Batch(12, 3, None, {"k": pa.array(["z", "x", "z"]).dictionary_encode(), "v": np.array([3, 4, 5])})
    both = joined([a, b])
    assert (both.first_row, both.n_rows) == (10, 5)
    assert both.vectors["k"].to_pylist() == ["x", "y", "z", "x", "z"]
    np.testing.assert_array_equal(both.vectors["v"], [1, 2, 3, 4, 5])


@pytest.mark.parametrize("fmt", ["csv", "parquet", "npy"])
def test_aligned_without_a_second_file_cuts_batches_to_at_most_rows(files, matrix, fmt):
    with open_table(files.preds(matrix, fmt)) as table:
        pairs = list(aligned(table, table.batches(_matrix_names(fmt), [], 10_000), None, None, 6))
    assert all(second is None for _, second in pairs)
    batches = [first for first, _ in pairs]
    _check_cover(batches, N_ROWS)
    assert all(b.n_rows <= 6 for b in batches)
    np.testing.assert_array_equal(np.concatenate([b.matrix for b in batches]), matrix)


@pytest.mark.parametrize("short_first", [True, False])
def test_aligned_raises_naming_both_files_when_one_ends_first(files, matrix, short_first):
    long_path = files.preds(matrix, "parquet")
    short_path = files.preds(matrix[:40], "csv")
    first, second = (short_path, long_path) if short_first else (long_path, short_path)
    with open_table(first) as a, open_table(second) as b, pytest.raises(InfoCliError) as info:
        for _ in aligned(a, a.batches(["c0"], [], 7), b, b.batches(["c1"], [], 5), 6):
            pass
    message = str(info.value)
    assert short_path in message and long_path in message
    counts = message.replace(short_path, "").replace(long_path, "")
    assert re.search(r"\b40\b", counts) and re.search(rf"\b{N_ROWS}\b", counts), message


def test_batch_slice_shifts_first_row_and_cuts_every_array():
    batch = Batch(100, 5, np.arange(10.0).reshape(5, 2), {"y": np.arange(5), "s": pa.array(list("abcde"))})
    part = batch.slice(1, 4)
    assert (part.first_row, part.n_rows) == (101, 3)
    np.testing.assert_array_equal(part.matrix, [[2, 3], [4, 5], [6, 7]])
    np.testing.assert_array_equal(part.vectors["y"], [1, 2, 3])
    assert part.vectors["s"].to_pylist() == ["b", "c", "d"]


# --------------------------------------------------------------------------- prefetch


def test_prefetch_yields_every_item_in_order():
    assert list(prefetch(iter(range(500)), depth=3)) == list(range(500))


def test_prefetch_of_an_empty_iterator_yields_nothing():
    assert list(prefetch(iter([]))) == []


class Boom(Exception):
    pass


def _fails_after(n: int, error: BaseException) -> Iterator[int]:
    yield from range(n)
    raise error


@pytest.mark.parametrize("n_before", [0, 1, 5])
def test_prefetch_raises_the_producers_exception_after_the_items_before_it(n_before):
    error = Boom("mid-iteration")
    received = []
    with pytest.raises(Boom) as info:
        for item in prefetch(_fails_after(n_before, error), depth=2):
            received.append(item)
    assert info.value is error
    assert received == list(range(n_before))


def _reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "infocli-reader"]


def test_prefetch_stops_its_thread_when_the_consumer_stops_early():
    def endless() -> Iterator[int]:
        n = 0
        while True:
            yield n
            n += 1

    before = set(_reader_threads())
    stream = prefetch(endless(), depth=2)
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    assert set(_reader_threads()) - before, "the reader thread should be running"
    stream.close()  # the consumer abandons the iteration
    assert not set(_reader_threads()) - before


def test_prefetch_reads_at_most_depth_items_ahead():
    produced = []

    def counting() -> Iterator[int]:
        for i in range(50):
            produced.append(i)
            yield i

    depth = 2
    stream = prefetch(counting(), depth=depth)
    assert next(stream) == 0
    time.sleep(0.2)  # let the reader run as far ahead as it may
    # one taken, and at most ``depth`` read ahead of it
    assert len(produced) == 1 + depth
    assert list(stream) == list(range(1, 50))


def _csv_with_a_bad_value_in_a_later_block(folder, bad_row: int = 180_000) -> str:
    """A CSV of more than one parse block (at least 1 MiB each) whose column b holds 'oops' at bad_row."""
    lines = ["0.25,0.75\n"] * 200_000
    lines[bad_row] = "0.25,oops\n"
    path = folder / "big.csv"
    path.write_text("a,b\n" + "".join(lines))
    return str(path)


def test_prefetch_hands_on_a_reader_error_raised_after_the_first_batch(tmp_path):
    path = _csv_with_a_bad_value_in_a_later_block(tmp_path)
    received = []
    with open_table(path) as table, pytest.raises(InfoCliError) as info:
        for batch in prefetch(table.batches(["a", "b"], [], 10_000)):
            received.append(batch)
    assert received, "the batches before the bad block should arrive first"
    _check_cover(received, sum(b.n_rows for b in received))
    assert sum(b.n_rows for b in received) <= 180_000
    assert "oops" in str(info.value)


# ------------------------------------------------------------------- formats and stdin


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.csv", "csv"),
        ("a.CSV", "csv"),
        ("a.csv.gz", "csv"),
        ("a.CSV.GZ", "csv"),
        ("a.tsv", "tsv"),
        ("a.Tsv.Gz", "tsv"),
        ("a.parquet", "parquet"),
        ("a.PARQUET", "parquet"),
        ("a.pq", "parquet"),
        ("a.Pq", "parquet"),
        ("a.npy", "npy"),
        ("a.NPY", "npy"),
        ("dir.v2/a.b.csv", "csv"),
    ],
)
def test_file_format_is_recognised_case_insensitively(name, fmt):
    assert file_format(name) == fmt


@pytest.mark.parametrize("name", ["a.json", "a.csv.bz2", "a", "a.npy.gz"])
def test_file_format_rejects_unsupported_extensions(name):
    with pytest.raises(InfoCliError):
        file_format(name)


@pytest.mark.parametrize("name", ["m.csv.gz", "m.CSV.GZ", "m.Csv.Gz", "m.TSV.GZ"])
def test_open_table_reads_gzipped_text_whatever_the_case_of_the_extension(tmp_path, matrix, name):
    delimiter = "\t" if name.lower().startswith("m.tsv") else ","
    text = delimiter.join(["c0", "c1", "c2"]) + "\n"
    text += "".join(delimiter.join(repr(float(v)) for v in row) + "\n" for row in matrix)
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode()))
    try:
        batches = _read_all(str(path), ["c0", "c1", "c2"], [], 100)
    except Exception as error:  # report the failure as a test failure, with what went wrong
        pytest.fail(f"{name}: {type(error).__name__}: {error}")
    np.testing.assert_array_equal(np.concatenate([b.matrix for b in batches]), matrix)


class _Stdin(io.TextIOWrapper):
    def isatty(self) -> bool:
        return False


@pytest.mark.parametrize("compressed", [False, True])
def test_open_table_reads_csv_from_stdin_and_removes_the_spooled_copy(
    monkeypatch, tmp_path, matrix, compressed
):
    text = "c0,c1,c2\n" + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in matrix)
    data = gzip.compress(text.encode()) if compressed else text.encode()
    monkeypatch.setattr(sys, "stdin", _Stdin(io.BytesIO(data)))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the spooled copy goes
    with open_table("-", stdin_format="csv") as table:
        assert table.path == "-"
        assert len(list(tmp_path.glob("infocli-stdin-*"))) == 1
        batches = list(table.batches(["c0", "c1", "c2"], [], 100))
    assert list(tmp_path.glob("infocli-stdin-*")) == []
    np.testing.assert_array_equal(np.concatenate([b.matrix for b in batches]), matrix)


def test_open_table_reports_the_path_as_given_and_the_format(files, matrix):
    path = files.preds(matrix, "pq")
    with open_table(path) as table:
        assert (table.path, table.format) == (path, "parquet")


@pytest.mark.parametrize("chosen", [None, "system"])
def test_arrow_memory_comes_from_jemalloc_unless_the_user_chose_a_pool(chosen):
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if chosen:
        env["ARROW_DEFAULT_MEMORY_POOL"] = chosen
    code = "import pyarrow as pa, infocli.readers.arrow; print(pa.default_memory_pool().backend_name)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    expected = chosen or (
        "jemalloc" if "jemalloc" in pa.supported_memory_backends() else pa.default_memory_pool().backend_name
    )
    assert out.stdout.strip() == expected
    assert out.stderr == ""


def test_arrow_columns_convert_when_used_and_slices_equal_slices_of_the_whole():
    table = pa.record_batch(
        {"a": pa.array([1.5, None, 3.0, 4.0], pa.float32()), "b": pa.array([1, 2, None, 4], pa.int16())}
    )
    batch = Batch(10, 4, ArrowColumns(table))
    part = batch.slice(1, 3)
    assert isinstance(part.source, ArrowColumns) and part.width == 2  # not converted yet
    whole = batch.matrix
    assert whole is not None and whole.dtype == np.float64  # NaN for a missing integer
    np.testing.assert_array_equal(part.matrix, whole[1:3])
    np.testing.assert_array_equal(whole, [[1.5, 1], [np.nan, 2], [3, np.nan], [4, 4]])
    assert part.first_row == 11 and part.n_rows == 2
    clean = Batch(0, 2, ArrowColumns(table.slice(3, 1)))
    assert clean.matrix is not None and clean.matrix.dtype == np.float32  # no nulls: as written
