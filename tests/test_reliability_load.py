"""Reliability under load: 200 requests through one AsyncImageClient at concurrency 32, with
10 % of the server's answers an injected 503 (seeded), over real HTTP on 127.0.0.1.

Checked: every request succeeds; every image is stored in history exactly once (entries and
files counted); the server never has more than ``max_concurrency`` requests in flight; every
503 was retried exactly once more; no connection is left open (both socket ends, via psutil)
and no asyncio task is left behind once the client is closed.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest

from gptimage_widgets import retry
from gptimage_widgets.client import AsyncImageClient
from gptimage_widgets.history import HistoryStore
from gptimage_widgets.offline import Fault, OfflineServer

FAKE_KEY = "sk-test-FAKE"
REQUESTS = 200
CONCURRENCY = 32
FAULT_RATE = 0.1
SEED = 20261122
#: With 10 % faults, six attempts all failing has odds 1e-6 per request.
MAX_RETRIES = 5
#: How long closed sockets may take to disappear from the connection table.
SOCKET_SETTLE_S = 10.0


class InFlightCounter:
    """Wraps the offline app's ``handle`` to record the most requests handled at once."""

    def __init__(self, server: OfflineServer) -> None:
        self._handle = server.app.handle
        self._lock = threading.Lock()
        self.current = 0
        self.peak = 0
        server.app.handle = self  # type: ignore[method-assign]

    def __call__(self, request: Any) -> Any:
        with self._lock:
            self.current += 1
            self.peak = max(self.peak, self.current)
        try:
            return self._handle(request)
        finally:
            with self._lock:
                self.current -= 1


def _record_retried_errors(client: AsyncImageClient) -> collections.Counter[str]:
    """Count, by class name, the errors the client's retry policy agreed to retry."""
    retried: collections.Counter[str] = collections.Counter()
    decide = client.retry_policy.next_delay

    def next_delay(retry_index: int, error: Any, retry_after: float | None = None) -> Any:
        delay = decide(retry_index, error, retry_after)
        if delay is not None:
            retried[type(error).__name__] += 1
        return delay

    client.retry_policy.next_delay = next_delay  # type: ignore[method-assign]
    return retried


def _open_connections(port: int) -> list[Any]:
    """This process's TCP connections to or from `port`, except the listening socket."""
    found = []
    for conn in psutil.Process().net_connections(kind="tcp"):
        ends = [end for end in (conn.laddr, conn.raddr) if end]
        if conn.status != psutil.CONN_LISTEN and any(end.port == port for end in ends):
            found.append(conn)
    return found


async def _wait_for_no_connections(port: int) -> list[Any]:
    deadline = time.monotonic() + SOCKET_SETTLE_S
    while (left := _open_connections(port)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return left


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_200_requests_at_concurrency_32_with_injected_503s(
    make_offline_server: Callable[..., OfflineServer],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    delays: list[float] = []

    async def record_and_yield(seconds: float) -> None:
        delays.append(seconds)
        await asyncio.sleep(0)

    monkeypatch.setattr(retry, "async_sleep", record_and_yield)
    server = make_offline_server(faults=[Fault("503", rate=FAULT_RATE)], seed=SEED)
    in_flight = InFlightCounter(server)
    folder = tmp_path / "history"
    tasks_before = set(asyncio.all_tasks())

    client = AsyncImageClient(
        api_key=FAKE_KEY,
        base_url=server.base_url,
        history=folder,
        max_concurrency=CONCURRENCY,
        max_retries=MAX_RETRIES,
    )
    retried = _record_retried_errors(client)
    prompts = [f"load test image {number:03d}" for number in range(REQUESTS)]
    try:
        results = await asyncio.gather(
            *(client.generate(prompt, size="1024x1024", quality="low") for prompt in prompts)
        )
        kept_alive = len(_open_connections(server.port))
    finally:
        await client.close()

    # every request succeeded, with its own image
    assert [r.request["prompt"] for r in results] == prompts
    assert all(r.images[0].shape == (1024, 1024, 3) for r in results)
    assert len({r.entry_id for r in results}) == REQUESTS

    # each image stored exactly once
    store = HistoryStore(folder)
    entries = store.search(limit=None)
    assert sorted(e.prompt for e in entries) == prompts
    assert {e.entry_id for e in entries} == {r.entry_id for r in results}
    assert len(list(folder.glob("*/*/image-*.png"))) == REQUESTS
    assert store.rebuild_index() == REQUESTS
    sample = results[REQUESTS // 2]
    assert sample.entry_id is not None
    np.testing.assert_array_equal(store.load(sample.entry_id).images[0], sample.images[0])

    # the 503s happened and each was retried; concurrency stayed within the limit
    faults = collections.Counter(r.fault for r in server.requests)
    assert faults["503"] > 0
    assert faults[None] == REQUESTS
    assert len(server.requests) == REQUESTS + faults["503"]
    assert len(delays) == sum(retried.values())
    # only the injected 503s were retried: no connection was reset under the burst of 32
    # new connections (the server's listen backlog was once 5, which did reset some)
    assert retried == {"InternalServerError": faults["503"]}
    assert 1 < in_flight.peak <= CONCURRENCY

    # nothing leaked (the pool did hold connections until it was closed)
    print(f"retried: {dict(retried)}, peak in flight: {in_flight.peak}, kept alive: {kept_alive}")
    assert kept_alive > 0
    assert await _wait_for_no_connections(server.port) == []
    await asyncio.sleep(0)
    assert set(asyncio.all_tasks()) - tasks_before == set()
