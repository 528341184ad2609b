"""One time budget for the whole init job (`NODE_HEAP_DEADLINE_S`), and work bounded by it.

Every task waits for the init container, so no network read, retry or backoff may outlive the
budget. Two layers keep it:
- each network call asks the budget for its timeouts and backoffs (`Deadline.cap`), so it usually
  stops cleanly, naming what it was waiting for;
- `within` runs a whole source in a daemon thread and stops waiting for it when the budget runs
  out, whatever the library underneath is blocked in (a body that trickles in one byte at a time
  restarts a read timeout on every byte; credential lookups have timeouts of their own). A thread
  still blocked is abandoned: the job decides with what was read and exits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

# Below this a socket timeout only produces an immediate, confusing error; the budget is spent.
_MIN_TIMEOUT_S = 0.01
# How long past the deadline a source is still waited for: the libraries are told the deadline too and
# usually stop just at it, with a message worth more than "no answer".
GRACE_S = 0.2


@dataclass(frozen=True, slots=True)
class Deadline:
    """`seconds` from `started` (time.monotonic)."""

    seconds: float
    started: float = field(default_factory=time.monotonic)

    def remaining(self) -> float:
        return max(0.0, self.started + self.seconds - time.monotonic())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def cap(self, seconds: float) -> float:
        """`seconds`, or what is left of the budget when that is less (never below 10 ms)."""
        return max(_MIN_TIMEOUT_S, min(seconds, self.remaining()))

    def remaining_with_grace(self) -> float:
        """What is left of the budget plus GRACE_S: one grace period shared by every wait, not one each."""
        return max(0.0, self.started + self.seconds + GRACE_S - time.monotonic())

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)


@dataclass(slots=True)
class Bounded(Generic[T]):
    """How a call run by `within` went: finished (with a value or an exception) or still running."""

    finished: bool = False
    value: T | None = None
    error: BaseException | None = None


class Background(Generic[T]):
    """`work` running in a daemon thread from construction on; `wait` collects it within a deadline."""

    def __init__(self, work: Callable[[], T], *, name: str) -> None:
        self._outcome: Bounded[T] = Bounded()
        self._thread = threading.Thread(target=self._run, args=(work,), name=f"nhs-{name}", daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], T]) -> None:
        try:
            value = work()
        except BaseException as exc:  # handed to the caller, which decides what it means
            self._outcome.error = exc
        else:
            self._outcome.value = value
        self._outcome.finished = True

    def wait(self, deadline: Deadline) -> Bounded[T]:
        """The outcome, or an unfinished one when the budget runs out first (the thread is left behind:
        daemon threads do not hold the exit, and whatever it does later is not seen)."""
        self._thread.join(deadline.remaining_with_grace())
        return self._outcome if self._outcome.finished else Bounded()


def within(deadline: Deadline, work: Callable[[], T], *, name: str) -> Bounded[T]:
    """Run `work` in a daemon thread and wait for it at most until `deadline`."""
    return Background(work, name=name).wait(deadline)
