"""The ``skops`` format (the default): scikit-learn estimators and pipelines.

skops rebuilds objects without running arbitrary code. Every type it does not
trust by default must be named exactly, in the model's ``trusted_types`` or in
shipyard's reviewed list (:mod:`shipyard.models.trusted`); then every decision
tree inside is checked (:mod:`shipyard.models.trees`).
"""

from __future__ import annotations

from typing import Any

from .format_spec import FormatSpec, LoadContext, ModelFormatError
from .predictor import sklearn_predictor
from .skops_io import import_skops_io
from .trees import check_trees
from .trusted import accepted_types, refused_types


def _dump(model: Any) -> bytes:
    sio = import_skops_io()  # skops.io, with its trusted types from the cache

    data: bytes = sio.dumps(model)
    return data


def _load(data: bytes, context: LoadContext) -> Any:
    sio = import_skops_io()  # skops.io, with its trusted types from the cache

    trusted_types = list(context.trusted_types)
    # one pass over the file: skops rebuilds it only if every type it does not trust by
    # default is accepted (the model's own list and shipyard's reviewed one), the same
    # rule as refused_types(); only a refusal reads the file again, to name the types
    try:
        model = sio.loads(data, trusted=sorted(accepted_types(trusted_types)))
    except sio.exceptions.UntrustedTypesFoundException:
        pass
    else:
        check_trees(model, context.where)
        return model
    untrusted = sio.get_untrusted_types(data=data)
    refused = refused_types(untrusted, trusted_types)
    if refused:
        listed = ", ".join(f"'{t}'" for t in [*trusted_types, *refused])  # the whole line
        raise ModelFormatError(
            f"{context.where} contains types that are not trusted: {', '.join(refused)}; "
            "refusing it (skops would rebuild them, and a function or an unknown class can "
            "run code when the model is loaded or used)",
            hint="if you have reviewed them and trust where the model came from, list them "
            f"under the model's trusted_types in shipyard.yaml: trusted_types: [{listed}]",
        )
    model = sio.loads(data, trusted=untrusted)
    check_trees(model, context.where)
    return model


def _is_estimator(model: Any) -> bool:
    return hasattr(model, "get_params")


SKOPS = FormatSpec(
    name="skops",
    suffix=".skops",
    package="skops",
    extra=None,
    dump=_dump,
    load=_load,
    predictor=sklearn_predictor,
    modules=("sklearn",),
    claims=_is_estimator,
    distributions=("skops",),
)
