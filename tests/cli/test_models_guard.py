"""Issue #16: what enters the registry fits what it is registered as, the champion is
gated on every path, ``--param`` names are checked, and ``models show`` says what it means.

The project is scikit-learn's breast cancer and diabetes data written to CSV (headers
made into column names), ingested through the CLI; models come from a notebook
(``shipyard.register``), from the project's ``train`` function, or from MLflow.
"""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner, Result
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import shipyard
from shipyard.cli import cli
from shipyard.models import ModelMismatchError


def _named(frame: pd.DataFrame) -> pd.DataFrame:
    """scikit-learn's headers ('mean radius') as column names ('mean_radius')."""
    return frame.rename(columns=lambda c: re.sub(r"\W+", "_", str(c)).strip("_"))


CANCER = _named(load_breast_cancer(as_frame=True).frame)
CANCER_FEATURES = [c for c in CANCER.columns if c != "target"]
DIABETES = _named(load_diabetes(as_frame=True).frame)
DIABETES_FEATURES = [c for c in DIABETES.columns if c != "target"]

TRAIN = """
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def train(frame, params):
    X, y = frame.drop(columns="target"), frame["target"]
    return make_pipeline(StandardScaler(), LogisticRegression(**params)).fit(X, y)


def two_columns(frame, params):
    X = frame[["mean_radius", "mean_texture"]]
    return LogisticRegression(solver="liblinear").fit(X, frame["target"])


def regressor(frame, params):
    return LinearRegression().fit(frame.drop(columns="target"), frame["target"])
"""

RAISER = '''
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class Raiser(ClassifierMixin, BaseEstimator):
    """Fits, then fails on every row it is asked about."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X):
        raise ValueError("cannot score these rows\\nsecond line")

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
'''


def _columns(frame: pd.DataFrame, target: str) -> dict[str, object]:
    return {
        c: {"type": "int" if c == target else "float", "nullable": False} for c in frame.columns
    }


def write_project(folder: Path) -> Path:
    """The breast cancer and diabetes project in ``folder``, no data ingested yet."""
    folder.mkdir(parents=True, exist_ok=True)
    CANCER.to_csv(folder / "cancer.csv", index=False)
    DIABETES.to_csv(folder / "diabetes.csv", index=False)
    (folder / "train_cancer.py").write_text(TRAIN)
    (folder / "raiser.py").write_text(RAISER)
    owner = {"name": "me", "email": "me@example.com"}
    config = {
        "project": "guard",
        "datasets": {
            "cancer": {"target": "target", "columns": _columns(CANCER, "target")},
            "diabetes": {
                "target": "target",
                "columns": {
                    **_columns(DIABETES, "target"),
                    "target": {"type": "float", "nullable": False},
                },
            },
        },
        "models": {
            "cancer": {
                "owner": owner,
                "task": "binary_classification",
                "dataset": "cancer",
                "features": CANCER_FEATURES,
                "train": "train_cancer:train",
                "params": {"C": 1.0, "max_iter": 1000},
                "latency_budget_ms": 60000,
                "gates": {"accuracy": {"min": 0.9}},
                "trusted_types": ["raiser.Raiser"],
            },
            "progression": {
                "owner": owner,
                "task": "regression",
                "dataset": "diabetes",
                "features": DIABETES_FEATURES,
                "latency_budget_ms": 60000,
            },
        },
    }
    (folder / "shipyard.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


def run(folder: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["-C", str(folder), *args], catch_exceptions=False)


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    """The project with no dataset version yet."""
    return write_project(tmp_path / "guard")


@pytest.fixture
def folder(empty: Path) -> Path:
    """The project with cancer@1 and diabetes@1 ingested through the CLI."""
    for name in ("cancer", "diabetes"):
        result = run(empty, "data", "ingest", name, str(empty / f"{name}.csv"))
        assert result.exit_code == 0, result.output
    return empty


X, Y = CANCER[CANCER_FEATURES], CANCER["target"]


def refused(folder: Path, model: object, name: str = "cancer", **lineage: object) -> str:
    """The one-line refusal of registering ``model``; nothing was written."""
    with pytest.raises(ModelMismatchError) as caught:
        shipyard.register(model, name, project=folder, **lineage)
    with shipyard.open(folder) as project:
        assert project.models.registry.versions(name) == []
        assert project.artifacts.list("models/") == []
    error = caught.value
    assert "\n" not in error.message and error.hint, str(error)
    assert error.exit_code == 2
    return error.message


# -- 1. register checks what it is given --------------------------------------------------
def test_a_model_fitted_on_two_columns_is_not_a_thirty_feature_model(folder: Path) -> None:
    two = ["mean_radius", "mean_texture"]
    message = refused(folder, LogisticRegression(solver="liblinear").fit(X[two], Y))
    assert "fitted on 2 feature(s), but model 'cancer' has 30" in message
    assert "not fitted on mean_perimeter" in message
    unnamed = refused(folder, LogisticRegression(solver="liblinear").fit(X[two].to_numpy(), Y))
    assert "fitted on 2 column(s), but model 'cancer' has 30 features" in unnamed
    headers = X.rename(columns=lambda c: c.replace("_", " "))  # the CSV's own headers
    with pytest.raises(ModelMismatchError, match="fitted on 30 feature") as caught:
        shipyard.register(
            LogisticRegression(solver="liblinear").fit(headers, Y), "cancer", project=folder
        )
    assert "the source's headers ('mean radius')" in str(caught.value.hint)


def test_a_regressor_is_not_a_classifier_nor_the_reverse(folder: Path) -> None:
    message = refused(folder, LinearRegression().fit(X, Y))
    assert message == (
        "the LinearRegression is a regressor, but model 'cancer' is a binary_classification "
        "model (models.cancer.task)"
    )
    features = DIABETES[DIABETES_FEATURES]
    above = DIABETES["target"] > DIABETES["target"].median()
    message = refused(
        folder, RandomForestClassifier(n_estimators=3).fit(features, above), "progression"
    )
    assert "is a classifier, but model 'progression' is a regression model" in message


def test_classes_must_be_values_of_the_target(folder: Path) -> None:
    wine = load_wine(as_frame=True)
    message = refused(folder, RandomForestClassifier(n_estimators=3).fit(wine.data, wine.target))
    assert "fitted on 13 feature(s), but model 'cancer' has 30" in message  # wine's columns
    three = np.arange(len(Y)) % 3  # wine's three classes, on the right columns
    message = refused(folder, RandomForestClassifier(n_estimators=3).fit(X, three))
    assert "has 3 classes (0, 1, 2), but model 'cancer' is a binary_classification" in message
    words = Y.map({0: "malignant", 1: "benign"})
    message = refused(folder, LogisticRegression(solver="liblinear").fit(X, words))
    assert message.startswith("the LogisticRegression has class(es) 'benign', 'malignant'")
    assert "not values of the target 'target' of cancer@1 (its values: 0, 1)" in message
    message = refused(folder, RandomForestClassifier(n_estimators=3).fit(X, Y + 1))
    assert "class(es) 2 that are not values of the target" in message


def test_a_model_that_raises_on_sample_rows_is_refused(folder: Path) -> None:
    import sys

    sys.path.insert(0, str(folder))
    try:
        from raiser import Raiser  # type: ignore[import-not-found]

        message = refused(folder, Raiser().fit(X.to_numpy(), Y))
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("raiser", None)
    assert message == (
        "the Raiser raised on 200 rows of cancer@1: ValueError: cannot score these rows"
    )


def test_fitting_models_of_every_kind_are_registered(folder: Path) -> None:
    """What fits is taken: pipelines, a ColumnTransformer, boosters, any column order."""
    import lightgbm
    import xgboost

    shuffled = X[X.columns[::-1]]
    scaled = ColumnTransformer(
        [("scaled", StandardScaler(), CANCER_FEATURES[:10])], remainder="passthrough"
    )
    fitting = {
        "pipeline": make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y),
        "columns": make_pipeline(scaled, LogisticRegression(solver="liblinear")).fit(X, Y),
        "reversed": make_pipeline(StandardScaler(), LogisticRegression()).fit(shuffled, Y),
        "lightgbm": lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, Y),
        "xgboost": xgboost.XGBClassifier(n_estimators=5).fit(X.to_numpy(), Y),
    }
    with shipyard.open(folder) as project:
        for kind, model in fitting.items():
            version = project.register(model, "cancer", dataset="cancer@1")
            assert version.format in ("skops", "lightgbm", "xgboost"), kind
            predictor = project.models.load(version.ref)
            assert set(predictor.predict(X.head(20))) <= {0, 1}, kind
            if kind == "reversed":  # kept in the order the model reads them
                assert version.features == list(shuffled.columns)
        regressor = Ridge().fit(DIABETES[DIABETES_FEATURES], DIABETES["target"])
        assert project.register(regressor, "progression").version == 1
    boosters = {
        "is a regressor": lightgbm.LGBMRegressor(n_estimators=5, verbose=-1).fit(X, Y),
        "fitted on 5 feature(s)": xgboost.XGBClassifier(n_estimators=5).fit(X.iloc[:, :5], Y),
        "the Booster is a regressor": lightgbm.train(
            {"objective": "regression", "verbose": -1}, lightgbm.Dataset(X, Y), 3
        ),
        "the Booster was fitted on 2 feature(s)": xgboost.train(
            {"objective": "binary:logistic"}, xgboost.DMatrix(X.iloc[:, :2], Y), 3
        ),
    }
    for message, model in boosters.items():
        with pytest.raises(ModelMismatchError, match=re.escape(message)):
            shipyard.register(model, "cancer", project=folder)


def test_without_a_dataset_version_what_can_be_checked_is(empty: Path) -> None:
    two = ["mean_radius", "mean_texture"]
    with pytest.raises(ModelMismatchError, match="fitted on 2 feature"):
        shipyard.register(
            LogisticRegression(solver="liblinear").fit(X[two], Y), "cancer", project=empty
        )
    with pytest.raises(ModelMismatchError, match="is a regressor"):
        shipyard.register(LinearRegression().fit(X, Y), "cancer", project=empty)
    version = shipyard.register(
        LogisticRegression(solver="liblinear").fit(X, Y), "cancer", project=empty
    )
    assert version.ref == "cancer@1" and version.dataset is None


def test_train_output_is_checked_too(folder: Path) -> None:
    config = folder / "shipyard.yaml"
    for function, message in (
        ("two_columns", "the LogisticRegression was fitted on 2 feature(s)"),
        ("regressor", "the LinearRegression is a regressor"),
    ):
        config.write_text(
            config.read_text().replace("train_cancer:train", f"train_cancer:{function}")
        )
        result = run(folder, "train", "cancer")
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output
        config.write_text(
            config.read_text().replace(f"train_cancer:{function}", "train_cancer:train")
        )
    assert "no versions yet" in run(folder, "models", "show", "cancer").output


def test_an_mlflow_import_is_checked_too(folder: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "mlflow"
    model_dir.mkdir()
    spec = {"flavors": {"sklearn": {"pickled_model": "model.pkl"}}, "run_id": "r1"}
    (model_dir / "MLmodel").write_text(yaml.safe_dump(spec))
    wine = load_wine()
    model = LogisticRegression(max_iter=10000).fit(wine.data, wine.target)
    (model_dir / "model.pkl").write_bytes(pickle.dumps(model))
    result = run(folder, "models", "import", str(model_dir), "--name", "cancer", "--trust-pickle")
    assert result.exit_code == 2, result.output
    assert "fitted on 13 column(s), but model 'cancer' has 30 features" in result.output
    (model_dir / "model.pkl").write_bytes(
        pickle.dumps(LogisticRegression(solver="liblinear").fit(X, Y))
    )
    result = run(folder, "models", "import", str(model_dir), "--name", "cancer", "--trust-pickle")
    assert result.exit_code == 0, result.output


# -- 3. the champion is gated on every path ----------------------------------------------
def test_models_alias_champion_applies_the_gate_of_promote(folder: Path) -> None:
    assert run(folder, "train", "cancer").exit_code == 0  # cancer@1: accurate
    weak = run(folder, "train", "cancer", "--param", "C=0.00001")  # cancer@2: the majority
    assert weak.exit_code == 0, weak.output
    unevaluated = run(folder, "models", "alias", "cancer@1", "champion")
    assert unevaluated.exit_code == 2
    assert "refusing to promote cancer@1 to champion: cancer@1 has not been evaluated" in (
        unevaluated.output
    )
    assert run(folder, "evaluate", "cancer@1").exit_code == 0
    assert run(folder, "evaluate", "cancer@2").exit_code == 1
    failed = run(folder, "models", "alias", "cancer@2", "champion", "--reason", "why not")
    assert failed.exit_code == 2 and "the latest evaluation of cancer@2 failed" in failed.output
    moved = run(folder, "models", "alias", "cancer@1", "champion", "--json")
    assert json.loads(moved.stdout) == {
        "model": "cancer", "alias": "champion", "from": None, "to": 1, "forced": False,
    }  # fmt: skip
    no_reason = run(folder, "models", "alias", "cancer@2", "champion", "--force")
    assert no_reason.exit_code == 2 and "--force needs --reason" in no_reason.output
    forced = run(folder, "models", "alias", "cancer@2", "champion", "--force", "--reason", "demo")
    assert forced.exit_code == 0, forced.output
    assert "cancer@champion → version 2 (was 1) (forced)" in forced.output
    with shipyard.open(folder) as project:
        promoted = [e for e in project.audit(subject="cancer") if e.action == "model.promoted"]
    assert [(e.detail["to"], e.detail["forced"], e.reason) for e in promoted] == [
        (2, True, "demo"),
        (1, False, None),
    ]
    again = run(folder, "promote", "cancer@2")  # already the champion: nothing moves
    assert again.exit_code == 0 and "cancer@champion is already version 2: nothing moved" in (
        again.output
    )
    back = run(folder, "promote", "cancer@1", "--force", "--reason", "asked to")
    assert back.exit_code == 0 and "(forced)" in back.output  # its evaluation passed anyway
    with shipyard.open(folder) as project:
        events = project.audit(subject="cancer")
    promoted = [e for e in events if e.action == "model.promoted"]
    assert [(e.detail["to"], e.detail["forced"], e.detail["gate_problem"]) for e in promoted][
        :2
    ] == [(1, True, None), (2, True, "the latest evaluation of cancer@2 failed: gate accuracy")]
    # other aliases are not gated, and --force means nothing for them
    assert run(folder, "models", "alias", "cancer@2", "challenger").exit_code == 0
    wrong = run(folder, "models", "alias", "cancer@2", "staging", "--force", "--reason", "x")
    assert wrong.exit_code == 2 and "only overrides the champion's evaluation gate" in wrong.output


# -- 4. train --param names are checked ----------------------------------------------------
def test_train_refuses_an_unknown_param_unless_the_model_takes_any(folder: Path) -> None:
    result = run(folder, "train", "cancer", "--param", "max_iters=50")
    assert result.exit_code == 2, result.output
    assert "model 'cancer' has no param 'max_iters' (did you mean 'max_iter'?)" in result.output
    assert "its params: C, max_iter" in result.output and "any_params: true" in result.output
    assert "no versions yet" in run(folder, "models", "show", "cancer").output
    cased = run(folder, "train", "cancer", "--param", "c=2")
    assert cased.exit_code == 2 and "no param 'c' (did you mean 'C'?)" in cased.output
    typo = run(folder, "train", "cancr")
    assert typo.exit_code == 2 and "(did you mean 'cancer'?)" in typo.output
    assert "declare models.cancr" not in typo.output  # a typo is not a model to declare
    config = folder / "shipyard.yaml"
    config.write_text(
        config.read_text().replace(
            "  cancer:\n    owner", "  cancer:\n    any_params: true\n    owner"
        )
    )
    result = run(folder, "train", "cancer", "--param", "tol=0.001", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["params"]["tol"] == 0.001


# -- 11. models show NAME for a model that does not exist ----------------------------------
def test_models_show_tells_an_unknown_model_from_one_without_versions(folder: Path) -> None:
    typo = run(folder, "models", "show", "cancr")
    assert typo.exit_code == 2
    assert "no such model 'cancr' (did you mean 'cancer'?); models: cancer, progression" in (
        typo.output
    )
    assert "no versions yet" not in typo.output
    known = run(folder, "models", "show", "cancer")
    assert known.exit_code == 2 and "model 'cancer' has no versions yet" in known.output
    alias = run(folder, "models", "alias", "cancr@1", "challenger")
    assert alias.exit_code == 2 and "no such model 'cancr'" in alias.output
    for command in (["promote", "cancr@1"], ["evaluate", "cancr@1"]):
        typed = run(folder, *command)
        assert typed.exit_code == 2, (command, typed.output)
        assert "no such model 'cancr' (did you mean 'cancer'?)" in typed.output, command
