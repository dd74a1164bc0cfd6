"""The model catalog: what every image model accepts, as data.

The facts live in ``models.json`` (one entry per model, prices with their date). This module
loads them into frozen dataclasses and keeps a thread-safe registry, so a model that appears
next month works everywhere (form, client, offline server, docs) after one
:func:`register_model` call, without a release::

    register_model({"name": "my-gpt-image-2-deployment", "base": "gpt-image-2"})

No other module branches on a model's name: every difference between models is a field here.
Pure module: stdlib only.
"""

from __future__ import annotations

import argparse
import datetime
import difflib
import json
import re
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal

from .errors import Problem, ValidationError

__all__ = [
    "KINDS",
    "OPERATIONS",
    "RESERVED_PARAMS",
    "STATUSES",
    "CustomSizeRules",
    "ModelSpec",
    "Operation",
    "ParamSpec",
    "Pricing",
    "get_model",
    "list_models",
    "load_builtin_models",
    "models_markdown_table",
    "register_model",
    "spec_from_dict",
    "unregister_model",
]

Operation = Literal["generate", "edit", "variation"]
OPERATIONS: tuple[str, ...] = ("generate", "edit", "variation")
STATUSES: tuple[str, ...] = ("preview", "current", "deprecated", "shutdown")
KINDS: tuple[str, ...] = ("enum", "int", "bool", "str", "size")
IMAGE_FORMATS: tuple[str, ...] = ("png", "jpeg", "webp")
#: Inputs validated on their own, never catalog params.
RESERVED_PARAMS: tuple[str, ...] = ("prompt", "images", "mask", "model")

_MIB = 1024 * 1024
_SIZE_RE = re.compile(r"[1-9][0-9]*x[1-9][0-9]*")
_README_START = "<!-- models-table:start -->"
_README_END = "<!-- models-table:end -->"


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


# --------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class ParamSpec:
    """One settable parameter of one model.

    Attributes
    ----------
    name : str
        The client's (and wire) name: ``"size"``, ``"quality"``, ``"n"``...
    kind : str
        ``"enum"``, ``"int"``, ``"bool"``, ``"str"`` or ``"size"``.
    default : Any
        Value used when the user gives none; ``None`` means "omit on the wire".
    help : str
        One sentence, shown as the control's tooltip.
    choices : tuple
        Allowed values in display order (enum and size kinds; size also takes custom WxH
        when the model's ``custom_size`` is set).
    minimum, maximum : int or None
        Inclusive range of an int.
    operations : tuple of str
        Operations where the parameter applies.
    send : bool
        False: shown in the form, never sent (``seed``).
    label : str
        Display label.
    """

    name: str
    kind: str
    default: Any = None
    help: str = ""
    choices: tuple[Any, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    operations: tuple[str, ...] = ()
    send: bool = True
    label: str = ""

    def applies_to(self, operation: str) -> bool:
        """Whether the parameter is used by ``operation``."""
        return operation in self.operations

    def allowed_text(self) -> str:
        """What the parameter accepts, for messages: ``"one of 'low', 'high'"``, ``"1 to 10"``."""
        if self.kind == "int" and self.minimum is not None and self.maximum is not None:
            if self.minimum == self.maximum:
                return f"only {self.minimum}"
            return f"a whole number from {self.minimum} to {self.maximum}"
        if self.kind == "int":
            return "a whole number"
        if self.kind == "bool":
            return "True or False"
        if self.kind == "str":
            return "a string"
        if len(self.choices) == 1:
            return f"only {self.choices[0]!r}"
        return "one of " + ", ".join(repr(c) for c in self.choices)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, as a ``params`` entry of ``models.json``."""
        out: dict[str, Any] = {"kind": self.kind, "label": self.label, "help": self.help}
        out["default"] = self.default
        if self.kind == "enum":
            out["choices"] = list(self.choices)
        if self.kind == "int":
            out["minimum"] = self.minimum
            out["maximum"] = self.maximum
        out["operations"] = list(self.operations)
        out["send"] = self.send
        return out


@dataclass(frozen=True)
class CustomSizeRules:
    """Rules for custom ``WIDTHxHEIGHT`` sizes (gpt-image-2 and later).

    Attributes
    ----------
    multiple_of : int
        Both edges must be multiples of this.
    max_edge : int
        Longest edge limit in pixels (inclusive).
    max_ratio : float
        Longest over shortest edge limit (inclusive), e.g. 3.0 for 3:1.
    min_pixels, max_pixels : int
        Inclusive bounds of ``width * height``.
    """

    multiple_of: int = 16
    max_edge: int = 3840
    max_ratio: float = 3.0
    min_pixels: int = 655_360
    max_pixels: int = 8_294_400

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "multiple_of": self.multiple_of,
            "max_edge": self.max_edge,
            "max_ratio": self.max_ratio,
            "min_pixels": self.min_pixels,
            "max_pixels": self.max_pixels,
        }


@dataclass(frozen=True)
class Pricing:
    """List prices of one model, with the date they were read.

    Attributes
    ----------
    as_of : str
        ISO date of the prices, e.g. ``"2026-11-01"``.
    text_input, image_input, image_output, text_output : float or None
        USD per 1M tokens; None when unknown or not token-priced.
    per_image : Mapping
        quality -> size -> USD per image (list prices).
    output_tokens : Mapping
        quality -> size -> output tokens per image (models before gpt-image-2).
    """

    as_of: str
    text_input: float | None = None
    image_input: float | None = None
    image_output: float | None = None
    text_output: float | None = None
    per_image: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: _frozen({}))
    output_tokens: Mapping[str, Mapping[str, int]] = field(default_factory=lambda: _frozen({}))

    def __hash__(self) -> int:
        return hash((self.as_of, self.text_input, self.image_input, self.image_output))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "as_of": self.as_of,
            "text_input": self.text_input,
            "image_input": self.image_input,
            "image_output": self.image_output,
            "text_output": self.text_output,
            "per_image": {q: dict(s) for q, s in self.per_image.items()},
            "output_tokens": {q: dict(s) for q, s in self.output_tokens.items()},
        }


@dataclass(frozen=True)
class ModelSpec:
    """Everything one image model accepts. Build it with :func:`spec_from_dict`.

    Attributes
    ----------
    name, label, family : str
        Wire name, display label, ``"gpt-image"`` or ``"dall-e"``.
    aliases : tuple of str
        Other names that resolve to this model (snapshots).
    status : str
        ``"preview"``, ``"current"``, ``"deprecated"`` or ``"shutdown"`` (at OpenAI).
    shutdown_date : datetime.date or None
    replacement : str or None
        The model OpenAI names as the successor.
    notes : str
    operations : tuple of str
        Supported operations among ``"generate"``, ``"edit"``, ``"variation"``.
    params : Mapping[str, ParamSpec]
        Every settable parameter except prompt, images and mask.
    prompt_max_chars : int
    size_presets : tuple of str
        ``"WxH"`` presets, without ``"auto"``.
    size_auto : bool
    custom_size : CustomSizeRules or None
        None: no custom sizes.
    max_reference_images : int
        Most input images of an edit (0 without edit).
    max_image_bytes : int
        Per input file.
    image_formats : tuple of str
        Accepted upload formats.
    square_png_only : bool
        Inputs must be square PNGs (dall-e-2).
    supports_mask, supports_transparent, streaming : bool
    response_formats : tuple of str
        ``()`` for GPT models: never send ``response_format``.
    pixel_budget : int or None
        Inputs larger than this many pixels are downscaled before upload.
    pricing : Pricing or None
    unsupported_params : Mapping[str, str]
        Params this model refuses although others take them, with the reason (for messages).
    """

    name: str
    label: str
    family: str
    aliases: tuple[str, ...]
    status: str
    shutdown_date: datetime.date | None
    replacement: str | None
    notes: str
    operations: tuple[str, ...]
    params: Mapping[str, ParamSpec]
    prompt_max_chars: int
    size_presets: tuple[str, ...]
    size_auto: bool
    custom_size: CustomSizeRules | None
    max_reference_images: int
    max_image_bytes: int
    image_formats: tuple[str, ...]
    square_png_only: bool
    supports_mask: bool
    supports_transparent: bool
    streaming: bool
    response_formats: tuple[str, ...]
    pixel_budget: int | None
    pricing: Pricing | None
    unsupported_params: Mapping[str, str] = field(default_factory=lambda: _frozen({}))

    def __hash__(self) -> int:
        return hash((self.name, self.aliases, self.status, self.operations))

    def params_for(self, operation: str) -> dict[str, ParamSpec]:
        """The params that apply to ``operation``, in catalog order."""
        return {name: p for name, p in self.params.items() if p.applies_to(operation)}

    def supports(self, operation: str) -> bool:
        """Whether the model offers ``operation``."""
        return operation in self.operations

    @property
    def size_choices(self) -> tuple[str, ...]:
        """``"auto"`` (when allowed) followed by the presets."""
        return (("auto",) if self.size_auto else ()) + self.size_presets

    @property
    def deprecated(self) -> bool:
        """Deprecated at OpenAI, with a shutdown ahead."""
        return self.status == "deprecated"

    @property
    def shut_down(self) -> bool:
        """Shut down at OpenAI (compatible endpoints may still serve it)."""
        return self.status == "shutdown"

    def status_message(self) -> str | None:
        """A one-line lifecycle notice for the form, or None for a current model.

        Examples: ``"Deprecated: shuts down 2026-12-01; use gpt-image-2.5-flare"``,
        ``"Shut down at OpenAI on 2026-05-12 (some compatible endpoints still serve it);
        use gpt-image-2"``.
        """
        use = f"; use {self.replacement}" if self.replacement else ""
        when = self.shutdown_date.isoformat() if self.shutdown_date else None
        if self.status == "deprecated":
            return f"Deprecated: shuts down {when or 'soon'}{use}"
        if self.status == "shutdown":
            on = f" on {when}" if when else ""
            return f"Shut down at OpenAI{on} (some compatible endpoints still serve it){use}"
        if self.status == "preview":
            return "Preview: not yet in OpenAI's API reference; parameters may change"
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict shaped like a ``models.json`` entry; round-trips through
        :func:`register_model` / :func:`spec_from_dict`."""
        params = {}
        for name, p in self.params.items():
            entry = p.to_dict()
            params[name] = entry
        return {
            "name": self.name,
            "label": self.label,
            "family": self.family,
            "aliases": list(self.aliases),
            "status": self.status,
            "shutdown_date": self.shutdown_date.isoformat() if self.shutdown_date else None,
            "replacement": self.replacement,
            "notes": self.notes,
            "operations": list(self.operations),
            "prompt_max_chars": self.prompt_max_chars,
            "size_presets": list(self.size_presets),
            "size_auto": self.size_auto,
            "custom_size": self.custom_size.to_dict() if self.custom_size else None,
            "max_reference_images": self.max_reference_images,
            "max_image_bytes": self.max_image_bytes,
            "image_formats": list(self.image_formats),
            "square_png_only": self.square_png_only,
            "supports_mask": self.supports_mask,
            "supports_transparent": self.supports_transparent,
            "streaming": self.streaming,
            "pixel_budget": self.pixel_budget,
            "unsupported_params": dict(self.unsupported_params),
            "params": params,
            "pricing": self.pricing.to_dict() if self.pricing else None,
        }


# --------------------------------------------------------------------------- reading dicts

_MISSING: Any = object()


def _type_name(value: Any) -> str:
    return type(value).__name__


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _did_you_mean(word: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` when a close match exists, else ``""``."""
    matches = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f"; did you mean {matches[0]!r}?" if matches else ""


class _Reader:
    """Reads typed fields out of one mapping, collecting every problem instead of raising.

    Parameters
    ----------
    data : Mapping
        The mapping to read.
    where : str
        Its path for messages, e.g. ``"gpt-x.params.size"``.
    problems : list of Problem
        Shared list that collects what is wrong.
    """

    def __init__(self, data: Mapping[str, Any], where: str, problems: list[Problem]) -> None:
        self.data = data
        self.where = where
        self.problems = problems

    def fail(self, key: str, value: Any, expected: str) -> None:
        path = f"{self.where}.{key}" if self.where else key
        self.problems.append(
            Problem(path, value, f"{path} must be {expected}, got {value!r} ({_type_name(value)})")
        )

    def get(
        self, key: str, test: Callable[[Any], bool], expected: str, default: Any = _MISSING
    ) -> Any:
        """The value at ``key`` when ``test`` accepts it, else ``default`` after noting why."""
        if key not in self.data:
            if default is _MISSING:
                path = f"{self.where}.{key}" if self.where else key
                self.problems.append(Problem(path, None, f"{path} is required ({expected})"))
                return None
            return default
        value = self.data[key]
        if not test(value):
            self.fail(key, value, expected)
            return default if default is not _MISSING else None
        return value

    def text(self, key: str, default: Any = _MISSING, *, nonempty: bool = True) -> Any:
        def ok(v: Any) -> bool:
            return isinstance(v, str) and (bool(v.strip()) or not nonempty)

        return self.get(key, ok, "a non-empty string" if nonempty else "a string", default)

    def optional_text(self, key: str) -> str | None:
        return self.get(key, lambda v: v is None or isinstance(v, str), "a string or null", None)

    def flag(self, key: str, default: bool) -> bool:
        return bool(self.get(key, lambda v: isinstance(v, bool), "true or false", default))

    def whole(self, key: str, default: Any = _MISSING, *, minimum: int = 0) -> Any:
        return self.get(
            key, lambda v: _is_int(v) and v >= minimum, f"a whole number >= {minimum}", default
        )

    def strings(self, key: str, default: Sequence[str], allowed: Sequence[str] = ()) -> tuple:
        def ok(v: Any) -> bool:
            if not isinstance(v, (list, tuple)) or not all(isinstance(s, str) for s in v):
                return False
            return len(set(v)) == len(v) and (not allowed or set(v) <= set(allowed))

        expected = "a list of distinct strings"
        if allowed:
            expected += " among " + ", ".join(repr(a) for a in allowed)
        return tuple(self.get(key, ok, expected, list(default)))

    def unknown_keys(self, known: Iterable[str]) -> None:
        known = list(known)
        for key in self.data:
            if key not in known:
                path = f"{self.where}.{key}" if self.where else str(key)
                hint = _did_you_mean(str(key), known)
                self.problems.append(
                    Problem(
                        path,
                        key,
                        f"{path} is not a known field{hint or ''}"
                        + ("" if hint else "; known fields: " + ", ".join(known)),
                    )
                )


_MODEL_FIELDS = (
    "name", "label", "family", "aliases", "status", "shutdown_date", "replacement", "notes",
    "operations", "prompt_max_chars", "size_presets", "size_auto", "custom_size",
    "max_reference_images", "max_image_bytes", "image_formats", "square_png_only",
    "supports_mask", "supports_transparent", "streaming", "response_formats", "pixel_budget",
    "unsupported_params", "params", "pricing",
)  # fmt: skip
_PARAM_FIELDS = (
    "kind", "label", "help", "default", "choices", "minimum", "maximum", "operations", "send",
)  # fmt: skip
_PRICING_FIELDS = (
    "as_of", "text_input", "image_input", "image_output", "text_output", "per_image",
    "output_tokens",
)  # fmt: skip


def _parse_date(reader: _Reader, key: str) -> datetime.date | None:
    value = reader.data.get(key)
    if value is None or isinstance(value, datetime.date):
        return value
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            pass
    reader.fail(key, value, "an ISO date like '2026-12-01' or null")
    return None


def _parse_custom_size(reader: _Reader) -> CustomSizeRules | None:
    value = reader.data.get("custom_size")
    if value is None or value is False:
        return None
    if value is True:
        return CustomSizeRules()
    if isinstance(value, CustomSizeRules):
        return value
    if not isinstance(value, Mapping):
        reader.fail("custom_size", value, "null, true or a mapping of custom size rules")
        return None
    sub = _Reader(value, f"{reader.where}.custom_size", reader.problems)
    sub.unknown_keys(CustomSizeRules.__dataclass_fields__)
    base = CustomSizeRules()
    ratio = sub.get("max_ratio", lambda v: _is_number(v) and v >= 1, "a number >= 1", 3.0)
    rules = CustomSizeRules(
        multiple_of=sub.whole("multiple_of", base.multiple_of, minimum=1),
        max_edge=sub.whole("max_edge", base.max_edge, minimum=1),
        max_ratio=float(ratio),
        min_pixels=sub.whole("min_pixels", base.min_pixels, minimum=1),
        max_pixels=sub.whole("max_pixels", base.max_pixels, minimum=1),
    )
    if rules.min_pixels > rules.max_pixels:
        sub.fail("min_pixels", rules.min_pixels, f"<= max_pixels ({rules.max_pixels})")
    return rules


def _parse_price_table(reader: _Reader, key: str, integer: bool) -> Mapping[str, Any]:
    value = reader.data.get(key, {})
    number = _is_int if integer else _is_number
    ok = isinstance(value, Mapping) and all(
        isinstance(q, str)
        and isinstance(sizes, Mapping)
        and all(isinstance(s, str) and number(v) and v >= 0 for s, v in sizes.items())
        for q, sizes in value.items()
    )
    if not ok:
        kind = "whole numbers" if integer else "numbers"
        reader.fail(key, value, f"a mapping quality -> size -> {kind} >= 0")
        return _frozen({})
    return _frozen({q: _frozen(sizes) for q, sizes in value.items()})


def _parse_pricing(reader: _Reader) -> Pricing | None:
    value = reader.data.get("pricing")
    if value is None or isinstance(value, Pricing):
        return value
    if not isinstance(value, Mapping):
        reader.fail("pricing", value, "null or a mapping of prices")
        return None
    sub = _Reader(value, f"{reader.where}.pricing", reader.problems)
    sub.unknown_keys(_PRICING_FIELDS)

    def rate(key: str) -> float | None:
        v = sub.get(key, lambda x: x is None or (_is_number(x) and x >= 0), "a number >= 0", None)
        return None if v is None else float(v)

    return Pricing(
        as_of=sub.text("as_of", "unknown"),
        text_input=rate("text_input"),
        image_input=rate("image_input"),
        image_output=rate("image_output"),
        text_output=rate("text_output"),
        per_image=_parse_price_table(sub, "per_image", integer=False),
        output_tokens=_parse_price_table(sub, "output_tokens", integer=True),
    )


def _param_default_problem(p: ParamSpec) -> str | None:
    """Why ``p.default`` does not fit ``p``, or None when it does."""
    d = p.default
    if d is None:
        return None
    if p.kind in ("enum", "size") and d not in p.choices:
        return f"one of its choices {list(p.choices)!r} or null"
    if p.kind == "int":
        low = p.minimum if p.minimum is not None else d
        high = p.maximum if p.maximum is not None else d
        if not _is_int(d) or not low <= d <= high:
            return f"a whole number from {p.minimum} to {p.maximum} or null"
    if p.kind == "bool" and not isinstance(d, bool):
        return "true, false or null"
    if p.kind == "str" and not isinstance(d, str):
        return "a string or null"
    return None


def _parse_param(
    name: str,
    raw: Any,
    where: str,
    model_ops: tuple[str, ...],
    derived_choices: Mapping[str, tuple[Any, ...]],
    problems: list[Problem],
) -> ParamSpec | None:
    if isinstance(raw, ParamSpec):
        raw = raw.to_dict()
    if not isinstance(raw, Mapping):
        problems.append(Problem(where, raw, f"{where} must be a mapping, got {_type_name(raw)}"))
        return None
    r = _Reader(raw, where, problems)
    r.unknown_keys(_PARAM_FIELDS)
    kind = r.get("kind", lambda v: v in KINDS, "one of " + ", ".join(map(repr, KINDS)), "enum")
    choices: tuple[Any, ...] = ()
    if name in derived_choices:
        choices = derived_choices[name]
    elif kind == "enum":
        choices = tuple(
            r.get(
                "choices",
                lambda v: isinstance(v, (list, tuple)) and len(v) > 0 and len(set(v)) == len(v),
                "a non-empty list of distinct values",
                [],
            )
        )
    minimum = maximum = None
    if kind == "int":
        number = lambda v: v is None or _is_int(v)  # noqa: E731
        minimum = r.get("minimum", number, "a whole number or null", None)
        maximum = r.get("maximum", number, "a whole number or null", None)
        if minimum is not None and maximum is not None and minimum > maximum:
            r.fail("maximum", maximum, f">= minimum ({minimum})")
    ops = r.strings("operations", model_ops, allowed=model_ops)
    spec = ParamSpec(
        name=name,
        kind=kind,
        default=raw.get("default"),
        help=r.text("help", "", nonempty=False),
        choices=choices,
        minimum=minimum,
        maximum=maximum,
        operations=ops,
        send=r.flag("send", True),
        label=r.text("label", name.replace("_", " ").capitalize()),
    )
    why = _param_default_problem(spec)
    if why:
        r.fail("default", spec.default, why)
    return spec


def _derived_choices(
    presets: tuple[str, ...], size_auto: bool, transparent: bool, raw_params: Mapping[str, Any]
) -> dict[str, tuple[Any, ...]]:
    """Choices that follow from model-level fields, so each fact is stated once.

    ``size`` comes from ``size_auto`` + ``size_presets``; ``background`` gains or loses
    ``"transparent"`` with ``supports_transparent`` (the one flag to flip for gpt-image-2).
    """
    derived: dict[str, tuple[Any, ...]] = {"size": (("auto",) if size_auto else ()) + presets}
    background = raw_params.get("background")
    if isinstance(background, Mapping) and isinstance(background.get("choices"), (list, tuple)):
        choices = [c for c in background["choices"] if c != "transparent"]
        if transparent:
            choices.append("transparent")
        derived["background"] = tuple(choices)
    return derived


def _merge_param_defaults(
    raw_params: Mapping[str, Any], param_defaults: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for name, entry in raw_params.items():
        if isinstance(entry, Mapping):
            merged[name] = {**param_defaults.get(name, {}), **entry}
        else:
            merged[name] = entry
    return merged


def _parse_params(
    r: _Reader,
    ops: tuple[str, ...],
    presets: tuple[str, ...],
    size_auto: bool,
    transparent: bool,
    param_defaults: Mapping[str, Mapping[str, Any]],
) -> dict[str, ParamSpec]:
    raw = r.get("params", lambda v: isinstance(v, Mapping), "a mapping name -> param", {})
    raw = _merge_param_defaults(raw, param_defaults)
    derived = _derived_choices(presets, size_auto, transparent, raw)
    params: dict[str, ParamSpec] = {}
    for name, entry in raw.items():
        where = f"{r.where}.params.{name}"
        if not isinstance(name, str) or not name.isidentifier() or name in RESERVED_PARAMS:
            r.problems.append(
                Problem(
                    where,
                    name,
                    f"{where}: a param name must be an identifier other than "
                    + ", ".join(RESERVED_PARAMS),
                )
            )
            continue
        spec = _parse_param(name, entry, where, ops, derived, r.problems)
        if spec is not None:
            params[name] = spec
    return params


def _check_consistency(r: _Reader, spec: ModelSpec) -> None:
    """Cross-field rules of one model entry."""
    p = spec.params
    if (spec.size_presets or spec.size_auto or spec.custom_size) and "size" not in p:
        r.fail("params", sorted(p), "a mapping with a 'size' entry (the model has sizes)")
    if "size" in p and p["size"].kind != "size":
        r.fail("params.size.kind", p["size"].kind, "'size'")
    if "partial_images" in p and not spec.streaming:
        r.fail("streaming", spec.streaming, "true when the model has a partial_images param")
    declared = r.data.get("response_formats")
    if declared is not None and tuple(declared) != spec.response_formats:
        r.fail(
            "response_formats",
            declared,
            f"{list(spec.response_formats)} (params.response_format's choices)",
        )
    if any(op in spec.operations for op in ("edit", "variation")) and spec.max_reference_images < 1:
        r.fail(
            "max_reference_images",
            spec.max_reference_images,
            ">= 1 for a model with edit or variation",
        )
    for preset in spec.size_presets:
        if not _SIZE_RE.fullmatch(preset):
            r.fail("size_presets", preset, "a list of 'WIDTHxHEIGHT' strings like '1024x1536'")
    for alias in spec.aliases:
        if alias == spec.name:
            r.fail("aliases", alias, "names other than the model's own name")


def spec_from_dict(
    data: Mapping[str, Any],
    *,
    param_defaults: Mapping[str, Mapping[str, Any]] | None = None,
) -> ModelSpec:
    """Build a :class:`ModelSpec` from a dict shaped like a ``models.json`` entry.

    Parameters
    ----------
    data : Mapping
        The entry. With ``"base": "<registered model>"`` it is a partial dict laid over that
        model's entry (``params`` merge per parameter; a param set to ``None`` is removed).
    param_defaults : Mapping, optional
        Shared ``kind``/``label``/``help`` per param name; defaults to those of ``models.json``.

    Raises
    ------
    ValidationError
        Listing every malformed field by its path (``"my-model.params.n.maximum"``).
    """
    if not isinstance(data, Mapping):
        raise ValidationError(
            f"a model spec must be a ModelSpec or a dict like a models.json entry, "
            f"got {_type_name(data)}",
            param="spec",
            value=data,
        )
    if param_defaults is None:
        param_defaults = _builtin_param_defaults()
    if "base" in data:
        data = _lay_over_base(data)
    problems: list[Problem] = []
    name = data.get("name")
    where = name if isinstance(name, str) and name else "model"
    r = _Reader(data, where, problems)
    r.unknown_keys(_MODEL_FIELDS)
    name = r.text("name")
    ops = r.strings("operations", (), allowed=OPERATIONS)
    if not ops:
        r.fail(
            "operations",
            data.get("operations"),
            "a non-empty list among " + ", ".join(map(repr, OPERATIONS)),
        )
    presets = r.strings("size_presets", ())
    size_auto = r.flag("size_auto", False)
    transparent = r.flag("supports_transparent", False)
    params = _parse_params(r, ops, presets, size_auto, transparent, param_defaults)
    unsupported = r.get(
        "unsupported_params",
        lambda v: isinstance(v, Mapping) and all(isinstance(x, str) for x in (*v, *v.values())),
        "a mapping param -> reason (strings)",
        {},
    )
    spec = ModelSpec(
        name=name or "",
        label=r.text("label", name or ""),
        family=r.text("family", "gpt-image"),
        aliases=r.strings("aliases", ()),
        status=r.get(
            "status", lambda v: v in STATUSES, "one of " + ", ".join(map(repr, STATUSES)), "current"
        ),
        shutdown_date=_parse_date(r, "shutdown_date"),
        replacement=r.optional_text("replacement"),
        notes=r.text("notes", "", nonempty=False),
        operations=ops,
        params=_frozen(params),
        prompt_max_chars=r.whole("prompt_max_chars", minimum=1),
        size_presets=presets,
        size_auto=size_auto,
        custom_size=_parse_custom_size(r),
        max_reference_images=r.whole("max_reference_images", 0),
        max_image_bytes=r.whole("max_image_bytes", 50 * _MIB),
        image_formats=r.strings("image_formats", IMAGE_FORMATS, allowed=IMAGE_FORMATS),
        square_png_only=r.flag("square_png_only", False),
        supports_mask=r.flag("supports_mask", False),
        supports_transparent=transparent,
        streaming=r.flag("streaming", False),
        response_formats=tuple(params["response_format"].choices)
        if "response_format" in params
        else (),
        pixel_budget=r.get(
            "pixel_budget",
            lambda v: v is None or (_is_int(v) and v > 0),
            "a whole number > 0 or null",
            None,
        ),
        pricing=_parse_pricing(r),
        unsupported_params=_frozen(unsupported),
    )
    _check_consistency(r, spec)
    if problems:
        raise ValidationError(problems)
    return spec


def _lay_over_base(data: Mapping[str, Any]) -> dict[str, Any]:
    """A partial entry with ``"base"`` laid over the base model's full entry."""
    base_name = data["base"]
    try:
        base = get_model(base_name).to_dict()
    except ValidationError as exc:
        raise ValidationError(
            [Problem("base", base_name, f"base: {p.message}", p.allowed) for p in exc.problems]
        ) from None
    merged: dict[str, Any] = {**base, "aliases": [], "label": data.get("name", base["label"])}
    merged["notes"] = f"Derived from {base['name']}."
    for key, value in data.items():
        if key == "base":
            continue
        if key == "params" and isinstance(value, Mapping):
            params = dict(base["params"])
            for pname, entry in value.items():
                if entry is None:
                    params.pop(pname, None)
                elif isinstance(entry, Mapping) and isinstance(params.get(pname), Mapping):
                    params[pname] = {**params[pname], **entry}
                else:
                    params[pname] = entry
            merged["params"] = params
        else:
            merged[key] = value
    return merged


# --------------------------------------------------------------------------- built-in data


def _read_models_json() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("models.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


_BUILTIN_DOC = _read_models_json()


def _builtin_param_defaults() -> Mapping[str, Mapping[str, Any]]:
    defaults: Mapping[str, Mapping[str, Any]] = _BUILTIN_DOC.get("param_defaults", {})
    return defaults


def load_builtin_models() -> list[ModelSpec]:
    """The models of ``models.json``, freshly parsed, in file order (registry untouched).

    Raises
    ------
    ValidationError
        When ``models.json`` itself is malformed (every problem listed).
    """
    return [spec_from_dict(entry) for entry in _BUILTIN_DOC["models"]]


# --------------------------------------------------------------------------- registry


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
        known = _REGISTRY.names()
        raise ValidationError(
            [
                Problem(
                    "model",
                    name_or_alias,
                    f"unknown model {name_or_alias!r}"
                    f"{_did_you_mean(name_or_alias, known) or '.'} "
                    f"Known models: {', '.join(known)}. A new model can be added with "
                    "register_model({'name': ..., 'base': 'gpt-image-2'}).",
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


# --------------------------------------------------------------------------- docs table


def _status_cell(m: ModelSpec) -> str:
    when = m.shutdown_date.isoformat() if m.shutdown_date else ""
    if m.deprecated:
        return f"deprecated, shuts down {when}".rstrip()
    if m.shut_down:
        return f"shut down {when}".rstrip()
    return m.status


def _sizes_cell(m: ModelSpec) -> str:
    parts = list(m.size_choices)
    if m.custom_size:
        parts.append("custom WxH")
    return ", ".join(parts)


def _n_cell(m: ModelSpec) -> str:
    n = m.params.get("n")
    if n is None or n.minimum is None or n.maximum is None:
        return "1"
    return str(n.minimum) if n.minimum == n.maximum else f"{n.minimum}–{n.maximum}"


def _notable_cell(m: ModelSpec) -> str:
    notes = []
    if m.supports_transparent:
        notes.append("transparent background")
    if "input_fidelity" in m.params:
        notes.append("input_fidelity")
    if "style" in m.params:
        notes.append("style")
    if m.response_formats:
        notes.append("response_format")
    if m.streaming:
        notes.append("streaming")
    if m.supports_mask:
        notes.append("mask")
    if m.square_png_only:
        notes.append("square PNG inputs")
    return ", ".join(notes)


def _price_cell(m: ModelSpec) -> str:
    if m.pricing is None:
        return "unknown"
    prices = [
        (quality, sizes["1024x1024"])
        for quality, sizes in m.pricing.per_image.items()
        if "1024x1024" in sizes
    ]
    if not prices:
        return "unknown"
    return " / ".join(f"${usd:g} {quality}" for quality, usd in prices)


def models_markdown_table(models: Iterable[ModelSpec] | None = None) -> str:
    """The README's model table as Markdown.

    Parameters
    ----------
    models : iterable of ModelSpec, optional
        Defaults to :func:`list_models`.
    """
    header = ("model", "status", "operations", "sizes", "quality", "n", "notable params")
    rows = [
        "| " + " | ".join(header) + " | USD per 1024² image |",
        "|---" * (len(header) + 1) + "|",
    ]
    models = list_models() if models is None else list(models)
    for m in models:
        name = f"`{m.name}`" + "".join(f" (alias `{a}`)" for a in m.aliases)
        quality = m.params.get("quality")
        cells = [
            name,
            _status_cell(m),
            ", ".join(m.operations),
            _sizes_cell(m),
            ", ".join(map(str, quality.choices)) if quality else "",
            _n_cell(m),
            _notable_cell(m),
            _price_cell(m),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    as_of = sorted({m.pricing.as_of for m in models if m.pricing})
    footer = f"\nPrices are OpenAI list prices as of {', '.join(as_of)}." if as_of else ""
    return "\n".join(rows) + "\n" + footer + ("\n" if footer else "")


def replace_readme_block(readme: str, table: str) -> str:
    """``readme`` with the text between the models-table markers replaced by ``table``.

    Raises
    ------
    ValidationError
        When the markers are missing or out of order.
    """
    start, end = readme.find(_README_START), readme.find(_README_END)
    if start < 0 or end < start:
        raise ValidationError(
            f"README has no {_README_START} ... {_README_END} block; add both markers",
            param="readme",
        )
    head = readme[: start + len(_README_START)]
    return f"{head}\n{table.rstrip()}\n{readme[end:]}"


def readme_block(readme: str) -> str:
    """The text between the models-table markers (stripped), or ``""`` without markers."""
    start, end = readme.find(_README_START), readme.find(_README_END)
    if start < 0 or end < start:
        return ""
    return readme[start + len(_README_START) : end].strip()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gptimage_widgets.catalog --markdown | --json | --update-readme PATH``."""
    parser = argparse.ArgumentParser(prog="python -m gptimage_widgets.catalog")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--markdown", action="store_true", help="print the README model table")
    group.add_argument("--json", action="store_true", help="print every model as JSON")
    group.add_argument("--update-readme", metavar="PATH", help="rewrite the table block in PATH")
    args = parser.parse_args(argv)
    if args.markdown:
        sys.stdout.write(models_markdown_table())
    elif args.json:
        json.dump([m.to_dict() for m in list_models()], sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        with open(args.update_readme, encoding="utf-8") as f:
            text = f.read()
        with open(args.update_readme, "w", encoding="utf-8") as f:
            f.write(replace_readme_block(text, models_markdown_table()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
