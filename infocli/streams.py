"""The standard streams of an infocli process.

:func:`setup`, called once at process start, makes them keep the promises of the README:

* stdout that cannot be written (closed, a full disk, a pipe whose reader has gone) is
  an :class:`~infocli.errors.InfoCliError`, so the run exits 2, whoever was writing;
* stderr that is closed or cannot be written loses its lines, never the run;
* text that the streams' encoding cannot show is escaped (``\\xe9``), not a traceback;
* Python's own warnings (NumPy's ``RuntimeWarning``) are not shown: infocli reports what
  matters as its own ``infocli: warning:`` lines.

:func:`say` writes one line to stderr, safely also where :func:`setup` was not called.
"""

from __future__ import annotations

import errno
import io
import os
import sys
import warnings

from infocli.errors import InfoCliError

__all__ = ["say", "setup", "stderr_is_terminal"]


class _Descriptor(io.RawIOBase):
    """A writable file descriptor whose write failures are handled by ``failed``."""

    def __init__(self, fd: int, strict: bool) -> None:
        super().__init__()
        self._fd = fd
        self._strict = strict

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data: bytes) -> int:  # type: ignore[override]
        try:
            return os.write(self._fd, data)
        except OSError as error:
            if not self._strict:
                return len(data)  # a lost diagnostic must not stop the run
            _discard(self._fd)
            raise _stdout_error(error) from None


def _discard(fd: int) -> None:
    """Point ``fd`` at /dev/null, so that what is still buffered for it is dropped quietly."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, fd)
    os.close(null)


def _stdout_error(error: OSError) -> InfoCliError:
    reasons = {errno.EBADF: "it is closed", errno.EPIPE: "the program reading it has exited"}
    reason = reasons.get(error.errno or 0, error.strerror or str(error))
    return InfoCliError(f"cannot be written ({reason})", path="stdout", hint="Pass --output PATH")


def _reserve_descriptors() -> None:
    """Give closed descriptors 0-2 /dev/null, so that no file opened later takes their number.

    A closed stdout gets /dev/null read-only: writing it still fails (EBADF), as before.
    """
    for fd, mode in ((0, os.O_RDONLY), (1, os.O_RDONLY), (2, os.O_WRONLY)):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, mode)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def _wrap(stream: io.TextIOBase | None, fd: int, strict: bool) -> io.TextIOWrapper:
    """A text stream on ``fd`` like ``stream`` (Python's own, or None where it found the
    descriptor closed), escaping what its encoding cannot show."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    errors = getattr(stream, "errors", "strict")
    raw = _Descriptor(fd, strict)
    return io.TextIOWrapper(
        io.BufferedWriter(raw),
        encoding=encoding,
        errors="backslashreplace" if errors == "strict" else errors,
        line_buffering=fd == 2 or raw.isatty(),
    )


def setup() -> None:
    """Make the standard streams and warnings safe for the rest of the process.

    Called once by the console-script entry point, before any command runs; never by
    the library, which leaves a host program's streams alone.
    """
    _reserve_descriptors()
    sys.stdout = _wrap(sys.stdout, 1, strict=True)
    sys.stderr = _wrap(sys.stderr, 2, strict=False)
    if not sys.warnoptions:  # -W or PYTHONWARNINGS still shows them, for debugging
        warnings.simplefilter("ignore")


def say(line: str) -> None:
    """Write one line to stderr; a closed or broken stderr loses the line, not the run.

    Args:
        line: The text, without its newline.
    """
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):  # None, unwritable, or closed
        pass


def stderr_is_terminal() -> bool:
    """Whether stderr is a terminal (False when it is closed).

    Returns:
        True for a terminal.
    """
    try:
        return sys.stderr.isatty()
    except (AttributeError, OSError, ValueError):
        return False
