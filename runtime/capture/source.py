"""What every capture source shares: `start()`/`stop()`, and the same as a context manager."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TypeVar

S = TypeVar("S", bound="Source")


class Source(ABC):
    """A camera, microphone or text source; `with source:` starts it and always stops it."""

    @abstractmethod
    def start(self: S) -> S:
        """Open the source and start reading; a second call is a no-op."""

    @abstractmethod
    def stop(self) -> None:
        """Stop reading and release the source; safe to call twice."""

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
