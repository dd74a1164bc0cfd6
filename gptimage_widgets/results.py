"""The result of one image request: pixels as NumPy arrays plus everything known about them.

:class:`ImageResult` is what every client call returns. It behaves like a sequence of images
(``len``, indexing, iteration), converts to one ``(n, H, W, C)`` uint8 array with
``np.asarray(result)`` and to a ComfyUI float batch with :meth:`ImageResult.to_float`, saves
itself to files and shows itself inline in Jupyter as a small gallery of thumbnails.

This module is core: it imports only numpy, pillow and the standard library.
"""

from __future__ import annotations

import base64
import html
import pathlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
from PIL import Image

from . import imaging
from .errors import ValidationError

__all__ = ["THUMBNAIL_EDGE", "ImageResult"]

#: Long edge, in pixels, of the thumbnails inlined by :meth:`ImageResult._repr_html_`.
THUMBNAIL_EDGE = 256

_FORMAT_BY_SUFFIX = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}
_SUFFIX_BY_FORMAT = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}
_FORMAT_ALIASES = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg", "webp": "webp"}
_CAPTION_CHARS = 300


@dataclass(eq=False)
class ImageResult:
    """Images returned by one request, with their metadata.

    Attributes
    ----------
    images : list of np.ndarray
        One array per image, ``(H, W, 3)`` uint8 RGB, or ``(H, W, 4)`` RGBA when the image has
        alpha; values 0..255. Images of one result may differ in size.
    model, operation : str
        The model that made the images and ``"generate"``, ``"edit"`` or ``"variation"``.
    request : dict
        The effective request parameters (no secrets, no pixels).
    usage : dict or None
        OpenAI's ``usage`` object, when the server sent one.
    cost_usd : float or None
        Actual cost computed from ``usage``, else an estimate (see ``cost_is_estimate``).
    cost_is_estimate : bool
    revised_prompts : list of (str or None)
        One per image when the server revised the prompt (DALL·E 3), else empty or ``None``\\ s.
    request_id : str or None
        The ``x-request-id`` of the response.
    created : int or None
        The server's ``created`` Unix time.
    timings : dict
        Seconds, e.g. ``{"total_s": 12.3, "first_byte_s": 0.4}``, and ``attempts``: how many
        times the API call was sent (1 = no retry; retries are also logged on the
        ``gptimage_widgets`` logger).
    paths : list of pathlib.Path
        Where the history store saved each image (filled by ``HistoryStore.save``).
    entry_id : str or None
        The history entry id.
    notes : list of str
        Things worth knowing, e.g. that an input was downscaled.
    cached : bool
        True when the request cache answered from the history store: nothing was sent and
        ``cost_usd`` is 0 (see :mod:`gptimage_widgets.request_cache`).
    cache_key : str or None
        The request's cache key (sha256 hex), kept with the history entry.
    """

    images: list[np.ndarray] = field(default_factory=list)
    model: str = ""
    operation: str = "generate"
    request: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] | None = None
    cost_usd: float | None = None
    cost_is_estimate: bool = False
    revised_prompts: list[str | None] = field(default_factory=list)
    request_id: str | None = None
    created: int | None = None
    timings: dict[str, float] = field(default_factory=dict)
    paths: list[pathlib.Path] = field(default_factory=list)
    entry_id: str | None = None
    notes: list[str] = field(default_factory=list)
    cached: bool = False
    cache_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.images = list(self.images)
        for index, image in enumerate(self.images):
            _check_image(image, index)
        self.revised_prompts = list(self.revised_prompts)
        self.paths = [pathlib.Path(p) for p in self.paths]
        self.notes = list(self.notes)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_arrays(
        cls,
        images: Any,
        *,
        model: str = "",
        operation: str = "generate",
        **metadata: Any,
    ) -> ImageResult:
        """Build a result from anything ``imaging.to_arrays`` accepts.

        Parameters
        ----------
        images : array, list of images, (B, H, W, C) batch, PIL image, path or bytes
            Arrays may be uint8 or float in [0, 1], gray, RGB or RGBA.
        model, operation : str
        **metadata
            Any other :class:`ImageResult` field (``request=``, ``cost_usd=``...).

        Returns
        -------
        ImageResult
            With ``(H, W, 3|4)`` uint8 images.
        """
        return cls(imaging.to_arrays(images), model=model, operation=operation, **metadata)

    # ------------------------------------------------------------------ sequence protocol

    def __len__(self) -> int:
        return len(self.images)

    @overload
    def __getitem__(self, index: int) -> np.ndarray: ...

    @overload
    def __getitem__(self, index: slice) -> list[np.ndarray]: ...

    def __getitem__(self, index: int | slice) -> np.ndarray | list[np.ndarray]:
        """One image ``(H, W, 3|4)`` uint8 for an int, a list of them for a slice."""
        return self.images[index]

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.images)

    @property
    def sizes(self) -> list[tuple[int, int]]:
        """``(width, height)`` of each image."""
        return [(int(im.shape[1]), int(im.shape[0])) for im in self.images]

    # ------------------------------------------------------------------ conversions

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """Stack the images into one ``(n, H, W, C)`` array (uint8 unless ``dtype`` says else).

        Raises
        ------
        ValidationError
            When the images differ in size or channel count.
        ValueError
            When ``copy=False`` but stacking several images needs a copy.
        """
        stacked = self._stack(copy)
        if dtype is not None and np.dtype(dtype) != stacked.dtype:
            if copy is False:
                raise ValueError(
                    f"converting ImageResult to {np.dtype(dtype)} needs a copy; "
                    "call np.asarray(result) without copy=False"
                )
            stacked = stacked.astype(dtype)
        return stacked

    def _stack(self, copy: bool | None) -> np.ndarray:
        if not self.images:
            return np.zeros((0, 0, 0, 3), dtype=np.uint8)
        shapes = {im.shape for im in self.images}
        if len(shapes) > 1:
            raise ValidationError(_mixed_shapes_message(self.images), param="images", value=shapes)
        if len(self.images) == 1 and copy is not True:
            return self.images[0][np.newaxis]
        if copy is False:
            raise ValueError(
                f"stacking {len(self.images)} images into one array needs a copy; "
                "call np.asarray(result) without copy=False"
            )
        return np.stack(self.images)

    def to_float(self) -> np.ndarray:
        """The images as a ComfyUI ``IMAGE`` batch.

        Returns
        -------
        np.ndarray
            ``(B, H, W, C)`` float32 in [0, 1], C = 3 or 4.

        Raises
        ------
        ValidationError
            When the images differ in size or channel count.
        """
        if len({im.shape for im in self.images}) > 1:
            raise ValidationError(
                _mixed_shapes_message(self.images), param="images", value=self.sizes
            )
        return imaging.to_comfy_batch(self.images)

    # ------------------------------------------------------------------ files

    def save(
        self, folder_or_path: str | pathlib.Path, format: str | None = None
    ) -> list[pathlib.Path]:
        """Write the images to files.

        Parameters
        ----------
        folder_or_path : str or Path
            A folder (created if missing; images are written as ``image-0.png``, ...), or a file
            path with an image suffix (``.png``, ``.jpg``, ``.webp``). With several images a file
            path becomes numbered files: ``out.png`` -> ``out-0.png``, ``out-1.png``, ...
        format : {"png", "jpeg", "webp"}, optional
            Defaults to the file suffix's format, else PNG. JPEG drops alpha.

        Returns
        -------
        list of Path
            One path per image, in order.
        """
        target = pathlib.Path(folder_or_path).expanduser()
        fmt = _resolve_format(format, target)
        paths = _target_paths(target, fmt, len(self.images))
        for image, path in zip(self.images, paths, strict=True):
            path.parent.mkdir(parents=True, exist_ok=True)
            pixels = image[..., :3] if fmt == "jpeg" else image
            path.write_bytes(imaging.encode_image(pixels, fmt))
        return paths

    # ------------------------------------------------------------------ display

    def __repr__(self) -> str:
        sizes = ", ".join(f"{w}x{h}" for w, h in self.sizes) or "none"
        parts = [
            f"model={self.model!r}",
            f"operation={self.operation!r}",
            f"n={len(self.images)}",
            f"sizes=[{sizes}]",
            f"cost={_format_cost(self.cost_usd, self.cost_is_estimate)}",
        ]
        if self.request_id:
            parts.append(f"request_id={self.request_id!r}")
        if self.entry_id:
            parts.append(f"entry_id={self.entry_id!r}")
        if self.cached:
            parts.append("cached=True")
        return f"ImageResult({', '.join(parts)})"

    def _repr_html_(self) -> str:
        """A gallery of thumbnails (long edge <= ``THUMBNAIL_EDGE`` px) with captions."""
        header = html.escape(
            f"{self.model or 'unknown model'} · {self.operation} · {len(self.images)} image(s) · "
            f"{_format_cost(self.cost_usd, self.cost_is_estimate)}"
        )
        prompt = self.request.get("prompt")
        prompt_html = (
            f"<div style='margin-bottom:4px'>{html.escape(_shorten(prompt))}</div>"
            if isinstance(prompt, str) and prompt
            else ""
        )
        cards = [self._card_html(index) for index in range(len(self.images))]
        return (
            '<div class="giw-result" style="font-family:sans-serif;font-size:12px">'
            f"<div style='margin-bottom:4px'><b>{header}</b></div>{prompt_html}"
            '<div style="display:flex;flex-wrap:wrap;gap:8px">'
            f"{''.join(cards)}</div></div>"
        )

    def _card_html(self, index: int) -> str:
        image = self.images[index]
        mime, data = _thumbnail(image)
        height, width = image.shape[:2]
        caption = [f"#{index} · {width}x{height}"]
        revised = self.revised_prompts[index] if index < len(self.revised_prompts) else None
        if revised:
            caption.append(f"revised prompt: {_shorten(revised)}")
        caption_html = "<br>".join(html.escape(line) for line in caption)
        alt = html.escape(f"image {index} from {self.model}", quote=True)
        return (
            '<figure style="margin:0;max-width:260px">'
            f'<img src="data:{mime};base64,{data}" alt="{alt}" '
            'style="max-width:256px;max-height:256px;display:block"/>'
            f"<figcaption>{caption_html}</figcaption></figure>"
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, str]:
        """``text/html`` gallery and a ``text/plain`` summary for Jupyter."""
        return {"text/html": self._repr_html_(), "text/plain": repr(self)}


# ---------------------------------------------------------------------- helpers


def _check_image(image: Any, index: int) -> None:
    """Reject anything that is not an ``(H, W, 3|4)`` uint8 array."""
    ok = (
        isinstance(image, np.ndarray)
        and image.dtype == np.uint8
        and image.ndim == 3
        and image.shape[2] in (3, 4)
    )
    if not ok:
        got = (
            f"array of shape {image.shape} and dtype {image.dtype}"
            if isinstance(image, np.ndarray)
            else type(image).__name__
        )
        raise ValidationError(
            f"ImageResult.images[{index}] must be an (H, W, 3) or (H, W, 4) uint8 array, "
            f"got {got}; use ImageResult.from_arrays(...) to convert other image inputs",
            param=f"images[{index}]",
            value=got,
        )


def _mixed_shapes_message(images: Sequence[np.ndarray]) -> str:
    shapes = sorted({f"{im.shape[1]}x{im.shape[0]}x{im.shape[2]}" for im in images})
    what = "sizes" if len({im.shape[:2] for im in images}) > 1 else "channel counts"
    return (
        f"the images of this result differ in {what} (WxHxC: {', '.join(shapes)}), so they "
        "cannot be stacked into one array; use result.images (a list of arrays) or resize "
        "them to one size first"
    )


def _resolve_format(format: str | None, target: pathlib.Path) -> str:
    if format is None:
        return _FORMAT_BY_SUFFIX.get(target.suffix.lower(), "png")
    fmt = _FORMAT_ALIASES.get(str(format).lower().lstrip("."))
    if fmt is None:
        raise ValidationError(
            f"format {format!r} is not supported; use 'png', 'jpeg' or 'webp'",
            param="format",
            value=format,
        )
    return fmt


def _target_paths(target: pathlib.Path, fmt: str, count: int) -> list[pathlib.Path]:
    """File paths for ``count`` images: one file, numbered files, or files in a folder."""
    is_file = target.suffix.lower() in _FORMAT_BY_SUFFIX and not target.is_dir()
    if not is_file:
        suffix = _SUFFIX_BY_FORMAT[fmt]
        return [target / f"image-{i}{suffix}" for i in range(count)]
    if count == 1:
        return [target]
    return [target.with_name(f"{target.stem}-{i}{target.suffix}") for i in range(count)]


def _thumbnail(image: np.ndarray) -> tuple[str, str]:
    """A small base64 thumbnail: JPEG for opaque images, PNG when there is alpha."""
    pil = Image.fromarray(image)
    if max(pil.size) > THUMBNAIL_EDGE:
        pil.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE), Image.Resampling.LANCZOS, reducing_gap=2.0)
    small = np.asarray(pil)
    if small.shape[2] == 4:
        return "image/png", base64.b64encode(imaging.encode_image(small, "png")).decode("ascii")
    data = imaging.encode_image(small, "jpeg", quality=85)
    return "image/jpeg", base64.b64encode(data).decode("ascii")


def _format_cost(cost: float | None, estimate: bool) -> str:
    if cost is None:
        return "cost unknown"
    return f"{'~' if estimate else ''}${cost:.4f}{' (estimate)' if estimate else ''}"


def _shorten(text: str, limit: int = _CAPTION_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
