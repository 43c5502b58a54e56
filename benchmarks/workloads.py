"""The benchmark workloads: what each one holds, where its files are, and its targets.

Pure Python (no NumPy), so that the timing harness stays a small process: on Linux a
child's peak RSS is at least the parent's peak at the time of the exec.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "infocli-bench"
"""Where the generated files go by default: outside the repository (they take about 2 GB)."""

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
    """One benchmark input: a predictions file and a labels (or soft targets) file.

    Attributes:
        name: ``W1`` ... ``W4`` (``W1x2`` for the memory-growth check).
        rows: Rows at scale 1.
        classes: Prediction columns.
        format: ``parquet``, ``npy`` or ``csv`` (both files).
        dtype: ``float32`` or ``float64`` prediction values.
        kind: ``probs`` or ``logits``.
        soft_targets: The second file holds a teacher's probabilities, not class indices.
        targets: The goals for infocli, or None (the memory-growth variant).
    """

    name: str
    rows: int
    classes: int
    format: str
    dtype: str
    kind: str
    soft_targets: bool
    targets: Targets | None

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
    def files(self) -> tuple[str, str]:
        """Both file names, predictions first."""
        return self.preds_file, self.labels_file

    def rows_at(self, scale: float) -> int:
        """Rows at a scale factor (at least 1)."""
        return max(1, round(self.rows * scale))

    def describe(self) -> str:
        """One line: the shape and the contents of the files."""
        second = f"{self.dtype} teacher probs" if self.soft_targets else "int64 labels"
        return f"{self.dtype} {self.kind} + {second}, {self.format}"


WORKLOADS = {
    w.name: w
    for w in (
        Workload("W1", 5_000_000, 10, "parquet", "float32", "probs", False, Targets(1.15, 10, 250)),
        Workload("W2", 200_000, 1_000, "npy", "float32", "logits", False, Targets(1.6, 15, 200)),
        Workload("W3", 1_000_000, 10, "csv", "float64", "probs", False, Targets(1.10, 2.5, 200)),
        Workload("W4", 1_000_000, 100, "parquet", "float32", "probs", True, Targets(1.25, 5, 100, True)),
        # The memory-growth check: W1 at twice the rows, generated only when asked for.
        Workload("W1x2", 10_000_000, 10, "parquet", "float32", "probs", False, None),
    )
}
"""Every workload by name, in table order."""

MAIN_WORKLOADS = ("W1", "W2", "W3", "W4")
"""The workloads of the main table."""


def select(only: str | None, default: tuple[str, ...] = MAIN_WORKLOADS) -> list[Workload]:
    """The workloads named in a comma-separated list (all of ``default`` when None).

    Raises:
        SystemExit: An unknown name.
    """
    names = [n.strip() for n in only.split(",") if n.strip()] if only else list(default)
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        raise SystemExit(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(WORKLOADS)}")
    return [WORKLOADS[n] for n in names]
