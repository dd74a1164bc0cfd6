"""Response decoding: a successful answer's bytes -> images and their metadata.

Owns: reading a body into one buffer (:class:`BodyBuffer`), parsing an images response
(:func:`parse_payload`, :func:`decode_items`), and the state of one streamed response
(:class:`StreamRun`, built on :mod:`gptimage_widgets.sse`). Both produce a :class:`Decoded`,
from which the client builds its :class:`~gptimage_widgets.results.ImageResult`.

Pure except for the bytes handed in: shared by the sync and async clients (only how chunks
are awaited differs). Every problem is raised through
:func:`gptimage_widgets.http_errors.translate`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx
import numpy as np

from . import catalog, imaging
from .errors import GPTImageError, ResponseDecodeError, ResponseTooLargeError, StreamError
from .http_errors import DECODE_PROBLEMS, str_or_none, stream_error_event, translate
from .redact import redact
from .sse import ImageEventStream, StreamEvent

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "BodyBuffer",
    "Decoded",
    "Payload",
    "StreamRun",
    "body_limit",
    "decode_items",
    "download_limit",
    "event_limit",
    "image_file_bound",
    "json_body",
    "parse_payload",
    "request_id_of",
]

#: Largest ``Content-Length`` trusted for preallocating a body (a lying header must not
#: allocate gigabytes); larger bodies grow past it as they arrive.
MAX_PREALLOCATED_BODY = 512 * 1024 * 1024

#: The clients' default ``max_response_bytes``: no body is read past this, whatever the
#: request (the limit derived from a request is usually far lower, see :func:`body_limit`).
DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024 * 1024
#: Room for everything in a response besides the images (JSON keys, ``usage``, revised
#: prompts, SSE framing, whitespace).
RESPONSE_MARGIN = 1024 * 1024
#: Bytes of a non-image answer read at most: error bodies (a 5 MB HTML error page is read up
#: to here, enough for its title) and ``GET /models``.
SMALL_BODY_LIMIT = 1024 * 1024
#: Bytes of a ``GET /models`` listing read at most (OpenAI's is ~20 KB).
LISTING_LIMIT = 16 * 1024 * 1024


# --------------------------------------------------------------------------- byte limits


def image_file_bound() -> int:
    """The most bytes one image file from the API can take, as this kit bounds it.

    The largest output any registered model makes
    (:func:`gptimage_widgets.catalog.largest_output_pixels`) as an 8-bit RGBA PNG stored
    without any compression (4 bytes a pixel, the richest format the API returns), plus a
    PNG's per-row filter byte, deflate's stored-block and chunk framing (under 1%) and 64 KiB
    of metadata. No real answer reaches it: JPEG, WebP and compressed PNG are far smaller.
    """
    raw = catalog.largest_output_pixels() * 4
    return raw + raw // 100 + 64 * 1024


def event_limit() -> int:
    """Bytes one streamed event may take: one image as base64 (4/3), plus the margin."""
    return -(-image_file_bound() // 3) * 4 + RESPONSE_MARGIN


def body_limit(n: int, partial_images: int = 0, cap: int = DEFAULT_MAX_RESPONSE_BYTES) -> int:
    """Decoded bytes an images response may take: ``n`` images (plus ``partial_images``
    previews of each, when streamed) as base64, plus a margin, at most `cap`."""
    images = max(1, n) * (1 + max(0, partial_images))
    return min(cap, images * event_limit() + RESPONSE_MARGIN)


def download_limit(cap: int = DEFAULT_MAX_RESPONSE_BYTES) -> int:
    """Bytes a result download (a DALL·E ``url`` item) may take: one image file, at most `cap`."""
    return min(cap, image_file_bound())


def too_large(received: int, limit: int, what: str = "the response") -> ResponseTooLargeError:
    """The error for a body that passed its byte limit (reading has stopped)."""
    return ResponseTooLargeError(
        f"{what} grew past {_mb(limit)} (at least {_mb(received)} arrived, decoded); "
        "reading stopped and the connection was closed. A real images answer stays far "
        "below this: check base_url (is it an OpenAI-compatible images API?), or raise "
        "max_response_bytes= on the client if the server really sends larger images",
        received=received,
        limit=limit,
    )


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB ({size:,} bytes)"


class BodyBuffer:
    """A successful response body, read into one ``bytearray`` sized from Content-Length.

    ``httpx.Response.read()`` keeps every chunk and then joins them: twice the body at its
    peak. Here each chunk is copied into place and dropped, and :meth:`take_text` hands the
    body over as text and releases the bytes, so ``json.loads`` never sees a second copy.

    Parameters
    ----------
    limit : int, optional
        Decoded bytes the body may take (:func:`body_limit`); a chunk that would pass it
        raises :class:`~gptimage_widgets.errors.ResponseTooLargeError` before it is copied.
        None: no limit.
    what : str
        What the body is, for that error's message.
    """

    def __init__(self, limit: int | None = None, what: str = "the response") -> None:
        self._buffer = bytearray()
        self._size = 0
        self.limit = limit
        self.what = what

    def start(self, response: httpx.Response) -> None:
        """Start (or restart, on a retry) the body of `response`."""
        announced = _announced_length(response)
        if self.limit is not None:
            announced = min(announced, self.limit)
        self._buffer = bytearray(announced)
        self._size = 0

    def add(self, chunk: bytes) -> None:
        """Append one decoded chunk (in place while it fits; the buffer grows past that).

        Raises
        ------
        ResponseTooLargeError
            The chunk would take the body past :attr:`limit` (nothing of it is kept).
        """
        end = self._size + len(chunk)
        if self.limit is not None and end > self.limit:
            raise too_large(end, self.limit, self.what)
        self._buffer[self._size : end] = chunk
        self._size = end

    def take_bytes(self) -> bytearray:
        """The body as it arrived (no copy: the buffer itself, trimmed); the buffer is released."""
        buffer, self._buffer = self._buffer, bytearray()
        del buffer[self._size :]
        return buffer

    def take_text(self) -> str:
        """The body decoded as UTF-8 (a BOM is dropped); the buffer is released."""
        return self.take_bytes().decode("utf-8-sig")


def _announced_length(response: httpx.Response) -> int:
    """Content-Length when it gives the decoded size (no content-encoding), else 0."""
    if response.headers.get("content-encoding", "identity").strip().lower() != "identity":
        return 0
    raw = response.headers.get("content-length", "").strip()
    return min(int(raw), MAX_PREALLOCATED_BODY) if raw.isdigit() else 0


def request_id_of(response: httpx.Response | None) -> str | None:
    """The ``x-request-id`` of `response` (None without a response or header)."""
    return None if response is None else response.headers.get("x-request-id")


def json_body(response: httpx.Response, secrets: Sequence[str | None] = ()) -> Any:
    """The decoded JSON of a small, already read response (``GET /models``)."""
    try:
        return response.json()
    except DECODE_PROBLEMS as exc:
        raise translate(exc, secrets=secrets, request_id=request_id_of(response)) from exc


# --------------------------------------------------------------------------- images responses


@dataclasses.dataclass
class Decoded:
    """What a response said, before the client adds cost, timings and notes.

    Attributes
    ----------
    images : list of np.ndarray
        ``(H, W, 3|4)`` uint8, one per image, in order.
    usage : dict or None
        OpenAI's ``usage`` object.
    revised : list of (str or None)
        ``revised_prompt`` per image.
    created : Any
        The server's creation time (kept only when it is an int).
    request_id : str or None
    """

    images: list[np.ndarray]
    usage: dict[str, Any] | None
    revised: list[str | None]
    created: Any
    request_id: str | None


@dataclasses.dataclass
class Payload:
    """The decoded JSON of a non-streamed images response."""

    items: list[dict[str, Any]]
    usage: dict[str, Any] | None
    created: int | None
    request_id: str | None

    def urls(self) -> dict[int, str]:
        """Index -> URL of the items that came as URLs (DALL·E)."""
        return {i: str(item["url"]) for i, item in enumerate(self.items) if not _b64(item)}


def _b64(item: Mapping[str, Any]) -> str | None:
    value = item.get("b64_json")
    return value if isinstance(value, str) and value else None


def parse_payload(
    received: BodyBuffer, request_id: str | None, secrets: Sequence[str | None] = ()
) -> Payload:
    """The JSON body of an images response -> its items, usage and creation time.

    The body is taken out of `received` as text and that text is released as soon as
    ``json.loads`` returns, before any image is decoded.
    """
    try:
        body = json.loads(received.take_text())
        items = body["data"]
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise TypeError("'data' is not a list of objects")
        for item in items:
            if not _b64(item) and not isinstance(item.get("url"), str):
                raise KeyError("an item of 'data' has neither 'b64_json' nor 'url'")
        usage = body.get("usage")
        created = body.get("created")
    except DECODE_PROBLEMS as exc:
        raise translate(exc, secrets=secrets, request_id=request_id) from exc
    if not items:
        raise ResponseDecodeError(
            "the server answered without any image ('data' is empty); retry, or rephrase the "
            "prompt if this repeats",
            request_id=request_id,
        )
    return Payload(
        items=items,
        usage=dict(usage) if isinstance(usage, Mapping) else None,
        created=created if isinstance(created, int) else None,
        request_id=request_id,
    )


def decode_items(payload: Payload, downloads: Mapping[int, bytes | bytearray]) -> Decoded:
    """Decode every item: base64 inline, or the downloaded bytes of its URL.

    Each ``b64_json`` string is popped from its item as it is decoded, so the strings
    already turned into arrays are freed while the next ones decode (a 4K image's base64
    is ~20 MB). The payload's items keep everything else.
    """
    images = []
    for index, item in enumerate(payload.items):
        b64 = _b64(item)
        item.pop("b64_json", None)
        try:
            image = imaging.decode_b64_image(b64) if b64 else imaging.decode_image(downloads[index])
        except (GPTImageError, *DECODE_PROBLEMS) as exc:
            raise translate(exc, request_id=payload.request_id) from exc
        del b64
        images.append(image)
    return Decoded(
        images=images,
        usage=payload.usage,
        revised=[str_or_none(item.get("revised_prompt")) for item in payload.items],
        created=payload.created,
        request_id=payload.request_id,
    )


# --------------------------------------------------------------------------- streams


class StreamRun:
    """The state of one streamed response: partial images out, completed ones held.

    Parameters
    ----------
    operation : str
        ``"generate"`` or ``"edit"`` (the event names differ).
    response : httpx.Response
        The successful streamed response (for its request id).
    secrets : sequence of str
        Removed from every message.
    n, partial_images : int
        What the request asked for: more completed images than `n`, or more partial images
        than ``partial_images * n``, is a ``StreamError`` at once.
    limit : int, optional
        Decoded bytes the whole stream may take (:func:`body_limit`); each event may take
        :func:`event_limit`. None: neither is bounded.
    deadline : optional
        The attempt's :class:`~gptimage_widgets.deadlines.Deadline`, checked as each chunk
        arrives; :meth:`close` ends it.
    """

    def __init__(
        self,
        operation: str,
        response: httpx.Response,
        secrets: Sequence[str | None] = (),
        *,
        n: int = 1,
        partial_images: int = 0,
        limit: int | None = None,
        deadline: Any = None,
    ) -> None:
        self.request_id = request_id_of(response)
        self.request = response.request
        self.secrets = tuple(secrets)
        self.parser = ImageEventStream(
            operation,
            max_partials=None if limit is None else partial_images * n,
            max_completed=None if limit is None else n,
            max_event_bytes=None if limit is None else min(limit, event_limit()),
        )
        self.completed: list[StreamEvent] = []
        self.limit = limit
        self.received = 0
        self.deadline = deadline

    def feed(self, chunk: bytes) -> Iterator[StreamEvent]:
        """Events to hand out now (partials); completed ones are held until the end.

        A generator: the partials before an error (a malformed or ``error`` event) in the
        same chunk are handed out before the error is raised. Raises the transport's
        ``DeadlineExceeded`` (an ``httpx.TimeoutException``) once the attempt's deadline
        has passed, and ``ResponseTooLargeError`` past the stream's byte limit.
        """
        if self.deadline is not None:
            self.deadline.check(self.request)
        self.received += len(chunk)
        try:
            if self.limit is not None and self.received > self.limit:
                raise too_large(self.received, self.limit, "the stream")
            events = self.parser.feed(chunk)
        except GPTImageError as exc:
            raise translate(exc, request_id=self.request_id) from exc.__cause__
        yield from self._sort(events)
        try:
            self.parser.raise_pending_error()
        except GPTImageError as exc:
            raise translate(exc, request_id=self.request_id) from exc.__cause__

    def finish(self) -> Decoded:
        """What the completed events hold; StreamError when none arrived.

        A stream whose deadline cut its connection (so it seemed to end) is an
        ``APITimeoutError``.
        """
        if self.deadline is not None and self.deadline.fired:
            exceeded = self.deadline.exceeded(self.request)
            raise self.broken(exceeded) from exceeded
        try:
            events = self.parser.finish()
        except GPTImageError as exc:
            raise translate(exc, request_id=self.request_id) from exc.__cause__
        for _late_partial in self._sort(events):  # the result holds completed images only
            pass
        return Decoded(
            images=[event.image for event in self.completed if event.image is not None],
            usage=next((e.usage for e in reversed(self.completed) if e.usage), None),
            revised=[str_or_none(e.raw.get("revised_prompt")) for e in self.completed],
            created=next((e.raw.get("created_at") for e in self.completed), None),
            request_id=self.request_id,
        )

    def close(self) -> None:
        """The stream is over (read to its end, failed or abandoned): end its deadline."""
        if self.deadline is not None:
            self.deadline.done()

    def broken(self, exc: httpx.HTTPError) -> GPTImageError:
        """The StreamError for a transport failure while reading the body.

        One message: what broke (with httpx's detail), how far the stream got, and one
        next step. When the attempt's deadline cut the connection, ``APITimeoutError``.
        """
        if self.deadline is not None and self.deadline.fired:
            exc = self.deadline.exceeded(self.request)
        error = translate(exc, streaming=True, request_id=self.request_id)
        if not isinstance(error, StreamError):
            return error
        detail = redact(str(exc) or type(exc).__name__, self.secrets)
        if isinstance(exc, httpx.TimeoutException):
            message = self.parser.incomplete_message(
                f"the stream stalled: no data within the read timeout ({detail})",
                advice="retry, or raise timeout= if the server is just slow",
            )
        else:
            message = self.parser.incomplete_message(f"the connection broke ({detail})")
        return StreamError(message, request_id=self.request_id)

    def completed_events(self, result: Any) -> list[StreamEvent]:
        """The held completed events, each carrying the saved `result`."""
        return [dataclasses.replace(event, result=result) for event in self.completed]

    def _sort(self, events: list[StreamEvent]) -> Iterator[StreamEvent]:
        """Yield partials, hold completed events, raise at an ``error`` event."""
        for event in events:
            if event.is_error:
                raise stream_error_event(event.raw, self.secrets, self.request_id)
            if event.is_completed:
                self.completed.append(event)
            else:
                yield event
