"""The embedded offline server: OpenAI's images API on 127.0.0.1, in a background thread.

Why the stdlib's :class:`http.server.ThreadingHTTPServer` and not an ASGI stack: this is the
default backend when no API key is set, so it must start in milliseconds inside a Jupyter
kernel, add no dependency, and never touch an asyncio event loop — Jupyter's kernel already
runs one, and a second loop (or ``nest_asyncio``) in the same thread is a classic source of
"event loop is already running" errors. A thread per connection is plenty for a local test
double, up to ``max_connections`` at once (what happens beyond: ``offline/connections.py``).
HTTP/1.1 keep-alive and chunked SSE streaming are written by hand below.

Usage::

    with OfflineServer(latency=0.0) as server:
        client = OpenAI(api_key="sk-test-FAKE", base_url=server.base_url)

``gptimage serve --port P`` runs one in the foreground.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from ..errors import GPTImageError
from .app import OfflineApp
from .connections import MAX_CONNECTIONS, ConnectionLimit, check_max_connections
from .faults import Fault
from .parsing import MAX_BODY_BYTES
from .ratelimit import RequestRateLimit
from .responses import HTTPRequest, HTTPResponse, RequestRecord, error_body

__all__ = ["OfflineServer"]

#: Seconds an idle keep-alive connection stays open.
IDLE_TIMEOUT = 120.0
#: Largest request line + headers block.
MAX_HEADER_BYTES = 64 * 1024
#: Connections the kernel queues before the accept loop takes them (a notebook sweep opens
#: dozens at once).
LISTEN_BACKLOG = 128


class _Handler(BaseHTTPRequestHandler):
    """Reads one request at a time (keep-alive), asks the app, writes its answer."""

    protocol_version = "HTTP/1.1"
    server_version = "gptimage-offline/1"
    sys_version = ""
    timeout = IDLE_TIMEOUT
    #: TCP_NODELAY: headers and body go out in separate writes, and with Nagle's algorithm
    #: the body waited for the client's delayed ACK (~40 ms on every small answer).
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.served = 0
        self.server.connections.track(self.connection, opened=True)

    def handle_one_request(self) -> None:
        """One request; between two, the connection is idle and may be reclaimed.

        A kept-alive connection waiting for its next request is one the server may close
        to serve a new connection when all slots are taken (``ConnectionLimit.reclaim_idle``);
        one that never sent a request is never reclaimed.
        """
        if self.served:
            self.server.connections.set_idle(self.connection, idle=True)
            try:
                self.rfile.peek(1)  # type: ignore[attr-defined]
            except (OSError, ValueError):
                pass  # the request line read below sees the same problem
            finally:
                self.server.connections.set_idle(self.connection, idle=False)
        super().handle_one_request()
        self.served += 1

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.connections.track(self.connection, opened=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the app keeps its own request log."""

    def __getattr__(self, name: str) -> Any:
        """``do_<METHOD>`` for any method (GET, POST...): the app answers 405 for the others."""
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol errors found by the stdlib (bad request line, huge headers) as OpenAI JSON."""
        self.close_connection = True
        self.request_version = "HTTP/1.1"  # stdlib leaves HTTP/0.9 (no status line) on junk
        text = message or self.responses.get(code, ("Error",))[0]
        self._write(
            HTTPResponse(
                code,
                [("content-type", "application/json"), ("connection", "close")],
                error_body(text),
            )
        )

    def _serve(self) -> None:
        body = self._read_body()
        if body is None:
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        path, _, query = self.path.partition("?")
        response = self.server.app.handle(HTTPRequest(self.command, path, headers, body, query))
        if response.delay > 0:
            time.sleep(response.delay)
        try:
            self._write(response)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    # ----------------------------------------------------------------- request body

    def _read_body(self) -> bytes | None:
        """The body by ``Content-Length`` or chunked encoding; None after answering an error."""
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            return self._read_chunked()
        raw_length = self.headers.get("content-length", "0").strip() or "0"
        if not raw_length.isdigit():
            self._reject(400, f"Invalid Content-Length header {raw_length[:40]!r}.")
            return None
        length = int(raw_length)
        if length > MAX_BODY_BYTES:
            self._reject(413, f"The request body is larger than {MAX_BODY_BYTES} bytes.")
            return None
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes | None:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                self._reject(400, "Malformed chunked request body.")
                return None
            total += size
            if total > MAX_BODY_BYTES:
                self._reject(413, "The request body is too large.")
                return None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline(8)

    def _reject(self, status: int, message: str) -> None:
        """Answer a request whose body could not be read, then close the connection."""
        self.close_connection = True
        response = HTTPResponse(
            status,
            [("content-type", "application/json"), ("connection", "close")],
            error_body(message),
        )
        self._write(response)

    # ----------------------------------------------------------------- response

    def _write(self, response: HTTPResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        if response.chunks is not None:
            self._write_stream(response)
        else:
            self._write_body(response)

    def _write_body(self, response: HTTPResponse) -> None:
        self.send_header("content-length", str(len(response.body)))
        self.end_headers()
        if response.drop_after is not None:
            self.wfile.write(response.body[: response.drop_after])
            self._drop()
            return
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _write_stream(self, response: HTTPResponse) -> None:
        assert response.chunks is not None
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        budget = response.drop_after
        try:
            self._write_chunks(response.chunks, budget)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            raise
        except Exception:  # a failure mid-stream: the client sees a stream without its end
            self._drop()

    def _write_chunks(self, chunks: Iterator[bytes], budget: int | None) -> None:
        for chunk in chunks:
            if budget is not None and len(chunk) >= budget:
                self.wfile.write(b"%x\r\n" % len(chunk) + chunk[:budget])
                self._drop()
                return
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
            if budget is not None:
                budget -= len(chunk)
        self.wfile.write(b"0\r\n\r\n")

    def _drop(self) -> None:
        """Close the connection abruptly, mid-body."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)


class _Server(ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows its app and its open connections, and caps them."""

    daemon_threads = True
    allow_reuse_address = True
    #: listen() backlog. socketserver's default of 5 dropped some of 16 simultaneous
    #: connections (e.g. ``AsyncImageClient(max_concurrency=16)``), which TCP retried
    #: only after 1 s; see benchmarks/RESULTS.md ("Concurrency").
    request_queue_size = LISTEN_BACKLOG
    app: OfflineApp

    def __init__(
        self, address: tuple[str, int], app: OfflineApp, max_connections: int = MAX_CONNECTIONS
    ) -> None:
        self.app = app
        self.connections = ConnectionLimit(max_connections)
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve in a new thread while a slot is free; beyond, ``ConnectionLimit.admit`` answers."""
        if not self.connections.admit(request):
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.connections.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connections.release()


class OfflineServer:
    """An OpenAI-compatible images server on ``host`` (127.0.0.1), in a background thread.

    Parameters
    ----------
    latency : float
        Seconds every answer waits before its headers (simulates a slow model).
    faults : list of Fault (or kind strings), optional
        Fault rules; see :mod:`gptimage_widgets.offline.faults`. The header
        ``x-offline-fault: <kind>`` asks for one fault on a single request.
    port : int
        0 picks a free port.
    host : str
        Interface to listen on; keep the default 127.0.0.1 (nothing here is for a network).
    seed : int
        Seeds the RNG of rate-based faults, so a run is reproducible.
    url_ttl : float
        Seconds DALL·E image URLs served by this server stay valid (OpenAI: 3600).
    rate_limit : float or RequestRateLimit, optional
        Allow this many image requests per second and answer the rest 429
        ``rate_limit_exceeded`` with OpenAI's headers (:mod:`gptimage_widgets.offline.ratelimit`).
    lifecycle : {"lenient", "openai"}
        ``"lenient"`` (default) serves every catalog model, as OpenAI-compatible servers do.
        ``"openai"`` behaves like OpenAI on today's date: a model shut down there
        (:func:`gptimage_widgets.catalog.retirement_problem`) gets OpenAI's 404
        ``model_not_found`` and is left out of ``GET /v1/models``.
    max_connections : int
        Connections served at once (default 256), each by a thread; a connection beyond
        them is answered ``503`` (OpenAI's error JSON, code ``server_busy``, ``Retry-After:
        1``) and closed, without a thread.

    Raises
    ------
    ValueError
        For an unknown ``lifecycle`` (the message names the choices), or a
        ``max_connections`` that is not an integer >= 1.

    Attributes
    ----------
    base_url : str
        ``http://127.0.0.1:PORT/v1``, usable as ``base_url`` of the official ``openai`` SDK.
    requests : list of RequestRecord
        What the server received (method, path, fields, file names/types/sizes; no credentials).
    """

    def __init__(
        self,
        latency: float = 0.0,
        faults: Iterable[Fault | str] | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        seed: int = 0,
        url_ttl: float = 3600.0,
        lifecycle: str = "lenient",
        rate_limit: float | RequestRateLimit | None = None,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.max_connections = check_max_connections(max_connections)
        self.host = host
        self.port = port
        self._seed = seed
        self.app = OfflineApp(
            latency=latency,
            faults=faults,
            seed=seed,
            base_url=lambda: self.base_url,
            url_ttl=url_ttl,
            lifecycle=lifecycle,
            rate_limit=rate_limit,
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> OfflineServer:
        """Bind and serve in a daemon thread; returns ``self``. A no-op when running."""
        if self._server is not None:
            return self
        try:
            server = _Server((self.host, self.port), self.app, self.max_connections)
        except OSError as exc:
            raise GPTImageError(
                f"The offline server could not listen on {self.host}:{self.port} ({exc}); "
                "pick another port or pass port=0 for a free one."
            ) from exc
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"gptimage-offline-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and free the port. Safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        self.app.batches.cancel_all()  # running batches stop after their current line
        server.connections.close_all()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def serve_forever(self) -> None:
        """Run in the foreground until interrupted (Ctrl+C), then stop."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    def __enter__(self) -> OfflineServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ----------------------------------------------------------------- state

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1``; raises when the server is not running."""
        if self._server is None:
            raise GPTImageError(
                "The offline server is not running; call .start() or use it in a `with` block."
            )
        return f"http://{self.host}:{self.port}/v1"

    @property
    def requests(self) -> list[RequestRecord]:
        """The requests received so far, oldest first (a copy)."""
        return self.app.requests

    def reset(self) -> None:
        """Clear the request log and rewind fault counters and the fault RNG."""
        self.app.clear_requests()
        self.app.faults.reset(self._seed)

    def __repr__(self) -> str:
        where = f"{self.host}:{self.port}" if self.running else "stopped"
        faults = len(self.app.faults.rules)
        lifecycle = "" if self.app.lifecycle == "lenient" else f", lifecycle={self.app.lifecycle!r}"
        return f"OfflineServer({where}, latency={self.app.latency}, faults={faults}{lifecycle})"
