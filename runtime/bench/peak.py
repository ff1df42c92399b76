"""This CPU's float matmul limit, measured as a large sgemm through onnxruntime.

The runtime may not import `onnx`, so the one-node MatMul graph is written directly in the
protobuf wire format (a handful of fields of ModelProto, GraphProto, NodeProto and
ValueInfoProto; field numbers from onnx/onnx.proto3). Both operands are graph inputs, so no
tensor data needs encoding. The sgemm runs on onnxruntime's own kernels (MLAS), the same code
that runs the models' Conv/MatMul/Gemm nodes, so the fraction reported against it is fair.
"""

from __future__ import annotations

import time

import numpy as np

_VARINT, _BYTES = 0, 2
_FLOAT = 1  # TensorProto.FLOAT


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, value: int | bytes | str) -> bytes:
    """One protobuf field: a varint for ints, length-delimited for bytes and strings."""
    if isinstance(value, int):
        return _varint(number << 3 | _VARINT) + _varint(value)
    payload = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | _BYTES) + _varint(len(payload)) + payload


def _float_matrix(name: str, rows: int, cols: int) -> bytes:
    """ValueInfoProto of a float32 (rows, cols) tensor."""
    dims = b"".join(_field(1, _field(1, d)) for d in (rows, cols))  # TensorShapeProto.dim{dim_value}
    tensor_type = _field(1, _FLOAT) + _field(2, dims)  # TypeProto.Tensor{elem_type, shape}
    return _field(1, name) + _field(2, _field(1, tensor_type))  # ValueInfoProto{name, type{tensor_type}}


def matmul_model(m: int, k: int, n: int) -> bytes:
    """Serialized ONNX model (IR 8, opset 17): Y (m, n) = MatMul(A (m, k), B (k, n)), all float32."""
    node = _field(1, "A") + _field(1, "B") + _field(2, "Y") + _field(3, "sgemm") + _field(4, "MatMul")
    graph = (
        _field(1, node) + _field(2, "matmul_peak")
        + _field(11, _float_matrix("A", m, k)) + _field(11, _float_matrix("B", k, n))
        + _field(12, _float_matrix("Y", m, n))
    )
    opset = _field(1, "") + _field(2, 17)
    return _field(1, 8) + _field(2, "edgefuse.bench") + _field(7, graph) + _field(8, opset)


def _best_sgemm(threads: int, sizes: tuple[int, ...], seconds: float) -> dict:
    """Best single-run rate over square sgemm `sizes`, each run for about `seconds`."""
    import onnxruntime as ort

    best = {"gflops": 0.0, "size": 0, "runs": 0}
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.log_severity_level = 3
    rng = np.random.default_rng(0)
    for size in sizes:
        session = ort.InferenceSession(matmul_model(size, size, size), options, providers=["CPUExecutionProvider"])
        feeds = {name: rng.standard_normal((size, size), dtype=np.float32) for name in ("A", "B")}
        session.run(None, feeds)  # first run allocates; not a steady-state figure
        runs, start, fastest = 0, time.perf_counter(), float("inf")
        while runs < 3 or time.perf_counter() - start < seconds:
            t0 = time.perf_counter()
            session.run(None, feeds)
            fastest = min(fastest, time.perf_counter() - t0)
            runs += 1
        gflops = 2.0 * size**3 / fastest / 1e9
        if gflops > best["gflops"]:
            best = {"gflops": gflops, "size": size, "runs": runs}
    return best


def matmul_peak(threads: int, sizes: tuple[int, ...] = (512, 1024, 1536), seconds: float = 0.4) -> dict:
    """This CPU's float32 sgemm limit for `threads` onnxruntime intra-op threads, in GFLOP/s.

    Measured directly with `threads` threads, and with one thread scaled by `threads`; the larger
    counts. On a machine shared with other processes, `threads` threads rarely all run undisturbed
    for a whole sgemm, so the direct figure reads low; one thread finds quiet moments far more
    often, and sgemm scales close to linearly over physical cores. The best single run of any size
    counts (a limit, not a typical rate). Returns {"gflops", "direct_gflops", "single_thread_gflops",
    "size", "threads", "runs"}.
    """
    direct = _best_sgemm(threads, sizes, seconds)
    single = _best_sgemm(1, sizes, seconds) if threads > 1 else direct
    return {
        "gflops": max(direct["gflops"], threads * single["gflops"]),
        "direct_gflops": direct["gflops"],
        "single_thread_gflops": single["gflops"],
        "size": direct["size"],
        "threads": threads,
        "runs": direct["runs"],
    }
