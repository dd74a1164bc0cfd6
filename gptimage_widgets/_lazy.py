"""Lazy package names (PEP 562): a name loads the submodule defining it on first access.

The one home of how ``gptimage_widgets/__init__.py`` and ``widgets/__init__.py`` resolve a
lazy name: import ``.<submodule>`` of the package, take the name from it, keep it in the
package's namespace (so each name is resolved once), and list the lazy names in ``dir()``.
Imports only the standard library.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(
    package: str, namespace: MutableMapping[str, Any], lazy: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of a package with lazy names.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    namespace : mutable mapping
        The package's ``globals()``; a resolved name is stored there.
    lazy : mapping of str to str
        Public name -> submodule (relative to ``package``) that defines it.

    Returns
    -------
    (callable, callable)
        ``__getattr__(name)`` (``AttributeError`` for a name not in ``lazy``) and
        ``__dir__()`` (the namespace's names and the lazy ones, sorted).
    """

    def __getattr__(name: str) -> Any:
        module_name = lazy.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module_name}", package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(lazy))

    return __getattr__, __dir__
