"""Regenerate the sample files in this folder, deterministically (fixed seed).

    python sample_data/generate.py [FOLDER]

A toy 5-class classifier (about 70% accurate) on 1,000 examples, written in every input
form infocli reads: probabilities as Parquet with labels as Parquet; logits as .npy with
labels as .npy; probabilities as CSV with class-name labels; a binary classifier's scores
with the labels in the same CSV; and a teacher/student pair of distributions for
distillation.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

N_ROWS = 1_000
CLASSES = ["cat", "dog", "bird", "fish", "frog"]
SEED = 20261129


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def main(folder: Path) -> None:
    """Write every sample file into ``folder``."""
    rng = np.random.default_rng(SEED)
    n_classes = len(CLASSES)
    labels = rng.integers(0, n_classes, N_ROWS)
    # Logits: noise plus a bump on the true class, so the model is right about 70% of the time.
    logits = rng.normal(0.0, 1.0, (N_ROWS, n_classes)) + 1.8 * np.eye(n_classes)[labels]
    logits = logits.astype(np.float32)
    probs = _softmax(logits.astype(np.float64))

    table = pa.table({name: probs[:, i] for i, name in enumerate(CLASSES)})
    pq.write_table(table, folder / "probs.parquet")
    pq.write_table(pa.table({"label": labels}), folder / "labels.parquet")

    np.save(folder / "logits.npy", logits)
    np.save(folder / "labels.npy", labels)

    names = np.array(CLASSES)[labels]
    pcsv.write_csv(table, folder / "probs.csv")
    pcsv.write_csv(pa.table({"label": names}), folder / "labels_names.csv")

    # Binary: a spam filter's probability of spam, with the label in the same file.
    spam = rng.integers(0, 2, N_ROWS)
    score = 1 / (1 + np.exp(-(rng.normal(0.0, 1.0, N_ROWS) + 2.0 * (spam - 0.5) * 2)))
    pcsv.write_csv(pa.table({"p_spam": np.round(score, 6), "label": spam}), folder / "binary.csv")

    # Distillation: a sharper teacher and a student that roughly agrees with it.
    teacher = _softmax(1.5 * logits.astype(np.float64))
    student = _softmax(logits.astype(np.float64) + rng.normal(0.0, 0.5, logits.shape))
    pq.write_table(
        pa.table({name: teacher[:, i] for i, name in enumerate(CLASSES)}), folder / "teacher.parquet"
    )
    pq.write_table(
        pa.table({name: student[:, i] for i, name in enumerate(CLASSES)}), folder / "student.parquet"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
