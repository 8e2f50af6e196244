"""Crafted model files: none runs code, none crashes a worker, each is refused with a reason.

Each test is named for the attack it covers. The files are made the way an
attacker would make them: a real skops/ONNX/pickle file, edited where needed, and
handed to shipyard through the doors it has (registration, MLflow import, and a
registered artifact loaded later, as serving's warm-up does).
"""

from __future__ import annotations

import gc
import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio
import yaml
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

import shipyard
from shipyard.models import ModelFormatError, ModelVersion
from shipyard.models.formats import SUFFIX, dump, load
from shipyard.models.trusted import SHIPYARD_TRUSTED_TYPES
from shipyard.project import Project

FEATURES = ["amount", "age"]
RUNSTRING = "numpy.testing._private.utils.runstring"  # exec(code, namespace), under 'numpy.'


@pytest.fixture
def xy(model_project: Project) -> tuple[Any, np.ndarray]:
    frame = model_project.data.load("loans@1").drop_nulls().to_pandas()
    return frame[FEATURES], frame["defaulted"].to_numpy()


def mlflow_dir(folder: Path, data: bytes) -> Path:
    """An MLflow model directory whose sklearn model was saved with skops: ``data``."""
    folder.mkdir(parents=True)
    flavor = {"pickled_model": "model.skops", "serialization_format": "skops"}
    (folder / "MLmodel").write_text(yaml.safe_dump({"flavors": {"sklearn": flavor}}))
    (folder / "model.skops").write_bytes(data)
    return folder


def craft_skops(model: Any, edit: Callable[[dict[str, Any]], None]) -> bytes:
    """``model`` dumped with skops, its attributes' schema edited by ``edit`` (as an attacker would)."""
    source = zipfile.ZipFile(io.BytesIO(sio.dumps(model)))
    schema = json.loads(source.read("schema.json"))
    edit(schema["content"]["content"])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            body = json.dumps(schema).encode() if name == "schema.json" else source.read(name)
            target.writestr(name, body)
    return out.getvalue()


def stored_as_registered(project: Project, data: bytes, fmt: str) -> ModelVersion:
    """A version whose registered artifact is ``data`` itself (sha256 and all): the malicious
    artifact got in (an older shipyard, a copied database), and load must still refuse it."""
    artifact = project.artifacts.put(data, prefix="models/default-risk", suffix=SUFFIX[fmt])
    good = project.models.registry.versions("default-risk")[0]
    forged = replace(
        good, format=fmt, artifact_key=artifact.key, sha256=artifact.sha256, size=artifact.size
    )
    return project.models.registry.register(forged)


def _register_a_good_model(project: Project, xy: tuple[Any, np.ndarray]) -> None:
    x, y = xy
    project.register(LogisticRegression().fit(x, y), "default-risk", features=FEATURES)


def runstring_model(xy: tuple[Any, np.ndarray], marker: Path) -> bytes:
    """A fitted model whose skops file calls numpy's ``runstring`` (``exec``) to create ``marker``."""
    x, y = xy
    model = LogisticRegression().fit(x, y)
    model.hook_ = (f"open({str(marker)!r}, 'w').close()", {})  # type: ignore[attr-defined]

    def call_runstring(attrs: dict[str, Any]) -> None:
        attrs["hook_"] = {
            "__class__": "runstring",
            "__module__": "numpy.testing._private.utils",
            "__loader__": "ConstructorFromReduceNode",
            "content": attrs["hook_"],
        }

    return craft_skops(model, call_runstring)


# -- skops: trust is an allow-list of exact types ------------------------------------------------
def test_skops_file_calling_a_function_on_load_is_refused(
    model_project: Project, xy: tuple[Any, np.ndarray], tmp_path: Path
) -> None:
    """A skops node may name any constructor; under the old 'numpy.' prefix trust, numpy's
    testing helper ``runstring`` (``exec``) ran the attacker's code during load."""
    marker = tmp_path / "pwned"
    data = runstring_model(xy, marker)
    # through the door an attacker has: an MLflow directory saved with skops, no --trust-pickle
    folder = mlflow_dir(tmp_path / "mlflow", data)
    with pytest.raises(ModelFormatError, match=f"types that are not trusted: {RUNSTRING}") as info:
        model_project.models.import_mlflow(folder, "default-risk")
    assert "trusted_types" in str(info.value.hint)
    assert model_project.models.registry.versions("default-risk") == []
    # and again at load time, when such an artifact is already registered
    _register_a_good_model(model_project, xy)
    version = stored_as_registered(model_project, data, "skops")
    with pytest.raises(ModelFormatError, match=RUNSTRING):
        model_project.models.load(version.ref)
    with pytest.raises(ModelFormatError, match=RUNSTRING):
        load(data, "skops", trusted_types=["numpy.", "numpy.testing"])  # no prefix trusts it
    assert not marker.exists()


def test_cli_import_of_a_code_running_skops_file_says_why_without_a_traceback(
    model_project: Project, xy: tuple[Any, np.ndarray], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from shipyard.cli import cli

    marker = tmp_path / "pwned"
    folder = mlflow_dir(tmp_path / "mlflow", runstring_model(xy, marker))
    result = CliRunner().invoke(
        cli,
        ["-C", str(model_project.root), "models", "import", str(folder), "--name", "default-risk"],
    )
    assert result.exit_code != 0
    assert RUNSTRING in result.output and "trusted_types" in result.output
    assert "Traceback" not in result.output
    assert not marker.exists()


@pytest.mark.slow
def test_serving_warm_up_refuses_a_registered_code_running_model(
    model_project: Project, xy: tuple[Any, np.ndarray], tmp_path: Path
) -> None:
    """``shipyard serve`` loads the champion through the same checks: the version is refused
    (and the reason shown on /v1/models), nothing runs."""
    import contextlib
    import time

    import httpx

    from shipyard.serving.app import ServingApp
    from shipyard.serving.embedded import EmbeddedServer

    marker = tmp_path / "pwned"
    _register_a_good_model(model_project, xy)
    version = stored_as_registered(model_project, runstring_model(xy, marker), "skops")
    model_project.models.alias(version.ref, "champion")
    server = EmbeddedServer(ServingApp(model_project, {"default-risk": "champion"}, environ={}))
    server.thread.start()  # not start(): it waits for a readiness this server must never reach
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            deadline = time.monotonic() + 60
            described: dict[str, Any] = {"status": "loading"}
            while described.get("status") == "loading" and time.monotonic() < deadline:
                time.sleep(0.1)
                with contextlib.suppress(httpx.TransportError):
                    described = client.get("/v1/models/default-risk").json()
            assert client.get("/readyz").status_code == 503
    finally:
        server.stop()
    assert described["status"] == "failed", described
    assert described["version"] is None
    assert RUNSTRING in described["error"], described
    assert not marker.exists()


def test_skops_file_carrying_a_non_estimator_type_is_refused(
    model_project: Project, xy: tuple[Any, np.ndarray], tmp_path: Path
) -> None:
    """numpy's ``DataSource`` is no estimator; rebuilt with ``_istmpdest`` set, its ``__del__``
    deletes ``_destpath`` — the old prefix trust let a model file delete any folder."""
    from numpy.lib._datasource import DataSource

    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("important")
    x, y = xy
    model = LogisticRegression().fit(x, y)
    model.cache_ = DataSource(str(victim))  # type: ignore[attr-defined]

    def arm(attrs: dict[str, Any]) -> None:
        flag = attrs["cache_"]["content"]["content"]
        flag["_istmpdest"] = {**flag["_istmpdest"], "content": "true", "__id__": 2}  # not shared

    data = craft_skops(model, arm)
    del model
    with pytest.raises(ModelFormatError, match=r"not trusted: numpy\.lib\.npyio\.DataSource"):
        load(data, "skops", where="upload.skops")
    folder = mlflow_dir(tmp_path / "mlflow", data)
    with pytest.raises(ModelFormatError, match="DataSource"):
        model_project.models.import_mlflow(folder, "default-risk")
    _register_a_good_model(model_project, xy)
    with pytest.raises(ModelFormatError, match="DataSource"):
        model_project.models.load(stored_as_registered(model_project, data, "skops").ref)
    gc.collect()
    assert (victim / "keep.txt").read_text() == "important"


def test_a_function_a_model_needs_is_trusted_only_when_the_project_names_it(
    model_project: Project, tmp_path: Path
) -> None:
    """HistGradientBoosting with categorical features stores ``check_array`` by name: a function
    is never trusted by shipyard's list, only by the model's own ``trusted_types``."""
    rng = np.random.default_rng(0)
    x = np.c_[rng.integers(0, 4, 300), rng.normal(size=300)]
    y = (x[:, 0] > 1) ^ (x[:, 1] > 0)
    model = HistGradientBoostingClassifier(max_iter=5, categorical_features=[0]).fit(x, y)
    data = dump(model, "skops")
    with pytest.raises(ModelFormatError) as info:
        load(data, "skops")
    assert "sklearn.utils.validation.check_array" in str(info.value)
    assert "trusted_types: ['functools.partial', 'sklearn.utils.validation.check_array']" in str(
        info.value.hint
    )
    trusted = ["functools.partial", "sklearn.utils.validation.check_array"]
    assert (load(data, "skops", trusted_types=trusted).predict(x) == model.predict(x)).all()


def test_shipyards_trusted_list_holds_classes_only() -> None:
    import importlib

    for name in SHIPYARD_TRUSTED_TYPES:
        module, _, attribute = name.rpartition(".")
        assert isinstance(getattr(importlib.import_module(module), attribute), type), name


# -- skops: malformed trees are refused, not a segfault -------------------------------------------
CHILD = """
import sys
import numpy as np
from shipyard.models import ModelFormatError
from shipyard.models.formats import load

data = open(sys.argv[1], "rb").read()
try:
    model = load(data, "skops", where="crafted.skops")
except ModelFormatError as exc:
    print("REFUSED", exc.message)
    sys.exit(0)
print("LOADED")
rows = np.random.default_rng(0).normal(size=(200, model.n_features_in_))
print("PREDICTED", model.predict(rows)[:3])
"""


def _break_first_tree(model: Any, how: str) -> None:
    """Corrupt the fitted ``model`` in place (only ever dumped afterwards, never used)."""
    if how == "hist_child":
        model._predictors[0][0].nodes["left"][0] = 2**31
        return
    if how == "hist_feature":
        model._predictors[0][0].nodes["feature_idx"][0] = 10**9
        return
    estimator = model
    if hasattr(model, "estimators_"):
        first = model.estimators_
        estimator = first.ravel()[0] if isinstance(first, np.ndarray) else first[0]
    tree = estimator.tree_
    if how == "child":
        tree.children_left[0] = 2**40
    elif how == "right_child":
        tree.children_right[0] = -(2**40)
    elif how == "feature":
        tree.feature[0] = 2**40
    elif how == "cycle":
        tree.children_right[0] = 0  # a walk would never end


MALFORMED = [
    ("decision_tree", "child"),
    ("decision_tree", "cycle"),
    ("random_forest", "feature"),
    ("random_forest", "right_child"),
    ("gradient_boosting", "child"),
    ("hist_gradient_boosting", "hist_child"),
    ("hist_gradient_boosting", "hist_feature"),
]


def _fitted(kind: str) -> Any:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    model = {
        "decision_tree": DecisionTreeClassifier(max_depth=4),
        "random_forest": RandomForestClassifier(n_estimators=3, max_depth=4, random_state=0),
        "gradient_boosting": GradientBoostingClassifier(n_estimators=3, max_depth=3),
        "hist_gradient_boosting": HistGradientBoostingClassifier(max_iter=3),
    }[kind]
    return model.fit(x, y)


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "how"), MALFORMED)
def test_skops_tree_with_out_of_range_node_indices_is_refused_not_a_crash(
    tmp_path: Path, kind: str, how: str
) -> None:
    """Child/feature indices past the arrays made ``predict`` read outside memory (segfault):
    the load runs in a child process, so old code fails this test by crashing only the child."""
    model = _fitted(kind)
    _break_first_tree(model, how)
    path = tmp_path / "crafted.skops"
    path.write_bytes(sio.dumps(model))
    del model
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert child.returncode == 0, f"the child died ({child.returncode}): {child.stderr[-500:]}"
    assert child.stdout.startswith("REFUSED crafted.skops: "), child.stdout
    assert "is malformed" in child.stdout


def test_malformed_tree_is_refused_at_registration_and_import(
    model_project: Project, tmp_path: Path
) -> None:
    model = _fitted("random_forest")
    _break_first_tree(model, "feature")
    with pytest.raises(ModelFormatError, match="is malformed: node 0 splits on feature"):
        model_project.register(model, "default-risk", features=["a", "b", "c", "d"])
    folder = mlflow_dir(tmp_path / "mlflow", sio.dumps(model))
    with pytest.raises(ModelFormatError, match="is malformed"):
        model_project.models.import_mlflow(folder, "default-risk")
    assert model_project.models.registry.versions("default-risk") == []


def test_well_formed_trees_pass_the_check() -> None:
    for kind in ("decision_tree", "random_forest", "gradient_boosting", "hist_gradient_boosting"):
        model = _fitted(kind)
        loaded = load(dump(model, "skops"), "skops")
        rows = np.random.default_rng(1).normal(size=(50, 4))
        assert (loaded.predict(rows) == model.predict(rows)).all()


# -- ONNX ------------------------------------------------------------------------------------------
def _onnx_matmul(domain: str = "", op: str = "MatMul") -> Any:
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.array([[1.0], [2.0]], dtype=np.float32), "W")
    node = helper.make_node(op, ["X", "W"], ["Y"], domain=domain)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])],
        [weights],
    )
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=opsets, ir_version=8)


@pytest.mark.parametrize("location", ["/etc/passwd", "../../secret.bin", "weights.bin"])
def test_onnx_model_reading_an_external_file_is_refused(tmp_path: Path, location: str) -> None:
    """External data makes the loader read a path of the server into the weights."""
    from onnx import TensorProto

    model = _onnx_matmul()
    weights = model.graph.initializer[0]
    weights.ClearField("raw_data")
    weights.ClearField("float_data")
    weights.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "8")):
        entry = weights.external_data.add()
        entry.key, entry.value = key, value
    with pytest.raises(ModelFormatError, match=f"keeps its data in an external file .'{location}'"):
        load(model.SerializeToString(), "onnx", where="upload.onnx")


def test_onnx_model_with_custom_op_domain_is_refused_unless_trusted() -> None:
    """Operators outside the ONNX sets are refused by name; trusting a domain never loads a
    library, it only lets onnxruntime's built-in operators of that domain run."""
    data = _onnx_matmul("com.microsoft", "FusedMatMul").SerializeToString()
    with pytest.raises(ModelFormatError, match=r"domain 'com\.microsoft'") as info:
        load(data, "onnx", where="upload.onnx")
    assert "trusted_types" in str(info.value.hint)
    session = load(data, "onnx", trusted_types=["com.microsoft"])
    assert session.run(None, {"X": np.ones((1, 2), dtype=np.float32)})[0].tolist() == [[3.0]]
    custom = _onnx_matmul("evil.ops", "Exfiltrate").SerializeToString()
    with pytest.raises(ModelFormatError, match=r"domain 'evil\.ops'"):
        load(custom, "onnx")
    with pytest.raises(ModelFormatError, match="not a readable onnx model"):
        load(custom, "onnx", trusted_types=["evil.ops"])  # trusted, but no library is loaded


def test_onnx_custom_op_in_a_subgraph_is_refused() -> None:
    from onnx import TensorProto, helper

    inner = _onnx_matmul("evil.ops", "Exfiltrate").graph
    branch = helper.make_node(
        "If", ["cond"], ["Y"], then_branch=inner, else_branch=_onnx_matmul().graph
    )
    graph = helper.make_graph(
        [branch],
        "outer",
        [
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
            helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 2]),
        ],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    with pytest.raises(ModelFormatError, match=r"domain 'evil\.ops'"):
        load(model.SerializeToString(), "onnx")


# -- LightGBM and XGBoost: their own text formats, never a pickle ---------------------------------
class _Touch:
    """Unpickling this creates a file: proof that a pickle ran."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


@pytest.mark.parametrize("fmt", ["lightgbm", "xgboost"])
def test_pickle_handed_in_as_a_booster_runs_nothing(
    model_project: Project, xy: tuple[Any, np.ndarray], tmp_path: Path, fmt: str
) -> None:
    marker = tmp_path / "pwned"
    data = pickle.dumps(_Touch(marker))
    with pytest.raises(ModelFormatError, match=r"it looks like a pickle\); refusing it unread"):
        load(data, fmt, where="upload")
    _register_a_good_model(model_project, xy)
    with pytest.raises(ModelFormatError, match="refusing it unread"):
        model_project.models.load(stored_as_registered(model_project, data, fmt).ref)
    with pytest.raises(ModelFormatError, match="not a readable"):
        load(b"\x00\x01garbage", fmt)
    assert not marker.exists()


def test_boosters_are_stored_as_text_and_json(xy: tuple[Any, np.ndarray]) -> None:
    import lightgbm
    import xgboost

    x, y = xy
    text = dump(lightgbm.LGBMClassifier(n_estimators=3, verbose=-1).fit(x, y), "lightgbm")
    assert text.startswith(b"tree\n")
    data = dump(xgboost.XGBClassifier(n_estimators=3).fit(x, y), "xgboost")
    assert json.loads(data)["learner"]


def test_trusted_types_listed_in_the_project_file_reach_an_mlflow_import(
    model_project: Project, tmp_path: Path
) -> None:
    """The hint's remedy works: the same types, listed under the model, are accepted."""
    rng = np.random.default_rng(0)
    x = np.c_[rng.integers(0, 4, 300), rng.normal(size=300)]
    model = HistGradientBoostingClassifier(max_iter=3, categorical_features=[0]).fit(x, x[:, 0] > 1)
    folder = mlflow_dir(tmp_path / "mlflow", sio.dumps(model))
    spec = yaml.safe_load((folder / "MLmodel").read_text())
    spec["signature"] = {"inputs": json.dumps([{"name": "amount"}, {"name": "age"}])}
    (folder / "MLmodel").write_text(yaml.safe_dump(spec))  # its 2 columns are these features
    with pytest.raises(ModelFormatError, match="check_array"):
        model_project.models.import_mlflow(folder, "default-risk")
    project_file = model_project.root / "shipyard.yaml"
    text = project_file.read_text()
    project_file.write_text(
        text.replace(
            "    latency_budget_ms: 50",
            "    latency_budget_ms: 50\n    trusted_types: [functools.partial, "
            "sklearn.utils.validation.check_array]",
        )
    )
    with shipyard.open(model_project.root) as project:
        version = project.models.import_mlflow(folder, "default-risk")
        assert version.format == "skops"
        project.models.load(version.ref)  # and loads again under the same trust
