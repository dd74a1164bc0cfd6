"""The offline server's opt-in request rate limit (``OfflineServer(rate_limit=4)``).

Owns: a token bucket over the image endpoints that allows ``rate`` requests per second
(bucket size ``burst``, default one second's worth) and what OpenAI sends with it
(https://platform.openai.com/docs/guides/rate-limits): ``x-ratelimit-limit-requests``,
``x-ratelimit-remaining-requests`` and ``x-ratelimit-reset-requests`` (time until the bucket
is full, as ``"250ms"`` / ``"1.5s"`` / ``"6m0s"``) on every image answer, and a 429
``rate_limit_exceeded`` with ``retry-after-ms`` and ``Retry-After`` (whole seconds, rounded
up) when the bucket is empty. The client side that reads these is
:mod:`gptimage_widgets.ratelimit`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from .responses import HTTPResponse, error_body, json_response

__all__ = ["RequestRateLimit", "format_duration"]


def format_duration(seconds: float) -> str:
    """``seconds`` the way OpenAI writes durations: ``"120ms"``, ``"1.5s"``, ``"6m0s"``."""
    if seconds < 1.0:
        return f"{math.ceil(seconds * 1000)}ms"
    minutes, rest = divmod(seconds, 60.0)
    rest_text = f"{rest:.3f}".rstrip("0").rstrip(".")
    return f"{int(minutes)}m{rest_text}s" if minutes else f"{rest_text}s"


class RequestRateLimit:
    """A thread-safe token bucket: `rate` requests per second, at most `burst` at once.

    Parameters
    ----------
    rate : float
        Requests per second (> 0).
    burst : int or None
        Bucket size (``x-ratelimit-limit-requests``); default ``max(1, round(rate))``.
    clock : callable
        Monotonic seconds; injectable for tests.
    """

    def __init__(
        self,
        rate: float,
        burst: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate_limit must be requests per second > 0, got {rate!r}")
        self.rate = float(rate)
        self.burst = burst if burst is not None else max(1, round(rate))
        self._clock = clock
        self._tokens = float(self.burst)
        self._at = clock()
        self._lock = threading.Lock()
        self.allowed = 0
        self.refused = 0

    def take(self) -> tuple[bool, list[tuple[str, str]]]:
        """Spend one token if there is one; return (allowed, headers to send)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            allowed = self._tokens >= 1.0
            if allowed:
                self._tokens -= 1.0
                self.allowed += 1
            else:
                self.refused += 1
            tokens = self._tokens
        headers = [
            ("x-ratelimit-limit-requests", str(self.burst)),
            ("x-ratelimit-remaining-requests", str(int(tokens))),
            ("x-ratelimit-reset-requests", format_duration((self.burst - tokens) / self.rate)),
        ]
        if not allowed:
            wait = (1.0 - tokens) / self.rate
            headers += [
                ("retry-after-ms", str(math.ceil(wait * 1000))),
                ("retry-after", str(math.ceil(wait))),
            ]
        return allowed, headers

    def refusal(self, headers: list[tuple[str, str]]) -> HTTPResponse:
        """The 429 ``rate_limit_exceeded`` answer, with `headers`."""
        response = json_response(
            429,
            error_body(
                f"Rate limit reached for requests: limit {self.rate:g} per 1s. "
                "Please try again in a moment.",
                type="requests",
                code="rate_limit_exceeded",
            ),
        )
        response.headers += headers
        return response
