"""Sweep results and their export: :class:`SweepResults` and :func:`load_sweep`.

``AsyncImageClient.map`` and ``.sweep`` return a :class:`SweepResults`: a ``list`` (one
:class:`~gptimage_widgets.results.ImageResult` or error per request, in input order, so code
written for a plain list keeps working) that also exports itself:

- :meth:`SweepResults.arrays`: the images as one ``(N, H, W, C)`` uint8 array when they all
  share a shape, else a list of ``(H, W, C)`` arrays;
- :attr:`SweepResults.params`: one dict per item (prompt, resolved parameters, cost, latency,
  request id, or the error);
- :meth:`SweepResults.to_records` / :meth:`SweepResults.to_csv`: one flat row per image
  (and one per failed item);
- :meth:`SweepResults.save` writes the images as PNG plus ``manifest.jsonl`` (one record per
  line), which :func:`load_sweep` reads back.

Rows: images of successful items in item order (an item with ``n`` images gives ``n`` rows);
with ``n=1`` and no failures, row ``i`` of :meth:`arrays` is item ``i``.

Core module: numpy, pillow (through ``imaging``) and the standard library.
"""

from __future__ import annotations

import csv
import json
import os
import pathlib
from collections.abc import Iterable
from typing import Any

import numpy as np

from . import imaging
from .errors import GPTImageError, ValidationError
from .history import _jsonable
from .redact import redact, redact_tree
from .results import ImageResult

__all__ = ["MANIFEST_NAME", "SweepResults", "load_sweep"]

MANIFEST_NAME = "manifest.jsonl"
#: Columns every record has, first in CSV files; request parameters follow.
_FIXED = (
    "item",
    "image",
    "file",
    "prompt",
    "model",
    "operation",
    "cost_usd",
    "latency_s",
    "request_id",
    "entry_id",
    "cached",
    "error",
)
#: Request parameters not repeated as columns (they are columns already).
_NOT_PARAMS = ("prompt", "model")


class SweepResults(list[Any]):
    """A list of results (``ImageResult`` or the error of a failed item) that exports itself.

    Items are in input order; see the module docstring for how rows map to items.
    """

    @classmethod
    def from_batch(cls, results: Any) -> SweepResults:
        """A Batch API job's results as a sweep (to export them the same way).

        Parameters
        ----------
        results : BatchResults or BatchJob
            ``job.results()`` (``ImageResult`` or None per item, ``.errors``: index ->
            error), or a sync job (its ``results()`` is read).

        Returns
        -------
        SweepResults
            Item ``i`` is the job's item ``i``: its result, or the error it failed with.
        """
        if callable(getattr(results, "results", None)):
            results = results.results()
        errors = getattr(results, "errors", {}) or {}
        return cls(
            item if item is not None else errors.get(i, GPTImageError(f"item {i} has no result"))
            for i, item in enumerate(results)
        )

    @property
    def ok(self) -> list[ImageResult]:
        """The successful items' results, in order."""
        return [item for item in self if isinstance(item, ImageResult)]

    @property
    def errors(self) -> list[tuple[int, BaseException]]:
        """``(item index, error)`` of every failed item."""
        return [(i, item) for i, item in enumerate(self) if isinstance(item, BaseException)]

    @property
    def params(self) -> list[dict[str, Any]]:
        """One dict per item: ``prompt``, the resolved request parameters, ``cost_usd``,
        ``latency_s``, ``request_id``, ``entry_id``, ``cached``, ``images`` (how many), and
        ``error`` (the message, for a failed item; otherwise None)."""
        return [_item_params(item) for item in self]

    def arrays(self) -> np.ndarray | list[np.ndarray]:
        """Every image of the successful items, in order.

        Returns
        -------
        np.ndarray or list of np.ndarray
            ``(N, H, W, C)`` uint8 (C = 3 or 4) when all images share one shape (an empty
            sweep gives ``(0, 0, 0, 3)``), else a list of ``(H, W, C)`` uint8 arrays.
        """
        images = [image for result in self.ok for image in result.images]
        if not images:
            return np.zeros((0, 0, 0, 3), dtype=np.uint8)
        if len({image.shape for image in images}) == 1:
            return np.stack(images)
        return images

    def to_records(self) -> list[dict[str, Any]]:
        """One flat dict per image (and per failed item), JSON-able.

        Keys: ``item``, ``image`` (index within the item, None for a failure), ``file``
        (set by :meth:`save`), ``prompt``, ``model``, ``operation``, ``cost_usd`` (the
        image's share of its request's cost), ``latency_s``, ``request_id``, ``entry_id``,
        ``cached``, ``error``, then the request's other parameters.
        """
        records = []
        for index, item in enumerate(self):
            base = _item_params(item)
            params = {k: v for k, v in base.pop("request").items() if k not in _NOT_PARAMS}
            count = base.pop("images")
            share = _share(base["cost_usd"], count)
            base.update(item=index, file=None, cost_usd=share)
            rows = range(count) if count else [None]
            for image in rows:
                record = {name: base.get(name) for name in _FIXED}
                record.update(image=image, **_jsonable(params))
                records.append(record)
        return records

    def to_csv(self, path: str | os.PathLike[str]) -> pathlib.Path:
        """Write :meth:`to_records` as CSV (lists and dicts as JSON text).

        Returns
        -------
        Path
            The file written.
        """
        target = pathlib.Path(path).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_csv(target, self.to_records())
        return target

    def save(self, folder: str | os.PathLike[str]) -> pathlib.Path:
        """Write each image as ``item-<item>-<image>.png`` and the records as ``manifest.jsonl``.

        Returns
        -------
        Path
            The manifest; :func:`load_sweep` reads the folder back.
        """
        target = pathlib.Path(folder).expanduser()
        target.mkdir(parents=True, exist_ok=True)
        records = self.to_records()
        for record in records:
            if record["image"] is None:
                continue
            result = self[record["item"]]
            name = f"item-{record['item']:05d}-{record['image']}.png"
            (target / name).write_bytes(imaging.encode_image(result.images[record["image"]]))
            record["file"] = name
        manifest = target / MANIFEST_NAME
        lines = (json.dumps(record, ensure_ascii=False, allow_nan=False) for record in records)
        manifest.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        return manifest


def load_sweep(folder: str | os.PathLike[str]) -> SweepResults:
    """Read a folder written by :meth:`SweepResults.save` back.

    Parameters
    ----------
    folder : str or Path
        Holds ``manifest.jsonl`` and the image files it names.

    Returns
    -------
    SweepResults
        One :class:`ImageResult` per saved item (``request`` holds its parameters, images
        ``(H, W, C)`` uint8, pixel-exact), or a :class:`GPTImageError` carrying a failed
        item's message.

    Raises
    ------
    ValidationError
        When the folder has no readable manifest.
    """
    root = pathlib.Path(folder).expanduser()
    records = _read_manifest(root / MANIFEST_NAME)
    items: dict[int, list[dict[str, Any]]] = {}
    for record in records:
        items.setdefault(int(record["item"]), []).append(record)
    return SweepResults(_item_from_records(root, rows) for _, rows in sorted(items.items()))


# ---------------------------------------------------------------------- helpers


def _item_params(item: Any) -> dict[str, Any]:
    if isinstance(item, ImageResult):
        request = redact_tree(dict(item.request))
        latency = item.timings.get("total_s")
        return {
            "prompt": request.get("prompt"),
            "model": item.model,
            "operation": item.operation,
            "request": request,
            "cost_usd": item.cost_usd,
            "latency_s": latency,
            "request_id": item.request_id,
            "entry_id": item.entry_id,
            "cached": item.cached,
            "images": len(item.images),
            "error": None,
        }
    return {
        "prompt": None,
        "model": None,
        "operation": None,
        "request": {},
        "cost_usd": None,
        "latency_s": None,
        "request_id": getattr(item, "request_id", None),
        "entry_id": None,
        "cached": False,
        "images": 0,
        "error": redact(f"{type(item).__name__}: {item}"),
    }


def _share(cost: Any, count: int) -> float | None:
    if not isinstance(cost, (int, float)):
        return None
    return float(cost) / count if count else float(cost)


def _write_csv(target: pathlib.Path, records: Iterable[dict[str, Any]]) -> None:
    rows = list(records)
    columns = list(dict.fromkeys(name for row in rows for name in row)) or list(_FIXED)
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({name: _cell(row.get(name)) for name in columns})


def _cell(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else value


def _read_manifest(path: pathlib.Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines if line.strip()]
        if not all(isinstance(r, dict) and "item" in r for r in records):
            raise ValueError("every line must be a JSON object with an 'item'")
    except (OSError, ValueError) as exc:
        raise ValidationError(
            f"{path} is not a sweep manifest ({exc}); point load_sweep at a folder written "
            "by SweepResults.save",
            param="folder",
            value=str(path.parent),
        ) from None
    return records


def _item_from_records(root: pathlib.Path, rows: list[dict[str, Any]]) -> Any:
    first = rows[0]
    if first.get("error"):
        return GPTImageError(str(first["error"]))
    rows = sorted((r for r in rows if r.get("image") is not None), key=lambda r: int(r["image"]))
    images = [imaging.decode_image((root / str(row["file"])).read_bytes()) for row in rows]
    params = {k: v for k, v in first.items() if k not in _FIXED}
    request = {"prompt": first.get("prompt"), "model": first.get("model"), **params}
    costs = [row.get("cost_usd") for row in rows]
    known = [float(c) for c in costs if isinstance(c, (int, float))]
    cost = sum(known) if len(known) == len(costs) else None
    latency = first.get("latency_s")
    return ImageResult(
        images=images,
        model=str(first.get("model") or ""),
        operation=str(first.get("operation") or "generate"),
        request=request,
        cost_usd=cost,
        request_id=first.get("request_id"),
        timings={"total_s": float(latency)} if isinstance(latency, (int, float)) else {},
        paths=[root / str(row["file"]) for row in rows],
        entry_id=first.get("entry_id"),
        cached=bool(first.get("cached")),
    )
