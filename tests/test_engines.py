"""Issue 19, worker processes and a cluster: ``--jobs N`` and ``--engine dask`` give the
report ``--jobs 1`` gives, bit for bit, on real worker processes and a real
``dask.distributed.LocalCluster`` on 127.0.0.1; a failing shard, a dead worker and
Ctrl-C end the run with nothing written; Dask missing is a clear error.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from engine_tasks import AlwaysDies, DiesOnce
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infocli.engines import EngineOptions, scored_in_order
from infocli.errors import InfoCliError
from infocli.readers.dataset import Shard

from .conftest import REPO_ROOT, write_table
from cli_helpers import assert_bad_input, invoke, run_json

N_CLASSES = 4


def _rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, (n, N_CLASSES))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return probs, rng.integers(0, N_CLASSES, n)


def _write(
    folder: Path, probs: np.ndarray, labels: np.ndarray, cuts: list[int], fmt: str
) -> tuple[Path, Path]:
    """The rows cut at ``cuts`` into shards ``part-K`` of ``fmt`` under preds/ and labels/."""
    preds_dir, labels_dir = folder / "preds", folder / "labels"
    preds_dir.mkdir(parents=True)
    labels_dir.mkdir()
    bounds = [0, *cuts, len(labels)]
    for k, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
        if fmt == "npy":
            np.save(preds_dir / f"part-{k}.npy", probs[a:b])
            np.save(labels_dir / f"part-{k}.npy", labels[a:b])
        else:
            columns = {f"c{i}": probs[a:b, i] for i in range(N_CLASSES)}
            write_table(preds_dir / f"part-{k}.{fmt}", columns, fmt)
            write_table(labels_dir / f"part-{k}.{fmt}", {"label": labels[a:b]}, fmt)
    return preds_dir, labels_dir


def _tokens(folder: Path, cuts: list[int], n: int = 20_000) -> Path:
    """Token shards whose sequences run across the cuts."""
    rng = np.random.default_rng(7)
    seq = np.sort(rng.integers(0, 300, n))
    logprob = -rng.gamma(2.0, 1.0, n)
    folder.mkdir(parents=True)
    bounds = [0, *cuts, n]
    for k, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
        write_table(folder / f"part-{k}.parquet", {"seq": seq[a:b], "logprob": logprob[a:b]}, "parquet")
    return folder


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A real local Dask cluster of two worker processes on loopback: its scheduler's address."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    ) as local:
        yield local.scheduler_address


@pytest.mark.parametrize("fmt", ["parquet", "csv", "npy"])
def test_two_jobs_and_dask_give_the_one_job_report_bit_for_bit(
    tmp_path: Path, fmt: str, cluster: str
) -> None:
    probs, labels = _rows(3000, 1)
    preds_dir, labels_dir = _write(tmp_path, probs, labels, [700, 701, 1900, 2500], fmt)
    one = run_json("eval", preds_dir, labels_dir, "--jobs", "1")
    assert one["n_samples"] == 3000
    assert run_json("eval", preds_dir, labels_dir, "--jobs", "2") == one
    assert run_json("eval", preds_dir, labels_dir, "--engine", "dask", "--scheduler", cluster) == one


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(1, 599), min_size=1, max_size=6, unique=True).map(sorted))
def test_any_split_gives_the_one_job_report_on_two_jobs(
    tmp_path_factory: pytest.TempPathFactory, cuts: list[int]
) -> None:
    folder = tmp_path_factory.mktemp("split")
    probs, labels = _rows(600, 2)
    preds_dir, labels_dir = _write(folder, probs, labels, cuts, "parquet")
    state_1, state_2 = folder / "one.json", folder / "two.json"
    one = run_json("eval", preds_dir, labels_dir, "--save-state", state_1)
    assert run_json("eval", preds_dir, labels_dir, "--jobs", "2", "--save-state", state_2) == one
    assert state_1.read_bytes() == state_2.read_bytes()


def test_kinds_are_decided_once_from_the_first_shard(tmp_path: Path) -> None:
    """Logits in the first shard, and later shards whose rows alone would be detected as
    probabilities: every shard is read as the first one settled, as logits."""
    probs, labels = _rows(400, 3)
    scores = probs.copy()
    scores[:100] = np.log(probs[:100]) * 3.0  # logits
    preds_dir, labels_dir = _write(tmp_path, scores, labels, [100, 250], "parquet")
    logits = run_json("eval", preds_dir, labels_dir, "--kind", "logits")
    alone = run_json("eval", preds_dir / "part-1.parquet", labels_dir / "part-1.parquet")
    assert alone["predictions"]["kind"] == "probs"  # what the later shard alone would be read as
    auto = run_json("eval", preds_dir, labels_dir, "--jobs", "2")
    assert auto == run_json("eval", preds_dir, labels_dir)
    assert auto["metrics"] == logits["metrics"]
    assert auto["predictions"]["kind"] == "logits"


def test_perplexity_on_two_jobs_and_dask(tmp_path: Path, cluster: str) -> None:
    tokens = _tokens(tmp_path / "tokens", [3000, 3001, 12000])
    args = ("perplexity", tokens, "--seq-col", "seq", "--top", "3", "--chunk-rows", "100")
    one = run_json(*args)
    assert one["n_tokens"] == 20_000
    assert run_json(*args, "--jobs", "2") == one
    assert run_json(*args, "--engine", "dask", "--scheduler", cluster) == one


def test_a_failing_shard_fails_the_run_with_its_error_and_writes_nothing(
    tmp_path: Path, cluster: str
) -> None:
    probs, labels = _rows(1200, 4)
    labels[845] = N_CLASSES + 3  # shard part-2 (rows 800..) row 45
    preds_dir, labels_dir = _write(tmp_path, probs, labels, [400, 800], "parquet")
    out = tmp_path / "report.json"
    single = assert_bad_input(invoke("eval", preds_dir, labels_dir, "-o", out), "part-2.parquet", "row 45")
    assert assert_bad_input(invoke("eval", preds_dir, labels_dir, "--jobs", "2", "-o", out)) == single
    engine = ("--engine", "dask", "--scheduler", cluster)
    assert assert_bad_input(invoke("eval", preds_dir, labels_dir, *engine, "-o", out)) == single
    assert not out.exists()


def test_engine_options_are_checked_before_reading(tmp_path: Path) -> None:
    probs, labels = _rows(10, 5)
    preds_dir, labels_dir = _write(tmp_path, probs, labels, [5], "parquet")
    assert_bad_input(invoke("eval", preds_dir, labels_dir, "--jobs", "0"), "--jobs must be 1 or more, got 0")
    assert_bad_input(
        invoke("eval", preds_dir, labels_dir, "--scheduler", "tcp://127.0.0.1:8786"), "--engine dask"
    )


def _shards(n: int) -> list[Shard]:
    return [Shard(f"/nowhere/part-{k}.parquet", None, 0, f"part-{k}.parquet") for k in range(n)]


def test_a_dead_local_worker_is_named_and_the_run_fails() -> None:
    with pytest.raises(InfoCliError) as caught:
        list(scored_in_order(AlwaysDies("part-3.parquet"), _shards(6), EngineOptions(jobs=2)))
    message = str(caught.value)
    assert "worker process" in message and "SIGKILL" in message and "died" in message


def test_a_task_dask_retries_after_its_worker_died_is_counted_once(tmp_path: Path, cluster: str) -> None:
    marker = tmp_path / "killed"
    options = EngineOptions("dask", scheduler=cluster)
    results = list(scored_in_order(DiesOnce("part-2.parquet", str(marker)), _shards(5), options))
    assert marker.exists()  # the worker did die once
    assert [r.state["relative"] for r in results] == [f"part-{k}.parquet" for k in range(5)]
    assert str(os.getpid()) not in {str(r.state["pid"]) for r in results}


def test_a_dask_worker_that_keeps_dying_is_named() -> None:
    distributed = pytest.importorskip("distributed")
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with distributed.LocalCluster(
            n_workers=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as local:
            options = EngineOptions("dask", scheduler=local.scheduler_address)
            with pytest.raises(InfoCliError) as caught:
                list(scored_in_order(AlwaysDies("part-1.parquet"), _shards(3), options))
    message = str(caught.value)
    assert "part-1.parquet" in message and "Dask worker" in message and "tcp://127.0.0.1:" in message


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("INFOCLI_FORMAT", "PYTHONWARNINGS")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    return env


def test_without_dask_installed_the_error_gives_the_install_command(tmp_path: Path) -> None:
    probs, labels = _rows(10, 6)
    preds_dir, labels_dir = _write(tmp_path, probs, labels, [5], "parquet")
    script = (
        "import sys; sys.modules['distributed'] = None; sys.modules['dask'] = None; "
        "from infocli.cli import main; "
        f"sys.argv = ['infocli', 'eval', {str(preds_dir)!r}, {str(labels_dir)!r}, '--engine', 'dask']; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=_env(), timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr == (
        "infocli: error: --engine dask needs Dask's distributed scheduler, which is not installed. "
        'Install it with: pip install "infocli[dask]".\n'
    )


def test_ctrl_c_with_two_jobs_stops_every_worker_and_writes_nothing(tmp_path: Path) -> None:
    import psutil

    probs, labels = _rows(800_000, 8)
    preds_dir, labels_dir = _write(tmp_path, probs, labels, [k * 100_000 for k in range(1, 8)], "csv")
    out = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "infocli", "eval", preds_dir, labels_dir, "--jobs", "2", "-o", out]
    process = psutil.Popen(list(map(str, cmd)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    deadline = time.monotonic() + 60
    busy: list[psutil.Process] = []
    while time.monotonic() < deadline and process.poll() is None:  # until the workers score
        busy = [c for c in process.children(recursive=True) if c.cpu_times().user > 0.2]
        if busy:
            break
        time.sleep(0.02)
    assert busy and process.poll() is None, "the workers never started scoring"
    workers = process.children(recursive=True)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr.decode() == "infocli: interrupted\n"
    assert not out.exists()
    assert not list(tmp_path.glob(".infocli-*.tmp"))
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, alive


def test_progress_counts_shards_and_rows(tmp_path: Path) -> None:
    probs, labels = _rows(500, 9)
    preds_dir, labels_dir = _write(tmp_path, probs, labels, [100, 300], "parquet")
    from infocli.plan import EvalOptions
    from infocli.sharded import evaluate_sharded

    seen: list[tuple[int, int, int]] = []
    evaluate_sharded(
        str(preds_dir),
        str(labels_dir),
        EvalOptions(),
        EngineOptions(jobs=2),
        on_progress=lambda *a: seen.append(a),
    )
    assert seen == [(1, 3, 100), (2, 3, 300), (3, 3, 500)]


def test_the_readme_engine_commands_on_the_sharded_sample_data(tmp_path: Path) -> None:
    """The README's --jobs and --engine dask commands (a LocalCluster of infocli's own),
    on the copy sample_data/shard.py writes: the --jobs 1 report, bit for bit."""
    import runpy

    from .conftest import SAMPLE_DATA

    runpy.run_path(str(SAMPLE_DATA / "shard.py"), run_name="shard")["main"](tmp_path)
    dataset = (tmp_path / "preds", tmp_path / "labels")
    one = run_json("eval", *dataset)
    assert run_json("eval", *dataset, "--jobs", "2") == one
    assert run_json("eval", *dataset, "--engine", "dask") == one
    tokens = ("perplexity", tmp_path / "tokens", "--seq-col", "seq", "--mask-col", "mask")
    assert run_json(*tokens, "--jobs", "2") == run_json(*tokens)


def test_one_labels_file_against_the_shards_on_two_jobs(tmp_path: Path) -> None:
    """Each worker reads its own rows of a single labels file; rows beyond the shards'
    are refused as with --jobs 1."""
    probs, labels = _rows(900, 10)
    preds_dir, _ = _write(tmp_path, probs, labels, [200, 550], "parquet")
    write_table(tmp_path / "labels.csv", {"label": labels}, "csv")
    one = run_json("eval", preds_dir, tmp_path / "labels.csv")
    assert one["n_samples"] == 900
    assert run_json("eval", preds_dir, tmp_path / "labels.csv", "--jobs", "2") == one
    write_table(tmp_path / "long.csv", {"label": np.concatenate([labels, labels[:3]])}, "csv")
    single = assert_bad_input(invoke("eval", preds_dir, tmp_path / "long.csv"), "long.csv", "903")
    assert assert_bad_input(invoke("eval", preds_dir, tmp_path / "long.csv", "--jobs", "2")) == single
