"""A hostile or broken server can't exhaust memory, hang the kernel or leak the key (issue 15).

A small in-process attack server (``http.server`` on 127.0.0.1, one attack per URL path
prefix) answers each request with one attack; the clients use ``max_retries=0``. Every test
asserts the typed error and that the time stays under the issue's limit (60 s for the
memory attacks, 30 s for the trickle), never tighter. The memory attacks (a gzip bomb, a
1.5 GB body, endless or oversized streams) run the client in a child process that reports
its peak RSS (``VmHWM``), which must stay under 1 GB. Sync and async clients both.

Redirects and credentials are :mod:`tests.test_redirects`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.server
import io
import json
import os
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from local_http import RecordingServer
from PIL import Image

from gptimage_widgets import (
    APITimeoutError,
    AsyncImageClient,
    ImageClient,
    InternalServerError,
    ResponseDecodeError,
    ResponseTooLargeError,
    StreamError,
)
from gptimage_widgets.errors import AuthenticationError
from gptimage_widgets.responses import body_limit, download_limit

KEY = "sk-" + "hostile-FAKE-0123456789abcdef"  # split so leak scanners see no key
MEMORY_LIMIT = 1024**3  # the issue: peak RSS under 1 GB
MEMORY_ATTACK_SECONDS = 60  # the issue: a typed error within 60 s
TRICKLE_SECONDS = 30  # the issue: APITimeoutError within 30 s with timeout=5
MB = 1024 * 1024
Answer = Callable[[http.server.BaseHTTPRequestHandler], None]


# --------------------------------------------------------------------------- attack bodies


def _png(width: int = 4, height: int = 4) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 90)).save(buffer, "PNG")
    return buffer.getvalue()


def _png_bomb_header(width: int = 30000, height: int = 30000) -> bytes:
    """A small PNG that claims ``width`` x ``height`` pixels (its rows compress to nothing)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    rows = zlib.compress(b"\0" * (1 + 3 * width) * 64, 9)  # a few rows; the rest "truncated"
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


_GZIP_BOMB: list[bytes] = []


def _gzip_bomb(inflated: int = 2 * 1024**3) -> bytes:
    """~2 MB of gzip that inflates to `inflated` bytes of a JSON images answer.

    The body is ``{"data":[{"b64_json":"AAAA...`` : after a full flush, deflate compresses the
    next identical megabyte to identical bytes, so that segment is repeated instead of
    compressing 2 GB (the CRC in the trailer is still the real one).
    """
    if _GZIP_BOMB:
        return _GZIP_BOMB[0]
    block = b"A" * MB
    head = b'{"created":1,"data":[{"b64_json":"'
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = compressor.compress(head + block[len(head) :]) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    blocks = inflated // MB
    crc = zlib.crc32(head + block[len(head) :])
    for _ in range(blocks - 1):
        crc = zlib.crc32(block, crc)
    trailer = crc.to_bytes(4, "little") + (inflated % 2**32).to_bytes(4, "little")
    tail = compressor.flush()[:-8]  # the empty final block, without zlib's own trailer
    _GZIP_BOMB.append(first + again * (blocks - 1) + tail + trailer)
    return _GZIP_BOMB[0]


def _sse_event(kind: str, image: bytes, **fields: Any) -> bytes:
    payload = {"type": kind, "b64_json": base64.b64encode(image).decode(), **fields}
    return f"event: {kind}\ndata: {json.dumps(payload)}\n\n".encode()


# --------------------------------------------------------------------------- the attack server


def _write(handler: http.server.BaseHTTPRequestHandler, data: bytes) -> bool:
    """Send `data`; False once the client has gone (the attack stops there)."""
    try:
        handler.wfile.write(data)
        handler.wfile.flush()
    except OSError:
        return False
    return True


def _head(
    handler: http.server.BaseHTTPRequestHandler,
    status: int = 200,
    content_type: str = "application/json",
    length: int | None = None,
    **headers: str,
) -> None:
    handler.send_response(status)
    handler.send_header("content-type", content_type)
    if length is not None:
        handler.send_header("content-length", str(length))
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.end_headers()


def _send(
    handler: http.server.BaseHTTPRequestHandler,
    body: bytes,
    status: int = 200,
    content_type: str = "application/json",
    **headers: str,
) -> None:
    _head(handler, status, content_type, len(body), **headers)
    _write(handler, body)


def _json(value: Any, status: int = 200) -> Answer:
    return lambda handler: _send(handler, json.dumps(value).encode(), status)


def _raw(body: bytes, status: int = 200, content_type: str = "application/json") -> Answer:
    return lambda handler: _send(handler, body, status, content_type, x_request_id="req_hostile")


def _gzip_bomb_answer(status: int = 200) -> Answer:
    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        _send(handler, _gzip_bomb(), status, content_encoding="gzip")

    return answer


def _huge_json(handler: http.server.BaseHTTPRequestHandler) -> None:
    """A 1.5 GB JSON answer, generated as it is sent (the server never holds it)."""
    head, tail = b'{"created":1,"data":[{"b64_json":"', b'"}]}'
    size = 1536 * MB
    _head(handler, length=size, x_request_id="req_huge")
    if not _write(handler, head):
        return
    block = b"A" * MB
    left = size - len(head) - len(tail)
    while left > 0:
        if not _write(handler, block[: min(left, MB)]):
            return
        left -= MB
    _write(handler, tail)


def _endless_partials(handler: http.server.BaseHTTPRequestHandler) -> None:
    """Partial images, one after another, for as long as the client reads (at most 5 min)."""
    _head(handler, content_type="text/event-stream")
    event = _sse_event("image_generation.partial_image", _png(), partial_image_index=0)
    ends = time.monotonic() + 300
    while time.monotonic() < ends and _write(handler, event * 16):
        pass


def _too_many_completed(handler: http.server.BaseHTTPRequestHandler) -> None:
    _head(handler, content_type="text/event-stream")
    event = _sse_event("image_generation.completed", _png(), usage={"output_tokens": 1})
    for _ in range(1000):
        if not _write(handler, event):
            return


def _endless_event(handler: http.server.BaseHTTPRequestHandler) -> None:
    """One ``data:`` line that never ends (at most 2 GB)."""
    _head(handler, content_type="text/event-stream")
    if not _write(handler, b'event: image_generation.partial_image\ndata: {"b64_json":"'):
        return
    block = b"A" * MB
    for _ in range(2048):
        if not _write(handler, block):
            return


def _trickle(handler: http.server.BaseHTTPRequestHandler, pause: float = 2.0) -> None:
    """Headers at once, then one byte of the body every `pause` seconds (at most 2 min)."""
    body = json.dumps({"data": [{"b64_json": base64.b64encode(_png()).decode()}]}).encode()
    _head(handler, length=len(body))
    for byte in body[:60]:
        if not _write(handler, bytes([byte])):
            return
        time.sleep(pause)


def _trickle_headers(handler: http.server.BaseHTTPRequestHandler) -> None:
    """The status line and headers themselves one byte every 2 s (at most 2 min)."""
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 10\r\n"
    for byte in head[:60]:
        if not _write(handler, bytes([byte])):
            return
        time.sleep(2.0)


def _trickle_stream(handler: http.server.BaseHTTPRequestHandler) -> None:
    """A stream of keep-alive comments, one every 0.5 s, that never sends an image."""
    _head(handler, content_type="text/event-stream")
    for _ in range(240):
        if not _write(handler, b": keep-alive\n\n"):
            return
        time.sleep(0.5)


def _url_items(handler: http.server.BaseHTTPRequestHandler) -> None:
    origin = f"http://{handler.headers['host']}"
    _send(handler, json.dumps({"data": [{"url": f"{origin}/huge_download/image.png"}]}).encode())


def _echo_authorization(handler: http.server.BaseHTTPRequestHandler) -> None:
    seen = handler.headers.get("authorization", "")
    message = f"Invalid header 'Authorization: {seen}' for this endpoint"
    _send(handler, json.dumps({"error": {"message": message, "type": "auth"}}).encode(), 401)


def _html_502(handler: http.server.BaseHTTPRequestHandler) -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body>" + b"x" * (5 * MB)
    _send(handler, page + b"</body></html>", 502, "text/html")


DEEP = 200_000
ATTACKS: dict[str, Answer] = {
    "gzip_bomb": _gzip_bomb_answer(),
    "gzip_bomb_502": _gzip_bomb_answer(502),
    "huge_json": _huge_json,
    "huge_download": _huge_json,
    "url_items": _url_items,
    "endless_partials": _endless_partials,
    "too_many_completed": _too_many_completed,
    "endless_event": _endless_event,
    "trickle": _trickle,
    "trickle_headers": _trickle_headers,
    "trickle_stream": _trickle_stream,
    "deep_json": _raw(b'{"data":' + b"[" * DEEP + b"]" * DEEP + b"}"),
    "deep_error": _raw(b'{"error":' + b"[" * DEEP + b"]" * DEEP + b"}", status=500),
    "deep_event": lambda h: _send(
        h, b"data: " + b"[" * DEEP + b"]" * DEEP + b"\n\n", content_type="text/event-stream"
    ),
    "invalid_utf8": _raw(b'{"data":[{"b64_json":"\xff\xfe\xfa"}]}'),
    "png_bomb": _json({"data": [{"b64_json": base64.b64encode(_png_bomb_header()).decode()}]}),
    "invalid_base64": _json({"data": [{"b64_json": "not base64 at all!!"}]}),
    "svg": _json({"data": [{"b64_json": base64.b64encode(b"<svg xmlns='x'/>").decode()}]}),
    "nan": _raw(b'{"data":[{"b64_json":NaN}]}'),
    "data_not_a_list": _json({"data": "images"}),
    "items_not_objects": _json({"data": [1, 2]}),
    "b64_not_a_string": _json({"data": [{"b64_json": 5}]}),
    "top_level_list": _json([{"b64_json": "x"}]),
    "usage_wrong_types": _json(
        {
            "data": [{"b64_json": base64.b64encode(_png()).decode(), "revised_prompt": [1]}],
            "usage": {"input_tokens": "many", "output_tokens_details": 7},
            "created": "yesterday",
        }
    ),
    "echo_authorization": _echo_authorization,
    "html_502": _html_502,
}


def _attack(handler: http.server.BaseHTTPRequestHandler) -> None:
    """Answer with the attack named by the path's first segment, then close the connection."""
    ATTACKS[handler.path.strip("/").split("/")[0]](handler)
    handler.close_connection = True


@contextlib.contextmanager
def attack_server() -> Iterator[str]:
    """Serve every attack of :data:`ATTACKS`; yields the origin (``http://127.0.0.1:port``)."""
    with RecordingServer(_attack, protocol="HTTP/1.1") as server:
        yield server.origin


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    with attack_server() as url:
        yield url


def _client_kwargs(origin: str, attack: str, **more: Any) -> dict[str, Any]:
    return {
        "api_key": KEY,
        "base_url": f"{origin}/{attack}/v1",
        "history": False,
        "max_retries": 0,
        **more,
    }


def _sync_call(origin: str, attack: str, client: dict[str, Any], call: dict[str, Any]) -> Any:
    with ImageClient(**_client_kwargs(origin, attack, **client)) as c:
        return c.generate("a fox", **call)


async def _async_call(
    origin: str, attack: str, client: dict[str, Any], call: dict[str, Any]
) -> Any:
    async with AsyncImageClient(**_client_kwargs(origin, attack, **client)) as c:
        return await c.generate("a fox", **call)


def _raises_within(
    error: type[Exception], seconds: float, run: Callable[[], Any]
) -> pytest.ExceptionInfo[Any]:
    started = time.monotonic()
    with pytest.raises(error) as info:
        run()
    assert time.monotonic() - started < seconds
    return info


async def _araises_within(error: type[Exception], seconds: float, run: Any) -> Any:
    started = time.monotonic()
    with pytest.raises(error) as info:
        await run
    assert time.monotonic() - started < seconds
    return info


# --------------------------------------------------------------------------- memory attacks

CHILD = r"""
import asyncio, json, sys, time
from gptimage_widgets import AsyncImageClient, ImageClient

base_url, mode, key, call = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
options = dict(api_key=key, base_url=base_url, history=False, max_retries=0)

def peak_rss():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

async def run_async():
    async with AsyncImageClient(**options) as client:
        await client.generate("a fox", **call)

started = time.monotonic()
error, message, received, limit = None, "", None, None
try:
    if mode == "sync":
        with ImageClient(**options) as client:
            client.generate("a fox", **call)
    else:
        asyncio.run(run_async())
except Exception as exc:
    error, message = type(exc).__name__, str(exc)[:1000]
    received, limit = getattr(exc, "received", None), getattr(exc, "limit", None)
print(json.dumps({"error": error, "message": message, "seconds": time.monotonic() - started,
                  "peak_rss": peak_rss(), "received": received, "limit": limit}))
"""


def _in_child(origin: str, attack: str, mode: str, **call: Any) -> dict[str, Any]:
    """Run one call in a fresh process; its outcome, time and peak RSS."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, f"{origin}/{attack}/v1", mode, KEY, json.dumps(call)],
        capture_output=True,
        text=True,
        timeout=MEMORY_ATTACK_SECONDS + 30,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    outcome: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["seconds"] < MEMORY_ATTACK_SECONDS, outcome
    assert outcome["peak_rss"] < MEMORY_LIMIT, outcome
    return outcome


MODES = ["sync", "async"]


@pytest.mark.parametrize("mode", MODES)
def test_a_gzip_bomb_stops_at_the_decoded_limit(origin: str, mode: str) -> None:
    assert len(_gzip_bomb()) < 4 * MB  # ~2 MB on the wire, 2 GB inflated
    outcome = _in_child(origin, "gzip_bomb", mode)
    assert outcome["error"] == "ResponseTooLargeError", outcome
    assert outcome["limit"] == body_limit(1) and outcome["received"] > outcome["limit"]
    assert "grew past" in outcome["message"] and "max_response_bytes" in outcome["message"]


@pytest.mark.parametrize("mode", MODES)
def test_a_1_5_gb_json_body_stops_at_the_limit(origin: str, mode: str) -> None:
    outcome = _in_child(origin, "huge_json", mode)
    assert outcome["error"] == "ResponseTooLargeError", outcome
    assert outcome["limit"] == body_limit(1) < 100 * MB
    assert "req_huge" in outcome["message"]  # the request id is kept


@pytest.mark.parametrize("mode", MODES)
def test_an_endless_stream_of_partial_images_is_a_stream_error(origin: str, mode: str) -> None:
    outcome = _in_child(origin, "endless_partials", mode, partial_images=2)
    assert outcome["error"] == "StreamError", outcome
    assert "more partial images than the 2 asked for" in outcome["message"]


@pytest.mark.parametrize("mode", MODES)
def test_a_streamed_event_larger_than_any_image_is_refused(origin: str, mode: str) -> None:
    outcome = _in_child(origin, "endless_event", mode, partial_images=1)
    assert outcome["error"] == "ResponseTooLargeError", outcome
    assert "a streamed event grew past" in outcome["message"]


def test_a_result_download_gets_the_limit_too(origin: str) -> None:
    outcome = _in_child(origin, "url_items", "sync", model="dall-e-3")
    assert outcome["error"] == "ResponseTooLargeError", outcome
    assert outcome["limit"] == download_limit()
    assert "the result download grew past" in outcome["message"]


# --------------------------------------------------------------------------- streams, in process


def test_more_completed_images_than_n_is_a_stream_error(origin: str) -> None:
    info = _raises_within(
        StreamError,
        MEMORY_ATTACK_SECONDS,
        lambda: _sync_call(origin, "too_many_completed", {}, {"partial_images": 1}),
    )
    assert "more completed images than the 1 asked for" in str(info.value)


async def test_more_completed_images_than_n_is_a_stream_error_async(origin: str) -> None:
    call = _async_call(origin, "too_many_completed", {}, {"partial_images": 1, "n": 2})
    info = await _araises_within(StreamError, MEMORY_ATTACK_SECONDS, call)
    assert "more completed images than the 2 asked for" in str(info.value)


# --------------------------------------------------------------------------- time


def test_a_trickling_body_cannot_stretch_a_numeric_timeout(origin: str) -> None:
    info = _raises_within(
        APITimeoutError, TRICKLE_SECONDS, lambda: _sync_call(origin, "trickle", {"timeout": 5}, {})
    )
    assert "total timeout of 5 s" in str(info.value) and KEY not in str(info.value)


@pytest.mark.parametrize("python", ["3.11+", "3.10"])
async def test_a_trickling_body_cannot_stretch_a_numeric_timeout_async(
    origin: str, python: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if python == "3.10" and hasattr(asyncio, "timeout"):
        monkeypatch.delattr(asyncio, "timeout")  # what Python 3.10 lacks: the timer fallback
    call = _async_call(origin, "trickle", {"timeout": 5}, {})
    info = await _araises_within(APITimeoutError, TRICKLE_SECONDS, call)
    assert "total timeout of 5 s" in str(info.value)


def test_trickling_headers_cannot_stretch_it_either(origin: str) -> None:
    _raises_within(
        APITimeoutError,
        TRICKLE_SECONDS,
        lambda: _sync_call(origin, "trickle_headers", {"timeout": 5}, {}),
    )


def test_the_total_timeout_bounds_an_attempt_given_an_httpx_timeout(origin: str) -> None:
    import httpx

    client = {"timeout": httpx.Timeout(60.0, connect=5.0), "total_timeout": 5}
    _raises_within(
        APITimeoutError, TRICKLE_SECONDS, lambda: _sync_call(origin, "trickle", client, {})
    )


async def test_trickling_headers_cannot_stretch_it_either_async(origin: str) -> None:
    call = _async_call(origin, "trickle_headers", {"timeout": 5}, {})
    await _araises_within(APITimeoutError, TRICKLE_SECONDS, call)


def test_a_per_call_numeric_timeout_bounds_a_stream_that_sends_only_keepalives(
    origin: str,
) -> None:
    _raises_within(
        APITimeoutError,
        TRICKLE_SECONDS,
        lambda: _sync_call(origin, "trickle_stream", {}, {"partial_images": 2, "timeout": 5}),
    )


async def test_the_total_timeout_bounds_a_keepalive_stream_async(origin: str) -> None:
    call = _async_call(origin, "trickle_stream", {"total_timeout": 5}, {"partial_images": 2})
    await _araises_within(APITimeoutError, TRICKLE_SECONDS, call)


# --------------------------------------------------------------------------- decoding

DECODE_ATTACKS = [
    "deep_json",
    "invalid_utf8",
    "png_bomb",
    "invalid_base64",
    "svg",
    "nan",
    "data_not_a_list",
    "items_not_objects",
    "b64_not_a_string",
    "top_level_list",
]


@pytest.mark.parametrize("attack", DECODE_ATTACKS)
def test_every_undecodable_answer_is_a_response_decode_error(origin: str, attack: str) -> None:
    info = _raises_within(
        ResponseDecodeError, MEMORY_ATTACK_SECONDS, lambda: _sync_call(origin, attack, {}, {})
    )
    assert type(info.value) is ResponseDecodeError
    if attack in ("deep_json", "invalid_utf8"):
        assert info.value.request_id == "req_hostile"


@pytest.mark.parametrize("attack", ["deep_json", "invalid_utf8", "png_bomb", "nan"])
async def test_every_undecodable_answer_is_a_response_decode_error_async(
    origin: str, attack: str
) -> None:
    info = await _araises_within(
        ResponseDecodeError, MEMORY_ATTACK_SECONDS, _async_call(origin, attack, {}, {})
    )
    assert type(info.value) is ResponseDecodeError


def test_a_deep_json_event_in_a_stream_is_a_stream_error(origin: str) -> None:
    _raises_within(
        StreamError,
        MEMORY_ATTACK_SECONDS,
        lambda: _sync_call(origin, "deep_event", {}, {"partial_images": 1}),
    )


def test_a_deep_json_error_body_still_gives_the_status_error(origin: str) -> None:
    info = _raises_within(
        InternalServerError, MEMORY_ATTACK_SECONDS, lambda: _sync_call(origin, "deep_error", {}, {})
    )
    assert len(str(info.value)) < 1000


def test_wrong_types_in_usage_and_metadata_do_not_break_the_result(origin: str) -> None:
    result = _sync_call(origin, "usage_wrong_types", {}, {})
    assert result.images[0].shape == (4, 4, 3) and result.created is None
    assert result.cost_is_estimate  # the usage could not be priced: the estimate stands


# --------------------------------------------------------------------------- error bodies


@pytest.mark.parametrize("mode", MODES)
async def test_an_error_body_echoing_the_key_shows_it_redacted(origin: str, mode: str) -> None:
    if mode == "sync":
        info = _raises_within(
            AuthenticationError,
            MEMORY_ATTACK_SECONDS,
            lambda: _sync_call(origin, "echo_authorization", {}, {}),
        )
    else:
        call = _async_call(origin, "echo_authorization", {}, {})
        info = await _araises_within(AuthenticationError, MEMORY_ATTACK_SECONDS, call)
    text = f"{info.value} {info.value.body!r}"
    assert KEY not in text and "Bearer [redacted]" in str(info.value)


def test_a_5_mb_html_502_becomes_a_short_message(origin: str) -> None:
    info = _raises_within(
        InternalServerError, MEMORY_ATTACK_SECONDS, lambda: _sync_call(origin, "html_502", {}, {})
    )
    assert "502 Bad Gateway" in str(info.value) and len(str(info.value)) < 600


@pytest.mark.parametrize("mode", MODES)
async def test_a_gzip_bomb_error_body_is_cut_short(origin: str, mode: str) -> None:
    if mode == "sync":
        info = _raises_within(
            InternalServerError,
            MEMORY_ATTACK_SECONDS,
            lambda: _sync_call(origin, "gzip_bomb_502", {}, {}),
        )
    else:
        call = _async_call(origin, "gzip_bomb_502", {}, {})
        info = await _araises_within(InternalServerError, MEMORY_ATTACK_SECONDS, call)
    assert len(str(info.value)) < 600


def test_a_listing_larger_than_any_real_one_is_refused(origin: str) -> None:
    with ImageClient(**_client_kwargs(origin, "huge_json")) as client:
        _raises_within(ResponseTooLargeError, MEMORY_ATTACK_SECONDS, client.list_server_models)
