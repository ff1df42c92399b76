"""A bounded mutation fuzz run over the image and audio decoders.

Valid files in every accepted container are mutated with a fixed seed (bit flips, byte
overwrites with boundary values, truncation, chunk duplication and insertion) a fixed number of
times. Each mutant must decode to a well-formed array or raise InputError — never anything else,
never a crash. The run is bounded by its example count, not by a clock.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from edgefuse.runtime import AudioSpec, ImageSpec
from edgefuse.runtime.errors import InputError
from edgefuse.runtime.preprocess import image as image_module
from edgefuse.runtime.preprocess import load_audio, load_image
from edgefuse.runtime.windows import iter_windows

MUTANTS_PER_SEED = 250
INTERESTING = [0x00, 0x01, 0x7F, 0x80, 0xFF]


def image_seeds() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray((rng.random((24, 20, 3)) * 255).astype(np.uint8))
    seeds = {}
    for fmt, img, kw in [
        ("PNG", rgb, {}), ("PNG", rgb.convert("LA"), {}), ("JPEG", rgb, {"quality": 80}), ("GIF", rgb.convert("P"), {}),
        ("BMP", rgb, {}), ("TIFF", rgb, {"compression": "tiff_lzw"}), ("WEBP", rgb, {}), ("PPM", rgb, {}),
        ("PNG", Image.fromarray((rng.random((10, 12)) * 65535).astype(np.uint16)), {}),
    ]:
        buffer = io.BytesIO()
        img.save(buffer, fmt, **kw)
        seeds[f"{fmt}-{img.mode}"] = buffer.getvalue()
    return seeds


def audio_seeds() -> dict[str, bytes]:
    t = np.arange(6000) / 22050
    tone = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    seeds = {}
    for name, fmt, subtype, channels in [
        ("wav16", "WAV", "PCM_16", 1), ("wavfloat", "WAV", "FLOAT", 2), ("wavu8", "WAV", "PCM_U8", 1),
        ("flac", "FLAC", "PCM_16", 2), ("ogg", "OGG", "VORBIS", 1), ("aiff", "AIFF", "PCM_24", 1),
    ]:
        buffer = io.BytesIO()
        sf.write(buffer, np.repeat(tone[:, None], channels, axis=1), 22050, format=fmt, subtype=subtype)
        seeds[name] = buffer.getvalue()
    return seeds


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One to four random edits of `data`."""
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 5))):
        kind = int(rng.integers(0, 6))
        at = int(rng.integers(0, max(1, len(out))))
        if kind == 0:
            out[at] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1:
            out[at] = INTERESTING[int(rng.integers(0, len(INTERESTING)))]
        elif kind == 2:  # a 32-bit field set to an extreme (lengths, sizes, rates)
            out[at : at + 4] = bytes([0xFF, 0xFF, 0xFF, 0x7F]) if rng.random() < 0.5 else bytes(4)
        elif kind == 3:
            del out[at:]
        elif kind == 4:
            size = int(rng.integers(1, 64))
            out[at:at] = out[at : at + size]
        else:
            out[at:at] = rng.bytes(int(rng.integers(1, 32)))
    return bytes(out)


def fuzz(seeds: dict[str, bytes], suffix: str, decode: Callable, check: Callable, tmp_path) -> dict[str, int]:
    """Run MUTANTS_PER_SEED mutants of every seed; return counts of decoded and refused mutants."""
    rng = np.random.default_rng(1234)
    counts = {"decoded": 0, "refused": 0}
    for name, seed in seeds.items():
        for i in range(MUTANTS_PER_SEED):
            path = tmp_path / f"{name}-{i}{suffix}"
            path.write_bytes(mutate(seed, rng))
            try:
                result = decode(path)
            except InputError as e:
                assert "\n" not in str(e) and str(e), (path.name, str(e))
                counts["refused"] += 1
            else:
                check(result)
                counts["decoded"] += 1
            path.unlink()
    return counts


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's notes on damaged metadata (filtered in the runtime too)
def test_image_decoder_survives_mutants(tmp_path, monkeypatch):
    # A mutated header may declare up to MAX_PIXELS; a smaller cap keeps this run small and fast.
    monkeypatch.setattr(image_module, "MAX_PIXELS", 1_000_000)
    spec = ImageSpec(height=16, width=16)

    def check(x):
        assert x.shape == (3, 16, 16) and x.dtype == np.float32 and np.isfinite(x).all() and 0 <= x.min() and x.max() <= 1

    counts = fuzz(image_seeds(), ".img", lambda p: load_image(p, spec), check, tmp_path)
    assert counts["decoded"] > 50 and counts["refused"] > 50, counts  # both paths are exercised


def test_audio_decoder_and_window_stream_survive_mutants(tmp_path):
    spec = AudioSpec(sample_rate=16000, window_samples=1600)

    def decode(path):
        clip = load_audio(path, spec)
        windows = [w for _, w in iter_windows(path, spec)]
        return clip, windows

    def check(result):
        clip, windows = result
        assert clip.ndim == 1 and clip.dtype == np.float32 and np.isfinite(clip).all()
        assert windows and all(w.shape == (1600,) and np.isfinite(w).all() for w in windows)

    counts = fuzz(audio_seeds(), ".snd", decode, check, tmp_path)
    assert counts["decoded"] > 50 and counts["refused"] > 50, counts


@pytest.mark.parametrize("seed_name", ["PNG-RGB", "JPEG-RGB"])
def test_unmutated_seeds_decode(seed_name, tmp_path):
    """The fuzz seeds themselves are valid, so refusals above come from the mutations."""
    (tmp_path / "a").write_bytes(image_seeds()[seed_name])
    assert load_image(tmp_path / "a", ImageSpec()).shape == (3, 32, 32)
