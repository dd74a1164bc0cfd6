"""The offline server over real HTTP with plain httpx: shapes, validation, robustness, edits,
streaming and every fault kind."""

from __future__ import annotations

import base64
import email.utils
import http.client
import io
import json
import os
import re
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from image_helpers import box_mask, png
from PIL import Image

from gptimage_widgets import imaging, pricing, validation
from gptimage_widgets.errors import GPTImageError
from gptimage_widgets.offline import KINDS, Fault, OfflineServer, parsing, synth
from gptimage_widgets.offline import server as server_module
from gptimage_widgets.offline.app import OfflineApp
from gptimage_widgets.offline.faults import parse_fault_header

SPEC = json.loads(
    (Path(__file__).parent / "data" / "openai-images-openapi.json").read_text("utf-8")
)
FUZZ = settings(  # GIW_FUZZ_EXAMPLES=1000 for a deeper local run
    max_examples=int(os.environ.get("GIW_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


# --------------------------------------------------------------------------- helpers


def decode(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64, validate=True))))


def photo(width: int, height: int, seed: int = 0, channels: int = 3) -> np.ndarray:
    """A smooth, non-constant test image ``(height, width, channels)`` uint8."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack(
        [(x * 255) // max(1, width - 1), (y * 255) // max(1, height - 1), (x + y) % 256], axis=-1
    )
    image = (base + rng.integers(0, 8, base.shape)).clip(0, 255).astype(np.uint8)
    if channels == 4:
        image = np.dstack([image, np.full((height, width), 255, np.uint8)])
    return image


def rect_mask(width: int, height: int, box: tuple[int, int, int, int]) -> tuple[bytes, np.ndarray]:
    """An OpenAI mask PNG (alpha 0 inside ``box``) and the matching (H, W) bool edit area."""
    area = box_mask(height, width, box)
    rgba = np.zeros((height, width, 4), np.uint8)
    rgba[..., 3] = np.where(area, 0, 255)
    return png(rgba), area


def generate(offline_api: httpx.Client, **body: Any) -> httpx.Response:
    body.setdefault("model", "gpt-image-2")
    body.setdefault("prompt", "a lighthouse at dusk")
    return offline_api.post("/images/generations", json=body)


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert {"message", "type", "param", "code"} <= set(error)
    return error


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def schema(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}", "components": SPEC["components"]}


# --------------------------------------------------------------------------- generations


def test_generation_has_openai_shape_usage_and_request_id(offline_api: httpx.Client) -> None:
    response = generate(offline_api, n=2, quality="high")
    assert response.status_code == 200
    assert re.fullmatch(r"req_offline_[0-9a-f]+", response.headers["x-request-id"])
    body = response.json()
    jsonschema.validate(body, schema("ImagesResponse"))
    assert (body["size"], body["quality"], body["background"], body["output_format"]) == (
        "1024x1024",
        "high",
        "opaque",
        "png",
    )
    images = [decode(item["b64_json"]) for item in body["data"]]
    assert [im.shape for im in images] == [(1024, 1024, 3)] * 2
    assert not np.array_equal(images[0], images[1])
    usage = body["usage"]
    details = usage["input_tokens_details"]
    assert usage["input_tokens"] == details["text_tokens"] + details["image_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    low = generate(offline_api, n=2, quality="low").json()["usage"]
    assert usage["output_tokens"] > low["output_tokens"] > 0


def test_images_are_deterministic_and_depend_on_prompt_size_and_index(
    offline_api: httpx.Client,
) -> None:
    first = generate(offline_api, n=2).json()["data"]
    again = generate(offline_api, n=2).json()["data"]
    other = generate(offline_api, prompt="a forest at night").json()["data"]
    assert [d["b64_json"] for d in first] == [d["b64_json"] for d in again]
    assert first[0]["b64_json"] != first[1]["b64_json"] != other[0]["b64_json"]
    image = decode(first[0]["b64_json"])
    assert image.std() > 20  # a picture with structure, not a flat colour
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50


@pytest.mark.parametrize(
    ("size", "shape"),
    [("auto", (1024, 1024)), ("1536x1024", (1024, 1536)), ("480x1376", (1376, 480))],
)
def test_size_is_honoured(offline_api: httpx.Client, size: str, shape: tuple[int, int]) -> None:
    body = generate(offline_api, size=size).json()
    assert decode(body["data"][0]["b64_json"]).shape[:2] == shape
    assert body["size"] == f"{shape[1]}x{shape[0]}"


def test_output_format_and_compression_are_honoured(offline_api: httpx.Client) -> None:
    def raw(**kw: Any) -> bytes:
        body = generate(offline_api, model="gpt-image-1.5", **kw).json()
        return base64.b64decode(body["data"][0]["b64_json"])

    assert raw(output_format="jpeg").startswith(b"\xff\xd8\xff")
    webp = raw(output_format="webp")
    assert webp[:4] == b"RIFF" and webp[8:12] == b"WEBP"
    assert len(raw(output_format="jpeg", output_compression=5)) < len(
        raw(output_format="jpeg", output_compression=100)
    )


def test_pngs_are_encoded_by_the_kits_encoder(offline_api: httpx.Client) -> None:
    """Level 1 with zlib's run-length strategy, byte for byte what ``encode_image`` makes."""
    for model, extra in (("gpt-image-2", {}), ("gpt-image-1.5", {"background": "transparent"})):
        body = generate(offline_api, model=model, size="1024x1024", **extra).json()
        sent = base64.b64decode(body["data"][0]["b64_json"])
        assert sent == imaging.encode_image(decode(body["data"][0]["b64_json"]), "png")
    jpeg = generate(offline_api, model="gpt-image-1.5", output_format="jpeg", output_compression=70)
    sent = base64.b64decode(jpeg.json()["data"][0]["b64_json"])
    pixels = synth.generate_image("a lighthouse at dusk", 1024, 1024, 0)
    assert sent == imaging.encode_image(pixels[..., :3].copy(), "jpeg", quality=70)


def test_transparent_background_has_real_alpha(offline_api: httpx.Client) -> None:
    body = generate(offline_api, model="gpt-image-1.5", background="transparent").json()
    image = decode(body["data"][0]["b64_json"])
    assert image.shape == (1024, 1024, 4) and body["background"] == "transparent"
    assert (image[..., 3] == 0).mean() > 0.1 and (image[..., 3] == 255).mean() > 0.1


def test_dalle3_returns_expiring_urls_served_by_the_server(
    offline_api: httpx.Client, make_offline_server: Any
) -> None:
    body = generate(offline_api, model="dall-e-3", prompt="a cat in a hat").json()
    item = body["data"][0]
    assert "usage" not in body and "b64_json" not in item
    assert "a cat in a hat" in item["revised_prompt"]
    fetched = httpx.get(item["url"])
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(fetched.content)).size == (1024, 1024)

    expired = make_offline_server(url_ttl=0)
    url = httpx.post(
        f"{expired.base_url}/images/generations", json={"model": "dall-e-2", "prompt": "x"}
    ).json()["data"][0]["url"]
    gone = httpx.get(url)
    assert gone.status_code == 404 and "expired" in error_of(gone)["message"]


def test_dalle2_b64_json_on_request(offline_api: httpx.Client) -> None:
    body = generate(
        offline_api, model="dall-e-2", size="256x256", response_format="b64_json"
    ).json()
    assert decode(body["data"][0]["b64_json"]).shape == (256, 256, 3)


# --------------------------------------------------------------------------- models


def test_models_come_from_the_catalog(offline_api: httpx.Client) -> None:
    listing = offline_api.get("/models").json()
    assert listing["object"] == "list"
    by_id = {m["id"]: m for m in listing["data"]}
    assert {"gpt-image-2", "gpt-image-2-2026-04-21", "dall-e-2"} <= set(by_id)
    assert set(by_id["gpt-image-2"]) == {"id", "object", "created", "owned_by", "shutdown_date"}
    assert by_id["gpt-image-1.5"]["shutdown_date"] == "2026-12-01"
    one = offline_api.get("/models/dall-e-3").json()
    assert (one["id"], one["shutdown_date"]) == ("dall-e-3", "2026-05-12")
    missing = offline_api.get("/models/gpt-nothing")
    assert missing.status_code == 404 and error_of(missing)["code"] == "model_not_found"


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"quality": "ultra"}, "quality"),
        ({"size": "1000x1000"}, "size"),
        ({"size": "4096x4096"}, "size"),
        ({"n": 11}, "n"),
        ({"background": "transparent"}, "background"),  # not on gpt-image-2
        (
            {"model": "gpt-image-1.5", "background": "transparent", "output_format": "jpeg"},
            "background",
        ),
        ({"response_format": "url"}, "response_format"),
        ({"model": "dall-e-2", "prompt": "x" * 1001}, "prompt"),
        ({"model": "dall-e-3", "n": 2}, "n"),
        ({"prompt": "   "}, "prompt"),
        ({"model": "dall-e-2", "stream": True}, "stream"),
        ({"foo": 1}, "foo"),
        ({"n": "2"}, "n"),
        ({"stream": "yes"}, "stream"),
        ({"n": 10**30}, "n"),
    ],
)
def test_invalid_requests_get_openai_shaped_400(
    offline_api: httpx.Client, body: dict[str, Any], param: str
) -> None:
    response = generate(offline_api, **body)
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert error["message"]


def test_unknown_model_is_404(offline_api: httpx.Client) -> None:
    response = generate(offline_api, model="gpt-image-99")
    assert response.status_code == 404
    error = error_of(response)
    # OpenAI's own 404 carries param null (and the offline server's shut-down models alike)
    assert (error["code"], error["param"]) == ("model_not_found", None)
    assert error["message"] == (
        "The model `gpt-image-99` does not exist or you do not have access to it."
    )


def test_a_400_carries_the_first_validation_problem(offline_api: httpx.Client) -> None:
    body = {"quality": "ultra", "n": 99, "size": "7x7"}
    response = generate(offline_api, **body)
    first = validation.check("gpt-image-2", "generate", prompt="a lighthouse at dusk", **body)[0]
    error = error_of(response)
    assert (error["message"], error["param"], error["code"]) == (
        first.message,
        first.param,
        "invalid_value",
    )


@pytest.mark.parametrize("field", ["seed", "operation", "style", "nonsense"])
def test_fields_the_model_does_not_take_on_the_wire_are_unknown(
    offline_api: httpx.Client, field: str
) -> None:
    response = generate(offline_api, **{field: 1})
    assert response.status_code == 400
    assert (error_of(response)["param"], error_of(response)["code"]) == (field, "unknown_parameter")


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        ("int", "2", 2),
        ("int", " -3 ", -3),
        ("int", "two", "two"),
        ("int", "9" * 40, "9" * 40),
        ("bool", "true", True),
        ("bool", "0", False),
        ("bool", "yes", "yes"),
        ("enum", "2", "2"),
        ("size", "1024x1024", "1024x1024"),
    ],
)
def test_multipart_text_is_typed_by_the_param_kind(kind: str, text: str, value: Any) -> None:
    assert parsing.wire_value(kind, text) == value


def test_multipart_numbers_and_flags_arrive_typed(offline_api: httpx.Client) -> None:
    fields = {"model": "gpt-image-1.5", "prompt": "a boat", "n": "2", "stream": "true"}
    fields["partial_images"] = "1"
    files = {"image": ("a.png", png(photo(64, 64)), "image/png")}
    response = offline_api.post("/images/edits", data=fields, files=files)
    assert response.status_code == 200, response.text
    kinds = [event for event, _ in sse_events(response.text)]
    assert kinds == ["image_edit.partial_image", "image_edit.completed"] * 2
    bad = offline_api.post("/images/edits", data={**fields, "n": "two"}, files=files)
    assert bad.status_code == 400 and error_of(bad)["param"] == "n"


@pytest.mark.parametrize("model", ["gpt-image-2", "gpt-image-1.5"])
def test_offline_usage_prices_like_the_estimate(offline_api: httpx.Client, model: str) -> None:
    body = generate(offline_api, model=model, quality="high", size="1024x1536").json()
    spent = dict(body["usage"], input_tokens=0, input_tokens_details={})
    estimate = pricing.estimate_cost(model, quality="high", size="1024x1536", prompt="")
    assert estimate is not None
    assert pricing.cost_from_usage(model, spent) == pytest.approx(estimate.usd, rel=1e-6)


def test_operation_the_model_lacks_is_400(offline_api: httpx.Client) -> None:
    files = {"image": ("a.png", png(photo(64, 64)), "image/png")}
    response = offline_api.post("/images/variations", data={"model": "gpt-image-2"}, files=files)
    assert response.status_code == 400 and error_of(response)["param"] == "model"


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b"{bad json", {"content-type": "application/json"}, 400),
        (b"[1, 2]", {"content-type": "application/json"}, 400),
        (b"\xff\xfe\x00garbage", {"content-type": "application/json"}, 400),
        (b"[" * 100_000, {"content-type": "application/json"}, 400),
        (b'{"n": 1' + b"0" * 5000 + b"}", {"content-type": "application/json"}, 400),
        (b"prompt=x", {"content-type": "application/x-www-form-urlencoded"}, 400),
    ],
)
def test_malformed_generation_bodies_are_4xx(
    offline_server: OfflineServer, content: bytes, headers: dict[str, str], status: int
) -> None:
    response = httpx.post(
        f"{offline_server.base_url}/images/generations", content=content, headers=headers
    )
    assert response.status_code == status, response.text
    error_of(response)


@pytest.mark.parametrize(
    "head",
    [
        b"POST /v1/images/generations HTTP/1.1\r\nContent-Length: abc\r\n",
        b"POST /v1/images/generations HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz",
        b"PATCH /v1/models HTTP/1.1\r\n",
        b"BREW /v1/models HTTP/1.1\r\n",
        b"GARBAGE\r\n",
    ],
)
def test_broken_http_gets_a_4xx(offline_server: OfflineServer, head: bytes) -> None:
    with socket.create_connection(("127.0.0.1", offline_server.port), timeout=10) as sock:
        sock.sendall(head + b"\r\n")
        status_line = sock.makefile("rb").readline()
    assert re.match(rb"HTTP/1\.[01] 4\d\d ", status_line), status_line


def test_unknown_path_and_wrong_method(offline_api: httpx.Client) -> None:
    assert offline_api.post("/images/nothing", json={}).status_code == 404
    assert offline_api.get("/images/generations").status_code == 405
    assert offline_api.delete("/models").status_code == 405


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
FIELD_NAMES = [
    "model",
    "prompt",
    "n",
    "size",
    "quality",
    "background",
    "output_format",
    "output_compression",
    "stream",
    "partial_images",
    "response_format",
    "style",
    "x",
]
MODELS = st.sampled_from(["gpt-image-2", "gpt-image-1.5", "dall-e-2", "dall-e-3", "nope"])


@FUZZ
@given(
    body=st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=6) | json_values,
    model=MODELS,
)
def test_fuzzed_json_bodies_never_cause_a_5xx(
    offline_api: httpx.Client, body: Any, model: str
) -> None:
    if isinstance(body, dict):
        body = {"model": model, **body, "n": 1} if "n" in body else {"model": model, **body}
    response = offline_api.post("/images/generations", json=body)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error_of(response)


def multipart(fields: dict[str, str], files: list[tuple[str, tuple[Any, ...]]]) -> httpx.Request:
    return httpx.Request("POST", "http://x/", data=fields, files=files)


@FUZZ
@given(
    cut=st.integers(0, 400),
    flips=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=4),
    garbage=st.binary(max_size=64),
)
def test_fuzzed_multipart_bodies_never_cause_a_5xx(
    offline_api: httpx.Client, cut: int, flips: list[tuple[int, int]], garbage: bytes
) -> None:
    request = multipart(
        {"model": "gpt-image-1.5", "prompt": "a boat"},
        [("image", ("a.png", png(photo(32, 32)), "image/png"))],
    )
    body = bytearray(request.read())
    for position, value in flips:
        body[position % len(body)] = value
    body = body[: len(body) - cut] + garbage
    response = offline_api.post(
        "/images/edits",
        content=bytes(body),
        headers={"content-type": request.headers["content-type"]},
    )
    assert response.status_code < 500, response.text


@pytest.mark.parametrize(
    ("files", "param", "code"),
    [
        (
            [("image", ("a.png", b"PNG", "application/octet-stream"))],
            "image",
            "unsupported_file_mimetype",
        ),
        ([("image", ("a.png", b"not a png", "image/png"))], "images[0]", "invalid_value"),
        (
            [
                ("image", ("a.png", png(photo(32, 32)), "image/png")),
                ("other", ("b.png", b"x", "image/png")),
            ],
            "other",
            "unknown_parameter",
        ),
    ],
)
def test_bad_edit_uploads_are_400(
    offline_api: httpx.Client, files: list[Any], param: str, code: str
) -> None:
    response = offline_api.post(
        "/images/edits", data={"model": "gpt-image-1.5", "prompt": "a boat"}, files=files
    )
    assert response.status_code == 400, response.text
    assert (error_of(response)["param"], error_of(response)["code"]) == (param, code)


@pytest.mark.parametrize(
    ("fields", "param"),
    [({"image": "not a file"}, "image"), ({"mask": "x"}, "mask"), ({}, "images")],
)
def test_edit_forms_without_real_files_are_400(
    offline_api: httpx.Client, fields: dict[str, str], param: str
) -> None:
    data = {"model": "gpt-image-1.5", "prompt": "a boat", **fields}
    parts = [
        f'--b\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in data.items()
    ]
    body = ("".join(parts) + "--b--\r\n").encode()
    response = offline_api.post(
        "/images/edits", content=body, headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert response.status_code == 400, response.text
    assert error_of(response)["param"] == param


# --------------------------------------------------------------------------- edits


def test_edit_changes_only_the_masked_pixels(offline_api: httpx.Client) -> None:
    base = photo(320, 256, seed=1)
    mask_png, area = rect_mask(320, 256, (40, 30, 200, 120))
    response = offline_api.post(
        "/images/edits",
        data={"model": "gpt-image-1.5", "prompt": "a red balloon", "n": "2"},
        files=[
            ("image", ("base.png", png(base), "image/png")),
            ("mask", ("mask.png", mask_png, "image/png")),
        ],
    )
    assert response.status_code == 200, response.text
    for item in response.json()["data"]:
        out = decode(item["b64_json"])
        assert out.shape == base.shape
        assert np.array_equal(out[~area], base[~area])  # byte-identical outside the mask
        changed = np.any(out[area] != base[area], axis=-1)
        assert changed.mean() > 0.9


def test_dalle2_edits_the_transparent_area_without_a_mask(offline_api: httpx.Client) -> None:
    base = photo(256, 256, seed=2, channels=4)
    base[100:160, 50:200, 3] = 0
    area = base[..., 3] == 0
    response = offline_api.post(
        "/images/edits",
        data={"model": "dall-e-2", "prompt": "a window", "response_format": "b64_json"},
        files={"image": ("base.png", png(base), "image/png")},
    )
    assert response.status_code == 200, response.text
    out = decode(response.json()["data"][0]["b64_json"])
    assert np.array_equal(out[~area], base[~area])
    assert (out[area][:, 3] == 255).all()


def test_edit_without_mask_changes_the_whole_image_deterministically(
    offline_api: httpx.Client,
) -> None:
    base = photo(256, 192, seed=3)
    files = {"image": ("base.png", png(base), "image/png")}
    data = {"model": "gpt-image-1.5", "prompt": "make it snowy"}
    first = offline_api.post("/images/edits", data=data, files=files).json()
    second = offline_api.post("/images/edits", data=data, files=files).json()
    out = decode(first["data"][0]["b64_json"])
    assert first["data"] == second["data"]
    assert out.shape == base.shape
    assert np.any(out != base, axis=-1).mean() > 0.9
    assert first["usage"]["input_tokens_details"]["image_tokens"] > 0


def test_edit_with_several_images_keeps_the_first_images_size(offline_api: httpx.Client) -> None:
    files = [
        ("image[]", ("a.png", png(photo(320, 240, 4)), "image/png")),
        ("image[]", ("b.jpg", _jpeg(photo(128, 128, 5)), "image/jpeg")),
    ]
    response = offline_api.post(
        "/images/edits", data={"model": "gpt-image-2", "prompt": "merge"}, files=files
    )
    assert response.status_code == 200, response.text
    assert decode(response.json()["data"][0]["b64_json"]).shape == (240, 320, 3)


def _jpeg(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize("stream", ["false", "true"])
def test_edit_size_mismatch_and_mask_without_alpha_are_400(
    offline_api: httpx.Client, stream: str
) -> None:
    base = png(photo(128, 128))
    small, _ = rect_mask(64, 64, (0, 0, 10, 10))
    for mask in (small, png(photo(128, 128))):
        response = offline_api.post(
            "/images/edits",
            data={"model": "gpt-image-1.5", "prompt": "x", "stream": stream},
            files=[("image", ("a.png", base, "image/png")), ("mask", ("m.png", mask, "image/png"))],
        )
        assert response.status_code == 400 and error_of(response)["param"] == "mask"


def test_json_edit_form_with_data_urls(offline_api: httpx.Client) -> None:
    base = photo(160, 128, seed=6)
    mask_png, area = rect_mask(160, 128, (0, 0, 80, 64))

    def ref(data: bytes) -> dict[str, str]:
        return {"image_url": "data:image/png;base64," + base64.b64encode(data).decode()}

    body = {
        "model": "gpt-image-1.5",
        "prompt": "a cloud",
        "images": [ref(png(base))],
        "mask": ref(mask_png),
    }
    response = offline_api.post("/images/edits", json=body)
    assert response.status_code == 200, response.text
    out = decode(response.json()["data"][0]["b64_json"])
    assert np.array_equal(out[~area], base[~area])
    by_id = offline_api.post("/images/edits", json={**body, "images": [{"file_id": "file-1"}]})
    assert by_id.status_code == 400 and error_of(by_id)["param"] == "images[0]"


def test_variations_are_deterministic_perturbations(offline_api: httpx.Client) -> None:
    source = photo(256, 256, seed=7)
    files = {"image": ("a.png", png(source), "image/png")}
    data = {"model": "dall-e-2", "n": "2", "size": "256x256", "response_format": "b64_json"}
    first = offline_api.post("/images/variations", data=data, files=files).json()["data"]
    again = offline_api.post("/images/variations", data=data, files=files).json()["data"]
    assert first == again
    a, b = (decode(item["b64_json"]) for item in first)
    assert a.shape == (256, 256, 3) and not np.array_equal(a, b)
    assert not np.array_equal(a, source)
    correlation = np.corrcoef(a[..., 1].ravel(), source[..., 1].ravel())[0, 1]
    assert correlation > 0.5  # a perturbation of the input, not a new picture


# --------------------------------------------------------------------------- streaming


def test_streamed_generation_sends_partials_then_completed(offline_api: httpx.Client) -> None:
    response = generate(offline_api, stream=True, partial_images=3, size="1024x1024")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers.get("transfer-encoding") == "chunked"
    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert names == ["image_generation.partial_image"] * 3 + ["image_generation.completed"]
    assert [e["partial_image_index"] for _, e in events[:3]] == [0, 1, 2]
    for _, event in events[:3]:
        jsonschema.validate(event, schema("ImageGenPartialImageEvent"))
    final = decode(events[-1][1]["b64_json"]).astype(int)
    errors = [np.abs(decode(e["b64_json"]).astype(int) - final).mean() for _, e in events[:3]]
    assert errors[0] > errors[1] > errors[2] > 0  # progressively less blurred
    usage = events[-1][1]["usage"]
    plain = generate(offline_api, size="1024x1024").json()["usage"]
    assert usage["output_tokens"] == plain["output_tokens"] + 300


def test_streamed_edit_uses_image_edit_events(offline_api: httpx.Client) -> None:
    response = offline_api.post(
        "/images/edits",
        data={"model": "gpt-image-1.5", "prompt": "x", "stream": "true", "partial_images": "1"},
        files={"image": ("a.png", png(photo(128, 128)), "image/png")},
    )
    names = [name for name, _ in sse_events(response.text)]
    assert names == ["image_edit.partial_image", "image_edit.completed"]


# --------------------------------------------------------------------------- faults


def fault(offline_api: httpx.Client, kind: str, **body: Any) -> httpx.Response:
    body.setdefault("model", "gpt-image-2")
    body.setdefault("prompt", "x")
    return offline_api.post("/images/generations", json=body, headers={"x-offline-fault": kind})


@pytest.mark.parametrize(
    ("kind", "status", "code", "error_type"),
    [
        ("500", 500, None, "server_error"),
        ("502", 502, None, "server_error"),
        ("503", 503, None, "server_error"),
        ("quota", 429, "insufficient_quota", "insufficient_quota"),
        ("moderation", 400, "moderation_blocked", "image_generation_user_error"),
        ("org_verification", 403, None, "invalid_request_error"),
    ],
)
def test_error_status_faults(
    offline_api: httpx.Client, kind: str, status: int, code: str | None, error_type: str
) -> None:
    response = fault(offline_api, kind)
    assert response.status_code == status
    error = error_of(response)
    assert (error["code"], error["type"]) == (code, error_type)
    assert response.headers["x-request-id"].startswith("req_offline_")
    if kind == "moderation":
        assert error["moderation_details"]["categories"] == ["violence"]
    if kind == "org_verification":
        assert "must be verified" in error["message"]


def test_429_fault_sends_retry_after_in_all_three_forms(offline_api: httpx.Client) -> None:
    seconds = fault(offline_api, "429; retry_after=2")
    assert seconds.status_code == 429 and seconds.headers["retry-after"] == "2"
    assert error_of(seconds)["code"] == "rate_limit_exceeded"
    millis = fault(offline_api, "429; retry_after_ms=250")
    assert millis.headers["retry-after-ms"] == "250"
    dated = fault(offline_api, "429; retry_after=30; retry_after_date=1")
    assert email.utils.parsedate_to_datetime(dated.headers["retry-after"]).tzinfo is not None


def test_html_error_fault(offline_api: httpx.Client) -> None:
    response = fault(offline_api, "html_error")
    assert response.status_code == 502 and response.headers["content-type"] == "text/html"
    assert b"<html>" in response.content


def test_payload_faults_spoil_a_200(offline_api: httpx.Client) -> None:
    malformed = fault(offline_api, "malformed_json")
    assert malformed.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        malformed.json()
    bad = fault(offline_api, "bad_base64")
    assert bad.status_code == 200
    with pytest.raises(ValueError):
        base64.b64decode(bad.json()["data"][0]["b64_json"], validate=True)


def test_stream_faults(offline_api: httpx.Client) -> None:
    truncated = fault(offline_api, "truncate_stream", stream=True, partial_images=2)
    assert [n for n, _ in sse_events(truncated.text)] == ["image_generation.partial_image"] * 2
    bad = fault(offline_api, "bad_base64", stream=True, partial_images=1)
    for _, event in sse_events(bad.text):
        with pytest.raises(ValueError):
            base64.b64decode(event["b64_json"], validate=True)
    malformed = fault(offline_api, "malformed_json", stream=True)
    with pytest.raises(json.JSONDecodeError):
        sse_events(malformed.text)
    plain = fault(offline_api, "truncate_stream")  # not a stream: answered normally
    assert plain.status_code == 200 and plain.json()["data"]


def test_drop_fault_closes_the_connection_mid_body(offline_server: OfflineServer) -> None:
    url = f"{offline_server.base_url}/images/generations"
    for body in (
        {"model": "gpt-image-2", "prompt": "x"},
        {"model": "gpt-image-2", "prompt": "x", "stream": True},
    ):
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.post(url, json=body, headers={"x-offline-fault": "drop"})


def test_slow_headers_and_latency_delay_the_answer(
    offline_server: OfflineServer, make_offline_server: Any
) -> None:
    url = f"{offline_server.base_url}/images/generations"
    body = {"model": "gpt-image-2", "prompt": "x", "size": "1024x1024"}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            url,
            json=body,
            headers={"x-offline-fault": "slow_headers; delay=3"},
            timeout=httpx.Timeout(5, read=0.5),
        )
    slow = make_offline_server(latency=3)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{slow.base_url}/models", timeout=httpx.Timeout(5, read=0.5))


def test_fault_rules_fire_the_given_number_of_times(make_offline_server: Any) -> None:
    server = make_offline_server(
        faults=[Fault("503", times=2, path="/images/edits"), Fault(429, times=1)]
    )
    url = f"{server.base_url}/images/generations"
    statuses = [
        httpx.post(
            url, json={"model": "gpt-image-2", "prompt": "x", "size": "1024x1024"}
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [429, 200, 200]
    assert httpx.get(f"{server.base_url}/models").status_code == 200  # not an image endpoint
    assert [r.fault for r in server.requests] == ["429", None, None, None]


def test_rate_faults_are_reproducible(make_offline_server: Any) -> None:
    def run() -> list[int]:
        server = make_offline_server(faults=[Fault("500", rate=0.5)], seed=42)
        url = f"{server.base_url}/images/generations"
        body = {"model": "dall-e-2", "prompt": "x", "size": "256x256"}
        return [httpx.post(url, json=body).status_code for _ in range(12)]

    first = run()
    assert first == run()
    assert set(first) == {200, 500}


def test_fault_header_and_rule_validation(offline_api: httpx.Client) -> None:
    assert parse_fault_header("503; status=504").status == 504
    with pytest.raises(GPTImageError):
        Fault("teapot")
    with pytest.raises(GPTImageError):
        parse_fault_header("429; colour=red")
    response = fault(offline_api, "teapot")
    assert response.status_code == 400 and error_of(response)["param"] == "x-offline-fault"
    assert set(KINDS) >= {"429", "drop", "quota", "org_verification"}


# --------------------------------------------------------------------------- HTTP and lifecycle


def test_request_log_records_fields_and_files_but_never_credentials(
    make_offline_server: Any,
) -> None:
    server = make_offline_server()
    httpx.post(
        f"{server.base_url}/images/edits",
        data={"model": "gpt-image-1.5", "prompt": "a boat"},
        files=[
            ("image[]", ("a.png", png(photo(64, 64)), "image/png")),
            ("image[]", ("b.png", png(photo(64, 64, 1)), "image/png")),
        ],
        headers={"authorization": "Bearer sk-test-FAKE", "api-key": "sk-test-FAKE"},
    )
    (record,) = server.requests
    assert (record.method, record.path, record.status) == ("POST", "/v1/images/edits", 200)
    assert record.fields == {"model": "gpt-image-1.5", "prompt": "a boat"}
    assert [(f.field, f.filename, f.content_type) for f in record.files] == [
        ("image[]", "a.png", "image/png"),
        ("image[]", "b.png", "image/png"),
    ]
    assert all(f.size > 0 for f in record.files)
    assert "sk-test-FAKE" not in repr(record)
    server.reset()
    assert server.requests == []


def test_keep_alive_reuses_one_connection(offline_server: OfflineServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", offline_server.port, timeout=10)
    try:
        connection.request("GET", "/v1/models")
        connection.getresponse().read()
        first_socket = connection.sock
        connection.request(
            "POST",
            "/v1/images/generations",
            body=b"{bad",
            headers={"content-type": "application/json"},
        )
        assert connection.getresponse().status == 400
        assert connection.sock is first_socket and first_socket is not None
    finally:
        connection.close()


def test_answers_go_out_without_waiting_for_nagle(make_offline_server: Any) -> None:
    """TCP_NODELAY on accepted sockets: a small answer is not held back for a delayed ACK."""
    server = make_offline_server()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", "/v1/models")
        assert connection.getresponse().read()
        accepted = server._server.connections.open_connections()
        assert len(accepted) == 1
        assert accepted[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        connection.close()


def test_a_burst_of_connections_is_queued_before_any_is_accepted() -> None:
    """32 simultaneous connects all complete while the accept loop is not running yet.

    With socketserver's default backlog of 5 the kernel drops the SYNs past the sixth,
    and TCP retries them only after 1 s (a burst from AsyncImageClient(max_concurrency=16)).
    """
    listener = server_module._Server(("127.0.0.1", 0), OfflineApp())  # listening, not serving
    clients = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(32)]
    try:
        for client in clients:
            client.setblocking(False)
            client.connect_ex(listener.server_address)
        pending = set(clients)
        deadline = time.monotonic() + 5.0  # a bound on the wait, not a timing assertion
        while pending and time.monotonic() < deadline:
            _, writable, _ = select.select([], list(pending), [], 0.1)
            pending -= {
                c for c in writable if c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
            }
        assert not pending, f"{len(pending)} of 32 connections were not queued"
    finally:
        for client in clients:
            client.close()
        listener.server_close()


def test_chunked_request_bodies_are_read(offline_server: OfflineServer) -> None:
    def body() -> Iterator[bytes]:
        yield b'{"model": "dall-e-2", '
        yield b'"prompt": "x", "size": "256x256", "response_format": "b64_json"}'

    response = httpx.post(
        f"{offline_server.base_url}/images/generations",
        content=body(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200
    assert decode(response.json()["data"][0]["b64_json"]).shape == (256, 256, 3)


def test_lifecycle() -> None:
    server = OfflineServer()
    with pytest.raises(GPTImageError, match="not running"):
        server.base_url  # noqa: B018
    with server:
        port = server.port
        assert server.base_url == f"http://127.0.0.1:{port}/v1"
        assert httpx.get(f"{server.base_url}/models").status_code == 200
    server.stop()  # twice is fine
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/v1/models")
    with OfflineServer(port=port) as again:  # the port was freed
        assert again.port == port
