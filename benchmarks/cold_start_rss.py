"""Headline: cold start (import, session init, first inference) and peak RSS, ORT versus PyTorch.

    python benchmarks/cold_start_rss.py [--model models/demo.onnx] [--run runs/demo] [--repeats 5]

Each repeat measures every model in a fresh process (a bench worker); the medians over repeats
are reported, because a single cold start on a shared machine is noisy. `--run ''` measures the
ONNX model alone. Writes benchmarks/results/cold_start_rss.json and .md.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys

from _results import write_result

from edgefuse.runtime.bench import BenchOptions, benchmark
from edgefuse.runtime.bench._progress import progress_bar


def figures(model: dict) -> dict:
    cold, rss = model["cold_start"], model["rss_mb"]
    return {
        "import_s": cold["import_s"], "init_s": cold["init_s"], "first_inference_s": cold["first_inference_s"],
        "to_first_prediction_s": cold["import_s"] + cold["init_s"] + cold["first_inference_s"],
        "rss_after_imports_mb": rss["after_imports"], "peak_rss_mb": rss["peak"],
        "model_rss_mb": rss["peak"] - rss["after_imports"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/demo.onnx")
    parser.add_argument("--run", default="runs/demo", help="training run for the PyTorch figures ('' to skip)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--name", default="cold_start_rss")
    args = parser.parse_args()
    options = BenchOptions(batches=(1,), threads=args.threads, runs=20, min_seconds=0.0, profile=False)
    per_model: dict[str, list[dict]] = {}
    document, bar = None, progress_bar(args.repeats, "cold starts")
    for _ in range(args.repeats):
        document = benchmark([args.model], torch_run=args.run or None, options=options, show_progress=False)
        for m in document["models"]:
            per_model.setdefault(m["name"], []).append(figures(m))
        bar.update()
    bar.close()
    medians = {name: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for name, runs in per_model.items()}
    h = {"repeats": args.repeats, "threads": args.threads, "median": medians, "all": per_model}
    lines = ["Medians over fresh processes:", "",
             "| model | import s | session init s | first inference s | to first prediction s | RSS after imports MiB | peak RSS MiB | model's own MiB |",
             "|---|---|---|---|---|---|---|---|"]
    for name, m in medians.items():
        lines.append(f"| {name} | {m['import_s']:.3f} | {m['init_s']:.3f} | {m['first_inference_s']:.3f} | {m['to_first_prediction_s']:.3f} | "
                     f"{m['rss_after_imports_mb']:.0f} | {m['peak_rss_mb']:.0f} | {m['model_rss_mb']:.0f} |")
    print(write_result(args.name, h, lines, document, shlex.join(["python", *sys.argv])).read_text())


if __name__ == "__main__":
    main()
