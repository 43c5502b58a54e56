"""Signals and temporary files: SIGINT, SIGTERM and SIGHUP end a run through its cleanups.

:func:`install` (at process start) makes each of these signals raise :class:`Interrupted`
in the main thread, a ``KeyboardInterrupt``, so that every ``finally`` runs as it does for
Ctrl-C and the run exits 128 + the signal number (130, 143, 129) with one ``infocli:
interrupted`` line. A second signal, or one after the command has finished, ends the
process at once. Each temporary file is made by :func:`temporary_file`, which removes it
on every way out: it is created and registered with signals held, and whatever an
interrupted cleanup leaves is removed at exit, or by that second signal.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import signal
import tempfile
from collections.abc import Iterator
from types import FrameType

from infocli.streams import say

__all__ = ["Interrupted", "install", "settle", "stopped", "temporary_file"]

SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
"""The signals that interrupt a run."""


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal.

    Args:
        signum: The signal number.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


_temporaries: set[str] = set()
_raising = False  # a signal raises Interrupted (while the command runs)
_received: int | None = None  # the signal that stopped the run
_held = False  # a signal waits (while a temporary file is created and registered)
_pending: int | None = None  # the signal that arrived while held
_announced = False  # "infocli: interrupted" was written


def install() -> None:
    """Make SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted` until :func:`settle`.

    Call from the main thread, once, before the command. A signal that the parent
    process ignores (``nohup``, background jobs) stays ignored.
    """
    global _raising
    for signum in SIGNALS:
        if signal.getsignal(signum) != signal.SIG_IGN:
            signal.signal(signum, _handler)
    _raising = True


def settle() -> None:
    """The command has finished: from now on a signal ends the process at once."""
    global _raising
    _raising = False


def stopped(code: int) -> int:
    """The exit code of a run that returned ``code``, and its message if a signal stopped it.

    Typer turns a ``KeyboardInterrupt`` into 130: if a signal stopped the run (or the code
    is 130), this writes ``infocli: interrupted`` and gives 128 + the signal number.

    Args:
        code: The code the command returned.

    Returns:
        The process exit code.
    """
    global _announced
    if _received is None and code != 130:
        return code
    if not _announced:
        _announced = True
        say("infocli: interrupted")
    return 128 + (_received or signal.SIGINT)


def _handler(signum: int, frame: FrameType | None) -> None:
    global _pending
    if _held:
        _pending = signum
        return
    _stop(signum)


def _stop(signum: int) -> None:
    global _received
    first = _received is None
    if first:
        _received = signum
    if first and _raising:
        raise Interrupted(signum)
    # A second signal (cleanups are stuck or slow), or one once the command has finished.
    _remove_temporaries()
    os._exit(stopped(0))


@contextlib.contextmanager
def _holding() -> Iterator[None]:
    """Signals wait until the end of the block."""
    global _held, _pending
    _held = True
    try:
        yield
    finally:
        _held = False
        if _pending is not None:
            signum, _pending = _pending, None
            _stop(signum)


@contextlib.contextmanager
def temporary_file(
    *, prefix: str, suffix: str = "", dir: str | None = None, mode: int = 0o600
) -> Iterator[tuple[int, str]]:
    """A new temporary file, open for writing, removed on every way out of the block.

    The file is created and registered with signals held, so that no moment exists when
    it is on disk and unknown: a signal then waits, and an interrupted cleanup leaves it
    to the removal at exit. The caller closes the descriptor; renaming the file away
    (``os.replace``) keeps it.

    Args:
        prefix: The start of the file name.
        suffix: The end of the file name.
        dir: The folder; None for the temporary directory (``TMPDIR``).
        mode: The mode it is created with, before the umask (0o666 gives what an
            ordinary new file gets).

    Yields:
        The open descriptor and the file name.
    """
    with _holding():
        fd, name = _create(prefix, suffix, tempfile.gettempdir() if dir is None else dir, mode)
        _temporaries.add(name)
    try:
        yield fd, name
    finally:
        _remove(name)


def _create(prefix: str, suffix: str, folder: str, mode: int) -> tuple[int, str]:
    """A new file of a random name in ``folder``: ``(descriptor, name)``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    for _ in range(100):
        name = os.path.join(folder, f"{prefix}{os.urandom(4).hex()}{suffix}")
        try:
            return os.open(name, flags, mode), name
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), folder)


def _remove(name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name)
    _temporaries.discard(name)


@atexit.register
def _remove_temporaries() -> None:
    """Remove the temporary files that an interrupted cleanup left."""
    for name in list(_temporaries):
        with contextlib.suppress(OSError):
            _remove(name)
