"""The history store: every paid image on disk, with its metadata and a rebuildable index.

Layout::

    folder/
        index.sqlite                      # an index only; rebuild_index() recreates it
        YYYY-MM-DD/                       # local date of the save
            <entry_id>/
                image-0.png, image-1.png, ...
                meta.json                 # written LAST: its presence marks a complete entry

Files are the source of truth. Every file is written atomically (temp file in the same folder,
fsync, ``os.replace``), images first and ``meta.json`` last, so a crash leaves either a complete
entry or a folder without ``meta.json`` that every reader ignores. The SQLite index
(:mod:`gptimage_widgets.history_index`) uses WAL and a busy timeout and opens one connection
per call, so several threads and several processes can save into one folder at once.

The folder is private to its user (POSIX): folders 0700, files 0600, the index and its
WAL/SHM files included; a history made before that rule (or by another tool) is tightened
the first time a process uses it, with one warning (:mod:`gptimage_widgets.private_files`).

Nothing secret is written: every ``meta.json`` passes through
:func:`gptimage_widgets.redact.redact_tree` (parameters named like ``api_key``/``authorization``
are dropped, strings that look like an API key are removed or redacted).

This module is core: it imports only numpy, pillow (through ``imaging``) and the standard library.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import pathlib
import re
import secrets
import sqlite3
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import imaging
from .errors import GPTImageError, ValidationError
from .history_index import (
    cached_entry_query,
    index_row,
    insert,
    move_aside,
    open_index,
    search_query,
)
from .private_files import make_private_dirs, make_private_once
from .redact import redact_tree
from .results import ImageResult

__all__ = ["DEFAULT_FOLDER", "HistoryEntry", "HistoryStore", "owned_by_history", "scrub_secrets"]

DEFAULT_FOLDER = "./gptimage-outputs"
INDEX_NAME = "index.sqlite"
#: Where :mod:`gptimage_widgets.batch_store` keeps batch jobs, inside the history folder.
BATCHES_FOLDER = "batches"
META_NAME = "meta.json"
META_VERSION = 1

_PNG_COMPRESS_LEVEL = 1  # fast: history is written before the result is shown
_ENTRY_ID = re.compile(r"^\d{8}-\d{6}-\d{6}-[0-9a-f]{8}$")
_DAY_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class HistoryEntry:
    """One saved request, as found by :meth:`HistoryStore.search`.

    Attributes
    ----------
    entry_id : str
        Sortable by time, unique across processes (``YYYYMMDD-HHMMSS-ffffff-<random hex>``, UTC).
    created : datetime.datetime
        When it was saved, timezone-aware, in local time.
    model, operation, prompt : str
    paths : tuple of Path
        The image files, in order.
    cost_usd : float or None
    request_id : str or None
    """

    entry_id: str
    created: dt.datetime
    model: str
    operation: str
    prompt: str
    paths: tuple[pathlib.Path, ...]
    cost_usd: float | None
    request_id: str | None


class HistoryStore:
    """Saves results to a folder of PNGs + ``meta.json`` files with a SQLite index.

    Parameters
    ----------
    folder : str or Path or None
        Created lazily on the first save. ``None`` disables the store.
    enabled : bool
        ``False``: :meth:`save` writes nothing and returns ``[]``.
    """

    def __init__(
        self, folder: str | os.PathLike[str] | None = DEFAULT_FOLDER, *, enabled: bool = True
    ) -> None:
        self.folder: pathlib.Path | None = (
            None if folder is None else pathlib.Path(folder).expanduser()
        )
        self._enabled = bool(enabled)

    @property
    def enabled(self) -> bool:
        """True when saves are written (enabled and a folder is set)."""
        return self._enabled and self.folder is not None

    @property
    def index_path(self) -> pathlib.Path | None:
        return None if self.folder is None else self.folder / INDEX_NAME

    def __repr__(self) -> str:
        state = "" if self.enabled else ", enabled=False"
        return f"HistoryStore({str(self.folder) if self.folder else None!r}{state})"

    # ------------------------------------------------------------------ save

    def save(self, result: ImageResult) -> list[pathlib.Path]:
        """Write every image and ``meta.json`` atomically, then index the entry.

        Sets ``result.paths`` and ``result.entry_id``.

        Returns
        -------
        list of Path
            The image files, in order; ``[]`` when the store is disabled.
        """
        if not self.enabled or self.folder is None:
            return []
        saved_at = dt.datetime.now(dt.timezone.utc)
        entry_id = new_entry_id(saved_at)
        entry_dir = self.folder / saved_at.astimezone().strftime("%Y-%m-%d") / entry_id
        make_private_once(self.folder, owned_by_history)
        make_private_dirs(entry_dir, self.folder, exist_ok=False)
        names = [f"image-{i}.png" for i in range(len(result.images))]
        for image, name in zip(result.images, names, strict=True):
            data = imaging.encode_image(image, "png", compress_level=_PNG_COMPRESS_LEVEL)
            _atomic_write(entry_dir / name, data)
        meta = build_meta(result, entry_id=entry_id, saved_at=saved_at, files=names)
        _atomic_write(entry_dir / META_NAME, _dump_json(meta), sync_dir=True)
        paths = [entry_dir / name for name in names]
        result.paths, result.entry_id = paths, entry_id
        self._index_entry(meta, entry_dir)
        return paths

    def _index_entry(self, meta: Mapping[str, Any], entry_dir: pathlib.Path) -> None:
        """Insert one entry; the files are already safe, so failure here only warns."""
        try:
            with self._connect() as conn:
                insert(conn, index_row(meta, self._relative(entry_dir)))
        except sqlite3.Error as exc:
            warnings.warn(
                f"history entry {meta['entry_id']} was saved to {entry_dir} but could not be "
                f"indexed ({exc}); HistoryStore.rebuild_index() will pick it up",
                RuntimeWarning,
                stacklevel=3,
            )

    # ------------------------------------------------------------------ index

    def rebuild_index(self) -> int:
        """Recreate the index from the ``meta.json`` files.

        Entries without ``meta.json`` (half-written) are ignored; unreadable ``meta.json``
        files are skipped with a warning.

        Returns
        -------
        int
            The number of entries indexed.
        """
        if self.folder is None or not self.folder.is_dir():
            return 0
        with self._connect(rebuild_if_new=False) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM entries")
                count = 0
                for meta, entry_dir in self._scan_entries():
                    insert(conn, index_row(meta, self._relative(entry_dir)))
                    count += 1
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return count

    def _scan_entries(self) -> Iterator[tuple[dict[str, Any], pathlib.Path]]:
        """Every complete entry on disk as ``(meta, entry_dir)``, oldest first."""
        assert self.folder is not None
        for meta_path in sorted(self.folder.glob(f"*/*/{META_NAME}")):
            if not _DAY_DIR.match(meta_path.parent.parent.name):
                continue
            meta = _read_meta(meta_path)
            if meta is not None:
                yield meta, meta_path.parent

    @contextlib.contextmanager
    def _connect(self, *, rebuild_if_new: bool = True) -> Iterator[sqlite3.Connection]:
        """A fresh connection (WAL, busy timeout), closed on exit.

        A missing index is created and, if entries already exist on disk, rebuilt first.
        """
        assert self.folder is not None and self.index_path is not None
        make_private_once(self.folder, owned_by_history)
        make_private_dirs(self.folder, self.folder)
        is_new = not self.index_path.exists()
        try:
            conn = open_index(self.index_path)
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as exc:  # not a database: the files still are the truth
            move_aside(self.index_path, exc)
            is_new = True
            conn = open_index(self.index_path)
        try:
            if is_new and rebuild_if_new and any(self.folder.glob(f"*/*/{META_NAME}")):
                conn.close()
                self.rebuild_index()
                conn = open_index(self.index_path)
            yield conn
        finally:
            conn.close()

    def _relative(self, entry_dir: pathlib.Path) -> str:
        assert self.folder is not None
        return entry_dir.relative_to(self.folder).as_posix()

    # ------------------------------------------------------------------ queries

    def search(
        self,
        text: str | None = None,
        *,
        model: str | None = None,
        since: dt.date | dt.datetime | str | None = None,
        until: dt.date | dt.datetime | str | None = None,
        limit: int | None = 100,
    ) -> list[HistoryEntry]:
        """Find saved entries, newest first.

        Parameters
        ----------
        text : str, optional
            Must occur in the prompt (case-insensitive).
        model : str, optional
            Exact model name.
        since, until : date, datetime or ISO string, optional
            Inclusive bounds on the save time. A date (or date-only string) for ``until``
            includes that whole day. Naive datetimes are local time.
        limit : int or None
            At most this many entries (None: all).
        """
        if not self._has_index_or_entries():
            return []
        sql, args = search_query(text, model, since, until, limit)
        with self._connect() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [self._entry_from_row(row) for row in rows]

    def __len__(self) -> int:
        if not self._has_index_or_entries():
            return 0
        with self._connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    def __iter__(self) -> Iterator[HistoryEntry]:
        return iter(self.search(limit=None))

    def _has_index_or_entries(self) -> bool:
        return self.folder is not None and self.folder.is_dir()

    def _entry_from_row(self, row: sqlite3.Row) -> HistoryEntry:
        assert self.folder is not None
        entry_dir = self.folder / row["entry_dir"]
        return HistoryEntry(
            entry_id=row["entry_id"],
            created=dt.datetime.fromtimestamp(row["created"], dt.timezone.utc).astimezone(),
            model=row["model"],
            operation=row["operation"],
            prompt=row["prompt"],
            paths=tuple(entry_dir / name for name in json.loads(row["files"])),
            cost_usd=row["cost_usd"],
            request_id=row["request_id"],
        )

    def load(self, entry_id: str | HistoryEntry) -> ImageResult:
        """Read an entry back as an :class:`ImageResult` (pixel-exact, with its metadata).

        Raises
        ------
        ValidationError
            When no complete entry with that id exists in this store.
        """
        if isinstance(entry_id, HistoryEntry):
            entry_id = entry_id.entry_id
        entry_dir = self._find_entry_dir(entry_id)
        meta = _read_meta(entry_dir / META_NAME, warn=False)
        if meta is None:
            raise ValidationError(
                f"history entry {entry_id!r} in {entry_dir} has an unreadable meta.json; "
                "the image files are still there",
                param="entry_id",
                value=entry_id,
            )
        return result_from_meta(meta, entry_dir)

    def find_cached(self, key: str) -> ImageResult | None:
        """The newest complete entry saved with cache key `key`, loaded; None when none.

        An indexed entry whose files are gone or unreadable is skipped (the next older one
        is tried). See :mod:`gptimage_widgets.request_cache` for what the key covers.
        """
        if not self._has_index_or_entries():
            return None
        sql, args = cached_entry_query(key)
        with self._connect() as conn:
            rows = conn.execute(sql, args).fetchall()
        for row in rows:
            assert self.folder is not None
            entry_dir = self.folder / row["entry_dir"]
            meta = _read_meta(entry_dir / META_NAME, warn=False)
            if meta is None or meta.get("cache_sha256") != key:
                continue
            try:
                return result_from_meta(meta, entry_dir)
            except (OSError, ValueError, GPTImageError):
                continue
        return None

    def _find_entry_dir(self, entry_id: str) -> pathlib.Path:
        if not isinstance(entry_id, str) or not _ENTRY_ID.match(entry_id):
            raise ValidationError(
                f"{entry_id!r} is not a history entry id; ids look like "
                "'20261122-230712-123456-1a2b3c4d' (see HistoryStore.search())",
                param="entry_id",
                value=entry_id,
            )
        if self.folder is not None:
            for candidate in sorted(self.folder.glob(f"*/{entry_id}/{META_NAME}")):
                return candidate.parent
        raise ValidationError(
            f"no complete history entry {entry_id!r} in {self.folder}; "
            "use HistoryStore.search() to list the saved entries",
            param="entry_id",
            value=entry_id,
        )


# ---------------------------------------------------------------------- entry ids and metadata


def owned_by_history(name: str) -> bool:
    """Whether an entry of a history folder is the history's own (index, days, batches)."""
    return name.startswith(INDEX_NAME) or name == BATCHES_FOLDER or bool(_DAY_DIR.match(name))


def new_entry_id(when: dt.datetime | None = None) -> str:
    """A new entry id: UTC time to the microsecond plus 32 random bits.

    Sorts by time as a string; unique across threads and processes.
    """
    when = (when or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    return f"{when:%Y%m%d-%H%M%S-%f}-{secrets.token_hex(4)}"


def build_meta(
    result: ImageResult, *, entry_id: str, saved_at: dt.datetime, files: list[str]
) -> dict[str, Any]:
    """The JSON-able ``meta.json`` content of one entry, with secrets removed."""
    params = scrub_secrets(result.request)
    prompt = params.get("prompt") if isinstance(params, dict) else None
    meta = {
        "version": META_VERSION,
        "entry_id": entry_id,
        "created": saved_at.isoformat(),
        "created_ts": saved_at.timestamp(),
        "response_created": result.created,
        "model": result.model,
        "operation": result.operation,
        "prompt": prompt if isinstance(prompt, str) else "",
        "params": params,
        "usage": result.usage,
        "cost_usd": result.cost_usd,
        "cost_is_estimate": result.cost_is_estimate,
        "request_id": result.request_id,
        "timings": result.timings,
        "revised_prompts": result.revised_prompts,
        "notes": result.notes,
        "cache_sha256": result.cache_key,  # not "cache_key": redact drops *_key names
        "images": [
            {
                "file": name,
                "width": int(im.shape[1]),
                "height": int(im.shape[0]),
                "channels": int(im.shape[2]),
            }
            for name, im in zip(files, result.images, strict=True)
        ],
    }
    return scrub_secrets(_jsonable(meta))


def result_from_meta(meta: Mapping[str, Any], entry_dir: pathlib.Path) -> ImageResult:
    """Rebuild an :class:`ImageResult` from a ``meta.json`` mapping and its image files."""
    files = [str(item["file"]) for item in meta.get("images", [])]
    paths = [entry_dir / name for name in files]
    images = [imaging.decode_image(path.read_bytes()) for path in paths]
    return ImageResult(
        images=images,
        model=str(meta.get("model", "")),
        operation=str(meta.get("operation", "generate")),
        request=dict(meta.get("params") or {}),
        usage=meta.get("usage"),
        cost_usd=meta.get("cost_usd"),
        cost_is_estimate=bool(meta.get("cost_is_estimate", False)),
        revised_prompts=list(meta.get("revised_prompts") or []),
        request_id=meta.get("request_id"),
        created=meta.get("response_created"),
        timings=dict(meta.get("timings") or {}),
        paths=paths,
        entry_id=str(meta.get("entry_id")),
        notes=list(meta.get("notes") or []),
        cache_key=meta.get("cache_sha256") if isinstance(meta.get("cache_sha256"), str) else None,
    )


def scrub_secrets(value: Any) -> Any:
    """A copy of ``value`` without secrets: :func:`gptimage_widgets.redact.redact_tree`.

    Mapping keys named like a credential (``api_key``, ``authorization``...) are dropped, and
    so are mapping values that are an API key; in lists such values and key-like substrings
    of longer strings become ``[redacted]``.
    """
    return redact_tree(value)


def _jsonable(value: Any) -> Any:
    """JSON-able copy: arrays/bytes described, paths as str, NaN and inf as None."""
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return f"<array shape={value.shape} dtype={value.dtype}>"
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return f"<{type(value).__name__}>"


def _dump_json(meta: Mapping[str, Any]) -> bytes:
    return json.dumps(meta, indent=2, ensure_ascii=False, allow_nan=False).encode("utf-8")


def _read_meta(path: pathlib.Path, *, warn: bool = True) -> dict[str, Any] | None:
    """The parsed ``meta.json``, or None (with a warning) when it is unreadable."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or not isinstance(meta.get("images"), list):
            raise ValueError("not a meta.json object with an 'images' list")
        meta.setdefault("entry_id", path.parent.name)
        float(meta["created_ts"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        if warn:
            warnings.warn(
                f"skipping history entry {path.parent}: unreadable {META_NAME} ({exc})",
                RuntimeWarning,
                stacklevel=2,
            )
        return None
    return meta


# ---------------------------------------------------------------------- files


def _atomic_write(path: pathlib.Path, data: bytes, *, sync_dir: bool = False) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder, fsync and os.replace."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if sync_dir:
        _fsync_dir(path.parent)


def _fsync_dir(folder: pathlib.Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
