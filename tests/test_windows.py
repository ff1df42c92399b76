"""Sliding-window prediction over long audio files: same signal as a whole-file decode, bounded memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import soundfile as sf
import soxr

from _tiny_models import write_tiny_model
from edgefuse.runtime import AudioSpec, Predictor
from edgefuse.runtime.errors import InputError
from edgefuse.runtime.preprocess import load_audio
from edgefuse.runtime.windows import iter_windows, predict_windows


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    return Predictor.from_file(write_tiny_model(tmp_path_factory.mktemp("m") / "tiny.onnx"))


def chirp(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    x = (0.5 * np.sin(2 * np.pi * (200 + 300 * t) * t)).astype(np.float32)
    return np.stack([x, -x * 0.5][:channels], axis=1) if channels > 1 else x


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 96000])
def test_streamed_windows_equal_the_whole_file_resampled(tmp_path, rate):
    sf.write(tmp_path / "a.wav", chirp(3.3, rate, 2), rate, subtype="FLOAT")
    spec = AudioSpec(sample_rate=16000, window_samples=4000)
    whole = load_audio(tmp_path / "a.wav", spec)
    windows = list(iter_windows(tmp_path / "a.wav", spec, hop_samples=4000, block_frames=3001))
    starts = [s for s, _ in windows]
    assert starts[:-1] == list(range(0, len(whole) - 4000 + 1, 4000)) and starts[-1] == len(whole) - 4000  # tail aligned to the end
    for start, window in windows:
        # soxr's stream and one-shot modes share the filter; only float rounding differs.
        np.testing.assert_allclose(window, whole[start : start + 4000], atol=2e-4)


def test_short_file_gives_one_padded_window_like_a_clip(tmp_path, predictor):
    sf.write(tmp_path / "short.wav", chirp(0.06, 16000), 16000)
    (start, window), = iter_windows(tmp_path / "short.wav", predictor.contract.audio)
    assert start == 0 and window.shape == (1600,)
    windowed = predict_windows(predictor, tmp_path / "short.wav")
    assert windowed.windows == 1
    assert windowed.prediction.probs == pytest.approx(predictor.predict(audio=tmp_path / "short.wav").probs, abs=1e-6)


def test_fusions_mean_and_max(tmp_path, predictor):
    x = np.concatenate([np.zeros(8000, np.float32), chirp(0.5, 16000)])  # silence, then sound
    sf.write(tmp_path / "a.wav", x, 16000, subtype="FLOAT")
    seen: list[tuple[float, np.ndarray]] = []
    mean = predict_windows(predictor, tmp_path / "a.wav", text="one", on_window=lambda s, p: seen.append((s, p.copy())))
    probs = np.array([p for _, p in seen])
    assert mean.windows == len(seen) == 19 and [s for s, _ in seen][:3] == [0.0, 0.05, 0.1]
    np.testing.assert_allclose(list(mean.prediction.probs.values()), probs.mean(axis=0), atol=1e-6)
    assert mean.prediction.present == ("audio", "text")
    best = int(np.argmax(probs.max(axis=1)))
    biggest = predict_windows(predictor, tmp_path / "a.wav", text="one", fusion="max")
    np.testing.assert_allclose(list(biggest.prediction.probs.values()), probs[best], atol=1e-6)
    assert biggest.best_window_start == pytest.approx(seen[best][0]) and mean.best_window_score == pytest.approx(probs[best].max())
    with pytest.raises(InputError, match="unknown window fusion"):
        predict_windows(predictor, tmp_path / "a.wav", fusion="median")


def test_memory_stays_bounded_on_a_long_file(tmp_path, predictor):
    """A 4-minute 48 kHz stereo file decodes to 92 MB of float32; streaming holds a few MB."""
    rate, seconds = 48000, 240
    block = (chirp(10.0, rate, 2) * 32767).astype(np.int16)
    with sf.SoundFile(tmp_path / "long.wav", "w", rate, 2, subtype="PCM_16") as f:
        for _ in range(seconds // 10):
            f.write(block)
    decoded_bytes = rate * seconds * 2 * 4
    tracemalloc.start()
    try:
        result = predict_windows(predictor, tmp_path / "long.wav", hop_seconds=0.1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.windows == 2400  # (240 - 0.1) / 0.1 + 1
    assert peak < 8_000_000 < decoded_bytes / 10, f"peak traced memory {peak / 1e6:.1f} MB"


def test_non_finite_samples_midway_are_named_with_their_time(tmp_path, predictor):
    x = chirp(3.0, 16000)
    x[2 * 16000] = np.nan
    sf.write(tmp_path / "nan.wav", x, 16000, subtype="FLOAT")
    with pytest.raises(InputError, match=r"at 2.00 s contains NaN or Inf"):
        predict_windows(predictor, tmp_path / "nan.wav")


def test_model_without_audio_and_bad_hop_are_refused(tmp_path, predictor):
    sf.write(tmp_path / "a.wav", chirp(1.0, 16000), 16000)
    with pytest.raises(InputError, match="hop"):
        list(iter_windows(tmp_path / "a.wav", predictor.contract.audio, hop_samples=5000))
    text_only = Predictor(predictor.session, predictor.contract.replace(audio=None))
    with pytest.raises(InputError, match="no audio input"):
        predict_windows(text_only, tmp_path / "a.wav")
