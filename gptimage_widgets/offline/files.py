"""OpenAI's Files API on the offline server: ``/v1/files``, in memory.

Owns: the in-memory file store of one server (:class:`FileStore`), OpenAI's file object
``{"id": "file-...", "object": "file", "bytes", "created_at", "filename", "purpose",
"status", "expires_at", "status_details"}``, and the routes

* ``POST /v1/files`` — multipart: a ``file`` part and a ``purpose`` field (the SDK's
  ``files.create(file=..., purpose="batch")``); ``purpose="batch"`` needs a ``.jsonl`` name;
* ``GET /v1/files`` (``purpose``, ``limit``, ``after``, ``order``), ``GET /v1/files/{id}``,
  ``DELETE /v1/files/{id}``;
* ``GET /v1/files/{id}/content`` — the bytes, streamed with chunked transfer encoding one
  stored chunk (for batch output: one JSONL line) at a time, never joined into one copy.

A file's content is a list of byte chunks: an upload is one chunk (the multipart part, kept
as received), a batch output file is one chunk per line (written by :mod:`.batches`).
Reference: https://platform.openai.com/docs/api-reference/files
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs

from .multipart import parse_content_type, parse_multipart
from .responses import (
    FileInfo,
    HTTPRequest,
    HTTPResponse,
    RequestRecord,
    api_error,
    json_bytes,
    json_response,
    short,
)

__all__ = [
    "PURPOSES",
    "FileStore",
    "StoredFile",
    "find",
    "list_page",
    "ok",
    "query_params",
    "require_method",
]

#: Purposes an upload may name (OpenAI's list); ``batch_output`` is the server's own.
PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
T = TypeVar("T")
_FILE_ROUTE = re.compile(r"^/v1/files/(file-[A-Za-z0-9]+)(/content)?$")


@dataclass
class StoredFile:
    """One file: its OpenAI metadata and its content as a list of byte chunks."""

    id: str
    filename: str
    purpose: str
    created_at: int
    chunks: Sequence[bytes]
    size: int
    expires_at: int | None = None

    def to_object(self) -> dict[str, Any]:
        """OpenAI's file object."""
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.size,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "expires_at": self.expires_at,
            "status_details": None,
        }


class FileStore:
    """The files of one offline server, in memory (thread-safe); lost when it stops."""

    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}
        self._lock = threading.Lock()

    def add(self, filename: str, purpose: str, chunks: Sequence[bytes]) -> StoredFile:
        """Store ``chunks`` (kept as given, not copied) under a new ``file-...`` id."""
        stored = StoredFile(
            id=f"file-{uuid.uuid4().hex[:24]}",
            filename=filename,
            purpose=purpose,
            created_at=int(time.time()),
            chunks=[c for c in chunks if c],  # an empty chunk would end a chunked body
            size=sum(len(c) for c in chunks),
        )
        with self._lock:
            self._files[stored.id] = stored
        return stored

    def get(self, file_id: str) -> StoredFile:
        """The file ``file_id``; OpenAI's 404 when there is none."""
        return find(self._files, file_id, self._lock, "File")

    # ----------------------------------------------------------------- routes

    def route(self, request: HTTPRequest, path: str, record: RequestRecord) -> HTTPResponse | None:
        """Answer a ``/v1/files`` request; None when ``path`` is not one of these routes."""
        if path == "/v1/files":
            if request.method == "POST":
                return self._upload(request, record)
            require_method(request, "GET")
            return self._list(request)
        match = _FILE_ROUTE.match(path)
        if match is None:
            return None
        if match[2]:
            require_method(request, "GET")
            return self._content(self.get(match[1]))
        if request.method == "DELETE":
            stored = self.get(match[1])
            with self._lock:
                self._files.pop(stored.id, None)
            return ok({"id": stored.id, "object": "file", "deleted": True})
        require_method(request, "GET")
        return ok(self.get(match[1]).to_object())

    def _upload(self, request: HTTPRequest, record: RequestRecord) -> HTTPResponse:
        media_type, params = parse_content_type(request.headers.get("content-type", ""))
        if media_type != "multipart/form-data":
            raise api_error(
                400,
                "Upload a file as multipart/form-data with a 'file' part and a 'purpose' field.",
                param="file",
            )
        form = parse_multipart(request.body, params.get("boundary", ""))
        record.fields = dict(form.fields)
        record.files = [
            FileInfo(p.name, p.filename, p.content_type, len(p.data)) for p in form.files
        ]
        purpose = form.fields.get("purpose")
        if purpose not in PURPOSES:
            raise api_error(
                400,
                f"Invalid value for 'purpose': {short(str(purpose))!r}; use one of "
                f"{', '.join(PURPOSES)}.",
                param="purpose",
                code="invalid_value",
            )
        parts = form.files_named("file")
        if len(parts) != 1 or not parts[0].filename:
            raise api_error(400, "Send exactly one 'file' part with a filename.", param="file")
        part = parts[0]
        filename = part.filename or "upload"
        if purpose == "batch" and not filename.lower().endswith(".jsonl"):
            raise api_error(
                400,
                f"Invalid file format for Batch API ({short(filename)!r}); the file must be "
                "JSONL with a .jsonl name.",
                param="file",
                code="invalid_file_format",
            )
        return ok(self.add(filename, purpose, [part.data]).to_object())

    def _list(self, request: HTTPRequest) -> HTTPResponse:
        query = query_params(request)
        purpose = query.get("purpose")
        with self._lock:
            files = [f for f in self._files.values() if purpose in (None, f.purpose)]
        newest_first = query.get("order", "desc") != "asc"
        files.sort(key=lambda f: f.created_at, reverse=newest_first)
        page = list_page([(f.id, f.to_object()) for f in files], query, max_limit=10_000)
        return ok(page)

    def _content(self, stored: StoredFile) -> HTTPResponse:
        return HTTPResponse(
            200, [("content-type", "application/octet-stream")], chunks=_iterate(stored.chunks)
        )


def _iterate(chunks: Sequence[bytes]) -> Iterator[bytes]:
    yield from chunks


def find(table: Mapping[str, T], key: str, lock: threading.Lock, kind: str) -> T:
    """``table[key]`` read under ``lock``; OpenAI's 404 ``No such <kind> object`` if absent."""
    with lock:
        value = table.get(key)
    if value is None:
        raise api_error(404, f"No such {kind} object: {short(key)}", param="id")
    return value


def query_params(request: HTTPRequest) -> dict[str, str]:
    """The query string as a dict (a repeated name keeps its last value)."""
    return {k: v[-1] for k, v in parse_qs(request.query, keep_blank_values=True).items()}


def list_page(
    items: Sequence[tuple[str, dict[str, Any]]],
    query: Mapping[str, str],
    *,
    max_limit: int = 100,
    default_limit: int = 20,
) -> dict[str, Any]:
    """OpenAI's cursor page ``{"object": "list", "data", "first_id", "last_id", "has_more"}``.

    Parameters
    ----------
    items : sequence of (id, object)
        Everything, in listing order.
    query : mapping
        ``limit`` (1..``max_limit``) and ``after`` (an id: the page starts after it).
    """
    raw_limit = query.get("limit", str(default_limit))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= max_limit:
        raise api_error(
            400,
            f"Invalid 'limit': {short(raw_limit)!r}; use an integer from 1 to {max_limit}.",
            param="limit",
            code="invalid_value",
        )
    ids = [item_id for item_id, _ in items]
    after = query.get("after")
    start = ids.index(after) + 1 if after in ids else (len(ids) if after else 0)
    page = [obj for _, obj in items[start : start + int(raw_limit)]]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": start + len(page) < len(items),
    }


def ok(payload: dict[str, Any]) -> HTTPResponse:
    """A 200 JSON answer."""
    return json_response(200, json_bytes(payload))


def require_method(request: HTTPRequest, method: str) -> None:
    """OpenAI's 405 unless ``request`` uses ``method``."""
    if request.method != method:
        raise api_error(405, f"Method {request.method} is not allowed here; use {method}.")
