"""Datasets of shards: directories, globs, @list files; pairing, order, schema; every bad
dataset an exit 2 that names the shard.

The property: any split of one file into shards, in any format and directory layout,
gives the one-file report within 1e-12 relative.
"""

from __future__ import annotations

import math
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infocli.evaluate import evaluate
from infocli.plan import EvalOptions

from cli_helpers import assert_bad_input, invoke, run_json
from shard_files import SHARD_FORMATS, write_shard


def _natural(name: str) -> list:
    """Natural order, written independently of infocli's: digit runs by value."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def _close(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b or abs(a - b) <= 1e-12 * max(abs(a), abs(b))


def _assert_same_report(got, want) -> None:
    """Same counts; every metric and standard error within 1e-12 relative."""
    g, w = got.state.compute("e"), want.state.compute("e")
    assert g.n_samples == w.n_samples
    assert got.state.n_ignored == want.state.n_ignored
    assert g.metrics.keys() == w.metrics.keys()
    for name in w.metrics:
        assert _close(g.metrics[name], w.metrics[name]), (name, g.metrics[name], w.metrics[name])
        assert _close(g.standard_error[name], w.standard_error[name]), name


def _data(seed: int, n: int, k: int, kind: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "probs":
        scores = rng.dirichlet(np.ones(k), n)
    else:
        scores = rng.normal(0, 2, (n, k))
    labels = rng.integers(0, k, n)
    return {f"c{j}": scores[:, j] for j in range(k)}, labels


def _layout_path(root: Path, layout: str, i: int) -> Path:
    """Where shard ``i`` goes; every layout keeps shard order in natural order."""
    if layout == "nested":
        return root / f"g{i // 4}" / f"part-{i}"
    if layout == "hive":
        return root / f"split=s{i // 4}" / f"part-{i}"
    return root / f"part-{i}"


def _cut(columns: dict[str, np.ndarray], cuts: list[int]) -> list[dict[str, np.ndarray]]:
    n = len(next(iter(columns.values())))
    edges = [0, *cuts, n]
    return [{name: v[a:b] for name, v in columns.items()} for a, b in zip(edges, edges[1:], strict=False)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 40),
    k=st.integers(2, 4),
    kind=st.sampled_from(["probs", "logits"]),
    cuts=st.lists(st.floats(0, 1), max_size=12),
    fmt=st.sampled_from(SHARD_FORMATS),
    layout=st.sampled_from(["flat", "nested", "hive", "glob", "list"]),
    labels_mode=st.sampled_from(["column", "paired", "single"]),
    label_fmt=st.sampled_from(["parquet", "csv", "npy", "jsonl"]),
)
def test_any_split_of_a_file_gives_its_report(
    tmp_path_factory, seed, n, k, kind, cuts, fmt, layout, labels_mode, label_fmt
):
    columns, labels = _data(seed, n, k, kind)
    root = tmp_path_factory.mktemp("split")
    one = root / "one.parquet"
    pq.write_table(pa.table({**columns, "label": labels}), one)
    # A row or two of logits can pass for probabilities: their kind is given (the kind
    # detected by the first shard is tested on its own).
    options = EvalOptions(kind="logits" if kind == "logits" else "auto")
    want = evaluate(str(one), None, options)

    # pyarrow writes no header for a CSV of no rows, and a JSON Lines file of no lines has
    # no columns: those shards hold a row at least.
    text = ("jsonl", "jsonl.gz", "ndjson", "csv", "csv.gz", "tsv")
    least = 1 if fmt in text or (labels_mode == "paired" and label_fmt in text) else 0
    points = sorted({int(c * n) for c in cuts})
    points = [p for p in points if p >= least and p <= n - least]
    points = [p for i, p in enumerate(points) if not least or i == 0 or p > points[i - 1]]
    with_label = {**columns, "label": labels} if labels_mode == "column" else columns
    parts = _cut(with_label, points)
    label_parts = _cut({"label": labels}, points)
    preds_dir, labels_dir = root / "preds", root / "labels"
    written = []
    for i, part in enumerate(parts):
        written.append(write_shard(_layout_path(preds_dir, layout, i), part, fmt))
        if labels_mode == "paired":
            write_shard(_layout_path(labels_dir, layout, i), label_parts[i], label_fmt)
    spec = str(preds_dir)
    if layout == "glob":
        spec = str(preds_dir / "*") if fmt != "arrow-file" else str(preds_dir / "*.arrow")
    elif layout == "list":
        listing = root / "shards.txt"
        names = [str(p.relative_to(root)) for p in written]
        listing.write_text("".join(f"{name}\n" for name in reversed(names)))  # order comes from the names
        spec = "@" + str(listing)
    label_spec = None
    if labels_mode == "paired":
        label_spec = str(labels_dir)
    elif labels_mode == "single":
        label_spec = str(write_shard(root / "all_labels", {"label": labels}, label_fmt))
    if labels_mode == "paired" and layout == "list":
        label_spec = str(labels_dir)
    got = evaluate(spec, label_spec, options)
    _assert_same_report(got, want)
    assert got.state.inputs[0]["predictions"]["path"] == spec


def test_shards_are_read_in_natural_order_numbers_by_value(tmp_path):
    """part-2 before part-10: with one labels file the rows would misalign otherwise."""
    columns, labels = _data(1, 33, 3, "probs")
    parts = _cut(columns, [3 * i for i in range(1, 11)])
    for i, part in enumerate(parts):
        write_shard(tmp_path / "preds" / f"part-{i}", part, "parquet")
    assert sorted(os.listdir(tmp_path / "preds"), key=_natural) != sorted(os.listdir(tmp_path / "preds"))
    np.save(tmp_path / "labels.npy", labels)
    pq.write_table(pa.table({**columns, "label": labels}), tmp_path / "one.parquet")
    got = run_json("eval", tmp_path / "preds", tmp_path / "labels.npy")
    want = run_json("eval", tmp_path / "one.parquet")
    assert got["n_samples"] == 33
    for name, value in want["metrics"].items():
        assert _close(got["metrics"][name], value), name


def test_paired_shards_pair_by_relative_path_with_the_extension_aside(tmp_path):
    columns, labels = _data(2, 20, 3, "logits")
    parts, label_parts = _cut(columns, [5, 12]), _cut({"label": labels}, [5, 12])
    names = ["a/part-7", "a/part-10", "b/part-1"]  # natural order: a/part-7, a/part-10, b/part-1
    for name, part, label in zip(names, parts, label_parts, strict=True):
        write_shard(tmp_path / "preds" / name, part, "parquet")
        write_shard(tmp_path / "labels" / name, label, "csv")
    pq.write_table(pa.table({**columns, "label": labels}), tmp_path / "one.parquet")
    got = evaluate(str(tmp_path / "preds"), str(tmp_path / "labels"), EvalOptions())
    _assert_same_report(got, evaluate(str(tmp_path / "one.parquet"), None, EvalOptions()))


def _three_shards(tmp_path: Path, fmt: str = "parquet", labels_fmt: str | None = "parquet") -> np.ndarray:
    columns, labels = _data(3, 30, 3, "probs")
    for i, (part, label) in enumerate(
        zip(_cut(columns, [10, 20]), _cut({"label": labels}, [10, 20]), strict=True)
    ):
        write_shard(tmp_path / "preds" / f"part-{i}", part, fmt)
        if labels_fmt is not None:
            write_shard(tmp_path / "labels" / f"part-{i}", label, labels_fmt)
    return labels


def test_an_unpaired_shard_is_named_with_both_counts(tmp_path):
    _three_shards(tmp_path)
    (tmp_path / "labels" / "part-1.parquet").rename(tmp_path / "labels" / "part-9.parquet")
    line = assert_bad_input(invoke("eval", tmp_path / "preds", tmp_path / "labels"), "part-1.parquet")
    assert "no LABELS shard" in line and "3 shard(s)" in line


def test_a_labels_shard_without_predictions_is_named(tmp_path):
    _three_shards(tmp_path)
    write_shard(tmp_path / "labels" / "part-3", {"label": np.zeros(4, dtype=np.int64)}, "parquet")
    line = assert_bad_input(invoke("eval", tmp_path / "preds", tmp_path / "labels"), "part-3.parquet")
    assert "no PREDS shard" in line and "has 3 shard(s)" in line and " 4" in line


@pytest.mark.parametrize("labels_fmt", ["parquet", "csv"])  # counts from the footer, or found reading
def test_unequal_rows_name_the_shards_and_both_counts(tmp_path, labels_fmt):
    _three_shards(tmp_path, labels_fmt=labels_fmt)
    write_shard(tmp_path / "labels" / "part-1", {"label": np.zeros(9, dtype=np.int64)}, labels_fmt)
    result = invoke("eval", tmp_path / "preds", tmp_path / "labels")
    line = assert_bad_input(result, "part-1.", "9 rows", "10")
    assert "part-0" not in line and "part-2" not in line


@pytest.mark.parametrize(
    ("columns", "difference"),
    [
        ({"c0": np.ones(10) / 2, "c1": np.ones(10) / 2}, "no column 'c2'"),
        ({"c0": np.ones(10) / 3, "c2": np.ones(10) / 3, "c1": np.ones(10) / 3}, "another order"),
        ({"c0": np.ones(10) / 3, "c1": np.ones(10) / 3, "cX": np.ones(10) / 3}, "'cX' not in it"),
        ({"c0": np.ones(10) / 3, "c1": np.ones(10) / 3, "c2": np.array(["a"] * 10)}, "column 'c2' is string"),
    ],
)
def test_a_shard_of_another_schema_is_named_with_the_difference(tmp_path, columns, difference):
    _three_shards(tmp_path, labels_fmt=None)
    write_shard(tmp_path / "preds" / "part-1", columns, "parquet")
    result = invoke("eval", tmp_path / "preds")
    line = assert_bad_input(result, "part-1.parquet", difference, "first shard")
    assert "part-0.parquet" in line  # the shard it differs from


def test_float_widths_may_differ_between_shards(tmp_path):
    columns, labels = _data(4, 20, 3, "probs")
    a, b = _cut({**columns, "label": labels}, [10])
    write_shard(tmp_path / "preds" / "part-0", a, "parquet")
    write_shard(tmp_path / "preds" / "part-1", {**{c: v.astype(np.float32) for c, v in b.items() if c != "label"}, "label": b["label"]}, "parquet")  # fmt: skip
    got = run_json("eval", tmp_path / "preds")
    assert got["n_samples"] == 20


def test_an_empty_directory_is_named(tmp_path):
    (tmp_path / "preds").mkdir()
    assert_bad_input(invoke("eval", tmp_path / "preds"), str(tmp_path / "preds"), "without a file")


def test_a_directory_of_other_files_only_counts_them(tmp_path):
    (tmp_path / "preds").mkdir()
    (tmp_path / "preds" / "state.json").write_text("{}")
    (tmp_path / "preds" / "dataset_info.json").write_text("{}")
    assert_bad_input(invoke("eval", tmp_path / "preds"), "2 of other kinds", "dataset_info.json")


def test_a_glob_matching_nothing_is_named(tmp_path):
    _three_shards(tmp_path)
    pattern = str(tmp_path / "preds" / "*.csv")
    assert_bad_input(invoke("eval", pattern), pattern, "no file matches it as a pattern")


@pytest.mark.parametrize("fmt", ["parquet", "arrow-file", "npy"])
def test_a_corrupt_shard_among_good_ones_is_named(tmp_path, fmt):
    _three_shards(tmp_path, fmt=fmt, labels_fmt=None)
    bad = next((tmp_path / "preds").glob("part-1.*"))
    bad.write_bytes(bad.read_bytes()[: len(bad.read_bytes()) // 2])
    line = assert_bad_input(invoke("eval", tmp_path / "preds"), bad.name)
    assert "part-0" not in line


def test_a_bad_row_names_the_shard_and_its_own_row(tmp_path):
    columns, labels = _data(5, 30, 3, "probs")
    columns["c1"][23] = -0.5  # row 3 of the third shard
    for i, part in enumerate(_cut({**columns, "label": labels}, [10, 20])):
        write_shard(tmp_path / "preds" / f"part-{i}", part, "parquet")
    line = assert_bad_input(
        invoke("eval", tmp_path / "preds"), f"{tmp_path / 'preds' / 'part-2.parquet'}: row 3:"
    )
    assert "negative" in line or "-0.5" in line


def test_a_bad_label_in_a_single_labels_file_names_its_own_row(tmp_path):
    _three_shards(tmp_path, labels_fmt=None)
    labels = np.zeros(30, dtype=np.int64)
    labels[25] = 7
    np.save(tmp_path / "labels.npy", labels)
    assert_bad_input(invoke("eval", tmp_path / "preds", tmp_path / "labels.npy"), "labels.npy: row 25:")


@pytest.mark.parametrize(("n", "words"), [(29, ["29 rows", "30"]), (31, ["31 rows", "30"])])
def test_a_single_labels_file_of_another_length_is_refused(tmp_path, n, words):
    _three_shards(tmp_path, labels_fmt=None)
    write_shard(tmp_path / "labels", {"label": np.zeros(n, dtype=np.int64)}, "csv")  # counted as read
    assert_bad_input(invoke("eval", tmp_path / "preds", tmp_path / "labels.csv"), "labels.csv", *words)


def test_one_format_a_directory(tmp_path):
    _three_shards(tmp_path, labels_fmt=None)
    write_shard(tmp_path / "preds" / "part-3", {"c0": np.ones(2)}, "csv")
    assert_bad_input(invoke("eval", tmp_path / "preds"), "2 formats", "parquet", "csv")


def test_hidden_and_underscore_files_are_skipped_and_others_noted(tmp_path):
    _three_shards(tmp_path)
    preds = tmp_path / "preds"
    (preds / ".part-9.parquet").write_bytes(b"not parquet")
    (preds / "_temporary").mkdir()
    (preds / "_temporary" / "part-8.parquet").write_bytes(b"not parquet")
    (preds / "_SUCCESS").write_bytes(b"")
    (preds / "state.json").write_text("{}")
    result = invoke("eval", preds, tmp_path / "labels")
    assert result.exit_code == 0, result.stderr
    assert "1 file(s) of other kinds skipped (state.json)" in result.stderr
    assert run_json("eval", preds, tmp_path / "labels")["n_samples"] == 30


def test_hive_partitions_are_columns_never_classes(tmp_path):
    columns, labels = _data(6, 24, 3, "probs")
    for i, part in enumerate(_cut({**columns, "label": labels}, [8, 16])):
        write_shard(tmp_path / "preds" / f"split=s{i}" / "part-0", part, "parquet")
    pq.write_table(pa.table({**columns, "label": labels}), tmp_path / "one.parquet")
    got = run_json("eval", tmp_path / "preds")
    assert got["n_classes"] == 3
    assert got["n_samples"] == 24
    want = run_json("eval", tmp_path / "one.parquet")
    for name, value in want["metrics"].items():
        assert _close(got["metrics"][name], value), name


def test_a_hive_partition_can_be_read_by_name(tmp_path):
    """The partition of each folder serves as the sequence id of its tokens."""
    rng = np.random.default_rng(7)
    logprobs = -rng.exponential(size=30)
    for i, part in enumerate(_cut({"logprob": logprobs}, [10, 20])):
        write_shard(tmp_path / "tokens" / f"doc=d{i}" / "part-0", part, "parquet")
    got = run_json("perplexity", tmp_path / "tokens", "--seq-col", "doc", "--top", "3")
    assert got["n_sequences"] == 3
    worst = {row["sequence"]: row["cross_entropy"] for row in got["worst_sequences"]}
    assert worst.keys() == {"d0", "d1", "d2"}
    for i in range(3):
        assert worst[f"d{i}"] == pytest.approx(-logprobs[10 * i : 10 * i + 10].mean(), rel=1e-12)


def test_a_list_file_names_shards_relative_to_itself(tmp_path):
    _three_shards(tmp_path)
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "preds.txt").write_text(
        "../preds/part-2.parquet\n\n../preds/part-0.parquet\n../preds/part-1.parquet\n"
    )
    (tmp_path / "lists" / "labels.txt").write_text(
        "../labels/part-0.parquet\n../labels/part-1.parquet\n../labels/part-2.parquet\n"
    )
    got = run_json(
        "eval", "@" + str(tmp_path / "lists" / "preds.txt"), "@" + str(tmp_path / "lists" / "labels.txt")
    )
    want = run_json("eval", tmp_path / "preds", tmp_path / "labels")
    assert got["metrics"] == want["metrics"]


def test_a_list_file_naming_a_missing_file_is_named(tmp_path):
    (tmp_path / "list.txt").write_text("nothere.parquet\n")
    assert_bad_input(invoke("eval", "@" + str(tmp_path / "list.txt")), "list.txt", "nothere.parquet")


def test_file_uris_are_datasets(tmp_path):
    _three_shards(tmp_path)
    got = run_json("eval", (tmp_path / "preds").as_uri(), (tmp_path / "labels").as_uri())
    want = run_json("eval", tmp_path / "preds", tmp_path / "labels")
    assert got["metrics"] == want["metrics"]
    assert got["predictions"]["path"] == (tmp_path / "preds").as_uri()


def test_labels_dataset_against_one_predictions_file_is_refused(tmp_path):
    _three_shards(tmp_path)
    write_shard(tmp_path / "one", {"c0": np.ones(3) / 2, "c1": np.ones(3) / 2}, "parquet")
    assert_bad_input(invoke("eval", tmp_path / "one.parquet", tmp_path / "labels"), "LABELS is a dataset")


def test_the_kind_is_settled_by_the_first_shard_with_rows(tmp_path):
    """An empty first shard decides nothing: the logits of the next are read as logits."""
    columns, labels = _data(8, 20, 3, "logits")
    parts = _cut({**columns, "label": labels}, [0, 10])
    for i, part in enumerate(parts):
        write_shard(tmp_path / "preds" / f"part-{i}", part, "parquet")
    pq.write_table(pa.table({**columns, "label": labels}), tmp_path / "one.parquet")
    got = evaluate(str(tmp_path / "preds"), None, EvalOptions())
    _assert_same_report(got, evaluate(str(tmp_path / "one.parquet"), None, EvalOptions()))
    assert got.state.settings["kind"] == "logits"
    assert got.state.inputs[0]["predictions"] == {
        "path": str(tmp_path / "preds"),
        "format": "parquet",
        "kind": "logits",
    }


def test_ignored_rows_are_counted_across_shards(tmp_path):
    columns, labels = _data(9, 30, 3, "probs")
    labels[:10] = -100  # the whole first shard
    labels[15] = -100
    for i, part in enumerate(_cut({**columns, "label": labels}, [10, 20])):
        write_shard(tmp_path / "preds" / f"part-{i}", part, "csv")
    pq.write_table(pa.table({**columns, "label": labels}), tmp_path / "one.parquet")
    options = EvalOptions(ignore_index=-100)
    got = evaluate(str(tmp_path / "preds"), None, options)
    _assert_same_report(got, evaluate(str(tmp_path / "one.parquet"), None, options))
    assert got.state.n_ignored == 11


def test_perplexity_of_a_dataset_is_that_of_one_file(tmp_path):
    rng = np.random.default_rng(10)
    logprobs = -rng.exponential(size=50)
    seq = rng.integers(0, 6, 50)
    for i, part in enumerate(_cut({"logprob": logprobs, "seq": seq}, [7, 30, 31])):
        write_shard(tmp_path / "tokens" / f"part-{i}", part, "jsonl")
    pq.write_table(pa.table({"logprob": logprobs, "seq": seq}), tmp_path / "one.parquet")
    got = run_json("perplexity", tmp_path / "tokens", "--seq-col", "seq")
    want = run_json("perplexity", tmp_path / "one.parquet", "--seq-col", "seq")
    for name, value in want["metrics"].items():
        assert _close(got["metrics"][name], value), name
    assert got["tokens"]["path"] == str(tmp_path / "tokens")


def test_trend_takes_a_dataset_per_checkpoint(tmp_path):
    columns, labels = _data(11, 20, 3, "logits")
    for step in (100, 200):
        for i, part in enumerate(_cut(columns, [10])):
            scaled = {c: v * step / 100 for c, v in part.items()}
            write_shard(tmp_path / f"step_{step}" / f"part-{i}", scaled, "parquet")
    np.save(tmp_path / "labels.npy", labels)
    got = run_json("trend", tmp_path / "step_100", tmp_path / "step_200", "--labels", tmp_path / "labels.npy")
    assert [row["step"] for row in got["checkpoints"]] == [100, 200]
    assert [row["path"] for row in got["checkpoints"]] == [
        str(tmp_path / "step_100"),
        str(tmp_path / "step_200"),
    ]


def test_the_help_states_the_dataset_rules():
    text = " ".join(invoke("eval", "--help").stdout.split())
    for words in ("natural order", "relative path", "AWS_ENDPOINT_URL", "@list.txt", "never classes"):
        assert words in text, words


def test_a_dataset_copied_elsewhere_reads_the_same(tmp_path):
    """Paths are made absolute: a dataset named relative to the working directory."""
    _three_shards(tmp_path)
    want = run_json("eval", tmp_path / "preds", tmp_path / "labels")
    shutil.copytree(tmp_path / "preds", tmp_path / "copy")
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        got = run_json("eval", "copy", "labels")
    finally:
        os.chdir(cwd)
    assert got["metrics"] == want["metrics"]
    assert got["predictions"]["path"] == "copy"


def test_the_readme_sharded_sample_data_reads_as_the_sample_data(tmp_path):
    """Every dataset command of the README, on the copy sample_data/shard.py writes."""
    import runpy

    from .conftest import SAMPLE_DATA

    runpy.run_path(str(SAMPLE_DATA / "shard.py"), run_name="shard")["main"](tmp_path)
    s = str(tmp_path)
    want = run_json("eval", SAMPLE_DATA / "probs.parquet", SAMPLE_DATA / "labels.parquet")
    runs = [
        ("eval", f"{s}/preds", f"{s}/labels"),
        ("eval", f"{s}/preds/*/*.parquet", SAMPLE_DATA / "labels.parquet"),
        ("eval", f"@{s}/preds.txt", SAMPLE_DATA / "labels.parquet"),
        ("eval", f"{s}/hf"),
        ("eval", f"{s}/samples.jsonl", "--pred-cols", "probs"),
    ]
    for args in runs:
        got = run_json(*args)
        assert got["n_samples"] == 1000, args
        for name, value in want["metrics"].items():
            assert _close(got["metrics"][name], value), (args, name)
    npz = run_json("eval", f"{s}/run.npz", f"{s}/run.npz", "--npz-key", "logits", "--label-npz-key", "labels")
    assert (
        npz["metrics"] == run_json("eval", SAMPLE_DATA / "logits.npy", SAMPLE_DATA / "labels.npy")["metrics"]
    )
    args = ["--seq-col", "seq", "--mask-col", "mask", "--bytes-col", "bytes"]
    tokens = run_json("perplexity", f"{s}/tokens", *args)
    single = run_json("perplexity", SAMPLE_DATA / "tokens.parquet", *args)
    for name, value in single["metrics"].items():
        assert _close(tokens["metrics"][name], value), name
    assert tokens["n_sequences"] == single["n_sequences"] == 200


def test_a_gate_the_dataset_cannot_report_is_refused_before_reading(tmp_path):
    _three_shards(tmp_path, labels_fmt=None)
    bad = tmp_path / "preds" / "part-1.parquet"
    bad.write_bytes(b"PAR1 not read")  # reading it would fail: the gate is judged first
    result = invoke("eval", tmp_path / "preds", "--fail-if", "cross_entropy > 1")
    assert_bad_input(result, "cross_entropy", "without labels")


def test_the_state_of_a_dataset_merges_as_one_file(tmp_path):
    _three_shards(tmp_path)
    state = tmp_path / "state.json"
    got = run_json("eval", tmp_path / "preds", tmp_path / "labels", "--save-state", state)
    merged = run_json("merge", state)
    assert merged["metrics"] == got["metrics"]
    assert merged["predictions"]["path"] == str(tmp_path / "preds")


@pytest.mark.parametrize("labels_fmt", ["csv", "parquet"])
def test_shards_scored_apart_from_what_pickles_merge_to_the_dataset(tmp_path, labels_fmt):
    """What another process needs of a shard (the shard, the settled kinds, the first
    shard's columns, the options) pickles; the states merge to the dataset's report."""
    import pickle

    from infocli.datasets import evaluate_shard
    from infocli.readers.dataset import shards, shared_files

    columns, labels = _data(12, 30, 3, "logits")
    for i, part in enumerate(_cut(columns, [10, 20])):
        write_shard(tmp_path / "preds" / f"part-{i}", part, "csv")
    label_file = write_shard(tmp_path / "labels", {"label": labels}, labels_fmt)
    options = EvalOptions()
    found = shards(str(tmp_path / "preds"), str(label_file))
    assert shared_files(found) == ("labels",) and [s.label_offset for s in found] == [0, 10, 20]
    first, schema = evaluate_shard(found[0], options, shared=("labels",))
    state = first.state
    for shard in found[1:]:
        args = pickle.loads(pickle.dumps((shard, options, first.decided, schema)))
        evaluation, _ = evaluate_shard(*args[:3], schema=args[3], shared=("labels",))
        state.merge(evaluation.state)
    want = evaluate(str(tmp_path / "preds"), str(label_file), options)
    assert state.compute("e").metrics == pytest.approx(want.state.compute("e").metrics, rel=1e-12)
    assert state.n_samples == 30
