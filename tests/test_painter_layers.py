"""The painter's canvas layers without ipycanvas' private draw-command API (the fallback)."""

from __future__ import annotations

import numpy as np
import pytest
from ipycanvas import Canvas

from gptimage_widgets import MaskPainter
from gptimage_widgets.widgets import _painter_layers


def _photo(height: int = 48, width: int = 64) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_the_private_api_is_used_when_present() -> None:
    assert _painter_layers._private_send(Canvas(width=4, height=4)) is not None


def test_without_the_private_api_the_public_put_image_data_draws_the_same_pixels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_painter_layers, "_COMMANDS", {})  # an ipycanvas without the table
    drawn: list[np.ndarray] = []
    real = Canvas.put_image_data

    def spy(self: Canvas, image_data: np.ndarray, x: int = 0, y: int = 0) -> None:
        drawn.append(np.array(image_data))
        real(self, image_data, x, y)

    monkeypatch.setattr(Canvas, "put_image_data", spy)
    image = _photo()
    painter = MaskPainter(image, remember_settings=False)
    painter.redraw()  # what a page connecting asks for
    assert drawn, "the image layer was drawn through the public API"
    first = drawn[0]
    assert first.dtype == np.uint8 and first.shape == (*image.shape[:2], 4)
    np.testing.assert_array_equal(first[..., :3], image)  # lossless: PNG decoded back
    assert (first[..., 3] == 255).all()
    drawn.clear()
    painter.set_mask(np.ones(image.shape[:2], bool))
    assert drawn and drawn[-1].shape == (*image.shape[:2], 4)  # the overlay too
    assert (drawn[-1][..., 3] > 0).all()
