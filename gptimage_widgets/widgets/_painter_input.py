"""What the painter's tools, key shortcuts and view gestures are (pure, no widgets).

The one home of the tool list and of every key shortcut: the painter builds its tool buttons
from :data:`TOOLS`, dispatches keys through :func:`key_command`, and hands :data:`TOOL_KEYS`
and :data:`ZOOM_KEYS` to the ink layer's front end (``ink.js``, through synced traits), so
the page switches tools and keeps zoom keys for itself without a list of its own.

:func:`gesture_view` turns a zoom/pan gesture message (display pixels, as the ink layer sends
it) into the next :class:`~._painter_view.View` (None for a malformed message).
"""

from __future__ import annotations

import math
from typing import Any

from ._painter_view import View

__all__ = [
    "SPACE_PAN_S",
    "TOOLS",
    "TOOL_KEYS",
    "TOOL_NAMES",
    "ZOOM_KEYS",
    "gesture_view",
    "key_command",
    "shortcuts_help",
    "tool_tooltips",
]

#: The painter's tools, in toolbar order: (button label, tool name, key shortcut).
_TOOL_TABLE = (
    ("Brush", "brush", "b"),
    ("Eraser", "eraser", "e"),
    ("Rectangle", "rect", "r"),
    ("Lasso", "lasso", "l"),
)
#: (label, name) pairs: the tool buttons' options.
TOOLS = tuple((label, name) for label, name, _ in _TOOL_TABLE)
TOOL_NAMES = tuple(name for _, name, _ in _TOOL_TABLE)
#: Key (lower case, without Ctrl/Cmd) -> tool name.
TOOL_KEYS = {key: name for _, name, key in _TOOL_TABLE}
#: Zoom keys (no Ctrl/Cmd): zoom steps in/out about the pointer, Fit, 1:1.
ZOOM_KEYS = {"+": "in", "=": "in", "-": "out", "_": "out", "0": "fit", "1": "actual"}
#: After a space key press, a drag that starts within this many seconds pans (held space
#: repeats its key press, so holding it keeps panning on).
SPACE_PAN_S = 0.75


def tool_tooltips() -> list[str]:
    """The tool buttons' tooltips: each tool's key, upper case (``["B", "E", ...]``)."""
    return [key.upper() for _, _, key in _TOOL_TABLE]


def shortcuts_help() -> str:
    """One line naming the keys, for the painter's status bar."""
    tools = "/".join(key.upper() for _, _, key in _TOOL_TABLE)
    return (
        f"keys: [ ] brush size, Ctrl+Z undo, Ctrl+Shift+Z redo, {tools} tools, "
        "+/− zoom, 0 fit, 1 1:1, wheel zoom, space+drag pan, Shift+click straight line"
    )


def key_command(key: str, *, shift: bool, ctrl: bool, meta: bool) -> tuple[str, Any] | None:
    """What a key press asks for, or None (not a shortcut).

    Returns
    -------
    tuple or None
        ``("undo", None)``, ``("redo", None)``, ``("brush_size", +1 | -1)``,
        ``("tool", name)``, ``("zoom", "in" | "out" | "fit" | "actual")`` or
        ``("space", None)`` (a drag soon after pans).
    """
    command = ctrl or meta
    lowered = key.lower()
    if command and lowered == "z":
        return ("redo", None) if shift else ("undo", None)
    if command and lowered == "y":
        return ("redo", None)
    if key in ("[", "]"):
        return ("brush_size", -1 if key == "[" else 1)
    if command:
        return None
    if lowered in TOOL_KEYS:
        return ("tool", TOOL_KEYS[lowered])
    if key in ZOOM_KEYS:
        return ("zoom", ZOOM_KEYS[key])
    if key == " ":
        return ("space", None)
    return None


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


def gesture_view(view: View, msg: dict[str, Any]) -> View | None:
    """The view after a zoom/pan gesture from the front end (canvas/display pixels).

    ``{"kind": "wheel", "x", "y", "deltaY", "ctrlKey"}``: a wheel step about the point (a
    trackpad pinch arrives with ``ctrlKey``); ``{"kind": "pan", "dx", "dy"}``: a space or
    middle-button drag; ``{"kind": "zoom", "x", "y", "factor"}``: zoom by a factor about a
    point (a touch pinch). None for anything malformed.
    """
    kind = msg.get("kind")
    if kind == "wheel":
        numbers = _finite_numbers(msg, "x", "y", "deltaY")
        if numbers is not None:
            x, y, delta = numbers
            return view.wheel(delta, x, y, pinch=bool(msg.get("ctrlKey")))
    elif kind == "pan":
        numbers = _finite_numbers(msg, "dx", "dy")
        if numbers is not None:
            return view.pan(*numbers)
    elif kind == "zoom":
        numbers = _finite_numbers(msg, "x", "y", "factor")
        if numbers is not None and numbers[2] > 0:
            x, y, factor = numbers
            return view.zoom_about(view.scale * factor, x, y)
    return None
