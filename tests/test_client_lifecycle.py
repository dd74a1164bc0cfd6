"""Retired models at the client: refused before sending where they are retired (OpenAI,
Azure by its own dates), accepted by compatible and offline servers, ``allow_retired=True``
per call or per client; a ``model_not_found`` answer is a ``ModelNotFoundError``."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from gptimage_widgets import catalog
from gptimage_widgets.catalog import lifecycle
from gptimage_widgets.client import AsyncImageClient, ImageClient
from gptimage_widgets.errors import (
    BadRequestError,
    ModelNotFoundError,
    NotFoundError,
    ValidationError,
)
from gptimage_widgets.http_errors import translate

KEY = "sk-" + "test-FAKE-lifecycle-0123456789"  # split so leak scanners see no key
AZURE = "https://res.openai.azure.com"
IMAGE = np.zeros((64, 64, 3), np.uint8)
SQUARE = np.zeros((256, 256, 3), np.uint8)


def _png() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


class Counter:
    """A MockTransport handler that counts the calls it gets; answers 200, or `answer()`."""

    def __init__(self, answer: Callable[[], httpx.Response] | None = None) -> None:
        self.calls: list[httpx.Request] = []
        self.answer = answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.calls.append(request)
        if self.answer is not None:
            return self.answer()
        return httpx.Response(200, json={"data": [{"b64_json": _png()}]})


def on_day(monkeypatch: pytest.MonkeyPatch, day: dt.date) -> None:
    monkeypatch.setattr(lifecycle, "today", lambda: day)


@pytest.fixture
def after_shutdown(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """2026-12-02: gpt-image-1.5 is shut down at OpenAI, not yet at Azure."""
    on_day(monkeypatch, dt.date(2026, 12, 2))
    yield


def sync_client(counter: Counter, **kwargs: Any) -> ImageClient:
    kwargs.setdefault("api_key", KEY)
    http = httpx.Client(transport=httpx.MockTransport(counter))
    return ImageClient(http_client=http, history=False, **kwargs)


def async_client(counter: Counter, **kwargs: Any) -> AsyncImageClient:
    kwargs.setdefault("api_key", KEY)
    http = httpx.AsyncClient(transport=httpx.MockTransport(counter))
    return AsyncImageClient(http_client=http, history=False, **kwargs)


def json_model(request: httpx.Request) -> str:
    model: str = json.loads(request.content)["model"]
    return model


def assert_retired_message(error: ValidationError, date: str = "2026-12-01") -> None:
    text = str(error)
    assert date in text and "gpt-image-2.6-flare" in text and "gpt-image-2.6-sunburst" in text
    assert "allow_retired=True" in text
    assert error.params[0] == "model"


# --------------------------------------------------------------------------- refused


def test_openai_refuses_a_shut_down_model_before_sending(after_shutdown: None) -> None:
    counter = Counter()
    client = sync_client(counter)
    assert client.backend == "openai"
    with pytest.raises(ValidationError) as info:
        client.generate("x", model="gpt-image-1.5")
    assert_retired_message(info.value)
    with pytest.raises(ValidationError):
        client.edit("x", IMAGE, model="gpt-image-1-mini")
    with pytest.raises(ValidationError):
        list(client.stream_generate("x", model="gpt-image-1.5"))
    with pytest.raises(ValidationError):
        list(client.stream_edit("x", IMAGE, model="chatgpt-image-latest"))
    with pytest.raises(ValidationError, match="2026-05-12"):
        client.variations(SQUARE)  # dall-e-2, the only variation model, is shut down too
    assert counter.calls == []


def test_an_alias_of_a_retired_model_is_refused_too(after_shutdown: None) -> None:
    counter = Counter()
    with pytest.raises(ValidationError) as info:
        sync_client(counter).generate("x", model="gpt-image-1.5-2025-12-16")
    assert_retired_message(info.value)
    assert counter.calls == []


def test_the_refusal_lists_the_requests_other_problems_too(after_shutdown: None) -> None:
    counter = Counter()
    with pytest.raises(ValidationError) as info:
        sync_client(counter).generate("x", model="gpt-image-1.5", quality="ultra")
    assert info.value.params == ["model", "quality"]
    assert counter.calls == []


async def test_async_methods_map_and_sweep_refuse_before_sending(after_shutdown: None) -> None:
    counter = Counter()
    async with async_client(counter) as client:
        with pytest.raises(ValidationError) as info:
            await client.generate("x", model="gpt-image-1.5")
        assert_retired_message(info.value)
        with pytest.raises(ValidationError):
            await client.edit("x", IMAGE, model="gpt-image-1.5")
        with pytest.raises(ValidationError):
            await client.variations(SQUARE)
        with pytest.raises(ValidationError):
            async for _ in client.stream_generate("x", model="gpt-image-1.5"):
                pass
        mapped = await client.map([{"prompt": "a", "model": "gpt-image-1.5"}])
        swept = await client.sweep(["s"], {"model": ["gpt-image-1-mini"]}, progress=False)
    assert isinstance(mapped[0], ValidationError) and isinstance(swept[0], ValidationError)
    assert_retired_message(mapped[0])
    assert counter.calls == []


def test_the_day_before_the_shutdown_the_model_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    on_day(monkeypatch, dt.date(2026, 11, 30))
    counter = Counter()
    sync_client(counter).generate("x", model="gpt-image-1.5")
    assert len(counter.calls) == 1


def test_azure_follows_its_own_dates(monkeypatch: pytest.MonkeyPatch) -> None:
    shutdown = catalog.get_model("gpt-image-1.5").shutdown_date_for("azure")
    assert shutdown is not None and shutdown.isoformat() == "2026-12-16"
    counter = Counter()
    client = sync_client(counter, backend="azure", azure_endpoint=AZURE)
    on_day(monkeypatch, dt.date(2026, 12, 2))  # shut down at OpenAI, not at Azure
    client.generate("x", model="gpt-image-1.5")
    assert len(counter.calls) == 1
    on_day(monkeypatch, dt.date(2026, 12, 16))
    with pytest.raises(ValidationError) as info:
        client.generate("x", model="gpt-image-1.5")
    assert_retired_message(info.value, "2026-12-16")
    assert "Azure" in str(info.value)
    assert len(counter.calls) == 1


# --------------------------------------------------------------------------- accepted


def test_compatible_servers_accept_every_model(after_shutdown: None) -> None:
    counter = Counter()
    client = sync_client(counter, base_url="https://gateway.example.test/v1")
    assert client.backend == "compatible"
    client.generate("x", model="gpt-image-1.5")
    client.variations(SQUARE)
    assert len(counter.calls) == 2


def test_the_offline_backend_accepts_every_model(after_shutdown: None) -> None:
    with ImageClient(backend="offline", history=False) as client:
        result = client.generate("x", model="gpt-image-1.5", size="1024x1024")
        assert result.model == "gpt-image-1.5" and len(result) == 1
        assert len(client.variations(SQUARE, size="256x256")) == 1


def test_allow_retired_per_call_and_per_client(after_shutdown: None) -> None:
    counter = Counter()
    sync_client(counter).generate("x", model="gpt-image-1.5", allow_retired=True)
    assert json_model(counter.calls[-1]) == "gpt-image-1.5"
    client = sync_client(counter, allow_retired=True)
    assert client.allow_retired is True
    client.generate("x", model="gpt-image-1.5")
    client.edit("x", IMAGE, model="gpt-image-1-mini")
    assert len(counter.calls) == 3
    with pytest.raises(ValidationError):  # a call's False wins over the client's True
        client.generate("x", model="gpt-image-1.5", allow_retired=False)
    assert len(counter.calls) == 3


async def test_allow_retired_reaches_async_map_items(after_shutdown: None) -> None:
    counter = Counter()
    async with async_client(counter) as client:
        results = await client.map(
            [{"prompt": "a", "model": "gpt-image-1.5", "allow_retired": True}],
            return_exceptions=False,
        )
    assert len(results) == 1 and len(counter.calls) == 1
    assert "allow_retired" not in results[0].request


def test_allow_retired_must_be_a_bool() -> None:
    with pytest.raises(ValidationError, match="allow_retired"):
        sync_client(Counter(), allow_retired="yes")
    with pytest.raises(ValidationError, match="allow_retired"):
        sync_client(Counter()).generate("x", allow_retired=1)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- model_not_found

OPENAI_404 = {
    "error": {
        "message": "The model `gpt-image-1.5` does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }
}


def not_found(status: int = 404, body: Any = OPENAI_404) -> httpx.Response:
    return httpx.Response(status, json=body, headers={"x-request-id": "req_gone"})


def assert_model_not_found(error: ModelNotFoundError, status: int = 404) -> None:
    assert isinstance(error, NotFoundError) and not isinstance(error, BadRequestError)
    assert error.status_code == status and error.request_id == "req_gone"
    assert error.model == "gpt-image-1.5"
    text = str(error)
    assert "cannot use gpt-image-1.5" in text and "retired, or not granted" in text
    assert "2026-12-01" in text and "model='gpt-image-2.6-flare'" in text
    assert KEY not in text


def test_openai_404_model_not_found_is_a_model_not_found_error(after_shutdown: None) -> None:
    counter = Counter(not_found)
    with pytest.raises(ModelNotFoundError) as info:
        sync_client(counter).generate("x", model="gpt-image-1.5", allow_retired=True)
    assert_model_not_found(info.value)
    assert info.value.code == "model_not_found" and info.value.body == OPENAI_404
    assert len(counter.calls) == 1  # never retried


def test_gateway_400s_saying_the_same_map_to_it_too(after_shutdown: None) -> None:
    sentence_only = {"error": {"message": OPENAI_404["error"]["message"], "code": None}}
    code_only = {"error": {"message": "Unknown model.", "code": "model_not_found"}}
    for body in (sentence_only, code_only):
        counter = Counter(lambda body=body: not_found(400, body))
        client = sync_client(counter, base_url="https://gateway.example.test/v1")
        with pytest.raises(ModelNotFoundError) as info:
            client.generate("x", model="gpt-image-1.5")
        assert_model_not_found(info.value, 400)
        assert len(counter.calls) == 1


async def test_async_and_streaming_calls_raise_it_too(after_shutdown: None) -> None:
    counter = Counter(not_found)
    async with async_client(counter, allow_retired=True) as client:
        with pytest.raises(ModelNotFoundError) as info:
            await client.edit("x", IMAGE, model="gpt-image-1.5")
        assert_model_not_found(info.value)
        with pytest.raises(ModelNotFoundError):
            async for _ in client.stream_generate("x", model="gpt-image-1.5"):
                pass
    with pytest.raises(ModelNotFoundError):
        list(sync_client(counter, allow_retired=True).stream_generate("x", model="gpt-image-1.5"))


def test_the_model_named_by_the_server_is_used_when_the_request_has_none() -> None:
    error = translate(not_found(), backend="openai")
    assert isinstance(error, ModelNotFoundError) and error.model == "gpt-image-1.5"
    assert "gpt-image-2.6-flare" in str(error)


def test_azure_quotes_its_own_date(monkeypatch: pytest.MonkeyPatch) -> None:
    on_day(monkeypatch, dt.date(2026, 12, 20))
    error = translate(not_found(), model="gpt-image-1.5", backend="azure")
    assert isinstance(error, ModelNotFoundError)
    assert "2026-12-16" in str(error) and "Azure" in str(error)


def test_a_current_model_not_found_says_the_key_may_lack_access() -> None:
    body = {"error": {"message": "The model `gpt-image-2` does not exist.", "code": None}}
    error = translate(not_found(404, body), model="gpt-image-2", backend="openai")
    assert isinstance(error, ModelNotFoundError)
    assert "may not be enabled for this key" in str(error)


def test_other_404s_and_400s_keep_their_classes() -> None:
    plain = httpx.Response(404, json={"error": {"message": "Not found.", "code": None}})
    error = translate(plain, model="gpt-image-2")
    assert type(error) is NotFoundError
    bad = httpx.Response(400, json={"error": {"message": "Bad size.", "param": "size"}})
    assert type(translate(bad, model="gpt-image-2")) is BadRequestError
    gone = httpx.Response(500, json=OPENAI_404)  # a 5xx stays a server error
    assert not isinstance(translate(gone), ModelNotFoundError)
