"""Where a batch job is remembered, so any later process can resume it (core: stdlib only).

Layout, inside the history folder (:mod:`gptimage_widgets.history`)::

    folder/batches/
        <job_id>.json            # JobRecord: the batches, and each item's model, params, estimate
                                 # (job_id: batchjob_... or, for a batch found on the server
                                 # that this kit did not submit here, its batch_... id)
        <job_id>.results.jsonl   # one line per item read from an output/error file:
                                 # {"custom_id", "entry_id"} or {"custom_id", "error": {...}}

The record is written atomically (``history._atomic_write``: temp file, fsync,
``os.replace``); the results log is append-only and flushed line by line, so a fetch cut
off half-way keeps what it read and a finished batch is never downloaded into the history
twice (a torn last line is ignored).
Both are 0600 in a 0700 folder, like the rest of the history.
Nothing secret is written: params pass through :func:`gptimage_widgets.redact.redact_tree`.

:func:`merge_listing` merges what the server lists (``GET /v1/batches``) with the records:
a batch of a known job refreshes it; other image batches become records of their own,
grouped by the ``gptimage_job`` metadata the kit gives every batch (a job submitted from
another machine), else one record per batch.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import pathlib
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import ValidationError
from .history import BATCHES_FOLDER, _atomic_write, owned_by_history
from .private_files import make_private_dirs, make_private_once, private_append
from .redact import redact_tree

__all__ = ["JOB_METADATA", "JobRecord", "JobStore", "job_id_of", "merge_listing", "new_job_id"]

FOLDER = BATCHES_FOLDER
#: The metadata key naming the kit's job on each of its batches.
JOB_METADATA = "gptimage_job"
_KIT_JOB_ID = re.compile(r"^batchjob_\d{8}_\d{6}_[0-9a-f]{8}$")
_JOB_ID = re.compile(r"^(batchjob_\d{8}_\d{6}_[0-9a-f]{8}|batch_[A-Za-z0-9_-]{1,128})$")


def new_job_id(when: dt.datetime | None = None) -> str:
    """``batchjob_YYYYMMDD_HHMMSS_<8 hex>`` (UTC; unique across processes)."""
    when = (when or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    return f"batchjob_{when:%Y%m%d_%H%M%S}_{secrets.token_hex(4)}"


@dataclass
class JobRecord:
    """What a job needs to be resumed.

    Attributes
    ----------
    job_id : str
    created : str
        ISO time of submission.
    base_url : str
        The API root the batches live on.
    batches : list of dict
        The last known batch objects (``id``, ``endpoint``, ``status``, ``request_counts``,
        ``input_file_id``, ``output_file_id``, ``error_file_id``...).
    items : list of dict
        Per item, in input order: ``custom_id``, ``operation``, ``model``, ``params``
        (effective, no pixels), ``notes`` and ``estimate`` (``[usd, low, high]`` at batch
        price, or None).
    """

    job_id: str
    created: str
    base_url: str
    batches: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> bytes:
        return json.dumps(redact_tree(asdict(self)), indent=1, default=str).encode("utf-8")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobRecord:
        return cls(
            job_id=str(data["job_id"]),
            created=str(data.get("created", "")),
            base_url=str(data.get("base_url", "")),
            batches=list(data.get("batches") or []),
            items=list(data.get("items") or []),
        )


class JobStore:
    """The ``batches/`` folder of a history folder.

    Parameters
    ----------
    folder : str or Path
        The history folder (the store writes below ``folder/batches``).
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = pathlib.Path(folder).expanduser() / FOLDER

    def __repr__(self) -> str:
        return f"JobStore({str(self.folder)!r})"

    def _make_folder(self) -> None:
        """``folder/batches``, private like the rest of the history (0700)."""
        make_private_once(self.folder.parent, owned_by_history)
        make_private_dirs(self.folder, self.folder.parent)

    def _path(self, job_id: str, suffix: str = ".json") -> pathlib.Path:
        if not isinstance(job_id, str) or not _JOB_ID.match(job_id):
            raise ValidationError(
                f"{job_id!r} is not a batch job id; ids look like "
                "'batchjob_20261206_061500_1a2b3c4d' (see client.list_batches())",
                param="id",
                value=job_id,
            )
        return self.folder / f"{job_id}{suffix}"

    def save(self, record: JobRecord) -> None:
        """Write the record atomically (the history's temp file + fsync + ``os.replace``)."""
        path = self._path(record.job_id)
        self._make_folder()
        _atomic_write(path, record.to_json())

    def load(self, job_id: str) -> JobRecord:
        """The record of `job_id`; ValidationError when this history has none."""
        path = self._path(job_id)
        try:
            return JobRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise ValidationError(
                f"no batch job {job_id!r} in {self.folder}; pass the client the history "
                "folder the job was submitted with (history=...)",
                param="id",
                value=job_id,
            ) from None

    def find_batch(self, batch_id: str) -> str | None:
        """The job holding the batch `batch_id` (an OpenAI ``batch_...`` id), if any."""
        for record in self.records():
            if any(batch.get("id") == batch_id for batch in record.batches):
                return record.job_id
        return None

    def records(self) -> Iterator[JobRecord]:
        """Every job of this history, newest first."""
        if not self.folder.is_dir():
            return
        found = []
        for pattern in ("batchjob_*.json", "batch_*.json"):
            for path in self.folder.glob(pattern):
                with contextlib.suppress(OSError, ValueError, KeyError):
                    found.append(JobRecord.from_json(json.loads(path.read_text(encoding="utf-8"))))
        yield from sorted(found, key=_newest_first, reverse=True)

    def find(self, job_id: str) -> JobRecord | None:
        """The record of a ``batchjob_...`` id or of the job holding a ``batch_...`` id."""
        if isinstance(job_id, str) and job_id.startswith("batch_"):
            job_id = self.find_batch(job_id) or job_id
        try:
            return self.load(job_id)
        except ValidationError:
            if not self._path(job_id).exists():
                return None
            raise

    # ------------------------------------------------------------------ results log

    def read_results(self, job_id: str) -> dict[str, dict[str, Any]]:
        """custom_id -> ``{"entry_id": ...}`` or ``{"error": {...}}`` of the items read so far."""
        path = self._path(job_id, ".results.jsonl")
        found: dict[str, dict[str, Any]] = {}
        if not path.exists():
            return found
        with path.open("r", encoding="utf-8") as handle:
            for text in handle:
                try:
                    row = json.loads(text)
                except ValueError:
                    continue  # a torn last line: that item is read again
                if isinstance(row, dict) and isinstance(row.get("custom_id"), str):
                    found[row["custom_id"]] = row
        return found

    def append_result(self, job_id: str, row: Mapping[str, Any]) -> None:
        """Append one item's outcome and flush it to disk."""
        path = self._path(job_id, ".results.jsonl")
        self._make_folder()
        with os.fdopen(private_append(path), "a", encoding="utf-8") as handle:
            handle.write(json.dumps(redact_tree(dict(row)), default=str) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


# --------------------------------------------------------------------------- server listing


def _newest_first(record: JobRecord) -> tuple[dt.datetime, str]:
    """Sort key of a record by its creation time (unreadable: oldest)."""
    try:
        when = dt.datetime.fromisoformat(record.created)
    except ValueError:
        when = dt.datetime.min
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when, record.job_id


def _created_iso(batch: Mapping[str, Any]) -> str:
    created = batch.get("created_at")
    if isinstance(created, (int, float)):
        return dt.datetime.fromtimestamp(created, dt.timezone.utc).isoformat()
    return ""


def job_id_of(batch: Mapping[str, Any]) -> str:
    """The job a listed batch belongs to: its ``gptimage_job`` metadata, else its own id."""
    metadata = batch.get("metadata")
    named = metadata.get(JOB_METADATA) if isinstance(metadata, Mapping) else None
    if isinstance(named, str) and _KIT_JOB_ID.match(named):
        return named
    return str(batch.get("id"))


def merge_listing(
    records: Iterable[JobRecord], listed: Iterable[Mapping[str, Any]], base_url: str
) -> tuple[list[JobRecord], list[JobRecord]]:
    """Merge the batches a server lists with the records a history knows.

    Parameters
    ----------
    records : iterable of JobRecord
        The store's records (any API root).
    listed : iterable of dict
        Batch objects from ``GET /v1/batches`` on `base_url` (image endpoints only), newest
        first as the server lists them.
    base_url : str
        The API root that listed them.

    Returns
    -------
    jobs : list of JobRecord
        Every job, newest first: the records (their batches refreshed from the listing) and
        new records for listed batches no record holds (grouped by job, ``items`` empty:
        read from the input file when results are asked for).
    changed : list of JobRecord
        The records that are new or were refreshed (to save).
    """
    jobs = {record.job_id: record for record in records}
    owner = {
        str(batch.get("id")): record
        for record in jobs.values()
        if record.base_url == base_url
        for batch in record.batches
    }
    changed: dict[str, JobRecord] = {}
    for fresh in reversed(list(listed)):  # oldest first: a job's batches in submission order
        batch_id = str(fresh.get("id"))
        record = owner.get(batch_id)
        if record is not None:
            position = next(i for i, b in enumerate(record.batches) if b.get("id") == batch_id)
            old = record.batches[position]
            if any(old.get(k) != v for k, v in fresh.items()):
                record.batches[position] = {**old, **fresh}
                changed[record.job_id] = record
            continue
        job_id = job_id_of(fresh)
        record = jobs.get(job_id)
        if record is None:
            record = jobs[job_id] = JobRecord(
                job_id=job_id, created=_created_iso(fresh), base_url=base_url
            )
        counts = fresh.get("request_counts") or {}
        record.batches.append({**fresh, "lines": counts.get("total")})
        record.batches.sort(key=lambda b: b.get("created_at") or 0)
        owner[batch_id] = changed[job_id] = record
    ordered = sorted(jobs.values(), key=_newest_first, reverse=True)
    return ordered, list(changed.values())
