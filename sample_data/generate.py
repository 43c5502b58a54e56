"""Regenerate the sample files in this folder, deterministically (fixed seed).

    python sample_data/generate.py [FOLDER]

A toy 5-class classifier (about 70% accurate) on 1,000 examples, written in every input
form infocli reads: probabilities as Parquet with labels as Parquet; logits as .npy with
labels as .npy; probabilities as CSV with class-name labels; a binary classifier's scores
with the labels in the same CSV; and a teacher/student pair of distributions for
distillation.

For distillation at a temperature: a teacher's and a student's logits
(``teacher_logits.parquet``, ``student_logits.parquet``).

For language models: per-token log-probabilities of 200 sequences with padding, a mask,
byte counts and word counts (``tokens.parquet``, and the log-probabilities alone as
``tokens.npy``); and a training run's checkpoints, as token files
(``checkpoints/lm_step_*.parquet``) and as a classifier's logits
(``checkpoints/clf_step_*.npy``, evaluated against ``labels.npy``).

A second classifier on the same rows (``probs_b.parquet``), to compare with the first; and
a training run's token files that score the same tokens at every step
(``checkpoints/lm_paired_step_*.parquet``), whose changes ``trend`` can test.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

N_ROWS = 1_000
N_SEQUENCES = 200
STEPS = (1000, 2000, 3000, 4000, 5000)
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


def _tokens(rng: np.random.Generator, skill: float) -> pa.Table:
    """Token rows of N_SEQUENCES sequences; ``skill`` scales the model's confidence.

    Each sequence ends in padding (mask false, log-probability missing); the word count
    of a sequence sits on its first row, with zeros on the others.
    """
    columns: dict[str, list[np.ndarray]] = {k: [] for k in ("seq", "logprob", "mask", "bytes", "words")}
    for seq in range(N_SEQUENCES):
        n_tokens, n_padding = int(rng.integers(20, 120)), int(rng.integers(0, 16))
        difficulty = rng.gamma(8.0, 1 / 8)  # some documents are harder than others
        nll = rng.gamma(1.2, 2.5 * difficulty / skill, n_tokens)
        n_bytes = rng.integers(1, 9, n_tokens)
        words = np.zeros(n_tokens + n_padding, dtype=np.int64)
        words[0] = max(1, int(n_bytes.sum() / 5.5))
        columns["seq"].append(np.full(n_tokens + n_padding, seq))
        columns["logprob"].append(np.concatenate([-nll, np.full(n_padding, np.nan)]))
        columns["mask"].append(np.arange(n_tokens + n_padding) < n_tokens)
        columns["bytes"].append(np.concatenate([n_bytes, np.zeros(n_padding, dtype=np.int64)]))
        columns["words"].append(words)
    return pa.table({k: np.concatenate(v) for k, v in columns.items()})


def language_models(folder: Path) -> None:
    """Write the token files and the checkpoints of a training run."""
    rng = np.random.default_rng(SEED + 1)
    tokens = _tokens(rng, skill=1.0)
    pq.write_table(tokens, folder / "tokens.parquet")
    logprob = tokens.column("logprob").to_numpy()
    np.save(folder / "tokens.npy", logprob[tokens.column("mask").to_numpy()])

    checkpoints = folder / "checkpoints"
    checkpoints.mkdir(exist_ok=True)
    labels = np.load(folder / "labels.npy")
    n_classes = len(CLASSES)
    # Learning, then a slight relapse at the last step.
    for step, skill in zip(STEPS, (0.55, 0.75, 0.9, 1.0, 0.92), strict=True):
        step_rng = np.random.default_rng(SEED + step)
        pq.write_table(_tokens(step_rng, skill), checkpoints / f"lm_step_{step}.parquet")
        signal = 2.2 * skill * np.eye(n_classes)[labels]
        logits = step_rng.normal(0.0, 1.0, (len(labels), n_classes)) + signal
        np.save(checkpoints / f"clf_step_{step}.npy", logits.astype(np.float32))


LATENT_SEED = 1312
"""The latent file's own seed, so that the other files stay as they were."""


def latent(folder: Path) -> None:
    """Write a VAE's saved encoder outputs: 2,000 examples x 16 latent dimensions, of which
    the last four have collapsed to the prior (means near 0, variances near 1)."""
    rng = np.random.default_rng(LATENT_SEED)
    n, d, collapsed = 2000, 16, 4
    used = d - collapsed
    spread = np.concatenate([np.linspace(1.5, 0.4, used), np.full(collapsed, 0.02)])
    mu = rng.normal(0.0, 1.0, (n, d)) * spread
    centre = np.concatenate([np.linspace(-3.0, -0.8, used), np.zeros(collapsed)])
    logvar = centre + rng.normal(0.0, 0.15, (n, d)) * np.concatenate([np.ones(used), np.full(collapsed, 0.1)])
    columns = {f"mu_{j}": mu[:, j].astype(np.float32) for j in range(d)}
    columns |= {f"logvar_{j}": logvar[:, j].astype(np.float32) for j in range(d)}
    pq.write_table(pa.table(columns), folder / "latent.parquet")
    # The same outputs as .npy: means and log-variances apart, and side by side.
    np.save(folder / "latent_mu.npy", mu.astype(np.float32))
    np.save(folder / "latent_logvar.npy", logvar.astype(np.float32))
    np.save(folder / "latent_split.npy", np.hstack([mu, logvar]).astype(np.float32))


SECOND_MODEL_SEED = 20261202
PAIRED_CHECKPOINTS_SEED = 20261203


def paired_checkpoints(folder: Path) -> None:
    """Write ``checkpoints/lm_paired_step_*.parquet``: a training run's token files that
    score the same tokens (the same sequences, lengths, padding and masks) at every step,
    as ``trend`` needs to test each change; a token's NLL at a step is its difficulty over
    the step's skill, with a little noise of its own."""
    rng = np.random.default_rng(PAIRED_CHECKPOINTS_SEED)
    tokens = _tokens(rng, skill=1.0)
    mask = tokens.column("mask").to_numpy()
    base_nll = -tokens.column("logprob").to_numpy()
    for step, skill in zip(STEPS, (0.55, 0.75, 0.9, 1.0, 0.92), strict=True):
        noise = np.exp(rng.normal(0.0, 0.15, len(base_nll)))
        logprob = np.where(mask, -base_nll * noise / skill, np.nan)
        table = tokens.set_column(tokens.schema.get_field_index("logprob"), "logprob", pa.array(logprob))
        pq.write_table(table, folder / "checkpoints" / f"lm_paired_step_{step}.parquet")


def second_model(folder: Path) -> None:
    """Write ``probs_b.parquet``: a second classifier on the same 1,000 rows, for
    ``infocli compare``. It is the first one made more confident, with noise and a small
    nudge towards the truth: clearly better on cross-entropy, about as accurate (the
    difference in accuracy is not significant)."""
    rng = np.random.default_rng(SECOND_MODEL_SEED)
    logits = np.load(folder / "logits.npy").astype(np.float64)
    labels = np.load(folder / "labels.npy")
    z = 1.2 * logits + rng.normal(0.0, 0.3, logits.shape) + 0.12 * np.eye(len(CLASSES))[labels]
    probs = _softmax(z)
    pq.write_table(
        pa.table({name: probs[:, i] for i, name in enumerate(CLASSES)}), folder / "probs_b.parquet"
    )


def distillation_logits(folder: Path) -> None:
    """Write a teacher's and a student's logits, for distillation at a temperature: the
    student follows the teacher with noise, less sure of itself."""
    rng = np.random.default_rng(SEED + 2)
    n_classes = len(CLASSES)
    labels = rng.integers(0, n_classes, N_ROWS)
    teacher = rng.normal(0.0, 1.5, (N_ROWS, n_classes)) + 3.0 * np.eye(n_classes)[labels]
    student = 0.7 * teacher + rng.normal(0.0, 0.8, teacher.shape)
    for name, logits in (("teacher", teacher), ("student", student)):
        values = logits.astype(np.float32)
        table = pa.table({c: values[:, i] for i, c in enumerate(CLASSES)})
        pq.write_table(table, folder / f"{name}_logits.parquet")


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
    main(out)
    language_models(out)
    second_model(out)
    paired_checkpoints(out)
    distillation_logits(out)
    latent(out)
