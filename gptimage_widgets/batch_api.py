"""The Files and Batches endpoints (https://platform.openai.com/docs/api-reference/batch).

Owns the wire of a job: ``POST /files`` (``purpose=batch``), ``POST /batches``,
``GET /batches/{id}``, ``POST /batches/{id}/cancel``, ``GET /batches`` (page by page,
:class:`~gptimage_widgets.batch_listing.Pages`) and ``GET /files/{id}/content`` (read as a
stream, line by line). :class:`Requests` builds every request once; :class:`BatchAPI` sends
them through a sync client's :mod:`gptimage_widgets.transport` (retries, no redirects, typed
errors) and :class:`AsyncBatchAPI` through an async one. The two differ only in ``await``,
the way httpx's ``Client`` and ``AsyncClient`` do.

File transfers are not bounded by a deadline: a batch's output can be gigabytes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any

import httpx

from .batch_listing import LIST_LIMIT, Pages
from .catalog import batch_limits
from .http_errors import translate
from .responses import json_body

if TYPE_CHECKING:
    from .transport import AsyncTransport, SyncTransport, Transport

__all__ = ["AsyncBatchAPI", "BatchAPI", "Requests"]


class Requests:
    """The files and batches requests of one client (built here, sent by a subclass)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def request(
        self, method: str, path: str, query: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> httpx.Request:
        """A request to `path` below the backend's API root, with its headers and query."""
        backend = self.transport.backend
        if self.transport.timeout is not None:
            kwargs["timeout"] = self.transport.timeout
        built: httpx.Request = self.transport.http.build_request(
            method,
            backend.url(path),
            headers=self.transport.headers(),
            params={**backend.query, **(query or {})},
            **kwargs,
        )
        return built

    def upload_request(self, file: IO[bytes], filename: str) -> httpx.Request:
        """``POST /files`` of a JSONL input file (``purpose=batch``), from its start."""
        file.seek(0)
        files = {"file": (filename, file, "application/jsonl")}
        return self.request("POST", "/files", data={"purpose": "batch"}, files=files)

    @staticmethod
    def create_payload(
        input_file_id: str, endpoint: str, metadata: Mapping[str, str]
    ) -> dict[str, Any]:
        """The body of ``POST /batches`` (the catalog's completion window)."""
        return {
            "input_file_id": input_file_id,
            "endpoint": endpoint,
            "completion_window": batch_limits().completion_window,
            "metadata": dict(metadata),
        }

    def object_of(self, response: httpx.Response, path: str) -> dict[str, Any]:
        """The JSON object `path` answered (anything else: a typed decode error)."""
        body = json_body(response, self.transport.secrets)
        if not isinstance(body, dict):
            raise translate(TypeError(f"{path} answered {type(body).__name__}, not an object"))
        return body


class BatchAPI(Requests):
    """The files and batches endpoints, through a sync client's transport."""

    transport: SyncTransport

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response, _ = self.transport.send(
            lambda: self.request(method, path, **kwargs), stream=False, model=None
        )
        return self.object_of(response, path)

    def upload(self, file: IO[bytes], filename: str) -> str:
        """Upload a JSONL input file (``purpose=batch``); its file id."""
        response, _ = self.transport.send(
            lambda: self.upload_request(file, filename), stream=False, model=None
        )
        return str(self.object_of(response, "/files")["id"])

    def create(
        self, input_file_id: str, endpoint: str, metadata: Mapping[str, str]
    ) -> dict[str, Any]:
        """Create a batch of the uploaded file for `endpoint` (``/v1/images/...``)."""
        payload = self.create_payload(input_file_id, endpoint, metadata)
        return self._json("POST", "/batches", json=payload)

    def retrieve(self, batch_id: str) -> dict[str, Any]:
        return self._json("GET", f"/batches/{batch_id}")

    def cancel(self, batch_id: str) -> dict[str, Any]:
        return self._json("POST", f"/batches/{batch_id}/cancel")

    def listing(self, limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
        """Up to `limit` image batches of ``GET /batches`` (newest first, page by page)."""
        pages = Pages(limit)
        while pages.more:
            pages.add(self._json("GET", "/batches", query=pages.query()))
        return pages.batches

    def lines(self, file_id: str) -> Iterator[str]:
        """The lines of a file's content, read as a stream (one line in memory at a time)."""
        response, _ = self.transport.send(
            lambda: self.request("GET", f"/files/{file_id}/content"), stream=True, model=None
        )
        with contextlib.closing(response):
            try:
                yield from response.iter_lines()
            except httpx.HTTPError as exc:
                raise translate(exc, streaming=True, secrets=self.transport.secrets) from exc


class AsyncBatchAPI(Requests):
    """The files and batches endpoints, through an async client's transport."""

    transport: AsyncTransport

    async def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response, _ = await self.transport.send(
            lambda: self.request(method, path, **kwargs), stream=False, model=None
        )
        return self.object_of(response, path)

    async def upload(self, file: IO[bytes], filename: str) -> str:
        """Upload a JSONL input file (``purpose=batch``); its file id."""
        response, _ = await self.transport.send(
            lambda: self.upload_request(file, filename), stream=False, model=None
        )
        return str(self.object_of(response, "/files")["id"])

    async def create(
        self, input_file_id: str, endpoint: str, metadata: Mapping[str, str]
    ) -> dict[str, Any]:
        """Create a batch of the uploaded file for `endpoint` (``/v1/images/...``)."""
        payload = self.create_payload(input_file_id, endpoint, metadata)
        return await self._json("POST", "/batches", json=payload)

    async def retrieve(self, batch_id: str) -> dict[str, Any]:
        return await self._json("GET", f"/batches/{batch_id}")

    async def cancel(self, batch_id: str) -> dict[str, Any]:
        return await self._json("POST", f"/batches/{batch_id}/cancel")

    async def listing(self, limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
        """Up to `limit` image batches of ``GET /batches`` (newest first, page by page)."""
        pages = Pages(limit)
        while pages.more:
            pages.add(await self._json("GET", "/batches", query=pages.query()))
        return pages.batches

    async def lines(self, file_id: str) -> AsyncIterator[str]:
        """The lines of a file's content, read as a stream (one line in memory at a time)."""
        response, _ = await self.transport.send(
            lambda: self.request("GET", f"/files/{file_id}/content"), stream=True, model=None
        )
        try:
            async for line in response.aiter_lines():
                yield line
        except httpx.HTTPError as exc:
            raise translate(exc, streaming=True, secrets=self.transport.secrets) from exc
        finally:
            await response.aclose()
