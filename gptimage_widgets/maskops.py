"""Mask editing as a list of operations: the mask painter's source of truth.

A mask is edited by appending immutable operations (:class:`Stroke`, :class:`Rect`,
:class:`Lasso`, :class:`Fill`, :class:`Clear`, :class:`Invert`, :class:`Grow`,
:class:`LoadMask`) to a :class:`MaskDocument`. The document rasterizes them with Pillow at the
image's full resolution. Appending is lazy: operations are rasterized in one batch when the
mask is next read (stroke geometry for the whole batch is computed with NumPy at once), so
appending N operations and reading once costs one batch, and appending then reading costs
that one operation. Packed raster checkpoints make undo exact and cheap: undo restores the
nearest checkpoint and replays the few operations after it.

How each operation is drawn:

- a stroke is one Pillow polygon per gently curving stretch (both offset chains, the outer
  side of each joint as a circumscribed arc, the inner side as the exact miter point), split
  where a stretch would fold, plus discs at the two ends and at sharp joints: edges lie
  within 0.8 px of the exact distance ``<= radius`` (Pillow rounds vertices to pixels);
- an inversion only flips a flag (the raster holds ``mask XOR inverted``);
- grow/shrink is an exact Euclidean dilation on the raster packed 64 pixels to a word, in
  cache-sized row tiles, written back into the raster in place.

Coordinates are full-resolution image pixel indices as floats: pixel ``(x, y)`` has its centre
at ``(x, y)``, so the image spans ``[-0.5, width - 0.5]`` horizontally. Masks are (H, W) bool
arrays, True = replace (the area the model edits).

This module is core: it imports only numpy, Pillow and the standard library.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
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
#: once the operations since the last one cost more (a 4K checkpoint costs ~1-3 ms, 1 MB).
CHECKPOINT_BUDGET_S = 0.03
#: ... and at least every this many operations, whatever they cost.
CHECKPOINT_EVERY_OPS = 128
#: Grow/shrink dilates large rasters in row tiles on this many threads (NumPy releases the
#: GIL). 1 by default: once tiles fit the cache, 2 threads measured slower on 2 shared cores
#: (a 4K shrink by 16: 7.8 ms wall / 11.2 ms CPU vs 7.0 ms on one thread).
GROW_THREADS = 1
#: Row tiles hold about this many 64-pixel words (256 KB: a tile and its scratch arrays stay
#: in a core's L2 cache; whole 4K rasters do not, and dilate ~1.7x slower).
_GROW_TILE_WORDS = 1 << 15
#: Bits are unpacked into the output this many rows at a time.
_UNPACK_ROWS = 64

_ON = 255
_OFF = 0
#: Pillow rounds polygon vertices and truncates ellipse boxes to whole pixels, measured from
#: pixel corners: shifting by half a pixel rounds to the nearest centre, and insetting the
#: outlines centres the remaining error on the exact boundary (measured against exact
#: distances: polygons within 0.77 px, discs within 0.71 px).
_PILLOW_SHIFT = 0.5 + 0.5j
_BODY_INSET = 0.3
_DISC_INSET = 0.5
#: Discs smaller than this radius are drawn pixel by pixel, exactly (Pillow's smallest ellipses
#: are 2x2 blocks).
_EXACT_DISC_RADIUS = 2.0
#: The outer side of a joint is a polygon circumscribed about the round join, overshooting it
#: by at most this (pixels).
_ARC_TOLERANCE = 0.25
#: Joints turning more than this (radians) get a disc and end the polygon.
_SHARP_TURN = 0.6
#: One stroke polygon spans at most this range of headings (radians; < pi/2 keeps both offset
#: chains monotone along the mean heading, so the polygon cannot fold) ...
_CHUNK_HEADING_RANGE = 1.2
#: ... and at most this many segments (Pillow's scanline cost grows with rows x edges).
_CHUNK_SEGMENTS = 16


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


# --------------------------------------------------------------------------- stroke geometry

#: Pillow primitives of one stroke: polygons as flat ``[x0, y0, x1, y1, ...]`` float32 buffers
#: (slices of one array for a whole batch: Pillow reads them without converting Python floats)
#: and disc bounding boxes ``[x0, y0, x1, y1]``, both in Pillow's coordinates.
_Shape: TypeAlias = tuple[list[memoryview], list[list[float]]]


@dataclass
class _Polylines:
    """Several strokes' polylines flattened into NumPy arrays (repeated vertices dropped).

    Vertices ``z`` are complex ``x + iy``; segment ``k`` runs from ``z[first[k]]`` to the next
    vertex with unit direction ``unit[k]``; joint ``j`` is the vertex between segments
    ``before[j]`` and ``before[j] + 1`` and turns by ``turn[j]`` radians (positive = towards
    the left normal ``1j * unit``).
    """

    z: np.ndarray
    vertex_stroke: np.ndarray
    first: np.ndarray
    length: np.ndarray
    unit: np.ndarray
    segment_stroke: np.ndarray
    before: np.ndarray
    turn: np.ndarray
    joint_stroke: np.ndarray

    @classmethod
    def of(cls, strokes: Sequence[Stroke]) -> _Polylines:
        z = np.concatenate([stroke._xy for stroke in strokes])  # type: ignore[attr-defined]
        counts = [stroke._xy.size for stroke in strokes]  # type: ignore[attr-defined]
        vertex_stroke = np.repeat(np.arange(len(strokes)), counts)
        repeated = (z[1:] == z[:-1]) & (vertex_stroke[1:] == vertex_stroke[:-1])
        if repeated.any():
            keep = np.concatenate(([True], ~repeated))
            z, vertex_stroke = z[keep], vertex_stroke[keep]
        first = np.flatnonzero(vertex_stroke[1:] == vertex_stroke[:-1])
        vectors = z[first + 1] - z[first]
        length = np.abs(vectors)
        unit = vectors / length
        segment_stroke = vertex_stroke[first]
        before = np.flatnonzero(segment_stroke[1:] == segment_stroke[:-1])
        turn = np.angle(unit[before + 1] * unit[before].conj())
        return cls(
            z, vertex_stroke, first, length, unit, segment_stroke, before, turn,
            segment_stroke[before],
        )  # fmt: skip


def _plan_splits(lines: _Polylines, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which joints end a stroke polygon (split) and which of those also get a disc (sharp).

    A joint stays inside a polygon when it turns gently (<= _SHARP_TURN), the inner miter
    points of both neighbouring segments fit on them (no fold on the inner side), and the
    polygon stays within _CHUNK_HEADING_RANGE and _CHUNK_SEGMENTS.
    """
    turn = lines.turn
    sharp = np.abs(turn) > _SHARP_TURN
    trim = half[lines.joint_stroke] * np.tan(np.abs(turn) * 0.5)
    fits = ~sharp & (trim < lines.length[lines.before]) & (trim < lines.length[lines.before + 1])
    starts_stroke = np.ones(turn.size, dtype=bool)
    starts_stroke[1:] = lines.before[1:] != lines.before[:-1] + 1
    # only joints that fit can stay inside a polygon; any other joint splits, like a stroke's
    # first joint, the loop starts afresh after it
    candidates = np.flatnonzero(fits)
    fresh = starts_stroke[candidates]
    fresh[1:] |= candidates[1:] != candidates[:-1] + 1
    split = np.ones(turn.size, dtype=bool)
    keep = []
    carry_left = carry_right = heading = low = high = 0.0
    count = 1
    for j, t, tr, new, prev_length in zip(
        candidates.tolist(),
        turn[candidates].tolist(),
        trim[candidates].tolist(),
        fresh.tolist(),
        lines.length[lines.before[candidates]].tolist(),
        strict=True,
    ):
        if new:
            carry_left = carry_right = heading = low = high = 0.0
            count = 1
        heading += t
        lowest = heading if heading < low else low
        highest = heading if heading > high else high
        if (
            count < _CHUNK_SEGMENTS
            and highest - lowest <= _CHUNK_HEADING_RANGE
            and tr + (carry_left if t > 0 else carry_right) < prev_length
        ):
            keep.append(j)
            count += 1
            low, high = lowest, highest
            if t > 0:
                carry_left, carry_right = tr, 0.0
            else:
                carry_left, carry_right = 0.0, tr
        else:
            carry_left = carry_right = heading = low = high = 0.0
            count = 1
    split[keep] = False
    return np.array(split, dtype=bool), sharp


def _joint_slots(
    lines: _Polylines, half: np.ndarray, split: np.ndarray, sharp: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Polygon vertices at every joint, both sides: (2, S) complex (row 0 left, row 1 right),
    the arc step count M per joint (enough for its own turn), and its slot count K = M + 3.

    Each joint has K slots per side: [end of a flat end, M arc vertices, end of the polygon
    before the joint, start of the polygon after it]. Unused slots repeat a neighbour (Pillow
    skips zero-length edges). Angles are fractions ``f`` of the turn from the previous
    segment's normal, radii ``half / cos(turn * g)``:

    - outer side, joint inside a polygon: circumscribed arc, f = (k - 1/2) / M, g = 1 / (2M);
    - inner side, joint inside a polygon: the miter point, f = 1/2, g = 1/2;
    - outer side, polygon ends here: flat end, arc, then the next segment's normal (f = 1);
    - inner side at a split, or any sharp joint: flat ends (f = 0 before, f = 1 after).
    """
    turn, stroke = lines.turn, lines.joint_stroke
    arc_turn = np.where(sharp, 0.0, np.abs(turn))
    arc_step = 2 * np.arccos(half / (half + _ARC_TOLERANCE))
    steps = np.maximum(1, np.ceil(arc_turn / arc_step[stroke] - 1e-9)).astype(np.int64)
    slots = steps + 3
    joint = np.repeat(np.arange(turn.size), slots)
    k = np.arange(joint.size) - np.repeat(np.cumsum(slots) - slots, slots)
    m = steps[joint].astype(float)
    a = (k - 0.5) / m
    th = turn[joint]
    flat_ends = (k == m + 2).astype(float)
    sides = []
    for outer_when in (turn < 0, turn > 0):  # left side is outer on right turns
        klass = np.where(split, np.where(outer_when, 2, 3), np.where(outer_when, 0, 1))
        klass = np.where(sharp, 3, klass)[joint]
        f = np.select(
            [klass == 0, klass == 1, klass == 2],
            [np.clip(a, 0.5 / m, 1 - 0.5 / m), 0.5, np.clip(a, 0.0, 1.0)],
            flat_ends,
        )
        g = np.select(
            [klass == 0, klass == 1, (klass == 2) & (k >= 1) & (k <= m)],
            [0.5 / m, 0.5, 0.5 / m],
            0.0,
        )
        sides.append((half[stroke][joint] / np.cos(th * g)) * np.exp(1j * (th * f)))
    normal = 1j * lines.unit[lines.before][joint]
    centre = lines.z[lines.first[lines.before] + 1][joint]
    vertices = centre + np.stack((sides[0], -sides[1])) * normal
    return vertices, steps, slots


def _stroke_shapes(strokes: Sequence[Stroke]) -> list[_Shape]:
    """Pillow polygons and discs for each stroke, computed for all strokes at once."""
    if not strokes:
        return []
    radius = np.array([stroke.radius for stroke in strokes])
    half = np.maximum(radius - _BODY_INSET, radius / 2)
    lines = _Polylines.of(strokes)
    split, sharp = _plan_splits(lines, half)
    vertices, steps, slots = _joint_slots(lines, half, split, sharp)
    count = len(strokes)
    segments = np.bincount(lines.segment_stroke, minlength=count)
    stroke_slots = np.bincount(lines.joint_stroke, weights=slots, minlength=count).astype(np.int64)
    chain = np.where(segments > 0, stroke_slots + 2, 0)
    offset = np.cumsum(chain) - chain
    # each stroke's left chain in order and its right chain reversed, in two flat arrays
    left = np.empty(int(chain.sum()), dtype=complex)
    right = np.empty_like(left)
    slot_stroke = np.repeat(lines.joint_stroke, slots)
    local = np.arange(slot_stroke.size) - (np.cumsum(stroke_slots) - stroke_slots)[slot_stroke]
    left[offset[slot_stroke] + 1 + local] = vertices[0]
    right[offset[slot_stroke] + chain[slot_stroke] - 2 - local] = vertices[1]
    drawn = np.flatnonzero(segments)
    first_segment = (np.cumsum(segments) - segments)[drawn]
    last_segment = first_segment + segments[drawn] - 1
    for index, tip, segment in (
        (offset[drawn], lines.z[lines.first[first_segment]], first_segment),
        (offset[drawn] + chain[drawn] - 1, lines.z[lines.first[last_segment] + 1], last_segment),
    ):
        across = half[drawn] * 1j * lines.unit[segment]
        left[index] = tip + across
        right[2 * offset[drawn] + chain[drawn] - 1 - index] = tip - across
    # polygon boundaries: where each split joint ends one polygon (chain-local slot index)
    slots_before = (np.cumsum(slots) - slots) - (np.cumsum(stroke_slots) - stroke_slots)[
        lines.joint_stroke
    ]
    cuts = 1 + slots_before + steps + 1
    polygon_stroke, start, end = _polygon_spans(lines.joint_stroke[split], cuts[split], chain)
    back = offset[polygon_stroke] + chain[polygon_stroke] - 1
    left_xy, left_index = _distinct_vertices(left)
    right_xy, right_index = _distinct_vertices(right)
    # each polygon: a run of the left chain, then a run of the reversed right chain
    run_start = np.stack(
        (
            left_index[offset[polygon_stroke] + start],
            len(left_xy) + right_index[back - end],
        ),
        axis=1,
    ).ravel()
    run_stop = np.stack(
        (
            left_index[offset[polygon_stroke] + end] + 1,
            len(left_xy) + right_index[back - start] + 1,
        ),
        axis=1,
    ).ravel()
    coordinates = np.concatenate((left_xy, right_xy))[_runs(run_start, run_stop)]
    ends = 2 * np.cumsum((run_stop - run_start).reshape(-1, 2).sum(axis=1))
    flat = memoryview(coordinates.astype(np.float32).ravel())  # Pillow reads float32 buffers
    polygons = [flat[a:b] for a, b in itertools.pairwise([0, *ends.tolist()])]
    discs = _disc_boxes(lines, radius, sharp)
    bounds = np.cumsum(np.bincount(polygon_stroke, minlength=count)).tolist()
    return [
        (polygons[low:high], discs[s])
        for s, (low, high) in enumerate(itertools.pairwise([0, *bounds]))
    ]


def _polygon_spans(
    cut_stroke: np.ndarray, cut_at: np.ndarray, chain: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every stroke polygon as (stroke, first slot, last slot) of its stroke's chains, sorted
    by stroke: a polygon ends at each cut and at the end of each drawn stroke."""
    drawn = np.flatnonzero(chain)
    stroke = np.concatenate((cut_stroke, drawn))
    end = np.concatenate((cut_at, chain[drawn] - 1))
    order = np.lexsort((end, stroke))
    stroke, end = stroke[order], end[order]
    start = np.zeros_like(end)
    same = stroke[1:] == stroke[:-1]
    start[1:][same] = end[:-1][same] + 1
    return stroke, start, end


def _runs(start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """The indices ``start[0]:stop[0]``, then ``start[1]:stop[1]``, ... in one int array."""
    length = stop - start
    return np.arange(int(length.sum())) + np.repeat(start - (np.cumsum(length) - length), length)


def _distinct_vertices(chain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pillow coordinates of a complex vertex chain without consecutive repeats (unused slots
    repeat a neighbour once rounded), and where each original vertex went: (K, 2) float
    ``(x, y)`` rows and, per original vertex, the index of an equal kept row."""
    xy = _pillow_coordinates(chain).reshape(-1, 2)
    keep = np.ones(len(xy), dtype=bool)
    keep[1:] = (xy[1:] != xy[:-1]).any(axis=1)
    return xy[keep], np.cumsum(keep) - 1


def _pillow_coordinates(z: np.ndarray) -> np.ndarray:
    """Complex points -> flat [x0, y0, x1, y1, ...] whole-pixel coordinates for Pillow: each
    rounded to the nearest pixel centre, in Pillow's corner-based coordinates (Pillow itself
    truncates towards zero, which is off by a pixel left of and above the image)."""
    return np.floor((z + _PILLOW_SHIFT).view(float))


def _disc_boxes(
    lines: _Polylines, radius: np.ndarray, sharp: np.ndarray
) -> list[list[list[float]]]:
    """Discs per stroke, at both ends and every sharp joint: ellipse bounding boxes, or for
    brushes under _EXACT_DISC_RADIUS the pixels themselves."""
    stroke_of = lines.vertex_stroke
    ends = np.flatnonzero(
        np.concatenate(([True], stroke_of[1:] != stroke_of[:-1]))
        | np.concatenate((stroke_of[1:] != stroke_of[:-1], [True]))
    )
    corners = lines.first[lines.before[sharp]] + 1
    vertex = np.sort(np.concatenate((ends, corners)))
    stroke = stroke_of[vertex]
    half = np.maximum(radius - _DISC_INSET, radius / 2)[stroke]
    centre = lines.z[vertex] + _PILLOW_SHIFT
    sides = (centre.real - half, centre.imag - half, centre.real + half, centre.imag + half)
    boxes = np.floor(np.stack(sides, 1))
    per_stroke: list[list[list[float]]] = [[] for _ in range(radius.size)]
    for s, box, z in zip(stroke.tolist(), boxes.tolist(), lines.z[vertex].tolist(), strict=True):
        small = radius[s] < _EXACT_DISC_RADIUS
        per_stroke[s].append(_disc_pixels(z, radius[s]) if small else box)
    return per_stroke


def _disc_pixels(centre: complex, radius: float) -> list[float]:
    """Flat [x0, y0, x1, y1, ...] of the pixels whose centres lie within ``radius`` of
    ``centre`` (small discs: Pillow's smallest ellipses are 2x2 blocks)."""
    cx, cy = centre.real, centre.imag
    return [
        float(c)
        for y in range(math.ceil(cy - radius), math.floor(cy + radius) + 1)
        for x in range(math.ceil(cx - radius), math.floor(cx + radius) + 1)
        if (x - cx) ** 2 + (y - cy) ** 2 <= radius * radius
        for c in (x, y)
    ]


# --------------------------------------------------------------------------- rasterizing


def _wrap(pixels: np.ndarray) -> Image.Image:
    """A Pillow "L" image drawing straight into ``pixels`` ((H, W) uint8, C-contiguous)."""
    height, width = pixels.shape
    image = Image.frombuffer("L", (width, height), pixels, "raw", "L", 0, 1)
    image.readonly = 0  # the buffer is ours and writable: draw into it, do not copy it
    return image


def _drawing_shares_memory() -> bool:
    """Whether this Pillow draws into a wrapped NumPy buffer (else canvases copy)."""
    pixels = np.zeros((1, 2), dtype=np.uint8)
    ImageDraw.Draw(_wrap(pixels)).point((1, 0), fill=_ON)
    return bool(pixels[0, 1] == _ON)


_SHARED = _drawing_shares_memory()


class _Canvas:
    """A mask's raster: (H, W) uint8 0/255 holding ``mask XOR inverted``, and a Pillow "L"
    image drawing into the same memory (NumPy reads it without copies).

    Inverting flips ``inverted`` instead of touching every pixel; drawing takes it into account.
    """

    def __init__(self, pixels: np.ndarray, inverted: bool = False) -> None:
        self.replace(pixels, inverted)

    @classmethod
    def blank(cls, width: int, height: int) -> _Canvas:
        return cls(np.zeros((height, width), dtype=np.uint8))

    def replace(self, pixels: np.ndarray, inverted: bool) -> None:
        """Show ``pixels`` ((H, W) uint8 0/255, owned by the canvas from now on)."""
        self.image = _wrap(pixels) if _SHARED else Image.fromarray(pixels)
        self._pixels = pixels
        self.inverted = inverted
        self._draw: ImageDraw.ImageDraw | None = None

    @property
    def pixels(self) -> np.ndarray:
        """The stored raster, (H, W) uint8 0/255 (do not modify)."""
        return self._pixels if _SHARED else np.asarray(self.image)

    @property
    def draw(self) -> ImageDraw.ImageDraw:
        if self._draw is None:
            self._draw = ImageDraw.Draw(self.image)
        return self._draw

    def ink(self, erase: bool) -> int:
        """The stored value that makes a pixel selected (``erase`` False) or not (True)."""
        return _OFF if erase != self.inverted else _ON

    def mask(self) -> np.ndarray:
        """(H, W) bool, True = replace (a new array)."""
        return self.pixels == _OFF if self.inverted else self.pixels != _OFF

    def packed(self) -> tuple[np.ndarray, bool]:
        """A compact copy for undo checkpoints: (H, ceil(W / 8)) uint8 bits, and the flag."""
        return _pack(self.pixels), self.inverted

    @classmethod
    def unpack(cls, packed: tuple[np.ndarray, bool], width: int) -> _Canvas:
        bits, inverted = packed
        return cls(_pixels_from_packed(bits, width), inverted)


def _draw_rect(canvas: _Canvas, op: Rect) -> None:
    left, right = math.ceil(min(op.x0, op.x1)), math.floor(max(op.x0, op.x1))
    top, bottom = math.ceil(min(op.y0, op.y1)), math.floor(max(op.y0, op.y1))
    if left > right or top > bottom:
        return
    canvas.draw.rectangle((left, top, right, bottom), fill=canvas.ink(op.erase))


def _draw_lasso(canvas: _Canvas, op: Lasso) -> None:
    corners = np.asarray(op.points).view(complex).ravel()
    canvas.draw.polygon(_pillow_coordinates(corners).tolist(), fill=canvas.ink(op.erase))


def _draw_stroke(canvas: _Canvas, op: Stroke, shape: _Shape) -> None:
    # Pillow's C drawing object directly (what ImageDraw's methods call after resolving the
    # ink): thousands of shapes per batch skip ImageDraw's per-call ink checks
    core = canvas.draw.draw
    ink = core.draw_ink(canvas.ink(op.erase))
    polygons, discs = shape
    for polygon in polygons:
        core.draw_polygon(polygon, ink, 1)
    if op.radius < _EXACT_DISC_RADIUS:
        for disc in discs:
            core.draw_points(disc, ink)  # the disc's pixels, listed exactly
    else:
        for disc in discs:
            core.draw_ellipse(disc, ink, 1)


def _apply_op(canvas: _Canvas, op: MaskOp, shape: _Shape | None = None) -> None:
    """Rasterize ``op`` onto ``canvas``; ``shape`` is a stroke's precomputed geometry."""
    if isinstance(op, Stroke):
        _draw_stroke(canvas, op, shape if shape is not None else _stroke_shapes([op])[0])
    elif isinstance(op, Rect):
        _draw_rect(canvas, op)
    elif isinstance(op, Lasso):
        _draw_lasso(canvas, op)
    elif isinstance(op, (Fill, Clear)):
        canvas.image.paste(_ON if isinstance(op, Fill) else _OFF, (0, 0, *canvas.image.size))
        canvas.inverted = False
    elif isinstance(op, Invert):
        canvas.inverted = not canvas.inverted
    elif isinstance(op, Grow):
        if op.pixels:
            # grow(~S, n) == ~grow(S, -n): an inverted raster grows the other way
            pixels = -op.pixels if canvas.inverted else op.pixels
            if _SHARED:  # the raster is packed before it is overwritten: grow in place
                _grow_raster(canvas.pixels, pixels, canvas.pixels)
            else:
                grown = np.empty_like(canvas.pixels)
                _grow_raster(canvas.pixels, pixels, grown)
                canvas.replace(grown, canvas.inverted)
    elif isinstance(op, LoadMask):
        canvas.replace(op.array.view(np.uint8) * np.uint8(_ON), False)


def _stroke_shape_queue(ops: Sequence[MaskOp]) -> Iterator[_Shape]:
    """The geometry of every stroke in ``ops``, in order, computed in one batch."""
    return iter(_stroke_shapes([op for op in ops if isinstance(op, Stroke)]))


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
    """Rasterize ``ops`` from an empty mask, without undo checkpoints.

    Returns
    -------
    numpy.ndarray
        (height, width) bool, True = replace.
    """
    ops = [_check_op(op, width, height) for op in ops]
    canvas = _Canvas.blank(width, height)
    shapes = _stroke_shape_queue(ops)
    for op in ops:
        _apply_op(canvas, op, next(shapes) if isinstance(op, Stroke) else None)
    return canvas.mask()


# --------------------------------------------------------------------------- grow / shrink
#
# Bit rasters: (H, N) uint64 words, pixel x of a row in word x // 64 at bit x % 64 (NumPy's
# little-endian bit packing read as native words); the bits past W start out zero. Dilation
# widens rows on the raster flattened into one word stream (contiguous, no per-row slicing),
# so each row has at least ``radius`` spare bits past W: what spills over a row's end (or
# before the next row's start) stays in those spare bits and is dropped on unpacking.


def _pack(pixels: np.ndarray) -> np.ndarray:
    """(H, W) bool or uint8 (nonzero = set) -> (H, ceil(W / 8)) uint8 bits, little-endian."""
    return np.packbits(pixels, axis=1, bitorder="little")


def _words_from_packed(packed: np.ndarray, spare: int = 0) -> np.ndarray:
    """(H, ceil(W / 8)) uint8 bits -> (H, N) uint64 words (a new array), N the fewest words
    holding ``8 * ceil(W / 8) + spare`` bits; the bits past the packed ones are zero."""
    height, row_bytes = packed.shape
    padded = np.zeros((height, -(-(row_bytes * 8 + spare) // 64) * 8), dtype=np.uint8)
    padded[:, :row_bytes] = packed
    return padded.view("<u8").astype(np.uint64, copy=False)


def _packed_from_words(words: np.ndarray, width: int) -> np.ndarray:
    """Inverse of :func:`_words_from_packed`: (H, ceil(W / 8)) uint8."""
    return words.astype("<u8", copy=False).view(np.uint8)[:, : -(-width // 8)]


def _complement(words: np.ndarray, width: int) -> np.ndarray:
    """Bitwise NOT of a bit raster, keeping the bits past ``width`` zero."""
    out = ~words
    full, spare = divmod(width, 64)
    if spare:
        out[:, full] &= np.uint64((1 << spare) - 1)
        full += 1
    out[:, full:] = 0
    return out


def _widen(
    flat: np.ndarray, reach: int, target: int, scratch: tuple[np.ndarray, np.ndarray]
) -> None:
    """Dilate a flattened bit raster, already widened by ``reach`` pixels, to ``target``
    pixels sideways, in place (carries across words); ``scratch`` holds two arrays of the
    same shape.

    ``row | row << s | row >> s`` widens a raster widened by ``reach`` to ``reach + s`` when
    ``s <= 2 * reach + 1`` (the shifted runs touch), so steps grow 1, 3, 9, ... (at most 63,
    one word): about log3(target) passes instead of ``target``.
    """
    while reach < target:
        shift = min(target - reach, 2 * reach + 1, 63)
        _widen_by(flat, shift, *scratch)
        reach += shift


def _widen_by(flat: np.ndarray, shift: int, carry: np.ndarray, part: np.ndarray) -> None:
    """``flat |= flat shifted left | flat shifted right`` by ``shift`` (1..63) pixels, on a
    1-D word stream: 8 contiguous NumPy passes, no temporaries."""
    near, far = np.uint64(shift), np.uint64(64 - shift)
    np.right_shift(flat[:-1], far, out=carry[1:])  # high bits into the next word (x + shift)
    carry[0] = 0
    np.left_shift(flat[1:], far, out=part[:-1])  # low bits into the word before (x - shift)
    part[-1] = 0
    carry |= part
    np.left_shift(flat, near, out=part)  # pixel x -> x + shift
    carry |= part
    np.right_shift(flat, near, out=part)  # pixel x -> x - shift
    carry |= part
    flat |= carry


def _dilate_band(words: np.ndarray, radius: int) -> np.ndarray:
    """Exact Euclidean dilation of a bit raster by the digital disc ``dx² + dy² <= radius²``;
    ``words`` must have at least ``radius`` zero bits past the image in every row.

    The disc is the union over |k| <= radius of the row segments ``|dx| <= w(k)`` at
    ``dy = k``, with ``w(k) = isqrt(radius² - k²)``. For k = radius down to 0 the raster is
    widened to ``w(k)`` (w grows as k falls, so each widening continues the last) and OR-ed
    into the output shifted k rows up and down: O(radius x H x W / 64) word operations, on
    the rows within ``radius`` of a set bit only. Pixels outside the raster are unselected;
    shifting drops them, which no straight path needs.
    """
    out = np.zeros_like(words)
    rows = np.flatnonzero(words.any(axis=1))
    if rows.size == 0:
        return out
    top = max(0, int(rows[0]) - radius)
    bottom = min(words.shape[0], int(rows[-1]) + 1 + radius)
    widened = words[top:bottom].copy()
    flat = widened.reshape(-1)
    total = out[top:bottom]
    scratch = (np.empty_like(flat), np.empty_like(flat))
    reach = 0
    for k in range(radius, -1, -1):
        target = math.isqrt(radius * radius - k * k)
        _widen(flat, reach, target, scratch)
        reach = target
        if k == 0:
            total |= widened
        elif k < total.shape[0]:
            total[k:] |= widened[:-k]
            total[:-k] |= widened[k:]
    return out


_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=GROW_THREADS, thread_name_prefix="maskops-grow")
    return _POOL


def _row_tiles(height: int, row_words: int, radius: int) -> list[tuple[int, int]]:
    """Split ``height`` rows into tiles of about _GROW_TILE_WORDS words (each with its
    ``radius`` rows of context stays in a core's cache), as many as a multiple of
    GROW_THREADS so the threads get equal shares; at least 4 x ``radius`` rows each."""
    rows = max(_GROW_TILE_WORDS // row_words, 4 * radius, 1)
    count = -(-height // rows)
    if count > 1:
        count = -(-count // GROW_THREADS) * GROW_THREADS
    count = max(1, min(count, height // (4 * radius) or 1))
    edges = [height * i // count for i in range(count + 1)]
    return list(itertools.pairwise(edges))


def _unpack_into(words: np.ndarray, out: np.ndarray) -> None:
    """Bit raster (h, N) uint64 -> ``out`` (h, W) bool (True) or uint8 (255), in place, a
    few rows at a time (small temporaries stay in cache and need no fresh pages)."""
    width = out.shape[1]
    packed = _packed_from_words(words, width)
    for start in range(0, packed.shape[0], _UNPACK_ROWS):
        stop = start + _UNPACK_ROWS
        bits = np.unpackbits(packed[start:stop], axis=1, count=width, bitorder="little")
        if out.dtype == bool:
            np.copyto(out[start:stop], bits.view(bool))
        else:
            np.multiply(bits, np.uint8(_ON), out=out[start:stop])


def _grow_raster(raster: np.ndarray, pixels: int, out: np.ndarray) -> None:
    """Grow (``pixels`` > 0) or shrink (< 0) ``raster`` ((H, W) bool or uint8, nonzero = set)
    exactly into ``out`` ((H, W) bool or uint8 0/255; may be ``raster`` itself).

    The raster is packed 64 pixels to a word first, then dilated in row tiles, each with
    ``radius`` rows of context (tiles run on GROW_THREADS threads; NumPy releases the GIL).
    """
    height, width = raster.shape
    radius = abs(pixels)
    words = _words_from_packed(_pack(raster), spare=radius)
    if pixels < 0:  # shrink(S, n) == ~grow(~S, n); outside the image stays unselected
        words = _complement(words, width)

    def grow_tile(tile: tuple[int, int]) -> None:
        start, stop = tile
        low, high = max(0, start - radius), min(height, stop + radius)
        grown = _dilate_band(words[low:high], radius)[start - low : stop - low]
        if pixels < 0:
            np.invert(grown, out=grown)
        _unpack_into(grown, out[start:stop])

    tiles = _row_tiles(height, words.shape[1], radius)
    if len(tiles) == 1 or GROW_THREADS == 1:
        for tile in tiles:
            grow_tile(tile)
    else:
        list(_pool().map(grow_tile, tiles))


def _pixels_from_packed(packed: np.ndarray, width: int) -> np.ndarray:
    """(H, ceil(W / 8)) uint8 bits -> (H, W) uint8, 1 -> 255."""
    return np.unpackbits(packed, axis=1, count=width, bitorder="little") * np.uint8(_ON)


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
    out = mask.copy()
    if pixels:
        _grow_raster(mask, pixels, out)
    return out


# --------------------------------------------------------------------------- document


class MaskDocument:
    """An editable mask: operations, exact undo/redo and a full-resolution raster.

    Appending is lazy: operations are rasterized in one batch when the mask is next read
    (:attr:`mask`, :meth:`mask_image`, :meth:`is_empty`), each exactly once.

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
        self._canvas = _Canvas.blank(self.width, self.height)
        self._rasterized = 0  # the canvas shows the first this many ops
        self._checkpoints: dict[int, tuple[np.ndarray, bool]] = {}  # op count -> packed canvas
        self._cost_since_checkpoint = 0.0
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
        # one pass over the raster: no cached copy (copying it would cost as much)
        return self._current().mask()

    def mask_image(self) -> Image.Image:
        """The current mask as a Pillow "L" image, 255 = replace, 0 = keep (a copy)."""
        canvas = self._current()
        return ImageChops.invert(canvas.image) if canvas.inverted else canvas.image.copy()

    def is_empty(self) -> bool:
        """True when no pixel is selected."""
        canvas = self._current()
        if canvas.inverted:
            return bool(canvas.image.getextrema()[0] == _ON)
        return canvas.image.getbbox() is None

    # ------------------------------------------------------------------ editing

    def apply(self, op: MaskOp) -> None:
        """Append ``op`` (rasterized on the next read); clears the redo stack."""
        op = _check_op(op, self.width, self.height)
        self._forget_future()
        self._ops.append(op)
        self._changed()

    def undo(self) -> MaskOp | None:
        """Undo the last operation exactly; returns it, or None when there is nothing to undo."""
        if not self._ops:
            return None
        op = self._ops.pop()
        self._redo.append(op)
        if self._rasterized > len(self._ops):
            self._restore(len(self._ops))
        self._changed()
        return op

    def redo(self) -> MaskOp | None:
        """Re-apply the last undone operation; returns it, or None when there is none."""
        if not self._redo:
            return None
        op = self._redo.pop()
        self._ops.append(op)
        self._changed()
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

    def _forget_future(self) -> None:
        """A new op after undo: redo is gone and checkpoints past the present are stale."""
        self._redo.clear()
        count = len(self._ops)
        for key in [k for k in self._checkpoints if k > count]:
            del self._checkpoints[key]

    def _current(self) -> _Canvas:
        """The canvas with every applied op rasterized (the pending ones in one batch)."""
        if self._rasterized < len(self._ops):
            self._rasterize_pending()
        return self._canvas

    def _rasterize_pending(self) -> None:
        started = time.perf_counter()
        pending = self._ops[self._rasterized :]
        shapes = _stroke_shape_queue(pending)
        geometry_per_op = (time.perf_counter() - started) / len(pending)  # shared by the batch
        for op in pending:
            started = time.perf_counter()
            _apply_op(self._canvas, op, next(shapes) if isinstance(op, Stroke) else None)
            self._rasterized += 1
            self._cost_since_checkpoint += time.perf_counter() - started + geometry_per_op
            self._maybe_checkpoint(op)

    def _maybe_checkpoint(self, op: MaskOp) -> None:
        count = self._rasterized
        if count in self._checkpoints or isinstance(op, _RESETS):
            self._cost_since_checkpoint = 0.0  # replay can start at a reset op itself
            return
        since = count - max((k for k in self._checkpoints if k <= count), default=0)
        if (
            isinstance(op, Grow)
            or self._cost_since_checkpoint > CHECKPOINT_BUDGET_S
            or since >= CHECKPOINT_EVERY_OPS
        ):
            self._checkpoints[count] = self._canvas.packed()
            self._cost_since_checkpoint = 0.0

    def _restore(self, count: int) -> None:
        """Reset the canvas to the latest checkpoint or reset op at or before ``count``; the
        ops after it are replayed on the next read."""
        checkpoint = max((k for k in self._checkpoints if k <= count), default=0)
        reset = max(
            (i for i in range(checkpoint, count) if isinstance(self._ops[i], _RESETS)),
            default=None,
        )
        if reset is not None or checkpoint == 0:
            self._canvas = _Canvas.blank(self.width, self.height)
            self._rasterized = reset or 0
        else:
            self._canvas = _Canvas.unpack(self._checkpoints[checkpoint], self.width)
            self._rasterized = checkpoint
        self._cost_since_checkpoint = 0.0
