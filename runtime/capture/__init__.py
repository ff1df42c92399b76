"""Capture sources for the live loop: camera (OpenCV), microphone (sounddevice + soxr) and text.

OpenCV and sounddevice are imported only when a source is created, so importing this package
costs nothing on a device that has neither.
"""

from edgefuse.runtime.capture.camera import Camera, Frame
from edgefuse.runtime.capture.errors import CaptureError
from edgefuse.runtime.capture.microphone import Microphone
from edgefuse.runtime.capture.text_input import TextInput

__all__ = ["Camera", "CaptureError", "Frame", "Microphone", "TextInput"]
