"""Hand-written local HTTP servers for tests: one home for serving and recording.

:class:`RecordingServer` serves on 127.0.0.1 from a daemon thread; for every request (any of
GET, POST, PUT, DELETE) its handler reads the body, records ``(method, path, headers)`` with
lower-cased header names in :attr:`RecordingServer.seen`, and lets ``answer(handler)`` write
the response. :func:`send` writes a complete 200 answer. Used by the redirect, hostile-server
and large-answer tests, which differ only in what ``answer`` does.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable
from typing import Any

Answer = Callable[[http.server.BaseHTTPRequestHandler], None]


class RecordingServer:
    """A threaded HTTP server on 127.0.0.1 that records each request and lets ``answer`` reply.

    Parameters
    ----------
    answer : callable
        ``answer(handler)`` writes the response through the request handler.
    protocol : str
        The handler's ``protocol_version``: "HTTP/1.0" closes every connection after one
        answer, "HTTP/1.1" keeps it open (the answer must then send a content-length).

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, answer: Answer, *, protocol: str = "HTTP/1.0") -> None:
        self.answer = answer
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        lock = threading.Lock()
        recording = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = protocol

            def _any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                with lock:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    recording.seen.append((self.command, self.path, headers))
                recording.answer(self)

            do_GET = do_POST = do_PUT = do_DELETE = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        serve = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        serve.start()

    def close(self) -> None:
        """Stop serving and close the listening socket."""
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> RecordingServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def send(handler: http.server.BaseHTTPRequestHandler, content_type: str, body: bytes) -> None:
    """Answer 200 with ``body`` as ``content_type`` (and its content-length)."""
    handler.send_response(200)
    handler.send_header("content-type", content_type)
    handler.send_header("content-length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
