"""Loading: ``models.json`` and model dicts into :class:`~.specs.ModelSpec` objects.

:func:`spec_from_dict` reads one entry (shaped like a ``models.json`` model), collecting
every malformed field as a :class:`~gptimage_widgets.errors.Problem` with its path
(``"my-model.params.n.maximum"``) before raising them together; :func:`load_builtin_models`
parses the file shipped in the package. Shared per-param fields come from the file's
``param_defaults``, custom-size limits from its ``custom_size_defaults``: every limit is
stated in ``models.json`` only. Pure module: stdlib only.
"""

from __future__ import annotations

import datetime
import difflib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources
from typing import Any

from ..errors import Problem, ValidationError
from .lifecycle import parse_date
from .sizes import parse_size
from .specs import (
    IMAGE_FORMATS,
    KINDS,
    OPERATIONS,
    RESERVED_PARAMS,
    STATUSES,
    CustomSizeRules,
    ModelSpec,
    ParamSpec,
    Pricing,
    _frozen,
)

__all__ = ["load_builtin_models", "spec_from_dict"]

_MIB = 1024 * 1024


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
    try:
        return parse_date(value)
    except ValueError:
        reader.fail(key, value, "an ISO date like '2026-12-01' or null")
        return None


def _parse_custom_size(reader: _Reader) -> CustomSizeRules | None:
    """A model's ``custom_size``: null/false (none), true (the file's
    ``custom_size_defaults``) or a mapping laid over those defaults."""
    value = reader.data.get("custom_size")
    if value is None or value is False:
        return None
    if isinstance(value, CustomSizeRules):
        return value
    if value is True:
        value = {}
    if not isinstance(value, Mapping):
        reader.fail("custom_size", value, "null, true or a mapping of custom size rules")
        return None
    sub = _Reader(value, f"{reader.where}.custom_size", reader.problems)
    sub.unknown_keys(CustomSizeRules.__dataclass_fields__)
    base = _BUILTIN_DOC["custom_size_defaults"]
    ratio = sub.get(
        "max_ratio", lambda v: _is_number(v) and v >= 1, "a number >= 1", base["max_ratio"]
    )
    rules = CustomSizeRules(
        multiple_of=sub.whole("multiple_of", base["multiple_of"], minimum=1),
        max_edge=sub.whole("max_edge", base["max_edge"], minimum=1),
        max_ratio=float(ratio),
        min_pixels=sub.whole("min_pixels", base["min_pixels"], minimum=1),
        max_pixels=sub.whole("max_pixels", base["max_pixels"], minimum=1),
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


def _is_wxh(text: str) -> bool:
    """Whether ``text`` is a ``"WIDTHxHEIGHT"`` size (not ``"auto"``)."""
    try:
        return parse_size(text) is not None
    except ValidationError:
        return False


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
        if not _is_wxh(preset):
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
    from .registry import get_model  # the registry imports this module

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


def _read_models_json() -> dict[str, Any]:
    package = resources.files(__package__.rpartition(".")[0])
    text = package.joinpath("models.json").read_text(encoding="utf-8")
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
