"""Images and masks: every accepted input form <-> NumPy arrays and upload bytes.

Pure functions on NumPy and Pillow (pybase64 when installed, else the stdlib).

Image arrays
    ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA, ``uint8`` in ``[0, 255]``, C-contiguous. Gray
    inputs become RGB; alpha is kept exactly when the input has it (an RGBA image whose alpha
    is all 255 stays RGBA) and never invented.
Accepted image inputs
    ``np.ndarray`` ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)``, ``(H, W, 4)`` of ``uint8``, other
    integers in ``[0, 255]``, ``bool`` (False/True -> 0/255) or floats in ``[0, 1]``; a
    ComfyUI-style ``(B, H, W, C)`` batch; objects with ``__array__`` (e.g. CPU torch tensors);
    ``PIL.Image`` of any mode; a path (``str`` or ``os.PathLike``); a ``data:image/...;base64``
    URL; PNG/JPEG/WebP (also GIF/BMP/TIFF) bytes, ``bytearray`` or ``memoryview``; an
    ``ImageResult`` (anything with an ``.images`` list).
Float -> uint8
    ``uint8 = round_half_to_even(x * 255)``, so ``k / 255`` round-trips exactly. Values within
    half a step (``1 / 510``) outside ``[0, 1]`` are clipped; NaN, inf or values further out are
    a ``ValidationError``.
Orientation
    Encoded files (paths, bytes) are turned upright by their EXIF orientation, as every image
    viewer and ComfyUI's loader do; ``PIL.Image`` objects and arrays are taken as they are.
Masks (``(H, W)`` bool, True = replace)
    2-D arrays: nonzero/True = replace (floats: ``>= 0.5``). Images *with* an alpha channel
    (RGBA/LA arrays, PIL images, PNG files) follow OpenAI: alpha 0 = replace. Images *without*
    alpha (gray or RGB) follow ComfyUI: white = replace (luminance ``>= 128``). A black/white
    mask saved as RGBA with opaque alpha therefore reads as empty: drop its alpha first.
Errors
    Bad user input raises :class:`~gptimage_widgets.errors.ValidationError` naming the value and
    the fix; undecodable server output (``decode_image``, ``decode_b64_image``) raises
    :class:`~gptimage_widgets.errors.ResponseDecodeError`.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import os
import pathlib
import re
import sys
import threading
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any, Final, Protocol, cast

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from . import masks
from .errors import GPTImageError, ResponseDecodeError, ValidationError

_pybase64: Any
try:  # optional speed-up (3-10x on tens of MB of base64)
    import pybase64 as _pybase64
except ImportError:  # pragma: no cover - exercised only without the extra
    _pybase64 = None

__all__ = [
    "ACCEPTED_IMAGE_FORMS",
    "ACCEPTED_MASK_FORMS",
    "DEFAULT_JPEG_QUALITY",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_PNG_COMPRESS_LEVEL",
    "DEFAULT_WEBP_QUALITY",
    "decode_b64_image",
    "decode_image",
    "downscale_to_budget",
    "encode_image",
    "image_size",
    "mask_to_array",
    "mask_to_openai_png",
    "sniff_format",
    "to_array",
    "to_arrays",
    "to_comfy_batch",
    "to_pil",
]

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
#: (benchmarks/bench_upload.py, benchmarks/RESULTS.md "Upload cost").
DEFAULT_PNG_COMPRESS_LEVEL: Final = 1
#: The level whose encodes use zlib's run-length strategy (``zlib.Z_RLE``); with ``Z_RLE``
#: zlib ignores the level, so only one level can mean it without the others losing theirs.
_RLE_PNG_LEVEL: Final = 1
DEFAULT_JPEG_QUALITY: Final = 90
DEFAULT_WEBP_QUALITY: Final = 90
#: The next step for an image a server sent that cannot be decoded; it ends those messages.
_SERVER_IMAGE_FIX: Final = "retry the request"
#: gpt-image-2's largest output (3840x2160); the default budget of ``downscale_to_budget``.
DEFAULT_MAX_PIXELS: Final = 8_294_400

ACCEPTED_IMAGE_FORMS: Final = (
    "a NumPy array (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) of uint8 or floats in [0, 1], "
    "a (B, H, W, C) batch, a PIL.Image, a file path, PNG/JPEG/WebP bytes or an ImageResult"
)
ACCEPTED_MASK_FORMS: Final = (
    "a 2-D array (nonzero/True = replace; floats >= 0.5), an RGBA array/PIL image/PNG "
    "(alpha 0 = replace), or a gray/RGB image, path or bytes (white = replace)"
)

_PIL_FORMATS: Final = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
_FLOAT_SLACK: Final = 0.5 / 255
_EXIF_ORIENTATION: Final = 0x0112
_SIXTEEN_BIT_MODES: Final = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_ALPHA_MODES: Final = frozenset({"RGBA", "LA", "La", "RGBa", "PA"})
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


# ----------------------------------------------------------------------------- array rules


def _check_finite_range(arr: np.ndarray, error: ErrorFactory) -> None:
    """Raise unless every float in ``arr`` is finite and within ``[0, 1]`` (plus slack)."""
    lo, hi = float(arr.min()), float(arr.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise error(
            f"{bad} value(s) are NaN or infinite; replace them first, e.g. "
            "np.nan_to_num(arr, nan=0.0, posinf=1.0, neginf=0.0)"
        )
    if lo < -_FLOAT_SLACK or hi > 1 + _FLOAT_SLACK:
        raise error(
            f"float values must be in [0, 1] but range from {lo:g} to {hi:g}; "
            "for 0-255 data pass arr.astype(np.uint8) or arr / 255, else np.clip(arr, 0, 1)"
        )


def _float_to_uint8(arr: np.ndarray, error: ErrorFactory) -> ImageArray:
    """Floats in ``[0, 1]`` -> ``uint8`` by ``round_half_to_even(x * 255)``."""
    work = arr.astype(np.float32) if arr.dtype.itemsize < 4 else arr
    _check_finite_range(work, error)
    scaled = np.multiply(work, 255)
    np.rint(scaled, out=scaled)
    np.clip(scaled, 0, 255, out=scaled)
    return scaled.astype(np.uint8)


def _int_to_uint8(arr: np.ndarray, error: ErrorFactory) -> ImageArray:
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi > 255:
        raise error(
            f"integer values must be in [0, 255] but range from {lo} to {hi}; for 16-bit "
            "data pass (arr / 65535).astype(np.float32), else scale it to uint8"
        )
    return arr.astype(np.uint8)


def _pixels_to_uint8(arr: np.ndarray, error: ErrorFactory) -> ImageArray:
    """Any accepted dtype -> ``uint8`` with the same shape (no copy for ``uint8``)."""
    kind = arr.dtype.kind
    if arr.dtype == np.uint8:
        return arr
    if kind == "b":
        return arr.astype(np.uint8) * np.uint8(255)
    if kind in "iu":
        return _int_to_uint8(arr, error)
    if kind == "f":
        return _float_to_uint8(arr, error)
    raise error(
        f"dtype {arr.dtype} is not an image dtype; use uint8 in [0, 255], floats in [0, 1] or bool"
    )


def _shape_hint(shape: tuple[int, ...]) -> str:
    """What to do about an array shape that is not an image layout."""
    if len(shape) == 3 and shape[-1] == 2:
        return "2 channels is not a layout; for gray + alpha pass np.dstack([g, g, g, a])"
    if len(shape) == 3 and shape[0] in (1, 3, 4) and min(shape[1:]) > 4:
        return "it looks channels-first; pass np.moveaxis(arr, 0, -1)"
    if len(shape) < 2:
        return "reshape it to (H, W) or (H, W, C)"
    return "use (H, W) gray, (H, W, 3) RGB, (H, W, 4) RGBA or a (B, H, W, C) batch"


def _check_image_shape(arr: np.ndarray, error: ErrorFactory) -> None:
    """Raise unless ``arr`` is ``(H, W)`` or ``(H, W, 1|3|4)`` with ``H, W >= 1``."""
    if arr.size == 0:
        raise error("the array is empty (a dimension is 0); pass an image with pixels")
    fits = arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3, 4))
    if not fits:
        raise error(f"shape {arr.shape} is not an image; {_shape_hint(arr.shape)}")


def _check_image_dtype(arr: np.ndarray, error: ErrorFactory) -> None:
    if arr.dtype.kind not in "biuf":
        _pixels_to_uint8(arr, error)  # raises the dtype message


def _gray_or_color_to_rgb(pixels: ImageArray) -> ImageArray:
    """``(H, W)``/``(H, W, 1)`` -> ``(H, W, 3)``; 3/4 channels -> C-contiguous as is."""
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.shape[2] == 1:
        return np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(pixels)


def _single_from_batch(arr: np.ndarray, error: ErrorFactory) -> np.ndarray:
    """``(1, H, W, C)`` -> ``(H, W, C)``; a larger batch is an error pointing to to_arrays."""
    if arr.ndim != 4 or arr.size == 0:
        return arr
    if arr.shape[0] != 1:
        raise error(
            f"this is a batch of {arr.shape[0]} images; use to_arrays(...) for a list, "
            "or pick one with arr[i]"
        )
    return arr[0]


def _image_from_ndarray(arr: np.ndarray, error: ErrorFactory) -> ImageArray:
    arr = _single_from_batch(arr, error)
    _check_image_shape(arr, error)
    return _gray_or_color_to_rgb(_pixels_to_uint8(arr, error))


# ----------------------------------------------------------------------------- Pillow warnings


class _SilencedWarnings:
    """Warnings off while any thread is inside :meth:`section`; the filters come back after.

    Pillow warns about malformed files ("Corrupt EXIF data", TIFF "Tag data larger than
    file", "Truncated File Read") and then either decodes them or fails; here a file is
    decoded or refused with an error of this package, never left as a stray warning.
    ``warnings.catch_warnings`` swaps process-wide filters, so overlapping sections in
    several threads (the offline server decodes uploads in threads) would restore each
    other's state in the wrong order: the first section in saves the filters, the last one
    out restores them, and decodes still run in parallel.
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
                warnings.simplefilter("ignore")
            self._inside += 1

    def _exit(self) -> None:
        with self._lock:
            self._inside -= 1
            if self._inside == 0 and self._saved is not None:
                self._saved.__exit__(None, None, None)
                self._saved = None


_PILLOW_WARNINGS = _SilencedWarnings()
#: ``with _pillow_quietly():`` around every Pillow call that parses or decodes file data.
_pillow_quietly = _PILLOW_WARNINGS.section


# ----------------------------------------------------------------------------- PIL rules


def _pil_has_alpha(img: Image.Image) -> bool:
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


def _pil_to_array(img: Image.Image, error: ErrorFactory) -> ImageArray:
    """A PIL image of any mode -> ``(H, W, 3|4)`` uint8 (``np.asarray`` once, read-only)."""
    if img.mode in ("RGB", "RGBA"):
        return np.asarray(img)
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


def _load(img: Image.Image, error: ErrorFactory, source: Any) -> Image.Image:
    """Decode the pixels of a lazily opened image; Pillow's errors -> ``error``.

    ``source`` is what the user passed (bytes, path, PIL image), named in the message.
    """
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
            return Image.open(_as_file(data), formats=_PIL_FORMATS)
    except Exception as exc:  # UnidentifiedImageError, or a header parser's SyntaxError...
        raise error(*_unopenable_bytes(data, exc)) from exc


def _open_path(path: str | os.PathLike[str], error: ErrorFactory) -> Image.Image:
    """Open (headers only) the image file at ``path``; missing, directory, unreadable or
    not an image -> ``error``."""
    if isinstance(path, str) and not path.strip():
        raise error("an empty string is not a path; pass the path of an image file")
    resolved = pathlib.Path(path).expanduser()
    shown = _shorten(str(resolved), 200)
    try:
        with _pillow_quietly():
            return Image.open(resolved, formats=_PIL_FORMATS)
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
    return base64.b64decode(text, validate=True)  # Python 3.10: encodes str to bytes first


# ----------------------------------------------------------------------------- public: images


def _looks_like_result(x: Any) -> bool:
    return isinstance(getattr(x, "images", None), (list, tuple))


def _as_ndarray(x: Any, error: ErrorFactory) -> np.ndarray | None:
    """``x`` as an array when it is one or exposes ``__array__`` (e.g. a CPU torch tensor)."""
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (str, bytes, bytearray, memoryview, list, tuple, dict, set)):
        return None
    if not hasattr(x, "__array__") or _looks_like_result(x):
        return None
    try:
        return np.asarray(x)
    except Exception as exc:  # e.g. a CUDA tensor
        raise error(
            f"could not be read as an array ({_pillow_reason(exc)}); pass a NumPy array"
        ) from exc


def to_array(x: Any, *, param: str = "image") -> ImageArray:
    """One image input -> an RGB or RGBA ``uint8`` array.

    Parameters
    ----------
    x
        Any accepted image input (see :data:`ACCEPTED_IMAGE_FORMS`); a batch or an
        ``ImageResult`` must hold exactly one image.
    param
        The parameter name used in error messages (``"image"``, ``"images[2]"``).

    Returns
    -------
    np.ndarray
        ``(H, W, 3)`` or ``(H, W, 4)`` ``uint8`` in ``[0, 255]``, C-contiguous. A ``uint8``
        array already in that layout is returned as is (no copy); decoded images are
        read-only views (call ``.copy()`` to edit them).

    Raises
    ------
    ValidationError
        Naming what was received and what is accepted.
    """
    error = _invalid(param, x)
    arr = _as_ndarray(x, error)
    if arr is not None:
        return _image_from_ndarray(arr, error)
    if isinstance(x, Image.Image):
        return _pil_to_array(_load(x, error, x), error)
    opened = _open_source(x, error)
    if opened is not None:
        with opened:  # closes a file opened from a path, also on errors
            return _pil_to_array(_exif_upright(_load(opened, error, x)), error)
    if _looks_like_result(x):
        return _single_from_result(x, param, error)
    if isinstance(x, (list, tuple)):
        raise error(
            f"to_array takes one image, got a {type(x).__name__} of {len(x)}; use to_arrays"
        )
    raise error(f"got {_describe(x)}; pass {ACCEPTED_IMAGE_FORMS}")


def _single_from_result(result: Any, param: str, error: ErrorFactory) -> ImageArray:
    images = to_arrays(result, param=param)
    if len(images) != 1:
        raise error(
            f"this result holds {len(images)} images; use to_arrays(...) or pick one with "
            "result.images[i]"
        )
    return images[0]


def _batch_to_arrays(batch: np.ndarray, param: str) -> list[ImageArray]:
    """``(B, H, W, C)`` -> B arrays, converting the dtype once for the whole batch."""
    error = _invalid(param, batch)
    if batch.size == 0:
        raise error("the batch is empty (a dimension is 0); pass at least one image")
    _check_image_shape(batch[0], error)
    pixels = _pixels_to_uint8(batch, error)
    return [_gray_or_color_to_rgb(image) for image in pixels]


def _one_input_to_arrays(x: Any, param: str) -> list[ImageArray]:
    error = _invalid(param, x)
    arr = _as_ndarray(x, error)
    if arr is not None and arr.ndim == 4:
        return _batch_to_arrays(arr, param)
    if _looks_like_result(x):
        return [to_array(image, param=f"{param}[{i}]") for i, image in enumerate(x.images)]
    return [to_array(x if arr is None else arr, param=param)]


def to_arrays(x: Any, *, param: str = "images") -> list[ImageArray]:
    """One or several image inputs -> a list of RGB/RGBA ``uint8`` arrays.

    Parameters
    ----------
    x
        One image input, a ``(B, H, W, C)`` batch (B images), an ``ImageResult`` (its
        images), or a list/tuple of any of these (flattened one level).
    param
        The parameter name used in error messages; items are named ``param[i]``.

    Returns
    -------
    list of np.ndarray
        Each ``(H, W, 3)`` or ``(H, W, 4)`` ``uint8``; ``[]`` for an empty list.
    """
    if not isinstance(x, (list, tuple)):
        return _one_input_to_arrays(x, param)
    arrays: list[ImageArray] = []
    for i, item in enumerate(x):
        if isinstance(item, (list, tuple)):
            raise _invalid(f"{param}[{i}]", item)("nested lists are not accepted; flatten them")
        arrays.extend(_one_input_to_arrays(item, f"{param}[{i}]"))
    return arrays


def to_pil(x: Any, *, param: str = "image") -> Image.Image:
    """Any accepted image input -> a ``PIL.Image`` of mode ``"RGB"`` or ``"RGBA"``."""
    return Image.fromarray(to_array(x, param=param))


def to_comfy_batch(images: Any) -> npt.NDArray[np.float32]:
    """Images -> a ComfyUI ``IMAGE`` batch.

    Parameters
    ----------
    images
        Anything :func:`to_arrays` accepts; all images must share size and channel count.

    Returns
    -------
    np.ndarray
        ``(B, H, W, C)`` ``float32`` in ``[0, 1]`` (``uint8 / 255``), C = 3 or 4.
    """
    arrays = to_arrays(images)
    error = _invalid("images", images)
    if not arrays:
        raise error("no images given; pass at least one")
    shapes = sorted({a.shape for a in arrays})
    if len(shapes) > 1:
        raise error(
            f"a batch needs one shape but got {', '.join(map(str, shapes))}; resize them to one "
            "size (and drop alpha with a[..., :3] to mix RGB and RGBA)"
        )
    return np.divide(np.stack(arrays), 255, dtype=np.float32)


def image_size(x: Any, *, param: str = "image") -> tuple[int, int]:
    """``(width, height)`` of an image input, reading only headers for bytes and paths.

    EXIF orientations that swap the axes are honoured, as :func:`to_array` does. For a
    ``(B, H, W, C)`` batch or an ``ImageResult`` the size of the first image is returned.

    Raises
    ------
    ValidationError
        When ``x`` is not an accepted image input or its header is unreadable.
    """
    error = _invalid(param, x)
    arr = _as_ndarray(x, error)
    if arr is not None:
        return _array_size(arr, error)
    if isinstance(x, Image.Image):
        return x.size
    opened = _open_source(x, error)
    if opened is not None:
        with opened:
            return _header_size(opened)
    if _looks_like_result(x) and x.images:
        return image_size(x.images[0], param=f"{param}[0]")
    raise error(f"got {_describe(x)}; pass {ACCEPTED_IMAGE_FORMS}")


def _array_size(arr: np.ndarray, error: ErrorFactory) -> tuple[int, int]:
    image = arr[0] if arr.ndim == 4 and arr.shape[0] >= 1 else arr
    _check_image_shape(image, error)
    _check_image_dtype(image, error)
    return int(image.shape[1]), int(image.shape[0])


def _header_size(img: Image.Image) -> tuple[int, int]:
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


# ----------------------------------------------------------------------------- encode / decode


def _normalize_format(fmt: Any) -> str:
    name = str(fmt).lower().lstrip(".")
    name = "jpeg" if name == "jpg" else name
    if name not in ("png", "jpeg", "webp"):
        raise ValidationError(
            f"format: {fmt!r} is not supported; use 'png', 'jpeg' or 'webp'",
            param="format",
            value=fmt,
        )
    return name


def _check_int_option(name: str, value: Any, low: int, high: int) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or not low <= value <= high
    ):
        raise ValidationError(
            f"{name}: {value!r} is not allowed; use an integer from {low} to {high}",
            param=name,
            value=value,
        )
    return int(value)


def _reject_option(name: str, value: Any, fmt: str, use: str) -> None:
    if value is not None:
        raise ValidationError(
            f"{name}: {value!r} does not apply to {fmt}; {use}", param=name, value=value
        )


def _png_options(compress_level: Any) -> dict[str, Any]:
    """Pillow PNG ``save`` keywords: zlib level 0-9, ``Z_RLE`` at level 1, never ``optimize``.

    Why level 1 uses ``Z_RLE`` (Pillow's ``compress_type=3``): after PNG's row filters a
    photo is mostly small residuals, where deflate's long-distance matches buy almost
    nothing and its fast mode (plain level 1) leaves ~15 % on the table. Run-length
    matching keeps nearly all of level 6's gain at level 1's speed: on a 3840x2160
    photo-like image 0.999x the bytes of Pillow's default ``save(..., "PNG")`` in
    0.34-0.52x its time (plain level 1: 1.149x the bytes), on a clean 1024x1024 render
    1.03x (plain level 1: 1.24x); see ``benchmarks/RESULTS.md`` ("Upload cost"). It stays
    lossless: the strategy only changes how zlib searches for matches. With ``Z_RLE`` zlib
    ignores the level, so levels 2-9 keep zlib's default strategy and their usual
    time-for-bytes trade (7-9 beat it on clean renders, at 1.5-12x the time).

    Pillow's PNG writer has passed ``compress_type`` to zlib as the strategy since long
    before Pillow 10 (the floor in ``pyproject.toml``), so no version guard is needed.
    """
    level = DEFAULT_PNG_COMPRESS_LEVEL if compress_level is None else compress_level
    options: dict[str, Any] = {
        "compress_level": _check_int_option("compress_level", level, 0, 9),
        "optimize": False,
    }
    if options["compress_level"] == _RLE_PNG_LEVEL:
        options["compress_type"] = zlib.Z_RLE
    return options


def _save_options(
    fmt: str, pixels: ImageArray, quality: Any, compress_level: Any
) -> dict[str, Any]:
    """Pillow ``save`` keywords for ``fmt`` after checking the options that apply."""
    if fmt == "png":
        _reject_option("quality", quality, "png", "use compress_level (0-9) for png")
        return _png_options(compress_level)
    _reject_option("compress_level", compress_level, fmt, "use quality (0-100)")
    if fmt == "jpeg" and pixels.shape[2] == 4:
        raise ValidationError(
            "image: JPEG has no alpha channel but the image is RGBA; pass image[..., :3] "
            "or encode as png/webp",
            param="image",
            value=_describe(pixels),
        )
    default = DEFAULT_JPEG_QUALITY if fmt == "jpeg" else DEFAULT_WEBP_QUALITY
    return {
        "quality": _check_int_option("quality", default if quality is None else quality, 0, 100)
    }


def encode_image(
    arr: Any,
    format: str = "png",
    *,
    quality: int | None = None,
    compress_level: int | None = None,
) -> bytes:
    """An image -> encoded bytes for upload or saving.

    Parameters
    ----------
    arr
        Any accepted image input (usually ``(H, W, 3|4)`` ``uint8``).
    format
        ``"png"`` (lossless, alpha kept), ``"jpeg"`` (no alpha) or ``"webp"``.
    quality
        JPEG/WebP quality 0-100; default :data:`DEFAULT_JPEG_QUALITY` / ``..._WEBP_...``.
    compress_level
        PNG zlib level 0-9; default :data:`DEFAULT_PNG_COMPRESS_LEVEL` (1: zlib's run-length
        strategy, about Pillow's default bytes at 2-3x its speed; see ``_png_options`` and
        ``benchmarks/RESULTS.md``). Always lossless; never with ``optimize``.

    Returns
    -------
    bytes
        The encoded file.
    """
    fmt = _normalize_format(format)
    pixels = to_array(arr)
    options = _save_options(fmt, pixels, quality, compress_level)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt.upper(), **options)
    return buffer.getvalue()


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


# ----------------------------------------------------------------------------- masks


def _mask_from_plane(plane: np.ndarray, error: ErrorFactory) -> MaskArray:
    """A 2-D array -> mask (:func:`masks.mask_from_plane`) after checking dtype and range."""
    kind = plane.dtype.kind
    if kind not in "biuf":
        raise error(
            f"dtype {plane.dtype} is not a mask dtype; use bool, integers or floats in [0, 1]"
        )
    if kind == "f":
        _check_finite_range(plane.astype(np.float32) if plane.dtype.itemsize < 4 else plane, error)
    return masks.mask_from_plane(plane)


def _unbatch_mask(arr: np.ndarray, error: ErrorFactory) -> np.ndarray:
    """Drop a leading batch axis of 1 from ``(1, H, W)`` or ``(1, H, W, C)`` masks."""
    if arr.ndim == 4:
        return _single_from_batch(arr, error)
    looks_batched = arr.ndim == 3 and arr.shape[2] > 4
    if looks_batched and arr.shape[0] == 1:
        return arr[0]
    if looks_batched and arr.size:
        raise error(
            f"shape {arr.shape} looks like a batch of {arr.shape[0]} masks (B, H, W); pass one "
            "mask, e.g. mask[0]"
        )
    return arr


def _mask_from_ndarray(arr: np.ndarray, error: ErrorFactory) -> MaskArray:
    arr = _unbatch_mask(arr, error)
    _check_image_shape(arr, error)
    if arr.ndim == 2 or arr.shape[2] == 1:
        return _mask_from_plane(arr.reshape(arr.shape[:2]), error)
    return masks.mask_from_pixels(_pixels_to_uint8(arr, error))


def _mask_from_pil(img: Image.Image, error: ErrorFactory) -> MaskArray:
    if img.mode in ("L", "1"):
        return masks.mask_from_luminance(np.asarray(img.convert("L")))
    return masks.mask_from_pixels(_pil_to_array(img, error))


def _check_mask_size(mask: MaskArray, size: Any, param: str) -> None:
    if size is None:
        return
    width, height = (int(v) for v in size)
    if mask.shape != (height, width):
        mask_h, mask_w = mask.shape
        raise ValidationError(
            f"{param}: mask is {mask_w}x{mask_h} but the image is {width}x{height}; resize the "
            f"mask to {width}x{height} (PIL: mask.resize(({width}, {height}), Image.NEAREST)) "
            "or paint it on this image",
            param=param,
            value=f"{mask_w}x{mask_h}",
        )


def mask_to_array(
    mask: Any, size: tuple[int, int] | None = None, *, param: str = "mask"
) -> MaskArray:
    """A mask input -> ``(H, W)`` bool, True = replace.

    Parameters
    ----------
    mask
        A 2-D array (nonzero/True = replace; floats in ``[0, 1]`` threshold at 0.5), an
        ``(H, W, 1)`` or ``(1, H, W)`` array, an RGBA array/PIL image/PNG (alpha 0 = replace;
        OpenAI's convention) or a gray/RGB image, array, path or bytes (white = replace;
        ComfyUI's convention, luminance ``>= 128``).
    size
        ``(width, height)`` of the image the mask belongs to; a mismatch is an error.
    param
        The parameter name used in error messages.

    Returns
    -------
    np.ndarray
        ``(H, W)`` bool, C-contiguous, True where the image is to be replaced.

    Raises
    ------
    ValidationError
        Unaccepted input, or a size different from ``size``.
    """
    error = _invalid(param, mask)
    result = _mask_input_to_array(mask, error)
    _check_mask_size(result, size, param)
    return result


def _mask_input_to_array(mask: Any, error: ErrorFactory) -> MaskArray:
    arr = _as_ndarray(mask, error)
    if arr is not None:
        return _mask_from_ndarray(arr, error)
    if isinstance(mask, Image.Image):
        return _mask_from_pil(_load(mask, error, mask), error)
    opened = _open_source(mask, error)
    if opened is not None:
        with opened:
            return _mask_from_pil(_exif_upright(_load(opened, error, mask)), error)
    raise error(f"got {_describe(mask)}; pass {ACCEPTED_MASK_FORMS}")


def mask_to_openai_png(mask: Any, size: tuple[int, int] | None = None) -> bytes:
    """A mask input -> the PNG OpenAI's edit endpoints expect.

    Returns
    -------
    bytes
        An RGBA PNG at full resolution (:func:`masks.openai_mask_rgba`): ``(255, 255, 255,
        0)`` where the mask is True (alpha 0 = edit) and ``(0, 0, 0, 255)`` elsewhere, so it
        reads the same under both conventions.
    """
    return encode_image(masks.openai_mask_rgba(mask_to_array(mask, size)), "png")


# ----------------------------------------------------------------------------- resizing


def _fit_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """The largest ``(w, h)`` with the same aspect (floored) and ``w * h <= max_pixels``."""
    scale = math.sqrt(max_pixels / (width * height))
    new_width = max(1, math.floor(width * scale + 1e-9))
    new_height = max(1, math.floor(height * scale + 1e-9))
    return new_width, max(1, min(new_height, max_pixels // new_width))


def _resize_mask(mask: MaskArray, size: tuple[int, int]) -> MaskArray:
    """Area-average the mask to ``size`` and keep pixels covered at least half."""
    plane = Image.fromarray(mask.astype(np.uint8) * np.uint8(255))
    return masks.mask_from_luminance(np.asarray(plane.resize(size, Image.Resampling.BOX)))


def downscale_to_budget(
    image: Any, mask: Any = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[ImageArray, MaskArray | None, float]:
    """Shrink an image (and its mask, identically) to at most ``max_pixels`` pixels.

    Never upscales; keeps the aspect ratio (sizes are floored). The image is resampled with
    Lanczos (Pillow premultiplies alpha), the mask by area average and a 0.5 threshold, onto
    the same pixel grid.

    Parameters
    ----------
    image
        Any accepted image input.
    mask
        None or any mask input of the image's size.
    max_pixels
        The pixel budget (width * height), a positive integer.

    Returns
    -------
    image : np.ndarray
        ``(h, w, 3|4)`` ``uint8`` (the input array itself when it already fits).
    mask : np.ndarray or None
        ``(h, w)`` bool, or None when no mask was given.
    scale : float
        ``new_width / old_width`` (1.0 when nothing was resized).
    """
    budget = _check_int_option("max_pixels", max_pixels, 1, 2**62)
    pixels = to_array(image)
    height, width = pixels.shape[:2]
    selected = None if mask is None else mask_to_array(mask, (width, height))
    if width * height <= budget:
        return pixels, selected, 1.0
    size = _fit_size(width, height, budget)
    resized = np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.LANCZOS))
    resized_mask = None if selected is None else _resize_mask(selected, size)
    return resized, resized_mask, size[0] / width
