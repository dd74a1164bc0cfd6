"""One call's attempts: what each answer means and what the send loop does next.

Owns the decisions of the send loops (:meth:`SyncTransport.send
<gptimage_widgets.transport.SyncTransport.send>` and its async twin), made once for both:
counting attempts; the sending slot an API call waits for (the client's
:class:`~gptimage_widgets.ratelimit.RatePacer`) and what the pacer hears of each answer; a
failed attempt's typed error (:func:`gptimage_widgets.http_errors.translate`, the one
boundary) and server-directed delay; whether it is waited out as a 429, retried after the
:class:`~gptimage_widgets.retry.RetryPolicy`'s delay, or raised; the WARNING line of each
retry. The loops themselves only send, read, close and sleep (awaited or not).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, TypeAlias, TypeGuard

import httpx

from . import retry
from .errors import GPTImageError, RateLimitError
from .http_errors import translate
from .redact import redact
from .responses import request_id_of

if TYPE_CHECKING:
    from .transport import Transport

__all__ = ["Attempts"]

#: Retries are logged here (WARNING: visible in a notebook without any logging setup); the
#: name is the one the docs give (the sending layer's), whichever module logs.
logger = logging.getLogger("gptimage_widgets.transport")

#: A failed attempt's typed error and the server-directed delay (Retry-After), if any.
Failed: TypeAlias = tuple[GPTImageError, float | None]


class Attempts:
    """One call's state across its attempts, and the decision after each.

    Parameters
    ----------
    transport : Transport
        The sending client's transport (retry policy, pacer, backend, API key).
    model : str or None
        The call's model; None for result downloads and ``GET /models``, which are not paced.
    secrets : tuple of str or None
        More values no message may show (a call's secret-named extra headers).

    Attributes
    ----------
    paced : bool
        An API call with pacing on: it waits for slots and reports answers to the pacer.
    number : int
        Attempts started so far (1 during the first).
    retries : int
        Retries spent from the policy's budget.
    slept : float
        The retry delay just waited (0 after a rate-limit wait); the next slot is not waited for.
    limited_since : float or None
        The pacer-clock time of the first 429 ``rate_limit_exceeded`` (None before).
    """

    __slots__ = (
        "limited_since",
        "model",
        "number",
        "paced",
        "retries",
        "secrets",
        "slept",
        "transport",
    )

    def __init__(
        self, transport: Transport, model: str | None, secrets: tuple[str | None, ...] = ()
    ) -> None:
        self.transport = transport
        self.model = model
        self.secrets = secrets
        self.paced = transport.pacer.enabled and model is not None
        self.number = 0
        self.retries = 0
        self.slept = 0.0
        self.limited_since: float | None = None

    # ------------------------------------------------------------------ each attempt

    def next_slot(self) -> float:
        """Start the next attempt; the seconds to wait for its sending slot (0 unless paced).

        Right after a retry delay (:attr:`slept`) the slot is taken without waiting: the
        retry policy has already chosen how long this call waits.
        """
        self.number += 1
        if not self.paced:
            return 0.0
        pacer = self.transport.pacer
        pacer.started()
        wait = pacer.reserve()
        return 0.0 if self.slept else wait

    def succeeded(self, outcome: httpx.Response | httpx.HTTPError) -> TypeGuard[httpx.Response]:
        """True when `outcome` is a success (the pacer, if pacing, hears of it)."""
        if not isinstance(outcome, httpx.Response) or not outcome.is_success:
            return False
        if self.paced:
            self.transport.pacer.observe(outcome.headers, limited=False, retry_after=None)
            self.transport.pacer.finished()
        return True

    def retry_delay(
        self, outcome: httpx.Response | httpx.HTTPError, response: httpx.Response | None
    ) -> float | None:
        """The delay to sleep after a failed attempt; None when a 429 is waited out.

        `response` is the response whose body failed to arrive, when there was one: its
        ``x-request-id`` goes on the connection error.

        Raises
        ------
        GPTImageError
            The attempt's typed error, when it is not retried.
        """
        failed = self._failure(outcome, response)
        if self.paced and self._waits_out(outcome, failed):
            self.slept = 0.0
            return None
        self.slept = self._next_wait(outcome, failed)
        self.retries += 1
        return self.slept

    def aborted(self, error: BaseException, response: httpx.Response | None) -> None:
        """An attempt ended in `error` (not an httpx error): free the slot, name the request.

        A kit error raised while the body was read gets the response's ``x-request-id``.
        """
        if self.paced:
            self.transport.pacer.finished()
        if isinstance(error, GPTImageError) and response is not None:
            error.request_id = error.request_id or request_id_of(response)

    # ------------------------------------------------------------------ decisions

    def _secrets(self) -> tuple[str | None, ...]:
        return (*self.transport.secrets, *self.secrets)

    def _failure(
        self, outcome: httpx.Response | httpx.HTTPError, response: httpx.Response | None
    ) -> Failed:
        """The typed error of a failed attempt and the server-directed delay, if any."""
        backend = self.transport.backend.name
        if isinstance(outcome, httpx.Response):
            error = translate(outcome, model=self.model, secrets=self._secrets(), backend=backend)
            return error, retry.parse_retry_after(outcome.headers)
        error = translate(
            outcome,
            model=self.model,
            secrets=self._secrets(),
            request_id=request_id_of(response),
            backend=backend,
        )
        return error, None

    def _next_wait(self, outcome: httpx.Response | httpx.HTTPError, failed: Failed) -> float:
        """Seconds to wait before retrying; raises the attempt's typed error if not retried."""
        error, retry_after = failed
        delay = self.transport.policy.next_delay(self.retries, error, retry_after)
        if delay is None:
            raise error from (outcome if isinstance(outcome, BaseException) else None)
        self._log_retry(outcome, error, delay)
        return delay

    def _waits_out(self, outcome: httpx.Response | httpx.HTTPError, failed: Failed) -> bool:
        """Tell the pacer about a failed paced attempt; True when a 429 is waited out.

        A 429 ``rate_limit_exceeded`` (not ``insufficient_quota``) in ``map``/``sweep`` or
        while other requests of the client are under way waits for a new slot within the
        pacer's patience, without spending the retry budget.
        """
        pacer = self.transport.pacer
        error, retry_after = failed
        limited = isinstance(error, RateLimitError) and retry.is_retryable(error)
        if isinstance(outcome, httpx.Response):
            pacer.observe(outcome.headers, limited=limited, retry_after=retry_after)
        pacer.finished()
        if limited and self.limited_since is None:
            self.limited_since = pacer.clock()
        since = self.limited_since  # None: not limited, so not waited out
        if since is None or not pacer.waits_out(limited, since):
            return False
        patience = pacer.remaining_patience(since)
        if retry_after is not None and retry_after > patience:
            return False
        logger.info("rate limited (HTTP 429); waiting for the next free slot")
        return True

    def _log_retry(
        self, outcome: httpx.Response | httpx.HTTPError, error: Exception, delay: float
    ) -> None:
        """One WARNING per retry: what was sent, which attempt failed, why, and the wait.

        Never a header or a body: only the method, the URL without its query, the status
        (or the exception type) and the typed error's class.
        """
        if isinstance(outcome, httpx.Response):
            why = f"HTTP {outcome.status_code}, {type(error).__name__}"
        else:
            why = f"{type(outcome).__name__}, {type(error).__name__}"
        logger.warning(
            "%s: attempt %d of %d failed (%s); retrying in %.2f s",
            redact(_target(outcome), self._secrets()),
            self.retries + 1,
            self.transport.policy.max_retries + 1,
            why,
            delay,
        )


def _target(outcome: httpx.Response | httpx.HTTPError) -> str:
    """``"POST https://host/v1/images/generations"`` (no query) of a failed attempt."""
    try:
        request = outcome.request
    except RuntimeError:
        return "request"
    return f"{request.method} {request.url.copy_with(query=None)}"
