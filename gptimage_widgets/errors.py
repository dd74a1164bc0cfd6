"""The one exception family of gptimage-widgets.

Every error a user can see is a :class:`GPTImageError`. Transport and parsing errors
(httpx, ``KeyError``, ``binascii.Error``, ``json.JSONDecodeError``) are translated into
this family at one boundary, :func:`gptimage_widgets.http_errors.translate`, with
``raise ... from`` so the cause is kept.

This module is pure: it imports neither httpx nor ipywidgets, so the core, the client,
the offline server and the widgets can all share it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "ConflictError",
    "GPTImageError",
    "InternalServerError",
    "ModelNotFoundError",
    "ModerationError",
    "NotFoundError",
    "PermissionDeniedError",
    "Problem",
    "QuotaError",
    "RateLimitError",
    "RedirectError",
    "ResponseDecodeError",
    "ResponseTooLargeError",
    "StreamError",
    "UnprocessableEntityError",
    "ValidationError",
    "status_error_class",
]


class GPTImageError(Exception):
    """Base class of every error raised by gptimage-widgets.

    Attributes
    ----------
    request_id : str or None
        The ``x-request-id`` of the HTTP exchange, when there was one.
    """

    request_id: str | None = None

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id

    def __str__(self) -> str:
        if self.request_id:
            return f"{self.message} (request id: {self.request_id})"
        return self.message


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class Problem:
    """One problem found by validation.

    Attributes
    ----------
    param : str
        The parameter at fault, by the client's name (``"size"``, ``"mask"``, ``"images[1]"``).
    value : Any
        The offending value (shortened in messages; never an image's pixels).
    message : str
        What is wrong and what is allowed, e.g. ``"quality 'ultra' is not accepted by
        gpt-image-2; use one of 'low', 'medium', 'high', 'auto'"``.
    allowed : tuple
        The allowed values when they are a finite set, else ``()``.
    """

    param: str
    value: Any
    message: str
    allowed: tuple[Any, ...] = field(default=())

    def __str__(self) -> str:
        return self.message


class ValidationError(GPTImageError, ValueError):
    """Bad input, found before anything is sent.

    Attributes
    ----------
    problems : list of Problem
        Every problem found, not only the first.
    """

    def __init__(
        self,
        problems: Sequence[Problem] | str,
        *,
        param: str = "",
        value: Any = None,
    ) -> None:
        if isinstance(problems, str):
            problems = [Problem(param=param, value=value, message=problems)]
        self.problems: list[Problem] = list(problems)
        if len(self.problems) == 1:
            message = self.problems[0].message
        else:
            lines = "\n".join(f"  - {p.message}" for p in self.problems)
            message = f"{len(self.problems)} problems:\n{lines}"
        super().__init__(message)

    @property
    def params(self) -> list[str]:
        """The names of the parameters at fault, in order of the problems."""
        return [p.param for p in self.problems]


class BudgetExceededError(GPTImageError):
    """The request would take the session past its budget; nothing was sent."""


# --------------------------------------------------------------------------- transport


class APIError(GPTImageError):
    """Base of every error that comes from talking to a server (mirrors the OpenAI SDK)."""


class APIConnectionError(APIError):
    """The server could not be reached, or the connection broke mid-response."""


class APITimeoutError(APIConnectionError):
    """The request timed out (connect, read or the whole stream)."""


class ResponseDecodeError(APIError):
    """The server answered, but its body could not be understood (bad JSON, base64, image)."""


class StreamError(ResponseDecodeError):
    """A streamed response ended without its ``completed`` event, or an event was malformed."""


class ResponseTooLargeError(ResponseDecodeError):
    """A response body (or one streamed event) grew past its byte limit; reading stopped there.

    The limit is on the decoded size, whatever the ``Content-Encoding``: a small compressed
    body that inflates to gigabytes is stopped at the limit. The connection is closed and
    the request is not retried.

    Attributes
    ----------
    received : int
        Decoded bytes that had arrived when reading stopped (at least `limit` + 1).
    limit : int
        The limit in bytes (see ``max_response_bytes`` on the clients).
    """

    def __init__(
        self, message: str, *, received: int, limit: int, request_id: str | None = None
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.received = received
        self.limit = limit


# --------------------------------------------------------------------------- HTTP status


class APIStatusError(APIError):
    """The server answered with an error status.

    Attributes
    ----------
    status_code : int
    code : str or None
        OpenAI's ``error.code`` (``"insufficient_quota"``, ``"moderation_blocked"``...).
    type : str or None
        OpenAI's ``error.type``.
    param : str or None
        OpenAI's ``error.param``.
    body : Mapping or None
        The decoded JSON body, when it was JSON.
    """

    status_code: int = 0

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        code: str | None = None,
        type: str | None = None,
        param: str | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id)
        if status_code is not None:
            self.status_code = status_code
        self.code = code
        self.type = type
        self.param = param
        self.body = body


class BadRequestError(APIStatusError):
    status_code = 400


class AuthenticationError(APIStatusError):
    status_code = 401


class PermissionDeniedError(APIStatusError):
    status_code = 403


class NotFoundError(APIStatusError):
    status_code = 404


class ModelNotFoundError(NotFoundError):
    """The server does not serve the model to this key (``model_not_found``).

    The model is retired there, or the key's organization or project was not granted it.
    Raised for OpenAI's 404 ``model_not_found`` and also for the 400 some gateways answer
    with the same code or OpenAI's sentence ("The model `X` does not exist or you do not
    have access to it."): a subclass of :class:`NotFoundError` only (not of
    ``BadRequestError``), with :attr:`status_code` the status actually received. The message
    names what to use instead (from the catalog).

    Attributes
    ----------
    model : str or None
        The model the request named (or the one the server's message names).
    """

    def __init__(self, message: str, *, model: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.model = model


class ConflictError(APIStatusError):
    status_code = 409


class UnprocessableEntityError(APIStatusError):
    status_code = 422


class RateLimitError(APIStatusError):
    status_code = 429


class InternalServerError(APIStatusError):
    status_code = 500


class RedirectError(APIStatusError):
    """The server answered an API call with a redirect (3xx); it was not followed.

    OpenAI's API never redirects, and following one would send the API key (``Authorization``
    or Azure's ``api-key``) to whatever host the answer names. Result downloads (DALL·E URLs)
    carry no credentials and do follow redirects.

    Attributes
    ----------
    location : str or None
        The ``Location`` the server pointed to (secrets redacted), when it gave one.
    """

    def __init__(self, message: str, *, location: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.location = location


class QuotaError(RateLimitError):
    """The account is out of quota or hit its billing limit; retrying will not help."""


class ModerationError(BadRequestError):
    """The prompt or an image was blocked by the safety system.

    Attributes
    ----------
    stage : str or None
        ``"input"`` or ``"output"`` when the server says which.
    categories : list of str
        The flagged categories, when the server lists them.
    """

    def __init__(
        self,
        message: str,
        *,
        stage: str | None = None,
        categories: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.stage = stage
        self.categories = list(categories)


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """The error class for an HTTP status (``InternalServerError`` for every 5xx)."""
    if status_code >= 500:
        return InternalServerError
    return _STATUS_CLASSES.get(status_code, APIStatusError)
