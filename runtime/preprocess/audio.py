"""Audio decoding, mixing and resampling on the host: any clip → float32 (S,) at the contract rate.

The log-mel frontend is inside the graph; this module only decodes, mixes down to mono,
resamples (soxr) and fits the contract's window, the same for training and devices.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgefuse.runtime._deps import require
from edgefuse.runtime.contract import AudioSpec
from edgefuse.runtime.errors import InputError

AudioSource = str | os.PathLike | np.ndarray


def load_audio(source: AudioSource, spec: AudioSpec, sample_rate: int | None = None) -> np.ndarray:
    """Decode a file, or take an (S,) / (S, C) array at `sample_rate` Hz → (S',) float32 at spec rate.

    The result has its natural length; `fit_window` cuts or pads it to the graph's window.
    """
    if isinstance(source, np.ndarray):
        samples, rate = source, sample_rate or spec.sample_rate
    else:
        samples, rate = read_audio_file(source)
    return to_mono_at_rate(samples, rate, spec.sample_rate)


def read_audio_file(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Decode WAV/FLAC/OGG to ((S, C) float32 in -1..1, sample rate in Hz)."""
    sf = require("soundfile")
    path = Path(path)
    if not path.is_file():
        raise InputError(f"audio file not found: {path}; check the path")
    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # libsndfile reports corrupt and unsupported files this way
        raise InputError(f"cannot decode audio {path} ({e}); use a WAV, FLAC or OGG file") from None
    return samples, int(rate)


def to_mono_at_rate(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """(S,) or (S, C) samples at `rate` → mono (S',) float32 at `target_rate`."""
    x = np.asarray(samples)
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max)
    x = x.astype(np.float32, copy=False)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.ndim != 1 or x.size == 0:
        raise InputError(f"audio has shape {np.shape(samples)}; expected a non-empty (S,) or (S, channels) array")
    if not np.isfinite(x).all():
        raise InputError("audio contains NaN or Inf samples; pass finite samples in -1..1")
    if not 1000 <= rate <= 384000:
        raise InputError(f"audio sample rate {rate} Hz is out of range; expected 1000..384000 Hz")
    if rate != target_rate:
        x = require("soxr").resample(x, rate, target_rate).astype(np.float32)
    return x


def fit_window(samples: np.ndarray, n: int) -> np.ndarray:
    """Centre-crop or zero-pad (S,) samples to exactly (n,)."""
    if samples.shape[0] >= n:
        start = (samples.shape[0] - n) // 2
        return np.ascontiguousarray(samples[start : start + n])
    out = np.zeros(n, dtype=np.float32)
    start = (n - samples.shape[0]) // 2
    out[start : start + samples.shape[0]] = samples
    return out
