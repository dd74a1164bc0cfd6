"""The Batch API's limits and price, as data: ``models.json``'s ``batch_api`` section.

One home for the numbers both sides of a batch use: the client splits and checks its input
files by them (:mod:`gptimage_widgets.batch_lines`), prices a job with them
(:mod:`gptimage_widgets.batch`), and the offline server refuses files beyond them
(:mod:`gptimage_widgets.offline.batchrun`, :mod:`gptimage_widgets.offline.batches`). Like
prices, the section carries the date its facts were checked (``as_of``) and its source.

Pure module: stdlib only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import Problem, ValidationError
from ._reader import _is_number, _Reader
from .loading import _BUILTIN_DOC

__all__ = ["BatchLimits", "batch_limits", "limits_from_dict"]

_WINDOW = re.compile(r"^([1-9]\d*)h$")


@dataclass(frozen=True)
class BatchLimits:
    """What OpenAI's Batch API allows for image requests.

    Attributes
    ----------
    endpoints : tuple of str
        The image endpoints a batch may run (``/v1/images/generations``, ``/v1/images/edits``).
    max_requests_per_file : int
        Most requests (lines) in one input file (50,000).
    max_file_bytes : int
        Largest input file (200 MB).
    max_image_url_chars : int
        Longest ``image_url`` (a ``data:`` URL) of the JSON edits body (20,971,520).
    completion_window : str
        The only completion window (``"24h"``).
    completion_window_s : int
        The same, in seconds (a batch expires that long after it was created).
    price_factor : float
        Price of a batched request relative to the same request sent alone (0.5: half).
    as_of : str
        When these facts were checked (ISO date).
    source : str
        Where they come from.
    """

    endpoints: tuple[str, ...]
    max_requests_per_file: int
    max_file_bytes: int
    max_image_url_chars: int
    completion_window: str
    completion_window_s: int
    price_factor: float
    as_of: str
    source: str


def limits_from_dict(data: Mapping[str, Any]) -> BatchLimits:
    """Read a ``batch_api`` section (every malformed field reported at once).

    Raises
    ------
    ValidationError
        Naming each bad field (``batch_api.max_file_bytes must be ...``).
    """
    problems: list[Problem] = []
    r = _Reader(data, "batch_api", problems)
    r.unknown_keys(
        (
            "as_of",
            "source",
            "endpoints",
            "max_requests_per_file",
            "max_file_bytes",
            "max_image_url_chars",
            "completion_window",
            "price_factor",
        )
    )
    endpoints = r.strings("endpoints", ())
    window = r.text("completion_window")
    hours = _WINDOW.match(window) if isinstance(window, str) else None
    if isinstance(window, str) and hours is None:
        r.fail("completion_window", window, "hours like '24h'")
    factor = r.get("price_factor", lambda v: _is_number(v) and 0 < v <= 1, "a number in (0, 1]")
    limits = BatchLimits(
        endpoints=endpoints,
        max_requests_per_file=r.whole("max_requests_per_file", minimum=1),
        max_file_bytes=r.whole("max_file_bytes", minimum=1),
        max_image_url_chars=r.whole("max_image_url_chars", minimum=1),
        completion_window=str(window),
        completion_window_s=int(hours[1]) * 3600 if hours else 0,
        price_factor=float(factor or 0),
        as_of=r.text("as_of"),
        source=r.text("source"),
    )
    if not endpoints:
        r.fail("endpoints", endpoints, "a non-empty list of endpoint paths")
    if problems:
        raise ValidationError(problems)
    return limits


_LIMITS = limits_from_dict(_BUILTIN_DOC["batch_api"])


def batch_limits() -> BatchLimits:
    """The Batch API's limits and price (``models.json`` ``batch_api``)."""
    return _LIMITS
