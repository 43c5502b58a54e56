"""Process tuning, in one place, done by the console script only.

Importing infocli as a library (or in a worker process) changes nothing global: only
:func:`infocli.cli.main` calls :func:`prepare` and :func:`exit_now`. Why each setting
pays is measured in BENCHMARKS.md ("Why these defaults").
"""

from __future__ import annotations

import atexit
import os
import sys


def prepare() -> None:
    """Tune the process for streaming work; call before NumPy is imported.

    * One BLAS thread, unless the user chose otherwise (``OPENBLAS_NUM_THREADS``):
      infocli runs its own threads and makes no large BLAS calls.
    * glibc keeps freed chunk-sized arrays for reuse instead of returning them to the
      kernel, so the next chunk does not fault them back in page by page. A no-op where
      the C library is not glibc.
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: the most glibc allows
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def _observed() -> bool:
    """Whether a tracer, profiler or monitoring tool is attached (coverage, cProfile):
    such tools save their results as the interpreter shuts down."""
    if sys.gettrace() is not None or sys.getprofile() is not None:
        return True
    monitoring = getattr(sys, "monitoring", None)  # Python 3.12+, with tool ids 0 to 5
    return monitoring is not None and any(monitoring.get_tool(tool) for tool in range(6))


def exit_now(code: object) -> None:
    """End the process without tearing the interpreter down (freeing every NumPy and
    Arrow object costs tens of milliseconds), after the exit handlers and a flush.

    Python exits the usual way instead if a stream cannot be flushed (a closed pipe),
    or if a tracer or profiler is attached.

    Args:
        code: The exit code (or a message, which ends the usual way).

    Raises:
        SystemExit: For the usual way out.
    """
    if (code is not None and not isinstance(code, int)) or _observed():
        sys.exit(code)
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)
    os._exit(code or 0)
