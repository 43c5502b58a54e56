"""The one error type infocli raises for bad input, and the process exit codes."""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import IntEnum

_PARAM = re.compile("\ue000([a-z][a-z0-9_]*)\ue001")


def param(name: str) -> str:
    """A parameter's name inside a message or hint, shown in its caller's spelling.

    The core names its parameters (``param("tol")``); :func:`spell` shows them as the
    command line's flags (``--tol``) or, by default, as the parameter names themselves.

    Args:
        name: The parameter's name, as the Python API spells it.

    Returns:
        A marked name, for use in a message.
    """
    return f"\ue000{name}\ue001"


def spell(text: str, name: Callable[[str], str] | None = None) -> str:
    """Show every :func:`param` in ``text`` as ``name(parameter)`` (the name itself by default).

    Args:
        text: A message, hint or warning.
        name: Parameter name -> the caller's spelling (a flag).

    Returns:
        The text.
    """
    return _PARAM.sub(lambda m: name(m[1]) if name else m[1], text)


class ExitCode(IntEnum):
    """Process exit codes, documented in ``--help`` and the README."""

    OK = 0
    """The report was written and every gate passed."""
    GATE_FAILED = 1
    """The report was written and at least one ``--fail-if`` gate failed."""
    BAD_INPUT = 2
    """A usage error or bad input: no report was written."""


def shown(text: str) -> str:
    """A name as it can be shown on a terminal, escaped where it is not printable.

    Control characters (ANSI escapes, carriage returns, line breaks, other C0 and C1
    characters, DEL) and format characters are written as ``repr`` writes them (``\\x1b``,
    ``\\n``), and the undecodable bytes of a file name as the bytes (``\\xff``); every
    other character is kept as it is.

    Args:
        text: A file path, class name, sequence id, or a message that holds them.

    Returns:
        The text, one printable line.
    """
    if text.isprintable():
        return text
    # An undecodable byte of a file name (a surrogate escape) is shown as the byte, \xNN.
    return "".join(
        c if c.isprintable() else f"\\x{ord(c) - 0xDC00:02x}" if "\udc80" <= c <= "\udcff" else repr(c)[1:-1]
        for c in text
    )


class InfoCliError(Exception):
    """Bad input or a bad option: where it happened, what is wrong, and how to fix it.

    ``str()`` renders it on one line: ``path: row 17: message. hint``. ``row`` is the
    0-based data row; ``line`` is the 1-based line of a text file, used for syntax errors.

    Args:
        message: What is wrong, ideally "expected ..., got ...".
        path: The file as the user named it (``-`` for stdin), if the error is about a file.
        row: The first bad data row (0-based), if there is one.
        line: The first bad line of a text file (1-based), for syntax errors.
        hint: What to do about it.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        row: int | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.row = row
        self.line = line
        self.hint = hint

    def at(self, path: str | None = None, *, row_offset: int = 0) -> InfoCliError:
        """Return this error placed in a file, with its chunk-local row shifted by ``row_offset``.

        Args:
            path: The file the error belongs to; an existing path is kept.
            row_offset: Added to a row found inside a chunk to make it a row of the file.

        Returns:
            The same error, updated.
        """
        if self.path is None:
            self.path = path
        if self.row is not None:
            self.row += row_offset
        return self

    def render(self, name: Callable[[str], str] | None = None) -> str:
        """The one-line message, with parameters spelled by ``name`` (see :func:`spell`).

        Args:
            name: Parameter name -> the caller's spelling (the CLI's flags).

        Returns:
            ``path: row N: message. hint.``
        """
        where = [shown(self.path)] if self.path else []
        if self.line is not None:
            where.append(f"line {self.line}")
        elif self.row is not None:
            where.append(f"row {self.row}")
        text = self.message.rstrip(".") + "."
        if self.hint:
            text += " " + self.hint.rstrip(".") + "."
        # One line whatever the message carried (a CSV row, a pyarrow message); the path
        # is shown as it is, its spaces included.
        return ": ".join([*where, shown(" ".join(spell(text, name).split()))])

    def __str__(self) -> str:
        return self.render()
