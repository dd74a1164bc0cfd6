"""MaskPainter: paint an edit mask over an image in Jupyter (ipycanvas).

The widget is a thin view: the mask's source of truth is a :class:`~gptimage_widgets.maskops.
MaskDocument` (operations rasterized with Pillow at the image's full resolution, exact undo).
The browser only shows a downscaled copy:

- a :class:`ipycanvas.MultiCanvas` with three layers: the image (sent once per page, as RGBA
  because ipycanvas ships RGB arrays as lossy JPEG), the mask overlay, and the cursor;
- while dragging, each stroke segment is drawn on the overlay with a few cheap canvas calls;
  on mouse up one :class:`~gptimage_widgets.maskops.Stroke` is committed to the document;
- after undo, redo, invert, grow, load... the overlay is redrawn from the document's raster,
  downscaled to the display size and sent as one RGBA image;
- nothing is ever read back from the browser: canvas pixels are never synced to the kernel;
- a local ink layer (:mod:`._ink_layer`, an anywidget stacked over the MultiCanvas in one
  ``GridBox`` cell) takes the pointer events, draws strokes in the browser at once (also while
  a cell runs) and sends their points in batches; Python commits them as above and confirms
  them. If that layer does not load, the ipycanvas mouse events drive the painter as before.

Zoom and pan (the view, :mod:`._painter_view`): the canvas shows the visible part of the
image and of the mask, rendered in the kernel from full resolution at display size. The view
never changes the mask: strokes map through it to full-resolution coordinates.

Coordinates: the browser reports display pixels ``(x, y)`` with ``(0, 0)`` at the canvas'
top-left corner; :meth:`MaskPainter.to_image_coords` (the one display -> image mapping, for
mouse events and the ink layer alike) gives ``(left + x / zoom - 0.5, top + y / zoom - 0.5)``
in the document's pixel index coordinates (pixel centres at integers); at Fit that is
``(x * sx - 0.5, y * sy - 0.5)`` with ``sx = width / display_width``.

Settings: the tool, brush size, opacity and colour are remembered between sessions in
``painter.json`` in the user's config folder (:mod:`gptimage_widgets.settings`).

This module holds the widget itself (traits, public methods, how the pieces compose); its
private parts, each a concern of its own:

- :mod:`._painter_view` (pure): zoom/pan, the display <-> image mapping, rendering a crop;
- :mod:`._painter_input` (pure): the tool list, every key shortcut, gesture -> view;
- :mod:`._painter_layers`: what is drawn on the three canvas layers;
- :mod:`._painter_controls`: the buttons, sliders and their rows;
- :mod:`._painter_mouse`: the ipycanvas mouse/key/wheel fallback (no ink layer);
- :mod:`._painter_settings`: remembering the tool, brush size, opacity and colour;
- :mod:`._ink_layer` + ``ink.js``: the local ink layer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets
from ipycanvas import Canvas, MultiCanvas, hold_canvas
from PIL import Image

from .. import imaging, settings
from ..errors import ValidationError
from ..maskops import Clear, Grow, Invert, Lasso, MaskDocument, MaskOp, Point, Rect
from ..validation import require_int
from ._ink_layer import InkInput, InkLayer
from ._painter_controls import PREVIEW_HELP, build_controls, connect_buttons, show_zoom
from ._painter_input import (
    TOOL_KEYS,
    TOOL_NAMES,
    ZOOM_KEYS,
    gesture_view,
    key_command,
    shortcuts_help,
)
from ._painter_layers import LAYERS, CanvasLayers
from ._painter_mouse import MouseInput
from ._painter_settings import RememberedSettings
from ._painter_view import Pyramid, View

__all__ = ["MaskPainter"]

_DEFAULT_COLOR = "#ff3b30"
_DEFAULT_OPACITY = 0.5


def _display_size(width: int, height: int, max_display: int) -> tuple[int, int]:
    """The canvas size: the image scaled down (never up) to fit ``max_display``."""
    scale = min(1.0, max_display / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


class MaskPainter(widgets.VBox):
    """Paint the area of ``image`` that an edit should replace.

    Parameters
    ----------
    image
        Anything :func:`gptimage_widgets.imaging.to_array` accepts: an (H, W), (H, W, 3) or
        (H, W, 4) array, a PIL image, a path or encoded bytes.
    max_display : int
        Longest side of the canvas in screen pixels; larger images are shown downscaled (the
        mask keeps the full resolution); zoom in to see and paint them at 1:1 or closer.
    brush_size : int, optional
        Brush diameter in full-resolution image pixels (default: the remembered size, else
        1/32 of the longest side).
    mask : optional
        An initial mask: (H, W) array (nonzero = replace) or an RGBA image/PNG (alpha 0 =
        replace); see :meth:`set_mask`.
    color : str, optional
        Overlay colour ('#rrggbb'; default: the remembered one, else '#ff3b30').
    opacity : float, optional
        Overlay opacity in [0, 1] (default: the remembered one, else 0.5).
    remember_settings : bool
        Start with the tool, brush size, opacity and colour of the last session and save them
        whenever they change (``painter.json`` in the user's config folder, see
        :mod:`gptimage_widgets.settings`; :meth:`reset_settings` forgets them). Arguments
        given here win over remembered values. False: neither read nor write the file.

    Notes
    -----
    Zoom and pan: the buttons − / + / Fit / 1:1, the keys ``+`` ``-`` ``0`` ``1``, the mouse
    wheel (about the pointer), and space + drag to pan; with the ink layer also a trackpad
    pinch and a middle-button drag. :attr:`zoom` is display pixels per image pixel (1.0 =
    1:1); :meth:`zoom_to`, :meth:`fit`, :meth:`actual_size`, :meth:`zoom_in`,
    :meth:`zoom_out` and :meth:`pan_by` change it from code. The view never changes the mask.

    Attributes
    ----------
    mask_version : int (trait)
        Increases whenever the mask changes (commit, undo, redo, clear, load, new image).
    pen_pressure : bool (trait)
        Pen pressure scales the brush (pen input only; off by default).
    ink : InkLayer
        The local ink layer stacked over :attr:`canvas` (draws strokes in the browser).
    document : MaskDocument
        The operations and the full-resolution raster.
    canvas : ipycanvas.MultiCanvas
        Layers 0 image, 1 overlay, 2 cursor (the top layer receives mouse and key events).
    layers : tuple of ipycanvas.Canvas
        The three layers ``(image, overlay, cursor)``, i.e. ``canvas[0]``, ``canvas[1]``,
        ``canvas[2]``.
    """

    mask_version = traitlets.Int(0, read_only=True)
    #: Pen pressure scales the brush (pen input only; each pressure level run is one Stroke).
    pen_pressure = traitlets.Bool(False)
    # The controls (made by ``_painter_controls.build_controls``).
    tool_buttons: widgets.ToggleButtons
    undo_button: widgets.Button
    redo_button: widgets.Button
    clear_button: widgets.Button
    invert_button: widgets.Button
    grow_button: widgets.Button
    shrink_button: widgets.Button
    grow_box: widgets.BoundedIntText
    size_slider: widgets.IntSlider
    opacity_slider: widgets.FloatSlider
    color_picker: widgets.ColorPicker
    preview_toggle: widgets.ToggleButton
    zoom_out_button: widgets.Button
    zoom_label: widgets.HTML
    zoom_in_button: widgets.Button
    fit_button: widgets.Button
    actual_size_button: widgets.Button
    _toolbar: widgets.HBox
    _settings_bar: widgets.HBox
    _status: widgets.HTML

    def __init__(
        self,
        image: Any,
        *,
        max_display: int = 768,
        brush_size: int | None = None,
        mask: Any = None,
        color: str | None = None,
        opacity: float | None = None,
        remember_settings: bool = True,
    ) -> None:
        self.max_display = require_int(max_display, "max_display", minimum=16, unit="screen pixels")
        self._settings = RememberedSettings(remember_settings, TOOL_NAMES)
        self._mouse = MouseInput(self)
        #: Called with the new :class:`View` after every zoom/pan (e.g. the ink layer's scale).
        self._view_observers: list[Callable[[View], None]] = []
        self.canvas = MultiCanvas(len(LAYERS), width=1, height=1)
        self._canvas_layers = CanvasLayers(self.canvas)
        remembered = self._settings
        build_controls(
            self,
            color if color is not None else remembered.get("color", _DEFAULT_COLOR),
            opacity if opacity is not None else remembered.get("opacity", _DEFAULT_OPACITY),
        )
        self.tool_buttons.value = remembered.get("tool", "brush")
        self.ink = InkLayer()
        self._view_observers.append(self._set_ink_scale)
        self._ink_input = InkInput(self, self.ink)
        cell = {"grid_area": "1 / 1 / 2 / 2"}
        self.canvas.layout = widgets.Layout(**cell)
        # hidden until ink.js shows its canvas: a front end that failed to load leaves the
        # MultiCanvas below reachable, so its mouse events take over (the fallback)
        self.ink.layout = widgets.Layout(width="100%", height="100%", visibility="hidden", **cell)
        stack = widgets.GridBox(
            [self.canvas, self.ink], layout=widgets.Layout(grid_template_columns="max-content")
        )
        super().__init__(
            [self._toolbar, self._settings_bar, stack, self._status, self._ink_input.notice]
        )
        # Nothing is drawn yet: the page asks with "client_ready" (see redraw), so the image
        # crosses the wire once per page.
        with self._settings.quiet():  # no saving until the user changes something
            self._load_image(imaging.to_array(image, param="image"), brush_size)
            if mask is not None:
                self.document.load(
                    imaging.mask_to_array(mask, (self._image.shape[1], self._image.shape[0]))
                )
            self._connect_events()
            self._update_status()

    # ------------------------------------------------------------------ public API

    @property
    def image(self) -> np.ndarray:
        """The full-resolution image, (H, W, 3|4) uint8 (read-only)."""
        return self._image

    @property
    def mask(self) -> np.ndarray:
        """The mask at full resolution, (H, W) bool, True = replace."""
        return self.document.mask

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) of the canvas in screen pixels."""
        return self._display

    @property
    def brush_size(self) -> int:
        """Brush diameter in full-resolution image pixels."""
        return int(self.size_slider.value)

    @brush_size.setter
    def brush_size(self, value: int) -> None:
        self.size_slider.value = value

    def mask_png(self) -> bytes:
        """The mask as OpenAI expects it: an RGBA PNG at full size, alpha 0 = edit."""
        return imaging.mask_to_openai_png(self.mask)

    def set_mask(self, mask: Any) -> None:
        """Replace the mask (undoable): (H, W) array, nonzero = replace, or RGBA (alpha 0)."""
        array = imaging.mask_to_array(mask, (self.document.width, self.document.height))
        self.document.load(array)
        self._after_change(redraw=True)

    def set_image(self, image: Any) -> None:
        """Show a new image; the mask and its history start empty."""
        self._load_image(imaging.to_array(image, param="image"), None)
        self.redraw()
        self._after_change(redraw=False)
        self._notify_view_observers()

    def undo(self) -> None:
        if self.document.undo() is not None:
            self._after_change(redraw=True)

    def redo(self) -> None:
        if self.document.redo() is not None:
            self._after_change(redraw=True)

    def clear(self) -> None:
        self._commit(Clear(), redraw=True)

    def invert(self) -> None:
        self._commit(Invert(), redraw=True)

    def grow(self, pixels: int | None = None) -> None:
        """Grow the mask by ``pixels`` image pixels (default: the grow box); < 0 shrinks."""
        self._commit(Grow(self.grow_box.value if pixels is None else pixels), redraw=True)

    def shrink(self, pixels: int | None = None) -> None:
        self.grow(-(self.grow_box.value if pixels is None else pixels))

    def redraw(self) -> None:
        """Draw every layer again (done when a page connects: reload, Voila)."""
        with hold_canvas():
            self._canvas_layers.clear()
            self._draw_image()
            self._draw_overlay_from_document()

    def to_image_coords(self, x: float, y: float) -> Point:
        """A canvas (display) position -> full-resolution pixel coordinates, through the
        current zoom and pan (the one mapping: mouse events and the ink layer use it)."""
        return self._view.to_image(x, y)

    # ------------------------------------------------------------------ zoom and pan

    @property
    def zoom(self) -> float:
        """Display pixels per image pixel: 1.0 = 1:1, 4.0 = each image pixel is 4×4 on screen;
        at Fit it is ``display_size[0] / width`` or less."""
        return self._view.scale

    @property
    def view(self) -> View:
        """The current zoom and pan (immutable; ``view.visible`` is the image area shown)."""
        return self._view

    def zoom_to(self, factor: float, center: Point | None = None) -> None:
        """Zoom to ``factor`` display px per image px (clamped to Fit..32) with the image
        point ``center`` (full-resolution pixel coordinates) at the canvas centre; None keeps
        the current centre.

        Raises
        ------
        ValidationError
            ``factor`` is not a positive number or ``center`` not an ``(x, y)`` pair.
        """
        try:
            view = self._view.zoom_to(factor, center)
        except ValueError as exc:
            param = "center" if str(exc).startswith("center") else "factor"
            raise ValidationError(str(exc), param=param) from None
        self._set_view(view)

    def zoom_in(self) -> None:
        """One zoom step in (×√2 levels, so 1:1, 2×, 4× are reached), about the centre."""
        self._set_view(self._view.step(1))

    def zoom_out(self) -> None:
        """One zoom step out, about the centre (stops at Fit)."""
        self._set_view(self._view.step(-1))

    def fit(self) -> None:
        """Show the whole image (the zoom when the painter opens)."""
        self._set_view(View.fit(self._view.image_size, self._view.display_size))

    def actual_size(self) -> None:
        """Zoom to 1:1 (one image pixel on one canvas pixel), keeping the centre."""
        self.zoom_to(1.0)

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the image by ``(dx, dy)`` canvas pixels (as a drag would)."""
        self._set_view(self._view.pan(dx, dy))

    # ------------------------------------------------------------------ remembered settings

    @property
    def remember_settings(self) -> bool:
        """Whether the tool, brush size, opacity and colour are saved as they change (turns
        False after a failed write)."""
        return self._settings.enabled

    @remember_settings.setter
    def remember_settings(self, value: bool) -> None:
        self._settings.enabled = bool(value)

    @staticmethod
    def settings_path() -> Path:
        """The file that remembers the tool, brush size, opacity and colour."""
        return settings.settings_path(settings.PAINTER)

    @staticmethod
    def reset_settings() -> bool:
        """Forget the remembered tool, brush size, opacity and colour (delete the file).

        New painters start with the defaults; an open painter saves again when one of them
        changes. Returns whether there was a file. Same as ``gptimage settings reset``.
        """
        return bool(settings.reset_settings(settings.PAINTER))

    # ------------------------------------------------------------------ building

    @property
    def layers(self) -> tuple[Canvas, ...]:
        """The canvas layers ``(image, overlay, cursor)``, bottom to top."""
        return self._canvas_layers.layers

    def _connect_events(self) -> None:
        self.canvas.on_client_ready(self.redraw)
        self._link_ink()
        self._mouse.connect(self.canvas)
        connect_buttons(self)
        self.opacity_slider.observe(self._on_look_change, "value")
        self.color_picker.observe(self._on_look_change, "value")
        self.preview_toggle.observe(self._on_look_change, "value")
        self.size_slider.observe(self._on_size_change, "value")
        self.tool_buttons.observe(lambda _: self._canvas_layers.clear_cursor(), "value")
        self._settings.watch(
            {
                "tool": self.tool_buttons,
                "brush_size": self.size_slider,
                "opacity": self.opacity_slider,
                "color": self.color_picker,
            }
        )

    def _link_ink(self) -> None:
        """Controls -> ink layer, in Python and in the page (so a busy kernel does not lag)."""
        ink = self.ink
        ink._image_layer, ink._overlay_layer = (layer.model_id for layer in self.layers[:2])
        pairs = [
            (self.tool_buttons, "index", "tool_index"),
            (self.size_slider, "value", "brush_size"),
            (self.color_picker, "value", "color"),
            (self.opacity_slider, "value", "opacity"),
        ]
        with ink.hold_sync():
            ink.tool_names = list(TOOL_NAMES)
            ink.tool_keys = dict(TOOL_KEYS)
            ink.zoom_keys = list(ZOOM_KEYS)
        for control, source, name in pairs:
            traitlets.dlink((control, source), (ink, name))
            widgets.jsdlink((control, source), (ink, name))
        traitlets.dlink((self, "pen_pressure"), (ink, "pen_pressure"))

    def _set_ink_scale(self, view: View) -> None:
        """Tell the ink layer the view (its brush scale, the view its strokes are drawn in)."""
        self._ink_input.show_view(view)

    def _load_image(self, pixels: np.ndarray, brush_size: int | None) -> None:
        pixels = np.array(pixels, dtype=np.uint8, copy=True)
        pixels.setflags(write=False)
        height, width = pixels.shape[:2]
        self._image = pixels
        self._display = _display_size(width, height, self.max_display)
        self._view = View.fit((width, height), self._display)
        self._pyramid = Pyramid(Image.fromarray(pixels).convert("RGBA"))
        self._canvas_layers.forget_renders()
        self.document = MaskDocument(width, height)
        self._mouse.reset()
        longest = max(width, height)
        with self._settings.quiet():
            self.size_slider.max = max(2, longest // 4)
            size = brush_size or self._settings.get("brush_size") or max(1, round(longest / 32))
            self.size_slider.value = int(np.clip(size, 1, self.size_slider.max))
        self.grow_box.value = max(1, round(longest / 128))
        self.canvas.width, self.canvas.height = self._display
        show_zoom(self, self._view)
        self.ink.width, self.ink.height = self._display
        self._set_ink_scale(self._view)

    # ------------------------------------------------------------------ changes

    def _commit(self, op: MaskOp, *, redraw: bool) -> None:
        self.document.apply(op)
        self._after_change(redraw=redraw)

    def _after_change(self, *, redraw: bool) -> None:
        if redraw:
            self._draw_overlay_from_document()
        self.set_trait("mask_version", self.mask_version + 1)
        self._update_status()

    def _update_status(self) -> None:
        width, height = self.document.width, self.document.height
        shown = "" if self._display == (width, height) else " shown at {}×{}".format(*self._display)
        self._status.value = (
            f"<small>{width}×{height}{shown} · {len(self.document.ops)} edits · "
            + shortcuts_help()
            + (f" · {PREVIEW_HELP}" if self.preview_toggle.value else "")
            + "</small>"
        )
        self.undo_button.disabled = not self.document.can_undo
        self.redo_button.disabled = not self.document.can_redo

    def _on_look_change(self, _change: Any) -> None:
        self._draw_overlay_from_document()
        self._update_status()

    def _on_size_change(self, _change: Any) -> None:
        mouse = self._mouse
        if mouse.last_pos is not None and mouse.drag is None:
            self._draw_brush_cursor(*mouse.last_pos)

    # ------------------------------------------------------------------ drawing

    def _draw_image(self) -> None:
        """Put the visible part of the image on the image layer (rendered once per view)."""
        self._canvas_layers.draw_image(self._pyramid, self._view)

    def _draw_overlay_from_document(self) -> None:
        """Replace the overlay by the document's raster at display size (one RGBA image), or
        by exactly what :meth:`mask_png` sends (its alpha channel, black = alpha 0) while
        previewing."""
        if self.preview_toggle.value:
            alpha = imaging.decode_image(self.mask_png())[:, :, 3]
            self._canvas_layers.draw_preview(alpha, self._view)
            return
        mask = None if self.document.is_empty() else self.document.mask_image()
        color, opacity = self.color_picker.value, self.opacity_slider.value
        self._canvas_layers.draw_mask(mask, self._view, color, opacity)

    def _paint_polyline(
        self,
        points: Sequence[tuple[float, float]],
        *,
        width: float | None = None,
        erase: bool | None = None,
    ) -> None:
        """Draw brush/eraser segments through ``points`` (display px) on the overlay.

        ``width`` (display pixels) and ``erase`` default to the current brush and tool.
        """
        self._canvas_layers.paint_polyline(
            points,
            width=self.brush_size * self.zoom if width is None else width,
            erase=self._tool == "eraser" if erase is None else erase,
            color=self.color_picker.value,
            opacity=self.opacity_slider.value,
        )

    def _paint_shape(self, op: Rect | Lasso, display_points: Sequence[tuple[float, float]]) -> None:
        """Draw a committed rectangle or lasso on the overlay (display points)."""
        self._canvas_layers.paint_shape(
            op, display_points, color=self.color_picker.value, opacity=self.opacity_slider.value
        )

    def _draw_brush_cursor(self, x: float, y: float) -> None:
        self._canvas_layers.brush_cursor(x, y, max(1.0, self.brush_size * self.zoom / 2))

    # ------------------------------------------------------------------ keys and view

    @property
    def _tool(self) -> str:
        return str(self.tool_buttons.value)

    def _on_key_down(
        self, key: str, shift: bool, ctrl: bool, meta: bool, at: Point | None = None
    ) -> None:
        """A shortcut (:func:`._painter_input.key_command`); ``at``: the pointer (display px)
        for "+"/"-" when the ink layer sent it (ipycanvas' key events come without one: the
        last mouse position is used)."""
        command = key_command(key, shift=shift, ctrl=ctrl, meta=meta)
        if command is None:
            return
        action, arg = command
        if action == "undo":
            self.undo()
        elif action == "redo":
            self.redo()
        elif action == "brush_size":
            self._step_brush_size(arg)
        elif action == "tool":
            self.tool_buttons.value = arg
        elif action == "zoom":
            self._zoom_key(arg, at if at is not None else self._mouse.last_pos)
        elif action == "space":
            self._mouse.arm_space_pan()

    def _zoom_key(self, action: str, at: Point | None) -> None:
        """+/- step about ``at`` (the pointer over the canvas; None: the centre), 0 fits, 1
        shows 1:1."""
        if action == "fit":
            self.fit()
        elif action == "actual":
            self.actual_size()
        else:
            self._set_view(self._view.step(1 if action == "in" else -1, at=at))

    def _on_view_gesture(self, msg: dict[str, Any]) -> None:
        """A zoom/pan gesture from the front end, in canvas (display) pixels (see
        :func:`._painter_input.gesture_view`; malformed messages are ignored)."""
        view = gesture_view(self._view, msg)
        if view is not None:
            self._set_view(view)

    def _set_view(self, view: View) -> None:
        """Show ``view``: re-render the image and mask layers, tell the observers.

        A stroke in progress is committed first (its points were given in the old view).
        """
        if view == self._view:
            return
        self._mouse.finish()
        self._view = view
        with hold_canvas():
            self._draw_image()
            self._draw_overlay_from_document()
            self._canvas_layers.clear_cursor()
            self._mouse.show_cursor()  # its size on screen changed
        show_zoom(self, self._view)
        self._notify_view_observers()

    def _notify_view_observers(self) -> None:
        for observer in list(self._view_observers):
            observer(self._view)

    def _step_brush_size(self, direction: int) -> None:
        current = self.brush_size
        step = max(1, round(current * 0.15))
        slider = self.size_slider
        slider.value = int(np.clip(current + direction * step, slider.min, slider.max))
