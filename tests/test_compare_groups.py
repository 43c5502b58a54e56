"""``compare --group-by``: each group's paired differences against pandas ``groupby`` on the
same rows, its tests against SciPy (``ttest_rel``'s statistic under the normal
approximation, ``binomtest`` for McNemar) and Holm written from its definition; chunk and
merge invariance, state round trips, datasets and worker processes; the table, sorting,
suppression, group gates and bad inputs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import softmax

from tests.cli_helpers import assert_bad_input, invoke, run_json
from tests.conftest import SAMPLE_DATA, write_table
from tests.test_datasets_commands import cluster  # noqa: F401 (a fixture)

REL = 1e-9
"""Relative tolerance for group means, differences and standard errors summed in another order."""

C = 4
Z975 = stats.norm.ppf(0.975)
SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
METRICS = ("entropy", "cross_entropy", "kl_divergence", "accuracy")


# ------------------------------------------------------------------------------ data


def _rows(seed: int, n: int, n_groups: int = 5) -> dict[str, np.ndarray]:
    """Labels, two correlated models (the candidate sharper, more so in some regions) and two keys."""
    rng = np.random.default_rng(seed)
    region = rng.integers(0, n_groups, n)
    labels = rng.integers(0, C, n)
    signal = rng.normal(size=(n, C)) + 1.2 * np.eye(C)[labels]
    sharper = 1.0 + 0.15 * (region[:, None] - n_groups / 2)
    return {
        "a": softmax(signal, axis=1),
        "b": softmax(sharper * signal + rng.normal(0, 0.3, (n, C)), axis=1),
        "labels": labels,
        "region": np.array([f"r{k}" for k in range(n_groups)], dtype="<U8")[region],
        "tier": rng.integers(0, 3, n),
    }


def _write(folder: Path, data: dict[str, np.ndarray], fmt: str = "parquet") -> tuple[str, str, str, str]:
    """Baseline, candidate, labels and groups files of the rows (the candidate has no key column)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stem}.{fmt}" for stem in ("base", "cand", "labels", "groups")]
    write_table(paths[0], {f"c{i}": data["a"][:, i] for i in range(C)}, fmt)
    write_table(paths[1], {f"c{i}": data["b"][:, i] for i in range(C)}, fmt)
    write_table(paths[2], {"label": data["labels"]}, fmt)
    write_table(paths[3], {"region": data["region"], "tier": data["tier"]}, fmt)
    return tuple(str(p) for p in paths)  # type: ignore[return-value]


def _compare(files: tuple[str, ...], *by: str, extra: tuple[Any, ...] = (), code: int = 0) -> dict[str, Any]:
    base, cand, labels, groups = files
    group_args = [a for col in by for a in ("--group-by", col)]
    return run_json(
        "compare", base, cand, "--labels", labels, "--groups", groups, *group_args, *extra, code=code
    )


def _per_row(data: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each compared metric's per-row values for the baseline and the candidate, from the definitions."""
    y, rows = data["labels"], np.arange(len(data["labels"]))
    out = {}
    for name, f in (
        ("entropy", lambda q: -(q * np.log(q)).sum(axis=1)),
        ("cross_entropy", lambda q: -np.log(q[rows, y])),
        ("accuracy", lambda q: (q.argmax(axis=1) == y).astype(float)),
    ):
        out[name] = (f(data["a"]), f(data["b"]))
    out["kl_divergence"] = out["cross_entropy"]  # against class labels
    return out


def _reference(data: dict[str, np.ndarray], by: list[str]) -> dict[tuple, dict[str, Any]]:
    """Per group: n, and per metric the means, the mean difference, its paired standard error
    (ddof=1 / sqrt(n)) by pandas; ttest_rel's statistic; the discordant rows."""
    values = _per_row(data)
    frame = pd.DataFrame({k: data[k] for k in by})
    for name, (a, b) in values.items():
        frame[f"{name}_a"], frame[f"{name}_b"], frame[f"{name}_d"] = a, b, b - a
    frame["b_only"] = (values["accuracy"][0] == 1) & (values["accuracy"][1] == 0)
    frame["c_only"] = (values["accuracy"][0] == 0) & (values["accuracy"][1] == 1)
    out = {}
    for key, g in frame.groupby(by):
        n = len(g)
        row: dict[str, Any] = {"n": n, "b_only": int(g["b_only"].sum()), "c_only": int(g["c_only"].sum())}
        for name in values:
            d = g[f"{name}_d"]
            se = d.std(ddof=1) / math.sqrt(n)
            row[name] = {
                "baseline": g[f"{name}_a"].mean(),
                "candidate": g[f"{name}_b"].mean(),
                "delta": d.mean(),
                "std_error": se,
                "t": stats.ttest_rel(g[f"{name}_b"], g[f"{name}_a"]).statistic if se > 0 else math.nan,
            }
        out[key if isinstance(key, tuple) else (key,)] = row
    return out


def _by_key(document: dict[str, Any]) -> dict[tuple, dict[str, Any]]:
    return {tuple(g["key"].values()): g for g in document["groups"]}


def _holm(p: list[float]) -> list[float]:
    """Holm's adjusted p-values from the definition: max over the smaller ones of (m − rank) p."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    adjusted = [0.0] * m
    for rank, i in enumerate(order):
        adjusted[i] = max(min(1.0, (m - r) * p[order[r]]) for r in range(rank + 1))
    return adjusted


def _close(a: Any, b: Any, path: str = "") -> None:
    """Equal structures: counts and strings exactly, floats to float64 rounding (p-values absolutely)."""
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and not isinstance(b, str):
        assert a == pytest.approx(b, rel=REL, abs=1e-13), path
    else:
        assert a == b, path


def _groups_of(document: dict[str, Any]) -> dict[tuple, Any]:
    """The groups' numbers by key, the candidates' paths left out."""
    return {
        key: {
            **g,
            "comparisons": [{k: v for k, v in c.items() if k != "candidate"} for c in g["comparisons"]],
        }
        for key, g in _by_key(document).items()
    }


# ------------------------------------------------------------------------ references


@pytest.mark.parametrize("by", [["region"], ["region", "tier"]])
def test_group_deltas_match_pandas_groupby_ttest_rel_and_binomtest(tmp_path, by) -> None:
    data = _rows(1, 3_000)
    document = _compare(_write(tmp_path, data), *by, extra=("--chunk-rows", 251))
    reference = _reference(data, by)
    groups = _by_key(document)
    assert groups.keys() == reference.keys() and document["group_by"] == by
    assert sum(g["n_samples"] for g in groups.values()) == document["n_samples"] == 3_000
    for key, want in reference.items():
        group = groups[key]
        assert group["n_samples"] == want["n"]
        (c,) = group["comparisons"]
        for name in METRICS:
            got, ref = c["metrics"][name], want[name]
            for field in ("baseline", "candidate", "delta", "std_error"):
                assert got[field] == pytest.approx(ref[field], rel=REL, abs=1e-15), (key, name, field)
            z = ref["delta"] / ref["std_error"]
            assert z == pytest.approx(ref["t"], rel=1e-9)  # ttest_rel's statistic is the paired z
            assert got["p_value"] == pytest.approx(2 * stats.norm.sf(abs(ref["t"])), rel=1e-9, abs=1e-300)
            assert got["interval"] == pytest.approx(
                [ref["delta"] - Z975 * ref["std_error"], ref["delta"] + Z975 * ref["std_error"]], rel=1e-9
            )
        mcnemar = c["accuracy_mcnemar"]
        b, n_c = want["b_only"], want["c_only"]
        assert (mcnemar["baseline_only"], mcnemar["candidate_only"]) == (b, n_c)
        expected = stats.binomtest(b, b + n_c, 0.5).pvalue if b + n_c else 1.0
        assert mcnemar["p_value"] == pytest.approx(expected, rel=1e-9)
        ce = want["cross_entropy"]
        ppl = c["perplexity"]
        assert ppl["ratio"] == pytest.approx(math.exp(ce["delta"]), rel=REL)
        assert ppl["baseline"] == pytest.approx(math.exp(ce["baseline"]), rel=REL)
        assert ppl["interval"] == pytest.approx(
            [math.exp(ce["delta"] - Z975 * ce["std_error"]), math.exp(ce["delta"] + Z975 * ce["std_error"])],
            rel=1e-9,
        )


def test_group_p_values_are_holm_corrected_over_every_reported_group_and_metric(tmp_path) -> None:
    data = _rows(2, 2_000, n_groups=8)
    document = _compare(_write(tmp_path, data), "region")
    family, rows = [], []
    for g in document["groups"]:
        (c,) = g["comparisons"]
        for name, row in c["metrics"].items():
            if name == "kl_divergence":  # equal to the cross-entropy row by row: tested once
                assert row["tested_as"] == "cross_entropy"
                continue
            family.append(c["accuracy_mcnemar"]["p_value"] if name == "accuracy" else row["p_value"])
            rows.append(row)
    assert len(family) == 8 * 3
    for row, adjusted in zip(rows, _holm(family), strict=True):
        assert row["adjusted_p_value"] == pytest.approx(adjusted, rel=1e-12)
        assert row["significant"] == (adjusted <= 0.05)
    assert any(r["significant"] for r in rows) and not all(r["significant"] for r in rows)
    assert "unadjusted" in document["group_tests"] and "Holm" in document["group_tests"]


def test_per_class_crossed_with_a_column_of_the_baseline_file(tmp_path) -> None:
    data = _rows(3, 1_500)
    names = np.array(["cat", "dog", "fox", "owl"])
    base, cand = tmp_path / "a.parquet", tmp_path / "b.csv"
    write_table(
        base, {**{n: data["a"][:, i] for i, n in enumerate(names)}, "region": data["region"]}, "parquet"
    )
    write_table(cand, {n: data["b"][:, C - 1 - i] for i, n in enumerate(names[::-1])}, "csv")  # another order
    write_table(tmp_path / "y.csv", {"label": names[data["labels"]]}, "csv")
    document = run_json(
        "compare", base, cand, "--labels", tmp_path / "y.csv", "--group-by", "region", "--per-class"
    )
    assert document["n_classes"] == C
    reference = _reference({**data, "class": names[data["labels"]]}, ["region", "class"])
    groups = _by_key(document)
    assert groups.keys() == reference.keys()
    for key, want in reference.items():
        (c,) = groups[key]["comparisons"]
        for name in METRICS:
            assert c["metrics"][name]["delta"] == pytest.approx(want[name]["delta"], rel=REL, abs=1e-15)
            assert c["metrics"][name]["std_error"] == pytest.approx(
                want[name]["std_error"], rel=REL, nan_ok=True, abs=1e-15
            )


def test_ignored_rows_are_in_no_group(tmp_path) -> None:
    data = _rows(4, 900)
    data["labels"][::5] = -100
    document = _compare(_write(tmp_path, data), "tier", extra=("--ignore-index", "-100", "--chunk-rows", 50))
    kept = data["labels"] != -100
    reference = _reference({k: v[kept] for k, v in data.items()}, ["tier"])
    groups = _by_key(document)
    assert document["n_ignored"] == 180 and groups.keys() == reference.keys()
    for key, want in reference.items():
        got = groups[key]["comparisons"][0]["metrics"]["cross_entropy"]
        assert got["delta"] == pytest.approx(want["cross_entropy"]["delta"], rel=REL)


def test_two_candidates_are_each_compared_per_group(tmp_path) -> None:
    data = _rows(5, 1_200)
    files = _write(tmp_path, data)
    other = _rows(6, 1_200)["b"]
    third = tmp_path / "third.npy"
    np.save(third, other)
    document = run_json("compare", files[0], files[1], third, "--labels", files[2], "--groups", files[3],
                        "--group-by", "region")  # fmt: skip
    reference = _reference({**data, "b": other}, ["region"])
    for key, g in _by_key(document).items():
        assert [c["candidate"] for c in g["comparisons"]] == [files[1], str(third)]
        got = g["comparisons"][1]["metrics"]["entropy"]
        assert got["delta"] == pytest.approx(reference[key]["entropy"]["delta"], rel=REL)


# -------------------------------------------------------------- invariances, states


@pytest.fixture(scope="module")
def invariance_files(tmp_path_factory) -> tuple[str, str, str, str]:
    return _write(tmp_path_factory.mktemp("cgroups"), _rows(8, 1_000, n_groups=12))


@SETTINGS
@given(chunk_rows=st.integers(1, 1_100), crossed=st.booleans())
def test_groups_do_not_depend_on_the_chunk_size(invariance_files, chunk_rows, crossed) -> None:
    by = ("region", "tier") if crossed else ("region",)
    one = _compare(invariance_files, *by)
    chunked = _compare(invariance_files, *by, extra=("--chunk-rows", chunk_rows))
    _close(_groups_of(chunked), _groups_of(one))


@SETTINGS
@given(cuts=st.lists(st.integers(1, 999), min_size=1, max_size=4, unique=True), seed=st.integers(0, 2**16))
def test_merged_parts_equal_one_run_with_groups_split_across_parts(tmp_path_factory, cuts, seed) -> None:
    data = _rows(seed, 1_000, n_groups=6)
    folder = tmp_path_factory.mktemp("parts")
    whole = _compare(_write(folder / "whole", data), "region", "tier")
    bounds = [0, *sorted(cuts), 1_000]
    states = []
    for i, (start, stop) in enumerate(zip(bounds, bounds[1:], strict=False)):
        part = _write(folder / f"part{i}", {k: v[start:stop] for k, v in data.items()})
        states.append(folder / f"s{i}.json")
        _compare(part, "region", "tier", extra=("--chunk-rows", 7, "--save-state", states[-1]))
    merged = run_json("merge", *states)
    _close(_groups_of(merged), _groups_of(whole))
    assert merged["n_samples"] == 1_000


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 80),
    cut_fractions=st.lists(st.floats(0, 1), max_size=4),
    n_groups=st.integers(1, 6),
)
def test_group_state_merges_in_any_split_and_round_trips_bit_exact(seed, n, cut_fractions, n_groups) -> None:
    from infocli.metrics.inputs import to_distributions
    from infocli.metrics.paired import PairedState
    from infocli.metrics.paired_groups import CompareGroups
    from infocli.metrics.scores import score_rows

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    key = rng.integers(0, n_groups, n) * 10  # some groups absent from some parts
    a, b = softmax(rng.normal(0, 2, (n, 3)), axis=1), softmax(rng.normal(0, 2, (n, 3)), axis=1)

    def state(rows: np.ndarray) -> CompareGroups:
        sa, sb = (score_rows(to_distributions(q[rows], "probs"), y[rows], eps=1e-12) for q in (a, b))
        return CompareGroups.of_rows(["k"], [key[rows]], sa, [sb], METRICS)

    whole = state(np.arange(n))
    cuts = sorted({int(f * n) for f in cut_fractions})
    merged = CompareGroups.empty(["k"], METRICS, 1)
    for rows in np.split(np.arange(n), cuts):
        if len(rows):
            merged.merge(state(rows))
    order = {k: i for i, k in enumerate(merged.index.keys[0].tolist())}
    codes = np.array([order[k] for k in whole.index.keys[0].tolist()])
    for name in METRICS:
        for side in ("baseline", "candidate", "difference"):
            mine, theirs = whole.pairs[0][name][side], merged.pairs[0][name][side]
            assert np.array_equal(mine.n, theirs.n[codes])
            np.testing.assert_allclose(theirs.total[codes], mine.total, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(theirs.m2[codes], mine.m2, rtol=1e-9, atol=1e-12)
    assert np.array_equal(whole.discordant[0], merged.discordant[0][codes])
    overall = PairedState.empty(METRICS)
    overall.kl.n = n
    overall.discordant = merged.discordant[0].sum(axis=0).tolist()
    text = json.dumps(merged.to_dict())
    again = CompareGroups.from_dict(json.loads(text), METRICS, [overall])
    assert json.dumps(again.to_dict()) == text


def test_save_state_then_merge_is_the_run_bit_for_bit(tmp_path, invariance_files) -> None:
    state = tmp_path / "s.json"
    saved = _compare(invariance_files, "region", "tier", extra=("--save-state", state))
    assert run_json("merge", state) == saved
    table = invoke("merge", state, "--top", "2", "--sort", "cross_entropy").stdout
    assert "groups by region, tier (worst Δcross_entropy first)" in table


@pytest.mark.parametrize(
    "tamper, words",
    [
        (lambda g: g["candidates"][0]["discordant"]["candidate_only"].__setitem__(0, 10**6), ["discordant"]),
        (
            lambda g: g["candidates"][0]["metrics"]["entropy"]["difference"]["n"].__setitem__(0, 1),
            ["entropy"],
        ),
        (lambda g: g["keys"][0].__setitem__(1, g["keys"][0][0]), ["more than once"]),
        (
            lambda g: g["candidates"][0]["metrics"]["accuracy"]["baseline"]["sum"].__setitem__(0, 0.5),
            ["hits"],
        ),
        (lambda g: g["candidates"][0]["metrics"].pop("accuracy"), ["metrics"]),
        (lambda g: g.pop("columns"), ["columns"]),
        (lambda g: g["candidates"].append(g["candidates"][0]), ["one per candidate"]),
    ],
)
def test_impossible_group_states_are_refused(tmp_path, invariance_files, tamper, words) -> None:
    path = tmp_path / "s.json"
    _compare(invariance_files, "region", extra=("--save-state", path))
    data = json.loads(path.read_text())
    tamper(data["groups"])
    path.write_text(json.dumps(data))
    assert_bad_input(invoke("merge", path), str(path), "impossible state", *words)


def test_grouped_and_ungrouped_states_do_not_merge(tmp_path, invariance_files) -> None:
    base, cand, labels, groups = invariance_files
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    _compare(invariance_files, "region", extra=("--save-state", a))
    run_json("compare", base, cand, "--labels", labels, "--save-state", b)
    _compare(invariance_files, "tier", extra=("--save-state", c))
    assert_bad_input(invoke("merge", a, b), "grouped by region", "not grouped")
    assert_bad_input(invoke("merge", a, c), "different columns", "region vs tier")


def _dataset(folder: Path, data: dict[str, np.ndarray], cuts: list[int]) -> tuple[Path, Path, Path]:
    """The rows as datasets of shards: the baseline's files carry the key column."""
    bounds = [0, *cuts, len(data["labels"])]
    dirs = [folder / name for name in ("base", "cand", "labels")]
    for d in dirs:
        d.mkdir(parents=True)
    for i, (start, stop) in enumerate(zip(bounds, bounds[1:], strict=False)):
        rows = slice(start, stop)
        base = {**{f"c{j}": data["a"][rows, j] for j in range(C)}, "region": data["region"][rows]}
        write_table(dirs[0] / f"part-{i}.parquet", base, "parquet")
        write_table(dirs[1] / f"part-{i}.parquet", {f"c{j}": data["b"][rows, j] for j in range(C)}, "parquet")
        write_table(dirs[2] / f"part-{i}.parquet", {"label": data["labels"][rows]}, "parquet")
    return dirs[0], dirs[1], dirs[2]


def test_datasets_and_worker_processes_group_as_one_file(tmp_path, cluster) -> None:  # noqa: F811
    data = _rows(9, 1_200, n_groups=7)
    base, cand, labels = _dataset(tmp_path, data, [300, 310, 800])
    args = ("compare", base, cand, "--labels", labels, "--group-by", "region")
    one = run_json(*args, "--save-state", tmp_path / "one.json")
    files = _write(tmp_path / "files", data)
    whole = _compare(files, "region")
    _close(_groups_of(one), _groups_of(whole))
    assert run_json(*args, "--jobs", "2", "--save-state", tmp_path / "two.json") == one
    assert (tmp_path / "two.json").read_bytes() == (tmp_path / "one.json").read_bytes()
    assert run_json(*args, "--engine", "dask", "--scheduler", cluster) == one
    groups_file = tmp_path / "g.csv"
    write_table(groups_file, {"region": data["region"]}, "csv")
    _close(_groups_of(run_json(*args, "--groups", groups_file)), _groups_of(whole))
    jobs = invoke("compare", *files[:2], "--labels", files[2], "--groups", groups_file, "--group-by", "region",
                  "--jobs", "2")  # fmt: skip
    assert jobs.exit_code == 0, jobs.stderr  # one file and --jobs: read in this process


# ------------------------------------------------------------ the report's groups


def test_groups_sorted_by_size_or_worst_delta_first_and_top_limits_the_table(invariance_files) -> None:
    sizes = [g["n_samples"] for g in _compare(invariance_files, "region")["groups"]]
    assert sizes == sorted(sizes, reverse=True) and len(sizes) == 12
    ce = [
        g["comparisons"][0]["metrics"]["cross_entropy"]["delta"]
        for g in _compare(invariance_files, "region", extra=("--sort", "cross_entropy"))["groups"]
    ]
    assert ce == sorted(ce, reverse=True)  # lower is better: the largest increase first
    document = _compare(invariance_files, "region", extra=("--sort", "accuracy", "--top", "3"))
    accuracy = [g["comparisons"][0]["metrics"]["accuracy"]["delta"] for g in document["groups"]]
    assert accuracy == sorted(accuracy) and len(accuracy) == 12 and document["sort"] == "accuracy"
    base, cand, labels, groups = invariance_files
    table = invoke("compare", base, cand, "--labels", labels, "--groups", groups, "--group-by", "region",
                   "--sort", "accuracy", "--top", "3").stdout  # fmt: skip
    for g in document["groups"][:3]:
        assert f" {g['key']['region']} " in table
    for g in document["groups"][3:]:
        assert f" {g['key']['region']} " not in table
    assert "9 more groups in the JSON" in table and "worst Δaccuracy first" in table


def test_the_worst_candidate_orders_the_groups(tmp_path) -> None:
    data = _rows(10, 1_000)
    files = _write(tmp_path, data)
    np.save(tmp_path / "other.npy", _rows(11, 1_000)["b"])
    document = run_json("compare", files[0], files[1], tmp_path / "other.npy", "--labels", files[2],
                        "--groups", files[3], "--group-by", "region", "--sort", "cross_entropy")  # fmt: skip
    worst = [
        max(c["metrics"]["cross_entropy"]["delta"] for c in g["comparisons"]) for g in document["groups"]
    ]
    assert worst == sorted(worst, reverse=True)


def test_small_groups_are_suppressed_listed_and_ignored_by_gates(tmp_path) -> None:
    data = _rows(12, 600)
    data["region"][:8] = "tiny"
    data["b"][:8] = np.roll(data["b"][:8], 1, axis=1)  # the candidate much worse on the tiny group
    files = _write(tmp_path, data)
    gate = ("--fail-if", "groups.delta.cross_entropy > 0.5")
    failed = _compare(files, "region", extra=gate, code=1)
    assert failed["gates"][0]["failing"] == [f"region=tiny ({files[1]})"]
    assert (
        failed["gates"][0]["value"]
        == _by_key(failed)[("tiny",)]["comparisons"][0]["metrics"]["cross_entropy"]["delta"]
    )
    passed = _compare(files, "region", extra=(*gate, "--min-group-size", "9"))
    assert not passed["gates"][0]["failed"] and passed["gates"][0]["failing"] == []
    assert passed["suppressed_groups"] == [{"key": {"region": "tiny"}, "n_samples": 8}]
    assert ("tiny",) not in _by_key(passed)
    base, cand, labels, groups = files
    table = invoke("compare", base, cand, "--labels", labels, "--groups", groups, "--group-by", "region",
                   "--min-group-size", "9").stdout  # fmt: skip
    assert "region=tiny (8)" in table and "suppressed" in table


def test_a_group_of_one_row_has_no_standard_error_in_strict_json(tmp_path) -> None:
    data = _rows(14, 300)
    data["region"][0] = "alone"
    document = _compare(_write(tmp_path, data), "region")  # run_json refuses a bare NaN
    (c,) = _by_key(document)[("alone",)]["comparisons"]
    assert (
        c["metrics"]["cross_entropy"]["std_error"] == "nan"
        and c["metrics"]["cross_entropy"]["p_value"] == "nan"
    )
    assert c["metrics"]["cross_entropy"]["verdict"] == "no significant difference"
    others = [g for g in document["groups"] if g["key"]["region"] != "alone"]
    assert all(isinstance(g["comparisons"][0]["metrics"]["entropy"]["std_error"], float) for g in others)


def test_group_gates_fail_and_pass_by_candidate_and_group_and_in_merge(tmp_path, invariance_files) -> None:
    document = _compare(invariance_files, "region")
    deltas = {
        g["key"]["region"]: g["comparisons"][0]["metrics"]["accuracy"]["delta"] for g in document["groups"]
    }
    threshold = sorted(deltas.values())[2]  # two groups below it
    gate = f"groups.delta.accuracy < {threshold!r}"
    failed = _compare(invariance_files, "region", extra=("--fail-if", gate), code=1)
    cand = invariance_files[1]
    expected = [f"region={k} ({cand})" for k, v in deltas.items() if v < threshold]
    assert len(expected) == 2 and failed["gates"][0]["failing"] == expected
    assert failed["gates"][0]["value"] == min(deltas.values())
    ratio = _compare(invariance_files, "region", extra=("--fail-if", "groups.perplexity.ratio > 100"))
    assert ratio["gates"][0]["failing"] == [] and not ratio["gates"][0]["failed"]
    state = tmp_path / "s.json"
    _compare(invariance_files, "region", extra=("--save-state", state))
    merged = run_json("merge", state, "--fail-if", gate, code=1)
    assert merged["gates"][0]["failing"] == expected
    base, cand, labels, _ = invariance_files
    assert_bad_input(
        invoke("compare", base, cand, "--labels", labels, "--fail-if", "groups.delta.accuracy < 0"),
        "groups.delta.accuracy",
    )


def test_fail_if_worse_stays_overall(tmp_path) -> None:
    data = _rows(13, 800)
    data["b"] = data["a"].copy()
    data["b"][:40] = np.roll(data["b"][:40], 1, axis=1)  # worse on one group's rows only
    data["region"][:40] = "bad"
    document = _compare(_write(tmp_path, data), "region", extra=("--fail-if-worse", "cross_entropy"), code=1)
    bad = _by_key(document)[("bad",)]["comparisons"][0]["metrics"]["cross_entropy"]
    assert bad["verdict"] == "worse"
    assert document["fail_if_worse"][0]["failing"] == [document["comparisons"][0]["candidate"]]
    assert all(
        g["comparisons"][0]["metrics"]["cross_entropy"]["delta"] == 0
        for g in document["groups"]
        if g["key"]["region"] != "bad"
    )


def test_groups_in_the_markdown_report_of_the_sample_data() -> None:
    text = invoke(
        "compare", SAMPLE_DATA / "probs.parquet", SAMPLE_DATA / "probs_b.parquet", "--labels",
        SAMPLE_DATA / "labels.parquet", "--groups", SAMPLE_DATA / "groups.csv", "--group-by", "region",
        "--format", "markdown",
    ).stdout  # fmt: skip
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| region | n_samples |"))
    assert "Δcross_entropy (nats)" in header
    rows = lines[lines.index(header) + 2 : lines.index(header) + 6]
    document = run_json(
        "compare", SAMPLE_DATA / "probs.parquet", SAMPLE_DATA / "probs_b.parquet", "--labels",
        SAMPLE_DATA / "labels.parquet", "--groups", SAMPLE_DATA / "groups.csv", "--group-by", "region",
    )  # fmt: skip
    assert [r.split(" | ")[0] for r in rows] == [f"| {g['key']['region']}" for g in document["groups"]]
    assert [g["n_samples"] for g in document["groups"]] == [275, 263, 247, 215]


# ----------------------------------------------------------------------- bad input


def test_bad_inputs_name_the_files(tmp_path, invariance_files) -> None:
    base, cand, labels, groups = invariance_files
    args = ("compare", base, cand, "--labels", labels)
    line = assert_bad_input(invoke(*args, "--group-by", "site"), "'site'", "--group-by", base, labels)
    assert cand not in line  # the candidates are not where group columns come from
    assert_bad_input(invoke(*args, "--groups", groups, "--group-by", "site"), "'site'", groups)
    short = tmp_path / "short.csv"
    write_table(short, {"region": np.array(["a"] * 10)}, "csv")
    assert_bad_input(invoke(*args, "--groups", short, "--group-by", "region"), str(short), "10", "1,000")
    assert_bad_input(invoke(*args, "--groups", groups), "--group-by", groups)
    assert_bad_input(invoke(*args, "--groups", groups, "--group-by", "region", "--sort", "entropy"), "--sort")
    assert_bad_input(invoke(*args, "--sort", "accuracy"), "--group-by")
    assert_bad_input(invoke(*args, "--groups", groups, "--group-by", "region", "--min-group-size", "0"))
    soft = tmp_path / "soft.parquet"
    write_table(soft, {f"c{i}": np.full(1_000, 1 / C) for i in range(C)}, "parquet")
    assert_bad_input(
        invoke("compare", base, cand, "--labels", soft, "--per-class"), "--per-class", "target distributions"
    )
    holes = tmp_path / "holes.csv"
    write_table(holes, {"score": np.where(np.arange(1_000) == 17, np.nan, 1.0)}, "csv")
    assert_bad_input(invoke(*args, "--groups", holes, "--group-by", "score"), str(holes), "missing value")
