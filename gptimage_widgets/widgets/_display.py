"""Display helpers shared by the widgets: small encoded copies of images.

:func:`thumbnail` / :func:`display_bytes`: full-resolution arrays stay in the kernel; only a
downscaled JPEG (or PNG, when there is alpha) crosses the wire (gallery tiles and preview, the
studio's reference strip and partial images).

Widget modules import helpers from each other only through this module
(``tests/test_layering.py`` checks it).
"""

from __future__ import annotations

import numpy as np
from PIL import Image as PILImage

from ..imaging import encode_image

__all__ = ["display_bytes", "thumbnail"]


def thumbnail(image: np.ndarray, max_edge: int) -> np.ndarray:
    """Downscale an image so that its longest edge is at most ``max_edge`` (never upscale).

    Parameters
    ----------
    image : np.ndarray
        (H, W, 3) or (H, W, 4) uint8.
    max_edge : int
        Longest edge of the output, in pixels (> 0).

    Returns
    -------
    np.ndarray
        (h, w, C) uint8 with ``max(h, w) <= max_edge``, aspect ratio kept; ``image`` itself
        when it is already small enough.
    """
    height, width = image.shape[:2]
    if max(height, width) <= max_edge:
        return image
    pil = PILImage.fromarray(image)
    pil.thumbnail((max_edge, max_edge), PILImage.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(pil)


def display_bytes(image: np.ndarray, max_edge: int, *, quality: int = 85) -> tuple[bytes, str]:
    """Encode a downscaled copy of ``image`` for an ``ipywidgets.Image``.

    Parameters
    ----------
    image : np.ndarray
        (H, W, 3) or (H, W, 4) uint8.
    max_edge : int
        Longest edge sent to the browser.
    quality : int
        JPEG quality (1-95) for opaque images.

    Returns
    -------
    (bytes, str)
        The encoded image and its format for the widget's ``format`` trait: ``"jpeg"`` for
        RGB, ``"png"`` when there is an alpha channel (JPEG would drop it).
    """
    small = thumbnail(image, max_edge)
    if small.ndim == 3 and small.shape[2] == 4:
        return encode_image(small, "png"), "png"
    return encode_image(small, "jpeg", quality=quality), "jpeg"
