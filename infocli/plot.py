"""The perplexity-by-step chart of ``infocli trend --plot`` (matplotlib, an optional extra)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from infocli.errors import InfoCliError
from infocli.outputs import open_atomically
from infocli.trend import TrendRow

FORMATS = (".png", ".svg")


def check_plot_path(path: str, option: str = "--plot") -> None:
    """Reject a chart path before any work: its extension, and matplotlib.

    Where it can be written is checked with the other outputs, by
    :func:`infocli.outputs.check_targets`.

    Args:
        path: Where the chart will be written.
        option: The flag that asked for it, for messages.

    Raises:
        InfoCliError: Not .png or .svg, or matplotlib not installed.
    """
    if not path.lower().endswith(FORMATS):
        raise InfoCliError(f"{option} needs a .png or .svg file name", path=path)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InfoCliError(
            f"{option} needs matplotlib, which is not installed",
            hint="Install it with: pip install 'infocli[plot]'",
        ) from None


def plot_trend(rows: Sequence[TrendRow], path: str, *, title: str = "Perplexity by checkpoint") -> None:
    """Draw perplexity against step, the best checkpoint marked, and write it whole or not at all.

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
    try:
        with open_atomically(path, option="--plot") as file:
            fig.savefig(file, format=os.path.splitext(path)[1].lower().lstrip("."))
    finally:
        plt.close(fig)


def plot_calibration(results: Any, path: str) -> None:
    """Draw the reliability diagram: accuracy per bin against the diagonal, the gap of each
    bin to its mean confidence, and a histogram of the rows per bin; written whole or not at all.

    Args:
        results: :class:`infocli.metrics.state.Results` with calibration.
        path: A .png or .svg file.
    """
    check_plot_path(path, option="--plot-calibration")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cal = results.calibration
    used = cal.count[0] > 0
    lower, upper = cal.lower[0][used], cal.upper[0][used]
    width, middle = upper - lower, (lower + upper) / 2
    accuracy, confidence, count = cal.accuracy[0][used], cal.mean_confidence[0][used], cal.count[0][used]
    target = "positive class" if results.binary else "top label"
    fig, (ax, hist) = plt.subplots(
        2, 1, figsize=(6.4, 7.6), dpi=150, sharex=True, height_ratios=(3, 1), layout="constrained"
    )
    ax.bar(middle, accuracy, width=width, color="tab:blue", alpha=0.8, edgecolor="white", linewidth=0.8,
           label="accuracy", zorder=2)  # fmt: skip
    # The gap, from each bin's accuracy to its mean confidence (hatched, so it shows over the bar too).
    ax.bar(middle, confidence - accuracy, bottom=accuracy, width=width, fill=False, hatch="////",
           edgecolor="tab:red", linewidth=1.0, label="gap to mean confidence", zorder=3)  # fmt: skip
    ax.hlines(confidence, lower, upper, colors="black", linewidth=1.6, label="mean confidence", zorder=4)
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.35", linewidth=1, label="perfect calibration", zorder=5)
    metrics = results.metrics
    summary = f"ECE {metrics['ece']:.4f}   MCE {metrics['mce']:.4f}   N {results.n_samples:,}"
    ax.legend(loc="upper left", fontsize=8, title=summary, title_fontsize=8, framealpha=0.95)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("accuracy" if not results.binary else "share of label 1")
    ax.set_title(f"Reliability diagram ({target}, {cal.bins} {cal.strategy} bins)")
    ax.grid(True, alpha=0.3)
    hist.bar(middle, count, width=width, color="0.55", edgecolor="white", linewidth=0.8)
    hist.set_title("rows per bin", fontsize=9, loc="left")
    hist.set_ylabel("rows")
    hist.set_xlabel("confidence" if not results.binary else "probability of class 1")
    hist.set_yscale("log" if count.max() > 50 * max(np.median(count), 1) else "linear")
    hist.grid(True, axis="y", alpha=0.3)
    try:
        with open_atomically(path, option="--plot-calibration") as file:
            fig.savefig(file, format=os.path.splitext(path)[1].lower().lstrip("."))
    finally:
        plt.close(fig)
