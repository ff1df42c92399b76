"""Train the four fusion strategies on one data set; write accuracy, the modality ablation table,
parameter count, parity and training time to results/fusion.json and results/fusion.md.

    python benchmarks/fusion.py --data data/demo                 # sequential, 2 threads each
    python benchmarks/fusion.py --data data/demo --parallel 4    # on a machine with >= 8 free cores

Each strategy trains in its own process (`python -m edgefuse.train`, default config except
--fusion, on CPU with --threads threads), so its wall time is what a user waits for. Accuracy is
the test split, scored by the same code as `edgefuse evaluate`; every model is also exported to
ONNX through the parity gate. Other work on the same cores slows training: the load average
before and after is recorded with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from edgefuse.runtime import _atomic

RESULTS = Path(__file__).resolve().parent / "results"
FUSIONS = ("attention", "concat", "late", "gated")


def train_one(data: Path, run: Path, fusion: str, threads: int, extra: list[str]) -> dict:
    """Train one strategy in a child process; wall seconds and the child's CPU seconds."""
    command = [sys.executable, "-m", "edgefuse.train", "--data", str(data), "--out", str(run),
               "--fusion", fusion, "--threads", str(threads), "--device", "cpu", *extra]
    start = time.perf_counter()
    with open(run.with_suffix(".log"), "w") as log:
        subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)
    return {"train_wall_s": time.perf_counter() - start, "command": " ".join(command[1:])}


def score(run: Path, data: Path, model_dir: Path) -> dict:
    """Test-split evaluation of the run (PyTorch) and its ONNX export's parity."""
    from edgefuse.export import to_onnx
    from edgefuse.train.evaluate import evaluate_run
    from edgefuse.train.run import read_log, read_run_config

    result = evaluate_run(run, data, "test")
    subsets = result["subsets"]
    m = max(s.count("+") for s in subsets) + 1
    singles = {s: a for s, a in subsets.items() if "+" not in s}
    missing_one = {s: a for s, a in subsets.items() if s.count("+") == m - 2}
    exported = to_onnx(run, model_dir / f"{run.name}.onnx", data=data)
    config = read_run_config(run)
    log = read_log(run)
    return {
        "test_accuracy": result["accuracy"],
        "test_macro_f1": result["macro_f1"],
        "best_single": max(singles.items(), key=lambda kv: kv[1]),
        "worst_one_missing": min(missing_one.items(), key=lambda kv: kv[1]) if missing_one else None,
        "ablation": subsets,
        "parameters": config["parameters"],
        "best_epoch": config["best"]["epoch"],
        "best_val_macro_f1": config["best"]["val_macro_f1"],
        "epochs_run": len(log),
        "loop_seconds": log[-1]["seconds"] if log else None,
        "parity_max_abs_diff": exported.parity,
        "onnx_bytes": exported.bytes,
    }


def machine() -> dict:
    cpu = "unknown"
    if Path("/proc/cpuinfo").is_file():
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), cpu)
    import torch

    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__}


def markdown(document: dict) -> str:
    lines = [
        "# fusion", "", f"`{document['command']}`", "",
        f"Measured {document['created']} on {document['machine']['cpu']} ({document['machine']['cores']} cores visible), "
        f"{document['threads']} torch threads per run, {document['parallel']} run(s) at a time; "
        f"load average before {document['load_before']}, after {document['load_after']}.", "",
        "| fusion | test accuracy | macro-F1 | best single modality | worst with one missing | parameters | epochs (best) | training wall s | parity max abs diff |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in document["fusions"].items():
        single, missing = r["best_single"], r["worst_one_missing"]
        lines.append(
            f"| {name} | {r['test_accuracy']:.2%} | {r['test_macro_f1']:.4f} | {single[0]} {single[1]:.2%} | "
            + (f"{missing[0]} {missing[1]:.2%}" if missing else "-")
            + f" | {r['parameters']:,} | {r['epochs_run']} ({r['best_epoch']}) | {r['train_wall_s']:.0f} | {max(r['parity_max_abs_diff'].values()):.2g} |"
        )
    subsets = sorted(next(iter(document["fusions"].values()))["ablation"], key=lambda s: (-s.count("+"), s))
    lines += ["", "## Modality ablation (test accuracy with only these modalities fed)", "",
              "| fusion | " + " | ".join(subsets) + " |", "|---" * (len(subsets) + 1) + "|"]
    for name, r in document["fusions"].items():
        lines.append(f"| {name} | " + " | ".join(f"{r['ablation'][s]:.2%}" for s in subsets) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="data set folder (e.g. the full demo)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/edgefuse-fusion-bench"), help="folder for the runs and models")
    parser.add_argument("--fusions", nargs="+", choices=FUSIONS, default=list(FUSIONS))
    parser.add_argument("--threads", type=int, default=2, help="torch threads per training run")
    parser.add_argument("--parallel", type=int, default=1, help="runs at a time (each uses --threads cores)")
    parser.add_argument("--name", default="fusion", help="results/<name>.json and .md")
    parser.add_argument("extra", nargs="*", help="more `edgefuse train` flags after --, e.g. -- --epochs 8")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    load_before = [round(x, 2) for x in os.getloadavg()]
    created = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    with ThreadPoolExecutor(max_workers=args.parallel) as pool:
        futures = {f: pool.submit(train_one, args.data, args.work / f, f, args.threads, args.extra) for f in args.fusions}
        timings = {f: future.result() for f, future in futures.items()}
    load_after = [round(x, 2) for x in os.getloadavg()]
    fusions = {f: {**timings[f], **score(args.work / f, args.data, args.work)} for f in args.fusions}
    document = {
        "command": "python benchmarks/fusion.py " + " ".join(sys.argv[1:]),
        "created": created, "machine": machine(), "threads": args.threads, "parallel": args.parallel,
        "load_before": load_before, "load_after": load_after,
        "children_cpu_s": resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime,
        "fusions": fusions,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    _atomic.write_text(RESULTS / f"{args.name}.json", json.dumps(document, indent=2, sort_keys=True) + "\n")
    _atomic.write_text(RESULTS / f"{args.name}.md", markdown(document))
    print(markdown(document))


if __name__ == "__main__":
    main()
