"""What every capture source shares: `start()`/`stop()`, and the same as a context manager."""

from __future__ import annotations

from typing import TypeVar

S = TypeVar("S", bound="Source")


class Source:
    """Subclasses implement `start()` (returning self; a second call is a no-op) and `stop()` (safe twice)."""

    def start(self: S) -> S:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
