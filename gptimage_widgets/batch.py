"""Batch API jobs from the client: submit, poll, cancel, and read results into the history.

Owns the I/O of a job (https://platform.openai.com/docs/api-reference/batch):
``POST /files`` (``purpose=batch``) -> ``POST /batches`` -> ``GET /batches/{id}`` ->
``GET /files/{id}/content`` (``POST /batches/{id}/cancel``), sent through the client's
:mod:`gptimage_widgets.transport` (retries, no redirects, typed errors).

- :func:`submit` validates EVERY item first (:func:`gptimage_widgets.batch_lines.build_items`;
  a bad item -> one ValidationError naming its index, nothing uploaded), spools the lines
  into input files split by endpoint and by the file limits, then uploads and creates one
  batch per file behind one :class:`BatchJob`;
- the job is remembered in the history folder (:mod:`gptimage_widgets.batch_store`), so
  ``client.get_batch(id)`` resumes it from any later process;
- output and error files are read as a stream, line by line (memory bounded by one line);
  each result is saved to the history and logged as it is read, so a finished batch is
  downloaded once: a second :meth:`BatchJob.results` reads the history, not the network.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any

import httpx

from . import pricing, retry
from .batch_lines import (
    BATCH_PRICE_FACTOR,
    COMPLETION_WINDOW,
    MAX_FILE_BYTES,
    MAX_LINES,
    TERMINAL_STATUSES,
    BuiltItem,
    Chunker,
    OutputLine,
    build_items,
    job_counts,
    job_status,
    parse_output_line,
)
from .batch_store import JobRecord, JobStore, new_job_id
from .errors import APITimeoutError, BudgetExceededError, GPTImageError, ValidationError
from .http_errors import DECODE_PROBLEMS, translate
from .responses import Payload, decode_items, json_body
from .results import ImageResult

if TYPE_CHECKING:
    from .client import ImageClient
    from .transport import SyncTransport

__all__ = ["BatchAPI", "BatchJob", "BatchResults", "get_batch", "list_batches", "submit"]


class BatchAPI:
    """The files and batches endpoints, through a client's transport."""

    def __init__(self, transport: SyncTransport) -> None:
        self.transport = transport

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Request:
        backend = self.transport.backend
        if self.transport.timeout is not None:
            kwargs["timeout"] = self.transport.timeout
        built: httpx.Request = self.transport.http.build_request(
            method,
            backend.url(path),
            headers=self.transport.headers(),
            params=dict(backend.query),
            **kwargs,
        )
        return built

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response, _ = self.transport.send(
            lambda: self._request(method, path, **kwargs), stream=False, model=None
        )
        body = json_body(response, self.transport.secrets)
        if not isinstance(body, dict):
            raise translate(TypeError(f"{path} answered {type(body).__name__}, not an object"))
        return body

    def upload(self, file: IO[bytes], filename: str) -> str:
        """Upload a JSONL input file (``purpose=batch``); its file id."""

        def build() -> httpx.Request:
            file.seek(0)
            files = {"file": (filename, file, "application/jsonl")}
            return self._request("POST", "/files", data={"purpose": "batch"}, files=files)

        response, _ = self.transport.send(build, stream=False, model=None)
        body = json_body(response, self.transport.secrets)
        return str(body["id"])

    def create(
        self, input_file_id: str, endpoint: str, metadata: Mapping[str, str]
    ) -> dict[str, Any]:
        """Create a batch of the uploaded file for `endpoint` (``/v1/images/...``)."""
        payload = {
            "input_file_id": input_file_id,
            "endpoint": endpoint,
            "completion_window": COMPLETION_WINDOW,
            "metadata": dict(metadata),
        }
        return self._json("POST", "/batches", json=payload)

    def retrieve(self, batch_id: str) -> dict[str, Any]:
        return self._json("GET", f"/batches/{batch_id}")

    def cancel(self, batch_id: str) -> dict[str, Any]:
        return self._json("POST", f"/batches/{batch_id}/cancel")

    def lines(self, file_id: str) -> Iterator[str]:
        """The lines of a file's content, read as a stream (one line in memory at a time)."""
        response, _ = self.transport.send(
            lambda: self._request("GET", f"/files/{file_id}/content"), stream=True, model=None
        )
        with contextlib.closing(response):
            try:
                yield from response.iter_lines()
            except httpx.HTTPError as exc:
                raise translate(exc, streaming=True, secrets=self.transport.secrets) from exc


# --------------------------------------------------------------------------- submit


def _estimate(client: ImageClient, built: BuiltItem) -> list[float] | None:
    estimate = client._estimate(built.request)
    if estimate is None:
        return None
    return [v * BATCH_PRICE_FACTOR for v in (estimate.usd, estimate.low_usd, estimate.high_usd)]


def _item_row(client: ImageClient, built: BuiltItem) -> dict[str, Any]:
    request = built.request
    return {
        "custom_id": built.custom_id,
        "operation": request.operation,
        "model": request.model,
        "params": request.params,
        "notes": list(request.notes),
        "estimate": _estimate(client, built),
    }


def submit(
    client: ImageClient,
    items: Iterable[Any],
    *,
    max_lines: int = MAX_LINES,
    max_bytes: int = MAX_FILE_BYTES,
    **common: Any,
) -> BatchJob:
    """Validate every item, then upload and create the job's batches (see ``submit_batch``)."""
    chunker = Chunker(max_lines=max_lines, max_bytes=max_bytes)
    try:
        rows = []
        for built in build_items(items, common):
            chunker.add(built.endpoint, built.request.model, built.line)
            rows.append(_item_row(client, built))
        _check_budget(client, rows)
        job_id = new_job_id()
        record = JobRecord(
            job_id=job_id,
            created=dt.datetime.now(dt.timezone.utc).isoformat(),
            base_url=client.base_url,
            items=rows,
        )
        job = BatchJob(client, record)
        api = BatchAPI(client._transport)
        for number, chunk in enumerate(chunker.chunks):
            file_id = api.upload(chunk.file, f"{job_id}-{number}.jsonl")
            batch = api.create(file_id, chunk.endpoint, {"gptimage_job": job_id})
            record.batches.append({**batch, "endpoint": chunk.endpoint, "lines": chunk.lines})
            job._save()
    finally:
        chunker.close()
    return job


def _check_budget(client: ImageClient, rows: list[dict[str, Any]]) -> None:
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


def _store(client: ImageClient) -> JobStore | None:
    history = client.history
    if history is None or not history.enabled or history.folder is None:
        return None
    return JobStore(history.folder)


def get_batch(client: ImageClient, job_id: str) -> BatchJob:
    """Resume a job (its ``batchjob_...`` id, or the ``batch_...`` id of one of its batches)."""
    store = _store(client)
    if store is None:
        raise ValidationError(
            "get_batch needs the history folder the job was submitted with; this client has "
            "history=False",
            param="history",
        )
    if isinstance(job_id, str) and job_id.startswith("batch_"):
        job_id = store.find_batch(job_id) or job_id
    return BatchJob(client, store.load(job_id))


def list_batches(client: ImageClient) -> list[BatchJob]:
    """The jobs remembered in the client's history, newest first (last known status)."""
    store = _store(client)
    return [] if store is None else [BatchJob(client, record) for record in store.records()]


# --------------------------------------------------------------------------- the job


class BatchResults(list[ImageResult | None]):
    """``ImageResult`` or None per item, in input order; ``.errors``: index -> typed error."""

    errors: dict[int, GPTImageError]


class BatchJob:
    """One submitted job: one or several batches (split by endpoint and file limits).

    Attributes
    ----------
    id : str
        ``batchjob_...``: give it to ``client.get_batch`` in any later process.
    errors : dict of int to GPTImageError
        After :meth:`results`: why each failed item (its index) has no result.
    """

    def __init__(self, client: ImageClient, record: JobRecord) -> None:
        self.client = client
        self.record = record
        self.id = record.job_id
        self.errors: dict[int, GPTImageError] = {}
        self._store = _store(client)
        self._memory: dict[str, dict[str, Any]] = {}  # results log without a history
        self._api = BatchAPI(client._transport)

    def __repr__(self) -> str:
        counts = self.counts
        return (
            f"BatchJob({self.id!r}, status={self.status!r}, items={len(self.record.items)}, "
            f"completed={counts['completed']}, failed={counts['failed']})"
        )

    @property
    def batch_ids(self) -> list[str]:
        """The underlying Batch API ids."""
        return [str(batch.get("id")) for batch in self.record.batches]

    @property
    def status(self) -> str:
        """One status for all batches (last known; :meth:`refresh` asks the server)."""
        return job_status(str(batch.get("status")) for batch in self.record.batches)

    @property
    def counts(self) -> dict[str, int]:
        """``{"total", "completed", "failed"}`` summed over the batches (last known)."""
        return job_counts(self.record.batches)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def _save(self) -> None:
        if self._store is not None:
            self._store.save(self.record)

    def refresh(self) -> BatchJob:
        """Ask the server for every unfinished batch's status and counts."""
        for position, batch in enumerate(self.record.batches):
            if batch.get("status") in TERMINAL_STATUSES:
                continue
            fresh = self._api.retrieve(str(batch["id"]))
            self.record.batches[position] = {**batch, **fresh}
        self._save()
        return self

    def cancel(self) -> BatchJob:
        """Cancel every unfinished batch (results done so far stay readable)."""
        for position, batch in enumerate(self.record.batches):
            if batch.get("status") not in TERMINAL_STATUSES:
                fresh = self._api.cancel(str(batch["id"]))
                self.record.batches[position] = {**batch, **fresh}
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
        waited, interval = 0.0, poll_interval
        with _Progress(progress, self) as bar:
            while True:
                self.refresh()
                bar.update(self)
                if self.done:
                    return self
                if timeout is not None and waited >= timeout:
                    raise APITimeoutError(
                        f"batch job {self.id} is still {self.status} after {timeout:g} s; it "
                        f"keeps running: wait again, or client.get_batch({self.id!r}) later"
                    )
                pause = interval if timeout is None else max(0.0, min(interval, timeout - waited))
                retry.sleep(pause)
                waited += pause
                interval = min(max_interval, interval * 1.5)

    def estimate(self) -> pricing.CostEstimate | None:
        """The job's estimated cost at the Batch API's half price (None without prices)."""
        values = [item.get("estimate") for item in self.record.items]
        if not values or any(value is None for value in values):
            return None
        usd, low, high = (sum(float(v[k]) for v in values if v) for k in range(3))
        return pricing.CostEstimate(
            usd=usd,
            low_usd=low,
            high_usd=high,
            basis=f"Batch API: {BATCH_PRICE_FACTOR:g} x the estimate of {len(values)} requests",
        )

    # ------------------------------------------------------------------ results

    def _known(self) -> dict[str, dict[str, Any]]:
        if self._store is None:
            return self._memory
        return {**self._store.read_results(self.id), **self._memory}

    def _log(self, row: dict[str, Any]) -> None:
        if self._store is None or "result" in row:
            self._memory[row["custom_id"]] = row
        if self._store is not None:
            self._store.append_result(self.id, {k: v for k, v in row.items() if k != "result"})

    def fetch(self) -> int:
        """Read the output and error files of the finished batches into the history.

        Each line is handled as it arrives (memory bounded by one line); lines already read
        (in this or an earlier process) are skipped. Returns how many new items were read.
        """
        known = self._known()
        by_id = {item["custom_id"]: item for item in self.record.items}
        added = 0
        for batch in self.record.batches:
            if batch.get("status") not in TERMINAL_STATUSES or batch.get("fetched"):
                continue
            for key in ("output_file_id", "error_file_id"):
                file_id = batch.get(key)
                if not file_id:
                    continue
                for text in self._api.lines(str(file_id)):
                    added += self._read_line(text, batch, by_id, known)
            batch["fetched"] = True
            self._save()
        return added

    def _read_line(
        self,
        text: str,
        batch: Mapping[str, Any],
        by_id: Mapping[str, dict[str, Any]],
        known: dict[str, dict[str, Any]],
    ) -> int:
        try:
            line = parse_output_line(text)
        except DECODE_PROBLEMS as exc:
            raise translate(exc, secrets=self.client._transport.secrets) from exc
        if line is None or line.custom_id in known or line.custom_id not in by_id:
            return 0
        row: dict[str, Any] = {"custom_id": line.custom_id}
        if line.ok:
            result = self._result(line, batch, by_id[line.custom_id])
            if result.entry_id:
                row["entry_id"] = result.entry_id
            else:
                row["result"] = result
        else:
            row["error"] = {
                "status_code": line.status_code,
                "body": line.body,
                "request_id": line.request_id,
                "error": line.error,
            }
        self._log(row)
        known[line.custom_id] = row
        return 1

    def _result(
        self, line: OutputLine, batch: Mapping[str, Any], item: Mapping[str, Any]
    ) -> ImageResult:
        body = line.body if isinstance(line.body, dict) else {}
        try:
            data = body["data"]
            if not isinstance(data, list) or not data:
                raise ValueError("'data' is not a non-empty list")
        except DECODE_PROBLEMS as exc:
            raise translate(exc, request_id=line.request_id) from exc
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else None
        created = body.get("created")
        payload = Payload(
            items=data,
            usage=usage,
            created=created if isinstance(created, int) else None,
            request_id=line.request_id,
        )
        downloads = {i: self.client._download(url) for i, url in payload.urls().items()}
        decoded = decode_items(payload, downloads)
        cost, is_estimate = self._cost(item, usage)
        with self.client._budget_lock:
            self.client._spent_usd += cost or 0.0
        result = ImageResult(
            images=decoded.images,
            model=str(item["model"]),
            operation=str(item["operation"]),
            request=dict(item.get("params") or {}),
            usage=usage,
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
        return self.client._save_now(result)

    def _cost(
        self, item: Mapping[str, Any], usage: Mapping[str, Any] | None
    ) -> tuple[float | None, bool]:
        if self.client.backend == "offline":
            return 0.0, False
        if usage:
            with contextlib.suppress(GPTImageError):
                actual = pricing.cost_from_usage(str(item["model"]), usage)
                if actual is not None:
                    return actual * BATCH_PRICE_FACTOR, False
        estimate = item.get("estimate")
        return (float(estimate[0]) if estimate else None), True

    def results(self) -> BatchResults:
        """One ``ImageResult`` (or None) per item, in input order, matched by ``custom_id``.

        Reads the history when every item is already there (no network); otherwise
        refreshes, and reads the finished batches' files (:meth:`fetch`). Failed items are
        None, with their typed error in ``.errors`` (of the list and of the job).

        Raises
        ------
        GPTImageError
            When the job has not finished (call :meth:`wait` first).
        """
        known = self._known()
        fetched = all(batch.get("fetched") for batch in self.record.batches)
        if len(known) < len(self.record.items) and not fetched:
            if not self.done:
                self.refresh()
            if not self.done:
                counts = self.counts
                raise GPTImageError(
                    f"batch job {self.id} is {self.status} ({counts['completed']} of "
                    f"{counts['total']} done): call job.wait() first"
                )
            self.fetch()
            known = self._known()
        return self._assemble(known)

    def _assemble(self, known: Mapping[str, dict[str, Any]]) -> BatchResults:
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


class _Progress:
    """A ``tqdm.auto`` bar of finished requests (a widget in Jupyter); silent without tqdm."""

    def __init__(self, enabled: bool, job: BatchJob) -> None:
        self.bar: Any = None
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self.bar = tqdm(total=len(job.record.items), desc=f"batch {job.status}", unit="req")

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def update(self, job: BatchJob) -> None:
        if self.bar is None:
            return
        counts = job.counts
        self.bar.set_description(f"batch {job.status}")
        self.bar.set_postfix(failed=counts["failed"])
        self.bar.n = counts["completed"] + counts["failed"]
        self.bar.refresh()
