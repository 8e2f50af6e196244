"""Environment pinning: a version's recorded package versions against the installed ones.

The comparison is a property test (major/minor/patch, pre-releases, local versions,
garbage); ``shipyard doctor`` and ``shipyard models show`` are driven through the CLI
against a project whose version's row in the metadata database was edited to say it
was trained with scikit-learn 0.24.0.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

import shipyard
from helpers import record_environment
from shipyard.cli import cli
from shipyard.models import ModelVersion, check_environment
from shipyard.models.environment import PINNED, differs, running_environment
from shipyard.models.formats import FORMATS

SKLEARN = importlib_metadata.version("scikit-learn")

# -- the comparison ------------------------------------------------------------------

numbers = st.integers(0, 2000)
pre = st.sampled_from(["", "a1", "b2", "rc1", ".dev0", ".post1"])
local = st.sampled_from(["", "+cpu", "+cu121", "+local.7"])


def _version(major: int, minor: int, patch: int, suffix: str = "", label: str = "") -> str:
    return f"{major}.{minor}.{patch}{suffix}{label}"


@given(numbers, numbers, numbers, numbers, pre, pre, local, local)
def test_only_the_patch_pre_release_or_local_label_differ_is_a_match(
    major: int, minor: int, patch: int, other: int, a: str, b: str, x: str, y: str
) -> None:
    assert differs(_version(major, minor, patch, a, x), _version(major, minor, other, b, y)) is None


@given(numbers, numbers, numbers, numbers, numbers, pre, pre)
def test_another_minor_is_a_minor_mismatch(
    major: int, minor: int, other: int, p: int, q: int, a: str, b: str
) -> None:
    expected = None if minor == other else "minor"
    assert differs(_version(major, minor, p, a), _version(major, other, q, b)) == expected


@given(numbers, numbers, numbers, numbers)
def test_another_major_is_a_major_mismatch(major: int, other: int, minor: int, q: int) -> None:
    expected = None if major == other else "major"
    assert differs(_version(major, minor, 0), _version(other, minor, q)) == expected


@given(st.text(max_size=30), st.one_of(st.none(), st.text(max_size=30)))
def test_any_string_is_judged_without_crashing(recorded: str, installed: str | None) -> None:
    found = differs(recorded, installed)
    assert found in (None, "major", "minor", "missing", "unreadable")
    if installed is None:
        assert found == "missing"
    elif recorded.strip() == installed.strip():
        assert found is None


def test_examples() -> None:
    assert differs("1.5.2", "1.7.1") == "minor"
    assert differs("0.24.0", "1.5.2") == "major"
    assert differs("1.6.0rc1", "1.6.1") is None
    assert differs("2.3.0+cu121", "2.3.4") is None
    assert differs("1.6", "1.6.2") is None  # a missing patch is patch 0
    assert differs("1!1.0", "1.0") == "major"  # an epoch starts a new numbering
    assert differs("not a version", "1.0") == "unreadable"
    assert differs("1.0", None) == "missing"


def _version_with(environment: dict[str, object], model_format: str = "pickle") -> ModelVersion:
    """A version of ``model_format`` (a pickle may hold any library: all are compared)."""
    return ModelVersion("m", 3, "binary_classification", model_format, "k", "0" * 64, 1, ["a"],
                        environment=environment)  # fmt: skip


def test_a_format_library_the_version_does_not_load_with_is_not_compared() -> None:
    """LightGBM recorded because it was installed where a skops model trained: the image
    ``shipyard build`` writes leaves it out, so its absence is no mismatch there."""
    recorded = {"packages": {"scikit-learn": "1.5.2", "skops": "0.10.0", "lightgbm": "4.5.0",
                             "xgboost-cpu": "3.2.0", "onnxruntime": "1.20.1"}}  # fmt: skip
    here = {"scikit-learn": "1.5.0", "skops": "0.10.1"}
    check = check_environment(_version_with(recorded, "skops"), here)
    assert check.ok and [p.package for p in check.packages] == ["scikit-learn", "skops"]
    booster = check_environment(_version_with(recorded, "lightgbm"), here)
    assert (
        booster.summary() == "m@3 was trained with lightgbm 4.5.0; this environment has no lightgbm"
    )
    assert not check_environment(_version_with(recorded), here).ok  # a pickle: all of them


@given(
    st.dictionaries(
        st.sampled_from(["scikit-learn", "numpy", "xgboost-cpu", "pandas", "whatever"]),
        st.one_of(st.text(max_size=12), st.integers(), st.none()),
    ),
    st.one_of(st.none(), st.text(max_size=12), st.integers()),
)
def test_any_recorded_environment_is_checked_without_crashing(
    packages: dict[str, object], python: object
) -> None:
    check = check_environment(_version_with({"python": python, "packages": packages}))
    assert check.ok == (check.summary() == "")
    assert {p.package for p in check.packages} <= {"python", "scikit-learn", "numpy", "xgboost"}


def test_unrecorded_packages_are_ignored_and_a_missing_one_is_a_mismatch() -> None:
    here = {"python": "3.12.1", "scikit-learn": "1.5.0", "numpy": "2.1.0", "lightgbm": None}
    check = check_environment(
        _version_with({"python": "3.12.7", "packages": {"scikit-learn": "1.5.2", "pandas": "1.0"}}),
        here,
    )
    assert check.ok and [p.package for p in check.packages] == ["python", "scikit-learn"]
    check = check_environment(
        _version_with({"packages": {"scikit-learn": "1.4.2", "lightgbm": "4.5.0"}}), here
    )
    assert check.summary() == (
        "m@3 was trained with scikit-learn 1.4.2 and lightgbm 4.5.0; this environment has "
        "scikit-learn 1.5.0 (minor differs) and no lightgbm"
    )
    assert "pip install scikit-learn==1.4.2 lightgbm==4.5.0" in check.fix()
    assert check_environment(_version_with({}), here).ok  # recorded nothing: nothing to compare


def test_xgboost_cpu_and_xgboost_are_one_package() -> None:
    check = check_environment(
        _version_with({"packages": {"xgboost-cpu": "3.2.0"}}), {"xgboost": "3.2.1"}
    )
    assert check.ok and check.of("xgboost-cpu") is check.packages[0]


def test_the_fix_pins_the_distribution_the_version_recorded() -> None:
    check = check_environment(
        _version_with({"packages": {"xgboost-cpu": "2.1.0"}}), {"xgboost": "3.2.1"}
    )
    assert "pip install xgboost-cpu==2.1.0" in check.fix()


def test_every_format_library_is_pinned() -> None:
    pinned = {d for distributions in PINNED.values() for d in distributions}
    for spec in FORMATS.values():
        assert set(spec.distributions) <= pinned, f"add {spec.name}'s library to PINNED"


# -- doctor and models show, through the CLI -----------------------------------------

PROJECT = """\
project: env-test
datasets:
  loans:
    target: defaulted
    columns:
      amount: {type: float}
      age: {type: int}
      defaulted: {type: bool}
models:
  default-risk:
    owner: {name: risk-team, file: alerts.jsonl}
    task: binary_classification
    dataset: loans
    features: [amount, age]
"""


@pytest.fixture
def trained_elsewhere(tmp_path: Path) -> Iterator[Path]:
    """A project whose champion ``default-risk@1`` says it was trained with scikit-learn
    0.24.0 (its row edited in the metadata database)."""
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "shipyard.yaml").write_text(PROJECT)
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(0, 50, 200), rng.integers(18, 80, 200)])
    y = X[:, 0] > 25
    with shipyard.open(folder) as project:
        version = project.register(LogisticRegression().fit(X, y), "default-risk")
        project.models.alias(version.ref, "champion")
        record_environment(project, version.ref, {"scikit-learn": "0.24.0"})
    yield folder


def _cli(folder: Path, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["-C", str(folder), *args], env={"COLUMNS": "300"})
    assert "Traceback" not in result.output, result.output
    return result


def _strict(folder: Path) -> None:
    file = folder / "shipyard.yaml"
    file.write_text(file.read_text().replace("project: env-test\n", "project: env-test\nserver:\n  strict_environment: true\n"))  # fmt: skip


MISMATCH = (
    f"default-risk@1 was trained with scikit-learn 0.24.0; this environment has {SKLEARN} "
    "(major differs)"
)


def test_doctor_warns_of_a_champion_trained_with_another_scikit_learn(
    trained_elsewhere: Path,
) -> None:
    result = _cli(trained_elsewhere, "doctor")
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())  # a narrow terminal wraps the table's cells
    assert "environment default-risk@1" in flat and "(champion)" in flat and " warning " in flat
    flat = flat.replace(" (champion)", "", 1)  # the name cell's second line, between detail words
    assert MISMATCH in flat
    assert "pip install scikit-learn==0.24.0" in flat
    assert "all checks passed, 1 with a warning" in flat
    report = json.loads(_cli(trained_elsewhere, "doctor", "--json").output)
    [check] = [c for c in report["checks"] if c["name"].startswith("environment")]
    assert check["ok"] is True and check["warning"] is True and MISMATCH in check["detail"]
    assert report["ok"] is True and report["warnings"] == 1


def test_doctor_fails_under_strict_environment(trained_elsewhere: Path) -> None:
    _strict(trained_elsewhere)
    result = _cli(trained_elsewhere, "doctor")
    assert result.exit_code == 1, result.output
    flat = " ".join(result.output.split())  # a narrow terminal wraps the table's cells
    assert "environment default-risk@1" in flat and "(champion)" in flat and " FAILED " in flat
    flat = flat.replace(" (champion)", "", 1)  # the name cell's second line, between detail words
    assert MISMATCH in flat and "server.strict_environment refuses to serve it" in flat
    assert "set server.strict_environment: false" in flat
    report = json.loads(_cli(folder := trained_elsewhere, "doctor", "--json").output)
    [check] = [c for c in report["checks"] if c["name"].startswith("environment")]
    assert check["name"] == "environment default-risk@1 (champion)" and check["ok"] is False
    assert report["ok"] is False and folder.exists()


def test_doctor_passes_a_champion_trained_here(trained_elsewhere: Path) -> None:
    with shipyard.open(trained_elsewhere) as project:
        record_environment(project, "default-risk@1", {"scikit-learn": SKLEARN})
    _strict(trained_elsewhere)
    result = _cli(trained_elsewhere, "doctor")
    assert result.exit_code == 0, result.output
    assert "matches the recorded Python" in result.output
    assert "all checks passed" in result.output and "warning" not in result.output


def test_models_show_marks_the_mismatch(trained_elsewhere: Path) -> None:
    result = _cli(trained_elsewhere, "models", "show", "default-risk@1")
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert f"scikit-learn 0.24.0 (here {SKLEARN}, major differs)" in flat
    assert f"MISMATCH {MISMATCH}" in flat
    assert f"numpy {running_environment()['numpy']}," in flat  # a match is shown plainly
    card = json.loads(_cli(trained_elsewhere, "models", "show", "default-risk@1", "--json").output)
    check = card["environment_check"]
    assert check["ok"] is False and check["mismatch"] == MISMATCH
    [sklearn] = [p for p in check["packages"] if p["package"] == "scikit-learn"]
    assert sklearn == {
        "package": "scikit-learn", "recorded": "0.24.0", "installed": SKLEARN,
        "differs": "major", "ok": False,
    }  # fmt: skip
    assert card["environment"]["packages"]["scikit-learn"] == "0.24.0"  # the record, as stored
