"""The painter's control bars: which buttons, sliders and labels it has, and their layout.

:func:`build_controls` makes the painter's public controls (``painter.tool_buttons``,
``painter.size_slider``, ``painter.zoom_in_button``...; declared on
:class:`~.painter.MaskPainter`) and its two rows (tools, undo/redo and zoom on top; brush,
grow/shrink and the overlay's look below). :func:`connect_buttons` wires each button to the
painter method of the same name; :func:`show_zoom` shows the view's zoom on the controls.
The tool buttons come from the one tool list (:data:`._painter_input.TOOLS`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ipywidgets as widgets
import numpy as np

from ._painter_input import TOOLS, tool_tooltips

if TYPE_CHECKING:
    from ._painter_view import View
    from .painter import MaskPainter

__all__ = ["PREVIEW_HELP", "build_controls", "connect_buttons", "show_zoom"]

PREVIEW_HELP = "Preview: black = replaced by the model (alpha 0 in the PNG), white = kept."
#: Button attribute -> the painter method it calls (without arguments).
_BUTTON_METHODS = {
    "undo_button": "undo",
    "redo_button": "redo",
    "clear_button": "clear",
    "invert_button": "invert",
    "grow_button": "grow",
    "shrink_button": "shrink",
    "zoom_in_button": "zoom_in",
    "zoom_out_button": "zoom_out",
    "fit_button": "fit",
    "actual_size_button": "actual_size",
}


def build_controls(painter: MaskPainter, color: str, opacity: float) -> None:
    """Make the painter's controls and rows (``painter._toolbar``, ``painter._settings_bar``,
    ``painter._status``); the overlay starts with ``color`` and ``opacity`` (clipped to
    [0, 1])."""
    # flex "0 0 auto": buttons keep their label's width instead of being squeezed to "Gr…"
    small = widgets.Layout(width="auto", flex="0 0 auto")
    wrap = widgets.Layout(flex_flow="row wrap", align_items="center")

    def button(description: str, tooltip: str = "") -> widgets.Button:
        return widgets.Button(description=description, tooltip=tooltip, layout=small)

    p = painter
    p.tool_buttons = widgets.ToggleButtons(
        options=TOOLS, value="brush", tooltips=tool_tooltips(), style={"button_width": "92px"}
    )
    p.undo_button = button("Undo", "Ctrl+Z")
    p.redo_button = button("Redo", "Ctrl+Shift+Z")
    p.clear_button = button("Clear")
    p.invert_button = button("Invert")
    p.grow_button = button("Grow")
    p.shrink_button = button("Shrink")
    p.grow_box = widgets.BoundedIntText(
        value=8,
        min=1,
        max=4096,
        description="by px",
        layout=widgets.Layout(width="140px", flex="0 0 auto"),
    )
    p.size_slider = widgets.IntSlider(value=1, min=1, max=2, description="Brush size")
    p.opacity_slider = widgets.FloatSlider(
        value=float(np.clip(opacity, 0.0, 1.0)), min=0.0, max=1.0, step=0.05, description="Opacity"
    )
    p.color_picker = widgets.ColorPicker(value=color, concise=True, layout=small)
    p.preview_toggle = widgets.ToggleButton(
        value=False, description="Preview mask", tooltip=PREVIEW_HELP, layout=small
    )
    p.zoom_out_button = button("−", "Zoom out (-)")
    p.zoom_label = widgets.HTML(layout=widgets.Layout(flex="0 0 auto"))
    p.zoom_in_button = button("+", "Zoom in (+)")
    p.fit_button = button("Fit", "Show the whole image (0)")
    p.actual_size_button = button("1:1", "One image pixel per screen pixel (1)")
    edits = [p.tool_buttons, p.undo_button, p.redo_button, p.clear_button, p.invert_button]
    zoom = [p.zoom_out_button, p.zoom_label, p.zoom_in_button, p.fit_button]
    p._toolbar = widgets.HBox([*edits, *zoom, p.actual_size_button], layout=wrap)
    look = [p.opacity_slider, p.color_picker, p.preview_toggle]
    brush = [p.size_slider, p.grow_button, p.shrink_button, p.grow_box]
    p._settings_bar = widgets.HBox([*brush, *look], layout=wrap)
    p._status = widgets.HTML()


def connect_buttons(painter: MaskPainter) -> None:
    """Each button calls its painter method (Undo -> ``painter.undo()``, ...)."""
    for name, method in _BUTTON_METHODS.items():
        getattr(painter, name).on_click(lambda _button, method=method: getattr(painter, method)())


def show_zoom(painter: MaskPainter, view: View) -> None:
    """The zoom label ("150%") and which zoom buttons can act in ``view``."""
    painter.zoom_label.value = f"<small>{view.scale * 100:.3g}%</small>"
    painter.zoom_out_button.disabled = painter.fit_button.disabled = view.is_fit
    painter.zoom_in_button.disabled = view.scale >= view.max_scale
    painter.actual_size_button.disabled = view.scale == 1.0
