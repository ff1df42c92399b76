"""Per-operator time and FLOPs of a model, read from onnxruntime's own profiling output.

Decision (the runtime may not import `onnx`): FLOPs are counted from the node events of an
onnxruntime profile of one run with graph optimizations disabled. Each event carries the node's
op type and the concrete input/output shapes of that run, which is all the FLOP formula of a
Conv, MatMul or Gemm needs — no `onnx` package, no shape inference, and dynamic axes are
resolved by the run itself. FLOPs are 2 x multiply-accumulates of the Conv/MatMul/Gemm family
(the work the float matmul limit is measured on); elementwise ops are not counted, and
op types outside that family that do heavy work (e.g. ConvTranspose) are listed as uncounted.

Time shares come from a separate profile with the optimizations the benchmark itself uses.
Components are the exporter's scope names (`/model/audio/frontend/Conv` → `audio/frontend`).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

# Ops whose FLOPs are counted; their quantized forms count the same multiply-accumulates.
_CONV = {"Conv", "FusedConv", "QLinearConv", "ConvInteger", "NhwcFusedConv"}
_MATMUL = {"MatMul", "FusedMatMul", "MatMulInteger", "QLinearMatMul", "MatMulIntegerToFloat", "DynamicQuantizeMatMul"}
_GEMM = {"Gemm", "FusedGemm", "QGemm"}
_HEAVY_UNCOUNTED = {"ConvTranspose", "Attention", "MultiHeadAttention", "LSTM", "GRU", "RNN", "Einsum", "STFT", "DFT"}
QUANTIZED_OPS = {"QLinearConv", "ConvInteger", "MatMulInteger", "QLinearMatMul", "MatMulIntegerToFloat",
                 "DynamicQuantizeMatMul", "QGemm", "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
                 "QLinearAdd", "QLinearMul", "QLinearGlobalAveragePool", "QLinearSigmoid", "QLinearLeakyRelu"}
QDQ_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}


def profile_runs(path: str | os.PathLike, feeds: dict[str, np.ndarray], threads: int, runs: int, optimized: bool = True) -> list[dict]:
    """Node events (chrome-trace dicts) of `runs` profiled runs, after one unprofiled warm-up run.

    The warm-up run's events are dropped: its first-touch allocations are not steady-state time.
    """
    import onnxruntime as ort

    from edgefuse.runtime.model_file import inspect_model, read_model_bytes

    data = read_model_bytes(Path(path))
    summary = inspect_model(data, Path(path))  # the same checks as every other load: domains, external data
    with tempfile.TemporaryDirectory(prefix="edgefuse-profile-") as folder:
        options = ort.SessionOptions()
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(folder) / "ort")
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.log_severity_level = 3
        if not optimized:
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        source = str(path) if summary.external_data else data  # external data resolves beside the file
        session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        for _ in range(runs + 1):
            session.run(None, feeds)
        events = json.loads(Path(session.end_profiling()).read_text(encoding="utf-8"))
    model_runs = sorted((e for e in events if e.get("name") == "model_run"), key=lambda e: e["ts"])
    warm_end = model_runs[0]["ts"] + model_runs[0]["dur"] if model_runs else -1
    return [
        e for e in events
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time") and e["ts"] > warm_end
    ]


GRAPH_LEVEL = "(graph level)"
"""Component of nodes outside any exporter scope (e.g. the ones onnxruntime adds)."""


def component_of(node_name: str, depth: int = 2) -> str:
    """Exporter scope of a node, `depth` levels below /model: `/model/audio/frontend/Conv_kernel_time` → `audio/frontend`."""
    parts = [p for p in node_name.removesuffix("_kernel_time").split("/") if p][:-1]
    if parts[:1] == ["model"]:
        parts = parts[1:]
    return "/".join(parts[:depth]) if parts else GRAPH_LEVEL


def fastest_node_ms(events: list[dict]) -> dict[str, float]:
    """Node → its fastest profiled run in ms: what it costs when no other process interrupts it."""
    fastest: dict[str, float] = {}
    for e in events:
        fastest[e["name"]] = min(fastest.get(e["name"], float("inf")), e["dur"] / 1000.0)
    return fastest


def op_time_summary(events: list[dict], runs: int, top: int = 10) -> dict:
    """Time per op type and per component, in ms per run, with shares of the node total.

    Returns {"node_ms", "node_ms_best", "top_ops": [{"op", "ms", "share", "nodes"}], "components":
    {name: share}, "frontend_share", "quantize_dequantize_share", "quantized_op_share"}.
    """
    by_op: dict[str, float] = defaultdict(float)
    by_component: dict[str, float] = defaultdict(float)
    nodes_of_op: dict[str, set] = defaultdict(set)
    for e in events:
        op = e["args"].get("op_name", "?")
        by_op[op] += e["dur"]
        nodes_of_op[op].add(e["name"])
        by_component[component_of(e["name"])] += e["dur"]
    total = sum(by_op.values()) or 1.0
    ranked = sorted(by_op.items(), key=lambda kv: -kv[1])
    return {
        "node_ms": total / runs / 1000.0,
        "node_ms_best": sum(fastest_node_ms(events).values()),
        "top_ops": [
            {"op": op, "ms": us / runs / 1000.0, "share": us / total, "nodes": len(nodes_of_op[op])}
            for op, us in ranked[:top]
        ],
        "components": {name: us / total for name, us in sorted(by_component.items(), key=lambda kv: -kv[1])},
        "frontend_share": sum(us for name, us in by_component.items() if "frontend" in name) / total,
        "quantize_dequantize_share": sum(by_op[op] for op in QDQ_OPS if op in by_op) / total,
        "quantized_op_share": sum(by_op[op] for op in QUANTIZED_OPS if op in by_op) / total,
    }


def _shapes(event: dict, key: str) -> list[list[int]]:
    return [next(iter(d.values())) for d in event["args"].get(key, [])]


def node_flops(event: dict) -> int | None:
    """2 x MACs of one Conv/MatMul/Gemm node from its profiled shapes; None for other op types."""
    op = event["args"].get("op_name")
    inputs, outputs = _shapes(event, "input_type_shape"), _shapes(event, "output_type_shape")
    if not outputs or not inputs:
        return None
    out = outputs[0]
    if op in _CONV:
        weight = inputs[3] if op == "QLinearConv" else inputs[1]  # QLinearConv: x, x_scale, x_zp, w, ...
        return 2 * math.prod(out) * math.prod(weight[1:])  # each output: Cin/group x kernel MACs
    if op in _MATMUL or op in _GEMM:
        a = inputs[0]
        rows = out[-2] if len(out) >= 2 else 1
        # K from A's last two dims covers transposed A (Gemm transA, FusedMatMul transA) alike.
        k = math.prod(a[-2:]) // rows if len(a) >= 2 else a[-1]
        return 2 * math.prod(out) * k
    return None


def count_flops(events: list[dict], runs: int) -> dict:
    """FLOPs per run of the profiled graph: {"flops", "by_op", "by_component", "uncounted_ops"}."""
    by_op: dict[str, int] = defaultdict(int)
    by_component: dict[str, int] = defaultdict(int)
    uncounted = set()
    for e in events:
        flops = node_flops(e)
        if flops is not None:
            by_op[e["args"]["op_name"]] += flops
            by_component[component_of(e["name"])] += flops
        elif e["args"].get("op_name") in _HEAVY_UNCOUNTED:
            uncounted.add(e["args"]["op_name"])
    return {
        "flops": sum(by_op.values()) // max(runs, 1),
        "by_op": {op: f // max(runs, 1) for op, f in sorted(by_op.items())},
        "by_component": {name: f // max(runs, 1) for name, f in sorted(by_component.items())},
        "uncounted_ops": sorted(uncounted),
    }
