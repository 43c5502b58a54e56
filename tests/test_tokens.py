"""Token-level perplexity: the NumPy core (``infocli.metrics.tokens``) and ``infocli perplexity``.

Every expected number is computed here by :func:`reference`, a plain-Python
implementation of the contract (a dictionary of per-sequence sums, ``math.log``,
``math.exp``, ``statistics``), from the same arrays the test writes; never from infocli.
The PyTorch test compares against ``torch.nn.functional.cross_entropy`` with
``ignore_index=-100``, as stored by ``torch_reference``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from scipy.special import log_softmax

from infocli.errors import InfoCliError
from infocli.metrics.tokens import TokenState, nll_from_logprobs

import torch_reference
from cli_helpers import assert_bad_input, invoke, run_json

RTOL = 1e-6
"""Relative agreement with the independent references, in float64."""
RTOL_SAME_ARITHMETIC = 1e-12
"""Relative agreement between two infocli runs that differ only in summation order."""

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA = REPO_ROOT / "sample_data"

LN = {"e": 1.0, "2": math.log(2), "10": math.log(10)}
UNITS = {"e": "nats", "2": "bits", "10": "hartleys"}
ALL_METRICS = (
    "cross_entropy",
    "perplexity",
    "sequence_perplexity_mean",
    "sequence_perplexity_median",
    "bits_per_byte",
    "word_perplexity",
)
TOP_LEVEL_KEYS = {
    "infocli_version",
    "tokens",
    "n_tokens",
    "n_sequences",
    "n_masked",
    "base",
    "unit",
    "metrics",
    "standard_error",
    "worst_sequences",
    "warnings",
    "signature",
    "gates",
}

# ------------------------------------------------------------------------------ reference


@dataclass
class Ref:
    """The numbers the contract defines, computed without infocli."""

    metrics: dict[str, float]
    se: dict[str, float]
    n_tokens: int
    n_sequences: int
    n_masked: int
    per_sequence: dict[Any, tuple[int, float, float]]  # id -> (tokens, cross-entropy in base, perplexity)

    def worst(self, k: int) -> list[tuple[Any, int, float, float]]:
        rows = sorted(self.per_sequence.items(), key=lambda item: item[1][2], reverse=True)
        return [(key, n, ce, ppl) for key, (n, ce, ppl) in rows[:k]]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _ratio_se(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """sqrt(S/(S-1) * sum (L_s - R d_s)^2) / sum d_s, written out with a loop."""
    s = len(numerators)
    total_d = math.fsum(denominators)
    ratio = math.fsum(numerators) / total_d
    squares = 0.0
    for num, den in zip(numerators, denominators, strict=True):
        squares += (num - ratio * den) ** 2
    return math.sqrt(s / (s - 1) * squares) / total_d


def reference(
    logprobs: Sequence[float],
    seq: Sequence[Any] | None = None,
    mask: Sequence[Any] | None = None,
    n_bytes: Sequence[float] | None = None,
    words: Sequence[float] | None = None,
    *,
    logprob_base: str = "e",
    base: str = "e",
) -> Ref:
    """The contract, one token at a time: a dict of per-sequence sums, math.log/math.exp."""
    sums: dict[Any, list[float]] = {}  # id -> [NLL in nats, tokens, bytes, words]
    token_nll: list[float] = []
    n_masked = 0
    for i, lp in enumerate(logprobs):
        if mask is not None and not bool(mask[i]):
            n_masked += 1
            continue
        nll = -float(lp) * LN[logprob_base]
        token_nll.append(nll)
        key = None if seq is None else _plain(seq[i])
        entry = sums.setdefault(key, [0.0, 0, 0.0, 0.0])
        entry[0] += nll
        entry[1] += 1
        entry[2] += 0.0 if n_bytes is None else float(n_bytes[i])
        entry[3] += 0.0 if words is None else float(words[i])
    keys = list(sums)
    seq_nll = [sums[k][0] for k in keys]
    seq_n = [sums[k][1] for k in keys]
    total_nll, total_n = math.fsum(seq_nll), sum(seq_n)
    rate = total_nll / total_n
    seq_ppl = [math.exp(sums[k][0] / sums[k][1]) for k in keys]
    metrics = {
        "cross_entropy": rate / LN[base],
        "perplexity": math.exp(rate),
        "sequence_perplexity_mean": statistics.fmean(seq_ppl),
        "sequence_perplexity_median": statistics.median(seq_ppl),
    }
    if len(keys) > 1:
        rate_se = _ratio_se(seq_nll, seq_n)
    else:  # one sequence: tokens are the unit
        rate_se = statistics.stdev(token_nll) / math.sqrt(len(token_nll))
    se = {"cross_entropy": rate_se / LN[base], "perplexity": math.exp(rate) * rate_se}
    if len(keys) > 1:
        se["sequence_perplexity_mean"] = statistics.stdev(seq_ppl) / math.sqrt(len(seq_ppl))
    if n_bytes is not None:
        seq_bytes = [sums[k][2] for k in keys]
        metrics["bits_per_byte"] = total_nll / math.log(2) / math.fsum(seq_bytes)
        if len(keys) > 1:
            se["bits_per_byte"] = _ratio_se(seq_nll, seq_bytes) / math.log(2)
    if words is not None:
        seq_words = [sums[k][3] for k in keys]
        metrics["word_perplexity"] = math.exp(total_nll / math.fsum(seq_words))
        if len(keys) > 1:
            se["word_perplexity"] = metrics["word_perplexity"] * _ratio_se(seq_nll, seq_words)
    per_sequence = {
        k: (int(sums[k][1]), sums[k][0] / sums[k][1] / LN[base], math.exp(sums[k][0] / sums[k][1]))
        for k in keys
    }
    return Ref(metrics, se, total_n, len(keys), n_masked, per_sequence)


# ------------------------------------------------------------------------------ helpers


def close(actual: Any, expected: float, rtol: float = RTOL) -> bool:
    if isinstance(actual, str):
        actual = float(actual)  # "nan" / "inf" in strict JSON
    if math.isnan(expected):
        return math.isnan(actual)
    return math.isclose(actual, expected, rel_tol=rtol, abs_tol=0.0)


def assert_matches(
    metrics: dict[str, Any], se: dict[str, Any], ref: Ref, rtol: float = RTOL, with_se: bool = True
) -> None:
    assert set(metrics) == set(ref.metrics), (sorted(metrics), sorted(ref.metrics))
    for name, expected in ref.metrics.items():
        assert close(metrics[name], expected, rtol), f"{name}: {metrics[name]!r} != {expected!r}"
    if with_se:
        for name, expected in ref.se.items():
            assert close(se[name], expected, rtol), f"SE of {name}: {se[name]!r} != {expected!r}"


def assert_worst(worst: list[dict[str, Any]], expected: list[tuple[Any, int, float, float]], rtol=RTOL):
    assert [row["sequence"] for row in worst] == [key for key, *_ in expected]
    for row, (_, n, ce, ppl) in zip(worst, expected, strict=True):
        assert row["n_tokens"] == n
        assert close(row["cross_entropy"], ce, rtol)
        assert close(row["perplexity"], ppl, rtol)


def state_of(data: dict[str, np.ndarray], *, chunk: int | None = None, **kwargs: Any) -> TokenState:
    """Feed the arrays to a TokenState, ``chunk`` rows at a time."""
    state = TokenState()
    n = len(data["logprob"])
    step = chunk or n
    for start in range(0, n, step):
        part = {k: None if v is None else v[start : start + step] for k, v in data.items()}
        state.update(
            part["logprob"],
            sequence=part.get("seq"),
            mask=part.get("mask"),
            n_bytes=part.get("bytes"),
            words=part.get("words"),
            **kwargs,
        )
    return state


def ref_of(data: dict[str, np.ndarray], **kwargs: Any) -> Ref:
    return reference(
        data["logprob"], data.get("seq"), data.get("mask"), data.get("bytes"), data.get("words"), **kwargs
    )


def make_tokens(
    seed: int, n_seq: int = 13, max_len: int = 30, mask_frac: float = 0.2, garbage: bool = True
) -> dict[str, np.ndarray]:
    """Random tokens: contiguous sequences with non-consecutive ids, a mask, counts.

    Masked rows hold garbage (NaN or positive log-probabilities, NaN or negative counts)
    that must never be looked at.
    """
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, max_len + 1, n_seq)
    seq = np.repeat(rng.permutation(1000)[:n_seq], lengths).astype(np.int64)
    n = len(seq)
    logprob = -rng.exponential(2.0, n)
    mask = rng.random(n) >= mask_frac
    n_bytes = rng.integers(1, 9, n).astype(np.float64)
    words = rng.integers(0, 3, n).astype(np.float64)
    if garbage:
        bad = np.flatnonzero(~mask)
        logprob[bad[::2]] = np.nan
        logprob[bad[1::2]] = 3.5
        n_bytes[bad] = np.nan
        words[bad] = -7.0
    return {"logprob": logprob, "seq": seq, "mask": mask, "bytes": n_bytes, "words": words}


def shuffled(data: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    order = np.random.default_rng(seed).permutation(len(data["logprob"]))
    return {k: v[order] for k, v in data.items()}


def write(path: Path, columns: dict[str, Any], fmt: str) -> str:
    """Named columns as CSV, Parquet or a structured .npy."""
    if fmt == "npy":
        dtype = [(name, np.asarray(v).dtype) for name, v in columns.items()]
        out = np.zeros(len(next(iter(columns.values()))), dtype=dtype)
        for name, v in columns.items():
            out[name] = v
        np.save(path, out)
        return str(path)
    table = pa.table({name: pa.array(np.asarray(v).tolist()) for name, v in columns.items()})
    if fmt == "parquet":
        pq.write_table(table, path)
    else:
        pcsv.write_csv(table, path)
    return str(path)


def cli_args(data: dict[str, np.ndarray]) -> list[str]:
    args = []
    for role in ("seq", "mask", "bytes", "words"):
        if role in data:
            args += [f"--{role}-col", role]
    return args


def assert_report(doc: dict[str, Any], ref: Ref, base: str = "e", top: int = 5) -> None:
    assert doc["n_tokens"] == ref.n_tokens
    assert doc["n_sequences"] == ref.n_sequences
    assert doc["n_masked"] == ref.n_masked
    assert doc["base"] == base
    assert doc["unit"] == UNITS[base]
    assert_matches(doc["metrics"], doc["standard_error"], ref)
    assert_worst(doc["worst_sequences"], ref.worst(top))
    for row in doc["worst_sequences"]:
        assert set(row) == {"sequence", "n_tokens", "cross_entropy", "perplexity"}


# ------------------------------------------------------------------------- core: numbers


def test_nll_from_logprobs_converts_each_base_to_nats():
    p = np.array([0.5, 0.25, 1.0, 0.001])
    for base, logs in (("e", np.log(p)), ("2", np.log2(p)), ("10", np.log10(p))):
        expected = [-math.log(x) for x in p]
        got = nll_from_logprobs(logs, base)
        assert got.dtype == np.float64
        assert all(close(g, e) or g == e == 0 for g, e in zip(got, expected, strict=True))


@pytest.mark.parametrize("bad, row", [(np.nan, 3), (0.25, 5)])
def test_nll_from_logprobs_rejects_nan_and_positive_with_the_row(bad, row):
    values = np.full(8, -1.0)
    values[row] = bad
    with pytest.raises(InfoCliError) as info:
        nll_from_logprobs(values)
    assert info.value.row == row


def test_token_state_one_sequence_matches_reference():
    rng = np.random.default_rng(1)
    logprob = -rng.exponential(1.5, 200)
    state = TokenState()
    state.update(logprob)
    got = state.compute()
    ref = reference(logprob)
    assert (got.n_tokens, got.n_sequences, got.n_masked) == (200, 1, 0)
    assert_matches(got.metrics, got.standard_error, ref)


def test_single_sequence_standard_error_uses_tokens_as_the_unit():
    rng = np.random.default_rng(2)
    logprob = -rng.exponential(1.0, 50)
    state = TokenState()
    state.update(logprob, sequence=np.zeros(50, dtype=np.int64))
    got = state.compute()
    nll = [-x for x in logprob]
    se = statistics.stdev(nll) / math.sqrt(len(nll))
    assert close(got.standard_error["cross_entropy"], se)
    assert close(got.standard_error["perplexity"], math.exp(statistics.fmean(nll)) * se)


def test_token_state_contiguous_sequences_masks_bytes_words_match_reference():
    data = make_tokens(3)
    got = state_of(data).compute(top=100)
    ref = ref_of(data)
    assert (got.n_tokens, got.n_sequences, got.n_masked) == (ref.n_tokens, ref.n_sequences, ref.n_masked)
    assert ref.n_masked > 0 and ref.n_sequences > 1
    assert_matches(got.metrics, got.standard_error, ref)
    assert_worst(got.worst, ref.worst(100))


def test_ratio_estimator_standard_error_formula():
    """Hand-sized data: three sequences, the SE written out from the contract's formula."""
    logprob = np.log(np.array([0.5, 0.5, 0.1, 0.2, 0.3, 0.9]))
    seq = np.array([1, 1, 2, 2, 2, 3])
    state = TokenState()
    state.update(logprob, sequence=seq)
    got = state.compute()
    L = [-(math.log(0.5) * 2), -(math.log(0.1) + math.log(0.2) + math.log(0.3)), -math.log(0.9)]
    n = [2, 3, 1]
    R = sum(L) / sum(n)
    se = math.sqrt(3 / 2 * sum((L[i] - R * n[i]) ** 2 for i in range(3))) / sum(n)
    assert close(got.metrics["cross_entropy"], R)
    assert close(got.standard_error["cross_entropy"], se)
    assert close(got.standard_error["perplexity"], math.exp(R) * se)
    # The sequence SE is not the token SE: the data were chosen so they differ.
    token_se = statistics.stdev([-x for x in logprob]) / math.sqrt(6)
    assert not close(got.standard_error["cross_entropy"], token_se, 1e-3)


def test_interleaved_rows_give_the_same_results_as_contiguous_ones():
    data = make_tokens(4)
    mixed = shuffled(data, 40)
    assert (np.diff(mixed["seq"]) != 0).sum() > 2 * len(np.unique(data["seq"]))  # really interleaved
    a = state_of(data).compute(top=1000)
    b = state_of(mixed).compute(top=1000)
    assert (a.n_tokens, a.n_sequences, a.n_masked) == (b.n_tokens, b.n_sequences, b.n_masked)
    assert_matches(b.metrics, b.standard_error, ref_of(mixed))
    for name, value in a.metrics.items():
        assert close(b.metrics[name], value, RTOL_SAME_ARITHMETIC), name
    for name, value in a.standard_error.items():
        assert close(b.standard_error[name], value, RTOL_SAME_ARITHMETIC), name
    per_a = {row["sequence"]: row for row in a.worst}
    per_b = {row["sequence"]: row for row in b.worst}
    assert per_a.keys() == per_b.keys()
    for key, row in per_a.items():
        assert per_b[key]["n_tokens"] == row["n_tokens"]
        assert close(per_b[key]["perplexity"], row["perplexity"], RTOL_SAME_ARITHMETIC)


def test_masked_rows_are_left_out_of_everything_and_not_validated():
    data = make_tokens(5, mask_frac=0.35)
    got = state_of(data).compute(top=1000)
    kept = {k: v[data["mask"]] for k, v in data.items() if k != "mask"}
    assert np.isnan(data["logprob"][~data["mask"]]).any() and (data["logprob"][~data["mask"]] > 0).any()
    without = state_of(kept).compute(top=1000)  # the same tokens, no mask at all
    assert got.n_masked == int((~data["mask"]).sum())
    assert got.n_tokens == int(data["mask"].sum())
    for name, value in without.metrics.items():
        assert close(got.metrics[name], value, RTOL_SAME_ARITHMETIC), name
    assert_matches(got.metrics, got.standard_error, ref_of(data))


def test_a_sequence_whose_tokens_are_all_masked_is_not_counted():
    logprob = np.log(np.array([0.5, 0.25, 0.9, 0.1, 0.2]))
    seq = np.array([7, 7, 8, 8, 9])
    mask = np.array([1, 1, 0, 0, 1])
    state = TokenState()
    state.update(logprob, sequence=seq, mask=mask)
    got = state.compute(top=10)
    assert got.n_sequences == 2
    assert {row["sequence"] for row in got.worst} == {7, 9}
    assert_matches(got.metrics, got.standard_error, reference(logprob, seq, mask))


def test_per_sequence_totals_on_one_row_equal_per_token_counts():
    data = make_tokens(6, garbage=False)
    totals = {k: v.copy() for k, v in data.items()}
    for role in ("bytes", "words"):
        column = np.zeros_like(data[role])
        for key in np.unique(data["seq"]):
            rows = np.flatnonzero((data["seq"] == key) & data["mask"])
            if len(rows):
                column[rows[len(rows) // 2]] = data[role][rows].sum()  # on one used row
        totals[role] = column
    a = state_of(data).compute()
    b = state_of(totals).compute()
    for name in ("bits_per_byte", "word_perplexity"):
        assert close(b.metrics[name], a.metrics[name], RTOL_SAME_ARITHMETIC)
        assert close(b.standard_error[name], a.standard_error[name], RTOL_SAME_ARITHMETIC)
    assert_matches(b.metrics, b.standard_error, ref_of(totals))


def test_bits_per_byte_and_word_perplexity_definitions():
    logprob = np.log(np.array([0.5, 0.25, 0.125, 0.5]))
    state = TokenState()
    state.update(logprob, n_bytes=np.array([1.0, 2.0, 3.0, 2.0]), words=np.array([1.0, 0.0, 1.0, 0.0]))
    got = state.compute()
    bits = -sum(math.log2(p) for p in (0.5, 0.25, 0.125, 0.5))  # 7 bits
    assert close(got.metrics["bits_per_byte"], bits / 8)
    assert close(got.metrics["word_perplexity"], 2 ** (bits / 2))
    assert close(got.metrics["perplexity"], 2 ** (bits / 4))


@pytest.mark.parametrize("logprob_base", ["e", "2", "10"])
@pytest.mark.parametrize("base", ["e", "2", "10"])
def test_logprob_base_input_and_base_output(logprob_base, base):
    data = make_tokens(7, garbage=False)
    scaled = dict(data, logprob=data["logprob"] / LN[logprob_base])  # the same probabilities
    got = state_of(scaled, logprob_base=logprob_base).compute(base, top=4)
    ref = ref_of(data, base=base)
    assert_matches(got.metrics, got.standard_error, ref)
    assert_worst(got.worst, ref.worst(4))
    assert close(got.metrics["cross_entropy"] * LN[base], ref_of(data).metrics["cross_entropy"])


@pytest.mark.parametrize("chunk", [1, 7, None])
def test_chunking_does_not_change_the_results(chunk):
    data = shuffled(make_tokens(8), 80)  # interleaved, so sequences span chunks
    whole = state_of(data).compute(top=1000)
    got = state_of(data, chunk=chunk).compute(top=1000)
    assert (got.n_tokens, got.n_sequences, got.n_masked) == (
        whole.n_tokens,
        whole.n_sequences,
        whole.n_masked,
    )
    for name, value in whole.metrics.items():
        assert close(got.metrics[name], value, RTOL_SAME_ARITHMETIC), name
    for name, value in whole.standard_error.items():
        assert close(got.standard_error[name], value, RTOL_SAME_ARITHMETIC), name
    assert_worst(
        got.worst,
        [(r["sequence"], r["n_tokens"], r["cross_entropy"], r["perplexity"]) for r in whole.worst],
        RTOL_SAME_ARITHMETIC,
    )
    assert_matches(got.metrics, got.standard_error, ref_of(data))


def test_merge_of_two_halves_equals_one_state_over_everything():
    data = make_tokens(9)
    same = np.flatnonzero(data["seq"][1:] == data["seq"][:-1]) + 1
    cut = int(same[len(same) // 2])  # a cut inside a sequence, near the middle
    assert data["seq"][cut - 1] == data["seq"][cut]
    first = {k: v[:cut] for k, v in data.items()}
    second = {k: v[cut:] for k, v in data.items()}
    merged = state_of(first)
    merged.merge(state_of(second))
    whole = state_of(data)
    a, b = merged.compute(top=1000), whole.compute(top=1000)
    assert (a.n_tokens, a.n_sequences, a.n_masked) == (b.n_tokens, b.n_sequences, b.n_masked)
    for name, value in b.metrics.items():
        assert close(a.metrics[name], value, RTOL_SAME_ARITHMETIC), name
    for name, value in b.standard_error.items():
        assert close(a.standard_error[name], value, RTOL_SAME_ARITHMETIC), name
    assert [r["sequence"] for r in a.worst] == [r["sequence"] for r in b.worst]


def test_merge_joins_a_sequence_split_across_states():
    logprob = np.log(np.array([0.5, 0.5, 0.1, 0.1]))
    one, two = TokenState(), TokenState()
    one.update(logprob[:3], sequence=np.array([4, 4, 5]))
    two.update(logprob[3:], sequence=np.array([5]))
    one.merge(two)
    got = one.compute(top=10)
    assert got.n_sequences == 2
    by_id = {r["sequence"]: r for r in got.worst}
    assert by_id[5]["n_tokens"] == 2
    assert close(by_id[5]["perplexity"], 10.0)
    assert close(by_id[4]["perplexity"], 2.0)


def test_sequence_perplexity_mean_and_median_differ_from_corpus_perplexity():
    """One long easy sequence and a few short hard ones: the three summaries disagree."""
    logprob = np.concatenate(
        [np.full(100, math.log(0.9)), np.full(2, math.log(0.01)), np.full(3, math.log(0.2))]
    )
    logprob = np.concatenate([logprob, np.full(2, math.log(0.5))])
    seq = np.repeat([0, 1, 2, 3], [100, 2, 3, 2])
    state = TokenState()
    state.update(logprob, sequence=seq)
    got = state.compute()
    per = [1 / 0.9, 100.0, 5.0, 2.0]
    assert close(got.metrics["sequence_perplexity_mean"], sum(per) / 4)
    assert close(got.metrics["sequence_perplexity_median"], (2.0 + 5.0) / 2)
    corpus = math.exp(
        -(100 * math.log(0.9) + 2 * math.log(0.01) + 3 * math.log(0.2) + 2 * math.log(0.5)) / 107
    )
    assert close(got.metrics["perplexity"], corpus)
    assert (
        got.metrics["sequence_perplexity_mean"]
        > got.metrics["sequence_perplexity_median"]
        > got.metrics["perplexity"]
    )


@pytest.mark.parametrize("top", [0, 1, 3, 50])
def test_top_k_worst_sequences_in_descending_perplexity(top):
    data = make_tokens(10)
    got = state_of(data).compute(top=top)
    ref = ref_of(data)
    assert len(got.worst) == min(top, ref.n_sequences)
    assert_worst(got.worst, ref.worst(top))
    ppl = [r["perplexity"] for r in got.worst]
    assert ppl == sorted(ppl, reverse=True)


def test_core_error_row_is_the_chunk_row_even_after_masked_rows():
    logprob = np.array([-1.0, np.nan, 2.0, -1.0, 0.5])
    mask = np.array([1, 0, 0, 1, 1])
    with pytest.raises(InfoCliError) as info:
        TokenState().update(logprob, mask=mask)
    assert info.value.row == 4


# ------------------------------------------------------------------------ CLI: formats


@pytest.mark.parametrize("fmt", ["csv", "parquet", "npy"])
def test_cli_perplexity_every_column_matches_reference(tmp_path, fmt):
    data = make_tokens(11)
    columns = dict(data, mask=data["mask"].astype(np.int64) if fmt == "csv" else data["mask"])
    path = write(tmp_path / f"tokens.{fmt}", columns, fmt)
    doc = run_json("perplexity", path, *cli_args(data), "--top", "4")
    assert set(doc) == TOP_LEVEL_KEYS
    assert set(doc["metrics"]) == set(ALL_METRICS)
    assert doc["tokens"]["path"] == path
    assert doc["gates"] == []
    assert_report(doc, ref_of(data), top=4)


def test_cli_json_has_only_the_metrics_the_options_allow(tmp_path):
    data = make_tokens(12, garbage=False)
    path = write(tmp_path / "t.parquet", {"logprob": data["logprob"], "seq": data["seq"]}, "parquet")
    doc = run_json("perplexity", path, "--seq-col", "seq")
    assert set(doc["metrics"]) == set(ALL_METRICS) - {"bits_per_byte", "word_perplexity"}
    assert_report(doc, reference(data["logprob"], data["seq"]))


def test_cli_plain_npy_is_one_sequence(tmp_path):
    rng = np.random.default_rng(13)
    logprob = -rng.exponential(1.2, 300)
    path = tmp_path / "lp.npy"
    np.save(path, logprob)
    doc = run_json("perplexity", path)
    assert doc["n_sequences"] == 1
    assert_report(doc, reference(logprob))


def test_cli_plain_npy_with_a_sequence_column_is_bad_input(tmp_path):
    path = tmp_path / "lp.npy"
    np.save(path, np.full(5, -1.0))
    assert_bad_input(invoke("perplexity", path, "--seq-col", "seq"), str(path))


def test_cli_stdin_csv_text():
    data = make_tokens(14, garbage=False, n_seq=5)
    text = "logprob,seq,mask\n" + "".join(
        f"{float(lp)!r},{int(s)},{int(m)}\n"
        for lp, s, m in zip(data["logprob"], data["seq"], data["mask"], strict=True)
    )
    doc = run_json("perplexity", "-", "--seq-col", "seq", "--mask-col", "mask", input=text)
    assert doc["tokens"]["path"] == "-"
    assert_report(doc, reference(data["logprob"], data["seq"], data["mask"]))


def test_cli_stdin_parquet_with_input_format(tmp_path):
    data = make_tokens(15, garbage=False, n_seq=4)
    path = write(tmp_path / "t.parquet", {"logprob": data["logprob"], "seq": data["seq"]}, "parquet")
    doc = run_json(
        "perplexity", "-", "--seq-col", "seq", "--input-format", "parquet", input=Path(path).read_bytes()
    )
    assert_report(doc, reference(data["logprob"], data["seq"]))


@pytest.mark.parametrize("fmt", ["csv", "parquet", "npy"])
def test_cli_string_sequence_ids_interleaved_across_chunks(tmp_path, fmt):
    data = shuffled(make_tokens(16, n_seq=6), 160)
    names = np.array([f"doc-{i:03d}" for i in data["seq"]])
    columns = dict(data, seq=names, mask=data["mask"].astype(np.int64))
    path = write(tmp_path / f"t.{fmt}", columns, fmt)
    doc = run_json("perplexity", path, *cli_args(data), "--top", "100", "--chunk-rows", "5")
    ref = reference(data["logprob"], names.tolist(), data["mask"], data["bytes"], data["words"])
    assert_report(doc, ref, top=100)
    assert all(isinstance(row["sequence"], str) for row in doc["worst_sequences"])


def test_cli_contiguous_and_interleaved_files_agree(tmp_path):
    data = make_tokens(17)
    mixed = shuffled(data, 170)
    a = run_json(
        "perplexity", write(tmp_path / "a.parquet", data, "parquet"), *cli_args(data), "--top", "100"
    )
    b = run_json(
        "perplexity", write(tmp_path / "b.parquet", mixed, "parquet"), *cli_args(data), "--top", "100"
    )
    for name, value in a["metrics"].items():
        assert close(b["metrics"][name], value, RTOL_SAME_ARITHMETIC), name
    assert {r["sequence"]: r["n_tokens"] for r in a["worst_sequences"]} == {
        r["sequence"]: r["n_tokens"] for r in b["worst_sequences"]
    }
    assert_report(b, ref_of(mixed), top=100)


@pytest.mark.parametrize("chunk_rows", ["1", "7", "100000"])
def test_cli_chunk_rows_do_not_change_the_report(tmp_path, chunk_rows):
    data = shuffled(make_tokens(18), 180)
    path = write(tmp_path / "t.parquet", data, "parquet")
    doc = run_json("perplexity", path, *cli_args(data), "--chunk-rows", chunk_rows)
    assert_report(doc, ref_of(data))


@pytest.mark.parametrize("logprob_base", ["2", "10"])
def test_cli_logprob_base_and_base(tmp_path, logprob_base):
    data = make_tokens(19)
    scaled = dict(data, logprob=data["logprob"] / LN[logprob_base])
    path = write(tmp_path / "t.parquet", scaled, "parquet")
    for base in ("e", "2", "10"):
        doc = run_json("perplexity", path, *cli_args(data), "--logprob-base", logprob_base, "--base", base)
        assert_report(doc, ref_of(data, base=base), base=base)
        assert f"logprob_base:{logprob_base}" in doc["signature"]


def test_cli_sample_data_matches_reference():
    path = SAMPLE_DATA / "tokens.parquet"
    table = pq.read_table(path).to_pydict()
    doc = run_json(
        "perplexity",
        path,
        "--seq-col",
        "seq",
        "--mask-col",
        "mask",
        "--bytes-col",
        "bytes",
        "--words-col",
        "words",
    )
    ref = reference(table["logprob"], table["seq"], table["mask"], table["bytes"], table["words"])
    assert_report(doc, ref)


def test_cli_table_output_lists_metrics_and_worst_sequences(tmp_path):
    data = make_tokens(20, garbage=False)
    path = write(tmp_path / "t.parquet", data, "parquet")
    result = invoke("perplexity", path, *cli_args(data), "--top", "2")
    assert result.exit_code == 0, result.stderr
    for name in ALL_METRICS:
        assert name in result.stdout
    assert "worst sequences" in result.stdout
    worst = ref_of(data).worst(2)
    assert str(worst[0][0]) in result.stdout


# -------------------------------------------------------------------------- CLI: gates


def test_fail_if_gate_exits_1_when_it_holds_and_0_when_not(tmp_path):
    data = make_tokens(21)
    path = write(tmp_path / "t.parquet", data, "parquet")
    ppl = ref_of(data).metrics["perplexity"]
    failed = run_json("perplexity", path, *cli_args(data), "--fail-if", f"perplexity > {ppl * 0.99}", code=1)
    assert failed["gates"][0]["failed"] is True
    assert close(failed["gates"][0]["value"], ppl)
    passed = run_json("perplexity", path, *cli_args(data), "--fail-if", f"perplexity > {ppl * 1.01}")
    assert passed["gates"][0]["failed"] is False
    bpb = ref_of(data).metrics["bits_per_byte"]
    run_json("perplexity", path, *cli_args(data), "--fail-if", f"bits_per_byte >= {bpb * 0.99}", code=1)


def test_gate_on_bits_per_byte_without_bytes_col_is_bad_input(tmp_path):
    path = write(tmp_path / "t.csv", {"logprob": np.full(4, -1.0)}, "csv")
    result = invoke("perplexity", path, "--fail-if", "bits_per_byte > 1")
    assert result.exit_code == 2
    assert result.stderr.startswith("infocli: error:")
    assert "bits_per_byte" in result.stderr


# ------------------------------------------------------------------------- CLI: errors


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_positive_logprob_names_file_and_row(tmp_path, fmt):
    logprob = np.full(20, -1.0)
    logprob[13] = 0.7
    mask = np.ones(20, dtype=np.int64)
    mask[2] = 0
    logprob[2] = 5.0  # masked: not an error
    path = write(tmp_path / f"t.{fmt}", {"logprob": logprob, "mask": mask}, fmt)
    result = invoke("perplexity", path, "--mask-col", "mask", "--chunk-rows", "4")
    assert_bad_input(result, path, "row 13", "0.7")


@pytest.mark.parametrize("fmt", ["csv", "parquet", "npy"])
def test_nan_logprob_in_an_unmasked_row_names_file_and_row(tmp_path, fmt):
    logprob = np.full(12, -0.5)
    logprob[9] = np.nan
    logprob[1] = np.nan  # masked
    mask = np.ones(12, dtype=np.int64)
    mask[1] = 0
    path = write(tmp_path / f"t.{fmt}", {"logprob": logprob, "mask": mask}, fmt)
    assert_bad_input(invoke("perplexity", path, "--mask-col", "mask"), path, "row 9")


def test_empty_csv_field_is_a_missing_logprob_with_its_row(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("logprob,seq\n-1.0,1\n-2.0,1\n,2\n-0.5,2\n")
    assert_bad_input(invoke("perplexity", path, "--seq-col", "seq"), str(path), "row 2")


@pytest.mark.parametrize("option", ["--logprob-col", "--seq-col", "--mask-col", "--bytes-col", "--words-col"])
def test_missing_column_is_named_with_the_columns_there_are(tmp_path, option):
    path = write(tmp_path / "t.parquet", {"logprob": np.full(3, -1.0), "doc": np.arange(3)}, "parquet")
    line = assert_bad_input(invoke("perplexity", path, option, "nope"), path, "'nope'")
    assert "logprob" in line and "doc" in line


def test_default_logprob_column_missing_lists_columns(tmp_path):
    path = write(tmp_path / "t.csv", {"lp": np.full(3, -1.0), "seq": np.arange(3)}, "csv")
    line = assert_bad_input(invoke("perplexity", path), path, "'logprob'")
    assert "lp" in line and "seq" in line


def test_negative_byte_count_in_an_unmasked_row_names_file_and_row(tmp_path):
    n_bytes = np.full(10, 2.0)
    n_bytes[1] = np.nan  # masked: not looked at
    n_bytes[6] = -3.0
    mask = np.ones(10, dtype=np.int64)
    mask[1] = 0
    path = write(
        tmp_path / "t.parquet", {"logprob": np.full(10, -1.0), "mask": mask, "bytes": n_bytes}, "parquet"
    )
    result = invoke("perplexity", path, "--mask-col", "mask", "--bytes-col", "bytes", "--chunk-rows", "4")
    assert_bad_input(result, path, "row 6")


def test_negative_top_is_bad_input(tmp_path):
    path = write(tmp_path / "t.csv", {"logprob": np.full(3, -1.0)}, "csv")
    result = invoke("perplexity", path, "--top", "-1")
    assert result.exit_code == 2 and result.stderr.startswith("infocli: error:") and "--top" in result.stderr


def test_every_token_masked_is_bad_input(tmp_path):
    path = write(
        tmp_path / "t.parquet", {"logprob": np.full(5, np.nan), "mask": np.zeros(5, bool)}, "parquet"
    )
    line = assert_bad_input(invoke("perplexity", path, "--mask-col", "mask"), path)
    assert "mask" in line


# ------------------------------------------------------------------------------- torch


def test_perplexity_and_eval_match_torch_cross_entropy_with_ignore_index(tmp_path):
    logits, target = torch_reference.perplexity_case()
    pytorch = torch_reference.stored()["perplexity"]  # what PyTorch computed from these inputs
    loss = pytorch["mean"]
    batch, length, vocab = logits.shape
    keep = target != -100
    logp = np.take_along_axis(log_softmax(logits, axis=-1), np.maximum(target, 0)[..., None], -1)[..., 0]
    seq = np.broadcast_to(np.arange(batch)[:, None], (batch, length))
    # Only the positions torch does not ignore:
    used = write(tmp_path / "used.parquet", {"logprob": logp[keep], "seq": seq[keep]}, "parquet")
    doc = run_json("perplexity", used, "--seq-col", "seq", "--top", str(batch))
    assert close(doc["metrics"]["cross_entropy"], loss)
    assert close(doc["metrics"]["perplexity"], math.exp(loss))
    assert doc["n_tokens"] == int(keep.sum())
    worst = {row["sequence"]: row["perplexity"] for row in doc["worst_sequences"]}
    for b in range(batch):
        assert close(worst[b], pytorch["sequence_perplexity"][b])
    # Every position, the ignored ones masked out and holding garbage:
    garbage = np.where(keep, logp, np.nan)
    full = write(
        tmp_path / "full.parquet",
        {"logprob": garbage.reshape(-1), "seq": seq.reshape(-1), "mask": keep.reshape(-1)},
        "parquet",
    )
    doc = run_json("perplexity", full, "--seq-col", "seq", "--mask-col", "mask")
    assert close(doc["metrics"]["perplexity"], math.exp(loss))
    assert doc["n_masked"] == int((~keep).sum())
    # eval on the logits themselves, with --ignore-index -100:
    np.save(tmp_path / "logits.npy", logits.reshape(-1, vocab))
    np.save(tmp_path / "labels.npy", target.reshape(-1))
    doc = run_json("eval", tmp_path / "logits.npy", tmp_path / "labels.npy", "--ignore-index", "-100")
    assert close(doc["metrics"]["cross_entropy"], loss)
    assert close(doc["metrics"]["perplexity"], math.exp(loss))
    assert doc["n_ignored"] == int((~keep).sum())
    assert doc["n_samples"] == int(keep.sum())
