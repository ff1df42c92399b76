"""Dropping what a deployed quantized file does not need: long tensor names, cached shapes and
copies of the same constant.

The quantizer adds three tensors per quantized edge (`<name>_QuantizeLinear_Output`,
`<name>_scale`, ...), so names alone are ~6% of an int8 file of the demo model. Internal tensor
names are renamed to short ids; graph inputs and outputs (the contract's names) and node names
(the contract's float-node list refers to them) are kept, except the quantizer's own Q/DQ
node names. `value_info` (shapes onnxruntime re-infers at load) is dropped. The quantizer also
gives each consumer of a shared constant its own copy (the attention head masks: four 2 KB
copies in the demo model); identical initializers are merged.
"""

from __future__ import annotations

import onnx
from onnx import numpy_helper

_QDQ = ("QuantizeLinear", "DequantizeLinear")


def _has_subgraphs(graph: onnx.GraphProto) -> bool:
    """If/Loop/Scan bodies may name tensors of the outer graph: renaming or merging there is left alone."""
    return any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in graph.node for a in n.attribute)


def compact_names(proto: onnx.ModelProto) -> int:
    """Rename internal tensors (and Q/DQ nodes) in place to short ids; returns bytes saved."""
    before = proto.ByteSize()
    graph = proto.graph
    if _has_subgraphs(graph):
        return 0  # names in subgraphs may refer to outer tensors: leave such graphs alone
    keep = {t.name for t in graph.input} | {t.name for t in graph.output} | {""}
    names: dict[str, str] = {}

    def short(name: str) -> str:
        if name in keep:
            return name
        return names.setdefault(name, f"t{len(names):x}")

    for init in graph.initializer:
        init.name = short(init.name)
    for node in graph.node:
        node.input[:] = [short(n) for n in node.input]
        node.output[:] = [short(n) for n in node.output]
        if node.op_type in _QDQ:
            node.name = f"q{len(names):x}_{node.op_type[0]}"
        node.ClearField("doc_string")
    del graph.value_info[:]
    return before - proto.ByteSize()


def merge_duplicate_initializers(proto: onnx.ModelProto) -> int:
    """Point every consumer of an initializer at the first one equal to it and drop the copies; returns how many were dropped."""
    graph = proto.graph
    if _has_subgraphs(graph):
        return 0  # subgraphs may name an initializer of the outer graph
    named = {t.name for t in graph.input} | {t.name for t in graph.output}
    first: dict[tuple, str] = {}
    alias: dict[str, str] = {}
    for init in graph.initializer:
        if init.name not in named:
            key = (init.data_type, tuple(init.dims), numpy_helper.to_array(init).tobytes())
            if first.setdefault(key, init.name) != init.name:
                alias[init.name] = first[key]
    if alias:
        for node in graph.node:
            node.input[:] = [alias.get(n, n) for n in node.input]
        kept = [t for t in graph.initializer if t.name not in alias]
        graph.ClearField("initializer")
        graph.initializer.extend(kept)
    return len(alias)


def sort_topologically(proto: onnx.ModelProto) -> None:
    """Reorder nodes so each comes after the producers of its inputs (the float16 converter appends
    its Cast nodes at the end; onnxruntime accepts that, `onnx.checker` rightly does not)."""
    graph = proto.graph
    ready = {t.name for t in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        still = [n for n in pending if not all(i in ready for i in n.input)]
        done = [n for n in pending if all(i in ready for i in n.input)]
        if not done:
            raise ValueError(f"graph has a cycle or a dangling input at node {still[0].name!r}")
        for node in done:
            ready.update(node.output)
        ordered += done
        pending = still
    graph.ClearField("node")
    graph.node.extend(ordered)
