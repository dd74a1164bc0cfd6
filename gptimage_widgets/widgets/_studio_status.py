"""The studio's status displays: which backend it talks to and how the current run goes.

Private to ``widgets/image_studio.py`` (``tests/test_layering.py`` allows no other user):

- :func:`backend_banner` / :func:`banner_html`: the backend line at the top (never a key, never
  the user info, path or query of the base URL);
- :class:`RunStatus`: the progress line, the partial-image preview, the error area and the
  session cost, i.e. everything a run (start, partial images, result, failure, cancel) writes.

What the studio *does* (the request, the task, locking controls, the gallery) stays in the
studio; this module only turns those events into text and previews.
"""

from __future__ import annotations

import html
import time
import urllib.parse
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np

from ..errors import GPTImageError
from ..results import ImageResult
from ._display import display_bytes, error_html

__all__ = [
    "OFFLINE_BANNER",
    "PARTIAL_EDGE",
    "RunStatus",
    "backend_banner",
    "banner_html",
    "session_cost",
]

OFFLINE_BANNER = "Offline backend (no OPENAI_API_KEY): images are synthetic"
#: Longest edge of the partial-image preview, in display pixels.
PARTIAL_EDGE = 384


# --------------------------------------------------------------------------- backend banner


def backend_banner(client: Any) -> str:
    """Plain-text line saying which backend a client talks to; never shows a key.

    Parameters
    ----------
    client : ImageClient or AsyncImageClient
        Read: ``client.backend`` (``"openai"``, ``"compatible"``, ``"azure"`` or
        ``"offline"``) and the host part of ``client.base_url``.

    Returns
    -------
    str
        ``OFFLINE_BANNER``, ``"OpenAI API"``, ``"Azure OpenAI (host)"`` or
        ``"OpenAI-compatible API at host:port"``.
    """
    name, host = client.backend, _host_of(client.base_url)
    if name == "offline":
        return OFFLINE_BANNER
    if name == "azure":
        return f"Azure OpenAI ({host})" if host else "Azure OpenAI"
    if not host or host == "api.openai.com":
        return "OpenAI API"
    return f"OpenAI-compatible API at {host}"


def banner_html(client: Any) -> str:
    """:func:`backend_banner` as an HTML line (amber when offline, green otherwise)."""
    text = backend_banner(client)
    color = "#8a5a00" if text == OFFLINE_BANNER else "#1b5e20"
    return f"<div style='color:{color}'><b>Backend:</b> {html.escape(text)}</div>"


def _host_of(url: str) -> str:
    """``host[:port]`` of a URL, without user info, path or query (which may hold secrets)."""
    parsed = urllib.parse.urlsplit(url)
    if not parsed.hostname:
        return ""
    return f"{parsed.hostname}:{parsed.port}" if parsed.port else parsed.hostname


# --------------------------------------------------------------------------- run status


def session_cost(history: Sequence[ImageResult]) -> float:
    """Sum of the costs (actual or estimated) of ``history``, in USD; unknown costs count 0."""
    return float(sum(r.cost_usd for r in history if r.cost_usd is not None))


def _cost_text(history: Sequence[ImageResult]) -> str:
    estimated = any(r.cost_is_estimate for r in history if r.cost_usd is not None)
    suffix = " (incl. estimates)" if estimated else ""
    return f"Session cost: ${session_cost(history):.3f}{suffix}"


class RunStatus:
    """What a run shows: progress line, partial-image preview, error area, session cost.

    Attributes
    ----------
    progress : ipywidgets.HTML
        One line: running, partial image n, done (count and seconds), cancelled, failed.
    partial : ipywidgets.Image
        The latest partial image, at most ``PARTIAL_EDGE`` pixels on its longest edge;
        hidden outside a run.
    errors : ipywidgets.HTML
        The last error (through ``_display.error_html``: escaped, redacted).
    cost : ipywidgets.HTML
        The session cost, "(incl. estimates)" when any cost is an estimate.
    """

    def __init__(self) -> None:
        self.progress = widgets.HTML("")
        self.partial = widgets.Image(format="jpeg", layout=widgets.Layout(display="none"))
        self.errors = widgets.HTML("")
        self.cost = widgets.HTML(_cost_text(()))
        self._started_at = 0.0

    def begin(self) -> None:
        """A run begins: the previous error goes."""
        self.errors.value = ""

    def end(self) -> None:
        """A run ended (any way): the partial preview hides."""
        self.partial.layout.display = "none"

    def sending(self, method: str, model: str) -> None:
        """The request is about to go: ``method`` (client method name) on ``model``."""
        self._started_at = time.monotonic()
        self.progress.value = f"Running {html.escape(method)} on {html.escape(model)}…"

    def cancelling(self) -> None:
        """Cancel was asked; the task has not ended yet."""
        self.progress.value = "Cancelling…"

    def cancelled(self) -> None:
        """The run was cancelled."""
        self.progress.value = "Cancelled."

    def failed(self, exc: BaseException) -> None:
        """Show ``exc`` in the error area; the progress line says "Failed."."""
        self.errors.value = error_html(exc)
        self.progress.value = "Failed."

    def show_partial(self, index: int, image: np.ndarray) -> None:
        """``on_partial`` callback: show a downscaled partial image (never raises).

        Parameters
        ----------
        index : int
            0-based index of the partial image in the stream.
        image : np.ndarray
            (H, W, 3|4) uint8.
        """
        try:
            data, fmt = display_bytes(np.asarray(image), PARTIAL_EDGE)
            self.partial.format = fmt
            self.partial.value = data
            self.partial.layout.display = ""
            self.progress.value = f"Partial image {index + 1} received…"
        except Exception as exc:  # a preview never breaks the request
            self.progress.value = html.escape(f"Partial image {index + 1} (not shown: {exc})")

    def done(self, result: ImageResult, history: Sequence[ImageResult]) -> None:
        """``result`` arrived: image count and seconds since :meth:`sending`, session cost."""
        elapsed = time.monotonic() - self._started_at
        self.progress.value = f"Done: {len(result.images)} image(s) in {elapsed:.1f} s."
        self.cost.value = _cost_text(history)

    def not_shown(self, result: ImageResult, exc: Exception) -> None:
        """Showing ``result`` failed with ``exc``: say it is kept, and where it is saved."""
        where = ", ".join(str(p) for p in result.paths) or "studio.history"
        self.errors.value = error_html(
            GPTImageError(
                f"the result is kept (studio.result; saved: {where}) but showing it failed: {exc}"
            )
        )
