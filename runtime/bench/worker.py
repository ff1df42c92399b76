"""Measures one model in a fresh process, started by the runner with `BOOT` and a JSON spec on stdin.

A fresh process per model keeps peak RSS, import and first-inference figures from bleeding into
each other. The spec is one JSON object on stdin (see `WorkerSpec` fields in `runner.py`);
the worker prints JSON lines on stdout: `{"progress": step}` after each step, then one
`{"result": {...}}` or `{"error": message}`. `BOOT` times the import of this module, which
imports `edgefuse.runtime` (numpy, onnxruntime), so that import is part of the cold start;
a PyTorch baseline adds the import of torch and `edgefuse.train`.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

BOOT = (
    "import time; start = time.perf_counter(); from edgefuse.runtime.bench.worker import main; "
    "main(time.perf_counter() - start)"
)
"""Python code run with `python -c`: the clock starts before any edgefuse or onnxruntime import."""


def current_rss_mb() -> float | None:
    """Resident set size of this process now, in MiB (Linux /proc; None elsewhere)."""
    status = Path("/proc/self/status")
    if not status.is_file():
        return None
    for line in status.read_text(encoding="utf-8").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return None


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def planned_steps(spec: dict) -> int:
    """Progress steps the worker reports for `spec` (load, first run, latency, other batches, profiles)."""
    other_batches = len([b for b in spec["batches"] if b != 1])
    return 3 + other_batches + (2 if spec["kind"] == "onnx" and spec["profile"] else 0)


def _progress(step: str) -> None:
    print(json.dumps({"progress": step}), flush=True)


def _load(spec: dict):
    """(model with .run(feeds) and .contract, extra import seconds, RSS MiB after imports, load seconds)."""
    start = time.perf_counter()
    if spec["kind"] == "torch":
        from edgefuse.runtime.bench import torch_baseline

        torch_baseline.import_train()  # count torch's import in the import time, not the load time
        torch_baseline.set_interop_threads()
        imported, rss = time.perf_counter(), current_rss_mb()
        model = torch_baseline.TorchPredictor(spec["path"], spec["threads"])
    else:
        from edgefuse.runtime.predictor import Predictor

        imported, rss = time.perf_counter(), current_rss_mb()
        model = Predictor.from_file(spec["path"], threads=spec["threads"])
    return model, imported - start, rss, time.perf_counter() - imported


def measure(spec: dict, runtime_import_s: float) -> dict:
    """Cold start, warm-up, batch-1 latency, throughput per batch, RSS and (ONNX) profiles of one model."""
    model, extra_import_s, rss_imported, init_s = _load(spec)
    from edgefuse.runtime.bench import feeds as bench_feeds
    from edgefuse.runtime.bench.stats import latency_stats, throughput, time_calls

    rss_loaded = current_rss_mb()
    rows = bench_feeds.data_rows(spec["data"], spec["split"])
    feeds = bench_feeds.batch_feeds(model.contract, spec["batches"] + [1], rows, spec["seed"])
    _progress("load")
    start = time.perf_counter()
    model.run(feeds[1])
    first_s = time.perf_counter() - start
    warmup = time_calls(lambda: model.run(feeds[1]), min_runs=spec["warmup_runs"], min_seconds=0.2)
    _progress("first run + warm-up")
    latency = time_calls(lambda: model.run(feeds[1]), min_runs=spec["runs"], min_seconds=spec["min_seconds"])
    _progress("latency at batch 1")
    per_batch = {1: latency}
    for b in [b for b in spec["batches"] if b != 1]:
        time_calls(lambda: model.run(feeds[b]), min_runs=2, min_seconds=0.0)  # larger buffers' first touch
        per_batch[b] = time_calls(lambda: model.run(feeds[b]), min_runs=spec["batch_runs"], min_seconds=spec["min_seconds"])
        _progress(f"batch {b}")
    result = {
        "pid": os.getpid(),
        "cold_start": {"import_s": runtime_import_s + extra_import_s, "init_s": init_s, "first_inference_s": first_s},
        "warmup": {"runs": int(warmup.size), "mean_ms": float(warmup.mean() * 1000.0)},
        "latency_ms": latency_stats(latency),
        "latency_samples_ms": [round(float(t) * 1000.0, 4) for t in latency],
        "throughput": [
            {"batch": b, "samples_per_s": throughput(b, t), "best_samples_per_s": b / float(t.min()),
             "batch_ms_p50": latency_stats(t)["p50"], "runs": int(t.size)}
            for b, t in sorted(per_batch.items())
            if b in spec["batches"]
        ],
        # Read before profiling, whose extra session would inflate the model's own peak.
        "rss_mb": {"after_imports": rss_imported, "after_load": rss_loaded, "peak": peak_rss_mb()},
        "text_tokens": int(feeds[1][model.contract.text.input_ids].shape[1]) if model.contract.text else None,
        "profile": _profiles(spec, feeds) if spec["kind"] == "onnx" and spec["profile"] else None,
    }
    return result


def _profiles(spec: dict, feeds: dict) -> dict:
    """Op-time summaries at batch 1 and the largest batch, and FLOPs per sample from an unoptimized run."""
    from edgefuse.runtime.bench.ort_profile import count_flops, op_time_summary, profile_runs

    largest = max(spec["batches"])
    summaries = {}
    for b, runs in ((1, spec["profile_runs"]), (largest, max(3, spec["profile_runs"] // 4))):
        summaries[f"batch_{b}"] = op_time_summary(profile_runs(spec["path"], feeds[b], spec["threads"], runs), runs)
    _progress("profile")
    flops = count_flops(profile_runs(spec["path"], feeds[1], spec["threads"], 1, optimized=False), 1)
    _progress("FLOPs")
    return {"batch_1": summaries["batch_1"], "largest_batch": summaries[f"batch_{largest}"], "flops": flops}


def main(runtime_import_s: float) -> None:
    """Read the spec from stdin, measure, print the result line; `runtime_import_s` comes from `BOOT`."""
    spec = json.loads(sys.stdin.read())
    try:
        result = measure(spec, runtime_import_s)
    except Exception as e:  # reported to the parent, which raises it as one line for the user
        from edgefuse.runtime.errors import EdgefuseError

        message = str(e) if isinstance(e, EdgefuseError) else f"{type(e).__name__}: {e}"
        print(json.dumps({"error": message, "user_error": isinstance(e, EdgefuseError)}), flush=True)
        sys.exit(1)
    print(json.dumps({"result": result}), flush=True)

