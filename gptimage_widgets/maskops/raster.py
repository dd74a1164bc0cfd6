"""Rasterising: drawing mask operations onto a full-resolution Pillow/NumPy raster.

Owns the raster (:class:`_Canvas`: (H, W) uint8 0/255 holding ``mask XOR inverted``, with a
Pillow "L" image drawing into the same memory), how each operation is drawn
(:func:`_apply_op`), and :func:`rasterize_ops`. An inversion only flips a flag; grow/shrink
runs ``grow.py`` on the raster in place.

Pillow's C drawing object (``ImageDraw.Draw(image).draw``, undocumented) draws strokes
thousands of shapes at a time; when a Pillow lacks it, :data:`_CORE_DRAW` is False and strokes
go through ImageDraw's public ``polygon`` / ``point`` / ``ellipse`` (same pixels, slower).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
from PIL import Image, ImageDraw

from .geometry import _EXACT_DISC_RADIUS, _pillow_coordinates, _Shape, _stroke_shapes
from .grow import _OFF, _ON, _grow_raster, _pack, _pixels_from_packed
from .ops import (
    Clear,
    Fill,
    Grow,
    Invert,
    Lasso,
    LoadMask,
    MaskOp,
    Rect,
    Stroke,
    _check_op,
)


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
        """An empty (H, W) = (``height``, ``width``) canvas."""
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
        """The ImageDraw drawing into :attr:`image` (made on first use)."""
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
        """A canvas from :meth:`packed`'s output, ``width`` pixels wide."""
        bits, inverted = packed
        return cls(_pixels_from_packed(bits, width), inverted)


def _draw_rect(canvas: _Canvas, op: Rect) -> None:
    """Fill the pixels whose centres lie in ``op``'s rectangle (clipped to the image)."""
    left, right = math.ceil(min(op.x0, op.x1)), math.floor(max(op.x0, op.x1))
    top, bottom = math.ceil(min(op.y0, op.y1)), math.floor(max(op.y0, op.y1))
    if left > right or top > bottom:
        return
    canvas.draw.rectangle((left, top, right, bottom), fill=canvas.ink(op.erase))


def _draw_lasso(canvas: _Canvas, op: Lasso) -> None:
    """Fill ``op``'s polygon, vertices rounded to the nearest pixel centre."""
    corners = np.asarray(op.points).view(complex).ravel()
    canvas.draw.polygon(_pillow_coordinates(corners).tolist(), fill=canvas.ink(op.erase))


def _draw_stroke(canvas: _Canvas, op: Stroke, shape: _Shape) -> None:
    """Draw a stroke's precomputed polygons and discs (``geometry._stroke_shapes``)."""
    if _CORE_DRAW:
        _draw_stroke_core(canvas, op, shape)
    else:
        _draw_stroke_public(canvas, op, shape)


def _draw_stroke_core(canvas: _Canvas, op: Stroke, shape: _Shape) -> None:
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


def _draw_stroke_public(canvas: _Canvas, op: Stroke, shape: _Shape) -> None:
    """:func:`_draw_stroke` through ImageDraw's documented methods (the same pixels)."""
    draw, ink = canvas.draw, canvas.ink(op.erase)
    polygons, discs = shape
    for polygon in polygons:
        draw.polygon(polygon.tolist(), fill=ink)
    for disc in discs:
        if op.radius < _EXACT_DISC_RADIUS:
            draw.point(disc, fill=ink)
        else:
            draw.ellipse(disc, fill=ink)


def _core_draw_works() -> bool:
    """Whether this Pillow's undocumented C drawing object (``ImageDraw.Draw(im).draw``)
    takes :func:`_draw_stroke`'s calls and draws what ImageDraw's documented methods draw
    (probed once at import on a tiny image; when not, strokes use the documented methods)."""
    polygon = np.array([1, 1, 9, 2, 6, 8], dtype=np.float32).data
    probes: list[tuple[Stroke, _Shape]] = [
        (Stroke([(0, 0)], radius=_EXACT_DISC_RADIUS), ([polygon], [[2.0, 5.0, 6.0, 9.0]])),
        (Stroke([(0, 0)], radius=1.0), ([], [[10.0, 3.0, 11.0, 3.0, 10.0, 4.0]])),
    ]
    results = []
    for draw_stroke in (_draw_stroke_core, _draw_stroke_public):
        canvas = _Canvas.blank(12, 10)
        try:
            for op, shape in probes:
                draw_stroke(canvas, op, shape)
        except (AttributeError, TypeError, ValueError):
            return False
        results.append(canvas.pixels.copy())
    return bool(results[0].any() and np.array_equal(results[0], results[1]))


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


#: Whether strokes are drawn with Pillow's C drawing object (else ImageDraw's public methods).
_CORE_DRAW = _core_draw_works()
