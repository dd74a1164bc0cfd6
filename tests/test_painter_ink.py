"""The painter's ink layer without a browser: its messages in, the acknowledgements out.

Batches are delivered the way the front end sends them (``ink._handle_custom_msg``); what
goes back is recorded at ``ink.send``. The committed operations must be exactly those of the
ipycanvas mouse path (tests/test_painter.py) for the same display points.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import pytest

from gptimage_widgets.maskops import Lasso, Rect, Stroke, rasterize_ops
from gptimage_widgets.widgets import _ink_layer, _painter_input
from gptimage_widgets.widgets._ink_layer import InkLayer, pressure_strokes
from gptimage_widgets.widgets.painter import MaskPainter


@pytest.fixture
def painter() -> MaskPainter:
    rng = np.random.default_rng(1)
    return MaskPainter(rng.integers(0, 256, size=(1024, 1536, 3), dtype=np.uint8), brush_size=40)


@pytest.fixture
def sent(painter: MaskPainter, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    monkeypatch.setattr(painter.ink, "send", lambda content, buffers=None: out.append(content))
    return out


def to_image(points, scale: float = 2.0) -> list[tuple[float, float]]:
    return [(x * scale - 0.5, y * scale - 0.5) for x, y in points]


def batch(painter, stroke_id, points, *, tool="brush", size=40, final=False, session="s1", **kw):
    content = {
        "kind": "points",
        "session": session,
        "id": stroke_id,
        "tool": tool,
        "size": size,
        "points": [c for point in points for c in point],
        "pressure": kw.pop("pressure", None),
        "final": final,
        **kw,
    }
    painter.ink._handle_custom_msg(content, [])


def acks(sent) -> list[tuple[str, int]]:
    return [(m["session"], m["id"]) for m in sent if m["kind"] == "ack"]


# --------------------------------------------------------------------------- the widget


def test_the_ink_layer_is_stacked_over_the_canvas_and_follows_the_controls(painter) -> None:
    stack = painter.children[2]
    assert isinstance(stack, widgets.GridBox)
    assert stack.children == (painter.canvas, painter.ink)
    assert painter.canvas.layout.grid_area == painter.ink.layout.grid_area
    ink = painter.ink
    assert (ink.width, ink.height) == painter.display_size == (768, 512)
    assert ink.view_scale == pytest.approx(0.5)  # display px per image px
    assert ink._image_layer == painter.layers[0].model_id
    assert ink._overlay_layer == painter.layers[1].model_id
    assert "export default" in ink._esm and "setPointerCapture" in ink._esm
    painter.tool_buttons.value = "lasso"
    painter.brush_size = 17
    painter.opacity_slider.value = 0.8
    painter.color_picker.value = "#00ff00"
    painter.pen_pressure = True
    assert ink.tool_names[ink.tool_index] == "lasso"
    assert (ink.brush_size, ink.opacity, ink.color, ink.pen_pressure) == (17, 0.8, "#00ff00", True)
    painter.set_image(np.zeros((300, 200, 3), np.uint8))
    assert (ink.width, ink.height, ink.view_scale) == (200, 300, 1.0)


def test_the_layer_gets_the_tools_and_their_keys_from_their_one_home(painter) -> None:
    ink = painter.ink
    assert ink.tool_names == list(_painter_input.TOOL_NAMES)
    assert ink.tool_names == [value for _, value in painter.tool_buttons.options]
    assert (
        ink.tool_keys
        == _painter_input.TOOL_KEYS
        == {
            "b": "brush",
            "e": "eraser",
            "r": "rect",
            "l": "lasso",
        }
    )
    assert ink.zoom_keys == list(_painter_input.ZOOM_KEYS)
    synced = ink.get_state()  # what the page gets
    assert synced["tool_names"] == ink.tool_names
    assert synced["tool_keys"] == ink.tool_keys
    assert synced["zoom_keys"] == ink.zoom_keys
    for key, tool in ink.tool_keys.items():  # the keys the page sends do what it shows
        painter.ink._handle_custom_msg(
            {"kind": "key", "key": key.upper(), "shift": True, "ctrl": False, "meta": False}, []
        )
        assert painter.tool_buttons.value == tool


def test_the_javascript_has_no_tool_or_key_list_of_its_own() -> None:
    """ink.js reads the shortcuts from the synced traits (it still knows what each tool draws)."""
    source = Path(_ink_layer.__file__).with_name("ink.js").read_text()
    assert 'b: "brush"' not in source and '"b", "e", "r", "l"' not in source
    assert '"+", "="' not in source  # the zoom keys
    assert 'model.get("tool_keys")' in source and 'model.get("zoom_keys")' in source


def test_the_javascript_ships_with_the_package() -> None:
    path = Path(_ink_layer.__file__).with_name("ink.js")
    assert path.is_file()
    assert InkLayer.batch_ms.default_value == _ink_layer.DEFAULT_BATCH_MS


# --------------------------------------------------------------------------- batches in


def test_batches_of_one_stroke_commit_one_stroke_then_ack(painter, sent) -> None:
    batch(painter, 1, [(100, 100), (180, 130)])
    batch(painter, 1, [(300, 200)])
    assert painter.document.ops == () and acks(sent) == []  # nothing committed mid-stroke
    batch(painter, 1, [(320, 220)], final=True)
    points = to_image([(100, 100), (180, 130), (300, 200), (320, 220)])
    assert painter.document.ops == (Stroke(points, 20.0),)
    assert acks(sent) == [("s1", 1)]
    assert painter.mask_version == 1


def test_the_same_points_give_the_same_op_as_the_mouse_path(painter, sent) -> None:
    other = MaskPainter(painter.image, brush_size=40)
    drag = [(10, 10), (60, 40), (90, 45)]
    other.canvas[-1]._handle_frontend_event(None, {"event": "mouse_down", "x": 10, "y": 10}, [])
    for x, y in drag[1:]:
        other.canvas[-1]._handle_frontend_event(None, {"event": "mouse_move", "x": x, "y": y}, [])
    other.canvas[-1]._handle_frontend_event(None, {"event": "mouse_up", "x": 90, "y": 45}, [])
    batch(painter, 1, drag, final=True)
    assert painter.document.ops == other.document.ops
    assert np.array_equal(painter.mask, other.mask)


def test_strokes_are_committed_and_acked_in_order(painter, sent) -> None:
    batch(painter, 1, [(10, 10), (50, 10)], final=True)
    batch(painter, 2, [(10, 100), (50, 100)], tool="eraser", size=20, final=True)
    batch(painter, 3, [(100, 100), (200, 150)], tool="rect", final=True)
    batch(painter, 4, [(300, 300), (400, 300), (350, 400)], tool="lasso", final=True)
    assert painter.document.ops == (
        Stroke(to_image([(10, 10), (50, 10)]), 20.0),
        Stroke(to_image([(10, 100), (50, 100)]), 10.0, erase=True),
        Rect(*to_image([(100, 100)])[0], *to_image([(200, 150)])[0]),
        Lasso(to_image([(300, 300), (400, 300), (350, 400)])),
    )
    assert acks(sent) == [("s1", 1), ("s1", 2), ("s1", 3), ("s1", 4)]
    assert np.array_equal(painter.mask, rasterize_ops(1536, 1024, painter.document.ops))


def test_a_stroke_whose_final_batch_never_came_is_committed_before_the_next(painter, sent) -> None:
    batch(painter, 1, [(10, 10), (50, 10)])
    batch(painter, 2, [(10, 100), (50, 100)], final=True)
    assert [op.points for op in painter.document.ops] == [  # type: ignore[union-attr]
        tuple(to_image([(10, 10), (50, 10)])),
        tuple(to_image([(10, 100), (50, 100)])),
    ]
    assert acks(sent) == [("s1", 1), ("s1", 2)]


def test_two_page_views_keep_their_own_strokes(painter, sent) -> None:
    batch(painter, 1, [(10, 10)], session="a")
    batch(painter, 1, [(10, 300)], session="b")
    batch(painter, 1, [(60, 10)], session="a", final=True)
    batch(painter, 1, [(60, 300)], session="b", final=True)
    assert [op.points for op in painter.document.ops] == [  # type: ignore[union-attr]
        tuple(to_image([(10, 10), (60, 10)])),
        tuple(to_image([(10, 300), (60, 300)])),
    ]
    assert acks(sent) == [("a", 1), ("b", 1)]


def test_bad_messages_change_nothing_and_unknown_tools_are_acked(painter, sent) -> None:
    painter.ink._handle_custom_msg("not a dict", [])
    painter.ink._handle_custom_msg({"kind": "points", "id": "x"}, [])
    batch(painter, 1, [(10, 10)], tool="spray", final=True)
    batch(painter, 2, [(10, 10), (20, 20)], tool="lasso", final=True)  # < 3 points
    assert painter.document.ops == ()
    assert acks(sent) == [("s1", 1), ("s1", 2)]  # the page drops their ink
    content = {"kind": "points", "session": "s1", "id": 3, "tool": "brush", "final": True}
    painter.ink._handle_custom_msg({**content, "size": "big", "points": [5, 5, "x", 1]}, [])
    assert painter.document.ops == (Stroke(to_image([(5, 5)]), 20.0),)  # slider size used


def test_a_batch_paints_its_segments_on_the_overlay_only(painter, sent) -> None:
    calls = []
    painter._paint_polyline = lambda points, **kw: calls.append((points, kw))  # type: ignore[method-assign]
    batch(painter, 1, [(10, 10), (20, 10)], size=40)
    batch(painter, 1, [(30, 10), (40, 12)], size=40, final=True)
    assert calls == [
        ([(10, 10), (20, 10)], {"width": 20.0, "erase": False}),  # first point: a dot, then on
        ([(20, 10), (30, 10), (40, 12)], {"width": 20.0, "erase": False}),  # from the last point
    ]


def test_one_canvas_message_per_batch_and_never_an_image(painter, sent, monkeypatch) -> None:
    from ipycanvas.canvas import _CANVAS_MANAGER

    messages = []
    monkeypatch.setattr(_CANVAS_MANAGER, "send", lambda *a, **k: messages.append(a))
    batch(painter, 1, [(10, 10), (20, 10), (30, 10)], size=40)
    batch(painter, 1, [(40, 10), (50, 10)], size=40, tool="eraser")
    assert len(messages) == 2


def test_pressure_batches_paint_each_segment_with_its_width(painter, sent) -> None:
    calls = []
    painter._paint_polyline = lambda points, **kw: calls.append((points, kw["width"]))  # type: ignore[method-assign]
    batch(painter, 1, [(10, 10), (20, 10)], size=40, pressure=[1.0, 0.5])
    assert calls == [([(10, 10), (10, 10)], 20.0), ([(10, 10), (20, 10)], 10.0)]


def test_painting_turns_the_preview_off(painter, sent) -> None:
    painter.preview_toggle.value = True
    batch(painter, 1, [(10, 10)], final=True)
    assert painter.preview_toggle.value is False


# --------------------------------------------------------------------------- pressure


def test_pen_pressure_runs_become_strokes_of_scaled_radius(painter, sent) -> None:
    points = [(10, 10), (20, 10), (30, 10), (40, 10)]
    batch(painter, 1, points, pressure=[1.0, 1.0, 0.5, 0.5], final=True)
    image = to_image(points)
    assert painter.document.ops == (
        Stroke(image[:2], 20.0),
        Stroke(image[1:], 10.0),  # shares its first point with the run before
    )


def test_pressure_strokes_rounding_and_plain_strokes() -> None:
    points = [(0.0, 0.0), (5.0, 0.0), (9.0, 0.0)]
    assert pressure_strokes(points, None, 4.0, False) == [Stroke(points, 4.0)]
    assert (
        pressure_strokes(points, [0.51, 0.49, 0.0], 8.0, True)
        == [
            Stroke(points[:2], 4.0, erase=True),  # 0.51 and 0.49 both round to 4/8
            Stroke(points[1:], 1.0, erase=True),  # never 0: the lowest level is 1/8
        ]
    )


# --------------------------------------------------------------------------- keys, view, fallback


def test_keys_from_the_ink_layer_drive_the_shortcuts(painter, sent) -> None:
    batch(painter, 1, [(10, 10), (50, 10)], final=True)
    key = {"kind": "key", "shift": False, "ctrl": True, "meta": False}
    painter.ink._handle_custom_msg({**key, "key": "z"}, [])
    assert painter.document.ops == ()
    painter.ink._handle_custom_msg({**key, "key": "Z", "shift": True}, [])
    assert len(painter.document.ops) == 1
    painter.ink._handle_custom_msg({**key, "key": "e", "ctrl": False}, [])
    assert painter.tool_buttons.value == "eraser"


def test_zoom_keys_from_the_ink_layer_step_about_the_pointer(painter, sent) -> None:
    key = {"kind": "key", "key": "+", "shift": True, "ctrl": False, "meta": False}
    expected = painter.view.step(1, at=(600.0, 100.0))
    painter.ink._handle_custom_msg({**key, "x": 600, "y": 100}, [])
    assert painter.view == expected and painter.zoom > 0.5
    centred = painter.view.step(1, at=None)  # no pointer over the layer: about the centre
    painter.ink._handle_custom_msg({**key, "x": None, "y": None}, [])
    assert painter.view == centred
    painter.ink._handle_custom_msg({**key, "key": "0"}, [])
    assert painter.view.is_fit


def test_a_view_change_during_a_stroke_keeps_each_point_where_it_was_drawn(painter, sent) -> None:
    batch(painter, 1, [(100, 100), (200, 100)])  # drawn at Fit (2 image px per display px)
    fit = painter.view
    painter.zoom_to(1.0, center=(800.0, 500.0))  # e.g. Python code, while the stroke is open
    zoomed = painter.view
    batch(painter, 1, [(300, 200)], final=True)  # drawn in the new view
    drawn = [fit.to_image(100, 100), fit.to_image(200, 100), zoomed.to_image(300, 200)]
    (stroke,) = painter.document.ops
    assert isinstance(stroke, Stroke)
    np.testing.assert_allclose(np.array(stroke.points), np.array(drawn))
    assert acks(sent) == [("s1", 1)]


def test_view_gestures_reach_the_painter_hook(painter, monkeypatch) -> None:
    seen = []
    monkeypatch.setattr(painter, "_on_view_gesture", seen.append)
    wheel = {"kind": "wheel", "x": 10, "y": 20, "deltaY": -120, "ctrlKey": True}
    pan = {"kind": "pan", "dx": 3, "dy": -4}
    zoom = {"kind": "zoom", "x": 5, "y": 6, "factor": 1.5}
    for message in (wheel, pan, zoom):
        painter.ink._handle_custom_msg(message, [])
    assert seen == [wheel, pan, zoom]
    MaskPainter(np.zeros((8, 8), np.uint8))._on_view_gesture(wheel)  # the default: no-op


def test_strokes_drawn_in_an_older_view_map_through_it(painter, sent) -> None:
    drawn_in, old_id = painter.view, painter.ink.view_id
    painter.zoom_to(2.0, center=(300.0, 200.0))  # e.g. a cell zoomed while the page drew
    assert painter.ink.view_id == old_id + 1
    assert painter.ink.view_scale == pytest.approx(2.0)
    batch(painter, 1, [(10, 10), (60, 40)], view=old_id, final=True)
    batch(painter, 2, [(10, 10), (60, 40)], view=painter.ink.view_id, final=True)
    batch(painter, 3, [(10, 10), (60, 40)], view=[1], final=True)  # unknown: the current one
    old, new, unknown = painter.document.ops
    expected_old = [drawn_in.to_image(10, 10), drawn_in.to_image(60, 40)]
    np.testing.assert_allclose(np.array(old.points), np.array(expected_old))  # type: ignore[union-attr]
    assert new.points == (painter.view.to_image(10, 10), painter.view.to_image(60, 40))  # type: ignore[union-attr]
    assert unknown == new


def test_a_pinch_zoom_from_the_ink_layer_zooms_about_its_point(painter) -> None:
    expected = painter.view.zoom_about(painter.zoom * 3, 100.0, 50.0)
    painter.ink._handle_custom_msg({"kind": "zoom", "x": 100, "y": 50, "factor": 3}, [])
    assert painter.view == expected and painter.zoom == pytest.approx(1.5)


def test_ready_is_recorded_and_ipycanvas_events_mean_fallback_said_once(painter, caplog) -> None:
    painter.ink._handle_custom_msg({"kind": "ready", "session": "s9"}, [])
    assert painter._ink_input.sessions == {"s9"}
    assert painter._ink_input.notice.value == ""
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            for event in ("mouse_down", "mouse_up"):
                content = {"event": event, "x": 10, "y": 10}
                painter.canvas[-1]._handle_frontend_event(None, content, [])
    assert "did not load" in painter._ink_input.notice.value
    assert painter._ink_input.notice in painter.children
    assert sum("ink layer did not load" in r.message for r in caplog.records) == 1
    assert len(painter.document.ops) == 2  # and the mouse path still paints
