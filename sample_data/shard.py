"""Write a sharded copy of the sample data, in every form of dataset infocli reads.

    python sample_data/shard.py [FOLDER]        (default: sharded/)

From ``probs.parquet``, ``labels.parquet``, ``logits.npy`` and ``tokens.parquet`` beside
this script (the rows in order, nothing random):

- ``preds/split=test/part-0.parquet`` ... ``part-11.parquet``: the predictions in 12
  shards, in a Hive partition folder; ``labels/split=test/part-*.csv`` their labels,
  paired by relative path; ``preds.txt``, the shards listed one a line (for ``@``);
- ``hf/test/data-0000N-of-00003.arrow``: predictions and labels as Arrow IPC streams of
  small record batches, beside ``state.json`` and ``dataset_info.json``, as Hugging Face
  datasets' ``save_to_disk`` writes them;
- ``samples.jsonl``: one JSON object a line, each with a ``probs`` list and a ``label``,
  as lm-evaluation-harness logs samples;
- ``run.npz``: the logits and the labels in one archive;
- ``tokens/part-0.jsonl.gz`` ...: the per-token log-probabilities in 4 gzipped JSON Lines
  shards (a sequence may continue into the next shard);
- ``preds_b/split=test/part-*.parquet``: a second model's predictions (``probs_b.parquet``)
  in the same 12 shards, for ``compare``;
- ``latent/part-*.parquet``: the encoder outputs (``latent.parquet``) in 4 shards, and
  ``latent_mu/part-*.npy`` with ``latent_logvar/part-*.npy``, the .npy arrays in the same
  4 shards, for ``latent-kl``.
"""

from __future__ import annotations

import gzip
import json
import math
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
N_SHARDS = 12
N_HF_SHARDS = 3
N_TOKEN_SHARDS = 4
N_LATENT_SHARDS = 4


def _bounds(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` consecutive row ranges of nearly equal size."""
    edges = [round(i * n / parts) for i in range(parts + 1)]
    return list(zip(edges, edges[1:], strict=False))


def _json_value(value: object) -> object:
    """A value as strict JSON holds it: NaN (a padding token's log-probability) as null."""
    return None if isinstance(value, float) and math.isnan(value) else value


def main(out: Path) -> None:
    probs = pq.read_table(HERE / "probs.parquet")
    labels = pq.read_table(HERE / "labels.parquet")
    n = probs.num_rows

    preds_dir, labels_dir = out / "preds" / "split=test", out / "labels" / "split=test"
    preds_dir.mkdir(parents=True, exist_ok=True)
    labels_dir.mkdir(parents=True, exist_ok=True)
    listed = []
    for i, (a, b) in enumerate(_bounds(n, N_SHARDS)):
        pq.write_table(probs.slice(a, b - a), preds_dir / f"part-{i}.parquet")
        pcsv.write_csv(labels.slice(a, b - a), labels_dir / f"part-{i}.csv")
        listed.append(f"preds/split=test/part-{i}.parquet")
    (out / "preds.txt").write_text("".join(line + "\n" for line in listed))

    both = probs.append_column("label", labels.column("label"))
    hf = out / "hf" / "test"
    hf.mkdir(parents=True, exist_ok=True)
    for i, (a, b) in enumerate(_bounds(n, N_HF_SHARDS)):
        part = both.slice(a, b - a)
        with pa.ipc.new_stream(str(hf / f"data-{i:05d}-of-{N_HF_SHARDS:05d}.arrow"), part.schema) as writer:
            for batch in part.to_batches(max_chunksize=100):
                writer.write_batch(batch)
    (hf / "state.json").write_text(
        json.dumps({"_data_files": [{"filename": p.name} for p in sorted(hf.glob("*.arrow"))]})
    )
    (hf / "dataset_info.json").write_text(json.dumps({"features": {name: {} for name in both.column_names}}))

    matrix = np.stack([probs.column(c).to_numpy() for c in probs.column_names], axis=1)
    y = labels.column("label").to_numpy()
    with open(out / "samples.jsonl", "w") as file:
        for i, (row, label) in enumerate(zip(matrix, y, strict=True)):
            file.write(json.dumps({"doc_id": i, "probs": row.tolist(), "label": int(label)}) + "\n")

    np.savez(out / "run.npz", logits=np.load(HERE / "logits.npy"), labels=np.load(HERE / "labels.npy"))

    tokens = pq.read_table(HERE / "tokens.parquet").to_pydict()
    names = list(tokens)
    (out / "tokens").mkdir(exist_ok=True)
    for i, (a, b) in enumerate(_bounds(len(tokens[names[0]]), N_TOKEN_SHARDS)):
        rows = ({k: _json_value(tokens[k][r]) for k in names} for r in range(a, b))
        lines = (json.dumps(row) + "\n" for row in rows)
        with gzip.open(out / "tokens" / f"part-{i}.jsonl.gz", "wt") as file:
            file.writelines(lines)
    _compared_and_latent(out)


def _compared_and_latent(out: Path) -> None:
    """A second model's predictions in the shards of the first, and the encoder outputs in shards."""
    probs_b = pq.read_table(HERE / "probs_b.parquet")
    folder = out / "preds_b" / "split=test"
    folder.mkdir(parents=True, exist_ok=True)
    for i, (a, b) in enumerate(_bounds(probs_b.num_rows, N_SHARDS)):
        pq.write_table(probs_b.slice(a, b - a), folder / f"part-{i}.parquet")
    latent = pq.read_table(HERE / "latent.parquet")
    arrays = {name: np.load(HERE / f"{name}.npy") for name in ("latent_mu", "latent_logvar")}
    for name in ("latent", *arrays):
        (out / name).mkdir(exist_ok=True)
    for i, (a, b) in enumerate(_bounds(latent.num_rows, N_LATENT_SHARDS)):
        pq.write_table(latent.slice(a, b - a), out / "latent" / f"part-{i}.parquet")
        for name, array in arrays.items():
            np.save(out / name / f"part-{i}.npy", array[a:b])


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("sharded"))
