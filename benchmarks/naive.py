"""The naive way: what users write today, with pandas, scikit-learn and SciPy.

    python benchmarks/naive.py eval PREDS LABELS
    python benchmarks/naive.py perplexity TOKENS
    python benchmarks/naive.py latent-kl FILE

``eval`` reads both files whole (``pandas.read_parquet`` / ``read_csv``, ``np.load`` for
.npy), then: logits become probabilities through ``scipy.special.log_softmax``; against
class indices, the cross-entropy is ``sklearn.metrics.log_loss``; against a teacher's
probabilities (a LABELS file with one column per class), the KL divergence is the mean
row sum of ``scipy.special.rel_entr`` and the cross-entropy is KL plus the teacher's
entropy; the entropy of the predictions is ``scipy.stats.entropy``. Predictions are taken
as logits when a value lies outside [0, 1].

``perplexity`` reads the token file whole with pandas (columns ``seq`` and ``logprob``),
sums and counts the log-probabilities per sequence with ``groupby``, and gives the corpus
perplexity exp(-sum/count) and the mean and median of the per-sequence perplexities.

``latent-kl`` reads the latent file whole with pandas, takes the ``mu_`` and ``logvar_``
columns as float64 matrices, and writes the closed-form KL to N(0, I) out in NumPy.

Prints the metrics (in nats) as JSON, named as in infocli's report. SciPy and
scikit-learn are imported by ``eval`` only, as a user computing perplexity would not.
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pandas as pd


def read_frame(path: str) -> pd.DataFrame:
    """A whole Parquet or CSV file."""
    return pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)


def load(path: str) -> np.ndarray:
    """A whole file as an array: a matrix, or a vector for a one-column file."""
    if path.endswith(".npy"):
        return np.load(path)
    values = read_frame(path).to_numpy()
    return values[:, 0] if values.shape[1] == 1 else values


def metrics(preds: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Entropy and cross-entropy (and KL and target entropy for soft targets), in nats."""
    from scipy.special import log_softmax, rel_entr
    from scipy.stats import entropy
    from sklearn.metrics import log_loss

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


def perplexity(frame: pd.DataFrame) -> dict[str, float]:
    """Corpus perplexity and cross-entropy (nats), and the mean and median sequence perplexity."""
    per_seq = frame.groupby("seq")["logprob"].agg(["sum", "count"])
    total, count = float(per_seq["sum"].sum()), int(per_seq["count"].sum())
    sequence_perplexity = np.exp(-per_seq["sum"] / per_seq["count"])
    return {
        "cross_entropy": -total / count,
        "perplexity": math.exp(-total / count),
        "sequence_perplexity_mean": float(sequence_perplexity.mean()),
        "sequence_perplexity_median": float(sequence_perplexity.median()),
    }


def latent_kl(frame: pd.DataFrame) -> dict[str, float]:
    """The mean KL of N(mu, exp(logvar)) to N(0, I) per example (nats), the active units
    (variance of mu_d over rows above 0.01) and the collapsed ones (mean KL_d below 0.01)."""
    mu = frame.filter(regex="^mu_").to_numpy(np.float64)
    logvar = frame.filter(regex="^logvar_").to_numpy(np.float64)
    kl = 0.5 * (np.exp(logvar) + mu**2 - 1.0 - logvar)
    return {
        "kl_divergence": float(kl.sum(axis=1).mean()),
        "active_units": float((mu.var(axis=0, ddof=1) > 0.01).sum()),
        "collapsed_units": float((kl.mean(axis=0) < 0.01).sum()),
    }


def main(args: list[str]) -> None:
    """Read the files and print the metrics as JSON."""
    if len(args) == 3 and args[0] == "eval":
        result = metrics(load(args[1]), load(args[2]))
    elif len(args) == 2 and args[0] == "perplexity":
        result = perplexity(read_frame(args[1]))
    elif len(args) == 2 and args[0] == "latent-kl":
        result = latent_kl(read_frame(args[1]))
    else:
        raise SystemExit(
            "usage: naive.py eval PREDS LABELS | naive.py perplexity TOKENS | naive.py latent-kl FILE"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
