"""The registry: which models are known right now, by name and alias (thread-safe).

Starts with the models of ``models.json``; :func:`register_model` adds or overrides one at
run time, :func:`unregister_model` undoes it. Every other module asks :func:`get_model` /
:func:`list_models` rather than holding its own list. Pure module: stdlib only.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import Problem, ValidationError
from ._reader import _did_you_mean, _type_name
from .loading import load_builtin_models, spec_from_dict
from .sizes import parse_size
from .specs import ModelSpec

__all__ = [
    "find_model",
    "get_model",
    "largest_output_pixels",
    "list_models",
    "register_model",
    "unregister_model",
]


class _Registry:
    """Models by name plus an alias index; every access holds one lock."""

    def __init__(self, builtins: Sequence[ModelSpec]) -> None:
        self._lock = threading.RLock()
        self._builtins = {m.name: m for m in builtins}
        self._models: dict[str, ModelSpec] = dict(self._builtins)
        self._aliases: dict[str, str] = {}
        self._reindex()

    def _reindex(self) -> None:
        self._aliases = {a: m.name for m in self._models.values() for a in m.aliases}
        #: :func:`largest_output_pixels`, computed again after any change (None: not yet).
        self.largest_pixels: int | None = None

    def all(self) -> list[ModelSpec]:
        with self._lock:
            return list(self._models.values())

    def names(self) -> list[str]:
        with self._lock:
            return [*self._models, *self._aliases]

    def find(self, name: str) -> ModelSpec | None:
        with self._lock:
            real = self._aliases.get(name, name)
            return self._models.get(real)

    def add(self, spec: ModelSpec, replace: bool) -> None:
        with self._lock:
            problems = self._conflicts(spec, replace)
            if problems:
                raise ValidationError(problems)
            self._models[spec.name] = spec
            self._reindex()

    def _conflicts(self, spec: ModelSpec, replace: bool) -> list[Problem]:
        problems: list[Problem] = []
        if spec.name in self._models and not replace:
            problems.append(
                Problem(
                    "name",
                    spec.name,
                    f"model {spec.name!r} is already registered; pass "
                    "replace=True to override it, or choose another name",
                )
            )
        if spec.name in self._aliases and self._aliases[spec.name] != spec.name:
            owner = self._aliases[spec.name]
            problems.append(
                Problem(
                    "name",
                    spec.name,
                    f"{spec.name!r} is already an alias of {owner!r}; choose another name",
                )
            )
        for alias in spec.aliases:
            holder = self._aliases.get(alias, alias if alias in self._models else None)
            if holder is not None and holder != spec.name:
                problems.append(
                    Problem(
                        "aliases",
                        alias,
                        f"alias {alias!r} already names model {holder!r}; remove it from aliases",
                    )
                )
        return problems

    def restore(self, name: str, previous: ModelSpec | None) -> None:
        """Put back ``previous`` under ``name`` (None: drop ``name``); for rollbacks."""
        with self._lock:
            if previous is None:
                self._models.pop(name, None)
            else:
                self._models[name] = previous
            self._reindex()

    def remove(self, name: str) -> None:
        with self._lock:
            if name not in self._models:
                raise ValidationError(
                    f"model {name!r} is not registered{_did_you_mean(name, self._models)}",
                    param="name",
                    value=name,
                )
            builtin = self._builtins.get(name)
            if builtin is not None and self._models[name] is builtin:
                raise ValidationError(
                    f"{name!r} is built in and cannot be removed; override it with "
                    "register_model(..., replace=True) instead",
                    param="name",
                    value=name,
                )
            if builtin is not None:
                self._models[name] = builtin
            else:
                del self._models[name]
            self._reindex()


_REGISTRY = _Registry(load_builtin_models())


def list_models(include_shutdown: bool = True) -> list[ModelSpec]:
    """Every registered model, newest first, registrations last.

    Parameters
    ----------
    include_shutdown : bool
        False drops models shut down at OpenAI.
    """
    models = _REGISTRY.all()
    return models if include_shutdown else [m for m in models if not m.shut_down]


def find_model(name_or_alias: Any) -> ModelSpec | None:
    """The spec of a registered model by name or alias, or None (never raises)."""
    if isinstance(name_or_alias, ModelSpec):
        return name_or_alias
    if not isinstance(name_or_alias, str):
        return None
    return _REGISTRY.find(name_or_alias)


def get_model(name_or_alias: str | ModelSpec) -> ModelSpec:
    """The spec of a model by name or alias (a ModelSpec is returned as is).

    Raises
    ------
    ValidationError
        For an unknown name, listing the known names with a did-you-mean.
    """
    if isinstance(name_or_alias, ModelSpec):
        return name_or_alias
    if not isinstance(name_or_alias, str):
        raise ValidationError(
            f"model must be a model name (str) or a ModelSpec, got {_type_name(name_or_alias)}",
            param="model",
            value=name_or_alias,
        )
    spec = _REGISTRY.find(name_or_alias)
    if spec is None:
        from .overlay import skipped_reason  # the overlay imports this module

        known = _REGISTRY.names()
        skipped = skipped_reason(name_or_alias)
        raise ValidationError(
            [
                Problem(
                    "model",
                    name_or_alias,
                    f"unknown model {name_or_alias!r}"
                    f"{_did_you_mean(name_or_alias, known) or '.'} "
                    f"Known models: {', '.join(known)}. A new model can be added with "
                    "register_model({'name': ..., 'base': 'gpt-image-2'}) or a "
                    "GPTIMAGE_MODELS file." + (f" Not loaded: {skipped}." if skipped else ""),
                    tuple(known),
                )
            ]
        )
    return spec


def register_model(spec: ModelSpec | Mapping[str, Any], *, replace: bool = False) -> ModelSpec:
    """Add a model (or, with ``replace=True``, override one) so it works everywhere.

    Parameters
    ----------
    spec : ModelSpec or Mapping
        A spec, or a dict shaped like a ``models.json`` entry; ``{"name": ..., "base":
        "gpt-image-2", ...overrides}`` derives from a registered model.
    replace : bool
        Allow overriding a registered model of the same name.

    Returns
    -------
    ModelSpec
        The registered spec (checked: it round-trips through :func:`spec_from_dict`).

    Raises
    ------
    ValidationError
        For a malformed spec (naming each bad field) or a name/alias clash.
    """
    entry = spec.to_dict() if isinstance(spec, ModelSpec) else spec
    checked = spec_from_dict(entry)
    _REGISTRY.add(checked, replace)
    return checked


def unregister_model(name: str) -> None:
    """Undo :func:`register_model`: remove a new model, or restore an overridden built-in.

    Raises
    ------
    ValidationError
        When ``name`` is not registered, or is an untouched built-in.
    """
    _REGISTRY.remove(name)


def largest_output_pixels() -> int:
    """The most pixels any registered model makes in one output image.

    The maximum over registered models of ``custom_size.max_pixels`` and ``pixel_budget``
    (whichever the model has), and of its preset sizes; the ceiling for code that must bound
    an output size without knowing the model (e.g. the offline server, downscaling, the
    clients' response byte limits, once per call: kept until the registry changes).
    """
    with _REGISTRY._lock:
        if _REGISTRY.largest_pixels is None:
            _REGISTRY.largest_pixels = _largest_pixels(_REGISTRY.all())
        return _REGISTRY.largest_pixels


def _largest_pixels(specs: Sequence[ModelSpec]) -> int:
    largest = 0
    for spec in specs:
        if spec.custom_size is not None:
            largest = max(largest, spec.custom_size.max_pixels)
        if spec.pixel_budget is not None:
            largest = max(largest, spec.pixel_budget)
        for preset in spec.size_presets:
            parsed = parse_size(preset)
            if parsed is not None:
                largest = max(largest, parsed[0] * parsed[1])
    return largest
