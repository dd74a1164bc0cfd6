"""How values appear in error messages: :func:`short_repr`, a bounded ``repr``; and where
a warning points: :func:`user_stacklevel`, the user's line.

Used by validation, the input checks and the catalog's size parser, so a message never
carries a megabyte string or an image's pixels. Pure module: stdlib only.
"""

from __future__ import annotations

import contextlib
import os
import reprlib
import sys
from typing import Any

__all__ = ["short_repr", "user_stacklevel"]

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


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
#: Frames skipped besides the package's: the machinery of its ``with`` blocks.
_PLUMBING = {os.path.abspath(contextlib.__file__)}


def user_stacklevel() -> int:
    """``warnings.warn``'s `stacklevel` for the first caller outside this package (and
    :mod:`contextlib`).

    Call it in the function that warns: the warning then names the user's line (the client
    constructor call, ``store.search()``...), however deep inside the package it was raised.
    """
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and _inside(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    return level


def _inside(filename: str) -> bool:
    path = os.path.abspath(filename)
    return path.startswith(_PACKAGE_DIR) or path in _PLUMBING
