"""Stroke geometry: brush strokes -> Pillow polygons and discs, for a whole batch at once.

Owns how a :class:`~gptimage_widgets.maskops.ops.Stroke` becomes Pillow primitives: one
polygon per gently curving stretch (both offset chains, the outer side of each joint as a
circumscribed arc, the inner side as the exact miter point), split where a stretch would fold,
plus discs at the two ends and at sharp joints. Edges lie within 0.8 px of the exact distance
``<= radius`` (Pillow rounds vertices to pixels). All strokes of a batch are computed with
NumPy together (:func:`_stroke_shapes`); ``raster.py`` draws the result.

Points are complex numbers ``x + iy`` in image pixels (pixel centres at integers); the output
is in Pillow's corner-based whole-pixel coordinates.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np

from .ops import Stroke

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
