"""Reliability: the fault matrix, over real HTTP against the offline server's fault injection.

One table, one parametrized test, run with the sync AND the async client. Every row ends in
success after the retries the policy allows, or in the exact typed error with its status
code, the server's request id and a message that says what to do. The retry sleep is
patched to record the delays the policy chose (nothing waits), so the delays themselves are
checked: backoff, ``Retry-After`` in seconds and as an HTTP date, ``retry-after-ms``.
Each row has a pytest-timeout hang guard; none of them is a timing assertion.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gptimage_widgets.client import AsyncImageClient, ImageClient
from gptimage_widgets.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    GPTImageError,
    InternalServerError,
    ModerationError,
    PermissionDeniedError,
    QuotaError,
    RateLimitError,
    ResponseDecodeError,
    StreamError,
)
from gptimage_widgets.history import HistoryStore
from gptimage_widgets.offline import Fault, OfflineServer

FAKE_KEY = "sk-test-FAKE"
PROMPT = "a lighthouse on a cliff at dusk"
SIZE = (1024, 1024)

#: A delay the policy must choose: exactly this value, or a (low, high) range.
Delay = float | tuple[float, float]


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the fault matrix.

    Attributes
    ----------
    faults : tuple of Fault
        The server's fault rules for this row.
    error : type or None
        The exact error class expected; None = the call must succeed.
    attempts : int
        How many image requests the server must see (1 + retries).
    delays : tuple
        The retry delays the policy must choose, in order (jitter is fixed at 0).
    status : int or None
        Expected ``status_code`` of an :class:`APIStatusError`.
    advice : str
        A phrase the message must contain (case-insensitive): what to do next.
    stream : bool
        Stream the response (``partial_images=1``).
    timeout : float or None
        The client's timeout in seconds.
    has_request_id : bool
        False only when the server never sent headers (a timeout before them).
    guard : int
        Seconds before pytest-timeout declares a hang.
    """

    faults: tuple[Fault, ...]
    error: type[GPTImageError] | None
    attempts: int
    delays: tuple[Delay, ...] = ()
    status: int | None = None
    advice: str = ""
    stream: bool = False
    timeout: float | None = None
    has_request_id: bool = True
    guard: int = 30


MATRIX: dict[str, Row] = {
    # ---- 429: Retry-After in seconds, as an HTTP date, retry-after-ms; exhausted; too long
    "429-retry-after-seconds": Row((Fault("429", retry_after=7),), None, 2, (7.0,)),
    "429-retry-after-http-date": Row(
        (Fault("429", retry_after=30, retry_after_date=True),), None, 2, ((28.0, 30.5),)
    ),
    "429-retry-after-ms": Row((Fault("429", retry_after_ms=1500),), None, 2, (1.5,)),
    "429-exhausted": Row(
        (Fault("429", times=None),), RateLimitError, 3, (0.5, 1.0), 429, "wait a little"
    ),
    "429-retry-after-beyond-120s": Row(
        (Fault("429", times=None, retry_after=600),), RateLimitError, 1, (), 429, "wait"
    ),
    # ---- 5xx: retried with backoff; exhausted
    "500-twice-then-ok": Row((Fault("500", times=2),), None, 3, (0.5, 1.0)),
    "502-once-then-ok": Row((Fault("502"),), None, 2, (0.5,)),
    "503-retry-after-then-ok": Row((Fault("503", retry_after=2),), None, 2, (2.0,)),
    "503-exhausted": Row(
        (Fault("503", times=None),), InternalServerError, 3, (0.5, 1.0), 503, "try again later"
    ),
    "html-error-page-then-ok": Row((Fault("html_error"),), None, 2, (0.5,)),
    "html-error-page-exhausted": Row(
        (Fault("html_error", times=None),), InternalServerError, 3, (0.5, 1.0), 502, "Bad Gateway"
    ),
    # ---- transport: dropped connection, slow headers
    "drop-mid-body-then-ok": Row((Fault("drop"),), None, 2, (0.5,)),
    "drop-mid-body-exhausted": Row(
        (Fault("drop", times=None),),
        APIConnectionError,
        3,
        (0.5, 1.0),
        advice="retry",
    ),
    "drop-mid-stream": Row(
        (Fault("drop", times=None),), StreamError, 1, advice="retry", stream=True
    ),
    "slow-headers-within-timeout": Row((Fault("slow_headers", delay=0.3),), None, 1, timeout=10.0),
    "slow-headers-past-read-timeout": Row(
        (Fault("slow_headers", times=None, delay=3.0),),
        APITimeoutError,
        3,
        (0.5, 1.0),
        advice="raise timeout=",
        timeout=0.4,
        has_request_id=False,
    ),
    # ---- bodies that cannot be understood
    "truncated-stream": Row(
        (Fault("truncate_stream", times=None),), StreamError, 1, advice="retry", stream=True
    ),
    "malformed-json": Row(
        (Fault("malformed_json", times=None),), ResponseDecodeError, 1, advice="retry"
    ),
    "malformed-json-stream": Row(
        (Fault("malformed_json", times=None),), StreamError, 1, advice="retry", stream=True
    ),
    "invalid-base64": Row(
        (Fault("bad_base64", times=None),), ResponseDecodeError, 1, advice="retry"
    ),
    "invalid-base64-stream": Row(
        (Fault("bad_base64", times=None),), StreamError, 1, advice="retry", stream=True
    ),
    # ---- errors retrying cannot fix: raised at once
    "insufficient-quota": Row((Fault("quota", times=None),), QuotaError, 1, (), 429, "add credit"),
    "moderation-blocked": Row(
        (Fault("moderation", times=None),), ModerationError, 1, (), 400, "rephrase"
    ),
    "org-verification-403": Row(
        (Fault("org_verification", times=None),),
        PermissionDeniedError,
        1,
        (),
        403,
        "verify your organization",
    ),
}


def _matrix_params() -> Iterator[Any]:
    for flavour in ("sync", "async"):
        for name, row in MATRIX.items():
            yield pytest.param(
                flavour, row, id=f"{flavour}-{name}", marks=pytest.mark.timeout(row.guard)
            )


# --------------------------------------------------------------------------- helpers


def _client_kwargs(server: OfflineServer, row: Row, folder: Path) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "api_key": FAKE_KEY,
        "base_url": server.base_url,
        "history": HistoryStore(folder),
        "max_retries": 2,
    }
    if row.timeout is not None:
        kwargs["timeout"] = row.timeout
    return kwargs


def _call_kwargs(row: Row) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"size": "1024x1024", "quality": "low"}
    if row.stream:
        kwargs["partial_images"] = 1
    return kwargs


def _without_jitter(client: ImageClient | AsyncImageClient) -> None:
    client.retry_policy.random = lambda: 0.0


def _run_sync(kwargs: dict[str, Any], row: Row) -> Any:
    with ImageClient(**kwargs) as client:
        _without_jitter(client)
        return client.generate(PROMPT, **_call_kwargs(row))


def _run_async(kwargs: dict[str, Any], row: Row) -> Any:
    async def main() -> Any:
        async with AsyncImageClient(**kwargs) as client:
            _without_jitter(client)
            return await client.generate(PROMPT, **_call_kwargs(row))

    return asyncio.run(main())


RUNNERS: dict[str, Callable[[dict[str, Any], Row], Any]] = {
    "sync": _run_sync,
    "async": _run_async,
}


def _image_requests(server: OfflineServer) -> list[Any]:
    return [r for r in server.requests if "/images/" in r.path]


def _assert_delays(recorded: list[float], expected: tuple[Delay, ...]) -> None:
    assert len(recorded) == len(expected), f"delays {recorded} != {expected}"
    for got, want in zip(recorded, expected, strict=True):
        if isinstance(want, tuple):
            assert want[0] <= got <= want[1], f"delay {got} outside {want}"
        else:
            assert got == pytest.approx(want), f"delay {got} != {want}"


def _assert_success(result: Any, server: OfflineServer, folder: Path) -> None:
    assert len(result.images) == 1
    image = result.images[0]
    assert image.shape[:2] == (SIZE[1], SIZE[0]) and image.dtype.name == "uint8"
    assert result.request_id == _image_requests(server)[-1].request_id
    entries = HistoryStore(folder).search(limit=None)
    assert [e.entry_id for e in entries] == [result.entry_id]


def _assert_error(error: GPTImageError, row: Row, server: OfflineServer, folder: Path) -> None:
    assert row.error is not None
    assert type(error) is row.error, f"{type(error).__name__}: {error}"
    if row.status is not None:
        assert isinstance(error, APIStatusError)
        assert error.status_code == row.status
    if row.has_request_id:
        assert error.request_id == _image_requests(server)[-1].request_id
    message = str(error)
    assert row.advice.lower() in message.lower(), message
    assert FAKE_KEY not in message
    assert HistoryStore(folder).search(limit=None) == []


# --------------------------------------------------------------------------- the matrix


@pytest.mark.parametrize(("flavour", "row"), list(_matrix_params()))
def test_fault_matrix(
    flavour: str,
    row: Row,
    make_offline_server: Callable[..., OfflineServer],
    sleeps: list[float],
    tmp_path: Path,
) -> None:
    server = make_offline_server(faults=list(row.faults))
    kwargs = _client_kwargs(server, row, tmp_path / "history")
    outcome: Any
    try:
        outcome = RUNNERS[flavour](kwargs, row)
    except GPTImageError as exc:
        outcome = exc
    if row.error is None:
        assert not isinstance(outcome, BaseException), f"{type(outcome).__name__}: {outcome}"
        _assert_success(outcome, server, tmp_path / "history")
    else:
        assert isinstance(outcome, GPTImageError), f"expected {row.error.__name__}, got {outcome}"
        _assert_error(outcome, row, server, tmp_path / "history")
    assert len(_image_requests(server)) == row.attempts
    _assert_delays(sleeps, row.delays)


def test_moderation_error_carries_stage_and_categories(
    make_offline_server: Callable[..., OfflineServer], sleeps: list[float], tmp_path: Path
) -> None:
    server = make_offline_server(faults=[Fault("moderation", times=None)])
    with (
        ImageClient(api_key=FAKE_KEY, base_url=server.base_url, history=tmp_path) as client,
        pytest.raises(ModerationError) as caught,
    ):
        client.generate(PROMPT, quality="low")
    assert caught.value.stage == "input"
    assert caught.value.categories == ["violence"]
    assert caught.value.code == "moderation_blocked"
    assert sleeps == []
