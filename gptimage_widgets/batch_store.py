"""Where a batch job is remembered, so any later process can resume it (core: stdlib only).

Layout, inside the history folder (:mod:`gptimage_widgets.history`)::

    folder/batches/
        <job_id>.json            # JobRecord: the batches, and each item's model, params, estimate
        <job_id>.results.jsonl   # one line per item read from an output/error file:
                                 # {"custom_id", "entry_id"} or {"custom_id", "error": {...}}

The record is written atomically (``history._atomic_write``: temp file, fsync,
``os.replace``); the results log is append-only and flushed line by line, so a fetch cut
off half-way keeps what it read and a finished batch is never downloaded into the history
twice (a torn last line is ignored).
Both are 0600 in a 0700 folder, like the rest of the history.
Nothing secret is written: params pass through :func:`gptimage_widgets.redact.redact_tree`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import pathlib
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import ValidationError
from .history import BATCHES_FOLDER, _atomic_write, owned_by_history
from .private_files import make_private_dirs, make_private_once, private_append
from .redact import redact_tree

__all__ = ["JobRecord", "JobStore", "new_job_id"]

FOLDER = BATCHES_FOLDER
_JOB_ID = re.compile(r"^batchjob_\d{8}_\d{6}_[0-9a-f]{8}$")


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
        for path in sorted(self.folder.glob("batchjob_*.json"), reverse=True):
            with contextlib.suppress(OSError, ValueError, KeyError):
                yield JobRecord.from_json(json.loads(path.read_text(encoding="utf-8")))

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
