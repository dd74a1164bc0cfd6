"""Overlay files: new models without a release, from a JSON file named by ``GPTIMAGE_MODELS``.

An overlay file is a JSON list of entries in :func:`~.registry.register_model` form (or a
mapping with such a list under ``"models"``, like ``models.json``)::

    [{"name": "gpt-image-9-test", "base": "gpt-image-2"}]

Entries are registered in order (``replace=True``: an entry may override a built-in, e.g. to
change its dates) and may derive from an earlier entry with ``"base"``.

* :func:`load_env_overlay` runs when :mod:`gptimage_widgets.catalog` is imported, for the file
  the environment variable :data:`ENV_VAR` names. It never raises (a kernel must start): a
  bad file or entry gives a warning naming the file and the entry, the entry is skipped, and
  :func:`~.registry.get_model` of a skipped name repeats why (:func:`skipped_reason`).
* :func:`load_overlay` is the strict form for explicit use: every problem, each naming the
  file and the entry, raised as one ``ValidationError``, and nothing registered.

Pure module: stdlib only.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections.abc import Mapping
from typing import Any

from ..errors import Problem, ValidationError
from .registry import _REGISTRY, register_model
from .specs import ModelSpec

__all__ = ["ENV_VAR", "load_env_overlay", "load_overlay", "skipped_reason"]

#: The environment variable naming an overlay file, read at import of the catalog.
ENV_VAR = "GPTIMAGE_MODELS"

_lock = threading.Lock()
_skipped: dict[str, str] = {}  # model name (or "" for the whole file) -> why it was skipped


def _entries(path: str) -> list[Any]:
    """The entries of the overlay file at ``path``.

    Raises
    ------
    ValidationError
        ``param="GPTIMAGE_MODELS"``: unreadable file, invalid JSON, or not a list of entries.
    """
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        raise ValidationError(
            f"{path}: cannot read the model overlay ({type(exc).__name__}: {exc}); "
            f"fix the file or unset {ENV_VAR}",
            param=ENV_VAR,
            value=path,
        ) from None
    if isinstance(data, Mapping) and isinstance(data.get("models"), list):
        data = data["models"]
    if not isinstance(data, list):
        raise ValidationError(
            f"{path}: a model overlay must be a JSON list of entries like "
            f'[{{"name": "my-model", "base": "gpt-image-2"}}], got {type(data).__name__}',
            param=ENV_VAR,
            value=path,
        )
    return data


def _entry_label(index: int, entry: Any) -> str:
    name = entry.get("name") if isinstance(entry, Mapping) else None
    return f"entry {index} ({name!r})" if isinstance(name, str) else f"entry {index}"


def _register(path: str, index: int, entry: Any) -> ModelSpec:
    """Register one entry; its problems re-raised with the file and entry in each message."""
    try:
        if not isinstance(entry, Mapping):
            raise ValidationError(
                f"must be a mapping like a models.json entry, got {type(entry).__name__}",
                param="entry",
                value=entry,
            )
        return register_model(entry, replace=True)
    except ValidationError as exc:
        where = f"{path}, {_entry_label(index, entry)}"
        raise ValidationError(
            [Problem(p.param, p.value, f"{where}: {p.message}", p.allowed) for p in exc.problems]
        ) from None


def load_overlay(path: str | os.PathLike[str]) -> list[ModelSpec]:
    """Register every model of the overlay file at ``path``, or none of them.

    Parameters
    ----------
    path : str or PathLike
        A JSON list of :func:`~.registry.register_model` entries.

    Returns
    -------
    list of ModelSpec
        The registered specs, in file order.

    Raises
    ------
    ValidationError
        Every problem, each message starting with the file and the entry (``"models.json,
        entry 1 ('broken'): broken.params.n.maximum must be ..."``). Nothing stays registered.
    """
    path = os.fspath(path)
    entries = _entries(path)
    before = {spec.name: spec for spec in _REGISTRY.all()}
    added: list[ModelSpec] = []
    problems: list[Problem] = []
    for index, entry in enumerate(entries):
        try:
            added.append(_register(path, index, entry))
        except ValidationError as exc:
            problems += exc.problems
    if problems:
        for spec in reversed(added):
            _REGISTRY.restore(spec.name, before.get(spec.name))
        raise ValidationError(problems)
    return added


def load_env_overlay(env: Mapping[str, str] | None = None) -> list[ModelSpec]:
    """Register the models of the file ``$GPTIMAGE_MODELS`` names, skipping bad entries.

    Never raises: each problem becomes a ``UserWarning`` naming the file and the entry, and
    is remembered for :func:`skipped_reason`.

    Parameters
    ----------
    env : Mapping, optional
        Default ``os.environ``.

    Returns
    -------
    list of ModelSpec
        The models registered.
    """
    path = (os.environ if env is None else env).get(ENV_VAR, "").strip()
    if not path:
        return []
    try:
        entries = _entries(path)
    except ValidationError as exc:
        _skip("", str(exc))
        return []
    added = []
    for index, entry in enumerate(entries):
        try:
            added.append(_register(path, index, entry))
        except ValidationError as exc:
            name = entry.get("name") if isinstance(entry, Mapping) else None
            _skip(name if isinstance(name, str) else "", f"{exc}; the entry was skipped")
        except Exception as exc:  # never let a bad overlay stop the import
            _skip("", f"{path}, {_entry_label(index, entry)}: {type(exc).__name__}: {exc}")
    return added


def _skip(name: str, why: str) -> None:
    with _lock:
        _skipped[name] = why
    warnings.warn(f"{ENV_VAR}: {why}", UserWarning, stacklevel=3)


def skipped_reason(name: str) -> str | None:
    """Why the overlay skipped a model called ``name`` (or could not be read at all)."""
    with _lock:
        return _skipped.get(name) or _skipped.get("")
