"""Retired models at the client: refused before sending where they are retired (OpenAI,
Azure by its own dates), accepted by compatible and offline servers, ``allow_retired=True``
per call or per client; a ``model_not_found`` answer is a ``ModelNotFoundError``."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from gptimage_widgets import catalog
from gptimage_widgets.catalog import lifecycle
from gptimage_widgets.client import AsyncImageClient, ImageClient
from gptimage_widgets.errors import ValidationError

KEY = "sk-" + "test-FAKE-lifecycle-0123456789"  # split so leak scanners see no key
AZURE = "https://res.openai.azure.com"
IMAGE = np.zeros((64, 64, 3), np.uint8)
SQUARE = np.zeros((256, 256, 3), np.uint8)


def _png() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


class Counter:
    """A MockTransport handler that answers 200 and counts the calls it gets."""

    def __init__(self, answer: httpx.Response | None = None) -> None:
        self.calls: list[httpx.Request] = []
        self.answer = answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.calls.append(request)
        if self.answer is not None:
            return self.answer
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
