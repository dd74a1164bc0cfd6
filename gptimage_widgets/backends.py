"""Where requests go and how they authenticate: OpenAI, Azure OpenAI, any compatible server,
or the embedded offline server.

:func:`resolve_backend` turns the client's constructor arguments and the environment into a
frozen :class:`Backend`. The API key lives only in ``Backend.headers`` (excluded from
``repr``) and is sent only in the ``Authorization`` header (``api-key`` for Azure) of
requests to the backend itself, never to URLs the server hands back (DALL·E downloads).

``backend="auto"`` picks Azure when an Azure endpoint is given, OpenAI (or the compatible
server at ``base_url``) when a key or a base URL is set, and otherwise starts the embedded
:class:`~gptimage_widgets.offline.OfflineServer` once per process and says so once.

A key that would go over plain HTTP to another machine (``http://`` base URL or Azure
endpoint, host not loopback) is warned about once per origin (:func:`warn_if_clear_text`);
:func:`is_loopback` is the one test of "this machine" (the CLI's ``serve --host`` asks it too).
"""

from __future__ import annotations

import atexit
import datetime as _dt
import ipaddress
import logging
import os
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ._messages import user_stacklevel
from .errors import ResponseDecodeError, ValidationError

__all__ = [
    "BACKENDS",
    "DEFAULT_AZURE_API_VERSION",
    "OPENAI_BASE_URL",
    "Backend",
    "apply_model_status",
    "is_loopback",
    "models_data",
    "resolve_backend",
    "shared_offline_base_url",
    "warn_if_clear_text",
]

logger = logging.getLogger("gptimage_widgets")

OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_AZURE_API_VERSION = "2025-04-01-preview"
BACKENDS = ("auto", "openai", "azure", "offline")


@dataclass(frozen=True)
class Backend:
    """A resolved backend.

    Attributes
    ----------
    name : str
        ``"openai"``, ``"compatible"`` (another OpenAI-compatible server), ``"azure"`` or
        ``"offline"``.
    base_url : str
        ``https://api.openai.com/v1``-style root without a trailing slash; for Azure the
        resource endpoint (``https://NAME.openai.azure.com``).
    headers : Mapping of str to str
        Authentication and organisation headers. Never shown by ``repr``.
    query : Mapping of str to str
        Query parameters sent with every request (Azure's ``api-version``).
    deployment : str or None
        Azure deployment name; None means "the model name".
    """

    name: str
    base_url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    query: Mapping[str, str] = field(default_factory=dict)
    deployment: str | None = None

    @property
    def has_key(self) -> bool:
        """Whether an API key is configured (without revealing it)."""
        names = {name.lower() for name in self.headers}
        return "authorization" in names or "api-key" in names

    def url(self, path: str, model: str | None = None) -> str:
        """The absolute URL of an endpoint.

        Parameters
        ----------
        path : str
            ``"/images/generations"``, ``"/images/edits"``, ``"/images/variations"`` or
            ``"/models"``.
        model : str, optional
            Used as the Azure deployment when no deployment was configured.
        """
        if self.name != "azure":
            return self.base_url + path
        if path.startswith("/images/"):
            deployment = self.deployment or model
            if not deployment:
                raise ValidationError(
                    "Azure needs a deployment name: pass azure_deployment= to the client",
                    param="azure_deployment",
                )
            return f"{self.base_url}/openai/deployments/{deployment}{path}"
        return f"{self.base_url}/openai{path}"


def resolve_backend(
    backend: str = "auto",
    api_key: str | None = None,
    base_url: str | None = None,
    *,
    organization: str | None = None,
    project: str | None = None,
    azure_endpoint: str | None = None,
    azure_deployment: str | None = None,
    api_version: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Backend:
    """Resolve the client's backend arguments and the environment into a :class:`Backend`.

    Environment variables: ``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``OPENAI_ORG_ID``,
    ``OPENAI_PROJECT_ID``; for Azure ``AZURE_OPENAI_API_KEY``, ``AZURE_OPENAI_ENDPOINT``,
    ``OPENAI_API_VERSION``.

    Raises
    ------
    ValidationError
        Unknown backend name, or a backend whose required settings are missing.
    """
    env = os.environ if env is None else env
    if backend not in BACKENDS:
        raise ValidationError(
            f"backend {backend!r} is not known; use one of {', '.join(map(repr, BACKENDS))}",
            param="backend",
            value=backend,
        )
    chosen_automatically = backend == "auto"
    if chosen_automatically:
        backend = _auto_backend(api_key, base_url, azure_endpoint, env)
    if backend == "offline":
        return _offline_backend(announce=chosen_automatically)
    if backend == "azure":
        resolved = _azure_backend(
            api_key, base_url, azure_endpoint, azure_deployment, api_version, env
        )
    else:
        resolved = _openai_backend(api_key, base_url, organization, project, env)
    warn_if_clear_text(resolved)
    return resolved


def is_loopback(host: str | None) -> bool:
    """Whether `host` names this machine: ``localhost`` (``*.localhost``), 127.0.0.0/8, ``::1``.

    Parameters
    ----------
    host : str or None
        A host name or IP address, IPv6 with or without brackets.
    """
    name = (host or "").strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def _reached_locally(host: str | None) -> bool:
    """Whether a connection to `host` stays on this machine: loopback, or the unspecified
    address (``0.0.0.0``, ``::``), which a client's connect reaches this machine through.
    (A server *bound* to the unspecified address listens on every network: :func:`is_loopback`
    says no there.)"""
    if is_loopback(host):
        return True
    try:
        return ipaddress.ip_address((host or "").strip("[]")).is_unspecified
    except ValueError:
        return False


_clear_text_lock = threading.Lock()
_clear_text_warned: set[str] = set()


def warn_if_clear_text(backend: Backend) -> None:
    """Warn once per origin when `backend` would send its key over plain HTTP to another machine.

    Nothing is said for HTTPS, for loopback hosts (a local gateway or the offline server), or
    when no key is set (nothing secret travels).
    """
    parts = urlsplit(backend.base_url)
    if parts.scheme.lower() != "http" or not backend.has_key or _reached_locally(parts.hostname):
        return
    host = parts.hostname or ""
    origin = f"http://{host}" + (f":{parts.port}" if parts.port else "")
    with _clear_text_lock:
        if origin in _clear_text_warned:
            return
        _clear_text_warned.add(origin)
    setting = "azure_endpoint" if backend.name == "azure" else "base_url"
    header = "api-key" if backend.name == "azure" else "Authorization"
    message = (
        f"{setting} {origin} is plain HTTP to {host}, which is not this machine: the API key "
        f"(the {header} header) would travel in clear text, readable by anyone on the network "
        f"path. Use https://{host}/..., or reach that server through a tunnel on 127.0.0.1."
    )
    warnings.warn(message, UserWarning, stacklevel=user_stacklevel())


def _auto_backend(
    api_key: str | None,
    base_url: str | None,
    azure_endpoint: str | None,
    env: Mapping[str, str],
) -> str:
    if azure_endpoint:
        return "azure"
    if api_key or env.get("OPENAI_API_KEY") or base_url or env.get("OPENAI_BASE_URL"):
        return "openai"
    return "offline"


def _openai_backend(
    api_key: str | None,
    base_url: str | None,
    organization: str | None,
    project: str | None,
    env: Mapping[str, str],
) -> Backend:
    key = api_key or env.get("OPENAI_API_KEY") or None
    root = (base_url or env.get("OPENAI_BASE_URL") or OPENAI_BASE_URL).rstrip("/")
    is_openai = urlsplit(root).hostname == "api.openai.com"
    if is_openai and not key:
        raise ValidationError(
            "No OpenAI API key: pass api_key= or set OPENAI_API_KEY, or use backend='offline' "
            "to try everything without one",
            param="api_key",
        )
    headers: dict[str, str] = {}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    organization = organization or env.get("OPENAI_ORG_ID")
    project = project or env.get("OPENAI_PROJECT_ID")
    if organization:
        headers["OpenAI-Organization"] = organization
    if project:
        headers["OpenAI-Project"] = project
    return Backend(name="openai" if is_openai else "compatible", base_url=root, headers=headers)


def _azure_backend(
    api_key: str | None,
    base_url: str | None,
    azure_endpoint: str | None,
    azure_deployment: str | None,
    api_version: str | None,
    env: Mapping[str, str],
) -> Backend:
    key = api_key or env.get("AZURE_OPENAI_API_KEY")
    endpoint = azure_endpoint or base_url or env.get("AZURE_OPENAI_ENDPOINT")
    missing = []
    if not key:
        missing.append("api_key= (or AZURE_OPENAI_API_KEY)")
    if not endpoint:
        missing.append("azure_endpoint= (or AZURE_OPENAI_ENDPOINT)")
    if missing:
        raise ValidationError(
            f"backend='azure' needs {' and '.join(missing)}", param="backend", value="azure"
        )
    assert key is not None and endpoint is not None
    version = api_version or env.get("OPENAI_API_VERSION") or DEFAULT_AZURE_API_VERSION
    return Backend(
        name="azure",
        base_url=endpoint.rstrip("/"),
        headers={"api-key": key},
        query={"api-version": version},
        deployment=azure_deployment,
    )


# --------------------------------------------------------------------------- offline


_offline_lock = threading.Lock()
_offline_server: Any = None
_offline_announced = False


def shared_offline_base_url() -> str:
    """Start the process-wide embedded offline server once and return its ``/v1`` URL."""
    global _offline_server
    with _offline_lock:
        if _offline_server is None:
            from .offline import OfflineServer

            server = OfflineServer()
            server.start()
            atexit.register(server.stop)
            _offline_server = server
        return str(_offline_server.base_url).rstrip("/")


def _offline_backend(*, announce: bool) -> Backend:
    global _offline_announced
    base_url = shared_offline_base_url()
    if announce and not _offline_announced:
        _offline_announced = True
        message = f"No OPENAI_API_KEY set: using the offline backend at {base_url}"
        logger.info(message)
        warnings.warn(message, UserWarning, stacklevel=4)
    return Backend(name="offline", base_url=base_url)


# --------------------------------------------------------------------------- model status


def apply_model_status(
    models_payload: Mapping[str, Any], *, today: _dt.date | None = None
) -> list[str]:
    """Update the catalog's OpenAI shutdown dates from a ``GET /v1/models`` response.

    Each listed model with a ``shutdown_date`` (ISO date string or Unix seconds) that the
    catalog knows (by name or alias) is re-registered with that date; its status follows
    from the date on every read (``"shutdown"`` once passed, else ``"deprecated"``); see
    :func:`gptimage_widgets.catalog.apply_shutdown_dates`, which does the work. Which
    backends retire models (``Backend.name`` ``"openai"`` and ``"azure"``) is
    :data:`gptimage_widgets.catalog.LIFECYCLE_BACKENDS`; ask
    :func:`gptimage_widgets.catalog.retirement_problem` before sending.

    Parameters
    ----------
    models_payload : Mapping
        The decoded JSON, ``{"data": [{"id": ..., "shutdown_date": ...}, ...]}``.
    today : datetime.date, optional
        Unused (statuses are computed when read); kept for callers that pass it.

    Returns
    -------
    list of str
        Names of the catalog models whose date changed.
    """
    from . import catalog

    return catalog.apply_shutdown_dates(models_payload.get("data") or (), today=today)


def models_data(models_payload: Any) -> list[dict[str, Any]]:
    """The model objects of a ``GET /v1/models`` payload (``data``; entries without a
    string ``id`` dropped).

    Raises
    ------
    ResponseDecodeError
        When the payload is not an object with a ``data`` list.
    """
    data = models_payload.get("data") if isinstance(models_payload, Mapping) else None
    if not isinstance(data, list):
        raise ResponseDecodeError(
            "the model listing (GET /models) has no 'data' list; is base_url an "
            "OpenAI-compatible API root (ending in /v1)?"
        )
    return [
        dict(item) for item in data if isinstance(item, Mapping) and isinstance(item.get("id"), str)
    ]
