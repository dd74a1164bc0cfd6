"""The painter's local ink layer: an anywidget front end (``ink.js``) and its message handling.

The front end draws strokes in the browser at the pointer event and sends their points in
display pixels, in batches. :class:`InkInput` turns those batches into exactly the maskops
operations the painter committed from ipycanvas mouse events before (through the painter's
one display -> image mapping, :meth:`MaskPainter.to_image_coords`), paints Python's overlay,
and confirms each finished stroke with an ``ack`` message so the front end drops its copy.

Messages from the front end (``kind``):

- ``ready``: the front end rendered (``session`` names the page view);
- ``points``: ``session``, ``id`` (increasing per session), ``tool``, ``size`` (brush
  diameter in image pixels when the stroke began), ``points`` (flat ``[x0, y0, x1, ...]``,
  display pixels, only the new ones), ``pressure`` (one per point, or null), ``final``,
  ``view`` (the layer's ``view_id`` when the points were sent: the view they were drawn in);
- ``key``: ``key``, ``shift``, ``ctrl``, ``meta`` (the painter's shortcuts), ``x``, ``y``
  (the pointer in display pixels, or null: "+"/"-" zoom about it);
- ``wheel`` (``x``, ``y``, ``deltaY``, ``ctrlKey``), ``pan`` (``dx``, ``dy``) and ``zoom``
  (``x``, ``y``, ``factor``): view gestures, passed to the painter's ``_on_view_gesture``.

A stroke's points are display pixels of the view shown when they were drawn (``view``, one
of the last :data:`VIEWS_KEPT` views; an unknown id means the current view). Python code may
change the view while the page draws (a cell zooms while strokes wait behind it): each batch
is moved into the current view, as are the points of a stroke still open, so every point maps
to the image pixel it was drawn on.

Messages to the front end: ``{"kind": "ack", "session": s, "id": n}`` once stroke ``n`` (and
every earlier one of that session) is in the mask and on the overlay.
"""

from __future__ import annotations

import logging
import math
import pathlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import anywidget
import ipywidgets as widgets
import traitlets

from ..maskops import Lasso, Rect, Stroke

if TYPE_CHECKING:
    from .painter import MaskPainter

__all__ = ["DEFAULT_BATCH_MS", "InkInput", "InkLayer", "pressure_strokes"]

logger = logging.getLogger(__name__)

#: Points are sent to Python at most this often (ms); 0 = once per animation frame.
#: Ink p95 is at the floor for every interval measured (per frame, 16, 33, 50 ms); the mask
#: confirmed by Python lags by about half the interval, so 16 ms (benchmarks/RESULTS.md,
#: "Painter latency in the browser").
DEFAULT_BATCH_MS = 16
#: Views remembered for strokes drawn in an older view (each zoom/pan step makes one).
VIEWS_KEPT = 256
#: Pen pressure is rounded to this many levels; each level run is one Stroke.
PRESSURE_LEVELS = 8
FALLBACK_NOTE = (
    "<small>⚠ The ink layer (anywidget) did not load in this page: painting goes through the "
    "kernel (ipycanvas mouse events), so ink appears only after a round trip and not while a "
    "cell runs.</small>"
)


class InkLayer(anywidget.AnyWidget):
    """The browser canvas stacked over the painter's MultiCanvas; draws ink locally.

    All sizes are display pixels except ``brush_size`` (image pixels, as the slider).
    """

    _esm = pathlib.Path(__file__).with_name("ink.js")
    width = traitlets.Int(1).tag(sync=True)
    height = traitlets.Int(1).tag(sync=True)
    #: The painter's tool, as ``tool_names[tool_index]`` (ToggleButtons sync their index).
    tool_index = traitlets.Int(0).tag(sync=True)
    #: The painter's tools and shortcuts, set by the painter from their one home
    #: (:mod:`._painter_input`): tool names in button order, key -> tool name (lower-case
    #: keys, without Ctrl/Cmd), and the zoom keys (the page keeps them from the notebook).
    tool_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    tool_keys = traitlets.Dict(value_trait=traitlets.Unicode()).tag(sync=True)
    zoom_keys = traitlets.List(traitlets.Unicode()).tag(sync=True)
    brush_size = traitlets.Float(1.0).tag(sync=True)
    #: Display pixels per image pixel: the brush shows ``brush_size * view_scale`` wide.
    view_scale = traitlets.Float(1.0).tag(sync=True)
    #: Names the view shown (see :meth:`InkInput.show_view`); strokes carry it back.
    view_id = traitlets.Int(0).tag(sync=True)
    color = traitlets.Unicode("#ff3b30").tag(sync=True)
    opacity = traitlets.Float(0.5).tag(sync=True)
    pen_pressure = traitlets.Bool(False).tag(sync=True)
    batch_ms = traitlets.Int(DEFAULT_BATCH_MS).tag(sync=True)
    _image_layer = traitlets.Unicode("").tag(sync=True)
    _overlay_layer = traitlets.Unicode("").tag(sync=True)


class View(Protocol):
    """What the ink needs of the painter's view (``_painter_view.View``): its scale and its
    one mapping."""

    @property
    def scale(self) -> float: ...

    def to_image(self, x: float, y: float) -> tuple[float, float]: ...

    def to_display(self, x: float, y: float) -> tuple[float, float]: ...


@dataclass
class _OpenStroke:
    """A stroke whose final batch has not arrived yet (display pixels of ``view``)."""

    tool: str
    size: float
    view: View
    points: list[tuple[float, float]] = field(default_factory=list)
    pressure: list[float] | None = None

    def move_to(self, view: View) -> None:
        """Express the points in ``view`` (the painter's view changed during the stroke)."""
        if view != self.view:
            old = self.view
            self.points = [view.to_display(*old.to_image(x, y)) for x, y in self.points]
            self.view = view


def _pairs(flat: Any) -> list[tuple[float, float]]:
    """``[x0, y0, x1, y1, ...]`` -> finite (x, y) pairs (anything else is dropped)."""
    if not isinstance(flat, (list, tuple)):
        return []
    pairs = []
    for x, y in zip(flat[0::2], flat[1::2], strict=False):
        try:
            point = (float(x), float(y))
        except (TypeError, ValueError):
            continue
        if math.isfinite(point[0]) and math.isfinite(point[1]):
            pairs.append(point)
    return pairs


def _point(x: Any, y: Any) -> tuple[float, float] | None:
    """``(x, y)`` as a finite point, or None (missing or not numbers)."""
    try:
        point = (float(x), float(y))
    except (TypeError, ValueError):
        return None
    return point if math.isfinite(point[0]) and math.isfinite(point[1]) else None


def _level(pressure: float) -> float:
    """Pressure in (0, 1] rounded to one of :data:`PRESSURE_LEVELS` levels (never 0)."""
    clipped = min(1.0, max(0.0, float(pressure)))
    return max(1, round(clipped * PRESSURE_LEVELS)) / PRESSURE_LEVELS


def pressure_strokes(
    points: list[tuple[float, float]], pressure: list[float] | None, radius: float, erase: bool
) -> list[Stroke]:
    """The Stroke ops of one gesture: one, or one per run of equal (rounded) pen pressure.

    Segment ``i-1 -> i`` is drawn with the pressure of point ``i`` (as the front end draws
    it); consecutive runs share their boundary point so the line stays connected.
    """
    if not pressure or len(pressure) != len(points):
        return [Stroke(points, radius, erase=erase)]
    levels = [_level(p) for p in pressure]
    strokes, start = [], 0
    for index in range(1, len(points) + 1):
        if index == len(points) or levels[index] != levels[start]:
            run = points[max(0, start - 1) : index]
            strokes.append(Stroke(run, radius * levels[start], erase=erase))
            start = index
    return strokes


class InkInput:
    """Turns the ink layer's messages into the painter's mask operations, in order.

    Parameters
    ----------
    painter : MaskPainter
        The painter whose document, overlay and shortcuts the messages drive.
    layer : InkLayer
        The front-end layer (messages in, acknowledgements out).
    """

    def __init__(self, painter: MaskPainter, layer: InkLayer) -> None:
        self.painter = painter
        self.layer = layer
        self.sessions: set[str] = set()
        self.notice = widgets.HTML()
        self._open: dict[str, tuple[int, _OpenStroke]] = {}
        self._views: dict[int, View] = {}
        self._warned = False
        layer.on_msg(self._on_msg)

    # ------------------------------------------------------------------ dispatch

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("kind")
        if kind == "points":
            self.on_points(content)
        elif kind == "key":
            self.painter._on_key_down(
                str(content.get("key", "")),
                bool(content.get("shift")),
                bool(content.get("ctrl")),
                bool(content.get("meta")),
                at=_point(content.get("x"), content.get("y")),
            )
        elif kind in ("wheel", "pan", "zoom"):
            self.painter._on_view_gesture(content)
        elif kind == "ready":
            self.sessions.add(str(content.get("session", "")))

    def show_view(self, view: View) -> None:
        """The painter shows ``view``: name it for the page (strokes drawn in it say so) and
        size the page's brush to it."""
        view_id = self.layer.view_id + 1
        self._views[view_id] = view
        for old in [key for key in self._views if key <= view_id - VIEWS_KEPT]:
            del self._views[old]
        with self.layer.hold_sync():
            self.layer.view_scale = view.scale
            self.layer.view_id = view_id

    def _batch_points(self, content: dict[str, Any]) -> list[tuple[float, float]]:
        """The batch's points, moved from the view they were drawn in to the current one."""
        points = _pairs(content.get("points"))
        view_id = content.get("view")
        drawn_in = self._views.get(view_id) if isinstance(view_id, int) else None
        shown = self.painter.view
        if drawn_in is None or drawn_in == shown:
            return points
        return [shown.to_display(*drawn_in.to_image(x, y)) for x, y in points]

    def fallback_used(self) -> None:
        """ipycanvas delivered a mouse event: the ink layer is not on top; say so once."""
        if self._warned:
            return
        self._warned = True
        self.notice.value = FALLBACK_NOTE
        logger.warning("MaskPainter: the ink layer did not load; using ipycanvas mouse events")

    # ------------------------------------------------------------------ strokes

    def on_points(self, content: dict[str, Any]) -> None:
        """One batch of a stroke: paint its new segments; commit and ack it when final."""
        session, stroke_id = str(content.get("session", "")), content.get("id")
        if not isinstance(stroke_id, int) or isinstance(stroke_id, bool):
            return
        opened = self._open.get(session)
        if opened is not None and opened[0] != stroke_id:  # its final batch never came
            self._finish(session, *opened)
            opened = None
        if opened is None:
            stroke = self._begin(content)
            if stroke is None:
                self._ack(session, stroke_id)
                return
            opened = (stroke_id, stroke)
            self._open[session] = opened
        stroke = opened[1]
        stroke.move_to(self.painter.view)
        new = self._batch_points(content)
        pressure = content.get("pressure")
        if stroke.pressure is not None and isinstance(pressure, list) and len(pressure) == len(new):
            stroke.pressure += [float(p) for p in pressure]
        elif stroke.pressure is not None:
            stroke.pressure += [1.0] * len(new)
        if stroke.tool == "rect":
            stroke.points = new[:1] + new[-1:] if new else stroke.points
        else:
            self._paint_batch(stroke, new)
            stroke.points += new
        if content.get("final"):
            del self._open[session]
            self._finish(session, stroke_id, stroke)

    def _begin(self, content: dict[str, Any]) -> _OpenStroke | None:
        tool = content.get("tool")
        if tool not in self.layer.tool_names:
            logger.warning("MaskPainter: ignoring a stroke with unknown tool %r", tool)
            return None
        size = content.get("size")
        try:
            size = float(size)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            size = float(self.painter.brush_size)
        if not math.isfinite(size) or size <= 0:
            size = float(self.painter.brush_size)
        if self.painter.preview_toggle.value:
            self.painter.preview_toggle.value = False  # painting shows the overlay again
        pressure: list[float] | None = [] if isinstance(content.get("pressure"), list) else None
        return _OpenStroke(str(tool), size, self.painter.view, pressure=pressure)

    def _paint_batch(self, stroke: _OpenStroke, new: list[tuple[float, float]]) -> None:
        """Paint the batch's segments on Python's overlay (erase, then paint, as the painter).

        Call before adding ``new`` to the stroke: the segments run from the stroke's last
        point (a dot for a stroke's first point) through ``new``; one canvas message per
        batch, or one per segment for pen pressure (each with its point's width).
        """
        if stroke.tool == "lasso" or not new:
            return
        erase = stroke.tool == "eraser"
        widths = self._widths(stroke, len(stroke.points), len(new))
        if stroke.pressure is None:
            polyline = stroke.points[-1:] + new
            self.painter._paint_polyline(polyline, width=widths[0], erase=erase)
            return
        starts = stroke.points[-1:] + new[:-1] if stroke.points else new[:1] + new[:-1]
        for a, b, width in zip(starts, new, widths, strict=True):
            self.painter._paint_polyline([a, b], width=width, erase=erase)

    def _widths(self, stroke: _OpenStroke, offset: int, count: int) -> list[float]:
        """Display widths of points ``offset .. offset + count - 1`` of the stroke."""
        base = stroke.size * float(self.layer.view_scale)
        if stroke.pressure is None:
            return [max(1.0, base)] * count
        levels = [_level(p) for p in stroke.pressure[offset : offset + count]]
        levels += [1.0] * (count - len(levels))
        return [max(1.0, base * level) for level in levels]

    def _finish(self, session: str, stroke_id: int, stroke: _OpenStroke) -> None:
        """Commit the stroke exactly as a mouse drag was committed; then ack it."""
        painter = self.painter
        stroke.move_to(painter.view)
        display = stroke.points
        points = [painter.to_image_coords(x, y) for x, y in display]
        erase = stroke.tool == "eraser"
        if not points:
            pass
        elif stroke.tool in ("brush", "eraser"):
            for op in pressure_strokes(points, stroke.pressure, stroke.size / 2, erase):
                painter._commit(op, redraw=False)
        elif stroke.tool == "rect":
            (x0, y0), (x1, y1) = points[0], points[-1]
            rect = Rect(x0, y0, x1, y1)
            painter._paint_shape(rect, [display[0], display[-1]])
            painter._commit(rect, redraw=False)
        elif len(points) >= 3:
            lasso = Lasso(points)
            painter._paint_shape(lasso, display)
            painter._commit(lasso, redraw=False)
        self._ack(session, stroke_id)

    def _ack(self, session: str, stroke_id: int) -> None:
        self.layer.send({"kind": "ack", "session": session, "id": stroke_id})
