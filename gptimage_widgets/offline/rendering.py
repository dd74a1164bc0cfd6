"""What the offline server answers to a valid images request: images, JSON body, SSE events.

Owns: reading uploads (a decompression-bomb guard), which defaults the server fills
(:data:`FILLED_DEFAULTS`, filled by :func:`gptimage_widgets.catalog.resolve_params`), the output
size (an edit follows its input, bounded by :func:`gptimage_widgets.catalog.largest_output_pixels`),
the settings echoed back, the synthetic images (from :mod:`.synth`), the non-streamed JSON body
and the streamed ``partial_image`` / ``completed`` events. The edit area of a mask is read with
:mod:`gptimage_widgets.masks`; token ``usage`` comes from :mod:`.usage`.
"""

from __future__ import annotations

import base64
import io
import math
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
from PIL import Image

from .. import catalog, masks
from ..errors import APIStatusError
from . import synth
from .multipart import Part
from .parsing import ImageCall
from .responses import HTTPResponse, api_error, sse
from .usage import token_billed, usage

__all__ = ["effective_params", "json_body", "stream_response"]

#: Largest decoded input image, in pixels (a decompression-bomb guard).
MAX_INPUT_PIXELS = 40_000_000
#: Parameters whose catalog default (:func:`gptimage_widgets.catalog.resolve_params`) the server
#: applies when a request leaves them out. Not ``response_format``: the kit's default
#: (``b64_json``) is not the API's (``url``). Not ``size`` for edits: the output follows the input.
FILLED_DEFAULTS = ("n", "size", "quality", "background", "output_format", "style", "complexity")

#: Settings a GPT image answer reports next to its images (body, and every stream event).
REPORTED_SETTINGS = ("size", "quality", "background", "output_format")
#: Stores an encoded image and returns its URL (DALL·E ``url`` responses).
StoreFile = Callable[[bytes], str]


def json_body(call: ImageCall, store: StoreFile) -> dict[str, Any]:
    """The JSON body of a non-streamed images response."""
    images, settings = _outputs(call)
    spec = call.spec
    data = [_image_item(call, image, settings, store) for image in images]
    body: dict[str, Any] = {"created": int(time.time()), "data": data}
    if "output_format" in spec.params:
        body.update({key: settings[key] for key in REPORTED_SETTINGS})
    if token_billed(spec):
        body["usage"] = usage(call, images, settings, partials=0)
    return body


def stream_response(call: ImageCall, *, truncate: bool = False) -> HTTPResponse:
    """A 200 whose chunks are the SSE events of ``call`` (``truncate``: no ``completed``)."""
    images, settings = _outputs(call)  # before the 200: input errors are still 400s
    chunks = _stream_events(call, images, settings, truncate=truncate)
    headers = [
        ("content-type", "text/event-stream; charset=utf-8"),
        ("cache-control", "no-cache"),
    ]
    return HTTPResponse(200, headers, chunks=chunks)


def _outputs(call: ImageCall) -> tuple[list[np.ndarray], dict[str, Any]]:
    """The final images ``(H, W, 3|4) uint8`` and the effective settings for the reply."""
    params = _with_defaults(call)
    if call.operation == "generate":
        width, height = _output_size(params.get("size"), None)
    else:
        base = _decode_upload(call.images[0])
        width, height = _output_size(params.get("size"), (base.shape[1], base.shape[0]))
    transparent = params.get("background") == "transparent"
    n = int(params.get("n") or 1)
    prompt = str(params.get("prompt") or "")
    if call.operation == "generate":
        images = [
            synth.generate_image(prompt, width, height, i, transparent=transparent)
            for i in range(n)
        ]
    elif call.operation == "edit":
        refs = [_decode_upload(p) for p in call.images[1:]]
        mask = _edit_mask(call.mask, base)
        images = [
            synth.edit_image(
                base,
                prompt,
                references=refs,
                mask=mask,
                size=(width, height),
                index=i,
                transparent=transparent,
            )
            for i in range(n)
        ]
    else:
        images = [synth.vary_image(base, width, height, i) for i in range(n)]
    settings = {
        "size": f"{width}x{height}",
        "quality": _reported_quality(params.get("quality")),
        "background": "transparent" if transparent else "opaque",
        "output_format": params.get("output_format") or "png",
        "output_compression": params.get("output_compression"),
        "response_format": params.get("response_format"),
        "partial_images": int(params.get("partial_images") or 0),
        "prompt": prompt,
    }
    return images, settings


def _image_item(
    call: ImageCall, image: np.ndarray, settings: Mapping[str, Any], store: StoreFile
) -> dict[str, Any]:
    spec = call.spec
    fmt = settings["output_format"] if "output_format" in spec.params else "png"
    encoded = synth.encode(image, fmt, settings["output_compression"])
    wants_url = bool(spec.response_formats) and (settings["response_format"] or "url") == "url"
    item: dict[str, Any] = (
        {"url": store(encoded)}
        if wants_url
        else {"b64_json": base64.b64encode(encoded).decode("ascii")}
    )
    if "style" in spec.params:  # DALL·E 3 rewrites every prompt (style is its own param)
        item["revised_prompt"] = _revised_prompt(settings["prompt"], call.params.get("style"))
    return item


def _stream_events(
    call: ImageCall,
    images: list[np.ndarray],
    settings: Mapping[str, Any],
    *,
    truncate: bool,
) -> Iterator[bytes]:
    """SSE chunks: per image, ``partial_images`` previews then a ``completed`` event."""
    prefix = "image_generation" if call.operation == "generate" else "image_edit"
    partials = settings["partial_images"]
    for number, image in enumerate(images):
        for index in range(partials):
            preview = synth.blur_for_partial(image, index, partials)
            yield _event(prefix, "partial_image", preview, settings, partial_image_index=index)
        if truncate:
            return
        spent = usage(call, [image], settings, partials=partials, with_input=number == 0)
        yield _event(prefix, "completed", image, settings, usage=spent)


def _event(
    prefix: str, kind: str, image: np.ndarray, settings: Mapping[str, Any], **extra: Any
) -> bytes:
    """One ``<prefix>.<kind>`` SSE event carrying ``image`` and the reported settings."""
    payload = {
        "type": f"{prefix}.{kind}",
        "b64_json": _b64(image, settings),
        "created_at": int(time.time()),
        **{key: settings[key] for key in REPORTED_SETTINGS},
        **extra,
    }
    return sse(f"{prefix}.{kind}", payload)


# --------------------------------------------------------------------------- inputs


def _decode_upload(part: Part) -> np.ndarray:
    """An uploaded image as ``(H, W, 3|4) uint8`` (RGBA when it has any alpha)."""
    try:
        with Image.open(io.BytesIO(part.data)) as pil:
            if pil.width * pil.height > MAX_INPUT_PIXELS:
                raise api_error(
                    400,
                    f"'{part.name}' is {pil.width}x{pil.height}; send at most "
                    f"{MAX_INPUT_PIXELS:,} pixels.",
                    param=part.name,
                    code="invalid_image",
                )
            has_alpha = pil.mode in ("RGBA", "LA", "PA") or "transparency" in pil.info
            return np.asarray(pil.convert("RGBA" if has_alpha else "RGB"))
    except APIStatusError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        raise api_error(
            400,
            f"'{part.name}' ({part.filename}) is not a readable PNG, JPEG or WebP image.",
            param=part.name,
            code="invalid_image",
        ) from None


def _edit_mask(mask_part: Part | None, base: np.ndarray) -> np.ndarray | None:
    """``(H, W) bool`` edit area of ``base`` (``(H, W, 3|4) uint8``), True = replace.

    The mask's alpha-0 pixels, else the image's own alpha-0 pixels (None when it has none),
    read with :mod:`gptimage_widgets.masks` (OpenAI's convention: alpha 0 = edit).
    """
    if mask_part is None:
        if base.shape[2] == 4:
            own = masks.mask_from_alpha(base[..., 3])
            return own if bool(own.any()) else None
        return None
    mask = _decode_upload(mask_part)
    if mask.shape[2] != 4:
        raise api_error(
            400,
            "The mask has no alpha channel; send an RGBA PNG whose fully "
            "transparent pixels (alpha 0) mark the area to edit.",
            param="mask",
            code="invalid_image",
        )
    if mask.shape[:2] != base.shape[:2]:
        raise api_error(
            400,
            f"The mask is {mask.shape[1]}x{mask.shape[0]} but the image is "
            f"{base.shape[1]}x{base.shape[0]}; they must be the same size.",
            param="mask",
            code="invalid_image",
        )
    return masks.mask_from_rgba(mask)


def effective_params(call: ImageCall) -> dict[str, Any]:
    """The parameters the server renders ``call`` with: as sent, plus the defaults it fills.

    For the request log (:attr:`~.responses.RequestRecord.params`): e.g. a 2.6 request without
    ``complexity`` is rendered with the catalog default ``"high"``. Without ``prompt``.
    """
    params = _with_defaults(call)
    params.pop("prompt", None)
    return params


def _with_defaults(call: ImageCall) -> dict[str, Any]:
    """``call.params`` completed by :func:`catalog.resolve_params` for :data:`FILLED_DEFAULTS`."""
    fill = [n for n in FILLED_DEFAULTS if not (n == "size" and call.operation == "edit")]
    return catalog.resolve_params(call.spec, call.operation, call.params, fill=fill)


def _output_size(size: str | None, input_size: tuple[int, int] | None) -> tuple[int, int]:
    """``(width, height)``: the requested size, else the input's (edits), else 1024x1024.

    Bounded by :func:`gptimage_widgets.catalog.largest_output_pixels` (an input larger than
    that is scaled down, keeping its aspect ratio).
    """
    ceiling = catalog.largest_output_pixels()
    parsed = catalog.parse_size(size) if size else None
    if parsed is None:
        parsed = _fit_pixels(*input_size, ceiling) if input_size else (1024, 1024)
    width, height = parsed
    if not (width > 0 and height > 0 and width * height <= ceiling):
        raise api_error(
            400,
            f"Invalid size {width}x{height}: the offline server makes images of "
            f"at most {ceiling:,} pixels.",
            param="size",
            code="invalid_value",
        )
    return width, height


def _fit_pixels(width: int, height: int, ceiling: int) -> tuple[int, int]:
    """``width`` x ``height`` scaled down (never up) to at most ``ceiling`` pixels."""
    scale = min(1.0, math.sqrt(ceiling / (width * height)))
    return max(1, int(width * scale)), max(1, int(height * scale))


def _reported_quality(quality: str | None) -> str:
    return "medium" if quality in (None, "auto") else str(quality)


def _b64(image: np.ndarray, settings: Mapping[str, Any]) -> str:
    encoded = synth.encode(image, settings["output_format"], settings["output_compression"])
    return base64.b64encode(encoded).decode("ascii")


def _revised_prompt(prompt: str, style: str | None) -> str:
    look = "natural, photographic" if style == "natural" else "vivid, richly detailed"
    return f"{prompt.strip().rstrip('.')}. Rendered in a {look} style with balanced composition."
