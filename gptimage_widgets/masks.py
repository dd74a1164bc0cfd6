"""The mask convention: ComfyUI-style arrays <-> OpenAI's RGBA alpha, in one place.

Two conventions meet in this package:

ComfyUI / NumPy (what users pass and what :class:`~gptimage_widgets.maskops.MaskDocument`
holds)
    A 2-D ``(H, W)`` array; nonzero/True = replace (the area the model edits). Float planes
    threshold at 0.5; a gray or RGB *image* without alpha reads white = replace (luminance
    ``>= 128``).
OpenAI (what the edit endpoints take and what the offline server reads)
    An RGBA image of the input's size whose fully transparent pixels (alpha 0) mark the area
    to edit; every other alpha keeps the pixel. See
    https://platform.openai.com/docs/guides/image-generation#edit-images ("the transparent
    areas of the mask will be replaced").

Every conversion between the two lives here: the client builds its upload with
:func:`openai_mask_rgba`, ``imaging.mask_to_array`` reads inputs with :func:`mask_from_plane`
and :func:`mask_from_pixels`, and a server reads an uploaded mask with :func:`mask_from_rgba`.
Parsing files and checking value ranges stay in ``imaging``. Pure NumPy and Pillow.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

__all__ = [
    "EDIT_ALPHA",
    "KEEP_ALPHA",
    "MASK_FLOAT_THRESHOLD",
    "MASK_WHITE_THRESHOLD",
    "alpha_from_mask",
    "mask_from_alpha",
    "mask_from_luminance",
    "mask_from_pixels",
    "mask_from_plane",
    "mask_from_rgba",
    "openai_mask_rgba",
]

MaskArray = npt.NDArray[np.bool_]

#: OpenAI's alpha for "edit this pixel" (fully transparent).
EDIT_ALPHA: Final = 0
#: The alpha this package writes for "keep this pixel" (fully opaque; any nonzero alpha keeps).
KEEP_ALPHA: Final = 255
#: Gray/RGB images without alpha: luminance at or above this (0-255) = replace (white).
MASK_WHITE_THRESHOLD: Final = 128
#: Float planes: values at or above this (in [0, 1]) = replace.
MASK_FLOAT_THRESHOLD: Final = 0.5


def mask_from_alpha(alpha: np.ndarray) -> MaskArray:
    """OpenAI alpha -> mask.

    Parameters
    ----------
    alpha : np.ndarray
        ``(H, W)`` integer alpha plane (``uint8`` in ``[0, 255]``).

    Returns
    -------
    np.ndarray
        ``(H, W)`` bool, True (replace) exactly where alpha is 0.
    """
    return np.asarray(alpha) == EDIT_ALPHA


def mask_from_rgba(rgba: np.ndarray) -> MaskArray:
    """An OpenAI mask image -> mask: the edit area of an ``(H, W, 4)`` RGBA array.

    Parameters
    ----------
    rgba : np.ndarray
        ``(H, W, 4)`` ``uint8``; only the alpha channel is read.

    Returns
    -------
    np.ndarray
        ``(H, W)`` bool, True where alpha is 0.

    Raises
    ------
    ValueError
        ``rgba`` is not ``(H, W, 4)`` (a mask without alpha has no edit area under this
        convention; callers say so in their own words first).
    """
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"an OpenAI mask is (H, W, 4) RGBA, got shape {rgba.shape}")
    return mask_from_alpha(rgba[:, :, 3])


def alpha_from_mask(mask: np.ndarray) -> npt.NDArray[np.uint8]:
    """Mask -> OpenAI alpha.

    Parameters
    ----------
    mask : np.ndarray
        ``(H, W)`` bool, True = replace.

    Returns
    -------
    np.ndarray
        ``(H, W)`` ``uint8``: :data:`EDIT_ALPHA` (0) where ``mask`` is True, :data:`KEEP_ALPHA`
        (255) elsewhere.
    """
    return np.where(mask, np.uint8(EDIT_ALPHA), np.uint8(KEEP_ALPHA))


def openai_mask_rgba(mask: np.ndarray) -> npt.NDArray[np.uint8]:
    """Mask -> the RGBA image OpenAI's edit endpoints take (encode it as PNG to upload).

    Parameters
    ----------
    mask : np.ndarray
        ``(H, W)`` bool, True = replace.

    Returns
    -------
    np.ndarray
        ``(H, W, 4)`` ``uint8``: ``(255, 255, 255, 0)`` where ``mask`` is True and
        ``(0, 0, 0, 255)`` elsewhere, so it reads the same under both conventions (white =
        replace without alpha, alpha 0 = replace with it).
    """
    alpha = alpha_from_mask(mask)
    rgba = np.empty((*alpha.shape, 4), dtype=np.uint8)
    rgba[:, :, :3] = (KEEP_ALPHA - alpha)[:, :, None]
    rgba[:, :, 3] = alpha
    return rgba


def mask_from_plane(plane: np.ndarray) -> MaskArray:
    """A ComfyUI-style 2-D array -> mask: bool as is, integers nonzero, floats ``>= 0.5``.

    Parameters
    ----------
    plane : np.ndarray
        ``(H, W)`` bool, integer, or float in ``[0, 1]`` (ranges are the caller's check).

    Returns
    -------
    np.ndarray
        ``(H, W)`` bool, C-contiguous.

    Raises
    ------
    TypeError
        Any other dtype.
    """
    kind = plane.dtype.kind
    if kind == "b":
        return np.ascontiguousarray(plane)
    if kind in "iu":
        return plane != 0
    if kind == "f":
        return plane >= MASK_FLOAT_THRESHOLD
    raise TypeError(f"dtype {plane.dtype} is not a mask dtype")


def mask_from_luminance(gray: np.ndarray) -> MaskArray:
    """A gray image without alpha -> mask: white = replace.

    Parameters
    ----------
    gray : np.ndarray
        ``(H, W)`` ``uint8`` luminance in ``[0, 255]``.

    Returns
    -------
    np.ndarray
        ``(H, W)`` bool, True where ``gray >= 128``.
    """
    return np.asarray(gray) >= MASK_WHITE_THRESHOLD


def mask_from_pixels(pixels: np.ndarray) -> MaskArray:
    """An image used as a mask -> mask: alpha 0 = replace with alpha, else white = replace.

    Parameters
    ----------
    pixels : np.ndarray
        ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA ``uint8``.

    Returns
    -------
    np.ndarray
        ``(H, W)`` bool: :func:`mask_from_rgba` for RGBA; for RGB Pillow's ITU-R 601
        luminance (``L = R * 299/1000 + G * 587/1000 + B * 114/1000``) ``>= 128``.
    """
    if pixels.shape[2] == 4:
        return mask_from_rgba(pixels)
    gray = np.asarray(Image.fromarray(np.ascontiguousarray(pixels)).convert("L"))
    return mask_from_luminance(gray)
