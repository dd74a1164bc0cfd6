"""The offline server's synthetic pictures: shapes, determinism, the sky gradient."""

from __future__ import annotations

import numpy as np
import pytest

from gptimage_widgets.offline import synth


@pytest.mark.parametrize("transparent", [False, True])
def test_sky_is_one_colour_per_row_from_top_to_horizon(transparent: bool) -> None:
    style = synth.scene_style("a clear day sky")
    sky = synth._sky(style, 37, 11, transparent)
    assert sky.shape == (11, 37, 4) and sky.dtype == np.uint8 and sky.flags.c_contiguous
    assert (sky == sky[:, :1]).all(), "every pixel of a row has the row's colour"
    assert tuple(sky[0, 0, :3]) == style.sky_top
    assert tuple(sky[-1, 0, :3]) == style.sky_horizon
    assert (sky[..., 3] == (0 if transparent else 255)).all()


@pytest.mark.parametrize(("width", "height"), [(1, 1), (17, 5), (256, 384)])
def test_pictures_are_contiguous_and_repeatable(width: int, height: int) -> None:
    opaque = synth.generate_image("a red barn at dusk", width, height)
    transparent = synth.generate_image("a red barn at dusk", width, height, transparent=True)
    assert opaque.shape == (height, width, 3) and opaque.flags.c_contiguous
    assert transparent.shape == (height, width, 4) and transparent.flags.c_contiguous
    assert opaque.dtype == transparent.dtype == np.uint8
    np.testing.assert_array_equal(opaque, synth.generate_image("a red barn at dusk", width, height))


def test_opaque_picture_is_the_transparent_one_over_its_sky() -> None:
    """Drawn things are opaque, so outside the sky the two renders agree pixel for pixel."""
    opaque = synth.generate_image("three blue boats", 96, 64)
    transparent = synth.generate_image("three blue boats", 96, 64, transparent=True)
    drawn = transparent[..., 3] == 255
    assert 0 < drawn.sum() < drawn.size
    np.testing.assert_array_equal(opaque[drawn], transparent[drawn][:, :3])
