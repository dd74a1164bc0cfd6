"""API calls never follow redirects: no credential reaches a host other than the configured one.

httpx strips only ``Authorization`` on a cross-origin redirect, so following one would hand
Azure's ``api-key`` (and any header a user adds) to the other host. The client refuses every
3xx answer to an API call with a :class:`RedirectError` naming the Location; result downloads
(DALL·E URLs) carry no credentials and still follow redirects. Tested with two real local
servers (the client's own httpx client) and with an injected client that follows redirects.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from local_http import RecordingServer, send
from PIL import Image

import gptimage_widgets
from gptimage_widgets.client import AsyncImageClient, ImageClient
from gptimage_widgets.errors import APIStatusError, RedirectError

KEY = "sk-" + "test-FAKE-redirect-0123456789"  # split so leak scanners see no key


def _png_b64() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (1, 2, 3)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@contextlib.contextmanager
def _server(answer: Any) -> Iterator[tuple[str, RecordingServer]]:
    """A local HTTP server; ``answer(handler)`` writes the response. Yields (origin, log)."""
    with RecordingServer(answer) as server:
        yield server.origin, server


def _ok(handler: http.server.BaseHTTPRequestHandler) -> None:
    send(handler, "application/json", json.dumps({"data": [{"b64_json": _png_b64()}]}).encode())


def _redirect_to(target: str, status: int = 307) -> Any:
    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("location", target + handler.path)
        handler.send_header("content-length", "0")
        handler.end_headers()

    return answer


def _credentials(headers: dict[str, str]) -> set[str]:
    return {name for name in headers if name in ("api-key", "authorization")}


def _client_kwargs(backend: str, origin: str) -> dict[str, Any]:
    common: dict[str, Any] = {"api_key": KEY, "history": False, "max_retries": 0}
    if backend == "azure":
        return {**common, "backend": "azure", "azure_endpoint": origin, "azure_deployment": "d"}
    return {**common, "backend": "openai", "base_url": origin + "/v1"}  # -> "compatible"


@pytest.fixture
def other_host() -> Iterator[tuple[str, RecordingServer]]:
    with _server(_ok) as server:
        yield server


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("backend", ["azure", "compatible"])
def test_a_redirect_to_another_origin_is_refused_and_no_key_leaves(
    backend: str, status: int, other_host: tuple[str, RecordingServer]
) -> None:
    other, other_log = other_host
    with _server(_redirect_to(other, status)) as (origin, log):
        client = ImageClient(**_client_kwargs(backend, origin))
        with client, pytest.raises(RedirectError) as info:
            client.generate("a fox")
    assert other_log.seen == []  # nothing at all reached the other host
    assert len(log.seen) == 1 and _credentials(log.seen[0][2])  # the key went where configured
    error = info.value
    assert isinstance(error, APIStatusError) and error.status_code == status
    assert error.location is not None and error.location.startswith(other)
    assert other in str(error) and KEY not in str(error)


@pytest.mark.parametrize("backend", ["azure", "compatible"])
async def test_the_async_client_refuses_redirects_too(
    backend: str, other_host: tuple[str, RecordingServer]
) -> None:
    other, other_log = other_host
    with _server(_redirect_to(other)) as (origin, _log):
        async with AsyncImageClient(**_client_kwargs(backend, origin)) as client:
            with pytest.raises(RedirectError, match=r"127\.0\.0\.1"):
                await client.generate("a fox")
            with pytest.raises(RedirectError):
                async for _event in client.stream_generate("a fox"):
                    pass
    assert other_log.seen == []


def test_an_injected_client_that_follows_redirects_is_overruled() -> None:
    """Even a user's httpx client with follow_redirects=True does not follow API redirects."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "evil.example":
            return httpx.Response(200, json={"data": [{"b64_json": _png_b64()}]})
        return httpx.Response(307, headers={"location": "https://evil.example/steal"})

    for kwargs in (
        {"backend": "azure", "azure_endpoint": "https://res.openai.azure.com"},
        {"backend": "openai"},
    ):
        http = httpx.Client(transport=httpx.MockTransport(handler), follow_redirects=True)
        client = ImageClient(api_key=KEY, history=False, http_client=http, **kwargs)
        with pytest.raises(RedirectError, match=r"https://evil\.example/steal"):
            client.generate("x")
    assert [r.url.host for r in seen] == ["res.openai.azure.com", "api.openai.com"]


async def test_an_injected_async_client_that_follows_redirects_is_overruled() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url.host))
        return httpx.Response(308, headers={"location": "https://evil.example/steal"})

    for kwargs in (
        {"backend": "azure", "azure_endpoint": "https://res.openai.azure.com"},
        {"backend": "openai"},
    ):
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler), follow_redirects=True)
        async with AsyncImageClient(api_key=KEY, history=False, http_client=http, **kwargs) as c:
            assert c.backend == kwargs["backend"]
            with pytest.raises(RedirectError, match=r"evil\.example"):
                await c.generate("x")
    assert seen == ["res.openai.azure.com", "api.openai.com"]


def test_a_redirect_is_not_retried() -> None:
    with _server(_redirect_to("http://127.0.0.1:9")) as (origin, log):
        client = ImageClient(api_key=KEY, base_url=origin + "/v1", history=False, max_retries=2)
        with client, pytest.raises(RedirectError):
            client.generate("x")
    assert len(log.seen) == 1


def test_result_downloads_follow_redirects_without_credentials() -> None:
    """DALL·E URL items: the storage host may redirect; no key goes to either host."""

    def png(handler: http.server.BaseHTTPRequestHandler) -> None:
        buffer = io.BytesIO()
        Image.new("RGB", (4, 4), (9, 9, 9)).save(buffer, "PNG")
        send(handler, "image/png", buffer.getvalue())

    with _server(png) as (storage, storage_log), _server(_redirect_to(storage)) as (hop, hop_log):

        def api(handler: http.server.BaseHTTPRequestHandler) -> None:
            body = json.dumps({"data": [{"url": hop + "/img.png"}]}).encode()
            send(handler, "application/json", body)

        with _server(api) as (origin, api_log):
            client = ImageClient(api_key=KEY, base_url=origin + "/v1", history=False)
            with client:
                result = client.generate("x", model="dall-e-2")
    assert result.images[0][0, 0].tolist() == [9, 9, 9]
    assert _credentials(api_log.seen[0][2]) == {"authorization"}
    assert [_credentials(h) for *_, h in hop_log.seen + storage_log.seen] == [set(), set()]


def test_redirect_error_is_public() -> None:
    assert gptimage_widgets.RedirectError is RedirectError
    assert "RedirectError" in gptimage_widgets.__all__
