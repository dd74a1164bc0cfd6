"""Safer defaults (issue 15, item 7): clear-text keys, an exposed offline server, a connection cap.

(a) A key about to travel over plain HTTP to another machine (``http://`` base URL or Azure
    endpoint, host not loopback) is warned about once, naming the host and the fix; loopback
    hosts, HTTPS, no key and the offline backend say nothing. Sync and async clients.
(b) ``gptimage serve --host`` on a non-loopback address warns that the server has no
    authentication.
(c) The offline server serves at most ``max_connections`` connections at once: idle sockets
    beyond it get a 503 with OpenAI's error JSON instead of a thread each, and requests work
    again once they close. Behaviour only: every wait is a generous deadline, never a timing
    assertion.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from gptimage_widgets import backends
from gptimage_widgets.backends import is_loopback
from gptimage_widgets.cli import main
from gptimage_widgets.client import AsyncImageClient, ImageClient
from gptimage_widgets.errors import APIStatusError, ValidationError
from gptimage_widgets.offline import OfflineServer

KEY = "sk-" + "test-FAKE-safer-defaults-0123456789"


@pytest.fixture(autouse=True)
def _fresh(no_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """No key or URL from the environment; every test starts with nothing warned yet."""
    monkeypatch.setattr(backends, "_clear_text_warned", set())


# --------------------------------------------------------------------------- (a) clear text


@pytest.mark.parametrize("client_class", [ImageClient, AsyncImageClient])
def test_a_key_over_plain_http_to_another_host_warns_once(client_class: Any) -> None:
    with pytest.warns(UserWarning, match="plain HTTP") as caught:
        client_class(api_key=KEY, base_url="http://gateway.example:8080/v1", history=False)
    [warning] = caught
    message = str(warning.message)
    assert "gateway.example" in message and "https://gateway.example" in message
    assert "base_url" in message and "clear text" in message and KEY not in message
    assert warning.filename == __file__  # points at the user's line, not the package
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client_class(api_key=KEY, base_url="http://gateway.example:8080/other", history=False)


@pytest.mark.parametrize("client_class", [ImageClient, AsyncImageClient])
def test_an_http_azure_endpoint_warns_about_the_api_key(client_class: Any) -> None:
    with pytest.warns(UserWarning, match=r"azure_endpoint http://res\.example\.com") as caught:
        client_class(
            api_key=KEY,
            azure_endpoint="http://res.example.com",
            azure_deployment="d",
            history=False,
        )
    assert "api-key" in str(caught[0].message)


def test_the_environment_base_url_is_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://10.20.30.40/v1")
    with pytest.warns(UserWarning, match=r"10\.20\.30\.40"):
        ImageClient(history=False)


def test_userinfo_in_the_url_is_not_repeated_in_the_warning() -> None:
    with pytest.warns(UserWarning) as caught:
        ImageClient(api_key=KEY, base_url="http://user:s3cret@gw.example/v1", history=False)
    assert "s3cret" not in str(caught[0].message) and "gw.example" in str(caught[0].message)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"api_key": KEY, "base_url": "http://127.0.0.1:8000/v1"},
        {"api_key": KEY, "base_url": "http://127.9.8.7:8000/v1"},
        {"api_key": KEY, "base_url": "http://localhost:8000/v1"},
        {"api_key": KEY, "base_url": "http://LOCALHOST./v1"},
        {"api_key": KEY, "base_url": "http://gw.localhost/v1"},
        {"api_key": KEY, "base_url": "http://[::1]:8000/v1"},
        {"api_key": KEY, "base_url": "http://0.0.0.0:8000/v1"},  # a connect reaches this host
        {"api_key": KEY, "base_url": "http://[::]:8000/v1"},
        {"api_key": KEY, "base_url": "https://gateway.example/v1"},
        {"base_url": "http://gateway.example/v1"},  # no key: nothing secret travels
        {"api_key": KEY, "backend": "azure", "azure_endpoint": "https://r.openai.azure.com"},
        {"api_key": KEY, "backend": "azure", "azure_endpoint": "http://localhost:9000"},
        {"backend": "offline"},
    ],
    ids=lambda kwargs: str(kwargs.get("base_url") or kwargs.get("azure_endpoint") or "offline"),
)
@pytest.mark.parametrize("client_class", [ImageClient, AsyncImageClient])
def test_no_warning_for_loopback_https_no_key_or_offline(
    client_class: Any, kwargs: dict[str, Any]
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client_class(history=False, **({"azure_deployment": "d"} | kwargs))


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("localhost", True),
        ("api.localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
        ("::", False),
        ("localhost.example.com", False),
        ("", False),
        (None, False),
    ],
)
def test_is_loopback(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


# --------------------------------------------------------------------------- (b) serve --host


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[OfflineServer]:
    """``gptimage serve`` returns at once: the server starts, then stops."""
    started: list[OfflineServer] = []

    def start_only(self: OfflineServer) -> None:
        started.append(self)
        self.start()

    monkeypatch.setattr(OfflineServer, "serve_forever", start_only)
    return started


def test_serve_on_a_network_address_warns_there_is_no_authentication(
    served: list[OfflineServer], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 0
    err = capsys.readouterr().err
    assert "--host 0.0.0.0 is not a loopback address" in err
    assert "no authentication" in err and "127.0.0.1" in err
    assert served[0].host == "0.0.0.0" and not served[0].running


def test_serve_on_loopback_says_nothing_and_takes_max_connections(
    served: list[OfflineServer], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--port", "0", "--max-connections", "12"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert served[0].max_connections == 12


def test_serve_rejects_a_bad_max_connections(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "0", "--max-connections", "0"]) != 0
    assert "max_connections must be an integer >= 1, got 0" in capsys.readouterr().err


# --------------------------------------------------------------------------- (c) connection cap

CAP = 8
IDLE = 60


def _threads() -> int:
    return threading.active_count()


def _wait_for(condition: Callable[[], bool], deadline_s: float = 30.0) -> bool:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@contextlib.contextmanager
def _idle_sockets(server: OfflineServer, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections that never send a request."""
    sockets = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(count)]
    try:
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def _read_answer(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    data = b""
    with contextlib.suppress(OSError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def _ok(server: OfflineServer) -> bool:
    return httpx.get(server.base_url + "/models", timeout=10).status_code == 200


def test_idle_connections_beyond_the_cap_get_a_503_not_a_thread() -> None:
    with OfflineServer(max_connections=CAP) as server:
        before = _threads()
        with _idle_sockets(server, IDLE) as sockets:
            assert _wait_for(lambda: _threads() >= before + CAP)
            answer = _read_answer(sockets[-1])  # refused at once: no request needed
            assert _threads() <= before + CAP + 2  # the accept loop + one closer thread
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 503 ")
            assert b"retry-after: 1" in head.lower() and b"connection: close" in head.lower()
            error = json.loads(body)["error"]
            assert error["code"] == "server_busy" and error["type"] == "server_error"
            assert f"maximum of {CAP} connections" in error["message"]
            response = httpx.get(server.base_url + "/models", timeout=10)
            assert response.status_code == 503 and response.json()["error"]["code"] == "server_busy"
        assert _wait_for(lambda: _ok(server))  # the idle ones closed: served again
        assert _wait_for(lambda: _threads() <= before + 2)


def test_the_sync_client_sees_a_typed_503_then_works_again() -> None:
    with OfflineServer(max_connections=CAP) as server:
        client = ImageClient(base_url=server.base_url, history=False, max_retries=0)
        with client:
            with _idle_sockets(server, CAP + 5):
                with pytest.raises(APIStatusError, match="maximum of 8 connections") as info:
                    client.generate("a fox", quality="low")
                assert info.value.status_code == 503
            assert _wait_for(lambda: _ok(server))
            assert client.generate("a fox", quality="low").images[0].shape[2] == 3


async def test_the_async_client_sees_a_typed_503_then_works_again() -> None:
    with OfflineServer(max_connections=CAP) as server:
        async with AsyncImageClient(base_url=server.base_url, history=False, max_retries=0) as c:
            with _idle_sockets(server, CAP + 5):
                with pytest.raises(APIStatusError, match="maximum of 8 connections") as info:
                    await c.generate("a fox", quality="low")
                assert info.value.status_code == 503
            assert _wait_for(lambda: _ok(server))
            result = await c.generate("a fox", quality="low")
            assert result.images[0].shape[2] == 3


def test_idle_kept_alive_connections_make_room_for_new_ones() -> None:
    """Clients that made a request and keep their connection open do not lock others out."""
    with OfflineServer(max_connections=4) as server:
        clients = [httpx.Client(timeout=10) for _ in range(6)]
        try:
            for client in clients:  # the 5th and 6th take the slots of idle kept-alive ones
                assert client.get(server.base_url + "/models").status_code == 200
            for client in clients:  # and the first ones reconnect
                assert client.get(server.base_url + "/models").status_code == 200
        finally:
            for client in clients:
                client.close()


def test_max_connections_is_checked() -> None:
    for bad in (0, -1, 2.5, True, "8"):
        with pytest.raises(ValidationError, match="max_connections must be an integer >= 1"):
            OfflineServer(max_connections=bad)  # type: ignore[arg-type]
    assert OfflineServer().max_connections == 256
