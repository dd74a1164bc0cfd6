"""Widget message round trip and bare ipycanvas ink, with the nodelay server extension on and off.

jupyter_server never sets TCP_NODELAY on the kernel websocket, so Nagle's algorithm meets the
browser's delayed ACK and every widget message waits about 40 ms. The ``gptimage_widgets``
server extension (``gptimage_widgets/jupyter_nodelay.py``) sets it. This script starts two
JupyterLab servers with the browser-test harness (``benchmarks/_browser.py``) (127.0.0.1,
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
import statistics
import sys
from dataclasses import dataclass, field
from typing import Any

import _browser
import _common
from _browser import harness, percentile

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
_INSTALL_JS = harness.with_widget_manager("""
async ([name, selector, modelId, timeoutMs]) => {
  const target = document.querySelector(`${selector} canvas, canvas${selector}`);
  if (!target) throw new Error(`no canvas for ${selector}`);
  let ctx = null;
  if (modelId) {
    const manager = await (__WIDGET_MANAGER__)();
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
""")


@dataclass
class Series(_browser.Latencies):
    """Milliseconds of one measurement; None marks a message or move that never arrived."""

    frames: list[float] = field(default_factory=list)

    def p(self, q: int) -> float:
        return (
            statistics.median(self.shown) if q == 50 and self.shown else percentile(self.shown, q)
        )

    def row(self, label: str) -> list[str]:
        top = max(self.shown) if self.shown else float("nan")
        frame = statistics.median(self.frames) if self.frames else float("nan")
        return [
            label,
            f"{self.p(50):.1f}",
            f"{self.p(95):.1f}",
            f"{top:.1f}",
            str(self.missed),
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
    sides = [
        Side(
            enabled,
            _browser.new_server(
                f"bench-roundtrip-{'on' if enabled else 'off'}-",
                extensions={"gptimage_widgets": enabled},
            ),
        )
        for enabled in (True, False)
    ]
    with _browser.chromium_pages([side.server for side in sides]) as pages:
        try:
            for side, page in zip(sides, pages, strict=True):
                side.page = page
                open_side(side)
            per_messages, per_moves = -(-messages // rounds), -(-moves // rounds)
            for index in range(rounds):
                for side in sides[index % 2 :] + sides[: index % 2]:
                    side.page.bring_to_front()
                    measure_round_trips(side, per_messages)
                    measure_ink(side, "bare", BARE, per_moves, side.bare)
                    measure_ink(side, "floor", FLOOR, max(5, per_moves // 2), side.floor)
        finally:
            for side in sides:
                if side.probe is not None:
                    side.probe.close()
    for side in sides:
        loaded = "TCP_NODELAY on for kernel websockets" in side.server.log_text()
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
    result.notes.append(
        f"run on {_browser.run_date()} (UTC) · {_common.MACHINE} · JupyterLab + Chromium"
    )
    result.notes.append(
        f"{messages} messages and {moves} moves per server in interleaved rounds; "
        f"the first {WARMUP_MESSAGES} messages and {WARMUP_MOVES} moves of each round not counted"
    )
    result.targets.append(
        _common.Target(
            "widget round trip p50 with the extension on", on.round_trip.p(50), TARGET_P50_MS, " ms"
        )
    )
    lost = on.round_trip.missed + off.round_trip.missed + on.bare.missed + off.bare.missed
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
