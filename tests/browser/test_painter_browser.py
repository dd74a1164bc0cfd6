"""The mask painter in a real browser: mouse strokes on a downscaled canvas -> full-res mask.

The image is 1536x1024 shown on a 768x512 canvas (which the page stretches further with
CSS). Every drag goes through Chromium's real mouse events; the expected mask is rasterized
in the kernel from the same image-space points (after rounding to whole page pixels) and
compared pixel by pixel: mismatches are allowed only within 3 px of the expected edges.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 1536, 1024
PAINTER = ".giw-test-painter"


def painter_cells(kit: Any) -> list[str]:
    return [
        kit.KERNEL_HELPERS,
        f"image = smooth_image({WIDTH}, {HEIGHT})\n"
        "painter = giw.MaskPainter(image, max_display=768)\n"
        f"painter.add_class('{PAINTER[1:]}')\n"
        "painter",
    ]


def op_source(kind: str, points: list[tuple[float, float]], **extra: Any) -> str:
    """Python source of a maskops op, e.g. ``Stroke([(1.0, 2.0), ...], 24.0, erase=True)``."""
    args = [repr([(round(x, 3), round(y, 3)) for x, y in points])]
    args += [f"{key}={value!r}" for key, value in extra.items()]
    return f"{kind}({', '.join(args)})"


class PainterSession:
    """Drives one painter: tools and buttons through the page, checks through the probe."""

    def __init__(self, probe: Any, page: Any, kit: Any, wait_until: Any) -> None:
        self.probe, self.page, self.kit, self.wait_until = probe, page, kit, wait_until
        self.driver = kit.CanvasDriver(page, PAINTER, (WIDTH, HEIGHT))
        self.ops: list[str] = []
        self.version = probe.eval("painter.mask_version")

    def choose_tool(self, label: str, value: str) -> None:
        self.kit.click_button(self.page, PAINTER, label)
        self.wait_until(
            lambda: self.probe.eval("painter.tool_buttons.value") == value,
            timeout=20,
            what=f"tool {value} in the kernel",
        )

    def drag(self, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        self.driver.measure()
        return self.driver.drag(points)

    def press(self, label: str) -> None:
        self.kit.click_button(self.page, PAINTER, label)

    def expect_change(self, op: str | None) -> dict[str, int]:
        """Wait for the kernel's next mask change; compare with the expected ops."""
        if op is not None:
            self.ops.append(op)
        self.version += 1
        self.wait_until(
            lambda: self.probe.eval("painter.mask_version") >= self.version,
            timeout=30,
            what=f"mask_version {self.version} in the kernel",
        )
        report: dict[str, int] = self.probe.eval(
            f"mask_report(painter.mask, [{', '.join(self.ops)}])"
        )
        assert report["wrong_outside_band"] == 0, report
        assert report["wrong"] <= 0.25 * report["band"], report
        return report


def test_strokes_eraser_undo_lasso_invert_match_the_full_resolution_mask(
    open_notebook: Any, page: Any, wait_until: Any, widget_kit: Any
) -> None:
    probe = open_notebook("painter.ipynb", painter_cells(widget_kit))
    session = PainterSession(probe, page, widget_kit, wait_until)
    assert probe.eval("painter.display_size") == [768, 512]
    radius = probe.eval("painter.brush_size") / 2

    stroke = session.drag([(150, 250), (700, 250), (700, 600)])
    brush = session.expect_change(op_source("Stroke", stroke, radius=radius))
    assert brush["got"] > 0.9 * brush["expected"] > 0

    session.choose_tool("Eraser", "eraser")
    erased = session.drag([(420, 120), (420, 420)])
    after_erase = session.expect_change(op_source("Stroke", erased, radius=radius, erase=True))
    assert after_erase["got"] < brush["got"]

    session.press("Undo")
    session.ops.pop()
    after_undo = session.expect_change(None)
    assert after_undo["got"] == brush["got"]

    session.choose_tool("Lasso", "lasso")
    lasso = session.drag([(900, 150), (1400, 200), (1300, 800), (1000, 700)])
    with_lasso = session.expect_change(op_source("Lasso", lasso))
    assert with_lasso["got"] > after_undo["got"]

    session.press("Invert")
    inverted = session.expect_change("Invert()")
    assert inverted["got"] == WIDTH * HEIGHT - with_lasso["got"]
