"""ImageClient / AsyncImageClient: httpx.MockTransport unit tests for every path, a real
stalled socket for the stream timeout, and integration against the offline server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import email.parser
import email.policy
import email.utils
import gzip
import http.server
import inspect
import io
import json
import socket
import threading
import tracemalloc
import typing
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from image_helpers import png
from in_flight import InFlight
from local_http import RecordingServer, send
from PIL import Image

import gptimage_widgets
from gptimage_widgets import backends, catalog, imaging, pricing, responses
from gptimage_widgets.client import DEFAULT_TIMEOUT, AsyncImageClient, ImageClient
from gptimage_widgets.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    ConflictError,
    GPTImageError,
    InternalServerError,
    ModerationError,
    NotFoundError,
    PermissionDeniedError,
    QuotaError,
    RateLimitError,
    ResponseDecodeError,
    StreamError,
    UnprocessableEntityError,
    ValidationError,
)
from gptimage_widgets.history import HistoryStore
from gptimage_widgets.offline import Fault

KEY = "sk-" + "test-FAKE-0123456789abcdef"  # split so leak scanners see no key
Handler = Callable[[httpx.Request], httpx.Response]
PartialSeen = Callable[[int, np.ndarray], None]


# --------------------------------------------------------------------------- helpers


def png_bytes(width: int = 8, height: int = 6, color: tuple[int, ...] = (200, 30, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB" if len(color) == 3 else "RGBA", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


def b64png(width: int = 8, height: int = 6, color: tuple[int, ...] = (200, 30, 40)) -> str:
    return base64.b64encode(png_bytes(width, height, color)).decode()


USAGE = {
    "input_tokens": 10,
    "input_tokens_details": {"text_tokens": 10, "image_tokens": 0},
    "output_tokens": 272,
    "total_tokens": 282,
}


def ok_json(n: int = 1, **extra: Any) -> httpx.Response:
    body = {"created": 1_790_000_000, "data": [{"b64_json": b64png()} for _ in range(n)], **extra}
    return httpx.Response(200, json=body, headers={"x-request-id": "req_ok"})


def error_response(
    status: int, message: str = "nope", code: str | None = None, **extra: Any
) -> httpx.Response:
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    error.update(extra)
    return httpx.Response(status, json={"error": error}, headers={"x-request-id": f"req_{status}"})


def sse_body(events: list[dict[str, Any]]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def stream_events(prefix: str = "image_generation", partials: int = 2) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        {
            "type": f"{prefix}.partial_image",
            "b64_json": b64png(color=(i * 50, 0, 0)),
            "partial_image_index": i,
        }
        for i in range(partials)
    ]
    events.append(
        {"type": f"{prefix}.completed", "b64_json": b64png(color=(0, 0, 250)), "usage": USAGE}
    )
    return events


def sse_response(body: bytes | Iterator[bytes]) -> httpx.Response:
    content = httpx.ByteStream(body) if isinstance(body, bytes) else _IterStream(body)
    return httpx.Response(
        200,
        headers={"content-type": "text/event-stream", "x-request-id": "req_stream"},
        stream=content,
    )


class _IterStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks

    async def __aiter__(self) -> Any:
        for chunk in self.chunks:
            yield chunk


class Recorder:
    """A MockTransport handler that answers from a list and records every request."""

    def __init__(self, *answers: httpx.Response | Handler | BaseException) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, BaseException):
            raise answer
        return answer(request) if callable(answer) else answer

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.requests[-1].content)


def client_for(handler: Recorder | Handler, **kwargs: Any) -> ImageClient:
    kwargs.setdefault("history", False)
    kwargs.setdefault("api_key", KEY)
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return ImageClient(http_client=http, **kwargs)


def async_client_for(handler: Any, **kwargs: Any) -> AsyncImageClient:
    kwargs.setdefault("history", False)
    kwargs.setdefault("api_key", KEY)
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return AsyncImageClient(http_client=http, **kwargs)


def parse_multipart(request: httpx.Request) -> tuple[dict[str, list[str]], list[tuple[str, ...]]]:
    """(form fields, files as (field, filename, content type)) of a multipart request."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.content)
    fields: dict[str, list[str]] = {}
    files: list[tuple[str, ...]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if part.get_filename() is None:
            fields.setdefault(str(name), []).append(payload.decode())
        else:
            files.append((str(name), part.get_filename(), part.get_content_type()))
            files[-1] = (*files[-1], payload)  # type: ignore[assignment]
    return fields, files


# --------------------------------------------------------------------------- generate


def test_generate_sends_json_and_decodes_arrays() -> None:
    recorder = Recorder(ok_json(2, usage=USAGE, size="1024x1024"))
    result = client_for(recorder).generate("a fox", n=2, quality="low")
    [request] = recorder.requests
    assert request.method == "POST"
    assert str(request.url) == "https://api.openai.com/v1/images/generations"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"] == "application/json"
    assert recorder.json == {"model": "gpt-image-2", "prompt": "a fox", "n": 2, "quality": "low"}
    assert len(result) == 2 and result.images[0].dtype == np.uint8
    assert result.images[0].shape == (6, 8, 3)  # real size, not the "size" field
    assert result.images[0][0, 0].tolist() == [200, 30, 40]
    assert result.request_id == "req_ok" and result.created == 1_790_000_000
    assert result.usage == USAGE and result.request["quality"] == "low"
    assert result.cost_usd == pytest.approx(pricing.cost_from_usage("gpt-image-2", USAGE))
    assert result.cost_is_estimate is False
    assert set(result.timings) == {"total_s", "first_byte_s", "attempts"}


def test_without_usage_the_cost_is_the_estimate() -> None:
    result = client_for(Recorder(ok_json()), allow_retired=True).generate(
        "x", model="dall-e-3", size="1024x1792"
    )
    estimate = pricing.estimate_cost("dall-e-3", size="1024x1792", prompt="x")
    assert estimate is not None
    assert result.cost_is_estimate and result.cost_usd == pytest.approx(estimate.usd)


def test_revised_prompts_are_kept_in_order() -> None:
    body = {"data": [{"b64_json": b64png(), "revised_prompt": "A fox, detailed."}]}
    result = client_for(Recorder(httpx.Response(200, json=body)), allow_retired=True).generate(
        "fox", model="dall-e-3"
    )
    assert result.revised_prompts == ["A fox, detailed."]


def test_validation_happens_before_any_byte_is_sent() -> None:
    recorder = Recorder(ok_json())
    with pytest.raises(ValidationError) as info:
        client_for(recorder).generate("x", quality="ultra", size="999x999")
    assert {"quality", "size"} <= set(info.value.params)
    assert recorder.requests == []


def test_an_input_too_large_once_encoded_is_never_sent() -> None:
    recorder = Recorder(ok_json())
    noise = np.random.default_rng(3).integers(0, 256, (1024, 1024, 4), dtype=np.uint8)
    with pytest.raises(ValidationError, match=r"images\[0\]: encoded as PNG .* downscale it"):
        client_for(recorder, allow_retired=True).edit("x", noise, model="dall-e-2")
    assert recorder.requests == []


def test_default_timeout_and_injected_client_timeout() -> None:
    assert DEFAULT_TIMEOUT.connect == 5 and DEFAULT_TIMEOUT.read == 600
    owned = ImageClient(api_key=KEY, history=False)
    assert owned._http.timeout == DEFAULT_TIMEOUT
    owned.close()
    recorder = Recorder(ok_json())
    client_for(recorder, timeout=42).generate("x")
    assert recorder.requests[0].extensions["timeout"]["read"] == 42


# --------------------------------------------------------------------------- edit / variations


def test_edit_multipart_fields_files_and_mask() -> None:
    recorder = Recorder(ok_json())
    mask = np.zeros((64, 64), dtype=bool)
    mask[:, :32] = True
    image = np.full((64, 64, 3), 120, dtype=np.uint8)
    client_for(recorder).edit("add a hat", image, mask=mask, quality="high", partial_images=0)
    fields, files = parse_multipart(recorder.requests[0])
    assert str(recorder.requests[0].url).endswith("/v1/images/edits")
    assert fields == {"model": ["gpt-image-2"], "prompt": ["add a hat"], "quality": ["high"]}
    assert [f[:3] for f in files] == [
        ("image", "image.png", "image/png"),
        ("mask", "mask.png", "image/png"),
    ]
    sent_mask = np.asarray(Image.open(io.BytesIO(files[1][3])))
    assert np.array_equal(sent_mask[:, :, 3] == 0, mask)
    sent_image = np.asarray(Image.open(io.BytesIO(files[0][3])))
    assert np.array_equal(sent_image, image)


def test_edit_with_several_images_repeats_image_brackets() -> None:
    recorder = Recorder(ok_json())
    images = [np.full((32, 32, 3), v, np.uint8) for v in (1, 2)]
    client_for(recorder).edit("blend", images, upload_format="jpeg")
    _, files = parse_multipart(recorder.requests[0])
    assert [f[:3] for f in files] == [
        ("image[]", "image-0.jpg", "image/jpeg"),
        ("image[]", "image-1.jpg", "image/jpeg"),
    ]


def test_input_fidelity_sent_to_models_that_take_it_only() -> None:
    recorder = Recorder(ok_json())
    image = np.zeros((32, 32, 3), np.uint8)
    client_for(recorder, allow_retired=True).edit(
        "x", image, model="gpt-image-1.5", input_fidelity="high"
    )
    assert parse_multipart(recorder.requests[0])[0]["input_fidelity"] == ["high"]
    with pytest.raises(ValidationError, match="input_fidelity"):
        client_for(recorder, allow_retired=True).edit(
            "x", image, model="gpt-image-2", input_fidelity="high"
        )
    assert len(recorder.requests) == 1


def test_variations_multipart_and_b64_default() -> None:
    recorder = Recorder(ok_json(2))
    result = client_for(recorder, allow_retired=True).variations(
        np.zeros((256, 256, 3), np.uint8), n=2
    )
    fields, files = parse_multipart(recorder.requests[0])
    assert str(recorder.requests[0].url).endswith("/v1/images/variations")
    assert fields == {"model": ["dall-e-2"], "n": ["2"], "response_format": ["b64_json"]}
    assert [f[:3] for f in files] == [("image", "image.png", "image/png")]
    assert len(result) == 2


def test_url_results_are_downloaded_at_once_without_the_key() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "files.example.test":
            return httpx.Response(200, content=png_bytes(5, 4), headers={"x-request-id": "dl"})
        url = "https://files.example.test/img-1.png?sig=abc"
        return httpx.Response(200, json={"data": [{"url": url}]}, headers={"x-request-id": "r1"})

    recorder = Recorder(answer)
    result = client_for(recorder, allow_retired=True).generate(
        "x", model="dall-e-3", response_format="url"
    )
    api_call, download = recorder.requests
    assert api_call.headers["authorization"] == f"Bearer {KEY}"
    assert str(download.url) == "https://files.example.test/img-1.png?sig=abc"
    assert download.method == "GET" and "authorization" not in download.headers
    assert result.images[0].shape == (4, 5, 3) and result.request_id == "r1"


def test_expired_download_url_is_a_typed_error() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "files.example.test":
            return httpx.Response(403, text="<html><title>AuthenticationFailed</title></html>")
        return httpx.Response(200, json={"data": [{"url": "https://files.example.test/a.png"}]})

    with pytest.raises(PermissionDeniedError, match="AuthenticationFailed"):
        client_for(Recorder(answer), allow_retired=True).generate(
            "x", model="dall-e-2", response_format="url"
        )


# --------------------------------------------------------------------------- streaming


def test_streaming_calls_on_partial_and_returns_the_completed_image() -> None:
    recorder = Recorder(sse_response(sse_body(stream_events(partials=2))))
    seen: list[tuple[int, tuple[int, ...], int]] = []
    result = client_for(recorder).generate(
        "x", partial_images=2, on_partial=lambda i, a: seen.append((i, a.shape, int(a[0, 0, 0])))
    )
    assert recorder.json["stream"] is True and recorder.json["partial_images"] == 2
    assert recorder.requests[0].headers["accept"] == "text/event-stream"
    assert seen == [(0, (6, 8, 3), 0), (1, (6, 8, 3), 50)]
    assert result.images[0][0, 0].tolist() == [0, 0, 250]
    assert result.usage == USAGE and result.request_id == "req_stream"


def test_stream_in_tiny_chunks_gives_the_same_result() -> None:
    body = sse_body(stream_events(partials=1))
    chunks = iter([body[i : i + 7] for i in range(0, len(body), 7)])
    result = client_for(Recorder(sse_response(chunks))).generate("x", partial_images=1)
    assert result.images[0][0, 0].tolist() == [0, 0, 250]


def test_edit_stream_uses_image_edit_events() -> None:
    recorder = Recorder(sse_response(sse_body(stream_events("image_edit", partials=1))))
    result = client_for(recorder).edit("x", np.zeros((32, 32, 3), np.uint8), partial_images=1)
    assert parse_multipart(recorder.requests[0])[0]["stream"] == ["true"]
    assert len(result) == 1


def test_stream_ending_without_completed_event_is_a_stream_error() -> None:
    events = stream_events(partials=2)[:-1]
    with pytest.raises(StreamError, match="2 partial image") as info:
        client_for(Recorder(sse_response(sse_body(events)))).generate("x", partial_images=2)
    assert info.value.request_id == "req_stream"


def test_stream_cut_by_the_network_is_a_stream_error(sleeps: list[float]) -> None:
    def chunks() -> Iterator[bytes]:
        yield sse_body(stream_events(partials=2)[:1])
        raise httpx.ReadError("connection reset by peer")

    recorder = Recorder(sse_response(chunks()))
    with pytest.raises(StreamError, match="connection broke") as info:
        client_for(recorder).generate("x", partial_images=2)
    assert isinstance(info.value.__cause__, httpx.ReadError)
    assert len(recorder.requests) == 1 and sleeps == []  # a started stream is not retried


def test_error_event_in_stream_is_typed() -> None:
    event = {
        "type": "error",
        "error": {"message": "Blocked.", "code": "moderation_blocked", "type": "x", "param": None},
    }
    body = sse_body(stream_events(partials=1)[:1]) + f"data: {json.dumps(event)}\n\n".encode()
    with pytest.raises(ModerationError, match="Blocked"):
        client_for(Recorder(sse_response(body))).generate("x", partial_images=1)


def test_malformed_stream_event_is_a_stream_error() -> None:
    body = b'event: image_generation.completed\ndata: {"type": "image_generation.comp\n\n'
    with pytest.raises(StreamError, match="not valid JSON"):
        client_for(Recorder(sse_response(body))).generate("x", partial_images=1)


def _partials_then(tail: bytes) -> bytes:
    """One chunk: two good partial images, then `tail` (a malformed or an error event)."""
    return sse_body(stream_events(partials=2)[:2]) + tail


MODERATION_EVENT = (
    b'data: {"type": "error", "error": {"message": "Blocked.", "code": "moderation_blocked"}}\n\n'
)
MALFORMED_EVENT = b'data: {"type": "image_generation.partial_image", "b64\n\n'


@pytest.mark.parametrize(
    ("tail", "error"),
    [(MALFORMED_EVENT, StreamError), (MODERATION_EVENT, ModerationError)],
    ids=["malformed-event", "error-event"],
)
async def test_partials_before_a_failure_in_the_same_chunk_reach_on_partial(
    tail: bytes, error: type[GPTImageError]
) -> None:
    seen: list[tuple[str, int, int]] = []

    def record(flavour: str) -> PartialSeen:
        return lambda i, a: seen.append((flavour, i, int(a[0, 0, 0])))

    with pytest.raises(error) as info:
        client_for(Recorder(sse_response(_partials_then(tail)))).generate(
            "x", partial_images=2, on_partial=record("sync")
        )
    assert info.value.request_id == "req_stream"
    async with async_client_for(Recorder(sse_response(_partials_then(tail)))) as client:
        with pytest.raises(error):
            await client.generate("x", partial_images=2, on_partial=record("async"))
    assert seen == [("sync", 0, 0), ("sync", 1, 50), ("async", 0, 0), ("async", 1, 50)]


def test_sync_stream_generate_iterates_events() -> None:
    client = client_for(Recorder(sse_response(sse_body(stream_events(partials=2)))))
    events = list(client.stream_generate("x", partial_images=2))
    assert [e.type for e in events] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    assert events[-1].result is not None and events[-1].result.images[0].shape == (6, 8, 3)


class _StallingServer:
    """A real socket server: headers and one partial event, then silence."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.recv(65536)
            first = sse_body(stream_events(partials=1)[:1])
            head = (
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                "transfer-encoding: chunked\r\nx-request-id: req_stall\r\n\r\n"
            )
            conn.sendall(head.encode() + f"{len(first):x}\r\n".encode() + first + b"\r\n")
            self.release.wait(30)

    def close(self) -> None:
        self.release.set()
        self.thread.join(5)
        self.sock.close()


@pytest.mark.timeout(30)
def test_stalled_stream_raises_stream_error_within_the_read_timeout() -> None:
    server = _StallingServer()
    try:
        client = ImageClient(
            api_key=KEY,
            base_url=f"http://127.0.0.1:{server.port}/v1",
            history=False,
            timeout=httpx.Timeout(5.0, read=0.3),
        )
        with client, pytest.raises(StreamError, match="stalled") as info:
            client.generate("x", partial_images=1)
        assert isinstance(info.value.__cause__, httpx.ReadTimeout)
        assert str(info.value).count("retry") == 1 and "raise timeout=" in str(info.value)
        assert info.value.request_id == "req_stall"
    finally:
        server.close()


# --------------------------------------------------------------------------- retries


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503])
def test_retryable_status_then_success(status: int, sleeps: list[float]) -> None:
    recorder = Recorder(error_response(status), ok_json())
    result = client_for(recorder).generate("x")
    assert len(recorder.requests) == 2 and len(sleeps) == 1 and len(result) == 1
    assert 0.375 <= sleeps[0] <= 0.5


def test_backoff_grows_and_gives_up_after_max_retries(sleeps: list[float]) -> None:
    recorder = Recorder(error_response(503))
    with pytest.raises(InternalServerError) as info:
        client_for(recorder, max_retries=3).generate("x")
    assert len(recorder.requests) == 4
    assert len(sleeps) == 3
    for delay, nominal in zip(sleeps, (0.5, 1.0, 2.0), strict=True):
        assert 0.75 * nominal <= delay <= nominal
    assert info.value.status_code == 503 and info.value.request_id == "req_503"


def test_max_retries_zero_sends_once(sleeps: list[float]) -> None:
    recorder = Recorder(error_response(500))
    with pytest.raises(InternalServerError):
        client_for(recorder, max_retries=0).generate("x")
    assert len(recorder.requests) == 1 and sleeps == []


def test_retry_after_seconds_is_honoured(sleeps: list[float]) -> None:
    limited = error_response(429)
    limited.headers["retry-after"] = "7"
    recorder = Recorder(limited, ok_json())
    client_for(recorder).generate("x")
    assert sleeps == [7.0]


def test_retry_after_http_date_is_honoured(sleeps: list[float]) -> None:
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30)
    limited = error_response(503)
    limited.headers["retry-after"] = email.utils.format_datetime(when, usegmt=True)
    client_for(Recorder(limited, ok_json())).generate("x")
    assert len(sleeps) == 1 and 25 <= sleeps[0] <= 30


def test_retry_after_ms_wins(sleeps: list[float]) -> None:
    limited = error_response(429)
    limited.headers["retry-after-ms"] = "250"
    limited.headers["retry-after"] = "9"
    client_for(Recorder(limited, ok_json())).generate("x")
    assert sleeps == [0.25]


def test_retry_after_beyond_120_s_is_not_waited_for(sleeps: list[float]) -> None:
    limited = error_response(429)
    limited.headers["retry-after"] = "600"
    recorder = Recorder(limited, ok_json())
    with pytest.raises(RateLimitError):
        client_for(recorder).generate("x")
    assert len(recorder.requests) == 1 and sleeps == []


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ReadError("reset"),
        httpx.RemoteProtocolError("peer closed"),
        httpx.ReadTimeout("slow"),
    ],
)
def test_connection_errors_are_retried(exc: Exception, sleeps: list[float]) -> None:
    recorder = Recorder(exc, ok_json())
    assert len(client_for(recorder).generate("x")) == 1
    assert len(recorder.requests) == 2 and len(sleeps) == 1


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (error_response(400, "bad size", param="size"), BadRequestError),
        (error_response(401, "bad key"), AuthenticationError),
        (error_response(403, "no access"), PermissionDeniedError),
        (error_response(429, "quota", code="insufficient_quota"), QuotaError),
        (error_response(429, "limit", code="billing_hard_limit_reached"), QuotaError),
        (error_response(400, "blocked", code="moderation_blocked"), ModerationError),
        (error_response(400, "unsafe prompt", code="image_generation_user_error"), BadRequestError),
    ],
)
def test_never_retried(
    answer: httpx.Response, error: type[GPTImageError], sleeps: list[float]
) -> None:
    recorder = Recorder(answer, ok_json())
    with pytest.raises(error):
        client_for(recorder).generate("x")
    assert len(recorder.requests) == 1 and sleeps == []


async def test_async_client_retries_with_async_sleep(sleeps: list[float]) -> None:
    recorder = Recorder(error_response(502), ok_json())
    async with async_client_for(recorder) as client:
        result = await client.generate("x")
    assert len(result) == 1 and len(recorder.requests) == 2 and len(sleeps) == 1


# --------------------------------------------------------------------------- error translation


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (503, InternalServerError),
    ],
)
def test_each_status_maps_to_its_class(
    status: int, cls: type[APIStatusError], sleeps: list[float]
) -> None:
    with pytest.raises(cls) as info:
        client_for(Recorder(error_response(status, "server says no"))).generate("x")
    error = info.value
    assert error.status_code == status and error.request_id == f"req_{status}"
    assert "server says no" in str(error) and f"req_{status}" in str(error)
    assert error.body is not None and error.body["error"]["message"] == "server says no"


def test_bad_request_keeps_param_and_code() -> None:
    answer = error_response(400, "Invalid size.", code="invalid_value", param="size")
    with pytest.raises(BadRequestError) as info:
        client_for(Recorder(answer)).generate("x")
    assert (info.value.param, info.value.code) == ("size", "invalid_value")
    assert "'size'" in str(info.value)


def test_401_says_to_check_the_key() -> None:
    with pytest.raises(AuthenticationError, match="OPENAI_API_KEY"):
        client_for(Recorder(error_response(401, "Incorrect API key provided"))).generate("x")


def test_403_organization_verification_says_where_to_verify() -> None:
    answer = error_response(403, "Your organization must be verified to use gpt-image-2.")
    with pytest.raises(PermissionDeniedError) as info:
        client_for(Recorder(answer)).generate("x")
    assert "verify your organization at platform.openai.com/settings/organization/general" in str(
        info.value
    )


def test_quota_says_to_add_credit() -> None:
    answer = error_response(429, "You exceeded your current quota.", code="insufficient_quota")
    with pytest.raises(QuotaError, match="add credit") as info:
        client_for(Recorder(answer)).generate("x")
    assert isinstance(info.value, RateLimitError) and info.value.code == "insufficient_quota"


def test_moderation_error_carries_stage_and_categories() -> None:
    answer = error_response(
        400,
        "Your request was rejected by the safety system.",
        code="moderation_blocked",
        moderation_details={"stage": "input", "categories": ["violence", "self-harm"]},
    )
    with pytest.raises(ModerationError) as info:
        client_for(Recorder(answer)).generate("x")
    error = info.value
    assert error.stage == "input" and error.categories == ["violence", "self-harm"]
    assert "rephrase" in str(error) and "violence, self-harm" in str(error)
    assert isinstance(error, BadRequestError)


def test_moderation_categories_given_as_flags() -> None:
    answer = error_response(400, "Blocked.", code="moderation_blocked")
    answer = httpx.Response(
        400,
        json={
            "error": {"message": "Blocked.", "code": "moderation_blocked", "type": "x"},
            "moderation_details": {"categories": {"sexual": True, "violence": False}},
        },
    )
    with pytest.raises(ModerationError) as info:
        client_for(Recorder(answer)).generate("x")
    assert info.value.categories == ["sexual"]


def test_shut_down_model_404_suggests_the_replacement() -> None:
    answer = error_response(404, "The model `dall-e-3` does not exist.", code="model_not_found")
    with pytest.raises(NotFoundError) as info:
        client_for(Recorder(answer), allow_retired=True).generate("x", model="dall-e-3")
    replacement = catalog.get_model("dall-e-3").replacement
    assert replacement and f"model={replacement!r}" in str(info.value)


def test_html_error_page_is_summarised(sleeps: list[float]) -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body><h1>x</h1></body></html>"
    answer = httpx.Response(502, text=page, headers={"content-type": "text/html"})
    with pytest.raises(InternalServerError, match="502 Bad Gateway") as info:
        client_for(Recorder(answer)).generate("x")
    assert "<html" not in str(info.value) and info.value.body is None


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="not json at all"),
        httpx.Response(200, json={"nodata": []}),
        httpx.Response(200, json={"data": "nope"}),
        httpx.Response(200, json={"data": [{"b64_json": "!!!not base64!!!"}]}),
        httpx.Response(200, json={"data": [{"b64_json": base64.b64encode(b"text").decode()}]}),
        httpx.Response(200, json={"data": [{"revised_prompt": "no image"}]}),
        httpx.Response(200, json={"data": []}),
    ],
)
def test_undecodable_success_is_a_response_decode_error(answer: httpx.Response) -> None:
    answer.headers["x-request-id"] = "req_bad"
    with pytest.raises(ResponseDecodeError) as info:
        client_for(Recorder(answer)).generate("x")
    assert info.value.request_id == "req_bad"
    assert not isinstance(info.value, (KeyError, TypeError))


def _one_next_step(error: GPTImageError) -> str:
    message = str(error)
    assert message.lower().count("retry") == 1, message
    for advice_for_user_files in ("re-export", "re-download", "pass an image"):
        assert advice_for_user_files not in message, message
    return message


def test_undecodable_images_from_the_server_say_one_next_step_and_keep_the_request_id(
    sleeps: list[float],
) -> None:
    bad_b64 = httpx.Response(
        200, json={"data": [{"b64_json": "!!"}]}, headers={"x-request-id": "r1"}
    )
    with pytest.raises(ResponseDecodeError) as info:
        client_for(Recorder(bad_b64), allow_retired=True).generate("x")
    assert info.value.request_id == "r1"
    assert _one_next_step(info.value).endswith("retry the request (request id: r1)")

    def url_answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "files.example.test":
            return httpx.Response(200, content=b"<html>not an image</html>")
        url = "https://files.example.test/img-1.png"
        return httpx.Response(200, json={"data": [{"url": url}]}, headers={"x-request-id": "r2"})

    with pytest.raises(ResponseDecodeError) as info:
        client_for(Recorder(url_answer), allow_retired=True).generate(
            "x", model="dall-e-2", response_format="url"
        )
    assert info.value.request_id == "r2"
    _one_next_step(info.value)

    event = {"type": "image_generation.partial_image", "b64_json": "!!", "partial_image_index": 0}
    with pytest.raises(StreamError) as info:
        client_for(Recorder(sse_response(sse_body([event]))), allow_retired=True).generate(
            "x", partial_images=1
        )
    assert info.value.request_id == "req_stream"
    _one_next_step(info.value)


def test_stream_cut_by_the_network_says_one_next_step(sleeps: list[float]) -> None:
    def chunks() -> Iterator[bytes]:
        yield sse_body(stream_events(partials=2)[:1])
        raise httpx.ReadError("connection reset by peer")

    with pytest.raises(StreamError) as info:
        client_for(Recorder(sse_response(chunks()))).generate("x", partial_images=2)
    message = _one_next_step(info.value)
    assert "connection reset by peer" in message and "1 partial image(s)" in message
    assert info.value.request_id == "req_stream"


def test_transport_errors_keep_their_cause(sleeps: list[float]) -> None:
    with pytest.raises(APIConnectionError, match="could not connect") as info:
        client_for(Recorder(httpx.ConnectError("refused"))).generate("x")
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    with pytest.raises(APITimeoutError, match="raise timeout="):
        client_for(Recorder(httpx.ReadTimeout("slow"))).generate("x")


def test_body_cut_mid_read_keeps_the_request_id(sleeps: list[float]) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"data": [{"b64_json": "'
        raise httpx.RemoteProtocolError("peer closed connection")

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"x-request-id": "req_cut"}, stream=_IterStream(chunks())
        )

    recorder = Recorder(answer)
    with pytest.raises(APIConnectionError, match="broke") as info:
        client_for(recorder, max_retries=1).generate("x")
    assert info.value.request_id == "req_cut" and len(recorder.requests) == 2
    assert isinstance(info.value.__cause__, httpx.RemoteProtocolError)


# --------------------------------------------------------------------------- reading the body


def photo_b64s(count: int, size: int = 96) -> list[str]:
    """Base64 PNGs of noisy images (PNG ~ raw size, like photos), one seed each."""
    rng = np.random.default_rng(7)
    images = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(count)]
    return [base64.b64encode(png(image)).decode() for image in images]


def images_json(b64s: list[str]) -> bytes:
    data = [{"b64_json": b64, "revised_prompt": f"take {i}"} for i, b64 in enumerate(b64s)]
    return json.dumps({"created": 1_790_000_000, "data": data, "usage": USAGE}).encode()


def chunked_answer(body: bytes, headers: dict[str, str], size: int = 1000) -> Handler:
    def answer(request: httpx.Request) -> httpx.Response:
        chunks = iter([body[i : i + size] for i in range(0, len(body), size)])
        headers_out = {"x-request-id": "req_chunks", **headers}
        return httpx.Response(200, headers=headers_out, stream=_IterStream(chunks))

    return answer


def expected_arrays(b64s: list[str]) -> list[np.ndarray]:
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(b)))) for b in b64s]


@pytest.mark.parametrize(
    "length",
    [lambda n: str(n), lambda n: str(n // 3), lambda n: str(n * 2), lambda n: None],
    ids=["exact", "too-small", "too-large", "absent"],
)
async def test_body_read_in_chunks_whatever_content_length_says(length: Any) -> None:
    b64s = photo_b64s(3)
    body = images_json(b64s)
    header = length(len(body))
    headers = {"content-type": "application/json"} | ({"content-length": header} if header else {})
    sync = client_for(chunked_answer(body, headers)).generate("x", n=3)
    async with async_client_for(chunked_answer(body, headers)) as client:
        asynchronous = await client.generate("x", n=3)
    for result in (sync, asynchronous):
        assert result.request_id == "req_chunks"
        assert result.revised_prompts == ["take 0", "take 1", "take 2"]
        for got, want in zip(result.images, expected_arrays(b64s), strict=True):
            np.testing.assert_array_equal(got, want)


def test_compressed_body_is_decoded_before_parsing() -> None:
    b64s = photo_b64s(2)
    body = gzip.compress(images_json(b64s))
    headers = {"content-encoding": "gzip", "content-length": str(len(body))}
    result = client_for(chunked_answer(body, headers)).generate("x", n=2)
    for got, want in zip(result.images, expected_arrays(b64s), strict=True):
        np.testing.assert_array_equal(got, want)


def test_utf8_bom_is_accepted_and_invalid_utf8_is_a_decode_error() -> None:
    body = images_json(photo_b64s(1))
    result = client_for(chunked_answer(b"\xef\xbb\xbf" + body, {})).generate("x")
    assert len(result.images) == 1
    broken = body.replace(b"take 0", b"take \xff")
    with pytest.raises(ResponseDecodeError, match="could not be understood") as info:
        client_for(chunked_answer(broken, {})).generate("x")
    assert info.value.request_id == "req_chunks"


def test_each_b64_json_is_released_once_decoded() -> None:
    b64s = photo_b64s(2)
    received = responses.BodyBuffer()
    received.add(images_json(b64s))
    payload = responses.parse_payload(received, "req_1")
    images = responses.decode_items(payload, {}).images
    assert [sorted(item) for item in payload.items] == [["revised_prompt"]] * 2
    for got, want in zip(images, expected_arrays(b64s), strict=True):
        np.testing.assert_array_equal(got, want)


@contextlib.contextmanager
def serving(content_type: str, body: bytes, path: str = "/v1") -> Iterator[str]:
    """A local HTTP/1.1 server answering every request with ``body``; yields origin + ``path``."""

    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        send(handler, content_type, body)

    with RecordingServer(answer, protocol="HTTP/1.1") as server:
        yield server.origin + path


def traced_peak(run: Callable[[], Any]) -> tuple[Any, int]:
    """`run()` and the peak of Python-traced memory it allocated (bytes)."""
    tracemalloc.start()
    try:
        return run(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def test_peak_memory_of_a_large_answer_holds_the_body_about_twice() -> None:
    """Over a real socket: body bytes -> text (bytes dropped) -> parsed strings.

    Reading with ``response.read()`` and ``json.loads(bytes)`` held chunks + join + text +
    strings (3x the body and more) at the peak.
    """
    b64s = photo_b64s(4, size=256)  # ~1 MB of JSON
    body = images_json(b64s)
    with serving("application/json", body) as url:
        with ImageClient(KEY, url, history=False) as client:
            client.generate("warm-up", n=4)  # imports, connection pool, codec tables
            result, peak = traced_peak(lambda: client.generate("x", n=4))
        async with AsyncImageClient(KEY, url, history=False) as aclient:
            await aclient.generate("warm-up", n=4)
            tracemalloc.start()
            try:
                aresult = await aclient.generate("x", n=4)
                apeak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
    for images in (result.images, aresult.images):
        for got, want in zip(images, expected_arrays(b64s), strict=True):
            np.testing.assert_array_equal(got, want)
    assert peak < 2.5 * len(body), f"sync peak {peak / len(body):.2f}x the body"
    assert apeak < 2.5 * len(body), f"async peak {apeak / len(body):.2f}x the body"


async def test_url_downloads_are_read_into_one_buffer() -> None:
    """Over a real socket, a download holds the file about once (``response.read()`` kept
    the chunks and their join: twice), and the decoder does not copy that buffer again."""
    rng = np.random.default_rng(11)
    image = rng.integers(0, 256, (768, 768, 3), dtype=np.uint8)
    content = png(image)  # ~1.8 MB, noise: PNG ~ raw size
    with serving("image/png", content, "/img-1.png") as url:
        with ImageClient(KEY, "http://127.0.0.1:9/v1", history=False) as client:
            client._download(url)  # warm-up: imports, connection pool
            body, peak = traced_peak(lambda: client._download(url))
        async with AsyncImageClient(KEY, "http://127.0.0.1:9/v1", history=False) as aclient:
            await aclient._download(url)
            tracemalloc.start()
            try:
                abody = await aclient._download(url)
                apeak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
    assert bytes(body) == content and bytes(abody) == content
    assert peak < 1.4 * len(content), f"sync peak {peak / len(content):.2f}x the file"
    assert apeak < 1.4 * len(content), f"async peak {apeak / len(content):.2f}x the file"
    _, decode_peak = traced_peak(lambda: imaging.decode_image(body))
    _, decode_peak_of_bytes = traced_peak(lambda: imaging.decode_image(content))
    assert decode_peak < decode_peak_of_bytes + 0.2 * len(content)  # no copy of the buffer
    np.testing.assert_array_equal(imaging.decode_image(body), image)


def test_url_download_with_a_wrong_content_length_is_read_whole() -> None:
    content = png_bytes(5, 4)

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "files.example.test":
            chunks = iter([content[i : i + 7] for i in range(0, len(content), 7)])
            headers = {"content-length": str(len(content) // 3)}
            return httpx.Response(200, headers=headers, stream=_IterStream(chunks))
        url = "https://files.example.test/img-1.png"
        return httpx.Response(200, json={"data": [{"url": url}]}, headers={"x-request-id": "r1"})

    result = client_for(Recorder(answer), allow_retired=True).generate(
        "x", model="dall-e-2", response_format="url"
    )
    assert result.images[0].shape == (4, 5, 3)


# --------------------------------------------------------------------------- the key


def test_key_never_in_repr() -> None:
    client = client_for(Recorder(ok_json()))
    assert KEY not in repr(client) and "api_key=set" in repr(client)
    assert KEY not in repr(client._backend)


def test_key_echoed_by_a_server_is_redacted_from_errors() -> None:
    answer = error_response(401, f"Incorrect API key provided: {KEY}.")
    with pytest.raises(AuthenticationError) as info:
        client_for(Recorder(answer)).generate("x")
    assert KEY not in str(info.value) and KEY not in json.dumps(info.value.body)
    assert "sk-[redacted]" in str(info.value) or "[redacted]" in str(info.value)


def test_key_never_in_results_or_history(tmp_path: Any) -> None:
    result = client_for(Recorder(ok_json()), history=tmp_path).generate("x")
    assert KEY not in repr(result.request) and KEY not in repr(result)
    saved = "".join(p.read_text() for p in tmp_path.rglob("meta.json"))
    assert saved and KEY not in saved


# --------------------------------------------------------------------------- history, budget


def test_history_is_written_before_returning(tmp_path: Any) -> None:
    result = client_for(Recorder(ok_json(2)), history=tmp_path).generate("a saved fox", n=2)
    assert len(result.paths) == 2 and all(path.exists() for path in result.paths)
    assert result.entry_id is not None
    [entry] = HistoryStore(tmp_path).search("saved fox")
    assert entry.entry_id == result.entry_id


def test_history_argument_forms(tmp_path: Any) -> None:
    default = client_for(Recorder(ok_json()), history=None)
    assert isinstance(default.history, HistoryStore)
    assert default.history.folder is not None and default.history.folder.name == "gptimage-outputs"
    assert client_for(Recorder(ok_json()), history=False).history is None
    assert client_for(Recorder(ok_json()), history=str(tmp_path)).history.folder == tmp_path  # type: ignore[union-attr]
    with pytest.raises(ValidationError, match="history="):
        client_for(Recorder(ok_json()), history=3.5)


def test_budget_refuses_before_sending() -> None:
    recorder = Recorder(ok_json())
    client = client_for(recorder, budget_usd=0.10)
    with pytest.raises(BudgetExceededError, match="budget"):
        client.generate("x", quality="high", n=2)  # ~2 x $0.21
    assert recorder.requests == []


def test_budget_counts_what_was_spent() -> None:
    recorder = Recorder(ok_json(usage=USAGE))
    client = client_for(recorder, budget_usd=0.02)
    client.generate("x", quality="low")
    spent = pricing.cost_from_usage("gpt-image-2", USAGE)
    assert spent is not None and client.spent_usd == pytest.approx(spent)
    estimate = pricing.estimate_cost("gpt-image-2", quality="low", prompt="x")
    assert estimate is not None
    calls_allowed = int((0.02 - spent) // estimate.high_usd)
    for _ in range(calls_allowed):
        client.generate("x", quality="low")
    with pytest.raises(BudgetExceededError):
        client.generate("x", quality="low")
    assert len(recorder.requests) == 1 + calls_allowed


def test_failed_request_releases_its_reservation(sleeps: list[float]) -> None:
    client = client_for(Recorder(error_response(400), ok_json()), budget_usd=0.3)
    with pytest.raises(BadRequestError):
        client.generate("x", quality="high")
    client.generate("x", quality="high")  # would be refused if the first reservation leaked


# --------------------------------------------------------------------------- backends


def test_openai_organization_and_project_headers(no_env: None) -> None:
    recorder = Recorder(ok_json())
    client_for(recorder, organization="org-1", project="proj_2").generate("x")
    headers = recorder.requests[0].headers
    assert headers["openai-organization"] == "org-1" and headers["openai-project"] == "proj_2"


def test_key_and_base_url_from_environment(no_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "https://proxy.example.test/v1/")
    recorder = Recorder(ok_json())
    http = httpx.Client(transport=httpx.MockTransport(recorder))
    client = ImageClient(http_client=http, history=False)
    client.generate("x")
    assert client.backend == "compatible"
    assert str(recorder.requests[0].url) == "https://proxy.example.test/v1/images/generations"
    assert recorder.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_azure_path_query_and_api_key_header(no_env: None) -> None:
    recorder = Recorder(ok_json())
    client = client_for(
        recorder,
        backend="azure",
        azure_endpoint="https://res.openai.azure.com/",
        azure_deployment="img-dep",
        api_version="2025-04-01-preview",
    )
    client.generate("x")
    client.edit("y", np.zeros((32, 32, 3), np.uint8))
    generate, edit = recorder.requests
    assert generate.url.path == "/openai/deployments/img-dep/images/generations"
    assert edit.url.path == "/openai/deployments/img-dep/images/edits"
    assert generate.url.params["api-version"] == "2025-04-01-preview"
    assert generate.headers["api-key"] == KEY and "authorization" not in generate.headers


def test_azure_without_deployment_uses_the_model_name(no_env: None) -> None:
    recorder = Recorder(ok_json())
    client_for(recorder, backend="azure", azure_endpoint="https://res.openai.azure.com").generate(
        "x", model="gpt-image-1.5"
    )
    assert recorder.requests[0].url.path == "/openai/deployments/gpt-image-1.5/images/generations"


def test_backend_configuration_errors(no_env: None) -> None:
    with pytest.raises(ValidationError, match="OPENAI_API_KEY"):
        ImageClient(backend="openai", history=False)
    with pytest.raises(ValidationError, match="azure_endpoint"):
        ImageClient(api_key=KEY, backend="azure", history=False)
    with pytest.raises(ValidationError, match="'offline'"):
        ImageClient(api_key=KEY, backend="local", history=False)


def test_auto_without_key_uses_the_shared_offline_server_and_says_so_once(
    no_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backends, "_offline_announced", False)
    with pytest.warns(UserWarning, match=r"No OPENAI_API_KEY set: using the offline backend at "):
        first = ImageClient(history=False)
    second = ImageClient(history=False)
    with first, second:
        assert first.backend == second.backend == "offline"
        assert first.base_url == second.base_url and first.base_url.startswith("http://127.0.0.1:")
        result = first.generate("offline fox", size="1024x1024", quality="low")
        assert result.images[0].shape == (1024, 1024, 3) and result.cost_usd == 0.0
    assert backends._offline_announced is True


def test_refresh_model_status_updates_the_catalog() -> None:
    original = catalog.get_model("gpt-image-1-mini")
    payload = {
        "data": [
            {"id": "gpt-image-1-mini", "shutdown_date": "2020-01-01"},
            {"id": "unknown-model", "shutdown_date": "2020-01-01"},
            {"id": "gpt-image-2"},
        ]
    }
    recorder = Recorder(httpx.Response(200, json=payload))
    try:
        changed = client_for(recorder).refresh_model_status()
        assert changed == ["gpt-image-1-mini"]
        spec = catalog.get_model("gpt-image-1-mini")
        assert spec.shut_down and spec.shutdown_date == dt.date(2020, 1, 1)
        assert str(recorder.requests[0].url) == "https://api.openai.com/v1/models"
        assert recorder.requests[0].headers["authorization"] == f"Bearer {KEY}"
    finally:
        catalog.register_model(original, replace=True)


def test_owned_http_client_is_closed_injected_one_is_not() -> None:
    http = httpx.Client(transport=httpx.MockTransport(Recorder(ok_json())))
    with ImageClient(api_key=KEY, http_client=http, history=False):
        pass
    assert not http.is_closed
    owned = ImageClient(api_key=KEY, history=False)
    with owned:
        pass
    assert owned._http.is_closed


def test_public_names() -> None:
    assert gptimage_widgets.ImageClient is ImageClient
    assert gptimage_widgets.AsyncImageClient is AsyncImageClient


# --------------------------------------------------------------------------- async


def test_async_methods_are_real_coroutines() -> None:
    for name in ("generate", "edit", "variations", "refresh_model_status", "map", "sweep"):
        assert inspect.iscoroutinefunction(getattr(AsyncImageClient, name)), name
    for name in ("stream_generate", "stream_edit"):
        assert inspect.isasyncgenfunction(getattr(AsyncImageClient, name)), name


@pytest.mark.parametrize("cls", [ImageClient, AsyncImageClient])
def test_public_signatures_name_their_input_types(cls: type) -> None:
    def annotation(method: str, param: str) -> Any:
        return inspect.signature(getattr(cls, method)).parameters[param].annotation

    assert annotation("edit", "images") == "ImageInputs"
    assert annotation("stream_edit", "images") == "ImageInputs"
    assert annotation("edit", "mask") == "MaskInput | None"
    assert annotation("variations", "image") == "ImageInput"
    hints = typing.get_type_hints(cls.edit)
    assert hints["mask"] == gptimage_widgets.MaskInput | None


async def test_async_generate_edit_variations() -> None:
    recorder = Recorder(ok_json())
    async with async_client_for(recorder, allow_retired=True) as client:
        results = [
            await client.generate("x"),
            await client.edit("y", np.zeros((32, 32, 3), np.uint8)),
            await client.variations(np.zeros((256, 256, 3), np.uint8)),
        ]
    assert [len(r) for r in results] == [1, 1, 1]
    assert [r.url.path for r in recorder.requests] == [
        "/v1/images/generations",
        "/v1/images/edits",
        "/v1/images/variations",
    ]


async def test_async_stream_generate_yields_events_and_saves(tmp_path: Any) -> None:
    recorder = Recorder(sse_response(sse_body(stream_events(partials=2))))
    async with async_client_for(recorder, history=tmp_path) as client:
        events = [event async for event in client.stream_generate("x", partial_images=2)]
    assert [(e.type.split(".")[1], e.index) for e in events] == [
        ("partial_image", 0),
        ("partial_image", 1),
        ("completed", 0),
    ]
    result = events[-1].result
    assert result is not None and all(path.exists() for path in result.paths)
    assert result.usage == USAGE


async def test_async_stream_edit_and_awaitable_partial_callback() -> None:
    recorder = Recorder(sse_response(sse_body(stream_events("image_edit", partials=2))))
    seen: list[int] = []

    async def on_partial(index: int, image: np.ndarray) -> None:
        await asyncio.sleep(0)
        seen.append(index)

    async with async_client_for(recorder) as client:
        result = await client.edit(
            "x", np.zeros((32, 32, 3), np.uint8), partial_images=2, on_partial=on_partial
        )
    assert seen == [0, 1] and len(result) == 1


async def test_async_stream_without_completed_is_a_stream_error() -> None:
    body = sse_body(stream_events(partials=1)[:1])
    async with async_client_for(Recorder(sse_response(body))) as client:
        with pytest.raises(StreamError):
            async for _ in client.stream_generate("x", partial_images=1):
                pass


async def test_async_validation_error_surfaces_on_await() -> None:
    recorder = Recorder(ok_json())
    async with async_client_for(recorder) as client:
        pending = client.generate("x", quality="ultra")  # nothing happens yet
        with pytest.raises(ValidationError):
            await pending
    assert recorder.requests == []


async def test_max_concurrency_bounds_requests_in_flight() -> None:
    async def a_few_turns() -> None:
        for _ in range(5):
            await asyncio.sleep(0)

    handler = InFlight(ok_json, a_few_turns)
    async with async_client_for(handler, max_concurrency=2) as client:
        results = await client.map([{"prompt": f"p{i}"} for i in range(7)])
    assert len(results) == 7 and handler.peak == 2


async def test_map_keeps_order_and_returns_failures_per_item() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        prompt = json.loads(request.content)["prompt"]
        if prompt == "bad":
            return error_response(400, "refused")
        return ok_json(int(prompt[-1]))

    async with async_client_for(handler) as client:
        results = await client.map(
            [{"prompt": "n1"}, {"prompt": "bad"}, {"prompt": "n3"}, {"prompt": "x", "n": 99}]
        )
    assert len(results[0]) == 1 and len(results[2]) == 3
    assert isinstance(results[1], BadRequestError) and isinstance(results[3], ValidationError)


async def test_map_can_raise_the_first_failure() -> None:
    async with async_client_for(Recorder(error_response(400))) as client:
        with pytest.raises(BadRequestError):
            await client.map([{"prompt": "a"}, {"prompt": "b"}], return_exceptions=False)


async def test_map_dispatches_operations() -> None:
    recorder = Recorder(ok_json())
    image = np.zeros((256, 256, 3), np.uint8)
    async with async_client_for(recorder, allow_retired=True) as client:
        await client.map(
            [
                {"operation": "edit", "prompt": "e", "images": image},
                {"operation": "variation", "images": image},
            ]
        )
        with pytest.raises(ValidationError, match="operation 'paint'"):
            await client.map([{"operation": "paint", "prompt": "x"}], return_exceptions=False)
    assert sorted(r.url.path for r in recorder.requests) == [
        "/v1/images/edits",
        "/v1/images/variations",
    ]


async def test_sweep_runs_the_grid_in_order_with_progress() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return ok_json()

    progress: list[tuple[int, int]] = []
    async with async_client_for(handler) as client:
        results = await client.sweep(
            ["cat", "dog"],
            grid={"quality": ["low", "high"], "size": ["1024x1024", "1536x1024"]},
            progress=lambda done, total, item: progress.append((done, total)),
            model="gpt-image-2",
        )
    combos = [(r.request["prompt"], r.request["quality"], r.request["size"]) for r in results]
    assert combos == [
        (p, q, s)
        for p in ("cat", "dog")
        for q in ("low", "high")
        for s in ("1024x1024", "1536x1024")
    ]
    assert progress[-1] == (8, 8) and len(progress) == 8


async def test_sweep_text_progress(capsys: pytest.CaptureFixture[str]) -> None:
    async with async_client_for(Recorder(ok_json())) as client:
        await client.sweep("one prompt", grid={"quality": ["low", "medium"]})
    assert "2/2 done" in capsys.readouterr().err


# --------------------------------------------------------------------------- offline server


def test_offline_server_round_trip(offline_server: Any) -> None:
    with ImageClient(base_url=offline_server.base_url, history=False) as client:
        generated = client.generate("a lighthouse", size="1536x1024", quality="low", n=2)
        mask = np.zeros((256, 256), dtype=bool)
        mask[64:192, 64:192] = True
        edited = client.edit("add a boat", np.zeros((256, 256, 3), np.uint8), mask=mask)
        varied = client.variations(np.zeros((256, 256, 3), np.uint8), response_format="url")
        partials: list[int] = []
        streamed = client.generate(
            "x", partial_images=2, on_partial=lambda i, a: partials.append(i)
        )
    assert [im.shape for im in generated.images] == [(1024, 1536, 3)] * 2
    assert len(edited) == 1 and len(varied) == 1 and len(streamed) == 1
    assert partials == [0, 1]


async def test_offline_server_async_stream(offline_server: Any) -> None:
    async with AsyncImageClient(base_url=offline_server.base_url, history=False) as client:
        events = [e async for e in client.stream_generate("x", partial_images=3)]
    assert [e.index for e in events if e.is_partial] == [0, 1, 2]
    assert events[-1].is_completed and events[-1].result is not None


def test_offline_faults_are_retried_or_typed(
    make_offline_server: Callable[..., Any], sleeps: list[float]
) -> None:
    server = make_offline_server(faults=[Fault("429", times=1), Fault("503", times=1)])
    with ImageClient(base_url=server.base_url, history=False) as client:
        assert len(client.generate("x")) == 1
        assert len(sleeps) == 2
    quota = make_offline_server(faults=[Fault("quota")])
    with ImageClient(base_url=quota.base_url, history=False) as client, pytest.raises(QuotaError):
        client.generate("x")
    truncated = make_offline_server(faults=[Fault("truncate_stream")])
    with (
        ImageClient(base_url=truncated.base_url, history=False) as client,
        pytest.raises(StreamError),
    ):
        client.generate("x", partial_images=1)


def test_seed_is_refused_before_anything_is_sent() -> None:
    recorder = Recorder(ok_json(1))
    with pytest.raises(gptimage_widgets.ValidationError, match="seed") as info:
        client_for(recorder).generate("a fox", seed=5)
    assert recorder.requests == [] and info.value.problems[0].param == "seed"
