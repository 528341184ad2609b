"""Progress on stderr for long audits: a tqdm bar on a terminal, plain lines otherwise.

Plain lines (for CI logs and files) say what phase is at which count, at most every 10 % and at
the end, so a log stays short for any fleet size. Thread-safe: workers advance it concurrently.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any, Self, TextIO


class Phase:
    """One phase with a known number of steps."""

    def __init__(self, name: str, total: int, stream: TextIO | None, tty: bool) -> None:
        self.name, self.total, self.done = name, total, 0
        self._stream, self._lock, self._next_line = stream, threading.Lock(), 0
        self._bar: Any = None
        if stream is not None and tty:
            from tqdm import tqdm  # noqa: PLC0415 (only on a terminal)

            self._bar = tqdm(total=total, desc=name, file=stream, unit="", leave=True)
        elif stream is not None:
            self._line()

    def advance(self, steps: int = 1) -> None:
        with self._lock:
            self.done += steps
            if self._bar is not None:
                self._bar.update(steps)
            elif self._stream is not None and self.done >= self._next_line and self.done < self.total:
                self._line()

    def _line(self) -> None:
        assert self._stream is not None
        self._stream.write(f"audit: {self.name} {self.done}/{self.total}\n")
        self._stream.flush()
        self._next_line = self.done + max(1, self.total // 10)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()
            elif self._stream is not None:
                self._stream.write(f"audit: {self.name} {self.done}/{self.total} done\n")
                self._stream.flush()


class Progress:
    """Where phases report; `stream` None turns progress off."""

    def __init__(self, stream: TextIO | None, *, tty: bool) -> None:
        self._stream, self._tty = stream, tty

    def phase(self, name: str, total: int) -> Phase:
        return Phase(name, total, self._stream, self._tty)
