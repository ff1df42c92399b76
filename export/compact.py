"""Dropping what a deployed quantized file does not need: long tensor names and cached shapes.

The quantizer adds three tensors per quantized edge (`<name>_QuantizeLinear_Output`,
`<name>_scale`, ...), so names alone are ~6% of an int8 file of the demo model. Internal tensor
names are renamed to short ids; graph inputs and outputs (the contract's names) and node names
(the contract's float-node list refers to them) are kept, except the quantizer's own Q/DQ
node names. `value_info` (shapes onnxruntime re-infers at load) is dropped.
"""

from __future__ import annotations

import onnx

_QDQ = ("QuantizeLinear", "DequantizeLinear")


def compact_names(proto: onnx.ModelProto) -> int:
    """Rename internal tensors (and Q/DQ nodes) in place to short ids; returns bytes saved."""
    before = proto.ByteSize()
    graph = proto.graph
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in graph.node for a in n.attribute):
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
