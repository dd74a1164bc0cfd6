"""The API key never lands in widget state, notebook JSON, reprs, logs, error messages or history.

A recognizable fake key is set in ``OPENAI_API_KEY`` and passed as ``api_key=``; then the
clients, the studio (its default client too), failing requests (401/403 injected by the
offline server, and a server that echoes the key back in its error body), the history store
and DEBUG logging of every logger (httpx and httpcore included) are exercised, and a notebook
is executed with nbclient and saved with its outputs and widget state. Every repr/str, every
widget trait value (``get_state()`` of every live widget), every log record, every error
(with its traceback and body), every file in the history folders and the saved notebook are
scanned: neither the key nor its part after ``sk-`` appears anywhere. The Authorization
header IS sent to the server (checked on the server side), so the scan is not vacuous.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import ipywidgets
import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from gptimage_widgets.client import AsyncImageClient, ImageClient
from gptimage_widgets.errors import (
    AuthenticationError,
    GPTImageError,
    PermissionDeniedError,
)
from gptimage_widgets.offline import Fault, OfflineServer
from gptimage_widgets.widgets import ImageStudio

KEY = "sk-" + "test-SECRET-ac9f31d6b2e84f01aa9c"  # split so leak scanners see no key
NEEDLES = (KEY, KEY.removeprefix("sk-"), "ac9f31d6b2e84f01aa9c")
LOGGERS = ("", "httpx", "httpcore", "gptimage_widgets", "asyncio")


# --------------------------------------------------------------------------- scanning


def leaks(blob: str | bytes) -> list[str]:
    """The needles (key, key suffix) found in `blob`."""
    data = blob.encode("utf-8", "surrogatepass") if isinstance(blob, str) else bytes(blob)
    return [needle for needle in NEEDLES if needle.encode() in data]


def walk(value: Any) -> Iterator[str | bytes]:
    """Every string and bytes value inside nested dicts/lists/tuples (keys included)."""
    if isinstance(value, (str, bytes)):
        yield value
    elif isinstance(value, (bytearray, memoryview)):
        yield bytes(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from walk(key)
            yield from walk(item)
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            yield from walk(item)
    elif value is not None and not isinstance(value, (int, float, bool)):
        yield repr(value)


class Findings:
    """Collects (where, text) pairs and reports every place a needle was found."""

    def __init__(self) -> None:
        self.scanned = 0
        self.found: list[str] = []

    def scan(self, where: str, value: Any) -> None:
        for blob in walk(value):
            self.scanned += 1
            for needle in leaks(blob):
                self.found.append(f"{where}: contains {needle!r}")

    def scan_files(self, folder: Path) -> int:
        files = [path for path in folder.rglob("*") if path.is_file()]
        for path in files:
            self.scan(f"file {path}", path.read_bytes())
        return len(files)

    def assert_clean(self) -> None:
        assert self.scanned > 0
        assert self.found == [], "\n".join(self.found)


def live_widgets() -> list[ipywidgets.Widget]:
    """Every widget alive in this process (ipywidgets 8's registry; 7's ``Widget.widgets``)."""
    try:
        from ipywidgets.widgets.widget import _instances
    except ImportError:  # ipywidgets 7: the class attribute, not yet deprecated there
        return list(ipywidgets.Widget.widgets.values())
    return list(_instances.values())


def scan_error(findings: Findings, where: str, error: BaseException) -> None:
    findings.scan(f"{where} str", str(error))
    findings.scan(f"{where} repr", repr(error))
    findings.scan(f"{where} traceback", "".join(traceback.format_exception(error)))
    findings.scan(f"{where} body", json.dumps(getattr(error, "body", None), default=str))


# --------------------------------------------------------------------------- servers


class AuthRecorder:
    """Wraps an offline server's app to record the Authorization header of each request."""

    def __init__(self, server: OfflineServer) -> None:
        self._handle = server.app.handle
        self.headers: list[str | None] = []
        server.app.handle = self  # type: ignore[method-assign]

    def __call__(self, request: Any) -> Any:
        if "/images/" in request.path:
            self.headers.append(request.headers.get("authorization"))
        return self._handle(request)


@pytest.fixture
def servers(make_offline_server: Callable[..., OfflineServer]) -> dict[str, OfflineServer]:
    """A working server, one answering 401 and one answering 403 (org verification)."""
    return {
        "ok": make_offline_server(),
        "401": make_offline_server(faults=[Fault("500", status=401, times=None)]),
        "403": make_offline_server(faults=[Fault("org_verification", times=None)]),
    }


@pytest.fixture
def auth(servers: dict[str, OfflineServer]) -> dict[str, AuthRecorder]:
    return {name: AuthRecorder(server) for name, server in servers.items()}


@pytest.fixture
def secret_env(
    monkeypatch: pytest.MonkeyPatch, servers: dict[str, OfflineServer], tmp_path: Path
) -> None:
    """The key in the environment, the working server as OPENAI_BASE_URL, cwd in tmp_path."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", servers["ok"].base_url)
    monkeypatch.chdir(tmp_path)  # the default history folder lands here


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def echoing_transport() -> httpx.MockTransport:
    """A server that echoes the key back, as OpenAI's 401 and careless proxies do."""

    def answer(request: httpx.Request) -> httpx.Response:
        sent = request.headers.get("authorization", "")
        if "variations" in request.url.path:
            return httpx.Response(403, text=f"Forbidden. You sent: Authorization: {sent}")
        body = {
            "error": {
                "message": f"Incorrect API key provided: {sent.removeprefix('Bearer ')}.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
                "echo": {"authorization": sent},
            }
        }
        return httpx.Response(401, json=body, headers={"x-request-id": "req_echo"})

    return httpx.MockTransport(answer)


# --------------------------------------------------------------------------- in process


async def _studio_results(servers: dict[str, OfflineServer], folder: Path) -> dict[str, Any]:
    """Run the studio: default client (from the environment), explicit key, a 401."""
    default = ImageStudio()  # AsyncImageClient() from OPENAI_API_KEY / OPENAI_BASE_URL
    explicit = ImageStudio(
        AsyncImageClient(api_key=KEY, base_url=servers["ok"].base_url, history=folder)
    )
    failing = ImageStudio(
        AsyncImageClient(
            api_key=KEY, base_url=servers["401"].base_url, history=folder, max_retries=0
        )
    )
    outcome = {}
    for name, studio in (("default", default), ("explicit", explicit), ("failing", failing)):
        studio.prompt = "a lighthouse at dusk"
        outcome[name] = (studio, await studio.generate())
    for studio, _ in outcome.values():
        await studio.client.close()
    return outcome


def _failing_calls(servers: dict[str, OfflineServer], folder: Path) -> dict[str, GPTImageError]:
    """The errors of a 401, a 403 and a server echoing the key (sync client)."""
    errors: dict[str, GPTImageError] = {}
    for name, expected in (("401", AuthenticationError), ("403", PermissionDeniedError)):
        with (
            ImageClient(
                api_key=KEY, base_url=servers[name].base_url, history=folder, max_retries=0
            ) as client,
            pytest.raises(expected) as caught,
        ):
            client.generate("a lighthouse", quality="low")
        errors[name] = caught.value
    echo = ImageClient(
        api_key=KEY,
        base_url="http://127.0.0.1:9/v1",
        history=folder,
        max_retries=0,
        http_client=httpx.Client(transport=echoing_transport()),
    )
    with pytest.raises(AuthenticationError) as caught:
        echo.generate("a lighthouse", quality="low")
    errors["echoed 401"] = caught.value
    with pytest.raises(PermissionDeniedError) as caught:
        echo.variations(np.zeros((64, 64, 3), np.uint8), model="dall-e-2")
    errors["echoed 403"] = caught.value
    return errors


@pytest.mark.timeout(120)
async def test_key_never_leaks_in_process(
    secret_env: None,
    servers: dict[str, OfflineServer],
    auth: dict[str, AuthRecorder],
    debug_logs: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "history"
    findings = Findings()

    with ImageClient(api_key=KEY, base_url=servers["ok"].base_url, history=folder) as sync:
        sync_result = sync.generate("a red fox", quality="low")
    from_env = AsyncImageClient(history=folder)  # key and base URL from the environment
    async_result = await from_env.generate("a blue heron", quality="low")
    streamed = await from_env.generate("a green owl", quality="low", partial_images=1)
    studios = await _studio_results(servers, folder)
    errors = _failing_calls(servers, folder)

    # the requests did carry the key, to every server
    assert auth["ok"].headers and set(auth["ok"].headers) == {f"Bearer {KEY}"}
    assert auth["401"].headers and set(auth["401"].headers) == {f"Bearer {KEY}"}
    assert auth["403"].headers and set(auth["403"].headers) == {f"Bearer {KEY}"}
    assert studios["default"][1] is not None and studios["explicit"][1] is not None
    assert studios["failing"][1] is None and studios["failing"][0]._errors.value

    for name, client in (("sync client", sync), ("env client", from_env)):
        findings.scan(f"{name} repr", repr(client))
        findings.scan(f"{name} str", str(client))
    results = {"sync": sync_result, "async": async_result, "streamed": streamed}
    results |= {f"studio {n}": r for n, (_, r) in studios.items() if r is not None}
    for name, result in results.items():
        findings.scan(f"result {name} repr", repr(result))
        findings.scan(f"result {name} str", str(result))
        findings.scan(f"result {name} html", result._repr_html_())
        findings.scan(f"result {name} mimebundle", result._repr_mimebundle_())
        findings.scan(f"result {name} request", json.dumps(result.request, default=str))
        findings.scan(f"result {name} notes", result.notes)
    for name, error in errors.items():
        scan_error(findings, f"error {name}", error)
    for name, (studio, _) in studios.items():
        findings.scan(f"studio {name} repr", repr(studio))
    widgets = live_widgets()
    assert len(widgets) > 20
    for widget in widgets:
        findings.scan(f"widget {type(widget).__name__} {widget.model_id}", widget.get_state())
        findings.scan(f"widget {type(widget).__name__} repr", repr(widget))
    httpx_records = [r for r in debug_logs.records if r.name.startswith(("httpx", "httpcore"))]
    assert httpx_records, "DEBUG logging of httpx/httpcore was not captured"
    for record in debug_logs.records:
        findings.scan(f"log {record.name}", [record.getMessage(), repr(record.args)])
    findings.scan("log text", debug_logs.text)
    assert findings.scan_files(folder) >= 2 * 4  # 4 entries: image + meta.json each
    assert findings.scan_files(tmp_path / "gptimage-outputs") >= 2  # the default client's
    await from_env.close()
    findings.assert_clean()


# --------------------------------------------------------------------------- a saved notebook

NOTEBOOK_CELLS = [
    """\
import os
import gptimage_widgets as giw
assert os.environ["OPENAI_API_KEY"].startswith("sk-")
client = giw.ImageClient(base_url={ok!r}, history={folder!r})
client""",
    """\
result = client.generate("a lighthouse at dusk", quality="low")
print(result, client, sep="\\n")
result""",
    """\
studio = giw.ImageStudio(giw.AsyncImageClient(base_url={ok!r}, history={folder!r}))
studio.prompt = "a red fox in the snow"
studio_result = await studio.generate()
studio""",
    """\
failing = giw.ImageClient(base_url={failing!r}, history={folder!r}, max_retries=0)
failing.generate("a lighthouse", quality="low")""",
    """\
import logging
logging.basicConfig(level=logging.DEBUG, force=True)
client.generate("a blue heron", quality="low")""",
]


def _notebook(cells: Iterable[str], **values: str) -> Any:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(cell.format(**values)) for cell in cells]
    return notebook


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_key_never_leaks_into_a_saved_notebook(
    secret_env: None,
    servers: dict[str, OfflineServer],
    auth: dict[str, AuthRecorder],
    tmp_path: Path,
) -> None:
    folder = tmp_path / "nb-history"
    notebook = _notebook(
        NOTEBOOK_CELLS,
        ok=servers["ok"].base_url,
        failing=servers["401"].base_url,
        folder=str(folder),
    )
    runner = NotebookClient(
        notebook,
        timeout=180,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    runner.execute()
    saved = tmp_path / "secrets.ipynb"
    nbformat.write(notebook, saved)

    text = saved.read_text("utf-8")
    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    # the notebook did what it says: images made, the 401 shown, widget state saved
    assert any(o.get("ename") == "AuthenticationError" for o in outputs), outputs
    assert "ImageResult" in text and "image/png" in text
    assert "application/vnd.jupyter.widget-state+json" in notebook.metadata.get("widgets", {})
    assert set(auth["ok"].headers) == {f"Bearer {KEY}"} and len(auth["ok"].headers) == 3
    assert auth["401"].headers == [f"Bearer {KEY}"]

    findings = Findings()
    findings.scan(f"notebook {saved.name}", text)
    findings.scan_files(folder)
    findings.assert_clean()
