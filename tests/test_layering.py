"""Imports point down only: core never imports I/O or UI packages; the client never imports UI."""

from __future__ import annotations

import subprocess
import sys

import pytest

CORE = [
    "errors",
    "catalog",
    "validation",
    "input_checks",
    "_messages",
    "request",
    "imaging",
    "maskops",
    "results",
    "pricing",
    "history",
]
CLIENT = ["client", "sse", "retry", "backends", "offline", "cli"]
UI_PACKAGES = ("ipywidgets", "ipycanvas", "matplotlib", "IPython.display")
IO_PACKAGES = ("httpx",)


def _modules_loaded_by(module: str) -> set[str]:
    code = f"import sys, gptimage_widgets.{module}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("module", CORE)
def test_core_imports_no_io_and_no_ui(module: str) -> None:
    loaded = _modules_loaded_by(module)
    leaked = [p for p in (*UI_PACKAGES, *IO_PACKAGES) if p in loaded]
    assert leaked == [], f"gptimage_widgets.{module} imports {leaked}"


@pytest.mark.parametrize("module", CLIENT)
def test_client_layer_imports_no_ui(module: str) -> None:
    loaded = _modules_loaded_by(module)
    leaked = [p for p in UI_PACKAGES if p in loaded]
    assert leaked == [], f"gptimage_widgets.{module} imports {leaked}"
