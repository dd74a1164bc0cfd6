"""The total time of one attempt, connect to last byte (issue 15: a trickling server).

httpx's timeouts bound each phase (connect, each read...): a server that sends one byte
every few seconds restarts the read timeout with every byte and can hold a call for ever.
A :class:`Deadline` bounds the whole attempt instead:

- async: the transport cancels the attempt when it passes (``asyncio.timeout``), wherever
  it is; a streamed body is checked as it arrives;
- sync: a shared watchdog thread (:class:`_Watchdog`, started on first use) shuts the
  attempt's socket down when it passes, which ends a blocked read at once. The socket is
  known once the connection is made (httpcore's ``trace`` extension) or the headers have
  arrived; a reused keep-alive connection that stalls before its headers is bounded by the
  read timeout, itself never longer than the deadline (:func:`clamp_timeout`). The body is
  also checked as it arrives.

Either way the attempt ends in :class:`~gptimage_widgets.http_errors.DeadlineExceeded`, an
``httpx.TimeoutException`` that :func:`~gptimage_widgets.http_errors.translate` turns into
``APITimeoutError``.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from typing import Any

import httpx

from .http_errors import DeadlineExceeded

__all__ = ["Deadline", "clamp_timeout"]


def clamp_timeout(timeout: httpx.Timeout, seconds: float | None) -> httpx.Timeout:
    """`timeout` with no phase longer than `seconds` (the attempt's total timeout)."""
    if seconds is None:
        return timeout
    parts = {name: getattr(timeout, name) for name in ("connect", "read", "write", "pool")}
    if all(value is not None and value <= seconds for value in parts.values()):
        return timeout
    return httpx.Timeout(
        **{name: seconds if v is None else min(v, seconds) for name, v in parts.items()}
    )


class Deadline:
    """The end of one attempt's time (connect to last byte), restarted by every attempt.

    Parameters
    ----------
    seconds : float
        How long an attempt may take in all.

    Attributes
    ----------
    fired : bool
        The watchdog found the attempt past its deadline (and shut its socket down).
    """

    __slots__ = ("_generation", "expires", "fired", "seconds", "stream")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires = time.monotonic() + seconds
        self.fired = False
        self.stream: Any = None
        self._generation = 0

    def start(self) -> None:
        """An attempt starts now (not watched: see :meth:`watch`)."""
        self.expires = time.monotonic() + self.seconds
        self.fired = False
        self.stream = None
        self._generation += 1

    def watch(self, request: httpx.Request) -> None:
        """Have the watchdog end this attempt's connection when the deadline passes.

        Adds httpcore's ``trace`` extension to `request` to learn the socket of a new
        connection; :meth:`found` gives the socket of a reused one once its headers arrive.
        """
        request.extensions["trace"] = self._trace
        _WATCHDOG.watch(self, self._generation)

    def found(self, response: httpx.Response) -> None:
        """The response's connection is the one to end (a reused one had no trace event)."""
        stream = response.extensions.get("network_stream")
        if stream is not None:
            self.stream = stream
        if self.fired:
            self._abort()

    def done(self) -> None:
        """The attempt is over: the watchdog must not touch its connection any more."""
        self._generation += 1
        self.stream = None

    def remaining(self) -> float:
        """Seconds left (never below 0)."""
        return max(0.0, self.expires - time.monotonic())

    def check(self, request: httpx.Request) -> None:
        """Raise :class:`~gptimage_widgets.http_errors.DeadlineExceeded` once it has passed."""
        if self.fired or time.monotonic() > self.expires:
            raise self.exceeded(request)

    def exceeded(self, request: httpx.Request) -> DeadlineExceeded:
        """The (httpx) timeout exception of an attempt that ran out of time."""
        return DeadlineExceeded(
            f"the attempt took longer than its total timeout of {self.seconds:g} s "
            "(connect to last byte)",
            request=request,
        )

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            self.stream = info.get("return_value")
            if self.fired:
                self._abort()

    def _fire(self, generation: int) -> None:
        """Called by the watchdog at the deadline (of attempt `generation`)."""
        if generation == self._generation:
            self.fired = True
            self._abort()

    def _abort(self) -> None:
        """Shut the connection's socket down: a read blocked on it returns at once."""
        stream = self.stream
        sock = None if stream is None else stream.get_extra_info("socket")
        if isinstance(sock, socket.socket):
            # the plain socket's shutdown, also under TLS (SSLSocket's would drop its state)
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread that fires the deadlines of the sync attempts in progress."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._heap: list[tuple[float, int, int, Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: Deadline, generation: int) -> None:
        entry = (deadline.expires, next(self._order), generation, deadline)
        with self._wake:
            earliest = self._heap[0][0] if self._heap else None
            heapq.heappush(self._heap, entry)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="gptimage-deadlines", daemon=True
                )
                self._thread.start()
            elif earliest is None or deadline.expires < earliest:
                self._wake.notify()
            if len(self._heap) > 4096:
                self._drop_finished()

    def _drop_finished(self) -> None:
        """Forget the attempts already over (they would wait until their deadline)."""
        self._heap = [e for e in self._heap if e[2] == e[3]._generation]
        heapq.heapify(self._heap)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap:
                    self._wake.wait()
                expires, _, generation, deadline = self._heap[0]
                wait = expires - time.monotonic()
                if wait > 0 and generation == deadline._generation:
                    self._wake.wait(wait)
                    continue
                heapq.heappop(self._heap)
            if wait <= 0:
                deadline._fire(generation)


_WATCHDOG = _Watchdog()
