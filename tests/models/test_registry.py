"""The registry on SQLite and PostgreSQL: numbering, aliases, archive, audit, references."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from helpers import run_together
from shipyard.errors import NotFoundError
from shipyard.models import AliasError, ModelVersion, Registry
from shipyard.storage import MetadataStore


def pending(model: str = "fraud") -> ModelVersion:
    return ModelVersion(
        model=model, version=0, task="binary_classification", format="skops",
        artifact_key=f"models/{model}/aa/{'a' * 64}.skops", sha256="a" * 64, size=1, features=["x"],
    )  # fmt: skip


@pytest.fixture
def registry(metadata_store: MetadataStore) -> Registry:
    return Registry(metadata_store)


def test_versions_are_numbered_per_model(registry: Registry) -> None:
    assert [registry.register(pending()).version for _ in range(3)] == [1, 2, 3]
    assert registry.register(pending("churn")).version == 1
    assert registry.models() == ["churn", "fraud"]
    assert [v.version for v in registry.versions("fraud")] == [3, 2, 1]


def test_references(registry: Registry) -> None:
    for _ in range(3):
        registry.register(pending())
    registry.set_alias("fraud@2", "champion")
    assert registry.resolve("fraud").version == 3
    assert registry.resolve("fraud@latest").version == 3
    assert registry.resolve("fraud@1").version == 1
    assert registry.resolve("fraud@champion").version == 2
    with pytest.raises(NotFoundError, match="has no version '7'; it has 1, 2, 3"):
        registry.resolve("fraud@7")
    with pytest.raises(NotFoundError, match="has no alias 'challenger'; its aliases: champion"):
        registry.resolve("fraud@challenger")
    with pytest.raises(NotFoundError, match="model 'nope' has no versions yet"):
        registry.resolve("nope@1")


def test_aliases_move_atomically_and_leave_a_trail(registry: Registry) -> None:
    for _ in range(2):
        registry.register(pending())
    assert registry.set_alias("fraud@1", "champion", reason="first") == (None, 1)
    assert registry.set_alias("fraud@2", "champion", reason="better") == (1, 2)
    assert registry.set_alias("fraud@1", "challenger") == (None, 1)
    assert registry.aliases("fraud") == {"champion": 2, "challenger": 1}
    assert registry.delete_alias("fraud", "challenger", reason="done") == 1
    assert registry.aliases("fraud") == {"champion": 2}
    events = [
        (e.action, e.detail.get("from"), e.detail.get("to"), e.reason)
        for e in registry.history("fraud")
    ]
    assert events[:4] == [
        ("alias.deleted", 1, None, "done"),
        ("alias.set", None, 1, None),
        ("alias.moved", 1, 2, "better"),
        ("alias.set", None, 1, "first"),
    ]
    assert all(e.actor for e in registry.history("fraud"))


@pytest.mark.parametrize("alias", ["latest", "3", "has space", "", "-x"])
def test_bad_alias_names(registry: Registry, alias: str) -> None:
    registry.register(pending())
    with pytest.raises(AliasError):
        registry.set_alias("fraud@1", alias)


def test_an_alias_on_a_missing_version(registry: Registry) -> None:
    registry.register(pending())
    with pytest.raises(NotFoundError, match="has no version '5'"):
        registry.set_alias("fraud@5", "champion")
    assert registry.aliases("fraud") == {}


def test_delete_archives_while_an_alias_points(registry: Registry) -> None:
    for _ in range(3):
        registry.register(pending())
    registry.set_alias("fraud@2", "champion")
    assert registry.delete("fraud@2", reason="old").status == "archived"
    assert registry.resolve("fraud@champion").status == "archived"
    assert registry.delete("fraud@3").status == "deleted"
    with pytest.raises(NotFoundError, match="fraud@3 was deleted"):
        registry.resolve("fraud@3")
    assert registry.register(pending()).version == 4  # never reused
    assert [e.action for e in registry.history("fraud")[:3]] == [
        "model.registered",
        "model.deleted",
        "model.archived",
    ]


def _register_many(url: str, root: str, barrier: multiprocessing.synchronize.Barrier) -> None:
    store = MetadataStore(url, root=Path(root))
    registry = Registry(store)
    barrier.wait()
    for _ in range(5):
        registry.register(pending())
    store.close()


def test_processes_registering_at_once_never_share_a_number(
    database_url: str, tmp_path: Path
) -> None:
    MetadataStore(database_url, root=tmp_path).close()  # migrated before the race
    assert run_together(_register_many, [(database_url, str(tmp_path))] * 4) == [0] * 4
    store = MetadataStore(database_url, root=tmp_path)
    assert sorted(v.version for v in Registry(store).versions("fraud")) == list(range(1, 21))
    store.close()


@pytest.mark.postgres
@pytest.mark.s3
def test_the_whole_story_on_postgres_and_s3(
    tmp_path: Path, postgres_url: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Train two versions, register a third as a notebook would, move champion: on the cluster's storage."""
    import shipyard
    from shipyard.demo import write_loans_batch
    from shipyard.project import init_project

    monkeypatch.setenv("SHIPYARD_DATABASE_URL", postgres_url)
    monkeypatch.setenv("SHIPYARD_ARTIFACTS_URL", f"s3://{s3_bucket}/shipyard")
    folder = tmp_path / "p"
    init_project(folder, name="on-the-cluster")
    write_loans_batch(folder / "b.csv", rows=600, seed=2)
    with shipyard.open(folder) as project:
        project.ingest("loans", folder / "b.csv")
        first = project.train("default-risk")
        second = project.train("default-risk", params={"max_depth": 2})
        frame = project.data.load("loans@1").drop_nulls().to_pandas()
        from sklearn.linear_model import LogisticRegression

        third = project.register(
            LogisticRegression().fit(frame[["amount", "age"]], frame["defaulted"]),
            "default-risk",
            dataset="loans@1",
            features=["amount", "age"],
        )
        project.models.alias(second.ref, "champion")
        project.models.alias(third.ref, "champion", reason="simpler")
        card = project.models.card("default-risk@champion")
        assert [first.version, second.version, third.version] == [1, 2, 3]
        assert card.version.version == 3 and card.lineage[0]["ref"] == "loans@1"
        assert project.models.load("default-risk@champion").predict(frame.head(5)).shape == (5,)
        assert [e.action for e in card.history][:2] == ["alias.moved", "alias.set"]
