"""Batch API jobs from the sync client: submit, poll, cancel, and read results into the history.

Owns the sending of a job with :class:`~gptimage_widgets.client.ImageClient`
(https://platform.openai.com/docs/api-reference/batch): :func:`submit` uploads the input
files and creates one batch per file behind one :class:`BatchJob`; :func:`get_batch` resumes
a job from the history folder or from the server; :func:`list_batches` lists both.

- the job is remembered in the history folder (:mod:`gptimage_widgets.batch_store`), so
  ``client.get_batch(id)`` resumes it from any later process; ``client.list_batches()``
  also lists what the server knows (``GET /batches``), so a job submitted from another
  machine shows up too (:mod:`gptimage_widgets.batch_listing`);
- output and error files are read as a stream, line by line (memory bounded by one line);
  each result is saved to the history and logged as it is read, so a finished batch is
  downloaded once: a second :meth:`BatchJob.results` reads the history, not the network.

Everything but the sending lives elsewhere, shared with the async job
(:mod:`gptimage_widgets.batch_async`): the requests in :mod:`~gptimage_widgets.batch_api`,
the job's state and decisions in :mod:`~gptimage_widgets.batch_core` (:func:`prepare`,
:class:`JobCore`), results and their export in :mod:`~gptimage_widgets.batch_results`
(:class:`BatchResults`). Those names, and the others this module exported before the split
(``LIST_LIMIT``, ``Requests``, ``Pages``, ``Poll``, ``JobProgress``, ``local_record``...),
are importable from here too.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from . import retry
from .batch_api import BatchAPI
from .batch_api import Requests as Requests
from .batch_core import Fetching, JobCore, Submission, Waiting, prepare
from .batch_core import JobProgress as JobProgress
from .batch_core import Poll as Poll
from .batch_lines import OutputLine
from .batch_listing import LIST_LIMIT as LIST_LIMIT
from .batch_listing import Pages as Pages
from .batch_listing import local_record, merged_jobs, needs_listing, not_found, record_from_listing
from .batch_results import BatchResults, error_row, payload_of
from .batch_store import JobRecord

if TYPE_CHECKING:
    from .client import ImageClient

__all__ = [
    "BatchAPI",
    "BatchJob",
    "BatchResults",
    "JobCore",
    "Submission",
    "get_batch",
    "list_batches",
    "prepare",
    "submit",
]


def submit(
    client: ImageClient,
    items: Iterable[Any],
    *,
    max_lines: int | None = None,
    max_bytes: int | None = None,
    **common: Any,
) -> BatchJob:
    """Validate every item, then upload and create the job's batches (see ``submit_batch``)."""
    plan = prepare(client, items, common, max_lines=max_lines, max_bytes=max_bytes)
    try:
        job = BatchJob(client, plan.record)
        api = BatchAPI(client._transport)
        for number, chunk in enumerate(plan.chunker.chunks):
            file_id = api.upload(chunk.file, plan.filename(number))
            plan.add_batch(api.create(file_id, chunk.endpoint, plan.metadata), number)
            job._save()
    finally:
        plan.chunker.close()
    return job


def get_batch(client: ImageClient, job_id: str) -> BatchJob:
    """Resume a job: its ``batchjob_...`` id, or a ``batch_...`` id (one of its batches).

    Looks in the history folder first, then on the server (a job submitted from another
    machine, or a batch submitted by another tool).
    """
    record = local_record(client, job_id)
    if record is None:
        api = BatchAPI(client._transport)
        found = [api.retrieve(job_id)] if job_id.startswith("batch_") else []
        if needs_listing(found):
            found += api.listing()
        record = record_from_listing(client, job_id, found)
        if record is None:
            raise not_found(client, job_id)
    job = BatchJob(client, record)
    job._save()
    return job


def list_batches(client: ImageClient, limit: int = LIST_LIMIT) -> list[BatchJob]:
    """Every job the history remembers and the server lists, newest first.

    Reads up to `limit` batches of ``GET /batches`` (pages of 100); ``limit=0`` lists only
    the history (no request).
    """
    listed = BatchAPI(client._transport).listing(limit)
    return [BatchJob(client, record) for record in merged_jobs(client, listed)]


class BatchJob(JobCore):
    """One submitted job: one or several batches (split by endpoint and file limits).

    ``.refresh()``, ``.wait()``, ``.cancel()``, ``.fetch()``, ``.results()`` send through
    the sync client; ``.status``, ``.counts``, ``.estimate()`` answer from what is known.
    """

    def __init__(self, client: ImageClient, record: JobRecord) -> None:
        super().__init__(client, record)
        self._api = BatchAPI(client._transport)
        self._download = client._download

    def _on_unfinished(self, call: Callable[[str], dict[str, Any]]) -> BatchJob:
        for position, batch_id in self._unfinished():
            self._update(position, call(batch_id))
        self._save()
        return self

    def refresh(self) -> BatchJob:
        """Ask the server for every unfinished batch's status and counts."""
        return self._on_unfinished(self._api.retrieve)

    def cancel(self) -> BatchJob:
        """Cancel every unfinished batch (results done so far stay readable)."""
        return self._on_unfinished(self._api.cancel)

    def wait(
        self,
        timeout: float | None = None,
        progress: bool = True,
        *,
        poll_interval: float = 2.0,
        max_interval: float = 60.0,
    ) -> BatchJob:
        """Poll until every batch has finished (backoff ``poll_interval`` x1.5 up to
        ``max_interval`` seconds); a progress bar (``tqdm.auto``) unless ``progress=False``.

        Raises
        ------
        APITimeoutError
            After `timeout` seconds (the job keeps running; wait again or resume later).
        """
        with Waiting(self, timeout, progress, poll_interval, max_interval) as waiting:
            while (pause := waiting.pause_after(self.refresh())) is not None:
                retry.sleep(pause)
        return self

    def fetch(self) -> int:
        """Read the output and error files of the finished batches into the history.

        Each line is handled as it arrives (memory bounded by one line); lines already read
        (in this or an earlier process) are skipped. Returns how many new items were read.
        """
        for file_id in self._input_files():
            for text in self._api.lines(file_id):
                self._add_input_line(text)
        fetching = Fetching(self)
        for batch, file_ids in self._to_fetch():
            for file_id in file_ids:
                for text in self._api.lines(file_id):
                    if (new := fetching.new_line(text)) is not None:
                        fetching.keep(self._row(*new, batch))
            self._fetched(batch)
        return fetching.added

    def _row(
        self, line: OutputLine, item: Mapping[str, Any], batch: Mapping[str, Any]
    ) -> dict[str, Any]:
        if not line.ok:
            return error_row(line)
        payload = payload_of(line)
        downloads = {i: self._download(url) for i, url in payload.urls().items()}
        return self._result_row(line, payload, downloads, item, batch)

    def results(self) -> BatchResults:
        """One ``ImageResult`` (or None) per item, in input order, matched by ``custom_id``.

        Reads the history when every item is already there (no network); otherwise
        refreshes, and reads the finished batches' files (:meth:`fetch`). Failed items are
        None, with their typed error in ``.errors`` (of the list and of the job). The list
        exports like a sweep (``.arrays()``, ``.to_csv()``, ``.save(folder)``...).

        Raises
        ------
        GPTImageError
            When the job has not finished (call :meth:`wait` first).
        """
        if self._needs_fetch(self._known()):
            if not self.done:
                self.refresh()
            self._require_done()
            self.fetch()
        return self._assemble(self._known())

    def export(self, folder: str | os.PathLike[str]) -> pathlib.Path:
        """Write the results like a sweep (``SweepResults.save``): images + manifest.jsonl.

        Returns
        -------
        Path
            The manifest; ``gptimage_widgets.load_sweep(folder)`` reads it back.
        """
        return self.results().save(folder)
