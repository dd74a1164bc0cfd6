"""build_request: validation first, then the exact wire form of OpenAI's API
(https://platform.openai.com/docs/api-reference/images)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from gptimage_widgets import catalog
from gptimage_widgets.errors import ValidationError
from gptimage_widgets.request import CONTENT_TYPES, ImageRequest, build_request


def rgb(width: int = 64, height: int = 64, value: int = 90) -> np.ndarray:
    return np.full((height, width, 3), value, dtype=np.uint8)


def decoded(content: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(content))
    image.load()
    return image


# --------------------------------------------------------------------------- generations


def test_generation_is_json_with_only_what_was_set() -> None:
    request = build_request("gpt-image-2", "generate", prompt="a fox", quality="low")
    assert request.path == "/images/generations"
    assert request.json == {"model": "gpt-image-2", "prompt": "a fox", "quality": "low"}
    assert request.data is None and request.files == ()
    assert request.stream is False


def test_model_alias_is_sent_as_given() -> None:
    request = build_request("gpt-image-2-2026-04-21", "generate", prompt="x")
    assert request.json is not None and request.json["model"] == "gpt-image-2-2026-04-21"


def test_seed_is_recorded_but_never_sent() -> None:
    request = build_request("gpt-image-2", "generate", prompt="x", seed=42)
    assert request.json is not None and "seed" not in request.json
    assert request.params["seed"] == 42


@pytest.mark.parametrize(
    "model", [m.name for m in catalog.list_models() if m.family == "gpt-image"]
)
def test_gpt_models_never_get_response_format(model: str) -> None:
    request = build_request(model, "generate", prompt="x")
    assert request.json is not None and "response_format" not in request.json


@pytest.mark.parametrize("model", ["dall-e-2", "dall-e-3"])
def test_dall_e_defaults_to_inline_base64_unless_asked(model: str) -> None:
    default = build_request(model, "generate", prompt="x")
    asked = build_request(model, "generate", prompt="x", response_format="url")
    assert default.json is not None and default.json["response_format"] == "b64_json"
    assert asked.json is not None and asked.json["response_format"] == "url"


def test_params_the_model_does_not_take_are_refused_not_sent() -> None:
    with pytest.raises(ValidationError) as info:
        build_request("dall-e-3", "generate", prompt="x", background="opaque")
    assert "background" in info.value.params


def test_every_problem_is_reported_before_anything_is_built() -> None:
    with pytest.raises(ValidationError) as info:
        build_request("gpt-image-2", "generate", prompt="x", quality="ultra", n=11)
    assert {"quality", "n"} <= set(info.value.params)


def test_partial_images_turn_streaming_on() -> None:
    request = build_request("gpt-image-2", "generate", prompt="x", partial_images=2)
    assert request.stream and request.partial_images == 2
    assert request.json is not None
    assert request.json["stream"] is True and request.json["partial_images"] == 2


def test_zero_partial_images_sends_neither_field() -> None:
    request = build_request("gpt-image-2", "generate", prompt="x", partial_images=0)
    assert request.json is not None
    assert "stream" not in request.json and "partial_images" not in request.json


def test_stream_can_be_forced_without_partials() -> None:
    request = build_request("gpt-image-2", "generate", prompt="x", stream=True)
    assert request.json is not None and request.json["stream"] is True
    assert "partial_images" not in request.json


def test_stream_refused_for_models_that_cannot_stream() -> None:
    with pytest.raises(ValidationError, match="cannot stream"):
        build_request("dall-e-3", "generate", prompt="x", stream=True)


def test_effective_params_fill_defaults_and_never_hold_pixels() -> None:
    request = build_request("gpt-image-2", "edit", prompt="x", images=rgb(80, 48))
    assert request.params["size"] == catalog.get_model("gpt-image-2").params["size"].default
    assert request.params["image_sizes"] == ["80x48"]
    assert "images" not in request.params
    assert all(not isinstance(v, (np.ndarray, bytes)) for v in request.params.values())


# --------------------------------------------------------------------------- edits


def test_single_image_edit_is_multipart_field_image() -> None:
    request = build_request("gpt-image-2", "edit", prompt="hat", images=rgb(), n=2)
    assert request.path == "/images/edits" and request.json is None
    assert request.data == {"model": "gpt-image-2", "prompt": "hat", "n": "2"}
    [part] = request.files
    assert (part.field, part.filename, part.content_type) == ("image", "image.png", "image/png")
    assert np.array_equal(np.asarray(decoded(part.content)), rgb())


def test_several_images_use_repeated_image_brackets() -> None:
    images = [rgb(value=v) for v in (10, 20, 30)]
    request = build_request("gpt-image-2", "edit", prompt="merge", images=images)
    assert [p.field for p in request.files] == ["image[]"] * 3
    assert [p.filename for p in request.files] == ["image-0.png", "image-1.png", "image-2.png"]
    assert [int(np.asarray(decoded(p.content))[0, 0, 0]) for p in request.files] == [10, 20, 30]


def test_batch_counts_as_several_images() -> None:
    batch = np.zeros((2, 32, 32, 3), dtype=np.float32)
    request = build_request("gpt-image-2", "edit", prompt="x", images=batch)
    assert [p.field for p in request.files] == ["image[]", "image[]"]


def test_form_fields_are_strings_and_booleans_lowercase() -> None:
    request = build_request("gpt-image-2", "edit", prompt="x", images=rgb(), partial_images=1)
    assert request.data is not None
    assert request.data["stream"] == "true" and request.data["partial_images"] == "1"
    assert all(isinstance(value, str) for value in request.data.values())


def test_mask_is_rgba_png_with_alpha_zero_where_to_edit() -> None:
    mask = np.zeros((64, 64), dtype=bool)
    mask[10:20, 30:50] = True
    request = build_request("gpt-image-2", "edit", prompt="x", images=rgb(), mask=mask)
    _image_part, mask_part = request.files
    assert (mask_part.field, mask_part.filename, mask_part.content_type) == (
        "mask",
        "mask.png",
        "image/png",
    )
    mask_image = decoded(mask_part.content)
    assert mask_image.mode == "RGBA" and mask_image.size == (64, 64)
    alpha = np.asarray(mask_image)[:, :, 3]
    assert np.array_equal(alpha == 0, mask)
    assert request.params["mask"] is True


def test_openai_style_rgba_mask_is_passed_through_in_meaning() -> None:
    rgba = np.full((64, 64, 4), 255, dtype=np.uint8)
    rgba[:8, :8, 3] = 0  # alpha 0 = edit
    request = build_request("gpt-image-2", "edit", prompt="x", images=rgb(), mask=rgba)
    alpha = np.asarray(decoded(request.files[1].content))[:, :, 3]
    assert np.array_equal(alpha == 0, rgba[:, :, 3] == 0)


def test_dall_e_2_edit_without_mask_keeps_the_transparent_area() -> None:
    image = np.full((256, 256, 4), 200, dtype=np.uint8)
    image[100:150, 100:150, 3] = 0
    request = build_request("dall-e-2", "edit", prompt="a pond", images=image)
    [part] = request.files
    sent = decoded(part.content)
    assert part.content_type == "image/png" and sent.mode == "RGBA"
    assert np.array_equal(np.asarray(sent)[:, :, 3], image[:, :, 3])


@pytest.mark.parametrize(("fmt", "magic"), [("jpeg", b"\xff\xd8"), ("webp", b"RIFF")])
def test_upload_format_for_gpt_models(fmt: str, magic: bytes) -> None:
    request = build_request("gpt-image-2", "edit", prompt="x", images=rgb(), upload_format=fmt)
    [part] = request.files
    assert part.content_type == CONTENT_TYPES[fmt]
    assert part.filename == ("image.jpg" if fmt == "jpeg" else "image.webp")
    assert part.content.startswith(magic)
    assert request.data is not None and "upload_format" not in request.data


def test_jpeg_upload_of_rgba_drops_alpha_and_says_so() -> None:
    image = np.zeros((32, 32, 4), dtype=np.uint8)
    request = build_request("gpt-image-2", "edit", prompt="x", images=image, upload_format="jpeg")
    assert decoded(request.files[0].content).mode == "RGB"
    assert any("alpha dropped" in note for note in request.notes)


def test_upload_format_the_model_refuses() -> None:
    with pytest.raises(ValidationError, match=r"upload_format 'jpeg'.*dall-e-2.*'png'"):
        build_request("dall-e-2", "edit", prompt="x", images=rgb(256, 256), upload_format="jpeg")


def test_no_file_part_is_ever_octet_stream() -> None:
    requests = [
        build_request("gpt-image-2", "edit", prompt="x", images=rgb(), mask=np.ones((64, 64))),
        build_request("dall-e-2", "variation", images=rgb(256, 256)),
    ]
    types = {part.content_type for r in requests for part in r.files}
    assert types <= {"image/png", "image/jpeg", "image/webp"}
    assert all(part.filename for r in requests for part in r.files)


# --------------------------------------------------------------------------- downscale


def test_oversized_input_is_downscaled_with_its_mask_and_noted() -> None:
    spec = catalog.get_model("dall-e-2")
    assert spec.pixel_budget is not None
    side = 2048  # 4x dall-e-2's budget of 1024x1024
    mask = np.zeros((side, side), dtype=bool)
    mask[: side // 2] = True
    request = build_request("dall-e-2", "edit", prompt="x", images=rgb(side, side), mask=mask)
    image_part, mask_part = request.files
    sent_image, sent_mask = decoded(image_part.content), decoded(mask_part.content)
    assert sent_image.size == sent_mask.size
    assert sent_image.size[0] * sent_image.size[1] <= spec.pixel_budget
    alpha = np.asarray(sent_mask)[:, :, 3]
    assert (alpha[: alpha.shape[0] // 2 - 1] == 0).all() and (alpha[-5:] == 255).all()
    assert any(f"from {side}x{side}" in note for note in request.notes)
    assert request.params["image_sizes"] == ["{}x{}".format(*sent_image.size)]


def test_downscale_can_be_turned_off() -> None:
    request = build_request("dall-e-2", "edit", prompt="x", images=rgb(2048, 2048), downscale=False)
    assert decoded(request.files[0].content).size == (2048, 2048)
    assert request.notes == ()


def test_inputs_within_budget_are_untouched() -> None:
    request = build_request("gpt-image-2", "edit", prompt="x", images=rgb(1024, 768))
    assert decoded(request.files[0].content).size == (1024, 768)
    assert request.notes == ()


# --------------------------------------------------------------------------- variations


def test_variation_is_multipart_image_without_prompt() -> None:
    request = build_request("dall-e-2", "variation", images=rgb(256, 256), n=3, size="256x256")
    assert request.path == "/images/variations"
    assert request.data == {
        "model": "dall-e-2",
        "n": "3",
        "size": "256x256",
        "response_format": "b64_json",
    }
    assert [(p.field, p.content_type) for p in request.files] == [("image", "image/png")]


def test_variation_needs_a_model_that_offers_it() -> None:
    with pytest.raises(ValidationError):
        build_request("gpt-image-2", "variation", images=rgb(256, 256))


def test_request_is_frozen() -> None:
    request = build_request("gpt-image-2", "generate", prompt="x")
    assert isinstance(request, ImageRequest)
    with pytest.raises(AttributeError):
        request.model = "dall-e-3"  # type: ignore[misc]


def test_dalle2_inputs_over_4_mb_once_encoded_are_refused_before_sending() -> None:
    """Arrays and PIL images have a byte size only once encoded: checked right then."""
    noise = np.random.default_rng(3).integers(0, 256, (1024, 1024, 4), dtype=np.uint8)
    limit = catalog.get_model("dall-e-2").max_image_bytes
    for image in (noise, Image.fromarray(noise)):
        with pytest.raises(ValidationError) as info:
            build_request("dall-e-2", "edit", prompt="x", images=image)
        [problem] = info.value.problems
        encoded = int(problem.message.split(" image is ")[1].split(" bytes")[0].replace(",", ""))
        assert encoded > limit and problem.param == "images[0]"
        assert f"up to {limit:,} bytes; downscale it (e.g. to " in problem.message
        assert "1024x1024" in problem.message
    smaller = build_request("dall-e-2", "edit", prompt="x", images=noise[:900, :900])
    assert len(smaller.files[0].content) <= limit
