"""PyTorch's KL between diagonal Gaussians on fixed cases, stored so that the tests compare
against PyTorch without needing it installed.

``torch.distributions.kl_divergence`` of ``Independent(Normal(mu, sigma), 1)`` pairs gives
the KL of each example, summed over its latent dimensions. The inputs are made here with
NumPy from fixed seeds; ``torch_latent.json`` beside this module holds what PyTorch computed
from them, with a digest of the inputs, so that a changed case cannot be checked against
stale numbers. To recompute it (torch needed):

    python tests/torch_latent.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from stored_numbers import inputs_digest, read_stored

STORED = Path(__file__).resolve().parent / "torch_latent.json"


def standard_case() -> tuple[np.ndarray, np.ndarray]:
    """(60, 9) float64 means and log-variances, against N(0, I); two dimensions near
    collapse (means near 0, variances near 1) and some wide and narrow ones."""
    rng = np.random.default_rng(18)
    mu = rng.standard_normal((60, 9)) * np.array([2, 1, 1, 0.5, 0.5, 0.3, 3, 1e-3, 1e-4])
    logvar = rng.standard_normal((60, 9)) * 0.8 + np.array([-3, -1, 0, 0.5, 1, 2, -6, 0, 0])
    logvar[:, 7:] *= 1e-4
    return mu, logvar


def prior_case() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(50, 6) float64 posterior and prior means and log-variances (a learned prior)."""
    rng = np.random.default_rng(1368)
    mu, prior_mu = rng.standard_normal((2, 50, 6)) * 1.5
    logvar, prior_logvar = rng.standard_normal((2, 50, 6)) * 1.2
    return mu, logvar, prior_mu, prior_logvar


def _digest() -> str:
    return inputs_digest((standard_case, prior_case))


def stored() -> dict[str, Any]:
    """PyTorch's per-example KL for :func:`standard_case` and :func:`prior_case`.

    Raises:
        AssertionError: The stored numbers were computed from other inputs.
    """
    return read_stored(STORED, _digest(), __file__)


def compute() -> dict[str, Any]:
    """Compute the reference numbers with PyTorch."""
    import torch
    from torch.distributions import Independent, Normal, kl_divergence

    def gaussian(mu: np.ndarray, logvar: np.ndarray) -> Any:
        return Independent(Normal(torch.from_numpy(mu), torch.from_numpy(np.exp(0.5 * logvar))), 1)

    mu, logvar = standard_case()
    standard = kl_divergence(gaussian(mu, logvar), gaussian(np.zeros_like(mu), np.zeros_like(mu)))
    mu, logvar, prior_mu, prior_logvar = prior_case()
    prior = kl_divergence(gaussian(mu, logvar), gaussian(prior_mu, prior_logvar))
    return {
        "torch_version": torch.__version__,
        "inputs_sha256": _digest(),
        "standard": standard.tolist(),
        "prior": prior.tolist(),
    }


if __name__ == "__main__":
    STORED.write_text(json.dumps(compute(), indent=2) + "\n")
    print(f"wrote {STORED}")
