"""Rate-limit pacing (gptimage_widgets/ratelimit.py), the offline server's rate limit
(gptimage_widgets/offline/ratelimit.py) and sweep progress (gptimage_widgets/progress.py).

No timing assertions: a rate-limited sweep must finish with 0 failures and the client's
sending rate (429s included) must stay within what the server allows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from in_flight import InFlight

from gptimage_widgets import AsyncImageClient, QuotaError
from gptimage_widgets.offline import Fault, OfflineServer
from gptimage_widgets.offline.ratelimit import RequestRateLimit, format_duration
from gptimage_widgets.progress import ProgressReport
from gptimage_widgets.ratelimit import RatePacer, parse_duration, patient

MODEL = {"model": "dall-e-2", "size": "256x256"}


class Clock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("120ms", 0.12),
        ("1h2m3.5s", 3723.5),
        ("8.64s", 8.64),
        ("2", 2.0),
        ("0.5", 0.5),
        (" 250ms ", 0.25),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", [None, "", "soon", "1x", "s1", "-1", "1s garbage", "nan"])
def test_parse_duration_unreadable_is_none(text: str | None) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize("seconds", [0.0, 0.12, 0.9994, 1.0, 1.5, 8.64, 360.0, 3723.5])
def test_server_durations_read_back(seconds: float) -> None:
    parsed = parse_duration(format_duration(seconds))
    assert parsed is not None and parsed == pytest.approx(seconds, abs=1e-3)


# --------------------------------------------------------------------------- pacer


def test_pacer_is_idle_until_the_server_says_something() -> None:
    pacer = RatePacer(clock=Clock())
    assert [pacer.reserve() for _ in range(50)] == [0.0] * 50
    pacer.observe({}, limited=False, retry_after=None)
    assert pacer.rate is None and pacer.reserve() == 0.0


def test_pacer_learns_the_rate_from_headers_and_spaces_requests() -> None:
    clock = Clock()
    pacer = RatePacer(clock=clock)
    headers = {
        "x-ratelimit-limit-requests": "4",
        "x-ratelimit-remaining-requests": "1",
        "x-ratelimit-reset-requests": "750ms",
    }
    pacer.observe(headers, limited=False, retry_after=None)
    assert pacer.rate == pytest.approx(4.0) and pacer.burst == 4
    waits = [pacer.reserve() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])


def test_pacer_keeps_the_tightest_bound() -> None:
    pacer = RatePacer(clock=Clock())
    for remaining, reset in (("2", "300ms"), ("3", "250ms")):  # bounds 6.67/s, then 4/s
        headers = {
            "x-ratelimit-limit-requests": "4",
            "x-ratelimit-remaining-requests": remaining,
            "x-ratelimit-reset-requests": reset,
        }
        pacer.observe(headers, limited=False, retry_after=None)
    assert pacer.rate == pytest.approx(4.0)


def test_a_429_closes_the_bucket_for_the_retry_delay() -> None:
    clock = Clock()
    pacer = RatePacer(clock=clock)
    pacer.observe({}, limited=True, retry_after=2.0)
    assert pacer.limited == 1
    assert pacer.reserve() == pytest.approx(2.0)
    clock.now += 5
    assert pacer.reserve() == 0.0


def test_disabled_pacer_never_waits_nor_learns() -> None:
    pacer = RatePacer(enabled=False, clock=Clock())
    pacer.observe({}, limited=True, retry_after=5.0)
    assert pacer.reserve() == 0.0 and pacer.limited == 0
    assert not pacer.waits_out(True, None)


def test_429_is_waited_out_only_in_a_sweep_or_concurrent_use() -> None:
    clock = Clock()
    pacer = RatePacer(clock=clock, patience_s=10)
    assert not pacer.waits_out(True, clock.now)  # a lone call spends its retries
    with patient():
        assert pacer.waits_out(True, clock.now)
        assert not pacer.waits_out(False, None)  # not a rate limit: the retry policy decides
        clock.now += 11
        assert not pacer.waits_out(True, 100.0)  # patience used up
    pacer.started()
    assert pacer.waits_out(True, clock.now)  # another request is under way


# --------------------------------------------------------------------------- offline server


def test_server_bucket_allows_burst_then_refuses_with_openai_headers() -> None:
    clock = Clock()
    limit = RequestRateLimit(2, clock=clock)
    first, second, third = (limit.take() for _ in range(3))
    assert first[0] and second[0] and not third[0]
    assert dict(first[1])["x-ratelimit-remaining-requests"] == "1"
    refused = dict(third[1])
    assert refused["x-ratelimit-limit-requests"] == "2"
    assert refused["retry-after-ms"] == "500" and refused["retry-after"] == "1"
    assert parse_duration(refused["x-ratelimit-reset-requests"]) == pytest.approx(1.0)
    clock.now += 0.5
    assert limit.take()[0]


def test_offline_server_answers_429_rate_limit_exceeded() -> None:
    with OfflineServer(rate_limit=RequestRateLimit(1, clock=Clock())) as server:
        body = {"prompt": "x", **MODEL}
        answers = [httpx.post(f"{server.base_url}/images/generations", json=body) for _ in "ab"]
    assert [a.status_code for a in answers] == [200, 429]
    assert answers[1].json()["error"]["code"] == "rate_limit_exceeded"
    assert {"retry-after-ms", "retry-after", "x-ratelimit-reset-requests"} <= set(
        answers[1].headers
    )
    assert answers[0].headers["x-ratelimit-remaining-requests"] == "0"
    assert [r.fault for r in server.requests] == [None, "rate_limit"]


# --------------------------------------------------------------------------- sweeps


def _sent_within_limit(times: list[float], rate: float, allowance: int) -> bool:
    """No window [t_i, t_j] holds more sends than ``allowance + rate * (t_j - t_i)``."""
    times = sorted(times)
    return all(
        j - i + 1 <= allowance + rate * (times[j] - times[i])
        for i in range(len(times))
        for j in range(i, len(times))
    )


async def test_rate_limited_sweep_has_no_failures_and_stays_within_the_limit(
    make_offline_server: Callable[..., OfflineServer],
) -> None:
    rate, concurrency, prompts = 20.0, 8, [f"p{i}" for i in range(30)]
    server = make_offline_server(latency=0.05, rate_limit=rate)
    async with AsyncImageClient(
        "sk-test", server.base_url, history=False, max_concurrency=concurrency
    ) as client:
        results = await client.sweep(prompts, progress=False, **MODEL)
    assert [isinstance(r, Exception) for r in results] == [False] * len(prompts)
    assert [r.request["prompt"] for r in results] == prompts
    refused = [r for r in server.requests if r.status == 429]
    assert len(refused) <= concurrency  # the first burst, before the limit was known
    assert client.rate_limiter.rate is not None
    # every send (429s included): bucket size + one burst of `concurrency` + rate * time
    sent = [r.time for r in server.requests]
    assert _sent_within_limit(sent, rate, allowance=round(rate) + concurrency)


async def test_insufficient_quota_fails_at_once_in_a_sweep(
    make_offline_server: Callable[..., OfflineServer],
) -> None:
    server = make_offline_server(rate_limit=50.0, faults=[Fault("quota", times=None)])
    async with AsyncImageClient("sk-test", server.base_url, history=False) as client:
        results = await client.sweep(["a", "b", "c"], progress=False, **MODEL)
    assert all(isinstance(r, QuotaError) for r in results)
    assert len(server.requests) == 3  # one attempt each, nothing retried or waited out


async def test_unlimited_server_sees_full_concurrency() -> None:
    handler = InFlight(
        lambda: httpx.Response(200, json={"created": 0, "data": [{"b64_json": _PNG}]}),
        lambda: asyncio.sleep(0.05),
    )

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with AsyncImageClient(
        "sk-test", "https://api.example/v1", http_client=http, history=False, max_concurrency=8
    ) as client:
        results = await client.sweep([f"p{i}" for i in range(24)], progress=False, **MODEL)
    await http.aclose()
    assert not any(isinstance(r, Exception) for r in results)
    assert handler.peak == 8
    assert client.rate_limiter.rate is None and client.rate_limiter.limited == 0


def _png() -> str:
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


_PNG = _png()


# --------------------------------------------------------------------------- progress


def test_progress_counts_failures_waiting_and_spend() -> None:
    pacer = RatePacer()
    report = ProgressReport(None, 3, pacer)

    class Result:
        cost_usd = 0.02

    report(Result())
    report(QuotaError("no credit", status_code=429, code="insufficient_quota"))
    with pacer.waiting_for_slot():
        assert report.postfix() == "1 failed, 1 waiting for rate limit, $0.0200"
    assert report.postfix() == "1 failed, $0.0200"
    assert (report.done, report.failed) == (2, 1)


async def test_sweep_progress_bar_and_silence(
    make_offline_server: Callable[..., OfflineServer], capsys: pytest.CaptureFixture[str]
) -> None:
    server = make_offline_server()
    async with AsyncImageClient("sk-test", server.base_url, history=False) as client:
        await client.sweep(["a", "b"], **MODEL)
        shown = capsys.readouterr().err
        await client.sweep(["a", "b"], progress=False, **MODEL)
        silent = capsys.readouterr().err
    assert "2/2 done" in shown and "$" in shown
    assert silent == ""


def test_progress_callable_gets_done_total_item() -> None:
    seen: list[Any] = []
    report = ProgressReport(lambda done, total, item: seen.append((done, total, item)), 2)
    report("x")
    assert seen == [(1, 2, "x")]


def test_429s_without_a_delay_back_off_instead_of_spinning() -> None:
    clock = Clock()
    pacer = RatePacer(clock=clock)
    waits = []
    for _ in range(6):
        pacer.observe({}, limited=True, retry_after=0.0)
        waits.append(pacer.reserve())
        clock.now += waits[-1]
    assert waits == pytest.approx([0.5, 1.0, 2.0, 4.0, 8.0, 8.0])
    pacer.observe({}, limited=False, retry_after=None)
    pacer.observe({}, limited=True, retry_after=None)
    assert pacer.reserve() == pytest.approx(0.5)


# --------------------------------------------------------------------------- the sync client


def test_sync_client_paces_by_default_and_rate_limit_false_does_not(
    make_offline_server: Callable[..., OfflineServer],
) -> None:
    from gptimage_widgets import ImageClient, RateLimitError

    server = make_offline_server(rate_limit=RequestRateLimit(4.0, burst=2))
    with ImageClient("sk-test", server.base_url, history=False, max_retries=0) as client:
        assert client.rate_limiter.enabled
        results = [client.generate(f"p{i}", **MODEL) for i in range(6)]
    assert len(results) == 6 and client.rate_limiter.rate is not None
    assert not [r for r in server.requests if r.status == 429]  # paced: nothing refused
    sent = [r.time for r in server.requests]
    assert _sent_within_limit(sent, 4.0, allowance=2)
    slow = make_offline_server(rate_limit=RequestRateLimit(0.2, burst=1))
    with (
        ImageClient(
            "sk-test", slow.base_url, history=False, max_retries=0, rate_limit=False
        ) as unpaced,
        pytest.raises(RateLimitError),
    ):
        for i in range(3):  # not paced: the second goes at once and is refused
            unpaced.generate(f"q{i}", **MODEL)
    assert not unpaced.rate_limiter.enabled and unpaced.rate_limiter.rate is None


def test_sync_client_threads_share_the_pacer_without_failures(
    make_offline_server: Callable[..., OfflineServer],
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from gptimage_widgets import ImageClient

    rate, threads = 10.0, 4
    server = make_offline_server(latency=0.02, rate_limit=rate)
    with (
        ImageClient("sk-test", server.base_url, history=False) as client,
        ThreadPoolExecutor(threads) as pool,
    ):
        results = list(pool.map(lambda i: client.generate(f"p{i}", **MODEL), range(16)))
    assert [r.request["prompt"] for r in results] == [f"p{i}" for i in range(16)]
    assert len([r for r in server.requests if r.status == 429]) <= threads
    sent = [r.time for r in server.requests]
    assert _sent_within_limit(sent, rate, allowance=round(rate) + threads)


def test_rate_limit_must_be_a_bool() -> None:
    from gptimage_widgets import ImageClient, ValidationError

    with pytest.raises(ValidationError, match="rate_limit"):
        ImageClient("sk-test", "https://api.example/v1", history=False, rate_limit="yes")  # type: ignore[arg-type]
