"""The sending layer: where requests go, with which headers, and the send loops.

Owns: building the httpx request of an API call or ``GET /models`` (the backend's headers
and query, User-Agent, timeout, a call's :class:`RequestOptions`), and sending it: the sync
and async send loops, which do the I/O only (send, read, close, sleep; awaited or not) and
ask :class:`~gptimage_widgets.attempts.Attempts` what each answer means (retry, wait out a
429, raise its typed error). The redirect rule: nothing sent here follows a redirect, so the
key stays with the configured origin (a 3xx becomes a
:class:`~gptimage_widgets.errors.RedirectError`); result downloads follow theirs hop by hop
with bare GETs (:mod:`gptimage_widgets.downloads`).

Elsewhere: timeouts and per-call options in :mod:`gptimage_widgets.request_options` (their
names are importable from here too), reading a body within its limit in
:mod:`gptimage_widgets.body_reads`, what is retried in :mod:`gptimage_widgets.retry`, and
failures as typed errors in :func:`gptimage_widgets.http_errors.translate`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from . import retry
from .attempts import Attempts
from .backends import Backend
from .body_reads import aread_body, read_body
from .deadlines import Deadline, clamp_timeout
from .downloads import adownload, download
from .ratelimit import RatePacer
from .request import ImageRequest
from .request_options import (
    ACCEPT_ENCODING,
    DEFAULT_TIMEOUT,
    DEFAULT_TOTAL_TIMEOUT,
    NO_OPTIONS,
    USER_AGENT,
    RequestOptions,
    form_fields,
    resolve_deadline,
    resolve_timeout,
)
from .responses import DEFAULT_MAX_RESPONSE_BYTES, BodyBuffer

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOTAL_TIMEOUT",
    "NO_OPTIONS",
    "USER_AGENT",
    "AsyncTransport",
    "RequestOptions",
    "SyncTransport",
    "Transport",
    "resolve_deadline",
    "resolve_timeout",
]

Build = Callable[[], httpx.Request]


@dataclass
class Transport:
    """Builds and sends the requests of one client.

    Attributes
    ----------
    backend : Backend
        Where requests go and their credentials.
    http : httpx.Client or httpx.AsyncClient
    timeout : httpx.Timeout or None
        The client's timeout; None leaves an injected httpx client's own.
    policy : RetryPolicy
        Shared with the client (``client.retry_policy``).
    owns_http : bool
        Whether :meth:`close` closes `http` (not when it was injected).
    pacer : RatePacer
        Paces this client's API calls by the rate the server allows
        (:mod:`gptimage_widgets.ratelimit`); downloads and ``GET /models`` are not paced.
    deadline : float or None
        The total seconds one attempt may take, connect to last byte
        (:func:`resolve_deadline`); None: httpx's per-phase timeouts only.
    max_response_bytes : int
        No body is read past this many decoded bytes (the clients' ``max_response_bytes``).
    """

    backend: Backend
    http: Any
    timeout: httpx.Timeout | None
    policy: retry.RetryPolicy
    owns_http: bool = True
    pacer: RatePacer = field(default_factory=RatePacer)
    deadline: float | None = None
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    secret: str | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.secret = secret_of(self.backend)
        if self.timeout is not None:
            self.timeout = clamp_timeout(self.timeout, self.deadline)

    @staticmethod
    def new_http() -> Any:
        """The httpx client a client owns when none is injected (subclasses say which)."""
        raise NotImplementedError

    @property
    def secrets(self) -> tuple[str | None, ...]:
        """What every message must not show: the API key."""
        return (self.secret,)

    # ------------------------------------------------------------------ requests

    def headers(self, *, stream: bool = False) -> dict[str, str]:
        """The backend's headers (credentials) plus User-Agent, Accept and Accept-Encoding."""
        return {
            **self.backend.headers,
            "User-Agent": USER_AGENT,
            "Accept": "text/event-stream" if stream else "application/json",
            "Accept-Encoding": ACCEPT_ENCODING,
        }

    def _timeout_kwargs(self, options: RequestOptions = NO_OPTIONS) -> dict[str, Any]:
        if options.timeout is not None:
            return {"timeout": clamp_timeout(options.timeout, self.seconds_for(options))}
        return {} if self.timeout is None else {"timeout": self.timeout}

    def seconds_for(self, options: RequestOptions = NO_OPTIONS) -> float | None:
        """The total seconds per attempt of a call with `options` (None: unbounded)."""
        return options.deadline if options.deadline is not None else self.deadline

    def deadline_for(self, options: RequestOptions = NO_OPTIONS) -> Deadline | None:
        """A fresh :class:`Deadline` for a call with `options` (None: no total bound)."""
        seconds = self.seconds_for(options)
        return None if seconds is None else Deadline(seconds)

    def api_request(
        self, request: ImageRequest, options: RequestOptions = NO_OPTIONS
    ) -> httpx.Request:
        """The httpx request of an images call (built afresh for every attempt).

        `options` adds headers, query parameters and body fields, sent as given.
        """
        kwargs: dict[str, Any] = {
            "headers": {**self.headers(stream=request.stream), **options.headers},
            "params": {**self.backend.query, **options.query},
            **self._timeout_kwargs(options),
        }
        if request.json is not None:
            kwargs["json"] = {**request.json, **options.body}
        else:
            kwargs["data"] = {**(request.data or {}), **form_fields(options.body)}
            kwargs["files"] = [part.as_httpx() for part in request.files]
        url = self.backend.url(request.path, request.model)
        built: httpx.Request = self.http.build_request("POST", url, **kwargs)
        return built

    def models_request(self) -> httpx.Request:
        """``GET /models`` on the backend."""
        built: httpx.Request = self.http.build_request(
            "GET",
            self.backend.url("/models"),
            headers=self.headers(),
            params=dict(self.backend.query),
            **self._timeout_kwargs(),
        )
        return built


def secret_of(backend: Backend) -> str | None:
    """The API key in the backend's headers (bearer token or Azure ``api-key``)."""
    for name, value in backend.headers.items():
        if name.lower() == "authorization" and value.lower().startswith("bearer "):
            return value[7:] or None
        if name.lower() == "api-key":
            return value or None
    return None


def _auth(credentials: bool) -> Any:
    """The ``auth`` of a send: the httpx client's own, or none for a credential-free download."""
    return httpx.USE_CLIENT_DEFAULT if credentials else None


@contextlib.contextmanager
def _closing_on_error(response: httpx.Response) -> Iterator[None]:
    """Close `response` when the block raises anything (the connection is not reused)."""
    try:
        yield
    except BaseException:
        response.close()
        raise


@contextlib.asynccontextmanager
async def _time_limit(deadline: Deadline | None) -> AsyncIterator[None]:
    """Cancel the block when `deadline` passes, raising ``TimeoutError`` (``asyncio.timeout``;
    on Python 3.10, which lacks it, the same by a timer that cancels the task)."""
    if deadline is None:
        yield
        return
    limit = getattr(asyncio, "timeout", None)
    if limit is not None:
        async with limit(deadline.remaining()):
            yield
        return
    async with _cancel_after(deadline.remaining()):
        yield


@contextlib.asynccontextmanager
async def _cancel_after(seconds: float) -> AsyncIterator[None]:
    """Python 3.10's ``asyncio.timeout``: cancel the current task after `seconds` and turn
    that cancellation into ``TimeoutError`` (a cancellation from elsewhere stays one)."""
    task = asyncio.current_task()
    fired = False

    def cancel() -> None:
        nonlocal fired
        if task is not None and not task.done():
            fired = True
            task.cancel()

    handle = asyncio.get_running_loop().call_later(max(0.0, seconds), cancel)
    try:
        yield
    except asyncio.CancelledError as exc:
        if fired:
            raise TimeoutError from exc
        raise
    finally:
        handle.cancel()


class SyncTransport(Transport):
    """Sends with an ``httpx.Client``."""

    http: httpx.Client

    @staticmethod
    def new_http() -> httpx.Client:
        """The client's own httpx client: never follows redirects."""
        return httpx.Client(timeout=DEFAULT_TIMEOUT, follow_redirects=False)

    def close(self) -> None:
        if self.owns_http:
            self.http.close()

    def download(self, url: str, options: RequestOptions, body: BodyBuffer) -> None:
        """Read a result URL into `body`: bare GETs, redirects followed hop by hop.

        Each hop is one send with the call's total timeout; `body` keeps its byte limit
        (:mod:`gptimage_widgets.downloads`).
        """
        download(self, url, options, body)

    def send(
        self,
        build: Build,
        *,
        stream: bool,
        model: str | None,
        body: BodyBuffer | None = None,
        credentials: bool = True,
        secrets: tuple[str | None, ...] = (),
        deadline: Deadline | None = None,
        limit: int | None = None,
    ) -> tuple[httpx.Response, int]:
        """Send with retries; return a successful response and the number of attempts.

        Its body is read unless `stream`; with `body`, a successful body is read into
        `body` instead of the response (a body cut mid-way is retried like any other).
        Nothing follows redirects, whatever the httpx client says: a 3xx becomes a
        :class:`~gptimage_widgets.errors.RedirectError`, so the key never reaches another
        host (:meth:`download` follows a download's redirects by hand). ``credentials=False``
        (result downloads) also leaves out the httpx client's ``auth``.

        Every attempt restarts `deadline` (checked as the body arrives: a trickling server
        cannot stretch it; it ends in ``APITimeoutError``). A body past its limit (`body`'s,
        `limit` for a successful body read into the response, :data:`SMALL_BODY_LIMIT
        <gptimage_widgets.responses.SMALL_BODY_LIMIT>` for an error body, which is cut there)
        stops the reading and closes the connection:
        :class:`~gptimage_widgets.errors.ResponseTooLargeError`, not retried.
        """
        call = Attempts(self, model, secrets)
        while True:
            outcome: httpx.Response | httpx.HTTPError
            response: httpx.Response | None = None
            try:
                wait = call.next_slot()
                if wait > 0:
                    with self.pacer.waiting_for_slot():
                        retry.sleep(wait)
                request = build()
                if deadline is not None:
                    deadline.start()
                    deadline.watch(request)
                outcome = response = self.http.send(
                    request, stream=True, follow_redirects=False, auth=_auth(credentials)
                )
                with _closing_on_error(response):
                    if deadline is not None:
                        deadline.found(response)
                    read_body(response, body, stream=stream, limit=limit, deadline=deadline)
            except httpx.HTTPError as exc:
                outcome = exc
                if deadline is not None and deadline.fired:  # the watchdog cut it
                    outcome = deadline.exceeded(request)
            except BaseException as exc:
                if deadline is not None:
                    deadline.done()
                call.aborted(exc, response)
                raise
            if call.succeeded(outcome):
                if deadline is not None and not stream:
                    deadline.done()  # a stream's reader ends it (StreamRun.close)
                return outcome, call.number
            if deadline is not None:
                deadline.done()
            if isinstance(outcome, httpx.Response):
                outcome.close()
            delay = call.retry_delay(outcome, response)
            if delay is not None:
                retry.sleep(delay)


class AsyncTransport(Transport):
    """Sends with an ``httpx.AsyncClient``."""

    http: httpx.AsyncClient

    @staticmethod
    def new_http() -> httpx.AsyncClient:
        """The client's own httpx client: never follows redirects."""
        return httpx.AsyncClient(timeout=DEFAULT_TIMEOUT, follow_redirects=False)

    async def close(self) -> None:
        if self.owns_http:
            await self.http.aclose()

    async def download(self, url: str, options: RequestOptions, body: BodyBuffer) -> None:
        """Async twin of :meth:`SyncTransport.download`."""
        await adownload(self, url, options, body)

    async def send(
        self,
        build: Build,
        *,
        stream: bool,
        model: str | None,
        body: BodyBuffer | None = None,
        credentials: bool = True,
        secrets: tuple[str | None, ...] = (),
        deadline: Deadline | None = None,
        limit: int | None = None,
    ) -> tuple[httpx.Response, int]:
        """Async twin of :meth:`SyncTransport.send` (same policy, awaited I/O).

        Here `deadline` cancels the attempt wherever it is (connecting, waiting for the
        headers or reading the body); a streamed body is checked as it arrives.
        """
        call = Attempts(self, model, secrets)
        while True:
            outcome: httpx.Response | httpx.HTTPError
            response: httpx.Response | None = None
            request: httpx.Request | None = None
            try:
                wait = call.next_slot()
                if wait > 0:
                    with self.pacer.waiting_for_slot():
                        await retry.async_sleep(wait)
                if deadline is not None:
                    deadline.start()
                request = build()
                try:
                    async with _time_limit(deadline):
                        outcome = response = await self.http.send(
                            request, stream=True, follow_redirects=False, auth=_auth(credentials)
                        )
                        await aread_body(response, body, stream=stream, limit=limit)
                except TimeoutError as exc:  # the deadline (httpx raises its own timeouts)
                    if deadline is None:
                        raise
                    raise deadline.exceeded(request) from exc
            except httpx.HTTPError as exc:
                outcome = exc
                if response is not None:
                    await response.aclose()
            except BaseException as exc:
                if response is not None:
                    await response.aclose()
                call.aborted(exc, response)
                raise
            if call.succeeded(outcome):
                return outcome, call.number
            if isinstance(outcome, httpx.Response):
                await outcome.aclose()
            delay = call.retry_delay(outcome, response)
            if delay is not None:
                await retry.async_sleep(delay)
