"""Headline: quantized models versus their FP32 parent — speed, size, accuracy, agreement.

    python benchmarks/int8_vs_fp32.py models/demo.onnx models/demo.int8.onnx [more .onnx ...] [--data data/digits3]

The first model is the FP32 reference; every other model is compared with it on the same inputs,
each measured in a fresh process with the same thread count. Writes
benchmarks/results/int8_vs_fp32.json and .md.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from _results import add_bench_arguments, bench_options, write_result

from edgefuse.runtime.bench import benchmark


def headline(document: dict) -> dict:
    reference, *others = document["models"]
    batches = document["settings"]["batches"]
    rate = lambda m, b: next(t["samples_per_s"] for t in m["throughput"] if t["batch"] == b)  # noqa: E731
    rows = []
    for m in others:
        acc, ref_acc = m.get("accuracy"), reference.get("accuracy")
        rows.append({
            "model": m["name"], "precision": m["precision"], "reference": reference["name"],
            "speedup": {str(b): rate(m, b) / rate(reference, b) for b in batches},
            "size_ratio": m["file_bytes"] / reference["file_bytes"],
            "accuracy_delta": acc["accuracy"] - ref_acc["accuracy"] if acc and ref_acc else None,
            "top1_agreement": acc["top1_agreement_with_first"] if acc else None,
            "quantized_op_share_batch1": m["profile"]["batch_1"]["quantized_op_share"] if m["profile"] else None,
            "flags": m["flags"],
        })
    return {"threads": document["settings"]["threads"], "comparisons": rows}


def summary(h: dict) -> list[str]:
    lines = ["| model | vs | speed-up per batch | size | accuracy Δ | top-1 agreement |", "|---|---|---|---|---|---|"]
    for r in h["comparisons"]:
        speed = ", ".join(f"b{b} {s:.2f}×" for b, s in r["speedup"].items())
        delta = "–" if r["accuracy_delta"] is None else f"{r['accuracy_delta'] * 100:+.2f} pt"
        agree = "–" if r["top1_agreement"] is None else f"{r['top1_agreement']:.2%}"
        lines.append(f"| {r['model']} ({r['precision']}) | {r['reference']} | {speed} | {r['size_ratio']:.2f}× | {delta} | {agree} |")
    flags = [f"- {r['model']}: {f}" for r in h["comparisons"] for f in r["flags"]]
    return lines + (["", "Flags:", *flags] if flags else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="FP32 reference first, then the quantized variants")
    add_bench_arguments(parser, "int8_vs_fp32")
    args = parser.parse_args()
    if len(args.models) < 2:
        parser.error("pass the FP32 model and at least one quantized model (make them with `edgefuse quantize`)")
    options = bench_options(args)
    document = benchmark(args.models, options=options)
    h = headline(document)
    print(write_result(args.name, h, summary(h), document, shlex.join(["python", *sys.argv])).read_text())


if __name__ == "__main__":
    main()
