"""The package version: the one place it is written.

``pyproject.toml`` reads it (``[tool.setuptools.dynamic]``), the package ``__init__`` re-exports
it and the client sends it in its ``User-Agent``. Modules inside the package import it from
here, never from the package ``__init__`` (imports point down the layers only).
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
