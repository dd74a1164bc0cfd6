"""Gallery widget, driven without a browser (traits, button clicks, callbacks)."""

from __future__ import annotations

import numpy as np
import pytest

from gptimage_widgets.errors import ValidationError
from gptimage_widgets.imaging import decode_image, sniff_format
from gptimage_widgets.results import ImageResult
from gptimage_widgets.widgets._display import display_bytes, thumbnail
from gptimage_widgets.widgets.gallery import Gallery


def gradient(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A deterministic (H, W, C) uint8 test image with structure in both directions."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    base = np.stack([y + 0 * x, x + 0 * y, (x + y) / 2, 200 + 0 * (x + y)], axis=-1)
    noise = rng.integers(0, 16, size=(height, width, 4))
    return np.clip(base + noise, 0, 255).astype(np.uint8)[..., :channels]


def result_of(*images: np.ndarray, prompt: str = "a red fox") -> ImageResult:
    return ImageResult(
        images=list(images),
        model="gpt-image-2",
        operation="generate",
        request={"prompt": prompt},
        cost_usd=0.053,
    )


def shown_size(image_widget) -> tuple[int, int]:
    """(width, height) of what an ipywidgets.Image actually sends to the browser."""
    decoded = decode_image(bytes(image_widget.value))
    return decoded.shape[1], decoded.shape[0]


def tile_image(gallery: Gallery, index: int):
    return gallery._tiles[index].children[0]


# --------------------------------------------------------------------------- helpers


def test_thumbnail_keeps_aspect_and_never_upscales():
    big = gradient(300, 1200)
    small = thumbnail(big, 160)
    assert small.shape == (40, 160, 3)
    tiny = gradient(50, 60)
    assert thumbnail(tiny, 160) is tiny


def test_display_bytes_jpeg_for_rgb_png_for_rgba():
    rgb_data, rgb_fmt = display_bytes(gradient(400, 400), 100)
    rgba_data, rgba_fmt = display_bytes(gradient(400, 400, 4), 100)
    assert (rgb_fmt, sniff_format(rgb_data)) == ("jpeg", "jpeg")
    assert (rgba_fmt, sniff_format(rgba_data)) == ("png", "png")
    assert decode_image(rgba_data).shape == (100, 100, 4)


# --------------------------------------------------------------------------- adding


def test_large_images_send_only_small_thumbnails_and_preview():
    big = gradient(2160, 3840)  # a 4K result
    gallery = Gallery([result_of(big)], thumb_edge=160, preview_edge=768)
    assert len(gallery) == 1
    assert shown_size(tile_image(gallery, 0)) == (160, 90)
    assert len(tile_image(gallery, 0).value) < 20_000  # kilobytes, not a 4K PNG
    preview = gallery._preview.children[0]
    assert shown_size(preview) == (768, 432)
    # the full resolution stays in Python
    assert gallery.items[0].image is big or np.array_equal(gallery.items[0].image, big)


def test_add_result_adds_every_image_with_result_and_index():
    first, second = gradient(64, 64, seed=1), gradient(64, 96, seed=2)
    result = result_of(first, second, prompt="two cats")
    gallery = Gallery()
    indices = gallery.add(result)
    assert indices == [0, 1]
    assert [item.index for item in gallery.items] == [0, 1]
    assert all(item.result is result for item in gallery.items)
    assert np.array_equal(gallery.items[1].image, second)
    assert gallery.items[1].size == (96, 64)
    assert gallery.items[0].title == "two cats"
    assert gallery.selected == 0
    assert "two cats" in gallery._caption.value and "$0.053" in gallery._caption.value


def test_add_accepts_plain_arrays_and_batches():
    gallery = Gallery()
    batch = np.random.default_rng(3).random((3, 32, 48, 3)).astype(np.float32)
    assert gallery.add(batch, title="batch") == [0, 1, 2]
    assert gallery.items[2].image.dtype == np.uint8
    assert gallery.items[2].image.shape == (32, 48, 3)
    assert gallery.items[0].result is None


def test_add_rejects_garbage_with_validation_error():
    gallery = Gallery()
    with pytest.raises(ValidationError):
        gallery.add(12345)
    assert len(gallery) == 0


# --------------------------------------------------------------------------- selection


def test_clicking_a_tile_selects_and_enlarges_it():
    gallery = Gallery([result_of(gradient(80, 40, seed=1)), result_of(gradient(64, 64, seed=2))])
    assert gallery.selected == 1  # the newest result is shown
    gallery._select_buttons[0].click()
    assert gallery.selected == 0
    assert gallery._select_buttons[0].button_style == "info"
    assert gallery._select_buttons[1].button_style == ""
    assert shown_size(gallery._preview.children[0]) == (40, 80)
    assert np.array_equal(gallery.selected_image, gallery.items[0].image)


def test_selected_out_of_range_is_a_validation_error():
    gallery = Gallery([result_of(gradient(16, 16))])
    with pytest.raises(ValidationError, match="out of range"):
        gallery.selected = 5
    gallery.selected = -1
    assert gallery.selected == 0


def test_actions_are_disabled_without_selection():
    gallery = Gallery()
    assert gallery._edit_button.disabled and gallery._save_button.disabled
    with pytest.raises(ValidationError, match="no image is selected"):
        gallery.send_to_painter()
    gallery.add(gradient(16, 16))
    assert not gallery._edit_button.disabled


# --------------------------------------------------------------------------- hand-offs


def test_edit_this_and_use_as_reference_call_back_with_full_resolution():
    images = [gradient(600, 900, seed=s) for s in range(2)]
    gallery = Gallery([result_of(*images)])
    to_painter: list[np.ndarray] = []
    to_reference: list[np.ndarray] = []
    gallery.on_send_to_painter(to_painter.append)
    gallery.on_use_as_reference(to_reference.append)
    gallery.selected = 1
    gallery._edit_button.click()
    gallery._reference_button.click()
    assert len(to_painter) == len(to_reference) == 1
    assert np.array_equal(to_painter[0], images[1])
    assert np.array_equal(to_reference[0], images[1])
    gallery.on_send_to_painter(to_painter.append, remove=True)
    gallery._edit_button.click()
    assert len(to_painter) == 1


# --------------------------------------------------------------------------- save


def test_save_writes_only_the_selected_image(tmp_path):
    images = [gradient(40, 50, seed=s) for s in range(3)]
    result = result_of(*images)
    gallery = Gallery([result])
    gallery.selected = 2
    paths = gallery.save(tmp_path / "pick.png")
    assert paths == [tmp_path / "pick.png"]
    assert np.array_equal(decode_image(paths[0].read_bytes()), images[2])
    assert len(result.images) == 3  # the result itself is untouched


def test_save_button_uses_the_path_box_and_reports(tmp_path):
    image = gradient(30, 30, seed=4)
    gallery = Gallery([image])
    gallery._save_path.value = str(tmp_path / "out")
    gallery._save_button.click()
    saved = sorted((tmp_path / "out").iterdir())
    assert len(saved) == 1
    assert np.array_equal(decode_image(saved[0].read_bytes()), image)
    assert "Saved" in gallery._status.value


def test_save_error_is_shown_not_raised(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    gallery = Gallery([gradient(8, 8)])
    gallery._save_path.value = str(blocker / "inside" / "x.png")
    gallery._save_button.click()
    assert "color:#b00020" in gallery._status.value


# --------------------------------------------------------------------------- compare


def test_compare_keeps_the_last_two_ticked_and_shows_them_side_by_side():
    gallery = Gallery([gradient(64, 64, seed=s) for s in range(3)])
    for index in (0, 1, 2):
        gallery._compare_boxes[index].value = True
    assert gallery.compare_selection == [1, 2]
    assert gallery._compare_boxes[0].value is False
    assert not gallery._compare_button.disabled
    gallery._compare_button.click()
    assert len(gallery._preview.children) == 2
    assert "#1" in gallery._caption.value and "#2" in gallery._caption.value


def test_compare_needs_two_images():
    gallery = Gallery([gradient(8, 8)])
    gallery._compare_boxes[0].value = True
    assert gallery._compare_button.disabled
    with pytest.raises(ValidationError, match="two images"):
        gallery.compare()
    assert gallery.compare(0, 0) == (0, 0)


def test_clear_empties_everything():
    gallery = Gallery([gradient(8, 8), gradient(8, 8)])
    gallery.clear()
    assert len(gallery) == 0 and gallery.selected is None
    assert gallery._thumbs.children == () and gallery._preview.children == ()


# --------------------------------------------------------------------------- history


def test_from_history_shows_saved_entries(tmp_path):
    from gptimage_widgets.history import HistoryStore

    store = HistoryStore(tmp_path)
    fox = result_of(gradient(32, 32, seed=1), prompt="a fox")
    owl = result_of(gradient(32, 48, seed=2), gradient(32, 48, seed=3), prompt="an owl")
    store.save(fox)
    store.save(owl)

    everything = Gallery.from_history(store)
    assert len(everything) == 3
    shown = {item.image.tobytes() for item in everything.items}
    assert shown == {im.tobytes() for im in (*fox.images, *owl.images)}

    owls = Gallery.from_history(store, "owl")
    assert len(owls) == 2
    assert all(item.title == "an owl" for item in owls.items)
