"""A progress bar: tqdm when installed (the `bench` extra), else one plain line per step on stderr."""

from __future__ import annotations

import sys


class _Lines:
    """The fallback bar: `[step/total] description: postfix` lines, enough to see it is moving."""

    def __init__(self, total: int, desc: str):
        self.total, self.n, self.desc = total, 0, desc

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def update(self, steps: int = 1) -> None:
        self.n += steps
        print(f"[{self.n}/{self.total}] {self.desc}: {getattr(self, 'postfix', '')}", file=sys.stderr, flush=True)

    def close(self) -> None:
        pass


def progress_bar(total: int, desc: str, enabled: bool = True):
    """An object with update(n), set_postfix_str(text) and close(); silent when not `enabled`."""
    try:
        from tqdm import tqdm
    except ImportError:
        return _Lines(total, desc) if enabled else _Silent()
    return tqdm(total=total, desc=desc, unit="step", disable=not enabled, file=sys.stderr)


class _Silent(_Lines):
    def __init__(self) -> None:
        super().__init__(0, "")

    def update(self, steps: int = 1) -> None:
        self.n += steps
