"""Time ``infocli`` on a workload with extra flags against plain ``infocli``, interleaved.

    python benchmarks/flag_cost.py W1 --variant calibration="--calibration" --repeats 9

Each variant is a name and the flags added to the workload's plain command line; every
round runs the plain command and each variant once, in turn, as whole processes. Prints
the median wall time of each, and each variant's ratio to the plain one (of medians), as
Markdown rows for BENCHMARKS.md. The files are those of ``benchmarks/run.py`` (generated
by it, or by ``benchmarks/generate.py``).
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import infocli_command, interleaved, median_seconds, warm  # noqa: E402
from workloads import DEFAULT_DATA_DIR, WORKLOADS  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print the rows."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", help="a workload of benchmarks/workloads.py, e.g. W1")
    parser.add_argument("--variant", action="append", required=True, metavar="NAME=FLAGS")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds (default 7)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR / "scale-1", help="folder of the files")
    args = parser.parse_args(argv)
    w = WORKLOADS[args.workload]
    paths = [str(args.data / name) for name in w.files]
    plain = [*infocli_command(), *w.infocli_args(paths)]
    commands = {"plain": plain}
    for spec in args.variant:
        name, _, flags = spec.partition("=")
        commands[name] = [*plain, *shlex.split(flags)]
    warm(Path(p) for p in paths)
    runs = interleaved(commands, args.repeats)
    base = median_seconds(runs["plain"])
    print(f"\n| {w.name} | median s | ratio to plain | runs (s) |\n|---|---|---|---|")
    for name, cmd in commands.items():
        seconds = median_seconds(runs[name])
        flags = shlex.join(cmd[len(plain) :]) or "(plain eval)"
        listed = ", ".join(f"{r.seconds:.2f}" for r in runs[name])
        print(f"| `{flags}` | {seconds:.3f} | {seconds / base:.3f} | {listed} |")
    spread = statistics.quantiles([r.seconds for r in runs["plain"]], n=4) if args.repeats >= 2 else []
    if spread:
        print(f"\nplain eval quartiles: {spread[0]:.3f} / {spread[2]:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
