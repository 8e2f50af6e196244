"""Read an MLflow model directory (an ``MLmodel`` file with the sklearn flavor).

MLflow stores scikit-learn models as pickles (``cloudpickle`` by default), which
run code when loaded: they are only read with ``trust_pickle`` (the CLI's
``--trust-pickle``), and then stored in shipyard as skops, the safe format. A model
MLflow saved with ``serialization_format: skops`` is read without it, under the
same checks as any skops model (only types skops, shipyard's reviewed list or the
model's ``trusted_types`` trust; every decision tree checked). The
MLflow metadata (run id, model uuid, creation time, versions, signature) is kept.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .formats import ModelFormatError
from .formats import load as load_model


@dataclass(frozen=True)
class MlflowModel:
    """A model read from an MLflow directory, and what MLflow knew about it."""

    estimator: Any
    features: list[str] | None
    metadata: dict[str, Any]


def read_mlflow(
    path: Path, *, trust_pickle: bool = False, trusted_types: list[str] | None = None
) -> MlflowModel:
    """The scikit-learn model in the MLflow directory ``path``.

    ``trusted_types`` are the types the model's project-file entry trusts (for a skops file).
    """
    folder = Path(path)
    spec_file = folder / "MLmodel"
    if not spec_file.is_file():
        raise ModelFormatError(
            f"{folder} is not an MLflow model directory: it has no MLmodel file",
            hint="point at the folder that mlflow.sklearn.save_model wrote (it holds MLmodel)",
        )
    try:
        spec = yaml.safe_load(spec_file.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"{spec_file} is not valid YAML: {exc}") from None
    flavor = (spec.get("flavors") or {}).get("sklearn")
    if not isinstance(flavor, dict):
        found = ", ".join(spec.get("flavors") or {}) or "none"
        raise ModelFormatError(
            f"{spec_file} has no sklearn flavor (flavors: {found}); only scikit-learn models can be imported"
        )
    model_file = _inside(folder, str(flavor.get("pickled_model", "model.pkl")))
    serialization = str(flavor.get("serialization_format", "cloudpickle"))
    data = model_file.read_bytes()
    if serialization == "skops":
        estimator = load_model(data, "skops", trusted_types=trusted_types, where=str(model_file))
    else:
        if not trust_pickle:
            raise ModelFormatError(
                f"{model_file} is a {serialization} file, which runs code when loaded; refusing it",
                hint="pass --trust-pickle if you trust where it came from; shipyard then stores it "
                "as skops, a safe format",
            )
        try:
            estimator = pickle.loads(data)
        except Exception as exc:
            raise ModelFormatError(
                f"{model_file} is not a readable model: {type(exc).__name__}: {exc}"
            ) from None
    if not hasattr(estimator, "predict"):
        raise ModelFormatError(f"{model_file} holds a {type(estimator).__name__}, not a model")
    metadata = {
        key: spec[key]
        for key in ("run_id", "model_uuid", "utc_time_created", "mlflow_version", "artifact_path")
        if key in spec
    }
    metadata["sklearn_version"] = flavor.get("sklearn_version")
    metadata["serialization_format"] = serialization
    signature = spec.get("signature") or {}
    if signature:
        metadata["signature"] = signature
    return MlflowModel(estimator, _signature_features(signature), metadata)


def _inside(folder: Path, name: str) -> Path:
    """``folder/name``, refusing names that leave the folder (``..``, absolute paths, links)."""
    candidate = (folder / name).resolve()
    if Path(name).is_absolute() or folder.resolve() not in candidate.parents:
        raise ModelFormatError(
            f"the MLmodel file names '{name}' as its model, which is outside {folder}; refusing it"
        )
    if not candidate.is_file():
        raise ModelFormatError(f"the MLmodel file names '{name}', but {candidate} does not exist")
    return candidate


def _signature_features(signature: dict[str, Any]) -> list[str] | None:
    inputs = signature.get("inputs")
    if not inputs:
        return None
    try:
        columns = json.loads(inputs) if isinstance(inputs, str) else inputs
        names = [c["name"] for c in columns if isinstance(c, dict) and "name" in c]
    except (json.JSONDecodeError, TypeError):
        return None
    return names or None
