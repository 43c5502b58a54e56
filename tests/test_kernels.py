"""Each routine of infocli.metrics.kernels gives what its plain NumPy expression gives, for
float32 and float64, class-major and row-major memory, one row and many, narrow and wide rows."""

from __future__ import annotations

import numpy as np
import pytest

from infocli.metrics.kernels import minus_row_max, pick, row_dot, row_max, row_sums

DTYPES = (np.float32, np.float64)
WIDTHS = (1, 3, 255, 256, 1000)
ROWS = (1, 37)
LAYOUTS = ("C", "F", "strided")


def _matrix(n: int, c: int, dtype, layout: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed + n * 7 + c)
    x = rng.normal(size=(2 * n, 2 * c)).astype(dtype)
    if layout == "strided":
        return x[::2, ::2]
    return np.asarray(x[:n, :c], order=layout).copy(order=layout)


CASES = [(n, c, d, lay) for n in ROWS for c in WIDTHS for d in DTYPES for lay in LAYOUTS]


@pytest.mark.parametrize("n, c, dtype, layout", CASES)
def test_pick_is_fancy_indexing(n, c, dtype, layout) -> None:
    x = _matrix(n, c, dtype, layout)
    classes = np.random.default_rng(1).integers(0, c, size=n)
    np.testing.assert_array_equal(pick(x, classes), x[np.arange(n), classes])


@pytest.mark.parametrize("n, c, dtype, layout", CASES)
def test_row_sums_are_row_sums_and_do_not_depend_on_the_chunk_cuts(n, c, dtype, layout) -> None:
    x = _matrix(n, c, dtype, layout)
    sums = row_sums(x)
    assert sums.dtype == np.float64
    exact = x.astype(np.float64).sum(axis=1)
    np.testing.assert_allclose(
        sums, exact, rtol=0, atol=c * np.finfo(dtype).eps * np.abs(x).sum(axis=1).max()
    )
    cuts = [0, 1, n // 2, n] if n > 2 else [0, n]
    pieces = [row_sums(x[a:b]) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]
    np.testing.assert_array_equal(np.concatenate(pieces), sums)
    np.testing.assert_array_equal(np.concatenate([row_sums(x[i : i + 1]) for i in range(n)]), sums)


@pytest.mark.parametrize("n, c, dtype, layout", CASES)
def test_row_dot_is_the_masked_sum_with_zero_times_infinity_zero(n, c, dtype, layout) -> None:
    rng = np.random.default_rng(2)
    p = np.abs(_matrix(n, c, dtype, layout))
    zero = rng.random(p.shape) < 0.3
    p[zero] = 0
    with np.errstate(divide="ignore"):
        logq = np.where(zero, -np.inf, np.log(np.abs(_matrix(n, c, dtype, layout, seed=5)))).astype(dtype)
    with np.errstate(invalid="ignore"):
        expected = np.where(p > 0, p.astype(np.float64) * logq, 0.0).sum(axis=1)
    got = row_dot(p, logq)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=c * np.finfo(dtype).eps * 4, atol=c * np.finfo(dtype).eps)


def test_row_dot_calls_check_only_when_a_row_needs_masking() -> None:
    p = np.array([[0.5, 0.5], [0.0, 1.0]])
    q = np.array([[-1.0, -1.0], [-np.inf, -1.0]])
    called: list[int] = []
    row_dot(p[:1], q[:1], check=lambda: called.append(1))
    assert called == []
    np.testing.assert_array_equal(row_dot(p, q, check=lambda: called.append(1)), [-1.0, -1.0])
    assert called == [1]

    def refuse() -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        row_dot(p, q, check=refuse)


@pytest.mark.parametrize("n, c, dtype, layout", CASES)
def test_row_max_is_the_maximum_and_argmax(n, c, dtype, layout) -> None:
    x = _matrix(n, c, dtype, layout)
    top, arg = row_max(x)
    np.testing.assert_array_equal(top, x.max(axis=1))
    if arg is not None:
        np.testing.assert_array_equal(arg, x.argmax(axis=1))


def test_row_max_gives_nan_for_a_row_with_nan() -> None:
    for x in (np.array([[1.0, np.nan, 3.0]]), np.asfortranarray([[1.0, np.nan], [2.0, 3.0]])):
        assert np.isnan(row_max(x)[0][0])


@pytest.mark.parametrize("n, c, dtype, layout", CASES)
def test_minus_row_max_is_the_broadcast_subtraction_and_keeps_the_buffer_size(n, c, dtype, layout) -> None:
    z = _matrix(n, c, dtype, layout)
    before = np.getbufsize()
    got = minus_row_max(z, z.max(axis=1))
    assert np.getbufsize() == before
    np.testing.assert_array_equal(got, z - z.max(axis=1, keepdims=True))
    assert got.dtype == z.dtype and not np.shares_memory(got, z)
