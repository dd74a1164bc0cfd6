"""How the offline server checks and runs one Batch API input file, in a background thread.

Owns: the input-file rules (at most ``max_requests_per_file`` lines and ``max_file_bytes``,
both from :func:`gptimage_widgets.catalog.batch_limits`, the client's numbers too; the line
shape ``{"custom_id", "method": "POST", "url": <the batch's endpoint>, "body": {...}}``,
unique ``custom_id``, one model per file) with OpenAI's error codes (``empty_file``,
``invalid_json_line``, ``url_mismatch``, ``duplicate_custom_id``, ``model_mismatch``,
``too_many_tasks``; ``file_too_large``, ``invalid_value`` and ``missing_required_parameter``
are this server's names), the status sequence ``validating -> in_progress -> finalizing ->
completed`` (or ``failed``, or ``cancelling -> cancelled``), and the output/error line
``{"id": "batch_req_...", "custom_id", "response": {"status_code", "request_id", "body"},
"error": null}``.

Each line is answered by the app's own :meth:`~.app.OfflineApp.handle` (a JSON
``POST <endpoint>``, so JSON edits with data-URL images work as over HTTP): the same
parsing, checks, faults and rendering, and the line appears in the request log with the
header :data:`BATCH_HEADER`. The answer's delay (the server's ``latency``) is waited between
lines, interruptibly, so a cancel stops the batch between two lines. The input file is
read twice, line by line (once to validate, once to run), so no parsed copy of it is kept.
Reference: https://platform.openai.com/docs/guides/batch
"""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..catalog import batch_limits
from ..request import PATHS
from .parsing import DEFAULT_MODELS
from .responses import HTTPRequest, HTTPResponse, error_body, json_bytes

__all__ = [
    "BATCH_HEADER",
    "ENDPOINTS",
    "MAX_REPORTED_ERRORS",
    "Batch",
    "run_batch",
    "scan_input",
]

#: The endpoints a batch may name (the catalog's), with the operation each runs.
ENDPOINTS = {
    f"/v1{path}": operation
    for operation, path in PATHS.items()
    if f"/v1{path}" in batch_limits().endpoints
}
#: Validation errors listed on a failed batch (the first ones, by line).
MAX_REPORTED_ERRORS = 100
#: Header on the request-log entry of every line a batch ran (value: the batch id).
BATCH_HEADER = "x-offline-batch-id"

Handler = Callable[[HTTPRequest], HTTPResponse]


@dataclass
class Batch:
    """One batch's state; the worker thread mutates it under :attr:`lock`."""

    id: str
    endpoint: str
    input_file_id: str
    completion_window: str
    metadata: dict[str, str] | None
    created_at: int
    status: str = "validating"
    model: str | None = None
    errors: list[dict[str, Any]] | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    times: dict[str, int | None] = field(default_factory=dict)
    total: int = 0
    completed: int = 0
    failed: int = 0
    cancel: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set_status(self, status: str) -> None:
        """Move to ``status`` and stamp its ``<status>_at`` time."""
        with self.lock:
            self.status = status
            self.times[f"{status}_at"] = int(time.time())

    def to_object(self) -> dict[str, Any]:
        """OpenAI's batch object."""
        with self.lock:
            times = {
                f"{name}_at": self.times.get(f"{name}_at")
                for name in (
                    "in_progress",
                    "finalizing",
                    "completed",
                    "failed",
                    "expired",
                    "cancelling",
                    "cancelled",
                )
            }
            return {
                "id": self.id,
                "object": "batch",
                "endpoint": self.endpoint,
                "model": self.model,
                "errors": {"object": "list", "data": list(self.errors)} if self.errors else None,
                "input_file_id": self.input_file_id,
                "completion_window": self.completion_window,
                "status": self.status,
                "output_file_id": self.output_file_id,
                "error_file_id": self.error_file_id,
                "created_at": self.created_at,
                "expires_at": self.created_at + batch_limits().completion_window_s,
                **times,
                "request_counts": {
                    "total": self.total,
                    "completed": self.completed,
                    "failed": self.failed,
                },
                "usage": None,
                "metadata": self.metadata,
            }


# --------------------------------------------------------------------------- validation


def _lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line) for every non-blank line; one line in memory at a time."""
    for number, line in enumerate(io.BytesIO(data), start=1):
        if line.strip():
            yield number, line


def _error(code: str, message: str, line: int | None = None, param: str | None = None) -> dict:
    return {"code": code, "message": message, "param": param, "line": line}


def _line_problem(parsed: Any, number: int, endpoint: str) -> dict[str, Any] | None:
    """The first thing wrong with one parsed line's envelope, or None."""
    if not isinstance(parsed, dict):
        return _error("invalid_json_line", "This line is not parseable as valid JSON.", number)
    custom_id = parsed.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return _error(
            "missing_required_parameter",
            "Each line needs a non-empty string 'custom_id'.",
            number,
            "custom_id",
        )
    if parsed.get("method") != "POST":
        return _error("invalid_value", "'method' must be \"POST\".", number, "method")
    if parsed.get("url") != endpoint:
        return _error(
            "url_mismatch",
            f"The line's 'url' ({str(parsed.get('url'))[:80]!r}) differs from the batch's "
            f"endpoint {endpoint!r}; a batch runs one endpoint.",
            number,
            "url",
        )
    if not isinstance(parsed.get("body"), dict):
        return _error(
            "missing_required_parameter", "Each line needs a JSON object 'body'.", number, "body"
        )
    return None


def scan_input(data: bytes, endpoint: str) -> tuple[int, str | None, list[dict[str, Any]]]:
    """Check an input file: (number of requests, the model they use, errors).

    Parameters
    ----------
    data : bytes
        The JSONL file.
    endpoint : str
        The batch's endpoint (a key of :data:`ENDPOINTS`).

    Returns
    -------
    count : int
    model : str or None
        The one model every line names (OpenAI's endpoint default when a line names none).
    errors : list of dict
        OpenAI's batch errors ``{"code", "message", "param", "line"}``, at most
        :data:`MAX_REPORTED_ERRORS`; empty when the file is runnable.
    """
    limits = batch_limits()
    if len(data) > limits.max_file_bytes:
        message = f"The input file has {len(data)} bytes; the limit is {limits.max_file_bytes}."
        return 0, None, [_error("file_too_large", message)]
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    model: tuple[int, str] | None = None
    count = 0
    for number, line in _lines(data):
        count += 1
        try:
            parsed = json.loads(line)
        except (ValueError, RecursionError):
            parsed = None
        problem = _line_problem(parsed, number, endpoint)
        if problem is None:
            custom_id = parsed["custom_id"]
            line_model = parsed["body"].get("model") or DEFAULT_MODELS[ENDPOINTS[endpoint]]
            if custom_id in seen:
                problem = _error(
                    "duplicate_custom_id",
                    f"The custom_id {custom_id[:80]!r} is used by an earlier line; each line "
                    "needs its own.",
                    number,
                    "custom_id",
                )
            elif model is not None and line_model != model[1]:
                problem = _error(
                    "model_mismatch",
                    f"This line uses the model {str(line_model)[:80]!r} but line {model[0]} uses "
                    f"{model[1]!r}; a batch file holds requests for one model.",
                    number,
                    "body.model",
                )
            seen.add(custom_id)
            model = model or (number, str(line_model))
        if problem is not None and len(errors) < MAX_REPORTED_ERRORS:
            errors.append(problem)
    if count == 0:
        errors.append(_error("empty_file", "The input file has no requests."))
    elif count > limits.max_requests_per_file:
        message = (
            f"The input file has {count} requests; the limit is {limits.max_requests_per_file}."
        )
        errors.insert(0, _error("too_many_tasks", message))
    return count, (model[1] if model else None), errors


# --------------------------------------------------------------------------- running


def _answer_line(
    body: dict[str, Any], batch: Batch, handle: Handler
) -> tuple[int, str, bytes, float]:
    """(status, request id, JSON body, delay) of one line, from the app's own handler."""
    if body.get("stream"):
        request_id = f"req_offline_{uuid.uuid4().hex}"
        message = "Streaming is not available in the Batch API; remove 'stream'."
        return 400, request_id, error_body(message, param="stream", code="invalid_value"), 0.0
    headers = {"content-type": "application/json", BATCH_HEADER: batch.id}
    response = handle(HTTPRequest("POST", batch.endpoint, headers, json_bytes(body)))
    request_id = dict(response.headers).get("x-request-id", "")
    if response.chunks is not None or response.drop_after is not None or not response.body:
        message = "The request was interrupted by the server; run it again."
        body_bytes = error_body(message, type="server_error")
        return 500, request_id, body_bytes, response.delay
    return response.status, request_id, response.body, response.delay


def _output_line(custom_id: str, status: int, request_id: str, body: bytes) -> bytes:
    """One output/error file line; ``body`` (the answer's JSON) is spliced in, not re-encoded."""
    head = b'{"id":%s,"custom_id":%s,' % (
        json_bytes(f"batch_req_{uuid.uuid4().hex}"),
        json_bytes(custom_id),
    )
    response = b'"response":{"status_code":%d,"request_id":%s,"body":' % (
        status,
        json_bytes(request_id),
    )
    return b"".join((head, response, body, b'},"error":null}\n'))


def run_batch(
    batch: Batch, data: bytes, add_file: Callable[[str, list[bytes]], str], handle: Handler
) -> None:
    """Validate and run ``batch`` to a final status (the body of its worker thread).

    Parameters
    ----------
    batch : Batch
    data : bytes
        The input file's content.
    add_file : callable (filename, lines) -> file id
        Stores an output or error file (purpose ``batch_output``).
    handle : callable
        The app's request handler; runs one line.
    """
    try:
        _run(batch, data, add_file, handle)
    except Exception as exc:  # a bug: the batch must still end
        with batch.lock:
            batch.errors = [_error("server_error", f"The offline server failed ({exc!r}).")]
        batch.set_status("failed")


def _run(
    batch: Batch, data: bytes, add_file: Callable[[str, list[bytes]], str], handle: Handler
) -> None:
    count, model, errors = scan_input(data, batch.endpoint)
    with batch.lock:
        batch.model = model
    if errors:
        with batch.lock:
            batch.errors = errors
        batch.set_status("failed")
        return
    if batch.cancel.is_set():
        batch.set_status("cancelled")
        return
    with batch.lock:
        batch.total = count
    batch.set_status("in_progress")
    outputs: list[bytes] = []
    failures: list[bytes] = []
    for _, line in _lines(data):
        if batch.cancel.is_set():
            break
        parsed = json.loads(line)
        del line
        status, request_id, body, delay = _answer_line(parsed["body"], batch, handle)
        if delay > 0:
            batch.cancel.wait(delay)
        entry = _output_line(parsed["custom_id"], status, request_id, body)
        (outputs if status == 200 else failures).append(entry)
        with batch.lock:
            if status == 200:
                batch.completed += 1
            else:
                batch.failed += 1
    cancelled = batch.cancel.is_set()
    if not cancelled:
        batch.set_status("finalizing")
    output_id = add_file(f"{batch.id}_output.jsonl", outputs) if outputs else None
    error_id = add_file(f"{batch.id}_error.jsonl", failures) if failures else None
    with batch.lock:
        batch.output_file_id, batch.error_file_id = output_id, error_id
    batch.set_status("cancelled" if cancelled else "completed")
