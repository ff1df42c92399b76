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
        try:
            return to_mono_at_rate(samples, rate, spec.sample_rate)
        except InputError as e:
            raise InputError(f"audio {source}: {e}") from None
    return to_mono_at_rate(samples, rate, spec.sample_rate)


MAX_DECODED_SAMPLES = 2**25
"""Samples (frames x channels) decoded at once: 128 MiB of float32, about 35 min of 16 kHz mono.
Longer files are refused here; `edgefuse.runtime.windows` predicts over them in bounded memory."""


def read_audio_file(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Decode WAV/FLAC/OGG/AIFF to ((S, C) float32 in -1..1, sample rate in Hz).

    Integer PCM is scaled to -1..1 by libsndfile; float PCM is passed through.
    """
    path = Path(path)
    with open_audio_file(path) as f:
        if f.frames * f.channels > MAX_DECODED_SAMPLES:
            raise InputError(
                f"audio {path} is {f.frames / f.samplerate:.0f} s long, more than one clip can hold in memory; "
                "predict over sliding windows with edgefuse.runtime.windows.predict_windows"
            )
        try:
            samples = f.read(dtype="float32", always_2d=True)
        except Exception as e:  # a header that promises more than the file holds, or a broken stream
            raise InputError(f"cannot decode audio {path} ({_first_line(e)}); it may be truncated or corrupted") from None
        rate = int(f.samplerate)
    if samples.shape[0] == 0:
        raise InputError(f"audio {path} has a header but no samples; record or export it again")
    return samples, rate


def open_audio_file(path: Path):
    """A soundfile.SoundFile open for reading, or one InputError naming what is wrong with the file."""
    sf = require("soundfile")
    if not path.is_file():
        raise InputError(f"audio file not found: {path}; check the path")
    if path.stat().st_size == 0:
        raise InputError(f"audio file {path} is empty (0 bytes); pass a WAV, FLAC, OGG or AIFF file")
    _check_container(path)
    try:
        f = sf.SoundFile(str(path))
    except Exception as e:  # libsndfile reports corrupt and unsupported files this way
        raise InputError(
            f"cannot decode audio {path} ({_first_line(e)}); it is not audio or uses an unsupported codec — use WAV, FLAC, OGG or AIFF"
        ) from None
    if f.frames == 0:
        f.close()
        raise InputError(f"audio {path} has a header but no samples; record or export it again")
    if f.channels < 1 or not MIN_RATE <= f.samplerate <= MAX_RATE:
        f.close()
        raise InputError(f"audio {path} declares {f.channels} channels at {f.samplerate} Hz; expected >= 1 channel at {MIN_RATE}..{MAX_RATE} Hz")
    return f


def _check_container(path: Path) -> None:
    """Refuse files whose first bytes name no supported container before libsndfile probes them.

    Unknown bytes would otherwise reach every decoder libsndfile has, which is needless attack
    surface. MP3 is not accepted: its frames have no file-level magic (random bytes pass for it
    about once in 3000), and libmpg123 prints warnings on broken ones straight to the process's stderr.
    """
    with open(path, "rb") as f:
        head = f.read(12)
    riff = head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] in (b"WAVE", b"BW64")
    aiff = head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC")
    if not (riff or aiff or head[:4] in (b"fLaC", b"OggS")):
        raise InputError(f"{path} is not audio in a supported format ({', '.join(CONTAINERS)}); convert it to WAV or FLAC")


CONTAINERS = ("WAV", "FLAC", "OGG", "AIFF")
"""Containers recognised by their first bytes; libsndfile decodes the codecs inside them."""

MIN_RATE, MAX_RATE = 1000, 384000
"""Sample rates accepted, in Hz (telephone 8 kHz and studio 96/192 kHz are well inside)."""


def to_mono_at_rate(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """(S,) or (S, C) samples at `rate` → mono (S',) float32 at `target_rate`.

    Integer arrays are PCM: signed ones are scaled by 2^(bits-1), unsigned ones (8-bit WAV
    style) are centred first; float arrays are taken as -1..1 and must be finite.
    """
    x = np.asarray(samples)
    if x.dtype == np.bool_ or not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise InputError(f"audio array dtype {x.dtype} is not supported; use float32 in -1..1 or integer PCM")
    if np.issubdtype(x.dtype, np.unsignedinteger):
        middle = (float(np.iinfo(x.dtype).max) + 1) / 2
        x = (x.astype(np.float64) - middle) / middle
    elif np.issubdtype(x.dtype, np.integer):  # scaled by 2^(bits-1), as libsndfile scales PCM files
        x = x.astype(np.float64) / -float(np.iinfo(x.dtype).min)
    else:
        check_float_samples(x)
    x = x.astype(np.float32, copy=False)
    if x.ndim == 2:
        x = x.mean(axis=1, dtype=np.float64).astype(np.float32)  # float64 sum: no overflow near float32's max
    if x.ndim != 1 or x.size == 0:
        raise InputError(f"audio has shape {np.shape(samples)}; expected a non-empty (S,) or (S, channels) array")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise InputError(f"audio sample rate {rate} Hz is out of range; expected {MIN_RATE}..{MAX_RATE} Hz")
    if rate != target_rate:
        x = require("soxr").resample(x, rate, target_rate).astype(np.float32)
    return x


MAX_FLOAT_AMPLITUDE = 16.0
"""Float samples beyond +-16 (24 dB over full scale) are refused: no real recording is that loud, but
a corrupt file, or integer PCM stored as float, is (and would overflow the resampler and the frontend)."""


def check_float_samples(x: np.ndarray, where: str = "audio") -> None:
    """Raise InputError unless every float sample is finite and within +-MAX_FLOAT_AMPLITUDE."""
    if not np.isfinite(x).all():
        raise InputError(f"{where} contains NaN or Inf samples; pass finite samples in -1..1")
    peak = float(np.abs(x).max()) if x.size else 0.0
    if peak > MAX_FLOAT_AMPLITUDE:
        hint = "; it looks like integer PCM stored as float, divide by 32768" if 1000 < peak <= 32768 else ""
        raise InputError(f"{where} has float samples up to {peak:.3g}, far outside -1..1{hint}; pass samples in -1..1")


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:200]


def fit_window(samples: np.ndarray, n: int) -> np.ndarray:
    """Centre-crop or zero-pad (S,) samples to exactly (n,)."""
    if samples.shape[0] >= n:
        start = (samples.shape[0] - n) // 2
        return np.ascontiguousarray(samples[start : start + n])
    out = np.zeros(n, dtype=np.float32)
    start = (n - samples.shape[0]) // 2
    out[start : start + samples.shape[0]] = samples
    return out
