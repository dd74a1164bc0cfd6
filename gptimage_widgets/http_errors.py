"""THE boundary where failures become the :mod:`~gptimage_widgets.errors` family.

Owns: mapping an httpx exception, an error (or redirect) response, a decoding problem or a
stream's ``error`` event to a typed :class:`~gptimage_widgets.errors.GPTImageError` with one
message that says what happened and the next step (status -> class, OpenAI error codes ->
quota/moderation errors, ``model_not_found`` -> :class:`~gptimage_widgets.errors.ModelNotFoundError`
naming the replacement from :func:`gptimage_widgets.catalog.unavailable_model_hint`, advice
per status). Every message and error body passes through
:mod:`gptimage_widgets.redact`, so no key reaches an exception.

Used by the sending layer (:mod:`gptimage_widgets.transport`) and the response decoding
(:mod:`gptimage_widgets.responses`); callers ``raise translate(...) from cause``.
"""

from __future__ import annotations

import binascii
import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from . import catalog
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    BadRequestError,
    GPTImageError,
    ModelNotFoundError,
    ModerationError,
    QuotaError,
    RateLimitError,
    RedirectError,
    ResponseDecodeError,
    StreamError,
    ValidationError,
    status_error_class,
)
from .redact import redact, redact_tree

__all__ = [
    "DECODE_PROBLEMS",
    "DeadlineExceeded",
    "error_detail",
    "str_or_none",
    "stream_error_event",
    "translate",
]

#: Exceptions that mean "the body could not be understood" while decoding a response
#: (``RecursionError``: JSON nested deeper than Python's parser goes; ``UnicodeDecodeError``
#: is a ``ValueError``).
DECODE_PROBLEMS = (ValueError, KeyError, TypeError, IndexError, binascii.Error, RecursionError)


class DeadlineExceeded(httpx.TimeoutException):
    """An attempt ran past its total timeout (connect to last byte; see ``total_timeout``).

    Raised by the sending layer like httpx's own timeouts, and translated like them into
    :class:`~gptimage_widgets.errors.APITimeoutError` (also while a stream is read).
    """


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
#: OpenAI's sentence for a model the key cannot use ("The model `gpt-image-1.5` does not
#: exist or you do not have access to it."); gateways repeat it, sometimes with a 400.
_MODEL_NOT_FOUND = re.compile(r"\bthe model [`'\"]?([^`'\"\s]+?)[`'\"]? does not exist", re.I)
_MODEL_NOT_FOUND_CODE = "model_not_found"
_HTML_TITLE = re.compile(r"<(title|h1)[^>]*>(.*?)</\1>", re.IGNORECASE | re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]+>")
Secrets = Sequence[str | None]


def translate(
    source: BaseException | httpx.Response,
    *,
    model: str | None = None,
    secrets: Secrets = (),
    request_id: str | None = None,
    streaming: bool = False,
    backend: str | None = None,
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
    secrets : sequence of str
        The API key (and any secret header value), removed from every message.
    request_id : str, optional
        ``x-request-id`` of the exchange (taken from the response when one is given).
    streaming : bool
        True when the body of a streamed response was being read: transport errors then
        become :class:`StreamError` (the stream was cut), not connection errors.
    backend : str, optional
        ``Backend.name`` of the exchange (``"openai"``, ``"azure"``...): whose shutdown
        dates a ``model_not_found`` message quotes (OpenAI's for any other backend).

    Returns
    -------
    GPTImageError
        To be raised by the caller with ``raise error from source``.
    """
    if isinstance(source, httpx.Response):
        return _status_error(source, model=model, secrets=secrets, backend=backend)
    if isinstance(source, GPTImageError):
        if request_id and not source.request_id:
            source.request_id = request_id
        return source
    if isinstance(source, httpx.HTTPError):
        message = redact(_transport_message(source, streaming), secrets)
        return _transport_class(source, streaming)(message, request_id=request_id)
    detail = redact(f"{type(source).__name__}: {source}", secrets)
    return ResponseDecodeError(
        f"the server's response could not be understood ({detail}); it may be truncated or "
        "not an OpenAI-compatible images API: check base_url, then retry",
        request_id=request_id,
    )


def _transport_class(exc: httpx.HTTPError, streaming: bool) -> type[GPTImageError]:
    if isinstance(exc, DeadlineExceeded):
        return APITimeoutError
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
    if isinstance(exc, DeadlineExceeded):
        return (
            f"{where} did not finish in time: {detail}; a server sending its answer a few "
            "bytes at a time cannot stretch it. Retry, or raise timeout= (a number bounds the "
            "whole attempt) or total_timeout= if the server is just slow"
        )
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
    response: httpx.Response, *, model: str | None, secrets: Secrets, backend: str | None = None
) -> APIStatusError:
    status = response.status_code
    if 300 <= status < 400:
        return _redirect_error(response, secrets)
    body = _json_or_none(response)
    detail = error_detail(body)
    message = str(detail.get("message") or "").strip() or _text_summary(response)
    code = str_or_none(detail.get("code"))
    error_type = str_or_none(detail.get("type"))
    param = str_or_none(detail.get("param"))
    cls, advice = _classify(status, code, message, param, model)
    text = redact(f"HTTP {status}: {_sentence(message)} Next step: {advice}.", secrets)
    kwargs: dict[str, Any] = {
        "status_code": status,
        "request_id": response.headers.get("x-request-id"),
        "code": code,
        "type": error_type,
        "param": param,
        "body": redact_tree(body, secrets) if isinstance(body, Mapping) else None,
    }
    if cls is ModerationError:
        stage, categories = _moderation_details(body, detail)
        text = _moderation_text(text, stage, categories)
        return ModerationError(text, stage=stage, categories=categories, **kwargs)
    unavailable = _unavailable_model(status, code, message, model)
    if unavailable is not None:
        advice = _unavailable_advice(unavailable, backend)
        text = redact(f"HTTP {status}: {_sentence(message)} Next step: {advice}.", secrets)
        return ModelNotFoundError(text, model=unavailable or None, **kwargs)
    return cls(text, **kwargs)


def _unavailable_model(
    status: int, code: str | None, message: str, model: str | None
) -> str | None:
    """The model a "this key cannot use the model" answer is about, else None.

    Such an answer is a 404 or 400 whose code is ``model_not_found`` or whose message is
    OpenAI's "The model `X` does not exist..." sentence. Returns the request's model, else
    the one the message names, else ``""`` (unknown).
    """
    if status not in (400, 404):
        return None
    named = _MODEL_NOT_FOUND.search(message)
    if code != _MODEL_NOT_FOUND_CODE and named is None:
        return None
    return model or (named.group(1) if named else "")


def _unavailable_advice(model: str, backend: str | None) -> str:
    """``"this key cannot use X (retired, or not granted ...): <catalog hint>"``."""
    if not model:
        return "this key cannot use the model (retired, or not granted): check the model name"
    where = backend if backend in catalog.LIFECYCLE_BACKENDS else "openai"
    hint = catalog.unavailable_model_hint(model, backend=where)
    return (
        f"this key cannot use {model} (retired, or not granted to its organization or "
        f"project): {hint}"
    )


def _redirect_error(response: httpx.Response, secrets: Secrets) -> RedirectError:
    """The error for a 3xx answer to an API call: never followed, it would carry the key."""
    raw = response.headers.get("location")
    location = redact(str(response.url.join(raw)), secrets) if raw else None
    where = redact(str(response.url.copy_with(query=None)), secrets)
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
    stage = str_or_none(raw.get("stage") or raw.get("moderation_stage"))
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


def error_detail(body: Any) -> Mapping[str, Any]:
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
    except (ValueError, RecursionError, httpx.ResponseNotRead):
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


def str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def stream_error_event(
    raw: Mapping[str, Any], secrets: Secrets, request_id: str | None
) -> GPTImageError:
    """The typed error for an ``error`` event (its decoded JSON `raw`) inside a stream."""
    detail = error_detail(raw)
    code = str_or_none(detail.get("code"))
    message = redact(str(detail.get("message") or "error event in the stream"), secrets)
    if code in _MODERATION_CODES or code in _QUOTA_ADVICE:
        status = 429 if code in _QUOTA_ADVICE else 400
        cls, advice = _classify(status, code, message, None, None)
        text = f"The stream reported: {_sentence(message)} Next step: {advice}."
        kwargs: dict[str, Any] = {
            "status_code": status,
            "request_id": request_id,
            "code": code,
            "body": redact_tree(raw, secrets),
        }
        if cls is ModerationError:
            stage, categories = _moderation_details(raw, detail)
            text = _moderation_text(text, stage, categories)
            return ModerationError(text, stage=stage, categories=categories, **kwargs)
        return cls(text, **kwargs)
    return StreamError(f"the stream reported an error: {message}; retry", request_id=request_id)
