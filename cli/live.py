"""The `edgefuse live` and `edgefuse devices` subcommands: a thin layer over runtime.live and runtime.devices."""

from __future__ import annotations

import json
import signal
import sys

from edgefuse.runtime.errors import EdgefuseError


def register(subparsers) -> None:
    """Add `live` and `devices` to the `edgefuse` subcommand parsers."""
    live = subparsers.add_parser(
        "live", help="predict continuously from a camera, a microphone and/or text; one JSON line per hop",
        description="Every hop: newest camera frame + last audio window + newest text → one fused prediction, "
        "smoothed over time, printed as a JSON line (t, label, score, present, latency_ms, dropped_frames, "
        "audio_overflows). Ctrl-C or --duration stops it; a summary line goes to stderr.",
    )
    live.add_argument("model", help=".onnx file made by edgefuse")
    live.add_argument("--camera", metavar="SRC", help="camera index (0), /dev/videoN, a video file, or a stream URL (http://, rtsp://)")
    live.add_argument("--mic", metavar="DEV", help="microphone index, part of its name, or 'default' (see `edgefuse devices`)")
    live.add_argument("--text", metavar="-|FILE|TEXT", help="'-' reads lines from stdin; an existing FILE is followed as it grows; anything else is fixed text")
    live.add_argument("--hop", type=float, default=0.25, help="seconds between predictions (default: 0.25)")
    live.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: run until Ctrl-C)")
    live.add_argument("--smooth", type=float, default=0.6,
                      help="exponential smoothing of probabilities: p = smooth * p_prev + (1 - smooth) * p_now; 0 turns it off (default: 0.6)")
    live.add_argument("--threshold", type=float, metavar="P",
                      help="print label null when the smoothed top probability is below P (score is still printed)")
    live.add_argument("--threads", type=int, default=1,
                      help="onnxruntime intra-op threads (default: 1; one example per hop gains little from more, and capture threads need the cores)")
    live.add_argument("--provider", action="append", metavar="NAME",
                      help="execution provider, e.g. cuda or openvino (repeatable); falls back to cpu")
    live.add_argument("--loop-video", action="store_true", help="restart a video file when it ends")
    live.add_argument("--max-frame-age", type=float, default=1.0, metavar="S",
                      help="leave the image out when the newest camera frame is older than S seconds (default: 1.0)")
    live.set_defaults(handler=run_live)

    devices = subparsers.add_parser("devices", help="list cameras and microphones, probe rates/channels, explain missing libraries")
    devices.add_argument("--json", action="store_true", help="print JSON instead of text")
    devices.add_argument("--max-camera-index", type=int, default=4, help="camera indices to try where /dev/video* cannot be listed")
    devices.set_defaults(handler=run_devices)


def run_live(args) -> None:
    from edgefuse.runtime import Predictor
    from edgefuse.runtime.capture import Camera, Microphone, TextInput
    from edgefuse.runtime.live import LiveLoop

    if args.camera is None and args.mic is None and args.text is None:
        raise EdgefuseError("no input source; pass at least one of --camera SRC, --mic DEV, --text -|FILE|TEXT")
    predictor = Predictor.from_file(args.model, threads=args.threads, providers=args.provider)
    for line in predictor.fallback:
        print(f"edgefuse: note: execution provider {line}; using {predictor.providers[0]}", file=sys.stderr)
    c = predictor.contract
    if (args.camera is not None and not c.image) or (args.mic is not None and not c.audio) or (args.text is not None and not c.text):
        raise EdgefuseError(f"this model takes only {', '.join(c.modalities)}; leave out the other inputs")
    camera = Camera(args.camera, c.image, loop=args.loop_video) if args.camera is not None else None
    microphone = None
    if args.mic is not None:
        buffer_seconds = max(5.0, 2 * c.audio.window_seconds)
        microphone = Microphone(args.mic, c.audio.sample_rate, buffer_seconds=buffer_seconds)
    text = TextInput.from_arg(args.text) if args.text is not None else None
    loop = LiveLoop(predictor, camera, microphone, text, hop=args.hop, smooth=args.smooth,
                    threshold=args.threshold, duration=args.duration, max_frame_age=args.max_frame_age)
    # Ctrl-C and SIGTERM (e.g. from a service manager) end the loop after the current hop, so no
    # KeyboardInterrupt can land inside a half-printed line or a capture thread's shutdown.
    signal.signal(signal.SIGINT, lambda *_: loop.stop("interrupt"))
    signal.signal(signal.SIGTERM, lambda *_: loop.stop("terminate"))
    results = iter(loop)
    try:
        for result in results:
            print(result.to_json(), flush=True)
    finally:
        results.close()  # stops every source even when interrupted mid-hop
        _print_summary(loop, camera, microphone, text)


def _print_summary(loop, camera, microphone, text) -> None:
    summary = loop.summary.to_dict()
    if microphone is not None and microphone.capture_rate:
        summary["microphone"] = {"name": microphone.device_name, "capture_rate": microphone.capture_rate,
                                 "channels": microphone.channels, "resampled_to": microphone.sample_rate}
    if camera is not None:
        summary["camera"] = {"source": str(camera.target), "frames_read": camera.frames_read}
    if text is not None:
        summary["text"] = text.describe()
    print("edgefuse: live summary " + json.dumps(summary), file=sys.stderr, flush=True)


def run_devices(args) -> None:
    from edgefuse.runtime.devices import format_report, probe_devices

    report = probe_devices(max_camera_index=args.max_camera_index)
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report))
    missing = report.missing_libraries
    if missing:
        # The report above lists what works; the exit code tells scripts that something must be installed.
        raise EdgefuseError(missing[0] if len(missing) == 1 else f"{len(missing)} problems, see above: " + " | ".join(missing))
