"""Reading one attempt's answer within its byte limit (and, sync, its deadline).

Owns: what of an answer is read before the send loop judges it (:func:`read_body`,
:func:`aread_body`): nothing of a successful stream (its reader reads it), a successful body
into the caller's :class:`~gptimage_widgets.responses.BodyBuffer` when there is one, and
otherwise the body into the response, cut at its limit (:func:`read_capped`): a successful
body past it is a :class:`~gptimage_widgets.errors.ResponseTooLargeError` (the connection is
closed, never retried); an error body is cut at :data:`~gptimage_widgets.responses.SMALL_BODY_LIMIT`
(its start says what went wrong). The limits themselves live in
:mod:`gptimage_widgets.responses`.

Before anything is read, an answer in a ``Content-Encoding`` its request did not accept (brotli
or zstd, say, which inflate one small chunk to gigabytes at once) is refused
(:func:`refuse_unasked_encoding`). Every read is chunk by chunk from ``iter_bytes()`` (decoded
sizes, so a gzip bomb stops after one chunk). The sync reads check the attempt's
:class:`~gptimage_widgets.deadlines.Deadline` as the body arrives; async ones are cancelled from
outside (``asyncio.timeout``).
"""

from __future__ import annotations

import httpx

from .deadlines import Deadline
from .errors import ResponseDecodeError
from .redact import redact
from .responses import SMALL_BODY_LIMIT, BodyBuffer, too_large

__all__ = ["aread_body", "aread_capped", "read_body", "read_capped", "refuse_unasked_encoding"]


def refuse_unasked_encoding(response: httpx.Response) -> None:
    """Refuse `response` when its ``Content-Encoding`` names a coding its request did not accept.

    Raises
    ------
    ResponseDecodeError
        Naming the coding, before any of the body is read or decoded (never retried).
    """
    accepted = {"identity", *_codings(response.request.headers.get("accept-encoding", ""))}
    unasked = [
        c for c in _codings(response.headers.get("content-encoding", "")) if c not in accepted
    ]
    if unasked:
        raise ResponseDecodeError(
            f"the server answered in Content-Encoding {redact(', '.join(unasked))!r}, which the "
            f"request did not accept ({', '.join(sorted(accepted))}); nothing of it was read. "
            "Check base_url: OpenAI-compatible servers answer in a coding the client asked for",
            request_id=response.headers.get("x-request-id"),
        )


def _codings(header: str) -> list[str]:
    """The lower-case codings of an Accept-/Content-Encoding value, without ``;q=`` weights."""
    return [part.split(";")[0].strip().lower() for part in header.split(",") if part.strip()]


def read_body(
    response: httpx.Response,
    body: BodyBuffer | None,
    *,
    stream: bool,
    limit: int | None,
    deadline: Deadline | None,
) -> None:
    """Read what of `response` is read before it is judged, checking `deadline` throughout.

    Parameters
    ----------
    response : httpx.Response
        An attempt's answer, sent with ``stream=True`` (its body not read yet).
    body : BodyBuffer or None
        Where a successful body goes; None: into the response (:func:`read_capped`).
    stream : bool
        A successful body is left for the stream's reader.
    limit : int or None
        The byte limit of a successful body read into the response (None: none).
    deadline : Deadline or None
        Checked before, during and after the reading (a body cut by the watchdog may seem
        complete).
    """
    request = response.request
    refuse_unasked_encoding(response)
    if deadline is not None:
        deadline.check(request)
    if body is not None and response.is_success and not stream:
        body.start(response)
        for chunk in response.iter_bytes():
            body.add(chunk)
            if deadline is not None:
                deadline.check(request)
    elif not (stream and response.is_success):
        read_capped(response, limit, deadline)
    if deadline is not None:
        deadline.check(request)


async def aread_body(
    response: httpx.Response, body: BodyBuffer | None, *, stream: bool, limit: int | None
) -> None:
    """Async :func:`read_body` (the deadline cancels it from outside)."""
    refuse_unasked_encoding(response)
    if body is not None and response.is_success and not stream:
        body.start(response)
        async for chunk in response.aiter_bytes():
            body.add(chunk)
    elif not (stream and response.is_success):
        await aread_capped(response, limit)


def read_capped(response: httpx.Response, limit: int | None, deadline: Deadline | None) -> None:
    """Read `response`'s body into it (a successful one up to `limit`, an error body up to
    :data:`~gptimage_widgets.responses.SMALL_BODY_LIMIT`), checking `deadline` as it arrives.

    Raises
    ------
    ResponseTooLargeError
        A successful body went past `limit` (the response is closed first).
    """
    cap = _cap(response, limit)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if deadline is not None:
            deadline.check(response.request)
        if cap is not None and size > cap:
            break
    if _keep(response, chunks, size, cap):
        response.close()
        if response.is_success:
            raise too_large(size, cap or 0)


async def aread_capped(response: httpx.Response, limit: int | None) -> None:
    """Async :func:`read_capped` (the deadline cancels it from outside)."""
    cap = _cap(response, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if cap is not None and size > cap:
            break
    if _keep(response, chunks, size, cap):
        await response.aclose()
        if response.is_success:
            raise too_large(size, cap or 0)


def _cap(response: httpx.Response, limit: int | None) -> int | None:
    """The bytes of `response`'s body that are read: `limit`, or a small cap for an error."""
    return limit if response.is_success else SMALL_BODY_LIMIT


def _keep(response: httpx.Response, chunks: list[bytes], size: int, cap: int | None) -> bool:
    """Make what was read the response's content (cut at `cap`); True when it was cut.

    An error body is cut at :data:`~gptimage_widgets.responses.SMALL_BODY_LIMIT` (its start
    says what went wrong); for a successful one, being cut is a ``ResponseTooLargeError``
    (raised by the caller, once the response is closed).
    """
    content = b"".join(chunks)
    cut = cap is not None and size > cap
    response._content = content[:cap] if cut else content
    return cut
