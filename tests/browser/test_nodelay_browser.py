"""The ``gptimage_widgets`` server extension (TCP_NODELAY on kernel websockets) in a browser.

A widget message round trip (JS ``model.send`` -> Python echo -> JS) works with the extension
on and with it off, in JupyterLab and in Notebook 7; the server log says whether it loaded.
Behaviour only: the timing lives in ``benchmarks/bench_widget_roundtrip.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

LOADED = "gptimage_widgets: TCP_NODELAY on for kernel websockets"
MESSAGES = 20


@pytest.fixture(scope="module", params=[True, False], ids=["extension-on", "extension-off"])
def switched_server(request: pytest.FixtureRequest, start_jupyter_server: Any) -> Any:
    """A JupyterLab server with the extension switched on or off (whatever is installed)."""
    server = start_jupyter_server(extensions={"gptimage_widgets": request.param})
    return server, request.param


@pytest.mark.browser
@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_widget_round_trip_with_extension_on_and_off(
    switched_server: Any, ui: str, page: Any, roundtrip_kit: Any
) -> None:
    server, enabled = switched_server
    kit = roundtrip_kit
    probe = kit.open_on(server, page, f"echo_{ui}.ipynb", [kit.ECHO_CELL], ui=ui)
    try:
        page.locator(".giw-echo").first.wait_for(timeout=60_000)
        echoed, times = kit.widget_round_trips(page, probe.eval("echo.model_id"), MESSAGES)
        assert probe.eval("echo.value") == "echo ready"
    finally:
        probe.close()
        server.close_sessions()
    assert echoed == list(range(MESSAGES)), f"echoes came back as {echoed}"
    assert len(times) == MESSAGES
    assert (LOADED in server.log_text()) is enabled
