"""ImageStudio against the real offline server, driven without a browser.

Buttons are clicked with ``Button.click()`` (what a browser click triggers in the kernel) and
the painter receives mouse events through ipycanvas' ``_handle_frontend_event``, exactly as
the kernel gets them from the page.
"""

from __future__ import annotations

import asyncio
import datetime
import importlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import ipywidgets as widgets
import numpy as np
import pytest
from ipywidgets.widgets.widget import _instances

from gptimage_widgets.client import AsyncImageClient, ImageClient
from gptimage_widgets.errors import GPTImageError
from gptimage_widgets.imaging import decode_image, encode_image
from gptimage_widgets.offline import OfflineServer
from gptimage_widgets.redact import redact
from gptimage_widgets.widgets._display import error_html
from gptimage_widgets.widgets._studio_status import PARTIAL_EDGE
from gptimage_widgets.widgets.image_studio import OFFLINE_BANNER, ImageStudio, backend_banner

FAKE_KEY = "sk-test-FAKE"
NOW = {"last_modified": datetime.datetime.now(datetime.timezone.utc)}
studio_module = importlib.import_module("gptimage_widgets.widgets.image_studio")


def photo(height: int = 256, width: int = 256, seed: int = 0) -> np.ndarray:
    """A deterministic (H, W, 3) uint8 input image."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


@pytest.fixture
async def client(offline_server: OfflineServer, tmp_path) -> AsyncIterator[AsyncImageClient]:
    http = AsyncImageClient(base_url=offline_server.base_url, api_key=FAKE_KEY, history=tmp_path)
    yield http
    await http.close()


@pytest.fixture
def make_client(
    make_offline_server: Callable[..., OfflineServer], tmp_path
) -> Iterator[Callable[..., AsyncImageClient]]:
    """Clients of dedicated servers (latency, faults); closed with their loop's transport."""

    def make(**server_kwargs: Any) -> AsyncImageClient:
        server = make_offline_server(**server_kwargs)
        return AsyncImageClient(
            base_url=server.base_url, api_key=FAKE_KEY, history=tmp_path, max_retries=0
        )

    yield make


@pytest.fixture
def studio(client: AsyncImageClient) -> ImageStudio:
    made = ImageStudio(client)
    made.prompt = "a lighthouse at dusk"
    return made


def assert_idle(studio: ImageStudio) -> None:
    """The controls are back to their resting state."""
    assert studio.task is None
    assert not studio._generate_button.disabled
    assert studio._cancel_button.disabled
    assert not studio.form.disabled
    assert not studio._prompt.disabled
    assert not studio._operation.disabled


async def wait_until(condition: Callable[[], bool], steps: int = 200) -> None:
    """Yield to the loop until ``condition()`` holds (bounded, no timing assertion)."""
    for _ in range(steps):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never became true")


def drag_on_canvas(canvas: Any, points: list[tuple[float, float]]) -> None:
    """Mouse down, moves, up: the custom messages the page sends for one stroke.

    ``_handle_custom_msg`` is where ipywidgets delivers a frontend message; a MultiCanvas
    routes it to its top layer's ``_handle_frontend_event``.
    """
    first, *rest = points
    events = [("mouse_down", first), *[("mouse_move", p) for p in rest], ("mouse_up", points[-1])]
    for name, (x, y) in events:
        canvas._handle_custom_msg({"event": name, "x": x, "y": y}, [])


# --------------------------------------------------------------------------- generate


async def test_generate_fills_result_history_and_gallery(studio: ImageStudio):
    studio.form.set_params({"size": "1024x1536", "n": 2})
    result = await studio.generate()
    assert result is not None and studio.result is result
    assert len(studio.images) == 2
    for image in studio.images:
        assert image.dtype == np.uint8 and image.shape == (1536, 1024, 3)
    assert studio.history == [result]
    assert len(studio.gallery) == 2
    assert all(path.exists() for path in result.paths)  # saved to history first
    assert result.request["prompt"] == "a lighthouse at dusk"
    assert f"${result.cost_usd:.3f}" in studio._cost.value
    assert studio._errors.value == ""
    assert_idle(studio)


async def test_reuse_switch_answers_an_identical_request_from_history(studio: ImageStudio):
    assert studio._reuse.value is False and studio.request_kwargs()[1]["cache"] is False
    first = await studio.generate()
    studio._reuse.value = True
    second = await studio.generate()
    assert first is not None and second is not None
    assert second.cached and second.cost_usd == 0.0 and second.entry_id == first.entry_id
    studio._reuse.value = False
    third = await studio.generate()
    assert third is not None and not third.cached


async def test_generate_button_schedules_a_task_and_locks_controls(
    make_client: Callable[..., AsyncImageClient],
):
    studio = ImageStudio(make_client(latency=0.5))
    studio.prompt = "a red fox"
    studio._generate_button.click()
    task = studio.task
    assert task is not None and not task.done()  # the click returned at once
    await asyncio.sleep(0.05)
    assert studio._generate_button.disabled
    assert not studio._cancel_button.disabled
    assert studio.form.disabled and studio._prompt.disabled and studio._operation.disabled
    assert studio._upload.disabled
    result = await task
    assert result is studio.result and len(result.images) == 1
    assert_idle(studio)
    await studio.client.close()


async def test_second_generate_while_running_is_refused(
    make_client: Callable[..., AsyncImageClient],
):
    studio = ImageStudio(make_client(latency=0.3))
    studio.prompt = "a red fox"
    task = studio.start()
    await asyncio.sleep(0.02)
    assert studio.start() is task  # the button cannot start a second run
    with pytest.raises(GPTImageError, match="already running"):
        await studio.generate()
    await task
    assert len(studio.history) == 1
    await studio.client.close()


async def test_server_error_is_shown_and_controls_restored(
    make_client: Callable[..., AsyncImageClient],
):
    studio = ImageStudio(make_client(faults=["quota"]))
    studio.prompt = "a red fox"
    assert await studio.generate() is None
    assert "QuotaError" in studio._errors.value
    assert studio.result is None and studio.history == []
    assert_idle(studio)
    await studio.client.close()


async def test_validation_problems_are_listed_in_the_error_area(studio: ImageStudio):
    studio.operation = "edit"  # no reference image
    assert await studio.generate() is None
    assert "ValidationError" in studio._errors.value
    assert "add_reference" in studio._errors.value  # says what to do
    assert_idle(studio)


async def test_cancel_cancels_the_task_and_the_request(
    make_client: Callable[..., AsyncImageClient],
):
    studio = ImageStudio(make_client(latency=5.0))
    studio.prompt = "a slow, expensive painting"
    studio._generate_button.click()
    task = studio.task
    assert task is not None
    await asyncio.sleep(0.1)  # the request is in flight
    studio._cancel_button.click()
    # the server would answer after 5 s; the cancelled task ends long before that
    done, _ = await asyncio.wait({task}, timeout=4.0)
    assert task in done and task.cancelled()
    assert studio.result is None and studio.history == []
    assert "Cancelled" in studio._progress.value
    assert_idle(studio)
    assert studio.cancel() is False  # nothing left to cancel
    await studio.client.close()


async def test_display_failure_loses_no_result(studio: ImageStudio, monkeypatch):
    def broken_add(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("frontend exploded")

    monkeypatch.setattr(studio.gallery, "add", broken_add)
    result = await studio.generate()
    assert result is not None and studio.history == [result]
    assert all(path.exists() for path in result.paths)
    assert "kept" in studio._errors.value and "frontend exploded" in studio._errors.value
    assert_idle(studio)


async def test_partial_images_are_previewed(studio: ImageStudio):
    studio.form.set_params({"partial_images": 2, "quality": "low", "size": "1024x1024"})
    seen: list[int] = []
    original = studio._status.show_partial

    def spy(index: int, image: np.ndarray) -> None:
        seen.append(index)
        original(index, image)

    studio._status.show_partial = spy  # type: ignore[method-assign]
    result = await studio.generate()
    assert result is not None
    assert seen == [0, 1]
    preview = decode_image(bytes(studio._partial.value))
    assert max(preview.shape[:2]) <= PARTIAL_EDGE


async def test_sync_client_runs_off_the_loop(offline_server: OfflineServer, tmp_path):
    sync = ImageClient(base_url=offline_server.base_url, api_key=FAKE_KEY, history=tmp_path)
    studio = ImageStudio(sync)
    studio.prompt = "a red fox"
    result = await studio.generate()
    assert result is not None and len(studio.images) == 1
    sync.close()


# --------------------------------------------------------------------------- painter and edits


async def test_operation_follows_the_reference_images(studio: ImageStudio):
    assert studio.effective_operation == "generate" and studio.painter is None
    studio.add_reference(photo())
    assert studio.effective_operation == "edit" and studio.form.operation == "edit"
    assert studio._painter_box.children == (studio.painter,)
    method, kwargs = studio.request_kwargs()
    assert method == "edit" and "mask" not in kwargs  # nothing painted yet
    studio.operation = "generate"
    assert studio.request_kwargs()[0] == "generate"
    assert studio._painter_box.children == ()
    studio.operation = "auto"
    studio.clear_references()
    assert studio.effective_operation == "generate"
    studio.operation = "edit"  # explicit edit without an image: a hint instead of the painter
    (hint,) = studio._painter_box.children
    assert "add_reference" in hint.value


async def test_edit_with_painted_mask_keeps_unmasked_pixels(studio: ImageStudio):
    image = photo(256, 384, seed=7)
    studio.add_reference(image)
    assert studio.painter is not None
    mask = np.zeros((256, 384), dtype=bool)
    mask[40:140, 100:260] = True
    studio.painter.set_mask(mask)
    assert studio.form.has_mask
    method, kwargs = studio.request_kwargs()
    assert method == "edit" and np.array_equal(kwargs["mask"], mask)
    result = await studio.generate()
    assert result is not None and result.operation == "edit"
    edited = result.images[0]
    assert edited.shape == image.shape
    assert np.array_equal(edited[~mask], image[~mask])
    assert not np.array_equal(edited[mask], image[mask])


async def test_strokes_update_has_mask_without_copying_the_mask(
    studio: ImageStudio, monkeypatch: pytest.MonkeyPatch
):
    """Each stroke asks ``MaskDocument.is_empty()``; the full mask is read only to send it."""
    studio.add_reference(photo(256, 384))
    painter = studio.painter
    assert painter is not None and not studio.form.has_mask
    reads: list[int] = []
    full_mask = type(painter).mask
    monkeypatch.setattr(
        type(painter), "mask", property(lambda self: reads.append(1) or full_mask.fget(self))
    )
    width, height = painter.display_size
    drag_on_canvas(painter.canvas, [(width * 0.2, height * 0.2), (width * 0.8, height * 0.3)])
    assert studio.form.has_mask
    painter.undo()
    assert not studio.form.has_mask
    painter.redo()
    assert studio.form.has_mask and reads == []
    method, kwargs = studio.request_kwargs()
    assert method == "edit" and kwargs["mask"].any() and reads == [1]


async def test_painter_keeps_painting_while_a_generation_is_in_flight(
    make_client: Callable[..., AsyncImageClient],
):
    studio = ImageStudio(make_client(latency=1.0))
    studio.prompt = "replace the sky"
    studio.add_reference(photo(256, 256))
    painter = studio.painter
    assert painter is not None and not painter.mask.any()
    version = painter.mask_version
    task = studio.start()
    await asyncio.sleep(0.05)
    assert not task.done()
    width, height = painter.display_size
    drag_on_canvas(painter.canvas, [(width * 0.2, height * 0.2), (width * 0.8, height * 0.3)])
    assert painter.mask_version > version and painter.mask.any()
    assert not task.done()  # the mask changed before the generation finished
    result = await task
    assert result is not None and len(studio.history) == 1
    await studio.client.close()


async def test_gallery_hands_images_to_the_painter_and_the_references(studio: ImageStudio):
    first, second = photo(seed=1), photo(seed=2)
    studio.gallery.add([first, second])
    studio.gallery.selected = 1
    studio.gallery._edit_button.click()
    assert len(studio.references) == 1 and np.array_equal(studio.references[0], second)
    assert studio.painter is not None and np.array_equal(studio.painter.image, second)
    studio.gallery.selected = 0
    studio.gallery._reference_button.click()
    assert len(studio.references) == 2 and np.array_equal(studio.references[1], first)
    assert np.array_equal(studio.painter.image, second)  # the painted image stays first
    assert studio.form.reference_images == 2


async def test_file_upload_adds_a_reference(studio: ImageStudio):
    image = photo(64, 96, seed=3)
    png = encode_image(image, "png")
    studio._upload.value = (
        {
            "name": "in.png",
            "type": "image/png",
            "size": len(png),
            "content": memoryview(png),
            **NOW,
        },
    )
    assert len(studio.references) == 1 and np.array_equal(studio.references[0], image)
    assert studio._upload.value == ()


async def test_bad_upload_shows_an_error(studio: ImageStudio):
    studio._upload.value = (
        {"name": "x.png", "type": "image/png", "size": 3, "content": memoryview(b"abc"), **NOW},
    )
    assert studio.references == []
    assert "color:#b00020" in studio._errors.value


async def test_variation_for_dall_e_2(studio: ImageStudio):
    studio.model = "dall-e-2"
    assert ("Variation", "variation") in studio._operation.options
    studio.operation = "variation"
    studio.add_reference(photo(256, 256, seed=5))
    studio.form.set_params({"size": "256x256"})
    result = await studio.generate()
    assert result is not None and result.operation == "variation"
    assert result.images[0].shape[:2] == (256, 256)
    studio.model = "gpt-image-2"  # no variations: back to auto
    assert studio.operation == "auto"


# --------------------------------------------------------------------------- secrets and banner


def _textual(value: Any) -> str:
    """Strings inside a trait value (containers walked; arrays and bytes skipped)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return " ".join(_textual(k) + " " + _textual(v) for k, v in value.items())
    if isinstance(value, list | tuple | set):
        return " ".join(_textual(v) for v in value)
    return ""


def _all_state(widget: widgets.Widget) -> tuple[str, bytes]:
    """The text of every trait of a widget (synced or not) and its binary buffers."""
    state = widget.get_state()
    binary = b"".join(
        bytes(v) for v in state.values() if isinstance(v, bytes | bytearray | memoryview)
    )
    text = _textual(state) + " " + _textual(widget.trait_values())
    return text, binary


async def test_key_is_in_no_widget_state(studio: ImageStudio):
    studio.add_reference(photo())
    await studio.generate()
    studio.clear_references()
    await studio.generate()
    assert len(_instances) > 20
    for widget in list(_instances.values()):
        text, binary = _all_state(widget)
        assert FAKE_KEY not in text, type(widget).__name__
        assert FAKE_KEY.encode() not in binary, type(widget).__name__
    assert FAKE_KEY not in repr(studio) + repr(studio.client)
    leak = widgets.Text(value=FAKE_KEY)  # the walk would see a key if one were there
    assert FAKE_KEY in _all_state(leak)[0]
    leak.close()


def test_banner_says_which_backend_without_secrets():
    class Fake:
        def __init__(self, backend: str, base_url: str) -> None:
            self.backend, self.base_url = backend, base_url

    assert backend_banner(Fake("offline", "http://127.0.0.1:1/v1")) == OFFLINE_BANNER
    assert backend_banner(Fake("openai", "https://api.openai.com/v1")) == "OpenAI API"
    shown = backend_banner(Fake("compatible", "http://user:pw@10.0.0.2:8080/v1?key=sk-x"))
    assert shown == "OpenAI-compatible API at 10.0.0.2:8080"
    assert backend_banner(Fake("azure", "https://res.openai.azure.com")).startswith("Azure")


def test_error_text_redacts_key_like_strings():
    # the one redact (gptimage_widgets/redact.py) keeps the word "Bearer"
    assert (
        redact("bad key sk-abcdef123456 and Bearer xyz")
        == "bad key [redacted] and Bearer [redacted]"
    )
    shown = error_html(GPTImageError("token sk-live-SECRET leaked?"))
    assert "SECRET" not in shown and "GPTImageError" in shown


async def test_default_client_is_offline_without_a_key(monkeypatch, tmp_path):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.warns(UserWarning, match="No OPENAI_API_KEY set: using the offline backend"):
        studio = ImageStudio()
    assert studio.client.backend == "offline"
    assert OFFLINE_BANNER in studio._banner.value
    studio.prompt = "a red fox"
    result = await studio.generate()
    assert result is not None and len(studio.images) == 1
    await studio.aclose()


# --------------------------------------------------------------------------- giw.studio()


async def test_studio_function_returns_and_displays(client: AsyncImageClient, monkeypatch):
    shown: list[Any] = []
    monkeypatch.setattr(studio_module, "_in_ipython", lambda: True)
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    # (giw.studio itself is exercised in a fresh kernel by tests/test_notebooks.py)
    made = studio_module.studio(client=client, model="gpt-image-1.5")
    assert isinstance(made, ImageStudio) and shown == [made]
    assert made.model == "gpt-image-1.5"
    quiet = studio_module.studio(client=client, display=False)
    assert isinstance(quiet, ImageStudio) and shown == [made]


# --------------------------------------------------------------------------- lifecycle


async def test_studio_shows_the_lifecycle_notice_and_defaults_to_a_current_model(
    client: AsyncImageClient, monkeypatch: pytest.MonkeyPatch
):
    from gptimage_widgets import catalog

    monkeypatch.setattr(catalog.lifecycle, "today", lambda: datetime.date(2026, 12, 2))
    default = ImageStudio(client)
    assert default.form.model == "gpt-image-2" and not default.form.spec.shut_down
    assert default.form.banner.layout.display == "none"
    assert all(not catalog.get_model(v).shut_down for _, v in default.form.model_picker.options)
    retired = ImageStudio(client, "gpt-image-1.5")  # shut down at OpenAI on 2026-12-01
    spec = retired.form.spec
    assert spec.shut_down and retired.form.banner.layout.display is None
    assert retired.form.banner in retired.form.children and retired.form in _descendants(retired)
    assert "2026-12-01" in retired.form.banner.value
    assert all(name in retired.form.banner.value for name in spec.replacements)
    retired.prompt = "a lighthouse at dusk"
    result = await retired.generate()  # the offline server still serves it
    assert result is not None and result.model == "gpt-image-1.5"
    await default.aclose()
    await retired.aclose()


def _descendants(widget: widgets.Widget) -> list[widgets.Widget]:
    found = []
    for child in getattr(widget, "children", ()):
        found += [child, *_descendants(child)]
    return found
