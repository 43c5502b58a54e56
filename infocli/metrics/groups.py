"""Per-group statistics: every per-row statistic of an evaluation, kept for each group of
rows sharing the values of one or more key columns, mergeable exactly.

Pure NumPy. A group state never holds rows: per group it keeps, for each statistic of
:data:`infocli.metrics.state.STATISTICS`, a count, a sum and a sum of squared deviations
(:class:`GroupMoments`, the arrays of :class:`~infocli.metrics.moments.Moments`). A chunk
is accumulated with ``np.bincount`` over its group codes, and states merge with the
pairwise update of Chan, Golub and LeVeque applied to whole arrays, so no loop runs over
groups. Groups are identified by their key values (:class:`KeyIndex`), and a code is
given to each new key as it first appears; states of different parts merge with their
groups united by key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from infocli.errors import InfoCliError, param
from infocli.metrics.calibration import CalibrationState
from infocli.metrics.kernels import factorize
from infocli.metrics.registry import REGISTRY, metrics_of, reported
from infocli.metrics.state import DERIVED, READS, STATISTICS, count, from_json_float, to_json_float

CLASS_COLUMN = "class"
"""The key column of ``per_class`` grouping: the true class of each row."""

Z_95 = 1.96
"""Standard errors either side of a group's value that make its 95% interval."""

_HITS = {"accuracy"}
"""Statistics whose per-row values are 0/1 hits."""

_ROW_FIELDS = {"accuracy": "correct"}
"""Statistics whose per-row values a chunk's scores hold under another name."""

TABLE_VALUES = 1 << 22
"""Integer keys spanning fewer values than this (or 8 per key) are looked up in a table
indexed by value, rather than by a binary search."""

_PAIR_BITS = 31
"""Bits of each part of a crossed key's packed pair of codes."""


def _key_kind(values: np.ndarray) -> str:
    """The kind of a key column's values: ``int``, ``float``, ``bool`` or ``str``."""
    kind = values.dtype.kind
    if kind in "iu":
        return "int"
    if kind == "f":
        return "float"
    if kind == "b":
        return "bool"
    return "str"


def _normal(values: np.ndarray) -> np.ndarray:
    """Key values in the dtype they are indexed in: int64, float64, bool or str."""
    kind = _key_kind(values)
    dtype = {"int": np.int64, "float": np.float64, "bool": np.bool_}.get(kind)
    if dtype is None:
        return values.astype(str) if values.dtype.kind != "U" else values
    return values.astype(dtype, copy=False)


@dataclass
class _Codebook:
    """Distinct values and their codes (0, 1, ... in order of addition), found by a
    binary search of the values kept sorted."""

    values: np.ndarray  # sorted, unless a table holds them
    codes: np.ndarray  # the code of each value
    table: np.ndarray | None = None  # small-range integers: the code of each value from `start` (-1: none)
    start: int = 0
    low: int = 0  # the smallest and largest values known, while a table holds them
    high: int = 0

    @classmethod
    def empty(cls, dtype: Any) -> _Codebook:
        return cls(np.empty(0, dtype), np.empty(0, np.intp))

    def codes_of(self, values: np.ndarray) -> np.ndarray:
        """The code of each of ``values`` (distinct), new ones given the next codes in order."""
        if self._tabled(values):
            return self._looked_up(values)
        if self.table is not None:  # a wider range than a table holds: sort what it had
            order = np.argsort(self.values, kind="stable")
            self.values, self.codes, self.table = self.values[order], self.codes[order], None
        if values.dtype != self.values.dtype:
            dtype = np.result_type(values.dtype, self.values.dtype)
            self.values = self.values.astype(dtype)
            values = values.astype(dtype)
        known = self.values
        pos = np.searchsorted(known, values)
        found = pos < len(known)
        found[found] = known[pos[found]] == values[found]
        codes = np.empty(len(values), np.intp)
        codes[found] = self.codes[pos[found]]
        new = np.flatnonzero(~found)
        if len(new):
            start = len(known)
            codes[new] = np.arange(start, start + len(new))
            by_value = np.argsort(values[new], kind="stable")  # inserted in sorted order
            where = pos[new][by_value]
            self.values = np.insert(known, where, values[new][by_value])
            self.codes = np.insert(self.codes, where, codes[new][by_value])
        return codes

    def _tabled(self, values: np.ndarray) -> bool:
        """Whether integer keys (these and those known) span a range small enough for a table."""
        if values.dtype.kind != "i" or self.values.dtype.kind != "i" or not len(values):
            return False
        low, high = int(values.min()), int(values.max())
        if len(self.values):
            known = (self.low, self.high) if self.table is not None else (self.values[0], self.values[-1])
            low, high = min(low, int(known[0])), max(high, int(known[1]))
        if high - low >= max(TABLE_VALUES, 8 * (len(self.values) + len(values))):
            return False
        self.low, self.high = low, high
        return True

    def _looked_up(self, values: np.ndarray) -> np.ndarray:
        """:meth:`codes_of` by a table indexed by value (its values are then kept unsorted)."""
        if self.table is None or self.low < self.start or self.high >= self.start + len(self.table):
            self.start = self.low
            self.table = np.full(max(2 * (self.high - self.low + 1), 1024), -1, np.intp)
            self.table[self.values - self.start] = self.codes
        offsets = values - self.start
        codes = self.table[offsets]
        new = np.flatnonzero(codes < 0)
        if len(new):
            first = len(self.values)
            codes[new] = self.table[offsets[new]] = np.arange(first, first + len(new))
            self.values = np.concatenate([self.values, values[new]])
            self.codes = np.concatenate([self.codes, codes[new]])
        return codes


@dataclass
class KeyIndex:
    """The groups' keys and codes: one codebook of values per key column and, for crossed
    keys, one of packed (group so far, next value) pairs per further column.

    Attributes:
        columns: The key columns' names, in crossing order.
        keys: Per column, each group's key value (index = group code).
    """

    columns: tuple[str, ...]
    keys: list[np.ndarray]
    _values: list[_Codebook] = field(default_factory=list, repr=False)
    _pairs: list[_Codebook] = field(default_factory=list, repr=False)

    @classmethod
    def empty(cls, columns: Sequence[str]) -> KeyIndex:
        """An index of no groups."""
        return cls(tuple(columns), [np.empty(0, np.int64) for _ in columns])

    @property
    def n_groups(self) -> int:
        """Groups indexed."""
        return len(self.keys[0])

    def codes_of(self, keys: Sequence[np.ndarray]) -> np.ndarray:
        """The group code of each key (distinct key tuples), new groups added in order.

        Args:
            keys: Per column, each key's value.

        Returns:
            (n,) group codes.
        """
        keys = [_normal(k) for k in keys]
        if not self._values:
            known, self.keys = self.keys, [np.empty(0, k.dtype) for k in keys]
            self._values = [_Codebook.empty(k.dtype) for k in keys]
            self._pairs = [_Codebook.empty(np.int64) for _ in keys[1:]]
            if len(known[0]):  # keys given whole (distinct): their codebooks, made when first needed
                self.codes_of(known)
        codes = None
        for i, (values, book) in enumerate(zip(keys, self._values, strict=True)):
            if _key_kind(values) != _key_kind(book.values) and len(book.values):
                if {_key_kind(values), _key_kind(book.values)} != {"int", "float"}:
                    raise InfoCliError(
                        f"group column {self.columns[i]!r} holds {_key_kind(book.values)} values in one "
                        f"part and {_key_kind(values)} values in another"
                    )
            distinct, inverse = factorize(values) if len(keys) > 1 else (values, None)
            value_codes = book.codes_of(distinct)
            value_codes = value_codes if inverse is None else value_codes[inverse]
            if codes is None:
                codes = value_codes
            else:
                codes = self._pairs[i - 1].codes_of((codes.astype(np.int64) << _PAIR_BITS) | value_codes)
        assert codes is not None
        n_old = self.n_groups
        if len(codes) and codes.max() >= n_old:  # new groups: their keys, in code order
            new = np.flatnonzero(codes >= n_old)
            new = new[np.argsort(codes[new])]
            self.keys = [
                np.concatenate([old.astype(np.result_type(old, k)), k[new]])
                for old, k in zip(self.keys, keys, strict=True)
            ]
        return codes

    def row_codes(self, keys: Sequence[Keys]) -> np.ndarray:
        """The group code of each row of a chunk (keys repeat), new groups added in order.

        Args:
            keys: Per column, each row's key value (see :data:`Keys`).

        Returns:
            (n,) group codes.
        """
        known = self._known_rows(keys)
        if known is not None:
            return known
        codes, distinct = _row_codes(keys)
        return self.codes_of(distinct)[codes]

    def _known_rows(self, keys: Sequence[Keys]) -> np.ndarray | None:
        """:meth:`row_codes` looked up row by row in the table of a single integer key
        column (no chunk-wide factorising), or None where no table holds the values."""
        if len(keys) != 1 or isinstance(keys[0], tuple) or not self._values:
            return None
        values, book = keys[0], self._values[0]
        if values.dtype.kind not in "iu" or book.table is None or not len(values):
            return None
        values = _normal(values)
        offsets = values - book.start
        if offsets.min() < 0 or offsets.max() >= len(book.table):
            return None
        codes = book.table[offsets]
        new = codes < 0
        if new.any():  # within the table's range, so it keeps it
            self.codes_of([np.unique(values[new])])
            codes = book.table[values - book.start]
        return codes


@dataclass(frozen=True)
class _Sizes:
    """Both sides' counts in a merge of groups, and the factors of Chan's update that
    depend on them only: worked out once for all the statistics that share the counts."""

    n_a: np.ndarray
    n_b: np.ndarray
    n: np.ndarray
    inverse_a: np.ndarray  # 1 / n_a (0 for an empty side)
    inverse_b: np.ndarray
    inverse: np.ndarray  # 1 / (n_a + n_b)
    weight: np.ndarray  # n_a n_b / (n_a + n_b)

    @classmethod
    def of(cls, n_a: np.ndarray, n_b: np.ndarray) -> _Sizes:
        n = n_a + n_b
        inverse = 1.0 / np.maximum(n, 1)
        return cls(
            n_a, n_b, n, 1.0 / np.maximum(n_a, 1), 1.0 / np.maximum(n_b, 1), inverse, n_a * n_b * inverse
        )


@dataclass
class GroupMoments:
    """Count, sum and sum of squared deviations of one statistic for every group (arrays)."""

    n: np.ndarray
    total: np.ndarray
    m2: np.ndarray
    hits: bool = False  # the values are 0/1 hits, whose m2 follows from the counts

    @classmethod
    def zeros(cls, n_groups: int, hits: bool = False) -> GroupMoments:
        """No values in any of ``n_groups`` groups."""
        return cls(np.zeros(n_groups, np.int64), np.zeros(n_groups), np.zeros(n_groups), hits)

    def copy(self) -> GroupMoments:
        """A copy that merges on its own."""
        return GroupMoments(self.n.copy(), self.total.copy(), self.m2.copy(), self.hits)

    def grow(self, n_groups: int) -> None:
        """Add empty groups up to ``n_groups``."""
        extra = n_groups - len(self.n)
        if extra > 0:
            self.n = np.concatenate([self.n, np.zeros(extra, np.int64)])
            self.total = np.concatenate([self.total, np.zeros(extra)])
            self.m2 = np.concatenate([self.m2, np.zeros(extra)])

    def merge_at(self, codes: np.ndarray, other: GroupMoments, sizes: _Sizes | None = None) -> None:
        """Fold in ``other``'s groups, its group g joining this one's ``codes[g]`` (distinct).

        The update of :meth:`Moments.merge`, for every group at once. ``sizes`` are both
        sides' counts at ``codes``, when the statistics of a state share them.
        """
        if sizes is None:
            sizes = _Sizes.of(self.n[codes], other.n)
        t_a = self.total[codes]
        total = t_a + other.total
        if self.hits:  # k hits among n: m2 = k (n - k) / n exactly
            m2 = total * (sizes.n - total) * sizes.inverse
        else:
            # Where a side is empty its sum is 0 and the correction term vanishes: no special case.
            with np.errstate(invalid="ignore"):
                delta = other.total * sizes.inverse_b - t_a * sizes.inverse_a
                m2 = self.m2[codes] + other.m2 + delta * delta * sizes.weight
            infinite = ~np.isfinite(total)
            if infinite.any():
                m2[infinite] = math.nan
        self.n[codes], self.total[codes], self.m2[codes] = sizes.n, total, m2

    @property
    def mean(self) -> np.ndarray:
        """Each group's mean (NaN for an empty group)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.n > 0, self.total / np.maximum(self.n, 1), math.nan)

    @property
    def std_error(self) -> np.ndarray:
        """Sample standard deviation / sqrt(n) of each group; NaN below two values."""
        with np.errstate(invalid="ignore", divide="ignore"):
            se = np.sqrt(np.maximum(self.m2, 0.0) / (self.n - 1) / self.n)
        return np.where((self.n >= 2) & ~np.isnan(self.m2), se, math.nan)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready lists; every float reads back bit for bit."""
        return {
            "n": self.n.tolist(),
            "sum": [to_json_float(v) for v in self.total.tolist()],
            "m2": [to_json_float(v) for v in self.m2.tolist()],
        }

    @classmethod
    def from_dict(cls, d: Any, n_groups: int, what: str) -> GroupMoments:
        """From :meth:`to_dict`, refusing impossible contents (as :func:`moments_from_dict`)."""
        if not isinstance(d, dict) or set(d) != {"n", "sum", "m2"}:
            raise InfoCliError(f"{what} must be an object with n, sum and m2")
        for key in ("n", "sum", "m2"):
            if not isinstance(d[key], list) or len(d[key]) != n_groups:
                raise InfoCliError(f"{what}.{key} must be a list of {n_groups} values, one per group")
        n = np.array([count(v, f"{what}.n") for v in d["n"]], np.int64)
        total = np.array([from_json_float(v, f"{what}.sum") for v in d["sum"]], np.float64)
        m2 = np.array([from_json_float(v, f"{what}.m2") for v in d["m2"]], np.float64)
        finite = np.isfinite(total)
        if np.isnan(total).any():
            raise InfoCliError(f"{what}.sum holds NaN, which no valid input gives")
        if (finite & ~((m2 >= 0) & np.isfinite(m2))).any():
            raise InfoCliError(f"{what}.m2 holds a negative or non-finite spread where the sum is finite")
        if ((n == 0) & ((total != 0) | (m2 != 0))).any():
            raise InfoCliError(f"{what} has a group without values but with a sum")
        return cls(n, total, m2)


def _aliases(stats: Mapping[str, GroupMoments]) -> list[str]:
    """For each statistic, the first one that is the same object (equal by construction)."""
    first: dict[int, str] = {}
    return [first.setdefault(id(m), name) for name, m in stats.items()]


def _row_values(scores: Any) -> dict[str, np.ndarray | None | bool]:
    """Each statistic's per-row values in a chunk's scores: an array, None for the value
    0 on every row (the target entropy of class labels), or False where there are none."""
    rows: dict[str, np.ndarray | None | bool] = {}
    for name in STATISTICS:
        values = getattr(scores, _ROW_FIELDS.get(name, name), None)
        if values is None:
            has_targets = getattr(scores, "cross_entropy", None) is not None
            values = None if has_targets and scores.class_indices and name == "target_entropy" else False
        rows[name] = values
    return rows


def _grown(array: np.ndarray, size: int) -> np.ndarray:
    """``array`` with zeros appended up to ``size`` (at least doubling, so that growing
    group by group costs amortised constant time)."""
    if size <= len(array):
        return array
    grown = np.zeros(max(size, 2 * len(array)), array.dtype)
    grown[: len(array)] = array
    return grown


@dataclass(frozen=True)
class _Fresh:
    """The groups that first have rows in a chunk: codes ``start`` to ``start + len(counts)``."""

    start: int
    rows: np.ndarray  # the chunk's rows of these groups
    local: np.ndarray  # their codes, less start
    counts: np.ndarray  # the rows of each group

    @classmethod
    def of(cls, codes: np.ndarray, start: int, stop: int) -> _Fresh:
        rows = np.flatnonzero(codes >= start)
        local = codes[rows] - start
        return cls(start, rows, local, np.bincount(local, minlength=stop - start))

    def means(self, values: np.ndarray) -> np.ndarray:
        """Each group's mean of its values in the chunk (0 where that is not finite)."""
        with np.errstate(invalid="ignore", over="ignore"):
            means = np.bincount(self.local, values[self.rows], len(self.counts)) / self.counts
        return np.where(np.isfinite(means), means, 0.0)


@dataclass
class _ShiftedSums:
    """One statistic's sums per group, accumulated in place: of each value's deviation
    from its group's shift (the group's mean in the chunk of its first rows), and of its
    square. With a shift among the group's values, the spread is found without the
    cancellation of plain sums of squares (shifted data, as in Chan, Golub and LeVeque),
    and the sum is n × shift plus the deviations' sum. The hits need only their count."""

    hits: bool
    shift: np.ndarray = field(default_factory=lambda: np.zeros(0))
    s1: np.ndarray = field(default_factory=lambda: np.zeros(0))
    s2: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def reserve(self, size: int) -> None:
        self.shift, self.s1, self.s2 = (_grown(a, size) for a in (self.shift, self.s1, self.s2))

    def add(self, codes: np.ndarray, values: np.ndarray, fresh: _Fresh | None) -> None:
        """Add each row's value to its group (``fresh``: the groups new in this chunk)."""
        if self.hits:  # as floats: np.add.at has no fast loop for booleans
            np.add.at(self.s1, codes, values.astype(np.float64))
            return
        if fresh is not None:
            self.shift[fresh.start : fresh.start + len(fresh.counts)] = fresh.means(values)
        deviations = values - self.shift[codes]
        np.add.at(self.s1, codes, deviations)
        np.add.at(self.s2, codes, deviations * deviations)

    def moments(self, n: np.ndarray) -> GroupMoments:
        """The moments of the first ``len(n)`` groups, of ``n`` rows each."""
        size = len(n)
        s1 = self.s1[:size]
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.hits:  # k hits among n: m2 = k (n - k) / n exactly
                return GroupMoments(n.copy(), s1.copy(), s1 * (n - s1) / np.maximum(n, 1), hits=True)
            total = s1 + n * self.shift[:size]
            m2 = np.maximum(self.s2[:size] - s1 * s1 / np.maximum(n, 1), 0.0)
        m2[~np.isfinite(total)] = math.nan
        return GroupMoments(n.copy(), total, m2)


PENDING_ROWS = 1 << 19
"""Most rows of chunks held to be added to their groups together, while they number fewer
than four times the groups: the groups' arrays, too large for the cache when the groups
are many, are then read from memory once for many rows rather than once a chunk (see
BENCHMARKS.md, "Slices")."""


class GroupSums:
    """The moments per group of named per-row values, accumulated in place in the order
    of the rows: ``np.add.at`` over the rows' group codes, with no array of the groups'
    size made per chunk, so that a chunk costs the same with 100 groups or 100,000.
    Chunks are held until four times as many rows as groups wait (at most
    :data:`PENDING_ROWS`), then added together.

    Group codes must come in order of first appearance (as :meth:`KeyIndex.row_codes`
    gives them): the groups above the largest code so far are the chunk's new ones.
    Boolean values are hits, counted.
    """

    def __init__(self) -> None:
        self.n = np.zeros(0, np.int64)
        self.seen = 0  # codes below this have rows
        self.sums: dict[Any, _ShiftedSums] = {}
        self.pending: list[tuple[np.ndarray, Mapping[Any, np.ndarray]]] = []
        self.n_pending = 0

    def add(self, codes: np.ndarray, values: Mapping[Any, np.ndarray]) -> None:
        """Add a chunk's rows: ``codes[i]`` is row i's group, ``values[name][i]`` its value."""
        if not len(codes):
            return
        if self.pending and values.keys() != self.pending[0][1].keys():
            self._flush()
        self.pending.append((codes, values))
        self.n_pending += len(codes)
        if self.n_pending >= min(PENDING_ROWS, 4 * self.seen):
            self._flush()

    def _flush(self) -> None:
        """Add the rows held."""
        if not self.pending:
            return
        parts, self.pending, self.n_pending = self.pending, [], 0
        codes = np.concatenate([c for c, _ in parts]) if len(parts) > 1 else parts[0][0]
        values = {
            name: np.concatenate([v[name] for _, v in parts]) if len(parts) > 1 else v
            for name, v in parts[0][1].items()
        }
        for name, v in values.items():
            if name not in self.sums:
                self.sums[name] = _ShiftedSums(hits=v.dtype == np.bool_)
                self.sums[name].reserve(len(self.n))
        top = int(codes.max()) + 1
        fresh = None
        if top > self.seen:  # groups new in these rows
            fresh = _Fresh.of(codes, self.seen, top)
            self.seen = top
            self.n = _grown(self.n, top)
            for sums in self.sums.values():
                sums.reserve(top)
        np.add.at(self.n, codes, 1)
        for name, v in values.items():
            self.sums[name].add(codes, v, fresh)

    def counts(self, size: int) -> np.ndarray:
        """The rows of each of the first ``size`` groups."""
        self._flush()
        return _grown(self.n, size)[:size].copy()

    def moments(self, name: Any, size: int) -> GroupMoments:
        """The moments of ``name``'s values in each of the first ``size`` groups."""
        self._flush()
        sums = self.sums[name]
        sums.reserve(size)
        return sums.moments(self.counts(size))


class GroupAccumulator:
    """Every per-row statistic of a stream's chunks, per group (:class:`GroupSums`).

    Args:
        index: The groups' keys and codes, which the rows' codes come from.
        calibration: With calibration, its settings (``bins``, ``strategy``,
            ``n_classes``): the calibration sums and the Brier score are kept per group too.
    """

    def __init__(self, index: KeyIndex, calibration: Mapping[str, Any] | None = None) -> None:
        self.index, self.settings = index, calibration
        self.rows = GroupSums()
        self.sources: dict[
            str, str | None | bool
        ] = {}  # per statistic: its values' first name, None (0), False (none)
        self.calibration: CalibrationState | None = None

    def add(self, codes: np.ndarray, scores: Any) -> None:
        """Add a chunk's rows.

        Args:
            codes: (n,) each scored row's group code in the index.
            scores: The chunk's :class:`~infocli.metrics.scores.RowScores`.
        """
        if not len(codes):
            return
        rows = _row_values(scores)
        if not self.sources:  # the statistics these rows have, and which share values
            first: dict[int, str] = {}
            for name, v in rows.items():
                self.sources[name] = first.setdefault(id(v), name) if isinstance(v, np.ndarray) else v  # type: ignore[assignment]
        values = {source: rows[source] for source in self.sources.values() if isinstance(source, str)}
        calibrated = getattr(scores, "calibration", None)
        if self.settings is not None and calibrated is not None:
            if self.calibration is None:
                self.calibration = CalibrationState(**self.settings)
            self.calibration.update(
                calibrated.confidence, calibrated.outcome, codes=codes, probs=calibrated.probs,
                labels=calibrated.labels,
            )  # fmt: skip
            values["brier_score"] = calibrated.brier
        self.rows.add(codes, values)  # type: ignore[arg-type]

    def state(self) -> GroupState:
        """The groups' state: each statistic's moments per group (statistics of the same
        row values sharing one object, as :meth:`GroupState.merge` expects)."""
        size = self.index.n_groups
        n = self.rows.counts(size)
        zero = GroupMoments(n, np.zeros(size), np.zeros(size))  # the value 0 on every row
        empty = {hits: GroupMoments.zeros(size, hits=hits) for hits in (False, True)}
        moments: dict[str, GroupMoments] = {}
        stats = {}
        for name in STATISTICS:
            source = self.sources.get(name, False)
            if isinstance(source, str):
                if source not in moments:
                    moments[source] = self.rows.moments(source, size)
                stats[name] = moments[source]
            else:
                stats[name] = zero if source is None else empty[name in _HITS]
        state = GroupState(self.index, stats)
        if self.calibration is not None:
            state.calibration, state.brier = self.calibration, self.rows.moments("brier_score", size)
        return state


@dataclass
class GroupResults:
    """Every group's numbers, as arrays by group code."""

    index: KeyIndex
    n_samples: np.ndarray
    metrics: dict[str, np.ndarray]
    standard_error: dict[str, np.ndarray]


@dataclass
class GroupState:
    """Every per-row statistic, per group; merging equals concatenating the rows.

    Attributes:
        index: The groups' keys and codes.
        stats: Per statistic of :data:`STATISTICS`, the moments of every group.

    Example:
        >>> from infocli.metrics.inputs import to_distributions
        >>> from infocli.metrics.scores import score_rows
        >>> q = to_distributions(np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), "probs")
        >>> scores = score_rows(q, np.array([0, 0, 0]), eps=1e-12)
        >>> state = GroupState.of_rows(["site"], [np.array(["a", "b", "a"])], scores)
        >>> r = state.compute("e", "classes", {"temperature": 1.0})
        >>> r.index.keys[0].tolist(), r.metrics["accuracy"].tolist()
        (['a', 'b'], [1.0, 0.0])
    """

    index: KeyIndex
    stats: dict[str, GroupMoments]
    calibration: CalibrationState | None = None  # with calibration: its sums per group code
    brier: GroupMoments | None = None  # ... and the Brier score's moments

    @classmethod
    def empty(cls, columns: Sequence[str]) -> GroupState:
        """A state of no groups."""
        return cls(
            KeyIndex.empty(columns), {name: GroupMoments.zeros(0, hits=name in _HITS) for name in STATISTICS}
        )

    @property
    def columns(self) -> tuple[str, ...]:
        """The key columns."""
        return self.index.columns

    @property
    def n_groups(self) -> int:
        """Groups seen."""
        return self.index.n_groups

    @classmethod
    def of_rows(
        cls,
        columns: Sequence[str],
        keys: Sequence[Keys],
        scores: Any,
        calibration: Mapping[str, Any] | None = None,
    ) -> GroupState:
        """The state of a chunk on its own: its rows' scores, grouped by their key values.

        Args:
            columns: The key columns' names.
            keys: Per column, each scored row's key value (see :data:`Keys`).
            scores: The chunk's :class:`~infocli.metrics.scores.RowScores`.
            calibration: As for :class:`GroupAccumulator`.

        Returns:
            The chunk's group state (its groups in the order of their sorted keys).
        """
        index = KeyIndex.empty(columns)
        rows = GroupAccumulator(index, calibration)
        rows.add(index.row_codes(keys), scores)
        return rows.state()

    def merge(self, other: GroupState) -> None:
        """Fold in another state's groups, united with these by key.

        Args:
            other: A state of the same key columns.

        Raises:
            InfoCliError: The key columns differ.
        """
        if other.columns != self.columns:
            raise InfoCliError(
                "the states were grouped by different columns: "
                f"{','.join(self.columns)} vs {','.join(other.columns)}"
            )
        if not other.n_groups:
            return
        codes = self.index.codes_of(other.index.keys)
        if _aliases(self.stats) != _aliases(other.stats):  # statistics shared on one side only
            self.stats = {name: m.copy() for name, m in self.stats.items()}
        # Every statistic with values counts the group's rows: the factors of those counts once.
        sizes: _Sizes | None = None
        merged: set[int] = set()
        for name in STATISTICS:
            mine, theirs = self.stats[name], other.stats[name]
            if id(mine) in merged:
                continue
            merged.add(id(mine))
            mine.grow(self.n_groups)
            if not theirs.n.any():  # a statistic these rows lack
                continue
            n_a = mine.n[codes]
            if sizes is None or not (np.array_equal(sizes.n_b, theirs.n) and np.array_equal(sizes.n_a, n_a)):
                sizes = _Sizes.of(n_a, theirs.n)
            mine.merge_at(codes, theirs, sizes)
        self._merge_calibration(other, codes)

    def _merge_calibration(self, other: GroupState, codes: np.ndarray) -> None:
        """Fold in the other state's calibration sums and Brier moments, its group g at ``codes[g]``."""
        if other.calibration is None or other.brier is None:
            return
        if self.calibration is None or self.brier is None:
            self.calibration = CalibrationState(**other.calibration.settings)
            self.brier = GroupMoments.zeros(0)
        self.calibration.merge(other.calibration, codes)
        self.brier.grow(self.n_groups)
        self.brier.merge_at(codes, other.brier)

    def compute(self, base: str, targets: str | None, settings: Mapping[str, Any]) -> GroupResults:
        """Every group's per-row metrics and standard errors, as :meth:`EvalState.compute`
        reports them overall: the registry's metrics of ``eval`` that the run reports
        (:func:`~infocli.metrics.registry.reported`) and that are read from a statistic,
        T²-scaled where the settings and the registry say so.

        Args:
            base: ``"e"``, ``"2"`` or ``"10"``.
            targets: ``"classes"``, ``"distributions"`` or None, as for ``reported``.
            settings: The evaluation's settings.

        Returns:
            The results, by group code.
        """
        metrics: dict[str, np.ndarray] = {}
        errors: dict[str, np.ndarray] = {}
        t2 = settings["temperature"] ** 2 if settings.get("t2") else 1.0
        calibrated = self._calibrated()
        for metric in metrics_of("eval"):
            name = metric.name
            if name in metrics or not reported(metric, targets, settings):
                continue
            if metric.option == "calibration":
                if name in calibrated:
                    metrics[name] = calibrated[name]
                    if metric.standard_error != "none" and self.brier is not None:
                        errors[name] = self._padded(self.brier.std_error)
            elif name in DERIVED:
                moments = self.stats[DERIVED[name]]
                with np.errstate(over="ignore"):
                    metrics[name] = np.exp(moments.mean)
                errors[name] = metrics[name] * moments.std_error
            elif READS.get(name, name) in self.stats:
                moments = self.stats[READS.get(name, name)]
                scale = (t2 if metric.t2_scaled else 1.0) / metric.divisor(base)
                metrics[name] = moments.mean * scale
                errors[name] = moments.std_error * scale
        return GroupResults(self.index, self.stats[STATISTICS[0]].n, metrics, errors)

    def _calibrated(self) -> dict[str, np.ndarray]:
        """Each group's calibration metrics and Brier score (empty without calibration);
        the classwise ECE NaN where it was not kept (the overall report warns why)."""
        if self.calibration is None or self.brier is None:
            return {}
        results = self.calibration.compute()
        classwise = results.classwise_ece
        values = {
            "classwise_ece": np.full(results.n_samples.shape, math.nan) if classwise is None else classwise,
            "brier_score": self.brier.mean,
            **results.metrics,
        }
        return {name: self._padded(v) for name, v in values.items()}

    def _padded(self, values: np.ndarray) -> np.ndarray:
        """One value per group: NaN for groups past the end of ``values``."""
        extra = self.n_groups - len(values)
        return np.concatenate([values, np.full(extra, math.nan)]) if extra > 0 else values

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: the key columns, each group's key values, and its moments
        (with calibration also its sums and the Brier score's moments, per group)."""
        data = {
            "columns": list(self.columns),
            "keys": [[_json_key(v) for v in k.tolist()] for k in self.index.keys],
            "statistics": {name: m.to_dict() for name, m in self.stats.items()},
        }
        if self.calibration is not None and self.brier is not None:
            data |= {"calibration": self.calibration.to_dict(), "brier_score": self.brier.to_dict()}
        return data

    @classmethod
    def from_dict(
        cls, data: Any, stats: Mapping[str, Any], calibration: CalibrationState | None = None
    ) -> GroupState:
        """Rebuild from :meth:`to_dict`, refusing impossible contents.

        Args:
            data: The ``groups`` object of a state file.
            stats: The state's overall statistics (:class:`Moments` by name): the groups
                must add up to them.
            calibration: The state's overall calibration, when it has one: the groups'
                must be of its settings and add up to its rows.

        Returns:
            The state.

        Raises:
            InfoCliError: A missing field, keys of mixed types or repeated, or counts that
                do not add up to the overall ones.
        """
        # With calibration, the groups' own: of every group, so none for a state of no groups.
        fields = {"columns", "keys", "statistics"}
        if calibration is not None and isinstance(data, dict) and data.get("keys") not in ([], [[]]):
            fields |= {"calibration", "brier_score"}
        if not isinstance(data, dict) or set(data) != fields:
            raise InfoCliError(f"groups must be an object with {', '.join(sorted(fields))}")
        raw = data["statistics"]
        if not isinstance(raw, dict) or set(raw) != set(STATISTICS):
            raise InfoCliError(f"groups.statistics must hold exactly {', '.join(STATISTICS)}")
        state = cls(index_from_dict(data), {})
        n_groups = state.n_groups
        for name in STATISTICS:
            m = GroupMoments.from_dict(raw[name], n_groups, f"groups.statistics.{name}")
            m.hits = name in _HITS
            if int(m.n.sum()) != stats[name].n:
                raise InfoCliError(
                    f"groups.statistics.{name} holds {int(m.n.sum())} rows; the state holds {stats[name].n}"
                )
            state.stats[name] = m
        n = state.stats[STATISTICS[0]].n
        if (n == 0).any():
            raise InfoCliError("groups lists a group without rows")
        for name in STATISTICS[1:]:
            if not ((state.stats[name].n == n) | (state.stats[name].n == 0)).all():
                raise InfoCliError(f"groups.statistics.{name} counts differ from the groups' rows")
        hits = state.stats["accuracy"]
        if ((hits.total < 0) | (hits.total > hits.n) | (hits.total != np.floor(hits.total))).any():
            raise InfoCliError("groups.statistics.accuracy.sum must be whole numbers of hits, 0 to n")
        if "calibration" in fields:
            state._read_calibration(data, calibration)
        return state

    def _read_calibration(self, data: dict[str, Any], overall: CalibrationState) -> None:
        """The groups' calibration sums and Brier moments (part of :meth:`from_dict`)."""
        calibration = CalibrationState.from_dict(data["calibration"], "groups.calibration")
        if calibration.settings != overall.settings or calibration.n_groups != self.n_groups:
            raise InfoCliError(
                f"groups.calibration must hold {self.n_groups} groups under the bins and classes of calibration"
            )
        brier = GroupMoments.from_dict(data["brier_score"], self.n_groups, "groups.brier_score")
        rows = self.stats["cross_entropy"].n
        if not (np.array_equal(calibration.n_samples, rows) and np.array_equal(brier.n, rows)):
            raise InfoCliError("groups.calibration and groups.brier_score must count each group's rows")
        self.calibration, self.brier = calibration, brier


Keys = np.ndarray | tuple[np.ndarray, np.ndarray]
"""A key column's values in a chunk: one per row, or the pair (values, each row's index
among them), as a reader's dictionary encoding gives."""


def _factorized(keys: Keys) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values a column's rows hold, and each row's index among them."""
    if isinstance(keys, tuple):
        values, inverse = keys
        present, inverse = factorize(np.asarray(inverse))  # only the values some row holds
        return _normal(np.asarray(values)[present]), inverse
    return factorize(_normal(keys))


def _row_codes(keys: Sequence[Keys]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Each row's group code among the chunk's distinct key tuples, and those tuples."""
    distinct, codes = _factorized(keys[0])
    if len(keys) == 1:
        return codes, [distinct]
    parts = [(distinct, codes)] + [_factorized(k) for k in keys[1:]]
    sizes = [len(d) for d, _ in parts]
    if math.prod(sizes) < 1 << 62:  # mixed-radix codes of the crossed key
        combined = np.zeros(len(codes), np.int64)
        for (_, c), size in zip(parts, sizes, strict=True):
            combined = combined * size + c
        _, codes = factorize(combined)
        first = np.full(codes.max() + 1 if len(codes) else 0, len(codes), np.intp)
    else:
        stacked = np.stack([c for _, c in parts], axis=1)
        _, codes = np.unique(stacked, axis=0, return_inverse=True)
        codes = codes.reshape(-1)
        first = np.full(codes.max() + 1 if len(codes) else 0, len(codes), np.intp)
    np.minimum.at(first, codes, np.arange(len(codes)))
    return codes, [d[c[first]] for d, c in parts]


def index_from_dict(data: Mapping[str, Any]) -> KeyIndex:
    """The groups of a state file's ``groups`` object: its ``columns`` and ``keys``.

    Raises:
        InfoCliError: Columns that are not distinct names, keys of mixed types, lists of
            other lengths, or a group listed twice.
    """
    columns, keys = data["columns"], data["keys"]
    if (
        not isinstance(columns, list)
        or not columns
        or not all(isinstance(c, str) for c in columns)
        or len(set(columns)) != len(columns)
    ):
        raise InfoCliError("groups.columns must be a non-empty list of distinct column names")
    if not isinstance(keys, list) or len(keys) != len(columns):
        raise InfoCliError(f"groups.keys must hold one list per column ({len(columns)})")
    arrays = [_keys_from_json(k, f"groups.keys[{i}]") for i, k in enumerate(keys)]
    if any(len(a) != len(arrays[0]) for a in arrays):
        raise InfoCliError("groups.keys lists differ in length; expected one value per group in each")
    index = KeyIndex.empty(columns)
    if len(arrays[0]):
        if _row_codes(arrays)[0].max() + 1 != len(arrays[0]):
            raise InfoCliError("groups.keys lists a group more than once")
        index.codes_of(arrays)
    return index


def _json_key(value: Any) -> Any:
    return to_json_float(value) if isinstance(value, float) else value


def _keys_from_json(values: Any, what: str) -> np.ndarray:
    """A key column's values from a state file: all integers, numbers, booleans or names."""
    if not isinstance(values, list):
        raise InfoCliError(f"{what} must be a list of key values")
    kinds = {bool if isinstance(v, bool) else type(v) for v in values}
    if not kinds:
        return np.empty(0, np.int64)
    if kinds <= {int}:
        return np.array(values, np.int64)
    if kinds <= {bool}:
        return np.array(values, np.bool_)
    if kinds <= {str}:
        return np.array(values, str)
    if kinds <= {int, float}:
        floats = np.array([from_json_float(v, what) for v in values], np.float64)
        if np.isnan(floats).any():
            raise InfoCliError(f"{what} holds NaN, which is no key")
        return floats
    raise InfoCliError(f"{what} mixes key types; expected all numbers, all booleans or all names")


@dataclass(frozen=True)
class GroupRow:
    """One group as a report shows it."""

    key: dict[str, Any]
    label: str
    n_samples: int
    metrics: dict[str, float]
    standard_error: dict[str, float]
    flagged: list[str]


@dataclass(frozen=True)
class GroupReport:
    """The groups of a report, ordered and flagged as arrays; rows are made on demand.

    Attributes:
        results: The groups' numbers.
        keys: Per key column, each group's key as shown (class names for ``class``).
        order: The reported groups' codes, in table order.
        small: The suppressed groups' codes, in the same order.
        flagged: Per metric with a direction, whether each group is flagged.
        min_group_size: The smallest group reported.
        sort: The metric sorted by, or None for size.
    """

    results: GroupResults
    keys: list[np.ndarray]
    order: np.ndarray
    small: np.ndarray
    flagged: dict[str, np.ndarray]
    min_group_size: int
    sort: str | None

    @property
    def columns(self) -> tuple[str, ...]:
        """The key columns."""
        return self.results.index.columns

    @property
    def metric_names(self) -> list[str]:
        """The metrics reported per group."""
        return list(self.results.metrics)

    def _keys(self, codes: np.ndarray) -> list[dict[str, Any]]:
        values = [[_json_key(v) for v in k[codes].tolist()] for k in self.keys]
        return [dict(zip(self.columns, key, strict=True)) for key in zip(*values, strict=True)]

    def rows(self, limit: int | None = None) -> list[GroupRow]:
        """The reported groups in table order, the first ``limit`` (all when None)."""
        codes = self.order[:limit]
        r = self.results
        names = self.metric_names
        values = [r.metrics[m][codes].tolist() for m in names]
        with_errors = [m for m in names if m in r.standard_error]  # not the binned calibration errors
        errors = [r.standard_error[m][codes].tolist() for m in with_errors]
        flags = [(m, self.flagged[m][codes].tolist()) for m in self.flagged]
        rows = []
        for i, (key, n) in enumerate(zip(self._keys(codes), r.n_samples[codes].tolist(), strict=True)):
            rows.append(
                GroupRow(
                    key,
                    ",".join(f"{c}={v}" for c, v in key.items()),
                    n,
                    {m: v[i] for m, v in zip(names, values, strict=True)},
                    {m: e[i] for m, e in zip(with_errors, errors, strict=True)},
                    [m for m, f in flags if f[i]],
                )
            )
        return rows

    def suppressed(self) -> list[tuple[dict[str, Any], int]]:
        """The suppressed groups' keys and sizes, in table order."""
        return list(zip(self._keys(self.small), self.results.n_samples[self.small].tolist(), strict=True))

    def gate_values(self) -> dict[str, dict[str, float]]:
        """``groups.METRIC`` -> {group label: value} over the reported groups, for gates;
        ``groups.ALIAS`` too for each alias of a reported metric (as overall)."""
        rows = self.rows()
        names = {name: name for name in self.metric_names}  # gate name -> metric
        for m in metrics_of("eval"):
            if m.alias is not None and m.name in names and m.alias not in names:
                names[m.alias] = m.name
        return {f"groups.{gate}": {r.label: r.metrics[name] for r in rows} for gate, name in names.items()}


def grouped_names(names: Sequence[str]) -> list[str]:
    """Those of ``names`` that are reported per group: the per-row metrics (a statistic's
    mean, or derived from one) and the calibration metrics."""
    per_row = [n for n in names if n in STATISTICS or n in DERIVED or n in READS]
    return per_row + [n for n in names if n in REGISTRY and REGISTRY[n].option == "calibration"]


def sortable(metric: str) -> bool:
    """Whether groups can be sorted worst first by ``metric`` (it has a direction)."""
    return metric in REGISTRY and REGISTRY[metric].higher_is_better is not None


def _reported_as(name: str, metrics: Mapping[str, Any]) -> str:
    """The reported metric ``name`` is, or is an alias of (``accuracy``: ``top1_agreement``
    against target distributions).

    Raises:
        InfoCliError: Neither it nor a metric it is an alias of is reported per group.
    """
    if name in metrics:
        return name
    for m in metrics_of("eval"):
        if m.alias == name and m.name in metrics:
            return m.name
    raise InfoCliError(
        f"{param('sort')} {name!r}: not reported for these rows; expected one of "
        + ", ".join(n for n in metrics if sortable(n))
    )


def group_report(
    results: GroupResults,
    overall: Mapping[str, float],
    *,
    min_group_size: int = 1,
    sort: str | None = None,
    class_names: Sequence[str] | None = None,
) -> GroupReport:
    """Order, flag and suppress the groups.

    Groups of fewer than ``min_group_size`` rows are suppressed: listed with their key and
    size only. The others are sorted by size (largest first), or with ``sort`` worst first
    by the registry's direction of that metric (NaN last); ties go in key order. A group is
    flagged for a metric with a direction when its 95% interval (value ± 1.96 standard
    errors) lies entirely on the worse side of the overall value.

    Args:
        results: From :meth:`GroupState.compute`.
        overall: The overall metrics.
        min_group_size: The smallest group reported.
        sort: A metric with a direction, or None for size.
        class_names: Names of the classes, shown for the ``class`` column's indices.

    Returns:
        The report's groups.
    """
    index = results.index
    n = results.n_samples
    keys = list(index.keys)
    for i, column in enumerate(index.columns):
        if column == CLASS_COLUMN and class_names is not None and keys[i].dtype.kind in "iu":
            keys[i] = np.asarray(class_names, dtype=str)[keys[i]]
    order = np.lexsort([*(k for k in reversed(keys)), -n])  # size first, then the keys
    if sort is not None:
        sort = _reported_as(sort, results.metrics)
        values = results.metrics[sort][order]
        worst_first = values if REGISTRY[sort].higher_is_better else -values
        order = order[np.argsort(np.where(np.isnan(worst_first), np.inf, worst_first), kind="stable")]
    flagged = {}
    for name, values in results.metrics.items():
        direction = REGISTRY[name].higher_is_better
        if direction is None or name not in overall or name not in results.standard_error:
            continue  # an interval needs a standard error: not for the binned calibration errors
        margin = Z_95 * results.standard_error[name]
        with np.errstate(invalid="ignore"):
            flagged[name] = values + margin < overall[name] if direction else values - margin > overall[name]
    small = n[order] < min_group_size
    return GroupReport(results, keys, order[~small], order[small], flagged, min_group_size, sort)
