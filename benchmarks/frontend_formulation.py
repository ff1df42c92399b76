"""Why the in-graph audio frontend is framed GEMMs with a 20 ms hop (measured).

    python benchmarks/frontend_formulation.py [--threads 2] [--batches 1,32]

Times three ways of writing the log-mel frontend as ONNX, at the previous frame settings
(n_fft 400, hop 160) and at today's (n_fft 256, hop 320, `AudioSpec`'s defaults):

- Conv1d: the windowed DFT as a strided Conv1d with one input channel (edgefuse's first version);
- STFT: the ONNX `STFT` op, then power and mel;
- framed MatMul: today's `edgefuse.train.frontend.LogMel`, exported by torch.onnx exactly as the
  model export does it — frames from Reshape/Slice/Concat, the (n_fft, n_fft) real DFT and the
  mel pooling as two MatMuls.

Each graph's log-mel is checked against a float64 numpy rFFT reference. Needs torch and onnx
(edgefuse[train,export]). Writes benchmarks/results/frontend_formulation.json and .md.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import shlex
import sys
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
from _results import write_result
from onnx import TensorProto, helper, numpy_helper

from edgefuse.runtime.bench.stats import latency_stats, time_calls
from edgefuse.runtime.contract import AudioSpec
from edgefuse.train.frontend import LOG_FLOOR, LogMel, mel_filterbank

RATE, N_MELS, SAMPLES = 16000, 40, 16000
SETTINGS = {"previous (n_fft 400, hop 160)": (400, 160), f"today (n_fft {AudioSpec.n_fft}, hop {AudioSpec.hop_length})": (AudioSpec.n_fft, AudioSpec.hop_length)}


def frame_count(n_fft: int, hop: int) -> int:
    return SAMPLES // hop - math.ceil(n_fft / hop) + 1


def _model(nodes, initializers) -> bytes:
    graph = helper.make_graph(
        nodes, "frontend", [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["B", SAMPLES])],
        [helper.make_tensor_value_info("logmel", TensorProto.FLOAT, ["B", "T", N_MELS])],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in initializers.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def _mel_log(power: str) -> list:
    return [helper.make_node("MatMul", [power, "mel_t"], ["mel_power"]),
            helper.make_node("Add", ["mel_power", "floor"], ["floored"]), helper.make_node("Log", ["floored"], ["logmel"])]


def conv1d_frontend(n_fft: int, hop: int) -> bytes:
    """(B, 1, S) * (2F, 1, n_fft) stride hop → (B, 2F, T) → power (B, T, F) → mel → log."""
    bins = n_fft // 2 + 1
    nodes = [helper.make_node("Unsqueeze", ["audio", "axis1"], ["x"]),
             helper.make_node("Conv", ["x", "dft"], ["spec"], strides=[hop]),
             helper.make_node("Split", ["spec", "halves"], ["re", "im"], axis=1),
             helper.make_node("Mul", ["re", "re"], ["re2"]), helper.make_node("Mul", ["im", "im"], ["im2"]),
             helper.make_node("Add", ["re2", "im2"], ["power_ft"]), helper.make_node("Transpose", ["power_ft"], ["power"], perm=[0, 2, 1]),
             *_mel_log("power")]
    return _model(nodes, {"axis1": np.array([1], np.int64), "dft": _full_dft(n_fft).T[:, None, :].copy(),
                          "halves": np.array([bins, bins], np.int64), **_mel_constants(n_fft)})


def _full_dft(n_fft: int) -> np.ndarray:
    """(n_fft, 2F) windowed [cos | -sin] of every bin, zero columns included, as the first version had it."""
    n, k = np.arange(n_fft)[:, None], np.arange(n_fft // 2 + 1)[None, :]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)
    return (np.concatenate([np.cos(2 * np.pi * k * n / n_fft), -np.sin(2 * np.pi * k * n / n_fft)], axis=1) * window).astype(np.float32)


def stft_frontend(n_fft: int, hop: int) -> bytes:
    """STFT (B, T, F, 2) → power by ReduceSumSquare over the last axis → mel → log."""
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    nodes = [helper.make_node("Unsqueeze", ["audio", "axis2"], ["x"]),
             helper.make_node("STFT", ["x", "hop", "window", "n_fft"], ["spec"], onesided=1),
             helper.make_node("ReduceSumSquare", ["spec"], ["power"], axes=[-1], keepdims=0), *_mel_log("power")]
    return _model(nodes, {"axis2": np.array([2], np.int64), "hop": np.array(hop, np.int64), "window": window,
                          "n_fft": np.array(n_fft, np.int64), **_mel_constants(n_fft)})


def _mel_constants(n_fft: int) -> dict:
    return {"mel_t": mel_filterbank(RATE, n_fft, N_MELS).T.copy(), "floor": np.float32(LOG_FLOOR)}


def framed_matmul_frontend(n_fft: int, hop: int) -> bytes:
    """edgefuse's LogMel, exported the way `edgefuse export` exports it (TorchScript, opset 17)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(LogMel(RATE, n_fft, hop, N_MELS).eval(), (torch.zeros(1, SAMPLES),), buffer, input_names=["audio"],
                          output_names=["logmel"], dynamic_axes={"audio": {0: "B"}, "logmel": {0: "B"}}, opset_version=17, dynamo=False)
    return buffer.getvalue()


def reference(audio: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """float64 numpy rFFT log-mel, (B, T, n_mels)."""
    window = np.hanning(n_fft + 1)[:-1]
    frames = np.lib.stride_tricks.sliding_window_view(audio.astype(np.float64), n_fft, axis=1)[:, ::hop][:, : frame_count(n_fft, hop)]
    power = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2
    return np.log(power @ mel_filterbank(RATE, n_fft, N_MELS).T + LOG_FLOOR)


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
    rng = np.random.default_rng(0)
    formulations = {"Conv1d": conv1d_frontend, "STFT op": stft_frontend, "framed MatMul": framed_matmul_frontend}
    results = {}
    lines = ["| frames | batch | formulation | p50 ms | best ms | DFT MFLOP per clip | max abs diff vs float64 rFFT |", "|---|---|---|---|---|---|---|"]
    for setting, (n_fft, hop) in SETTINGS.items():
        dft_mflops = 2 * frame_count(n_fft, hop) * n_fft * n_fft / 1e6  # today's square real-DFT GEMM; the STFT op's FFT does less
        for batch in (int(b) for b in args.batches.split(",")):
            audio = (0.1 * rng.standard_normal((batch, SAMPLES))).astype(np.float32)
            want = reference(audio, n_fft, hop)
            for name, build in formulations.items():
                stats, out = measure(build(n_fft, hop), audio, args.threads, args.runs)
                diff = float(np.max(np.abs(out - want)))
                results.setdefault(setting, {}).setdefault(str(batch), {})[name] = {**stats, "max_abs_diff": diff}
                lines.append(f"| {setting} | {batch} | {name} | {stats['p50']:.3f} | {stats['best_ms']:.3f} | {dft_mflops:.1f} | {diff:.1e} |")
    headline = {"threads": args.threads, "settings": {k: {"n_fft": v[0], "hop_length": v[1]} for k, v in SETTINGS.items()}, "results": results}
    lines += ["", "1 s clips at 16 kHz, 40 mel bands; one onnxruntime session per graph, "
              f"{args.threads} intra-op threads. The model's share of time spent in its frontend is measured "
              "on the whole model in `ort_vs_torch.md` and `quantization.md`."]
    print(write_result("frontend_formulation", headline, lines, None, shlex.join(["python", *sys.argv])).read_text())


if __name__ == "__main__":
    main()
