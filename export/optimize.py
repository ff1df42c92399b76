"""ONNX Runtime offline graph optimization, saved as a model that still carries the contract.

`basic` (constant folding, redundant-node removal, Conv+BN/Add/Mul fusions into standard ops)
is portable: the result is plain ONNX and passes `onnx.checker` full check. `extended` adds
onnxruntime-only fused ops (com.microsoft domain) that only onnxruntime loads; onnx.checker
cannot check those, so the result is validated by running it instead. Either way the output
must match the input model on the same feeds (max abs diff <= atol) or nothing is written.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from edgefuse.export.contract_io import embed_contract, read_embedded_contract
from edgefuse.export.frontend_graph import synthesize_frontend_constants
from edgefuse.runtime import _atomic
from edgefuse.runtime.bench.feeds import batch_feeds
from edgefuse.runtime.errors import EdgefuseError

LEVELS = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC, "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED}
IR_VERSION = 8


class OptimizeError(EdgefuseError):
    """The optimized model could not be made or does not match its input."""


def optimize(model: str | os.PathLike, out: str | os.PathLike, level: str = "basic", atol: float = 1e-4) -> Path:
    """Write `model` optimized offline at `level` to `out`, keeping (and extending) its contract."""
    if level not in LEVELS:
        raise OptimizeError(f"optimization level {level!r} is not one of {', '.join(LEVELS)}")
    if not Path(model).is_file():
        raise OptimizeError(f"model file {str(model)!r} does not exist; pass an .onnx made by `edgefuse export`")
    source = onnx.load(str(model))
    try:
        contract = read_embedded_contract(source)
    except KeyError as e:
        raise OptimizeError(f"{model} has no edgefuse contract; export it with `edgefuse export RUN --out FILE`") from e
    with tempfile.TemporaryDirectory(prefix="edgefuse-optimize-") as folder:
        options = ort.SessionOptions()
        options.graph_optimization_level = LEVELS[level]
        options.optimized_model_filepath = str(Path(folder) / "optimized.onnx")
        options.log_severity_level = 3
        ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        proto = onnx.load(options.optimized_model_filepath)
    synthesize_frontend_constants(proto, contract.audio)  # folding stored them again
    proto.ir_version = min(proto.ir_version, IR_VERSION)
    provenance = {**contract.provenance, "offline_optimization": {"level": level, "onnxruntime": ort.__version__}}
    embed_contract(proto, contract.replace(provenance=provenance))
    if level == "basic":
        onnx.checker.check_model(proto, full_check=True)
    payload = proto.SerializeToString()
    _check_same_outputs(source.SerializeToString(), payload, contract, atol)
    return _atomic.write_bytes(out, payload)


def _check_same_outputs(before: bytes, after: bytes, contract, atol: float) -> None:
    """Both models on the same synthetic batch of 8 (every modality present); raise if they differ."""
    feeds = batch_feeds(contract, [8])[8]
    runs = [ort.InferenceSession(m, providers=["CPUExecutionProvider"]).run(None, feeds) for m in (before, after)]
    diffs = {name: float(np.max(np.abs(a - b))) for name, a, b in zip(contract.outputs, *runs)}
    bad = {k: v for k, v in diffs.items() if not v <= atol}
    if bad:
        raise OptimizeError("optimized model differs from its input (" + ", ".join(f"{k}: max abs diff {v:.3g}" for k, v in bad.items())
                            + f") beyond {atol:g}; nothing was written")
