"""maskops: operations, rasterization against independent geometry, exact undo/redo, grow."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gptimage_widgets import ValidationError, maskops
from gptimage_widgets.maskops import (
    Clear,
    Fill,
    Grow,
    Invert,
    Lasso,
    LoadMask,
    MaskDocument,
    Rect,
    Stroke,
    grow_mask,
    rasterize_ops,
)

settings.register_profile("maskops", max_examples=40, deadline=None)
PROFILE = settings.get_profile("maskops")

#: Pillow rounds polygon vertices to pixels: stroke edges may be off by this much (measured
#: 0.77 px over thousands of strokes; maskops documents 0.8 px).
EDGE_TOLERANCE = 1.0


def polyline_distance(points, width: int, height: int) -> np.ndarray:
    """Distance of every pixel centre to a polyline, (height, width) float."""
    yy, xx = np.mgrid[0:height, 0:width].astype(float)
    pts = np.asarray(points, dtype=float)
    segments = list(itertools.pairwise(pts)) or [(pts[0], pts[0])]
    best = np.full((height, width), np.inf)
    for p, q in segments:
        d = q - p
        length2 = float(d @ d)
        t = (
            0.0
            if length2 == 0
            else np.clip(((xx - p[0]) * d[0] + (yy - p[1]) * d[1]) / length2, 0, 1)
        )
        best = np.minimum(best, np.hypot(xx - (p[0] + t * d[0]), yy - (p[1] + t * d[1])))
    return best


def brute_force_grow(mask: np.ndarray, radius: int) -> np.ndarray:
    height, width = mask.shape
    yy, xx = np.mgrid[0:height, 0:width]
    out = np.zeros_like(mask)
    for y, x in zip(*np.nonzero(mask), strict=True):
        out |= (yy - y) ** 2 + (xx - x) ** 2 <= radius * radius
    return out


def assert_matches_up_to_edge(got: np.ndarray, distance: np.ndarray, radius: float) -> None:
    """``got`` equals ``distance <= radius`` except within EDGE_TOLERANCE of the edge."""
    expected = distance <= radius
    band = np.abs(distance - radius) <= EDGE_TOLERANCE
    assert np.array_equal(got[~band], expected[~band])
    # and most pixels within 1.5 px of the edge are right too (Pillow's rounding errs on a
    # minority of them; 1.5 px was this test's band before strokes became polygons)
    assert (got != expected).sum() <= 0.35 * (np.abs(distance - radius) <= 1.5).sum()


# --------------------------------------------------------------------------- operations


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: Stroke([(1, 2)], radius=0), "radius must be > 0"),
        (lambda: Stroke([(1, 2)], radius=float("nan")), "radius must be finite"),
        (lambda: Stroke([], radius=3), "at least 1 (x, y) pairs"),
        (lambda: Stroke([(1, 2, 3)], radius=3), "shape (1, 3)"),
        (lambda: Stroke([(1, float("inf"))], radius=3), "finite coordinates"),
        (lambda: Stroke("abc", radius=3), "(x, y) pairs"),
        (lambda: Lasso([(0, 0), (1, 1)]), "at least 3"),
        (lambda: Rect(0, 0, "x", 1), "x1 must be a number, got 'x'"),
        (lambda: Grow(2.5), "Grow pixels must be an integer"),
        (lambda: Grow(True), "Grow pixels must be an integer"),
        (lambda: LoadMask(np.zeros((2, 2, 3))), "got shape (2, 2, 3)"),
    ],
)
def test_bad_operations_raise_validation_errors_naming_the_value(make, fragment) -> None:
    with pytest.raises(ValidationError) as info:
        make()
    assert fragment in str(info.value)


def test_operations_are_frozen_and_normalized() -> None:
    stroke = Stroke(np.array([[1, 2], [3, 4]]), radius=2, erase=1)
    assert stroke.points == ((1.0, 2.0), (3.0, 4.0))
    assert stroke.erase is True
    assert stroke == Stroke([(1, 2), (3, 4)], 2.0, True)
    with pytest.raises(AttributeError):
        stroke.radius = 5  # type: ignore[misc]
    loaded = LoadMask(np.array([[0, 2], [1, 0]]))
    assert loaded.array.dtype == bool and not loaded.array.flags.writeable
    assert loaded.array.tolist() == [[False, True], [True, False]]


def test_document_rejects_bad_sizes_foreign_ops_and_mismatched_masks() -> None:
    with pytest.raises(ValidationError, match="width must be a positive integer, got 0"):
        MaskDocument(0, 5)
    doc = MaskDocument(4, 3)
    with pytest.raises(ValidationError, match="expected a mask operation"):
        doc.apply("stroke")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"shape \(4, 3\); this mask is \(H, W\) = \(3, 4\)"):
        doc.apply(LoadMask(np.zeros((4, 3))))
    assert doc.ops == ()


# --------------------------------------------------------------------------- rasterizing


@settings(PROFILE)
@given(
    points=st.lists(st.tuples(st.floats(-10, 90), st.floats(-10, 70)), min_size=1, max_size=5),
    radius=st.floats(0.6, 25),
)
def test_stroke_is_a_round_capped_polyline(points, radius) -> None:
    got = rasterize_ops(80, 60, [Stroke(points, radius)])
    assert_matches_up_to_edge(got, polyline_distance(points, 80, 60), radius)


def test_long_stroke_at_full_resolution_matches_distance() -> None:
    points = [(10.3, 20.7), (300.2, 150.1), (120.0, 230.5)]
    got = rasterize_ops(320, 240, [Stroke(points, 17.5)])
    distance = polyline_distance(points, 320, 240)
    assert_matches_up_to_edge(got, distance, 17.5)
    assert (got != (distance <= 17.5)).sum() < 0.05 * (distance <= 17.5).sum()


def wiggly_stroke(rng: np.random.Generator, origin: tuple[float, float]) -> Stroke:
    """A mouse-like polyline: 2-30 points, steps of 0.3-30 px, heading noise up to 1.5 rad."""
    count = int(rng.integers(2, 31))
    heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, rng.uniform(0.05, 1.5), count))
    steps = rng.uniform(0.3, 30, count)[:, None] * np.c_[np.cos(heading), np.sin(heading)]
    return Stroke(np.asarray(origin) + np.cumsum(steps, axis=0), rng.uniform(0.6, 60))


def test_wiggly_strokes_with_wide_brushes_stay_within_the_edge_tolerance() -> None:
    """Tight turns, brushes wider than the turns, loops and strokes leaving the image at the
    top left (Pillow truncates negative coordinates the wrong way): every pixel farther than
    EDGE_TOLERANCE from the exact edge is right, so polygons never fold into holes."""
    rng = np.random.default_rng(11)
    width, height = 160, 120
    for index in range(60):
        origin = (0.0, 0.0) if index % 4 == 0 else (80.0, 60.0)
        stroke = wiggly_stroke(rng, origin)
        got = rasterize_ops(width, height, [stroke])
        distance = polyline_distance(stroke.points, width, height)
        wrong = got != (distance <= stroke.radius)
        assert np.abs(distance[wrong] - stroke.radius).max(initial=0) <= EDGE_TOLERANCE


def test_strokes_rasterized_in_one_batch_equal_strokes_one_at_a_time() -> None:
    """The batched geometry (all strokes' vertices in shared arrays) must not mix strokes up."""
    rng = np.random.default_rng(4)
    strokes = [wiggly_stroke(rng, (60.0, 50.0)) for _ in range(12)]
    strokes += [
        Stroke([(10, 10)], 3),
        Stroke([(20, 20), (20, 20), (20, 20)], 2.5),  # one point, repeated
        Stroke([(30, 5), (30, 5), (70, 9)], 4, erase=True),
        Stroke([(5, 90), (50, 90), (5, 90)], 6),  # a full U-turn
    ]
    doc = MaskDocument(120, 100)
    for stroke in strokes:
        doc.apply(stroke)
        doc.mask  # noqa: B018 - read after each op: a batch of one
    assert np.array_equal(rasterize_ops(120, 100, strokes), doc.mask)


def test_eraser_stroke_clears_its_area_only() -> None:
    erase_points = [(5.0, 30.0), (75.0, 30.0)]
    got = rasterize_ops(80, 60, [Fill(), Stroke(erase_points, 8, erase=True)])
    distance = polyline_distance(erase_points, 80, 60)
    assert_matches_up_to_edge(~got, distance, 8)
    assert got[:15].all() and got[46:].all()


def test_rect_covers_pixel_centres_between_its_corners_in_any_order() -> None:
    got = rasterize_ops(20, 10, [Rect(12.5, 7.2, 3.4, 1.0)])
    expected = np.zeros((10, 20), bool)
    expected[1:8, 4:13] = True  # rows ceil(1.0)..floor(7.2), cols ceil(3.4)..floor(12.5)
    assert np.array_equal(got, expected)
    erased = rasterize_ops(20, 10, [Fill(), Rect(0, 0, 4, 4, erase=True)])
    assert erased.sum() == 200 - 25 and not erased[:5, :5].any()
    assert not rasterize_ops(20, 10, [Rect(3.2, 3.2, 3.8, 3.8)]).any()  # no centre inside


def test_lasso_fills_the_polygon() -> None:
    triangle = [(5.0, 5.0), (70.0, 10.0), (20.0, 55.0)]
    got = rasterize_ops(80, 60, [Lasso(triangle)])
    yy, xx = np.mgrid[0:60, 0:80].astype(float)
    # signed distance to each edge (positive inside for this counter-clockwise order)
    inside_by = []
    for (x0, y0), (x1, y1) in zip(triangle, [*triangle[1:], triangle[0]], strict=True):
        nx, ny = -(y1 - y0), x1 - x0
        inside_by.append(((xx - x0) * nx + (yy - y0) * ny) / math.hypot(nx, ny))
    margin = np.min(inside_by, axis=0)
    assert got[margin > 1].all()
    assert not got[margin < -1].any()


def test_fill_clear_invert_and_load() -> None:
    base = [Rect(0, 0, 4, 2)]
    assert rasterize_ops(10, 6, [*base, Fill()]).all()
    assert not rasterize_ops(10, 6, [*base, Clear()]).any()
    rect = rasterize_ops(10, 6, base)
    assert np.array_equal(rasterize_ops(10, 6, [*base, Invert()]), ~rect)
    target = np.random.default_rng(0).random((6, 10)) < 0.5
    assert np.array_equal(rasterize_ops(10, 6, [*base, LoadMask(target)]), target)


# --------------------------------------------------------------------------- grow / shrink

masks = st.integers(1, 22).flatmap(
    lambda h: st.integers(1, 30).flatmap(
        lambda w: st.lists(st.booleans(), min_size=h * w, max_size=h * w).map(
            lambda bits: np.array(bits, dtype=bool).reshape(h, w)
        )
    )
)


@settings(PROFILE)
@given(mask=masks, radius=st.integers(1, 8))
def test_grow_is_exact_euclidean_dilation(mask, radius) -> None:
    assert np.array_equal(grow_mask(mask, radius), brute_force_grow(mask, radius))


@settings(PROFILE)
@given(mask=masks, radius=st.integers(1, 8))
def test_shrink_is_the_complement_of_growing_the_complement(mask, radius) -> None:
    assert np.array_equal(grow_mask(mask, -radius), ~brute_force_grow(~mask, radius))


def shifted_or_grow(mask: np.ndarray, radius: int) -> np.ndarray:
    """Reference dilation: OR one shifted copy of the mask per offset of the digital disc."""
    out = mask.copy()
    height, width = mask.shape
    for dy in range(-min(radius, height - 1), min(radius, height - 1) + 1):
        reach = min(math.isqrt(radius * radius - dy * dy), width - 1)
        for dx in range(-reach, reach + 1):
            src = mask[max(0, -dy) : height - max(0, dy), max(0, -dx) : width - max(0, dx)]
            out[max(0, dy) : height - max(0, -dy), max(0, dx) : width - max(0, -dx)] |= src
    return out


@pytest.mark.parametrize("width", [63, 64, 65, 130, 200])
def test_grow_and_shrink_across_64_pixel_words(width) -> None:
    """Bits are packed 64 to a word: carries between words and the padding past the last
    column must not leak, also for radii wider than a word."""
    rng = np.random.default_rng(width)
    mask = rng.random((40, width)) < 0.02
    mask[5:15, width - 9 :] = True  # a block touching the right border
    for radius in (1, 5, 21, 70):
        assert np.array_equal(grow_mask(mask, radius), shifted_or_grow(mask, radius))
        assert np.array_equal(grow_mask(~mask, -radius), ~shifted_or_grow(mask, radius))


@pytest.mark.parametrize("tile_words", [30, 45])
def test_grow_in_row_tiles_equals_the_reference(monkeypatch, tile_words) -> None:
    """Large rasters are grown in row tiles, each with ``radius`` rows of context, written
    into the output (a document's own raster) in place: the seams between tiles must not
    show."""
    monkeypatch.setattr(maskops.grow, "_GROW_TILE_WORDS", tile_words)  # 10 or 15 rows of 3 words
    rng = np.random.default_rng(tile_words)
    mask = rng.random((97, 130)) < 0.03
    mask[40:60, 20:90] = True  # a block across the band seams
    for radius in (1, 4, 7):
        tiles = maskops.grow._row_tiles(97, 3, radius)
        assert len(tiles) > 1 and tiles[0][0] == 0 and tiles[-1][1] == 97
        assert all(a[1] == b[0] for a, b in itertools.pairwise(tiles))
        assert np.array_equal(grow_mask(mask, radius), shifted_or_grow(mask, radius))
        assert np.array_equal(grow_mask(~mask, -radius), ~shifted_or_grow(mask, radius))
    doc = MaskDocument(130, 97, [LoadMask(mask), Grow(5), Invert(), Grow(-2)])
    # invert, then shrink: ~grow(~~grow(mask, 5), 2)
    assert np.array_equal(doc.mask, ~shifted_or_grow(shifted_or_grow(mask, 5), 2))


def exact_op_model(mask: np.ndarray, op) -> np.ndarray:
    """Independent NumPy semantics of the ops that have exact answers."""
    if isinstance(op, Rect):
        out = mask.copy()
        ys = slice(max(0, math.ceil(min(op.y0, op.y1))), max(0, math.floor(max(op.y0, op.y1)) + 1))
        xs = slice(max(0, math.ceil(min(op.x0, op.x1))), max(0, math.floor(max(op.x0, op.x1)) + 1))
        out[ys, xs] = not op.erase
        return out
    if isinstance(op, (Fill, Clear)):
        return np.full_like(mask, isinstance(op, Fill))
    if isinstance(op, Invert):
        return ~mask
    if isinstance(op, Grow):
        if op.pixels >= 0:
            return shifted_or_grow(mask, op.pixels)
        return ~shifted_or_grow(~mask, -op.pixels)
    return op.array.copy()


@pytest.mark.parametrize("read_every", [1, 3, 1000])
def test_inversion_grow_and_erasing_agree_with_a_numpy_model(read_every) -> None:
    """Inversion is a flag on the raster: later rects, erasers and grows must honour it."""
    rng = np.random.default_rng(read_every)
    width, height = 70, 40
    doc = MaskDocument(width, height)
    expected = np.zeros((height, width), bool)
    for step in range(80):
        kind = rng.choice(["rect", "rect", "invert", "grow", "fill", "clear", "load"])
        if kind == "rect":
            x0, x1 = rng.uniform(-5, width + 5, 2)
            y0, y1 = rng.uniform(-5, height + 5, 2)
            op = Rect(x0, y0, x1, y1, erase=bool(rng.random() < 0.5))
        elif kind == "grow":
            op = Grow(int(rng.choice([-9, -2, -1, 1, 3, 30])))
        elif kind == "load":
            op = LoadMask(rng.random((height, width)) < 0.5)
        else:
            op = {"invert": Invert(), "fill": Fill(), "clear": Clear()}[str(kind)]
        doc.apply(op)
        expected = exact_op_model(expected, op)
        if step % read_every == 0:
            assert np.array_equal(doc.mask, expected)
    assert np.array_equal(doc.mask, expected)
    assert np.array_equal(np.asarray(doc.mask_image()) == 255, expected)
    assert doc.is_empty() == (not expected.any())


def test_an_inverted_raster_reports_emptiness_and_its_image_correctly() -> None:
    doc = MaskDocument(9, 7, [Fill(), Invert()])
    assert doc.is_empty() and not doc.mask.any()
    assert np.asarray(doc.mask_image()).max() == 0
    doc.apply(Rect(2, 2, 3, 3))
    assert not doc.is_empty() and doc.mask.sum() == 4
    assert np.asarray(doc.mask_image()).sum() == 4 * 255


def test_is_empty_after_undo_redo_invert_clear_and_erase() -> None:
    doc = MaskDocument(20, 10)
    assert doc.is_empty()
    doc.apply(Stroke([(3, 3), (8, 4)], 2))
    assert not doc.is_empty()
    doc.apply(Stroke([(3, 3), (8, 4)], 4, erase=True))  # erases every pixel of the stroke
    assert doc.is_empty() and not doc.mask.any()
    doc.undo()
    assert not doc.is_empty()
    doc.redo()
    assert doc.is_empty()
    doc.invert()
    assert not doc.is_empty() and doc.mask.all()
    doc.apply(Rect(-5, -5, 30, 30, erase=True))
    assert doc.is_empty()
    doc.undo()
    doc.clear()
    assert doc.is_empty()
    doc.undo()
    assert not doc.is_empty()
    doc.apply(Rect(100, 100, 200, 200))  # outside the image: selects nothing
    doc.clear()
    doc.apply(Rect(100, 100, 200, 200))
    assert doc.is_empty()
    doc.apply(Grow(-3))
    doc.apply(Grow(3))
    assert doc.is_empty()
    doc.load(np.eye(10, 20, dtype=bool))
    assert not doc.is_empty()
    doc.apply(Grow(-1))  # shrinking a one-pixel line removes it
    assert doc.is_empty() and not doc.mask.any()
    doc.fill()
    doc.apply(Lasso([(-9, -9), (40, -9), (40, 40), (-9, 40)], erase=True))
    assert doc.is_empty()


def test_is_empty_reads_no_pixels_when_the_operations_decide(monkeypatch) -> None:
    """Brush strokes on a non-empty mask, growing, undo and redo answer without reading the raster
    (no rasterizing, no copy of the mask); an eraser stroke reads it once."""
    reads: list = []
    real = maskops.document._raster_is_empty
    monkeypatch.setattr(maskops.document, "_raster_is_empty", lambda c: reads.append(1) or real(c))
    monkeypatch.setattr(maskops.raster._Canvas, "mask", lambda self: pytest.fail("mask copied"))
    doc = MaskDocument(64, 48)
    doc.apply(Rect(2, 2, 5, 5))
    for i in range(20):
        doc.apply(Stroke([(i, 3), (i + 9, 30)], 3))
        assert not doc.is_empty()
    doc.undo()
    doc.redo()
    doc.grow(2)
    assert not doc.is_empty() and reads == []
    doc.apply(Stroke([(0, 0), (60, 40)], 2, erase=True))
    assert not doc.is_empty() and not doc.is_empty() and reads == [1]


def test_strokes_drawn_with_imagedraws_public_methods_match_the_c_object(monkeypatch) -> None:
    """When Pillow's undocumented C drawing object is unavailable, strokes fall back to
    ImageDraw's documented polygon/point/ellipse: the same pixels."""
    rng = np.random.default_rng(11)
    ops = [
        Stroke(rng.uniform(-5, 70, (int(rng.integers(1, 12)), 2)), radius, erase=erase)
        for radius in (0.6, 1.5, 2.0, 3.5, 9.0)
        for erase in (False, True)
        for _ in range(4)
    ]
    ops.insert(len(ops) // 2, Invert())
    assert maskops.raster._CORE_DRAW  # this Pillow has it
    fast = rasterize_ops(64, 48, ops)
    monkeypatch.setattr(maskops.raster, "_CORE_DRAW", False)
    assert np.array_equal(rasterize_ops(64, 48, ops), fast)
    assert np.array_equal(MaskDocument(64, 48, ops).mask, fast)


def test_the_c_drawing_probe_says_no_when_the_object_is_missing_or_differs(monkeypatch) -> None:
    def missing(canvas, op, shape):
        raise AttributeError("'ImageDraw' object has no attribute 'draw'")

    def different(canvas, op, shape):
        canvas.pixels[0, 0] = 255

    assert maskops.raster._core_draw_works()
    for fake in (missing, different):
        monkeypatch.setattr(maskops.raster, "_draw_stroke_core", fake)
        assert not maskops.raster._core_draw_works()


def test_documents_work_when_pillow_copies_numpy_buffers(monkeypatch) -> None:
    """Another Pillow may copy a wrapped buffer before drawing: the canvas then reads the
    image instead of the buffer (maskops probes this once at import)."""
    ops = [Rect(2, 2, 30, 20), Stroke([(5, 5), (40, 30)], 4, erase=True), Invert(), Grow(2)]
    shared = rasterize_ops(48, 36, ops)
    monkeypatch.setattr(maskops.raster, "_SHARED", False)
    doc = MaskDocument(48, 36, ops)
    assert np.array_equal(doc.mask, shared)
    doc.undo()
    assert np.array_equal(doc.mask, rasterize_ops(48, 36, ops[:-1]))


def test_grow_edge_cases() -> None:
    empty = np.zeros((5, 7), bool)
    assert not grow_mask(empty, 3).any()
    assert grow_mask(~empty, -3).all()  # the image border does not eat a full mask
    dot = empty.copy()
    dot[2, 3] = True
    assert np.array_equal(grow_mask(dot, 0), dot) and grow_mask(dot, 0) is not dot
    assert grow_mask(dot, 1).sum() == 5  # the plus-shaped disc of radius 1
    assert grow_mask(dot, 100).all()


def test_grow_op_in_a_document() -> None:
    doc = MaskDocument(40, 30, [Rect(10, 10, 20, 15)])
    before = doc.mask
    doc.grow(3)
    assert np.array_equal(doc.mask, brute_force_grow(before, 3))
    doc.grow(-3)
    assert np.array_equal(doc.mask, ~brute_force_grow(~brute_force_grow(before, 3), 3))


# --------------------------------------------------------------------------- document


def random_op(rng: np.random.Generator, width: int, height: int):
    kind = rng.choice(
        ["stroke", "stroke", "stroke", "rect", "lasso", "invert", "grow", "fill", "clear", "load"]
    )
    if kind == "stroke":
        n = int(rng.integers(1, 5))
        points = np.c_[rng.uniform(0, width, n), rng.uniform(0, height, n)]
        return Stroke(points, rng.uniform(1, 8), erase=bool(rng.random() < 0.3))
    if kind == "rect":
        x0, x1 = rng.uniform(0, width, 2)
        y0, y1 = rng.uniform(0, height, 2)
        return Rect(x0, y0, x1, y1, erase=bool(rng.random() < 0.3))
    if kind == "lasso":
        return Lasso(np.c_[rng.uniform(0, width, 4), rng.uniform(0, height, 4)])
    if kind == "grow":
        return Grow(int(rng.integers(-3, 4)))
    if kind == "load":
        return LoadMask(rng.random((height, width)) < 0.3)
    return {"invert": Invert(), "fill": Fill(), "clear": Clear()}[str(kind)]


@pytest.mark.parametrize("checkpoint_every", [3, 1000])
def test_random_edit_sessions_undo_and_redo_exactly(monkeypatch, checkpoint_every) -> None:
    """Compare against a reference model: the mask always equals its ops rasterized afresh."""
    monkeypatch.setattr(maskops.document, "CHECKPOINT_EVERY_OPS", checkpoint_every)
    monkeypatch.setattr(maskops.document, "CHECKPOINT_BUDGET_S", 1e9)
    rng = np.random.default_rng(7)
    width, height = 45, 36  # not a multiple of 8: checkpoints pack bits with padding
    doc = MaskDocument(width, height)
    applied: list = []
    undone: list = []
    for _ in range(150):
        action = rng.choice(["apply", "apply", "undo", "redo"])
        if action == "apply":
            op = random_op(rng, width, height)
            doc.apply(op)
            applied.append(op)
            undone.clear()
        elif action == "undo":
            assert doc.can_undo == bool(applied)
            got = doc.undo()
            assert got is (applied[-1] if applied else None)
            if applied:
                undone.append(applied.pop())
        else:
            assert doc.can_redo == bool(undone)
            got = doc.redo()
            assert got is (undone[-1] if undone else None)
            if undone:
                applied.append(undone.pop())
        assert doc.ops == tuple(applied)
        expected = rasterize_ops(width, height, applied)
        assert np.array_equal(doc.mask, expected)
        assert doc.is_empty() == (not expected.any())
    assert np.array_equal(doc.rasterize(), doc.mask)


def test_appending_rasterizes_only_the_new_op_and_undo_replays_from_a_checkpoint(
    monkeypatch,
) -> None:
    monkeypatch.setattr(maskops.document, "CHECKPOINT_EVERY_OPS", 8)
    monkeypatch.setattr(maskops.document, "CHECKPOINT_BUDGET_S", 1e9)
    calls: list = []
    real = maskops.document._apply_op

    def counting(canvas, op, shape=None):
        calls.append(op)
        return real(canvas, op, shape)

    monkeypatch.setattr(maskops.document, "_apply_op", counting)
    doc = MaskDocument(64, 64)
    strokes = [Stroke([(i, i), (i + 5, 60 - i)], 2) for i in range(20)]
    for stroke in strokes:
        doc.apply(stroke)
    assert calls == []  # appending is lazy ...
    before = doc.mask
    assert calls == strokes  # ... and the read rasterizes each op once, in order
    assert doc.mask_image() is not None and calls == strokes  # nothing pending: no work
    calls.clear()
    doc.undo()  # 19 ops left: replay from the checkpoint at 16
    assert calls == []
    after_undo = doc.mask
    assert calls == strokes[16:19]
    calls.clear()
    doc.redo()
    assert np.array_equal(doc.mask, before) and calls == [strokes[19]]
    assert np.array_equal(after_undo, rasterize_ops(64, 64, strokes[:19]))


def test_undoing_an_op_that_was_never_rasterized_costs_nothing(monkeypatch) -> None:
    doc = MaskDocument(32, 32, [Rect(1, 1, 9, 9)])
    first = doc.mask
    doc.apply(Stroke([(20, 20)], 4))
    calls: list = []
    monkeypatch.setattr(maskops.document, "_apply_op", lambda *args: calls.append(args))
    doc.undo()
    assert np.array_equal(doc.mask, first) and calls == []


def test_replay_starts_at_the_last_reset_op(monkeypatch) -> None:
    monkeypatch.setattr(maskops.document, "CHECKPOINT_EVERY_OPS", 1000)
    monkeypatch.setattr(maskops.document, "CHECKPOINT_BUDGET_S", 1e9)
    doc = MaskDocument(32, 32, [Stroke([(i, 5)], 2) for i in range(10)])
    doc.apply(Clear())
    tail = [Rect(1, 1, 5, 5), Rect(8, 8, 12, 12)]
    for op in tail:
        doc.apply(op)
    doc.mask  # noqa: B018 - rasterize everything before counting
    calls: list = []
    real = maskops.document._apply_op
    monkeypatch.setattr(
        maskops.document,
        "_apply_op",
        lambda canvas, op, shape=None: calls.append(op) or real(canvas, op, shape),
    )
    doc.undo()
    doc.mask  # noqa: B018
    assert calls == [Clear(), tail[0]]


def test_new_op_after_undo_drops_redo_and_stale_checkpoints(monkeypatch) -> None:
    monkeypatch.setattr(maskops.document, "CHECKPOINT_EVERY_OPS", 2)
    doc = MaskDocument(30, 30)
    for i in range(6):
        doc.apply(Rect(i * 4, 0, i * 4 + 2, 29))
    for _ in range(3):
        doc.undo()
    doc.apply(Rect(0, 20, 29, 29))
    assert not doc.can_redo and doc.redo() is None
    doc.apply(Stroke([(15, 10)], 3))
    doc.undo()
    doc.undo()
    assert np.array_equal(doc.mask, rasterize_ops(30, 30, doc.ops))
    assert len(doc.ops) == 3


def test_mask_is_a_copy_and_version_counts_changes() -> None:
    doc = MaskDocument(8, 6)
    assert doc.shape == (6, 8) and doc.mask.shape == (6, 8) and doc.mask.dtype == bool
    assert doc.is_empty() and not doc.can_undo and doc.undo() is None
    doc.fill()
    assert not doc.is_empty()
    mask = doc.mask
    mask[:] = False
    assert doc.mask.all()
    doc.invert()
    doc.undo()
    doc.redo()
    assert doc.version == 4
    image = doc.mask_image()
    assert image.mode == "L" and image.size == (8, 6)
    assert repr(doc) == "MaskDocument(8x6, 2 ops, 0 redoable)"
