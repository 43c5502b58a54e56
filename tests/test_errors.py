"""Bad input and usage errors: exit code 2, one stderr line, nothing written.

The contract (README, "Exit codes"): any usage error or bad input exits with code 2 and
writes exactly ONE line on stderr, starting with ``infocli: error:``, that names the file
as given and, where it applies, the first bad data row (0-based, ``row N``) or, for CSV
syntax errors, the 1-based line of the file (``line N``, the header being line 1), and
the bad value. No traceback, nothing on stdout, and with ``--output PATH`` no file at
PATH, no stray temporary file in its folder, and an existing report left untouched.

Every failing run here goes through :func:`expect_failure` (the ``bad`` fixture), which
runs the command twice, with ``--output`` naming a new file and then an existing report,
and checks all of the above. The helpers are local to this file on purpose.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from infocli.cli import app
from infocli.readers import csv as csv_reader

RUNNER = CliRunner(env={"INFOCLI_FORMAT": None})
PREFIX = "infocli: error:"
PREVIOUS_REPORT = '{"previous": "report"}\n'
GOOD = (0.2, 0.3, 0.5)
"""A valid row of probabilities over three classes."""

Expected = str | tuple[str, ...]
"""In a message: a str must appear as is (paths, values); a tuple means any one of its
words, case-insensitively (how the problem is worded)."""


# ------------------------------------------------------------------------------ writers


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]], sep: str = ",") -> str:
    """Write a delimited text file (gzipped when the name ends in .gz); return its path."""
    text = sep.join(header) + "\n" + "".join(sep.join(str(v) for v in row) + "\n" for row in rows)
    return write_bytes(path, gzip.compress(text.encode()) if path.name.endswith(".gz") else text.encode())


def write_bytes(path: Path, data: bytes | str) -> str:
    """Write raw content; return the path."""
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def write_parquet(path: Path, columns: dict[str, Any], row_group_size: int | None = None) -> str:
    """Write a Parquet file from {name: values}; return its path."""
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)
    return str(path)


def write_npy(path: Path, array: Any) -> str:
    """Write a .npy file; return its path."""
    np.save(path, np.asarray(array))
    return str(path)


def probs_parquet(path: Path, n: int = 6) -> str:
    """n valid rows of probabilities over the classes a, b, c."""
    return write_parquet(path, {name: [p] * n for name, p in zip("abc", GOOD, strict=True)})


def labels_csv(path: Path, labels: Sequence[object]) -> str:
    """A one-column CSV of labels, column ``label``."""
    return write_csv(path, ["label"], [[v] for v in labels])


# ----------------------------------------------------------------------------- checking


@dataclass
class Outcome:
    """What a run left behind."""

    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None = None

    def describe(self) -> str:
        return (
            f"exit code {self.exit_code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
            f"\n--- exception\n{self.exception!r}"
        )


def run_in_process(args: Sequence[str], stdin: str | None = None) -> Outcome:
    """``infocli ARGS`` through Typer's CliRunner (stdout and stderr kept apart).

    Python's own hook for unraisable exceptions is put back for the run, so that what a
    real process would print on stderr (pytest otherwise turns it into a warning) is
    printed on the captured stderr.
    """
    hook = sys.unraisablehook
    sys.unraisablehook = sys.__unraisablehook__
    try:
        result = RUNNER.invoke(app, list(args), input=stdin)
    finally:
        sys.unraisablehook = hook
    exception = None if isinstance(result.exception, SystemExit) else result.exception
    return Outcome(result.exit_code, result.stdout, result.stderr, exception)


def infocli_executable() -> str:
    """The installed ``infocli`` console script."""
    path = shutil.which("infocli") or str(Path(sys.executable).with_name("infocli"))
    assert os.path.exists(path), "the infocli console script is not installed"
    return path


def run_process(args: Sequence[str], prefix: Sequence[str] = ()) -> Outcome:
    """``infocli ARGS`` as a real process, in a terminal said to be 20 columns wide."""
    env = {k: v for k, v in os.environ.items() if k != "INFOCLI_FORMAT"}
    env["COLUMNS"] = "20"
    done = subprocess.run(
        [*prefix, infocli_executable(), *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def check_error(
    outcome: Outcome,
    contains: Sequence[Expected] = (),
    *,
    row: int | None = None,
    line: int | None = None,
) -> str:
    """Assert exit code 2 and one ``infocli: error:`` line naming what it should; return it."""
    assert outcome.exit_code == 2, outcome.describe()
    assert outcome.exception is None, outcome.describe()
    assert outcome.stdout == "", outcome.describe()
    assert "Traceback" not in outcome.stderr, outcome.describe()
    assert outcome.stderr.endswith("\n") and outcome.stderr.count("\n") == 1, outcome.describe()
    message = outcome.stderr[:-1]
    assert len(message.splitlines()) == 1, outcome.describe()
    assert message.startswith(PREFIX), outcome.describe()
    for expected in contains:
        if isinstance(expected, str):
            assert expected in message, f"{expected!r} not in: {message}"
        else:
            assert any(word.lower() in message.lower() for word in expected), (
                f"none of {expected} in: {message}"
            )
    if row is not None:
        assert re.search(rf"\brow {row}\b", message), f"'row {row}' not in: {message}"
    if line is not None:
        assert re.search(rf"\bline {line}\b", message), f"'line {line}' not in: {message}"
    return message


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def expect_failure(
    out_dir: Path,
    args: Sequence[str],
    contains: Sequence[Expected] = (),
    *,
    row: int | None = None,
    line: int | None = None,
    output: bool = True,
    stdin: str | None = None,
    process: bool = False,
    prefix: Sequence[str] = (),
) -> str:
    """Run a command that must fail with exit code 2; check its message and that nothing is written.

    With ``output`` the command runs twice: ``--output`` naming a file that does not exist
    (it must still not exist afterwards), then naming an existing report (it must be
    unchanged); the output folder's listing must not change either time (no stray
    temporary file).

    Returns:
        The error message (the one stderr line), from the last run.
    """

    def run(extra: Sequence[str]) -> Outcome:
        if process:
            return run_process([*args, *extra], prefix)
        return run_in_process([*args, *extra], stdin)

    if not output:
        return check_error(run([]), contains, row=row, line=line)
    out_dir.mkdir(exist_ok=True)
    existing = out_dir / "existing-report.json"
    existing.write_text(PREVIOUS_REPORT)
    before = listing(out_dir)

    new = out_dir / "report.json"
    message = check_error(run(["--output", str(new)]), contains, row=row, line=line)
    assert not new.exists(), f"a failing run wrote {new}"
    assert listing(out_dir) == before, "a failing run left a file in the output folder"

    message = check_error(run(["--output", str(existing)]), contains, row=row, line=line)
    assert existing.read_text() == PREVIOUS_REPORT, "a failing run clobbered the existing report"
    assert listing(out_dir) == before, "a failing run left a file in the output folder"
    return message


@pytest.fixture
def bad(tmp_path: Path) -> Callable[..., str]:
    """``bad(*args, contains=..., row=..., line=..., output=True)``: :func:`expect_failure`."""

    def check(*args: str, contains: Sequence[Expected] = (), **kwargs: Any) -> str:
        return expect_failure(tmp_path / "out", args, contains, **kwargs)

    return check


def run_ok_json(*args: str) -> dict[str, Any]:
    """A run that must succeed; its JSON report."""
    outcome = run_in_process([*args, "--format", "json"])
    assert outcome.exit_code == 0, outcome.describe()
    return json.loads(outcome.stdout)


def count(n: int) -> tuple[str, ...]:
    """A row count as a message may write it: 99999 or 99,999."""
    return (f"{n:,}", str(n)) if n >= 1000 else (str(n),)


def has_count(message: str, n: int) -> bool:
    return any(re.search(rf"(?<![\d,]){re.escape(text)}(?![\d,])", message) for text in count(n))


# -------------------------------------------------- big files, written once per module

BIG = 100_000
"""Rows of the long files: at 12 bytes a row, more than the CSV reader's first 1 MiB block."""

GOOD_LINE = ",".join(map(str, GOOD)) + "\n"


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Long CSV files: BIG rows of predictions, BIG and BIG - 1 labels, and bad rows far in."""
    folder = tmp_path_factory.mktemp("big")
    header = "a,b,c\n"
    return {
        "preds": write_bytes(folder / "preds.csv", header + GOOD_LINE * BIG),
        "preds_short": write_bytes(folder / "preds_short.csv", header + GOOD_LINE * (BIG - 1)),
        "labels": write_bytes(folder / "labels.csv", "label\n" + "2\n" * BIG),
        "labels_short": write_bytes(folder / "labels_short.csv", "label\n" + "2\n" * (BIG - 1)),
        # data row BIG (0-based) is on line BIG + 2
        "fields_far": write_bytes(folder / "fields_far.csv", header + GOOD_LINE * BIG + "0.2,0.8\n"),
        "text_far": write_bytes(
            folder / "text_far.csv", header + GOOD_LINE * BIG + "0.2,x,0.5\n" + GOOD_LINE
        ),
    }


# =================================================================== 1. the file itself


def test_missing_file(bad, tmp_path):
    path = str(tmp_path / "nope.parquet")
    bad("eval", path, contains=[path, ("no such file", "does not exist", "not found")])


def test_missing_labels_file(bad, tmp_path):
    preds = probs_parquet(tmp_path / "preds.parquet")
    labels = str(tmp_path / "labels.npy")
    bad("eval", preds, labels, contains=[labels, ("no such file", "does not exist", "not found")])


@pytest.mark.parametrize(
    "name",
    [
        "preds.parquet",  # e.g. a folder of part files written by Spark
        "preds",  # no extension: the problem is still that it is a folder
    ],
)
def test_directory(bad, tmp_path, name):
    path = tmp_path / name
    path.mkdir()
    bad("eval", str(path), contains=[str(path), ("directory", "folder")])


CAPS = "dac_override,dac_read_search"
WITHOUT_ROOT_READ = ["--inh-caps=-" + CAPS.replace(",", ",-"), "--bounding-set=-" + CAPS.replace(",", ",-")]
"""setpriv options that take away root's power to read any file."""


def _setpriv_blocks_reading(setpriv: str, path: str) -> bool:
    probe = subprocess.run(
        [setpriv, *WITHOUT_ROOT_READ, sys.executable, "-c", f"open({path!r}, 'rb')"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return probe.returncode != 0 and "PermissionError" in probe.stderr


def test_unreadable_file(tmp_path, monkeypatch):
    path = write_csv(tmp_path / "preds.csv", ["a", "b", "c"], [GOOD] * 3)
    contains = [path, ("permission", "cannot be read", "not readable")]
    os.chmod(path, 0)
    try:
        if not os.access(path, os.R_OK):
            expect_failure(tmp_path / "out", ["eval", path], contains)
            return
        # Running as root, where mode 000 does not stop reading. Run infocli without the
        # capabilities that let root read anything, so the file really is unreadable to it.
        setpriv = shutil.which("setpriv")
        if setpriv and _setpriv_blocks_reading(setpriv, path):
            expect_failure(
                tmp_path / "out", ["eval", path], contains, process=True, prefix=[setpriv, *WITHOUT_ROOT_READ]
            )
            return
        # No way to make the file unreadable here: make it look unreadable to the check.
        real_access = os.access

        def access(p: Any, mode: int, *args: Any, **kwargs: Any) -> bool:
            if os.fspath(p) == path and mode & os.R_OK:
                return False
            return real_access(p, mode, *args, **kwargs)

        monkeypatch.setattr(os, "access", access)
        expect_failure(tmp_path / "out", ["eval", path], contains)
    finally:
        os.chmod(path, 0o644)


@pytest.mark.parametrize("name", ["preds.txt", "preds.json", "preds.csv.bz2", "preds"])
def test_unsupported_extension(bad, tmp_path, name):
    path = write_csv(tmp_path / name, ["a", "b", "c"], [GOOD] * 3)
    message = bad("eval", path, contains=[path, ("unsupported", "not supported", "unknown")])
    for ending in (".csv", ".tsv", ".csv.gz", ".parquet", ".pq", ".npy"):
        assert ending in message


def test_path_is_named_as_given(bad, tmp_path, monkeypatch):
    """A relative, unnormalised path appears in the message exactly as typed."""
    (tmp_path / "data").mkdir()
    write_csv(tmp_path / "preds.csv", ["a", "b", "c"], [GOOD, GOOD, ["nan", 0.3, 0.5]])
    monkeypatch.chdir(tmp_path)
    bad("eval", "./data/../preds.csv", contains=["./data/../preds.csv"], row=2)


# ===================================================== 2. corrupt and truncated files


def _corrupt_parquet(folder: Path) -> str:
    return write_bytes(folder / "preds.parquet", np.random.default_rng(1).bytes(600))


def _truncated_parquet(folder: Path, name: str = "preds.parquet") -> str:
    full = probs_parquet(folder / f"full-{name}", n=200)
    data = Path(full).read_bytes()
    return write_bytes(folder / name, data[: len(data) // 2])


def _damaged_parquet_pages(folder: Path) -> str:
    """An intact footer, but garbage over the data of the second of four row groups."""
    path = write_parquet(
        folder / "preds.parquet", {name: [p] * 200 for name, p in zip("abc", GOOD, strict=True)}, 50
    )
    chunk = pq.ParquetFile(path).metadata.row_group(1).column(0)
    start, size = chunk.dictionary_page_offset or chunk.data_page_offset, chunk.total_compressed_size
    data = bytearray(Path(path).read_bytes())
    data[start : start + size] = np.random.default_rng(5).bytes(size)
    return write_bytes(folder / "preds.parquet", bytes(data))


def _corrupt_npy(folder: Path) -> str:
    return write_bytes(folder / "preds.npy", np.random.default_rng(2).bytes(600))


def _npy_magic_then_garbage(folder: Path) -> str:
    return write_bytes(folder / "preds.npy", b"\x93NUMPY" + np.random.default_rng(3).bytes(600))


def _truncated_npy(folder: Path, name: str = "preds.npy") -> str:
    write_npy(folder / f"full-{name}", np.full((50, 3), GOOD))
    data = (folder / f"full-{name}").read_bytes()
    header = 128  # a version 1.0 header; the data (50 * 3 * 8 bytes) follows
    assert len(data) == header + 50 * 3 * 8
    return write_bytes(folder / name, data[: header + 500])


def _truncated_gzip_csv(folder: Path) -> str:
    text = "a,b,c\n" + GOOD_LINE * 5000
    data = gzip.compress(text.encode())
    return write_bytes(folder / "preds.csv.gz", data[: len(data) // 2])


def _garbage_gzip_csv(folder: Path) -> str:
    return write_bytes(folder / "preds.csv.gz", b"\x1f\x8b" + np.random.default_rng(4).bytes(600))


def _garbage_csv(folder: Path) -> str:
    return write_bytes(folder / "preds.csv", np.random.default_rng(0).bytes(300))


CORRUPT = ("corrupt", "truncated", "not a", "cannot read", "invalid")


@pytest.mark.parametrize(
    "make",
    [
        _corrupt_parquet,
        _truncated_parquet,
        _damaged_parquet_pages,
        _corrupt_npy,
        _npy_magic_then_garbage,
        _truncated_npy,
        _truncated_gzip_csv,
        _garbage_gzip_csv,
        _garbage_csv,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_corrupt_predictions(bad, tmp_path, make):
    path = make(tmp_path)
    bad("eval", path, contains=[path, CORRUPT])


@pytest.mark.parametrize("make", [_truncated_parquet, _truncated_npy], ids=["parquet", "npy"])
def test_corrupt_labels_names_the_labels_file(bad, tmp_path, make):
    preds = write_npy(tmp_path / "good-preds.npy", np.full((50, 3), GOOD))
    labels = make(tmp_path, "labels" + (".parquet" if make is _truncated_parquet else ".npy"))
    message = bad("eval", preds, labels, contains=[labels, CORRUPT])
    assert preds not in message


FIELDS = ("field", "column")


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("fewer.csv", "a,b,c\n0.2,0.3,0.5\n0.2,0.3,0.5\n0.2,0.8\n0.2,0.3,0.5\n", 4),
        ("more.csv", "a,b,c\n0.2,0.3,0.5\n0.2,0.3,0.5,0.0\n", 3),
        ("tabs.tsv", "a\tb\tc\n0.2\t0.3\t0.5\n0.2\t0.8\n", 3),
        ("blank_line_before.csv", "a,b,c\n0.2,0.3,0.5\n\n0.2,0.3,0.5\n0.2,0.8\n", 5),
        ("not_utf8.csv", b"a,b,c\n0.2,0.3,0.5\n\xff,0.2\n", 3),
    ],
    ids=["fewer", "more", "tsv", "blank-line-before", "not-utf8"],
)
def test_csv_wrong_number_of_fields(bad, tmp_path, name, text, line):
    path = write_bytes(tmp_path / name, text)
    bad("eval", path, contains=[path, FIELDS], line=line)


@pytest.fixture
def small_csv_segments(monkeypatch) -> None:
    """CSV files of a few hundred lines parsed in segments of about 25 lines each."""
    monkeypatch.setattr(csv_reader, "_BLOCK_BYTES", 64)
    monkeypatch.setattr(csv_reader, "SEGMENT_BYTES", 300)


GOOD_ROW = "0.2,0.3,0.5\n"


@pytest.mark.parametrize(
    ("lines", "line"),
    [
        ([*[GOOD_ROW] * 200, "0.2,0.8\n", *[GOOD_ROW] * 20], 202),
        ([*[GOOD_ROW] * 3, "0.2,0.8\n", *[GOOD_ROW] * 200], 5),
    ],
    ids=["far", "first-segment"],
)
@pytest.mark.parametrize("end", ["\n", "\r\n"])
def test_csv_wrong_number_of_fields_in_a_segment_names_its_line(
    bad, tmp_path, small_csv_segments, lines, line, end
):
    path = write_bytes(tmp_path / "preds.csv", ("a,b,c\n" + "".join(lines)).replace("\n", end))
    bad("eval", path, contains=[path, FIELDS], line=line)


def test_csv_non_numeric_value_in_a_segment_names_its_row(bad, tmp_path, small_csv_segments):
    path = write_bytes(tmp_path / "preds.csv", "a,b,c\n" + GOOD_ROW * 200 + "0.2,x,0.5\n" + GOOD_ROW)
    bad("eval", path, contains=[path, "'x'", "'b'"], row=200)


def test_csv_gz_wrong_number_of_fields(bad, tmp_path):
    rows = [GOOD] * 6 + [[0.2, 0.8]] + [GOOD]
    path = write_csv(tmp_path / "preds.csv.gz", ["a", "b", "c"], rows)
    bad("eval", path, contains=[path, FIELDS], line=8)


def test_csv_wrong_number_of_fields_far_into_the_file(bad, big):
    path = big["fields_far"]
    bad("eval", path, "--chunk-rows", "1000", contains=[path, FIELDS], line=BIG + 2)


# ===================================================================== 3. empty inputs

EMPTY = ("empty", "no rows", "no data", "0 rows")


def _empty_csv(folder: Path) -> str:
    return write_bytes(folder / "preds.csv", b"")


def _header_only_csv(folder: Path) -> str:
    return write_bytes(folder / "preds.csv", "a,b,c\n")


def _empty_parquet(folder: Path) -> str:
    return write_parquet(folder / "preds.parquet", {name: pa.array([], pa.float64()) for name in "abc"})


def _empty_npy(folder: Path) -> str:
    return write_npy(folder / "preds.npy", np.zeros((0, 3)))


@pytest.mark.parametrize(
    "make",
    [_empty_csv, _header_only_csv, _empty_parquet, _empty_npy],
    ids=lambda f: f.__name__.strip("_"),
)
def test_empty_predictions(bad, tmp_path, make):
    path = make(tmp_path)
    bad("eval", path, contains=[path, EMPTY])


def test_empty_predictions_with_empty_labels(bad, tmp_path):
    preds = _empty_npy(tmp_path)
    labels = write_npy(tmp_path / "labels.npy", np.zeros(0, dtype=np.int64))
    bad("eval", preds, labels, contains=[preds, EMPTY])


@pytest.mark.parametrize(
    ("name", "content"),
    [("labels.csv", b""), ("labels_header_only.csv", b"label\n")],
    ids=["0-byte", "header-only"],
)
def test_empty_labels(bad, tmp_path, name, content):
    preds = probs_parquet(tmp_path / "preds.parquet", n=4)
    labels = write_bytes(tmp_path / name, content)
    bad("eval", preds, labels, contains=[labels, EMPTY])


# ============================================================== 4. row counts differ


def _check_mismatch(message: str, short: str, n_short: int, long: str, n_long: int) -> None:
    assert short in message and long in message, message
    assert has_count(message, n_short) and has_count(message, n_long), message


@pytest.mark.parametrize(
    ("preds_fmt", "labels_fmt", "n_preds", "n_labels"),
    [
        ("parquet", "parquet", 6, 5),  # both counts known from the footers
        ("npy", "npy", 5, 6),
        ("csv", "csv", 6, 5),  # CSV: counts found by reading; the labels are shorter
        ("csv", "csv", 5, 6),  # ... the predictions are shorter
        ("parquet", "csv", 6, 5),
        ("csv", "npy", 5, 6),
    ],
)
def test_row_counts_differ(bad, tmp_path, preds_fmt, labels_fmt, n_preds, n_labels):
    preds_path, labels_path = tmp_path / f"preds.{preds_fmt}", tmp_path / f"labels.{labels_fmt}"
    probs, labels = np.full((n_preds, 3), GOOD), np.arange(n_labels) % 3
    if preds_fmt == "parquet":
        preds = probs_parquet(preds_path, n_preds)
    elif preds_fmt == "npy":
        preds = write_npy(preds_path, probs)
    else:
        preds = write_csv(preds_path, ["a", "b", "c"], probs.tolist())
    if labels_fmt == "parquet":
        labels_file = write_parquet(labels_path, {"label": labels})
    elif labels_fmt == "npy":
        labels_file = write_npy(labels_path, labels)
    else:
        labels_file = labels_csv(labels_path, labels.tolist())
    message = bad("eval", preds, labels_file)
    _check_mismatch(message, preds, n_preds, labels_file, n_labels)


@pytest.mark.parametrize(("preds_key", "labels_key"), [("preds", "labels_short"), ("preds_short", "labels")])
def test_row_counts_differ_far_into_the_stream(bad, big, preds_key, labels_key):
    preds, labels = big[preds_key], big[labels_key]
    message = bad("eval", preds, labels, "--chunk-rows", "1000")
    n_preds = BIG if preds_key == "preds" else BIG - 1
    _check_mismatch(message, preds, n_preds, labels, BIG + BIG - 1 - n_preds)


# ============================================================ 5. NaN, missing, infinite


def test_nan_in_predictions_npy(bad, tmp_path):
    probs = np.full((9, 3), GOOD)
    probs[7, 1] = np.nan
    path = write_npy(tmp_path / "preds.npy", probs)
    bad("eval", path, "--chunk-rows", "3", contains=[path, ("nan",)], row=7)


def test_nan_in_predictions_parquet(bad, tmp_path):
    a = [GOOD[0]] * 5
    a[3] = float("nan")
    path = write_parquet(tmp_path / "preds.parquet", {"a": a, "b": [GOOD[1]] * 5, "c": [GOOD[2]] * 5})
    bad("eval", path, contains=[path, ("nan",)], row=3)


def test_nan_in_predictions_csv(bad, tmp_path):
    path = write_csv(tmp_path / "preds.csv", ["a", "b", "c"], [GOOD, GOOD, GOOD, [0.2, "nan", 0.5]])
    bad("eval", path, contains=[path, ("nan", "missing")], row=3)


def test_nan_in_labels_npy(bad, tmp_path):
    preds = write_npy(tmp_path / "preds.npy", np.full((6, 3), GOOD))
    labels = write_npy(tmp_path / "labels.npy", [0.0, 1.0, 2.0, 0.0, np.nan, 1.0])
    bad("eval", preds, labels, "--chunk-rows", "2", contains=[labels, ("nan",)], row=4)


def test_nan_in_labels_csv(bad, tmp_path):
    preds = probs_parquet(tmp_path / "preds.parquet", n=4)
    labels = labels_csv(tmp_path / "labels.csv", [0, 1, "nan", 2])
    bad("eval", preds, labels, contains=[labels, ("nan", "missing")], row=2)


MISSING = ("missing", "empty")


def test_empty_field_in_predictions_csv(bad, tmp_path):
    path = write_csv(tmp_path / "preds.csv", ["a", "b", "c"], [GOOD, GOOD, [0.2, "", 0.8], GOOD])
    bad("eval", path, contains=[path, MISSING, "'b'"], row=2)


def test_empty_field_in_labels_csv(bad, tmp_path):
    """A one-column CSV: the empty field is an empty line, and it is still a row."""
    preds = probs_parquet(tmp_path / "preds.parquet", n=4)
    labels = labels_csv(tmp_path / "labels.csv", [0, "", 1, 2])
    bad("eval", preds, labels, contains=[labels, MISSING], row=1)


def test_empty_field_in_binary_scores_csv(bad, tmp_path):
    """One score column (binary): an empty line is a missing score, not a row to skip."""
    path = write_csv(tmp_path / "scores.csv", ["p"], [[0.2], [""], [0.7], [0.1]])
    bad("eval", path, contains=[path, MISSING], row=1)


def test_empty_field_in_binary_scores_csv_with_labels(bad, tmp_path):
    path = write_csv(tmp_path / "scores.csv", ["p", "label"], [[0.2, 0], ["", 1], [0.7, 1]])
    bad("eval", path, contains=[path, MISSING], row=1)


@pytest.mark.parametrize(
    ("row", "kind", "value"),
    [
        ([1.0, "inf", 3.0], "logits", "inf"),
        ([0.5, 0.5, "inf"], "probs", "inf"),
        ([0.5, 0.5, "-inf"], "probs", "-inf"),
        ([-1.0, "inf", -2.0], "logprobs", "inf"),
    ],
)
def test_infinite_scores(bad, tmp_path, row, kind, value):
    rows = [[1.0, 2.0, 3.0] if kind == "logits" else list(GOOD)] * 2
    if kind == "logprobs":
        rows = [np.log(GOOD).tolist()] * 2
    path = write_csv(tmp_path / "preds.csv", ["a", "b", "c"], [*rows, row])
    message = bad("eval", path, "--kind", kind, contains=[path, value], row=2)
    assert re.search(rf"(?<![\w-]){re.escape(value)}\b", message), message


def test_minus_inf_log_probability_is_allowed(tmp_path):
    with np.errstate(divide="ignore"):
        logprobs = np.log(np.array([[0.2, 0.3, 0.5], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]]))
    preds = write_npy(tmp_path / "logprobs.npy", logprobs)
    labels = write_npy(tmp_path / "labels.npy", [2, 1, 0])
    report = run_ok_json("eval", preds, labels, "--kind", "logprobs")
    assert report["predictions"]["kind"] == "logprobs"
    assert report["n_samples"] == 3


# ======================================================================= 6. probabilities


@pytest.mark.parametrize(("bad_row", "value"), [([-0.1, 0.6, 0.5], "-0.1"), ([1.7, 0.0, 0.0], "1.7")])
def test_probability_outside_0_1(bad, tmp_path, bad_row, value):
    path = write_csv(tmp_path / "preds.csv", ["a", "b", "c"], [GOOD, GOOD, bad_row, GOOD])
    bad("eval", path, "--kind", "probs", contains=[path, value], row=2)


@pytest.mark.parametrize(("bad_row", "value"), [([1.7, 0.0, 0.0], "1.7"), ([-0.2, 0.7, 0.5], "-0.2")])
def test_auto_probabilities_break_in_a_later_chunk(bad, tmp_path, bad_row, value):
    """``--kind auto`` decides "probs" from the first chunk; a later row outside [0, 1] is an error."""
    path = write_csv(tmp_path / "preds.csv", ["a", "b", "c"], [GOOD] * 5 + [bad_row] + [GOOD] * 3)
    bad("eval", path, "--chunk-rows", "2", contains=[path, value], row=5)


@pytest.mark.parametrize("kind", ["auto", "probs"])
def test_probability_row_does_not_sum_to_1(bad, tmp_path, kind):
    path = write_csv(tmp_path / "preds.csv", ["a", "b", "c"], [GOOD, GOOD, [0.2, 0.3, 0.6], GOOD])
    bad("eval", path, "--kind", kind, contains=[path, "1.1", "--kind logits"], row=2)


def test_probability_row_sum_far_in_npy(bad, tmp_path):
    probs = np.full((9, 3), GOOD)
    probs[7] = [0.1, 0.3, 0.5]
    path = write_npy(tmp_path / "preds.npy", probs)
    bad("eval", path, "--chunk-rows", "3", "--tol", "0.01", contains=[path, "0.9", "--kind logits"], row=7)


# ============================================================================= 7. labels


@pytest.mark.parametrize(
    ("label", "value"),
    [(-1, "-1"), (2.5, "2.5"), (7, "7"), (3, "3")],
    ids=["negative", "fraction", "too-large", "equal-to-n-classes"],
)
@pytest.mark.parametrize("fmt", ["csv", "npy", "parquet"])
def test_bad_class_index(bad, tmp_path, label, value, fmt):
    labels = [0, 1, 2, 0, 1, label, 2]
    preds = write_npy(tmp_path / "preds.npy", np.full((7, 3), GOOD))
    if fmt == "csv":
        path = labels_csv(tmp_path / "labels.csv", labels)
    elif fmt == "npy":
        path = write_npy(tmp_path / "labels.npy", np.array(labels, dtype=float if label == 2.5 else int))
    else:
        path = write_parquet(
            tmp_path / "labels.parquet", {"label": np.array(labels, dtype=float if label == 2.5 else int)}
        )
    message = bad("eval", preds, path, "--chunk-rows", "2", contains=[path], row=5)
    assert re.search(rf"(?<![\w.-]){re.escape(value)}(?![\w.])", message), message


def test_unknown_class_name(bad, tmp_path):
    preds = write_csv(tmp_path / "preds.csv", ["cat", "dog", "bird"], [GOOD] * 4)
    labels = labels_csv(tmp_path / "labels.csv", ["dog", "cat", "bird", "zebra"])
    bad("eval", preds, labels, contains=[labels, "zebra", "cat", "dog", "bird"], row=3)


def test_unknown_class_name_in_the_predictions_file(bad, tmp_path):
    path = write_csv(tmp_path / "preds.csv", ["cat", "dog", "label"], [[0.5, 0.5, "cat"], [0.5, 0.5, "Dog"]])
    bad("eval", path, contains=[path, "Dog", "cat", "dog"], row=1)


# ============================================================== 8. shapes and columns


def test_target_distributions_with_other_class_count_csv(bad, tmp_path):
    preds = write_csv(tmp_path / "preds.csv", ["a", "b", "c"], [GOOD] * 3)
    targets = write_csv(tmp_path / "targets.csv", ["a", "b", "c", "d"], [[0.25] * 4] * 3)
    bad("eval", preds, targets, contains=[targets, "4", "3"])


def test_target_distributions_with_other_class_count_npy(bad, tmp_path):
    preds = write_npy(tmp_path / "preds.npy", np.full((3, 3), GOOD))
    targets = write_npy(tmp_path / "targets.npy", np.full((3, 4), 0.25))
    bad("eval", preds, targets, contains=[targets, "4", "3"])


def test_npy_with_three_dimensions(bad, tmp_path):
    path = write_npy(tmp_path / "preds.npy", np.full((4, 3, 2), 0.5))
    bad("eval", path, contains=[path, "(4, 3, 2)"])


def test_npy_labels_with_three_dimensions(bad, tmp_path):
    preds = write_npy(tmp_path / "preds.npy", np.full((4, 3), GOOD))
    labels = write_npy(tmp_path / "labels.npy", np.zeros((4, 1, 1), dtype=int))
    bad("eval", preds, labels, contains=[labels, "(4, 1, 1)"])


def test_non_numeric_prediction_column_csv(bad, tmp_path):
    path = write_csv(tmp_path / "preds.csv", ["id", "a", "b", "c"], [["x1", *GOOD], ["x2", *GOOD]])
    bad("eval", path, contains=[path, "'id'", "--pred-cols"])


def test_non_numeric_prediction_column_parquet(bad, tmp_path):
    path = write_parquet(
        tmp_path / "preds.parquet", {"a": [0.5, 0.5], "b": [0.5, 0.5], "model": ["m1", "m2"]}
    )
    bad("eval", path, contains=[path, "'model'", "--pred-cols"])


def test_non_numeric_value_far_into_a_csv(bad, big):
    """The first block says column b is numeric; a word turns up 100,000 rows later."""
    path = big["text_far"]
    bad("eval", path, "--chunk-rows", "1000", contains=[path, "'x'", "'b'"], row=BIG)


def test_pred_cols_names_a_missing_column(bad, tmp_path):
    path = write_csv(tmp_path / "preds.csv", ["a", "b", "c"], [GOOD] * 2)
    bad("eval", path, "--pred-cols", "a,b,zz", contains=[path, "zz", "--pred-cols"])


@pytest.mark.parametrize("with_labels_file", [False, True])
def test_label_col_names_a_missing_column(bad, tmp_path, with_labels_file):
    preds = write_csv(tmp_path / "preds.csv", ["a", "b", "c", "label"], [[*GOOD, 0]] * 2)
    args = ["eval", preds]
    named = preds
    if with_labels_file:
        named = labels_csv(tmp_path / "labels.csv", [0, 1])
        args.append(named)
    bad(*args, "--label-col", "target", contains=[named, "target", "--label-col"])


# ============================================================================ 9. options


@pytest.fixture
def good_inputs(tmp_path: Path) -> list[str]:
    preds = write_npy(tmp_path / "preds.npy", np.full((4, 3), GOOD))
    return [preds, write_npy(tmp_path / "labels.npy", [0, 1, 2, 0])]


BAD_OPTIONS = [
    (["--temperature", "0"], ["--temperature", "0"]),
    (["--temperature", "-1"], ["--temperature", "-1"]),
    (["--temperature", "nan"], ["--temperature", "nan"]),
    (["-T", "inf"], ["--temperature", "inf"]),
    (["--temperature", "hot"], ["--temperature", "hot"]),
    (["--eps", "-1"], ["--eps", "-1"]),
    (["--eps", "1"], ["--eps"]),
    (["--tol", "0"], ["--tol"]),
    (["--chunk-rows", "0"], ["--chunk-rows"]),
    (["--base", "3"], ["--base", "3"]),
    (["--kind", "probabilities"], ["--kind", "probabilities"]),
    (["--format", "xml"], ["--format", "xml"]),
    (["--bogus"], ["--bogus"]),
]


@pytest.mark.parametrize(("options", "expected"), BAD_OPTIONS, ids=[" ".join(o) for o, _ in BAD_OPTIONS])
def test_bad_option(bad, good_inputs, options, expected):
    bad("eval", *good_inputs, *options, contains=expected)


def test_output_into_a_missing_folder(tmp_path, good_inputs):
    target = tmp_path / "no" / "such" / "folder" / "report.json"
    before = listing(tmp_path)
    outcome = run_in_process(["eval", *good_inputs, "--output", str(target)])
    check_error(outcome, [str(target), ("does not exist", "no such", "missing")])
    assert not (tmp_path / "no").exists()
    assert listing(tmp_path) == before


def test_output_is_a_directory(tmp_path, good_inputs):
    folder = tmp_path / "reports"
    folder.mkdir()
    outcome = run_in_process(["eval", *good_inputs, "--output", str(folder)])
    check_error(outcome, [str(folder), ("directory", "folder")])
    assert listing(folder) == []


def test_both_inputs_from_stdin(bad):
    bad("eval", "-", "-", contains=[("stdin", "-")], stdin="a,b,c\n0.2,0.3,0.5\n")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["eval"], ["PREDS"]),
        (["eval", "a.npy", "b.npy", "c.npy"], ["c.npy"]),
        (["evaluate"], ["evaluate"]),
    ],
    ids=["no-preds", "extra-argument", "unknown-command"],
)
def test_usage_errors(bad, args, expected):
    bad(*args, contains=expected)


# ============================================================================== 10. gates


@pytest.fixture
def late_failure(tmp_path: Path) -> str:
    """Predictions whose last row is bad: read row by row, the error comes last."""
    rows = [GOOD] * 6 + [["nan", 0.3, 0.5]]
    return write_csv(tmp_path / "preds.csv", ["a", "b", "c"], rows)


def test_late_failure_control(bad, late_failure):
    """Without a bad gate, the predictions above fail on their last row."""
    bad(
        "eval",
        late_failure,
        "--chunk-rows",
        "1",
        "--fail-if",
        "entropy > 100",
        contains=[late_failure],
        row=6,
    )


@pytest.mark.parametrize(
    "expr",
    ["nonsense", "unknown_metric > 1", "cross_entropy > 0.5", "accuracy < 0.9", "entropy >> 1", "entropy > "],
)
def test_bad_gate_fails_before_reading_data(bad, late_failure, expr):
    message = bad(
        "eval",
        late_failure,
        "--chunk-rows",
        "1",
        "--fail-if",
        "entropy > 100",
        "--fail-if",
        expr,
        contains=["--fail-if", expr],
    )
    assert not re.search(r"\brow \d", message), message
    assert late_failure not in message and "missing" not in message.lower(), message


# ============================================================================== 11. debug


def test_debug_shows_a_traceback_and_still_exits_2(tmp_path, late_failure):
    out = tmp_path / "out"
    out.mkdir()
    report = out / "report.json"
    outcome = run_in_process(["eval", late_failure, "--debug", "--output", str(report)])
    assert outcome.exit_code == 2, outcome.describe()
    assert outcome.stdout == ""
    assert "Traceback" in outcome.stderr
    last = outcome.stderr.rstrip("\n").splitlines()[-1]
    assert last.startswith(PREFIX) and late_failure in last and re.search(r"\brow 6\b", last), last
    assert listing(out) == []


def test_debug_on_a_usage_error_still_exits_2(tmp_path, good_inputs):
    outcome = run_in_process(["eval", *good_inputs, "--debug", "--temperature", "0"])
    assert outcome.exit_code == 2, outcome.describe()
    assert outcome.stdout == ""
    assert outcome.stderr.rstrip("\n").splitlines()[-1].startswith(PREFIX)


# ================================================================ 12. nothing is dropped


def _csv_no_trailing_newline(folder: Path) -> tuple[str, int]:
    return write_bytes(folder / "preds.csv", "a,b,c\n" + GOOD_LINE * 2 + GOOD_LINE.rstrip("\n")), 3


def _csv_crlf(folder: Path) -> tuple[str, int]:
    return write_bytes(folder / "preds.csv", ("a,b,c\n" + GOOD_LINE * 3).replace("\n", "\r\n")), 3


def _csv_gz(folder: Path) -> tuple[str, int]:
    return write_csv(folder / "preds.csv.gz", ["a", "b", "c"], [GOOD] * 1001), 1001


def _tsv(folder: Path) -> tuple[str, int]:
    return write_csv(folder / "preds.tsv", ["a", "b", "c"], [GOOD] * 17, sep="\t"), 17


def _binary_csv(folder: Path) -> tuple[str, int]:
    return write_csv(folder / "scores.csv", ["p", "label"], [[0.3, 0], [0.9, 1], [0.6, 1]]), 3


def _parquet_row_groups(folder: Path) -> tuple[str, int]:
    columns = {name: [p] * 1001 for name, p in zip("abc", GOOD, strict=True)}
    return write_parquet(folder / "preds.parquet", columns, row_group_size=128), 1001


def _npy(folder: Path) -> tuple[str, int]:
    return write_npy(folder / "preds.npy", np.full((1001, 3), GOOD, dtype=np.float32)), 1001


def _npy_binary(folder: Path) -> tuple[str, int]:
    return write_npy(folder / "scores.npy", np.linspace(0.05, 0.95, 101)), 101


@pytest.mark.parametrize(
    "make",
    [_csv_no_trailing_newline, _csv_crlf, _csv_gz, _tsv, _binary_csv, _parquet_row_groups, _npy, _npy_binary],
    ids=lambda f: f.__name__.strip("_"),
)
def test_n_samples_counts_every_row(tmp_path, make):
    path, n = make(tmp_path)
    assert run_ok_json("eval", path, "--chunk-rows", "100")["n_samples"] == n


def test_n_samples_counts_every_row_of_a_long_csv(big):
    report = run_ok_json("eval", big["preds"], big["labels"], "--chunk-rows", "1000")
    assert report["n_samples"] == BIG


def test_n_samples_with_labels_in_another_format(tmp_path):
    preds = write_csv(tmp_path / "preds.csv", ["a", "b", "c"], [GOOD] * 250)
    labels = write_npy(tmp_path / "labels.npy", np.arange(250) % 3)
    assert run_ok_json("eval", preds, labels, "--chunk-rows", "64")["n_samples"] == 250


# ======================================================= a real process, a narrow terminal


def test_real_process_one_line_in_a_narrow_terminal(tmp_path):
    """A long message stays one line however narrow the terminal (COLUMNS=20)."""
    folder = tmp_path / "a folder with a rather long name for the predictions of the model"
    folder.mkdir()
    preds = write_npy(folder / "predictions-of-the-model-on-the-validation-set.npy", np.full((6, 3), GOOD))
    labels = write_npy(folder / "labels-of-the-validation-set.npy", [0, 1, 2, 0, 1])
    message = expect_failure(tmp_path / "out", ["eval", preds, labels], process=True)
    _check_mismatch(message, labels, 5, preds, 6)


def test_real_process_usage_error_in_a_narrow_terminal(tmp_path):
    preds = write_npy(tmp_path / "preds.npy", np.full((6, 3), GOOD))
    expect_failure(
        tmp_path / "out", ["eval", preds, "--base", "3"], ["--base", "3"], process=True, output=False
    )


def test_real_process_not_utf8_csv_row(tmp_path):
    """pyarrow cannot decode the bad row's text; nothing of that may reach stderr."""
    path = write_bytes(tmp_path / "preds.csv", b"a,b,c\n0.2,0.3,0.5\n\xff,0.2\n")
    expect_failure(tmp_path / "out", ["eval", path], [path, FIELDS], line=3, process=True, output=False)
