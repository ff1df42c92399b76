"""Why the audio frontend is slow in onnxruntime, and what formulation fixes it (measured).

    python benchmarks/frontend_formulation.py [--threads 2] [--batches 1,32]

The demo model's log-mel frontend (train/frontend.py) computes the windowed DFT as a Conv1d with
one input channel, a 400-sample kernel and stride 160. This script builds that frontend as an ONNX
graph, next to the same frontend with the frames gathered first and the DFT as one MatMul
(frames (B, T, 400) @ DFT (400, 402)), checks both give the same log-mel, and times both with
onnxruntime. Needs the `onnx` package (edgefuse[export]). Writes benchmarks/results/frontend_formulation.json and .md.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

import numpy as np
import onnx
import onnxruntime as ort
from _results import write_result
from onnx import TensorProto, helper, numpy_helper

from edgefuse.runtime.bench.peak import matmul_peak
from edgefuse.runtime.bench.stats import latency_stats, time_calls
from edgefuse.train.frontend import LOG_FLOOR, dft_kernels, mel_filterbank

RATE, N_FFT, HOP, N_MELS, SAMPLES = 16000, 400, 160, 40, 16000
FRAMES, BINS = 1 + (SAMPLES - N_FFT) // HOP, N_FFT // 2 + 1


def _model(nodes, initializers, output_shape) -> bytes:
    graph = helper.make_graph(
        nodes, "frontend", [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["B", SAMPLES])],
        [helper.make_tensor_value_info("logmel", TensorProto.FLOAT, output_shape)],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in initializers.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def _power_then_mel(spec: str, axis: int, mel_input_order: tuple[str, str]) -> list:
    """Nodes: split `spec` into real/imag along `axis`, power, mel MatMul, log."""
    return [
        helper.make_node("Split", [spec, "halves"], ["re", "im"], axis=axis),
        helper.make_node("Mul", ["re", "re"], ["re2"]), helper.make_node("Mul", ["im", "im"], ["im2"]),
        helper.make_node("Add", ["re2", "im2"], ["power"]),
        helper.make_node("MatMul", list(mel_input_order), ["mel_power"]),
        helper.make_node("Add", ["mel_power", "floor"], ["floored"]), helper.make_node("Log", ["floored"], ["logmel"]),
    ]


def conv1d_frontend() -> bytes:
    """As exported today: Conv1d DFT (B, 1, S) → (B, 402, T); mel (40, 201) @ power (B, 201, T)."""
    nodes = [helper.make_node("Unsqueeze", ["audio", "axis1"], ["x"]),
             helper.make_node("Conv", ["x", "dft"], ["spec"], strides=[HOP]),
             *_power_then_mel("spec", 1, ("mel", "power"))]
    return _model(nodes, {"axis1": np.array([1], np.int64), "dft": dft_kernels(N_FFT), "halves": np.array([BINS, BINS], np.int64),
                          "mel": mel_filterbank(RATE, N_FFT, N_MELS), "floor": np.float32(LOG_FLOOR)}, ["B", N_MELS, FRAMES])


def gather_matmul_frontend() -> bytes:
    """Frames gathered by index (B, T, 400), one MatMul with the DFT (400, 402), mel as (B, T, 201) @ (201, 40)."""
    frame_index = (np.arange(FRAMES)[:, None] * HOP + np.arange(N_FFT)[None, :]).astype(np.int64)  # (T, 400)
    nodes = [helper.make_node("Gather", ["audio", "frame_index"], ["frames"], axis=1),
             helper.make_node("MatMul", ["frames", "dft_t"], ["spec"]),
             *_power_then_mel("spec", 2, ("power", "mel_t"))]
    # Output stays time-major (B, T, 40): the CNN can be trained on that layout, so no Transpose is needed.
    return _model(nodes, {"frame_index": frame_index, "dft_t": dft_kernels(N_FFT)[:, 0, :].T.copy(),
                          "halves": np.array([BINS, BINS], np.int64), "mel_t": mel_filterbank(RATE, N_FFT, N_MELS).T.copy(),
                          "floor": np.float32(LOG_FLOOR)}, ["B", FRAMES, N_MELS])


def measure(payload: bytes, audio: np.ndarray, threads: int, runs: int) -> tuple[dict, np.ndarray]:
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads, options.log_severity_level = threads, 1, 3
    session = ort.InferenceSession(payload, options, providers=["CPUExecutionProvider"])
    out = session.run(None, {"audio": audio})[0]
    seconds = time_calls(lambda: session.run(None, {"audio": audio}), min_runs=runs, min_seconds=1.0)
    return {**latency_stats(seconds), "best_ms": float(seconds.min() * 1e3)}, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    dft_flops = 2 * FRAMES * N_FFT * 2 * BINS  # per sample: the DFT product dominates the frontend
    peak = matmul_peak(args.threads)
    rng = np.random.default_rng(0)
    results, lines = {}, ["| batch | formulation | p50 ms | best ms | DFT GFLOP/s (best) | max abs diff vs Conv1d |", "|---|---|---|---|---|---|"]
    for batch in (int(b) for b in args.batches.split(",")):
        audio = (0.1 * rng.standard_normal((batch, SAMPLES))).astype(np.float32)
        conv_stats, conv_out = measure(conv1d_frontend(), audio, args.threads, args.runs)
        gm_stats, gm_out = measure(gather_matmul_frontend(), audio, args.threads, args.runs)
        diff = float(np.max(np.abs(conv_out - gm_out.transpose(0, 2, 1))))
        results[str(batch)] = {"conv1d": conv_stats, "gather_matmul": gm_stats, "max_abs_diff": diff,
                               "speedup_p50": conv_stats["p50"] / gm_stats["p50"]}
        for name, stats in (("Conv1d (today)", conv_stats), ("Gather + MatMul", gm_stats)):
            gflops = batch * dft_flops / (stats["best_ms"] / 1e3) / 1e9
            lines.append(f"| {batch} | {name} | {stats['p50']:.3f} | {stats['best_ms']:.3f} | {gflops:.1f} | "
                         f"{'–' if name.startswith('Conv') else f'{diff:.2e}'} |")
    headline = {"threads": args.threads, "matmul_limit_gflops": peak["gflops"], "dft_mflops_per_sample": dft_flops / 1e6,
                "per_batch": results}
    lines += ["", f"Float matmul limit on this machine: {peak['gflops']:.1f} GFLOP/s ({args.threads} threads). "
              f"The DFT is {dft_flops / 1e6:.1f} MFLOP per 1 s clip."]
    print(write_result("frontend_formulation", headline, lines, None, shlex.join(["python", *sys.argv])).read_text())


if __name__ == "__main__":
    main()
