"""Every file infocli writes (``--output``, ``--plot``, state files): checked before any
data is read, then written whole or not at all.

A regular file (or a name not yet taken) is written to a temporary file in the same
folder, flushed to disk and renamed into place, so a failed or interrupted run leaves
the old file as it was and no temporary file behind. A symlink is followed: the file it
points to is replaced and the link stays a link. A character device or a FIFO
(``/dev/null``, a terminal, a named pipe), and a path through ``/proc/PID/fd``
(``/dev/stdout``, ``/dev/fd/N``) are open files rather than names: they are written
through, never replaced. A socket, a block device or a directory is refused. Every
``OSError`` becomes an :class:`InfoCliError` naming the path and the reason.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from infocli.errors import InfoCliError
from infocli.interrupts import temporary_file

TEMP_PREFIX = ".infocli-"
TEMP_SUFFIX = ".tmp"
"""Temporary files are named ``.infocli-XXXXXXXX.tmp``, next to their target."""

_HINTS = {
    errno.EROFS: "The file system is read-only: write to another folder",
    errno.ENOSPC: "The disk is full: free some space or write to another disk",
    errno.EDQUOT: "The disk quota is used up: free some space or write to another disk",
    errno.EACCES: "Check the permissions of the file and its folder",
    errno.EPERM: "Check the permissions of the file and its folder",
    errno.ENOTDIR: "A part of the path is a file, not a folder",
    errno.EISDIR: "Name a file, not a folder",
    errno.ENAMETOOLONG: "Use a shorter name",
    errno.ELOOP: "The path's symlinks form a loop",
    errno.EPIPE: "The reader of the pipe has gone",
}


@dataclass(frozen=True)
class _Target:
    """Where a path's bytes go: a regular file to replace, or an open file to write through."""

    path: str
    """As the user gave it."""
    option: str
    """The option that named it (``--output``), for messages."""
    real: str | None
    """The file to create or replace, symlinks resolved; None to write through ``path``."""
    kept: os.stat_result | None
    """The file being replaced, whose mode and owner the new one keeps."""


def check_targets(targets: Sequence[tuple[str | None, str]], inputs: Sequence[str | None] = ()) -> None:
    """Check every file a run will write, before any data is read.

    Each target must be a file name in an existing, writable folder (a temporary file is
    created there and removed at once, to be sure), or a character device or FIFO. A
    target that will be replaced must not be one of the run's inputs, nor another
    target: files are compared by resolved path and by inode, so ``./x``, a hard link or
    a symlink are seen through. Devices and FIFOs may be shared, since writing one
    destroys nothing.

    Args:
        targets: ``(path, option)`` pairs, e.g. ``(args.output, "--output")``; a None path
            (an option not given) is skipped.
        inputs: The run's input files; None and ``-`` (stdin) are skipped.

    Raises:
        InfoCliError: Naming the target, the option and what is wrong.
    """
    inputs = [p for p in inputs if p and p != "-"]
    seen: list[_Target] = []
    for path, option in targets:
        if path is None:
            continue
        target = _plan(path, option)
        if target.real is not None:
            for other in inputs:
                if _same_file(target.real, other):
                    raise InfoCliError(
                        f"{option} names the input {other}: the report would overwrite it",
                        path=path,
                        hint="Name another file",
                    )
            for other in seen:
                if other.real is not None and _same_file(target.real, other.real):
                    raise InfoCliError(f"{other.option} and {option} name the same file", path=path)
            _probe(target)
        seen.append(target)


def write_atomically(path: str, data: str | bytes, *, option: str = "--output") -> None:
    """Write ``data`` (text as UTF-8) to ``path``, whole or not at all (see :func:`open_atomically`).

    Args:
        path: The target, as the user gave it.
        data: The whole content.
        option: The option that named the path, for messages.

    Raises:
        InfoCliError: The path and the reason the write failed; ``path`` is unchanged.
    """
    with open_atomically(path, option=option) as file:
        file.write(data.encode("utf-8") if isinstance(data, str) else data)


@contextlib.contextmanager
def open_atomically(path: str, *, option: str = "--output") -> Iterator[BinaryIO]:
    """A binary file to write; when the block ends without an exception it becomes ``path``.

    A regular file is written to ``.infocli-XXXXXXXX.tmp`` in its folder, fsynced and
    renamed over the target; on any exception (KeyboardInterrupt and exceptions raised by
    signal handlers too) the temporary file is removed and the target is unchanged. A new
    file gets the mode the umask gives (0644 under umask 022); a replaced one keeps its
    mode and, where possible, its owner. Devices and FIFOs are written through.

    Args:
        path: The target, as the user gave it.
        option: The option that named the path, for messages.

    Yields:
        The open file (``write`` it, or pass it to ``savefig``).

    Raises:
        InfoCliError: The path and the reason the write failed (an ``OSError`` in the
            block included); ``path`` is unchanged.
    """
    target = _plan(path, option)
    try:
        if target.real is None:
            # Appending, as a shell's `>>` would: a /dev/stdout redirected to a file keeps what it has.
            with open(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC), "wb") as file:
                yield file
            return
        folder = os.path.dirname(target.real)
        with _temporary(folder) as (fd, tmp):
            if target.kept is not None:
                _keep_owner_and_mode(fd, target.kept)
            with open(fd, "wb") as file:
                yield file
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, target.real)
        _fsync_folder(folder)
    except OSError as error:
        raise _write_error(target, error) from None


def _plan(path: str, option: str) -> _Target:
    """Decide how ``path`` is written, or raise why it cannot be."""
    if not path:
        raise InfoCliError(f"{option} needs a file name, got an empty path")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except (OSError, ValueError) as error:  # ValueError: a NUL byte in the path
        raise _write_error(_Target(path, option, None, None), error) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise InfoCliError(f"{option} is a directory; expected a file name", path=path)
    if st is not None and not stat.S_ISREG(st.st_mode):
        if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
            return _Target(path, option, None, None)
        kind = "a socket" if stat.S_ISSOCK(st.st_mode) else "a block device"
        raise InfoCliError(
            f"{option} is {kind}; infocli writes to files, character devices and FIFOs", path=path
        )
    if _through_open_file(path):
        return _Target(path, option, None, None)
    if st is None and path.endswith((os.sep, os.sep + ".", os.sep + "..")):
        raise InfoCliError(f"{option} names a folder; expected a file name", path=path)
    real = os.path.realpath(path)
    folder = os.path.dirname(real)
    if st is None and not os.path.isdir(folder):
        raise InfoCliError(
            f"{option} folder {folder} does not exist", path=path, hint="Create the folder first"
        )
    return _Target(path, option, real, st)


def _through_open_file(path: str) -> bool:
    """Whether ``path``'s symlinks lead through ``/proc/PID/fd``, as ``/dev/stdout`` and
    ``/dev/fd/N`` do: such a path is an open file, not a name to replace."""
    current = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit on symlinks in a path
        if not os.path.islink(current):
            return False
        folder = os.path.realpath(os.path.dirname(current))
        if folder.startswith("/proc/") and folder.endswith("/fd"):
            return True
        current = os.path.join(folder, os.readlink(current))
    return False


def _same_file(a: str, b: str) -> bool:
    """The same file, by resolved path or by inode (a hard link)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        sa, sb = os.stat(a), os.stat(b)
    except (OSError, ValueError):
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _probe(target: _Target) -> None:
    """Create and remove a temporary file next to the target: the folder takes new files."""
    assert target.real is not None
    try:
        with _temporary(os.path.dirname(target.real)) as (fd, _):
            os.close(fd)
    except OSError as error:
        raise _write_error(target, error) from None


def _temporary(folder: str) -> Any:
    """A new ``.infocli-XXXXXXXX.tmp`` in ``folder``, open for writing, removed on every way
    out, signals included: ``(fd, path)``. Created with mode 0o666, for the kernel to apply
    the umask."""
    return temporary_file(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=folder, mode=0o666)


def _keep_owner_and_mode(fd: int, kept: os.stat_result) -> None:
    """Give the new file the replaced file's owner (where allowed) and mode."""
    if (kept.st_uid, kept.st_gid) != (os.geteuid(), os.getegid()):
        with contextlib.suppress(OSError):  # only root may give a file away
            os.fchown(fd, kept.st_uid, kept.st_gid)
    os.fchmod(fd, stat.S_IMODE(kept.st_mode))


def _fsync_folder(folder: str) -> None:
    """Make the rename durable; some file systems cannot fsync a folder, which is fine."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_error(target: _Target, error: OSError | ValueError) -> InfoCliError:
    """``PATH: cannot write --output: <reason>. <hint>``."""
    code = getattr(error, "errno", None)
    reason = os.strerror(code) if code else str(error)
    hint = _HINTS.get(code)
    if code == errno.ENOENT:  # /proc says ENOENT to new files in folders that exist
        folder = os.path.dirname(target.real or os.path.abspath(target.path))
        hint = "This folder takes no new files: write to another one" if os.path.isdir(folder) else None
        hint = hint or "Create the folder first"
    return InfoCliError(f"cannot write {target.option}: {reason}", path=target.path, hint=hint)
