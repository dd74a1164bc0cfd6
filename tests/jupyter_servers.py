"""The one way tests and benchmarks start a Jupyter server, and the poll they wait with.

:class:`JupyterServer` runs ``python -m jupyterlab`` (JupyterLab and, through the installed
``notebook`` extension, Notebook 7) or, with ``app="jupyter_server"``, a plain server with no
UI, on 127.0.0.1 in a temporary folder of its own (root, runtime, config and settings
folders, a log file). ``extensions={"gptimage_widgets": False}`` switches server extensions
on or off for that server only (``--ServerApp.jpserver_extensions=NAME=BOOL``, which outranks
the installed ``jupyter_server_config.d``); ``python_path`` puts more folders (e.g. a test-only
extension) in front of the server's ``PYTHONPATH``.

Used by ``tests/browser/conftest.py`` (the browser tests and, through it, the browser
benchmarks) and ``tests/test_jupyter_nodelay.py``.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: Command-line options only JupyterLab / Notebook 7 understand: the page exposes the app
#: (``window.jupyterapp``) to the tests, and Playwright's requests carry no XSRF cookie.
LAB_OPTIONS = (
    "--LabApp.expose_app_in_browser=True",
    "--JupyterNotebookApp.expose_app_in_browser=True",
    "--ServerApp.disable_check_xsrf=True",
)
#: JupyterLab settings that keep news, update checks and notifications out of the page.
QUIET_NOTIFICATIONS = {"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05, what: str = ""
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception as exc:
            last_error = exc
            value = None
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what or condition}: {last_error}"
    )


class JupyterServer:
    """A Jupyter server on 127.0.0.1 whose files all live below ``base``.

    Parameters
    ----------
    base : Path
        An empty folder; the server's root folder is ``base / "root"``.
    app : {"jupyterlab", "jupyter_server"}
        The module run with ``python -m``: JupyterLab (also serves Notebook 7) or a bare
        server with no UI.
    extensions : dict of str to bool, optional
        Server extensions switched on (True) or off (False) for this server only; by default
        the installed configuration decides.
    python_path : sequence of Path
        Folders put in front of the server's ``PYTHONPATH``.
    """

    def __init__(
        self,
        base: Path,
        *,
        app: str = "jupyterlab",
        extensions: dict[str, bool] | None = None,
        python_path: Sequence[Path] = (),
    ) -> None:
        self.app = app
        self.root = base / "root"
        self.root.mkdir(exist_ok=True)
        self.extensions = dict(extensions or {})
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.runtime_dir = base / "runtime"
        self.log_path = base / "jupyter.log"
        self.env = self._environment(base, python_path)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def lab(self) -> bool:
        """Whether this server has the JupyterLab / Notebook 7 pages."""
        return self.app == "jupyterlab"

    def _environment(self, base: Path, python_path: Sequence[Path]) -> dict[str, str]:
        """The server's environment: its own folders, no API key, ``python_path`` first."""
        paths = [*map(str, python_path), os.environ.get("PYTHONPATH", "")]
        env = {
            **os.environ,
            "JUPYTER_RUNTIME_DIR": str(self.runtime_dir),
            "JUPYTER_CONFIG_DIR": str(base / "config"),
            "GPTIMAGE_CONFIG_DIR": str(base / "gptimage-config"),  # painter settings, per server
            "MPLBACKEND": "Agg",
            "PYTHONPATH": os.pathsep.join(p for p in paths if p),
        }
        env.pop("OPENAI_API_KEY", None)
        if self.lab:
            settings_dir = base / "settings"
            notification = settings_dir / "@jupyterlab" / "apputils-extension"
            notification.mkdir(parents=True)
            (notification / "notification.jupyterlab-settings").write_text(
                json.dumps(QUIET_NOTIFICATIONS)
            )
            env["JUPYTERLAB_SETTINGS_DIR"] = str(settings_dir)
            env["JUPYTERLAB_WORKSPACES_DIR"] = str(base / "workspaces")
        return env

    def command(self) -> list[str]:
        """The server's command line."""
        return [
            sys.executable,
            "-m",
            self.app,
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            "--ServerApp.allow_root=True",
            f"--ServerApp.root_dir={self.root}",
            *(LAB_OPTIONS if self.lab else ()),
            *(f"--ServerApp.jpserver_extensions={k}={v}" for k, v in self.extensions.items()),
        ]

    def start(self) -> JupyterServer:
        """Start the server and wait (up to 90 s) until ``/api/status`` answers; return self."""
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(), cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        wait_until(self._ready, timeout=90, interval=0.2, what=f"{self.app} /api/status")
        return self

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                f"{self.app} exited with {self.process.returncode}:\n{self.log_text()[-3000:]}"
            )
        self.api("/api/status", timeout=2)
        return True

    def api(self, path: str, *, method: str = "GET", body: Any = None, timeout: float = 30) -> Any:
        """Call the server's REST API (with the token); return the decoded JSON answer or None.

        Raises ``urllib.error.HTTPError`` for an error status.
        """
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            content = response.read()
        return json.loads(content) if content else None

    def lab_url(self, notebook: str) -> str:
        """The JupyterLab page of ``notebook`` (with a fresh workspace)."""
        return f"{self.url}/lab/tree/{notebook}?reset&token={self.token}"

    def notebook7_url(self, notebook: str) -> str:
        """The Notebook 7 page of ``notebook``."""
        return f"{self.url}/notebooks/{notebook}?token={self.token}"

    def close_sessions(self) -> None:
        """Shut down every notebook session (and so its kernel)."""
        for session in self.api("/api/sessions"):
            self.api(f"/api/sessions/{session['id']}", method="DELETE")

    def log_text(self) -> str:
        """What the server has logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """Terminate the server (kill it after 20 s)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
