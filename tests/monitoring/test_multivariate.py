"""Multivariate drift: a flipped correlation with unchanged marginals is caught by the
reconstruction error over all features, missed by per-feature tests; windows drawn
from the reference itself do not flag."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import polars as pl
from click.testing import CliRunner

import shipyard
from shipyard.cli import cli
from shipyard.monitoring.html import render
from shipyard.monitoring.multivariate import Reconstruction, fit, judge
from shipyard.serving.app import ServingApp
from shipyard.serving.embedded import EmbeddedServer

PROJECT = """\
project: multivariate
server: {log_flush_s: 0.2, alias_poll_s: 0.2, access_log: false}
datasets:
  pairs:
    target: y
    columns:
      a: {type: float}
      b: {type: float}
      c: {type: float}
      kind: {type: category, categories: [p, q, r]}
      y: {type: bool}
models:
  pair:
    owner: {name: team, email: team@example.com}
    task: binary_classification
    dataset: pairs
    features: [a, b, c, kind]
    latency_budget_ms: 5000  # a busy test machine must not time requests out
    monitoring: {window: 1h}
"""


def pairs(n: int, rho: float, seed: int) -> pl.DataFrame:
    """``a`` and ``b`` standard normal with correlation ``rho``; ``c`` and ``kind`` independent."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1, n)
    b = rho * a + np.sqrt(1 - rho**2) * rng.normal(0, 1, n)
    return pl.DataFrame(
        {
            "a": a,
            "b": b,
            "c": rng.normal(5, 2, n),
            "kind": rng.choice(["p", "q", "r"], n, p=[0.5, 0.3, 0.2]),
            "y": (a + b + rng.normal(0, 1, n)) > 0,
        }
    )


FEATURES = ["a", "b", "c", "kind"]


def test_a_flipped_correlation_is_caught_and_the_reference_itself_is_not() -> None:
    reference = fit(pairs(20_000, 0.8, 0), FEATURES)
    assert reference is not None and reference.features == FEATURES
    flipped = judge(reference, pairs(1000, -0.8, 1), min_rows=30)
    assert flipped.drifted is True and flipped.value > flipped.threshold  # type: ignore[operator]
    flags = [judge(reference, pairs(1000, 0.8, 100 + i), min_rows=30).drifted for i in range(60)]
    assert sum(flags) <= 2  # about 0.1% expected at three standard errors
    again = Reconstruction.from_dict(json.loads(json.dumps(reference.as_dict())))
    assert again == reference


def test_too_few_rows_or_features_are_said_not_judged() -> None:
    reference = fit(pairs(2000, 0.8, 0), FEATURES)
    few = judge(reference, pairs(10, -0.8, 1), min_rows=30)
    assert few.drifted is None and "10 rows; judged from 30" in few.reason
    assert fit(pairs(2000, 0.8, 0), ["a"]) is None
    alone = judge(None, pairs(100, 0.8, 1), min_rows=30)
    assert alone.drifted is None and "fewer than two features" in alone.reason


def test_unseen_categories_and_nulls_are_encoded_not_refused() -> None:
    reference = fit(pairs(2000, 0.8, 0), FEATURES)
    assert reference is not None
    odd = pairs(200, 0.8, 3).with_columns(
        pl.when(pl.int_range(pl.len()) % 4 == 0).then(None).otherwise(pl.col("a")).alias("a"),
        pl.lit("zz").alias("kind"),
    )
    errors = reference.errors(odd)
    assert errors.shape == (200,) and np.isfinite(errors).all()


def _serve(project: shipyard.Project, frame: pl.DataFrame) -> None:
    """Send ``frame`` to a live server for the project; leaving it flushes the log."""
    app = ServingApp(project, {"pair": "champion"}, environ={})
    records = frame.select(FEATURES).to_dicts()
    with EmbeddedServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        for start in range(0, len(records), 250):
            answer = client.post("/v1/models/pair/predict", json=records[start : start + 250])
            assert answer.status_code == 200, answer.text


def test_monitor_reports_it_with_its_threshold(tmp_path: Path) -> None:
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    (tmp_path / "shipyard.yaml").write_text(PROJECT)
    project = shipyard.open(tmp_path)
    try:
        train = pairs(5000, 0.8, 0)
        version = project.ingest("pairs", train).version
        model = make_pipeline(
            make_column_transformer((OneHotEncoder(), ["kind"]), remainder="passthrough"),
            LogisticRegression(),
        ).fit(train.select(FEATURES).to_pandas(), train["y"].to_numpy())
        registered = project.register(model, "pair", dataset=version.ref)
        project.models.alias(registered.ref, "champion")
        assert len(project.artifacts.list("reconstructions/pair/1/")) == 1  # kept at registration
        _serve(project, pairs(1500, -0.8, 9))
        report = project.monitor("pair", notify=False).report
        assert report.drifted == []  # every marginal is the same
        m = report.multivariate
        assert m is not None and m.drifted is True and m.rows == 1500
        page = render(report)
        assert "<h2>All features together</h2>" in page
        assert f"<td>{m.value:.4g}</td><td>{m.reference:.4g}</td>" in page
        result = CliRunner().invoke(
            cli, ["-C", str(tmp_path), "monitor", "pair", "--json"], catch_exceptions=False
        )
        said = json.loads(result.output)["report"]["multivariate"]
        assert said["drifted"] is True and said["threshold"] == m.threshold
        assert said["flags_when"].startswith("mean error > ")
        result = CliRunner().invoke(cli, ["-C", str(tmp_path), "monitor", "pair"])
        text = " ".join(result.output.split())
        assert "all 4 features together (pca_reconstruction" in text and "DRIFTED" in text, text
    finally:
        project.close()
