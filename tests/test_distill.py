"""Distillation in ``eval``: the reverse KL, the (generalised) Jensen-Shannon divergence,
``--t2``, the top-1 agreement and its ``accuracy`` alias, and the per-row KL percentiles,
against SciPy and the definitions, on the shipped teacher and student and on random data."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr, softmax

from infocli.evaluate import evaluate_arrays
from infocli.metrics.registry import PERCENTILE_KEYS, REGISTRY
from infocli.metrics.sketch import QUANTILES, RELATIVE_ACCURACY, SUMMARY_KEYS
from infocli.metrics.state import EvalState
from infocli.states import merge_states

from .conftest import SAMPLE_DATA
from cli_helpers import assert_bad_input, invoke, run_json

TEACHER = SAMPLE_DATA / "teacher.parquet"
STUDENT = SAMPLE_DATA / "student.parquet"
TEACHER_LOGITS = SAMPLE_DATA / "teacher_logits.parquet"
STUDENT_LOGITS = SAMPLE_DATA / "student_logits.parquet"

RTOL = 1e-10
"""Relative tolerance against SciPy on float64 inputs (sums in another order)."""
RTOL_F32 = 1e-4
"""The same for float32 inputs, whose per-element work stays in float32."""
REL_SAME_SUMS = 1e-12
"""Two infocli runs over the same rows, summed in another order."""
ABS_SLACK = 1e-12
"""Absolute slack for values bounded by 0 or ln 2 in float64."""
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _read(path) -> np.ndarray:
    table = pq.read_table(path)
    return np.column_stack([table.column(i).to_numpy() for i in range(table.num_columns)])


def _se(rows: np.ndarray) -> float:
    return float(np.std(rows, ddof=1) / math.sqrt(len(rows)))


def _js(p: np.ndarray, q: np.ndarray, beta: float) -> np.ndarray:
    """The generalised Jensen-Shannon divergence per row, by its definition."""
    m = beta * p + (1 - beta) * q
    return beta * rel_entr(p, m).sum(axis=1) + (1 - beta) * rel_entr(q, m).sum(axis=1)


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, np.ndarray]:
    """The shipped (teacher p, student q), rows renormalised in float64 as infocli does."""
    p, q = _read(TEACHER), _read(STUDENT)
    return p / p.sum(axis=1, keepdims=True), q / q.sum(axis=1, keepdims=True)


# ------------------------------------------------------------------ against SciPy and definitions


def test_reverse_kl_and_js_on_the_sample_match_scipy(sample) -> None:
    p, q = sample
    doc = run_json("eval", STUDENT, TEACHER, "--js")
    m, se = doc["metrics"], doc["standard_error"]
    reverse = rel_entr(q, p).sum(axis=1)  # KL(q ‖ p)
    js = jensenshannon(p, q, axis=1) ** 2  # SciPy's is the square root, in nats by default
    assert m["reverse_kl_divergence"] == pytest.approx(reverse.mean(), rel=RTOL)
    assert se["reverse_kl_divergence"] == pytest.approx(_se(reverse), rel=1e-8)
    assert m["js_divergence"] == pytest.approx(js.mean(), rel=RTOL)
    assert se["js_divergence"] == pytest.approx(_se(js), rel=1e-8)
    assert m["kl_divergence"] == pytest.approx(rel_entr(p, q).sum(axis=1).mean(), rel=RTOL)
    assert m["top1_agreement"] == np.mean(p.argmax(axis=1) == q.argmax(axis=1))
    assert "accuracy" not in m and doc["aliases"] == {"accuracy": "top1_agreement"}


@pytest.mark.parametrize("beta", [0.1, 0.3, 0.5, 0.9])
def test_general_beta_matches_the_definition(sample, beta) -> None:
    p, q = sample
    doc = run_json("eval", STUDENT, TEACHER, "--js-beta", str(beta))
    assert doc["metrics"]["js_divergence"] == pytest.approx(_js(p, q, beta).mean(), rel=RTOL)
    assert f"js_beta:{beta!r}" in doc["signature"].split("|")


def test_beta_is_the_teachers_weight_as_in_trl(sample) -> None:
    # TRL's generalized_jsd_loss: m = β teacher + (1 − β) student; swapping the files swaps β
    p, q = sample
    one = run_json("eval", STUDENT, TEACHER, "--js-beta", "0.2")["metrics"]["js_divergence"]
    other = run_json("eval", TEACHER, STUDENT, "--js-beta", "0.8")["metrics"]["js_divergence"]
    assert one == pytest.approx(other, rel=1e-12)
    assert one == pytest.approx(_js(p, q, 0.2).mean(), rel=RTOL)


@pytest.mark.parametrize("base", ["2", "10"])
def test_the_divergences_follow_the_base(base) -> None:
    nats = run_json("eval", STUDENT, TEACHER, "--js")
    other = run_json("eval", STUDENT, TEACHER, "--js", "--base", base)
    ln = math.log(float(base))
    for name in ("reverse_kl_divergence", "js_divergence"):
        assert other["metrics"][name] == pytest.approx(nats["metrics"][name] / ln, rel=1e-12)
    for key in PERCENTILE_KEYS:
        want = nats["distributions"]["kl_divergence"][key] / ln
        assert other["distributions"]["kl_divergence"][key] == pytest.approx(want, rel=1e-12)
    assert other["metrics"]["top1_agreement"] == nats["metrics"]["top1_agreement"]


def test_logits_at_a_temperature_match_scipy_softmax_of_both() -> None:
    z_p, z_q = _read(TEACHER_LOGITS).astype(np.float64), _read(STUDENT_LOGITS).astype(np.float64)
    p, q = softmax(z_p / 2, axis=1), softmax(z_q / 2, axis=1)
    doc = run_json("eval", STUDENT_LOGITS, TEACHER_LOGITS, "--temperature", "2", "--js")
    m = doc["metrics"]
    assert (doc["predictions"]["kind"], doc["labels"]["kind"]) == ("logits", "logits")
    assert m["kl_divergence"] == pytest.approx(rel_entr(p, q).sum(axis=1).mean(), rel=RTOL_F32)
    assert m["reverse_kl_divergence"] == pytest.approx(rel_entr(q, p).sum(axis=1).mean(), rel=RTOL_F32)
    assert m["js_divergence"] == pytest.approx((jensenshannon(p, q, axis=1) ** 2).mean(), rel=RTOL_F32)


# ------------------------------------------------------------------------------------ --t2


def test_t2_multiplies_the_divergences_and_nothing_else() -> None:
    args = ("eval", STUDENT_LOGITS, TEACHER_LOGITS, "--temperature", "2.5", "--js")
    plain, scaled = run_json(*args), run_json(*args, "--t2")
    t2 = 2.5**2
    for name in ("kl_divergence", "reverse_kl_divergence", "js_divergence"):
        assert scaled["metrics"][name] == pytest.approx(plain["metrics"][name] * t2, rel=1e-15)
        assert scaled["standard_error"][name] == pytest.approx(plain["standard_error"][name] * t2, rel=1e-15)
    for key in PERCENTILE_KEYS:
        want = plain["distributions"]["kl_divergence"][key] * t2
        assert scaled["distributions"]["kl_divergence"][key] == pytest.approx(want, rel=1e-15)
    for name in ("entropy", "target_entropy", "cross_entropy", "perplexity", "top1_agreement"):
        assert scaled["metrics"][name] == plain["metrics"][name]
        assert scaled["standard_error"][name] == plain["standard_error"][name]
    assert "t2:yes" in scaled["signature"].split("|") and "t2:yes" not in plain["signature"]
    assert not scaled["warnings"]


def test_t2_matches_the_formula_on_softmax_at_the_temperature() -> None:
    z_p, z_q = _read(TEACHER_LOGITS).astype(np.float64), _read(STUDENT_LOGITS).astype(np.float64)
    p, q = softmax(z_p / 4, axis=1), softmax(z_q / 4, axis=1)
    doc = run_json("eval", STUDENT_LOGITS, TEACHER_LOGITS, "-T", "4", "--t2")
    # T² · KL(softmax(z_t / T) ‖ softmax(z_s / T)), as Hinton et al. and DistilBERT's distiller log it
    want = 16 * rel_entr(p, q).sum(axis=1).mean()
    assert doc["metrics"]["kl_divergence"] == pytest.approx(want, rel=RTOL_F32)


@pytest.mark.parametrize(
    ("args", "why"),
    [
        ((STUDENT_LOGITS, TEACHER_LOGITS), "--temperature is 1"),
        ((SAMPLE_DATA / "logits.npy", SAMPLE_DATA / "labels.npy", "-T", "2"), "class indices"),
    ],
)
def test_t2_is_ignored_with_a_warning_where_it_cannot_apply(args, why) -> None:
    plain = run_json("eval", *args)
    doc = run_json("eval", *args, "--t2")
    [warning] = [w for w in doc["warnings"] if "--t2" in w]
    assert "ignored" in warning and why in warning
    assert doc["metrics"] == plain["metrics"]
    assert doc["signature"] == plain["signature"]


# ------------------------------------------------------------------------ eps and zeros


def test_reverse_kl_floors_the_teachers_zeros_at_eps_or_is_infinite_without(files) -> None:
    q = np.array([[0.5, 0.3, 0.2], [0.2, 0.2, 0.6], [0.1, 0.0, 0.9]])
    p = np.array([[0.6, 0.4, 0.0], [0.2, 0.3, 0.5], [0.3, 0.0, 0.7]])  # row 2: 0 log 0 on both sides
    preds, targets = files.npy(q, name="q.npy"), files.npy(p, name="p.npy")
    exact = run_json("eval", preds, targets, "--eps", "0")
    assert exact["metrics"]["reverse_kl_divergence"] == "inf"  # q > 0 where p = 0
    assert math.isfinite(exact["metrics"]["kl_divergence"])  # p = 0 where q > 0 costs nothing forward
    for eps in (1e-12, 1e-3):
        doc = run_json("eval", preds, targets, "--eps", str(eps))
        floored = rel_entr(q, np.maximum(p, eps)).sum(axis=1)  # Σ q (log q − log max(p, eps))
        assert doc["metrics"]["reverse_kl_divergence"] == pytest.approx(floored.mean(), rel=RTOL)
        [warning] = [w for w in doc["warnings"] if "reverse-KL" in w]
        assert warning.startswith("1 reverse-KL terms") and f"--eps {eps!r}" in warning


def test_js_is_finite_on_disjoint_supports_and_never_floored(files) -> None:
    q = np.array([[1.0, 0.0], [0.0, 1.0]])
    p = np.array([[0.0, 1.0], [0.0, 1.0]])
    doc = run_json("eval", files.npy(q, name="q.npy"), files.npy(p, name="p.npy"), "--js", "--eps", "0")
    assert doc["metrics"]["js_divergence"] == pytest.approx(math.log(2) / 2, rel=1e-15)  # ln 2 and 0


# ------------------------------------------------------------------------------ properties


@st.composite
def pairs(draw):
    """Two batches of distributions (teacher p, student q), some with exact zeros, and a β."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n, c = draw(st.integers(2, 40)), draw(st.integers(2, 12))
    scale = draw(st.sampled_from((0.1, 1.0, 5.0)))
    p, q = (softmax(rng.normal(scale=scale, size=(n, c)), axis=1) for _ in range(2))
    if draw(st.booleans()):
        p[rng.random((n, c)) < 0.3] = 0.0
        p[np.arange(n), rng.integers(0, c, n)] += 1.0
        p /= p.sum(axis=1, keepdims=True)
    beta = draw(st.sampled_from((0.5, 0.01, 0.25, 0.75, 0.99)))
    return p, q, beta


@SETTINGS
@given(pairs())
def test_js_is_between_zero_and_the_entropy_of_beta_and_matches_scipy(pair) -> None:
    p, q, beta = pair
    state = evaluate_arrays(q, p, kind="probs", target_kind="probs", js=True, js_beta=beta)
    js = state.compute().metrics["js_divergence"]
    bound = -beta * math.log(beta) - (1 - beta) * math.log(1 - beta)  # ln 2 at β = 1/2
    assert -ABS_SLACK <= js <= bound + ABS_SLACK
    assert js == pytest.approx(_js(p, q, beta).mean(), rel=1e-9, abs=1e-15)
    if beta == 0.5:
        assert js <= math.log(2) + ABS_SLACK
        assert js == pytest.approx((jensenshannon(p, q, axis=1) ** 2).mean(), rel=1e-9, abs=1e-15)


@SETTINGS
@given(pairs(), st.sampled_from(("probs", "logits", "logprobs")), st.sampled_from((np.float64, np.float32)))
def test_identical_inputs_give_zero_divergences_exactly(pair, kind, dtype) -> None:
    p, _, beta = pair
    with np.errstate(divide="ignore"):  # log 0 = -inf: a log-probability of a zero probability
        values = {"probs": p, "logits": np.log(p + 0.01) + 3.0, "logprobs": np.log(p)}[kind].astype(dtype)
    # eps = 0: a floor at eps would move log p, and not log q, for classes below it
    r = evaluate_arrays(values, values, kind=kind, target_kind=kind, js=True, js_beta=beta, eps=0.0).compute()
    assert r.metrics["js_divergence"] == 0.0
    assert r.metrics["reverse_kl_divergence"] == 0.0
    assert r.metrics["top1_agreement"] == 1.0


@SETTINGS
@given(pairs())
def test_reverse_kl_matches_scipy_rel_entr(pair) -> None:
    p, q, _ = pair
    r = evaluate_arrays(q, p, kind="probs", target_kind="probs", eps=0.0).compute()
    want = rel_entr(q, p).sum(axis=1)
    if np.isinf(want).any():
        assert r.metrics["reverse_kl_divergence"] == math.inf
    else:
        assert r.metrics["reverse_kl_divergence"] == pytest.approx(want.mean(), rel=1e-9, abs=1e-15)
        assert r.standard_error["reverse_kl_divergence"] == pytest.approx(_se(want), rel=1e-6, abs=1e-12)


def _distill_state(p: np.ndarray, q: np.ndarray, beta: float, **options) -> EvalState:
    return evaluate_arrays(q, p, kind="probs", target_kind="probs", js=True, js_beta=beta, **options)


@SETTINGS
@given(pairs(), st.integers(1, 13))
def test_new_statistics_do_not_depend_on_the_chunk_size(pair, rows) -> None:
    p, q, beta = pair
    whole = _distill_state(p, q, beta)
    chunked = _distill_state(p, q, beta, chunk_rows=rows)
    a, b = whole.compute(), chunked.compute()
    for name in ("kl_divergence", "reverse_kl_divergence", "js_divergence", "top1_agreement"):
        assert b.metrics[name] == pytest.approx(a.metrics[name], rel=REL_SAME_SUMS, abs=1e-300)
        assert b.standard_error[name] == pytest.approx(a.standard_error[name], rel=1e-9, abs=1e-15)
    assert b.percentiles == a.percentiles  # integer bucket counts: the same bits
    assert chunked.sketches["kl_divergence"].to_dict() == whole.sketches["kl_divergence"].to_dict()


@SETTINGS
@given(pairs(), st.lists(st.integers(1, 39), max_size=4))
def test_new_statistics_merge_as_one_run_in_any_split(pair, cuts) -> None:
    p, q, beta = pair
    bounds = [0, *sorted({c for c in cuts if c < len(p)}), len(p)]
    parts = [_distill_state(p[a:b], q[a:b], beta) for a, b in zip(bounds, bounds[1:], strict=False)]
    merged = merge_states(parts, [f"part {i}" for i in range(len(parts))])
    whole = _distill_state(p, q, beta)
    a, b = whole.compute(), merged.compute()
    for name in ("reverse_kl_divergence", "js_divergence", "top1_agreement"):
        assert b.metrics[name] == pytest.approx(a.metrics[name], rel=REL_SAME_SUMS, abs=1e-300)
    assert b.percentiles == a.percentiles
    assert merged.n_clipped_reverse == whole.n_clipped_reverse


@SETTINGS
@given(pairs())
def test_the_state_goes_through_json_bit_for_bit(pair) -> None:
    p, q, beta = pair
    state = _distill_state(p, q, beta, temperature=2.0, t2=True)
    text = json.dumps(state.to_dict(), allow_nan=False)
    again = EvalState.from_dict(json.loads(text))
    assert again.to_dict() == state.to_dict()
    assert again.compute() == state.compute()


@SETTINGS
@given(pairs())
def test_percentiles_are_within_the_sketchs_accuracy_of_numpy(pair) -> None:
    p, q, _ = pair
    summary = _distill_state(p, q, 0.5).compute().percentiles["kl_divergence"]
    rows = rel_entr(p, np.maximum(q, 1e-12)).sum(axis=1)  # log q floored at the default eps
    _check_percentiles(summary, rows)


def _check_percentiles(summary: dict[str, float], rows: np.ndarray) -> None:
    assert list(summary) == list(SUMMARY_KEYS)
    assert summary["relative_accuracy"] == RELATIVE_ACCURACY
    assert summary["min"] == pytest.approx(rows.min(), rel=1e-12, abs=1e-15)
    assert summary["max"] == pytest.approx(rows.max(), rel=1e-12, abs=1e-15)
    for key, q in QUANTILES.items():
        want = np.percentile(rows, 100 * q, method="lower")
        # the sketch's promise, plus float64 rounding of the per-row values themselves
        assert abs(summary[key] - want) <= RELATIVE_ACCURACY * abs(want) + 1e-12, key


def test_percentiles_on_the_sample_match_numpy(sample) -> None:
    p, q = sample
    doc = run_json("eval", STUDENT, TEACHER)
    _check_percentiles(doc["distributions"]["kl_divergence"], rel_entr(p, q).sum(axis=1))


def test_class_labels_keep_no_percentiles_and_refuse_their_gates() -> None:
    args = ("eval", SAMPLE_DATA / "logits.npy", SAMPLE_DATA / "labels.npy")
    doc = run_json(*args)
    assert doc["distributions"] == {} and doc["aliases"] == {}
    assert_bad_input(invoke(*args, "--fail-if", "kl_divergence.p99 > 1"), "target distributions only")


def test_no_labels_no_distributions() -> None:
    doc = run_json("eval", SAMPLE_DATA / "logits.npy")
    assert doc["distributions"] == {} and doc["aliases"] == {}


# -------------------------------------------------------------------------------- gates


def test_accuracy_gates_the_top1_agreement_against_distributions() -> None:
    doc = run_json("eval", STUDENT, TEACHER, "--fail-if", "accuracy < 0.9", code=1)
    [gate] = doc["gates"]
    assert (gate["metric"], gate["value"], gate["failed"]) == (
        "accuracy",
        doc["metrics"]["top1_agreement"],
        True,
    )
    passed = run_json(
        "eval", STUDENT, TEACHER, "--fail-if", "accuracy < 0.8", "--fail-if", "top1_agreement < 0.8"
    )
    assert [g["failed"] for g in passed["gates"]] == [False, False]


def test_top1_agreement_is_one_row_of_the_table() -> None:
    result = invoke("eval", STUDENT, TEACHER)
    assert result.exit_code == 0
    rows = [line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ") and line.strip()]
    assert rows.count("top1_agreement") == 1 and "accuracy" not in rows
    assert "top-1 agreement" in result.stdout


def test_top1_agreement_against_class_labels_is_refused_naming_accuracy() -> None:
    args = ("eval", SAMPLE_DATA / "probs.parquet", SAMPLE_DATA / "labels.parquet")
    assert_bad_input(invoke(*args, "--fail-if", "top1_agreement < 0.5"), "target distributions", "accuracy")
    assert_bad_input(invoke(*args, "--fail-if", "reverse_kl_divergence > 1"), "target distributions")


def test_js_gate_needs_js() -> None:
    assert_bad_input(invoke("eval", STUDENT, TEACHER, "--fail-if", "js_divergence > 1"), "--js")
    doc = run_json("eval", STUDENT, TEACHER, "--js", "--fail-if", "js_divergence > 1")
    assert not doc["gates"][0]["failed"]


def test_percentile_gates_in_the_reports_units() -> None:
    doc = run_json("eval", STUDENT, TEACHER, "--fail-if", "kl_divergence.p99 > 0.5")
    p99 = doc["distributions"]["kl_divergence"]["p99"]
    assert doc["gates"][0]["value"] == p99 and doc["gates"][0]["failed"] == (p99 > 0.5)
    low = run_json("eval", STUDENT, TEACHER, "--fail-if", f"kl_divergence.p99.9 > {p99}", code=1)
    assert low["gates"][0]["failed"]
    bits = run_json("eval", STUDENT, TEACHER, "--base", "2", "--fail-if", "kl_divergence.max > 1e9")
    assert bits["gates"][0]["value"] == pytest.approx(
        doc["distributions"]["kl_divergence"]["max"] / math.log(2)
    )


def test_percentile_gates_without_labels_are_refused() -> None:
    assert_bad_input(
        invoke("eval", SAMPLE_DATA / "logits.npy", "--fail-if", "kl_divergence.p99 > 1"), "without labels"
    )


def test_merged_states_gate_on_aliases_and_percentiles(tmp_path) -> None:
    states = []
    whole = run_json("eval", STUDENT, TEACHER, "--js")
    table_p, table_q = pq.read_table(TEACHER), pq.read_table(STUDENT)
    for k, start in enumerate((0, 300, 700)):
        length = {0: 300, 300: 400, 700: 300}[start]
        pq.write_table(table_p.slice(start, length), tmp_path / f"t{k}.parquet")
        pq.write_table(table_q.slice(start, length), tmp_path / f"s{k}.parquet")
        states.append(tmp_path / f"state{k}.json")
        assert (
            invoke(
                "eval",
                tmp_path / f"s{k}.parquet",
                tmp_path / f"t{k}.parquet",
                "--js",
                "--save-state",
                states[-1],
            ).exit_code
            == 0
        )
    merged = run_json("merge", *states, "--fail-if", "accuracy < 0.5", "--fail-if", "kl_divergence.p50 > 10")
    assert [g["failed"] for g in merged["gates"]] == [False, False]
    assert merged["distributions"] == whole["distributions"]
    for name, value in whole["metrics"].items():
        assert merged["metrics"][name] == pytest.approx(value, rel=REL_SAME_SUMS)


# ---------------------------------------------------------------------------- bad options


@pytest.mark.parametrize(
    ("beta", "words"),
    [
        ("0", ("--js-beta", "forward KL", "KL(p ‖ q)", "kl_divergence")),
        ("1", ("--js-beta", "reverse KL", "KL(q ‖ p)", "reverse_kl_divergence")),
        ("1.5", ("--js-beta", "strictly between 0 and 1", "1.5")),
        ("-0.2", ("--js-beta", "strictly between 0 and 1", "-0.2")),
        ("nan", ("--js-beta", "strictly between 0 and 1")),
    ],
)
def test_bad_beta_is_refused_before_reading(beta, words) -> None:
    assert_bad_input(invoke("eval", "no_such_file.parquet", TEACHER, "--js-beta", beta), *words)


def test_js_with_class_labels_is_ignored_with_a_warning() -> None:
    args = ("eval", SAMPLE_DATA / "probs.parquet", SAMPLE_DATA / "labels.parquet")
    doc = run_json(*args, "--js")
    assert "js_divergence" not in doc["metrics"]
    assert any(w.startswith("--js is ignored") and "class indices" in w for w in doc["warnings"])


# ------------------------------------------------------------------------- states and table


def _state_file(tmp_path, *args) -> dict:
    path = tmp_path / "state.json"
    assert invoke("eval", STUDENT, TEACHER, "--save-state", path, *args).exit_code == 0
    return json.loads(path.read_text())


def _corrupt(tmp_path, data: dict, name: str = "bad.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return invoke("merge", path)


def test_impossible_distillation_states_are_refused(tmp_path) -> None:
    good = _state_file(tmp_path, "--js")
    shard = tmp_path / "shard.json"
    pq.write_table(pq.read_table(TEACHER).slice(0, 10), tmp_path / "t.parquet")
    pq.write_table(pq.read_table(STUDENT).slice(0, 10), tmp_path / "s.parquet")
    assert (
        invoke("eval", tmp_path / "s.parquet", tmp_path / "t.parquet", "--save-state", shard).exit_code == 0
    )
    small = json.loads(shard.read_text())["sketches"]
    cases = {
        "sketches": lambda d: d.pop("sketches"),
        "sketches.kl_divergence holds 10 rows; expected 1000": lambda d: d.update(sketches=small),
        "js_divergence.sum is infinite": lambda d: d["statistics"]["js_divergence"].update(sum="inf"),
        "reverse_kl_divergence holds": lambda d: d["statistics"]["reverse_kl_divergence"].update(n=3),
        "n_clipped_reverse": lambda d: d.update(n_clipped_reverse=10**9),
        "settings.t2": lambda d: d["settings"].update(t2=True),
        "settings.js_beta": lambda d: d["settings"].update(js_beta=1.0),
    }
    for words, change in cases.items():
        data = json.loads(json.dumps(good))
        change(data)
        assert_bad_input(_corrupt(tmp_path, data), "impossible state", words)


def test_states_of_other_js_or_t2_settings_do_not_merge(tmp_path) -> None:
    one = tmp_path / "one.json"
    assert invoke("eval", STUDENT, TEACHER, "--js", "--save-state", one).exit_code == 0
    for args, words in (((), "js_beta 0.5 vs none"), (("--js-beta", "0.25"), "js_beta 0.5 vs 0.25")):
        other = tmp_path / "other.json"
        assert invoke("eval", STUDENT, TEACHER, *args, "--save-state", other).exit_code == 0
        assert_bad_input(invoke("merge", one, other), words)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    logits = (STUDENT_LOGITS, TEACHER_LOGITS, "-T", "2")
    assert invoke("eval", *logits, "--t2", "--save-state", a).exit_code == 0
    assert invoke("eval", *logits, "--save-state", b).exit_code == 0
    assert_bad_input(invoke("merge", a, b), "t2 True vs False")


def test_the_table_names_each_divergence_by_the_files_stems() -> None:
    text = invoke("eval", STUDENT, TEACHER, "--js").stdout
    assert "KL(teacher ‖ student)" in text and "KL(student ‖ teacher)" in text
    assert "JS(teacher, student), β = 0.5 on teacher" in text
    scaled = invoke("eval", STUDENT_LOGITS, TEACHER_LOGITS, "-T", "2", "--t2").stdout
    assert "KL(teacher_logits ‖ student_logits) × T²" in scaled
    piped = invoke("eval", "-", TEACHER, "--input-format", "parquet", input=STUDENT.read_bytes()).stdout
    assert "KL(p ‖ q)" in piped and "KL(q ‖ p)" in piped


def test_the_registry_declares_the_alias_and_the_scaled_metrics() -> None:
    assert REGISTRY["top1_agreement"].alias == "accuracy"
    assert {m.name for m in REGISTRY.values() if m.t2_scaled} == {
        "kl_divergence",
        "reverse_kl_divergence",
        "js_divergence",
    }
    assert (*PERCENTILE_KEYS, "relative_accuracy") == SUMMARY_KEYS
    listed = {m["name"]: m for m in run_json("metrics")["metrics"]}
    assert listed["top1_agreement"]["alias"] == "accuracy"
    assert listed["js_divergence"]["option"] == "js_beta"
