"""Display helpers shared by the widgets: small encoded copies of images, and error HTML.

The one place where a widget turns data into something the browser shows:

- :func:`thumbnail` / :func:`display_bytes`: full-resolution arrays stay in the kernel; only a
  downscaled JPEG (or PNG, when there is alpha) crosses the wire (gallery tiles and preview,
  the studio's reference strip and partial images);
- :func:`error_html`: an exception as an HTML block, with secrets removed by
  :func:`gptimage_widgets.redact.redact` (the one home of what counts as a secret).

Widget modules import helpers from each other only through this module
(``tests/test_layering.py`` checks it).
"""

from __future__ import annotations

import html

import numpy as np
from PIL import Image as PILImage

from ..imaging import encode_image
from ..redact import redact

__all__ = ["ERROR_COLOR", "display_bytes", "error_html", "thumbnail"]

#: Text colour of error messages shown by the studio and the gallery.
ERROR_COLOR = "#b00020"


def thumbnail(image: np.ndarray, max_edge: int) -> np.ndarray:
    """Downscale an image so that its longest edge is at most ``max_edge`` (never upscale).

    Parameters
    ----------
    image : np.ndarray
        (H, W, 3) or (H, W, 4) uint8.
    max_edge : int
        Longest edge of the output, in pixels (> 0).

    Returns
    -------
    np.ndarray
        (h, w, C) uint8 with ``max(h, w) <= max_edge``, aspect ratio kept; ``image`` itself
        when it is already small enough.
    """
    height, width = image.shape[:2]
    if max(height, width) <= max_edge:
        return image
    pil = PILImage.fromarray(image)
    pil.thumbnail((max_edge, max_edge), PILImage.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(pil)


def display_bytes(image: np.ndarray, max_edge: int, *, quality: int = 85) -> tuple[bytes, str]:
    """Encode a downscaled copy of ``image`` for an ``ipywidgets.Image``.

    Parameters
    ----------
    image : np.ndarray
        (H, W, 3) or (H, W, 4) uint8.
    max_edge : int
        Longest edge sent to the browser.
    quality : int
        JPEG quality (1-95) for opaque images.

    Returns
    -------
    (bytes, str)
        The encoded image and its format for the widget's ``format`` trait: ``"jpeg"`` for
        RGB, ``"png"`` when there is an alpha channel (JPEG would drop it).
    """
    small = thumbnail(image, max_edge)
    if small.ndim == 3 and small.shape[2] == 4:
        return encode_image(small, "png"), "png"
    return encode_image(small, "jpeg", quality=quality), "jpeg"


def error_html(exc: BaseException) -> str:
    """An HTML block for an error: its type, message (what to do) and every problem.

    Parameters
    ----------
    exc : BaseException
        Any exception; a :class:`~gptimage_widgets.errors.ValidationError` with several
        ``problems`` is shown as a list. Key-like text is redacted, everything is escaped.

    Returns
    -------
    str
        A ``<div>`` in :data:`ERROR_COLOR`.
    """
    name = type(exc).__name__
    problems = getattr(exc, "problems", None) or []
    if len(problems) > 1:
        items = "".join(f"<li>{html.escape(redact(str(p)))}</li>" for p in problems)
        body = f"{len(problems)} problems:<ul style='margin:0'>{items}</ul>"
    else:
        body = html.escape(redact(str(exc)))
    return f"<div style='color:{ERROR_COLOR}'><b>{html.escape(name)}</b>: {body}</div>"
