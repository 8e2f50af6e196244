"""skops's default trusted types come from a cache file, and trust exactly what skops's own
scan trusts: the same lists, the same refusals (see ``shipyard.models.skops_io``)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as plain_sio
from hypothesis import given
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from shipyard.models.skops_io import (
    REQUIRED,
    cache_file,
    environment_key,
    read_cache,
    write_cache,
)

RUNSTRING = "numpy.testing._private.utils.runstring"  # exec(code, namespace)

# In a fresh interpreter: import skops through shipyard, load a good file and a crafted one
# through shipyard's loader, and say where the trusted types came from and what they are.
CHILD = """
import json, sys
from shipyard.models.formats import ModelFormatError, load
from shipyard.models.skops_io import trusted_names
good, bad = (open(p, 'rb').read() for p in sys.argv[1:3])
model = load(good, 'skops')
try:
    load(bad, 'skops', where='the crafted model')
    refused = None
except ModelFormatError as exc:
    refused = str(exc)
module = sys.modules['skops.io._trusted_types']
print(json.dumps({
    'from': module.__file__,
    'names': trusted_names(module),
    'predicts': model.predict_proba([[1.0, 2.0]]).tolist(),
    'refused': refused,
    # imported by skops's scan (every estimator's module), not by a model's load
    'scanned_all_of_sklearn': 'sklearn.gaussian_process' in sys.modules,
}))
"""


def files(folder: Path, marker: Path) -> tuple[Path, Path]:
    """A good skops file, and one whose attribute calls numpy's ``runstring`` on load."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2))
    model = LogisticRegression().fit(x, x[:, 0] > 0)
    good = folder / "good.skops"
    good.write_bytes(plain_sio.dumps(model))
    model.hook_ = (f"open({str(marker)!r}, 'w').close()", {})  # type: ignore[attr-defined]
    source = zipfile.ZipFile(io.BytesIO(plain_sio.dumps(model)))
    schema = json.loads(source.read("schema.json"))
    attrs = schema["content"]["content"]
    attrs["hook_"] = {
        "__class__": "runstring",
        "__module__": "numpy.testing._private.utils",
        "__loader__": "ConstructorFromReduceNode",
        "content": attrs["hook_"],
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            body = json.dumps(schema).encode() if name == "schema.json" else source.read(name)
            target.writestr(name, body)
    bad = folder / "bad.skops"
    bad.write_bytes(out.getvalue())
    return good, bad


def child(cache: Path, good: Path, bad: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(good), str(bad)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "XDG_CACHE_HOME": str(cache)},
    )
    assert result.returncode == 0, result.stderr
    found: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return found


@pytest.mark.slow
def test_cached_trusted_types_are_skops_own_refuse_the_same_and_a_foreign_file_is_ignored(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "pwned"
    good, bad = files(tmp_path, marker)
    cache = tmp_path / "cache"
    first = child(cache, good, bad)  # no cache yet: skops scans, shipyard keeps the lists
    assert first["from"].endswith("_trusted_types.py")
    kept = list((cache / "shipyard").glob("skops-trusted-types-*.json"))
    assert len(kept) == 1
    assert json.loads(kept[0].read_text())["names"] == first["names"]

    second = child(cache, good, bad)  # the next start: the lists from the file, no scan
    assert second["from"] == str(kept[0])
    assert not second["scanned_all_of_sklearn"]
    assert second["names"] == first["names"]
    assert set(REQUIRED) <= set(second["names"])
    for run in (first, second):
        assert run["refused"] is not None and RUNSTRING in run["refused"], run["refused"]
        assert "types that are not trusted" in run["refused"]
    assert second["predicts"] == first["predicts"]

    # a file that is not this environment's (here: trusting runstring) is scanned over
    stored = json.loads(kept[0].read_text())
    stored["key"]["skops"][0] = "0.0.1"
    stored["names"]["SKLEARN_ESTIMATOR_TYPE_NAMES"].append(RUNSTRING)
    kept[0].write_text(json.dumps(stored))
    third = child(cache, good, bad)
    assert third["from"].endswith("_trusted_types.py")  # scanned, not read
    assert third["names"] == first["names"]
    assert third["refused"] is not None and RUNSTRING in third["refused"]
    assert not marker.exists()


def test_a_cache_file_round_trips_and_any_other_content_is_refused(tmp_path: Path) -> None:
    key = environment_key()
    path = tmp_path / "trusted.json"
    names = {name: [f"pkg.{name.lower()}"] for name in REQUIRED}
    write_cache(path, key, names)
    assert read_cache(path, key) == names
    assert read_cache(path, {**key, "python": "another"}) is None
    assert read_cache(tmp_path / "missing.json", key) is None
    path.write_text("{not json")
    assert read_cache(path, key) is None
    assert cache_file(key) != cache_file({**key, "numpy": ["0.0", "/elsewhere"]})


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("skops-io")


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
    )
)
def test_whatever_a_cache_file_holds_reading_it_never_raises(scratch: Path, content: Any) -> None:
    """Only a file written for this key, with every list of strings, is ever used."""
    path = scratch / "cache.json"
    path.write_text(json.dumps(content))
    key = {"format": 1, "python": "x"}
    assert read_cache(path, key) is None
    path.write_text(json.dumps({"key": key, "names": content}))
    found = read_cache(path, key)
    assert found is None or (
        set(REQUIRED) <= set(found)
        and all(isinstance(v, list) and all(isinstance(i, str) for i in v) for v in found.values())
    )
