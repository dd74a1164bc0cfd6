"""The offline server and the gpt-image-2.5 / 2.6 models: ``complexity``, 480-edge sizes,
transparent output, and a mask sent with several images (applied to the first one)."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
import numpy as np
import pytest
from image_helpers import png
from PIL import Image

from gptimage_widgets.offline import OfflineServer, synth

MODELS_26 = ("gpt-image-2.6-flare", "gpt-image-2.6-sunburst")
MODELS_25 = ("gpt-image-2.5-flare", "gpt-image-2.5-sunburst")


def decode(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64, validate=True)))
    image.load()
    return image


def photo(width: int, height: int, shift: int = 0) -> np.ndarray:
    """A non-constant RGB test image ``(height, width, 3)`` uint8."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x % 256, y % 256, (x + y + shift) % 256], axis=-1).astype(np.uint8)


def generate(offline_api: httpx.Client, **body: Any) -> httpx.Response:
    body.setdefault("prompt", "a lighthouse at dusk")
    return offline_api.post("/images/generations", json=body)


def last_record(server: OfflineServer, request_id: str) -> Any:
    return next(r for r in server.requests if r.request_id == request_id)


# --------------------------------------------------------------------------- complexity


@pytest.mark.parametrize("model", MODELS_26)
@pytest.mark.parametrize("complexity", ["low", "medium", "high"])
def test_complexity_is_accepted_by_26_and_recorded(
    offline_api: httpx.Client, offline_server: OfflineServer, model: str, complexity: str
) -> None:
    response = generate(offline_api, model=model, complexity=complexity, quality="low")
    assert response.status_code == 200, response.text
    record = last_record(offline_server, response.headers["x-request-id"])
    assert record.fields["complexity"] == complexity  # as received
    assert record.params["complexity"] == complexity  # as rendered
    # OpenAI reports size/quality/background/output_format, not complexity: nor does the server
    assert "complexity" not in response.json()


def test_complexity_left_out_is_rendered_with_the_default(
    offline_api: httpx.Client, offline_server: OfflineServer
) -> None:
    response = generate(offline_api, model="gpt-image-2.6-flare")
    assert response.status_code == 200, response.text
    record = last_record(offline_server, response.headers["x-request-id"])
    assert "complexity" not in record.fields
    assert record.params["complexity"] == "high"


def test_complexity_in_a_multipart_edit_is_accepted_and_recorded(
    offline_api: httpx.Client, offline_server: OfflineServer
) -> None:
    response = offline_api.post(
        "/images/edits",
        data={"model": "gpt-image-2.6-sunburst", "prompt": "snow", "complexity": "medium"},
        files={"image": ("a.png", png(photo(256, 256)), "image/png")},
    )
    assert response.status_code == 200, response.text
    record = last_record(offline_server, response.headers["x-request-id"])
    assert record.params["complexity"] == "medium"


@pytest.mark.parametrize("model", [*MODELS_25, "gpt-image-2", "gpt-image-1.5", "dall-e-3"])
def test_complexity_is_refused_by_every_other_model(
    offline_api: httpx.Client, offline_server: OfflineServer, model: str
) -> None:
    response = generate(offline_api, model=model, complexity="low")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"]) == ("complexity", "unknown_parameter")
    assert last_record(offline_server, response.headers["x-request-id"]).params == {}


def test_invalid_complexity_value_is_400(offline_api: httpx.Client) -> None:
    response = generate(offline_api, model="gpt-image-2.6-flare", complexity="extreme")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "complexity"


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize("model", [*MODELS_26, *MODELS_25])
@pytest.mark.parametrize("size", ["480x1376", "1376x480"])
def test_480_edge_custom_sizes_render(offline_api: httpx.Client, model: str, size: str) -> None:
    response = generate(offline_api, model=model, size=size, quality="low")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["size"] == size
    width, height = (int(v) for v in size.split("x"))
    assert decode(body["data"][0]["b64_json"]).size == (width, height)


def test_a_size_under_the_pixel_floor_is_400(offline_api: httpx.Client) -> None:
    response = generate(offline_api, model="gpt-image-2.6-flare", size="1008x640")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "size"


# --------------------------------------------------------------------------- transparency


@pytest.mark.parametrize("model", [*MODELS_26, *MODELS_25])
@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_transparent_generation_has_a_real_alpha_channel(
    offline_api: httpx.Client, model: str, fmt: str
) -> None:
    response = generate(
        offline_api, model=model, background="transparent", output_format=fmt, size="480x1376"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["background"], body["output_format"]) == ("transparent", fmt)
    image = decode(body["data"][0]["b64_json"])
    assert image.format == fmt.upper() and image.mode == "RGBA"
    alpha = np.asarray(image)[..., 3]
    assert (alpha == 0).any() and (alpha == 255).any()


def test_transparent_jpeg_is_400(offline_api: httpx.Client) -> None:
    response = generate(
        offline_api, model="gpt-image-2.6-flare", background="transparent", output_format="jpeg"
    )
    assert response.status_code == 400


def test_transparent_edit_of_an_rgb_image_is_rgba_and_keeps_the_unmasked_pixels(
    offline_api: httpx.Client,
) -> None:
    base = photo(256, 256)
    mask = np.full((256, 256, 4), 255, np.uint8)
    mask[:, :128, 3] = 0  # edit the left half
    response = offline_api.post(
        "/images/edits",
        data={
            "model": "gpt-image-2.6-flare",
            "prompt": "a kite",
            "background": "transparent",
            "output_format": "png",
        },
        files=[
            ("image", ("a.png", png(base), "image/png")),
            ("mask", ("m.png", png(mask), "image/png")),
        ],
    )
    assert response.status_code == 200, response.text
    out = np.asarray(decode(response.json()["data"][0]["b64_json"]))
    assert out.shape == (256, 256, 4)
    assert np.array_equal(out[:, 128:, :3], base[:, 128:]) and (out[:, 128:, 3] == 255).all()
    assert (out[:, :128, 3] == 0).any()  # the new content's sky is transparent


def test_synth_edit_transparent_without_mask_blends_and_adds_alpha() -> None:
    base = photo(64, 48)
    out = synth.edit_image(base, "a kite", transparent=True)
    assert out.shape == (48, 64, 4) and (out[..., 3] == 0).any()
    opaque = synth.edit_image(base, "a kite")
    assert opaque.shape == (48, 64, 3)
    assert np.array_equal(out[..., :3], opaque)


# --------------------------------------------------------------------------- mask + images


@pytest.mark.parametrize("model", ["gpt-image-2.6-flare", "gpt-image-2", "gpt-image-1.5"])
def test_a_mask_with_two_images_edits_only_the_first_images_masked_region(
    offline_api: httpx.Client, model: str
) -> None:
    first, second = photo(256, 192), photo(128, 128, shift=90)
    mask = np.full((192, 256, 4), 255, np.uint8)
    mask[:, :128, 3] = 0  # alpha 0 = edit: the left half
    response = offline_api.post(
        "/images/edits",
        data={"model": model, "prompt": "a red balloon"},
        files=[
            ("image[]", ("first.png", png(first), "image/png")),
            ("image[]", ("second.png", png(second), "image/png")),
            ("mask", ("mask.png", png(mask), "image/png")),
        ],
    )
    assert response.status_code == 200, response.text
    out = np.asarray(decode(response.json()["data"][0]["b64_json"]))
    assert out.shape == first.shape  # the first image's size, not the second's
    assert np.array_equal(out[:, 128:], first[:, 128:])  # right half: the first image's
    changed = np.any(out[:, :128] != first[:, :128], axis=-1)
    assert changed.mean() > 0.9  # left half: new content


def test_a_mask_must_match_the_first_image_not_the_others(offline_api: httpx.Client) -> None:
    mask = np.full((128, 128, 4), 255, np.uint8)
    mask[:, :64, 3] = 0
    response = offline_api.post(
        "/images/edits",
        data={"model": "gpt-image-2.6-flare", "prompt": "x"},
        files=[
            ("image[]", ("first.png", png(photo(256, 192)), "image/png")),
            ("image[]", ("second.png", png(photo(128, 128)), "image/png")),
            ("mask", ("mask.png", png(mask), "image/png")),
        ],
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "mask"
