"""``monitoring.estimate: cbpe`` end to end: calibrated on the holdout at registration,
estimated per window from a live server's log, the realized figure beside once labels
arrive, an ``estimated_roc_auc`` rule that fires; calibrated lazily for a version
registered before the setting was on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from monitor_support import PROJECT, _pipeline, loans, traffic

import shipyard
from shipyard.cli import cli
from shipyard.errors import ConfigError
from shipyard.monitoring.html import render
from shipyard.monitoring.prometheus import gauges

ESTIMATE = PROJECT.replace(
    "    monitoring: {window: 1h, min_labels: 20}\n",
    "    monitoring: {window: 1h, min_labels: 20, estimate: cbpe}\n",
).replace(
    "      - {name: drift, when: drift}\n",
    "      - {name: drift, when: drift}\n"
    "      - {name: est_auc, when: estimated_roc_auc, below: 0.99}\n",
)


def test_estimates_beside_the_realized_figures(tmp_path: Path) -> None:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "shipyard.yaml").write_text(ESTIMATE % {"hook": "http://127.0.0.1:9"})
    project = shipyard.open(folder)
    try:
        train, holdout = loans(3000, 0), loans(1500, 5)
        version = project.ingest("loans", train).version
        model = _pipeline().fit(train.drop("defaulted").to_pandas(), train["defaulted"].to_numpy())
        registered = project.register(
            model, "risk", dataset=version.ref, holdout=holdout.to_pandas()
        )
        project.models.alias(registered.ref, "champion")
        kept = project.artifacts.list("calibrations/risk/1/")
        assert len(kept) == 1  # calibrated at registration
        calibration = project.monitoring.calibration(registered)
        assert calibration.rows == 1500 and "holdout" in calibration.source

        window = loans(800, 7, shift=0.3)  # covariate shift
        with traffic(project) as t:
            ids = t.predict(window)
            t.label(ids[:400], window["defaulted"].to_list()[:400])
        run = project.monitor("risk", notify=False)
        found = run.report.estimated
        assert found is not None and found.rows == 800 and found.enough
        auc = found.get("roc_auc")
        assert auc is not None and auc.low <= auc.value <= auc.high
        realized = run.report.performance.metrics["roc_auc"]
        assert auc.realized == realized and abs(auc.value - realized) < 0.1
        page = render(run.report)
        assert "<h2>Estimated without labels (CBPE)</h2>" in page
        assert f"<td>roc_auc</td><td>{auc.value:.4g}</td>" in page
        assert f"<td>[{auc.low:.4g}, {auc.high:.4g}]</td><td>{realized:.4g}</td>" in page
        assert {a.rule: a.state for a in run.alerts}["est_auc"] == "firing"
        exported = {
            labels[1]: v
            for name, labels, v in gauges(run.report, "1h")
            if name == "shipyard_model_metric"
        }  # what the exported rule reads
        assert exported["estimated_roc_auc"] == auc.value
        history = project.monitoring.history("risk", kind="estimated", feature="roc_auc")
        assert [h.statistic for h in history] == ["value", "low", "high"]

        result = CliRunner().invoke(
            cli, ["-C", str(folder), "monitor", "risk", "--no-notify", "--json"],
            catch_exceptions=False,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        estimated = json.loads(result.output)["report"]["estimated"]
        by_metric = {e["metric"]: e for e in estimated["estimates"]}
        assert set(by_metric) == {
            "accuracy",
            "balanced_accuracy",
            "precision",
            "recall",
            "f1",
            "roc_auc",
        }
        assert by_metric["roc_auc"]["realized"] == realized
        result = CliRunner().invoke(
            cli, ["-C", str(folder), "monitor", "risk", "--no-notify"], catch_exceptions=False
        )
        said = " ".join(result.output.split())
        assert "estimated without labels (cbpe, 95% interval) on 800 answers:" in said, said
        assert f"(realized {realized:.4f})" in said, said
    finally:
        project.close()


def test_a_version_registered_before_the_setting_is_calibrated_on_first_monitor(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "shipyard.yaml").write_text(PROJECT % {"hook": "http://127.0.0.1:9"})
    project = shipyard.open(folder)
    train = loans(2000, 0)
    version = project.ingest("loans", train).version
    model = _pipeline().fit(train.drop("defaulted").to_pandas(), train["defaulted"].to_numpy())
    registered = project.register(model, "risk", dataset=version.ref)
    project.models.alias(registered.ref, "champion")
    project.close()
    assert project.artifacts.list("calibrations/") == []
    (folder / "shipyard.yaml").write_text(ESTIMATE % {"hook": "http://127.0.0.1:9"})
    project = shipyard.open(folder)
    try:
        with traffic(project) as t:
            t.predict(loans(200, 3))
        found = project.monitor("risk", notify=False).report.estimated
        assert found is not None and found.rows == 200
        assert "no recorded holdout" in found.calibration  # said, not hidden
        assert len(project.artifacts.list("calibrations/risk/1/")) == 1
    finally:
        project.close()


RULE = "      - {name: drift, when: drift}\n"


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        (RULE, "      - {name: e, when: estimated_roc_auc, below: 0.8}\n", "set monitoring.estimate: cbpe"),
        (RULE, "      - {name: e, when: estimated_rocauc, below: 0.8}\n", "did you mean 'estimated_roc_auc'"),
        ("task: binary_classification", "task: regression", "a regression model has none"),
    ],
)  # fmt: skip
def test_estimate_settings_are_checked(tmp_path: Path, old: str, new: str, said: str) -> None:
    source = ESTIMATE if "regression" in new else PROJECT
    text = source.replace(old, new) % {"hook": "http://127.0.0.1:9"}
    (tmp_path / "shipyard.yaml").write_text(text)
    with pytest.raises(ConfigError) as raised:
        shipyard.open(tmp_path)
    assert said in " ".join(raised.value.problems), raised.value.problems
