"""Exporting a training run to one self-describing `.onnx` file, gated on parity with PyTorch."""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from edgefuse.export.contract_io import embed_contract
from edgefuse.export.frontend_graph import synthesize_frontend_constants
from edgefuse.runtime import _atomic
from edgefuse.runtime.contract import ModelContract
from edgefuse.runtime.errors import EdgefuseError
from edgefuse.runtime.inputs import InputBuilder
from edgefuse.runtime.manifest import read_dataset
from edgefuse.train.data import examples_of
from edgefuse.train.run import load_run_with_contract, read_run_config

OPSET = 17
"""Opset 17 (LayerNormalization) with IR version 8 loads on onnxruntime 1.18 and every newer release."""
IR_VERSION = 8


class ParityError(EdgefuseError):
    """The exported graph's outputs differ from PyTorch's by more than the tolerance."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    parity: dict[str, float]
    """Max abs difference per output between onnxruntime and PyTorch on real samples."""
    samples: int
    bytes: int


class _Graph(nn.Module):
    """Positional-argument wrapper: the graph's inputs in contract order → (logits, probs)."""

    def __init__(self, model: nn.Module, names: list[str]):
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(**dict(zip(self.names, tensors)))
        return logits, logits.softmax(dim=-1)


def to_onnx(
    run: str | os.PathLike,
    out: str | os.PathLike,
    data: str | os.PathLike | None = None,
    samples: int = 32,
    atol: float = 1e-4,
) -> ExportResult:
    """Export `run` to `out`; fail with ParityError if any output differs from PyTorch by > `atol`."""
    model, contract = load_run_with_contract(run)
    feeds = _real_samples(run, contract, data, samples)
    proto = _export(model, contract, feeds)
    synthesize_frontend_constants(proto, contract.audio)  # computed in the graph, not stored
    contract = contract.replace(provenance={**contract.provenance, **_export_provenance(run)})
    parity = _parity(model, contract, proto, feeds, atol)
    contract = contract.replace(metrics={**contract.metrics, "parity_max_abs_diff": parity})
    embed_contract(proto, contract)
    onnx.checker.check_model(proto, full_check=True)
    payload = proto.SerializeToString()
    path = _atomic.write_bytes(out, payload)
    return ExportResult(path=path, parity=parity, samples=len(next(iter(feeds.values()))), bytes=len(payload))


def _real_samples(run, contract: ModelContract, data, samples: int) -> dict[str, np.ndarray]:
    """Feeds for up to `samples` validation rows of the run's data set (or `data`)."""
    folder = data or read_run_config(run).get("data", {}).get("path")
    if not folder or not Path(folder).is_dir():
        raise EdgefuseError(f"the data set of run {run} is not at {folder!r}; pass --data DIR for the parity check")
    rows = read_dataset(folder, splits=("val",))["val"][:samples]
    return InputBuilder(contract).build(examples_of(rows))


def _export(model: nn.Module, contract: ModelContract, feeds: dict[str, np.ndarray]) -> onnx.ModelProto:
    names = model.input_names(contract)
    axes = {name: {0: "batch"} for name in [*names, *contract.outputs]}
    if contract.text:
        axes[contract.text.input_ids][1] = axes[contract.text.attention_mask][1] = "tokens"
    buffer = io.BytesIO()
    args = tuple(torch.from_numpy(feeds[n]) for n in names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(
            _Graph(model, names).eval(), args, buffer, input_names=names, output_names=list(contract.outputs),
            dynamic_axes=axes, opset_version=OPSET, dynamo=False,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    proto.ir_version = IR_VERSION
    proto.producer_name = "edgefuse"
    return proto


@torch.no_grad()
def _parity(model: nn.Module, contract: ModelContract, proto: onnx.ModelProto, feeds, atol: float) -> dict[str, float]:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(list(contract.outputs), feeds)
    logits = model.eval()(**{k: torch.from_numpy(v) for k, v in feeds.items()})
    want = [logits.numpy(), logits.softmax(dim=-1).numpy()]
    diffs = {name: float(np.max(np.abs(g - w))) for name, g, w in zip(contract.outputs, got, want)}
    failing = {k: v for k, v in diffs.items() if not v <= atol}
    if failing:
        detail = ", ".join(f"{k}: max abs diff {v:.3g}" for k, v in failing.items())
        raise ParityError(f"exported graph differs from PyTorch beyond {atol:g} ({detail}); the export was not written")
    return diffs


def _export_provenance(run) -> dict:
    return {
        "exported_from_run": str(Path(run).resolve()),
        "onnx": onnx.__version__,
        "onnxruntime_at_export": ort.__version__,
        "torch": torch.__version__,
        "opset": OPSET,
    }
