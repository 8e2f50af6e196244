"""Feedback as training data: labelled live predictions become a new dataset version,
through the dataset's own validation and quarantine, with the log segments as lineage."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import shipyard
from maintenance.feedback_support import Log, loans, make_project, now
from shipyard.maintenance.feedback import (
    JOINER,
    SOURCE_KIND,
    count_labels,
    feedback_frame,
    ingest_feedback,
)
from shipyard.project import Project
from shipyard.serving.app import ServingApp
from shipyard.serving.embedded import EmbeddedServer


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    opened = make_project(tmp_path / "proj")
    try:
        opened.ingest("loans", loans(300, 0, start=now() - timedelta(days=3)))
        yield opened
    finally:
        opened.close()


def _ingest(project: Project, since_h: float = 3.0) -> object:
    return ingest_feedback(
        project.data,
        project.artifacts,
        "risk",
        project.config.models["risk"],
        since=now() - timedelta(hours=since_h),
        until=now() + timedelta(seconds=1),
    )


def test_labelled_live_rows_become_a_version_whose_sources_name_the_segments(
    project: Project,
) -> None:
    t0 = now() - timedelta(hours=2)
    log = Log(project)
    served = loans(40, 1, start=t0, prefix="p")
    first = log.served(served[:25], at=t0)
    second = log.served(served[25:], at=t0 + timedelta(minutes=5))
    ids = first + second
    log.predictions(["copy"], {"amount": [1.0], "age": [30], "country": ["DE"]}, at=t0,
                    variant="shadow")  # fmt: skip
    truth = served["defaulted"].to_list()
    log.feedback(ids[:20], truth[:20], at=t0 + timedelta(minutes=10))
    # p15..p19 labelled again, the other way round: the newest label wins
    relabel = [not v for v in truth[15:20]] + truth[20:30]
    log.feedback([*ids[15:30], "ghost", "copy"], [*relabel, True, True],
                 at=t0 + timedelta(minutes=20))  # fmt: skip

    result = _ingest(project)
    assert result is not None
    version = result.version
    assert version.ref == "loans@2" and version.parents == [1] and version.mode == "append"
    assert result.report.received == 30 == result.report.accepted
    assert result.counts == {
        "labels": 37, "rows": 30, "duplicates": 5, "unknown_ids": 2, "no_inputs": 0,
    }  # fmt: skip
    assert {s["kind"] for s in version.sources} == {SOURCE_KIND}
    assert sum(s["rows"] for s in version.sources) == 30
    named = {key for s in version.sources for key in s["uri"].split(JOINER)}
    assert named == set(result.segments) and len(named) == 4  # 2 prediction + 2 feedback
    assert {k.split("/")[0] for k in named} == {"predictions", "feedback"}
    rows = project.data.load(version.ref).filter(pl.col("id").str.starts_with("p"))
    assert rows.height == 30
    by_id = {r["id"]: r for r in rows.to_dicts()}
    assert [by_id[f"p{i}"]["defaulted"] for i in range(15, 20)] == [not v for v in truth[15:20]]
    assert by_id["p0"]["at"] == t0.replace(microsecond=t0.microsecond)  # the prediction's time
    assert by_id["p26"]["at"] == t0 + timedelta(minutes=5)
    assert by_id["p3"]["age"] == served["age"][3]  # served as a float, stored as declared
    assert result.summary()["dataset"] == "loans@2"
    assert result.as_dict()["feedback"]["segments"] == result.segments


def test_the_frame_and_the_segments(project: Project) -> None:
    t0 = now() - timedelta(hours=1)
    log = Log(project)
    ids = log.served(loans(5, 2, start=t0, prefix="q"), at=t0)
    log.feedback(ids[:3], [True, False, True], at=t0 + timedelta(minutes=1))
    frame, segments = feedback_frame(
        project.artifacts, "risk", project.config.models["risk"], project.data.config("loans"),
        since=t0, until=now(),
    )  # fmt: skip
    assert frame.columns == list(project.data.config("loans").columns)
    assert frame["id"].to_list() == ids[:3]
    assert frame["defaulted"].to_list() == [True, False, True]
    assert len(segments) == 2


def test_count_labels_counts_labelled_live_predictions_in_the_span(project: Project) -> None:
    t0 = now() - timedelta(hours=5)
    log = Log(project)
    ids = log.served(loans(10, 3, start=t0, prefix="c"), at=t0)
    log.predictions(["s1"], {"amount": [1.0], "age": [30], "country": ["DE"]}, at=t0,
                    variant="shadow")  # fmt: skip
    log.feedback(ids[:2], [True, True], at=t0 + timedelta(minutes=1))  # before the span
    log.feedback([*ids[2:6], ids[2], "nobody", "s1"], [True] * 7, at=t0 + timedelta(hours=3))
    since = t0 + timedelta(hours=2)
    assert count_labels(project.artifacts, "risk", since=since, until=now()) == 4
    assert count_labels(project.artifacts, "risk", since=t0, until=now()) == 6
    assert count_labels(project.artifacts, "other", since=t0, until=now()) == 0


def test_nothing_to_ingest_is_none(project: Project) -> None:
    assert _ingest(project) is None
    t0 = now() - timedelta(hours=1)
    log = Log(project)
    log.predictions(["blind"], None, at=t0)  # a prediction that logged no inputs
    log.feedback(["blind", "ghost"], [True, False], at=t0 + timedelta(minutes=1))
    assert _ingest(project) is None
    assert project.data.show("loans@latest").version == 1


def test_predictions_without_inputs_are_counted_not_ingested(project: Project) -> None:
    t0 = now() - timedelta(hours=1)
    log = Log(project)
    log.predictions(["blind"], None, at=t0)
    ids = log.served(loans(3, 4, start=t0, prefix="n"), at=t0)
    log.feedback(["blind", *ids], [True, False, False, True], at=t0 + timedelta(minutes=1))
    result = _ingest(project)
    assert result is not None
    assert result.counts["no_inputs"] == 1 and result.report.received == 3


def test_a_required_column_the_log_lacks_sends_the_rows_to_quarantine(tmp_path: Path) -> None:
    extra = "      income: {type: float, nullable: false}\n"
    project = make_project(tmp_path / "proj", extra_columns=extra)
    try:
        base = loans(50, 0, start=now() - timedelta(days=2)).with_columns(income=pl.lit(1.0))
        project.ingest("loans", base)
        t0 = now() - timedelta(hours=1)
        log = Log(project)
        ids = log.served(loans(6, 5, start=t0, prefix="z"), at=t0)
        log.feedback(ids, [True] * 6, at=t0 + timedelta(minutes=1))
        result = _ingest(project)
        assert result is not None
        assert result.report.received == 6 == result.report.quarantined
        assert result.version.rows == 50  # the dataset is unchanged, the version records why
        quarantine = project.data.quarantine(result.version.ref)
        assert quarantine.height == 6
        assert all(
            any(r.startswith("income: missing") for r in reasons)
            for reasons in quarantine["_reasons"].to_list()
        )
        assert all(s.startswith("predictions/risk/") for s in quarantine["_source"].to_list())
    finally:
        project.close()


request = st.fixed_dictionaries(
    {
        "n": st.integers(1, 4),
        "shadow": st.booleans(),  # a shadow copy of the same ids too
        "bad_age": st.booleans(),  # an age the dataset refuses (quarantined)
        "minutes": st.integers(0, 50),
    }
)


@settings(max_examples=12, deadline=None)
@given(
    requests=st.lists(request, min_size=1, max_size=5),
    picks=st.lists(st.tuples(st.integers(0, 30), st.booleans()), min_size=1, max_size=25),
    ghosts=st.integers(0, 3),
)
def test_no_labelled_row_is_lost(
    tmp_path_factory: pytest.TempPathFactory,
    requests: list[dict[str, object]],
    picks: list[tuple[int, bool]],
    ghosts: int,
) -> None:
    """Every labelled live prediction ends in the new version or its quarantine."""
    folder = tmp_path_factory.mktemp("prop")
    project = make_project(folder / "proj")
    try:
        project.ingest("loans", loans(20, 0, start=now() - timedelta(days=2)))
        t0 = now() - timedelta(hours=2)
        log = Log(project)
        live: list[str] = []
        for index, req in enumerate(requests):
            n = int(req["n"])  # type: ignore[call-overload]
            frame = loans(n, index, start=t0, prefix=f"h{index}-")
            if req["bad_age"]:
                frame = frame.with_columns(age=pl.lit(150))
            at = t0 + timedelta(minutes=int(req["minutes"]))  # type: ignore[call-overload]
            live += log.served(frame, at=at)
            if req["shadow"]:
                log.served(frame, at=at, variant="shadow", version=2)
        ids = [live[i % len(live)] for i, _ in picks] + [f"ghost{g}" for g in range(ghosts)]
        labels = [v for _, v in picks] + [True] * ghosts
        half = len(ids) // 2
        log.feedback(ids[:half], labels[:half], at=t0 + timedelta(minutes=60))
        log.feedback(ids[half:], labels[half:], at=t0 + timedelta(minutes=61))
        labelled = {i for i in ids if i in live}

        result = _ingest(project)
        assert result is not None
        report = result.report
        assert report.received == len(labelled) == report.accepted + report.quarantined
        assert result.counts["unknown_ids"] == ghosts
        assert result.counts["duplicates"] == len(ids) - len(set(ids))
        accepted = set(project.data.load(result.version.ref)["id"].to_list()) - {
            f"r{i}" for i in range(20)
        }
        quarantined = set(project.data.quarantine(result.version.ref)["id"].to_list())
        assert accepted | quarantined == labelled and not accepted & quarantined
        assert result.version.rows == 20 + report.accepted
    finally:
        project.close()


def test_a_users_own_data_learns_from_its_feedback(tmp_path: Path) -> None:
    """scikit-learn's breast cancer data as a user's dataset: half ingested, half served
    and labelled; the feedback version trains a candidate on all of it."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    names = ["mean radius", "mean texture", "mean smoothness", "worst area"]
    raw = bunch.frame
    frame = pl.DataFrame(
        {
            **{n.replace(" ", "_"): raw[n].to_numpy() for n in names},
            "malignant": (raw["target"] == 0).to_numpy(),
        }
    ).with_row_index("n")
    features = [n.replace(" ", "_") for n in names]
    folder = tmp_path / "cancer"
    folder.mkdir()
    (folder / "shipyard.yaml").write_text(
        "project: cancer\n"
        "datasets:\n"
        "  tumours:\n"
        "    key: case\n"
        "    timestamp: seen\n"
        "    target: malignant\n"
        "    columns:\n"
        "      case: {type: string, nullable: false}\n"
        "      seen: {type: datetime, nullable: false}\n"
        + "".join(f"      {f}: {{type: float, min: 0, nullable: false}}\n" for f in features)
        + "      malignant: {type: bool, nullable: false}\n"
        "models:\n"
        "  tumour:\n"
        "    owner: {name: clinic, email: clinic@example.com}\n"
        "    task: binary_classification\n"
        "    dataset: tumours\n"
        f"    features: [{', '.join(features)}]\n"
        "    train: fit_tumour:fit\n"
        "    retrain: {labels: feedback, data: all}\n"
    )
    (folder / "fit_tumour.py").write_text(
        "from sklearn.linear_model import LogisticRegression\n"
        "from sklearn.pipeline import make_pipeline\n"
        "from sklearn.preprocessing import StandardScaler\n\n\n"
        "def fit(frame, params):\n"
        f"    x = frame[{features!r}]\n"
        "    return make_pipeline(StandardScaler(), LogisticRegression()).fit(x, frame['malignant'])\n"
    )
    t0 = now() - timedelta(hours=1)
    with shipyard.open(folder) as project:
        seen = [t0 - timedelta(days=1)] * 300
        first = frame[:300].select(
            pl.format("c{}", "n").alias("case"), pl.Series("seen", seen), *features, "malignant"
        )
        project.ingest("tumours", first)
        champion = project.models.train("tumour")
        log = Log(project, model="tumour")
        served = frame[300:]
        ids = [f"live-{n}" for n in served["n"].to_list()]
        chunk = {f: served[f].to_list() for f in features}
        log.predictions(ids, chunk, at=t0)  # the features of the Log helper are floats
        log.feedback(ids, served["malignant"].to_list(), at=t0 + timedelta(minutes=30))
        result = ingest_feedback(
            project.data, project.artifacts, "tumour", project.config.models["tumour"],
            since=t0, until=now(),
        )  # fmt: skip
        assert result is not None and result.report.accepted == len(served)
        rows, selection = project.data.select("tumours", data="all")
        assert rows.height == len(frame) and selection.dataset == result.version.ref
        candidate = project.models.train("tumour", selection=selection.as_dict())
        assert candidate.training["rows_train"] > champion.training["rows_train"]
        assert candidate.metrics["roc_auc"] > 0.9
        lineage = project.models.card(candidate.ref).lineage
        assert any(s["kind"] == SOURCE_KIND for s in lineage[0]["sources"])


@pytest.mark.postgres
@pytest.mark.s3
def test_feedback_on_postgres_and_s3(
    tmp_path: Path, postgres_url: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log segments in S3, the versions and their lineage in PostgreSQL."""
    monkeypatch.setenv("SHIPYARD_DATABASE_URL", postgres_url)
    monkeypatch.setenv("SHIPYARD_ARTIFACTS_URL", f"s3://{s3_bucket}/shipyard")
    project = make_project(tmp_path / "proj")
    try:
        project.ingest("loans", loans(100, 0, start=now() - timedelta(days=2)))
        t0 = now() - timedelta(hours=1)
        log = Log(project)
        ids = log.served(loans(12, 6, start=t0, prefix="pg"), at=t0)
        log.feedback([*ids, "ghost"], [True] * 13, at=t0 + timedelta(minutes=1))
        assert count_labels(project.artifacts, "risk", since=t0, until=now()) == 12
        result = _ingest(project)
        assert result is not None
        assert result.report.accepted == 12 and result.counts["unknown_ids"] == 1
        reopened = shipyard.open(project.root)
        try:
            version = reopened.data.show(result.version.ref)
            assert {k for s in version.sources for k in s["uri"].split(JOINER)} == set(
                result.segments
            )
            assert reopened.data.load(version.ref).height == 112
        finally:
            reopened.close()
    finally:
        project.close()


def test_feedback_sent_to_a_real_server_becomes_training_rows(project: Project) -> None:
    """Predictions and labels through the HTTP API; the server's logs, once flushed,
    are ingested as the next version and a candidate trains on it."""
    champion = project.models.train("risk")
    project.models.alias(champion.ref, "champion")
    served = loans(60, 7, start=now(), prefix="s")
    since = now() - timedelta(seconds=1)
    app = ServingApp(project, {"risk": "champion"}, environ={})
    with EmbeddedServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        answer = client.post(
            "/v1/models/risk/predict", json=served.select("amount", "age", "country").to_dicts()
        )
        assert answer.status_code == 200, answer.text
        ids = answer.json()["prediction_ids"]
        body = [
            {"prediction_id": i, "label": v}
            for i, v in zip(ids, served["defaulted"].to_list(), strict=True)
        ]
        assert client.post("/v1/models/risk/feedback", json=body).status_code == 202
    # leaving the block stopped the server, which flushed its logs
    assert count_labels(project.artifacts, "risk", since=since, until=now()) == 60
    result = ingest_feedback(
        project.data, project.artifacts, "risk", project.config.models["risk"],
        since=since, until=now(),
    )  # fmt: skip
    assert result is not None and result.report.accepted == 60
    stored = project.data.load(result.version.ref).filter(pl.col("id").is_in(ids))
    assert stored.sort("id")["defaulted"].to_list() == [
        v for _, v in sorted(zip(ids, served["defaulted"].to_list(), strict=True))
    ]
    assert stored.sort("id")["age"].to_list() == [
        a for _, a in sorted(zip(ids, served["age"].to_list(), strict=True))
    ]
    candidate = project.models.train("risk", data=result.version.ref)
    assert candidate.dataset == result.version.ref
