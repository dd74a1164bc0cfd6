"""Defaults: the one place that turns user params into complete, per-model params.

Request building (what a result records), validation (rules between params), pricing (the
size and quality to price) and the offline server (what it renders and reports) all call
:func:`resolve_params`; none of them reads ``ParamSpec.default`` itself. Pure module.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from .specs import ModelSpec

__all__ = ["resolve_params"]


def resolve_params(
    spec: ModelSpec,
    operation: str | None,
    given: Mapping[str, Any],
    *,
    fill: Collection[str] | None = None,
) -> dict[str, Any]:
    """``given`` completed with the catalog default of every param it leaves out.

    Parameters
    ----------
    spec : ModelSpec
        The model whose defaults apply.
    operation : str or None
        ``"generate"``, ``"edit"`` or ``"variation"``: only params that apply to it are
        filled. None fills every param of the model (for checks made before the operation
        is known to be valid).
    given : Mapping
        The user's params by client name; a value of ``None`` means "not given".
    fill : collection of str, optional
        Fill only these names (default: every applicable param). A server passes the
        params it defaults itself.

    Returns
    -------
    dict
        First every applicable catalog param, in catalog order, with its given value or
        else its default (params whose value would be ``None`` are left out); then every
        other given key (``prompt``, ``images``, params that do not apply...) as given.
        ``given`` is not modified.

    Notes
    -----
    Edits get the size default like any other param: ``"auto"`` for GPT image models (the
    output follows the input image) and ``"1024x1024"`` for dall-e-2 (the API's default).
    A server that sizes an edit's output from its input when the request sends no size
    (the offline server, ``gptimage_widgets/offline/rendering.py``) leaves ``"size"`` out of
    ``fill`` for edits.
    """
    resolved: dict[str, Any] = {}
    for name, param in spec.params.items():
        if operation is not None and not param.applies_to(operation):
            continue
        value = given.get(name)
        if value is None and (fill is None or name in fill):
            value = param.default
        if value is not None:
            resolved[name] = value
    for name, value in given.items():
        if name not in resolved and value is not None:
            resolved[name] = value
    return resolved
