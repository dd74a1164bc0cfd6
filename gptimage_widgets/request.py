"""Build the exact wire form of an image request (pure: no I/O, no httpx).

:func:`build_request` validates the parameters against the catalog, then produces an
:class:`ImageRequest` in OpenAI's wire format
(https://platform.openai.com/docs/api-reference/images):

- generations: a JSON body;
- edits: multipart, one file as ``image`` or several as repeated ``image[]``, plus ``mask``
  (RGBA PNG, alpha 0 = edit); variations: multipart ``image``;
- every file part has a filename and a real content type (never
  ``application/octet-stream``); non-file form fields are strings (``"true"``, ``"3"``);
- ``model`` is always sent; parameters with ``send: false`` and parameters the
  model does not take are never sent; defaults are left to the server, except
  ``response_format="b64_json"`` for models that have it (so results arrive inline);
- ``ImageRequest.params`` records what was asked for with the catalog's defaults filled in
  (:func:`gptimage_widgets.catalog.resolve_params`).

Client-only options (never sent): ``upload_format`` (``"png"`` default, ``"jpeg"`` or
``"webp"`` where the model accepts them), ``downscale`` (default True: inputs above the
model's ``pixel_budget`` are shrunk, image and mask together, and a note says so) and
``stream`` (force streaming; otherwise ``partial_images > 0`` turns it on).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import catalog, imaging, validation
from .catalog import ModelSpec
from .errors import ValidationError

__all__ = ["CLIENT_OPTIONS", "CONTENT_TYPES", "PATHS", "FilePart", "ImageRequest", "build_request"]

PATHS: Mapping[str, str] = {
    "generate": "/images/generations",
    "edit": "/images/edits",
    "variation": "/images/variations",
}
CONTENT_TYPES: Mapping[str, str] = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
CLIENT_OPTIONS = ("upload_format", "downscale", "stream")
_FILE_PARAMS = ("images", "mask")
_NOT_SENT_WHEN_ZERO = ("partial_images",)


@dataclass(frozen=True)
class FilePart:
    """One file of a multipart body.

    Attributes
    ----------
    field : str
        ``"image"``, ``"image[]"`` or ``"mask"``.
    filename : str
        E.g. ``"image-0.png"``; the extension matches the content.
    content : bytes
        The encoded file.
    content_type : str
        ``"image/png"``, ``"image/jpeg"`` or ``"image/webp"``.
    """

    field: str
    filename: str
    content: bytes = dataclasses.field(repr=False)
    content_type: str

    def as_httpx(self) -> tuple[str, tuple[str, bytes, str]]:
        """``(field, (filename, content, content_type))`` as httpx's ``files=`` takes it."""
        return self.field, (self.filename, self.content, self.content_type)


@dataclass(frozen=True)
class ImageRequest:
    """A validated request, ready to send.

    Attributes
    ----------
    model : str
        The model name as given (an alias such as a snapshot name is sent as is).
    operation : str
        ``"generate"``, ``"edit"`` or ``"variation"``.
    path : str
        Endpoint path below the API root, e.g. ``"/images/edits"``.
    json : dict or None
        The JSON body (generations).
    data : dict of str to str or None
        Multipart non-file fields (edits, variations), all strings.
    files : tuple of FilePart
        Multipart files.
    stream : bool
        Whether the response is server-sent events.
    params : dict
        The effective parameters (defaults filled in, image sizes instead of pixels, no
        secrets) for the result and the history store.
    notes : tuple of str
        What the client changed, e.g. ``"image 0 downscaled from 4096x4096 to 2880x2880"``.
    fields : dict
        The non-file fields as typed values (``model`` included), whatever the body's form:
        what a JSON body carries (the Batch API's JSON edits body starts from it).
    """

    model: str
    operation: str
    path: str
    json: dict[str, Any] | None
    data: dict[str, str] | None
    files: tuple[FilePart, ...] = field(default=(), repr=False)
    stream: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    fields: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def partial_images(self) -> int:
        """Partial images requested (0 when not streaming)."""
        return int(self.params.get("partial_images") or 0) if self.stream else 0


def build_request(
    model: str | ModelSpec, operation: str = "generate", **params: Any
) -> ImageRequest:
    """Validate `params` for `model` and `operation`, then build the wire form.

    Parameters
    ----------
    model : str or ModelSpec
        A catalog name or alias.
    operation : {"generate", "edit", "variation"}
    **params
        Client parameter names (``prompt``, ``images``, ``mask``, ``n``, ``size``...;
        ``None`` = not given) plus the client options ``upload_format``, ``downscale``,
        ``stream``. `images` takes anything ``imaging.to_arrays`` accepts; `mask` a 2-D
        array (True/nonzero = edit) or an RGBA image/PNG (alpha 0 = edit).

    Returns
    -------
    ImageRequest

    Raises
    ------
    ValidationError
        Listing every problem, before anything is encoded.
    """
    spec = model if isinstance(model, ModelSpec) else catalog.get_model(model)
    model_name = model if isinstance(model, str) else spec.name
    options = {name: params.pop(name) for name in CLIENT_OPTIONS if name in params}
    given = {name: value for name, value in params.items() if value is not None}
    validation.validate(spec, operation, **given)
    upload_format = _upload_format(spec, options.get("upload_format"))
    stream = _wants_stream(spec, given, options.get("stream"))
    fields = _wire_fields(spec, operation, given, stream)
    uploads = _Uploads(spec, upload_format, downscale=options.get("downscale", True) is not False)
    files = uploads.encode(operation, given.get("images"), given.get("mask"))
    body: dict[str, Any] = {"model": model_name, **fields}
    is_json = operation == "generate"
    return ImageRequest(
        model=model_name,
        operation=operation,
        path=PATHS[operation],
        json=body if is_json else None,
        data=None if is_json else {key: _form_value(value) for key, value in body.items()},
        files=files,
        stream=stream,
        params=_effective_params(spec, operation, model_name, given, stream, uploads),
        notes=tuple(uploads.notes),
        fields=dict(body),
    )


# --------------------------------------------------------------------------- fields


def _upload_format(spec: ModelSpec, requested: Any) -> str:
    if requested is None:
        return "png"
    fmt = str(requested).lower().replace("jpg", "jpeg")
    if fmt not in CONTENT_TYPES or fmt not in spec.image_formats:
        allowed = ", ".join(repr(f) for f in spec.image_formats)
        raise ValidationError(
            f"upload_format {requested!r} is not accepted by {spec.name}; use one of {allowed}",
            param="upload_format",
            value=requested,
        )
    return fmt


def _wants_stream(spec: ModelSpec, given: Mapping[str, Any], forced: Any) -> bool:
    if forced and not spec.streaming:
        raise ValidationError(
            f"{spec.name} cannot stream; drop stream=True (and partial_images)",
            param="stream",
            value=forced,
        )
    if forced is not None:
        return bool(forced) and spec.streaming
    return spec.streaming and int(given.get("partial_images") or 0) > 0


def _wire_fields(
    spec: ModelSpec, operation: str, given: Mapping[str, Any], stream: bool
) -> dict[str, Any]:
    """The non-file fields to send, in the catalog's order, prompt first."""
    fields: dict[str, Any] = {}
    if "prompt" in given:
        fields["prompt"] = given["prompt"]
    applicable = spec.params_for(operation)
    for name, param in applicable.items():
        value = given.get(name)
        if value is None or not param.send:
            continue
        if name in _NOT_SENT_WHEN_ZERO and (not value or not stream):
            continue
        fields[name] = value
    if "response_format" in applicable and "response_format" not in fields:
        fields["response_format"] = "b64_json"
    if stream:
        fields["stream"] = True
    return fields


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _effective_params(
    spec: ModelSpec,
    operation: str,
    model_name: str,
    given: Mapping[str, Any],
    stream: bool,
    uploads: _Uploads,
) -> dict[str, Any]:
    """What was asked for, defaults included, with image sizes instead of pixels."""
    params: dict[str, Any] = {"model": model_name}
    if "prompt" in given:
        params["prompt"] = given["prompt"]
    for name, value in catalog.resolve_params(spec, operation, given).items():
        if name not in params and name not in _FILE_PARAMS:
            params[name] = value
    if uploads.image_sizes:
        params["image_sizes"] = [f"{w}x{h}" for w, h in uploads.image_sizes]
    if uploads.has_mask:
        params["mask"] = True
    params["stream"] = stream
    return params


# --------------------------------------------------------------------------- files


class _Uploads:
    """Encodes input images (and the mask) into file parts, recording what changed."""

    def __init__(self, spec: ModelSpec, upload_format: str, *, downscale: bool) -> None:
        self.spec = spec
        self.format = upload_format
        self.downscale = downscale and spec.pixel_budget is not None
        self.notes: list[str] = []
        self.image_sizes: list[tuple[int, int]] = []
        self.has_mask = False

    def encode(self, operation: str, images: Any, mask: Any) -> tuple[FilePart, ...]:
        if operation == "generate" or images is None:
            return ()
        arrays = imaging.to_arrays(images)
        mask_array = None
        if mask is not None:
            height, width = arrays[0].shape[:2]
            mask_array = imaging.mask_to_array(mask, size=(width, height))
        arrays, mask_array = self._fit_budget(arrays, mask_array)
        parts = self._image_parts(operation, arrays)
        if mask_array is not None:
            self.has_mask = True
            mask_png = imaging.mask_to_openai_png(mask_array)
            self._check_encoded_size("mask", mask_png, mask_array.shape, "png")
            parts.append(FilePart("mask", "mask.png", mask_png, CONTENT_TYPES["png"]))
        return tuple(parts)

    def _fit_budget(
        self, arrays: list[np.ndarray], mask: np.ndarray | None
    ) -> tuple[list[np.ndarray], np.ndarray | None]:
        if not self.downscale:
            return arrays, mask
        budget = self.spec.pixel_budget
        assert budget is not None
        fitted = []
        for index, array in enumerate(arrays):
            if array.shape[0] * array.shape[1] <= budget:
                fitted.append(array)
                continue
            paired_mask = mask if index == 0 else None
            small, small_mask, _ = imaging.downscale_to_budget(
                array, paired_mask, max_pixels=budget
            )
            self.notes.append(
                f"image {index} downscaled from {_wxh(array)} to {_wxh(small)} "
                f"(pixel budget {budget:,} of {self.spec.name})"
            )
            if index == 0 and mask is not None:
                mask = small_mask
                self.notes.append(f"mask downscaled with image 0 to {_wxh(small)}")
            fitted.append(small)
        return fitted, mask

    def _image_parts(self, operation: str, arrays: list[np.ndarray]) -> list[FilePart]:
        field_name = "image" if len(arrays) == 1 or operation == "variation" else "image[]"
        parts = []
        for index, array in enumerate(arrays):
            self.image_sizes.append((array.shape[1], array.shape[0]))
            filename = "image" if len(arrays) == 1 else f"image-{index}"
            content = imaging.encode_image(self._drop_alpha_if_needed(array, index), self.format)
            self._check_encoded_size(f"images[{index}]", content, array.shape, self.format)
            parts.append(
                FilePart(
                    field_name,
                    f"{filename}.{_extension(self.format)}",
                    content,
                    CONTENT_TYPES[self.format],
                )
            )
        return parts

    def _check_encoded_size(
        self, param: str, content: bytes, shape: tuple[int, ...], fmt: str
    ) -> None:
        """Refuse an encoded file above the model's byte limit (dall-e-2: 4 MB), before sending.

        Bytes and paths are checked by validation; arrays and PIL images only have a size
        once encoded here.
        """
        limit = self.spec.max_image_bytes
        if len(content) <= limit:
            return
        height, width = shape[:2]
        scale = 0.9 * math.sqrt(limit / len(content))  # bytes grow about with the pixels
        smaller = f"{max(1, int(width * scale))}x{max(1, int(height * scale))}"
        raise ValidationError(
            f"{param}: encoded as {fmt.upper()} the {width}x{height} image is "
            f"{len(content):,} bytes, but {self.spec.name} accepts files up to {limit:,} "
            f"bytes; downscale it (e.g. to {smaller}) or pass a smaller image",
            param=param,
            value=f"{width}x{height}, {len(content):,} bytes as {fmt}",
        )

    def _drop_alpha_if_needed(self, array: np.ndarray, index: int) -> np.ndarray:
        if self.format != "jpeg" or array.ndim != 3 or array.shape[2] != 4:
            return array
        self.notes.append(f"image {index}: alpha dropped for upload_format='jpeg'")
        return np.ascontiguousarray(array[..., :3])


def _wxh(array: np.ndarray) -> str:
    return f"{array.shape[1]}x{array.shape[0]}"


def _extension(fmt: str) -> str:
    return "jpg" if fmt == "jpeg" else fmt
