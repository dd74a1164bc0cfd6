"""The official ``openai`` SDK pointed at the offline server: proof of wire compatibility."""

from __future__ import annotations

import base64
import datetime
import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import openai
import pytest
from image_helpers import png
from PIL import Image

from gptimage_widgets.catalog import lifecycle as catalog_lifecycle
from gptimage_widgets.offline import OfflineServer


@pytest.fixture(scope="module")
def sdk(offline_server: OfflineServer) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(api_key="sk-test-FAKE", base_url=offline_server.base_url, max_retries=0)
    yield client
    client.close()


def decode(b64: str | None) -> np.ndarray:
    assert b64 is not None
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


def gradient(width: int, height: int, shift: int = 0) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x % 256, y % 256, (x + y + shift) % 256], axis=-1).astype(np.uint8)


def test_generate(sdk: openai.OpenAI) -> None:
    result = sdk.images.generate(
        model="gpt-image-2", prompt="a lighthouse at dusk", n=2, size="1536x1024", quality="low"
    )
    assert len(result.data) == 2
    assert [decode(d.b64_json).shape for d in result.data] == [(1024, 1536, 3)] * 2
    assert (result.size, result.quality, result.output_format) == ("1536x1024", "low", "png")
    assert result.usage is not None and result.usage.output_tokens > 0
    assert result.usage.input_tokens_details.text_tokens > 0


def test_edit_with_two_reference_images_and_a_mask(
    sdk: openai.OpenAI, offline_server: OfflineServer
) -> None:
    first, second = gradient(256, 192), gradient(128, 128, shift=90)
    area = np.zeros((192, 256), bool)
    area[50:150, 60:200] = True
    mask = np.zeros((192, 256, 4), np.uint8)
    mask[..., 3] = np.where(area, 0, 255)  # OpenAI: alpha 0 = edit here

    result = sdk.images.edit(
        model="gpt-image-1.5",
        prompt="put a sailing boat here",
        image=[
            ("first.png", png(first), "image/png"),
            ("second.png", png(second), "image/png"),
        ],
        mask=("mask.png", png(mask), "image/png"),
    )
    out = decode(result.data[0].b64_json)
    assert out.shape == first.shape
    assert np.array_equal(out[~area], first[~area])
    assert np.any(out[area] != first[area], axis=-1).mean() > 0.9
    record = offline_server.requests[-1]
    assert [(f.field, f.filename) for f in record.files] == [
        ("image[]", "first.png"),
        ("image[]", "second.png"),
        ("mask", "mask.png"),
    ]
    assert not any("sk-test" in value for value in record.headers.values())


def test_streaming_partial_images(sdk: openai.OpenAI) -> None:
    stream = sdk.images.generate(
        model="gpt-image-2",
        prompt="a fox in the snow",
        size="1024x1024",
        stream=True,
        partial_images=2,
    )
    events = list(stream)
    assert [e.type for e in events] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    assert [getattr(e, "partial_image_index", None) for e in events[:2]] == [0, 1]
    final = decode(events[-1].b64_json)
    assert final.shape == (1024, 1024, 3)
    assert events[-1].usage.output_tokens > 200  # includes 100 per partial image
    assert all(decode(e.b64_json).shape == final.shape for e in events[:2])


def test_sdk_maps_server_errors(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        sdk.images.generate(model="gpt-image-2", prompt="x", quality="ultra")  # type: ignore[arg-type]
    assert bad.value.param == "quality"
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.images.generate(model="gpt-image-404", prompt="x")
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.RateLimitError) as quota:
        sdk.images.generate(
            model="gpt-image-2", prompt="x", extra_headers={"x-offline-fault": "quota"}
        )
    assert quota.value.code == "insufficient_quota"
    assert quota.value.request_id is not None
    assert quota.value.request_id.startswith("req_offline_")


def test_generate_with_26_parameters(sdk: openai.OpenAI, offline_server: OfflineServer) -> None:
    result = sdk.images.generate(
        model="gpt-image-2.6-flare",
        prompt="a paper kite",
        size="480x1376",
        complexity="medium",
        background="transparent",
        output_format="webp",
        quality="low",
    )
    image = Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json or "")))
    assert (image.size, image.mode) == ((480, 1376), "RGBA")
    assert (result.size, result.background, result.output_format) == (
        "480x1376",
        "transparent",
        "webp",
    )
    assert offline_server.requests[-1].params["complexity"] == "medium"
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.images.generate(model="gpt-image-2.5-flare", prompt="x", complexity="low")
    assert refused.value.param == "complexity"


def test_strict_lifecycle_server_answers_a_shut_down_model_with_404(
    make_offline_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catalog_lifecycle, "today", lambda: datetime.date(2026, 12, 2))
    strict = make_offline_server(lifecycle="openai")
    with openai.OpenAI(api_key="sk-test-FAKE", base_url=strict.base_url, max_retries=0) as sdk:
        with pytest.raises(openai.NotFoundError) as missing:
            sdk.images.generate(model="gpt-image-1.5", prompt="a fox")
        assert (missing.value.code, missing.value.param) == ("model_not_found", None)
        assert missing.value.request_id is not None
        assert "gpt-image-1.5" not in {m.id for m in sdk.models.list()}
        assert sdk.images.generate(model="gpt-image-2.6-flare", prompt="a fox").data


def test_lenient_server_serves_a_shut_down_model(
    sdk: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catalog_lifecycle, "today", lambda: datetime.date(2026, 12, 2))
    assert sdk.images.generate(model="gpt-image-1.5", prompt="a fox", quality="low").data


def test_models_and_dalle_urls(sdk: openai.OpenAI) -> None:
    model = sdk.models.retrieve("gpt-image-2")
    assert (model.id, model.object) == ("gpt-image-2", "model")
    assert "dall-e-2" in {m.id for m in sdk.models.list()}
    url = sdk.images.generate(model="dall-e-2", prompt="a cat", size="256x256").data[0].url
    assert url is not None and url.startswith(sdk.base_url.scheme + "://127.0.0.1")
