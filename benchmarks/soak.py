"""Soak: the live loop fed by a looping video file and a PulseAudio stream; RSS growth and errors.

    python benchmarks/soak.py --model models/demo.onnx [--data data/digits3] [--minutes 10] [--hop 0.1]

A private PulseAudio server (null sink; its monitor is the microphone) plays a WAV in a loop
while `Camera(video, loop=True)` replays a video at its frame rate; `LiveLoop` predicts every
`hop` seconds from both. RSS is sampled every `--sample-seconds`. Growth is measured from the end
of a warm-up (the first 10% of the run, at most 60 s: allocator pools, onnxruntime arenas and
PortAudio buffers settle there) to the end, and as a least-squares slope over the rest.
Targets: growth <= 5 MB, errors = 0. An error is any exception out of the loop (the loop is then
restarted, so one failure does not hide later ones) or a hop that lacks a source which had delivered before.
Writes benchmarks/results/soak.json and .md. `run_soak` is also used by tests/test_soak.py.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the private PulseAudio server used by the microphone tests

RSS_TARGET_MB, ERROR_TARGET = 5.0, 0


def rss_mb() -> float:
    """Resident set size of this process in MiB, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status; the soak needs Linux")


def make_inputs(folder: Path, data: Path | None, seconds: float = 10.0) -> tuple[Path, Path]:
    """A 10 s video (20 fps) and a 10 s 16 kHz WAV: from the demo data set when given, else synthetic."""
    import cv2
    import soundfile as sf

    rng = np.random.default_rng(0)
    frames, clips = [], []
    if data is not None:
        from edgefuse.runtime import read_dataset
        from edgefuse.runtime.preprocess.image import read_image_file

        rows = [r for r in read_dataset(data, splits=("test",))["test"] if r.image and r.audio][: int(seconds)]
        frames = [np.asarray(read_image_file(r.image))[..., :3] for r in rows for _ in range(20)]
        clips = [sf.read(r.audio, dtype="float32", always_2d=True)[0].mean(axis=1) for r in rows]
    if not frames:
        frames = [(rng.random((48, 64, 3)) * 255).astype(np.uint8) for _ in range(int(seconds * 20))]
        t = np.arange(int(seconds * 16000)) / 16000
        clips = [(0.3 * np.sin(2 * np.pi * (300 + 200 * np.sin(t)) * t)).astype(np.float32)]
    video = folder / "soak.avi"
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"FFV1"), 20.0, (w, h))
    for f in frames:
        writer.write(cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2BGR))
    writer.release()
    wav = folder / "soak.wav"
    sf.write(wav, np.concatenate(clips), 16000, subtype="PCM_16")
    return video, wav


def run_soak(model: Path, video: Path, wav: Path, pulse, seconds: float, hop: float = 0.1,
             sample_seconds: float = 5.0, show_progress: bool = True) -> dict:
    """Run the live loop for `seconds` against `pulse` (a started tests/_pulse.PulseServer); return figures."""
    from edgefuse.runtime import Predictor
    from edgefuse.runtime.capture import Camera, Microphone
    from edgefuse.runtime.live import LiveLoop

    predictor = Predictor.from_file(model)
    stop = threading.Event()
    player = threading.Thread(target=_play_forever, args=(pulse, wav, stop), daemon=True)
    player.start()
    warmup = min(60.0, 0.1 * seconds)
    samples: list[tuple[float, float]] = []
    errors: list[str] = []
    totals = {"hops": 0, "late_hops": 0, "dropped_frames": 0, "audio_overflows": 0, "restarts": 0}
    start = time.monotonic()
    bar = _bar(seconds, show_progress)
    try:
        while (left := seconds - (time.monotonic() - start)) > hop:
            loop = LiveLoop(predictor, Camera(video, predictor.contract.image, loop=True),
                            Microphone("pulse", predictor.contract.audio.sample_rate), hop=hop, duration=left)
            seen: set[str] = set()
            try:
                for result in loop:
                    now = time.monotonic() - start
                    if not samples or now - samples[-1][0] >= sample_seconds:
                        samples.append((now, rss_mb()))
                        bar.n = round(min(now, seconds), 1)
                        bar.refresh()
                    lost = seen - set(result.present)  # a source that delivered before and stopped
                    if lost:
                        errors.append(f"{now:.1f} s: hop without {', '.join(sorted(lost))}")
                    seen |= set(result.present)
                    for m in result.present:
                        totals[f"hops_with_{m}"] = totals.get(f"hops_with_{m}", 0) + 1
            except Exception as e:  # noqa: BLE001 — counting every failure is the point of a soak
                errors.append(f"{time.monotonic() - start:.1f} s: {type(e).__name__}: {e}")
                traceback.print_exc()
                totals["restarts"] += 1
            for key in ("hops", "late_hops", "dropped_frames", "audio_overflows"):
                totals[key] += getattr(loop.summary, key)
    finally:
        stop.set()
        player.join(timeout=30)
        bar.close()
    samples.append((time.monotonic() - start, rss_mb()))
    return {"seconds": seconds, "hop": hop, "warmup_s": warmup, **totals, **_growth(samples, warmup),
            "errors": len(errors), "error_messages": errors[:20], "rss_samples": [[round(t, 1), round(r, 2)] for t, r in samples]}


def _growth(samples: list[tuple[float, float]], warmup: float) -> dict:
    after = [(t, r) for t, r in samples if t >= warmup] or samples[-2:]
    t, r = np.array(after).T
    slope = float(np.polyfit(t, r, 1)[0] * 60) if len(after) >= 3 else 0.0
    return {"rss_start_mb": round(samples[0][1], 2), "rss_after_warmup_mb": round(float(r[0]), 2),
            "rss_end_mb": round(float(r[-1]), 2), "rss_max_mb": round(float(r.max()), 2),
            "rss_growth_mb": round(float(r[-1] - r[0]), 2), "rss_slope_mb_per_min": round(slope, 4)}


def _play_forever(pulse, wav: Path, stop: threading.Event) -> None:
    while not stop.is_set():
        pulse.play(wav)


def _bar(total: float, show: bool):
    from tqdm import tqdm

    return tqdm(total=round(total, 1), unit="s", desc="soak", disable=not show)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/demo.onnx", help="a model with image and audio inputs")
    parser.add_argument("--data", default="data/digits3", help="demo data set for the video and audio ('' for synthetic)")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--hop", type=float, default=0.1)
    parser.add_argument("--sample-seconds", type=float, default=5.0)
    parser.add_argument("--name", default="soak")
    args = parser.parse_args()
    from _pulse import PulseServer
    from _results import write_result

    data = Path(args.data) if args.data and Path(args.data).is_dir() else None
    with tempfile.TemporaryDirectory() as tmp, PulseServer(Path(tmp) / "pulse") as pulse:
        import os

        os.environ.update(pulse.env)  # PortAudio's ALSA `pulse` device reaches the private server
        video, wav = make_inputs(Path(tmp), data)
        figures = run_soak(Path(args.model), video, wav, pulse, args.minutes * 60, args.hop, args.sample_seconds)
    ok = figures["rss_growth_mb"] <= RSS_TARGET_MB and figures["errors"] <= ERROR_TARGET
    figures.update({"model": args.model, "inputs": "demo data" if data else "synthetic", "targets_met": ok,
                    "rss_target_mb": RSS_TARGET_MB, "error_target": ERROR_TARGET})
    lines = [
        f"Live loop for {args.minutes:g} min, hop {args.hop} s, model `{args.model}`, video + PulseAudio ({figures['inputs']} inputs).", "",
        "| figure | value | target |", "|---|---|---|",
        f"| RSS growth after {figures['warmup_s']:.0f} s warm-up | {figures['rss_growth_mb']:+.2f} MB | <= {RSS_TARGET_MB} MB |",
        f"| RSS slope after warm-up | {figures['rss_slope_mb_per_min']:+.3f} MB/min | |",
        f"| RSS start / after warm-up / max / end | {figures['rss_start_mb']:.1f} / {figures['rss_after_warmup_mb']:.1f} / "
        f"{figures['rss_max_mb']:.1f} / {figures['rss_end_mb']:.1f} MB | |",
        f"| errors (exceptions, hops missing a modality) | {figures['errors']} | {ERROR_TARGET} |",
        f"| hops / late hops skipped | {figures['hops']} / {figures['late_hops']} | |",
        f"| camera frames dropped (newest-frame policy) / audio overflows | {figures['dropped_frames']} / {figures['audio_overflows']} | |",
        f"| loop restarts after an error | {figures['restarts']} | 0 |", "",
        f"Targets met: **{'yes' if ok else 'no'}**.",
    ]
    print(write_result(args.name, figures, lines, None, shlex.join(["python", *sys.argv])).read_text())


if __name__ == "__main__":
    main()
