"""Every registered metric appears wherever metrics are shown: the eval and perplexity
tables, their JSON, the gates, ``infocli metrics`` and the README's formula tables."""

from __future__ import annotations

import re

import pytest

from infocli.metrics.registry import METRICS, REGISTRY, names_of

from .conftest import REPO_ROOT, SAMPLE_DATA
from cli_helpers import assert_bad_input, invoke, run_json

EVAL_ARGS = [
    "eval",
    SAMPLE_DATA / "logits.npy",
    SAMPLE_DATA / "labels.npy",
    "--calibration",
    "--fit-temperature",
]
TOKEN_ARGS = [
    "perplexity",
    SAMPLE_DATA / "tokens.parquet",
    *["--seq-col", "seq", "--mask-col", "mask", "--bytes-col", "bytes", "--words-col", "words"],
]
REPORTED_ARGS = ["eval", SAMPLE_DATA / "student.parquet", SAMPLE_DATA / "teacher.parquet", "--js"]
LATENT_ARGS = ["latent-kl", SAMPLE_DATA / "latent.parquet", "--free-bits", "0.1"]
RUNS = {"eval": EVAL_ARGS, "perplexity": TOKEN_ARGS, "latent-kl": LATENT_ARGS}
"""A run of each command that reports every metric the command can report (against class
labels, for eval: :data:`REPORTED` has those against target distributions)."""
REPORTED = {
    "eval": names_of("eval", "classes", {"calibration": {"bins": 15}, "fit_temperature": True}),
    "eval-distill": names_of("eval", "distributions", {"js_beta": 0.5}),
    "perplexity": names_of("perplexity"),
    "latent-kl": names_of("latent-kl"),
}
"""The metrics each run reports."""
ARGS = {**RUNS, "eval-distill": REPORTED_ARGS}


def _table_names(text: str) -> list[str]:
    """The first cell of every row of a rendered table, where it is a metric's name (the
    lines a long cell wraps onto start further right)."""
    first = (line.split(maxsplit=1)[0] for line in text.splitlines() if re.match(r" {0,3}[a-z]", line))
    return [cell for cell in first if cell in REGISTRY]


def test_every_metric_is_reported_by_some_command() -> None:
    assert {m.name for m in METRICS} == set(names_of("eval")) | set(names_of("perplexity")) | set(
        names_of("latent-kl")
    )
    for command in ("eval", "perplexity", "trend", "latent-kl"):  # one declaration per name and command
        declared = [m.name for m in METRICS if command in m.commands]
        assert len(declared) == len(set(declared)), command
    assert {m.name for m in METRICS} == {name for names in REPORTED.values() for name in names}


@pytest.mark.parametrize("command", list(ARGS))
def test_every_metric_of_a_command_is_in_its_table_and_json(command) -> None:
    names = list(REPORTED[command])
    result = invoke(*ARGS[command])
    assert result.exit_code == 0, result.stderr
    assert _table_names(result.stdout) == names, result.stdout
    report = run_json(*ARGS[command])
    assert list(report["metrics"]) == names
    with_se = [m.name for m in REGISTRY.values() if m.name in names and m.standard_error != "none"]
    assert list(report["standard_error"]) == with_se


@pytest.mark.parametrize("command", list(ARGS))
def test_every_metric_of_a_command_is_a_gate(command) -> None:
    names = list(REPORTED[command])
    gates = [arg for name in names for arg in ("--fail-if", f"{name} > 1e308")]
    report = run_json(*ARGS[command], *gates)
    assert [g["metric"] for g in report["gates"]] == names
    assert not any(g["failed"] for g in report["gates"])


@pytest.mark.parametrize("command", list(RUNS))
@pytest.mark.parametrize("unknown", ["nosuch_metric", "perplexity_mean", "kl"])
def test_an_unknown_gate_metric_is_refused_listing_the_names(command, unknown) -> None:
    line = assert_bad_input(invoke(*RUNS[command], "--fail-if", f"{unknown} > 1"), unknown)
    listed = re.findall(r"[a-z0-9_]+", line.split(unknown, 1)[1])
    assert set(names_of(command)) <= set(listed), line


def test_merge_gates_take_every_metric_of_the_merged_command(tmp_path) -> None:
    for command, args in ARGS.items():
        state = tmp_path / f"{command}.json"
        assert invoke(*args, "--save-state", state).exit_code == 0
        gates = [arg for name in REPORTED[command] for arg in ("--fail-if", f"{name} > 1e308")]
        report = run_json("merge", state, *gates)
        assert [g["metric"] for g in report["gates"]] == list(REPORTED[command])


def test_infocli_metrics_lists_the_registry() -> None:
    document = run_json("metrics")
    listed = document["metrics"]
    assert [m["name"] for m in listed] == [m.name for m in METRICS]
    for entry, metric in zip(listed, METRICS, strict=True):
        for key in ("name", "unit", "higher_is_better", "formula"):
            assert entry[key] == getattr(metric, key), key
        assert entry["commands"] == list(metric.commands)
    table = invoke("metrics")
    assert table.exit_code == 0
    assert _table_names(table.stdout) == [m.name for m in METRICS]


def _readme_metric_names(text: str) -> set[str]:
    """The names in the first column of every markdown table whose header's first cell is
    ``metric`` (a cell may name several, separated by commas)."""
    names: set[str] = set()
    in_table = False
    for line in text.splitlines():
        cells = (
            [c.strip() for c in line.strip().strip("|").split("|")] if line.lstrip().startswith("|") else None
        )
        if cells is None:
            in_table = False
        elif cells[0] == "metric":
            in_table = True
        elif in_table and not set(cells[0]) <= set("-: "):
            names |= {name.strip().strip("`").strip() for name in cells[0].split(",")}
    return names


def test_readme_formula_tables_name_exactly_the_registered_metrics() -> None:
    names = _readme_metric_names((REPO_ROOT / "README.md").read_text(encoding="utf-8"))
    registered = {m.name for m in METRICS}
    assert names == registered, (sorted(names - registered), sorted(registered - names))


def test_readme_parser_reads_first_columns_of_metric_tables() -> None:
    text = "| metric | note |\n|---|---|\n| `a` | x |\n| `b`, `c` | y |\n\n| code | meaning |\n|---|---|\n| 0 | ok |\n"
    assert _readme_metric_names(text) == {"a", "b", "c"}
