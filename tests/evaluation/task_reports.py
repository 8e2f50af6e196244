"""Evaluation reports of real scikit-learn models on scikit-learn's bundled datasets, one per task.

Binary: breast cancer (logistic regression); multiclass: wine (logistic regression);
regression: diabetes (ridge). Each holds out a third of the rows, declares a slice
rule on one feature's bins, and is evaluated by shipyard's own ``evaluate``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from shipyard.config import parse_config
from shipyard.evaluation import EvaluationReport, evaluate
from shipyard.models.predictor import SklearnPredictor

TASKS = ("binary_classification", "multiclass_classification", "regression")


def _config(task: str, features: list[str], target_type: str, slices: str, gates: str) -> Any:
    columns = "".join(f"      {f}: {{type: float}}\n" for f in features)
    text = (
        "project: t\ndatasets:\n  d:\n    target: y\n    columns:\n"
        f"{columns}      y: {{type: {target_type}}}\n"
        "models:\n  m:\n    owner: {name: team, email: team@example.com}\n"
        f"    task: {task}\n    dataset: d\n    features: [{', '.join(features)}]\n"
        f"    latency_budget_ms: 60000\n    gates: {gates}\n"
        f"    evaluation:\n      latency: {{repeats: 5, batch_size: 10}}\n      slices: [{slices}]\n"
    )
    return parse_config(text, environ={}).models["m"]


def task_report(task: str) -> EvaluationReport:
    """A model of ``task`` trained on two thirds of a bundled dataset, evaluated on the rest."""
    from sklearn import datasets
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if task == "binary_classification":
        name, bunch = "breast cancer", datasets.load_breast_cancer(as_frame=True)
        features = ["mean_radius", "mean_texture", "mean_smoothness", "worst_concavity"]
        estimator: Any = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
        target = "bool"
        slices = "{column: mean_radius, bins: [6, 12.5, 15, 30], metric: roc_auc, min: 0.95, min_size: 20}"
        gates = "{roc_auc: {min: 0.9}}"
    elif task == "multiclass_classification":
        name, bunch = "wine", datasets.load_wine(as_frame=True)
        features = ["alcohol", "malic_acid", "color_intensity", "proline"]
        estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
        target = "int"
        slices = "{column: alcohol, bins: [11, 12.5, 13.5, 15], metric: accuracy, min: 0.9, min_size: 10}"
        gates = "{accuracy: {min: 0.8}}"
    else:
        name, bunch = "diabetes", datasets.load_diabetes(as_frame=True, scaled=False)
        features = ["age", "bmi", "bp", "s5"]
        estimator = Ridge()
        target = "float"
        slices = "{column: bmi, bins: [18, 25, 30, 45], metric: mae, max: 50, min_size: 10}"
        gates = "{r2: {min: 0.3}}"
    frame = bunch.frame.rename(columns=lambda c: c.replace(" ", "_"))
    frame = frame.rename(columns={"target": "y"})[[*features, "y"]]
    if task == "binary_classification":
        frame["y"] = frame["y"] == 0  # malignant: the positive class
    train, holdout = train_test_split(frame, test_size=1 / 3, random_state=0)
    estimator.fit(train[features].to_numpy(), train["y"].to_numpy())
    predictor = SklearnPredictor(estimator, features, task)
    config = _config(task, features, target, slices, gates)
    return evaluate(
        predictor, pd.DataFrame(holdout).reset_index(drop=True), config, "y",
        ref=(task.split("_")[0], 1), dataset=f"scikit-learn {name} (a third held out)",
    )  # fmt: skip
