"""MaskPainter without a browser: events fired the way ipycanvas delivers them, wire inspected.

Mouse and key events go through ``_handle_frontend_event`` of the top canvas (the one ipycanvas
routes a MultiCanvas' events to). What the kernel sends to the page is recorded at the canvas
manager's ``send`` and decoded, so the tests see exactly which draw commands and image buffers
would cross the wire.
"""

from __future__ import annotations

import io
import itertools
import json

import numpy as np
import pytest
from ipycanvas.canvas import _CANVAS_MANAGER, COMMANDS
from PIL import Image

from gptimage_widgets import ValidationError
from gptimage_widgets.imaging import decode_image, mask_to_openai_png
from gptimage_widgets.maskops import Grow, Rect, Stroke, grow_mask, rasterize_ops
from gptimage_widgets.widgets.painter import MaskPainter

COMMAND_NAMES = {index: name for name, index in COMMANDS.items()}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Pillow rounds outline coordinates: stroke edges may be off by this much (see test_maskops).
EDGE_TOLERANCE = 1.5


class Wire:
    """Everything the canvas manager sends to the page, decoded into draw commands."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.messages: list[list[bytes]] = []
        real_send = _CANVAS_MANAGER.send

        def send(content, buffers=None):
            self.messages.append([bytes(b) for b in buffers or []])
            real_send(content, buffers)

        monkeypatch.setattr(_CANVAS_MANAGER, "send", send)
        monkeypatch.setattr(_CANVAS_MANAGER, "_current_canvas", None)  # next send names its canvas

    def clear(self) -> None:
        self.messages.clear()
        _CANVAS_MANAGER._current_canvas = None

    @property
    def nbytes(self) -> int:
        return sum(len(b) for buffers in self.messages for b in buffers)

    def commands(self) -> list[tuple[str, str, list, list[bytes]]]:
        """(canvas model id, command name, args, buffers) for every command sent."""
        out = []
        canvas = ""
        for buffers in self.messages:
            decoded = json.loads(buffers[0])
            batch = decoded if decoded and isinstance(decoded[0], list) else [decoded]
            data = iter(buffers[1:])
            for command in batch:
                name = COMMAND_NAMES[command[0]]
                if name == "switchCanvas":
                    canvas = command[1][0].removeprefix("IPY_MODEL_")
                    continue
                count = command[2] if len(command) > 2 else 0
                out.append((canvas, name, command[1], list(itertools.islice(data, count))))
        return out

    def images_put_on(self, layer) -> list[np.ndarray]:
        """The decoded images sent with put_image_data to ``layer``."""
        return [
            np.asarray(Image.open(io.BytesIO(buffers[0])))
            for canvas, name, _, buffers in self.commands()
            if canvas == layer.model_id and name == "putImageData"
        ]

    def count(self, name: str) -> int:
        return sum(1 for _, n, _, _ in self.commands() if n == name)


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    return Wire(monkeypatch)


@pytest.fixture
def image() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(1024, 1536, 3), dtype=np.uint8)


@pytest.fixture
def painter(image: np.ndarray) -> MaskPainter:
    return MaskPainter(image, brush_size=40)


def fire(painter: MaskPainter, event: str, x: float, y: float) -> None:
    painter.canvas[-1]._handle_frontend_event(None, {"event": event, "x": x, "y": y}, [])


def drag(painter: MaskPainter, points: list[tuple[float, float]]) -> None:
    fire(painter, "mouse_down", *points[0])
    for point in points[1:]:
        fire(painter, "mouse_move", *point)
    fire(painter, "mouse_up", *points[-1])


def press(painter: MaskPainter, key: str, *, shift=False, ctrl=False, meta=False) -> None:
    content = {
        "event": "key_down",
        "key": key,
        "shift_key": shift,
        "ctrl_key": ctrl,
        "meta_key": meta,
    }
    painter.canvas[-1]._handle_frontend_event(None, content, [])


def to_image(points, scale: float = 2.0) -> list[tuple[float, float]]:
    """Display -> image pixel coordinates, written out independently of the painter."""
    return [(x * scale - 0.5, y * scale - 0.5) for x, y in points]


def polyline_distance(points, width: int, height: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    best = np.full((height, width), np.inf, dtype=np.float32)
    pts = np.asarray(points, dtype=float)
    for p, q in list(itertools.pairwise(pts)) or [(pts[0], pts[0])]:
        d = q - p
        length2 = float(d @ d)
        t = (
            0.0
            if length2 == 0
            else np.clip(((xx - p[0]) * d[0] + (yy - p[1]) * d[1]) / length2, 0, 1)
        )
        best = np.minimum(best, np.hypot(xx - (p[0] + t * d[0]), yy - (p[1] + t * d[1])))
    return best


def assert_stroke_raster(mask: np.ndarray, points, radius: float) -> None:
    distance = polyline_distance(points, mask.shape[1], mask.shape[0])
    expected = distance <= radius
    band = np.abs(distance - radius) <= EDGE_TOLERANCE
    assert np.array_equal(mask[~band], expected[~band])
    assert (mask != expected).sum() <= 0.35 * band.sum()


# --------------------------------------------------------------------------- building


def test_builds_at_display_size_and_keeps_full_resolution(painter, image) -> None:
    assert painter.display_size == (768, 512)
    assert (painter.canvas.width, painter.canvas.height) == (768, 512)
    assert all((c.width, c.height) == (768, 512) for c in painter.layers)
    assert len(painter.layers) == 3
    with pytest.raises(IndexError):  # and the MultiCanvas has no fourth layer
        painter.canvas[3]
    assert painter.mask.shape == (1024, 1536) and painter.mask.dtype == bool
    assert not painter.mask.any()
    assert np.array_equal(painter.image, image)
    assert not painter.image.flags.writeable
    assert painter.to_image_coords(100, 50) == (199.5, 99.5)


@pytest.mark.parametrize(
    ("size", "display"), [((256, 256), (256, 256)), ((3840, 2160), (768, 432))]
)
def test_small_and_4k_images(size, display) -> None:
    width, height = size
    painter = MaskPainter(np.zeros((height, width, 3), np.uint8))
    assert painter.display_size == display
    scale = width / display[0]
    drag(painter, [(10, 10), (60, 40)])
    assert painter.mask.shape == (height, width)
    points = to_image([(10, 10), (60, 40)], scale)
    assert painter.document.ops == (Stroke(points, painter.brush_size / 2),)
    assert np.array_equal(painter.mask, rasterize_ops(width, height, painter.document.ops))


def test_accepts_pil_images_paths_and_bytes(tmp_path, image) -> None:
    path = tmp_path / "in.png"
    Image.fromarray(image[:64, :96]).save(path)
    for source in (Image.open(path), path, path.read_bytes()):
        assert np.array_equal(MaskPainter(source).image, image[:64, :96])
    with pytest.raises(ValidationError):
        MaskPainter("not an image at all")
    with pytest.raises(ValidationError, match="max_display"):
        MaskPainter(image, max_display=0)


# --------------------------------------------------------------------------- painting


def test_brush_stroke_at_display_scale_gives_the_full_resolution_raster(painter) -> None:
    display_points = [(100, 100), (180, 130), (300, 200)]
    drag(painter, display_points)
    assert painter.document.ops == (Stroke(to_image(display_points), 20.0),)
    assert_stroke_raster(painter.mask, to_image(display_points), 20.0)


def test_events_through_the_multicanvas_comm_reach_the_painter(painter) -> None:
    for event, x, y in [("mouse_down", 10, 10), ("mouse_move", 50, 10), ("mouse_up", 50, 10)]:
        painter.canvas._handle_custom_msg({"event": event, "x": x, "y": y}, [])
    assert painter.document.ops == (Stroke(to_image([(10, 10), (50, 10)]), 20.0),)


def test_a_click_paints_a_disc_and_tiny_moves_add_no_points(painter) -> None:
    drag(painter, [(200, 200), (200.2, 200.1)])
    (op,) = painter.document.ops
    assert op.points == ((399.5, 399.5),)
    assert_stroke_raster(painter.mask, [(399.5, 399.5)], 20.0)


def test_eraser_removes_paint(painter) -> None:
    painter.tool_buttons.value = "rect"
    drag(painter, [(0, 0), (768, 512)])  # the far edges of the canvas
    painter.tool_buttons.value = "eraser"
    painter.brush_size = 60
    drag(painter, [(100, 256), (600, 256)])
    erased = ~painter.mask
    assert_stroke_raster(erased, to_image([(100, 256), (600, 256)]), 30.0)


def test_rectangle_tool(painter) -> None:
    painter.tool_buttons.value = "rect"
    drag(painter, [(200, 150), (120, 170), (50, 60)])  # corners in any order
    expected = np.zeros((1024, 1536), bool)
    expected[120:300, 100:400] = True  # y: ceil(119.5)..floor(299.5), x: ceil(99.5)..floor(399.5)
    assert np.array_equal(painter.mask, expected)
    assert painter.document.ops == (Rect(399.5, 299.5, 99.5, 119.5),)


def test_lasso_tool(painter) -> None:
    painter.tool_buttons.value = "lasso"
    outline = [(100, 100), (400, 120), (250, 400)]
    drag(painter, [*outline, (100, 101)])
    yy, xx = np.mgrid[0:1024, 0:1536].astype(np.float32)
    corners = to_image(outline)
    margins = []
    for (x0, y0), (x1, y1) in zip(corners, [*corners[1:], corners[0]], strict=True):
        nx, ny = -(y1 - y0), x1 - x0
        margins.append(((xx - x0) * nx + (yy - y0) * ny) / np.hypot(nx, ny))
    margin = np.min(margins, axis=0)
    mask = painter.mask
    assert mask[margin > 2].all() and not mask[margin < -2].any()


def test_leaving_the_canvas_mid_stroke_commits_it(painter) -> None:
    fire(painter, "mouse_down", 10, 10)
    fire(painter, "mouse_move", 40, 10)
    fire(painter, "mouse_out", 80, 10)
    assert painter.document.ops == (Stroke(to_image([(10, 10), (40, 10), (80, 10)]), 20.0),)
    fire(painter, "mouse_up", 90, 10)  # the up outside the canvas changes nothing
    assert len(painter.document.ops) == 1


# --------------------------------------------------------------------------- history & tools


def test_undo_redo_buttons_and_shortcuts(painter) -> None:
    drag(painter, [(10, 10), (100, 10)])
    first = painter.mask
    drag(painter, [(10, 300), (100, 300)])
    second = painter.mask
    painter.undo_button.click()
    assert np.array_equal(painter.mask, first)
    painter.redo_button.click()
    assert np.array_equal(painter.mask, second)
    press(painter, "z", ctrl=True)
    assert np.array_equal(painter.mask, first)
    press(painter, "Z", ctrl=True, shift=True)
    assert np.array_equal(painter.mask, second)
    press(painter, "z", meta=True)
    press(painter, "z", meta=True)
    assert not painter.mask.any() and painter.undo_button.disabled
    press(painter, "y", ctrl=True)
    assert np.array_equal(painter.mask, first)
    press(painter, "z")  # no modifier: not an undo
    assert np.array_equal(painter.mask, first)


def test_clear_invert_grow_shrink(painter) -> None:
    painter.tool_buttons.value = "rect"
    drag(painter, [(100, 100), (200, 150)])
    rect = painter.mask
    painter.invert_button.click()
    assert np.array_equal(painter.mask, ~rect)
    painter.invert()
    painter.grow_box.value = 7
    painter.grow_button.click()
    assert np.array_equal(painter.mask, grow_mask(rect, 7))
    painter.shrink_button.click()
    assert np.array_equal(painter.mask, grow_mask(grow_mask(rect, 7), -7))
    assert painter.document.ops[-2:] == (Grow(7), Grow(-7))
    painter.clear_button.click()
    assert not painter.mask.any()
    painter.undo()
    assert painter.mask.any()


def test_brush_size_keys_and_tool_keys(painter) -> None:
    press(painter, "]")
    assert painter.brush_size == 46  # + 15 %
    press(painter, "[")
    assert painter.brush_size == 39
    painter.brush_size = 1
    press(painter, "[")
    assert painter.brush_size == 1  # clamped at the slider's minimum
    for key, tool in [("e", "eraser"), ("r", "rect"), ("l", "lasso"), ("b", "brush")]:
        press(painter, key)
        assert painter.tool_buttons.value == tool


def test_mask_version_counts_every_change(painter) -> None:
    seen = []
    painter.observe(lambda change: seen.append(change["new"]), "mask_version")
    drag(painter, [(10, 10), (50, 50)])
    painter.undo()
    painter.redo()
    painter.invert()
    painter.set_mask(np.zeros((1024, 1536), bool))
    fire(painter, "mouse_move", 30, 30)  # hovering changes nothing
    assert seen == [1, 2, 3, 4, 5]


# --------------------------------------------------------------------------- masks in/out


def test_mask_png_is_openais_convention(painter) -> None:
    painter.tool_buttons.value = "rect"
    drag(painter, [(10, 10), (60, 40)])
    rgba = decode_image(painter.mask_png())
    assert rgba.shape == (1024, 1536, 4)
    assert np.array_equal(rgba[:, :, 3] == 0, painter.mask)


def test_set_mask_from_array_and_png_and_errors(painter) -> None:
    target = np.zeros((1024, 1536), bool)
    target[100:400, 300:900] = True
    painter.set_mask(target.astype(np.uint8))
    assert np.array_equal(painter.mask, target)
    painter.clear()
    painter.set_mask(mask_to_openai_png(target))
    assert np.array_equal(painter.mask, target)
    painter.undo()
    assert not painter.mask.any()
    with pytest.raises(ValidationError):
        painter.set_mask(np.zeros((10, 10), bool))
    initial = MaskPainter(np.zeros((64, 96, 3), np.uint8), mask=np.ones((64, 96), bool))
    assert initial.mask.all()


def test_set_image_resets_the_mask_and_resizes(painter, wire) -> None:
    drag(painter, [(10, 10), (50, 50)])
    wire.clear()
    painter.set_image(np.zeros((300, 200, 4), np.uint8))
    assert painter.display_size == (200, 300)
    assert painter.mask.shape == (300, 200) and not painter.mask.any()
    assert painter.document.ops == ()
    (sent,) = wire.images_put_on(painter.canvas[0])
    assert sent.shape == (300, 200, 4)


# --------------------------------------------------------------------------- the wire


def test_client_ready_sends_the_image_once_as_rgba_png(painter, wire, image) -> None:
    assert wire.messages == []  # nothing is drawn before a page asks
    fire(painter, "client_ready", 0, 0)
    (sent,) = wire.images_put_on(painter.canvas[0])
    assert sent.shape == (512, 768, 4)  # RGBA: ipycanvas would send RGB as lossy JPEG
    expected = np.asarray(Image.fromarray(image).convert("RGBA").resize((768, 512), Image.LANCZOS))
    assert np.array_equal(sent, expected)  # PNG is lossless
    image_buffers = [b for _, n, _, bufs in wire.commands() if n == "putImageData" for b in bufs]
    assert all(b.startswith(PNG_SIGNATURE) for b in image_buffers)
    assert len(wire.messages) == 1  # batched with hold_canvas


def test_strokes_send_cheap_commands_and_never_the_image(painter, wire) -> None:
    fire(painter, "client_ready", 0, 0)
    image_bytes = wire.nbytes
    wire.clear()
    drag(painter, [(100 + 5 * i, 100 + 3 * i) for i in range(40)])
    assert wire.count("putImageData") == 0
    lines = ("strokeLine", "strokeLines")  # each segment drawn on the overlay as it comes
    assert sum(wire.count(name) for name in lines) >= 39
    assert wire.nbytes < image_bytes / 20
    overlay = painter.canvas[1].model_id
    assert {c for c, n, _, _ in wire.commands() if n in lines} <= {
        overlay,
        painter.canvas[2].model_id,
    }
    for tool in ("eraser", "rect", "lasso"):
        painter.tool_buttons.value = tool
        drag(painter, [(300, 300), (350, 320), (320, 380)])
    assert wire.count("putImageData") == 0
    for canvas in (painter.canvas, *painter.layers):
        assert canvas.sync_image_data is False and canvas.image_data is None


def test_undo_redraws_the_overlay_once_from_the_document(painter, wire) -> None:
    drag(painter, [(100, 100), (300, 100)])
    drag(painter, [(100, 300), (300, 300)])
    wire.clear()
    painter.undo()
    assert wire.images_put_on(painter.canvas[0]) == []
    (overlay,) = wire.images_put_on(painter.canvas[1])
    assert overlay.shape == (512, 768, 4)
    expected = painter.document.mask_image().resize((768, 512), Image.Resampling.BOX)
    alpha = np.round(np.asarray(expected, np.float32) * 0.5).astype(np.uint8)
    assert np.array_equal(overlay[:, :, 3], alpha)
    assert (overlay[:, :, :3][alpha > 0] == (255, 59, 48)).all()


def test_preview_shows_the_alpha_channel_that_will_be_sent(painter, wire) -> None:
    painter.tool_buttons.value = "rect"
    drag(painter, [(100, 100), (300, 200)])
    wire.clear()
    painter.preview_toggle.value = True
    (shown,) = wire.images_put_on(painter.canvas[1])
    alpha = decode_image(painter.mask_png())[:, :, 3]
    expected = np.asarray(Image.fromarray(alpha).resize((768, 512), Image.Resampling.BOX))
    assert np.array_equal(shown[:, :, 0], expected) and (shown[:, :, 3] == 255).all()
    assert shown[150, 200, 0] == 0 and shown[10, 10, 0] == 255  # black = replaced
    fire(painter, "mouse_down", 5, 5)  # painting turns the preview off
    assert painter.preview_toggle.value is False


def test_opacity_and_colour_redraw_the_overlay(painter, wire) -> None:
    painter.tool_buttons.value = "rect"
    drag(painter, [(0, 0), (768, 512)])  # the far edges of the canvas
    wire.clear()
    painter.opacity_slider.value = 1.0
    painter.color_picker.value = "#00ff00"
    last = wire.images_put_on(painter.canvas[1])[-1]
    assert (last == (0, 255, 0, 255)).all()
