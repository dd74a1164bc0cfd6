"""Error messages about image data: how inputs are described and which error is raised.

Owns :class:`ErrorFactory` (one per source of image data: user input raises
:class:`~gptimage_widgets.errors.ValidationError` naming the parameter, the value and the fix;
server output raises :class:`~gptimage_widgets.errors.ResponseDecodeError` ending in "retry the
request"), and the descriptions used in every message (never pixels, never a whole string,
never an object's memory address).
"""

from __future__ import annotations

import os
import re
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from ..errors import GPTImageError, ResponseDecodeError, ValidationError

ImageArray = npt.NDArray[np.uint8]
MaskArray = npt.NDArray[np.bool_]


class ErrorFactory(Protocol):
    """Makes the error for one source of image data.

    ``message`` says what is wrong; ``fix`` is the user's next step for input data. Server
    output ignores ``fix``: the one next step there is to retry the request.
    """

    def __call__(self, message: str, fix: str | None = None) -> GPTImageError: ...


#: zlib level for PNG encoding. Level 1 is encoded with zlib's ``Z_RLE`` strategy (see
#: :func:`_png_options`): 0.34-0.52x the time of Pillow's default save for about its bytes


#: The next step for an image a server sent that cannot be decoded; it ends those messages.
_SERVER_IMAGE_FIX: Final = "retry the request"


#: How Pillow and NumPy name objects in messages (``<_io.BytesIO object at 0x7f...>``): the
#: address differs on every run and the object means nothing to the user.
_OBJECT_REPR: Final = re.compile(r"<[^<>]*\bat 0x[0-9a-fA-F]+>")


# ----------------------------------------------------------------------------- messages


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _describe(x: Any) -> str:
    """A short description of ``x`` for messages: never its pixels, never a whole string."""
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape} and dtype {x.dtype}"
    if isinstance(x, Image.Image):
        return f"a PIL image of mode {x.mode!r} and size {x.width}x{x.height}"
    if isinstance(x, (bytes, bytearray, memoryview)):
        return _describe_bytes(x)
    if isinstance(x, str):
        return f"the string {_shorten(x)!r}"
    if isinstance(x, os.PathLike):
        return f"the path {_shorten(os.fspath(x))!r}"
    return f"an object of type {type(x).__module__}.{type(x).__qualname__}"


def _describe_bytes(data: bytes | bytearray | memoryview) -> str:
    """``"1,234 bytes that start with b'GIF8'"`` (the same text for the same input, every run)."""
    kind = "" if isinstance(data, bytes) else f"a {type(data).__name__} of "
    return f"{kind}{len(data):,} bytes that start with {bytes(data[:8])!r}"


def _without_object_reprs(text: str) -> str:
    """``text`` with object reprs such as ``<_io.BytesIO object at 0x7f...>`` replaced."""
    return _OBJECT_REPR.sub("the data", text)


def _pillow_reason(exc: BaseException) -> str:
    """Why Pillow (or NumPy) failed, as stable text: never an object repr or its address."""
    if isinstance(exc, UnidentifiedImageError):
        return "Pillow cannot identify the format from its header"
    text = _without_object_reprs(str(exc)).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _invalid(param: str, x: Any) -> ErrorFactory:
    """A factory of ``ValidationError`` for user input ``x`` given as ``param``."""

    def make(message: str, fix: str | None = None) -> GPTImageError:
        text = f"{param}: {message}" if fix is None else f"{param}: {message}; {fix}"
        return ValidationError(text, param=param, value=_describe(x))

    return make


def _undecodable(message: str, fix: str | None = None) -> GPTImageError:
    """The error for image data a server sent: advice for user files (``fix``) is dropped."""
    return ResponseDecodeError(
        f"the server's image could not be decoded: {message}; {_SERVER_IMAGE_FIX}"
    )
