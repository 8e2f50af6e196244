"""Formats: every supported one round-trips behind one Predictor; unsafe ones are refused."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

import shipyard
from shipyard.errors import IntegrityError, NotFoundError, UnsafeKeyError
from shipyard.models import ModelFormatError, PredictionInputError
from shipyard.models.formats import dump, load
from shipyard.project import Project

FEATURES = ["amount", "age"]


@pytest.fixture
def xy(model_project: Project) -> tuple[object, np.ndarray]:
    frame = model_project.data.load("loans@1").drop_nulls().to_pandas()
    return frame[FEATURES], frame["defaulted"].to_numpy()


def _register(project: Project, model: object, **options: object):  # type: ignore[no-untyped-def]
    return project.register(model, "default-risk", dataset="loans@1", features=FEATURES, **options)


def test_skops_round_trip(model_project: Project, xy) -> None:  # type: ignore[no-untyped-def]
    x, y = xy
    model = HistGradientBoostingClassifier(random_state=0).fit(x, y)
    version = _register(model_project, model)
    predictor = model_project.models.load(version.ref)
    assert version.format == "skops"
    assert predictor.features == FEATURES
    assert np.allclose(predictor.predict_proba(x), model.predict_proba(x))
    assert (predictor.predict(x) == model.predict(x)).all()
    # columns in another order, extra columns, or a polars frame: the same answers
    shuffled = x.assign(extra=1)[["extra", "age", "amount"]]
    assert np.allclose(predictor.predict_proba(shuffled), model.predict_proba(x))


def test_onnx_round_trip(model_project: Project, xy) -> None:  # type: ignore[no-untyped-def]
    from skl2onnx import to_onnx

    x, y = xy
    model = LogisticRegression(max_iter=1000).fit(x.to_numpy(dtype=np.float32), y)
    onnx_model = to_onnx(
        model, x.to_numpy(dtype=np.float32)[:1], options={id(model): {"zipmap": False}}
    )
    version = _register(model_project, onnx_model, classes=[False, True])
    assert version.format == "onnx"
    predictor = model_project.models.load(version.ref)
    expected = model.predict_proba(x.to_numpy(dtype=np.float32))
    assert np.allclose(predictor.predict_proba(x), expected, atol=1e-5)


def test_lightgbm_round_trip(model_project: Project, xy) -> None:  # type: ignore[no-untyped-def]
    import lightgbm

    x, y = xy
    model = lightgbm.LGBMClassifier(n_estimators=20, verbose=-1).fit(x, y)
    version = _register(model_project, model)
    assert version.format == "lightgbm"
    predictor = model_project.models.load(version.ref)
    assert np.allclose(predictor.predict_proba(x), model.predict_proba(x), atol=1e-6)
    assert (predictor.predict(x) == model.predict(x)).all()


def test_xgboost_round_trip(model_project: Project, xy) -> None:  # type: ignore[no-untyped-def]
    import xgboost

    x, y = xy
    model = xgboost.XGBClassifier(n_estimators=20, max_depth=3).fit(x, y)
    version = _register(model_project, model, classes=[False, True])
    assert version.format == "xgboost"
    predictor = model_project.models.load(version.ref)
    assert np.allclose(predictor.predict_proba(x), model.predict_proba(x), atol=1e-6)


def test_a_pickle_is_refused_unless_the_model_is_trusted(model_project: Project, xy) -> None:  # type: ignore[no-untyped-def]
    x, y = xy
    model = LogisticRegression().fit(x, y)
    with pytest.raises(ModelFormatError, match="not marked trusted_pickle"):
        _register(model_project, model, format="pickle")
    data = dump(model, "pickle")
    with pytest.raises(ModelFormatError, match="is a pickle, which runs code when loaded"):
        load(data, "pickle", trusted_pickle=False)


def test_a_trusted_pickle_loads_only_with_its_registered_hash(
    tmp_path: Path, model_project: Project, xy
) -> None:  # type: ignore[no-untyped-def]
    text = (model_project.root / "shipyard.yaml").read_text()
    (model_project.root / "shipyard.yaml").write_text(
        text.replace(
            "    latency_budget_ms: 50", "    latency_budget_ms: 50\n    trusted_pickle: true"
        )
    )
    x, y = xy
    with shipyard.open(model_project.root) as project:
        version = _register(project, LogisticRegression().fit(x, y), format="pickle")
        assert project.models.load(version.ref).predict(x).shape == (len(x),)
        data = dump(LogisticRegression().fit(x, y), "pickle")
        with pytest.raises(ModelFormatError, match="do not match the sha256 registered"):
            load(data, "pickle", trusted_pickle=True, expected_sha256="0" * 64)


class Handmade(BaseEstimator, ClassifierMixin):  # a type skops does not know
    def fit(self, x, y):  # type: ignore[no-untyped-def]
        self.classes_ = np.unique(y)
        return self

    def predict(self, x):  # type: ignore[no-untyped-def]
        return np.zeros(len(x), dtype=bool)


def test_skops_refuses_types_nobody_trusted(model_project: Project, xy) -> None:  # type: ignore[no-untyped-def]
    x, y = xy
    with pytest.raises(ModelFormatError, match=r"types that are not trusted: .*Handmade"):
        _register(model_project, Handmade().fit(x, y))
    data = dump(Handmade().fit(x, y), "skops")
    trusted = [
        t for t in __import__("skops.io").io.get_untrusted_types(data=data) if "Handmade" in t
    ]
    assert load(data, "skops", trusted_types=trusted).predict(x[:2]).tolist() == [False, False]


def test_bytes_changed_after_registration_are_refused(model_project: Project, xy) -> None:  # type: ignore[no-untyped-def]
    x, y = xy
    version = _register(model_project, LogisticRegression().fit(x, y))
    path = Path(model_project.artifacts.location.root) / version.artifact_key
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(IntegrityError, match="corrupt"):
        model_project.models.load(version.ref)


def test_an_artifact_key_that_escapes_is_refused(model_project: Project, xy) -> None:  # type: ignore[no-untyped-def]
    x, y = xy
    good = _register(model_project, LogisticRegression().fit(x, y))
    forged = replace(good, artifact_key="../../etc/passwd")  # as if the database were tampered with
    version = model_project.models.registry.register(forged)
    with pytest.raises(UnsafeKeyError, match=r"'\.\.' .* could escape the store root"):
        model_project.models.load(version.ref)


def test_a_file_that_is_not_a_model(model_project: Project) -> None:
    for fmt in ("skops", "onnx", "lightgbm", "xgboost"):
        with pytest.raises(ModelFormatError, match=f"is not a readable {fmt} model"):
            load(b"this is not a model at all", fmt, where="upload.bin")
    with pytest.raises(ModelFormatError, match=r"cannot store a builtins\.dict"):
        model_project.register({"weights": [1, 2]}, "default-risk")


def test_a_model_must_be_declared_with_its_owner(model_project: Project) -> None:
    with pytest.raises(NotFoundError, match="no model named 'fraud'") as info:
        model_project.register(LogisticRegression(), "fraud")
    assert info.value.hint and "with its owner" in info.value.hint


def test_make_classification_numpy_rows(model_project: Project) -> None:
    x, y = make_classification(
        n_samples=200, n_features=2, n_informative=2, n_redundant=0, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        version = _register(model_project, LogisticRegression().fit(x, y > 0))
    predictor = model_project.models.load(version.ref)
    assert predictor.predict_proba(x).shape == (200, 2)
    with pytest.raises(PredictionInputError, match="expected rows of 2 values"):
        predictor.predict(np.zeros((3, 5)))
    with pytest.raises(PredictionInputError, match="lack the model's feature"):
        predictor.predict(x_frame := __import__("pandas").DataFrame({"amount": [1.0]}))
    del x_frame
