"""ParameterForm, driven through its real traits and widgets (no browser)."""

from __future__ import annotations

import datetime
import html
import itertools
from typing import Any

import ipywidgets as widgets
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gptimage_widgets import catalog, pricing, validation
from gptimage_widgets.errors import ValidationError
from gptimage_widgets.widgets.form import ParameterForm, cost_text

MODELS = [spec.name for spec in catalog.list_models()]
PAIRS = list(itertools.product(MODELS, MODELS))
CUSTOM = "custom"
FORM_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


INPUT_IMAGE = np.zeros((64, 64, 3), dtype=np.uint8)


def inputs_for(operation: str) -> dict[str, Any]:
    """What the studio adds to the form's params: a prompt and/or input images."""
    prompt = {"prompt": "a lighthouse at dusk"} if operation != "variation" else {}
    images = {"images": [INPUT_IMAGE]} if operation != "generate" else {}
    return {**prompt, **images}


def check_form(form: ParameterForm) -> list[Any]:
    """``validation.check`` on exactly what a studio would send from this form."""
    return validation.check(form.model, form.operation, **inputs_for(form.operation), **form.params)


def spec_of(name: str) -> catalog.ModelSpec:
    return catalog.get_model(name)


def first_model(predicate: Any) -> str:
    return next(spec.name for spec in catalog.list_models() if predicate(spec))


def allowed_by_spec(spec: catalog.ModelSpec, param: catalog.ParamSpec, value: Any) -> bool:
    """Whether the model allows ``value`` for ``param`` on its own (None = not set)."""
    if value is None:
        return param.default is None
    if param.kind == "enum":
        return value in param.choices
    if param.kind == "int":
        low, high = param.minimum, param.maximum
        return (low is None or value >= low) and (high is None or value <= high)
    if param.kind == "size":
        return value in param.choices or not validation.size_problems(spec, value)
    return True


def assert_consistent(form: ParameterForm) -> None:
    """The form shows exactly the model's params, with values the model accepts."""
    spec = spec_of(form.model)
    params = spec.params_for(form.operation)
    assert set(form.controls) == set(params)
    for name, param in params.items():
        assert allowed_by_spec(spec, param, form.values[name]), (spec.name, name)
    assert set(form.params) <= {n for n, p in params.items() if p.send}
    assert all(value is not None for value in form.params.values())


def choose_custom_size(form: ParameterForm, width: int, height: int) -> None:
    size = form.control("size")
    size.input.value = CUSTOM
    size.width.value = width
    size.height.value = height


# --------------------------------------------------------------------------- building


@pytest.mark.parametrize("model", MODELS)
def test_controls_come_from_the_catalog_for_every_operation(model: str) -> None:
    spec = spec_of(model)
    for operation in spec.operations:
        form = ParameterForm(model, operation)
        params = spec.params_for(operation)
        assert list(form.controls) == list(params)
        for name, param in params.items():
            widget = form.controls[name]
            assert widget.tooltip, f"{model}.{name} has no tooltip"
            if param.kind in ("enum", "size"):
                assert isinstance(widget, widgets.Dropdown)
            elif param.kind == "int":
                assert isinstance(widget, (widgets.IntSlider, widgets.BoundedIntText))
            elif param.kind == "bool":
                assert isinstance(widget, (widgets.Checkbox, widgets.Dropdown))
            elif param.kind == "str":
                assert isinstance(widget, widgets.Text)
        assert form.problems == []
        assert form.valid
        assert_consistent(form)
        assert check_form(form) == []


def test_rows_are_children_and_each_has_a_hidden_error_label() -> None:
    form = ParameterForm()
    for name in form.controls:
        control = form.control(name)
        assert control.row in form.children
        assert control.error.layout.display == "none"


def test_unknown_model_and_operation_raise_validation_error() -> None:
    with pytest.raises(ValidationError, match="gpt-image-2"):
        ParameterForm("gpt-image-99")
    form = ParameterForm()
    with pytest.raises(ValidationError, match="generate"):
        form.operation = "paint"
    with pytest.raises(ValidationError):
        form.model = "nope"
    assert form.model == "gpt-image-2"


def test_alias_resolves_to_the_model_name() -> None:
    spec = first_model(lambda s: s.aliases)
    form = ParameterForm(spec_of(spec).aliases[0])
    assert form.model == spec


# --------------------------------------------------------------------------- switching


@pytest.mark.parametrize(("source", "target"), PAIRS)
def test_switching_every_pair_from_defaults_gives_a_valid_form(source: str, target: str) -> None:
    form = ParameterForm(source)
    form.model = target
    assert form.model == target
    assert_consistent(form)
    assert form.problems == []
    assert form.valid
    assert check_form(form) == []


def _valid_value(param: catalog.ParamSpec) -> st.SearchStrategy[Any]:
    """A value the parameter allows on its own (None where the default is None)."""
    unset = st.none() if param.default is None else st.nothing()
    if param.kind in ("enum", "size"):
        return unset | st.sampled_from(param.choices)
    if param.kind == "int" and param.maximum is not None:
        return unset | st.integers(param.minimum or 0, min(param.maximum, 1000))
    if param.kind == "bool":
        return unset | st.booleans()
    return st.just(param.default)


@st.composite
def switch_case(draw: st.DrawFn) -> tuple[str, str, str, dict[str, Any]]:
    source, target = draw(st.sampled_from(PAIRS))
    operations = sorted(set(spec_of(source).operations) & set(spec_of(target).operations))
    operation = draw(st.sampled_from(operations))
    values = {
        name: draw(_valid_value(p)) for name, p in spec_of(source).params_for(operation).items()
    }
    return source, target, operation, values


@FORM_SETTINGS
@given(switch_case())
def test_switching_keeps_what_the_new_model_allows_and_resets_the_rest(
    case: tuple[str, str, str, dict[str, Any]],
) -> None:
    source, target, operation, values = case
    form = ParameterForm(source, operation)
    form.set_params(values)
    start_valid = form.valid
    before = dict(form.values)
    form.model = target
    assert_consistent(form)
    spec = spec_of(target)
    params = spec.params_for(operation)
    candidate = {
        n: before[n] if n in before and allowed_by_spec(spec, p, before[n]) else p.default
        for n, p in params.items()
    }
    sent = {n: v for n, v in candidate.items() if v is not None and params[n].send}
    flagged = {
        p.param for p in validation.check(target, operation, **inputs_for(operation), **sent)
    }
    for name, param in params.items():
        if name in flagged:
            assert form.values[name] in (candidate[name], param.default)
        else:
            assert form.values[name] == candidate[name], name
    if start_valid:
        assert form.problems == []
        assert check_form(form) == []


def test_switch_is_one_children_assignment_and_never_shows_a_mixed_state() -> None:
    form = ParameterForm("gpt-image-2")
    seen: list[tuple[str, str]] = []

    def record(change: Any) -> None:
        spec = spec_of(form.model)
        assert set(form.controls) == set(spec.params_for(form.operation))
        assert check_form(form) == []
        seen.append((change["name"], form.model))

    form.observe(record, names=["children", "params", "model", "valid"])
    for target in ["dall-e-2", "gpt-image-1.5", "dall-e-3", "gpt-image-2"]:
        seen.clear()
        form.model = target
        assert [model for _, model in seen] == [target] * len(seen)
        assert [name for name, _ in seen].count("children") == 1


def test_quality_is_kept_across_compatible_switches_and_reset_otherwise() -> None:
    target = "gpt-image-1.5"
    form = ParameterForm("gpt-image-2")
    form.controls["quality"].value = "high"
    form.model = target
    assert form.params["quality"] == "high"
    form.model = "dall-e-2"
    assert form.params["quality"] == spec_of("dall-e-2").params["quality"].default == "standard"
    form.model = "gpt-image-2"
    assert form.params["quality"] == spec_of("gpt-image-2").params["quality"].default


def test_custom_size_is_kept_only_by_models_that_accept_it() -> None:
    custom = [s.name for s in catalog.list_models() if s.custom_size]
    fixed = first_model(lambda s: not s.custom_size and "generate" in s.operations)
    form = ParameterForm(custom[0])
    choose_custom_size(form, 1280, 720)
    assert form.params["size"] == "1280x720" and form.valid
    for other in custom[1:]:
        form.model = other
        assert form.params["size"] == "1280x720"
        assert form.control("size").custom_box.layout.display is None
    form.model = fixed
    assert form.params["size"] == spec_of(fixed).params["size"].default


def test_model_picker_lists_every_model_marks_lifecycle_and_switches() -> None:
    form = ParameterForm()
    form.show_retired = True
    labels = dict((value, label) for label, value in form.model_picker.options)
    assert sorted(labels) == sorted(MODELS)
    live = [name for name in MODELS if not spec_of(name).shut_down]
    assert list(labels)[: len(live)] == live, "models OpenAI serves come first, in order"
    for spec in catalog.list_models():
        if spec.shut_down:
            assert "shut down" in labels[spec.name]
        elif spec.deprecated:
            assert "deprecated" in labels[spec.name]
    form.model_picker.value = "dall-e-3"
    assert form.model == "dall-e-3"
    assert set(form.controls) == set(spec_of("dall-e-3").params_for("generate"))


# --------------------------------------------------------------------------- lifecycle


def picker_names(form: ParameterForm) -> list[str]:
    return [value for _label, value in form.model_picker.options]


def test_retired_models_are_behind_the_toggle_and_never_the_default() -> None:
    retired = [name for name in MODELS if spec_of(name).shut_down]
    live = [name for name in MODELS if not spec_of(name).shut_down]
    assert retired and live, "as of 2026-12 the catalog holds both (dall-e-*, gpt-image-1.5)"
    form = ParameterForm()
    assert not spec_of(form.model).shut_down and form.model == "gpt-image-2"
    assert form.banner.layout.display == "none"
    assert picker_names(form) == live and picker_names(form)[0] == live[0]
    assert form.retired_toggle.layout.display is None and form.retired_toggle.value is False
    assert form.retired_toggle in form.children
    form.retired_toggle.value = True  # the checkbox drives the trait
    assert form.show_retired and picker_names(form) == live + retired
    labels = [label for label, _value in form.model_picker.options]
    assert all(label.endswith("(shut down)") for label in labels[len(live) :])
    assert form.model == "gpt-image-2", "showing retired models changes no choice"
    form.show_retired = False  # the trait drives the checkbox
    assert form.retired_toggle.value is False and picker_names(form) == live


def test_a_form_built_with_a_retired_model_works_and_shows_the_notice() -> None:
    name = next(n for n in MODELS if spec_of(n).shut_down and spec_of(n).replacements)
    spec = spec_of(name)
    form = ParameterForm(name)
    assert form.model == name and form.model_picker.value == name
    assert name in picker_names(form) and picker_names(form)[-1] == name
    assert not any(spec_of(n).shut_down for n in picker_names(form)[:-1])
    assert form.banner.layout.display is None
    assert html.escape(catalog.status_banner(spec)[0]) in form.banner.value
    assert "shut down" in form.banner.value and spec.replacements[0] in form.banner.value
    form.prompt = "a lighthouse at dusk"
    assert form.valid and check_form(form) == []
    form.model_picker.value = "gpt-image-2"
    assert form.banner.layout.display == "none" and name not in picker_names(form)


def test_model_picker_follows_the_date(monkeypatch: pytest.MonkeyPatch) -> None:
    """gpt-image-1.5: deprecated (listed, marked) on 2026-11-30, retired on 2026-12-02."""
    monkeypatch.setattr(catalog.lifecycle, "today", lambda: BEFORE_SHUTDOWN)
    form = ParameterForm()
    labels = dict((value, label) for label, value in form.model_picker.options)
    assert labels["gpt-image-1.5"] == "gpt-image-1.5 (deprecated)"
    assert "dall-e-3" not in labels  # shut down 2026-05-12
    monkeypatch.setattr(catalog.lifecycle, "today", lambda: AFTER_SHUTDOWN)
    form = ParameterForm()
    assert "gpt-image-1.5" not in picker_names(form)
    form.show_retired = True
    assert "gpt-image-1.5" in picker_names(form)
    monkeypatch.setattr(catalog.lifecycle, "today", lambda: datetime.date(2026, 1, 1))
    form = ParameterForm()
    assert picker_names(form) == MODELS, "nothing retired yet: every model, no toggle"
    assert form.retired_toggle.layout.display == "none"


def is_2_6(spec: catalog.ModelSpec) -> bool:
    return spec.name.startswith("gpt-image-2.6")


def test_complexity_is_offered_by_every_2_6_model_and_no_other() -> None:
    assert sum(is_2_6(spec) for spec in catalog.list_models()) >= 2
    for spec in catalog.list_models():
        for operation in spec.operations:
            form = ParameterForm(spec.name, operation)
            offered = "complexity" in form.controls
            assert offered == is_2_6(spec), (spec.name, operation)
            if offered:
                assert form.params["complexity"] == "high"
                values = {value for _label, value in form.controls["complexity"].options}
                assert values >= {"low", "medium", "high"}
                form.controls["complexity"].value = "low"
                assert form.params["complexity"] == "low" and form.valid


def test_no_model_offers_a_seed() -> None:
    for spec in catalog.list_models():
        for operation in spec.operations:
            form = ParameterForm(spec.name, operation)
            assert "seed" not in form.controls and "seed" not in form.values, spec.name


def test_operation_unsupported_by_the_new_model_is_a_problem_not_a_silent_switch() -> None:
    no_edit = first_model(lambda s: "edit" not in s.operations)
    form = ParameterForm("gpt-image-2", "edit")
    form.model = no_edit
    assert form.operation == "edit"
    assert not form.valid
    assert [p.param for p in form.problems] == ["operation"]
    assert "edit" in form.general_errors.value and form.general_errors.layout.display is None
    form.operation = "generate"
    assert form.valid and form.general_errors.layout.display == "none"


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize("model", MODELS)
def test_custom_entry_exists_only_for_models_with_custom_size(model: str) -> None:
    form = ParameterForm(model)
    values = [value for _, value in form.controls["size"].options]
    assert (CUSTOM in values) == (spec_of(model).custom_size is not None)
    assert [v for v in values if v != CUSTOM] == list(spec_of(model).params["size"].choices)
    assert form.control("size").custom_box.layout.display == "none"


def test_width_and_height_show_only_for_custom() -> None:
    form = ParameterForm("gpt-image-2")
    size = form.control("size")
    size.input.value = "1536x1024"
    size.input.value = CUSTOM
    assert size.custom_box.layout.display is None
    assert (size.width.value, size.height.value) == (1536, 1024)  # prefilled from the preset
    assert form.params["size"] == "1536x1024"
    size.input.value = "1024x1024"
    assert size.custom_box.layout.display == "none"
    assert form.params["size"] == "1024x1024"


def test_bad_custom_size_shows_inline_error_and_fixing_it_clears_it() -> None:
    form = ParameterForm("gpt-image-2")
    validity: list[bool] = []
    form.observe(lambda change: validity.append(change["new"]), names="valid")
    choose_custom_size(form, 1000, 1000)
    expected = validation.check("gpt-image-2", prompt="a cat", size="1000x1000")
    assert expected, "1000x1000 must be rejected (not a multiple of 16)"
    assert not form.valid and validity[-1] is False
    assert [p.param for p in form.problems] == ["size"]
    error = form.control("size").error
    assert error.layout.display is None
    assert "1000x1000" in error.value and "16" in error.value
    assert form.error_text("size") == expected[0].message
    form.control("size").width.value = 1024
    form.control("size").height.value = 1024
    assert form.valid and validity[-1] is True
    assert form.problems == [] and error.layout.display == "none" and error.value == ""


# --------------------------------------------------------------------------- banner, cost


BEFORE_SHUTDOWN = datetime.date(2026, 11, 30)  # gpt-image-1.5 and 1-mini: deprecated
AFTER_SHUTDOWN = datetime.date(2026, 12, 2)  # ... and shut down


@pytest.mark.parametrize(
    ("status", "day"), [("deprecated", BEFORE_SHUTDOWN), ("shutdown", AFTER_SHUTDOWN)]
)
def test_lifecycle_banner_names_date_and_replacement(
    status: str, day: datetime.date, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catalog.lifecycle, "today", lambda: day)
    spec = spec_of(first_model(lambda s: s.status == status))
    form = ParameterForm(spec.name)
    assert form.banner.layout.display is None
    text = form.banner.value
    assert spec.shutdown_date is not None and spec.shutdown_date.isoformat() in text
    assert spec.replacements and all(name in text for name in spec.replacements)
    assert html.escape(catalog.status_banner(spec)[0]) in text
    if status == "deprecated":
        assert "deprecated" in text and "shuts it down" in text
    else:
        assert "shut down" in text and "compatible endpoints" in text


def test_no_banner_for_a_current_model() -> None:
    form = ParameterForm(first_model(lambda s: s.status == "current"))
    assert form.banner.layout.display == "none" and form.banner.value == ""


def test_cost_label_follows_quality_and_n() -> None:
    form = ParameterForm("gpt-image-2")
    form.controls["size"].value = "1024x1024"
    form.controls["quality"].value = "medium"
    medium = form.cost
    expected = pricing.estimate_cost("gpt-image-2", size="1024x1024", quality="medium", n=1)
    assert medium == expected and medium is not None
    assert form.cost_label.value == cost_text(expected, form.params)
    assert form.cost_label.value.startswith(f"~${expected.usd:.3f} (medium, 1024x1024 x1")
    form.controls["quality"].value = "high"
    assert form.cost.usd > medium.usd
    high_label = form.cost_label.value
    form.controls["n"].value = 3
    assert form.cost.usd == pytest.approx(
        pricing.estimate_cost("gpt-image-2", size="1024x1024", quality="high", n=3).usd
    )
    assert "x3" in form.cost_label.value and form.cost_label.value != high_label


def test_cost_label_says_price_unknown_without_price_data() -> None:
    catalog.register_model({"name": "unpriced", "base": "gpt-image-2", "pricing": None})
    try:
        assert pricing.estimate_cost("unpriced") is None
        form = ParameterForm("unpriced")
        assert form.cost is None and form.cost_label.value == "price unknown"
        form.model = "gpt-image-2"
        assert form.cost is not None and form.cost_label.value.startswith("~$")
    finally:
        catalog.unregister_model("unpriced")
    assert catalog.find_model("unpriced") is None


# --------------------------------------------------------------------------- params, values


def test_params_feed_validation_validate_and_omit_unset_and_unsent_values() -> None:
    form = ParameterForm("gpt-image-2")
    form.prompt = "a lighthouse at dusk"
    validation.validate(form.model, form.operation, prompt=form.prompt, **form.params)
    assert "output_compression" not in form.params and form.values["output_compression"] is None
    assert "user" not in form.params
    ignored = form.set_params({"seed": 42, "output_format": "jpeg", "output_compression": 80})
    assert ignored == ["seed"], "no model takes a seed: it is ignored, not shown"
    assert "seed" not in form.values and "seed" not in form.params
    assert form.params["output_compression"] == 80 and form.params["output_format"] == "jpeg"
    validation.validate(form.model, form.operation, prompt=form.prompt, **form.params)


def test_optional_int_is_sent_only_when_ticked() -> None:
    form = ParameterForm("gpt-image-2")
    control = form.control("output_compression")
    assert control.input.disabled
    form.controls["output_format"].value = "webp"
    control.toggle.value = True
    assert not control.input.disabled
    control.input.value = 55
    assert form.params["output_compression"] == 55
    control.toggle.value = False
    assert "output_compression" not in form.params


def test_too_long_prompt_is_a_problem() -> None:
    spec = spec_of("dall-e-2")
    form = ParameterForm(spec.name)
    form.prompt = "x" * (spec.prompt_max_chars + 1)
    assert not form.valid and "prompt" in [p.param for p in form.problems]
    assert form.general_errors.layout.display is None
    form.prompt = "a cat"
    assert form.valid


def test_set_params_loads_a_history_entry_atomically() -> None:
    form = ParameterForm("gpt-image-2")
    changes: list[str] = []
    form.observe(lambda change: changes.append(change["name"]), names=["children"])
    ignored = form.set_params(
        {
            "model": "gpt-image-1.5",
            "prompt": "a red fox",
            "quality": "low",
            "size": "1536x1024",
            "n": 2,
            "images": ["..."],
        }
    )
    assert ignored == ["images"]
    assert form.model == "gpt-image-1.5" and form.prompt == "a red fox"
    assert form.params["quality"] == "low" and form.params["size"] == "1536x1024"
    assert form.params["n"] == 2
    assert changes == ["children"]


def test_set_params_rejects_values_the_controls_cannot_hold_and_changes_nothing() -> None:
    form = ParameterForm("gpt-image-2")
    before = dict(form.values)
    with pytest.raises(ValidationError) as info:
        form.set_params({"model": "dall-e-2", "quality": "ultra", "n": 99})
    assert sorted(info.value.params) == ["n", "quality"]
    assert "ultra" in str(info.value) and "standard" in str(info.value)
    assert form.model == "gpt-image-2" and form.values == before


def test_set_params_can_load_a_custom_size_the_model_rejects_and_shows_it() -> None:
    form = ParameterForm("gpt-image-2")
    form.set_params({"size": "1000x1000"})
    assert form.control("size").custom and form.params["size"] == "1000x1000"
    assert not form.valid and form.error_text("size")


def test_reference_image_and_mask_limits_come_from_the_catalog() -> None:
    spec = spec_of("dall-e-2")
    form = ParameterForm(spec.name, "edit")
    form.reference_images = spec.max_reference_images + 1
    assert "images" in [p.param for p in form.problems] and not form.valid
    form.reference_images = 1
    assert form.valid
    no_mask = first_model(lambda s: not s.supports_mask and "generate" in s.operations)
    form = ParameterForm(no_mask)
    form.has_mask = True
    assert [p.param for p in form.problems] == ["mask"]


def test_disabled_disables_every_input_and_reenabling_restores_optional_state() -> None:
    form = ParameterForm("gpt-image-2")
    form.disabled = True
    assert form.model_picker.disabled
    assert all(w.disabled for c in form.controls for w in form.control(c).inputs)
    form.disabled = False
    assert not form.controls["quality"].disabled
    assert form.control("output_compression").input.disabled  # still unticked
    form.model = "dall-e-2"
    form.disabled = True
    form.model = "gpt-image-2"
    assert all(w.disabled for c in form.controls for w in form.control(c).inputs)


def test_a_fixed_int_stays_read_only_after_reenabling() -> None:
    fixed = next(
        (spec.name, name)
        for spec in catalog.list_models()
        for name, p in spec.params_for("generate").items()
        if p.kind == "int" and p.minimum is not None and p.minimum == p.maximum
    )
    form = ParameterForm(fixed[0])
    assert form.controls[fixed[1]].disabled
    form.disabled = True
    form.disabled = False
    assert form.controls[fixed[1]].disabled
    assert form.params[fixed[1]] == spec_of(fixed[0]).params[fixed[1]].minimum


def test_mask_with_several_reference_images_is_valid_and_a_wrong_size_is_flagged() -> None:
    """A mask with several images applies to the first (OpenAI's edits reference): the form
    accepts it; a mask whose size differs from the first image is flagged by the same rules
    the client applies before sending."""
    form = ParameterForm("gpt-image-2", "edit")
    form.prompt = "add a red door"
    form.reference_images = 2
    assert form.valid
    form.has_mask = True
    assert form.valid and form.problems == []
    first = np.zeros((64, 48, 3), dtype=np.uint8)
    second = np.zeros((32, 32, 3), dtype=np.uint8)
    fitting = np.zeros((64, 48), dtype=bool)
    images = [first, second]
    assert (
        validation.check(
            form.model, "edit", prompt=form.prompt, images=images, mask=fitting, **form.params
        )
        == []
    )
    wrong = np.zeros((32, 32), dtype=bool)  # the second image's size, not the first's
    problems = validation.check(
        form.model, "edit", prompt=form.prompt, images=images, mask=wrong, **form.params
    )
    assert [p.param for p in problems] == ["mask"]
    assert "32x32" in problems[0].message and "48x64" in problems[0].message
    assert "images[0]" in problems[0].message
    with pytest.raises(ValidationError) as raised:
        validation.validate(
            form.model, "edit", prompt=form.prompt, images=images, mask=wrong, **form.params
        )
    assert [p.param for p in raised.value.problems] == ["mask"]
    form.reference_images = 1
    assert form.valid


def test_a_mask_without_mask_support_is_shown_before_generate() -> None:
    """The count rules still flag a mask where the model takes none."""
    no_mask = [
        s.name
        for s in catalog.list_models()
        if s.supports("edit") and validation.input_count_problems(s, "edit", 1, has_mask=True)
    ]
    for name in no_mask:
        form = ParameterForm(name, "edit")
        form.reference_images = 1
        form.has_mask = True
        assert "mask" in [p.param for p in form.problems] and not form.valid, name
