"""The httpx clients: :class:`ImageClient` (sync) and :class:`AsyncImageClient` (async).

One implementation serves both. Building the request (``request.build_request``), reading
the response, decoding images, computing cost and building the
:class:`~gptimage_widgets.results.ImageResult` are plain functions and methods of
:class:`_ClientBase`; the two subclasses only differ in how bytes are sent and awaited
(``_execute``, ``_send``, ``_stream``, ``_download``, ``_save``). The public method
signatures (``generate``, ``edit``, ``variations``, ``stream_generate``, ``stream_edit``)
are written once in the base class: the async client returns awaitables / async iterators.

Every transport, HTTP and decoding problem is turned into the :mod:`~gptimage_widgets.errors`
family at one boundary, :func:`_translate`, with ``raise ... from``; the request id is
attached and messages say what to do. The API key lives only in the backend's headers and
never appears in ``repr``, errors or results.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import dataclasses
import html
import inspect
import itertools
import json
import os
import re
import sys
import threading
import time
import warnings
import weakref
from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, Generic, TypeVar

import httpx
import numpy as np

from . import catalog, imaging, pricing, retry
from ._version import __version__
from .backends import Backend, apply_model_status, resolve_backend
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    BadRequestError,
    BudgetExceededError,
    GPTImageError,
    ModerationError,
    QuotaError,
    RateLimitError,
    RedirectError,
    ResponseDecodeError,
    StreamError,
    ValidationError,
    status_error_class,
)
from .history import HistoryStore
from .request import ImageRequest, build_request
from .results import ImageResult
from .sse import ImageEventStream, StreamEvent

__all__ = ["DEFAULT_MODEL", "DEFAULT_TIMEOUT", "AsyncImageClient", "ImageClient", "StreamEvent"]

DEFAULT_MODEL = "gpt-image-2"
DEFAULT_VARIATION_MODEL = "dall-e-2"
DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=5.0)
USER_AGENT = f"gptimage-widgets/{__version__}"

PartialCallback = Callable[[int, np.ndarray], Any]
ResultT = TypeVar("ResultT")
StreamT = TypeVar("StreamT")

_DECODE_PROBLEMS = (ValueError, KeyError, TypeError, IndexError, binascii.Error)
_MODERATION_CODES = frozenset({"moderation_blocked", "content_policy_violation"})
_QUOTA_ADVICE = {
    "insufficient_quota": (
        "your account is out of credit: add credit at "
        "platform.openai.com/settings/organization/billing, then retry"
    ),
    "billing_hard_limit_reached": (
        "your organization reached its spending limit: raise it at "
        "platform.openai.com/settings/organization/limits, then retry"
    ),
}
_KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9_\-*.]{6,}")
_HTML_TITLE = re.compile(r"<(title|h1)[^>]*>(.*?)</\1>", re.IGNORECASE | re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]+>")


# =========================================================================== errors


def _translate(
    source: BaseException | httpx.Response,
    *,
    model: str | None = None,
    secret: str | None = None,
    request_id: str | None = None,
    streaming: bool = False,
) -> GPTImageError:
    """THE boundary: map an httpx exception, a decoding problem or an error response to
    the :mod:`~gptimage_widgets.errors` family.

    Parameters
    ----------
    source : BaseException or httpx.Response
        An httpx exception, a ``ValueError``/``KeyError``/``binascii.Error``... raised while
        reading a response, or a response with an error status (already read).
    model : str, optional
        The model of the request, for advice on shut-down models (404).
    secret : str, optional
        The API key, scrubbed from every message.
    request_id : str, optional
        ``x-request-id`` of the exchange (taken from the response when one is given).
    streaming : bool
        True when the body of a streamed response was being read: transport errors then
        become :class:`StreamError` (the stream was cut), not connection errors.

    Returns
    -------
    GPTImageError
        To be raised by the caller with ``raise error from source``.
    """
    if isinstance(source, httpx.Response):
        return _status_error(source, model=model, secret=secret)
    if isinstance(source, GPTImageError):
        if request_id and not source.request_id:
            source.request_id = request_id
        return source
    if isinstance(source, httpx.HTTPError):
        message = _scrub(_transport_message(source, streaming), secret)
        return _transport_class(source, streaming)(message, request_id=request_id)
    detail = _scrub(f"{type(source).__name__}: {source}", secret)
    return ResponseDecodeError(
        f"the server's response could not be understood ({detail}); it may be truncated or "
        "not an OpenAI-compatible images API: check base_url, then retry",
        request_id=request_id,
    )


def _transport_class(exc: httpx.HTTPError, streaming: bool) -> type[GPTImageError]:
    if streaming and isinstance(exc, (httpx.TransportError, httpx.StreamError)):
        return StreamError
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError
    if isinstance(exc, httpx.DecodingError):
        return ResponseDecodeError
    return APIConnectionError


def _transport_message(exc: httpx.HTTPError, streaming: bool) -> str:
    where = _request_url(exc)
    detail = str(exc) or type(exc).__name__
    if streaming and isinstance(exc, httpx.TimeoutException):
        return (
            f"the stream from {where} stalled: no data within the read timeout ({detail}); "
            "retry, or raise timeout= if the server is just slow"
        )
    if streaming:
        return f"the stream from {where} was cut before the image completed ({detail}); retry"
    if isinstance(exc, httpx.ConnectTimeout):
        return f"could not connect to {where} within the connect timeout; is the server up?"
    if isinstance(exc, httpx.TimeoutException):
        return (
            f"{where} did not answer within the timeout ({detail}); high-quality images "
            "can take 2-3 minutes: raise timeout= (default 600 s read)"
        )
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect to {where} ({detail}); check the network, base_url and proxy"
    if isinstance(exc, httpx.DecodingError):
        return f"the response from {where} could not be decompressed ({detail}); retry"
    return f"the connection to {where} broke ({type(exc).__name__}: {detail}); retry"


def _request_url(exc: httpx.HTTPError) -> str:
    try:
        url = exc.request.url
    except RuntimeError:
        return "the server"
    return str(url.copy_with(query=None))


def _status_error(
    response: httpx.Response, *, model: str | None, secret: str | None
) -> APIStatusError:
    status = response.status_code
    if 300 <= status < 400:
        return _redirect_error(response, secret)
    body = _json_or_none(response)
    detail = _error_detail(body)
    message = str(detail.get("message") or "").strip() or _text_summary(response)
    code = _str_or_none(detail.get("code"))
    error_type = _str_or_none(detail.get("type"))
    param = _str_or_none(detail.get("param"))
    cls, advice = _classify(status, code, message, param, model)
    text = _scrub(f"HTTP {status}: {_sentence(message)} Next step: {advice}.", secret)
    kwargs: dict[str, Any] = {
        "status_code": status,
        "request_id": response.headers.get("x-request-id"),
        "code": code,
        "type": error_type,
        "param": param,
        "body": _scrub_tree(body, secret) if isinstance(body, Mapping) else None,
    }
    if cls is ModerationError:
        stage, categories = _moderation_details(body, detail)
        text = _moderation_text(text, stage, categories)
        return ModerationError(text, stage=stage, categories=categories, **kwargs)
    return cls(text, **kwargs)


def _redirect_error(response: httpx.Response, secret: str | None) -> RedirectError:
    """The error for a 3xx answer to an API call: never followed, it would carry the key."""
    raw = response.headers.get("location")
    location = _scrub(str(response.url.join(raw)), secret) if raw else None
    where = _scrub(str(response.url.copy_with(query=None)), secret)
    target = f"a redirect to {location}" if location else "a redirect without a Location"
    text = (
        f"HTTP {response.status_code}: {where} answered with {target}. API calls never follow "
        "redirects (OpenAI's API does not redirect), so no credentials were sent there. "
        "Next step: if you trust that address, set base_url (or azure_endpoint) to it."
    )
    return RedirectError(
        text,
        location=location,
        status_code=response.status_code,
        request_id=response.headers.get("x-request-id"),
    )


def _classify(
    status: int, code: str | None, message: str, param: str | None, model: str | None
) -> tuple[type[APIStatusError], str]:
    """The error class and the advice for an error response."""
    lowered = message.lower()
    if code in _QUOTA_ADVICE:
        return QuotaError, _QUOTA_ADVICE[code]
    if code in _MODERATION_CODES or (
        code == "image_generation_user_error" and ("safety" in lowered or "moderat" in lowered)
    ):
        return ModerationError, "rephrase the prompt or use other input images"
    if status == 401:
        return status_error_class(401), (
            "check OPENAI_API_KEY (or the api_key= you passed; for Azure the api-key and endpoint)"
        )
    if status == 403 and "verif" in lowered:
        return status_error_class(403), (
            "verify your organization at platform.openai.com/settings/organization/general "
            "(it takes effect within about 15 minutes), then retry"
        )
    if status == 403:
        return status_error_class(403), (
            f"check that your organization and project may use {model or 'this model'}"
        )
    if status == 404:
        return status_error_class(404), _not_found_advice(model, lowered)
    if status == 429:
        return RateLimitError, (
            "rate limit reached after retrying: wait a little, lower max_concurrency, or ask "
            "OpenAI for a higher limit"
        )
    if status >= 500:
        return status_error_class(status), "the server failed after retries; try again later"
    if status == 400:
        what = f"parameter {param!r}" if param else "request"
        return BadRequestError, f"fix the {what} as the message says and send again"
    return status_error_class(status), "see the message above"


def _not_found_advice(model: str | None, lowered_message: str) -> str:
    spec = _catalog_model(model)
    if spec is not None and spec.replacement and (spec.shut_down or spec.deprecated):
        notice = spec.status_message() or "no longer served"
        return f"{spec.name} is not served here ({notice}): use model={spec.replacement!r}"
    if model and "model" in lowered_message:
        known = ", ".join(m.name for m in catalog.list_models(include_shutdown=False))
        return f"this server does not know {model!r}; try one of {known}"
    return "check base_url (it should end in /v1) and the model name"


def _catalog_model(model: str | None) -> catalog.ModelSpec | None:
    if not model:
        return None
    try:
        return catalog.get_model(model)
    except ValidationError:
        return None


def _moderation_details(body: Any, detail: Mapping[str, Any]) -> tuple[str | None, list[str]]:
    raw = detail.get("moderation_details")
    if raw is None and isinstance(body, Mapping):
        raw = body.get("moderation_details")
    if isinstance(raw, Sequence) and not isinstance(raw, str):
        return None, [str(c) for c in raw]
    if not isinstance(raw, Mapping):
        return None, []
    stage = _str_or_none(raw.get("stage") or raw.get("moderation_stage"))
    found = raw.get("categories", raw.get("flagged_categories", ()))
    if isinstance(found, Mapping):
        return stage, [str(name) for name, flagged in found.items() if flagged]
    if isinstance(found, Sequence) and not isinstance(found, str):
        return stage, [str(name) for name in found]
    return stage, [str(found)] if found else []


def _moderation_text(text: str, stage: str | None, categories: Sequence[str]) -> str:
    facts = []
    if stage:
        facts.append(f"stage: {stage}")
    if categories:
        facts.append(f"categories: {', '.join(categories)}")
    return f"{text} ({'; '.join(facts)})" if facts else text


def _error_detail(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        return {}
    error = body.get("error")
    if isinstance(error, Mapping):
        return error
    if isinstance(error, str):
        return {"message": error}
    if isinstance(body.get("message"), str):
        return body
    return {}


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError, httpx.ResponseNotRead):
        return None


def _text_summary(response: httpx.Response) -> str:
    """A short, readable summary of a non-JSON error body (HTML pages included)."""
    try:
        text = response.text
    except (UnicodeDecodeError, httpx.ResponseNotRead):
        text = ""
    found = _HTML_TITLE.search(text)
    if found or "<html" in text[:500].lower():
        text = found.group(2) if found else _HTML_TAG.sub(" ", text)
        text = html.unescape(_HTML_TAG.sub(" ", text))
    text = " ".join(text.split())[:200]
    return text or response.reason_phrase or "no details given"


def _sentence(text: str) -> str:
    """`text` stripped, with a final full stop."""
    text = text.strip()
    return text if not text or text[-1] in ".!?" else text + "."


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _scrub(text: str, secret: str | None) -> str:
    if secret:
        text = text.replace(secret, "[redacted]")
    return _KEY_LIKE.sub("sk-[redacted]", text)


def _scrub_tree(value: Any, secret: str | None) -> Any:
    if isinstance(value, str):
        return _scrub(value, secret)
    if isinstance(value, Mapping):
        return {key: _scrub_tree(item, secret) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub_tree(item, secret) for item in value]
    return value


def _stream_error_event(event: StreamEvent, secret: str | None, request_id: str | None) -> Any:
    """The typed error for an ``error`` event inside a stream."""
    detail = _error_detail(event.raw)
    code = _str_or_none(detail.get("code"))
    message = _scrub(str(detail.get("message") or "error event in the stream"), secret)
    if code in _MODERATION_CODES or code in _QUOTA_ADVICE:
        status = 429 if code in _QUOTA_ADVICE else 400
        cls, advice = _classify(status, code, message, None, None)
        text = f"The stream reported: {_sentence(message)} Next step: {advice}."
        kwargs: dict[str, Any] = {
            "status_code": status,
            "request_id": request_id,
            "code": code,
            "body": event.raw,
        }
        if cls is ModerationError:
            stage, categories = _moderation_details(event.raw, detail)
            text = _moderation_text(text, stage, categories)
            return ModerationError(text, stage=stage, categories=categories, **kwargs)
        return cls(text, **kwargs)
    return StreamError(f"the stream reported an error: {message}; retry", request_id=request_id)


# =========================================================================== responses


#: Largest ``Content-Length`` trusted for preallocating a body (a lying header must not
#: allocate gigabytes); larger bodies grow past it as they arrive.
_MAX_PREALLOCATED_BODY = 512 * 1024 * 1024


class _BodyBuffer:
    """A successful response body, read into one ``bytearray`` sized from Content-Length.

    ``httpx.Response.read()`` keeps every chunk and then joins them: twice the body at its
    peak. Here each chunk is copied into place and dropped, and :meth:`take_text` hands the
    body over as text and releases the bytes, so ``json.loads`` never sees a second copy.
    Shared by the sync and async clients (only how chunks are awaited differs).
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._size = 0

    def start(self, response: httpx.Response) -> None:
        """Start (or restart, on a retry) the body of `response`."""
        self._buffer = bytearray(_announced_length(response))
        self._size = 0

    def add(self, chunk: bytes) -> None:
        """Append one decoded chunk (in place while it fits; the buffer grows past that)."""
        end = self._size + len(chunk)
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
    return min(int(raw), _MAX_PREALLOCATED_BODY) if raw.isdigit() else 0


@dataclasses.dataclass
class _Payload:
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


def _parse_payload(received: _BodyBuffer, request_id: str | None, secret: str | None) -> _Payload:
    """The JSON body of an images response -> its items, usage and creation time.

    Pure (shared by both clients). The body is taken out of `received` as text and that
    text is released as soon as ``json.loads`` returns, before any image is decoded.
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
    except _DECODE_PROBLEMS as exc:
        raise _translate(exc, secret=secret, request_id=request_id) from exc
    if not items:
        raise ResponseDecodeError(
            "the server answered without any image ('data' is empty); retry, or rephrase the "
            "prompt if this repeats",
            request_id=request_id,
        )
    return _Payload(
        items=items,
        usage=dict(usage) if isinstance(usage, Mapping) else None,
        created=created if isinstance(created, int) else None,
        request_id=request_id,
    )


def _decode_items(
    payload: _Payload, downloads: Mapping[int, bytes | bytearray]
) -> list[np.ndarray]:
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
        except (GPTImageError, *_DECODE_PROBLEMS) as exc:
            raise _translate(exc, request_id=payload.request_id) from exc
        del b64
        images.append(image)
    return images


def _request_id(response: httpx.Response) -> str | None:
    return response.headers.get("x-request-id")


def _json_body(response: httpx.Response, secret: str | None) -> Any:
    try:
        return response.json()
    except _DECODE_PROBLEMS as exc:
        request_id = response.headers.get("x-request-id")
        raise _translate(exc, secret=secret, request_id=request_id) from exc


def _history_store(history: Any) -> HistoryStore | None:
    if history is False:
        return None
    if history is None or history is True:
        return HistoryStore()
    if isinstance(history, HistoryStore):
        return history
    if isinstance(history, (str, os.PathLike)):
        return HistoryStore(history)
    raise ValidationError(
        f"history={history!r} is not accepted; pass None (./gptimage-outputs), False (off), "
        "a folder path or a HistoryStore",
        param="history",
        value=repr(history),
    )


def _given(**params: Any) -> dict[str, Any]:
    return {name: value for name, value in params.items() if value is not None}


@dataclasses.dataclass
class _Call:
    """One request on its way: what was built, what was reserved, when it started."""

    request: ImageRequest
    estimate: pricing.CostEstimate | None
    reserved_usd: float
    on_partial: PartialCallback | None
    started: float = dataclasses.field(default_factory=time.perf_counter)
    first_byte: float | None = None


class _StreamRun:
    """The state of one streamed response; pure except for the partial images it returns."""

    def __init__(self, client: _ClientBase[Any, Any], call: _Call, response: httpx.Response):
        self.client = client
        self.call = call
        self.request_id = response.headers.get("x-request-id")
        self.parser = ImageEventStream(call.request.operation)
        self.completed: list[StreamEvent] = []

    def feed(self, chunk: bytes) -> Iterator[StreamEvent]:
        """Events to hand out now (partials); completed ones are held until the end.

        A generator: the partials before an error (a malformed or ``error`` event) in the
        same chunk are handed out before the error is raised.
        """
        try:
            events = self.parser.feed(chunk)
        except GPTImageError as exc:
            raise _translate(exc, request_id=self.request_id) from exc.__cause__
        yield from self._sort(events)

    def finish(self) -> ImageResult:
        """The result of the completed events; StreamError when none arrived."""
        try:
            events = self.parser.finish()
        except GPTImageError as exc:
            raise _translate(exc, request_id=self.request_id) from exc.__cause__
        for _late_partial in self._sort(events):  # the result holds completed images only
            pass
        images = [event.image for event in self.completed if event.image is not None]
        usage = next((e.usage for e in reversed(self.completed) if e.usage), None)
        return self.client._make_result(
            self.call,
            images,
            usage=usage,
            revised=[_str_or_none(e.raw.get("revised_prompt")) for e in self.completed],
            created=next((e.raw.get("created_at") for e in self.completed), None),
            request_id=self.request_id,
        )

    def broken(self, exc: httpx.HTTPError) -> GPTImageError:
        """The StreamError for a transport failure while reading the body.

        One message: what broke (with httpx's detail), how far the stream got, and one
        next step.
        """
        error = _translate(exc, streaming=True, request_id=self.request_id)
        if not isinstance(error, StreamError):
            return error
        detail = _scrub(str(exc) or type(exc).__name__, self.client._secret)
        if isinstance(exc, httpx.TimeoutException):
            message = self.parser.incomplete_message(
                f"the stream stalled: no data within the read timeout ({detail})",
                advice="retry, or raise timeout= if the server is just slow",
            )
        else:
            message = self.parser.incomplete_message(f"the connection broke ({detail})")
        return StreamError(message, request_id=self.request_id)

    def completed_events(self, result: ImageResult) -> list[StreamEvent]:
        return [dataclasses.replace(event, result=result) for event in self.completed]

    def _sort(self, events: list[StreamEvent]) -> Iterator[StreamEvent]:
        """Yield partials, hold completed events, raise at an ``error`` event."""
        for event in events:
            if event.is_error:
                raise _stream_error_event(event, self.client._secret, self.request_id)
            if event.is_completed:
                self.completed.append(event)
            else:
                yield event


# =========================================================================== clients


class _ClientBase(Generic[ResultT, StreamT]):
    """Configuration and the pure steps shared by the sync and async clients."""

    _http: Any

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        backend: str = "auto",
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = 2,
        history: Any = None,
        organization: str | None = None,
        project: str | None = None,
        azure_endpoint: str | None = None,
        azure_deployment: str | None = None,
        api_version: str | None = None,
        budget_usd: float | None = None,
        http_client: Any = None,
    ) -> None:
        if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
            raise ValidationError(
                f"max_retries must be an integer >= 0, got {max_retries!r}",
                param="max_retries",
                value=max_retries,
            )
        if budget_usd is not None and (
            isinstance(budget_usd, bool)
            or not isinstance(budget_usd, (int, float))
            or not budget_usd >= 0
        ):
            raise ValidationError(
                f"budget_usd must be a number >= 0 (USD), got {budget_usd!r}",
                param="budget_usd",
                value=budget_usd,
            )
        self._backend: Backend = resolve_backend(
            backend,
            api_key,
            base_url,
            organization=organization,
            project=project,
            azure_endpoint=azure_endpoint,
            azure_deployment=azure_deployment,
            api_version=api_version,
        )
        self._secret = _secret_of(self._backend)
        self.retry_policy = retry.RetryPolicy(max_retries=max_retries)
        self.history = _history_store(history)
        self.budget_usd = budget_usd
        self._spent_usd = 0.0
        self._reserved_usd = 0.0
        self._budget_lock = threading.Lock()
        self._timeout = _resolve_timeout(timeout, injected=http_client is not None)
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else self._new_http_client()

    def _new_http_client(self) -> Any:
        raise NotImplementedError

    # ------------------------------------------------------------------ description

    @property
    def backend(self) -> str:
        """``"openai"``, ``"compatible"``, ``"azure"`` or ``"offline"``."""
        return self._backend.name

    @property
    def base_url(self) -> str:
        """The API root requests go to (Azure: the resource endpoint)."""
        return self._backend.base_url

    @property
    def max_retries(self) -> int:
        return self.retry_policy.max_retries

    @property
    def spent_usd(self) -> float:
        """What this client's requests cost so far (actual where usage was reported)."""
        return self._spent_usd

    def __repr__(self) -> str:
        key = "set" if self._backend.has_key else "not set"
        return (
            f"{type(self).__name__}(backend={self.backend!r}, base_url={self.base_url!r}, "
            f"api_key={key}, max_retries={self.max_retries}, history={self.history!r})"
        )

    # ------------------------------------------------------------------ public methods

    def generate(
        self,
        prompt: str,
        *,
        model: str = DEFAULT_MODEL,
        n: int = 1,
        size: str | None = None,
        quality: str | None = None,
        background: str | None = None,
        output_format: str | None = None,
        output_compression: int | None = None,
        moderation: str | None = None,
        style: str | None = None,
        partial_images: int = 0,
        on_partial: PartialCallback | None = None,
        **extra: Any,
    ) -> ResultT:
        """Generate images from a prompt.

        Parameters
        ----------
        prompt : str
        model : str
            A catalog name or alias (``list_models()``).
        n, size, quality, background, output_format, output_compression, moderation, style
            As in OpenAI's API; None = the server's default. Checked against the catalog
            before anything is sent.
        partial_images : int
            1-3 streams previews (``stream=true``); each costs 100 output tokens.
        on_partial : callable, optional
            ``on_partial(index, image)`` for each preview; ``image`` is ``(H, W, 3|4)``
            uint8. The async client awaits it when it returns an awaitable.
        **extra
            Other catalog parameters (``user``, ``seed``, ``response_format``) and client
            options (``upload_format``, ``downscale``, ``stream``).

        Returns
        -------
        ImageResult
            Images as ``(H, W, 3|4)`` uint8 arrays, already saved to the history store
            (the async client returns an awaitable of it).
        """
        params = _given(
            prompt=prompt,
            n=None if n == 1 else n,
            size=size,
            quality=quality,
            background=background,
            output_format=output_format,
            output_compression=output_compression,
            moderation=moderation,
            style=style,
            partial_images=partial_images or None,
            **extra,
        )
        return self._execute("generate", model, params, on_partial)

    def edit(
        self,
        prompt: str,
        images: Any,
        *,
        mask: Any = None,
        model: str = DEFAULT_MODEL,
        n: int = 1,
        size: str | None = None,
        quality: str | None = None,
        background: str | None = None,
        output_format: str | None = None,
        output_compression: int | None = None,
        input_fidelity: str | None = None,
        partial_images: int = 0,
        on_partial: PartialCallback | None = None,
        **extra: Any,
    ) -> ResultT:
        """Edit one or several images (inpainting with `mask`).

        Parameters
        ----------
        prompt : str
        images
            One image input or a list; a ``(B, H, W, C)`` batch counts as B images. Arrays
            are ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``, uint8 or float in [0, 1]; also
            PIL images, paths, PNG/JPEG/WebP bytes, an ``ImageResult``.
        mask : optional
            ``(H, W)`` array, True/nonzero = replace, or an RGBA image/PNG with alpha 0 =
            replace; same size as the first image. Sent as OpenAI's RGBA PNG.
        model, n, size, quality, background, output_format, output_compression
            As for :meth:`generate`.
        input_fidelity : {"high", "low"}, optional
            Only for models that take it (not gpt-image-2).
        partial_images, on_partial, **extra
            As for :meth:`generate`.

        Returns
        -------
        ImageResult
        """
        params = _given(
            prompt=prompt,
            images=images,
            mask=mask,
            n=None if n == 1 else n,
            size=size,
            quality=quality,
            background=background,
            output_format=output_format,
            output_compression=output_compression,
            input_fidelity=input_fidelity,
            partial_images=partial_images or None,
            **extra,
        )
        return self._execute("edit", model, params, on_partial)

    def variations(
        self,
        image: Any,
        *,
        model: str = DEFAULT_VARIATION_MODEL,
        n: int = 1,
        size: str | None = None,
        **extra: Any,
    ) -> ResultT:
        """Variations of one square PNG image (dall-e-2).

        Returns
        -------
        ImageResult
        """
        params = _given(images=image, n=None if n == 1 else n, size=size, **extra)
        return self._execute("variation", model, params, None)

    def stream_generate(
        self, prompt: str, *, model: str = DEFAULT_MODEL, partial_images: int = 2, **params: Any
    ) -> StreamT:
        """Stream a generation: partial-image events, then completed events.

        Takes :meth:`generate`'s parameters. Yields :class:`StreamEvent` objects; completed
        events carry ``.result``, the saved :class:`ImageResult`. A stream that ends without
        a completed event raises :class:`~gptimage_widgets.errors.StreamError`.
        """
        request_params = _given(prompt=prompt, partial_images=partial_images or None, **params)
        return self._prepared_stream("generate", model, {**request_params, "stream": True})

    def stream_edit(
        self,
        prompt: str,
        images: Any,
        *,
        model: str = DEFAULT_MODEL,
        partial_images: int = 2,
        **params: Any,
    ) -> StreamT:
        """Stream an edit; like :meth:`stream_generate` with :meth:`edit`'s parameters."""
        request_params = _given(
            prompt=prompt, images=images, partial_images=partial_images or None, **params
        )
        return self._prepared_stream("edit", model, {**request_params, "stream": True})

    # ------------------------------------------------------------------ per-flavour hooks

    def _execute(
        self, operation: str, model: str, params: dict[str, Any], on_partial: Any
    ) -> ResultT:
        raise NotImplementedError

    def _prepared_stream(self, operation: str, model: str, params: dict[str, Any]) -> StreamT:
        raise NotImplementedError

    # ------------------------------------------------------------------ shared steps

    def _prepare(
        self,
        operation: str,
        model: str,
        params: dict[str, Any],
        on_partial: PartialCallback | None = None,
    ) -> _Call:
        """Validate and build the request and reserve its estimated cost (nothing sent)."""
        request = build_request(model, operation, **params)
        estimate = self._estimate(request)
        reserved = self._reserve(request, estimate)
        return _Call(
            request=request, estimate=estimate, reserved_usd=reserved, on_partial=on_partial
        )

    def _estimate(self, request: ImageRequest) -> pricing.CostEstimate | None:
        p = request.params
        try:
            return pricing.estimate_cost(
                request.model,
                request.operation,
                size=p.get("size"),
                quality=p.get("quality"),
                n=int(p.get("n") or 1),
                prompt=str(p.get("prompt") or ""),
                reference_images=len(p.get("image_sizes") or ()),
                partial_images=request.partial_images,
            )
        except GPTImageError:
            return None

    def _reserve(self, request: ImageRequest, estimate: pricing.CostEstimate | None) -> float:
        if self.budget_usd is None or self.backend == "offline":
            return 0.0
        amount = estimate.high_usd if estimate is not None else 0.0
        with self._budget_lock:
            committed = self._spent_usd + self._reserved_usd
            if committed + amount > self.budget_usd + 1e-12:
                raise BudgetExceededError(
                    f"not sent: this {request.model} request may cost up to ${amount:.3f}, and "
                    f"${committed:.3f} of the ${self.budget_usd:.2f} budget is spent or in "
                    "flight; raise budget_usd= or lower n, quality or size"
                )
            self._reserved_usd += amount
        return amount

    def _settle(self, call: _Call, result: ImageResult | None) -> None:
        with self._budget_lock:
            self._reserved_usd = max(0.0, self._reserved_usd - call.reserved_usd)
            if result is not None and result.cost_usd:
                self._spent_usd += result.cost_usd

    def _headers(self, *, stream: bool = False) -> dict[str, str]:
        return {
            **self._backend.headers,
            "User-Agent": USER_AGENT,
            "Accept": "text/event-stream" if stream else "application/json",
        }

    def _timeout_kwargs(self) -> dict[str, Any]:
        return {} if self._timeout is None else {"timeout": self._timeout}

    def _api_request(self, call: _Call) -> httpx.Request:
        """The httpx request for `call` (built afresh for every attempt)."""
        request = call.request
        kwargs: dict[str, Any] = {
            "headers": self._headers(stream=request.stream),
            "params": dict(self._backend.query),
            **self._timeout_kwargs(),
        }
        if request.json is not None:
            kwargs["json"] = request.json
        else:
            kwargs["data"] = request.data
            kwargs["files"] = [part.as_httpx() for part in request.files]
        url = self._backend.url(request.path, request.model)
        built: httpx.Request = self._http.build_request("POST", url, **kwargs)
        return built

    def _download_request(self, url: str) -> httpx.Request:
        """A plain GET for a result URL: no API key goes to the storage host."""
        built: httpx.Request = self._http.build_request(
            "GET", url, headers={"User-Agent": USER_AGENT}, **self._timeout_kwargs()
        )
        return built

    def _models_request(self) -> httpx.Request:
        built: httpx.Request = self._http.build_request(
            "GET",
            self._backend.url("/models"),
            headers=self._headers(),
            params=dict(self._backend.query),
            **self._timeout_kwargs(),
        )
        return built

    def _failure(
        self,
        outcome: httpx.Response | httpx.HTTPError,
        model: str | None,
        response: httpx.Response | None = None,
    ) -> tuple[GPTImageError, float | None]:
        """Translate a failed attempt and read the server's requested delay.

        `response` is the response whose body failed to arrive, when there was one: its
        ``x-request-id`` goes on the connection error.
        """
        if isinstance(outcome, httpx.Response):
            error = _translate(outcome, model=model, secret=self._secret)
            return error, retry.parse_retry_after(outcome.headers)
        request_id = response.headers.get("x-request-id") if response is not None else None
        error = _translate(outcome, model=model, secret=self._secret, request_id=request_id)
        return error, None

    def _retry_delay(self, retries: int, error: GPTImageError, retry_after: float | None) -> float:
        """Seconds to wait before the next attempt; raises `error` when giving up."""
        delay = self.retry_policy.next_delay(retries, error, retry_after)
        if delay is None:
            raise error
        return delay

    def _make_result(
        self,
        call: _Call,
        images: list[np.ndarray],
        *,
        usage: dict[str, Any] | None,
        revised: list[str | None],
        created: Any,
        request_id: str | None,
    ) -> ImageResult:
        request = call.request
        cost, is_estimate = self._cost(call, usage)
        now = time.perf_counter()
        timings = {"total_s": now - call.started}
        if call.first_byte is not None:
            timings["first_byte_s"] = call.first_byte - call.started
        notes = list(request.notes)
        if self.backend == "offline":
            notes.append("offline backend: synthetic images, no cost")
        return ImageResult(
            images=images,
            model=request.model,
            operation=request.operation,
            request=dict(request.params),
            usage=usage,
            cost_usd=cost,
            cost_is_estimate=is_estimate,
            revised_prompts=revised,
            request_id=request_id,
            created=created if isinstance(created, int) else None,
            timings=timings,
            notes=notes,
        )

    def _cost(self, call: _Call, usage: Mapping[str, Any] | None) -> tuple[float | None, bool]:
        if self.backend == "offline":
            return 0.0, False
        if usage:
            try:
                actual = pricing.cost_from_usage(call.request.model, usage)
            except GPTImageError:
                actual = None
            if actual is not None:
                return actual, False
        return (call.estimate.usd if call.estimate else None), True

    def _result_from_payload(
        self, call: _Call, payload: _Payload, downloads: Mapping[int, bytes | bytearray]
    ) -> ImageResult:
        return self._make_result(
            call,
            _decode_items(payload, downloads),
            usage=payload.usage,
            revised=[_str_or_none(item.get("revised_prompt")) for item in payload.items],
            created=payload.created,
            request_id=payload.request_id,
        )

    def _save_now(self, result: ImageResult) -> ImageResult:
        """Write the result to the history store; a failing disk warns, never loses it."""
        if self.history is None:
            return result
        try:
            self.history.save(result)
        except (OSError, GPTImageError) as exc:
            result.notes.append(f"not saved to history: {exc}")
            warnings.warn(
                f"the images were NOT saved to {self.history!r} ({exc}); save them with "
                "result.save(folder)",
                RuntimeWarning,
                stacklevel=4,
            )
        return result


def _secret_of(backend: Backend) -> str | None:
    for name, value in backend.headers.items():
        if name.lower() == "authorization" and value.lower().startswith("bearer "):
            return value[7:] or None
        if name.lower() == "api-key":
            return value or None
    return None


def _resolve_timeout(timeout: Any, *, injected: bool) -> httpx.Timeout | None:
    if timeout is None:
        return None if injected else DEFAULT_TIMEOUT
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0:
        return httpx.Timeout(float(timeout), connect=min(5.0, float(timeout)))
    raise ValidationError(
        f"timeout must be seconds > 0 or an httpx.Timeout, got {timeout!r}",
        param="timeout",
        value=timeout,
    )


class ImageClient(_ClientBase[ImageResult, Iterator[StreamEvent]]):
    """Synchronous client for OpenAI's image endpoints (and compatible servers).

    Parameters
    ----------
    api_key, base_url : str, optional
        Default to ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``.
    backend : {"auto", "openai", "azure", "offline"}
        ``"auto"``: OpenAI when a key or base URL is set, else the embedded offline server.
    timeout : float or httpx.Timeout, optional
        Default ``httpx.Timeout(600, connect=5)``.
    max_retries : int
        Retries of 408/409/429/5xx and connection errors (MODELS.md policy); default 2.
    history : None, False, str, Path or HistoryStore
        Where results are saved before they are returned; None = ``./gptimage-outputs``,
        False = off.
    organization, project : str, optional
        ``OpenAI-Organization`` / ``OpenAI-Project`` headers.
    azure_endpoint, azure_deployment, api_version : str, optional
        For ``backend="azure"``.
    budget_usd : float, optional
        Refuse (``BudgetExceededError``, before sending) any request whose upper cost
        estimate would take :attr:`spent_usd` past this.
    http_client : httpx.Client, optional
        Use this client (tests: ``httpx.Client(transport=httpx.MockTransport(...))``); it is
        not closed by :meth:`close`.
    """

    _http: httpx.Client

    def _new_http_client(self) -> httpx.Client:
        return httpx.Client(timeout=DEFAULT_TIMEOUT, follow_redirects=False)

    def close(self) -> None:
        """Close the connection pool (unless it was passed in as `http_client`)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> ImageClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def refresh_model_status(self) -> list[str]:
        """Update catalog lifecycle status from ``GET /models`` (``shutdown_date``).

        Returns
        -------
        list of str
            The catalog models whose status changed.
        """
        response = self._send(self._models_request, stream=False, model=None)
        return apply_model_status(_json_body(response, self._secret))

    # ------------------------------------------------------------------ sync I/O

    def _execute(
        self, operation: str, model: str, params: dict[str, Any], on_partial: Any
    ) -> ImageResult:
        call = self._prepare(operation, model, params, on_partial)
        result: ImageResult | None = None
        try:
            if call.request.stream:
                result = self._collect(self._stream(call), on_partial)
            else:
                result = self._fetch(call)
            return result
        finally:
            self._settle(call, result)

    def _fetch(self, call: _Call) -> ImageResult:
        body = _BodyBuffer()
        response = self._send(
            lambda: self._api_request(call), stream=False, model=call.request.model, body=body
        )
        call.first_byte = time.perf_counter()
        payload = _parse_payload(body, _request_id(response), self._secret)
        downloads = {index: self._download(url) for index, url in payload.urls().items()}
        return self._save_now(self._result_from_payload(call, payload, downloads))

    def _download(self, url: str) -> bytearray:
        """The bytes at a result URL, read into one buffer like an API answer (retried alike)."""
        body = _BodyBuffer()
        self._send(
            lambda: self._download_request(url),
            stream=False,
            model=None,
            body=body,
            follow_redirects=True,
        )
        return body.take_bytes()

    @staticmethod
    def _collect(events: Iterator[StreamEvent], on_partial: PartialCallback | None) -> ImageResult:
        result = None
        for event in events:
            if event.is_partial and on_partial is not None and event.image is not None:
                on_partial(event.index, event.image)
            elif event.is_completed:
                result = event.result
        assert result is not None  # _stream raises StreamError otherwise
        return result

    def _prepared_stream(
        self, operation: str, model: str, params: dict[str, Any]
    ) -> Iterator[StreamEvent]:
        call = self._prepare(operation, model, params)
        completed: ImageResult | None = None
        try:
            for event in self._stream(call):
                completed = event.result if event.is_completed else completed
                yield event
        finally:
            self._settle(call, completed)

    def _stream(self, call: _Call) -> Iterator[StreamEvent]:
        response = self._send(
            lambda: self._api_request(call), stream=True, model=call.request.model
        )
        call.first_byte = time.perf_counter()
        run = _StreamRun(self, call, response)
        with contextlib.closing(response):
            try:
                for chunk in response.iter_bytes():
                    yield from run.feed(chunk)
            except httpx.HTTPError as exc:
                raise run.broken(exc) from exc
            result = run.finish()
        self._save_now(result)
        yield from run.completed_events(result)

    def _send(
        self,
        build: Callable[[], httpx.Request],
        *,
        stream: bool,
        model: str | None,
        body: _BodyBuffer | None = None,
        follow_redirects: bool = False,
    ) -> httpx.Response:
        """Send with retries; return a successful response.

        Its body is read unless `stream`; with `body`, a successful body is read into
        `body` instead of the response (a body cut mid-way is retried like any other).
        API calls never follow redirects, whatever the httpx client says: a 3xx becomes a
        :class:`RedirectError`, so the key never reaches another host. Only credential-free
        result downloads pass ``follow_redirects=True``.
        """
        for retries in itertools.count():
            outcome: httpx.Response | httpx.HTTPError
            response: httpx.Response | None = None
            try:
                outcome = response = self._http.send(
                    build(), stream=True, follow_redirects=follow_redirects
                )
                if body is not None and outcome.is_success and not stream:
                    body.start(outcome)
                    for chunk in outcome.iter_bytes():
                        body.add(chunk)
                elif not (stream and outcome.is_success):
                    outcome.read()
            except httpx.HTTPError as exc:
                outcome = exc
                if response is not None:
                    response.close()
            if isinstance(outcome, httpx.Response) and outcome.is_success:
                return outcome
            if isinstance(outcome, httpx.Response):
                outcome.close()
            error, retry_after = self._failure(outcome, model, response)
            try:
                delay = self._retry_delay(retries, error, retry_after)
            except GPTImageError as final:
                raise final from (outcome if isinstance(outcome, BaseException) else None)
            retry.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover


class AsyncImageClient(_ClientBase[Coroutine[Any, Any, ImageResult], AsyncIterator[StreamEvent]]):
    """Asynchronous client: :class:`ImageClient`'s methods as awaitables, plus concurrency.

    Takes :class:`ImageClient`'s parameters (``http_client`` is an ``httpx.AsyncClient``)
    and `max_concurrency`, the most requests in flight at once (default 8).
    ``await client.generate(...)``; ``async for event in client.stream_generate(...)``;
    ``await client.map([...])`` and ``await client.sweep(prompts, grid={...})`` run many.
    """

    _http: httpx.AsyncClient

    def __init__(self, *args: Any, max_concurrency: int = 8, **kwargs: Any) -> None:
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ValidationError(
                f"max_concurrency must be an integer >= 1, got {max_concurrency!r}",
                param="max_concurrency",
                value=max_concurrency,
            )
        super().__init__(*args, **kwargs)
        self.max_concurrency = max_concurrency
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._semaphores = weakref.WeakKeyDictionary()

    def _new_http_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=DEFAULT_TIMEOUT, follow_redirects=False)

    async def close(self) -> None:
        """Close the connection pool (unless it was passed in as `http_client`)."""
        if self._owns_http:
            await self._http.aclose()

    aclose = close

    async def __aenter__(self) -> AsyncImageClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def refresh_model_status(self) -> list[str]:
        """Async :meth:`ImageClient.refresh_model_status`."""
        response = await self._send(self._models_request, stream=False, model=None)
        return apply_model_status(_json_body(response, self._secret))

    # ------------------------------------------------------------------ many requests

    async def map(
        self,
        requests: Iterable[Mapping[str, Any]],
        *,
        return_exceptions: bool = True,
        progress: bool | Callable[[int, int, Any], Any] | None = None,
    ) -> list[Any]:
        """Run many requests concurrently (at most `max_concurrency` at once).

        Parameters
        ----------
        requests : iterable of Mapping
            Each ``{"operation": "generate"|"edit"|"variation" (default generate),
            "prompt": ..., "images": ..., "model": ..., **params}``.
        return_exceptions : bool
            True (default): a failed item's :class:`GPTImageError` takes its place in the
            list. False: the first failure cancels the rest and is raised.
        progress : bool or callable, optional
            True prints ``done/total`` to stderr; a callable gets ``(done, total, item)``.

        Returns
        -------
        list
            ``ImageResult`` (or the error) per request, in input order.
        """
        items = [dict(item) for item in requests]
        report = _progress_reporter(progress, len(items))

        async def run_one(item: dict[str, Any]) -> Any:
            try:
                outcome: Any = await self._call_from_mapping(item)
            except GPTImageError as exc:
                if not return_exceptions:
                    raise
                outcome = exc
            report(outcome)
            return outcome

        tasks = [asyncio.ensure_future(run_one(item)) for item in items]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def sweep(
        self,
        prompts: str | Sequence[str],
        grid: Mapping[str, Sequence[Any]] | None = None,
        *,
        operation: str = "generate",
        progress: bool | Callable[[int, int, Any], Any] | None = True,
        return_exceptions: bool = True,
        **common: Any,
    ) -> list[Any]:
        """Every prompt x every combination of `grid` values, concurrently.

        Parameters
        ----------
        prompts : str or sequence of str
        grid : Mapping of str to sequence, optional
            E.g. ``{"quality": ["low", "high"], "size": ["1024x1024", "1536x1024"]}``.
        operation : str
            ``"generate"`` (default) or ``"edit"`` (pass ``images=`` in `common`).
        progress, return_exceptions
            As for :meth:`map`.
        **common
            Parameters shared by every request (``model=``, ``n=``...).

        Returns
        -------
        list
            Results in order: prompts outer, grid combinations inner (``itertools.product``
            over the grid's keys in the order given). Each result's ``.request`` holds its
            parameters.
        """
        prompt_list = [prompts] if isinstance(prompts, str) else list(prompts)
        grid = dict(grid or {})
        combos = [
            dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())
        ]
        requests = [
            {**common, "operation": operation, "prompt": prompt, **combo}
            for prompt in prompt_list
            for combo in combos
        ]
        return await self.map(requests, return_exceptions=return_exceptions, progress=progress)

    def _call_from_mapping(self, item: dict[str, Any]) -> Coroutine[Any, Any, ImageResult]:
        operation = item.pop("operation", "generate")
        if operation == "generate":
            return self.generate(**item)
        if operation == "edit":
            return self.edit(**item)
        if operation in ("variation", "variations"):
            return self.variations(item.pop("images", item.pop("image", None)), **item)
        raise ValidationError(
            f"operation {operation!r} is not known; use 'generate', 'edit' or 'variation'",
            param="operation",
            value=operation,
        )

    # ------------------------------------------------------------------ async I/O

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.max_concurrency)
        return semaphore

    async def _execute(
        self, operation: str, model: str, params: dict[str, Any], on_partial: Any
    ) -> ImageResult:
        call = self._prepare(operation, model, params, on_partial)
        result: ImageResult | None = None
        try:
            if call.request.stream:
                result = await self._collect(self._stream(call), on_partial)
            else:
                async with self._semaphore():
                    result = await self._fetch(call)
            return result
        finally:
            self._settle(call, result)

    async def _fetch(self, call: _Call) -> ImageResult:
        body = _BodyBuffer()
        response = await self._send(
            lambda: self._api_request(call), stream=False, model=call.request.model, body=body
        )
        call.first_byte = time.perf_counter()
        payload = _parse_payload(body, _request_id(response), self._secret)
        urls = payload.urls()
        contents = await asyncio.gather(*(self._download(url) for url in urls.values()))
        result = self._result_from_payload(call, payload, dict(zip(urls, contents, strict=True)))
        return await asyncio.to_thread(self._save_now, result)

    async def _download(self, url: str) -> bytearray:
        """Async :meth:`ImageClient._download`."""
        body = _BodyBuffer()
        await self._send(
            lambda: self._download_request(url),
            stream=False,
            model=None,
            body=body,
            follow_redirects=True,
        )
        return body.take_bytes()

    @staticmethod
    async def _collect(
        events: AsyncIterator[StreamEvent], on_partial: PartialCallback | None
    ) -> ImageResult:
        result = None
        async for event in events:
            if event.is_partial and on_partial is not None and event.image is not None:
                outcome = on_partial(event.index, event.image)
                if inspect.isawaitable(outcome):
                    await outcome
            elif event.is_completed:
                result = event.result
        assert result is not None  # _stream raises StreamError otherwise
        return result

    async def _stream(self, call: _Call) -> AsyncIterator[StreamEvent]:
        async with self._semaphore():
            response = await self._send(
                lambda: self._api_request(call), stream=True, model=call.request.model
            )
            call.first_byte = time.perf_counter()
            run = _StreamRun(self, call, response)
            try:
                try:
                    async for chunk in response.aiter_bytes():
                        for event in run.feed(chunk):
                            yield event
                except httpx.HTTPError as exc:
                    raise run.broken(exc) from exc
                result = run.finish()
            finally:
                await response.aclose()
        await asyncio.to_thread(self._save_now, result)
        for event in run.completed_events(result):
            yield event

    async def _prepared_stream(
        self, operation: str, model: str, params: dict[str, Any]
    ) -> AsyncIterator[StreamEvent]:
        # validation errors surface on the first step of `async for`, like every other error
        call = self._prepare(operation, model, params)
        completed: ImageResult | None = None
        try:
            async for event in self._stream(call):
                completed = event.result if event.is_completed else completed
                yield event
        finally:
            self._settle(call, completed)

    async def _send(
        self,
        build: Callable[[], httpx.Request],
        *,
        stream: bool,
        model: str | None,
        body: _BodyBuffer | None = None,
        follow_redirects: bool = False,
    ) -> httpx.Response:
        """Async twin of :meth:`ImageClient._send` (same policy, awaited I/O)."""
        for retries in itertools.count():
            outcome: httpx.Response | httpx.HTTPError
            response: httpx.Response | None = None
            try:
                outcome = response = await self._http.send(
                    build(), stream=True, follow_redirects=follow_redirects
                )
                if body is not None and outcome.is_success and not stream:
                    body.start(outcome)
                    async for chunk in outcome.aiter_bytes():
                        body.add(chunk)
                elif not (stream and outcome.is_success):
                    await outcome.aread()
            except httpx.HTTPError as exc:
                outcome = exc
                if response is not None:
                    await response.aclose()
            if isinstance(outcome, httpx.Response) and outcome.is_success:
                return outcome
            if isinstance(outcome, httpx.Response):
                await outcome.aclose()
            error, retry_after = self._failure(outcome, model, response)
            try:
                delay = self._retry_delay(retries, error, retry_after)
            except GPTImageError as final:
                raise final from (outcome if isinstance(outcome, BaseException) else None)
            await retry.async_sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover


def _progress_reporter(
    progress: bool | Callable[[int, int, Any], Any] | None, total: int
) -> Callable[[Any], None]:
    """A callback counting finished items: prints to stderr (True) or calls `progress`."""
    done = 0
    failed = 0

    def report(item: Any) -> None:
        nonlocal done, failed
        done += 1
        failed += isinstance(item, BaseException)
        if callable(progress):
            progress(done, total, item)
        elif progress:
            tail = f", {failed} failed" if failed else ""
            end = "\n" if done == total else ""
            print(f"\r{done}/{total} done{tail}", end=end, file=sys.stderr, flush=True)

    return report
