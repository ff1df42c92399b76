"""The audio frontend that lives inside the graph: waveform → log-mel, with no STFT op.

The STFT is a Conv1d with constant windowed-DFT kernels (the ONNX `STFT` op measured 35–50%
of run time in onnxruntime here and OpenVINO cannot convert it); mel pooling is a MatMul.
Constants are rebuilt from the contract's numbers, so checkpoints hold none of them.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LOG_FLOOR = 1e-6


def hz_to_mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + f / 700.0)


def mel_to_hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float = 20.0, f_max: float | None = None) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular HTK-mel filters over the rFFT bins."""
    f_max = f_max or sample_rate / 2
    bins = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(np.array(f_min)), hz_to_mel(np.array(f_max)), n_mels + 2))
    lower, center, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (center - lower)
    falling = (upper - bins[None, :]) / (upper - center)
    return np.clip(np.minimum(rising, falling), 0.0, None).astype(np.float32)


def dft_kernels(n_fft: int) -> np.ndarray:
    """(2 * (n_fft // 2 + 1), 1, n_fft) periodic-Hann-windowed cos and -sin kernels."""
    n = np.arange(n_fft)
    k = np.arange(n_fft // 2 + 1)[:, None]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)
    angle = 2 * np.pi * k * n / n_fft
    return np.concatenate([np.cos(angle) * window, -np.sin(angle) * window])[:, None, :].astype(np.float32)


class LogMel(nn.Module):
    """(B, S) float32 waveform → (B, n_mels, T) natural-log mel power, T = 1 + (S - n_fft) // hop."""

    def __init__(self, sample_rate: int = 16000, n_fft: int = 400, hop_length: int = 160, n_mels: int = 64):
        super().__init__()
        self.hop_length = hop_length
        self.n_bins = n_fft // 2 + 1
        self.register_buffer("dft", torch.from_numpy(dft_kernels(n_fft)), persistent=False)
        self.register_buffer("mel", torch.from_numpy(mel_filterbank(sample_rate, n_fft, n_mels)), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        spec = F.conv1d(audio.unsqueeze(1), self.dft, stride=self.hop_length)  # (B, 2F, T)
        real, imag = spec[:, : self.n_bins], spec[:, self.n_bins :]
        power = real * real + imag * imag  # (B, F, T)
        return torch.log(torch.matmul(self.mel, power) + LOG_FLOOR)  # (B, n_mels, T)
