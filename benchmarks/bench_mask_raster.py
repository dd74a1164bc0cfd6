"""Mask rasterization: 500 mixed operations on a 3840x2160 mask, measured side by side.

Prints, for the same seeded operations in one run:

- the whole document rasterized from scratch (``MaskDocument.apply`` for every op, with its
  undo checkpoints, then ``.mask``) and the pure ``rasterize_ops`` without caches;
- the incremental cost of appending one operation, against a naive editor that re-rasterizes
  every operation after each edit;
- undo on the 500-op document, against re-rasterizing the remaining 499 ops;
- one brush stroke with Pillow, against naive NumPy per-pixel disc stamping;
- grow/shrink (exact Euclidean) at 4K.

The last line is the headline figure; the exit status is 1 when it misses the target
(< 100 ms). Run: ``python benchmarks/bench_mask_raster.py`` (about 20-40 s).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

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
REPEATS = 5
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
    doc.mask  # noqa: B018 - the raster -> bool array is part of the cost
    return doc


def cost_by_kind(ops: list[MaskOp]) -> str:
    """CPU milliseconds spent per kind of op in one from-scratch rasterization."""
    from PIL import Image

    from gptimage_widgets.maskops import _apply_to_image  # private: only to attribute time

    image = Image.new("L", (WIDTH, HEIGHT))
    totals: dict[str, float] = {}
    for op in ops:
        kind = type(op).__name__ + ("(erase)" if getattr(op, "erase", False) else "")
        started = time.process_time()
        image = _apply_to_image(image, op)
        totals[kind] = totals.get(kind, 0.0) + time.process_time() - started
    return ", ".join(f"{kind} {seconds * 1e3:.0f}" for kind, seconds in totals.items())


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


def undo_cost(ops: list[MaskOp]) -> tuple[float, float]:
    """Median and worst time of 20 successive undos on the full document."""
    doc = build_document(ops)
    times = []
    for _ in range(20):
        started = time.perf_counter()
        doc.undo()
        times.append(time.perf_counter() - started)
    return statistics.median(times), max(times)


def main() -> int:
    ops = make_ops()
    print(f"{N_OPS} ops on a {WIDTH}x{HEIGHT} mask: {MIX}")

    scratch, scratch_cpu = timed(lambda: build_document(ops))
    pure, _ = timed(lambda: rasterize_ops(WIDTH, HEIGHT, ops))
    print(
        f"from scratch, MaskDocument.apply x{N_OPS} + .mask : {scratch * 1e3:8.1f} ms"
        f"   (CPU {scratch_cpu * 1e3:.1f} ms: the rest is waiting on a shared machine)"
    )
    print(f"from scratch, rasterize_ops (no checkpoints)     : {pure * 1e3:8.1f} ms")
    print(f"  by kind (CPU ms): {cost_by_kind(ops)}")

    per_op = scratch / N_OPS
    reraster_last = pure  # a naive editor re-rasterizes all 500 ops to append the 500th
    print(
        f"append one op (mean)                             : {per_op * 1e3:8.3f} ms"
        f"   naive re-rasterize all: {reraster_last * 1e3:.1f} ms"
        f"   -> {reraster_last / per_op:,.0f}x faster"
    )

    undo_median, undo_worst = undo_cost(ops)
    naive_undo, _ = timed(lambda: rasterize_ops(WIDTH, HEIGHT, ops[:-1]), repeats=3)
    print(
        f"undo on the {N_OPS}-op document (median/worst of 20): "
        f"{undo_median * 1e3:.1f} / {undo_worst * 1e3:.1f} ms"
        f"   naive re-rasterize: {naive_undo * 1e3:.1f} ms"
        f"   -> {naive_undo / undo_median:.1f}x faster"
    )

    strokes = [op for op in ops if isinstance(op, Stroke)][:5]
    pillow = timed(lambda: rasterize_ops(WIDTH, HEIGHT, strokes), repeats=3)[0] / len(strokes)
    stamped = timed(lambda: [naive_stamped_stroke(s) for s in strokes], repeats=1)[0] / len(strokes)
    print(
        f"one brush stroke, Pillow                         : {pillow * 1e3:8.2f} ms"
        f"   naive NumPy disc stamping: {stamped * 1e3:.0f} ms"
        f"   -> {stamped / pillow:,.0f}x faster"
    )

    painted = build_document(ops).mask
    for pixels in (4, 16, 64, -16):
        cost, _ = timed(lambda pixels=pixels: grow_mask(painted, pixels), repeats=3)
        print(f"grow_mask({pixels:+d}) exact Euclidean at 4K          : {cost * 1e3:8.1f} ms")

    verdict = "PASS" if scratch < TARGET_S else "MISS"
    print(
        f"RESULT {N_OPS} mixed ops at {WIDTH}x{HEIGHT} rasterized from scratch: "
        f"{scratch * 1e3:.1f} ms wall, {scratch_cpu * 1e3:.1f} ms CPU "
        f"(target < {TARGET_S * 1e3:.0f} ms) {verdict}"
    )
    return 0 if scratch < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
