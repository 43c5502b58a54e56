"""A shard whose every row is ignored (or every token masked) still saves its state, so a
sharded run merges to the one-file report; alone, such an input stays an error.

The reference is infocli's own one-file run of the concatenated input, whose numbers are
checked against SciPy and scikit-learn elsewhere; here the point is the merge.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cli_helpers import assert_bad_input, invoke, run_json

IGNORE = -100


@pytest.fixture
def shards(tmp_path):
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(3), size=12)
    labels = rng.integers(0, 3, size=12)
    labels[:5] = IGNORE  # the first shard is padding only
    paths = {}
    for name, rows in (("all", slice(0, 12)), ("a", slice(0, 5)), ("b", slice(5, 12))):
        np.save(tmp_path / f"p_{name}.npy", probs[rows])
        np.save(tmp_path / f"y_{name}.npy", labels[rows])
        paths[name] = (tmp_path / f"p_{name}.npy", tmp_path / f"y_{name}.npy")
    return tmp_path, paths


def test_a_shard_of_ignored_rows_saves_its_state_and_merges_to_the_whole(shards):
    folder, paths = shards
    whole = run_json("eval", *paths["all"], "--ignore-index", IGNORE)
    empty = run_json("eval", *paths["a"], "--ignore-index", IGNORE, "--save-state", folder / "a.json")
    assert empty["n_samples"] == 0 and empty["n_ignored"] == 5
    assert any("no rows to score" in w for w in empty["warnings"])
    run_json("eval", *paths["b"], "--ignore-index", IGNORE, "--save-state", folder / "b.json")
    merged = run_json("merge", folder / "a.json", folder / "b.json")
    assert (merged["n_samples"], merged["n_ignored"]) == (whole["n_samples"], whole["n_ignored"])
    for name, value in whole["metrics"].items():
        assert merged["metrics"][name] == pytest.approx(value, rel=1e-12)


def test_an_input_of_ignored_rows_is_still_an_error_without_save_state(shards):
    _, paths = shards
    assert_bad_input(invoke("eval", *paths["a"], "--ignore-index", IGNORE), "y_a.npy", "--save-state")


def test_merging_only_empty_states_is_an_error(shards):
    folder, paths = shards
    run_json("eval", *paths["a"], "--ignore-index", IGNORE, "--save-state", folder / "a.json")
    assert_bad_input(invoke("merge", folder / "a.json"), "a.json", "no rows to score")


def test_a_shard_of_masked_tokens_saves_its_state_and_merges_to_the_whole(tmp_path):
    logprob = np.log(np.array([0.5, 0.25, 0.1, 0.9, 0.3, 0.6]))
    mask = np.array([0, 0, 1, 1, 1, 1])
    seq = np.array([1, 1, 2, 2, 3, 3])
    for name, rows in (("all", slice(0, 6)), ("a", slice(0, 2)), ("b", slice(2, 6))):
        table = pa.table({"logprob": logprob[rows], "mask": mask[rows], "seq": seq[rows]})
        pq.write_table(table, tmp_path / f"t_{name}.parquet")
    args = ("--seq-col", "seq", "--mask-col", "mask")
    whole = run_json("perplexity", tmp_path / "t_all.parquet", *args)
    assert_bad_input(invoke("perplexity", tmp_path / "t_a.parquet", *args), "t_a.parquet", "masked")
    for name in ("a", "b"):
        run_json(
            "perplexity", tmp_path / f"t_{name}.parquet", *args, "--save-state", tmp_path / f"{name}.json"
        )
    merged = run_json("merge", tmp_path / "a.json", tmp_path / "b.json")
    assert (merged["n_tokens"], merged["n_masked"], merged["n_sequences"]) == (
        whole["n_tokens"],
        whole["n_masked"],
        whole["n_sequences"],
    )
    for name, value in whole["metrics"].items():
        assert merged["metrics"][name] == pytest.approx(value, rel=1e-12)
