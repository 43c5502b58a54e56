"""Reference numbers computed once by a library that is not a test dependency (PyTorch,
torchmetrics) and stored beside the tests with a digest of their inputs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np


def inputs_digest(cases: Iterable[Callable[[], Iterable[np.ndarray]]]) -> str:
    """The SHA-256 of every array every case makes, in order."""
    h = hashlib.sha256()
    for case in cases:
        for array in case():
            h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def read_stored(path: Path, digest: str, script: str) -> dict[str, Any]:
    """The stored numbers, refused when they were computed from other inputs.

    Raises:
        AssertionError: The digest differs: ``python SCRIPT`` computes them again.
    """
    numbers = json.loads(path.read_text())
    assert numbers["inputs_sha256"] == digest, f"{path.name} is stale: run python {script}"
    return numbers
