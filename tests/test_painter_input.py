"""The painter's tools, shortcuts and gestures as pure data and functions (no widgets)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gptimage_widgets.widgets._painter_input import (
    TOOL_KEYS,
    TOOL_NAMES,
    TOOLS,
    ZOOM_KEYS,
    gesture_view,
    key_command,
    tool_tooltips,
)
from gptimage_widgets.widgets._painter_view import View


def test_one_tool_table_gives_the_buttons_the_names_and_the_keys() -> None:
    assert [name for _, name in TOOLS] == list(TOOL_NAMES) == ["brush", "eraser", "rect", "lasso"]
    assert sorted(TOOL_KEYS.values()) == sorted(TOOL_NAMES)
    assert tool_tooltips() == [key.upper() for key in TOOL_KEYS]
    assert not set(TOOL_KEYS) & set(ZOOM_KEYS)


@pytest.mark.parametrize(
    ("key", "mods", "expected"),
    [
        ("z", {"ctrl": True}, ("undo", None)),
        ("Z", {"meta": True, "shift": True}, ("redo", None)),
        ("y", {"ctrl": True}, ("redo", None)),
        ("[", {}, ("brush_size", -1)),
        ("]", {"ctrl": True}, ("brush_size", 1)),
        ("L", {"shift": True}, ("tool", "lasso")),
        ("r", {"ctrl": True}, None),  # Ctrl+R is the browser's
        ("=", {}, ("zoom", "in")),
        ("0", {}, ("zoom", "fit")),
        (" ", {}, ("space", None)),
        ("x", {}, None),
    ],
)
def test_key_command(key: str, mods: dict[str, bool], expected: object) -> None:
    flags = {"shift": False, "ctrl": False, "meta": False, **mods}
    assert key_command(key, **flags) == expected


def test_gestures_give_the_next_view_and_malformed_ones_none() -> None:
    view = View.fit((1536, 1024), (768, 512))
    assert gesture_view(view, {"kind": "wheel", "x": 10, "y": 20, "deltaY": -300}) == view.wheel(
        -300, 10, 20
    )
    assert gesture_view(view, {"kind": "pan", "dx": 5, "dy": 0}) == view.pan(5, 0)
    zoom = {"kind": "zoom", "x": 1, "y": 2, "factor": 2}
    assert gesture_view(view, zoom) == view.zoom_about(view.scale * 2, 1, 2)
    for bad in ({"kind": "pan", "dx": True, "dy": 0}, {**zoom, "factor": 0}, {"kind": "?"}):
        assert gesture_view(view, bad) is None


def test_the_module_imports_no_widgets() -> None:
    code = (
        "import sys, gptimage_widgets.widgets._painter_input; "
        "print(sorted(m for m in ('ipywidgets', 'ipycanvas', 'anywidget') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
