"""Model lifecycle: statuses, shutdown dates and every sentence that describes them.

A model is ``"preview"``, ``"current"``, ``"deprecated"`` (a shutdown date ahead) or
``"shutdown"`` (date passed; compatible endpoints may still serve it). This module owns:

* :func:`parse_date`, the one date parser (``models.json`` entries and ``GET /v1/models``);
* :func:`status_for_date`, the rule "date passed -> shutdown, else deprecated";
* the wording: :func:`status_message` (one line, for errors), :func:`status_banner` (the
  form's notice) and :func:`status_label` (the README table cell);
* :func:`apply_shutdown_dates`, which re-registers models whose date a server reports.

OpenAI's deprecation page (https://platform.openai.com/docs/deprecations) is the source of
the dates in ``models.json``. Pure module: stdlib only.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .specs import ModelSpec

__all__ = [
    "STATUSES",
    "apply_shutdown_dates",
    "parse_date",
    "status_banner",
    "status_for_date",
    "status_label",
    "status_message",
]

STATUSES: tuple[str, ...] = ("preview", "current", "deprecated", "shutdown")


def parse_date(value: Any) -> datetime.date | None:
    """A shutdown date from ``models.json`` or a ``GET /v1/models`` item.

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


def status_for_date(shutdown: datetime.date, today: datetime.date) -> str:
    """``"shutdown"`` once ``shutdown`` is today or past, else ``"deprecated"``."""
    return "shutdown" if shutdown <= today else "deprecated"


def status_message(spec: ModelSpec) -> str | None:
    """A one-line lifecycle notice, or None for a current model.

    Examples: ``"Deprecated: shuts down 2026-12-01; use gpt-image-2.5-flare"``,
    ``"Shut down at OpenAI on 2026-05-12 (some compatible endpoints still serve it);
    use gpt-image-2"``.
    """
    use = f"; use {spec.replacement}" if spec.replacement else ""
    when = spec.shutdown_date.isoformat() if spec.shutdown_date else None
    if spec.status == "deprecated":
        return f"Deprecated: shuts down {when or 'soon'}{use}"
    if spec.status == "shutdown":
        on = f" on {when}" if when else ""
        return f"Shut down at OpenAI{on} (some compatible endpoints still serve it){use}"
    if spec.status == "preview":
        return "Preview: not yet in OpenAI's API reference; parameters may change"
    return None


def status_banner(spec: ModelSpec) -> tuple[str, str]:
    """The parameter form's lifecycle notice for ``spec``.

    Returns
    -------
    (text, status) : tuple of str
        Plain text (not HTML) and ``"deprecated"``, ``"shutdown"``, ``"preview"``, or
        ``("", "")`` for a current model.
    """
    use = f" Use {spec.replacement} instead." if spec.replacement else ""
    when = f" on {spec.shutdown_date.isoformat()}" if spec.shutdown_date else ""
    if spec.status == "shutdown":
        text = (
            f"{spec.name} was shut down by OpenAI{when}: api.openai.com no longer serves it. "
            f"It still works against compatible endpoints (the offline server, proxies).{use}"
        )
    elif spec.status == "deprecated":
        text = f"{spec.name} is deprecated: OpenAI shuts it down{when}.{use}"
    elif spec.status == "preview":
        text = f"{spec.name} is a preview model: its parameters may still change."
    else:
        return "", ""
    return text, spec.status


def status_label(spec: ModelSpec) -> str:
    """A short status cell: ``"current"``, ``"deprecated, shuts down 2026-12-01"``..."""
    when = spec.shutdown_date.isoformat() if spec.shutdown_date else ""
    if spec.status == "deprecated":
        return f"deprecated, shuts down {when}".rstrip()
    if spec.status == "shutdown":
        return f"shut down {when}".rstrip()
    return spec.status


def apply_shutdown_dates(items: Iterable[Any], *, today: datetime.date | None = None) -> list[str]:
    """Re-register the models whose shutdown date a server reports.

    Each item naming a registered model (by name or alias) with a parseable
    ``shutdown_date`` sets that date and status :func:`status_for_date` on the model;
    other items are skipped.

    Parameters
    ----------
    items : iterable of Mapping
        ``{"id": ..., "shutdown_date": ...}`` entries, as in ``GET /v1/models``'s ``data``.
    today : datetime.date, optional
        Reference date (default: today, UTC).

    Returns
    -------
    list of str
        Names of the models whose status or date changed.
    """
    from .registry import find_model, register_model  # the registry imports this module

    today = today or datetime.datetime.now(datetime.timezone.utc).date()
    changed: list[str] = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        try:
            date = parse_date(item.get("shutdown_date"))
        except ValueError:
            continue
        spec = find_model(item.get("id"))
        if date is None or spec is None:
            continue
        status = status_for_date(date, today)
        if spec.shutdown_date == date and spec.status == status:
            continue
        entry = spec.to_dict()
        entry["shutdown_date"] = date.isoformat()
        entry["status"] = status
        register_model(entry, replace=True)
        changed.append(spec.name)
    return changed
