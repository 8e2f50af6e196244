"""Environment pinning: does this Python environment match the one a version was trained in?

Every version records Python's and its packages' versions when it is registered
(``ModelVersion.environment``: ``{"python": "3.12.3", "packages": {"scikit-learn":
"1.5.2", ...}}``). A model file is only as portable as the library that reads it:
a scikit-learn estimator unpickled (or rebuilt by skops) under another minor
version may warn, fail, or quietly predict otherwise. So before a version is
served, its record is compared with what is installed here, for the packages
that read or run a model:

| pinned | distributions (either one counts) |
| --- | --- |
| Python | the interpreter |
| ``scikit-learn``, ``skops``, ``numpy``, ``lightgbm`` | the one of that name |
| ``xgboost`` | ``xgboost`` or ``xgboost-cpu`` |
| ``onnxruntime`` | ``onnxruntime`` or ``onnxruntime-gpu`` |

A difference in the major or minor version is a mismatch (a patch release is not:
``1.5.2`` and ``1.5.0`` match, and so do ``1.6.0rc1`` and ``1.6.1+local``); a
package recorded but not installed here is one; a package not recorded is not
compared, and neither is a format library the version's format does not load with
(LightGBM recorded because it was installed where a skops model trained: the image
``shipyard build`` writes leaves it out, so it must not count against that image); a version that cannot be read as a version (PEP 440) is a mismatch
unless both sides spell it the same. ``shipyard doctor`` warns of a champion's
mismatches, ``models show`` marks them, and the server logs them and shows them
in ``/readyz``; with ``server.strict_environment: true`` doctor fails and the
server refuses to load the version (:class:`EnvironmentMismatchError`).
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from typing import Any

from packaging.version import InvalidVersion, Version

from shipyard.errors import ShipyardError

from .registry import ModelVersion

PYTHON = "python"
#: Each pinned package by the name a version records it under, with the distributions
#: that provide it (the first one installed is the one compared).
PINNED: Mapping[str, tuple[str, ...]] = {
    "scikit-learn": ("scikit-learn",),
    "skops": ("skops",),
    "numpy": ("numpy",),
    "lightgbm": ("lightgbm",),
    "xgboost": ("xgboost", "xgboost-cpu"),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
}

MAJOR, MINOR, MISSING, UNREADABLE = "major", "minor", "missing", "unreadable"


class EnvironmentMismatchError(ShipyardError):
    """A version's recorded environment differs from this one, and ``strict_environment``
    refuses to load it."""

    http_status = 503


def differs(recorded: str, installed: str | None) -> str | None:
    """How ``installed`` differs from ``recorded``: ``major``, ``minor``, ``missing`` (not
    installed) or ``unreadable`` (not a version to compare); None when they match (the
    same major and minor version, whatever the patch, pre-release or local label)."""
    if installed is None:
        return MISSING
    if recorded.strip() == installed.strip():
        return None
    try:
        was, now = Version(recorded), Version(installed)
    except InvalidVersion:
        return UNREADABLE
    if (was.epoch, was.major) != (now.epoch, now.major):
        return MAJOR
    if was.minor != now.minor:
        return MINOR
    return None


@dataclass(frozen=True)
class PackageCheck:
    """One pinned package: the version recorded, the one installed here, how they differ."""

    package: str
    recorded: str
    installed: str | None
    differs: str | None
    distribution: str = ""
    """The distribution the version recorded (``xgboost-cpu`` for ``xgboost``); "" = ``package``."""

    @property
    def ok(self) -> bool:
        return self.differs is None

    @property
    def label(self) -> str:
        return "Python" if self.package == PYTHON else self.package

    def here(self) -> str:
        """What this environment has, as a mismatch is told: ``1.7.1 (minor differs)``."""
        if self.installed is None:
            return f"no {self.label}"
        if self.differs == UNREADABLE:
            return f"{self.installed} (the versions cannot be compared)"
        return f"{self.installed} ({self.differs} differs)"

    def note(self) -> str:
        """What is here, beside the recorded version: ``here 1.7.1, minor differs``."""
        if self.installed is None:
            return "not installed here"
        if self.differs == UNREADABLE:
            return f"here {self.installed}, cannot be compared"
        return f"here {self.installed}, {self.differs} differs"

    def as_dict(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "recorded": self.recorded,
            "installed": self.installed,
            "differs": self.differs,
            "ok": self.ok,
        }


@dataclass(frozen=True)
class EnvironmentCheck:
    """A version's recorded environment against this one, package by package."""

    ref: str
    packages: tuple[PackageCheck, ...]

    @property
    def mismatches(self) -> list[PackageCheck]:
        return [p for p in self.packages if not p.ok]

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def of(self, distribution: str) -> PackageCheck | None:
        """The check of the pinned package ``distribution`` (a name a version records) provides."""
        for check in self.packages:
            if distribution == check.package or distribution in PINNED.get(check.package, ()):
                return check
        return None

    def summary(self) -> str:
        """One sentence: ``m@3 was trained with scikit-learn 1.5.2; this environment has
        1.7.1 (minor differs)``, each package named when several differ; "" when it matches."""
        wrong = self.mismatches
        if not wrong:
            return ""
        trained = _and([f"{p.label} {p.recorded}" for p in wrong])
        if len(wrong) == 1:
            here = wrong[0].here()
        else:
            here = _and(
                [p.here() if p.installed is None else f"{p.label} {p.here()}" for p in wrong]
            )
        return f"{self.ref} was trained with {trained}; this environment has {here}"

    def fix(self, *, strict: bool = True) -> str:
        """How to make this environment match (``strict``: or how to stop refusing it)."""
        model = self.ref.split("@", 1)[0]
        pins = [
            f"{p.distribution or p.package}=={p.recorded}"
            for p in self.mismatches
            if p.package != PYTHON
        ]
        python = [p.recorded for p in self.mismatches if p.package == PYTHON]
        here = [f"Python {python[0]}"] if python else []
        if pins:
            here.append(f"pip install {' '.join(pins)}")
        steps = [
            f"install the recorded versions ({'; '.join(here)})",
            f"serve it from the image `shipyard build {model}` writes (it pins them)",
        ]
        if strict:
            steps.append("set server.strict_environment: false to load it anyway")
        return "; or ".join(steps)

    def refuse(self) -> EnvironmentMismatchError:
        """The error that refuses to load the version (``strict_environment``)."""
        return EnvironmentMismatchError(
            f"{self.summary()}; server.strict_environment refuses to load it", hint=self.fix()
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "packages": [p.as_dict() for p in self.packages],
            "mismatch": self.summary() or None,
        }


def check_environment(
    version: ModelVersion, installed: Mapping[str, str | None] | None = None
) -> EnvironmentCheck:
    """``version``'s recorded environment against ``installed`` (by default this one's,
    :func:`running_environment`): every pinned package it recorded, Python first."""
    here = running_environment() if installed is None else installed
    recorded = version.environment if isinstance(version.environment, dict) else {}
    packages = recorded.get("packages")
    packages = packages if isinstance(packages, dict) else {}
    checks = []
    python = recorded.get(PYTHON)
    if python is not None:
        checks.append(_check(PYTHON, str(python), here.get(PYTHON)))
    loads_with = _format_libraries(version.format)
    for package, distributions in PINNED.items():
        if loads_with is not None and package in _FORMAT_LIBRARIES and package not in loads_with:
            continue
        found = next((d for d in distributions if packages.get(d) is not None), None)
        if found is not None:
            checks.append(_check(package, str(packages[found]), here.get(package), found))
    return EnvironmentCheck(version.ref, tuple(checks))


#: The pinned packages that only load one model format (the rest load every version).
_FORMAT_LIBRARIES = frozenset({"skops", "lightgbm", "xgboost", "onnxruntime"})


def _format_libraries(model_format: str) -> set[str] | None:
    """The pinned packages a version of ``model_format`` loads with; None: any of them (a
    pickle may hold any, and an unknown format is compared in full)."""
    from .formats import FORMATS

    spec = FORMATS.get(model_format)
    if spec is None or not spec.distributions:
        return None
    return {
        package
        for package, distributions in PINNED.items()
        if set(distributions) & set(spec.distributions)
    }


def _check(
    package: str, recorded: str, installed: str | None, distribution: str = ""
) -> PackageCheck:
    return PackageCheck(package, recorded, installed, differs(recorded, installed), distribution)


@functools.cache
def running_environment() -> Mapping[str, str | None]:
    """Python's version and each pinned package's installed here (None: not installed);
    read once per process."""
    found: dict[str, str | None] = {PYTHON: platform.python_version()}
    for package, distributions in PINNED.items():
        found[package] = None
        for distribution in distributions:
            try:
                found[package] = importlib_metadata.version(distribution)
            except importlib_metadata.PackageNotFoundError:
                continue
            break
    return found


def _and(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
