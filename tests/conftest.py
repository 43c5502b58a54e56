"""Shared fixtures for the infocli tests: write NumPy arrays as input files, and run the CLI.

Fixtures (all function-scoped, all writing under pytest's ``tmp_path``):

``files``
    An :class:`InputFiles` bound to ``tmp_path``. It writes arrays in every input format
    infocli reads and returns the path as a ``str``, ready to pass on a command line::

        preds = files.preds(probs, "parquet")             # one column per class, c0..cK
        labels = files.labels(y, "npy")                   # 1-D int array
        names = files.labels(np.array(["cat", ...]), "csv")  # class names, column "label"

    :data:`PRED_FORMATS` and :data:`LABEL_FORMATS` list the ``fmt`` values, so tests can
    parametrise over them. Float dtypes are written as given (float32 stays float32 in
    Parquet and .npy; CSV is text and is read back as float64).

``cli``
    ``cli(*args, env=None) -> Result``: runs ``infocli *args`` in-process with Typer's
    ``CliRunner`` (stdout and stderr kept apart) and returns the result, asserting nothing.
    ``INFOCLI_FORMAT`` is removed from the environment unless ``env`` sets it.

``run_json``
    ``run_json(*args, env=None) -> dict``: runs ``infocli *args --format json`` (the
    ``--format`` is added only when ``args`` has none), asserts exit code 0 and that stdout
    is exactly one strict JSON document (no bare ``NaN``/``Infinity``), and returns it.
    ``args`` is the whole command line after ``infocli``, e.g. ``run_json("eval", preds, labels)``.

``rng``
    ``np.random.default_rng`` with a fixed seed (a test module may define its own ``rng``).

Module-level helpers (``PRED_FORMATS``, ``LABEL_FORMATS``, ``SAMPLE_DATA``, ``write_table``,
``parse_single_json``, ``class_names``) can be imported with ``from .conftest import ...``:
under the ``--import-mode=importlib`` set in pyproject.toml this module is ``tests.conftest``.
Nothing here changes global state (environment, working directory, warnings filters).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from infocli.cli import app

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The repository root (holds ``sample_data/``)."""

SAMPLE_DATA = REPO_ROOT / "sample_data"
"""The shipped sample inputs."""

PRED_FORMATS = (
    "csv",
    "tsv",
    "csv.gz",
    "tsv.gz",
    "parquet",
    "pq",
    "parquet-list",
    "parquet-fixed-list",
    "npy",
    "npy-structured",
)
"""Ways :meth:`InputFiles.preds` can write an (N, C) prediction matrix:

- ``csv``/``tsv``/``csv.gz``/``tsv.gz``/``parquet``/``pq``: one column per class;
- ``parquet-list`` / ``parquet-fixed-list``: one ``list<float>`` / ``fixed_size_list<float, C>``
  column (named ``scores``) holding each row;
- ``npy``: the 2-D array itself (a 1-D array is written as is: a binary score);
- ``npy-structured``: a 1-D structured array, one field per class.
"""

LABEL_FORMATS = ("npy", "csv", "tsv", "csv.gz", "parquet", "pq", "npy-structured")
"""Ways :meth:`InputFiles.labels` can write a 1-D vector of labels (ints, floats or strings)."""

_EXTENSIONS = {
    "csv": ".csv",
    "tsv": ".tsv",
    "csv.gz": ".csv.gz",
    "tsv.gz": ".tsv.gz",
    "parquet": ".parquet",
    "pq": ".pq",
    "parquet-list": ".parquet",
    "parquet-fixed-list": ".parquet",
    "npy": ".npy",
    "npy-structured": ".npy",
}


def class_names(n_classes: int) -> list[str]:
    """The default class column names: ``c0``, ``c1``, ..."""
    return [f"c{i}" for i in range(n_classes)]


def _arrow_column(values: np.ndarray) -> pa.Array:
    """A 1-D NumPy array as an Arrow array of the same type (strings as Arrow strings)."""
    if values.dtype.kind in "US":
        return pa.array(values.astype(str).tolist(), type=pa.string())
    return pa.array(values)


def _save_npy(path: Path, values: np.ndarray) -> None:
    """``np.save`` to exactly ``path`` (given a name, np.save appends ``.npy`` unless it ends so, case-sensitively)."""
    with open(path, "wb") as file:
        np.save(file, values)


def write_table(path: Path, columns: Mapping[str, np.ndarray], fmt: str) -> None:
    """Write named 1-D columns to ``path`` as CSV/TSV (optionally gzipped), Parquet or structured .npy.

    Args:
        path: The file to write.
        columns: Column name -> 1-D array, in file order. A 2-D float array is written as a
            Parquet ``list<float>`` column (Parquet only).
        fmt: One of ``csv``, ``tsv``, ``csv.gz``, ``tsv.gz``, ``parquet``, ``pq``, ``npy-structured``.
    """
    if fmt == "npy-structured":
        n = len(next(iter(columns.values())))
        dtype = [(name, values.dtype, values.shape[1:]) for name, values in columns.items()]
        out = np.zeros(n, dtype=dtype)
        for name, values in columns.items():
            out[name] = values
        _save_npy(path, out)
        return
    arrays = {}
    for name, values in columns.items():
        if values.ndim == 2:
            flat = pa.array(values.reshape(-1))
            offsets = pa.array(np.arange(0, values.size + 1, values.shape[1], dtype=np.int32))
            arrays[name] = pa.ListArray.from_arrays(offsets, flat)
        else:
            arrays[name] = _arrow_column(values)
    table = pa.table(arrays)
    if fmt in ("parquet", "pq"):
        pq.write_table(table, path)
        return
    if fmt not in ("csv", "tsv", "csv.gz", "tsv.gz"):
        raise ValueError(f"unknown table format {fmt!r}")
    sink = pa.BufferOutputStream()
    # Arrow writes the shortest text that reads back as the same float, so float64 survives.
    pcsv.write_csv(
        table, sink, write_options=pcsv.WriteOptions(delimiter="\t" if fmt.startswith("tsv") else ",")
    )
    data = sink.getvalue().to_pybytes()
    path.write_bytes(gzip.compress(data) if fmt.endswith(".gz") else data)


class InputFiles:
    """Writes NumPy arrays as infocli input files under one folder; every method returns the path.

    File names are generated (``preds-1.parquet``, ``labels-2.npy``, ...) unless ``name`` is
    given, so a test can write many files without clashes.

    Args:
        folder: Where to write (a test's ``tmp_path``).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._count = 0

    def path(self, stem: str, fmt: str, name: str | None = None) -> Path:
        """A fresh path in the folder with the extension of ``fmt`` (or exactly ``name``)."""
        if name is not None:
            return self.folder / name
        self._count += 1
        return self.folder / f"{stem}-{self._count}{_EXTENSIONS[fmt]}"

    def preds(
        self,
        values: np.ndarray,
        fmt: str,
        *,
        columns: Sequence[str] | None = None,
        extra: Mapping[str, np.ndarray] | None = None,
        name: str | None = None,
    ) -> str:
        """Write predictions: an (N, C) matrix (or an (N,) binary score) in the form ``fmt``.

        Args:
            values: The scores, float32 or float64 (any dtype, written as is).
            fmt: One of :data:`PRED_FORMATS`.
            columns: Class column names (default ``c0..c{C-1}``; a 1-D score is ``score``).
                For the list formats, the name of the list column (default ``scores``).
            extra: More columns written after the class columns, e.g. ``{"label": y}``.
            name: The file name, when the test cares (the extension picks the format).

        Returns:
            The path.
        """
        path = self.path("preds", fmt, name)
        extra = dict(extra or {})
        if fmt == "npy":
            if extra:
                raise ValueError("a plain .npy holds one array; use npy-structured for extra columns")
            _save_npy(path, values)
            return str(path)
        if fmt in ("parquet-list", "parquet-fixed-list"):
            return self.parquet_list(
                values,
                column=(columns or ["scores"])[0],
                fixed=fmt == "parquet-fixed-list",
                extra=extra,
                name=path.name,
            )
        matrix = values.reshape(len(values), -1)
        if columns is None:
            columns = ["score"] if values.ndim == 1 else class_names(matrix.shape[1])
        if len(columns) != matrix.shape[1]:
            raise ValueError(f"{len(columns)} column names for {matrix.shape[1]} columns")
        table = {name_: matrix[:, i] for i, name_ in enumerate(columns)}
        table.update(extra)
        write_table(path, table, fmt)
        return str(path)

    def parquet_list(
        self,
        values: np.ndarray,
        *,
        column: str = "scores",
        fixed: bool = False,
        extra: Mapping[str, np.ndarray] | None = None,
        name: str | None = None,
    ) -> str:
        """Write an (N, C) matrix as one Parquet list column (``list`` or ``fixed_size_list``).

        Args:
            values: The matrix; its dtype is the list's value type.
            column: The list column's name.
            fixed: ``fixed_size_list<value, C>`` instead of ``list<value>``.
            extra: More (1-D) columns after it.
            name: The file name.

        Returns:
            The path.
        """
        path = self.path("preds", "parquet", name)
        flat = pa.array(np.ascontiguousarray(values).reshape(-1))
        if fixed:
            array = pa.FixedSizeListArray.from_arrays(flat, values.shape[1])
        else:
            offsets = pa.array(np.arange(0, values.size + 1, values.shape[1], dtype=np.int32))
            array = pa.ListArray.from_arrays(offsets, flat)
        arrays = {column: array}
        arrays.update({k: _arrow_column(v) for k, v in (extra or {}).items()})
        pq.write_table(pa.table(arrays), path)
        return str(path)

    def labels(
        self, values: np.ndarray, fmt: str = "npy", *, column: str = "label", name: str | None = None
    ) -> str:
        """Write a 1-D label vector (class indices, integral floats, or class-name strings).

        Args:
            values: The labels.
            fmt: One of :data:`LABEL_FORMATS` (``npy``: the 1-D array itself; else one column).
            column: The column name for table formats.
            name: The file name.

        Returns:
            The path.
        """
        path = self.path("labels", fmt, name)
        if fmt == "npy":
            _save_npy(path, values)
        else:
            write_table(path, {column: values}, fmt)
        return str(path)

    def table(self, columns: Mapping[str, np.ndarray], fmt: str, *, name: str | None = None) -> str:
        """Write arbitrary named columns (see :func:`write_table`); returns the path."""
        path = self.path("table", fmt, name)
        write_table(path, columns, fmt)
        return str(path)

    def npy(self, values: np.ndarray, *, name: str | None = None) -> str:
        """Write any array as .npy (2-D targets, 1-D scores, structured arrays); returns the path."""
        path = self.path("array", "npy", name)
        _save_npy(path, values)
        return str(path)


@pytest.fixture
def files(tmp_path: Path) -> InputFiles:
    """An :class:`InputFiles` writing under this test's ``tmp_path``."""
    return InputFiles(tmp_path)


def _clean_env(env: Mapping[str, str | None] | None) -> dict[str, str | None]:
    """The environment for a run: INFOCLI_FORMAT unset (so the default is the table) unless given."""
    clean: dict[str, str | None] = {"INFOCLI_FORMAT": None}
    clean.update(env or {})
    return clean


@pytest.fixture
def cli() -> Callable[..., Result]:
    """``cli(*args, env=None)``: run ``infocli *args`` in-process; return the CliRunner result.

    ``result.stdout`` and ``result.stderr`` are separate; nothing is asserted.
    """
    runner = CliRunner()

    def run(*args: Any, env: Mapping[str, str | None] | None = None) -> Result:
        return runner.invoke(app, [str(a) for a in args], env=_clean_env(env))

    return run


def _reject_constant(name: str) -> Any:
    raise AssertionError(f"stdout holds the bare JSON constant {name}; strict JSON has no {name}")


def parse_single_json(text: str) -> dict[str, Any]:
    """Parse ``text`` as exactly one strict JSON object (surrounding whitespace allowed).

    Raises:
        AssertionError: Not JSON, more than one document, text around it, or NaN/Infinity.
    """
    stripped = text.strip()
    assert stripped.startswith("{"), f"stdout does not start with a JSON object: {text[:200]!r}"
    decoder = json.JSONDecoder(parse_constant=_reject_constant)
    document, end = decoder.raw_decode(stripped)
    assert end == len(stripped), f"text after the JSON document: {stripped[end : end + 200]!r}"
    assert isinstance(document, dict)
    return document


@pytest.fixture
def run_json(cli: Callable[..., Result]) -> Callable[..., dict[str, Any]]:
    """``run_json(*args, env=None) -> dict``: run ``infocli *args`` with ``--format json``.

    Asserts exit code 0 and that stdout is exactly one strict JSON object; returns it.
    """

    def run(*args: Any, env: Mapping[str, str | None] | None = None) -> dict[str, Any]:
        argv = [str(a) for a in args]
        if "--format" not in argv:
            argv += ["--format", "json"]
        result = cli(*argv, env=env)
        assert result.exit_code == 0, (
            f"infocli {' '.join(argv)} exited {result.exit_code}\n"
            f"stderr: {result.stderr}\nexception: {result.exception!r}"
        )
        return parse_single_json(result.stdout)

    return run


@pytest.fixture
def rng() -> np.random.Generator:
    """A NumPy generator with a fixed seed, so every test sees the same data each run."""
    return np.random.default_rng(20240607)
