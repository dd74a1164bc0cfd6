"""The widgets: thin ipywidgets/ipycanvas views over the core and the client.

Each widget holds no model rules (those are in the catalog) and does no HTTP itself (the
studio calls the client). Names load lazily so that importing one widget does not import
all of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names

_LAZY: dict[str, str] = {
    "Gallery": "gallery",
    "ImageStudio": "image_studio",
    "MaskPainter": "painter",
    "ParameterForm": "form",
    "studio": "image_studio",
}

__all__ = ["Gallery", "ImageStudio", "MaskPainter", "ParameterForm", "studio"]


__getattr__, __dir__ = lazy_names(__name__, globals(), _LAZY)


if TYPE_CHECKING:  # pragma: no cover
    from .form import ParameterForm
    from .gallery import Gallery
    from .image_studio import ImageStudio, studio
    from .painter import MaskPainter
