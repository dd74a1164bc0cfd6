"""Resizing to a pixel budget: an image and its mask, identically, never upscaled.

Owns :data:`DEFAULT_MAX_PIXELS` and :func:`downscale_to_budget`.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
from PIL import Image

from .. import masks
from ..catalog import largest_output_pixels
from .encode import _check_int_option
from .inputs import mask_to_array, to_array
from .messages import ImageArray, MaskArray

#: The default budget of ``downscale_to_budget``: the largest output image of the built-in
#: models (gpt-image-2's 3840x2160), from ``gptimage_widgets/models.json`` through
#: :func:`gptimage_widgets.catalog.largest_output_pixels`, read when this module is imported.
DEFAULT_MAX_PIXELS: Final = largest_output_pixels()


# ----------------------------------------------------------------------------- resizing


def _fit_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """The largest ``(w, h)`` with the same aspect (floored) and ``w * h <= max_pixels``."""
    scale = math.sqrt(max_pixels / (width * height))
    new_width = max(1, math.floor(width * scale + 1e-9))
    new_height = max(1, math.floor(height * scale + 1e-9))
    return new_width, max(1, min(new_height, max_pixels // new_width))


def _resize_mask(mask: MaskArray, size: tuple[int, int]) -> MaskArray:
    """Area-average the mask to ``size`` and keep pixels covered at least half."""
    plane = Image.fromarray(mask.astype(np.uint8) * np.uint8(255))
    return masks.mask_from_luminance(np.asarray(plane.resize(size, Image.Resampling.BOX)))


def downscale_to_budget(
    image: Any, mask: Any = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[ImageArray, MaskArray | None, float]:
    """Shrink an image (and its mask, identically) to at most ``max_pixels`` pixels.

    Never upscales; keeps the aspect ratio (sizes are floored). The image is resampled with
    Lanczos (Pillow premultiplies alpha), the mask by area average and a 0.5 threshold, onto
    the same pixel grid.

    Parameters
    ----------
    image
        Any accepted image input.
    mask
        None or any mask input of the image's size.
    max_pixels
        The pixel budget (width * height), a positive integer.

    Returns
    -------
    image : np.ndarray
        ``(h, w, 3|4)`` ``uint8`` (the input array itself when it already fits).
    mask : np.ndarray or None
        ``(h, w)`` bool, or None when no mask was given.
    scale : float
        ``new_width / old_width`` (1.0 when nothing was resized).
    """
    budget = _check_int_option("max_pixels", max_pixels, 1, 2**62)
    pixels = to_array(image)
    height, width = pixels.shape[:2]
    selected = None if mask is None else mask_to_array(mask, (width, height))
    if width * height <= budget:
        return pixels, selected, 1.0
    size = _fit_size(width, height, budget)
    resized = np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.LANCZOS))
    resized_mask = None if selected is None else _resize_mask(selected, size)
    return resized, resized_mask, size[0] / width
