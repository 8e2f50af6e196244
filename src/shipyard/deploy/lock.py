"""The requirements lock of an image: the champions' recorded versions, then this machine's.

Every model version records the Python and the versions of the packages it was
trained with (``ModelVersion.environment``: ``{"python": "3.11.7", "packages":
{"scikit-learn": "1.5.2", …}}``). A model file is sensitive to those versions, so
the image pins them exactly. Every other distribution shipyard needs at run time
(its dependencies, and theirs, with the ``postgres``/``s3`` extras the project's
storage needs) is pinned to the version installed here, which is the one this
shipyard was run and tested with. Environment markers are evaluated for the
image's Python, on Linux.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Iterable, Mapping
from importlib import metadata

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from shipyard.models import ModelVersion

from .records import DeployError

_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_OWN = "shipyard"
#: model format -> the distributions that load it: the ``FormatSpec.distributions`` of
#: ``shipyard.models.formats.FORMATS`` (tests/deploy/test_lock.py pins the two). A training
#: run records every one installed; the image takes only its champion's format's (a pickle
#: may hold any of them, so it takes all).
FORMAT_DISTRIBUTIONS = {
    "skops": ("skops",),
    "lightgbm": ("lightgbm",),
    "xgboost": ("xgboost", "xgboost-cpu"),
    "onnx": ("onnxruntime",),
    "pickle": (),
}
_FORMAT_ONLY = frozenset(d for names in FORMAT_DISTRIBUTIONS.values() for d in names)


def image_python(champions: Iterable[ModelVersion]) -> str:
    """The one Python (``3.11.7``) every champion was trained on; refused when they differ."""
    seen: dict[str, list[str]] = {}
    for version in champions:
        python = str(version.environment.get("python") or "")
        seen.setdefault(python, []).append(version.ref)
    if "" in seen:
        raise DeployError(
            f"{', '.join(seen[''])} records no Python version, so the image cannot be pinned to it",
            hint="retrain or re-register it with this shipyard, then promote it",
        )
    if len(seen) > 1:
        shown = "; ".join(f"{', '.join(refs)} on Python {py}" for py, refs in sorted(seen.items()))
        raise DeployError(
            f"the champions were trained on different Pythons ({shown}); one image has one",
            hint="build one image per model: 'shipyard build NAME', or retrain on one Python",
        )
    python = next(iter(seen))
    if not _VERSION.match(python):
        raise DeployError(
            f"the champions' recorded Python '{python}' is not a release version (X.Y.Z)",
            hint="retrain on a released Python",
        )
    return python


def recorded_pins(champions: Iterable[ModelVersion]) -> dict[str, str]:
    """The package versions the champions recorded; two champions that differ are refused."""
    pins: dict[str, str] = {}
    owners: dict[str, str] = {}
    for version in champions:
        packages = version.environment.get("packages") or {}
        for name, pinned in packages.items():
            key = str(canonicalize_name(name))
            if key == _OWN:
                continue  # the image carries the shipyard that builds it (see the summary)
            if key in _FORMAT_ONLY and not _loads(version.format, key):
                continue  # installed when it trained, not needed to load this format
            if key in pins and pins[key] != pinned:
                raise DeployError(
                    f"{owners[key]} needs {name}=={pins[key]} but {version.ref} needs "
                    f"{name}=={pinned}; one image has one version of each package",
                    hint="build one image per model ('shipyard build NAME'), or retrain one of them",
                )
            pins[key], owners[key] = str(pinned), version.ref
    return pins


def lock(recorded: Mapping[str, str], *, python: str, extras: Iterable[str]) -> dict[str, str]:
    """Every distribution the image needs, pinned: ``recorded`` first, then what is installed.

    A dependency that is not installed here (an extra's driver, say) is kept with the
    range shipyard declares for it (``psycopg[binary]>=3.1``) under the key ``name``
    with a value starting with a comparison operator rather than a version.
    """
    markers = _marker_environment(python)
    pins: dict[str, str] = {}
    wanted = list(_requirements(_OWN, set(extras), markers))
    names = dict(recorded)
    while wanted:
        requirement = wanted.pop()
        key = str(canonicalize_name(requirement.name))
        if key in pins:
            continue
        version = names.get(key) or _installed(key)
        if version is None:
            pins[key] = str(requirement.specifier) or ""
            continue
        pins[key] = version
        wanted += _requirements(key, set(requirement.extras), markers)
    for key, version in recorded.items():
        pins.setdefault(key, version)  # a format package the model needs (skops, lightgbm…)
    return dict(sorted(pins.items()))


def lock_text(pins: Mapping[str, str], *, recorded: Mapping[str, str], header: str) -> str:
    """``requirements.lock``: one ``name==version`` a line, where each pin comes from."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    for name, version in pins.items():
        if version[:1].isdigit():
            source = "recorded by the champion" if name in recorded else "installed with shipyard"
            lines.append(f"{name}=={version}  # {source}")
        else:
            lines.append(f"{name}{version}  # not installed where the image was planned")
    return "\n".join(lines) + "\n"


def _loads(model_format: str, distribution: str) -> bool:
    needed = FORMAT_DISTRIBUTIONS.get(model_format)
    return needed is None or model_format == "pickle" or distribution in needed


def shipyard_version() -> str:
    """The version of the shipyard that builds the image (the one the image carries)."""
    return metadata.version(_OWN)


def _marker_environment(python: str) -> dict[str, str]:
    major_minor = ".".join(python.split(".")[:2])
    return {
        "python_version": major_minor,
        "python_full_version": python,
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": platform.machine() or "x86_64",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }


def _requirements(dist: str, extras: set[str], markers: dict[str, str]) -> list[Requirement]:
    try:
        declared = metadata.requires(dist) or []
    except metadata.PackageNotFoundError:
        return []
    found = []
    for line in declared:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.marker is None:
            found.append(requirement)
            continue
        for extra in sorted(extras) or [""]:
            if requirement.marker.evaluate({**markers, "extra": extra}):
                found.append(requirement)
                break
    return found


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
