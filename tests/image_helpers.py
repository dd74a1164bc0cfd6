"""Test images: the one home for the arrays and PNG bytes the tests build uploads and answers from.

- :func:`png`: an array as PNG bytes (Pillow);
- :func:`noise`: a seeded random RGB(A) image;
- :func:`box_mask`: a bool mask, True inside a rectangle.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def png(array: np.ndarray) -> bytes:
    """``array`` ((H, W) or (H, W, 3|4) uint8, 0-255) as PNG bytes, encoded by Pillow."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def noise(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """Uniform random pixels, (height, width, channels) uint8 in 0-255, the same for a seed."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, channels), dtype=np.uint8)


def box_mask(height: int, width: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """(height, width) bool, True inside ``box`` = (x0, y0, x1, y1) (x1, y1 excluded)."""
    x0, y0, x1, y1 = box
    mask = np.zeros((height, width), bool)
    mask[y0:y1, x0:x1] = True
    return mask
