"""Request parsing for the offline server: a JSON or multipart body in, an :class:`ImageCall` out.

Owns: which content type each images endpoint takes, reading JSON bodies (and OpenAI's JSON
edit form with data-URL images), reading multipart forms (``image``, ``image[]``, ``mask``
must be real file parts), turning wire values into typed params, and which model a request
means (OpenAI's per-endpoint default when it names none). Whether the values are acceptable
is :mod:`.checks`' concern: it asks :mod:`gptimage_widgets.validation`, so no wire field type
is restated here.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from .. import catalog
from ..catalog import ModelSpec
from ..errors import APIStatusError, ValidationError
from .lifecycle import model_not_found
from .multipart import MultipartForm, Part, parse_content_type, parse_multipart
from .responses import FileInfo, HTTPRequest, api_error, short

__all__ = [
    "DEFAULT_MODELS",
    "MAX_BODY_BYTES",
    "UNCHECKED_FIELDS",
    "Body",
    "ImageCall",
    "read_body",
    "resolve_model",
    "to_call",
    "wire_value",
]

#: Largest request body the server reads (16 images of 50 MB would not fit; nor do they offline).
MAX_BODY_BYTES = 256 * 1024 * 1024
#: Wire fields the server accepts without validating their value (OpenAI's newer end-user id);
#: they must be strings.
UNCHECKED_FIELDS = ("safety_identifier",)
#: Field names that only a file part (multipart) or a data URL (JSON edits) may carry, and the
#: names :func:`gptimage_widgets.validation.check` takes as arguments.
RESERVED_FIELDS = ("image", "image[]", "images", "mask", "operation")
#: OpenAI's default model per endpoint when a request names none (from its API spec).
DEFAULT_MODELS = {"generate": "dall-e-2", "edit": "gpt-image-1.5", "variation": "dall-e-2"}


@dataclass
class Body:
    """An images request body as received: fields (untyped), uploaded files."""

    fields: dict[str, Any]
    images: list[Part]
    mask: Part | None
    from_form: bool

    def file_infos(self) -> list[FileInfo]:
        """The uploads as the request log keeps them (never their content)."""
        parts = [*self.images, *([self.mask] if self.mask else [])]
        return [FileInfo(p.name, p.filename, p.content_type, len(p.data)) for p in parts]


@dataclass
class ImageCall:
    """An images request after parsing: typed params, uploaded files, the model's spec.

    ``model`` is the model name as sent (an alias stays an alias), or the endpoint's default.
    """

    operation: str
    spec: ModelSpec
    params: dict[str, Any]
    images: list[Part]
    mask: Part | None
    stream: bool
    model: str = ""


def read_body(operation: str, request: HTTPRequest) -> Body:
    """The fields and files of a request to an images endpoint.

    Raises
    ------
    APIStatusError
        413 for a body over :data:`MAX_BODY_BYTES`; 400 for a content type the endpoint does
        not take or a body that does not parse.
    """
    if len(request.body) > MAX_BODY_BYTES:
        raise api_error(413, f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    content_type = request.headers.get("content-type") or "application/json"
    media_type, ct_params = parse_content_type(content_type)
    if media_type == "multipart/form-data" and operation != "generate":
        form = parse_multipart(request.body, ct_params.get("boundary", ""))
        return Body(*_from_form(form, operation), from_form=True)
    if media_type == "application/json" and operation != "variation":
        return Body(*_from_json(_load_json(request.body), operation), from_form=False)
    wanted = "application/json" if operation == "generate" else "multipart/form-data"
    raise api_error(
        400,
        f"Unsupported content type {media_type!r} for this endpoint; send {wanted}.",
        param="content-type",
    )


def to_call(operation: str, body: Body) -> ImageCall:
    """``body`` as an :class:`ImageCall`: the model's spec, typed params, the stream flag.

    Values are not checked here beyond what is needed to read them (that is
    :func:`gptimage_widgets.validation.check`'s job, see :mod:`.checks`): multipart strings are
    converted by the kind of the model's parameter (:func:`wire_value`), JSON values are kept
    as sent.

    Raises
    ------
    APIStatusError
        400 for a field no model parameter has, a non-string model, a non-boolean ``stream``;
        404 for an unknown model.
    """
    fields = {name: value for name, value in body.fields.items() if value is not None}
    for name in fields:
        if name in RESERVED_FIELDS:
            raise _unknown(name)
    model = _string_field("model", fields.pop("model", None) or DEFAULT_MODELS[operation])
    spec = resolve_model(model)
    stream = fields.pop("stream", False)
    stream = wire_value("bool", stream) if body.from_form else stream
    if not isinstance(stream, bool):
        raise _wrong_type("stream", stream, "a boolean")
    for name in UNCHECKED_FIELDS:
        if name in fields:
            _string_field(name, fields.pop(name))
    params: dict[str, Any] = {}
    for name, value in fields.items():
        param = spec.params.get(name)
        if param is not None and not param.send:  # the kit's own (seed): never on the wire
            raise _unknown(name)
        kind = param.kind if param is not None else "str"
        params[name] = wire_value(kind, value) if body.from_form else value
    return ImageCall(operation, spec, params, body.images, body.mask, stream, model)


def wire_value(kind: str, value: Any) -> Any:
    """A multipart field's text as the value a parameter of ``kind`` takes.

    The one place wire strings become typed: ``"int"`` -> int (``"2"``), ``"bool"`` -> bool
    (``"true"``/``"false"``/``"1"``/``"0"``); other kinds, and text that does not read as the
    kind, are returned unchanged for validation to report.

    Parameters
    ----------
    kind : str
        A :class:`gptimage_widgets.catalog.ParamSpec` kind: ``"int"``, ``"bool"``, ``"str"``,
        ``"enum"`` or ``"size"``.
    value : Any
        The field's value (a str from a form).
    """
    if not isinstance(value, str):
        return value
    if kind == "int" and re.fullmatch(r"\s*[+-]?\d{1,12}\s*", value):
        return int(value)
    if kind == "bool" and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    return value


def resolve_model(name: str) -> ModelSpec:
    """The catalog spec of ``name`` (an alias works); an unknown one is OpenAI's 404."""
    try:
        return catalog.get_model(name)
    except ValidationError:
        raise model_not_found(name) from None


# --------------------------------------------------------------------------- JSON bodies


def _load_json(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, huge ints
        raise api_error(
            400,
            "We could not parse the JSON body of your request. The body must be "
            "a valid JSON object.",
            code="invalid_json",
        ) from None
    if not isinstance(payload, dict):
        raise api_error(
            400,
            f"The JSON body must be an object, got {type(payload).__name__}.",
            code="invalid_json",
        )
    return payload


def _from_json(payload: dict[str, Any], operation: str) -> tuple[dict, list[Part], Part | None]:
    """Fields and images of a JSON body (generations, or OpenAI's JSON edit form)."""
    fields = dict(payload)
    if operation != "edit":
        return fields, [], None
    refs = fields.pop("images", None)
    mask_ref = fields.pop("mask", None)
    if refs is not None and not isinstance(refs, list):
        raise api_error(
            400,
            "Invalid type for 'images': expected an array of image references.",
            param="images",
            code="invalid_type",
        )
    images = [_data_url_part(ref, f"images[{i}]") for i, ref in enumerate(refs or [])]
    mask = _data_url_part(mask_ref, "mask") if mask_ref is not None else None
    return fields, images, mask


def _data_url_part(ref: Any, param: str) -> Part:
    """An uploaded-file :class:`Part` from ``{"image_url": "data:image/png;base64,..."}``."""
    url = ref.get("image_url") if isinstance(ref, dict) else None
    if not isinstance(url, str):
        raise api_error(
            400,
            f"'{param}' must be an object with an 'image_url' data URL; the offline "
            "server cannot fetch file ids or web URLs.",
            param=param,
            code="invalid_value",
        )
    match = re.match(r"^data:([\w.+/-]+);base64,(.*)$", url, re.DOTALL)
    if match is None:
        raise api_error(
            400,
            f"'{param}.image_url' must be a base64 data URL "
            "(data:image/png;base64,...); the offline server does not fetch URLs.",
            param=param,
            code="invalid_value",
        )
    try:
        data = base64.b64decode(match[2], validate=True)
    except (binascii.Error, ValueError):
        raise api_error(
            400, f"'{param}.image_url' is not valid base64.", param=param, code="invalid_value"
        ) from None
    return Part(param.split("[")[0], f"{param}.{match[1].split('/')[-1]}", match[1].lower(), data)


# --------------------------------------------------------------------------- multipart bodies


def _from_form(form: MultipartForm, operation: str) -> tuple[dict, list[Part], Part | None]:
    """Fields and files of a multipart body; ``image``/``mask`` must be real file parts."""
    for name in ("image", "image[]", "mask"):
        if name in form.fields:
            raise api_error(
                400,
                f"'{name}' must be a file upload with a filename and a content "
                "type (image/png, image/jpeg or image/webp).",
                param=name,
                code="invalid_value",
            )
    allowed_files = {"image", "image[]", "mask"} if operation == "edit" else {"image"}
    for part in form.files:
        if part.name not in allowed_files:
            raise api_error(
                400, f"Unknown parameter: '{part.name}'.", param=part.name, code="unknown_parameter"
            )
    masks = form.files_named("mask")
    if len(masks) > 1:
        raise api_error(400, "Send at most one 'mask' file.", param="mask", code="invalid_value")
    return dict(form.fields), form.files_named("image", "image[]"), (masks[0] if masks else None)


# --------------------------------------------------------------------------- errors


def _unknown(name: str) -> APIStatusError:
    return api_error(
        400, f"Unknown parameter: '{short(name)}'.", param=short(name), code="unknown_parameter"
    )


def _wrong_type(name: str, value: Any, wanted: str) -> APIStatusError:
    return api_error(
        400,
        f"Invalid type for '{name}': expected {wanted}, but got {_json_type(value)} instead.",
        param=name,
        code="invalid_type",
    )


def _string_field(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _wrong_type(name, value, "a string")
    return value


def _json_type(value: Any) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a decimal",
        str: "a string",
        list: "an array",
        dict: "an object",
    }
    return names.get(type(value), type(value).__name__)
