"""Painter latency in a real browser: mouse event -> ink on the overlay, JupyterLab + Chromium.

ipycanvas draws nothing by itself: every mouse move travels to the kernel, the painter
answers with canvas commands, and only then does ink appear. This script measures that
round trip as a person would feel it, with the browser-test harness of
``tests/browser/conftest.py`` (JupyterLab on 127.0.0.1, Debian's Chromium via Playwright):

- a 1536x1024 image shown on a 768x512 canvas (CSS-stretched by the page), brush 8 image px;
- in the page, a ``mousedown`` and then ``--moves`` ``mousemove`` events are dispatched on the
  canvas, one at a time, along a serpentine path 8 display px apart (each lands on unpainted
  pixels); for each, ``performance.now()`` at dispatch, then ``requestAnimationFrame``
  polling of the overlay layer's pixel at that point until its alpha is non-zero;
- the first ``WARMUP`` moves are not counted; a move not inked within 3 s counts as a miss.

Prints p50/p95/max, the frame interval seen while polling (the resolution of the numbers),
and misses. Run: ``python benchmarks/bench_painter_latency.py [--moves 200]`` (~30 s).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

import conftest as harness  # noqa: E402  (the browser-test harness, used as a library)

WIDTH, HEIGHT = 1536, 1024
BRUSH = 8
WARMUP = 10
STEP, ROW_GAP, MARGIN = 8, 20, 20
PAINTER = ".giw-bench-painter"
BARE = ".giw-bench-bare"

_MEASURE_JS = """
async ([selector, layerId, points, timeoutMs]) => {
  const notebook = window.jupyterapp.shell.currentWidget.content;
  let found = null;
  const visit = (w) => {
    if (found || !w) return;
    if (w._manager) { found = w._manager; return; }
    for (const child of (w.widgets || [])) visit(child);
  };
  for (const cell of notebook.widgets) visit(cell.outputArea);
  const manager = found.promise ? await found.promise : found;
  const layer = (await manager.get_model(layerId)).canvas.getContext('2d');
  const target = document.querySelector(`${selector} canvas, canvas${selector}`);
  const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
  const fire = (type, [x, y]) => {
    const box = target.getBoundingClientRect();
    target.dispatchEvent(new MouseEvent(type, {
      bubbles: true, cancelable: true, button: 0, buttons: type === 'mouseup' ? 0 : 1,
      clientX: box.left + (x + 0.5) * box.width / target.width,
      clientY: box.top + (y + 0.5) * box.height / target.height,
    }));
  };
  const inked = ([x, y]) => layer.getImageData(x, y, 1, 1).data[3] > 0;
  const latencies = [], frames = [];
  fire('mousedown', points[0]);
  await frame();
  for (const point of points.slice(1)) {
    const start = performance.now();
    fire('mousemove', point);
    let last = start, done = false;
    while (!done && performance.now() - start < timeoutMs) {
      const now = await frame();
      frames.push(now - last);
      last = now;
      done = inked(point);
    }
    latencies.push(done ? performance.now() - start : null);
  }
  fire('mouseup', points[points.length - 1]);
  return [latencies, frames];
}
"""


def serpentine(count: int, width: int, row0: int = 0) -> list[tuple[int, int]]:
    """``count`` display points, STEP apart along rows ROW_GAP apart, alternating direction."""
    xs = list(range(MARGIN, width - MARGIN, STEP))
    points: list[tuple[int, int]] = []
    row = row0
    while len(points) < count:
        y = MARGIN + row * ROW_GAP
        points += [(x, y) for x in (xs if row % 2 == 0 else xs[::-1])]
        row += 1
    return points[:count]


def percentile(values: list[float], q: int) -> float:
    """The ``q``-th percentile (inclusive method); 0.0 for no values."""
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if values else 0.0


@dataclass
class Contender:
    """One canvas under test: its CSS hook, the layer to poll, and what it measured."""

    name: str
    selector: str
    layer_expr: str
    latencies: list[float | None] = field(default_factory=list)
    frames: list[float] = field(default_factory=list)

    @property
    def inked(self) -> list[float]:
        return [value for value in self.latencies if value is not None]

    def row(self) -> list[str]:
        inked = self.inked or [float("nan")]
        return [
            self.name,
            f"{statistics.median(inked):.1f}",
            f"{percentile(inked, 95):.1f}",
            f"{max(inked):.1f}",
            str(len(self.latencies) - len(self.inked)),
            f"{statistics.median(self.frames):.1f}",
        ]


def notebook_cells() -> list[str]:
    """The painter (brush BRUSH px) and a bare ipycanvas Canvas that inks each mouse move."""
    return [
        harness.KERNEL_HELPERS,
        f"painter = giw.MaskPainter(smooth_image({WIDTH}, {HEIGHT}), max_display=768,"
        f" brush_size={BRUSH})\npainter.add_class('{PAINTER[1:]}')\npainter",
        "from ipycanvas import Canvas\n"
        "bare = Canvas(width=768, height=512)\n"
        "bare.fill_style = 'red'\n"
        "bare.on_mouse_move(lambda x, y: bare.fill_rect(x - 2, y - 2, 4, 4))\n"
        f"bare.add_class('{BARE[1:]}')\nbare",
    ]


def run(moves: int, rounds: int) -> list[Contender]:
    """Start JupyterLab and Chromium; measure the contenders in interleaved rounds."""
    from playwright.sync_api import sync_playwright

    base = Path(tempfile.mkdtemp(prefix="bench-painter-"))
    (base / "root").mkdir()
    server = harness.JupyterServer(base / "root", base)
    server.start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=harness.chromium_path(), headless=True, args=harness.CHROMIUM_ARGS
            )
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                return measure(server, page, moves, rounds)
            finally:
                browser.close()
    finally:
        server.stop()


def measure(server: Any, page: Any, moves: int, rounds: int) -> list[Contender]:
    harness.write_notebook(server.root, "bench.ipynb", notebook_cells())
    page.goto(server.lab_url("bench.ipynb"))
    harness.run_all_cells(page)
    probe = harness.KernelProbe(server, "bench.ipynb")
    contenders = [
        Contender("MaskPainter (brush + cursor layers)", PAINTER, "painter.layers[1]"),
        Contender("bare ipycanvas Canvas (fill_rect per move)", BARE, "bare"),
    ]
    try:
        harness.CanvasDriver(page, PAINTER, (WIDTH, HEIGHT)).measure()
        per_round = -(-moves // rounds)
        rows_per_round = -(-(per_round + WARMUP + 1) * STEP // (768 - 2 * MARGIN)) + 1
        for index in range(rounds):
            points = serpentine(per_round + WARMUP + 1, 768, row0=index * rows_per_round)
            for contender in contenders[:: 1 if index % 2 == 0 else -1]:
                layer = probe.eval(f"{contender.layer_expr}.model_id")
                latencies, frames = page.evaluate(
                    _MEASURE_JS, [contender.selector, layer, points, 3000]
                )
                contender.latencies += latencies[WARMUP:]
                contender.frames += frames
        harness.wait_until(
            lambda: probe.eval("painter.mask_version") == rounds, timeout=30, what="the strokes"
        )
        return contenders
    finally:
        probe.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--moves", type=int, default=200, help="measured moves per contender")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds")
    args = parser.parse_args()
    painter, bare = run(args.moves, args.rounds)
    report = _common.Report("Painter latency in the browser")
    report.add_table(
        f"{len(painter.latencies)} mouse moves each -> ink on the polled layer (ms); "
        "1536x1024 image shown at 768x512",
        ["canvas", "p50", "p95", "max", "misses (> 3 s)", "frame interval (median)"],
        [painter.row(), bare.row()],
    )
    p50 = statistics.median(painter.inked or [float("nan")])
    ratio = _common.ratio(p50, statistics.median(bare.inked or [float("nan")]))
    report.notes.append(f"{_common.RESULTS_DATE} · {_common.MACHINE}")
    report.notes.append(f"painter p50 / bare ipycanvas p50 = {ratio:.2f}x")
    misses = len(painter.latencies) - len(painter.inked)
    report.targets.append(_common.Target("painter moves never inked", misses, 0, unit=""))
    report.headline = (
        f"painter p50 {p50:.1f} ms, p95 {percentile(painter.inked, 95):.1f} ms "
        "from mouse move to ink"
    )
    return report.print()


if __name__ == "__main__":
    sys.exit(main())
