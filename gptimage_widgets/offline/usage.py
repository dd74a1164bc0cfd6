"""Token ``usage`` the offline server reports for GPT image models.

Owns: which models report usage (token-billed ones), and the plausible counts: ~4 characters
per prompt token, 512-pixel tiles for input images, output tokens per image, and the tokens
of streamed partial images.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image

from ..catalog import ModelSpec
from .multipart import Part
from .parsing import ImageCall

__all__ = ["token_billed", "usage"]

#: Output tokens per 1024x1024 image by quality, when the catalog has no table for the model.
OUTPUT_TOKENS_1024 = {"low": 272, "medium": 1056, "high": 4160, "xhigh": 6240, "max": 8320}
PARTIAL_IMAGE_TOKENS = 100


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
    """Plausible token usage: ~4 characters per text token, tiles for input images."""
    text_tokens = max(1, math.ceil(len(settings["prompt"]) / 4)) if with_input else 0
    image_tokens = sum(_input_image_tokens(p) for p in call.images) if with_input else 0
    output = sum(_output_tokens(call.spec, settings["quality"], img) for img in images)
    output += PARTIAL_IMAGE_TOKENS * partials * len(images)
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
    """The catalog's table entry when it has one, else a per-pixel scaling of 1024x1024."""
    size = f"{image.shape[1]}x{image.shape[0]}"
    table = spec.pricing.output_tokens if spec.pricing else {}
    if quality in table and size in table[quality]:
        return int(table[quality][size])
    base = OUTPUT_TOKENS_1024.get(quality, OUTPUT_TOKENS_1024["medium"])
    return max(16, round(base * image.shape[0] * image.shape[1] / 1024**2))
