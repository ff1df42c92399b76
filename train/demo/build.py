"""Build the "digits3" demo data set: one digit per row, seen, heard and typed.

Every row has a 32x32 PNG of a handwritten digit, a 1 s 16 kHz WAV of a voice saying it,
and (usually) a typed phrase. Each modality is independently informative or destroyed, so no
single one suffices and a fused model has to learn which to trust.
"""

from __future__ import annotations

import functools
import io
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgefuse.runtime._atomic import replace_dir
from edgefuse.runtime.errors import EdgefuseError
from edgefuse.train.demo import corrupt, phrases, sources

MODALITIES = ("image", "audio", "text")
SPLITS = sources.SPLITS
SIZES = {"full": (3000, 500, 1000), "tiny": (400, 100, 100)}
"""Rows in (train, val, test) per size name."""
# P(k of the 3 modalities destroyed), k = 0..3. Each modality is destroyed in ~25% of rows
# (so no single one suffices), but drawing the count first instead of three independent 25%
# coins (which leave one modality alone in 14% of rows and none in 1.6%) makes rows that hang
# on one modality rare (4%) and rows with nothing left rarer (0.5%): fusion can reach 98%.
DESTROYED_COUNT_PROBS = (0.325, 0.63, 0.04, 0.005)
WORKERS = 2


@dataclass(frozen=True)
class RowTask:
    """What a worker needs to make one row; everything random comes from (seed, split, index)."""

    seed: int
    split: str
    index: int
    label: int


@dataclass(frozen=True)
class RowResult:
    record: dict
    png: bytes
    wav: bytes


@functools.lru_cache(maxsize=1)
def _pools() -> tuple[dict, dict]:
    """Base images and voices, loaded once per process."""
    return sources.load_images(), sources.load_voices()


def _row_rng(task: RowTask) -> np.random.Generator:
    # One independent stream per row: output does not depend on worker count or scheduling.
    return np.random.default_rng([task.seed, SPLITS.index(task.split), task.index])


def choose_destroyed(rng: np.random.Generator) -> tuple[str, ...]:
    """Which modalities of a row are destroyed, in MODALITIES order."""
    k = int(rng.choice(len(DESTROYED_COUNT_PROBS), p=DESTROYED_COUNT_PROBS))
    picked = set(rng.choice(len(MODALITIES), size=k, replace=False).tolist())
    return tuple(m for i, m in enumerate(MODALITIES) if i in picked)


def make_row(task: RowTask) -> RowResult:
    """Draw base examples of `task.label` from the split's pools and corrupt each modality."""
    images, voices = _pools()
    rng = _row_rng(task)
    destroyed = choose_destroyed(rng)
    img_pool, voice_pool = images[task.split], voices[task.split]
    img_idx = int(rng.choice(sources.by_label(img_pool.labels)[task.label]))
    clip_idx = int(rng.choice(sources.by_label(voice_pool.labels)[task.label]))
    pixels = corrupt.corrupt_image(img_pool.images[img_idx], rng, "image" not in destroyed)
    samples = corrupt.corrupt_audio(voice_pool.clips[clip_idx], rng, "audio" not in destroyed)
    text = phrases.destroyed_text(rng) if "text" in destroyed else phrases.informative_text(task.label, rng)

    name = f"{task.split}/{task.index:06d}"
    record = {"label": str(task.label)}
    if text is not None:
        record["text"] = text
    record.update(image=f"images/{name}.png", audio=f"audio/{name}.wav",
                  voice=voice_pool.voices[clip_idx], destroyed=list(destroyed))
    return RowResult(record=record, png=_png_bytes(pixels), wav=_wav_bytes(samples))


def _png_bytes(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buf, format="PNG")
    return buf.getvalue()


def _wav_bytes(samples: np.ndarray) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, samples, corrupt.SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def plan_rows(seed: int, size: str) -> list[RowTask]:
    """All rows of all splits, labels balanced (each digit n/10 times) in a seeded order."""
    tasks = []
    for split_id, (split, n) in enumerate(zip(SPLITS, SIZES[size])):
        labels = np.random.default_rng([seed, split_id]).permutation(np.arange(n) % 10)
        tasks += [RowTask(seed, split, i, int(label)) for i, label in enumerate(labels)]
    return tasks


def _check_args(seed: object, size: object) -> None:
    if size not in SIZES:
        raise EdgefuseError(f"unknown demo size {size!r}; use one of {', '.join(map(repr, SIZES))}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise EdgefuseError(f"demo seed must be a non-negative integer, got {seed!r}")


def build_demo(out: str | os.PathLike, seed: int = 0, size: str = "full", *, progress: bool = True) -> Path:
    """Write the digits3 data set to folder `out`, replacing it atomically; return its path.

    `size` is "full" (3000/500/1000 rows) or "tiny" (400/100/100, for tests). The same
    `seed` gives byte-identical files. Needs the shipped voice bank, not espeak-ng.
    """
    from tqdm import tqdm

    _check_args(seed, size)
    seed, out = int(seed), Path(out)
    tasks = plan_rows(seed, size)
    with replace_dir(out) as tmp, tqdm(total=len(tasks), desc=f"digits3 ({size})", unit="row",
                                       disable=not progress) as bar:
        for split in SPLITS:
            (tmp / "images" / split).mkdir(parents=True)
            (tmp / "audio" / split).mkdir(parents=True)
        manifests: dict[str, list[str]] = {split: [] for split in SPLITS}
        for task, result in zip(tasks, _run(tasks)):
            (tmp / result.record["image"]).write_bytes(result.png)
            (tmp / result.record["audio"]).write_bytes(result.wav)
            manifests[task.split].append(json.dumps(result.record, ensure_ascii=False))
            bar.update()
        for split, lines in manifests.items():
            (tmp / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (tmp / "README.md").write_text(_readme(seed, size), encoding="utf-8")
    return out


def _run(tasks: list[RowTask]):
    """Yield make_row(task) in task order, on WORKERS processes when the job is big enough."""
    if len(tasks) < 1000 or WORKERS < 2:
        yield from map(make_row, tasks)
        return
    with ProcessPoolExecutor(WORKERS) as pool:
        yield from pool.map(make_row, tasks, chunksize=64)


def _readme(seed: int, size: str) -> str:
    n = dict(zip(SPLITS, SIZES[size]))
    return (
        f"# digits3 demo data ({size}, seed {seed})\n\n"
        f"Digits 0-9 as a 32x32 handwritten image (scikit-learn digits), a 1 s 16 kHz spoken word (espeak-ng voices) "
        f"and a typed phrase; {n['train']}/{n['val']}/{n['test']} train/val/test rows.\n"
        "Each modality is destroyed (heavy occlusion, noise far above the voice, or no/garbled text) in about 25% of rows, "
        "listed in the `destroyed` field; test writers and voices are unseen in training (`voice` names the voice).\n"
        f"Built by `edgefuse.train.demo.build_demo(out, seed={seed}, size={size!r})`.\n"
    )
