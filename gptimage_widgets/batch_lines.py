"""Batch API input and output lines (pure: no httpx, no network).

Owns the rules of a Batch API job's files
(https://platform.openai.com/docs/guides/batch and
https://platform.openai.com/docs/api-reference/batch):

- an item (a prompt string, or a dict with ``operation``, ``prompt``, ``images``, ``mask``
  and per-item parameters) -> one input line ``{"custom_id", "method", "url", "body"}``,
  validated by :func:`gptimage_widgets.request.build_request` (the catalog's rules), every
  problem named by the item's index;
- edits as the JSON edits body: images and mask as ``data:`` URLs, each at most
  ``max_image_url_chars`` characters;
- splitting into input files of at most ``max_requests_per_file`` lines and
  ``max_file_bytes`` bytes, one endpoint and one model per file (:class:`Chunker`);

The limits themselves (and the half price) are catalog data:
:func:`gptimage_widgets.catalog.batch_limits` (``models.json``'s ``batch_api``).
- one job status and request counts from several batches (:func:`job_status`,
  :func:`job_counts`);
- reading an output or error line (:func:`parse_output_line`), and an input line back into
  an item (:func:`item_from_input_line`, for a batch this kit did not submit here).
"""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from .catalog import batch_limits
from .errors import Problem, ValidationError
from .request import PATHS, ImageRequest, build_request

__all__ = [
    "ACTIVE_STATUSES",
    "TERMINAL_STATUSES",
    "BuiltItem",
    "Chunk",
    "Chunker",
    "OutputLine",
    "batch_operations",
    "build_items",
    "custom_id_of",
    "item_from_input_line",
    "job_counts",
    "job_status",
    "parse_output_line",
]

TERMINAL_STATUSES = ("completed", "failed", "expired", "cancelled")
ACTIVE_STATUSES = ("validating", "in_progress", "finalizing", "cancelling")
#: Client-side options a batch line cannot carry (nothing streams inside a batch).
_NOT_IN_BATCH = ("stream", "partial_images", "on_partial")
_SPOOL_BYTES = 8 * 1024 * 1024


def batch_operations() -> tuple[str, ...]:
    """The operations whose endpoint a batch may run (the catalog's ``endpoints``)."""
    endpoints = batch_limits().endpoints
    return tuple(op for op, path in PATHS.items() if f"/v1{path}" in endpoints)


def custom_id_of(index: int) -> str:
    """The ``custom_id`` of item `index` (results are matched by it, never by position)."""
    return f"item-{index}"


@dataclass(frozen=True)
class BuiltItem:
    """One validated item.

    Attributes
    ----------
    index : int
        Its position in the input.
    endpoint : str
        ``"/v1/images/generations"`` or ``"/v1/images/edits"``.
    line : bytes
        The JSONL line, newline included.
    request : ImageRequest
        The validated request (``params`` go to the job record and the history).
    """

    index: int
    endpoint: str
    line: bytes = field(repr=False)
    request: ImageRequest = field(repr=False)

    @property
    def custom_id(self) -> str:
        return custom_id_of(self.index)


def _item_call(item: Any, common: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """An item and the common parameters -> ``(operation, model, params)``."""
    if isinstance(item, str):
        item = {"prompt": item}
    if not isinstance(item, Mapping):
        raise TypeError(f"an item is a prompt string or a dict, not {type(item).__name__}")
    merged = {**common, **item}
    operation = merged.pop("operation", None) or ("edit" if "images" in merged else "generate")
    model = merged.pop("model", None) or "gpt-image-2"
    return str(operation), str(model), merged


def _data_url(content: bytes, content_type: str) -> str:
    return f"data:{content_type};base64,{base64.b64encode(content).decode('ascii')}"


def _edit_inputs(index: int, request: ImageRequest) -> tuple[dict[str, Any], list[Problem]]:
    """The JSON edits body's ``images`` and ``mask`` as data URLs, with their size problems."""
    inputs: dict[str, Any] = {"images": []}
    problems = []
    limit = batch_limits().max_image_url_chars
    for part in request.files:
        url = _data_url(part.content, part.content_type)
        name = "mask" if part.field == "mask" else f"images[{len(inputs['images'])}]"
        if len(url) > limit:
            problems.append(
                Problem(
                    param=f"items[{index}].{name}",
                    value=f"{len(url):,} characters",
                    message=(
                        f"item {index}: {name} as a data URL is {len(url):,} characters; the "
                        f"JSON edits body takes at most {limit:,}: pass a "
                        "smaller image (or upload_format='jpeg')"
                    ),
                )
            )
        if part.field == "mask":
            inputs["mask"] = {"image_url": url}
        else:
            inputs["images"].append({"image_url": url})
    return inputs, problems


def _refused(index: int, operation: str, params: Mapping[str, Any]) -> list[Problem]:
    problems = []
    allowed = batch_operations()
    if operation not in allowed:
        problems.append(
            Problem(
                param=f"items[{index}].operation",
                value=operation,
                message=(
                    f"item {index}: operation {operation!r} cannot run in a batch; the Batch "
                    f"API takes {' and '.join(repr(op) for op in allowed)}"
                ),
                allowed=allowed,
            )
        )
    for name in _NOT_IN_BATCH:
        if params.get(name):
            problems.append(
                Problem(
                    param=f"items[{index}].{name}",
                    value=params[name],
                    message=f"item {index}: {name} is not possible in a batch (nothing streams)",
                )
            )
    return problems


def _build_one(index: int, item: Any, common: Mapping[str, Any]) -> BuiltItem | list[Problem]:
    try:
        operation, model, params = _item_call(item, common)
    except TypeError as exc:
        return [
            Problem(param=f"items[{index}]", value=repr(item)[:80], message=f"item {index}: {exc}")
        ]
    problems = _refused(index, operation, params)
    if problems:
        return problems
    try:
        request = build_request(model, operation, **params)
    except ValidationError as exc:
        return [
            Problem(
                param=f"items[{index}].{p.param}" if p.param else f"items[{index}]",
                value=p.value,
                message=f"item {index}: {p.message}",
                allowed=p.allowed,
            )
            for p in exc.problems
        ]
    body = dict(request.fields)
    if operation == "edit":
        inputs, problems = _edit_inputs(index, request)
        if problems:
            return problems
        body.update(inputs)
    endpoint = "/v1" + request.path
    line = {"custom_id": custom_id_of(index), "method": "POST", "url": endpoint, "body": body}
    encoded = (json.dumps(line, separators=(",", ":")) + "\n").encode("utf-8")
    return BuiltItem(index=index, endpoint=endpoint, line=encoded, request=request)


def build_items(items: Iterable[Any], common: Mapping[str, Any]) -> Iterable[BuiltItem]:
    """Validate and build every item; raise one ValidationError naming every bad item.

    Items are yielded as they are built (holding every line would cost memory) until the
    first bad one; the caller must not upload anything before the generator is exhausted
    (:func:`gptimage_widgets.batch_core.prepare` spools the lines to temporary files first).

    Raises
    ------
    ValidationError
        After the last item, listing the problems of every bad item (``items[3].size``...).
    """
    problems: list[Problem] = []
    count = 0
    for index, item in enumerate(items):
        count += 1
        built = _build_one(index, item, common)
        if isinstance(built, list):
            problems += built
        elif not problems:
            yield built
    if count == 0:
        raise ValidationError("submit_batch needs at least one item", param="items", value=0)
    if problems:
        raise ValidationError(problems)


# --------------------------------------------------------------------------- splitting


@dataclass
class Chunk:
    """One future input file: lines of one endpoint, in a spooled temporary file."""

    endpoint: str
    file: IO[bytes] = field(
        default_factory=lambda: tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115
    )
    lines: int = 0
    size: int = 0


class Chunker:
    """Sorts lines into input files: one endpoint and one model per file (OpenAI takes one
    model per input file), each within the file limits.

    Parameters
    ----------
    max_lines, max_bytes : int, optional
        Limits of one input file; None = the catalog's (OpenAI: 50,000 lines, 200 MB).
    """

    def __init__(self, max_lines: int | None = None, max_bytes: int | None = None) -> None:
        limits = batch_limits()
        self.max_lines = limits.max_requests_per_file if max_lines is None else max_lines
        self.max_bytes = limits.max_file_bytes if max_bytes is None else max_bytes
        self.chunks: list[Chunk] = []
        self._open: dict[tuple[str, str], Chunk] = {}

    def add(self, endpoint: str, model: str, line: bytes) -> None:
        """Append one line to the open file of its endpoint and model (a new file when full)."""
        chunk = self._open.get((endpoint, model))
        if (
            chunk is None
            or chunk.lines >= self.max_lines
            or chunk.size + len(line) > self.max_bytes
        ):
            chunk = self._open[(endpoint, model)] = Chunk(endpoint)
            self.chunks.append(chunk)
        chunk.file.write(line)
        chunk.lines += 1
        chunk.size += len(line)

    def close(self) -> None:
        """Release every temporary file."""
        for chunk in self.chunks:
            chunk.file.close()


# --------------------------------------------------------------------------- status


def job_status(statuses: Iterable[str]) -> str:
    """One status for the batches of a job.

    Any batch still running -> ``"cancelling"`` when one is being cancelled, else the
    least advanced of ``validating`` / ``in_progress`` / ``finalizing``; all finished ->
    their common status, or ``"completed"`` when at least one completed.
    """
    found = list(statuses)
    active = [s for s in found if s not in TERMINAL_STATUSES]
    if active:
        if "cancelling" in active:
            return "cancelling"
        order = ("validating", "in_progress", "finalizing")
        return min(active, key=lambda s: order.index(s) if s in order else 1)
    if not found:
        return "validating"
    if len(set(found)) == 1:
        return found[0]
    return "completed" if "completed" in found else found[0]


def job_counts(batches: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Summed ``request_counts`` (``total``, ``completed``, ``failed``) of the batches."""
    counts = {"total": 0, "completed": 0, "failed": 0}
    for batch in batches:
        given = batch.get("request_counts") or {}
        for name in counts:
            value = given.get(name)
            counts[name] += int(value) if isinstance(value, int) else 0
    return counts


# --------------------------------------------------------------------------- output lines


@dataclass(frozen=True)
class OutputLine:
    """One line of an output or error file.

    Attributes
    ----------
    custom_id : str
    status_code : int or None
        The HTTP status of the request (None when the line has only an ``error``).
    body : Any
        The response body: an images response on success, ``{"error": {...}}`` otherwise.
    request_id : str or None
    error : dict or None
        The line's own ``error`` object (e.g. ``{"code": "batch_expired", ...}``).
    """

    custom_id: str
    status_code: int | None
    body: Any = field(repr=False)
    request_id: str | None
    error: dict[str, Any] | None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


def parse_output_line(text: str | bytes) -> OutputLine | None:
    """Parse one line (None for a blank line); ValueError when it is not a batch line."""
    if not text.strip():
        return None
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("custom_id"), str):
        raise ValueError("a batch output line without a custom_id")
    given = data.get("response")
    response: dict[str, Any] = given if isinstance(given, dict) else {}
    status = response.get("status_code")
    error = data.get("error") if isinstance(data.get("error"), dict) else None
    request_id = response.get("request_id")
    return OutputLine(
        custom_id=data["custom_id"],
        status_code=status if isinstance(status, int) else None,
        body=response.get("body"),
        request_id=request_id if isinstance(request_id, str) else None,
        error=error,
    )


def item_from_input_line(text: str | bytes) -> dict[str, Any] | None:
    """An input line -> the item row a job record keeps (None for a blank line).

    For a batch submitted elsewhere (another machine, another tool): ``custom_id``, the
    ``operation`` of its ``url``, ``model`` and ``params`` from its ``body`` (images and mask
    replaced by their count: no pixels are kept), no estimate.

    Raises
    ------
    ValueError
        When the line is not a batch input line.
    """
    if not text.strip():
        return None
    data = json.loads(text)
    body = data.get("body") if isinstance(data, dict) else None
    if not isinstance(data.get("custom_id"), str) or not isinstance(body, dict):
        raise ValueError("a batch input line needs a custom_id and a body object")
    operations = {f"/v1{path}": op for op, path in PATHS.items()}
    params = {k: v for k, v in body.items() if k not in ("images", "mask")}
    if isinstance(body.get("images"), list):
        params["image_count"] = len(body["images"])
    if "mask" in body:
        params["mask"] = True
    return {
        "custom_id": data["custom_id"],
        "operation": operations.get(str(data.get("url")), "generate"),
        "model": str(body.get("model") or ""),
        "params": params,
        "notes": [f"read back from the batch input file ({data.get('url')})"],
        "estimate": None,
    }
