"""State files: save a run's state as JSON, load it back with every check, merge many.

A state file is data, never code: it is parsed as strict JSON and rebuilt field by field;
nothing in it is unpickled or evaluated.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from infocli.errors import InfoCliError, param
from infocli.metrics.latent import LatentState
from infocli.metrics.paired import CompareState
from infocli.metrics.state import FORMAT_VERSION, EvalState
from infocli.metrics.tokens import TokenState

State = EvalState | TokenState | CompareState | LatentState
"""A state of any command that saves one."""

KINDS: dict[str, type[EvalState] | type[TokenState] | type[CompareState] | type[LatentState]] = {
    "eval": EvalState,
    "perplexity": TokenState,
    "compare": CompareState,
    "latent-kl": LatentState,
}
"""The state class of each command that saves one."""


def state_text(state: State) -> str:
    """The state file's text: strict JSON, one object, ending in a newline.

    Args:
        state: The state.

    Returns:
        The text.
    """
    return json.dumps(state.to_dict(), indent=1, allow_nan=False) + "\n"


def _no_constant(name: str) -> Any:
    raise ValueError(f"bare {name} is not strict JSON")


def load_state(path: str) -> State:
    """Read a state file, refusing anything that is not a state this infocli can merge.

    Args:
        path: The file.

    Returns:
        The state.

    Raises:
        InfoCliError: Unreadable, truncated or non-JSON content; a report or another
            document instead of a state; a newer format version; an unknown command;
            impossible contents. The file is named.
    """
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        raise InfoCliError("no such file", path=path) from None
    except IsADirectoryError:
        raise InfoCliError("is a directory; expected a state file", path=path) from None
    except (OSError, UnicodeDecodeError) as error:
        raise InfoCliError(
            f"cannot be read ({getattr(error, 'strerror', None) or error})", path=path
        ) from None
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except ValueError as error:
        what = "is empty" if not text.strip() else f"is not a state file: not JSON, or truncated ({error})"
        raise InfoCliError(what, path=path, hint=f"Write state files with {param('save_state')}") from None
    if not isinstance(data, dict):
        raise InfoCliError("is not a state file: expected a JSON object", path=path)
    if "format_version" not in data:
        what = "a report" if "metrics" in data else "not a state file"
        raise InfoCliError(
            f"is {what}, not a state (it has no format_version)",
            path=path,
            hint=f"Save states with {param('save_state')}, and merge those",
        )
    version = data["format_version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InfoCliError(f"format_version {version!r} is not a version number", path=path)
    if version > FORMAT_VERSION:
        raise InfoCliError(
            f"format_version {version} is newer than this infocli reads ({FORMAT_VERSION})",
            path=path,
            hint="Upgrade infocli to merge it",
        )
    command = data.get("command")
    if command not in KINDS:
        raise InfoCliError(f"is a state of {command!r}; expected one of {', '.join(KINDS)}", path=path)
    try:
        return KINDS[command].from_dict(data)
    except InfoCliError as error:
        error.message = f"impossible state: {error.message}"
        raise error.at(path) from None
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise InfoCliError(f"impossible state: {error}", path=path) from None


def merge_states(states: Sequence[State], paths: Sequence[str]) -> State:
    """Fold states left to right into a new one (the first is not changed).

    The same states merged in the same order give the same bits.

    Args:
        states: At least one state, all of one command and one set of settings.
        paths: Their files, for messages.

    Returns:
        The merged state.

    Raises:
        InfoCliError: States of different commands or settings (the file and the first
            difference are named).
    """
    first = KINDS[states[0].command].from_dict(states[0].to_dict())
    for state, path in zip(states[1:], paths[1:], strict=True):
        if state.command != first.command:
            raise InfoCliError(
                f"is a state of {state.command}, but {paths[0]} is a state of {first.command}", path=path
            )
        try:
            first.merge(state)  # type: ignore[arg-type]
        except InfoCliError as error:
            error.message += f" ({paths[0]} against this one)"
            raise error.at(path) from None
    return first
