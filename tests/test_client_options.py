"""SDK-style escape hatches on every client method: ``extra_body``, ``extra_headers``,
``extra_query`` and a per-call ``timeout``.

Extra body fields are sent as given (JSON or multipart) after validation of the known
parameters, and recorded in ``result.request`` and the history; extra headers reach the API
call only (never a download host) and are never shown in errors or stored.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from gptimage_widgets.client import AsyncImageClient, ImageClient
from gptimage_widgets.errors import BadRequestError, ValidationError
from gptimage_widgets.history import HistoryStore

KEY = "sk-" + "test-FAKE-options-0123456789"  # split so leak scanners see no key
GATEWAY_TOKEN = "gw-" + "secret-token-0123456789"


def _png(color: tuple[int, int, int] = (10, 20, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), color).save(buffer, "PNG")
    return buffer.getvalue()


def _ok(request: httpx.Request) -> httpx.Response:
    if request.method == "GET":
        return httpx.Response(200, content=_png((7, 7, 7)), headers={"content-type": "image/png"})
    if request.headers.get("accept") == "text/event-stream":
        event = {
            "type": "image_generation.completed",
            "b64_json": base64.b64encode(_png()).decode(),
        }
        body = f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})
    return httpx.Response(200, json={"data": [{"b64_json": base64.b64encode(_png()).decode()}]})


class Log:
    """A MockTransport handler recording every request."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response] = _ok) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.answer(request)


def sync_client(log: Log, **kwargs: Any) -> ImageClient:
    kwargs.setdefault("history", False)
    return ImageClient(
        api_key=KEY, http_client=httpx.Client(transport=httpx.MockTransport(log)), **kwargs
    )


def async_client(log: Log, **kwargs: Any) -> AsyncImageClient:
    kwargs.setdefault("history", False)
    http = httpx.AsyncClient(transport=httpx.MockTransport(log))
    return AsyncImageClient(api_key=KEY, http_client=http, **kwargs)


def form_fields(request: httpx.Request) -> dict[str, list[str]]:
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.content)
    fields: dict[str, list[str]] = {}
    for part in message.iter_parts():
        if part.get_filename() is None:
            name = str(part.get_param("name", header="content-disposition"))
            fields.setdefault(name, []).append(part.get_payload(decode=True).decode())
    return fields


IMAGE = np.zeros((16, 16, 3), np.uint8)


# --------------------------------------------------------------------------- the offline server


def test_extra_body_reaches_the_wire_and_the_history(offline_server: Any, tmp_path: Path) -> None:
    offline_server.reset()
    with ImageClient(base_url=offline_server.base_url, api_key=KEY, history=tmp_path) as client:
        result = client.generate("a fox", extra_body={"safety_identifier": "u1"})
    [record] = offline_server.requests
    assert record.fields["safety_identifier"] == "u1"
    assert result.request["safety_identifier"] == "u1"
    assert result.entry_id is not None
    assert HistoryStore(tmp_path).load(result.entry_id).request["safety_identifier"] == "u1"
    meta = json.loads((result.paths[0].parent / "meta.json").read_text())
    assert meta["params"]["safety_identifier"] == "u1"


async def test_async_edit_sends_extra_body_as_a_form_field(offline_server: Any) -> None:
    offline_server.reset()
    async with AsyncImageClient(base_url=offline_server.base_url, api_key=KEY, history=False) as c:
        result = await c.edit("a hat", IMAGE, extra_body={"safety_identifier": "u2"})
    assert offline_server.requests[-1].fields["safety_identifier"] == "u2"
    assert result.request["safety_identifier"] == "u2"


# --------------------------------------------------------------------------- on the wire


def test_every_escape_hatch_reaches_the_api_call() -> None:
    log = Log()
    sync_client(log).generate(
        "x",
        quality="low",
        extra_body={"safety_identifier": "u1", "future": {"a": [1, 2]}},
        extra_headers={"X-Gateway-Token": GATEWAY_TOKEN, "X-Trace": "t1"},
        extra_query={"route": "eu"},
        timeout=42,
    )
    [request] = log.requests
    body = json.loads(request.content)
    assert body["safety_identifier"] == "u1" and body["future"] == {"a": [1, 2]}
    assert body["quality"] == "low" and body["prompt"] == "x"
    assert request.headers["x-gateway-token"] == GATEWAY_TOKEN
    assert request.headers["x-trace"] == "t1"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.url.params["route"] == "eu"
    assert request.extensions["timeout"]["read"] == 42


def test_multipart_extra_fields_are_strings_and_lists_repeat() -> None:
    log = Log()
    sync_client(log).edit(
        "x", IMAGE, extra_body={"safety_identifier": "u1", "flag": True, "tags": ["a", "b"]}
    )
    fields = form_fields(log.requests[0])
    assert fields["safety_identifier"] == ["u1"] and fields["flag"] == ["true"]
    assert fields["tags"] == ["a", "b"] and fields["prompt"] == ["x"]


def test_variations_and_streams_take_the_escape_hatches() -> None:
    log = Log()
    client = sync_client(log, allow_retired=True)
    client.variations(np.zeros((64, 64, 3), np.uint8), extra_body={"safety_identifier": "v"})
    events = list(client.stream_generate("x", extra_query={"q": "1"}, extra_body={"s": "w"}))
    assert events[-1].result is not None and events[-1].result.request["s"] == "w"
    list(client.stream_edit("x", IMAGE, extra_headers={"X-Trace": "e"}, timeout=7))
    variation, stream, stream_edit = log.requests
    assert form_fields(variation)["safety_identifier"] == ["v"]
    assert stream.url.params["q"] == "1" and json.loads(stream.content)["s"] == "w"
    assert stream_edit.headers["x-trace"] == "e"
    assert stream_edit.extensions["timeout"]["read"] == 7


async def test_async_methods_map_and_sweep_take_the_escape_hatches() -> None:
    log = Log()
    async with async_client(log, allow_retired=True) as client:
        await client.generate("x", extra_body={"safety_identifier": "g"})
        await client.variations(np.zeros((64, 64, 3), np.uint8), extra_headers={"X-T": "v"})
        async for _event in client.stream_edit("x", IMAGE, extra_query={"q": "se"}):
            pass
        await client.map([{"prompt": "m", "extra_body": {"safety_identifier": "m"}}])
        await client.sweep(["s"], {"quality": ["low"]}, extra_body={"k": 1}, progress=False)
    generate, variation, stream_edit, mapped, swept = log.requests
    assert json.loads(generate.content)["safety_identifier"] == "g"
    assert variation.headers["x-t"] == "v"
    assert stream_edit.url.params["q"] == "se"
    assert json.loads(mapped.content)["safety_identifier"] == "m"
    assert json.loads(swept.content)["k"] == 1


def test_known_parameters_are_still_validated_first() -> None:
    log = Log()
    with pytest.raises(ValidationError) as info:
        sync_client(log).generate("x", quality="ultra", extra_body={"safety_identifier": "u"})
    assert info.value.params == ["quality"] and log.requests == []
    with pytest.raises(ValidationError, match="extra_body must be a mapping"):
        sync_client(log).generate("x", extra_body=["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="timeout"):
        sync_client(log).generate("x", timeout=-1)
    assert log.requests == []


def test_downloads_get_no_extra_headers_but_the_call_timeout() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return _ok(request)
        return httpx.Response(200, json={"data": [{"url": "https://files.example/a.png"}]})

    log = Log(answer)
    result = sync_client(log, allow_retired=True).generate(
        "x", model="dall-e-2", extra_headers={"X-Gateway-Token": GATEWAY_TOKEN}, timeout=9
    )
    api, download = log.requests
    assert api.headers["x-gateway-token"] == GATEWAY_TOKEN
    assert "x-gateway-token" not in download.headers and "authorization" not in download.headers
    assert download.extensions["timeout"]["read"] == 9
    assert result.images[0][0, 0].tolist() == [7, 7, 7]


def test_a_secret_extra_header_echoed_by_the_server_is_redacted(tmp_path: Path) -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        token = request.headers["x-api-key"]
        return httpx.Response(400, json={"error": {"message": f"bad key {token}", "code": "x"}})

    log = Log(echo)
    with pytest.raises(BadRequestError) as info:
        sync_client(log, history=tmp_path).generate("x", extra_headers={"X-Api-Key": GATEWAY_TOKEN})
    assert GATEWAY_TOKEN not in str(info.value) and GATEWAY_TOKEN not in repr(info.value.body)
    assert "[redacted]" in str(info.value)


def test_extra_headers_are_never_stored(tmp_path: Path) -> None:
    result = sync_client(Log(), history=tmp_path).generate(
        "x", extra_headers={"X-Gateway-Token": GATEWAY_TOKEN}, extra_body={"api_key": KEY}
    )
    assert "api_key" not in result.request
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert GATEWAY_TOKEN.encode() not in data and KEY.encode() not in data
