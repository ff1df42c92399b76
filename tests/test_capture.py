"""Capture sources on real components: OpenCV on a video file and an HTTP MJPEG stream,
PortAudio + ALSA's pulse plugin on a private PulseAudio server, and text from pipes and files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from _mjpeg import MjpegServer
from _pulse import pulse_fixture
from edgefuse.runtime import ImageSpec
from edgefuse.runtime.capture import Camera, CaptureError, Microphone, TextInput
from edgefuse.runtime.capture.camera import shrink_for
from edgefuse.runtime.errors import EdgefuseError
from edgefuse.runtime.preprocess.audio import read_audio_file
from edgefuse.runtime.preprocess.image import image_to_tensor, read_image_file

pulse = pytest.fixture(scope="module")(pulse_fixture)


def tinted_frames(demo_data: Path, n: int = 6) -> list[np.ndarray]:
    """n demo digits as (64, 64, 3) uint8 RGB: the digit in red, the frame number in blue."""
    frames = []
    for i, png in enumerate(sorted((demo_data / "images" / "test").glob("*.png"))[:n]):
        gray = np.kron(read_image_file(png)[..., 0], np.ones((2, 2), np.uint8))  # PNG is gray, decoded as RGB
        frames.append(np.stack([gray, np.zeros_like(gray), np.full_like(gray, 40 * i)], axis=2))
    return frames


def write_video(path: Path, frames: list[np.ndarray], fps: float = 20.0) -> Path:
    """A lossless (FFV1) video of RGB frames, written through OpenCV like any recorded clip."""
    import cv2

    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), fps, (w, h))
    assert writer.isOpened()
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture(scope="module")
def frames(demo_data):
    return tinted_frames(demo_data)


@pytest.fixture(scope="module")
def video(frames, tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("video") / "digits.avi", frames)


def drain(camera: Camera, timeout: float = 10.0) -> list:
    taken = []
    while (frame := camera.wait(timeout)) is not None:
        taken.append(frame)
    return taken


# --- camera: video file -------------------------------------------------------------------------


def test_video_file_frames_come_in_order_in_rgb(video, frames):
    with Camera(video) as camera:
        taken = drain(camera)
    assert camera.ended and camera.frames_read == len(frames)
    assert taken, "no frame arrived"
    assert [f.index for f in taken] == sorted({f.index for f in taken})
    assert camera.frames_dropped == camera.frames_read - len(taken)
    for f in taken:  # lossless video: exactly the frames written, red digit and blue frame number
        np.testing.assert_array_equal(f.pixels, frames[f.index])


def test_slow_consumer_gets_only_the_newest_frame(video, frames):
    with Camera(video, realtime=False) as camera:
        while not camera.ended:
            time.sleep(0.02)
        newest = camera.latest()
        assert camera.latest() is None  # taken, and the file has ended
    assert newest.index == len(frames) - 1
    assert camera.frames_dropped == len(frames) - 1
    np.testing.assert_array_equal(newest.pixels, frames[-1])


def test_looping_video_keeps_delivering(video, frames):
    with Camera(video, realtime=False, loop=True) as camera:
        deadline = time.monotonic() + 10
        while camera.frames_read <= 2 * len(frames) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not camera.ended
    assert camera.frames_read > 2 * len(frames)


def test_frame_tensor_follows_the_contract(video, frames):
    with Camera(video, realtime=False) as camera:
        frame = camera.wait(10)
    rgb = frame.to_tensor(ImageSpec(height=16, width=16, color_order="RGB"))
    bgr = frame.to_tensor(ImageSpec(height=16, width=16, color_order="BGR"))
    gray = frame.to_tensor(ImageSpec(height=8, width=12, color_order="GRAY", resize="nearest"))
    assert rgb.shape == (3, 16, 16) and gray.shape == (1, 8, 12) and rgb.dtype == np.float32
    np.testing.assert_array_equal(bgr, rgb[::-1])
    np.testing.assert_allclose(rgb, image_to_tensor(frames[frame.index], ImageSpec(height=16, width=16)), atol=1e-6)


def test_large_frames_shrink_close_to_the_contract_resize(frames):
    import cv2

    spec = ImageSpec(height=32, width=32)
    for rgb in frames:
        big = cv2.resize(rgb, (640, 480), interpolation=cv2.INTER_LINEAR)  # what a VGA camera delivers
        small = shrink_for(big, spec)
        assert small.shape[0] >= 64 and small.shape[1] >= 64 and small.shape[0] * small.shape[1] < big.shape[0] * big.shape[1] / 16
        difference = np.abs(image_to_tensor(small, spec) - image_to_tensor(big, spec))
        assert difference.mean() < 0.01 and difference.max() < 0.08
    assert shrink_for(frames[0], spec) is frames[0]  # already small: untouched


def test_bad_camera_sources_are_one_line_errors(tmp_path):
    with pytest.raises(CaptureError, match="not a device index, a stream URL or an existing video file"):
        Camera(tmp_path / "missing.mp4")
    with pytest.raises(CaptureError, match="cannot open camera 9"):
        Camera(9).start()
    bogus = tmp_path / "not-a-video.avi"
    bogus.write_bytes(b"definitely not a video")
    with pytest.raises(CaptureError, match="cannot decode video file"):
        Camera(bogus).start()


# --- camera: HTTP MJPEG stream ------------------------------------------------------------------


@pytest.mark.needs_service
def test_mjpeg_stream_through_the_same_camera_class(frames):
    with MjpegServer(frames, fps=30) as server, Camera(server.url, timeout=5) as camera:
        assert camera.kind == "stream" and not camera.realtime
        taken = [camera.wait(5) for _ in range(2 * len(frames))]
    assert all(f is not None for f in taken)
    for f in taken:  # JPEG is lossy: the digit (red) and the frame number (blue) survive, in RGB order
        expected = frames[f.index % len(frames)].astype(float)
        assert abs(f.pixels[..., 2].mean() - expected[..., 2].mean()) < 6
        assert np.corrcoef(f.pixels[..., 0].ravel(), expected[..., 0].ravel())[0, 1] > 0.95
        assert f.pixels[..., 1].mean() < 10


@pytest.mark.needs_service
def test_mjpeg_stream_reconnects_after_the_server_drops_it(frames):
    with MjpegServer(frames, fps=50, frames_per_connection=5) as server:
        with Camera(server.url, timeout=5, reconnect_delay=0.05) as camera:
            deadline = time.monotonic() + 20
            while camera.frames_read < 12 and time.monotonic() < deadline:
                camera.wait(1)
        assert camera.reconnects >= 2 and camera.frames_read >= 12 and server.connections >= 3
        assert not camera.ended or camera.error is None


def test_unreachable_stream_is_a_one_line_error():
    import socket

    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(CaptureError, match="cannot open camera stream"):
        Camera(f"http://127.0.0.1:{port}/stream.mjpg", timeout=2).start()


# --- text ---------------------------------------------------------------------------------------


def test_text_fixed_and_from_arg(tmp_path):
    assert TextInput.fixed("  seven ").latest() == "seven"
    assert TextInput.fixed("   ").latest() is None
    assert TextInput.from_arg("three").kind == "fixed"
    assert TextInput.from_arg("-").kind == "stream"
    (tmp_path / "words.txt").write_text("")
    assert TextInput.from_arg(str(tmp_path / "words.txt")).kind == "file"
    with pytest.raises(CaptureError, match="text file not found"):
        TextInput.follow(tmp_path / "nope.txt")


def test_text_lines_from_a_pipe(tmp_path):
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd) as reader, os.fdopen(write_fd, "w") as writer:
        text = TextInput.stdin(reader).start()
        for line, expected in (("one\n", "one"), ("two two\n", "two two"), ("\n", None), ("nine\n", "nine")):
            writer.write(line)
            writer.flush()
            _wait_for(lambda: text.lines_read >= 1 and text.latest() == expected)
        writer.close()
        _wait_for(lambda: text.ended)
        assert text.latest() == "nine" and text.lines_read == 4


def test_text_file_is_followed_as_it_grows_and_after_truncation(tmp_path):
    path = tmp_path / "transcript.txt"
    path.write_text("zero\n")
    with TextInput.follow(path, poll_seconds=0.02) as text:
        _wait_for(lambda: text.latest() == "zero")
        with open(path, "a", encoding="utf-8") as f:
            f.write("fü")  # a partial line is not taken until its newline arrives
            f.flush()
            time.sleep(0.1)
            assert text.latest() == "zero"
            f.write("nf\n")
        _wait_for(lambda: text.latest() == "fünf")
        path.write_text("six\n")  # truncated and rewritten, as an editor does
        _wait_for(lambda: text.latest() == "six")


def _wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


# --- microphone through PortAudio → ALSA pulse plugin → PulseAudio null sink monitor ------------


def spoken_clip(demo_data: Path) -> Path:
    rows = [json.loads(line) for line in (demo_data / "test.jsonl").read_text().splitlines()]
    return demo_data / next(r["audio"] for r in rows if "audio" not in r["destroyed"])


def _similarity(captured: np.ndarray, clip: np.ndarray) -> float:
    """Highest normalized cross-correlation of `clip` against any position in `captured`."""
    corr = np.correlate(captured, clip, mode="valid")
    k = int(np.argmax(corr))
    seg = captured[k : k + clip.size]
    return float(seg @ clip / (np.linalg.norm(seg) * np.linalg.norm(clip) + 1e-12))


@pytest.mark.needs_service
@pytest.mark.parametrize("capture_rate, channels", [(None, None), (44100, 2)])
def test_microphone_captures_what_the_sink_plays(pulse, demo_data, capture_rate, channels):
    wav = spoken_clip(demo_data)
    clip, rate = read_audio_file(wav)
    assert rate == 16000
    with Microphone("pulse", 16000, capture_rate=capture_rate, channels=channels) as mic:
        time.sleep(0.2)
        pulse.play(wav)
        time.sleep(0.2)
        captured = mic.window(16000 * 4)
    if capture_rate:  # opened at 44.1 kHz stereo: mixed down and resampled by soxr on the way in
        assert (mic.capture_rate, mic.channels) == (44100, 2)
    else:
        assert mic.capture_rate == 16000 and mic.channels == 1
    assert isinstance(mic.overflows, int) and mic.overflows >= 0
    assert _similarity(captured, clip[:, 0]) > 0.95


@pytest.mark.needs_service
def test_microphone_errors_name_the_fix(pulse):
    with pytest.raises(CaptureError, match="no usable microphone 'no-such-microphone'.*edgefuse devices"):
        Microphone("no-such-microphone").start()
    with Microphone("pulse", 16000, buffer_seconds=1.0) as mic, pytest.raises(EdgefuseError, match="raise buffer_seconds"):
        mic.window(16001)


@pytest.mark.needs_service
def test_devices_lists_and_probes_the_pulse_microphone(pulse):
    out = subprocess.run([sys.executable, "-m", "edgefuse", "devices", "--json"], capture_output=True, text=True,
                         timeout=120, env={**os.environ, **pulse.env})
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    mic = next(m for m in report["microphones"] if m["name"] == "pulse")
    assert 16000 in mic["rates"] and 1 in mic["channels"]
    assert "FFMPEG" in report["video_backends"]
    text = subprocess.run([sys.executable, "-m", "edgefuse", "devices"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **pulse.env})
    assert "pulse" in text.stdout and "rates:" in text.stdout


# --- footprint: the device side never loads torch or onnx ---------------------------------------


def test_capture_and_live_modules_load_no_torch_or_onnx(video):
    code = (
        "import sys, edgefuse.runtime.capture, edgefuse.runtime.live, edgefuse.runtime.devices, edgefuse.live;"
        "from edgefuse.runtime.capture import Camera;"
        "from edgefuse.runtime.capture.microphone import import_sounddevice;"
        f"c = Camera({str(video)!r}, realtime=False).start(); assert c.wait(10) is not None; c.stop();"
        "import_sounddevice();"
        "print(sorted(m for m in ('torch', 'onnx', 'tensorflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_camera_and_mic_extras_pull_no_torch_or_onnx():
    import importlib.util

    spec = importlib.util.spec_from_file_location("footprint", Path(__file__).parents[1] / "benchmarks" / "footprint.py")
    footprint = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(footprint)
    closure = footprint.dependency_closure(("camera", "mic"))
    assert {"onnxruntime", "numpy", "opencv-python-headless", "sounddevice", "soxr"} <= set(closure)
    assert not {"torch", "onnx", "tensorflow"} & set(closure)
    assert "torch" in footprint.dependency_closure(("train",))  # the walk does find torch where it is required
