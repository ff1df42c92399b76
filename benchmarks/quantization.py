"""Issue-4 targets in one run: int8/fp16 size, accuracy, agreement, latency, and the frontend's share.

    python benchmarks/quantization.py models/demo.onnx --data data/digits3 [--rounds 7] [--runs 40]

Quantizes the FP32 model with `edgefuse.export.quantize` in every mode (static, dynamic, fp16,
auto with --prefer speed), takes accuracy, macro-F1, per-subset accuracy and top-1 agreement on
the test split from each quantization's own report (the runtime's `evaluate`), then times all
files together, interleaved, at batch 1 and 32 for `--rounds` rounds of fresh sessions (the
ratio to FP32 is taken within each round; the median and the range over rounds are reported), and profiles the FP32 model with onnxruntime to get the audio frontend's share of
kernel time. Writes benchmarks/results/quantization.json and .md.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _results import write_result

from edgefuse.export.quantize import QuantizeConfig, QuantizeError, quantize
from edgefuse.export.quantize.auto import SAME_SPEED
from edgefuse.export.quantize.calibration import build_feeds, split_rows
from edgefuse.export.quantize.latency import batch_of, median_latency_ms
from edgefuse.runtime import load_contract
from edgefuse.runtime.bench.machine import machine, versions
from edgefuse.runtime.bench.ort_profile import op_time_summary, profile_runs

MODES = ("static", "dynamic", "fp16", "auto")
TARGETS = {"size_ratio": 0.27, "accuracy_drop": 0.003, "top1_agreement": 0.995, "latency_b1": 1.0, "latency_b32": 0.8,
           "frontend_share": 0.10}


def quantize_all(model: Path, data: Path, folder: Path, timing_runs: int) -> dict[str, dict]:
    """Mode → {"path", "report"} or {"error"} (a QuantizeError is a result, e.g. auto finding nothing faster)."""
    out = {}
    for mode in MODES:
        start = time.perf_counter()
        try:
            result = quantize(model, folder / f"model.{mode}.onnx", data, QuantizeConfig(mode=mode, timing_runs=timing_runs))
            out[mode] = {"path": result.path, "report": result.report}
        except QuantizeError as e:
            out[mode] = {"error": str(e)}
        out[mode]["seconds"] = time.perf_counter() - start
    return out


def latency_rounds(models: dict[str, Path], feeds: dict, rounds: int, runs: int) -> dict[str, dict]:
    """Name → {"ms", "ratio", "ratio_range"} per batch: medians over rounds, ratios to FP32 taken within each round.

    Each round opens fresh sessions and times every model interleaved; a ratio compares models that
    shared the machine's state, and its spread over rounds says how settled the figure is.
    """
    per_round = [median_latency_ms(models, feeds, (1, 32), runs) for _ in range(rounds)]
    out = {}
    for name in models:
        ratio = {b: [r[name][b] / r["fp32"][b] for r in per_round] for b in (1, 32)}
        out[name] = {"ms": {str(b): float(np.median([r[name][b] for r in per_round])) for b in (1, 32)},
                     "ratio": {str(b): float(np.median(v)) for b, v in ratio.items()},
                     "ratio_range": {str(b): [float(min(v)), float(max(v))] for b, v in ratio.items()}}
    return out


def frontend_share(model: Path, feeds: dict, threads: int, runs: int) -> dict[str, dict]:
    """Batch → share of FP32 kernel time in the audio frontend, and the top components."""
    out = {}
    for b in (1, 32):
        summary = op_time_summary(profile_runs(model, batch_of(feeds, b), threads, runs), runs)
        out[str(b)] = {"frontend_share": summary["frontend_share"], "components": dict(list(summary["components"].items())[:6])}
    return out


def headline(model: Path, results: dict, latency: dict, share: dict) -> dict:
    fp32_bytes = model.stat().st_size
    rows = {}
    for mode, r in results.items():
        if "error" in r:
            rows[mode] = {"error": r["error"]}
            continue
        t = r["report"]["test_vs_parent"]
        rows[mode] = {
            "plan": r["report"]["plan"]["name"], "bytes": r["path"].stat().st_size, "size_ratio": r["path"].stat().st_size / fp32_bytes,
            "accuracy": t["quantized"]["accuracy"], "float_accuracy": t["float"]["accuracy"], "accuracy_drop": t["accuracy_drop"],
            "macro_f1": t["quantized"]["macro_f1"], "top1_agreement": t["top1_agreement"], "subsets": t["quantized"]["subsets"],
            "latency_ms": latency[mode]["ms"], "latency_ratio": latency[mode]["ratio"], "latency_ratio_range": latency[mode]["ratio_range"],
            "float_nodes": len(r["report"]["float_nodes"]), "flags": r["report"]["flags"], "seconds": r["seconds"],
            "candidates": r["report"].get("decision", {}).get("candidates", {}),
        }
    return {"fp32": {"bytes": fp32_bytes, "latency_ms": latency["fp32"]["ms"]}, "modes": rows, "frontend": share,
            "targets": _targets(rows, share)}


def _targets(rows: dict, share: dict) -> list[dict]:
    auto = rows.get("auto", {})
    checks = []
    if "error" in auto:
        checks.append({"target": "int8 --mode auto produced a model", "value": auto["error"], "met": False})
    else:
        checks += [
            {"target": "int8 (auto) size <= 0.27x FP32", "value": auto["size_ratio"], "met": auto["size_ratio"] <= TARGETS["size_ratio"]},
            {"target": "int8 (auto) accuracy drop <= 0.3 pt", "value": auto["accuracy_drop"], "met": auto["accuracy_drop"] <= TARGETS["accuracy_drop"]},
            {"target": "int8 (auto) top-1 agreement >= 99.5%", "value": auto["top1_agreement"], "met": auto["top1_agreement"] >= TARGETS["top1_agreement"]},
            {"target": "int8 (auto) latency b1 <= 1.0x FP32", "value": auto["latency_ratio"]["1"], "met": auto["latency_ratio"]["1"] <= TARGETS["latency_b1"]},
            {"target": "int8 (auto) latency b32 <= 0.8x FP32", "value": auto["latency_ratio"]["32"], "met": auto["latency_ratio"]["32"] <= TARGETS["latency_b32"]},
        ]
    checks += [{"target": f"audio frontend <= 10% of FP32 kernel time, batch {b}", "value": s["frontend_share"],
                "met": s["frontend_share"] <= TARGETS["frontend_share"]} for b, s in share.items()]
    return checks


def _ratio(row: dict, batch: str) -> str:
    low, high = row["latency_ratio_range"][batch]
    return f"{row['latency_ratio'][batch]:.2f}x, rounds {low:.2f}–{high:.2f}"


def summary(h: dict, machine_line: str) -> list[str]:
    lines = [machine_line, "", "| file | plan | size | accuracy (Δ) | macro-F1 | top-1 agreement | b1 ms (vs FP32) | b32 ms (vs FP32) |",
             "|---|---|---|---|---|---|---|---|",
             f"| FP32 | – | {h['fp32']['bytes']:,} B | | | | {h['fp32']['latency_ms']['1']:.2f} | {h['fp32']['latency_ms']['32']:.1f} |"]
    for mode, r in h["modes"].items():
        if "error" in r:
            lines.append(f"| {mode} | refused: {r['error']} | | | | | | |")
            continue
        lines.append(f"| {mode} | {r['plan']} | {r['bytes']:,} B ({r['size_ratio']:.4f}x) | {r['accuracy']:.2%} ({-r['accuracy_drop'] * 100:+.2f} pt) "
                     f"| {r['macro_f1']:.4f} | {r['top1_agreement']:.2%} | {r['latency_ms']['1']:.2f} ({_ratio(r, '1')}) "
                     f"| {r['latency_ms']['32']:.1f} ({_ratio(r, '32')}) |")
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {t['target']} | {t['value'] if isinstance(t['value'], str) else round(t['value'], 4)} | {'yes' if t['met'] else '**no**'} |" for t in h["targets"]]
    candidates = h["modes"].get("auto", {}).get("candidates")
    if candidates:
        lines += ["", f"`--mode auto` timed these plans and chose **{h['modes']['auto']['plan']}** "
                  f"(the smallest within {SAME_SPEED:.0%} of the fastest mean ratio; contenders re-timed together):", "",
                  "| plan | b1 ratio | b32 ratio | bytes |", "|---|---|---|---|"]
        lines += [f"| {n} | {c['ratio']['1']:.3f}x | {c['ratio']['32']:.3f}x | {c['bytes']:,} |" for n, c in candidates.items()]
    lines += ["", "Audio frontend share of FP32 kernel time (onnxruntime profiling): "
              + "; ".join(f"batch {b}: {s['frontend_share']:.1%}" for b, s in h["frontend"].items())]
    flags = [f"- {m}: {f}" for m, r in h["modes"].items() for f in r.get("flags", [])]
    return lines + (["", "Flags:", *flags] if flags else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="FP32 .onnx made by `edgefuse export`")
    parser.add_argument("--data", required=True, help="data set folder (train: calibration, val: budget, test: figures)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--rounds", type=int, default=7, help="timing rounds, fresh sessions each (medians over rounds)")
    parser.add_argument("--runs", type=int, default=40, help="timed runs per model, batch and round")
    parser.add_argument("--timing-runs", type=int, default=30, help="runs per plan inside `--mode auto`")
    parser.add_argument("--name", default="quantization", help="result file name under benchmarks/results/")
    args = parser.parse_args()
    model, data = Path(args.model), Path(args.data)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="edgefuse-bench-quant-") as folder:
        results = quantize_all(model, data, Path(folder), args.timing_runs)
        feeds = build_feeds(load_contract(model), split_rows(data, "test"))
        models = {"fp32": model, **{m: r["path"] for m, r in results.items() if "path" in r}}
        latency = latency_rounds(models, feeds, args.rounds, args.runs)
        share = frontend_share(model, feeds, args.threads, runs=args.runs)
        h = headline(model, results, latency, share)
    m = machine()
    h["machine"] = {**m, "versions": versions(), "threads": args.threads, "load_average_before": list(load_before)}
    line = (f"Measured on {m['cpu']['model']} ({m['cpu']['usable_cores']} usable cores, flags {' '.join(m['cpu']['kernel_flags'])}), "
            f"{args.threads} threads, onnxruntime {versions()['onnxruntime']}. The machine was shared with other work: load average "
            f"{load_before[0]:.1f} at the start and {m['load_average'][0]:.1f} at the end on {m['cpu']['usable_cores']} cores, so "
            f"latencies are medians over {args.rounds} rounds (fresh sessions, {args.runs} interleaved runs each); a ratio to FP32 is "
            "taken within each round and shown as its median with the range over rounds. Ratios matter more than absolute ms.")
    print(write_result(args.name, h, summary(h, line), None, shlex.join(["python", *sys.argv])).read_text())


if __name__ == "__main__":
    main()
