"""Spec types of the catalog: what one model accepts, as frozen dataclasses.

:class:`ModelSpec` (one model), :class:`ParamSpec` (one settable parameter),
:class:`CustomSizeRules` and :class:`Pricing`, plus the vocabularies they use
(:data:`OPERATIONS`, :data:`STATUSES`, :data:`KINDS`...). Values come from
``models.json`` through :mod:`gptimage_widgets.catalog.loading`; this module holds no facts
about any model. Pure module: stdlib only.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from . import lifecycle

Operation = Literal["generate", "edit", "variation"]
OPERATIONS: tuple[str, ...] = ("generate", "edit", "variation")
STATUSES: tuple[str, ...] = lifecycle.STATUSES
KINDS: tuple[str, ...] = ("enum", "int", "bool", "str", "size")
IMAGE_FORMATS: tuple[str, ...] = ("png", "jpeg", "webp")
#: Inputs validated on their own, never catalog params.
RESERVED_PARAMS: tuple[str, ...] = ("prompt", "images", "mask", "model")


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

    Every value comes from ``models.json`` (a model's ``custom_size``, laid over the file's
    ``custom_size_defaults``); nothing here restates a limit.

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

    multiple_of: int
    max_edge: int
    max_ratio: float
    min_pixels: int
    max_pixels: int

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
        """A one-line lifecycle notice, or None for a current model.

        See :func:`gptimage_widgets.catalog.lifecycle.status_message`.
        """
        return lifecycle.status_message(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict shaped like a ``models.json`` entry; round-trips through
        :func:`register_model` / :func:`spec_from_dict`."""
        params = {name: p.to_dict() for name, p in self.params.items()}
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
