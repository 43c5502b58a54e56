"""Binary inputs that change while they are read, lie in their headers, or are odd.

Issue 14, "Files that change, lie or are odd": a .npy or Parquet file truncated or
rewritten mid-read is exit 2 ("changed while being read"), never SIGBUS; a corrupt .npy
header is exit 2; a Fortran-ordered .npy is read a chunk at a time; Parquet decimals are
numbers, and other non-numeric columns are exit 2 naming the column and its type.
"""

from __future__ import annotations

import decimal
import os
import signal
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from infocli.readers import npy as npy_reader
from infocli.readers.arrow import column_of, to_batch

from .cli_helpers import assert_bad_input, invoke, run_json

CHANGED = "changed while being read"
REPO = Path(__file__).resolve().parent.parent


def _logits(n: int, c: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 1.0, (n, c)).astype(np.float32), rng.integers(0, c, n)


def _write_npy(path: Path, values: np.ndarray) -> str:
    np.save(path, values)
    return str(path)


# ============================================================ files that change mid-read


def _lease_breaking(path: str) -> bool:
    """Whether /proc/locks shows a lease on the file that another process is breaking."""
    status = os.stat(path)
    where = f"{os.major(status.st_dev):02x}:{os.minor(status.st_dev):02x}:{status.st_ino}"
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "LEASE" in fields and fields[-3] == where:
            return "BREAKING" in fields or "BREAKER" in fields
    return False


class _Truncator:
    """Changes a file from a thread, where the change may wait for a lease on the file
    to be given up (by the reader, once it sees that the lease is being broken)."""

    def __init__(self, path: str, change) -> None:
        self.path = path
        self.thread = threading.Thread(target=change, args=(path,))

    def start_and_wait(self) -> None:
        """Start the change; return once it is done, or once it waits for the lease."""
        self.thread.start()
        while self.thread.is_alive() and not _lease_breaking(self.path):
            self.thread.join(0.001)

    def finish(self) -> None:
        self.thread.join(60)
        assert not self.thread.is_alive()


def _truncate(path: str) -> None:
    os.truncate(path, 200)


def _rewrite_same_size(path: str) -> None:
    """Rewrite the file in place with other bytes of the same size, and a new mtime (set
    explicitly: two writes within one clock tick can share a modification time)."""
    status = os.stat(path)
    data = bytearray(Path(path).read_bytes())
    with open(path, "r+b") as file:
        file.seek(len(data) // 2)
        file.write(bytes(b ^ 0xFF for b in data[len(data) // 2 :]))
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))


@pytest.fixture
def small_reads(monkeypatch) -> None:
    """Files are read 64 KiB (of values at 8 bytes) at a time, so that small files take many reads."""
    from infocli import evaluate

    monkeypatch.setattr(evaluate, "READ_BYTES", 64 << 10)


def _after_first_read(monkeypatch, cls, method: str, truncator: _Truncator) -> None:
    """Make the file change once ``cls.method`` has read one block."""
    original = getattr(cls, method)
    calls = []

    def spy(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        if not calls:
            calls.append(1)
            truncator.start_and_wait()
        return result

    monkeypatch.setattr(cls, method, spy)


@pytest.mark.parametrize("leased", [True, False], ids=["mapped-under-lease", "read-into-buffers"])
@pytest.mark.parametrize("change", [_truncate, _rewrite_same_size])
def test_npy_changed_mid_read_is_an_error(tmp_path, monkeypatch, small_reads, leased, change):
    """The issue's example (another job truncates the .npy being read) and a rewrite of
    the same size, on both ways of reading: exit 2, and the truncation happened."""
    logits, labels = _logits(2_000, 10)
    preds = _write_npy(tmp_path / "preds.npy", logits)
    label_path = _write_npy(tmp_path / "labels.npy", labels)
    if not leased:
        monkeypatch.setattr(npy_reader, "_lease", lambda fd: False)
    truncator = _Truncator(preds, change)
    _after_first_read(monkeypatch, npy_reader.NpyTable, "_read", truncator)
    result = invoke("eval", preds, label_path, "--chunk-rows", 50)
    truncator.finish()
    assert_bad_input(result, preds, CHANGED)
    assert label_path not in result.stderr


@pytest.mark.parametrize("change", [_truncate, _rewrite_same_size])
def test_parquet_changed_mid_read_is_an_error(tmp_path, monkeypatch, small_reads, change):
    """The same for Parquet, whose small row groups were decoded from a memory map."""
    logits, labels = _logits(2_000, 10)
    preds = str(tmp_path / "preds.parquet")
    table = pa.table({**{f"c{j}": logits[:, j] for j in range(10)}, "label": labels})
    pq.write_table(table, preds, row_group_size=100)
    truncator = _Truncator(preds, change)
    from infocli.readers import parquet as parquet_reader

    original = parquet_reader.to_batch
    calls = []

    def spy(*args, **kwargs):
        batch = original(*args, **kwargs)
        if not calls:
            calls.append(1)
            truncator.start_and_wait()
        return batch

    monkeypatch.setattr(parquet_reader, "to_batch", spy)
    result = invoke("eval", preds, "--chunk-rows", 100, "--kind", "logits")
    truncator.finish()
    assert_bad_input(result, preds, CHANGED)


# The child runs infocli with one hook: once the first block of the predictions is read,
# it tells the parent (READY) and waits for it (GO) before reading on.
_CHILD = """
import os, sys
ready, go = int(sys.argv.pop(1)), int(sys.argv.pop(1))
from infocli import evaluate
from infocli.readers import npy, parquet

evaluate.READ_BYTES = 64 << 10  # many reads

def pause():
    os.write(ready, b"r")
    os.read(go, 1)

read = npy.NpyTable._read
def _read(self, start, stop):
    block = read(self, start, stop)
    if start == 0 and "preds" in self.path:
        pause()
    return block
npy.NpyTable._read = _read

to_batch = parquet.to_batch
def _to_batch(record_batch, matrix, vectors, path, first_row):
    batch = to_batch(record_batch, matrix, vectors, path, first_row)
    if first_row == 0:
        pause()
    return batch
parquet.to_batch = _to_batch

sys.argv[0] = "infocli"
from infocli.cli import main
main()
"""


@pytest.mark.parametrize("fmt", ["npy", "parquet"])
def test_truncation_by_another_process_is_exit_2_not_sigbus(tmp_path, fmt):
    """A real infocli process reads a file that a second process truncates after the
    first block was read: exit 2 with one error line, not death by SIGBUS."""
    logits, labels = _logits(4_000, 100)
    if fmt == "npy":
        preds = _write_npy(tmp_path / "preds.npy", logits)
        args = [preds, _write_npy(tmp_path / "labels.npy", labels)]
    else:
        preds = str(tmp_path / "preds.parquet")
        pq.write_table(pa.table({f"c{j}": logits[:, j] for j in range(100)}), preds, row_group_size=200)
        args = [preds]
    ready_read, ready_write = os.pipe()
    go_read, go_write = os.pipe()
    env = dict(os.environ, PYTHONPATH=str(REPO), INFOCLI_FORMAT="json")
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(ready_write), str(go_read), "eval", *args, "--chunk-rows", "200"],
        pass_fds=(ready_write, go_read),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    os.close(ready_write)
    os.close(go_read)
    truncator = None
    try:
        assert os.read(ready_read, 1) == b"r", child.communicate()
        # A real second process; it may wait for infocli's lease on the file to be given up.
        truncator = subprocess.Popen([sys.executable, "-c", f"import os; os.truncate({preds!r}, 200)"])
        while truncator.poll() is None and not _lease_breaking(preds):
            try:
                truncator.wait(0.001)
            except subprocess.TimeoutExpired:
                pass
        os.write(go_write, b"g")
        stdout, stderr = child.communicate(timeout=120)
    finally:
        os.close(ready_read)
        os.close(go_write)
        if child.poll() is None:
            child.kill()
        if truncator is not None:
            truncator.wait(60)
    assert child.returncode == 2, (child.returncode, -signal.SIGBUS, stderr)
    assert stdout == b""
    lines = stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"infocli: error: {preds}: "), lines
    assert CHANGED in lines[0]
    assert truncator.returncode == 0 and os.path.getsize(preds) == 200


# ================================================================ corrupt .npy headers


def _npy_bytes(header: str, data: bytes = b"", version: bytes = b"\x01\x00") -> bytes:
    """A .npy file with the header text given (padded as NumPy pads it), then ``data``."""
    text = header.encode("latin1")
    body = text + b" " * (63 - (10 + len(text)) % 64) + b"\n"
    return b"\x93NUMPY" + version + struct.pack("<H", len(body)) + body + data


_F8 = np.arange(15, dtype="<f8").tobytes()  # 5 x 3 float64 values

CORRUPT_HEADERS = {
    # the example: a negative dimension
    "negative-width": _npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (5, -3), }", _F8),
    "negative-rows": _npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (-1, 3), }", _F8),
    "shape-larger-than-data": _npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (9, 3), }", _F8),
    "shape-smaller-than-data": _npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", _F8),
    "huge-shape": _npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2**62, 2**62), }", _F8),
    "bad-dtype": _npy_bytes("{'descr': '<x9', 'fortran_order': False, 'shape': (5, 3), }", _F8),
    "dtype-not-a-string": _npy_bytes("{'descr': 5, 'fortran_order': False, 'shape': (5, 3), }", _F8),
    "dict-with-a-list-key": _npy_bytes("{[1]: 2, 'descr': '<f8'}", _F8),
    "fractional-shape": _npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (5.5, 3), }", _F8),
    "fortran-order-not-bool": _npy_bytes("{'descr': '<f8', 'fortran_order': 'yes', 'shape': (5, 3), }", _F8),
    "unknown-version": _npy_bytes(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (5, 3), }", _F8, b"\x09\x00"
    ),
    "cut-in-the-header": _npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (5, 3), }")[:30],
}


@pytest.mark.parametrize("content", CORRUPT_HEADERS.values(), ids=CORRUPT_HEADERS.keys())
def test_corrupt_npy_header_is_exit_2(tmp_path, content):
    """A header that cannot describe the file's data is one error line, never a
    traceback or a count of -1 rows; as predictions and as labels."""
    path = tmp_path / "bad.npy"
    path.write_bytes(content)
    good = _write_npy(tmp_path / "good.npy", np.zeros(5, np.int64))
    assert_bad_input(invoke("eval", path, good), str(path), "corrupt .npy header")
    preds = _write_npy(tmp_path / "preds.npy", np.full((5, 3), 1 / 3))
    assert_bad_input(invoke("eval", preds, path), str(path), "corrupt .npy header")


def test_a_valid_header_written_by_hand_is_read(tmp_path):
    """The hand-made headers above are NumPy's: the same header with a fitting shape reads."""
    path = tmp_path / "good.npy"
    path.write_bytes(_npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (5, 3), }", _F8))
    np.testing.assert_array_equal(np.load(path), np.arange(15.0).reshape(5, 3))
    labels = _write_npy(tmp_path / "labels.npy", np.zeros(5, np.int64))
    assert run_json("eval", path, labels, "--kind", "logits")["n_samples"] == 5


# ==================================================================== Fortran-ordered .npy


@pytest.mark.parametrize("chunk_rows", [1, 7, 1_000])
def test_fortran_ordered_npy_gives_the_numbers_of_c_order(tmp_path, chunk_rows):
    logits, labels = _logits(300, 11, seed=3)
    label_path = _write_npy(tmp_path / "labels.npy", labels)
    c_order = run_json("eval", _write_npy(tmp_path / "c.npy", logits), label_path, "--chunk-rows", chunk_rows)
    fortran = np.asfortranarray(logits)
    path = _write_npy(tmp_path / "f.npy", fortran)
    assert np.load(path, mmap_mode="r").flags.f_contiguous
    f_order = run_json("eval", path, label_path, "--chunk-rows", chunk_rows)
    # Class-major chunks are summed in another order: float32 sums differ in the last digits.
    assert f_order["metrics"] == pytest.approx(c_order["metrics"], rel=1e-7)
    assert f_order["n_samples"] == 300


def test_fortran_ordered_npy_is_read_a_block_at_a_time(tmp_path, monkeypatch, small_reads):
    """No read is larger than a block of rows of one column, and nothing is mapped."""
    logits, labels = _logits(5_000, 40, seed=4)
    path = _write_npy(tmp_path / "f.npy", np.asfortranarray(logits))
    label_path = str(tmp_path / "labels.parquet")  # not an .npy: its windows are mapped
    pq.write_table(pa.table({"label": labels}), label_path)
    reads = []
    from infocli.readers import table as table_module

    read_into = table_module.WatchedFile.read_into

    def spy(self, buffer, offset):
        if self.path == path:
            reads.append(len(memoryview(buffer).cast("B")))
        return read_into(self, buffer, offset)

    monkeypatch.setattr(table_module.WatchedFile, "read_into", spy)
    monkeypatch.setattr(npy_reader, "_window", lambda *args: pytest.fail("memory-mapped"))
    result = run_json("eval", path, label_path, "--chunk-rows", 100)
    assert result["n_samples"] == 5_000
    assert sum(reads) == logits.nbytes
    assert max(reads) <= 100 * 4 * max(1, (64 << 10) // 8 // 40 // 100)  # one read of rows per column


def _peak_mib(folder: Path, logits: np.ndarray, labels: np.ndarray) -> float:
    """Peak RSS of an infocli process that evaluates the logits, in MiB."""
    preds = _write_npy(folder / "preds.npy", logits)
    args = ["eval", preds, _write_npy(folder / "labels.npy", labels), "--kind", "logits"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen([sys.executable, "-m", "infocli", *args], env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return usage.ru_maxrss / 1024


def test_fortran_ordered_npy_peak_memory_does_not_follow_the_file(tmp_path):
    """A 96 MB Fortran-ordered file: the process's peak RSS stays below the file's size
    (it followed the file when the whole array was memory-mapped)."""
    logits, labels = _logits(24_000, 1_000, seed=5)
    (tmp_path / "small").mkdir()
    (tmp_path / "large").mkdir()
    baseline = _peak_mib(tmp_path / "small", np.asfortranarray(logits[:100]), labels[:100])
    peak = _peak_mib(tmp_path / "large", np.asfortranarray(logits), labels)
    assert peak < baseline + logits.nbytes / 2**20 / 2, (peak, baseline)


# ================================================================== Parquet column types

_N = 400


@pytest.fixture
def probs() -> np.ndarray:
    """Probabilities with 7 decimal places, exactly as text: the same numbers as decimals."""
    rng = np.random.default_rng(7)
    return np.round(rng.dirichlet(np.ones(3), _N), 7)


@pytest.fixture
def labels() -> np.ndarray:
    return np.random.default_rng(8).integers(0, 3, _N)


def _parquet(folder: Path, name: str, columns: dict) -> str:
    path = str(folder / f"{name}.parquet")
    pq.write_table(pa.table(columns), path)
    return path


def _decimals(values: np.ndarray, t: pa.DataType) -> pa.Array:
    return pa.array([decimal.Decimal(f"{v:.7f}") for v in values], t)


def _numbers(result: dict) -> tuple:
    return result["metrics"], result["standard_error"], result["n_samples"], result["n_renormalised"]


@pytest.mark.parametrize("t", [pa.decimal128(9, 7), pa.decimal256(40, 7)], ids=str)
def test_parquet_decimal_columns_are_numbers(tmp_path, probs, labels, t):
    """The issue's example: decimal prediction columns (and a decimal label column) give
    the JSON numbers of the same values as float64."""
    reference = _parquet(tmp_path, "float64", {**{f"c{j}": probs[:, j] for j in range(3)}, "label": labels})
    as_decimals = {f"c{j}": _decimals(probs[:, j], t) for j in range(3)}
    label_decimals = pa.array([decimal.Decimal(int(x)) for x in labels], pa.decimal128(3, 0))
    decimal_path = _parquet(tmp_path, "decimal", {**as_decimals, "label": label_decimals})
    expected = _numbers(run_json("eval", reference, "--tol", "1e-6", "--chunk-rows", 7))
    assert _numbers(run_json("eval", decimal_path, "--tol", "1e-6", "--chunk-rows", 7)) == expected
    # Decimals with a missing value: NaN, reported with its row, as for float64.
    as_decimals["c1"] = pa.array([None, *as_decimals["c1"].to_pylist()[1:]], t)
    path = _parquet(tmp_path, "missing", {**as_decimals, "label": label_decimals})
    assert_bad_input(invoke("eval", path), path, "row 0")


def test_parquet_list_of_decimals_is_numbers(tmp_path, probs, labels):
    reference = _parquet(tmp_path, "list", {"scores": pa.array(list(probs)), "label": labels})
    rows = [[decimal.Decimal(f"{v:.7f}") for v in row] for row in probs]
    path = _parquet(
        tmp_path, "decimals", {"scores": pa.array(rows, pa.list_(pa.decimal128(9, 7))), "label": labels}
    )
    assert _numbers(run_json("eval", path, "--tol", "1e-6")) == _numbers(
        run_json("eval", reference, "--tol", "1e-6")
    )


@pytest.mark.parametrize(
    "column",
    [
        pa.nulls(_N),  # the example
        pa.array(np.arange(_N).astype("datetime64[D]")),
        pa.array(np.arange(_N).astype("datetime64[ms]")),
        pa.array([b"x"] * _N),
        pa.array([True] * _N),
        pa.array([{"a": 1}] * _N),
        pa.array(["a"] * _N).dictionary_encode(),
    ],
    ids=lambda c: str(c.type),
)
def test_parquet_non_numeric_prediction_column_is_exit_2_naming_it(tmp_path, probs, labels, column):
    path = _parquet(tmp_path, "preds", {"c0": probs[:, 0], "odd": column, "label": labels})
    assert_bad_input(invoke("eval", path), path, "'odd'", str(column.type))


@pytest.mark.parametrize("column", [pa.nulls(_N), pa.array(np.arange(_N).astype("datetime64[ms]"))], ids=str)
def test_parquet_non_numeric_label_column_is_exit_2_naming_it(tmp_path, probs, column):
    path = _parquet(tmp_path, "preds", {**{f"c{j}": probs[:, j] for j in range(3)}, "label": column})
    assert_bad_input(invoke("eval", path), path, "'label'", str(column.type))


def test_dictionary_encoded_numbers_are_their_values(probs, labels):
    """Arrow batches with dictionary-encoded numbers (Parquet stores them plain, but an
    Arrow schema can ask for them) give the values of the plain columns."""
    plain = [pa.array(probs[:, j]) for j in range(3)]
    encoded = pa.RecordBatch.from_arrays(
        [*(c.dictionary_encode() for c in plain), pa.array(labels).dictionary_encode()],
        ["c0", "c1", "c2", "label"],
    )
    assert [column_of(f).kind for f in encoded.schema] == ["number"] * 4
    batch = to_batch(encoded, ["c0", "c1", "c2"], ["label"], "x.parquet", 0)
    np.testing.assert_array_equal(batch.matrix, probs)
    np.testing.assert_array_equal(batch.vectors["label"], labels)


def test_parquet_float16_among_other_float_columns(tmp_path, labels):
    """Arrow cannot put float16 beside float32 in one tensor; the values are those of float16."""
    rng = np.random.default_rng(9)
    logits = rng.normal(0, 1, (_N, 3))
    half = logits[:, 0].astype(np.float16)
    columns = {"c0": half, "c1": logits[:, 1].astype(np.float32), "c2": logits[:, 2], "label": labels}
    path = _parquet(tmp_path, "mixed", columns)
    wide = {"c0": half.astype(np.float64), "c1": logits[:, 1].astype(np.float32).astype(np.float64)}
    reference = _parquet(tmp_path, "float64", {**wide, "c2": logits[:, 2], "label": labels})
    assert _numbers(run_json("eval", path, "--kind", "logits")) == _numbers(
        run_json("eval", reference, "--kind", "logits")
    )


@pytest.mark.parametrize(
    "t", [pa.list_(pa.float64()), pa.list_(pa.float64(), 3), pa.large_list(pa.float64())], ids=str
)
def test_parquet_missing_list_is_exit_2_naming_its_row(tmp_path, probs, labels, t):
    rows = [None if i == 7 else list(row) for i, row in enumerate(probs)]
    path = _parquet(tmp_path, "lists", {"scores": pa.array(rows, t), "label": labels})
    assert_bad_input(invoke("eval", path, "--tol", "1e-6"), path, "row 7", "missing", "'scores'")


def test_parquet_int_labels_with_a_null_are_exit_2_naming_the_row(tmp_path, probs, labels):
    column = pa.array([None if i == 11 else int(x) for i, x in enumerate(labels)], pa.int64())
    path = _parquet(tmp_path, "preds", {**{f"c{j}": probs[:, j] for j in range(3)}, "label": column})
    assert_bad_input(invoke("eval", path, "--tol", "1e-6"), path, "row 11")
