"""Validation: every problem with a request, found before anything is sent.

:func:`check` returns the problems, :func:`validate` raises them together as one
:class:`~gptimage_widgets.errors.ValidationError`. Each :class:`Problem` names the parameter
(``"size"``, ``"images[1]"``, ``"mask"``), the value and what is allowed. All rules come from
the catalog: nothing here branches on a model's name. ``None`` means "not given".

Here: the model (and, given a ``backend``, whether it is retired there today:
:func:`gptimage_widgets.catalog.retirement_problem`), the operation, each param's value
(sizes against the model's presets and ``custom_size`` rules from ``models.json``), rules
between params (after :func:`gptimage_widgets.catalog.resolve_params` fills the defaults) and
the prompt. The input images and mask are checked by :mod:`gptimage_widgets.input_checks`.
Also the argument checks other modules share: :func:`require_operation` (an operation name)
and :func:`require_int` (a whole-number setting such as ``max_connections``).

Pure module: numpy, Pillow (through ``imaging``) and the standard library only.
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ._messages import short_repr
from .catalog import (
    OPERATIONS,
    ModelSpec,
    ParamSpec,
    get_model,
    list_models,
    parse_size,
    resolve_params,
    retirement_problem,
    unknown_param_hint,
)
from .errors import Problem, ValidationError
from .input_checks import count_problems, input_problems, mask_count_problems

__all__ = [
    "COMPRESSED_FORMATS",
    "TRANSPARENT_FORMATS",
    "check",
    "parse_size",
    "require_int",
    "size_problems",
    "validate",
]

#: Output formats that can carry a transparent background (every model).
TRANSPARENT_FORMATS: tuple[str, ...] = ("png", "webp")
#: Output formats that ``output_compression`` applies to (every model).
COMPRESSED_FORMATS: tuple[str, ...] = ("jpeg", "webp")
_INPUTS = ("prompt", "images", "mask")


def _quoted(values: Iterable[Any]) -> str:
    return ", ".join(short_repr(v) for v in values)


def _did_you_mean(word: str, known: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for a case-insensitive or close match, else ``""``."""
    known = list(known)
    lowered = {k.lower(): k for k in known}
    match = lowered.get(word.lower())
    if match is None:
        close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
        match = close[0] if close else None
    return f" (did you mean {match!r}?)" if match else ""


def _either(values: Sequence[str]) -> str:
    """``"'png' or 'webp'"``."""
    quoted = [repr(v) for v in values]
    return " or ".join([", ".join(quoted[:-1]), quoted[-1]] if len(quoted) > 1 else quoted)


def _is_whole(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _few(names: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


# --------------------------------------------------------------------------- sizes


def _custom_size_messages(spec: ModelSpec, width: int, height: int) -> list[str]:
    """Why ``width x height`` breaks ``spec.custom_size`` (ComfyUI's wording), or ``[]``."""
    rules = spec.custom_size
    if rules is None:
        return []
    got = f"{width}x{height}"
    messages = []
    if width % rules.multiple_of or height % rules.multiple_of:
        messages.append(
            f"Custom width and height must be multiples of {rules.multiple_of}, got {got}"
            + _rounded_hint(spec, width, height)
        )
    if max(width, height) > rules.max_edge:
        messages.append(f"Custom resolution max edge must be <= {rules.max_edge}, got {got}")
    if max(width, height) > rules.max_ratio * min(width, height):
        messages.append(
            f"Custom resolution aspect ratio must not exceed {rules.max_ratio:g}:1, got {got}"
        )
    pixels = width * height
    if not rules.min_pixels <= pixels <= rules.max_pixels:
        messages.append(
            f"Custom resolution total pixels must be between {rules.min_pixels:,} and "
            f"{rules.max_pixels:,}, got {pixels:,} ({got})"
        )
    return messages


def _rounded_hint(spec: ModelSpec, width: int, height: int) -> str:
    """``" (nearest valid: 1008x1008)"`` when rounding to the grid gives a valid size."""
    step = spec.custom_size.multiple_of if spec.custom_size else 1
    rounded = (max(step, round(width / step) * step), max(step, round(height / step) * step))
    if _custom_size_messages(spec, *rounded):
        return ""
    return f" (nearest valid: {rounded[0]}x{rounded[1]})"


def size_problems(spec: ModelSpec | str, size: Any) -> list[Problem]:
    """Every problem with ``size`` for the model ``spec`` (``[]`` when it is fine).

    Presets and ``"auto"`` come from the catalog; a custom ``WxH`` (parsed by
    :func:`gptimage_widgets.catalog.parse_size`) must meet ``spec.custom_size`` from
    ``models.json``: both edges multiples of ``multiple_of``, longest edge <= ``max_edge``,
    ratio <= ``max_ratio``, ``min_pixels`` <= pixels <= ``max_pixels`` (inclusive).
    """
    spec = get_model(spec)
    choices = spec.size_choices
    custom = " or a custom 'WIDTHxHEIGHT'" if spec.custom_size else ""
    allowed = f"use one of {_quoted(choices)}{custom}"
    if not isinstance(size, str):
        return [
            Problem(
                "size",
                size,
                f"size must be a string like '1024x1536', got {short_repr(size)} "
                f"({type(size).__name__}); {allowed}",
                choices,
            )
        ]
    if size in choices:
        return []
    try:
        parsed = parse_size(size)
    except ValidationError:
        return [Problem("size", size, f"size {size!r} is not a size; {allowed}", choices)]
    if parsed is None or spec.custom_size is None:
        takers = [m.name for m in list_models() if m.custom_size]
        extra = f" (custom sizes: {_few(takers)})" if takers and parsed is not None else ""
        return [
            Problem(
                "size", size, f"size {size!r} is not accepted by {spec.name}; {allowed}{extra}",
                choices,
            )
        ]  # fmt: skip
    return [Problem("size", size, m, choices) for m in _custom_size_messages(spec, *parsed)]


# --------------------------------------------------------------------------- param values


def _safe_in(value: Any, choices: Sequence[Any]) -> bool:
    try:
        return any(isinstance(value, type(c)) and bool(c == value) for c in choices)
    except Exception:
        return False


def _enum_problems(spec: ModelSpec, p: ParamSpec, value: Any) -> list[Problem]:
    if _safe_in(value, p.choices):
        return []
    allowed = p.allowed_text()
    if all(isinstance(c, str) for c in p.choices) and not isinstance(value, str):
        got = f"{short_repr(value)} ({type(value).__name__})"
        message = f"{p.name} must be a string, {allowed}; got {got}"
        return [Problem(p.name, value, message, p.choices)]
    if p.name == "background" and value == "transparent" and not spec.supports_transparent:
        takers = [m.name for m in list_models() if m.supports_transparent]
        message = f"Transparent background is not supported for {spec.name}; use {allowed}" + (
            f", or a model that supports it ({_few(takers)})" if takers else ""
        )
        return [Problem(p.name, value, message, p.choices)]
    hint = _did_you_mean(value, [str(c) for c in p.choices]) if isinstance(value, str) else ""
    message = f"{p.name} {short_repr(value)} is not accepted by {spec.name}{hint}; use {allowed}"
    return [Problem(p.name, value, message, p.choices)]


def _int_problems(spec: ModelSpec, p: ParamSpec, value: Any) -> list[Problem]:
    allowed = p.allowed_text()
    if not _is_whole(value):
        message = f"{p.name} must be {allowed}, got {short_repr(value)} ({type(value).__name__})"
        return [Problem(p.name, value, message)]
    low = p.minimum if p.minimum is not None else value
    high = p.maximum if p.maximum is not None else value
    if low <= value <= high:
        return []
    message = f"{p.name} {int(value)} is not accepted by {spec.name}; use {allowed}"
    return [Problem(p.name, value, message)]


def _typed_problems(p: ParamSpec, value: Any, expected: type, wanted: str) -> list[Problem]:
    if isinstance(value, expected):
        return []
    message = f"{p.name} must be {wanted}, got {short_repr(value)} ({type(value).__name__})"
    return [Problem(p.name, value, message)]


def _value_problems(spec: ModelSpec, p: ParamSpec, value: Any) -> list[Problem]:
    """Problems with ``value`` for the param ``p`` of ``spec`` (kind by kind)."""
    if p.kind == "size":
        return size_problems(spec, value)
    if p.kind == "int":
        return _int_problems(spec, p, value)
    if p.kind == "bool":
        return _typed_problems(p, value, bool, "True or False")
    if p.kind == "str":
        return _typed_problems(p, value, str, "a string")
    return _enum_problems(spec, p, value)


def _not_accepted(spec: ModelSpec, name: str, value: Any) -> Problem:
    """The problem for a param ``spec`` does not take (known elsewhere, or unknown)."""
    reason = spec.unsupported_params.get(name)
    if reason:
        message = f"{spec.name} does not accept {name}: {reason}; remove it"
        return Problem(name, value, message)
    takers = [m.name for m in list_models() if name in m.params]
    if takers:
        message = (
            f"{name} is not accepted by {spec.name} (models that take it: {_few(takers)}); "
            "remove it"
        )
        return Problem(name, value, message)
    known = [*_INPUTS, *spec.params]
    why = unknown_param_hint(name)
    hint = f": {why}" if why else _did_you_mean(name, known)
    message = f"unknown parameter {name!r}{hint}; {spec.name} accepts {', '.join(known)}"
    return Problem(name, value, message)


def _param_problems(spec: ModelSpec, operation: str | None, name: str, value: Any) -> list[Problem]:
    p = spec.params.get(name)
    if p is None:
        return [_not_accepted(spec, name, value)]
    if operation is not None and spec.supports(operation) and not p.applies_to(operation):
        message = (
            f"{name} does not apply to {operation} with {spec.name} (it is used by "
            f"{', '.join(p.operations)}); remove it"
        )
        return [Problem(name, value, message)]
    return _value_problems(spec, p, value)


def _combination_problems(
    spec: ModelSpec, operation: str | None, given: dict[str, Any]
) -> list[Problem]:
    """Rules between params: transparent needs png/webp; compression needs jpeg/webp."""
    problems: list[Problem] = []
    fmt = resolve_params(spec, operation, given, fill=("output_format",)).get("output_format")
    if fmt is not None and not isinstance(fmt, str):
        return problems  # a bad output_format is reported on its own
    shown = repr(fmt) if fmt is not None else "not set"
    if (
        isinstance(given.get("background"), str)
        and given["background"] == "transparent"
        and spec.supports_transparent
        and "output_format" in spec.params
        and fmt not in TRANSPARENT_FORMATS
    ):
        message = (
            f"Transparent background needs output_format {_either(TRANSPARENT_FORMATS)}, got "
            f"{shown}; set output_format={_either(TRANSPARENT_FORMATS)}"
        )
        problems.append(Problem("background", "transparent", message, TRANSPARENT_FORMATS))
    if (
        "output_compression" in given
        and "output_compression" in spec.params
        and fmt not in COMPRESSED_FORMATS
    ):
        message = (
            f"output_compression applies only to {_either(COMPRESSED_FORMATS)} output, but "
            f"output_format is {shown}; set output_format={_either(COMPRESSED_FORMATS)}, or drop "
            "output_compression"
        )
        problems.append(Problem("output_compression", given["output_compression"], message))
    return problems


# --------------------------------------------------------------------------- model, operation


def _resolve_model(model: Any) -> tuple[ModelSpec | None, list[Problem]]:
    try:
        return get_model(model), []
    except ValidationError as exc:
        return None, list(exc.problems)


def _unknown_operation(operation: Any, allowed: tuple[str, ...]) -> Problem | None:
    if isinstance(operation, str) and operation in allowed:
        return None
    hint = _did_you_mean(operation, allowed) if isinstance(operation, str) else ""
    message = f"operation {short_repr(operation)} is unknown{hint}; use one of {_quoted(allowed)}"
    return Problem("operation", operation, message, allowed)


def require_operation(operation: Any, *, also: tuple[str, ...] = ()) -> str:
    """``operation`` when it is a catalog operation (or one of ``also``, e.g. a UI's "auto").

    Raises
    ------
    ValidationError
        Naming the value, with a did-you-mean and the allowed names.
    """
    problem = _unknown_operation(operation, (*also, *OPERATIONS))
    if problem is not None:
        raise ValidationError([problem])
    return str(operation)


def require_int(value: Any, name: str, *, minimum: int, unit: str = "") -> int:
    """``value`` when it is an integer >= ``minimum`` (a bool is not an integer here).

    The one check and wording for a whole-number setting (``max_connections``,
    ``max_retries``...): "``name`` must be an integer >= ``minimum`` (``unit``), got ``value``".

    Raises
    ------
    ValidationError
        Otherwise, with ``param=name``.
    """
    if not _is_whole(value) or value < minimum:
        what = f"an integer >= {minimum}" + (f" ({unit})" if unit else "")
        raise ValidationError(
            f"{name} must be {what}, got {short_repr(value)}", param=name, value=value
        )
    return int(value)


def _operation_problems(spec: ModelSpec | None, operation: Any) -> list[Problem]:
    unknown = _unknown_operation(operation, OPERATIONS)
    if unknown is not None:
        return [unknown]
    if spec is not None and not spec.supports(operation):
        takers = [m.name for m in list_models() if m.supports(operation)]
        message = (
            f"{spec.name} does not support {operation} (it offers {', '.join(spec.operations)})"
            + (f"; models with {operation}: {_few(takers)}" if takers else "")
        )
        return [Problem("operation", operation, message, spec.operations)]
    return []


# --------------------------------------------------------------------------- prompt


def _prompt_problems(spec: ModelSpec, operation: str, prompt: Any) -> list[Problem]:
    if operation == "variation":
        if prompt is None:
            return []
        return [Problem("prompt", prompt, "variation takes no prompt; remove it")]
    if prompt is None:
        message = f"prompt is required for {operation}; describe the image you want"
        return [Problem("prompt", None, message)]
    if not isinstance(prompt, str):
        message = f"prompt must be a string, got {short_repr(prompt)} ({type(prompt).__name__})"
        return [Problem("prompt", prompt, message)]
    if not prompt.strip():
        message = "prompt is empty; describe the image you want"
        return [Problem("prompt", prompt, message)]
    if len(prompt) > spec.prompt_max_chars:
        message = (
            f"prompt is {len(prompt):,} characters; {spec.name} accepts at most "
            f"{spec.prompt_max_chars:,}, so shorten it by {len(prompt) - spec.prompt_max_chars:,}"
        )
        return [Problem("prompt", prompt, message)]
    return []


# --------------------------------------------------------------------------- entry points


def input_count_problems(
    model: str | ModelSpec, operation: str, images: int | None, *, has_mask: bool = False
) -> list[Problem]:
    """The input rules that need only counts, for a form that holds no images yet.

    The same rules :func:`check` applies to real inputs: how many images the operation and
    model take, and whether a mask is allowed with them.

    Parameters
    ----------
    model : str or ModelSpec
    operation : str
        ``"generate"``, ``"edit"`` or ``"variation"``.
    images : int or None
        How many input images the request will have; None when they are not added yet (then
        only the rules that hold whatever the count are applied).
    has_mask : bool
        Whether the request will carry a mask.

    Returns
    -------
    list of Problem
    """
    spec, problems = _resolve_model(model)
    if problems or spec is None or not spec.supports(operation):
        return problems  # an unknown model or operation is check()'s to report
    if operation != "generate" and images is not None:
        problems += count_problems(spec, operation, images)
    if has_mask:
        problems += mask_count_problems(spec, operation, images, True)
    return problems


def check(
    model: str | ModelSpec,
    operation: str = "generate",
    *,
    backend: str | None = None,
    allow_retired: bool = False,
    **params: Any,
) -> list[Problem]:
    """Every problem with a request, without raising.

    Parameters
    ----------
    model : str or ModelSpec
        A model name, an alias or a spec.
    operation : str
        ``"generate"``, ``"edit"`` or ``"variation"``.
    backend : str, optional
        Where the request goes (``"openai"``, ``"azure"``, ``"compatible"``, ``"offline"``).
        Given, a model retired at that backend today is a problem
        (:func:`gptimage_widgets.catalog.retirement_problem`); None skips the lifecycle.
    allow_retired : bool
        Send a retired model anyway (the key may still have access).
    **params
        The client's names: ``prompt``, ``images``, ``mask``, ``n``, ``size``, ``quality``...
        ``None`` means "not given". ``images`` is one image input, a list, a ``(B, H, W, C)``
        batch or an ImageResult; ``mask`` a 2-D array or an RGBA image (see ``imaging``).

    Returns
    -------
    list of Problem
        Empty when the request is fine.
    """
    spec, problems = _resolve_model(model)
    if spec is not None and isinstance(backend, str) and allow_retired is not True:
        retired = retirement_problem(spec, backend)
        problems += [retired] if retired is not None else []
    problems += _operation_problems(spec, operation)
    if spec is None:
        return problems
    known_op = operation if isinstance(operation, str) and operation in OPERATIONS else None
    given = {k: v for k, v in params.items() if v is not None and k not in _INPUTS}
    for name, value in given.items():
        problems += _param_problems(spec, known_op, name, value)
    problems += _combination_problems(
        spec, known_op if known_op is not None and spec.supports(known_op) else None, given
    )
    if known_op is not None:
        problems += _prompt_problems(spec, known_op, params.get("prompt"))
    if known_op is not None and spec.supports(known_op):
        problems += input_problems(spec, known_op, params.get("images"), params.get("mask"))
    return problems


def validate(
    model: str | ModelSpec,
    operation: str = "generate",
    *,
    backend: str | None = None,
    allow_retired: bool = False,
    **params: Any,
) -> None:
    """Raise one :class:`ValidationError` listing every problem of a request (see :func:`check`).

    Raises
    ------
    ValidationError
        ``.problems`` holds each problem, naming the parameter, the value and what is allowed.
    """
    problems = check(model, operation, backend=backend, allow_retired=allow_retired, **params)
    if problems:
        raise ValidationError(problems)
