"""The parameter form's controls: one ipywidgets control per catalog parameter.

Each :class:`Control` shows one :class:`~gptimage_widgets.catalog.ParamSpec` and translates
between its widget's value and the parameter's value (``None`` = not set, left out of the
request). :func:`make_control` picks the control by the parameter's ``kind``:

* ``enum`` -> ``Dropdown`` (a "default" entry first when the default is ``None``)
* ``int`` -> ``IntSlider`` for short ranges, ``BoundedIntText``/``IntText`` otherwise; when
  the default is ``None`` a checkbox in front says whether to send it at all
* ``bool`` -> ``Checkbox`` (a three-way dropdown when the default is ``None``)
* ``str`` -> ``Text`` (empty = not set)
* ``size`` -> ``Dropdown`` of ``auto`` (when allowed), the presets and ``Custom`` (only when
  the model accepts custom sizes), with width/height boxes shown only for ``Custom``

Controls know what their widget can *show* (choices, int ranges, the custom-size box from the
catalog's ``CustomSizeRules``); whether a value is *valid* is asked of
:mod:`gptimage_widgets.validation` (``size_problems``), and "WxH" text is read by the
catalog's one parser, ``catalog.parse_size``. The form logic (model switching, live
validation, cost) is in ``widgets/form.py``.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import ipywidgets as widgets

from .. import catalog, validation
from ..catalog import CustomSizeRules, ModelSpec, ParamSpec
from ..errors import ValidationError

__all__ = [
    "ERROR_STYLE",
    "LABEL_WIDTH",
    "Control",
    "make_control",
    "problems_html",
    "quoted",
    "sendable",
    "set_or_error",
]

#: Longest int range still shown as a slider; wider ranges get a text box.
SLIDER_MAX_RANGE = 100
#: Width of the controls' labels: room for the longest catalog label ("Partial images").
LABEL_WIDTH = "110px"
#: Inline style of the problems shown in red under a control.
ERROR_STYLE = "color:#c62828;font-size:0.9em"
NOT_SENT_NOTE = "Shown for your notes only: never sent to the API."


def problems_html(messages: list[str]) -> str:
    """Messages in red, one per line (escaped), or ``""`` for none."""
    text = "<br>".join(html.escape(m) for m in messages)
    return f'<span style="{ERROR_STYLE}">{text}</span>' if messages else ""


class Unset:
    """Dropdown value meaning "leave this parameter out" (``None`` means no selection)."""

    def __repr__(self) -> str:
        return "<unset>"


UNSET = Unset()
CUSTOM = "custom"


class Control:
    """One parameter's control: the input widget(s), an inline error label and a row.

    Subclasses translate between the widget's value and the parameter's value, where
    ``None`` always means "not set" (omitted from the request).
    """

    def __init__(
        self, param: ParamSpec, inputs: list[widgets.Widget], body: widgets.Widget
    ) -> None:
        self.param = param
        self.inputs = inputs
        for widget in inputs:  # room for the longest catalog label ("Partial images")
            if "description_width" in getattr(widget.style, "keys", ()):
                widget.style.description_width = LABEL_WIDTH
        self.error = widgets.HTML(value="", layout=widgets.Layout(display="none"))
        self.row = widgets.VBox([body, self.error])

    @property
    def input(self) -> widgets.Widget:
        """The main input widget (the one whose ``value`` to set in a test or a studio)."""
        return self.inputs[0]

    def get(self) -> Any:
        raise NotImplementedError

    def set(self, value: Any) -> None:
        """Show ``value``; raise ``ValidationError`` when the control cannot hold it."""
        raise NotImplementedError

    def fits(self, value: Any) -> bool:
        """Whether the control can show ``value`` (it may still break a cross-param rule)."""
        raise NotImplementedError

    def allows(self, value: Any) -> bool:
        """Whether the model accepts ``value`` for this parameter on its own."""
        return self.fits(value)

    def reset(self) -> None:
        self.set(self.param.default)

    def observe(self, callback: Callable[[Any], None]) -> None:
        for widget in self.inputs:
            widget.observe(callback, names="value")

    def set_error(self, messages: list[str]) -> None:
        """Show ``messages`` in red under the control, or hide the label when empty."""
        self.error.value = problems_html(messages)
        self.error.layout.display = None if messages else "none"

    def set_disabled(self, disabled: bool) -> None:
        for widget in self.inputs:
            widget.disabled = disabled

    def _cannot_hold(self, value: Any, allowed: str) -> ValidationError:
        return ValidationError(
            f"{self.param.name} {value!r} cannot be set on this form; use {allowed}",
            param=self.param.name,
            value=value,
        )


class EnumControl(Control):
    def __init__(self, param: ParamSpec) -> None:
        options: list[tuple[str, Any]] = [(str(c), c) for c in param.choices]
        if param.default is None:
            options.insert(0, ("(default)", UNSET))
        dropdown = widgets.Dropdown(
            options=options, description=param.label, tooltip=tooltip(param)
        )
        super().__init__(param, [dropdown], dropdown)
        self.reset()

    def get(self) -> Any:
        value = self.input.value
        return None if value is UNSET else value

    def fits(self, value: Any) -> bool:
        return value is None or value in self.param.choices

    def set(self, value: Any) -> None:
        if not self.fits(value):
            raise self._cannot_hold(value, "one of " + quoted(self.param.choices))
        self.input.value = UNSET if value is None else value


class BoolControl(Control):
    def __init__(self, param: ParamSpec) -> None:
        widget: widgets.Widget
        if param.default is None:
            options = [("(default)", UNSET), ("yes", True), ("no", False)]
            widget = widgets.Dropdown(
                options=options, description=param.label, tooltip=tooltip(param)
            )
        else:
            widget = widgets.Checkbox(description=param.label, tooltip=tooltip(param), indent=True)
        super().__init__(param, [widget], widget)
        self.reset()

    def get(self) -> Any:
        value = self.input.value
        return None if value is UNSET else bool(value)

    def fits(self, value: Any) -> bool:
        return isinstance(value, bool) or (value is None and self.param.default is None)

    def set(self, value: Any) -> None:
        if not self.fits(value):
            raise self._cannot_hold(value, "True or False")
        self.input.value = UNSET if value is None else value


class TextControl(Control):
    def __init__(self, param: ParamSpec) -> None:
        text = widgets.Text(description=param.label, tooltip=tooltip(param))
        super().__init__(param, [text], text)
        self.reset()

    def get(self) -> Any:
        return self.input.value or None

    def fits(self, value: Any) -> bool:
        return value is None or isinstance(value, str)

    def set(self, value: Any) -> None:
        if not self.fits(value):
            raise self._cannot_hold(value, "a string")
        self.input.value = value or ""


class IntControl(Control):
    """An int; with a "send it" checkbox in front when the parameter's default is ``None``."""

    def __init__(self, param: ParamSpec) -> None:
        self.optional = param.default is None
        number = int_widget(param, description="" if self.optional else param.label)
        inputs: list[widgets.Widget] = [number]
        body: widgets.Widget = number
        self.toggle: widgets.Checkbox | None = None
        if self.optional:
            self.toggle = widgets.Checkbox(
                description=param.label, tooltip=tooltip(param), indent=True
            )
            self.toggle.layout.width = "auto"
            self.toggle.observe(self._sync_enabled, names="value")
            inputs.append(self.toggle)
            body = widgets.HBox([self.toggle, number])
        super().__init__(param, inputs, body)
        self.reset()

    def _sync_enabled(self, _change: Any = None) -> None:
        if self.toggle is not None:
            self.input.disabled = not self.toggle.value

    def get(self) -> Any:
        if self.toggle is not None and not self.toggle.value:
            return None
        return int(self.input.value)

    def fits(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if isinstance(value, bool) or not isinstance(value, int):
            return False
        low, high = self.param.minimum, self.param.maximum
        return (low is None or value >= low) and (high is None or value <= high)

    def set(self, value: Any) -> None:
        if not self.fits(value):
            raise self._cannot_hold(value, f"an integer in {range_text(self.param)}")
        if value is not None:
            self.input.value = value
        if self.toggle is not None:
            self.toggle.value = value is not None
            self._sync_enabled()

    def set_disabled(self, disabled: bool) -> None:
        super().set_disabled(disabled)
        if self.param.minimum is not None and self.param.minimum == self.param.maximum:
            self.input.disabled = True  # a fixed value (dall-e-3's n) is never editable
        elif not disabled:
            self._sync_enabled()


class SizeControl(Control):
    """Size presets in a dropdown, plus width/height boxes for ``Custom`` sizes."""

    def __init__(self, param: ParamSpec, model: ModelSpec) -> None:
        self.model_spec = model
        self.rules = model.custom_size
        choices = size_choices(param, model)
        options: list[tuple[str, Any]] = [(c, c) for c in choices]
        if param.default is None:
            options.insert(0, ("(default)", UNSET))
        if self.rules is not None:
            options.append(("Custom…", CUSTOM))
        self.choices = choices
        dropdown = widgets.Dropdown(
            options=options, description=param.label, tooltip=tooltip(param)
        )
        # width/height boxes only for models with custom sizes, bounded by their rules
        rules = self.rules
        edges = [] if rules is None else [_edge_box(n, rules) for n in ("Width", "Height")]
        self.width: widgets.BoundedIntText | None = edges[0] if edges else None
        self.height: widgets.BoundedIntText | None = edges[1] if edges else None
        self.custom_box = widgets.HBox(edges, layout=widgets.Layout(display="none"))
        dropdown.observe(self._show_custom_box, names="value")
        body = widgets.VBox([dropdown, self.custom_box])
        super().__init__(param, [dropdown, *edges], body)
        self.reset()

    def _edges(self) -> tuple[widgets.BoundedIntText, widgets.BoundedIntText]:
        """The width and height boxes (only reached when the model has custom sizes)."""
        if self.width is None or self.height is None:
            raise AssertionError(f"{self.model_spec.name} has no custom sizes")
        return self.width, self.height

    @property
    def custom(self) -> bool:
        """Whether ``Custom`` is selected (the width/height boxes are showing)."""
        return bool(self.input.value == CUSTOM)

    def _show_custom_box(self, change: Any) -> None:
        if change["new"] == CUSTOM and change["old"] not in (CUSTOM, UNSET):
            parsed = catalog.parse_size(str(change["old"]))
            if parsed is not None:
                width, height = self._edges()
                width.value, height.value = parsed
        self.custom_box.layout.display = None if change["new"] == CUSTOM else "none"

    def get(self) -> Any:
        value = self.input.value
        if value is UNSET:
            return None
        if value == CUSTOM:
            width, height = self._edges()
            return f"{width.value}x{height.value}"
        return value

    def _parse_custom(self, value: Any) -> tuple[int, int] | None:
        if self.rules is None or not isinstance(value, str) or value in self.choices:
            return None
        try:
            parsed = catalog.parse_size(value)
        except ValidationError:
            return None
        if parsed is None:
            return None
        box = self._edges()[0]
        return parsed if all(box.min <= edge <= box.max for edge in parsed) else None

    def fits(self, value: Any) -> bool:
        if value is None:
            return self.param.default is None
        return value in self.choices or self._parse_custom(value) is not None

    def allows(self, value: Any) -> bool:
        if value in self.choices or (value is None and self.param.default is None):
            return True
        if self._parse_custom(value) is None:
            return False
        return not validation.size_problems(self.model_spec, value)

    def set(self, value: Any) -> None:
        if not self.fits(value):
            allowed = quoted(self.choices)
            if self.rules is not None:
                allowed += " or a custom 'WIDTHxHEIGHT'"
            raise self._cannot_hold(value, allowed)
        custom = self._parse_custom(value)
        if custom is not None:
            width, height = self._edges()
            width.value, height.value = custom
            self.input.value = CUSTOM
        else:
            self.input.value = UNSET if value is None else value


def _edge_box(name: str, rules: CustomSizeRules) -> widgets.BoundedIntText:
    """A width or height box for custom sizes, bounded and stepped by the catalog's rules."""
    step, high = rules.multiple_of, rules.max_edge
    tip = f"{name} in pixels (custom sizes: multiples of {step}, at most {high})"
    box = widgets.BoundedIntText(
        value=min(1024, high), min=step, max=high, step=step, description=name, tooltip=tip
    )
    box.layout.width = "180px"
    return box


def size_choices(param: ParamSpec, model: ModelSpec) -> tuple[str, ...]:
    """``auto`` (when allowed) then the presets, in display order, without duplicates."""
    return tuple(dict.fromkeys(str(c) for c in param.choices or model.size_choices))


def int_widget(param: ParamSpec, *, description: str) -> widgets.Widget:
    low, high = param.minimum, param.maximum
    start = param.default if param.default is not None else (low if low is not None else 0)
    common = {"description": description, "tooltip": tooltip(param), "value": start}
    if low is None or high is None:
        return widgets.IntText(**common)
    if low == high:
        return widgets.BoundedIntText(min=low, max=high, disabled=True, **common)
    if high - low <= SLIDER_MAX_RANGE:
        return widgets.IntSlider(min=low, max=high, continuous_update=False, **common)
    return widgets.BoundedIntText(min=low, max=high, **common)


def make_control(param: ParamSpec, model: ModelSpec) -> Control:
    """The control for one parameter, chosen by its kind (the only dispatch in the form)."""
    if param.kind == "size":
        return SizeControl(param, model)
    factories: dict[str, Callable[[Any], Control]] = {
        "enum": EnumControl,
        "int": IntControl,
        "bool": BoolControl,
        "str": TextControl,
    }
    factory = factories.get(param.kind)
    if factory is None:
        raise ValidationError(
            f"parameter {param.name!r} of {model.name} has kind {param.kind!r}; the form "
            f"knows {quoted([*factories, 'size'])}: fix the catalog entry",
            param=param.name,
            value=param.kind,
        )
    return factory(param)


def tooltip(param: ParamSpec) -> str:
    text = param.help or param.label
    if not param.send and "not sent" not in text.lower():
        text = f"{text} {NOT_SENT_NOTE}".strip()
    return str(text)


def quoted(values: Iterable[Any]) -> str:
    return ", ".join(repr(v) for v in values)


def range_text(param: ParamSpec) -> str:
    low = "-inf" if param.minimum is None else param.minimum
    high = "inf" if param.maximum is None else param.maximum
    return f"[{low}, {high}]"


def set_or_error(control: Control, value: Any) -> list[ValidationError]:
    try:
        control.set(value)
    except ValidationError as exc:
        return [exc]
    return []


def sendable(controls: Mapping[str, Control]) -> dict[str, Any]:
    """The values the client should receive: sent params that are set."""
    values = {name: control.get() for name, control in controls.items() if control.param.send}
    return {name: value for name, value in values.items() if value is not None}
