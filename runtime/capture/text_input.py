"""Text capture: a fixed string, lines from stdin, or a file followed as it grows (like `tail -f`).

The newest line is the current text; a blank line clears it (the text modality becomes absent).
"""

from __future__ import annotations

import io
import os
import sys
import threading
from pathlib import Path
from typing import TextIO

from edgefuse.runtime.capture.errors import CaptureError
from edgefuse.runtime.capture.source import Source


class TextInput(Source):
    """The newest text from one source. Build it with `fixed`, `stdin`, `follow` or `from_arg`."""

    def __init__(self, kind: str, *, text: str | None = None, stream: TextIO | None = None,
                 path: Path | None = None, poll_seconds: float = 0.1):
        assert kind in ("fixed", "stream", "file"), kind
        self.kind = kind
        self.path = path
        self.lines_read = 0
        self.poll_seconds = poll_seconds
        self._stream = stream
        self._text = text.strip() if text and text.strip() else None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ended = threading.Event()

    @classmethod
    def fixed(cls, text: str) -> TextInput:
        """The same text on every hop."""
        return cls("fixed", text=text)

    @classmethod
    def stdin(cls, stream: TextIO | None = None) -> TextInput:
        """Lines typed on standard input (or read from `stream`)."""
        return cls("stream", stream=stream or sys.stdin)

    @classmethod
    def follow(cls, path: str | os.PathLike, poll_seconds: float = 0.1) -> TextInput:
        """Lines appended to `path`; lines already in it are read first, so its last line counts."""
        path = Path(path)
        if not path.is_file():
            raise CaptureError(f"text file not found: {path}; create it first or pass '-' to read standard input")
        return cls("file", path=path, poll_seconds=poll_seconds)

    @classmethod
    def from_arg(cls, arg: str) -> TextInput:
        """'-' reads stdin; an existing file is followed; any other string is fixed text."""
        if arg == "-":
            return cls.stdin()
        if Path(arg).is_file():
            return cls.follow(arg)
        return cls.fixed(arg)

    def describe(self) -> str:
        if self.kind == "file":
            return f"following file {self.path}"
        return "reading standard input" if self.kind == "stream" else f"fixed text {self._text!r}"

    @property
    def ended(self) -> bool:
        """True once stdin reached end-of-file (the last text stays current)."""
        return self._ended.is_set()

    def start(self) -> TextInput:
        if self.kind != "fixed" and self._thread is None:
            target = self._read_stream if self.kind == "stream" else self._follow_file
            self._thread = threading.Thread(target=target, name=f"text:{self.kind}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop following; a stdin reader blocked in readline stays parked (daemon) until input or exit."""
        self._stop.set()
        if self._thread is not None and self.kind == "file":
            self._thread.join(timeout=self.poll_seconds * 10 + 1.0)

    def latest(self) -> str | None:
        """The newest non-blank line, or None when there is none or the newest line was blank."""
        with self._lock:
            return self._text

    def _take(self, line: str) -> None:
        with self._lock:
            self._text = line.strip() or None
            self.lines_read += 1

    def _read_stream(self) -> None:
        try:
            for line in self._stream:
                if self._stop.is_set():
                    break
                self._take(line)
        except (OSError, ValueError, io.UnsupportedOperation):  # stream closed under us
            pass
        self._ended.set()

    def _follow_file(self) -> None:
        position, partial = 0, b""
        while not self._stop.is_set():
            try:
                size = self.path.stat().st_size
                if size < position:  # truncated or replaced: start over
                    position, partial = 0, b""
                if size > position:
                    with open(self.path, "rb") as f:
                        f.seek(position)
                        chunk = f.read()
                    position += len(chunk)
                    # Bytes, not text: a read may stop inside a UTF-8 character; only whole lines are decoded.
                    *lines, partial = (partial + chunk).split(b"\n")
                    for line in lines:
                        self._take(line.decode("utf-8", errors="replace"))
            except FileNotFoundError:  # moved away by log rotation or an editor: wait for it to return
                position, partial = 0, b""
            self._stop.wait(self.poll_seconds)
