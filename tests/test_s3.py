"""s3:// datasets against a real S3-protocol server on loopback (moto's server mode).

pyarrow's own S3 filesystem talks HTTP to the server, which the tests start on a free
port and stop afterwards; the objects are uploaded with boto3, as another program would.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto.server import ThreadedMotoServer

from cli_helpers import assert_bad_input, invoke, run_json
from shard_files import write_shard


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A moto S3 server on a free loopback port, for this module's tests."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(endpoint, monkeypatch, tmp_path) -> object:
    """A client of the server, credentials and endpoint in the environment as a user sets them."""
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def _upload(client, bucket: str, folder: Path, prefix: str) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), bucket, prefix + path.relative_to(folder).as_posix())


def _dataset(tmp_path: Path) -> tuple[Path, Path]:
    """Four shards of predictions and their labels (parquet and CSV), and one file of all."""
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(4), 50)
    labels = rng.integers(0, 4, 50)
    edges = [0, 5, 17, 30, 50]
    for i, (a, b) in enumerate(zip(edges, edges[1:], strict=False)):
        part = {f"c{j}": probs[a:b, j] for j in range(4)}
        write_shard(tmp_path / "preds" / f"split=test/part-{i}", part, "parquet")
        write_shard(tmp_path / "labels" / f"split=test/part-{i}", {"label": labels[a:b]}, "csv")
    (tmp_path / "preds" / "_SUCCESS").write_bytes(b"")
    pq.write_table(
        pa.table({**{f"c{j}": probs[:, j] for j in range(4)}, "label": labels}), tmp_path / "one.parquet"
    )
    np.save(tmp_path / "labels.npy", labels)
    return tmp_path / "one.parquet", tmp_path / "labels.npy"


def test_a_dataset_of_shards_in_a_bucket_reads_as_one_file(s3, tmp_path):
    one, _ = _dataset(tmp_path)
    s3.create_bucket(Bucket="evals")
    _upload(s3, "evals", tmp_path / "preds", "run1/preds/")
    _upload(s3, "evals", tmp_path / "labels", "run1/labels/")
    got = run_json("eval", "s3://evals/run1/preds/", "s3://evals/run1/labels/")
    want = run_json("eval", one)
    assert got["n_samples"] == 50
    assert got["metrics"] == pytest.approx(want["metrics"], rel=1e-12)
    assert got["predictions"]["path"] == "s3://evals/run1/preds/"


def test_a_glob_of_objects_against_a_local_labels_file(s3, tmp_path):
    one, labels = _dataset(tmp_path)
    s3.create_bucket(Bucket="globbed")
    _upload(s3, "globbed", tmp_path / "preds", "p/")
    got = run_json("eval", "s3://globbed/p/*/part-*.parquet", labels)
    assert got["metrics"] == pytest.approx(run_json("eval", one)["metrics"], rel=1e-12)


def test_the_s3_endpoint_variable_comes_before_the_general_one(s3, endpoint, tmp_path, monkeypatch):
    one, labels = _dataset(tmp_path)
    s3.create_bucket(Bucket="specific")
    _upload(s3, "specific", tmp_path / "preds", "p/")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    assert run_json("eval", "s3://specific/p/", labels)["n_samples"] == 50


def test_a_missing_key_is_named(s3, tmp_path):
    s3.create_bucket(Bucket="keys")
    s3.put_object(Bucket="keys", Key="there.parquet", Body=b"x")
    assert_bad_input(
        invoke("eval", "s3://keys/missing.parquet"), "s3://keys/missing.parquet", "no such object"
    )
    assert_bad_input(invoke("eval", "s3://keys/missing/"), "s3://keys/missing/", "no such object")


def test_a_missing_bucket_is_named(s3):
    result = invoke("eval", "s3://no-such-bucket/preds/")
    assert_bad_input(result, "s3://no-such-bucket/preds/", "no such bucket 'no-such-bucket'")


def test_a_corrupt_object_among_good_ones_is_named(s3, tmp_path):
    _, labels = _dataset(tmp_path)
    (tmp_path / "preds" / "split=test" / "part-2.parquet").write_bytes(b"PAR1 cut short")
    s3.create_bucket(Bucket="corrupt")
    _upload(s3, "corrupt", tmp_path / "preds", "p/")
    line = assert_bad_input(
        invoke("eval", "s3://corrupt/p/", labels), "s3://corrupt/p/split=test/part-2.parquet"
    )
    assert "part-1" not in line


def test_credentials_in_a_uri_are_used_and_never_printed(s3, tmp_path):
    one, labels = _dataset(tmp_path)
    s3.create_bucket(Bucket="secret")
    _upload(s3, "secret", tmp_path / "preds", "p/")
    uri = "s3://KEYID123:SeCrEt456@secret/p/"
    got = run_json("eval", uri, labels)
    assert got["predictions"]["path"] == "s3://secret/p/"
    assert "SeCrEt456" not in str(got) and "KEYID123" not in str(got)
    result = invoke("eval", "s3://KEYID123:SeCrEt456@secret/missing/")
    line = assert_bad_input(result, "s3://secret/missing/")
    assert "SeCrEt456" not in line and "KEYID123" not in line
