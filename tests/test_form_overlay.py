"""ParameterForm with models added by a ``GPTIMAGE_MODELS`` file (issue 12, acceptance).

The overlay is read when the catalog is imported, so each test runs a fresh interpreter
with the variable set; the subprocess prints JSON that the test checks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

OVERLAY = [
    {"name": "gpt-image-9-test", "base": "gpt-image-2"},
    {"name": "gpt-image-9-mini", "base": "gpt-image-2.6-flare"},
]

PROBE = """
import json
from gptimage_widgets.widgets.form import ParameterForm
form = ParameterForm()
out = {
    "default": form.model,
    "options": [value for _label, value in form.model_picker.options],
    "controls": {},
}
for name in ("gpt-image-9-test", "gpt-image-9-mini", "gpt-image-2", "gpt-image-2.6-flare"):
    form.model_picker.value = name  # what a click in the dropdown does
    out["controls"][name] = {
        "model": form.model,
        "controls": sorted(form.controls),
        "params": form.params,
        "valid": form.valid,
    }
print(json.dumps(out))
"""


def run_probe(overlay: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "GPTIMAGE_MODELS"}
    env["GPTIMAGE_MODELS"] = str(overlay)
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_models_from_the_overlay_file_are_offered_by_the_form(tmp_path: Path) -> None:
    path = tmp_path / "models.json"
    path.write_text(json.dumps(OVERLAY))
    out = run_probe(path)
    assert out["default"] == "gpt-image-2", "an overlay does not change the default"
    assert {"gpt-image-9-test", "gpt-image-9-mini"} <= set(out["options"])
    new, mini = out["controls"]["gpt-image-9-test"], out["controls"]["gpt-image-9-mini"]
    assert new["model"] == "gpt-image-9-test" and mini["model"] == "gpt-image-9-mini"
    assert new["valid"] and mini["valid"]
    # each new model takes its base's parameters: complexity comes with the 2.6 base only
    assert new["controls"] == out["controls"]["gpt-image-2"]["controls"]
    assert mini["controls"] == out["controls"]["gpt-image-2.6-flare"]["controls"]
    assert "complexity" in mini["controls"] and mini["params"]["complexity"] == "high"
    assert "complexity" not in new["controls"] and "seed" not in mini["controls"]


def test_without_the_overlay_the_new_models_are_absent() -> None:
    code = (
        "from gptimage_widgets.widgets.form import ParameterForm\n"
        "print(' '.join(v for _l, v in ParameterForm().model_picker.options))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "GPTIMAGE_MODELS"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    options = done.stdout.split()
    assert "gpt-image-2" in options
    assert "gpt-image-9-test" not in options and "gpt-image-9-mini" not in options
