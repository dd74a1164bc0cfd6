"""Shared fixtures: the embedded offline server.

``offline_server``        one zero-latency server for the whole session (do not add faults to it)
``offline_api``           an ``httpx.Client`` on ``offline_server`` (raw HTTP, no ImageClient)
``make_offline_server``   a factory for servers with latency and/or faults, stopped after the test:
                          ``server = make_offline_server(latency=0.05, faults=[Fault("429")])``
``sleeps``                the retry sleeps (sync and async) patched to record each delay, not wait
``no_env``                no OpenAI / Azure key, URL or account variable in the environment
                          (a module opts in with ``pytestmark = pytest.mark.usefixtures("no_env")``)

Every test gets its own empty settings folder (``GPTIMAGE_CONFIG_DIR``), so no test reads or
writes the user's remembered painter settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from gptimage_widgets import retry
from gptimage_widgets.offline import OfflineServer


@pytest.fixture(autouse=True)
def _isolated_settings(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh, empty settings folder for each test (never the user's ~/.config)."""
    monkeypatch.setenv("GPTIMAGE_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))


#: The environment variables a client reads its key, URL or account from.
CLIENT_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_ENDPOINT",
    "OPENAI_API_VERSION",
)


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """None of :data:`CLIENT_ENV` set, so a client sees only what the test passes."""
    for name in CLIENT_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Patch both retry sleeps; the list collects every requested delay (seconds)."""
    delays: list[float] = []

    async def fake_async_sleep(seconds: float) -> None:
        delays.append(seconds)

    monkeypatch.setattr(retry, "sleep", delays.append)
    monkeypatch.setattr(retry, "async_sleep", fake_async_sleep)
    return delays


@pytest.fixture(scope="session")
def offline_server() -> Iterator[OfflineServer]:
    """A running zero-latency, fault-free offline server shared by the session."""
    with OfflineServer() as server:
        yield server


@pytest.fixture(scope="module")
def offline_api(offline_server: OfflineServer) -> Iterator[httpx.Client]:
    """An ``httpx.Client`` whose base URL is ``offline_server``'s (60 s timeout)."""
    with httpx.Client(base_url=offline_server.base_url, timeout=60) as client:
        yield client


@pytest.fixture
def make_offline_server() -> Iterator[Callable[..., OfflineServer]]:
    """Start ``OfflineServer(**kwargs)`` servers; every one is stopped after the test."""
    servers: list[OfflineServer] = []

    def make(**kwargs: Any) -> OfflineServer:
        server = OfflineServer(**kwargs).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
