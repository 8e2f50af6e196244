"""The metadata store contract, run on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from helpers import run_together
from shipyard.errors import SchemaVersionError, StorageError
from shipyard.storage import MetadataStore, history, record
from shipyard.storage.metadata import MIGRATIONS
from shipyard.storage.tables import SCHEMA_HEAD, audit_log


def test_a_fresh_database_is_migrated_to_the_newest_schema(metadata_store: MetadataStore) -> None:
    assert metadata_store.schema_revision() == SCHEMA_HEAD
    with metadata_store.read() as conn:
        assert sa.inspect(conn).has_table("audit_log")


def test_schema_head_matches_the_migrations() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD


def test_reopening_keeps_the_data(database_url: str, tmp_path: Path) -> None:
    store = MetadataStore(database_url, root=tmp_path)
    with store.transaction() as conn:
        record(conn, "model.registered", "fraud", detail={"version": 1}, actor="ann")
    store.close()
    again = MetadataStore(database_url, root=tmp_path)
    [event] = history(again)
    assert (event.actor, event.action, event.subject, event.detail) == (
        "ann",
        "model.registered",
        "fraud",
        {"version": 1},
    )
    assert event.at.tzinfo is not None
    again.close()


def test_an_older_database_is_migrated_on_open(database_url: str, tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    store = MetadataStore(database_url, root=tmp_path)
    with store.transaction() as conn:  # back to before the first migration
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    with store.read() as conn:
        assert not sa.inspect(conn).has_table("audit_log")
    store.close()
    reopened = MetadataStore(database_url, root=tmp_path)
    assert reopened.schema_revision() == SCHEMA_HEAD
    reopened.close()


def test_a_newer_database_is_refused(database_url: str, tmp_path: Path) -> None:
    store = MetadataStore(database_url, root=tmp_path)
    with store.transaction() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    store.close()
    with pytest.raises(SchemaVersionError, match="newer shipyard") as info:
        MetadataStore(database_url, root=tmp_path)
    assert "'9999'" in info.value.message
    assert info.value.hint and "upgrade shipyard" in info.value.hint


def test_a_transaction_is_all_or_nothing(metadata_store: MetadataStore) -> None:
    with pytest.raises(RuntimeError), metadata_store.transaction() as conn:
        record(conn, "alias.moved", "fraud")
        record(conn, "alias.moved", "fraud")
        raise RuntimeError("crash half-way")
    assert history(metadata_store) == []


def test_the_audit_log_is_append_only(metadata_store: MetadataStore) -> None:
    with metadata_store.transaction() as conn:
        record(conn, "model.registered", "fraud")
    for statement in (audit_log.update().values(actor="mallory"), audit_log.delete()):
        with (
            pytest.raises(sa.exc.DBAPIError, match="append-only"),
            metadata_store.transaction() as conn,
        ):
            conn.execute(statement)
    [event] = history(metadata_store)
    assert event.actor != "mallory"


def test_check_writes_and_leaves_nothing(metadata_store: MetadataStore) -> None:
    metadata_store.check()
    assert history(metadata_store) == []


def test_history_filters_by_subject_newest_first(metadata_store: MetadataStore) -> None:
    with metadata_store.transaction() as conn:
        for subject in ("a", "b", "a"):
            record(conn, "touched", subject)
    events = history(metadata_store, subject="a")
    assert [e.subject for e in events] == ["a", "a"]
    assert events[0].id > events[1].id
    assert len(history(metadata_store, limit=1)) == 1


def _open_and_record(url: str, root: str, barrier: multiprocessing.synchronize.Barrier) -> None:
    barrier.wait()
    store = MetadataStore(url, root=Path(root))
    for _ in range(20):
        with store.transaction() as conn:
            record(conn, "concurrent", "x")
    store.close()


def test_processes_opening_one_fresh_database_together(database_url: str, tmp_path: Path) -> None:
    """Four processes open a brand-new database at once: it is migrated once, none fails."""
    args = [(database_url, str(tmp_path))] * 4
    assert run_together(_open_and_record, args) == [0, 0, 0, 0]
    store = MetadataStore(database_url, root=tmp_path)
    assert len(history(store, limit=1000)) == 80
    store.close()


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    store = MetadataStore("sqlite:///.shipyard/s.db", root=tmp_path)
    assert (tmp_path / ".shipyard" / "s.db").exists(), "relative to the project root"
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.close()


def test_unreachable_postgres_names_the_url_without_its_password(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(StorageError) as info:
        MetadataStore("postgresql://app:hunter2@127.0.0.1:1/shipyard", root=tmp_path)
    text = str(info.value)
    assert "hunter2" not in text
    assert "postgresql://app:***@127.0.0.1:1/shipyard" in text
    assert "could not connect" in text
    assert time.monotonic() - started < 30, "no hang"


def test_sqlite_in_an_unusable_place_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError, match="metadata database"):
        MetadataStore(f"sqlite:///{blocker}/sub/s.db", root=tmp_path)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("postgresql://u:pw@127.0.0.1:notaport/db", "its port 'notaport' is not a number"),
        ("postgresql://u@[::1/db", "the IPv6 address after '[' has no closing ']'"),
    ],
)
def test_a_malformed_url_is_told_in_words(url: str, said: str, tmp_path: Path) -> None:
    with pytest.raises(StorageError) as caught:
        MetadataStore(url, root=tmp_path)
    assert said in caught.value.message and "int()" not in caught.value.message
    assert ":pw@" not in caught.value.message


def test_a_subjects_history_with_its_parts_takes_no_wildcard(
    metadata_store: MetadataStore,
) -> None:
    """``risk_a``'s trail with its parts: its own events and ``risk_a/drift``'s, not those
    of ``riskXa/…`` (``_`` is a LIKE wildcard) nor of ``risk_ab``."""
    with metadata_store.transaction() as conn:
        for subject in ("risk_a", "risk_a/drift", "riskXa/drift", "risk_ab", "risk_ab/x"):
            record(conn, "alert.acked", subject, actor="ann")
    with_parts = history(metadata_store, subject="risk_a", parts=True)
    assert [e.subject for e in with_parts] == ["risk_a/drift", "risk_a"]
    assert [e.subject for e in history(metadata_store, subject="risk_a")] == ["risk_a"]
