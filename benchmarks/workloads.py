"""The benchmark workloads: what each one holds, where its files are, and its targets.

``W1`` ... ``W4`` time ``infocli eval`` on a classifier's outputs and labels; ``X1`` and
``X2`` time it on wide tables (few rows, many classes); ``T1`` times ``infocli
perplexity`` on a language model's per-token log-probabilities; ``L1`` times ``infocli
latent-kl`` on a VAE's saved means and log-variances.

Pure Python (no NumPy), so that the timing harness stays a small process: on Linux a
child's peak RSS is at least the parent's peak at the time of the exec.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "infocli-bench"
"""Where the generated files go by default: outside the repository (they take about 3.6 GB)."""

MANIFEST = "manifest.json"
"""The file, in the data folder, recording what was generated at which scale."""


@dataclass(frozen=True)
class Targets:
    """What infocli should achieve on a workload (ratios are of median wall times).

    Attributes:
        infocli_over_floor: infocli's time divided by the floor's, at most.
        naive_over_infocli: The naive script's time divided by infocli's, at least.
        infocli_mib: infocli's peak RSS in MiB, at most (added to the floor's when
            ``mib_over_floor``).
        mib_over_floor: Whether ``infocli_mib`` is a margin over the floor's peak RSS.
    """

    infocli_over_floor: float
    naive_over_infocli: float
    infocli_mib: float
    mib_over_floor: bool = False

    def mib_limit(self, floor_mib: float) -> float:
        """infocli's peak RSS limit in MiB, given the floor's."""
        return self.infocli_mib + (floor_mib if self.mib_over_floor else 0.0)

    def mib_text(self) -> str:
        """The RSS target as written in the table."""
        return f"floor + {self.infocli_mib:g}" if self.mib_over_floor else f"{self.infocli_mib:g}"


@dataclass(frozen=True)
class Workload:
    """One benchmark input: a predictions file and a labels (or soft targets) file, or,
    for kind ``logprobs``, one file of per-token log-probabilities with sequence ids.

    Attributes:
        name: ``W1`` ... ``W4`` (``W1x2`` for the memory-growth check), ``X1``, ``X2``, ``T1``.
        rows: Rows at scale 1 (tokens, for ``logprobs``).
        classes: Prediction columns at scale 1 (1 for ``logprobs``).
        format: ``parquet``, ``npy`` or ``csv`` (every file).
        dtype: ``float32`` or ``float64`` prediction values.
        kind: ``probs`` or ``logits`` (timed with ``infocli eval``), ``logprobs``
            (timed with ``infocli perplexity``), or ``latent`` (means and log-variances,
            ``classes`` latent dimensions of each, timed with ``infocli latent-kl``).
        soft_targets: The second file holds a teacher's probabilities, not class indices.
        targets: The goals for infocli, or None (the memory-growth variant, and the
            workloads reported beside the floor without targets).
        sequences: Sequences at scale 1 (``logprobs`` only).
        wide: The scale multiplies the classes, not the rows: the workload shows how the
            time grows with the number of columns.
        budget_seconds: Once a contender's runs on the workload have taken this long in
            all, its remaining rounds are skipped (it runs at least once); None for every
            round.
    """

    name: str
    rows: int
    classes: int
    format: str
    dtype: str
    kind: str
    soft_targets: bool
    targets: Targets | None
    sequences: int = 0
    wide: bool = False
    budget_seconds: float | None = None

    @property
    def command(self) -> str:
        """The infocli command timed on the workload: ``eval`` or ``perplexity``."""
        return {"logprobs": "perplexity", "latent": "latent-kl"}.get(self.kind, "eval")

    @property
    def count_key(self) -> str:
        """The key of infocli's JSON report giving the rows it read."""
        return "n_tokens" if self.command == "perplexity" else "n_samples"

    @property
    def agreed_metrics(self) -> tuple[str, ...]:
        """The metrics the naive script and infocli must both report, and agree on."""
        if self.command == "perplexity":
            return ("cross_entropy", "perplexity", "sequence_perplexity_mean", "sequence_perplexity_median")
        if self.command == "latent-kl":
            return ("kl_divergence", "active_units", "collapsed_units")
        return ("entropy", "cross_entropy", "perplexity")

    @property
    def preds_file(self) -> str:
        """File name of the predictions."""
        stem = "student" if self.soft_targets else self.kind
        return f"{self.name.lower()}_{stem}.{self.format}"

    @property
    def labels_file(self) -> str:
        """File name of the labels (class indices) or the teacher's probabilities."""
        stem = "teacher" if self.soft_targets else "labels"
        return f"{self.name.lower()}_{stem}.{self.format}"

    @property
    def files(self) -> tuple[str, ...]:
        """The file names: predictions then labels, or the one token file."""
        if self.command == "perplexity":
            return (f"{self.name.lower()}_tokens.{self.format}",)
        if self.command == "latent-kl":
            return (f"{self.name.lower()}_latent.{self.format}",)
        return self.preds_file, self.labels_file

    @property
    def sums_to_rows(self) -> tuple[bool, ...]:
        """For each file, whether its values sum to 1 in every row (probabilities)."""
        if self.command in ("perplexity", "latent-kl"):
            return (False,)
        return self.kind == "probs", self.soft_targets

    def infocli_args(self, paths: list[str]) -> list[str]:
        """The arguments of ``infocli`` on the workload's files, with a JSON report."""
        options = ["--seq-col", "seq"] if self.command == "perplexity" else []
        return [self.command, *paths, *options, "--format", "json"]

    def rows_at(self, scale: float) -> int:
        """Rows at a scale factor (at least 1; a wide workload's rows do not scale)."""
        return self.rows if self.wide else max(1, round(self.rows * scale))

    def classes_at(self, scale: float) -> int:
        """Classes at a scale factor: those of scale 1, but for a wide workload (at least 2)."""
        return max(2, round(self.classes * scale)) if self.wide else self.classes

    def sequences_at(self, scale: float) -> int:
        """Sequences at a scale factor (at least 1, at most the rows; 0 without sequences)."""
        if not self.sequences:
            return 0
        return min(self.rows_at(scale), max(1, round(self.sequences * scale)))

    def shape(self, scale: float) -> str:
        """The size of the workload at a scale factor, for people."""
        if self.command == "perplexity":
            return f"{self.rows_at(scale):,} tokens in {self.sequences_at(scale):,} sequences"
        if self.command == "latent-kl":
            return f"{self.rows_at(scale):,} × {self.classes_at(scale):,} dimensions"
        return f"{self.rows_at(scale):,} × {self.classes_at(scale):,}"

    def describe(self) -> str:
        """One line: the shape and the contents of the files."""
        if self.command == "perplexity":
            return f"{self.dtype} log-probs + int64 sequence ids, {self.format}"
        if self.command == "latent-kl":
            return f"{self.dtype} means + log-variances, {self.format}"
        second = f"{self.dtype} teacher probs" if self.soft_targets else "int64 labels"
        return f"{self.dtype} {self.kind} + {second}, {self.format}"


WORKLOADS = {
    w.name: w
    for w in (
        Workload("W1", 5_000_000, 10, "parquet", "float32", "probs", False, Targets(1.15, 10, 250)),
        Workload("W2", 200_000, 1_000, "npy", "float32", "logits", False, Targets(1.6, 15, 200)),
        Workload("W3", 1_000_000, 10, "csv", "float64", "probs", False, Targets(1.10, 2.5, 200)),
        Workload("W4", 1_000_000, 100, "parquet", "float32", "probs", True, Targets(1.25, 5, 100, True)),
        # A second model on W1's rows and labels, for infocli compare (benchmarks/compare.py).
        Workload("W1b", 5_000_000, 10, "parquet", "float32", "probs", False, None),
        # The memory-growth check: W1 at twice the rows, generated only when asked for.
        Workload("W1x2", 10_000_000, 10, "parquet", "float32", "probs", False, None),
        # Wide tables, timed beside the floor without targets: the time should grow linearly
        # in the columns, as the floor's does. A slow contender runs fewer rounds.
        Workload("X1", 20, 40_000, "parquet", "float32", "probs", False, None, wide=True, budget_seconds=30),
        Workload("X2", 20, 40_000, "csv", "float32", "probs", False, None, wide=True, budget_seconds=30),
        # A language model's per-token log-probabilities: timed beside the floor, no targets.
        Workload("T1", 50_000_000, 1, "parquet", "float32", "logprobs", False, None, sequences=100_000),
        # A VAE's encoder outputs: timed beside the floor, against its own target (1.2x).
        Workload("L1", 1_000_000, 64, "parquet", "float32", "latent", False, None),
    )
}
"""Every workload by name, in table order."""

MAIN_WORKLOADS = ("W1", "W2", "W3", "W4")
"""The workloads of the main table."""

WIDE_WORKLOADS = ("X1", "X2")
"""The workloads of the wide-table section."""

DEFAULT_WORKLOADS = (*MAIN_WORKLOADS, *WIDE_WORKLOADS, "T1", "L1")
"""The workloads generated and timed when none are named."""


def select(only: str | None, default: tuple[str, ...] = DEFAULT_WORKLOADS) -> list[Workload]:
    """The workloads named in a comma-separated list (all of ``default`` when None).

    Raises:
        SystemExit: An unknown name.
    """
    names = [n.strip() for n in only.split(",") if n.strip()] if only else list(default)
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        raise SystemExit(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(WORKLOADS)}")
    return [WORKLOADS[n] for n in names]
