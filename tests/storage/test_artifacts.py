"""The artifact store contract, run on a local folder and on S3 (moto server)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from shipyard.errors import IntegrityError, NotFoundError, UnsafeKeyError
from shipyard.storage import ArtifactStore


def test_put_then_get_returns_the_same_bytes(artifact_store: ArtifactStore) -> None:
    data = b"model bytes \x00\xff" * 100
    artifact = artifact_store.put(data, prefix="models/fraud", suffix=".skops")
    digest = hashlib.sha256(data).hexdigest()
    assert artifact.sha256 == digest
    assert artifact.size == len(data)
    assert artifact.key == f"models/fraud/{digest[:2]}/{digest}.skops"
    assert artifact_store.get(artifact.key) == data
    assert artifact_store.exists(artifact.key)


def test_same_bytes_are_stored_once(artifact_store: ArtifactStore) -> None:
    first = artifact_store.put(b"same")
    second = artifact_store.put(b"same")
    assert first == second
    assert artifact_store.list() == [first.key]


def test_list_by_prefix_and_delete(artifact_store: ArtifactStore) -> None:
    a = artifact_store.put(b"a", prefix="datasets/loans")
    b = artifact_store.put(b"b", prefix="models/risk")
    assert artifact_store.list() == sorted([a.key, b.key])
    assert artifact_store.list("datasets") == [a.key]
    assert artifact_store.list("nothing/here") == []
    artifact_store.delete(a.key)
    assert not artifact_store.exists(a.key)
    assert artifact_store.list() == [b.key]


def test_a_listing_says_when_each_object_was_written(artifact_store: ArtifactStore) -> None:
    import time

    before = time.time()
    a = artifact_store.put(b"when", prefix="predictions/risk")
    listed = artifact_store.listing("predictions")
    assert list(listed) == [a.key]
    # the store's clock (S3: LastModified, whole seconds), not ours to the microsecond
    assert before - 5 <= listed[a.key] <= time.time() + 5
    assert artifact_store.listing("nothing/here") == {}


def test_missing_artifact_is_not_found(artifact_store: ArtifactStore) -> None:
    key = f"objects/00/{'0' * 64}"
    with pytest.raises(NotFoundError, match="no artifact"):
        artifact_store.get(key)
    with pytest.raises(NotFoundError):
        artifact_store.delete(key)
    with pytest.raises(NotFoundError):
        artifact_store.download(key, Path("/tmp/never-written"))


def test_put_file_and_download_stream_and_verify(
    artifact_store: ArtifactStore, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(3 * (1 << 20) + 17))  # several chunks
    artifact = artifact_store.put_file(source, prefix="datasets", suffix=".parquet")
    assert artifact.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    dest = artifact_store.download(artifact.key, tmp_path / "copy.bin")
    assert dest.read_bytes() == source.read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_changed_bytes_are_refused_on_read(artifact_store: ArtifactStore, tmp_path: Path) -> None:
    artifact = artifact_store.put(b"the original model", prefix="models")
    _overwrite(artifact_store, artifact.key, b"a tampered model!!")
    with pytest.raises(IntegrityError, match="corrupt") as info:
        artifact_store.get(artifact.key)
    assert info.value.hint and "restore" in info.value.hint
    with pytest.raises(IntegrityError):
        artifact_store.download(artifact.key, tmp_path / "out")
    assert not (tmp_path / "out").exists(), "a corrupt download must leave no file behind"


@pytest.mark.parametrize(
    "key",
    [
        "../outside",
        "objects/../../etc/passwd",
        "/etc/passwd",
        "objects//double",
        "./here",
        ".tmp/sneaky",
        "objects/.hidden",
        "objects\\windows",
        "C:/windows",
        "",
        "objects/with space",
    ],
)
def test_unsafe_keys_are_refused(artifact_store: ArtifactStore, key: str) -> None:
    with pytest.raises(UnsafeKeyError):
        artifact_store.get(key)
    with pytest.raises(UnsafeKeyError):
        artifact_store.exists(key)
    with pytest.raises(UnsafeKeyError):
        artifact_store.delete(key)


@pytest.mark.parametrize("prefix", ["../up", "/abs", "a/../b", ".tmp"])
def test_unsafe_prefixes_are_refused_on_write(artifact_store: ArtifactStore, prefix: str) -> None:
    with pytest.raises(UnsafeKeyError):
        artifact_store.put(b"x", prefix=prefix)
    assert artifact_store.list() == []


def test_keys_that_do_not_carry_a_hash_cannot_be_read(artifact_store: ArtifactStore) -> None:
    with pytest.raises(UnsafeKeyError, match="sha256"):
        artifact_store.get("models/fraud.bin")


def _overwrite(store: ArtifactStore, key: str, data: bytes) -> None:
    """Change stored bytes behind the store's back, as a disk fault or a person would."""
    if store.location.protocol == "file":
        Path(store.location.root, key).write_bytes(data)
    else:
        import boto3

        bucket, _, prefix = store.location.root.partition("/")
        client = boto3.client("s3", endpoint_url=os.environ["SHIPYARD_S3_ENDPOINT_URL"])
        client.put_object(Bucket=bucket, Key=f"{prefix}/{key}", Body=data)
