"""Why the in-graph audio frontend is framed GEMMs, 16 ms every 20 ms, up to 4 kHz (measured).

    python benchmarks/frontend_formulation.py [--threads 2] [--batches 1,32]

Times three ways of writing the log-mel frontend as ONNX at three settings: edgefuse's first
(25 ms frames every 10 ms, bands to 8 kHz), 16 ms every 20 ms to 8 kHz, and today's
`AudioSpec` defaults (16 ms every 20 ms, bands from 20 Hz to 4 kHz):

- Conv1d: the windowed DFT as a strided Conv1d with one input channel (edgefuse's first version);
- STFT: the ONNX `STFT` op (every bin, it cannot skip any), then power and mel;
- framed MatMul: today's `edgefuse.train.frontend.LogMel`, exported by torch.onnx exactly as the
  model export does it — frames from Reshape/Slice/Concat, the real DFT of the bins the bands
  weigh and the mel pooling as two MatMuls.

Conv1d and framed MatMul compute the same bins with the same matrices. Each graph's log-mel is
checked against a float64 numpy rFFT reference. Needs torch and onnx (edgefuse[train,export]).
Writes benchmarks/results/frontend_formulation.json and .md.
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
from edgefuse.train.frontend import LOG_FLOOR, LogMel, band_bins, dft_matrix, mel_filterbank, power_mel_matrix

RATE, N_MELS, SAMPLES, F_MIN = 16000, 40, 16000, AudioSpec.f_min
SETTINGS = {  # name: (n_fft, hop, f_max)
    "first: 25/10 ms to 8 kHz": (400, 160, 8000.0),
    "16/20 ms to 8 kHz": (256, 320, 8000.0),
    f"today: 16/20 ms to {AudioSpec.f_max / 1000:g} kHz": (AudioSpec.n_fft, AudioSpec.hop_length, AudioSpec.f_max),
}


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


def _log(mel_power: str) -> list:
    return [helper.make_node("Add", [mel_power, "floor"], ["floored"]), helper.make_node("Log", ["floored"], ["logmel"])]


def _filters(n_fft: int, f_max: float) -> tuple[np.ndarray, range]:
    filters = mel_filterbank(RATE, n_fft, N_MELS, F_MIN, f_max)
    return filters, band_bins(filters)


def conv1d_frontend(n_fft: int, hop: int, f_max: float) -> bytes:
    """(B, 1, S) * (2 x bins, 1, n_fft) stride hop → (B, 2 x bins, T) → squared, (B, T, 2 x bins) → mel → log."""
    filters, bins = _filters(n_fft, f_max)
    nodes = [helper.make_node("Unsqueeze", ["audio", "axis1"], ["x"]),
             helper.make_node("Conv", ["x", "dft"], ["spec"], strides=[hop]),
             helper.make_node("Transpose", ["spec"], ["spec_t"], perm=[0, 2, 1]), helper.make_node("Mul", ["spec_t", "spec_t"], ["power"]),
             helper.make_node("MatMul", ["power", "power_mel"], ["mel_power"]), *_log("mel_power")]
    return _model(nodes, {"axis1": np.array([1], np.int64), "dft": dft_matrix(n_fft, bins).T[:, None, :].copy(),
                          "power_mel": power_mel_matrix(filters, bins), "floor": np.float32(LOG_FLOOR)})


def stft_frontend(n_fft: int, hop: int, f_max: float) -> bytes:
    """STFT (B, T, F, 2) → power by ReduceSumSquare over the last axis → mel → log."""
    filters, _ = _filters(n_fft, f_max)
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    nodes = [helper.make_node("Unsqueeze", ["audio", "axis2"], ["x"]),
             helper.make_node("STFT", ["x", "hop", "window", "n_fft"], ["spec"], onesided=1),
             helper.make_node("ReduceSumSquare", ["spec"], ["power"], axes=[-1], keepdims=0),
             helper.make_node("MatMul", ["power", "mel_t"], ["mel_power"]), *_log("mel_power")]
    return _model(nodes, {"axis2": np.array([2], np.int64), "hop": np.array(hop, np.int64), "window": window,
                          "n_fft": np.array(n_fft, np.int64), "mel_t": filters.T.copy(), "floor": np.float32(LOG_FLOOR)})


def framed_matmul_frontend(n_fft: int, hop: int, f_max: float) -> bytes:
    """edgefuse's LogMel, exported the way `edgefuse export` exports it (TorchScript, opset 17)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(LogMel(RATE, n_fft, hop, N_MELS, F_MIN, f_max).eval(), (torch.zeros(1, SAMPLES),), buffer, input_names=["audio"],
                          output_names=["logmel"], dynamic_axes={"audio": {0: "B"}, "logmel": {0: "B"}}, opset_version=17, dynamo=False)
    return buffer.getvalue()


def reference(audio: np.ndarray, n_fft: int, hop: int, f_max: float) -> np.ndarray:
    """float64 numpy rFFT log-mel, (B, T, n_mels)."""
    window = np.hanning(n_fft + 1)[:-1]
    frames = np.lib.stride_tricks.sliding_window_view(audio.astype(np.float64), n_fft, axis=1)[:, ::hop][:, : frame_count(n_fft, hop)]
    power = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2
    return np.log(power @ _filters(n_fft, f_max)[0].T + LOG_FLOOR)


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
    lines = ["| frames | batch | formulation | p50 ms | best ms | DFT GEMM MFLOP per clip | max abs diff vs float64 rFFT |", "|---|---|---|---|---|---|---|"]
    for setting, (n_fft, hop, f_max) in SETTINGS.items():
        dft_mflops = 2 * frame_count(n_fft, hop) * n_fft * 2 * len(_filters(n_fft, f_max)[1]) / 1e6  # the real-DFT GEMM of the bands' bins
        for batch in (int(b) for b in args.batches.split(",")):
            audio = (0.1 * rng.standard_normal((batch, SAMPLES))).astype(np.float32)
            want = reference(audio, n_fft, hop, f_max)
            for name, build in formulations.items():
                stats, out = measure(build(n_fft, hop, f_max), audio, args.threads, args.runs)
                diff = float(np.max(np.abs(out - want)))
                results.setdefault(setting, {}).setdefault(str(batch), {})[name] = {**stats, "max_abs_diff": diff}
                lines.append(f"| {setting} | {batch} | {name} | {stats['p50']:.3f} | {stats['best_ms']:.3f} | {dft_mflops:.1f} | {diff:.1e} |")
    headline = {"threads": args.threads, "settings": {k: {"n_fft": v[0], "hop_length": v[1], "f_max": v[2]} for k, v in SETTINGS.items()},
                "results": results}
    lines += ["", "1 s clips at 16 kHz, 40 mel bands; one onnxruntime session per graph, "
              f"{args.threads} intra-op threads. The model's share of time spent in its frontend is measured "
              "on the whole model in `ort_vs_torch.md` and `quantization.md`."]
    print(write_result("frontend_formulation", headline, lines, None, shlex.join(["python", *sys.argv])).read_text())


if __name__ == "__main__":
    main()
