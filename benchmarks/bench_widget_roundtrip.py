"""Widget message round trip and bare ipycanvas ink, with the nodelay server extension on and off.

jupyter_server never sets TCP_NODELAY on the kernel websocket, so Nagle's algorithm meets the
browser's delayed ACK and every widget message waits about 40 ms. The ``gptimage_widgets``
server extension (``gptimage_widgets/jupyter_nodelay.py``) sets it. This script starts two
JupyterLab servers with the browser-test harness of ``tests/browser/conftest.py`` (127.0.0.1,
Debian's Chromium via Playwright), one with
``--ServerApp.jpserver_extensions=gptimage_widgets=True`` and one with ``...=False``, opens the
same notebook on each, and measures, in interleaved rounds:

- **round trip**: JS ``model.send({n})`` -> a Python ``on_msg`` that answers ``{echo: n}`` ->
  the page's ``msg:custom`` handler, one message at a time (``performance.now()`` both ends);
- **bare ipycanvas ink**: a 768x512 ``ipycanvas.Canvas`` whose ``on_mouse_move`` draws a 4x4
  square. Input is trusted (Playwright's ``page.mouse``, through the browser's input pipeline);
  each move is timed in the page from the event's own ``timeStamp`` to the first animation
  frame (its ``requestAnimationFrame`` time) in which the canvas shows the square;
- **the floor**: a plain ``<canvas>`` in the same page that draws the square in its own
  ``pointermove`` handler, timed the same way (no kernel involved).

Prints p50/p95/max per server, the off/on ratios side by side, the run's date, and the target:
round trip p50 <= 30 ms with the extension on. Run:
``python benchmarks/bench_widget_roundtrip.py [--messages 120 --moves 80 --rounds 4]`` (~1 min;
also in ``run_all.py``, which reports it skipped when JupyterLab, Playwright or Chromium is
missing).
"""

from __future__ import annotations

import argparse
import datetime
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

WIDTH, HEIGHT = 768, 512
STEP, ROW_GAP, MARGIN = 8, 16, 12
WARMUP_MOVES, WARMUP_MESSAGES = 5, 5
TIMEOUT_MS = 3000
TARGET_P50_MS = 30.0
BARE, FLOOR = ".giw-bench-bare", ".giw-bench-floor"
NAME = "Widget round trip and ipycanvas ink, nodelay extension on/off"

BARE_CELL = f"""
from ipycanvas import Canvas

bare = Canvas(width={WIDTH}, height={HEIGHT})
bare.fill_style = "red"
bare.on_mouse_move(lambda x, y: bare.fill_rect(x - 2, y - 2, 4, 4))
bare.add_class("{BARE[1:]}")
bare
"""

FLOOR_CELL = f"""
from IPython.display import HTML

HTML('<canvas class="{FLOOR[1:]}" width="{WIDTH}" height="{HEIGHT}"'
     ' style="width: {WIDTH}px; height: {HEIGHT}px; border: 1px solid #ccc"></canvas>')
"""

#: Install an ink watcher on a canvas: every trusted pointer move records its page point and
#: ``event.timeStamp``; a requestAnimationFrame loop records, per move, the first frame time at
#: which the canvas pixel under it is painted (null after TIMEOUT_MS). With no ``modelId`` the
#: canvas is the plain floor canvas, which also gets a pointermove handler drawing the square.
_INSTALL_JS = """
async ([name, selector, modelId, timeoutMs]) => {
  const target = document.querySelector(`${selector} canvas, canvas${selector}`);
  if (!target) throw new Error(`no canvas for ${selector}`);
  let ctx = null;
  if (modelId) {
    const notebook = window.jupyterapp.shell.currentWidget.content;
    let found = null;
    const visit = (w) => {
      if (found || !w) return;
      if (w._manager) { found = w._manager; return; }
      for (const child of (w.widgets || [])) visit(child);
    };
    for (const cell of notebook.widgets) visit(cell.outputArea);
    const manager = found.promise ? await found.promise : found;
    ctx = (await manager.get_model(modelId)).canvas.getContext('2d');
  } else {
    ctx = target.getContext('2d');
  }
  const toCanvas = (event) => {
    const box = target.getBoundingClientRect();
    return [
      Math.floor((event.clientX - box.left) * target.width / box.width),
      Math.floor((event.clientY - box.top) * target.height / box.height),
    ];
  };
  const state = { pending: [], results: [], frames: [] };
  window.__giwInk = window.__giwInk || {};
  window.__giwInk[name] = state;
  target.addEventListener('pointermove', (event) => {
    if (!event.isTrusted) return;
    const [x, y] = toCanvas(event);
    state.pending.push({ x, y, t: event.timeStamp });
  }, { capture: true });
  if (!modelId) {
    target.addEventListener('pointermove', (event) => {
      const [x, y] = toCanvas(event);
      ctx.fillStyle = 'red';
      ctx.fillRect(x - 2, y - 2, 4, 4);
    });
  }
  let last = null;
  const loop = (now) => {
    if (last !== null) state.frames.push(now - last);
    last = now;
    state.pending = state.pending.filter((p) => {
      if (ctx.getImageData(p.x, p.y, 1, 1).data[3] > 0) {
        state.results.push(now - p.t);
        return false;
      }
      if (now - p.t > timeoutMs) { state.results.push(null); return false; }
      return true;
    });
    requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);
}
"""


def percentile(values: list[float], q: int) -> float:
    """The ``q``-th percentile (inclusive method); nan for no values."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


@dataclass
class Series:
    """Milliseconds of one measurement; None marks a message or move that never arrived."""

    name: str
    values: list[float | None] = field(default_factory=list)
    frames: list[float] = field(default_factory=list)

    @property
    def ok(self) -> list[float]:
        return [v for v in self.values if v is not None]

    @property
    def lost(self) -> int:
        return len(self.values) - len(self.ok)

    def p(self, q: int) -> float:
        return statistics.median(self.ok) if q == 50 and self.ok else percentile(self.ok, q)

    def row(self, label: str) -> list[str]:
        top = max(self.ok) if self.ok else float("nan")
        frame = statistics.median(self.frames) if self.frames else float("nan")
        return [
            label,
            f"{self.p(50):.1f}",
            f"{self.p(95):.1f}",
            f"{top:.1f}",
            str(self.lost),
            str(len(self.values)),
            f"{frame:.1f}" if self.frames else "",
        ]


@dataclass
class Side:
    """One server (extension on or off), its page and what was measured there."""

    enabled: bool
    server: Any
    page: Any = None
    probe: Any = None
    echo_id: str = ""
    round_trip: Series = field(default_factory=lambda: Series("round trip"))
    bare: Series = field(default_factory=lambda: Series("bare ipycanvas ink"))
    floor: Series = field(default_factory=lambda: Series("plain canvas floor"))
    next_row: int = 0

    @property
    def label(self) -> str:
        return "extension on" if self.enabled else "extension off"


def serpentine(row0: int, count: int) -> list[tuple[int, int]]:
    """``count`` canvas points STEP apart along rows ROW_GAP apart, from row ``row0`` on."""
    xs = list(range(MARGIN, WIDTH - MARGIN, STEP))
    points: list[tuple[int, int]] = []
    row = row0
    while len(points) < count:
        y = MARGIN + row * ROW_GAP
        if y > HEIGHT - MARGIN:
            raise ValueError(f"too many moves for one {WIDTH}x{HEIGHT} canvas; use fewer")
        points += [(x, y) for x in (xs if row % 2 == 0 else xs[::-1])]
        row += 1
    return points[:count]


def rows_for(count: int) -> int:
    per_row = len(range(MARGIN, WIDTH - MARGIN, STEP))
    return -(-count // per_row)


def open_side(side: Side) -> None:
    """Open the benchmark notebook on ``side``'s server and install the ink watchers."""
    cells = [harness.ECHO_CELL, BARE_CELL, FLOOR_CELL]
    side.probe = harness.open_on(side.server, side.page, "bench.ipynb", cells)
    page = side.page
    for selector in (".giw-echo", f"{BARE} canvas, canvas{BARE}", f"canvas{FLOOR}"):
        page.locator(selector).first.wait_for(timeout=60_000)
    side.echo_id = side.probe.eval("echo.model_id")
    bare_id = side.probe.eval("bare.model_id")
    page.evaluate(_INSTALL_JS, ["bare", BARE, bare_id, TIMEOUT_MS])
    page.evaluate(_INSTALL_JS, ["floor", FLOOR, None, TIMEOUT_MS])


def measure_ink(side: Side, name: str, selector: str, count: int, series: Series) -> None:
    """Move the real mouse over ``count`` fresh points of a canvas, one move at a time."""
    page = side.page
    canvas = page.locator(f"{selector} canvas, canvas{selector}").first
    canvas.scroll_into_view_if_needed()
    harness.next_frame(page)
    box = canvas.bounding_box()
    assert box is not None, f"{selector} is not displayed"
    row0 = side.next_row
    points = serpentine(row0, count + WARMUP_MOVES)
    side.next_row = row0 + rows_for(count + WARMUP_MOVES) + 1
    done = page.evaluate(f"() => window.__giwInk['{name}'].results.length")
    page.mouse.move(box["x"] - 5, box["y"] - 5)
    for x, y in points:
        page.mouse.move(
            box["x"] + (x + 0.5) * box["width"] / WIDTH,
            box["y"] + (y + 0.5) * box["height"] / HEIGHT,
        )
        done += 1
        page.wait_for_function(
            "([n, k]) => window.__giwInk[n].results.length >= k", arg=[name, done], timeout=10_000
        )
    results, frames = page.evaluate(
        f"() => [window.__giwInk['{name}'].results.slice(-{len(points)}),"
        f" window.__giwInk['{name}'].frames.splice(0)]"
    )
    series.values += results[WARMUP_MOVES:]
    series.frames += frames


def measure_round_trips(side: Side, count: int) -> None:
    echoed, times = harness.widget_round_trips(side.page, side.echo_id, count + WARMUP_MESSAGES)
    for index, (value, ms) in enumerate(zip(echoed, times, strict=True)):
        if index >= WARMUP_MESSAGES:
            side.round_trip.values.append(ms if value == index else None)


def run(messages: int, moves: int, rounds: int) -> list[Side]:
    """Start both servers and Chromium; measure both sides in interleaved rounds."""
    from playwright.sync_api import sync_playwright

    sides = []
    for enabled in (True, False):
        base = Path(tempfile.mkdtemp(prefix=f"bench-roundtrip-{'on' if enabled else 'off'}-"))
        (base / "root").mkdir()
        server = harness.JupyterServer(
            base / "root", base, extensions={"gptimage_widgets": enabled}
        )
        sides.append(Side(enabled, server))
    try:
        for side in sides:
            side.server.start()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=harness.chromium_path(), headless=True, args=harness.CHROMIUM_ARGS
            )
            try:
                for side in sides:
                    side.page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    open_side(side)
                per_messages, per_moves = -(-messages // rounds), -(-moves // rounds)
                for index in range(rounds):
                    for side in sides[index % 2 :] + sides[: index % 2]:
                        side.page.bring_to_front()
                        measure_round_trips(side, per_messages)
                        measure_ink(side, "bare", BARE, per_moves, side.bare)
                        measure_ink(side, "floor", FLOOR, max(5, per_moves // 2), side.floor)
            finally:
                browser.close()
    finally:
        for side in sides:
            if side.probe is not None:
                side.probe.close()
            side.server.stop()
    for side in sides:
        loaded = "TCP_NODELAY on for kernel websockets" in harness.server_log(side.server)
        if loaded is not side.enabled:
            raise RuntimeError(f"{side.label}: the server log disagrees (loaded={loaded})")
    return sides


def report(sides: list[Side], messages: int, moves: int) -> _common.Report:
    on, off = sides
    result = _common.Report(NAME)
    headers = ["what", "p50", "p95", "max", "lost (> timeout)", "count", "frame interval"]
    result.add_table(
        "widget message round trip, JS model.send -> Python echo -> JS (ms)",
        headers,
        [on.round_trip.row(on.label), off.round_trip.row(off.label)],
    )
    result.add_table(
        "trusted mouse move -> first animation frame showing the ink (ms, from event.timeStamp)",
        headers,
        [
            on.floor.row(f"plain canvas floor ({on.label} page)"),
            on.bare.row(f"bare ipycanvas, {on.label}"),
            off.floor.row(f"plain canvas floor ({off.label} page)"),
            off.bare.row(f"bare ipycanvas, {off.label}"),
        ],
    )
    ratio_rows = []
    for what, a, b in (
        ("round trip", off.round_trip, on.round_trip),
        ("bare ipycanvas ink", off.bare, on.bare),
    ):
        ratio_rows.append(
            [
                what,
                f"{a.p(50):.1f} / {b.p(50):.1f}",
                _common.fmt_x(_common.ratio(a.p(50), b.p(50))),
                f"{a.p(95):.1f} / {b.p(95):.1f}",
                _common.fmt_x(_common.ratio(a.p(95), b.p(95))),
            ]
        )
    result.add_table(
        "side by side: extension off / on",
        ["what", "p50 off / on (ms)", "p50 ratio", "p95 off / on (ms)", "p95 ratio"],
        ratio_rows,
    )
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    result.notes.append(f"run on {today} (UTC) · {_common.MACHINE} · JupyterLab + Chromium")
    result.notes.append(
        f"{messages} messages and {moves} moves per server in interleaved rounds; "
        f"the first {WARMUP_MESSAGES} messages and {WARMUP_MOVES} moves of each round not counted"
    )
    result.targets.append(
        _common.Target(
            "widget round trip p50 with the extension on", on.round_trip.p(50), TARGET_P50_MS, " ms"
        )
    )
    lost = on.round_trip.lost + off.round_trip.lost + on.bare.lost + off.bare.lost
    result.targets.append(_common.Target("messages or moves lost", lost, 0, unit=""))
    result.headline = (
        f"round trip p50 {on.round_trip.p(50):.1f} ms on vs {off.round_trip.p(50):.1f} ms off; "
        f"bare ipycanvas ink p50 {on.bare.p(50):.1f} vs {off.bare.p(50):.1f} ms "
        f"(floor {on.floor.p(50):.1f})"
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--messages", type=int, default=120, help="round trips per server")
    parser.add_argument("--moves", type=int, default=80, help="bare ipycanvas moves per server")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds")
    args = parser.parse_args()
    missing = harness.missing_pieces()
    if missing:  # run_all.py runs this too; say what is missing instead of crashing
        print(f"HEADLINE {NAME}: skipped, missing {', '.join(missing)} -> SKIP", flush=True)
        return 0
    sides = run(args.messages, args.moves, args.rounds)
    return report(sides, args.messages, args.moves).print()


if __name__ == "__main__":
    sys.exit(main())
