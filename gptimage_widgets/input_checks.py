"""Input checks: the images and mask of a request, found wrong before anything is sent.

How many images an operation and model take, whether a mask is allowed, and per file: byte
limit, upload format, readability, square-only models, mask size equal to the first image's.
Only headers are read (``imaging.image_size``, ``imaging.sniff_format``), never full pixels.
:mod:`gptimage_widgets.validation` calls :func:`input_problems` from ``check`` and the count
rules from ``input_count_problems``. Pure module: numpy, Pillow (through ``imaging``) and the
standard library only.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import Any

import numpy as np

from ._messages import short_repr
from .catalog import ModelSpec
from .errors import Problem, ValidationError

__all__ = ["count_problems", "input_problems", "mask_count_problems"]

_HEADER_BYTES = 16


def _describe(x: Any) -> str:
    """A short description of an image input for ``Problem.value`` (never pixels)."""
    if isinstance(x, np.ndarray):
        return f"ndarray {x.shape} {x.dtype}"
    if isinstance(x, (bytes, bytearray, memoryview)):
        return f"{type(x).__name__} ({len(x):,} bytes)"
    if isinstance(x, (str, os.PathLike)):
        return f"path {short_repr(os.fspath(x))}"
    return type(x).__name__


def _image_items(images: Any) -> list[Any]:
    """The input images one by one: a list, a ``(B, H, W, C)`` batch, an ImageResult, one."""
    if images is None:
        return []
    if isinstance(images, (list, tuple)):
        return list(images)
    if isinstance(images, np.ndarray) and images.ndim == 4:
        return list(images)
    results = getattr(images, "images", None) if not isinstance(images, str) else None
    if isinstance(results, (list, tuple)):
        return list(results)
    return [images]


def _imaging_problem(param: str, x: Any, action: Callable[[], Any]) -> tuple[Any, list[Problem]]:
    """Run ``action`` (an imaging call); its failure becomes a Problem for ``param``."""
    try:
        return action(), []
    except ValidationError as exc:
        return None, [Problem(param, _describe(x), p.message) for p in exc.problems]
    except Exception as exc:  # a broken input must never escape as anything else
        message = f"{param} could not be read ({type(exc).__name__}: {exc}); pass a valid image"
        return None, [Problem(param, _describe(x), message)]


def _file_facts(x: Any) -> tuple[int | None, bytes]:
    """``(byte count, first bytes)`` of encoded bytes or a regular file; ``(None, b"")`` else."""
    if isinstance(x, (bytes, bytearray, memoryview)):
        return len(x), bytes(x[:_HEADER_BYTES])
    if isinstance(x, (str, os.PathLike)) and not str(x).startswith(("data:", "http")):
        try:
            info = os.stat(x)
            if not stat.S_ISREG(info.st_mode):
                return None, b""
            with open(x, "rb") as f:
                return info.st_size, f.read(_HEADER_BYTES)
        except (OSError, ValueError, TypeError):
            return None, b""  # image_size names the path problem
    return None, b""


def _file_problems(spec: ModelSpec, param: str, x: Any) -> list[Problem]:
    """Byte limit and upload format of bytes and files (arrays are encoded later)."""
    from .imaging import sniff_format

    count, head = _file_facts(x)
    if count is None:
        return []
    problems = []
    if count > spec.max_image_bytes:
        problems.append(
            Problem(
                param,
                _describe(x),
                f"{param} is {count:,} bytes; {spec.name} accepts files up to "
                f"{spec.max_image_bytes:,} bytes; downscale or compress it",
            )
        )
    fmt = sniff_format(head)
    if fmt is not None and fmt not in spec.image_formats:
        allowed = ", ".join(f.upper() for f in spec.image_formats)
        problems.append(
            Problem(
                param,
                _describe(x),
                f"{param} is {fmt.upper()}; {spec.name} accepts only {allowed} files; pass the "
                "image as an array (the kit encodes it) or convert it",
                spec.image_formats,
            )
        )
    return problems


def _special_file_problem(param: str, x: Any) -> list[Problem]:
    """A problem when ``x`` names an existing path that is not a regular file (a directory,
    a device or a pipe, which must not be opened)."""
    if not isinstance(x, (str, os.PathLike)) or str(x).startswith(("data:", "http")):
        return []
    try:
        mode = os.stat(x).st_mode
    except (OSError, ValueError, TypeError):
        return []  # missing or unnamable: image_size says so
    if stat.S_ISREG(mode):
        return []
    what = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
    message = f"{param} {short_repr(os.fspath(x))} is {what}; pass the path of an image file"
    return [Problem(param, _describe(x), message)]


def _one_image_problems(
    spec: ModelSpec, param: str, x: Any
) -> tuple[tuple[int, int] | None, list[Problem]]:
    """``(width, height)`` of one input image (None when unreadable) and its problems."""
    from .imaging import image_size

    special = _special_file_problem(param, x)
    if special:
        return None, special
    problems = _file_problems(spec, param, x)
    size, unreadable = _imaging_problem(param, x, lambda: image_size(x, param=param))
    problems += unreadable
    if size is not None and spec.square_png_only and size[0] != size[1]:
        problems.append(
            Problem(
                param,
                _describe(x),
                f"{param} is {size[0]}x{size[1]}; {spec.name} needs square images; crop it "
                "square first",
            )
        )
    return size, problems


def count_problems(spec: ModelSpec, operation: str, count: int) -> list[Problem]:
    """How many input images ``operation`` and ``spec`` take, against ``count``."""
    if operation == "variation" and count != 1:
        message = f"variation needs exactly one input image, got {count}"
        return [Problem("images", count, message)]
    if operation == "edit" and count < 1:
        message = "edit needs at least one input image; pass images=[...]"
        return [Problem("images", count, message)]
    if count > spec.max_reference_images:
        message = (
            f"{spec.name} takes at most {spec.max_reference_images} input image(s) for "
            f"{operation}, got {count}; drop {count - spec.max_reference_images}"
        )
        return [Problem("images", count, message)]
    return []


def mask_count_problems(
    spec: ModelSpec, operation: str, count: int | None, shown: Any
) -> list[Problem]:
    """Mask rules that need only the number of input images (None: not known yet)."""
    if operation != "edit":
        return [Problem("mask", shown, f"{operation} takes no mask; use operation='edit'")]
    if not spec.supports_mask:
        return [Problem("mask", shown, f"{spec.name} takes no mask; remove it")]
    if count == 0:
        return [Problem("mask", shown, "a mask needs an input image; pass images=[image]")]
    if count is not None and count > 1:
        message = (
            f"a mask can only be used with one input image, got {count}; pass the image to "
            "edit alone, or drop the mask"
        )
        return [Problem("mask", shown, message)]
    return []


def _mask_problems(
    spec: ModelSpec, operation: str, mask: Any, count: int, first: tuple[int, int] | None
) -> list[Problem]:
    from .imaging import image_size

    shown = _describe(mask)
    counted = mask_count_problems(spec, operation, count, shown)
    if counted:
        return counted
    special = _special_file_problem("mask", mask)
    if special:
        return special
    size, problems = _imaging_problem("mask", mask, lambda: image_size(mask, param="mask"))
    if size is not None and first is not None and size != first:
        message = (
            f"mask is {size[0]}x{size[1]} but images[0] is {first[0]}x{first[1]}; "
            "they must be the same size (paint the mask on that image, or resize it)"
        )
        problems.append(Problem("mask", shown, message))
    return problems


def input_problems(spec: ModelSpec, operation: str, images: Any, mask: Any) -> list[Problem]:
    """Every problem with the input images and mask of a request ``spec`` supports."""
    items = _image_items(images)
    if operation == "generate":
        problems = []
        if items:
            message = "generate takes no input images; use operation='edit' to work from images"
            problems.append(Problem("images", len(items), message))
        if mask is not None:
            problems.append(Problem("mask", _describe(mask), "generate takes no mask; remove it"))
        return problems
    problems = count_problems(spec, operation, len(items))
    sizes = []
    for i, item in enumerate(items):
        size, found = _one_image_problems(spec, f"images[{i}]", item)
        sizes.append(size)
        problems += found
    if mask is not None:
        problems += _mask_problems(spec, operation, mask, len(items), sizes[0] if sizes else None)
    return problems
