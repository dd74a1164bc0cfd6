"""The ``gptimage_widgets`` jupyter_server extension: TCP_NODELAY on kernel websockets.

- the wrapper keeps the configured connection class (ZMQ, a gateway's, anything) and only adds
  the socket option before that class's own ``connect``;
- the config that enables it on install ships in the wheel and in the editable wheel;
- a real ``jupyter server`` (no browser) with the extension on sets TCP_NODELAY on the kernel
  websocket's socket, with it off leaves it unset, and a kernel round trip works both ways.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from jupyter_servers import JupyterServer

import gptimage_widgets
from gptimage_widgets import jupyter_nodelay
from gptimage_widgets.jupyter_nodelay import (
    enable_nodelay,
    nodelay_connection_class,
)

ROOT = Path(__file__).resolve().parents[1]
CONFIG_JSON = ROOT / "jupyter-config" / "jupyter_server_config.d" / "gptimage_widgets.json"
CONFIG_TARGET = "etc/jupyter/jupyter_server_config.d"
PROBE_DIR = Path(__file__).resolve().parent / "data" / "jupyter_probe"


def _pyproject() -> dict[str, Any]:
    """``pyproject.toml`` parsed (tomllib from Python 3.11, tomli before)."""
    toml = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    return dict(toml.loads((ROOT / "pyproject.toml").read_text()))


# --------------------------------------------------------------------------- fakes


class FakeHandler:
    """A tornado websocket handler stand-in that records ``set_nodelay`` calls."""

    def __init__(self, *, open_: bool = True, error: OSError | None = None) -> None:
        self.ws_connection = object() if open_ else None
        self.calls: list[bool] = []
        self.error = error

    def set_nodelay(self, value: bool) -> None:
        if self.error is not None:
            raise self.error
        self.calls.append(value)


class FakeConnection:
    """A connection class like jupyter_server's: ``connect`` returns an awaitable or None."""

    shared: ClassVar[list[str]] = []  # class-level state, like the ZMQ class's open sockets

    def __init__(self, handler: Any) -> None:
        self.websocket_handler = handler
        self.log: list[str] = []

    def connect(self) -> str:
        self.log.append(f"connect nodelay={self.websocket_handler.calls}")
        return "future"


class FakeGatewayConnection(FakeConnection):
    async def connect(self) -> str:  # type: ignore[override]
        return "gateway connected"


# --------------------------------------------------------------------------- the wrapper


def test_wrapper_subclasses_the_configured_class_and_sets_nodelay_before_connect() -> None:
    wrapped = nodelay_connection_class(FakeConnection)
    assert issubclass(wrapped, FakeConnection)
    assert wrapped.__name__ == "NoDelayFakeConnection"
    assert wrapped.shared is FakeConnection.shared
    connection = wrapped(FakeHandler())
    assert connection.connect() == "future"
    assert connection.log == ["connect nodelay=[True]"]  # set before the base class connected


def test_wrapper_keeps_an_async_connect_async() -> None:
    handler = FakeHandler()
    connection = nodelay_connection_class(FakeGatewayConnection)(handler)
    assert asyncio.run(connection.connect()) == "gateway connected"
    assert handler.calls == [True]


def test_wrapping_twice_is_a_no_op() -> None:
    wrapped = nodelay_connection_class(FakeConnection)
    assert nodelay_connection_class(wrapped) is wrapped


def test_enable_nodelay_skips_a_closed_socket_and_a_refusing_one() -> None:
    assert enable_nodelay(None) is False
    assert enable_nodelay(FakeHandler(open_=False)) is False
    assert enable_nodelay(FakeHandler(error=OSError(22, "Invalid argument"))) is False
    handler = FakeHandler()
    assert enable_nodelay(handler) is True
    assert handler.calls == [True]


def test_connect_goes_on_when_the_socket_refuses_the_option() -> None:
    handler = FakeHandler(error=OSError(22, "Invalid argument"))
    connection = nodelay_connection_class(FakeConnection)(handler)
    assert connection.connect() == "future"


def test_load_replaces_the_class_on_the_app_and_in_the_tornado_settings() -> None:
    messages: list[str] = []
    app = SimpleNamespace(
        kernel_websocket_connection_class=FakeGatewayConnection,
        web_app=SimpleNamespace(settings={"kernel_websocket_connection_class": FakeConnection}),
        log=SimpleNamespace(info=lambda msg, *args: messages.append(msg % args)),
    )
    jupyter_nodelay._load_jupyter_server_extension(app)
    wrapped = app.kernel_websocket_connection_class
    assert issubclass(wrapped, FakeGatewayConnection)
    assert app.web_app.settings["kernel_websocket_connection_class"] is wrapped
    assert messages == [
        "gptimage_widgets: TCP_NODELAY on for kernel websockets (wrapping "
        f"{__name__}.FakeGatewayConnection)"
    ]


def test_package_points_jupyter_server_at_the_extension_module() -> None:
    points = gptimage_widgets._jupyter_server_extension_points()
    assert points == [{"module": "gptimage_widgets.jupyter_nodelay"}]
    assert callable(jupyter_nodelay._load_jupyter_server_extension)


# --------------------------------------------------------------------------- real jupyter_server


def test_jupyter_server_validates_the_extension_package() -> None:
    manager = pytest.importorskip("jupyter_server.extension.manager")
    package = manager.ExtensionPackage(name="gptimage_widgets", enabled=True)
    assert package.validate()
    assert list(package.extension_points) == ["gptimage_widgets.jupyter_nodelay"]


@pytest.mark.parametrize(
    "base_path",
    [
        "jupyter_server.services.kernels.connection.channels.ZMQChannelsWebsocketConnection",
        "jupyter_server.gateway.connections.GatewayWebSocketConnection",
    ],
)
def test_wraps_jupyter_servers_own_classes_and_the_server_app_accepts_them(base_path: str) -> None:
    serverapp = pytest.importorskip("jupyter_server.serverapp")
    module_name, _, name = base_path.rpartition(".")
    base = getattr(__import__(module_name, fromlist=[name]), name)
    wrapped = nodelay_connection_class(base)
    assert issubclass(wrapped, base)
    assert wrapped.__mro__[1] is base
    app = serverapp.ServerApp()
    app.kernel_websocket_connection_class = wrapped  # the trait's own type check
    assert app.kernel_websocket_connection_class is wrapped
    if hasattr(base, "_open_sockets"):  # close_all at shutdown still sees every connection
        assert wrapped._open_sockets is base._open_sockets


# --------------------------------------------------------------------------- installed config


def test_config_json_enables_the_extension() -> None:
    config = json.loads(CONFIG_JSON.read_text())
    assert config == {"ServerApp": {"jpserver_extensions": {"gptimage_widgets": True}}}


def test_pyproject_installs_the_config_into_jupyter_server_config_d() -> None:
    pyproject = _pyproject()
    data_files = pyproject["tool"]["setuptools"]["data-files"]
    assert data_files[CONFIG_TARGET] == [str(CONFIG_JSON.relative_to(ROOT))]


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files a build reads, copied, so building writes nothing into the checkout."""
    copy = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, copy / name)
    for folder in ("gptimage_widgets", "jupyter-config"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


@pytest.fixture(scope="module")
def build_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build requirements of ``pyproject.toml`` in a folder of their own, as pip's isolated
    build sees them (not the test environment's setuptools)."""
    requires = _pyproject()["build-system"]["requires"]
    target = tmp_path_factory.mktemp("build-env")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--target", str(target), *requires],
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return target


@pytest.mark.slow
@pytest.mark.parametrize("hook", ["build_wheel", "build_editable"])
def test_wheels_install_the_config(
    source_copy: Path, build_env: Path, tmp_path: Path, hook: str
) -> None:
    """``pip install .`` and ``pip install -e .`` both put the JSON into ``etc/jupyter/...``."""
    code = (
        "import sys, setuptools.build_meta as b; "
        f"print(b.{hook}(sys.argv[1]))"  # the PEP 517 / PEP 660 hook pip calls
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        cwd=source_copy,
        env={**os.environ, "PYTHONPATH": str(build_env)},
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    wheel = tmp_path / done.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith("/gptimage_widgets.json")]
        assert len(names) == 1, archive.namelist()
        assert names[0].endswith(f".data/data/{CONFIG_TARGET}/gptimage_widgets.json")
        assert archive.read(names[0]) == CONFIG_JSON.read_bytes()


# --------------------------------------------------------------------------- plain jupyter server
# python -m jupyter_server (tests/jupyter_servers.py) with the probe extension and ours on or off


@pytest.fixture(params=[True, False], ids=["extension-on", "extension-off"])
def plain_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    pytest.importorskip("jupyter_server", reason='jupyter_server (pip install -e ".[lab]")')
    pytest.importorskip("ipykernel")
    extensions = {"gptimage_widgets": request.param, "giw_nodelay_probe": True}
    server = JupyterServer(
        tmp_path, app="jupyter_server", extensions=extensions, python_path=[PROBE_DIR, ROOT]
    )
    try:
        yield server.start(), request.param
    finally:
        server.stop()


def _kernel_info_request(session: str) -> str:
    header = {
        "msg_id": uuid.uuid4().hex,
        "msg_type": "kernel_info_request",
        "username": "test",
        "session": session,
        "version": "5.3",
        "date": "2026-01-01T00:00:00Z",
    }
    message = {"header": header, "parent_header": {}, "metadata": {}, "content": {}}
    return json.dumps({**message, "channel": "shell", "buffers": []})


async def _kernel_info_over_websocket(server: JupyterServer, kernel_id: str) -> tuple[str, Any]:
    """Open the kernel websocket, ask for kernel_info; return (reply status, probe answer)."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    session = uuid.uuid4().hex
    url = f"ws://127.0.0.1:{server.port}/api/kernels/{kernel_id}/channels?session_id={session}"
    headers = {"Authorization": f"token {server.token}"}
    websocket = await websocket_connect(HTTPRequest(url, headers=headers))
    try:
        request = _kernel_info_request(session)
        msg_id = json.loads(request)["header"]["msg_id"]
        await websocket.write_message(request)
        while True:
            raw = await asyncio.wait_for(websocket.read_message(), timeout=60)
            assert raw is not None, "the kernel websocket closed"
            if isinstance(raw, bytes):
                continue
            message = json.loads(raw)
            if message.get("parent_header", {}).get("msg_id") == msg_id and (
                message["header"]["msg_type"] == "kernel_info_reply"
            ):
                break
        probe = await asyncio.to_thread(server.api, "/giw-probe/nodelay")
        return message["content"]["status"], probe
    finally:
        websocket.close()


@pytest.mark.slow
def test_plain_jupyter_server_sets_nodelay_only_with_the_extension(plain_server: Any) -> None:
    server, enabled = plain_server
    kernel = server.api("/api/kernels", method="POST", body={"name": "python3"})
    try:
        status, probe = asyncio.run(_kernel_info_over_websocket(server, kernel["id"]))
    finally:
        server.api(f"/api/kernels/{kernel['id']}", method="DELETE")
    assert status == "ok"  # the kernel link works either way
    assert probe["nodelay"] and all(bool(v) is enabled for v in probe["nodelay"]), probe
    zmq = "jupyter_server.services.kernels.connection.channels.ZMQChannelsWebsocketConnection"
    assert zmq in probe["mro"]
    assert (probe["connection_class"] == "NoDelayZMQChannelsWebsocketConnection") is enabled
    loaded = "gptimage_widgets: TCP_NODELAY on for kernel websockets" in server.log_text()
    assert loaded is enabled
