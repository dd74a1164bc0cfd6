"""Shared harness of the browser benchmarks (``bench_painter_latency``, ``bench_widget_roundtrip``).

- :data:`harness`: the browser-test harness ``tests/browser/conftest.py`` used as a library
  (JupyterLab servers, Chromium's path and options, notebooks, kernel probes, widget helpers);
- :func:`chromium_pages`: start the servers and Chromium, one page each, and stop them all;
- :class:`Latencies` / :func:`percentile` / :func:`run_date`: what the reports print.

Benchmarks are scripts, not a package: each one does ``import _browser`` from its own folder.
"""

from __future__ import annotations

import contextlib
import datetime
import statistics
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# the harness (tests/browser), the Jupyter servers it imports (tests), this tree's package
sys.path[:0] = [str(ROOT / "tests" / "browser"), str(ROOT / "tests"), str(ROOT)]

import conftest as harness  # noqa: E402  (the browser-test harness, used as a library)

#: Playwright page size for every benchmark page (CSS pixels).
VIEWPORT = {"width": 1400, "height": 1000}


def new_server(prefix: str, **options: Any) -> Any:
    """A (not yet started) JupyterLab server in a fresh temporary folder named ``prefix...``.

    ``options`` are those of ``JupyterServer`` (e.g. ``extensions={"gptimage_widgets": False}``).
    """
    return harness.JupyterServer(Path(tempfile.mkdtemp(prefix=prefix)), **options)


@contextlib.contextmanager
def chromium_pages(servers: Sequence[Any]) -> Iterator[list[Any]]:
    """Start ``servers``, launch headless Chromium, yield one new page per server.

    Chromium closes and every server stops on the way out, whatever happened.
    """
    from playwright.sync_api import sync_playwright

    try:
        for server in servers:
            server.start()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=harness.chromium_path(), headless=True, args=harness.CHROMIUM_ARGS
            )
            try:
                yield [browser.new_page(viewport=VIEWPORT) for _ in servers]
            finally:
                browser.close()
    finally:
        for server in servers:
            server.stop()


def run_date() -> str:
    """Today's date (UTC), computed for the report."""
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def percentile(values: list[float], q: int) -> float:
    """The ``q``-th percentile (inclusive method); nan for no values."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


@dataclass
class Latencies:
    """Milliseconds of one measured quantity; None marks one never shown within the timeout."""

    name: str
    values: list[float | None] = field(default_factory=list)

    @property
    def shown(self) -> list[float]:
        """The measured values (the timeouts left out)."""
        return [v for v in self.values if v is not None]

    @property
    def missed(self) -> int:
        """How many timed out."""
        return len(self.values) - len(self.shown)
