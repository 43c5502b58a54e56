"""Time infocli against a floor and the naive pandas/scikit-learn/SciPy way, side by side.

    python benchmarks/run.py [--scale S] [--only W1,W3] [--repeats N] [--out PATH]
                             [--data FOLDER] [--memory-growth] [--quick]

For each workload the three contenders run as whole processes (start-up included),
interleaved round by round (floor, naive, infocli, floor, naive, infocli, ...); the table
gives the median wall time and the median peak RSS of each. Every round checks that the
naive script and infocli agree on every metric (relative 1e-5) and that the floor read
every row; any disagreement or failed process stops the run with exit code 1.

W1-W4 time ``infocli eval`` against targets (the main table); X1 and X2 time it on wide
tables (20 rows x 40,000 columns, as Parquet and CSV), and T1 times ``infocli
perplexity`` on a language model's per-token log-probabilities, each reported in a table
of its own beside pyarrow's bare read, without targets; L1 times ``infocli latent-kl`` on
a VAE's means and log-variances against its own target over the floor. On X1 and X2 a contender runs no
more rounds once its runs have taken the workload's time budget.

``--quick`` is the smoke test of the harness (tiny files, one round): it checks values,
never times, and writes its table to a temporary folder unless ``--out`` says otherwise.

The harness itself never imports NumPy or pandas and generates the files in a
subprocess: on Linux a child's ``ru_maxrss`` is at least the parent's peak RSS at the
time of the exec, so a big harness would inflate the children's numbers.
"""

from __future__ import annotations

import argparse
import compileall
import datetime
import hashlib
import json
import math
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata, util
from pathlib import Path

from workloads import DEFAULT_DATA_DIR, MANIFEST, WORKLOADS, Workload, select

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_OUT = REPO / "BENCHMARKS.md"
COMPARE_RESULTS = HERE / "compare_results.md"
QUICK_SCALE = 0.002
REL_TOL = 1e-5
SUM_TOL = 1e-3
HEAVY_MODULES = ("numpy", "pyarrow", "pandas")
RUN_TIMEOUT = 900.0
"""Seconds after which a run is stopped and the benchmark fails, so that a hung process
cannot hang the harness (the slowest run, infocli on X1 today, takes about 80 s)."""
CONTENDERS = ("floor", "naive", "infocli")

LATENT_OVER_FLOOR = 1.2
"""The target of ``latent-kl`` workloads: infocli's median time over the floor's, at most."""

# Runs the CLI's main() in-process and, as the process exits, lists the heavy modules it
# imported (main() ends the process itself, after running the exit handlers).
IMPORT_PROBE = f"""
import atexit, sys
sys.argv = ["infocli", *sys.argv[1:]]
atexit.register(lambda: print("HEAVY_MODULES=" + ",".join(m for m in {HEAVY_MODULES!r} if m in sys.modules)))
from infocli.cli import main
main()
"""


class BenchmarkError(Exception):
    """A contender failed, or the contenders disagree."""


@dataclass(frozen=True)
class Run:
    """One process: its wall time, CPU time (user + system), peak RSS, bytes read from disk
    (not the page cache) and output."""

    seconds: float
    cpu_seconds: float
    peak_mib: float
    disk_mib: float
    stdout: str

    def describe(self) -> str:
        """``0.64 s (0.95 CPU-s) / 166 MiB``, and what was read from disk if 1 MiB or more."""
        text = f"{self.seconds:.2f} s ({self.cpu_seconds:.2f} CPU-s) / {self.peak_mib:.0f} MiB"
        return text + (f" / {self.disk_mib:.0f} MiB from disk" if self.disk_mib >= 1 else "")


def infocli_command() -> list[str]:
    """The ``infocli`` script of this interpreter, or ``python -m infocli`` without one.

    The script is taken from this interpreter's scripts folder, not from ``PATH``: the
    floor and the naive script run on this interpreter, and ``PATH`` may first name
    another installation's infocli, or a wrapper such as a pyenv shim, which costs a
    shell and about 65 ms before Python starts.
    """
    script = shutil.which("infocli", path=sysconfig.get_path("scripts"))
    return [script] if script else [sys.executable, "-m", "infocli"]


def measure(cmd: list[str], timeout: float = RUN_TIMEOUT) -> Run:
    """Run a command to completion: wall time, and CPU time, peak RSS and disk reads of that
    child process only.

    Raises:
        BenchmarkError: The command exited with a non-zero status, or was stopped after
            ``timeout`` seconds.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(cmd, stdout=out, stderr=err)
        killer = threading.Timer(timeout, process.kill)
        killer.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        killer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if seconds >= timeout:
        raise BenchmarkError(f"{shlex.join(cmd)} did not finish within {timeout:g} s")
    if process.returncode != 0:
        raise BenchmarkError(f"{shlex.join(cmd)} exited with {process.returncode}:\n{stderr}")
    cpu = usage.ru_utime + usage.ru_stime
    # On Linux ru_maxrss is in KiB and ru_inblock in 512-byte blocks read from disk.
    return Run(seconds, cpu, usage.ru_maxrss / 1024, usage.ru_inblock / 2048, stdout)


def interleaved(
    commands: dict[str, list[str]],
    repeats: int,
    check: Callable[[dict[str, Run]], None] | None = None,
    budget: float | None = None,
) -> dict[str, list[Run]]:
    """Run the commands round-robin, ``repeats`` rounds; ``check`` sees each round's runs.

    Args:
        commands: The command line of each contender, by name.
        repeats: The rounds.
        check: Called after each round with each contender's latest run.
        budget: Once a contender's runs have taken this many seconds in all, its remaining
            rounds are skipped (its latest run stands in for it in ``check``); None for
            every round.
    """
    runs: dict[str, list[Run]] = {name: [] for name in commands}
    latest: dict[str, Run] = {}
    for round_ in range(repeats):
        for name, cmd in commands.items():
            spent = sum(r.seconds for r in runs[name])
            if budget is not None and runs[name] and spent >= budget:
                continue
            latest[name] = run = measure(cmd)
            runs[name].append(run)
            print(f"  round {round_ + 1}/{repeats} {name}: {run.describe()}", flush=True)
            if budget is not None and round_ + 1 < repeats and spent + run.seconds >= budget:
                print(f"  {name}: over the budget of {budget:g} s, no more rounds", flush=True)
        if check:
            check(latest)
    return runs


def median_seconds(runs: list[Run]) -> float:
    """The median wall time."""
    return statistics.median(r.seconds for r in runs)


def median_mib(runs: list[Run]) -> float:
    """The median peak RSS."""
    return statistics.median(r.peak_mib for r in runs)


# ------------------------------------------------------------------------------ workloads


def contender_commands(w: Workload, folder: Path) -> dict[str, list[str]]:
    """The floor, naive and infocli command lines for a workload."""
    paths = [str(folder / name) for name in w.files]
    python = sys.executable
    return {
        "floor": [python, str(HERE / "floor.py"), *paths],
        "naive": [python, str(HERE / "naive.py"), w.command, *paths],
        "infocli": [*infocli_command(), *w.infocli_args(paths)],
    }


def check_agreement(w: Workload, latest: dict[str, Run]) -> None:
    """The naive metrics match infocli's, and the floor read every row of every file.

    Raises:
        BenchmarkError: A metric differs by more than :data:`REL_TOL` or is missing from
            either report (every one of the workload's ``agreed_metrics``, and every one the
            naive script prints), or a row count or a probability sum is off.
    """
    report = json.loads(latest["infocli"].stdout)
    mine, theirs = report["metrics"], json.loads(latest["naive"].stdout)
    problems = [
        f"{name}: naive {theirs.get(name)!r} vs infocli {mine.get(name)!r}"
        for name in dict.fromkeys([*w.agreed_metrics, *theirs])
        if theirs.get(name) is None
        or mine.get(name) is None  # infocli writes inf and nan as strings
        or not math.isclose(float(theirs[name]), float(mine[name]), rel_tol=REL_TOL)
    ]
    for read, is_probs in zip(json.loads(latest["floor"].stdout)["files"], w.sums_to_rows, strict=True):
        if read["rows"] != report[w.count_key]:
            problems.append(
                f"floor read {read['rows']} rows of {read['path']}, infocli {report[w.count_key]}"
            )
        if is_probs and not math.isclose(read["sum"], read["rows"], rel_tol=SUM_TOL):
            problems.append(f"probabilities in {read['path']} sum to {read['sum']} over {read['rows']} rows")
    if problems:
        raise BenchmarkError(f"{w.name}: the contenders disagree:\n  " + "\n  ".join(problems))


@dataclass
class WorkloadResult:
    """A workload's size and files, and its runs by contender."""

    workload: Workload
    shape: str
    sizes: dict[str, int]
    runs: dict[str, list[Run]]

    def seconds(self, name: str) -> float:
        """Median wall time of a contender."""
        return median_seconds(self.runs[name])

    def mib(self, name: str) -> float:
        """Median peak RSS of a contender."""
        return median_mib(self.runs[name])


def generate(folder: Path, scale: float, workloads: list[Workload]) -> dict:
    """Generate missing files in a subprocess (keeping the harness small); the manifest."""
    names = ",".join(w.name for w in workloads)
    cmd = [sys.executable, str(HERE / "generate.py"), str(folder), "--scale", repr(scale), "--only", names]
    subprocess.run(cmd, check=True)
    return json.loads((folder / MANIFEST).read_text())


def warm(paths: Iterable[Path]) -> None:
    """Read each file once, so that the timed runs find it in the page cache rather than
    the first contender of the first round reading it from disk."""
    buffer = bytearray(1 << 20)  # small: the children's peak RSS counts the harness's
    for path in paths:
        with open(path, "rb", buffering=0) as file:
            while file.readinto(buffer):
                pass


def bench_workload(w: Workload, folder: Path, manifest: dict, scale: float, repeats: int) -> WorkloadResult:
    """Time the three contenders on a workload, checking agreement every round."""
    print(f"{w.name}: {w.describe()}", flush=True)
    warm(folder / name for name in w.files)
    commands = contender_commands(w, folder)
    runs = interleaved(commands, repeats, lambda latest: check_agreement(w, latest), w.budget_seconds)
    return WorkloadResult(w, w.shape(scale), manifest[w.name]["files"], runs)


# ------------------------------------------------------------------------- start-up, memory


@dataclass
class Startup:
    """``infocli --version`` against ``import typer``, and the heavy imports of the CLI."""

    runs: dict[str, list[Run]]
    heavy: dict[str, str]


def bench_startup(repeats: int) -> Startup:
    """Time ``infocli --version`` and ``python -c "import typer"``, interleaved; probe imports."""
    print("start-up", flush=True)
    commands = {
        "infocli --version": [*infocli_command(), "--version"],
        "python -c 'import typer'": [sys.executable, "-c", "import typer"],
    }
    runs = interleaved(commands, repeats)
    heavy = {}
    for flag in ("--version", "--help"):
        output = measure([sys.executable, "-c", IMPORT_PROBE, flag]).stdout
        line = [x for x in output.splitlines() if x.startswith("HEAVY_MODULES=")][-1]
        heavy[f"infocli {flag}"] = line.partition("=")[2]
    return Startup(runs, heavy)


def bench_memory_growth(folder: Path, repeats: int) -> dict[str, list[Run]]:
    """Peak RSS of the floor and infocli on W1 and on W1 with twice the rows."""
    print("memory growth: W1 vs W1x2", flush=True)
    commands = {}
    for name in ("W1", "W1x2"):
        warm(folder / file for file in WORKLOADS[name].files)
        both = contender_commands(WORKLOADS[name], folder)
        commands[f"floor {name}"], commands[f"infocli {name}"] = both["floor"], both["infocli"]
    return interleaved(commands, repeats)


# -------------------------------------------------------------------------------- report


def machine() -> str:
    """One line about the machine and the software versions."""
    cpu = _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown CPU"
    ram_kib = _proc_field("/proc/meminfo", "MemTotal")
    ram = f"{int(ram_kib.split()[0]) / 2**20:.1f} GiB" if ram_kib else "? GiB"
    versions = ", ".join(
        f"{package} {metadata.version(package)}"
        for package in ("infocli", "numpy", "pyarrow", "pandas", "scipy", "scikit-learn")
    )
    return f"{cpu}, {os.cpu_count()} cores, {ram} RAM; Python {platform.python_version()}, {versions}"


def now() -> str:
    """The date and time, to the minute, and the load average."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{datetime.datetime.now().astimezone().isoformat(timespec='minutes')} (load average {load})"


def byte_compile_infocli() -> None:
    """Byte-compile the infocli package that runs, as ``pip install`` does.

    An installed infocli starts from compiled modules. An editable checkout run with
    ``PYTHONDONTWRITEBYTECODE`` set would compile every module from source on every run
    instead: 0.33 s against 0.22 s for ``infocli eval`` on a tiny .npy, measured here.
    """
    spec = util.find_spec("infocli")  # finds the package without importing it
    if spec and spec.origin:
        compileall.compile_dir(Path(spec.origin).parent, quiet=1)


def code_state() -> str:
    """The repository's commit and a digest of the infocli source that runs.

    infocli may be edited while the benchmark runs; comparing this at the start and at
    the end tells whether every round measured the same code.
    """
    spec = util.find_spec("infocli")  # finds the package without importing it
    digest = hashlib.sha256()
    if spec and spec.origin:
        package = Path(spec.origin).parent
        for path in sorted(package.rglob("*.py")):
            digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return f"{git_state()}, infocli source digest {digest.hexdigest()[:12]}"


def _proc_field(path: str, key: str) -> str | None:
    """The first ``key: value`` of a /proc file, or None."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    return next((line.partition(":")[2].strip() for line in lines if line.startswith(key)), None)


def git_state() -> str:
    """The repository's commit, and whether ``infocli/`` has uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "infocli"], capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"commit {commit}" + (" with uncommitted changes in infocli/" if dirty else "")


def _mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.1f}"


def _verdict(value: float, target: float, at_most: bool) -> str:
    met = value <= target if at_most else value >= target
    return f"{value:.2f} ({'≤' if at_most else '≥'} {target:g} {'✅' if met else '❌'})"


def _runs_note(runs: int, rounds: int) -> str:
    """`` (1 run)`` for a contender timed in fewer rounds than the others, else nothing."""
    return "" if runs == rounds else f" ({runs} run{'s' if runs > 1 else ''})"


def workload_row(r: WorkloadResult) -> tuple[str, int, int]:
    """A markdown table row for a workload, and how many of its targets were met (of how many).

    A workload without targets gets bare ratios and peak RSS (and 0 of 0 targets). A
    contender timed in fewer rounds than another (over a time budget) has its count of runs
    beside its time.
    """
    w, t = r.workload, r.workload.targets
    rounds = max(len(runs) for runs in r.runs.values())
    floor_s, naive_s, info_s = (r.seconds(name) for name in CONTENDERS)
    floor_mib, naive_mib, info_mib = (r.mib(name) for name in CONTENDERS)
    if t is None:
        ratios = [f"{info_s / floor_s:.2f}", f"{naive_s / info_s:.2f}"]
        mib_cell = f"{info_mib:,.0f}"
    else:
        ratios = [
            _verdict(info_s / floor_s, t.infocli_over_floor, True),
            _verdict(naive_s / info_s, t.naive_over_infocli, False),
        ]
        mib_limit = t.mib_limit(floor_mib)
        mib_cell = f"{info_mib:,.0f} (≤ {t.mib_text()} {'✅' if info_mib <= mib_limit else '❌'})"
    cells = [
        f"**{w.name}** {w.describe()}",
        r.shape,
        " + ".join(_mib(size) for size in r.sizes.values()),
        *(f"{r.seconds(name):.2f}" + _runs_note(len(r.runs[name]), rounds) for name in CONTENDERS),
        *ratios,
        f"{floor_mib:,.0f}",
        f"{naive_mib:,.0f}",
        mib_cell,
    ]
    met = sum("✅" in cell for cell in [*ratios, mib_cell])
    return "| " + " | ".join(cells) + " |", met, 0 if t is None else 3


def table(results: list[WorkloadResult], shape: str, files: str) -> list[str]:
    """The markdown lines of a table of workloads (none when there are no results).

    Args:
        results: The workloads, one row each.
        shape: The header of the size column.
        files: The header of the file-size column.
    """
    if not results:
        return []
    header = (
        f"| workload | {shape} | {files} | floor s | naive s | infocli s "
        "| infocli / floor | naive / infocli | floor MiB | naive MiB | infocli MiB |"
    )
    return [header, "|" + "---|" * header.count(" | ") + "---|", *(workload_row(r)[0] for r in results), ""]


@dataclass
class Session:
    """How the benchmark was run: settings, and the code and machine state at both ends."""

    repeats: int
    command: str
    quick: bool
    started: str
    code_at_start: str
    ended: str = ""
    code_at_end: str = ""

    def finish(self) -> None:
        """Record the end state, and warn when infocli changed during the run."""
        self.ended, self.code_at_end = now(), code_state()
        if self.code_changed:
            print(f"warning: infocli changed during the run: {self.code_changed}", file=sys.stderr)

    @property
    def code_changed(self) -> str:
        """Empty, or what changed in infocli's code between the start and the end."""
        if self.code_at_end and self.code_at_end != self.code_at_start:
            return f"{self.code_at_start} at the start, {self.code_at_end} at the end"
        return ""


def render(
    results: list[WorkloadResult], startup: Startup, growth: dict[str, list[Run]] | None, session: Session
) -> str:
    """The whole markdown report."""
    classifiers = [r for r in results if r.workload.command == "eval" and not r.workload.wide]
    wide = [r for r in results if r.workload.wide]
    budgets = " or ".join(
        sorted({f"{r.workload.budget_seconds:g} s" for r in wide if r.workload.budget_seconds})
    )
    language_models = [r for r in results if r.workload.command == "perplexity"]
    latents = [r for r in results if r.workload.command == "latent-kl"]
    met = [workload_row(r)[1:] for r in classifiers]
    lines = [
        "# Benchmarks",
        "",
        f"Median of {session.repeats} interleaved run(s) per contender, each a whole process (start-up "
        "included). Each workload's files are read once before its rounds, so that the runs "
        "find them in the page cache. Peak RSS is the child's `ru_maxrss`. The values of the "
        f"naive script and infocli agreed to {REL_TOL:g} (relative) in every run. Targets in "
        "parentheses (✅ met, ❌ not met). Peak RSS includes the pages of a file that a process "
        "memory-maps and reads (a .npy read through `np.load(mmap_mode='r')` counts whole). "
        "infocli's modules are byte-compiled first, as `pip install` does.",
        "",
        *(
            ["**Quick mode: tiny files, one round. The times and targets below mean nothing.**", ""]
            if session.quick
            else []
        ),
        *(
            [f"**Warning: infocli's code changed during the run** ({session.code_changed}).", ""]
            if session.code_changed
            else []
        ),
        *table(classifiers, "rows × classes", "file MiB (preds + labels)"),
        *([f"Targets met: {sum(m for m, _ in met)} of {sum(n for _, n in met)}.", ""] if classifiers else []),
        *(
            [
                "## Wide tables",
                "",
                "`infocli eval PREDS LABELS` on a few rows of many classes against pyarrow's bare "
                "read of the same files (the floor) and pandas. No targets: infocli's time should "
                "grow linearly with the columns, as the floor's does, so that infocli / floor stays "
                "near its value on the narrow workloads."
                + (
                    f" A contender whose runs on a workload have taken {budgets} in all runs no more "
                    "rounds: the number of runs is then given beside its median."
                    if budgets
                    else ""
                ),
                "",
                *table(wide, "rows × classes", "file MiB (preds + labels)"),
            ]
            if wide
            else []
        ),
        *(
            [
                "## Language models",
                "",
                "`infocli perplexity FILE --seq-col seq` against pyarrow's bare read of the same "
                "file (the floor) and pandas (`read_parquet`, then `groupby('seq')` sum and count). "
                "No targets: time and peak memory beside the floor.",
                "",
                *table(language_models, "tokens in sequences", "file MiB"),
            ]
            if language_models
            else []
        ),
        *(
            [
                "## Variational autoencoders",
                "",
                "`infocli latent-kl FILE` (means and log-variances, one column each per latent "
                "dimension) against pyarrow's bare read of the same file (the floor) and pandas "
                "(`read_parquet`, then the closed form in NumPy). Target: infocli / floor at most "
                f"{LATENT_OVER_FLOOR:g}.",
                "",
                *table(latents, "rows × dimensions", "file MiB"),
                *(
                    f"{r.workload.name}: infocli / floor "
                    + _verdict(r.seconds("infocli") / r.seconds("floor"), LATENT_OVER_FLOOR, True)
                    + "."
                    for r in latents
                ),
                "",
            ]
            if latents
            else []
        ),
        # The compare benchmark's section, written by benchmarks/compare.py and carried along.
        *([COMPARE_RESULTS.read_text()] if COMPARE_RESULTS.is_file() else []),
        "## Start-up",
        "",
        # No peak RSS here: these children are smaller than the harness, so theirs would read as its.
        "| command | median s |",
        "|---|---|",
        *(f"| `{name}` | {median_seconds(runs):.3f} |" for name, runs in startup.runs.items()),
        "",
        *(
            f"- `{name}` imports {', '.join(mods.split(',')) if mods else 'none'} of "
            f"{', '.join(HEAVY_MODULES)}."
            for name, mods in startup.heavy.items()
        ),
        "",
    ]
    if growth:
        lines += [
            "## Memory growth",
            "",
            "Peak RSS with twice the rows (W1x2 is W1 at 10,000,000 rows at scale 1): it should "
            "not grow, as memory is bounded by the chunk size.",
            "",
            "| contender | W1 MiB | W1x2 MiB | growth |",
            "|---|---|---|---|",
        ]
        for name in ("floor", "infocli"):
            one, two = median_mib(growth[f"{name} W1"]), median_mib(growth[f"{name} W1x2"])
            lines.append(f"| {name} | {one:,.0f} | {two:,.0f} | {two / one:.2f}× |")
        lines.append("")
    lines += [
        "## Raw runs",
        "",
        "Each run: wall time (CPU time, user + system, which exceeds the wall time while a "
        "process keeps both cores busy) / peak RSS, and what it read from disk rather than the "
        "page cache, if 1 MiB or more.",
        "",
        *(
            f"- {r.workload.name} {name}: " + ", ".join(run.describe() for run in r.runs[name])
            for r in results
            for name in CONTENDERS
        ),
        "",
        "## Machine and command",
        "",
        f"- {machine()}",
        f"- started {session.started}; {session.code_at_start}",
        f"- ended {session.ended}; {session.code_at_end}",
        f"- harness peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB "
        "(a child's peak reads at least this)",
        f"- `{session.command}`",
        "",
        # The measurements behind infocli's constants, kept by hand and carried into each report.
        (Path(__file__).parent / "why_these_defaults.md").read_text(),
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Options; ``--quick`` fills in a tiny scale, one round and a temporary output."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, help="row-count factor (default 1, or 0.002 with --quick)")
    parser.add_argument("--only", help="comma-separated workloads, e.g. W1,W3 or T1 (default: all)")
    parser.add_argument("--repeats", type=int, help="interleaved rounds (default 5, or 1 with --quick)")
    parser.add_argument("--out", type=Path, help=f"markdown report (default {DEFAULT_OUT})")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="folder of generated files")
    parser.add_argument("--memory-growth", action="store_true", help="also compare W1 with twice its rows")
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny files, one round")
    args = parser.parse_args(argv)
    args.scale = args.scale or (QUICK_SCALE if args.quick else 1.0)
    args.repeats = args.repeats or (1 if args.quick else 5)
    if not args.scale > 0 or args.repeats < 1:
        parser.error("--scale must be positive and --repeats at least 1")
    if args.quick and args.out is None:
        args.out = Path(tempfile.mkdtemp(prefix="infocli-bench-quick-")) / "BENCHMARKS.md"
    elif args.quick and args.out.resolve() == DEFAULT_OUT:
        parser.error(f"--quick never writes {DEFAULT_OUT}")
    args.out = args.out or DEFAULT_OUT
    return args


def main(argv: list[str] | None = None) -> int:
    """Generate, time, check and write the report; 1 when a contender fails or they disagree."""
    args = parse_args(argv)
    workloads = select(args.only)
    folder = args.data / f"scale-{args.scale:g}"
    to_generate = workloads + [WORKLOADS[n] for n in ("W1", "W1x2") if args.memory_growth]
    manifest = generate(folder, args.scale, list(dict.fromkeys(to_generate)))
    command = shlex.join(["python", *sys.argv] if argv is None else ["python", "benchmarks/run.py", *argv])
    session = Session(args.repeats, command, args.quick, now(), code_state())
    if not args.quick:
        byte_compile_infocli()
    try:
        results = [bench_workload(w, folder, manifest, args.scale, args.repeats) for w in workloads]
        startup = bench_startup(args.repeats)
        growth = bench_memory_growth(folder, args.repeats) if args.memory_growth else None
    except BenchmarkError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    session.finish()
    args.out.write_text(render(results, startup, growth, session))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
