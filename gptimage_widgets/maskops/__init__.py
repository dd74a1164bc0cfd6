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

Where each part lives (this package re-exports the public names):

- ``ops.py``: the operations and their validation;
- ``geometry.py``: stroke geometry (polylines -> Pillow polygons and discs, batched);
- ``raster.py``: the raster and drawing each operation (:func:`rasterize_ops`);
- ``grow.py``: exact grow/shrink on packed bit rasters (:func:`grow_mask`);
- ``document.py``: :class:`MaskDocument` (lazy batches, undo checkpoints, ``is_empty``).

This package is core: it imports only numpy, Pillow and the standard library.
"""

from __future__ import annotations

from .document import MaskDocument
from .grow import grow_mask
from .ops import Clear, Fill, Grow, Invert, Lasso, LoadMask, MaskOp, Point, Rect, Stroke
from .raster import rasterize_ops

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
