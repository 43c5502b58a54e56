"""The latent-kl pipeline: saved encoder outputs (means and scales) -> a latent KL state.

The layout (which columns hold the means, the scales and the prior, paired dimension by
dimension, and how the scales are parameterised) is decided from the files' columns before
any row is read; the chunks are then scored on the thread pool of :mod:`infocli.evaluate`
and merged in file order.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from typing import Any

from infocli.errors import InfoCliError, param, shown
from infocli.evaluate import READ_AHEAD_BYTES, ProgressCallback, chunking, default_chunk_rows
from infocli.metrics.latent import PARAMS, LatentState, latent_settings
from infocli.plan import InputInfo, check_chunk_rows, signature
from infocli.readers import Batch, Table, aligned, in_order, open_table, prefetch, usable_cpus
from infocli.readers.dataset import is_dataset

MU_PREFIXES = ("mu_", "mean_", "z_mean_")
"""Column-name prefixes found without ``--mu-cols`` (``mu_0``, ``mu_1``, ...); the same
names without the underscore are list columns."""

SCALE_PREFIXES = (
    "logvar_",
    "log_var_",
    "z_log_var_",
    "log_sigma_",
    "logstd_",
    "log_std_",
    "sigma_",
    "std_",
    "var_",
)
"""Column-name prefixes of the scales found without ``--scale-cols``."""

_SAYS = (
    (("logvar",), "logvar"),
    (("log", "var"), "logvar"),
    (("log", "sigma"), "log_sigma"),
    (("logstd",), "log_sigma"),
    (("log", "std"), "log_sigma"),
    (("logsigma",), "log_sigma"),
    (("sigma",), "sigma"),
    (("std",), "sigma"),
    (("var",), "var"),
)
"""Name parts that say a parameterisation, the longest first (``log_var`` before ``var``)."""


def param_of_name(name: str) -> str | None:
    """The parameterisation a column (or file) name says, from its parts; None if none.

    A part is a run of letters and digits: ``z_log_var`` says logvar, ``variance`` nothing.

    Args:
        name: A column name, a prefix, or a file's stem.

    Returns:
        One of :data:`~infocli.metrics.latent.PARAMS`, or None.
    """
    parts = [p for p in re.split(r"[^a-z0-9]+", name.lower()) if p]
    for words, said in _SAYS:
        k = len(words)
        if any(tuple(parts[i : i + k]) == words for i in range(len(parts) - k + 1)):
            return said
    return None


@dataclass(frozen=True)
class LatentOptions:
    """Every setting of ``infocli latent-kl``."""

    mu_cols: str | None = None
    scale_cols: str | None = None
    scale: str | None = None
    split_half: bool = False
    param: str | None = None
    prior_mu_cols: str | None = None
    prior_scale_cols: str | None = None
    prior_param: str | None = None
    au_threshold: float = 0.01
    collapse_threshold: float = 0.01
    free_bits: float | None = None
    base: str = "e"
    chunk_rows: int | None = None
    input_format: str = "csv"

    def check(self) -> None:
        """Reject settings that cannot work, before any file is opened.

        Raises:
            InfoCliError: A bad parameterisation, threshold, free bits, chunk size, or
                options that exclude each other.
        """
        for name in ("param", "prior_param"):
            value = getattr(self, name)
            if value is not None and value not in PARAMS:
                raise InfoCliError(f"{param(name)} must be one of {', '.join(PARAMS)}, got {value!r}")
        for name in ("au_threshold", "collapse_threshold", "free_bits"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < math.inf:
                raise InfoCliError(f"{param(name)} must be a finite number >= 0, got {value:g}")
        if self.split_half and self.scale is not None:
            raise InfoCliError(f"give {param('split_half')} or {param('scale')}, not both")
        if (self.split_half or self.scale is not None) and (self.mu_cols or self.scale_cols):
            raise InfoCliError(
                f"{param('mu_cols')} and {param('scale_cols')} name columns of one file; "
                f"{param('split_half' if self.split_half else 'scale')} reads unnamed .npy arrays"
            )
        if (self.prior_mu_cols is None) != (self.prior_scale_cols is None):
            raise InfoCliError(
                f"a prior needs both {param('prior_mu_cols')} and {param('prior_scale_cols')}",
                hint="Without them the prior is N(0, I)",
            )
        if self.prior_param is not None and self.prior_mu_cols is None:
            raise InfoCliError(f"{param('prior_param')} needs a prior: {param('prior_mu_cols')} and "
                               f"{param('prior_scale_cols')}")  # fmt: skip
        check_chunk_rows(self.chunk_rows)


@dataclass(frozen=True)
class _Group:
    """The columns of one role: names, each one's suffix (when found by a prefix), or one
    list column (``width`` values a row, None until a row is read)."""

    names: list[str]
    suffixes: list[str] | None = None
    list_column: bool = False
    width: int | None = None
    says: str | None = None  # the parameterisation its name(s) say


def _group(table: Table, spec: str, option: str) -> _Group:
    """The columns named by a comma list, one column (a list column or a number column),
    or a prefix."""
    if "," in spec:
        names = [name.strip() for name in spec.split(",")]
        for name in names:
            _check_number(table, table.require(name, option).name, option)
        said = {param_of_name(name) for name in names}
        return _Group(names, says=said.pop() if len(said) == 1 else None)
    column = table.column(spec)
    if column is not None and column.kind == "list":
        return _Group([spec], list_column=True, width=column.width, says=param_of_name(spec))
    if column is not None:
        _check_number(table, spec, option)
        return _Group([spec], says=param_of_name(spec))
    found = [c.name for c in table.columns if c.name.startswith(spec) and len(c.name) > len(spec)]
    if not found:
        known = ", ".join(shown(c.name) for c in table.columns)
        raise InfoCliError(f"no column named or starting with {spec!r} (from {option}); the columns are: {known}",
                           path=table.path)  # fmt: skip
    for name in found:
        _check_number(table, name, option)
    return _Group(found, [name[len(spec) :] for name in found], says=param_of_name(spec))


def _check_number(table: Table, name: str, option: str) -> None:
    column = table.require(name, option)
    if column.kind == "string":
        found = table.non_number(name)
        if found is not None:
            raise found
    if column.kind not in ("number", "string"):
        raise InfoCliError(
            f"column {name!r} ({option}) has type {column.type}; expected numbers", path=table.path
        )


def _discovered(table: Table, prefixes: tuple[str, ...], option: str, what: str) -> _Group:
    """The one group of columns with a common name: list columns first, then prefixes."""
    found = [
        p.rstrip("_") for p in prefixes if (c := table.column(p.rstrip("_"))) is not None and c.kind == "list"
    ]
    if not found:
        found = [
            p for p in prefixes if any(c.name.startswith(p) and len(c.name) > len(p) for c in table.columns)
        ]
    if len(found) > 1:
        raise InfoCliError(
            f"the {what} could be any of the columns {', '.join(f for f in found)}*",
            path=table.path,
            hint=f"Name them with {param(option)}",
        )
    if not found:
        raise InfoCliError(
            f"no columns of {what} found by their names ({', '.join(p + '0' for p in prefixes)}, ...)",
            path=table.path,
            hint=f"Name them with {param(option)}, as a comma list or a prefix",
        )
    return _group(table, found[0], param(option))


def _paired(mu: _Group, other: _Group, option: str, path: str) -> _Group:
    """``other`` in the order of ``mu``'s dimensions: by suffix where both were found by a
    prefix, else by position."""
    if mu.list_column or other.list_column:
        if not (mu.list_column and other.list_column):
            raise InfoCliError(
                f"the means are {'a list column' if mu.list_column else 'columns'} but {param(option)} "
                f"names {'a list column' if other.list_column else 'columns'}",
                path=path,
                hint="Give both as list columns, or both as columns",
            )
        if mu.width is not None and other.width is not None and mu.width != other.width:
            raise InfoCliError(f"{other.names[0]!r} has {other.width} values a row but {mu.names[0]!r} has "
                               f"{mu.width}", path=path)  # fmt: skip
        return other
    if mu.suffixes is not None and other.suffixes is not None:
        by_suffix = dict(zip(other.suffixes, other.names, strict=True))
        missing = [s for s in mu.suffixes if s not in by_suffix]
        extra = sorted(set(other.suffixes) - set(mu.suffixes))
        if missing or extra:
            which = (
                f"no column for dimension {missing[0]!r}"
                if missing
                else f"a column {extra[0]!r} with no mean"
            )
            raise InfoCliError(
                f"{param(option)} has {which}; mean and scale columns are paired by suffix",
                path=path,
                hint="Every mean column mu_K needs its scale column with the same suffix K",
            )
        return _Group([by_suffix[s] for s in mu.suffixes], list(mu.suffixes), says=other.says)
    if len(other.names) != len(mu.names):
        raise InfoCliError(
            f"{param(option)} names {len(other.names)} columns but there are {len(mu.names)} mean columns",
            path=path,
            hint="Lists are paired by position: one scale column per mean column",
        )
    return other


@dataclass
class _Layout:
    """Where each role's values are: the columns read, and the slice of the matrix each
    role takes; the parameterisations; the dimensions' names.

    The first ``split`` roles are read by one reader and the others by a second one, in
    step: from the scales' own file (``--scale``), or from the same Parquet file opened
    again, so that its columns are decoded on two threads.
    """

    columns: dict[str, list[str]]  # the columns each role reads
    split: int  # roles read by the first reader
    roles: list[str]
    role_names: dict[str, list[str]]
    list_columns: bool
    param: str
    prior_param: str | None
    width: int | None  # values per role and row (dimensions)
    dims: list[str] = field(default_factory=list)
    kind: str = "columns"

    def reads(self) -> tuple[list[str], list[str]]:
        """The columns of the first reader, and of the second (none for one reader)."""
        first = [n for r in self.roles[: self.split] for n in self.columns[r]]
        second = [n for r in self.roles[self.split :] for n in self.columns[r]]
        return first, second

    def fix_width(self, width: int, path: str) -> None:
        """Fix the dimensions at the first chunk where the file does not state them."""
        if self.width is not None:
            return
        if self.kind == "split half":
            if width % 2:
                raise InfoCliError(
                    f"{param('split_half')} needs an even number of columns (means, then scales); got {width}",
                    path=path,
                )
            width //= 2
        elif self.list_columns:
            width //= self.split
        self.width = width
        self.dims = [str(i) for i in range(width)]
        for k, role in enumerate(self.roles):
            source = self.role_names[role][0] if self.role_names[role] else ""
            first = width * k if self.kind == "split half" else 0  # the scales' file columns
            self.role_names[role] = [f"{source}[{i}]" if source else str(first + i) for i in range(width)]


def _resolve_param(
    given: str | None, says: str | None, what: str, name: str, option: str, path: str
) -> tuple[str, list[str]]:
    """The parameterisation: ``--param`` or what the names say; never guessed from values."""
    if given is None and says is None:
        raise InfoCliError(
            f"the {what} ({name}) do not say how they are parameterised",
            path=path,
            hint=f"Give {param(option)} logvar, log_sigma, sigma or var (it is never guessed from the values)",
        )
    notes = []
    if given is not None and says is not None and given != says:
        notes.append(f"{param(option)} {given} is used for the {what} ({name}), whose name says {says}")
    return given or says or "", notes


def _layout(
    table: Table, second: Table | None, options: LatentOptions, scale_name: str | None = None
) -> tuple[_Layout, list[str]]:
    """Decide the columns, pairing and parameterisations from the files' columns."""
    if options.split_half or second is not None:
        for t in (table, second) if second is not None else (table,):
            if not t.unnamed or t.columns[0].kind != "list":
                raise InfoCliError(
                    "expected a 2-D .npy array (rows, dimensions)",
                    path=t.path,
                    hint=f"{param('split_half')} and {param('scale')} read plain 2-D .npy arrays; "
                    f"for columns use {param('mu_cols')} and {param('scale_cols')}",
                )
        if options.prior_mu_cols is not None:
            raise InfoCliError(
                f"{param('prior_mu_cols')} names columns; a plain .npy has none", path=table.path
            )
        named = scale_name or (os.path.basename(second.path).split(".")[0] if second is not None else None)
        said = param_of_name(named) if named else None
        chosen, notes = _resolve_param(
            options.param, said, "scales", shown(second.path) if second else "the second half", "param",
            second.path if second else table.path,
        )  # fmt: skip
        width = table.columns[0].width
        if second is not None and width is not None and second.columns[0].width not in (None, width):
            raise InfoCliError(
                f"{second.columns[0].width} columns of scales but {shown(table.path)} has {width} of means",
                path=second.path,
            )
        kind = "split half" if options.split_half else "means"
        columns = {"mu": [""], "scale": [""] if second is not None else []}
        split = 1 if second is not None else 2  # the scales' own reader, or one array
        names: dict[str, list[str]] = {"mu": [], "scale": []}
        layout = _Layout(columns, split, ["mu", "scale"], names, False, chosen, None, None, kind=kind)
        if width is not None:
            layout.fix_width(width, table.path)
        return layout, notes
    if table.unnamed:
        raise InfoCliError(
            "a plain .npy array has no named columns",
            path=table.path,
            hint=f"Give the scales' .npy with {param('scale')}, or {param('split_half')} for an N x 2d array",
        )
    mu = (
        _group(table, options.mu_cols, param("mu_cols"))
        if options.mu_cols
        else _discovered(table, MU_PREFIXES, "mu_cols", "means")
    )
    scale = (
        _group(table, options.scale_cols, param("scale_cols")) if options.scale_cols
        else _discovered(table, SCALE_PREFIXES, "scale_cols", "scales")
    )  # fmt: skip
    scale = _paired(mu, scale, "scale_cols", table.path)
    chosen, notes = _resolve_param(
        options.param, scale.says, "scales", ", ".join(scale.names[:3]), "param", table.path
    )
    groups = {"mu": mu, "scale": scale}
    prior_param = None
    if options.prior_mu_cols is not None and options.prior_scale_cols is not None:
        groups["prior_mu"] = _paired(
            mu, _group(table, options.prior_mu_cols, param("prior_mu_cols")), "prior_mu_cols", table.path
        )
        prior_scale = _paired(
            mu,
            _group(table, options.prior_scale_cols, param("prior_scale_cols")),
            "prior_scale_cols",
            table.path,
        )
        groups["prior_scale"] = prior_scale
        given = options.prior_param or options.param
        prior_param, more = _resolve_param(
            given,
            prior_scale.says,
            "prior scales",
            ", ".join(prior_scale.names[:3]),
            "prior_param",
            table.path,
        )
        notes += more
    columns = [name for g in groups.values() for name in g.names]
    if len(set(columns)) != len(columns):
        repeated = next(c for c in columns if columns.count(c) > 1)
        raise InfoCliError(f"column {repeated!r} is named for two roles", path=table.path)
    roles = [r for r in ("mu", "prior_mu", "scale", "prior_scale") if r in groups]
    two_reads = table.format == "parquet" and table.path != "-"  # means and scales decoded apart
    layout = _Layout(
        {r: list(groups[r].names) for r in roles}, len(roles) // 2 if two_reads else len(roles), roles,
        {r: list(groups[r].names) for r in roles}, mu.list_column, chosen, prior_param, None,
        kind="list columns" if mu.list_column else "columns",
    )  # fmt: skip
    if mu.list_column:
        if mu.width is not None:
            layout.fix_width(mu.width * layout.split, table.path)
    else:
        layout.width = len(mu.names)
        layout.dims = mu.suffixes if mu.suffixes is not None else list(mu.names)
    return layout, notes


@dataclass
class LatentRun:
    """A latent state and the warnings of its run; what the report is made of (for a run,
    or a merge of saved states)."""

    state: LatentState
    warnings: list[str] = field(default_factory=list)

    @property
    def latent(self) -> InputInfo:
        """The (first) input file."""
        return InputInfo(**self.state.inputs[0]["latent"])

    @property
    def scale(self) -> InputInfo | None:
        """The (first) scales' own file, if any."""
        scale = self.state.inputs[0]["scale"]
        return None if scale is None else InputInfo(**scale)

    def signature(self, base: str) -> str:
        """Every setting that changes a number (see :func:`infocli.plan.signature`)."""
        return signature(self.state.settings, base)


class _Scorer:
    """Scores a chunk into a state of its own (thread-safe: nothing is accumulated)."""

    def __init__(self, layout: _Layout, settings: dict[str, Any], path: str, scale_path: str | None) -> None:
        self.layout, self.settings, self.path, self.scale_path = layout, settings, path, scale_path

    def __call__(self, chunk: tuple[Batch, Batch | None]) -> LatentState:
        batch, second = chunk
        layout, d = self.layout, self.layout.width
        assert d is not None
        arrays = {}
        reads = [(batch, layout.roles[: layout.split], self.path)]
        if second is not None:
            reads.append((second, layout.roles[layout.split :], self.scale_path or self.path))
        for rows, roles, path in reads:
            values = rows.matrix
            assert values is not None
            if values.shape[1] != d * len(roles):
                what = ", ".join(repr(n) for r in roles for n in layout.columns[r] if n) or "the array"
                raise InfoCliError(
                    f"{values.shape[1]} values a row in {what}; expected {d * len(roles)}, one per dimension",
                    path=path,
                    row=rows.first_row,
                )
            arrays |= {role: values[:, i * d : (i + 1) * d] for i, role in enumerate(roles)}
        state = LatentState(self.settings)
        files = {"scale": self.scale_path} if self.scale_path is not None else None
        names = (
            {r: [repr(n) for n in v] for r, v in layout.role_names.items()}
            if layout.kind.endswith("columns")
            else layout.role_names
        )
        try:
            state.update(
                arrays["mu"], arrays["scale"], arrays.get("prior_mu"), arrays.get("prior_scale"),
                columns=names, files=files, where=(self.path, batch.first_row),
            )  # fmt: skip
        except InfoCliError as error:
            raise error.at(self.path, row_offset=batch.first_row) from None
        return state


def latent_kl(path: str, options: LatentOptions, *, on_progress: ProgressCallback | None = None) -> LatentRun:
    """The KL of a VAE's posteriors to their prior, per example and per latent dimension.

    Args:
        path: The encoder outputs (CSV, Parquet, .npy), ``-`` for stdin, or a dataset of
            them (:func:`infocli.latent_datasets.latent_dataset`).
        options: The settings.
        on_progress: Called after each chunk with (rows done, total rows if known).

    Returns:
        The run.

    Raises:
        InfoCliError: Bad options, missing or unpaired columns, an unknown
            parameterisation, or bad values (NaN, a negative σ or variance).
    """
    options.check()
    if is_dataset(path) or is_dataset(options.scale):
        from infocli.latent_datasets import latent_dataset

        return latent_dataset(path, options, on_progress=on_progress)
    if path == "-" and options.scale == "-":
        raise InfoCliError("only one of the inputs can be read from stdin (-)")
    with ExitStack() as stack:
        table = stack.enter_context(open_table(path, stdin_format=options.input_format))
        second = None
        if options.scale is not None:
            second = stack.enter_context(open_table(options.scale, stdin_format=options.input_format))
        part = latent_tables(table, second, lambda: open_table(path), options, on_progress=on_progress)
        state = part.state
        if state.n_samples == 0:
            raise InfoCliError("no rows; expected one row of means and scales per example", path=table.path)
    return LatentRun(state, [*part.notes, *state.warnings()])


@dataclass
class LatentPart:
    """One file's (or shard's) latent state, with what its reading settled.

    Attributes:
        state: The state (it may hold no rows).
        notes: What the layout notes (a parameterisation given against a name's).
        width: The values a row of the first reader's first chunk held, which fixed the
            dimensions where the columns do not state them (None without rows).
    """

    state: LatentState
    notes: list[str]
    width: int | None


def latent_tables(
    table: Table,
    second: Table | None,
    reopen: Callable[[], AbstractContextManager[Table]],
    options: LatentOptions,
    *,
    width: int | None = None,
    scale_name: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> LatentPart:
    """The latent pipeline, for open tables: layout -> aligned chunks -> states -> merge.

    Args:
        table: The encoder outputs (the means, with ``second``).
        second: The scales' own .npy (``--scale``), or None.
        reopen: Opens ``table`` again, for a second reader of a Parquet file.
        options: The settings.
        width: The first chunk's width of an earlier shard of the same dataset, which
            fixes the dimensions as it did there; None to take this file's.
        scale_name: The name whose words say the scales' parameterisation (default: the
            scales' file's stem).
        on_progress: As for :func:`latent_kl`.

    Returns:
        The part.
    """
    with ExitStack() as stack:
        layout, notes = _layout(table, second, options, scale_name)
        if (
            second is not None
            and table.n_rows is not None
            and second.n_rows is not None
            and table.n_rows != second.n_rows
        ):
            from infocli.readers import row_count_error

            short, long = (table, second) if table.n_rows < second.n_rows else (second, table)
            raise row_count_error(short, short.n_rows or 0, long, long.n_rows or 0)
        first_columns, second_columns = layout.reads()
        again = None  # the same file, for the second reader
        if second is None and second_columns:
            again = stack.enter_context(reopen())
        settings: dict[str, Any] = {}
        if width is not None:
            layout.fix_width(width, table.path)
            settings.update(_settings(layout, options))
        n_values = None if layout.width is None else layout.width * len(layout.roles)
        rows, read_rows = chunking(table, n_values, options.chunk_rows)
        depth = max(1, default_chunk_rows(n_values, READ_AHEAD_BYTES) // read_rows)
        batches = prefetch(table.batches(first_columns, [], read_rows), depth)
        other = second or again
        second_batches = (
            None if other is None else prefetch(other.batches(second_columns, [], read_rows), depth)
        )
        chunks = aligned(table, batches, other, second_batches, rows)
        seen: list[int] = []

        def planned() -> Iterator[tuple[Batch, Batch | None]]:
            for chunk in chunks:
                if not seen:
                    seen.append(chunk[0].width or 0)
                    if not settings:
                        layout.fix_width(seen[0], table.path)
                        settings.update(_settings(layout, options))
                yield chunk

        scorer = _Scorer(layout, settings, table.path, second.path if second else None)
        state: LatentState | None = None
        for scored in in_order(scorer, planned(), usable_cpus(), "infocli-latent"):
            if state is None:
                state = scored
            else:
                state.merge(scored)
            if on_progress:
                on_progress(state.n_samples, table.n_rows)
        if state is None:
            state = LatentState(settings or {})
        state.inputs = [_inputs(table, second, layout)]
        return LatentPart(state, notes, width if width is not None else (seen or [None])[0])


def _settings(layout: _Layout, options: LatentOptions) -> dict[str, Any]:
    return latent_settings(
        layout.dims, param=layout.param, prior_param=layout.prior_param, au_threshold=options.au_threshold,
        collapse_threshold=options.collapse_threshold, free_bits=options.free_bits,
    )  # fmt: skip


def _inputs(table: Table, second: Table | None, layout: _Layout) -> dict[str, Any]:
    latent = InputInfo(table.path, table.format, layout.kind)
    scale = None if second is None else InputInfo(second.path, second.format, layout.param)
    return {"latent": vars(latent).copy(), "scale": None if scale is None else vars(scale).copy()}


def available_metrics(options: LatentOptions) -> list[str]:
    """The metrics a run with these options reports.

    Args:
        options: The settings.

    Returns:
        Metric names; ``kl_free_bits`` only with free bits.
    """
    from infocli.metrics.registry import metrics_of

    given = {"free_bits": options.free_bits is not None}
    return [m.name for m in metrics_of("latent-kl") if given.get(m.needs or "", True)]
