"""Binary inputs that change while they are read, lie in their headers, or are odd.

Issue 14, "Files that change, lie or are odd": a .npy or Parquet file truncated or
rewritten mid-read is exit 2 ("changed while being read"), never SIGBUS; a corrupt .npy
header is exit 2; a Fortran-ordered .npy is read a chunk at a time; Parquet decimals are
numbers, and other non-numeric columns are exit 2 naming the column and its type.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from infocli.readers import npy as npy_reader

from .cli_helpers import assert_bad_input, invoke

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
    """Whether /proc/locks shows a read lease on the file that another process is breaking."""
    inode = os.stat(path).st_ino
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "LEASE" in fields and fields[-3].rsplit(":", 1)[-1] == str(inode):
            return "BREAKING" in fields or "UNLCK" in fields
    return False


class _Truncator:
    """Truncates (or rewrites) a file from a thread, which may wait there while another
    holder of a lease gives it up: the truncation starts at ``start`` and
    :meth:`wait_started` returns once it is done, or once the lease is being broken."""

    def __init__(self, path: str, change) -> None:
        self.path, self.change = path, change
        self.thread = threading.Thread(target=change, args=(path,))

    def start_and_wait(self) -> None:
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
