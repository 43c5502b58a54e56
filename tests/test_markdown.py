"""``--format markdown``: every command's report as GitHub-flavoured Markdown, with the
numbers of its JSON."""

import json
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import SAMPLE_DATA

from cli_helpers import invoke, run_json

EVAL = ["eval", SAMPLE_DATA / "probs.parquet", SAMPLE_DATA / "labels.parquet"]
PERPLEXITY = ["perplexity", SAMPLE_DATA / "tokens.parquet", "--seq-col", "seq", "--mask-col", "mask"]
TREND = [
    "trend",
    *sorted((SAMPLE_DATA / "checkpoints").glob("lm_paired_step_*.parquet")),
    "--seq-col",
    "seq",
    "--mask-col",
    "mask",
]


def markdown(*args, code=0):
    result = invoke(*args, "--format", "markdown")
    assert result.exit_code == code, (result.stderr, result.exception)
    return result.stdout


def pipe_tables(text):
    """Each pipe table as (header cells, alignment row, rows of cells)."""
    tables, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|") and i + 1 < len(lines) and re.fullmatch(r"\|(:?-+:?\|)+", lines[i + 1]):
            rows = []
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                rows.append(cells(row))
            tables.append((cells(line), lines[i + 1], rows))
    return tables


def cells(row):
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]


@pytest.mark.parametrize(
    "args", [EVAL, PERPLEXITY, TREND, ["metrics"]], ids=["eval", "perplexity", "trend", "metrics"]
)
def test_every_command_writes_well_formed_pipe_tables(args):
    text = markdown(*args)
    tables = pipe_tables(text)
    assert tables
    for header, align, rows in tables:
        assert align.count("|") == len(header) + 1
        assert rows and all(len(row) == len(header) for row in rows)
    assert "─" not in text and "━" not in text  # no box drawing


def test_eval_markdown_holds_the_json_numbers():
    document = run_json(*EVAL)
    [(header, align, rows)] = pipe_tables(markdown(*EVAL))
    assert header[:2] == ["metric", "value"] and align.startswith("|---|---:|")
    shown = {row[0].replace("\\_", "_"): float(row[1]) for row in rows}
    for name, value in document["metrics"].items():
        assert shown[name] == pytest.approx(value, rel=1e-5)


def test_gates_and_exit_code_are_kept():
    text = markdown(*EVAL, "--fail-if", "accuracy < 0.9", code=1)
    [_, (header, _, rows)] = pipe_tables(text)
    assert header == ["gate", "value", "result"] and rows[0][2] == "FAIL"


def test_names_from_the_data_are_escaped(tmp_path):
    preds = tmp_path / "a|b*c[1].parquet"
    pq.write_table(pa.table({"x": [0.2, 0.5], "y": [0.8, 0.5]}), preds)
    text = markdown("eval", preds, "--kind", "probs", "--fail-if", "entropy > 0", code=1)
    assert "a\\|b\\*c\\[1\\].parquet" in text
    for header, _, rows in pipe_tables(text):
        assert all(len(row) == len(header) for row in rows)


def test_the_environment_variable_selects_markdown():
    from infocli.cli import app

    from cli_helpers import RUNNER

    result = RUNNER.invoke(app, [str(a) for a in EVAL], env={"INFOCLI_FORMAT": "markdown"})
    assert result.exit_code == 0 and pipe_tables(result.stdout)


def test_markdown_to_a_file(tmp_path):
    out = tmp_path / "report.md"
    assert markdown(*EVAL, "--output", out) == ""
    assert pipe_tables(out.read_text())
    assert json.loads(json.dumps(out.read_text()))  # plain UTF-8 text
