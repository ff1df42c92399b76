"""The in-graph log-mel against an independent numpy rFFT implementation."""

import math

import numpy as np
import pytest
import torch

from edgefuse.train.frontend import LOG_FLOOR, LogMel, band_bins, mel_filterbank


def reference_log_mel(x: np.ndarray, sample_rate: int, n_fft: int, hop: int, n_mels: int, f_max: float) -> np.ndarray:
    window = np.hanning(n_fft + 1)[:-1]  # periodic Hann
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop] * window
    frames = frames[: len(x) // hop - math.ceil(n_fft / hop) + 1]  # whole hops only, as the graph cuts them
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # (T, F)
    return np.log(power @ mel_filterbank(sample_rate, n_fft, n_mels, 20.0, f_max).T + LOG_FLOOR)  # (T, n_mels)


@pytest.mark.parametrize("sample_rate,n_fft,hop,n_mels,f_max,samples,frames", [
    (16000, 256, 320, 40, 4000, 16000, 50),  # the default: frames shorter than the hop, bins 1..63 only
    (16000, 400, 160, 40, 8000, 16000, 98),  # overlapping frames, n_fft not a multiple of the hop, bands to Nyquist
    (16000, 512, 256, 64, 8000, 16100, 61),  # a partial hop at the end is dropped
    (8000, 256, 256, 32, 4000, 8000, 31),
    (8000, 255, 128, 32, 3000, 8000, 61),  # odd frame length: no Nyquist bin
])
def test_log_mel_matches_rfft_reference(sample_rate, n_fft, hop, n_mels, f_max, samples, frames):
    x = np.random.default_rng(0).normal(0, 0.1, samples).astype(np.float32)
    ours = LogMel(sample_rate, n_fft, hop, n_mels, 20.0, f_max)(torch.from_numpy(x)[None])[0].numpy()
    want = reference_log_mel(x.astype(np.float64), sample_rate, n_fft, hop, n_mels, f_max)
    assert ours.shape == want.shape == (frames, n_mels)
    np.testing.assert_allclose(ours, want, atol=2e-3, rtol=1e-3)


def test_filterbank_rows_are_triangles_covering_the_band():
    fb = mel_filterbank(16000, 400, 40, 20.0, 8000.0)
    assert fb.shape == (40, 201) and (fb >= 0).all() and fb.max() <= 1.0
    assert (fb.sum(axis=1) > 0).all()


def test_only_the_bins_the_bands_weigh_are_computed():
    fb = mel_filterbank(16000, 256, 40, 20.0, 4000.0)
    bins = band_bins(fb)
    assert (bins.start, bins.stop) == (1, 64)  # 62.5 Hz bins: 20 Hz < bin 1, bin 64 is the 4 kHz edge itself
    assert not fb[:, : bins.start].any() and not fb[:, bins.stop :].any()
    assert LogMel(16000, 256, 320, 40, 20.0, 4000.0).dft.shape == (256, 2 * 63)
    with pytest.raises(ValueError, match="no rFFT bin"):
        band_bins(mel_filterbank(16000, 64, 4, 20.0, 100.0))  # 250 Hz bins: none inside 20..100 Hz
