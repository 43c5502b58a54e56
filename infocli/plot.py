"""The perplexity-by-step chart of ``infocli trend --plot`` (matplotlib, an optional extra)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from infocli.errors import InfoCliError
from infocli.interrupts import temporary_file
from infocli.trend import TrendRow

FORMATS = (".png", ".svg")


def check_plot_path(path: str) -> None:
    """Reject a chart path before any work: its extension, its folder, and matplotlib.

    Args:
        path: Where the chart will be written.

    Raises:
        InfoCliError: Not .png or .svg, a missing folder, or matplotlib not installed.
    """
    if not path.lower().endswith(FORMATS):
        raise InfoCliError("--plot needs a .png or .svg file name", path=path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InfoCliError(f"--plot folder {folder} does not exist", path=path)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InfoCliError(
            "--plot needs matplotlib, which is not installed",
            hint="Install it with: pip install 'infocli[plot]'",
        ) from None


def plot_trend(rows: Sequence[TrendRow], path: str, *, title: str = "Perplexity by checkpoint") -> None:
    """Draw perplexity against step, the best checkpoint marked, and write it atomically.

    Args:
        rows: The trend, in step order.
        path: A .png or .svg file.
        title: The chart title.
    """
    check_plot_path(path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r.checkpoint.step for r in rows]
    values = [r.checkpoint.perplexity for r in rows]
    errors = [r.checkpoint.perplexity_se for r in rows]
    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=150, layout="constrained")
    ax.errorbar(
        steps, values, yerr=errors, marker="o", markersize=4, capsize=3, color="tab:blue", label="perplexity"
    )
    for r in rows:
        if r.best:
            c = r.checkpoint
            ax.scatter(
                [c.step], [c.perplexity], s=160, facecolors="none", edgecolors="tab:green", linewidths=2
            )
            # The best point is the lowest: the space under it is free for its label.
            ax.annotate(
                f"best: {c.perplexity:.4g} at step {c.step:,}",
                (c.step, c.perplexity),
                textcoords="offset points",
                xytext=(0, -26),
                ha="center",
                va="top",
                color="tab:green",
            )
    finite = [v for v in values if v == v and v != float("inf")]
    if finite and min(finite) > 0 and max(finite) / min(finite) > 4:
        ax.set_yscale("log")  # early checkpoints would flatten the later ones
    ax.margins(x=0.08, y=0.2)
    ax.set_xlabel("step")
    ax.set_ylabel("perplexity (lower is better)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    folder = os.path.dirname(os.path.abspath(path))
    suffix = os.path.splitext(path)[1].lower()
    try:
        with temporary_file(prefix=".infocli-", suffix=suffix, dir=folder) as (fd, tmp):
            os.close(fd)
            fig.savefig(tmp)
            os.replace(tmp, path)
    finally:
        plt.close(fig)
