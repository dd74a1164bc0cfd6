"""A jupyter_server extension: TCP_NODELAY on every kernel websocket.

jupyter_server never calls ``set_nodelay(True)`` on the kernel websocket, and each reply leaves
as several small writes, so Nagle's algorithm waits for the browser's delayed ACK (40 ms on
Linux) before sending the rest: every widget message round trip (slider, button, painter
stroke) pays about 42 ms. Tornado's documentation advises ``set_nodelay(True)`` for exactly
this case.

The extension uses the supported hook, ``ServerApp.kernel_websocket_connection_class``: it
wraps whatever class is configured (the default ZMQ one, a gateway's, another extension's) in a
subclass whose ``connect`` first sets the socket option, then runs the configured class's own
``connect``. Nothing else changes.

It is enabled on install by ``etc/jupyter/jupyter_server_config.d/gptimage_widgets.json``;
``jupyter server extension disable gptimage_widgets`` switches it off. The package's
``__init__`` points jupyter_server here through ``_jupyter_server_extension_points``.
"""

from __future__ import annotations

from typing import Any

#: Class attribute marking a wrapped connection class (so wrapping twice is a no-op).
MARKER = "_gptimage_widgets_nodelay"
#: The name of the jupyter_server extension (the key in ``jpserver_extensions``).
EXTENSION = "gptimage_widgets"


def enable_nodelay(handler: Any) -> bool:
    """Set TCP_NODELAY on an open tornado websocket ``handler``.

    Parameters
    ----------
    handler : tornado.websocket.WebSocketHandler
        The kernel websocket handler, after the websocket handshake (its ``ws_connection`` set).

    Returns
    -------
    bool
        True when tornado was asked to set it (tornado itself skips sockets without Nagle,
        such as a Unix socket); False when there is no open websocket or the socket refused
        (``OSError``). Either way the connection goes on as before.
    """
    if handler is None or getattr(handler, "ws_connection", None) is None:
        return False
    try:
        handler.set_nodelay(True)
    except OSError:
        return False
    return True


def nodelay_connection_class(base: type) -> type:
    """A subclass of ``base`` whose ``connect`` sets TCP_NODELAY on the websocket first.

    Parameters
    ----------
    base : type
        The configured kernel websocket connection class (a ``BaseKernelWebsocketConnection``
        subclass). Its ``connect`` may be a coroutine function or return a future (the ZMQ
        one does); the subclass returns whatever it returns.

    Returns
    -------
    type
        ``base`` itself if it is already wrapped, else the new subclass, named
        ``NoDelay<base name>``. Class-level state (such as the ZMQ class's open sockets used by
        ``close_all``) stays on ``base`` and is inherited.
    """
    if getattr(base, MARKER, False):
        return base

    def connect(self: Any) -> Any:
        enable_nodelay(self.websocket_handler)
        return base.connect(self)  # type: ignore[attr-defined]

    connect.__doc__ = f"Set TCP_NODELAY on the websocket, then ``{base.__name__}.connect``."
    namespace = {
        "connect": connect,
        MARKER: True,
        "__module__": __name__,
        "__doc__": f"{base.__name__} with TCP_NODELAY set on the kernel websocket.",
    }
    return type(f"NoDelay{base.__name__}", (base,), namespace)


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Wrap the server's kernel websocket connection class (jupyter_server's entry point).

    jupyter_server loads extensions after it built the web application, so the class is
    replaced both on the ``ServerApp`` (used by ``close_all`` at shutdown) and in the tornado
    settings the kernel websocket handler reads on each connection.
    """
    base = serverapp.kernel_websocket_connection_class
    wrapped = nodelay_connection_class(base)
    serverapp.kernel_websocket_connection_class = wrapped
    web_app = getattr(serverapp, "web_app", None)
    if web_app is not None:
        web_app.settings["kernel_websocket_connection_class"] = wrapped
    serverapp.log.info(
        "%s: TCP_NODELAY on for kernel websockets (wrapping %s.%s)",
        EXTENSION,
        base.__module__,
        base.__qualname__,
    )


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """This module is its own extension point (for ``jpserver_extensions`` naming it)."""
    return [{"module": __name__}]
