"""The painter's view model: display <-> image mapping, zoom about a point, clamping, rendering."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from gptimage_widgets.widgets._painter_view import (
    MAX_SCALE,
    Pyramid,
    View,
    render,
    wheel_factor,
)

UHD = (3840, 2160)
UHD_DISPLAY = (768, 432)


def fit_4k() -> View:
    return View.fit(UHD, UHD_DISPLAY)


def assert_in_bounds(view: View) -> None:
    """The zoom is within bounds and no side shows a gap the image could fill."""
    assert view.min_scale * (1 - 1e-9) <= view.scale <= view.max_scale * (1 + 1e-9)
    left, top, right, bottom = view.visible
    for start, end, size in ((left, right, view.image_size[0]), (top, bottom, view.image_size[1])):
        if end - start >= size:  # larger than the image: centred
            assert start + end == pytest.approx(size)
        else:
            assert start >= -1e-9 and end <= size + 1e-9


# --------------------------------------------------------------------------- mapping


def test_fit_is_the_painters_original_mapping() -> None:
    view = View.fit((1536, 1024), (768, 512))
    assert (view.scale, view.left, view.top) == (0.5, 0.0, 0.0)
    assert view.is_fit
    assert view.to_image(100, 50) == (199.5, 99.5)  # x * sx - 0.5 with sx = 2
    assert view.to_image(0, 0) == (-0.5, -0.5)  # the canvas corner is the image's outer edge
    assert view.to_image(768, 512) == (1535.5, 1023.5)
    assert view.visible == (0.0, 0.0, 1536.0, 1024.0)


@pytest.mark.parametrize("scale", [0.2, 0.37, 1.0, 2.5, 4.0, 32.0])
def test_display_image_round_trips(scale: float) -> None:
    view = fit_4k().zoom_to(scale, center=(1234.5, 987.25))
    rng = np.random.default_rng(1)
    for x, y in rng.uniform(0, 768, size=(50, 2)):
        ix, iy = view.to_image(x, y)
        assert view.to_display(ix, iy) == pytest.approx((x, y), abs=1e-9)
        assert view.to_image(*view.to_display(ix, iy)) == pytest.approx((ix, iy), abs=1e-9)


def test_at_4x_one_image_pixel_is_4_display_pixels() -> None:
    view = fit_4k().zoom_to(4.0, center=(1919.5, 1079.5))
    assert view.scale == 4.0
    assert view.visible == (1824.0, 1026.0, 2016.0, 1134.0)  # 192 x 108 image pixels shown
    assert view.to_image(0, 0) == (1823.5, 1025.5)
    assert view.to_image(2, 2) == (1824.0, 1026.0)  # the centre of pixel (1824, 1026)
    x0, y0 = view.to_image(10, 6)
    x1, y1 = view.to_image(14, 10)
    assert (x1 - x0, y1 - y0) == (1.0, 1.0)


def test_a_canvas_wider_than_the_image_centres_it() -> None:
    view = View.fit((100, 400), (200, 200))  # fit: 0.5 display px per pixel, 50 px wide
    assert view.scale == 0.5
    assert view.visible == (-150.0, 0.0, 250.0, 400.0)
    crop = view.crop()
    assert crop.source == (0.0, 0.0, 100.0, 400.0)
    assert crop.dest == (75, 0, 125, 200)
    assert view.to_image(75, 0) == (-0.5, -0.5)


# --------------------------------------------------------------------------- zooming


@pytest.mark.parametrize("point", [(0, 0), (384, 216), (700.25, 30.5), (767, 431)])
@pytest.mark.parametrize("scale", [0.5, 1.0, 3.3, 8.0])
def test_zoom_about_a_point_keeps_it_fixed(point: tuple[float, float], scale: float) -> None:
    view = fit_4k().zoom_to(2.0, center=(1900, 1000))  # far from the edges: no clamping
    before = view.to_image(*point)
    zoomed = view.zoom_about(scale, *point)
    assert zoomed.scale == scale
    assert zoomed.to_image(*point) == pytest.approx(before, abs=1e-9)
    assert_in_bounds(zoomed)


def test_wheel_zooms_about_the_pointer_both_ways() -> None:
    view = fit_4k()
    point = (600.0, 100.0)
    under = view.to_image(*point)
    for _ in range(10):
        view = view.wheel(-100, *point)
    assert view.scale > 1.0
    assert view.to_image(*point) == pytest.approx(under, abs=1e-6)
    for _ in range(40):
        view = view.wheel(100, *point)
    assert view.is_fit and view == fit_4k()


def test_wheel_factor() -> None:
    assert wheel_factor(-300) == pytest.approx(2.0)  # 300 px of wheel doubles the zoom
    assert wheel_factor(100) == pytest.approx(2 ** (-1 / 3))
    assert wheel_factor(-10, pinch=True) > wheel_factor(-10)  # pinch deltas are finer
    assert wheel_factor(-100_000) == 2.0 and wheel_factor(100_000) == 0.5  # one step at most
    assert wheel_factor(float("nan")) == 1.0 and wheel_factor(0) == 1.0


def test_zoom_is_clamped_between_fit_and_the_maximum() -> None:
    view = fit_4k()
    assert view.zoom_to(0.01).scale == view.min_scale == 0.2
    assert view.zoom_to(1000).scale == MAX_SCALE
    assert view.zoom_about(1e-6, 10, 10) == view
    with pytest.raises(ValueError, match="positive number"):
        view.zoom_to(0)
    with pytest.raises(ValueError, match="positive number"):
        view.zoom_to(float("nan"))


def test_steps_land_on_levels_that_include_1_to_1_and_4x() -> None:
    view = fit_4k()
    scales = []
    for _ in range(20):
        view = view.step(1)
        scales.append(view.scale)
    assert scales[:4] == [0.25, pytest.approx(math.sqrt(0.125)), 0.5, pytest.approx(math.sqrt(0.5))]
    assert 1.0 in scales and 2.0 in scales and 4.0 in scales
    assert scales[-1] == MAX_SCALE
    between = fit_4k().zoom_to(3.0)
    assert between.step(1).scale == 4.0 and between.step(-1).scale == pytest.approx(2**1.5)
    out = fit_4k().zoom_to(0.3)
    assert out.step(-1).scale == 0.25 and out.step(-2).is_fit


def test_step_about_a_point_keeps_it() -> None:
    view = fit_4k().zoom_to(1.0, center=(2000, 1000))
    zoomed = view.step(2, at=(100, 300))
    assert zoomed.scale == 2.0
    assert zoomed.to_image(100, 300) == pytest.approx(view.to_image(100, 300))


def test_zoom_to_centers_a_point_and_keeps_the_centre_by_default() -> None:
    view = fit_4k().zoom_to(4.0, center=(1000.5, 700.5))
    assert view.center == pytest.approx((1000.5, 700.5))
    assert view.zoom_to(8.0).center == pytest.approx((1000.5, 700.5))


# --------------------------------------------------------------------------- panning, clamping


def test_pan_moves_the_image_with_the_drag() -> None:
    view = fit_4k().zoom_to(2.0, center=(1920, 1080))
    under = view.to_image(300, 200)
    moved = view.pan(40, -20)  # the image point under the pointer follows it
    assert moved.to_image(340, 180) == pytest.approx(under)


@pytest.mark.parametrize("scale", [0.2, 0.5, 1.0, 4.0, 32.0])
def test_clamping_keeps_the_image_on_the_canvas(scale: float) -> None:
    view = fit_4k().zoom_to(scale)
    for dx, dy in ((1e6, 0), (-1e6, 0), (0, 1e6), (0, -1e6), (1e6, 1e6), (-1e6, -1e6)):
        panned = view.pan(dx, dy)
        assert_in_bounds(panned)
        assert panned.scale == view.scale
    corner = view.zoom_to(scale, center=(0, 0))
    assert_in_bounds(corner)
    if scale > 0.2:
        assert corner.visible[:2] == (0.0, 0.0)  # the top-left corner, not beyond


def test_fit_cannot_pan() -> None:
    assert fit_4k().pan(100, 100) == fit_4k()


def test_resized_keeps_zoom_and_centre() -> None:
    view = fit_4k().zoom_to(2.0, center=(1000.5, 600.5))
    bigger = view.resized((1024, 576))
    assert bigger.scale == 2.0 and bigger.center == pytest.approx((1000.5, 600.5))
    assert fit_4k().resized((1024, 576)).is_fit


def test_fit_rejects_empty_sizes() -> None:
    with pytest.raises(ValueError, match="display_size"):
        View.fit((10, 10), (0, 5))


# --------------------------------------------------------------------------- rendering


def gradient(width: int, height: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([xx % 256, yy % 256, (xx // 256 + yy // 256) % 256], -1).astype(np.uint8)


def test_render_at_fit_is_a_plain_resize() -> None:
    pixels = gradient(1536, 1024)
    image = Image.fromarray(pixels).convert("RGBA")
    view = View.fit((1536, 1024), (768, 512))
    shown = render(Pyramid(image), view, down=Image.Resampling.LANCZOS)
    expected = np.asarray(image.resize((768, 512), Image.Resampling.LANCZOS))
    assert np.array_equal(shown, expected)


@pytest.mark.parametrize("scale", [1.0, 2.0, 4.0])
def test_render_zoomed_in_shows_the_exact_pixels(scale: float) -> None:
    pixels = gradient(*UHD)
    view = fit_4k().zoom_to(scale, center=(1234, 777))
    shown = render(Image.fromarray(pixels), view, down=Image.Resampling.LANCZOS)
    assert shown.shape == (432, 768, 3)
    for x, y in ((0, 0), (5, 9), (383, 215), (767, 431)):  # each canvas pixel: the image
        ix, iy = view.to_image(x + 0.5, y + 0.5)  # pixel under its centre
        assert tuple(shown[y, x]) == tuple(pixels[math.floor(iy + 0.5), math.floor(ix + 0.5)])


def test_render_of_a_mask_at_4x_is_nearest_blocks() -> None:
    mask = np.zeros(UHD[::-1], np.uint8)
    mask[1000, 2000] = 255  # one pixel
    view = fit_4k().zoom_to(4.0, center=(2000, 1000))
    shown = render(Image.fromarray(mask), view, down=Image.Resampling.BOX)
    x, y = view.to_display(2000 - 0.5, 1000 - 0.5)  # the pixel's top-left corner
    assert (x, y) == (382.0, 214.0)
    assert shown.sum() == 16 * 255 and (shown[214:218, 382:386] == 255).all()


def test_render_zoomed_out_from_the_pyramid_is_close_to_a_direct_resize() -> None:
    rng = np.random.default_rng(2)
    pixels = np.repeat(np.repeat(rng.integers(0, 256, (270, 480, 3), np.uint8), 8, 0), 8, 1)
    image = Image.fromarray(pixels)
    view = fit_4k().zoom_to(0.3, center=(1500, 1000))
    fast = render(Pyramid(image), view, down=Image.Resampling.LANCZOS)
    left, top, right, bottom = view.crop().source
    direct = np.asarray(
        image.resize(UHD_DISPLAY, Image.Resampling.LANCZOS, box=(left, top, right, bottom))
    )
    assert np.abs(fast.astype(int) - direct.astype(int)).mean() < 4


def test_render_leaves_the_margin_empty_and_checks_the_size() -> None:
    view = View.fit((100, 400), (200, 200))
    shown = render(Image.new("L", (100, 400), 255), view, down=Image.Resampling.BOX)
    assert (shown[:, 75:125] == 255).all() and (shown[:, :75] == 0).all()
    assert (shown[:, 125:] == 0).all()
    with pytest.raises(ValueError, match="the view is for"):
        render(Image.new("L", (10, 10)), view, down=Image.Resampling.BOX)


def test_pyramid_levels() -> None:
    pyramid = Pyramid(Image.new("L", UHD))
    assert pyramid.level_for(1.0)[1] == 1 and pyramid.level_for(0.6)[1] == 1
    level, factor = pyramid.level_for(0.2)
    assert factor == 4 and level.size == (960, 540)
    assert pyramid.level_for(0.5)[1] == 2
