"""Training: what a version records, reproducibility, splits, params, and user code failing."""

from __future__ import annotations

import subprocess

import pytest

import shipyard
from shipyard.errors import ConfigError, NotFoundError
from shipyard.project import Project
from shipyard.training import TrainingError, parse_params


def test_a_trained_version_records_what_reproduces_it(model_project: Project) -> None:
    subprocess.run(["git", "init", "-q"], cwd=model_project.root, check=True)
    subprocess.run(
        [
            "git",
            "-c",
            "user.email=t@t",
            "-c",
            "user.name=t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "x",
        ],
        cwd=model_project.root,
        check=True,
    )
    version = model_project.train("default-risk")
    assert version.ref == "default-risk@1"
    assert version.format == "skops" and version.source == "train"
    assert len(version.sha256) == 64 and version.size > 0
    data = model_project.data.show("loans@latest")
    assert (version.dataset, version.dataset_hash) == (data.ref, data.content_hash)
    assert version.features == ["amount", "age", "country"]
    assert version.params == {
        "max_depth": 3, "learning_rate": 0.1, "max_iter": 100, "seed": 0, "monotonic": True,
    }  # fmt: skip
    assert {"accuracy", "roc_auc", "log_loss", "f1"} <= set(version.metrics)
    assert version.schema_hash and len(version.schema_hash) == 64
    assert len(version.code["git"]) == 40 and version.code["dirty"] is True  # untracked files
    assert version.environment["python"] and "scikit-learn" in version.environment["packages"]
    assert version.training["rows_train"] + version.training["rows_holdout"] == data.rows
    assert version.training["split"] == {"strategy": "random", "holdout": 0.2, "seed": 0}
    assert version.training["seconds"] >= 0
    assert version.created_by
    assert version.classes == [False, True]


def test_training_twice_gives_the_same_metrics(model_project: Project) -> None:
    first = model_project.train("default-risk")
    second = model_project.train("default-risk")
    assert second.version == 2
    assert first.metrics == second.metrics
    rows = model_project.data.load("loans@1").head(50)
    same = model_project.models.load(first.ref).predict_proba(rows)
    assert (same == model_project.models.load(second.ref).predict_proba(rows)).all()


def test_params_override_and_keep_their_type(model_project: Project) -> None:
    params = parse_params(
        ["max_depth=5", "learning_rate=1", "new_one=abc"], {"max_depth": 3, "learning_rate": 0.1}
    )
    assert params == {"max_depth": 5, "learning_rate": 1.0, "new_one": "abc"}
    with pytest.raises(ConfigError, match="model 'default-risk' has no param 'new_one'"):
        model_project.train("default-risk", params=params)  # not declared, no any_params
    del params["new_one"]
    version = model_project.train("default-risk", params=params)
    assert version.params["max_depth"] == 5
    with pytest.raises(
        ConfigError,
        match=r"--param max_depth=deep: expected int like the project file's max_depth: 3, got str 'deep'",
    ):
        parse_params(["max_depth=deep"], {"max_depth": 3})
    with pytest.raises(ConfigError, match="is not KEY=VALUE"):
        parse_params(["max_depth"], {})


def test_a_time_split_holds_out_the_newest_rows(model_project: Project) -> None:
    from shipyard.training.run import split

    frame = model_project.data.load("loans@1")
    train_rows, holdout_rows = split(frame, "time", 0.25, 0, "applied_at")
    times = frame["applied_at"]
    assert times[train_rows].max() <= times[holdout_rows].min()
    assert len(holdout_rows) == round(frame.height * 0.25)


def _set_train(project: Project, module: str, code: str) -> Project:
    (project.root / f"{module}.py").write_text(code)
    text = (
        (project.root / "shipyard.yaml")
        .read_text()
        .replace("credit_model:train", f"{module}:train")
    )
    (project.root / "shipyard.yaml").write_text(text)
    return shipyard.open(project.root)


@pytest.mark.parametrize(
    ("module", "code", "message"),
    [
        ("nowhere", None, "cannot import 'nowhere' for 'nowhere:train': no such module"),
        (
            "broken_import",
            "import numpy\nraise RuntimeError('no GPU here')\n",
            "RuntimeError: no GPU here",
        ),
        (
            "raises",
            "def train(frame, params):\n    return 1 / 0\n",
            "ZeroDivisionError: division by zero",
        ),
        (
            "nothing",
            "def train(frame, params):\n    pass\n",
            "returned NoneType, not a fitted estimator",
        ),
        ("no_function", "x = 1\n", "module 'no_function' has no 'train'"),
    ],
)
def test_user_code_failing_shows_its_own_traceback(
    model_project: Project, module: str, code: str | None, message: str
) -> None:
    project = (
        _set_train(model_project, module, code)
        if code is not None
        else _set_train(model_project, "nowhere", "")
    )
    if code is None:
        (project.root / "nowhere.py").unlink()
    with project, pytest.raises((TrainingError, ConfigError)) as info:
        project.train("default-risk")
    text = str(info.value)
    assert message in text
    if module in ("broken_import", "raises"):
        assert f"{module}.py" in text  # the user's file and line
        assert "shipyard/training" not in text and "shipyard/entrypoints" not in text  # not ours
    assert project.models.registry.versions("default-risk") == []


def test_unknown_or_foreign_dataset_versions(model_project: Project) -> None:
    with pytest.raises(NotFoundError, match="dataset 'loans' has no version '9'"):
        model_project.train("default-risk", data="loans@9")
    with pytest.raises(
        NotFoundError, match=r"no model named 'default-rsk'.*did you mean 'default-risk'"
    ):
        model_project.train("default-rsk")
