"""What the screen shows (issue 14): names verbatim and escaped, messages that say what is
wrong, warnings for ignored options, and trend steps taken from folders."""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from infocli.errors import InfoCliError, shown
from infocli.trend import checkpoint_steps

from .cli_helpers import assert_bad_input, invoke, run_json

ROOT = Path(__file__).resolve().parent.parent

PROBS = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.25, 0.25, 0.5]])
LABELS = np.array([0, 1, 2, 2])


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Every test runs in its own folder, so that paths stay short and verbatim."""
    monkeypatch.chdir(tmp_path)


def write_csv(name: str, header: list[str], rows) -> str:
    """A CSV at ``name`` (its folders made), returned as given."""
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return name


def write_preds(name: str, probs: np.ndarray = PROBS) -> str:
    if name.endswith(".npy"):
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        with open(name, "wb") as file:
            np.save(file, probs)
        return name
    return write_csv(name, [f"c{i}" for i in range(probs.shape[1])], probs.tolist())


def write_labels(name: str = "labels.npy", labels: np.ndarray = LABELS) -> str:
    with open(name, "wb") as file:
        np.save(file, labels)
    return name


def normalised(probs: np.ndarray) -> np.ndarray:
    return probs / probs.sum(axis=1, keepdims=True)


def warnings_of(result) -> list[str]:
    prefix = "infocli: warning: "
    return [line[len(prefix) :] for line in result.stderr.splitlines() if line.startswith(prefix)]


# ------------------------------------------------------------------ no markup from data

MARKUP_NAMES = ["a[/b].csv", "[bold]x[/bold].csv", ":smile: [red]r.csv", "[link=x]l[/link].csv"]


@pytest.mark.parametrize("name", MARKUP_NAMES)
def test_eval_table_shows_markup_in_paths_verbatim(name):
    preds = write_preds(name)
    labels = write_preds(name.replace(".csv", "_labels.csv"), np.eye(3)[LABELS])
    result = invoke("eval", preds, labels)
    assert result.exit_code == 0, result.stderr
    assert f"{preds}  (csv, read as probs)" in result.stdout
    assert f"{labels}  (csv, probs)" in result.stdout


def test_perplexity_table_shows_sequence_ids_verbatim():
    ids = ["[bold]s1[/bold]", "[/]", ":smile:", "e\x1b[31mred", "plain"]
    rows = [(f'"{i}"', lp) for i, lp in zip(ids, [-1.0, -2.0, -3.0, -4.0, -0.5], strict=True)]
    tokens = write_csv("tokens.csv", ["seq", "logprob"], rows * 2)
    result = invoke("perplexity", tokens, "--seq-col", "seq", "--top", "5")
    assert result.exit_code == 0, result.stderr
    for shown_id in ["[bold]s1[/bold]", "[/]", ":smile:", "e\\x1b[31mred", "plain"]:
        assert f"  {shown_id}  " in result.stdout, shown_id
    assert "\x1b" not in result.stdout


def test_trend_table_shows_markup_in_paths_verbatim():
    labels = write_labels()
    paths = [write_preds(p) for p in ("a[/b]step_200/preds.npy", "[bold]step_100/preds.npy")]
    result = invoke("trend", *paths, "--labels", labels)
    assert result.exit_code == 0, result.stderr
    for path in paths:  # shared file names: the paths as given
        assert path in result.stdout


def test_trend_table_shows_markup_in_file_names_verbatim():
    labels = write_labels()
    paths = [write_preds(p) for p in ("[red]ckpt_100.npy", ":smile:ckpt_200.npy")]
    result = invoke("trend", *paths, "--labels", labels)
    assert result.exit_code == 0, result.stderr
    for path in paths:
        assert path in result.stdout


def test_long_names_are_not_wrapped_in_a_file_or_pipe():
    preds = write_preds("d" * 60 + "/" + "[x] " * 30 + "p.csv")  # 186 characters, with spaces
    long_id = "s" * 150
    tokens = write_csv("tokens.csv", ["seq", "logprob"], [(long_id, -1.0), ("b", -2.0)])
    table = invoke("eval", preds).stdout
    assert f"{preds}  (csv, read as probs)" in table
    assert any(
        f" {long_id} " in line
        for line in invoke("perplexity", tokens, "--seq-col", "seq").stdout.splitlines()
    )
    invoke("eval", preds, "--output", "report.txt")
    assert f"{preds}  (csv, read as probs)" in Path("report.txt").read_text()


def test_gate_expression_is_shown_escaped():
    preds, labels = write_preds("p.csv"), write_labels()
    result = invoke("eval", preds, labels, "--fail-if", "accuracy < 0.1\x1f")
    assert result.exit_code == 0, result.stderr
    assert "accuracy < 0.1\\x1f" in result.stdout


@pytest.mark.parametrize("description", ["a[/b].csv", "[bold]x[/bold].csv", "e\x1b[2Jx.csv"])
def test_progress_bar_shows_the_path_verbatim(monkeypatch, description):
    from infocli.report import tables

    buffer, console = io.StringIO(), tables.Console
    monkeypatch.setattr(tables, "Console", lambda **_: console(file=buffer, force_terminal=True, width=200))
    clock = iter(range(0, 10_000, 5))  # five seconds a call: the bar shows at once
    monkeypatch.setattr(tables, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    with tables.progress_bar(description) as update:
        update(5, 10)
    assert shown(description) in buffer.getvalue()


# -------------------------------------------------------------------- control characters


def test_shown_escapes_only_unprintable_characters():
    assert shown("plain [x] ünïcödé 名前.csv") == "plain [x] ünïcödé 名前.csv"
    assert (
        shown("a\x1b[31mb\r\n\t\x00\x7f\x85\u200b\udcff") == "a\\x1b[31mb\\r\\n\\t\\x00\\x7f\\x85\\u200b\\xff"
    )


@pytest.mark.parametrize("name", ["e\x1b[31mred\rx.csv", "line\nbreak.csv", "del\x7f\x9b.csv"])
def test_eval_table_escapes_control_characters(name):
    preds = write_preds(name)
    result = invoke("eval", preds)
    assert result.exit_code == 0, result.stderr
    assert f"{shown(name)}  (csv, read as probs)" in result.stdout
    assert not any(c in result.stdout for c in "\x1b\r\x7f\x9b")


@pytest.mark.parametrize("name", ["miss\x1b[2J\x1b[H.csv", "two\nlines.csv", "cr\rback  two  spaces.csv"])
def test_error_line_escapes_control_characters_in_paths(name):
    line = assert_bad_input(invoke("eval", name), f"{shown(name)}: no such file")
    assert not any(c in line for c in "\x1b\r\n")


def test_error_line_escapes_control_characters_in_class_names():
    preds = write_csv("p.csv", ["a\x1bz", "b"], [[0.5, 0.5]])
    labels = write_csv("l.csv", ["label"], [["nope"]])
    assert_bad_input(invoke("eval", preds, labels), "'nope' is not among the prediction columns (a\\x1bz, b)")


def test_error_str_escapes_but_keeps_the_path_as_given():
    error = InfoCliError("bad\x1bvalue", path="two  spaces\x07.csv", row=3, hint="fix\x9bit")
    assert str(error) == "two  spaces\\x07.csv: row 3: bad\\x1bvalue. fix\\x9bit."


def test_warning_line_escapes_control_characters():
    off = PROBS * 1.0004  # rows sum to 1.0004: renormalised within --tol, with a warning
    preds = write_preds("r\x1b[0m.csv", off)
    result = invoke("eval", preds, write_labels())
    assert result.exit_code == 0, result.stderr
    (warning,) = warnings_of(result)
    assert warning.startswith("r\\x1b[0m.csv: 4 rows summed to 1 only within --tol")
    assert "\x1b" not in result.stderr
    document = run_json("eval", preds, write_labels())
    assert document["warnings"][0].startswith("r\x1b[0m.csv: 4 rows")  # JSON escapes it itself


# -------------------------------------------------------------- messages that say what is wrong


def run_process(args, **kwargs) -> subprocess.CompletedProcess:
    """``python -m infocli ARGS`` from this worktree, as a real process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("INFOCLI_FORMAT", None)
    return subprocess.run(
        [sys.executable, "-m", "infocli", *args], capture_output=True, env=env, timeout=120, **kwargs
    )


def error_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("infocli: error: "), lines
    return lines[0]


def test_closed_stdin_is_not_a_terminal():
    line = error_line(run_process(["eval", "-"], stdin=None, preexec_fn=lambda: os.close(0)))
    assert "stdin is closed" in line and "terminal" not in line


def test_terminal_stdin_is_a_terminal():
    controller, terminal = os.openpty()
    try:
        line = error_line(run_process(["perplexity", "-"], stdin=terminal))
    finally:
        os.close(controller)
        os.close(terminal)
    assert "stdin is a terminal" in line


def test_write_only_stdin_cannot_be_read():
    with open("sink.txt", "wb") as sink:
        line = error_line(run_process(["eval", "-"], stdin=sink))
    assert "-: stdin cannot be read (Bad file descriptor)" in line and "terminal" not in line


@pytest.mark.parametrize("name", ["zeros.csv", "zeros.tsv", "zeros.csv.gz"])
def test_a_file_of_nul_bytes_is_not_empty(name):
    data = bytes(4096)
    if name.endswith(".gz"):
        import gzip

        data = gzip.compress(data)
    Path(name).write_bytes(data)
    fmt = "TSV" if "tsv" in name else "CSV"
    line = assert_bad_input(invoke("eval", name), name, f"not {fmt} text: the file holds only NUL bytes")
    assert "empty" not in line


@pytest.mark.parametrize(
    "name, words", [("zeros.npy", "not a .npy file"), ("zeros.parquet", "not a readable Parquet file")]
)
def test_a_binary_file_of_nul_bytes_is_not_of_its_kind(name, words):
    Path(name).write_bytes(bytes(4096))
    assert "empty" not in assert_bad_input(invoke("eval", name), f"{name}: {words}")


def test_a_nul_byte_inside_a_csv_is_named():
    Path("p.csv").write_bytes(b"c0,c1\n0.5,0.5\n0.5,\x000.5\n")
    assert_bad_input(invoke("eval", "p.csv"), "p.csv: not CSV text: the file holds a NUL byte at byte 18")


def test_an_empty_file_is_still_empty():
    Path("p.csv").write_bytes(b"")
    assert_bad_input(invoke("eval", "p.csv"), "p.csv: the file is empty")


def test_nul_bytes_on_stdin_are_not_empty():
    line = assert_bad_input(
        invoke("eval", "-", input=bytes(100_000)), "-: not CSV text: the file holds only NUL"
    )
    assert "empty" not in line


@pytest.mark.parametrize(
    "input_format, words",
    [
        ("csv", "not CSV text: the file holds only NUL bytes"),
        ("tsv", "not TSV text: the file holds only NUL bytes"),
        ("npy", "not a .npy file"),
        ("parquet", "not a readable Parquet file"),
    ],
)
def test_dev_zero_on_stdin_ends_with_what_it_is(input_format, words):
    def small_files() -> None:  # a run that copied it all would fail here, not fill the disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 20, 16 << 20))

    with open("/dev/zero", "rb") as zero:  # endless: the run must stop reading it
        done = run_process(["eval", "-", "--input-format", input_format], stdin=zero, preexec_fn=small_files)
    line = error_line(done)
    assert words in line and "empty" not in line


def test_dev_zero_by_a_csv_name_is_not_empty():
    os.symlink("/dev/zero", "zero.csv")
    assert_bad_input(invoke("eval", "zero.csv"), "zero.csv: not CSV text: the file holds only NUL bytes")


def test_pred_cols_hint_only_where_it_can_help():
    np.save("names.npy", np.array(["cat", "dog"]))
    np.save("grid.npy", np.array([["a", "b"], ["c", "d"]]))
    for name in ("names.npy", "grid.npy"):
        line = assert_bad_input(invoke("eval", name), f"{name}: the array holds")
        assert "--pred-cols" not in line
    write_csv("p.csv", ["c0", "c1"], [[0.5, "x"]])  # a named column: the hint helps
    assert_bad_input(invoke("eval", "p.csv"), "column 'c1'", "Pass --pred-cols")


def test_an_unnamed_labels_array_is_not_called_a_column():
    np.save("grid.npy", np.zeros((4, 3), dtype="<U1"))
    line = assert_bad_input(
        invoke("eval", write_preds("p.npy"), "grid.npy"), "grid.npy: the array has type <U1"
    )
    assert "column" not in line


def test_pred_cols_on_an_unnamed_array_says_it_has_no_columns():
    preds = write_preds("p.npy")
    assert_bad_input(invoke("eval", preds, "--pred-cols", "c0,c1"), "unnamed array", "Leave out --pred-cols")
    assert_bad_input(
        invoke("eval", preds, write_labels(), "--label-col", "y"), "unnamed array", "Leave out --label-col"
    )


@pytest.mark.parametrize(
    "args, name",
    [
        (["eval", ""], "PREDS"),
        (["eval", "p.csv", ""], "LABELS"),
        (["perplexity", ""], "TOKENS"),
        (["trend", "p.csv", "", "--labels", "l.npy"], "FILE 2"),
        (["trend", "p.csv", "--labels", ""], "--labels"),
    ],
)
def test_empty_path_is_named(args, name):
    write_preds("p.csv")
    write_labels("l.npy")
    assert_bad_input(invoke(*args), f"empty path given for {name}")


# ----------------------------------------------------------------------- ignored options

TOKENS = [("a", -1.0), ("a", -2.0), ("b", -0.5)]


def write_inputs() -> dict[str, str]:
    logits = np.log(PROBS) * 3.0 + 1.0
    return {
        "@probs": write_preds("probs.csv"),
        "@logits": write_preds("logits.npy", logits),
        "@logprobs": write_preds("logprobs.npy", np.log(PROBS)),
        "@index": write_labels("index.npy"),
        "@names": write_csv("names.csv", ["label"], [[f"c{i}"] for i in LABELS]),
        "@soft": write_preds("soft.csv", np.eye(3)[LABELS] * 0.9 + 0.1 / 3),
        "@binary": write_csv("binary.csv", ["score"], [[0.2], [0.9], [0.4], [0.7]]),
        "@binary_labels": write_labels("binary.npy", np.array([0, 1, 0, 1])),
        "@tokens": write_csv("tokens.csv", ["seq", "logprob"], TOKENS),
        "@plain": "plain.npy",
    }


IGNORED = [
    # --ignore-index without labels, with class names, with target distributions (the issue's)
    (["eval", "@probs", "--ignore-index", "-100"], "--ignore-index is ignored", "there are no labels"),
    (["eval", "@probs", "@names", "--ignore-index", "0"], "--ignore-index is ignored", "class names"),
    (["eval", "@probs", "@soft", "--ignore-index", "0"], "--ignore-index is ignored", "target distributions"),
    # --target-kind with class-index or class-name labels, or none
    (["eval", "@probs", "@index", "--target-kind", "logits"], "--target-kind is ignored", "class indices"),
    (["eval", "@probs", "@names", "--target-kind", "probs"], "--target-kind is ignored", "class names"),
    (["eval", "@probs", "--target-kind", "probs"], "--target-kind is ignored", "no labels"),
    # --tol where nothing is read as probabilities
    (["eval", "@logits", "@index", "--kind", "logits", "--tol", "0.1"], "--tol is ignored", "are logits"),
    (["eval", "@binary", "@binary_labels", "--tol", "0.1"], "--tol is ignored", "a single binary score"),
    # --eps without labels
    (["eval", "@probs", "--eps", "1e-6"], "--eps is ignored", "need labels"),
    # --input-format without a - input
    (["eval", "@probs", "@index", "--input-format", "npy"], "--input-format is ignored", "stdin"),
    (["perplexity", "@tokens", "--input-format", "parquet"], "--input-format is ignored", "stdin"),
    # perplexity: --logprob-col on a plain .npy, --top without sequences
    (["perplexity", "@plain", "--logprob-col", "lp"], "--logprob-col is ignored", "plain 1-D .npy"),
    (["perplexity", "@tokens", "--top", "3"], "--top is ignored", "without --seq-col"),
    # trend: options of the other kind of checkpoint
    (["trend", "@logits", "--labels", "@index", "--seq-col", "seq"], "--seq-col is ignored", "with --labels"),
    (["trend", "@tokens", "--kind", "logits"], "--kind is ignored", "without --labels"),
    (["trend", "@tokens", "-T", "2", "--ignore-index", "3"], "--ignore-index is ignored", "token files"),
]


@pytest.mark.parametrize("args, flag, reason", IGNORED)
def test_an_ignored_option_is_a_warning(args, flag, reason):
    inputs = write_inputs()
    np.save("plain.npy", np.array([-1.0, -2.0, -0.5]))
    argv = [inputs.get(a, a) for a in args]
    result = invoke(*argv)
    assert result.exit_code == 0, result.stderr
    matching = [w for w in warnings_of(result) if w.startswith(flag)]
    assert len(matching) == 1 and reason in matching[0], warnings_of(result)
    document = run_json(*argv)
    assert matching[0] in document["warnings"]
    assert warnings_of(invoke(*argv, "--quiet")) == []


@pytest.mark.parametrize(
    "args",
    [
        ["eval", "@logits", "@index", "-T", "2", "--tol", "0.01", "--eps", "1e-6"],  # auto: --tol decides
        ["eval", "@probs", "@index", "--ignore-index", "2", "--tol", "0.01"],
        ["eval", "@probs", "@soft", "--target-kind", "probs", "--tol", "0.01"],
        ["eval", "@probs", "@soft", "--target-kind", "logits", "-T", "2"],  # T divides the targets
        ["eval", "@logprobs", "@index", "--kind", "logprobs", "--tol", "0.01"],
        ["perplexity", "@tokens", "--seq-col", "seq", "--top", "1"],
        ["perplexity", "@tokens", "--top", "0"],  # no worst sequence listed: it has an effect
        ["trend", "@logits", "--labels", "@index", "--kind", "logits", "-T", "2"],
    ],
)
def test_options_in_use_give_no_warning(args):
    inputs = write_inputs()
    result = invoke(*[inputs.get(a, a) for a in args])
    assert result.exit_code == 0, result.stderr
    assert warnings_of(result) == []


def test_ignore_index_with_soft_targets_is_not_applied():
    inputs = write_inputs()
    with_option = run_json("eval", inputs["@probs"], inputs["@soft"], "--ignore-index", "0")
    without = run_json("eval", inputs["@probs"], inputs["@soft"])
    assert with_option["metrics"] == without["metrics"] and with_option["n_ignored"] == 0


def test_ignore_index_with_class_names_leaves_no_row_out():
    inputs = write_inputs()
    with_option = run_json("eval", inputs["@probs"], inputs["@names"], "--ignore-index", "0")
    assert with_option["n_samples"] == len(LABELS) and with_option["n_ignored"] == 0


def test_trend_warns_once_for_every_checkpoint():
    labels = write_labels()
    paths = [write_preds(f"ckpt_{s}.npy") for s in (1, 2, 3)]
    result = invoke("trend", *paths, "--labels", labels, "--target-kind", "logits")
    assert result.exit_code == 0, result.stderr
    assert [w.split(":")[0] for w in warnings_of(result)] == ["--target-kind is ignored"]
    assert len(run_json("trend", *paths, "--labels", labels, "--target-kind", "logits")["warnings"]) == 1


@pytest.mark.parametrize("labels", ["@index", "@soft"])
def test_temperature_tempers_probabilities_as_their_logarithms(labels):
    """softmax(log p / T): the same distribution as probabilities or log-probabilities
    gives the same numbers at any temperature, and no warning says it was ignored."""
    inputs = write_inputs()
    probs = run_json("eval", inputs["@probs"], inputs[labels], "-T", "2.5")
    as_logs = run_json("eval", inputs["@logprobs"], inputs[labels], "-T", "2.5", "--kind", "logprobs")
    plain = run_json("eval", inputs["@probs"], inputs[labels])
    assert probs["warnings"] == [] and probs["metrics"] != plain["metrics"]
    for name, value in probs["metrics"].items():
        assert as_logs["metrics"][name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


# ---------------------------------------------------------------------------- trend steps


@pytest.mark.parametrize(
    "paths, steps",
    [
        (["step_2000/preds.parquet", "step_500/preds.parquet"], [2000, 500]),  # the issue's
        (["runs/exp3/checkpoint-10/model.npy", "runs/exp3/checkpoint-9/model.npy"], [10, 9]),
        (["/data/run7/ckpt/epoch2/p.csv", "/data/run7/ckpt/epoch10/p.csv"], [2, 10]),
        (["ckpt_100.parquet", "step_200/preds.parquet"], [100, 200]),  # name, or else folder
        (["run_7/ckpt_30.parquet", "run_8/ckpt_20.parquet"], [30, 20]),  # the name first
    ],
)
def test_trend_step_comes_from_the_folder_when_the_name_has_none(paths, steps):
    assert checkpoint_steps(paths) == steps


def test_trend_steps_ignore_the_folders_every_checkpoint_shares():
    assert checkpoint_steps(["/data/run3/best.npy", "/data/run3/last.npy"]) == [1, 2]
    assert checkpoint_steps(["exp1/a/p.npy", "exp1/b/p.npy", "exp1/c/p.npy"]) == [1, 2, 3]


@pytest.mark.parametrize(
    "paths, missing",
    [
        (["exp1/ckpt_100.npy", "exp1/final.npy"], "exp1/final.npy"),
        (["step_1/p.npy", "step_2/p.npy", "final/p.npy"], "final/p.npy"),
    ],
)
def test_trend_steps_some_with_and_some_without_is_an_error(paths, missing):
    with pytest.raises(InfoCliError) as info:
        checkpoint_steps(paths)
    assert info.value.path == missing
    assert "no step number while others do" in str(info.value)


def test_trend_of_step_folders_in_lexical_order_is_in_training_order():
    labels = write_labels()
    paths = sorted(
        write_preds(f"step_{s}/preds.npy", normalised(PROBS ** (s / 1000))) for s in (3000, 200, 1000)
    )
    assert paths == ["step_1000/preds.npy", "step_200/preds.npy", "step_3000/preds.npy"]  # a shell glob
    document = run_json("trend", *paths, "--labels", labels)
    assert [(c["step"], c["path"]) for c in document["checkpoints"]] == [
        (200, "step_200/preds.npy"),
        (1000, "step_1000/preds.npy"),
        (3000, "step_3000/preds.npy"),
    ]
    table = invoke("trend", *paths, "--labels", labels).stdout
    rows = [line for line in table.splitlines() if "preds.npy" in line]
    assert [row.split()[0] for row in rows] == ["200", "1,000", "3,000"]
    assert all(path in row for path, row in zip(["step_200", "step_1000", "step_3000"], rows, strict=True))


def test_token_checkpoints_in_step_folders():
    for step in (20, 3):
        path = Path(f"s{step}/tokens.parquet")
        path.parent.mkdir()
        pq.write_table(pa.table({"logprob": [-1.0 / step, -2.0 / step]}), path)
    document = run_json("trend", "s20/tokens.parquet", "s3/tokens.parquet")
    assert [c["step"] for c in document["checkpoints"]] == [3, 20]
    assert json.dumps(document)  # strict
