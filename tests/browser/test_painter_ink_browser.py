"""The painter's local ink layer in a real browser: ink at once, even while a cell runs.

Trusted input (Playwright's mouse and keyboard) on the ink layer stacked over the painter's
MultiCanvas. The tests check behaviour, never timing: a stroke drawn while the kernel sleeps
is on the ink layer (and the "pending" note shows) before the kernel has answered, and it is
in the full-resolution mask afterwards; shift-click draws a straight line; undo/redo after
local ink give exactly the masks (and overlay pixels) Python computes, with no ink left over;
pen pressure (CDP pen events) scales the brush; without the ink front end, ipycanvas paints.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest
from test_painter_browser import HEIGHT, PAINTER, WIDTH, op_source, painter_cells

pytestmark = pytest.mark.browser

SLEEP_S = 12  # long enough that nothing below can race the end of the cell

_INK_PIXELS_JS = """
(selector) => {
  const canvas = document.querySelector(`${selector} .giw-ink canvas`);
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let text = '';
  for (let i = 0; i < data.length; i += 32768) {
    text += String.fromCharCode.apply(null, data.subarray(i, i + 32768));
  }
  return [canvas.width, canvas.height, btoa(text)];
}
"""


def ink_pixels(page: Any) -> np.ndarray:
    """The ink layer's RGBA pixels, (h, w, 4) uint8."""
    width, height, data = page.evaluate(_INK_PIXELS_JS, PAINTER)
    return np.frombuffer(base64.b64decode(data), dtype=np.uint8).reshape(height, width, 4)


def pending_note(page: Any) -> str:
    note = page.locator(f"{PAINTER} .giw-ink-note")
    return note.inner_text() if note.is_visible() else ""


def display_point(point: tuple[float, float]) -> tuple[int, int]:
    """Image coordinates -> the display pixel (768x512 canvas, scale 2) containing them."""
    return int((point[0] + 0.5) / 2), int((point[1] + 0.5) / 2)


class Ink:
    """One painter opened in a notebook, with its kernel probe and mouse driver."""

    def __init__(
        self, open_notebook: Any, page: Any, kit: Any, wait_until: Any, ui: str, setup: str = ""
    ) -> None:
        cells = painter_cells(kit)
        cells[1] = cells[1].replace("painter.add_class", f"{setup}\npainter.add_class")
        self.probe = open_notebook(f"ink_{ui}.ipynb", cells, ui=ui)
        self.page, self.kit, self.wait_until = page, kit, wait_until
        self.driver = kit.CanvasDriver(page, PAINTER, (WIDTH, HEIGHT))
        wait_until(
            lambda: self.probe.eval("len(painter._ink_input.sessions)") >= 1,
            timeout=60,
            what="the ink layer's ready message",
        )
        self.driver.measure()
        self.radius = self.probe.eval("painter.brush_size") / 2
        self.version = 0

    def wait_version(self, version: int) -> None:
        self.version = version
        self.wait_until(
            lambda: self.probe.eval("painter.mask_version") >= version,
            timeout=60,
            what=f"mask_version {version}",
        )

    def mask_digest(self) -> str:
        return str(
            self.probe.eval("__import__('hashlib').sha1(painter.mask.tobytes()).hexdigest()")
        )

    def report(self, ops: list[str]) -> dict[str, int]:
        report: dict[str, int] = self.probe.eval(f"mask_report(painter.mask, [{', '.join(ops)}])")
        assert report["wrong_outside_band"] == 0, report
        assert report["wrong"] <= 0.25 * report["band"], report
        return report

    def start_busy_cell(self, flag: Any) -> str:
        """Run ``time.sleep`` in the kernel (a cell of the probe's client); wait until it runs."""
        code = (
            f"import pathlib, time\npathlib.Path({str(flag)!r}).write_text('1')\n"
            f"time.sleep({SLEEP_S})"
        )
        msg_id = str(self.probe.client.execute(code, store_history=False))
        self.wait_until(flag.exists, timeout=30, what="the sleeping cell to start")
        return msg_id

    def wait_cell_end(self, msg_id: str) -> None:
        while True:
            reply = self.probe.client.get_shell_msg(timeout=SLEEP_S + 60)
            if reply["parent_header"].get("msg_id") == msg_id:
                return

    def leave(self) -> None:
        """Move the pointer off the canvas (the brush cursor is drawn on the ink layer)."""
        self.page.mouse.move(5, 5)
        self.kit.next_frame(self.page)

    def ink_is_empty(self) -> bool:
        return not ink_pixels(self.page)[:, :, 3].any()

    def overlay_matches_document(self) -> bool:
        """The overlay layer shows Python's mask: BOX coverage x opacity, the mask colour."""
        overlay = self.kit.layer_pixels(self.page, self.probe.eval("painter.layers[1].model_id"))
        coverage = np.frombuffer(
            base64.b64decode(self.probe.eval("display_coverage_b64(painter)")), dtype=np.uint8
        ).reshape(overlay.shape[:2])
        alpha = np.round(coverage.astype(np.float32) * 0.5).astype(np.uint8)
        return bool(np.array_equal(overlay[:, :, 3], alpha))


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_a_stroke_drawn_while_a_cell_runs_shows_at_once_and_enters_the_mask(
    open_notebook: Any,
    page: Any,
    wait_until: Any,
    widget_kit: Any,
    jupyter_server: Any,
    ui: str,
) -> None:
    ink = Ink(open_notebook, page, widget_kit, wait_until, ui)
    msg_id = ink.start_busy_cell(jupyter_server.root / f"busy_{ui}.flag")
    stroke = ink.driver.drag([(200, 300), (800, 300), (800, 700)])
    ink.leave()
    # while the kernel sleeps: the stroke is on the ink layer and waits, announced
    shown = ink_pixels(page)
    for point in [stroke[0], stroke[1], stroke[-1]]:
        x, y = display_point(point)
        assert shown[y, x, 3] > 0, (point, shown[y, x])
    wait_until(lambda: "1 stroke pending" in pending_note(page), timeout=10, what="the note")
    assert not ink.probe.client.shell_channel.msg_ready(), "the cell ended too early"

    ink.wait_cell_end(msg_id)
    ink.wait_version(1)
    ink.report([op_source("Stroke", stroke, radius=ink.radius)])
    wait_until(ink.ink_is_empty, timeout=30, what="the confirmed ink to leave the ink layer")
    wait_until(lambda: pending_note(page) == "", timeout=10, what="the note to go")


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_shift_click_draws_a_straight_line_from_the_last_point(
    open_notebook: Any, page: Any, wait_until: Any, widget_kit: Any, ui: str
) -> None:
    ink = Ink(open_notebook, page, widget_kit, wait_until, ui)
    start = ink.driver.drag([(300, 300)])  # a click: a disc
    ink.wait_version(1)
    end_page = ink.driver.to_page((1200, 800))
    page.keyboard.down("Shift")
    page.mouse.click(*end_page)
    page.keyboard.up("Shift")
    ink.wait_version(2)
    end = ink.driver.to_image(end_page)
    ops = [
        op_source("Stroke", start, radius=ink.radius),
        op_source("Stroke", [start[0], end], radius=ink.radius),
    ]
    ink.report(ops)
    middle = ((start[0][0] + end[0]) / 2, (start[0][1] + end[1]) / 2)
    assert ink.probe.eval(f"bool(painter.mask[{round(middle[1])}, {round(middle[0])}])")


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_undo_redo_after_local_ink_give_exactly_pythons_masks(
    open_notebook: Any,
    page: Any,
    wait_until: Any,
    widget_kit: Any,
    jupyter_server: Any,
    ui: str,
) -> None:
    ink = Ink(open_notebook, page, widget_kit, wait_until, ui)
    ink.driver.drag([(200, 200), (900, 250)])
    ink.wait_version(1)
    first = ink.mask_digest()
    ink.driver.drag([(300, 600), (1200, 500), (1300, 900)])
    ink.wait_version(2)
    second = ink.mask_digest()

    page.keyboard.press("Control+z")
    ink.wait_version(3)
    assert ink.mask_digest() == first
    page.keyboard.press("Control+Shift+z")
    ink.wait_version(4)
    assert ink.mask_digest() == second
    ink.leave()
    wait_until(ink.overlay_matches_document, timeout=30, what="the overlay after redo")
    assert ink.ink_is_empty()

    # a stroke and an undo sent while a cell runs: applied in order (queued behind the cell,
    # or, with JupyterLab's comms over subshells, handled on the widgets' subshell meanwhile)
    msg_id = ink.start_busy_cell(jupyter_server.root / f"busy_undo_{ui}.flag")
    ink.driver.drag([(400, 100), (400, 900)])
    page.keyboard.press("Control+z")
    ink.wait_cell_end(msg_id)
    ink.wait_version(6)
    assert ink.probe.eval("len(painter.document.ops)") == 2
    assert ink.mask_digest() == second
    ink.leave()
    wait_until(ink.overlay_matches_document, timeout=30, what="the overlay after the queue")
    wait_until(ink.ink_is_empty, timeout=30, what="no ink left over")


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_a_tool_key_switches_the_tool_in_the_page_even_while_a_cell_runs(
    open_notebook: Any,
    page: Any,
    wait_until: Any,
    widget_kit: Any,
    jupyter_server: Any,
    ui: str,
) -> None:
    """The page maps keys to tools with the layer's synced ``tool_keys`` (from Python)."""
    ink = Ink(open_notebook, page, widget_kit, wait_until, ui)
    dot = ink.driver.drag([(300, 300)])  # also focuses the ink layer (it takes the keys)
    ink.wait_version(1)
    msg_id = ink.start_busy_cell(jupyter_server.root / f"busy_keys_{ui}.flag")
    page.keyboard.press("r")  # the next stroke is a rectangle although the kernel is busy
    corners = ink.driver.drag([(600, 200), (1000, 600)])
    ink.wait_cell_end(msg_id)
    ink.wait_version(2)
    assert ink.probe.eval("painter.tool_buttons.value") == "rect"
    (x0, y0), (x1, y1) = corners
    ink.report([op_source("Stroke", dot, radius=ink.radius), f"Rect({x0}, {y0}, {x1}, {y1})"])
    page.keyboard.press("Shift+E")  # upper case too
    wait_until(
        lambda: ink.probe.eval("painter.tool_buttons.value") == "eraser",
        timeout=30,
        what="the eraser",
    )


def test_without_the_ink_front_end_the_ipycanvas_mouse_events_paint_and_say_so(
    open_notebook: Any, page: Any, wait_until: Any, widget_kit: Any
) -> None:
    broken = "painter.ink._esm = 'export default { render() { throw new Error(\"no ink\"); } };'"
    cells = painter_cells(widget_kit)
    cells[1] = cells[1].replace("painter.add_class", f"{broken}\npainter.add_class")
    probe = open_notebook("ink_broken.ipynb", cells)
    driver = widget_kit.CanvasDriver(page, PAINTER, (WIDTH, HEIGHT))
    driver.measure()
    radius = probe.eval("painter.brush_size") / 2
    stroke = driver.drag([(200, 300), (800, 300), (800, 700)])
    wait_until(lambda: probe.eval("painter.mask_version") >= 1, timeout=60, what="the stroke")
    report = probe.eval(
        f"mask_report(painter.mask, [{op_source('Stroke', stroke, radius=radius)}])"
    )
    assert report["wrong_outside_band"] == 0, report
    notice = page.locator(PAINTER, has_text="did not load")
    wait_until(notice.is_visible, timeout=30, what="the fallback notice")


def test_pen_pressure_scales_the_brush_when_turned_on(
    open_notebook: Any, page: Any, wait_until: Any, widget_kit: Any
) -> None:
    setup = "painter.pen_pressure = True"  # before the page shows it
    ink = Ink(open_notebook, page, widget_kit, wait_until, "lab", setup)
    assert ink.probe.eval("painter.ink.pen_pressure")
    cdp = page.context.new_cdp_session(page)
    path = [(200, 300), (500, 300), (800, 300), (1100, 300)]
    forces = [1.0, 1.0, 0.25, 0.25]
    page_points = [ink.driver.to_page(p) for p in path]

    def pen(kind: str, point: tuple[int, int], force: float) -> None:
        cdp.send(
            "Input.dispatchMouseEvent",
            {
                "type": kind,
                "x": point[0],
                "y": point[1],
                "button": "left",
                "buttons": 0 if kind == "mouseReleased" else 1,
                "clickCount": 1,
                "pointerType": "pen",
                "force": force,
            },
        )

    pen("mousePressed", page_points[0], forces[0])
    for point, force in zip(page_points[1:], forces[1:], strict=True):
        pen("mouseMoved", point, force)
        widget_kit.next_frame(page)
    pen("mouseReleased", page_points[-1], forces[-1])
    ink.wait_version(2)  # one Stroke per pressure level run
    radii = ink.probe.eval("[op.radius for op in painter.document.ops]")
    assert radii == [ink.radius, ink.radius * 0.25]
