"""Evaluating registered versions, keeping the reports, and gating promotion on them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import shipyard
from shipyard.errors import ConfigError
from shipyard.evaluation import GateError
from shipyard.project import Project


def test_an_evaluation_is_kept_with_its_reports(eval_project: Project) -> None:
    result = eval_project.evaluate("default-risk@1")
    report = result.report
    assert report.passed, report.failed
    assert report.dataset == "loans@1 (holdout)"
    assert report.rows == round(eval_project.data.show("loans@1").rows * 0.2)
    assert report.holdout["kind"] == "split" and report.holdout["recorded"] is True
    assert next(c for c in report.checks if c.name == "holdout").passed
    stored = json.loads(eval_project.artifacts.get(result.report_key))
    assert stored["passed"] is True and stored["ref"] == "default-risk@1"
    page = eval_project.artifacts.get(result.html_key).decode()
    assert page.count("<svg") >= 4 and "ROC curve" in page and "Calibration" in page
    assert Path(result.html_url).is_file()
    latest = eval_project.evaluations.latest("default-risk@1")
    assert latest is not None and latest.passed and latest.id == result.id
    assert eval_project.audit(subject="default-risk")[0].action == "model.evaluated"


def test_the_failing_check_names_the_failing_rows(eval_project: Project) -> None:
    report = eval_project.evaluate("default-risk@2").report
    assert [c.name for c in report.failed] == ["directional amount +10000 → up"]
    [check] = report.failed
    assert check.failures and all(case["score change"] < 0 for case in check.failures)
    assert set(check.failures[0]) >= {"amount", "age", "country"}


def test_promote_only_what_passed(eval_project: Project) -> None:
    with pytest.raises(GateError, match="default-risk@1 has not been evaluated"):
        eval_project.promote("default-risk@1")
    eval_project.evaluate("default-risk@2")
    with pytest.raises(
        GateError, match=r"latest evaluation of default-risk@2 failed: directional amount"
    ):
        eval_project.promote("default-risk@2")
    eval_project.evaluate("default-risk@1")
    assert eval_project.promote("default-risk@1") == (None, 1)
    assert eval_project.models.registry.aliases("default-risk") == {"champion": 1}
    [promoted] = [
        e for e in eval_project.audit(subject="default-risk") if e.action == "model.promoted"
    ]
    assert promoted.detail["forced"] is False and promoted.detail["to"] == 1


def test_force_needs_a_reason_and_is_audited(eval_project: Project) -> None:
    eval_project.evaluate("default-risk@2")
    with pytest.raises(ConfigError, match="--force needs --reason"):
        eval_project.promote("default-risk@2", force=True)
    eval_project.promote("default-risk@2", force=True, reason="hotfix, accepted by the risk team")
    event = next(
        e for e in eval_project.audit(subject="default-risk") if e.action == "model.promoted"
    )
    assert event.detail["forced"] is True
    assert event.reason == "hotfix, accepted by the risk team"
    assert "directional" in event.detail["gate_problem"]


def test_a_challenger_worse_than_the_champion_beyond_the_margin_is_refused(
    eval_project: Project,
) -> None:
    eval_project.evaluate("default-risk@1")
    eval_project.promote("default-risk@1")
    weaker = eval_project.train("default-risk", params={"max_iter": 3, "max_depth": 1})
    report = eval_project.evaluate(weaker.ref).report
    versus = next(c for c in report.checks if c.name == "vs champion roc_auc")
    assert not versus.passed and "worse by" in versus.detail
    assert report.champion is not None and report.champion["ref"] == "default-risk@1"
    with pytest.raises(GateError, match="vs champion roc_auc"):
        eval_project.promote(weaker.ref)


def test_a_model_trained_on_shuffled_labels_fails_the_threshold(eval_project: Project) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    frame = eval_project.data.load("loans@1").drop_nulls().to_pandas()
    shuffled = np.random.default_rng(0).permutation(frame["defaulted"].to_numpy())
    model = LogisticRegression().fit(frame[["amount", "age"]], shuffled)
    version = eval_project.register(
        model, "default-risk", dataset="loans@1", features=["amount", "age"]
    )
    report = eval_project.evaluate(version.ref).report
    gate = next(c for c in report.checks if c.name == "gate roc_auc")
    assert not gate.passed and gate.value is not None and gate.value < 0.75


def test_evaluate_on_another_dataset_version(eval_project: Project, tmp_path: Path) -> None:
    from shipyard.demo import write_loans_batch

    write_loans_batch(tmp_path / "later.csv", rows=800, seed=9, first_id=10_001)
    eval_project.ingest("loans", tmp_path / "later.csv")
    report = eval_project.evaluate("default-risk@1", data="loans@2").report
    # loans@2 holds loans@1's rows too (append): those it may have trained on are left out
    first, second = eval_project.data.show("loans@1").rows, eval_project.data.show("loans@2").rows
    assert report.dataset == f"loans@2 less the {first:,} rows also in loans@1"
    assert report.rows == second - first > 700
    assert report.holdout["kind"] == "data" and report.passed, report.failed


def test_a_version_without_a_dataset_needs_data(eval_project: Project) -> None:
    from sklearn.linear_model import LogisticRegression

    frame = eval_project.data.load("loans@1").drop_nulls().to_pandas()
    version = eval_project.register(
        LogisticRegression().fit(frame[["amount", "age"]], frame["defaulted"]),
        "default-risk",
        features=["amount", "age"],
    )
    with pytest.raises(ConfigError, match="records no dataset version"):
        eval_project.evaluate(version.ref)
    assert (
        eval_project.evaluate(version.ref, data="loans@1").report.rows
        == eval_project.data.show("loans@1").rows
    )


def test_evaluations_survive_reopening(eval_project: Project) -> None:
    eval_project.evaluate("default-risk@1")
    with shipyard.open(eval_project.root) as again:
        assert again.promote("default-risk@1") == (None, 1)


def test_a_notebook_version_is_scored_on_the_rows_it_was_handed_over_with(
    eval_project: Project,
) -> None:
    """As the demo's notebook does: the rows it held out (datetimes, categories, booleans)."""
    from sklearn.linear_model import LogisticRegression

    frame = eval_project.data.load("loans@1").drop_nulls().to_pandas()
    holdout = frame.sample(frac=0.2, random_state=0)
    train = frame.drop(holdout.index)
    model = LogisticRegression(max_iter=1000).fit(train[["amount", "age"]], train["defaulted"])
    version = eval_project.register(
        model, "default-risk", dataset="loans@1", features=["amount", "age"], holdout=holdout
    )
    stored = eval_project.artifacts.get(version.training["holdout"]["artifact"])
    assert stored.startswith(b"PAR1")  # kept as Parquet, by its hash
    report = eval_project.evaluate(version.ref).report
    assert report.rows == len(holdout) and report.holdout["kind"] == "frame"
    assert "holdout" not in [c.name for c in report.failed]
    bare = eval_project.register(
        model, "default-risk", dataset="loans@1", features=["amount", "age"]
    )
    unrecorded = eval_project.evaluate(bare.ref).report
    assert unrecorded.rows == len(eval_project.data.load("loans@1").drop_nulls("defaulted"))
    assert unrecorded.holdout["note"].startswith("no recorded holdout")
    with pytest.raises(GateError, match="no recorded holdout"):
        eval_project.promote(bare.ref)
