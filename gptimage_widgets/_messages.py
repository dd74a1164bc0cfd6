"""How values appear in error messages: :func:`short_repr`, a bounded ``repr``.

Used by validation, the input checks and the catalog's size parser, so a message never
carries a megabyte string or an image's pixels. Pure module: stdlib only.
"""

from __future__ import annotations

import reprlib
from typing import Any

__all__ = ["short_repr"]

_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlist = 6


def short_repr(value: Any) -> str:
    """A ``repr`` of at most about 60 characters (lists: 6 items); never raises."""
    try:
        return _repr.repr(value)
    except Exception:
        return f"<{type(value).__name__} object>"
