"""Slices: ``--group-by``, ``--groups``, ``--per-class``, checked against pandas ``groupby``
on the same rows, with the state's chunk and merge invariance, its JSON round trip, the
group gates, flags and suppressed groups, and 100,000 groups in one pass."""

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
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr, softmax

from infocli.evaluate import EvalOptions, evaluate
from infocli.metrics.groups import GroupAccumulator, GroupState, KeyIndex
from infocli.metrics.kernels import factorize
from infocli.metrics.state import EvalState
from infocli.states import load_state, merge_states, state_text

from .conftest import SAMPLE_DATA, write_table
from .test_calibration import classwise_loop, guo_errors, kumar_debiased, stephenson_terms
from cli_helpers import assert_bad_input, invoke, run_json

REL = 1e-9
"""Relative tolerance for group means and standard errors summed in another order."""

PER_ROW = ("entropy", "cross_entropy", "kl_divergence", "accuracy", "perplexity")
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------------------ data


def _rows(seed: int, n: int, c: int = 4, n_groups: int = 5) -> dict[str, np.ndarray]:
    """Probabilities, labels (the model right more often in some groups) and two keys."""
    rng = np.random.default_rng(seed)
    region = rng.integers(0, n_groups, n)
    labels = rng.integers(0, c, n)
    z = rng.normal(size=(n, c)) + (1.0 + region[:, None] * 0.4) * np.eye(c)[labels]
    return {
        "probs": softmax(z, axis=1),
        "labels": labels,
        "region": np.array([f"r{k}" for k in range(n_groups)])[region],
        "tier": rng.integers(0, 3, n),
    }


def _write(folder: Path, data: dict[str, np.ndarray], fmt: str = "parquet") -> tuple[str, str, str]:
    """predictions, labels and groups files of the rows."""
    c = data["probs"].shape[1]
    ext = "npy" if fmt == "npy-structured" else fmt
    preds = folder / f"preds.{ext}"
    labels = folder / f"labels.{ext}"
    groups = folder / f"groups.{ext}"
    write_table(preds, {f"c{i}": data["probs"][:, i] for i in range(c)}, fmt)
    write_table(labels, {"label": data["labels"]}, fmt)
    write_table(groups, {"region": data["region"], "tier": data["tier"]}, fmt)
    return str(preds), str(labels), str(groups)


def _reference(data: dict[str, np.ndarray], by: list[str], base: float = math.e) -> pd.DataFrame:
    """Each group's per-row means and standard errors (ddof=1 / sqrt(n)), by pandas."""
    q, y = data["probs"], data["labels"]
    ce = -np.log(q[np.arange(len(y)), y])
    frame = pd.DataFrame(
        {
            "entropy": -(q * np.log(q)).sum(axis=1) / math.log(base),
            "cross_entropy": ce / math.log(base),
            "ce_nats": ce,
            "accuracy": (q.argmax(axis=1) == y).astype(float),
            **{k: data[k] for k in by},
        }
    )
    grouped = frame.groupby(by)
    mean, std, n = grouped.mean(), grouped.std(ddof=1), grouped.size()
    out = pd.DataFrame({"n": n})
    for name in ("entropy", "cross_entropy", "accuracy"):
        out[name] = mean[name]
        out[f"{name}_se"] = std[name] / np.sqrt(n)
    out["perplexity"] = np.exp(mean["ce_nats"])
    out["perplexity_se"] = out["perplexity"] * std["ce_nats"] / np.sqrt(n)
    return out


def _by_key(document: dict[str, Any]) -> dict[tuple, dict[str, Any]]:
    return {tuple(g["key"].values()): g for g in document["groups"]}


def _assert_matches(document: dict[str, Any], reference: pd.DataFrame) -> None:
    groups = _by_key(document)
    assert len(groups) == len(reference)
    for key, row in reference.iterrows():
        group = groups[key if isinstance(key, tuple) else (key,)]
        assert group["n_samples"] == row["n"]
        for name in ("entropy", "cross_entropy", "accuracy", "perplexity"):
            assert group["metrics"][name] == pytest.approx(row[name], rel=REL), name
            assert group["standard_error"][name] == pytest.approx(row[f"{name}_se"], rel=1e-7), name
        assert group["metrics"]["kl_divergence"] == group["metrics"]["cross_entropy"]


# ------------------------------------------------------------------------ references


@pytest.mark.parametrize("fmt", ["parquet", "csv", "npy-structured"])
def test_groups_match_pandas_groupby_with_standard_errors(tmp_path, fmt) -> None:
    data = _rows(1, 2_000)
    preds, labels, groups = _write(tmp_path, data, fmt)
    document = run_json("eval", preds, labels, "--groups", groups, "--group-by", "region", "--chunk-rows", 97)
    _assert_matches(document, _reference(data, ["region"]))
    assert document["group_by"] == ["region"]
    assert document["n_samples"] == sum(g["n_samples"] for g in document["groups"])


def test_crossed_groups_match_pandas_in_bits(tmp_path) -> None:
    data = _rows(2, 3_000)
    preds, labels, groups = _write(tmp_path, data)
    document = run_json(
        "eval", preds, labels, "--groups", groups, "--group-by", "region", "--group-by", "tier", "--base", "2"
    )
    _assert_matches(document, _reference(data, ["region", "tier"], base=2))
    assert all(isinstance(g["key"]["tier"], int) for g in document["groups"])


def test_group_columns_in_the_predictions_and_labels_files_are_no_classes(tmp_path) -> None:
    data = _rows(3, 800, c=3)
    preds = tmp_path / "preds.parquet"
    labels = tmp_path / "labels.csv"
    write_table(preds, {"a": data["probs"][:, 0], "region": data["region"], "b": data["probs"][:, 1],
                        "c": data["probs"][:, 2]}, "parquet")  # fmt: skip
    write_table(labels, {"label": data["labels"], "tier": data["tier"]}, "csv")
    document = run_json("eval", preds, labels, "--group-by", "region", "--group-by", "tier")
    assert document["n_classes"] == 3
    _assert_matches(document, _reference(data, ["region", "tier"]))
    plain = run_json("eval", preds, labels, "--pred-cols", "a,b,c")
    assert document["metrics"] == plain["metrics"]


def test_per_class_groups_by_the_true_class_with_its_name() -> None:
    document = run_json("eval", SAMPLE_DATA / "probs.csv", SAMPLE_DATA / "labels_names.csv", "--per-class")
    probs = pd.read_csv(SAMPLE_DATA / "probs.csv")
    names = pd.read_csv(SAMPLE_DATA / "labels_names.csv")["label"].to_numpy()
    classes = list(probs.columns)
    data = {"probs": probs.to_numpy(), "labels": np.array([classes.index(n) for n in names]), "class": names}
    _assert_matches(document, _reference(data, ["class"]))
    assert {g["key"]["class"] for g in document["groups"]} == set(classes)


def test_per_class_of_unnamed_columns_uses_class_indices(tmp_path) -> None:
    data = _rows(4, 500)
    np.save(tmp_path / "p.npy", data["probs"])
    np.save(tmp_path / "y.npy", data["labels"])
    document = run_json("eval", tmp_path / "p.npy", tmp_path / "y.npy", "--per-class")
    _assert_matches(document, _reference({**data, "class": data["labels"]}, ["class"]))


def test_ignored_rows_are_in_no_group(tmp_path) -> None:
    data = _rows(5, 600)
    data["labels"][::7] = -100
    preds, labels, groups = _write(tmp_path, data)
    document = run_json(
        "eval", preds, labels, "--groups", groups, "--group-by", "tier", "--ignore-index", "-100"
    )
    kept = data["labels"] != -100
    _assert_matches(document, _reference({k: v[kept] for k, v in data.items()}, ["tier"]))


# ----------------------------------------------------------------- the groups file


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_groups_file_of_another_row_count_names_both_files_and_counts(tmp_path, fmt) -> None:
    data = _rows(6, 300)
    preds, labels, _ = _write(tmp_path, data, fmt)
    short = tmp_path / f"short.{fmt}"
    write_table(short, {"region": data["region"][:250]}, fmt)
    result = invoke("eval", preds, labels, "--groups", short, "--group-by", "region")
    assert_bad_input(result, str(short), "250", str(preds), "300")
    long = tmp_path / f"long.{fmt}"
    write_table(long, {"region": np.concatenate([data["region"], data["region"][:5]])}, fmt)
    assert_bad_input(
        invoke("eval", preds, labels, "--groups", long, "--group-by", "region"), str(long), "305", "300"
    )


def test_group_column_errors(tmp_path) -> None:
    data = _rows(7, 50)
    preds, labels, groups = _write(tmp_path, data)
    assert_bad_input(invoke("eval", preds, labels, "--group-by", "nope"), "nope", "--groups")
    assert_bad_input(invoke("eval", preds, labels, "--groups", groups), "--group-by", groups)
    assert_bad_input(
        invoke("eval", preds, labels, "--group-by", "c0", "--pred-cols", "c0,c1,c2,c3"), "c0", "--pred-cols"
    )
    assert_bad_input(invoke("eval", preds, labels, "--sort", "accuracy"), "--group-by")
    assert_bad_input(
        invoke("eval", preds, labels, "--groups", groups, "--group-by", "region", "--sort", "entropy"),
        "--sort",
        "accuracy",
    )
    assert_bad_input(
        invoke("eval", preds, labels, "--groups", groups, "--group-by", "region", "--min-group-size", "0"),
        "--min-group-size",
    )
    nan = tmp_path / "nan.csv"
    keys = np.arange(50.0)
    keys[17] = np.nan
    write_table(nan, {"k": keys}, "csv")
    assert_bad_input(
        invoke("eval", preds, labels, "--groups", nan, "--group-by", "k"), str(nan), "17", "missing"
    )


def test_per_class_needs_class_labels(tmp_path) -> None:
    q = softmax(np.random.default_rng(0).normal(size=(20, 3)), axis=1)
    np.save(tmp_path / "p.npy", q)
    np.save(tmp_path / "t.npy", q)
    assert_bad_input(
        invoke("eval", tmp_path / "p.npy", tmp_path / "t.npy", "--per-class"), "--per-class", "distributions"
    )


# -------------------------------------------------------------- invariances, states


def _state(preds: str, labels: str, groups: str, by: tuple[str, ...], chunk_rows: int | None) -> EvalState:
    options = EvalOptions(chunk_rows=chunk_rows, group_by=by)
    return evaluate(preds, labels, options, groups_path=groups).state


def _group_numbers(state: EvalState) -> dict[tuple, tuple[int, dict[str, float], dict[str, float]]]:
    results = state.groups.compute("e", state.targets, state.settings)
    out = {}
    for g in range(state.groups.n_groups):
        key = tuple(k[g].item() for k in results.index.keys)
        out[key] = (
            int(results.n_samples[g]),
            {m: float(v[g]) for m, v in results.metrics.items()},
            {m: float(v[g]) for m, v in results.standard_error.items()},
        )
    return out


def _assert_same_groups(a: EvalState, b: EvalState) -> None:
    x, y = _group_numbers(a), _group_numbers(b)
    assert x.keys() == y.keys()
    for key in x:
        assert x[key][0] == y[key][0]
        for m in PER_ROW:
            assert x[key][1][m] == pytest.approx(y[key][1][m], rel=REL, abs=1e-15)
            assert x[key][2][m] == pytest.approx(y[key][2][m], rel=REL, nan_ok=True)


@pytest.fixture(scope="module")
def invariance_files(tmp_path_factory) -> tuple[str, str, str, dict[str, np.ndarray]]:
    folder = tmp_path_factory.mktemp("groups")
    data = _rows(8, 1_000, n_groups=30)
    return (*_write(folder, data), data)


@SETTINGS
@given(chunk_rows=st.integers(1, 1_200), crossed=st.booleans())
def test_groups_do_not_depend_on_the_chunk_size(invariance_files, chunk_rows, crossed) -> None:
    preds, labels, groups, _ = invariance_files
    by = ("region", "tier") if crossed else ("region",)
    _assert_same_groups(
        _state(preds, labels, groups, by, chunk_rows), _state(preds, labels, groups, by, None)
    )


@SETTINGS
@given(cuts=st.lists(st.integers(1, 999), min_size=1, max_size=4, unique=True), seed=st.integers(0, 2**16))
def test_merged_parts_equal_one_pass_with_groups_split_across_parts(tmp_path_factory, cuts, seed) -> None:
    data = _rows(seed, 1_000, n_groups=6)
    folder = tmp_path_factory.mktemp("parts")
    whole = _state(*_write(folder, data), ("region", "tier"), None)
    bounds = [0, *sorted(cuts), 1_000]
    parts = []
    for i, (start, stop) in enumerate(zip(bounds, bounds[1:], strict=False)):
        part = folder / f"part{i}"
        part.mkdir()
        state = _state(*_write(part, {k: v[start:stop] for k, v in data.items()}), ("region", "tier"), 7)
        parts.append(load_state(_saved(part, state)))
    merged = merge_states(parts, [str(i) for i in range(len(parts))])
    _assert_same_groups(merged, whole)
    assert merged.n_samples == whole.n_samples


def _saved(folder: Path, state: EvalState) -> str:
    path = folder / "state.json"
    path.write_text(state_text(state))
    return str(path)


def test_state_json_round_trip_is_bit_exact(tmp_path, invariance_files) -> None:
    preds, labels, groups, _ = invariance_files
    state = _state(preds, labels, groups, ("region", "tier"), 64)
    text = state_text(state)
    again = load_state(_saved(tmp_path, state))
    assert state_text(again) == text
    saved = run_json("eval", preds, labels, "--groups", groups, "--group-by", "region", "--group-by", "tier",
                     "--save-state", tmp_path / "s.json")  # fmt: skip
    merged = run_json("merge", tmp_path / "s.json")
    assert merged["groups"] == saved["groups"]


@pytest.mark.parametrize(
    "tamper, words",
    [
        (lambda g: g["statistics"]["entropy"]["n"].__setitem__(0, 1), ["groups.statistics.entropy"]),
        (lambda g: g["keys"][0].__setitem__(1, g["keys"][0][0]), ["more than once"]),
        (lambda g: g["keys"][0].__setitem__(0, 3), ["mixes key types"]),
        (lambda g: g.pop("columns"), ["columns"]),
        (lambda g: g["statistics"]["accuracy"]["sum"].__setitem__(0, 0.5), ["accuracy"]),
        (lambda g: g["statistics"].pop("entropy"), ["statistics"]),
    ],
)
def test_impossible_group_states_are_refused(tmp_path, invariance_files, tamper, words) -> None:
    preds, labels, groups, _ = invariance_files
    data = _state(preds, labels, groups, ("region",), None).to_dict()
    tamper(data["groups"])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    assert_bad_input(invoke("merge", path), str(path), "impossible state", *words)


def test_grouped_and_ungrouped_states_do_not_merge(tmp_path, invariance_files) -> None:
    preds, labels, groups, _ = invariance_files
    a = tmp_path / "a.json"
    b = tmp_path / "b.json"
    c = tmp_path / "c.json"
    invoke("eval", preds, labels, "--groups", groups, "--group-by", "region", "--save-state", a)
    invoke("eval", preds, labels, "--save-state", b)
    invoke("eval", preds, labels, "--groups", groups, "--group-by", "tier", "--save-state", c)
    assert_bad_input(invoke("merge", a, b), "grouped by region", "not grouped")
    assert_bad_input(invoke("merge", a, c), "different columns", "region vs tier")


# ------------------------------------------------------------ the report's groups


def test_groups_sorted_by_size_or_worst_first_and_top_limits_the_table(invariance_files) -> None:
    preds, labels, groups, _ = invariance_files
    args = ("eval", preds, labels, "--groups", groups, "--group-by", "region")
    sizes = [g["n_samples"] for g in run_json(*args)["groups"]]
    assert sizes == sorted(sizes, reverse=True)
    accuracy = [g["metrics"]["accuracy"] for g in run_json(*args, "--sort", "accuracy")["groups"]]
    assert accuracy == sorted(accuracy)
    ce = [
        g["metrics"]["cross_entropy"]
        for g in run_json(*args, "--sort", "cross_entropy", "--top", "3")["groups"]
    ]
    assert ce == sorted(ce, reverse=True) and len(ce) == 30
    table = invoke(*args, "--top", "3", "--sort", "accuracy").stdout
    worst = run_json(*args, "--sort", "accuracy")["groups"]
    for g in worst[:3]:
        assert f" {g['key']['region']} " in table
    assert f" {worst[3]['key']['region']} " not in table
    assert "27 more groups" in table


def test_flagged_groups_lie_entirely_on_the_worse_side(invariance_files) -> None:
    preds, labels, groups, _ = invariance_files
    document = run_json("eval", preds, labels, "--groups", groups, "--group-by", "region")
    overall = document["metrics"]
    flagged_any = False
    for g in document["groups"]:
        for name, value in g["metrics"].items():
            se = g["standard_error"][name]
            worse = {"accuracy": value + 1.96 * se < overall[name]}.get(
                name, value - 1.96 * se > overall[name]
            )
            expected = name != "entropy" and name != "target_entropy" and worse
            assert (name in g["flagged"]) == expected, (g["key"], name)
            flagged_any |= expected
    assert flagged_any  # the model is worse in some regions by construction


def test_small_groups_are_suppressed_listed_and_ignored_by_gates(tmp_path) -> None:
    rng = np.random.default_rng(9)
    n = 400
    labels = rng.integers(0, 2, n)
    probs = np.where(np.eye(2)[labels] > 0, 0.9, 0.1)
    key = np.where(np.arange(n) < 390, "big", "tiny")
    probs[390:] = 1 - probs[390:]  # the tiny group is always wrong
    write_table(tmp_path / "p.parquet", {"a": probs[:, 0], "b": probs[:, 1], "k": key}, "parquet")
    write_table(tmp_path / "y.parquet", {"label": labels}, "parquet")
    args = ("eval", tmp_path / "p.parquet", tmp_path / "y.parquet", "--group-by", "k")
    failed = run_json(*args, "--fail-if", "groups.accuracy < 0.8", code=1)
    assert failed["gates"][0]["failing"] == ["k=tiny"]
    assert failed["gates"][0]["value"] == 0.0
    passed = run_json(*args, "--fail-if", "groups.accuracy < 0.8", "--min-group-size", "11")
    assert not passed["gates"][0]["failed"] and passed["gates"][0]["failing"] == []
    assert passed["suppressed_groups"] == [{"key": {"k": "tiny"}, "n_samples": 10}]
    assert [g["key"] for g in passed["groups"]] == [{"k": "big"}]
    table = invoke(*args, "--min-group-size", "11").stdout
    assert "k=tiny (10)" in table and "suppressed" in table


def test_group_gates_are_checked_in_merge_too(tmp_path, invariance_files) -> None:
    preds, labels, groups, _ = invariance_files
    invoke(
        "eval", preds, labels, "--groups", groups, "--group-by", "region", "--save-state", tmp_path / "s.json"
    )
    document = run_json("merge", tmp_path / "s.json", "--fail-if", "groups.cross_entropy > 0", code=1)
    assert len(document["gates"][0]["failing"]) == 30
    assert_bad_input(invoke("eval", preds, labels, "--fail-if", "groups.accuracy < 0.8"), "groups.accuracy")


def test_groups_in_the_markdown_report() -> None:
    text = invoke(
        "eval", SAMPLE_DATA / "probs.parquet", SAMPLE_DATA / "labels.parquet", "--groups", SAMPLE_DATA / "groups.csv",
        "--group-by", "region", "--format", "markdown", "--min-group-size", "250",
    ).stdout  # fmt: skip
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| region | n_samples |"))
    rows = lines[lines.index(header) + 2 :]
    assert [r.split(" | ")[0] for r in rows[:2]] == ["| south", "| north"]
    assert "region=west (247)" in text and "region=east (215)" in text


# ----------------------------------------------------------------------- scale


def test_one_hundred_thousand_groups_in_one_pass(tmp_path) -> None:
    rng = np.random.default_rng(10)
    n, n_groups = 400_000, 100_000
    key = rng.permutation(np.arange(n) % n_groups) * 7 + 3  # every value, spread over the file
    labels = rng.integers(0, 3, n)
    probs = softmax(rng.normal(size=(n, 3)), axis=1)
    write_table(tmp_path / "p.parquet", {"a": probs[:, 0], "b": probs[:, 1], "c": probs[:, 2]}, "parquet")
    write_table(tmp_path / "y.parquet", {"label": labels}, "parquet")
    write_table(tmp_path / "g.parquet", {"user": key}, "parquet")
    state = evaluate(
        str(tmp_path / "p.parquet"), str(tmp_path / "y.parquet"), EvalOptions(group_by=("user",)),
        groups_path=str(tmp_path / "g.parquet"),
    ).state  # fmt: skip
    groups = state.groups
    assert groups.n_groups == n_groups
    order = np.argsort(groups.index.keys[0])
    np.testing.assert_array_equal(groups.index.keys[0][order], np.arange(n_groups) * 7 + 3)
    np.testing.assert_array_equal(groups.stats["accuracy"].n[order], np.bincount((key - 3) // 7))
    ce = -np.log(probs[np.arange(n), labels])
    sums = np.bincount((key - 3) // 7, weights=ce)
    np.testing.assert_allclose(groups.stats["cross_entropy"].total[order], sums, rtol=1e-12)
    # O(groups): a few arrays of one number per group and statistic
    sizes = sum(a.nbytes for m in groups.stats.values() for a in (m.n, m.total, m.m2))
    assert sizes <= len(groups.stats) * 3 * 8 * n_groups


# ---------------------------------------------------------------------- pieces


@pytest.mark.parametrize(
    "values",
    [
        np.array([5, 3, 5, 9, -2, 3]),
        np.array([2**40, 7, 2**40]),  # a wide range: sorted, not counted
        np.array([1.5, -0.0, 0.0, 1.5]),
        np.array(["b", "a", "b"]),
        np.array([True, False, True]),
        np.array([], dtype=np.int64),
        np.arange(10_000, dtype=np.int32)[::-1] % 999,
    ],
)
def test_factorize_is_numpy_unique(values) -> None:
    distinct, inverse = factorize(values)
    expected, expected_inverse = np.unique(values, return_inverse=True)
    np.testing.assert_array_equal(distinct, expected)
    np.testing.assert_array_equal(inverse, expected_inverse.reshape(-1))
    assert distinct.dtype == expected.dtype


def test_group_codes_grow_as_new_keys_appear_and_unite_by_key() -> None:
    from infocli.metrics.inputs import to_distributions
    from infocli.metrics.scores import score_rows

    def chunk(keys: list[Any], labels: list[int]) -> GroupState:
        q = to_distributions(np.array([[0.7, 0.3]] * len(keys)), "probs")
        return GroupState.of_rows(["k"], [np.array(keys)], score_rows(q, np.array(labels), eps=1e-12))

    state = chunk(["b", "a"], [0, 1])
    state.merge(chunk(["c", "a", "c"], [0, 0, 0]))
    assert state.index.keys[0].tolist() == ["a", "b", "c"]
    state.merge(chunk(["d"], [1]))
    assert state.index.keys[0].tolist() == ["a", "b", "c", "d"]
    assert state.stats["accuracy"].n.tolist() == [2, 1, 2, 1]
    assert state.stats["accuracy"].total.tolist() == [1, 1, 2, 0]


@SETTINGS
@given(
    batches=st.lists(
        st.tuples(st.integers(-(2**40), 2**40), st.integers(1, 50), st.integers(1, 3_000)),
        min_size=1,
        max_size=6,
    ),
    seed=st.integers(0, 2**16),
)
def test_integer_keys_get_one_code_each_in_a_table_or_by_search(batches, seed) -> None:
    # Ranges narrow and wide, near and far apart: the table of small ranges gives way to
    # the binary search and back, and every key keeps the code it was first given.
    from infocli.metrics.groups import KeyIndex

    rng = np.random.default_rng(seed)
    index = KeyIndex.empty(["k"])
    seen: dict[int, int] = {}
    for offset, n, span in batches:
        keys = np.unique(offset + rng.integers(0, span, n))
        codes = index.codes_of([keys])
        for key, code in zip(keys.tolist(), codes.tolist(), strict=True):
            assert seen.setdefault(key, len(seen)) == code
    assert index.keys[0].tolist() == list(seen)


@SETTINGS
@given(
    batches=st.lists(
        st.tuples(st.integers(0, 2**40), st.integers(0, 400), st.integers(1, 2_000)), min_size=1, max_size=6
    ),
    form=st.sampled_from(["int", "str", "dictionary", "crossed"]),
    seed=st.integers(0, 2**16),
)
def test_every_row_gets_the_code_of_its_key(batches, form, seed) -> None:
    # Rows repeat keys; the table of small integer ranges, the binary search, dictionary
    # encoded names and crossed keys all give each key one code, kept as the rows go on.
    import pyarrow as pa

    from infocli.metrics.groups import KeyIndex

    rng = np.random.default_rng(seed)
    index = KeyIndex.empty(["k", "j"] if form == "crossed" else ["k"])
    seen: dict[tuple, int] = {}
    for offset, n, span in batches:
        ints = offset + rng.integers(0, span, n)
        if form == "int":
            keys: list[Any] = [ints]
        elif form == "str":
            keys = [ints.astype(str)]
        elif form == "dictionary":
            encoded = pa.array(ints.astype(str)).dictionary_encode()
            keys = [(np.array(encoded.dictionary.to_pylist(), dtype=str), encoded.indices.to_numpy())]
        else:
            keys = [ints % 7, (ints // 7).astype(str)]
        codes = index.row_codes(keys)
        plain = (
            [ints % 7, (ints // 7).astype(str)]
            if form == "crossed"
            else [ints if form == "int" else ints.astype(str)]
        )
        for key, code in zip(zip(*(k.tolist() for k in plain), strict=True), codes.tolist(), strict=True):
            assert seen.setdefault(key, code) == code  # one code per key, kept
            assert tuple(k[code].item() for k in index.keys) == key
    assert len(set(seen.values())) == len(seen)
    assert index.n_groups == len(seen)


def test_group_spreads_are_exact_far_from_zero_and_after_an_outlier() -> None:
    # The spread is summed about each group's mean in the chunk of its first rows: a mean
    # 10^9 times the spread costs no digits, and neither does an outlier among those rows.
    # A group whose only first row is an outlier 10^5 spreads away loses a few. Against
    # exact rational arithmetic.
    from fractions import Fraction

    from infocli.metrics.scores import RowScores

    rng = np.random.default_rng(4)
    far = 1e6 + rng.normal(0, 1e-3, 3_000)
    outlier = np.concatenate([[1e4], rng.normal(1.0, 0.1, 3_000)])
    keys = np.repeat(["far", "outlier", "alone"], [len(far), len(outlier), 1])
    accumulator = GroupAccumulator(KeyIndex.empty(["k"]))
    first = [np.concatenate([far, outlier, outlier[:1]]), keys]
    accumulator.add(accumulator.index.row_codes([first[1]]), RowScores(entropy=first[0]))
    later = np.repeat(["alone"], len(outlier) - 1)
    accumulator.add(accumulator.index.row_codes([later]), RowScores(entropy=outlier[1:]))
    moments = accumulator.state().stats["entropy"]
    code = {key: i for i, key in enumerate(accumulator.index.keys[0].tolist())}
    for key, group, rel in [("far", far, 1e-14), ("outlier", outlier, 1e-14), ("alone", outlier, 1e-10)]:
        g = code[key]
        exact = [Fraction(v) for v in group.tolist()]
        mean = sum(exact) / len(exact)
        assert moments.n[g] == len(group)
        # The sum is n x shift plus the deviations': an outlier shift 2,500 means away costs
        # what adding the values one by one can cost.
        assert moments.total[g] == pytest.approx(float(sum(exact)), rel=1e-14 if rel < 1e-12 else 1e-11)
        assert moments.m2[g] == pytest.approx(float(sum((v - mean) ** 2 for v in exact)), rel=rel)


def test_a_dataset_of_shards_groups_as_one_file(tmp_path) -> None:
    data = _rows(11, 900)
    preds_dir, labels_dir = tmp_path / "preds", tmp_path / "labels"
    preds_dir.mkdir()
    labels_dir.mkdir()
    columns = {**{f"c{i}": data["probs"][:, i] for i in range(4)}, "region": data["region"]}
    for i, (start, stop) in enumerate([(0, 250), (250, 600), (600, 900)]):
        write_table(
            preds_dir / f"part-{i}.parquet", {k: v[start:stop] for k, v in columns.items()}, "parquet"
        )
        write_table(labels_dir / f"part-{i}.parquet", {"label": data["labels"][start:stop]}, "parquet")
    document = run_json("eval", preds_dir, labels_dir, "--group-by", "region")
    _assert_matches(document, _reference(data, ["region"]))
    groups = tmp_path / "g.csv"
    write_table(groups, {"region": data["region"]}, "csv")
    aside = run_json("eval", preds_dir, labels_dir, "--groups", groups, "--group-by", "region")
    _assert_matches(aside, _reference(data, ["region"]))


def test_groups_against_target_distributions_carry_every_divergence_the_run_reports(tmp_path) -> None:
    """Reverse KL, JS and the top-1 agreement per group, at a temperature with T², against
    SciPy group by group; ``groups.accuracy`` gates on the agreement, as overall."""
    rng = np.random.default_rng(17)
    n, c, t = 1_500, 4, 2.0
    z_p = rng.normal(0, 1.5, (n, c))
    z_q = 0.7 * z_p + rng.normal(0, 0.8, (n, c))
    region = rng.integers(0, 6, n)
    write_table(tmp_path / "q.parquet", {f"c{i}": z_q[:, i] for i in range(c)}, "parquet")
    write_table(tmp_path / "p.parquet", {f"c{i}": z_p[:, i] for i in range(c)}, "parquet")
    write_table(tmp_path / "g.parquet", {"region": region}, "parquet")
    args = ("eval", tmp_path / "q.parquet", tmp_path / "p.parquet", "--groups", tmp_path / "g.parquet")
    args += ("--group-by", "region", "-T", str(t), "--t2", "--js", "--chunk-rows", "111")
    document = run_json(*args)
    p, q = softmax(z_p / t, axis=1), softmax(z_q / t, axis=1)
    per_row = {
        "kl_divergence": t**2 * rel_entr(p, q).sum(axis=1),
        "reverse_kl_divergence": t**2 * rel_entr(q, p).sum(axis=1),
        "js_divergence": t**2 * jensenshannon(p, q, axis=1) ** 2,
        "top1_agreement": (p.argmax(axis=1) == q.argmax(axis=1)).astype(float),
        "cross_entropy": -(p * np.log(q)).sum(axis=1),
    }
    groups = _by_key(document)
    assert len(groups) == 6 and "accuracy" not in document["groups"][0]["metrics"]
    for g in range(6):
        rows = region == g
        group = groups[(g,)]
        assert group["n_samples"] == rows.sum()
        for name, values in per_row.items():
            assert group["metrics"][name] == pytest.approx(values[rows].mean(), rel=1e-9), name
            se = values[rows].std(ddof=1) / math.sqrt(rows.sum())
            assert group["standard_error"][name] == pytest.approx(se, rel=1e-6), name
    worst = min(document["groups"], key=lambda g: g["metrics"]["top1_agreement"])
    value = worst["metrics"]["top1_agreement"]
    failed = run_json(*args, "--fail-if", f"groups.accuracy < {value + 1e-9}", code=1)
    assert failed["gates"][0]["failing"] == [f"region={worst['key']['region']}"]
    run_json(*args, "--fail-if", f"groups.accuracy < {value - 1e-9}")
    assert run_json(*args, "--sort", "accuracy")["groups"][0]["key"] == worst["key"]


# ------------------------------------------------------------------ calibration per group


def _calibrated_run(folder: Path, data: dict[str, np.ndarray], *extra: Any, code: int = 0) -> dict[str, Any]:
    preds, labels, groups = _write(folder, data)
    args = ("eval", preds, labels, "--groups", groups, "--group-by", "region", "--calibration", *extra)
    return run_json(*args, code=code)


@pytest.mark.parametrize("bins", [4, 15])
def test_calibration_per_group_is_the_reference_group_by_group(tmp_path, bins) -> None:
    """ECE, MCE, RMSCE, the debiased l2 error, the classwise ECE, the Brier score and
    Stephenson's terms of each group, against the references of test_calibration run on
    that group's rows alone."""
    data = _rows(21, 3_000, c=4, n_groups=7)
    document = _calibrated_run(tmp_path, data, "--bins", str(bins), "--chunk-rows", "203")
    q, y = data["probs"], data["labels"]
    groups = _by_key(document)
    assert len(groups) == 7
    for key, group in groups.items():
        rows = data["region"] == key[0]
        conf, correct = q[rows].max(axis=1), q[rows].argmax(axis=1) == y[rows]
        m = group["metrics"]
        for name, value in guo_errors(conf, correct, bins).items():
            assert m[name] == pytest.approx(value, abs=1e-12), (key, name)
        assert m["debiased_l2_calibration_error"] == pytest.approx(
            kumar_debiased(conf, correct, bins), abs=1e-12
        )
        assert m["classwise_ece"] == pytest.approx(classwise_loop(q[rows], y[rows], bins), abs=1e-12)
        terms = stephenson_terms(conf, correct, bins)
        for name, term in (("reliability", "rel"), ("resolution", "res"), ("uncertainty", "unc"),
                           ("within_bin_variance", "wbv"), ("within_bin_covariance", "wbc")):  # fmt: skip
            assert m[f"brier_{name}"] == pytest.approx(terms[term], abs=1e-12), (key, name)
        brier = ((q[rows] - np.eye(4)[y[rows]]) ** 2).sum(axis=1)
        assert m["brier_score"] == pytest.approx(brier.mean(), rel=1e-12)
        assert group["standard_error"]["brier_score"] == pytest.approx(
            brier.std(ddof=1) / math.sqrt(rows.sum()), rel=1e-9
        )
        assert "ece" not in group["standard_error"]
    plain = ("--calibration", "--bins", str(bins), "--chunk-rows", "203")
    overall = run_json("eval", *_write(tmp_path, data)[:2], *plain)
    assert document["metrics"] == overall["metrics"]
    worst = max(document["groups"], key=lambda g: g["metrics"]["ece"])
    args = ("--bins", str(bins), "--chunk-rows", "203", "--sort", "ece")
    failed = _calibrated_run(
        tmp_path, data, *args, "--fail-if", f"groups.ece > {worst['metrics']['ece'] - 1e-9}", code=1
    )
    assert failed["gates"][0]["failing"] == [f"region={worst['key']['region']}"]
    assert failed["groups"][0]["key"] == worst["key"]


def test_calibration_per_group_merges_across_parts_and_round_trips(tmp_path) -> None:
    data = _rows(22, 1_200, c=3, n_groups=5)
    whole = _calibrated_run(tmp_path, data, "--save-state", tmp_path / "whole.json")
    parts = []
    for i, (start, stop) in enumerate([(0, 500), (500, 1_200)]):
        folder = tmp_path / f"part{i}"
        folder.mkdir()
        part = {k: v[start:stop] for k, v in data.items()}
        _calibrated_run(folder, part, "--save-state", folder / "s.json")
        parts.append(folder / "s.json")
    merged = run_json("merge", *parts)
    mine, theirs = _by_key(merged), _by_key(whole)
    assert mine.keys() == theirs.keys()
    for key in mine:
        for name, value in theirs[key]["metrics"].items():
            assert mine[key]["metrics"][name] == pytest.approx(value, rel=1e-12, abs=1e-15), (key, name)
    again = load_state(str(tmp_path / "whole.json"))
    assert state_text(again) == (tmp_path / "whole.json").read_text()
    text = json.loads((tmp_path / "whole.json").read_text())
    del text["groups"]["calibration"]
    (tmp_path / "bad.json").write_text(json.dumps(text))
    assert_bad_input(invoke("merge", tmp_path / "bad.json"), "groups must be an object with")


@SETTINGS
@given(seed=st.integers(0, 2**16), n=st.integers(0, 300), min_size=st.integers(1, 4))
def test_the_groups_json_is_what_json_dumps_gives_each_group(seed, n, min_size) -> None:
    # The groups are encoded column by column; each object must read as json.dumps writes it,
    # with names that hold commas, quotes and non-ASCII, numeric and boolean keys, NaN
    # standard errors (groups of one row), infinite values and the flags.
    from infocli.metrics.groups import group_report
    from infocli.metrics.inputs import to_distributions
    from infocli.metrics.scores import score_rows
    from infocli.report.documents import groups_document, to_json

    rng = np.random.default_rng(seed)
    probs = softmax(rng.normal(size=(n, 3)) * 3, axis=1)
    probs[rng.random(n) < 0.05, 0] = 0.0  # log q = -inf at some labels: infinite cross-entropy
    q = to_distributions(probs / probs.sum(axis=1, keepdims=True), "probs")
    names = np.array(["a, b", 'quo"te', "ü", "plain"])
    keys = [names[rng.integers(0, 4, n)], rng.integers(-3, 30, n), rng.random(n) < 0.5]
    scores = score_rows(q, rng.integers(0, 3, n), eps=0.0)
    state = GroupState.of_rows(["name", "number", "flag"], keys, scores)
    overall = {"cross_entropy": 1.0, "accuracy": 0.4, "entropy": 0.5}
    report = group_report(
        state.compute("e", "classes", {"temperature": 1.0}), overall, min_group_size=min_size
    )
    document = groups_document(report)
    expected = [
        {
            "key": r.key,
            "n_samples": r.n_samples,
            "metrics": r.metrics,
            "standard_error": r.standard_error,
            "flagged": r.flagged,
        }
        for r in report.rows()
    ]
    strict = json.loads(
        json.dumps(expected, allow_nan=True)
        .replace("NaN", '"nan"')
        .replace("-Infinity", '"-inf"')
        .replace("Infinity", '"inf"')
    )
    assert [json.loads(text) for text in document["groups"].items] == strict
    assert [json.loads(text) for text in document["suppressed_groups"].items] == [
        {"key": key, "n_samples": size} for key, size in report.suppressed()
    ]
    text = to_json({"a": 1, **document})
    parsed = json.loads(text)
    assert parsed["groups"] == strict
    objects = [line for line in text.splitlines() if line.startswith('    {"key": ')]  # one per line
    assert len(objects) == len(strict) + len(report.suppressed())


@pytest.mark.parametrize("sort", [None, "mce"])
def test_the_groups_table_with_calibration_keeps_the_brier_score_and_ece_and_names_the_rest(sort) -> None:
    # The other calibration metrics are in the JSON; the metric sorted by is shown too.
    extra = () if sort is None else ("--sort", sort)
    result = invoke(
        "eval", SAMPLE_DATA / "probs.parquet", SAMPLE_DATA / "labels.parquet", "--groups",
        SAMPLE_DATA / "groups.csv", "--group-by", "region", "--calibration", *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if "n_samples" in line)
    assert "brier_score" in header and "ece" in header and "cross_entropy" in header
    assert ("mce" in header.split()) == (sort == "mce")
    assert "brier_reliability" not in header
    note = next(line for line in result.stdout.splitlines() if line.startswith("Per group in the JSON"))
    assert "brier_reliability" in note and ("mce" in note.split(": ")[1].split(", ")) == (sort is None)


def test_encoded_rows_are_json_dumps_of_each_object_for_nested_shapes() -> None:
    # Columns of every kind inside dicts and lists, constants, and texts written already;
    # a bool or int column equal in value to a float one keeps its own type's text.
    from infocli.report.documents import Texts, encoded_rows

    rng = np.random.default_rng(3)
    n = 50
    low, high = rng.normal(size=n), rng.normal(size=n)
    low[3], high[4] = math.nan, math.inf
    ints, flags = rng.integers(0, 2, n), rng.random(n) < 0.5
    tree = {
        "key": {"k": np.array(["a", 'b"', "ü, c"])[rng.integers(0, 3, n)]},
        "c": [
            {
                "name": "first",
                "interval": [low, high],
                "ints": ints,
                "floats": ints.astype(float),
                "flags": flags,
            },
            {
                "name": "second",
                "flags": flags.astype(np.int64),
                "verdict": np.array(["x", "y"], dtype=object)[ints],
            },
        ],
        "done": Texts([json.dumps([i] * (i % 3)) for i in range(n)]),
    }
    expected = [json.dumps(_object_at(tree, i)) for i in range(n)]
    assert encoded_rows(tree, n) == expected
    assert encoded_rows(tree, 0) == []


def _object_at(node: Any, i: int) -> Any:
    """Object i of an encoded_rows shape, as json.dumps then takes it (NaN and inf as strings)."""
    from infocli.report.documents import Texts

    if isinstance(node, dict):
        return {k: _object_at(x, i) for k, x in node.items()}
    if isinstance(node, list):
        return [_object_at(x, i) for x in node]
    if isinstance(node, Texts):
        return json.loads(node.items[i])
    if isinstance(node, np.ndarray):
        x = node[i].item() if hasattr(node[i], "item") else node[i]
        if isinstance(x, float) and not math.isfinite(x):
            return "nan" if math.isnan(x) else "inf" if x > 0 else "-inf"
        return x
    return node
