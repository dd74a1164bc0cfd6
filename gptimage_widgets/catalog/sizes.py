"""Sizes: the one ``"WIDTHxHEIGHT"`` parser.

Every module that reads a size string (validation, pricing, the form, the offline server, the
catalog's own ``size_presets`` check) calls :func:`parse_size`. The limits a size must meet
are data: a model's ``size_presets``, ``size_auto`` and ``custom_size`` in ``models.json``;
:func:`gptimage_widgets.catalog.largest_output_pixels` gives the largest output any
registered model makes. Pure module: stdlib only.
"""

from __future__ import annotations

from .._messages import short_repr
from ..errors import ValidationError

__all__ = ["parse_size"]

_MAX_DIGITS = 9


def parse_size(size: str) -> tuple[int, int] | None:
    """``"1024x1536"`` -> ``(1024, 1536)``; ``"auto"`` -> None.

    Parameters
    ----------
    size : str
        ``"auto"`` or ``"WIDTHxHEIGHT"``: positive whole numbers (ASCII digits, no leading
        zero, at most 9 digits) joined by a lowercase ``x``.

    Returns
    -------
    tuple of int or None
        ``(width, height)`` in pixels, or None for ``"auto"``.

    Raises
    ------
    ValidationError
        For anything else (``param="size"``), with an example of the expected form.
    """
    if isinstance(size, str) and size == "auto":
        return None
    if isinstance(size, str):
        width, sep, height = size.partition("x")
        if sep and _is_positive_decimal(width) and _is_positive_decimal(height):
            return int(width), int(height)
    raise ValidationError(
        f"size {short_repr(size)} is not a size; write 'auto' or WIDTHxHEIGHT like '1024x1536'",
        param="size",
        value=size,
    )


def _is_positive_decimal(text: str) -> bool:
    return (
        text.isascii() and text.isdigit() and not text.startswith("0") and len(text) <= _MAX_DIGITS
    )
