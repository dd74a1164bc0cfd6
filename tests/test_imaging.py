"""imaging: every image/mask input form <-> arrays and upload bytes."""

from __future__ import annotations

import base64
import binascii
import io
import struct
import threading
import tracemalloc
import types
import warnings
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from image_helpers import png
from PIL import Image, ImageDraw, TiffImagePlugin

from gptimage_widgets import imaging, masks
from gptimage_widgets.errors import ResponseDecodeError, ValidationError
from gptimage_widgets.imaging import (
    decode_b64_image,
    decode_image,
    downscale_to_budget,
    encode_image,
    image_size,
    mask_to_array,
    mask_to_openai_png,
    sniff_format,
    to_array,
    to_arrays,
    to_comfy_batch,
    to_pil,
)


def b64_png(image) -> str:
    """``image`` as base64 PNG text, as in a ``b64_json`` response."""
    return base64.b64encode(encode_image(image)).decode("ascii")


settings.register_profile(
    "imaging", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
IMAGING = settings.get_profile("imaging")

RNG = np.random.default_rng(1234)
RGB = RNG.integers(0, 256, size=(9, 13, 3), dtype=np.uint8)
RGBA = RNG.integers(0, 256, size=(9, 13, 4), dtype=np.uint8)
GRAY = RNG.integers(0, 256, size=(9, 13), dtype=np.uint8)
MASK = np.zeros((9, 13), dtype=bool)
MASK[2:6, 3:10] = True
MASK[8, 0] = True


def expected_rgb(arr: np.ndarray) -> np.ndarray:
    return np.repeat(arr[:, :, None], 3, axis=2) if arr.ndim == 2 else arr


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("source", [RGB, RGBA, GRAY], ids=["rgb", "rgba", "gray"])
@pytest.mark.parametrize("form", ["array", "png", "pil", "path", "pathlib", "b64", "data-url"])
def test_uint8_round_trips_exactly_through_every_form(source, form, tmp_path):
    encoded = encode_image(source)
    if form == "array":
        value = source
    elif form == "png":
        value = encoded
    elif form == "pil":
        value = Image.fromarray(source)
    elif form in ("path", "pathlib"):
        (tmp_path / "x.png").write_bytes(encoded)
        value = str(tmp_path / "x.png") if form == "path" else tmp_path / "x.png"
    elif form == "b64":
        value = decode_b64_image(b64_png(source))
    else:
        value = "data:image/png;base64," + base64.b64encode(encoded).decode()
    out = to_array(value)
    assert out.dtype == np.uint8 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, expected_rgb(source))


def test_bytearray_and_memoryview_are_accepted():
    data = encode_image(RGBA)
    np.testing.assert_array_equal(to_array(bytearray(data)), RGBA)
    np.testing.assert_array_equal(to_array(memoryview(data)), RGBA)
    np.testing.assert_array_equal(decode_image(memoryview(data)), RGBA)


def test_uint8_array_in_final_layout_is_returned_without_copy():
    assert to_array(RGB) is RGB
    view = RGB[:, ::-1]  # not contiguous -> contiguous copy
    out = to_array(view)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, view)


def test_opaque_rgba_keeps_its_alpha_channel_and_gray_becomes_rgb():
    opaque = RGBA.copy()
    opaque[:, :, 3] = 255
    assert to_array(opaque).shape == (9, 13, 4)
    assert decode_image(encode_image(opaque)).shape == (9, 13, 4)
    assert to_array(GRAY).shape == (9, 13, 3)
    assert to_array(GRAY[:, :, None]).shape == (9, 13, 3)


def test_float_to_uint8_rounds_half_to_even_and_k_over_255_is_exact():
    levels = np.arange(256, dtype=np.float64) / 255
    for dtype in (np.float16, np.float32, np.float64):
        arr = np.tile(levels.astype(dtype), (2, 1))
        if dtype is np.float16:  # float16 cannot hold every k/255 exactly; only check rounding
            expected = np.rint(arr.astype(np.float32) * 255).astype(np.uint8)
        else:
            expected = np.tile(np.arange(256, dtype=np.uint8), (2, 1))
        np.testing.assert_array_equal(to_array(arr)[:, :, 0], expected)
    halves = np.array([[0.5 / 255, 1.5 / 255, 127.5 / 255, 0.5]])  # x * 255 = .5 cases
    np.testing.assert_array_equal(to_array(halves)[0, :, 0], [0, 2, 128, 128])


def test_floats_within_half_a_step_outside_unit_range_are_clipped():
    arr = np.array([[-0.001, 1.001]], dtype=np.float32)
    np.testing.assert_array_equal(to_array(arr)[0, :, 0], [0, 255])


def test_bool_and_wide_integer_images():
    np.testing.assert_array_equal(to_array(np.eye(3, dtype=bool))[:, :, 0], np.eye(3) * 255)
    ints = RGB.astype(np.int64)
    np.testing.assert_array_equal(to_array(ints), RGB)


def test_objects_with_array_interface_are_read_as_arrays():
    class TensorLike:
        def __array__(self, dtype=None, copy=None):
            return RGB.astype(np.float32) / 255

    np.testing.assert_array_equal(to_array(TensorLike()), RGB)


# ----------------------------------------------------------------------------- PIL modes


def test_pil_gray_palette_and_alpha_modes():
    gray = Image.fromarray(GRAY)
    np.testing.assert_array_equal(to_array(gray), expected_rgb(GRAY))
    la = gray.copy()
    la.putalpha(Image.fromarray(RGBA[:, :, 3]))
    out = to_array(la)
    np.testing.assert_array_equal(out[:, :, 0], GRAY)
    np.testing.assert_array_equal(out[:, :, 3], RGBA[:, :, 3])

    palette = Image.fromarray(RGB).quantize(8)
    assert to_array(palette).shape == (9, 13, 3)
    palette.info["transparency"] = 0
    with_alpha = to_array(palette)
    assert with_alpha.shape == (9, 13, 4)
    np.testing.assert_array_equal(with_alpha[:, :, 3] == 0, np.asarray(palette) == 0)
    assert to_array(Image.fromarray(np.eye(4, dtype=bool))).shape == (4, 4, 3)


def test_pil_sixteen_bit_is_scaled_to_eight_bit():
    values = (np.arange(256, dtype=np.uint16) * 257).reshape(16, 16)
    img = Image.fromarray(values)
    assert img.mode.startswith("I;16")
    np.testing.assert_array_equal(to_array(img)[:, :, 0], np.arange(256).reshape(16, 16))
    np.testing.assert_array_equal(to_array(png(values))[:, :, 0].ravel(), np.arange(256))


def test_pil_cmyk_and_ycbcr_convert_like_pillow():
    cmyk = Image.fromarray(RGB).convert("CMYK")
    np.testing.assert_array_equal(to_array(cmyk), np.asarray(cmyk.convert("RGB")))
    ycc = Image.fromarray(RGB).convert("YCbCr")
    np.testing.assert_array_equal(to_array(ycc), np.asarray(ycc.convert("RGB")))
    assert to_pil(cmyk).mode == "RGB"


def test_jpeg_webp_gif_inputs_decode_to_the_right_size():
    smooth = np.tile(np.linspace(0, 255, 32, dtype=np.uint8), (24, 1))
    photo = np.dstack([smooth, smooth[:, ::-1], smooth])
    for fmt in ("jpeg", "webp"):
        data = encode_image(photo, fmt, quality=95)
        assert sniff_format(data) == fmt
        out = to_array(data)
        assert out.shape == (24, 32, 3)
        assert np.abs(out.astype(int) - photo).mean() < 3  # lossy but close
    gif = io.BytesIO()
    Image.fromarray(GRAY).save(gif, "GIF")
    np.testing.assert_array_equal(to_array(gif.getvalue()), expected_rgb(GRAY))
    assert encode_image(RGBA, "webp")[8:12] == b"WEBP"


def test_exif_orientation_turns_files_upright_and_image_size_agrees():
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways; viewers rotate 90 degrees clockwise
    buffer = io.BytesIO()
    Image.fromarray(RGB).save(buffer, "PNG", exif=exif)
    data = buffer.getvalue()
    np.testing.assert_array_equal(to_array(data), np.rot90(RGB, k=-1))
    assert image_size(data) == (9, 13)
    assert mask_to_array(data).shape == (13, 9)
    assert image_size(Image.open(io.BytesIO(data))) == (13, 9)  # PIL objects: as they are


# ----------------------------------------------------------------------------- several images


def test_batches_results_and_lists_become_lists_of_arrays():
    batch = np.stack([RGB, RGB[::-1]]).astype(np.float32) / 255
    arrays = to_arrays(batch)
    assert len(arrays) == 2
    np.testing.assert_array_equal(arrays[1], RGB[::-1])
    np.testing.assert_array_equal(to_array(batch[:1]), RGB)
    with pytest.raises(ValidationError, match=r"batch of 2 images; use to_arrays"):
        to_array(batch)

    result = types.SimpleNamespace(images=[RGB, RGBA])
    assert [a.shape for a in to_arrays(result)] == [(9, 13, 3), (9, 13, 4)]
    with pytest.raises(ValidationError, match=r"holds 2 images; use to_arrays"):
        to_array(result)
    np.testing.assert_array_equal(to_array(types.SimpleNamespace(images=[RGBA])), RGBA)
    assert len(to_arrays([RGB, batch, encode_image(GRAY)])) == 4
    assert to_arrays([]) == []


def test_comfy_batch_round_trips_and_rejects_mixed_shapes():
    batch = to_comfy_batch([RGB, RGB[::-1]])
    assert batch.shape == (2, 9, 13, 3) and batch.dtype == np.float32
    assert batch.min() >= 0.0 and batch.max() <= 1.0
    np.testing.assert_array_equal(np.stack(to_arrays(batch)), np.stack([RGB, RGB[::-1]]))
    with pytest.raises(ValidationError, match=r"one shape"):
        to_comfy_batch([RGB, RGBA])
    with pytest.raises(ValidationError, match=r"no images"):
        to_comfy_batch([])


# ----------------------------------------------------------------------------- bad input


def truncated_png() -> bytes:
    data = encode_image(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8), compress_level=0)
    return data[: len(data) // 2]


BAD_IMAGES = [
    (np.full((4, 4), 300, dtype=np.int64), r"range from 300 to 300.*65535"),
    (np.zeros((4, 4), dtype=np.complex128), r"dtype complex128 .*uint8"),
    (np.array([[object(), object()]], dtype=object), r"dtype object .*uint8"),
    (np.zeros((4, 4, 2), dtype=np.uint8), r"\(4, 4, 2\).*np\.dstack"),
    (np.zeros((4, 4, 5), dtype=np.uint8), r"\(4, 4, 5\).*\(H, W, 3\) RGB"),
    (np.zeros((3, 8, 8), dtype=np.uint8), r"\(3, 8, 8\).*channels-first.*moveaxis"),
    (np.zeros(12, dtype=np.uint8), r"\(12,\).*reshape"),
    (np.zeros((0, 4, 3), dtype=np.uint8), r"empty"),
    (np.full((2, 2), np.nan), r"4 value\(s\) are NaN.*nan_to_num"),
    (np.array([[0.2, np.inf]]), r"1 value\(s\) are NaN or infinite"),
    (np.array([[0.0, 255.0]]), r"range from 0 to 255.*/ 255.*np\.clip"),
    (np.array([[-0.5, 0.5]]), r"range from -0.5"),
    ("/no/such/image.png", r"no file at '/no/such/image\.png'; check the path"),
    ("", r"empty string is not a path"),
    ("https://example.com/a.png", r"URLs are not downloaded"),
    (b"", r"empty \(0 bytes\)"),
    (bytes(range(256)) * 4, r"1,024 bytes that start with .*not a PNG, JPEG or WebP"),
    (
        truncated_png(),
        r"[\d,]+ bytes that start with b'\\x89PNG.*: the image data is corrupt or trunc",
    ),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, r"looks like a PNG file"),
    (42, r"builtins\.int.*PIL\.Image.*path.*bytes"),
    ([RGB], r"takes one image, got a list of 1; use to_arrays"),
]


@pytest.mark.parametrize(("value", "pattern"), BAD_IMAGES, ids=[p for _, p in BAD_IMAGES])
def test_bad_image_inputs_raise_validation_errors_naming_value_and_fix(value, pattern):
    with pytest.raises(ValidationError, match=pattern) as info:
        to_array(value)
    assert info.value.problems[0].param == "image"
    assert str(info.value).startswith("image: ")


def test_a_directory_and_a_non_image_file_are_named(tmp_path):
    with pytest.raises(ValidationError, match=r"is a directory; pass an image file"):
        to_array(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValidationError, match=r"notes\.txt' is not a PNG"):
        to_array(tmp_path / "notes.txt")
    (tmp_path / "cut.png").write_bytes(truncated_png())
    with pytest.raises(ValidationError, match=r"corrupt or truncated"):
        to_array(str(tmp_path / "cut.png"))


def _patch_count(data: bytes, entry: bytes, count: int, order: str) -> bytes:
    """``data`` with the count of the IFD entry that starts with ``entry`` set to ``count``."""
    at = data.find(entry)
    assert at >= 0
    patched = bytearray(data)
    patched[at + 4 : at + 8] = struct.pack(f"{order}I", count)
    return bytes(patched)


def jpeg_with_corrupt_exif(description_count: int = 100_000) -> bytes:
    """A JPEG (6x8, EXIF orientation 6) whose ImageDescription tag claims too many bytes."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010E] = "x" * 40
    broken = _patch_count(exif.tobytes(), b"\x01\x0e\x00\x02", description_count, ">")
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(buffer, "JPEG", exif=broken)
    return buffer.getvalue()


def tiff_with_tag_past_the_end() -> bytes:
    """A 8x6 TIFF whose ImageDescription tag points past the end of the file."""
    info = TiffImagePlugin.ImageFileDirectory_v2()
    info[0x010E] = "x" * 40
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(buffer, "TIFF", tiffinfo=info)
    return _patch_count(buffer.getvalue(), b"\x0e\x01\x02\x00", 100_000, "<")


def _array_or_validation_error(func, data):
    try:
        return func(data)
    except ValidationError as exc:
        return exc


@pytest.mark.filterwarnings("error")  # a warning escaping imaging fails the test
def test_corrupt_metadata_gives_an_image_or_an_error_never_a_warning():
    upright_jpeg = jpeg_with_corrupt_exif()  # Pillow: "Tag data larger than file"
    short_jpeg = jpeg_with_corrupt_exif(45)  # Pillow: "Truncated File Read"
    # the intact orientation tag applies where Pillow still reads it (13: yes; 12.3 drops
    # every tag of this EXIF, so the image is taken as stored)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kept = 0x0112 in Image.open(io.BytesIO(upright_jpeg)).getexif()
    assert to_array(upright_jpeg).shape == ((8, 6, 3) if kept else (6, 8, 3))
    assert to_array(short_jpeg).shape == (6, 8, 3)  # unreadable EXIF: taken as stored
    for data in (upright_jpeg, short_jpeg):
        height, width = to_array(data).shape[:2]
        assert image_size(data) == (width, height)
        assert mask_to_array(data).shape == (height, width)
        assert decode_image(data).shape == (6, 8, 3)  # server output: taken as stored
    tiff = tiff_with_tag_past_the_end()
    read = _array_or_validation_error(to_array, tiff)  # Pillow 12.3 cannot open it: an error
    if not isinstance(read, ValidationError):
        assert read.shape == (6, 8, 3) and image_size(tiff) == (8, 6)
    flipped = [bytearray(tiff) for _ in range(min(len(tiff), 240))]
    for i, data in enumerate(flipped):  # Pillow: "Corrupt EXIF data", "Metadata Warning"...
        data[i] ^= 0x40
        for func in (to_array, mask_to_array, image_size):
            _array_or_validation_error(func, bytes(data))


def test_silencing_pillow_leaves_the_warning_filters_as_they_were():
    before = list(warnings.filters)
    data = jpeg_with_corrupt_exif()

    def decode_many():
        for _ in range(20):
            to_array(data)

    threads = [threading.Thread(target=decode_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert warnings.filters == before
    with pytest.warns(UserWarning, match="still reported"):  # outside imaging: untouched
        warnings.warn("still reported", UserWarning, stacklevel=1)


@pytest.mark.filterwarnings("error")
def test_warnings_from_other_code_are_not_muted_during_a_decode():
    """A decode ignores Pillow's warnings only: another thread's (or this one's) warnings
    keep the process's filters, also while an image is being decoded."""
    with imaging.decode._pillow_quietly(), pytest.raises(UserWarning, match="still an error"):
        warnings.warn("still an error", UserWarning, stacklevel=1)


def png_header_claiming(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr
    idat = struct.pack(">I", 0) + b"IDAT" + struct.pack(">I", zlib.crc32(b"IDAT"))
    return b"\x89PNG\r\n\x1a\n" + chunk + struct.pack(">I", zlib.crc32(chunk[4:])) + idat


@pytest.mark.filterwarnings("error")  # Pillow's DecompressionBombWarning must not escape
def test_our_own_size_check_refuses_images_pillow_would_only_warn_about(monkeypatch):
    """Between Pillow's limit and twice it, Pillow only warns; this package refuses from the
    header by its own check, whatever Pillow's global limit is set to."""
    width, height = 10_000, 9_000  # 90,000,000 px: over MAX_DECODE_PIXELS, under 2x
    assert imaging.decode.MAX_DECODE_PIXELS < width * height < 2 * Image.MAX_IMAGE_PIXELS
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # a user switched Pillow's off
    for data in (png_header_claiming(width, height), png_header_claiming(height, width)):
        for func in (to_array, image_size, mask_to_array):
            with pytest.raises(ValidationError, match=r"too large to decode safely.*downscale"):
                func(data)
    with pytest.raises(ValidationError, match=r"90,000,000 pixels, more than 89,478,485"):
        to_array(Image.open(io.BytesIO(png_header_claiming(width, height))))  # not yet decoded
    with pytest.raises(ResponseDecodeError, match=r"too large to decode safely"):
        decode_image(png_header_claiming(width, height))


def test_decompression_bombs_are_refused_from_the_header():
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr
    idat = struct.pack(">I", 0) + b"IDAT" + struct.pack(">I", zlib.crc32(b"IDAT"))
    header = b"\x89PNG\r\n\x1a\n" + chunk + struct.pack(">I", zlib.crc32(chunk[4:])) + idat
    for func in (to_array, image_size, mask_to_array):
        with pytest.raises(ValidationError, match=r"too large to decode safely.*downscale"):
            func(header)


def test_corrupt_bytes_are_described_the_same_way_on_every_call():
    """Pillow names its BytesIO by memory address; messages describe the input instead."""
    header_only = encode_image(RGB)[:30]
    for func, error in ((to_array, ValidationError), (decode_image, ResponseDecodeError)):
        messages = set()
        for _ in range(2):
            with pytest.raises(error) as info:
                func(header_only)
            messages.add(str(info.value))
        [message] = messages
        assert "30 bytes that start with b'\\x89PNG\\r\\n\\x1a\\n'" in message
        assert "0x" not in message and "BytesIO" not in message and "object at" not in message


def test_list_items_are_named_by_index():
    with pytest.raises(ValidationError, match=r"^images\[1\]: ") as info:
        to_arrays([RGB, np.zeros((2, 2, 2))])
    assert info.value.problems[0].param == "images[1]"


# ----------------------------------------------------------------------------- decode / sniff


def test_server_decoding_failures_are_response_decode_errors_not_validation():
    for bad in (b"", b"not an image", truncated_png(), "text"):
        with pytest.raises(ResponseDecodeError) as info:
            decode_image(bad)  # type: ignore[arg-type]
        assert not isinstance(info.value, ValidationError)
    with pytest.raises(ResponseDecodeError, match=r"invalid base64"):
        decode_b64_image("iVBORw0KGgo$$$")
    with pytest.raises(ResponseDecodeError, match=r"corrupt or truncated"):
        decode_b64_image(base64.b64encode(truncated_png()))


SERVER_IMAGE_FAILURES = [
    (decode_image, b""),
    (decode_image, b"<html>not an image</html>"),
    (decode_image, truncated_png()),
    (decode_image, b"\x89PNG\r\n\x1a\n" + b"\x00" * 30),
    (decode_b64_image, "iVBORw0KGgo$$$"),
    (decode_b64_image, "iVBORw0KGgo\u00e9"),
    (decode_b64_image, base64.b64encode(truncated_png())),
]


@pytest.mark.parametrize(("func", "data"), SERVER_IMAGE_FAILURES)
def test_server_image_failures_say_to_retry_once_and_nothing_meant_for_files(func, data):
    with pytest.raises(ResponseDecodeError) as info:
        func(data)
    message = str(info.value)
    assert message.endswith("; retry the request"), message
    assert message.lower().count("retry") == 1, message
    for advice_for_user_files in ("re-export", "re-download", "pass an image", "pass plain"):
        assert advice_for_user_files not in message, message


def test_user_file_failures_keep_the_advice_for_files():
    with pytest.raises(ValidationError, match=r"corrupt or truncated .*; re-export or re-down"):
        to_array(truncated_png())
    with pytest.raises(ValidationError, match=r"not a PNG, JPEG or WebP image; pass an image"):
        to_array(b"<html>not an image</html>")
    with pytest.raises(ValidationError, match=r"invalid base64 .*; pass complete, unaltered"):
        to_array("data:image/png;base64,iVBORw0KGgo$$$")
    with pytest.raises(ValidationError, match=r"0 bytes\); pass an image file's bytes"):
        to_array(b"")


def test_b64_decoding_is_strict_but_tolerates_wrapped_lines_and_data_urls(monkeypatch):
    text = b64_png(RGBA)
    wrapped = "\n".join(text[i : i + 76] for i in range(0, len(text), 76))
    for variant in (text, text.encode(), wrapped, "data:image/png;base64," + text):
        np.testing.assert_array_equal(decode_b64_image(variant), RGBA)
    monkeypatch.setattr(imaging.b64, "_pybase64", None)  # stdlib fallback
    np.testing.assert_array_equal(decode_b64_image(text), RGBA)
    with pytest.raises(ResponseDecodeError, match=r"invalid base64"):
        decode_b64_image(text[:-3] + "*==")


@pytest.mark.parametrize("use_pybase64", [True, False], ids=["pybase64", "stdlib"])
def test_b64_text_is_decoded_without_an_encoded_copy(monkeypatch, use_pybase64):
    """A 4K image's base64 is ~20 MB: decoding str must not first copy it into bytes."""
    if not use_pybase64:
        monkeypatch.setattr(imaging.b64, "_pybase64", None)
    payload = np.random.default_rng(5).bytes(3_000_000)
    text = base64.b64encode(payload).decode("ascii")  # 4 MB of text
    tracemalloc.start()
    try:
        decoded = imaging.b64._b64decode(text, imaging.messages._undecodable)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert decoded == payload
    # the decoded bytes are 0.75x the text; an encoded copy would add another 1.0x
    assert peak < 0.9 * len(text), f"peak {peak / len(text):.2f}x the base64 text"


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("", True),
        ("YWJj", True),
        ("YWI=", True),
        ("YQ==", True),
        ("YQ=", False),  # length
        ("Y===", False),  # too much padding
        ("YW=j", False),  # padding inside
        ("YW_j", False),  # urlsafe alphabet
        ("YW j", False),  # whitespace (callers strip wrapped lines first)
    ],
)
def test_python_310_str_decoder_agrees_with_the_strict_stdlib(text, valid):
    """``_strict_b64decode_str`` (Python 3.10: no strict_mode) decides like the strict stdlib."""
    if valid:
        assert imaging.b64._strict_b64decode_str(text) == base64.b64decode(text, validate=True)
    else:
        with pytest.raises(binascii.Error):
            imaging.b64._strict_b64decode_str(text)
        with pytest.raises(binascii.Error):
            base64.b64decode(text, validate=True)


def test_b64_decoding_accepts_every_text_type():
    text = b64_png(RGB)
    wrapped = "\n".join(text[i : i + 76] for i in range(0, len(text), 76))
    for variant in (bytearray(text.encode()), memoryview(wrapped.encode()), f"data:,{wrapped}"):
        np.testing.assert_array_equal(decode_b64_image(variant), RGB)


def test_decoded_arrays_are_read_only_views_as_documented():
    out = decode_image(encode_image(RGB))
    assert not out.flags.writeable
    np.testing.assert_array_equal(out, RGB)


def test_sniff_format_by_magic_numbers():
    assert sniff_format(encode_image(RGB)) == "png"
    assert sniff_format(encode_image(RGB, "jpeg")) == "jpeg"
    assert sniff_format(bytearray(encode_image(RGB, "webp"))) == "webp"
    assert sniff_format(b"GIF89a....") is None
    assert sniff_format(b"RIFF") is None
    assert sniff_format("not bytes") is None


def test_image_size_reads_only_headers(tmp_path):
    big = np.zeros((300, 500, 3), dtype=np.uint8)
    header_only = encode_image(big)[:60]  # IHDR survives, pixels do not
    assert image_size(header_only) == (500, 300)
    (tmp_path / "h.png").write_bytes(header_only)
    assert image_size(tmp_path / "h.png") == (500, 300)
    assert image_size(RGB) == (13, 9)
    assert image_size(np.zeros((2, 7, 5, 4), np.float32)) == (5, 7)
    assert image_size(Image.fromarray(GRAY)) == (13, 9)
    assert image_size(types.SimpleNamespace(images=[RGBA])) == (13, 9)
    with pytest.raises(ValidationError, match=r"dtype complex64"):
        image_size(np.zeros((2, 2), np.complex64))


# ----------------------------------------------------------------------------- encode


def test_encode_options_are_checked():
    assert encode_image(RGB) == encode_image(RGB, compress_level=imaging.DEFAULT_PNG_COMPRESS_LEVEL)
    assert len(encode_image(RGB, compress_level=0)) > len(encode_image(RGB, compress_level=9)) - 1
    np.testing.assert_array_equal(decode_image(encode_image(RGB, ".PNG", compress_level=9)), RGB)
    assert sniff_format(encode_image(RGB, "JPG")) == "jpeg"
    cases = [
        ({"format": "gif"}, r"'gif' is not supported; use 'png', 'jpeg' or 'webp'"),
        ({"compress_level": 10}, r"compress_level: 10 .*0 to 9"),
        ({"compress_level": True}, r"compress_level: True"),
        ({"quality": 80}, r"quality: 80 does not apply to png; use compress_level"),
        ({"format": "jpeg", "quality": 101}, r"quality: 101 .*0 to 100"),
        ({"format": "webp", "compress_level": 3}, r"does not apply to webp"),
    ]
    for kwargs, pattern in cases:
        with pytest.raises(ValidationError, match=pattern):
            encode_image(RGB, **kwargs)
    with pytest.raises(ValidationError, match=r"JPEG has no alpha.*image\[\.\.\., :3\]"):
        encode_image(RGBA, "jpeg")


def noisy_photo(width: int = 256, height: int = 192, seed: int = 0) -> np.ndarray:
    """Gradients and soft waves plus sensor noise (sigma 3): compresses like a photograph."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = (x + y) / (width + height)
    base = np.stack([x / width * 200 + 30, y / height * 180 + 40, ramp * 150 + 60], axis=-1)
    base += 25 * (np.sin(x / 17.0) * np.cos(y / 23.0))[..., None]
    return np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)


def pillow_png(arr: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, "PNG", **options)
    return buffer.getvalue()


def test_default_png_is_level_1_with_run_length_matching_and_lossless():
    photo = noisy_photo()
    rgba = np.dstack([photo, np.arange(photo[..., 0].size, dtype=np.uint8).reshape(192, 256)])
    for arr in (photo, rgba):
        data = encode_image(arr)
        assert data == pillow_png(arr, compress_level=1, compress_type=zlib.Z_RLE)
        np.testing.assert_array_equal(decode_image(data), arr)
    assert encode_image(photo, compress_level=1) == encode_image(photo)


def test_installed_pillow_applies_the_strategy_to_png():
    """Pillow ignores unknown save options: a silently dropped strategy shows in the bytes."""
    photo = noisy_photo()
    default, plain_level_1 = encode_image(photo), pillow_png(photo, compress_level=1)
    assert len(default) < 0.95 * len(plain_level_1)
    assert len(default) <= 1.01 * len(pillow_png(photo))  # about Pillow's default (level 6)


def test_png_falls_back_to_documented_options_when_pillow_ignores_the_strategy(monkeypatch):
    """Without the undocumented ``compress_type``, level 1 is plain zlib level 1: the same
    pixels, saved with Pillow's documented options only."""
    assert imaging.encode._png_strategy_honoured()  # this Pillow takes the fast path
    photo = noisy_photo(64, 48)
    fast = encode_image(photo)
    monkeypatch.setattr(imaging.encode, "_png_strategy_honoured", lambda: False)
    plain = encode_image(photo)
    assert plain == pillow_png(photo, compress_level=1, optimize=False) != fast
    np.testing.assert_array_equal(decode_image(plain), decode_image(fast))
    np.testing.assert_array_equal(decode_image(plain), photo)


def test_png_strategy_probe_says_no_when_pillow_ignores_or_refuses_it(monkeypatch):
    probe = imaging.encode._png_strategy_honoured.__wrapped__
    real_save = Image.Image.save

    def ignoring(self, fp, format=None, **options):
        options.pop("compress_type", None)
        return real_save(self, fp, format, **options)

    def refusing(self, fp, format=None, **options):
        if "compress_type" in options:
            raise TypeError("unexpected keyword 'compress_type'")
        return real_save(self, fp, format, **options)

    assert probe()
    for fake in (ignoring, refusing):
        monkeypatch.setattr(Image.Image, "save", fake)
        assert not probe()


@pytest.mark.parametrize("level", [0, 2, 6, 9])
def test_other_levels_keep_zlibs_default_strategy(level):
    photo = noisy_photo(64, 48)
    assert encode_image(photo, compress_level=level) == pillow_png(photo, compress_level=level)


# ----------------------------------------------------------------------------- masks


def openai_style(mask: np.ndarray) -> np.ndarray:
    """An RGBA picture of ``mask`` in OpenAI's convention (alpha 0 = replace)."""
    rgba = np.full((*mask.shape, 4), 90, dtype=np.uint8)
    rgba[:, :, 3] = np.where(mask, 0, 255)
    return rgba


def comfy_style(mask: np.ndarray) -> np.ndarray:
    """A gray picture of ``mask`` in ComfyUI's convention (white = replace)."""
    return np.where(mask, 255, 0).astype(np.uint8)


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m,
        lambda m: m.astype(np.uint8),
        lambda m: m.astype(np.float32),
        lambda m: m[:, :, None],
        lambda m: m[None].astype(np.float32),  # ComfyUI MASK batch of one
        lambda m: openai_style(m),
        lambda m: Image.fromarray(openai_style(m)),
        lambda m: png(openai_style(m)),
        lambda m: mask_to_openai_png(m),
        lambda m: comfy_style(m),
        lambda m: np.dstack([comfy_style(m)] * 3),
        lambda m: Image.fromarray(comfy_style(m)),
        lambda m: Image.fromarray(comfy_style(m)).convert("1"),
        lambda m: png(comfy_style(m)),
        lambda m: encode_image(np.dstack([comfy_style(m)] * 3), "jpeg", quality=95),
    ],
    ids=[
        "bool",
        "uint8-01",
        "float",
        "hw1",
        "1hw",
        "rgba-array",
        "rgba-pil",
        "rgba-png",
        "openai-png",
        "gray-array",
        "rgb-array",
        "L-pil",
        "1-pil",
        "gray-png",
        "rgb-jpeg",
    ],
)
def test_masks_round_trip_exactly_in_both_conventions(make):
    out = mask_to_array(make(MASK), size=(13, 9))
    assert out.dtype == np.bool_ and out.shape == (9, 13)
    np.testing.assert_array_equal(out, MASK)


def test_mask_from_path_and_thresholds(tmp_path):
    (tmp_path / "m.png").write_bytes(mask_to_openai_png(MASK))
    np.testing.assert_array_equal(mask_to_array(tmp_path / "m.png"), MASK)
    floats = np.array([[0.0, 0.49, 0.5, 1.0]])
    np.testing.assert_array_equal(mask_to_array(floats)[0], [False, False, True, True])
    np.testing.assert_array_equal(mask_to_array(np.array([[0, 1, 7, -2]]))[0], [0, 1, 1, 1])
    gray = np.array([[0, 127, 128, 255]], dtype=np.uint8)
    np.testing.assert_array_equal(mask_to_array(Image.fromarray(gray))[0], [0, 0, 1, 1])


def test_rgba_mask_with_opaque_alpha_reads_as_empty_as_documented():
    opaque = np.dstack([np.dstack([comfy_style(MASK)] * 3), np.full(MASK.shape, 255, np.uint8)])
    assert not mask_to_array(opaque).any()
    assert mask_to_array(opaque[:, :, :3]).sum() == MASK.sum()  # drop alpha -> white = replace


def test_mask_to_openai_png_has_alpha_zero_exactly_where_the_mask_is_set():
    mask = np.zeros((1024, 1536), dtype=bool)
    mask[100:700, 200:1300] = True
    mask[1023, 1535] = True
    data = mask_to_openai_png(mask)
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "PNG" and img.mode == "RGBA" and img.size == (1536, 1024)
        alpha = np.asarray(img)[:, :, 3]
    np.testing.assert_array_equal(alpha == 0, mask)
    assert set(np.unique(alpha)) == {0, 255}


def test_mask_size_mismatch_names_both_sizes_and_the_fix():
    with pytest.raises(ValidationError) as info:
        mask_to_array(np.zeros((512, 512), bool), size=(1024, 1024))
    assert str(info.value).startswith("mask: mask is 512x512 but the image is 1024x1024; ")
    assert "resize the mask to 1024x1024" in str(info.value)
    assert info.value.problems[0].param == "mask"


BAD_MASKS = [
    (np.zeros((4, 4, 2)), r"\(4, 4, 2\).*2 channels"),
    (np.zeros((3, 5, 6)), r"batch of 3 masks.*mask\[0\]"),
    (np.zeros((4, 4), np.complex64), r"dtype complex64 is not a mask dtype"),
    (np.array([[0.0, 2.0]]), r"range from 0 to 2"),
    (np.array([[np.nan, 1.0]]), r"NaN"),
    (np.zeros((0, 3)), r"empty"),
    (b"junk", r"not a PNG"),
    ({"mask": 1}, r"builtins\.dict.*2-D array.*alpha 0 = replace.*white = replace"),
]


@pytest.mark.parametrize(("value", "pattern"), BAD_MASKS, ids=[p for _, p in BAD_MASKS])
def test_bad_masks_raise_validation_errors(value, pattern):
    with pytest.raises(ValidationError, match=pattern):
        mask_to_array(value)


def test_the_mask_convention_module_converts_both_ways():
    """masks.py: ComfyUI (True = replace) <-> OpenAI (alpha 0 = edit)."""
    alpha = masks.alpha_from_mask(MASK)
    assert alpha.dtype == np.uint8 and alpha.shape == (9, 13)
    np.testing.assert_array_equal(alpha, np.where(MASK, 0, 255))
    np.testing.assert_array_equal(masks.mask_from_alpha(alpha), MASK)
    rgba = masks.openai_mask_rgba(MASK)
    assert rgba.shape == (9, 13, 4)
    np.testing.assert_array_equal(masks.mask_from_rgba(rgba), MASK)
    np.testing.assert_array_equal(masks.mask_from_pixels(rgba[:, :, :3].copy()), MASK)  # white
    np.testing.assert_array_equal(mask_to_array(rgba), MASK)
    np.testing.assert_array_equal(masks.mask_from_plane(MASK.astype(np.float32)), MASK)
    np.testing.assert_array_equal(masks.mask_from_plane(MASK.astype(np.int16) * 7), MASK)
    with pytest.raises(ValueError, match=r"\(H, W, 4\) RGBA"):
        masks.mask_from_rgba(rgba[:, :, :3])
    with pytest.raises(TypeError, match="not a mask dtype"):
        masks.mask_from_plane(MASK.astype(complex))


# ----------------------------------------------------------------------------- downscale


def test_the_default_budget_is_the_catalogs_largest_output():
    from gptimage_widgets import catalog

    assert imaging.DEFAULT_MAX_PIXELS == catalog.largest_output_pixels() == 3840 * 2160


def test_downscale_never_upscales_and_returns_inputs_untouched():
    image, mask, scale = downscale_to_budget(RGB, MASK, max_pixels=10_000)
    assert image is RGB and scale == 1.0
    np.testing.assert_array_equal(mask, MASK)
    assert downscale_to_budget(RGB, max_pixels=9 * 13)[1:] == (None, 1.0)


@pytest.mark.parametrize(("width", "height", "budget"), [(640, 480, 40_000), (301, 97, 5_000)])
def test_downscale_keeps_aspect_budget_and_image_mask_alignment(width, height, budget):
    img = Image.new("RGB", (width, height))
    mask_img = Image.new("L", (width, height))
    for draw in (ImageDraw.Draw(img), ImageDraw.Draw(mask_img)):
        draw.ellipse((width * 0.2, height * 0.1, width * 0.7, height * 0.8), fill="white")
        draw.rectangle((width * 0.75, height * 0.3, width * 0.95, height * 0.6), fill="white")
    image, mask, scale = downscale_to_budget(img, mask_img, max_pixels=budget)
    new_h, new_w = image.shape[:2]
    assert mask is not None and mask.shape == (new_h, new_w)
    assert new_w * new_h <= budget < (new_w + 2) * (new_h + 2)
    assert scale == new_w / width
    assert abs(new_w / new_h - width / height) < 2 * (width / height) / min(new_w, new_h)
    bright = image[:, :, 0] >= 128
    edge_pixels = np.count_nonzero(bright != mask)
    assert edge_pixels <= 0.02 * mask.size  # same content on the same grid, up to edge pixels
    assert mask.sum() > 0.25 * mask.size


def test_downscale_rejects_a_bad_budget():
    with pytest.raises(ValidationError, match=r"max_pixels: 0 "):
        downscale_to_budget(RGB, max_pixels=0)


# ----------------------------------------------------------------------------- properties

IMAGE_SHAPES = st.tuples(st.integers(1, 12), st.integers(1, 12), st.sampled_from([0, 1, 3, 4]))


def shaped(h: int, w: int, c: int) -> tuple[int, ...]:
    return (h, w) if c == 0 else (h, w, c)


@IMAGING
@given(IMAGE_SHAPES.flatmap(lambda s: hnp.arrays(np.uint8, shaped(*s))))
def test_property_uint8_png_and_b64_round_trips_are_exact(arr):
    expected = to_array(arr)
    np.testing.assert_array_equal(decode_image(encode_image(arr)), expected)
    np.testing.assert_array_equal(decode_b64_image(b64_png(arr)), expected)
    np.testing.assert_array_equal(to_array(Image.fromarray(expected)), expected)


@IMAGING
@given(
    IMAGE_SHAPES.flatmap(
        lambda s: hnp.arrays(np.float32, shaped(*s), elements=st.floats(0, 1, width=32))
    )
)
def test_property_floats_map_to_rounded_uint8(arr):
    out = to_array(arr)
    expected = np.rint(arr.astype(np.float32) * 255).astype(np.uint8)
    np.testing.assert_array_equal(out, to_array(expected))


@IMAGING
@given(st.tuples(st.integers(1, 12), st.integers(1, 12)).flatmap(lambda s: hnp.arrays(bool, s)))
def test_property_masks_round_trip_in_both_conventions(mask):
    np.testing.assert_array_equal(mask_to_array(mask_to_openai_png(mask)), mask)
    np.testing.assert_array_equal(mask_to_array(encode_image(comfy_style(mask))), mask)
    rgba = np.zeros((*mask.shape, 4), np.uint8)
    rgba[:, :, 3] = masks.alpha_from_mask(mask)
    if mask.any():  # an all-opaque alpha reads as empty under OpenAI's convention
        np.testing.assert_array_equal(mask_to_array(rgba), mask)


ANY_ARRAY = hnp.arrays(
    dtype=hnp.scalar_dtypes() | hnp.floating_dtypes(sizes=(16, 32, 64)),
    shape=hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=5),
)


@IMAGING
@given(ANY_ARRAY)
def test_property_arbitrary_arrays_give_an_image_or_a_validation_error(arr):
    try:
        out = to_array(arr)
    except ValidationError as exc:
        assert exc.problems and exc.problems[0].param == "image"
        return
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] in (3, 4)
    assert out.flags.c_contiguous


@IMAGING
@given(ANY_ARRAY)
def test_property_arbitrary_arrays_give_a_mask_or_a_validation_error(arr):
    try:
        out = mask_to_array(arr)
    except ValidationError:
        return
    assert out.dtype == np.bool_ and out.ndim == 2 and out.size > 0


def test_image_size_of_png_bytes_honours_exif_before_pixel_data() -> None:
    """A PNG's size comes from its header; an eXIf chunk before IDAT still swaps the axes."""
    wide = np.zeros((20, 40, 3), np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    buffer = io.BytesIO()
    Image.fromarray(wide).save(buffer, "PNG", exif=exif)
    assert imaging.image_size(buffer.getvalue()) == (20, 40)
    assert imaging.to_array(buffer.getvalue()).shape == (40, 20, 3)


# --------------------------------------------------------------------------- packed arrays


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_packed_array_equals_numpy_asarray_and_is_read_only(mode: str) -> None:
    from gptimage_widgets.imaging.decode import _packed_array

    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (37, 53, len(mode)), dtype=np.uint8)
    image = Image.fromarray(pixels, mode)
    packed = _packed_array(image)
    assert packed.shape == (37, 53, len(mode)) and packed.dtype == np.uint8
    np.testing.assert_array_equal(packed, np.asarray(image))
    assert not packed.flags.writeable


def test_packed_array_falls_back_when_the_raw_encoder_answers_unexpectedly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gptimage_widgets.imaging import decode

    original = decode.Image._getencoder
    calls: list[object] = []

    class Partial:  # an encoder that stops after one chunk (not what _packed_array expects)
        def setimage(self, *_args: object) -> None: ...

        def encode(self, _size: int) -> tuple[int, int, bytes]:
            return 0, 0, b"\0" * 8

    def first_call_partial(*args: object) -> object:
        calls.append(args)
        return Partial() if len(calls) == 1 else original(*args)  # np.asarray: the real one

    monkeypatch.setattr(decode.Image, "_getencoder", first_call_partial)
    image = Image.fromarray(np.full((4, 6, 3), 200, np.uint8))
    np.testing.assert_array_equal(decode._packed_array(image), np.full((4, 6, 3), 200))
    assert len(calls) == 2  # the one-chunk try, then np.asarray's tobytes
