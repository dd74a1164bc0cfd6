"""How many connections the offline server serves at once, and what the others get.

A thread per connection is plenty for a local test double, up to ``max_connections``
(default 256) at once. When every slot is taken, the longest-idle kept-alive connection is
closed to make room (its client reconnects on its next request), as busy web servers do;
connections that never sent a request are not reclaimed, so idle sockets cannot starve the
server. Failing that, the new connection is answered ``503`` with OpenAI's error JSON
(code ``server_busy``, ``Retry-After: 1``) from the accept loop, without a thread, and
closed a moment later, so idle connections cannot pile up threads.

:class:`ConnectionLimit` owns that rule; ``offline/server.py`` asks it on every accept
(``admit``/``release``) and tells it when a connection opens, closes, or waits idle between
two requests (``track``/``set_idle``).
"""

from __future__ import annotations

import collections
import contextlib
import socket
import threading
import time

from ..validation import require_int
from .responses import error_body

__all__ = [
    "MAX_CONNECTIONS",
    "ConnectionLimit",
    "busy_response",
    "check_max_connections",
]

#: Connections served at once (each has a thread); more are answered 503 at once.
MAX_CONNECTIONS = 256
#: Seconds the accept loop waits for the slot of an idle connection it closed to free up.
RECLAIM_WAIT_S = 1.0
#: Seconds a refused connection stays half-open after its 503, so the answer is read
#: before the socket closes (closing with unread request bytes would reset it).
REFUSED_LINGER_S = 2.0
#: Refused connections lingering at once; beyond that they are closed right after the 503.
MAX_LINGERING = 4096


def check_max_connections(max_connections: object) -> int:
    """``max_connections`` when it is an integer >= 1; else ``ValidationError``."""
    return require_int(max_connections, "max_connections", minimum=1)


def busy_response(max_connections: int) -> bytes:
    """The raw HTTP 503 a connection beyond the cap gets (OpenAI's error JSON, then close)."""
    body = error_body(
        f"The offline server is serving its maximum of {max_connections} connections; "
        "retry shortly, close idle connections, or start it with a higher max_connections.",
        type="server_error",
        code="server_busy",
    )
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "retry-after: 1\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class ConnectionLimit:
    """The open connections of one server, its slots, and the connections it refuses.

    Parameters
    ----------
    max_connections : int
        Connections served at once (>= 1; see :func:`check_max_connections`).
    """

    def __init__(self, max_connections: int = MAX_CONNECTIONS) -> None:
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        #: Kept-alive connections waiting for their next request, oldest first.
        self._idle: dict[socket.socket, None] = {}
        self._slots = threading.BoundedSemaphore(max_connections)
        self._busy = busy_response(max_connections)
        self._refused = _Refused()

    def admit(self, connection: socket.socket) -> bool:
        """Take a slot for a new connection, reclaiming an idle one if needed.

        Returns
        -------
        bool
            True: the caller serves it and calls :meth:`release` when done. False: it was
            answered 503 and is closed shortly; the caller forgets it.
        """
        if self._slots.acquire(blocking=False) or (
            self.reclaim_idle() and self._slots.acquire(timeout=RECLAIM_WAIT_S)
        ):
            return True
        self._refused.refuse(connection, self._busy)
        return False

    def release(self) -> None:
        """Give back the slot of a connection that :meth:`admit` let in."""
        self._slots.release()

    def open_connections(self) -> list[socket.socket]:
        """The server's ends of the connections open now."""
        with self._lock:
            return list(self._open)

    def track(self, connection: socket.socket, *, opened: bool) -> None:
        """A served connection opened (``opened=True``) or closed."""
        with self._lock:
            if opened:
                self._open.add(connection)
            else:
                self._open.discard(connection)
                self._idle.pop(connection, None)

    def set_idle(self, connection: socket.socket, *, idle: bool) -> None:
        """Mark a kept-alive connection as waiting for its next request (or not any more)."""
        with self._lock:
            if idle:
                self._idle[connection] = None
            else:
                self._idle.pop(connection, None)

    def reclaim_idle(self) -> bool:
        """Close the longest-idle kept-alive connection; False when there is none."""
        with self._lock:
            if not self._idle:
                return False
            connection = next(iter(self._idle))
            del self._idle[connection]
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
        return True

    def close_all(self) -> None:
        """Close the refused connections and shut down every open one (their threads end)."""
        self._refused.close_all()
        for connection in self.open_connections():
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Refused:
    """Connections beyond the cap: answered 503 at once, closed a moment later by one thread.

    The answer goes out without reading the request (a non-blocking send of a few hundred
    bytes into an empty socket buffer), then the write side is shut. The socket is closed
    after :data:`REFUSED_LINGER_S`, its unread request bytes drained first, so the client
    reads the 503 instead of a connection reset.
    """

    def __init__(self) -> None:
        self._pending: collections.deque[tuple[float, socket.socket]] = collections.deque()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def refuse(self, connection: socket.socket, answer: bytes) -> None:
        with contextlib.suppress(OSError):
            connection.setblocking(False)
            connection.send(answer)
            connection.shutdown(socket.SHUT_WR)
        with self._wake:
            if self._stopped or len(self._pending) >= MAX_LINGERING:
                _drain_and_close(connection)
                return
            self._pending.append((time.monotonic() + REFUSED_LINGER_S, connection))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="gptimage-offline-refused", daemon=True
                )
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and not self._due():
                    wait = self._pending[0][0] - time.monotonic() if self._pending else None
                    self._wake.wait(wait)
                if self._stopped:
                    return
                due = []
                while self._pending and self._pending[0][0] <= time.monotonic():
                    due.append(self._pending.popleft()[1])
            for connection in due:
                _drain_and_close(connection)

    def _due(self) -> bool:
        return bool(self._pending) and self._pending[0][0] <= time.monotonic()

    def close_all(self) -> None:
        with self._wake:
            self._stopped = True
            pending = [connection for _, connection in self._pending]
            self._pending.clear()
            self._wake.notify()
        for connection in pending:
            _drain_and_close(connection)


def _drain_and_close(connection: socket.socket) -> None:
    """Read what is already buffered (so close sends no reset), then close."""
    with contextlib.suppress(OSError):
        connection.setblocking(False)
        for _ in range(16):
            if not connection.recv(65536):
                break
    with contextlib.suppress(OSError):
        connection.close()
