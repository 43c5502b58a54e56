"""The one error type infocli raises for bad input, and the process exit codes."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, documented in ``--help`` and the README."""

    OK = 0
    """The report was written and every gate passed."""
    GATE_FAILED = 1
    """The report was written and at least one ``--fail-if`` gate failed."""
    BAD_INPUT = 2
    """A usage error or bad input: no report was written."""


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

    def __str__(self) -> str:
        where = [part for part in (self.path,) if part]
        if self.line is not None:
            where.append(f"line {self.line}")
        elif self.row is not None:
            where.append(f"row {self.row}")
        text = self.message.rstrip(".") + "."
        if self.hint:
            text += " " + self.hint.rstrip(".") + "."
        text = ": ".join([*where, text])
        # One line whatever the message carried (a CSV row, a pyarrow message).
        text = " ".join(text.split())
        # A file name that is not UTF-8 holds surrogate escapes: shown as \xNN, printable anywhere.
        try:
            return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            return text.encode("utf-8", "backslashreplace").decode("utf-8")
