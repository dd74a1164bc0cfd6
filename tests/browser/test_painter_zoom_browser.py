"""The painter zoomed in and its remembered settings, in a real browser (JupyterLab and
Notebook 7).

- A 3840×2160 image on a 768×432 canvas, zoomed to 4× with the buttons, panned with
  space + drag: Chromium's real mouse strokes land at the right full-resolution pixels, and
  the image layer in the page shows the crop pixel for pixel.
- The brush size and tool set in the page are there again after a kernel restart.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 3840, 2160
PAINTER = ".giw-test-painter"


def painter_cell(**options: Any) -> str:
    args = "".join(f", {key}={value!r}" for key, value in options.items())
    return (
        f"painter = giw.MaskPainter(smooth_image({WIDTH}, {HEIGHT}), max_display=768{args})\n"
        f"painter.add_class('{PAINTER[1:]}')\n"
        "painter"
    )


def page_to_image(
    driver: Any, page_point: tuple[int, int], view: dict[str, float]
) -> tuple[float, float]:
    """A page point -> full-resolution coordinates through a zoomed view, by hand: page ->
    canvas pixels (as ipycanvas reports them), then ``left + x / zoom - 0.5``."""
    (dw, dh), box = driver.display_size, driver.box
    x = dw * (page_point[0] - box["x"]) / box["width"]
    y = dh * (page_point[1] - box["y"]) / box["height"]
    return view["left"] + x / view["zoom"] - 0.5, view["top"] + y / view["zoom"] - 0.5


def display_to_page(driver: Any, point: tuple[float, float]) -> tuple[int, int]:
    (dw, dh), box = driver.display_size, driver.box
    return (
        round(box["x"] + point[0] * box["width"] / dw),
        round(box["y"] + point[1] * box["height"] / dh),
    )


def mouse_stroke(page: Any, widget_kit: Any, page_points: list[tuple[int, int]]) -> None:
    """Press, move through `page_points` (8 steps each, a frame between) and release."""
    mouse = page.mouse
    mouse.move(*page_points[0])
    widget_kit.next_frame(page)
    mouse.down()
    for point in page_points[1:]:
        mouse.move(*point, steps=8)
        widget_kit.next_frame(page)
    mouse.up()


def smooth_image(width: int, height: int) -> np.ndarray:
    """The kernel helper's test image (``KERNEL_HELPERS``), computed here."""
    yy, xx = np.mgrid[0:height, 0:width]
    red = xx * 255 // max(1, width - 1)
    green = yy * 255 // max(1, height - 1)
    return np.stack([red, green, np.full_like(xx, 128)], -1).astype(np.uint8)


VIEW = "{'zoom': painter.zoom, 'left': painter.view.left, 'top': painter.view.top}"


@pytest.mark.parametrize("ui", ["lab", "notebook7"])
def test_a_stroke_at_4x_zoom_lands_at_the_right_full_resolution_pixels(
    open_notebook: Any, page: Any, wait_until: Any, widget_kit: Any, ui: str
) -> None:
    probe = open_notebook(
        f"zoom_{ui}.ipynb",
        [
            widget_kit.KERNEL_HELPERS,
            painter_cell(brush_size=24, remember_settings=False),
        ],
        ui=ui,
    )
    driver = widget_kit.CanvasDriver(page, PAINTER, (WIDTH, HEIGHT))
    driver.measure()
    assert probe.eval("painter.display_size") == [768, 432]
    assert probe.eval("painter.zoom") == 0.2

    # the wheel over the canvas zooms (the ink layer's wheel, about the pointer), and only
    # zooms: the page does not scroll, so the canvas stays under the pointer
    mouse = page.mouse
    mouse.move(*display_to_page(driver, (384, 216)))
    widget_kit.next_frame(page)
    mouse.wheel(0, -300)
    wait_until(lambda: probe.eval("painter.zoom") > 0.2, timeout=30, what="wheel zoom")
    widget_kit.next_frame(page)
    assert driver.canvas.bounding_box() == driver.box, "the wheel scrolled the page"

    # 1:1, then four steps in: 1.41, 2, 2.83, 4
    widget_kit.click_button(page, PAINTER, "1:1")
    wait_until(lambda: probe.eval("painter.zoom") == 1.0, timeout=30, what="zoom 1:1")
    for _ in range(4):
        before = probe.eval("painter.zoom")
        page.locator(f"{PAINTER} button", has_text="+").first.click()
        wait_until(lambda b=before: probe.eval("painter.zoom") > b, timeout=30, what="zoom in")
    assert probe.eval("painter.zoom") == 4.0

    # space + drag pans: the image follows the pointer by (-120, -80) canvas px
    before = probe.eval(VIEW)
    driver.canvas.focus()
    page.keyboard.down(" ")
    mouse.move(*display_to_page(driver, (500, 300)))
    mouse.down()
    mouse.move(*display_to_page(driver, (380, 220)), steps=6)
    mouse.up()
    page.keyboard.up(" ")
    wait_until(lambda: probe.eval(VIEW) != before, timeout=30, what="the pan")

    # the image layer in the page shows the visible crop, each image pixel as a 4x4 block:
    # canvas pixel (x, y) shows image pixel floor(left + (x + 0.5) / 4), floor(top + ...).
    # The pan may reach the kernel in several batches: compare with the view shown now, and
    # only a view that stayed the same while the page's pixels were read.
    image_id = probe.eval("painter.layers[0].model_id")
    image = smooth_image(WIDTH, HEIGHT)

    def crop_shown() -> dict[str, float] | None:
        view = probe.eval(VIEW)
        xs = np.floor(view["left"] + (np.arange(768) + 0.5) / 4).astype(int)
        ys = np.floor(view["top"] + (np.arange(432) + 0.5) / 4).astype(int)
        pixels = widget_kit.layer_pixels(page, image_id)[..., :3]
        shown = (pixels == image[ys[:, None], xs[None, :]]).all(-1).mean() > 0.999
        return view if shown and probe.eval(VIEW) == view else None

    view = wait_until(crop_shown, timeout=30, what="the 4x crop on the image layer")
    assert view["zoom"] == 4.0
    assert view["left"] > before["left"] and view["top"] > before["top"]
    assert probe.eval("len(painter.document.ops)") == 0  # panning painted nothing

    # a stroke with the real mouse, in canvas pixels
    display_points = [(100, 100), (400, 300), (650, 120)]
    page_points = [display_to_page(driver, p) for p in display_points]
    mouse_stroke(page, widget_kit, page_points)
    wait_until(lambda: probe.eval("painter.mask_version") >= 1, timeout=30, what="the stroke")

    expected = [page_to_image(driver, p, view) for p in page_points]
    points = repr([(round(x, 3), round(y, 3)) for x, y in expected])
    report = probe.eval(f"mask_report(painter.mask, [Stroke({points}, 12.0)])")
    assert report["wrong_outside_band"] == 0, report
    assert report["wrong"] <= 0.25 * report["band"], report
    assert report["got"] > 0.9 * report["expected"] > 0, report
    # every painted pixel is inside the part of the image the canvas showed
    bounds = probe.eval("[int(v) for v in np.argwhere(painter.mask).min(0).tolist()]")
    far = probe.eval("[int(v) for v in np.argwhere(painter.mask).max(0).tolist()]")
    assert view["top"] - 12 <= bounds[0] and far[0] <= view["top"] + 108 + 12
    assert view["left"] - 12 <= bounds[1] and far[1] <= view["left"] + 192 + 12
    assert probe.eval("painter.mask.shape") == [HEIGHT, WIDTH]

    # the keyboard shortcuts reach the painter from the ink layer (focused by the stroke):
    # "-" steps out about the pointer, "0" fits
    page.keyboard.press("-")
    wait_until(lambda: probe.eval("painter.zoom") < 4.0, timeout=30, what="the '-' key")
    page.keyboard.press("0")
    wait_until(lambda: probe.eval("painter.view.is_fit"), timeout=30, what="the '0' key")


def test_a_stroke_drawn_while_a_cell_zooms_lands_where_it_was_drawn(
    open_notebook: Any, page: Any, wait_until: Any, widget_kit: Any
) -> None:
    """The page draws at Fit while the kernel runs a cell that zooms: the stroke (queued
    behind the cell) maps through the view it was drawn in, not the new one."""
    probe = open_notebook(
        "zoom_busy.ipynb",
        [widget_kit.KERNEL_HELPERS, painter_cell(brush_size=24, remember_settings=False)],
    )
    driver = widget_kit.CanvasDriver(page, PAINTER, (WIDTH, HEIGHT))
    driver.measure()
    fit = probe.eval(VIEW)
    assert fit["zoom"] == 0.2
    # not waited for: the page's messages queue behind it
    probe.client.execute("import time; time.sleep(4); painter.zoom_to(2.0, center=(1000.0, 600.0))")
    page_points = [display_to_page(driver, p) for p in [(100, 100), (400, 300), (650, 120)]]
    mouse_stroke(page, widget_kit, page_points)
    wait_until(lambda: probe.eval("painter.mask_version") >= 1, timeout=60, what="the stroke")
    assert probe.eval("painter.zoom") == 2.0

    expected = [page_to_image(driver, p, fit) for p in page_points]
    points = repr([(round(x, 3), round(y, 3)) for x, y in expected])
    report = probe.eval(f"mask_report(painter.mask, [Stroke({points}, 12.0)])")
    assert report["wrong_outside_band"] == 0, report
    assert report["got"] > 0.9 * report["expected"] > 0, report


def bigger_brush(size: int, presses: int, largest: int) -> int:
    """The brush size after ``presses`` of "]" (each adds 15%, at least 1 px)."""
    for _ in range(presses):
        size = min(size + max(1, round(size * 0.15)), largest)
    return size


@pytest.mark.parametrize("ui", ["lab", "notebook7"])
def test_brush_size_and_tool_persist_across_a_kernel_restart(
    open_notebook: Any, page: Any, wait_until: Any, widget_kit: Any, ui: str
) -> None:
    probe = open_notebook(
        f"settings_{ui}.ipynb", [widget_kit.KERNEL_HELPERS, painter_cell()], ui=ui
    )
    driver = widget_kit.CanvasDriver(page, PAINTER, (WIDTH, HEIGHT))
    driver.measure()
    start, largest, tool = probe.eval(
        "[painter.brush_size, painter.size_slider.max, painter.tool_buttons.value]"
    )
    size = bigger_brush(start, 5, largest)
    label, value = ("Lasso", "lasso") if tool == "rect" else ("Rectangle", "rect")

    driver.canvas.focus()
    for _ in range(5):  # "]": a bigger brush, from the page's keyboard
        page.keyboard.press("]")
    wait_until(lambda: probe.eval("painter.brush_size") == size, timeout=30, what="the brush")
    widget_kit.click_button(page, PAINTER, label)
    wait_until(lambda: probe.eval("painter.tool_buttons.value") == value, timeout=30, what=label)
    saved = probe.eval("_j.loads(giw.MaskPainter.settings_path().read_text())")
    assert (saved["brush_size"], saved["tool"]) == (size, value)
    old_pid = probe.eval("__import__('os').getpid()")

    page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.restart()"
    )
    wait_until(
        lambda: probe.eval("__import__('os').getpid()") != old_pid,
        timeout=90,
        what="the restarted kernel",
    )
    assert probe.eval("'painter' in globals()") is False
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    wait_until(lambda: probe.eval("painter.brush_size") == size, timeout=90, what="new painter")
    assert probe.eval("painter.tool_buttons.value") == value

    # and the page shows them: the brush slider's readout, the pressed tool button
    readout = page.locator(f"{PAINTER} .widget-readout").first
    wait_until(lambda: readout.inner_text().strip() == str(size), timeout=30, what="readout")
    active = page.locator(f"{PAINTER} .widget-toggle-buttons button.mod-active")
    wait_until(lambda: active.first.inner_text().strip() == label, timeout=30, what="tool")
