"""MaskPainter zoom and pan without a browser: strokes through the view land at the right
full-resolution pixels, the layers show the visible crop, shortcuts keep working.

Events are fired the way ipycanvas delivers them (helpers shared with ``test_painter.py``).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_painter import Wire, assert_stroke_raster, drag, fire, press

from gptimage_widgets import ValidationError
from gptimage_widgets.maskops import Lasso, Rect, Stroke, rasterize_ops
from gptimage_widgets.widgets._painter_view import View
from gptimage_widgets.widgets.painter import MaskPainter

W, H = 3840, 2160


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    return Wire(monkeypatch)


@pytest.fixture(scope="module")
def uhd_image() -> np.ndarray:
    rng = np.random.default_rng(5)
    return rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)


@pytest.fixture
def painter(uhd_image: np.ndarray) -> MaskPainter:
    return MaskPainter(uhd_image, brush_size=8)


def zoomed_4x(painter: MaskPainter) -> tuple[float, float]:
    """Zoom to 4× with image pixel (1000, 600) centred; returns the view's (left, top)."""
    painter.zoom_to(4.0, center=(1000.5, 600.5))
    assert painter.zoom == 4.0
    # 768x432 canvas at 4x shows 192x108 image pixels, centred on edge coordinate (1001, 601)
    assert painter.view.visible == (905.0, 547.0, 1097.0, 655.0)
    return 905.0, 547.0


def by_hand(points, left: float, top: float, zoom: float) -> list[tuple[float, float]]:
    """Display -> image coordinates, written out independently of the view model."""
    return [(left + x / zoom - 0.5, top + y / zoom - 0.5) for x, y in points]


def wheel(painter: MaskPainter, delta_y: float) -> None:
    painter.canvas[-1]._handle_frontend_event(
        None, {"event": "mouse_wheel", "x": 0.0, "y": delta_y}, []
    )


# --------------------------------------------------------------------------- strokes


def test_a_stroke_at_4x_lands_at_the_right_full_resolution_pixels(painter) -> None:
    left, top = zoomed_4x(painter)
    display = [(100, 100), (300, 200), (500, 120)]
    drag(painter, display)
    expected_points = by_hand(display, left, top, 4.0)
    assert expected_points[0] == (929.5, 571.5)
    assert painter.document.ops == (Stroke(expected_points, 4.0),)  # radius: brush / 2
    mask = painter.mask
    assert mask.shape == (H, W)
    assert np.array_equal(mask, rasterize_ops(W, H, painter.document.ops))
    # the painted pixels, checked by distance in a window around the stroke
    window = mask[540:620, 900:1060]
    shifted = [(x - 900, y - 540) for x, y in expected_points]
    assert_stroke_raster(window, shifted, 4.0)
    assert mask.sum() == window.sum()  # nothing outside the window


def test_rect_and_lasso_at_4x(painter) -> None:
    left, top = zoomed_4x(painter)
    painter.tool_buttons.value = "rect"
    drag(painter, [(40, 20), (441, 221)])
    (x0, y0), (x1, y1) = by_hand([(40, 20), (441, 221)], left, top, 4.0)
    assert painter.document.ops == (Rect(x0, y0, x1, y1),)
    expected = np.zeros((H, W), bool)
    expected[552:602, 915:1015] = True  # pixel centres inside [914.5, 1014.75] x [551.5, 601.75]
    assert np.array_equal(painter.mask, expected)
    painter.clear()
    painter.tool_buttons.value = "lasso"
    drag(painter, [(10, 10), (700, 10), (700, 400), (10, 400)])
    lasso = painter.document.ops[-1]
    assert isinstance(lasso, Lasso)
    assert lasso.points == tuple(
        by_hand([(10, 10), (700, 10), (700, 400), (10, 400)], left, top, 4.0)
    )


def test_brush_size_is_in_image_pixels_whatever_the_zoom(painter, wire) -> None:
    zoomed_4x(painter)
    wire.clear()
    drag(painter, [(100, 100), (200, 100)])
    overlay = painter.canvas[1].model_id
    widths = [
        args[1]
        for canvas, name, args, _ in wire.commands()
        if canvas == overlay and name == "set" and args[0] == 8  # 8: line_width
    ]
    assert widths and set(widths) == {32.0}  # 8 image px * 4 display px per image px
    assert painter.document.ops[-1].radius == 4.0


def test_a_view_change_mid_stroke_commits_it_in_the_old_view(painter) -> None:
    zoomed_4x(painter)
    fire(painter, "mouse_down", 100, 100)
    fire(painter, "mouse_move", 200, 100)
    painter.zoom_to(8.0)
    assert painter.document.ops == (Stroke(by_hand([(100, 100), (200, 100)], 905, 547, 4), 4.0),)
    fire(painter, "mouse_move", 300, 100)  # no stroke in progress any more: cursor only
    fire(painter, "mouse_up", 300, 100)
    assert len(painter.document.ops) == 1


# --------------------------------------------------------------------------- rendering


def test_layers_show_the_visible_crop_at_4x(painter, wire, uhd_image) -> None:
    painter.tool_buttons.value = "rect"
    drag(painter, [(190, 110), (200, 125)])  # image pixels 950..999 x 550..624 at Fit
    wire.clear()
    zoomed_4x(painter)  # shows image pixels 905..1096 x 547..654
    (image,) = wire.images_put_on(painter.canvas[0])
    (overlay,) = wire.images_put_on(painter.canvas[1])
    assert image.shape == overlay.shape == (432, 768, 4)
    crop = uhd_image[547:655, 905:1097]
    assert np.array_equal(image[:, :, :3], np.repeat(np.repeat(crop, 4, 0), 4, 1))
    assert (image[:, :, 3] == 255).all()
    mask_crop = painter.mask[547:655, 905:1097]
    expected_alpha = np.where(np.repeat(np.repeat(mask_crop, 4, 0), 4, 1), 128, 0)
    assert np.array_equal(overlay[:, :, 3], expected_alpha)  # 0.5 opacity, crisp blocks


def test_strokes_at_zoom_send_no_image(painter, wire) -> None:
    zoomed_4x(painter)
    fire(painter, "client_ready", 0, 0)  # a page connects: the cached render is sent again
    wire.clear()
    drag(painter, [(100, 100), (300, 200)])
    assert wire.count("putImageData") == 0


def test_preview_at_zoom_shows_the_crop(painter, wire) -> None:
    painter.tool_buttons.value = "rect"
    drag(painter, [(190, 110), (200, 125)])
    zoomed_4x(painter)
    wire.clear()
    painter.preview_toggle.value = True
    (shown,) = wire.images_put_on(painter.canvas[1])
    kept = ~np.repeat(np.repeat(painter.mask[547:655, 905:1097], 4, 0), 4, 1)
    assert np.array_equal(shown[:, :, 0], np.where(kept, 255, 0))


def test_fit_then_zoom_out_shows_the_whole_image_again(painter) -> None:
    zoomed_4x(painter)
    painter.fit()
    assert painter.view == View.fit((W, H), (768, 432)) and painter.zoom == 0.2
    assert painter.to_image_coords(100, 50) == (499.5, 249.5)


# --------------------------------------------------------------------------- controls


def test_buttons_zoom_in_out_fit_and_1_to_1(painter) -> None:
    assert painter.fit_button.disabled and painter.zoom_out_button.disabled
    assert "20%" in painter.zoom_label.value
    painter.zoom_in_button.click()
    assert painter.zoom == 0.25 and not painter.fit_button.disabled
    painter.actual_size_button.click()
    assert painter.zoom == 1.0 and painter.actual_size_button.disabled
    assert painter.view.center == pytest.approx((1919.5, 1079.5))  # the centre is kept
    assert "100%" in painter.zoom_label.value
    painter.zoom_in_button.click()
    painter.zoom_in_button.click()
    assert painter.zoom == 2.0
    painter.zoom_out_button.click()
    assert painter.zoom == pytest.approx(2**0.5)
    painter.fit_button.click()
    assert painter.view.is_fit


def test_zoom_keys_step_about_the_pointer(painter) -> None:
    fire(painter, "mouse_move", 600, 100)
    under = painter.to_image_coords(600, 100)
    for _ in range(8):
        press(painter, "+")
    assert painter.zoom == 2.0**1.5  # from 0.2 (Fit): 0.25, 0.35, 0.5 ... 2.83
    assert painter.to_image_coords(600, 100) == pytest.approx(under)
    press(painter, "-")
    press(painter, "=")  # "=" is "+" without shift
    assert painter.to_image_coords(600, 100) == pytest.approx(under)
    press(painter, "1")
    assert painter.zoom == 1.0
    press(painter, "0")
    assert painter.view.is_fit


def test_existing_shortcuts_keep_working(painter) -> None:
    press(painter, "1")
    drag(painter, [(100, 100), (200, 100)])
    press(painter, "z", ctrl=True)
    assert painter.document.ops == ()
    press(painter, "z", ctrl=True, shift=True)
    assert len(painter.document.ops) == 1
    for key, tool in (("r", "rect"), ("l", "lasso"), ("e", "eraser"), ("b", "brush")):
        press(painter, key)
        assert painter.tool_buttons.value == tool
    size = painter.brush_size
    press(painter, "]")
    assert painter.brush_size > size
    assert painter.zoom == 1.0  # none of them zoomed
    press(painter, "0", ctrl=True)  # Ctrl/Cmd+0 is the browser's: left alone
    assert painter.zoom == 1.0


def test_ipycanvas_wheel_zooms_about_the_pointer(painter) -> None:
    fire(painter, "mouse_move", 200, 300)
    under = painter.to_image_coords(200, 300)
    wheel(painter, -300)  # ipycanvas sends (deltaX, deltaY) only: the last pointer position
    assert painter.zoom == pytest.approx(0.4)
    assert painter.to_image_coords(200, 300) == pytest.approx(under)
    wheel(painter, 1e6)
    assert painter.view.is_fit


def test_space_drag_pans_and_does_not_paint(painter) -> None:
    zoomed_4x(painter)
    press(painter, " ")
    drag(painter, [(300, 200), (340, 180), (380, 160)])  # the image follows the pointer
    assert painter.document.ops == ()
    assert painter.view.visible[:2] == (905.0 - 20, 547.0 + 10)
    drag(painter, [(100, 100), (120, 100)])  # space is no longer held: paints
    assert len(painter.document.ops) == 1


def test_view_gestures_from_the_ink_layer(painter) -> None:
    under = painter.to_image_coords(500, 200)
    painter._on_view_gesture({"kind": "wheel", "x": 500, "y": 200, "deltaY": -300})
    assert painter.zoom == pytest.approx(0.4)
    painter._on_view_gesture({"kind": "wheel", "x": 500, "y": 200, "deltaY": -10, "ctrlKey": True})
    assert painter.zoom == pytest.approx(0.4 * 2**0.1)  # a pinch: finer steps
    assert painter.to_image_coords(500, 200) == pytest.approx(under)
    before = painter.view
    painter._on_view_gesture({"kind": "pan", "dx": 30, "dy": -12})
    assert painter.view == before.pan(30, -12)
    painter._on_view_gesture({"kind": "zoom", "x": 10, "y": 10, "factor": 2})
    assert painter.zoom == pytest.approx(before.scale * 2)
    current = painter.view
    for bad in (
        {"kind": "wheel", "x": 1, "y": 2},
        {"kind": "wheel", "x": "1", "y": 2, "deltaY": 5},
        {"kind": "pan", "dx": float("nan"), "dy": 0},
        {"kind": "pan", "dx": True, "dy": 0},
        {"kind": "zoom", "x": 1, "y": 2, "factor": -1},
        {"kind": "spin"},
        {},
    ):
        painter._on_view_gesture(bad)
        assert painter.view == current


def test_view_observers_hear_every_change(painter, uhd_image) -> None:
    seen: list[float] = []
    painter._view_observers.append(lambda view: seen.append(view.scale))
    painter.zoom_to(4.0)
    painter.pan_by(10, 10)
    painter.zoom_to(4.0)  # no change: not reported
    painter.set_image(uhd_image[:1000, :1000])
    assert seen == [4.0, 4.0, painter.zoom]
    assert painter.view.is_fit


def test_set_image_fits_the_new_image(painter) -> None:
    zoomed_4x(painter)
    painter.set_image(np.zeros((100, 200, 3), np.uint8))
    assert painter.view.is_fit and painter.zoom == 1.0  # small images are shown at 1:1
    assert painter.to_image_coords(10, 10) == (9.5, 9.5)


@pytest.mark.parametrize(
    ("factor", "center", "param"),
    [
        (0, None, "factor"),
        (-2, None, "factor"),
        (float("nan"), None, "factor"),
        (True, None, "factor"),
        ("4", None, "factor"),
        (4.0, (1.0,), "center"),
        (4.0, (float("inf"), 3.0), "center"),
        (4.0, "middle", "center"),
    ],
)
def test_zoom_to_rejects_bad_values_by_name(painter, factor, center, param) -> None:
    with pytest.raises(ValidationError, match=param) as caught:
        painter.zoom_to(factor, center)
    assert caught.value.problems[0].param == param
    assert painter.view.is_fit  # unchanged
