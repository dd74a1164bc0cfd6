"""Cost estimates before a request and actual costs from ``usage`` after it.

Prices are data: they live in the catalog (``get_model(name).pricing``, a ``Pricing`` with its
``as_of`` date, read from ``gptimage_widgets/models.json``). Nothing here knows a model by
name. This module is the one home of the billing assumptions that are not prices:
:data:`PARTIAL_IMAGE_TOKENS` (output tokens per streamed partial image) and the
reference-image token guesses.

:func:`estimate_cost` -- size and quality default to the model's
(:func:`gptimage_widgets.catalog.resolve_params`; the operation does not change the price).
Each image is priced at the first rule that applies:

1. the list price per image for that (quality, size), when the model's table has it;
2. output tokens for that (quality, size) x the image-output rate (models before gpt-image-2);
3. the 1024x1024 price (or token count) of that quality scaled by pixel count
   (custom sizes, parsed with :func:`gptimage_widgets.catalog.parse_size`).

``size="auto"`` is priced as 1024x1024. ``quality="auto"`` prices low, medium and high: the
range is low..high and medium the point estimate; a model with one priced quality and no
default uses it; otherwise the estimate is None. Per image, each partial image adds
:data:`PARTIAL_IMAGE_TOKENS` image-output tokens. Once per request: prompt text at
``ceil(len(prompt) / 4)`` text-input tokens, and each reference image at
:data:`REFERENCE_IMAGE_TOKENS` image-input tokens (:data:`REFERENCE_IMAGE_TOKENS_LOW` for the
low end of the range).

:func:`cost_from_usage` -- the actual cost from OpenAI's ``usage`` object: input and output
tokens split into text and image by their ``*_details``, each at its rate.

Arithmetic is done in :class:`decimal.Decimal` so that list prices times ``n`` and token
counts times rates come out exact before the final conversion to float. Core module: stdlib
and the catalog only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .catalog import ModelSpec, Pricing, get_model, parse_size, resolve_params
from .errors import ValidationError

__all__ = [
    "PARTIAL_IMAGE_TOKENS",
    "REFERENCE_IMAGE_TOKENS",
    "REFERENCE_IMAGE_TOKENS_LOW",
    "CostEstimate",
    "cost_from_usage",
    "estimate_cost",
    "output_image_tokens",
    "prompt_tokens",
]

#: Image-output tokens billed for each streamed partial image (OpenAI's image guide).
PARTIAL_IMAGE_TOKENS = 100

#: Image-input tokens assumed per reference image for the point and high estimates. OpenAI
#: publishes no formula; at high input fidelity (always on for gpt-image-2) a ~1024 px image was
#: measured at ~6,200 extra tokens on top of ~260 tile tokens. An assumption, not a price.
REFERENCE_IMAGE_TOKENS = 6_500

#: Image-input tokens per reference image for the low estimate: about two 512 px tiles at low
#: input fidelity.
REFERENCE_IMAGE_TOKENS_LOW = 260

_MILLION = Decimal(1_000_000)
_BASE_SIZE = "1024x1024"
_BASE_PIXELS = 1024 * 1024
_AUTO_QUALITY_RANGE = ("low", "medium", "high")  # low, point, high


@dataclass(frozen=True)
class CostEstimate:
    """An estimated cost in USD.

    Attributes
    ----------
    usd : float
        The point estimate.
    low_usd, high_usd : float
        The range (equal to ``usd`` when nothing is uncertain but the reference images).
    basis : str
        How the number was made, e.g. ``"list price per image (prices as of 2026-11-01)"``.
    """

    usd: float
    low_usd: float
    high_usd: float
    basis: str

    def __str__(self) -> str:
        if math.isclose(self.low_usd, self.high_usd):
            return f"~${self.usd:.3f}"
        return f"~${self.usd:.3f} (${self.low_usd:.3f}–${self.high_usd:.3f})"


# ---------------------------------------------------------------------- estimate


def estimate_cost(
    model: str | ModelSpec,
    operation: str = "generate",
    *,
    size: str | None = None,
    quality: str | None = None,
    n: int = 1,
    prompt: str | None = "",
    reference_images: int = 0,
    partial_images: int = 0,
) -> CostEstimate | None:
    """Estimate what one request will cost, before sending it.

    Parameters
    ----------
    model : str or ModelSpec
    operation : {"generate", "edit", "variation"}
        Does not change the price; kept for symmetry with the client.
    size, quality : str, optional
        ``None`` means the model's default. ``"auto"`` quality -> a low..high range.
    n : int
        Number of images, >= 1.
    prompt : str
        Counted as ``len(prompt) / 4`` text tokens.
    reference_images : int
        Number of input images (edits), >= 0.
    partial_images : int
        Streamed partial images per image, >= 0.

    Returns
    -------
    CostEstimate or None
        ``None`` when the catalog has no prices for this model, quality or size.
    """
    spec = model if isinstance(model, ModelSpec) else get_model(model)
    _check_counts(n=n, reference_images=reference_images, partial_images=partial_images)
    pricing = spec.pricing
    if pricing is None:
        return None
    size, quality = _size_and_quality(spec, size, quality)
    notes: list[str] = []
    if size in (None, "auto"):
        size = _BASE_SIZE
        notes.append("size auto priced as 1024x1024")
    qualities = _quality_range(spec, pricing, quality)
    if qualities is None:
        return None
    outputs = [_output_cost(pricing, q, size) for q in qualities]
    if any(out is None for out in outputs):
        return None
    per_image = [out[0] for out in outputs if out is not None]
    bases = [out[1] for out in outputs if out is not None]
    partial = _tokens_usd(PARTIAL_IMAGE_TOKENS * partial_images, pricing.image_output)
    text = _tokens_usd(prompt_tokens(prompt), pricing.text_input)
    ref_low = _tokens_usd(REFERENCE_IMAGE_TOKENS_LOW * reference_images, pricing.image_input)
    ref = _tokens_usd(REFERENCE_IMAGE_TOKENS * reference_images, pricing.image_input)
    fixed_low, fixed = text + ref_low, text + ref
    low, point, high = (
        (per_image[0] + partial) * n + fixed_low,
        (per_image[len(per_image) // 2] + partial) * n + fixed,
        (per_image[-1] + partial) * n + fixed,
    )
    basis = _basis(bases, qualities, notes, pricing, reference_images, partial_images)
    return CostEstimate(usd=float(point), low_usd=float(low), high_usd=float(high), basis=basis)


def _check_counts(**counts: Any) -> None:
    minimum = {"n": 1}
    for name, value in counts.items():
        low = minimum.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValidationError(
                f"{name}={value!r} is not a valid count for a cost estimate; "
                f"give an integer >= {low}",
                param=name,
                value=value,
            )


def _size_and_quality(
    spec: ModelSpec, size: str | None, quality: str | None
) -> tuple[str | None, str | None]:
    """The given size and quality, else the model's defaults (any operation: the operation
    does not change the price)."""
    resolved = resolve_params(spec, None, {"size": size, "quality": quality})
    return _text(resolved.get("size")), _text(resolved.get("quality"))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _quality_range(spec: ModelSpec, pricing: Pricing, quality: str | None) -> list[str] | None:
    """The qualities to price: one, or low/medium/high for ``"auto"``."""
    if quality == "auto":
        return list(_AUTO_QUALITY_RANGE)
    if quality is not None:
        return [quality]
    known = list(pricing.per_image) or list(pricing.output_tokens)
    return [known[0]] if len(known) == 1 else None


def _output_cost(pricing: Pricing, quality: str, size: str) -> tuple[Decimal, str] | None:
    """USD per image for one (quality, size), and a word on how it was found."""
    per_image = pricing.per_image.get(quality, {})
    tokens = pricing.output_tokens.get(quality, {})
    if size in per_image:
        return _dec(per_image[size]), "list price per image"
    if size in tokens and pricing.image_output is not None:
        return _tokens_usd(tokens[size], pricing.image_output), "output tokens x image-out rate"
    scale = _pixel_scale(size)
    if scale is None:
        return None
    if _BASE_SIZE in per_image:
        return _dec(per_image[_BASE_SIZE]) * scale, "1024x1024 price scaled by pixel count"
    if _BASE_SIZE in tokens and pricing.image_output is not None:
        usd = _tokens_usd(tokens[_BASE_SIZE], pricing.image_output) * scale
        return usd, "1024x1024 output tokens scaled by pixel count"
    return None


def prompt_tokens(prompt: str | None) -> int:
    """Text tokens of ``prompt``, counted as ``len(prompt) / 4`` rounded up (0 for None)."""
    return math.ceil(len(prompt or "") / 4)


def output_image_tokens(spec: ModelSpec, quality: str, size: str) -> int | None:
    """Image-output tokens of one image of ``quality`` and ``size`` ("WxH").

    The same rules as the estimate (table, list price, 1024x1024 scaled by pixel count), turned
    into tokens at the model's image-output rate, so that :func:`cost_from_usage` of a usage with
    this count gives back the estimate's price. None when the model has no such price or rate.
    """
    pricing = spec.pricing
    if pricing is None or pricing.image_output is None:
        return None
    found = _output_cost(pricing, quality, size)
    if found is None:
        return None
    return round(found[0] * _MILLION / _dec(pricing.image_output))


def _pixel_scale(size: str) -> Decimal | None:
    """``W*H / 1024²`` for a ``"WxH"`` size, else None."""
    try:
        parsed = parse_size(size)
    except ValidationError:
        return None
    if parsed is None:  # "auto"
        return None
    width, height = parsed
    return Decimal(width * height) / Decimal(_BASE_PIXELS)


def _basis(
    bases: list[str],
    qualities: list[str],
    notes: list[str],
    pricing: Pricing,
    reference_images: int,
    partial_images: int,
) -> str:
    parts = [" / ".join(dict.fromkeys(bases))]
    if len(qualities) > 1:
        parts.append("quality auto: range low..high, medium as the estimate")
    parts.extend(notes)
    if reference_images:
        parts.append(
            f"reference images assumed {REFERENCE_IMAGE_TOKENS_LOW}..{REFERENCE_IMAGE_TOKENS} "
            "image-input tokens each"
        )
    if partial_images:
        parts.append(f"{PARTIAL_IMAGE_TOKENS} output tokens per partial image")
    parts.append(f"prices as of {pricing.as_of}")
    return "; ".join(parts)


# ---------------------------------------------------------------------- actual cost


def cost_from_usage(model: str | ModelSpec, usage: Mapping[str, Any] | None) -> float | None:
    """The actual cost of a request from OpenAI's ``usage`` object.

    ``text input x text rate + image input x image-in rate + output x image-out rate``; output
    text tokens go at the text-output rate when the model has one. Input tokens without
    ``input_tokens_details`` count as text.

    Parameters
    ----------
    model : str or ModelSpec
    usage : Mapping
        ``{"input_tokens", "input_tokens_details": {"text_tokens", "image_tokens"},
        "output_tokens", "output_tokens_details"?: {"text_tokens", "image_tokens"},
        "total_tokens"}``.

    Returns
    -------
    float or None
        USD; ``None`` when there is no usage or the model has no token prices.
    """
    spec = model if isinstance(model, ModelSpec) else get_model(model)
    pricing = spec.pricing
    if usage is None or pricing is None or pricing.image_output is None:
        return None
    if not isinstance(usage, Mapping):
        raise ValidationError(
            f"usage must be a mapping like OpenAI's usage object, got {type(usage).__name__}; "
            "pass response['usage']",
            param="usage",
            value=type(usage).__name__,
        )
    text_in, image_in = _split_tokens(usage, "input_tokens", default_to="text")
    text_out, image_out = _split_tokens(usage, "output_tokens", default_to="image")
    if pricing.text_output is None:
        text_out, image_out = 0, text_out + image_out
    total = (
        _tokens_usd(text_in, pricing.text_input)
        + _tokens_usd(image_in, pricing.image_input)
        + _tokens_usd(text_out, pricing.text_output)
        + _tokens_usd(image_out, pricing.image_output)
    )
    return float(total)


def _split_tokens(usage: Mapping[str, Any], key: str, *, default_to: str) -> tuple[int, int]:
    """``(text_tokens, image_tokens)`` of ``usage[key]``, using ``usage[key + "_details"]``."""
    total = _token_count(usage, key, usage.get(key))
    details = usage.get(f"{key}_details")
    if not isinstance(details, Mapping):
        return (total, 0) if default_to == "text" else (0, total)
    text = _token_count(usage, f"{key}_details.text_tokens", details.get("text_tokens"))
    image = _token_count(usage, f"{key}_details.image_tokens", details.get("image_tokens"))
    if "image_tokens" not in details:
        image = max(total - text, 0)
    elif "text_tokens" not in details:
        text = max(total - image, 0)
    return text, image


def _token_count(usage: Mapping[str, Any], name: str, value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(
            f"usage {name}={value!r} is not a token count; expected an integer >= 0 "
            f"(usage keys: {sorted(usage)})",
            param=f"usage.{name}",
            value=value,
        )
    return value


# ---------------------------------------------------------------------- arithmetic


def _dec(value: float | int) -> Decimal:
    return Decimal(str(value))


def _tokens_usd(tokens: int, rate_per_million: float | None) -> Decimal:
    """USD for ``tokens`` at ``rate_per_million`` USD per 1M tokens (no rate -> 0)."""
    if rate_per_million is None or tokens == 0:
        return Decimal(0)
    return Decimal(tokens) * _dec(rate_per_million) / _MILLION
