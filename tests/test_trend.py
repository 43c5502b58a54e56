"""``infocli trend``: checkpoint steps, trend rows, the table, the JSON, the gate and ``--plot``.

Expected numbers come from references written here: a plain-Python log-loss for the
prediction checkpoints (log-sum-exp with ``math``), and a per-sequence dictionary of
sums for the token checkpoints; never from infocli.
"""

from __future__ import annotations

import math
import re
import statistics
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from infocli.errors import InfoCliError
from infocli.trend import Change, Checkpoint, checkpoint_steps, trend_rows, worse_than_best

from cli_helpers import assert_bad_input, invoke, run_json

RTOL = 1e-6
"""Relative agreement with the independent references, in float64."""

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SPARKS = "▁▂▃▄▅▆▇█"
REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA = REPO_ROOT / "sample_data"
CHECKPOINT_KEYS = {
    "path",
    "step",
    "cross_entropy",
    "perplexity",
    "perplexity_se",
    "change",
    "change_pct",
    "from_best",
    "from_best_pct",
    "best",
    *(f"{change}_{key}" for change in ("change", "from_best")
      for key in ("cross_entropy", "cross_entropy_se", "se", "p_value", "significant")),
}  # fmt: skip


def close(actual: Any, expected: float, rtol: float = RTOL) -> bool:
    return math.isclose(float(actual), expected, rel_tol=rtol, abs_tol=0.0)


# ---------------------------------------------------------------------------- references


def log_loss_reference(
    logits: np.ndarray, labels: np.ndarray, ignore: int | None = None
) -> tuple[float, float]:
    """Mean NLL (nats) of the labels under softmax(logits), and the SE of the perplexity."""
    nll = []
    for row, label in zip(logits.tolist(), labels.tolist(), strict=True):
        if ignore is not None and label == ignore:
            continue
        peak = max(row)
        lse = peak + math.log(sum(math.exp(z - peak) for z in row))
        nll.append(lse - row[label])
    mean = math.fsum(nll) / len(nll)
    return mean, math.exp(mean) * statistics.stdev(nll) / math.sqrt(len(nll))


def token_reference(logprob: np.ndarray, seq: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Corpus cross-entropy (nats) and the SE of the perplexity, sequences as the unit."""
    sums: dict[int, list[float]] = {}
    for lp, s, m in zip(logprob.tolist(), seq.tolist(), mask.tolist(), strict=True):
        if m:
            entry = sums.setdefault(s, [0.0, 0])
            entry[0] -= lp
            entry[1] += 1
    L = [v[0] for v in sums.values()]
    n = [v[1] for v in sums.values()]
    rate = math.fsum(L) / sum(n)
    squares = sum((li - rate * ni) ** 2 for li, ni in zip(L, n, strict=True))
    se = math.sqrt(len(L) / (len(L) - 1) * squares) / sum(n)
    return rate, math.exp(rate) * se


def expected_trend(steps: list[int], ppl: list[float]) -> list[dict[str, Any]]:
    """Sorted rows with changes from the previous and from the best, written out."""
    order = sorted(range(len(steps)), key=lambda i: steps[i])
    best_value = min(ppl)
    best_index = next(i for i in order if ppl[i] == best_value)  # earliest on ties
    rows, previous = [], None
    for i in order:
        row = {"step": steps[i], "perplexity": ppl[i], "best": i == best_index}
        row["change"] = None if previous is None else ppl[i] - previous
        row["change_pct"] = None if previous is None else 100 * (ppl[i] - previous) / previous
        row["from_best"] = ppl[i] - best_value
        row["from_best_pct"] = 100 * (ppl[i] - best_value) / best_value
        rows.append(row)
        previous = ppl[i]
    return rows


def assert_trend(checkpoints: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert [c["step"] for c in checkpoints] == [e["step"] for e in expected]
    assert [c["best"] for c in checkpoints] == [e["best"] for e in expected]
    for c, e in zip(checkpoints, expected, strict=True):
        assert set(c) == CHECKPOINT_KEYS
        assert close(c["perplexity"], e["perplexity"])
        for key in ("change", "change_pct"):
            if e[key] is None:
                assert c[key] is None
            else:
                assert math.isclose(c[key], e[key], rel_tol=1e-5, abs_tol=1e-9), (key, c, e)
        for key in ("from_best", "from_best_pct"):
            assert math.isclose(c[key], e[key], rel_tol=1e-5, abs_tol=1e-9), (key, c, e)


# ------------------------------------------------------------------------ writing files

QUALITY = {1000: 0.4, 2000: 1.1, 3000: 1.8, 4000: 2.4, 5000: 2.1}
"""Step -> how sharp each checkpoint's logits point at the label (the last is worse)."""


def prediction_checkpoints(folder: Path, n: int = 120, classes: int = 4) -> tuple[dict[int, str], str, dict]:
    rng = np.random.default_rng(31)
    labels = rng.integers(0, classes, n)
    np.save(folder / "labels.npy", labels)
    paths, logits = {}, {}
    for step, sharp in QUALITY.items():
        z = rng.normal(size=(n, classes))
        z[np.arange(n), labels] += sharp
        path = folder / f"ckpt_{step}.npy"
        np.save(path, z)
        paths[step], logits[step] = str(path), z
    return paths, str(folder / "labels.npy"), {"labels": labels, "logits": logits}


def token_checkpoints(folder: Path, n_sequences: int = 9) -> tuple[dict[int, str], dict]:
    rng = np.random.default_rng(32)
    lengths = rng.integers(2, 15, n_sequences)
    seq = np.repeat(np.arange(n_sequences), lengths)
    n = len(seq)
    mask = rng.random(n) > 0.2
    paths, data = {}, {}
    for step, sharp in QUALITY.items():
        logprob = -rng.exponential(3.0 / sharp, n)
        logprob[~mask] = np.nan  # padding: masked, never looked at
        path = folder / f"lm_step_{step}.parquet"
        pq.write_table(pa.table({"logprob": logprob, "seq": seq, "mask": mask}), path)
        paths[step], data[step] = str(path), (logprob, seq, mask)
    return paths, data


# ---------------------------------------------------------------------- checkpoint_steps


@pytest.mark.parametrize(
    "names, steps",
    [
        (["ckpt_1000.parquet", "ckpt_200.parquet"], [1000, 200]),
        (["run3_step_2000.parquet", "run3_step_10.parquet"], [2000, 10]),
        (["ckpt_2.csv.gz", "ckpt_3.tsv.gz", "ckpt_4.pq", "ckpt_5.npy"], [2, 3, 4, 5]),
        (["CKPT_9.CSV.GZ", "model-v2.step-12.TSV"], [9, 12]),
        (["epoch1_step100.csv", "epoch2_step50.csv"], [100, 50]),
    ],
)
def test_checkpoint_step_is_the_last_integer_of_the_file_name(names, steps):
    assert checkpoint_steps(names) == steps


def test_checkpoint_step_prefers_the_file_name_to_its_folders():
    assert checkpoint_steps(["run_7/ckpt_30.parquet", "run_8/ckpt_20.parquet"]) == [30, 20]
    assert checkpoint_steps(["run/best.parquet", "run/last.parquet"]) == [1, 2]


def test_checkpoint_steps_without_numbers_are_argument_positions():
    assert checkpoint_steps(["last.parquet", "best.parquet", "final.npy"]) == [1, 2, 3]


def test_checkpoint_steps_mixed_numbers_and_none_is_an_error():
    with pytest.raises(InfoCliError) as info:
        checkpoint_steps(["ckpt_100.parquet", "final.parquet", "ckpt_200.parquet"])
    assert info.value.path == "final.parquet"


# --------------------------------------------------------------------------- trend_rows


def checkpoints(pairs: list[tuple[int, float]]) -> list[Checkpoint]:
    return [Checkpoint(f"c{step}.npy", step, math.log(p), p, 0.1) for step, p in pairs]


def test_trend_rows_sorted_by_step_with_changes_and_best():
    pairs = [(300, 12.0), (100, 40.0), (500, 11.0), (200, 20.0), (400, 10.0)]
    rows = trend_rows(checkpoints(pairs))
    got = [
        {
            "step": r.checkpoint.step,
            "perplexity": r.checkpoint.perplexity,
            "best": r.best,
            "change": r.change,
            "change_pct": r.change_pct,
            "from_best": r.from_best,
            "from_best_pct": r.from_best_pct,
            "path": r.checkpoint.path,
            "cross_entropy": 0,
            "perplexity_se": 0,
            **dict.fromkeys(
                CHECKPOINT_KEYS
                - {
                    "step",
                    "perplexity",
                    "best",
                    "change",
                    "change_pct",
                    "from_best",
                    "from_best_pct",
                    "path",
                    "cross_entropy",
                    "perplexity_se",
                }
            ),  # fmt: skip
        }
        for r in rows
    ]
    assert_trend(got, expected_trend([s for s, _ in pairs], [p for _, p in pairs]))
    assert rows[0].change is None and rows[0].change_pct is None
    assert rows[1].change == -20.0 and rows[1].change_pct == -50.0
    assert [r.checkpoint.path for r in rows] == ["c100.npy", "c200.npy", "c300.npy", "c400.npy", "c500.npy"]


def test_trend_rows_marks_the_earliest_of_tied_best():
    rows = trend_rows(checkpoints([(3, 5.0), (1, 8.0), (2, 5.0), (4, 6.0)]))
    assert [r.best for r in rows] == [False, True, False, False]
    assert sum(r.best for r in rows) == 1
    assert rows[2].from_best == 0.0


def test_trend_rows_duplicate_steps_is_an_error():
    with pytest.raises(InfoCliError) as info:
        trend_rows(checkpoints([(100, 5.0), (200, 4.0), (100, 3.0)]))
    assert "100" in str(info.value)


def test_worse_than_best_is_strictly_more_than_pct():
    rows = trend_rows(checkpoints([(1, 4.0), (2, 5.0)]))  # the last is exactly 25% above the best
    significant = Change(0.2, 0.01, 0.05, 1e-9, True)
    rows[-1] = replace(rows[-1], from_best_test=significant)
    assert rows[-1].from_best_pct == 25.0
    assert worse_than_best(rows, 25.0) is False
    assert worse_than_best(rows, 24.9) is True
    noise = Change(0.2, 0.3, 1.5, 0.5, False)  # as far above, but too few rows to tell
    assert worse_than_best([*rows[:-1], replace(rows[-1], from_best_test=noise)], 24.9) is False
    assert worse_than_best(trend_rows(checkpoints([(1, 5.0), (2, 4.0)])), 0.0) is False


# ------------------------------------------------------------------ CLI: prediction mode


def test_trend_of_prediction_checkpoints_matches_log_loss(tmp_path):
    paths, labels, data = prediction_checkpoints(tmp_path)
    shuffled = [paths[s] for s in (3000, 1000, 5000, 2000, 4000)]
    doc = run_json("trend", *shuffled, "--labels", labels)
    assert doc["base"] == "e" and doc["unit"] == "nats"
    assert isinstance(doc["checkpoints"], list)
    refs = {s: log_loss_reference(data["logits"][s], data["labels"]) for s in QUALITY}
    steps = list(QUALITY)
    assert_trend(doc["checkpoints"], expected_trend(steps, [math.exp(refs[s][0]) for s in steps]))
    for c in doc["checkpoints"]:
        ce, ppl_se = refs[c["step"]]
        assert c["path"] == paths[c["step"]]
        assert close(c["cross_entropy"], ce)
        assert close(c["perplexity"], math.exp(ce))
        assert close(c["perplexity_se"], ppl_se)
    assert doc["gate"] is None


def test_trend_base_2_reports_cross_entropy_in_bits(tmp_path):
    paths, labels, data = prediction_checkpoints(tmp_path)
    doc = run_json("trend", *paths.values(), "--labels", labels, "--base", "2")
    assert doc["unit"] == "bits"
    for c in doc["checkpoints"]:
        ce, _ = log_loss_reference(data["logits"][c["step"]], data["labels"])
        assert close(c["cross_entropy"], ce / math.log(2))
        assert close(c["perplexity"], math.exp(ce))


def test_trend_prediction_mode_with_ignore_index(tmp_path):
    paths, _, data = prediction_checkpoints(tmp_path)
    labels = data["labels"].copy()
    labels[::5] = -100
    np.save(tmp_path / "ignored.npy", labels)
    doc = run_json("trend", *paths.values(), "--labels", tmp_path / "ignored.npy", "--ignore-index", "-100")
    for c in doc["checkpoints"]:
        ce, _ = log_loss_reference(data["logits"][c["step"]], labels, ignore=-100)
        assert close(c["cross_entropy"], ce)


def test_trend_steps_are_positions_when_no_name_has_a_number(tmp_path):
    paths, labels, data = prediction_checkpoints(tmp_path)
    renamed = []
    for word, step in zip(("last", "first", "middle"), (5000, 1000, 3000), strict=True):
        target = tmp_path / f"{word}.npy"
        Path(paths[step]).rename(target)
        renamed.append((str(target), step))
    doc = run_json("trend", *[p for p, _ in renamed], "--labels", labels)
    assert [c["step"] for c in doc["checkpoints"]] == [1, 2, 3]
    assert [c["path"] for c in doc["checkpoints"]] == [p for p, _ in renamed]
    for c, (_, step) in zip(doc["checkpoints"], renamed, strict=True):
        assert close(c["cross_entropy"], log_loss_reference(data["logits"][step], data["labels"])[0])


def test_trend_mixed_named_and_unnamed_checkpoints_is_bad_input(tmp_path):
    paths, labels, _ = prediction_checkpoints(tmp_path)
    Path(paths[3000]).rename(tmp_path / "final.npy")
    final = str(tmp_path / "final.npy")
    assert_bad_input(invoke("trend", paths[1000], final, paths[2000], "--labels", labels), final)


def test_trend_duplicate_steps_is_bad_input(tmp_path):
    paths, labels, _ = prediction_checkpoints(tmp_path)
    (tmp_path / "other").mkdir()
    copy = tmp_path / "other" / "ckpt_1000.npy"
    copy.write_bytes(Path(paths[1000]).read_bytes())
    assert_bad_input(invoke("trend", paths[1000], paths[2000], copy, "--labels", labels), "1000")


# ----------------------------------------------------------------------- CLI: token mode


def test_trend_of_token_checkpoints_matches_reference(tmp_path):
    paths, data = token_checkpoints(tmp_path)
    doc = run_json("trend", *reversed(list(paths.values())), "--seq-col", "seq", "--mask-col", "mask")
    refs = {s: token_reference(*data[s]) for s in QUALITY}
    steps = list(QUALITY)
    assert_trend(doc["checkpoints"], expected_trend(steps, [math.exp(refs[s][0]) for s in steps]))
    for c in doc["checkpoints"]:
        rate, ppl_se = refs[c["step"]]
        assert close(c["cross_entropy"], rate)
        assert close(c["perplexity_se"], ppl_se)
    assert doc["checkpoints"][3]["best"] is True  # step 4000 is the sharpest


def test_trend_of_sample_checkpoints_matches_reference():
    files = sorted((SAMPLE_DATA / "checkpoints").glob("lm_paired_step_*.parquet"))
    doc = run_json("trend", *files, "--seq-col", "seq", "--mask-col", "mask")
    ppl = []
    for path in files:
        t = pq.read_table(path).to_pydict()
        rate, _ = token_reference(np.array(t["logprob"]), np.array(t["seq"]), np.array(t["mask"]))
        ppl.append(math.exp(rate))
    steps = [int(p.stem.rsplit("_", 1)[1]) for p in files]
    assert_trend(doc["checkpoints"], expected_trend(steps, ppl))


# ------------------------------------------------------------------ CLI: table and gate


def test_trend_table_has_steps_best_mark_and_a_sparkline(tmp_path):
    paths, labels, data = prediction_checkpoints(tmp_path)
    result = invoke("trend", *paths.values(), "--labels", labels)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    for step in QUALITY:
        assert f"{step:,}" in out
    assert "best" in out and "★" in out
    rows = [line for line in out.splitlines() if "ckpt_" in line]
    assert len(rows) == len(QUALITY)
    assert "★" in rows[3] and "★" not in "".join(rows[:3] + rows[4:])  # step 4000 is the best
    spark_lines = [line for line in out.splitlines() if any(ch in line for ch in SPARKS)]
    assert len(spark_lines) == 1
    assert out.index(spark_lines[0]) > out.index(rows[-1])  # under the table
    spark = "".join(ch for ch in spark_lines[0] if ch in SPARKS)
    assert len(spark) == len(QUALITY)
    ppl = [math.exp(log_loss_reference(data["logits"][s], data["labels"])[0]) for s in QUALITY]
    assert spark[ppl.index(max(ppl))] == SPARKS[-1]
    assert spark[ppl.index(min(ppl))] == SPARKS[0]
    for i in range(len(ppl)):
        for j in range(len(ppl)):
            if ppl[i] < ppl[j]:
                assert SPARKS.index(spark[i]) <= SPARKS.index(spark[j])


@pytest.mark.parametrize("mode", ["predictions", "tokens"])
def test_fail_if_worse_exits_1_above_the_threshold_and_0_below(tmp_path, mode):
    # Enough rows (or sequences) for the relapse at the last step to be significant.
    if mode == "predictions":
        paths, labels, data = prediction_checkpoints(tmp_path, n=4000)
        extra = ["--labels", labels]
        ppl = {s: math.exp(log_loss_reference(data["logits"][s], data["labels"])[0]) for s in QUALITY}
    else:
        paths, data = token_checkpoints(tmp_path, n_sequences=400)
        extra = ["--seq-col", "seq", "--mask-col", "mask"]
        ppl = {s: math.exp(token_reference(*data[s])[0]) for s in QUALITY}
    excess = 100 * (ppl[5000] - min(ppl.values())) / min(ppl.values())
    assert excess > 1
    below, above = excess * 0.9, excess * 1.1
    failed = run_json("trend", *paths.values(), *extra, "--fail-if-worse", below, code=1)
    assert failed["gate"] == {"pct": below, "alpha": 0.05, "failed": True}
    passed = run_json("trend", *paths.values(), *extra, "--fail-if-worse", above)
    assert passed["gate"] == {"pct": above, "alpha": 0.05, "failed": False}
    table = invoke("trend", *paths.values(), *extra, "--fail-if-worse", below)
    assert table.exit_code == 1 and "FAIL" in table.stdout


def test_fail_if_worse_passes_when_the_last_checkpoint_is_the_best(tmp_path):
    paths, labels, _ = prediction_checkpoints(tmp_path)
    result = invoke(
        "trend", paths[1000], paths[2000], paths[3000], paths[4000], "--labels", labels, "--fail-if-worse", 0
    )
    assert result.exit_code == 0, result.stderr


def test_fail_if_worse_negative_is_bad_input(tmp_path):
    paths, labels, _ = prediction_checkpoints(tmp_path)
    assert_bad_input(
        invoke("trend", *paths.values(), "--labels", labels, "--fail-if-worse", "-1"), "--fail-if-worse"
    )


# ---------------------------------------------------------------------------- --plot


def test_plot_png_is_a_valid_image(tmp_path):
    image = pytest.importorskip(
        "matplotlib.image", reason="matplotlib is not installed (pip install 'infocli[plot]')"
    )
    paths, labels, _ = prediction_checkpoints(tmp_path)
    out = tmp_path / "trend.png"
    result = invoke("trend", *paths.values(), "--labels", labels, "--plot", out)
    assert result.exit_code == 0, result.stderr
    data = out.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    pixels = image.imread(out)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert np.unique(pixels.reshape(-1, pixels.shape[2]), axis=0).shape[0] > 2  # not blank
    assert not list(tmp_path.glob(".infocli-*"))  # no temporary file left


def test_plot_svg_is_well_formed_xml(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install 'infocli[plot]')")
    paths, _ = token_checkpoints(tmp_path)
    out = tmp_path / "trend.svg"
    result = invoke("trend", *paths.values(), "--seq-col", "seq", "--mask-col", "mask", "--plot", out)
    assert result.exit_code == 0, result.stderr
    root = ET.parse(out).getroot()
    assert root.tag.endswith("svg")
    text = out.read_text()
    # matplotlib writes each text item as a comment before its glyphs: the axis labels,
    # and the annotation of the best checkpoint (step 4000 here, see the token test).
    assert "<!-- step -->" in text and "perplexity" in text
    assert re.search(r"<!-- best: [0-9.]+ at step 4,000 -->", text)


def test_plot_without_matplotlib_is_bad_input_with_the_install_hint(tmp_path, monkeypatch):
    paths, labels, _ = prediction_checkpoints(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    out = tmp_path / "trend.png"
    line = assert_bad_input(invoke("trend", *paths.values(), "--labels", labels, "--plot", out), "matplotlib")
    assert "pip install" in line and "infocli[plot]" in line
    assert not out.exists()


@pytest.mark.parametrize("name", ["trend.jpg", "trend.pdf", "trend"])
def test_plot_with_a_bad_extension_is_bad_input(tmp_path, name):
    paths, labels, _ = prediction_checkpoints(tmp_path)
    out = tmp_path / name
    assert_bad_input(invoke("trend", *paths.values(), "--labels", labels, "--plot", out), ".png", ".svg")
    assert not out.exists()


def test_plot_into_a_missing_folder_is_bad_input(tmp_path):
    paths, labels, _ = prediction_checkpoints(tmp_path)
    assert_bad_input(
        invoke("trend", *paths.values(), "--labels", labels, "--plot", tmp_path / "no" / "t.png")
    )
