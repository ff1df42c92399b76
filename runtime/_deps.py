"""Lazy imports of optional dependencies, each naming the extra that installs it."""

from __future__ import annotations

import importlib
from types import ModuleType

from edgefuse.runtime.errors import MissingDependencyError

# module name -> (pip extra, what needs it)
_EXTRAS = {
    "PIL": ("image", "reading image files"),
    "soundfile": ("audio", "reading audio files"),
    "soxr": ("audio", "resampling audio"),
    "tokenizers": ("text", "tokenizing text"),
    "cv2": ("camera", "camera capture"),
    "sounddevice": ("mic", "microphone capture"),
    "threadpoolctl": ("camera", "limiting BLAS threads in the live loop"),
    "matplotlib": ("bench", "benchmark plots"),
}


def require(module: str) -> ModuleType:
    """Import `module`, or raise one line naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        extra, purpose = _EXTRAS.get(module.split(".")[0], ("all", module))
        raise MissingDependencyError(
            f"{purpose} needs the Python module {module!r} ({e}); install it with: pip install 'edgefuse[{extra}]'"
        ) from None
