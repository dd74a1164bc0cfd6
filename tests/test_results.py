"""ImageResult: arrays, sequence protocol, files, and the inline gallery."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from image_helpers import noise
from PIL import Image

from gptimage_widgets import ImageResult, ValidationError
from gptimage_widgets.results import THUMBNAIL_EDGE

FAKE_KEY = "sk-test-FAKE-abc123"


def make_result(*images: np.ndarray, **meta: object) -> ImageResult:
    meta.setdefault("model", "gpt-image-2")
    return ImageResult(list(images), **meta)  # type: ignore[arg-type]


def thumbnails(html_text: str) -> list[Image.Image]:
    found = re.findall(r'src="data:image/(?:png|jpeg);base64,([A-Za-z0-9+/=]+)"', html_text)
    return [Image.open(io.BytesIO(base64.b64decode(data))) for data in found]


# ---------------------------------------------------------------------- arrays


def test_asarray_stacks_images() -> None:
    a, b = noise(16, 24, seed=1), noise(16, 24, seed=2)
    stacked = np.asarray(make_result(a, b))
    assert stacked.shape == (2, 16, 24, 3) and stacked.dtype == np.uint8
    np.testing.assert_array_equal(stacked[0], a)
    np.testing.assert_array_equal(stacked[1], b)


@settings(max_examples=25, deadline=None)
@given(
    batch=hnp.arrays(
        np.uint8,
        st.tuples(
            st.integers(1, 4), st.integers(1, 12), st.integers(1, 12), st.sampled_from([3, 4])
        ),
    )
)
def test_asarray_round_trips_any_batch(batch: np.ndarray) -> None:
    result = ImageResult(list(batch))
    np.testing.assert_array_equal(np.asarray(result), batch)
    assert len(result) == batch.shape[0]


def test_asarray_dtype_argument() -> None:
    result = make_result(noise(4, 4))
    as_float = np.asarray(result, dtype=np.float64)
    assert as_float.dtype == np.float64
    np.testing.assert_array_equal(as_float[0], result.images[0].astype(np.float64))


def test_asarray_copy_false_single_image_is_a_view() -> None:
    image = noise(8, 8)
    view = np.asarray(make_result(image), copy=False)
    assert view.shape == (1, 8, 8, 3) and np.shares_memory(view, image)


def test_asarray_copy_false_several_images_refuses() -> None:
    with pytest.raises(ValueError, match="needs a copy"):
        np.asarray(make_result(noise(4, 4), noise(4, 4)), copy=False)


def test_asarray_copy_true_copies() -> None:
    image = noise(8, 8)
    copied = np.array(make_result(image), copy=True)
    assert not np.shares_memory(copied, image)


def test_different_sizes_raise_with_advice() -> None:
    result = make_result(noise(16, 16), noise(16, 20))
    with pytest.raises(ValidationError) as info:
        np.asarray(result)
    message = str(info.value)
    assert "sizes" in message and "result.images" in message and "resize" in message
    assert "16x16x3" in message and "20x16x3" in message


def test_different_channels_raise_naming_channels() -> None:
    with pytest.raises(ValidationError, match="channel counts"):
        np.asarray(make_result(noise(8, 8, 3), noise(8, 8, 4)))


def test_empty_result_is_an_empty_batch() -> None:
    assert np.asarray(ImageResult()).shape == (0, 0, 0, 3)
    assert len(ImageResult()) == 0


@pytest.mark.parametrize(
    "bad",
    [noise(4, 4)[..., 0], noise(4, 4).astype(np.float32), noise(4, 4, 2), "image.png"],
)
def test_constructor_rejects_non_images(bad: object) -> None:
    with pytest.raises(ValidationError, match=r"images\[1\].*from_arrays"):
        ImageResult([noise(4, 4), bad])  # type: ignore[list-item]


def test_sequence_protocol() -> None:
    images = [noise(4, 5, seed=i) for i in range(3)]
    result = make_result(*images)
    assert len(result) == 3
    assert result[1] is images[1]
    assert result[-1] is images[2]
    assert result[0:2] == images[0:2]
    assert list(result) == images
    assert result.sizes == [(5, 4)] * 3


def test_from_arrays_converts_float_batch_and_gray() -> None:
    batch = np.linspace(0, 1, 2 * 3 * 4 * 3, dtype=np.float32).reshape(2, 3, 4, 3)
    result = ImageResult.from_arrays(batch, model="dall-e-2", cost_usd=0.04)
    assert len(result) == 2 and result.model == "dall-e-2" and result.cost_usd == 0.04
    assert all(im.dtype == np.uint8 and im.shape == (3, 4, 3) for im in result)
    np.testing.assert_allclose(result.images[0] / 255, batch[0], atol=1 / 255)
    gray = ImageResult.from_arrays(np.full((5, 6), 200, np.uint8))
    assert gray[0].shape == (5, 6, 3) and (gray[0] == 200).all()


def test_to_float_is_a_comfy_batch() -> None:
    a, b = noise(6, 7, 4, seed=1), noise(6, 7, 4, seed=2)
    batch = make_result(a, b).to_float()
    assert batch.shape == (2, 6, 7, 4) and batch.dtype == np.float32
    assert batch.min() >= 0.0 and batch.max() <= 1.0
    np.testing.assert_allclose(batch[1], b / 255, rtol=1e-6)


def test_to_float_mixed_sizes_raises() -> None:
    with pytest.raises(ValidationError, match=r"result\.images"):
        make_result(noise(6, 7), noise(7, 7)).to_float()


# ---------------------------------------------------------------------- files


def read_pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img)


def test_save_into_folder_is_pixel_exact(tmp_path: Path) -> None:
    images = [noise(10, 12, 3, seed=1), noise(9, 11, 4, seed=2)]
    paths = make_result(*images).save(tmp_path / "out")
    assert paths == [tmp_path / "out" / "image-0.png", tmp_path / "out" / "image-1.png"]
    for path, image in zip(paths, images, strict=True):
        np.testing.assert_array_equal(read_pixels(path), image)


def test_save_single_image_to_file_path(tmp_path: Path) -> None:
    image = noise(10, 12)
    target = tmp_path / "sub" / "cat.png"
    assert make_result(image).save(target) == [target]
    np.testing.assert_array_equal(read_pixels(target), image)


def test_save_several_images_to_file_path_numbers_them(tmp_path: Path) -> None:
    paths = make_result(noise(4, 4), noise(4, 4), noise(4, 4)).save(str(tmp_path / "cat.png"))
    assert [p.name for p in paths] == ["cat-0.png", "cat-1.png", "cat-2.png"]
    assert all(p.is_file() for p in paths)


def test_save_format_from_suffix_and_argument(tmp_path: Path) -> None:
    rgba = noise(8, 8, 4)
    (jpg,) = make_result(rgba).save(tmp_path / "x.jpg")
    assert jpg.read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG, alpha dropped
    (webp,) = make_result(rgba).save(tmp_path / "folder", format="webp")
    assert webp.name == "image-0.webp" and webp.read_bytes()[8:12] == b"WEBP"


def test_save_bad_format_raises(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="'png', 'jpeg' or 'webp'"):
        make_result(noise(4, 4)).save(tmp_path, format="bmp")


# ---------------------------------------------------------------------- display


def test_repr_html_small_thumbnails_for_4k() -> None:
    result = make_result(noise(2160, 3840), noise(2160, 3840, seed=3), cost_usd=0.5)
    html_text = result._repr_html_()
    assert len(html_text) < 150_000  # two full 4K PNGs would be ~50 MB of base64
    thumbs = thumbnails(html_text)
    assert len(thumbs) == 2
    assert all(max(t.size) <= THUMBNAIL_EDGE for t in thumbs)
    assert thumbs[0].size == (256, 144)
    assert "3840x2160" in html_text and "gpt-image-2" in html_text and "$0.5000" in html_text


def test_repr_html_keeps_alpha_as_png() -> None:
    html_text = make_result(noise(300, 100, 4))._repr_html_()
    (thumb,) = thumbnails(html_text)
    assert thumb.format == "PNG" and thumb.mode == "RGBA" and thumb.size == (85, 256)


def test_repr_html_escapes_all_text() -> None:
    evil = '<script>alert("x")</script>'
    result = make_result(
        noise(8, 8),
        model="<b>model</b>",
        revised_prompts=[evil],
        request={"prompt": f"a cat {evil} & dog"},
        cost_usd=0.01,
        cost_is_estimate=True,
    )
    html_text = result._repr_html_()
    assert "<script>" not in html_text and "<b>model" not in html_text
    assert "&lt;script&gt;" in html_text and "&amp; dog" in html_text
    assert "revised prompt" in html_text and "~$0.0100 (estimate)" in html_text


def test_repr_mimebundle() -> None:
    result = make_result(noise(8, 8))
    bundle = result._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/plain"}
    assert bundle["text/html"] == result._repr_html_()
    assert bundle["text/plain"] == repr(result)


def test_repr_is_concise_and_has_no_secrets_or_pixels() -> None:
    result = make_result(
        noise(512, 512),
        request={"prompt": "p", "api_key": FAKE_KEY},
        usage={"input_tokens": 1},
        request_id="req_123",
        entry_id="20261122-230712-123456-1a2b3c4d",
    )
    text = repr(result)
    assert FAKE_KEY not in text and "array(" not in text and len(text) < 250
    assert text.startswith("ImageResult(model='gpt-image-2'")
    assert "n=1" in text and "512x512" in text and "req_123" in text
    assert "cost unknown" in text
