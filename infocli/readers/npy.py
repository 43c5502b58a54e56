"""NumPy .npy files, read chunk by chunk."""

from __future__ import annotations

import io
import math
import mmap
import os
from collections.abc import Iterator, Sequence
from typing import BinaryIO

import numpy as np
from numpy.lib import format as npy_format

from infocli.errors import InfoCliError
from infocli.readers.table import Batch, Column, Table, WatchedFile, changed_error

_MAGIC = b"\x93NUMPY"
_MAX_HEADER_BYTES = 64 << 20

# What NumPy's header parser raises on a damaged header: its own ValueError, and the
# errors of Python's literal parser and of dtype construction that it lets through.
_HEADER_ERRORS = (ValueError, TypeError, SyntaxError, RecursionError, MemoryError, OverflowError, EOFError)


def _kind(dtype: np.dtype) -> str:
    if dtype.kind in "iuf":
        return "number"
    if dtype.kind in "US":
        return "string"
    if dtype.kind == "b":
        return "bool"
    return "other"


def _corrupt(what: str, path: str, *, or_truncated: bool = False) -> InfoCliError:
    return InfoCliError(
        "corrupt .npy header" + (", or a truncated file" if or_truncated else "") + f": {what}",
        path=path,
        hint="Check that the file was written completely by NumPy",
    )


def _header(file: BinaryIO, size: int, path: str) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """Shape, Fortran order, dtype and data offset, from the file's header, checked
    against the file's size."""
    if file.read(len(_MAGIC)) != _MAGIC:
        raise InfoCliError("not a .npy file (it does not start with the NumPy magic bytes)", path=path)
    file.seek(0)
    try:
        version = npy_format.read_magic(file)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise ValueError(f"unknown format version {version[0]}.{version[1]}")
        read = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
        # A structured array of many fields has a long header (40,000 fields: 749 kB);
        # it is a Python literal, read without unpickling.
        shape, fortran_order, dtype = read(file, max_header_size=_MAX_HEADER_BYTES)
    except _HEADER_ERRORS as error:
        raise _corrupt(" ".join(str(error).split()) or type(error).__name__, path) from error
    if any(n < 0 for n in shape):
        raise _corrupt(f"shape {shape} has a negative dimension", path)
    offset = file.tell()
    needed = math.prod(shape) * dtype.itemsize
    if size - offset != needed:
        raise _corrupt(
            f"shape {shape} of {dtype} takes {needed:,} bytes, but {size - offset:,} follow the header",
            path,
            or_truncated=size - offset < needed,
        )
    return shape, fortran_order, dtype, offset


class NpyTable(Table):
    """A .npy file: a 2-D array is one list column (the rows), a 1-D array one column,
    and a 1-D structured array one column per field.

    Rows are read in blocks, so that only the blocks in flight count in the process's
    memory. Where the process holds a read lease on the file (see :func:`_lease`), a
    block of a C-ordered array is a memory-mapped window of the file (see
    :func:`_window`): its values are the page cache's own pages, not a copy. Otherwise
    each block is read into a buffer of its own (see
    :class:`~infocli.readers.table.WatchedFile`), which costs a copy: 200,000 x 1,000
    float32 logits took 0.86 instead of 0.79 CPU-seconds to evaluate, and 76 instead of
    56 MiB at the peak (9 interleaved runs). A Fortran-ordered array, whose rows are not
    contiguous on disk, is always read so: one read per column, into a class-major block
    (a 1 GB file peaked at 71 instead of 994 MiB, in 1.56 instead of 1.02 CPU-seconds).

    Args:
        source: The file to open.
        path: The file as the user named it.
    """

    format = "npy"

    def __init__(self, source: str, path: str) -> None:
        self.path = path
        fd = os.open(source, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            self._file = WatchedFile(fd, path)
            with io.FileIO(fd, closefd=False) as header:
                shape, fortran, dtype, self._offset = _header(header, self._file.size, path)
            if dtype.hasobject:
                raise InfoCliError("the array holds Python objects; expected numbers or strings", path=path)
            if len(shape) not in (1, 2) or (dtype.names and len(shape) != 1):
                raise InfoCliError(
                    f"expected a 1-D or 2-D array (rows, classes), got shape {shape}", path=path
                )
        except BaseException:
            os.close(fd)
            raise
        self._shape, self._dtype = shape, dtype
        self._fortran = fortran and len(shape) == 2
        self._leased = not self._fortran and dtype.itemsize > 0 and _lease(fd)
        if dtype.names:
            self.columns = [self._field(name) for name in dtype.names]
        elif len(shape) == 2:
            kind = "list" if _kind(dtype) == "number" else "other"
            self.columns = [Column("", kind, shape[1], str(dtype))]
        else:
            self.columns = [Column("", _kind(dtype), None, str(dtype))]
        self.n_rows = shape[0]

    def _field(self, name: str) -> Column:
        fields = self._dtype.fields
        assert fields is not None
        dtype = fields[name][0]
        if dtype.subdtype is not None:
            base, shape = dtype.subdtype
            if len(shape) == 1 and _kind(base) == "number":
                return Column(name, "list", shape[0], str(dtype))
            return Column(name, "other", None, str(dtype))
        return Column(name, _kind(dtype), None, str(dtype))

    def _read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of the array, mapped or read (see the class)."""
        n, row_shape, itemsize = self._shape[0], self._shape[1:], self._dtype.itemsize
        count, row_values = stop - start, math.prod(row_shape)
        file = self._file
        if self._leased:
            if not _holds_lease(file.fd):
                raise changed_error(self.path, "another process opened it to write to it or truncate it")
            data = _window(
                file.fd, self._offset + start * row_values * itemsize, count * row_values * itemsize
            )
            return data.view(self._dtype).reshape(count, *row_shape)
        buffer = np.empty(count * row_values * itemsize, np.uint8)
        if self._fortran:
            # Column j of a Fortran-ordered (n, width) array is n values at row j * n.
            step, offset = count * itemsize, self._offset + start * itemsize
            for j in range(row_values):
                file.read_into(buffer[j * step : (j + 1) * step], offset + j * n * itemsize)
            file.check()
            return _values(buffer, self._dtype, (row_values, count)).T
        file.read_into(buffer, self._offset + start * row_values * itemsize)
        file.check()
        return _values(buffer, self._dtype, (count, *row_shape))

    def batches(
        self, matrix: Sequence[str], vectors: Sequence[str], rows: int, *, keys: Sequence[str] = ()
    ) -> Iterator[Batch]:
        """Read the array in blocks of rows (see :meth:`Table.batches`)."""
        structured = self._dtype.names is not None
        for start in range(0, self.n_rows, rows):
            block = self._read(start, min(start + rows, self.n_rows))
            mat = None
            if matrix and not structured:
                mat = block
            elif len(matrix) == 1 and self.require(matrix[0], "the command line").kind == "list":
                mat = block[matrix[0]]
            elif matrix:
                # Imported here: it loads numpy.ma, 17 ms that plain arrays do not need.
                from numpy.lib import recfunctions

                mat = recfunctions.structured_to_unstructured(block[list(matrix)])
            vecs = {name: _native(block[name] if name else block) for name in vectors}
            yield Batch(start, block.shape[0], None if mat is None else _native(mat), vecs)

    def close(self) -> None:
        """Give up the lease, if there is one, and close the file."""
        if self._leased:
            _release_lease(self._file.fd)
        os.close(self._file.fd)


def _lease(fd: int) -> bool:
    """Take a read lease on the open file; return whether this process holds one.

    While the lease is held, a process that opens the file to write to it or truncates
    it waits (for at most ``/proc/sys/fs/lease-break-time``, 45 s by default) until the
    lease is given up, so that no page of a memory map of the file can vanish; the lease
    is marked as broken meanwhile, which :func:`_holds_lease` sees before each window is
    mapped. Linux grants read leases to the file's owner (or with CAP_LEASE) on local
    file systems, when no process has the file open for writing. The notice of a broken
    lease is SIGURG, which is ignored, rather than SIGIO, which would end the process.
    """
    try:
        import fcntl
        import signal

        fcntl.fcntl(fd, fcntl.F_SETSIG, signal.SIGURG)
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
    except (ImportError, AttributeError, OSError):  # not Linux, not allowed, or open for writing
        return False
    return True


def _holds_lease(fd: int) -> bool:
    """Whether the read lease on the file is held and not being broken."""
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_GETLEASE) == fcntl.F_RDLCK


def _release_lease(fd: int) -> None:
    import fcntl

    fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)


def _window(fd: int, offset: int, length: int) -> np.ndarray:
    """``length`` bytes of a file from ``offset``, memory-mapped copy-on-write.

    Nothing writes to them, and a write would never reach the file; but NumPy copies a
    read-only array whole before ``argmax``, which a writable mapping spares (524 x 1,000
    float32: 102 against 353 microseconds). The mapping is released when the last array
    that views it is freed. The file's size was checked against its header when it was
    opened, and the lease keeps it.
    """
    if length == 0:
        return np.empty(0, np.uint8)
    start = offset - offset % mmap.ALLOCATIONGRANULARITY
    view = mmap.mmap(fd, offset - start + length, access=mmap.ACCESS_COPY, offset=start)
    return np.frombuffer(view, np.uint8, count=length, offset=offset - start)


def _values(buffer: np.ndarray, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """The bytes of ``buffer`` as an array of ``dtype`` and ``shape``."""
    if dtype.itemsize == 0:  # a structured dtype without fields: nothing was read
        return np.empty(shape, dtype)
    return buffer.view(dtype).reshape(shape)


def _native(values: np.ndarray) -> np.ndarray:
    """Values in the machine's byte order (a no-op for files written on the same kind of machine)."""
    return values if values.dtype.isnative else values.astype(values.dtype.newbyteorder("="))
