"""A minimal reader of the protobuf wire format for the few ONNX ModelProto fields the runtime checks.

The runtime may not import `onnx`, yet it must look inside a model file before onnxruntime
loads it: which operator domains its nodes use (subgraphs and model-local functions included),
which initializers point at external data files, and its metadata. This reads exactly those
fields from the bytes and skips everything else by length, so weights are never copied.

Field numbers are those of onnx/onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto,
TensorProto, SparseTensorProto, FunctionProto, StringStringEntryProto); tests compare this reader
with the `onnx` package on real files.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

MAX_NESTING = 64
"""Deepest subgraph nesting accepted (If/Loop/Scan bodies); deeper files are refused as hostile."""

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message (truncated, corrupted or not protobuf)."""


@dataclass
class ModelSummary:
    """What the runtime needs to know about a model file before loading it."""

    ir_version: int = 0
    opsets: dict[str, int] = field(default_factory=dict)
    """Operator set imports: domain ("" is the ONNX domain) → version."""
    metadata: dict[str, str] = field(default_factory=dict)
    """ModelProto.metadata_props as key → value."""
    operators: set[tuple[str, str]] = field(default_factory=set)
    """(domain, op_type) of every node, in the main graph, every subgraph and every local function."""
    external_data: list[str] = field(default_factory=list)
    """The `location` of every tensor stored outside the file, in file order (may repeat)."""
    has_graph: bool = False


def read_varint(data: memoryview, pos: int) -> tuple[int, int]:
    """Decode one base-128 varint at `pos` → (value, position after it)."""
    value = shift = 0
    while True:
        if pos >= len(data):
            raise WireError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise WireError("varint longer than 10 bytes")


def iter_fields(data: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """Yield (field number, wire type, value) of one message; value is an int or a byte slice."""
    pos, end = 0, len(data)
    while pos < end:
        key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire == _VARINT:
            value, pos = read_varint(data, pos)
        elif wire == _BYTES:
            length, pos = read_varint(data, pos)
            if pos + length > end:
                raise WireError(f"field {number} claims {length} bytes but only {end - pos} remain")
            value, pos = data[pos : pos + length], pos + length
        elif wire in (_FIXED64, _FIXED32):
            size = 8 if wire == _FIXED64 else 4
            if pos + size > end:
                raise WireError(f"truncated fixed-width field {number}")
            value, pos = data[pos : pos + size], pos + size
        else:  # 3/4 are deprecated groups, 6/7 do not exist: ONNX never writes them
            raise WireError(f"unsupported wire type {wire} in field {number}")
        yield number, wire, value


def read_model(data: bytes | memoryview) -> ModelSummary:
    """Summarize a serialized ModelProto; raise WireError if the bytes are not well-formed."""
    summary = ModelSummary()
    for number, wire, value in iter_fields(memoryview(data)):
        if number == 1 and wire == _VARINT:
            summary.ir_version = value
        elif number == 8 and wire == _BYTES:
            fields = _scalars(value)
            summary.opsets[_text(fields.get(1, b""))] = int(fields.get(2, 0))
        elif number == 14 and wire == _BYTES:
            key, text = _entry(value)
            summary.metadata[key] = text
        elif number == 7 and wire == _BYTES:
            summary.has_graph = True
            _read_graph(value, summary, depth=1)
        elif number == 25 and wire == _BYTES:
            _read_function(value, summary)
    return summary


def _read_graph(data: memoryview, summary: ModelSummary, depth: int) -> None:
    if depth > MAX_NESTING:
        raise WireError(f"subgraphs nested deeper than {MAX_NESTING}")
    for number, wire, value in iter_fields(data):
        if wire != _BYTES:
            continue
        if number == 1:
            _read_node(value, summary, depth)
        elif number == 5:
            _read_tensor(value, summary)
        elif number == 15:
            _read_sparse_tensor(value, summary)


def _read_function(data: memoryview, summary: ModelSummary) -> None:
    for number, wire, value in iter_fields(data):
        if number == 7 and wire == _BYTES:
            _read_node(value, summary, depth=1)


def _read_node(data: memoryview, summary: ModelSummary, depth: int) -> None:
    op_type, domain = "", ""
    for number, wire, value in iter_fields(data):
        if wire != _BYTES:
            continue
        if number == 4:
            op_type = _text(value)
        elif number == 7:
            domain = _text(value)
        elif number == 5:
            _read_attribute(value, summary, depth)
    summary.operators.add((domain, op_type))


def _read_attribute(data: memoryview, summary: ModelSummary, depth: int) -> None:
    for number, wire, value in iter_fields(data):
        if wire != _BYTES:
            continue
        if number in (5, 10):  # t, tensors
            _read_tensor(value, summary)
        elif number in (22, 23):  # sparse_tensor, sparse_tensors
            _read_sparse_tensor(value, summary)
        elif number in (6, 11):  # g, graphs: If/Loop/Scan bodies
            _read_graph(value, summary, depth + 1)


def _read_tensor(data: memoryview, summary: ModelSummary) -> None:
    location, external = None, False
    for number, wire, value in iter_fields(data):
        if number == 14 and wire == _VARINT:
            external = value == _EXTERNAL
        elif number == 13 and wire == _BYTES:
            key, text = _entry(value)
            if key == "location":
                location = text
    if external:
        # An external tensor without a location is malformed; "" makes the caller refuse it.
        summary.external_data.append(location or "")


def _read_sparse_tensor(data: memoryview, summary: ModelSummary) -> None:
    for number, wire, value in iter_fields(data):
        if number in (1, 2) and wire == _BYTES:  # values, indices
            _read_tensor(value, summary)


def _entry(data: memoryview) -> tuple[str, str]:
    """A StringStringEntryProto → (key, value)."""
    fields = _scalars(data)
    return _text(fields.get(1, b"")), _text(fields.get(2, b""))


def _scalars(data: memoryview) -> dict[int, int | memoryview]:
    """The last value of each field of a small message (later fields win, as in protobuf)."""
    return {number: value for number, _, value in iter_fields(data)}


def _text(value: int | memoryview | bytes) -> str:
    if isinstance(value, int):
        raise WireError("expected a string field, found a number")
    return bytes(value).decode("utf-8", errors="replace")
