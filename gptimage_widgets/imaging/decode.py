"""Opening and decoding image files with Pillow: bytes, paths and ``data:`` URLs -> pixels.

Owns which formats are opened, the decompression-bomb check (done here, from the header,
before any pixel is decoded), EXIF orientation, PIL mode -> ``(H, W, 3|4)`` uint8, the
zero-copy file over ``bytearray``/``memoryview`` downloads, and the public server-output
decoders :func:`decode_image`, :func:`decode_b64_image` and :func:`sniff_format`.
"""

from __future__ import annotations

import io
import os
import pathlib
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any, Final, cast

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .b64 import _b64decode
from .messages import ErrorFactory, ImageArray, _describe, _pillow_reason, _shorten, _undecodable
from .pixels import _gray_or_color_to_rgb

_PIL_FORMATS: Final = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")


_EXIF_ORIENTATION: Final = 0x0112
_SIXTEEN_BIT_MODES: Final = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_ALPHA_MODES: Final = frozenset({"RGBA", "LA", "La", "RGBa", "PA"})
#: The modules whose warnings a decode section ignores (a ``warnings`` module regex).
_PILLOW_MODULES: Final = r"PIL(\.|$)"
#: The most pixels this package decodes from one file: the value of Pillow's default
#: ``Image.MAX_IMAGE_PIXELS`` (a 9,459 x 9,459 image, ~268 MB as RGBA), checked here from the
#: header whatever a user set that Pillow global to. Larger files are refused before their
#: pixels are decoded (a "decompression bomb" can claim gigapixels in a few bytes).
MAX_DECODE_PIXELS: Final = 1024 * 1024 * 1024 // 4 // 3


# ----------------------------------------------------------------------------- Pillow warnings


class _PillowWarnings:
    """Pillow's own warnings ignored while any thread is inside :meth:`section`; nothing else.

    Pillow warns about malformed files ("Corrupt EXIF data", TIFF "Tag data larger than
    file", "Truncated File Read") and then either decodes them or fails; here a file is
    decoded or refused with an error of this package, never left as a stray warning. Oversized
    images are refused by this module's own check (:func:`_check_decode_size`), not by
    listening for Pillow's ``DecompressionBombWarning``.

    The filter added is ``ignore`` for warnings *issued by Pillow's modules* (``PIL.*``) only:
    warnings from any other code, in any thread, stay as the process's filters say, also
    during a decode. It is added only while a section runs. Python's filters are process-wide
    state (``warnings.catch_warnings`` too), so overlapping sections in several threads (the
    offline server decodes uploads in threads) share one installation: the first section in
    adds the filter, the last one out restores the filters as they were.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside = 0
        self._saved: warnings.catch_warnings[None] | None = None

    @contextmanager
    def section(self) -> Iterator[None]:
        self._enter()
        try:
            yield
        finally:
            self._exit()

    def _enter(self) -> None:
        with self._lock:
            if self._inside == 0:
                self._saved = warnings.catch_warnings()
                self._saved.__enter__()
                warnings.filterwarnings("ignore", module=_PILLOW_MODULES)
            self._inside += 1

    def _exit(self) -> None:
        with self._lock:
            self._inside -= 1
            if self._inside == 0 and self._saved is not None:
                self._saved.__exit__(None, None, None)
                self._saved = None


_PILLOW_WARNINGS = _PillowWarnings()
#: ``with _pillow_quietly():`` around every Pillow call that parses or decodes file data.
_pillow_quietly = _PILLOW_WARNINGS.section


# ----------------------------------------------------------------------------- PIL rules


def _pil_has_alpha(img: Image.Image) -> bool:
    """Whether a PIL image has an alpha channel or transparency (alpha is kept)."""
    if img.mode in _ALPHA_MODES:
        return True
    if img.mode == "P":
        return "transparency" in img.info or (
            img.palette is not None and img.palette.mode == "RGBA"
        )
    return img.mode in ("L", "RGB") and "transparency" in img.info


def _sixteen_bit_to_uint8(img: Image.Image, error: ErrorFactory) -> ImageArray:
    """Gray 16-bit (``I;16*``) or 32-bit ``I`` images -> ``uint8`` gray ``(H, W)``."""
    values = np.asarray(img)
    hi = int(values.max()) if values.size else 0
    if img.mode == "I" and hi <= 255 and int(values.min()) >= 0:
        return values.astype(np.uint8)
    if int(values.min()) < 0 or hi > 65535:
        raise error(f"mode {img.mode!r} values run up to {hi}; scale the image to 0-255 first")
    return np.rint(values / 257.0).astype(np.uint8)


def _packed_array(img: Image.Image) -> ImageArray:
    """An RGB/RGBA PIL image -> ``(H, W, 3|4)`` uint8, read-only, with one copy of the pixels.

    ``np.asarray(img)`` goes through ``img.tobytes()``, which packs the pixels in 64 KiB
    chunks and then joins them: two copies (~9-14 ms for 3840x2160 RGB). Asking Pillow's raw
    encoder for the whole image as one chunk skips the join (~5 ms). That encoder is Pillow's
    internal API (``Image._getencoder``, unchanged from Pillow 10 to 13): when it is missing
    or answers anything unexpected, ``np.asarray`` gives the same array.
    """
    width, height = img.size
    channels = len(img.mode)
    try:
        encoder = Image._getencoder(img.mode, "raw", img.mode)
        encoder.setimage(img.im, (0, 0, width, height))
        _, status, data = encoder.encode(width * height * channels)
    except Exception:  # Pillow without this internal API: the public, slower path
        return np.asarray(img)
    if status != 1 or len(data) != width * height * channels:  # 1: done in one call
        return np.asarray(img)
    return np.frombuffer(data, np.uint8).reshape(height, width, channels)


def _pil_to_array(img: Image.Image, error: ErrorFactory) -> ImageArray:
    """A PIL image of any mode -> ``(H, W, 3|4)`` uint8 (one packed copy, read-only)."""
    if img.mode in ("RGB", "RGBA"):
        img.load()
        return _packed_array(img)
    if img.mode in _SIXTEEN_BIT_MODES or img.mode == "I":
        return _gray_or_color_to_rgb(_sixteen_bit_to_uint8(img, error))
    if img.mode == "La":
        img = img.convert("LA")
    try:
        with _pillow_quietly():
            converted = img.convert("RGBA" if _pil_has_alpha(img) else "RGB")
    except ValueError as exc:
        raise error(
            f"PIL mode {img.mode!r} cannot be converted to RGB ({_pillow_reason(exc)}); "
            "convert it first"
        ) from exc
    return np.asarray(converted)


def _decode_failure(exc: BaseException) -> tuple[str, str]:
    """``(what went wrong, the user's fix)`` for a Pillow failure while decoding."""
    if isinstance(exc, Image.DecompressionBombError):
        return f"the image is too large to decode safely ({exc})", "downscale it first"
    reason = f"the image data is corrupt or truncated ({_pillow_reason(exc)})"
    return reason, "re-export or re-download the file"


def _unopenable_bytes(data: bytes | bytearray | memoryview, exc: BaseException) -> tuple[str, str]:
    """``(what went wrong, the user's fix)`` for bytes Pillow could not open."""
    fmt = sniff_format(data)
    if fmt is None and isinstance(exc, UnidentifiedImageError):
        return f"{_describe(data)}: not a PNG, JPEG or WebP image", "pass an image file's bytes"
    kind = f"a {fmt.upper()}" if fmt else "an image"
    reason, fix = _decode_failure(exc)
    return f"{_describe(data)}: looks like {kind} file, but {reason}", fix


def _check_decode_size(
    img: Image.Image, error: ErrorFactory, source: Any, *, close: bool = False
) -> Image.Image:
    """Refuse an image larger than :data:`MAX_DECODE_PIXELS` from its header size alone
    (``close``: close ``img``, one this module opened, before raising)."""
    width, height = img.size
    if width * height > MAX_DECODE_PIXELS:
        if close:
            img.close()
        raise error(
            f"{_describe(source)}: the image is too large to decode safely ({width}x{height} = "
            f"{width * height:,} pixels, more than {MAX_DECODE_PIXELS:,})",
            "downscale it first",
        )
    return img


def _load(img: Image.Image, error: ErrorFactory, source: Any) -> Image.Image:
    """Decode the pixels of a lazily opened image; Pillow's errors -> ``error``.

    ``source`` is what the user passed (bytes, path, PIL image), named in the message.
    """
    if getattr(img, "fp", None) is not None:  # still reading a file: not decoded yet
        _check_decode_size(img, error, source)
    try:
        with _pillow_quietly():
            img.load()
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, struct.error...
        reason, fix = _decode_failure(exc)
        raise error(f"{_describe(source)}: {reason}", fix) from exc
    return img


def _exif_upright(img: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag (when there is one) to a loaded image."""
    if _exif_orientation(img) in (1, None):
        return img
    with _pillow_quietly():
        return ImageOps.exif_transpose(img)


def _exif_orientation(img: Image.Image) -> int | None:
    """The EXIF orientation tag (1-8), or None when absent or unreadable."""
    try:
        with _pillow_quietly():
            value = img.getexif().get(_EXIF_ORIENTATION)
    except (OSError, ValueError, SyntaxError, KeyError, TypeError):  # malformed EXIF: ignore
        return None
    return value if isinstance(value, int) else None


class _BufferFile(io.RawIOBase):
    """A read-only, seekable file over a ``bytearray`` or ``memoryview``, without a copy.

    ``io.BytesIO`` shares a ``bytes`` object but copies every other buffer whole: for a
    downloaded image (read into one ``bytearray``) that copy would double the file again.
    """

    def __init__(self, data: bytearray | memoryview) -> None:
        super().__init__()
        self._view = memoryview(data).cast("B")
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        start = min(self._position, len(self._view))
        count = min(len(buffer), len(self._view) - start)
        buffer[:count] = self._view[start : start + count]
        self._position = start + count
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._view)}
        position = base[whence] + offset
        if position < 0:
            raise ValueError(f"negative seek position {position}")
        self._position = position
        return position

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        self._view.release()
        super().close()


def _as_file(data: bytes | bytearray | memoryview) -> IO[bytes]:
    """A file over encoded bytes that shares them (no copy, whatever the buffer type)."""
    if isinstance(data, bytes):
        return io.BytesIO(data)
    return cast(IO[bytes], _BufferFile(data))  # a binary file; typeshed's RawIOBase is not IO


def _open_bytes(data: bytes | bytearray | memoryview, error: ErrorFactory) -> Image.Image:
    """Open (headers only) encoded image bytes."""
    if len(data) == 0:
        raise error("the image data is empty (0 bytes)", "pass an image file's bytes")
    try:
        with _pillow_quietly():
            image = Image.open(_as_file(data), formats=_PIL_FORMATS)
    except Exception as exc:  # UnidentifiedImageError, or a header parser's SyntaxError...
        raise error(*_unopenable_bytes(data, exc)) from exc
    return _check_decode_size(image, error, data, close=True)


def _open_path(path: str | os.PathLike[str], error: ErrorFactory) -> Image.Image:
    """Open (headers only) the image file at ``path``; missing, directory, unreadable or
    not an image -> ``error``."""
    if isinstance(path, str) and not path.strip():
        raise error("an empty string is not a path; pass the path of an image file")
    resolved = pathlib.Path(path).expanduser()
    shown = _shorten(str(resolved), 200)
    try:
        with _pillow_quietly():
            image = Image.open(resolved, formats=_PIL_FORMATS)
    except FileNotFoundError:
        raise error(
            f"no file at {_shorten(str(resolved.absolute()), 200)!r}; check the path"
        ) from None
    except IsADirectoryError:
        raise error(f"{shown!r} is a directory; pass an image file in it") from None
    except UnidentifiedImageError as exc:
        raise error(f"{shown!r} is not a PNG, JPEG or WebP image; pass an image file") from exc
    except OSError as exc:
        raise error(f"cannot read {shown!r} ({exc.strerror or exc})") from exc
    except Exception as exc:  # Pillow's header parsers raise SyntaxError, ValueError...
        reason, fix = _decode_failure(exc)
        raise error(f"{shown!r}: {reason}", fix) from exc
    return _check_decode_size(image, error, path, close=True)


def _open_source(x: Any, error: ErrorFactory) -> Image.Image | None:
    """``x`` opened lazily when it is encoded bytes, a ``data:`` URL or a path, else None."""
    if isinstance(x, (bytes, bytearray, memoryview)):
        return _open_bytes(x, error)
    if isinstance(x, str) and x.startswith("data:"):
        return _open_bytes(_b64decode(x, error), error)
    if isinstance(x, str) and x.startswith(("http://", "https://")):
        raise error("URLs are not downloaded; fetch the bytes (e.g. with httpx) and pass them")
    if isinstance(x, (str, os.PathLike)):
        return _open_path(x, error)
    return None


def _header_size(img: Image.Image) -> tuple[int, int]:
    """``(width, height)`` of an opened image from its header, EXIF-upright."""
    width, height = img.size
    # A PNG's EXIF may sit after the pixel data, and Pillow's getexif() then decodes the
    # whole image; an eXIf chunk before IDAT (where the spec puts it) is already in info.
    if img.format == "PNG" and "exif" not in img.info:
        return width, height
    swapped = _exif_orientation(img) in (5, 6, 7, 8)
    return (height, width) if swapped else (width, height)


def sniff_format(data: Any) -> str | None:
    """The image format of encoded bytes by magic number.

    Returns
    -------
    str or None
        ``"png"``, ``"jpeg"`` or ``"webp"``; None for anything else (or non-bytes).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        return None
    head = bytes(data[:12])
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def decode_image(data: bytes | bytearray | memoryview) -> ImageArray:
    """Encoded bytes from a server -> an RGB/RGBA ``uint8`` array.

    Returns
    -------
    np.ndarray
        ``(H, W, 3)`` or ``(H, W, 4)`` ``uint8`` (4 only when the file has alpha); a
        read-only view on Pillow's decoded bytes, made without further copies.

    Raises
    ------
    ResponseDecodeError
        The bytes are empty, not an image, corrupt or truncated.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise _undecodable(f"expected bytes, got {_describe(data)}")
    image = _load(_open_bytes(data, _undecodable), _undecodable, data)
    return _pil_to_array(image, _undecodable)


def decode_b64_image(b64: str | bytes) -> ImageArray:
    """Base64 text (``b64_json``, or a ``data:`` URL) -> an RGB/RGBA ``uint8`` array.

    Decoded with pybase64 (``validate=True``) when installed, else the stdlib.

    Raises
    ------
    ResponseDecodeError
        Invalid base64 or undecodable image bytes.
    """
    if not isinstance(b64, (str, bytes, bytearray, memoryview)):
        raise _undecodable(f"expected base64 text, got {_describe(b64)}")
    return decode_image(_b64decode(b64, _undecodable))
