"""Keeping the audio frontend's constants out of the file: rebuild them in the graph from scalars.

The log-mel frontend's windowed real-DFT matrix, (n_fft, 2 x bins) float32, is 126 KB at the
defaults: an eighth of an int8 file, since the frontend stays float. It is a pure function of
n_fft and the bin range, so the graph computes it from a handful of scalars with
Range/Mod/Cos/Sin nodes; onnxruntime constant-folds that subgraph once when the session is
created, so run time is unchanged. The mel matrix (2 x bins, n_mels) is rebuilt the same way
from its n_mels + 2 band edges. Every writer in `edgefuse.export` (export, quantize, optimize)
calls `synthesize_frontend_constants` last, because quantizer pre-processing and offline
optimization fold the subgraphs back into initializers.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import onnx
from onnx import helper, numpy_helper

from edgefuse.runtime.contract import AudioSpec
from edgefuse.train.frontend import band_bins, dft_matrix, mel_edges, mel_filterbank, power_mel_matrix

_SCOPE = "/model/audio/frontend/constant"
"""Node names sit in the frontend's exporter scope, which quantization keeps float."""


def synthesize_frontend_constants(proto: onnx.ModelProto, audio: AudioSpec | None, atol: float = 1e-5) -> list[str]:
    """Replace every initializer or Constant node equal to the DFT or mel matrix of `audio`'s
    frontend by a subgraph computing it.

    Returns the names of the replaced tensors (empty if none matched, or `audio` is None). The
    subgraph's output keeps the tensor's name, so consumers are untouched.
    """
    if audio is None:
        return []
    filters = mel_filterbank(audio.sample_rate, audio.n_fft, audio.n_mels, audio.f_min, audio.f_max)
    bins = band_bins(filters)
    builders = [
        (dft_matrix(audio.n_fft, bins), lambda prefix, output: _dft_subgraph(prefix, audio.n_fft, bins, output)),
        (power_mel_matrix(filters, bins), lambda prefix, output: _mel_subgraph(prefix, audio, bins, output)),
    ]

    def builder_for(tensor: onnx.TensorProto):
        dims = tuple(tensor.dims)
        for want, build in builders:
            if tensor.data_type == onnx.TensorProto.FLOAT and dims == want.shape and np.allclose(numpy_helper.to_array(tensor), want, atol=atol, rtol=0):
                return build
        return None

    graph = proto.graph
    replaced: list[str] = []
    taken = {i.name for i in graph.initializer} | {o for node in graph.node for o in node.output}
    # Optimizers may keep a scalar of an earlier synthesis alive (merged with an equal constant), so
    # each subgraph gets a scope no existing tensor name lives in.
    scopes = (f"{_SCOPE}_{i}" for i in itertools.count() if not any(t.startswith(f"{_SCOPE}_{i}/") for t in taken))
    for init in list(graph.initializer):
        build = builder_for(init)
        if build is not None:
            graph.initializer.remove(init)
            consumer = min(i for i, node in enumerate(graph.node) if init.name in node.input)
            _insert(graph, consumer, build(next(scopes), init.name))
            replaced.append(init.name)
    for node in list(graph.node):
        value = next((a.t for a in node.attribute if a.name == "value"), None) if node.op_type == "Constant" else None
        build = builder_for(value) if value is not None else None
        if build is not None:
            position = list(graph.node).index(node)
            graph.node.remove(node)
            _insert(graph, position, build(next(scopes), node.output[0]))
            replaced.append(node.output[0])
    return replaced


def _insert(graph: onnx.GraphProto, position: int, built: tuple[list[onnx.TensorProto], list[onnx.NodeProto]]) -> None:
    """Add a subgraph's scalars and its nodes at `position` (before the first consumer)."""
    constants, nodes = built
    graph.initializer.extend(constants)
    for offset, node in enumerate(nodes):
        graph.node.insert(position + offset, node)


def _scalars(prefix: str, **values: tuple) -> list[onnx.TensorProto]:
    return [numpy_helper.from_array(np.array(value, dtype=dtype), f"{prefix}/{name}") for name, (value, dtype) in values.items()]


def _dft_subgraph(prefix: str, n_fft: int, bins: range, output: str) -> tuple[list[onnx.TensorProto], list[onnx.NodeProto]]:
    """Scalars and nodes computing `dft_matrix(n_fft, bins)`: Hann-windowed [cos | -sin] of the bins.

    The phase index n * k is reduced modulo n_fft in int64 before the float conversion, so the
    float32 angle stays in [0, 2π) and matches the float64 reference to ~1e-7.
    """
    constants = _scalars(
        prefix, zero=(0, np.int64), one=(1, np.int64), n_fft=(n_fft, np.int64), first_bin=(bins.start, np.int64),
        end_bin=(bins.stop, np.int64), axis0=([0], np.int64), axis1=([1], np.int64),
        step=(2 * math.pi / n_fft, np.float32), half=(0.5, np.float32),
    )
    p = lambda name: f"{prefix}/{name}"  # noqa: E731
    nodes = [
        helper.make_node("Range", [p("zero"), p("n_fft"), p("one")], [p("n")], name=p("Range_n")),
        helper.make_node("Range", [p("first_bin"), p("end_bin"), p("one")], [p("k")], name=p("Range_k")),
        helper.make_node("Unsqueeze", [p("n"), p("axis1")], [p("n_col")], name=p("Unsqueeze_n")),
        helper.make_node("Unsqueeze", [p("k"), p("axis0")], [p("k_row")], name=p("Unsqueeze_k")),
        helper.make_node("Mul", [p("n_col"), p("k_row")], [p("nk")], name=p("Mul_nk")),
        helper.make_node("Mod", [p("nk"), p("n_fft")], [p("nk_mod")], name=p("Mod_nk")),
        helper.make_node("Cast", [p("nk_mod")], [p("nk_f")], name=p("Cast_nk"), to=onnx.TensorProto.FLOAT),
        helper.make_node("Mul", [p("nk_f"), p("step")], [p("angle")], name=p("Mul_angle")),
        helper.make_node("Cast", [p("n_col")], [p("n_f")], name=p("Cast_n"), to=onnx.TensorProto.FLOAT),
        helper.make_node("Mul", [p("n_f"), p("step")], [p("window_angle")], name=p("Mul_window_angle")),
        helper.make_node("Cos", [p("window_angle")], [p("window_cos")], name=p("Cos_window")),
        helper.make_node("Mul", [p("window_cos"), p("half")], [p("window_half")], name=p("Mul_window_half")),
        helper.make_node("Sub", [p("half"), p("window_half")], [p("window")], name=p("Sub_window")),
        helper.make_node("Cos", [p("angle")], [p("cos")], name=p("Cos_angle")),
        helper.make_node("Sin", [p("angle")], [p("sin")], name=p("Sin_angle")),
        helper.make_node("Neg", [p("sin")], [p("neg_sin")], name=p("Neg_sin")),
        helper.make_node("Concat", [p("cos"), p("neg_sin")], [p("basis")], name=p("Concat"), axis=1),
        helper.make_node("Mul", [p("basis"), p("window")], [output], name=p("Mul_window")),
    ]
    return constants, nodes


def _mel_subgraph(prefix: str, audio: AudioSpec, bins: range, output: str) -> tuple[list[onnx.TensorProto], list[onnx.NodeProto]]:
    """Scalars and nodes computing `power_mel_matrix`, (2 x bins, n_mels), from the band edges in Hz.

    Same formula as `mel_filterbank`: bin frequency k * sample_rate / n_fft, rising and falling
    slopes between consecutive edges, clipped at 0. The filters of the bins serve the real parts
    and again the imaginary parts. Only the n_mels + 2 edges are stored.
    """
    edges = mel_edges(audio.f_min, audio.f_max, audio.n_mels)
    constants = _scalars(
        prefix, first_bin=(bins.start, np.int64), end_bin=(bins.stop, np.int64), one=(1, np.int64),
        axis1=([1], np.int64), bin_hz=(audio.sample_rate / audio.n_fft, np.float32), floor=(0.0, np.float32),
        lower=(edges[None, :-2], np.float32), center=(edges[None, 1:-1], np.float32), upper=(edges[None, 2:], np.float32),
    )
    p = lambda name: f"{prefix}/{name}"  # noqa: E731
    nodes = [
        helper.make_node("Range", [p("first_bin"), p("end_bin"), p("one")], [p("k")], name=p("Range_k")),
        helper.make_node("Unsqueeze", [p("k"), p("axis1")], [p("k_col")], name=p("Unsqueeze_k")),
        helper.make_node("Cast", [p("k_col")], [p("k_f")], name=p("Cast_k"), to=onnx.TensorProto.FLOAT),
        helper.make_node("Mul", [p("k_f"), p("bin_hz")], [p("hz")], name=p("Mul_hz")),
        helper.make_node("Sub", [p("hz"), p("lower")], [p("above")], name=p("Sub_above")),
        helper.make_node("Sub", [p("center"), p("lower")], [p("rise")], name=p("Sub_rise")),
        helper.make_node("Div", [p("above"), p("rise")], [p("rising")], name=p("Div_rising")),
        helper.make_node("Sub", [p("upper"), p("hz")], [p("below")], name=p("Sub_below")),
        helper.make_node("Sub", [p("upper"), p("center")], [p("fall")], name=p("Sub_fall")),
        helper.make_node("Div", [p("below"), p("fall")], [p("falling")], name=p("Div_falling")),
        helper.make_node("Min", [p("rising"), p("falling")], [p("tri")], name=p("Min_tri")),
        helper.make_node("Max", [p("tri"), p("floor")], [p("mel")], name=p("Max_clip")),
        helper.make_node("Concat", [p("mel"), p("mel")], [output], name=p("Concat"), axis=0),
    ]
    return constants, nodes
