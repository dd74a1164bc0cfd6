"""Array rules: dtypes, value ranges and shapes of image arrays -> ``(H, W, 3|4)`` uint8.

Owns the float -> uint8 rule (``round_half_to_even(x * 255)``, half a step of slack outside
``[0, 1]``), the integer range check, bool -> 0/255, the accepted layouts (``(H, W)``,
``(H, W, 1|3|4)``, a ``(1, H, W, C)`` batch) and gray -> RGB.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from .messages import ErrorFactory, ImageArray

_FLOAT_SLACK: Final = 0.5 / 255


# ----------------------------------------------------------------------------- array rules


def _check_finite_range(arr: np.ndarray, error: ErrorFactory) -> None:
    """Raise unless every float in ``arr`` is finite and within ``[0, 1]`` (plus slack)."""
    lo, hi = float(arr.min()), float(arr.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise error(
            f"{bad} value(s) are NaN or infinite; replace them first, e.g. "
            "np.nan_to_num(arr, nan=0.0, posinf=1.0, neginf=0.0)"
        )
    if lo < -_FLOAT_SLACK or hi > 1 + _FLOAT_SLACK:
        raise error(
            f"float values must be in [0, 1] but range from {lo:g} to {hi:g}; "
            "for 0-255 data pass arr.astype(np.uint8) or arr / 255, else np.clip(arr, 0, 1)"
        )


def _float_to_uint8(arr: np.ndarray, error: ErrorFactory) -> ImageArray:
    """Floats in ``[0, 1]`` -> ``uint8`` by ``round_half_to_even(x * 255)``."""
    work = arr.astype(np.float32) if arr.dtype.itemsize < 4 else arr
    _check_finite_range(work, error)
    scaled = np.multiply(work, 255)
    np.rint(scaled, out=scaled)
    np.clip(scaled, 0, 255, out=scaled)
    return scaled.astype(np.uint8)


def _int_to_uint8(arr: np.ndarray, error: ErrorFactory) -> ImageArray:
    """Integers in ``[0, 255]`` -> ``uint8`` (same shape); others are an error."""
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi > 255:
        raise error(
            f"integer values must be in [0, 255] but range from {lo} to {hi}; for 16-bit "
            "data pass (arr / 65535).astype(np.float32), else scale it to uint8"
        )
    return arr.astype(np.uint8)


def _pixels_to_uint8(arr: np.ndarray, error: ErrorFactory) -> ImageArray:
    """Any accepted dtype -> ``uint8`` with the same shape (no copy for ``uint8``)."""
    kind = arr.dtype.kind
    if arr.dtype == np.uint8:
        return arr
    if kind == "b":
        return arr.astype(np.uint8) * np.uint8(255)
    if kind in "iu":
        return _int_to_uint8(arr, error)
    if kind == "f":
        return _float_to_uint8(arr, error)
    raise error(
        f"dtype {arr.dtype} is not an image dtype; use uint8 in [0, 255], floats in [0, 1] or bool"
    )


def _shape_hint(shape: tuple[int, ...]) -> str:
    """What to do about an array shape that is not an image layout."""
    if len(shape) == 3 and shape[-1] == 2:
        return "2 channels is not a layout; for gray + alpha pass np.dstack([g, g, g, a])"
    if len(shape) == 3 and shape[0] in (1, 3, 4) and min(shape[1:]) > 4:
        return "it looks channels-first; pass np.moveaxis(arr, 0, -1)"
    if len(shape) < 2:
        return "reshape it to (H, W) or (H, W, C)"
    return "use (H, W) gray, (H, W, 3) RGB, (H, W, 4) RGBA or a (B, H, W, C) batch"


def _check_image_shape(arr: np.ndarray, error: ErrorFactory) -> None:
    """Raise unless ``arr`` is ``(H, W)`` or ``(H, W, 1|3|4)`` with ``H, W >= 1``."""
    if arr.size == 0:
        raise error("the array is empty (a dimension is 0); pass an image with pixels")
    fits = arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3, 4))
    if not fits:
        raise error(f"shape {arr.shape} is not an image; {_shape_hint(arr.shape)}")


def _check_image_dtype(arr: np.ndarray, error: ErrorFactory) -> None:
    """Raise unless ``arr``'s dtype is bool, integer or float."""
    if arr.dtype.kind not in "biuf":
        _pixels_to_uint8(arr, error)  # raises the dtype message


def _gray_or_color_to_rgb(pixels: ImageArray) -> ImageArray:
    """``(H, W)``/``(H, W, 1)`` -> ``(H, W, 3)``; 3/4 channels -> C-contiguous as is."""
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.shape[2] == 1:
        return np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(pixels)


def _single_from_batch(arr: np.ndarray, error: ErrorFactory) -> np.ndarray:
    """``(1, H, W, C)`` -> ``(H, W, C)``; a larger batch is an error pointing to to_arrays."""
    if arr.ndim != 4 or arr.size == 0:
        return arr
    if arr.shape[0] != 1:
        raise error(
            f"this is a batch of {arr.shape[0]} images; use to_arrays(...) for a list, "
            "or pick one with arr[i]"
        )
    return arr[0]


def _image_from_ndarray(arr: np.ndarray, error: ErrorFactory) -> ImageArray:
    """An image array (or a batch of 1) -> ``(H, W, 3|4)`` uint8, C-contiguous."""
    arr = _single_from_batch(arr, error)
    _check_image_shape(arr, error)
    return _gray_or_color_to_rgb(_pixels_to_uint8(arr, error))
