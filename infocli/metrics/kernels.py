"""The fast per-chunk array routines: each gives what the plain NumPy expression gives,
faster on the memory layouts the readers produce.

Every routine here is pinned against its plain NumPy version by a test
(``tests/test_kernels.py``); why each trick pays is measured in BENCHMARKS.md ("Why these
defaults"). Nothing else in infocli plays tricks with NumPy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def pick(x: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """x[i, classes[i]] for every row (by a flat index where the memory allows: faster)."""
    n = x.shape[0]
    if x.flags.f_contiguous:
        return x.ravel(order="F").take(classes * n + np.arange(n))
    if x.flags.c_contiguous:
        return x.ravel().take(np.arange(n) * x.shape[1] + classes)
    return x[np.arange(n), classes]


def class_major(x: np.ndarray) -> bool:
    """Whether a row's values are a column apart in memory (as read from columnar files),
    so that a reduction along rows runs down contiguous columns."""
    return x.shape[1] > 1 and x.strides[0] == x.itemsize


def row_sums(x: np.ndarray) -> np.ndarray:
    """Row sums, in the input precision, returned as float64.

    Both ways used here sum each row on its own, in class order, the same way whatever
    the number of rows, so a chunk's results do not depend on how the file was cut. In
    class-major memory of several rows a reduction adds whole columns, with identical
    sums, a fifth faster than ``einsum`` (52,428 x 10 float32 chunks of a Parquet file:
    0.18-0.24 against 0.22-0.30 ms); a single row it would sum pairwise, so ``einsum``
    sums that. In row-major memory ``einsum`` is several times faster than a reduction
    along short rows.
    """
    by_columns = class_major(x) and x.shape[0] > 1
    sums = np.add.reduce(x, axis=1) if by_columns else np.einsum("ij->i", x)
    return sums.astype(np.float64)


def row_dot(x: np.ndarray, y: np.ndarray, check: Callable[[], None] | None = None) -> np.ndarray:
    """Row-wise sum of x * y with 0 * (+-inf) taken as 0, as float64.

    The convention matters where a zero weight meets log 0 = -inf; the rows it touches
    are few in practice, so they are recomputed with a mask instead of masking everything.
    A value no distribution can have (a negative probability, a -inf logit) makes its
    row NaN too: ``check``, when given, runs before such rows are masked, to raise for it.
    """
    with np.errstate(invalid="ignore"):
        out = np.einsum("ij,ij->i", x, y).astype(np.float64)
    bad = np.isnan(out)
    if bad.any():
        if check is not None:
            check()
        xs, ys = x[bad], y[bad]
        with np.errstate(invalid="ignore"):
            out[bad] = np.einsum("ij,ij->i", xs, np.where(xs > 0, ys, 0))
    return out


def row_max(x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Each row's maximum (NaN where a row holds NaN), and its argmax when that came free.

    Chunks read from columnar files are class-major in memory (columns side by side,
    Fortran order), where a maximum along a row is a fast reduction; in row-major memory
    ``argmax`` is the fast one, and the maximum is picked with it.
    """
    if class_major(x):
        return x.max(axis=1), None
    argmax = x.argmax(axis=1)
    return pick(x, argmax), argmax


def minus_row_max(z: np.ndarray, row_max: np.ndarray) -> np.ndarray:
    """z - row_max[:, None], as a new array.

    NumPy's default ufunc buffer spans several rows, so it copies the broadcast row
    maxima into a buffer; with a buffer shorter than a row it subtracts each maximum
    along its own row as a scalar. For 1,000 classes: 0.45 against 0.88 ns a value. Short
    rows are faster with the default buffer (the setting is per thread).
    """
    if z.shape[1] < 256:
        return np.subtract(z, row_max[:, None])
    default = np.setbufsize(16)
    try:
        return np.subtract(z, row_max[:, None])
    finally:
        np.setbufsize(default)


def right_closed_cells(values: np.ndarray, cells: int) -> np.ndarray:
    """The cell of each value in [0, 1] among ``cells`` equal-width cells ``(lower, upper]``,
    the first ``[0, upper]``, the edges being ``np.linspace(0, 1, cells + 1)``: what
    ``np.searchsorted(edges, values, side="left") - 1`` clipped to the cells gives.

    For a few cells, one comparison per inner edge, added up, is faster than the binary
    search (see BENCHMARKS.md, "Why these defaults").
    """
    edges = np.linspace(0.0, 1.0, cells + 1)
    if cells > FEW_CELLS or values.dtype.kind != "f":
        return np.clip(np.searchsorted(edges, values, side="left") - 1, 0, cells - 1)
    # In the values' precision: v > edge exactly when v > the largest such value <= edge.
    inner = edges[1:-1]
    thresholds = inner.astype(values.dtype)
    over = thresholds.astype(np.float64) > inner
    thresholds[over] = np.nextafter(thresholds[over], values.dtype.type(-np.inf))
    cell = np.zeros(values.shape, np.uint8)
    for threshold in thresholds:
        cell += values > threshold
    return cell.astype(np.intp)


FEW_CELLS = 32
"""Up to this many cells, :func:`right_closed_cells` compares with each edge."""
