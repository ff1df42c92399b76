"""Errors of the capture layer: missing hardware, missing system libraries, unreadable sources."""

from edgefuse.runtime.errors import EdgefuseError


class CaptureError(EdgefuseError):
    """A camera, microphone or text source cannot be opened or read; the message names the fix."""
