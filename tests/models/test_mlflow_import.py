"""Importing an MLflow model directory (MLmodel file, sklearn flavor)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.linear_model import LogisticRegression

from shipyard.models import ModelFormatError
from shipyard.project import Project

FEATURES = ["amount", "age"]


def mlflow_dir(
    folder: Path,
    model: object,
    *,
    pickled_model: str = "model.pkl",
    serialization: str = "cloudpickle",
    body: bytes | None = None,
) -> Path:
    folder.mkdir(parents=True)
    spec = {
        "artifact_path": "model",
        "flavors": {
            "python_function": {"loader_module": "mlflow.sklearn", "model_path": "model.pkl"},
            "sklearn": {
                "pickled_model": pickled_model,
                "serialization_format": serialization,
                "sklearn_version": "1.9.1",
            },
        },
        "mlflow_version": "3.18.0",
        "model_uuid": "3f2b9c0e6a1d4e7f8a9b0c1d2e3f4a5b",
        "run_id": "0a1b2c3d4e5f",
        "utc_time_created": "2026-11-20 10:00:00.000000",
        "signature": {
            "inputs": json.dumps(
                [{"type": "double", "name": n, "required": True} for n in FEATURES]
            ),
            "outputs": json.dumps([{"type": "boolean", "required": True}]),
        },
    }
    (folder / "MLmodel").write_text(yaml.safe_dump(spec))
    if serialization == "skops":
        import skops.io as sio

        (folder / "model.pkl").write_bytes(sio.dumps(model))
    else:
        (folder / "model.pkl").write_bytes(body if body is not None else pickle.dumps(model))
    return folder


@pytest.fixture
def fitted(model_project: Project) -> tuple[LogisticRegression, object]:
    frame = model_project.data.load("loans@1").drop_nulls().to_pandas()
    return LogisticRegression(max_iter=1000).fit(frame[FEATURES], frame["defaulted"]), frame[
        FEATURES
    ]


def test_a_pickled_mlflow_model_needs_trust_then_is_stored_safely(
    model_project: Project, fitted, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    model, x = fitted
    folder = mlflow_dir(tmp_path / "mlruns" / "model", model)
    with pytest.raises(
        ModelFormatError, match="is a cloudpickle file, which runs code when loaded"
    ):
        model_project.models.import_mlflow(folder, "default-risk")
    version = model_project.models.import_mlflow(
        folder, "default-risk", trust_pickle=True, dataset="loans@1"
    )
    assert version.format == "skops" and version.source == "mlflow"
    assert version.features == FEATURES  # from the MLflow signature
    assert version.extra["mlflow"]["run_id"] == "0a1b2c3d4e5f"
    assert version.extra["mlflow"]["model_uuid"] == "3f2b9c0e6a1d4e7f8a9b0c1d2e3f4a5b"
    assert version.extra["mlflow"]["sklearn_version"] == "1.9.1"
    assert version.dataset == "loans@1"
    assert np.allclose(
        model_project.models.load(version.ref).predict_proba(x), model.predict_proba(x)
    )


def test_a_skops_mlflow_model_needs_no_trust(
    model_project: Project, fitted, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    model, _ = fitted
    version = model_project.models.import_mlflow(
        mlflow_dir(tmp_path / "m", model, serialization="skops"), "default-risk"
    )
    assert version.extra["mlflow"]["serialization_format"] == "skops"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("no_mlmodel", "has no MLmodel file"),
        ("outside", "names '../../secret.pkl' as its model, which is outside"),
        ("garbage", "is not a readable model"),
        ("not_a_model", "holds a dict, not a model"),
        ("no_sklearn", "has no sklearn flavor"),
    ],
)
def test_bad_mlflow_directories(
    model_project: Project, fitted, tmp_path: Path, setup: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    model, _ = fitted
    folder = tmp_path / "m"
    if setup == "no_mlmodel":
        folder.mkdir()
    elif setup == "outside":
        (tmp_path / "secret.pkl").write_bytes(pickle.dumps(model))
        mlflow_dir(folder, model, pickled_model="../../secret.pkl")
    elif setup == "garbage":
        mlflow_dir(folder, model, body=b"not a pickle at all")
    elif setup == "not_a_model":
        mlflow_dir(folder, model, body=pickle.dumps({"weights": [1, 2]}))
    else:
        mlflow_dir(folder, model)
        spec = yaml.safe_load((folder / "MLmodel").read_text())
        del spec["flavors"]["sklearn"]
        (folder / "MLmodel").write_text(yaml.safe_dump(spec))
    with pytest.raises(ModelFormatError, match=message):
        model_project.models.import_mlflow(folder, "default-risk", trust_pickle=True)
    assert model_project.models.registry.versions("default-risk") == []
