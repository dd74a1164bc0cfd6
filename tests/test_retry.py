"""The retry policy (gptimage_widgets/retry.py) as a pure function, and visible retries:
what is retried, how long we wait, the log line per retry and the attempt count."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import io
import logging
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from gptimage_widgets import retry
from gptimage_widgets.client import AsyncImageClient, ImageClient
from gptimage_widgets.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    ModerationError,
    NotFoundError,
    PermissionDeniedError,
    QuotaError,
    RateLimitError,
    ResponseDecodeError,
    ValidationError,
    status_error_class,
)
from gptimage_widgets.retry import RetryPolicy, is_retryable, parse_retry_after

KEY = "sk-" + "test-FAKE-retry-0123456789"  # split so leak scanners see no key
SECRET_HEADER = "hdr-" + "secret-0123456789"


def status_error(status: int, code: str | None = None) -> APIStatusError:
    return status_error_class(status)("boom", status_code=status, code=code)


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_retryable_statuses(status: int) -> None:
    assert is_retryable(status_error(status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 415, 422])
def test_statuses_never_retried(status: int) -> None:
    assert not is_retryable(status_error(status))


@pytest.mark.parametrize(
    "code",
    [
        "insufficient_quota",
        "billing_hard_limit_reached",
        "moderation_blocked",
        "image_generation_user_error",
    ],
)
@pytest.mark.parametrize("status", [400, 429, 500])
def test_codes_never_retried_whatever_the_status(code: str, status: int) -> None:
    assert not is_retryable(status_error(status, code))


def test_typed_subclasses_follow_their_status() -> None:
    assert not is_retryable(QuotaError("out", status_code=429, code="insufficient_quota"))
    assert not is_retryable(ModerationError("no", status_code=400, code="moderation_blocked"))
    assert is_retryable(RateLimitError("slow down", status_code=429))
    assert is_retryable(ConflictError("busy", status_code=409))
    assert is_retryable(InternalServerError("oops", status_code=503))
    assert not is_retryable(BadRequestError("bad", status_code=400))
    assert not is_retryable(AuthenticationError("key", status_code=401))
    assert not is_retryable(PermissionDeniedError("verify", status_code=403))
    assert not is_retryable(NotFoundError("gone", status_code=404))


def test_connection_errors_retried_but_not_decode_or_validation_errors() -> None:
    assert is_retryable(APIConnectionError("refused"))
    assert is_retryable(APITimeoutError("slow"))
    assert not is_retryable(ResponseDecodeError("garbage"))
    assert not is_retryable(ValidationError("bad size"))


def test_backoff_schedule_without_jitter() -> None:
    policy = RetryPolicy(random=lambda: 0.0)
    assert [policy.backoff(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_backoff_full_jitter_removes_a_quarter() -> None:
    policy = RetryPolicy(random=lambda: 1.0)
    assert [policy.backoff(n) for n in range(5)] == [0.375, 0.75, 1.5, 3.0, 6.0]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 2000), r=st.floats(0.0, 0.999999))
def test_backoff_stays_within_bounds(n: int, r: float) -> None:
    delay = RetryPolicy(random=lambda: r).backoff(n)
    nominal = min(0.5 * 2.0**n, 8.0) if n < 64 else 8.0
    assert 0.75 * nominal <= delay <= nominal


def test_next_delay_gives_up_after_max_retries() -> None:
    policy = RetryPolicy(max_retries=2, random=lambda: 0.0)
    error = status_error(503)
    assert policy.next_delay(0, error) == 0.5
    assert policy.next_delay(1, error) == 1.0
    assert policy.next_delay(2, error) is None


def test_next_delay_zero_retries_never_retries() -> None:
    assert RetryPolicy(max_retries=0).next_delay(0, status_error(500)) is None


def test_next_delay_honours_server_delay_up_to_120_s() -> None:
    policy = RetryPolicy(random=lambda: 0.0)
    assert policy.next_delay(0, status_error(429), retry_after=7.5) == 7.5
    assert policy.next_delay(1, status_error(429), retry_after=120.0) == 120.0


def test_next_delay_refuses_server_delays_past_120_s() -> None:
    assert RetryPolicy().next_delay(0, status_error(429), retry_after=120.5) is None


def test_next_delay_ignores_zero_or_negative_server_delay() -> None:
    policy = RetryPolicy(random=lambda: 0.0)
    assert policy.next_delay(1, status_error(429), retry_after=0.0) == 1.0


def test_next_delay_never_retries_non_retryable_even_with_retry_after() -> None:
    error = status_error(429, "insufficient_quota")
    assert RetryPolicy().next_delay(0, error, retry_after=1.0) is None


def test_parse_retry_after_seconds_and_fractions() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after": " 1.5 "}) == 1.5


def test_parse_retry_after_ms_wins_over_seconds() -> None:
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25


def test_parse_retry_after_bad_ms_falls_back_to_seconds() -> None:
    assert parse_retry_after({"retry-after-ms": "soon", "retry-after": "2"}) == 2.0


def test_parse_retry_after_http_date() -> None:
    now = dt.datetime(2026, 11, 3, 12, 0, 0, tzinfo=dt.timezone.utc)
    later = email.utils.format_datetime(now + dt.timedelta(seconds=42), usegmt=True)
    assert parse_retry_after({"retry-after": later}, now=now) == 42.0


def test_parse_retry_after_http_date_in_the_past_is_zero() -> None:
    now = dt.datetime(2026, 11, 3, 12, 0, 0, tzinfo=dt.timezone.utc)
    earlier = email.utils.format_datetime(now - dt.timedelta(minutes=5), usegmt=True)
    assert parse_retry_after({"retry-after": earlier}, now=now) == 0.0


@pytest.mark.parametrize("headers", [None, {}, {"retry-after": "whenever"}, {"x": "1"}])
def test_parse_retry_after_absent_or_garbage(headers: dict[str, str] | None) -> None:
    assert parse_retry_after(headers) is None


def test_parse_retry_after_accepts_httpx_headers_case_insensitively() -> None:
    assert parse_retry_after(httpx.Headers({"Retry-After-Ms": "1500"})) == 1.5


def test_sleep_functions_are_patchable_module_attributes() -> None:
    assert callable(retry.sleep)
    assert callable(retry.async_sleep)


# --------------------------------------------------------------------------- visible retries


def _flaky(*statuses: int) -> Any:
    """A MockTransport handler answering `statuses` in turn, then 200 with one image."""
    seen: list[httpx.Request] = []
    png = io.BytesIO()
    Image.new("RGB", (4, 4)).save(png, "PNG")
    ok = {"data": [{"b64_json": base64.b64encode(png.getvalue()).decode()}]}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) <= len(statuses):
            return httpx.Response(statuses[len(seen) - 1], json={"error": {"message": "busy"}})
        return httpx.Response(200, json=ok)

    handler.seen = seen  # type: ignore[attr-defined]
    return handler


def _retry_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("gptimage_widgets") and "retrying" in r.getMessage()
    ]


def test_a_retry_is_logged_and_the_result_counts_the_attempts(
    caplog: pytest.LogCaptureFixture, sleeps: list[float]
) -> None:
    handler = _flaky(500)
    http = httpx.Client(transport=httpx.MockTransport(handler))
    client = ImageClient(api_key=KEY, http_client=http, history=False)
    with caplog.at_level(logging.INFO, logger="gptimage_widgets"):
        result = client.generate("x", extra_headers={"X-Api-Key": SECRET_HEADER})
    [line] = _retry_lines(caplog)
    assert "attempt 1 of 3 failed" in line and "HTTP 500" in line
    assert f"retrying in {sleeps[0]:.2f} s" in line
    assert "POST https://api.openai.com/v1/images/generations" in line
    assert result.timings["attempts"] == 2
    assert SECRET_HEADER not in caplog.text and KEY not in caplog.text


async def test_async_retries_of_connection_errors_are_logged_and_counted(
    caplog: pytest.LogCaptureFixture, sleeps: list[float]
) -> None:
    answers = _flaky(503)
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("refused", request=request)
        return answers(request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = AsyncImageClient(api_key=KEY, http_client=http, history=False)
    with caplog.at_level(logging.INFO, logger="gptimage_widgets"):
        result = await client.generate("x")
    first, second = _retry_lines(caplog)
    assert "attempt 1 of 3" in first and "ConnectError" in first
    assert "attempt 2 of 3" in second and "HTTP 503" in second
    assert result.timings["attempts"] == 3 and len(sleeps) == 2


def test_no_retry_no_log_and_one_attempt(caplog: pytest.LogCaptureFixture) -> None:
    http = httpx.Client(transport=httpx.MockTransport(_flaky()))
    client = ImageClient(api_key=KEY, http_client=http, history=False)
    with caplog.at_level(logging.INFO, logger="gptimage_widgets"):
        result = client.generate("x")
    assert _retry_lines(caplog) == [] and result.timings["attempts"] == 1
