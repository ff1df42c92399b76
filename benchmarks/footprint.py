"""Device footprint of the runtime: dependency closure, one-shot `edgefuse predict`, live-loop load.

Measures (issue 5, item 6):
  1. `pip install edgefuse[camera,mic]` pulls no torch and no onnx: the closure of the extras'
     requirements, walked through the installed distributions' metadata.
  2. A whole `edgefuse predict` process with image + audio + text: wall time and peak RSS of a
     fresh process (os.wait4 rusage of that child), several runs. Targets: <= 1.0 s, <= 120 MB.
  3. The live loop (`edgefuse live`) on a 640x480 30 fps video file, a microphone (a private
     PulseAudio null sink playing demo speech, when pulseaudio is installed) and fixed text:
     real-time factor = loop compute time / wall time (target <= 0.05), plus the whole process's
     CPU time / wall time (camera decoding and the audio callback included).

    python benchmarks/footprint.py --model models/demo.onnx --data data/digits3   # headline run
    python benchmarks/footprint.py                                               # self-contained

Without --model it builds the tiny demo set and trains one epoch of the default TrainConfig into a
temporary folder: the same architecture (and so the same graph size and compute) as the full demo
model that `make demo` writes to models/demo.onnx, with worse accuracy, which footprint ignores.
Results go to benchmarks/results/footprint.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the private PulseAudio server used by the tests

from edgefuse.runtime._atomic import write_text  # noqa: E402

TARGETS = {"predict_wall_s": 1.0, "predict_peak_rss_mb": 120.0, "live_real_time_factor": 0.05}
FORBIDDEN = ("torch", "onnx", "tensorflow")


def dependency_closure(extras: tuple[str, ...] = ("camera", "mic")) -> list[str]:
    """Distributions that `pip install edgefuse[extras]` installs, from installed metadata."""
    seen: set[str] = set()
    todo = [("edgefuse", set(extras))]
    while todo:
        name, wanted = todo.pop()
        key = _norm(name) + (f"[{','.join(sorted(wanted))}]" if wanted else "")
        if key in seen:
            continue
        seen.add(key)
        for req in metadata.requires(name) or []:
            req_name, req_extras, marker = _parse_requirement(req)
            if marker and not _marker_holds(marker, wanted):
                continue
            todo.append((req_name, req_extras))
    return sorted({k.split("[")[0] for k in seen} - {"edgefuse"})


def _parse_requirement(req: str) -> tuple[str, set[str], str | None]:
    body, _, marker = req.partition(";")
    m = re.match(r"\s*([A-Za-z0-9._-]+)\s*(\[([^\]]*)\])?", body)
    return m.group(1), {e.strip() for e in (m.group(3) or "").split(",") if e.strip()}, marker.strip() or None


def _marker_holds(marker: str, extras: set[str]) -> bool:
    """Whether a requirement's marker holds here for any of the wanted extras (or none)."""
    from packaging.markers import Marker  # onnxruntime depends on packaging

    return any(Marker(marker).evaluate({"extra": extra}) for extra in (extras or {""}))


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def run_measured(cmd: list[str], env: dict | None = None) -> tuple[float, float, float, str, str]:
    """Run `cmd` to the end → (wall s, peak RSS MB, CPU s, stdout, stderr) of that process alone."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {stderr[-2000:]}")
    return wall, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime, stdout, stderr


def measure_predict(model: Path, row, runs: int) -> dict:
    cmd = [sys.executable, "-m", "edgefuse", "predict", str(model), "--image", str(row.image), "--audio", str(row.audio),
           "--text", row.text]
    samples = [run_measured(cmd) for _ in range(runs)]
    present = json.loads(samples[-1][3])["present"]
    assert present == ["image", "audio", "text"], present
    walls, rss, cpu = [s[0] for s in samples], [s[1] for s in samples], [s[2] for s in samples]
    # CPU time (user + sys, all threads) does not grow when other processes share the cores; wall does.
    return {"runs": runs, "wall_s_median": statistics.median(walls), "wall_s_max": max(walls), "wall_s_min": min(walls),
            "cpu_s_median": statistics.median(cpu), "peak_rss_mb_max": max(rss), "peak_rss_mb_median": statistics.median(rss),
            "modalities": present}


def camera_video(data: Path, path: Path, seconds: float = 4.0) -> Path:
    """A 640x480 30 fps FFV1 video of demo digits: what a USB camera delivers, from a file."""
    import cv2

    images = sorted((data / "images" / "test").glob("*.png"))[:20]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 30.0, (640, 480))
    for i in range(int(30 * seconds)):
        gray = cv2.imread(str(images[(i // 15) % len(images)]), cv2.IMREAD_GRAYSCALE)
        writer.write(cv2.cvtColor(cv2.resize(gray, (640, 480), interpolation=cv2.INTER_LINEAR), cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


def speech_track(data: Path, path: Path, seconds: float) -> Path:
    """Demo test clips back to back, `seconds` long, 16 kHz mono WAV."""
    import soundfile as sf

    clips = [sf.read(p, dtype="float32")[0] for p in sorted((data / "audio" / "test").glob("*.wav"))[:40]]
    track = np.concatenate(clips * int(np.ceil(seconds * 16000 / sum(map(len, clips)))))[: int(seconds * 16000)]
    sf.write(path, track, 16000)
    return path


def measure_live(model: Path, data: Path, row, seconds: float, hop: float, work: Path) -> dict:
    video = camera_video(data, work / "camera.avi")
    cmd = [sys.executable, "-m", "edgefuse", "live", str(model), "--camera", str(video), "--loop-video",
           "--text", row.text, "--hop", str(hop), "--duration", str(seconds)]
    pulse, player, env = _start_pulse(work), None, dict(os.environ)
    try:
        if pulse is not None:
            env.update(pulse.env)
            cmd += ["--mic", "pulse"]
            track = speech_track(data, work / "speech.wav", seconds + 10)
            player = subprocess.Popen(["paplay", f"--device={pulse.env['PULSE_SINK']}", str(track)], env=env)
        wall, rss, cpu, stdout, stderr = run_measured(cmd, env)
    finally:
        if player is not None:
            player.terminate()
            player.wait()
        if pulse is not None:
            pulse.stop()
    summary = json.loads(stderr.strip().splitlines()[-1].split("summary ", 1)[1])
    lines = [json.loads(line) for line in stdout.splitlines()]
    return {
        "seconds": seconds, "hop_s": hop, "hops": summary["hops"], "sources": ["camera 640x480 30 fps file", "text"] + (["mic (PulseAudio)"] if pulse else []),
        "hops_with_all_modalities": sum(len(line["present"]) == 3 for line in lines),
        "real_time_factor": summary["real_time_factor"], "cpu_real_time_factor": summary["cpu_real_time_factor"],
        "latency_ms_mean": summary["latency_ms_mean"],
        "latency_ms_p95": summary["latency_ms_p95"], "late_hops": summary["late_hops"],
        "dropped_frames": summary["dropped_frames"], "audio_overflows": summary["audio_overflows"],
        "process_cpu_s": cpu, "process_wall_s": wall, "process_cpu_fraction": cpu / wall, "process_peak_rss_mb": rss,
    }


def _start_pulse(work: Path):
    try:
        from _pulse import PulseServer
    except ImportError:
        return None
    server = PulseServer(work / "pulse")
    if server.missing():
        return None
    try:
        return server.start()
    except RuntimeError:
        return None


def tiny_model(work: Path) -> tuple[Path, Path]:
    """Tiny demo data + one epoch of the default TrainConfig + export, in a child process so that
    this process never holds torch (a forked child's peak RSS would count the parent's pages)."""
    code = (
        "import sys; from pathlib import Path; from edgefuse.export import to_onnx; "
        "from edgefuse.train import TrainConfig, fit; from edgefuse.train.demo import build_demo; "
        "w = Path(sys.argv[1]); d = build_demo(w / 'digits3', seed=0, size='tiny'); "
        "fit(d, w / 'run', TrainConfig(epochs=1, seed=0)); to_onnx(w / 'run', w / 'tiny.onnx')"
    )
    subprocess.run([sys.executable, "-c", code, str(work)], check=True)
    return work / "tiny.onnx", work / "digits3"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help=".onnx model (default: train a tiny one of the demo architecture)")
    parser.add_argument("--data", type=Path, help="demo data folder the model was trained on (test split is used)")
    parser.add_argument("--runs", type=int, default=7, help="fresh `edgefuse predict` processes to time")
    parser.add_argument("--live-seconds", type=float, default=20.0)
    parser.add_argument("--hop", type=float, default=0.25)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    if (args.model is None) != (args.data is None):
        parser.error("pass both --model and --data, or neither")

    from edgefuse.runtime import read_dataset

    assert "torch" not in sys.modules  # see tiny_model
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model, data = (args.model, args.data) if args.model else tiny_model(work)
        row = next(r for r in read_dataset(data, splits=("test",))["test"] if r.text and r.image and r.audio)
        closure = dependency_closure()
        results = {
            "machine": {"cpu": _cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
                        "onnxruntime": metadata.version("onnxruntime"), "load_avg_at_start": os.getloadavg()},
            "model": {"path": str(model), "bytes": model.stat().st_size, "self_built": args.model is None},
            "install_closure": {"extras": ["camera", "mic"], "distributions": closure,
                                "forbidden_found": [d for d in closure if d in FORBIDDEN]},
            "predict": measure_predict(model, row, args.runs),
            "live": measure_live(model, data, row, args.live_seconds, args.hop, work),
            "targets": TARGETS,
        }
    results["verdict"] = {
        "no_torch_or_onnx": not results["install_closure"]["forbidden_found"],
        "predict_wall": results["predict"]["wall_s_median"] <= TARGETS["predict_wall_s"],
        "predict_rss": results["predict"]["peak_rss_mb_max"] <= TARGETS["predict_peak_rss_mb"],
        "live_rtf": results["live"]["real_time_factor"] <= TARGETS["live_real_time_factor"],
        "live_cpu_rtf": results["live"]["cpu_real_time_factor"] <= TARGETS["live_real_time_factor"],
    }
    results["machine"]["load_avg_at_end"] = os.getloadavg()
    results["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    results["command"] = " ".join(["python benchmarks/footprint.py", *sys.argv[1:]])
    # Same file shape as the other benchmark scripts (benchmarks/README.md); there is no `edgefuse bench` document.
    payload = {"command": results["command"], "headline": results, "bench": None}
    write_text(args.out / "footprint.json", json.dumps(payload, indent=2) + "\n")
    write_text(args.out / "footprint.md", to_markdown(results))
    print(to_markdown(results))


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def to_markdown(r: dict) -> str:
    p, live, v = r["predict"], r["live"], r["verdict"]
    ok = {True: "yes", False: "**NO**"}
    return "\n".join([
        "# Runtime footprint",
        "",
        f"`{r['command']}`",
        "",
        f"Measured {r['created']} on {r['machine']['cpu']}, {r['machine']['cores']} cores, Python {r['machine']['python']}, "
        f"onnxruntime {r['machine']['onnxruntime']}; load average (1 min) {r['machine']['load_avg_at_start'][0]:.2f} at the start, "
        f"{r['machine']['load_avg_at_end'][0]:.2f} at the end.",
        f"Model: `{r['model']['path']}` ({r['model']['bytes'] / 1e6:.2f} MB){' — self-built tiny model of the demo architecture' if r['model']['self_built'] else ''}.",
        "The machine is shared: with a load average above its core count, wall times stretch while CPU times do not.",
        "",
        "| figure | measured | target | met |",
        "|---|---|---|---|",
        f"| `pip install edgefuse[camera,mic]` pulls torch/onnx | {', '.join(r['install_closure']['forbidden_found']) or 'none'} | none | {ok[v['no_torch_or_onnx']]} |",
        f"| `edgefuse predict` image+audio+text, wall (median of {p['runs']}; min–max) | {p['wall_s_median']:.3f} s ({p['wall_s_min']:.3f}–{p['wall_s_max']:.3f}) | <= 1.0 s | {ok[v['predict_wall']]} |",
        f"| `edgefuse predict` CPU time, user + sys (median of {p['runs']}) | {p['cpu_s_median']:.3f} s | (for reading the wall time) | |",
        f"| `edgefuse predict` peak RSS (max of {p['runs']}) | {p['peak_rss_mb_max']:.1f} MB | <= 120 MB | {ok[v['predict_rss']]} |",
        f"| live loop real-time factor, CPU: loop thread's CPU time in hops / elapsed ({live['hops']} hops of {live['hop_s']} s, 1 onnxruntime thread) | {live['cpu_real_time_factor']:.4f} | <= 0.05 | {ok[v['live_cpu_rtf']]} |",
        f"| live loop real-time factor, wall: sum of hop latencies / elapsed (same run) | {live['real_time_factor']:.4f} | <= 0.05 | {ok[v['live_rtf']]} |",
        "",
        f"Live sources: {', '.join(live['sources'])}; hops with all three modalities: {live['hops_with_all_modalities']}/{live['hops']}; "
        f"latency mean {live['latency_ms_mean']:.2f} ms, p95 {live['latency_ms_p95']:.2f} ms; late hops {live['late_hops']}; "
        f"dropped frames {live['dropped_frames']}; audio overflows {live['audio_overflows']}.",
        f"Whole live process (startup, camera decoding at 30 fps, audio callback included): CPU {live['process_cpu_s']:.2f} s over "
        f"{live['process_wall_s']:.2f} s wall = {live['process_cpu_fraction']:.3f} of one core; peak RSS {live['process_peak_rss_mb']:.1f} MB.",
        "",
        f"Install closure of edgefuse[camera,mic]: {', '.join(r['install_closure']['distributions'])}.",
        "",
    ])


if __name__ == "__main__":
    main()
