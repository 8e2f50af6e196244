"""Generated files are written whole or not at all; the lock's format table is the models'."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.deploy.lock import FORMAT_DISTRIBUTIONS
from shipyard.deploy.output import write_folder
from shipyard.models.formats import FORMATS


def test_a_failure_halfway_leaves_the_target_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("before")
    # "a" as a file, then "a/b" beneath it: the second write fails after the first
    with pytest.raises(OSError):
        write_folder(out, {"a": "file", "a/b": "cannot"}, force=True, command="test")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging folder left
    assert [p.name for p in out.iterdir()] == ["old.txt"]


def test_a_whole_write_replaces_the_target(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_folder(out, {"x/y.txt": "y", "z.bin": b"\x00"}, force=False, command="test")
    write_folder(out, {"new.txt": "n"}, force=True, command="test")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_link_as_the_target_is_replaced_and_its_folder_left_alone(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "mine.txt").write_text("keep me")
    (tmp_path / "out").symlink_to(elsewhere)
    write_folder(tmp_path / "out", {"new.txt": "n"}, force=True, command="test")
    assert not (tmp_path / "out").is_symlink() and (tmp_path / "out" / "new.txt").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "out"]  # no .old-* left
    assert (elsewhere / "mine.txt").read_text() == "keep me"


def test_the_format_table_is_the_models_one() -> None:
    assert {
        name: tuple(spec.distributions) for name, spec in FORMATS.items()
    } == FORMAT_DISTRIBUTIONS
