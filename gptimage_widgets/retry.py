"""Retry policy for the image endpoints: the one home of what is retried and how long to wait.

It follows OpenAI's guidance (https://platform.openai.com/docs/guides/error-codes and the
official SDK's retry rules, https://github.com/openai/openai-python#retries).

Retried: HTTP 408, 409, 429 and every 5xx, plus connection errors and timeouts.
Never retried: 400, 401, 403 and the error codes that retrying cannot fix
(``insufficient_quota``, ``billing_hard_limit_reached``, ``moderation_blocked``,
``image_generation_user_error``), whatever their status.

Backoff before retry ``n`` (0-based) is ``min(0.5 * 2**n, 8)`` seconds minus up to 25 %
jitter. A server-directed delay (``retry-after-ms``, then ``Retry-After`` in seconds or as
an HTTP date) is honoured when it is at most 120 s; a longer one means "not now", so the
error is raised at once instead of blocking the caller for minutes (the OpenAI SDK does
the same).

The decision is a pure function (:meth:`RetryPolicy.next_delay`); the sending layer
(:mod:`gptimage_widgets.attempts`, for both loops of :mod:`gptimage_widgets.transport`)
asks it after each failed attempt, logs every retry on
the ``gptimage_widgets.transport`` logger (attempt, status or exception, wait) and counts
the attempts into ``ImageResult.timings["attempts"]``; its sync and async loops only differ
in how they sleep. Tests patch the module attributes :data:`sleep` / :data:`async_sleep`
(or pass their own functions) so nothing waits.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import email.utils
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    GPTImageError,
    PermissionDeniedError,
)

__all__ = [
    "MAX_RETRY_AFTER_S",
    "NON_RETRYABLE_CODES",
    "RETRYABLE_STATUSES",
    "RetryPolicy",
    "async_sleep",
    "is_retryable",
    "parse_retry_after",
    "sleep",
]

#: Sleep functions used by the client's retry loops; patch these in tests.
sleep: Callable[[float], None] = time.sleep
async_sleep = asyncio.sleep

RETRYABLE_STATUSES: frozenset[int] = frozenset({408, 409, 429})
NON_RETRYABLE_CODES: frozenset[str] = frozenset(
    {
        "insufficient_quota",
        "billing_hard_limit_reached",
        "moderation_blocked",
        "image_generation_user_error",
    }
)
MAX_RETRY_AFTER_S = 120.0
_NEVER_RETRIED = (BadRequestError, AuthenticationError, PermissionDeniedError)


def is_retryable(error: GPTImageError) -> bool:
    """Whether an already-translated error may be retried under this module's policy.

    Parameters
    ----------
    error : GPTImageError
        The error the attempt ended with (see ``http_errors.translate``).

    Returns
    -------
    bool
        True for connection errors/timeouts and statuses 408, 409, 429, 5xx, unless the
        error code is one that retrying cannot fix.
    """
    if isinstance(error, APIConnectionError):
        return True
    if not isinstance(error, APIStatusError) or isinstance(error, _NEVER_RETRIED):
        return False
    if error.code in NON_RETRYABLE_CODES:
        return False
    status = error.status_code
    return status in RETRYABLE_STATUSES or status >= 500


def parse_retry_after(
    headers: Mapping[str, str] | None, *, now: _dt.datetime | None = None
) -> float | None:
    """The server-directed delay in seconds, or None when the headers give none.

    Parameters
    ----------
    headers : mapping of str to str, optional
        Response headers; keys are matched case-insensitively via ``.get`` on httpx's
        ``Headers`` (pass lower-case keys when using a plain dict).
    now : datetime, optional
        The current time (aware, UTC) for ``Retry-After`` given as an HTTP date.

    Returns
    -------
    float or None
        ``retry-after-ms / 1000`` if present and numeric, else ``Retry-After`` as seconds
        (a number or an HTTP date, measured from `now`, never negative).
    """
    if not headers:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        seconds = _parse_float(value)
        if seconds is not None:
            return seconds / divisor
    value = headers.get("retry-after")
    return _seconds_until_http_date(value, now) if value else None


def _parse_float(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _seconds_until_http_date(text: str, now: _dt.datetime | None) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return max(0.0, (when - now).total_seconds())


@dataclass
class RetryPolicy:
    """When and how long to wait before retrying a failed request.

    Attributes
    ----------
    max_retries : int
        Retries after the first attempt (default 2, so at most 3 attempts).
    initial_delay_s, max_delay_s : float
        Backoff ``min(initial * 2**n, max)`` seconds before retry ``n`` (0-based).
    jitter : float
        Up to this fraction is subtracted at random from the backoff (0.25 = 25 %).
    random : callable
        Returns a float in [0, 1); injectable for deterministic tests.
    """

    max_retries: int = 2
    initial_delay_s: float = 0.5
    max_delay_s: float = 8.0
    jitter: float = 0.25
    random: Callable[[], float] = field(default=random.random, repr=False)

    def backoff(self, retry_index: int) -> float:
        """Exponential backoff with jitter, in seconds, before retry `retry_index` (0-based)."""
        base = min(self.initial_delay_s * 2.0 ** min(retry_index, 64), self.max_delay_s)
        return base * (1.0 - self.jitter * self.random())

    def next_delay(
        self, retry_index: int, error: GPTImageError, retry_after: float | None = None
    ) -> float | None:
        """Seconds to wait before the next attempt, or None to give up and raise `error`.

        Parameters
        ----------
        retry_index : int
            Number of retries already made (0 after the first failed attempt).
        error : GPTImageError
            The translated error of the failed attempt.
        retry_after : float, optional
            The server-directed delay from :func:`parse_retry_after`.
        """
        if retry_index >= self.max_retries or not is_retryable(error):
            return None
        if retry_after is not None and retry_after > MAX_RETRY_AFTER_S:
            return None
        if retry_after is not None and retry_after > 0:
            return retry_after
        return self.backoff(retry_index)
