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
"""

from __future__ import annotations

import io
import math
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets
from ipycanvas import Canvas, MultiCanvas, hold_canvas
from ipycanvas.canvas import COMMANDS
from PIL import Image

from .. import imaging, settings
from ..errors import ValidationError
from ..maskops import Clear, Grow, Invert, Lasso, MaskDocument, MaskOp, Point, Rect, Stroke
from ._ink_layer import InkInput, InkLayer
from ._painter_view import Pyramid, View, render

__all__ = ["MaskPainter"]

TOOLS = (("Brush", "brush"), ("Eraser", "eraser"), ("Rectangle", "rect"), ("Lasso", "lasso"))
_TOOL_KEYS = {"b": "brush", "e": "eraser", "r": "rect", "l": "lasso"}
#: Zoom keys (no Ctrl/Cmd): zoom steps in/out about the pointer, Fit, 1:1.
_ZOOM_KEYS = {"+": "in", "=": "in", "-": "out", "_": "out", "0": "fit", "1": "actual"}
#: After a space key press, a drag that starts within this many seconds pans (held space
#: repeats its key press, so holding it keeps panning on).
_SPACE_PAN_S = 0.75
_DEFAULT_COLOR = "#ff3b30"
_DEFAULT_OPACITY = 0.5
#: Mouse moves shorter than this (display pixels) add no stroke point.
_MIN_MOVE = 0.75
#: The MultiCanvas layers, bottom to top (ipycanvas' public API: ``multi[index]``).
_LAYERS = ("image", "overlay", "cursor")
_PREVIEW_HELP = "Preview: black = replaced by the model (alpha 0 in the PNG), white = kept."


def _display_size(width: int, height: int, max_display: int) -> tuple[int, int]:
    """The canvas size: the image scaled down (never up) to fit ``max_display``."""
    scale = min(1.0, max_display / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _finite_numbers(msg: dict[str, Any], *names: str) -> tuple[float, ...] | None:
    """``msg[name]`` for each name as finite floats, or None when one is missing or bad."""
    values = []
    for name in names:
        value = msg.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if not math.isfinite(value):
            return None
        values.append(float(value))
    return tuple(values)


def _png(rgba: np.ndarray) -> bytes:
    """(h, w, 4) uint8 -> PNG bytes, zlib level 1: lossless like ipycanvas' own encoding
    (level 6), ~5× faster on photographs for ~15% more bytes (a 768×432 crop of a photo:
    ~35 ms instead of ~170 ms on the 2-core test machine), which is what a pan step costs."""
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def _put_png(layer: Canvas, png: bytes) -> None:
    """``layer.put_image_data`` with an encoded PNG (the page decodes any image buffer)."""
    layer._canvas_manager.send_draw_command(layer, COMMANDS["putImageData"], [0, 0], [png])


def _put_rgba(layer: Canvas, rgba: np.ndarray) -> None:
    """Draw (h, w, 4) uint8 pixels at the layer's top-left corner (see :func:`_png`)."""
    _put_png(layer, _png(rgba))


def _hex_to_rgb(color: str) -> tuple[int, int, int]:
    """'#rrggbb' or '#rgb' -> (r, g, b); other CSS names fall back to red."""
    text = color.strip().lstrip("#")
    if len(text) == 3:
        text = "".join(c * 2 for c in text)
    try:
        value = int(text, 16)
    except ValueError:
        return (255, 59, 48)
    if len(text) != 6:
        return (255, 59, 48)
    return (value >> 16) & 255, (value >> 8) & 255, value & 255


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
        if isinstance(max_display, bool) or not isinstance(max_display, int) or max_display < 16:
            raise ValidationError(
                f"max_display must be an integer >= 16 (screen pixels), got {max_display!r}",
                param="max_display",
            )
        self.max_display = max_display
        self.remember_settings = bool(remember_settings)
        self._remembered = self._load_settings() if self.remember_settings else {}
        self._settings_quiet = True  # no saving until the user changes something
        self._drag: list[tuple[float, float]] | None = None
        self._pan_from: tuple[float, float] | None = None  # a pan drag in progress
        self._space_pan = 0.0  # time of the last space press: a drag soon after pans
        self._last_pos: tuple[float, float] | None = None
        #: Called with the new :class:`View` after every zoom/pan (e.g. the ink layer's scale).
        self._view_observers: list[Callable[[View], None]] = []
        #: Rendered image layers (PNG bytes) by view: the Fit one (the slowest, often returned
        #: to) and the latest one.
        self._image_renders: dict[Any, bytes] = {}
        self.canvas = MultiCanvas(len(_LAYERS), width=1, height=1)
        self._build_controls(
            color if color is not None else self._remembered.get("color", _DEFAULT_COLOR),
            opacity if opacity is not None else self._remembered.get("opacity", _DEFAULT_OPACITY),
        )
        self.tool_buttons.value = self._remembered.get("tool", "brush")
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
            [self._toolbar, self._settings, stack, self._status, self._ink_input.notice]
        )
        # Nothing is drawn yet: the page asks with "client_ready" (see redraw), so the image
        # crosses the wire once per page.
        self._load_image(imaging.to_array(image, param="image"), brush_size)
        if mask is not None:
            self.document.load(
                imaging.mask_to_array(mask, (self._image.shape[1], self._image.shape[0]))
            )
        self._connect_events()
        self._update_status()
        self._settings_quiet = False

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
            for layer in self.layers:
                layer.clear()
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
        return tuple(self.canvas[index] for index in range(len(_LAYERS)))

    @property
    def _image_layer(self) -> Canvas:
        return self.canvas[_LAYERS.index("image")]

    @property
    def _overlay(self) -> Canvas:
        return self.canvas[_LAYERS.index("overlay")]

    @property
    def _cursor(self) -> Canvas:
        return self.canvas[_LAYERS.index("cursor")]

    def _build_controls(self, color: str, opacity: float) -> None:
        # flex "0 0 auto": buttons keep their label's width instead of being squeezed to "Gr…"
        small = widgets.Layout(width="auto", flex="0 0 auto")
        wrap = widgets.Layout(flex_flow="row wrap", align_items="center")
        self.tool_buttons = widgets.ToggleButtons(
            options=TOOLS,
            value="brush",
            tooltips=["B", "E", "R", "L"],
            style={"button_width": "92px"},
        )
        self.undo_button = widgets.Button(description="Undo", tooltip="Ctrl+Z", layout=small)
        self.redo_button = widgets.Button(description="Redo", tooltip="Ctrl+Shift+Z", layout=small)
        self.clear_button = widgets.Button(description="Clear", layout=small)
        self.invert_button = widgets.Button(description="Invert", layout=small)
        self.grow_button = widgets.Button(description="Grow", layout=small)
        self.shrink_button = widgets.Button(description="Shrink", layout=small)
        self.grow_box = widgets.BoundedIntText(
            value=8,
            min=1,
            max=4096,
            description="by px",
            layout=widgets.Layout(width="140px", flex="0 0 auto"),
        )
        self.size_slider = widgets.IntSlider(value=1, min=1, max=2, description="Brush size")
        self.opacity_slider = widgets.FloatSlider(
            value=float(np.clip(opacity, 0.0, 1.0)),
            min=0.0,
            max=1.0,
            step=0.05,
            description="Opacity",
        )
        self.color_picker = widgets.ColorPicker(value=color, concise=True, layout=small)
        self.preview_toggle = widgets.ToggleButton(
            value=False, description="Preview mask", tooltip=_PREVIEW_HELP, layout=small
        )
        self.zoom_out_button = widgets.Button(description="−", tooltip="Zoom out (-)", layout=small)
        self.zoom_label = widgets.HTML(layout=widgets.Layout(flex="0 0 auto"))
        self.zoom_in_button = widgets.Button(description="+", tooltip="Zoom in (+)", layout=small)
        self.fit_button = widgets.Button(
            description="Fit", tooltip="Show the whole image (0)", layout=small
        )
        self.actual_size_button = widgets.Button(
            description="1:1", tooltip="One image pixel per screen pixel (1)", layout=small
        )
        self._toolbar = widgets.HBox(
            [
                self.tool_buttons,
                self.undo_button,
                self.redo_button,
                self.clear_button,
                self.invert_button,
                self.zoom_out_button,
                self.zoom_label,
                self.zoom_in_button,
                self.fit_button,
                self.actual_size_button,
            ],
            layout=wrap,
        )
        self._settings = widgets.HBox(
            [
                self.size_slider,
                self.grow_button,
                self.shrink_button,
                self.grow_box,
                self.opacity_slider,
                self.color_picker,
                self.preview_toggle,
            ],
            layout=wrap,
        )
        self._status = widgets.HTML()

    def _connect_events(self) -> None:
        self.canvas.on_client_ready(self.redraw)
        self._link_ink()
        self.canvas.on_mouse_down(self._on_mouse_down)
        self.canvas.on_mouse_move(self._on_mouse_move)
        self.canvas.on_mouse_up(self._on_mouse_up)
        self.canvas.on_mouse_out(self._on_mouse_out)
        self.canvas.on_key_down(self._on_key_down)
        self.canvas.on_mouse_wheel(self._on_mouse_wheel)
        self.undo_button.on_click(lambda _: self.undo())
        self.redo_button.on_click(lambda _: self.redo())
        self.clear_button.on_click(lambda _: self.clear())
        self.invert_button.on_click(lambda _: self.invert())
        self.grow_button.on_click(lambda _: self.grow())
        self.shrink_button.on_click(lambda _: self.shrink())
        self.zoom_in_button.on_click(lambda _: self.zoom_in())
        self.zoom_out_button.on_click(lambda _: self.zoom_out())
        self.fit_button.on_click(lambda _: self.fit())
        self.actual_size_button.on_click(lambda _: self.actual_size())
        self.opacity_slider.observe(self._on_look_change, "value")
        self.color_picker.observe(self._on_look_change, "value")
        self.preview_toggle.observe(self._on_look_change, "value")
        self.size_slider.observe(self._on_size_change, "value")
        self.tool_buttons.observe(lambda _: self._clear_cursor(), "value")
        for control in (self.tool_buttons, self.size_slider, self.opacity_slider):
            control.observe(self._save_settings, "value")
        self.color_picker.observe(self._save_settings, "value")

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
        ink.tool_names = [value for _, value in TOOLS]
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
        self._image_renders = {}
        self.document = MaskDocument(width, height)
        self._drag = self._pan_from = None
        longest = max(width, height)
        quiet, self._settings_quiet = self._settings_quiet, True
        self.size_slider.max = max(2, longest // 4)
        size = brush_size or self._remembered.get("brush_size") or max(1, round(longest / 32))
        self.size_slider.value = int(np.clip(size, 1, self.size_slider.max))
        self._settings_quiet = quiet
        self.grow_box.value = max(1, round(longest / 128))
        self.canvas.width, self.canvas.height = self._display
        self._update_zoom_label()
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
            "keys: [ ] brush size, Ctrl+Z undo, Ctrl+Shift+Z redo, B/E/R/L tools, "
            "+/− zoom, 0 fit, 1 1:1, wheel zoom, space+drag pan, Shift+click straight line"
            + (f" · {_PREVIEW_HELP}" if self.preview_toggle.value else "")
            + "</small>"
        )
        self.undo_button.disabled = not self.document.can_undo
        self.redo_button.disabled = not self.document.can_redo

    def _on_look_change(self, _change: Any) -> None:
        self._draw_overlay_from_document()
        self._update_status()

    def _on_size_change(self, _change: Any) -> None:
        if self._last_pos is not None and self._drag is None:
            self._draw_brush_cursor(*self._last_pos)

    # ------------------------------------------------------------------ settings

    def _load_settings(self) -> dict[str, Any]:
        """The remembered settings this painter can use (never raises for the file)."""
        try:
            raw = settings.load_settings(settings.PAINTER)
        except OSError:  # e.g. no home folder: nothing remembered
            return {}
        return settings.clean_painter_settings(raw, [value for _, value in TOOLS])

    def _save_settings(self, change: dict[str, Any]) -> None:
        """Remember the setting the user just changed (tool, brush size, opacity or colour).

        Only values the user set are remembered: a size never touched stays the image's
        default (1/32 of its side) in the next session.
        """
        if self._settings_quiet or not self.remember_settings:
            return
        key = {
            id(self.tool_buttons): "tool",
            id(self.size_slider): "brush_size",
            id(self.opacity_slider): "opacity",
            id(self.color_picker): "color",
        }[id(change["owner"])]
        values = settings.clean_painter_settings(
            {**self._remembered, key: change["new"]}, [value for _, value in TOOLS]
        )
        if values == self._remembered:
            return
        try:
            settings.save_settings(settings.PAINTER, {"version": 1, **values})
        except OSError as exc:
            warnings.warn(
                f"could not save the painter settings ({exc}); they are not remembered "
                "(MaskPainter(..., remember_settings=False) stops trying)",
                UserWarning,
                stacklevel=2,
            )
            self.remember_settings = False
            return
        self._remembered = values

    # ------------------------------------------------------------------ overlay drawing

    def _overlay_rgba(self, opacity: float) -> str:
        red, green, blue = _hex_to_rgb(self.color_picker.value)
        return f"rgba({red}, {green}, {blue}, {opacity:.3f})"

    def _draw_overlay_from_document(self) -> None:
        """Replace the overlay by the document's raster at display size (one RGBA image)."""
        if self.preview_toggle.value:
            self._draw_preview()
            return
        with hold_canvas():
            self._overlay.clear()
            if self.document.is_empty():
                return
            coverage = render(self.document.mask_image(), self._view, down=Image.Resampling.BOX)
            rgba = np.zeros((self._display[1], self._display[0], 4), dtype=np.uint8)
            rgba[:, :, :3] = _hex_to_rgb(self.color_picker.value)
            alpha = np.asarray(coverage, dtype=np.float32) * float(self.opacity_slider.value)
            rgba[:, :, 3] = np.round(alpha).astype(np.uint8)
            self._reset_composite(self._overlay)
            _put_rgba(self._overlay, rgba)

    def _draw_preview(self) -> None:
        """Show exactly what :meth:`mask_png` sends: its alpha channel, black = alpha 0."""
        alpha = imaging.decode_image(self.mask_png())[:, :, 3]
        gray = render(
            Image.fromarray(np.ascontiguousarray(alpha)), self._view, down=Image.Resampling.BOX
        )
        rgba = np.empty((self._display[1], self._display[0], 4), dtype=np.uint8)
        rgba[:, :, :3] = gray[:, :, None]
        rgba[:, :, 3] = np.where(self._image_area(), 255, 0)
        with hold_canvas():
            self._overlay.clear()
            self._reset_composite(self._overlay)
            _put_rgba(self._overlay, rgba)

    def _draw_image(self) -> None:
        """Put the visible part of the image on the image layer (rendered once per view)."""
        view, renders = self._view, self._image_renders
        key = view.key()
        if key not in renders:
            fit = View.fit(view.image_size, view.display_size).key()
            for old in [k for k in renders if k != fit]:
                del renders[old]
            renders[key] = _png(render(self._pyramid, view, down=Image.Resampling.LANCZOS))
        _put_png(self._image_layer, renders[key])

    def _image_area(self) -> np.ndarray:
        """(h, w) bool: the canvas pixels that show the image (not the margin around it)."""
        x0, y0, x1, y1 = self._view.crop().dest
        area = np.zeros((self._display[1], self._display[0]), dtype=bool)
        area[y0:y1, x0:x1] = True
        return area

    @staticmethod
    def _reset_composite(layer: Canvas) -> None:
        layer.global_alpha = 1.0
        layer.global_composite_operation = "source-over"

    def _paint_segment(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        """Draw one brush/eraser segment on the overlay (the current brush and tool)."""
        self._paint_polyline([start, end])

    def _paint_polyline(
        self,
        points: Sequence[tuple[float, float]],
        *,
        width: float | None = None,
        erase: bool | None = None,
    ) -> None:
        """Draw brush/eraser segments through ``points`` on the overlay: erase, then paint.

        Erasing first keeps the overlay's alpha uniform where segments overlap. ``width``
        (display pixels) and ``erase`` default to the current brush and tool.
        """
        layer = self._overlay
        width = self.brush_size * self.zoom if width is None else width
        erase = self._tool == "eraser" if erase is None else erase
        points = list(points) * 2 if len(points) == 1 else list(points)  # one point: a dot
        with hold_canvas():
            layer.line_cap = "round"
            layer.line_join = "round"
            layer.line_width = max(1.0, width)
            layer.global_composite_operation = "destination-out"
            layer.stroke_style = "#000000"
            layer.stroke_lines(points)
            if not erase:
                layer.global_composite_operation = "source-over"
                layer.stroke_style = self._overlay_rgba(self.opacity_slider.value)
                layer.stroke_lines(points)

    def _paint_shape(self, op: Rect | Lasso, display_points: Sequence[tuple[float, float]]) -> None:
        layer = self._overlay
        with hold_canvas():
            layer.global_composite_operation = "destination-out"
            layer.fill_style = "#000000"
            self._fill_display_shape(layer, op, display_points)
            if not op.erase:
                layer.global_composite_operation = "source-over"
                layer.fill_style = self._overlay_rgba(self.opacity_slider.value)
                self._fill_display_shape(layer, op, display_points)

    @staticmethod
    def _fill_display_shape(
        layer: Canvas, op: Rect | Lasso, display_points: Sequence[tuple[float, float]]
    ) -> None:
        if isinstance(op, Lasso):
            layer.fill_polygon(list(display_points))
            return
        (x0, y0), (x1, y1) = display_points[0], display_points[-1]
        layer.fill_rect(min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0))

    # ------------------------------------------------------------------ cursor layer

    def _clear_cursor(self) -> None:
        self._cursor.clear()

    def _draw_brush_cursor(self, x: float, y: float) -> None:
        radius = max(1.0, self.brush_size * self.zoom / 2)
        with hold_canvas():
            self._cursor.clear()
            self._cursor.line_width = 1
            self._cursor.stroke_style = "rgba(0, 0, 0, 0.8)"
            self._cursor.stroke_circle(x, y, radius + 1)
            self._cursor.stroke_style = "rgba(255, 255, 255, 0.9)"
            self._cursor.stroke_circle(x, y, radius)

    def _draw_rect_outline(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        with hold_canvas():
            self._cursor.clear()
            self._cursor.line_width = 1
            self._cursor.stroke_style = "rgba(255, 255, 255, 0.9)"
            self._cursor.stroke_rect(
                min(start[0], end[0]),
                min(start[1], end[1]),
                abs(end[0] - start[0]),
                abs(end[1] - start[1]),
            )

    def _draw_lasso_segment(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        with hold_canvas():
            self._cursor.line_width = 1
            self._cursor.stroke_style = "rgba(255, 255, 255, 0.9)"
            self._cursor.stroke_line(*start, *end)

    # ------------------------------------------------------------------ events

    @property
    def _tool(self) -> str:
        return str(self.tool_buttons.value)

    def _on_mouse_down(self, x: float, y: float) -> None:
        self._ink_input.fallback_used()  # ipycanvas got the event: the ink layer is not on top
        if self._space_pan and time.monotonic() - self._space_pan < _SPACE_PAN_S:
            self._pan_from = (x, y)  # space + drag pans (ipycanvas reports no key release)
            return
        if self.preview_toggle.value:
            self.preview_toggle.value = False  # painting shows the overlay again
        self._drag = [(x, y)]
        if self._tool in ("brush", "eraser"):
            self._paint_segment((x, y), (x, y))

    def _on_mouse_move(self, x: float, y: float) -> None:
        self._last_pos = (x, y)
        if self._pan_from is not None:
            (px, py), self._pan_from = self._pan_from, (x, y)
            self.pan_by(x - px, y - py)
            return
        drag, tool = self._drag, self._tool
        if drag is None:
            if tool in ("brush", "eraser"):
                self._draw_brush_cursor(x, y)
            return
        last = drag[-1]
        if tool == "rect":
            drag[1:] = [(x, y)]
            self._draw_rect_outline(drag[0], (x, y))
            return
        if math.hypot(x - last[0], y - last[1]) < _MIN_MOVE:
            return
        drag.append((x, y))
        if tool == "lasso":
            self._draw_lasso_segment(last, (x, y))
        else:
            self._paint_segment(last, (x, y))
            self._draw_brush_cursor(x, y)

    def _on_mouse_up(self, x: float, y: float) -> None:
        if self._pan_from is not None:
            self._on_mouse_move(x, y)
            self._pan_from = None
            self._space_pan = 0.0
            return
        if self._drag is None:
            return
        self._on_mouse_move(x, y)
        drag, self._drag = self._drag, None
        self._finish_drag(drag)

    def _on_mouse_out(self, x: float, y: float) -> None:
        if self._pan_from is not None:
            self._on_mouse_up(x, y)
        self._last_pos = None
        if self._drag is not None:
            self._on_mouse_up(x, y)
        self._clear_cursor()

    def _finish_drag(self, drag: list[tuple[float, float]]) -> None:
        tool = self._tool
        points = [self.to_image_coords(x, y) for x, y in drag]
        if tool in ("brush", "eraser"):
            op: MaskOp = Stroke(points, self.brush_size / 2, erase=tool == "eraser")
            self._commit(op, redraw=False)
            return
        self._clear_cursor()
        if tool == "rect":
            (x0, y0), (x1, y1) = points[0], points[-1]
            shape: Rect | Lasso = Rect(x0, y0, x1, y1)
        elif len(points) >= 3:
            shape = Lasso(points)
        else:
            return
        self._paint_shape(shape, drag)
        self._commit(shape, redraw=False)

    def _on_key_down(
        self, key: str, shift: bool, ctrl: bool, meta: bool, at: Point | None = None
    ) -> None:
        """A shortcut; ``at``: the pointer (display px) for "+"/"-" when the ink layer sent it
        (ipycanvas' key events come without one: the last mouse position is used)."""
        command = ctrl or meta
        lowered = key.lower()
        if command and lowered == "z":
            self.redo() if shift else self.undo()
        elif command and lowered == "y":
            self.redo()
        elif key in ("[", "]"):
            self._step_brush_size(-1 if key == "[" else 1)
        elif not command and lowered in _TOOL_KEYS:
            self.tool_buttons.value = _TOOL_KEYS[lowered]
        elif not command and key in _ZOOM_KEYS:
            self._zoom_key(_ZOOM_KEYS[key], at if at is not None else self._last_pos)
        elif not command and key == " ":
            self._space_pan = time.monotonic()  # held space repeats: each one re-arms

    def _zoom_key(self, action: str, at: Point | None) -> None:
        """+/- step about ``at`` (the pointer over the canvas; None: the centre), 0 fits, 1
        shows 1:1."""
        if action == "fit":
            self.fit()
        elif action == "actual":
            self.actual_size()
        else:
            self._set_view(self._view.step(1 if action == "in" else -1, at=at))

    def _on_mouse_wheel(self, _delta_x: float, delta_y: float) -> None:
        """ipycanvas' wheel event (no position): zoom about the last pointer position."""
        x, y = self._last_pos or (self._display[0] / 2, self._display[1] / 2)
        self._on_view_gesture({"kind": "wheel", "x": x, "y": y, "deltaY": delta_y})

    def _on_view_gesture(self, msg: dict[str, Any]) -> None:
        """A zoom/pan gesture from the front end, in canvas (display) pixels.

        The ink layer forwards ``{"kind": "wheel", "x", "y", "deltaY", "ctrlKey"}`` (wheel;
        a trackpad pinch arrives with ``ctrlKey``) and ``{"kind": "pan", "dx", "dy"}``
        (space or middle-button drag); ``{"kind": "zoom", "x", "y", "factor"}`` zooms by a
        factor about a point (a touch pinch). Malformed messages are ignored.
        """
        kind = msg.get("kind")
        if kind == "wheel":
            numbers = _finite_numbers(msg, "x", "y", "deltaY")
            if numbers is not None:
                x, y, delta = numbers
                self._set_view(self._view.wheel(delta, x, y, pinch=bool(msg.get("ctrlKey"))))
        elif kind == "pan":
            numbers = _finite_numbers(msg, "dx", "dy")
            if numbers is not None:
                self.pan_by(*numbers)
        elif kind == "zoom":
            numbers = _finite_numbers(msg, "x", "y", "factor")
            if numbers is not None and numbers[2] > 0:
                x, y, factor = numbers
                self._set_view(self._view.zoom_about(self._view.scale * factor, x, y))

    def _set_view(self, view: View) -> None:
        """Show ``view``: re-render the image and mask layers, tell the observers.

        A stroke in progress is committed first (its points were given in the old view).
        """
        if view == self._view:
            return
        if self._drag is not None:
            drag, self._drag = self._drag, None
            self._finish_drag(drag)
        self._view = view
        with hold_canvas():
            self._draw_image()
            self._draw_overlay_from_document()
            self._clear_cursor()
            brush = self._tool in ("brush", "eraser")
            if brush and self._last_pos is not None and self._pan_from is None:
                self._draw_brush_cursor(*self._last_pos)  # its size on screen changed
        self._update_zoom_label()
        self._notify_view_observers()

    def _notify_view_observers(self) -> None:
        for observer in list(self._view_observers):
            observer(self._view)

    def _update_zoom_label(self) -> None:
        view = self._view
        self.zoom_label.value = f"<small>{view.scale * 100:.3g}%</small>"
        self.zoom_out_button.disabled = self.fit_button.disabled = view.is_fit
        self.zoom_in_button.disabled = view.scale >= view.max_scale
        self.actual_size_button.disabled = view.scale == 1.0

    def _step_brush_size(self, direction: int) -> None:
        current = self.brush_size
        step = max(1, round(current * 0.15))
        slider = self.size_slider
        slider.value = int(np.clip(current + direction * step, slider.min, slider.max))
