"""Batch API jobs from the async client: ``await client.submit_batch(...)``.

The async twin of :mod:`gptimage_widgets.batch`: the same requests (:class:`~.batch.Requests`),
the same validation and spooling (:func:`~.batch.prepare`), the same job state and line
handling (:class:`~.batch.JobCore`), the same listing merge; only sending and sleeping are
awaited here. Blocking steps (validating and encoding the items, decoding results, the
history's disk) run in a thread (``asyncio.to_thread``) so the event loop keeps running.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import IO, TYPE_CHECKING, Any

import httpx

from . import retry
from .batch import (
    LIST_LIMIT,
    BatchResults,
    JobCore,
    JobProgress,
    Pages,
    Poll,
    Requests,
    local_record,
    merged_jobs,
    needs_listing,
    not_found,
    prepare,
    record_from_listing,
)
from .batch_lines import OutputLine
from .batch_store import JobRecord
from .http_errors import translate

if TYPE_CHECKING:
    from .async_client import AsyncImageClient
    from .transport import AsyncTransport

__all__ = ["AsyncBatchAPI", "AsyncBatchJob", "get_batch", "list_batches", "submit"]


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


async def submit(
    client: AsyncImageClient,
    items: Iterable[Any],
    *,
    max_lines: int | None = None,
    max_bytes: int | None = None,
    **common: Any,
) -> AsyncBatchJob:
    """Validate every item (in a thread), then upload and create the job's batches."""
    plan = await asyncio.to_thread(
        prepare, client, items, common, max_lines=max_lines, max_bytes=max_bytes
    )
    try:
        job = AsyncBatchJob(client, plan.record)
        api = AsyncBatchAPI(client._transport)
        for number, chunk in enumerate(plan.chunker.chunks):
            file_id = await api.upload(chunk.file, plan.filename(number))
            plan.add_batch(await api.create(file_id, chunk.endpoint, plan.metadata), number)
            await job._asave()
    finally:
        plan.chunker.close()
    return job


async def get_batch(client: AsyncImageClient, job_id: str) -> AsyncBatchJob:
    """Async :func:`gptimage_widgets.batch.get_batch`: the history first, then the server."""
    record: JobRecord | None = await asyncio.to_thread(local_record, client, job_id)
    if record is None:
        api = AsyncBatchAPI(client._transport)
        found = [await api.retrieve(job_id)] if job_id.startswith("batch_") else []
        if needs_listing(found):
            found += await api.listing()
        record = record_from_listing(client, job_id, found)
        if record is None:
            raise not_found(client, job_id)
    job = AsyncBatchJob(client, record)
    await job._asave()
    return job


async def list_batches(client: AsyncImageClient, limit: int = LIST_LIMIT) -> list[AsyncBatchJob]:
    """Async :func:`gptimage_widgets.batch.list_batches`."""
    listed = await AsyncBatchAPI(client._transport).listing(limit)
    records = await asyncio.to_thread(merged_jobs, client, listed)
    return [AsyncBatchJob(client, record) for record in records]


class AsyncBatchJob(JobCore):
    """:class:`~gptimage_widgets.batch.BatchJob` for the async client: ``await job.wait()``,
    ``await job.results()``, ``await job.refresh()``, ``await job.cancel()``; ``.status``,
    ``.counts`` and ``.estimate()`` answer from what is known, without awaiting."""

    def __init__(self, client: AsyncImageClient, record: JobRecord) -> None:
        super().__init__(client, record)
        self._api = AsyncBatchAPI(client._transport)
        self._download = client._download

    async def _asave(self) -> None:
        await asyncio.to_thread(self._save)

    async def refresh(self) -> AsyncBatchJob:
        """Ask the server for every unfinished batch's status and counts."""
        for position, batch_id in self._unfinished():
            self._update(position, await self._api.retrieve(batch_id))
        await self._asave()
        return self

    async def cancel(self) -> AsyncBatchJob:
        """Cancel every unfinished batch (results done so far stay readable)."""
        for position, batch_id in self._unfinished():
            self._update(position, await self._api.cancel(batch_id))
        await self._asave()
        return self

    async def wait(
        self,
        timeout: float | None = None,
        progress: bool = True,
        *,
        poll_interval: float = 2.0,
        max_interval: float = 60.0,
    ) -> AsyncBatchJob:
        """Async :meth:`BatchJob.wait` (the loop keeps running between polls)."""
        poll = Poll(self.id, timeout, poll_interval, max_interval)
        with JobProgress(progress, self) as bar:
            while True:
                await self.refresh()
                bar.update(self)
                if self.done:
                    return self
                await retry.async_sleep(poll.pause(self.status))

    async def fetch(self) -> int:
        """Async :meth:`BatchJob.fetch`: lines read as a stream, results saved in a thread."""
        for file_id in self._input_files():
            async for text in self._api.lines(file_id):
                self._add_input_line(text)
        known = await asyncio.to_thread(self._known)
        by_id = {item["custom_id"]: item for item in self.record.items}
        added = 0
        for batch, file_ids in self._to_fetch():
            for file_id in file_ids:
                async for text in self._api.lines(file_id):
                    line = self._parse(text, by_id, known)
                    if line is None:
                        continue
                    row = await self._row(line, batch, by_id[line.custom_id])
                    await asyncio.to_thread(self._log, row)
                    known[line.custom_id] = row
                    added += 1
            batch["fetched"] = True
            await self._asave()
        return added

    async def _row(
        self, line: OutputLine, batch: Mapping[str, Any], item: Mapping[str, Any]
    ) -> dict[str, Any]:
        if not line.ok:
            return self._error_row(line)
        payload = self._payload(line)
        urls = payload.urls()
        contents = await asyncio.gather(*(self._download(url) for url in urls.values()))
        downloads = dict(zip(urls, contents, strict=True))
        return await asyncio.to_thread(self._result_row, line, payload, downloads, batch, item)

    async def results(self) -> BatchResults:
        """Async :meth:`BatchJob.results` (one ``ImageResult`` or None per item, in order)."""
        if self._needs_fetch(await asyncio.to_thread(self._known)):
            if not self.done:
                await self.refresh()
            self._require_done()
            await self.fetch()
        return await asyncio.to_thread(lambda: self._assemble(self._known()))

    async def export(self, folder: str | os.PathLike[str]) -> pathlib.Path:
        """Async :meth:`BatchJob.export`: images + ``manifest.jsonl`` like a saved sweep."""
        results = await self.results()
        return await asyncio.to_thread(results.save, folder)
