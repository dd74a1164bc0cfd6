"""Mask operations: the immutable values a :class:`~gptimage_widgets.maskops.MaskDocument` appends.

Owns what an operation *is* and which values are valid: :class:`Stroke`, :class:`Rect`,
:class:`Lasso`, :class:`Fill`, :class:`Clear`, :class:`Invert`, :class:`Grow` and
:class:`LoadMask` validate and normalise their fields on construction (coordinates become
finite float pairs, masks become read-only bool arrays), and :func:`_check_op` checks an
operation against a document's size. Drawing them is ``raster.py``'s job.

Coordinates are full-resolution image pixel indices as floats: pixel ``(x, y)`` has its centre
at ``(x, y)``, so the image spans ``[-0.5, width - 0.5]`` horizontally.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np

from ..errors import ValidationError

Point: TypeAlias = tuple[float, float]


def _finite_number(value: Any, name: str) -> float:
    """``value`` as a finite float, else a ValidationError naming ``name``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError(
            f"{name} must be a number, got {value!r}", param=name, value=value
        ) from None
    if not math.isfinite(number):
        raise ValidationError(f"{name} must be finite, got {value!r}", param=name, value=value)
    return number


def _point_array(points: Any, name: str, minimum: int) -> np.ndarray:
    """Validate ``points`` (pairs or an (N, 2) array): a new (N, 2) float64 array."""
    try:
        array = np.asarray(points, dtype=float)
    except (TypeError, ValueError):
        raise ValidationError(
            f"{name} must be a sequence of (x, y) pairs, got {points!r:.80}", param=name
        ) from None
    if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] < minimum:
        raise ValidationError(
            f"{name} must be a sequence of at least {minimum} (x, y) pairs, "
            f"got an array of shape {array.shape}",
            param=name,
        )
    if not np.isfinite(array).all():
        raise ValidationError(f"{name} must hold finite coordinates", param=name)
    return np.array(array, dtype=float, order="C")


def _as_points(array: np.ndarray) -> tuple[Point, ...]:
    """(N, 2) float array -> tuple of (x, y) float pairs."""
    return tuple(map(tuple, array.tolist()))


@dataclass(frozen=True)
class Stroke:
    """A round-capped, round-jointed brush stroke along a polyline.

    Parameters
    ----------
    points : sequence of (x, y)
        Polyline vertices in image pixels; one point paints a disc.
    radius : float
        Brush radius in image pixels, > 0: pixels within ``radius`` of the polyline are set.
    erase : bool
        True removes the stroke from the mask (eraser) instead of adding it.
    """

    points: Sequence[Point]  # stored as a tuple of float pairs
    radius: float
    erase: bool = False

    def __post_init__(self) -> None:
        array = _point_array(self.points, "points", 1)
        object.__setattr__(self, "points", _as_points(array))
        # the polyline as complex numbers x + iy, for rasterizing (not a dataclass field)
        xy = array.view(complex).ravel()
        xy.setflags(write=False)
        object.__setattr__(self, "_xy", xy)
        radius = _finite_number(self.radius, "radius")
        if radius <= 0:
            raise ValidationError(
                f"radius must be > 0 pixels, got {self.radius!r}", param="radius", value=radius
            )
        object.__setattr__(self, "radius", radius)
        object.__setattr__(self, "erase", bool(self.erase))


@dataclass(frozen=True)
class Rect:
    """An axis-aligned rectangle between two corners (inclusive), in image pixels.

    Pixels whose centres lie inside ``[min(x0, x1), max(x0, x1)] x [min(y0, y1), max(y0, y1)]``
    are set (or cleared when ``erase``).
    """

    x0: float
    y0: float
    x1: float
    y1: float
    erase: bool = False

    def __post_init__(self) -> None:
        for name in ("x0", "y0", "x1", "y1"):
            object.__setattr__(self, name, _finite_number(getattr(self, name), name))
        object.__setattr__(self, "erase", bool(self.erase))


@dataclass(frozen=True)
class Lasso:
    """A filled polygon (free-hand lasso) through ``points`` (at least 3), in image pixels."""

    points: Sequence[Point]  # stored as a tuple of float pairs
    erase: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", _as_points(_point_array(self.points, "points", 3)))
        object.__setattr__(self, "erase", bool(self.erase))


@dataclass(frozen=True)
class Fill:
    """Select the whole image."""


@dataclass(frozen=True)
class Clear:
    """Clear the whole mask."""


@dataclass(frozen=True)
class Invert:
    """Swap selected and unselected pixels."""


@dataclass(frozen=True)
class Grow:
    """Grow the mask by ``pixels`` (Euclidean distance); negative values shrink it.

    Growing sets every pixel within ``pixels`` of a selected pixel; shrinking keeps only the
    pixels whose whole disc of that radius (inside the image) is selected, so the image border
    never eats into a mask that touches it.
    """

    pixels: int

    def __post_init__(self) -> None:
        value = self.pixels
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValidationError(
                f"Grow pixels must be an integer (negative to shrink), got {value!r}",
                param="pixels",
                value=value,
            )
        object.__setattr__(self, "pixels", int(value))


@dataclass(frozen=True, eq=False)
class LoadMask:
    """Replace the mask by ``array``: (H, W), nonzero/True = replace; stored as read-only bool."""

    array: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        array = np.asarray(self.array)
        if array.ndim != 2:
            raise ValidationError(
                f"LoadMask needs a 2-D (H, W) array (nonzero = replace), got shape {array.shape}",
                param="mask",
            )
        array = np.array(array != 0, dtype=bool)
        array.setflags(write=False)
        object.__setattr__(self, "array", array)


MaskOp: TypeAlias = Stroke | Rect | Lasso | Fill | Clear | Invert | Grow | LoadMask
_OP_TYPES = (Stroke, Rect, Lasso, Fill, Clear, Invert, Grow, LoadMask)
#: Operations whose result does not depend on what came before: replay can start there.
_RESETS = (Fill, Clear, LoadMask)


def _check_op(op: Any, width: int, height: int) -> MaskOp:
    """``op`` when it is a mask operation fitting a (``height``, ``width``) mask; else raise."""
    if not isinstance(op, _OP_TYPES):
        names = ", ".join(t.__name__ for t in _OP_TYPES)
        raise ValidationError(
            f"expected a mask operation ({names}), got {type(op).__name__}", param="op"
        )
    if isinstance(op, LoadMask) and op.array.shape != (height, width):
        raise ValidationError(
            f"LoadMask array has shape {op.array.shape}; this mask is (H, W) = "
            f"{(height, width)}: resize the mask to the image first",
            param="mask",
        )
    return op
