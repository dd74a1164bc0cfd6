"""Result downloads: bare GETs of a result URL, redirects followed one hop at a time.

Owns the rule for fetching a result URL (``response_format="url"``): each hop is a bare GET
(:func:`bare_get`: a User-Agent and Accept-Encoding, nothing else, built without the httpx
client's default headers or cookies, sent without its ``auth``), so neither the API key nor an
extra header reaches the storage host; a redirect is followed by hand with the same bare request
(:meth:`Download.follow`), at most the httpx client's ``max_redirects`` times; every hop is one
send with the call's retries, under the same per-attempt deadline and into the same
:class:`~gptimage_widgets.responses.BodyBuffer` (one byte limit for the whole download).

:func:`download` and :func:`adownload` (entered through ``SyncTransport.download`` and
``AsyncTransport.download``) only send, awaited or not; :class:`Download` decides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

import httpx

from .deadlines import Deadline
from .errors import APIConnectionError, RedirectError
from .request_options import ACCEPT_ENCODING, USER_AGENT, RequestOptions
from .responses import BodyBuffer

if TYPE_CHECKING:
    from .transport import AsyncTransport, SyncTransport, Transport

__all__ = ["Download", "HopSend", "adownload", "bare_get", "download"]


def bare_get(url: str, timeout: httpx.Timeout) -> httpx.Request:
    """A GET of `url` with a User-Agent and Accept-Encoding, and nothing else (no key, cookie or
    extra header)."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING}
    return httpx.Request("GET", url, headers=headers, extensions={"timeout": timeout.as_dict()})


class HopSend(TypedDict):
    """How every hop of a download is sent (keywords of ``Transport.send``)."""

    stream: bool
    model: str | None
    body: BodyBuffer | None
    credentials: bool
    deadline: Deadline | None


class Download:
    """One result download, hop by hop: the bare GET of each hop and where a redirect leads.

    Parameters
    ----------
    transport : Transport
        The client's transport (timeouts, the httpx client's ``max_redirects``).
    url : str
        The result URL (the first hop).
    options : RequestOptions
        The call's options: only its timeout applies (no extra header or query is sent).
    body : BodyBuffer
        Where the result goes, with its byte limit (the same for every hop).

    Attributes
    ----------
    url : str
        The URL of the current hop.
    hops : int
        Redirects followed so far.
    sent_as : HopSend
        How each hop is sent: read whole into `body`, not paced (no model), without the
        httpx client's ``auth``, under the call's per-attempt deadline (one for every hop).
    """

    __slots__ = ("hops", "options", "sent_as", "transport", "url")

    def __init__(
        self, transport: Transport, url: str, options: RequestOptions, body: BodyBuffer
    ) -> None:
        self.transport = transport
        self.url = url
        self.options = options
        self.hops = 0
        self.sent_as: HopSend = {
            "stream": False,
            "model": None,
            "body": body,
            "credentials": False,
            "deadline": transport.deadline_for(options),
        }

    def request(self) -> httpx.Request:
        """The current hop's bare GET (built afresh for every attempt)."""
        transport = self.transport
        timeout = self.options.timeout or transport.timeout or transport.http.timeout
        return bare_get(self.url, timeout)

    def follow(self, error: RedirectError) -> None:
        """Make the hop `error`'s redirect points to the current one.

        Raises
        ------
        RedirectError
            When `error` names no Location (a message about this download, not API calls).
        APIConnectionError
            Past the httpx client's ``max_redirects``.
        """
        if error.location is None:
            raise RedirectError(
                f"HTTP {error.status_code}: the result download answered with a redirect "
                "without a Location, so there is nowhere to follow it. Next step: run the "
                "call again (result URLs expire 60 minutes after generation), or ask for "
                'response_format="b64_json".',
                status_code=error.status_code,
                request_id=error.request_id,
            ) from error
        most = self.transport.http.max_redirects
        if self.hops >= most:
            raise APIConnectionError(
                f"the result download was redirected more than {most} times "
                f"(last to {error.location}); retry, or ask the server's operator"
            ) from error
        self.url = error.location
        self.hops += 1


def download(transport: SyncTransport, url: str, options: RequestOptions, body: BodyBuffer) -> None:
    """Read the result at `url` into `body` (see the module docstring)."""
    hop = Download(transport, url, options, body)
    while True:
        try:
            transport.send(hop.request, **hop.sent_as)
            return
        except RedirectError as error:
            hop.follow(error)


async def adownload(
    transport: AsyncTransport, url: str, options: RequestOptions, body: BodyBuffer
) -> None:
    """Async :func:`download`."""
    hop = Download(transport, url, options, body)
    while True:
        try:
            await transport.send(hop.request, **hop.sent_as)
            return
        except RedirectError as error:
            hop.follow(error)
