"""Camera capture: OpenCV `VideoCapture` on a device index, a video file or a stream URL.

A reader thread keeps only the newest frame, so a slow consumer never sees a backlog: frames it
did not take in time are counted as dropped. Video files are paced at their own frame rate by
default, so a file behaves like a camera; live sources reconnect after a failure.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgefuse.runtime._deps import require
from edgefuse.runtime.capture.errors import CaptureError
from edgefuse.runtime.capture.source import Source
from edgefuse.runtime.contract import ImageSpec
from edgefuse.runtime.preprocess.image import image_to_tensor

CameraSource = int | str | os.PathLike
STREAM_SCHEMES = ("http://", "https://", "rtsp://", "rtsps://", "rtmp://", "udp://", "tcp://")
FALLBACK_FPS = 30.0
"""Pace used for a video file whose header gives no usable frame rate."""


@dataclass(frozen=True)
class Frame:
    """One camera frame, already in RGB order."""

    pixels: np.ndarray
    """(H, W, 3) uint8, RGB."""
    index: int
    """Frames read from the source before this one (0-based, counts across reconnects)."""
    timestamp: float
    """`time.monotonic()` seconds when the frame was read."""

    def for_contract(self, spec: ImageSpec) -> np.ndarray:
        """The pixels shrunk toward the contract's size, (h, W, 3) uint8 RGB; see `shrink_for`."""
        return shrink_for(self.pixels, spec)

    def to_tensor(self, spec: ImageSpec) -> np.ndarray:
        """(C, H, W) float32 0..1 in the contract's colour order and size."""
        return image_to_tensor(self.for_contract(spec), spec)


def shrink_for(pixels: np.ndarray, spec: ImageSpec) -> np.ndarray:
    """Reduce (H, W, C) uint8 by the largest integer factor that keeps it >= 2x the contract size.

    OpenCV's area filter (a box average) does the bulk of the reduction in about a millisecond;
    `image_to_tensor` then applies the contract's own antialiased resize to the small image.
    Resizing a 640x480 frame with `image_to_tensor` alone costs ~15-30 ms on a small CPU, most of
    a hop's budget; the two-step result differs from it by < 0.01 on average (0..1 scale).
    """
    h, w = pixels.shape[:2]
    factor = min(h // (2 * spec.height), w // (2 * spec.width))
    if factor < 2:
        return pixels
    cv2 = import_cv2()
    return cv2.resize(pixels, (w // factor, h // factor), interpolation=cv2.INTER_AREA)


def classify_source(source: CameraSource) -> tuple[str, int | str]:
    """("device", index) for an int or digit string, ("stream", url), or ("file", path).

    A `/dev/videoN` path is a device too; a file path must exist.
    """
    if isinstance(source, int) or (isinstance(source, str) and source.strip().isdigit()):
        return "device", int(source)
    text = os.fspath(source)
    if text.lower().startswith(STREAM_SCHEMES):
        return "stream", text
    if text.startswith("/dev/video"):
        return "device", text
    if not Path(text).is_file():
        raise CaptureError(
            f"camera source {text!r} is not a device index, a stream URL or an existing video file; "
            "pass e.g. 0, /dev/video0, rtsp://host/stream or a path to a video file (see `edgefuse devices`)"
        )
    return "file", text


class Camera(Source):
    """Newest-frame reader over OpenCV. Use as a context manager or call `start()`/`stop()`.

    `realtime` paces a video file at its frame rate (default: True for files; live sources are
    paced by the hardware). `reconnect` reopens a device or stream after a read failure, waiting
    `reconnect_delay` seconds between tries, at most `max_reconnects` times (None: forever).
    A file that ends, or a source that cannot be reopened, sets `ended`; `latest()` then returns None.
    """

    def __init__(
        self,
        source: CameraSource = 0,
        spec: ImageSpec | None = None,
        *,
        realtime: bool | None = None,
        loop: bool = False,
        reconnect: bool = True,
        reconnect_delay: float = 1.0,
        max_reconnects: int | None = None,
        timeout: float = 10.0,
    ):
        self.kind, self.target = classify_source(source)
        self.spec = spec
        self.realtime = self.kind == "file" if realtime is None else realtime
        self.loop = loop
        self.reconnect = reconnect and self.kind != "file"
        self.reconnect_delay = reconnect_delay
        self.max_reconnects = max_reconnects
        self.timeout = timeout
        self.frames_read = 0
        self.frames_dropped = 0
        """Frames replaced by a newer one before anybody took them."""
        self.reconnects = 0
        self.error: str | None = None
        """Why the source ended, when it ended because of a failure."""
        self._cv2 = import_cv2()
        self._lock = threading.Lock()
        self._newest: Frame | None = None
        self._taken = True
        self._new_frame = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._ended = threading.Event()
        self._thread: threading.Thread | None = None
        self._capture = None

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    def start(self) -> Camera:
        """Open the source (raising CaptureError if it cannot) and start the reader thread."""
        if self._thread is None:
            self._capture = self._open()
            self._thread = threading.Thread(target=self._read_forever, name=f"camera:{self.target}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the reader thread and release the source; safe to call twice."""
        self._stop.set()
        with self._new_frame:
            self._new_frame.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 1.0)
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def latest(self) -> Frame | None:
        """The newest frame (marking it taken), or None before the first frame or after the end."""
        with self._lock:
            if self._ended.is_set() and self._taken:
                return None
            self._taken = True
            return self._newest

    def wait(self, timeout: float | None = None) -> Frame | None:
        """Block until a frame not yet taken arrives (or the source ends); return it, or None."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._new_frame:
            while self._taken and not self._ended.is_set() and not self._stop.is_set():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._new_frame.wait(left)
            if self._taken:
                return None
            self._taken = True
            return self._newest

    def _open(self):
        cv2 = self._cv2
        timeout_ms = int(self.timeout * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
        capture = cv2.VideoCapture(self.target, cv2.CAP_ANY, params)
        if not capture.isOpened():
            capture.release()
            raise CaptureError(self._open_failure())
        return capture

    def _open_failure(self) -> str:
        if self.kind == "device":
            return (
                f"cannot open camera {self.target!r}: no such device, or it is busy or not permitted; "
                "run `edgefuse devices` to list cameras (on Linux add your user to the 'video' group)"
            )
        if self.kind == "stream":
            return (
                f"cannot open camera stream {self.target!r} within {self.timeout:g} s; check the URL and that the "
                "server is up (OpenCV needs its FFmpeg backend for streams: see `edgefuse devices`)"
            )
        return f"cannot decode video file {self.target!r} with OpenCV; use an MP4/AVI/MKV file its FFmpeg backend reads"

    def _read_forever(self) -> None:
        fps = self._capture.get(self._cv2.CAP_PROP_FPS) if self.realtime else 0.0
        period = 1.0 / (fps if 0 < fps < 1000 else FALLBACK_FPS)
        due = time.monotonic()
        try:
            while not self._stop.is_set():
                ok, bgr = self._capture.read()
                if not ok or bgr is None:
                    if not self._recover():
                        break
                    continue
                if self.realtime:
                    due += period
                    self._stop.wait(max(0.0, due - time.monotonic()))
                self._publish(bgr)
        finally:
            with self._new_frame:
                self._ended.set()
                self._new_frame.notify_all()

    def _publish(self, bgr: np.ndarray) -> None:
        # OpenCV decodes to BGR (or gray); every consumer here expects RGB.
        pixels = self._cv2.cvtColor(bgr, self._cv2.COLOR_GRAY2RGB if bgr.ndim == 2 else self._cv2.COLOR_BGR2RGB)
        with self._new_frame:
            if not self._taken:
                self.frames_dropped += 1
            self._newest = Frame(pixels=pixels, index=self.frames_read, timestamp=time.monotonic())
            self._taken = False
            self.frames_read += 1
            self._new_frame.notify_all()

    def _recover(self) -> bool:
        """After a failed read: rewind a looping file, reopen a live source, or give up (False)."""
        if self.kind == "file":
            if self.loop and self.frames_read:
                self._capture.set(self._cv2.CAP_PROP_POS_FRAMES, 0)
                return True
            return False
        while self.reconnect and not self._stop.is_set():
            if self.max_reconnects is not None and self.reconnects >= self.max_reconnects:
                break
            self.reconnects += 1
            self._capture.release()
            if self._stop.wait(self.reconnect_delay):
                return False
            try:
                self._capture = self._open()
                return True
            except CaptureError as e:
                self.error = str(e)
        self.error = self.error or f"camera {self.target!r} stopped delivering frames"
        return False


def import_cv2():
    """Import OpenCV, or raise one line naming the fix (pip extra, or the system library)."""
    try:
        import cv2
    except ImportError as e:
        if "libGL" in str(e) or "libgthread" in str(e):
            raise CaptureError(
                f"OpenCV cannot load a system library ({e}); install it with `apt-get install libgl1 libglib2.0-0`, "
                "or replace opencv-python with opencv-python-headless"
            ) from None
        return require("cv2")  # raises MissingDependencyError naming the 'camera' extra
    return cv2
