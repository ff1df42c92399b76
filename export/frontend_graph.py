"""Keeping the audio frontend's constants out of the file: rebuild them in the graph from scalars.

The log-mel frontend's windowed real-DFT matrix, (n_fft, n_fft) float32, is 256 KB at n_fft 256:
a quarter of an int8 file, since the frontend stays float. It is a pure function of
n_fft, so the graph computes it from a handful of scalars with Range/Mod/Cos/Sin nodes;
onnxruntime constant-folds that subgraph once when the session is created, so run time is
unchanged. The mel matrix (n_fft, n_mels) is rebuilt the same way from its n_mels + 2 band
edges. Every writer in `edgefuse.export` (export, quantize, optimize) calls
`synthesize_frontend_constants` last, because quantizer pre-processing and offline optimization
fold the subgraphs back into initializers.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import onnx
from onnx import helper, numpy_helper

from edgefuse.train.frontend import dft_matrix, hz_to_mel, mel_to_hz, power_mel_matrix

_SCOPE = "/model/audio/frontend/constant"
"""Node names sit in the frontend's exporter scope, which quantization keeps float."""


def synthesize_frontend_constants(proto: onnx.ModelProto, sample_rate: int | None = None, atol: float = 1e-5) -> list[str]:
    """Replace every initializer or Constant node equal to `dft_matrix(n_fft)` (and, given
    `sample_rate`, to `power_mel_matrix(sample_rate, n_fft, n_mels)`) by a subgraph computing it.

    Returns the names of the replaced tensors (empty if none matched). The subgraph's output
    keeps the tensor's name, so consumers are untouched.
    """
    graph = proto.graph
    replaced: list[str] = []
    taken = {i.name for i in graph.initializer} | {o for node in graph.node for o in node.output}
    # Optimizers may keep a scalar of an earlier synthesis alive (merged with an equal constant), so
    # each subgraph gets a scope no existing tensor name lives in.
    scopes = (f"{_SCOPE}_{i}" for i in itertools.count() if not any(t.startswith(f"{_SCOPE}_{i}/") for t in taken))
    for init in list(graph.initializer):
        build = _subgraph_for(init, sample_rate, atol)
        if build is not None:
            graph.initializer.remove(init)
            consumer = min(i for i, node in enumerate(graph.node) if init.name in node.input)
            _insert(graph, consumer, build(next(scopes), init.name))
            replaced.append(init.name)
    for node in list(graph.node):
        value = next((a.t for a in node.attribute if a.name == "value"), None) if node.op_type == "Constant" else None
        build = _subgraph_for(value, sample_rate, atol) if value is not None else None
        if build is not None:
            position = list(graph.node).index(node)
            graph.node.remove(node)
            _insert(graph, position, build(next(scopes), node.output[0]))
            replaced.append(node.output[0])
    return replaced


def _subgraph_for(tensor: onnx.TensorProto, sample_rate: int | None, atol: float):
    """A `(prefix, output) -> (constants, nodes)` builder if `tensor` is a frontend constant, else None."""
    n_fft = _dft_size(tensor, atol)
    if n_fft is not None:
        return lambda prefix, output: _dft_subgraph(prefix, n_fft, output)
    mel = _mel_args(tensor, sample_rate, atol)
    if mel is not None:
        return lambda prefix, output: _mel_subgraph(prefix, *mel, output)
    return None


def _insert(graph: onnx.GraphProto, position: int, built: tuple[list[onnx.TensorProto], list[onnx.NodeProto]]) -> None:
    """Add a subgraph's scalars and its nodes at `position` (before the first consumer)."""
    constants, nodes = built
    graph.initializer.extend(constants)
    for offset, node in enumerate(nodes):
        graph.node.insert(position + offset, node)


def _dft_size(init: onnx.TensorProto, atol: float) -> int | None:
    """n_fft if `init` holds the windowed real-DFT matrix of that size, else None (cheap shape test first)."""
    dims = tuple(init.dims)
    if init.data_type != onnx.TensorProto.FLOAT or len(dims) != 2 or dims[0] != dims[1] or dims[0] < 8:
        return None
    n_fft = dims[0]
    return n_fft if np.allclose(numpy_helper.to_array(init), dft_matrix(n_fft), atol=atol, rtol=0) else None


def _dft_subgraph(prefix: str, n_fft: int, output: str) -> tuple[list[onnx.TensorProto], list[onnx.NodeProto]]:
    """Scalars and nodes computing `dft_matrix(n_fft)`: Hann-windowed cos of bins 0..n_fft//2 and
    -sin of bins 1..(n_fft-1)//2, as (n_fft, n_fft).

    The phase index n * k is reduced modulo n_fft in int64 before the float conversion, so the
    float32 angle stays in [0, 2π) and matches the float64 reference to ~1e-7.
    """
    def const(name: str, value, dtype) -> onnx.TensorProto:
        return numpy_helper.from_array(np.array(value, dtype=dtype), f"{prefix}/{name}")

    constants = [
        const("zero", 0, np.int64), const("one", 1, np.int64), const("n_fft", n_fft, np.int64),
        const("n_bins", n_fft // 2 + 1, np.int64), const("axis0", [0], np.int64), const("axis1", [1], np.int64),
        const("sin_start", [1], np.int64), const("sin_end", [(n_fft - 1) // 2 + 1], np.int64),
        const("step", 2 * math.pi / n_fft, np.float32), const("half", 0.5, np.float32),
    ]
    p = lambda name: f"{prefix}/{name}"  # noqa: E731
    nodes = [
        helper.make_node("Range", [p("zero"), p("n_fft"), p("one")], [p("n")], name=p("Range_n")),
        helper.make_node("Range", [p("zero"), p("n_bins"), p("one")], [p("k")], name=p("Range_k")),
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
        helper.make_node("Sin", [p("angle")], [p("sin_all")], name=p("Sin_angle")),
        helper.make_node("Slice", [p("sin_all"), p("sin_start"), p("sin_end"), p("axis1")], [p("sin")], name=p("Slice_sin")),
        helper.make_node("Neg", [p("sin")], [p("neg_sin")], name=p("Neg_sin")),
        helper.make_node("Concat", [p("cos"), p("neg_sin")], [p("basis")], name=p("Concat"), axis=1),
        helper.make_node("Mul", [p("basis"), p("window")], [output], name=p("Mul_window")),
    ]
    return constants, nodes


def _mel_args(tensor: onnx.TensorProto, sample_rate: int | None, atol: float) -> tuple[int, int, int] | None:
    """(sample_rate, n_fft, n_mels) if `tensor` is that `power_mel_matrix` (default f_min/f_max), else None."""
    dims = tuple(tensor.dims)
    if sample_rate is None or tensor.data_type != onnx.TensorProto.FLOAT or len(dims) != 2 or dims[0] < 8:
        return None
    n_fft, n_mels = dims
    if n_mels < 2 or n_mels > 512:
        return None
    want = power_mel_matrix(sample_rate, n_fft, n_mels)
    return (sample_rate, n_fft, n_mels) if np.allclose(numpy_helper.to_array(tensor), want, atol=atol, rtol=0) else None


def _mel_subgraph(prefix: str, sample_rate: int, n_fft: int, n_mels: int, output: str) -> tuple[list[onnx.TensorProto], list[onnx.NodeProto]]:
    """Scalars and nodes computing `power_mel_matrix`, (n_fft, n_mels), from the band edges in Hz.

    Same formula as `mel_filterbank`: bin frequency k * sample_rate / n_fft, rising and falling
    slopes between consecutive edges, clipped at 0. The (F, n_mels) filters serve the real parts;
    their rows 1..(n_fft-1)//2 follow for the imaginary parts. Only the n_mels + 2 edges are stored.
    """
    f_max = sample_rate / 2
    edges = mel_to_hz(np.linspace(hz_to_mel(np.array(20.0)), hz_to_mel(np.array(f_max)), n_mels + 2))
    p = lambda name: f"{prefix}/{name}"  # noqa: E731
    constants = [numpy_helper.from_array(np.array(v, dtype=d), p(n)) for n, v, d in (
        ("zero", 0, np.int64), ("one", 1, np.int64), ("n_bins", n_fft // 2 + 1, np.int64), ("axis0", [0], np.int64),
        ("axis1", [1], np.int64), ("sin_start", [1], np.int64), ("sin_end", [(n_fft - 1) // 2 + 1], np.int64),
        ("bin_hz", sample_rate / n_fft, np.float32), ("floor", 0.0, np.float32),
        ("lower", edges[None, :-2], np.float32), ("center", edges[None, 1:-1], np.float32), ("upper", edges[None, 2:], np.float32))]
    nodes = [
        helper.make_node("Range", [p("zero"), p("n_bins"), p("one")], [p("k")], name=p("Range_k")),
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
        helper.make_node("Slice", [p("mel"), p("sin_start"), p("sin_end"), p("axis0")], [p("mel_imag")], name=p("Slice_imag")),
        helper.make_node("Concat", [p("mel"), p("mel_imag")], [output], name=p("Concat"), axis=0),
    ]
    return constants, nodes
