"""The audio frontend that lives inside the graph: waveform → log-mel, as two GEMMs.

No STFT op: onnxruntime's measured 3–5x slower than a GEMM here and OpenVINO cannot convert it.
The waveform is cut into frames with Reshape/Slice/Concat, one MatMul applies the windowed real
DFT, and one more MatMul both sums real² + imag² and pools into mel bands — at batch 32 that is
1.7x faster than the same DFT as a strided Conv1d (benchmarks/results/frontend_formulation.md).
The DFT computes only the bins the mel bands weigh: at the default 20 Hz–4 kHz, half of them.
Constants are rebuilt from the contract's numbers, so checkpoints hold none of them.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

LOG_FLOOR = 1e-6


def hz_to_mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + f / 700.0)


def mel_to_hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_edges(f_min: float, f_max: float, n_mels: int) -> np.ndarray:
    """(n_mels + 2,) band edges in Hz, evenly spaced on the HTK mel scale."""
    return mel_to_hz(np.linspace(hz_to_mel(np.array(f_min)), hz_to_mel(np.array(f_max)), n_mels + 2))


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular HTK-mel filters over the rFFT bins."""
    bins = np.arange(n_fft // 2 + 1) * sample_rate / n_fft  # bin k's frequency (the last is sr/2 only for even n_fft)
    edges = mel_edges(f_min, f_max, n_mels)
    lower, center, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (center - lower)
    falling = (upper - bins[None, :]) / (upper - center)
    return np.clip(np.minimum(rising, falling), 0.0, None).astype(np.float32)


def band_bins(filters: np.ndarray) -> range:
    """The rFFT bins that some band of `filters` weighs: the only ones the frontend computes."""
    used = np.flatnonzero(filters.any(axis=0))
    if not len(used):
        raise ValueError("no rFFT bin falls inside the mel bands: widen f_min..f_max or raise n_fft")
    return range(int(used[0]), int(used[-1]) + 1)


def dft_matrix(n_fft: int, bins: range) -> np.ndarray:
    """(n_fft, 2 * len(bins)) periodic-Hann-windowed real DFT: frames @ it = [real | imag] of `bins`."""
    n, k = np.arange(n_fft)[:, None], np.asarray(bins)[None, :]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)
    angle = 2 * np.pi * (n * k % n_fft) / n_fft
    return (np.concatenate([np.cos(angle), -np.sin(angle)], axis=1) * window).astype(np.float32)


def power_mel_matrix(filters: np.ndarray, bins: range) -> np.ndarray:
    """(2 * len(bins), n_mels): the filters' columns for `dft_matrix`'s, so [real² | imag²] @ it = mel-pooled power."""
    mel = filters[:, bins.start : bins.stop].T
    return np.concatenate([mel, mel], axis=0)


class LogMel(nn.Module):
    """(B, S) float32 waveform → (B, T, n_mels) natural-log mel power over f_min..f_max Hz.

    Frame t covers samples [t * hop, t * hop + n_fft); T = S // hop - ceil(n_fft / hop) + 1, so
    every frame lies inside the waveform. Frames are built from hop-sized chunks: frame t is
    chunks t .. t + K - 1 side by side, cut to n_fft, K = ceil(n_fft / hop).
    """

    def __init__(self, sample_rate: int, n_fft: int, hop_length: int, n_mels: int, f_min: float, f_max: float):
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        self.chunks_per_frame = math.ceil(n_fft / hop_length)
        filters = mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max)
        bins = band_bins(filters)
        self.register_buffer("dft", torch.from_numpy(dft_matrix(n_fft, bins)), persistent=False)
        self.register_buffer("power_mel", torch.from_numpy(power_mel_matrix(filters, bins)), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        hop, k = self.hop_length, self.chunks_per_frame
        samples = int(audio.shape[1])  # a constant in the graph: the contract fixes the window, so every shape below is static
        n = samples // hop
        chunks = (audio if n * hop == samples else audio[:, : n * hop]).reshape(-1, n, hop)  # (B, n, hop)
        frames = torch.cat([chunks[:, i : n - k + 1 + i] for i in range(k)], dim=2) if k > 1 else chunks
        if k * hop != self.n_fft:
            frames = frames[:, :, : self.n_fft]
        spec = frames @ self.dft  # (B, T, 2 * bins) = [real | imag]
        return torch.log((spec * spec) @ self.power_mel + LOG_FLOOR)
