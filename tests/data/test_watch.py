"""A watched folder: each file once, by content, across restarts; never half a file."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import shipyard
from sample_data import GOOD, HEADER, write
from shipyard.data.watch import watch
from shipyard.project import Project


def age(path: Path, seconds: float = 10) -> Path:
    past = time.time() - seconds
    os.utime(path, (past, past))
    return path


def test_each_file_is_ingested_once_across_restarts(data_project: Project, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    age(write(inbox / "a.csv", HEADER + GOOD[0]))
    age(write(inbox / "b.csv", HEADER + GOOD[1]))
    events = watch(data_project.data, "people", inbox, once=True)
    assert [(e.path.name, e.outcome) for e in events] == [
        ("a.csv", "ingested"),
        ("b.csv", "ingested"),
    ]
    # a restart (a new process would see the same database) ingests nothing again
    with shipyard.open(data_project.root) as again:
        assert watch(again.data, "people", inbox, once=True) == []
    # the same bytes under another name are the same file
    age(Path(shutil.copy(inbox / "a.csv", inbox / "a-copy.csv")))
    assert watch(data_project.data, "people", inbox, once=True) == []
    # changed content is a new file
    age(write(inbox / "a.csv", HEADER + GOOD[2]))
    [event] = watch(data_project.data, "people", inbox, once=True)
    assert event.detail.startswith("people@3: 1 received, 1 accepted")


def test_files_being_written_are_left_alone(data_project: Project, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write(inbox / "fresh.csv", HEADER + GOOD[0])  # modified just now: may still grow
    age(write(inbox / "upload.csv.part", HEADER + GOOD[1]))
    age(write(inbox / ".hidden.csv", HEADER + GOOD[1]))
    age(write(inbox / "notes.txt.tmp", "x"))
    assert watch(data_project.data, "people", inbox, once=True, settle=5) == []
    assert data_project.data.log("people") == []


def test_a_bad_file_is_reported_and_not_retried(data_project: Project, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    age(write(inbox / "empty.csv", ""))
    age(write(inbox / "drift.csv", "id,other\n1,2\n"))
    events = {e.path.name: e for e in watch(data_project.data, "people", inbox, once=True)}
    assert events["empty.csv"].outcome == "unreadable"
    assert events["drift.csv"].outcome == "rejected"
    assert watch(data_project.data, "people", inbox, once=True) == []


def test_watching_picks_up_files_that_arrive(data_project: Project, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    stop = threading.Event()
    seen = []
    thread = threading.Thread(
        target=watch,
        args=(data_project.data, "people", inbox),
        kwargs={"interval": 0.1, "settle": 0.2, "stop": stop, "on_event": seen.append},
    )
    thread.start()
    try:
        tmp = write(inbox / "arriving.csv.part", HEADER + GOOD[0])
        tmp.rename(inbox / "arriving.csv")  # write-then-rename
        deadline = time.monotonic() + 20
        while not seen and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=20)
    assert [e.outcome for e in seen] == ["ingested"]
