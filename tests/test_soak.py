"""The live loop over time and under load: a short soak (video file + PulseAudio), and CPU starvation.

The 10-minute soak with its RSS figures is benchmarks/soak.py; this runs the same code briefly.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from _pulse import pulse_fixture
from _tiny_models import write_tiny_model
from edgefuse.runtime import Predictor
from edgefuse.runtime.capture import Camera
from edgefuse.runtime.live import LiveLoop

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
pulse = pytest.fixture(scope="module")(pulse_fixture)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("soak") / "tiny.onnx")


@pytest.mark.slow
@pytest.mark.needs_service
def test_short_soak_has_no_errors(pulse, model, tmp_path):
    from soak import make_inputs, run_soak

    video, wav = make_inputs(tmp_path, None, seconds=4)
    figures = run_soak(model, video, wav, pulse, seconds=20, hop=0.05, sample_seconds=1.0, show_progress=False)
    assert figures["errors"] == 0 and figures["restarts"] == 0, figures["error_messages"]
    assert figures["hops"] >= 100  # 20 s at 0.05 s, minus skipped late hops on a busy machine
    # Both real sources fed the loop: the video from the start, the microphone once PulseAudio played.
    assert figures["hops_with_image"] >= 0.9 * figures["hops"] and figures["hops_with_audio"] >= 0.5 * figures["hops"]
    assert len(figures["rss_samples"]) >= 10 and figures["rss_end_mb"] > 0


class ObservedCamera(Camera):
    """The real camera; also records, for every frame the loop takes, how many frames had been read."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.taken: list[tuple[int, int]] = []  # (frame index, frames read when it was taken)

    def latest(self):
        with self._lock:  # the reader thread publishes under this lock: both numbers are from one instant
            read = self.frames_read
        frame = super().latest()
        if frame is not None:
            self.taken.append((frame.index, read))
        return frame


def write_video(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    """A lossless FFV1 video of (H, W, 3) uint8 gray-level frames, through OpenCV."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), fps, frames[0].shape[1::-1])
    for frame in frames:
        writer.write(frame)  # equal channels: RGB and BGR are the same
    writer.release()
    return path


def _hog() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


@pytest.mark.slow
def test_starved_loop_drops_frames_instead_of_queueing(model, tmp_path):
    """Busy processes take the CPUs; the loop must skip hops and stale frames, never work through a backlog."""
    frames = [np.full((24, 32, 3), i % 256, np.uint8) for i in range(400)]
    video = write_video(tmp_path / "fast.avi", frames, fps=200)
    predictor = Predictor.from_file(model, threads=1)
    camera = ObservedCamera(video, predictor.contract.image, loop=True)
    hogs = [_hog() for _ in range(6)]
    try:
        loop = LiveLoop(predictor, camera, hop=0.002, duration=4.0)
        results = list(loop)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    summary = loop.summary
    assert summary.late_hops > 0, "the loop was never late: the machine was not starved, the test proves nothing"
    slots = 4.0 / 0.002
    assert len(results) == summary.hops and summary.hops + summary.late_hops >= 0.9 * slots  # every slot run or skipped
    # Every frame the loop used was the newest one read at that moment; all older ones were dropped.
    assert camera.taken and all(index >= read - 1 for index, read in camera.taken)
    assert summary.dropped_frames >= camera.frames_read - len({index for index, _ in camera.taken}) - 1
