"""What every request carries by default, and what one call may change of it.

Owns: the defaults (:data:`DEFAULT_TIMEOUT`, :data:`DEFAULT_TOTAL_TIMEOUT`, the
:data:`USER_AGENT` and :data:`ACCEPT_ENCODING` every API request sends); turning a ``timeout``
argument into an ``httpx.Timeout`` (:func:`resolve_timeout`) and ``timeout``/``total_timeout``
into the total seconds of one attempt (:func:`resolve_deadline`); the per-call escape hatches
(:class:`RequestOptions`: extra headers, query and body fields, timeout) and the form values of
extra body fields (:func:`form_fields`). Nothing here sends: that is
:mod:`gptimage_widgets.transport`, which re-exports these names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from ._version import __version__
from .errors import ValidationError
from .redact import is_secret_name

__all__ = [
    "ACCEPT_ENCODING",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOTAL_TIMEOUT",
    "NO_OPTIONS",
    "USER_AGENT",
    "RequestOptions",
    "form_fields",
    "resolve_deadline",
    "resolve_timeout",
]

DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=5.0)
#: The total time one attempt may take, connect to last byte, when ``timeout`` is not a
#: number: high-quality 4K images take 2-3 minutes, so 15 minutes leaves room for a slow
#: server while a stalled or trickling one cannot hold a call (or a kernel) for ever.
DEFAULT_TOTAL_TIMEOUT = 900.0
USER_AGENT = f"gptimage-widgets/{__version__}"
#: The compressions an API request accepts: the two whose decoded size the body reads can stop
#: within one network chunk (zlib inflates at most ~1,000x). Not brotli or zstd, which httpx
#: offers whenever their packages are installed and which inflate a small chunk to gigabytes
#: before it can be counted; an answer in an encoding the request did not ask for is refused
#: (:func:`gptimage_widgets.body_reads.refuse_unasked_encoding`).
ACCEPT_ENCODING = "gzip, deflate"


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
