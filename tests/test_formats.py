"""The formats read wherever a file is read: Arrow IPC files and streams, JSON Lines, .npz.

Each gives the report of the same rows in Parquet; each bad file is an exit 2 naming it
(and the line, for JSON Lines).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from infocli.readers import jsonl

from .conftest import SAMPLE_DATA
from cli_helpers import assert_bad_input, invoke, run_json
from shard_files import write_shard

PROBS = pq.read_table(SAMPLE_DATA / "probs.parquet")
LABELS = pq.read_table(SAMPLE_DATA / "labels.parquet")


def _reference() -> dict:
    return run_json("eval", SAMPLE_DATA / "probs.parquet", SAMPLE_DATA / "labels.parquet")


def _same_numbers(got: dict, want: dict) -> None:
    assert got["n_samples"] == want["n_samples"]
    assert got["metrics"] == pytest.approx(want["metrics"], rel=1e-12)
    assert got["standard_error"] == pytest.approx(want["standard_error"], rel=1e-12)


def _columns(table: pa.Table) -> dict[str, np.ndarray]:
    return {name: table.column(name).to_numpy() for name in table.column_names}


@pytest.mark.parametrize("fmt", ["arrow-file", "arrow-stream", "feather"])
def test_arrow_ipc_files_and_streams_read_as_parquet_does(tmp_path, fmt):
    preds = write_shard(tmp_path / "probs", _columns(PROBS), fmt, batch_rows=1000)
    labels = write_shard(tmp_path / "labels", _columns(LABELS), fmt, batch_rows=333)
    got = run_json("eval", preds, labels)
    _same_numbers(got, _reference())
    assert got["predictions"]["format"] == "arrow"


@pytest.mark.parametrize("name", ["probs.ipc", "probs.ARROW"])
def test_the_ipc_form_is_told_by_its_bytes_not_its_name(tmp_path, name):
    stream = write_shard(tmp_path / "s", _columns(PROBS), "arrow-stream")
    target = tmp_path / name
    stream.rename(target)
    _same_numbers(run_json("eval", target, SAMPLE_DATA / "labels.parquet"), _reference())


def test_a_hugging_face_folder_of_arrow_streams_is_a_dataset(tmp_path):
    """``save_to_disk`` writes data-0000N-of-0000M.arrow streams beside two JSON files."""
    table = PROBS.append_column("label", LABELS.column("label"))
    folder = tmp_path / "hf" / "test"
    halves = [table.slice(0, 700), table.slice(700)]
    for i, half in enumerate(halves):
        write_shard(folder / f"data-{i:05d}-of-00002", _columns(half), "arrow-stream", batch_rows=1000)
    (folder / "state.json").write_text(json.dumps({"_data_files": []}))
    (folder / "dataset_info.json").write_text("{}")
    result = invoke("eval", tmp_path / "hf", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "2 file(s) of other kinds skipped" in result.stderr
    _same_numbers(json.loads(result.stdout), _reference())


def test_feather_version_1_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "old.feather"
    feather.write_feather(PROBS.to_pandas(), path, version=1)
    assert_bad_input(invoke("eval", path), str(path), "Feather version 1", "write_feather")


@pytest.mark.parametrize("fmt", ["arrow-file", "arrow-stream"])
def test_a_truncated_ipc_file_is_named(tmp_path, fmt):
    path = write_shard(tmp_path / "cut", _columns(PROBS), fmt, batch_rows=100)
    path.write_bytes(path.read_bytes()[:5000])
    result = invoke("eval", path, SAMPLE_DATA / "labels.parquet")
    assert_bad_input(result, str(path))


def test_arrow_list_columns_are_prediction_vectors(tmp_path):
    matrix = np.stack([PROBS.column(c).to_numpy() for c in PROBS.column_names], axis=1)
    path = write_shard(tmp_path / "lists", {"probs": matrix}, "arrow-stream", batch_rows=64)
    got = run_json("eval", path, SAMPLE_DATA / "labels.parquet")
    want = _reference()
    assert got["metrics"] == pytest.approx(want["metrics"], rel=1e-12)


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "ndjson"])
def test_json_lines_read_as_parquet_does(tmp_path, fmt):
    preds = write_shard(tmp_path / "probs", _columns(PROBS), fmt)
    labels = write_shard(tmp_path / "labels", _columns(LABELS), fmt)
    got = run_json("eval", preds, labels)
    _same_numbers(got, _reference())
    assert got["predictions"]["format"] == "jsonl"


def test_json_list_fields_are_prediction_vectors(tmp_path):
    """As lm-evaluation-harness logs them: one object a line, a list of scores in it."""
    matrix = np.stack([PROBS.column(c).to_numpy() for c in PROBS.column_names], axis=1)
    labels = LABELS.column("label").to_numpy()
    lines = [json.dumps({"doc_id": i, "probs": row.tolist(), "label": int(y)}) for i, (row, y) in enumerate(zip(matrix, labels, strict=True))]  # fmt: skip
    path = tmp_path / "samples.jsonl"
    path.write_text("\n".join(lines) + "\n")
    got = run_json("eval", path, "--pred-cols", "probs")
    want = _reference()
    assert got["metrics"] == pytest.approx(want["metrics"], rel=1e-12)


def test_whole_numbers_then_fractions_in_a_prediction_column(tmp_path, monkeypatch):
    """The first block's whole numbers do not make the column integers for the rest."""
    monkeypatch.setattr(jsonl, "BLOCK_BYTES", 256)
    rows = [{"c0": 1, "c1": 0, "label": 0}] * 20 + [{"c0": 0.25, "c1": 0.75, "label": 1}] * 20
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    got = run_json("eval", path)
    assert got["n_samples"] == 40
    assert got["metrics"]["cross_entropy"] == pytest.approx(-np.log(0.75) / 2, rel=1e-12)


@pytest.mark.parametrize("gzipped", [False, True])
def test_a_malformed_line_anywhere_is_named_by_its_line(tmp_path, gzipped):
    """Past the first block too: 9 MiB of lines, the bad one near the end (1-based, as editors count)."""
    good = json.dumps({"c0": 0.25, "c1": 0.75, "label": 1}) + "\n"
    n = (9 << 20) // len(good)
    bad_line = n - 3
    text = good * (bad_line - 1) + '{"c0": 0.25, "c1": 0.75, "label": 1\n' + good * 3
    path = tmp_path / ("big.jsonl.gz" if gzipped else "big.jsonl")
    path.write_bytes(gzip.compress(text.encode(), compresslevel=1) if gzipped else text.encode())
    assert bad_line * len(good) > jsonl.BLOCK_BYTES
    assert_bad_input(invoke("eval", path), f"{path}: line {bad_line}:", "malformed JSON")


def test_blank_lines_count_as_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(jsonl, "BLOCK_BYTES", 128)
    good = json.dumps({"c0": 0.5, "c1": 0.5}) + "\n"
    path = tmp_path / "blank.jsonl"
    path.write_text(good * 5 + "\n\n" + good * 5 + "[0.5, 0.5]\n" + good)
    assert_bad_input(invoke("eval", path), f"{path}: line 13:", "expected a JSON object")


def test_a_fraction_in_a_label_field_is_named_by_its_line(tmp_path, monkeypatch):
    monkeypatch.setattr(jsonl, "BLOCK_BYTES", 128)
    rows = [{"c0": 0.5, "c1": 0.5, "label": 1}] * 30
    path = tmp_path / "labels.jsonl"
    text = "".join(json.dumps(r) + "\n" for r in rows[:20]) + '{"c0": 0.5, "c1": 0.5, "label": 0.5}\n'
    path.write_text(text + "".join(json.dumps(r) + "\n" for r in rows[20:]))
    assert_bad_input(invoke("eval", path), f"{path}: line 21:", "'label' holds 0.5")


def test_a_missing_value_in_json_lines_names_its_row(tmp_path):
    path = tmp_path / "missing.jsonl"
    path.write_text('{"c0": 0.5, "c1": 0.5}\n{"c0": 0.5}\n')
    assert_bad_input(invoke("eval", path), f"{path}: row 1:")


def test_an_empty_json_lines_file_is_named(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    assert_bad_input(invoke("eval", path), str(path), "empty")


def test_an_npz_of_one_array_needs_no_key(tmp_path):
    np.savez(tmp_path / "logits.npz", np.load(SAMPLE_DATA / "logits.npy"))
    np.savez_compressed(tmp_path / "labels.npz", labels=np.load(SAMPLE_DATA / "labels.npy"))
    got = run_json("eval", tmp_path / "logits.npz", tmp_path / "labels.npz")
    want = run_json("eval", SAMPLE_DATA / "logits.npy", SAMPLE_DATA / "labels.npy")
    _same_numbers(got, want)


def test_npz_keys_choose_the_arrays(tmp_path):
    logits, labels = np.load(SAMPLE_DATA / "logits.npy"), np.load(SAMPLE_DATA / "labels.npy")
    np.savez(tmp_path / "run.npz", logits=logits, labels=labels, ids=np.arange(len(labels)))
    run = tmp_path / "run.npz"
    got = run_json("eval", run, run, "--npz-key", "logits", "--label-npz-key", "labels")
    _same_numbers(got, run_json("eval", SAMPLE_DATA / "logits.npy", SAMPLE_DATA / "labels.npy"))


def test_an_npz_of_several_arrays_without_a_key_lists_them(tmp_path):
    np.savez(tmp_path / "run.npz", logits=np.zeros((3, 2)), labels=np.zeros(3, dtype=int))
    assert_bad_input(invoke("eval", tmp_path / "run.npz"), "2 arrays: logits, labels", "--npz-key")
    result = invoke("eval", tmp_path / "run.npz", tmp_path / "run.npz", "--npz-key", "logits")
    assert_bad_input(result, "2 arrays", "--label-npz-key")


def test_an_npz_key_that_is_not_there_lists_the_keys(tmp_path):
    np.savez(tmp_path / "run.npz", logits=np.zeros((3, 2)))
    result = invoke("eval", tmp_path / "run.npz", "--npz-key", "probs")
    assert_bad_input(result, "no array 'probs' (from --npz-key)", "logits")


class _Planted:
    """Unpickling one creates the file it names: proof that nothing was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_an_npz_of_objects_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "unpickled"
    objects = np.empty(2, dtype=object)
    objects[:] = [_Planted(marker), _Planted(marker)]
    np.savez(tmp_path / "evil.npz", objects)
    assert_bad_input(invoke("eval", tmp_path / "evil.npz"), str(tmp_path / "evil.npz"))
    assert not marker.exists()


def test_a_file_that_is_no_zip_archive_is_named(tmp_path):
    (tmp_path / "fake.npz").write_bytes(b"\x93NUMPY not a zip")
    assert_bad_input(invoke("eval", tmp_path / "fake.npz"), str(tmp_path / "fake.npz"), ".npz archive")


@pytest.mark.parametrize("fmt", ["arrow-stream", "jsonl", "npz"])
def test_perplexity_reads_every_format(tmp_path, fmt):
    tokens = pq.read_table(SAMPLE_DATA / "tokens.parquet")
    path = write_shard(tmp_path / "tokens", _columns(tokens), fmt, batch_rows=500)
    args = ["--seq-col", "seq", "--mask-col", "mask", "--bytes-col", "bytes"]
    got = run_json("perplexity", path, *args)
    want = run_json("perplexity", SAMPLE_DATA / "tokens.parquet", *args)
    assert got["metrics"] == pytest.approx(want["metrics"], rel=1e-12)
    assert got["n_tokens"] == want["n_tokens"]


def test_an_npz_key_for_an_input_that_is_no_npz_is_named_in_a_warning(tmp_path):
    result = invoke(
        "eval",
        SAMPLE_DATA / "logits.npy",
        SAMPLE_DATA / "labels.npy",
        "--npz-key",
        "x",
        "--label-npz-key",
        "y",
    )
    assert result.exit_code == 0, result.stderr
    assert "--npz-key is ignored" in result.stderr and "--label-npz-key is ignored" in result.stderr
    result = invoke("perplexity", SAMPLE_DATA / "tokens.npy", "--npz-key", "x")
    assert result.exit_code == 0, result.stderr
    assert "--npz-key is ignored" in result.stderr
    np.savez(tmp_path / "run.npz", logits=np.load(SAMPLE_DATA / "logits.npy"))
    result = invoke("eval", tmp_path / "run.npz", SAMPLE_DATA / "labels.npy", "--npz-key", "logits")
    assert result.exit_code == 0, result.stderr
    assert "ignored" not in result.stderr


@pytest.mark.parametrize(
    ("fmt", "input_format"),
    [
        ("arrow-stream", "arrow"),
        ("arrow-file", "arrow"),
        ("jsonl", "jsonl"),
        ("jsonl.gz", "jsonl"),
        ("npz", "npz"),
    ],
)
def test_the_new_formats_read_from_stdin(tmp_path, fmt, input_format):
    path = write_shard(tmp_path / "probs", _columns(PROBS), fmt, batch_rows=100)
    result = invoke("eval", "-", SAMPLE_DATA / "labels.parquet", "--input-format", input_format, "--format", "json", input=path.read_bytes())  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "ignored" not in result.stderr
    _same_numbers(json.loads(result.stdout), _reference())


def test_stdin_that_is_not_of_the_format_given_is_named(tmp_path):
    data = (SAMPLE_DATA / "probs.parquet").read_bytes()
    assert_bad_input(invoke("eval", "-", "--input-format", "arrow", input=data), "-:", "Arrow IPC")
    assert_bad_input(invoke("eval", "-", "--input-format", "npz", input=data), "-:", ".npz archive")
