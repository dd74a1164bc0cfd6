"""Encoding arrays for upload or saving: PNG (lossless, fast zlib strategy), JPEG, WebP.

Owns the encode defaults (:data:`DEFAULT_PNG_COMPRESS_LEVEL`, ``..._JPEG_QUALITY``,
``..._WEBP_QUALITY``), option checks, :func:`encode_image` and :func:`mask_to_openai_png`.
"""

from __future__ import annotations

import functools
import io
import zlib
from typing import Any, Final

import numpy as np
from PIL import Image

from .. import masks
from ..errors import ValidationError
from .inputs import mask_to_array, to_array
from .messages import ImageArray, _describe

#: zlib level for PNG encoding. Level 1 is encoded with zlib's ``Z_RLE`` strategy (see
#: :func:`_png_options`): 0.34-0.52x the time of Pillow's default save for about its bytes
#: (benchmarks/bench_upload.py, benchmarks/RESULTS.md "Upload cost").
DEFAULT_PNG_COMPRESS_LEVEL: Final = 1
#: The level whose encodes use zlib's run-length strategy (``zlib.Z_RLE``); with ``Z_RLE``
#: zlib ignores the level, so only one level can mean it without the others losing theirs.
_RLE_PNG_LEVEL: Final = 1
DEFAULT_JPEG_QUALITY: Final = 90
DEFAULT_WEBP_QUALITY: Final = 90


# ----------------------------------------------------------------------------- encode


def _normalize_format(fmt: Any) -> str:
    """``"png"``, ``"jpeg"`` or ``"webp"`` from a format name (``jpg``, ``.PNG``...)."""
    name = str(fmt).lower().lstrip(".")
    name = "jpeg" if name == "jpg" else name
    if name not in ("png", "jpeg", "webp"):
        raise ValidationError(
            f"format: {fmt!r} is not supported; use 'png', 'jpeg' or 'webp'",
            param="format",
            value=fmt,
        )
    return name


def _check_int_option(name: str, value: Any, low: int, high: int) -> int:
    """``value`` as an int in ``[low, high]``, else a ValidationError naming ``name``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or not low <= value <= high
    ):
        raise ValidationError(
            f"{name}: {value!r} is not allowed; use an integer from {low} to {high}",
            param=name,
            value=value,
        )
    return int(value)


def _reject_option(name: str, value: Any, fmt: str, use: str) -> None:
    """Raise when an option that does not apply to ``fmt`` was given."""
    if value is not None:
        raise ValidationError(
            f"{name}: {value!r} does not apply to {fmt}; {use}", param=name, value=value
        )


def _png_options(compress_level: Any) -> dict[str, Any]:
    """Pillow PNG ``save`` keywords: zlib level 0-9, ``Z_RLE`` at level 1, never ``optimize``.

    Why level 1 uses ``Z_RLE`` (Pillow's ``compress_type=3``): after PNG's row filters a
    photo is mostly small residuals, where deflate's long-distance matches buy almost
    nothing and its fast mode (plain level 1) leaves ~15 % on the table. Run-length
    matching keeps nearly all of level 6's gain at level 1's speed: on a 3840x2160
    photo-like image 0.999x the bytes of Pillow's default ``save(..., "PNG")`` in
    0.34-0.52x its time (plain level 1: 1.149x the bytes), on a clean 1024x1024 render
    1.03x (plain level 1: 1.24x); see ``benchmarks/RESULTS.md`` ("Upload cost"). It stays
    lossless: the strategy only changes how zlib searches for matches. With ``Z_RLE`` zlib
    ignores the level, so levels 2-9 keep zlib's default strategy and their usual
    time-for-bytes trade (7-9 beat it on clean renders, at 1.5-12x the time).

    ``compress_type`` is not in Pillow's documented PNG options (its PNG writer passes it to
    zlib as the strategy, and has since before Pillow 10): it is sent only when
    :func:`_png_strategy_honoured` finds that this Pillow uses it; otherwise level 1 is
    plain zlib level 1 through the documented ``compress_level`` alone (same pixels, ~15 %
    more bytes).
    """
    level = DEFAULT_PNG_COMPRESS_LEVEL if compress_level is None else compress_level
    options: dict[str, Any] = {
        "compress_level": _check_int_option("compress_level", level, 0, 9),
        "optimize": False,
    }
    if options["compress_level"] == _RLE_PNG_LEVEL and _png_strategy_honoured():
        options["compress_type"] = zlib.Z_RLE
    return options


@functools.cache
def _png_strategy_honoured() -> bool:
    """Whether this Pillow's PNG writer uses the undocumented ``compress_type`` keyword.

    Probed once by encoding a tiny image whose rows repeat every 16 bytes: zlib's default
    strategy finds those matches, ``Z_RLE`` (distance 1 only) cannot, so the two files differ
    exactly when the keyword reaches zlib. A Pillow that ignores or refuses it gets False.
    """
    image = Image.fromarray(np.tile(np.arange(16, dtype=np.uint8) * 17, (2, 4)))
    files = []
    for extra in ({}, {"compress_type": zlib.Z_RLE}):
        buffer = io.BytesIO()
        try:
            image.save(buffer, format="PNG", compress_level=1, optimize=False, **extra)
        except (TypeError, ValueError, OSError):
            return False
        files.append(buffer.getvalue())
    return files[0] != files[1]


def _save_options(
    fmt: str, pixels: ImageArray, quality: Any, compress_level: Any
) -> dict[str, Any]:
    """Pillow ``save`` keywords for ``fmt`` after checking the options that apply."""
    if fmt == "png":
        _reject_option("quality", quality, "png", "use compress_level (0-9) for png")
        return _png_options(compress_level)
    _reject_option("compress_level", compress_level, fmt, "use quality (0-100)")
    if fmt == "jpeg" and pixels.shape[2] == 4:
        raise ValidationError(
            "image: JPEG has no alpha channel but the image is RGBA; pass image[..., :3] "
            "or encode as png/webp",
            param="image",
            value=_describe(pixels),
        )
    default = DEFAULT_JPEG_QUALITY if fmt == "jpeg" else DEFAULT_WEBP_QUALITY
    return {
        "quality": _check_int_option("quality", default if quality is None else quality, 0, 100)
    }


def encode_image(
    arr: Any,
    format: str = "png",
    *,
    quality: int | None = None,
    compress_level: int | None = None,
) -> bytes:
    """An image -> encoded bytes for upload or saving.

    Parameters
    ----------
    arr
        Any accepted image input (usually ``(H, W, 3|4)`` ``uint8``).
    format
        ``"png"`` (lossless, alpha kept), ``"jpeg"`` (no alpha) or ``"webp"``.
    quality
        JPEG/WebP quality 0-100; default :data:`DEFAULT_JPEG_QUALITY` / ``..._WEBP_...``.
    compress_level
        PNG zlib level 0-9; default :data:`DEFAULT_PNG_COMPRESS_LEVEL` (1: zlib's run-length
        strategy, about Pillow's default bytes at 2-3x its speed; see ``_png_options`` and
        ``benchmarks/RESULTS.md``). Always lossless; never with ``optimize``.

    Returns
    -------
    bytes
        The encoded file.
    """
    fmt = _normalize_format(format)
    pixels = to_array(arr)
    options = _save_options(fmt, pixels, quality, compress_level)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt.upper(), **options)
    return buffer.getvalue()


def mask_to_openai_png(mask: Any, size: tuple[int, int] | None = None) -> bytes:
    """A mask input -> the PNG OpenAI's edit endpoints expect.

    Returns
    -------
    bytes
        An RGBA PNG at full resolution (:func:`masks.openai_mask_rgba`): ``(255, 255, 255,
        0)`` where the mask is True (alpha 0 = edit) and ``(0, 0, 0, 255)`` elsewhere, so it
        reads the same under both conventions.
    """
    return encode_image(masks.openai_mask_rgba(mask_to_array(mask, size)), "png")
