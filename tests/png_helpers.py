"""Test images as PNG bytes: the one encoder the tests use to build uploads and answers."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def png(array: np.ndarray) -> bytes:
    """``array`` ((H, W) or (H, W, 3|4) uint8, 0-255) as PNG bytes, encoded by Pillow."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()
