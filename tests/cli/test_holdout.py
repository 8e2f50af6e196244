"""Honest holdouts: a version is scored on rows kept apart from its training, or the report
says it was not and the gates refuse; ``evaluate --data`` with the wrong rows is a user error.

scikit-learn's breast cancer data, written to CSV, and a model fitted as in a notebook.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest
from click.testing import CliRunner, Result

import shipyard
from shipyard.cli import cli
from shipyard.errors import ConfigError, DataError
from shipyard.evaluation.holdout import NO_HOLDOUT

MODEL = "tumour"


def run(folder: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["-C", str(folder), *args])


def said_plainly(result: Result, code: int) -> str:
    """The output of a command that failed as a user error should: one message, no traceback."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    return result.output


def cancer_frame() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    return frame


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """cancer@1 (300 rows), cancer@2 (20 rows, unlabelled), cancer@3 (the other 269 rows, not
    cancer@1's); a dataset without the model's features, and one whose target is a score."""
    from sklearn.datasets import load_diabetes

    frame = cancer_frame()
    features = [c for c in frame.columns if c != "target"]
    frame.iloc[:300].to_csv(tmp_path / "first.csv", index=False)
    frame.iloc[300:].to_csv(tmp_path / "second.csv", index=False)
    frame.iloc[:50].assign(target=frame["mean_radius"].iloc[:50] / 10).to_csv(
        tmp_path / "scores.csv", index=False
    )
    frame.iloc[:20].assign(target=None).to_csv(tmp_path / "unlabelled.csv", index=False)
    load_diabetes(as_frame=True).frame.to_csv(tmp_path / "diabetes.csv", index=False)
    columns = "".join(f"      {c}: {{type: float}}\n" for c in features)
    diabetes = "".join(f"      {c}: {{type: float}}\n" for c in load_diabetes().feature_names)
    (tmp_path / "shipyard.yaml").write_text(
        f"""project: holdouts
datasets:
  cancer:
    target: target
    columns:
{columns}      target: {{type: int}}
  scores:
    target: target
    columns:
{columns}      target: {{type: float}}
  diabetes:
    target: target
    columns:
{diabetes}      target: {{type: float}}
models:
  {MODEL}:
    owner: {{name: team, email: team@example.com}}
    task: binary_classification
    dataset: cancer
    features: [{", ".join(features)}]
    latency_budget_ms: 60000
    gates: {{roc_auc: {{min: 0.8}}, vs_champion: {{roc_auc: -0.05}}}}
"""
    )
    for args in (
        ("cancer", "first.csv"),
        ("cancer", "unlabelled.csv", "--mode", "replace"),  # cancer@2: no target at all
        ("cancer", "second.csv", "--mode", "replace"),
        ("scores", "scores.csv"),
        ("diabetes", "diabetes.csv"),
    ):
        result = run(tmp_path, "data", "ingest", args[0], str(tmp_path / args[1]), *args[2:])
        assert result.exit_code == 0, result.output
    return tmp_path


def notebook_model(rows: pd.DataFrame) -> Any:
    """What a data scientist fits in a notebook."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features = [c for c in rows.columns if c != "target"]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return model.fit(rows[features], rows["target"])


def first_rows() -> pd.DataFrame:
    return cancer_frame().iloc[:300]


def test_without_a_holdout_the_evaluation_says_so_and_promote_refuses(folder: Path) -> None:
    shipyard.register(notebook_model(first_rows()), MODEL, project=folder, dataset="cancer@1")
    output = said_plainly(run(folder, "evaluate", f"{MODEL}@1"), 1)
    assert NO_HOLDOUT in output and "cancer@1 (no recorded holdout)" in output
    # the key to set is folded in the table, never cut short
    assert "models.tumour.evaluation.allow_unrecorded_holdout" in "".join(output.split())
    report = json.loads(run(folder, "evaluate", f"{MODEL}@1", "--json").stdout)
    assert report["holdout"]["note"] == NO_HOLDOUT and report["holdout"]["recorded"] is False
    [check] = [c for c in report["checks"] if c["name"] == "holdout"]
    assert check["passed"] is False and NO_HOLDOUT in check["detail"]
    assert NO_HOLDOUT in Path(report["html"]).read_text()
    refused = said_plainly(run(folder, "promote", f"{MODEL}@1"), 2)
    assert "refusing to promote tumour@1 to champion" in refused and NO_HOLDOUT in refused
    assert "allow_unrecorded_holdout" in refused
    # naming the very version it was registered with does not make its rows a holdout
    said_plainly(run(folder, "evaluate", f"{MODEL}@1", "--data", "cancer@1"), 1)
    said_plainly(run(folder, "promote", f"{MODEL}@1"), 2)
    # rows it never saw, named with --data: the gates may pass
    other = run(folder, "evaluate", f"{MODEL}@1", "--data", "cancer@3")
    assert other.exit_code == 0, other.output
    assert NO_HOLDOUT not in other.output and "cancer@3" in other.output
    assert run(folder, "promote", f"{MODEL}@1").exit_code == 0


def test_the_project_may_accept_an_unrecorded_holdout(folder: Path) -> None:
    file = folder / "shipyard.yaml"
    file.write_text(
        file.read_text().replace(
            "    latency_budget_ms: 60000\n",
            "    latency_budget_ms: 60000\n    evaluation: {allow_unrecorded_holdout: true}\n",
        )
    )
    shipyard.register(notebook_model(first_rows()), MODEL, project=folder, dataset="cancer@1")
    evaluated = run(folder, "evaluate", f"{MODEL}@1")
    assert evaluated.exit_code == 0, evaluated.output
    assert NO_HOLDOUT in evaluated.output  # still said, plainly
    report = json.loads(run(folder, "evaluate", f"{MODEL}@1", "--json").stdout)
    [check] = [c for c in report["checks"] if c["name"] == "holdout"]
    assert (
        check["passed"]
        and "allowed by models.tumour.evaluation.allow_unrecorded_holdout" in (check["detail"])
    )
    assert run(folder, "promote", f"{MODEL}@1").exit_code == 0


def test_a_dataset_version_recorded_as_the_holdout_is_named(folder: Path) -> None:
    with shipyard.open(folder) as project:
        version = project.register(
            notebook_model(first_rows()), MODEL, dataset="cancer@1", holdout="cancer@3"
        )
        assert version.training["holdout"]["kind"] == "dataset"
        assert version.training["holdout"]["ref"] == "cancer@3"
        with pytest.raises(ConfigError, match="every row of cancer@1 is in cancer@1"):
            project.register(
                notebook_model(first_rows()), MODEL, dataset="cancer@1", holdout="cancer@1"
            )
        with pytest.raises(DataError, match="lacks 30 of the model's columns: mean_radius"):
            project.register(notebook_model(first_rows()), MODEL, holdout="diabetes@1")
    result = run(folder, "evaluate", f"{MODEL}@1")
    assert result.exit_code == 0, result.output
    assert "cancer@3 (holdout)" in result.output and NO_HOLDOUT not in result.output
    page = Path(json.loads(run(folder, "evaluate", f"{MODEL}@1", "--json").stdout)["html"])
    assert "recorded as the holdout when tumour@1 was registered" in page.read_text()
    assert run(folder, "promote", f"{MODEL}@1").exit_code == 0


def test_rows_handed_over_as_the_holdout_are_checked_and_kept(folder: Path) -> None:
    rows = first_rows()
    held_out = rows.sample(n=60, random_state=0)
    model = notebook_model(rows.drop(held_out.index))
    with shipyard.open(folder) as project:
        with pytest.raises(DataError, match="lacks 1 of the model's columns: worst_area"):
            project.register(model, MODEL, holdout=held_out.drop(columns="worst_area"))
        text = held_out.astype({"mean_radius": str}).assign(mean_radius="big")
        with pytest.raises(DataError, match="does not fit the dataset's column types"):
            project.register(model, MODEL, holdout=text)
        with pytest.raises(ConfigError, match="holdout= takes a dataset version"):
            project.register(model, MODEL, holdout=held_out.to_numpy())
        from_pandas = project.register(model, MODEL, dataset="cancer@1", holdout=held_out)
        from_polars = project.register(model, MODEL, holdout=pl.from_pandas(held_out))
        assert from_pandas.version == 1  # the refused ones registered nothing
        report = project.evaluate(from_pandas.ref).report
        assert report.rows == 60 and report.holdout["kind"] == "frame", report.holdout
        assert report.dataset == "the holdout recorded with tumour@1 (60 rows)"
        assert report.passed, report.failed
        assert project.evaluate(from_polars.ref).report.rows == 60
        assert project.promote(from_pandas.ref) == (None, 1)


def test_evaluate_on_rows_that_cannot_score_the_model_is_a_user_error(folder: Path) -> None:
    shipyard.register(notebook_model(first_rows()), MODEL, project=folder, dataset="cancer@1")
    lacking = said_plainly(run(folder, "evaluate", f"{MODEL}@1", "--data", "diabetes@1"), 2)
    assert "diabetes@1 lacks 30 of the model's columns: mean_radius, mean_texture" in lacking
    assert "evaluate on a version of 'cancer'" in lacking
    scores = said_plainly(run(folder, "evaluate", f"{MODEL}@1", "--data", "scores@1"), 2)
    assert "'target' in scores@1 holds labels the model never predicts in" in scores
    new_label = cancer_frame().iloc[300:].reset_index(drop=True)
    new_label.loc[:29, "target"] = 2  # a label the model never learned, in a minority of rows
    new_label.to_csv(folder / "new_label.csv", index=False)
    ingested = run(
        folder, "data", "ingest", "cancer", str(folder / "new_label.csv"), "--mode", "replace"
    )
    assert ingested.exit_code == 0, ingested.output
    stranger = said_plainly(run(folder, "evaluate", f"{MODEL}@1", "--data", "cancer@4"), 2)
    assert "holds labels the model never predicts in 30 of 269 rows: 2 (its classes: 0, 1)" in (
        stranger
    )
    empty = said_plainly(run(folder, "evaluate", f"{MODEL}@1", "--data", "cancer@2"), 2)
    assert "cancer@2 has no rows with a value in 'target'" in empty
    unknown = said_plainly(run(folder, "evaluate", f"{MODEL}@1", "--data", "cancer@9"), 2)
    assert "dataset 'cancer' has no version '9'" in unknown


def test_evaluating_the_champion_does_not_say_there_is_none(folder: Path) -> None:
    shipyard.register(  # the module-level one takes holdout= too
        notebook_model(first_rows()), MODEL, project=folder, dataset="cancer@1", holdout="cancer@3"
    )
    with shipyard.open(folder) as project:
        project.evaluate(f"{MODEL}@1")
        project.promote(f"{MODEL}@1")
    again = run(folder, "evaluate", f"{MODEL}@champion")
    assert again.exit_code == 0, again.output
    assert "no champion yet" not in again.output
    [check] = [
        c
        for c in json.loads(run(folder, "evaluate", f"{MODEL}@1", "--json").stdout)["checks"]
        if c["name"] == "vs champion"
    ]
    assert (
        check["passed"] and check["detail"] == "tumour@1 is the champion: not compared with itself"
    )
