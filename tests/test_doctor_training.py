"""``shipyard doctor`` imports each model's training function and says which does not, and why."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from click.testing import CliRunner

from shipyard.cli import cli
from shipyard.entrypoints import check_entry_points


def _doctor(folder: Path) -> tuple[int, dict[str, dict[str, object]]]:
    result = CliRunner().invoke(cli, ["-C", str(folder), "doctor", "--json"])
    assert "Traceback" not in result.output
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    return result.exit_code, checks


def test_the_example_training_function_imports(project_dir: Path) -> None:
    code, checks = _doctor(project_dir)
    assert code == 0
    check = checks["training function default-risk"]
    assert check["ok"] is True and check["detail"] == "credit_model:train imports"


def test_a_module_that_raises_at_import_is_named_with_its_error(project_dir: Path) -> None:
    # a module of the same name imported before (another project's) must not hide this one
    (project_dir / "credit_model.py").write_text("import json\nvalue = 1 / 0\n")
    code, checks = _doctor(project_dir)
    assert code == 1
    check = checks["training function default-risk"]
    assert check["ok"] is False
    assert "models.default-risk.train: importing 'credit_model' failed" in str(check["detail"])
    assert "ZeroDivisionError" in str(check["detail"])
    text = CliRunner().invoke(cli, ["-C", str(project_dir), "doctor"]).output
    assert "FAILED" in text and "ZeroDivisionError" in text


def test_a_missing_module_or_function_is_named(project_dir: Path) -> None:
    file = project_dir / "shipyard.yaml"
    file.write_text(file.read_text().replace("credit_model:train", "credit_model:fit"))
    code, checks = _doctor(project_dir)
    assert code == 1
    assert "module 'credit_model' has no 'fit'" in str(checks["training function default-risk"])
    file.write_text(file.read_text().replace("credit_model:fit", "risk_model_gone:train"))
    code, checks = _doctor(project_dir)
    assert code == 1
    assert "cannot import 'risk_model_gone'" in str(checks["training function default-risk"])


def test_a_module_that_hangs_or_exits_cannot_stall_or_stop_doctor(tmp_path: Path) -> None:
    (tmp_path / "hangs_at_import.py").write_text(
        "import threading\nthreading.Event().wait()\ndef train(frame, params): pass\n"
    )
    (tmp_path / "exits_at_import.py").write_text("import sys\nsys.exit(3)\n")
    (tmp_path / "fine_module.py").write_text("def train(frame, params): pass\n")
    found = check_entry_points(
        {
            "models.a.train": "hangs_at_import:train",
            "models.b.train": "exits_at_import:train",
            "models.c.train": "fine_module:train",
        },
        root=tmp_path,
        timeout=2,
    )
    assert "did not finish in 2 s" in str(found["models.a.train"])
    assert "raised SystemExit: 3" in str(found["models.b.train"])
    assert found["models.c.train"] is None
    assert "fine_module" not in sys.modules  # what was not imported before is not kept
