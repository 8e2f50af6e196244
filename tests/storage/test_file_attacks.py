"""Writes never follow links: planted symbolic links must not redirect what shipyard writes.

Each test plants a real link to a folder or file outside where shipyard means to
write, runs the real writer, and checks that nothing landed at the link's target.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from shipyard.errors import StorageError
from shipyard.storage import ArtifactStore, safe_files
from shipyard.storage.safe_files import TempFile, checked_folder, write_atomic
from shipyard.storage.urls import ArtifactLocation


def _store(root: Path) -> ArtifactStore:
    return ArtifactStore(ArtifactLocation("file", str(root)))


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


def test_symlinked_staging_folder_in_the_artifact_root_is_refused(
    tmp_path: Path, outside: Path
) -> None:
    root = tmp_path / "store"
    root.mkdir()
    (root / ".tmp").symlink_to(outside, target_is_directory=True)
    store = _store(root)
    with pytest.raises(StorageError, match=r"\.tmp is a symbolic link") as caught:
        store.put(b"secret model bytes", prefix="models")
    assert caught.value.hint and "remove the link" in caught.value.hint
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(4096))
    with pytest.raises(StorageError, match="symbolic link"):
        store.put_file(source, prefix="models")
    assert list(outside.iterdir()) == [], "a write went through the .tmp link"
    assert not (root / "models").exists()


def test_symlinked_folder_on_the_way_to_a_key_is_not_followed_at_commit(
    tmp_path: Path, outside: Path
) -> None:
    """A link that appears between the key check and the rename is refused by the rename."""
    root = tmp_path / "store"
    root.mkdir()
    (root / "models").symlink_to(outside, target_is_directory=True)
    with checked_folder(root, (".tmp",), create=True) as staging, TempFile(staging) as tmp:
        tmp.file.write(b"x")
        refused = pytest.raises(StorageError, match="models is a symbolic link")
        with refused, checked_folder(root, ("models", "ab"), create=True) as folder:
            tmp.commit(folder, "abcdef")
    assert list(outside.iterdir()) == []
    assert list((root / ".tmp").iterdir()) == [], "the temporary file was left behind"


def test_link_planted_at_the_temporary_name_is_never_written_through(
    tmp_path: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """O_EXCL | O_NOFOLLOW: a link at the exact temporary name (guessed) is not opened."""
    fixed = uuid.UUID(int=7)
    monkeypatch.setattr(safe_files.uuid, "uuid4", lambda: fixed)  # make the name guessable
    victim = outside / "victim.txt"
    victim.write_text("untouched")
    (tmp_path / f".export.csv.{fixed.hex}.tmp").symlink_to(victim)
    with pytest.raises(FileExistsError):
        write_atomic(tmp_path / "export.csv", b"attacker,controlled\n")
    assert victim.read_text() == "untouched"
    assert not (tmp_path / "export.csv").exists()


def test_atomic_write_to_a_path_that_is_a_symlink_is_refused_and_the_target_untouched(
    tmp_path: Path, outside: Path
) -> None:
    victim = outside / "authorized_keys"
    victim.write_text("ssh-ed25519 AAAA the real key\n")
    link = tmp_path / "export.csv"
    link.symlink_to(victim)
    with pytest.raises(StorageError, match=r"export\.csv is a symbolic link"):
        write_atomic(link, b"attacker,controlled\n")
    assert victim.read_text() == "ssh-ed25519 AAAA the real key\n"
    assert link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.csv", "outside"]


def test_atomic_write_leaves_nothing_half_written_when_the_writer_fails(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")

    def fails(out: object) -> None:
        out.write(b"half")  # type: ignore[attr-defined]
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomic(target, fails)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_atomic_write_inside_a_root_refuses_a_symlinked_folder_below_it(
    tmp_path: Path, outside: Path
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / "spool").symlink_to(outside, target_is_directory=True)
    with pytest.raises(StorageError, match="spool is a symbolic link"):
        write_atomic(root / "spool" / "segment.parquet", b"rows", root=root)
    with pytest.raises(StorageError, match="outside"):
        write_atomic(outside / "x", b"rows", root=root)
    assert list(outside.iterdir()) == []


def test_download_to_a_symlinked_destination_does_not_write_through_it(
    tmp_path: Path, outside: Path
) -> None:
    store = _store(tmp_path / "store")
    artifact = store.put(b"dataset bytes", prefix="datasets")
    victim = outside / "victim"
    victim.write_text("untouched")
    dest = tmp_path / "copy.parquet"
    dest.symlink_to(victim)
    with pytest.raises(StorageError, match="symbolic link"):
        store.download(artifact.key, dest)
    assert victim.read_text() == "untouched"
    plain = tmp_path / "plain.parquet"
    assert store.download(artifact.key, plain).read_bytes() == b"dataset bytes"


# -- the prediction-log spool ---------------------------------------------------


def test_link_planted_in_the_prediction_spool_is_not_read_into_the_store(
    tmp_path: Path, outside: Path
) -> None:
    """A link named like a spooled segment must not ship a secret file to the artifact store."""
    from shipyard.predlog import SegmentLog

    secret = outside / "id_rsa"
    secret.write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY-----")
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "predictions__stolen~x__1__3__.parquet").symlink_to(secret)
    store = _store(tmp_path / "artifacts")
    SegmentLog("predictions", store, worker="w1", spool=spool).retry_spool()
    stolen = [store.get(k) for k in store.list()]
    assert b"-----BEGIN OPENSSH PRIVATE KEY-----" not in stolen
    assert store.list("stolen") == []


def test_symlinked_prediction_spool_folder_is_not_written_through(
    tmp_path: Path, outside: Path
) -> None:
    from shipyard.predlog import SegmentLog

    spool = tmp_path / "spool"
    spool.symlink_to(outside, target_is_directory=True)
    down = tmp_path / "artifacts"
    down.write_text("the store is down")  # a file where the folder should be: puts fail
    log = SegmentLog("predictions", _store(down), worker="w1", spool=spool)
    assert log._to_spool(b"rows", "predictions/m/2026-01-01/w1", 1) is False
    assert list(outside.iterdir()) == []
