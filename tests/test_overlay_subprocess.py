"""``GPTIMAGE_MODELS=path.json`` end to end, in fresh processes (the overlay is read at
import): the offline client generates with the new models and ``gptimage models`` lists
them; a malformed file warns, naming the file and the entry."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
ENTRIES = [
    {"name": "gpt-image-9-test", "base": "gpt-image-2"},
    {"name": "gpt-image-9-mini", "base": "gpt-image-2.6-flare"},
]
CLIENT_SCRIPT = """
import json, sys, warnings
warnings.simplefilter("error")  # a good overlay gives no warning
from gptimage_widgets import ImageClient, ValidationError
out = {}
with ImageClient(backend="offline", history=False) as client:
    for name in sys.argv[1:]:
        try:
            result = client.generate("a lighthouse", model=name, size="1024x1024")
            out[name] = [result.model, list(result.images[0].shape)]
        except ValidationError as exc:
            out[name] = str(exc)
print(json.dumps(out))
"""


def run(tmp_path: Path, overlay: Any, *argv: str) -> subprocess.CompletedProcess[str]:
    """``python *argv`` with ``GPTIMAGE_MODELS`` naming a file holding `overlay`."""
    path = tmp_path / "models.json"
    path.write_text(overlay if isinstance(overlay, str) else json.dumps(overlay), "utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["GPTIMAGE_MODELS"] = str(path)
    return subprocess.run(
        [sys.executable, *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def models_table(stdout: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in stdout.splitlines() if line.strip()}


def test_the_offline_client_generates_with_overlay_models(tmp_path: Path) -> None:
    done = run(tmp_path, ENTRIES, "-c", CLIENT_SCRIPT, "gpt-image-9-test", "gpt-image-9-mini")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {
        "gpt-image-9-test": ["gpt-image-9-test", [1024, 1024, 3]],
        "gpt-image-9-mini": ["gpt-image-9-mini", [1024, 1024, 3]],
    }


def test_gptimage_models_lists_overlay_models(tmp_path: Path) -> None:
    done = run(tmp_path, ENTRIES, "-m", "gptimage_widgets.cli", "models")
    assert done.returncode == 0, done.stderr
    rows = models_table(done.stdout)
    assert rows["gpt-image-9-test"][1] == rows["gpt-image-2"][1]
    assert rows["gpt-image-9-mini"][1] == rows["gpt-image-2.6-flare"][1]
    assert "gpt-image-2" in rows  # the built-in models stay
    assert done.stderr == ""


def test_a_malformed_entry_is_named_with_its_file_and_skipped(tmp_path: Path) -> None:
    overlay = [ENTRIES[0], {"name": "gpt-image-9-broken", "base": "no-such-model"}]
    path = str(tmp_path / "models.json")
    done = run(tmp_path, overlay, "-m", "gptimage_widgets.cli", "models")
    assert done.returncode == 0, done.stderr
    assert path in done.stderr and "entry 1" in done.stderr
    assert "gpt-image-9-broken" in done.stderr and "no-such-model" in done.stderr
    rows = models_table(done.stdout)
    assert "gpt-image-9-test" in rows and "gpt-image-9-broken" not in rows
    used = run(tmp_path, overlay, "-c", CLIENT_SCRIPT.replace('"error"', '"default"'),
               "gpt-image-9-test", "gpt-image-9-broken")  # fmt: skip
    assert used.returncode == 0, used.stderr
    answers = json.loads(used.stdout.splitlines()[-1])
    assert answers["gpt-image-9-test"][0] == "gpt-image-9-test"
    assert path in answers["gpt-image-9-broken"]  # get_model says why it was skipped


def test_a_file_that_is_not_json_is_named(tmp_path: Path) -> None:
    done = run(tmp_path, "[{not json", "-m", "gptimage_widgets.cli", "models")
    assert done.returncode == 0, done.stderr
    assert str(tmp_path / "models.json") in done.stderr and "GPTIMAGE_MODELS" in done.stderr
    assert "gpt-image-2" in models_table(done.stdout)
