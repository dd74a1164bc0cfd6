"""A Batch API job without the sending: planning, state, line handling, waiting.

Owns every decision of a job that needs no I/O, shared by the sync job
(:class:`gptimage_widgets.batch.BatchJob`) and the async one
(:class:`gptimage_widgets.batch_async.AsyncBatchJob`), which differ only in how they send
and sleep (the way httpx's ``Client`` and ``AsyncClient`` do):

- :func:`prepare` validates EVERY item first (:func:`gptimage_widgets.batch_lines.build_items`;
  a bad item -> one ValidationError naming its index, nothing uploaded), checks the budget
  and spools the lines into input files split by endpoint and by the file limits
  (:class:`Submission`);
- :class:`JobCore`: what a job is and knows (status, counts, estimate), which batches to
  refresh or cancel, which files to read, the results log, the results in input order;
- :class:`Fetching`: one ``fetch()``'s bookkeeping (which output lines are new, what was
  read);
- :class:`Waiting`: one ``wait()`` (:class:`Poll`: when to ask again or give up;
  :class:`JobProgress`: the bar).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import pricing
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
from .batch_listing import job_store
from .batch_results import BatchResults, image_result, item_cost, item_error
from .batch_store import JOB_METADATA, JobRecord, new_job_id
from .catalog import batch_limits
from .errors import APITimeoutError, BudgetExceededError, GPTImageError
from .http_errors import DECODE_PROBLEMS, translate

if TYPE_CHECKING:
    from .client_base import ClientBase
    from .responses import Payload

__all__ = ["Fetching", "JobCore", "JobProgress", "Poll", "Submission", "Waiting", "prepare"]


# --------------------------------------------------------------------------- submit


@dataclass
class Submission:
    """A validated job, its lines spooled into input files, nothing uploaded yet."""

    record: JobRecord
    chunker: Chunker

    @property
    def metadata(self) -> dict[str, str]:
        """The metadata of each of the job's batches (``gptimage_job``: the job id)."""
        return {JOB_METADATA: self.record.job_id}

    def filename(self, number: int) -> str:
        return f"{self.record.job_id}-{number}.jsonl"

    def add_batch(self, batch: Mapping[str, Any], number: int) -> None:
        """Remember the batch created from input file `number`."""
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


# --------------------------------------------------------------------------- the job


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

    def _fetched(self, batch: dict[str, Any]) -> None:
        """Mark a batch whose files were read (blocking: saves the record)."""
        batch["fetched"] = True
        self._save()

    def _result_row(
        self,
        line: OutputLine,
        payload: Payload,
        downloads: Mapping[int, bytes | bytearray],
        item: Mapping[str, Any],
        batch: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Decode a successful line, save its result to the history; its results-log row.

        Blocking (decoding, disk): the async job runs it in a thread.
        """
        cost = item_cost(item, payload.usage, offline=self.client.backend == "offline")
        with self.client._budget_lock:
            self.client._spent_usd += cost[0] or 0.0
        note = f"Batch API job {self.id}, batch {batch.get('id')}, {line.custom_id}"
        result = image_result(line, payload, downloads, item, cost, note)
        result = self.client._save_now(result)
        row: dict[str, Any] = {"custom_id": line.custom_id}
        if result.entry_id:
            row["entry_id"] = result.entry_id
        else:
            row["result"] = result
        return row

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
        secrets = self.client._transport.secrets
        for index, item in enumerate(self.record.items):
            row = known.get(item["custom_id"])
            if row is not None and "result" in row:
                out.append(row["result"])
            elif row is not None and row.get("entry_id"):
                assert self.client.history is not None
                out.append(self.client.history.load(str(row["entry_id"])))
            else:
                out.append(None)
                out.errors[index] = item_error(index, item, row, self.status, secrets)
        return out


class Fetching:
    """One ``fetch()``: which output/error lines are new, and how many were read.

    Made after the input files were read (the items are known); making it reads the
    results log (blocking: the async job makes it in a thread).
    """

    def __init__(self, job: JobCore) -> None:
        self.job = job
        self.known = job._known()
        self.by_id = {item["custom_id"]: item for item in job.record.items}
        self.added = 0

    def new_line(self, text: str) -> tuple[OutputLine, Mapping[str, Any]] | None:
        """The line and its item; None for a blank line, one already read (in this or an
        earlier process), or one that is not this job's."""
        try:
            line = parse_output_line(text)
        except DECODE_PROBLEMS as exc:
            raise translate(exc, secrets=self.job.client._transport.secrets) from exc
        if line is None or line.custom_id in self.known or line.custom_id not in self.by_id:
            return None
        return line, self.by_id[line.custom_id]

    def keep(self, row: dict[str, Any]) -> None:
        """Remember one item's outcome (blocking: appends to the results log)."""
        self.job._log(row)
        self.known[row["custom_id"]] = row
        self.added += 1


# --------------------------------------------------------------------------- waiting


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


class Waiting:
    """One ``wait()``: after each refresh, show it, then stop or say how long to sleep.

    A context manager (closes the bar)::

        with Waiting(job, timeout, progress, poll_interval, max_interval) as waiting:
            while (pause := waiting.pause_after(job.refresh())) is not None:
                sleep(pause)
    """

    def __init__(
        self,
        job: JobCore,
        timeout: float | None,
        progress: bool,
        poll_interval: float,
        max_interval: float,
    ) -> None:
        self.poll = Poll(job.id, timeout, poll_interval, max_interval)
        self.bar = JobProgress(progress, job)

    def __enter__(self) -> Waiting:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.bar.__exit__(*exc_info)

    def pause_after(self, job: JobCore) -> float | None:
        """None when `job` (just refreshed) has finished, else the next pause.

        Raises
        ------
        APITimeoutError
            Once the timeout has been waited (the job keeps running).
        """
        self.bar.update(job)
        return None if job.done else self.poll.pause(job.status)
