"""ImageStudio end to end in a real browser: paint, Generate (the real button), see the result.

The backend is the offline server in the notebook's kernel. Its edits change only the
masked pixels (alpha 0 in the mask PNG) and leave the rest byte-identical, so the kernel can
check that the mask painted in the browser is the one that was applied.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 1536, 1024
PAINTER = ".giw-test-painter"
STUDIO = ".giw-studio"


def studio_cell(latency: float) -> str:
    return f"""
import tempfile
server = giw.OfflineServer(latency={latency})
server.start()
client = giw.AsyncImageClient(
    base_url=server.base_url, api_key="sk-test-FAKE", history=tempfile.mkdtemp()
)
studio = giw.ImageStudio(client)
image = smooth_image({WIDTH}, {HEIGHT})
studio.add_reference(image)
studio.prompt = "a red balloon where the mask is"
studio.painter.add_class("{PAINTER[1:]}")


def edit_report(mask):
    out = studio.images[0]
    inside, outside = out[mask][:, :3], out[~mask][:, :3]
    return {{
        "type": type(out).__name__,
        "shape": list(out.shape),
        "dtype": str(out.dtype),
        "outside_identical": bool((outside == image[~mask]).all()),
        "inside_changed": float((inside != image[mask]).any(axis=-1).mean()),
    }}


def stroke_mask(points, radius):
    return rasterize_ops({WIDTH}, {HEIGHT}, [Stroke(points, radius)])


studio
"""


def generate_button(page: Any) -> Any:
    """The studio's action button (not the "Generate" operation toggle)."""
    return page.locator(f"{STUDIO} button.widget-button.mod-primary", has_text="Generate").first


def paint(probe: Any, page: Any, kit: Any, wait_until: Any, points: list[Any]) -> str:
    """Drag a brush stroke; wait for the kernel's mask; return the stroke as Python source."""
    version = probe.eval("studio.painter.mask_version")
    driver = kit.CanvasDriver(page, PAINTER, (WIDTH, HEIGHT))
    driver.measure()
    received = driver.drag(points)
    wait_until(
        lambda: probe.eval("studio.painter.mask_version") > version,
        timeout=30,
        what="the stroke in the kernel's mask",
    )
    radius = probe.eval("studio.painter.brush_size") / 2
    return f"{[(round(x, 3), round(y, 3)) for x, y in received]!r}, {radius!r}"


def gallery_thumbnails(page: Any) -> int:
    """How many loaded images the gallery shows (thumbnails and the enlarged preview)."""
    count: int = page.evaluate(
        f"""() => [...document.querySelectorAll('{STUDIO} .giw-gallery img')]
              .filter((img) => img.checkVisibility() && img.naturalWidth > 0).length"""
    )
    return count


@pytest.mark.parametrize("ui", ["lab", "notebook7"])
def test_paint_generate_edit_and_see_the_result(
    open_notebook: Any, page: Any, wait_until: Any, widget_kit: Any, ui: str
) -> None:
    probe = open_notebook(
        f"studio_{ui}.ipynb", [widget_kit.KERNEL_HELPERS, studio_cell(0.0)], ui=ui
    )
    stroke = paint(probe, page, widget_kit, wait_until, [(300, 300), (900, 500), (1100, 800)])
    report = probe.eval(f"mask_report(studio.painter.mask, [Stroke({stroke})])")
    assert report["wrong_outside_band"] == 0 and report["got"] > 0, report
    assert probe.eval("studio.effective_operation") == "edit"
    assert gallery_thumbnails(page) == 0

    generate_button(page).click()
    wait_until(lambda: gallery_thumbnails(page) > 0, timeout=60, what="a gallery thumbnail")
    assert probe.eval("len(studio.history)") == 1
    assert probe.eval("studio.result.operation") == "edit"
    result = probe.eval("edit_report(studio.painter.mask)")
    assert result["type"] == "ndarray" and result["dtype"] == "uint8", result
    assert result["shape"][:2] == [HEIGHT, WIDTH], result
    assert result["outside_identical"] is True, result
    assert result["inside_changed"] > 0.95, result
    assert probe.eval("server.requests[-1].path").endswith("/images/edits")


def test_painting_and_cells_run_while_a_slow_generation_is_in_flight(
    open_notebook: Any, page: Any, wait_until: Any, widget_kit: Any
) -> None:
    probe = open_notebook("studio_busy.ipynb", [widget_kit.KERNEL_HELPERS, studio_cell(5.0)])
    before = paint(probe, page, widget_kit, wait_until, [(200, 200), (600, 200)])

    generate_button(page).click()
    wait_until(lambda: probe.eval("studio.running"), timeout=20, what="the generation to start")
    paint(probe, page, widget_kit, wait_until, [(300, 700), (1200, 700)])
    # the new stroke is in the kernel's mask while the request is still in flight
    state = probe.eval(
        "[bool(studio.painter.mask[700, 700]), studio.task is not None and not studio.task.done()]"
    )
    assert state == [True, True]
    assert probe.eval("1 + 1") == 2  # another cell runs while the request is pending
    assert probe.eval("studio.running") is True
    assert generate_button(page).is_disabled()

    wait_until(lambda: probe.eval("len(studio.history)") == 1, timeout=60, what="the result")
    assert probe.eval("studio.task is None") is True
    # the request carried the mask of the moment Generate was pressed, not the later stroke
    sent = probe.eval(f"edit_report(stroke_mask({before}))")
    assert sent["outside_identical"] is True and sent["inside_changed"] > 0.95, sent
    wait_until(lambda: generate_button(page).is_enabled(), what="Generate enabled again")
