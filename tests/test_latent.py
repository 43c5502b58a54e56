"""``infocli latent-kl``: the KL of a VAE's posteriors to their prior, checked against
PyTorch's numbers (stored by ``torch_latent``), the closed form written here, a two-pass
reference of active units, and properties (chunking, merging, JSON round trip)."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch_latent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infocli.latent import param_of_name
from infocli.metrics.latent import LatentState, gaussian_kl, latent_settings, log_variance
from infocli.states import state_text

from .conftest import SAMPLE_DATA
from cli_helpers import assert_bad_input, invoke, run_json

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _closed_form(mu, logvar, prior_mu=None, prior_logvar=None) -> np.ndarray:
    """KL(N(μ, σ²) ‖ N(μ_p, σ_p²)) per example, summed over dimensions, written out."""
    prior_mu = np.zeros_like(mu) if prior_mu is None else prior_mu
    prior_logvar = np.zeros_like(mu) if prior_logvar is None else prior_logvar
    var, prior_var = np.exp(logvar), np.exp(prior_logvar)
    terms = np.log(np.sqrt(prior_var) / np.sqrt(var)) + (var + (mu - prior_mu) ** 2) / (2 * prior_var) - 0.5
    return terms.sum(axis=1)


def _columns(
    mu: np.ndarray, scale: np.ndarray, scale_prefix: str = "logvar_", mu_prefix: str = "mu_"
) -> dict:
    d = mu.shape[1]
    columns = {f"{mu_prefix}{j}": mu[:, j] for j in range(d)}
    columns |= {
        f"{scale_prefix}{j}": scale[:, j] for j in reversed(range(d))
    }  # another order: paired by suffix
    return columns


def _parquet(path, columns: dict) -> str:
    pq.write_table(pa.table(columns), path)
    return str(path)


def _csv(path, columns: dict) -> str:
    names = list(columns)
    rows = np.column_stack([columns[n] for n in names])
    lines = [",".join(names)] + [",".join(repr(float(v)) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


# PyTorch and the closed form


def test_kl_matches_pytorch_independent_normal() -> None:
    pytorch = torch_latent.stored()  # what PyTorch computed from these inputs
    mu, logvar = torch_latent.standard_case()
    np.testing.assert_allclose(gaussian_kl(mu, logvar).sum(axis=1), pytorch["standard"], rtol=1e-12)
    mu, logvar, prior_mu, prior_logvar = torch_latent.prior_case()
    kl = gaussian_kl(mu, logvar, prior_mu, prior_logvar).sum(axis=1)
    np.testing.assert_allclose(kl, pytorch["prior"], rtol=1e-12)


def test_the_command_reports_pytorchs_mean_kl_from_every_input_form(tmp_path) -> None:
    pytorch = np.array(torch_latent.stored()["standard"])
    mu, logvar = torch_latent.standard_case()
    expected = pytorch.mean()
    np.save(tmp_path / "mu.npy", mu)
    np.save(tmp_path / "logvar.npy", logvar)
    np.save(tmp_path / "both.npy", np.hstack([mu, logvar]))
    runs = {
        "parquet columns": [_parquet(tmp_path / "a.parquet", _columns(mu, logvar))],
        "csv columns": [_csv(tmp_path / "a.csv", _columns(mu, logvar))],
        "list columns": [_parquet(tmp_path / "l.parquet", {"mu": list(mu), "logvar": list(logvar)})],
        "two npy": [tmp_path / "mu.npy", "--scale", tmp_path / "logvar.npy"],
        "split half": [tmp_path / "both.npy", "--split-half", "--param", "logvar"],
    }
    for form, args in runs.items():
        report = run_json("latent-kl", *args, "--chunk-rows", "7")
        assert report["metrics"]["kl_divergence"] == pytest.approx(expected, rel=1e-12), form
        se = pytorch.std(ddof=1) / math.sqrt(len(pytorch))
        assert report["standard_error"]["kl_divergence"] == pytest.approx(se, rel=1e-9), form
        assert report["n_dims"] == 9 and report["n_samples"] == 60, form


def test_a_learned_prior_matches_pytorch_and_the_closed_form(tmp_path) -> None:
    mu, logvar, prior_mu, prior_logvar = torch_latent.prior_case()
    columns = _columns(mu, logvar) | _columns(prior_mu, prior_logvar, "p_logvar_", "p_mu_")
    path = _parquet(tmp_path / "p.parquet", columns)
    report = run_json(
        "latent-kl", path, "--mu-cols", "mu_", "--scale-cols", "logvar_",
        "--prior-mu-cols", "p_mu_", "--prior-scale-cols", "p_logvar_", "--base", "2",
    )  # fmt: skip
    pytorch = np.array(torch_latent.stored()["prior"])
    assert report["metrics"]["kl_divergence"] == pytest.approx(pytorch.mean() / math.log(2), rel=1e-12)
    closed = _closed_form(mu, logvar, prior_mu, prior_logvar)
    assert report["metrics"]["kl_divergence"] == pytest.approx(closed.mean() / math.log(2), rel=1e-12)
    assert report["prior"] == "given" and report["prior_param"] == "logvar"


def test_per_dimension_kl_and_shares_against_the_closed_form(tmp_path) -> None:
    mu, logvar = torch_latent.standard_case()
    report = run_json("latent-kl", _parquet(tmp_path / "a.parquet", _columns(mu, logvar)))
    per_dim = 0.5 * (np.exp(logvar) + mu**2 - 1 - logvar).mean(axis=0)
    kls = [row["kl"] for row in report["dimensions"]]
    assert kls == sorted(kls, reverse=True)
    for row in report["dimensions"]:
        j = int(row["dim"])
        assert row["kl"] == pytest.approx(per_dim[j], rel=1e-9, abs=1e-15)
        assert row["share"] == pytest.approx(per_dim[j] / per_dim.sum(), rel=1e-9, abs=1e-15)
    assert sum(row["share"] for row in report["dimensions"]) == pytest.approx(1.0)


@pytest.mark.parametrize("base", ["e", "2", "10"])
def test_free_bits_is_the_sum_of_clamped_dimensions(tmp_path, base) -> None:
    mu, logvar = torch_latent.standard_case()
    report = run_json(
        "latent-kl",
        _parquet(tmp_path / "a.parquet", _columns(mu, logvar)),
        "--free-bits",
        "0.5",
        "--base",
        base,
    )
    per_dim = 0.5 * (np.exp(logvar) + mu**2 - 1 - logvar).mean(axis=0)
    ln = {"e": 1.0, "2": math.log(2), "10": math.log(10)}[base]
    assert report["metrics"]["kl_free_bits"] == pytest.approx(np.maximum(per_dim, 0.5).sum() / ln, rel=1e-12)
    assert report["free_bits"] == 0.5


# parameterisations


def test_every_parameterisation_gives_the_same_kl() -> None:
    mu, logvar = torch_latent.standard_case()
    scales = {"logvar": logvar, "log_sigma": logvar / 2, "sigma": np.exp(logvar / 2), "var": np.exp(logvar)}
    kls = {}
    for name, scale in scales.items():
        state = LatentState(latent_settings([str(j) for j in range(9)], param=name))
        state.update(mu, scale)
        kls[name] = state.compute().metrics["kl_divergence"]
        kl = gaussian_kl(mu, log_variance(scale, name))
        np.testing.assert_allclose(kl, gaussian_kl(mu, logvar), rtol=1e-12, atol=1e-15)
    for name, value in kls.items():
        assert value == pytest.approx(kls["logvar"], rel=1e-12, abs=0), name


@pytest.mark.parametrize(
    ("prefix", "param"),
    [("logvar_", "logvar"), ("log_var_", "logvar"), ("log_sigma_", "log_sigma"), ("logstd_", "log_sigma"),
     ("sigma_", "sigma"), ("std_", "sigma"), ("var_", "var")],
)  # fmt: skip
def test_the_parameterisation_comes_from_the_column_names(tmp_path, prefix, param) -> None:
    mu, logvar = torch_latent.standard_case()
    scale = {"logvar": logvar, "log_sigma": logvar / 2, "sigma": np.exp(logvar / 2), "var": np.exp(logvar)}[
        param
    ]
    report = run_json("latent-kl", _parquet(tmp_path / "a.parquet", _columns(mu, scale, prefix)))
    assert report["param"] == param
    expected = np.mean(torch_latent.stored()["standard"])
    assert report["metrics"]["kl_divergence"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("name", "says"),
    [("z_log_var", "logvar"), ("logvar_3", "logvar"), ("enc.log_sigma", "log_sigma"), ("LOGSTD_0", "log_sigma"),
     ("std", "sigma"), ("posterior_var_1", "var"), ("variance_1", None), ("scale_0", None), ("vars", None)],
)  # fmt: skip
def test_a_name_says_its_parameterisation_as_a_part(name, says) -> None:
    assert param_of_name(name) == says


def test_without_a_telling_name_the_parameterisation_is_required(tmp_path) -> None:
    mu, logvar = torch_latent.standard_case()
    path = _parquet(tmp_path / "a.parquet", _columns(mu, logvar, "s_"))
    assert_bad_input(invoke("latent-kl", path, "--scale-cols", "s_"), "a.parquet", "--param", "never guessed")
    report = run_json("latent-kl", path, "--scale-cols", "s_", "--param", "logvar")
    assert report["metrics"]["kl_divergence"] == pytest.approx(
        np.mean(torch_latent.stored()["standard"]), rel=1e-12
    )
    np.save(tmp_path / "scales.npy", logvar)
    np.save(tmp_path / "mu.npy", mu)
    assert_bad_input(
        invoke("latent-kl", tmp_path / "mu.npy", "--scale", tmp_path / "scales.npy"), "scales.npy", "--param"
    )


def test_comma_lists_pair_by_position_and_prefixes_by_suffix(tmp_path) -> None:
    mu, logvar = torch_latent.standard_case()
    path = _parquet(tmp_path / "a.parquet", _columns(mu, logvar))
    by_prefix = run_json("latent-kl", path, "--mu-cols", "mu_", "--scale-cols", "logvar_")
    listed = ",".join(f"logvar_{j}" for j in range(9))
    by_list = run_json(
        "latent-kl", path, "--mu-cols", ",".join(f"mu_{j}" for j in range(9)), "--scale-cols", listed
    )
    assert by_list["metrics"] == by_prefix["metrics"]
    assert {row["dim"] for row in by_list["dimensions"]} == {f"mu_{j}" for j in range(9)}


# active units


@pytest.mark.parametrize("chunk_rows", [1, 7, 1000])
def test_active_units_against_a_two_pass_reference(tmp_path, chunk_rows) -> None:
    rng = np.random.default_rng(5)
    spread = np.array([1.0, 0.5, 0.2, 0.11, 0.09, 0.01, 1e-3, 0.0])  # around sqrt(0.01) = 0.1
    mu = rng.standard_normal((300, 8)) * spread + 3.0  # an offset the variance must not see
    logvar = rng.standard_normal((300, 8)) * 0.1
    report = run_json(
        "latent-kl", _parquet(tmp_path / "a.parquet", _columns(mu, logvar)), "--chunk-rows", chunk_rows
    )
    mean = mu.sum(axis=0) / len(mu)  # pass one: the means; pass two: the spread around them
    variance = ((mu - mean) ** 2).sum(axis=0) / (len(mu) - 1)
    assert report["metrics"]["active_units"] == int((variance > 0.01).sum())
    for row in report["dimensions"]:
        assert row["mu_variance"] == pytest.approx(variance[int(row["dim"])], rel=1e-9, abs=1e-18)
        assert row["active"] == bool(variance[int(row["dim"])] > 0.01)


def test_collapsed_units_are_named_and_a_collapse_warns(tmp_path) -> None:
    rng = np.random.default_rng(9)
    mu = rng.standard_normal((200, 6)) * np.array([1, 1, 1e-3, 1e-3, 1e-3, 1e-3])
    logvar = np.where(np.arange(6) < 2, -2.0, 1e-4)
    result = invoke("latent-kl", _parquet(tmp_path / "a.parquet", _columns(mu, logvar + 0 * mu)))
    assert result.exit_code == 0, result.stderr
    assert "collapsed: 2, 3, 4, 5" in result.stdout
    assert "posterior collapse: only 2 of 6" in result.stderr
    report = run_json("latent-kl", tmp_path / "a.parquet")
    assert report["collapsed_dims"] == ["2", "3", "4", "5"]
    assert report["metrics"]["collapsed_units"] == 4
    assert any("posterior collapse" in w for w in report["warnings"])
    # the threshold is in nats whatever --base
    bits = run_json("latent-kl", tmp_path / "a.parquet", "--base", "2")
    assert bits["collapsed_dims"] == report["collapsed_dims"]


# numerics


def test_an_overflowing_log_variance_gives_inf_never_nan(tmp_path) -> None:
    mu, logvar = torch_latent.standard_case()
    logvar = logvar.copy()
    logvar[17, 3] = 800.0  # exp overflows
    logvar[40, 1] = 1e308
    result = invoke("latent-kl", _parquet(tmp_path / "a.parquet", _columns(mu, logvar)), "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["metrics"]["kl_divergence"] == "inf"
    assert report["n_infinite"] == 2
    assert "row 17: the KL is infinite in 2 rows" in result.stderr
    assert "nan" not in result.stdout.lower()


def test_a_zero_sigma_gives_inf(tmp_path) -> None:
    mu, logvar = torch_latent.standard_case()
    sigma = np.exp(logvar / 2)
    sigma[3, 0] = 0.0
    report = run_json("latent-kl", _parquet(tmp_path / "a.parquet", _columns(mu, sigma, "sigma_")))
    assert report["metrics"]["kl_divergence"] == "inf" and report["n_infinite"] == 1


def test_thousands_of_dimensions(tmp_path) -> None:
    rng = np.random.default_rng(2)
    mu, logvar = rng.standard_normal((2, 50, 4096)).astype(np.float32)
    path = _parquet(tmp_path / "wide.parquet", {"mu": list(mu), "logvar": list(logvar)})
    report = run_json("latent-kl", path, "--chunk-rows", "16")
    expected = _closed_form(mu.astype(np.float64), logvar.astype(np.float64)).mean()
    assert report["metrics"]["kl_divergence"] == pytest.approx(expected, rel=1e-12)
    assert report["n_dims"] == 4096


# bad input


def test_nan_names_the_row_and_the_column(tmp_path) -> None:
    mu, logvar = torch_latent.standard_case()
    mu = mu.copy()
    mu[23, 5] = np.nan
    path = _parquet(tmp_path / "a.parquet", _columns(mu, logvar))
    assert_bad_input(invoke("latent-kl", path, "--chunk-rows", "10"), "a.parquet", "row 23", "'mu_5'", "NaN")
    text = tmp_path / "a.csv"
    text.write_text("mu_0,logvar_0\n0.1,0.2\n0.3,\n")
    assert_bad_input(invoke("latent-kl", text), "a.csv", "row 1", "'logvar_0'")


def test_negative_sigma_or_variance_names_the_row_and_the_column(tmp_path) -> None:
    mu, logvar = torch_latent.standard_case()
    var = np.exp(logvar)
    var[31, 2] = -0.5
    path = _parquet(tmp_path / "a.parquet", _columns(mu, var, "var_"))
    assert_bad_input(invoke("latent-kl", path), "a.parquet", "row 31", "'var_2'", "-0.5", ">= 0")
    np.save(tmp_path / "mu.npy", mu)
    np.save(tmp_path / "sigma.npy", np.sqrt(np.abs(var)) * np.sign(var))
    assert_bad_input(
        invoke("latent-kl", tmp_path / "mu.npy", "--scale", tmp_path / "sigma.npy", "--chunk-rows", "8"),
        "sigma.npy", "row 31", "column 2",
    )  # fmt: skip


def test_npy_columns_are_0_based_in_a_split_half(tmp_path) -> None:
    mu, logvar = torch_latent.standard_case()
    both = np.hstack([mu, logvar])
    both[12, 9 + 4] = np.nan  # the fifth scale: column 13 of the file
    np.save(tmp_path / "both.npy", both)
    assert_bad_input(
        invoke("latent-kl", tmp_path / "both.npy", "--split-half", "--param", "logvar"),
        "both.npy", "row 12", "column 13",
    )  # fmt: skip
    np.save(tmp_path / "odd.npy", both[:, :17])
    assert_bad_input(invoke("latent-kl", tmp_path / "odd.npy", "--split-half", "--param", "var"), "even")


def test_unpaired_or_ambiguous_columns_are_refused(tmp_path) -> None:
    mu, logvar = torch_latent.standard_case()
    columns = _columns(mu, logvar)
    del columns["logvar_4"]
    assert_bad_input(
        invoke("latent-kl", _parquet(tmp_path / "a.parquet", columns)), "a.parquet", "'4'", "suffix"
    )
    both = _columns(mu, logvar) | {f"sigma_{j}": np.exp(logvar[:, j] / 2) for j in range(9)}
    assert_bad_input(
        invoke("latent-kl", _parquet(tmp_path / "b.parquet", both)), "--scale-cols", "logvar_", "sigma_"
    )
    assert_bad_input(invoke("latent-kl", _parquet(tmp_path / "c.parquet", {"x": mu[:, 0]})), "--mu-cols")
    lists = {"mu": list(mu), "logvar": list(logvar[:, :8])}
    assert_bad_input(
        invoke("latent-kl", _parquet(tmp_path / "d.parquet", lists)), "d.parquet", "'logvar'", "8"
    )


def test_bad_options_are_refused(tmp_path) -> None:
    path = SAMPLE_DATA / "latent.parquet"
    assert_bad_input(invoke("latent-kl", path, "--au-threshold", "-1"), "--au-threshold")
    assert_bad_input(invoke("latent-kl", path, "--free-bits", "nan"), "--free-bits")
    assert_bad_input(invoke("latent-kl", path, "--prior-mu-cols", "mu_"), "--prior-scale-cols")
    assert_bad_input(invoke("latent-kl", path, "--split-half", "--scale", path), "--split-half", "--scale")
    assert_bad_input(invoke("latent-kl", path, "--chunk-rows", "0"), "--chunk-rows")
    assert_bad_input(
        invoke("latent-kl", path, "--split-half", "--param", "var"), "latent.parquet", "2-D .npy"
    )


def test_files_of_different_lengths_are_refused(tmp_path) -> None:
    mu, logvar = torch_latent.standard_case()
    np.save(tmp_path / "mu.npy", mu)
    np.save(tmp_path / "logvar.npy", logvar[:50])
    assert_bad_input(invoke("latent-kl", tmp_path / "mu.npy", "--scale", tmp_path / "logvar.npy"), "50", "60")


# gates, stdin, table


def test_gates_on_latent_metrics(tmp_path) -> None:
    path = SAMPLE_DATA / "latent.parquet"
    report = run_json(
        "latent-kl", path, "--fail-if", "active_units < 16", "--fail-if", "kl_divergence < 0.5", code=1
    )
    gates = {g["metric"]: g for g in report["gates"]}
    assert (
        gates["active_units"]["failed"]
        and gates["active_units"]["value"] == report["metrics"]["active_units"]
    )
    assert not gates["kl_divergence"]["failed"]
    assert invoke("latent-kl", path, "--fail-if", "active_units < 4").exit_code == 0
    assert_bad_input(invoke("latent-kl", path, "--fail-if", "kl_free_bits > 1"), "--free-bits")
    assert_bad_input(invoke("latent-kl", path, "--fail-if", "accuracy < 1"), "accuracy", "active_units")
    assert run_json("latent-kl", path, "--free-bits", "1", "--fail-if", "kl_free_bits > 1e9")["gates"]


def test_stdin_is_read_like_a_file() -> None:
    path = SAMPLE_DATA / "latent.parquet"
    from_file = run_json("latent-kl", path)
    from_stdin = run_json("latent-kl", "-", "--input-format", "parquet", input=path.read_bytes())
    assert from_stdin["metrics"] == from_file["metrics"]
    assert from_stdin["latent"]["path"] == "-"


def test_the_table_shows_shares_and_collapsed_units() -> None:
    result = invoke("latent-kl", SAMPLE_DATA / "latent.parquet")
    assert result.exit_code == 0, result.stderr
    assert "KL per dimension, largest first (nats)" in result.stdout
    assert "%" in result.stdout and "collapsed:" in result.stdout
    markdown = invoke("latent-kl", SAMPLE_DATA / "latent.parquet", "--format", "markdown")
    assert markdown.exit_code == 0 and "| kl_divergence |" in markdown.stdout


# states: merge, round trip, invariance


def _state(mu, logvar, chunk: int, **settings) -> LatentState:
    state = LatentState(latent_settings([str(j) for j in range(mu.shape[1])], **settings))
    state.inputs = [{"latent": {"path": "x", "format": "npy", "kind": "means"}, "scale": None}]
    for start in range(0, len(mu), chunk):
        part = LatentState(state.settings)
        part.update(mu[start : start + chunk], logvar[start : start + chunk], where=("x", start))
        state.merge(part)
    return state


def _close(a: LatentState, b: LatentState) -> None:
    ra, rb = a.compute(), b.compute()
    for name, value in ra.metrics.items():
        assert rb.metrics[name] == pytest.approx(value, rel=1e-11, abs=1e-12), name
    np.testing.assert_allclose(a.kl_sums, b.kl_sums, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(a.mu_m2, b.mu_m2, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.mu_mean, b.mu_mean, rtol=1e-9, atol=1e-12)
    assert a.kl.std_error == pytest.approx(b.kl.std_error, rel=1e-8, nan_ok=True)


@st.composite
def _latents(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    n, d = draw(st.integers(2, 60)), draw(st.integers(1, 12))
    rng = np.random.default_rng(seed)
    mu = rng.standard_normal((n, d)) * rng.uniform(0, 3, d) + rng.uniform(-5, 5, d)
    logvar = rng.standard_normal((n, d)) * rng.uniform(0, 2, d)
    return mu, logvar


@SETTINGS
@given(_latents(), st.integers(1, 61))
def test_chunk_size_does_not_change_the_numbers(latents, chunk) -> None:
    mu, logvar = latents
    _close(_state(mu, logvar, len(mu)), _state(mu, logvar, chunk))


@SETTINGS
@given(_latents(), st.lists(st.integers(0, 60), max_size=4))
def test_merging_parts_in_any_split_equals_one_pass(latents, cuts) -> None:
    mu, logvar = latents
    edges = [0, *sorted(c % (len(mu) + 1) for c in cuts), len(mu)]
    merged = LatentState(latent_settings([str(j) for j in range(mu.shape[1])]))
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        merged.merge(_state(mu[a:b], logvar[a:b], 5))
    _close(_state(mu, logvar, len(mu)), merged)


@SETTINGS
@given(_latents())
def test_the_state_survives_json_bit_for_bit(latents) -> None:
    mu, logvar = latents
    state = _state(mu, logvar, 7, free_bits=0.25)
    data = json.loads(state_text(state))
    again = LatentState.from_dict(data)
    assert again.to_dict() == state.to_dict()
    assert again.compute().metrics == state.compute().metrics
    assert (
        again.kl_sums.tobytes() == state.kl_sums.tobytes() and again.mu_m2.tobytes() == state.mu_m2.tobytes()
    )


def test_merged_states_report_what_one_run_reports(tmp_path) -> None:
    mu, logvar = torch_latent.standard_case()
    whole = _parquet(tmp_path / "whole.parquet", _columns(mu, logvar))
    a = _parquet(tmp_path / "a.parquet", _columns(mu[:25], logvar[:25]))
    b = _parquet(tmp_path / "b.parquet", _columns(mu[25:], logvar[25:]))
    one = run_json("latent-kl", whole, "--free-bits", "0.2")
    for part in (a, b):
        assert invoke("latent-kl", part, "--free-bits", "0.2", "--save-state", f"{part}.json").exit_code == 0
    merged = run_json("merge", f"{a}.json", f"{b}.json", "--fail-if", "active_units < 3")
    for name, value in one["metrics"].items():
        assert merged["metrics"][name] == pytest.approx(value, rel=1e-12), name
    assert [r["dim"] for r in merged["dimensions"]] == [r["dim"] for r in one["dimensions"]]
    assert merged["collapsed_dims"] == one["collapsed_dims"]
    assert len(merged["merged"]) == 2 and merged["gates"][0]["metric"] == "active_units"
    table = invoke("merge", f"{a}.json", f"{b}.json")
    assert table.exit_code == 0 and "KL per dimension" in table.stdout


def test_states_of_other_settings_or_commands_are_not_merged(tmp_path) -> None:
    path = SAMPLE_DATA / "latent.parquet"
    assert invoke("latent-kl", path, "--save-state", tmp_path / "a.json").exit_code == 0
    assert invoke("latent-kl", path, "--free-bits", "1", "--save-state", tmp_path / "b.json").exit_code == 0
    assert_bad_input(invoke("merge", tmp_path / "a.json", tmp_path / "b.json"), "b.json", "free_bits")
    evaluation = [SAMPLE_DATA / "probs.parquet", SAMPLE_DATA / "labels.parquet"]
    assert invoke("eval", *evaluation, "--save-state", tmp_path / "e.json").exit_code == 0
    assert_bad_input(invoke("merge", tmp_path / "a.json", tmp_path / "e.json"), "e.json", "latent-kl")


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [("kl_sums", [-1.0], "negative"), ("mu_m2", ["nan"], "NaN"), ("n_samples", 3, "n_samples"),
     ("n_infinite", 1, "n_infinite"), ("mu_mean", [], "one per dimension")],
)  # fmt: skip
def test_impossible_states_are_refused(tmp_path, field, value, words) -> None:
    path = tmp_path / "s.json"
    assert invoke("latent-kl", SAMPLE_DATA / "latent.parquet", "--save-state", path).exit_code == 0
    data = json.loads(path.read_text())
    data[field] = value if not isinstance(value, list) or not value else value * len(data["settings"]["dims"])
    path.write_text(json.dumps(data))
    assert_bad_input(invoke("merge", path), "s.json", "impossible state", words)


def test_a_param_that_contradicts_the_names_is_used_with_a_warning(tmp_path) -> None:
    mu, logvar = torch_latent.standard_case()
    path = _parquet(tmp_path / "a.parquet", _columns(mu, logvar / 2))  # log σ under logvar_ names
    result = invoke("latent-kl", path, "--param", "log_sigma", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "--param log_sigma is used for the scales" in result.stderr and "says logvar" in result.stderr
    report = json.loads(result.stdout)
    assert report["param"] == "log_sigma"
    assert report["metrics"]["kl_divergence"] == pytest.approx(
        np.mean(torch_latent.stored()["standard"]), rel=1e-12
    )


def test_the_prior_takes_its_own_parameterisation(tmp_path) -> None:
    mu, logvar, prior_mu, prior_logvar = torch_latent.prior_case()
    columns = _columns(mu, logvar) | _columns(prior_mu, np.exp(prior_logvar / 2), "p_s_", "p_mu_")
    path = _parquet(tmp_path / "p.parquet", columns)
    args = ["latent-kl", path, "--prior-mu-cols", "p_mu_", "--prior-scale-cols", "p_s_"]
    assert_bad_input(invoke(*args), "prior scales", "--prior-param")
    report = run_json(*args, "--prior-param", "sigma")
    expected = np.mean(torch_latent.stored()["prior"])
    assert report["metrics"]["kl_divergence"] == pytest.approx(expected, rel=1e-12)


def test_the_readme_section_runs_as_written(monkeypatch) -> None:
    monkeypatch.chdir(SAMPLE_DATA.parent)  # relative paths, as in the README
    readme = (SAMPLE_DATA.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### The KL term from saved encoder outputs") :]
    section = section[: section.index("\n## ")]
    table = section.split("```text\n", 1)[1].split("```", 1)[0]
    shown = invoke("latent-kl", "sample_data/latent.parquet")
    assert shown.exit_code == 0, shown.stderr
    assert [line.rstrip() for line in shown.stdout.splitlines()] == table.rstrip("\n").splitlines()
    forms = [
        ["sample_data/latent_mu.npy", "--scale", "sample_data/latent_logvar.npy"],
        ["sample_data/latent_split.npy", "--split-half", "--param", "logvar"],
    ]
    for args in forms:
        assert " ".join(["infocli latent-kl", *args]) in section.replace("\n  ", " ")
        report = run_json("latent-kl", *args)
        assert report["metrics"] == run_json("latent-kl", "sample_data/latent.parquet")["metrics"]
    gate = 'infocli latent-kl sample_data/latent.parquet --fail-if "active_units < 16" --fail-if "kl_divergence < 0.5"'
    assert gate in section and "exits 1: 12 of the 16 dimensions are active" in section
    failed = invoke("latent-kl", "sample_data/latent.parquet", "--fail-if", "active_units < 16")
    assert failed.exit_code == 1
