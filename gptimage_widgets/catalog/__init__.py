"""The model catalog: what every image model accepts, as data.

The facts live in ``gptimage_widgets/models.json`` (one entry per model, prices with their
date, shared limits such as ``custom_size_defaults``). This package loads them into frozen
dataclasses and keeps a thread-safe registry, so a model that appears next month works
everywhere (form, client, offline server, docs) after one :func:`register_model` call,
without a release::

    register_model({"name": "my-gpt-image-2-deployment", "base": "gpt-image-2"})

No other module branches on a model's name: every difference between models is a field here.

Modules, by concern:

* :mod:`.specs` -- the spec types (:class:`ModelSpec`, :class:`ParamSpec`...);
* :mod:`.loading` -- ``models.json`` and model dicts -> specs (:func:`spec_from_dict`);
* :mod:`.registry` -- the known models (:func:`get_model`, :func:`register_model`...);
* :mod:`.sizes` -- :func:`parse_size`, the one ``"WxH"`` parser;
* :mod:`.defaults` -- :func:`resolve_params`, the one place defaults are filled;
* :mod:`.lifecycle` -- statuses computed from dates, retirement per backend, wording;
* :mod:`.overlay` -- ``GPTIMAGE_MODELS=path.json``: models registered at import;
* :mod:`.table` -- the README model table (``python -m gptimage_widgets.catalog``);
* :mod:`.batch` -- the Batch API's limits and price (:func:`batch_limits`).

Pure package: stdlib only.
"""

from __future__ import annotations

from .batch import BatchLimits, batch_limits
from .defaults import resolve_params
from .lifecycle import (
    LIFECYCLE_BACKENDS,
    apply_shutdown_dates,
    lifecycle_label,
    parse_date,
    replacements_text,
    retirement_problem,
    status_banner,
    status_for_date,
    status_label,
    status_message,
    status_on,
    unavailable_model_hint,
)
from .loading import load_builtin_models, spec_from_dict, unknown_param_hint
from .overlay import load_env_overlay, load_overlay
from .registry import (
    find_model,
    get_model,
    largest_output_pixels,
    list_models,
    register_model,
    unregister_model,
)
from .sizes import parse_size
from .specs import (
    IMAGE_FORMATS,
    KINDS,
    OPERATIONS,
    RESERVED_PARAMS,
    STATUSES,
    CustomSizeRules,
    ModelSpec,
    Operation,
    ParamSpec,
    Pricing,
)
from .table import main, models_markdown_table, replace_readme_block

load_env_overlay()  # GPTIMAGE_MODELS=path.json: warns and skips bad entries, never raises

__all__ = [
    "IMAGE_FORMATS",
    "KINDS",
    "LIFECYCLE_BACKENDS",
    "OPERATIONS",
    "RESERVED_PARAMS",
    "STATUSES",
    "BatchLimits",
    "CustomSizeRules",
    "ModelSpec",
    "Operation",
    "ParamSpec",
    "Pricing",
    "apply_shutdown_dates",
    "batch_limits",
    "find_model",
    "get_model",
    "largest_output_pixels",
    "lifecycle_label",
    "list_models",
    "load_builtin_models",
    "load_env_overlay",
    "load_overlay",
    "main",
    "models_markdown_table",
    "parse_date",
    "parse_size",
    "register_model",
    "replace_readme_block",
    "replacements_text",
    "resolve_params",
    "retirement_problem",
    "spec_from_dict",
    "status_banner",
    "status_for_date",
    "status_label",
    "status_message",
    "status_on",
    "unavailable_model_hint",
    "unknown_param_hint",
    "unregister_model",
]
