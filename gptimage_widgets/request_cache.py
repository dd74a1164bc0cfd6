"""The request cache: when two requests are "identical", and answering one from history.

Owns the cache key (:func:`cache_key`), the rule of what identical means, and turning a
saved history entry into a cached answer (:func:`as_cached`). The history store
(:mod:`gptimage_widgets.history`) keeps the key of every entry it saves (in ``meta.json``
and an indexed ``cache_key`` column of the SQLite index) and looks it up; the clients
(:mod:`gptimage_widgets.client_base`) decide when to ask.

Identical means, for one API origin (the backend kind and, except offline, its base URL):

- the same model, by its canonical catalog name (an alias counts as its model);
- the same operation;
- the same resolved parameters (:func:`gptimage_widgets.catalog.resolve_params`: what was
  given with the model's defaults filled in, so ``quality="auto"`` and leaving it out are
  identical), the prompt and ``n`` among them;
- the same input images and mask, compared by the sha256 of the encoded upload bytes
  (after any downscaling), in order;
- the same ``extra_body`` fields.

Not part of the key: streaming (``stream``, ``partial_images``: they change delivery, not
the images), ``extra_headers``/``extra_query``, timeouts. Randomness is NOT considered: a
cached answer returns the very images already paid for, never a new sample, which is why the
cache is off by default (``ImageClient(cache=False)``).

Core module: standard library only (plus :mod:`gptimage_widgets.catalog`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any

from . import catalog
from .errors import GPTImageError
from .request import ImageRequest
from .results import ImageResult

__all__ = ["KEY_VERSION", "as_cached", "cache_key"]

#: Bumped when the rule of what is identical changes, so old keys stop matching.
KEY_VERSION = 1
#: Parameters that change how images are delivered, not which images.
_DELIVERY_ONLY = ("stream", "partial_images", "model")


def cache_key(
    request: ImageRequest, *, origin: str, extra_body: Mapping[str, Any] | None = None
) -> str:
    """The cache key of a built request: a sha256 hex digest (64 characters).

    Parameters
    ----------
    request : ImageRequest
        Built by :func:`gptimage_widgets.request.build_request` (validated, defaults filled
        in ``request.params``, uploads encoded in ``request.files``).
    origin : str
        Where the request goes, e.g. ``"openai https://api.openai.com/v1"`` or ``"offline"``.
    extra_body : Mapping, optional
        The call's ``extra_body`` fields (they are sent, so they count).

    Returns
    -------
    str
    """
    params = {k: v for k, v in request.params.items() if k not in _DELIVERY_ONLY}
    described = {
        "version": KEY_VERSION,
        "origin": origin,
        "model": _canonical_model(request.model),
        "operation": request.operation,
        "params": params,
        "files": [
            [part.field, part.content_type, hashlib.sha256(part.content).hexdigest()]
            for part in request.files
        ],
        "extra_body": dict(extra_body or {}),
    }
    text = json.dumps(described, sort_keys=True, default=repr, ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def as_cached(result: ImageResult, started: float) -> ImageResult:
    """Mark a result loaded from history as a cached answer: cost 0, ``cached=True``.

    Parameters
    ----------
    result : ImageResult
        Loaded by :meth:`gptimage_widgets.history.HistoryStore.find_cached`; its
        ``entry_id`` and ``paths`` stay those of the entry that was paid for.
    started : float
        ``time.perf_counter()`` when the call started.

    Returns
    -------
    ImageResult
        The same object; ``timings`` holds this call's ``total_s`` and ``attempts=0``
        (nothing was sent), the original timings under ``paid_total_s``.
    """
    paid = result.timings.get("total_s")
    result.timings = {"total_s": time.perf_counter() - started, "attempts": 0}
    if isinstance(paid, (int, float)):
        result.timings["paid_total_s"] = float(paid)
    result.notes.append(
        f"cached: identical to history entry {result.entry_id} (cost "
        f"{_cost_text(result.cost_usd)} when paid); nothing was sent"
    )
    result.cost_usd, result.cost_is_estimate, result.cached = 0.0, False, True
    return result


def _canonical_model(name: str) -> str:
    try:
        return catalog.get_model(name).name
    except GPTImageError:
        return name


def _cost_text(cost: float | None) -> str:
    return "unknown" if cost is None else f"${cost:.4f}"
