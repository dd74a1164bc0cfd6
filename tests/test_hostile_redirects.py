"""No credential of any backend reaches a host other than the configured one, under any redirect.

Issue 15, build item 1 and its acceptance point. Real local HTTP servers play the configured
API, a result storage host and "another origin" that records every header it receives. The
credentials at risk are all of them at once: the API key (``Authorization: Bearer`` or Azure's
``api-key``), a per-call ``extra_headers`` token, and what a user sets on an injected httpx
client (default headers, cookies, ``auth``), the client's ``default_headers``. Covered for the
OpenAI backend (reached through an injected client that routes ``api.openai.com`` to a local
server), Azure and a compatible server, for every API call the clients make, sync and async,
for 300-308, absolute, protocol-relative, same-origin and scheme-changing Locations; and for
result downloads (DALL·E ``url`` items), whose redirects are followed with bare requests.
"""

from __future__ import annotations

import base64
import http.server
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from local_http import Answer, RecordingServer, send
from PIL import Image

from gptimage_widgets.client import AsyncImageClient, ImageClient
from gptimage_widgets.errors import APIConnectionError, RedirectError

KEY = "sk-" + "test-FAKE-hostile-redirect-0123456789"  # split so leak scanners see no key
GATEWAY = "gw-FAKE-extra-header-token-42"
DEFAULT = "df-FAKE-default-header-token-7"
COOKIE = "ck-FAKE-session-cookie-99"
PASSWORD = "pw-FAKE-basic-auth-31"
BASIC = base64.b64encode(f"user:{PASSWORD}".encode()).decode()
SECRETS = (KEY, GATEWAY, DEFAULT, COOKIE, PASSWORD, BASIC)
#: Header names that carry credentials in any of the configurations below.
CREDENTIAL_HEADERS = frozenset(
    {"authorization", "api-key", "cookie", "x-gateway-token", "x-default-token"}
)


# --------------------------------------------------------------------------- servers


class Host(RecordingServer):
    """A local HTTP server that records (method, path, headers) of every request it gets."""

    def leaks(self) -> list[str]:
        """Every credential header name or secret value this host received."""
        found = []
        for _method, path, headers in self.seen:
            found += [f"{path}: {name}" for name in headers if name in CREDENTIAL_HEADERS]
            found += [f"{path}: {s}" for s in SECRETS if any(s in v for v in headers.values())]
            found += [f"{path}: {s} in path" for s in SECRETS if s in path]
        return found


@pytest.fixture
def hosts() -> Iterator[Callable[[Answer], Host]]:
    started: list[Host] = []

    def start(answer: Answer) -> Host:
        started.append(Host(answer))
        return started[-1]

    yield start
    for host in started:
        host.close()


pytestmark = pytest.mark.usefixtures("no_env")


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (9, 9, 9)).save(buffer, "PNG")
    return buffer.getvalue()


def _serve_png(handler: http.server.BaseHTTPRequestHandler) -> None:
    send(handler, "image/png", _png())


def _serve_json(handler: http.server.BaseHTTPRequestHandler) -> None:
    b64 = base64.b64encode(_png()).decode()
    send(handler, "application/json", json.dumps({"data": [{"b64_json": b64}]}).encode())


def _redirect(location: Callable[[str], str], status: int = 307) -> Answer:
    """Answer `status` with ``Location: location(request path)``."""

    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("location", location(handler.path))
        handler.send_header("content-length", "0")
        handler.end_headers()

    return answer


# --------------------------------------------------------------------------- clients


class _RouteOpenAI(httpx.HTTPTransport):
    """Sends ``https://api.openai.com/...`` to a local server (plain HTTP), all else as is."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        _route(request, self.port)
        return super().handle_request(request)


class _AsyncRouteOpenAI(httpx.AsyncHTTPTransport):
    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        _route(request, self.port)
        return await super().handle_async_request(request)


def _route(request: httpx.Request, port: int) -> None:
    if request.url.host == "api.openai.com":
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=port)


def _injected(asynchronous: bool, port: int, **extra: Any) -> Any:
    """A user's httpx client carrying its own credentials and following redirects."""
    kwargs: dict[str, Any] = {
        "headers": {"X-Default-Token": DEFAULT},
        "cookies": {"session": COOKIE},
        "follow_redirects": True,
        **extra,
    }
    if asynchronous:
        return httpx.AsyncClient(transport=_AsyncRouteOpenAI(port), **kwargs)
    return httpx.Client(transport=_RouteOpenAI(port), **kwargs)


def _client(
    backend: str, api: Host, *, asynchronous: bool, injected: bool = True, **extra: Any
) -> Any:
    """A client of `backend` whose API is `api` (OpenAI: routed there by the injected client)."""
    kwargs: dict[str, Any] = {
        "api_key": KEY,
        "history": False,
        "max_retries": 2,
        "allow_retired": True,
        **extra,
    }
    if backend == "azure":
        kwargs.update(backend="azure", azure_endpoint=api.origin, azure_deployment="d")
    elif backend == "compatible":
        kwargs.update(backend="openai", base_url=api.origin + "/v1")
    else:
        kwargs.update(backend="openai")
        injected = True  # the only way to reach a local server as api.openai.com
    if injected:
        kwargs["http_client"] = _injected(asynchronous, api.port)
    client = (AsyncImageClient if asynchronous else ImageClient)(**kwargs)
    assert client.backend == backend
    return client


IMAGE = np.full((16, 16, 3), 90, dtype=np.uint8)
#: Every API call of the sync client, each a function of the client (history: a folder).
SYNC_CALLS: dict[str, Callable[[ImageClient], Any]] = {
    "generate": lambda c: c.generate("a fox", extra_headers={"X-Gateway-Token": GATEWAY}),
    "edit": lambda c: c.edit("a hat", IMAGE, extra_headers={"X-Gateway-Token": GATEWAY}),
    "variations": lambda c: c.variations(IMAGE, extra_headers={"X-Gateway-Token": GATEWAY}),
    "stream_generate": lambda c: list(
        c.stream_generate("a fox", extra_headers={"X-Gateway-Token": GATEWAY})
    ),
    "stream_edit": lambda c: list(
        c.stream_edit("a hat", IMAGE, extra_headers={"X-Gateway-Token": GATEWAY})
    ),
    "list_server_models": lambda c: c.list_server_models(),
    "submit_batch": lambda c: c.submit_batch(["a fox"]),
    "list_batches": lambda c: c.list_batches(),
}


async def _async_call(client: AsyncImageClient, name: str) -> Any:
    headers = {"X-Gateway-Token": GATEWAY}
    if name == "generate":
        return await client.generate("a fox", extra_headers=headers)
    if name == "edit":
        return await client.edit("a hat", IMAGE, extra_headers=headers)
    if name == "variations":
        return await client.variations(IMAGE, extra_headers=headers)
    if name == "list_server_models":
        return await client.list_server_models()
    if name == "submit_batch":
        return await client.submit_batch(["a fox"])
    if name == "list_batches":
        return await client.list_batches()
    stream = getattr(client, name)
    args = ("a fox",) if name == "stream_generate" else ("a hat", IMAGE)
    return [event async for event in stream(*args, extra_headers=headers)]


async def _call(client: Any, name: str, *, asynchronous: bool) -> Any:
    """Open ``client``, make the API call ``name`` (sync or async), close it; the answer."""
    if asynchronous:
        async with client:
            return await _async_call(client, name)
    with client:
        return SYNC_CALLS[name](client)


ASYNC_CALLS = ["generate", "edit", "variations", "stream_generate", "stream_edit"]
BACKENDS = ["openai", "azure", "compatible"]
STATUSES = [300, 301, 302, 303, 305, 307, 308]


def _check_refused(info: pytest.ExceptionInfo[RedirectError], status: int, target: str) -> None:
    error = info.value
    assert error.status_code == status
    assert error.location is not None and error.location.startswith(target)
    assert target in str(error)
    assert not any(secret in str(error) or secret in repr(error) for secret in SECRETS)


def _check_sent_once_with_credentials(api: Host, backend: str) -> None:
    """The configured host got exactly one request (no retry, no hop) with the key on it."""
    assert len(api.seen) == 1
    headers = api.seen[0][2]
    assert headers.get("api-key" if backend == "azure" else "authorization")
    assert headers.get("x-default-token") == DEFAULT and COOKIE in headers.get("cookie", "")


# --------------------------------------------------------------------------- API calls


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_sync_api_redirect_to_another_origin_reaches_nobody(
    backend: str, status: int, hosts: Callable[[Answer], Host]
) -> None:
    other = hosts(_serve_json)
    api = hosts(_redirect(lambda path: other.origin + path, status))
    with _client(backend, api, asynchronous=False) as client, pytest.raises(RedirectError) as info:
        SYNC_CALLS["generate"](client)
    _check_refused(info, status, other.origin)
    assert other.seen == []
    _check_sent_once_with_credentials(api, backend)
    assert api.seen[0][2]["x-gateway-token"] == GATEWAY


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("backend", BACKENDS)
async def test_async_api_redirect_to_another_origin_reaches_nobody(
    backend: str, status: int, hosts: Callable[[Answer], Host]
) -> None:
    other = hosts(_serve_json)
    api = hosts(_redirect(lambda path: other.origin + path, status))
    async with _client(backend, api, asynchronous=True) as client:
        with pytest.raises(RedirectError) as info:
            await _async_call(client, "generate")
    _check_refused(info, status, other.origin)
    assert other.seen == []
    _check_sent_once_with_credentials(api, backend)


@pytest.mark.parametrize("call", sorted(SYNC_CALLS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_sync_api_call_refuses_redirects(
    backend: str, call: str, hosts: Callable[[Answer], Host], tmp_path: Path
) -> None:
    other = hosts(_serve_json)
    api = hosts(_redirect(lambda path: other.origin + path, 307))
    client = _client(backend, api, asynchronous=False, history=tmp_path)
    with client, pytest.raises(RedirectError) as info:
        SYNC_CALLS[call](client)
    _check_refused(info, 307, other.origin)
    assert other.seen == []
    _check_sent_once_with_credentials(api, backend)


@pytest.mark.parametrize(
    "call", [*ASYNC_CALLS, "list_server_models", "submit_batch", "list_batches"]
)
@pytest.mark.parametrize("backend", BACKENDS)
async def test_every_async_api_call_refuses_redirects(
    backend: str, call: str, hosts: Callable[[Answer], Host], tmp_path: Path
) -> None:
    other = hosts(_serve_json)
    api = hosts(_redirect(lambda path: other.origin + path, 308))
    async with _client(backend, api, asynchronous=True, history=tmp_path) as client:
        with pytest.raises(RedirectError) as info:
            await _async_call(client, call)
    _check_refused(info, 308, other.origin)
    assert other.seen == []
    _check_sent_once_with_credentials(api, backend)


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("backend", ["azure", "compatible"])
async def test_the_clients_own_httpx_client_refuses_too(
    backend: str, asynchronous: bool, hosts: Callable[[Answer], Host]
) -> None:
    """Without an injected client (api.openai.com is reached locally only through one)."""
    other = hosts(_serve_json)
    api = hosts(_redirect(lambda path: other.origin + path, 307))
    client = _client(backend, api, asynchronous=asynchronous, injected=False)
    with pytest.raises(RedirectError):
        await _call(client, "generate", asynchronous=asynchronous)
    assert other.seen == [] and len(api.seen) == 1


def _locations(other: Host, api: Host) -> dict[str, Callable[[str], str]]:
    return {
        "absolute": lambda path: other.origin + path,
        "protocol-relative": lambda path: f"//127.0.0.1:{other.port}{path}",
        "same-origin path": lambda path: "/v1/elsewhere" + path,
        "same origin, absolute": lambda path: api.origin + "/elsewhere" + path,
        "scheme change": lambda path: f"https://127.0.0.1:{api.port}{path}",
        "userinfo": lambda path: f"http://{KEY}@127.0.0.1:{other.port}{path}",
    }


@pytest.mark.parametrize(
    "kind",
    [
        "absolute",
        "protocol-relative",
        "same-origin path",
        "same origin, absolute",
        "scheme change",
        "userinfo",
    ],
)
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
async def test_no_location_is_followed_same_origin_or_not(
    kind: str, asynchronous: bool, hosts: Callable[[Answer], Host]
) -> None:
    """Same-origin redirects are refused as well: one request, to the configured URL."""
    other = hosts(_serve_json)
    api = hosts(_serve_json)
    api.answer = _redirect(_locations(other, api)[kind], 307)
    client = _client("azure", api, asynchronous=asynchronous)
    with pytest.raises(RedirectError) as info:
        await _call(client, "generate", asynchronous=asynchronous)
    assert other.seen == [] and len(api.seen) == 1
    assert api.seen[0][1].startswith("/openai/deployments/d/images/generations")
    assert info.value.location and KEY not in str(info.value) and KEY not in info.value.location


# --------------------------------------------------------------------------- downloads


def _url_api(url: str) -> Answer:
    """An API that answers every call with one DALL·E ``url`` item."""

    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        send(handler, "application/json", json.dumps({"data": [{"url": url}]}).encode())

    return answer


async def _generate(client: Any, asynchronous: bool) -> Any:
    call = {"model": "dall-e-2", "extra_headers": {"X-Gateway-Token": GATEWAY}}
    if asynchronous:
        async with client:
            return await client.generate("a fox", **call)
    with client:
        return client.generate("a fox", **call)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("backend", BACKENDS)
async def test_result_downloads_send_nothing_to_any_host_through_redirects(
    backend: str, asynchronous: bool, status: int, hosts: Callable[[Answer], Host]
) -> None:
    """Storage -> (redirect) -> another origin: neither sees a credential of any kind."""
    other = hosts(_serve_png)
    storage = hosts(_redirect(lambda path: other.origin + "/final" + path, status))
    api = hosts(_url_api(storage.origin + "/img.png?sig=abc"))
    client = _client(backend, api, asynchronous=asynchronous)
    result = await _generate(client, asynchronous)
    assert result.images[0][0, 0].tolist() == [9, 9, 9]
    assert [path for _, path, _ in storage.seen] == ["/img.png?sig=abc"]
    assert [path for _, path, _ in other.seen] == ["/final/img.png?sig=abc"]
    assert storage.leaks() == [] and other.leaks() == []
    assert api.seen[0][2]["x-default-token"] == DEFAULT  # the credentials were there to leak


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
async def test_downloads_drop_an_injected_clients_auth_and_cookies(
    asynchronous: bool, hosts: Callable[[Answer], Host]
) -> None:
    """``auth=`` and cookies of the user's httpx client stay with the API host."""
    other = hosts(_serve_png)
    storage = hosts(_redirect(lambda path: other.origin + path, 302))
    api = hosts(_url_api(storage.origin + "/img.png"))
    http = _injected(asynchronous, api.port, auth=("user", PASSWORD))
    client = (AsyncImageClient if asynchronous else ImageClient)(
        api_key=KEY, base_url=api.origin + "/v1", history=False, http_client=http
    )
    await _generate(client, asynchronous)
    assert api.seen[0][2]["authorization"] == f"Basic {BASIC}"
    assert storage.leaks() == [] and other.leaks() == []
    assert len(storage.seen) == 1 and len(other.seen) == 1


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
async def test_a_download_on_the_api_origin_carries_no_credentials_either(
    asynchronous: bool, hosts: Callable[[Answer], Host]
) -> None:
    api = hosts(_serve_png)

    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        (_url_api(api.origin + "/files/img.png") if handler.command == "POST" else _serve_png)(
            handler
        )

    api.answer = answer
    await _generate(_client("compatible", api, asynchronous=asynchronous), asynchronous)
    (post, _), (get, download) = [(m, h) for m, _, h in api.seen]
    assert (post, get) == ("POST", "GET")
    assert not CREDENTIAL_HEADERS & set(download) and not any(
        secret in value for secret in SECRETS for value in download.values()
    )


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
async def test_a_download_redirect_loop_ends_in_a_connection_error(
    asynchronous: bool, hosts: Callable[[Answer], Host]
) -> None:
    storage = hosts(_serve_png)
    storage.answer = _redirect(lambda path: storage.origin + path, 302)
    api = hosts(_url_api(storage.origin + "/loop.png"))
    http = _injected(asynchronous, api.port, max_redirects=3)
    client = (AsyncImageClient if asynchronous else ImageClient)(
        api_key=KEY, base_url=api.origin + "/v1", history=False, http_client=http
    )
    with pytest.raises(APIConnectionError, match="redirected more than 3 times"):
        await _generate(client, asynchronous)
    assert len(storage.seen) == 4 and storage.leaks() == []


def test_a_download_redirect_without_location_is_a_redirect_error(
    hosts: Callable[[Answer], Host],
) -> None:
    def no_location(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("content-length", "0")
        handler.end_headers()

    storage = hosts(no_location)
    api = hosts(_url_api(storage.origin + "/img.png"))
    client = ImageClient(api_key=KEY, base_url=api.origin + "/v1", history=False, max_retries=0)
    with client, pytest.raises(RedirectError, match="without a Location") as raised:
        client.generate("x", model="dall-e-2")
    assert len(storage.seen) == 1 and storage.leaks() == []
    message = str(raised.value)
    assert "result download" in message and "API calls" not in message  # about the download
    assert raised.value.status_code == 302 and raised.value.location is None
