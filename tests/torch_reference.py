"""PyTorch's ``cross_entropy(..., ignore_index=-100)`` on two fixed cases, stored so that
the tests compare against PyTorch without needing it installed.

The inputs are made here with NumPy from fixed seeds. ``torch_cross_entropy.json`` beside
this module holds what PyTorch computed from them, with a digest of the inputs, so that
a changed case cannot be checked against stale numbers. To recompute it (torch needed):

    python tests/torch_reference.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from stored_numbers import inputs_digest, read_stored

IGNORE = -100
STORED = Path(__file__).resolve().parent / "torch_cross_entropy.json"


def eval_case() -> tuple[np.ndarray, np.ndarray]:
    """(80, 9) float64 logits and (80,) targets: 5 sequences of 16 tokens, right-padded
    with -100, and two ignored positions at the start."""
    rng = np.random.default_rng(7)
    batch, length, vocab = 5, 16, 9
    logits = rng.standard_normal((batch, length, vocab)) * 2
    target = rng.integers(0, vocab, (batch, length))
    for b, n in enumerate([16, 11, 4, 13, 7]):
        target[b, n:] = IGNORE
    target[0, :2] = IGNORE
    return logits.reshape(-1, vocab), target.reshape(-1)


def perplexity_case() -> tuple[np.ndarray, np.ndarray]:
    """(6, 24, 11) float64 logits and (6, 24) targets: right padding of -100 and two
    ignored positions inside sequences."""
    rng = np.random.default_rng(0)
    batch, length, vocab = 6, 24, 11
    logits = rng.standard_normal((batch, length, vocab)) * 2.5
    target = rng.integers(0, vocab, (batch, length))
    for b, n in enumerate([24, 20, 9, 17, 3, 12]):
        target[b, n:] = IGNORE
    target[1, 0] = target[3, 5] = IGNORE
    return logits, target


def _digest() -> str:
    return inputs_digest((eval_case, perplexity_case))


def stored() -> dict[str, Any]:
    """PyTorch's numbers for :func:`eval_case` and :func:`perplexity_case`.

    Raises:
        AssertionError: The stored numbers were computed from other inputs.
    """
    return read_stored(STORED, _digest(), __file__)


def compute() -> dict[str, Any]:
    """Compute the reference numbers with PyTorch."""
    import torch

    F = torch.nn.functional
    logits, target = map(torch.from_numpy, eval_case())
    per_token = F.cross_entropy(logits, target, ignore_index=IGNORE, reduction="none")
    used = per_token[target != IGNORE]
    eval_numbers = {
        "mean": F.cross_entropy(logits, target, ignore_index=IGNORE, reduction="mean").item(),
        "sum": F.cross_entropy(logits, target, ignore_index=IGNORE, reduction="sum").item(),
        "std_error": (used.std(correction=1) / math.sqrt(len(used))).item(),
    }
    logits, target = map(torch.from_numpy, perplexity_case())
    flat_logits, flat_target = logits.reshape(-1, logits.shape[-1]), target.reshape(-1)
    perplexity_numbers = {
        "mean": F.cross_entropy(flat_logits, flat_target, ignore_index=IGNORE, reduction="mean").item(),
        "sequence_perplexity": [
            math.exp(F.cross_entropy(logits[b], target[b], ignore_index=IGNORE, reduction="mean").item())
            for b in range(len(logits))
        ],
    }
    return {
        "torch_version": torch.__version__,
        "inputs_sha256": _digest(),
        "eval": eval_numbers,
        "perplexity": perplexity_numbers,
    }


if __name__ == "__main__":
    STORED.write_text(json.dumps(compute(), indent=2) + "\n")
    print(f"wrote {STORED}")
