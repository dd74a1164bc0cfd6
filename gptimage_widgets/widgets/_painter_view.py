"""The mask painter's view: zoom and pan over a full-resolution image (pure, no widgets).

A :class:`View` says which part of a ``(W, H)`` image a ``(w, h)`` display canvas shows:

- ``scale`` is the zoom, in display pixels per image pixel (``1.0`` = 1:1, one image pixel on
  one canvas pixel; ``4.0`` = each image pixel is 4×4 canvas pixels); it stays between
  :attr:`View.min_scale` (the whole image fits, "Fit") and :attr:`View.max_scale`;
- ``left``, ``top`` are the image *edge* coordinates at the canvas' top-left corner (the image
  spans ``[0, W] × [0, H]`` in edge coordinates, so pixel ``i`` covers ``[i, i + 1]``).

Coordinates, as everywhere in the painter: a canvas position ``(x, y)`` (display pixels,
``(0, 0)`` = the canvas' top-left corner, as ipycanvas reports mouse events) maps to the image
point ``(left + x / scale - 0.5, top + y / scale - 0.5)`` in pixel *index* coordinates (pixel
centres at integers, the convention of :mod:`gptimage_widgets.maskops`). At Fit on a canvas
sized by the painter (the image scaled down to ``max_display``), ``left = top = 0`` and this
is the painter's original mapping ``x * W / w - 0.5``.

Views are immutable: :meth:`View.zoom_about`, :meth:`View.pan`, :meth:`View.zoom_to`... return
a new, clamped view (the zoom within its bounds; the image never leaves a gap at a side it
could fill; an image smaller than the canvas on an axis is centred on it).

:func:`render` draws the visible part of a full-resolution image (or mask) at display size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PIL import Image

__all__ = [
    "MAX_SCALE",
    "ZOOM_STEPS_PER_DOUBLING",
    "Crop",
    "Pyramid",
    "View",
    "render",
    "wheel_factor",
]

#: The largest zoom: one image pixel shown as 32×32 canvas pixels.
MAX_SCALE = 32.0
#: Zoom in/out buttons and keys step through ``2 ** (k / ZOOM_STEPS_PER_DOUBLING)``
#: (..., 0.5, 0.71, 1, 1.41, 2, ...: 1:1, 2×, 4× are levels).
ZOOM_STEPS_PER_DOUBLING = 2
#: Wheel notches: ``deltaY`` of this many pixels zooms by 2× (a mouse notch is ~100 -> 1.26×).
WHEEL_PIXELS_PER_DOUBLING = 300.0
#: Pinch on a trackpad (browsers send it as a wheel event with ``ctrlKey``): finer deltas.
PINCH_PIXELS_PER_DOUBLING = 100.0
#: One wheel event never zooms by more than this factor (a fast fling is not a jump to 32×).
MAX_WHEEL_FACTOR = 2.0
#: Relative tolerance when comparing zoom levels (e.g. "is this Fit?").
_EPS = 1e-9

Point = tuple[float, float]


@dataclass(frozen=True)
class Crop:
    """Where the visible part of the image goes on the canvas.

    Attributes
    ----------
    source : (float, float, float, float)
        ``(left, top, right, bottom)`` in image edge coordinates, inside ``[0, W] × [0, H]``.
    dest : (int, int, int, int)
        ``(x0, y0, x1, y1)`` canvas pixels the source is drawn to (``x1``, ``y1`` exclusive);
        the rest of the canvas shows no image. Empty (``x0 == x1``) when nothing is visible.
    """

    source: tuple[float, float, float, float]
    dest: tuple[int, int, int, int]

    @property
    def dest_size(self) -> tuple[int, int]:
        """(width, height) of the destination rectangle in canvas pixels."""
        x0, y0, x1, y1 = self.dest
        return x1 - x0, y1 - y0


@dataclass(frozen=True)
class View:
    """Zoom and pan of an image of ``image_size`` shown on a canvas of ``display_size``.

    Build one with :meth:`fit`; every method returns a new clamped view.

    Parameters
    ----------
    image_size : (int, int)
        (W, H) of the full-resolution image, in pixels.
    display_size : (int, int)
        (w, h) of the canvas, in display pixels.
    scale : float
        Display pixels per image pixel (1.0 = 1:1).
    left, top : float
        Image edge coordinates shown at the canvas' top-left corner.
    """

    image_size: tuple[int, int]
    display_size: tuple[int, int]
    scale: float
    left: float = 0.0
    top: float = 0.0

    # ------------------------------------------------------------------ building

    @classmethod
    def fit(cls, image_size: tuple[int, int], display_size: tuple[int, int]) -> View:
        """The whole image, as large as the canvas allows (centred on the shorter axis)."""
        for name, (a, b) in (("image_size", image_size), ("display_size", display_size)):
            if min(a, b) < 1:
                raise ValueError(f"{name} must be two positive integers, got {(a, b)!r}")
        view = cls(tuple(image_size), tuple(display_size), 1.0)  # type: ignore[arg-type]
        return view.zoom_to(view.min_scale)

    # ------------------------------------------------------------------ bounds

    @property
    def min_scale(self) -> float:
        """The Fit zoom: the whole image shows, touching two sides of the canvas."""
        (width, height), (dw, dh) = self.image_size, self.display_size
        return min(dw / width, dh / height)

    @property
    def max_scale(self) -> float:
        """The largest zoom (:data:`MAX_SCALE`, or Fit when that is larger)."""
        return max(MAX_SCALE, self.min_scale)

    @property
    def is_fit(self) -> bool:
        """Whether this view shows the whole image (the zoom is Fit)."""
        return self.scale <= self.min_scale * (1 + _EPS)

    @property
    def visible(self) -> tuple[float, float, float, float]:
        """``(left, top, right, bottom)`` of the canvas in image edge coordinates.

        May extend past the image on an axis where the image is smaller than the canvas.
        """
        dw, dh = self.display_size
        return (self.left, self.top, self.left + dw / self.scale, self.top + dh / self.scale)

    @property
    def center(self) -> Point:
        """The image point (pixel index coordinates) at the canvas centre."""
        dw, dh = self.display_size
        return self.to_image(dw / 2, dh / 2)

    # ------------------------------------------------------------------ mapping

    def to_image(self, x: float, y: float) -> Point:
        """A canvas position (display pixels) -> image pixel index coordinates."""
        return (self.left + x / self.scale - 0.5, self.top + y / self.scale - 0.5)

    def to_display(self, x: float, y: float) -> Point:
        """Image pixel index coordinates -> the canvas position (inverse of :meth:`to_image`)."""
        return ((x + 0.5 - self.left) * self.scale, (y + 0.5 - self.top) * self.scale)

    # ------------------------------------------------------------------ changing

    def clamped(self) -> View:
        """This view with the zoom in bounds and the image placed as well as it can be."""
        scale = float(np.clip(self.scale, self.min_scale, self.max_scale))
        left = _clamp_axis(self.left, self.display_size[0] / scale, self.image_size[0])
        top = _clamp_axis(self.top, self.display_size[1] / scale, self.image_size[1])
        return replace(self, scale=scale, left=left, top=top)

    def zoom_about(self, scale: float, x: float, y: float) -> View:
        """Zoom to ``scale`` keeping the canvas point ``(x, y)`` over the same image point.

        (When clamping moves the view, e.g. zooming out near an edge, the point may shift.)
        """
        scale = float(np.clip(scale, self.min_scale, self.max_scale))
        edge_x, edge_y = self.left + x / self.scale, self.top + y / self.scale
        return replace(self, scale=scale, left=edge_x - x / scale, top=edge_y - y / scale).clamped()

    def zoom_to(self, scale: float, center: Point | None = None) -> View:
        """Zoom to ``scale`` with image point ``center`` (index coordinates) at the canvas
        centre, or, with ``center=None``, keeping the current centre."""
        if not (_is_number(scale) and scale > 0):
            raise ValueError(
                f"zoom factor must be a positive number (display px per image px, 1.0 = 1:1), "
                f"got {scale!r}"
            )
        if center is not None and not (
            isinstance(center, (tuple, list)) and len(center) == 2 and all(map(_is_number, center))
        ):
            raise ValueError(
                f"center must be an image point (x, y) in pixels, or None, got {center!r}"
            )
        cx, cy = self.center if center is None else center
        scale = float(np.clip(scale, self.min_scale, self.max_scale))
        dw, dh = self.display_size
        left = cx + 0.5 - dw / 2 / scale
        top = cy + 0.5 - dh / 2 / scale
        return replace(self, scale=scale, left=left, top=top).clamped()

    def step(self, steps: int, at: Point | None = None) -> View:
        """Zoom in (``steps > 0``) or out by whole levels, about the canvas point ``at``
        (default: the centre).

        Levels are ``2 ** (k / ZOOM_STEPS_PER_DOUBLING)`` (1:1 is one of them), so stepping
        from any zoom lands on a level; stepping out stops at Fit, in at :attr:`max_scale`.
        """
        exponent = math.log2(self.scale) * ZOOM_STEPS_PER_DOUBLING
        if steps > 0:
            level = math.floor(exponent + 1e-6) + steps
        else:
            level = math.ceil(exponent - 1e-6) + steps
        scale = 2.0 ** (level / ZOOM_STEPS_PER_DOUBLING)
        if at is None:
            return self.zoom_to(scale)
        return self.zoom_about(scale, *at)

    def pan(self, dx: float, dy: float) -> View:
        """Move the image by ``(dx, dy)`` canvas pixels (the image follows a drag)."""
        return replace(
            self, left=self.left - dx / self.scale, top=self.top - dy / self.scale
        ).clamped()

    def wheel(self, delta_y: float, x: float, y: float, *, pinch: bool = False) -> View:
        """A wheel (or pinch) event at canvas point ``(x, y)``: zoom about it."""
        return self.zoom_about(self.scale * wheel_factor(delta_y, pinch=pinch), x, y)

    def resized(self, display_size: tuple[int, int]) -> View:
        """The same zoom and centre on a canvas of another size (Fit stays Fit)."""
        fitted = View.fit(self.image_size, display_size)
        return fitted if self.is_fit else fitted.zoom_to(self.scale, self.center)

    # ------------------------------------------------------------------ rendering

    def crop(self) -> Crop:
        """The visible part of the image and the canvas rectangle it is drawn to.

        The destination is rounded to whole canvas pixels; the source is the visible
        rectangle clipped to the image (so a sub-pixel border may stretch by < 1 pixel).
        """
        left, top, right, bottom = self.visible
        (width, height), (dw, dh) = self.image_size, self.display_size
        source = (
            max(left, 0.0),
            max(top, 0.0),
            min(right, float(width)),
            min(bottom, float(height)),
        )
        x0, y0 = self._edge_to_display(source[0], source[1])
        x1, y1 = self._edge_to_display(source[2], source[3])
        dest = (
            int(np.clip(round(x0), 0, dw)),
            int(np.clip(round(y0), 0, dh)),
            int(np.clip(round(x1), 0, dw)),
            int(np.clip(round(y1), 0, dh)),
        )
        if source[2] <= source[0] or source[3] <= source[1]:
            dest = (0, 0, 0, 0)
        return Crop(source, dest)

    def _edge_to_display(self, u: float, v: float) -> Point:
        return ((u - self.left) * self.scale, (v - self.top) * self.scale)

    def key(self) -> tuple[Any, ...]:
        """A hashable identity of what this view shows (for caching rendered layers)."""
        return (self.image_size, self.display_size, self.scale, self.left, self.top)


def _is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _clamp_axis(start: float, extent: float, size: int) -> float:
    """Place a window of ``extent`` image pixels over an axis of ``size``: centred when it is
    larger than the image, else inside it."""
    if extent >= size:
        return (size - extent) / 2
    return float(np.clip(start, 0.0, size - extent))


def wheel_factor(delta_y: float, *, pinch: bool = False) -> float:
    """The zoom factor of one wheel event: ``deltaY < 0`` (wheel up, pinch out) zooms in.

    Parameters
    ----------
    delta_y : float
        The event's ``deltaY`` in pixels (a mouse notch is about 100).
    pinch : bool
        A trackpad pinch (``ctrlKey`` set by the browser): small deltas, finer scale.
    """
    if not math.isfinite(delta_y):
        return 1.0
    per_doubling = PINCH_PIXELS_PER_DOUBLING if pinch else WHEEL_PIXELS_PER_DOUBLING
    factor = 2.0 ** (-delta_y / per_doubling)
    return float(np.clip(factor, 1 / MAX_WHEEL_FACTOR, MAX_WHEEL_FACTOR))


class Pyramid:
    """An image and its halvings (built when first needed), for fast zoomed-out rendering.

    Resizing a 4K image straight to a small canvas reads every pixel with a wide filter
    (~100 ms); starting from the halving just above the target keeps it to a few ms.

    Parameters
    ----------
    image : PIL.Image.Image
        The full-resolution image (any mode :meth:`PIL.Image.Image.reduce` takes).
    """

    def __init__(self, image: Image.Image) -> None:
        self._levels = [image]

    @property
    def image(self) -> Image.Image:
        """The full-resolution image."""
        return self._levels[0]

    def level_for(self, scale: float) -> tuple[Image.Image, int]:
        """The smallest halving still at least ``scale`` display px per image px, and its
        factor (1, 2, 4, ...)."""
        factor = 1
        while scale * factor * 2 <= 1.0 and min(self._levels[-1].size) > 1:
            factor *= 2
            index = factor.bit_length() - 1
            if index >= len(self._levels):
                self._levels.append(self._levels[-1].reduce(2))
        return self._levels[factor.bit_length() - 1], factor


def render(
    source: Image.Image | Pyramid,
    view: View,
    *,
    down: Image.Resampling,
    up: Image.Resampling = Image.Resampling.NEAREST,
    fill: int | tuple[int, ...] = 0,
) -> np.ndarray:
    """The canvas-size picture of what ``view`` shows of ``source``.

    Parameters
    ----------
    source : PIL.Image.Image or Pyramid
        The full-resolution image or mask (``image_size`` of the view). A :class:`Pyramid`
        renders zoomed-out views from a halving (faster, nearly the same pixels).
    view : View
        What to show.
    down : PIL.Image.Resampling
        Filter below 1:1 (e.g. LANCZOS for the image, BOX for mask coverage).
    up : PIL.Image.Resampling
        Filter at 1:1 and above (NEAREST: image pixels show as crisp blocks).
    fill
        The value of canvas pixels outside the image.

    Returns
    -------
    np.ndarray
        (h, w) or (h, w, bands) uint8 at ``view.display_size``.
    """
    full = source.image if isinstance(source, Pyramid) else source
    if full.size != view.image_size:
        raise ValueError(f"the image is {full.size}, the view is for {view.image_size}")
    crop = view.crop()
    dw, dh = view.display_size
    out = Image.new(full.mode, (dw, dh), fill)
    size = crop.dest_size
    if min(size) > 0:
        image, factor = full, 1
        if isinstance(source, Pyramid) and view.scale < 1 and not _whole(crop, view):
            image, factor = source.level_for(view.scale)
        box = tuple(
            min(value / factor, limit)
            for value, limit in zip(crop.source, image.size * 2, strict=True)
        )
        resample = down if view.scale < 1 - _EPS else up
        part = image.resize(size, resample, box=box)  # type: ignore[arg-type]
        out.paste(part, crop.dest[:2])
    return np.asarray(out)


def _whole(crop: Crop, view: View) -> bool:
    """Whether the crop is the whole image onto the whole canvas (Fit on a matching canvas):
    rendered from full resolution, exactly as a plain resize."""
    width, height = view.image_size
    return crop.source == (0.0, 0.0, float(width), float(height)) and crop.dest == (
        0,
        0,
        *view.display_size,
    )
