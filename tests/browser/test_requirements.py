"""The browser harness's requirement check: what a machine without the browser pieces sees.

Not marked ``browser``: these run everywhere, in a fraction of a second each (the pytest runs
below stop before any fixture starts JupyterLab or Chromium).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIP_HINT = '(pip install -e ".[browser]")'


def test_missing_pieces_are_named_with_how_to_get_them(
    browser_harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find_spec = browser_harness.importlib.util.find_spec
    absent = {"jupyterlab", "playwright"}

    def find_spec(name: str, *args: Any) -> Any:
        """The browser modules: absent or present as the test says; others: the real answer."""
        if name in browser_harness.BROWSER_MODULES:
            return None if name in absent else object()
        return real_find_spec(name, *args)

    monkeypatch.setattr(browser_harness.importlib.util, "find_spec", find_spec)
    monkeypatch.setenv("GIW_CHROMIUM", "none")
    assert browser_harness.missing_pieces() == [
        f"jupyterlab, playwright {PIP_HINT}",
        browser_harness.CHROMIUM_MISSING,
    ]
    absent.clear()
    monkeypatch.setenv("GIW_CHROMIUM", sys.executable)  # any existing file stands in
    assert browser_harness.missing_pieces() == []
    assert browser_harness.find_chromium() == sys.executable


def _run_browser_tests(**env: str) -> subprocess.CompletedProcess[str]:
    """pytest on the browser-marked tests, in a subprocess with ``env`` added."""
    command = [sys.executable, "-m", "pytest", "tests/browser", "-m", "browser", "-q", "-rsE"]
    command += ["-p", "no:cacheprovider"]
    return subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_without_chromium_browser_tests_skip_with_one_line() -> None:
    run = _run_browser_tests(GIW_CHROMIUM="none", GIW_REQUIRE_BROWSER="0")
    assert run.returncode == 0, run.stdout + run.stderr
    skips = [line for line in run.stdout.splitlines() if line.startswith("SKIPPED")]
    assert skips and all("browser tests skipped, missing: " in line for line in skips)
    assert all("Chromium (apt-get install -y chromium" in line for line in skips)
    assert " passed" not in run.stdout and "error" not in run.stdout.lower()


def test_with_giw_require_browser_a_missing_piece_fails() -> None:
    run = _run_browser_tests(GIW_CHROMIUM="none", GIW_REQUIRE_BROWSER="1")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "browser tests required (GIW_REQUIRE_BROWSER=1), missing: " in run.stdout
    assert "Chromium" in run.stdout and " skipped" not in run.stdout
