"""The ``pickle`` format: anything joblib can store, for a model the project trusts.

Only for a model marked ``trusted_pickle: true``, and only bytes whose sha256
matches the registry; never chosen by detection. Trees inside are checked
(:mod:`shipyard.models.trees`).
"""

from __future__ import annotations

import io
from typing import Any

from .format_spec import FormatSpec, LoadContext, ModelFormatError
from .predictor import sklearn_predictor
from .trees import check_trees


def _dump(model: Any) -> bytes:
    import joblib

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


def _load(data: bytes, context: LoadContext) -> Any:
    if not context.trusted_pickle or context.expected_sha256 is None:
        raise ModelFormatError(
            f"{context.where} is a pickle, which runs code when loaded; refusing it",
            hint="set 'trusted_pickle: true' for this model in shipyard.yaml if you trust "
            "where it came from (its sha256 is checked against the registry), or re-save "
            "it in a safe format",
        )
    import joblib

    model = joblib.load(io.BytesIO(data))
    check_trees(model, context.where)
    return model


PICKLE = FormatSpec(
    name="pickle",
    suffix=".joblib",
    package="joblib",
    extra=None,
    dump=_dump,
    load=_load,
    predictor=sklearn_predictor,
)
