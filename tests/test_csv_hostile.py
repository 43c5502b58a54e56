"""CSV files that are odd: not UTF-8, with very long lines, bad cells anywhere, blank lines
at the end, and tables of very many columns (issue 14, "Files that change, lie or are odd")."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.special import rel_entr

import infocli
from infocli.readers import csv as csv_reader

from .cli_helpers import assert_bad_input, invoke, run_json

HEADER = "a,b,label\n"
ROW = "0.25,0.75,1\n"


@pytest.fixture
def small_segments(monkeypatch):
    """Segments of a few hundred bytes, so that short files are parsed in several."""
    monkeypatch.setattr(csv_reader, "_BLOCK_BYTES", 256)
    monkeypatch.setattr(csv_reader, "SEGMENT_BYTES", 1024)


def _write(path, text: str | bytes, gz: bool = False) -> str:
    data = text.encode() if isinstance(text, str) else text
    path.write_bytes(gzip.compress(data) if gz else data)
    return str(path)


def _n_samples(path: str) -> int:
    return run_json("eval", path)["n_samples"]


# Encodings and names


@pytest.mark.parametrize(
    "header",
    [
        "a,café,label\n",
        "café,b,label\n",
        "a,b,\N{LATIN SMALL LETTER E WITH ACUTE}t\N{LATIN SMALL LETTER E WITH ACUTE}\n",
    ],
)
def test_a_header_that_is_not_utf8_is_an_error_at_line_1(tmp_path, header):
    path = _write(tmp_path / "cp1252.csv", header.encode("cp1252") + ROW.encode())
    line = assert_bad_input(invoke("eval", path), path, "line 1:", "header is not UTF-8", "iconv")
    assert "0xe9" in line or "e9" in line


@pytest.mark.parametrize(("bad_row", "gz"), [(1, False), (70_000, False), (70_000, True)])
def test_a_cell_that_is_not_utf8_is_an_error_at_its_row(tmp_path, bad_row, gz):
    rows = [b"0.25,0.75,cat\n"] * 80_000
    rows[bad_row] = "0.25,0.75,café\n".encode("cp1252")
    path = _write(tmp_path / ("names.csv.gz" if gz else "names.csv"), b"a,b,label\n" + b"".join(rows), gz)
    assert_bad_input(invoke("eval", path), path, f"row {bad_row}:", "column 'label' is not UTF-8", "iconv")


def _run(*args: str | bytes) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(infocli.__file__))}
    env.pop("INFOCLI_FORMAT", None)
    return subprocess.run([sys.executable, "-m", "infocli", *args], capture_output=True, env=env, check=False)


def _write_named(directory, name: bytes, text: str) -> bytes:
    """Write ``text`` (comma-separated) under a bytes name, as a TSV or gzipped where it says."""
    if b".tsv" in name:
        text = text.replace(",", "\t")
    data = gzip.compress(text.encode()) if name.endswith(b".gz") else text.encode()
    path = os.path.join(os.fsencode(directory), name)
    with open(path, "wb") as file:
        file.write(data)
    return path


@pytest.mark.parametrize("name", [b"caf\xe9.csv", b"\xff\xfe.tsv.gz"])
def test_a_file_name_that_is_not_utf8_is_read_and_named(tmp_path, name):
    good = _write_named(tmp_path, name, HEADER + ROW * 3)
    done = _run("eval", good, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["n_samples"] == 3
    (tmp_path / "bad").mkdir()
    bad = _write_named(tmp_path / "bad", name, HEADER + ROW * 3 + "x,1,1\n")
    failed = _run("eval", bad)
    assert failed.returncode == 2
    shown = os.fsdecode(bad).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    assert "\\x" in shown
    assert failed.stderr.decode() == (
        f"infocli: error: {shown}: row 3: column 'a' holds 'x'; expected a number. "
        "Pass --pred-cols to choose the class columns.\n"
    )


# Long lines


def _probs(rng, n_rows: int, n_classes: int) -> np.ndarray:
    p = rng.random((n_rows, n_classes)) + 0.5
    return p / p.sum(axis=1, keepdims=True)


def _csv(p: np.ndarray, labels: np.ndarray) -> str:
    header = ",".join(f"c{i}" for i in range(p.shape[1])) + ",label\n"
    return header + "".join(
        ",".join(map(repr, row.tolist())) + f",{y}\n" for row, y in zip(p, labels, strict=True)
    )


def _expected_cross_entropy(p: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(-np.log(p[np.arange(len(labels)), labels])))


@pytest.mark.parametrize("gz", [False, True])
def test_2_mb_lines_are_read(tmp_path, gz):
    """A 100,000-class CSV has 1.9 MB lines; 20,000 values of 100 characters make lines as
    long (pyarrow alone takes seconds to type 100,000 columns)."""
    rng = np.random.default_rng(14)
    p, labels = _probs(rng, 3, 20_000), np.array([0, 19_999, 5])
    header = ",".join(f"c{i}" for i in range(20_000)) + ",label\n"
    text = header + "".join(
        ",".join(f"{v:.95f}" for v in row) + f",{y}\n" for row, y in zip(p, labels, strict=True)
    )
    assert len(text.splitlines()[1]) > 1_900_000
    path = _write(tmp_path / ("wide.csv.gz" if gz else "wide.csv"), text, gz)
    report = run_json("eval", path)
    assert report["n_samples"] == 3 and report["n_classes"] == 20_000
    np.testing.assert_allclose(
        report["metrics"]["cross_entropy"], _expected_cross_entropy(p, labels), rtol=1e-12
    )


@pytest.mark.parametrize("gz", [False, True])
def test_a_16_mb_line_far_into_the_file_is_read(tmp_path, gz, small_segments):
    """The blocks were sized by the first lines: a longer one later is parsed again with larger blocks."""
    rows = ["0.25,0.75,1,x\n"] * 3_000
    rows[2_500] = "0.25,0.75,0," + "y" * (16 << 20) + "\n"
    path = _write(tmp_path / ("long.csv.gz" if gz else "long.csv"), "a,b,label,note\n" + "".join(rows), gz)
    report = run_json("eval", path, "--pred-cols", "a,b")
    assert report["n_samples"] == 3_000
    expected = -(2_999 * np.log(0.75) + np.log(0.25)) / 3_000
    np.testing.assert_allclose(report["metrics"]["cross_entropy"], expected, rtol=1e-12)


# Where the error is


@pytest.mark.parametrize(("bad_row", "value"), [(10, "x"), (0, "0.5x"), (3, "")])
def test_a_bad_cell_in_the_first_block_names_its_row(tmp_path, bad_row, value):
    rows = [ROW] * 20
    rows[bad_row] = f"{value},0.75,1\n" if value else "abc,0.75,1\n"
    path = _write(tmp_path / "bad.csv", HEADER + "".join(rows))
    shown = value or "abc"
    assert_bad_input(
        invoke("eval", path),
        f"{path}: row {bad_row}: column 'a' holds {shown!r}; expected a number",
        "--pred-cols",
    )


def test_a_bad_log_probability_in_the_first_block_names_its_row(tmp_path):
    path = _write(tmp_path / "tokens.csv", "logprob,seq\n-1.5,a\n-x,a\n-2,b\n")
    assert_bad_input(
        invoke("perplexity", path, "--seq-col", "seq"), f"{path}: row 1: column 'logprob' holds '-x'"
    )


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("segmented", [False, True])
def test_errors_after_a_quoted_line_break_name_the_file_row(tmp_path, request, gz, segmented):
    if segmented:
        request.getfixturevalue("small_segments")
    rows = ["0.25,0.75,1,x\n"] * 200_000
    rows[150_000] = '"0.25\n",0.75,1,x\n'  # a quoted line break: not a number
    path = _write(tmp_path / ("q.csv.gz" if gz else "q.csv"), "a,b,label,note\n" + "".join(rows), gz)
    assert_bad_input(
        invoke("eval", path, "--pred-cols", "a,b"), f"{path}: row 150000: column 'a' holds '0.25\\n'"
    )
    rows[150_000] = '0.25,0.75,1,"two\nlines"\n'  # a valid one: later rows are counted right
    rows[170_000] = "0.25,zz,1,x\n"
    path = _write(tmp_path / ("q2.csv.gz" if gz else "q2.csv"), "a,b,label,note\n" + "".join(rows), gz)
    assert_bad_input(invoke("eval", path, "--pred-cols", "a,b"), f"{path}: row 170000: column 'b' holds 'zz'")


@pytest.mark.parametrize("segmented", [False, True])
def test_field_count_errors_name_the_line_in_every_segment(tmp_path, request, segmented):
    if segmented:
        request.getfixturevalue("small_segments")
    rows = [ROW] * 5_000
    rows[4_321] = "0.25,0.75\n"
    path = _write(tmp_path / "short.csv", HEADER + "".join(rows))
    assert_bad_input(invoke("eval", path), f"{path}: line 4323: expected 3 fields, got 2")


# Blank lines


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    "tail", ["\n", "\n\n", "\r\n\r\n", "\n\n\n\n\n", pytest.param("\r\n" * 3000, id="3000-crlf")]
)
@pytest.mark.parametrize("sep", [",", "\t"])
def test_blank_lines_at_the_end_are_not_rows(tmp_path, gz, tail, sep):
    end = "\r\n" if "\r" in tail else "\n"
    text = (HEADER + ROW * 4).replace("\n", end).rstrip("\r\n") + tail
    suffix = ".csv" if sep == "," else ".tsv"
    path = _write(tmp_path / ("t" + suffix + (".gz" if gz else "")), text.replace(",", sep), gz)
    assert _n_samples(path) == 4
    data = open(path, "rb").read()
    fmt = suffix[1:]
    report = run_json("eval", "-", "--input-format", fmt, input=data)
    assert report["n_samples"] == 4


@pytest.mark.parametrize("segmented", [False, True])
def test_blank_lines_at_the_end_of_a_long_file_are_not_rows(tmp_path, request, segmented):
    if segmented:
        request.getfixturevalue("small_segments")
    path = _write(tmp_path / "long.csv", HEADER + ROW * 3_000 + "\n" * 5_000)
    assert _n_samples(path) == 3_000


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    ("text", "line"),
    [
        (HEADER + ROW + "\n" + ROW, 3),
        (HEADER + ROW * 3 + "\r\n" + ROW + "\n\n", 5),
        ("a,b,c,label\n" + "0.2,0.3,0.5,1\n" * 7 + "\n" + "0.2,0.3,0.5,1\n", 9),
    ],
)
def test_a_blank_line_inside_the_data_is_an_error_at_its_line(tmp_path, gz, text, line):
    path = _write(tmp_path / ("b.csv.gz" if gz else "b.csv"), text, gz)
    assert_bad_input(invoke("eval", path), f"{path}: line {line}: blank line")


@pytest.mark.parametrize("gz", [False, True])
def test_an_empty_line_inside_a_one_column_file_is_a_missing_value(tmp_path, gz):
    """One column: an empty line is an empty field, and stays a row with a missing label."""
    path = _write(tmp_path / ("l.csv.gz" if gz else "l.csv"), "label\n0\n1\n\n1\n\n\n", gz)
    preds = _write(tmp_path / "p.csv", "a,b\n" + "0.5,0.5\n" * 4)
    assert_bad_input(invoke("eval", preds, path), f"{path}: row 2: label is missing")


@pytest.mark.parametrize("segmented", [False, True])
def test_a_blank_line_far_into_the_file_is_an_error_at_its_line(tmp_path, request, segmented):
    if segmented:
        request.getfixturevalue("small_segments")
    rows = [ROW] * 150_000
    rows[123_456] = "\n"
    path = _write(tmp_path / "b.csv", HEADER + "".join(rows))
    assert_bad_input(invoke("eval", path), f"{path}: line 123458: blank line; expected 3 fields")


# Wide tables


@pytest.mark.parametrize("fmt", ["parquet", "csv", "npy"])
def test_wide_tables_give_the_reference_metrics(tmp_path, fmt):
    """20 rows x 20,000 classes: the metrics agree with a NumPy/SciPy reference."""
    rng = np.random.default_rng(40)
    n_rows, n_classes = 20, 20_000
    p = _probs(rng, n_rows, n_classes)
    labels = rng.integers(0, n_classes, n_rows)
    names = [f"c{i}" for i in range(n_classes)]
    path = tmp_path / f"wide.{fmt}"
    if fmt == "parquet":
        pq.write_table(pa.table({name: p[:, i] for i, name in enumerate(names)}), path)
    elif fmt == "csv":
        path.write_text(",".join(names) + "\n" + "".join(",".join(map(repr, r.tolist())) + "\n" for r in p))
    else:
        array = np.empty(n_rows, np.dtype([(name, "<f8") for name in names]))
        for i, name in enumerate(names):
            array[name] = p[:, i]
        np.save(path, array)
    label_path = tmp_path / "labels.npy"
    np.save(label_path, labels)
    report = run_json("eval", path, label_path)
    assert report["n_classes"] == n_classes and report["n_samples"] == n_rows
    metrics = report["metrics"]
    np.testing.assert_allclose(metrics["entropy"], np.mean(-np.sum(p * np.log(p), axis=1)), rtol=1e-10)
    np.testing.assert_allclose(metrics["cross_entropy"], _expected_cross_entropy(p, labels), rtol=1e-10)
    onehot = np.zeros_like(p)
    onehot[np.arange(n_rows), labels] = 1
    np.testing.assert_allclose(
        metrics["kl_divergence"], np.mean(np.sum(rel_entr(onehot, p), axis=1)), rtol=1e-10
    )


def test_a_repeated_name_among_many_columns_is_still_found(tmp_path):
    names = [f"c{i}" for i in range(5_000)] + ["c17"]
    path = _write(tmp_path / "dup.csv", ",".join(names) + "\n" + ",".join(["0.0002"] * len(names)) + "\n")
    assert_bad_input(invoke("eval", path, "--pred-cols", ",".join(names)), "'c17' appears more than once")


@pytest.mark.parametrize("suffix", [b".parquet", b".npy"])
def test_other_formats_under_a_name_that_is_not_utf8_are_read(tmp_path, suffix):
    directory = os.fsencode(tmp_path)
    plain = str(tmp_path / ("plain" + suffix.decode()))
    if suffix == b".npy":
        np.save(plain, np.array([[0.25, 0.75], [0.5, 0.5]]))
    else:
        pq.write_table(pa.table({"a": [0.25, 0.5], "b": [0.75, 0.5], "label": [1, 0]}), plain)
    odd = os.path.join(directory, b"caf\xe9" + suffix)
    os.rename(plain, odd)
    done = _run("eval", odd, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["n_samples"] == 2


@pytest.mark.parametrize("missing", [",,", "nan,NA,", "nan,nan,nan"])
def test_a_line_of_missing_values_is_not_taken_for_a_blank_line(tmp_path, missing):
    path = _write(tmp_path / "m.csv", HEADER + ROW + missing + "\n" + ROW)
    line = assert_bad_input(invoke("eval", path), path, "row 1:")
    assert "blank" not in line
