"""Which jobs there are: the history's records merged with what the server lists.

Owns the decisions of ``client.list_batches()`` and ``client.get_batch(id)`` that need no
sending, shared by the sync (:mod:`gptimage_widgets.batch`) and async
(:mod:`gptimage_widgets.batch_async`) clients:

- :class:`Pages` walks OpenAI's cursor pages of ``GET /batches`` (``limit``, ``after``,
  ``has_more``), keeping the image batches;
- :func:`job_store` / :func:`local_record`: where the client's jobs are remembered, and the
  record of an id if the history has it;
- :func:`needs_listing` / :func:`record_from_listing`: resuming from the server (a job of
  several batches is found by listing, grouped by its ``gptimage_job`` metadata through
  :func:`gptimage_widgets.batch_store.merge_listing`);
- :func:`merged_jobs`: the store's records merged with a listing, new or changed ones saved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .batch_store import JobRecord, JobStore, job_id_of, merge_listing
from .catalog import batch_limits
from .errors import ValidationError

if TYPE_CHECKING:
    from .client_base import ClientBase

__all__ = [
    "LIST_LIMIT",
    "Pages",
    "job_store",
    "local_record",
    "merged_jobs",
    "needs_listing",
    "not_found",
    "record_from_listing",
]

#: Most server batches ``list_batches`` reads by default (newest first).
LIST_LIMIT = 100
#: Most batches asked for in one page (OpenAI's maximum).
_PAGE = 100


class Pages:
    """Walks OpenAI's cursor pages of ``GET /batches`` (``limit``, ``after``, ``has_more``),
    keeping the image batches (the catalog's batch endpoints).

    Attributes
    ----------
    more : bool
        Whether another page is to be asked for (:meth:`query`).
    batches : list of dict
        The image batches read so far, newest first.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.read = 0
        self.after: str | None = None
        self.more = limit > 0
        self.batches: list[dict[str, Any]] = []

    def query(self) -> dict[str, Any]:
        """The query of the next page (``limit``, and ``after`` the last batch read)."""
        limit = max(1, min(_PAGE, self.limit - self.read))
        return {"limit": limit, **({"after": self.after} if self.after else {})}

    def add(self, page: Mapping[str, Any]) -> None:
        """Take one page's answer (a list object with ``data``, ``has_more``, ``last_id``)."""
        data = page.get("data")
        data = [b for b in data if isinstance(b, dict)] if isinstance(data, list) else []
        endpoints = batch_limits().endpoints
        self.batches += [b for b in data if b.get("endpoint") in endpoints]
        self.read += len(data)
        last = page.get("last_id") or (data[-1].get("id") if data else None)
        self.more = bool(page.get("has_more")) and bool(data) and self.read < self.limit
        self.after = str(last) if last else None


def job_store(client: ClientBase[Any]) -> JobStore | None:
    """The client's job store (None with ``history=False``)."""
    history = client.history
    if history is None or not history.enabled or history.folder is None:
        return None
    return JobStore(history.folder)


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
    """The error of an id neither the history nor the server knows."""
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
