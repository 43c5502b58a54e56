"""The same chunks give the same bits whatever the number of scoring threads: chunk states
are merged in file order, so threads change when a chunk is scored, never the sums."""

from __future__ import annotations

import numpy as np
import pytest

from infocli import evaluate as evaluate_module
from infocli.evaluate import evaluate
from infocli.plan import EvalOptions


@pytest.mark.parametrize("fmt", ["npy", "parquet"])
def test_one_or_several_scoring_threads_give_bit_identical_states(tmp_path, monkeypatch, fmt):
    rng = np.random.default_rng(11)
    logits = rng.normal(size=(5000, 7)).astype(np.float32)
    labels = rng.integers(0, 7, size=5000)
    if fmt == "npy":
        np.save(tmp_path / "p.npy", logits)
        np.save(tmp_path / "y.npy", labels)
        preds, target = tmp_path / "p.npy", tmp_path / "y.npy"
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(
            pa.table({f"c{i}": logits[:, i] for i in range(7)} | {"label": labels}), tmp_path / "p.parquet"
        )
        preds, target = tmp_path / "p.parquet", None
    options = EvalOptions(chunk_rows=97)
    states = []
    for cpus in (1, 2, 4):
        monkeypatch.setattr(evaluate_module, "usable_cpus", lambda cpus=cpus: cpus)
        states.append(evaluate(str(preds), None if target is None else str(target), options).state.to_dict())
    assert states[0] == states[1] == states[2]
