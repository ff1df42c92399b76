"""edgefuse: multimodal (camera + microphone + text) classifiers for edge devices."""

__version__ = "0.1.0"
