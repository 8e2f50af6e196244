"""``import shipyard`` and ``shipyard --help`` stay light: the heavy libraries a command
needs (scipy for drift, scikit-learn, ONNX, Arrow, …) are imported when it runs, not
when the package loads. Checked in a fresh interpreter; no timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "jinja2", "joblib", "lightgbm", "matplotlib", "onnx", "onnxruntime", "pandas", "pyarrow",
    "scipy", "skl2onnx", "sklearn", "skops", "xgboost",
)  # fmt: skip

PROBE = """
import json, sys
import {module}
print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))
"""


def _loaded(module: str) -> set[str]:
    answer = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(json.loads(answer.stdout.splitlines()[-1]))


@pytest.fixture(scope="module", params=["shipyard", "shipyard.cli"])
def loaded(request: pytest.FixtureRequest) -> tuple[str, set[str]]:
    return request.param, _loaded(request.param)


@pytest.mark.slow
@pytest.mark.parametrize("heavy", HEAVY)
def test_importing_the_package_or_the_cli_loads_no_heavy_library(
    loaded: tuple[str, set[str]], heavy: str
) -> None:
    module, modules = loaded
    assert heavy not in modules, (
        f"`import {module}` imports {heavy}: import it inside the function that uses it"
    )
