"""``compare`` and ``latent-kl`` on datasets of shards: any split of the files gives the
one-file report within 1e-12 relative; unpaired or unequal shards, and a corrupt shard
among good ones, are an exit 2 that names the shard; a dataset run's saved state merges.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infocli.compare import compare
from infocli.latent import LatentOptions, latent_kl
from infocli.plan import EvalOptions

from cli_helpers import assert_bad_input, invoke, run_json
from shard_files import write_shard

TEXT = ("csv", "csv.gz", "tsv", "jsonl", "jsonl.gz", "ndjson")
"""Formats whose shards need a row (pyarrow writes no header for an empty CSV, and an empty
JSON Lines file has no columns)."""


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    """Every leaf of a report, by its path."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _leaves(item, f"{path}.{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in _leaves(item, f"{path}[{i}]").items()}
    return {path: value}


def _assert_close(got: Any, want: Any) -> None:
    """The same leaves; every number within 1e-12 relative, everything else equal."""
    g, w = _leaves(got), _leaves(want)
    assert g.keys() == w.keys()
    for key, value in w.items():
        other = g[key]
        if isinstance(value, float) and isinstance(other, float):
            same = (math.isnan(value) and math.isnan(other)) or other == value
            assert same or abs(other - value) <= 1e-12 * max(abs(value), abs(other)), (key, other, value)
        else:
            assert other == value, (key, other, value)


def _points(cuts: list[float], n: int, least: int) -> list[int]:
    """Split points from fractions, each shard holding ``least`` rows at least."""
    points = sorted({int(c * n) for c in cuts})
    points = [p for p in points if least <= p <= n - least]
    return [p for i, p in enumerate(points) if not least or i == 0 or p > points[i - 1]]


def _cut(columns: dict[str, np.ndarray], points: list[int]) -> list[dict[str, np.ndarray]]:
    n = len(next(iter(columns.values())))
    edges = [0, *points, n]
    return [{name: v[a:b] for name, v in columns.items()} for a, b in zip(edges, edges[1:], strict=False)]


def _where(root: Path, layout: str, i: int) -> Path:
    """Shard ``i``'s path; every layout keeps shard order in natural order."""
    if layout == "nested":
        return root / f"g{i // 3}" / f"part-{i}"
    if layout == "hive":
        return root / f"split=s{i // 3}" / f"part-{i}"
    return root / f"part-{i}"


def _models(seed: int, n: int, k: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    a, b = rng.dirichlet(np.ones(k), n), rng.dirichlet(np.ones(k), n)
    columns = [f"c{j}" for j in range(k)]
    return (
        {c: a[:, j] for j, c in enumerate(columns)},
        {c: b[:, j] for j, c in enumerate(columns)},
        rng.integers(0, k, n),
    )


def _without_names(comparisons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A report's comparisons without the candidates' names (a dataset's and a file's differ)."""
    return [{k: v for k, v in c.items() if k != "candidate"} for c in comparisons]


def _compared(comparison: Any) -> dict[str, Any]:
    state = comparison.state
    return {"n": state.n_samples, "ignored": state.n_ignored, "candidates": state.compute("e")}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 40),
    k=st.integers(2, 4),
    cuts=st.lists(st.floats(0, 1), max_size=8),
    fmts=st.tuples(*[st.sampled_from(["parquet", "csv", "npy", "arrow-stream", "jsonl", "feather"])] * 3),
    layout=st.sampled_from(["flat", "nested", "hive"]),
    labels_mode=st.sampled_from(["paired", "single", "column"]),
)
def test_any_split_of_compared_files_gives_their_report(
    tmp_path_factory, seed, n, k, cuts, fmts, layout, labels_mode
):
    a, b, labels = _models(seed, n, k)
    root = tmp_path_factory.mktemp("compare")
    pq.write_table(pa.table({**a, "label": labels}), root / "a.parquet")
    pq.write_table(pa.table(b), root / "b.parquet")
    want = _compared(compare(str(root / "a.parquet"), [str(root / "b.parquet")], None, EvalOptions()))

    base_fmt, cand_fmt, label_fmt = fmts
    least = 1 if any(f in TEXT for f in fmts) else 0
    points = _points(cuts, n, least)
    base_columns = {**a, "label": labels} if labels_mode == "column" else a
    for i, (pa_, pb, pl) in enumerate(
        zip(_cut(base_columns, points), _cut(b, points), _cut({"label": labels}, points), strict=True)
    ):
        write_shard(_where(root / "base", layout, i), pa_, base_fmt)
        write_shard(_where(root / "cand", layout, i), pb, cand_fmt)
        if labels_mode == "paired":
            write_shard(_where(root / "labels", layout, i), pl, label_fmt)
    label_spec = {
        "paired": str(root / "labels"),
        "single": str(write_shard(root / "all_labels", {"label": labels}, label_fmt)),
        "column": None,
    }[labels_mode]
    got = compare(str(root / "base"), [str(root / "cand")], label_spec, EvalOptions())
    _assert_close(_compared(got), want)
    assert got.state.inputs[0]["baseline"]["path"] == str(root / "base")
    assert got.candidates == [str(root / "cand")]


def _latent(seed: int, n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1.5, (n, d)), rng.normal(-0.5, 1, (n, d))


def _latent_report(run: Any) -> dict[str, Any]:
    results = run.state.compute("e")
    return {"n": run.state.n_samples, "results": vars(results)}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 40),
    d=st.integers(1, 5),
    cuts=st.lists(st.floats(0, 1), max_size=8),
    form=st.sampled_from(["parquet", "parquet-lists", "csv", "jsonl-lists", "feather", "npy-scale"]),
    layout=st.sampled_from(["flat", "nested", "hive"]),
)
def test_any_split_of_an_encoder_file_gives_its_report(tmp_path_factory, seed, n, d, cuts, form, layout):
    mu, logvar = _latent(seed, n, d)
    root = tmp_path_factory.mktemp("latent")
    columns = {**{f"mu_{j}": mu[:, j] for j in range(d)}, **{f"logvar_{j}": logvar[:, j] for j in range(d)}}
    if form.endswith("-lists"):
        columns = {"mu": mu, "logvar": logvar}
    fmt = form.split("-")[0]
    options = LatentOptions()
    if form == "npy-scale":
        np.save(root / "mu.npy", mu)
        np.save(root / "logvar.npy", logvar)
        want = _latent_report(latent_kl(str(root / "mu.npy"), LatentOptions(scale=str(root / "logvar.npy"))))
    else:
        pq.write_table(
            pa.table({k: list(v) if v.ndim == 2 else v for k, v in columns.items()}), root / "one.parquet"
        )
        want = _latent_report(latent_kl(str(root / "one.parquet"), options))

    points = _points(cuts, n, 1 if fmt in TEXT else 0)
    edges = [0, *points, n]
    for i, (lo, hi) in enumerate(zip(edges, edges[1:], strict=False)):
        if form == "npy-scale":
            for name, array in (("means", mu), ("logvar", logvar)):
                path = _where(root / name, layout, i)
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path.with_suffix(".npy"), array[lo:hi])
        else:
            write_shard(_where(root / "shards", layout, i), {k: v[lo:hi] for k, v in columns.items()}, fmt)
    if form == "npy-scale":  # the scales' dataset's name says their parameterisation
        got = latent_kl(str(root / "means"), LatentOptions(scale=str(root / "logvar")))
    else:
        got = latent_kl(str(root / "shards"), options)
    _assert_close(_latent_report(got), want)


def _sharded_pair(tmp_path: Path) -> None:
    """Three shards of a baseline, a candidate and labels (10 rows each)."""
    a, b, labels = _models(5, 30, 3)
    for i, (pa_, pb, pl) in enumerate(
        zip(_cut(a, [10, 20]), _cut(b, [10, 20]), _cut({"label": labels}, [10, 20]), strict=True)
    ):
        write_shard(tmp_path / "a" / f"part-{i}", pa_, "parquet")
        write_shard(tmp_path / "b" / f"part-{i}", pb, "parquet")
        write_shard(tmp_path / "labels" / f"part-{i}", pl, "csv")


def test_compare_an_unpaired_candidate_shard_is_named_with_both_counts(tmp_path):
    _sharded_pair(tmp_path)
    (tmp_path / "b" / "part-1.parquet").rename(tmp_path / "b" / "part-7.parquet")
    result = invoke("compare", tmp_path / "a", tmp_path / "b", "--labels", tmp_path / "labels")
    assert_bad_input(result, "part-1.parquet", "no CANDIDATE shard", "has 3 shard(s)", " 3")


def test_compare_an_unpaired_labels_shard_is_named(tmp_path):
    _sharded_pair(tmp_path)
    write_shard(tmp_path / "labels" / "part-3", {"label": np.zeros(2, dtype=np.int64)}, "csv")
    result = invoke("compare", tmp_path / "a", tmp_path / "b", "--labels", tmp_path / "labels")
    assert_bad_input(result, "part-3.csv", "no BASELINE shard", "has 3 shard(s)", " 4")


@pytest.mark.parametrize("side", ["b", "labels"])
def test_compare_unequal_shards_name_the_shard_and_both_counts(tmp_path, side):
    _sharded_pair(tmp_path)
    if side == "b":
        write_shard(tmp_path / "b" / "part-2", _models(6, 9, 3)[1], "parquet")
    else:
        write_shard(tmp_path / "labels" / "part-2", {"label": np.zeros(9, dtype=np.int64)}, "csv")
    result = invoke("compare", tmp_path / "a", tmp_path / "b", "--labels", tmp_path / "labels")
    line = assert_bad_input(result, "part-2.", "9 rows", "10")
    assert "part-0" not in line and "part-1" not in line


def test_compare_a_single_labels_file_of_other_length_names_both_counts(tmp_path):
    _sharded_pair(tmp_path)
    np.save(tmp_path / "labels.npy", np.zeros(31, dtype=np.int64))
    result = invoke("compare", tmp_path / "a", tmp_path / "b", "--labels", tmp_path / "labels.npy")
    assert_bad_input(result, "labels.npy", "31 rows", "30")


def test_compare_a_candidate_file_against_a_baseline_dataset_is_refused(tmp_path):
    _sharded_pair(tmp_path)
    pq.write_table(pa.table(_models(5, 30, 3)[1]), tmp_path / "b.parquet")
    result = invoke("compare", tmp_path / "a", tmp_path / "b.parquet", "--labels", tmp_path / "labels")
    assert_bad_input(result, "b.parquet", "CANDIDATE is one file", "3 shard(s)")


def test_compare_a_corrupt_shard_among_good_ones_is_named(tmp_path):
    _sharded_pair(tmp_path)
    (tmp_path / "b" / "part-1.parquet").write_bytes(b"PAR1 not really a parquet file PAR1")
    result = invoke("compare", tmp_path / "a", tmp_path / "b", "--labels", tmp_path / "labels")
    line = assert_bad_input(result, "part-1.parquet")
    assert "part-0" not in line and "part-2" not in line


def test_compare_a_bad_label_names_the_shard_and_its_row(tmp_path):
    _sharded_pair(tmp_path)
    labels = np.zeros(10, dtype=np.int64)
    labels[4] = 7
    write_shard(tmp_path / "labels" / "part-2", {"label": labels}, "csv")
    result = invoke("compare", tmp_path / "a", tmp_path / "b", "--labels", tmp_path / "labels")
    line = assert_bad_input(result, "part-2.csv", "row 4")
    assert "row 24" not in line


def test_compare_a_dataset_run_saves_a_state_that_merges(tmp_path):
    _sharded_pair(tmp_path)
    a, b, labels = _models(5, 30, 3)
    direct = run_json("compare", tmp_path / "a", tmp_path / "b", "--labels", tmp_path / "labels")
    pq.write_table(pa.table({**a, "label": labels}), tmp_path / "a.parquet")
    pq.write_table(pa.table(b), tmp_path / "b.parquet")
    one = run_json("compare", tmp_path / "a.parquet", tmp_path / "b.parquet")
    _assert_close(_without_names(direct["comparisons"]), _without_names(one["comparisons"]))
    # The first two shards as one dataset run, the last as another; merged, the whole.
    for name in ("a", "b", "labels"):
        (tmp_path / f"{name}2").mkdir()
        moved = next((tmp_path / name).glob("part-2.*"))
        moved.rename(tmp_path / f"{name}2" / moved.name)
    for i, suffix in enumerate(("", "2")):
        run_json(
            "compare", tmp_path / f"a{suffix}", tmp_path / f"b{suffix}", "--labels", tmp_path / f"labels{suffix}",
            "--save-state", tmp_path / f"s{i}.json",
        )  # fmt: skip
    merged = run_json("merge", tmp_path / "s0.json", tmp_path / "s1.json")
    _assert_close(_without_names(merged["comparisons"]), _without_names(one["comparisons"]))
    saved = json.loads((tmp_path / "s0.json").read_text())
    assert saved["command"] == "compare"


def _latent_shards(tmp_path: Path, n: int = 30) -> tuple[np.ndarray, np.ndarray]:
    mu, logvar = _latent(8, n, 3)
    edges = [0, 10, 20, n]
    for i, (lo, hi) in enumerate(zip(edges, edges[1:], strict=False)):
        (tmp_path / "mu").mkdir(exist_ok=True)
        (tmp_path / "logvar").mkdir(exist_ok=True)
        np.save(tmp_path / "mu" / f"part-{i}.npy", mu[lo:hi])
        np.save(tmp_path / "logvar" / f"part-{i}.npy", logvar[lo:hi])
    return mu, logvar


def test_latent_an_unpaired_scale_shard_is_named_with_both_counts(tmp_path):
    _latent_shards(tmp_path)
    (tmp_path / "logvar" / "part-1.npy").rename(tmp_path / "logvar" / "part-5.npy")
    result = invoke("latent-kl", tmp_path / "mu", "--scale", tmp_path / "logvar")
    assert_bad_input(result, "part-1.npy", "no SCALE shard", "has 3 shard(s)", " 3")


def test_latent_unequal_scale_shards_name_the_shard_and_both_counts(tmp_path):
    _latent_shards(tmp_path)
    np.save(tmp_path / "logvar" / "part-1.npy", np.zeros((9, 3)))
    result = invoke("latent-kl", tmp_path / "mu", "--scale", tmp_path / "logvar")
    line = assert_bad_input(result, "part-1.npy", "9 rows", "10")
    assert "part-0" not in line and "part-2" not in line


def test_latent_one_scale_file_against_a_dataset_is_refused(tmp_path):
    mu, logvar = _latent_shards(tmp_path)
    np.save(tmp_path / "logvar.npy", logvar)
    result = invoke("latent-kl", tmp_path / "mu", "--scale", tmp_path / "logvar.npy")
    assert_bad_input(result, "logvar.npy", "--scale is one file")


def test_latent_a_corrupt_shard_among_good_ones_is_named(tmp_path):
    mu, logvar = _latent(9, 30, 2)
    columns = {**{f"mu_{j}": mu[:, j] for j in range(2)}, **{f"logvar_{j}": logvar[:, j] for j in range(2)}}
    for i, part in enumerate(_cut(columns, [10, 20])):
        write_shard(tmp_path / "enc" / f"part-{i}", part, "parquet")
    (tmp_path / "enc" / "part-1.parquet").write_bytes(b"PAR1 broken PAR1")
    line = assert_bad_input(invoke("latent-kl", tmp_path / "enc"), "part-1.parquet")
    assert "part-0" not in line and "part-2" not in line


def test_latent_a_bad_value_names_the_shard_and_its_row(tmp_path):
    mu, logvar = _latent(10, 30, 2)
    mu[23, 1] = np.nan
    columns = {**{f"mu_{j}": mu[:, j] for j in range(2)}, **{f"logvar_{j}": logvar[:, j] for j in range(2)}}
    for i, part in enumerate(_cut(columns, [10, 20])):
        write_shard(tmp_path / "enc" / f"part-{i}", part, "csv")
    line = assert_bad_input(invoke("latent-kl", tmp_path / "enc"), "part-2.csv", "row 3")
    assert "row 23" not in line


def test_latent_a_differing_schema_is_named(tmp_path):
    mu, logvar = _latent(11, 20, 2)
    columns = {**{f"mu_{j}": mu[:, j] for j in range(2)}, **{f"logvar_{j}": logvar[:, j] for j in range(2)}}
    first, second = _cut(columns, [10])
    write_shard(tmp_path / "enc" / "part-0", first, "parquet")
    write_shard(tmp_path / "enc" / "part-1", {k: v for k, v in second.items() if k != "logvar_1"}, "parquet")
    assert_bad_input(invoke("latent-kl", tmp_path / "enc"), "part-1.parquet", "no column 'logvar_1'")


def test_latent_a_dataset_run_saves_a_state_that_merges(tmp_path):
    mu, logvar = _latent_shards(tmp_path)
    np.save(tmp_path / "mu.npy", mu)
    np.save(tmp_path / "logvar.npy", logvar)
    one = run_json("latent-kl", tmp_path / "mu.npy", "--scale", tmp_path / "logvar.npy")
    direct = run_json("latent-kl", tmp_path / "mu", "--scale", tmp_path / "logvar")
    _assert_close(direct["metrics"], one["metrics"])
    assert direct["n_samples"] == 30
    for name in ("mu", "logvar"):
        (tmp_path / f"{name}2").mkdir()
        (tmp_path / name / "part-2.npy").rename(tmp_path / f"{name}2" / "part-2.npy")
    for i, suffix in enumerate(("", "2")):
        run_json(
            "latent-kl", tmp_path / f"mu{suffix}", "--scale", tmp_path / f"logvar{suffix}", "--param", "logvar",
            "--save-state", tmp_path / f"s{i}.json",
        )  # fmt: skip
    merged = run_json("merge", tmp_path / "s0.json", tmp_path / "s1.json")
    _assert_close(merged["metrics"], one["metrics"])
    assert merged["n_samples"] == 30


def test_trend_of_token_datasets_per_checkpoint(tmp_path):
    """Token checkpoints given as datasets: the paired test reads their merged states."""
    rng = np.random.default_rng(12)
    seq = np.repeat(np.arange(6), 5)
    for step in (100, 200):
        logprob = -rng.exponential(1.0 if step == 100 else 0.8, seq.size)
        table = {"seq": seq, "logprob": logprob}
        for i, part in enumerate(_cut(table, [12, 21])):
            write_shard(tmp_path / f"step-{step}" / f"part-{i}", part, "parquet")
        pq.write_table(pa.table(table), tmp_path / f"step-{step}.parquet")
    args = ["--seq-col", "seq", "--logprob-col", "logprob"]
    sharded = run_json("trend", tmp_path / "step-100", tmp_path / "step-200", *args)
    one = run_json("trend", tmp_path / "step-100.parquet", tmp_path / "step-200.parquet", *args)
    rows, want = sharded["checkpoints"], one["checkpoints"]
    assert len(rows) == 2 and 0 <= rows[1]["change_p_value"] < 1
    for got_row, want_row in zip(rows, want, strict=True):
        _assert_close(
            {k: v for k, v in got_row.items() if k != "path"},
            {k: v for k, v in want_row.items() if k != "path"},
        )


@pytest.fixture(scope="module")
def cluster():
    """A real local Dask cluster of two worker processes on loopback: its scheduler's address."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    ) as local:
        yield local.scheduler_address


@pytest.mark.parametrize("labels", ["paired", "single"])
def test_compare_on_two_jobs_and_dask_gives_the_one_job_report_bit_for_bit(tmp_path, cluster, labels):
    _sharded_pair(tmp_path)
    write_shard(tmp_path / "c" / "part-0", _models(7, 10, 3)[1], "csv")  # a second candidate, another format
    write_shard(tmp_path / "c" / "part-1", _models(8, 10, 3)[1], "csv")
    write_shard(tmp_path / "c" / "part-2", _models(9, 10, 3)[1], "csv")
    label_spec = tmp_path / "labels"
    if labels == "single":
        label_spec = write_shard(tmp_path / "all", {"label": _models(5, 30, 3)[2]}, "csv")
    args = ["compare", tmp_path / "a", tmp_path / "b", tmp_path / "c", "--labels", label_spec]
    one = run_json(*args, "--jobs", "1", "--save-state", tmp_path / "one.json")
    assert one["n_samples"] == 30 and len(one["comparisons"]) == 2
    assert run_json(*args, "--jobs", "2", "--save-state", tmp_path / "two.json") == one
    assert (tmp_path / "two.json").read_bytes() == (tmp_path / "one.json").read_bytes()
    assert run_json(*args, "--engine", "dask", "--scheduler", cluster) == one


def test_latent_on_two_jobs_and_dask_gives_the_one_job_report_bit_for_bit(tmp_path, cluster):
    _latent_shards(tmp_path)
    args = ["latent-kl", tmp_path / "mu", "--scale", tmp_path / "logvar"]
    one = run_json(*args, "--jobs", "1", "--save-state", tmp_path / "one.json")
    assert one["n_samples"] == 30
    assert run_json(*args, "--jobs", "2", "--save-state", tmp_path / "two.json") == one
    assert (tmp_path / "two.json").read_bytes() == (tmp_path / "one.json").read_bytes()
    assert run_json(*args, "--engine", "dask", "--scheduler", cluster) == one
    mu, logvar = _latent(13, 25, 2)
    columns = {"mu": mu, "logvar": logvar}  # list columns: the width is fixed by the first rows
    for i, part in enumerate(_cut(columns, [0, 9, 17])):
        write_shard(tmp_path / "enc" / f"part-{i}", part, "parquet")
    one = run_json("latent-kl", tmp_path / "enc", "--jobs", "1")
    assert one["n_samples"] == 25
    assert run_json("latent-kl", tmp_path / "enc", "--jobs", "2") == one


def test_compare_a_failing_shard_on_two_jobs_is_the_one_job_error(tmp_path):
    _sharded_pair(tmp_path)
    (tmp_path / "b" / "part-2.parquet").write_bytes(b"PAR1 broken PAR1")
    out = tmp_path / "report.json"
    args = ["compare", tmp_path / "a", tmp_path / "b", "--labels", tmp_path / "labels", "-o", out]
    single = assert_bad_input(invoke(*args), "part-2.parquet")
    assert assert_bad_input(invoke(*args, "--jobs", "2")) == single
    assert not out.exists()


def test_the_readme_compare_and_latent_commands_on_the_sharded_sample_data(tmp_path):
    """The README's compare and latent-kl dataset commands, on the copy sample_data/shard.py
    writes: the reports of the sample files themselves."""
    import runpy

    from .conftest import SAMPLE_DATA

    runpy.run_path(str(SAMPLE_DATA / "shard.py"), run_name="shard")["main"](tmp_path)
    s = str(tmp_path)
    want = run_json(
        "compare", SAMPLE_DATA / "probs.parquet", SAMPLE_DATA / "probs_b.parquet", "--labels",
        SAMPLE_DATA / "labels.parquet",
    )  # fmt: skip
    for args in (
        ("compare", f"{s}/preds", f"{s}/preds_b", "--labels", f"{s}/labels"),
        ("compare", f"{s}/preds", f"{s}/preds_b", "--labels", SAMPLE_DATA / "labels.parquet", "--jobs", "2"),
    ):
        got = run_json(*args)
        assert got["n_samples"] == 1000
        _assert_close(_without_names(got["comparisons"]), _without_names(want["comparisons"]))
    latent = run_json("latent-kl", SAMPLE_DATA / "latent.parquet", "--fail-if", "active_units < 4")
    got = run_json("latent-kl", f"{s}/latent", "--fail-if", "active_units < 4")
    _assert_close(got["metrics"], latent["metrics"])
    arrays = run_json(
        "latent-kl", SAMPLE_DATA / "latent_mu.npy", "--scale", SAMPLE_DATA / "latent_logvar.npy"
    )
    got = run_json("latent-kl", f"{s}/latent_mu", "--scale", f"{s}/latent_logvar", "--jobs", "2")
    _assert_close(got["metrics"], arrays["metrics"])
    assert got["n_samples"] == 2000
