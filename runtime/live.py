"""The live loop: every hop, the newest camera frame, the last audio window and the newest text
go through one fused prediction; probabilities are smoothed over time.

Use it as an iterator (`for result in LiveLoop(...)`) or with a callback (`loop.run(on_result)`).
Sources are started when iteration begins and always stopped when it ends, however it ends.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from edgefuse.runtime._deps import require
from edgefuse.runtime.capture.camera import Camera
from edgefuse.runtime.capture.errors import CaptureError
from edgefuse.runtime.capture.microphone import Microphone
from edgefuse.runtime.capture.text_input import TextInput
from edgefuse.runtime.errors import InputError
from edgefuse.runtime.inputs import Example
from edgefuse.runtime.predictor import Predictor


@dataclass(frozen=True)
class LiveResult:
    """One hop of the live loop."""

    t: float
    """Seconds since the loop started."""
    label: str | None
    """Label with the highest smoothed probability; None when that is below the threshold."""
    score: float
    """Smoothed probability of the top label (reported even when `label` is None)."""
    probs: dict[str, float]
    """Smoothed probability of every label."""
    present: tuple[str, ...]
    """Modalities fed this hop."""
    latency_ms: float
    """Wall time from taking the inputs to the smoothed prediction: preprocessing plus inference."""
    dropped_frames: int
    """Camera frames replaced before the loop took them, since the start."""
    audio_overflows: int
    """Microphone input overflows reported by PortAudio, since the start."""
    error: str | None = None
    """Why this hop's input could not be used (it is counted and the loop goes on), else None."""

    def to_dict(self) -> dict:
        d = {
            "t": round(self.t, 3), "label": self.label, "score": round(self.score, 4), "present": list(self.present),
            "latency_ms": round(self.latency_ms, 2), "dropped_frames": self.dropped_frames,
            "audio_overflows": self.audio_overflows,
        }
        return d if self.error is None else {**d, "error": self.error}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


@dataclass
class LiveSummary:
    """Totals of one run of the loop, for the closing line."""

    hops: int = 0
    elapsed_s: float = 0.0
    compute_s: float = 0.0
    """Sum of per-hop latencies (wall time): the loop's own work, excluding waiting for the next hop."""
    compute_cpu_s: float = 0.0
    """CPU time of the loop's thread during hops; it includes onnxruntime's work when it runs on one
    thread (intra-op threads = 1), and unlike wall latency does not grow when other processes share the cores."""
    late_hops: int = 0
    """Hops skipped because the previous one overran its slot."""
    dropped_frames: int = 0
    audio_overflows: int = 0
    camera_reconnects: int = 0
    bad_inputs: int = 0
    """Hops whose input could not be preprocessed; each was skipped and the loop went on."""
    stopped_by: str = "end"
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def real_time_factor(self) -> float:
        """Hop latency (wall) over elapsed time (0.05 = the loop is busy 5% of the time)."""
        return self.compute_s / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def cpu_real_time_factor(self) -> float:
        """The loop thread's CPU time during hops over elapsed time."""
        return self.compute_cpu_s / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict:
        lat = np.asarray(self.latencies_ms or [0.0])
        return {
            "hops": self.hops, "elapsed_s": round(self.elapsed_s, 3), "real_time_factor": round(self.real_time_factor, 5),
            "cpu_real_time_factor": round(self.cpu_real_time_factor, 5),
            "latency_ms_mean": round(float(lat.mean()), 3), "latency_ms_p95": round(float(np.percentile(lat, 95)), 3),
            "late_hops": self.late_hops, "dropped_frames": self.dropped_frames, "audio_overflows": self.audio_overflows,
            "camera_reconnects": self.camera_reconnects, "bad_inputs": self.bad_inputs, "stopped_by": self.stopped_by,
        }


class LiveLoop:
    """Fused live inference over any of a camera, a microphone and a text source.

    hop: seconds between predictions. smooth: weight of the previous smoothed probabilities in
    p_t = smooth * p_{t-1} + (1 - smooth) * probs_t (0 = no smoothing). threshold: below this
    smoothed top probability `label` is None. duration: seconds to run (None: until `stop()`, or
    until a video file ends when no microphone or live text could still change the input).
    max_frame_age: a camera frame older than this many seconds (a stalled or reconnecting
    camera) is not fed; the image is absent until frames flow again.
    """

    def __init__(self, predictor: Predictor, camera: Camera | None = None, microphone: Microphone | None = None,
                 text: TextInput | None = None, *, hop: float = 0.25, smooth: float = 0.6,
                 threshold: float | None = None, duration: float | None = None, max_frame_age: float = 1.0):
        _check_settings(predictor, camera, microphone, text, hop, smooth, threshold, duration)
        if not max_frame_age > 0:
            raise InputError(f"max_frame_age must be > 0 seconds, got {max_frame_age}")
        self.predictor = predictor
        self.camera, self.microphone, self.text = camera, microphone, text
        self.hop, self.smooth, self.threshold, self.duration = hop, smooth, threshold, duration
        self.max_frame_age = max_frame_age
        self.summary = LiveSummary()
        self._stop, self._stop_reason = threading.Event(), "stop"
        self._smoothed: np.ndarray | None = None
        self._start: float | None = None

    def stop(self, reason: str = "stop") -> None:
        """Ask the loop to end after the current hop; safe from any thread or a signal handler.

        `reason` becomes the summary's `stopped_by` (e.g. "interrupt" for Ctrl-C)."""
        self._stop_reason = reason
        self._stop.set()

    def run(self, on_result: Callable[[LiveResult], object]) -> LiveSummary:
        """Call `on_result` for every hop until the duration passes or `stop()`; return the summary."""
        for result in self:
            on_result(result)
        return self.summary

    def __iter__(self) -> Iterator[LiveResult]:
        self._stop.clear()
        self._stop_reason = "stop"
        self.summary, self._smoothed, self._start = LiveSummary(), None, None
        started: list = []
        try:
            for source in (self.camera, self.microphone, self.text):
                if source is not None:
                    started.append(source.start())
            with _one_blas_thread(self.camera is not None):
                yield from self._hops()
        finally:
            for source in reversed(started):
                source.stop()
            self._finish_summary()

    def _hops(self) -> Iterator[LiveResult]:
        start = time.monotonic()
        self._start = start
        end = start + self.duration if self.duration is not None else float("inf")
        next_due, saw_end_of_input = start + self.hop, False
        while True:
            if next_due > end:  # the duration ends before the next hop: stop on time, not a hop late
                self.summary.stopped_by = self._stop_reason if self._stop.wait(max(0.0, end - time.monotonic())) else "duration"
                return
            if self._stop.wait(max(0.0, next_due - time.monotonic())):
                self.summary.stopped_by = self._stop_reason
                return
            self._raise_if_source_failed()
            exhausted = self._inputs_exhausted()
            if exhausted and saw_end_of_input:  # one hop has already shown the final input
                self.summary.stopped_by = "end of input"
                return
            saw_end_of_input = exhausted
            yield self.step(time.monotonic() - start)
            # Keep the hop grid; if a hop overran whole slots, skip them instead of bursting to catch up.
            next_due += self.hop
            late = time.monotonic() - next_due
            if late > 0:
                skipped = int(late // self.hop) + 1
                self.summary.late_hops += skipped
                next_due += skipped * self.hop

    def step(self, t: float) -> LiveResult:
        """One hop now: take the inputs, predict, smooth. Sources must be started."""
        began, began_cpu = time.perf_counter(), time.thread_time()
        example = self._take_inputs()
        present, error = example.present(), None
        if present:
            try:
                feeds = self.predictor.builder.build([example])
            except InputError as e:  # a device runs unattended: count bad input, never stop on it
                self.summary.bad_inputs += 1
                present, error = (), str(e)
        if present:
            probs = self.predictor.run(feeds)[0]
            self._smoothed = probs if self._smoothed is None else self.smooth * self._smoothed + (1 - self.smooth) * probs
        smoothed = self._smoothed if self._smoothed is not None else np.full(len(self.predictor.labels), 1 / len(self.predictor.labels))
        best = int(np.argmax(smoothed))
        score = float(smoothed[best])
        confident = bool(present) and (self.threshold is None or score >= self.threshold)
        latency_ms = (time.perf_counter() - began) * 1000.0
        self.summary.hops += 1
        self.summary.compute_s += latency_ms / 1000.0
        self.summary.compute_cpu_s += time.thread_time() - began_cpu
        self.summary.latencies_ms.append(latency_ms)
        return LiveResult(
            t=t, label=self.predictor.labels[best] if confident else None, score=score,
            probs={k: float(p) for k, p in zip(self.predictor.labels, smoothed)}, present=present,
            latency_ms=latency_ms, dropped_frames=self.camera.frames_dropped if self.camera else 0,
            audio_overflows=self.microphone.overflows if self.microphone else 0, error=error,
        )

    def _take_inputs(self) -> Example:
        c = self.predictor.contract
        frame = self.camera.latest() if self.camera else None
        if frame is not None and time.monotonic() - frame.timestamp > self.max_frame_age:
            frame = None  # a stale picture of the past is worse than admitting the camera is not delivering
        audio = None
        if self.microphone is not None and self.microphone.samples_captured > 0:
            audio = self.microphone.window(c.audio.window_samples)
        return Example(
            image=frame.for_contract(c.image) if frame is not None else None,
            audio=audio,
            text=self.text.latest() if self.text else None,
            sample_rate=c.audio.sample_rate if c.audio else None,
        )

    def _inputs_exhausted(self) -> bool:
        """True when the input can no longer change: every finite source (a video file, stdin) has
        ended and no live source (a camera device or stream, a microphone, a followed file) is open.
        Fixed text neither keeps the loop alive nor ends it."""
        cam, text = self.camera, self.text
        finite = []  # ended? per finite source
        if cam is not None and cam.kind == "file":
            finite.append(cam.ended)
        if text is not None and text.kind == "stream":
            finite.append(text.ended)
        live = (self.microphone is not None or (cam is not None and cam.kind != "file")
                or (text is not None and text.kind == "file"))
        return not live and bool(finite) and all(finite)

    def _raise_if_source_failed(self) -> None:
        if self.microphone is not None and self.microphone.error:
            raise CaptureError(self.microphone.error)
        cam = self.camera
        if cam is not None and cam.ended and cam.error and cam.kind != "file":
            raise CaptureError(f"{cam.error}; check the camera or pass --camera with another source")

    def _finish_summary(self) -> None:
        s = self.summary
        s.elapsed_s = time.monotonic() - self._start if self._start is not None else 0.0
        if self.camera:
            s.dropped_frames, s.camera_reconnects = self.camera.frames_dropped, self.camera.reconnects
        if self.microphone:
            s.audio_overflows = self.microphone.overflows


def _one_blas_thread(needed: bool) -> contextlib.AbstractContextManager:
    """Limit numpy's BLAS to one thread while the loop runs with a camera.

    Resizing a frame is a few tiny matrix products; a multi-threaded BLAS wakes its spinning
    threads for each, which competes with onnxruntime and the capture threads for the same cores
    (measured 8 ms instead of 0.3 ms per resize on a busy 2-core CPU).
    """
    if not needed:
        return contextlib.nullcontext()
    return require("threadpoolctl").threadpool_limits(limits=1, user_api="blas")


def _check_settings(predictor, camera, microphone, text, hop, smooth, threshold, duration) -> None:
    c = predictor.contract
    for name, source, spec in (("camera", camera, c.image), ("microphone", microphone, c.audio), ("text", text, c.text)):
        if source is not None and spec is None:
            raise InputError(f"this model takes {', '.join(c.modalities)}; it has no input for the {name}; leave it out")
    if camera is None and microphone is None and text is None:
        raise InputError("no input source; pass at least one of a camera, a microphone or a text source")
    if microphone is not None and microphone.sample_rate != c.audio.sample_rate:
        raise InputError(f"microphone delivers {microphone.sample_rate} Hz but the model expects {c.audio.sample_rate} Hz")
    if not hop > 0:
        raise InputError(f"hop must be > 0 seconds, got {hop}")
    if not 0 <= smooth < 1:
        raise InputError(f"smooth must be in [0, 1), got {smooth}")
    if threshold is not None and not 0 <= threshold <= 1:
        raise InputError(f"threshold must be in [0, 1], got {threshold}")
    if duration is not None and not duration > 0:
        raise InputError(f"duration must be > 0 seconds, got {duration}")
