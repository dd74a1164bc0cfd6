"""Reloading the page: the painter redraws its image and mask from the kernel.

What JupyterLab does (4.x, ipywidgets 8): a reload reopens the notebook *from disk*, so the
widget output must have been saved (autosave, Ctrl+S); a notebook that was never saved after
running comes back without outputs (the kernel and its widgets live on, but nothing shows
them until a cell displays them again). A saved output holds only the widget's model id;
the widget manager then fetches every live model from the kernel, re-creates the views, and
ipycanvas reports "client ready", on which the painter redraws all layers. Pixels are read
from each layer's own canvas in the page (ipycanvas composites the layers into one
``<canvas>`` element; the layers live on their models).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 1536, 1024
PAINTER = ".giw-test-painter"
NOTEBOOK = "reload.ipynb"
DISPLAY_W, DISPLAY_H = 768, 512


def saved_widget_outputs(root: Any) -> int:
    """How many widget views the notebook file on disk holds."""
    notebook = json.loads((root / NOTEBOOK).read_text())
    return sum(
        "application/vnd.jupyter.widget-view+json" in output.get("data", {})
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
    )


def from_b64(text: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.uint8).reshape(shape)


def test_painter_redraws_image_and_mask_after_a_page_reload(
    open_notebook: Any, page: Any, wait_until: Any, widget_kit: Any, jupyter_server: Any
) -> None:
    probe = open_notebook(
        NOTEBOOK,
        [
            widget_kit.KERNEL_HELPERS,
            f"painter = giw.MaskPainter(smooth_image({WIDTH}, {HEIGHT}), max_display=768)\n"
            f"painter.add_class('{PAINTER[1:]}')\n"
            "painter",
        ],
    )
    driver = widget_kit.CanvasDriver(page, PAINTER, (WIDTH, HEIGHT))
    driver.measure()
    stroke = driver.drag([(200, 200), (1000, 600), (1300, 300)])
    wait_until(lambda: probe.eval("painter.mask_version") == 1, timeout=30, what="the stroke")
    radius = probe.eval("painter.brush_size") / 2
    ops = f"[Stroke({[(round(x, 3), round(y, 3)) for x, y in stroke]!r}, {radius!r})]"
    painted = probe.eval("int(painter.mask.sum())")
    image_id, overlay_id = probe.eval("[layer.model_id for layer in painter.layers[:2]]")

    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    wait_until(lambda: saved_widget_outputs(jupyter_server.root) == 1, what="the saved output")
    page.reload()

    page.locator(f"{PAINTER} canvas").first.wait_for(timeout=60_000)
    wait_until(
        lambda: (widget_kit.layer_pixels(page, image_id)[..., 3] == 255).all(),
        timeout=30,
        what="the image layer redrawn",
    )

    def inked_overlay() -> tuple[np.ndarray] | None:
        pixels = widget_kit.layer_pixels(page, overlay_id)
        return (pixels,) if pixels[..., 3].any() else None

    (overlay,) = wait_until(inked_overlay, timeout=30, what="the mask overlay redrawn")

    shown = widget_kit.layer_pixels(page, image_id)[..., :3].astype(int)
    expected_image = from_b64(probe.eval("display_image_b64(painter)"), (DISPLAY_H, DISPLAY_W, 3))
    assert np.abs(shown - expected_image).max() <= 3

    coverage = from_b64(probe.eval("display_coverage_b64(painter)"), (DISPLAY_H, DISPLAY_W))
    inked = overlay[..., 3] > 0
    assert inked[coverage == 255].all()  # fully masked display pixels are inked
    assert not inked[coverage == 0].any()  # unmasked ones are clear
    assert inked.sum() >= (coverage == 255).sum() > 0

    assert probe.eval("int(painter.mask.sum())") == painted  # the kernel kept the mask
    report = probe.eval(f"mask_report(painter.mask, {ops})")
    assert report["wrong_outside_band"] == 0 and report["got"] == painted, report
