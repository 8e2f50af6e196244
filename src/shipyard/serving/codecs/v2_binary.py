"""The binary tensor data extension of the Open Inference Protocol V2 (``binary_tensor_data``).

A request whose header ``Inference-Header-Content-Length: N`` is set has a JSON
object in its first N bytes and binary tensor data after it: each input whose
``parameters.binary_data_size`` is set takes that many bytes, in the order of
``inputs``. Data is little-endian, row-major, without padding; a ``BOOL`` element
is one byte (0 or 1), a ``BYTES`` element a 4-byte little-endian length and that
many bytes (UTF-8 text here). Every size is checked exactly: shape times element
size against ``binary_data_size``, the sizes' sum against the bytes after the JSON.

An answer carries an output as binary data when the request's output asks for it
(``outputs[].parameters.binary_data``) or, for an output that does not say,
when the request asks for all (``parameters.binary_data_output``). The answer is
then the JSON object, then each binary output's bytes in the order of
``outputs``, with ``Inference-Header-Content-Length`` giving the JSON's length.

This is what tritonclient's ``InferInput.set_data_from_numpy`` sends by default,
and what its ``InferResult`` reads.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import orjson

from shipyard.serving.http import parse_json
from shipyard.serving.validation import MalformedRequestError

from . import Reply

HEADER = b"inference-header-content-length"
"""The request and answer header giving the length of the JSON object before the data."""

OCTET_STREAM = b"application/octet-stream"

FIXED: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("u1"),
    "UINT8": np.dtype("u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BF16": np.dtype("<u2"),  # the upper half of a float32: widened below
}
"""Each datatype of fixed element size, as the NumPy type its bytes are read as."""

DATATYPES = (*FIXED, "BYTES")
_LENGTH = struct.Struct("<I")
_SPEC = "see the Open Inference Protocol's binary tensor data extension"


def split_body(raw: bytes, header_length: bytes | None) -> Any:
    """The request's JSON object, each binary input's values put into its ``data``.

    ``header_length`` is the ``Inference-Header-Content-Length`` header (``None``: the
    whole body is the JSON object, and no input may then say ``binary_data_size``).
    """
    if header_length is None:
        try:
            body, binary = parse_json(raw), memoryview(b"")
        except MalformedRequestError as exc:
            if exc.hint is None and "after document" in exc.message:
                exc.hint = (
                    "binary tensor data after the JSON object needs the header "
                    "Inference-Header-Content-Length: the byte length of the JSON object"
                )
            raise
    else:
        length = _header_length(header_length, len(raw))
        try:
            body = parse_json(raw[:length])
        except MalformedRequestError as exc:
            raise MalformedRequestError(
                f"Inference-Header-Content-Length is {length}, but the first {length} bytes "
                f"of the body are not one JSON object: {exc.message}",
                hint="the header gives the byte length of the JSON object that starts the "
                "body; the binary tensor data follows it",
            ) from None
        binary = memoryview(raw)[length:]
    _decode_inputs(body, binary)
    return body


def _header_length(value: bytes, body_size: int) -> int:
    text = value.strip()
    if not text.isdigit():
        raise MalformedRequestError(
            f"Inference-Header-Content-Length must be a whole number of bytes, got "
            f"{value[:40].decode('latin-1')!r}",
            hint="send the byte length of the JSON object that starts the body",
        )
    length = int(text)
    if length > body_size:
        raise MalformedRequestError(
            f"Inference-Header-Content-Length is {length}, but the body has only {body_size} bytes",
            hint="the header gives the byte length of the JSON object that starts the body",
        )
    return length


def _decode_inputs(body: Any, binary: memoryview) -> None:
    """Replace each binary input's missing ``data`` with its values (a flat list)."""
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list):
        if len(binary):
            raise MalformedRequestError(
                f"the body has {len(binary)} bytes of binary data after its JSON object, "
                "but no 'inputs' that say binary_data_size"
            )
        return  # the shape of the rest is the JSON codec's to refuse
    sized: list[tuple[str, dict[str, Any], int]] = []
    for index, tensor in enumerate(inputs):
        if not isinstance(tensor, dict):
            continue
        parameters = tensor.get("parameters")
        if parameters is None:
            continue
        where = _where(index, tensor)
        if not isinstance(parameters, dict):
            raise MalformedRequestError(f"{where}: 'parameters' must be an object")
        size = parameters.get("binary_data_size")
        if size is None:
            continue
        if type(size) is not int or size < 0:
            raise MalformedRequestError(
                f"{where}: parameters.binary_data_size must be a whole number of bytes, "
                f"got {orjson.dumps(size).decode()[:40]}"
            )
        if "data" in tensor:
            raise MalformedRequestError(
                f"{where}: has both 'data' and parameters.binary_data_size; send one",
                hint="binary_data_size says the values follow the JSON object as binary data",
            )
        sized.append((where, tensor, size))
    total = sum(size for _, _, size in sized)
    if total != len(binary):
        said = ", ".join(f"{where}: {size}" for where, _, size in sized) or "none"
        raise MalformedRequestError(
            f"the body has {len(binary)} bytes after its JSON object, but the inputs' "
            f"binary_data_size add up to {total} ({said})",
            hint="each input's binary_data_size must be the exact size of its data, and "
            "Inference-Header-Content-Length the exact size of the JSON object",
        )
    offset = 0
    for where, tensor, size in sized:
        tensor["data"] = _values(where, tensor, binary[offset : offset + size])
        offset += size


def _where(index: int, tensor: dict[str, Any]) -> str:
    name = tensor.get("name")
    return f"inputs[{index}] ({name})" if isinstance(name, str) else f"inputs[{index}]"


def _values(where: str, tensor: dict[str, Any], data: memoryview) -> list[Any]:
    """The tensor's elements, row-major, as plain Python values."""
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise MalformedRequestError(f"{where}: 'shape' must be a list of sizes")
    count = math.prod(shape)
    datatype = tensor.get("datatype")
    if datatype == "BYTES":
        return _strings(where, data, count)
    dtype = FIXED.get(datatype) if isinstance(datatype, str) else None
    if dtype is None:
        raise MalformedRequestError(
            f"{where}: datatype {orjson.dumps(datatype).decode()[:40]} is not one of "
            f"{', '.join(DATATYPES)}",
            hint=_SPEC,
        )
    expected = count * dtype.itemsize
    if expected != len(data):
        raise MalformedRequestError(
            f"{where}: shape {shape} of {datatype} takes {expected} bytes "
            f"({count} x {dtype.itemsize}), but binary_data_size is {len(data)}"
        )
    values = np.frombuffer(data, dtype=dtype)
    if datatype == "BOOL":
        if (values > 1).any():
            raise MalformedRequestError(
                f"{where}: a BOOL element is one byte, 0 or 1; got {int(values[values > 1][0])}"
            )
        return values.astype(bool).tolist()  # type: ignore[no-any-return]  # numpy's tolist is Any
    if datatype == "BF16":
        values = (values.astype(np.uint32) << 16).view(np.float32)
    return values.tolist()  # type: ignore[no-any-return]  # numpy's tolist is Any


def _strings(where: str, data: memoryview, count: int) -> list[Any]:
    """``count`` BYTES elements: each a 4-byte little-endian length and that many bytes."""
    size = len(data)
    values: list[Any] = []
    position = 0
    for element in range(count):
        if position + 4 > size:
            raise MalformedRequestError(
                f"{where}: binary_data_size {size} ends inside BYTES element {element} "
                f"of {count} (each is a 4-byte length and its bytes)"
            )
        (length,) = _LENGTH.unpack_from(data, position)
        position += 4
        if position + length > size:
            raise MalformedRequestError(
                f"{where}: BYTES element {element} says {length} bytes, but only "
                f"{size - position} are left of its binary_data_size {size}"
            )
        try:
            values.append(str(data[position : position + length], "utf-8"))
        except UnicodeDecodeError:
            raise MalformedRequestError(
                f"{where}: BYTES element {element} is not UTF-8 text"
            ) from None
        position += length
    if position != size:
        raise MalformedRequestError(
            f"{where}: its {count} BYTES elements take {position} bytes, but "
            f"binary_data_size is {size}"
        )
    return values


# -- answers -------------------------------------------------------------------------------
def wants_binary(body: Any) -> tuple[bool, dict[str, bool]]:
    """Whether every output is wanted as binary data, and what each named output says."""
    parameters = body.get("parameters") if isinstance(body, dict) else None
    every = bool(isinstance(parameters, dict) and parameters.get("binary_data_output"))
    named: dict[str, bool] = {}
    outputs = body.get("outputs") if isinstance(body, dict) else None
    for output in outputs if isinstance(outputs, list) else []:
        given = output.get("parameters") if isinstance(output, dict) else None
        if isinstance(given, dict) and isinstance(given.get("binary_data"), bool):
            named[str(output.get("name"))] = given["binary_data"]
    return every, named


def tensor_bytes(values: np.ndarray, datatype: str) -> bytes:
    """A tensor's binary data: row-major, little-endian (BYTES: length-prefixed UTF-8)."""
    flat = values.reshape(-1)
    if datatype == "BYTES":
        parts: list[bytes] = []
        for value in flat.tolist():
            encoded = value if isinstance(value, bytes) else str(value).encode()
            parts.append(_LENGTH.pack(len(encoded)))
            parts.append(encoded)
        return b"".join(parts)
    if datatype == "BOOL":
        return flat.astype(np.uint8).tobytes()
    return flat.astype(FIXED[datatype], copy=False).tobytes()


def binary_answer(answer: dict[str, Any], binary: dict[str, np.ndarray]) -> Reply:
    """``answer`` with the outputs named in ``binary`` sent as binary data after it."""
    chunks: list[bytes] = []
    for output in answer["outputs"]:
        values = binary.get(output["name"])
        if values is None:
            continue
        data = tensor_bytes(values, output["datatype"])
        del output["data"]
        output["parameters"] = {"binary_data_size": len(data)}
        chunks.append(data)
    head = orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)
    return Reply(
        head + b"".join(chunks),
        [(b"content-type", OCTET_STREAM), (HEADER, str(len(head)).encode())],
    )
