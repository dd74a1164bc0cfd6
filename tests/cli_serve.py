"""``gptimage serve`` in a process of its own, for the tests that talk to it over HTTP."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

#: What the ``gptimage`` console script runs.
GPTIMAGE = (sys.executable, "-m", "gptimage_widgets.cli")


@contextlib.contextmanager
def gptimage_serve(*options: str, cwd: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run ``gptimage serve --port 0 *options``; yield its base URL (from the banner line).

    When the ``with`` body finishes, the server gets SIGINT (Ctrl-C) and must exit with 0
    within 20 s (asserted); when the body raises, or the server hangs, it is killed.
    """
    process = subprocess.Popen(
        [*GPTIMAGE, "serve", "--port", "0", *options],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        yield banner.split(" at ")[1].split()[0]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
