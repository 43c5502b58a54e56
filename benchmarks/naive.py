"""The naive way: what users write today, with pandas, scikit-learn and SciPy.

    python benchmarks/naive.py PREDS LABELS

Reads both files whole (``pandas.read_parquet`` / ``read_csv``, ``np.load`` for .npy),
then: logits become probabilities through ``scipy.special.log_softmax``; against class
indices, the cross-entropy is ``sklearn.metrics.log_loss``; against a teacher's
probabilities (a LABELS file with one column per class), the KL divergence is the mean
row sum of ``scipy.special.rel_entr`` and the cross-entropy is KL plus the teacher's
entropy; the entropy of the predictions is ``scipy.stats.entropy``. Prints the metrics
(in nats) as JSON. Predictions are taken as logits when a value lies outside [0, 1].
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pandas as pd
from scipy.special import log_softmax, rel_entr
from scipy.stats import entropy
from sklearn.metrics import log_loss


def load(path: str) -> np.ndarray:
    """A whole file as an array: a matrix, or a vector for a one-column file."""
    if path.endswith(".npy"):
        return np.load(path)
    frame = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)
    values = frame.to_numpy()
    return values[:, 0] if values.shape[1] == 1 else values


def metrics(preds: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Entropy and cross-entropy (and KL and target entropy for soft targets), in nats."""
    if preds.min() < 0 or preds.max() > 1:
        preds = np.exp(log_softmax(preds, axis=1))
    out = {"entropy": float(np.mean(entropy(preds, axis=1)))}
    if labels.ndim == 1:
        out["cross_entropy"] = float(log_loss(labels, preds, labels=np.arange(preds.shape[1])))
    else:
        out["kl_divergence"] = float(np.mean(rel_entr(labels, preds).sum(axis=1)))
        out["target_entropy"] = float(np.mean(entropy(labels, axis=1)))
        out["cross_entropy"] = out["kl_divergence"] + out["target_entropy"]
    out["perplexity"] = math.exp(out["cross_entropy"])
    return out


def main(paths: list[str]) -> None:
    """Read both files and print the metrics as JSON."""
    if len(paths) != 2:
        raise SystemExit("usage: naive.py PREDS LABELS")
    print(json.dumps(metrics(load(paths[0]), load(paths[1]))))


if __name__ == "__main__":
    main(sys.argv[1:])
