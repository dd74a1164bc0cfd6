"""The parameter form in a real browser: model dropdown, visible controls, custom-size errors.

Runs in JupyterLab and in Notebook 7. The form lives in an ImageStudio (on the offline
server) so that the Generate button's state can be checked too. Expected labels come from
the catalog in the kernel, not from the form.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser

FORM = ".giw-test-form"
STUDIO = ".giw-studio"
# the studio starts on gpt-image-2; 2.6 has complexity; 1.5 and dall-e-2 are retired (toggle)
MODELS = ("gpt-image-2.6-flare", "gpt-image-1.5", "dall-e-2", "gpt-image-2")

STUDIO_CELL = """
import tempfile
server = giw.OfflineServer()
server.start()
client = giw.AsyncImageClient(
    base_url=server.base_url, api_key="sk-test-FAKE", history=tempfile.mkdtemp()
)
studio = giw.ImageStudio(client)
studio.form.add_class("giw-test-form")
studio.prompt = "a lighthouse at dusk"
studio
"""


def expected_labels(probe: Any, model: str) -> list[str]:
    """The model picker (and its "Show retired models" toggle while some model is retired),
    then the catalog's parameter labels for the studio's operation.

    The studio hides the form's own operation picker (its toggle has "Auto").
    """
    labels: list[str] = probe.eval(
        f"[p.label for p in giw.get_model({model!r}).params_for(studio.form.operation).values()]"
    )
    toggle = probe.eval(
        "[studio.form.retired_toggle.description]"
        " if studio.form.retired_toggle.layout.display != 'none' else []"
    )
    return ["Model", *toggle, *labels]


def generate_button(page: Any) -> Any:
    """The studio's action button (not the "Generate" operation toggle)."""
    return page.locator(f"{STUDIO} button.widget-button.mod-primary", has_text="Generate").first


def size_errors_in_dom(page: Any) -> list[str]:
    """Visible inline error texts of the form (red spans under the controls)."""
    texts: list[str] = page.evaluate(
        f"""() => [...document.querySelectorAll('{FORM} .widget-html-content span')]
              .filter((el) => el.checkVisibility()).map((el) => el.textContent)"""
    )
    return texts


def choose_model(page: Any, probe: Any, wait_until: Any, model: str) -> None:
    """Pick ``model`` in the dropdown, ticking "Show retired models" first when needed."""
    if probe.eval(f"giw.get_model({model!r}).shut_down and not studio.form.show_retired"):
        toggle = page.locator(f"{FORM} .widget-checkbox", has_text="Show retired models")
        toggle.locator("input").check()
        wait_until(lambda: probe.eval("studio.form.show_retired") is True, what="the toggle")
    label = probe.eval(f"[t for t, v in studio.form.model_picker.options if v == {model!r}][0]")
    page.locator(f"{FORM} select").first.select_option(value=label)
    wait_until(lambda: probe.eval("studio.form.model") == model, timeout=20, what=model)


def type_edge(page: Any, name: str, value: int) -> None:
    box = page.locator(f"{FORM} .widget-text", has=page.locator("label", has_text=name))
    field = box.locator("input").first
    field.fill(str(value))
    field.press("Tab")


@pytest.mark.parametrize("ui", ["lab", "notebook7"])
def test_model_dropdown_controls_and_custom_size_errors(
    open_notebook: Any, page: Any, wait_until: Any, widget_kit: Any, ui: str
) -> None:
    probe = open_notebook(f"form_{ui}.ipynb", [widget_kit.KERNEL_HELPERS, STUDIO_CELL], ui=ui)
    page.locator(f"{FORM} select").first.wait_for(timeout=60_000)

    for model in MODELS:
        choose_model(page, probe, wait_until, model)
        expected = expected_labels(probe, model)
        wait_until(
            lambda expected=expected: widget_kit.visible_labels(page, FORM) == expected,
            timeout=20,
            what=f"the visible controls of {model}",
        )
    seen = widget_kit.visible_labels(page, FORM)
    assert "Background" in seen and "Response format" not in seen  # gpt-image-2 again

    page.locator(f"{FORM} .widget-dropdown", has=page.locator("label", has_text="Size")).locator(
        "select"
    ).select_option(value="Custom…")
    type_edge(page, "Width", 1000)
    type_edge(page, "Height", 1000)
    wait_until(
        lambda: probe.eval("studio.form.params.get('size')") == "1000x1000",
        timeout=20,
        what="size 1000x1000 in the kernel",
    )
    assert probe.eval("studio.form.valid") is False
    kernel_error = probe.eval("studio.form.error_text('size')")
    assert "1000" in kernel_error
    wait_until(lambda: kernel_error in " ".join(size_errors_in_dom(page)), what="inline error")
    wait_until(lambda: generate_button(page).is_disabled(), what="Generate disabled in the DOM")
    assert probe.eval("studio._generate_button.disabled") is True

    type_edge(page, "Width", 1024)
    type_edge(page, "Height", 1024)
    wait_until(lambda: probe.eval("studio.form.valid") is True, what="a valid form in the kernel")
    assert probe.eval("studio.form.params.get('size')") == "1024x1024"
    wait_until(lambda: size_errors_in_dom(page) == [], what="the inline error gone")
    wait_until(lambda: generate_button(page).is_enabled(), what="Generate enabled in the DOM")
    assert probe.eval("studio._generate_button.disabled") is False
