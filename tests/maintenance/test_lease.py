"""The worker's lease: one holder at a time, expiry, takeover, renewal after a loss."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from helpers import run_together
from shipyard.maintenance.lease import Lease, default_holder
from shipyard.storage import MetadataStore

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_one_holder_at_a_time(metadata_store: MetadataStore) -> None:
    a = Lease(metadata_store, holder="a:1", seconds=30)
    b = Lease(metadata_store, holder="b:2", seconds=30)
    assert a.acquire(now=T0)
    assert not b.acquire(now=T0 + timedelta(seconds=1))
    assert a.acquire(now=T0 + timedelta(seconds=2))  # ours already: renewed
    assert b.held_by(now=T0 + timedelta(seconds=3)) == ("a:1", T0 + timedelta(seconds=32))
    assert not b.renew(now=T0 + timedelta(seconds=3))  # never had it


def test_an_expired_lease_is_taken_over(metadata_store: MetadataStore) -> None:
    a = Lease(metadata_store, holder="a:1", seconds=10)
    b = Lease(metadata_store, holder="b:2", seconds=10)
    assert a.acquire(now=T0)
    assert a.renew(now=T0 + timedelta(seconds=8))  # alive: expires at T0+18 now
    assert not b.acquire(now=T0 + timedelta(seconds=15))
    assert a.held_by(now=T0 + timedelta(seconds=18)) is None  # expired: free
    assert b.acquire(now=T0 + timedelta(seconds=19))
    assert b.held_by(now=T0 + timedelta(seconds=20)) == ("b:2", T0 + timedelta(seconds=29))


def test_renew_after_the_lease_was_lost_fails(metadata_store: MetadataStore) -> None:
    a = Lease(metadata_store, holder="a:1", seconds=10)
    b = Lease(metadata_store, holder="b:2", seconds=10)
    assert a.acquire(now=T0)
    assert b.acquire(now=T0 + timedelta(seconds=11))  # a stalled past its expiry
    assert not a.renew(now=T0 + timedelta(seconds=12))  # a learns it lost the lease
    assert not a.acquire(now=T0 + timedelta(seconds=12))
    a.release()  # not a's to release: nothing happens
    assert a.held_by(now=T0 + timedelta(seconds=12)) == ("b:2", T0 + timedelta(seconds=21))


def test_an_expired_lease_that_nobody_took_is_renewed(metadata_store: MetadataStore) -> None:
    a = Lease(metadata_store, holder="a:1", seconds=10)
    assert a.acquire(now=T0)
    assert a.renew(now=T0 + timedelta(seconds=30))
    assert a.held_by(now=T0 + timedelta(seconds=31)) == ("a:1", T0 + timedelta(seconds=40))


def test_release_frees_it_at_once(metadata_store: MetadataStore) -> None:
    a = Lease(metadata_store, holder="a:1", seconds=30)
    b = Lease(metadata_store, holder="b:2", seconds=30)
    assert a.acquire(now=T0)
    a.release()
    assert a.held_by(now=T0) is None
    assert b.acquire(now=T0 + timedelta(seconds=1))
    assert not a.renew(now=T0 + timedelta(seconds=1))


def test_leases_are_named(metadata_store: MetadataStore) -> None:
    assert Lease(metadata_store, "worker", holder="a:1").acquire(now=T0)
    assert Lease(metadata_store, "other", holder="b:2").acquire(now=T0)
    assert not Lease(metadata_store, "worker", holder="b:2").acquire(now=T0)


def test_the_default_holder_is_host_and_pid(metadata_store: MetadataStore) -> None:
    lease = Lease(metadata_store)
    assert lease.holder == default_holder() and lease.holder.rsplit(":", 1)[1].isdigit()
    assert lease.acquire()
    assert lease.held_by() is not None and lease.held_by()[0] == default_holder()  # type: ignore[index]


def _take(url: str, root: str, holder: str, out: str, barrier: Any) -> None:
    store = MetadataStore(url, root=Path(root))
    barrier.wait()
    taken = Lease(store, holder=holder, seconds=60).acquire()
    Path(out).write_text("1" if taken else "0")
    store.close()


def test_concurrent_takers_in_separate_processes_get_one_lease(
    database_url: str, tmp_path: Path
) -> None:
    MetadataStore(database_url, root=tmp_path).close()  # migrated before the race
    outs = [tmp_path / f"taken-{i}" for i in range(4)]
    codes = run_together(
        _take, [(database_url, str(tmp_path), f"p:{i}", str(out)) for i, out in enumerate(outs)]
    )
    assert codes == [0, 0, 0, 0]
    assert sorted(out.read_text() for out in outs) == ["0", "0", "0", "1"]
