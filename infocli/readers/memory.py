"""An in-memory NumPy array as a table, so that arrays go through the same pipeline as files."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from infocli.errors import InfoCliError
from infocli.readers.table import Batch, Column, Table


class ArrayTable(Table):
    """A 2-D array is one list column (its rows), a 1-D array one column, both unnamed;
    an (n, 1) array is read as its one column.

    Args:
        values: The array.
        path: What messages call it.
    """

    format = "array"

    def __init__(self, values: np.ndarray, path: str) -> None:
        values = np.asarray(values)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim not in (1, 2):
            raise InfoCliError(f"expected a 1-D or 2-D array, got shape {values.shape}", path=path)
        self.path = path
        self._values = values
        kind = "number" if values.dtype.kind in "iuf" else "bool" if values.dtype.kind == "b" else "other"
        if values.dtype.kind in "US":
            kind = "string"
        width = values.shape[1] if values.ndim == 2 else None
        self.columns = [
            Column("", "list" if width is not None and kind == "number" else kind, width, str(values.dtype))
        ]
        self.n_rows = values.shape[0]

    def batches(
        self, matrix: Sequence[str], vectors: Sequence[str], rows: int, *, keys: Sequence[str] = ()
    ) -> Iterator[Batch]:
        """Slices of the array, without copying (see :meth:`Table.batches`)."""
        for start in range(0, max(self.n_rows or 0, 0), rows):
            block = self._values[start : start + rows]
            yield Batch(start, block.shape[0], block if matrix else None, dict.fromkeys(vectors, block))
