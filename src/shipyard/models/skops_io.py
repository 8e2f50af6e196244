"""``skops.io``, imported without scanning scikit-learn on every start.

When ``skops.io`` is imported, skops builds the type names it trusts by default
(``skops.io._trusted_types``): every scikit-learn estimator, found by
``sklearn.utils.all_estimators`` (which imports every module of scikit-learn), and
every NumPy and SciPy ufunc, each looked up across ``sys.modules``. On the
benchmark machine that is about 0.8 s and 340 modules in every server start, for
lists that depend only on the installed packages.

So shipyard keeps those lists, exactly as skops computed them, in a cache file
keyed by the versions and locations of Python, skops, scikit-learn, SciPy and
NumPy (as matplotlib keeps its font list): later imports give skops that module
ready-made, and skops trusts and refuses exactly the same type names. The first
import in an environment computes them as skops always does and writes the
file; an unreadable, foreign or malformed file is ignored (and replaced), and
where the cache folder cannot be written every import computes them as before.
The folder is ``$XDG_CACHE_HOME/shipyard`` (``~/.cache/shipyard``); whoever can
write there could widen what skops trusts, as whoever can write the packages'
own folders could change skops itself.

Call :func:`import_skops_io` where ``import skops.io`` was.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

TRUSTED_MODULE = "skops.io._trusted_types"
CACHE_FORMAT = 1  # bumped when what the file holds changes
KEYED_BY = ("skops", "sklearn", "scipy", "numpy")
"""The packages whose versions and locations decide the lists (with Python's)."""
REQUIRED = (
    "CONTAINER_TYPE_NAMES",
    "NUMPY_DTYPE_TYPE_NAMES",
    "NUMPY_RANDOM_BIT_GENERATOR_TYPE_NAMES",
    "NUMPY_UFUNC_TYPE_NAMES",
    "PRIMITIVE_TYPE_NAMES",
    "SCIPY_UFUNC_TYPE_NAMES",
    "SKLEARN_ESTIMATOR_TYPE_NAMES",
    "SKLEARN_INTERNAL_TYPE_NAMES",
)
"""The lists skops 0.16 imports from its trusted-types module; a file without one is not used."""


def cache_folder() -> Path:
    """Where the lists are kept: ``$XDG_CACHE_HOME/shipyard``, else ``~/.cache/shipyard``."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "shipyard"


def environment_key() -> dict[str, Any]:
    """What the lists depend on: Python, and each package's version and folder (imported
    here: scikit-learn, SciPy and NumPy are what a skops model loads with anyway)."""
    import importlib

    key: dict[str, Any] = {"format": CACHE_FORMAT, "python": sys.version}
    for name in KEYED_BY:
        module = importlib.import_module(name)
        key[name] = [getattr(module, "__version__", None), str(Path(module.__file__ or "").parent)]
    return key


def cache_file(key: dict[str, Any], folder: Path | None = None) -> Path:
    """The file of ``key``'s lists, in ``folder`` (default: :func:`cache_folder`)."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return (folder or cache_folder()) / f"skops-trusted-types-{digest}.json"


def trusted_names(module: types.ModuleType) -> dict[str, list[str]]:
    """The lists of type names a trusted-types module defines (``*_TYPE_NAMES``)."""
    return {
        name: list(value)
        for name, value in vars(module).items()
        if name.endswith("_TYPE_NAMES")
        and isinstance(value, list)
        and all(isinstance(item, str) for item in value)
    }


def read_cache(path: Path, key: dict[str, Any]) -> dict[str, list[str]] | None:
    """The lists in ``path`` if it was written for ``key`` and holds every required list."""
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("key") != json.loads(json.dumps(key)):
        return None
    names = stored.get("names")
    if not isinstance(names, dict) or not all(n in names for n in REQUIRED):
        return None
    for value in names.values():
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            return None
    return names


def write_cache(path: Path, key: dict[str, Any], names: dict[str, list[str]]) -> None:
    """Write the lists atomically (a reader sees the old file or the new one, never half)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=".skops-", suffix=".tmp")
        temporary = Path(name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump({"key": key, "names": names}, out)
            temporary.replace(path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    except OSError as exc:  # a read-only home: every start scans, as before
        logger.debug("could not keep skops's trusted types in %s: %s", path, exc)


def _forget_skops() -> None:
    for name in [m for m in sys.modules if m == "skops.io" or m.startswith("skops.io.")]:
        del sys.modules[name]


def import_skops_io() -> types.ModuleType:
    """``skops.io``, its trusted-types module from the cache when it matches this
    environment, else computed by skops (and kept for the next start)."""
    loaded = sys.modules.get("skops.io")
    if loaded is not None:
        return loaded
    import skops  # a missing skops fails here, as ``import skops.io`` would

    key = environment_key()
    path = cache_file(key)
    names = read_cache(path, key)
    if names is not None:
        ready = types.ModuleType(TRUSTED_MODULE, "skops's default trusted types, from the cache")
        ready.__file__ = str(path)
        vars(ready).update(names)
        sys.modules[TRUSTED_MODULE] = ready
        try:
            import skops.io  # now takes the lists from ``ready``

            return sys.modules["skops.io"]
        except ImportError as exc:  # this skops wants something the file lacks: scan
            logger.debug("skops did not take its trusted types from %s (%s)", path, exc)
            _forget_skops()
    import skops.io  # noqa: F401  # scans, as skops always does

    write_cache(path, key, trusted_names(sys.modules[TRUSTED_MODULE]))
    return sys.modules["skops.io"]
