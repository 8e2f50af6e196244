"""Every entry of the model-format table passes the same checks.

A new format gets one example model in ``EXAMPLES`` and is then held to all of
them: it round-trips through the artifact store to the same predictions, detection
picks it for its kind of model, it refuses every other format's bytes, a missing
package names a real install command, and the config ``Literal`` names it.
"""

from __future__ import annotations

import hashlib
import sys
import tomllib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from shipyard.config.schema import ModelFormat
from shipyard.errors import MissingDependencyError
from shipyard.models.formats import FORMATS, ModelFormatError, detect_format, dump, load
from shipyard.models.predictor import make_predictor
from shipyard.storage.artifacts import ArtifactLocation, ArtifactStore
from shipyard.training.run import FORMAT_PACKAGES

FEATURES = ["amount", "age"]
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _rows() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(120, 2)), columns=FEATURES).astype(np.float32)
    y = (x["amount"] + 0.5 * x["age"] + rng.normal(scale=0.5, size=120) > 0).astype(int)
    return x, y.to_numpy()


@dataclass(frozen=True)
class Example:
    """A fitted model of one format's kind, what predicts like it, and what detection says."""

    model: Any
    reference: Any  # an object with predict (and predict_proba) giving the expected answers
    classes: list[Any] | None
    detected_as: str


def _skops() -> Example:
    x, y = _rows()
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, y)
    return Example(model, model, None, "skops")


def _onnx() -> Example:
    from skl2onnx import to_onnx

    x, y = _rows()
    fitted = LogisticRegression().fit(x.to_numpy(), y)
    model = to_onnx(fitted, x.to_numpy()[:1], options={id(fitted): {"zipmap": False}})
    return Example(model, _OnNumpy(fitted), [0, 1], "onnx")


def _lightgbm() -> Example:
    import lightgbm

    x, y = _rows()
    model = lightgbm.LGBMClassifier(n_estimators=5, min_child_samples=5, verbose=-1).fit(x, y)
    return Example(model, model, [0, 1], "lightgbm")


def _xgboost() -> Example:
    import xgboost

    x, y = _rows()
    model = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(x, y)
    return Example(model, model, [0, 1], "xgboost")


def _pickle() -> Example:
    x, y = _rows()
    model = LogisticRegression().fit(x, y)
    return Example(model, model, None, "skops")  # never detected: only used when asked for


class _OnNumpy:
    """An estimator fitted on a plain array, asked with a frame."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.estimator.predict(x.to_numpy()))

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.estimator.predict_proba(x.to_numpy()))


EXAMPLES: dict[str, Callable[[], Example]] = {
    "skops": _skops,
    "onnx": _onnx,
    "lightgbm": _lightgbm,
    "xgboost": _xgboost,
    "pickle": _pickle,
}


@pytest.fixture(scope="module")
def examples() -> dict[str, Example]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the libraries' own deprecation notes
        return {name: make() for name, make in EXAMPLES.items()}


def _load(data: bytes, fmt: str) -> Any:
    return load(data, fmt, trusted_pickle=True, expected_sha256=hashlib.sha256(data).hexdigest())


def test_every_format_has_an_example_and_the_table_is_keyed_by_name() -> None:
    assert list(EXAMPLES) == list(FORMATS)
    assert all(name == spec.name for name, spec in FORMATS.items())
    suffixes = [spec.suffix for spec in FORMATS.values()]
    assert len(set(suffixes)) == len(suffixes)


def test_the_config_literal_names_every_format_in_table_order() -> None:
    assert get_args(ModelFormat) == tuple(FORMATS)


def test_a_training_run_records_every_formats_packages() -> None:
    recorded = {d for spec in FORMATS.values() for d in spec.distributions}
    assert set(FORMAT_PACKAGES) == recorded


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_round_trip_through_the_store_gives_the_same_predictions(
    fmt: str, examples: dict[str, Example], tmp_path: Path
) -> None:
    example = examples[fmt]
    spec = FORMATS[fmt]
    store = ArtifactStore(ArtifactLocation("file", str(tmp_path / "artifacts")))
    artifact = store.put(dump(example.model, fmt), prefix="models/contract", suffix=spec.suffix)
    assert artifact.key.endswith(spec.suffix)
    loaded = _load(store.get(artifact.key), fmt)
    predictor = make_predictor(loaded, fmt, FEATURES, "binary_classification", example.classes)
    x, _ = _rows()
    assert np.array_equal(predictor.predict(x), example.reference.predict(x))
    expected = example.reference.predict_proba(x)
    assert np.allclose(predictor.predict_proba(x), expected, atol=1e-5)
    assert np.array_equal(predictor.answer(x.to_numpy())[0], example.reference.predict(x))


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_detection_picks_the_format_for_its_kind_of_model(
    fmt: str, examples: dict[str, Example]
) -> None:
    example = examples[fmt]
    assert detect_format(example.model) == example.detected_as
    spec = FORMATS[fmt]
    detectable = bool(spec.modules) or spec.claims(example.model)
    assert (example.detected_as == fmt) == detectable


@pytest.mark.parametrize(("fmt", "other"), [(f, o) for f in FORMATS for o in FORMATS if f != o])
def test_another_formats_bytes_are_refused(
    fmt: str, other: str, examples: dict[str, Example]
) -> None:
    data = dump(examples[other].model, other)
    with pytest.raises(ModelFormatError):
        _load(data, fmt)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_a_missing_package_says_how_to_install_it(
    fmt: str, examples: dict[str, Example], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = FORMATS[fmt]
    data = dump(examples[fmt].model, fmt)
    for module in [m for m in sys.modules if m == spec.package or m.startswith(f"{spec.package}.")]:
        monkeypatch.setitem(sys.modules, module, None)  # "import <module>" now fails
    monkeypatch.setitem(sys.modules, spec.package, None)
    with pytest.raises(MissingDependencyError, match=f"needs the '{spec.package}' package") as info:
        _load(data, fmt)
    assert info.value.hint == spec.install_hint()


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_the_install_hint_names_a_real_extra_or_a_core_dependency(fmt: str) -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    spec = FORMATS[fmt]
    if spec.extra is None:
        requirements = project["dependencies"]
        assert spec.install_hint() == f"pip install {spec.package}"
    else:
        assert spec.extra in project["optional-dependencies"], spec.extra
        requirements = project["optional-dependencies"][spec.extra]
        assert spec.install_hint() == f"pip install 'shipyard[{spec.extra}]'"
    names = {_requirement_name(r) for r in requirements}
    assert spec.package in names, f"{spec.package} is not installed by {spec.install_hint()}"


def _requirement_name(requirement: str) -> str:
    for stop in "[<>=!~; ":
        requirement = requirement.split(stop)[0]
    return requirement.strip().lower()


def test_an_unknown_format_is_refused_naming_the_known_ones() -> None:
    known = ", ".join(FORMATS)
    with pytest.raises(ModelFormatError, match=f"unknown model format 'parquet'; known: {known}"):
        dump(object(), "parquet")
    with pytest.raises(ModelFormatError, match=f"unknown model format 'parquet'; known: {known}"):
        load(b"", "parquet")
