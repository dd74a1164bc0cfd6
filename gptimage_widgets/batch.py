"""Batch API jobs from the client: submit, poll, cancel, and read results into the history.

Owns the I/O of a job (https://platform.openai.com/docs/api-reference/batch):
``POST /files`` (``purpose=batch``) -> ``POST /batches`` -> ``GET /batches/{id}`` ->
``GET /files/{id}/content`` (``POST /batches/{id}/cancel``, ``GET /batches``), sent through
the client's :mod:`gptimage_widgets.transport` (retries, no redirects, typed errors).

- :func:`prepare` validates EVERY item first (:func:`gptimage_widgets.batch_lines.build_items`;
  a bad item -> one ValidationError naming its index, nothing uploaded) and spools the lines
  into input files split by endpoint and by the file limits; :func:`submit` then uploads
  and creates one batch per file behind one :class:`BatchJob`;
- the job is remembered in the history folder (:mod:`gptimage_widgets.batch_store`), so
  ``client.get_batch(id)`` resumes it from any later process; ``client.list_batches()``
  also lists what the server knows (``GET /batches``), so a job submitted from another
  machine shows up too;
- output and error files are read as a stream, line by line (memory bounded by one line);
  each result is saved to the history and logged as it is read, so a finished batch is
  downloaded once: a second :meth:`BatchJob.results` reads the history, not the network.

Everything but the sending lives in :class:`JobCore` and the module's pure helpers, shared
with the async job (:mod:`gptimage_widgets.batch_async`): the sync and async classes differ
only in how they send and sleep.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import pathlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import httpx
import numpy as np

from . import pricing, retry
from .batch_lines import (
    TERMINAL_STATUSES,
    BuiltItem,
    Chunker,
    OutputLine,
    build_items,
    item_from_input_line,
    job_counts,
    job_status,
    parse_output_line,
)
from .batch_store import JOB_METADATA, JobRecord, JobStore, job_id_of, merge_listing, new_job_id
from .catalog import batch_limits
from .errors import APITimeoutError, BudgetExceededError, GPTImageError, ValidationError
from .http_errors import DECODE_PROBLEMS, translate
from .responses import Payload, decode_items, json_body
from .results import ImageResult
from .sweeps import SweepResults

if TYPE_CHECKING:
    from .client import ImageClient
    from .client_base import ClientBase
    from .transport import SyncTransport, Transport

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

#: Most server batches ``list_batches`` reads by default (newest first).
LIST_LIMIT = 100
_PAGE = 100


# --------------------------------------------------------------------------- requests


class Requests:
    """The files and batches requests of one client (built here, sent by a subclass)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def request(
        self, method: str, path: str, query: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> httpx.Request:
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
        return {
            "input_file_id": input_file_id,
            "endpoint": endpoint,
            "completion_window": batch_limits().completion_window,
            "metadata": dict(metadata),
        }

    @staticmethod
    def page_query(after: str | None, limit: int) -> dict[str, Any]:
        return {"limit": max(1, min(_PAGE, limit)), **({"after": after} if after else {})}

    def object_of(self, response: httpx.Response, path: str) -> dict[str, Any]:
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


class Pages:
    """Walks OpenAI's cursor pages of ``GET /batches`` (``limit``, ``after``, ``has_more``),
    keeping the image batches (the catalog's batch endpoints)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.read = 0
        self.after: str | None = None
        self.more = limit > 0
        self.batches: list[dict[str, Any]] = []

    def query(self) -> dict[str, Any]:
        return Requests.page_query(self.after, self.limit - self.read)

    def add(self, page: Mapping[str, Any]) -> None:
        data = page.get("data")
        data = [b for b in data if isinstance(b, dict)] if isinstance(data, list) else []
        endpoints = batch_limits().endpoints
        self.batches += [b for b in data if b.get("endpoint") in endpoints]
        self.read += len(data)
        last = page.get("last_id") or (data[-1].get("id") if data else None)
        self.more = bool(page.get("has_more")) and bool(data) and self.read < self.limit
        self.after = str(last) if last else None


# --------------------------------------------------------------------------- submit


@dataclass
class Submission:
    """A validated job, its lines spooled into input files, nothing uploaded yet."""

    record: JobRecord
    chunker: Chunker

    @property
    def metadata(self) -> dict[str, str]:
        return {JOB_METADATA: self.record.job_id}

    def filename(self, number: int) -> str:
        return f"{self.record.job_id}-{number}.jsonl"

    def add_batch(self, batch: Mapping[str, Any], number: int) -> None:
        chunk = self.chunker.chunks[number]
        self.record.batches.append({**batch, "endpoint": chunk.endpoint, "lines": chunk.lines})


def _estimate(client: ClientBase[Any], built: BuiltItem) -> list[float] | None:
    estimate = client._estimate(built.request)
    if estimate is None:
        return None
    factor = batch_limits().price_factor
    return [v * factor for v in (estimate.usd, estimate.low_usd, estimate.high_usd)]


def _item_row(client: ClientBase[Any], built: BuiltItem) -> dict[str, Any]:
    request = built.request
    return {
        "custom_id": built.custom_id,
        "operation": request.operation,
        "model": request.model,
        "params": request.params,
        "notes": list(request.notes),
        "estimate": _estimate(client, built),
    }


def prepare(
    client: ClientBase[Any],
    items: Iterable[Any],
    common: Mapping[str, Any],
    *,
    max_lines: int | None = None,
    max_bytes: int | None = None,
) -> Submission:
    """Validate every item, check the budget and spool the input files (nothing sent).

    The caller uploads ``chunker.chunks`` and must close the chunker.
    """
    chunker = Chunker(max_lines=max_lines, max_bytes=max_bytes)
    try:
        rows = []
        for built in build_items(items, common):
            chunker.add(built.endpoint, built.request.model, built.line)
            rows.append(_item_row(client, built))
        _check_budget(client, rows)
    except BaseException:
        chunker.close()
        raise
    record = JobRecord(
        job_id=new_job_id(),
        created=dt.datetime.now(dt.timezone.utc).isoformat(),
        base_url=client.base_url,
        items=rows,
    )
    return Submission(record, chunker)


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


def _check_budget(client: ClientBase[Any], rows: list[dict[str, Any]]) -> None:
    """Refuse a job whose upper estimate would take the client past ``budget_usd``."""
    if client.budget_usd is None or client.backend == "offline":
        return
    high = sum(float(row["estimate"][2]) for row in rows if row["estimate"])
    if client.spent_usd + high > client.budget_usd + 1e-12:
        raise BudgetExceededError(
            f"not submitted: these {len(rows)} requests may cost up to ${high:.3f} at batch "
            f"price, and ${client.spent_usd:.3f} of the ${client.budget_usd:.2f} budget is "
            "spent; raise budget_usd= or submit fewer items"
        )


def job_store(client: ClientBase[Any]) -> JobStore | None:
    """The client's job store (None with ``history=False``)."""
    history = client.history
    if history is None or not history.enabled or history.folder is None:
        return None
    return JobStore(history.folder)


# --------------------------------------------------------------------------- resume / list


def local_record(client: ClientBase[Any], job_id: str) -> JobRecord | None:
    """The stored record of `job_id` (a ``batchjob_`` or ``batch_`` id), if any."""
    store = job_store(client)
    if store is None:
        if not isinstance(job_id, str) or not job_id.startswith(("batchjob_", "batch_")):
            raise ValidationError(
                f"{job_id!r} is not a batch job id; ids look like "
                "'batchjob_20261206_061500_1a2b3c4d' or 'batch_...'",
                param="id",
                value=job_id,
            )
        return None
    return store.find(job_id)


def needs_listing(found: list[dict[str, Any]]) -> bool:
    """Whether resuming from the server must list batches: nothing retrieved yet, or the
    retrieved batch belongs to a job of several (its siblings are found by listing)."""
    return not found or job_id_of(found[0]) != found[0].get("id")


def record_from_listing(
    client: ClientBase[Any], job_id: str, listed: Iterable[Mapping[str, Any]]
) -> JobRecord | None:
    """The job `job_id` made of the listed batches that belong to it (None if none do)."""
    listed = list(listed)
    first = next((b for b in listed if job_id in (b.get("id"), job_id_of(b))), None)
    if first is None:
        return None
    job = job_id_of(first)
    jobs, _ = merge_listing([], [b for b in listed if job_id_of(b) == job], client.base_url)
    return jobs[0]


def not_found(client: ClientBase[Any], job_id: str) -> ValidationError:
    where = "the history folder" if job_store(client) is not None else "memory (history=False)"
    return ValidationError(
        f"no batch job {job_id!r} in {where} nor on {client.base_url}; pass the client the "
        "history folder and the API root the job was submitted with (see list_batches())",
        param="id",
        value=job_id,
    )


def merged_jobs(client: ClientBase[Any], listed: list[dict[str, Any]]) -> list[JobRecord]:
    """The store's records merged with the server's listing; new or changed ones saved."""
    store = job_store(client)
    records = list(store.records()) if store is not None else []
    jobs, changed = merge_listing(records, listed, client.base_url)
    if store is not None:
        for record in changed:
            store.save(record)
    return jobs


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


# --------------------------------------------------------------------------- the job


class BatchResults(list[ImageResult | None]):
    """``ImageResult`` or None per item, in input order; ``.errors``: index -> typed error.

    Exports like a sweep (:class:`~gptimage_widgets.sweeps.SweepResults`, through
    :meth:`to_sweep`): ``.arrays()``, ``.params``, ``.to_records()``, ``.to_csv(path)``,
    ``.save(folder)`` (read back with ``load_sweep``); a failed item is exported with its
    error.
    """

    errors: dict[int, GPTImageError]

    def to_sweep(self) -> SweepResults:
        """The same items as a :class:`SweepResults` (a failed item: its error)."""
        return SweepResults.from_batch(self)

    def arrays(self) -> np.ndarray | list[np.ndarray]:
        """:meth:`SweepResults.arrays` of the successful items."""
        return self.to_sweep().arrays()

    @property
    def params(self) -> list[dict[str, Any]]:
        """:attr:`SweepResults.params`: one dict per item."""
        return self.to_sweep().params

    def to_records(self) -> list[dict[str, Any]]:
        """:meth:`SweepResults.to_records`: one flat row per image and per failed item."""
        return self.to_sweep().to_records()

    def to_csv(self, path: str | os.PathLike[str]) -> pathlib.Path:
        """:meth:`SweepResults.to_csv`."""
        return self.to_sweep().to_csv(path)

    def save(self, folder: str | os.PathLike[str]) -> pathlib.Path:
        """:meth:`SweepResults.save`: PNGs + ``manifest.jsonl`` (``load_sweep`` reads it)."""
        return self.to_sweep().save(folder)


@dataclass
class Poll:
    """When a waiting job asks again: every ``interval`` s (x1.5 each time, at most
    ``max_interval``), until ``timeout`` s have been waited."""

    job_id: str
    timeout: float | None
    interval: float = 2.0
    max_interval: float = 60.0
    waited: float = 0.0

    def pause(self, status: str) -> float:
        """The next pause; APITimeoutError once `timeout` seconds have been waited."""
        if self.timeout is not None and self.waited >= self.timeout:
            raise APITimeoutError(
                f"batch job {self.job_id} is still {status} after {self.timeout:g} s; it "
                f"keeps running: wait again, or client.get_batch({self.job_id!r}) later"
            )
        left = None if self.timeout is None else self.timeout - self.waited
        pause = self.interval if left is None else max(0.0, min(self.interval, left))
        self.waited += pause
        self.interval = min(self.max_interval, self.interval * 1.5)
        return pause


class JobCore:
    """What a job is and knows, without sending anything (shared by the sync and async job).

    Attributes
    ----------
    id : str
        ``batchjob_...`` (or the ``batch_...`` id of a batch submitted elsewhere): give it
        to ``client.get_batch`` in any later process.
    errors : dict of int to GPTImageError
        After ``results()``: why each failed item (its index) has no result.
    """

    def __init__(self, client: ClientBase[Any], record: JobRecord) -> None:
        self.client = client
        self.record = record
        self.id = record.job_id
        self.errors: dict[int, GPTImageError] = {}
        self._store = job_store(client)
        self._memory: dict[str, dict[str, Any]] = {}  # results log without a history

    def __repr__(self) -> str:
        counts = self.counts
        return (
            f"{type(self).__name__}({self.id!r}, status={self.status!r}, items={self.size}, "
            f"completed={counts['completed']}, failed={counts['failed']})"
        )

    @property
    def batch_ids(self) -> list[str]:
        """The underlying Batch API ids."""
        return [str(batch.get("id")) for batch in self.record.batches]

    @property
    def status(self) -> str:
        """One status for all batches (last known; ``refresh()`` asks the server)."""
        return job_status(str(batch.get("status")) for batch in self.record.batches)

    @property
    def counts(self) -> dict[str, int]:
        """``{"total", "completed", "failed"}`` summed over the batches (last known)."""
        return job_counts(self.record.batches)

    @property
    def size(self) -> int:
        """How many requests the job holds."""
        return len(self.record.items) or self.counts["total"]

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def _save(self) -> None:
        if self._store is not None:
            self._store.save(self.record)

    def estimate(self) -> pricing.CostEstimate | None:
        """The job's estimated cost at the Batch API's price (None without prices)."""
        values = [item.get("estimate") for item in self.record.items]
        if not values or any(value is None for value in values):
            return None
        usd, low, high = (sum(float(v[k]) for v in values if v) for k in range(3))
        factor = batch_limits().price_factor
        return pricing.CostEstimate(
            usd=usd,
            low_usd=low,
            high_usd=high,
            basis=f"Batch API: {factor:g} x the estimate of {len(values)} requests",
        )

    # ------------------------------------------------------------------ pure steps

    def _unfinished(self) -> list[tuple[int, str]]:
        """(position, id) of the batches not known to have ended."""
        return [
            (position, str(batch["id"]))
            for position, batch in enumerate(self.record.batches)
            if batch.get("status") not in TERMINAL_STATUSES
        ]

    def _update(self, position: int, fresh: Mapping[str, Any]) -> None:
        self.record.batches[position] = {**self.record.batches[position], **fresh}

    def _input_files(self) -> list[str]:
        """Input files to read the items from (a batch submitted elsewhere has none kept)."""
        if self.record.items:
            return []
        return [str(b["input_file_id"]) for b in self.record.batches if b.get("input_file_id")]

    def _add_input_line(self, text: str) -> None:
        try:
            row = item_from_input_line(text)
        except DECODE_PROBLEMS as exc:
            raise translate(exc, secrets=self.client._transport.secrets) from exc
        if row is not None:
            self.record.items.append(row)

    def _to_fetch(self) -> list[tuple[dict[str, Any], list[str]]]:
        """(batch, its output and error file ids) of each ended batch not read yet."""
        return [
            (batch, [str(batch[k]) for k in ("output_file_id", "error_file_id") if batch.get(k)])
            for batch in self.record.batches
            if batch.get("status") in TERMINAL_STATUSES and not batch.get("fetched")
        ]

    def _parse(
        self, text: str, by_id: Mapping[str, Any], known: Mapping[str, Any]
    ) -> OutputLine | None:
        """An output/error line still to read (None: blank, already read, or not this job's)."""
        try:
            line = parse_output_line(text)
        except DECODE_PROBLEMS as exc:
            raise translate(exc, secrets=self.client._transport.secrets) from exc
        if line is None or line.custom_id in known or line.custom_id not in by_id:
            return None
        return line

    @staticmethod
    def _payload(line: OutputLine) -> Payload:
        """The images response of a successful line."""
        body = line.body if isinstance(line.body, dict) else {}
        try:
            data = body["data"]
            if not isinstance(data, list) or not data:
                raise ValueError("'data' is not a non-empty list")
        except DECODE_PROBLEMS as exc:
            raise translate(exc, request_id=line.request_id) from exc
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else None
        created = body.get("created")
        return Payload(
            items=data,
            usage=usage,
            created=created if isinstance(created, int) else None,
            request_id=line.request_id,
        )

    @staticmethod
    def _error_row(line: OutputLine) -> dict[str, Any]:
        return {
            "custom_id": line.custom_id,
            "error": {
                "status_code": line.status_code,
                "body": line.body,
                "request_id": line.request_id,
                "error": line.error,
            },
        }

    def _result_row(
        self,
        line: OutputLine,
        payload: Payload,
        downloads: Mapping[int, bytes | bytearray],
        batch: Mapping[str, Any],
        item: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Decode a successful line, save its result to the history; its results-log row.

        Blocking (decoding, disk): the async job runs it in a thread.
        """
        decoded = decode_items(payload, downloads)
        cost, is_estimate = self._cost(item, payload.usage)
        with self.client._budget_lock:
            self.client._spent_usd += cost or 0.0
        result = ImageResult(
            images=decoded.images,
            model=str(item["model"]),
            operation=str(item["operation"]),
            request=dict(item.get("params") or {}),
            usage=payload.usage,
            cost_usd=cost,
            cost_is_estimate=is_estimate,
            revised_prompts=decoded.revised,
            request_id=line.request_id,
            created=payload.created,
            timings={},
            notes=[
                *item.get("notes", []),
                f"Batch API job {self.id}, batch {batch.get('id')}, {line.custom_id}",
            ],
        )
        result = self.client._save_now(result)
        row: dict[str, Any] = {"custom_id": line.custom_id}
        if result.entry_id:
            row["entry_id"] = result.entry_id
        else:
            row["result"] = result
        return row

    def _cost(
        self, item: Mapping[str, Any], usage: Mapping[str, Any] | None
    ) -> tuple[float | None, bool]:
        if self.client.backend == "offline":
            return 0.0, False
        if usage:
            with contextlib.suppress(GPTImageError):
                actual = pricing.cost_from_usage(str(item["model"]), usage)
                if actual is not None:
                    return actual * batch_limits().price_factor, False
        estimate = item.get("estimate")
        return (float(estimate[0]) if estimate else None), True

    def _known(self) -> dict[str, dict[str, Any]]:
        """custom_id -> results-log row of every item read so far (blocking: disk)."""
        if self._store is None:
            return self._memory
        return {**self._store.read_results(self.id), **self._memory}

    def _log(self, row: dict[str, Any]) -> None:
        """Remember one item's outcome (blocking: appends to the results log)."""
        if self._store is None or "result" in row:
            self._memory[row["custom_id"]] = row
        if self._store is not None:
            self._store.append_result(self.id, {k: v for k, v in row.items() if k != "result"})

    def _needs_fetch(self, known: Mapping[str, Any]) -> bool:
        fetched = bool(self.record.batches) and all(b.get("fetched") for b in self.record.batches)
        return not fetched and (not self.record.items or len(known) < len(self.record.items))

    def _require_done(self) -> None:
        if not self.done:
            counts = self.counts
            raise GPTImageError(
                f"batch job {self.id} is {self.status} ({counts['completed']} of "
                f"{counts['total']} done): call job.wait() first"
            )

    def _assemble(self, known: Mapping[str, dict[str, Any]]) -> BatchResults:
        """The results in input order (blocking: loads images from the history)."""
        out = BatchResults()
        self.errors = out.errors = {}
        for index, item in enumerate(self.record.items):
            row = known.get(item["custom_id"])
            if row is not None and "result" in row:
                out.append(row["result"])
            elif row is not None and row.get("entry_id"):
                assert self.client.history is not None
                out.append(self.client.history.load(str(row["entry_id"])))
            else:
                out.append(None)
                out.errors[index] = self._error(index, item, row)
        return out

    def _error(
        self, index: int, item: Mapping[str, Any], row: Mapping[str, Any] | None
    ) -> GPTImageError:
        if row is None or "error" not in row:
            return GPTImageError(
                f"item {index} has no result: the job ended {self.status} before it ran"
            )
        failure = row["error"]
        status, body = failure.get("status_code"), failure.get("body")
        if isinstance(status, int):
            headers = {"x-request-id": failure["request_id"]} if failure.get("request_id") else {}
            content = json.dumps(body).encode() if body is not None else b""
            response = httpx.Response(status, content=content, headers=headers)
            return translate(
                response, model=str(item.get("model")), secrets=self.client._transport.secrets
            )
        detail = failure.get("error") or {}
        return GPTImageError(
            f"item {index} failed in the batch: {detail.get('code') or 'error'}: "
            f"{detail.get('message') or 'no message'}",
            request_id=failure.get("request_id"),
        )


class BatchJob(JobCore):
    """One submitted job: one or several batches (split by endpoint and file limits).

    ``.refresh()``, ``.wait()``, ``.cancel()``, ``.fetch()``, ``.results()`` send through
    the sync client; ``.status``, ``.counts``, ``.estimate()`` answer from what is known.
    """

    def __init__(self, client: ImageClient, record: JobRecord) -> None:
        super().__init__(client, record)
        self._api = BatchAPI(client._transport)
        self._download = client._download

    def refresh(self) -> BatchJob:
        """Ask the server for every unfinished batch's status and counts."""
        for position, batch_id in self._unfinished():
            self._update(position, self._api.retrieve(batch_id))
        self._save()
        return self

    def cancel(self) -> BatchJob:
        """Cancel every unfinished batch (results done so far stay readable)."""
        for position, batch_id in self._unfinished():
            self._update(position, self._api.cancel(batch_id))
        self._save()
        return self

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
        poll = Poll(self.id, timeout, poll_interval, max_interval)
        with JobProgress(progress, self) as bar:
            while True:
                self.refresh()
                bar.update(self)
                if self.done:
                    return self
                retry.sleep(poll.pause(self.status))

    def fetch(self) -> int:
        """Read the output and error files of the finished batches into the history.

        Each line is handled as it arrives (memory bounded by one line); lines already read
        (in this or an earlier process) are skipped. Returns how many new items were read.
        """
        for file_id in self._input_files():
            for text in self._api.lines(file_id):
                self._add_input_line(text)
        known = self._known()
        by_id = {item["custom_id"]: item for item in self.record.items}
        added = 0
        for batch, file_ids in self._to_fetch():
            for file_id in file_ids:
                for text in self._api.lines(file_id):
                    line = self._parse(text, by_id, known)
                    if line is None:
                        continue
                    row = self._row(line, batch, by_id[line.custom_id])
                    self._log(row)
                    known[line.custom_id] = row
                    added += 1
            batch["fetched"] = True
            self._save()
        return added

    def _row(
        self, line: OutputLine, batch: Mapping[str, Any], item: Mapping[str, Any]
    ) -> dict[str, Any]:
        if not line.ok:
            return self._error_row(line)
        payload = self._payload(line)
        downloads = {i: self._download(url) for i, url in payload.urls().items()}
        return self._result_row(line, payload, downloads, batch, item)

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


class JobProgress:
    """A ``tqdm.auto`` bar of finished requests (a widget in Jupyter); silent without tqdm."""

    def __init__(self, enabled: bool, job: JobCore) -> None:
        self.bar: Any = None
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self.bar = tqdm(total=job.size, desc=f"batch {job.status}", unit="req")

    def __enter__(self) -> JobProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def update(self, job: JobCore) -> None:
        if self.bar is None:
            return
        counts = job.counts
        self.bar.total = job.size
        self.bar.set_description(f"batch {job.status}")
        self.bar.set_postfix(failed=counts["failed"])
        self.bar.n = counts["completed"] + counts["failed"]
        self.bar.refresh()
