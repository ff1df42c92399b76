"""The real base examples the demo set is made of, split so that test sources are unseen.

Images: scikit-learn's bundled handwritten digits (UCI optdigits test part, 1797 images of
8x8 with grey levels 0..16). Audio: digit words spoken by espeak-ng voices, rendered once by
`render_voices` and shipped as ``voices/clips.flac`` + ``voices/index.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgefuse.runtime.errors import EdgefuseError

SPLITS = ("train", "val", "test")
VOICES_DIR = Path(__file__).with_name("voices")
# Contiguous blocks of the original order. sklearn's copy carries no writer ids, but the file
# was assembled writer by writer, so contiguous blocks approximate a split by writer: test
# writers are (mostly) never seen in training. A few writers may straddle a block edge.
IMAGE_BLOCKS = {"train": (0.0, 0.7), "val": (0.7, 0.8), "test": (0.8, 1.0)}


@dataclass(frozen=True)
class ImagePool:
    """Base images of one split."""

    images: np.ndarray
    """(N, 8, 8) float32 grey levels 0..16."""
    labels: np.ndarray
    """(N,) int64 digits 0..9."""


@dataclass(frozen=True)
class VoicePool:
    """Base spoken-digit clips of one split."""

    clips: tuple[np.ndarray, ...]
    """Each (S,) float32 in -1..1 at 16 kHz, S <= 16000, silence trimmed."""
    labels: np.ndarray
    """(N,) int64 digit of each clip."""
    voices: tuple[str, ...]
    """espeak-ng voice ("accent+variant") of each clip."""


def load_images() -> dict[str, ImagePool]:
    """Split sklearn's digits into train/val/test by contiguous blocks (see IMAGE_BLOCKS)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.float32)
    labels = digits.target.astype(np.int64)
    n = len(labels)
    pools = {}
    for split, (lo, hi) in IMAGE_BLOCKS.items():
        sl = slice(int(lo * n), int(hi * n))
        pools[split] = ImagePool(images=images[sl], labels=labels[sl])
    return pools


def load_voices(folder: Path = VOICES_DIR) -> dict[str, VoicePool]:
    """Read the shipped voice bank; the split of each voice is fixed in its index."""
    import soundfile as sf

    index_path, flac_path = folder / "index.json", folder / "clips.flac"
    if not index_path.is_file() or not flac_path.is_file():
        raise EdgefuseError(
            f"voice bank not found in {folder}; run `python -m edgefuse.train.demo.render_voices` (needs espeak-ng)"
        )
    meta = json.loads(index_path.read_text(encoding="utf-8"))
    audio, rate = sf.read(flac_path, dtype="float32")
    if rate != meta["sample_rate"]:
        raise EdgefuseError(f"voice bank {flac_path} is {rate} Hz but its index says {meta['sample_rate']} Hz; re-render it")
    pools = {}
    for split in SPLITS:
        rows = [c for c in meta["clips"] if c["split"] == split]
        pools[split] = VoicePool(
            clips=tuple(audio[c["start"]:c["start"] + c["length"]] for c in rows),
            labels=np.array([c["digit"] for c in rows], dtype=np.int64),
            voices=tuple(c["voice"] for c in rows),
        )
    return pools


def by_label(labels: np.ndarray) -> list[np.ndarray]:
    """Indices of each digit 0..9 in `labels`; fails loudly if a digit has no example."""
    groups = [np.nonzero(labels == d)[0] for d in range(10)]
    missing = [d for d, g in enumerate(groups) if len(g) == 0]
    assert not missing, f"no base example for digits {missing}"
    return groups
