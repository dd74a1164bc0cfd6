"""The offline server's application: HTTP requests in, OpenAI-shaped responses out.

This module knows nothing about sockets: :meth:`OfflineApp.handle` takes a parsed
:class:`HTTPRequest` and returns an :class:`HTTPResponse` (a body, or an iterator of SSE
chunks), which :mod:`.server` writes to the wire. What a model accepts comes from the
catalog and :func:`gptimage_widgets.validation.check` — the same rules the client applies —
so server and client cannot disagree. Every malformed request gets a 4xx with OpenAI's error
shape ``{"error": {"message", "type", "param", "code"}}``; a 500 is always a bug.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import re
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import numpy as np
from PIL import Image

from .. import catalog, validation
from ..catalog import ModelSpec
from ..errors import APIStatusError, BadRequestError, NotFoundError, Problem, ValidationError
from . import synth
from .faults import FAULT_HEADER, Fault, FaultPlan
from .multipart import MultipartForm, Part, parse_content_type, parse_multipart

__all__ = ["FileInfo", "HTTPRequest", "HTTPResponse", "OfflineApp", "RequestRecord"]

#: Largest request body the server reads (16 images of 50 MB would not fit; nor do they offline).
MAX_BODY_BYTES = 256 * 1024 * 1024
#: Largest decoded input image, in pixels (a decompression-bomb guard).
MAX_INPUT_PIXELS = 40_000_000
#: Largest output image, in pixels (gpt-image-2's ceiling).
MAX_OUTPUT_PIXELS = 8_294_400
#: Largest integer accepted in any field before validation sees it.
MAX_INT = 2**31 - 1

#: Wire fields and their JSON types. Files (``image``, ``image[]``, ``mask``) come apart.
FIELD_TYPES: Mapping[str, type] = {
    "model": str,
    "prompt": str,
    "n": int,
    "size": str,
    "quality": str,
    "background": str,
    "output_format": str,
    "output_compression": int,
    "moderation": str,
    "input_fidelity": str,
    "style": str,
    "response_format": str,
    "partial_images": int,
    "stream": bool,
    "user": str,
    "safety_identifier": str,
}
#: Wire fields the server accepts but does not validate (OpenAI's newer end-user id).
UNCHECKED_FIELDS = ("safety_identifier",)
#: Parameters whose catalog default the server applies when a request leaves them out.
SERVER_DEFAULTS = ("n", "size", "quality", "background", "output_format", "style")
#: OpenAI's default model per endpoint when a request names none (from its API spec).
DEFAULT_MODELS = {"generate": "dall-e-2", "edit": "gpt-image-1.5", "variation": "dall-e-2"}
IMAGE_MIME_TYPES = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/webp": "webp",
}
#: Output tokens per 1024x1024 image by quality, when the catalog has no table for the model.
OUTPUT_TOKENS_1024 = {"low": 272, "medium": 1056, "high": 4160, "xhigh": 6240, "max": 8320}
PARTIAL_IMAGE_TOKENS = 100
#: Body bytes a ``drop`` fault lets through on a streamed answer before closing.
STREAM_DROP_BYTES = 64
URL_TTL_SECONDS = 3600.0
MAX_STORED_FILES = 256
#: Requests kept in the log (oldest dropped first), so a long `gptimage serve` stays small.
MAX_LOGGED_REQUESTS = 10_000
ROUTES = {
    "/v1/images/generations": "generate",
    "/v1/images/edits": "edit",
    "/v1/images/variations": "variation",
}
_FILE_URL = re.compile(r"^/v1/files/offline/([0-9a-f]{32})\.png$")
_MODEL_URL = re.compile(r"^/v1/models/(.+)$")
_SECRET_HEADER = re.compile(r"auth|key|cookie|token|secret", re.IGNORECASE)


# --------------------------------------------------------------------------- HTTP values


@dataclass(frozen=True)
class HTTPRequest:
    """A received request: ``headers`` keys are lower case, ``path`` has no query string."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes = b""


@dataclass
class HTTPResponse:
    """What to send back.

    Attributes
    ----------
    status : int
    headers : list of (name, value)
    body : bytes
        The whole body (ignored when ``chunks`` is set).
    chunks : iterator of bytes or None
        A streamed body, sent with chunked transfer encoding.
    delay : float
        Seconds to wait before sending the headers (latency, ``slow_headers``).
    drop_after : int or None
        Close the connection after this many body bytes (``drop``; for streams: chunks).
    """

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    chunks: Iterator[bytes] | None = None
    delay: float = 0.0
    drop_after: int | None = None


@dataclass(frozen=True)
class FileInfo:
    """An uploaded file as logged: never its content."""

    field: str
    filename: str | None
    content_type: str | None
    size: int


@dataclass
class RequestRecord:
    """One entry of :attr:`OfflineServer.requests`: what arrived, never a credential.

    ``fields`` holds the non-file parameters as received, ``headers`` every header except
    those that look like credentials (``authorization``, ``api-key``, cookies, tokens).
    """

    method: str
    path: str
    fields: dict[str, Any]
    files: list[FileInfo]
    headers: dict[str, str]
    request_id: str
    status: int | None = None
    fault: str | None = None
    time: float = field(default_factory=time.time)


# --------------------------------------------------------------------------- parsed request


@dataclass
class ImageCall:
    """An images request after parsing: typed params, uploaded files, the model's spec."""

    operation: str
    spec: ModelSpec
    params: dict[str, Any]
    images: list[Part]
    mask: Part | None
    stream: bool


def _error(
    status: int,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    type: str = "invalid_request_error",
) -> APIStatusError:
    """An error to answer with; raised inside the app, rendered by :meth:`OfflineApp.handle`."""
    cls = NotFoundError if status == 404 else BadRequestError if status == 400 else APIStatusError
    return cls(message, status_code=status, param=param, code=code, type=type)


def _json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def error_body(
    message: str,
    *,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    **extra: Any,
) -> bytes:
    """OpenAI's error body ``{"error": {"message", "type", "param", "code", ...extra}}``."""
    return _json_bytes(
        {"error": {"message": message, "type": type, "param": param, "code": code, **extra}}
    )


# --------------------------------------------------------------------------- the app


class OfflineApp:
    """Answers HTTP requests like OpenAI's images API, from synthetic images.

    Parameters
    ----------
    latency : float
        Seconds every answer waits before its headers.
    faults : iterable of Fault or kind strings, or None
        Fault rules (see :mod:`.faults`).
    seed : int
        Seed of the RNG behind rate-based faults.
    base_url : callable returning str
        The server's ``.../v1`` URL, for DALL·E ``url`` responses.
    url_ttl : float
        Seconds an image URL stays valid (OpenAI: 60 minutes).
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        faults: Iterable[Fault | str] | None = None,
        seed: int = 0,
        base_url: Callable[[], str] = lambda: "http://127.0.0.1/v1",
        url_ttl: float = URL_TTL_SECONDS,
    ) -> None:
        self.latency = float(latency)
        self.faults = FaultPlan(faults, seed=seed)
        self._base_url = base_url
        self.url_ttl = url_ttl
        self._files: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._records: deque[RequestRecord] = deque(maxlen=MAX_LOGGED_REQUESTS)
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- log

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._records)

    def clear_requests(self) -> None:
        """Empty the request log."""
        with self._lock:
            self._records.clear()

    # ----------------------------------------------------------------- dispatch

    def handle(self, request: HTTPRequest) -> HTTPResponse:
        """Answer one request; every response carries ``x-request-id: req_offline_<hex>``."""
        request_id = f"req_offline_{uuid.uuid4().hex}"
        record = RequestRecord(
            method=request.method,
            path=request.path,
            fields={},
            files=[],
            headers={k: v for k, v in request.headers.items() if not _SECRET_HEADER.search(k)},
            request_id=request_id,
        )
        with self._lock:
            self._records.append(record)
        try:
            response = self._route(request, record)
        except (APIStatusError, ValidationError) as exc:
            response = self._error_response(exc)
        except Exception as exc:  # a bug in the offline server: still answer, OpenAI-style
            message = f"The offline server failed ({type(exc).__name__}: {exc}); please report it."
            response = _json_response(500, error_body(message, type="server_error"))
        record.status = response.status
        response.headers.append(("x-request-id", request_id))
        response.delay += self.latency
        return response

    def _error_response(self, exc: APIStatusError | ValidationError) -> HTTPResponse:
        """OpenAI's error JSON for ``exc`` (validation problems become a 400)."""
        if isinstance(exc, ValidationError):
            exc = _problems_error(exc)
        body = error_body(
            exc.message, type=exc.type or "invalid_request_error", param=exc.param, code=exc.code
        )
        return _json_response(exc.status_code, body)

    def _route(self, request: HTTPRequest, record: RequestRecord) -> HTTPResponse:
        path = request.path.rstrip("/") or "/"
        operation = ROUTES.get(path)
        if operation is not None:
            _require_method(request, "POST")
            return self._images(operation, request, record)
        if path == "/v1/models":
            _require_method(request, "GET")
            return _json_response(200, _json_bytes(self._list_models()))
        if match := _MODEL_URL.match(path):
            _require_method(request, "GET")
            return _json_response(200, _json_bytes(_model_object(_resolve_model(match[1]))))
        if match := _FILE_URL.match(path):
            _require_method(request, "GET")
            return self._stored_file(match[1])
        raise _error(404, f"Invalid URL ({request.method} {request.path})")

    # ----------------------------------------------------------------- models

    def _list_models(self) -> dict[str, Any]:
        data = []
        for spec in catalog.list_models(include_shutdown=True):
            data.append(_model_object(spec))
            data.extend(_model_object(spec, alias) for alias in spec.aliases)
        return {"object": "list", "data": data}

    # ----------------------------------------------------------------- files

    def _store_file(self, png: bytes) -> str:
        """Keep ``png`` for :attr:`url_ttl` seconds; return its URL."""
        file_id = uuid.uuid4().hex
        now = time.time()
        with self._lock:
            for key in [k for k, (expires, _) in self._files.items() if expires <= now]:
                del self._files[key]
            while len(self._files) >= MAX_STORED_FILES:
                self._files.popitem(last=False)
            self._files[file_id] = (now + self.url_ttl, png)
        return f"{self._base_url()}/files/offline/{file_id}.png"

    def _stored_file(self, file_id: str) -> HTTPResponse:
        with self._lock:
            expires, png = self._files.get(file_id, (0.0, b""))
        if expires <= time.time():
            raise _error(
                404,
                "This image URL has expired or never existed; image URLs are "
                "valid for 60 minutes, request the image again.",
            )
        return HTTPResponse(200, [("content-type", "image/png")], png)

    # ----------------------------------------------------------------- images

    def _images(self, operation: str, request: HTTPRequest, record: RequestRecord) -> HTTPResponse:
        call = self._parse_call(operation, request, record)
        fault = self._pick_fault(request, call.stream)
        record.fault = fault.kind if fault else None
        try:
            response = self._answer(call, fault)
        except (APIStatusError, ValidationError) as exc:
            response = self._error_response(exc)
        if fault is not None and fault.kind == "slow_headers":
            response.delay += fault.delay
        return response

    def _answer(self, call: ImageCall, fault: Fault | None) -> HTTPResponse:
        if fault is not None and (early := _fault_response(fault)) is not None:
            return early
        self._validate(call)
        if call.stream:
            response = self._stream_response(call, fault)
        else:
            response = _json_response(200, _json_bytes(self._render(call)))
        if fault is not None:
            _apply_output_fault(fault, response)
        return response

    def _pick_fault(self, request: HTTPRequest, stream: bool) -> Fault | None:
        header = request.headers.get(FAULT_HEADER)
        return self.faults.pick(request.path, stream=stream, header=header)

    def _parse_call(self, operation: str, request: HTTPRequest, record: RequestRecord) -> ImageCall:
        if len(request.body) > MAX_BODY_BYTES:
            raise _error(413, f"The request body is larger than {MAX_BODY_BYTES} bytes.")
        content_type = request.headers.get("content-type") or "application/json"
        media_type, ct_params = parse_content_type(content_type)
        if media_type == "multipart/form-data" and operation != "generate":
            form = parse_multipart(request.body, ct_params.get("boundary", ""))
            fields, images, mask = _from_form(form, operation)
        elif media_type == "application/json" and operation != "variation":
            fields, images, mask = _from_json(_load_json(request.body), operation)
        else:
            wanted = "application/json" if operation == "generate" else "multipart/form-data"
            raise _error(
                400,
                f"Unsupported content type {media_type!r} for this endpoint; send {wanted}.",
                param="content-type",
            )
        record.fields = dict(fields)
        record.files = [
            FileInfo(p.name, p.filename, p.content_type, len(p.data))
            for p in [*images, *([mask] if mask else [])]
        ]
        params = _typed_params(fields, from_form=media_type == "multipart/form-data")
        model = params.pop("model", None) or DEFAULT_MODELS[operation]
        spec = _resolve_model(model)
        stream = bool(params.pop("stream", False))
        for name in UNCHECKED_FIELDS:
            params.pop(name, None)
        return ImageCall(operation, spec, params, images, mask, stream)

    def _validate(self, call: ImageCall) -> None:
        spec, operation = call.spec, call.operation
        if operation not in spec.operations:
            able = [s.name for s in catalog.list_models() if operation in s.operations]
            raise _error(
                400,
                f"Invalid value: '{spec.name}'. The {operation} endpoint does not "
                f"support {spec.name}; use one of: {', '.join(able)}.",
                param="model",
                code="invalid_value",
            )
        if call.stream and not spec.streaming:
            raise _error(
                400,
                f"{spec.name} does not support streaming; leave out 'stream'.",
                param="stream",
                code="invalid_value",
            )
        for part in [*call.images, *([call.mask] if call.mask else [])]:
            _check_mime_type(part, spec)
        problems = _input_checks(spec, operation, call)
        if problems:
            raise _problems_error(ValidationError(problems))
        if operation != "generate" and not call.images:
            raise _error(
                400,
                "The 'image' file is required; send it as multipart field "
                "'image' (or repeated 'image[]').",
                param="image",
                code="missing_required_parameter",
            )

    # ----------------------------------------------------------------- rendering

    def _outputs(self, call: ImageCall) -> tuple[list[np.ndarray], dict[str, Any]]:
        """The final images ``(H, W, 3|4) uint8`` and the effective settings for the reply."""
        params = _with_defaults(call)
        if call.operation == "generate":
            width, height = _output_size(params.get("size"), None)
        else:
            base = _decode_upload(call.images[0])
            width, height = _output_size(params.get("size"), (base.shape[1], base.shape[0]))
        transparent = params.get("background") == "transparent"
        n = int(params.get("n") or 1)
        prompt = str(params.get("prompt") or "")
        if call.operation == "generate":
            images = [
                synth.generate_image(prompt, width, height, i, transparent=transparent)
                for i in range(n)
            ]
        elif call.operation == "edit":
            refs = [_decode_upload(p) for p in call.images[1:]]
            mask = _edit_mask(call.mask, base)
            images = [
                synth.edit_image(
                    base, prompt, references=refs, mask=mask, size=(width, height), index=i
                )
                for i in range(n)
            ]
        else:
            images = [synth.vary_image(base, width, height, i) for i in range(n)]
        settings = {
            "size": f"{width}x{height}",
            "quality": _reported_quality(params.get("quality")),
            "background": "transparent" if transparent else "opaque",
            "output_format": params.get("output_format") or "png",
            "output_compression": params.get("output_compression"),
            "response_format": params.get("response_format"),
            "partial_images": int(params.get("partial_images") or 0),
            "prompt": prompt,
        }
        return images, settings

    def _render(self, call: ImageCall) -> dict[str, Any]:
        """The JSON body of a non-streamed images response."""
        images, settings = self._outputs(call)
        spec = call.spec
        data = [self._image_item(call, image, settings) for image in images]
        body: dict[str, Any] = {"created": int(time.time()), "data": data}
        if "output_format" in spec.params:
            for key in ("size", "quality", "background", "output_format"):
                body[key] = settings[key]
        if _token_billed(spec):
            body["usage"] = _usage(call, images, settings, partials=0)
        return body

    def _image_item(self, call: ImageCall, image: np.ndarray, settings: Mapping[str, Any]) -> dict:
        spec = call.spec
        fmt = settings["output_format"] if "output_format" in spec.params else "png"
        encoded = synth.encode(image, fmt, settings["output_compression"])
        wants_url = bool(spec.response_formats) and (settings["response_format"] or "url") == "url"
        item: dict[str, Any] = (
            {"url": self._store_file(encoded)}
            if wants_url
            else {"b64_json": base64.b64encode(encoded).decode("ascii")}
        )
        if "style" in spec.params:  # DALL·E 3 rewrites every prompt (style is its own param)
            item["revised_prompt"] = _revised_prompt(settings["prompt"], call.params.get("style"))
        return item

    def _stream_response(self, call: ImageCall, fault: Fault | None) -> HTTPResponse:
        truncate = fault is not None and fault.kind == "truncate_stream"
        images, settings = self._outputs(call)  # before the 200: input errors are still 400s
        chunks = self._stream_events(call, images, settings, truncate=truncate)
        headers = [
            ("content-type", "text/event-stream; charset=utf-8"),
            ("cache-control", "no-cache"),
        ]
        return HTTPResponse(200, headers, chunks=chunks)

    def _stream_events(
        self,
        call: ImageCall,
        images: list[np.ndarray],
        settings: Mapping[str, Any],
        *,
        truncate: bool,
    ) -> Iterator[bytes]:
        """SSE chunks: per image, ``partial_images`` previews then a ``completed`` event."""
        prefix = "image_generation" if call.operation == "generate" else "image_edit"
        partials = settings["partial_images"]
        common = {key: settings[key] for key in ("size", "quality", "background", "output_format")}
        for number, image in enumerate(images):
            for index in range(partials):
                preview = synth.blur_for_partial(image, index, partials)
                yield _sse(
                    f"{prefix}.partial_image",
                    {
                        "type": f"{prefix}.partial_image",
                        "b64_json": _b64(preview, settings),
                        "created_at": int(time.time()),
                        **common,
                        "partial_image_index": index,
                    },
                )
            if truncate:
                return
            usage = _usage(call, [image], settings, partials=partials, with_input=number == 0)
            yield _sse(
                f"{prefix}.completed",
                {
                    "type": f"{prefix}.completed",
                    "b64_json": _b64(image, settings),
                    "created_at": int(time.time()),
                    **common,
                    "usage": usage,
                },
            )


# --------------------------------------------------------------------------- helpers: parsing


def _require_method(request: HTTPRequest, method: str) -> None:
    if request.method != method:
        raise _error(405, f"Method {request.method} is not allowed here; use {method}.")


def _load_json(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, huge ints
        raise _error(
            400,
            "We could not parse the JSON body of your request. The body must be "
            "a valid JSON object.",
            code="invalid_json",
        ) from None
    if not isinstance(payload, dict):
        raise _error(
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
        raise _error(
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
        raise _error(
            400,
            f"'{param}' must be an object with an 'image_url' data URL; the offline "
            "server cannot fetch file ids or web URLs.",
            param=param,
            code="invalid_value",
        )
    match = re.match(r"^data:([\w.+/-]+);base64,(.*)$", url, re.DOTALL)
    if match is None:
        raise _error(
            400,
            f"'{param}.image_url' must be a base64 data URL "
            "(data:image/png;base64,...); the offline server does not fetch URLs.",
            param=param,
            code="invalid_value",
        )
    try:
        data = base64.b64decode(match[2], validate=True)
    except (binascii.Error, ValueError):
        raise _error(
            400, f"'{param}.image_url' is not valid base64.", param=param, code="invalid_value"
        ) from None
    return Part(param.split("[")[0], f"{param}.{match[1].split('/')[-1]}", match[1].lower(), data)


def _from_form(form: MultipartForm, operation: str) -> tuple[dict, list[Part], Part | None]:
    """Fields and files of a multipart body; ``image``/``mask`` must be real file parts."""
    for name in ("image", "image[]", "mask"):
        if name in form.fields:
            raise _error(
                400,
                f"'{name}' must be a file upload with a filename and a content "
                "type (image/png, image/jpeg or image/webp).",
                param=name,
                code="invalid_value",
            )
    allowed_files = {"image", "image[]", "mask"} if operation == "edit" else {"image"}
    for part in form.files:
        if part.name not in allowed_files:
            raise _error(
                400, f"Unknown parameter: '{part.name}'.", param=part.name, code="unknown_parameter"
            )
    masks = form.files_named("mask")
    if len(masks) > 1:
        raise _error(400, "Send at most one 'mask' file.", param="mask", code="invalid_value")
    return dict(form.fields), form.files_named("image", "image[]"), (masks[0] if masks else None)


def _typed_params(fields: Mapping[str, Any], *, from_form: bool) -> dict[str, Any]:
    """Fields checked against :data:`FIELD_TYPES`; form strings converted. None = not given."""
    params: dict[str, Any] = {}
    for name, value in fields.items():
        expected = FIELD_TYPES.get(name)
        if expected is None:
            raise _error(
                400,
                f"Unknown parameter: '{_short(name)}'.",
                param=_short(name),
                code="unknown_parameter",
            )
        if value is None:
            continue
        params[name] = _convert(name, value, expected, from_form=from_form)
    return params


def _convert(name: str, value: Any, expected: type, *, from_form: bool) -> Any:
    if expected is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
    elif expected is int:
        if from_form and isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,12}\s*", value):
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if abs(value) > MAX_INT:
                raise _error(
                    400,
                    f"Invalid value for '{name}': {value} is far out of range.",
                    param=name,
                    code="integer_above_max_value",
                )
            return value
    elif isinstance(value, str):
        return value
    wanted = {bool: "a boolean", int: "an integer", str: "a string"}[expected]
    raise _error(
        400,
        f"Invalid type for '{name}': expected {wanted}, but got {_json_type(value)} instead.",
        param=name,
        code="invalid_type",
    )


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


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _resolve_model(name: str) -> ModelSpec:
    try:
        return catalog.get_model(name)
    except ValidationError:
        raise _error(
            404,
            f"The model `{_short(name)}` does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        ) from None


def _model_object(spec: ModelSpec, model_id: str | None = None) -> dict[str, Any]:
    """An OpenAI model object for ``spec`` (``created`` is a stable made-up timestamp)."""
    model_id = model_id or spec.name
    return {
        "id": model_id,
        "object": "model",
        "created": 1_690_000_000 + synth.stable_seed("created", model_id) % 90_000_000,
        "owned_by": "system",
        "shutdown_date": spec.shutdown_date.isoformat() if spec.shutdown_date else None,
    }


def _problems_error(exc: ValidationError) -> APIStatusError:
    """A 400 carrying every validation problem; ``param`` is the first one's."""
    first = exc.problems[0] if exc.problems else None
    message = "; ".join(p.message for p in exc.problems) or exc.message
    return _error(400, message, param=first.param if first else None, code="invalid_value")


def _input_checks(spec: ModelSpec, operation: str, call: ImageCall) -> list[Problem]:
    """The validation problems of ``call``; a mask is checked against the first image only.

    OpenAI applies the mask to the first image when several are sent (its API spec), so the
    server accepts that combination, which the kit's own client refuses (see MODELS.md).
    """
    images = [p.data for p in call.images] or None
    problems = validation.check(spec, operation, **call.params, images=images)
    if call.mask is not None:
        first = images[:1] if images else None
        with_mask = validation.check(
            spec, operation, **call.params, images=first, mask=call.mask.data
        )
        problems += [p for p in with_mask if p.param == "mask"]
    return problems


def _check_mime_type(part: Part, spec: ModelSpec) -> None:
    """Reject parts without a real image content type, as OpenAI does."""
    fmt = IMAGE_MIME_TYPES.get(part.content_type or "")
    if fmt is None or fmt not in spec.image_formats:
        accepted = ", ".join(f"'image/{f}'" for f in spec.image_formats) or "none"
        raise _error(
            400,
            f"Invalid file '{part.name}': unsupported mimetype "
            f"('{part.content_type}'). Supported file formats are {accepted}.",
            param=part.name,
            code="unsupported_file_mimetype",
        )


# --------------------------------------------------------------------------- helpers: images


def _decode_upload(part: Part) -> np.ndarray:
    """An uploaded image as ``(H, W, 3|4) uint8`` (RGBA when it has any alpha)."""
    try:
        with Image.open(io.BytesIO(part.data)) as pil:
            if pil.width * pil.height > MAX_INPUT_PIXELS:
                raise _error(
                    400,
                    f"'{part.name}' is {pil.width}x{pil.height}; send at most "
                    f"{MAX_INPUT_PIXELS:,} pixels.",
                    param=part.name,
                    code="invalid_image",
                )
            has_alpha = pil.mode in ("RGBA", "LA", "PA") or "transparency" in pil.info
            return np.asarray(pil.convert("RGBA" if has_alpha else "RGB"))
    except APIStatusError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        raise _error(
            400,
            f"'{part.name}' ({part.filename}) is not a readable PNG, JPEG or WebP image.",
            param=part.name,
            code="invalid_image",
        ) from None


def _edit_mask(mask_part: Part | None, base: np.ndarray) -> np.ndarray | None:
    """``(H, W) bool`` edit area: alpha 0 in the mask, else the image's own transparent pixels."""
    if mask_part is None:
        if base.shape[2] == 4 and bool((base[..., 3] == 0).any()):
            return base[..., 3] == 0
        return None
    mask = _decode_upload(mask_part)
    if mask.shape[2] != 4:
        raise _error(
            400,
            "The mask has no alpha channel; send an RGBA PNG whose fully "
            "transparent pixels (alpha 0) mark the area to edit.",
            param="mask",
            code="invalid_image",
        )
    if mask.shape[:2] != base.shape[:2]:
        raise _error(
            400,
            f"The mask is {mask.shape[1]}x{mask.shape[0]} but the image is "
            f"{base.shape[1]}x{base.shape[0]}; they must be the same size.",
            param="mask",
            code="invalid_image",
        )
    return mask[..., 3] == 0


def _with_defaults(call: ImageCall) -> dict[str, Any]:
    """``call.params`` plus the catalog defaults of :data:`SERVER_DEFAULTS` (edits keep size)."""
    params = dict(call.params)
    for name in SERVER_DEFAULTS:
        spec_param = call.spec.params.get(name)
        if (
            name in params
            or spec_param is None
            or spec_param.default is None
            or call.operation not in spec_param.operations
            or (name == "size" and call.operation == "edit")
        ):
            continue
        params[name] = spec_param.default
    return params


def _output_size(size: str | None, input_size: tuple[int, int] | None) -> tuple[int, int]:
    """``(width, height)``: the requested size, else the input's (edits), else 1024x1024."""
    parsed = validation.parse_size(size) if size else None
    if parsed is None:
        parsed = _fit_pixels(*input_size) if input_size else (1024, 1024)
    width, height = parsed
    if not (width > 0 and height > 0 and width * height <= MAX_OUTPUT_PIXELS):
        raise _error(
            400,
            f"Invalid size {width}x{height}: the offline server makes images of "
            f"at most {MAX_OUTPUT_PIXELS:,} pixels.",
            param="size",
            code="invalid_value",
        )
    return width, height


def _fit_pixels(width: int, height: int) -> tuple[int, int]:
    """``width`` x ``height`` scaled down (never up) to at most :data:`MAX_OUTPUT_PIXELS`."""
    scale = min(1.0, math.sqrt(MAX_OUTPUT_PIXELS / (width * height)))
    return max(1, int(width * scale)), max(1, int(height * scale))


def _reported_quality(quality: str | None) -> str:
    return "medium" if quality in (None, "auto") else str(quality)


def _b64(image: np.ndarray, settings: Mapping[str, Any]) -> str:
    encoded = synth.encode(image, settings["output_format"], settings["output_compression"])
    return base64.b64encode(encoded).decode("ascii")


def _sse(event: str, payload: Mapping[str, Any]) -> bytes:
    return f"event: {event}\ndata: ".encode() + _json_bytes(payload) + b"\n\n"


def _revised_prompt(prompt: str, style: str | None) -> str:
    look = "natural, photographic" if style == "natural" else "vivid, richly detailed"
    return f"{prompt.strip().rstrip('.')}. Rendered in a {look} style with balanced composition."


# --------------------------------------------------------------------------- helpers: usage


def _token_billed(spec: ModelSpec) -> bool:
    """GPT image models report token ``usage``; DALL·E models bill per image and do not."""
    return bool(spec.family == "gpt-image")


def _usage(
    call: ImageCall,
    images: list[np.ndarray],
    settings: Mapping[str, Any],
    *,
    partials: int,
    with_input: bool = True,
) -> dict[str, Any]:
    """Plausible token usage: ~4 characters per text token, tiles for input images."""
    text_tokens = max(1, math.ceil(len(settings["prompt"]) / 4)) if with_input else 0
    image_tokens = sum(_input_image_tokens(p) for p in call.images) if with_input else 0
    output = sum(_output_tokens(call.spec, settings["quality"], img) for img in images)
    output += PARTIAL_IMAGE_TOKENS * partials * len(images)
    return {
        "input_tokens": text_tokens + image_tokens,
        "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens},
        "output_tokens": output,
        "output_tokens_details": {"image_tokens": output, "text_tokens": 0},
        "total_tokens": text_tokens + image_tokens + output,
    }


def _input_image_tokens(part: Part) -> int:
    """65 + 129 per 512-pixel tile of the upload (read from its header only)."""
    try:
        with Image.open(io.BytesIO(part.data)) as pil:
            width, height = pil.size
    except (OSError, ValueError, SyntaxError):
        return 0
    return 65 + 129 * math.ceil(width / 512) * math.ceil(height / 512)


def _output_tokens(spec: ModelSpec, quality: str, image: np.ndarray) -> int:
    """The catalog's table entry when it has one, else a per-pixel scaling of 1024x1024."""
    size = f"{image.shape[1]}x{image.shape[0]}"
    table = spec.pricing.output_tokens if spec.pricing else {}
    if quality in table and size in table[quality]:
        return int(table[quality][size])
    base = OUTPUT_TOKENS_1024.get(quality, OUTPUT_TOKENS_1024["medium"])
    return max(16, round(base * image.shape[0] * image.shape[1] / 1024**2))


# --------------------------------------------------------------------------- helpers: faults


def _json_response(status: int, body: bytes) -> HTTPResponse:
    return HTTPResponse(status, [("content-type", "application/json")], body)


_SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"
_HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_ORG_VERIFICATION = (
    "Your organization must be verified to use the model `{model}`. Please go to: "
    "https://platform.openai.com/settings/organization/general and click on Verify "
    "Organization. If you just verified, it can take up to 15 minutes for access to propagate."
)


def _retry_after_headers(fault: Fault, default_seconds: float | None) -> list[tuple[str, str]]:
    headers = []
    seconds = fault.retry_after if fault.retry_after is not None else default_seconds
    if seconds is not None:
        value = (
            formatdate(time.time() + seconds, usegmt=True)
            if fault.retry_after_date
            else f"{seconds:g}"
        )
        headers.append(("retry-after", value))
    if fault.retry_after_ms is not None:
        headers.append(("retry-after-ms", str(fault.retry_after_ms)))
    return headers


def _fault_response(fault: Fault) -> HTTPResponse | None:
    """The whole answer for faults that replace the response; None for the others."""
    kind = fault.kind
    if kind == "429":
        response = _json_response(
            fault.status or 429,
            error_body(
                "Rate limit reached for images per minute. Please try again in a moment.",
                type="requests",
                code="rate_limit_exceeded",
            ),
        )
        response.headers += _retry_after_headers(fault, 0)
        return response
    if kind in ("500", "502", "503"):
        response = _json_response(
            fault.status or int(kind), error_body(_SERVER_ERROR, type="server_error")
        )
        response.headers += _retry_after_headers(fault, None)
        return response
    if kind == "html_error":
        return HTTPResponse(fault.status or 502, [("content-type", "text/html")], _HTML_502)
    if kind == "moderation":
        return _json_response(
            fault.status or 400,
            error_body(
                "Your request was rejected by the safety system. safety_violations=[violence].",
                type="image_generation_user_error",
                code="moderation_blocked",
                moderation_details={"stage": "input", "categories": ["violence"]},
            ),
        )
    if kind == "quota":
        return _json_response(
            fault.status or 429,
            error_body(
                "You exceeded your current quota, please check your plan and billing details.",
                type="insufficient_quota",
                code="insufficient_quota",
            ),
        )
    if kind == "org_verification":
        return _json_response(
            fault.status or 403,
            error_body(_ORG_VERIFICATION.format(model="gpt-image-2"), type="invalid_request_error"),
        )
    return None


def _apply_output_fault(fault: Fault, response: HTTPResponse) -> None:
    """Spoil a successful ``response`` in place as ``fault`` says."""
    if fault.kind == "drop":
        response.drop_after = (
            STREAM_DROP_BYTES if response.chunks is not None else max(1, len(response.body) // 2)
        )
    elif fault.kind == "malformed_json":
        if response.chunks is not None:
            response.chunks = _malformed_stream(response.chunks)
        else:
            response.body = response.body[: max(1, len(response.body) // 2)]
    elif fault.kind == "bad_base64":
        if response.chunks is not None:
            response.chunks = _bad_base64_stream(response.chunks)
        else:
            response.body = _spoil_b64(response.body)


def _spoil_b64(body: bytes) -> bytes:
    payload = json.loads(body)
    for item in payload.get("data", []):
        if "b64_json" in item:
            item["b64_json"] = "!!not-base64@@" + item["b64_json"][:16]
    return _json_bytes(payload)


def _malformed_stream(chunks: Iterator[bytes]) -> Iterator[bytes]:
    first = next(chunks, None)
    if first is not None:
        yield first[: max(8, len(first) // 2)] + b"\n\n"


def _bad_base64_stream(chunks: Iterator[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        head, _, data = chunk.partition(b"data: ")
        payload = json.loads(data)
        payload["b64_json"] = "!!not-base64@@"
        yield head + b"data: " + _json_bytes(payload) + b"\n\n"
