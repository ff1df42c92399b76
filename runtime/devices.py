"""Listing and probing cameras and microphones, and explaining what is missing to use them.

Every probe returns what it found plus `problems`: one line per missing library or backend,
each naming the exact fix, so `edgefuse devices` is the first thing to run on a new device.
"""

from __future__ import annotations

import glob
import sys
from dataclasses import asdict, dataclass, field

from edgefuse.runtime.capture.camera import import_cv2
from edgefuse.runtime.capture.errors import CaptureError
from edgefuse.runtime.capture.microphone import import_sounddevice
from edgefuse.runtime.errors import EdgefuseError

PROBE_RATES = (8000, 16000, 22050, 32000, 44100, 48000, 96000)
"""Sample rates (Hz) tried on every input device."""


@dataclass
class MicrophoneInfo:
    index: int
    name: str
    host_api: str
    max_channels: int
    default_rate: int
    rates: list[int]
    """Rates from PROBE_RATES that the device accepts (mono, float32)."""
    channels: list[int]
    """Channel counts the device accepts at its default rate."""
    default: bool


@dataclass
class CameraInfo:
    source: str
    """What to pass to --camera."""
    width: int
    height: int
    fps: float
    backend: str


@dataclass
class DeviceReport:
    microphones: list[MicrophoneInfo] = field(default_factory=list)
    cameras: list[CameraInfo] = field(default_factory=list)
    video_backends: list[str] = field(default_factory=list)
    """OpenCV back ends that can open streams and files (FFMPEG is needed for URLs and most files)."""
    problems: list[str] = field(default_factory=list)
    """One line per problem found (no microphone, no camera backend, ...), naming the fix."""
    missing_libraries: list[str] = field(default_factory=list)
    """The problems that are a library or backend to install (PortAudio, OpenCV, its FFMPEG backend)."""

    def to_dict(self) -> dict:
        return asdict(self)


def probe_devices(max_camera_index: int = 4) -> DeviceReport:
    """Probe microphones and cameras; missing libraries become `problems`, never exceptions."""
    report = DeviceReport()
    for probe in (_probe_microphones, lambda r: _probe_cameras(r, max_camera_index)):
        try:
            probe(report)
        except EdgefuseError as e:  # a library could not be imported or loaded
            report.problems.append(str(e))
            report.missing_libraries.append(str(e))
    return report


def _probe_microphones(report: DeviceReport) -> None:
    sd = import_sounddevice()
    try:
        devices = sd.query_devices()
        default_input = sd.default.device[0]
    except sd.PortAudioError as e:
        raise CaptureError(f"PortAudio cannot list audio devices ({e}); check that an audio server or ALSA device exists") from None
    for info in devices:
        if info["max_input_channels"] < 1:
            continue
        report.microphones.append(_probe_microphone(sd, info, default_input))
    if not report.microphones:
        report.problems.append(
            "no microphone found; plug one in, or on Linux install `apt-get install libasound2-plugins` "
            "and run PulseAudio/PipeWire so PortAudio sees its devices"
        )


def _probe_microphone(sd, info: dict, default_input: int | None) -> MicrophoneInfo:
    index, max_channels = int(info["index"]), int(info["max_input_channels"])
    default_rate = int(info["default_samplerate"])

    def accepts(rate: int, channels: int) -> bool:
        try:
            sd.check_input_settings(device=index, samplerate=rate, channels=channels, dtype="float32")
            return True
        except (ValueError, sd.PortAudioError):
            return False

    return MicrophoneInfo(
        index=index, name=str(info["name"]), host_api=str(sd.query_hostapis(info["hostapi"])["name"]),
        max_channels=max_channels, default_rate=default_rate,
        rates=[r for r in PROBE_RATES if accepts(r, 1)],
        channels=[c for c in sorted({1, 2, max_channels}) if c <= max_channels and accepts(default_rate, c)],
        default=index == default_input,
    )


def _probe_cameras(report: DeviceReport, max_index: int) -> None:
    cv2 = import_cv2()
    registry = cv2.videoio_registry
    report.video_backends = [registry.getBackendName(b) for b in registry.getStreamBackends() if registry.hasBackend(b)]
    if "FFMPEG" not in report.video_backends:
        problem = ("OpenCV was built without its FFMPEG backend, so stream URLs and most video files cannot be opened; "
                   "install the wheel that has it: pip install --force-reinstall opencv-python-headless")
        report.problems.append(problem)
        report.missing_libraries.append(problem)
    camera_backends = [registry.getBackendName(b) for b in registry.getCameraBackends() if registry.hasBackend(b)]
    if not camera_backends:
        report.problems.append(
            "OpenCV has no camera backend; install a wheel with one: pip install --force-reinstall opencv-python-headless"
        )
    for source in _camera_candidates(max_index):
        capture = cv2.VideoCapture(source)
        try:
            if capture.isOpened():
                report.cameras.append(CameraInfo(
                    source=str(source), width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                    height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)), fps=float(capture.get(cv2.CAP_PROP_FPS)),
                    backend=capture.getBackendName(),
                ))
        finally:
            capture.release()


def _camera_candidates(max_index: int) -> list[int | str]:
    """Video nodes on Linux (only those that exist, so nothing is opened blindly); indices elsewhere."""
    if sys.platform.startswith("linux"):
        nodes = [p for p in glob.glob("/dev/video*") if p[len("/dev/video"):].isdigit()]
        return sorted(nodes, key=lambda p: int(p[len("/dev/video"):]))
    return list(range(max_index + 1))


def format_report(report: DeviceReport) -> str:
    """The report as plain text for a terminal."""
    lines = ["microphones (pass the index or a part of the name to --mic):"]
    for m in report.microphones:
        mark = " (default)" if m.default else ""
        lines.append(f"  [{m.index}] {m.name}{mark} — {m.host_api}; up to {m.max_channels} ch, default {m.default_rate} Hz")
        lines.append(f"       rates: {', '.join(map(str, m.rates)) or 'none of ' + str(PROBE_RATES)}; channels: {m.channels}")
    if not report.microphones:
        lines.append("  none")
    lines.append("cameras (pass the source to --camera; files and stream URLs work too):")
    for c in report.cameras:
        lines.append(f"  {c.source} — {c.width}x{c.height} @ {c.fps:g} fps ({c.backend})")
    if not report.cameras:
        lines.append("  none")
    lines.append(f"video backends for files and streams: {', '.join(report.video_backends) or 'none'}")
    lines += [f"problem: {p}" for p in report.problems]
    return "\n".join(lines)
