"""Mask editing as a list of operations: the mask painter's source of truth.

A mask is edited by appending immutable operations (:class:`Stroke`, :class:`Rect`,
:class:`Lasso`, :class:`Fill`, :class:`Clear`, :class:`Invert`, :class:`Grow`,
:class:`LoadMask`) to a :class:`MaskDocument`. The document rasterizes them with Pillow at the
image's full resolution, keeps the current raster so that appending an operation costs only
that operation, and keeps packed raster checkpoints so that undo is exact and cheap: undo
restores the nearest checkpoint and replays the few operations after it.

Coordinates are full-resolution image pixel indices as floats: pixel ``(x, y)`` has its centre
at ``(x, y)``, so the image spans ``[-0.5, width - 0.5]`` horizontally. Masks are (H, W) bool
arrays, True = replace (the area the model edits).

This module is core: it imports only numpy, Pillow and the standard library.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
from PIL import Image, ImageChops, ImageDraw

from .errors import ValidationError

__all__ = [
    "Clear",
    "Fill",
    "Grow",
    "Invert",
    "Lasso",
    "LoadMask",
    "MaskDocument",
    "MaskOp",
    "Point",
    "Rect",
    "Stroke",
    "grow_mask",
    "rasterize_ops",
]

Point: TypeAlias = tuple[float, float]

#: Replay at most about this much rasterization time on undo (seconds): a checkpoint is taken
#: once the operations since the last one cost more.
CHECKPOINT_BUDGET_S = 0.02
#: ... and at least every this many operations, whatever they cost.
CHECKPOINT_EVERY_OPS = 64

#: Dilation handles at most this many intervals at once (memory bound for noisy masks).
_MAX_INTERVALS = 1 << 22

_ON = 255
_OFF = 0
#: Pillow truncates float outline coordinates to whole pixels: shifting them by half a pixel
#: rounds instead, and insetting the outlines slightly centres the remaining error on the
#: exact boundary. Measured against exact distances: discs within 0.71 px, segment bodies
#: within 0.93 px (2.1 px for plain ``ImageDraw.line(width=2r)`` with discs).
_PILLOW_SHIFT = 0.5
_DISC_INSET = 0.5
_BODY_INSET = 0.25
#: A joint whose miter overshoots the round join by at most this (pixels) is drawn as a miter
#: instead of a disc: a large saving on smooth strokes, an error below Pillow's rounding.
_JOINT_TOLERANCE = 0.25


# --------------------------------------------------------------------------- operations


def _finite_number(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError(
            f"{name} must be a number, got {value!r}", param=name, value=value
        ) from None
    if not math.isfinite(number):
        raise ValidationError(f"{name} must be finite, got {value!r}", param=name, value=value)
    return number


def _as_points(points: Any, name: str, minimum: int) -> tuple[Point, ...]:
    """Normalize ``points`` (pairs or an (N, 2) array) to a tuple of float pairs."""
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
    return tuple((float(x), float(y)) for x, y in array)


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
        object.__setattr__(self, "points", _as_points(self.points, "points", 1))
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
        object.__setattr__(self, "points", _as_points(self.points, "points", 3))
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


# --------------------------------------------------------------------------- rasterizing


def _fill_value(erase: bool) -> int:
    return _OFF if erase else _ON


def _distinct_vertices(points: np.ndarray) -> np.ndarray:
    """Drop vertices equal to the one before (zero-length segments); (N, 2) -> (M, 2)."""
    repeated = np.r_[False, (np.diff(points, axis=0) == 0).all(axis=1)]
    return points[~repeated]


def _joint_miters(directions: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """For each interior vertex: whether a miter join stands in for the round one, and the
    miter length (how far each neighbouring rectangle is extended past the vertex).

    A miter overshoots the round join by ``r (sec(t/2) - 1)`` for a turn ``t``; where that is
    within _JOINT_TOLERANCE px the disc is skipped (most joints of a smooth stroke).
    """
    cosines = np.clip((directions[:-1] * directions[1:]).sum(axis=1), -1.0, 1.0)
    half_turn = np.arccos(cosines) / 2
    mitered = radius * (1 / np.maximum(np.cos(half_turn), 1e-9) - 1) <= _JOINT_TOLERANCE
    return mitered, np.where(mitered, radius * np.tan(half_turn), 0.0)


def _stroke_geometry(points: np.ndarray, radius: float) -> tuple[list[list[float]], np.ndarray]:
    """A stroke as segment rectangles (flat quads for ``ImageDraw.polygon``, in Pillow's
    coordinates) and the (K, 2) centres of the discs it needs (ends and sharp joints)."""
    points = _distinct_vertices(points)
    if len(points) < 2:
        return [], points
    vectors = np.diff(points, axis=0)
    directions = vectors / np.hypot(vectors[:, 0], vectors[:, 1])[:, None]
    mitered, miter = _joint_miters(directions, radius)
    half = max(radius - _BODY_INSET, radius / 2)
    crack = min(1.0, half)  # overlap neighbours so no crack opens along a shared edge
    start_ext = np.maximum(np.r_[0.0, miter], crack)[:, None] * directions
    end_ext = np.maximum(np.r_[miter, 0.0], crack)[:, None] * directions
    starts = points[:-1] - start_ext + _PILLOW_SHIFT
    ends = points[1:] + end_ext + _PILLOW_SHIFT
    normals = np.c_[-directions[:, 1], directions[:, 0]] * half
    quads = np.concatenate([starts + normals, ends + normals, ends - normals, starts - normals], 1)
    discs = np.r_[True, ~mitered, True]
    return quads.tolist(), points[discs]


def _disc_boxes(centres: np.ndarray, radius: float) -> list[list[float]]:
    """Bounding boxes for ``ImageDraw.ellipse`` of discs at (N, 2) ``centres``."""
    half = max(radius - _DISC_INSET, radius / 2)
    centres = centres + _PILLOW_SHIFT
    return np.c_[centres - half, centres + half].tolist()


def _draw_stroke(image: Image.Image, op: Stroke) -> None:
    """Round-capped, round-jointed polyline: segment rectangles plus discs at the vertices."""
    draw = ImageDraw.Draw(image)
    value = _fill_value(op.erase)
    quads, disc_centres = _stroke_geometry(np.asarray(op.points, dtype=float), op.radius)
    for quad in quads:
        draw.polygon(quad, fill=value)
    for box in _disc_boxes(disc_centres, op.radius):
        draw.ellipse(box, fill=value)


def _draw_rect(image: Image.Image, op: Rect) -> None:
    left, right = math.ceil(min(op.x0, op.x1)), math.floor(max(op.x0, op.x1))
    top, bottom = math.ceil(min(op.y0, op.y1)), math.floor(max(op.y0, op.y1))
    if left > right or top > bottom:
        return
    ImageDraw.Draw(image).rectangle((left, top, right, bottom), fill=_fill_value(op.erase))


def _draw_lasso(image: Image.Image, op: Lasso) -> None:
    corners = (np.asarray(op.points) + _PILLOW_SHIFT).ravel().tolist()
    ImageDraw.Draw(image).polygon(corners, fill=_fill_value(op.erase))


def _image_from_bool(mask: np.ndarray) -> Image.Image:
    """(H, W) bool -> Pillow "L" image with values 0/255."""
    return Image.fromarray(mask.view(np.uint8) * np.uint8(_ON))


def _bool_from_image(image: Image.Image) -> np.ndarray:
    """Pillow "L" image (0/255) -> (H, W) bool, True where set."""
    return np.asarray(image) > 0


def _apply_to_image(image: Image.Image, op: MaskOp) -> Image.Image:
    """Rasterize ``op`` onto ``image`` ("L", 0/255) and return the resulting image.

    Drawing ops modify ``image`` in place and return it; whole-mask ops may return a new image.
    """
    if isinstance(op, Stroke):
        _draw_stroke(image, op)
    elif isinstance(op, Rect):
        _draw_rect(image, op)
    elif isinstance(op, Lasso):
        _draw_lasso(image, op)
    elif isinstance(op, (Fill, Clear)):
        image.paste(_ON if isinstance(op, Fill) else _OFF, (0, 0, *image.size))
    elif isinstance(op, Invert):
        return ImageChops.invert(image)
    elif isinstance(op, Grow):
        if op.pixels:
            return _image_from_bool(grow_mask(_bool_from_image(image), op.pixels))
    elif isinstance(op, LoadMask):
        return _image_from_bool(op.array)
    return image


def _check_op(op: Any, width: int, height: int) -> MaskOp:
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


def rasterize_ops(width: int, height: int, ops: Iterable[MaskOp]) -> np.ndarray:
    """Rasterize ``ops`` from an empty mask, without caches.

    Returns
    -------
    numpy.ndarray
        (height, width) bool, True = replace.
    """
    image = Image.new("L", (width, height), _OFF)
    for op in ops:
        image = _apply_to_image(image, _check_op(op, width, height))
    return _bool_from_image(image)


# --------------------------------------------------------------------------- grow / shrink


def _row_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Horizontal runs of True in ``mask`` (h, w): (rows, starts, stops), stops exclusive."""
    height, width = mask.shape
    padded = np.zeros((height, width + 2), dtype=bool)
    padded[:, 1:-1] = mask
    edges = np.flatnonzero(padded[:, 1:] != padded[:, :-1])  # alternates start, stop per row
    rows, cols = np.divmod(edges, width + 1)
    return rows[0::2], cols[0::2], cols[1::2]


def _chord_half_widths(radius: int) -> np.ndarray:
    """``w[dy + r] = floor(sqrt(r**2 - dy**2))`` for dy in -r..r: the disc's row half-widths."""
    return np.array([math.isqrt(radius * radius - dy * dy) for dy in range(-radius, radius + 1)])


def _union_to_flat(starts: np.ndarray, stops: np.ndarray, size: int) -> np.ndarray:
    """Union of half-open intervals ``[starts, stops)`` on ``[0, size)`` as a flat bool array."""
    if size < 1 << 31:  # sort (start, length) packed in one int64: no argsort + gathers
        keys = np.sort((starts << 32) | (stops - starts))
        starts = keys >> 32
        reach = np.maximum.accumulate(starts + (keys & 0xFFFFFFFF))
    else:
        order = np.argsort(starts)
        starts, reach = starts[order], np.maximum.accumulate(stops[order])
    opens = np.flatnonzero(np.r_[True, starts[1:] > reach[:-1]])
    closes = np.r_[opens[1:] - 1, starts.size - 1]
    bounds = np.empty(2 * opens.size, dtype=np.int64)
    bounds[0::2], bounds[1::2] = starts[opens], reach[closes]
    lengths = np.diff(bounds, prepend=0, append=size)
    values = np.zeros(lengths.size, dtype=bool)
    values[1::2] = True
    return np.repeat(values, lengths)


def _dilated_intervals(
    rows: np.ndarray,
    starts: np.ndarray,
    stops: np.ndarray,
    half_widths: np.ndarray,
    box_h: int,
    box_w: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Flat ``[lo, hi)`` offsets (row stride ``box_w + 1``) of runs dilated by a disc."""
    radius = half_widths.size // 2
    lo_parts, hi_parts = [], []
    for dy, half in zip(range(-radius, radius + 1), half_widths, strict=True):
        target = rows + dy
        inside = (target >= 0) & (target < box_h)
        base = target[inside] * (box_w + 1)
        lo_parts.append(base + np.maximum(starts[inside] - half, 0))
        hi_parts.append(base + np.minimum(stops[inside] + half, box_w))
    return np.concatenate(lo_parts), np.concatenate(hi_parts)


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Exact Euclidean dilation of (H, W) bool ``mask`` by a disc of integer ``radius`` > 0.

    Each run of set pixels ``[a, b)`` on row ``y`` covers ``[a - w, b + w)`` on row ``y + dy``,
    ``w`` being the disc's half-width at ``dy``. The covered intervals are merged as sorted
    flat offsets and written with one ``np.repeat``: the cost is O(runs x radius) plus one
    pass over the affected box.
    """
    height, width = mask.shape
    rows_any = np.flatnonzero(mask.any(axis=1))
    if rows_any.size == 0:
        return np.zeros_like(mask)
    cols_any = np.flatnonzero(mask.any(axis=0))
    top, bottom = int(rows_any[0]), int(rows_any[-1]) + 1
    left, right = int(cols_any[0]), int(cols_any[-1]) + 1
    out_top, out_bottom = max(0, top - radius), min(height, bottom + radius)
    out_left, out_right = max(0, left - radius), min(width, right + radius)
    rows, starts, stops = _row_runs(mask[top:bottom, left:right])
    rows = rows + (top - out_top)
    starts, stops = starts + (left - out_left), stops + (left - out_left)
    box_h, box_w = out_bottom - out_top, out_right - out_left
    half_widths = _chord_half_widths(radius)
    chunk = max(1, _MAX_INTERVALS // half_widths.size)  # bounds memory for noisy masks
    size = box_h * (box_w + 1)
    flat: np.ndarray | None = None
    for first in range(0, rows.size, chunk):
        part = slice(first, first + chunk)
        lo, hi = _dilated_intervals(
            rows[part], starts[part], stops[part], half_widths, box_h, box_w
        )
        covered = _union_to_flat(lo, hi, size)
        flat = covered if flat is None else np.logical_or(flat, covered, out=flat)
    assert flat is not None  # the mask has at least one run
    out = np.zeros_like(mask)
    out[out_top:out_bottom, out_left:out_right] = flat.reshape(box_h, box_w + 1)[:, :box_w]
    return out


def grow_mask(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Grow (``pixels`` > 0) or shrink (< 0) a mask by a Euclidean distance, exactly.

    Parameters
    ----------
    mask : numpy.ndarray
        (H, W) bool, True = selected.
    pixels : int
        Growing selects every pixel whose centre is within ``pixels`` of a selected pixel's
        centre. Shrinking by ``n`` keeps the pixels farther than ``n`` from every unselected
        pixel of the image (outside the image counts as selected).

    Returns
    -------
    numpy.ndarray
        (H, W) bool, a new array.
    """
    mask = np.asarray(mask, dtype=bool)
    if pixels == 0:
        return mask.copy()
    if pixels > 0:
        return _dilate(mask, pixels)
    return ~_dilate(~mask, -pixels)


# --------------------------------------------------------------------------- document


class MaskDocument:
    """An editable mask: operations, exact undo/redo and a cached full-resolution raster.

    Parameters
    ----------
    width, height : int
        The image's full size in pixels; the mask is (height, width).
    ops : iterable of MaskOp
        Operations to apply at once (each can be undone).

    Attributes
    ----------
    version : int
        Increases on every change (apply, undo, redo); observers compare it.
    """

    def __init__(self, width: int, height: int, ops: Iterable[MaskOp] = ()) -> None:
        for name, value in (("width", width), ("height", height)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValidationError(
                    f"mask {name} must be a positive integer, got {value!r}", param=name
                )
        self.width = int(width)
        self.height = int(height)
        self.version = 0
        self._ops: list[MaskOp] = []
        self._redo: list[MaskOp] = []
        self._raster = Image.new("L", (self.width, self.height), _OFF)
        self._checkpoints: dict[int, np.ndarray] = {}  # op count -> packed raster bits
        self._cost_since_checkpoint = 0.0
        self._mask_cache: np.ndarray | None = None
        for op in ops:
            self.apply(op)

    def __repr__(self) -> str:
        return (
            f"MaskDocument({self.width}x{self.height}, {len(self._ops)} ops, "
            f"{len(self._redo)} redoable)"
        )

    # ------------------------------------------------------------------ state

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the mask."""
        return (self.height, self.width)

    @property
    def ops(self) -> tuple[MaskOp, ...]:
        """The applied operations, oldest first (undone ones excluded)."""
        return tuple(self._ops)

    @property
    def can_undo(self) -> bool:
        return bool(self._ops)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def mask(self) -> np.ndarray:
        """The current mask, (H, W) bool, True = replace (a fresh copy)."""
        if self._mask_cache is None:
            self._mask_cache = _bool_from_image(self._raster)
        return self._mask_cache.copy()

    def mask_image(self) -> Image.Image:
        """The current mask as a Pillow "L" image, 255 = replace, 0 = keep (a copy)."""
        return self._raster.copy()

    def is_empty(self) -> bool:
        """True when no pixel is selected."""
        return self._raster.getbbox() is None

    # ------------------------------------------------------------------ editing

    def apply(self, op: MaskOp) -> None:
        """Append ``op``, rasterizing only it; clears the redo stack."""
        op = _check_op(op, self.width, self.height)
        self._forget_future()
        self._rasterize_next(op)

    def undo(self) -> MaskOp | None:
        """Undo the last operation exactly; returns it, or None when there is nothing to undo."""
        if not self._ops:
            return None
        op = self._ops.pop()
        self._redo.append(op)
        self._restore(len(self._ops))
        return op

    def redo(self) -> MaskOp | None:
        """Re-apply the last undone operation; returns it, or None when there is none."""
        if not self._redo:
            return None
        op = self._redo.pop()
        self._rasterize_next(op)
        return op

    def clear(self) -> None:
        self.apply(Clear())

    def fill(self) -> None:
        self.apply(Fill())

    def invert(self) -> None:
        self.apply(Invert())

    def grow(self, pixels: int) -> None:
        """Grow by ``pixels`` (negative shrinks)."""
        self.apply(Grow(pixels))

    def load(self, mask: np.ndarray) -> None:
        """Replace the mask by ``mask`` (H, W), nonzero = replace (undoable)."""
        self.apply(LoadMask(mask))

    def rasterize(self) -> np.ndarray:
        """Rasterize every applied operation from scratch (no caches): (H, W) bool."""
        return rasterize_ops(self.width, self.height, self._ops)

    # ------------------------------------------------------------------ internals

    def _changed(self) -> None:
        self.version += 1
        self._mask_cache = None

    def _forget_future(self) -> None:
        """A new op after undo: redo is gone and checkpoints past the present are stale."""
        self._redo.clear()
        count = len(self._ops)
        for key in [k for k in self._checkpoints if k > count]:
            del self._checkpoints[key]

    def _rasterize_next(self, op: MaskOp) -> None:
        started = time.perf_counter()
        self._raster = _apply_to_image(self._raster, op)
        self._ops.append(op)
        self._cost_since_checkpoint += time.perf_counter() - started
        self._maybe_checkpoint(op)
        self._changed()

    def _maybe_checkpoint(self, op: MaskOp) -> None:
        count = len(self._ops)
        if count in self._checkpoints or isinstance(op, _RESETS):
            self._cost_since_checkpoint = 0.0  # replay can start at a reset op itself
            return
        since = count - max((k for k in self._checkpoints if k <= count), default=0)
        if (
            isinstance(op, Grow)
            or self._cost_since_checkpoint > CHECKPOINT_BUDGET_S
            or since >= CHECKPOINT_EVERY_OPS
        ):
            self._checkpoints[count] = np.packbits(np.asarray(self._raster))  # nonzero -> 1
            self._cost_since_checkpoint = 0.0

    def _replay_start(self, count: int) -> tuple[int, Image.Image]:
        """The latest point <= ``count`` to rebuild from, and the raster there."""
        checkpoint = max((k for k in self._checkpoints if k <= count), default=0)
        reset = max(
            (i for i in range(checkpoint, count) if isinstance(self._ops[i], _RESETS)),
            default=None,
        )
        if reset is not None:
            return reset, Image.new("L", (self.width, self.height), _OFF)
        if checkpoint == 0:
            return 0, Image.new("L", (self.width, self.height), _OFF)
        bits = np.unpackbits(self._checkpoints[checkpoint], count=self.width * self.height)
        return checkpoint, _image_from_bool(bits.view(bool).reshape(self.height, self.width))

    def _restore(self, count: int) -> None:
        """Rebuild the raster for the first ``count`` ops from the nearest checkpoint."""
        started = time.perf_counter()
        start, image = self._replay_start(count)
        for op in self._ops[start:count]:
            image = _apply_to_image(image, op)
        self._raster = image
        self._cost_since_checkpoint = time.perf_counter() - started
        self._changed()
