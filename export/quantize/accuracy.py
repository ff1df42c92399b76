"""Accuracy against the float parent, and finding the nodes whose int8 error does the most damage.

Per-node damage is onnxruntime's own `qdq_loss_debug` measure: run the float and the QDQ model
on the same feeds, match every quantized tensor with its float twin, and compute the signal to
quantization-noise ratio (dB) of its Quantize→Dequantize round trip. Lowest SQNR = most damage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import qdq_loss_debug

from edgefuse.export.quantize.calibration import FeedReader, batches


def session(model: str | Path | bytes, threads: int | None = None, spinning: bool = True) -> ort.InferenceSession:
    """A CPU session; `spinning=False` stops idle intra-op threads busy-waiting (for interleaved timing)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(model if isinstance(model, bytes) else str(model), options, providers=["CPUExecutionProvider"])


def predictions(model: str | Path, feeds: dict[str, np.ndarray], batch: int = 64) -> np.ndarray:
    """(N,) int64 top-1 class of every row of `feeds` (logits are the first output)."""
    s = session(model)
    return np.concatenate([s.run(None, b)[0].argmax(axis=1) for b in batches(feeds, batch)])


@dataclass(frozen=True)
class Reference:
    """The float parent's behaviour on the decision split (validation)."""

    feeds: dict[str, np.ndarray]
    labels: np.ndarray
    predicted: np.ndarray

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.predicted == self.labels))

    def compare(self, model: str | Path) -> dict:
        """Accuracy, its drop vs the parent (fraction, positive = worse) and top-1 agreement."""
        got = predictions(model, self.feeds)
        accuracy = float(np.mean(got == self.labels))
        return {"accuracy": accuracy, "drop": self.accuracy - accuracy, "top1_agreement": float(np.mean(got == self.predicted))}


def damaging_nodes(float_model: Path, qdq_model: Path, reader: FeedReader, quantizable: set[str], count: int,
                   folder: Path) -> list[tuple[str, float]]:
    """Up to `count` (node name, SQNR dB) of quantized nodes touching the worst-SQNR tensors, worst first.

    A tensor is quantized because a node producing or consuming it is; keeping those nodes float
    (if in `quantizable`, i.e. currently int8) removes that tensor's quantization error.
    """
    errors = _tensor_sqnr(float_model, qdq_model, reader, folder)
    touching = _nodes_by_tensor(onnx.load(str(float_model)))
    picked: dict[str, float] = {}
    for tensor, sqnr in sorted(errors.items(), key=lambda kv: kv[1]):
        for node in touching.get(tensor, []):
            if node in quantizable and node not in picked:
                picked[node] = sqnr
        if len(picked) >= count:
            break
    return list(picked.items())[:count]


def _tensor_sqnr(float_model: Path, qdq_model: Path, reader: FeedReader, folder: Path) -> dict[str, float]:
    """Tensor name → SQNR (dB) of its local QDQ round trip, over every feed of `reader`."""
    activations = {}
    for label, model in (("float", float_model), ("qdq", qdq_model)):
        augmented = folder / f"{label}.debug.onnx"
        qdq_loss_debug.modify_model_output_intermediate_tensors(str(model), str(augmented))
        reader.rewind()
        activations[label] = qdq_loss_debug.collect_activations(str(augmented), reader)
    matching = qdq_loss_debug.create_activation_matching(activations["qdq"], activations["float"])
    errors = qdq_loss_debug.compute_activation_error(matching)
    return {name: float(e["qdq_err"]) for name, e in errors.items() if np.isfinite(e.get("qdq_err", np.nan))}


def _nodes_by_tensor(proto: onnx.ModelProto) -> dict[str, list[str]]:
    """Tensor name → names of the nodes producing or consuming it."""
    out: dict[str, list[str]] = {}
    for node in proto.graph.node:
        for tensor in [*node.output, *node.input]:
            out.setdefault(tensor, []).append(node.name)
    return out
