"""Render the spoken digits "zero".."nine" with espeak-ng into the shipped voice bank.

Run once by a maintainer (``python -m edgefuse.train.demo.render_voices``); its output,
``voices/clips.flac`` and ``voices/index.json``, is committed so that a machine without
espeak-ng builds the demo data from the shipped clips.

A *voice* is one espeak-ng accent with one voice variant (``en-gb-scotland+m3``). Each voice
speaks every digit once, at its own speed and pitch with a little jitter per clip. Voices are
split into train / val / test here, by variant, so that no test variant (timbre) is ever heard
in training, whatever seed the data set is built with.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np

from edgefuse.runtime.errors import EdgefuseError

VOICES_DIR = Path(__file__).with_name("voices")
SAMPLE_RATE = 16_000
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ACCENTS = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
VARIANT_DIR = Path("/usr/lib/x86_64-linux-gnu/espeak-ng-data/voices/!v")
# 84 voices x 10 digits at ~8.6 kB of FLAC per trimmed clip keeps the bank near 7 MB (< 8 MB budget).
N_VOICES = 84
SPLIT_VOICES = {"test": 14, "val": 8}  # the rest train
MAX_CLIP_S = 0.85  # leaves room in the 1 s window for time shifts and slower speed perturbation
PEAK = 0.7  # stored peak level; the builder rescales every clip anyway


def list_variants(variant_dir: Path = VARIANT_DIR) -> list[str]:
    """Sorted espeak-ng voice variants usable in a ``-v lang+variant`` argument."""
    if not variant_dir.is_dir():
        raise EdgefuseError(f"espeak-ng variant folder not found: {variant_dir}; install espeak-ng-data")
    # Names with spaces do not survive espeak-ng's voice-name parsing.
    return sorted(p.name for p in variant_dir.iterdir() if p.is_file() and " " not in p.name)


def plan_voices(variants: list[str], rng: np.random.Generator) -> list[dict]:
    """Pick N_VOICES variants, give each an accent, a base speed/pitch and a split.

    Returns dicts ``{"voice", "split", "speed", "pitch"}``; speed in words per minute, pitch 0..99.
    """
    if len(variants) < N_VOICES:
        raise EdgefuseError(f"espeak-ng has {len(variants)} voice variants; the demo needs {N_VOICES}")
    chosen = [variants[i] for i in rng.permutation(len(variants))[:N_VOICES]]
    n_test, n_val = SPLIT_VOICES["test"], SPLIT_VOICES["val"]
    plan = []
    for k, variant in enumerate(chosen):
        split = "test" if k < n_test else "val" if k < n_test + n_val else "train"
        plan.append({
            "voice": f"{ACCENTS[k % len(ACCENTS)]}+{variant}",
            "split": split,
            "speed": int(rng.integers(130, 186)),
            "pitch": int(rng.integers(25, 76)),
        })
    return plan


def synthesize(word: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """Speak `word` with espeak-ng. Returns (S,) float32 in -1..1 at SAMPLE_RATE."""
    import soundfile as sf
    import soxr

    cmd = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", word]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0 or not proc.stdout:
        raise EdgefuseError(f"espeak-ng failed for voice {voice!r}: {proc.stderr.decode(errors='replace').strip()}")
    audio, rate = sf.read(io.BytesIO(proc.stdout), dtype="float32")
    return soxr.resample(audio, rate, SAMPLE_RATE).astype(np.float32)


def trim_silence(x: np.ndarray, floor_db: float = -40.0, frame: int = 160) -> np.ndarray:
    """Cut leading/trailing 10 ms frames quieter than `floor_db` below the loudest frame.

    x: (S,) float32. Returns a view of x, keeping one quiet frame each side so onsets stay soft.
    """
    n = len(x) // frame
    if n == 0:
        return x
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    loud = np.nonzero(20 * np.log10(rms / rms.max()) > floor_db)[0]
    start = max(int(loud[0]) - 1, 0) * frame
    stop = min(int(loud[-1]) + 2, n) * frame
    return x[start:stop]


def render_clip(word: str, voice: str, speed: int, pitch: int) -> tuple[np.ndarray, int]:
    """Synthesize, trim and peak-normalize one clip no longer than MAX_CLIP_S.

    Returns ((S,) int16, the speed actually used); a slow voice is sped up until the clip fits.
    """
    while True:
        clip = trim_silence(synthesize(word, voice, speed, pitch))
        if len(clip) <= MAX_CLIP_S * SAMPLE_RATE:
            break
        speed = int(speed * 1.15) + 1
    clip = clip * (PEAK / max(float(np.abs(clip).max()), 1e-6))
    return np.round(clip * 32767).astype(np.int16), speed


def render_bank(out: Path, seed: int = 0) -> dict:
    """Render every planned voice x digit into ``out/clips.flac`` + ``out/index.json``.

    The FLAC holds all clips back to back; the index gives each clip's digit, voice, split,
    speed, pitch, and ``start``/``length`` in samples into the FLAC.
    """
    import soundfile as sf

    if shutil.which("espeak-ng") is None:
        raise EdgefuseError("espeak-ng not found on PATH; install it (apt-get install espeak-ng) to render voices")
    rng = np.random.default_rng(seed)
    clips, index, start = [], [], 0
    for v in plan_voices(list_variants(), rng):
        for digit, word in enumerate(DIGIT_WORDS):
            # Per-clip jitter so one voice does not say every digit at the identical rate.
            speed = v["speed"] + int(rng.integers(-10, 11))
            pitch = int(np.clip(v["pitch"] + rng.integers(-8, 9), 0, 99))
            pcm, speed = render_clip(word, v["voice"], speed, pitch)
            index.append({"digit": digit, "voice": v["voice"], "split": v["split"], "speed": speed,
                          "pitch": pitch, "start": start, "length": len(pcm)})
            clips.append(pcm)
            start += len(pcm)
    out.mkdir(parents=True, exist_ok=True)
    sf.write(out / "clips.flac", np.concatenate(clips), SAMPLE_RATE, format="FLAC", subtype="PCM_16",
             compression_level=1.0)
    meta = {"sample_rate": SAMPLE_RATE, "engine": _espeak_version(), "seed": seed, "clips": index}
    (out / "index.json").write_text(_index_json(meta), encoding="utf-8")
    return meta


def _index_json(meta: dict) -> str:
    """JSON with one clip per line: small, and diffs of a re-render stay readable."""
    head = json.dumps({k: v for k, v in meta.items() if k != "clips"})[:-1]
    clips = ",\n".join(json.dumps(c) for c in meta["clips"])
    return f'{head}, "clips": [\n{clips}\n]}}\n'


def _espeak_version() -> str:
    proc = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=False)
    return proc.stdout.split("Data at")[0].strip()  # the data path is machine-specific


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=VOICES_DIR, help="folder for clips.flac and index.json")
    parser.add_argument("--seed", type=int, default=0, help="seed of the voice choice, split and jitter")
    args = parser.parse_args(argv)
    meta = render_bank(args.out, args.seed)
    size = sum(p.stat().st_size for p in args.out.iterdir())
    voices = {c["voice"] for c in meta["clips"]}
    print(f"wrote {len(meta['clips'])} clips of {len(voices)} voices to {args.out} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
