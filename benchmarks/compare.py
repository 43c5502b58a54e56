"""Time ``infocli compare`` of two W1-sized prediction files against one label file.

    python benchmarks/compare.py [--scale S] [--repeats N] [--data FOLDER] [--quick]

The baseline is W1 (5,000,000 x 10 float32 probabilities, Parquet), the candidate W1b (a
second model on W1's rows and labels), the labels W1's. Five contenders run as whole
processes, interleaved round by round: the floor (``floor.py`` reading the three files),
``infocli compare``, ``infocli compare --group-by`` over the 1,000 groups of
``w1_groups_1k.parquet`` (written by ``groups.py``), and ``infocli eval`` of each model
(the two evals a comparison from two reports would take). Every round checks that
compare's baseline and candidate cross-entropies are the evals', that the grouped
comparison's overall numbers are the plain one's and its groups hold every row, and that
the floor read every row.

The section is written to ``benchmarks/compare_results.md``, which ``run.py`` carries into
BENCHMARKS.md, and replaced in BENCHMARKS.md itself (``--quick``: a temporary folder only).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from run import (
    DEFAULT_OUT,
    HERE,
    QUICK_SCALE,
    BenchmarkError,
    byte_compile_infocli,
    code_state,
    generate,
    infocli_command,
    interleaved,
    machine,
    median_mib,
    median_seconds,
    now,
    warm,
)
from workloads import DEFAULT_DATA_DIR, WORKLOADS

TARGET = 1.15
"""compare's time over the floor's, at most."""

GROUPS_FILE = "w1_groups_1k.parquet"
"""W1's rows in 1,000 groups (``benchmarks/groups.py``), for ``compare --group-by``."""

MANY_GROUPS_FILE = "w1_groups_100k.parquet"
"""W1's rows in 100,000 groups, for ``compare --group-by`` at scale (its 160 MB report to a file)."""

MANY_GROUPS_REPORT = Path(tempfile.gettempdir()) / "infocli-compare-100k-groups.json"

SECTION = "## Comparing models"
RESULTS = HERE / "compare_results.md"


def commands(folder: Path) -> dict[str, list[str]]:
    """The contenders' command lines."""
    base, labels = (str(folder / name) for name in WORKLOADS["W1"].files)
    candidate = str(folder / WORKLOADS["W1b"].preds_file)
    infocli = infocli_command()
    compare = [*infocli, "compare", base, candidate, "--labels", labels, "--format", "json", "-q"]
    return {
        "floor": [sys.executable, str(HERE / "floor.py"), base, candidate, labels],
        "compare": compare,
        "compare --group-by": [*compare, "--groups", str(folder / GROUPS_FILE), "--group-by", "group"],
        "compare --group-by, 100,000 groups": [
            *compare,
            "--groups",
            str(folder / MANY_GROUPS_FILE),
            "--group-by",
            "group",
            "-o",
            str(MANY_GROUPS_REPORT),
        ],
        "eval baseline": [*infocli, "eval", base, labels, "--format", "json", "-q"],
        "eval candidate": [*infocli, "eval", candidate, labels, "--format", "json", "-q"],
    }


def check(latest: dict) -> None:
    """compare's two cross-entropies are the evals', and every file was read whole.

    Raises:
        BenchmarkError: Otherwise.
    """
    report = json.loads(latest["compare"].stdout)
    row = report["comparisons"][0]["metrics"]["cross_entropy"]
    problems = []
    for side in ("baseline", "candidate"):
        value = json.loads(latest[f"eval {side}"].stdout)["metrics"]["cross_entropy"]
        if not math.isclose(row[side], value, rel_tol=1e-9):
            problems.append(f"{side} cross-entropy: compare {row[side]!r} vs eval {value!r}")
    for read in json.loads(latest["floor"].stdout)["files"]:
        if read["rows"] != report["n_samples"]:
            problems.append(
                f"floor read {read['rows']} rows of {read['path']}, compare {report['n_samples']}"
            )
    grouped = json.loads(latest["compare --group-by"].stdout)
    for name, row in report["comparisons"][0]["metrics"].items():  # chunked otherwise: equal to rounding
        other = grouped["comparisons"][0]["metrics"][name]
        if not all(math.isclose(row[k], other[k], rel_tol=1e-9) for k in ("delta", "std_error")):
            problems.append(f"compare --group-by: overall {name} {other} vs compare's {row}")
    if sum(g["n_samples"] for g in grouped["groups"]) != report["n_samples"]:
        problems.append("compare --group-by: the groups do not hold every row")
    if problems:
        raise BenchmarkError("the contenders disagree:\n  " + "\n  ".join(problems))


def render(runs: dict, repeats: int, started: str, code: str, folder: Path, scale: float) -> str:
    """The markdown section."""
    w1 = WORKLOADS["W1"]
    mib = [(folder / name).stat().st_size / 2**20 for name in (*w1.files, WORKLOADS["W1b"].preds_file)]
    floor, compare = median_seconds(runs["floor"]), median_seconds(runs["compare"])
    grouped = median_seconds(runs["compare --group-by"])
    n_groups = len(json.loads(runs["compare --group-by"][-1].stdout)["groups"])
    many = json.loads(MANY_GROUPS_REPORT.read_text())  # the last round's
    if sum(g["n_samples"] for g in many["groups"]) != many["n_samples"]:
        raise BenchmarkError("compare --group-by, 100,000 groups: the groups do not hold every row")
    many_name = "compare --group-by, 100,000 groups"
    evals = statistics.median(
        a.seconds + b.seconds for a, b in zip(runs["eval baseline"], runs["eval candidate"], strict=True)
    )
    ratio = compare / floor

    def cpu(name: str) -> float:
        return statistics.median(r.cpu_seconds for r in runs[name])

    eval_cpu = statistics.median(
        a.cpu_seconds + b.cpu_seconds
        for a, b in zip(runs["eval baseline"], runs["eval candidate"], strict=True)
    )
    verdict = "✅" if ratio <= TARGET else "❌"
    lines = [
        SECTION,
        "",
        f"`infocli compare W1 W1b --labels W1-labels`: two {w1.shape(scale)} "
        f"float32 Parquet prediction files ({mib[0]:,.1f} and {mib[2]:,.1f} MiB) against one label file "
        f"({mib[1]:,.1f} MiB), beside the floor of reading the three "
        f"files and the two `infocli eval` runs that two reports would take. Median of {repeats} "
        "interleaved whole-process runs; the machine (2 cores) was shared with other work, so the "
        "times are noisy.",
        "",
        "| contender | median s | median CPU-s | median peak MiB |",
        "|---|---|---|---|",
        f"| floor (read the three files) | {floor:.2f} | {cpu('floor'):.2f} | {median_mib(runs['floor']):,.0f} |",
        f"| `infocli compare` | {compare:.2f} | {cpu('compare'):.2f} | {median_mib(runs['compare']):,.0f} |",
        f"| `infocli compare --group-by` ({n_groups:,} groups) | {grouped:.2f} | {cpu('compare --group-by'):.2f} | "
        f"{median_mib(runs['compare --group-by']):,.0f} |",
        f"| `infocli compare --group-by` ({len(many['groups']):,} groups, JSON to a file) | "
        f"{median_seconds(runs[many_name]):.2f} | {cpu(many_name):.2f} | {median_mib(runs[many_name]):,.0f} |",
        f"| two `infocli eval` runs (sum per round) | {evals:.2f} | {eval_cpu:.2f} | "
        f"{max(median_mib(runs['eval baseline']), median_mib(runs['eval candidate'])):,.0f} |",
        "",
        f"- compare / floor: {ratio:.2f} (target ≤ {TARGET:g} {verdict}); compare / two evals: "
        f"{compare / evals:.2f}. In CPU time (user + system, less sensitive to a loaded machine): "
        f"compare / floor {cpu('compare') / cpu('floor'):.2f}, compare / two evals {cpu('compare') / eval_cpu:.2f}.",
        "- What compare costs beyond reading: it validates and scores both models (the work of "
        "two evals, in one process) and adds, per row, KL(p ‖ q), the top-1 agreement, Δp, the "
        "paired differences and two sketches. On 2 cores that arithmetic runs beside the decoding "
        "of three files, which is why compare stays well above the floor (and eval alone is "
        "already above its own floor on W1).",
        f"- compare --group-by / compare: {grouped / compare:.2f} (median wall), "
        f"{cpu('compare --group-by') / cpu('compare'):.2f} (median CPU): a group code per row, and the "
        "rows added to their groups in file order (np.add.at of both models' values and their "
        "differences: 17 np.add.at passes a row, on the thread that merges the chunks); at the end one JSON "
        "object per group, written column by column; with 100,000 groups the report is "
        f"{MANY_GROUPS_REPORT.stat().st_size / 1e6:,.0f} MB of JSON.",
        "- Raw runs (wall s): "
        + "; ".join(f"{name} " + ", ".join(f"{r.seconds:.2f}" for r in rs) for name, rs in runs.items()),
        f"- {machine()}; started {started}; ended {now()}; {code}",
        "",
    ]
    return "\n".join(lines)


def replace_section(text: str, section: str) -> str:
    """BENCHMARKS.md with its compare section replaced, or inserted before the start-up one."""
    start = text.find(SECTION + "\n")
    if start >= 0:
        end = text.find("\n## ", start + len(SECTION))
        return text[:start] + section.rstrip("\n") + "\n" + (text[end:] if end >= 0 else "")
    anchor = text.find("## Start-up\n")
    return text[:anchor] + section + "\n" + text[anchor:] if anchor >= 0 else text + "\n" + section


def main(argv: list[str] | None = None) -> int:
    """Generate, time, check and write the section; 1 when a contender fails or they disagree."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, help="row-count factor (default 1, or 0.002 with --quick)")
    parser.add_argument("--repeats", type=int, help="interleaved rounds (default 9, or 1 with --quick)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="folder of generated files")
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny files, one round")
    args = parser.parse_args(argv)
    scale = args.scale or (QUICK_SCALE if args.quick else 1.0)
    repeats = args.repeats or (1 if args.quick else 9)
    folder = args.data / f"scale-{scale:g}"
    generate(folder, scale, [WORKLOADS["W1"], WORKLOADS["W1b"]])
    rows = WORKLOADS["W1"].rows_at(scale)
    subprocess.run(
        [
            sys.executable,
            str(HERE / "groups.py"),
            "--data",
            str(folder),
            "--write-groups",
            "--rows",
            str(rows),
        ],
        check=True,
    )
    warm([folder / n for n in (*WORKLOADS["W1"].files, WORKLOADS["W1b"].preds_file)])
    if not args.quick:
        byte_compile_infocli()
    started, code = now(), code_state()
    try:
        runs = interleaved(commands(folder), repeats, check)
    except BenchmarkError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    section = render(runs, repeats, started, code, folder, scale)
    if args.quick:
        out = Path(tempfile.mkdtemp(prefix="infocli-bench-compare-")) / "compare_results.md"
        out.write_text(section)
        print(f"wrote {out}")
        return 0
    RESULTS.write_text(section)
    DEFAULT_OUT.write_text(replace_section(DEFAULT_OUT.read_text(), section))
    print(f"wrote {RESULTS} and {DEFAULT_OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
