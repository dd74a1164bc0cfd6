"""The sending layer: where requests go, with which headers, and how failures are retried.

Owns: building the httpx request of an API call, a result download or ``GET /models``
(headers, query, timeout, per-call :class:`RequestOptions`); sending it with the retry policy
of :mod:`gptimage_widgets.retry`; the redirect rule (API calls never follow redirects, so the
key stays with the configured origin; result downloads are bare GETs whose redirects are
followed hop by hop). Failed attempts are turned into typed errors by
:func:`gptimage_widgets.http_errors.translate`, the one boundary.

:class:`SyncTransport` and :class:`AsyncTransport` differ only in how they send and sleep;
the decisions are made once in :class:`Transport`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from . import retry
from ._version import __version__
from .backends import Backend
from .deadlines import Deadline, clamp_timeout
from .errors import (
    APIConnectionError,
    GPTImageError,
    RateLimitError,
    RedirectError,
    ValidationError,
)
from .http_errors import translate
from .ratelimit import RatePacer
from .redact import is_secret_name, redact
from .request import ImageRequest
from .responses import (
    DEFAULT_MAX_RESPONSE_BYTES,
    SMALL_BODY_LIMIT,
    BodyBuffer,
    request_id_of,
    too_large,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOTAL_TIMEOUT",
    "USER_AGENT",
    "AsyncTransport",
    "RequestOptions",
    "SyncTransport",
    "Transport",
    "resolve_deadline",
    "resolve_timeout",
]

DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=5.0)
#: The total time one attempt may take, connect to last byte, when ``timeout`` is not a
#: number: high-quality 4K images take 2-3 minutes, so 15 minutes leaves room for a slow
#: server while a stalled or trickling one cannot hold a call (or a kernel) for ever.
DEFAULT_TOTAL_TIMEOUT = 900.0
USER_AGENT = f"gptimage-widgets/{__version__}"

Build = Callable[[], httpx.Request]

#: Retries are logged here (WARNING: visible in a notebook without any logging setup).
logger = logging.getLogger(__name__)


def _seconds(value: Any) -> float | None:
    """`value` as seconds when it is a number > 0, else None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def resolve_timeout(timeout: Any, *, injected: bool = False) -> httpx.Timeout | None:
    """`timeout` (seconds > 0 or an ``httpx.Timeout``) as an ``httpx.Timeout``.

    None gives :data:`DEFAULT_TIMEOUT`, or None (the injected httpx client's own timeout)
    when `injected`. A number bounds each read and caps connecting at 5 s (and bounds the
    whole attempt too: :func:`resolve_deadline`).
    """
    if timeout is None:
        return None if injected else DEFAULT_TIMEOUT
    if isinstance(timeout, httpx.Timeout):
        return timeout
    seconds = _seconds(timeout)
    if seconds is not None:
        return httpx.Timeout(seconds, connect=min(5.0, seconds))
    raise ValidationError(
        f"timeout must be seconds > 0 or an httpx.Timeout, got {timeout!r}",
        param="timeout",
        value=timeout,
    )


def resolve_deadline(timeout: Any, total_timeout: Any = DEFAULT_TOTAL_TIMEOUT) -> float | None:
    """The total seconds one attempt may take, connect to last byte (None: no such bound).

    A numeric `timeout` is that bound (a server sending a byte every few seconds cannot
    stretch it); with an ``httpx.Timeout`` or None, `total_timeout` is (None: only httpx's
    own per-phase timeouts apply).
    """
    seconds = _seconds(timeout)
    if seconds is not None:
        return seconds
    if total_timeout is None:
        return None
    total = _seconds(total_timeout)
    if total is None:
        raise ValidationError(
            f"total_timeout must be seconds > 0 or None (no total bound), got {total_timeout!r}",
            param="total_timeout",
            value=total_timeout,
        )
    return total


@contextlib.contextmanager
def _closing_on_error(response: httpx.Response | None) -> Iterator[None]:
    """Close `response` when the block raises anything (the connection is not reused)."""
    try:
        yield
    except BaseException:
        if response is not None:
            response.close()
        raise


@contextlib.asynccontextmanager
async def _time_limit(deadline: Deadline | None) -> AsyncIterator[None]:
    """Cancel the block when `deadline` passes (``asyncio.timeout``; Python >= 3.11)."""
    limit = getattr(asyncio, "timeout", None)
    if deadline is None or limit is None:
        yield
        return
    async with limit(deadline.remaining()):
        yield


@dataclass(frozen=True)
class RequestOptions:
    """Per-call escape hatches, as the OpenAI SDK has them (``extra_*``, ``timeout``).

    Attributes
    ----------
    headers : Mapping of str to str
        Added to (and overriding) the client's headers of the API call; never logged,
        stored or shown (not even in ``repr``).
    query : Mapping of str to Any
        Added to the query string of the API call.
    body : Mapping of str to Any
        Fields sent as given, after validation of the known ones: merged into the JSON
        body, or sent as multipart form fields (lists repeat the field; mappings as JSON).
    timeout : httpx.Timeout or None
        This call's timeout (the API call and its downloads); None = the client's.
    deadline : float or None
        This call's total seconds per attempt (a numeric ``timeout``); None = the client's.
    """

    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    query: Mapping[str, Any] = field(default_factory=dict)
    body: Mapping[str, Any] = field(default_factory=dict)
    timeout: httpx.Timeout | None = None
    deadline: float | None = None

    @classmethod
    def of(
        cls,
        *,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> RequestOptions:
        """Check and wrap a public method's escape-hatch arguments."""
        given = {"extra_headers": extra_headers, "extra_query": extra_query}
        for name, value in {**given, "extra_body": extra_body}.items():
            if value is not None and not isinstance(value, Mapping):
                raise ValidationError(
                    f"{name} must be a mapping (a dict), got {type(value).__name__}",
                    param=name,
                    value=type(value).__name__,
                )
        return cls(
            headers={str(k): str(v) for k, v in (extra_headers or {}).items()},
            query=dict(extra_query or {}),
            body={str(k): v for k, v in (extra_body or {}).items()},
            timeout=None if timeout is None else resolve_timeout(timeout),
            deadline=_seconds(timeout),
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values of the extra headers named like credentials (``api-key``, ``Authorization``)."""
        found = [value for name, value in self.headers.items() if is_secret_name(name)]
        return tuple(v.split(" ", 1)[1] if v.lower().startswith("bearer ") else v for v in found)


NO_OPTIONS = RequestOptions()


def form_fields(body: Mapping[str, Any]) -> dict[str, str | list[str]]:
    """Extra body fields as multipart form values (what ``httpx``'s ``data=`` takes)."""
    return {name: _form_value(value) for name, value in body.items()}


def _form_value(value: Any) -> str | list[str]:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return [str(_form_value(item)) for item in value]
    if isinstance(value, Mapping):
        return json.dumps(value)
    return str(value)


def secret_of(backend: Backend) -> str | None:
    """The API key in the backend's headers (bearer token or Azure ``api-key``)."""
    for name, value in backend.headers.items():
        if name.lower() == "authorization" and value.lower().startswith("bearer "):
            return value[7:] or None
        if name.lower() == "api-key":
            return value or None
    return None


@dataclass
class Attempts:
    """One call's state across its attempts (shared by the sync and async send loops).

    Attributes
    ----------
    paced : bool
        An API call with pacing on: it waits for slots and reports answers to the pacer.
    retries : int
        Retries spent from the policy's budget.
    slept : float
        The retry delay just waited (0 after a rate-limit wait); the next slot is not waited for.
    limited_since : list of float
        The pacer-clock time of the first 429 ``rate_limit_exceeded`` (empty before).
    """

    paced: bool
    retries: int = 0
    slept: float = 0.0
    limited_since: list[float] = field(default_factory=list)


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
        """The backend's headers (credentials) plus User-Agent and Accept."""
        return {
            **self.backend.headers,
            "User-Agent": USER_AGENT,
            "Accept": "text/event-stream" if stream else "application/json",
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

    def download_request(self, url: str, options: RequestOptions = NO_OPTIONS) -> httpx.Request:
        """A bare GET for a result URL: a User-Agent and nothing else.

        Built without the httpx client's defaults, so neither the API key, an extra header,
        nor an injected client's default headers or cookies reach the storage host.
        """
        timeout = options.timeout or self.timeout or self.http.timeout
        extensions = {"timeout": timeout.as_dict()}
        return httpx.Request("GET", url, headers={"User-Agent": USER_AGENT}, extensions=extensions)

    def redirect_target(self, error: RedirectError, hops: int) -> str:
        """Where a result download's redirect (hop number `hops`) points; it is followed by hand.

        Raises `error` when it names no Location, and :class:`APIConnectionError` past the
        httpx client's ``max_redirects``.
        """
        if error.location is None:
            raise error
        if hops >= self.http.max_redirects:
            raise APIConnectionError(
                f"the result download was redirected more than {self.http.max_redirects} times "
                f"(last to {error.location}); retry, or ask the server's operator"
            ) from error
        return error.location

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

    # ------------------------------------------------------------------ retries

    def failure(
        self,
        outcome: httpx.Response | httpx.HTTPError,
        *,
        model: str | None,
        response: httpx.Response | None,
        secrets: tuple[str | None, ...] = (),
    ) -> tuple[GPTImageError, float | None]:
        """The typed error of a failed attempt and the server-directed delay, if any.

        `response` is the response whose body failed to arrive, when there was one: its
        ``x-request-id`` goes on the connection error.
        """
        secrets = (*self.secrets, *secrets)
        if isinstance(outcome, httpx.Response):
            error = translate(outcome, model=model, secrets=secrets, backend=self.backend.name)
            return error, retry.parse_retry_after(outcome.headers)
        error = translate(
            outcome,
            model=model,
            secrets=secrets,
            request_id=request_id_of(response),
            backend=self.backend.name,
        )
        return error, None

    def next_wait(
        self,
        retries: int,
        outcome: httpx.Response | httpx.HTTPError,
        *,
        model: str | None,
        response: httpx.Response | None,
        secrets: tuple[str | None, ...] = (),
        failed: tuple[GPTImageError, float | None] | None = None,
    ) -> float:
        """Seconds to wait before retrying a failed attempt; raises its typed error if not.

        `failed` is :meth:`failure`'s answer when already computed.
        """
        error, retry_after = failed or self.failure(
            outcome, model=model, response=response, secrets=secrets
        )
        delay = self.policy.next_delay(retries, error, retry_after)
        if delay is None:
            raise error from (outcome if isinstance(outcome, BaseException) else None)
        self._log_retry(retries, outcome, error, delay, (*self.secrets, *secrets))
        return delay

    # ------------------------------------------------------------------ rate limits

    def slot_wait(self, call: Attempts) -> float:
        """Seconds to wait for this attempt's sending slot (0 unless paced and limited).

        Right after a retry delay (``call.slept``) the slot is taken without waiting: the
        retry policy has already chosen how long this call waits.
        """
        if not call.paced:
            return 0.0
        self.pacer.started()
        wait = self.pacer.reserve()
        return 0.0 if call.slept else wait

    def after_failure(
        self,
        call: Attempts,
        outcome: httpx.Response | httpx.HTTPError,
        *,
        model: str | None,
        response: httpx.Response | None,
        secrets: tuple[str | None, ...],
    ) -> float | None:
        """The retry delay to sleep after a failed attempt; None when a 429 is waited out.

        Raises the attempt's typed error when it is not retried.
        """
        failed = self.failure(outcome, model=model, response=response, secrets=secrets)
        if call.paced and self.waits_out(outcome, failed, call.limited_since):
            call.slept = 0.0
            return None
        call.slept = self.next_wait(
            call.retries, outcome, model=model, response=response, secrets=secrets, failed=failed
        )
        call.retries += 1
        return call.slept

    def waits_out(
        self,
        outcome: httpx.Response | httpx.HTTPError,
        failed: tuple[GPTImageError, float | None],
        limited_since: list[float],
    ) -> bool:
        """Tell the pacer about a failed paced attempt; True when a 429 is waited out.

        A 429 ``rate_limit_exceeded`` (not ``insufficient_quota``) in ``map``/``sweep`` or
        while other requests of the client are under way waits for a new slot within the
        pacer's patience, without spending the retry budget. `limited_since` holds the
        time of the request's first 429 (filled here).
        """
        error, retry_after = failed
        limited = isinstance(error, RateLimitError) and retry.is_retryable(error)
        if isinstance(outcome, httpx.Response):
            self.pacer.observe(outcome.headers, limited=limited, retry_after=retry_after)
        self.pacer.finished()
        if limited and not limited_since:
            limited_since.append(self.pacer.clock())
        if not self.pacer.waits_out(limited, limited_since[0] if limited_since else None):
            return False
        patience = self.pacer.remaining_patience(limited_since[0])
        if retry_after is not None and retry_after > patience:
            return False
        logger.info("rate limited (HTTP 429); waiting for the next free slot")
        return True

    def succeeded(self, response: httpx.Response, paced: bool) -> None:
        """Tell the pacer about a successful paced attempt."""
        if paced:
            self.pacer.observe(response.headers, limited=False, retry_after=None)
            self.pacer.finished()

    def _log_retry(
        self,
        retries: int,
        outcome: httpx.Response | httpx.HTTPError,
        error: Exception,
        delay: float,
        secrets: tuple[str | None, ...],
    ) -> None:
        """One WARNING per retry: what was sent, which attempt failed, why, and the wait.

        Never a header or a body: only the method, the URL without its query, the status
        (or the exception type) and the typed error's class.
        """
        if isinstance(outcome, httpx.Response):
            why = f"HTTP {outcome.status_code}, {type(error).__name__}"
        else:
            why = f"{type(outcome).__name__}, {type(error).__name__}"
        where = _target(outcome)
        logger.warning(
            "%s: attempt %d of %d failed (%s); retrying in %.2f s",
            redact(where, secrets),
            retries + 1,
            self.policy.max_retries + 1,
            why,
            delay,
        )


def _auth(credentials: bool) -> Any:
    """The ``auth`` of a send: the httpx client's own, or none for a credential-free download."""
    return httpx.USE_CLIENT_DEFAULT if credentials else None


def _target(outcome: httpx.Response | httpx.HTTPError) -> str:
    """``"POST https://host/v1/images/generations"`` (no query) of a failed attempt."""
    try:
        request = outcome.request
    except RuntimeError:
        return "request"
    return f"{request.method} {request.url.copy_with(query=None)}"


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

        Each hop is one attempt with the call's total timeout; `body` keeps its byte limit.
        """
        deadline = self.deadline_for(options)
        for hops in itertools.count():
            build = functools.partial(self.download_request, url, options)
            try:
                self.send(
                    build,
                    stream=False,
                    model=None,
                    body=body,
                    credentials=False,
                    deadline=deadline,
                )
                return
            except RedirectError as error:
                url = self.redirect_target(error, hops)

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
        `limit` for a successful body read into the response, :data:`SMALL_BODY_LIMIT` for an
        error body, which is cut there) stops the reading and closes the connection:
        :class:`~gptimage_widgets.errors.ResponseTooLargeError`, not retried.
        """
        call = Attempts(paced=self.pacer.enabled and model is not None)
        for attempts in itertools.count(1):
            outcome: httpx.Response | httpx.HTTPError
            response: httpx.Response | None = None
            try:
                wait = self.slot_wait(call)
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
                        deadline.check(request)
                    if body is not None and outcome.is_success and not stream:
                        body.start(outcome)
                        for chunk in outcome.iter_bytes():
                            body.add(chunk)
                            if deadline is not None:
                                deadline.check(request)
                    elif not (stream and outcome.is_success):
                        _read_capped(outcome, limit, deadline)
                    if deadline is not None:  # a body cut by the watchdog may seem complete
                        deadline.check(request)
            except httpx.HTTPError as exc:
                outcome = exc
                if deadline is not None and deadline.fired:  # the watchdog cut it
                    outcome = deadline.exceeded(request)
            except BaseException as exc:
                if deadline is not None:
                    deadline.done()
                if call.paced:
                    self.pacer.finished()
                if isinstance(exc, GPTImageError) and response is not None:
                    exc.request_id = exc.request_id or request_id_of(response)
                raise
            streaming = stream and isinstance(outcome, httpx.Response) and outcome.is_success
            if deadline is not None and not streaming:
                deadline.done()  # a stream's reader ends it (StreamRun.close)
            if isinstance(outcome, httpx.Response) and outcome.is_success:
                self.succeeded(outcome, call.paced)
                return outcome, attempts
            if isinstance(outcome, httpx.Response):
                outcome.close()
            delay = self.after_failure(
                call, outcome, model=model, response=response, secrets=secrets
            )
            if delay is not None:
                retry.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover


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
        deadline = self.deadline_for(options)
        for hops in itertools.count():
            build = functools.partial(self.download_request, url, options)
            try:
                await self.send(
                    build,
                    stream=False,
                    model=None,
                    body=body,
                    credentials=False,
                    deadline=deadline,
                )
                return
            except RedirectError as error:
                url = self.redirect_target(error, hops)

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
        call = Attempts(paced=self.pacer.enabled and model is not None)
        for attempts in itertools.count(1):
            outcome: httpx.Response | httpx.HTTPError
            response: httpx.Response | None = None
            request: httpx.Request | None = None
            try:
                wait = self.slot_wait(call)
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
                        if body is not None and outcome.is_success and not stream:
                            body.start(outcome)
                            async for chunk in outcome.aiter_bytes():
                                body.add(chunk)
                        elif not (stream and outcome.is_success):
                            await _aread_capped(outcome, limit)
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
                if call.paced:
                    self.pacer.finished()
                if isinstance(exc, GPTImageError) and response is not None:
                    exc.request_id = exc.request_id or request_id_of(response)
                raise
            if isinstance(outcome, httpx.Response) and outcome.is_success:
                self.succeeded(outcome, call.paced)
                return outcome, attempts
            if isinstance(outcome, httpx.Response):
                await outcome.aclose()
            delay = self.after_failure(
                call, outcome, model=model, response=response, secrets=secrets
            )
            if delay is not None:
                await retry.async_sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover


def _keep(response: httpx.Response, chunks: list[bytes], size: int, cap: int | None) -> bool:
    """Make what was read the response's content (cut at `cap`); True when it was cut.

    An error body is cut at :data:`SMALL_BODY_LIMIT` (its start says what went wrong); for
    a successful one, being cut is a ``ResponseTooLargeError`` (raised by the caller, once
    the response is closed).
    """
    content = b"".join(chunks)
    cut = cap is not None and size > cap
    response._content = content[:cap] if cut else content
    return cut


def _cap(response: httpx.Response, limit: int | None) -> int | None:
    return limit if response.is_success else SMALL_BODY_LIMIT


def _read_capped(response: httpx.Response, limit: int | None, deadline: Deadline | None) -> None:
    """Read `response`'s body (a successful one up to `limit`, an error body up to
    :data:`SMALL_BODY_LIMIT`), checking `deadline` as it arrives."""
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


async def _aread_capped(response: httpx.Response, limit: int | None) -> None:
    """Async :func:`_read_capped` (the deadline cancels it from outside)."""
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
