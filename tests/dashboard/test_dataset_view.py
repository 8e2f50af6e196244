"""The dataset page's data over a real project: versions and counts, the validation
report, quarantined rows a page at a time with their reasons, a diff of two versions;
a missing artifact said on the page, bad parameters refused in words."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from act_support import PROJECT, TRAIN_CODE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import shipyard
from shipyard.config.example_data import write_loans_batch
from shipyard.dashboard.dataset_view import dataset_view
from shipyard.dashboard.refusals import Refused
from shipyard.project import Project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    folder = tmp_path_factory.mktemp("datasets") / "proj"
    folder.mkdir()
    (folder / "shipyard.yaml").write_text(PROJECT)
    (folder / "dashboard_act_model.py").write_text(TRAIN_CODE)
    write_loans_batch(folder / "b1.csv", rows=1500, seed=1)
    write_loans_batch(folder / "b2.csv", rows=400, seed=2, first_id=1001)  # 500 ids overlap
    with shipyard.open(folder) as opened:
        opened.ingest("loans", folder / "b1.csv")
        opened.ingest("loans", folder / "b2.csv")
        yield opened


def test_every_version_with_its_counts_newest_first(project: Project) -> None:
    page = dataset_view(project, "loans")
    log = project.data.log("loans")
    assert [v.version for v in page.versions] == [2, 1]
    for row, version in zip(page.versions, log, strict=True):
        assert (row.received, row.accepted, row.quarantined) == (
            version.rows_received, version.rows_accepted, version.rows_quarantined,
        )  # fmt: skip
        assert row.received == row.accepted + row.quarantined
    assert page.selected is not None and page.selected.version == 2
    assert page.report is not None and page.report["quarantined"] == log[0].rows_quarantined
    assert page.problems == [] and page.diff is None


def test_quarantined_rows_come_a_page_at_a_time_with_their_reasons(project: Project) -> None:
    everything = project.data.quarantine("loans@1")
    assert everything.height > 30  # about 3% of 1,500
    seen: list[list[str]] = []
    page_number, pages = 1, None
    while pages is None or page_number <= pages:
        page = dataset_view(project, "loans", version="1", page=str(page_number), per_page=15)
        quarantine = page.quarantine
        assert quarantine is not None and quarantine.total == everything.height
        assert len(quarantine.rows) <= 15 and quarantine.page == page_number
        assert quarantine.first == (page_number - 1) * 15 + 1
        seen += [r.reasons for r in quarantine.rows]
        pages = quarantine.pages
        page_number += 1
    assert seen == [list(r) for r in everything["_reasons"].to_list()]  # all, in order, once
    assert all(reasons for reasons in seen)
    first = dataset_view(project, "loans", version="1", per_page=15).quarantine
    assert first is not None and first.columns[:2] == ["loan_id", "amount"]
    row = first.rows[0]
    assert row.source.endswith("b1.csv") and row.line == everything["_row"][0]
    assert row.cells[0] == str(everything["loan_id"][0])


def test_the_diff_of_two_versions(project: Project) -> None:
    page = dataset_view(project, "loans", diff="1..2")
    assert page.diff is not None
    expected = project.data.diff("loans@1", "loans@2")
    assert page.diff.as_dict() == expected.as_dict()
    assert (page.diff.rows_a, page.diff.rows_b) == (
        project.data.show("loans@1").rows, project.data.show("loans@2").rows,
    )  # fmt: skip


def test_a_missing_report_is_said_and_the_rest_renders(project: Project, tmp_path: Path) -> None:
    version = project.data.show("loans@1")
    stored = project.root / ".shipyard" / "artifacts" / version.report_key
    kept = stored.read_bytes()
    stored.unlink()
    try:
        page = dataset_view(project, "loans", version="1")
    finally:
        stored.write_bytes(kept)
    assert page.report is None
    [problem] = page.problems
    assert f"the validation report of loans@1 ({version.report_key}) cannot be read" in problem
    assert page.quarantine is not None and page.quarantine.total == version.rows_quarantined


BAD = {
    "unknown dataset": ({"name": "lones"}, 404, "no dataset named 'lones'"),
    "unknown version": ({"version": "9"}, 404, "dataset 'loans' has no version 9"),
    "version not a number": ({"version": "v1"}, 400, "?version= must be a version number"),
    "page not a number": ({"page": "two"}, 400, "?page= must be a page number from 1"),
    "page past the end": ({"version": "1", "page": "99"}, 404, "not page 99"),
    "diff malformed": ({"diff": "1-2"}, 400, "?diff= must name two versions as A..B"),
    "diff unknown version": ({"diff": "1..7"}, 404, "no version '7'"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_parameter_is_refused_in_words(project: Project, case: str) -> None:
    given, status, words = BAD[case]
    name = str(given.pop("name", "loans")) if "name" in given else "loans"
    with pytest.raises(Refused) as refused:
        dataset_view(project, name, **{k: str(v) for k, v in given.items() if k != "name"})
    assert refused.value.status == status
    assert words in str(refused.value)


def test_a_declared_dataset_without_versions_is_an_empty_page(project: Project) -> None:
    # a second project file naming one more dataset, over the same stores
    config = project.config.model_copy(
        update={"datasets": {**project.config.datasets, "fresh": project.config.datasets["loans"]}}
    )
    empty = shipyard.project.Project(project.root, config)
    try:
        page = dataset_view(empty, "fresh")
    finally:
        empty.close()
    assert page.empty and page.declared and page.quarantine is None


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    version=st.one_of(st.none(), st.text(max_size=12), st.integers(-3, 5).map(str)),
    page=st.one_of(st.none(), st.text(max_size=12), st.integers(-3, 5).map(str)),
    diff=st.one_of(st.none(), st.text(max_size=12), st.from_regex(r"\A[0-9]{1,2}\.\.[0-9]{1,2}\Z")),
)
def test_any_query_renders_or_is_refused_in_words(
    project: Project, version: str | None, page: str | None, diff: str | None
) -> None:
    try:
        view = dataset_view(project, "loans", version=version, page=page, diff=diff)
    except Refused as refused:
        assert 400 <= refused.status < 500 and "\n" not in refused.message
    else:
        assert view.selected is not None and view.quarantine is not None
