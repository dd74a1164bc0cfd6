"""Test-only jupyter_server extension: reports the socket options of open kernel websockets.

``GET /giw-probe/nodelay`` answers ``{"nodelay": [...], "connection_class": ..., "mro": [...]}``:
TCP_NODELAY (0 or 1) of every open kernel websocket's TCP socket, and the connection class the
kernel websocket handler uses. ``tests/test_jupyter_nodelay.py`` puts this folder on the server's
``PYTHONPATH`` and enables the module.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection
from jupyter_server.utils import url_path_join
from tornado import web


class NodelayProbeHandler(JupyterHandler):
    @web.authenticated
    def get(self) -> None:
        values = []
        for connection in list(ZMQChannelsWebsocketConnection._open_sockets):
            stream = connection.websocket_handler.ws_connection.stream
            values.append(stream.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        cls = self.settings["kernel_websocket_connection_class"]
        self.finish(
            json.dumps(
                {
                    "nodelay": values,
                    "connection_class": cls.__name__,
                    "mro": [f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__],
                }
            )
        )


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": __name__}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    route = url_path_join(serverapp.web_app.settings["base_url"], "/giw-probe/nodelay")
    serverapp.web_app.add_handlers(".*$", [(route, NodelayProbeHandler)])
