"""The offline server's HTTP values and OpenAI-shaped answers.

Owns: the socket-free request/response values (:class:`HTTPRequest`, :class:`HTTPResponse`),
what the request log keeps (:class:`RequestRecord`, :class:`FileInfo`), and how an error is
answered: OpenAI's body ``{"error": {"message", "type", "param", "code"}}``
(:func:`error_body`), from an :func:`api_error` raised anywhere in the app or from validation
problems (:func:`problems_error`). Also the JSON and server-sent-event encodings.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import APIStatusError, BadRequestError, NotFoundError, Problem, ValidationError

__all__ = [
    "FileInfo",
    "HTTPRequest",
    "HTTPResponse",
    "RequestRecord",
    "api_error",
    "error_body",
    "error_response",
    "json_bytes",
    "json_response",
    "problems_error",
    "short",
    "sse",
]


@dataclass(frozen=True)
class HTTPRequest:
    """A received request: ``headers`` keys are lower case, ``path`` has no query string."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes = b""


@dataclass
class HTTPResponse:
    """What to send back.

    Attributes
    ----------
    status : int
    headers : list of (name, value)
    body : bytes
        The whole body (ignored when ``chunks`` is set).
    chunks : iterator of bytes or None
        A streamed body, sent with chunked transfer encoding.
    delay : float
        Seconds to wait before sending the headers (latency, ``slow_headers``).
    drop_after : int or None
        Close the connection after this many body bytes (``drop``; for streams: chunks).
    """

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    chunks: Iterator[bytes] | None = None
    delay: float = 0.0
    drop_after: int | None = None


@dataclass(frozen=True)
class FileInfo:
    """An uploaded file as logged: never its content."""

    field: str
    filename: str | None
    content_type: str | None
    size: int


@dataclass
class RequestRecord:
    """One entry of :attr:`OfflineServer.requests`: what arrived, never a credential.

    ``fields`` holds the non-file parameters as received, ``headers`` every header except
    those whose name marks a credential (``authorization``, ``api-key``, cookies, tokens; see
    :func:`gptimage_widgets.redact.is_secret_name`). ``params`` is what a valid images
    request was rendered with: ``fields`` typed, plus the catalog defaults the server fills
    (e.g. ``complexity="high"`` for a 2.6 model; see ``offline/rendering.py``); empty for a
    refused request.
    """

    method: str
    path: str
    fields: dict[str, Any]
    files: list[FileInfo]
    headers: dict[str, str]
    request_id: str
    status: int | None = None
    fault: str | None = None
    time: float = field(default_factory=time.time)
    params: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- encodings


def json_bytes(payload: Any) -> bytes:
    """Compact UTF-8 JSON."""
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def json_response(status: int, body: bytes) -> HTTPResponse:
    """An ``application/json`` answer."""
    return HTTPResponse(status, [("content-type", "application/json")], body)


def sse(event: str, payload: Mapping[str, Any]) -> bytes:
    """One server-sent event: ``event: <event>`` and a JSON ``data:`` line."""
    return f"event: {event}\ndata: ".encode() + json_bytes(payload) + b"\n\n"


def short(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters (with an ellipsis), for echoing user input."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- errors


def api_error(
    status: int,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    type: str = "invalid_request_error",
) -> APIStatusError:
    """An error to answer with; raised inside the app, rendered by :func:`error_response`."""
    cls = NotFoundError if status == 404 else BadRequestError if status == 400 else APIStatusError
    return cls(message, status_code=status, param=param, code=code, type=type)


def error_body(
    message: str,
    *,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    **extra: Any,
) -> bytes:
    """OpenAI's error body ``{"error": {"message", "type", "param", "code", ...extra}}``."""
    return json_bytes(
        {"error": {"message": message, "type": type, "param": param, "code": code, **extra}}
    )


def problems_error(problems: Sequence[Problem], *, code: str = "invalid_value") -> APIStatusError:
    """The 400 for validation ``problems``: the first one's message and param, as OpenAI does.

    OpenAI answers one problem at a time; the client's
    :class:`~gptimage_widgets.errors.ValidationError` lists them all before anything is sent.
    """
    first = problems[0]
    return api_error(400, first.message, param=first.param, code=code)


def error_response(exc: APIStatusError | ValidationError) -> HTTPResponse:
    """OpenAI's error JSON for ``exc`` (validation problems become a 400)."""
    if isinstance(exc, ValidationError):
        exc = problems_error(exc.problems) if exc.problems else api_error(400, str(exc))
    body = error_body(
        exc.message, type=exc.type or "invalid_request_error", param=exc.param, code=exc.code
    )
    return json_response(exc.status_code, body)
