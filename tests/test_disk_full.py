"""A full disk is the machine's state, not a bug: one sentence, exit 2, nothing half-written.

Where this machine allows it (root, ``mount -t tmpfs``), the stores and files live
on a real, tiny tmpfs that is filled to the last byte, and the real CLI runs on
it. Without mounting, a file size limit (``RLIMIT_FSIZE``, which makes writes
fail with EFBIG) does the same to a real subprocess.
"""

from __future__ import annotations

import errno
import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard
from sample_data import GOOD, HEADER, PROJECT
from shipyard.errors import NoSpaceError, StorageError
from shipyard.storage import ArtifactStore
from shipyard.storage.safe_files import TempFile, checked_folder, write_atomic
from shipyard.storage.urls import ArtifactLocation

SHIPYARD = [sys.executable, "-m", "shipyard"]
MODEL = """\
models:
  risk:
    owner: {name: risk-team, email: risk@example.com}
    task: binary_classification
    dataset: people
    features: [age, score]
"""


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MB tmpfs; skipped only where mounting is impossible (not root, no tmpfs)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0777", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); the EFBIG tests still run")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte with one file; return it (remove it to free the disk)."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out:
        block = b"\0" * 4096
        try:
            while True:
                out.write(block)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        try:
            while True:
                out.write(b"\0")
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def project_at(
    folder: Path, *, database: Path | None = None, artifacts: Path | None = None
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    storage = "storage:\n"
    storage += f"  database: sqlite:///{database}\n" if database else ""
    storage += f"  artifacts: {artifacts}\n" if artifacts else ""
    (folder / "shipyard.yaml").write_text(
        PROJECT + MODEL + (storage if database or artifacts else "")
    )
    rows = [
        f"{i},Ann,{20 + i % 50},0.5,DE,2026-01-01,{'true' if i % 2 else 'false'}\n"
        for i in range(4000)
    ]
    (folder / "people.csv").write_text(HEADER + "".join(GOOD + rows[4:]))
    with shipyard.open(folder) as project:
        project.metadata.ping()  # the database exists and is migrated before the disk fills
    return folder


def cli(folder: Path, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SHIPYARD, "-C", str(folder), *args],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "COLUMNS": "300"}, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


def said_plainly(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr, result.stderr
    assert "nothing was written" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


# -- the real CLI on a really full disk -------------------------------------------------


def test_ingest_onto_a_full_artifact_store(tmp_path: Path, disk: Path) -> None:
    store = disk / "artifacts"
    folder = project_at(tmp_path / "proj", artifacts=store)
    filler = fill(disk)
    said_plainly(
        cli(folder, "data", "ingest", "people", str(folder / "people.csv")),
        f"no space left on {store}",
    )
    assert [f for f in files(disk) if f != "filler"] == []  # no temporary file left behind
    with shipyard.open(folder) as project:
        assert project.data.versions.latest("people") is None  # no version points anywhere
    filler.unlink()  # room again: the same command now works
    assert cli(folder, "data", "ingest", "people", str(folder / "people.csv")).returncode == 0


def test_ingest_onto_a_full_metadata_database(tmp_path: Path, disk: Path) -> None:
    database = disk / "shipyard.db"
    folder = project_at(tmp_path / "proj", database=database)
    filler = fill(disk)
    said_plainly(
        cli(folder, "data", "ingest", "people", str(folder / "people.csv")),
        f"no space left on {database} (the metadata database)",
    )
    filler.unlink()  # SQLite cannot even read on a full disk (no room for its -shm file)
    with shipyard.open(folder) as project:
        assert project.data.versions.latest("people") is None


def test_export_onto_a_full_disk(tmp_path: Path, disk: Path) -> None:
    folder = project_at(tmp_path / "proj")
    assert cli(folder, "data", "ingest", "people", str(folder / "people.csv")).returncode == 0
    fill(disk)
    target = disk / "people.csv"
    said_plainly(
        cli(folder, "data", "export", "people@1", str(target)), f"no space left on {target}"
    )
    assert files(disk) == ["filler"]


def test_alert_rules_onto_a_full_disk(tmp_path: Path, disk: Path) -> None:
    folder = project_at(tmp_path / "proj")
    fill(disk)
    target = disk / "rules.yml"
    said_plainly(cli(folder, "alerts", "export", "-o", str(target)), f"no space left on {target}")
    assert files(disk) == ["filler"]


# -- the Python API and the stores on a really full disk ----------------------------------


def test_registering_onto_a_full_disk_registers_nothing(tmp_path: Path, disk: Path) -> None:
    folder = project_at(tmp_path / "proj", artifacts=disk / "artifacts")
    fill(disk)
    X = np.random.default_rng(0).uniform(0, 1, (50, 2))
    model = LogisticRegression().fit(X, X[:, 0] > 0.5)
    with shipyard.open(folder) as project:
        with pytest.raises(NoSpaceError, match=r"no space left on .*nothing was written"):
            project.register(model, "risk")
        assert project.models.registry.versions("risk") == []
    assert [f for f in files(disk) if f != "filler"] == []


def test_the_stores_and_the_spool_say_it_on_a_full_disk(disk: Path) -> None:
    fill(disk)
    store = ArtifactStore(ArtifactLocation("file", str(disk / "artifacts")))
    with pytest.raises(NoSpaceError) as full:
        store.put(os.urandom(64_000), prefix="predictions/risk")
    assert full.value.message == f"no space left on {disk / 'artifacts'}, nothing was written"
    assert "SHIPYARD_ARTIFACTS_URL" in str(full.value.hint)
    spool = disk / "spool"
    said = f"no space left on {spool}, nothing was written"
    with (
        pytest.raises(NoSpaceError, match=said),
        checked_folder(disk, ("spool",), create=True) as folder,
        TempFile(folder) as tmp,
    ):
        tmp.file.write(os.urandom(64_000))
        tmp.commit(folder, "segment.parquet")
    with pytest.raises(NoSpaceError):
        write_atomic(disk / "report.json", os.urandom(64_000))
    assert files(disk) == ["filler"]


# -- without mounting: a file size limit (EFBIG) on the real CLI --------------------------


def _limited(size: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def test_a_file_size_limit_is_said_plainly_without_mounting(tmp_path: Path) -> None:
    folder = project_at(tmp_path / "proj")
    assert cli(folder, "data", "ingest", "people", str(folder / "people.csv")).returncode == 0
    target = tmp_path / "out" / "people.csv"
    target.parent.mkdir()
    result = cli(
        folder, "data", "export", "people@1", str(target), preexec_fn=lambda: _limited(60_000)
    )
    said_plainly(result, f"file size limit reached writing to {target}")
    assert list(target.parent.iterdir()) == []  # not a truncated file, not a temporary one


def test_a_read_only_destination_is_said_plainly(tmp_path: Path) -> None:
    folder = project_at(tmp_path / "proj")
    assert cli(folder, "data", "ingest", "people", str(folder / "people.csv")).returncode == 0
    target = tmp_path / "ro" / "people.csv"
    target.parent.mkdir()
    target.parent.chmod(0o555)
    command = ["data", "export", "people@1", str(target)]
    try:
        if os.geteuid() == 0:  # root ignores permission bits; without these capabilities not
            result = subprocess.run(
                ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
                 *SHIPYARD, "-C", str(folder), *command],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
        else:
            result = cli(folder, *command)
    finally:
        target.parent.chmod(0o755)
    said_plainly(result, f"{target} is not writable (permission denied)")
    assert list(target.parent.iterdir()) == []


def test_an_environment_error_no_layer_caught_is_not_called_a_bug() -> None:
    from click.testing import CliRunner

    from shipyard.cli.app import cli as group

    @group.command("fill-the-disk", hidden=True)
    def _full() -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "/data/x.bin")

    try:
        result = CliRunner().invoke(group, ["fill-the-disk"])
    finally:
        group.commands.pop("fill-the-disk")
    assert result.exit_code == 2
    assert "no space left on /data/x.bin, nothing was written" in result.output
    assert "internal error" not in result.output


def test_write_failures_name_the_place_and_keep_other_errors() -> None:
    from shipyard.storage.failures import write_failure

    quota = write_failure(OSError(errno.EDQUOT, "Disk quota exceeded"), "/home/me/out.csv")
    assert isinstance(quota, NoSpaceError)
    assert quota.message == "disk quota exceeded on /home/me/out.csv, nothing was written"
    read_only = write_failure(OSError(errno.EROFS, "Read-only file system"), "/mnt/ro")
    assert isinstance(read_only, StorageError) and not isinstance(read_only, NoSpaceError)
    assert (
        read_only.message
        == "/mnt/ro is not writable (a read-only file system), nothing was written"
    )
    assert write_failure(OSError(errno.ENOENT, "No such file"), "/x") is None
    assert write_failure(ValueError("no"), "/x") is None
