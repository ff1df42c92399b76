"""Predicting over a long audio file in sliding windows with bounded memory.

The file is decoded in blocks (soundfile), mixed to mono and resampled as a stream
(soxr.ResampleStream), so memory holds one block, one window and one batch of windows
whatever the file's length. Windows are the contract's window, every `hop` seconds (default:
half a window); the last window is aligned to the end of the file so no audio is left out.

Fusion (decided here, documented in docs/robustness.md):
- "mean" (default): the mean of the windows' probabilities. It is what a user asking "what is
  in this recording" expects, and one spurious confident window cannot decide it alone.
- "max": the probabilities of the single most confident window, for short events in long
  silence. Both are always reported: the result names the most confident window too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgefuse.runtime._deps import require
from edgefuse.runtime.contract import AudioSpec
from edgefuse.runtime.errors import InputError
from edgefuse.runtime.inputs import Example
from edgefuse.runtime.predictor import Prediction, Predictor
from edgefuse.runtime.preprocess.audio import MAX_FLOAT_AMPLITUDE, check_float_samples, fit_window, open_audio_file
from edgefuse.runtime.preprocess.image import ImageSource

FUSIONS = ("mean", "max")
BLOCK_FRAMES = 65536
"""Frames decoded per read: 256 KiB per channel of float32."""


@dataclass(frozen=True)
class WindowedPrediction:
    """The fused answer for a long file, and where its most confident window lies."""

    prediction: Prediction
    """Fused over all windows with `fusion`."""
    fusion: str
    windows: int
    """Windows predicted."""
    window_seconds: float
    hop_seconds: float
    best_window_start: float
    """Start of the most confident window, in seconds from the file's start."""
    best_window_label: str
    best_window_score: float

    def to_dict(self) -> dict:
        keys = ("fusion", "windows", "window_seconds", "hop_seconds", "best_window_start", "best_window_label", "best_window_score")
        return {**self.prediction.to_dict(), **{k: getattr(self, k) for k in keys}}


def audio_seconds(path: str | os.PathLike) -> float:
    """Duration of an audio file from its header, in seconds (nothing is decoded)."""
    with open_audio_file(Path(path)) as f:
        return f.frames / f.samplerate


def iter_windows(
    path: str | os.PathLike, spec: AudioSpec, hop_samples: int | None = None, block_frames: int = BLOCK_FRAMES
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (start sample, (window_samples,) float32 window) at the spec rate, in file order.

    A file shorter than one window yields one zero-padded window (as `fit_window` pads clips).
    """
    n = spec.window_samples
    hop = hop_samples or max(1, n // 2)
    if not 0 < hop <= n:
        raise InputError(f"window hop must be 1..{n} samples, got {hop}; pick a hop of at most one window")
    path = Path(path)
    with open_audio_file(path) as f:
        resampler = None
        if f.samplerate != spec.sample_rate:
            resampler = require("soxr").ResampleStream(f.samplerate, spec.sample_rate, 1, dtype="float32")
        buffer, offset, next_start = np.zeros(0, np.float32), 0, 0  # buffer[0] is sample `offset`
        for mono, last in _mono_blocks(f, path, block_frames):
            chunk = resampler.resample_chunk(mono, last=last) if resampler else mono
            buffer = np.concatenate([buffer, chunk])
            while next_start + n <= offset + len(buffer):
                yield next_start, buffer[next_start - offset : next_start - offset + n].copy()
                next_start += hop
            # Keep what the next window needs, and the last window's worth for the tail window.
            drop = max(0, min(next_start - offset, len(buffer) - n))
            buffer, offset = buffer[drop:], offset + drop
    total = offset + len(buffer)
    if total < n:
        yield 0, fit_window(buffer, n)
    elif next_start - hop + n < total:  # the stride left samples at the end uncovered
        yield total - n, buffer[len(buffer) - n :].copy()


def _mono_blocks(f, path: Path, block_frames: int) -> Iterator[tuple[np.ndarray, bool]]:
    """(frames,) float32 mono blocks of an open SoundFile and whether each is the last one."""
    seconds = 0.0
    while True:
        try:
            block = f.read(block_frames, dtype="float32", always_2d=True)
        except Exception as e:  # a truncated or broken stream part-way through
            raise InputError(f"cannot decode audio {path} after {seconds:.1f} s ({e}); it may be truncated or corrupted") from None
        last = len(block) < block_frames
        bad = np.flatnonzero(~(np.abs(block) <= MAX_FLOAT_AMPLITUDE).all(axis=1))  # NaN compares False too
        if bad.size:  # name the first bad sample's time, so the user can find it
            check_float_samples(block[bad[0]], f"audio {path} at {seconds + bad[0] / f.samplerate:.2f} s")
        mono = np.ascontiguousarray(block.mean(axis=1, dtype=np.float64), dtype=np.float32)
        seconds += len(block) / f.samplerate
        yield mono, last
        if last:
            return


def predict_windows(
    predictor: Predictor,
    audio: str | os.PathLike,
    image: ImageSource | None = None,
    text: str | None = None,
    hop_seconds: float | None = None,
    fusion: str = "mean",
    batch_size: int = 16,
    on_window: Callable[[float, np.ndarray], None] | None = None,
) -> WindowedPrediction:
    """Predict over every window of the audio file `audio`; `image` and `text` join every window.

    `on_window(start_seconds, probs (K,) float32)` sees each window's answer as it is computed.
    Memory is bounded by one decode block and `batch_size` windows, not by the file's length.
    """
    spec = predictor.contract.audio
    if spec is None:
        raise InputError(f"this model takes {', '.join(predictor.contract.modalities)}; it has no audio input")
    if fusion not in FUSIONS:
        raise InputError(f"unknown window fusion {fusion!r}; use one of {', '.join(FUSIONS)}")
    hop = spec.window_samples // 2 if hop_seconds is None else int(round(hop_seconds * spec.sample_rate))
    # The other modalities are prepared once and repeated for every window of a batch.
    base = predictor.builder.build([Example(image=image, text=text, audio=np.zeros(spec.window_samples, np.float32))])
    total = np.zeros(len(predictor.labels), np.float64)
    count, best = 0, (-1.0, 0.0, None)  # (score, start seconds, probs)
    batch: list[tuple[int, np.ndarray]] = []

    def flush() -> None:
        nonlocal total, count, best
        feeds = {k: np.repeat(v, len(batch), axis=0) for k, v in base.items()}
        feeds[spec.input] = np.stack([w for _, w in batch])
        for (start, _), probs in zip(batch, predictor.run(feeds)):
            seconds = start / spec.sample_rate
            total += probs
            count += 1
            if probs.max() > best[0]:
                best = (float(probs.max()), seconds, probs.copy())
            if on_window is not None:
                on_window(seconds, probs)
        batch.clear()

    for item in iter_windows(audio, spec, hop):
        batch.append(item)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    fused = total / count if fusion == "mean" else best[2]
    present = Example(image=image, audio=audio, text=text).present()
    return WindowedPrediction(
        prediction=_prediction(predictor.labels, fused.astype(np.float32), present),
        fusion=fusion,
        windows=count,
        window_seconds=spec.window_seconds,
        hop_seconds=hop / spec.sample_rate,
        best_window_start=best[1],
        best_window_label=predictor.labels[int(np.argmax(best[2]))],
        best_window_score=best[0],
    )


def predict_any_length(
    predictor: Predictor, text: str | None = None, image: ImageSource | None = None, audio: str | os.PathLike | None = None
) -> dict:
    """What `edgefuse predict` prints: one prediction, over sliding windows when the audio file
    is longer than the contract's window (one sample of slack), else the usual centred window."""
    spec = predictor.contract.audio
    if audio is not None and spec is not None and audio_seconds(audio) > spec.window_seconds + 1 / spec.sample_rate:
        return predict_windows(predictor, audio, image=image, text=text).to_dict()
    return predictor.predict(text=text, image=image, audio=audio).to_dict()


def _prediction(labels: tuple[str, ...], probs: np.ndarray, present: tuple[str, ...]) -> Prediction:
    best = int(np.argmax(probs))
    return Prediction(
        label=labels[best],
        score=float(probs[best]),
        probs={label: float(p) for label, p in zip(labels, probs)},
        present=present,
    )
