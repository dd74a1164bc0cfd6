"""Fixtures for real-browser tests: JupyterLab on 127.0.0.1 driven by Playwright + Chromium.

The browser is Debian's ``/usr/bin/chromium`` launched through Playwright's ``executable_path``
(no ``playwright install``); ``GIW_CHROMIUM=/path/to/chromium`` picks another one (and
``GIW_CHROMIUM=none`` pretends there is none). Before any fixture of a test marked ``browser``
starts a server, the hook :func:`pytest_runtest_setup` checks the three pieces: JupyterLab (and
Notebook 7) and Playwright, from the ``lab``/``browser`` extras, and Chromium. With only
``.[test]`` installed every browser test is skipped with one line naming what is missing; with
``GIW_REQUIRE_BROWSER=1`` (set by ``.ci/run``) they fail instead.

The servers are :class:`jupyter_servers.JupyterServer` (``tests/jupyter_servers.py``, shared
with ``tests/test_jupyter_nodelay.py``): the session's ``jupyter_server`` and, for other
options (the nodelay extension on/off), the module's ``start_jupyter_server``.

The tests assert on what the *kernel* received: :class:`KernelProbe` connects a second
``jupyter_client`` to the notebook's kernel (through its connection file) and evaluates
expressions there, while Playwright drives the page like a person would.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_servers import JupyterServer, wait_until

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
#: Python packages the browser tests import or run (``lab`` and ``browser`` extras).
BROWSER_MODULES = ("jupyterlab", "notebook", "playwright")
BROWSER_EXTRA = '(pip install -e ".[browser]")'
CHROMIUM_MISSING = "Chromium (apt-get install -y chromium, or GIW_CHROMIUM=/path/to/chromium)"
REQUIRE_BROWSER = os.environ.get("GIW_REQUIRE_BROWSER", "") not in ("", "0")
SCREENSHOT_DIR = Path(os.environ.get("GIW_TEST_OUTPUT", "test-output")) / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _unavailable(missing: str) -> None:
    """Skip with one line naming what is ``missing``; fail instead under ``GIW_REQUIRE_BROWSER``."""
    if REQUIRE_BROWSER:
        pytest.fail(f"browser tests required (GIW_REQUIRE_BROWSER=1), missing: {missing}")
    pytest.skip(f"browser tests skipped, missing: {missing}")


def find_chromium() -> str | None:
    """The Chromium executable: ``$GIW_CHROMIUM`` if set, else Debian's paths, else ``$PATH``.

    ``GIW_CHROMIUM=none`` (or any path that does not exist) means "no Chromium".
    """
    chosen = os.environ.get("GIW_CHROMIUM")
    if chosen is not None:
        return chosen if Path(chosen).is_file() else None
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def missing_pieces() -> list[str]:
    """What the browser tests need and this machine lacks, each with how to get it.

    JupyterLab and Notebook 7 must be importable by *this* interpreter (the server runs as
    ``sys.executable -m jupyterlab``); Playwright for Python drives the browser.
    """
    modules = [m for m in BROWSER_MODULES if importlib.util.find_spec(m) is None]
    missing = [f"{', '.join(modules)} {BROWSER_EXTRA}"] if modules else []
    if find_chromium() is None:
        missing.append(CHROMIUM_MISSING)
    return missing


def chromium_path() -> str:
    """The Chromium executable, or skip/fail when there is none."""
    found = find_chromium()
    if found is None:
        _unavailable(CHROMIUM_MISSING)
        raise AssertionError("unreachable")
    return found


class KernelProbe:
    """A second client on a notebook's kernel: evaluates Python there and returns the value."""

    def __init__(self, server: JupyterServer, notebook: str) -> None:
        from jupyter_client import BlockingKernelClient

        session = wait_until(
            lambda: next(
                (s for s in server.api("/api/sessions") if s["path"].endswith(notebook)), None
            ),
            timeout=60,
            what=f"a kernel session for {notebook}",
        )
        kernel_id = session["kernel"]["id"]
        connection_file = wait_until(
            lambda: next(server.runtime_dir.glob(f"kernel-{kernel_id}*.json"), None),
            timeout=30,
            what="the kernel connection file",
        )
        self.client = BlockingKernelClient(connection_file=str(connection_file))
        self.client.load_connection_file()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def eval(self, expression: str, timeout: float = 60) -> Any:
        """Evaluate ``expression`` in the kernel; return its JSON-decoded value."""
        code = f"import json as _j; print(_j.dumps({expression}))"
        reply = self.client.execute_interactive(
            code, timeout=timeout, output_hook=self._collect, store_history=False
        )
        output, self._output = getattr(self, "_output", ""), ""
        if reply["content"]["status"] != "ok":
            raise AssertionError(f"kernel error for {expression!r}: {reply['content']}")
        return json.loads(output.strip().splitlines()[-1])

    def _collect(self, message: dict[str, Any]) -> None:
        if message["msg_type"] == "stream" and message["content"]["name"] == "stdout":
            self._output = getattr(self, "_output", "") + message["content"]["text"]

    def close(self) -> None:
        self.client.stop_channels()


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip (or, with ``GIW_REQUIRE_BROWSER=1``, fail) a browser test when a piece is missing.

    Runs before the test's fixtures (even session-scoped ones) start JupyterLab or Chromium,
    so a machine with only ``.[test]`` installed gets one clear line instead of "JupyterLab
    exited with 1". Tests not marked ``browser`` (the harness's own checks) always run.
    """
    if item.get_closest_marker("browser") is None:
        return
    missing = missing_pieces()
    if missing:
        _unavailable(", ".join(missing))


@pytest.fixture
def browser_harness() -> Any:
    """This module, for the tests of the harness itself (``test_requirements.py``)."""
    return sys.modules[__name__]


@pytest.fixture(scope="session")
def chromium() -> str:
    return chromium_path()


@pytest.fixture(scope="session")
def jupyter_server(
    tmp_path_factory: pytest.TempPathFactory, chromium: str
) -> Iterator[JupyterServer]:
    """One JupyterLab server (also serving Notebook 7) for the whole session."""
    server = JupyterServer(tmp_path_factory.mktemp("jupyter")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def start_jupyter_server(
    tmp_path_factory: pytest.TempPathFactory, chromium: str
) -> Iterator[Callable[..., JupyterServer]]:
    """Start more servers, e.g. ``start_jupyter_server(extensions={...})`` (the options of
    :class:`JupyterServer`); all stop at the end of the module."""
    servers: list[JupyterServer] = []

    def _start(**options: Any) -> JupyterServer:
        servers.append(JupyterServer(tmp_path_factory.mktemp("jupyter"), **options))
        return servers[-1].start()

    yield _start
    for server in servers:
        server.stop()


# Module scope, not session: Playwright's sync API keeps an asyncio loop running on the main
# thread while it is open, which breaks every later pytest-asyncio test in the same session.
@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable(f"playwright {BROWSER_EXTRA}")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    yield page
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(SCREENSHOT_DIR / f"{request.node.name}.png"), full_page=False)
    finally:
        context.close()


def write_notebook(root: Path, name: str, cells: list[str]) -> str:
    """Write a code-only notebook into the server root; return its name."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, root / name)
    return name


def run_all_cells(page: Any) -> None:
    """Run every cell through JupyterLab's own command (the app is exposed in the page)."""
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.sessionContext"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.connectionStatus"
        " === 'connected'",
        timeout=90_000,
    )
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")


def open_on(
    server: JupyterServer,
    page: Any,
    name: str,
    cells: list[str] | None = None,
    *,
    ui: str = "lab",
    source: Path | None = None,
) -> KernelProbe:
    """Write ``cells`` as notebook ``name`` on ``server`` (or copy ``source`` there, as is),
    open it in ``page`` (``ui`` "lab" or "notebook" for Notebook 7), run it, and return a
    :class:`KernelProbe` on its kernel (the caller closes it)."""
    if source is not None:
        shutil.copy(source, server.root / name)
    else:
        write_notebook(server.root, name, cells or [])
    page.goto(server.lab_url(name) if ui == "lab" else server.notebook7_url(name))
    run_all_cells(page)
    return KernelProbe(server, name)


@pytest.fixture
def open_notebook(jupyter_server: JupyterServer, page: Any) -> Iterator[Callable[..., KernelProbe]]:
    """Open a notebook made of ``cells`` in JupyterLab, run it, and return a kernel probe."""
    probes: list[KernelProbe] = []

    def _open(
        name: str, cells: list[str] | None = None, *, ui: str = "lab", source: Path | None = None
    ) -> KernelProbe:
        # each notebook starts with no remembered painter settings (tool, brush size...)
        shutil.rmtree(jupyter_server.env["GPTIMAGE_CONFIG_DIR"], ignore_errors=True)
        probes.append(open_on(jupyter_server, page, name, cells, ui=ui, source=source))
        return probes[-1]

    yield _open
    for probe in probes:
        probe.close()
    jupyter_server.close_sessions()


@pytest.fixture(name="wait_until")
def wait_until_fixture() -> Callable[..., Any]:
    """:func:`wait_until` as a fixture, so test modules need no imports from conftest."""
    return wait_until


# --------------------------------------------------------------------------- widget helpers
# Added for the scenario tests (form, painter, studio, reload) and benchmarks/.

#: Kernel-side code for a test notebook's first cell: a smooth test image and a mask report.
KERNEL_HELPERS = '''
import base64 as _b64
import numpy as np
import gptimage_widgets as giw
from PIL import Image as _PILImage
from gptimage_widgets.maskops import Invert, Lasso, Rect, Stroke, grow_mask, rasterize_ops


def smooth_image(width, height):
    """(H, W, 3) uint8 gradients: downscaled copies stay close to the original."""
    yy, xx = np.mgrid[0:height, 0:width]
    red = xx * 255 // max(1, width - 1)
    green = yy * 255 // max(1, height - 1)
    return np.stack([red, green, np.full_like(xx, 128)], -1).astype(np.uint8)


def mask_report(mask, ops, edge=3):
    """Compare a (H, W) bool mask with ``ops`` rasterized here; mismatches near edges are ok."""
    height, width = mask.shape
    expected = rasterize_ops(width, height, ops)
    band = grow_mask(expected, edge) & ~grow_mask(expected, -edge)
    wrong = mask != expected
    return {
        "expected": int(expected.sum()),
        "got": int(mask.sum()),
        "wrong": int(wrong.sum()),
        "wrong_outside_band": int((wrong & ~band).sum()),
        "band": int(band.sum()),
    }


def display_coverage_b64(painter):
    """The mask at the painter's display size (BOX coverage 0-255), base64 of (h, w) uint8."""
    small = painter.document.mask_image().resize(painter.display_size, _PILImage.Resampling.BOX)
    return _b64.b64encode(np.asarray(small, dtype=np.uint8).tobytes()).decode()


def display_image_b64(painter):
    """The painter's image BOX-downscaled to its display size, base64 of (h, w, 3) uint8."""
    small = _PILImage.fromarray(painter.image).convert("RGB")
    small = small.resize(painter.display_size, _PILImage.Resampling.BOX)
    return _b64.b64encode(np.asarray(small, dtype=np.uint8).tobytes()).decode()
'''

#: JavaScript: an async function that finds the ipywidgets manager of the current notebook
#: (JupyterLab or Notebook 7) through the widget renderers of its outputs. Scripts call it as
#: ``await (__WIDGET_MANAGER__)()`` and put it in with :func:`with_widget_manager`.
WIDGET_MANAGER_JS = """async () => {
  const notebook = window.jupyterapp.shell.currentWidget.content;
  let found = null;
  const visit = (widget) => {
    if (found || !widget) return;
    if (widget._manager) { found = widget._manager; return; }
    for (const child of (widget.widgets || [])) visit(child);
  };
  for (const cell of notebook.widgets) visit(cell.outputArea);
  if (!found) throw new Error('no widget renderer found in the notebook outputs');
  // jupyterlab_widgets keeps the manager in a PromiseDelegate
  return found.promise ? await found.promise : found;
}"""


def with_widget_manager(script: str) -> str:
    """``script`` with each ``__WIDGET_MANAGER__`` replaced by :data:`WIDGET_MANAGER_JS`."""
    return script.replace("__WIDGET_MANAGER__", WIDGET_MANAGER_JS)


#: JavaScript: read one canvas layer's RGBA pixels through the page's widget manager.
_LAYER_PIXELS_JS = with_widget_manager("""
async ([modelId, x, y, w, h]) => {
  const manager = await (__WIDGET_MANAGER__)();
  const model = await manager.get_model(modelId);
  const canvas = model.canvas;
  const [width, height] = [w || canvas.width, h || canvas.height];
  const data = canvas.getContext('2d').getImageData(x, y, width, height).data;
  let text = '';
  for (let i = 0; i < data.length; i += 32768) {
    text += String.fromCharCode.apply(null, data.subarray(i, i + 32768));
  }
  return [canvas.width, canvas.height, btoa(text)];
}
""")


def layer_pixels(page: Any, model_id: str) -> Any:
    """The RGBA pixels of an ipycanvas layer (a ``Canvas`` model) in the page, (h, w, 4) uint8.

    ipycanvas 0.14 composites a ``MultiCanvas`` into one ``<canvas>`` element; each layer's
    own pixels live on its model's off-DOM canvas, which this reads through the page's
    widget manager.
    """
    import base64

    import numpy as np

    width, height, data = page.evaluate(_LAYER_PIXELS_JS, [model_id, 0, 0, 0, 0])
    return np.frombuffer(base64.b64decode(data), dtype=np.uint8).reshape(height, width, 4)


def visible_labels(page: Any, selector: str) -> list[str]:
    """Visible control labels (descriptions) inside ``selector``, in DOM order, deduplicated."""
    texts = page.evaluate(
        """(selector) => [...document.querySelectorAll(
              `${selector} label.widget-label, ${selector} .widget-checkbox span`)]
            .filter((el) => el.checkVisibility())
            .map((el) => el.textContent.replace(/[\\u200b\\u00a0]/g, ' ').trim())
            .filter((text) => text)""",
        selector,
    )
    return list(dict.fromkeys(texts))


def next_frame(page: Any) -> None:
    """Wait for the page's next animation frame (Chromium coalesces mouse moves per frame)."""
    page.evaluate("() => new Promise((resolve) => requestAnimationFrame(() => resolve()))")


class CanvasDriver:
    """Drive an ipycanvas ``MultiCanvas`` with the real mouse, in the image's pixel coordinates.

    Parameters
    ----------
    page
        The Playwright page.
    selector : str
        CSS selector of the painter (e.g. a class added with ``add_class``); its first
        ``<canvas>`` is the composited ``MultiCanvas`` view.
    image_size : (int, int)
        (width, height) of the full-resolution image behind the canvas.

    Notes
    -----
    The canvas is scrolled into view and measured once (:meth:`measure`); page points are
    whole CSS pixels, and :meth:`to_image` maps them back exactly as ipycanvas and the
    painter do: ``display = canvas.width * (client - left) / box.width`` then
    ``image = display * (width / canvas.width) - 0.5``.
    """

    def __init__(self, page: Any, selector: str, image_size: tuple[int, int]) -> None:
        self.page = page
        self.canvas = page.locator(f"{selector} canvas").first
        self.image_size = image_size
        self.box: dict[str, float] = {}
        self.display_size = (1, 1)

    def measure(self) -> dict[str, float]:
        """Scroll the canvas into view; store and return its bounding box (CSS pixels)."""
        self.canvas.wait_for(timeout=60_000)
        self.canvas.scroll_into_view_if_needed()
        next_frame(self.page)
        box = self.canvas.bounding_box()
        assert box is not None, "the painter's canvas has no bounding box (not displayed?)"
        self.box = box
        self.display_size = tuple(self.canvas.evaluate("(c) => [c.width, c.height]"))
        return box

    def to_page(self, point: tuple[float, float]) -> tuple[int, int]:
        """Image coordinates -> the nearest whole page point on the canvas."""
        (width, height), (dw, dh) = self.image_size, self.display_size
        x = self.box["x"] + (point[0] + 0.5) * dw / width * self.box["width"] / dw
        y = self.box["y"] + (point[1] + 0.5) * dh / height * self.box["height"] / dh
        return round(x), round(y)

    def to_image(self, page_point: tuple[int, int]) -> tuple[float, float]:
        """A page point -> image coordinates, as the kernel computes them."""
        (width, height), (dw, dh) = self.image_size, self.display_size
        dx = dw * (page_point[0] - self.box["x"]) / self.box["width"]
        dy = dh * (page_point[1] - self.box["y"]) / self.box["height"]
        return dx * width / dw - 0.5, dy * height / dh - 0.5

    def drag(
        self, points: list[tuple[float, float]], *, steps: int = 8
    ) -> list[tuple[float, float]]:
        """Press at ``points[0]``, move through the others, release at the last.

        Returns the image coordinates the kernel receives for each of ``points`` (after the
        rounding to whole page pixels), for building the expected mask.
        """
        page_points = [self.to_page(p) for p in points]
        mouse = self.page.mouse
        mouse.move(*page_points[0])
        next_frame(self.page)
        mouse.down()
        for point in page_points[1:]:
            mouse.move(*point, steps=steps)
            next_frame(self.page)
        mouse.up()
        return [self.to_image(p) for p in page_points]


def click_button(page: Any, scope: str, text: str) -> None:
    """Click the (enabled) widget button labelled ``text`` inside ``scope``."""
    page.locator(f"{scope} button", has_text=text).first.click()


@pytest.fixture
def widget_kit() -> Any:
    """The helpers above as one object, so test modules need no imports from conftest."""
    import types

    return types.SimpleNamespace(
        KERNEL_HELPERS=KERNEL_HELPERS,
        CanvasDriver=CanvasDriver,
        layer_pixels=layer_pixels,
        visible_labels=visible_labels,
        next_frame=next_frame,
        click_button=click_button,
    )


# --------------------------------------------------------------------------- widget round trips
# Added for the kernel websocket (TCP_NODELAY server extension) tests and
# benchmarks/bench_widget_roundtrip.py.

#: Kernel-side cell: a widget that answers every custom message ``{"n": i}`` with ``{"echo": i}``.
ECHO_CELL = """
import ipywidgets as _widgets

echo = _widgets.Label(value="echo ready")
echo.add_class("giw-echo")
echo.on_msg(lambda widget, content, buffers: widget.send({"echo": content.get("n")}))
echo
"""

#: JavaScript: ``count`` sequential round trips JS ``model.send`` -> Python echo -> JS
#: ``msg:custom``; returns ``[echoed numbers (null on a 10 s timeout), milliseconds each]``.
_ECHO_JS = with_widget_manager("""
async ([modelId, count]) => {
  const manager = await (__WIDGET_MANAGER__)();
  const model = await manager.get_model(modelId);
  const echoed = [], times = [];
  for (let i = 0; i < count; i++) {
    let onMessage = null;
    const reply = new Promise((resolve) => {
      onMessage = (content) => { if (content && content.echo === i) resolve(content.echo); };
      model.on('msg:custom', onMessage);
      setTimeout(() => resolve(null), 10000);
    });
    const start = performance.now();
    model.send({ n: i }, {});
    const value = await reply;
    times.push(performance.now() - start);
    model.off('msg:custom', onMessage);
    echoed.push(value);
  }
  return [echoed, times];
}
""")


def widget_round_trips(page: Any, model_id: str, count: int) -> tuple[list[Any], list[float]]:
    """Send ``count`` messages to the :data:`ECHO_CELL` widget, one after the other.

    Returns
    -------
    echoed : list
        What came back for message ``i`` (``i`` itself, or None after a 10 s timeout).
    times : list of float
        Milliseconds from ``model.send`` to the echo's arrival in the page, for each message.
    """
    echoed, times = page.evaluate(_ECHO_JS, [model_id, count])
    return list(echoed), [float(t) for t in times]


@pytest.fixture
def roundtrip_kit() -> Any:
    """The round-trip helpers above as one object (test modules import nothing from here)."""
    import types

    return types.SimpleNamespace(
        ECHO_CELL=ECHO_CELL,
        widget_round_trips=widget_round_trips,
        open_on=open_on,
    )
