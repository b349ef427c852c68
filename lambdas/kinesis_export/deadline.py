"""The invocation's deadline, and network calls that it bounds as a total.

A socket timeout bounds each read, not a call: an answer dripped a byte at a time never times
out, and calls queued behind busy workers add up. So every call the function makes to AWS
(PutRecords, parking rejects, the idempotency table, the credentials they fetch) runs on a
worker thread, and the caller waits for it no longer than the time left. A call still running
then is abandoned: its outcome is unknown, so whatever it carried is reported failed (SQS
delivers it again: at least once, never lost), and its thread is left to end on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Item = TypeVar("Item")


@dataclass
class Deadline:
    """The time left, from a clock of remaining seconds (Lambda's context, or a test's)."""

    remaining: Callable[[], float]

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        end = time.monotonic() + seconds
        return cls(lambda: end - time.monotonic())

    @classmethod
    def of_invocation(cls, context: Any, margin_ms: int) -> Deadline:
        """The Lambda invocation's remaining time, less a margin kept for answering."""
        return cls(lambda: (context.get_remaining_time_in_millis() - margin_ms) / 1000)

    def earlier(self, seconds: float) -> Deadline:
        """This deadline, `seconds` sooner: time kept back for what must follow."""
        return Deadline(lambda: self.remaining() - seconds)


@dataclass(frozen=True)
class Late:
    """A call that had no answer by the deadline: never started, or started and abandoned."""

    started: bool

    @property
    def reason(self) -> str:
        if self.started:
            return "no answer before the deadline (written or not: unknown)"
        return "deadline reached before it was sent"


NOT_STARTED = Late(started=False)
UNANSWERED = Late(started=True)

# Threads still running calls abandoned at a deadline, per Calls, beyond which no new call starts: an
# answer dripped a byte at a time keeps its thread for as long as the drip lasts, and a container
# that met many would run out of threads (Lambda allows 1,024). Its calls fail until they end.
MAX_ABANDONED = 32


class Calls:
    """Worker threads for blocking calls, waited for within a deadline; one per client, per container."""

    def __init__(self, workers: int, name: str) -> None:
        self._workers = workers
        self._name = name
        self._pool: ThreadPoolExecutor | None = None
        self._abandoned: list[Future[Any]] = []

    def start(self, function: Callable[[Item], T], items: Sequence[Item]) -> Started[T]:
        """Start a call per item (at most `workers` at a time, in order); wait for them with `Started.wait`."""
        self._abandoned = [future for future in self._abandoned if not future.done()]
        if len(self._abandoned) >= MAX_ABANDONED:
            return Started(self, [_never_started() for _ in items])
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix=self._name)
        return Started(self, [self._pool.submit(function, item) for item in items])

    def run(self, function: Callable[[Item], T], items: Sequence[Item], deadline: Deadline) -> list[T | Late]:
        """Each item's answer, in order, or Late when the deadline came first."""
        if deadline.remaining() <= 0:
            return [NOT_STARTED] * len(items)
        return self.start(function, items).wait(deadline)

    def _abandon(self, running: list[Future[Any]]) -> None:
        """Threads stuck in abandoned calls would hold up later ones: the next calls get new workers."""
        self._abandoned += running
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _never_started() -> Future[Any]:
    future: Future[Any] = Future()
    future.cancel()
    return future


class Started(Generic[T]):
    """Calls on their way; `wait` collects their answers within a deadline."""

    def __init__(self, calls: Calls, futures: list[Future[T]]) -> None:
        self._calls = calls
        self._futures = futures

    def wait(self, deadline: Deadline) -> list[T | Late]:
        """Each call's answer, in order (its exception raised here), or Late when the deadline came first."""
        wait(self._futures, timeout=max(0.0, deadline.remaining()))
        answers: list[T | Late] = []
        abandoned = []
        for future in self._futures:
            if future.cancelled() or (not future.done() and future.cancel()):
                answers.append(NOT_STARTED)
            elif future.done():
                answers.append(future.result())
            else:
                answers.append(UNANSWERED)
                abandoned.append(future)
        if abandoned:
            self._calls._abandon(abandoned)
        return answers
