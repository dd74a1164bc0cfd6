"""Model lifecycle: statuses as a function of the date, and every sentence that describes them.

A model is ``"preview"``, ``"current"``, ``"deprecated"`` (a shutdown announced) or
``"shutdown"`` (date passed; compatible endpoints may still serve it). The status is never
stored: :func:`status_on` computes it from a model's dates (``deprecation_date``,
``shutdown_date``, per-backend ``shutdown_dates`` in ``gptimage_widgets/models.json``) and a
day, so nothing printed goes stale as dates pass. This module owns:

* :func:`today`, the one clock (tests monkeypatch ``lifecycle.today``);
* :func:`parse_date`, the one date parser (``models.json`` entries and ``GET /v1/models``);
* :func:`status_on` / :func:`status_for_date`, the rule "date passed -> shutdown";
* :func:`retirement_problem`, the one answer to "is this model retired at this backend on
  this day" (only :data:`LIFECYCLE_BACKENDS` retire models; compatible and offline servers
  serve old ones);
* the wording: :func:`status_message` (one line), :func:`status_banner` (the form's notice),
  :func:`status_label` (today's state, short), :func:`lifecycle_label` (dates only, for
  docs), :func:`replacements_text` and :func:`unavailable_model_hint` (404 messages);
* :func:`apply_shutdown_dates`, which re-registers models whose date a server reports.

OpenAI's deprecation page (https://platform.openai.com/docs/deprecations) is the source of
the dates in ``models.json``. Pure module: stdlib only.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import Problem

if TYPE_CHECKING:
    from .specs import ModelSpec

__all__ = [
    "BACKEND_LABELS",
    "LIFECYCLE_BACKENDS",
    "STATUSES",
    "apply_shutdown_dates",
    "lifecycle_label",
    "parse_date",
    "replacements_text",
    "retirement_problem",
    "status_banner",
    "status_for_date",
    "status_label",
    "status_message",
    "status_on",
    "today",
    "unavailable_model_hint",
]

STATUSES: tuple[str, ...] = ("preview", "current", "deprecated", "shutdown")
#: Backends that retire models on their dates; every other backend (an OpenAI-compatible
#: server, the offline server) keeps serving old models and is never refused.
LIFECYCLE_BACKENDS: tuple[str, ...] = ("openai", "azure")
#: How messages name a backend.
BACKEND_LABELS: Mapping[str, str] = {"openai": "OpenAI", "azure": "Azure OpenAI"}


def today() -> datetime.date:
    """Today's date in UTC: the day every live status is computed for.

    The one clock of the catalog. Tests inject another day with
    ``monkeypatch.setattr(gptimage_widgets.catalog.lifecycle, "today", lambda: day)``.
    """
    return datetime.datetime.now(datetime.timezone.utc).date()


def parse_date(value: Any) -> datetime.date | None:
    """A date from ``models.json`` or a ``GET /v1/models`` item.

    Parameters
    ----------
    value : None, datetime.date, str or number
        ``None``; a date; an ISO date string (``"2026-12-01"``, or a timestamp string whose
        first 10 characters are one); Unix seconds (UTC).

    Returns
    -------
    datetime.date or None
        None for None.

    Raises
    ------
    ValueError
        For anything else (booleans, malformed strings, other types).
    """
    if value is None or isinstance(value, datetime.date):
        return value
    if isinstance(value, bool):
        raise ValueError(f"not a date: {value!r}")
    if isinstance(value, (int, float)):
        try:
            return datetime.datetime.fromtimestamp(value, datetime.timezone.utc).date()
        except (OverflowError, OSError) as exc:
            raise ValueError(f"not a date: {value!r}") from exc
    if isinstance(value, str):
        return datetime.date.fromisoformat(value[:10])
    raise ValueError(f"not a date: {type(value).__name__}")


def status_for_date(shutdown: datetime.date, day: datetime.date) -> str:
    """``"shutdown"`` once ``shutdown`` is ``day`` or past, else ``"deprecated"``."""
    return "shutdown" if shutdown <= day else "deprecated"


def status_on(spec: ModelSpec, day: datetime.date, backend: str = "openai") -> str:
    """The status of ``spec`` on ``day`` at ``backend``.

    Rules, in order: the backend's shutdown date (``spec.shutdown_date_for(backend)``) is
    ``day`` or past -> ``"shutdown"``, whatever the data's ``status`` says; a deprecation
    (notice) date is set -> ``"deprecated"`` from it on, the data's status before it; a
    shutdown date without a notice date -> ``"deprecated"``; otherwise the data's status.
    """
    shutdown = spec.shutdown_date_for(backend)
    if shutdown is not None and shutdown <= day:
        return "shutdown"
    notice = spec.deprecation_date
    if notice is not None:
        if notice <= day:
            return "deprecated"
        return spec.declared_status if spec.declared_status in ("preview", "current") else "current"
    if shutdown is not None:
        return "deprecated"
    return spec.declared_status


# --------------------------------------------------------------------------- wording


def replacements_text(spec: ModelSpec, *, quote: str = "") -> str:
    """``"gpt-image-2.6-flare or gpt-image-2.6-sunburst"`` (``""`` without replacements).

    ``quote="model="`` gives ``"model='gpt-image-2.6-flare' or model='...'"``.
    """
    names = [f"{quote}{n!r}" if quote else n for n in spec.replacements]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " or " + names[-1]


def _other_dates(spec: ModelSpec) -> str:
    """``" (Azure OpenAI: 2026-12-16)"`` for backends with their own shutdown dates."""
    others = [
        f"{BACKEND_LABELS.get(b, b)}: {d.isoformat()}"
        for b, d in spec.shutdown_dates.items()
        if d != spec.shutdown_date
    ]
    return f" ({'; '.join(others)})" if others else ""


def _day(day: datetime.date | None) -> datetime.date:
    return today() if day is None else day


def status_message(spec: ModelSpec, day: datetime.date | None = None) -> str | None:
    """A one-line lifecycle notice for ``day`` (default :func:`today`), or None when current.

    Examples: ``"Deprecated: shuts down 2026-12-01 (Azure OpenAI: 2026-12-16); use
    gpt-image-2.6-flare or gpt-image-2.6-sunburst"``, ``"Shut down at OpenAI on 2026-05-12
    (some compatible endpoints still serve it); use gpt-image-2"``.
    """
    status = status_on(spec, _day(day))
    use = f"; use {replacements_text(spec)}" if spec.replacements else ""
    when = spec.shutdown_date.isoformat() if spec.shutdown_date else None
    if status == "deprecated":
        return f"Deprecated: shuts down {when or 'soon'}{_other_dates(spec)}{use}"
    if status == "shutdown":
        on = f" on {when}{_other_dates(spec)}" if when else ""
        return f"Shut down at OpenAI{on} (some compatible endpoints still serve it){use}"
    if status == "preview":
        return "Preview: not yet in OpenAI's API reference; parameters may change"
    return None


def status_banner(spec: ModelSpec, day: datetime.date | None = None) -> tuple[str, str]:
    """The parameter form's lifecycle notice for ``spec`` on ``day`` (default today).

    Returns
    -------
    (text, status) : tuple of str
        Plain text (not HTML) and ``"deprecated"``, ``"shutdown"``, ``"preview"``, or
        ``("", "")`` for a current model.
    """
    status = status_on(spec, _day(day))
    use = f" Use {replacements_text(spec)} instead." if spec.replacements else ""
    when = f" on {spec.shutdown_date.isoformat()}" if spec.shutdown_date else ""
    when += _other_dates(spec)
    if status == "shutdown":
        text = (
            f"{spec.name} was shut down by OpenAI{when}: api.openai.com no longer serves it. "
            f"It still works against compatible endpoints (the offline server, proxies).{use}"
        )
    elif status == "deprecated":
        text = f"{spec.name} is deprecated: OpenAI shuts it down{when}.{use}"
    elif status == "preview":
        text = f"{spec.name} is a preview model: its parameters may still change."
    else:
        return "", ""
    return text, status


def status_label(spec: ModelSpec, day: datetime.date | None = None) -> str:
    """A short state on ``day`` (default today): ``"current"``, ``"deprecated, shuts down
    2026-12-01"``, ``"shut down 2026-12-01"``..."""
    status = status_on(spec, _day(day))
    when = spec.shutdown_date.isoformat() if spec.shutdown_date else ""
    if status == "deprecated":
        return f"deprecated, shuts down {when}".rstrip()
    if status == "shutdown":
        return f"shut down {when}".rstrip()
    return status


def lifecycle_label(spec: ModelSpec) -> str:
    """The model's lifecycle as dates, true on any day (for docs that are not regenerated).

    Examples: ``"released 2026-11-04"``; ``"shutdown 2026-12-01 (Azure OpenAI: 2026-12-16),
    announced 2026-06-02; use gpt-image-2.6-flare or gpt-image-2.6-sunburst"``; a model
    without dates gives its data status (``"current"``).
    """
    parts = []
    if spec.shutdown_date is not None:
        parts.append(f"shutdown {spec.shutdown_date.isoformat()}{_other_dates(spec)}")
        if spec.deprecation_date is not None:
            parts.append(f"announced {spec.deprecation_date.isoformat()}")
    elif spec.release_date is not None:
        parts.append(f"released {spec.release_date.isoformat()}")
    else:
        parts.append(spec.declared_status)
    text = ", ".join(parts)
    return text + (f"; use {replacements_text(spec)}" if spec.replacements else "")


# --------------------------------------------------------------------------- retirement


def retirement_problem(
    spec: ModelSpec, backend: str, day: datetime.date | None = None
) -> Problem | None:
    """Why ``spec`` must not be sent to ``backend`` on ``day`` (default today), or None.

    Only :data:`LIFECYCLE_BACKENDS` (``"openai"``, ``"azure"``) retire models, each on its
    own date (``spec.shutdown_date_for(backend)``); every other backend (``"compatible"``,
    ``"offline"``) returns None.

    Returns
    -------
    Problem or None
        ``param="model"``, ``allowed`` = the replacements; the message names the shutdown
        date, the replacement(s) and the escape hatch ``allow_retired=True``.
    """
    if backend not in LIFECYCLE_BACKENDS:
        return None
    shutdown = spec.shutdown_date_for(backend)
    if shutdown is None or status_on(spec, _day(day), backend) != "shutdown":
        return None
    where = BACKEND_LABELS.get(backend, backend)
    use = f"; use {replacements_text(spec, quote='model=')}" if spec.replacements else ""
    message = (
        f"{spec.name} was shut down at {where} on {shutdown.isoformat()}, so the request would "
        f"fail with model_not_found{use}. If your key still has access, pass "
        "allow_retired=True to send it anyway"
    )
    return Problem("model", spec.name, message, spec.replacements)


def _current_names(day: datetime.date, backend: str) -> list[str]:
    from .registry import list_models  # the registry imports this module

    return [m.name for m in list_models() if m.status_on(day, backend) in ("current", "preview")]


def unavailable_model_hint(
    name: str, backend: str = "openai", day: datetime.date | None = None
) -> str:
    """What to use instead of a model a server refused (404 ``model_not_found``).

    Parameters
    ----------
    name : str
        The model name sent.
    backend : str
        ``"openai"``, ``"azure"``... (picks the backend's shutdown date).
    day : datetime.date, optional
        Default :func:`today`.

    Returns
    -------
    str
        A sentence without a final period, e.g. ``"gpt-image-1.5 was shut down at OpenAI on
        2026-12-01; use model='gpt-image-2.6-flare' or model='gpt-image-2.6-sunburst'"``; for
        a current model, that the key may lack access; for an unknown name, the current
        catalog models.
    """
    from ._reader import _did_you_mean
    from .registry import _REGISTRY, find_model

    day = _day(day)
    where = BACKEND_LABELS.get(backend, "this server")
    spec = find_model(name)
    current = _current_names(day, backend)
    if spec is None:
        hint = _did_you_mean(name, _REGISTRY.names())
        return (
            f"{name} is not in this kit's catalog{hint or ''}; current models: {', '.join(current)}"
        )
    use = f"use {replacements_text(spec, quote='model=')}" if spec.replacements else ""
    shutdown = spec.shutdown_date_for(backend)
    status = spec.status_on(day, backend)
    if status == "shutdown" and shutdown is not None:
        return f"{spec.name} was shut down at {where} on {shutdown.isoformat()}; " + (
            use or f"current models: {', '.join(current)}"
        )
    if status == "deprecated" and shutdown is not None:
        lead = f"{spec.name} is deprecated (shutdown {shutdown.isoformat()})"
        return f"{lead}; {use or 'current models: ' + ', '.join(current)}"
    return (
        f"{spec.name} may not be enabled for this key or organization (check GET /v1/models, "
        f"or the organization's verification); other current models: "
        f"{', '.join(n for n in current if n != spec.name)}"
    )


# --------------------------------------------------------------------------- refresh


def apply_shutdown_dates(items: Iterable[Any], *, today: datetime.date | None = None) -> list[str]:
    """Re-register the models whose OpenAI shutdown date a server reports.

    Each item naming a registered model (by name or alias) with a parseable
    ``shutdown_date`` different from the catalog's sets that date on the model; its status
    follows on every read (:func:`status_on`). Other items are skipped.

    Parameters
    ----------
    items : iterable of Mapping
        ``{"id": ..., "shutdown_date": ...}`` entries, as in ``GET /v1/models``'s ``data``.
    today : datetime.date, optional
        Unused: statuses are computed when read. Kept for callers that pass it.

    Returns
    -------
    list of str
        Names of the models whose date changed.
    """
    from .registry import find_model, register_model  # the registry imports this module

    del today
    changed: list[str] = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        try:
            date = parse_date(item.get("shutdown_date"))
        except ValueError:
            continue
        spec = find_model(item.get("id"))
        if date is None or spec is None or spec.shutdown_date == date:
            continue
        entry = spec.to_dict()
        entry["shutdown_date"] = date.isoformat()
        register_model(entry, replace=True)
        changed.append(spec.name)
    return changed
