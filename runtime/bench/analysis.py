"""Figures derived from the measurements: accuracy, distance to the matmul limit, flags, speed-ups."""

from __future__ import annotations

import numpy as np

from edgefuse.runtime.evaluate import evaluate
from edgefuse.runtime.inputs import Example

FRONTEND_FLAG_SHARE = 0.10
"""An audio frontend above this share of batch-1 node time is flagged."""
QDQ_FLAG_SHARE = 0.10
"""Quantize/dequantize conversions above this share of node time are flagged."""
LIMIT_TARGET = 0.25
"""Target fraction of the float matmul limit at the largest batch."""


def _open(entry: dict, threads: int):
    if entry["kind"] == "torch":
        from edgefuse.runtime.bench.torch_baseline import TorchPredictor

        return TorchPredictor(entry["path"], threads)
    from edgefuse.runtime.predictor import Predictor

    return Predictor.from_file(entry["path"], threads=threads)


def _predictions(predictor, rows, batch_size: int = 256) -> np.ndarray:
    """(N,) int64 top-1 class of every row, with all its modalities fed."""
    feeds = predictor.builder.build([Example(image=r.image, audio=r.audio, text=r.text) for r in rows])
    n = len(rows)
    return np.concatenate([
        predictor.run({k: v[i : i + batch_size] for k, v in feeds.items()}).argmax(axis=1) for i in range(0, n, batch_size)
    ])


def add_accuracy(entries: list[dict], options, bar) -> None:
    """Add `accuracy` to each entry: evaluate()'s figures plus top-1 agreement with the first model."""
    from edgefuse.runtime.bench.feeds import data_rows

    rows = data_rows(options.data, options.split)
    first = None
    for entry in entries:
        bar.set_postfix_str(f"{entry['name']}: accuracy on {options.split}")
        predictor = _open(entry, options.threads)
        scores = evaluate(predictor, rows)
        predicted = _predictions(predictor, rows)
        first = predicted if first is None else first
        entry["accuracy"] = {**scores, "top1_agreement_with_first": float(np.mean(predicted == first))}
        bar.update()


def _throughput(entry: dict, batch: int, key: str = "samples_per_s") -> float | None:
    return next((t[key] for t in entry.get("throughput", []) if t["batch"] == batch), None)


def _flops_per_sample(entry: dict, entries: list[dict]) -> tuple[int | None, str | None]:
    """FLOPs per sample and where they came from (a PyTorch run borrows its ONNX twin's count)."""
    profile = entry.get("profile")
    if profile:
        return profile["flops"]["flops"], entry["name"]
    twin = next((e for e in entries if e["kind"] == "onnx" and e["precision"] == "fp32" and e.get("profile")), None)
    if twin is not None:
        return twin["profile"]["flops"]["flops"], twin["name"]
    return None, None


def add_derived_figures(document: dict) -> None:
    """Add per-model `limit` and `flags`, and the document's `comparisons`.

    The limit fraction sets the model's best run at the largest batch against the best sgemm run:
    best against best, so a busy machine slows both sides alike instead of only one.
    """
    entries, peak = document["models"], document["matmul_peak"]["gflops"] * 1e9
    largest = max(document["settings"]["batches"])
    for entry in entries:
        profile = entry.get("profile")
        if entry["precision"] == "fp32" and profile and profile["batch_1"]["quantized_op_share"] > 0:
            entry["precision"] = "int8"  # quantized by a tool that did not record it in the contract
    for entry in entries:
        flops, source = _flops_per_sample(entry, entries)
        rate = _throughput(entry, largest, "best_samples_per_s")
        achieved = flops * rate if flops and rate else None
        entry["limit"] = {
            "flops_per_sample": flops, "flops_from": source, "batch": largest,
            "achieved_gflops": achieved / 1e9 if achieved else None,
            "fraction_of_matmul_peak": achieved / peak if achieved and peak else None,
        }
    for entry in entries:
        entry["flags"] = _flags(entry, entries)
    document["comparisons"] = _comparisons(entries, document["settings"]["batches"])


def _float_parent(entry: dict, entries: list[dict]) -> dict | None:
    return next((e for e in entries if e["kind"] == "onnx" and e["precision"] == "fp32" and e is not entry), None)


def _flags(entry: dict, entries: list[dict]) -> list[str]:
    """One-line findings a user should read before shipping this model."""
    flags = []
    profile = entry.get("profile") or {}
    b1 = profile.get("batch_1") or {}
    if b1.get("frontend_share", 0) > FRONTEND_FLAG_SHARE:
        flags.append(f"audio frontend is {b1['frontend_share']:.0%} of batch-1 node time (> {FRONTEND_FLAG_SHARE:.0%})")
    if b1.get("quantize_dequantize_share", 0) > QDQ_FLAG_SHARE:
        flags.append(f"QuantizeLinear/DequantizeLinear conversions are {b1['quantize_dequantize_share']:.0%} of batch-1 node time")
    parent = _float_parent(entry, entries)
    if entry["precision"] != "fp32" and parent is not None:
        for batch in sorted({1, max(t["batch"] for t in entry["throughput"])}):
            mine, theirs = _throughput(entry, batch), _throughput(parent, batch)
            if mine and theirs and mine < theirs:
                flags.append(f"{entry['precision']} slower than float here: {mine:.0f} vs {theirs:.0f} samples/s at batch {batch} ({parent['name']})")
    fraction = entry["limit"]["fraction_of_matmul_peak"]
    if fraction is not None and fraction < LIMIT_TARGET:
        flags.append(f"{fraction:.0%} of the float matmul limit at batch {entry['limit']['batch']} (target >= {LIMIT_TARGET:.0%})")
    uncounted = (profile.get("flops") or {}).get("uncounted_ops")
    if uncounted:
        flags.append(f"FLOPs exclude {', '.join(uncounted)} (no formula); the limit fraction is a lower bound")
    return flags


def _comparisons(entries: list[dict], batches: list[int]) -> list[dict]:
    """Speed-ups of every model over the PyTorch baseline (if any) and over the first model."""
    baselines = [e for e in entries if e["kind"] == "torch"] + [entries[0]]
    out = []
    for base in baselines:
        for entry in entries:
            if entry is base or (entry["kind"] == "torch" and base is entries[0]):
                continue  # torch entries are baselines, already compared above
            out.append({
                "model": entry["name"], "baseline": base["name"],
                "latency_p50_speedup": base["latency_ms"]["p50"] / entry["latency_ms"]["p50"],
                "throughput_speedup": {str(b): _throughput(entry, b) / _throughput(base, b) for b in batches},
            })
    return out
