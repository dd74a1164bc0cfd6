"""Rate-limit pacing: the one home of what the client learns about a server's request rate.

Owns: parsing OpenAI's ``x-ratelimit-*`` durations (:func:`parse_duration`), the learned
allowed rate of one client, and when that client's next API request may be sent
(:class:`RatePacer`, shared by every request of one client, in any thread or event loop).

OpenAI sends ``x-ratelimit-limit-requests`` (the bucket's size), ``-remaining-requests`` and
``-reset-requests`` (time until the bucket is full again, e.g. ``"1s"``, ``"6m0s"``,
``"120ms"``) with every answer, and answers a request over the limit with 429
``rate_limit_exceeded`` plus ``retry-after-ms`` / ``Retry-After``
(https://platform.openai.com/docs/guides/rate-limits). From ``limit - remaining`` requests
taking ``reset`` seconds to refill, the pacer learns the refill rate; it then spaces requests
like a token bucket of that size (the "generic cell rate algorithm": a request may go at
``tat - tau``, where ``tat`` advances by ``1 / rate`` per request and ``tau`` is the burst
allowance). A 429 closes the bucket until the server's retry delay has passed.

Nothing is paced until the server has said something: an unlimited server (no headers, no
429) sees the client's full concurrency. The pacer decides; the sending layer
(:mod:`gptimage_widgets.transport`) sleeps, and :class:`~gptimage_widgets.attempts.Attempts`
decides whether a 429 is waited out here
(:meth:`RatePacer.waits_out`) or spends the per-call retry budget of
:mod:`gptimage_widgets.retry`.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_PATIENCE_S",
    "RatePacer",
    "parse_duration",
    "patient",
]

#: Seconds a request keeps waiting out 429 ``rate_limit_exceeded`` answers (from its first).
DEFAULT_PATIENCE_S = 600.0

_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|ns|h|m|s)")

#: Set by :func:`patient` (``map``/``sweep``): 429 ``rate_limit_exceeded`` is waited out.
_PATIENT: contextvars.ContextVar[bool] = contextvars.ContextVar("gptimage_patient", default=False)


def parse_duration(text: str | None) -> float | None:
    """Seconds in an ``x-ratelimit-reset-*`` value; None when absent or unreadable.

    Parameters
    ----------
    text : str or None
        A Go-style duration as OpenAI sends it (``"1s"``, ``"6m0s"``, ``"120ms"``,
        ``"1h2m3.5s"``, ``"8.64s"``), or a bare number of seconds (``"2"``).

    Returns
    -------
    float or None
        The duration in seconds (>= 0).
    """
    if text is None:
        return None
    text = text.strip().lower()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        return value if math.isfinite(value) and value >= 0 else None
    position, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != position:
            return None
        total += float(match[1]) * _UNIT_SECONDS[match[2]]
        position = match.end()
    return total if position == len(text) else None


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


@contextlib.contextmanager
def patient() -> Iterator[None]:
    """Within this block (``map``/``sweep``), 429 ``rate_limit_exceeded`` is waited out."""
    token = _PATIENT.set(True)
    try:
        yield
    finally:
        _PATIENT.reset(token)


@dataclass
class RatePacer:
    """When the next API request of one client may go, from what the server said.

    Thread-safe; the client's transport calls :meth:`reserve` before each API request,
    :meth:`observe` on each answer and :meth:`started` / :meth:`finished` around each.

    Attributes
    ----------
    enabled : bool
        False = the behaviour before pacing existed: no waiting for a slot, and every 429
        spends the per-call retry budget (``AsyncImageClient(rate_limit=False)``).
    patience_s : float
        How long one request keeps waiting out 429 ``rate_limit_exceeded`` answers.
    rate : float or None
        Learned requests per second (None until a server's headers tell).
    burst : int
        Learned bucket size (``x-ratelimit-limit-requests``; 1 until known).
    clock : callable
        Monotonic seconds; injectable for tests.
    """

    enabled: bool = True
    patience_s: float = DEFAULT_PATIENCE_S
    rate: float | None = None
    burst: int = 1
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    in_flight: int = 0
    waiting: int = 0
    limited: int = 0
    _tat: float = field(default=0.0, repr=False)
    _limit: int | None = field(default=None, repr=False)
    _strikes: int = field(default=0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ------------------------------------------------------------------ slots

    def reserve(self) -> float:
        """Take the next sending slot; return the seconds to wait for it (0 = go now)."""
        if not self.enabled:
            return 0.0
        with self._lock:
            now = self.clock()
            interval = 1.0 / self.rate if self.rate else 0.0
            tau = (self.burst - 1) * interval
            tat = max(self._tat, now)
            go_at = max(now, tat - tau)
            self._tat = tat + interval
            return go_at - now

    @contextlib.contextmanager
    def waiting_for_slot(self) -> Iterator[None]:
        """Count a request as waiting (for progress displays) while the block runs."""
        with self._lock:
            self.waiting += 1
        try:
            yield
        finally:
            with self._lock:
                self.waiting -= 1

    def started(self) -> None:
        with self._lock:
            self.in_flight += 1

    def finished(self) -> None:
        with self._lock:
            self.in_flight -= 1

    # ------------------------------------------------------------------ learning

    def observe(
        self, headers: Mapping[str, str], *, limited: bool, retry_after: float | None
    ) -> None:
        """Learn from one answer's headers.

        Parameters
        ----------
        headers : mapping of str to str
            The answer's headers (httpx ``Headers``, or a dict with lower-case keys).
        limited : bool
            The answer is a 429 ``rate_limit_exceeded``: no slot before `retry_after`.
        retry_after : float or None
            The server-directed delay in seconds (``retry.parse_retry_after``); without
            one, 429s in a row close the bucket for 0.5 s, 1 s, 2 s... (at most 8 s).
        """
        if not self.enabled:
            return
        limit = _int_header(headers, "x-ratelimit-limit-requests")
        remaining = _int_header(headers, "x-ratelimit-remaining-requests")
        reset = parse_duration(headers.get("x-ratelimit-reset-requests"))
        with self._lock:
            now = self.clock()
            if limit is not None and limit >= 1 and remaining is not None and reset:
                self._learn(now, limit, max(0, remaining), reset)
            if not limited:
                self._strikes = 0
                return
            self.limited += 1
            self._strikes += 1
            interval = 1.0 / self.rate if self.rate else 0.0
            if retry_after is None or retry_after <= 0:
                # no delay given: back off (0.5 s, doubling, at most 8 s) so as not to spin
                retry_after = max(interval, min(0.5 * 2.0 ** (self._strikes - 1), 8.0))
            self._tat = max(self._tat, now + retry_after + (self.burst - 1) * interval)

    def _learn(self, now: float, limit: int, remaining: int, reset: float) -> None:
        """``limit - remaining`` used requests refill in `reset` s: at most that rate.

        ``remaining`` is rounded down by the server, so each answer bounds the rate from
        above; the smallest bound seen (for the same limit) is kept.
        """
        used = limit - remaining
        if used <= 0:
            return
        bound = used / reset
        first = self.rate is None
        if limit != self._limit:
            self._limit, self.rate = limit, bound
        else:
            self.rate = min(bound, self.rate or bound)
        self.burst = limit
        if first:
            # trust `remaining` (requests still in flight may have used some of it: a
            # too-early send gets a 429, whose retry delay then closes the bucket)
            self._tat = max(self._tat, now + (limit - remaining) * (1.0 / self.rate))

    def waits_out(self, limited: bool, first_limited: float | None) -> bool:
        """Whether a 429 ``rate_limit_exceeded`` is waited out instead of spending a retry.

        Yes when pacing is on, inside ``map``/``sweep`` (:func:`patient`) or while the
        client has other requests under way (this one has :meth:`finished`), and the
        request's first 429 was less than :attr:`patience_s` ago.
        """
        if not (self.enabled and limited):
            return False
        if not (_PATIENT.get() or self.in_flight + self.waiting > 0):
            return False
        return first_limited is None or self.clock() - first_limited < self.patience_s

    def remaining_patience(self, first_limited: float) -> float:
        """Seconds left to wait out 429s for a request first limited at `first_limited`."""
        return self.patience_s - (self.clock() - first_limited)
