"""The quantized-model makers: static QDQ int8, dynamic int8 and float16, each from a prepared model.

A plan says which nodes become int8 (by exporter scope and op type); everything else, and the
scopes the config keeps float (the audio frontend), stays float. Calibration runs once per
method and is cached, so timing many plans costs one calibration.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import onnx
from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quant_pre_process, quantize_dynamic, quantize_static

from edgefuse.export.quantize.calibration import FeedReader
from edgefuse.export.quantize.config import Calibration, QuantizeConfig
from edgefuse.runtime.bench.ort_profile import component_of

COMPUTE_OPS = ("Conv", "MatMul", "Gemm")
"""The op types whose int8 kernels can pay for their Quantize/Dequantize overhead."""
WIDE_OPS = (*COMPUTE_OPS, "Relu", "MaxPool", "GlobalAveragePool", "Gather")
"""Compute ops plus the cheap ops between them that int8 carries losslessly enough, and the
embedding Gather (size). Add (the attention masks add large negatives), LayerNormalization, Softmax, Div, Log and Mul stay float: their ranges
are wide or their outputs feed exponentials."""

_METHODS = {Calibration.MINMAX: CalibrationMethod.MinMax, Calibration.ENTROPY: CalibrationMethod.Entropy,
            Calibration.PERCENTILE: CalibrationMethod.Percentile}


@dataclass(frozen=True)
class Plan:
    """Which part of the graph becomes int8."""

    name: str
    components: tuple[str, ...] | None = None
    """Exporter scopes (`image/encoder`, `text/blocks`, ...) to quantize; None: every scope."""
    op_types: tuple[str, ...] = COMPUTE_OPS
    """Op types to quantize."""
    float_nodes: dict[str, str] = field(default_factory=dict)
    """Node name → why it is kept float (beyond what `components` leaves out)."""

    def with_float(self, reasons: dict[str, str]) -> Plan:
        return Plan(self.name, self.components, self.op_types, {**self.float_nodes, **reasons})


@dataclass
class Prepared:
    """The float model the quantizer works on (shape-inferred, BN folded when possible), on disk."""

    path: Path
    steps: list[str]
    """What pre-processing ran, e.g. ["quant_pre_process"] or the fallbacks taken and why."""

    @functools.cached_property
    def proto(self) -> onnx.ModelProto:
        """The prepared graph, loaded once and shared by every plan: read it, never change it."""
        return onnx.load(str(self.path))


def prepare(model: str | Path, folder: Path) -> Prepared:
    """Run `quant_pre_process` (shape inference + optimization); fall back step by step where it fails.

    Symbolic shape inference fails on some graphs (dynamic token axes, custom scopes); the
    fallbacks keep going with less preparation rather than refusing to quantize.
    """
    model, out = Path(model).resolve(), (folder / "prepared.onnx").resolve()
    attempts = [("quant_pre_process", {}), ("quant_pre_process without symbolic shapes", {"skip_symbolic_shape": True}),
                ("quant_pre_process without optimization", {"skip_symbolic_shape": True, "skip_optimization": True})]
    failures = []
    for label, options in attempts:
        try:
            with _working_dir(folder):  # symbolic shape inference leaves temporary files in the cwd
                quant_pre_process(str(model), str(out), **options)
            return Prepared(out, failures + [label])
        except Exception as e:  # noqa: BLE001 - any failure means: try with less preparation
            failures.append(f"{label} failed: {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}")
    proto = onnx.shape_inference.infer_shapes(onnx.load(str(model)))
    onnx.save(proto, str(out))
    return Prepared(out, failures + ["onnx shape inference only"])


@contextlib.contextmanager
def _working_dir(folder: Path):
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def node_components(proto: onnx.ModelProto) -> dict[str, str]:
    """Node name → exporter scope (`/model/image/encoder/...` → `image/encoder`)."""
    return {node.name: component_of(node.name) for node in proto.graph.node}


def kept_float_by_scope(proto: onnx.ModelProto, config: QuantizeConfig) -> dict[str, str]:
    """Nodes in the config's always-float scopes, with the reason."""
    return {name: f"in {scope}: numerically sensitive, kept float by default"
            for name, comp in node_components(proto).items()
            for scope in config.keep_float_scopes if comp.startswith(scope)}


def excluded_nodes(proto: onnx.ModelProto, plan: Plan) -> list[str]:
    """Names of nodes the quantizer must leave float under `plan`."""
    components = node_components(proto)
    outside = [n for n, c in components.items() if plan.components is not None and not any(c.startswith(p) for p in plan.components)]
    return sorted(set(outside) | set(plan.float_nodes))


def static_int8(prepared: Prepared, out: Path, plan: Plan, config: QuantizeConfig, reader: FeedReader, cache: Path) -> Path:
    """QDQ int8 of `prepared` under `plan`, calibrated by `reader` (ranges cached in `cache`)."""
    reader.rewind()
    options = dict(
        quant_format=QuantFormat.QDQ, per_channel=config.per_channel, reduce_range=config.reduce_range,
        activation_type=QuantType.QUInt8 if config.activations_unsigned else QuantType.QInt8, weight_type=QuantType.QInt8,
        op_types_to_quantize=list(plan.op_types),
        nodes_to_exclude=excluded_nodes(prepared.proto, plan), calibrate_method=_METHODS[config.calibration],
        extra_options={"CalibMovingAverage": False, **config.extra},
    )
    if "calibration_cache_path" in inspect.signature(quantize_static).parameters:
        options["calibration_cache_path"] = str(cache)  # onnxruntime >= 1.24: calibrate once, reuse per plan
    with _quiet():
        quantize_static(str(prepared.path), str(out), reader, **options)
    return out


def dynamic_int8(prepared: Prepared, out: Path, plan: Plan, config: QuantizeConfig) -> Path:
    """Int8 weights, per-call activation quantization; MatMul/Gemm only (dynamic int8 convs are slow)."""
    ops = [op for op in plan.op_types if op in ("MatMul", "Gemm")]
    with _quiet():
        quantize_dynamic(str(prepared.path), str(out), op_types_to_quantize=ops, per_channel=config.per_channel,
                         reduce_range=config.reduce_range, weight_type=QuantType.QInt8,
                         nodes_to_exclude=excluded_nodes(prepared.proto, plan))
    return out


def float16(model: onnx.ModelProto, plan: Plan) -> onnx.ModelProto:
    """Float16 weights and compute, float32 inputs/outputs; `plan.float_nodes` stay float32."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    return convert_float_to_float16(model, keep_io_types=True, node_block_list=sorted(plan.float_nodes),
                                    disable_shape_infer=False)


class _quiet:
    """onnxruntime's quantizer logs every excluded node at INFO; keep the terminal to our progress bar."""

    def __enter__(self):
        self.level = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)

    def __exit__(self, *exc):
        logging.getLogger().setLevel(self.level)


def scratch() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="edgefuse-quantize-")
