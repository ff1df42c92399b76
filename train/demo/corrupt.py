"""Image and audio corruption: pure numpy functions of a base example and a Generator.

Each modality of a row is either *informative* (mildly corrupted, still clearly the digit) or
*destroyed* (too occluded or too noisy to read). Destroyed never means "shows another digit":
a modality that lies would cap what fusion can reach.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

IMAGE_SIZE = 32
SAMPLE_RATE = 16_000
CLIP_SAMPLES = SAMPLE_RATE  # every clip is exactly 1.0 s
_SHIFTS, _SHIFT_PROBS = (-2, -1, 0, 1, 2), (0.1, 0.2, 0.4, 0.2, 0.1)  # pixels, small shifts most often
INFORMATIVE_SNR_DB = (10.0, 20.0)
DESTROYED_SNR_DB = (-30.0, -18.0)


# ---------------------------------------------------------------- image

def upsample(base: np.ndarray) -> np.ndarray:
    """(8, 8) grey levels 0..16 -> (32, 32) float32 in 0..1, bilinear; ink bright on dark."""
    img = Image.fromarray((base / 16.0).astype(np.float32), mode="F")
    return np.asarray(img.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR), dtype=np.float32)


def shift(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Translate (H, W) by (dy, dx) pixels, filling with 0 (background) instead of wrapping."""
    out = np.zeros_like(img)
    h, w = img.shape
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = img[ys, xs]
    return out


def occlude(img: np.ndarray, rng: np.random.Generator, side: tuple[int, int]) -> np.ndarray:
    """Paint a rectangle with sides drawn from `side` (pixels) in a flat random grey."""
    h, w = img.shape
    bh, bw = (int(rng.integers(side[0], side[1] + 1)) for _ in range(2))
    y, x = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
    out = img.copy()
    out[y:y + bh, x:x + bw] = rng.uniform(0.0, 1.0)
    return out


def corrupt_image(base: np.ndarray, rng: np.random.Generator, informative: bool) -> np.ndarray:
    """(8, 8) 0..16 base digit -> (32, 32) uint8 grayscale.

    Informative: shift by up to 2 px (mostly 0..1), contrast 0.6..1, Gaussian noise sigma
    0.03..0.15, and a small (4..8 px) occluder 30% of the time. Destroyed: a 29..32 px occluder
    over nearly all of the frame, or contrast crushed to 2..6% under very strong noise.
    """
    img = upsample(base)
    img = shift(img, *(int(rng.choice(_SHIFTS, p=_SHIFT_PROBS)) for _ in range(2)))
    if informative:
        img = img * rng.uniform(0.6, 1.0)
        if rng.random() < 0.3:
            img = occlude(img, rng, (4, 8))
        sigma = rng.uniform(0.03, 0.15)
    elif rng.random() < 0.5:
        # The digit fills the frame, so only a near-total cover hides it from a CNN.
        img = occlude(img, rng, (29, 32))
        sigma = rng.uniform(0.2, 0.4)
    else:
        # Ink far below the noise: even pooled over the ~200 stroke pixels, the digit is lost.
        img = img * rng.uniform(0.02, 0.06)
        sigma = rng.uniform(0.6, 0.9)
    img = img + rng.normal(0.0, sigma, img.shape)
    return np.round(np.clip(img, 0.0, 1.0) * 255).astype(np.uint8)


# ---------------------------------------------------------------- audio

def speed_perturb(x: np.ndarray, factor: float) -> np.ndarray:
    """Play (S,) `factor` times faster by linear resampling (tempo and pitch move together)."""
    n_out = max(int(round(len(x) / factor)), 1)
    return np.interp(np.arange(n_out) * factor, np.arange(len(x)), x).astype(np.float32)


def colored_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) float32 unit-RMS noise between white and brown (one-pole low-pass, random pole)."""
    white = rng.standard_normal(n + 256)
    pole = rng.uniform(0.0, 0.97)
    # A first-order IIR by cumulative recursion is slow in Python; filter in the frequency domain.
    spec = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(len(white))
    spec /= np.abs(1.0 - pole * np.exp(-2j * np.pi * freqs))
    noise = np.fft.irfft(spec, len(white))[256:]
    return (noise / (np.sqrt(np.mean(noise ** 2)) + 1e-12)).astype(np.float32)


def corrupt_audio(clip: np.ndarray, rng: np.random.Generator, informative: bool) -> np.ndarray:
    """(S,) float32 speech (S <= 16000 at 16 kHz) -> (16000,) int16, exactly 1.0 s.

    The word is speed-perturbed (0.92..1.08), placed at a random offset, set to -30..-14 dBFS
    RMS over the speech, and mixed with colored noise at INFORMATIVE_SNR_DB (10..20 dB) or
    DESTROYED_SNR_DB (-30..-18 dB: the word is still there, just far below the noise).
    """
    word = speed_perturb(clip, rng.uniform(0.92, 1.08))[:CLIP_SAMPLES]
    speech_rms = float(np.sqrt(np.mean(word ** 2))) + 1e-9
    level = 10 ** (rng.uniform(-30, -14) / 20)
    word = word * (level / speech_rms)
    out = np.zeros(CLIP_SAMPLES, dtype=np.float32)
    offset = int(rng.integers(0, CLIP_SAMPLES - len(word) + 1))
    out[offset:offset + len(word)] = word
    snr_db = rng.uniform(*(INFORMATIVE_SNR_DB if informative else DESTROYED_SNR_DB))
    # SNR is measured over the word, as a listener hears it, not over the whole second.
    out += colored_noise(CLIP_SAMPLES, rng) * (level / 10 ** (snr_db / 20))
    peak = float(np.abs(out).max())
    if peak > 0.98:  # loud destroyed clips would clip; scale the whole mix, keeping the SNR
        out *= 0.98 / peak
    return np.round(out * 32767).astype(np.int16)
