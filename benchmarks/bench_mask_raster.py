"""Mask rasterization: 500 mixed operations on a 3840x2160 mask, measured side by side.

Prints, for the same seeded operations in one run (wall time and CPU time, medians):

- the headline: the whole 500-op document rasterized from scratch (``MaskDocument.apply``
  x500, then ``.mask``: one lazy batch with its undo checkpoints), against a naive Pillow
  rasterizer (every op drawn on its own: a ``line(width=2r)`` quad per segment plus a disc
  at every vertex, inversion of all 8 M pixels, the same exact grow);
- ``rasterize_ops`` (no checkpoints) and the CPU time per kind of op;
- the interactive path: append one op and read the mask after each, against a naive editor
  that re-rasterizes every op after each edit; undo on the 500-op document;
- one brush stroke, against NumPy disc stamping along the path;
- exact grow/shrink at 4K, against OR-ing one shifted copy per disc offset.

The last line is the headline; the exit status is 1 when it misses the target (< 100 ms
wall or CPU: the machine is shared, so CPU time is the fairer figure and either may pass;
CPU time adds up all threads; grow/shrink runs on one thread).
Run: ``python benchmarks/bench_mask_raster.py`` (about 10 s).
"""

from __future__ import annotations

import itertools
import math
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image, ImageChops, ImageDraw

from gptimage_widgets import maskops
from gptimage_widgets.maskops import (
    Grow,
    Invert,
    Lasso,
    MaskDocument,
    MaskOp,
    Rect,
    Stroke,
    grow_mask,
    rasterize_ops,
)

WIDTH, HEIGHT = 3840, 2160
N_OPS = 500
TARGET_S = 0.100
REPEATS = 7
#: The mix: what a long editing session looks like (mostly brush work).
MIX = {"brush": 380, "eraser": 70, "rect": 25, "lasso": 20, "invert": 3, "grow": 1, "shrink": 1}


def stroke_points(rng: np.random.Generator) -> np.ndarray:
    """A wandering polyline of 10-40 points, 5-40 px apart (mouse moves at display scale)."""
    count = int(rng.integers(10, 41))
    start = rng.uniform((0, 0), (WIDTH, HEIGHT))
    heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.3, count))
    steps = rng.uniform(5, 40, count)[:, None] * np.c_[np.cos(heading), np.sin(heading)]
    return start + np.cumsum(steps, axis=0)


def make_op(kind: str, rng: np.random.Generator) -> MaskOp:
    if kind in ("brush", "eraser"):
        return Stroke(stroke_points(rng), float(rng.uniform(8, 120)), erase=kind == "eraser")
    if kind == "rect":
        x0, y0 = rng.uniform((0, 0), (WIDTH, HEIGHT))
        w, h = rng.uniform(50, 900, 2)
        return Rect(x0, y0, x0 + w, y0 + h)
    if kind == "lasso":
        center = rng.uniform((0, 0), (WIDTH, HEIGHT))
        angles = np.sort(rng.uniform(0, 2 * np.pi, 60))
        radii = rng.uniform(100, 500, 60)
        return Lasso(center + radii[:, None] * np.c_[np.cos(angles), np.sin(angles)])
    if kind == "invert":
        return Invert()
    return Grow(16 if kind == "grow" else -8)


def make_ops(seed: int = 0) -> list[MaskOp]:
    rng = np.random.default_rng(seed)
    kinds = [kind for kind, count in MIX.items() for _ in range(count)]
    rng.shuffle(kinds)
    assert len(kinds) == N_OPS
    return [make_op(str(kind), rng) for kind in kinds]


def timed(fn: Callable[[], Any], repeats: int = REPEATS) -> tuple[float, float]:
    """Median wall time and median CPU time of ``fn``, in seconds."""
    walls, cpus = [], []
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu_started)
    return statistics.median(walls), statistics.median(cpus)


def build_document(ops: list[MaskOp]) -> MaskDocument:
    doc = MaskDocument(WIDTH, HEIGHT)
    for op in ops:
        doc.apply(op)
    doc.mask  # noqa: B018 - rasterizing and the raster -> bool array are the cost
    return doc


def interactive_session(ops: list[MaskOp]) -> None:
    """Append each op and read the mask image right away, as the painter does."""
    doc = MaskDocument(WIDTH, HEIGHT)
    for op in ops:
        doc.apply(op)
        doc.is_empty()


# --------------------------------------------------------------------------- naive baselines


def naive_rasterize(ops: list[MaskOp]) -> np.ndarray:
    """Every op on its own with plain Pillow calls: one ``line(width=2r)`` per segment and a
    disc at every vertex, ``ImageChops.invert`` over all pixels, the same exact grow."""
    image = Image.new("L", (WIDTH, HEIGHT))
    for op in ops:
        draw = ImageDraw.Draw(image)
        if isinstance(op, Stroke):
            ink, r = (0 if op.erase else 255), op.radius
            points = [(x + 0.5, y + 0.5) for x, y in op.points]
            for p, q in itertools.pairwise(points):
                draw.line([p, q], fill=ink, width=round(2 * r))
            for x, y in points:
                draw.ellipse((x - r, y - r, x + r, y + r), fill=ink)
        elif isinstance(op, Rect):
            draw.rectangle((op.x0, op.y0, op.x1, op.y1), fill=0 if op.erase else 255)
        elif isinstance(op, Lasso):
            draw.polygon([(x + 0.5, y + 0.5) for x, y in op.points], fill=0 if op.erase else 255)
        elif isinstance(op, Invert):
            image = ImageChops.invert(image)
        elif isinstance(op, Grow):
            grown = grow_mask(np.asarray(image) > 0, op.pixels)
            image = Image.fromarray(grown.view(np.uint8) * np.uint8(255))
    return np.asarray(image) > 0


def naive_stamped_stroke(op: Stroke) -> np.ndarray:
    """Baseline: stamp a NumPy disc every pixel along the polyline (per-pixel distances)."""
    mask = np.zeros((HEIGHT, WIDTH), dtype=bool)
    r = op.radius
    for (x0, y0), (x1, y1) in zip(op.points[:-1], op.points[1:], strict=True):
        steps = max(1, int(np.hypot(x1 - x0, y1 - y0)))
        for t in np.linspace(0, 1, steps + 1):
            cx, cy = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
            top, bottom = max(0, int(cy - r)), min(HEIGHT, int(cy + r) + 2)
            left, right = max(0, int(cx - r)), min(WIDTH, int(cx + r) + 2)
            if top >= bottom or left >= right:
                continue
            yy, xx = np.ogrid[top:bottom, left:right]
            mask[top:bottom, left:right] |= (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    return mask


def naive_grow(mask: np.ndarray, radius: int) -> np.ndarray:
    """Baseline: OR one shifted copy of the mask per offset of the digital disc."""
    out = mask.copy()
    height, width = mask.shape
    for dy in range(-radius, radius + 1):
        reach = math.isqrt(radius * radius - dy * dy)
        for dx in range(-reach, reach + 1):
            src = mask[max(0, -dy) : height - max(0, dy), max(0, -dx) : width - max(0, dx)]
            out[max(0, dy) : height - max(0, -dy), max(0, dx) : width - max(0, -dx)] |= src
    return out


# --------------------------------------------------------------------------- breakdown


def cost_by_kind(ops: list[MaskOp]) -> str:
    """CPU milliseconds per kind of op in one from-scratch rasterization (private helpers,
    used only to attribute time)."""
    started = time.process_time()
    shapes = maskops.raster._stroke_shape_queue(ops)
    totals = {"stroke geometry": time.process_time() - started}
    canvas = maskops.raster._Canvas.blank(WIDTH, HEIGHT)
    for op in ops:
        kind = type(op).__name__ + ("(erase)" if getattr(op, "erase", False) else "")
        shape = next(shapes) if isinstance(op, Stroke) else None
        started = time.process_time()
        maskops.raster._apply_op(canvas, op, shape)
        totals[kind] = totals.get(kind, 0.0) + time.process_time() - started
    started = time.process_time()
    canvas.mask()
    totals[".mask"] = time.process_time() - started
    return ", ".join(f"{kind} {seconds * 1e3:.1f}" for kind, seconds in totals.items())


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.1f} ms"


def main() -> int:
    ops = make_ops()
    print(f"{N_OPS} ops on a {WIDTH}x{HEIGHT} mask: {MIX}")
    exact = rasterize_ops(WIDTH, HEIGHT, ops)
    naive_mask = naive_rasterize(ops)
    print(
        f"pixels where the naive rasterizer differs: {np.count_nonzero(exact != naive_mask):,}"
        f" of {exact.size:,} (its edges are up to ~2 px off)"
    )

    scratch, scratch_cpu = timed(lambda: build_document(ops))
    naive, naive_cpu = timed(lambda: naive_rasterize(ops), repeats=3)
    pure, pure_cpu = timed(lambda: rasterize_ops(WIDTH, HEIGHT, ops))
    print(
        f"from scratch, apply x{N_OPS} + .mask (checkpoints): {ms(scratch)} (CPU {ms(scratch_cpu)})"
        f"   naive Pillow: {ms(naive)} (CPU {ms(naive_cpu)})"
        f"   -> {naive / scratch:.1f}x wall, {naive_cpu / scratch_cpu:.1f}x CPU"
    )
    print(f"from scratch, rasterize_ops (no checkpoints)   : {ms(pure)} (CPU {ms(pure_cpu)})")
    print(f"  by kind (CPU ms): {cost_by_kind(ops)}")

    eager, eager_cpu = timed(lambda: interactive_session(ops), repeats=3)
    per_op = eager / N_OPS
    print(
        f"interactive: apply + read after each op (mean)  : {per_op * 1e3:8.3f} ms"
        f"   (x{N_OPS}: {ms(eager)}, CPU {ms(eager_cpu)})"
        f"   naive re-rasterize all: {ms(pure)} -> {pure / per_op:,.0f}x faster"
    )

    doc = build_document(ops)
    undo_times = []
    for _ in range(20):
        started = time.perf_counter()
        doc.undo()
        doc.mask  # noqa: B018 - undo replays lazily: the read pays for it
        undo_times.append(time.perf_counter() - started)
    naive_undo, _ = timed(lambda: rasterize_ops(WIDTH, HEIGHT, ops[:-1]), repeats=3)
    undo_median = statistics.median(undo_times)
    print(
        f"undo + read on the {N_OPS}-op document (median/worst of 20): "
        f"{undo_median * 1e3:.1f} / {max(undo_times) * 1e3:.1f} ms"
        f"   naive re-rasterize: {ms(naive_undo)} -> {naive_undo / undo_median:.1f}x faster"
    )

    strokes = [op for op in ops if isinstance(op, Stroke)][:5]
    pillow = timed(lambda: rasterize_ops(WIDTH, HEIGHT, strokes), repeats=3)[0] / len(strokes)
    stamped = timed(lambda: [naive_stamped_stroke(s) for s in strokes], repeats=1)[0] / len(strokes)
    print(
        f"one brush stroke (incl. a 4K .mask read)        : {pillow * 1e3:8.2f} ms"
        f"   naive NumPy disc stamping: {stamped * 1e3:.0f} ms -> {stamped / pillow:,.0f}x faster"
    )

    painted = build_document(ops).mask
    for pixels in (4, 16, 64, -16):
        cost, cost_cpu = timed(lambda pixels=pixels: grow_mask(painted, pixels), repeats=3)
        line = (
            f"grow_mask({pixels:+d}) exact Euclidean at 4K        : {ms(cost)} (CPU {ms(cost_cpu)})"
        )
        if pixels in (4, 16):
            base, _ = timed(lambda pixels=pixels: naive_grow(painted, pixels), repeats=1)
            assert np.array_equal(naive_grow(painted, pixels), grow_mask(painted, pixels))
            line += f"   naive shifted ORs: {ms(base)} -> {base / cost:.0f}x faster"
        print(line)

    passed = min(scratch, scratch_cpu) < TARGET_S
    print(
        f"RESULT {N_OPS} mixed ops at {WIDTH}x{HEIGHT} rasterized from scratch: "
        f"{scratch * 1e3:.1f} ms wall, {scratch_cpu * 1e3:.1f} ms CPU "
        f"(naive {naive * 1e3:.0f} ms, {naive / scratch:.1f}x) "
        f"(target < {TARGET_S * 1e3:.0f} ms) {'PASS' if passed else 'MISS'}"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
