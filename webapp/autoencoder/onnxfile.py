"""ONNX files: the names and shapes of a model's weights, read straight from the file.

onnxruntime runs a graph but does not list its weights (initializers), and the ``onnx``
package would be a large dependency for one list. An ONNX file is a protocol-buffers
message, whose wire format is simple enough to walk here:

    ModelProto   field 7  graph        (a GraphProto)
    GraphProto   field 5  initializer  (repeated TensorProto)
    TensorProto  field 1  dims         (repeated int64, packed or not)
                 field 8  name         (string)

Every field is ``key = field_number << 3 | wire_type`` followed by a varint (type 0), 8
bytes (type 1), a length and that many bytes (type 2) or 4 bytes (type 5).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

_MODEL_GRAPH, _GRAPH_INITIALIZER, _TENSOR_DIMS, _TENSOR_NAME = 7, 5, 1, 8


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
    shapes: dict[str, tuple[int, ...]] = {}
    for number, _, graph in _fields(path.read_bytes()):
        if number != _MODEL_GRAPH or not isinstance(graph, bytes):
            continue
        for field, _, tensor in _fields(graph):
            if field != _GRAPH_INITIALIZER or not isinstance(tensor, bytes):
                continue
            name, dims = "", []
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
            shapes[name] = tuple(dims)
    return shapes
