"""Model formats: save a fitted model to bytes and load it back, safely.

| format | what | how it is stored |
| --- | --- | --- |
| ``skops`` (default) | scikit-learn estimators and pipelines | skops, which rebuilds objects without running arbitrary code |
| ``onnx`` | ONNX models (e.g. from skl2onnx) | the ONNX protobuf, run with onnxruntime |
| ``lightgbm`` | LightGBM boosters and ``LGBM*`` estimators | LightGBM's own text model |
| ``xgboost`` | XGBoost boosters and ``XGB*`` estimators | XGBoost's own JSON model |
| ``pickle`` | anything | joblib; only for a model marked ``trusted_pickle: true``, and only bytes whose sha256 matches the registry |

What ``load`` checks, on registration and again on every load (a registered
artifact can itself be the malicious one):

- skops: every type skops does not trust by default must be named exactly, in the
  model's ``trusted_types`` or in shipyard's reviewed list of classes
  (:mod:`shipyard.models.trusted`) — never a module prefix, never a function by
  name; then every decision tree inside is checked (:mod:`shipyard.models.trees`)
  so that a crafted tree is refused instead of crashing ``predict``.
- ONNX: no external data, only standard operator domains unless trusted
  (:mod:`shipyard.models.onnx_check`); no custom-operator library is ever loaded.
- LightGBM and XGBoost: only their text and JSON/UBJSON models, never a pickle;
  other bytes are refused before the library parses them.

Each format is one :class:`~shipyard.models.format_spec.FormatSpec` in ``FORMATS``,
built in its own module (``format_skops``, ``format_onnx``, ``format_boosters``,
``format_pickle``); adding a format is one such module and one entry here (and
its name in ``config.schema.ModelFormat``, which a test pins to this table).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from shipyard.errors import MissingDependencyError, ShipyardError, first_line

from .format_boosters import LIGHTGBM, XGBOOST
from .format_onnx import ONNX
from .format_pickle import PICKLE
from .format_skops import SKOPS
from .format_spec import FormatSpec, LoadContext, ModelFormatError

__all__ = [
    "FORMATS",
    "SUFFIX",
    "FormatSpec",
    "LoadContext",
    "ModelFormatError",
    "detect_format",
    "dump",
    "load",
]

logger = logging.getLogger(__name__)

#: Every model format by name, in the order ``config.schema.ModelFormat`` lists them.
FORMATS: Mapping[str, FormatSpec] = MappingProxyType(
    {spec.name: spec for spec in (SKOPS, ONNX, LIGHTGBM, XGBOOST, PICKLE)}
)
#: The stored artifact's suffix, by format.
SUFFIX = {name: spec.suffix for name, spec in FORMATS.items()}


def detect_format(model: Any) -> str:
    """The safe format for a fitted ``model``: by the module of its type, else by its look."""
    module = type(model).__module__
    for spec in FORMATS.values():
        if module.startswith(spec.modules):
            return spec.name
    for spec in FORMATS.values():
        if spec.claims(model):
            return spec.name
    raise ModelFormatError(
        f"cannot store a {type(model).__module__}.{type(model).__name__}: not a model shipyard "
        "knows how to store safely",
        hint="register a fitted scikit-learn estimator, an ONNX model, or a LightGBM/XGBoost "
        "model; or save it as format 'pickle' with 'trusted_pickle: true' for this model",
    )


def dump(model: Any, fmt: str) -> bytes:
    """``model`` as bytes in format ``fmt``."""
    spec = _spec(fmt)
    try:
        return spec.dump(model)
    except ImportError as exc:
        raise spec.missing() from exc
    except Exception as exc:
        raise ModelFormatError(
            f"could not save the {type(model).__name__} as {fmt}: {exc}",
            hint="is it fitted? choose another format with the model's 'format' key",
        ) from exc


def load(
    data: bytes,
    fmt: str,
    *,
    trusted_types: list[str] | None = None,
    trusted_pickle: bool = False,
    expected_sha256: str | None = None,
    where: str = "the model",
) -> Any:
    """Rebuild the model saved in ``data``; refuse what is not safe or not what was registered."""
    if expected_sha256 is not None and hashlib.sha256(data).hexdigest() != expected_sha256:
        raise ModelFormatError(
            f"{where}: the bytes do not match the sha256 registered for them; refusing to load",
            hint="the artifact changed after registration; register the model again",
        )
    spec = _spec(fmt)
    context = LoadContext(tuple(trusted_types or ()), trusted_pickle, expected_sha256, where)
    try:
        return spec.load(data, context)
    except ImportError as exc:
        if isinstance(exc, MissingDependencyError):
            raise
        packages = {s.package for s in FORMATS.values()}
        if exc.name and exc.name.split(".")[0] not in packages and exc.name != fmt:
            raise ModelFormatError(
                f"{where} needs the module '{exc.name}' to load, which cannot be imported",
                hint="put the module that defines the model's class beside shipyard.yaml "
                "(or install it) where the model is loaded",
            ) from exc
        raise spec.missing() from exc
    except ShipyardError as exc:
        if isinstance(exc, ModelFormatError):
            logger.warning("refused to load %s (%s): %s", where, fmt, exc.message)
        raise
    except Exception as exc:
        raise ModelFormatError(
            f"{where} is not a readable {fmt} model: {first_line(exc)}",
            hint="check that the file is the model itself, saved in the format it claims",
        ) from exc


def _spec(fmt: str) -> FormatSpec:
    spec = FORMATS.get(fmt)
    if spec is None:
        raise ModelFormatError(f"unknown model format '{fmt}'; known: {', '.join(FORMATS)}")
    return spec
