"""Host-side preprocessing shared by training and devices: pure numpy, written once."""

from edgefuse.runtime.preprocess.audio import fit_window, load_audio
from edgefuse.runtime.preprocess.image import load_image
from edgefuse.runtime.preprocess.text import TextTokenizer

__all__ = ["load_image", "load_audio", "fit_window", "TextTokenizer"]
