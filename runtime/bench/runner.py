"""`benchmark()`: every model measured in its own worker process, then accuracy, limits and flags.

The result is one JSON-ready dict with stable keys (see `report.py` for the tables and files
made from it). Timing figures come only from the workers; the parent process scores accuracy,
measures the matmul limit and derives the comparisons.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgefuse.runtime.bench import worker
from edgefuse.runtime.bench._progress import progress_bar
from edgefuse.runtime.bench.analysis import add_accuracy, add_derived_figures
from edgefuse.runtime.bench.machine import machine, versions
from edgefuse.runtime.bench.peak import matmul_peak
from edgefuse.runtime.errors import EdgefuseError, MissingDependencyError, ModelFileError
from edgefuse.runtime.model_file import load_contract

SCHEMA = "edgefuse.bench/1"


class BenchError(EdgefuseError):
    """A benchmark cannot run with the given models, options or data."""


@dataclass(frozen=True)
class BenchOptions:
    """How to measure. Defaults give stable batch-1 percentiles in about 10 s per small model."""

    batches: tuple[int, ...] = (1, 8, 32)
    """Batch sizes whose throughput is measured; latency statistics are always at batch 1."""
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    """Intra-op threads of onnxruntime and torch alike (inter-op: 1)."""
    runs: int = 200
    """Timed batch-1 runs at least (p99 needs >= 100)."""
    batch_runs: int = 20
    """Timed runs at least for each larger batch."""
    min_seconds: float = 1.0
    """Each timed loop runs at least this long, whatever the run count."""
    warmup_runs: int = 10
    """Untimed batch-1 runs after the first inference."""
    profile: bool = True
    """Profile ONNX models with onnxruntime (op shares, FLOPs, distance to the matmul limit)."""
    profile_runs: int = 20
    """Profiled batch-1 runs (a quarter of them, at least 3, at the largest batch)."""
    data: str | None = None
    """Data set folder: inputs come from its rows and accuracy is scored on it."""
    split: str = "test"
    """Split of `data` to use."""
    seed: int = 0
    """Seed of the synthetic inputs used without `data`."""

    def __post_init__(self) -> None:
        problems = []
        if not self.batches or any(int(b) < 1 for b in self.batches):
            problems.append(f"batch sizes must be positive integers, got {list(self.batches)}")
        if self.threads < 1:
            problems.append(f"threads must be >= 1, got {self.threads}")
        if self.runs < 1 or self.batch_runs < 1 or self.profile_runs < 1:
            problems.append("runs, batch runs and profile runs must be >= 1")
        if self.min_seconds < 0:
            problems.append(f"min_seconds must be >= 0, got {self.min_seconds}")
        if self.data is not None and not Path(self.data).is_dir():
            problems.append(f"data set folder not found: {self.data}")
        if problems:
            raise BenchError("; ".join(problems) + "; fix the benchmark options")
        object.__setattr__(self, "batches", tuple(sorted({int(b) for b in self.batches})))


def benchmark(models: list[str | os.PathLike], torch_run: str | os.PathLike | None = None,
              options: BenchOptions | None = None, show_progress: bool = True) -> dict:
    """Measure each ONNX model (and the PyTorch eager model of `torch_run`) on identical inputs.

    Returns the bench document: {"schema", "created", "machine", "versions", "settings",
    "matmul_peak", "models": [one entry per model, ONNX models first in the given order],
    "comparisons", "notes"}.
    """
    options = options or BenchOptions()
    entries = [_onnx_entry(Path(m)) for m in models]
    if not entries:
        raise BenchError("no model given; pass at least one .onnx file")
    if torch_run is not None:
        entries.append(_torch_entry(Path(torch_run)))
    _unique_names(entries)
    specs = [_spec(e, options) for e in entries]
    bar = progress_bar(2 + sum(worker.planned_steps(s) for s in specs) + (len(entries) if options.data else 0), "bench", show_progress)
    try:
        bar.set_postfix_str("float matmul limit")
        peak = matmul_peak(options.threads)
        bar.update()
        for entry, spec in zip(entries, specs):
            entry.update(_run_worker(spec, entry["name"], bar))
        bar.set_postfix_str("float matmul limit, again")
        peak = max(peak, matmul_peak(options.threads), key=lambda p: p["gflops"])  # a limit: the better of both
        bar.update()
        if options.data:
            add_accuracy(entries, options, bar)
    finally:
        bar.close()
    document = {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "versions": versions(),
        "settings": asdict(options) | {"batches": list(options.batches)},
        "matmul_peak": peak,
        "models": entries,
    }
    add_derived_figures(document)
    return document


def _onnx_entry(path: Path) -> dict:
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}; check the path")
    contract = load_contract(path)
    quantization = contract.quantization
    precision = str((quantization or {}).get("precision") or (quantization or {}).get("mode") or "int8") if quantization else "fp32"
    return {"name": path.stem, "kind": "onnx", "path": str(path), "precision": precision,
            "quantization": quantization, "file_bytes": path.stat().st_size,
            "contract": {"labels": list(contract.labels), "modalities": list(contract.modalities)}}


def _torch_entry(run: Path) -> dict:
    if importlib.util.find_spec("torch") is None:  # fail before minutes of ONNX measurements, not after
        raise MissingDependencyError("the PyTorch baseline (--torch) needs torch; install it with: pip install 'edgefuse[train]'")
    weights = run / "model.safetensors"
    if not weights.is_file():
        raise BenchError(f"{run} is not a finished training run (no model.safetensors); pass the --out folder of `edgefuse train`")
    return {"name": f"pytorch-{run.name}", "kind": "torch", "path": str(run), "precision": "fp32",
            "quantization": None, "file_bytes": weights.stat().st_size, "contract": None}


def _unique_names(entries: list[dict]) -> None:
    """Two files with the same stem get their parent folder prefixed, so names stay keys."""
    stems = [e["name"] for e in entries]
    for e in entries:
        if stems.count(e["name"]) > 1:
            e["name"] = f"{Path(e['path']).parent.name}/{e['name']}"


def _spec(entry: dict, options: BenchOptions) -> dict:
    return {
        "kind": entry["kind"], "path": entry["path"], "threads": options.threads, "batches": list(options.batches),
        "runs": options.runs, "batch_runs": options.batch_runs, "min_seconds": options.min_seconds,
        "warmup_runs": options.warmup_runs, "profile": options.profile, "profile_runs": options.profile_runs,
        "data": options.data, "split": options.split, "seed": options.seed,
    }


def _run_worker(spec: dict, name: str, bar) -> dict:
    """Run one worker process; advance `bar` on its progress lines; return its result."""
    bar.set_postfix_str(name)
    with tempfile.TemporaryFile(mode="w+") as stderr:
        process = subprocess.Popen([sys.executable, "-c", worker.BOOT], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=stderr, text=True)
        process.stdin.write(json.dumps(spec))
        process.stdin.close()
        outcome = {}
        for line in process.stdout:
            message = json.loads(line) if line.startswith("{") else {}
            if "progress" in message:
                bar.set_postfix_str(f"{name}: {message['progress']}")
                bar.update()
            outcome.update({k: v for k, v in message.items() if k != "progress"})
        process.wait()
        stderr.seek(0)
        tail = stderr.read()[-500:].strip()
    if "result" in outcome:
        return outcome["result"]
    if outcome.get("user_error"):
        raise BenchError(f"{name}: {outcome['error']}")
    reason = outcome.get("error") or f"worker exit code {process.returncode}"
    raise BenchError(f"measuring {name} failed ({reason}); worker stderr ends: {tail[-300:] or '(empty)'}")
