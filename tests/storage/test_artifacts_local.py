"""What only a local folder can get wrong: links, permissions, crashes mid-write."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.errors import UnsafeKeyError
from shipyard.storage import ArtifactStore, check_key
from shipyard.storage.urls import ArtifactLocation


def _store(root: Path) -> ArtifactStore:
    return ArtifactStore(ArtifactLocation("file", str(root)))


def test_paths_through_symlinks_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    store = _store(tmp_path / "store")
    artifact = store.put(b"inside", prefix="models")
    (tmp_path / "store" / "linked").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafeKeyError, match="symbolic link"):
        store.put(b"escape", prefix="linked")
    assert list(outside.iterdir()) == []
    # a key whose file was swapped for a link is refused too
    target = tmp_path / "store" / artifact.key
    target.unlink()
    target.symlink_to(outside / "x")
    with pytest.raises(UnsafeKeyError):
        store.get(artifact.key)


@given(st.text(min_size=1, max_size=40))
def test_any_key_that_passes_stays_under_the_root(key: str) -> None:
    root = "/srv/store"
    try:
        check_key(key)
    except UnsafeKeyError:
        return
    assert os.path.normpath(f"{root}/{key}").startswith(root + "/")


@given(st.binary(max_size=2048))
def test_any_bytes_round_trip(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = _store(Path(folder))
        assert store.get(store.put(data).key) == data


def test_read_only_folder_gives_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o555)
    script = textwrap.dedent(
        f"""
        from shipyard.storage import ArtifactStore
        from shipyard.storage.urls import ArtifactLocation
        from shipyard.errors import StorageError
        try:
            ArtifactStore(ArtifactLocation("file", {str(root)!r})).put(b"x")
        except StorageError as exc:
            print("REFUSED", exc)
        else:
            print("WROTE")
        """
    )
    command = [sys.executable, "-c", script]
    if os.geteuid() == 0:
        # root ignores permission bits; without these capabilities it honours them
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to test permissions as root"
        command = [setpriv, "--bounding-set=-dac_override,-dac_read_search", *command]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    finally:
        root.chmod(0o755)
    assert "REFUSED" in result.stdout, result.stdout + result.stderr
    assert "not writable" in result.stdout
    assert "SHIPYARD_ARTIFACTS_URL" in result.stdout
    assert list(root.iterdir()) == []


def test_a_killed_writer_leaves_no_visible_artifact(tmp_path: Path) -> None:
    """Kill a process while it streams a file into the store: nothing half-written appears."""
    fifo = tmp_path / "incoming.fifo"
    os.mkfifo(fifo)
    root = tmp_path / "store"
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from shipyard.storage import ArtifactStore
        from shipyard.storage.urls import ArtifactLocation
        ArtifactStore(ArtifactLocation("file", {str(root)!r})).put_file(Path({str(fifo)!r}))
        """
    )
    writer = subprocess.Popen([sys.executable, "-c", script])
    try:
        with fifo.open("wb") as pipe:
            pipe.write(os.urandom(4 << 20))  # the writer has read and stored part of it
            pipe.flush()
            deadline = time.monotonic() + 30
            while not list((root / ".tmp").glob("*")) and time.monotonic() < deadline:
                time.sleep(0.05)
            writer.send_signal(signal.SIGKILL)
            writer.wait(timeout=30)
    except BrokenPipeError:
        pass
    assert writer.returncode == -signal.SIGKILL
    assert _store(root).list() == [], "a half-written artifact became visible"
