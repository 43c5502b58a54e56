"""torchmetrics' calibration errors on fixed cases, stored so that the tests compare against
torchmetrics without needing it (or torch) installed.

The inputs are made here with NumPy from fixed seeds. ``torch_calibration.json`` beside
this module holds what torchmetrics computed from them, with a digest of the inputs, so
that a changed case cannot be checked against stale numbers. To recompute it (torch and
torchmetrics needed):

    python tests/torch_calibration.py

torchmetrics bins ``[lower, upper)`` (``torch.bucketize(..., right=True)``), infocli
``(lower, upper]``: they agree unless a confidence lies on an inner bin edge; the
``edges`` case puts most of its confidences exactly there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from stored_numbers import inputs_digest, read_stored

STORED = Path(__file__).resolve().parent / "torch_calibration.json"
BINS = 15


def multiclass_case() -> tuple[np.ndarray, np.ndarray]:
    """(600, 6) float64 probabilities of an overconfident model, and (600,) labels."""
    rng = np.random.default_rng(17)
    n, c = 600, 6
    labels = rng.integers(0, c, n)
    z = rng.normal(size=(n, c)) * 1.5
    z[np.arange(n), labels] += rng.uniform(0, 3, n)
    z *= 2.0  # sharper than the data warrant
    q = np.exp(z - z.max(axis=1, keepdims=True))
    return q / q.sum(axis=1, keepdims=True), labels


def edges_case() -> tuple[np.ndarray, np.ndarray]:
    """(300, 2) float64 probabilities whose top confidence sits on an edge k / 15 for most rows."""
    rng = np.random.default_rng(18)
    n = 300
    k = rng.integers(8, 16, n)  # top confidences 8/15 .. 15/15 (1.0 included)
    top = np.linspace(0.0, 1.0, BINS + 1)[k]
    top[:40] = rng.uniform(0.5, 1.0, 40)  # and some off the edges
    first = rng.random(n) < 0.5
    q = np.where(first[:, None], np.stack([top, 1 - top], 1), np.stack([1 - top, top], 1))
    labels = np.where(rng.random(n) < top, np.where(first, 0, 1), np.where(first, 1, 0))
    return q, labels


def binary_case() -> tuple[np.ndarray, np.ndarray]:
    """(500,) float64 probabilities of class 1, and (500,) labels 0/1."""
    rng = np.random.default_rng(19)
    p = rng.beta(0.7, 0.9, 500)
    labels = (rng.random(500) < p**1.5).astype(np.int64)
    return p, labels


CASES = {"multiclass": multiclass_case, "edges": edges_case, "binary": binary_case}


def _digest() -> str:
    return inputs_digest(CASES.values())


def stored() -> dict[str, Any]:
    """torchmetrics' numbers for each case: ``l1`` (ECE), ``max`` (MCE) and ``l2`` (RMSCE).

    Raises:
        AssertionError: The stored numbers were computed from other inputs.
    """
    return read_stored(STORED, _digest(), __file__)


def compute() -> dict[str, Any]:
    """Compute the reference numbers with torchmetrics (float64 tensors)."""
    import torch
    import torchmetrics
    from torchmetrics.functional.classification import binary_calibration_error, multiclass_calibration_error

    out: dict[str, Any] = {
        "torch_version": torch.__version__,
        "torchmetrics_version": torchmetrics.__version__,
        "bins": BINS,
        "inputs_sha256": _digest(),
    }
    for name, case in CASES.items():
        preds, labels = map(torch.from_numpy, case())
        numbers = {}
        for norm in ("l1", "max", "l2"):
            if name == "binary":
                value = binary_calibration_error(preds, labels, n_bins=BINS, norm=norm)
            else:
                value = multiclass_calibration_error(
                    preds, labels, num_classes=preds.shape[1], n_bins=BINS, norm=norm
                )
            numbers[norm] = value.item()
        out[name] = numbers
    return out


if __name__ == "__main__":
    STORED.write_text(json.dumps(compute(), indent=2) + "\n")
    print(f"wrote {STORED}")
