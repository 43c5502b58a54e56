"""``--groups`` beside datasets: a groups dataset paired shard by shard with PREDS, or a
single groups file aligned with the shards' rows in order, in this process, on two worker
processes and on a real Dask ``LocalCluster``; each gives the groups of one file holding
the shards' rows in order (and pandas ``groupby``'s); unpaired groups are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli_helpers import assert_bad_input, invoke, run_json
from tests.conftest import write_table
from tests.test_datasets_commands import cluster  # noqa: F401 (a fixture)
from tests.test_groups import _assert_matches, _by_key, _reference, _rows

REL = 1e-12
"""Relative tolerance between a dataset's numbers and one file's (sums in another order)."""

CUTS = [250, 600, 610]


def _bounds(n: int, cuts: list[int]) -> list[tuple[int, int]]:
    edges = [0, *cuts, n]
    return list(zip(edges, edges[1:], strict=False))


def _files(folder: Path, data: dict[str, np.ndarray]) -> tuple[str, str, str]:
    """One predictions, labels and groups file of every row (the groups as CSV, so that
    ``tier`` is read as the file types it)."""
    folder.mkdir(parents=True, exist_ok=True)
    c = data["probs"].shape[1]
    preds, labels, groups = folder / "preds.parquet", folder / "labels.parquet", folder / "groups.csv"
    write_table(preds, {f"c{i}": data["probs"][:, i] for i in range(c)}, "parquet")
    write_table(labels, {"label": data["labels"]}, "parquet")
    write_table(groups, {"region": data["region"], "tier": data["tier"]}, "csv")
    return str(preds), str(labels), str(groups)


def _dataset(
    folder: Path, data: dict[str, np.ndarray], cuts: list[int], groups_fmt: str = "csv"
) -> tuple[str, ...]:
    """The rows cut at ``cuts`` into predictions, labels and groups shards ``part-K``."""
    dirs = [folder / name for name in ("preds", "labels", "groups")]
    for d in dirs:
        d.mkdir(parents=True)
    c = data["probs"].shape[1]
    for k, (a, b) in enumerate(_bounds(len(data["labels"]), cuts)):
        write_table(
            dirs[0] / f"part-{k}.parquet", {f"c{i}": data["probs"][a:b, i] for i in range(c)}, "parquet"
        )
        write_table(dirs[1] / f"part-{k}.parquet", {"label": data["labels"][a:b]}, "parquet")
        keys = {"region": data["region"][a:b], "tier": data["tier"][a:b]}
        write_table(dirs[2] / f"part-{k}.{groups_fmt}", keys, groups_fmt)
    return tuple(str(d) for d in dirs)


def _close(got: dict[str, Any], want: dict[str, Any]) -> None:
    """The same groups (united by key) and overall numbers, to ``REL``."""
    assert got["n_samples"] == want["n_samples"]
    assert got["metrics"] == pytest.approx(want["metrics"], rel=REL)
    a, b = _by_key(got), _by_key(want)
    assert set(a) == set(b)
    for key in b:
        assert a[key]["n_samples"] == b[key]["n_samples"], key
        assert a[key]["metrics"] == pytest.approx(b[key]["metrics"], rel=REL), key
        assert a[key]["standard_error"] == pytest.approx(b[key]["standard_error"], rel=REL), key


BY = ("--group-by", "region", "--group-by", "tier")


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[dict[str, np.ndarray], tuple[str, ...], tuple[str, ...]]:
    folder = tmp_path_factory.mktemp("gdata")
    data = _rows(23, 900)
    return data, _files(folder / "one", data), _dataset(folder / "shards", data, CUTS)


@pytest.mark.parametrize("groups", ["dataset", "single file"])
@pytest.mark.parametrize("engine", ["in-process", "jobs", "dask"])
def test_eval_groups_beside_a_dataset_are_those_of_one_file(written, groups, engine, cluster) -> None:  # noqa: F811
    data, one, shards = written
    whole = run_json("eval", *one[:2], "--groups", one[2], *BY)
    _assert_matches(whole, _reference(data, ["region", "tier"]))
    on = {"in-process": (), "jobs": ("--jobs", "2"), "dask": ("--engine", "dask", "--scheduler", cluster)}
    group_file = shards[2] if groups == "dataset" else one[2]
    got = run_json("eval", *shards[:2], "--groups", group_file, *BY, *on[engine])
    _close(got, whole)
    assert isinstance(got["groups"][0]["key"]["tier"], int)  # read as the file types it, as in one file


def test_a_single_labels_file_and_a_groups_dataset_together(written) -> None:
    data, one, shards = written
    whole = run_json("eval", *one[:2], "--groups", one[2], "--group-by", "region")
    _close(run_json("eval", shards[0], one[1], "--groups", shards[2], "--group-by", "region"), whole)
    _close(
        run_json("eval", shards[0], one[1], "--groups", one[2], "--group-by", "region", "--jobs", "2"), whole
    )


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(0, 300), min_size=1, max_size=4, unique=True).map(sorted))
def test_any_split_into_shards_groups_as_one_file(tmp_path_factory, cuts) -> None:
    data = _rows(5, 300)
    folder = tmp_path_factory.mktemp("split")
    one = _files(folder / "one", data)
    shards = _dataset(folder / "shards", data, cuts, groups_fmt="parquet")
    whole = run_json("eval", *one[:2], "--groups", one[2], *BY)
    _close(run_json("eval", *shards[:2], "--groups", shards[2], *BY, "--chunk-rows", "37"), whole)
    _close(run_json("eval", *shards[:2], "--groups", one[2], *BY, "--chunk-rows", "37"), whole)


def test_unpaired_groups_are_refused_naming_both_files_and_counts(tmp_path) -> None:
    data = _rows(3, 400)
    preds, labels, groups = _dataset(tmp_path / "d", data, [100, 250], groups_fmt="parquet")
    args = ("eval", preds, labels, "--group-by", "region")
    # A missing groups shard.
    (Path(groups) / "part-2.parquet").rename(tmp_path / "aside.parquet")
    line = assert_bad_input(invoke(*args, "--groups", groups), "part-2", "3 shard(s)", "2")
    assert "no --groups shard" in line
    # A groups shard of another row count.
    write_table(Path(groups) / "part-2.parquet", {"region": data["region"][250:399]}, "parquet")
    line = assert_bad_input(invoke(*args, "--groups", groups), "part-2.parquet", "149", "150")
    assert str(Path(preds).name) in line and "groups" in line
    # A groups shard of another row count that only reading tells (CSV), on two jobs too.
    csv_groups = _dataset(tmp_path / "c", data, [100, 250])[2]
    write_table(Path(csv_groups) / "part-2.csv", {"region": data["region"][250:399]}, "csv")
    for extra in ((), ("--jobs", "2")):
        assert_bad_input(invoke(*args, "--groups", csv_groups, *extra), "part-2.csv", "149", "150")
    # A single groups file of other rows than the shards'.
    short = tmp_path / "short.parquet"
    write_table(short, {"region": data["region"][:399]}, "parquet")
    assert_bad_input(invoke(*args, "--groups", short), "short.parquet", "399", "400")
    long = tmp_path / "long.csv"
    write_table(long, {"region": np.concatenate([data["region"], data["region"][:5]])}, "csv")
    for extra in ((), ("--jobs", "2")):
        assert_bad_input(invoke(*args, "--groups", long, *extra), "long.csv", "405", "400")
    # A groups dataset beside one predictions file; groups from stdin.
    one = _files(tmp_path / "one", data)
    assert_bad_input(invoke("eval", *one[:2], "--groups", groups, "--group-by", "region"), "one file")
    stdin = invoke("eval", preds, labels, "--groups", "-", "--group-by", "region", input="region\nr0\n")
    assert_bad_input(stdin, "stdin")


def _same(a: Any, b: Any, path: str = "") -> None:
    """Equal structures: counts and strings exactly, floats to ``REL`` (and 1e-15 absolutely)."""
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and not isinstance(b, str):
        assert a == pytest.approx(b, rel=REL, abs=1e-15, nan_ok=True), path
    else:
        assert a == b, path


@pytest.mark.parametrize("groups", ["dataset", "single file"])
def test_compare_groups_beside_datasets_are_those_of_one_file(tmp_path, groups, cluster) -> None:  # noqa: F811
    from tests.test_compare_groups import _groups_of, _write
    from tests.test_compare_groups import _reference as compare_reference
    from tests.test_compare_groups import _rows as compare_rows

    data = compare_rows(11, 1_000)
    files = _write(tmp_path / "one", data)
    by = ("--group-by", "region")
    whole = run_json("compare", files[0], files[1], "--labels", files[2], "--groups", files[3], *by)
    reference = compare_reference(data, ["region"])
    for key, group in _by_key(whole).items():
        assert group["n_samples"] == reference[key]["n"]
        assert group["comparisons"][0]["metrics"]["cross_entropy"]["delta"] == pytest.approx(
            reference[key]["cross_entropy"]["delta"], rel=1e-9
        )
    dirs = [tmp_path / name for name in ("base", "cand", "labels", "groups")]
    for d in dirs:
        d.mkdir()
    for k, (a, b) in enumerate(_bounds(1_000, [300, 310, 800])):
        write_table(dirs[0] / f"part-{k}.parquet", {f"c{j}": data["a"][a:b, j] for j in range(4)}, "parquet")
        write_table(dirs[1] / f"part-{k}.parquet", {f"c{j}": data["b"][a:b, j] for j in range(4)}, "parquet")
        write_table(dirs[2] / f"part-{k}.parquet", {"label": data["labels"][a:b]}, "parquet")
        write_table(dirs[3] / f"part-{k}.csv", {"region": data["region"][a:b]}, "csv")
    group_file = str(dirs[3]) if groups == "dataset" else files[3]
    args = ("compare", dirs[0], dirs[1], "--labels", dirs[2], "--groups", group_file, *by)
    one = run_json(*args)
    _same(_groups_of(one), _groups_of(whole))
    assert run_json(*args, "--jobs", "2") == one
    assert run_json(*args, "--engine", "dask", "--scheduler", cluster) == one


def test_fit_temperature_with_a_groups_file_reads_it_on_the_second_pass(tmp_path) -> None:
    """The cross-entropy at the fitted temperature, beside a groups file (one file, a
    groups dataset, a single groups file against shards), against softmax(z / T*)."""
    from scipy.special import log_softmax

    rng = np.random.default_rng(4)
    n, c = 600, 3
    z, y = rng.normal(0, 2, (n, c)), rng.integers(0, c, n)
    data = {"probs": z, "labels": y, "region": np.array(["a", "b"])[rng.integers(0, 2, n)], "tier": y * 0}
    one = _files(tmp_path / "one", data)
    shards = _dataset(tmp_path / "shards", data, [200, 450])
    fit = ("--kind", "logits", "--fit-temperature", "--group-by", "region")
    runs = [
        run_json("eval", *one[:2], "--groups", one[2], *fit),
        run_json("eval", *shards[:2], "--groups", shards[2], *fit),
        run_json("eval", *shards[:2], "--groups", one[2], *fit, "--jobs", "2"),
    ]
    for document in runs:
        t = document["temperature_fit"]["temperature"]
        want = -log_softmax(z / t, axis=1)[np.arange(n), y].mean()
        assert document["temperature_fit"]["cross_entropy"] == pytest.approx(want, rel=1e-9)
        assert t == pytest.approx(runs[0]["temperature_fit"]["temperature"], rel=REL)
        _close(document, runs[0])
