"""Images and masks: every accepted input form <-> NumPy arrays and upload bytes.

Pure functions on NumPy and Pillow (pybase64 when installed, else the stdlib). This package
re-exports the public names of its modules:

- ``inputs.py``: every accepted input form -> arrays (``to_array``, ``mask_to_array``...);
- ``pixels.py``: dtype, range and shape rules of image arrays;
- ``decode.py``: opening files with Pillow (formats, bomb check, EXIF, modes), server decode;
- ``b64.py``: strict base64; ``encode.py``: PNG/JPEG/WebP encoding; ``resize.py``: pixel
  budgets; ``messages.py``: how inputs are described in errors.

The mask convention itself (True = replace <-> alpha 0 = edit) is
``gptimage_widgets/masks.py``.

Image arrays
    ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA, ``uint8`` in ``[0, 255]``, C-contiguous. Gray
    inputs become RGB; alpha is kept exactly when the input has it (an RGBA image whose alpha
    is all 255 stays RGBA) and never invented.
Accepted image inputs
    ``np.ndarray`` ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)``, ``(H, W, 4)`` of ``uint8``, other
    integers in ``[0, 255]``, ``bool`` (False/True -> 0/255) or floats in ``[0, 1]``; a
    ComfyUI-style ``(B, H, W, C)`` batch; objects with ``__array__`` (e.g. CPU torch tensors);
    ``PIL.Image`` of any mode; a path (``str`` or ``os.PathLike``); a ``data:image/...;base64``
    URL; PNG/JPEG/WebP (also GIF/BMP/TIFF) bytes, ``bytearray`` or ``memoryview``; an
    ``ImageResult`` (anything with an ``.images`` list).
Float -> uint8
    ``uint8 = round_half_to_even(x * 255)``, so ``k / 255`` round-trips exactly. Values within
    half a step (``1 / 510``) outside ``[0, 1]`` are clipped; NaN, inf or values further out are
    a ``ValidationError``.
Orientation
    Encoded files (paths, bytes) are turned upright by their EXIF orientation, as every image
    viewer and ComfyUI's loader do; ``PIL.Image`` objects and arrays are taken as they are.
Masks (``(H, W)`` bool, True = replace)
    2-D arrays: nonzero/True = replace (floats: ``>= 0.5``). Images *with* an alpha channel
    (RGBA/LA arrays, PIL images, PNG files) follow OpenAI: alpha 0 = replace. Images *without*
    alpha (gray or RGB) follow ComfyUI: white = replace (luminance ``>= 128``). A black/white
    mask saved as RGBA with opaque alpha therefore reads as empty: drop its alpha first.
Errors
    Bad user input raises :class:`~gptimage_widgets.errors.ValidationError` naming the value and
    the fix; undecodable server output (``decode_image``, ``decode_b64_image``) raises
    :class:`~gptimage_widgets.errors.ResponseDecodeError`.
"""

from __future__ import annotations

from .decode import decode_b64_image, decode_image, sniff_format
from .encode import (
    DEFAULT_JPEG_QUALITY,
    DEFAULT_PNG_COMPRESS_LEVEL,
    DEFAULT_WEBP_QUALITY,
    encode_image,
    mask_to_openai_png,
)
from .inputs import (
    ACCEPTED_IMAGE_FORMS,
    ACCEPTED_MASK_FORMS,
    image_size,
    mask_to_array,
    to_array,
    to_arrays,
    to_comfy_batch,
    to_pil,
)
from .messages import ImageArray as ImageArray  # the array types, for annotations
from .messages import MaskArray as MaskArray
from .resize import DEFAULT_MAX_PIXELS, downscale_to_budget

__all__ = [
    "ACCEPTED_IMAGE_FORMS",
    "ACCEPTED_MASK_FORMS",
    "DEFAULT_JPEG_QUALITY",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_PNG_COMPRESS_LEVEL",
    "DEFAULT_WEBP_QUALITY",
    "decode_b64_image",
    "decode_image",
    "downscale_to_budget",
    "encode_image",
    "image_size",
    "mask_to_array",
    "mask_to_openai_png",
    "sniff_format",
    "to_array",
    "to_arrays",
    "to_comfy_batch",
    "to_pil",
]
