"""Check an ONNX model before onnxruntime sees it: one self-contained file, standard operators.

- **No external data.** A tensor may keep its values in another file
  (``data_location: EXTERNAL`` and a ``location`` path). shipyard stores a model
  as one artifact, so such a path could only point at files of the machine that
  loads it (``/etc/passwd``, ``../../secrets``), whose bytes would become weights.
  Every tensor — initializers, sparse initializers, ``Constant`` attributes, in
  the main graph, every subgraph (``If``/``Loop``/``Scan``), every local function
  and every training graph — must hold its data inline.
- **Standard operator domains only.** Nodes must use the ONNX operator sets
  (``""``/``ai.onnx``, ``ai.onnx.ml``) or a function the model itself defines;
  any other domain (``com.microsoft``, a vendor's custom ops) is refused unless
  its name is listed in the model's ``trusted_types``. shipyard never loads a
  custom-operator library (``register_custom_ops_library`` is never called), so
  a trusted domain can only use operators onnxruntime has built in.

The check parses the protobuf with the ``onnx`` package, O(model size).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from shipyard.errors import MissingDependencyError

from .format_spec import ModelFormatError

STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})


def check_onnx(data: bytes, trusted_types: Iterable[str], where: str) -> None:
    """Refuse (``ModelFormatError``) an ONNX model with external data or non-standard operators."""
    try:
        import onnx
    except ImportError as exc:
        raise MissingDependencyError("onnx", "onnx", "checking an ONNX model") from exc
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:
        raise ModelFormatError(
            f"{where} is not a readable onnx model: {type(exc).__name__}",
            hint="check that the file is the model itself, saved in the format it claims",
        ) from None
    external = onnx.TensorProto.EXTERNAL
    for tensor in _tensors(model):
        if tensor.data_location == external or len(tensor.external_data):
            location = next((e.value for e in tensor.external_data if e.key == "location"), "?")
            raise ModelFormatError(
                f"{where}: tensor '{tensor.name}' keeps its data in an external file "
                f"('{location}'); refusing it (shipyard stores a model as one file, and the "
                "path would be read on the server)",
                hint="save the model with its weights inline, e.g. "
                "onnx.save_model(model, path, save_as_external_data=False)",
            )
    local = {(f.domain, f.name) for f in model.functions}
    allowed = STANDARD_DOMAINS | set(trusted_types)
    for node in _nodes(model):
        if node.domain in allowed or (node.domain, node.op_type) in local:
            continue
        raise ModelFormatError(
            f"{where}: node '{node.name or node.op_type}' uses operator '{node.op_type}' of "
            f"domain '{node.domain}', which is not a standard ONNX operator set; refusing it",
            hint=f"if you trust onnxruntime's built-in operators of '{node.domain}', list "
            f"'{node.domain}' under the model's trusted_types in shipyard.yaml (custom-operator "
            "libraries are never loaded)",
        )


def _graphs(model: Any) -> Iterator[Any]:
    """Every graph of ``model``: the main one, training graphs, and every subgraph inside them
    or inside the model's local functions."""
    todo = [model.graph]
    for info in model.training_info:
        todo += [info.initialization, info.algorithm]
    for function in model.functions:
        for node in function.node:
            todo.extend(_subgraphs(node))
    while todo:
        graph = todo.pop()
        yield graph
        for node in graph.node:
            todo.extend(_subgraphs(node))


def _subgraphs(node: Any) -> list[Any]:
    found = []
    for attribute in node.attribute:
        if attribute.HasField("g"):
            found.append(attribute.g)
        found.extend(attribute.graphs)
    return found


def _nodes(model: Any) -> Iterator[Any]:
    for graph in _graphs(model):
        yield from graph.node
    for function in model.functions:
        yield from function.node


def _tensors(model: Any) -> Iterator[Any]:
    for graph in _graphs(model):
        yield from graph.initializer
        for sparse in graph.sparse_initializer:
            yield from (sparse.values, sparse.indices)
    for node in _nodes(model):
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("sparse_tensor"):
                yield from (attribute.sparse_tensor.values, attribute.sparse_tensor.indices)
            for sparse in attribute.sparse_tensors:
                yield from (sparse.values, sparse.indices)
