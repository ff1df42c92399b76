"""`--mode auto`: time candidate int8 plans on this machine and keep int8 only where it is faster.

Candidates: every quantizable scope alone (image CNN, audio CNN, text blocks, fusion, ...), all
scopes with Conv/MatMul/Gemm only, all scopes with every op type, and the union of the scopes
that were faster alone. Then, per layer: one onnxruntime profile of the widest candidate (every
scope, every op type) and one of the float parent show which layers' int8 kernels (with their Q/DQ) take longer than
their float kernels — on AVX2 without VNNI, e.g., a convolution over one or three input
channels — and a last candidate keeps those layers float. Each is timed interleaved with the float parent at
batch 1 and 32, and the contenders for the fastest are timed again together, longer.
`prefer speed` takes the fastest plan not slower than float at either batch that holds the
accuracy budget (re-timed after the accuracy repair); `prefer size` the smallest that holds it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from edgefuse.export.quantize import plans
from edgefuse.export.quantize.config import Prefer, QuantizeError
from edgefuse.export.quantize.latency import batch_of, median_latency_ms, ratios
from edgefuse.runtime.bench.ort_profile import GRAPH_LEVEL, component_of, fastest_node_ms, profile_runs

BATCHES = (1, 32)


def choose_plan(job, base: plans.Plan, repair: Callable) -> tuple[plans.Plan, Path, list[dict], dict]:
    """(plan, model, accuracy-repair steps, decision record) — or QuantizeError if no plan qualifies."""
    candidates = _candidates(job, base)
    built = {p.name: job.build(p, f"auto{i}") for i, p in enumerate(candidates)}
    table = _time(job, built)
    alone = [p for p in candidates if p.components and len(p.components) == 1]
    faster = [p for p in alone if _not_slower(table[p.name], strict=True)]
    if 1 < len(faster) < len(alone):  # every scope faster: their union is "all scopes, Conv/MatMul/Gemm", timed already
        union = plans.Plan("faster scopes: " + ", ".join(c for p in faster for c in p.components),
                           tuple(c for p in faster for c in p.components), plans.COMPUTE_OPS, base.float_nodes)
        candidates.append(union)
        built[union.name] = job.build(union, f"auto{len(candidates)}")
        table.update(_time(job, {union.name: built[union.name]}))
    widest = next(p for p in candidates if p.components is None and p.op_types == plans.WIDE_OPS)  # pruned layer by layer
    per_layer = _per_layer_plan(job, widest, built[widest.name])
    if per_layer is not None:
        candidates.append(per_layer)
        built[per_layer.name] = job.build(per_layer, f"auto{len(candidates)}")
        table.update(_time(job, {per_layer.name: built[per_layer.name]}))
    for p in candidates:
        table[p.name]["bytes"] = built[p.name].stat().st_size
    _runoff(job, candidates, built, table)
    order = _ranked(candidates, table, job.config.prefer)
    if not order:
        best = min(table.items(), key=lambda kv: kv[1]["ratio"]["32"])
        raise QuantizeError(f"no int8 plan is as fast as the FP32 parent on this machine (best: {best[0]}, "
                            f"{best[1]['ratio']['1']:.2f}x at batch 1, {best[1]['ratio']['32']:.2f}x at batch 32); "
                            "ship the float model, or pass --prefer size to write the smallest int8 model anyway")
    failures = []
    for plan in order:
        try:
            final, model, steps = repair(job, plan, name=f"auto-{candidates.index(plan)}")
        except QuantizeError as e:
            failures.append(f"{plan.name}: {e}")
            continue
        if final is not plan:  # float nodes were added: the timing must be redone
            table[f"{plan.name} (after accuracy repair)"] = {**_time(job, {"x": model})["x"], "bytes": model.stat().st_size}
            if job.config.prefer is Prefer.SPEED and not _not_slower(table[f"{plan.name} (after accuracy repair)"], strict=False):
                failures.append(f"{plan.name}: slower than float after the accuracy repair")
                continue
        return final, model, steps, {"prefer": job.config.prefer.value, "chosen": plan.name, "candidates": table, "rejected": failures}
    raise QuantizeError("no int8 plan both holds the accuracy budget and is not slower than float: " + " | ".join(failures))


def _candidates(job, base: plans.Plan) -> list[plans.Plan]:
    proto = job.prepared.proto
    components = plans.node_components(proto)
    # One candidate per encoder / the fusion block: the first level of the exporter scope.
    scopes = sorted({c.split("/")[0] for c in components.values() if c != GRAPH_LEVEL})
    every = [plans.Plan("all scopes, Conv/MatMul/Gemm", None, plans.COMPUTE_OPS, base.float_nodes),
             plans.Plan("all scopes, compute + cheap ops", None, plans.WIDE_OPS, base.float_nodes)]
    return every + [plans.Plan(scope, (scope,), plans.COMPUTE_OPS, base.float_nodes) for scope in scopes if _has_compute(proto, components, scope)]


def layer_of(node_name: str) -> str:
    """The model layer a node belongs to: its exporter scope four levels below /model, "" outside it.

    `/model/audio/cnn/convs/convs.1/convs.1.0/Conv` (float, or its QLinearConv) and the fused
    `/model/audio/cnn/convs/convs.1/convs.1.2/Relu_output_0_nchwc` → `audio/cnn/convs/convs.1`;
    a Q/DQ node is named after the tensor it quantizes, so it counts to the layer producing it.
    """
    layer = component_of(node_name, depth=4)
    return "" if layer == GRAPH_LEVEL else layer


PROFILE_RUNS = {1: 100, 32: 20}
LAYER_LOSS = 0.01
"""A layer stays float when its int8 kernels (Q/DQ included) take longer than its float kernels by
more than this share of the float model's kernel time, averaged over batch 1 and 32. A share of
the whole, not a per-layer ratio: tiny layers' ratios are noise, and keeping a large layer float
for a small gain would give up most of the size."""


def _per_layer_plan(job, plan: plans.Plan, model: Path) -> plans.Plan | None:
    """`plan` with the layers kept float whose int8 kernels cost the model more than `LAYER_LOSS`
    of its time, from one onnxruntime profile of each model per batch size; None if none does."""
    loss: dict[str, float] = {}
    detail: dict[str, list[str]] = {}
    for batch, runs in PROFILE_RUNS.items():
        feeds = batch_of(job.reference.feeds, batch)
        float_ms, int8_ms = (_layer_ms(profile_runs(path, feeds, os.cpu_count() or 1, runs)) for path in (job.parent, model))
        total = sum(float_ms.values())
        for layer, ms in float_ms.items():
            quantized = int8_ms.get(layer, ms)
            loss[layer] = loss.get(layer, 0.0) + (quantized - ms) / total / len(PROFILE_RUNS)
            detail.setdefault(layer, []).append(f"batch {batch}: {ms:.3f} ms float, {quantized:.3f} ms int8")
    slow = {layer for layer, share in loss.items() if share > LAYER_LOSS}
    proto = job.prepared.proto
    kept = {n.name: f"int8 slower in this layer on this machine ({'; '.join(detail[layer_of(n.name)])}; onnxruntime profile)"
            for n in proto.graph.node
            if n.op_type in plan.op_types and n.name not in plan.float_nodes and layer_of(n.name) in slow}
    if not kept:
        return None
    return plans.Plan(f"{plan.name}, float where int8 is slower", plan.components, plan.op_types, {**plan.float_nodes, **kept})


def _layer_ms(events: list[dict]) -> dict[str, float]:
    """Layer → ms per run: each node's fastest profiled run, summed (other processes only add time)."""
    out: dict[str, float] = {}
    for name, ms in fastest_node_ms(events).items():
        layer = layer_of(name)
        if layer:
            out[layer] = out.get(layer, 0.0) + ms
    return out


def _mean_ratio(row: dict) -> float:
    return (row["ratio"]["1"] + row["ratio"]["32"]) / 2


def _has_compute(proto, components: dict[str, str], scope: str) -> bool:
    return any(n.op_type in plans.COMPUTE_OPS and components[n.name].startswith(scope) for n in proto.graph.node)


RUNOFF = 0.10
RUNOFF_RUNS = 3
"""Plans within `RUNOFF` of the fastest mean ratio are timed again, all together and with
`RUNOFF_RUNS` times the runs: the first timings come in separate batches of candidates, and on a
shared machine one of them can be off by 5–10%, enough to crown the wrong plan."""


def _runoff(job, candidates: list[plans.Plan], built: dict[str, Path], table: dict) -> None:
    """Re-time the contenders for the fastest plan together; their first timings stay as `screening_ratio`."""
    eligible = [p.name for p in candidates if _not_slower(table[p.name], strict=False)]
    if len(eligible) < 2:
        return
    best = min(_mean_ratio(table[name]) for name in eligible)
    contenders = [name for name in eligible if _mean_ratio(table[name]) <= best + RUNOFF]
    if len(contenders) < 2:
        return
    again = _time(job, {name: built[name] for name in contenders}, runs=RUNOFF_RUNS * job.config.timing_runs)
    for name, row in again.items():
        table[name] = {**row, "bytes": table[name]["bytes"], "screening_ratio": table[name]["ratio"]}


def _time(job, models: dict[str, Path], runs: int | None = None) -> dict[str, dict]:
    """Name → {"ms": {batch: median ms}, "ratio": {batch: vs float}}, timed interleaved with the parent."""
    latency = median_latency_ms({"float": job.parent, **models}, job.reference.feeds, BATCHES, runs or job.config.timing_runs)
    r = ratios(latency, "float")
    return {name: {"ms": {str(b): latency[name][b] for b in BATCHES}, "float_ms": {str(b): latency["float"][b] for b in BATCHES},
                   "ratio": {str(b): r[name][b] for b in BATCHES}} for name in models}


def _not_slower(row: dict, strict: bool) -> bool:
    """At most float's latency at every batch size (`strict`: and faster at batch 32)."""
    fine = all(row["ratio"][str(b)] <= 1.0 for b in BATCHES)
    return fine and (row["ratio"]["32"] < 1.0 if strict else True)


SAME_SPEED = 0.03
"""Plans whose mean latency ratio is within this of the fastest are as fast, within timing noise;
the smallest of them wins."""


def _ranked(candidates: list[plans.Plan], table: dict, prefer: Prefer) -> list[plans.Plan]:
    if prefer is Prefer.SIZE:
        return sorted(candidates, key=lambda p: table[p.name]["bytes"])
    eligible = [p for p in candidates if _not_slower(table[p.name], strict=False)]
    if not eligible:
        return []
    speed = {p.name: _mean_ratio(table[p.name]) for p in eligible}
    best = min(speed.values())
    tied = sorted((p for p in eligible if speed[p.name] <= best + SAME_SPEED), key=lambda p: table[p.name]["bytes"])
    return tied + sorted((p for p in eligible if p not in tied), key=lambda p: speed[p.name])
