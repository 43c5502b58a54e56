"""Saved states and ``infocli merge``: any split of an input, evaluated part by part with
``--save-state`` and merged in any order or tree, gives the one-file report; a state merged
alone gives its own run's report bit for bit; bad state files exit 2 naming the file.

Each hypothesis example draws a seed and a few parameters (form, format, cut points, merge
order); the arrays come from NumPy's default_rng fed by the seed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import softmax

from infocli.evaluate import evaluate_arrays
from infocli.metrics.state import EvalState
from infocli.metrics.tokens import TokenState
from infocli.perplexity import PerplexityOptions

from .conftest import SAMPLE_DATA, InputFiles
from cli_helpers import assert_bad_input, invoke, run_json

REL = 1e-12
"""Relative tolerance of a merged report against the one-file report (same sums, another order)."""

SETTINGS = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

FORMATS = ("csv", "parquet", "npy")
FORMS = (
    "probs",  # probabilities, class indices, some rows renormalised, some terms clipped
    "logits",
    "logprobs",  # with exact zeros (-inf), so terms are clipped
    "names",  # class-name labels
    "soft",  # target distributions given as probabilities
    "soft-logits",  # teacher logits, --temperature 2
    "binary",  # one score column: the probability of class 1
    "binary-logits",
    "ignore",  # --ignore-index -100
    "temperature",  # logits at --temperature 0.5
)
EVAL_COUNTS = ("n_samples", "n_classes", "n_ignored", "n_clipped", "n_renormalised")
TOKEN_COUNTS = ("n_tokens", "n_sequences", "n_masked")


# ------------------------------------------------------------------------------ inputs


def _probs(rng: np.random.Generator, n: int, c: int, zeros: bool) -> np.ndarray:
    q = softmax(rng.normal(scale=2.0, size=(n, c)), axis=1)
    if zeros:
        drop = rng.random((n, c)) < 0.3
        drop[np.arange(n), q.argmax(axis=1)] = False
        q[drop] = 0.0
        q /= q.sum(axis=1, keepdims=True)
    return q


def _problem(rng: np.random.Generator, form: str, n: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Predictions, labels (indices, names or distributions) and the flags of one form."""
    c = int(rng.integers(2, 6))
    y = rng.integers(0, c, size=n)
    flags: list[str] = []
    if form == "probs":
        preds = _probs(rng, n, c, zeros=True)
        off = (rng.random(n) < 0.3) & (preds.max(axis=1) < 0.99)  # rows summing to 1 within --tol only
        preds[off] *= 1 + 4e-4
    elif form in ("logits", "temperature"):
        preds = rng.normal(scale=3.0, size=(n, c)) + 1.5
        flags = ["--kind", "logits"] + (["--temperature", "0.5"] if form == "temperature" else [])
    elif form == "logprobs":
        with np.errstate(divide="ignore"):
            preds = np.log(_probs(rng, n, c, zeros=True))
    elif form == "names":
        preds = _probs(rng, n, c, zeros=False)
        return preds, np.array([f"c{i}" for i in y]), flags
    elif form == "soft":
        return _probs(rng, n, c, zeros=True), _probs(rng, n, c, zeros=True), flags
    elif form == "soft-logits":
        preds = rng.normal(size=(n, c))
        flags = ["--kind", "logits", "--target-kind", "logits", "--temperature", "2"]
        return preds, rng.normal(scale=2.0, size=(n, c)), flags
    elif form in ("binary", "binary-logits"):
        y = rng.integers(0, 2, size=n)
        if form == "binary":
            return rng.uniform(0.0, 1.0, size=n), y, flags
        return rng.normal(scale=3.0, size=n), y, ["--kind", "logits"]
    elif form == "ignore":
        preds = _probs(rng, n, c, zeros=False)
        y[rng.random(n) < 0.3] = -100
        flags = ["--ignore-index", "-100"]
    else:
        raise AssertionError(form)
    return preds, y, flags


def _write(files: InputFiles, preds: np.ndarray, labels: np.ndarray, fmt: str) -> tuple[str, str]:
    """The predictions and labels in ``fmt`` (class names need named columns: a structured .npy)."""
    names = labels.dtype.kind == "U"
    pred_path = files.preds(preds, "npy-structured" if names and fmt == "npy" else fmt)
    if labels.ndim == 2:
        label_path = files.npy(labels) if fmt == "npy" else files.preds(labels, fmt)
    else:
        label_path = files.labels(labels, fmt)
    return pred_path, label_path


def _cuts(draw: Any, n: int, *, parts: int | None = None) -> list[int]:
    """Sorted cut points 0 = c0 < c1 < ... < ck = n (parts of one row included)."""
    k = parts or draw(st.integers(1, min(n, 5)))
    inner = (
        draw(st.lists(st.integers(1, n - 1), min_size=k - 1, max_size=k - 1, unique=True)) if n > 1 else []
    )
    return [0, *sorted(inner), n]


def _keep_scored(cuts: list[int], y: np.ndarray) -> list[int]:
    """Join parts whose every label is ignored (such a part is refused) to their neighbour."""
    cuts = list(cuts)
    i = 0
    while i < len(cuts) - 1:
        if (y[cuts[i] : cuts[i + 1]] == -100).all() and len(cuts) > 2:
            del cuts[i + 1 if i + 1 < len(cuts) - 1 else i]
            i = 0
        else:
            i += 1
    return cuts


# ------------------------------------------------------------------------------ comparison


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return a == b or math.isclose(a, b, rel_tol=REL, abs_tol=0.0)


def _assert_same_numbers(merged: dict[str, Any], one: dict[str, Any], counts: tuple[str, ...]) -> None:
    """Counts exact, every metric and standard error within :data:`REL` relative."""
    for key in counts:
        assert merged[key] == one[key], key
    for section in ("metrics", "standard_error"):
        assert list(merged[section]) == list(one[section])
        for name, value in one[section].items():
            assert _close(merged[section][name], value), (section, name, merged[section][name], value)
    assert merged["signature"] == one["signature"]


def _save(args: list[Any], state: Path) -> None:
    result = invoke(*args, "--save-state", state, "--format", "json")
    assert result.exit_code == 0, (result.stderr, result.exception)


def _split_and_merge(
    tmp: Path, form: str, fmt: str, seed: int, n: int, cuts: list[int], order: list[int]
) -> tuple[dict[str, Any], dict[str, Any], list[Path]]:
    """The one-file report and the merged report of the parts (merged in ``order``)."""
    rng = np.random.default_rng(seed)
    preds, labels, flags = _problem(rng, form, n)
    if form == "ignore":
        labels[0] = 0  # the whole input has a scored row
        cuts = _keep_scored(cuts, labels)
        order = [i for i in order if i < len(cuts) - 1]
    files = InputFiles(tmp)
    one = run_json("eval", *_write(files, preds, labels, fmt), *flags)
    states = []
    for k, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
        state = tmp / f"state_{k}.json"
        _save(["eval", *_write(files, preds[a:b], labels[a:b], fmt), *flags], state)
        states.append(state)
    merged = run_json("merge", *[states[i] for i in order])
    assert len(merged.get("merged", [None])) == len(states)
    return one, merged, states


# ------------------------------------------------------------------------------ eval splits


@st.composite
def splits(draw: Any, *, forms: tuple[str, ...] = FORMS, formats: tuple[str, ...] = FORMATS):
    """A form, a format, a seed, a row count, cut points and a merge order."""
    n = draw(st.integers(1, 24))
    cuts = _cuts(draw, n)
    order = draw(st.permutations(range(len(cuts) - 1)))
    return (
        draw(st.sampled_from(forms)),
        draw(st.sampled_from(formats)),
        draw(st.integers(0, 2**32 - 1)),
        n,
        cuts,
        order,
    )


@SETTINGS
@given(case=splits())
def test_any_split_merged_in_any_order_equals_the_one_file_report(tmp_path_factory, case) -> None:
    form, fmt, seed, n, cuts, order = case
    one, merged, _ = _split_and_merge(tmp_path_factory.mktemp("split"), form, fmt, seed, n, cuts, order)
    _assert_same_numbers(merged, one, EVAL_COUNTS)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("form", FORMS)
def test_every_input_form_splits_and_merges(tmp_path, form, fmt) -> None:
    # Parts of 1, 4 and 7 rows and a 2-row part, merged back to front.
    one, merged, _ = _split_and_merge(tmp_path, form, fmt, 7, 14, [0, 1, 5, 12, 14], [3, 2, 1, 0])
    _assert_same_numbers(merged, one, EVAL_COUNTS)


def test_sample_data_split_into_shards_merges_to_the_sample_report(tmp_path) -> None:
    probs = np.load(SAMPLE_DATA / "logits.npy")
    labels = np.load(SAMPLE_DATA / "labels.npy")
    one = run_json("eval", SAMPLE_DATA / "logits.npy", SAMPLE_DATA / "labels.npy")
    files = InputFiles(tmp_path)
    states = []
    for k, (a, b) in enumerate([(0, 1), (1, 400), (400, 401), (401, 1000)]):
        states.append(tmp_path / f"state_{k}.json")
        _save(["eval", files.npy(probs[a:b]), files.npy(labels[a:b])], states[-1])
    merged = run_json("merge", *states[::-1])
    _assert_same_numbers(merged, one, EVAL_COUNTS)


@pytest.mark.parametrize("form", ["probs", "soft", "ignore", "binary-logits"])
def test_a_state_merged_alone_gives_its_runs_report_bit_for_bit(tmp_path, form) -> None:
    rng = np.random.default_rng(3)
    preds, labels, flags = _problem(rng, form, 40)
    labels[0] = labels[0] if form != "ignore" else 1
    args = ["eval", *_write(InputFiles(tmp_path), preds, labels, "parquet"), *flags]
    state = tmp_path / "state.json"
    run = invoke(*args, "--save-state", state, "--format", "json")
    assert run.exit_code == 0, run.stderr
    for base in ("e", "2"):
        alone = invoke("merge", state, "--format", "json", "--base", base)
        again = invoke(*args, "--format", "json", "--base", base)
        assert alone.exit_code == 0, alone.stderr
        assert alone.stdout == again.stdout
        assert alone.stderr == again.stderr  # the same warnings
    if form == "probs":
        assert json.loads(run.stdout)["warnings"]  # renormalised rows and clipped terms were quoted


def test_the_same_states_in_the_same_order_give_the_same_bytes(tmp_path) -> None:
    _, _, states = _split_and_merge(tmp_path, "logits", "parquet", 11, 30, [0, 3, 4, 17, 30], [0, 1, 2, 3])
    outputs = []
    for k in range(2):
        saved = tmp_path / f"merged_{k}.json"
        result = invoke("merge", *states[::-1], "--format", "json", "--save-state", saved)
        assert result.exit_code == 0, result.stderr
        outputs.append((result.stdout, saved.read_bytes()))
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize("form", ["logprobs", "soft"])
def test_merges_form_a_tree(tmp_path, form) -> None:
    one, flat, states = _split_and_merge(tmp_path, form, "npy", 5, 25, [0, 2, 9, 10, 18, 25], [0, 1, 2, 3, 4])
    left, right = tmp_path / "left.json", tmp_path / "right.json"
    assert invoke("merge", *states[:2], "--save-state", left, "--format", "json").exit_code == 0
    assert invoke("merge", *states[2:], "--save-state", right, "--format", "json").exit_code == 0
    top = tmp_path / "top.json"
    tree = run_json("merge", right, left, "--save-state", top)
    _assert_same_numbers(tree, flat, EVAL_COUNTS)
    _assert_same_numbers(tree, one, EVAL_COUNTS)
    assert len(tree["merged"]) == 5
    assert run_json("merge", top) == tree  # a merged state merged alone gives its own report


# ------------------------------------------------------------------------------ perplexity splits


def _token_table(
    rng: np.random.Generator, n: int, string_ids: bool, interleaved: bool
) -> dict[str, np.ndarray]:
    n_seq = int(rng.integers(1, 6))
    seq = rng.integers(0, n_seq, size=n) if interleaved else np.sort(rng.integers(0, n_seq, size=n))
    return {
        "logprob": -rng.exponential(2.0, size=n),
        "seq": np.array([f"doc{s}" for s in seq]) if string_ids else seq,
        "mask": (rng.random(n) < 0.85).astype(np.int64),
        "bytes": rng.integers(1, 9, size=n),
        "words": rng.integers(0, 3, size=n),
    }


TOKEN_FLAGS = ["--seq-col", "seq", "--mask-col", "mask", "--bytes-col", "bytes", "--words-col", "words"]


def _token_split(
    tmp: Path, fmt: str, seed: int, n: int, cuts: list[int], order: list[int], flags: list[str], top: int = 5
) -> tuple[dict[str, Any], dict[str, Any]]:
    rng = np.random.default_rng(seed)
    table = _token_table(
        rng, n, string_ids=fmt != "npy-structured" and bool(seed % 2), interleaved=seed % 3 == 0
    )
    table["mask"][rng.integers(0, n)] = 1  # the whole input has a token
    files = InputFiles(tmp)
    states = []
    for k, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
        part = {name: values[a:b] for name, values in table.items()}
        if not part["mask"].any():  # a part with no tokens is refused: give it one
            part["mask"] = part["mask"].copy()
            part["mask"][0] = 1
            table["mask"][a] = 1
        states.append(tmp / f"tokens_{k}.json")
        _save(["perplexity", files.table(part, fmt), *flags, "--top", top], states[-1])
    one = run_json("perplexity", files.table(table, fmt), *flags, "--top", 10)
    return one, run_json("merge", *[states[i] for i in order], "--top", 10)


def _assert_same_tokens(merged: dict[str, Any], one: dict[str, Any]) -> None:
    _assert_same_numbers(merged, one, TOKEN_COUNTS)
    assert [w["sequence"] for w in merged["worst_sequences"]] == [
        w["sequence"] for w in one["worst_sequences"]
    ]
    for m, o in zip(merged["worst_sequences"], one["worst_sequences"], strict=True):
        assert m["n_tokens"] == o["n_tokens"]
        assert _close(m["perplexity"], o["perplexity"]) and _close(m["cross_entropy"], o["cross_entropy"])


@SETTINGS
@given(
    fmt=st.sampled_from(("csv", "parquet", "npy-structured")),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_token_states_with_sequences_cut_across_parts_merge_as_one_file(
    tmp_path_factory, fmt, seed, data
) -> None:
    n = data.draw(st.integers(2, 40))
    cuts = _cuts(data.draw, n)
    order = data.draw(st.permutations(range(len(cuts) - 1)))
    one, merged = _token_split(tmp_path_factory.mktemp("tokens"), fmt, seed, n, cuts, order, TOKEN_FLAGS)
    _assert_same_tokens(merged, one)
    assert {"bits_per_byte", "word_perplexity", "sequence_perplexity_median"} <= set(merged["metrics"])


def test_a_sequence_split_between_two_parts_is_joined_by_its_id(tmp_path) -> None:
    # Sequence "b" has tokens in both parts: one sequence of 4 tokens, not two.
    table = {"logprob": np.log([0.5, 0.25, 0.5, 0.125, 0.5, 0.1]), "seq": np.array(list("aabbbc"))}
    files = InputFiles(tmp_path)
    one = run_json("perplexity", files.table(table, "parquet"), "--seq-col", "seq")
    states = [tmp_path / "p0.json", tmp_path / "p1.json"]
    for state, (a, b) in zip(states, [(0, 3), (3, 6)], strict=True):
        part = {k: v[a:b] for k, v in table.items()}
        _save(["perplexity", files.table(part, "parquet"), "--seq-col", "seq"], state)
    merged = run_json("merge", states[1], states[0])
    assert merged["n_sequences"] == 3
    _assert_same_tokens(merged, one)


def test_without_a_sequence_column_the_parts_are_one_sequence(tmp_path) -> None:
    one, merged = _token_split(tmp_path, "parquet", 4, 30, [0, 1, 13, 30], [2, 0, 1], [])
    assert merged["n_sequences"] == one["n_sequences"] == 1
    _assert_same_tokens(merged, one)


def test_merge_top_overrides_the_saved_top(tmp_path) -> None:
    # Saved with --top 2; the merge lists 10 (the one-file run's --top) and, by default, 2.
    one, merged = _token_split(tmp_path, "csv", 6, 60, [0, 20, 21, 60], [1, 2, 0], TOKEN_FLAGS, top=2)
    assert len(merged["worst_sequences"]) == one["n_sequences"] == len(one["worst_sequences"])
    _assert_same_tokens(merged, one)
    states = sorted(tmp_path.glob("tokens_*.json"))
    assert len(run_json("merge", *states)["worst_sequences"]) == 2
    assert run_json("merge", *states, "--top", 0)["worst_sequences"] == []


def test_sample_tokens_split_with_bytes_and_words_merge_to_the_sample_report(tmp_path) -> None:
    import pyarrow.parquet as pq

    flags = TOKEN_FLAGS
    table = pq.read_table(SAMPLE_DATA / "tokens.parquet")
    one = run_json("perplexity", SAMPLE_DATA / "tokens.parquet", *flags)
    states = []
    cuts = [0, 1, table.num_rows // 3, table.num_rows // 3 + 1, table.num_rows]
    for k, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
        part = tmp_path / f"tokens_{k}.parquet"
        pq.write_table(table.slice(a, b - a), part)
        states.append(tmp_path / f"state_{k}.json")
        if not invoke("perplexity", part, *flags, "--save-state", states[-1]).exit_code == 0:
            states.pop()  # a part whose only row is masked out has no tokens
    merged = run_json("merge", *states[::-1])
    _assert_same_tokens(merged, one)
    assert {"bits_per_byte", "word_perplexity"} <= set(merged["metrics"])


# ------------------------------------------------------------------------------ JSON round trip


def _bits(value: float) -> bytes:
    return np.float64(value).tobytes()


def _same_bits(a: dict[str, float], b: dict[str, float]) -> bool:
    return list(a) == list(b) and all(_bits(a[k]) == _bits(b[k]) for k in a)


def _through_json(state: Any) -> dict[str, Any]:
    return json.loads(json.dumps(state.to_dict(), allow_nan=False))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 30),
    form=st.sampled_from(("probs", "logits", "logprobs", "soft", "soft-logits", "binary")),
    scale=st.sampled_from((1e-300, 1e-8, 1.0, 1e8)),
)
def test_eval_state_json_round_trip_is_exact(seed, n, form, scale) -> None:
    rng = np.random.default_rng(seed)
    preds, target, flags = _problem(rng, form, n)
    if form in ("logits", "soft-logits"):
        preds = preds * scale  # extreme logits: clipped terms, sums near the float range
    kind = flags[flags.index("--kind") + 1] if "--kind" in flags else "auto"
    target_kind = flags[flags.index("--target-kind") + 1] if "--target-kind" in flags else "auto"
    state = evaluate_arrays(
        preds, target, chunk_rows=int(rng.integers(1, n + 1)), kind=kind, target_kind=target_kind
    )
    data = _through_json(state)
    back = EvalState.from_dict(data)
    assert back.to_dict() == state.to_dict() == data
    for base in ("e", "2", "10"):
        a, b = state.compute(base), back.compute(base)
        assert _same_bits(a.metrics, b.metrics) and _same_bits(a.standard_error, b.standard_error)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 50), ids=st.sampled_from(("none", "int", "str")))
def test_token_state_json_round_trip_is_exact(seed, n, ids) -> None:
    rng = np.random.default_rng(seed)
    seq_col = None if ids == "none" else "seq"
    options = PerplexityOptions(seq_col=seq_col, mask_col="mask", bytes_col="bytes", words_col="words", top=3)
    state = TokenState(
        options.settings(),
        [{"tokens": {"path": "t.parquet", "format": "parquet", "kind": "logprobs"}}],
        top=3,
    )
    for a in range(0, n, 7):
        b = min(n, a + 7)
        seq = rng.integers(0, 4, size=b - a)
        names = None
        if ids == "str":
            names = ["x", "y", "z", "w"]
        state.update(
            -rng.exponential(rng.choice([1e-9, 1.0, 50.0]), size=b - a),
            sequence=None if ids == "none" else seq,
            names=names,
            mask=rng.random(b - a) < 0.9,
            n_bytes=rng.integers(0, 5, size=b - a),
            words=rng.random(b - a) * 3,
        )
    data = _through_json(state)
    back = TokenState.from_dict(data)
    assert back.to_dict() == state.to_dict() == data
    for base in ("e", "2"):
        a, b = state.compute(base), back.compute(base)
        assert _same_bits(a.metrics, b.metrics) and _same_bits(a.standard_error, b.standard_error)
        assert a.worst == b.worst


# ------------------------------------------------------------------------------ bad state files


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Any]:
    """Valid state files (eval, eval under other settings, perplexity) and an eval report."""
    folder = tmp_path_factory.mktemp("saved")
    files = InputFiles(folder)
    probs, logits = SAMPLE_DATA / "probs.parquet", SAMPLE_DATA / "logits.npy"
    labels = SAMPLE_DATA / "labels.parquet"
    runs = {
        "eval": ["eval", probs, labels],
        "eps0": ["eval", probs, labels, "--eps", "0"],
        "logits": ["eval", logits, SAMPLE_DATA / "labels.npy"],
        "logits_t2": ["eval", logits, SAMPLE_DATA / "labels.npy", "--temperature", "2"],
        "abc": [
            "eval",
            files.preds(np.full((3, 3), 1 / 3), "csv", columns=["a", "b", "c"]),
            files.labels(np.arange(3)),
        ],
        "abd": [
            "eval",
            files.preds(np.full((3, 3), 1 / 3), "csv", columns=["a", "b", "d"]),
            files.labels(np.arange(3)),
        ],
        "tokens": ["perplexity", SAMPLE_DATA / "tokens.parquet", *TOKEN_FLAGS],
    }
    paths: dict[str, Any] = {}
    for name, args in runs.items():
        paths[name] = folder / f"{name}.json"
        _save(args, paths[name])
    paths["report"] = folder / "report.json"
    result = invoke("eval", probs, labels, "--format", "json", "--output", paths["report"])
    assert result.exit_code == 0
    paths["folder"] = folder
    return paths


def _write_text(saved: dict[str, Any], name: str, text: str) -> Path:
    path = saved["folder"] / name
    path.write_text(text)
    return path


def _mutated(saved: dict[str, Any], which: str, change: Any) -> Path:
    """A copy of a saved state with ``change(data)`` applied."""
    data = json.loads(Path(saved[which]).read_text())
    change(data)
    return _write_text(saved, f"bad-{which}-{abs(hash(repr(data)))}.json", json.dumps(data))


def _set(*keys: Any, value: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        for key in keys[:-1]:
            data = data[key]
        data[keys[-1]] = value

    return change


TEXTS = {
    "truncated": (lambda text: text[: len(text) // 2], ["not JSON, or truncated"]),
    "not-json": (lambda text: "entropy,cross_entropy\n1,2\n", ["not JSON"]),
    "empty": (lambda text: "", ["is empty"]),
    "whitespace": (lambda text: "  \n", ["is empty"]),
    "a-list": (lambda text: "[1, 2]", ["not a state file"]),
    "bare-nan": (lambda text: text.replace('"sum": 0.0', '"sum": NaN', 1), ["NaN"]),
    "bare-infinity": (lambda text: text.replace('"sum": 0.0', '"sum": Infinity', 1), ["Infinity"]),
}


@pytest.mark.parametrize("case", list(TEXTS))
def test_a_state_file_that_is_not_state_json_is_refused(saved, case) -> None:
    edit, words = TEXTS[case]
    text = Path(saved["eval"]).read_text()
    assert '"sum": 0.0' in text  # the target entropy of class labels
    bad = _write_text(saved, f"{case}.json", edit(text))
    assert_bad_input(invoke("merge", bad), str(bad), *words)
    assert_bad_input(invoke("merge", saved["eval"], bad), str(bad), *words)


IMPOSSIBLE = {
    "newer format": ("eval", _set("format_version", value=2), ["format_version 2 is newer", "Upgrade"]),
    "no format": ("eval", lambda d: d.pop("format_version"), ["not a state"]),
    "format text": ("eval", _set("format_version", value="1"), ["format_version"]),
    "other command": ("eval", _set("command", value="trend"), ["trend"]),
    "negative n_clipped": ("eval", _set("n_clipped", value=-1), ["n_clipped", "-1"]),
    "negative n_ignored": ("eval", _set("n_ignored", value=-3), ["n_ignored", "-3"]),
    "negative rows": ("eval", _set("statistics", "entropy", "n", value=-1000), ["statistics.entropy.n"]),
    "fractional count": ("eval", _set("n_ignored", value=1.5), ["n_ignored", "1.5"]),
    "clipped > terms": ("eval", _set("n_clipped", value=10**9), ["n_clipped", "more than"]),
    "nan sum": (
        "eval",
        _set("statistics", "cross_entropy", "sum", value="nan"),
        ["cross_entropy.sum", "NaN"],
    ),
    "nan spread": ("eval", _set("statistics", "entropy", "m2", value="nan"), ["entropy.m2"]),
    "text sum": ("eval", _set("statistics", "entropy", "sum", value="1.5"), ["entropy.sum"]),
    "n_samples": ("eval", _set("n_samples", value=999), ["n_samples is 999"]),
    "rows differ": ("eval", _set("statistics", "accuracy", "n", value=999), ["accuracy"]),
    "hits > rows": ("eval", _set("statistics", "accuracy", "sum", value=1001.0), ["accuracy.sum"]),
    "n_renormalised": ("eval", _set("n_renormalised", value=4), ["n_renormalised"]),
    "no settings": ("eval", lambda d: d.pop("settings"), ["settings"]),
    "no statistics": ("eval", lambda d: d["statistics"].pop("entropy"), ["statistics"]),
    "inputs": ("eval", _set("inputs", value="probs.parquet"), ["inputs"]),
    "infinite entropy": (
        "eval",
        _set("statistics", "entropy", "sum", value="inf"),
        ["entropy.sum", "infinite"],
    ),
    "infinite loss, eps > 0": ("eval", _set("statistics", "cross_entropy", "sum", value="inf"), ["infinite"]),
    "infinite spread": ("eval", _set("statistics", "entropy", "m2", value="inf"), ["entropy.m2"]),
    "fractional hits": ("eval", _set("statistics", "accuracy", "sum", value=700.5), ["accuracy.sum"]),
    "target entropy of labels": (
        "eval",
        _set("statistics", "target_entropy", "sum", value=3.0),
        ["target_entropy"],
    ),
    "clipped at eps 0": ("eps0", _set("n_clipped", value=1), ["n_clipped"]),
    "renormalised > rows": (
        "eval",
        lambda d: d.update(
            renormalised=[{"path": "a", "count": 10**6, "first_row": 0, "first_sum": 1.0}],
            n_renormalised=10**6,
        ),
        ["renormalised", "more than"],
    ),
    "renormalised sum": (
        "eval",
        lambda d: d.update(
            renormalised=[{"path": "a", "count": 1, "first_row": 0, "first_sum": "nan"}], n_renormalised=1
        ),
        ["first_sum"],
    ),
    "binary of 5 classes": ("eval", _set("settings", "binary", value=True), ["binary"]),
    "class names of another count": ("eval", _set("settings", "class_names", value=["a"]), ["class_names"]),
    "masked counts": ("tokens", _set("masked_counts", value=10**9), ["masked_counts"]),
    "no settings keys": ("eval", _set("settings", value={}), ["settings.kind is missing"]),
    "unknown setting": ("eval", _set("settings", "seed", value=1), ["settings.seed"]),
    "unknown kind": ("eval", _set("settings", "kind", value="scores"), ["settings.kind", "scores"]),
    "classes as text": ("eval", _set("settings", "n_classes", value="five"), ["settings.n_classes"]),
    "settings version": ("eval", _set("settings", "format_version", value=2), ["settings.format_version"]),
    "no inputs": ("eval", _set("inputs", value=[]), ["inputs"]),
    "input without labels key": ("eval", _set("inputs", value=[{"predictions": {}}]), ["inputs"]),
    "input as text": ("tokens", _set("inputs", value=[{"tokens": "t.parquet"}]), ["inputs"]),
    "token settings": ("tokens", _set("settings", value={}), ["settings.logprob_base is missing"]),
    "negative token sum": ("tokens", _set("tokens", "sum", value=-1.0), ["tokens.sum"]),
    "token sum differs": ("tokens", _set("tokens", "sum", value=1.0), ["tokens.sum"]),
    "bytes differ": ("tokens", _set("total_bytes", value=1.0), ["total_bytes"]),
    "bytes missing": ("tokens", _set("total_bytes", value=None), ["total_bytes", "settings.bytes"]),
    "ids without seq": ("tokens", _set("settings", "seq", value=False), ["one sequence"]),
    "zero tokens": ("tokens", _set("sequences", "tokens", 0, value=0), ["no tokens"]),
    "negative tokens": ("tokens", _set("n_tokens", value=-1), ["n_tokens"]),
    "tokens differ": ("tokens", _set("n_tokens", value=1), ["n_tokens"]),
    "nan nll": ("tokens", _set("sequences", "nll", 0, value="nan"), ["NaN"]),
    "nan token sum": ("tokens", _set("tokens", "sum", value="nan"), ["tokens.sum", "NaN"]),
    "negative masked": ("tokens", _set("n_masked", value=-2), ["n_masked"]),
    "negative bytes": ("tokens", _set("total_bytes", value=-1.0), ["total_bytes"]),
    "ragged sequences": ("tokens", lambda d: d["sequences"]["ids"].pop(), ["sequences"]),
    "repeated id": (
        "tokens",
        lambda d: d["sequences"]["ids"].__setitem__(1, d["sequences"]["ids"][0]),
        ["twice"],
    ),
}


@pytest.mark.parametrize("case", list(IMPOSSIBLE))
def test_a_state_with_impossible_contents_is_refused_naming_the_file(saved, case) -> None:
    which, change, words = IMPOSSIBLE[case]
    bad = _mutated(saved, which, change)
    assert_bad_input(invoke("merge", bad), str(bad), *words)
    assert_bad_input(invoke("merge", saved[which], bad, "--format", "json"), str(bad), *words)


def test_a_report_where_a_state_is_expected_is_refused(saved) -> None:
    assert_bad_input(
        invoke("merge", saved["eval"], saved["report"]), str(saved["report"]), "a report", "--save-state"
    )


def test_states_of_two_commands_are_refused(saved) -> None:
    assert_bad_input(
        invoke("merge", saved["eval"], saved["tokens"]), str(saved["tokens"]), "perplexity", "eval"
    )
    assert_bad_input(
        invoke("merge", saved["tokens"], saved["eval"]), str(saved["eval"]), "perplexity", "eval"
    )


@pytest.mark.parametrize(
    "first, second, difference",
    [
        ("eval", "eps0", "eps 1e-12 vs 0.0"),
        ("logits", "logits_t2", "temperature 1.0 vs 2.0"),
        ("abc", "abd", "classes a,b,c vs a,b,d"),
        ("eval", "logits", "kind probs vs logits"),
    ],
)
def test_states_of_different_settings_are_refused_naming_the_difference(
    saved, first, second, difference
) -> None:
    line = assert_bad_input(invoke("merge", saved[first], saved[second]), str(saved[second]), difference)
    assert str(saved[first]) in line


def test_a_missing_state_file_is_refused(saved) -> None:
    missing = saved["folder"] / "nope.json"
    assert_bad_input(invoke("merge", saved["eval"], missing), str(missing), "no such file")
    assert_bad_input(invoke("merge", saved["folder"]), str(saved["folder"]), "directory")
