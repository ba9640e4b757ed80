"""ONNX files: the names, shapes and values of a model's weights, read straight from the file.

onnxruntime runs a graph but does not list its weights (initializers), and the ``onnx``
package would be a large dependency for one list. An ONNX file is a protocol-buffers
message, whose wire format is simple enough to walk here:

    ModelProto   field 7  graph        (a GraphProto)
    GraphProto   field 5  initializer  (repeated TensorProto)
    TensorProto  field 1  dims         (repeated int64, packed or not)
                 field 2  data_type    (1 = FLOAT, 32-bit little-endian)
                 field 4  float_data   (repeated float, packed), or
                 field 9  raw_data     (bytes: the values, little-endian)
                 field 8  name         (string)

Every field is ``key = field_number << 3 | wire_type`` followed by a varint (type 0), 8
bytes (type 1), a length and that many bytes (type 2) or 4 bytes (type 5).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

_MODEL_GRAPH, _GRAPH_INITIALIZER, _TENSOR_DIMS, _TENSOR_NAME = 7, 5, 1, 8
_TENSOR_DATA_TYPE, _TENSOR_FLOAT_DATA, _TENSOR_RAW_DATA = 2, 4, 9
_FLOAT = 1


class MalformedOnnx(ValueError):
    """Bytes that are not a well-formed protocol-buffers message."""


def _varint(data: bytes, position: int) -> tuple[int, int]:
    """A base-128 varint at ``position``: (value, position after it)."""
    value = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise MalformedOnnx("truncated varint")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, position


def _fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """``(field number, wire type, value)`` of each field of one message."""
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire_type = key >> 3, key & 7
        value: int | bytes
        if wire_type == 0:
            value, position = _varint(data, position)
        elif wire_type == 1:
            value, position = data[position : position + 8], position + 8
        elif wire_type == 2:
            length, position = _varint(data, position)
            value, position = data[position : position + length], position + length
        elif wire_type == 5:
            value, position = data[position : position + 4], position + 4
        else:
            raise MalformedOnnx(f"unsupported wire type {wire_type}")
        if position > len(data):
            raise MalformedOnnx("truncated field")
        yield number, wire_type, value


@dataclass(frozen=True)
class _Initializer:
    name: str
    dims: tuple[int, ...]
    data_type: int
    data: bytes
    """raw_data, or float_data's packed bytes: both little-endian."""


def _initializers(data: bytes) -> Iterator[_Initializer]:
    """Every initializer (weight tensor) of the model in ``data``."""
    for number, _, graph in _fields(data):
        if number != _MODEL_GRAPH or not isinstance(graph, bytes):
            continue
        for field, _, tensor in _fields(graph):
            if field != _GRAPH_INITIALIZER or not isinstance(tensor, bytes):
                continue
            name, dims, data_type, values = "", [], 0, b""
            for tensor_field, wire_type, value in _fields(tensor):
                if tensor_field == _TENSOR_NAME and isinstance(value, bytes):
                    name = value.decode("utf-8")
                elif tensor_field == _TENSOR_DIMS and wire_type == 0 and isinstance(value, int):
                    dims.append(value)
                elif tensor_field == _TENSOR_DIMS and isinstance(value, bytes):  # packed
                    position = 0
                    while position < len(value):
                        dim, position = _varint(value, position)
                        dims.append(dim)
                elif tensor_field == _TENSOR_DATA_TYPE and isinstance(value, int):
                    data_type = value
                elif (tensor_field in (_TENSOR_RAW_DATA, _TENSOR_FLOAT_DATA)
                      and isinstance(value, bytes)):
                    values = value
            yield _Initializer(name, tuple(dims), data_type, values)


def initializer_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Every weight tensor of the ONNX file at ``path``: name to shape.

    >>> import tempfile
    >>> tensor = b"\\x08\\x02\\x08\\x03" + b"\\x42\\x01w"  # dims 2, 3; name "w"
    >>> graph = b"\\x2a" + bytes([len(tensor)]) + tensor
    >>> model = b"\\x3a" + bytes([len(graph)]) + graph
    >>> with tempfile.NamedTemporaryFile(suffix=".onnx") as file:
    ...     _ = file.write(model); file.flush()
    ...     initializer_shapes(Path(file.name))
    {'w': (2, 3)}
    """
    return {tensor.name: tensor.dims for tensor in _initializers(path.read_bytes())}


def float_initializers(path: Path) -> dict[str, NDArray[np.float32]]:
    """Every 32-bit float weight tensor of the ONNX file at ``path``: name to values.

    >>> import struct, tempfile
    >>> raw = struct.pack("<2f", 0.5, -2.0)
    >>> tensor = b"\\x08\\x02\\x10\\x01\\x42\\x01b\\x4a" + bytes([len(raw)]) + raw
    >>> graph = b"\\x2a" + bytes([len(tensor)]) + tensor
    >>> model = b"\\x3a" + bytes([len(graph)]) + graph
    >>> with tempfile.NamedTemporaryFile(suffix=".onnx") as file:
    ...     _ = file.write(model); file.flush()
    ...     float_initializers(Path(file.name))["b"].tolist()
    [0.5, -2.0]
    """
    arrays: dict[str, NDArray[np.float32]] = {}
    for tensor in _initializers(path.read_bytes()):
        if tensor.data_type != _FLOAT:
            continue
        count = 1
        for dim in tensor.dims:
            count *= dim
        if len(tensor.data) != 4 * count:
            raise MalformedOnnx(f"tensor {tensor.name!r} holds {len(tensor.data)} bytes, "
                                f"not the {4 * count} its shape {tensor.dims} needs")
        values = np.frombuffer(tensor.data, dtype="<f4").astype(np.float32).reshape(tensor.dims)
        values.setflags(write=False)
        arrays[tensor.name] = values
    return arrays
