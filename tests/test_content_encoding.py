"""Content-Encoding: requests accept gzip and deflate only; an answer in another coding is refused.

zlib inflates at most ~1,000x, so the body reads stop a gzip bomb within one chunk; brotli and
zstd (which httpx offers whenever their packages are installed) inflate one small chunk to
gigabytes before it can be counted. So the client asks for gzip/deflate, and refuses, before
reading, an answer in a coding it did not ask for.
"""

from __future__ import annotations

import base64
import gzip
import importlib.util
import io
import json
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from gptimage_widgets import AsyncImageClient, ImageClient
from gptimage_widgets.errors import ResponseDecodeError
from gptimage_widgets.request_options import ACCEPT_ENCODING

KEY = "sk-" + "test-FAKE-encodings-0123456789"  # split so leak scanners see no key


def _answer_json() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((4, 6, 3), 200, np.uint8)).save(buffer, format="PNG")
    image = base64.b64encode(buffer.getvalue()).decode()
    return json.dumps({"created": 1, "data": [{"b64_json": image}]}).encode()


class Chunks(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body httpx reads (and decodes) only when asked, as from a network: not pre-read."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def __iter__(self) -> Any:
        yield self.body

    async def __aiter__(self) -> Any:
        yield self.body


class Server:
    """A MockTransport handler: records requests, answers with `body` in `encoding`."""

    def __init__(self, encoding: str | None, body: bytes) -> None:
        self.encoding, self.body, self.requests = encoding, body, []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        headers = {"content-type": "application/json", "x-request-id": "req_enc"}
        if self.encoding:
            headers["content-encoding"] = self.encoding
        return httpx.Response(200, headers=headers, stream=Chunks(self.body))


async def _generate(asynchronous: bool, server: Server, **kwargs: Any) -> Any:
    options = {"api_key": KEY, "base_url": "https://api.example/v1", "history": False}
    options["max_retries"] = 2  # a refused answer is not retried all the same
    if asynchronous:
        http = httpx.AsyncClient(transport=httpx.MockTransport(server))
        async with AsyncImageClient(http_client=http, **options) as client:
            return await client.generate("a kite", model="gpt-image-2", **kwargs)
    with ImageClient(
        http_client=httpx.Client(transport=httpx.MockTransport(server)), **options
    ) as c:
        return c.generate("a kite", model="gpt-image-2", **kwargs)


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
async def test_requests_accept_gzip_and_deflate_only(asynchronous: bool) -> None:
    server = Server(None, _answer_json())
    await _generate(asynchronous, server)
    assert server.requests[0].headers["accept-encoding"] == ACCEPT_ENCODING == "gzip, deflate"


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
async def test_a_gzip_answer_is_read(asynchronous: bool) -> None:
    result = await _generate(asynchronous, Server("gzip", gzip.compress(_answer_json())))
    assert result.images[0].shape == (4, 6, 3)


@pytest.mark.parametrize("coding", ["br", "zstd", "gzip, br", "x-bomb"])
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
async def test_an_answer_in_a_coding_not_asked_for_is_refused_unread(
    asynchronous: bool, coding: str
) -> None:
    server = Server(coding, b"\x8b" * 64)  # never decoded: refused on the header alone
    with pytest.raises(ResponseDecodeError, match="did not accept") as raised:
        await _generate(asynchronous, server)
    assert len(server.requests) == 1  # not retried
    message = str(raised.value)
    assert coding.split(", ")[-1] in message and "gzip" in message and KEY not in message
    assert raised.value.request_id == "req_enc"


@pytest.mark.skipif(
    importlib.util.find_spec("brotli") is not None or importlib.util.find_spec("brotlicffi"),
    reason="with brotli installed httpx would decode this plain body as brotli",
)
def test_a_coding_the_caller_asked_for_in_extra_headers_is_not_refused() -> None:
    server = Server("br", _answer_json())  # without brotli, httpx passes the bytes through
    result = ImageClient(
        api_key=KEY,
        base_url="https://api.example/v1",
        history=False,
        http_client=httpx.Client(transport=httpx.MockTransport(server)),
    ).generate("a kite", model="gpt-image-2", extra_headers={"Accept-Encoding": "br"})
    assert server.requests[0].headers["accept-encoding"] == "br"
    assert result.images[0].shape == (4, 6, 3)
