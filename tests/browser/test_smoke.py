"""The browser harness itself: a widget renders and a browser change reaches the kernel."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("ui", ["lab", "notebook7"])
def test_widget_change_in_browser_reaches_the_kernel(
    open_notebook: Any, page: Any, wait_until: Any, ui: str
) -> None:
    probe = open_notebook(
        f"smoke_{ui}.ipynb",
        ["import ipywidgets as w\ncheck = w.Checkbox(value=False, description='flip me')\ncheck"],
        ui=ui,
    )
    box = page.locator(".widget-checkbox input[type=checkbox]").first
    box.wait_for(timeout=60_000)
    assert probe.eval("check.value") is False
    box.click()
    wait_until(lambda: probe.eval("check.value") is True, timeout=30, what="checkbox in kernel")
