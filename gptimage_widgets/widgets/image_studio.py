"""ImageStudio: prompt, parameters, mask painter, references, Generate/Cancel and a gallery.

Generate never blocks the kernel: :meth:`ImageStudio.generate` is a coroutine that the
Generate button schedules as an ``asyncio.Task`` on the kernel's running loop. While it runs,
the controls that must not change are disabled (the painter stays live), Cancel cancels the
task (which closes the HTTP request), partial images show as they arrive, and everything is
restored in ``finally``. The studio never holds the API key: only the client does.
What the studio shows about the backend and a run (banner, progress, partial preview,
errors, session cost) is written by ``_studio_status.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import ipywidgets as widgets
import numpy as np

from .. import catalog, validation
from ..client import AsyncImageClient, ImageClient
from ..errors import GPTImageError, ValidationError
from ..imaging import to_arrays
from ..results import ImageResult
from ._display import display_bytes
from ._studio_status import OFFLINE_BANNER, RunStatus, backend_banner, banner_html, session_cost
from .form import ParameterForm
from .gallery import Gallery
from .painter import MaskPainter

__all__ = ["OFFLINE_BANNER", "ImageStudio", "backend_banner", "studio"]

OPERATIONS = ("auto", *catalog.OPERATIONS)  # "auto": edit when there are references
_OPERATION_TIPS = {
    "auto": "Edit when reference images are present, else generate",
    "generate": "Generate from the prompt only",
    "edit": "Edit the reference images (mask from the painter when painted)",
    "variation": "Variations of the first reference image (DALL·E 2)",
}
REFERENCE_EDGE = 96


# --------------------------------------------------------------------------- widget


class ImageStudio(widgets.VBox):
    """The all-in-one widget: prompt, form, mask painter, references, Generate, gallery.

    Parameters
    ----------
    client : AsyncImageClient or ImageClient, optional
        Defaults to ``AsyncImageClient()`` (backend "auto": OpenAI when ``OPENAI_API_KEY``
        is set, else the embedded offline server). A sync client runs in a worker thread.
    model : str
        Initial model of the parameter form.
    operation : {"auto", "generate", "edit", "variation"}
        "auto" edits when reference images are present, else generates.

    Attributes
    ----------
    result : ImageResult or None
        The last result.
    history : list of ImageResult
        Every result of this session, oldest first (kept even when displaying fails).
    references : list of np.ndarray
        Reference images for the next edit, (H, W, 3|4) uint8; the first is the one painted.
    task : asyncio.Task or None
        The task running :meth:`generate`, while it runs.
    form : ParameterForm
    painter : MaskPainter or None
        Created when the first image is loaded.
    gallery : Gallery
    """

    def __init__(
        self,
        client: Any = None,
        model: str = "gpt-image-2",
        *,
        operation: str = "auto",
        **kwargs: Any,
    ) -> None:
        self._owns_client = client is None
        self.client = client if client is not None else _default_client()
        self.result: ImageResult | None = None
        self.history: list[ImageResult] = []
        self.references: list[np.ndarray] = []
        self.task: asyncio.Task[Any] | None = None
        self.painter: MaskPainter | None = None
        self._unlock: list[widgets.Widget] = []
        self._running_flag = False
        self._status = RunStatus()
        self.form = ParameterForm(model=model)
        self.gallery = Gallery()
        self._build_controls(operation)
        super().__init__(children=self._layout_children(), **kwargs)
        self.add_class("giw-studio")
        self._wire()
        self._sync_operation()

    # ----------------------------------------------------------------- layout

    def _build_controls(self, operation: str) -> None:
        self._banner = widgets.HTML(banner_html(self.client))
        self._prompt = widgets.Textarea(
            value=self.form.prompt,
            placeholder="Describe the image (or the change, for an edit)…",
            layout=widgets.Layout(width="100%", height="80px"),
        )
        self._operation = widgets.ToggleButtons(
            options=[(op.capitalize(), op) for op in OPERATIONS],
            value=_require_operation(operation),
            tooltips=[_OPERATION_TIPS[op] for op in OPERATIONS],
            style={"button_width": "90px"},
        )
        self._upload = widgets.FileUpload(
            accept="image/png,image/jpeg,image/webp", multiple=True, description="Add image"
        )
        self._clear_references_button = widgets.Button(description="Clear", icon="trash")
        self._reference_strip = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap"))
        self._reference_label = widgets.HTML("No reference images.")
        self._painter_box = widgets.VBox()
        self._painter_hint = widgets.HTML(
            "<i>Add a reference image (Add image, add_reference(x) or the gallery's "
            "'Edit this') to paint a mask.</i>"
        )
        self._generate_button = widgets.Button(
            description="Generate", icon="magic", button_style="primary"
        )
        self._cancel_button = widgets.Button(description="Cancel", icon="stop", disabled=True)
        self._reuse = widgets.Checkbox(  # the request cache, per request (request_cache.py)
            value=bool(getattr(self.client, "cache", False)),
            description="Reuse identical result",
            tooltip="Answer a request identical to one already paid for from the history "
            "(cost 0) instead of sending it again",
            indent=False,
            layout=widgets.Layout(width="auto"),
        )
        status = self._status  # its widgets, placed by _layout_children
        self._progress, self._partial = status.progress, status.partial
        self._errors, self._cost = status.errors, status.cost

    def _layout_children(self) -> list[widgets.Widget]:
        references = widgets.VBox(
            [
                widgets.HBox([self._upload, self._clear_references_button, self._reference_label]),
                self._reference_strip,
            ]
        )
        buttons = widgets.HBox(
            [self._generate_button, self._cancel_button, self._reuse, self._progress, self._cost]
        )
        return [
            self._banner,
            self._prompt,
            self._operation,
            self.form,
            references,
            self._painter_box,
            buttons,
            self._partial,
            self._errors,
            self.gallery,
        ]

    def _wire(self) -> None:
        self._prompt.observe(self._on_prompt, "value")
        self._operation.observe(lambda _: self._sync_operation(), "value")
        self._upload.observe(self._on_upload, "value")
        self._clear_references_button.on_click(lambda _: self.clear_references())
        self._generate_button.on_click(lambda _: self.start())
        self._cancel_button.on_click(lambda _: self.cancel())
        self.gallery.on_send_to_painter(self.edit_image)
        self.gallery.on_use_as_reference(self.add_reference)
        self.form.observe(self._update_generate_button, "valid")
        self.form.observe(self._on_model, "model")
        self.form.operation_picker.layout.display = "none"  # the studio's toggle has "Auto"
        self._on_model()
        self._on_prompt({"new": self._prompt.value})

    # ----------------------------------------------------------------- public API

    @property
    def model(self) -> str:
        """The form's model (set it to switch models)."""
        return str(self.form.model)

    @model.setter
    def model(self, name: str) -> None:
        self.form.model = name

    @property
    def prompt(self) -> str:
        """The prompt text."""
        return str(self._prompt.value)

    @prompt.setter
    def prompt(self, text: str) -> None:
        self._prompt.value = text

    @property
    def operation(self) -> str:
        """The chosen operation: "auto", "generate", "edit" or "variation"."""
        return str(self._operation.value)

    @operation.setter
    def operation(self, value: str) -> None:
        self._operation.value = _require_operation(value)

    @property
    def effective_operation(self) -> str:
        """The operation the next request uses ("auto" resolved by the reference images)."""
        if self.operation != "auto":
            return self.operation
        return "edit" if self.references else "generate"

    @property
    def images(self) -> list[np.ndarray]:
        """The images of the last result, (H, W, 3|4) uint8 each; empty before any result."""
        return list(self.result.images) if self.result is not None else []

    @property
    def running(self) -> bool:
        """True while a generation is in flight."""
        return self.task is not None and not self.task.done()

    @property
    def session_cost_usd(self) -> float:
        """Sum of the cost of every result of this session (actual or estimated), in USD."""
        return session_cost(self.history)

    def add_reference(self, image: Any) -> int:
        """Add reference image(s) for the next edit; returns how many references there are.

        Parameters
        ----------
        image : image input
            Anything :func:`gptimage_widgets.imaging.to_arrays` accepts: (H, W[, C]) arrays
            (uint8 or float in [0, 1]), (B, H, W, C) batches, PIL images, paths, bytes,
            an ImageResult.
        """
        arrays = to_arrays(image)
        first = not self.references
        self.references.extend(arrays)
        if first and arrays:
            self._load_into_painter(arrays[0])
        self._refresh_references()
        return len(self.references)

    def edit_image(self, image: Any) -> None:
        """Make ``image`` the only reference and load it into the painter ("Edit this")."""
        self.references = []
        self.add_reference(image)
        if self.operation in ("generate", "variation"):
            self.operation = "auto"

    def clear_references(self) -> None:
        """Remove every reference image (the painter is hidden until the next image)."""
        self.references = []
        self._refresh_references()

    def start(self) -> asyncio.Task[Any]:
        """Schedule :meth:`generate` on the running loop without waiting (the button's action).

        Call it where a loop runs: in Jupyter, button clicks and cells run inside the
        kernel's loop; elsewhere ``asyncio.get_running_loop`` raises ``RuntimeError``.

        Returns
        -------
        asyncio.Task
            Also stored as :attr:`task`.
        """
        if self.task is not None and not self.task.done():
            return self.task  # the button cannot start a second run
        task = asyncio.get_running_loop().create_task(self.generate())
        task.add_done_callback(_consume_outcome)
        self.task = task
        return task

    async def generate(self) -> ImageResult | None:
        """Send one request with the current prompt, parameters, references and mask.

        The Generate button runs this as a task (see :meth:`start`); tests and notebooks may
        ``await`` it directly. Errors of the gptimage-widgets family are shown in the error
        area (and ``None`` is returned); the buttons are restored in ``finally``.

        Returns
        -------
        ImageResult or None
            The result (also in :attr:`result`, :attr:`history` and the gallery), or None
            when the request failed.
        """
        if self.running and self.task is not asyncio.current_task():
            raise GPTImageError("a generation is already running; wait for it or press Cancel")
        self.task = asyncio.current_task()
        self._set_running(True)
        try:
            result = await self._request()
        except asyncio.CancelledError:
            self._status.cancelled()
            raise
        except GPTImageError as exc:
            self._status.failed(exc)
            return None
        except Exception as exc:
            self._status.failed(exc)
            raise
        finally:
            self._set_running(False)
            self.task = None
        self._accept(result)
        return result

    def cancel(self) -> bool:
        """Cancel the running generation (and its HTTP request); False when nothing runs.

        This cancels :attr:`task`, the task that runs :meth:`generate` (when a notebook cell
        awaits ``generate()`` itself, that is the cell's task).
        """
        task = self.task
        if task is None or task.done():
            return False
        self._status.cancelling()
        return task.cancel()

    async def aclose(self) -> None:
        """Cancel what runs and close the client when the studio created it."""
        if self.running:
            self.cancel()
        if self._owns_client:  # then it is the AsyncImageClient made by _default_client
            await self.client.close()

    # ----------------------------------------------------------------- request

    def request_kwargs(self) -> tuple[str, dict[str, Any]]:
        """The client method and keyword arguments the next request will use.

        Returns
        -------
        (str, dict)
            Method name ("generate", "edit" or "variations") and its arguments; images are
            (H, W, C) uint8 arrays and the mask an (H, W) bool array (True = replace).
        """
        operation = self.effective_operation
        params = {**self.form.params, "model": self.model}  # only set, sendable parameters
        if hasattr(self.client, "cache"):  # a client with the request cache
            params["cache"] = self._reuse.value
        if operation == "variation":
            return "variations", {"image": self._first_reference(operation), **params}
        params["prompt"] = self.prompt
        if int(params.get("partial_images") or 0) > 0:
            params["on_partial"] = self._status.show_partial
        if operation == "generate":
            return "generate", params
        params["images"] = [self._first_reference(operation), *self.references[1:]]
        mask = self._painted_mask()
        if mask is not None:
            params["mask"] = mask
        return "edit", params

    async def _request(self) -> ImageResult:
        method_name, kwargs = self.request_kwargs()
        method = getattr(self.client, method_name)
        self._status.sending(method_name, self.model)
        if isinstance(self.client, ImageClient):  # sync: keep the kernel free
            return await asyncio.to_thread(method, **kwargs)
        return await method(**kwargs)

    def _first_reference(self, operation: str) -> np.ndarray:
        if not self.references:
            raise ValidationError(
                f"operation {operation!r} needs a reference image; add one with "
                "add_reference(x), the 'Add image' upload or the gallery's 'Use as reference'",
                param="images",
                value=None,
            )
        return self.references[0]

    def _has_painted_mask(self) -> bool:
        """Whether a mask is painted on the first reference (cheap: no copy of the mask)."""
        return (
            self.painter is not None
            and bool(self.references)
            and not self.painter.document.is_empty()
        )

    def _painted_mask(self) -> np.ndarray | None:
        """The painter's mask, (H, W) bool (True = replace), or None when nothing is painted."""
        if self.painter is None or not self._has_painted_mask():
            return None
        return self.painter.mask

    # ----------------------------------------------------------------- state

    def _set_running(self, running: bool) -> None:
        if running:
            self._status.begin()
            self._unlock = [w for w in self._lockable() if not w.disabled]
            for widget in self._unlock:
                widget.disabled = True
        else:
            for widget in self._unlock:
                widget.disabled = False
            self._unlock = []
            self._status.end()
        self._running_flag = running
        self._cancel_button.disabled = not running
        self._update_generate_button()

    def _lockable(self) -> list[widgets.Widget]:
        """Widgets that must not change while a request is in flight (not the painter)."""
        return [
            self.form,
            self._prompt,
            self._operation,
            self._upload,
            self._clear_references_button,
        ]

    def _update_generate_button(self, _change: Any = None) -> None:
        """Generate is enabled when nothing runs and the form finds no problem."""
        self._generate_button.disabled = self._running_flag or not bool(self.form.valid)

    def _accept(self, result: ImageResult) -> None:
        """Keep the result first, then display it; a display failure loses nothing."""
        self.result = result
        self.history.append(result)
        try:
            self._status.done(result, self.history)
            self.gallery.add(result)
        except Exception as exc:  # display must never lose a result
            self._status.not_shown(result, exc)

    # ----------------------------------------------------------------- references

    def _load_into_painter(self, image: np.ndarray) -> None:
        if self.painter is None:
            self.painter = MaskPainter(image)
            self.painter.observe(self._on_mask_version, "mask_version")
        else:
            self.painter.set_image(image)
        self._sync_operation()

    def _refresh_references(self) -> None:
        tiles = []
        for image in self.references:
            data, fmt = display_bytes(image, REFERENCE_EDGE, quality=80)
            tiles.append(widgets.Image(value=data, format=fmt))
        self._reference_strip.children = tuple(tiles)
        count = len(self.references)
        self._reference_label.value = (
            f"{count} reference image(s); the first is the one painted."
            if count
            else "No reference images."
        )
        self._sync_operation()

    def _on_upload(self, change: dict[str, Any]) -> None:
        files = change["new"]
        if not files:
            return
        try:
            for file in files:
                self.add_reference(bytes(file["content"]))
        except GPTImageError as exc:
            self._status.failed(exc)
        finally:
            self._upload.value = ()

    def _on_prompt(self, change: dict[str, Any]) -> None:
        self.form.prompt = change["new"]

    def _on_model(self, _change: Any = None) -> None:
        """Offer only the operations the model supports (plus "Auto")."""
        supported = [op for op in OPERATIONS[1:] if self.form.spec.supports(op)]
        options = [("Auto", "auto"), *[(op.capitalize(), op) for op in supported]]
        if self._operation.value not in ("auto", *supported):
            self._operation.value = "auto"
        self._operation.options = options
        self._operation.tooltips = [_OPERATION_TIPS[value] for _, value in options]
        self._sync_operation()

    def _on_mask_version(self, _change: Any = None) -> None:
        self.form.has_mask = self.effective_operation == "edit" and self._has_painted_mask()

    def _sync_operation(self) -> None:
        """Tell the form the effective operation; show the painter only for edits."""
        operation = self.effective_operation
        with self.form.hold_trait_notifications():
            self.form.operation = operation
            self.form.reference_images = len(self.references) if operation != "generate" else 0
        self._on_mask_version()
        self._painter_box.children = self._painter_view(operation)

    def _painter_view(self, operation: str) -> tuple[widgets.Widget, ...]:
        """The painter for edits with an image, a hint for edits without, else nothing."""
        if operation != "edit":
            return ()
        if self.painter is not None and self.references:
            return (self.painter,)
        return (self._painter_hint,)


def _consume_outcome(task: asyncio.Task[Any]) -> None:
    """Done-callback: the studio already showed the error; keep asyncio from warning again."""
    if not task.cancelled():
        task.exception()


def _default_client() -> AsyncImageClient:
    return AsyncImageClient()


def _in_ipython() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - ipywidgets depends on IPython
        return False
    return get_ipython() is not None


def studio(
    client: Any = None,
    model: str = "gpt-image-2",
    *,
    display: bool = True,
    **kwargs: Any,
) -> ImageStudio:
    """Create an :class:`ImageStudio` and display it when running in IPython/Jupyter.

    Assign the result (``s = giw.studio()``) so that the cell does not show it twice.

    Parameters
    ----------
    client, model, **kwargs
        Passed to :class:`ImageStudio`.
    display : bool
        Display the studio now (only inside IPython).
    """
    created = ImageStudio(client, model, **kwargs)
    if display and _in_ipython():
        from IPython.display import display as show

        show(created)
    return created


def _require_operation(value: str) -> str:
    return validation.require_operation(value, also=("auto",))
