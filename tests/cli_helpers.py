"""Run the CLI in-process and check what it printed, for the test modules that need plain
functions rather than fixtures (their own helpers call these)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from infocli.cli import app

RUNNER = CliRunner()


def invoke(*args: Any, input: str | bytes | None = None):
    """Run ``infocli *args`` with INFOCLI_FORMAT unset; the CliRunner result."""
    return RUNNER.invoke(app, [str(a) for a in args], input=input, env={"INFOCLI_FORMAT": None})


def run_json(*args: Any, input: str | bytes | None = None, code: int = 0) -> dict[str, Any]:
    """Run with ``--format json``; assert the exit code and return the strict JSON."""
    result = invoke(*args, "--format", "json", input=input)
    assert result.exit_code == code, (result.exit_code, result.stderr, result.exception)
    return json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))


def assert_bad_input(result, *words: str) -> str:
    """Exit 2, nothing on stdout, one ``infocli: error:`` line holding every word given
    (the file's path among them, where there is one); return the line."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith("infocli: error:"), line
    for word in words:
        assert word in line, (word, line)
    return line
