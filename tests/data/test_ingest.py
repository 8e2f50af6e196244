"""Ingest: versions, lineage, append policies, references, export, diff, rejection, crashes."""

from __future__ import annotations

import multiprocessing
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

import shipyard
from helpers import run_together
from sample_data import GOOD, HEADER, PROJECT, write
from shipyard.errors import BatchRejectedError, DataError, NotFoundError
from shipyard.project import Project


def ingest_rows(project: Project, tmp: Path, rows: list[str], name: str = "b.csv"):  # type: ignore[no-untyped-def]
    return project.ingest("people", write(tmp / name, HEADER + "".join(rows)))


def test_first_ingest_makes_version_1(data_project: Project, tmp_path: Path) -> None:
    result = ingest_rows(data_project, tmp_path, [*GOOD, "4,bad,1,0.1,DE,2026-01-01,true\n"])
    version = result.version
    assert version.ref == "people@1"
    assert (version.rows_received, version.rows_accepted, version.rows_quarantined) == (4, 3, 1)
    assert version.rows == 3
    assert version.parents == []
    [source] = version.sources
    assert source["kind"] == "csv" and source["rows"] == 4 and len(source["sha256"]) == 64
    assert data_project.data.load("people@1")["id"].to_list() == [1, 2, 3]
    assert data_project.data.quarantine("people@1")["_row"].to_list() == [5]
    assert data_project.data.report("people@1")["received"] == 4
    [event] = data_project.audit(subject="people")
    assert event.action == "data.version.created"
    assert event.detail["quarantined"] == 1


def test_append_builds_on_the_parent(data_project: Project, tmp_path: Path) -> None:
    ingest_rows(data_project, tmp_path, GOOD[:2], "a.csv")
    second = ingest_rows(data_project, tmp_path, [GOOD[2]], "b.csv").version
    assert second.parents == [1]
    assert second.rows == 3
    assert data_project.data.load("people@2")["id"].to_list() == [1, 2, 3]


def test_a_key_already_in_the_parent_is_quarantined_by_default(
    data_project: Project, tmp_path: Path
) -> None:
    ingest_rows(data_project, tmp_path, GOOD, "a.csv")
    result = ingest_rows(
        data_project,
        tmp_path,
        ["2,Bea,20,0.1,DE,2026-02-01,true\n", "9,Ivo,1,0.2,PL,2026-01-01,false\n"],
        "b.csv",
    )
    assert (result.report.accepted, result.report.quarantined) == (1, 1)
    [row] = data_project.data.quarantine(result.version.ref).to_dicts()
    assert row["_reasons"] == ["id: 2 is already in people@1"]
    assert row["_row"] == 2 and row["_source"].endswith("b.csv")
    assert data_project.data.load("people@2").filter(pl.col("id") == 2)["name"].item() == "Bob"


def test_keep_latest_lets_the_newer_row_win(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "shipyard.yaml").write_text(
        PROJECT.replace(
            "    target: churned\n", "    target: churned\n    on_duplicate_key: keep_latest\n"
        )
    )
    with shipyard.open(folder) as project:
        ingest_rows(project, tmp_path, GOOD, "a.csv")
        result = ingest_rows(
            project,
            tmp_path,
            ["1,Ada,35,0.5,DE,2026-03-01,false\n", "2,Old,50,0.2,FR,2025-01-01,true\n"],
            "b.csv",
        )
        rows = {r["id"]: r["name"] for r in project.data.load(result.version.ref).to_dicts()}
        assert rows == {1: "Ada", 2: "Bob", 3: "Cem"}
        [loser] = project.data.quarantine(result.version.ref).to_dicts()
        assert loser["_reasons"] == ["id: 2 has a newer row in people@1 (keep_latest)"]
        assert (result.report.accepted, result.report.quarantined) == (1, 1)


def test_replace_mode(data_project: Project, tmp_path: Path) -> None:
    ingest_rows(data_project, tmp_path, GOOD, "a.csv")
    result = data_project.ingest(
        "people", write(tmp_path / "b.csv", HEADER + GOOD[0]), mode="replace"
    )
    assert result.version.parents == []
    assert result.version.rows == 1


def test_the_same_rows_give_the_same_hash(data_project: Project, tmp_path: Path) -> None:
    first = ingest_rows(data_project, tmp_path, GOOD, "a.csv").version
    shuffled = ingest_rows(data_project, tmp_path, [GOOD[2], GOOD[0], GOOD[1]], "b.csv")
    assert shuffled.nothing_new == "all 3 rows of the batch are already in people@1"
    assert shuffled.version == first  # no empty version
    again = data_project.ingest("people", tmp_path / "b.csv", mode="replace")
    assert again.nothing_new and again.version == first  # the same rows in another order
    data_project.ingest("people", write(tmp_path / "c.csv", HEADER + GOOD[0]), mode="replace")
    back = data_project.ingest("people", tmp_path / "b.csv", mode="replace").version
    assert back.version == 3 and back.content_hash == first.content_hash


def test_references(data_project: Project, tmp_path: Path) -> None:
    first = ingest_rows(data_project, tmp_path, GOOD[:1], "a.csv").version
    second = ingest_rows(data_project, tmp_path, GOOD[1:], "b.csv").version
    data = data_project.data
    assert data.show("people").version == 2
    assert data.show("people@latest").version == 2
    assert data.show("people@1") == first
    assert data.show(f"people@{second.content_hash[:8]}").version == 2
    with pytest.raises(NotFoundError, match="has no version '7'; it has 1, 2"):
        data.show("people@7")
    with pytest.raises(
        NotFoundError, match="no dataset named 'peple' \\(did you mean 'people'\\?\\)"
    ):
        data.show("peple@1")
    with pytest.raises(NotFoundError, match="is not a dataset version reference"):
        data.show("people@@1")


def test_export_is_byte_for_byte_reproducible(data_project: Project, tmp_path: Path) -> None:
    version = ingest_rows(data_project, tmp_path, GOOD).version
    one = data_project.data.export("people@1", tmp_path / "one.parquet").path
    two = data_project.data.export("people@1", tmp_path / "two.parquet").path
    assert one.read_bytes() == two.read_bytes()
    import hashlib

    assert hashlib.sha256(one.read_bytes()).hexdigest() == version.content_hash
    csv_a = data_project.data.export("people@1", tmp_path / "a.csv").path.read_bytes()
    csv_b = data_project.data.export("people@1", tmp_path / "b.csv").path.read_bytes()
    assert csv_a == csv_b
    assert csv_a.startswith(
        b"id,name,age,score,country,seen_at,churned\n1,Ann,34,0.5,DE,2026-01-01T10:00:00.000000+00:00,false"
    )
    with pytest.raises(DataError, match="must be one of"):
        data_project.data.export("people@1", tmp_path / "x.xlsx")


def test_diff(data_project: Project, tmp_path: Path) -> None:
    ingest_rows(data_project, tmp_path, GOOD, "a.csv")
    data_project.ingest(
        "people",
        write(
            tmp_path / "b.csv",
            HEADER
            + GOOD[0]
            + "2,Bob,52,0.25,FR,2026-01-02T09:00:00Z,true\n"
            + "7,Gus,9,0.9,PL,2026-01-05,true\n",
        ),
        mode="replace",
    )
    diff = data_project.data.diff("people@1", "people@2")
    assert (diff.added, diff.removed, diff.changed) == (1, 1, 1)
    assert diff.changed_by_column == {"age": 1}
    before, after = diff.columns["age"]
    assert before is not None and after is not None
    assert (before.max, after.max) == (51, 52)


def test_a_rejected_batch_writes_no_version_and_is_audited(
    data_project: Project, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "b.csv",
        "id,name,age,score,country,seen_at,churned,extra\n1,Ann,3,0.1,DE,2026-01-01,true,x\n",
    )
    with pytest.raises(BatchRejectedError) as info:
        data_project.ingest("people", path)
    assert "schema_drift: column(s) not in the schema: extra" in info.value.message
    assert info.value.report["rejected"] is True
    assert data_project.data.log("people") == []
    [event] = data_project.audit(subject="people")
    assert event.action == "data.batch.rejected"


def test_schema_drift_can_warn_instead(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "shipyard.yaml").write_text(
        PROJECT.replace(
            "    target: churned\n",
            "    target: churned\n    checks: {schema_drift: {action: warn}}\n",
        )
    )
    path = write(
        tmp_path / "b.csv", "id,name,age,score,country,seen_at,extra\n1,Ann,3,0.1,DE,2026-01-01,x\n"
    )
    with shipyard.open(folder) as project:
        result = project.ingest("people", path)
        assert [c.name for c in result.report.warnings] == ["schema_drift"]
        assert project.data.load("people@1").columns == [
            "id",
            "name",
            "age",
            "score",
            "country",
            "seen_at",
            "churned",
        ]


def test_several_files_in_one_ingest(data_project: Project, tmp_path: Path) -> None:
    a = write(tmp_path / "a.csv", HEADER + GOOD[0] + GOOD[1])
    b = tmp_path / "b.parquet"
    pl.DataFrame({"id": [2, 5], "name": ["Dup", "Eve"], "age": [1, 2], "score": [0.1, 0.2], "country": ["DE", "DE"],
                  "seen_at": ["2026-01-01", "2026-01-02"], "churned": [True, False]}).write_parquet(b)  # fmt: skip
    result = data_project.ingest("people", a, b)
    assert len(result.version.sources) == 2
    assert result.report.received == 4
    sources = sorted(Path(s).name for s in data_project.data.quarantine("people@1")["_source"])
    assert sources == ["a.csv", "b.parquet"]  # id 2 in both files: both rows quarantined


def test_an_unknown_dataset(data_project: Project, tmp_path: Path) -> None:
    with pytest.raises(
        NotFoundError,
        match="no dataset named 'peeple' in the project file \\(did you mean 'people'\\?\\)",
    ):
        data_project.ingest("peeple", write(tmp_path / "a.csv", HEADER + GOOD[0]))


def test_a_custom_check_from_the_project_folder(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "rules_mod.py").write_text(
        "import polars as pl\n\ndef adults(frame):\n    return pl.col('age') >= 18\n"
    )
    (folder / "shipyard.yaml").write_text(
        PROJECT.replace(
            "    target: churned\n",
            "    target: churned\n    checks:\n      custom: [{name: adults, function: 'rules_mod:adults'}]\n",
        )
    )
    with shipyard.open(folder) as project:
        result = project.ingest(
            "people",
            write(tmp_path / "a.csv", HEADER + GOOD[0] + "5,Kid,9,0.1,DE,2026-01-01,true\n"),
        )
        assert project.data.quarantine("people@1")["_reasons"].to_list() == [
            ["custom check 'adults' failed"]
        ]
        assert result.report.accepted == 1


# -- crashes and concurrency --------------------------------------------------------


def big_batch(path: Path, rows: int) -> Path:
    frame = pl.DataFrame({
        "id": range(rows), "name": ["Ann"] * rows, "age": [30] * rows, "score": [0.5] * rows,
        "country": ["DE"] * rows, "seen_at": ["2026-01-01T00:00:00Z"] * rows, "churned": ["true"] * rows,
    })  # fmt: skip
    frame.write_csv(path)
    return path


def test_a_killed_ingest_leaves_no_partial_version(data_project: Project, tmp_path: Path) -> None:
    """Kill the CLI at several moments of an ingest: afterwards every version is whole."""
    path = big_batch(tmp_path / "big.csv", 400_000)
    for delay in (0.3, 0.8, 1.5, 2.5):
        process = subprocess.Popen(
            [sys.executable, "-m", "shipyard", "-C", str(data_project.root), "data", "ingest", "people", str(path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    with shipyard.open(data_project.root) as project:
        for version in project.data.log("people"):
            assert (
                version.rows_accepted + version.rows_quarantined == version.rows_received == 400_000
            )
            assert project.data.load(version.ref).height == version.rows
        result = project.ingest("people", path, mode="replace")  # still usable afterwards
        assert result.report.accepted == 400_000


def _ingest_in_process(
    folder: str, path: str, barrier: multiprocessing.synchronize.Barrier
) -> None:
    with shipyard.open(folder) as project:
        barrier.wait()
        project.ingest("people", path)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_concurrent_ingests_never_reuse_a_version(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend == "postgresql":
        monkeypatch.setenv("SHIPYARD_DATABASE_URL", request.getfixturevalue("postgres_url"))
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "shipyard.yaml").write_text(PROJECT)
    paths = []
    for i in range(4):
        rows = [f"{i * 10 + j},P{j},30,0.5,DE,2026-01-01,true\n" for j in range(5)]
        paths.append(str(write(tmp_path / f"b{i}.csv", HEADER + "".join(rows))))
    assert run_together(_ingest_in_process, [(str(folder), p) for p in paths]) == [0, 0, 0, 0]
    with shipyard.open(folder) as project:
        versions = project.data.log("people")
        assert sorted(v.version for v in versions) == [1, 2, 3, 4]
        assert project.data.load("people@4").height == 20  # every append saw its parent


# -- nothing new, and batches mostly quarantined (issue #16) ---------------------------


def test_with_a_key_a_file_is_read_again_under_a_changed_schema(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "shipyard.yaml").write_text(PROJECT)
    path = write(tmp_path / "a.csv", HEADER + "".join(GOOD) + "4,Dan,30,0.5,US,2026-01-04,true\n")
    with shipyard.open(folder) as project:
        first = project.ingest("people", path)
        assert first.report.quarantined == 1  # US is not a category
        again = project.ingest("people", path)
        assert again.nothing_new == "already in people@1: a.csv"
    (folder / "shipyard.yaml").write_text(PROJECT.replace("[DE, FR, PL]", "[DE, FR, PL, US]"))
    with shipyard.open(folder) as project:
        result = project.ingest("people", path)  # Dan is valid now; the others are there
        assert result.nothing_new is None and result.version.ref == "people@2"
        assert project.data.load("people@2")["id"].to_list() == [1, 2, 3, 4]


def test_over_max_quarantined_the_version_is_written_and_the_result_says_why(
    data_project: Project, tmp_path: Path
) -> None:
    rows = [*GOOD[:1], "5,eve,1,0.1,DE,2026-01-01,true\n", "6,fay,1,0.1,DE,2026-01-01,true\n"]
    result = ingest_rows(data_project, tmp_path, rows)
    assert result.version.ref == "people@1" and result.version.rows == 1
    assert result.too_many_quarantined == (
        "2 of 3 rows (67%) quarantined, more than datasets.people.checks.max_quarantined "
        "allows (50%); most by regex:name (2 rows), e.g. b.csv row 3: name: 'eve' does not "
        "match ^[A-Z]"
    )
    assert ingest_rows(data_project, tmp_path, GOOD[1:], "c.csv").too_many_quarantined is None
