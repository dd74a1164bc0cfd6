"""The quickstart notebook, as a newcomer runs it: JupyterLab, no key, the offline backend."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

QUICKSTART = Path(__file__).parents[2] / "notebooks" / "01_quickstart.ipynb"
SCREENSHOT = Path(os.environ.get("GIW_TEST_OUTPUT", "test-output")) / "quickstart-studio.png"


def test_quickstart_notebook_runs_in_jupyterlab(
    open_notebook: Any, page: Any, wait_until: Any
) -> None:
    page.set_viewport_size({"width": 1280, "height": 1900})  # room for the whole studio
    probe = open_notebook("01_quickstart.ipynb", source=QUICKSTART)
    wait_until(
        lambda: probe.eval("'foxes' in globals()"), timeout=120, what="the last cell to finish"
    )
    assert probe.eval("client.backend") == "offline"
    assert probe.eval("[list(image.shape) for image in studio.images]") == [[1024, 1024, 3]] * 2
    assert probe.eval("list(np.asarray(foxes).shape)") == [2, 1024, 1536, 3]
    # What a person sees: the studio's banner and the gallery thumbnails of its result.
    page.get_by_text("Offline backend", exact=False).first.wait_for(timeout=30_000)
    assert page.locator(".jp-OutputArea-output img").count() >= 2
    # An error in any cell would show its traceback in the page.
    assert page.locator(".jp-OutputArea-output", has_text="Traceback").count() == 0
    studio_output = page.locator(".jp-OutputArea-output", has=page.locator(".widget-button")).first
    studio_output.evaluate("element => element.scrollIntoView({block: 'start'})")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
