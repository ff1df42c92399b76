"""Microphone capture: a sounddevice `InputStream` callback feeding a ring buffer at the contract rate.

The stream opens at a rate the device supports (the contract's rate when it can); blocks are mixed
down to mono and resampled with a streaming `soxr` resampler inside the callback, so the ring
always holds the contract's rate. Input overflows are counted and reported, never fatal.
"""

from __future__ import annotations

import threading

import numpy as np

from edgefuse.runtime._deps import require
from edgefuse.runtime.capture.errors import CaptureError
from edgefuse.runtime.capture.source import Source
from edgefuse.runtime.errors import InputError

FALLBACK_RATES = (48000, 44100, 32000, 22050, 16000, 96000, 8000)
"""Capture rates tried, after the target rate and the device's default, until one opens."""
PORTAUDIO_FIX = (
    "install the PortAudio library: `apt-get install libportaudio2` (Debian/Ubuntu), "
    "`dnf install portaudio` (Fedora), `brew install portaudio` (macOS)"
)


def import_sounddevice():
    """Import sounddevice, or raise one line naming the fix: the pip extra or the PortAudio library."""
    try:
        import sounddevice
    except OSError as e:  # sounddevice raises OSError when libportaudio cannot be found or loaded
        raise CaptureError(f"microphone capture needs PortAudio ({e}); {PORTAUDIO_FIX}") from None
    except ImportError:
        return require("sounddevice")  # raises MissingDependencyError naming the 'mic' extra
    return sounddevice


def resolve_input_device(device: int | str | None) -> int:
    """A PortAudio input device index from an index, a (sub)string of its name, or None/"default"."""
    sd = import_sounddevice()
    if isinstance(device, str) and device.strip().isdigit():
        device = int(device)
    if device is None or device == "default":
        index = sd.default.device[0]
        if index is None or index < 0:
            raise CaptureError("no default microphone; pass --mic with an index or name from `edgefuse devices`")
        return int(index)
    try:
        info = sd.query_devices(device, "input")
    except ValueError as e:  # unknown name, ambiguous name, or a device with no input channels
        raise CaptureError(f"no usable microphone {device!r} ({e}); pick one listed by `edgefuse devices`") from None
    except sd.PortAudioError as e:
        raise CaptureError(f"microphone {device!r} cannot be queried ({e}); pick one listed by `edgefuse devices`") from None
    return int(info["index"])


def choose_input_settings(device: int, target_rate: int) -> tuple[int, int]:
    """(capture rate in Hz, channels) the device accepts: target rate and mono when it can."""
    sd = import_sounddevice()
    info = sd.query_devices(device)
    max_channels = int(info["max_input_channels"])
    if max_channels < 1:
        raise CaptureError(f"device {device} ({info['name']}) has no input channels; pick a microphone from `edgefuse devices`")
    rates = [target_rate, int(info["default_samplerate"]), *FALLBACK_RATES]
    for channels in dict.fromkeys((1, min(2, max_channels), max_channels)):
        for rate in dict.fromkeys(rates):
            try:
                sd.check_input_settings(device=device, samplerate=rate, channels=channels, dtype="float32")
                return rate, channels
            except (ValueError, sd.PortAudioError):
                continue
    raise CaptureError(
        f"microphone {device} ({info['name']}) accepts none of the rates {sorted(set(rates))} Hz; "
        "check it with `edgefuse devices`"
    )


class Microphone(Source):
    """Captures mono float32 audio at `sample_rate` Hz into a ring buffer of `buffer_seconds`.

    `device`: PortAudio index, a (sub)string of its name, or None / "default". `capture_rate` and
    `channels` force the device settings (default: the first the device accepts, preferring
    `sample_rate` and mono). Use as a context manager or call `start()`/`stop()`; `window(n)`
    returns the newest n samples at any time.
    """

    def __init__(self, device: int | str | None = None, sample_rate: int = 16000, *, buffer_seconds: float = 5.0,
                 block_seconds: float = 0.02, capture_rate: int | None = None, channels: int | None = None):
        self.device_arg = device
        self.sample_rate = int(sample_rate)
        self.block_seconds = block_seconds
        self.capture_rate: int | None = capture_rate
        """Rate the device is opened at, in Hz (chosen on `start()` unless forced)."""
        self.channels: int | None = channels
        self.device_name: str | None = None
        self.overflows = 0
        """Blocks the device dropped because the callback ran late (PortAudio `input_overflow`)."""
        self.samples_captured = 0
        """Samples written to the ring so far, at `sample_rate`."""
        self.error: str | None = None
        self._ring = np.zeros(max(1, int(buffer_seconds * self.sample_rate)), dtype=np.float32)
        self._lock = threading.Lock()
        self._stream = None
        self._resampler = None
        self._sd = import_sounddevice()

    def start(self) -> Microphone:
        """Open and start the input stream; raise CaptureError when the device cannot be opened."""
        if self._stream is not None:
            return self
        sd = self._sd
        device = resolve_input_device(self.device_arg)
        self.device_name = str(sd.query_devices(device)["name"])
        if self.capture_rate is None or self.channels is None:
            rate, channels = choose_input_settings(device, self.capture_rate or self.sample_rate)
            self.capture_rate, self.channels = self.capture_rate or rate, self.channels or channels
        if self.capture_rate != self.sample_rate:
            soxr = require("soxr")
            self._resampler = soxr.ResampleStream(self.capture_rate, self.sample_rate, 1, dtype="float32")
        try:
            self._stream = sd.InputStream(
                device=device, samplerate=self.capture_rate, channels=self.channels, dtype="float32",
                blocksize=int(self.capture_rate * self.block_seconds), callback=self._on_block,
                finished_callback=self._on_finished,
            )
            self._stream.start()
        except sd.PortAudioError as e:
            self._stream = None
            raise CaptureError(f"cannot open microphone {self.device_name!r} ({e}); check it with `edgefuse devices`") from None
        return self

    def stop(self) -> None:
        """Stop and close the stream; safe to call twice."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()
            stream.close()

    @property
    def active(self) -> bool:
        return self._stream is not None and bool(self._stream.active)

    def window(self, n: int) -> np.ndarray:
        """The newest `n` samples, (n,) float32 at `sample_rate`; zeros before capture began."""
        if n > self._ring.size:
            raise InputError(f"window of {n} samples exceeds the microphone buffer of {self._ring.size}; raise buffer_seconds")
        out = np.zeros(n, dtype=np.float32)
        with self._lock:
            have = min(n, self.samples_captured)
            end = self.samples_captured % self._ring.size
            idx = np.arange(end - have, end) % self._ring.size
            out[n - have :] = self._ring[idx]
        return out

    def _on_block(self, block: np.ndarray, frames: int, time_info, status) -> None:
        """PortAudio callback thread: (frames, channels) float32 → mono → resample → ring."""
        if status.input_overflow:
            self.overflows += 1
        mono = block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
        if self._resampler is not None:
            mono = self._resampler.resample_chunk(np.ascontiguousarray(mono, dtype=np.float32))
        self._write(mono)

    def _write(self, samples: np.ndarray) -> None:
        n = total = samples.shape[0]
        if n == 0:
            return
        size = self._ring.size
        if n >= size:
            samples, n = samples[-size:], size
        with self._lock:
            start = (self.samples_captured + total - n) % size
            first = min(n, size - start)
            self._ring[start : start + first] = samples[:first]
            self._ring[: n - first] = samples[first:]
            self.samples_captured += total

    def _on_finished(self) -> None:
        if self._stream is not None:  # finished without stop(): the device went away or failed
            self.error = f"microphone {self.device_name!r} stopped delivering audio (unplugged or failed)"
