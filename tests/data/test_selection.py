"""Training data for a run: the latest version, all versions (deduplicated by the key,
the newest winning), a sliding window by the timestamp; the same rows again from the
stored selection, and a windowed candidate evaluated on a holdout of its own rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import shipyard
from shipyard.data.selection import Selection
from shipyard.errors import ConfigError, DataError, NotFoundError
from shipyard.project import Project

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

PROJECT = """\
project: selection-tests
datasets:
  events:
    key: id
    timestamp: at
    target: y
    columns:
      id: {type: int, nullable: false}
      at: {type: datetime, nullable: false}
      x: {type: float}
      y: {type: bool}
  snapshots:
    key: id
    timestamp: at
    mode: replace
    columns:
      id: {type: int, nullable: false}
      at: {type: datetime}
      x: {type: float}
  plain:
    mode: replace
    columns:
      x: {type: float}
models:
  m:
    owner: {name: team, email: team@example.com}
    task: binary_classification
    dataset: events
    features: [x]
    train: fit_m:fit
    split: {strategy: random, holdout: 0.25, seed: 3}
"""

TRAIN = """\
from sklearn.linear_model import LogisticRegression


def fit(frame, params):
    return LogisticRegression().fit(frame[["x"]], frame["y"])
"""


def rows(ids: range, *, days_ago: list[float] | None = None, x: float = 0.0) -> pl.DataFrame:
    """Rows ``ids``, each timed ``days_ago`` before NOW (default: one day per id, oldest first)."""
    ages = days_ago or [float(len(ids) - i) for i in range(len(ids))]
    rng = np.random.default_rng(len(ids))
    values = rng.normal(size=len(ids)) + x
    return pl.DataFrame(
        {
            "id": list(ids),
            "at": [NOW - timedelta(days=d) for d in ages],
            "x": values,
            "y": values + rng.normal(scale=0.5, size=len(ids)) > 0,
        }
    )


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "shipyard.yaml").write_text(PROJECT)
    (folder / "fit_m.py").write_text(TRAIN)
    with shipyard.open(folder) as opened:
        yield opened


def test_latest_is_the_newest_version_and_comes_back_the_same(project: Project) -> None:
    project.ingest("events", rows(range(10)))
    project.ingest("events", rows(range(10, 30)))
    frame, selection = project.data.select("events")
    assert selection == Selection("events@2", "latest", None, None, 30)
    assert frame.equals(project.data.load("events@2"))
    project.ingest("events", rows(range(30, 40)))  # later versions change nothing
    assert project.data.rows(selection.as_dict()).equals(frame)


def test_all_in_append_mode_reads_each_row_once(project: Project) -> None:
    project.ingest("events", rows(range(10)))
    project.ingest("events", rows(range(10, 25)))
    frame, selection = project.data.select("events", data="all")
    assert frame.height == 25 and selection.rows == 25 and selection.data == "all"
    assert sorted(frame["id"].to_list()) == list(range(25))


def test_all_of_replaced_versions_deduplicates_by_key_newest_wins(project: Project) -> None:
    project.ingest("snapshots", rows(range(10)).drop("y"))
    newer = rows(range(5, 15), x=100.0).drop("y")
    project.ingest("snapshots", newer)
    frame, selection = project.data.select("snapshots", data="all")
    assert frame.height == 15 and selection.dataset == "snapshots@2"
    assert frame["id"].to_list() == list(range(15))
    overlap = frame.filter(pl.col("id").is_between(5, 9))
    assert overlap["x"].to_list() == newer.filter(pl.col("id") <= 9)["x"].to_list()
    assert project.data.rows(selection.as_dict()).equals(frame)


def test_all_without_a_key_keeps_every_versions_rows(project: Project) -> None:
    project.ingest("plain", pl.DataFrame({"x": [1.0, 2.0]}))
    project.ingest("plain", pl.DataFrame({"x": [2.0, 3.0, 4.0]}))
    frame, _ = project.data.select("plain", data="all")
    assert sorted(frame["x"].to_list()) == [1.0, 2.0, 2.0, 3.0, 4.0]


def test_a_window_keeps_the_recent_rows_by_timestamp(project: Project) -> None:
    project.ingest("events", rows(range(100)))  # one a day, the newest a day old
    frame, selection = project.data.select("events", window=30 * 86400.0, now=NOW)
    assert selection.since == NOW - timedelta(days=30)
    assert selection.window_s == 30 * 86400.0
    assert frame.height == 30 == selection.rows
    assert frame["at"].min() >= NOW - timedelta(days=30)  # type: ignore[operator]
    stored = selection.as_dict()
    assert stored["since"] == "2026-05-02T12:00:00+00:00"
    assert project.data.rows(stored).equals(frame)


def test_a_window_needs_a_timestamp_column(project: Project) -> None:
    project.ingest("plain", pl.DataFrame({"x": [1.0]}))
    with pytest.raises(DataError, match="sliding window needs a 'timestamp' column") as caught:
        project.data.select("plain", window=86400.0)
    assert "datasets.plain.timestamp" in (caught.value.hint or "")


def test_a_window_with_no_rows_in_it_says_so(project: Project) -> None:
    project.ingest("events", rows(range(5), days_ago=[400, 300, 200, 100, 90]))
    with pytest.raises(DataError, match=r"no rows of events@1 .* since 2026-05-25"):
        project.data.select("events", window=7 * 86400.0, now=NOW)


def test_bad_requests_are_one_line_errors(project: Project) -> None:
    with pytest.raises(NotFoundError, match="has no versions yet"):
        project.data.select("events")
    project.ingest("events", rows(range(5)))
    with pytest.raises(DataError, match="data: expected one of latest, all"):
        project.data.select("events", data="newest")
    with pytest.raises(DataError, match="not a stored selection"):
        project.data.rows({"data": "all"})


def test_a_windowed_candidate_trains_and_is_evaluated_on_its_own_rows(project: Project) -> None:
    project.ingest("events", rows(range(200), x=0.0))
    frame, selection = project.data.select("events", window=80 * 86400.0, now=NOW)
    assert frame.height == 80
    version = project.models.train("m", selection=selection.as_dict())
    assert version.dataset == "events@1"
    assert version.training["selection"] == selection.as_dict()
    assert version.training["rows_train"] + version.training["rows_holdout"] == frame.height
    holdout, used = project.evaluations._frame(version, None, "y")
    assert used == "events@1 (holdout)"
    assert len(holdout) == version.training["rows_holdout"]
    assert set(holdout["id"]) <= set(frame["id"].to_list())  # never a row outside the window
    evaluation = project.evaluate(version.ref)
    assert evaluation.report.dataset == "events@1 (holdout)"


def test_without_a_selection_training_is_unchanged(project: Project) -> None:
    project.ingest("events", rows(range(200)))
    version = project.models.train("m")
    assert "selection" not in version.training
    assert version.training["rows_train"] + version.training["rows_holdout"] == 200


def test_a_selection_of_another_version_than_data_is_refused(project: Project) -> None:
    project.ingest("events", rows(range(100)))
    _, selection = project.data.select("events")
    project.ingest("events", rows(range(100, 200)))
    with pytest.raises(ConfigError, match="selection of rows is of events@1"):
        project.models.train("m", data="events@2", selection=selection.as_dict())
