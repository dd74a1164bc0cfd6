"""The catalog: models.json as OpenAI's docs state it, the registry, its rule homes
(sizes, defaults, lifecycle) and the docs table."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gptimage_widgets as giw
from gptimage_widgets.catalog import (
    ModelSpec,
    apply_shutdown_dates,
    find_model,
    get_model,
    largest_output_pixels,
    lifecycle,
    list_models,
    load_builtin_models,
    load_overlay,
    models_markdown_table,
    parse_date,
    parse_size,
    register_model,
    replace_readme_block,
    resolve_params,
    retirement_problem,
    spec_from_dict,
    status_banner,
    status_label,
    unavailable_model_hint,
    unregister_model,
)
from gptimage_widgets.errors import ValidationError

D = datetime.date
NEWEST = ("gpt-image-2.6-flare", "gpt-image-2.6-sunburst")
# Lifecycle as dates (https://platform.openai.com/docs/deprecations, amended 2026-11):
# (notice date, OpenAI shutdown date, Azure shutdown date, replacements).
LIFECYCLE = {
    "gpt-image-2.6-flare": (None, None, None, ()),
    "gpt-image-2.6-sunburst": (None, None, None, ()),
    "gpt-image-2.5-flare": (None, None, None, ()),
    "gpt-image-2.5-sunburst": (None, None, None, ()),
    "gpt-image-2": (None, None, None, ()),
    "gpt-image-1.5": (D(2026, 6, 2), D(2026, 12, 1), D(2026, 12, 16), NEWEST),
    "gpt-image-1": (None, D(2026, 10, 23), D(2026, 10, 23), ("gpt-image-2",)),
    "gpt-image-1-mini": (D(2026, 6, 2), D(2026, 12, 1), D(2026, 12, 16), NEWEST),
    "chatgpt-image-latest": (D(2026, 6, 2), D(2026, 12, 1), D(2026, 12, 16), NEWEST),
    "dall-e-3": (None, D(2026, 5, 12), D(2026, 5, 12), ("gpt-image-2",)),
    "dall-e-2": (None, D(2026, 5, 12), D(2026, 5, 12), ("gpt-image-2",)),
}
# The status at OpenAI on a few days: (day, {model: status}); models not listed are current.
STATUS_ON = [
    (D(2026, 5, 1), {"gpt-image-1": "deprecated", "dall-e-3": "deprecated",
                     "dall-e-2": "deprecated"}),
    (D(2026, 6, 2), {"gpt-image-1.5": "deprecated", "gpt-image-1-mini": "deprecated",
                     "chatgpt-image-latest": "deprecated", "gpt-image-1": "deprecated",
                     "dall-e-3": "shutdown", "dall-e-2": "shutdown"}),
    (D(2026, 11, 30), {"gpt-image-1.5": "deprecated", "gpt-image-1-mini": "deprecated",
                       "chatgpt-image-latest": "deprecated", "gpt-image-1": "shutdown",
                       "dall-e-3": "shutdown", "dall-e-2": "shutdown"}),
    (D(2026, 12, 2), {"gpt-image-1.5": "shutdown", "gpt-image-1-mini": "shutdown",
                      "chatgpt-image-latest": "shutdown", "gpt-image-1": "shutdown",
                      "dall-e-3": "shutdown", "dall-e-2": "shutdown"}),
]  # fmt: skip
# Prices (https://openai.com/api/pricing/): (text in, image in, image out, text out),
# per image at 1024x1024 by quality.
TOKEN_RATES = {
    "gpt-image-2.6-flare": (5, 8, 30, None),
    "gpt-image-2.6-sunburst": (5, 8, 30, None),
    "gpt-image-2.5-flare": (5, 8, 30, None),
    "gpt-image-2.5-sunburst": (5, 8, 30, None),
    "gpt-image-2": (5, 8, 30, None),
    "gpt-image-1.5": (5, 8, 32, 10),
    "gpt-image-1": (5, 10, 40, None),
    "gpt-image-1-mini": (2, 2.5, 8, None),
}
# The 2.5/2.6 per-image numbers are a third-party measurement of gpt-image-2.5-flare
# (2026-09-26), kept as an estimate until OpenAI publishes per-image prices.
MEASURED_25 = {"low": 0.006, "medium": 0.013, "high": 0.053, "xhigh": 0.094, "max": 0.211}
PER_IMAGE = {
    **dict.fromkeys(("gpt-image-2.6-flare", "gpt-image-2.6-sunburst"), MEASURED_25),
    **dict.fromkeys(("gpt-image-2.5-flare", "gpt-image-2.5-sunburst"), MEASURED_25),
    "gpt-image-2": {"low": 0.006, "medium": 0.053, "high": 0.211},
    "gpt-image-1.5": {"low": 0.009, "medium": 0.034, "high": 0.133},
    "gpt-image-1": {"low": 0.011, "medium": 0.042, "high": 0.167},
    "gpt-image-1-mini": {"low": 0.005, "medium": 0.011, "high": 0.036},
}
OUTPUT_TOKENS_BEFORE_GPT2 = {
    "low": {"1024x1024": 272, "1024x1536": 408, "1536x1024": 400},
    "medium": {"1024x1024": 1056, "1024x1536": 1584, "1536x1024": 1568},
    "high": {"1024x1024": 4160, "1024x1536": 6240, "1536x1024": 6208},
}


@pytest.fixture
def on_day(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Set the catalog's clock: ``on_day(D(2026, 12, 2))``."""

    def set_day(day: datetime.date) -> None:
        monkeypatch.setattr(lifecycle, "today", lambda: day)

    return set_day


@pytest.fixture
def cleanup() -> Any:
    """Names registered by a test, unregistered afterwards even when it fails."""
    names: list[str] = []
    yield names
    for name in names:
        with contextlib.suppress(ValidationError):
            unregister_model(name)


# --------------------------------------------------------------------------- the data


def test_builtin_models_in_order() -> None:
    assert [m.name for m in load_builtin_models()] == list(LIFECYCLE)
    assert [m.name for m in list_models()][: len(LIFECYCLE)] == list(LIFECYCLE)


@pytest.mark.parametrize("name", LIFECYCLE)
def test_lifecycle_dates(name: str) -> None:
    spec = get_model(name)
    dates = (spec.deprecation_date, spec.shutdown_date, spec.shutdown_date_for("azure"))
    assert (*dates, spec.replacements) == LIFECYCLE[name]
    assert spec.replacement == (spec.replacements[0] if spec.replacements else None)
    assert spec.declared_status == "current"


@pytest.mark.parametrize(("day", "expected"), STATUS_ON, ids=lambda v: str(v)[:10])
def test_status_is_a_function_of_the_day(
    on_day: Any, day: datetime.date, expected: dict[str, str]
) -> None:
    on_day(day)
    for spec in load_builtin_models():
        status = expected.get(spec.name, "current")
        assert (spec.name, spec.status, spec.status_on(day)) == (spec.name, status, status)
        assert spec.deprecated == (status == "deprecated")
        assert spec.shut_down == (status == "shutdown")


def test_azure_follows_its_own_shutdown_date() -> None:
    spec = get_model("gpt-image-1.5")
    assert spec.status_on(D(2026, 12, 10), "azure") == "deprecated"
    assert spec.status_on(D(2026, 12, 10)) == "shutdown"
    assert spec.status_on(D(2026, 12, 16), "azure") == "shutdown"
    assert get_model("gpt-image-1").status_on(D(2026, 11, 1), "azure") == "shutdown"


def test_a_passed_date_wins_over_the_data_status(cleanup: list[str]) -> None:
    cleanup.append("says-current")
    spec = register_model(
        {"name": "says-current", "base": "gpt-image-2", "status": "preview",
         "shutdown_date": "2026-01-01", "deprecation_date": "2025-12-01"}
    )  # fmt: skip
    assert spec.declared_status == "preview"
    assert spec.status_on(D(2025, 11, 1)) == "preview"
    assert spec.status_on(D(2025, 12, 1)) == "deprecated"
    assert spec.status_on(D(2026, 1, 1)) == "shutdown"
    cleanup.append("says-shutdown")
    undated = register_model({"name": "says-shutdown", "base": "gpt-image-2", "status": "shutdown"})
    assert undated.status_on(D(2000, 1, 1)) == "shutdown"  # no date: the data decides


def test_status_messages(on_day: Any) -> None:
    on_day(D(2026, 11, 30))
    assert get_model("gpt-image-2").status_message() is None
    assert get_model("gpt-image-1.5").status_message() == (
        "Deprecated: shuts down 2026-12-01 (Azure OpenAI: 2026-12-16); "
        "use gpt-image-2.6-flare or gpt-image-2.6-sunburst"
    )
    message = get_model("dall-e-3").status_message() or ""
    assert message.startswith("Shut down at OpenAI on 2026-05-12")
    assert message.endswith("use gpt-image-2")
    on_day(D(2026, 12, 2))
    message = get_model("gpt-image-1.5").status_message() or ""
    assert message.startswith("Shut down at OpenAI on 2026-12-01 (Azure OpenAI: 2026-12-16)")


def test_list_models_can_leave_out_shut_down_models(on_day: Any) -> None:
    on_day(D(2026, 11, 30))
    names = [m.name for m in list_models(include_shutdown=False)]
    assert "gpt-image-1" not in names and "dall-e-2" not in names
    assert "gpt-image-1.5" in names  # deprecated is not shut down yet
    on_day(D(2026, 12, 2))
    assert "gpt-image-1.5" not in [m.name for m in list_models(include_shutdown=False)]


def test_the_2_5_snapshots_are_aliases() -> None:
    for name in ("gpt-image-2.5-flare", "gpt-image-2.5-sunburst"):
        assert get_model(f"{name}-2026-09-08") is get_model(name)
    assert get_model("gpt-image-1.5-2025-12-16") is get_model("gpt-image-1.5")


def test_the_2_5_and_2_6_parameters() -> None:
    for name in (*NEWEST, "gpt-image-2.5-flare", "gpt-image-2.5-sunburst"):
        spec = get_model(name)
        assert spec.params["quality"].choices == ("low", "medium", "high", "xhigh", "max", "auto")
        assert spec.supports_transparent and "transparent" in spec.params["background"].choices
        assert spec.custom_size == get_model("gpt-image-2").custom_size
        assert "input_fidelity" not in spec.params and "input_fidelity" in spec.unsupported_params
        has_complexity = name in NEWEST
        assert ("complexity" in spec.params) == has_complexity
        if has_complexity:
            complexity = spec.params["complexity"]
            assert complexity.choices == ("low", "medium", "high") and complexity.default == "high"
            assert complexity.operations == ("generate", "edit")


def test_only_the_2_6_models_take_complexity() -> None:
    takers = [m.name for m in load_builtin_models() if "complexity" in m.params]
    assert takers == list(NEWEST)


def test_alias_resolves_to_the_snapshot_model() -> None:
    assert get_model("gpt-image-2-2026-04-21") is get_model("gpt-image-2")
    assert giw.get_model("gpt-image-2").aliases == ("gpt-image-2-2026-04-21",)


@pytest.mark.parametrize("name", TOKEN_RATES)
def test_token_prices(name: str) -> None:
    pricing = get_model(name).pricing
    assert pricing is not None
    assert pricing.as_of == ("2026-12-03" if name.startswith("gpt-image-2.") else "2026-11-01")
    rates = (pricing.text_input, pricing.image_input, pricing.image_output, pricing.text_output)
    assert rates == TOKEN_RATES[name]
    assert {q: s["1024x1024"] for q, s in pricing.per_image.items()} == PER_IMAGE[name]
    expected_tokens = (
        {} if name in PER_IMAGE and name.startswith("gpt-image-2") else (OUTPUT_TOKENS_BEFORE_GPT2)
    )
    assert {q: dict(s) for q, s in pricing.output_tokens.items()} == expected_tokens


def test_dall_e_prices_and_unknown_prices() -> None:
    d3 = get_model("dall-e-3").pricing
    d2 = get_model("dall-e-2").pricing
    assert d3 is not None and d2 is not None
    assert dict(d3.per_image["standard"]) == {
        "1024x1024": 0.04,
        "1792x1024": 0.08,
        "1024x1792": 0.08,
    }
    assert dict(d3.per_image["hd"]) == {"1024x1024": 0.08, "1792x1024": 0.12, "1024x1792": 0.12}
    assert dict(d2.per_image["standard"]) == {"256x256": 0.016, "512x512": 0.018, "1024x1024": 0.02}


def test_2_5_and_2_6_prices_are_token_rates_plus_a_labelled_estimate() -> None:
    for name in (*NEWEST, "gpt-image-2.5-flare", "gpt-image-2.5-sunburst"):
        pricing = get_model(name).pricing
        assert pricing is not None
        assert (pricing.cached_text_input, pricing.cached_image_input) == (1.25, 2.0)
        source = pricing.per_image_source or ""
        assert "estimate" in source and "2026-09-26" in source and "third-party" in source
    assert get_model("gpt-image-2").pricing.per_image_source is None  # type: ignore[union-attr]


def test_limits_and_flags() -> None:
    gpt2, d2, d3 = get_model("gpt-image-2"), get_model("dall-e-2"), get_model("dall-e-3")
    assert gpt2.supports_transparent is False
    assert get_model("gpt-image-1.5").supports_transparent is True
    assert gpt2.image_formats == ("png", "jpeg", "webp") and d2.image_formats == ("png",)
    assert d2.square_png_only and not gpt2.square_png_only
    assert gpt2.response_formats == () and d2.response_formats == ("url", "b64_json")
    assert d2.params["response_format"].default == "b64_json"
    assert d3.params["response_format"].default == "b64_json"
    assert gpt2.custom_size is not None and gpt2.custom_size.max_pixels == 8_294_400
    assert gpt2.pixel_budget == 8_294_400


def test_no_model_offers_a_seed() -> None:
    for spec in list_models():
        assert "seed" not in spec.params
        assert all(p.send for p in spec.params.values())


def test_every_param_has_a_label_help_and_a_valid_default() -> None:
    for spec in list_models():
        for p in spec.params.values():
            assert p.label and p.help.endswith("."), (spec.name, p.name)
            assert p.operations and set(p.operations) <= set(spec.operations)
            if p.kind in ("enum", "size") and p.default is not None:
                assert p.default in p.choices


def test_params_for_an_operation() -> None:
    gpt2 = get_model("gpt-image-2")
    assert "moderation" in gpt2.params_for("generate")
    assert "moderation" not in gpt2.params_for("edit")
    assert gpt2.params_for("variation") == {}
    assert "input_fidelity" in get_model("gpt-image-1.5").params_for("edit")
    assert "input_fidelity" not in get_model("gpt-image-1.5").params_for("generate")


@pytest.mark.parametrize("spec", load_builtin_models(), ids=lambda s: s.name)
def test_to_dict_round_trips(spec: ModelSpec) -> None:
    entry = spec.to_dict()
    assert json.loads(json.dumps(entry)) == entry
    assert spec_from_dict(entry) == spec


def test_specs_are_immutable() -> None:
    spec = get_model("gpt-image-2")
    with pytest.raises(AttributeError):
        spec.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.params["n"] = spec.params["size"]  # type: ignore[index]
    assert hash(spec) == hash(get_model("gpt-image-2"))


# --------------------------------------------------------------------------- get_model


def test_unknown_model_lists_known_names_with_did_you_mean() -> None:
    with pytest.raises(ValidationError) as info:
        get_model("gpt-image-2.0")
    message = str(info.value)
    assert "unknown model 'gpt-image-2.0'; did you mean 'gpt-image-2'?" in message
    for name in LIFECYCLE:
        assert name in message
    assert info.value.params == ["model"]
    assert "gpt-image-2" in info.value.problems[0].allowed


def test_unknown_model_without_a_close_match() -> None:
    with pytest.raises(
        ValidationError, match=r"^unknown model 'zzz'\. Known models: gpt-image-2\.6"
    ):
        get_model("zzz")


@pytest.mark.parametrize("bad", [None, 3, ["gpt-image-2"]])
def test_get_model_of_a_non_string(bad: Any) -> None:
    with pytest.raises(ValidationError, match="model must be a model name"):
        get_model(bad)


# --------------------------------------------------------------------------- registration


def test_register_a_derived_model_and_use_it(cleanup: list[str]) -> None:
    cleanup.append("my-azure-deployment")
    spec = register_model({"name": "my-azure-deployment", "base": "gpt-image-2"})
    assert get_model("my-azure-deployment") is spec
    assert spec.label == "my-azure-deployment" and spec.aliases == ()
    assert spec.params == get_model("gpt-image-2").params
    assert "my-azure-deployment" in [m.name for m in giw.list_models()]
    giw.validate("my-azure-deployment", prompt="a fox", size="1280x720")
    with pytest.raises(ValidationError, match="not accepted by my-azure-deployment"):
        giw.validate("my-azure-deployment", prompt="a fox", style="vivid")


def test_register_a_model_from_scratch(cleanup: list[str]) -> None:
    cleanup.append("tiny-gen")
    register_model(
        {
            "name": "tiny-gen",
            "operations": ["generate"],
            "prompt_max_chars": 100,
            "size_presets": ["512x512"],
            "params": {
                "size": {"default": "512x512"},
                "steps": {"kind": "int", "minimum": 1, "maximum": 50, "default": 20},
            },
        }
    )
    spec = get_model("tiny-gen")
    assert spec.params["size"].choices == ("512x512",)
    assert spec.params["size"].help  # shared help from models.json's param_defaults
    assert spec.params["steps"].label == "Steps"
    giw.validate("tiny-gen", prompt="x", steps=30)
    with pytest.raises(ValidationError, match="steps 51 is not accepted by tiny-gen"):
        giw.validate("tiny-gen", prompt="x", steps=51)


def test_register_a_model_spec_instance(cleanup: list[str]) -> None:
    cleanup.append("copy-of-dall-e-2")
    entry = get_model("dall-e-2").to_dict() | {"name": "copy-of-dall-e-2"}
    spec = spec_from_dict(entry)
    assert register_model(spec) == spec
    giw.validate("copy-of-dall-e-2", "variation", images=np.zeros((64, 64, 3), np.uint8))
    assert get_model("copy-of-dall-e-2").operations == ("generate", "edit", "variation")


def test_override_a_builtin_and_restore_it() -> None:
    original = get_model("gpt-image-2")
    with pytest.raises(ValidationError, match="already registered; pass replace=True"):
        register_model(original.to_dict())
    register_model(
        {"name": "gpt-image-2", "base": "gpt-image-2", "prompt_max_chars": 10}, replace=True
    )
    try:
        assert get_model("gpt-image-2").prompt_max_chars == 10
        assert [m.name for m in list_models()].count("gpt-image-2") == 1
        with pytest.raises(ValidationError, match="at most 10"):
            giw.validate("gpt-image-2", prompt="x" * 11)
    finally:
        unregister_model("gpt-image-2")
    assert get_model("gpt-image-2") == original
    assert get_model("gpt-image-2-2026-04-21") is get_model("gpt-image-2")


def test_unregister_errors() -> None:
    with pytest.raises(ValidationError, match="built in and cannot be removed"):
        unregister_model("dall-e-2")
    with pytest.raises(ValidationError, match="not registered"):
        unregister_model("never-registered")


def test_alias_clash_is_refused() -> None:
    entry = {"name": "clash", "base": "dall-e-2", "aliases": ["gpt-image-2-2026-04-21"]}
    with pytest.raises(ValidationError, match="alias 'gpt-image-2-2026-04-21' already names"):
        register_model(entry)
    with pytest.raises(ValidationError, match="already an alias of 'gpt-image-2'"):
        register_model({"name": "gpt-image-2-2026-04-21", "base": "dall-e-2"})
    assert "clash" not in [m.name for m in list_models()]


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"status": "retired"}, "bad.status", "one of 'preview', 'current'"),
        ({"shutdown_date": "12/01/2026"}, "bad.shutdown_date", "ISO date"),
        ({"operations": ["generate", "inpaint"]}, "bad.operations", "among 'generate'"),
        ({"prompt_max_char": 5}, "bad.prompt_max_char", "did you mean 'prompt_max_chars'?"),
        ({"params": {"n": {"maximum": "ten"}}}, "bad.params.n.maximum", "whole number"),
        ({"params": {"n": {"default": 11}}}, "bad.params.n.default", "from 1 to 10"),
        ({"params": {"quality": {"choices": []}}}, "bad.params.quality.choices", "non-empty"),
        ({"params": {"quality": {"kind": "float"}}}, "bad.params.quality.kind", "one of 'enum'"),
        ({"params": {"prompt": {"kind": "str"}}}, "bad.params.prompt", "identifier other than"),
        ({"custom_size": {"max_edge": -1}}, "bad.custom_size.max_edge", ">= 1"),
        ({"pricing": {"as_of": "2026", "text_input": "cheap"}}, "bad.pricing.text_input", ">= 0"),
        ({"max_reference_images": 0}, "bad.max_reference_images", ">= 1 for a model with edit"),
        ({"streaming": False}, "bad.streaming", "partial_images"),
    ],
)
def test_malformed_specs_name_the_field(
    overrides: dict[str, Any], field: str, fragment: str
) -> None:
    with pytest.raises(ValidationError) as info:
        register_model({"name": "bad", "base": "gpt-image-2", **overrides})
    assert field in info.value.params
    assert fragment in str(info.value)
    assert "bad" not in [m.name for m in list_models()]


def test_every_problem_of_a_spec_is_listed() -> None:
    with pytest.raises(ValidationError) as info:
        register_model({"name": "", "operations": "generate", "params": [], "sizes": 3})
    params = info.value.params
    assert {"model.name", "model.operations", "model.params", "model.prompt_max_chars"} <= set(
        params
    )
    assert "model.sizes" in params


def test_unknown_base() -> None:
    with pytest.raises(ValidationError) as info:
        register_model({"name": "x", "base": "gpt-imag-2"})
    assert info.value.params == ["base"] and "did you mean 'gpt-image-2'?" in str(info.value)


@pytest.mark.parametrize("bad", [None, "gpt-image-2", 42])
def test_register_something_that_is_not_a_spec(bad: Any) -> None:
    with pytest.raises(ValidationError, match="ModelSpec or a dict"):
        register_model(bad)


def test_registry_is_thread_safe() -> None:
    errors: list[BaseException] = []
    names = [f"thread-model-{i}" for i in range(8)]

    def churn(name: str) -> None:
        try:
            for _ in range(25):
                register_model({"name": name, "base": "gpt-image-2"})
                try:
                    assert get_model(name).name == name
                    models = list_models()  # one snapshot: other threads change the next
                    assert len({m.name for m in models}) == len(models)
                finally:
                    unregister_model(name)  # never left behind for later tests
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=churn, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert not set(names) & {m.name for m in list_models()}


# --------------------------------------------------------------------------- docs table


def test_markdown_table_has_a_row_per_model() -> None:
    table = models_markdown_table(load_builtin_models())
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(rows) == len(LIFECYCLE)
    assert "| `gpt-image-2` (alias `gpt-image-2-2026-04-21`) | current |" in table
    assert (
        "| `gpt-image-1.5` (alias `gpt-image-1.5-2025-12-16`) | shutdown 2026-12-01 "
        "(Azure OpenAI: 2026-12-16), announced 2026-06-02; use gpt-image-2.6-flare or "
        "gpt-image-2.6-sunburst |"
    ) in table
    assert "| `gpt-image-2.6-flare` | released 2026-11-04 |" in table
    assert "$0.006 low / $0.053 medium / $0.211 high |" in table
    assert "$0.094 xhigh / $0.211 max (estimate) |" in table
    assert "custom WxH" in table and "complexity" in table
    assert "deprecated" not in table and "shut down 20" not in table  # no day-bound states


def test_cli_prints_the_table() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "gptimage_widgets.catalog", "--markdown"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out == models_markdown_table(load_builtin_models())


def test_cli_updates_only_the_readme_block(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "# x\n\nbefore\n<!-- models-table:start -->\nold\n<!-- models-table:end -->\nafter\n"
    )
    subprocess.run(
        [sys.executable, "-m", "gptimage_widgets.catalog", "--update-readme", str(readme)],
        check=True,
    )
    text = readme.read_text()
    assert text.startswith("# x\n\nbefore\n<!-- models-table:start -->\n| model |")
    assert text.endswith("<!-- models-table:end -->\nafter\n") and "old" not in text


def test_replace_readme_block_needs_the_markers() -> None:
    with pytest.raises(ValidationError, match="models-table:start"):
        replace_readme_block("no markers", "table")


# --------------------------------------------------------------------------- one home per rule


def test_parse_size_is_the_one_parser() -> None:
    from gptimage_widgets import validation

    assert parse_size("1024x1536") == (1024, 1536)
    assert parse_size("auto") is None
    assert validation.parse_size is parse_size
    for bad in ("1024X1536", "0x5", "01x5", "1x", "x1", "1024x1²", "1234567890x1", 1024, None):
        with pytest.raises(ValidationError) as info:
            parse_size(bad)  # type: ignore[arg-type]
        assert info.value.problems[0].param == "size"


def test_size_presets_are_checked_with_parse_size(cleanup: list[str]) -> None:
    cleanup.append("bad-presets")
    with pytest.raises(ValidationError, match=r"bad-presets\.size_presets"):
        register_model({"name": "bad-presets", "base": "gpt-image-2", "size_presets": ["auto"]})


def test_custom_size_true_takes_the_limits_of_models_json(cleanup: list[str]) -> None:
    cleanup.append("custom-true")
    spec = register_model({"name": "custom-true", "base": "dall-e-2", "custom_size": True})
    assert spec.custom_size == get_model("gpt-image-2").custom_size
    cleanup.append("custom-partial")
    spec = register_model(
        {"name": "custom-partial", "base": "gpt-image-2", "custom_size": {"max_edge": 2048}}
    )
    assert spec.custom_size is not None and spec.custom_size.max_edge == 2048
    assert spec.custom_size.max_pixels == get_model("gpt-image-2").custom_size.max_pixels  # type: ignore[union-attr]


def test_largest_output_pixels_follows_the_registry(cleanup: list[str]) -> None:
    builtin = max(
        max(m.custom_size.max_pixels if m.custom_size else 0, m.pixel_budget or 0)
        for m in load_builtin_models()
    )
    assert largest_output_pixels() == builtin
    cleanup.append("huge")
    register_model(
        {"name": "huge", "base": "gpt-image-2", "custom_size": {"max_pixels": builtin * 2}}
    )
    assert largest_output_pixels() == builtin * 2


def test_resolve_params_fills_applicable_defaults() -> None:
    spec = get_model("gpt-image-2")
    resolved = resolve_params(spec, "edit", {"prompt": "a fox", "quality": "high", "n": None})
    assert resolved["quality"] == "high" and resolved["n"] == spec.params["n"].default
    assert resolved["size"] == spec.params["size"].default and resolved["prompt"] == "a fox"
    assert "moderation" not in resolved  # generate only
    assert "seed" not in resolved and "output_compression" not in resolved  # default None
    assert list(resolved)[-1] == "prompt"  # catalog params first, in catalog order
    assert "moderation" in resolve_params(spec, None, {})


def test_resolve_params_fill_limits_the_defaults() -> None:
    spec = get_model("dall-e-2")
    resolved = resolve_params(spec, "edit", {"n": 2}, fill=("quality",))
    assert "size" not in resolved and resolved["n"] == 2
    assert resolved["quality"] == spec.params["quality"].default


def test_parse_date_is_the_one_date_parser() -> None:
    assert parse_date("2026-12-01") == D(2026, 12, 1)
    assert parse_date("2026-12-01T00:00:00Z") == D(2026, 12, 1)
    assert parse_date(0) == D(1970, 1, 1)
    assert parse_date(None) is None and parse_date(D(2026, 1, 2)) == D(2026, 1, 2)
    for bad in (True, "12/01/2026", [], 1e300):
        with pytest.raises(ValueError):
            parse_date(bad)


def test_apply_shutdown_dates_reregisters_known_models() -> None:
    original = get_model("gpt-image-2")
    try:
        items = [
            {"id": "gpt-image-2", "shutdown_date": "2999-01-01"},
            {"id": "nope", "shutdown_date": "2020-01-01"},
            {"id": "dall-e-2", "shutdown_date": "garbage"},
            "not a mapping",
        ]
        assert apply_shutdown_dates(items, today=D(2026, 1, 1)) == ["gpt-image-2"]
        spec = get_model("gpt-image-2")
        assert (spec.status, spec.shutdown_date) == ("deprecated", D(2999, 1, 1))
        assert apply_shutdown_dates(items, today=D(2026, 1, 1)) == []
    finally:
        register_model(original, replace=True)


def test_lifecycle_wording(on_day: Any) -> None:
    on_day(D(2026, 11, 30))
    assert status_banner(get_model("gpt-image-2")) == ("", "")
    text, status = status_banner(get_model("dall-e-3"))
    assert status == "shutdown" and "2026-05-12" in text and "gpt-image-2" in text
    assert status_label(get_model("gpt-image-1.5")) == "deprecated, shuts down 2026-12-01"


# --------------------------------------------------------------------------- retirement


def test_retirement_problem_per_backend_and_day() -> None:
    spec = get_model("gpt-image-1.5")
    assert retirement_problem(spec, "openai", D(2026, 11, 30)) is None
    problem = retirement_problem(spec, "openai", D(2026, 12, 2))
    assert problem is not None and problem.param == "model"
    assert "2026-12-01" in problem.message and "gpt-image-2.6-flare" in problem.message
    assert "allow_retired=True" in problem.message
    assert retirement_problem(spec, "azure", D(2026, 12, 10)) is None
    azure = retirement_problem(spec, "azure", D(2026, 12, 16))
    assert azure is not None and "Azure OpenAI on 2026-12-16" in azure.message
    for backend in ("compatible", "offline"):
        assert retirement_problem(get_model("dall-e-2"), backend, D(2030, 1, 1)) is None
    assert retirement_problem(get_model("gpt-image-2"), "openai", D(2030, 1, 1)) is None


def test_unavailable_model_hint(on_day: Any) -> None:
    on_day(D(2026, 12, 2))
    hint = unavailable_model_hint("gpt-image-1.5")
    assert hint == (
        "gpt-image-1.5 was shut down at OpenAI on 2026-12-01; use "
        "model='gpt-image-2.6-flare' or model='gpt-image-2.6-sunburst'"
    )
    assert "deprecated (shutdown 2026-12-16)" in unavailable_model_hint("gpt-image-1.5", "azure")
    assert "model='gpt-image-2'" in unavailable_model_hint("dall-e-3")
    unknown = unavailable_model_hint("gpt-image-3")
    assert unknown.startswith("gpt-image-3 is not in this kit's catalog")
    assert "gpt-image-2.6-flare" in unknown and "gpt-image-1.5" not in unknown.split(";")[-1]
    current = unavailable_model_hint("gpt-image-2")
    assert "may not be enabled for this key" in current and "gpt-image-2.6-flare" in current


# --------------------------------------------------------------------------- GPTIMAGE_MODELS


def _run_with_overlay(path: Path, code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GPTIMAGE_MODELS": str(path)}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )


def test_overlay_file_registers_models_at_import(tmp_path: Path) -> None:
    path = tmp_path / "models.json"
    path.write_text(
        json.dumps(
            [
                {"name": "gpt-image-9-test", "base": "gpt-image-2"},
                {
                    "name": "gpt-image-9-mini-test",
                    "base": "gpt-image-9-test",
                    "prompt_max_chars": 100,
                },
            ]
        )
    )
    code = (
        "import warnings; warnings.simplefilter('error')\n"
        "from gptimage_widgets.catalog import get_model, list_models\n"
        "names = [m.name for m in list_models()]\n"
        "print(get_model('gpt-image-9-test').name, get_model('gpt-image-9-mini-test')"
        ".prompt_max_chars, 'gpt-image-9-test' in names, 'gpt-image-9-mini-test' in names)\n"
    )
    done = _run_with_overlay(path, code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["gpt-image-9-test", "100", "True", "True"]


def test_a_malformed_overlay_entry_is_skipped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "overlay.json"
    path.write_text(
        json.dumps(
            [
                {"name": "fine-model", "base": "gpt-image-2"},
                {"name": "broken-model", "base": "gpt-image-2", "params": {"n": {"maximum": "x"}}},
            ]
        )
    )
    code = (
        "from gptimage_widgets.catalog import get_model\n"
        "print(get_model('fine-model').name)\n"
        "try:\n    get_model('broken-model')\nexcept ValueError as exc:\n    print(exc)\n"
    )
    done = _run_with_overlay(path, code)
    assert done.returncode == 0, done.stderr
    where = f"{path}, entry 1 ('broken-model')"
    assert "GPTIMAGE_MODELS" in done.stderr and where in done.stderr
    assert "broken-model.params.n.maximum" in done.stderr
    first, second = done.stdout.splitlines()[:2]
    assert first == "fine-model"
    assert "unknown model 'broken-model'" in second and f"Not loaded: {where}" in second


def test_an_unreadable_overlay_file_warns_and_the_import_survives(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    done = _run_with_overlay(path, "import gptimage_widgets as g; g.list_models(); print('ok')")
    assert done.returncode == 0 and done.stdout.strip() == "ok"
    assert f"{path}: cannot read the model overlay" in done.stderr


def test_load_overlay_is_all_or_nothing(tmp_path: Path) -> None:
    path = tmp_path / "overlay.json"
    path.write_text(
        json.dumps(
            [
                {"name": "ok-overlay", "base": "gpt-image-2"},
                ["not", "a", "mapping"],
                {"name": "bad-overlay", "base": "nope"},
            ]
        )
    )
    with pytest.raises(ValidationError) as info:
        load_overlay(path)
    text = str(info.value)
    assert f"{path}, entry 1: must be a mapping" in text
    assert f"{path}, entry 2 ('bad-overlay'): base: unknown model 'nope'" in text
    assert find_model("ok-overlay") is None  # rolled back
    path.write_text(json.dumps({"models": [{"name": "ok-overlay", "base": "gpt-image-2"}]}))
    try:
        assert [m.name for m in load_overlay(path)] == ["ok-overlay"]
        assert get_model("ok-overlay").params == get_model("gpt-image-2").params
    finally:
        unregister_model("ok-overlay")
    path.write_text('{"name": "x"}')
    with pytest.raises(ValidationError, match="must be a JSON list of entries"):
        load_overlay(path)
