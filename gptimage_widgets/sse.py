"""Server-sent events for streamed image responses.

Two layers, both fed with raw ``bytes`` chunks as they arrive (sync or async alike):

- :class:`SSEDecoder` splits lines incrementally (``\\r\\n``, ``\\r`` or ``\\n``, also across
  chunk boundaries) and assembles :class:`SSEMessage` objects per the WHATWG rules
  (comments, multi-line ``data:``, ``event:``, ``id:``, ``retry:``). A data line can be tens
  of MB of base64: the pieces of the current line are kept in a list and joined once when
  the line ends, and every chunk is scanned once, so the cost is linear in the bytes; a
  ``data:`` line is then decoded straight from a view, so it is copied twice in all (the
  join and the text).
- :class:`ImageEventStream` turns messages into :class:`StreamEvent` objects
  (``image_generation.partial_image`` / ``.completed``, ``image_edit.*``) with the image
  decoded to an array, and raises :class:`~gptimage_widgets.errors.StreamError` when a
  message is malformed or the stream ends without a ``completed`` event.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import imaging
from .errors import ResponseDecodeError, ResponseTooLargeError, StreamError, ValidationError

__all__ = ["ImageEventStream", "SSEDecoder", "SSEMessage", "StreamEvent"]

_CR = 13
_LF = 10
_RETRY_ADVICE = "; retry the request, or set partial_images=0 to avoid streaming"


@dataclass(frozen=True)
class SSEMessage:
    """One dispatched server-sent event.

    Attributes
    ----------
    event : str
        The ``event:`` field, ``"message"`` when absent.
    data : str
        The ``data:`` lines joined with ``"\\n"``.
    id : str or None
        The last ``id:`` seen on the stream.
    retry : int or None
        The ``retry:`` field in milliseconds, when given.
    """

    event: str
    data: str
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Incremental SSE parser: ``feed(bytes) -> list[SSEMessage]``, then ``flush()``.

    Parameters
    ----------
    max_event_bytes : int, optional
        Bytes one event may take (its ``data:`` lines, and the line being read): past it,
        :class:`~gptimage_widgets.errors.ResponseTooLargeError` at once. None: no limit.
    """

    def __init__(self, max_event_bytes: int | None = None) -> None:
        self.max_event_bytes = max_event_bytes
        self._line_size = 0
        self._event_size = 0
        self._line_parts: list[bytes] = []
        self._skip_leading_lf = False
        self._event = ""
        self._data: list[str] = []
        self._last_id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[SSEMessage]:
        """Consume one chunk of the body; return the messages completed by it."""
        if not chunk:
            return []
        start = 1 if self._skip_leading_lf and chunk[0] == _LF else 0
        self._skip_leading_lf = False
        messages: list[SSEMessage] = []
        for line in self._complete_lines(chunk, start):
            message = self._process_line(line)
            if message is not None:
                messages.append(message)
        return messages

    def flush(self) -> list[SSEMessage]:
        """End of stream: process a final unterminated line and a pending message.

        The WHATWG rules drop an event that is not followed by a blank line; servers that
        close right after the last ``data:`` line are common, so a complete pending
        message is dispatched instead.
        """
        messages: list[SSEMessage] = []
        if self._line_parts:
            line = b"".join(self._line_parts)
            self._line_parts.clear()
            message = self._process_line(line)
            if message is not None:
                messages.append(message)
        message = self._dispatch()
        if message is not None:
            messages.append(message)
        return messages

    def _complete_lines(self, chunk: bytes, pos: int) -> list[bytes]:
        """Split off every line that ends inside `chunk`; keep the unterminated rest.

        Each ``find`` starts past the previous hit, so a chunk is scanned once whatever
        mix of ``\\r`` and ``\\n`` it holds.
        """
        lines: list[bytes] = []
        size = len(chunk)
        next_cr = chunk.find(b"\r", pos)
        next_lf = chunk.find(b"\n", pos)
        while next_cr != -1 or next_lf != -1:
            if next_lf == -1 or (next_cr != -1 and next_cr < next_lf):
                end, after = next_cr, next_cr + 1
                if after < size and chunk[after] == _LF:
                    after += 1
                elif after == size:
                    self._skip_leading_lf = True
                next_cr = chunk.find(b"\r", after)
                if next_lf != -1 and next_lf < after:
                    next_lf = chunk.find(b"\n", after)
            else:
                end, after = next_lf, next_lf + 1
                next_lf = chunk.find(b"\n", after)
            self._line_parts.append(chunk[pos:end])
            lines.append(b"".join(self._line_parts))
            self._line_parts.clear()
            self._line_size = 0
            pos = after
        if pos < size:
            self._line_parts.append(chunk[pos:])
            self._line_size += size - pos
            self._check_size(self._line_size)
        return lines

    def _check_size(self, pending: int) -> None:
        """Raise when the event being read has grown past :attr:`max_event_bytes`."""
        limit = self.max_event_bytes
        if limit is not None and self._event_size + pending > limit:
            received = self._event_size + pending
            raise ResponseTooLargeError(
                f"a streamed event grew past {limit:,} bytes ({received:,} arrived), more "
                "than the largest image the API can return; reading stopped and the "
                "connection was closed: check base_url (is it an OpenAI-compatible images "
                "API?), or raise max_response_bytes= on the client",
                received=received,
                limit=limit,
            )

    def _process_line(self, line: bytes) -> SSEMessage | None:
        if not line:
            return self._dispatch()
        if line[0] == 0x3A:  # ":" starts a comment (keep-alive)
            return None
        if line.startswith(b"data:"):  # the hot path: one line can be tens of MB
            self._check_size(len(line))
            self._event_size += len(line)
            self._data.append(_decode_value(line, len(b"data:")))
            return None
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._check_size(len(line))
            self._event_size += len(line)
            self._data.append(value.decode("utf-8", errors="replace"))
        elif name == b"event":
            self._event = value.decode("utf-8", errors="replace")
        elif name == b"id" and b"\0" not in value:
            self._last_id = value.decode("utf-8", errors="replace")
        elif name == b"retry" and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> SSEMessage | None:
        self._event_size = 0
        if not self._data:
            self._event = ""
            return None
        message = SSEMessage(
            event=self._event or "message",
            data="\n".join(self._data),
            id=self._last_id,
            retry=self._retry,
        )
        self._event = ""
        self._data = []
        return message


def _decode_value(line: bytes, start: int) -> str:
    """The field value that starts at ``line[start]`` (one leading space dropped), as text.

    Decoded straight from a view of the line: ``partition`` and slicing would each copy
    a data line of tens of MB first (``benchmarks/RESULTS.md``, "Streaming parser").
    """
    if line[start : start + 1] == b" ":
        start += 1
    return str(memoryview(line)[start:], "utf-8", "replace")


@dataclass(frozen=True)
class StreamEvent:
    """One image event of a streamed generation or edit.

    Attributes
    ----------
    type : str
        ``"image_generation.partial_image"``, ``"image_generation.completed"``,
        ``"image_edit.partial_image"``, ``"image_edit.completed"`` or ``"error"``.
    index : int
        ``partial_image_index`` for partial images; the 0-based number of the completed
        image for completed events.
    image : numpy.ndarray or None
        The decoded image, (H, W, 3) or (H, W, 4) uint8 in [0, 255]; None for errors.
    usage : dict or None
        Token usage, on completed events.
    raw : dict
        The event's JSON without the (large) ``b64_json`` string.
    result : Any
        On completed events yielded by ``AsyncImageClient.stream_*``: the saved
        :class:`~gptimage_widgets.results.ImageResult` holding every completed image.
    """

    type: str
    index: int
    image: np.ndarray | None = field(default=None, repr=False)
    usage: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    result: Any = field(default=None, repr=False, compare=False)

    @property
    def is_partial(self) -> bool:
        """True for ``*.partial_image`` events."""
        return self.type.endswith(".partial_image")

    @property
    def is_completed(self) -> bool:
        """True for ``*.completed`` events."""
        return self.type.endswith(".completed")

    @property
    def is_error(self) -> bool:
        """True for an ``error`` event (the client raises it as a typed error)."""
        return self.type == "error"


class ImageEventStream:
    """Bytes in, :class:`StreamEvent` objects out, for one streamed image response.

    Parameters
    ----------
    operation : str
        ``"generate"`` or ``"edit"``: only used in messages.
    max_partials, max_completed : int, optional
        How many partial images and completed images the request asked for
        (``partial_images`` x ``n``, and ``n``): one more is a protocol error
        (:class:`~gptimage_widgets.errors.StreamError`, before its image is decoded).
        None: no limit.
    max_event_bytes : int, optional
        Bytes one event may take (:class:`SSEDecoder`).
    """

    def __init__(
        self,
        operation: str = "generate",
        *,
        max_partials: int | None = None,
        max_completed: int | None = None,
        max_event_bytes: int | None = None,
    ) -> None:
        self.operation = operation
        self.partial_count = 0
        self.completed_count = 0
        self.error_seen = False
        self.max_partials = max_partials
        self.max_completed = max_completed
        self._decoder = SSEDecoder(max_event_bytes)
        self._pending_error: StreamError | None = None
        self._unparsed: list[SSEMessage] = []

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        """Decode the events completed by one chunk of the body.

        When a chunk holds good events and then a malformed one, the good events are
        returned and the :class:`StreamError` is raised by the next call (``feed`` or
        ``finish``): every event is handed out as if the body had arrived byte by byte.

        Raises
        ------
        StreamError
            A malformed event, when no good event precedes it in this call.
        """
        self.raise_pending_error()
        return self._events(self._take_unparsed(self._decoder.feed(chunk)))

    def finish(self) -> list[StreamEvent]:
        """Decode what remains at the end of the body, then check it completed.

        Raises
        ------
        StreamError
            A malformed event (also one held back by ``feed``), or no ``completed`` event.
        """
        self.raise_pending_error()
        events = self._events(self._take_unparsed(self._decoder.flush()))
        self.raise_pending_error()  # nothing follows finish: an error cannot wait
        if self.completed_count == 0 and not self.error_seen:
            raise StreamError(self.incomplete_message())
        return events

    def incomplete_message(self, reason: str = "the stream ended", advice: str = "") -> str:
        """Explain a stream that stopped before its ``completed`` event.

        ``advice`` replaces the default next step (retry, or do not stream).
        """
        advice = advice or (
            "the server or a proxy cut the response: retry, or set partial_images=0 to "
            "avoid streaming"
        )
        return (
            f"{reason} before the image was completed ({self.partial_count} partial "
            f"image(s) received, no '{self._prefix()}.completed' event); {advice}"
        )

    def _prefix(self) -> str:
        return "image_edit" if self.operation == "edit" else "image_generation"

    def raise_pending_error(self) -> None:
        """Raise the error held back by :meth:`feed` after the good events of its chunk."""
        error, self._pending_error = self._pending_error, None
        if error is not None:
            raise error

    def _take_unparsed(self, messages: list[SSEMessage]) -> list[SSEMessage]:
        """Messages left after an earlier malformed one, then ``messages``."""
        unparsed, self._unparsed = self._unparsed, []
        return unparsed + messages if unparsed else messages

    def _events(self, messages: list[SSEMessage]) -> list[StreamEvent]:
        """Parse `messages` in order; a malformed one is raised, after any good events.

        The messages after a malformed one are kept for the next call, so each message is
        parsed once, in order, whatever the chunking.
        """
        events: list[StreamEvent] = []
        for position, message in enumerate(messages):
            try:
                event = self._parse(message)
            except StreamError as exc:
                self._unparsed = messages[position + 1 :]
                if not events:
                    raise
                self._pending_error = exc
                return events
            if event is not None:
                events.append(event)
        return events

    def _parse(self, message: SSEMessage) -> StreamEvent | None:
        if message.data.strip() == "[DONE]":
            return None
        payload = _load_json_object(message.data)
        event_type = str(payload.get("type") or message.event)
        if event_type == "error" or ("error" in payload and event_type == "message"):
            self.error_seen = True
            return StreamEvent(type="error", index=-1, raw=payload)
        if event_type.endswith(".partial_image"):
            return self._partial(event_type, payload)
        if event_type.endswith(".completed"):
            return self._completed(event_type, payload)
        return None  # unknown event types are ignored, as the SDK does

    def _partial(self, event_type: str, payload: dict[str, Any]) -> StreamEvent:
        if self.max_partials is not None and self.partial_count >= self.max_partials:
            raise StreamError(
                f"the server sent more partial images than the {self.max_partials} asked for "
                "(partial_images x n); the stream was stopped as a protocol error: check "
                "base_url (is it an OpenAI-compatible images API?), or set partial_images=0"
            )
        index = payload.get("partial_image_index", self.partial_count)
        if not isinstance(index, int):
            raise StreamError(
                f"partial image event has a non-integer index {index!r}{_RETRY_ADVICE}"
            )
        image = _decode_event_image(payload, event_type)
        self.partial_count += 1
        return StreamEvent(type=event_type, index=index, image=image, raw=_without_b64(payload))

    def _completed(self, event_type: str, payload: dict[str, Any]) -> StreamEvent:
        if self.max_completed is not None and self.completed_count >= self.max_completed:
            raise StreamError(
                f"the server sent more completed images than the {self.max_completed} asked "
                "for (n); the stream was stopped as a protocol error: check base_url (is it "
                "an OpenAI-compatible images API?)"
            )
        image = _decode_event_image(payload, event_type)
        usage = payload.get("usage")
        event = StreamEvent(
            type=event_type,
            index=self.completed_count,
            image=image,
            usage=dict(usage) if isinstance(usage, Mapping) else None,
            raw=_without_b64(payload),
        )
        self.completed_count += 1
        return event


def _load_json_object(data: str) -> dict[str, Any]:
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise StreamError(
            f"a streamed event is not valid JSON ({exc}; starts with {data[:60]!r}){_RETRY_ADVICE}"
        ) from exc
    if not isinstance(payload, dict):
        raise StreamError(f"a streamed event is not a JSON object: {data[:60]!r}{_RETRY_ADVICE}")
    return payload


def _decode_event_image(payload: Mapping[str, Any], event_type: str) -> np.ndarray:
    b64 = payload.get("b64_json")
    if not isinstance(b64, str) or not b64:
        raise StreamError(f"'{event_type}' event has no b64_json image{_RETRY_ADVICE}")
    try:
        return imaging.decode_b64_image(b64)
    except ResponseDecodeError as exc:  # its message already ends with the next step
        raise StreamError(f"'{event_type}' event: {exc.message}") from exc
    except (ValidationError, ValueError, binascii.Error, OSError) as exc:
        raise StreamError(
            f"'{event_type}' event carries an undecodable image ({exc}){_RETRY_ADVICE}"
        ) from exc


def _without_b64(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in payload.items() if key != "b64_json"}
