"""NumPy ``.npz`` archives: one member array, read as the ``.npy`` it is.

The member is copied to a temporary file (decompressed where the archive is), which the
``.npy`` reader then reads in blocks: memory stays bounded whatever the array's size.
Nothing is ever unpickled: the archive is opened with :mod:`zipfile`, not ``np.load``,
and an array of Python objects is refused by the ``.npy`` reader as any other.
"""

from __future__ import annotations

import shutil
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from infocli.errors import InfoCliError, param, shown
from infocli.interrupts import temporary_file


def npz_keys(archive: zipfile.ZipFile) -> list[str]:
    """The names of an archive's arrays (its ``.npy`` members, the extension aside)."""
    return [name[: -len(".npy")] for name in archive.namelist() if name.endswith(".npy")]


@contextmanager
def npz_member(source: str, path: str, key: str | None, key_param: str) -> Iterator[str]:
    """One array of an archive, as a temporary ``.npy`` file removed afterwards.

    Args:
        source: The archive.
        path: The archive as messages name it.
        key: The array's name; None where the archive holds one array.
        key_param: The parameter that gives ``key`` (``npz_key``), for messages.

    Yields:
        The ``.npy`` file's name.

    Raises:
        InfoCliError: Not a zip archive, no such array, or several and no key (the keys listed).
    """
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as error:
        raise InfoCliError(
            f"not a readable .npz archive ({error})", path=path, hint="Write it with numpy.savez"
        ) from error
    with archive:
        keys = npz_keys(archive)
        listed = ", ".join(map(shown, keys))
        if key is None and len(keys) != 1:
            raise InfoCliError(
                f"the archive holds {len(keys)} arrays: {listed or 'none'}",
                path=path,
                hint=f"Choose one with {param(key_param)}" if keys else "Write it with numpy.savez",
            )
        name = keys[0] if key is None else key
        if name not in keys:
            raise InfoCliError(
                f"no array {name!r} (from {param(key_param)}); the arrays are: {listed or 'none'}", path=path
            )
        with temporary_file(prefix="infocli-npz-", suffix=".npy") as (fd, member):
            try:
                with archive.open(name + ".npy") as packed, open(fd, "wb") as unpacked:
                    shutil.copyfileobj(packed, unpacked, 1 << 20)
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as error:
                raise InfoCliError(f"array {name!r} cannot be read ({error})", path=path) from error
            yield member
