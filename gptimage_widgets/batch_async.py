"""Batch API jobs from the async client: ``await client.submit_batch(...)``.

Owns the awaiting of a job with :class:`~gptimage_widgets.async_client.AsyncImageClient`:
the async twin of :mod:`gptimage_widgets.batch`, with the same requests
(:class:`~gptimage_widgets.batch_api.AsyncBatchAPI`), the same validation and spooling
(:func:`~gptimage_widgets.batch_core.prepare`), the same job state and decisions
(:class:`~gptimage_widgets.batch_core.JobCore`, ``Fetching``, ``Waiting``) and the same
listing merge (:mod:`gptimage_widgets.batch_listing`); only sending and sleeping are awaited
here. Blocking steps (validating and encoding the items, decoding results, the history's
disk) run in a thread (``asyncio.to_thread``) so the event loop keeps running.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from . import retry
from .batch_api import AsyncBatchAPI
from .batch_core import Fetching, JobCore, Waiting, prepare
from .batch_lines import OutputLine
from .batch_listing import (
    LIST_LIMIT,
    local_record,
    merged_jobs,
    needs_listing,
    not_found,
    record_from_listing,
)
from .batch_results import BatchResults, error_row, payload_of
from .batch_store import JobRecord

if TYPE_CHECKING:
    from .async_client import AsyncImageClient

__all__ = ["AsyncBatchAPI", "AsyncBatchJob", "get_batch", "list_batches", "submit"]


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

    async def _on_unfinished(
        self, call: Callable[[str], Awaitable[dict[str, Any]]]
    ) -> AsyncBatchJob:
        for position, batch_id in self._unfinished():
            self._update(position, await call(batch_id))
        await self._asave()
        return self

    async def refresh(self) -> AsyncBatchJob:
        """Ask the server for every unfinished batch's status and counts."""
        return await self._on_unfinished(self._api.retrieve)

    async def cancel(self) -> AsyncBatchJob:
        """Cancel every unfinished batch (results done so far stay readable)."""
        return await self._on_unfinished(self._api.cancel)

    async def wait(
        self,
        timeout: float | None = None,
        progress: bool = True,
        *,
        poll_interval: float = 2.0,
        max_interval: float = 60.0,
    ) -> AsyncBatchJob:
        """Async :meth:`BatchJob.wait` (the loop keeps running between polls)."""
        with Waiting(self, timeout, progress, poll_interval, max_interval) as waiting:
            while (pause := waiting.pause_after(await self.refresh())) is not None:
                await retry.async_sleep(pause)
        return self

    async def fetch(self) -> int:
        """Async :meth:`BatchJob.fetch`: lines read as a stream, results saved in a thread."""
        for file_id in self._input_files():
            async for text in self._api.lines(file_id):
                self._add_input_line(text)
        fetching = await asyncio.to_thread(Fetching, self)
        for batch, file_ids in self._to_fetch():
            for file_id in file_ids:
                async for text in self._api.lines(file_id):
                    if (new := fetching.new_line(text)) is not None:
                        row = await self._row(*new, batch)
                        await asyncio.to_thread(fetching.keep, row)
            await asyncio.to_thread(self._fetched, batch)
        return fetching.added

    async def _row(
        self, line: OutputLine, item: Mapping[str, Any], batch: Mapping[str, Any]
    ) -> dict[str, Any]:
        if not line.ok:
            return error_row(line)
        payload = payload_of(line)
        urls = payload.urls()
        contents = await asyncio.gather(*(self._download(url) for url in urls.values()))
        downloads = dict(zip(urls, contents, strict=True))
        return await asyncio.to_thread(self._result_row, line, payload, downloads, item, batch)

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
