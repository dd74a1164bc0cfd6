"""Token ``usage`` the offline server reports for GPT image models.

Owns: which models report usage (token-billed ones) and how an answer's counts are put
together. The counts themselves come from :mod:`gptimage_widgets.pricing` — prompt tokens,
image-output tokens per (quality, size), tokens per streamed partial image — so that
:func:`gptimage_widgets.pricing.cost_from_usage` of an offline answer gives the same price as
the estimate made before the request. Input images count 512-pixel tiles, as OpenAI's vision
guide describes (https://platform.openai.com/docs/guides/images-vision#calculating-costs).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image

from .. import catalog, pricing
from ..catalog import ModelSpec
from .multipart import Part
from .parsing import ImageCall

__all__ = ["token_billed", "usage"]

#: The quality whose count stands in for one that no model of the family has a price for.
FALLBACK_QUALITY = "high"


def token_billed(spec: ModelSpec) -> bool:
    """GPT image models report token ``usage``; DALL·E models bill per image and do not."""
    return bool(spec.family == "gpt-image")


def usage(
    call: ImageCall,
    images: list[np.ndarray],
    settings: Mapping[str, Any],
    *,
    partials: int,
    with_input: bool = True,
) -> dict[str, Any]:
    """OpenAI's ``usage`` object for ``images`` (each ``(H, W, C) uint8``) made by ``call``.

    Parameters
    ----------
    call : ImageCall
    images : list of numpy.ndarray
        The output images; their shapes give the sizes.
    settings : Mapping
        The reply's settings; ``"prompt"`` and ``"quality"`` are used.
    partials : int
        Partial images streamed per image.
    with_input : bool
        Count the prompt and input images (False for the 2nd.. events of a stream).
    """
    text_tokens = max(1, pricing.prompt_tokens(settings["prompt"])) if with_input else 0
    image_tokens = sum(_input_image_tokens(p) for p in call.images) if with_input else 0
    output = sum(_output_tokens(call.spec, settings["quality"], img) for img in images)
    output += pricing.PARTIAL_IMAGE_TOKENS * partials * len(images)
    return {
        "input_tokens": text_tokens + image_tokens,
        "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens},
        "output_tokens": output,
        "output_tokens_details": {"image_tokens": output, "text_tokens": 0},
        "total_tokens": text_tokens + image_tokens + output,
    }


def _input_image_tokens(part: Part) -> int:
    """65 + 129 per 512-pixel tile of the upload (read from its header only)."""
    try:
        with Image.open(io.BytesIO(part.data)) as pil:
            width, height = pil.size
    except (OSError, ValueError, SyntaxError):
        return 0
    return 65 + 129 * math.ceil(width / 512) * math.ceil(height / 512)


def _output_tokens(spec: ModelSpec, quality: str, image: np.ndarray) -> int:
    """:func:`pricing.output_image_tokens` for ``image``'s size.

    A model without prices (a preview) borrows the count of the first priced model of its
    family; a quality none of them prices counts as :data:`FALLBACK_QUALITY`.
    """
    size = f"{image.shape[1]}x{image.shape[0]}"
    family = [m for m in catalog.list_models() if m.family == spec.family and m is not spec]
    for wanted in (quality, FALLBACK_QUALITY):
        for model in (spec, *family):
            tokens = pricing.output_image_tokens(model, wanted, size)
            if tokens is not None:
                return max(1, tokens)
    return 1
