"""Datasets: a directory, a glob, an ``@list`` file or an object-store URI, as ordered shards.

A dataset is discovered with :mod:`pyarrow.fs` (local files, ``s3://``, ``gs://``,
``file://``) as :mod:`pyarrow.dataset` discovers one: recursively, skipping every path
with a component that starts with ``.`` or ``_``. Hive-style folders (``split=test/``)
are parsed by :class:`pyarrow.dataset.HivePartitioning`. Shards are ordered naturally by
their relative paths (numbers by value, so ``part-2`` comes before ``part-10``), and a
PREDS dataset is paired with a LABELS (or groups) dataset by relative path, the
extension aside.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import posixpath
import re
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from infocli.errors import InfoCliError, shown
from infocli.readers.table import Table

__all__ = [
    "Shard",
    "display",
    "is_dataset",
    "open_shard",
    "partitions",
    "shards",
    "shared_files",
    "without_credentials",
]

_WILDCARDS = re.compile(r"[*?\[]")
_IGNORED_PREFIXES = (".", "_")
"""Path components that discovery skips, as ``pyarrow.dataset`` does by default."""
_NUMBERS = re.compile(r"(\d+)")
_UNCOUNTED = ("csv", "tsv", "jsonl")
"""Formats whose row count is known only by reading every row."""


@dataclass(frozen=True)
class Shard:
    """One predictions shard of a dataset and the labels and group columns that go with it.

    Attributes:
        preds: The shard: an absolute local path, or a URI (``s3://bucket/key``).
        labels: Its paired labels shard, or a single labels file (read from
            ``label_offset``), or None.
        label_offset: The first row of ``labels`` that aligns with this shard's row 0.
        relative: The shard's path relative to its dataset (for messages and ordering).
        rows: The shard's row count, where it is known before the shard is read.
        groups: Its paired groups shard, or a single groups file (read from
            ``group_offset``), or None.
        group_offset: The first row of ``groups`` that aligns with this shard's row 0.
    """

    preds: str
    labels: str | None
    label_offset: int = 0
    relative: str = ""
    rows: int | None = None
    groups: str | None = None
    group_offset: int = 0

    def offset(self, side: str) -> int:
        """The first row of the ``labels`` or ``groups`` file that aligns with this shard's row 0."""
        return self.label_offset if side == "labels" else self.group_offset


@dataclass(frozen=True)
class _Found:
    """A file of a dataset: where it is, its relative path, and its format."""

    uri: str
    relative: str
    format: str

    @property
    def key(self) -> str:
        """The relative path without its extension: what pairs shards."""
        return self.relative[: len(self.relative) - len(_ending(self.relative) or "")]


@dataclass
class _Discovered:
    """What a dataset argument holds."""

    spec: str
    files: list[_Found]
    single: bool  # one file named directly, not a dataset
    skipped: list[str] = field(default_factory=list)  # relative paths of other kinds


def _extensions() -> dict[str, str]:
    from infocli.readers import EXTENSIONS

    return EXTENSIONS


def _ending(name: str) -> str | None:
    from infocli.readers import extension

    return extension(name)


def is_remote(spec: str) -> bool:
    """Whether ``spec`` is a URI (``scheme://...``) rather than a local path."""
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", spec) is not None


def is_dataset(spec: str | None) -> bool:
    """Whether an input argument names a dataset rather than one local file (or stdin).

    Args:
        spec: A PREDS, LABELS or TOKENS argument.

    Returns:
        True for a directory, a glob that names no existing file, an ``@list`` file, or a URI.
    """
    if spec is None or spec in ("", "-"):
        return False
    if is_remote(spec) or os.path.isdir(spec):
        return True
    if os.path.exists(spec):
        return False
    return spec.startswith("@") or _WILDCARDS.search(spec) is not None


def display(uri: str) -> str:
    """A shard as messages show it: a URI without any credentials in it, or a local path
    relative to the working directory where it lies below it.

    Args:
        uri: A shard's :attr:`Shard.preds` or :attr:`Shard.labels`.

    Returns:
        The name to show.
    """
    if is_remote(uri):
        return without_credentials(uri)
    relative = os.path.relpath(uri)
    return uri if relative.startswith(os.pardir) else relative


def without_credentials(uri: str) -> str:
    """``s3://KEY:SECRET@bucket/x`` as ``s3://bucket/x``; never show what precedes an ``@``."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return uri.replace(parts.netloc, parts.netloc.rsplit("@", 1)[1], 1)


def _endpoint() -> tuple[str, str] | None:
    """An S3-compatible endpoint from ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``, as
    (scheme, host[:port]); None to use AWS's own."""
    url = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if not url:
        return None
    parts = urlsplit(url if "://" in url else "https://" + url)
    return parts.scheme or "https", parts.netloc + parts.path.rstrip("/")


def filesystem(spec: str) -> tuple[Any, str]:
    """The :mod:`pyarrow.fs` filesystem of a path or URI, and the path within it.

    Credentials come from the usual environment variables and configuration files;
    ``s3://`` goes to ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` where one is set.

    Args:
        spec: A local path or a URI.

    Returns:
        (filesystem, path).

    Raises:
        InfoCliError: The URI is not one pyarrow understands (its scheme named).
    """
    import pyarrow.fs as pafs

    if not is_remote(spec):
        return pafs.LocalFileSystem(), os.path.abspath(spec)
    scheme = spec.split("://", 1)[0].lower()
    if scheme == "file":
        return pafs.LocalFileSystem(), unquote(urlsplit(spec).path)
    endpoint = _endpoint() if scheme == "s3" else None
    try:
        if endpoint is not None:
            region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
            parts = urlsplit(spec)
            keys: dict[str, str] = {}
            if parts.username is not None:  # s3://KEY:SECRET@bucket/..., as pyarrow's own URIs take them
                keys = {"access_key": unquote(parts.username), "secret_key": unquote(parts.password or "")}
            s3 = pafs.S3FileSystem(endpoint_override=endpoint[1], scheme=endpoint[0], region=region, **keys)
            return s3, parts.hostname + unquote(parts.path) if parts.hostname else unquote(parts.path)
        return pafs.FileSystem.from_uri(spec)
    except (OSError, ValueError) as error:  # pyarrow.lib.ArrowInvalid is a ValueError
        raise InfoCliError(
            f"not a URI that pyarrow's filesystems open ({_scrubbed(error, spec)})",
            path=without_credentials(spec),
            hint="Use s3://bucket/prefix/, gs://bucket/prefix/ or file:///path",
        ) from error


def _scrubbed(error: BaseException, spec: str) -> str:
    """An error's text, with any credentials of ``spec`` taken out, on one line."""
    text = " ".join(str(error).split())
    if not is_remote(spec) or "@" not in urlsplit(spec).netloc:
        return text
    parts = urlsplit(spec)
    for secret in (parts.netloc.rsplit("@", 1)[0], parts.username, parts.password):
        for form in {secret, unquote(secret or "")}:
            if form:
                text = text.replace(form, "***")
    return text


def _uri(spec: str, path: str) -> str:
    """A file found under ``spec`` as a :attr:`Shard.preds` value: a local absolute path,
    or a URI of the same scheme (credentials kept: the shard is opened with them)."""
    if not is_remote(spec) or spec.lower().startswith("file://"):
        return path
    scheme, rest = spec.split("://", 1)
    userinfo = rest.split("/", 1)[0].rsplit("@", 1)[0] + "@" if "@" in rest.split("/", 1)[0] else ""
    return f"{scheme}://{userinfo}{path}"


def _ignored(relative: str) -> bool:
    return any(part.startswith(_IGNORED_PREFIXES) for part in relative.split("/"))


def _info(fs: Any, path: str, spec: str) -> Any:
    try:
        return fs.get_file_info(path)
    except OSError as error:
        raise InfoCliError(
            f"cannot be read ({_scrubbed(error, spec)})", path=without_credentials(spec)
        ) from error


def _listing(fs: Any, root: str, spec: str) -> list[tuple[str, str]]:
    """Every file below ``root``, recursively, as (path, path relative to root), the
    ignored ones left out."""
    import pyarrow.fs as pafs

    try:
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    except OSError as error:
        raise InfoCliError(
            f"cannot be listed ({_scrubbed(error, spec)})", path=without_credentials(spec)
        ) from error
    found = []
    for info in infos:
        if info.type != pafs.FileType.File:
            continue
        relative = posixpath.relpath(info.path, root) if root else info.path
        if not _ignored(relative):
            found.append((info.path, relative))
    return found


def _glob_root(pattern: str) -> str:
    """The leading components of a glob without wildcards: where listing starts."""
    parts = pattern.split("/")
    fixed = []
    for part in parts[:-1]:
        if _WILDCARDS.search(part):
            break
        fixed.append(part)
    return "/".join(fixed) if fixed else ("/" if pattern.startswith("/") else "")


def _matches(parts: Sequence[str], pattern: Sequence[str]) -> bool:
    """Whether path components match glob components (``**`` matches any number of them)."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_matches(parts[i:], pattern[1:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], pattern[0]) and _matches(parts[1:], pattern[1:])


def _natural(relative: str) -> tuple[Any, ...]:
    """Natural order: runs of digits compared by value, then the text itself."""
    pieces = _NUMBERS.split(relative)
    return (tuple(int(p) if i % 2 else p for i, p in enumerate(pieces)), relative)


def _discover(spec: str, role: str) -> _Discovered:
    """The files an input argument names.

    Args:
        spec: The argument.
        role: Its name on the command line (``PREDS``), for messages.

    Raises:
        InfoCliError: Nothing is found, a glob matches nothing, or a dataset holds
            several formats.
    """
    if spec.startswith("@") and not is_remote(spec) and not os.path.exists(spec):
        return _listed(spec[1:], role)
    fs, path = filesystem(spec)
    if _WILDCARDS.search(spec) and not os.path.exists(spec):
        root = _glob_root(path)
        pattern = posixpath.relpath(path, root).split("/") if root else path.split("/")
        entries = [(p, r) for p, r in _listing(fs, root, spec) if _matches(r.split("/"), pattern)]
        if not entries:
            raise InfoCliError(
                "no such file, and no file matches it as a pattern",
                path=without_credentials(spec),
                hint="Quote the pattern for infocli to expand it ('preds/*.parquet'); "
                "names that start with . or _ are skipped",
            )
        return _dataset(spec, role, [(_uri(spec, p), r) for p, r in entries])
    import pyarrow.fs as pafs

    info = _info(fs, path, spec)
    if info.type == pafs.FileType.File:
        return _Discovered(spec, [_found(_uri(spec, path), posixpath.basename(path), spec)], single=True)
    if info.type != pafs.FileType.Directory:
        bucket = path.split("/", 1)[0]
        if is_remote(spec) and bucket != path and _info(fs, bucket, spec).type == pafs.FileType.NotFound:
            raise InfoCliError(f"no such bucket {bucket!r}", path=without_credentials(spec))
        raise InfoCliError(
            "no such object or prefix" if is_remote(spec) else "no such file or directory",
            path=without_credentials(spec),
        )
    entries = [(_uri(spec, p), r) for p, r in _listing(fs, path.rstrip("/") or "/", spec)]
    return _dataset(spec, role, entries)


def _found(uri: str, relative: str, spec: str) -> _Found:
    ending = _ending(relative)
    if ending is None:
        from infocli.readers import file_format

        file_format(display(uri))  # raises the unsupported-extension error
    return _Found(uri, relative, _extensions()[ending or ""])


def _listed(list_path: str, role: str) -> _Discovered:
    """The files of an ``@list`` file: one path or URI a line, relative paths taken from
    the list file's folder; blank lines skipped."""
    try:
        with open(list_path, encoding="utf-8") as file:
            lines = [line.strip() for line in file]
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise InfoCliError(f"cannot read the list file ({reason})", path=list_path) from error
    folder = os.path.dirname(os.path.abspath(list_path))
    entries = [line if is_remote(line) else os.path.join(folder, line) for line in lines if line]
    if not entries:
        raise InfoCliError(
            "the list file names no file", path=list_path, hint="Write one path or URI per line"
        )
    local = [e for e in entries if not is_remote(e)]
    common = os.path.commonpath([os.path.dirname(e) for e in local]) if local else ""
    found = []
    for entry in entries:
        fs, path = filesystem(entry)
        import pyarrow.fs as pafs

        if _info(fs, path, entry).type != pafs.FileType.File:
            raise InfoCliError(f"names no file: {shown(display(entry))}", path=list_path)
        relative = (
            os.path.relpath(entry, common) if not is_remote(entry) else urlsplit(entry).path.lstrip("/")
        )
        found.append((_uri(entry, path), relative.replace(os.sep, "/")))
    return _dataset("@" + list_path, role, found)


def _dataset(spec: str, role: str, entries: list[tuple[str, str]]) -> _Discovered:
    """The readable files among ``entries``, in natural order, of one format."""
    files, skipped = [], []
    for uri, relative in entries:
        ending = _ending(relative)
        if ending is None:
            skipped.append(relative)
        else:
            files.append(_Found(uri, relative, _extensions()[ending]))
    name = without_credentials(spec)
    if not files:
        what = (
            f" ({len(skipped)} of other kinds: {', '.join(map(shown, sorted(skipped)[:3]))})"
            if skipped
            else ""
        )
        raise InfoCliError(
            f"{role} is a dataset without a file infocli reads{what}",
            path=name,
            hint="Shards are "
            + ", ".join(sorted(_extensions()))
            + "; names that start with . or _ are skipped",
        )
    formats: dict[str, str] = {}
    for f in sorted(files, key=lambda f: _natural(f.relative)):
        formats.setdefault(f.format, f.relative)
    if len(formats) > 1:
        listed = ", ".join(f"{fmt} ({shown(first)})" for fmt, first in formats.items())
        raise InfoCliError(
            f"the dataset holds files of {len(formats)} formats: {listed}; a dataset holds one format",
            path=name,
            hint="Put each format in a folder of its own, or name the files with a glob",
        )
    ordered = sorted(files, key=lambda f: _natural(f.relative))
    for a, b in zip(ordered, ordered[1:], strict=False):
        if a.relative == b.relative:
            raise InfoCliError(f"names {shown(a.relative)} twice", path=name)
    return _Discovered(spec, ordered, single=False, skipped=sorted(skipped, key=_natural))


def partitions(relative: str) -> dict[str, str]:
    """The Hive-style partition values of a shard (``split=test/part-0.parquet``).

    Args:
        relative: The shard's relative path.

    Returns:
        Partition name -> value (text, decoded as pyarrow decodes it), in path order.
    """
    folders = relative.split("/")[:-1]
    names = [f.split("=", 1)[0] for f in folders if "=" in f and not f.startswith("=")]
    if not names:
        return {}
    import pyarrow as pa
    import pyarrow.dataset as ds

    hive = ds.HivePartitioning(pa.schema([(n, pa.string()) for n in dict.fromkeys(names)]))
    # The last component is the file's name, as pyarrow's discovery parses a path.
    return {str(k): str(v) for k, v in ds.get_partition_keys(hive.parse("/" + relative)).items()}


def _rows(uri: str, *, count: bool) -> int | None:
    """A file's row count: from its metadata where it has one, else, with ``count``, by
    reading it through. An object's metadata is read in place (a Parquet footer, an IPC
    file's), without copying the object."""
    if is_remote(uri) and not uri.lower().startswith("file://"):
        rows = _remote_rows(uri)
        if rows is not None or not count:
            return rows
    if not count and _extensions().get(_ending(uri) or "") in _UNCOUNTED:
        return None
    try:
        with open_shard(uri) as table:
            if table.n_rows is not None or not count:
                return table.n_rows
            return sum(batch.n_rows for batch in table.batches([], [], 1 << 16))
    except InfoCliError:
        if count:
            raise
        return None  # the shard's read says what is wrong, in shard order


def _remote_rows(uri: str) -> int | None:
    """The row count a Parquet or Arrow IPC object states, read by range requests; None
    for other formats, or where it cannot be read (the read of the shard says why)."""
    import pyarrow as pa

    fs, path = filesystem(uri)
    fmt = _extensions().get(_ending(path) or "")
    try:
        with fs.open_input_file(path) as file:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                return pq.ParquetFile(file).metadata.num_rows
            if fmt == "arrow" and file.read(6) == b"ARROW1":
                file.seek(0)
                return pa.ipc.open_file(file).count_rows()
    except (OSError, pa.ArrowException):
        return None
    return None


def _skipped_note(found: _Discovered) -> list[str]:
    if not found.skipped:
        return []
    listed = ", ".join(map(shown, found.skipped[:3])) + (", ..." if len(found.skipped) > 3 else "")
    return [
        f"{shown(without_credentials(found.spec))}: {len(found.skipped)} file(s) of other kinds "
        f"skipped ({listed})"
    ]


SIDES = ("labels", "groups")
"""The files read beside a dataset's predictions, each a dataset paired shard by shard
or a single file aligned with the shards' rows in order."""

_NOUNS = {"labels": "one label", "groups": "one row of group columns"}


def by_position(side: str) -> str:
    """The hint for a single ``side`` file (:data:`SIDES`) that does not align with the shards."""
    return f"Rows are paired by position: {_NOUNS[side]} per prediction row, shards in natural order"


def shards(
    preds: str,
    labels: str | None,
    *,
    groups: str | None = None,
    notes: list[str] | None = None,
    role: str = "PREDS",
    label_role: str = "LABELS",
    group_role: str = "--groups",
) -> list[Shard]:
    """Discover a dataset's shards, pair them with their labels and groups, and put them in order.

    A PREDS dataset and a LABELS (or groups) dataset pair one to one by relative path
    with the extension aside (``preds/a/part-7.parquet`` with ``labels/a/part-7.csv``),
    with equal row counts where the files state them (the others are checked as they
    are read). A single LABELS (or groups) file is aligned with the dataset's rows in
    shard order: it then needs every shard's row count, which a format without one (CSV,
    JSON Lines, an Arrow stream) gives only by being read through.

    Args:
        preds: A local file, directory, glob, ``@list`` file, or URI.
        labels: The same, or None (no labels, or labels in the predictions).
        groups: The same, for the group columns' own files, or None.
        notes: Where to add what the report notes of the datasets (files skipped).
        role: The name of ``preds`` on the command line (``TOKENS``), for messages.
        label_role: The name of ``labels`` on the command line (``CANDIDATE``, a dataset
            paired with the baseline's as labels are), for messages.
        group_role: The name of ``groups`` on the command line, for messages.

    Returns:
        The shards, in natural order of their relative paths.

    Raises:
        InfoCliError: Nothing to read, several formats, unpaired shards, or unequal row
            counts (the first such shard and both counts named).
    """
    found = _discover(preds, role)
    notes = notes if notes is not None else []
    notes.extend(_skipped_note(found))
    sides: dict[str, tuple[_Discovered, str]] = {}
    for side, spec, side_role in (("labels", labels, label_role), ("groups", groups, group_role)):
        if spec is None:
            continue
        discovered = _discover(spec, side_role)
        notes.extend(_skipped_note(discovered))
        if found.single and not discovered.single:
            raise InfoCliError(
                f"{side_role} is a dataset of {len(discovered.files)} shard(s) but {role} is one file",
                path=without_credentials(spec),
                hint=f"Give {role} as a dataset of the same layout, or {side_role} as one file",
            )
        sides[side] = (discovered, side_role)
    counted = len(found.files) > 1 and any(d.single for d, _ in sides.values())
    rows = [_rows(f.uri, count=counted) for f in found.files]
    beside = {
        side: _aligned(found, d.files[0].uri, rows, side)
        if d.single
        else _paired(found, d, rows, role, side_role)
        for side, (d, side_role) in sides.items()
    }
    none: list[tuple[str | None, int]] = [(None, 0)] * len(found.files)
    label_files, group_files = beside.get("labels", none), beside.get("groups", none)
    return [
        Shard(f.uri, label_files[i][0], label_files[i][1], f.relative, rows[i], *group_files[i])
        for i, f in enumerate(found.files)
    ]


def shared_files(found: Sequence[Shard]) -> tuple[str, ...]:
    """Which of a dataset's :data:`SIDES` are single files, each shard read from its own
    offset (rather than shards of their own, or none).

    Args:
        found: From :func:`shards`.

    Returns:
        ``labels`` and ``groups`` where a single such file is read against several shards.
    """
    return tuple(
        side
        for side in SIDES
        if len(found) > 1 and getattr(found[0], side) is not None
        and getattr(found[0], side) == getattr(found[1], side)
    )  # fmt: skip


def _aligned(
    found: _Discovered, single: str, rows: Sequence[int | None], side: str
) -> list[tuple[str | None, int]]:
    """A single file read against every shard, each from the row after the last one's."""
    result: list[tuple[str | None, int]] = []
    offset = 0
    for n in rows:
        result.append((single, offset))
        offset += n or 0
    if len(found.files) > 1:
        n_rows = _rows(single, count=False)
        if n_rows is not None and n_rows != offset:
            raise InfoCliError(
                f"{n_rows:,} rows but the {len(result)} shards of {shown(without_credentials(found.spec))} "
                f"have {offset:,}; the {side} must align with the shards' rows in order",
                path=display(single),
                hint=by_position(side),
            )
    return result


def _paired(
    preds: _Discovered,
    other: _Discovered,
    rows: Sequence[int | None],
    role: str = "PREDS",
    other_role: str = "LABELS",
) -> list[tuple[str | None, int]]:
    """PREDS shards with another dataset's shards, by relative path without the extension."""
    by_key = {f.key: f for f in other.files}
    pred_keys = {f.key for f in preds.files}
    unpaired = [f for f in preds.files if f.key not in by_key] + [
        f for f in other.files if f.key not in pred_keys
    ]
    counts = f"{shown(without_credentials(preds.spec))} has {len(preds.files)} shard(s), " + (
        f"{shown(without_credentials(other.spec))} {len(other.files)}"
    )
    if unpaired:
        first = min(unpaired, key=lambda f: _natural(f.key))
        side = other_role if first in other.files else role
        opposite = role if side == other_role else other_role
        raise InfoCliError(
            f"this {side} shard has no {opposite} shard of the same relative path ({counts})",
            path=display(first.uri),
            hint="Shards pair one to one by relative path with the extension aside "
            "(preds/a/part-7.parquet with labels/a/part-7.csv)",
        )
    result: list[tuple[str | None, int]] = []
    for f, n in zip(preds.files, rows, strict=True):
        paired = by_key[f.key]
        paired_rows = _rows(paired.uri, count=False)
        if n is not None and paired_rows is not None and n != paired_rows:
            from infocli.readers import row_count_error

            short, long = (f, paired) if n < paired_rows else (paired, f)
            with open_shard(short.uri) as a, open_shard(long.uri) as b:
                raise row_count_error(a, min(n, paired_rows), b, max(n, paired_rows))
        result.append((paired.uri, 0))
    return result


@contextmanager
def open_shard(uri: str, *, npz_key: str | None = None, key_param: str = "npz_key") -> Iterator[Table]:
    """Open one shard (a local file, or an object copied to a temporary file) as a table
    named by :func:`display`.

    An object is copied whole before it is read, as stdin is: the readers read a file
    again to locate a bad row. The copy is removed on every way out.

    Args:
        uri: A :attr:`Shard.preds` or :attr:`Shard.labels`.
        npz_key: The array of a ``.npz`` shard.
        key_param: The parameter that gave ``npz_key``, for messages.

    Yields:
        The table.

    Raises:
        InfoCliError: The shard is missing, unreadable or corrupt.
    """
    from infocli.readers import open_source

    name = display(uri)
    with contextlib.ExitStack() as stack:
        source = uri
        if is_remote(uri) and not uri.lower().startswith("file://"):
            source = stack.enter_context(_local_copy(uri, name))
        elif is_remote(uri):
            source = filesystem(uri)[1]
        yield stack.enter_context(open_source(source, name, npz_key=npz_key, key_param=key_param))


@contextmanager
def _local_copy(uri: str, name: str) -> Iterator[str]:
    """An object copied to a temporary file with its extension, removed afterwards."""
    from infocli.interrupts import temporary_file

    fs, path = filesystem(uri)
    with temporary_file(prefix="infocli-shard-", suffix=_ending(path) or "") as (fd, local):
        try:
            with fs.open_input_stream(path) as source, open(fd, "wb") as target:
                shutil.copyfileobj(source, target, 1 << 20)
        except FileNotFoundError as error:
            raise InfoCliError("no such object", path=name) from error
        except OSError as error:
            raise InfoCliError(f"cannot be read ({_scrubbed(error, uri)})", path=name) from error
        yield local
