"""Named input types for public signatures: what an image or a mask argument may be.

Owns the type aliases :data:`ImageInput`, :data:`ImageInputs` and :data:`MaskInput`. The rules
that accept or refuse a value live in :mod:`gptimage_widgets.imaging` (``to_arrays``,
``mask_to_array``); these aliases only name them for readers, IDEs and type checkers.

Pure module: numpy, pillow and the standard library; ``ImageResult`` is named for type
checkers only, so any core module may import this one without an import cycle.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeAlias, Union

import numpy as np
from PIL import Image

if TYPE_CHECKING:  # pragma: no cover - names for type checkers only
    from .results import ImageResult

__all__ = ["ImageInput", "ImageInputs", "MaskInput"]

#: One image: a NumPy array ``(H, W)``, ``(H, W, 1|3|4)`` uint8 or float in [0, 1] (or a
#: ``(B, H, W, C)`` batch), a ``PIL.Image``, a file path, PNG/JPEG/WebP bytes or an
#: ``ImageResult`` (see ``imaging.ACCEPTED_IMAGE_FORMS``).
ImageInput: TypeAlias = Union[
    np.ndarray,
    Image.Image,
    str,
    os.PathLike[str],
    bytes,
    bytearray,
    memoryview,
    "ImageResult",
]

#: One image input or a list/tuple of them (``edit`` takes several reference images).
ImageInputs: TypeAlias = ImageInput | Sequence[ImageInput]

#: A mask: a 2-D array (True/nonzero = replace; ComfyUI's convention), an RGBA array, PIL
#: image or PNG (alpha 0 = replace; OpenAI's convention), or a gray/RGB image, path or bytes
#: (white = replace). See ``imaging.ACCEPTED_MASK_FORMS``.
MaskInput: TypeAlias = (
    np.ndarray | Image.Image | str | os.PathLike[str] | bytes | bytearray | memoryview
)
