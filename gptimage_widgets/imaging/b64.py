"""Base64 decoding of image data: strict, ``data:`` URLs allowed, without extra copies.

Owns :func:`_b64decode` (pybase64 when installed, else the stdlib; ASCII ``str`` is decoded in
place, wrapped lines are tolerated, anything else outside the alphabet is an error).
"""

from __future__ import annotations

import base64
import binascii
import re
import sys
from typing import Any

from .messages import ErrorFactory

_pybase64: Any
try:  # optional speed-up (3-10x on tens of MB of base64)
    import pybase64 as _pybase64
except ImportError:  # pragma: no cover - exercised only without the extra
    _pybase64 = None


# ----------------------------------------------------------------------------- base64


def _b64decode(text: str | bytes | bytearray | memoryview, error: ErrorFactory) -> bytes:
    """Strict base64 (a ``data:`` URL prefix is allowed); bad input -> ``error``.

    ASCII ``str`` is decoded as it is: both pybase64 and ``binascii`` read its characters
    in place, so a 4K image's ~20 MB of base64 is not first copied into ``bytes``.
    """
    if isinstance(text, str) and not text.isascii():  # O(1): CPython flags ASCII strings
        raise error("the base64 text contains non-ASCII characters", "pass plain base64 text")
    payload = _without_data_url_prefix(bytes(text) if isinstance(text, memoryview) else text)
    try:
        return _strict_b64decode(payload)
    except (binascii.Error, ValueError):
        try:  # tolerate wrapped lines, reject everything else
            return _strict_b64decode(_without_whitespace(payload))
        except (binascii.Error, ValueError) as exc:
            raise error(f"invalid base64 ({exc})", "pass complete, unaltered base64 text") from exc


def _without_data_url_prefix(text: str | bytes | bytearray) -> str | bytes | bytearray:
    """The base64 part of a ``data:...;base64,`` URL; other text as it is (no copy)."""
    if isinstance(text, str):
        return text[text.find(",") + 1 :] if text.startswith("data:") else text
    return text[text.find(b",") + 1 :] if text[:5] == b"data:" else text


def _without_whitespace(text: str | bytes | bytearray) -> str | bytes:
    return "".join(text.split()) if isinstance(text, str) else b"".join(text.split())


def _strict_b64decode(text: str | bytes | bytearray) -> bytes:
    """Decode base64 that uses only the standard alphabet with correct padding."""
    if _pybase64 is not None:
        decoded: bytes = _pybase64.b64decode(text, validate=True)
        return decoded
    if sys.version_info >= (3, 11):  # strict_mode reads ASCII str in place
        return binascii.a2b_base64(text, strict_mode=True)
    if isinstance(text, str):  # Python 3.10: b64decode would first encode str to bytes
        return _strict_b64decode_str(text)
    return base64.b64decode(text, validate=True)


#: Standard-alphabet base64 with its padding at the end only (the length is checked apart).
_STRICT_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}\Z")


def _strict_b64decode_str(text: str) -> bytes:
    """Python 3.10's strict decode of ASCII ``str`` read in place: the alphabet and padding
    are checked by a regex (no copy), then ``binascii`` decodes the characters directly."""
    if len(text) % 4 or not _STRICT_B64.match(text):
        raise binascii.Error("not standard base64 (alphabet, padding or length)")
    return binascii.a2b_base64(text)
