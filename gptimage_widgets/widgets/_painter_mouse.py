"""The painter's fallback input: ipycanvas mouse, wheel and key events.

When the ink layer (:mod:`._ink_layer`) is on top, these events never come. When it did not
load, the MultiCanvas' top layer receives them and :class:`MouseInput` drives the painter as
the ink layer would: brush and eraser segments are painted on the overlay while dragging
(with a brush cursor), rectangle and lasso guides go on the cursor layer, and on mouse up the
drag is committed as one maskops operation through the painter's one display -> image
mapping (:meth:`MaskPainter.to_image_coords`).

ipycanvas reports no key release and no wheel position: space + a drag that starts within
:data:`~._painter_input.SPACE_PAN_S` of the last space key press pans, and the wheel zooms
about the last pointer position.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from ..maskops import Lasso, MaskOp, Rect, Stroke
from ._painter_input import SPACE_PAN_S
from ._painter_view import Point

if TYPE_CHECKING:
    from ipycanvas import MultiCanvas

    from .painter import MaskPainter

__all__ = ["MIN_MOVE", "MouseInput"]

#: Mouse moves shorter than this (display pixels) add no stroke point.
MIN_MOVE = 0.75
_BRUSHES = ("brush", "eraser")


class MouseInput:
    """A mouse drag in progress, a pan in progress and the last pointer position.

    Parameters
    ----------
    painter : MaskPainter
        Painted on and committed to; its ``_on_key_down`` takes the keys.
    """

    def __init__(self, painter: MaskPainter) -> None:
        self.painter = painter
        self.drag: list[Point] | None = None
        self.pan_from: Point | None = None  # a pan drag in progress
        self.space_pan = 0.0  # time of the last space press: a drag soon after pans
        self.last_pos: Point | None = None

    def connect(self, canvas: MultiCanvas) -> None:
        """Listen to ``canvas``' mouse, key and wheel events."""
        canvas.on_mouse_down(self.on_down)
        canvas.on_mouse_move(self.on_move)
        canvas.on_mouse_up(self.on_up)
        canvas.on_mouse_out(self.on_out)
        canvas.on_key_down(self.painter._on_key_down)
        canvas.on_mouse_wheel(self.on_wheel)

    def reset(self) -> None:
        """Forget a drag or pan in progress (a new image)."""
        self.drag = self.pan_from = None

    def arm_space_pan(self) -> None:
        """Space was pressed: a drag starting soon pans (a held space re-arms it)."""
        self.space_pan = time.monotonic()

    def finish(self) -> None:
        """Commit a drag in progress now (the view is about to change)."""
        if self.drag is not None:
            drag, self.drag = self.drag, None
            self._commit(drag)

    def show_cursor(self) -> None:
        """Draw the brush cursor at the pointer again (its size on screen changed)."""
        painter = self.painter
        idle = self.drag is None and self.pan_from is None
        if idle and self.last_pos is not None and painter._tool in _BRUSHES:
            painter._draw_brush_cursor(*self.last_pos)

    # ------------------------------------------------------------------ events

    def on_down(self, x: float, y: float) -> None:
        painter = self.painter
        painter._ink_input.fallback_used()  # ipycanvas got the event: no ink layer on top
        if self.space_pan and time.monotonic() - self.space_pan < SPACE_PAN_S:
            self.pan_from = (x, y)  # space + drag pans (ipycanvas reports no key release)
            return
        if painter.preview_toggle.value:
            painter.preview_toggle.value = False  # painting shows the overlay again
        self.drag = [(x, y)]
        if painter._tool in _BRUSHES:
            painter._paint_polyline([(x, y)])

    def on_move(self, x: float, y: float) -> None:
        painter = self.painter
        self.last_pos = (x, y)
        if self.pan_from is not None:
            (px, py), self.pan_from = self.pan_from, (x, y)
            painter.pan_by(x - px, y - py)
            return
        drag, tool = self.drag, painter._tool
        if drag is None:
            if tool in _BRUSHES:
                painter._draw_brush_cursor(x, y)
            return
        last = drag[-1]
        if tool == "rect":
            drag[1:] = [(x, y)]
            painter._canvas_layers.rect_outline(drag[0], (x, y))
            return
        if math.hypot(x - last[0], y - last[1]) < MIN_MOVE:
            return
        drag.append((x, y))
        if tool == "lasso":
            painter._canvas_layers.lasso_segment(last, (x, y))
        else:
            painter._paint_polyline([last, (x, y)])
            painter._draw_brush_cursor(x, y)

    def on_up(self, x: float, y: float) -> None:
        if self.pan_from is not None:
            self.on_move(x, y)
            self.pan_from = None
            self.space_pan = 0.0
            return
        if self.drag is None:
            return
        self.on_move(x, y)
        self.finish()

    def on_out(self, x: float, y: float) -> None:
        if self.pan_from is not None:
            self.on_up(x, y)
        self.last_pos = None
        if self.drag is not None:
            self.on_up(x, y)
        self.painter._canvas_layers.clear_cursor()

    def on_wheel(self, _delta_x: float, delta_y: float) -> None:
        """ipycanvas' wheel event (no position): zoom about the last pointer position."""
        width, height = self.painter.display_size
        x, y = self.last_pos or (width / 2, height / 2)
        self.painter._on_view_gesture({"kind": "wheel", "x": x, "y": y, "deltaY": delta_y})

    # ------------------------------------------------------------------ commit

    def _commit(self, drag: list[Point]) -> None:
        """The drag as one maskops operation: a Stroke, a Rect or a Lasso (>= 3 points)."""
        painter = self.painter
        tool = painter._tool
        points = [painter.to_image_coords(x, y) for x, y in drag]
        if tool in _BRUSHES:
            op: MaskOp = Stroke(points, painter.brush_size / 2, erase=tool == "eraser")
            painter._commit(op, redraw=False)
            return
        painter._canvas_layers.clear_cursor()
        if tool == "rect":
            (x0, y0), (x1, y1) = points[0], points[-1]
            shape: Rect | Lasso = Rect(x0, y0, x1, y1)
        elif len(points) >= 3:
            shape = Lasso(points)
        else:
            return
        painter._paint_shape(shape, drag)
        painter._commit(shape, redraw=False)
