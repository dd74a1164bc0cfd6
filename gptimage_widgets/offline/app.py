"""The offline server's application: HTTP requests in, OpenAI-shaped responses out.

This module knows nothing about sockets: :meth:`OfflineApp.handle` takes a parsed
:class:`HTTPRequest` and returns an :class:`HTTPResponse` (a body, or an iterator of SSE
chunks), which :mod:`.server` writes to the wire. It owns routing, the request log, the
stored image URLs and the ``/v1/models`` answers; the rest is delegated by concern:

* :mod:`.parsing` — JSON / multipart body -> :class:`~.parsing.ImageCall`;
* :mod:`.checks` — what is refused, through :func:`gptimage_widgets.validation.check` (the
  same rules the client applies, so server and client cannot disagree);
* :mod:`.rendering` and :mod:`.usage` — images, JSON body, SSE events, token usage;
* :mod:`.faults` — injected misbehaviour;
* :mod:`.responses` — HTTP values and OpenAI's error shape
  ``{"error": {"message", "type", "param", "code"}}``.

Every malformed request gets a 4xx; a 500 is always a bug.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from typing import Any

from .. import catalog
from ..catalog import ModelSpec
from ..errors import APIStatusError, ValidationError
from ..redact import is_secret_name
from . import synth
from .checks import check_call
from .faults import FAULT_HEADER, Fault, FaultPlan, apply_output_fault, fault_response
from .lifecycle import check_lifecycle, model_not_found, serves
from .parsing import ImageCall, read_body, resolve_model, to_call
from .rendering import effective_params, json_body, stream_response
from .responses import (
    FileInfo,
    HTTPRequest,
    HTTPResponse,
    RequestRecord,
    api_error,
    error_body,
    error_response,
    json_bytes,
    json_response,
)

__all__ = ["FileInfo", "HTTPRequest", "HTTPResponse", "OfflineApp", "RequestRecord"]

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
    lifecycle : {"lenient", "openai"}
        ``"lenient"`` serves every catalog model; ``"openai"`` answers a model shut down at
        OpenAI today with OpenAI's 404 ``model_not_found`` and leaves it out of
        ``GET /v1/models`` (see :mod:`.lifecycle`).

    Raises
    ------
    ValueError
        For a ``lifecycle`` that is not one of :data:`.lifecycle.LIFECYCLES`.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        faults: Iterable[Fault | str] | None = None,
        seed: int = 0,
        base_url: Callable[[], str] = lambda: "http://127.0.0.1/v1",
        url_ttl: float = URL_TTL_SECONDS,
        lifecycle: str = "lenient",
    ) -> None:
        self.lifecycle = check_lifecycle(lifecycle)
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
            headers={k: v for k, v in request.headers.items() if not is_secret_name(k)},
            request_id=request_id,
        )
        with self._lock:
            self._records.append(record)
        try:
            response = self._route(request, record)
        except (APIStatusError, ValidationError) as exc:
            response = error_response(exc)
        except Exception as exc:  # a bug in the offline server: still answer, OpenAI-style
            message = f"The offline server failed ({type(exc).__name__}: {exc}); please report it."
            response = json_response(500, error_body(message, type="server_error"))
        record.status = response.status
        response.headers.append(("x-request-id", request_id))
        response.delay += self.latency
        return response

    def _route(self, request: HTTPRequest, record: RequestRecord) -> HTTPResponse:
        path = request.path.rstrip("/") or "/"
        operation = ROUTES.get(path)
        if operation is not None:
            _require_method(request, "POST")
            return self._images(operation, request, record)
        if path == "/v1/models":
            _require_method(request, "GET")
            return json_response(200, json_bytes(_list_models(self.lifecycle)))
        if match := _MODEL_URL.match(path):
            _require_method(request, "GET")
            spec = resolve_model(match[1])
            if not serves(spec, self.lifecycle):
                raise model_not_found(match[1])
            return json_response(200, json_bytes(_model_object(spec)))
        if match := _FILE_URL.match(path):
            _require_method(request, "GET")
            return self._stored_file(match[1])
        raise api_error(404, f"Invalid URL ({request.method} {request.path})")

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
            raise api_error(
                404,
                "This image URL has expired or never existed; image URLs are "
                "valid for 60 minutes, request the image again.",
            )
        return HTTPResponse(200, [("content-type", "image/png")], png)

    # ----------------------------------------------------------------- images

    def _images(self, operation: str, request: HTTPRequest, record: RequestRecord) -> HTTPResponse:
        body = read_body(operation, request)
        record.fields = dict(body.fields)
        record.files = body.file_infos()
        call = to_call(operation, body)
        header = request.headers.get(FAULT_HEADER)
        fault = self.faults.pick(request.path, stream=call.stream, header=header)
        record.fault = fault.kind if fault else None
        try:
            response = self._answer(call, fault, record)
        except (APIStatusError, ValidationError) as exc:
            response = error_response(exc)
        if fault is not None and fault.kind == "slow_headers":
            response.delay += fault.delay
        return response

    def _answer(self, call: ImageCall, fault: Fault | None, record: RequestRecord) -> HTTPResponse:
        if fault is not None and (early := fault_response(fault)) is not None:
            return early
        if not serves(call.spec, self.lifecycle):
            raise model_not_found(call.model)
        check_call(call)
        record.params = effective_params(call)
        if call.stream:
            truncate = fault is not None and fault.kind == "truncate_stream"
            response = stream_response(call, truncate=truncate)
        else:
            response = json_response(200, json_bytes(json_body(call, self._store_file)))
        if fault is not None:
            apply_output_fault(fault, response)
        return response


def _require_method(request: HTTPRequest, method: str) -> None:
    if request.method != method:
        raise api_error(405, f"Method {request.method} is not allowed here; use {method}.")


def _list_models(lifecycle: str) -> dict[str, Any]:
    """``GET /v1/models``: the catalog's models and aliases that ``lifecycle`` serves today."""
    data = []
    for spec in catalog.list_models(include_shutdown=True):
        if not serves(spec, lifecycle):
            continue
        data.append(_model_object(spec))
        data.extend(_model_object(spec, alias) for alias in spec.aliases)
    return {"object": "list", "data": data}


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
