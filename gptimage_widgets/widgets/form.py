"""The model-aware parameter form: form logic over the catalog, validation and pricing.

:class:`ParameterForm` is a thin, declarative view over the catalog: every control comes from
a :class:`~gptimage_widgets.catalog.ParamSpec` of the chosen model and operation (built by
``widgets/_controls.py``), every rule comes from :mod:`~gptimage_widgets.validation`, every
price from :mod:`~gptimage_widgets.pricing`, the lifecycle notice from the catalog. There is
no per-model code here. This module owns what happens between the controls: switching models
(values kept where the new model allows them), loading parameters atomically, publishing
``params``/``problems``/``valid``/``cost``, and showing each problem under its control. The
form never blocks, never talks HTTP and never sees an API key.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import ipywidgets as widgets
import traitlets

from .. import catalog, pricing, validation
from ..catalog import ModelSpec
from ..errors import GPTImageError, Problem, ValidationError
from ..pricing import CostEstimate
from ._controls import (
    LABEL_WIDTH,
    Control,
    make_control,
    problems_html,
    quoted,
    sendable,
    set_or_error,
)

__all__ = ["ParameterForm"]

BANNER_STYLES = {
    "deprecated": "background:#fff3cd;color:#664d03;border:1px solid #ffe69c",
    "shutdown": "background:#f8d7da;color:#58151c;border:1px solid #f1aeb5",
    "preview": "background:#e7f1ff;color:#052c65;border:1px solid #b6d4fe",
}
STATUS_MARKS = {"deprecated": " (deprecated)", "shutdown": " (shut down)", "preview": " (preview)"}


# --------------------------------------------------------------------------- pure helpers


def cost_text(estimate: CostEstimate | None, params: Mapping[str, Any]) -> str:
    """The cost label, e.g. ``"~$0.053 (medium, 1024x1024 x1)"``, or ``"price unknown"``.

    Parameters
    ----------
    estimate : CostEstimate or None
        From :func:`~gptimage_widgets.pricing.estimate_cost`; ``None`` when no price is known.
    params : mapping
        The request parameters; ``quality``, ``size`` and ``n`` are shown when present.
    """
    if estimate is None:
        return "price unknown"
    details = [str(params[k]) for k in ("quality", "size") if params.get(k) is not None]
    basis = ", ".join(details)
    basis = f"{basis} x{params.get('n') or 1}" if basis else f"x{params.get('n') or 1}"
    if estimate.high_usd - estimate.low_usd > 0.0005:
        basis += f"; ${estimate.low_usd:.3f}–${estimate.high_usd:.3f}"
    return f"~${estimate.usd:.3f} ({basis})"


def _model_options() -> list[tuple[str, str]]:
    return [
        (spec.name + STATUS_MARKS.get(spec.status, ""), spec.name)
        for spec in catalog.list_models(include_shutdown=True)
    ]


def _operation_options(spec: ModelSpec, operation: str) -> list[tuple[str, str]]:
    options = [(op, op) for op in spec.operations]
    if operation not in spec.operations:
        options.append((f"{operation} (not supported by {spec.name})", operation))
    return options


def _is_input_problem(problem: Problem, prompt_given: bool) -> bool:
    """Problems about inputs the form does not hold: images, mask, a prompt not typed yet."""
    name = problem.param
    missing_prompt = name == "prompt" and not prompt_given
    return missing_prompt or name in ("images", "mask") or name.startswith(("images[", "mask["))


# --------------------------------------------------------------------------- the form


class ParameterForm(widgets.VBox):
    """A form that offers exactly the parameters a model accepts, validated live.

    Parameters
    ----------
    model : str
        Model name or alias (``"gpt-image-2"``); unknown names raise ``ValidationError``.
    operation : str
        ``"generate"``, ``"edit"`` or ``"variation"``.
    **kwargs
        Passed to ``ipywidgets.VBox``.

    Attributes
    ----------
    model, operation, prompt : str (traits)
        Set ``model`` to switch models: the controls are swapped in one ``children``
        assignment, values the new model still allows are kept, the others fall back to
        the new model's defaults. ``prompt`` is validated and priced but not shown.
    reference_images : int (trait)
        Number of input images (for the price and the per-model limit).
    has_mask : bool (trait)
        Whether a mask will be sent (models without mask support then show a problem).
    params : dict (read-only trait)
        What the client should receive: only parameters the model and operation accept that
        are sent, custom sizes as ``"WxH"``, unset values left out.
    values : dict (read-only trait)
        Every control's value, including ones never sent (``seed``); ``None`` = unset.
    problems : list of Problem (read-only trait)
        Every problem found by :func:`~gptimage_widgets.validation.check`, each also shown
        in red under its control.
    valid : bool (read-only trait)
        ``problems == []``; observe it to enable a Generate button.
    cost : CostEstimate or None (read-only trait)
    disabled : bool (trait)
        Disables every control (e.g. while a request is in flight).
    """

    model = traitlets.Unicode("gpt-image-2")
    operation = traitlets.Unicode("generate")
    prompt = traitlets.Unicode("")
    reference_images = traitlets.Int(0)
    has_mask = traitlets.Bool(False)
    disabled = traitlets.Bool(False)
    params = traitlets.Dict(read_only=True)
    values = traitlets.Dict(read_only=True)
    problems: traitlets.List[Problem] = traitlets.List(read_only=True)
    valid = traitlets.Bool(False, read_only=True)
    cost = traitlets.Any(None, read_only=True)

    def __init__(
        self, model: str = "gpt-image-2", operation: str = "generate", **kwargs: Any
    ) -> None:
        spec = catalog.get_model(model)
        validation.require_operation(operation)
        self._ready = False
        self._controls: dict[str, Control] = {}
        self._spec: ModelSpec = spec
        self.model_picker = widgets.Dropdown(
            description="Model", tooltip="Image model", style={"description_width": LABEL_WIDTH}
        )
        self.operation_picker = widgets.Dropdown(description="Operation")
        self.banner = widgets.HTML(value="", layout=widgets.Layout(display="none"))
        self.general_errors = widgets.HTML(value="", layout=widgets.Layout(display="none"))
        self.cost_label = widgets.HTML(value="")
        super().__init__(**kwargs)
        self.set_trait("model", spec.name)
        self.set_trait("operation", operation)
        self._commit(*self._prepare(spec, operation, {}, {}))
        self.model_picker.observe(self._on_model_picked, names="value")
        self.operation_picker.observe(self._on_operation_picked, names="value")
        self._ready = True

    # ------------------------------------------------------------------ public API

    @property
    def spec(self) -> ModelSpec:
        """The :class:`~gptimage_widgets.catalog.ModelSpec` the controls were built from."""
        return self._spec

    @property
    def controls(self) -> dict[str, widgets.Widget]:
        """Parameter name -> its main input widget (set ``.value`` to drive the form)."""
        return {name: control.input for name, control in self._controls.items()}

    def control(self, name: str) -> Control:
        """The control of parameter ``name`` (with ``.input``, ``.error``, ``.row``)."""
        try:
            return self._controls[name]
        except KeyError:
            raise ValidationError(
                f"{self._spec.name} has no {name!r} control for {self.operation!r}; "
                f"it has {quoted(self._controls)}",
                param=name,
            ) from None

    def error_text(self, name: str) -> str:
        """The problems shown under parameter ``name`` (``""`` when it has none)."""
        return "; ".join(p.message for p in self.problems if p.param == name)

    def set_params(self, params: Mapping[str, Any]) -> list[str]:
        """Load values, e.g. from a history entry, in one atomic update.

        Parameters
        ----------
        params : mapping
            Parameter values by the client's names; may also hold ``model``, ``operation``
            and ``prompt``. A value the model rejects but the control can show (a custom
            size of 1000x1000) is loaded and shown as a problem.

        Returns
        -------
        list of str
            The names that were ignored because the model and operation take no such
            parameter (``images``, ``mask`` and ``response_format`` on GPT models...).

        Raises
        ------
        ValidationError
            When a value cannot be shown at all (an unknown model, a quality outside the
            choices, an int outside the control's range); nothing is changed then.
        """
        values = dict(params)
        spec = catalog.get_model(values.pop("model", None) or self.model)
        operation = str(values.pop("operation", None) or self.operation)
        validation.require_operation(operation)
        prompt = values.pop("prompt", None)
        keep = self._current_values() if spec.name == self._spec.name else {}
        controls, ignored = self._prepare(spec, operation, keep, values)
        self._ready = False
        try:
            with self.hold_trait_notifications():
                self.set_trait("model", spec.name)
                self.set_trait("operation", operation)
                if prompt is not None:
                    self.set_trait("prompt", str(prompt))
                self._commit(controls, ignored)
        finally:
            self._ready = True
        return ignored

    # ------------------------------------------------------------------ traits

    @traitlets.validate("model")
    def _validate_model(self, proposal: Any) -> str:
        return str(catalog.get_model(proposal["value"]).name)

    @traitlets.validate("operation")
    def _validate_operation(self, proposal: Any) -> str:
        return validation.require_operation(proposal["value"])

    @traitlets.observe("model", "operation")
    def _on_model_or_operation(self, _change: Any) -> None:
        if not self._ready:
            return
        spec = catalog.get_model(self.model)
        keep = self._current_values()
        self._commit(*self._prepare(spec, self.operation, keep, {}))

    @traitlets.observe("prompt", "reference_images", "has_mask")
    def _on_context(self, _change: Any) -> None:
        if self._ready:
            self._refresh()

    @traitlets.observe("disabled")
    def _on_disabled(self, change: Any) -> None:
        self._apply_disabled(bool(change["new"]))

    def _on_model_picked(self, change: Any) -> None:
        if self._ready and change["new"] and change["new"] != self.model:
            self.model = change["new"]

    def _on_operation_picked(self, change: Any) -> None:
        if self._ready and change["new"] and change["new"] != self.operation:
            self.operation = change["new"]

    def _on_value(self, _change: Any) -> None:
        if self._ready:
            self._refresh()

    # ------------------------------------------------------------------ building

    def _current_values(self) -> dict[str, Any]:
        return {name: control.get() for name, control in self._controls.items()}

    def _prepare(
        self,
        spec: ModelSpec,
        operation: str,
        keep: Mapping[str, Any],
        load: Mapping[str, Any],
    ) -> tuple[dict[str, Control], list[str]]:
        """Build the new control set off-screen; nothing visible changes here.

        ``keep`` values are kept where the model allows them (else the default stays);
        ``load`` values must fit their control (else ``ValidationError``, nothing changed).
        Returns the controls and the ``load`` names the model does not take.
        """
        params = spec.params_for(operation) if spec.supports(operation) else {}
        controls = {name: make_control(p, spec) for name, p in params.items()}
        kept = [n for n, v in keep.items() if n in controls and controls[n].allows(v)]
        for name in kept:
            controls[name].set(keep[name])
        self._drop_incompatible(spec, operation, controls, kept)
        misfits = [
            Problem(name, value, str(exc), ())
            for name, value in load.items()
            if name in controls
            for exc in set_or_error(controls[name], value)
        ]
        if misfits:
            raise ValidationError(misfits)
        return controls, sorted(set(load) - set(controls))

    @staticmethod
    def _drop_incompatible(
        spec: ModelSpec, operation: str, controls: Mapping[str, Control], kept: list[str]
    ) -> None:
        """Reset kept values that break a cross-parameter rule of the new model."""
        if not kept or not spec.supports(operation):
            return
        params = sendable(controls)
        flagged = {p.param for p in _check(spec.name, operation, params)}
        for name in kept:
            if name in flagged:
                controls[name].reset()

    def _commit(self, controls: dict[str, Control], _ignored: list[str]) -> None:
        """Show ``controls`` (one ``children`` assignment) and publish the new state."""
        spec = catalog.get_model(self.model)
        for control in controls.values():
            control.observe(self._on_value)
            control.set_disabled(self.disabled)
        was_ready, self._ready = self._ready, False
        try:
            with self.hold_sync(), self.hold_trait_notifications():
                self._spec = spec
                self._controls = controls
                self._update_header(spec)
                self.children = (
                    self.model_picker,
                    self.operation_picker,
                    self.banner,
                    self.general_errors,
                    *(control.row for control in controls.values()),
                    self.cost_label,
                )
                self._refresh()
        finally:
            self._ready = was_ready

    def _update_header(self, spec: ModelSpec) -> None:
        self.model_picker.options = _model_options()
        self.model_picker.value = spec.name
        self.operation_picker.options = _operation_options(spec, self.operation)
        self.operation_picker.value = self.operation
        text, status = catalog.status_banner(spec)
        style = BANNER_STYLES.get(status, "")
        self.banner.value = (
            f'<div style="{style};padding:4px 8px;border-radius:4px">{html.escape(text)}</div>'
            if text
            else ""
        )
        self.banner.layout.display = None if text else "none"

    def _apply_disabled(self, disabled: bool) -> None:
        self.model_picker.disabled = disabled
        self.operation_picker.disabled = disabled
        for control in self._controls.values():
            control.set_disabled(disabled)

    # ------------------------------------------------------------------ live state

    def _refresh(self) -> None:
        """Recompute params, problems, validity and cost; show problems inline."""
        values = self._current_values()
        params = sendable(self._controls)
        problems = self._problems(params)
        self._show_problems(problems)
        estimate = self._estimate(params)
        with self.hold_trait_notifications():
            self.set_trait("values", values)
            self.set_trait("params", params)
            self.set_trait("problems", problems)
            self.set_trait("valid", not problems)
            self.set_trait("cost", estimate)
        self.cost_label.value = html.escape(cost_text(estimate, params))
        self.cost_label.tooltip = getattr(estimate, "basis", "") or "no price data for this model"

    def _problems(self, params: Mapping[str, Any]) -> list[Problem]:
        """Problems of the parameters and the prompt; input images are the studio's job.

        An empty prompt is not a problem of the form (nothing typed yet); a too long or
        blank one is. Image and mask limits are checked from ``reference_images`` and
        ``has_mask``.
        """
        prompt_given = self.prompt != ""
        extra = {"prompt": self.prompt} if prompt_given else {}
        found = _check(self._spec.name, self.operation, params, **extra)
        problems = [p for p in found if not _is_input_problem(p, prompt_given)]
        return problems + self._context_problems(self._spec)

    def _context_problems(self, spec: ModelSpec) -> list[Problem]:
        """The catalog's input rules, from the studio's counts (images, mask), not the inputs.

        No images yet (0) is not a problem of the form, like a prompt not typed yet.
        """
        images = self.reference_images or None
        return validation.input_count_problems(spec, self.operation, images, has_mask=self.has_mask)

    def _show_problems(self, problems: list[Problem]) -> None:
        by_param: dict[str, list[str]] = {name: [] for name in self._controls}
        general: list[str] = []
        for problem in problems:
            by_param.get(problem.param, general).append(problem.message)
        for name, control in self._controls.items():
            control.set_error(by_param[name])
        self.general_errors.value = problems_html(general)
        self.general_errors.layout.display = None if general else "none"

    def _estimate(self, params: Mapping[str, Any]) -> CostEstimate | None:
        try:
            return pricing.estimate_cost(
                self._spec.name,
                self.operation,
                size=params.get("size"),
                quality=params.get("quality"),
                n=params.get("n") or 1,
                prompt=self.prompt,
                reference_images=self.reference_images,
                partial_images=params.get("partial_images") or 0,
            )
        except GPTImageError:
            return None


def _check(model: str, operation: str, params: Mapping[str, Any], **extra: Any) -> list[Problem]:
    """``validation.check``, with an error it raises turned into its problems."""
    try:
        return list(validation.check(model, operation, **params, **extra))
    except ValidationError as exc:
        return list(exc.problems)
