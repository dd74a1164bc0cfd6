"""Validation against the catalog AND against a table transcribed by hand from OpenAI's API
reference (https://platform.openai.com/docs/api-reference/images).

The hand table (``EXPECTED``) is independent of ``models.json``: a wrong catalog entry fails
``test_catalog_matches_models_md`` even when validation agrees with the catalog.
"""

from __future__ import annotations

import datetime
import io
import string
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

import gptimage_widgets as giw
from gptimage_widgets.catalog import get_model, list_models, register_model, unregister_model
from gptimage_widgets.errors import Problem, ValidationError
from gptimage_widgets.validation import check, parse_size, size_problems, validate

settings.register_profile("validation-fuzz", max_examples=300, deadline=None)

# ------------------------------------------------------------- the API reference, by hand

GPT2_PRESETS = {
    "1024x1024", "1024x1536", "1536x1024", "2048x2048", "2048x1152", "1152x2048",
    "3840x2160", "2160x3840",
}  # fmt: skip
GPT1_SIZES = {"auto", "1024x1024", "1536x1024", "1024x1536"}
OUTPUT_FORMATS = {"png", "jpeg", "webp"}
MODERATION = {"auto", "low"}

_GPT25: dict[str, Any] = {
    "operations": {"generate", "edit"},
    "prompt_max_chars": 32000,
    "n": (1, 10),
    "size": GPT2_PRESETS | {"auto"},
    "custom_size": True,
    "quality": {"low", "medium", "high", "xhigh", "max", "auto"},
    "background": {"auto", "opaque", "transparent"},
    "output_format": OUTPUT_FORMATS,
    "output_compression": (0, 100),
    "moderation": MODERATION,
    "input_fidelity": None,
    "style": None,
    "response_format": None,
    "partial_images": (0, 3),
    "max_reference_images": 16,
    "mask": True,
    "complexity": None,
}
_GPT26: dict[str, Any] = {**_GPT25, "complexity": {"low", "medium", "high"}}
_GPT1: dict[str, Any] = {
    **_GPT25,
    "size": GPT1_SIZES,
    "custom_size": False,
    "quality": {"low", "medium", "high", "auto"},
    "input_fidelity": {"high", "low"},
}
EXPECTED: dict[str, dict[str, Any]] = {
    "gpt-image-2.6-flare": _GPT26,
    "gpt-image-2.6-sunburst": _GPT26,
    "gpt-image-2.5-flare": _GPT25,
    "gpt-image-2.5-sunburst": _GPT25,
    "gpt-image-2": {
        **_GPT25,
        "quality": {"low", "medium", "high", "auto"},
        "background": {"auto", "opaque"},  # note 1: transparent rejected by default
    },
    "gpt-image-1.5": _GPT1,
    "gpt-image-1": _GPT1,
    "gpt-image-1-mini": {**_GPT1, "input_fidelity": None},
    "chatgpt-image-latest": _GPT1,
    "dall-e-3": {
        "operations": {"generate"},
        "prompt_max_chars": 4000,
        "n": (1, 1),
        "size": {"1024x1024", "1792x1024", "1024x1792"},
        "custom_size": False,
        "quality": {"standard", "hd"},
        "background": None,
        "output_format": None,
        "output_compression": None,
        "moderation": None,
        "input_fidelity": None,
        "style": {"vivid", "natural"},
        "response_format": {"url", "b64_json"},
        "partial_images": None,
        "max_reference_images": 0,
        "mask": False,
        "complexity": None,
    },
    "dall-e-2": {
        "operations": {"generate", "edit", "variation"},
        "prompt_max_chars": 1000,
        "n": (1, 10),
        "size": {"256x256", "512x512", "1024x1024"},
        "custom_size": False,
        "quality": {"standard"},
        "background": None,
        "output_format": None,
        "output_compression": None,
        "moderation": None,
        "input_fidelity": None,
        "style": None,
        "response_format": {"url", "b64_json"},
        "partial_images": None,
        "max_reference_images": 1,
        "mask": True,
        "complexity": None,
    },
}
TABLE_PARAMS = [
    "n", "size", "quality", "background", "output_format", "output_compression",
    "moderation", "input_fidelity", "style", "response_format", "partial_images", "complexity",
]  # fmt: skip


def catalog_allowed(model: str, name: str) -> Any:
    """What the catalog allows for ``name`` in the hand table's shape (None: not accepted)."""
    spec = get_model(model)
    p = spec.params.get(name)
    if p is None:
        return None
    if p.kind == "int":
        return (p.minimum, p.maximum)
    return set(p.choices)


# --------------------------------------------------------------------------- helpers


def image(width: int = 64, height: int = 64, channels: int = 3) -> np.ndarray:
    return np.zeros((height, width, channels), np.uint8)


def png_bytes(width: int = 64, height: int = 64, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (width, height)).save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(width: int = 64, height: int = 64) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height)).save(buf, format="JPEG")
    return buf.getvalue()


def inputs_for(operation: str) -> dict[str, Any]:
    """The minimal valid prompt/images for ``operation`` (square, so dall-e-2 is happy)."""
    if operation == "generate":
        return {"prompt": "a lighthouse at dusk"}
    if operation == "edit":
        return {"prompt": "add a boat", "images": [image()]}
    return {"images": [image()]}


def companions(name: str, value: Any) -> dict[str, Any]:
    """Params a value needs beside it to be valid on its own terms."""
    if name == "output_compression":
        return {"output_format": "jpeg"}
    return {}


def allowed_values(model: str, operation: str) -> Iterator[tuple[str, Any]]:
    """Every allowed value of every param of ``model`` for ``operation``, from the catalog."""
    for name, p in get_model(model).params_for(operation).items():
        if p.kind == "int" and p.minimum is not None and p.maximum is not None:
            small = p.maximum - p.minimum <= 1000  # n, partial_images, output_compression
            every = range(p.minimum, p.maximum + 1)
            some = (p.minimum, (p.minimum + p.maximum) // 2, p.maximum)
            yield from ((name, v) for v in (every if small else some))
        elif p.kind == "int":
            yield from ((name, v) for v in (0, 1, 2**31 - 1))
        elif p.kind == "str":
            yield name, "user-1234"
        else:
            yield from ((name, v) for v in p.choices)


def model_ops() -> list[tuple[str, str]]:
    return [(m, op) for m in EXPECTED for op in sorted(EXPECTED[m]["operations"])]


def messages(problems: list[Problem]) -> str:
    return "\n".join(p.message for p in problems)


# --------------------------------------------------------------------------- the table


def test_every_catalog_model_is_in_the_hand_table() -> None:
    assert {m.name for m in list_models()} >= set(EXPECTED)


@pytest.mark.parametrize("model", EXPECTED)
def test_catalog_matches_models_md(model: str) -> None:
    spec = get_model(model)
    want = EXPECTED[model]
    assert set(spec.operations) == want["operations"]
    assert spec.prompt_max_chars == want["prompt_max_chars"]
    assert set(spec.size_choices) == want["size"]
    assert (spec.custom_size is not None) == want["custom_size"]
    assert spec.max_reference_images == want["max_reference_images"]
    assert spec.supports_mask == want["mask"]
    assert spec.streaming == (want["partial_images"] is not None)
    for name in TABLE_PARAMS:
        assert catalog_allowed(model, name) == want[name], f"{model}.{name}"


@pytest.mark.parametrize(("model", "operation"), model_ops())
def test_every_allowed_value_is_accepted(model: str, operation: str) -> None:
    seen = 0
    for name, value in allowed_values(model, operation):
        params = {**inputs_for(operation), name: value, **companions(name, value)}
        assert check(model, operation, **params) == [], (name, value)
        seen += 1
    assert seen >= len(get_model(model).params_for(operation))


def rejected_values(model: str, name: str) -> list[Any]:
    """Values of ``name`` that ``model`` must refuse (from the API reference, not the catalog)."""
    want = EXPECTED[model].get(name)
    if name == "user":
        return [1234]
    if isinstance(want, tuple):
        return [want[0] - 1, want[1] + 1, "three", 2.0, True]
    if name == "size" and EXPECTED[model]["custom_size"]:
        return ["1024 x 1024", 1024, "1000x1000", "4096x4096"]
    if name == "size":
        bad = {"1792x1024", "256x256", "auto", "1536x1024"} - want
        return ["1024 x 1024", 1024, *sorted(bad)]
    return ["not-a-choice", 3]


@pytest.mark.parametrize(("model", "operation"), model_ops())
def test_at_least_one_rejected_value_per_param(model: str, operation: str) -> None:
    for name in get_model(model).params_for(operation):
        for value in rejected_values(model, name):
            params = {**inputs_for(operation), name: value}
            problems = check(model, operation, **params)
            assert {p.param for p in problems} == {name}, (name, value, problems)
            assert problems[0].value == value


@pytest.mark.parametrize("model", EXPECTED)
def test_params_the_model_must_not_receive(model: str) -> None:
    plausible = {
        "background": "opaque", "output_format": "png", "output_compression": 50,
        "moderation": "low", "input_fidelity": "high", "style": "vivid",
        "response_format": "b64_json", "partial_images": 1, "complexity": "low",
    }  # fmt: skip
    operation = "edit" if "edit" in EXPECTED[model]["operations"] else "generate"
    for name, value in plausible.items():
        if EXPECTED[model][name] is not None:
            continue
        problems = check(model, operation, **inputs_for(operation), **{name: value})
        assert [p.param for p in problems] == [name]
        assert f"{model} does not accept {name}" in problems[0].message or (
            f"{name} is not accepted by {model}" in problems[0].message
        )


def test_gpt_models_are_told_why_response_format_and_input_fidelity_are_refused() -> None:
    (problem,) = check("gpt-image-2", prompt="x", response_format="url")
    assert "always return base64" in problem.message
    (problem,) = check("gpt-image-2", "edit", prompt="x", images=[image()], input_fidelity="high")
    assert "400" in problem.message and "input_fidelity" in problem.message
    (problem,) = check(
        "gpt-image-1-mini", "edit", prompt="x", images=[image()], input_fidelity="low"
    )
    assert "does not support input_fidelity" in problem.message


def test_param_on_the_wrong_operation() -> None:
    (problem,) = check("gpt-image-2", "edit", prompt="x", images=[image()], moderation="low")
    assert problem.param == "moderation"
    assert "does not apply to edit" in problem.message
    (problem,) = check("dall-e-2", "variation", images=[image()], quality="standard")
    assert "does not apply to variation" in problem.message


def test_transparent_background_rules() -> None:
    (problem,) = check("gpt-image-2", prompt="x", background="transparent")
    assert problem.message.startswith("Transparent background is not supported for gpt-image-2")
    assert "gpt-image-2.5-flare" in problem.message
    for fmt in ("png", "webp"):
        assert check("gpt-image-1.5", prompt="x", background="transparent", output_format=fmt) == []
    (problem,) = check("gpt-image-1.5", prompt="x", background="transparent", output_format="jpeg")
    assert problem.param == "background"
    assert "'png' or 'webp'" in problem.message and "'jpeg'" in problem.message


def test_output_compression_needs_jpeg_or_webp() -> None:
    (problem,) = check("gpt-image-2", prompt="x", output_compression=80)
    assert problem.param == "output_compression"
    assert "'jpeg' or 'webp'" in problem.message
    (problem,) = check("gpt-image-2", prompt="x", output_compression=80, output_format="png")
    assert "'png'" in problem.message
    assert check("gpt-image-2", prompt="x", output_compression=80, output_format="webp") == []


def test_operation_not_supported_by_the_model() -> None:
    (problem,) = check("gpt-image-2", "variation", images=[image()])
    assert problem.param == "operation"
    assert "gpt-image-2 does not support variation" in problem.message
    assert "dall-e-2" in problem.message
    (problem,) = check("dall-e-3", "edit", prompt="x", images=[image()])
    assert "dall-e-3 does not support edit" in problem.message


def test_partial_images_only_on_streaming_models() -> None:
    (problem,) = check("dall-e-3", prompt="x", partial_images=2)
    assert problem.param == "partial_images"
    assert "not accepted by dall-e-3" in problem.message
    assert check("gpt-image-1", prompt="x", partial_images=3) == []


def test_none_means_not_given() -> None:
    assert check("gpt-image-2", prompt="x", quality=None, size=None, n=None, style=None) == []


def test_numpy_integers_are_whole_numbers() -> None:
    assert check("gpt-image-2", prompt="x", n=np.int64(3), partial_images=np.uint8(2)) == []


# --------------------------------------------------------------------------- sizes

CUSTOM_OK = ["3840x1280", "480x1376", "1024x1024", "2448x816", "1280x512", "2880x2880", "3840x2160"]
CUSTOM_BAD = {
    "3856x1280": ["max edge must be <= 3840"],
    "1008x640": ["total pixels must be between 655,360 and 8,294,400, got 645,120"],
    "2464x816": ["aspect ratio must not exceed 3:1"],
    "1000x1000": ["multiples of 16, got 1000x1000"],
    "2896x2880": ["total pixels"],
    "1264x512": ["total pixels"],
}


@pytest.mark.parametrize("model", ["gpt-image-2", "gpt-image-2.5-flare", "gpt-image-2.5-sunburst"])
@pytest.mark.parametrize("size", CUSTOM_OK)
def test_custom_sizes_accepted(model: str, size: str) -> None:
    assert size_problems(model, size) == []
    assert check(model, prompt="x", size=size) == []


@pytest.mark.parametrize("size", CUSTOM_BAD)
def test_custom_sizes_rejected(size: str) -> None:
    problems = size_problems(get_model("gpt-image-2"), size)
    assert problems and all(p.param == "size" for p in problems)
    for fragment in CUSTOM_BAD[size]:
        assert fragment in messages(problems)


def test_custom_size_exact_boundaries() -> None:
    """Pixel bounds are inclusive: exactly 655,360 and 8,294,400 pass, one step beyond fails."""
    assert 1280 * 512 == 655_360 and 2880 * 2880 == 8_294_400
    assert size_problems("gpt-image-2", "1280x512") == []
    assert size_problems("gpt-image-2", "2880x2880") == []
    assert "655,360" in messages(size_problems("gpt-image-2", "1264x512"))  # 647,168 px
    assert "8,294,400" in messages(size_problems("gpt-image-2", "2896x2880"))  # one step up
    # ratio: exactly 3:1 passes, 3.02:1 fails
    assert size_problems("gpt-image-2", "2448x816") == []
    assert size_problems("gpt-image-2", "816x2448") == []
    assert "3:1, got 2464x816" in messages(size_problems("gpt-image-2", "2464x816"))


def test_several_size_rules_reported_together() -> None:
    problems = size_problems("gpt-image-2", "3857x1001")
    text = messages(problems)
    assert len(problems) == 3
    assert "multiples of 16" in text and "max edge" in text and "aspect ratio" in text


def test_multiple_of_16_message_suggests_a_valid_size() -> None:
    (problem,) = size_problems("gpt-image-2", "1000x1000")
    assert problem.message.startswith("Custom width and height must be multiples of 16")
    assert "nearest valid: 992x992" in problem.message
    assert check("gpt-image-2", prompt="x", size="992x992") == []


@pytest.mark.parametrize("model", [m for m in EXPECTED if not EXPECTED[m]["custom_size"]])
def test_custom_sizes_only_on_models_that_take_them(model: str) -> None:
    (problem,) = size_problems(model, "1280x720")
    assert f"not accepted by {model}" in problem.message
    assert "custom sizes: gpt-image-2.6-flare" in problem.message
    assert set(problem.allowed) == EXPECTED[model]["size"]


@pytest.mark.parametrize("bad", [123, None, 1024.0, ("1024", "1024"), b"1024x1024"])
def test_size_of_the_wrong_type_is_a_problem(bad: Any) -> None:
    (problem,) = size_problems("gpt-image-2", bad)
    assert "must be a string like '1024x1536'" in problem.message


def test_parse_size() -> None:
    assert parse_size("1024x1536") == (1024, 1536)
    assert parse_size("auto") is None
    for bad in ["1024X1536", " 1024x1536", "1024x", "0x1024", "01024x1024", "1024*1024", "", 5]:
        with pytest.raises(ValidationError, match="WIDTHxHEIGHT"):
            parse_size(bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- prompt


@pytest.mark.parametrize(
    ("model", "limit"), [("gpt-image-2", 32000), ("dall-e-3", 4000), ("dall-e-2", 1000)]
)
def test_prompt_length_limit(model: str, limit: int) -> None:
    assert check(model, prompt="a" * limit) == []
    (problem,) = check(model, prompt="a" * (limit + 1))
    assert problem.param == "prompt"
    assert f"at most {limit:,}" in problem.message and "shorten it by 1" in problem.message


@pytest.mark.parametrize("prompt", [None, "", "   \n\t"])
def test_prompt_required_for_generate_and_edit(prompt: str | None) -> None:
    for operation in ("generate", "edit"):
        images = [image()] if operation == "edit" else None
        problems = check("gpt-image-2", operation, prompt=prompt, images=images)
        assert [p.param for p in problems] == ["prompt"]


def test_prompt_not_needed_for_variation_and_refused_there() -> None:
    assert check("dall-e-2", "variation", images=[image()]) == []
    (problem,) = check("dall-e-2", "variation", images=[image()], prompt="x")
    assert "variation takes no prompt" in problem.message


def test_prompt_of_the_wrong_type() -> None:
    (problem,) = check("gpt-image-2", prompt=["a", "b"])
    assert "prompt must be a string" in problem.message


# --------------------------------------------------------------------------- images, mask


def test_edit_needs_an_image_and_at_most_the_limit() -> None:
    (problem,) = check("gpt-image-2", "edit", prompt="x")
    assert "edit needs at least one input image" in problem.message
    assert check("gpt-image-2", "edit", prompt="x", images=[image()] * 16) == []
    (problem,) = check("gpt-image-2", "edit", prompt="x", images=[image()] * 17)
    assert "at most 16" in problem.message and "got 17" in problem.message


def test_a_batch_counts_as_several_images() -> None:
    batch = np.zeros((17, 32, 32, 3), np.float32)
    (problem,) = check("gpt-image-2", "edit", prompt="x", images=batch)
    assert "got 17" in problem.message
    assert check("gpt-image-2", "edit", prompt="x", images=batch[:3]) == []


def test_variation_needs_exactly_one_image() -> None:
    (problem,) = check("dall-e-2", "variation", images=[image(), image()])
    assert "exactly one input image, got 2" in problem.message
    (problem,) = check("dall-e-2", "variation")
    assert "got 0" in problem.message


def test_generate_takes_no_images_or_mask() -> None:
    problems = check("gpt-image-2", prompt="x", images=[image()], mask=np.zeros((64, 64), bool))
    assert [p.param for p in problems] == ["images", "mask"]


def test_mask_rules() -> None:
    img, mask = image(64, 48), np.zeros((48, 64), bool)
    assert check("gpt-image-2", "edit", prompt="x", images=[img], mask=mask) == []
    problems = check("gpt-image-2", "edit", prompt="x", mask=mask)
    assert [p.param for p in problems] == ["images", "mask"]
    assert "a mask needs an input image" in problems[1].message
    (problem,) = check(
        "gpt-image-2", "edit", prompt="x", images=[img], mask=np.zeros((32, 32), bool)
    )
    assert problem.param == "mask"
    assert "mask is 32x32 but images[0], the image it applies to, is 64x48" in problem.message


@pytest.mark.parametrize("model", [m for m in EXPECTED if EXPECTED[m]["max_reference_images"] > 1])
def test_a_mask_with_several_images_applies_to_the_first(model: str) -> None:
    first, other, mask = image(64, 48), image(32, 32), np.zeros((48, 64), bool)
    assert check(model, "edit", prompt="x", images=[first, other, other], mask=mask) == []
    assert giw.validation.input_count_problems(model, "edit", 3, has_mask=True) == []
    (problem,) = check(model, "edit", prompt="x", images=[other, first], mask=mask)
    assert problem.param == "mask" and "images[0], the image it applies to, is 32x32" in (
        problem.message
    )


def test_mask_as_png_bytes_is_measured_from_its_header() -> None:
    mask_png = png_bytes(64, 64, "RGBA")
    assert check("gpt-image-1", "edit", prompt="x", images=[png_bytes()], mask=mask_png) == []
    (problem,) = check("gpt-image-1", "edit", prompt="x", images=[png_bytes(80, 64)], mask=mask_png)
    assert "mask is 64x64 but images[0], the image it applies to, is 80x64" in problem.message


def test_dall_e_2_inputs_are_square_pngs() -> None:
    assert check("dall-e-2", "edit", prompt="x", images=[png_bytes(64, 64)]) == []
    (problem,) = check("dall-e-2", "edit", prompt="x", images=[png_bytes(64, 32)])
    assert problem.param == "images[0]" and "needs square images" in problem.message
    (problem,) = check("dall-e-2", "variation", images=[jpeg_bytes(64, 64)])
    assert "is JPEG; dall-e-2 accepts only PNG" in problem.message
    assert check("gpt-image-2", "edit", prompt="x", images=[jpeg_bytes()]) == []


def test_file_byte_limit(tmp_path: Any) -> None:
    data = png_bytes(256, 256)
    path = tmp_path / "in.png"
    path.write_bytes(data)
    spec = register_model(
        {"name": "tiny-upload-model", "base": "gpt-image-2", "max_image_bytes": 200}
    )
    try:
        for item in (data, path, str(path)):
            (problem,) = check(spec, "edit", prompt="x", images=[item])
            assert problem.param == "images[0]"
            assert (
                f"{len(data):,} bytes" in problem.message and "up to 200 bytes" in problem.message
            )
    finally:
        unregister_model("tiny-upload-model")


def test_real_limits_are_50_mib_and_4_mib() -> None:
    assert get_model("gpt-image-2").max_image_bytes == 50 * 1024 * 1024
    assert get_model("dall-e-2").max_image_bytes == 4 * 1024 * 1024


@pytest.mark.parametrize(
    "bad",
    [b"not an image at all", "/definitely/missing.png", np.zeros((4, 4, 5)), object(), 42],
)
def test_bad_image_inputs_become_problems(bad: Any) -> None:
    problems = check("gpt-image-2", "edit", prompt="x", images=[image(), bad])
    assert [p.param for p in problems] == ["images[1]"]
    assert not isinstance(problems[0].value, np.ndarray)


def test_a_directory_is_not_an_image(tmp_path: Any) -> None:
    (problem,) = check("gpt-image-2", "edit", prompt="x", images=[tmp_path])
    assert "is a directory" in problem.message
    problems = check("gpt-image-2", "edit", prompt="x", images=[image()], mask=str(tmp_path))
    assert [p.param for p in problems] == ["mask"]


def test_a_truncated_png_is_a_problem() -> None:
    (problem,) = check("gpt-image-2", "edit", prompt="x", images=[png_bytes()[:30]])
    assert problem.param == "images[0]"


# --------------------------------------------------------------------------- all together


def test_every_problem_is_reported_together() -> None:
    with pytest.raises(ValidationError) as info:
        validate(
            "dall-e-3",
            prompt="",
            n=2,
            size="1000x1000",
            quality="ultra",
            style="vivd",
            background="transparent",
        )
    assert sorted(info.value.params) == ["background", "n", "prompt", "quality", "size", "style"]
    assert str(info.value).startswith("6 problems:")
    assert "did you mean 'vivid'?" in str(info.value)


def test_validate_returns_none_and_takes_keywords() -> None:
    assert validate(model="gpt-image-2", operation="generate", prompt="x") is None
    assert giw.validate("gpt-image-2-2026-04-21", prompt="x") is None
    assert validate(get_model("dall-e-2"), "variation", images=image()) is None


def test_did_you_mean() -> None:
    (problem,) = check("gpt-image-2", prompt="x", qualty="high")
    assert "unknown parameter 'qualty' (did you mean 'quality'?)" in problem.message
    (problem,) = check("gpt-image-2", prompt="x", quality="HIGH")
    assert "did you mean 'high'?" in problem.message
    (problem,) = check("gpt-image-2", "edits", prompt="x")
    assert problem.param == "operation" and "did you mean 'edit'?" in problem.message
    (problem,) = check("gpt-image2", prompt="x")
    assert problem.param == "model" and "did you mean 'gpt-image-2'?" in problem.message
    assert "dall-e-2" in problem.message  # lists the known names


def test_enum_value_of_the_wrong_type() -> None:
    (problem,) = check("gpt-image-2", prompt="x", quality=3)
    assert "quality must be a string" in problem.message and "(int)" in problem.message


@pytest.mark.parametrize("bad", ["three", 2.5, True, [1], float("nan")])
def test_n_of_the_wrong_type(bad: Any) -> None:
    (problem,) = check("gpt-image-2", prompt="x", n=bad)
    assert problem.param == "n" and "must be a whole number from 1 to 10" in problem.message


def test_dall_e_3_takes_one_image_only() -> None:
    (problem,) = check("dall-e-3", prompt="x", n=2)
    assert problem.message == "n 2 is not accepted by dall-e-3; use only 1"


def test_custom_edges_follow_the_pixel_floor_not_an_edge_minimum() -> None:
    for model in [m for m in EXPECTED if EXPECTED[m]["custom_size"]]:
        assert size_problems(model, "480x1376") == []  # 660,480 px
        (problem,) = size_problems(model, "1008x640")  # 645,120 px
        assert "total pixels must be between 655,360 and 8,294,400" in problem.message


@pytest.mark.parametrize("model", EXPECTED)
def test_complexity_is_taken_by_the_2_6_models_only(model: str) -> None:
    problems = check(model, prompt="x", complexity="low")
    if EXPECTED[model]["complexity"] is not None:
        assert problems == []
        (problem,) = check(model, prompt="x", complexity="extreme")
        assert problem.param == "complexity" and "'low', 'medium', 'high'" in problem.message
    else:
        (problem,) = problems
        assert problem.param == "complexity"
        assert "models that take it: gpt-image-2.6-flare" in problem.message


def test_every_catalog_model_refuses_complexity_unless_it_declares_it() -> None:
    for spec in list_models():
        problems = check(spec, prompt="x", complexity="high") if spec.supports("generate") else []
        assert bool(problems) == ("complexity" not in spec.params), spec.name
        assert all(p.param == "complexity" for p in problems)


@pytest.mark.parametrize("model", EXPECTED)
def test_seed_is_refused_with_the_reason(model: str) -> None:
    operation = "edit" if "edit" in EXPECTED[model]["operations"] else "generate"
    (problem,) = check(model, operation, **inputs_for(operation), seed=42)
    assert problem.param == "seed"
    assert "OpenAI's image API has no seed parameter" in problem.message


def test_shut_down_model_is_not_a_validation_error() -> None:
    assert check("gpt-image-1", prompt="x") == []
    assert check("dall-e-3", prompt="x") == []
    assert "Shut down" in (get_model("gpt-image-1").status_message() or "")


# --------------------------------------------------------------------------- registered models


def test_a_registered_model_is_validated_by_its_own_rules() -> None:
    register_model(
        {
            "name": "acme-image-9",
            "base": "gpt-image-2",
            "supports_transparent": True,
            "prompt_max_chars": 10,
            "params": {"quality": {"choices": ["draft", "final"], "default": "draft"}},
        }
    )
    try:
        assert check("acme-image-9", prompt="x", quality="final", background="transparent") == []
        problems = check("acme-image-9", prompt="x" * 11, quality="high")
        assert [p.param for p in problems] == ["quality", "prompt"]
        assert "use one of 'draft', 'final'" in problems[0].message
    finally:
        unregister_model("acme-image-9")
    assert check("acme-image-9", prompt="x")[0].param == "model"


def test_flipping_supports_transparent_on_gpt_image_2() -> None:
    entry = get_model("gpt-image-2").to_dict() | {"supports_transparent": True}
    register_model(entry, replace=True)
    try:
        assert check("gpt-image-2", prompt="x", background="transparent") == []
    finally:
        unregister_model("gpt-image-2")
    assert check("gpt-image-2", prompt="x", background="transparent")[0].param == "background"


# --------------------------------------------------------------------------- never crashes

NAMES = [
    "prompt", "images", "mask", "n", "size", "quality", "background", "output_format",
    "output_compression", "moderation", "input_fidelity", "style", "response_format",
    "partial_images", "seed", "user",
]  # fmt: skip
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.binary(max_size=40)
    | st.sampled_from(["auto", "1024x1024", "png", "transparent", "jpeg", "high", "url"])
    | st.builds(lambda w, h: f"{w}x{h}", st.integers(0, 5000), st.integers(0, 5000))
)
arrays = hnp.arrays(
    dtype=st.sampled_from([np.uint8, np.float32, np.float64, np.bool_, np.int64, np.complex64]),
    shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5),
)
values = st.recursive(scalars | arrays, lambda inner: st.lists(inner, max_size=3), max_leaves=6)
identifiers = st.text(string.ascii_letters + "_", min_size=1, max_size=12).filter(
    lambda s: s not in ("model", "operation")
)
param_dicts = st.dictionaries(st.sampled_from(NAMES) | identifiers, values, max_size=6)
models = st.sampled_from([m.name for m in list_models()] + ["gpt-image-2-2026-04-21"]) | st.one_of(
    st.text(max_size=12), st.integers(), st.none()
)
operations = st.sampled_from(["generate", "edit", "variation"]) | st.text(max_size=10) | st.none()


@given(model=models, operation=operations, params=param_dicts)
@settings(settings.get_profile("validation-fuzz"), suppress_health_check=[HealthCheck.too_slow])
def test_validate_raises_nothing_but_validation_error(
    model: Any, operation: Any, params: dict[str, Any]
) -> None:
    problems = check(model, operation, **params)
    assert all(isinstance(p, Problem) and p.message for p in problems)
    assert all(
        not isinstance(p.value, np.ndarray) for p in problems if p.param.startswith("images")
    )
    try:
        validate(model, operation, **params)
    except ValidationError as exc:
        # compared by what they say: Problem.value may be nan or an array (no plain ==)
        said = [(p.param, p.message, p.allowed) for p in exc.problems]
        assert said == [(p.param, p.message, p.allowed) for p in problems]
    else:
        assert problems == []


@pytest.mark.parametrize("model", ["gpt-image-2", "dall-e-2", "dall-e-3"])
@pytest.mark.parametrize("count", [0, 1, 2, 17])
@pytest.mark.parametrize("with_mask", [False, True])
def test_input_count_problems_are_the_ones_check_finds(model, count, with_mask) -> None:
    """The form's count-only rules are check's own, message for message."""
    from gptimage_widgets.validation import check, input_count_problems

    image = np.zeros((64, 64, 3), np.uint8)
    mask = np.zeros((64, 64), bool) if with_mask else None
    for operation in ("edit", "variation"):
        real = check(model, operation, prompt="x", images=[image] * count, mask=mask)
        counted = input_count_problems(model, operation, count, has_mask=with_mask)
        about_inputs = [p.message for p in real if p.param in ("images", "mask")]
        assert [p.message for p in counted] == about_inputs


def test_require_operation_is_the_one_operation_check() -> None:
    from gptimage_widgets.validation import require_operation

    assert require_operation("edit") == "edit"
    assert require_operation("auto", also=("auto",)) == "auto"
    with pytest.raises(ValidationError, match=r"'edti' is unknown \(did you mean 'edit'\?\)"):
        require_operation("edti")
    with pytest.raises(ValidationError, match="'auto'"):
        require_operation("auto")


def test_require_int_is_the_one_whole_number_setting_check() -> None:
    from gptimage_widgets.validation import require_int

    assert require_int(3, "max_connections", minimum=1) == 3
    assert require_int(np.int64(0), "max_retries", minimum=0) == 0
    for bad in (0, True, 1.5, "2", None):
        with pytest.raises(ValidationError, match="max_connections must be an integer >= 1, got"):
            require_int(bad, "max_connections", minimum=1)
    with pytest.raises(ValidationError, match=r"an integer >= 1024 \(bytes\), got 10$") as caught:
        require_int(10, "max_response_bytes", minimum=1024, unit="bytes")
    assert caught.value.problems[0].param == "max_response_bytes"


# --------------------------------------------------------------------------- retired models


@pytest.fixture
def on_day(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Set the catalog's clock (``gptimage_widgets.catalog.lifecycle.today``)."""
    from gptimage_widgets.catalog import lifecycle

    def set_day(day: datetime.date) -> None:
        monkeypatch.setattr(lifecycle, "today", lambda: day)

    return set_day


def test_a_retired_model_is_a_problem_only_where_it_is_retired(on_day: Any) -> None:
    on_day(datetime.date(2026, 12, 2))
    (problem,) = check("gpt-image-1.5", prompt="x", backend="openai")
    assert problem.param == "model" and problem.value == "gpt-image-1.5"
    assert "shut down at OpenAI on 2026-12-01" in problem.message
    assert "model='gpt-image-2.6-flare' or model='gpt-image-2.6-sunburst'" in problem.message
    assert "allow_retired=True" in problem.message
    assert problem.allowed == ("gpt-image-2.6-flare", "gpt-image-2.6-sunburst")
    assert check("gpt-image-1.5", prompt="x", backend="openai", allow_retired=True) == []
    for backend in ("azure", "compatible", "offline", None):
        assert check("gpt-image-1.5", prompt="x", backend=backend) == [], backend
    with pytest.raises(ValidationError, match="2026-12-01"):
        validate("gpt-image-1.5-2025-12-16", prompt="x", backend="openai")


def test_azure_retires_on_its_own_date(on_day: Any) -> None:
    on_day(datetime.date(2026, 12, 16))
    (problem,) = check("gpt-image-1-mini", prompt="x", backend="azure")
    assert "shut down at Azure OpenAI on 2026-12-16" in problem.message
    on_day(datetime.date(2026, 11, 30))
    assert check("gpt-image-1-mini", prompt="x", backend="openai") == []  # deprecated only
