"""What a server's model listing (``GET /v1/models``) means for the catalog.

Owns: comparing the ids a server lists with the catalog (:func:`compare_listing`): which
catalog models the key can use (by name or alias), which it cannot, and which *image
models* the server lists that the catalog lacks, each with the overlay entry that adds it
(``{"name": ..., "base": <closest catalog model>}``, loaded with ``GPTIMAGE_MODELS``; see
:mod:`gptimage_widgets.catalog.overlay`). An id "looks like an image model" when its stem
(the name before its version, e.g. ``gpt-image`` of ``gpt-image-2.6-flare``) is the stem of
a catalog model: the stems come from the catalog, so nothing here names a model.

Used by ``gptimage models --refresh`` (:mod:`gptimage_widgets.cli`). Pure module: stdlib
and the catalog only.
"""

from __future__ import annotations

import datetime
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .catalog import ModelSpec, find_model, lifecycle, list_models

__all__ = ["ListingReport", "OverlaySuggestion", "compare_listing", "model_stem"]


def model_stem(model_id: str) -> str:
    """The name before the version: ``"gpt-image"`` for ``"gpt-image-2.6-flare"``,
    ``"dall-e"`` for ``"dall-e-3"``, ``"chatgpt-image"`` for ``"chatgpt-image-latest"``.

    The stem is the ``-``-separated words before the first one that starts with a digit or
    is ``"latest"``; an id without such a word is its own stem.
    """
    words = model_id.lower().split("-")
    for index, word in enumerate(words):
        if index and (word[:1].isdigit() or word == "latest"):
            return "-".join(words[:index])
    return model_id.lower()


@dataclass(frozen=True)
class OverlaySuggestion:
    """An image model the server lists that the catalog lacks, and how to add it.

    Attributes
    ----------
    model_id : str
        The id the server lists.
    base : str
        The catalog model it most resembles (its parameters are copied by ``"base"``).
    """

    model_id: str
    base: str

    @property
    def entry(self) -> dict[str, str]:
        """The overlay entry: ``{"name": model_id, "base": base}``."""
        return {"name": self.model_id, "base": self.base}


@dataclass(frozen=True)
class ListingReport:
    """The catalog seen through one server's listing.

    Attributes
    ----------
    listed : int
        How many ids the server listed.
    usable : tuple of (ModelSpec, str)
        Catalog models the server lists, with the id it lists (the name or an alias).
    unlisted : tuple of ModelSpec
        Catalog models it does not list (retired there, or not granted to the key).
    missing : tuple of OverlaySuggestion
        Image-looking ids the catalog does not know, in the server's order.
    """

    listed: int
    usable: tuple[tuple[ModelSpec, str], ...]
    unlisted: tuple[ModelSpec, ...]
    missing: tuple[OverlaySuggestion, ...]


def _ids(items: Iterable[Any]) -> list[str]:
    ids = []
    for item in items:
        model_id = item.get("id") if isinstance(item, Mapping) else item
        if isinstance(model_id, str) and model_id and model_id not in ids:
            ids.append(model_id)
    return ids


def _closest_base(model_id: str, specs: list[ModelSpec], day: datetime.date) -> str:
    """The catalog model `model_id` most resembles.

    A model it is a snapshot of (``<name>-<date>``, e.g. ``gpt-image-2-2026-04-21``) wins;
    else, among the models of its stem (preferring ones not shut down), the closest spelling.
    """
    lowered = model_id.lower()
    extended = [
        s.name
        for s in specs
        if lowered.startswith(s.name.lower() + "-") and lowered[len(s.name) + 1 :][:1].isdigit()
    ]
    if extended:
        return max(extended, key=len)
    stem = model_stem(model_id)
    family = [s for s in specs if model_stem(s.name) == stem] or specs
    alive = [s for s in family if s.status_on(day) != "shutdown"] or family
    names = [s.name for s in alive]
    close = difflib.get_close_matches(model_id, names, n=1, cutoff=0.0)
    return close[0] if close else names[0]


def compare_listing(items: Iterable[Any], day: datetime.date | None = None) -> ListingReport:
    """Compare a ``GET /v1/models`` listing with the catalog.

    Parameters
    ----------
    items : iterable of Mapping or str
        The listing's ``data`` (``{"id": ...}`` objects) or plain ids.
    day : datetime.date, optional
        The day statuses are computed for (default today): the base of a suggestion is
        preferably a model not shut down on that day.

    Returns
    -------
    ListingReport
    """
    day = lifecycle.today() if day is None else day
    ids = _ids(items)
    specs = list_models(include_shutdown=True)
    stems = {model_stem(spec.name) for spec in specs}
    usable: dict[str, tuple[ModelSpec, str]] = {}
    missing = []
    for model_id in ids:
        spec = find_model(model_id)
        if spec is not None:
            usable.setdefault(spec.name, (spec, model_id))
        elif model_stem(model_id) in stems:
            missing.append(OverlaySuggestion(model_id, _closest_base(model_id, specs, day)))
    return ListingReport(
        listed=len(ids),
        usable=tuple(usable[s.name] for s in specs if s.name in usable),
        unlisted=tuple(s for s in specs if s.name not in usable),
        missing=tuple(missing),
    )
