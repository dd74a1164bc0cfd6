"""OpenAI's Batch API on the offline server: ``/v1/batches``, in memory.

Owns: the routes and what a create request may hold —

* ``POST /v1/batches`` ``{"input_file_id", "endpoint", "completion_window": "24h",
  "metadata"?, "output_expires_after"?}`` (window, endpoints and file limits are the
  catalog's: :func:`gptimage_widgets.catalog.batch_limits`) -> a batch object in status
  ``validating``; its worker thread (:func:`.batchrun.run_batch`) takes it on. A request
  that is wrong in itself (unknown field, endpoint other than ``/v1/images/generations`` or
  ``/v1/images/edits``, window other than ``24h``, bad metadata, an input file that is not
  ``purpose="batch"``) is a 400; an unknown ``input_file_id`` a 404. What is wrong *inside*
  the file makes the batch ``failed`` with ``errors`` (see :mod:`.batchrun`);
* ``GET /v1/batches/{id}``; ``GET /v1/batches`` (newest first; ``limit`` 1-100, default 20;
  ``after``; ``has_more``, ``first_id``, ``last_id``);
* ``POST /v1/batches/{id}/cancel``: ``validating``/``in_progress`` -> ``cancelling`` (answered
  at once), then ``cancelled`` after the line being run; unrun lines never run, the finished
  ones are in the output/error files. Cancelling a batch that has ended is a 409.

Reference: https://platform.openai.com/docs/api-reference/batch
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from typing import Any

from ..catalog import batch_limits
from .batchrun import ENDPOINTS, Batch, Handler, run_batch
from .files import FileStore, find, list_page, ok, query_params, require_method
from .responses import (
    HTTPRequest,
    HTTPResponse,
    RequestRecord,
    api_error,
    short,
)

__all__ = ["BatchAPI"]

CREATE_FIELDS = (
    "input_file_id",
    "endpoint",
    "completion_window",
    "metadata",
    "output_expires_after",
)
#: OpenAI's metadata limits: 16 pairs, keys up to 64 characters, values up to 512.
METADATA_LIMITS = (16, 64, 512)
_BATCH_ROUTE = re.compile(r"^/v1/batches/(batch_[A-Za-z0-9]+)(/cancel)?$")


class BatchAPI:
    """The batches of one offline server, each run by its own daemon thread.

    Parameters
    ----------
    files : FileStore
        Where input files are read and output/error files are written.
    handle : callable HTTPRequest -> HTTPResponse
        The app's handler, which answers each line.
    """

    def __init__(self, files: FileStore, handle: Handler) -> None:
        self.files = files
        self._handle = handle
        self._batches: dict[str, Batch] = {}
        self._lock = threading.Lock()

    def route(self, request: HTTPRequest, path: str, record: RequestRecord) -> HTTPResponse | None:
        """Answer a ``/v1/batches`` request; None when ``path`` is not one of these routes."""
        if path == "/v1/batches":
            if request.method == "POST":
                return self._create(request, record)
            require_method(request, "GET")
            with self._lock:
                batches = list(self._batches.values())
            batches.reverse()  # newest first
            page = list_page([(b.id, b.to_object()) for b in batches], query_params(request))
            return ok(page)
        match = _BATCH_ROUTE.match(path)
        if match is None:
            return None
        batch = self.get(match[1])
        if match[2]:
            require_method(request, "POST")
            return ok(self._cancel(batch))
        require_method(request, "GET")
        return ok(batch.to_object())

    def get(self, batch_id: str) -> Batch:
        """The batch ``batch_id``; OpenAI's 404 when there is none."""
        return find(self._batches, batch_id, self._lock, "Batch")

    def cancel_all(self) -> None:
        """Ask every running batch to stop after its current line (the server is stopping)."""
        with self._lock:
            batches = list(self._batches.values())
        for batch in batches:
            batch.cancel.set()

    # ----------------------------------------------------------------- create / cancel

    def _create(self, request: HTTPRequest, record: RequestRecord) -> HTTPResponse:
        payload = _json_object(request.body)
        record.fields = dict(payload)
        for name in payload:
            if name not in CREATE_FIELDS:
                raise api_error(
                    400,
                    f"Unknown parameter: '{short(name)}'.",
                    param=short(name),
                    code="unknown_parameter",
                )
        input_file_id = _required_string(payload, "input_file_id")
        endpoint = _required_string(payload, "endpoint")
        if endpoint not in ENDPOINTS:
            raise api_error(
                400,
                f"Invalid value for 'endpoint': {short(endpoint)!r}. The offline server runs "
                f"batches for {' and '.join(ENDPOINTS)}.",
                param="endpoint",
                code="invalid_value",
            )
        window = _required_string(payload, "completion_window")
        allowed = batch_limits().completion_window
        if window != allowed:
            raise api_error(
                400,
                f"Invalid value for 'completion_window': {short(window)!r}; only "
                f"{allowed!r} is supported.",
                param="completion_window",
                code="invalid_value",
            )
        metadata = _metadata(payload.get("metadata"))
        stored = self.files.get(input_file_id)
        if stored.purpose != "batch":
            raise api_error(
                400,
                f"The file {stored.id} has purpose {stored.purpose!r}; upload the batch input "
                "with purpose='batch'.",
                param="input_file_id",
                code="invalid_value",
            )
        batch = Batch(
            id=f"batch_{uuid.uuid4().hex}",
            endpoint=endpoint,
            input_file_id=stored.id,
            completion_window=window,
            metadata=metadata,
            created_at=int(time.time()),
        )
        with self._lock:
            self._batches[batch.id] = batch
        data = b"".join(stored.chunks)  # an upload is one chunk: no copy
        created = batch.to_object()  # "validating", before the worker moves it on
        threading.Thread(
            target=run_batch,
            args=(batch, data, self._add_output, self._handle),
            name=f"gptimage-offline-{batch.id}",
            daemon=True,
        ).start()
        return ok(created)

    def _add_output(self, filename: str, lines: list[bytes]) -> str:
        return self.files.add(filename, "batch_output", lines).id

    def _cancel(self, batch: Batch) -> dict[str, Any]:
        with batch.lock:
            status = batch.status
        if status in ("validating", "in_progress"):
            batch.cancel.set()
            batch.set_status("cancelling")
        elif status not in ("cancelling", "cancelled"):
            raise api_error(
                409,
                f"Cannot cancel a batch with status '{status}'.",
                code="batch_not_cancellable",
            )
        return batch.to_object()


# --------------------------------------------------------------------------- request body


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body or b"{}")
    except (ValueError, RecursionError):
        payload = None
    if not isinstance(payload, dict):
        raise api_error(400, "The request body must be a JSON object.", code="invalid_json")
    return payload


def _required_string(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if value is None:
        raise api_error(
            400,
            f"Missing required parameter: '{name}'.",
            param=name,
            code="missing_required_parameter",
        )
    if not isinstance(value, str):
        raise api_error(
            400, f"Invalid type for '{name}': expected a string.", param=name, code="invalid_type"
        )
    return value


def _metadata(value: Any) -> dict[str, str] | None:
    """``metadata`` as sent, when it is at most 16 string pairs of OpenAI's lengths."""
    if value is None:
        return None
    pairs, key_chars, value_chars = METADATA_LIMITS
    fine = (
        isinstance(value, dict)
        and len(value) <= pairs
        and all(isinstance(k, str) and len(k) <= key_chars for k in value)
        and all(isinstance(v, str) and len(v) <= value_chars for v in value.values())
    )
    if not fine:
        raise api_error(
            400,
            f"Invalid 'metadata': use at most {pairs} string pairs, keys up to {key_chars} "
            f"characters and values up to {value_chars}.",
            param="metadata",
            code="invalid_value",
        )
    return dict(value)
