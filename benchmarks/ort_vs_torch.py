"""Headline: ONNX Runtime FP32 versus PyTorch eager, batch 1 and 32, audio frontend included.

    python benchmarks/ort_vs_torch.py [--model models/demo.onnx] [--run runs/demo] [--data data/digits3]

Both run the same inputs (real rows of the split, raw waveforms: the log-mel frontend is inside
both models) with the same intra-op thread count, each in a fresh process. Targets: ONNX Runtime
>= 5x PyTorch eager at batch 1 and at batch 32; >= 25% of the float matmul limit at batch 32.
Writes benchmarks/results/ort_vs_torch.json and .md.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from _results import add_bench_arguments, bench_options, write_result

from edgefuse.runtime.bench import benchmark

SPEEDUP_TARGET, LIMIT_TARGET = 5.0, 0.25


def headline(document: dict) -> dict:
    ort_model, torch_model = document["models"]
    batches = document["settings"]["batches"]
    rate = {m["kind"]: {t["batch"]: t["samples_per_s"] for t in m["throughput"]} for m in (ort_model, torch_model)}
    speedups = {str(b): rate["onnx"][b] / rate["torch"][b] for b in batches}
    profile = ort_model["profile"]
    peak, flops = document["matmul_peak"]["gflops"] * 1e9, ort_model["limit"]["flops_per_sample"]
    best = {m["kind"]: {t["batch"]: t["best_samples_per_s"] for t in m["throughput"]} for m in (ort_model, torch_model)}
    fraction = {k: {str(b): flops * r / peak for b, r in v.items()} for k, v in best.items()}
    load = document["machine"]["load_average"] or [0.0]
    return {
        "threads": document["settings"]["threads"],
        "onnxruntime_p50_ms_batch1": ort_model["latency_ms"]["p50"],
        "pytorch_p50_ms_batch1": torch_model["latency_ms"]["p50"],
        "latency_p50_speedup_batch1": torch_model["latency_ms"]["p50"] / ort_model["latency_ms"]["p50"],
        "throughput_samples_per_s": {k: {str(b): r for b, r in v.items()} for k, v in rate.items()},
        "throughput_speedup": speedups,
        "speedup_target": SPEEDUP_TARGET,
        "speedup_target_met": {b: s >= SPEEDUP_TARGET for b, s in speedups.items()},
        "fraction_of_matmul_limit_largest_batch": ort_model["limit"]["fraction_of_matmul_peak"],
        "matmul_limit_gflops": document["matmul_peak"]["gflops"],
        "model_gflops_per_sample": ort_model["limit"]["flops_per_sample"] / 1e9,
        "limit_target": LIMIT_TARGET,
        "limit_target_met": (ort_model["limit"]["fraction_of_matmul_peak"] or 0) >= LIMIT_TARGET,
        "audio_frontend_share_batch1": profile["batch_1"]["frontend_share"],
        "audio_frontend_share_largest_batch": profile["largest_batch"]["frontend_share"],
        "top_ops_batch1": profile["batch_1"]["top_ops"][:5],
        "top_ops_largest_batch": profile["largest_batch"]["top_ops"][:5],
        "top1_agreement": (torch_model.get("accuracy") or {}).get("top1_agreement_with_first"),
        # Best runs against the best sgemm run. No runtime can beat PyTorch by more than
        # 1 / (PyTorch's fraction of the limit): that is the speed-up at 100% of the limit.
        "fraction_of_matmul_limit_best_run": fraction,
        "speedup_ceiling": {b: 1.0 / f for b, f in fraction["torch"].items()},
        "onnxruntime_node_ms_best": {"1": profile["batch_1"]["node_ms_best"], str(max(batches)): profile["largest_batch"]["node_ms_best"]},
        "pytorch_p90_over_p50_batch1": torch_model["latency_ms"]["p90"] / torch_model["latency_ms"]["p50"],
        "usable_cores": document["machine"]["cpu"]["usable_cores"],
        "machine_busy": load[0] > document["machine"]["cpu"]["usable_cores"],
        "load_average_1min": load[0],
    }


def summary(h: dict) -> list[str]:
    verdict = lambda ok: "met" if ok else "**missed**"  # noqa: E731
    lines = ["| figure | value | target |", "|---|---|---|"]
    for b, s in h["throughput_speedup"].items():
        lines.append(f"| ORT FP32 / PyTorch eager, batch {b} | {s:.2f}× | ≥ {h['speedup_target']:.0f}× ({verdict(h['speedup_target_met'][b])}) |")
    fraction = h["fraction_of_matmul_limit_largest_batch"]
    lines += [
        f"| ORT FP32 share of the float matmul limit ({h['matmul_limit_gflops']:.1f} GFLOP/s), largest batch | "
        f"{fraction:.1%} | ≥ {h['limit_target']:.0%} ({verdict(h['limit_target_met'])}) |",
        f"| batch-1 p50 latency, ORT / PyTorch | {h['onnxruntime_p50_ms_batch1']:.2f} / {h['pytorch_p50_ms_batch1']:.2f} ms | |",
        f"| audio frontend share of ORT node time, batch 1 / largest | {h['audio_frontend_share_batch1']:.1%} / "
        f"{h['audio_frontend_share_largest_batch']:.1%} | |",
        f"| model FLOPs per sample | {h['model_gflops_per_sample'] * 1e3:.1f} MFLOP | |",
    ]
    if h["top1_agreement"] is not None:
        lines.append(f"| top-1 agreement ORT vs PyTorch | {h['top1_agreement']:.2%} | |")
    best = h["onnxruntime_node_ms_best"]
    quiet = {b: h["model_gflops_per_sample"] * int(b) / (ms / 1e3) / h["matmul_limit_gflops"] for b, ms in best.items()}
    lines.append("| ORT node time, each node's fastest run summed (batch " + " / ".join(best) + ") → share of the limit | "
                 + " / ".join(f"{ms:.2f} ms" for ms in best.values()) + " → " + " / ".join(f"{q:.1%}" for q in quiet.values()) + " | |")
    for b, ceiling in h["speedup_ceiling"].items():
        f = h["fraction_of_matmul_limit_best_run"]
        lines.append(f"| batch {b}: share of the matmul limit, best run, ORT / PyTorch → speed-up ceiling | "
                     f"{f['onnx'][b]:.1%} / {f['torch'][b]:.1%} → {ceiling:.1f}× | |")
    if h["machine_busy"]:
        lines += ["", f"**Warning: the machine was busy** (1-min load average {h['load_average_1min']:.1f} on "
                  f"{h['usable_cores']} cores; PyTorch batch-1 p90/p50 = {h['pytorch_p90_over_p50_batch1']:.1f}). "
                  "PyTorch's OpenMP threads spin-wait and lose far more than onnxruntime when other processes take "
                  "the cores, so these speed-ups overstate a quiet device's. Rerun on an idle machine."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/demo.onnx")
    parser.add_argument("--run", default="runs/demo")
    add_bench_arguments(parser, "ort_vs_torch")
    args = parser.parse_args()
    options = bench_options(args)
    document = benchmark([args.model], torch_run=args.run, options=options)
    h = headline(document)
    path = write_result(args.name, h, summary(h), document, shlex.join(["python", *sys.argv]))
    print(path.read_text())


if __name__ == "__main__":
    main()
