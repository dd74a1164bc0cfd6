"""Image and mask inputs: every accepted input form -> arrays.

Owns :func:`to_array`, :func:`to_arrays`, :func:`to_pil`, :func:`to_comfy_batch`,
:func:`image_size` and :func:`mask_to_array` (the mask rules themselves live in
``gptimage_widgets/masks.py``), and the accepted-forms texts used in their messages.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from .. import masks
from ..errors import ValidationError
from .decode import _exif_upright, _header_size, _load, _open_source, _pil_to_array
from .messages import ErrorFactory, ImageArray, MaskArray, _describe, _invalid, _pillow_reason
from .pixels import (
    _check_finite_range,
    _check_image_dtype,
    _check_image_shape,
    _gray_or_color_to_rgb,
    _image_from_ndarray,
    _pixels_to_uint8,
    _single_from_batch,
)

ACCEPTED_IMAGE_FORMS: Final = (
    "a NumPy array (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) of uint8 or floats in [0, 1], "
    "a (B, H, W, C) batch, a PIL.Image, a file path, PNG/JPEG/WebP bytes or an ImageResult"
)
ACCEPTED_MASK_FORMS: Final = (
    "a 2-D array (nonzero/True = replace; floats >= 0.5), an RGBA array/PIL image/PNG "
    "(alpha 0 = replace), or a gray/RGB image, path or bytes (white = replace)"
)


# ----------------------------------------------------------------------------- public: images


def _looks_like_result(x: Any) -> bool:
    """Whether ``x`` is an ImageResult-like object (an ``.images`` list or tuple)."""
    return isinstance(getattr(x, "images", None), (list, tuple))


def _as_ndarray(x: Any, error: ErrorFactory) -> np.ndarray | None:
    """``x`` as an array when it is one or exposes ``__array__`` (e.g. a CPU torch tensor)."""
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (str, bytes, bytearray, memoryview, list, tuple, dict, set)):
        return None
    if not hasattr(x, "__array__") or _looks_like_result(x):
        return None
    try:
        return np.asarray(x)
    except Exception as exc:  # e.g. a CUDA tensor
        raise error(
            f"could not be read as an array ({_pillow_reason(exc)}); pass a NumPy array"
        ) from exc


def to_array(x: Any, *, param: str = "image") -> ImageArray:
    """One image input -> an RGB or RGBA ``uint8`` array.

    Parameters
    ----------
    x
        Any accepted image input (see :data:`ACCEPTED_IMAGE_FORMS`); a batch or an
        ``ImageResult`` must hold exactly one image.
    param
        The parameter name used in error messages (``"image"``, ``"images[2]"``).

    Returns
    -------
    np.ndarray
        ``(H, W, 3)`` or ``(H, W, 4)`` ``uint8`` in ``[0, 255]``, C-contiguous. A ``uint8``
        array already in that layout is returned as is (no copy); decoded images are
        read-only views (call ``.copy()`` to edit them).

    Raises
    ------
    ValidationError
        Naming what was received and what is accepted.
    """
    error = _invalid(param, x)
    arr = _as_ndarray(x, error)
    if arr is not None:
        return _image_from_ndarray(arr, error)
    if isinstance(x, Image.Image):
        return _pil_to_array(_load(x, error, x), error)
    opened = _open_source(x, error)
    if opened is not None:
        with opened:  # closes a file opened from a path, also on errors
            return _pil_to_array(_exif_upright(_load(opened, error, x)), error)
    if _looks_like_result(x):
        return _single_from_result(x, param, error)
    if isinstance(x, (list, tuple)):
        raise error(
            f"to_array takes one image, got a {type(x).__name__} of {len(x)}; use to_arrays"
        )
    raise error(f"got {_describe(x)}; pass {ACCEPTED_IMAGE_FORMS}")


def _single_from_result(result: Any, param: str, error: ErrorFactory) -> ImageArray:
    """The one image of a result as ``(H, W, 3|4)`` uint8; more or fewer is an error."""
    images = to_arrays(result, param=param)
    if len(images) != 1:
        raise error(
            f"this result holds {len(images)} images; use to_arrays(...) or pick one with "
            "result.images[i]"
        )
    return images[0]


def _batch_to_arrays(batch: np.ndarray, param: str) -> list[ImageArray]:
    """``(B, H, W, C)`` -> B arrays, converting the dtype once for the whole batch."""
    error = _invalid(param, batch)
    if batch.size == 0:
        raise error("the batch is empty (a dimension is 0); pass at least one image")
    _check_image_shape(batch[0], error)
    pixels = _pixels_to_uint8(batch, error)
    return [_gray_or_color_to_rgb(image) for image in pixels]


def _one_input_to_arrays(x: Any, param: str) -> list[ImageArray]:
    """One input (an image, a ``(B, H, W, C)`` batch or a result) -> its images."""
    error = _invalid(param, x)
    arr = _as_ndarray(x, error)
    if arr is not None and arr.ndim == 4:
        return _batch_to_arrays(arr, param)
    if _looks_like_result(x):
        return [to_array(image, param=f"{param}[{i}]") for i, image in enumerate(x.images)]
    return [to_array(x if arr is None else arr, param=param)]


def to_arrays(x: Any, *, param: str = "images") -> list[ImageArray]:
    """One or several image inputs -> a list of RGB/RGBA ``uint8`` arrays.

    Parameters
    ----------
    x
        One image input, a ``(B, H, W, C)`` batch (B images), an ``ImageResult`` (its
        images), or a list/tuple of any of these (flattened one level).
    param
        The parameter name used in error messages; items are named ``param[i]``.

    Returns
    -------
    list of np.ndarray
        Each ``(H, W, 3)`` or ``(H, W, 4)`` ``uint8``; ``[]`` for an empty list.
    """
    if not isinstance(x, (list, tuple)):
        return _one_input_to_arrays(x, param)
    arrays: list[ImageArray] = []
    for i, item in enumerate(x):
        if isinstance(item, (list, tuple)):
            raise _invalid(f"{param}[{i}]", item)("nested lists are not accepted; flatten them")
        arrays.extend(_one_input_to_arrays(item, f"{param}[{i}]"))
    return arrays


def to_pil(x: Any, *, param: str = "image") -> Image.Image:
    """Any accepted image input -> a ``PIL.Image`` of mode ``"RGB"`` or ``"RGBA"``."""
    return Image.fromarray(to_array(x, param=param))


def to_comfy_batch(images: Any) -> npt.NDArray[np.float32]:
    """Images -> a ComfyUI ``IMAGE`` batch.

    Parameters
    ----------
    images
        Anything :func:`to_arrays` accepts; all images must share size and channel count.

    Returns
    -------
    np.ndarray
        ``(B, H, W, C)`` ``float32`` in ``[0, 1]`` (``uint8 / 255``), C = 3 or 4.
    """
    arrays = to_arrays(images)
    error = _invalid("images", images)
    if not arrays:
        raise error("no images given; pass at least one")
    shapes = sorted({a.shape for a in arrays})
    if len(shapes) > 1:
        raise error(
            f"a batch needs one shape but got {', '.join(map(str, shapes))}; resize them to one "
            "size (and drop alpha with a[..., :3] to mix RGB and RGBA)"
        )
    return np.divide(np.stack(arrays), 255, dtype=np.float32)


def image_size(x: Any, *, param: str = "image") -> tuple[int, int]:
    """``(width, height)`` of an image input, reading only headers for bytes and paths.

    EXIF orientations that swap the axes are honoured, as :func:`to_array` does. For a
    ``(B, H, W, C)`` batch or an ``ImageResult`` the size of the first image is returned.

    Raises
    ------
    ValidationError
        When ``x`` is not an accepted image input or its header is unreadable.
    """
    error = _invalid(param, x)
    arr = _as_ndarray(x, error)
    if arr is not None:
        return _array_size(arr, error)
    if isinstance(x, Image.Image):
        return x.size
    opened = _open_source(x, error)
    if opened is not None:
        with opened:
            return _header_size(opened)
    if _looks_like_result(x) and x.images:
        return image_size(x.images[0], param=f"{param}[0]")
    raise error(f"got {_describe(x)}; pass {ACCEPTED_IMAGE_FORMS}")


def _array_size(arr: np.ndarray, error: ErrorFactory) -> tuple[int, int]:
    """``(width, height)`` of an image array or the first image of a batch (checked)."""
    image = arr[0] if arr.ndim == 4 and arr.shape[0] >= 1 else arr
    _check_image_shape(image, error)
    _check_image_dtype(image, error)
    return int(image.shape[1]), int(image.shape[0])


# ----------------------------------------------------------------------------- masks


def _mask_from_plane(plane: np.ndarray, error: ErrorFactory) -> MaskArray:
    """A 2-D array -> mask (:func:`masks.mask_from_plane`) after checking dtype and range."""
    kind = plane.dtype.kind
    if kind not in "biuf":
        raise error(
            f"dtype {plane.dtype} is not a mask dtype; use bool, integers or floats in [0, 1]"
        )
    if kind == "f":
        _check_finite_range(plane.astype(np.float32) if plane.dtype.itemsize < 4 else plane, error)
    return masks.mask_from_plane(plane)


def _unbatch_mask(arr: np.ndarray, error: ErrorFactory) -> np.ndarray:
    """Drop a leading batch axis of 1 from ``(1, H, W)`` or ``(1, H, W, C)`` masks."""
    if arr.ndim == 4:
        return _single_from_batch(arr, error)
    looks_batched = arr.ndim == 3 and arr.shape[2] > 4
    if looks_batched and arr.shape[0] == 1:
        return arr[0]
    if looks_batched and arr.size:
        raise error(
            f"shape {arr.shape} looks like a batch of {arr.shape[0]} masks (B, H, W); pass one "
            "mask, e.g. mask[0]"
        )
    return arr


def _mask_from_ndarray(arr: np.ndarray, error: ErrorFactory) -> MaskArray:
    """A mask array (2-D, ``(H, W, 1|3|4)`` or batched by 1) -> ``(H, W)`` bool."""
    arr = _unbatch_mask(arr, error)
    _check_image_shape(arr, error)
    if arr.ndim == 2 or arr.shape[2] == 1:
        return _mask_from_plane(arr.reshape(arr.shape[:2]), error)
    return masks.mask_from_pixels(_pixels_to_uint8(arr, error))


def _mask_from_pil(img: Image.Image, error: ErrorFactory) -> MaskArray:
    """A loaded PIL image -> ``(H, W)`` bool: L/1 white = replace, else as pixels."""
    if img.mode in ("L", "1"):
        return masks.mask_from_luminance(np.asarray(img.convert("L")))
    return masks.mask_from_pixels(_pil_to_array(img, error))


def _check_mask_size(mask: MaskArray, size: Any, param: str) -> None:
    """Raise unless ``mask`` is (height, width) of ``size`` = ``(width, height)``."""
    if size is None:
        return
    width, height = (int(v) for v in size)
    if mask.shape != (height, width):
        mask_h, mask_w = mask.shape
        raise ValidationError(
            f"{param}: mask is {mask_w}x{mask_h} but the image is {width}x{height}; resize the "
            f"mask to {width}x{height} (PIL: mask.resize(({width}, {height}), Image.NEAREST)) "
            "or paint it on this image",
            param=param,
            value=f"{mask_w}x{mask_h}",
        )


def mask_to_array(
    mask: Any, size: tuple[int, int] | None = None, *, param: str = "mask"
) -> MaskArray:
    """A mask input -> ``(H, W)`` bool, True = replace.

    Parameters
    ----------
    mask
        A 2-D array (nonzero/True = replace; floats in ``[0, 1]`` threshold at 0.5), an
        ``(H, W, 1)`` or ``(1, H, W)`` array, an RGBA array/PIL image/PNG (alpha 0 = replace;
        OpenAI's convention) or a gray/RGB image, array, path or bytes (white = replace;
        ComfyUI's convention, luminance ``>= 128``).
    size
        ``(width, height)`` of the image the mask belongs to; a mismatch is an error.
    param
        The parameter name used in error messages.

    Returns
    -------
    np.ndarray
        ``(H, W)`` bool, C-contiguous, True where the image is to be replaced.

    Raises
    ------
    ValidationError
        Unaccepted input, or a size different from ``size``.
    """
    error = _invalid(param, mask)
    result = _mask_input_to_array(mask, error)
    _check_mask_size(result, size, param)
    return result


def _mask_input_to_array(mask: Any, error: ErrorFactory) -> MaskArray:
    """Any accepted mask input -> ``(H, W)`` bool, True = replace."""
    arr = _as_ndarray(mask, error)
    if arr is not None:
        return _mask_from_ndarray(arr, error)
    if isinstance(mask, Image.Image):
        return _mask_from_pil(_load(mask, error, mask), error)
    opened = _open_source(mask, error)
    if opened is not None:
        with opened:
            return _mask_from_pil(_exif_upright(_load(opened, error, mask)), error)
    raise error(f"got {_describe(mask)}; pass {ACCEPTED_MASK_FORMS}")
