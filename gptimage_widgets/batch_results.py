"""A job's output lines -> results and typed errors, and the results exported like a sweep.

Owns, without sending anything (shared by the sync and async job):

- :class:`BatchResults`: ``ImageResult`` or None per item, in input order, with
  ``.errors`` (index -> typed error); exports through
  :meth:`gptimage_widgets.sweeps.SweepResults.from_batch`;
- a successful output line -> its images response (:func:`payload_of`) -> an
  :class:`~gptimage_widgets.results.ImageResult` (:func:`image_result`), priced at the Batch
  API's price (:func:`item_cost`);
- a failed line -> its results-log row (:func:`error_row`), and a logged row -> the typed
  error of the item (:func:`item_error`, through :func:`gptimage_widgets.http_errors.translate`).
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
from collections.abc import Mapping
from typing import Any

import httpx
import numpy as np

from . import pricing
from .batch_lines import OutputLine
from .catalog import batch_limits
from .errors import GPTImageError
from .http_errors import DECODE_PROBLEMS, Secrets, translate
from .responses import Payload, decode_items
from .results import ImageResult
from .sweeps import SweepResults

__all__ = ["BatchResults", "error_row", "image_result", "item_cost", "item_error", "payload_of"]


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


def payload_of(line: OutputLine) -> Payload:
    """The images response of a successful line (no ``data``: a typed decode error)."""
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


def item_cost(
    item: Mapping[str, Any], usage: Mapping[str, Any] | None, *, offline: bool
) -> tuple[float | None, bool]:
    """``(cost_usd, is_estimate)`` of one item: its usage at the Batch API's price, else
    its stored estimate; 0 offline."""
    if offline:
        return 0.0, False
    if usage:
        with contextlib.suppress(GPTImageError):
            actual = pricing.cost_from_usage(str(item["model"]), usage)
            if actual is not None:
                return actual * batch_limits().price_factor, False
    estimate = item.get("estimate")
    return (float(estimate[0]) if estimate else None), True


def image_result(
    line: OutputLine,
    payload: Payload,
    downloads: Mapping[int, bytes | bytearray],
    item: Mapping[str, Any],
    cost: tuple[float | None, bool],
    note: str,
) -> ImageResult:
    """Decode a successful line into the item's result (blocking: image decoding).

    Parameters
    ----------
    downloads : mapping of int to bytes
        Image index -> content of the images that came as URLs (``payload.urls()``).
    item : mapping
        The job record's item (``model``, ``operation``, ``params``, ``notes``).
    cost : tuple
        ``(cost_usd, is_estimate)`` (:func:`item_cost`).
    note : str
        Added to the item's notes (which job, which batch, which ``custom_id``).
    """
    decoded = decode_items(payload, downloads)
    return ImageResult(
        images=decoded.images,
        model=str(item["model"]),
        operation=str(item["operation"]),
        request=dict(item.get("params") or {}),
        usage=payload.usage,
        cost_usd=cost[0],
        cost_is_estimate=cost[1],
        revised_prompts=decoded.revised,
        request_id=line.request_id,
        created=payload.created,
        timings={},
        notes=[*item.get("notes", []), note],
    )


def error_row(line: OutputLine) -> dict[str, Any]:
    """The results-log row of a failed line (status, body, request id, error)."""
    return {
        "custom_id": line.custom_id,
        "error": {
            "status_code": line.status_code,
            "body": line.body,
            "request_id": line.request_id,
            "error": line.error,
        },
    }


def item_error(
    index: int,
    item: Mapping[str, Any],
    row: Mapping[str, Any] | None,
    status: str,
    secrets: Secrets = (),
) -> GPTImageError:
    """Why item `index` has no result: its logged error row as a typed error (a 400 body
    -> the same error a direct call raises), or "the job ended `status` before it ran"."""
    if row is None or "error" not in row:
        return GPTImageError(f"item {index} has no result: the job ended {status} before it ran")
    failure = row["error"]
    code, body = failure.get("status_code"), failure.get("body")
    if isinstance(code, int):
        headers = {"x-request-id": failure["request_id"]} if failure.get("request_id") else {}
        content = json.dumps(body).encode() if body is not None else b""
        response = httpx.Response(code, content=content, headers=headers)
        return translate(response, model=str(item.get("model")), secrets=secrets)
    detail = failure.get("error") or {}
    return GPTImageError(
        f"item {index} failed in the batch: {detail.get('code') or 'error'}: "
        f"{detail.get('message') or 'no message'}",
        request_id=failure.get("request_id"),
    )
