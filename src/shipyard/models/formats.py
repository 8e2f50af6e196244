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
"""

from __future__ import annotations

import hashlib
import io
import logging
from typing import Any

from shipyard.errors import MissingDependencyError, ShipyardError, first_line

logger = logging.getLogger(__name__)
SUFFIX = {
    "skops": ".skops",
    "onnx": ".onnx",
    "lightgbm": ".lgb.txt",
    "xgboost": ".xgb.json",
    "pickle": ".joblib",
}


class ModelFormatError(ShipyardError, ValueError):
    """A model cannot be saved or loaded in the asked format, or is not a model at all."""

    http_status = 422


def detect_format(model: Any) -> str:
    """The safe format for a fitted ``model``, by its type."""
    module = type(model).__module__
    if module.startswith("lightgbm"):
        return "lightgbm"
    if module.startswith("xgboost"):
        return "xgboost"
    if module.startswith("onnx"):
        return "onnx"
    if isinstance(model, bytes | bytearray):  # a serialised ONNX model, as skl2onnx returns
        return "onnx"
    if module.startswith("sklearn") or hasattr(model, "get_params"):
        return "skops"
    raise ModelFormatError(
        f"cannot store a {type(model).__module__}.{type(model).__name__}: not a model shipyard "
        "knows how to store safely",
        hint="register a fitted scikit-learn estimator, an ONNX model, or a LightGBM/XGBoost "
        "model; or save it as format 'pickle' with 'trusted_pickle: true' for this model",
    )


def dump(model: Any, fmt: str) -> bytes:
    """``model`` as bytes in format ``fmt``."""
    try:
        if fmt == "skops":
            import skops.io as sio

            data: bytes = sio.dumps(model)
            return data
        if fmt == "onnx":
            return (
                bytes(model) if isinstance(model, bytes | bytearray) else model.SerializeToString()
            )
        if fmt == "lightgbm":
            booster = getattr(model, "booster_", model)
            return str(booster.model_to_string()).encode()
        if fmt == "xgboost":
            booster = model.get_booster() if hasattr(model, "get_booster") else model
            return bytes(booster.save_raw(raw_format="json"))
        if fmt == "pickle":
            import joblib

            buffer = io.BytesIO()
            joblib.dump(model, buffer)
            return buffer.getvalue()
    except ImportError as exc:
        raise _missing(fmt) from exc
    except Exception as exc:
        raise ModelFormatError(
            f"could not save the {type(model).__name__} as {fmt}: {exc}",
            hint="is it fitted? choose another format with the model's 'format' key",
        ) from exc
    raise ModelFormatError(f"unknown model format '{fmt}'; known: {', '.join(SUFFIX)}")


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
    try:
        if fmt == "skops":
            return _load_skops(data, trusted_types or [], where)
        if fmt == "onnx":
            import onnxruntime

            from .onnx_check import check_onnx  # imported here: it needs this module's error

            check_onnx(data, trusted_types or [], where)
            return onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
        if fmt == "lightgbm":
            import lightgbm

            _check_booster(data, fmt, where)
            return lightgbm.Booster(model_str=data.decode())
        if fmt == "xgboost":
            import xgboost

            _check_booster(data, fmt, where)
            booster = xgboost.Booster()
            booster.load_model(bytearray(data))
            return booster
        if fmt == "pickle":
            if not trusted_pickle or expected_sha256 is None:
                raise ModelFormatError(
                    f"{where} is a pickle, which runs code when loaded; refusing it",
                    hint="set 'trusted_pickle: true' for this model in shipyard.yaml if you trust "
                    "where it came from (its sha256 is checked against the registry), or re-save "
                    "it in a safe format",
                )
            import joblib

            model = joblib.load(io.BytesIO(data))
            _check_trees(model, where)
            return model
    except ImportError as exc:
        if isinstance(exc, MissingDependencyError):
            raise
        if exc.name and exc.name.split(".")[0] not in _PACKAGES.values() and exc.name != fmt:
            raise ModelFormatError(
                f"{where} needs the module '{exc.name}' to load, which cannot be imported",
                hint="put the module that defines the model's class beside shipyard.yaml "
                "(or install it) where the model is loaded",
            ) from exc
        raise _missing(fmt) from exc
    except ShipyardError as exc:
        if isinstance(exc, ModelFormatError):
            logger.warning("refused to load %s (%s): %s", where, fmt, exc.message)
        raise
    except Exception as exc:
        raise ModelFormatError(
            f"{where} is not a readable {fmt} model: {first_line(exc)}",
            hint="check that the file is the model itself, saved in the format it claims",
        ) from exc
    raise ModelFormatError(f"unknown model format '{fmt}'; known: {', '.join(SUFFIX)}")


def _load_skops(data: bytes, trusted_types: list[str], where: str) -> Any:
    import skops.io as sio

    from .trusted import refused_types

    untrusted = sio.get_untrusted_types(data=data)
    refused = refused_types(untrusted, trusted_types)
    if refused:
        listed = ", ".join(f"'{t}'" for t in [*trusted_types, *refused])  # the whole line
        raise ModelFormatError(
            f"{where} contains types that are not trusted: {', '.join(refused)}; "
            "refusing it (skops would rebuild them, and a function or an unknown class can "
            "run code when the model is loaded or used)",
            hint="if you have reviewed them and trust where the model came from, list them "
            f"under the model's trusted_types in shipyard.yaml: trusted_types: [{listed}]",
        )
    model = sio.loads(data, trusted=untrusted)
    _check_trees(model, where)
    return model


def _check_trees(model: Any, where: str) -> None:
    from .trees import check_trees  # imported here: it needs this module's error

    check_trees(model, where)


#: What the first bytes of each booster format must be (LightGBM text, XGBoost JSON or UBJSON).
_BOOSTER_START = {"lightgbm": (b"tree",), "xgboost": (b"{",)}


def _check_booster(data: bytes, fmt: str, where: str) -> None:
    """Refuse, unread, bytes that do not start like a ``fmt`` booster model (e.g. a pickle)."""
    head = data.lstrip()[:8]
    if not head.startswith(_BOOSTER_START[fmt]):
        looks = " (it looks like a pickle)" if head.startswith(b"\x80") else ""
        kind = "a LightGBM text model" if fmt == "lightgbm" else "an XGBoost JSON/UBJSON model"
        raise ModelFormatError(
            f"{where} is not a readable {fmt} model: it starts with {head!r}, not like "
            f"{kind}{looks}; refusing it unread",
            hint="save LightGBM models with booster.save_model()/model_to_string() and XGBoost "
            "models as JSON (booster.save_model('model.json')); shipyard never unpickles them",
        )


_PACKAGES = {
    "skops": "skops",
    "onnx": "onnxruntime",
    "lightgbm": "lightgbm",
    "xgboost": "xgboost",
    "pickle": "joblib",
}


def _missing(fmt: str) -> MissingDependencyError:
    package = _PACKAGES[fmt]
    extra = {"onnx": "onnx", "lightgbm": "lightgbm", "xgboost": "xgboost"}.get(fmt, "models")
    return MissingDependencyError(package, extra, f"a {fmt} model")
