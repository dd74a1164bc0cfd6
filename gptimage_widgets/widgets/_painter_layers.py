"""What the painter draws on its three ipycanvas layers (image, overlay, cursor).

:class:`CanvasLayers` owns the :class:`ipycanvas.MultiCanvas` drawing: the visible part of
the image (rendered from full resolution once per view, cached as PNG), the mask overlay
(the document's raster or the preview of the PNG sent to OpenAI, as one RGBA image), the
quick brush/shape strokes painted while a stroke is in progress (erase, then paint, so the
overlay's alpha stays uniform where segments overlap), and the cursor guides. It knows
nothing of tools or events: the painter says what to draw, with which colour and opacity.

Images go out as PNG at zlib level 1 (:func:`png`): lossless like ipycanvas' own encoding,
much faster to make (ipycanvas also ships RGB arrays as lossy JPEG, hence RGBA).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from ipycanvas import Canvas, MultiCanvas, hold_canvas
from PIL import Image

try:  # ipycanvas' private command table (0.13-0.14); without it, the public put_image_data
    from ipycanvas.canvas import COMMANDS as _COMMANDS
except ImportError:  # pragma: no cover - depends on the installed ipycanvas
    _COMMANDS = {}

from ..maskops import Lasso, Rect
from ._painter_view import Pyramid, View, render

__all__ = ["LAYERS", "CanvasLayers", "hex_to_rgb", "png"]

#: The MultiCanvas layers, bottom to top (ipycanvas' public API: ``multi[index]``).
LAYERS = ("image", "overlay", "cursor")
_FALLBACK_RGB = (255, 59, 48)
_GUIDE = "rgba(255, 255, 255, 0.9)"


def png(rgba: np.ndarray) -> bytes:
    """(h, w, 4) uint8 -> PNG bytes, zlib level 1: lossless like ipycanvas' own encoding
    (level 6), ~5× faster on photographs for ~15% more bytes (a 768×432 crop of a photo:
    ~35 ms instead of ~170 ms on the 2-core test machine), which is what a pan step costs."""
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def _put_png(layer: Canvas, data: bytes) -> None:
    """``layer.put_image_data`` with an encoded PNG (the page decodes any image buffer).

    The one use of ipycanvas' private API (``_canvas_manager``, ipycanvas 0.14): the public
    ``put_image_data`` takes an array and encodes it itself (PNG at zlib level 6, ~5× slower
    per pan step; RGB as lossy JPEG), and the public ``draw_image(ipywidgets.Image)`` reads
    the Image widget's value when the page gets to the command, which may be before or after
    a newer value arrives (an unordered race), unless every frame is a new widget that is
    never closed. When an ipycanvas lacks that private API, the public ``put_image_data``
    draws the same pixels (decoded back from ``data``), only slower.
    """
    send = _private_send(layer)
    if send is None:
        layer.put_image_data(np.asarray(Image.open(io.BytesIO(data)).convert("RGBA")), 0, 0)
        return
    send(layer, _COMMANDS["putImageData"], [0, 0], [data])


def _private_send(layer: Canvas) -> Any:
    """ipycanvas' ``send_draw_command`` for ``layer``, or None when this version has none."""
    send = getattr(getattr(layer, "_canvas_manager", None), "send_draw_command", None)
    return send if callable(send) and "putImageData" in _COMMANDS else None


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    """'#rrggbb' or '#rgb' -> (r, g, b); other CSS names fall back to red."""
    text = color.strip().lstrip("#")
    if len(text) == 3:
        text = "".join(c * 2 for c in text)
    try:
        value = int(text, 16)
    except ValueError:
        return _FALLBACK_RGB
    if len(text) != 6:
        return _FALLBACK_RGB
    return (value >> 16) & 255, (value >> 8) & 255, value & 255


def _css(color: str, opacity: float) -> str:
    red, green, blue = hex_to_rgb(color)
    return f"rgba({red}, {green}, {blue}, {opacity:.3f})"


def _reset_composite(layer: Canvas) -> None:
    layer.global_alpha = 1.0
    layer.global_composite_operation = "source-over"


def _fill_display_shape(
    layer: Canvas, op: Rect | Lasso, display_points: Sequence[tuple[float, float]]
) -> None:
    if isinstance(op, Lasso):
        layer.fill_polygon(list(display_points))
        return
    (x0, y0), (x1, y1) = display_points[0], display_points[-1]
    layer.fill_rect(min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0))


class CanvasLayers:
    """The painter's MultiCanvas: image, overlay and cursor layers, bottom to top.

    Parameters
    ----------
    canvas : ipycanvas.MultiCanvas
        With ``len(LAYERS)`` layers.
    """

    def __init__(self, canvas: MultiCanvas) -> None:
        self.canvas = canvas
        #: Rendered image layers (PNG bytes) by view: the Fit one (the slowest, often
        #: returned to) and the latest one.
        self._image_renders: dict[Any, bytes] = {}

    @property
    def layers(self) -> tuple[Canvas, ...]:
        """The canvas layers ``(image, overlay, cursor)``, bottom to top."""
        return tuple(self.canvas[index] for index in range(len(LAYERS)))

    @property
    def image(self) -> Canvas:
        return self.canvas[LAYERS.index("image")]

    @property
    def overlay(self) -> Canvas:
        return self.canvas[LAYERS.index("overlay")]

    @property
    def cursor(self) -> Canvas:
        return self.canvas[LAYERS.index("cursor")]

    def clear(self) -> None:
        """Clear every layer."""
        for layer in self.layers:
            layer.clear()

    # ------------------------------------------------------------------ image layer

    def forget_renders(self) -> None:
        """Drop the cached image renders (a new image)."""
        self._image_renders = {}

    def draw_image(self, source: Pyramid, view: View) -> None:
        """Put the visible part of the image ``source`` on the image layer, rendered once per
        view."""
        renders, key = self._image_renders, view.key()
        if key not in renders:
            fit = View.fit(view.image_size, view.display_size).key()
            for old in [k for k in renders if k != fit]:
                del renders[old]
            renders[key] = png(render(source, view, down=Image.Resampling.LANCZOS))
        _put_png(self.image, renders[key])

    # ------------------------------------------------------------------ overlay layer

    def draw_mask(self, mask: Image.Image | None, view: View, color: str, opacity: float) -> None:
        """Replace the overlay by ``mask`` (mode "1"/"L" at full resolution; None: empty)
        shown through ``view`` in ``color`` at ``opacity`` (one RGBA image)."""
        with hold_canvas():
            self.overlay.clear()
            if mask is None:
                return
            coverage = render(mask, view, down=Image.Resampling.BOX)
            width, height = view.display_size
            rgba = np.zeros((height, width, 4), dtype=np.uint8)
            rgba[:, :, :3] = hex_to_rgb(color)
            alpha = np.asarray(coverage, dtype=np.float32) * float(opacity)
            rgba[:, :, 3] = np.round(alpha).astype(np.uint8)
            _reset_composite(self.overlay)
            _put_png(self.overlay, png(rgba))

    def draw_preview(self, alpha: np.ndarray, view: View) -> None:
        """Show ``alpha`` ((H, W) uint8, the mask PNG's alpha channel) in gray through
        ``view``: black = 0 (replaced); the margin around the image stays clear."""
        gray = render(Image.fromarray(np.ascontiguousarray(alpha)), view, down=Image.Resampling.BOX)
        width, height = view.display_size
        x0, y0, x1, y1 = view.crop().dest
        rgba = np.zeros((height, width, 4), dtype=np.uint8)
        rgba[:, :, :3] = gray[:, :, None]
        rgba[y0:y1, x0:x1, 3] = 255
        with hold_canvas():
            self.overlay.clear()
            _reset_composite(self.overlay)
            _put_png(self.overlay, png(rgba))

    def paint_polyline(
        self,
        points: Sequence[tuple[float, float]],
        *,
        width: float,
        erase: bool,
        color: str,
        opacity: float,
    ) -> None:
        """Draw brush/eraser segments through ``points`` (display px) on the overlay: erase,
        then paint (erasing first keeps the overlay's alpha uniform where segments overlap).
        One point draws a dot."""
        layer = self.overlay
        points = list(points) * 2 if len(points) == 1 else list(points)
        with hold_canvas():
            layer.line_cap = "round"
            layer.line_join = "round"
            layer.line_width = max(1.0, width)
            layer.global_composite_operation = "destination-out"
            layer.stroke_style = "#000000"
            layer.stroke_lines(points)
            if not erase:
                layer.global_composite_operation = "source-over"
                layer.stroke_style = _css(color, opacity)
                layer.stroke_lines(points)

    def paint_shape(
        self,
        op: Rect | Lasso,
        display_points: Sequence[tuple[float, float]],
        *,
        color: str,
        opacity: float,
    ) -> None:
        """Draw a rectangle (its first and last display points) or a lasso polygon on the
        overlay: erase its area, then fill it unless ``op.erase``."""
        layer = self.overlay
        with hold_canvas():
            layer.global_composite_operation = "destination-out"
            layer.fill_style = "#000000"
            _fill_display_shape(layer, op, display_points)
            if not op.erase:
                layer.global_composite_operation = "source-over"
                layer.fill_style = _css(color, opacity)
                _fill_display_shape(layer, op, display_points)

    # ------------------------------------------------------------------ cursor layer

    def clear_cursor(self) -> None:
        self.cursor.clear()

    def brush_cursor(self, x: float, y: float, radius: float) -> None:
        """A black and a white circle of ``radius`` display px around ``(x, y)``."""
        cursor = self.cursor
        with hold_canvas():
            cursor.clear()
            cursor.line_width = 1
            cursor.stroke_style = "rgba(0, 0, 0, 0.8)"
            cursor.stroke_circle(x, y, radius + 1)
            cursor.stroke_style = _GUIDE
            cursor.stroke_circle(x, y, radius)

    def rect_outline(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        cursor = self.cursor
        with hold_canvas():
            cursor.clear()
            cursor.line_width = 1
            cursor.stroke_style = _GUIDE
            cursor.stroke_rect(
                min(start[0], end[0]),
                min(start[1], end[1]),
                abs(end[0] - start[0]),
                abs(end[1] - start[1]),
            )

    def lasso_segment(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        cursor = self.cursor
        with hold_canvas():
            cursor.line_width = 1
            cursor.stroke_style = _GUIDE
            cursor.stroke_line(*start, *end)
