"""`shipyard train` and `shipyard models …` through the CLI."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from shipyard.cli import cli
from shipyard.demo import write_loans_batch


@pytest.fixture
def trained(project_dir: Path) -> Path:
    write_loans_batch(project_dir / "b1.csv", rows=800, seed=1)
    assert run(project_dir, "data", "ingest", "loans", str(project_dir / "b1.csv")).exit_code == 0
    return project_dir


def run(folder: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["-C", str(folder), *args], catch_exceptions=False)


def test_train_alias_show_list(trained: Path) -> None:
    first = json.loads(run(trained, "train", "default-risk", "--json").stdout)
    assert first["ref"] == "default-risk@1" and first["metrics"]["roc_auc"] > 0
    result = run(trained, "train", "default-risk", "--param", "max_depth=2", "--data", "loans@1")
    assert result.exit_code == 0, result.output
    assert "default-risk@2 trained on loans@1" in result.output
    moved = json.loads(
        run(
            trained,
            "models",
            "alias",
            "default-risk@2",
            "champion",
            "--force",  # not evaluated: the champion's gate is overridden, audited
            "--reason",
            "why not",
            "--json",
        ).stdout
    )
    assert moved == {
        "model": "default-risk", "alias": "champion", "from": None, "to": 2, "forced": True,
    }  # fmt: skip
    card = json.loads(run(trained, "models", "show", "default-risk@champion", "--json").stdout)
    assert card["version"] == 2 and card["aliases_here"] == ["champion"]
    assert card["owner"] == {"name": "risk-team", "file": "alerts.jsonl"}
    assert card["params"]["max_depth"] == 2
    assert card["lineage"][0]["ref"] == "loans@1"
    assert card["lineage"][0]["sources"][0]["uri"].endswith("b1.csv")
    assert [e["action"] for e in card["history"]] == [
        "model.promoted",
        "alias.set",
        "model.registered",
        "model.registered",
    ]
    assert card["history"][0]["reason"] == "why not"
    text = run(trained, "models", "show", "default-risk@champion").output
    assert "risk-team" in text and "lineage" in text and "audit trail" in text
    [summary] = json.loads(run(trained, "models", "list", "--json").stdout)
    assert summary["versions"] == 2 and summary["aliases"] == {"champion": 2}
    assert run(trained, "models", "list").exit_code == 0


def test_delete_and_alias_delete(trained: Path) -> None:
    run(trained, "train", "default-risk")
    run(trained, "models", "alias", "default-risk@1", "champion", "--force", "--reason", "test")
    archived = json.loads(run(trained, "models", "delete", "default-risk@1", "--json").stdout)
    assert archived["status"] == "archived"
    assert run(trained, "models", "alias", "default-risk", "champion", "--delete").exit_code == 0
    assert "deleted default-risk@1" in run(trained, "models", "delete", "default-risk@1").output


def test_import_an_mlflow_directory(trained: Path, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    folder = tmp_path / "model"
    folder.mkdir()
    signature = {"inputs": json.dumps([{"name": "amount"}, {"name": "age"}])}  # its 2 columns
    (folder / "MLmodel").write_text(
        yaml.safe_dump(
            {
                "flavors": {"sklearn": {"pickled_model": "model.pkl"}},
                "run_id": "r1",
                "signature": signature,
            }
        )
    )
    (folder / "model.pkl").write_bytes(
        pickle.dumps(LogisticRegression().fit([[1, 2], [2, 1]], [True, False]))
    )
    refused = run(trained, "models", "import", str(folder), "--name", "default-risk")
    assert refused.exit_code == 2 and "--trust-pickle" in refused.output
    result = run(
        trained,
        "models",
        "import",
        str(folder),
        "--name",
        "default-risk",
        "--trust-pickle",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["extra"]["mlflow"]["run_id"] == "r1"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "default-rsk"], "did you mean 'default-risk'"),
        (
            ["train", "default-risk", "--param", "max_depth=deep"],
            "expected int like the project file's max_depth: 3",
        ),
        (["train", "default-risk", "--data", "loans@7"], "has no version '7'"),
        (["models", "alias", "default-risk@9", "champion"], "no versions yet"),
        (["models", "show", "default-risk@champion"], "no alias 'champion'"),
        (["models", "alias", "default-risk", "champion", "--delete"], "has no alias 'champion'"),
    ],
)
def test_bad_input_exits_2(trained: Path, args: list[str], message: str) -> None:
    result = run(trained, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_models_show_never_prints_the_owners_webhook_secrets(trained: Path) -> None:
    """A Slack webhook URL is a credential: the model card shows where it goes, not the key."""
    file = trained / "shipyard.yaml"
    config = yaml.safe_load(file.read_text())
    config["models"]["default-risk"]["owner"].update(
        slack="https://hooks.slack.com/services/T000/B000/XXsekretXX",
        webhook="https://bot:hunter2@hooks.example.com/notify?token=tok3n",
    )
    file.write_text(yaml.safe_dump(config, sort_keys=False))
    assert run(trained, "train", "default-risk").exit_code == 0
    text = run(trained, "models", "show", "default-risk@1").output
    card = run(trained, "models", "show", "default-risk@1", "--json").stdout
    for output in (text, card):
        assert "hooks.slack.com/services/" in output and "hooks.example.com" in output
        for secret in ("XXsekretXX", "hunter2", "tok3n"):
            assert secret not in output, f"{secret!r} in: {output}"


@pytest.mark.slow
def test_import_finds_the_users_own_functions_beside_the_project_file(
    project_dir: Path, tmp_path: Path
) -> None:
    """A pickled pipeline names a function of feats.py beside shipyard.yaml, run from elsewhere."""
    import subprocess
    import sys

    (project_dir / "feats.py").write_text(
        "import numpy as np\n\ndef log_amount(x):\n    return np.log1p(x)\n"
    )
    folder = tmp_path / "mlmodel"
    folder.mkdir()
    (folder / "MLmodel").write_text(
        yaml.safe_dump({"flavors": {"sklearn": {"pickled_model": "model.pkl"}}})
    )
    maker = (
        "import pickle, sys, feats\n"
        "from sklearn.pipeline import make_pipeline\n"
        "from sklearn.preprocessing import FunctionTransformer\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "model = make_pipeline(FunctionTransformer(feats.log_amount), LogisticRegression())\n"
        "model.fit([[1, 2, 3], [3, 2, 1]], [True, False])\n"
        "open(sys.argv[1], 'wb').write(pickle.dumps(model))\n"
    )
    subprocess.run(
        [sys.executable, "-c", maker, str(folder / "model.pkl")], cwd=project_dir, check=True
    )
    file = project_dir / "shipyard.yaml"
    config = yaml.safe_load(file.read_text())
    config["models"]["default-risk"]["trusted_types"] = ["feats.log_amount"]
    file.write_text(yaml.safe_dump(config, sort_keys=False))
    command = [sys.executable, "-m", "shipyard", "-C", str(project_dir), "models", "import"]
    result = subprocess.run(
        [*command, str(folder), "--name", "default-risk", "--trust-pickle"],
        cwd=tmp_path,  # not the project folder: its modules are found all the same
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
