"""NumPy .npy files, memory-mapped so that only the rows in use are in memory."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from numpy.lib import recfunctions

from infocli.errors import InfoCliError
from infocli.readers.table import Batch, Column, Table

_MAGIC = b"\x93NUMPY"


def _kind(dtype: np.dtype) -> str:
    if dtype.kind in "iuf":
        return "number"
    if dtype.kind in "US":
        return "string"
    if dtype.kind == "b":
        return "bool"
    return "other"


class NpyTable(Table):
    """A .npy file: a 2-D array is one list column (the rows), a 1-D array one column,
    and a 1-D structured array one column per field.

    Args:
        source: The file to open.
        path: The file as the user named it.
    """

    format = "npy"

    def __init__(self, source: str, path: str) -> None:
        self.path = path
        with open(source, "rb") as file:
            if file.read(len(_MAGIC)) != _MAGIC:
                raise InfoCliError(
                    "not a .npy file (it does not start with the NumPy magic bytes)", path=path
                )
        try:
            self._array = np.load(source, mmap_mode="r", allow_pickle=False)
        except ValueError as error:
            if "mmap length" in str(error):
                raise InfoCliError(
                    "the file is truncated: it holds fewer values than its header says", path=path
                ) from error
            if "object" in str(error).lower():
                raise InfoCliError(
                    "the array holds Python objects; expected numbers or strings", path=path
                ) from error
            raise InfoCliError(f"corrupt .npy file ({error})", path=path) from error
        except (EOFError, OSError) as error:
            raise InfoCliError(f"corrupt or truncated .npy file ({error})", path=path) from error
        array = self._array
        if array.ndim not in (1, 2) or (array.dtype.names and array.ndim != 1):
            raise InfoCliError(
                f"expected a 1-D or 2-D array (rows, classes), got shape {array.shape}", path=path
            )
        if array.dtype.names:
            self.columns = [self._field(name) for name in array.dtype.names]
        elif array.ndim == 2:
            self.columns = [
                Column(
                    "",
                    "list" if _kind(array.dtype) == "number" else "other",
                    array.shape[1],
                    str(array.dtype),
                )
            ]
        else:
            self.columns = [Column("", _kind(array.dtype), None, str(array.dtype))]
        self.n_rows = array.shape[0]

    def _field(self, name: str) -> Column:
        dtype = self._array.dtype.fields[name][0]
        if dtype.subdtype is not None:
            base, shape = dtype.subdtype
            if len(shape) == 1 and _kind(base) == "number":
                return Column(name, "list", shape[0], str(dtype))
            return Column(name, "other", None, str(dtype))
        return Column(name, _kind(dtype), None, str(dtype))

    def batches(
        self, matrix: Sequence[str], vectors: Sequence[str], rows: int, *, keys: Sequence[str] = ()
    ) -> Iterator[Batch]:
        """Slice the memory-mapped array (see :meth:`Table.batches`)."""
        array = self._array
        for start in range(0, array.shape[0], rows):
            view = np.asarray(array[start : start + rows])
            mat = None
            if matrix and not array.dtype.names:
                mat = view
            elif len(matrix) == 1 and self.require(matrix[0], "the command line").kind == "list":
                mat = view[matrix[0]]
            elif matrix:
                mat = recfunctions.structured_to_unstructured(view[list(matrix)])
            vecs = {name: _native(view[name] if name else view) for name in vectors}
            yield Batch(start, view.shape[0], None if mat is None else _native(mat), vecs)

    def close(self) -> None:
        """Drop the memory map."""
        del self._array


def _native(values: np.ndarray) -> np.ndarray:
    """Values in the machine's byte order (a no-op for files written on the same kind of machine)."""
    return values if values.dtype.isnative else values.astype(values.dtype.newbyteorder("="))
