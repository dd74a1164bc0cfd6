"""The widgets: thin ipywidgets/ipycanvas views over the core and the client.

Each widget holds no model rules (those are in the catalog) and does no HTTP itself (the
studio calls the client). Names load lazily so that importing one widget does not import
all of them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY: dict[str, str] = {
    "Gallery": "gallery",
    "ImageStudio": "image_studio",
    "MaskPainter": "painter",
    "ParameterForm": "form",
    "studio": "image_studio",
}

__all__ = ["Gallery", "ImageStudio", "MaskPainter", "ParameterForm", "studio"]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'gptimage_widgets.widgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module_name}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # pragma: no cover
    from .form import ParameterForm
    from .gallery import Gallery
    from .image_studio import ImageStudio, studio
    from .painter import MaskPainter
